/*
 * wbuf.c - write buffers and the buffered writer: ring, group commit, backpressure.
 *
 * A write buffer is one future device write: a 64-byte header and records, destined for
 * a fixed place (segment, offset) chosen when the buffer is opened, so a record's final
 * address is known the moment it is appended and the index can point at it at once.
 * Until the buffer is retired, reads of such an address are served from its memory
 * (read-your-writes).
 *
 * Buffers move FREE -> ACTIVE -> SEALED -> INFLIGHT -> DONE -> FREE. There is one ACTIVE
 * buffer. Sealed buffers wait in a FIFO (ordered by `gen`, their seal order) and at most
 * `write_buffers` are in flight at once (the ring). When every ring slot is busy, new
 * records keep filling further buffers, bounded by max_pending_bytes; past that bound a
 * write fails with LS_EBUSY. This is the backpressure: bounded memory, a clear error.
 *
 * Group commit: in sync mode every append asks for a flush, and the flush happens in
 * ls_poll, after the event loop has handed the engine everything that arrived in the
 * same loop iteration; while the ring is full, records keep accumulating in the active
 * buffer, so under load one device write carries many records. Every write uses
 * RWF_DSYNC (bench/bench_dsync measures it against a write + fdatasync pair).
 *
 * Submission is in gen order as the ring allows, except that a buffer of a new segment
 * use's later blocks waits for its block 0 (SEGF_HEAD), and a buffer holding an ordered
 * write (ls_write_opts.ordered) waits until every older buffer is done.
 *
 * Acknowledgement is in gen order (a durable high-water mark): a buffer's callbacks run
 * only when it and every older buffer are done. A failed write makes the engine fail
 * (sticky) and fails that buffer and every newer one: their index changes are reverted,
 * newest first, so reads never show a write whose outcome was an error.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Buffers user writes may hold. Compaction's buffers are bounded by separator_memory
 * (compact.c stops reading victims past it) and come on top. */
static uint32_t max_bufs(const struct ls_engine *e)
{
    return e->cfg.write_buffers + 1 +
           (uint32_t)(e->cfg.max_pending_bytes / e->cfg.write_buffer_size);
}

static struct wbuf *buf_get(struct ls_engine *e, const struct stream *st)
{
    struct wbuf *b = e->free_bufs;

    if (!st->comp && e->user_bufs >= max_bufs(e))
        return NULL;
    if (b) {
        e->free_bufs = b->next;
        return b;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->data = uio_alloc(e->cfg.write_buffer_size);
    if (!b->data) {
        free(b);
        return NULL;
    }
    b->e = e;
    e->nbufs++;
    return b;
}

static void buf_release(struct ls_engine *e, struct wbuf *b)
{
    struct seg_desc *d = &e->sm.d[b->seg_no];

    if (d->mem_bufs)
        d->mem_bufs--;
    if (b->st && b->st->comp) {
        uint32_t n = b->used > BUF_HDR_SIZE ? b->used - BUF_HDR_SIZE : 0;
        e->group_bytes = e->group_bytes >= n ? e->group_bytes - n : 0;
        e->group_bufs--;
    } else if (b->st && !b->large) {
        e->user_bufs--;
    }
    if (b->large) {
        uio_free(b->data);
        free(b->ops);
        free(b);
        return;
    }
    b->state = WB_FREE;
    b->nops = b->count = b->used = 0;
    b->next = e->free_bufs;
    e->free_bufs = b;
}

void eng_defer_ack(struct ls_engine *e, ls_write_cb cb, void *arg, int rc, uint64_t cas)
{
    if (!cb)
        return;
    if (e->nacks == e->capacks) {
        uint32_t cap = e->capacks ? e->capacks * 2 : 256;
        struct defer_ack *n = realloc(e->acks, cap * sizeof(*n));
        if (!n)
            abort(); /* cannot keep the exactly-once promise without memory */
        e->acks = n;
        e->capacks = cap;
    }
    e->acks[e->nacks++] = (struct defer_ack){cb, arg, rc, cas};
    eng_wake(e);
}

void eng_live(struct ls_engine *e, uint64_t loc, int sign)
{
    struct seg_desc *d = &e->sm.d[seg_of(&e->sm, idx_loc_addr(loc))];
    uint32_t sz = idx_loc_size(loc);

    if (sign > 0) {
        d->live += sz;
        e->st.live_bytes += sz;
    } else {
        d->live = d->live >= sz ? d->live - sz : 0;
        e->st.live_bytes = e->st.live_bytes >= sz ? e->st.live_bytes - sz : 0;
    }
    seg_hist_update(&e->sm, (uint32_t)(d - e->sm.d));
    if (sign < 0 && e->cp) {
        compact_note_unlive(e);
        if (d->live == 0)
            compact_note_dead(e, (uint32_t)(d - e->sm.d));
    }
}

static void fifo_push(struct ls_engine *e, struct wbuf *b)
{
    b->next = NULL;
    if (e->fifo_tail)
        e->fifo_tail->next = b;
    else
        e->fifo_head = b;
    e->fifo_tail = b;
}

/* Closes the stream's open segment and opens a new one. The user stream leaves the last
 * free segments to compaction (compact_reserve). */
static int next_segment(struct ls_engine *e, struct stream *st, uint8_t type)
{
    uint64_t seq;
    int64_t g;
    int rc;

    if (!st->comp && e->sm.nfree <= compact_reserve(e, type))
        return compact_space_error(e);
    g = seg_alloc(&e->sm, st->comp && compact_may_blank(e));
    if (g < 0)
        return !st->comp && g == LS_ENOSPACE ? compact_space_error(e) : (int)g;
    if ((rc = eng_seq_next(e, &seq)) < 0) {
        seg_rebuild_free(&e->sm);
        return rc;
    }
    if (st->cur_seg >= 0) {
        seg_close(&e->sm, (uint32_t)st->cur_seg);
        e->comp_segs_closed += st->comp != 0;
    }
    st->cur_seg = g;
    st->cur_off = 0;
    seg_use(&e->sm, (uint32_t)g, seq, SEG_OPEN, st->group);
    if (st == &e->user)
        e->sm.d[g].flags |= SEGF_HOT;
    return 0;
}

static int open_active(struct ls_engine *e, struct stream *st, uint32_t size, uint8_t type)
{
    uint32_t seg_size = e->sm.seg_size;
    struct wbuf *b;
    int rc;

    if (st->cur_seg < 0 || seg_size - st->cur_off < BUF_HDR_SIZE + size) {
        if (!st->comp && e->user_bufs >= max_bufs(e))
            return LS_EBUSY;
        if ((rc = next_segment(e, st, type)) < 0)
            return rc;
    }
    if (!(b = buf_get(e, st)))
        return LS_EBUSY;
    if (st->comp)
        e->group_bufs++;
    else
        e->user_bufs++;
    b->st = st;
    b->addr = (uint64_t)st->cur_seg * seg_size + st->cur_off;
    b->cap = seg_size - st->cur_off;
    if (b->cap > e->cfg.write_buffer_size)
        b->cap = e->cfg.write_buffer_size;
    b->used = BUF_HDR_SIZE;
    b->count = b->nops = 0;
    b->seg_no = (uint32_t)st->cur_seg;
    b->seg_seq = e->sm.d[st->cur_seg].seq;
    b->open_ms = eng_now_ms(e);
    b->state = WB_ACTIVE;
    b->large = 0;
    b->ordered = 0;
    b->held = 0;
    b->ordered_end = 0;
    e->sm.d[b->seg_no].mem_bufs++;
    if (st->cur_off == 0)
        e->sm.d[b->seg_no].flags |= SEGF_HEAD;
    st->active = b;
    return 0;
}

static void seal(struct ls_engine *e, struct wbuf *b, uint16_t flags)
{
    uint32_t len = (uint32_t)rec_align_block(b->used);

    memset(b->data + b->used, 0, len - b->used);
    buf_hdr_seal_group(b->data, flags, b->st ? b->st->group : 0, b->ordered_end, b->seg_seq, len,
                       b->count, b->seg_no, b->first_rseq, e->seed);
    b->req.len = len;
    b->gen = ++e->gen;
    b->state = WB_SEALED;
    e->waiting_bytes += len;
    fifo_push(e, b);
    eng_wake(e);
}

static void seal_active(struct ls_engine *e, struct stream *st)
{
    struct wbuf *b = st->active;

    if (!b || b->count == 0)
        return;
    if (st == &e->user || st == &e->ucold)
        e->gc_join = 0; /* what it waited for goes now (some seals come from elsewhere) */
    st->active = NULL;
    seal(e, b, 0);
    st->cur_off += b->req.len;
    if (st->cur_off + BUF_HDR_SIZE + REC_HDR_SIZE > e->sm.seg_size) {
        seg_close(&e->sm, (uint32_t)st->cur_seg);
        st->cur_seg = -1;
    }
}

void wbuf_seal_stream(struct ls_engine *e, struct stream *st)
{
    seal_active(e, st);
}

void wbuf_close_stream(struct ls_engine *e, struct stream *st)
{
    seal_active(e, st);
    if (st->active || st->cur_seg < 0)
        return; /* an empty buffer is still attached to the segment */
    seg_close(&e->sm, (uint32_t)st->cur_seg);
    st->cur_seg = -1;
}

static void write_done(struct uio_req *req, int res);

void wbuf_kick(struct ls_engine *e)
{
    for (struct wbuf *b = e->fifo_head; b && e->inflight < e->cfg.write_buffers; b = b->next) {
        uint64_t off;
        if (b->state != WB_SEALED)
            continue;
        /* A later buffer of a new segment use waits until the use's first buffer is
         * durable. Were it to reach the disk first and a crash lose block 0, recovery
         * would take the segment for its old use with this buffer's blocks missing from
         * it: a hider of that old use (a FLUSH, a DEL) gone while the records it hid,
         * earlier in the same use, come back (sim seed 2030102). With block 0 first, a
         * crash leaves either the old use whole or the new one. */
        if (b->addr % e->sm.seg_size && (e->sm.d[b->seg_no].flags & SEGF_HEAD))
            continue;
        /* An ordered write (ls_write_opts.ordered) goes after every older buffer is done:
         * recovery may keep an intact later buffer and lose an earlier one, and this
         * write was computed from theirs. Writes placed before it in its own buffer need
         * no wait: the header's ordered_end makes recovery drop it if damage (a torn
         * write, whose surviving blocks need not be a prefix) took any of them. */
        if (b->ordered && e->acked_gen + 1 < b->gen) {
            if (!b->held) {
                b->held = 1;
                e->st.ordered_waits++;
            }
            continue;
        }
        uint32_t len = b->req.len;
        b->req = (struct uio_req){
            .cb = write_done, .arg = b, .buf = b->data, .len = len, .op = UIO_WRITE, .dsync = 1};
        b->req.fd = seg_fd(&e->sm, b->addr, &off);
        b->req.off = off;
        b->state = WB_INFLIGHT;
        b->sub_us = eng_mono_us();
        e->inflight++;
        e->waiting_bytes -= b->req.len;
        uio_queue(e->u, &b->req);
    }
    uio_submit(e->u);
}

/* Whether a user buffer (hot or cold) holds records not yet sealed. */
int wbuf_user_pending(const struct ls_engine *e)
{
    return (e->user.active && e->user.active->count) || (e->ucold.active && e->ucold.active->count);
}

#define GC_SLOTS 2 /* group-commit writes in flight with a window (3 measured no better) */

static int gc_windowed(const struct ls_engine *e)
{
    return e->cfg.durability == LS_SYNC && e->cfg.group_commit_us && !e->closing;
}

/* The slots group commit counts as taken: the writes in flight, and one more while a sealed
 * buffer waits to be sent (wbuf_kick holds a segment's later buffers until its first block
 * is durable, and ordered writes until the older ones are done): without it every window
 * sealed one more small buffer behind a slow first block (found by a review). */
static uint32_t gc_busy(const struct ls_engine *e)
{
    return e->inflight + (e->waiting_bytes != 0);
}

static uint64_t gc_window_ns(const struct ls_engine *e)
{
    return (uint64_t)e->cfg.group_commit_us * 1000;
}

/* Whether the window has closed: its timer fired (the simulated device's timers may be
 * completed early by a test), or, under a light load, group_commit_us has passed since
 * the last group-commit seal. */
static int gc_due(const struct ls_engine *e, uint64_t now)
{
    return e->gc_due || (!e->gc_heavy && now - e->gc_seal_ns >= gc_window_ns(e));
}

/* Records appended per window at or above which the load counts as heavy, and how often
 * that is judged (at a group-commit seal, over the records appended since the last
 * judgement). */
#define GC_HEAVY_RECS 4
#define GC_JUDGE_NS   10000000

static void gc_judge(struct ls_engine *e, uint64_t now)
{
    uint64_t span = now - e->gc_judged_ns;

    if (span < GC_JUDGE_NS)
        return;
    e->gc_heavy = e->gc_recs * gc_window_ns(e) >= GC_HEAVY_RECS * span;
    if (e->gc_heavy)
        e->st.group_commit_judged_heavy++;
    else
        e->st.group_commit_judged_light++;
    e->gc_recs = 0;
    e->gc_judged_ns = now;
}

int wbuf_gc_load(const struct ls_engine *e)
{
    return gc_windowed(e) ? 1 + (e->gc_heavy != 0) : 0;
}

/* May the active buffer be sealed now for group commit (rather than because it is
 * full)? In sync mode with a window (group_commit_us): at once while the device is idle
 * (unless the clients a completion just answered are being waited for, below); while a
 * write is in flight, once the window has closed and fewer than GC_SLOTS are. Where the
 * window starts depends on the load (gc_judge):
 * - light (fewer than GC_HEAVY_RECS records arrive in a window): at the last group-commit
 *   seal. Counted from a record's arrival, a record that came long after the last seal
 *   waited a whole window more, and a completion that left the device idle a window more
 *   again: at memtier's fixed rate (4 k SETs/s), commit p50 0.77 ms and p99 2.6 ms, against
 *   0.51-0.64 and 1.5-2.0 ms counted from the seal.
 * - heavy: when a record first waits with a write in flight, and when a completion leaves
 *   the device idle with records waiting (gc_join: the clients it answered join the next
 *   write). Counted from the seal there, redis-benchmark -c 50 SET made ~40% more device
 *   writes (15 records each, not 21) and ~7% fewer SETs/s.
 * Otherwise while the ring has a free slot. Ordering needs nothing more: buffers are
 * acknowledged in seal order (ack_loop). */
static int may_seal(const struct ls_engine *e, uint64_t now)
{
    if (!wbuf_user_pending(e))
        return 0;
    if (gc_windowed(e))
        return (gc_busy(e) == 0 && !e->gc_join) || (gc_busy(e) < GC_SLOTS && gc_due(e, now));
    return e->inflight < e->cfg.write_buffers;
}

static void gc_fire(struct uio_req *req, int res)
{
    struct ls_engine *e = req->arg;

    (void)res; /* -ETIME: the window has closed */
    e->gc_armed = 0;
    if (e->gc_arm_seals == e->gc_seals)
        e->gc_due = 1; /* else a seal since its arming started a new window */
    if (!e->failed)
        wbuf_flush(e);
}

/* The window's timer: a whole window from now under a heavy load, else the rest of the
 * window since the last seal (1 ns if it closed since `now` was read). */
static void gc_arm(struct ls_engine *e, uint64_t now)
{
    uint64_t w = gc_window_ns(e), gone = now - e->gc_seal_ns;

    if (e->gc_heavy)
        gone = 0;
    e->gc_armed = 1;
    e->gc_arm_seals = e->gc_seals;
    e->gc_req = (struct uio_req){
        .cb = gc_fire, .arg = e, .op = UIO_TIMEOUT, .timeout_ns = gone < w ? w - gone : 1};
    uio_queue(e->u, &e->gc_req);
    uio_submit(e->u);
}

void wbuf_flush(struct ls_engine *e)
{
    /* The request stays pending while the buffer cannot be sealed: the completion (or
     * window) that allows it must seal it, or clients waiting on its records would wait
     * for the next tick. The clock is read once: read again for the timer, a window that
     * closed in between left a record with neither a seal nor a timer (found by a review). */
    uint64_t now = gc_windowed(e) ? uio_mono_ns(e->u) : 0;
    int sealed = may_seal(e, now);

    if (sealed) {
        seal_active(e, &e->user);
        seal_active(e, &e->ucold);
        if (gc_windowed(e)) {
            e->gc_seal_ns = now;
            e->gc_due = 0;
            e->gc_seals++;
            gc_judge(e, now);
        }
    }
    if (!wbuf_user_pending(e)) {
        e->flush_wanted = 0;
        if (e->gc_heavy)
            e->gc_due = 0; /* a window that closed on nothing is spent */
    }
    wbuf_kick(e);
    /* not sealed, a slot free: the device is busy or the answered clients are awaited */
    if (gc_windowed(e) && !sealed && !e->failed && wbuf_user_pending(e) && !e->gc_armed &&
        gc_busy(e) < GC_SLOTS)
        gc_arm(e, now); /* the next write when the window closes */
}

/* ---- failure: revert the index changes of failed buffers, newest first ---- */

static int visit_unlive(void *arg, const struct idx_ent *ent)
{
    eng_unlive(arg, ent->loc);
    return 0;
}

static int visit_relive(void *arg, const struct idx_ent *ent)
{
    eng_live(arg, ent->loc, +1);
    return 0;
}

static void revert_op(struct ls_engine *e, struct wop *op)
{
    struct idx *t = e->tables[op->table];
    struct idx_ent cur;
    int found = idx_find(t, op->token, op->hash2, &cur) == 0;

    if (op->type == REC_PUT && !found && op->expiring && op->had_old) {
        /* Its entry expired and was dropped meanwhile (a read or the sweep found it
         * past its expiry): the put never happened, so the older value comes back, as
         * for any failed put. No later write of the key can have succeeded: later
         * buffers fail with this one and are reverted first (seed 475). */
        if (idx_upsert(t, &op->old, NULL) >= 0)
            eng_live(e, op->old.loc, +1);
    } else if (op->type == REC_PUT) {
        if (!found || cur.loc != op->new_loc)
            return;
        eng_live(e, op->new_loc, -1);
        if (op->had_old) {
            idx_upsert(t, &op->old, NULL);
            eng_live(e, op->old.loc, +1);
        } else {
            idx_remove(t, op->token, op->hash2, NULL);
        }
    } else if (op->type == REC_DEL && !found && op->had_old) {
        if (idx_upsert(t, &op->old, NULL) >= 0)
            eng_live(e, op->old.loc, +1);
    } else if (op->type == WOP_COPY) {
        if (found && cur.loc == op->new_loc && op->old.loc &&
            idx_cas_loc(t, op->token, op->hash2, op->new_loc, op->old.loc) == 0) {
            eng_live(e, op->new_loc, -1);
            eng_live(e, op->old.loc, +1);
        }
    } else if (op->type == REC_FLUSH && op->flushed) {
        /* Everything written after the flush is reverted already (newest first): put the
         * table's tree back. */
        ckpt_abort(e); /* it may hold a snapshot of the tree freed here */
        idx_scan(t, 0, SIZE_MAX, visit_unlive, e, NULL, NULL);
        idx_free(t);
        e->tables[op->table] = op->flushed;
        idx_scan(op->flushed, 0, SIZE_MAX, visit_relive, e, NULL, NULL);
        op->flushed = NULL;
    }
}

static int op_newer_first(const void *a, const void *b)
{
    const struct wop *x = *(struct wop *const *)a, *y = *(struct wop *const *)b;
    return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

/* Reverts the ops of bufs v[0..n) newest first in placement order. Buffers of different
 * streams (user, cold, compaction) fill at once, so a buffer's seal order is not its ops'
 * order: a PUT in the cold stream's buffer, sealed last, is older than a DEL of the key in
 * the user stream's (seed 565 brought the PUT back). */
static void revert_bufs(struct ls_engine *e, struct wbuf **v, uint32_t n)
{
    size_t nops = 0, k = 0;
    for (uint32_t i = 0; i < n; i++)
        nops += v[i]->nops;
    struct wop **ops = malloc((nops ? nops : 1) * sizeof(*ops));
    if (ops == NULL) { /* no memory: buffer by buffer, newest first */
        for (uint32_t i = n; i-- > 0;)
            for (uint32_t j = v[i]->nops; j-- > 0;)
                revert_op(e, &v[i]->ops[j]);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < v[i]->nops; j++)
            ops[k++] = &v[i]->ops[j];
    qsort(ops, nops, sizeof(*ops), op_newer_first);
    for (size_t i = 0; i < nops; i++)
        revert_op(e, ops[i]);
    free(ops);
}

void eng_fail(struct ls_engine *e, int err, const char *what)
{
    if (e->failed)
        return;
    e->failed = 1;
    e->last_error = err;
    e->st.failed = 1;
    eng_log(e, LS_LOG_ERROR, "%s failed: %s; writes refused from now on", what, ls_strerror(err));
}

/* Before any of them is reported failed, records the failed buffers in logstor.fence
 * so that recovery never applies them, whether or not they reach the disk (fence.c). */
static void fence_bufs(struct ls_engine *e, struct wbuf **v, uint32_t n)
{
    struct fence_ent *f = v && n ? malloc(sizeof(*f) * n) : NULL;

    if (!f) {
        if (v && n)
            eng_log(e, LS_LOG_ERROR, "out of memory recording failed writes");
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        f[i] = (struct fence_ent){.seg = v[i]->seg_no,
                                  .off = (uint32_t)(v[i]->addr % e->sm.seg_size),
                                  .seq = v[i]->seg_seq};
    fence_add(e, f, n);
    free(f);
}

static void fail_from(struct ls_engine *e, uint64_t gen, int err)
{
    uint64_t hi = e->failed ? e->failed_gen : UINT64_MAX;
    struct wbuf **v;
    uint32_t n = 0;

    if (gen >= hi)
        return; /* already reverted */
    /* The first failure fails every write not acknowledged yet, older buffers still in
     * flight included: their reverts must run in one pass, newest first. Failing them one
     * by one as their completions come reverted older ops after newer ones (a FLUSH's tree
     * put back, then an older DEL's revert inserted a failed PUT's entry into it: seed 565). */
    if (hi == UINT64_MAX && gen > e->acked_gen + 1)
        gen = e->acked_gen + 1;
    eng_fail(e, err, "device write");
    e->failed_gen = gen;
    if (hi == UINT64_MAX) {
        /* Active buffers join the FIFO as the newest; never submitted. */
        for (uint32_t i = 0; i <= e->nstreams + 3; i++) {
            struct stream *st = i == 0   ? &e->user
                                : i == 1 ? &e->ucold
                                : i <= 3 ? &e->spill[i - 2]
                                         : &e->gs[i - 4];
            struct wbuf *a = st->active;
            if (a && a->count) {
                st->active = NULL;
                seal(e, a, 0);
            }
        }
    }
    v = malloc(sizeof(*v) * (e->nbufs + e->gen + 2 - gen));
    for (struct wbuf *b = e->fifo_head; b && v; b = b->next)
        if (b->gen >= gen && b->gen < hi)
            v[n++] = b;
    fence_bufs(e, v, n);
    if (v)
        revert_bufs(e, v, n);
    while (n-- > 0 && v) {
        if (v[n]->state == WB_SEALED) {
            v[n]->state = WB_DONE;
            e->waiting_bytes -= v[n]->req.len;
        }
    }
    free(v);
}

/* ---- acknowledgement in gen order ---- */

static void fire_barriers(struct ls_engine *e)
{
    while (e->barriers && e->barriers->gen <= e->acked_gen) {
        struct barrier *br = e->barriers;
        int rc = e->failed && br->gen >= e->failed_gen ? LS_EFAILED : 0;
        e->barriers = br->next;
        br->cb(br->arg, rc, 0);
        free(br);
    }
}

/* A record that replaced (or, compaction's copy, moved) one the record cache holds goes
 * into the cache too, from the buffer that was just written: a key read and written in
 * turn (INCR, APPEND, a counter's GET then SET) was read from the device at every step,
 * since its new version has a new address (INCR -P16: a device read per command, 16 us
 * of server CPU per INCR against Redis's 2). With cache_writes, a user's other PUTs go
 * in too, only while the cache has room to spare (rcache_put_spare: nothing evicted for them, first
 * to go): after a load, the GETs of the keys just SET were all device reads until the cache warmed
 * (redis-benchmark HGET after HSET, 100,000 keys: 93 k/s, rising from 80 k/s to 185 k/s
 * over the run). Compaction's copies of records nobody read stay out. A PUT's key also
 * goes into the scans' key cache when there is one (eng_scan_note_put). */
static void cache_new_version(struct ls_engine *e, const struct wbuf *b, const struct wop *op)
{
    if (b->large || !op->new_loc)
        return;
    uint64_t addr = idx_loc_addr(op->new_loc);
    uint32_t size = idx_loc_size(op->new_loc);
    if (addr < b->addr || addr - b->addr + size > b->used)
        return;
    const uint8_t *rec = b->data + (addr - b->addr);
    if (op->type == REC_PUT) /* its key, for the scans (scan.c) */
        eng_scan_note_put(e, addr, b->seg_seq, rec, size);
    int replaced = (op->type == REC_PUT && op->had_old) || (op->type == WOP_COPY && op->old.loc);
    if (replaced) {
        uint64_t old = idx_loc_addr(op->old.loc);
        if (rcache_move(e->cache, old, e->sm.d[seg_of(&e->sm, old)].seq, addr, b->seg_seq, rec,
                        size))
            return;
    }
    if (op->type == REC_PUT && e->cfg.cache_writes)
        rcache_put_spare(e->cache, addr, b->seg_seq, rec, size);
}

static void ack_loop(struct ls_engine *e)
{
    struct wbuf *b;

    while ((b = e->fifo_head) && b->state == WB_DONE) {
        int rc = e->failed && b->gen >= e->failed_gen ? LS_EFAILED : 0;
        e->fifo_head = b->next;
        if (!e->fifo_head)
            e->fifo_tail = NULL;
        e->acked_gen = b->gen;
        if (rc == 0 && b->st && !b->st->comp && b->count)
            ls_lat_add(&e->st.commit_latency, eng_mono_us() - b->first_us);
        for (uint32_t i = 0; i < b->nops; i++) {
            if (rc == 0)
                cache_new_version(e, b, &b->ops[i]);
            if (b->ops[i].flushed) {
                idx_free(b->ops[i].flushed);
                b->ops[i].flushed = NULL;
            }
            if (b->ops[i].cb)
                b->ops[i].cb(b->ops[i].arg, rc, b->ops[i].cas);
        }
        buf_release(e, b);
        fire_barriers(e);
    }
    if (e->cp)
        compact_acked(e);
}

static void write_done(struct uio_req *req, int res)
{
    struct wbuf *b = req->arg;
    struct ls_engine *e = b->e;

    e->inflight--;
    b->state = WB_DONE;
    if (res != (int)req->len) {
        fail_from(e, b->gen, res < 0 ? res : -EIO);
    } else {
        e->st.device_bytes_written += req->len;
        e->st.device_writes++;
        ls_lat_add(&e->st.write_latency, eng_mono_us() - b->sub_us);
        if (b->addr % e->sm.seg_size == 0) { /* a new use's block 0: the old use is gone */
            e->sm.d[b->seg_no].flags &= (uint8_t)~SEGF_HEAD;
            for (uint32_t k = 0; k < (b->large ? e->sm.d[b->seg_no].run : 1u); k++)
                compact_old_use_gone(e, b->seg_no + k);
        }
    }
    ack_loop(e);
    if (e->failed)
        return;
    if (e->flush_wanted && gc_windowed(e) && e->gc_heavy && gc_busy(e) == 0 &&
        wbuf_user_pending(e) && !e->gc_due)
        e->gc_join = 1; /* the clients just answered join the next write (wbuf_flush arms) */
    if (e->flush_wanted && e->cfg.durability == LS_SYNC)
        wbuf_flush(e);
    else
        wbuf_kick(e);
}

/* ---- append ---- */

/* Room for n more ops in b. */
static int reserve_ops(struct wbuf *b, uint32_t n)
{
    if (b->capops - b->nops >= n)
        return 0;
    uint32_t cap = b->capops ? b->capops : 64;
    while (cap - b->nops < n)
        cap *= 2;
    struct wop *ops = realloc(b->ops, cap * sizeof(*ops));
    if (!ops)
        return -ENOMEM;
    b->ops = ops;
    b->capops = cap;
    return 0;
}

static int reserve_op(struct wbuf *b)
{
    return reserve_ops(b, 1);
}

/* Applies the record's effect to the index; fills op. */
static int index_apply(struct ls_engine *e, const struct wrec *r, uint64_t loc, struct wop *op)
{
    struct idx *t = e->tables[r->table];
    struct idx_ent ent = {r->token, loc, idx_make_meta(r->expire_ms, r->hash2)};
    int rc = 0;

    op->had_old = 0;
    if (r->type == REC_PUT) {
        rc = idx_upsert(t, &ent, &op->old);
        if (rc < 0)
            return rc;
        op->had_old = rc == 1;
        eng_live(e, loc, +1);
    } else if (r->type == REC_DEL) {
        rc = idx_remove(t, r->token, r->hash2, &op->old);
        if (rc == -ENOMEM) /* a snapshot is live and the copy failed: refused, unchanged */
            return rc;
        op->had_old = rc == 0;
    } else {
        struct idx *fresh = idx_new();
        if (!fresh)
            return -ENOMEM;
        ckpt_abort(e); /* its snapshot of t would outlive t (freed once acknowledged) */
        op->flushed = t;
        e->tables[r->table] = fresh;
        idx_scan(t, 0, SIZE_MAX, visit_unlive, e, NULL, NULL);
    }
    if (op->had_old)
        eng_live(e, op->old.loc, -1);
    return 0;
}

void eng_flush_table(struct ls_engine *e, uint16_t table)
{
    ckpt_abort(e);
    idx_scan(e->tables[table], 0, SIZE_MAX, visit_unlive, e, NULL, NULL);
    idx_clear(e->tables[table]);
}

static int place(struct ls_engine *e, struct wbuf *b, const struct wrec *r, uint32_t size,
                 ls_write_cb cb, void *arg)
{
    struct rec_hdr h = {.type = (uint8_t)(r->type | r->cont | r->vtag << REC_VTAG_SHIFT),
                        .table = r->table,
                        .key_len = r->key_len,
                        .value_len = r->value_len,
                        .flags = r->flags,
                        .rseq = e->rseq + 1,
                        .expire_ms = r->expire_ms};
    uint64_t addr = b->addr + b->used;
    struct wop *op;
    int rc = reserve_op(b);

    if (rc < 0)
        return rc;
    op = &b->ops[b->nops];
    rec_encode(b->data + b->used, &h, r->key, r->value, rec_seed(e->seed, b->seg_seq));
    seg_note_record(&e->sm.d[b->seg_no], r->type, size, h.rseq, r->expire_ms);
    if (r->type == REC_FLUSH)
        e->flush_rseq[r->table] = h.rseq;
    *op = (struct wop){.token = r->token,
                       .hash2 = r->hash2,
                       .table = r->table,
                       .type = r->type,
                       .expiring = r->expire_ms != 0,
                       .order = ++e->op_order,
                       .cas = h.rseq};
    op->new_loc = r->type == REC_PUT ? idx_make_loc(addr, size) : 0;
    rc = index_apply(e, r, op->new_loc, op);
    if (rc < 0)
        return rc;
    e->rseq++;
    if (b->count++ == 0) {
        b->first_rseq = h.rseq;
        b->first_us = eng_mono_us();
    }
    b->used += size;
    b->nops++;
    e->st.user_bytes_written += size;
    if (b->st == &e->ucold)
        e->st.user_cold_bytes_written += size;
    if (e->cfg.durability == LS_SYNC) {
        op->cb = cb;
        op->arg = arg;
    } else {
        eng_defer_ack(e, cb, arg, 0, h.rseq);
    }
    return 0;
}

static int append_large(struct ls_engine *e, const struct wrec *r, uint32_t size, ls_write_cb cb,
                        void *arg)
{
    uint32_t seg_size = e->sm.seg_size;
    uint32_t n = (BUF_HDR_SIZE + size + seg_size - 1) / seg_size;
    uint32_t len = (uint32_t)rec_align_block(BUF_HDR_SIZE + size);
    struct wbuf *b;
    uint8_t *data;
    uint64_t seq;
    int64_t g = 0;
    int rc;

    if (e->waiting_bytes && e->waiting_bytes + len > e->cfg.max_pending_bytes)
        return LS_EBUSY;
    data = uio_alloc(len);
    b = calloc(1, sizeof(*b));
    if (!b || !data) {
        free(b);
        uio_free(data);
        return -ENOMEM;
    }
    if (e->sm.nfree < n + compact_reserve(e, r->type)) {
        rc = compact_space_error(e);
    } else if ((rc = eng_seq_next(e, &seq)) == 0 && (g = seg_alloc_run(&e->sm, n)) < 0) {
        /* enough free segments, none n in a row: compaction frees a window */
        rc = g == LS_ENOSPACE ? compact_want_run(e, n) : (int)g;
    }
    if (rc < 0) {
        uio_free(data);
        free(b);
        return rc;
    }
    compact_run_taken(e);
    if (e->user.cur_seg >= 0) {
        seg_close(&e->sm, (uint32_t)e->user.cur_seg);
        e->user.cur_seg = -1;
    }
    for (uint32_t k = 1; k < n; k++)
        seg_use(&e->sm, (uint32_t)(g + k), seq, SEG_CONT, 0);
    seg_use(&e->sm, (uint32_t)g, seq, SEG_FULL, 0);
    e->sm.d[g].run = (uint16_t)n;
    e->sm.d[g].mem_bufs++;
    seg_hist_update(&e->sm, (uint32_t)g); /* a run is not listed */
    *b = (struct wbuf){.e = e,
                       .st = &e->user,
                       .data = data,
                       .large = 1,
                       .addr = (uint64_t)g * seg_size,
                       .cap = len,
                       .used = BUF_HDR_SIZE,
                       .seg_no = (uint32_t)g,
                       .seg_seq = seq,
                       .ordered = r->ordered,
                       .state = WB_ACTIVE};
    rc = place(e, b, r, size, cb, arg);
    if (rc < 0) {
        /* The run stays allocated but empty; it is reclaimed like any dead segment. */
        uio_free(b->data);
        free(b->ops);
        free(b);
        return rc;
    }
    seal(e, b, BUF_LARGE);
    return 0;
}

/* Before an ordered write goes into the user stream: the cold stream's records, written
 * before it, get a buffer sealed (so numbered) ahead of the one it goes into. */
static void order_before(struct ls_engine *e)
{
    if (e->ucold.active && e->ucold.active->count)
        seal_active(e, &e->ucold);
}

int wbuf_append(struct ls_engine *e, const struct wrec *r, ls_write_cb cb, void *arg)
{
    uint32_t size = rec_size(r->key_len, r->value_len);
    struct stream *st = &e->user;
    int rc;

    if (e->failed)
        return LS_EFAILED;
    if (r->ordered)
        order_before(e);
    if (BUF_HDR_SIZE + size > e->cfg.write_buffer_size) {
        seal_active(e, &e->user);
        rc = append_large(e, r, size, cb, arg);
    } else {
        if (r->type == REC_PUT && !r->ordered &&
            compact_predict_cold(e, r->table, r->token, r->hash2))
            st = &e->ucold;
        if (st->active && st->active->used + size > st->active->cap)
            seal_active(e, st);
        if (!st->active && (rc = open_active(e, st, size, r->type)) < 0)
            return rc;
        rc = place(e, st->active, r, size, cb, arg);
        if (rc == 0 && r->ordered) {
            st->active->ordered = 1;
            st->active->ordered_end = st->active->used;
        }
    }
    if (rc < 0)
        return rc;
    if (r->ordered)
        e->st.ordered_writes++;
    e->gc_recs++;
    if (e->cfg.durability == LS_SYNC || !st->active) {
        eng_want_flush(e);
    }
    return 0;
}

int wbuf_append_batch(struct ls_engine *e, const struct wrec *r, uint32_t n, uint32_t total,
                      ls_write_cb cb, void *arg)
{
    struct stream *st = &e->user;
    struct wbuf *b;
    uint8_t ordered = 0;
    int rc;

    if (e->failed)
        return LS_EFAILED;
    for (uint32_t i = 0; i < n && !ordered; i++)
        ordered = r[i].ordered;
    if (ordered)
        order_before(e);
    if (st->active && st->active->used + total > st->active->cap)
        seal_active(e, st);
    if (!st->active && (rc = open_active(e, st, total, REC_PUT)) < 0)
        return rc;
    b = st->active;
    if ((rc = reserve_ops(b, n)) < 0) /* no allocation between the members */
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        rc =
            place(e, b, &r[i], rec_size(r[i].key_len, r[i].value_len), i + 1 == n ? cb : NULL, arg);
        if (rc < 0 && i == 0)
            return rc;
        if (rc < 0) { /* members are in the index: fail them all, as a device error would */
            eng_fail(e, rc, "a batch could not be placed");
            return LS_EFAILED;
        }
    }
    if (ordered) {
        b->ordered = 1;
        b->ordered_end = b->used;
        e->st.ordered_writes++;
    }
    e->gc_recs += n;
    if (e->cfg.durability == LS_SYNC) {
        eng_want_flush(e);
    }
    return 0;
}

int64_t wbuf_copy(struct ls_engine *e, struct stream *st, const struct rec_hdr *h, const void *key,
                  const void *value, uint64_t token, uint32_t hash2, uint64_t old_loc)
{
    uint32_t size = rec_size(h->key_len, h->value_len);
    uint8_t kind = h->type & (uint8_t)~REC_VTAG_MASK; /* h->type keeps a PUT's tag */
    struct wbuf *b;
    struct wop *op;
    uint64_t addr;
    int rc;

    if (e->failed)
        return LS_EFAILED;
    if (BUF_HDR_SIZE + size > e->cfg.write_buffer_size)
        return LS_ETOOBIG; /* large runs are not copied */
    if (st->active && st->active->used + size > st->active->cap)
        seal_active(e, st);
    if (!st->active && (rc = open_active(e, st, size, kind)) < 0)
        return rc;
    b = st->active;
    if ((rc = reserve_op(b)) < 0)
        return rc;
    addr = b->addr + b->used;
    rec_encode(b->data + b->used, h, key, value, rec_seed(e->seed, b->seg_seq));
    seg_note_record(&e->sm.d[b->seg_no], kind, size, h->rseq, h->expire_ms);
    op = &b->ops[b->nops++];
    *op = (struct wop){.token = token,
                       .hash2 = hash2,
                       .table = h->table,
                       .type = WOP_COPY,
                       .order = ++e->op_order,
                       .new_loc = kind == REC_PUT ? idx_make_loc(addr, size) : 0};
    op->old.loc = old_loc;
    if (b->count++ == 0)
        b->first_rseq = h->rseq;
    b->used += size;
    e->group_bytes += size;
    return kind == REC_PUT ? (int64_t)op->new_loc : 1;
}

uint64_t wbuf_group_bytes(const struct ls_engine *e)
{
    return e->group_bytes;
}

int wbuf_barrier(struct ls_engine *e, ls_write_cb cb, void *arg)
{
    struct barrier *br, **p;

    if (e->user.active && e->user.active->count)
        seal_active(e, &e->user);
    if (e->ucold.active && e->ucold.active->count)
        seal_active(e, &e->ucold);
    wbuf_kick(e);
    if (e->acked_gen >= e->gen) {
        eng_defer_ack(e, cb, arg, e->failed ? LS_EFAILED : 0, 0);
        return 0;
    }
    br = malloc(sizeof(*br));
    if (!br)
        return -ENOMEM;
    *br = (struct barrier){.gen = e->gen, .cb = cb, .arg = arg};
    for (p = &e->barriers; *p; p = &(*p)->next)
        ;
    *p = br;
    return 0;
}

static int in_buf(const struct wbuf *b, uint64_t addr, uint32_t size)
{
    return addr >= b->addr + BUF_HDR_SIZE && addr + size <= b->addr + b->used;
}

const uint8_t *wbuf_peek_mem(const struct ls_engine *e, uint64_t addr, uint32_t size)
{
    const struct seg_desc *d = &e->sm.d[seg_of(&e->sm, addr)];
    const struct wbuf *hit = NULL, *ga;

    if (!d->mem_bufs)
        return NULL;
    if (e->user.active && in_buf(e->user.active, addr, size))
        hit = e->user.active;
    if (!hit && e->ucold.active && in_buf(e->ucold.active, addr, size))
        hit = e->ucold.active;
    for (int i = 0; i < 2 && !hit; i++)
        if (e->spill[i].active && in_buf(e->spill[i].active, addr, size))
            hit = e->spill[i].active;
    if (!hit && d->group && d->group <= e->nstreams && (ga = e->gs[d->group - 1].active) &&
        in_buf(ga, addr, size))
        hit = ga;
    for (const struct wbuf *b = e->fifo_head; b && !hit; b = b->next)
        if (in_buf(b, addr, size))
            hit = b;
    return hit ? hit->data + (addr - hit->addr) : NULL;
}

int wbuf_read_mem(struct ls_engine *e, uint64_t addr, uint32_t size, uint8_t *dst)
{
    const uint8_t *p = wbuf_peek_mem(e, addr, size);
    if (p)
        memcpy(dst, p, size);
    return p != NULL;
}

void wbuf_free_all(struct ls_engine *e)
{
    struct wbuf *b;

    while ((b = e->free_bufs)) {
        e->free_bufs = b->next;
        uio_free(b->data);
        free(b->ops);
        free(b);
    }
    free(e->acks);
    e->acks = NULL;
    e->nacks = e->capacks = 0;
}
