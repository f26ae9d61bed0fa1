/*
 * recov.c - rebuild the index by scanning the log.
 *
 * Phase 1 reads the first 4 KiB block of every segment of every data file. A segment
 * whose block 0 holds a valid buffer header (seeded checksum, matching segment number)
 * is in use, with that header's sequence number; a large-record header also covers the
 * segments of its run. Every other segment is free.
 *
 * Phase 2 reads the used segments whole, in increasing sequence order, a window of reads
 * in flight, and applies their records in offset order. Segment sequence order is record
 * order because the writer never interleaves two segments: one segment is open at a time
 * and a large record closes it (wbuf.c). Within a segment, buffers are followed by their
 * lengths; a buffer must carry the segment's sequence number (contents left from an
 * earlier use carry an older one and are ignored). A record that fails its checksum is
 * counted and parsing resumes at the next 8-byte offset where a record verifies (the
 * seeded checksum makes a false match impossible in practice); a header that fails is
 * counted and the scan looks for the next valid header of the same use at the following
 * 4 KiB boundaries.
 *
 * Applying: a PUT replaces the key's entry (a PUT already past its expiry acts as a
 * delete, so it still hides older records); a DEL removes it; a FLUSH empties its table.
 * Live bytes per segment are rebuilt on the way. The writer then starts in a fresh
 * segment, never appending after a tail that might be torn.
 */
#include "internal.h"
#include "token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECOV_WINDOW 16

struct recov {
    struct ls_engine *e;
    uint32_t *order; /* used segments sorted by seq */
    uint32_t nused;
    uint64_t now_ms, start_ms, last_report_ms;
    uint64_t max_rseq;
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

static int wait_all(struct ls_engine *e)
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
    if (wait_all(e) == 0 && sr.res == (int)m->seg_size)
        for (uint32_t o = REC_BLOCK; o < m->seg_size; o += REC_BLOCK)
            if (buf_hdr_check((uint8_t *)sr.req.buf + o, e->seed, &h) == 0 && h.seg_no == g &&
                !(h.flags & BUF_LARGE) && h.seg_seq > best)
                best = h.seg_seq;
    uio_free(sr.req.buf);
    return best;
}

/* Phase 1: classify one file's segments from their first block. */
static int scan_heads(struct recov *rv, uint32_t f, uint8_t *blocks, struct seg_read *reads)
{
    struct ls_engine *e = rv->e;
    struct seg_mgr *m = &e->sm;
    uint32_t spf = m->segs_per_file;
    int rc;

    for (uint32_t i = 0; i < spf; i++) {
        reads[i] = (struct seg_read){.g = f * spf + i};
        reads[i].req = (struct uio_req){.cb = read_done,
                                        .arg = &reads[i],
                                        .buf = blocks + (size_t)i * REC_BLOCK,
                                        .off = (uint64_t)i * m->seg_size,
                                        .len = REC_BLOCK,
                                        .fd = m->fds[f],
                                        .op = UIO_READ};
        uio_queue(e->u, &reads[i].req);
        if (uio_inflight(e->u) >= e->cfg.queue_depth / 2 && (rc = wait_all(e)) < 0)
            return rc;
    }
    if ((rc = wait_all(e)) < 0)
        return rc;
    for (uint32_t i = 0; i < spf; i++) {
        struct buf_hdr h;
        struct seg_desc *d = &m->d[f * spf + i];
        if (reads[i].res < 0)
            return reads[i].res;
        if (reads[i].res != REC_BLOCK)
            continue; /* past the end of a short file: unwritten */
        rc = buf_hdr_check(blocks + (size_t)i * REC_BLOCK, e->seed, &h);
        if (rc == LS_ECORRUPT) {
            uint64_t seq = probe_segment(rv, f * spf + i);
            if (seq > d->seq)
                *d = (struct seg_desc){.seq = seq, .state = SEG_FULL, .run = 1};
            else
                rv->p.corrupt_blocks++; /* phase 2 counts it when it reads the segment */
            continue;
        }
        if (rc != 0 || h.seg_no != f * spf + i || h.seg_seq <= d->seq)
            continue;
        *d = (struct seg_desc){.seq = h.seg_seq, .state = SEG_FULL, .run = 1};
        if (h.flags & BUF_LARGE) {
            uint32_t n = (h.length + m->seg_size - 1) / m->seg_size;
            if (n > spf - i)
                continue;
            d->run = (uint16_t)n;
            for (uint32_t k = 1; k < n; k++)
                m->d[f * spf + i + k] = (struct seg_desc){.seq = h.seg_seq, .state = SEG_CONT};
            i += n - 1;
        }
    }
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
        if (m->d[g].state == SEG_FULL)
            rv->order[rv->nused++] = g;
    qsort_r(rv->order, rv->nused, sizeof(uint32_t), cmp_seq, m->d);
    rv->p.segments_total = rv->nused;
    return 0;
}

static void apply(struct recov *rv, const struct rec_view *v, uint64_t addr)
{
    struct ls_engine *e = rv->e;
    struct idx *t;
    struct idx_ent ent, old;
    uint32_t hash2;
    int rc;

    if (v->h.rseq > rv->max_rseq)
        rv->max_rseq = v->h.rseq;
    rv->p.records++;
    if (v->h.table >= e->cfg.tables)
        return;
    t = e->tables[v->h.table];
    if (v->h.type == REC_FLUSH) {
        eng_flush_table(e, v->h.table);
        return;
    }
    token_of(v->key, v->h.key_len, &ent.token, &hash2);
    if (v->h.type == REC_PUT && !(v->h.expire_ms && v->h.expire_ms <= rv->now_ms)) {
        ent.loc = idx_make_loc(addr, v->size);
        ent.meta = idx_make_meta(v->h.expire_ms, hash2);
        rc = idx_upsert(t, &ent, &old);
        if (rc >= 0)
            eng_live(e, ent.loc, +1);
        if (rc == 1)
            eng_unlive(e, old.loc);
    } else if (idx_remove(t, ent.token, hash2, &old) == 0) {
        eng_unlive(e, old.loc);
    }
}

/* Applies the records of one buffer; returns the offset where parsing must go on. */
static uint32_t parse_buffer(struct recov *rv, const uint8_t *seg, uint32_t off,
                             const struct buf_hdr *h, uint64_t base)
{
    uint32_t pos = off + BUF_HDR_SIZE, end = off + h->length;
    uint64_t seed = rec_seed(rv->e->seed, h->seg_seq);
    struct rec_view v;

    for (uint32_t i = 0; i < h->count && pos < end; i++) {
        if (rec_decode(seg + pos, end - pos, seed, &v) != 0) {
            /* Damaged record: count it and go on at the next record that verifies. Zeros
             * with nothing valid after them are the buffer's padding, not damage. */
            uint32_t next = rec_resync(seg, pos, end, seed);
            if (next < end || !rec_is_padding(seg + pos, end - pos))
                rv->p.corrupt_blocks++;
            pos = next;
            if (pos < end)
                i--; /* unknown how many records the damage covered; keep going */
            continue;
        }
        apply(rv, &v, base + pos);
        pos += v.size;
    }
    return end;
}

static void parse_segment(struct recov *rv, const uint8_t *seg, uint32_t len, uint32_t g)
{
    struct ls_engine *e = rv->e;
    uint64_t seq = e->sm.d[g].seq, base = (uint64_t)g * e->sm.seg_size;
    uint32_t off = 0;
    struct buf_hdr h;

    while (off + REC_BLOCK <= len) {
        int rc = buf_hdr_check(seg + off, e->seed, &h);
        if (rc == 0 && h.seg_seq == seq && h.seg_no == g && h.length <= len - off) {
            off = parse_buffer(rv, seg, off, &h, base);
            continue;
        }
        if (rc == LS_ECORRUPT || (rc == 0 && h.seg_seq == seq))
            rv->p.corrupt_blocks++;
        off += REC_BLOCK;
    }
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
        if (rc == 0 && sr->res != (int)sr->len)
            rc = sr->res < 0 ? sr->res : -EIO;
        if (rc == 0)
            parse_segment(rv, sr->req.buf, sr->len, sr->g);
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
            wait_all(rv->e);
    for (uint32_t i = 0; i < RECOV_WINDOW && i < rv->nused; i++)
        uio_free(w[i].req.buf);
    return rc;
}

int recov_run(struct ls_engine *e)
{
    struct recov rv = {.e = e, .now_ms = eng_now_ms(e), .start_ms = mono_ms()};
    struct seg_mgr *m = &e->sm;
    int rc;

    rv.last_report_ms = rv.start_ms;
    rc = phase1(&rv);
    if (rc == 0)
        rc = sort_used(&rv);
    if (rc == 0)
        rc = phase2(&rv);
    if (rc < 0) {
        eng_log(e, LS_LOG_ERROR, "recovery failed: %s", ls_strerror(rc));
        free(rv.order);
        return rc;
    }
    for (uint32_t g = 0; g < m->nsegs; g++)
        if (m->d[g].seq > e->seq)
            e->seq = m->d[g].seq;
    e->rseq = rv.max_rseq;
    seg_rebuild_free(m);
    e->st.recovery_ms = mono_ms() - rv.start_ms;
    e->st.recovery_records = rv.p.records;
    e->st.recovery_corrupt_blocks = rv.p.corrupt_blocks;
    e->st.recovery_segments = rv.nused;
    report(&rv, 1);
    free(rv.order);
    return 0;
}
