/*
 * coll_cmd.c - helpers of the collection commands (coll_cmd.h).
 */
#include "coll_cmd.h"
#include "large.h"

#include <limits.h>

#include "block.h"
#include "coll.h"
#include "park.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"

int coll_read_begin(struct req *r, int *rc)
{
    struct server *s = r->c->srv;
    if (*rc == SRV_EWRONGTYPE && r->block_woken)
        *rc = LS_ENOTFOUND; /* woken, the key holds another type now: wait on (Redis) */
    if (*rc != 0 && *rc != LS_ENOTFOUND) {
        reply_engine_error(r, *rc);
        req_done(r);
        return 1;
    }
    if (*rc == 0)
        s->stats.keyspace_hits++;
    else
        s->stats.keyspace_misses++;
    return 0;
}

void coll_decode_failed(struct req *r, int d, const char *what)
{
    if (d == -2)
        reply_error(r, "ERR out of memory");
    else
        reply_errorf(r, "ERR data corruption detected while reading the key (%s encoding)", what);
    req_done(r);
}

void coll_store(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                const void *enc, size_t len, uint8_t vtype, int cls, const char *event,
                enum cmd_reply_mode mode)
{
    if (it && large_part_store(r, key, it, enc, len, cls, event, mode))
        return; /* the buckets of a large hash or set the command named (large.c) */
    r->step = mode;
    if (len == 0) {
        if (it == NULL) { /* nothing was there, nothing is: no write */
            cmd_write_cb(r, 0, 0);
            return;
        }
        if (event)
            pubsub_notify(r, cls, event, key);
        int rc = park_del(r, r->db, key, cmd_write_cb);
        if (rc == 0) {
            pubsub_notify(r, NOTIFY_GENERIC, "del", key);
            req_unlock(r);
        } else {
            cmd_write_cb(r, rc == LS_ENOTFOUND ? 0 : rc, 0);
        }
        return;
    }
    if (large_needed(r->c->srv, vtype, enc, len)) { /* large.c: pages, then the root */
        if (it == NULL)
            pubsub_notify(r, NOTIFY_NEW, "new", key);
        if (event)
            pubsub_notify(r, cls, event, key);
        block_signal(r->c->srv, r->db, key->ptr, key->len);
        struct large_put p = {
            r->db,
            key,
            enc,
            len,
            {.expire_ms = it ? it->expire_ms : 0, .flags = it ? it->flags : 0, .vtype = vtype}};
        large_write(r, &p, 1, cmd_write_cb);
        return;
    }
    if (it == NULL)
        pubsub_arm(r, NOTIFY_NEW, "new");
    if (event)
        pubsub_arm(r, cls, event);
    if (vtype == COLL_LIST || vtype == COLL_ZSET) /* a BLPOP, BZPOPMIN on it may go on */
        block_signal(r->c->srv, r->db, key->ptr, key->len);
    cmd_put_typed(r, key, enc, len, it ? it->expire_ms : 0, it ? it->flags : 0, vtype, mode);
}

void coll_store_dest(struct req *r, const struct resp_arg *key, const void *enc, size_t len,
                     uint8_t vtype, int cls, const char *event)
{
    r->step = CMD_REPLY_NUM;
    if (len && large_needed(r->c->srv, vtype, enc, len)) {
        pubsub_notify(r, cls, event, key);
        block_signal(r->c->srv, r->db, key->ptr, key->len);
        struct large_put p = {r->db, key, enc, len, {.vtype = vtype}};
        large_write(r, &p, 1, cmd_write_cb);
        return;
    }
    if (len) {
        pubsub_arm(r, cls, event);
        if (vtype == COLL_LIST || vtype == COLL_ZSET)
            block_signal(r->c->srv, r->db, key->ptr, key->len);
        cmd_put_typed(r, key, enc, len, 0, 0, vtype, CMD_REPLY_NUM);
        return;
    }
    int rc = park_del(r, r->db, key, cmd_write_cb);
    if (rc == 0) {
        pubsub_notify(r, NOTIFY_GENERIC, "del", key);
        req_unlock(r);
    } else {
        cmd_write_cb(r, rc == LS_ENOTFOUND ? 0 : rc, 0);
    }
}

static void first_of_pair(void *arg, int rc, uint64_t cas)
{
    (void)arg, (void)rc, (void)cas; /* the second write's callback replies */
}

void coll_write_pair(struct req *r, const struct resp_arg *dk, const void *dv, size_t dn,
                     const struct ls_write_opts *dopt, const struct resp_arg *sk, const void *sv,
                     size_t sn, const struct ls_write_opts *sopt, ls_write_cb done)
{
    if (large_needed(r->c->srv, dopt->vtype, dv, dn) ||
        (sn && large_needed(r->c->srv, sopt->vtype, sv, sn))) { /* large.c */
        struct large_put p[2] = {{r->db, dk, dv, dn, *dopt}, {r->db, sk, sv, sn, *sopt}};
        large_write(r, p, 2, done);
        return;
    }
    struct ls_batch_op ops[2] = {{.table = r->db,
                                  .key = dk->ptr,
                                  .key_len = dk->len,
                                  .value = dv,
                                  .value_len = dn,
                                  .opts = *dopt},
                                 {.del = sn == 0,
                                  .table = r->db,
                                  .key = sk->ptr,
                                  .key_len = sk->len,
                                  .value = sv,
                                  .value_len = sn,
                                  .opts = *sopt}};
    if (!txn_batching(r)) { /* as park_put and park_del would: WATCH, CLIENT TRACKING */
        txn_touch(r->c->srv, r->db, dk->ptr, dk->len);
        txn_touch(r->c->srv, r->db, sk->ptr, sk->len);
        tracking_invalidate(r, dk->ptr, dk->len);
        tracking_invalidate(r, sk->ptr, sk->len);
    }
    int rc = txn_batching(r) ? LS_ETOOBIG : park_batch(r, ops, 2, done);
    if (rc == LS_ETOOBIG) {
        rc = park_put(r, r->db, dk, dv, dn, dopt, first_of_pair);
        if (rc == 0)
            rc = sn ? park_put(r, r->db, sk, sv, sn, sopt, done) : park_del(r, r->db, sk, done);
    }
    if (rc == 0)
        req_unlock(r);
    else
        done(r, rc == LS_ENOTFOUND ? 0 : rc, 0);
}

int coll_numkeys(struct req *r, uint32_t at, const char *msg_bad, const char *msg_over,
                 long long *n)
{
    if (cmd_arg_ll(&r->argv[at], n) < 0 || *n < 1) {
        reply_error(r, msg_bad);
        req_done(r);
        return -1;
    }
    if ((uint64_t)*n > r->argc - at - 1) {
        reply_error(r, msg_over);
        req_done(r);
        return -1;
    }
    return 0;
}

int coll_mpop_args(struct req *r, uint32_t at, const char *a, const char *b, long long *nk,
                   int *is_b, long long *count)
{
    *count = 1;
    if (coll_numkeys(r, at, ERR_NUMKEYS, ERR_NUMKEYS_OVER, nk) < 0)
        return -1;
    uint32_t where = at + 1 + (uint32_t)*nk;
    *is_b = where < r->argc && cmd_arg_is(&r->argv[where], b);
    const char *err = NULL;
    if (where >= r->argc || (!*is_b && !cmd_arg_is(&r->argv[where], a)))
        err = ERR_SYNTAX;
    else if (where + 1 < r->argc &&
             (where + 3 != r->argc || !cmd_arg_is(&r->argv[where + 1], "count")))
        err = ERR_SYNTAX;
    else if (where + 1 < r->argc && (cmd_arg_ll(&r->argv[where + 2], count) < 0 || *count <= 0))
        err = "ERR count should be greater than 0";
    if (err) {
        reply_error(r, err);
        req_done(r);
        return -1;
    }
    return 0;
}

int coll_randcount_args(struct req *r, const char *with)
{
    long long count = 0;
    const char *err = NULL;
    if (r->argc > 4 || (r->argc == 4 && !cmd_arg_is(&r->argv[3], with)))
        err = ERR_SYNTAX;
    else if (r->argc >= 3 && cmd_arg_ll(&r->argv[2], &count) < 0)
        err = ERR_NOT_INT;
    else if (count < -(LLONG_MAX / 2) || count > LLONG_MAX / 2)
        err = "ERR value is out of range"; /* Redis 7.0: its doubled reply would overflow */
    if (err) {
        reply_error(r, err);
        req_done(r);
        return -1;
    }
    r->num = count;
    return 0;
}

uint64_t coll_rand(void)
{
    static uint64_t x;
    if (x == 0)
        x = server_unix_ms() * UINT64_C(0x9E3779B97F4A7C15) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}
