/*
 * ckpt.c - checkpoints of the index (logstor.ckpt): restarts that read the checkpoint and
 * only the log written after it.
 *
 * Recovery without one reads every byte of every used segment (recov.c): seconds at 10 M
 * keys, and it grows with the data, values included. A checkpoint holds the index of
 * every table, the segment descriptors, the counters (rseq, segment sequence, FLUSH
 * rseqs, free clock), compaction's orphans and, for each stream's open segment, the
 * offset its next buffer goes to. It is written
 *   - at a clean close, once every write is on disk, synchronously, with no open segment;
 *   - while running (logstord: every 60 s and every 1 GiB written by default; the
 *     engine's defaults are 0, off), every checkpoint_interval_ms and as soon as
 *     checkpoint_bytes were written to the device since the last one began, when
 *     anything was written: at one
 *     instant T (one loop turn) every stream's active buffer is sealed, the index is
 *     snapshotted (copy-on-write, idx.h), the rest copied, and a barrier registered over
 *     everything appended so far; the snapshots are serialized CKPT_STEP entries per
 *     ls_tick; once the barrier is in (every write before T durable; a failed one gives
 *     the checkpoint up: it would name records that never reached the disk) the file is
 *     written on a thread (temporary file, fsync, rename, fsync of the directory), so the
 *     loop never waits for it. A FLUSH (which replaces a table's tree) gives it up too.
 * A read-only open (logstor-check) neither uses nor changes it. Without checkpoints while
 * running there is no rolling forward (roll_forward below): an open uses the file only
 * when no segment was written or reused after it, and deletes it before it returns.
 *
 * Opening (recov.c): when the file is a clean close's and every data file still has the
 * size, modification and change times and inode the close stamped (ckpt_clean_open),
 * nothing was written since: phase 1 is skipped too, so that a clean restart reads no
 * segment at all (at 4 KiB values, phase 1's first-block reads were nearly all of a clean
 * restart: 0.33 s per million keys). Otherwise phase 1 reads block 0 of every segment as
 * always; then the
 * checkpoint, when it verifies (checksum seeded with the directory's seed) and agrees with
 * phase 1 (below), stands for the state at T: its descriptors and index are taken (the
 * index built with idx_load, not inserted key by key), and phase 2 reads only the segments
 * begun after T (sequence number above the checkpoint's) and the segments open at T from
 * their offset, in sequence order, applying their records by the usual rules, with two
 * differences:
 *   - a record whose rseq is not above the checkpoint's last one is a compaction copy
 *     made after T of the record the checkpoint's entry names (nothing else is written
 *     after T with such an rseq); it moves that entry, and never creates one nor outranks
 *     a write made after T (recov.c, apply_copy);
 *   - a segment the checkpoint held as used whose use is gone (freed and reused after T,
 *     or blanked) counts its new use only: entries of the checkpoint still pointing into
 *     it are neither counted off its live bytes nor kept at the end (their records left
 *     with the old use, and so did whatever decided them: recov.c, drop_gone).
 * Agreement: same geometry and tables; every segment the checkpoint lists as used holds
 * that use on disk, or a use begun after T, or none; every used segment it does not list
 * as used holds a use begun after T or the old use it lists. Else the log says why and the
 * full scan runs, as it does when there is no checkpoint or it is damaged.
 *
 * Why a checkpoint older than the log is still the truth once rolled forward: every
 * change after T wrote a record with a higher rseq, in a segment allocated after T (user
 * writes and copies alike), and the rule of what compaction may drop keeps the newest
 * record of a key on disk for as long as an older one is readable (FORMAT.md). What the
 * roll-forward cannot know is how compaction's orphans (compact.c) moved between T and
 * the crash: when any segment was reused or begun since, an orphan at rseq 0 holds every
 * tombstone until the segments freed so far have all been reused.
 *
 * Layout (little-endian): FORMAT.md "Checkpoint".
 */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "internal.h"
#include "vfs.h"

#define CKPT_NAME    "logstor.ckpt"
#define CKPT_MAGIC   UINT64_C(0x31305450434b534c) /* "LSCKPT01" */
#define CKPT_VERSION 4u
#define CKPT_HDR     120u
#define CKPT_HDR_V3  104u /* version 3 (no segment journal): still read (snapshots) */
#define CKPT_FILE    32u
#define CKPT_CLEAN   1u /* a clean close's: nothing was appended after it */
#define CKPT_DESC    72u
#define CKPT_POS     8u
#define CKPT_STEP    65536u /* entries serialized per ls_tick (~1 ms) */
#define CKPT_FNAME   96u

struct ckpt_hdr {
    uint64_t magic;
    uint32_t version, tables;
    uint32_t seg_size, nsegs;
    uint64_t ndesc, npos, norph;
    uint64_t length;
    uint64_t seq, rseq;
    uint64_t free_clock;
    uint64_t expiry_seen_ms;
    uint64_t written_ms;
    uint32_t flags;  /* CKPT_CLEAN */
    uint32_t nfiles; /* data files stamped (a clean close's only) */
    uint64_t jid;    /* the segment journal's id (segj.c); 0: none */
    uint64_t jdone;  /* its last block durable at the checkpoint */
};
_Static_assert(sizeof(struct ckpt_hdr) == CKPT_HDR, "checkpoint header");
_Static_assert(sizeof(struct vfs_stamp) == CKPT_FILE, "checkpoint file stamp");

/* A descriptor as stored: what recovery would rebuild from the segment's records, plus
 * its place in the reuse order (freed_at, stale_min). */
struct ckpt_desc {
    uint32_t g;
    uint32_t live, put_bytes, tomb, group;
    uint16_t run;
    uint8_t state, flags;
    uint64_t seq, min_rseq, max_rseq, max_hider, stale_min, freed_at;
};
_Static_assert(sizeof(struct ckpt_desc) == CKPT_DESC, "checkpoint descriptor");

/* An open segment at the checkpoint: records from off on were appended after it. */
struct ckpt_pos {
    uint32_t g, off;
};
_Static_assert(sizeof(struct ckpt_pos) == CKPT_POS, "checkpoint position");

/* Flags that describe the segment's contents; the others are transient. */
#define CKPT_SEGF (SEGF_EXPIRING | SEGF_STUCK | SEGF_HOT)

/* A checkpoint being made while the engine runs. */
struct ckpt_run {
    uint8_t *buf, *p; /* the file; p: where the next entries go */
    size_t len;
    struct idx_snap **snap; /* per table, released once serialized */
    uint32_t table;         /* the table being serialized */
    uint64_t cursor;        /* its next token */
    int table_open;         /* its count is written */
    int barrier_done, barrier_rc;
    int writing; /* the file is being written by th */
    pthread_t th;
    atomic_int th_done;
    int th_rc;
    struct ls_engine *e;
    uint64_t t0_ms, entries;
    uint64_t jid, jdone;    /* the segment journal at its instant (segj.c) */
    char fname[CKPT_FNAME]; /* CKPT_NAME, or a snapshot's file (snap.c) */
};

static int desc_stored(const struct seg_desc *d)
{
    return d->state != SEG_FREE || d->seq || d->freed_at || d->stale_min != UINT64_MAX;
}

static uint8_t state_stored(uint8_t s)
{
    /* an open segment is written up to its position, and a victim of a round not
     * finished is on disk as it was, used */
    return s == SEG_OPEN || s == SEG_VICTIM ? SEG_FULL : s;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Every stream's open segment and where its next buffer goes. */
static uint32_t streams(struct ls_engine *e, struct stream **out)
{
    uint32_t n = 0;

    out[n++] = &e->user;
    out[n++] = &e->ucold;
    out[n++] = &e->spill[0];
    out[n++] = &e->spill[1];
    for (uint32_t i = 0; i < e->nstreams; i++)
        out[n++] = &e->gs[i];
    return n;
}

/* Allocates the file for entry counts cnt[] and writes everything but the entries
 * (header, FLUSH rseqs, descriptors, the open segments' positions unless closing: nothing
 * is appended to them after a close); r->p is left where the entries go. */
static int build_head(struct ls_engine *e, struct ckpt_run *r, const uint64_t *cnt, int closing)
{
    struct seg_mgr *m = &e->sm;
    uint32_t nt = e->cfg.tables;
    uint64_t ndesc = 0, nent = 0, npos = 0;
    struct stream **st = malloc((4 + e->nstreams) * sizeof(*st));
    uint32_t ns;

    if (!st)
        return -ENOMEM;
    ns = closing ? 0 : streams(e, st);
    for (uint32_t i = 0; i < ns; i++)
        npos += st[i]->cur_seg >= 0;
    for (uint32_t g = 0; g < m->nsegs; g++)
        ndesc += (uint64_t)desc_stored(&m->d[g]);
    for (uint32_t t = 0; t < nt; t++)
        nent += cnt[t];
    uint64_t norph = compact_orphans(e, NULL, NULL);
    /* A clean close stamps every data file (all zeros: not made yet): an open that finds
     * them all unchanged need not read their segments' first blocks (ckpt_clean_open). */
    uint32_t nfiles = closing ? m->nfiles : 0;
    r->len = CKPT_HDR + (size_t)nt * 8 + (size_t)ndesc * CKPT_DESC + (size_t)npos * CKPT_POS +
             (size_t)norph * 16 + (size_t)nfiles * CKPT_FILE + (size_t)nt * 8 +
             (size_t)nent * sizeof(struct idx_ent) + 8;
    r->buf = malloc(r->len);
    if (!r->buf) {
        free(st);
        return -ENOMEM;
    }
    struct ckpt_hdr h = {.magic = CKPT_MAGIC,
                         .version = CKPT_VERSION,
                         .tables = nt,
                         .seg_size = m->seg_size,
                         .nsegs = m->nsegs,
                         .ndesc = ndesc,
                         .npos = npos,
                         .norph = norph,
                         .length = r->len,
                         .seq = e->seq,
                         .rseq = e->rseq,
                         .free_clock = m->free_clock,
                         .expiry_seen_ms = e->expiry_seen_ms,
                         .written_ms = wall_ms(),
                         .flags = closing ? CKPT_CLEAN : 0,
                         .nfiles = nfiles};
    segj_ids(e, &h.jid, &h.jdone);
    r->jid = h.jid;
    r->jdone = h.jdone;
    uint8_t *p = r->buf;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    memcpy(p, e->flush_rseq, (size_t)nt * 8);
    p += (size_t)nt * 8;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        if (!desc_stored(d))
            continue;
        struct ckpt_desc cd = {.g = g,
                               .live = d->live,
                               .put_bytes = d->put_bytes,
                               .tomb = d->tomb,
                               .group = d->group,
                               .run = d->run,
                               .state = state_stored(d->state),
                               .flags = d->flags & CKPT_SEGF,
                               .seq = d->seq,
                               .min_rseq = d->min_rseq,
                               .max_rseq = d->max_rseq,
                               .max_hider = d->max_hider,
                               .stale_min = d->stale_min,
                               .freed_at = d->freed_at};
        memcpy(p, &cd, sizeof(cd));
        p += sizeof(cd);
    }
    for (uint32_t i = 0; i < ns; i++) {
        if (st[i]->cur_seg < 0)
            continue;
        struct ckpt_pos ps = {(uint32_t)st[i]->cur_seg, st[i]->cur_off};
        memcpy(p, &ps, sizeof(ps));
        p += sizeof(ps);
    }
    free(st);
    if (norph) { /* compaction's orphans: rseqs, then freed_at stamps */
        uint64_t *o = (uint64_t *)(void *)p;
        compact_orphans(e, o, o + norph);
        p += norph * 16;
    }
    for (uint32_t f = 0; f < nfiles; f++) {
        struct vfs_stamp vs = {0};
        if (m->fds[f] >= 0 && vfs_stamp(e->cfg.sim, m->fds[f], &vs) < 0) {
            /* not stamped: the next open reads the first blocks (still CKPT_CLEAN-less
             * files keep their place, all zeros, so the layout holds) */
            memset(&vs, 0, sizeof(vs));
            h.flags &= ~CKPT_CLEAN;
            memcpy(r->buf, &h, sizeof(h));
        }
        memcpy(p, &vs, sizeof(vs));
        p += sizeof(vs);
    }
    r->p = p;
    return 0;
}

struct fill {
    uint8_t *p;
};

static int put_ent(void *arg, const struct idx_ent *ent)
{
    struct fill *f = arg;

    memcpy(f->p, ent, sizeof(*ent));
    f->p += sizeof(*ent);
    return 0;
}

static void seal_sum(struct ls_engine *e, struct ckpt_run *r)
{
    uint64_t sum = XXH3_64bits_withSeed(r->buf, r->len - 8, e->seed);
    memcpy(r->buf + r->len - 8, &sum, 8);
}

int ckpt_write(struct ls_engine *e)
{
    uint32_t nt = e->cfg.tables;
    struct ckpt_run r = {0};
    uint64_t *cnt = calloc(nt, sizeof(*cnt));
    int rc = cnt ? 0 : -ENOMEM;

    for (uint32_t t = 0; t < nt && rc == 0; t++)
        cnt[t] = idx_count(e->tables[t]);
    if (rc == 0)
        rc = build_head(e, &r, cnt, 1);
    if (rc < 0) {
        free(cnt);
        eng_log(e, LS_LOG_WARN,
                "no memory for the shutdown checkpoint: the next open scans the log");
        return rc;
    }
    for (uint32_t t = 0; t < nt; t++) {
        struct fill f = {r.p + 8};
        memcpy(r.p, &cnt[t], 8);
        idx_scan(e->tables[t], 0, SIZE_MAX, put_ent, &f, NULL, NULL);
        r.p = f.p;
    }
    free(cnt);
    seal_sum(e, &r);
    rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, CKPT_NAME, r.buf, r.len);
    free(r.buf);
    if (rc < 0)
        eng_log(e, LS_LOG_WARN, "%s/%s could not be written (%s): the next open scans the log",
                e->dir, CKPT_NAME, strerror(-rc));
    return rc;
}

/* ---- checkpoints while running ---- */

static void run_free(struct ls_engine *e, struct ckpt_run *r)
{
    if (r->snap)
        for (uint32_t t = 0; t < e->cfg.tables; t++)
            idx_snap_release(e->tables[t], r->snap[t]);
    e->idx_reclaim = 1;
    free(r->snap);
    free(r->buf);
    free(r);
}

void ckpt_run_abort(struct ls_engine *e, struct ckpt_run *r)
{
    if (r->writing)
        pthread_join(r->th, NULL); /* its file is whole or not there: either is fine */
    if (r->barrier_done) {
        run_free(e, r);
        return;
    }
    /* the barrier's callback still has r: it frees it */
    if (r->snap)
        for (uint32_t t = 0; t < e->cfg.tables; t++)
            idx_snap_release(e->tables[t], r->snap[t]);
    e->idx_reclaim = 1;
    free(r->snap);
    free(r->buf);
    r->snap = NULL;
    r->buf = NULL;
    r->e = NULL;
}

void ckpt_abort(struct ls_engine *e)
{
    struct ckpt_run *r = e->ckrun;

    snap_abort(e); /* a snapshot being made holds index snapshots too */
    if (!r)
        return;
    e->ckrun = NULL;
    ckpt_run_abort(e, r);
}

static void barrier_cb(void *arg, int rc, uint64_t cas)
{
    struct ckpt_run *r = arg;

    (void)cas;
    if (!r->e) { /* aborted meanwhile */
        free(r);
        return;
    }
    r->barrier_done = 1;
    r->barrier_rc = rc;
}

static void *write_main(void *arg)
{
    struct ckpt_run *r = arg;

    r->th_rc = vfs_write_atomic(NULL, r->e->dir_fd, r->fname, r->buf, r->len);
    atomic_store(&r->th_done, 1);
    return NULL;
}

/* Takes the state at this instant: everything appended so far is sealed (so that the
 * barrier covers it, compaction's copies included) and each stream's next buffer starts
 * a position recovery rolls forward from. The run is to be written to fname. */
static struct ckpt_run *run_start(struct ls_engine *e, const char *fname, int *rcp)
{
    uint32_t nt = e->cfg.tables;
    struct ckpt_run *r = calloc(1, sizeof(*r));
    uint64_t *cnt = calloc(nt, sizeof(*cnt));
    int rc = 0;

    if (!r || !cnt || !(r->snap = calloc(nt, sizeof(*r->snap)))) {
        free(cnt);
        if (r)
            free(r->snap);
        free(r);
        *rcp = -ENOMEM;
        return NULL;
    }
    r->e = e;
    snprintf(r->fname, sizeof(r->fname), "%s", fname);
    r->t0_ms = mono_ms();
    wbuf_seal_stream(e, &e->user);
    wbuf_seal_stream(e, &e->ucold);
    for (int i = 0; i < 2; i++)
        wbuf_seal_stream(e, &e->spill[i]);
    for (uint32_t i = 0; i < e->nstreams; i++)
        wbuf_seal_stream(e, &e->gs[i]);
    for (uint32_t t = 0; t < nt && rc == 0; t++) {
        r->snap[t] = idx_snapshot(e->tables[t]);
        if (!r->snap[t])
            rc = -ENOMEM;
        else
            cnt[t] = idx_snap_count(r->snap[t]);
    }
    if (rc == 0)
        rc = build_head(e, r, cnt, 0);
    free(cnt);
    if (rc == 0)
        rc = wbuf_barrier(e, barrier_cb, r);
    if (rc < 0) {
        run_free(e, r);
        *rcp = rc;
        return NULL;
    }
    *rcp = 0;
    return r;
}

struct ckpt_run *ckpt_run_start(struct ls_engine *e, const char *fname, int *rc)
{
    return run_start(e, fname, rc);
}

static int run_begin(struct ls_engine *e)
{
    int rc;
    struct ckpt_run *r = run_start(e, CKPT_NAME, &rc);

    if (!r)
        return rc;
    e->ckrun = r;
    e->ck_last_ms = eng_now_ms(e);
    return 0;
}

/* Serializes up to CKPT_STEP entries; 1 when all are. */
static int run_serialize(struct ls_engine *e, struct ckpt_run *r)
{
    size_t budget = CKPT_STEP;

    while (r->table < e->cfg.tables && budget) {
        struct idx_snap *s = r->snap[r->table];
        if (!r->table_open) {
            uint64_t n = idx_snap_count(s);
            memcpy(r->p, &n, 8);
            r->p += 8;
            r->table_open = 1;
            r->cursor = 0;
        }
        struct fill f = {r->p};
        int done = 0;
        size_t n = idx_snap_scan(s, r->cursor, budget, put_ent, &f, &r->cursor, &done);
        r->p = f.p;
        r->entries += n;
        budget = n < budget ? budget - n : 0;
        if (done) {
            idx_snap_release(e->tables[r->table], s);
            e->idx_reclaim = 1;
            r->snap[r->table] = NULL;
            r->table++;
            r->table_open = 0;
        }
    }
    return r->table == e->cfg.tables;
}

/* The file is written (rc 0) or not: counted, logged, and the run ends. */
static void run_finish(struct ls_engine *e, struct ckpt_run *r, int rc)
{
    if (rc < 0) {
        e->st.checkpoints_failed++;
        eng_log(e, LS_LOG_WARN, "%s/%s could not be written: %s", e->dir, CKPT_NAME, strerror(-rc));
    } else {
        e->st.checkpoints++;
        e->st.checkpoint_last_ms = mono_ms() - r->t0_ms;
        e->st.checkpoint_last_keys = r->entries;
        segj_ckpt_durable(e, r->jid, r->jdone);
    }
    e->ckrun = NULL;
    run_free(e, r);
}

/* Advances a run: 0 while under way, 1 once its file is written, -ECANCELED when a
 * write before it failed (it is not the state), or -errno (the file not written). */
static int run_step(struct ls_engine *e, struct ckpt_run *r)
{
    if (r->writing) {
        if (!atomic_load(&r->th_done))
            return 0;
        pthread_join(r->th, NULL);
        r->writing = 0;
        return r->th_rc < 0 ? r->th_rc : 1;
    }
    if (!run_serialize(e, r) || !r->barrier_done)
        return 0;
    if (r->barrier_rc < 0 || e->failed)
        return -ECANCELED;
    seal_sum(e, r);
    if (e->cfg.sim) { /* the simulator runs on one thread, deterministically */
        int rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, r->fname, r->buf, r->len);
        return rc < 0 ? rc : 1;
    }
    if (pthread_create(&r->th, NULL, write_main, r) != 0)
        return -EAGAIN;
    r->writing = 1;
    return 0;
}

int ckpt_run_step(struct ls_engine *e, struct ckpt_run *r)
{
    return run_step(e, r);
}

uint64_t ckpt_run_done(struct ls_engine *e, struct ckpt_run *r)
{
    uint64_t n = r->entries;
    run_free(e, r);
    return n;
}

void ckpt_tick(struct ls_engine *e)
{
    struct ckpt_run *r = e->ckrun;
    uint64_t now = eng_now_ms(e);

    snap_tick(e);
    if (!r) {
        if (!eng_roll_forward(e) || e->failed || e->closing || e->cfg.read_only)
            return;
        if (e->rseq == e->ck_last_rseq && !segj_pressure(e))
            return; /* nothing written (but compaction's frees filling the journal) */
        int by_time =
            e->cfg.checkpoint_interval_ms && now - e->ck_last_ms >= e->cfg.checkpoint_interval_ms;
        int by_bytes = e->cfg.checkpoint_bytes &&
                       e->st.device_bytes_written - e->ck_last_bytes >= e->cfg.checkpoint_bytes;
        /* half the segment journal written since the last one: its blocks after that
         * one's would soon be overwritten (segj.c) */
        if (!by_time && !by_bytes && !segj_pressure(e))
            return;
        e->ck_last_rseq = e->rseq;
        e->ck_last_bytes = e->st.device_bytes_written;
        if (run_begin(e) < 0)
            e->st.checkpoints_failed++;
        return;
    }
    int rc = run_step(e, r);
    if (rc == 0)
        return;
    if (rc == -ECANCELED) { /* a write before it failed: it is not the state */
        e->st.checkpoints_failed++;
        e->ckrun = NULL;
        run_free(e, r);
        return;
    }
    run_finish(e, r, rc < 0 ? rc : 0);
}

/* ---- reading one back ---- */

struct ckpt_view {
    uint8_t *buf;
    size_t len;
    struct ckpt_hdr h;
    const uint64_t *flush_rseq;
    struct ckpt_desc *cd;
    struct ckpt_pos *pos;
    const uint64_t *orph;          /* norph rseqs, then norph freed_at stamps */
    const struct vfs_stamp *files; /* nfiles data file stamps (a clean close's) */
    uint8_t *ents;                 /* the first table's count */
};

static int hdr_ok(const struct ckpt_hdr *h);

static size_t hdr_len(const struct ckpt_hdr *h)
{
    return h->version == 3 ? CKPT_HDR_V3 : CKPT_HDR;
}

/* A header read as CKPT_HDR bytes: a version 3 one is shorter and names no journal. */
static void hdr_norm(struct ckpt_hdr *h)
{
    if (h->version == 3)
        h->jid = h->jdone = 0;
}
static int view_parse(struct ckpt_view *v, uint64_t seed, const char **why);

/* Reads and checks the file: 1 (v filled), 0 (absent), LS_ECORRUPT (unusable, *why
 * says why), or -errno. */
static int ckpt_read(struct ls_engine *e, struct ckpt_view *v, const char **why)
{
    int64_t got = vfs_read_file(e->cfg.sim, e->dir_fd, CKPT_NAME, &v->h, sizeof(v->h));

    if (got == -ENOENT)
        return 0;
    if (got < 0)
        return (int)got;
    *why = "it is damaged or not this directory's";
    hdr_norm(&v->h);
    if (got != CKPT_HDR || v->h.magic != CKPT_MAGIC ||
        (v->h.version != CKPT_VERSION && v->h.version != 3))
        return LS_ECORRUPT;
    *why = "it was written with another disk_size, segment_size or tables";
    if (v->h.tables != e->cfg.tables || v->h.nsegs != e->sm.nsegs ||
        v->h.seg_size != e->sm.seg_size)
        return LS_ECORRUPT;
    *why = "it is damaged or not this directory's";
    if (!hdr_ok(&v->h))
        return LS_ECORRUPT;
    v->len = v->h.length;
    if (!(v->buf = malloc(v->len)))
        return -ENOMEM;
    got = vfs_read_file(e->cfg.sim, e->dir_fd, CKPT_NAME, v->buf, v->len);
    if (got < 0)
        return (int)got;
    if ((uint64_t)got != v->len)
        return LS_ECORRUPT;
    return view_parse(v, e->seed, why);
}

/* Checks a whole file in v->buf (v->h its header) against its checksum (seed: its
 * directory's) and its structure, and points v's parts into it: 1 or LS_ECORRUPT. */
static int hdr_ok(const struct ckpt_hdr *h)
{
    if (h->magic != CKPT_MAGIC || (h->version != CKPT_VERSION && h->version != 3) ||
        h->ndesc > h->nsegs || h->npos > h->nsegs || h->norph > 1024 || h->nfiles > h->nsegs ||
        h->tables > 65536)
        return 0;
    uint64_t fixed = hdr_len(h) + (uint64_t)h->tables * 16 + h->ndesc * CKPT_DESC +
                     h->npos * CKPT_POS + h->norph * 16 + (uint64_t)h->nfiles * CKPT_FILE + 8;
    return h->length >= fixed && (h->length - fixed) % sizeof(struct idx_ent) == 0;
}

static int view_parse(struct ckpt_view *v, uint64_t seed, const char **why)
{
    *why = "it is damaged or not this directory's";
    if (!hdr_ok(&v->h) || v->len != v->h.length)
        return LS_ECORRUPT;
    uint64_t sum;
    memcpy(&sum, v->buf + v->len - 8, 8);
    if (XXH3_64bits_withSeed(v->buf, v->len - 8, seed) != sum)
        return LS_ECORRUPT;
    v->flush_rseq = (const uint64_t *)(void *)(v->buf + hdr_len(&v->h));
    v->cd = (struct ckpt_desc *)(void *)(v->buf + hdr_len(&v->h) + (size_t)v->h.tables * 8);
    v->pos = (struct ckpt_pos *)(void *)(v->cd + v->h.ndesc);
    v->orph = (const uint64_t *)(void *)(v->pos + v->h.npos);
    v->files = (const struct vfs_stamp *)(const void *)(v->orph + 2 * v->h.norph);
    v->ents = (uint8_t *)(v->buf + ((const uint8_t *)(v->files + v->h.nfiles) - v->buf));
    /* the entry counts add up to the length, and each table is in index order (else
     * nothing of it is applied) */
    const uint8_t *p = v->ents, *end = v->buf + v->len - 8;
    for (uint32_t t = 0; t < v->h.tables; t++) {
        uint64_t n;
        if (end - p < 8)
            return LS_ECORRUPT;
        memcpy(&n, p, 8);
        if (n > (uint64_t)(end - p - 8) / sizeof(struct idx_ent))
            return LS_ECORRUPT;
        const struct idx_ent *x = (const struct idx_ent *)(const void *)(p + 8);
        for (uint64_t i = 1; i < n; i++)
            if (x[i].token < x[i - 1].token ||
                (x[i].token == x[i - 1].token &&
                 idx_meta_hash2(x[i].meta) <= idx_meta_hash2(x[i - 1].meta)))
                return LS_ECORRUPT;
        p += 8 + n * sizeof(struct idx_ent);
    }
    if (p != end)
        return LS_ECORRUPT;
    for (uint64_t i = 0; i < v->h.ndesc; i++)
        if ((i && v->cd[i].g <= v->cd[i - 1].g) || v->cd[i].g >= v->h.nsegs ||
            (v->cd[i].state != SEG_FREE && v->cd[i].state != SEG_FULL &&
             v->cd[i].state != SEG_CONT))
            return LS_ECORRUPT;
    for (uint64_t i = 0; i < v->h.npos; i++)
        if (v->pos[i].g >= v->h.nsegs || v->pos[i].off > v->h.seg_size)
            return LS_ECORRUPT;
    return 1;
}

/* Rolling forward from a checkpoint through the log written after it comes with the
 * checkpoints written while running (checkpoint_interval_ms; sim_engine --checkpoints
 * checks it against the model, through crashes at every step). Without them
 * a checkpoint is only a clean close's, deleted by the open that reads it (before the
 * engine writes), and used only when nothing was written after it. */
int eng_roll_forward(const struct ls_engine *e)
{
    return e->cfg.checkpoint_interval_ms != 0 || e->cfg.checkpoint_bytes != 0;
}

/* Compares the checkpoint with what phase 1 found and fills ci->changed: NULL when it can
 * be used, else why not. A segment the checkpoint holds as used still holds that use, or
 * holds one begun after the checkpoint (freed and reused since), or is free now (blanked
 * since); either way its checkpoint entries must have moved by the records rolled
 * forward. A segment used on disk that the checkpoint did not know is newer than it. */
static const char *agree(const struct ls_engine *e, const struct ckpt_view *v,
                         const uint8_t *blank0, struct ckpt_info *ci)
{
    const struct seg_mgr *m = &e->sm;
    uint64_t k = 0;

    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        struct ckpt_desc c = {.g = g, .state = SEG_FREE};
        if (k < v->h.ndesc && v->cd[k].g == g)
            memcpy(&c, &v->cd[k++], sizeof(c));
        int used = d->state != SEG_FREE, newer = used && d->seq > v->h.seq;
        if (c.state == SEG_FREE) {
            if (used && !newer && d->seq != c.seq)
                return "a segment holds a use it does not know";
            continue;
        }
        if (used && !newer && (d->state != c.state || d->seq != c.seq))
            return "a segment it lists as used holds another use on disk";
        if (!used && !blank0[g]) /* blanked by compaction reads as zeros: this is damage */
            return "a segment it lists as used has a damaged first block";
        ci->changed[g] = (uint8_t)(!used || newer);
    }
    if (!eng_roll_forward(e))
        for (uint32_t g = 0; g < m->nsegs; g++)
            if (ci->changed[g] || (m->d[g].state != SEG_FREE && m->d[g].seq > v->h.seq))
                return "segments were written or reused after it";
    return NULL;
}

/* Takes the descriptors and the index from the checkpoint and lists what to roll
 * forward. Returns 0 or -errno (the open fails: a table half loaded cannot be completed
 * by a scan). */
static int ckpt_apply(struct ls_engine *e, const struct ckpt_view *v, uint64_t now,
                      uint64_t *records, struct ckpt_info *ci)
{
    struct seg_mgr *m = &e->sm;
    uint64_t k = 0;

    for (uint32_t g = 0; g < m->nsegs; g++) {
        struct seg_desc *d = &m->d[g];
        const struct ckpt_desc *c = NULL;
        if (k < v->h.ndesc && v->cd[k].g == g)
            c = &v->cd[k++];
        if (d->state != SEG_FREE && d->seq > v->h.seq) {
            /* begun after the checkpoint: as phase 1 found it, read whole */
            if (d->state == SEG_FULL)
                ci->from[g] = 0;
            continue;
        }
        if (ci->changed[g]) {
            /* its use is gone and it is free: as phase 1 found it (blank) */
            continue;
        }
        if (!c) { /* free, blank or never used */
            seg_use(m, g, 0, SEG_FREE, 0);
            d->stale_min = UINT64_MAX;
            d->freed_at = 0;
            continue;
        }
        seg_use(m, g, c->seq, c->state, c->group);
        d->live = c->live;
        d->put_bytes = c->put_bytes;
        d->tomb = c->tomb;
        d->run = c->run ? c->run : 1;
        d->flags = c->flags & CKPT_SEGF;
        d->min_rseq = c->min_rseq;
        d->max_rseq = c->max_rseq;
        d->max_hider = c->max_hider;
        d->stale_min = c->stale_min;
        d->freed_at = c->freed_at;
    }
    for (uint64_t i = 0; i < v->h.npos; i++) {
        const struct ckpt_pos *ps = &v->pos[i];
        if (!ci->changed[ps->g] && m->d[ps->g].state == SEG_FULL && m->d[ps->g].seq <= v->h.seq &&
            ps->off < m->seg_size)
            ci->from[ps->g] = ps->off; /* open then: its records from off on came after */
    }
    e->st.live_bytes = 0;
    for (uint32_t g = 0; g < m->nsegs; g++)
        e->st.live_bytes += m->d[g].live;
    m->free_clock = v->h.free_clock;
    memcpy(e->flush_rseq, v->flush_rseq, (size_t)v->h.tables * 8);
    uint8_t *p = v->ents;
    for (uint32_t t = 0; t < v->h.tables; t++) {
        uint64_t n, kept = 0;
        memcpy(&n, p, 8);
        p += 8;
        /* the entries are 8-aligned in the buffer (header, counts, descriptors and
         * positions are multiples of 8): kept in place, the expired ones squeezed out */
        struct idx_ent *ents = (struct idx_ent *)(void *)p;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t x = idx_meta_expire(ents[i].meta);
            if (x && x <= now) { /* expired meanwhile: left out, as recovery does */
                if (!ci->changed[seg_of(m, idx_loc_addr(ents[i].loc))])
                    eng_unlive(e, ents[i].loc);
            } else {
                ents[kept++] = ents[i];
            }
        }
        int rc = idx_load(e->tables[t], ents, kept);
        if (rc < 0)
            return rc == -EINVAL ? LS_ECORRUPT : rc;
        *records += kept;
        p += n * sizeof(struct idx_ent);
    }
    for (uint32_t g = 0; g < m->nsegs; g++)
        seg_hist_update(m, g);
    if (v->h.seq > e->seq)
        e->seq = v->h.seq;
    e->rseq = v->h.rseq;
    if (v->h.expiry_seen_ms > e->expiry_seen_ms)
        e->expiry_seen_ms = v->h.expiry_seen_ms;
    ci->rseq = v->h.rseq;
    ci->seq = v->h.seq;
    /* Compaction's orphans as they were; and when anything changed since (segments
     * reused or begun after the checkpoint), one at rseq 0 that holds every tombstone
     * until the segments freed until now have all been reused: what happened to the
     * uses between the checkpoint and now (copies made and dropped, segments freed and
     * reused) is not known, and a tombstone dropped over a dead PUT still readable in one
     * of them would let the key come back (compact.c, "orphan"). */
    int moved = 0;
    for (uint32_t g = 0; g < m->nsegs && !moved; g++)
        moved = ci->changed[g] || ci->from[g] != UINT32_MAX;
    e->ck_orphans = calloc(v->h.norph + 1, sizeof(*e->ck_orphans));
    if (!e->ck_orphans)
        return -ENOMEM;
    for (uint64_t i = 0; i < v->h.norph; i++)
        e->ck_orphans[e->nck_orphans++] =
            (struct ck_orphan){.rseq = v->orph[i], .freed_at = v->orph[v->h.norph + i]};
    if (moved)
        e->ck_orphans[e->nck_orphans++] =
            (struct ck_orphan){.rseq = 0, .freed_at = ++m->free_clock};
    return 0;
}

void ckpt_info_free(struct ckpt_info *ci)
{
    if (ci->view)
        free(ci->view->buf);
    free(ci->view);
    free(ci->changed);
    free(ci->from);
    memset(ci, 0, sizeof(*ci));
}

int ckpt_clean_open(struct ls_engine *e, struct ckpt_info *ci)
{
    const struct seg_mgr *m = &e->sm;
    struct ckpt_view *v;
    const char *why = NULL;

    memset(ci, 0, sizeof(*ci));
    if (e->cfg.read_only || e->cfg.salvage || m->missing_files || !(v = calloc(1, sizeof(*v))))
        return 0;
    if (ckpt_read(e, v, &why) != 1) {
        free(v->buf); /* ckpt_load reads it again, and says why it is not used */
        free(v);
        return 0;
    }
    ci->view = v;
    if (!(v->h.flags & CKPT_CLEAN) || v->h.nfiles != m->nfiles)
        return 0;
    for (uint32_t f = 0; f < m->nfiles; f++) {
        struct vfs_stamp st = {0}; /* all zeros: no such file */
        if ((m->fds[f] >= 0 && vfs_stamp(e->cfg.sim, m->fds[f], &st) < 0) ||
            memcmp(&st, &v->files[f], sizeof(st)) != 0) {
            eng_log(e, LS_LOG_INFO,
                    "%s: data file %u changed since the clean close (size, times or inode): "
                    "reading the first block of every segment",
                    e->dir, f);
            return 0;
        }
    }
    ci->skip = 1;
    return 1;
}

const char *ckpt_presume(struct ls_engine *e, const struct ckpt_info *ci, uint8_t *cand)
{
    const struct ckpt_view *v = ci->view;
    struct seg_mgr *m = &e->sm;
    const char *why;

    if (!v || (v->h.flags & CKPT_CLEAN) || !eng_roll_forward(e) || e->cfg.salvage ||
        e->cfg.read_only)
        return ""; /* a clean close's whose files changed: every head, as always */
    memset(cand, 1, m->nsegs);
    for (uint64_t k = 0; k < v->h.ndesc; k++)
        if (v->cd[k].state != SEG_FREE)
            cand[v->cd[k].g] = 0; /* used then: reused since only if journaled */
    if ((why = segj_candidates(e, v->h.jid, v->h.jdone, cand)) != NULL)
        return why;
    /* the journal names a large run's first segment; its continuations went with it */
    for (uint64_t k = 0; k < v->h.ndesc; k++) {
        const struct ckpt_desc *c = &v->cd[k];
        if (c->state == SEG_FULL && c->run > 1 && cand[c->g])
            for (uint32_t r = 1; r < c->run && c->g + r < m->nsegs; r++)
                cand[c->g + r] = 1;
    }
    for (uint64_t k = 0; k < v->h.ndesc; k++) {
        const struct ckpt_desc *c = &v->cd[k];
        if (!cand[c->g])
            seg_use(m, c->g, c->seq, c->state, c->group);
    }
    return NULL;
}

int ckpt_load(struct ls_engine *e, uint64_t now, const uint8_t *blank0, uint64_t *records,
              struct ckpt_info *ci)
{
    struct ckpt_view v = {0};
    const char *why = NULL;
    int rc, skip = ci->skip;

    if (ci->view) { /* read by ckpt_clean_open */
        v = *ci->view;
        free(ci->view);
    }
    memset(ci, 0, sizeof(*ci));
    if (e->cfg.read_only) {
        free(v.buf);
        return 0; /* logstor-check and other read-only opens look at the log itself */
    }
    rc = v.buf ? 1 : ckpt_read(e, &v, &why);
    if (rc == 1) {
        ci->changed = calloc(e->sm.nsegs ? e->sm.nsegs : 1, 1);
        ci->from = malloc(sizeof(uint32_t) * (e->sm.nsegs ? e->sm.nsegs : 1));
        if (!ci->changed || !ci->from)
            rc = -ENOMEM;
        else
            memset(ci->from, 0xff, sizeof(uint32_t) * e->sm.nsegs);
    }
    if (rc == 1 && !skip && (why = agree(e, &v, blank0, ci)) != NULL)
        rc = LS_ECORRUPT;
    if (rc == 1) {
        int a = ckpt_apply(e, &v, now, records, ci);
        if (a < 0) {
            /* descriptors or tables half taken: a scan cannot complete them; the open
             * fails (the file stays: the cause, memory most likely, may be gone next time) */
            free(ci->changed);
            free(ci->from);
            memset(ci, 0, sizeof(*ci));
            free(v.buf);
            return a == LS_ECORRUPT ? -EIO : a;
        }
    }
    if (rc == LS_ECORRUPT) {
        eng_log(e, LS_LOG_WARN, "%s/%s is not used (%s): scanning the log", e->dir, CKPT_NAME, why);
        /* Gone before the first write: the scan takes the last rseq from the log, which
         * can be below this checkpoint's (the records that held the highest may have been
         * dropped), and a later open that took this file would mistake the writes made
         * from now on for compaction's copies. */
        int u = vfs_unlink(e->cfg.sim, e->dir_fd, CKPT_NAME);
        if (u == 0)
            u = vfs_sync_dir(e->cfg.sim, e->dir_fd);
        rc = u < 0 && u != -ENOENT ? u : 0;
        if (rc < 0)
            eng_log(e, LS_LOG_ERROR, "%s/%s could not be deleted: %s", e->dir, CKPT_NAME,
                    strerror(-u));
    }
    if (rc != 1) {
        free(ci->changed);
        free(ci->from);
        memset(ci, 0, sizeof(*ci));
    }
    free(v.buf);
    if (rc == 1 && (!eng_roll_forward(e) || skip)) {
        /* gone before the first write, so that it never describes a directory that has
         * changed since (nor, a clean close's, stands for a close that was not clean) */
        int u = vfs_unlink(e->cfg.sim, e->dir_fd, CKPT_NAME);
        if (u == 0)
            u = vfs_sync_dir(e->cfg.sim, e->dir_fd);
        if (u < 0) {
            eng_log(e, LS_LOG_ERROR, "%s/%s could not be deleted: %s", e->dir, CKPT_NAME,
                    strerror(-u));
            return u;
        }
    }
    return rc;
}

/* ---- a snapshot's file, read by another process (logstor-backup) ---- */

static uint64_t desc_seq(const struct ckpt_view *v, uint32_t g)
{
    uint64_t lo = 0, hi = v->h.ndesc;

    while (lo < hi) { /* descriptors by increasing segment number */
        uint64_t mid = (lo + hi) / 2;
        if (v->cd[mid].g < g)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->h.ndesc && v->cd[lo].g == g ? v->cd[lo].seq : 0;
}

int ckpt_file_entries(int fd, uint64_t seed, struct ckpt_geom *geom, ckpt_entry_fn fn, void *arg)
{
    struct ckpt_view v = {0};
    const char *why;
    struct stat sb;
    int rc = 0;

    if (fstat(fd, &sb) != 0)
        return -errno;
    if (pread(fd, &v.h, sizeof(v.h), 0) != (ssize_t)sizeof(v.h))
        return LS_ECORRUPT;
    hdr_norm(&v.h);
    if (!hdr_ok(&v.h) || v.h.length != (uint64_t)sb.st_size)
        return LS_ECORRUPT;
    v.len = v.h.length;
    if (!(v.buf = malloc(v.len)))
        return -ENOMEM;
    for (size_t got = 0; got < v.len && rc == 0;) {
        ssize_t n = pread(fd, v.buf + got, v.len - got, (off_t)got);
        if (n <= 0)
            rc = n < 0 ? -errno : LS_ECORRUPT;
        else
            got += (size_t)n;
    }
    if (rc == 0 && view_parse(&v, seed, &why) != 1)
        rc = LS_ECORRUPT;
    if (rc == 0) {
        *geom = (struct ckpt_geom){.tables = v.h.tables,
                                   .seg_size = v.h.seg_size,
                                   .nsegs = v.h.nsegs,
                                   .rseq = v.h.rseq,
                                   .written_ms = v.h.written_ms};
        const uint8_t *p = v.ents;
        for (uint32_t t = 0; t < v.h.tables && rc == 0; t++) {
            uint64_t n;
            memcpy(&n, p, 8);
            const struct idx_ent *x = (const struct idx_ent *)(const void *)(p + 8);
            for (uint64_t i = 0; i < n && rc == 0; i++)
                rc = fn(arg, t, &x[i],
                        desc_seq(&v, (uint32_t)(idx_loc_addr(x[i].loc) / v.h.seg_size)));
            p += 8 + n * sizeof(struct idx_ent);
        }
    }
    free(v.buf);
    return rc;
}

/* ---- rolling back to a snapshot (snap.c) ---- */

int ckpt_rollback_apply(struct ls_engine *e, const char *fname, uint64_t now, uint8_t *held,
                        uint32_t *pos, uint64_t *keys)
{
    struct seg_mgr *m = &e->sm;
    struct ckpt_view v = {0};
    const char *why = NULL;
    int64_t got = vfs_read_file(e->cfg.sim, e->dir_fd, fname, &v.h, sizeof(v.h));
    int rc;

    if (got < 0)
        return (int)got;
    hdr_norm(&v.h);
    if (got != CKPT_HDR || !hdr_ok(&v.h) || v.h.tables != e->cfg.tables || v.h.nsegs != m->nsegs ||
        v.h.seg_size != m->seg_size)
        return LS_ECORRUPT;
    v.len = v.h.length;
    if (!(v.buf = malloc(v.len)))
        return -ENOMEM;
    got = vfs_read_file(e->cfg.sim, e->dir_fd, fname, v.buf, v.len);
    rc = got < 0 ? (int)got : (uint64_t)got != v.len ? LS_ECORRUPT : view_parse(&v, e->seed, &why);
    if (rc != 1) {
        free(v.buf);
        return rc < 0 ? rc : LS_ECORRUPT;
    }
    /* Held: the segments the snapshot holds (d->snaps) and the continuations of its large
     * runs; each must still hold the use the file describes. */
    memset(held, 0, m->nsegs);
    uint64_t k = 0;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct ckpt_desc *c = NULL;
        while (k < v.h.ndesc && v.cd[k].g < g)
            k++;
        if (k < v.h.ndesc && v.cd[k].g == g)
            c = &v.cd[k];
        if (!m->d[g].snaps)
            continue;
        if (!c || c->seq != m->d[g].seq || c->state != SEG_FULL) {
            free(v.buf);
            return LS_ECORRUPT;
        }
        for (uint32_t r = 0; r < (c->run ? c->run : 1) && g + r < m->nsegs; r++)
            held[g + r] = 1;
    }
    for (uint32_t t = 0; t < e->cfg.tables; t++)
        if ((rc = idx_clear(e->tables[t])) < 0) {
            free(v.buf);
            return rc;
        }
    k = 0;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        struct seg_desc *d = &m->d[g];
        const struct ckpt_desc *c = NULL;
        while (k < v.h.ndesc && v.cd[k].g < g)
            k++;
        if (k < v.h.ndesc && v.cd[k].g == g)
            c = &v.cd[k];
        pos[g] = UINT32_MAX;
        if (!held[g] || !c) { /* its block 0 is cleared next: nothing of it is readable */
            uint16_t snaps = d->snaps;
            seg_use(m, g, 0, SEG_FREE, 0);
            d->stale_min = UINT64_MAX;
            d->freed_at = 0;
            d->snaps = snaps;
            held[g] = 0;
            continue;
        }
        uint16_t snaps = d->snaps;
        seg_use(m, g, c->seq, c->state, c->group);
        d->snaps = snaps;
        d->live = c->live;
        d->put_bytes = c->put_bytes;
        d->tomb = c->tomb;
        d->run = c->run ? c->run : 1;
        d->flags = c->flags & CKPT_SEGF;
        d->min_rseq = c->min_rseq;
        d->max_rseq = c->max_rseq;
        d->max_hider = c->max_hider;
        d->stale_min = UINT64_MAX;
        d->freed_at = 0;
    }
    for (uint64_t i = 0; i < v.h.npos; i++)
        if (held[v.pos[i].g] && v.pos[i].off < m->seg_size)
            pos[v.pos[i].g] = v.pos[i].off; /* appended to after the snapshot from there */
    memcpy(e->flush_rseq, v.flush_rseq, (size_t)v.h.tables * 8);
    uint8_t *p = v.ents;
    *keys = 0;
    for (uint32_t t = 0; t < v.h.tables; t++) {
        uint64_t n, kept = 0;
        memcpy(&n, p, 8);
        p += 8;
        struct idx_ent *ents = (struct idx_ent *)(void *)p;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t x = idx_meta_expire(ents[i].meta);
            if (x && x <= now)
                eng_unlive(e, ents[i].loc); /* expired since: left out, as an open does */
            else
                ents[kept++] = ents[i];
        }
        if ((rc = idx_load(e->tables[t], ents, kept)) < 0) {
            free(v.buf);
            return rc == -EINVAL ? LS_ECORRUPT : rc;
        }
        *keys += kept;
        p += n * sizeof(struct idx_ent);
    }
    e->st.live_bytes = 0;
    for (uint32_t g = 0; g < m->nsegs; g++) {
        e->st.live_bytes += m->d[g].live;
        seg_hist_update(m, g);
    }
    if (v.h.seq > e->seq)
        e->seq = v.h.seq;
    if (v.h.rseq > e->rseq)
        e->rseq = v.h.rseq;
    free(v.buf);
    return 0;
}
