/*
 * recov.c - rebuild the index by scanning the log.
 *
 * Phase 1 reads the first 4 KiB block of every segment of every data file. A segment
 * whose block 0 holds a valid buffer header (seeded checksum, matching segment number)
 * is in use, with that header's sequence number; a large-record header also covers the
 * segments of its run. Every other segment is free.
 *
 * Phase 2 reads the used segments whole, a window of reads in flight, and applies their
 * records. Within a segment, buffers are followed by their lengths; a buffer must carry
 * the segment's sequence number (contents left from an earlier use carry an older one
 * and are ignored). A record that fails its checksum is counted and parsing resumes at
 * the next 8-byte offset where a record verifies (the seeded checksum makes a false
 * match impossible in practice); a header that fails is counted and the scan looks for
 * the next valid header of the same use at the following 4 KiB boundaries.
 *
 * The ordering rule (FORMAT.md): between two records of one key the higher rseq wins,
 * whatever segments they sit in. Compaction copies records with their rseq into group
 * segments that are written at the same time as user segments, so segment order is not
 * record order; recovery therefore keeps, for every key it has seen, the rseq of the
 * record that decided its state (a transient hash map, 24 bytes a slot, freed at the
 * end) and applies a record only when it is newer. A PUT replaces the key's entry (a PUT
 * already past its expiry acts as a delete, so it still hides older records); a DEL
 * removes it; a FLUSH removes every entry of its table older than itself and hides older
 * records still to come. Segments are read in sequence order anyway (the order they
 * were written in, close to the order on disk). Descriptors (live bytes, PUT bytes,
 * tombstone bytes, rseq range, group) are rebuilt on the way. The writer then starts in
 * fresh segments, never appending after a tail that might be torn.
 */
#include "hugemem.h"
#include "internal.h"
#include "token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECOV_WINDOW 16

/* Per key: the rseq of the newest record applied (0 = empty slot; rseq starts at 1). */
struct rmap_ent {
    uint64_t token;
    uint64_t rseq;
    uint64_t hider; /* loc of the tombstone that decided the key, 0 if none */
    uint32_t hash2;
    uint32_t table;
};

struct rmap {
    struct rmap_ent *t;
    uint64_t cap, n; /* cap is a power of two */
};

static uint64_t rmap_hash(uint64_t token, uint32_t hash2, uint32_t table)
{
    uint64_t h = token ^ ((uint64_t)hash2 << 32 | table) * UINT64_C(0x9E3779B97F4A7C15);
    h ^= h >> 29;
    h *= UINT64_C(0xBF58476D1CE4E5B9);
    return h ^ (h >> 32);
}

static struct rmap_ent *rmap_slot(struct rmap_ent *t, uint64_t cap, uint64_t token, uint32_t hash2,
                                  uint32_t table)
{
    uint64_t i = rmap_hash(token, hash2, table) & (cap - 1);

    while (t[i].rseq && !(t[i].token == token && t[i].hash2 == hash2 && t[i].table == table))
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static int rmap_grow(struct rmap *m)
{
    uint64_t cap = m->cap ? m->cap * 2 : 1u << 16;
    struct rmap_ent *t = huge_calloc(cap * sizeof(*t)); /* a TLB miss per probe without */

    if (!t)
        return -ENOMEM;
    for (uint64_t i = 0; i < m->cap; i++)
        if (m->t[i].rseq)
            *rmap_slot(t, cap, m->t[i].token, m->t[i].hash2, m->t[i].table) = m->t[i];
    huge_free(m->t, m->cap * sizeof(*t));
    m->t = t;
    m->cap = cap;
    return 0;
}

/* The slot of a key (found or empty), or NULL when the map cannot grow. */
static struct rmap_ent *rmap_get(struct rmap *m, uint64_t token, uint32_t hash2, uint32_t table)
{
    if ((m->n + 1) * 10 > m->cap * 7 && rmap_grow(m) < 0)
        return NULL;
    return rmap_slot(m->t, m->cap, token, hash2, table);
}

struct recov {
    struct ls_engine *e;
    uint32_t damaged_files; /* missing, swapped, foreign or overwritten */
    struct rmap map;
    int err;
    uint32_t *order; /* used segments sorted by seq */
    uint32_t nused;
    uint64_t now_ms, start_ms, last_report_ms;
    uint64_t max_rseq;
    uint8_t *blank0;     /* per segment: block 0 read as zeros (phase 1) */
    uint8_t *cand;       /* per segment: phase 1 reads its block 0 (NULL: all do) */
    uint64_t heads_read; /* blocks 0 phase 1 read */
    uint64_t presumed;   /* segments whose use it took from the checkpoint instead */
    int from_ckpt;       /* the index came from a checkpoint (ckpt.c), rolled forward */
    int skipped1;        /* a clean close's checkpoint, data files unchanged: no phase 1 */
    struct ckpt_info ci; /* what to roll forward from it */
    uint64_t ck_dropped; /* checkpoint entries whose records left with their segment */
    struct ls_recovery_progress p;
};

struct seg_read {
    struct uio_req req;
    uint32_t g, len;
    int res, done;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void report(struct recov *rv, int done)
{
    struct ls_engine *e = rv->e;
    uint64_t now = mono_ms();

    if (!e->cfg.progress)
        return;
    if (!done && now - rv->last_report_ms < e->cfg.progress_interval_ms)
        return;
    rv->last_report_ms = now;
    rv->p.elapsed_ms = now - rv->start_ms;
    rv->p.done = done;
    e->cfg.progress(e->cfg.progress_arg, &rv->p);
}

static void read_done(struct uio_req *req, int res)
{
    struct seg_read *sr = req->arg;

    sr->res = res;
    sr->done = 1;
}

int eng_io_wait(struct ls_engine *e)
{
    int rc = uio_submit(e->u);

    while (rc == 0 && uio_inflight(e->u))
        rc = uio_reap(e->u, 1) < 0 ? -EIO : 0;
    return rc;
}

/* Block 0 of segment g failed its checksum: read the whole segment and take the highest
 * sequence number among its valid headers, so the buffers behind a damaged head are
 * still recovered. Returns that number, or 0 when none is found. */
static uint64_t probe_segment(struct recov *rv, uint32_t g)
{
    struct ls_engine *e = rv->e;
    struct seg_mgr *m = &e->sm;
    struct seg_read sr = {.g = g};
    uint64_t off, best = 0;
    struct buf_hdr h;

    sr.req = (struct uio_req){.cb = read_done, .arg = &sr, .len = m->seg_size, .op = UIO_READ};
    sr.req.buf = uio_alloc(m->seg_size);
    if (!sr.req.buf)
        return 0;
    sr.req.fd = seg_fd(m, (uint64_t)g * m->seg_size, &off);
    sr.req.off = off;
    uio_queue(e->u, &sr.req);
    if (eng_io_wait(e) == 0 && sr.res == (int)m->seg_size)
        for (uint32_t o = REC_BLOCK; o < m->seg_size; o += REC_BLOCK)
            if (buf_hdr_check((uint8_t *)sr.req.buf + o, e->seed, &h) == 0 && h.seg_no == g &&
                !(h.flags & BUF_LARGE) && h.seg_seq > best && !fence_has(e, g, o, h.seg_seq))
                best = h.seg_seq;
    uio_free(sr.req.buf);
    return best;
}

/* Has the large-record run headed by segment g (n segments, all in this file) been given
 * up and partly reused? A run is only given up when its record is dead, and its segments
 * are then reused one by one, in any order; a reused one has data of its own to recover. */
static int run_reused(struct recov *rv, uint32_t g, uint32_t n, const struct buf_hdr *h,
                      const uint8_t *head_block)
{
    uint32_t k = buf_run_reused(head_block, REC_BLOCK, n, h, g, rv->e->seed);

    if (k & BUF_RUN_DAMAGED)
        return probe_segment(rv, g + (k & ~BUF_RUN_DAMAGED)) > h->seg_seq;
    return k != 0;
}

/* Phase 1: classify one file's segments from their first block. */
/* What block 0 of a file's segments showed (phase 1). */
struct heads {
    uint32_t good;      /* a valid header of this segment */
    uint32_t bad;       /* the magic, but a failing checksum and nothing valid behind */
    uint32_t foreign;   /* neither zeros nor the magic */
    uint32_t misplaced; /* a valid header naming another segment */
};

static uint32_t nonzero_bytes(const uint8_t *p, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += p[i] != 0;
    return c;
}

/* A blank block 0 with at most this many bytes set is a free segment with a few bytes
 * rotted, not another file's data (which sets most of them): damage, not foreign. */
#define BLANK_ROT_MAX 16

/* A file whose block 0s are mostly others' (valid headers of other segments: swapped or
 * moved),
 * or that holds no block this directory wrote but several it cannot read (another
 * directory's file, a meta file of another directory, random bytes): counted, logged,
 * and a reason to refuse the open. Leftovers of large records (user bytes where a block
 * 0 would be) and two blank segments are normal, hence the threshold. */
static void judge_file(struct recov *rv, uint32_t f, const struct heads *hd)
{
    struct ls_engine *e = rv->e;

    if (hd->misplaced > hd->good) {
        eng_log(e, LS_LOG_ERROR,
                "%s/data-%06u.lsd: %u segments hold headers of other segments: the file "
                "was swapped, moved or copied from another position",
                e->dir, f, hd->misplaced);
        rv->damaged_files++;
    } else if (!hd->good && hd->bad + hd->foreign > SEG_BLANK_KEEP) {
        eng_log(e, LS_LOG_ERROR,
                "%s/data-%06u.lsd holds nothing this directory wrote: %u segment headers fail "
                "the checksum seeded by logstor.meta and %u blocks are not logstor data (a "
                "file or a logstor.meta from another directory, or overwritten)",
                e->dir, f, hd->bad, hd->foreign);
        rv->damaged_files++;
    } else if (hd->bad || hd->misplaced) {
        /* a stray header of another segment in block 0 is damage too, counted */
        rv->p.corrupt_blocks += hd->misplaced;
        eng_log(e, LS_LOG_WARN, "%s/data-%06u.lsd: %u damaged segment headers", e->dir, f,
                hd->bad + hd->misplaced);
    }
}

static int scan_heads(struct recov *rv, uint32_t f, uint8_t *blocks, struct seg_read *reads)
{
    struct ls_engine *e = rv->e;
    struct seg_mgr *m = &e->sm;
    uint32_t spf = m->segs_per_file;
    struct heads hd = {0};
    int rc;

    for (uint32_t i = 0; i < spf; i++) {
        reads[i] = (struct seg_read){.g = f * spf + i};
        if (rv->cand && !rv->cand[f * spf + i])
            continue; /* its use is the checkpoint's (ckpt_presume) */
        rv->heads_read++;
        reads[i].req = (struct uio_req){.cb = read_done,
                                        .arg = &reads[i],
                                        .buf = blocks + (size_t)i * REC_BLOCK,
                                        .off = (uint64_t)i * m->seg_size,
                                        .len = REC_BLOCK,
                                        .fd = m->fds[f],
                                        .op = UIO_READ};
        uio_queue(e->u, &reads[i].req);
        if (uio_inflight(e->u) >= e->cfg.queue_depth / 2 && (rc = eng_io_wait(e)) < 0)
            return rc;
    }
    if ((rc = eng_io_wait(e)) < 0)
        return rc;
    for (uint32_t i = 0; i < spf; i++) {
        struct buf_hdr h;
        struct seg_desc *d = &m->d[f * spf + i];
        if (rv->cand && !rv->cand[f * spf + i]) {
            hd.good += d->state == SEG_FULL; /* the checkpoint's, unchanged since */
            rv->presumed++;
            continue;
        }
        if (reads[i].res < 0)
            return reads[i].res;
        if (reads[i].res != REC_BLOCK)
            continue; /* past the end of a short file: unwritten */
        rc = buf_hdr_check(blocks + (size_t)i * REC_BLOCK, e->seed, &h);
        if (rc == LS_ECORRUPT) {
            uint64_t seq = probe_segment(rv, f * spf + i);
            if (seq > d->seq) {
                seg_use(m, f * spf + i, seq, SEG_FULL, 0);
                hd.good++;
            } else {
                rv->p.corrupt_blocks++; /* phase 2 counts it when it reads the segment */
                hd.bad++;
            }
            continue;
        }
        if (rc == -ENOENT) {
            uint32_t nz = nonzero_bytes(blocks + (size_t)i * REC_BLOCK, REC_BLOCK);
            if (!nz)
                rv->blank0[f * spf + i] = 1; /* zeros: blanked, or never written */
            hd.foreign += nz > BLANK_ROT_MAX;
            rv->p.corrupt_blocks += nz > 0 && nz <= BLANK_ROT_MAX;
        }
        if (rc == 0 && h.seg_no != f * spf + i)
            hd.misplaced++;
        if (rc == 0 && h.seg_no == f * spf + i)
            hd.good++;
        if (rc != 0 || h.seg_no != f * spf + i || h.seg_seq <= d->seq)
            continue;
        if (fence_has(e, f * spf + i, 0, h.seg_seq))
            continue; /* its first write failed: the segment holds nothing (fence.c) */
        uint32_t n = h.flags & BUF_LARGE ? (h.length + m->seg_size - 1) / m->seg_size : 1;
        if (n > 1 && run_reused(rv, f * spf + i, n < spf - i ? n : spf - i, &h,
                                blocks + (size_t)i * REC_BLOCK)) {
            /* the run was given up and part of it reused: its record is dead, and the
             * reused segments are read as themselves */
            seg_use(m, f * spf + i, h.seg_seq, SEG_FREE, 0);
            seg_give_up(m, f * spf + i);
            continue;
        }
        seg_use(m, f * spf + i, h.seg_seq, SEG_FULL, h.group);
        if (h.flags & BUF_LARGE) {
            if (n > spf - i)
                continue;
            for (uint32_t k = 1; k < n; k++)
                seg_use(m, f * spf + i + k, h.seg_seq, SEG_CONT, 0);
            d->run = (uint16_t)n;
            seg_hist_update(m, f * spf + i);
            i += n - 1;
        }
    }
    judge_file(rv, f, &hd);
    return 0;
}

static int phase1(struct recov *rv)
{
    struct seg_mgr *m = &rv->e->sm;
    uint8_t *blocks = uio_alloc((size_t)m->segs_per_file * REC_BLOCK);
    struct seg_read *reads = calloc(m->segs_per_file, sizeof(*reads));
    int rc = blocks && reads ? 0 : -ENOMEM;

    for (uint32_t f = 0; f < m->nfiles && rc == 0; f++)
        if (m->fds[f] >= 0)
            rc = scan_heads(rv, f, blocks, reads);
    rv->damaged_files += m->missing_files;
    uio_free(blocks);
    free(reads);
    return rc;
}

static int cmp_seq(const void *a, const void *b, void *arg)
{
    const struct seg_desc *d = arg;
    uint64_t x = d[*(const uint32_t *)a].seq, y = d[*(const uint32_t *)b].seq;

    return x < y ? -1 : x > y;
}

static int sort_used(struct recov *rv)
{
    struct seg_mgr *m = &rv->e->sm;

    rv->order = malloc(sizeof(uint32_t) * (m->nsegs ? m->nsegs : 1));
    if (!rv->order)
        return -ENOMEM;
    for (uint32_t g = 0; g < m->nsegs; g++)
        if (m->d[g].state == SEG_FULL && (!rv->from_ckpt || rv->ci.from[g] != UINT32_MAX))
            rv->order[rv->nused++] = g;
    qsort_r(rv->order, rv->nused, sizeof(uint32_t), cmp_seq, m->d);
    rv->p.segments_total = rv->nused;
    return 0;
}

struct older {
    struct recov *rv;
    uint16_t table;
    uint64_t rseq;
    struct idx_ent *v;
    uint64_t n, cap;
    int err;
};

/* The rseq that decided a key so far (0: none applied; its entry, if any, is the
 * checkpoint's). */
static uint64_t decided(const struct recov *rv, uint64_t token, uint32_t hash2, uint32_t table)
{
    if (!rv->map.cap)
        return 0;
    return rmap_slot(rv->map.t, rv->map.cap, token, hash2, table)->rseq;
}

/* Takes an entry's record off its segment's live bytes; not when the entry came from the
 * checkpoint and its segment's use is gone (the segment now counts another use). */
static void unlive_old(struct recov *rv, uint64_t loc, int from_ckpt)
{
    struct ls_engine *e = rv->e;

    if (from_ckpt && rv->from_ckpt && rv->ci.changed[seg_of(&e->sm, idx_loc_addr(loc))])
        return;
    eng_unlive(e, loc);
}

/* Appends an entry to a growing list; returns 1 (stop the scan) when memory runs out. */
static int ents_push(struct idx_ent **v, uint64_t *n, uint64_t *cap, int *err,
                     const struct idx_ent *ent)
{
    if (*n == *cap) {
        uint64_t c = *cap ? *cap * 2 : 1024;
        struct idx_ent *nv = realloc(*v, c * sizeof(*nv));
        if (!nv) {
            *err = -ENOMEM;
            return 1;
        }
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = *ent;
    return 0;
}

static int collect_older(void *arg, const struct idx_ent *ent)
{
    struct older *o = arg;

    if (decided(o->rv, ent->token, idx_meta_hash2(ent->meta), o->table) >= o->rseq)
        return 0;
    return ents_push(&o->v, &o->n, &o->cap, &o->err, ent);
}

/* A FLUSH: every entry of its table older than the flush goes. */
static void apply_flush(struct recov *rv, uint16_t table, uint64_t rseq)
{
    struct ls_engine *e = rv->e;
    struct older o = {.rv = rv, .table = table, .rseq = rseq};

    e->flush_rseq[table] = rseq;
    if (!rv->map.cap && !rv->from_ckpt)
        return;
    idx_scan(e->tables[table], 0, SIZE_MAX, collect_older, &o, NULL, NULL);
    if (o.err)
        rv->err = o.err; /* the open fails rather than keep flushed keys */
    for (uint64_t i = 0; i < o.n; i++) {
        uint32_t h2 = idx_meta_hash2(o.v[i].meta);
        int ck = decided(rv, o.v[i].token, h2, table) == 0;
        if (idx_remove(e->tables[table], o.v[i].token, h2, NULL) == 0)
            unlive_old(rv, o.v[i].loc, ck);
    }
    free(o.v);
}

/* Does a copied hider with rseq r hide the checkpoint's entry e? Only if the entry's
 * record is not newer: the hider may be the one compaction wrote for this very PUT once
 * it expired (same rseq), or an older tombstone copied while a write made after the
 * checkpoint, since lost in the crash, had deleted the key. The entry holds no rseq: its
 * record is read (rare: a hider copy over a key the checkpoint holds, with an expiry).
 * An entry without an expiry cannot have expired: never hidden. One whose record is gone
 * (its segment reused) or unreadable: hidden (drop_gone would drop it anyway). */
static int hides_entry(struct recov *rv, const struct idx_ent *ent, uint64_t r)
{
    struct ls_engine *e = rv->e;
    struct seg_mgr *m = &e->sm;
    uint64_t addr = idx_loc_addr(ent->loc), off;
    uint32_t size = idx_loc_size(ent->loc), g = seg_of(m, addr);
    struct rec_view got;

    if (!idx_meta_expire(ent->meta))
        return 0;
    if (rv->ci.changed[g])
        return 1;
    uint64_t from = addr & ~(uint64_t)(REC_BLOCK - 1);
    uint32_t len = (uint32_t)(((addr + size + REC_BLOCK - 1) & ~(uint64_t)(REC_BLOCK - 1)) - from);
    struct seg_read sr = {.g = g};
    sr.req = (struct uio_req){.cb = read_done, .arg = &sr, .len = len, .op = UIO_READ};
    sr.req.buf = uio_alloc(len);
    if (!sr.req.buf) {
        rv->err = -ENOMEM;
        return 0;
    }
    sr.req.fd = seg_fd(m, from, &off);
    sr.req.off = off;
    uio_queue(e->u, &sr.req);
    int hidden = 1;
    if (eng_io_wait(e) == 0 && sr.res == (int)len &&
        rec_decode((uint8_t *)sr.req.buf + (addr - from), size, rec_seed(e->seed, m->d[g].seq),
                   &got) == 0)
        hidden = got.h.rseq <= r;
    uio_free(sr.req.buf);
    return hidden;
}

/* Rolling forward from a checkpoint, a record whose rseq is not above the checkpoint's
 * last one is a compaction copy made after it:
 *   - of a PUT live when copied: no write of the key can have come between the
 *     checkpoint and the copy (it would have a higher rseq and the copied record would
 *     have been dead), so the record copied is the one the checkpoint's entry names, or
 *     an earlier copy of it. The copy moves the entry; it never makes one;
 *   - of a hider, copied only while its key is absent from the index: a tombstone of a
 *     key absent at the checkpoint, or the tombstone compaction writes, with the PUT's
 *     rseq, for a PUT whose expiry passed after the checkpoint (it left the index without
 *     a write): then the entry goes (the clock may since have stepped back below the
 *     expiry, and the PUT's segment may have been reused); or an older tombstone copied
 *     while a write after the checkpoint, lost since, had deleted the key: then the
 *     entry stays (hides_entry tells the two apart).
 * Neither outranks a write made after the checkpoint (applied or still to come). */
static void apply_copy(struct recov *rv, struct rmap_ent *m, const struct rec_view *v,
                       uint64_t addr, struct idx_ent *ent, uint32_t hash2)
{
    struct ls_engine *e = rv->e;
    struct idx *t = e->tables[v->h.table];
    struct idx_ent cur;

    if (m->rseq > rv->ci.rseq || (m->rseq && v->h.rseq < m->rseq))
        return; /* a write after the checkpoint decided the key, or a newer copy did */
    if (v->h.type != REC_PUT) {
        int ck = m->rseq == 0;
        if (idx_find(t, ent->token, hash2, &cur) == 0 && ck && !hides_entry(rv, &cur, v->h.rseq))
            return; /* an older tombstone, copied while a write after the checkpoint (lost
                       since) had deleted the key: the entry's PUT is newer */
        if (!m->rseq)
            rv->map.n++;
        *m = (struct rmap_ent){.token = ent->token,
                               .rseq = v->h.rseq,
                               .hash2 = hash2,
                               .table = v->h.table,
                               .hider = idx_make_loc(addr, v->size)};
        if (idx_remove(t, ent->token, hash2, &cur) == 0)
            unlive_old(rv, cur.loc, ck);
        return;
    }
    if (idx_find(t, ent->token, hash2, &cur) != 0)
        return;
    int ck = m->rseq == 0;
    ent->loc = idx_make_loc(addr, v->size);
    ent->meta = idx_make_meta(v->h.expire_ms, hash2);
    if (!m->rseq)
        rv->map.n++;
    *m = (struct rmap_ent){
        .token = ent->token, .rseq = v->h.rseq, .hash2 = hash2, .table = v->h.table};
    if (cur.loc == ent->loc) {
        /* the same address and size in a reused segment: the entry now names the new
         * use's record, which its descriptor has not counted */
        if (ck && rv->ci.changed[seg_of(&e->sm, addr)])
            eng_live(e, ent->loc, +1);
        return;
    }
    if (idx_upsert(t, ent, NULL) < 0) {
        rv->err = -ENOMEM;
        return;
    }
    eng_live(e, ent->loc, +1);
    unlive_old(rv, cur.loc, ck);
}

static void apply(void *arg, const struct rec_view *v, uint64_t addr)
{
    struct recov *rv = arg;
    struct ls_engine *e = rv->e;
    struct rmap_ent *m;
    struct idx *t;
    struct idx_ent ent, old;
    uint32_t hash2;
    int rc;

    seg_note_record(&e->sm.d[seg_of(&e->sm, addr)], v->h.type, v->size, v->h.rseq, v->h.expire_ms);
    if (v->h.rseq > rv->max_rseq)
        rv->max_rseq = v->h.rseq;
    rv->p.records++;
    if (v->h.table >= e->cfg.tables || v->h.rseq <= e->flush_rseq[v->h.table])
        return; /* hidden by a newer flush of its table */
    t = e->tables[v->h.table];
    if (v->h.type == REC_FLUSH) {
        apply_flush(rv, v->h.table, v->h.rseq);
        return;
    }

    token_of(v->key, v->h.key_len, &ent.token, &hash2);
    if (!(m = rmap_get(&rv->map, ent.token, hash2, v->h.table))) {
        rv->err = -ENOMEM;
        return;
    }
    if (rv->from_ckpt && v->h.rseq <= rv->ci.rseq) {
        apply_copy(rv, m, v, addr, &ent, hash2);
        return;
    }
    if (m->rseq > v->h.rseq)
        return;            /* a newer record of the key came first */
    int ck = m->rseq == 0; /* the entry, if any, is the checkpoint's */
    /* Equal rseq: a compaction copy of the same record, in a later segment. The copy
     * wins, and a copied tombstone's original stops counting as needed, so a victim
     * whose records were all copied before a crash is freed without a read. (Only for
     * copies: uncounting a tombstone superseded by a newer record let the crash test
     * bring a deleted key back; see the closing note of issue 4.) */
    if (m->hider && m->rseq == v->h.rseq) {
        struct seg_desc *hd = &e->sm.d[seg_of(&e->sm, idx_loc_addr(m->hider))];
        uint32_t hs = idx_loc_size(m->hider);
        hd->tomb = hd->tomb >= hs ? hd->tomb - hs : 0;
    }
    if (!m->rseq)
        rv->map.n++;
    *m = (struct rmap_ent){.token = ent.token,
                           .rseq = v->h.rseq,
                           .hider = v->h.type == REC_DEL ? idx_make_loc(addr, v->size) : 0,
                           .hash2 = hash2,
                           .table = v->h.table};
    if (v->h.type == REC_PUT && !(v->h.expire_ms && v->h.expire_ms <= rv->now_ms)) {
        ent.loc = idx_make_loc(addr, v->size);
        ent.meta = idx_make_meta(v->h.expire_ms, hash2);
        rc = idx_upsert(t, &ent, &old);
        if (rc < 0) { /* never drop a key silently: the open fails */
            rv->err = rc;
            return;
        }
        eng_live(e, ent.loc, +1);
        if (rc == 1)
            unlive_old(rv, old.loc, ck);
    } else if (idx_remove(t, ent.token, hash2, &old) == 0) {
        unlive_old(rv, old.loc, ck);
    }
}

/* A record of a batch held back until the batch's last record is seen. */
struct walk_rec {
    struct rec_view v;
    uint64_t addr;
};

struct walk {
    seg_walk_fn fn;
    void *arg;
    uint32_t corrupt;
    struct walk_rec *batch; /* the current batch's records so far */
    uint32_t nbatch, capbatch;
    uint8_t state; /* enum walk_state */
};

/* Where the walk stands in a batch. */
enum walk_state {
    W_OUT,    /* between batches */
    W_BATCH,  /* in a batch, every record so far whole */
    W_BROKEN, /* in a batch that damage cut: its members are dropped up to its end */
};

/* Delivers the batch held back, in order, with its last record v (NULL: none). */
static void batch_deliver(struct walk *w, const struct rec_view *v, uint64_t addr)
{
    for (uint32_t i = 0; i < w->nbatch; i++)
        w->fn(w->arg, &w->batch[i].v, w->batch[i].addr);
    w->nbatch = 0;
    if (v)
        w->fn(w->arg, v, addr);
}

/* Holds v back until its batch ends. Without memory to hold it, the batch's records
 * are delivered as they come: nothing is lost, only the unit. */
static void batch_hold(struct walk *w, const struct rec_view *v, uint64_t addr)
{
    if (w->nbatch == w->capbatch) {
        uint32_t cap = w->capbatch ? w->capbatch * 2 : 64;
        struct walk_rec *b = realloc(w->batch, cap * sizeof(*b));
        if (!b) {
            batch_deliver(w, v, addr);
            return;
        }
        w->batch = b;
        w->capbatch = cap;
    }
    w->batch[w->nbatch++] = (struct walk_rec){*v, addr};
}

/* Drops what is held of a batch cut by damage or by the end of its buffer. */
static void batch_drop(struct walk *w, enum walk_state next)
{
    w->nbatch = 0;
    w->state = (uint8_t)next;
}

/* A record read: delivered at once, or held back while its batch goes on. A batch is
 * applied all or none: one whose last record never comes (a torn write, damage) is
 * dropped, and so are the members after the damage that cut it: REC_F_MEMB tells them
 * from plain records, also when the damage took the batch's first record. Inside a batch
 * every record is a member (damage would have broken it): batches from before REC_F_MEMB
 * end, as they always did, at the first record without REC_F_CONT. */
static void walk_record(struct walk *w, const struct rec_view *v, uint64_t addr)
{
    if (w->state == W_BATCH) {
        if (v->cont) {
            batch_hold(w, v, addr);
        } else {
            batch_deliver(w, v, addr);
            w->state = W_OUT;
        }
        return;
    }
    if (v->memb) { /* its batch began in damaged bytes */
        w->state = v->cont ? W_BROKEN : W_OUT;
        return;
    }
    if (v->cont) { /* a batch begins */
        w->state = W_BATCH;
        batch_hold(w, v, addr);
        return;
    }
    w->state = W_OUT;
    w->fn(w->arg, v, addr);
}

/* Visits the records of one buffer; returns the offset where parsing must go on. */
static uint32_t parse_buffer(struct ls_engine *e, struct walk *w, const uint8_t *seg, uint32_t off,
                             const struct buf_hdr *h, uint64_t base)
{
    uint32_t pos = off + BUF_HDR_SIZE, end = off + h->length;
    uint32_t oend = h->ordered_end && h->ordered_end <= h->length ? off + h->ordered_end : 0;
    uint64_t seed = rec_seed(e->seed, h->seg_seq);
    struct rec_view v;

    for (uint32_t i = 0; i < h->count && pos < end; i++) {
        if (rec_decode(seg + pos, end - pos, seed, &v) != 0) {
            /* Damaged record: count it and go on at the next record that verifies. Zeros
             * with nothing valid after them are the buffer's padding, not damage. */
            uint32_t next = rec_resync(seg, pos, end, seed);
            if (next < end || !rec_is_padding(seg + pos, end - pos))
                w->corrupt++;
            /* An ordered write after the damage must not outlive what the damage took (a
             * power loss may keep a torn write's later blocks and lose earlier ones): go on
             * where the buffer's last ordered write ends, a record boundary. Every walk
             * does, compaction's too: a tombstone or FLUSH it copied from there would be
             * applied by the next open (sim seed 103 with holes). */
            if (next < oend)
                next = oend;
            batch_drop(w, w->state == W_OUT ? W_OUT : W_BROKEN); /* a batch cut here */
            pos = next;
            if (pos < end)
                i--; /* unknown how many records the damage covered; keep going */
            continue;
        }
        walk_record(w, &v, base + pos);
        pos += v.size;
    }
    batch_drop(w, W_OUT); /* its last record was never written (a torn write) */
    return end;
}

uint32_t seg_walk(struct ls_engine *e, const uint8_t *seg, uint32_t len, uint32_t g, seg_walk_fn fn,
                  void *arg)
{
    return seg_walk_from(e, seg, len, g, 0, fn, arg);
}

uint32_t seg_walk_from(struct ls_engine *e, const uint8_t *seg, uint32_t len, uint32_t g,
                       uint32_t from, seg_walk_fn fn, void *arg)
{
    uint64_t seq = e->sm.d[g].seq, base = (uint64_t)g * e->sm.seg_size;
    struct walk w = {fn, arg, 0, NULL, 0, 0, W_OUT};
    uint32_t off = from;
    struct buf_hdr h;

    while (off + REC_BLOCK <= len) {
        int rc = buf_hdr_check(seg + off, e->seed, &h);
        if (rc == 0 && h.seg_seq == seq && h.seg_no == g && h.length <= len - off) {
            if (fence_has(e, g, off, seq))
                off += h.length; /* a failed write's buffer: as if never written */
            else
                off = parse_buffer(e, &w, seg, off, &h, base);
            continue;
        }
        if (rc == LS_ECORRUPT || (rc == 0 && h.seg_seq == seq))
            w.corrupt++;
        off += REC_BLOCK;
    }
    free(w.batch);
    return w.corrupt;
}

static int read_seg(struct recov *rv, struct seg_read *sr, uint32_t g)
{
    struct seg_mgr *m = &rv->e->sm;
    uint64_t off;

    sr->g = g;
    sr->len = m->seg_size * m->d[g].run;
    sr->done = 0;
    sr->req = (struct uio_req){.cb = read_done, .arg = sr, .len = sr->len, .op = UIO_READ};
    sr->req.buf = uio_alloc(sr->len);
    if (!sr->req.buf)
        return -ENOMEM;
    sr->req.fd = seg_fd(m, (uint64_t)g * m->seg_size, &off);
    sr->req.off = off;
    uio_queue(rv->e->u, &sr->req);
    return uio_submit(rv->e->u);
}

/* Phase 2: segments in seq order, RECOV_WINDOW reads ahead. */
static int phase2(struct recov *rv)
{
    struct seg_read w[RECOV_WINDOW];
    uint32_t next = 0;
    int rc = 0;

    for (; next < rv->nused && next < RECOV_WINDOW && rc == 0; next++)
        rc = read_seg(rv, &w[next % RECOV_WINDOW], rv->order[next]);
    for (uint32_t i = 0; i < rv->nused && rc == 0; i++) {
        struct seg_read *sr = &w[i % RECOV_WINDOW];
        while (!sr->done && rc == 0)
            rc = uio_reap(rv->e->u, 1) < 0 ? -EIO : 0;
        if (rc == 0 && sr->res >= 0 && sr->res < (int)sr->len && rv->e->cfg.read_only)
            memset((uint8_t *)sr->req.buf + sr->res, 0, sr->len - (uint32_t)sr->res);
        else if (rc == 0 && sr->res != (int)sr->len)
            rc = sr->res < 0 ? sr->res : -EIO; /* (a short file is completed at open) */
        if (rc == 0)
            rv->p.corrupt_blocks +=
                seg_walk_from(rv->e, sr->req.buf, sr->len, sr->g,
                              rv->from_ckpt ? rv->ci.from[sr->g] : 0, apply, rv);
        if (rc == 0 && rv->err)
            rc = rv->err;
        uio_free(sr->req.buf);
        sr->req.buf = NULL;
        rv->p.segments_done++;
        report(rv, 0);
        if (rc == 0 && next < rv->nused) {
            rc = read_seg(rv, sr, rv->order[next]);
            next++;
        }
    }
    for (uint32_t i = 0; i < RECOV_WINDOW && i < rv->nused; i++)
        if (w[i].req.buf && !w[i].done)
            eng_io_wait(rv->e);
    for (uint32_t i = 0; i < RECOV_WINDOW && i < rv->nused; i++)
        uio_free(w[i].req.buf);
    return rc;
}

struct gone {
    struct recov *rv;
    uint16_t table;
    struct idx_ent *v;
    uint64_t n, cap;
    int err;
};

static int collect_gone(void *arg, const struct idx_ent *ent)
{
    struct gone *o = arg;
    struct recov *rv = o->rv;

    if (!rv->ci.changed[seg_of(&rv->e->sm, idx_loc_addr(ent->loc))] ||
        decided(rv, ent->token, idx_meta_hash2(ent->meta), o->table) != 0)
        return 0;
    return ents_push(&o->v, &o->n, &o->cap, &o->err, ent);
}

/* After rolling forward: checkpoint entries still pointing into a segment whose use has
 * gone since (freed and reused, or blanked) were neither moved by a copy nor replaced by
 * a write. Their records are gone, and so is what decided them: a key deleted after the
 * checkpoint whose tombstone was dropped once the segment holding its dead PUT was
 * reused (compact.c drops a tombstone only then). They leave the index. */
static int drop_gone(struct recov *rv)
{
    struct ls_engine *e = rv->e;
    uint32_t g;

    for (g = 0; g < e->sm.nsegs && !rv->ci.changed[g]; g++)
        ;
    if (g == e->sm.nsegs)
        return 0;
    for (uint32_t t = 0; t < e->cfg.tables; t++) {
        struct gone o = {.rv = rv, .table = (uint16_t)t};
        idx_scan(e->tables[t], 0, SIZE_MAX, collect_gone, &o, NULL, NULL);
        for (uint64_t i = 0; i < o.n && !o.err; i++)
            if (idx_remove(e->tables[t], o.v[i].token, idx_meta_hash2(o.v[i].meta), NULL) == 0)
                rv->ck_dropped++;
        free(o.v);
        if (o.err)
            return o.err;
    }
    return 0;
}

/* Missing data files, or another directory's: the open is refused (unless salvage). */
static int refuse_damaged(struct recov *rv)
{
    struct ls_engine *e = rv->e;

    if (!rv->damaged_files || e->cfg.salvage || e->cfg.read_only)
        return 0;
    eng_log(e, LS_LOG_ERROR,
            "%s: %u data files are missing or are not this directory's; refusing to open "
            "(acknowledged data would be lost silently). Check it with logstor-check; "
            "set salvage to open what can be read",
            e->dir, rv->damaged_files);
    return LS_ECORRUPT;
}

int recov_run(struct ls_engine *e)
{
    struct recov rv = {.e = e, .now_ms = eng_now_ms(e), .start_ms = mono_ms()};
    struct seg_mgr *m = &e->sm;
    int rc;

    rv.last_report_ms = rv.start_ms;
    rv.blank0 = calloc(m->nsegs ? m->nsegs : 1, 1);
    rc = rv.blank0 ? 0 : -ENOMEM;
    if (rc == 0 && !ckpt_clean_open(e, &rv.ci)) {
        /* a checkpoint while running, and the segment journal tells which segments can
         * hold a use begun after it: only their heads are read (segj.c) */
        if (rv.ci.view && (rv.cand = malloc(m->nsegs ? m->nsegs : 1)) != NULL) {
            const char *why = ckpt_presume(e, &rv.ci, rv.cand);
            if (why) {
                if (*why)
                    eng_log(e, LS_LOG_INFO, "%s: reading the head of every segment: %s", e->dir,
                            why);
                free(rv.cand);
                rv.cand = NULL;
            }
        }
        rc = phase1(&rv);
    }
    if (rc == 0)
        rc = refuse_damaged(&rv);
    if (rc == 0) {
        int skipped = rv.ci.skip;
        rc = ckpt_load(e, rv.now_ms, rv.blank0, &rv.p.records, &rv.ci);
        if (rc == 1) {
            rc = 0;
            rv.from_ckpt = 1; /* phase 2 reads only what was written after it */
            rv.skipped1 = skipped;
        } else if (rc == 0 && skipped) {
            rc = -EIO; /* cannot happen: a clean checkpoint verified a moment ago */
        }
    } else {
        ckpt_info_free(&rv.ci);
    }
    if (rc == 0 && rv.cand && !rv.from_ckpt) {
        /* the checkpoint was not taken after all: the uses presumed from it go, and every
         * head is read */
        eng_log(e, LS_LOG_INFO, "%s: reading the head of every segment", e->dir);
        free(rv.cand);
        rv.cand = NULL;
        for (uint32_t g = 0; g < m->nsegs; g++) {
            m->d[g].stale_min = UINT64_MAX;
            m->d[g].freed_at = 0;
            seg_use(m, g, 0, SEG_FREE, 0);
        }
        m->free_clock = 0;
        memset(rv.blank0, 0, m->nsegs);
        rv.p.corrupt_blocks = 0;
        rv.damaged_files = 0;
        rv.presumed = 0;
        rc = phase1(&rv);
        if (rc == 0)
            rc = refuse_damaged(&rv);
    }
    if (rc == 0)
        rc = sort_used(&rv);
    if (rc == 0)
        rc = phase2(&rv);
    if (rc == 0 && rv.from_ckpt)
        rc = drop_gone(&rv);
    free(rv.ci.changed);
    free(rv.ci.from);
    free(rv.blank0);
    free(rv.cand);
    huge_free(rv.map.t, rv.map.cap * sizeof(*rv.map.t));
    if (rc < 0) {
        eng_log(e, LS_LOG_ERROR, "recovery failed: %s", ls_strerror(rc));
        free(rv.order);
        return rc;
    }
    for (uint32_t g = 0; g < m->nsegs; g++) {
        if (m->d[g].seq > e->seq)
            e->seq = m->d[g].seq;
        seg_hist_update(m, g); /* tombstone bytes were counted after listing */
    }
    if (!rv.from_ckpt || rv.max_rseq > e->rseq)
        e->rseq = rv.max_rseq;
    eng_expiry_seen(e, rv.now_ms); /* PUTs expired by now were left out of the index */
    seg_rebuild_free(m);
    e->st.recovery_ms = mono_ms() - rv.start_ms;
    e->st.recovery_records = rv.p.records;
    e->st.recovery_corrupt_blocks = rv.p.corrupt_blocks;
    e->st.recovery_damaged_files = rv.damaged_files;
    if (rv.p.corrupt_blocks || rv.damaged_files)
        eng_log(e, LS_LOG_WARN,
                "recovery skipped %llu damaged blocks and %u damaged files: records in them "
                "are lost (logstor-check %s lists them)",
                (unsigned long long)rv.p.corrupt_blocks, rv.damaged_files, e->dir);
    e->st.recovery_segments = rv.nused;
    e->st.recovery_heads_read = rv.heads_read;
    e->st.recovery_heads_presumed = rv.presumed;
    e->st.recovery_from_checkpoint = (uint64_t)(rv.from_ckpt + rv.skipped1);
    if (rv.from_ckpt)
        eng_log(e, LS_LOG_INFO,
                "%s: opened from the checkpoint%s: %llu keys and records in %llu ms, %llu "
                "segment heads read, %u segments written after it read, %llu entries whose "
                "segments were reused since dropped",
                e->dir,
                rv.skipped1 ? " of a clean close (data files unchanged, segment heads not read)"
                            : "",
                (unsigned long long)rv.p.records, (unsigned long long)e->st.recovery_ms,
                (unsigned long long)rv.heads_read, rv.nused, (unsigned long long)rv.ck_dropped);
    report(&rv, 1);
    free(rv.order);
    return 0;
}
