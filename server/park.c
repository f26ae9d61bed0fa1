/*
 * park.c - the server's list of parked writes (see park.h for the contract).
 *
 * One list for the whole server, in the order writes were parked. A parked write is a
 * copy of its arguments (key and value, so the caller's buffers may go: an INCR's
 * computed value lives on its callback's stack) and the request and callback it belongs
 * to. park_expire fails from the head, since the head waited longest.
 *
 * Retry order. park_retry offers the parked writes to the engine from the head. A write
 * the engine still refuses does not stop the pass (it used to: small writes queued behind
 * a large one that needs a run of free segments waited the whole busy_timeout_ms and
 * failed busy while the engine took small writes, issue 11 item 20). Later writes may
 * overtake it, except:
 *   - a connection's writes keep their order: once one of its writes is refused in a pass
 *     (conn.park_pass), its later ones wait for the next pass;
 *   - writes of different connections overtaking each other cannot reorder writes of one
 *     key: a parked write keeps its request's locks (lockset.c) until it is submitted, so
 *     no other command's write of that key, or flush of its database, exists yet;
 *   - priority: a write refused during its first PARK_PRIORITY_MS (at most a quarter of
 *     busy_timeout_ms) ends the pass, and while the head is that young new writes park
 *     behind it without asking the engine. If it was refused for want of room in the write
 *     backlog, that room then frees for it rather than for a stream of smaller writes;
 *     if it was refused for a reason waiting does not cure (a run of free segments), the
 *     others are held back for that short time only;
 *   - a write no smaller than one already refused in the pass is not offered (it would be
 *     refused too), so a pass costs few refused calls.
 *
 * Counters: s->parked counts the list, c->nparked a connection's writes in it (while it
 * is nonzero the connection starts no command, conn_may_start), r->nparked a request's
 * (while it is nonzero req_unlock keeps its locks). All three drop before the
 * callback of a write that ends here runs, so a callback that completes its request
 * sees no parked write left on it.
 *
 * Limits: a parked write belongs to a request in flight, so their number is bounded by
 * max_inflight per connection (times the writes of one MSET/DEL/FLUSHALL), and each copy
 * by max_key_size + max_value_size; the wait by busy_timeout_ms.
 */
#include "park.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "conn.h"
#include "large.h"
#include "log.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"

#define PARK_PRIORITY_MS 1000

enum park_kind { PARK_PUT = 0, PARK_DEL = 1, PARK_FLUSH = 2, PARK_BATCH = 3 };

struct park_op {
    struct park_op *next;
    struct req *r;
    ls_write_cb cb;
    uint64_t since_ms; /* monotonic time it was parked */
    struct ls_write_opts opts;
    uint32_t table;
    enum park_kind kind;
    uint32_t klen;
    size_t vlen;
    char data[]; /* the key, then the value */
};

static int park_submit(struct server *s, struct park_op *op)
{
    const char *k = op->data;
    switch (op->kind) {
    case PARK_PUT:
        return ls_put(s->eng, op->table, k, op->klen, k + op->klen, op->vlen, &op->opts, op->cb,
                      op->r);
    case PARK_DEL:
        return ls_del(s->eng, op->table, k, op->klen, op->cb, op->r);
    case PARK_FLUSH:
        return ls_flush_table(s->eng, op->table, op->cb, op->r);
    case PARK_BATCH: /* data: the ops (pointing into data), then their bytes */
        return ls_write_batch(s->eng, (const struct ls_batch_op *)(void *)op->data, op->table,
                              op->cb, op->r);
    }
    return -EINVAL;
}

/* Appends op, a write of r, to the list. */
static void park_link(struct server *s, struct req *r, struct park_op *op)
{
    if (s->park_tail)
        s->park_tail->next = op;
    else
        s->park_head = op;
    s->park_tail = op;
    s->parked++;
    s->stats.busy_parked++;
    r->nparked++;
    r->c->nparked++;
}

/* Appends a copy of the write to the list. Returns 0 or -ENOMEM. */
static int park_add(struct req *r, enum park_kind kind, uint32_t table, const struct resp_arg *key,
                    const void *v, size_t n, const struct ls_write_opts *opts, ls_write_cb cb)
{
    struct conn *c = r->c;
    struct server *s = c->srv;
    size_t klen = key ? key->len : 0;
    struct park_op *op = malloc(sizeof(*op) + klen + n);
    if (op == NULL)
        return -ENOMEM;
    memset(op, 0, sizeof(*op));
    op->r = r;
    op->cb = cb;
    op->since_ms = server_mono_ms();
    if (opts)
        op->opts = *opts;
    op->table = table;
    op->kind = kind;
    op->klen = (uint32_t)klen;
    op->vlen = n;
    if (klen)
        memcpy(op->data, key->ptr, klen);
    if (n)
        memcpy(op->data + klen, v, n);
    park_link(s, r, op);
    return 0;
}

/* Parks a batch: a copy of ops[0..n) whose keys and values point into the copy. */
static int park_add_batch(struct req *r, const struct ls_batch_op *ops, uint32_t n, ls_write_cb cb)
{
    struct conn *c = r->c;
    struct server *s = c->srv;
    size_t bytes = (size_t)n * sizeof(*ops);
    for (uint32_t i = 0; i < n; i++)
        bytes += ops[i].key_len + (ops[i].del ? 0 : ops[i].value_len);
    struct park_op *op = calloc(1, sizeof(*op) + bytes);
    if (op == NULL)
        return -ENOMEM;
    struct ls_batch_op *copy = (struct ls_batch_op *)(void *)op->data;
    char *p = op->data + (size_t)n * sizeof(*ops);
    for (uint32_t i = 0; i < n; i++) {
        copy[i] = ops[i];
        memcpy(p, ops[i].key, ops[i].key_len);
        copy[i].key = p;
        p += ops[i].key_len;
        if (!ops[i].del) {
            memcpy(p, ops[i].value, ops[i].value_len);
            copy[i].value = p;
            p += ops[i].value_len;
        }
    }
    op->r = r;
    op->cb = cb;
    op->since_ms = server_mono_ms();
    op->table = n; /* the op count */
    op->kind = PARK_BATCH;
    op->vlen = bytes;
    park_link(s, r, op);
    return 0;
}

/* Whether a write refused with rc should wait: busy, and waiting is enabled. */
static int park_wanted(const struct req *r, int rc)
{
    return rc == LS_EBUSY && r->c->srv->cfg.busy_timeout_ms > 0;
}

/* Whether op, refused, still has priority over the writes behind it (see above). */
static int park_has_priority(const struct server *s, const struct park_op *op, uint64_t now)
{
    uint64_t window = s->cfg.busy_timeout_ms / 4;
    if (window > PARK_PRIORITY_MS)
        window = PARK_PRIORITY_MS;
    return now - op->since_ms < window;
}

/* Whether a new write of r may be offered to the engine now: not while an earlier write
 * of its connection is parked, nor while the oldest parked write has priority. */
static int park_may_submit(const struct req *r)
{
    const struct server *s = r->c->srv;
    return r->c->nparked == 0 &&
           (s->park_head == NULL || !park_has_priority(s, s->park_head, server_mono_ms()));
}

int park_put(struct req *r, uint32_t table, const struct resp_arg *key, const void *v, size_t n,
             const struct ls_write_opts *opts, ls_write_cb cb)
{
    struct ls_write_opts o;
    if (opts && !opts->ordered && large_is_root(opts->vtype, v, n)) {
        o = *opts; /* a large collection's root copied (RENAME, MOVE, EXPIRE): its pages may
                      still be in flight behind an ordered write (ls_write_opts.ordered) */
        o.ordered = 1;
        opts = &o;
    }
    /* a blocked XREADGROUP learns that its stream was replaced (Redis: UNBLOCKED), inside
     * EXEC too (run after it, deferred); other blocked commands run again and wait on */
    block_signal(r->c->srv, table, key->ptr, key->len);
    int tw = txn_write(r, table, key, v, n, opts, 0, cb); /* inside EXEC: its overlay */
    if (tw != 1)
        return tw;
    txn_touch(r->c->srv, table, key->ptr, key->len); /* WATCH: a write was decided */
    tracking_invalidate(r, key->ptr, key->len);      /* CLIENT TRACKING */
    if (park_may_submit(r)) {
        int rc = ls_put(r->c->srv->eng, table, key->ptr, key->len, v, n, opts, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    }
    return park_add(r, PARK_PUT, table, key, v, n, opts, cb);
}

int park_del(struct req *r, uint32_t table, const struct resp_arg *key, ls_write_cb cb)
{
    struct ls_engine *e = r->c->srv->eng;
    block_signal(r->c->srv, table, key->ptr, key->len);      /* a blocked XREADGROUP: UNBLOCKED */
    int tw = txn_write(r, table, key, NULL, 0, NULL, 1, cb); /* inside EXEC: its overlay */
    if (tw != 1)
        return tw;
    txn_touch(r->c->srv, table, key->ptr, key->len); /* absent or not: no harm */
    struct ls_meta m;
    if (tracking_on(r->c->srv) && ls_lookup(e, table, key->ptr, key->len, &m) != LS_ENOTFOUND)
        tracking_invalidate(r, key->ptr, key->len); /* Redis: only a key that existed */
    if (park_may_submit(r)) {
        int rc = ls_del(e, table, key->ptr, key->len, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    } else {
        /* Queued behind an earlier write without asking the engine: answer an absent key
         * now, as ls_del would, so DEL counts only keys that exist. */
        if (ls_lookup(e, table, key->ptr, key->len, &m) == LS_ENOTFOUND)
            return LS_ENOTFOUND;
    }
    return park_add(r, PARK_DEL, table, key, NULL, 0, NULL, cb);
}

int park_batch(struct req *r, const struct ls_batch_op *ops, uint32_t n, ls_write_cb cb)
{
    struct ls_batch_op *copy = NULL; /* a large root copied: the batch ordered (park_put) */
    for (uint32_t i = 0; i < n && copy == NULL; i++)
        if (!ops[i].del && !ops[i].opts.ordered &&
            large_is_root(ops[i].opts.vtype, ops[i].value, ops[i].value_len)) {
            if ((copy = malloc(n * sizeof(*copy))) == NULL)
                return -ENOMEM;
            memcpy(copy, ops, n * sizeof(*copy));
            for (uint32_t j = 0; j < n; j++)
                copy[j].opts.ordered = 1;
        }
    if (copy) {
        int rc = park_batch(r, copy, n, cb);
        free(copy);
        return rc;
    }
    /* Too large for one batch: the caller writes the ops one by one. Asked here, not only
     * by ls_write_batch, since a parked batch is measured only when resubmitted, where the
     * caller's fallback no longer runs (diff_redis, backpressure_sync, seed 14987632). */
    if (ls_batch_bytes(ops, n) > ls_batch_max_bytes(r->c->srv->eng))
        return LS_ETOOBIG;
    for (uint32_t i = 0; i < n; i++) /* RENAME's, MOVE's source too (park_put) */
        block_signal(r->c->srv, ops[i].table, ops[i].key, ops[i].key_len);
    if (park_may_submit(r)) {
        int rc = ls_write_batch(r->c->srv->eng, ops, n, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    }
    return park_add_batch(r, ops, n, cb);
}

int park_flush(struct req *r, uint32_t table, ls_write_cb cb)
{
    txn_touch_db(r->c->srv, table); /* WATCH: the keys that exist now are deleted */
    if (park_may_submit(r)) {
        int rc = ls_flush_table(r->c->srv->eng, table, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    }
    return park_add(r, PARK_FLUSH, table, NULL, NULL, 0, NULL, cb);
}

/* Takes op (after prev, NULL for the head) off the list: rc 0 means the engine accepted
 * it (its callback will run from ls_poll), anything else ends it here through its
 * callback. The callback and the locks it releases may park new writes (at the tail). */
static void park_finish(struct server *s, struct park_op *prev, struct park_op *op, int rc)
{
    s->root_moves++; /* a MOVE or RENAME decided earlier may reach the engine now (reaper.c) */
    struct req *r = op->r;
    struct conn *c = r->c;
    ls_write_cb cb = op->cb;
    if (prev)
        prev->next = op->next;
    else
        s->park_head = op->next;
    if (s->park_tail == op)
        s->park_tail = prev;
    free(op);
    s->parked--;
    r->nparked--;
    c->nparked--;
    if (rc == 0 && r->nparked == 0 && !r->writes_ahead)
        req_unlock(r); /* the write is submitted: later commands on the key may run */
    if (c->nparked == 0)
        conn_resume(c);
    if (rc != 0)
        cb(r, rc, 0); /* may complete and free r */
}

static size_t park_size(const struct park_op *op)
{
    return op->klen + op->vlen;
}

void park_retry(struct server *s)
{
    if (s->park_head == NULL)
        return; /* the common case, after every engine poll: no clock read for nothing */
    uint64_t pass = ++s->park_passes, now = server_mono_ms();
    size_t refused = SIZE_MAX; /* the smallest write refused in this pass */
    struct park_op *prev = NULL, *op = s->park_head;
    while (op) {
        struct park_op *next = op->next;
        struct conn *c = op->r->c;
        int behind = c->park_pass == pass; /* an earlier write of its connection waits */
        int rc = LS_EBUSY;
        if (!behind && park_size(op) < refused)
            rc = park_submit(s, op);
        if (rc != LS_EBUSY) {
            park_finish(s, prev, op, rc);
            op = next;
            continue;
        }
        c->park_pass = pass;
        if (!behind) { /* refused, or no smaller than a refused one */
            if (park_size(op) < refused)
                refused = park_size(op);
            if (park_has_priority(s, op, now))
                return;
        }
        prev = op;
        op = next;
    }
}

void park_expire(struct server *s, uint64_t now_ms)
{
    uint64_t n = 0;
    while (s->park_head && now_ms - s->park_head->since_ms >= s->cfg.busy_timeout_ms) {
        park_finish(s, NULL, s->park_head, LS_EBUSY);
        n++;
    }
    if (n) {
        s->stats.busy_timeouts += n;
        log_warning("%llu writes failed busy after waiting %llu ms for the engine to free space "
                    "(%llu still waiting)",
                    (unsigned long long)n, (unsigned long long)s->cfg.busy_timeout_ms,
                    (unsigned long long)s->parked);
    }
}

void park_fail_all(struct server *s, int rc)
{
    while (s->park_head)
        park_finish(s, NULL, s->park_head, rc);
}
