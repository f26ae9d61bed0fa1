/*
 * park.c - the server's list of parked writes (see park.h for the contract).
 *
 * One FIFO for the whole server, in the order writes were parked. A parked write is a
 * copy of its arguments (key and value, so the caller's buffers may go: an INCR's
 * computed value lives on its callback's stack) and the request and callback it belongs
 * to. park_retry submits from the head and stops at the first write the engine still
 * refuses: the writes parked first get the space the engine frees first, the pass costs
 * one refused call, and two parked writes of one connection can never be submitted out
 * of order. park_expire fails from the head too, since the head waited longest.
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

#include "conn.h"
#include "log.h"
#include "server.h"

enum park_kind { PARK_PUT = 0, PARK_DEL = 1, PARK_FLUSH = 2 };

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
    }
    return -EINVAL;
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
    if (s->park_tail)
        s->park_tail->next = op;
    else
        s->park_head = op;
    s->park_tail = op;
    s->parked++;
    s->stats.busy_parked++;
    r->nparked++;
    c->nparked++;
    return 0;
}

/* Whether a write refused with rc should wait: busy, and waiting is enabled. */
static int park_wanted(const struct req *r, int rc)
{
    return rc == LS_EBUSY && r->c->srv->cfg.busy_timeout_ms > 0;
}

int park_put(struct req *r, uint32_t table, const struct resp_arg *key, const void *v, size_t n,
             const struct ls_write_opts *opts, ls_write_cb cb)
{
    if (r->c->nparked == 0) {
        int rc = ls_put(r->c->srv->eng, table, key->ptr, key->len, v, n, opts, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    }
    return park_add(r, PARK_PUT, table, key, v, n, opts, cb);
}

int park_del(struct req *r, uint32_t table, const struct resp_arg *key, ls_write_cb cb)
{
    struct ls_engine *e = r->c->srv->eng;
    if (r->c->nparked == 0) {
        int rc = ls_del(e, table, key->ptr, key->len, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    } else {
        /* Queued behind an earlier write without asking the engine: answer an absent key
         * now, as ls_del would, so DEL counts only keys that exist. */
        struct ls_meta m;
        if (ls_lookup(e, table, key->ptr, key->len, &m) == LS_ENOTFOUND)
            return LS_ENOTFOUND;
    }
    return park_add(r, PARK_DEL, table, key, NULL, 0, NULL, cb);
}

int park_flush(struct req *r, uint32_t table, ls_write_cb cb)
{
    if (r->c->nparked == 0) {
        int rc = ls_flush_table(r->c->srv->eng, table, cb, r);
        if (!park_wanted(r, rc))
            return rc;
    }
    return park_add(r, PARK_FLUSH, table, NULL, NULL, 0, NULL, cb);
}

/* Takes the head write off the list: rc 0 means the engine accepted it (its callback will
 * run from ls_poll), anything else ends it here through its callback. */
static void park_finish(struct server *s, int rc)
{
    struct park_op *op = s->park_head;
    struct req *r = op->r;
    struct conn *c = r->c;
    ls_write_cb cb = op->cb;
    s->park_head = op->next;
    if (s->park_head == NULL)
        s->park_tail = NULL;
    free(op);
    s->parked--;
    r->nparked--;
    c->nparked--;
    if (rc == 0 && r->nparked == 0)
        req_unlock(r); /* the write is submitted: later commands on the key may run */
    if (c->nparked == 0)
        conn_resume(c);
    if (rc != 0)
        cb(r, rc, 0); /* may complete and free r */
}

void park_retry(struct server *s)
{
    while (s->park_head) {
        int rc = park_submit(s, s->park_head);
        if (rc == LS_EBUSY)
            return;
        park_finish(s, rc);
    }
}

void park_expire(struct server *s, uint64_t now_ms)
{
    uint64_t n = 0;
    while (s->park_head && now_ms - s->park_head->since_ms >= s->cfg.busy_timeout_ms) {
        park_finish(s, LS_EBUSY);
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
        park_finish(s, rc);
}
