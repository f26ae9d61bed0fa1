/*
 * snap.c - named snapshots (SNAPSHOT CREATE/LIST/DROP) and their export (logstor-backup).
 *
 * A snapshot is the index at one instant T, written as a checkpoint file
 * (`snap-NAME.ckpt`, the layout of logstor.ckpt: ckpt.c) by the same writer as the
 * checkpoints taken while running (the trees snapshotted copy-on-write in one loop turn,
 * serialized over ticks, the file written once every write before T is durable), plus a
 * hold on every segment whose use holds a record the index pointed at then: every segment
 * with live bytes at T (open ones included; their records are durable before the
 * snapshot is made), and of a large run its first segment (the run is freed through it). Compaction
 * never takes a held segment as a victim nor frees one (it is not in the utilization histogram,
 * fast_free_ok refuses it, and a victim a snapshot came to hold during its round stays), so the
 * records the file names stay readable, and intact, for as long as the snapshot exists: nothing is
 * ever written over them.
 *
 * Held segments keep their dead records readable too; they are used segments like any
 * other, so their dead PUTs hold back the low water (compact.c) and the tombstones that
 * hide them are kept: holding changes nothing of what a restart reads. What they cost is
 * space: INFO reports the segments held, and a disk full of held segments refuses
 * writes (LS_ENOSPACE) until a snapshot is dropped.
 *
 * `logstor.snaps` lists the snapshots (replaced atomically and durably after the
 * snapshot's file is written, and at every drop): name, time, keys, the table map at T
 * (which physical table each database was: tmap.c) and the held segments with the
 * sequence number of their use. An open applies the holds after recovery, before
 * compaction runs; a held segment found with another use (which cannot happen unless the
 * directory was changed by hand) marks the snapshot damaged: LIST says so, and an export
 * of it fails on the records it cannot verify. A crash before the list names a new
 * snapshot leaves at most its file, which the next create of that name replaces.
 *
 * Export (ls_snapshot_export, run by logstor-backup while the server runs): reads the
 * snapshot's file and, for each entry, its record from the data files (every record is
 * verified: checksum seeded with the directory's seed and the segment use's sequence
 * number), and writes it into another engine (a new directory) with its expiry and
 * client flags; entries expired by then are left out, as an open would. The copy is the
 * snapshot's exact contents in a directory `logstord --dir` opens directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <xxhash.h>

#include "internal.h"
#include "rec.h"
#include "token.h"
#include "vfs.h"

#define SNAP_LIST  "logstor.snaps"
#define SNAP_MAGIC UINT64_C(0x313050414e53534c) /* "LSSNAP01" */
#define SNAP_FNAME 96
#define EXPORT_WIN 256u /* writes in flight during an export */

struct snap {
    char name[LS_SNAP_NAME_MAX + 1];
    uint64_t created_ms, keys;
    uint32_t ntables, nseg;
    uint32_t *tmap; /* ntables: the physical table of each database at T */
    uint32_t *segs; /* nseg held segments, */
    uint64_t *seqs; /* and the sequence numbers of their uses */
    int damaged;
};

struct snap_op {
    struct snap s;
    struct ckpt_run *run;
    ls_write_cb cb;
    void *arg;
    int given_up; /* the run was aborted: cb gets -ECANCELED at the next tick */
};

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > LS_SNAP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return name[0] != '.';
}

static void file_of(const char *name, char *out)
{
    snprintf(out, SNAP_FNAME, "snap-%s.ckpt", name);
}

static void snap_clear(struct snap *s)
{
    free(s->tmap);
    free(s->segs);
    free(s->seqs);
    memset(s, 0, sizeof(*s));
}

static struct snap *find(const struct ls_engine *e, const char *name)
{
    for (uint32_t i = 0; i < e->nsnaps; i++)
        if (strcmp(e->snaps[i].name, name) == 0)
            return &e->snaps[i];
    return NULL;
}

/* Adds (+1) or removes (-1) a snapshot's holds; only on segments that still hold the use
 * it held. */
static void hold(struct ls_engine *e, const struct snap *s, int by)
{
    struct seg_mgr *m = &e->sm;
    for (uint32_t i = 0; i < s->nseg; i++) {
        struct seg_desc *d = &m->d[s->segs[i]];
        if (d->seq != s->seqs[i] || d->state == SEG_FREE)
            continue;
        if (by < 0 && d->snaps == 0)
            continue;
        d->snaps = (uint16_t)(d->snaps + by);
        seg_hist_update(m, s->segs[i]);
    }
}

/* ---- logstor.snaps ---- */

static size_t list_size(const struct snap *v, uint32_t n)
{
    size_t len = 16 + 8;
    for (uint32_t i = 0; i < n; i++)
        len += 64 + 8 + 8 + 4 + 4 + (size_t)v[i].ntables * 4 + (size_t)v[i].nseg * 12;
    return len;
}

static int list_write(struct ls_engine *e, const struct snap *v, uint32_t n)
{
    size_t len = list_size(v, n);
    uint8_t *buf = calloc(1, len), *p = buf;
    uint64_t magic = SNAP_MAGIC, sum;
    uint32_t ver = 1;
    int rc;

    if (!buf)
        return -ENOMEM;
    memcpy(p, &magic, 8);
    memcpy(p + 8, &ver, 4);
    memcpy(p + 12, &n, 4);
    p += 16;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, v[i].name, strlen(v[i].name));
        p += 64;
        memcpy(p, &v[i].created_ms, 8);
        memcpy(p + 8, &v[i].keys, 8);
        memcpy(p + 16, &v[i].ntables, 4);
        memcpy(p + 20, &v[i].nseg, 4);
        p += 24;
        memcpy(p, v[i].tmap, (size_t)v[i].ntables * 4);
        p += (size_t)v[i].ntables * 4;
        memcpy(p, v[i].segs, (size_t)v[i].nseg * 4);
        p += (size_t)v[i].nseg * 4;
        memcpy(p, v[i].seqs, (size_t)v[i].nseg * 8);
        p += (size_t)v[i].nseg * 8;
    }
    sum = XXH3_64bits_withSeed(buf, len - 8, e->seed);
    memcpy(p, &sum, 8);
    rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, SNAP_LIST, buf, len);
    free(buf);
    return rc;
}

/* Parses the list in buf (len bytes, checked with seed) into *out (n entries). */
static int list_parse(const uint8_t *buf, size_t len, uint64_t seed, struct snap **out,
                      uint32_t *nout)
{
    uint64_t magic, sum;
    uint32_t n;
    const uint8_t *p = buf, *end = buf + len;

    *out = NULL;
    *nout = 0;
    if (len < 24)
        return LS_ECORRUPT;
    memcpy(&magic, p, 8);
    memcpy(&n, p + 12, 4);
    memcpy(&sum, end - 8, 8);
    if (magic != SNAP_MAGIC || n > LS_SNAP_MAX || XXH3_64bits_withSeed(buf, len - 8, seed) != sum)
        return LS_ECORRUPT;
    struct snap *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    p += 16;
    end -= 8;
    for (uint32_t i = 0; i < n; i++) {
        struct snap *s = &v[i];
        if (end - p < 88)
            goto bad;
        memcpy(s->name, p, LS_SNAP_NAME_MAX);
        p += 64;
        memcpy(&s->created_ms, p, 8);
        memcpy(&s->keys, p + 8, 8);
        memcpy(&s->ntables, p + 16, 4);
        memcpy(&s->nseg, p + 20, 4);
        p += 24;
        if (s->ntables > 65536 || s->nseg > (1u << 28) ||
            (uint64_t)(end - p) < (uint64_t)s->ntables * 4 + (uint64_t)s->nseg * 12 ||
            !name_ok(s->name))
            goto bad;
        s->tmap = malloc((size_t)s->ntables * 4 + 4);
        s->segs = malloc((size_t)s->nseg * 4 + 4);
        s->seqs = malloc((size_t)s->nseg * 8 + 8);
        if (!s->tmap || !s->segs || !s->seqs) {
            for (uint32_t k = 0; k <= i; k++)
                snap_clear(&v[k]);
            free(v);
            return -ENOMEM;
        }
        memcpy(s->tmap, p, (size_t)s->ntables * 4);
        p += (size_t)s->ntables * 4;
        memcpy(s->segs, p, (size_t)s->nseg * 4);
        p += (size_t)s->nseg * 4;
        memcpy(s->seqs, p, (size_t)s->nseg * 8);
        p += (size_t)s->nseg * 8;
    }
    if (p != end)
        goto bad;
    *out = v;
    *nout = n;
    return 0;
bad:
    for (uint32_t k = 0; k < n; k++)
        snap_clear(&v[k]);
    free(v);
    return LS_ECORRUPT;
}

int snap_open(struct ls_engine *e)
{
    size_t cap = 1u << 16;
    uint8_t *buf = NULL;
    int64_t got;
    int rc;

    for (;;) { /* the file's size is not known ahead: grow until it fits */
        uint8_t *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            return -ENOMEM;
        }
        buf = nb;
        got = vfs_read_file(e->cfg.sim, e->dir_fd, SNAP_LIST, buf, cap);
        if (got < 0 || (size_t)got < cap || cap >= (1u << 30))
            break;
        cap *= 4;
    }
    if (got == -ENOENT) {
        free(buf);
        return 0;
    }
    if (got < 0) {
        free(buf);
        return (int)got;
    }
    rc = list_parse(buf, (size_t)got, e->seed, &e->snaps, &e->nsnaps);
    free(buf);
    if (rc == LS_ECORRUPT)
        eng_log(e, LS_LOG_ERROR,
                "%s/%s is damaged: refusing to open (the segments its snapshots hold could be "
                "reused). Move it away to drop every snapshot",
                e->dir, SNAP_LIST);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < e->nsnaps; i++) {
        struct snap *s = &e->snaps[i];
        for (uint32_t k = 0; k < s->nseg && !s->damaged; k++)
            if (s->segs[k] >= e->sm.nsegs || e->sm.d[s->segs[k]].seq != s->seqs[k] ||
                e->sm.d[s->segs[k]].state == SEG_FREE) {
                s->damaged = 1;
            }
        if (s->damaged)
            eng_log(e, LS_LOG_ERROR,
                    "%s: snapshot %s is damaged: a segment it held holds another use now", e->dir,
                    s->name);
        hold(e, s, 1);
    }
    return 0;
}

void snap_free(struct ls_engine *e)
{
    for (uint32_t i = 0; i < e->nsnaps; i++)
        snap_clear(&e->snaps[i]);
    free(e->snaps);
    e->snaps = NULL;
    e->nsnaps = 0;
    if (e->snapop) { /* snap_close told its caller */
        snap_clear(&e->snapop->s);
        free(e->snapop);
        e->snapop = NULL;
    }
}

/* ---- making one ---- */

int ls_snapshot_create(struct ls_engine *e, const char *name, ls_write_cb cb, void *arg)
{
    struct seg_mgr *m = &e->sm;
    struct snap_op *op;
    char fname[SNAP_FNAME];
    int rc;

    if (!name_ok(name))
        return LS_EINVAL;
    if (e->cfg.read_only)
        return -EROFS;
    if (e->failed)
        return LS_EFAILED;
    if (e->closing)
        return LS_ECLOSING;
    if (find(e, name))
        return -EEXIST;
    if (e->snapop)
        return LS_EBUSY;
    if (e->nsnaps >= LS_SNAP_MAX)
        return -EMLINK;
    if (!(op = calloc(1, sizeof(*op))))
        return -ENOMEM;
    snprintf(op->s.name, sizeof(op->s.name), "%s", name);
    op->s.ntables = e->cfg.tables;
    op->s.tmap = malloc((size_t)e->cfg.tables * 4);
    op->s.segs = malloc((size_t)m->nsegs * 4 + 4);
    op->s.seqs = malloc((size_t)m->nsegs * 8 + 8);
    if (!op->s.tmap || !op->s.segs || !op->s.seqs) {
        snap_clear(&op->s);
        free(op);
        return -ENOMEM;
    }
    for (uint32_t t = 0; t < e->cfg.tables; t++)
        op->s.tmap[t] = eng_phys(e, t);
    file_of(name, fname);
    /* the run seals every stream first: what it holds is what it names */
    op->run = ckpt_run_start(e, fname, &rc);
    if (!op->run) {
        snap_clear(&op->s);
        free(op);
        return rc;
    }
    for (uint32_t g = 0; g < m->nsegs; g++) {
        const struct seg_desc *d = &m->d[g];
        /* Only segments holding a record the index names: an open one with none may have
         * no durable block 0 of its use yet, and a crash that loses its first write
         * leaves it with another (simulator seed 5344 with --snapshots) */
        if (d->state == SEG_FREE || d->state == SEG_CONT || !d->live)
            continue;
        op->s.segs[op->s.nseg] = g;
        op->s.seqs[op->s.nseg++] = d->seq;
    }
    hold(e, &op->s, 1);
    op->s.created_ms = wall_ms();
    op->cb = cb;
    op->arg = arg;
    e->snapop = op;
    return 0;
}

static void op_end(struct ls_engine *e, int rc)
{
    struct snap_op *op = e->snapop;
    char fname[SNAP_FNAME];

    e->snapop = NULL;
    if (rc < 0) {
        hold(e, &op->s, -1);
        file_of(op->s.name, fname);
        vfs_unlink(e->cfg.sim, e->dir_fd, fname);
        eng_log(e, LS_LOG_WARN, "%s: snapshot %s not made: %s", e->dir, op->s.name,
                ls_strerror(rc));
        snap_clear(&op->s);
    }
    ls_write_cb cb = op->cb;
    void *arg = op->arg;
    free(op);
    if (cb)
        cb(arg, rc, 0);
}

void snap_tick(struct ls_engine *e)
{
    struct snap_op *op = e->snapop;
    int rc;

    if (!op)
        return;
    if (op->given_up) {
        op_end(e, -ECANCELED);
        return;
    }
    rc = ckpt_run_step(e, op->run);
    if (rc == 0)
        return;
    if (rc < 0) {
        ckpt_run_abort(e, op->run);
        op->run = NULL;
        op_end(e, rc == -ECANCELED ? LS_EFAILED : rc);
        return;
    }
    op->s.keys = ckpt_run_done(e, op->run);
    op->run = NULL;
    struct snap *v = realloc(e->snaps, (e->nsnaps + 1) * sizeof(*v));
    if (!v) {
        op_end(e, -ENOMEM);
        return;
    }
    e->snaps = v;
    v[e->nsnaps] = op->s;
    if ((rc = list_write(e, v, e->nsnaps + 1)) < 0) {
        op_end(e, rc); /* frees op->s, which v[nsnaps] shared: not counted */
        return;
    }
    e->nsnaps++;
    memset(&op->s, 0, sizeof(op->s)); /* the list owns it now */
    eng_log(e, LS_LOG_INFO, "%s: snapshot %s made: %llu keys, %u segments held", e->dir,
            v[e->nsnaps - 1].name, (unsigned long long)v[e->nsnaps - 1].keys,
            v[e->nsnaps - 1].nseg);
    op_end(e, 0);
}

void snap_abort(struct ls_engine *e)
{
    struct snap_op *op = e->snapop;

    if (!op || op->given_up)
        return;
    ckpt_run_abort(e, op->run);
    op->run = NULL;
    op->given_up = 1;
}

void snap_close(struct ls_engine *e)
{
    snap_abort(e);
    if (e->snapop)
        op_end(e, LS_ECLOSING);
}

/* ---- dropping, listing ---- */

int ls_snapshot_drop(struct ls_engine *e, const char *name)
{
    struct snap *s = find(e, name);
    char fname[SNAP_FNAME];
    uint32_t i;
    int rc;

    if (!s)
        return LS_ENOTFOUND;
    if (e->cfg.read_only)
        return -EROFS;
    i = (uint32_t)(s - e->snaps);
    struct snap gone = *s;
    memmove(&e->snaps[i], &e->snaps[i + 1], (e->nsnaps - i - 1) * sizeof(*s));
    if ((rc = list_write(e, e->snaps, e->nsnaps - 1)) < 0) {
        memmove(&e->snaps[i + 1], &e->snaps[i], (e->nsnaps - i - 1) * sizeof(*s));
        e->snaps[i] = gone;
        return rc;
    }
    e->nsnaps--;
    hold(e, &gone, -1);
    file_of(gone.name, fname);
    vfs_unlink(e->cfg.sim, e->dir_fd, fname); /* listed no more: a file left is harmless */
    snap_clear(&gone);
    return 0;
}

uint32_t ls_snapshot_list(const struct ls_engine *e, struct ls_snapshot_info *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->nsnaps && n < max; i++, n++) {
        const struct snap *s = &e->snaps[i];
        memset(&out[n], 0, sizeof(out[n]));
        snprintf(out[n].name, sizeof(out[n].name), "%s", s->name);
        out[n].created_ms = s->created_ms;
        out[n].keys = s->keys;
        out[n].segments = s->nseg;
        out[n].damaged = s->damaged;
    }
    return n;
}

uint64_t ls_snapshot_held_segments(const struct ls_engine *e)
{
    uint64_t n = 0;
    for (uint32_t g = 0; g < e->sm.nsegs; g++)
        n += e->sm.d[g].snaps > 0;
    return n;
}

/* ---- export ---- */

struct exp {
    struct ls_engine *dst;
    const char *dir;
    uint64_t seed, now_ms;
    uint32_t seg_size, spf, nfiles;
    int *fds;
    uint32_t *logical; /* physical table -> database (UINT32_MAX: none) */
    uint32_t nphys;
    uint8_t *buf;
    size_t cap;
    uint64_t keys, expired, inflight;
    int err;
    char *msg;
    size_t msglen;
};

/* One turn of the destination's loop: its completions, and its timers. */
static int exp_turn(struct exp *x)
{
    struct pollfd p = {.fd = ls_fd(x->dst), .events = POLLIN};
    poll(&p, 1, 1);
    int rc = ls_poll(x->dst);
    ls_tick(x->dst);
    return rc;
}

static void exp_done(void *arg, int rc, uint64_t cas)
{
    struct exp *x = arg;
    (void)cas;
    x->inflight--;
    if (rc < 0 && !x->err)
        x->err = rc;
}

static int exp_fd(struct exp *x, uint32_t f)
{
    char path[4200];
    if (f >= x->nfiles)
        return -1;
    if (x->fds[f] < 0) {
        snprintf(path, sizeof(path), "%s/data-%06u.lsd", x->dir, f);
        x->fds[f] = open(path, O_RDONLY | O_CLOEXEC);
    }
    return x->fds[f];
}

static int exp_entry(void *arg, uint32_t table, const struct idx_ent *ent, uint64_t seg_seq)
{
    struct exp *x = arg;
    uint64_t addr = idx_loc_addr(ent->loc), x_ms = idx_meta_expire(ent->meta);
    uint32_t size = idx_loc_size(ent->loc), g = (uint32_t)(addr / x->seg_size);
    struct rec_view v;
    int fd, rc;

    if (x->err)
        return x->err;
    if (x_ms && x_ms <= x->now_ms) {
        x->expired++;
        return 0;
    }
    if (table >= x->nphys || x->logical[table] == UINT32_MAX)
        return 0; /* a table no database names: an open would not show it either */
    if (size > x->cap) {
        uint8_t *nb = realloc(x->buf, size);
        if (!nb)
            return -ENOMEM;
        x->buf = nb;
        x->cap = size;
    }
    fd = exp_fd(x, g / x->spf);
    off_t off = (off_t)((uint64_t)(g % x->spf) * x->seg_size + addr % x->seg_size);
    if (fd < 0 || pread(fd, x->buf, size, off) != (ssize_t)size || !seg_seq ||
        rec_decode(x->buf, size, rec_seed(x->seed, seg_seq), &v) != 0 || v.h.type != REC_PUT ||
        v.h.table != table) {
        snprintf(x->msg, x->msglen,
                 "the record of an entry (table %u, segment %u, offset %llu) cannot be read or "
                 "verified",
                 table, g, (unsigned long long)(addr % x->seg_size));
        return LS_ECORRUPT;
    }
    struct ls_write_opts o = {.expire_ms = v.h.expire_ms, .flags = v.h.flags, .vtype = v.vtag};
    /* The copy's records take sequence numbers above the source's: numbers the source
     * handed out (ls_new_version: logstord names its large lists' pages with them) must
     * never be handed out again by the copy, whose log then carries them past any crash. */
    if (v.h.rseq > x->dst->rseq)
        x->dst->rseq = v.h.rseq;
    while (x->inflight >= EXPORT_WIN && !x->err)
        if ((rc = exp_turn(x)) < 0)
            return rc;
    for (;;) {
        rc = ls_put(x->dst, x->logical[table], v.key, v.h.key_len, v.value, v.h.value_len, &o,
                    exp_done, x);
        if (rc != LS_EBUSY)
            break;
        if ((rc = exp_turn(x)) < 0) /* the destination's buffers are full: let them go */
            return rc;
    }
    if (rc < 0) {
        snprintf(x->msg, x->msglen, "writing into the destination failed: %s", ls_strerror(rc));
        return rc;
    }
    x->inflight++;
    x->keys++;
    return 0;
}

static int read_small(const char *dir, const char *name, uint8_t **out, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    off_t sz = lseek(fd, 0, SEEK_END);
    uint8_t *b = sz > 0 && sz < (1 << 30) ? malloc((size_t)sz) : NULL;
    if (!b || pread(fd, b, (size_t)sz, 0) != sz) {
        close(fd);
        free(b);
        return b ? -EIO : LS_ECORRUPT;
    }
    close(fd);
    *out = b;
    *len = (size_t)sz;
    return 0;
}

int ls_snapshot_export(const char *src_dir, const char *name, struct ls_engine *dst,
                       uint64_t *keys_out, char *err, size_t errlen)
{
    struct exp x = {.dst = dst, .dir = src_dir, .msg = err, .msglen = errlen};
    uint8_t meta[64], *list = NULL;
    size_t list_len = 0;
    struct snap *snaps = NULL, *s = NULL;
    uint32_t nsnaps = 0;
    char path[4200], fname[SNAP_FNAME];
    int rc, fd;

    snprintf(err, errlen, "?");
    snprintf(path, sizeof(path), "%s/logstor.meta", src_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, meta, 64, 0) != 64) {
        snprintf(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "too short");
        if (fd >= 0)
            close(fd);
        return LS_ECORRUPT;
    }
    close(fd);
    uint64_t sum, file_size = 0;
    uint32_t seg_size = 0, fs32 = 0;
    memcpy(&sum, meta + 56, 8);
    if (memcmp(meta, "LSMETA01", 8) != 0 || XXH3_64bits(meta, 56) != sum) {
        snprintf(err, errlen, "%s is not a logstor directory's (or is damaged)", path);
        return LS_ECORRUPT;
    }
    memcpy(&seg_size, meta + 12, 4);
    memcpy(&fs32, meta + 16, 4);
    memcpy(&x.seed, meta + 24, 8);
    file_size = fs32;
    if (!seg_size || file_size < seg_size || file_size % seg_size) {
        snprintf(err, errlen, "%s: implausible geometry", path);
        return LS_ECORRUPT;
    }
    if (!name_ok(name)) {
        snprintf(err, errlen, "'%s' is not a snapshot name", name);
        return LS_EINVAL;
    }
    if ((rc = read_small(src_dir, SNAP_LIST, &list, &list_len)) < 0 ||
        (rc = list_parse(list, list_len, x.seed, &snaps, &nsnaps)) < 0) {
        snprintf(err, errlen, "%s/%s: %s", src_dir, SNAP_LIST,
                 rc == -ENOENT ? "no snapshot was made there" : ls_strerror(rc));
        free(list);
        return rc;
    }
    free(list);
    for (uint32_t i = 0; i < nsnaps && !s; i++)
        if (strcmp(snaps[i].name, name) == 0)
            s = &snaps[i];
    if (!s) {
        snprintf(err, errlen, "no snapshot named '%s' in %s", name, src_dir);
        rc = LS_ENOTFOUND;
        goto out;
    }
    x.seg_size = seg_size;
    x.spf = (uint32_t)(file_size / seg_size);
    x.nphys = 65536;
    x.logical = malloc(x.nphys * sizeof(uint32_t));
    if (!x.logical) {
        rc = -ENOMEM;
        goto out;
    }
    memset(x.logical, 0xff, x.nphys * sizeof(uint32_t));
    for (uint32_t t = 0; t < s->ntables; t++) {
        if (s->tmap[t] < x.nphys)
            x.logical[s->tmap[t]] = t;
    }
    if (s->ntables > ls_tables(dst)) {
        snprintf(err, errlen, "the snapshot has %u databases, the destination %u", s->ntables,
                 ls_tables(dst));
        rc = LS_EBADTABLE;
        goto out;
    }
    file_of(name, fname);
    snprintf(path, sizeof(path), "%s/%s", src_dir, fname);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -errno;
        goto out;
    }
    struct ckpt_geom geom;
    x.nfiles = 1u << 20;
    x.fds = malloc(x.nfiles * sizeof(int));
    if (!x.fds) {
        close(fd);
        rc = -ENOMEM;
        goto out;
    }
    memset(x.fds, 0xff, x.nfiles * sizeof(int));
    x.now_ms = wall_ms();
    rc = ckpt_file_entries(fd, x.seed, &geom, exp_entry, &x);
    close(fd);
    if (rc == LS_ECORRUPT && strcmp(err, "?") == 0)
        snprintf(err, errlen, "%s is damaged", path);
    while (x.inflight && exp_turn(&x) >= 0)
        ;
    if (rc == 0 && x.err) {
        rc = x.err;
        snprintf(err, errlen, "writing into the destination failed: %s", ls_strerror(rc));
    }
    for (uint32_t f = 0; f < x.nfiles; f++)
        if (x.fds[f] >= 0)
            close(x.fds[f]);
    if (keys_out)
        *keys_out = x.keys;
out:
    free(x.fds);
    free(x.logical);
    free(x.buf);
    for (uint32_t i = 0; i < nsnaps; i++)
        snap_clear(&snaps[i]);
    free(snaps);
    return rc;
}

/* ---- rolling back ---- */

#define ROLLBACK_MARK "logstor.rollback"
#define RB_BATCH      32 /* block writes in flight while clearing */

struct rb_del {
    uint64_t token;
    uint32_t hash2, key_len;
    size_t key_at; /* in rb.keys */
    uint16_t table;
};

struct rb {
    struct ls_engine *e;
    uint64_t *seen; /* (table, token) of keys already given a tombstone: open addressing */
    uint32_t *seen_t;
    size_t cap, n;
    struct rb_del *dels; /* the tombstones to write */
    size_t ndels, capdels;
    uint8_t *keys; /* their keys */
    size_t nkeys, capkeys;
    uint64_t bytes, pending;
    int err;
};

static void rb_done(void *arg, int rc, uint64_t cas)
{
    struct rb *b = arg;
    (void)cas;
    b->pending--;
    if (rc < 0 && !b->err)
        b->err = rc;
}

static int rb_seen(struct rb *b, uint32_t table, uint64_t token)
{
    if (b->n * 2 >= b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        uint64_t *s = calloc(cap, sizeof(*s));
        uint32_t *t = calloc(cap, sizeof(*t));
        if (!s || !t) {
            free(s);
            free(t);
            return -ENOMEM;
        }
        for (size_t i = 0; i < b->cap; i++) {
            if (!b->seen_t[i])
                continue;
            size_t j = (size_t)(b->seen[i] * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            s[j] = b->seen[i];
            t[j] = b->seen_t[i];
        }
        free(b->seen);
        free(b->seen_t);
        b->seen = s;
        b->seen_t = t;
        b->cap = cap;
    }
    size_t j = (size_t)(token * 0x9E3779B97F4A7C15ull >> 20) & (b->cap - 1);
    while (b->seen_t[j]) {
        if (b->seen[j] == token && b->seen_t[j] == table + 1)
            return 1;
        j = (j + 1) & (b->cap - 1);
    }
    b->seen[j] = token;
    b->seen_t[j] = table + 1;
    b->n++;
    return 0;
}

static void rb_sync_done(void *arg, int rc, uint64_t cas)
{
    int *w = arg; /* done, rc */
    (void)cas;
    w[0] = 1;
    w[1] = rc;
}

/* A PUT the snapshot's index does not name, in a segment it holds: its key was absent
 * at the snapshot (deleted, flushed, expired, or overwritten and then deleted) and the
 * record that hid it may have been in a segment cleared by the rollback. A tombstone with
 * a new rseq hides it again for every later open, a full scan included. */
static void rb_visit(void *arg, const struct rec_view *v, uint64_t addr)
{
    struct rb *b = arg;
    struct ls_engine *e = b->e;
    struct idx_ent ent;
    uint64_t token;
    uint32_t hash2;
    int rc;

    (void)addr;
    if (b->err || v->h.type != REC_PUT || v->h.table >= e->cfg.tables)
        return;
    token_of(v->key, v->h.key_len, &token, &hash2);
    if (idx_find(e->tables[v->h.table], token, hash2, &ent) == 0)
        return; /* present at the snapshot: its entry's record is the newest of the key */
    if ((rc = rb_seen(b, v->h.table, token)) != 0) {
        if (rc < 0)
            b->err = rc;
        return;
    }
    if (b->ndels == b->capdels) {
        size_t cap = b->capdels ? b->capdels * 2 : 256;
        struct rb_del *d = realloc(b->dels, cap * sizeof(*d));
        if (!d) {
            b->err = -ENOMEM;
            return;
        }
        b->dels = d;
        b->capdels = cap;
    }
    if (b->nkeys + v->h.key_len > b->capkeys) {
        size_t cap = (b->capkeys + v->h.key_len) * 2;
        uint8_t *k = realloc(b->keys, cap);
        if (!k) {
            b->err = -ENOMEM;
            return;
        }
        b->keys = k;
        b->capkeys = cap;
    }
    memcpy(b->keys + b->nkeys, v->key, v->h.key_len);
    b->dels[b->ndels++] = (struct rb_del){.token = token,
                                          .hash2 = hash2,
                                          .key_len = v->h.key_len,
                                          .key_at = b->nkeys,
                                          .table = v->h.table};
    b->nkeys += v->h.key_len;
    b->bytes += rec_size(v->h.key_len, 0);
}

/* Writes the tombstones collected, and waits until they are durable. */
static int rb_write_dels(struct rb *b)
{
    struct ls_engine *e = b->e;
    int rc = 0;

    for (size_t i = 0; i < b->ndels && rc == 0; i++) {
        const struct rb_del *d = &b->dels[i];
        struct wrec r = {.type = REC_DEL,
                         .table = d->table,
                         .key = b->keys + d->key_at,
                         .key_len = d->key_len,
                         .token = d->token,
                         .hash2 = d->hash2};
        while ((rc = wbuf_append(e, &r, rb_done, b)) == LS_EBUSY) {
            if (uio_inflight(e->u))
                uio_reap(e->u, 1);
            ls_poll(e);
        }
        if (rc == 0)
            b->pending++;
    }
    if (rc < 0)
        return rc;
    int w[2] = {0, 0}; /* done, rc */
    rc = wbuf_barrier(e, rb_sync_done, w);
    for (uint64_t turns = 0; rc == 0; turns++) {
        if ((rc = ls_poll(e)) < 0)
            break;
        rc = 0;
        if (w[0] && !b->pending)
            break;
        if (uio_inflight(e->u)) /* waits (on the simulator's device: runs it) */
            rc = uio_reap(e->u, 1) < 0 ? -EIO : 0;
        else
            ls_tick(e); /* nothing in flight: buffers still to seal and write */
        if (turns > 100000000)
            rc = -ETIMEDOUT;
    }
    return rc == 0 ? (w[1] < 0 ? w[1] : b->err) : rc;
}

struct rb_write {
    struct uio_req req;
    int res;
};

static void rb_write_done(struct uio_req *req, int res)
{
    ((struct rb_write *)req->arg)->res = res;
}

int snap_rollback(struct ls_engine *e, const char *want)
{
    struct seg_mgr *m = &e->sm;
    char mark[LS_SNAP_NAME_MAX + 2] = "", fname[SNAP_FNAME];
    int64_t got = vfs_read_file(e->cfg.sim, e->dir_fd, ROLLBACK_MARK, mark, sizeof(mark) - 1);
    const char *name = want;
    struct snap *s;
    int rc;

    if (got > 0) {
        mark[got] = '\0';
        if (want && *want && strcmp(want, mark) != 0) {
            eng_log(e, LS_LOG_ERROR,
                    "%s: a rollback to snapshot %s was interrupted: it must end before one to %s",
                    e->dir, mark, want);
            return LS_EINVAL;
        }
        name = mark;
        eng_log(e, LS_LOG_WARN, "%s: finishing the interrupted rollback to snapshot %s", e->dir,
                name);
    } else if (got != -ENOENT && got < 0) {
        return (int)got;
    }
    if (!name || !*name)
        return 0;
    if (e->cfg.read_only)
        return -EROFS;
    if (!(s = find(e, name))) {
        eng_log(e, LS_LOG_ERROR, "%s: rollback: no snapshot named %s", e->dir, name);
        return LS_ENOTFOUND;
    }
    if (s->damaged) {
        eng_log(e, LS_LOG_ERROR, "%s: rollback: snapshot %s is damaged", e->dir, name);
        return LS_ECORRUPT;
    }
    if (e->nsnaps > 1) {
        eng_log(e, LS_LOG_ERROR,
                "%s: rollback to %s: drop the other snapshots first (the rollback clears the "
                "segments they hold)",
                e->dir, name);
        return LS_EINVAL;
    }
    uint8_t *held = malloc(m->nsegs ? m->nsegs : 1);
    uint32_t *pos = malloc(sizeof(uint32_t) * (m->nsegs ? m->nsegs : 1));
    uint8_t *zeros = uio_alloc(m->seg_size);
    uint8_t *seg = NULL;
    uint64_t keys = 0;
    struct rb b = {.e = e};
    size_t seg_cap = 0;

    /* In memory first: the snapshot's index and descriptors, and the tombstones the held
     * segments need. Nothing on disk has changed yet, so a rollback there is no room for
     * is refused with the directory as it was. */
    rc = held && pos && zeros ? 0 : -ENOMEM;
    if (rc == 0) {
        memset(zeros, 0, m->seg_size);
        file_of(name, fname);
        rc = ckpt_rollback_apply(e, fname, eng_now_ms(e), held, pos, &keys);
    }
    for (uint32_t g = 0; g < m->nsegs && rc == 0; g++) {
        const struct seg_desc *d = &m->d[g];
        if (!held[g] || d->state != SEG_FULL)
            continue;
        uint32_t len = pos[g] != UINT32_MAX ? pos[g] : (uint32_t)d->run * m->seg_size;
        if (len > seg_cap) {
            uio_free(seg);
            seg = uio_alloc(len);
            seg_cap = seg ? len : 0;
            if (!seg) {
                rc = -ENOMEM;
                break;
            }
        }
        uint64_t foff;
        int fd = seg_fd(m, (uint64_t)g * m->seg_size, &foff);
        struct rb_write r = {.res = 0};
        r.req = (struct uio_req){.cb = rb_write_done,
                                 .arg = &r,
                                 .buf = seg,
                                 .off = foff,
                                 .len = (len + REC_BLOCK - 1) / REC_BLOCK * REC_BLOCK,
                                 .fd = fd,
                                 .op = UIO_READ};
        if (fd < 0) {
            rc = LS_ECORRUPT;
            break;
        }
        uio_queue(e->u, &r.req);
        if ((rc = eng_io_wait(e)) < 0 || (rc = r.res < 0 ? r.res : 0) < 0)
            break;
        seg_walk(e, seg, len, g, rb_visit, &b);
        if (b.err)
            rc = b.err;
    }
    if (rc == 0) {
        uint64_t room = 0, need = b.bytes / (m->seg_size - REC_BLOCK) + 1 + 8;
        for (uint32_t g = 0; g < m->nsegs; g++)
            room += !held[g] && m->fds[g / m->segs_per_file] >= 0;
        if (room < need) {
            eng_log(e, LS_LOG_ERROR,
                    "%s: rollback to %s refused, nothing changed: its %zu tombstones need %llu "
                    "free segments, the segments it does not hold are %llu",
                    e->dir, name, b.ndels, (unsigned long long)need, (unsigned long long)room);
            rc = LS_ENOSPACE;
        }
    }
    /* From here on an interrupted rollback is finished by the next open: the marker first,
     * and the checkpoint of the state left behind gone (it would describe it). */
    if (rc == 0 && got <= 0)
        rc = vfs_write_atomic(e->cfg.sim, e->dir_fd, ROLLBACK_MARK, name, strlen(name));
    if (rc == 0) {
        int u = vfs_unlink(e->cfg.sim, e->dir_fd, "logstor.ckpt");
        if (u == 0)
            u = vfs_sync_dir(e->cfg.sim, e->dir_fd);
        if (u < 0 && u != -ENOENT)
            rc = u;
    }
    /* Every segment it does not hold: block 0 cleared, so that no later open reads what
     * was written there (after the snapshot, or before it but not named by it). In the
     * held segments open at the snapshot, what was appended after it is cleared too. */
    struct rb_write *wr = rc == 0 ? calloc(RB_BATCH, sizeof(*wr)) : NULL;
    uint32_t nw = 0;
    if (rc == 0 && !wr)
        rc = -ENOMEM;
    for (uint32_t g = 0; g <= m->nsegs && rc == 0; g++) {
        if (nw == RB_BATCH || (g == m->nsegs && nw)) {
            rc = eng_io_wait(e);
            for (uint32_t i = 0; i < nw && rc == 0; i++)
                if (wr[i].res < 0 || (uint32_t)wr[i].res != wr[i].req.len)
                    rc = wr[i].res < 0 ? wr[i].res : -EIO;
            nw = 0;
        }
        if (g == m->nsegs || rc < 0)
            break;
        uint32_t off = !held[g] ? 0 : pos[g] != UINT32_MAX ? pos[g] : m->seg_size;
        if (off == m->seg_size)
            continue;
        uint64_t foff;
        int fd = seg_fd(m, (uint64_t)g * m->seg_size + off, &foff);
        if (fd < 0)
            continue; /* its file was never made: nothing there */
        wr[nw].res = 0;
        wr[nw].req = (struct uio_req){.cb = rb_write_done,
                                      .arg = &wr[nw],
                                      .buf = zeros,
                                      .off = foff,
                                      .len = !held[g] ? REC_BLOCK : m->seg_size - off,
                                      .fd = fd,
                                      .op = UIO_WRITE,
                                      .dsync = 1};
        uio_queue(e->u, &wr[nw++].req);
    }
    free(wr);
    if (rc == 0) {
        seg_rebuild_free(m);
        rc = rb_write_dels(&b);
    }
    if (rc == 0)
        rc = eng_tmap_set(e, s->tmap, s->ntables);
    if (rc == 0) {
        rc = vfs_unlink(e->cfg.sim, e->dir_fd, ROLLBACK_MARK);
        if (rc == 0)
            rc = vfs_sync_dir(e->cfg.sim, e->dir_fd);
    }
    if (rc == 0)
        eng_log(e, LS_LOG_WARN,
                "%s: rolled back to snapshot %s (taken at unix ms %llu): %llu keys, %llu "
                "tombstones written for keys absent then",
                e->dir, name, (unsigned long long)s->created_ms, (unsigned long long)keys,
                (unsigned long long)b.ndels);
    else
        eng_log(e, LS_LOG_ERROR,
                "%s: the rollback to snapshot %s failed: %s (the next open tries again)", e->dir,
                name, ls_strerror(rc));
    free(held);
    free(pos);
    uio_free(zeros);
    uio_free(seg);
    free(b.seen);
    free(b.seen_t);
    free(b.dels);
    free(b.keys);
    return rc;
}
