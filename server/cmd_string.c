/*
 * cmd_string.c - the Redis string commands over the asynchronous engine.
 *
 * Every command runs under the concurrency rule (lockset.c): it holds the locks of its
 * keys, exclusive when it writes, from before its first read until its writes are
 * accepted by the engine (cmd_put calls req_unlock once the put is submitted; a parked
 * put keeps them). So:
 *   plain reads and writes (GET, SET, MSET, ...) submit to the engine and reply from the
 *     callback; the engine makes a submitted write visible to every later read;
 *   decisions on existence (SET NX/XX, SETNX, MSETNX, KEEPTTL) ask ls_lookup and then put:
 *     no other command on the key can run between the test and the write's submission,
 *     even when the put waits in park.c (issue 11 item 9: both racers of a SET NX got OK);
 *   read-modify-write commands (INCR, APPEND, SETRANGE, GETSET, SET ... GET, GETDEL,
 *     GETEX with options) read, compute and write under the key's exclusive lock, so they
 *     are atomic per key.
 * Every RMW keeps the item's flags, and its expiry unless the command changes it (Redis:
 * INCR and APPEND keep the TTL; SET and GETSET clear it). MGET reads through mget.c's
 * bounded window and builds its reply in key order as the values arrive.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "mget.h"
#include "park.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "txn.h"

#define SET_NX      0x01
#define SET_XX      0x02
#define SET_GET     0x04
#define SET_KEEPTTL 0x08
#define SET_EXPIRE  0x10

static int lookup_live(struct req *r, const struct resp_arg *k, struct ls_meta *m)
{
    return txn_lookup(r, r->db, k, m) == 0;
}

static void count_hit(struct req *r, int rc)
{
    if (rc == 0)
        r->c->srv->stats.keyspace_hits++;
    else if (rc == LS_ENOTFOUND)
        r->c->srv->stats.keyspace_misses++;
}

/* A read callback's first step: when rc is a real error (neither 0 nor LS_ENOTFOUND),
 * ends r with that error and returns 1, so the callback returns at once. */
static int read_failed(struct req *r, int rc)
{
    if (rc == 0 || rc == LS_ENOTFOUND)
        return 0;
    reply_engine_error(r, rc);
    req_done(r);
    return 1;
}

static void get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    count_hit(r, rc);
    if (rc == 0)
        reply_bulk(r, it->value, it->value_len);
    else if (rc == LS_ENOTFOUND)
        reply_null(r);
    else
        reply_engine_error(r, rc);
    req_done(r);
}

void cmd_string_get(struct req *r)
{
    cmd_get(r, &r->argv[1], get_cb);
}

/* ---- SET ---- */

/* Parses the options of SET (from argv[3]) or GETEX (from argv[2]) as Redis does: every
 * option first (a repeated one is fine, the last value wins; conflicting ones, or an
 * option of the other command, are a syntax error), the expire value only after, by the
 * caller (set_expire). Sets r->num to the flags, the expire kind (SET_EX..) shifted by
 * SET_KIND_SHIFT and the index of its value shifted by SET_ARG_SHIFT. */
#define SET_PERSIST    0x20
#define SET_KIND_SHIFT 8
#define SET_ARG_SHIFT  16
enum { KIND_EX = 1, KIND_PX, KIND_EXAT, KIND_PXAT };

static int expire_kind(const struct resp_arg *a)
{
    return cmd_arg_is(a, "ex")     ? KIND_EX
           : cmd_arg_is(a, "px")   ? KIND_PX
           : cmd_arg_is(a, "exat") ? KIND_EXAT
           : cmd_arg_is(a, "pxat") ? KIND_PXAT
                                   : 0;
}

static int xopts_parse(struct req *r, uint32_t from, int getex)
{
    int64_t fl = 0;
    int kind = 0;
    uint32_t arg = 0;
    for (uint32_t i = from; i < r->argc; i++) {
        const struct resp_arg *a = &r->argv[i];
        int k = expire_kind(a);
        if (!getex && cmd_arg_is(a, "nx") && !(fl & SET_XX)) {
            fl |= SET_NX;
        } else if (!getex && cmd_arg_is(a, "xx") && !(fl & SET_NX)) {
            fl |= SET_XX;
        } else if (!getex && cmd_arg_is(a, "get")) {
            fl |= SET_GET;
        } else if (!getex && cmd_arg_is(a, "keepttl") && !kind) {
            fl |= SET_KEEPTTL;
        } else if (getex && cmd_arg_is(a, "persist") && !kind) {
            fl |= SET_PERSIST;
        } else if (k && !(fl & (SET_KEEPTTL | SET_PERSIST)) && (!kind || kind == k) &&
                   i + 1 < r->argc) {
            kind = k;
            arg = ++i;
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    r->num = fl | (kind ? SET_EXPIRE : 0) | ((int64_t)kind << SET_KIND_SHIFT) |
             ((int64_t)arg << SET_ARG_SHIFT);
    return 0;
}

/* The expire value the options named, checked now (Redis checks it after the options,
 * and GETEX only once the key is found). Replies and returns -1 on error. */
static int set_expire(struct req *r, const char *name)
{
    int kind = (int)((r->num >> SET_KIND_SHIFT) & 0xff);
    uint32_t arg = (uint32_t)(r->num >> SET_ARG_SHIFT);
    r->expire_ms = 0;
    if (!kind)
        return 0;
    return cmd_expire_arg(r, &r->argv[arg], kind == KIND_PX || kind == KIND_PXAT ? 1 : 1000,
                          kind >= KIND_EXAT, name, &r->expire_ms);
}

static int set_parse(struct req *r)
{
    return xopts_parse(r, 3, 0) < 0 || set_expire(r, "set") < 0 ? -1 : 0;
}

/* SET's keyspace events (Redis's order): new (when created), set, expire (with an
 * expiry option). */
static void set_arm(struct req *r, int created)
{
    if (created)
        pubsub_arm(r, NOTIFY_NEW, "new");
    pubsub_arm(r, NOTIFY_STRING, "set");
    if (r->expire_ms)
        pubsub_arm(r, NOTIFY_GENERIC, "expire");
}

static void set_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    cmd_tmp_bulk(r, rc == 0 ? it->value : NULL, rc == 0 ? it->value_len : 0);
    if (((r->num & SET_NX) && rc == 0) || ((r->num & SET_XX) && rc != 0)) {
        reply_tmp(r);
        req_done(r);
        return;
    }
    uint64_t exp = r->expire_ms;
    if ((r->num & SET_KEEPTTL) && rc == 0)
        exp = it->expire_ms;
    set_arm(r, rc != 0);
    cmd_put(r, &r->argv[1], r->argv[2].ptr, r->argv[2].len, exp, 0, CMD_REPLY_TMP);
}

void cmd_string_set(struct req *r)
{
    if (set_parse(r) < 0) {
        req_done(r);
        return;
    }
    if (r->num & SET_GET) {
        cmd_get(r, &r->argv[1], set_get_cb);
        return;
    }
    uint64_t exp = r->expire_ms;
    if (r->num & (SET_NX | SET_XX | SET_KEEPTTL)) {
        struct ls_meta m;
        int exists = lookup_live(r, &r->argv[1], &m);
        if (((r->num & SET_NX) && exists) || ((r->num & SET_XX) && !exists)) {
            reply_null(r);
            req_done(r);
            return;
        }
        if ((r->num & SET_KEEPTTL) && exists)
            exp = m.expire_ms;
    }
    pubsub_arm_new(r, &r->argv[1]);
    set_arm(r, 0);
    cmd_put(r, &r->argv[1], r->argv[2].ptr, r->argv[2].len, exp, 0, CMD_REPLY_OK);
}

void cmd_string_setnx(struct req *r)
{
    struct ls_meta m;
    if (lookup_live(r, &r->argv[1], &m)) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    r->num = 1;
    r->expire_ms = 0;
    set_arm(r, 1);
    cmd_put(r, &r->argv[1], r->argv[2].ptr, r->argv[2].len, 0, 0, CMD_REPLY_NUM);
}

static void setex_common(struct req *r, uint64_t unit, const char *name)
{
    uint64_t exp;
    if (cmd_expire_arg(r, &r->argv[2], unit, 0, name, &exp) < 0) {
        req_done(r);
        return;
    }
    r->expire_ms = exp;
    pubsub_arm_new(r, &r->argv[1]);
    set_arm(r, 0);
    cmd_put(r, &r->argv[1], r->argv[3].ptr, r->argv[3].len, exp, 0, CMD_REPLY_OK);
}

void cmd_string_setex(struct req *r)
{
    setex_common(r, 1000, "setex");
}

void cmd_string_psetex(struct req *r)
{
    setex_common(r, 1, "psetex");
}

/* ---- GETSET, GETDEL, GETEX ---- */

static void getset_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    cmd_tmp_bulk(r, rc == 0 ? it->value : NULL, rc == 0 ? it->value_len : 0);
    r->expire_ms = 0;
    set_arm(r, rc != 0);
    cmd_put(r, &r->argv[1], r->argv[2].ptr, r->argv[2].len, 0, 0, CMD_REPLY_TMP);
}

void cmd_string_getset(struct req *r)
{
    cmd_get(r, &r->argv[1], getset_cb);
}

static void getdel_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    count_hit(r, rc);
    if (rc != 0) {
        if (rc == LS_ENOTFOUND)
            reply_null(r);
        else
            reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    cmd_tmp_bulk(r, it->value, it->value_len);
    r->step = CMD_REPLY_TMP;
    int src = park_del(r, r->db, &r->argv[1], cmd_write_cb);
    if (src == 0)
        pubsub_notify(r, NOTIFY_GENERIC, "del", &r->argv[1]);
    if (src == 0)
        req_unlock(r);
    else if (src == LS_ENOTFOUND) {
        reply_tmp(r);
        req_done(r);
    } else if (src < 0) {
        reply_engine_error(r, src);
        req_done(r);
    }
}

void cmd_string_getdel(struct req *r)
{
    cmd_get(r, &r->argv[1], getdel_cb);
}

static void getex_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    count_hit(r, rc);
    if (rc != 0) {
        if (rc == LS_ENOTFOUND)
            reply_null(r);
        else
            reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    if (!(r->num & (SET_EXPIRE | SET_PERSIST))) { /* GETEX with no option: a GET */
        reply_bulk(r, it->value, it->value_len);
        req_done(r);
        return;
    }
    if (set_expire(r, "getex") < 0) { /* checked once the key is found, as Redis */
        req_done(r);
        return;
    }
    cmd_tmp_bulk(r, it->value, it->value_len);
    if (r->expire_ms) /* one in the past deletes the key (Redis: "del") */
        pubsub_arm(r, NOTIFY_GENERIC, r->expire_ms <= server_unix_ms() ? "del" : "expire");
    else if (it->expire_ms) /* PERSIST of a key with an expiry */
        pubsub_arm(r, NOTIFY_GENERIC, "persist");
    cmd_put(r, &r->argv[1], it->value, it->value_len, r->expire_ms, it->flags, CMD_REPLY_TMP);
}

void cmd_string_getex(struct req *r)
{
    if (xopts_parse(r, 2, 1) < 0) {
        req_done(r);
        return;
    }
    cmd_get(r, &r->argv[1], getex_cb);
}

/* ---- MGET, MSET, MSETNX ---- */

static void mget_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    if (i == 0)
        reply_array(r, r->nkeys);
    count_hit(r, rc);
    if (rc == 0)
        reply_bulk(r, it->val, it->len);
    else
        reply_null(r);
}

void cmd_string_mget(struct req *r)
{
    if (mget_start(r, r->keys, r->nkeys, r->db, mget_emit, req_done) < 0) {
        reply_error(r, "ERR out of memory");
        req_done(r);
    }
}

static void mset_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND && r->err == 0)
        r->err = rc;
    if (--r->pending > 0)
        return;
    if (r->err)
        reply_engine_error(r, r->err);
    else if (r->step == CMD_REPLY_NUM)
        reply_int(r, r->num);
    else
        reply_ok(r);
    req_done(r);
}

/* Submits every pair; the reply (by r->step) comes when the last write completes. */
static void mset_submit(struct req *r)
{
    r->pending = 1;
    for (uint32_t i = 1; i + 1 < r->argc; i += 2) {
        if (r->argv[i + 1].len > r->c->srv->cfg.max_value_size) {
            r->err = LS_ETOOBIG;
            break;
        }
        int fresh = pubsub_key_absent(r, &r->argv[i]); /* for a "new" event */
        int rc =
            park_put(r, r->db, &r->argv[i], r->argv[i + 1].ptr, r->argv[i + 1].len, NULL, mset_cb);
        if (rc < 0) {
            r->err = rc;
            break;
        }
        if (fresh)
            pubsub_notify(r, NOTIFY_NEW, "new", &r->argv[i]);
        pubsub_notify(r, NOTIFY_STRING, "set", &r->argv[i]);
        r->pending++;
    }
    req_unlock(r); /* every put submitted or parked */
    mset_cb(r, 0, 0);
}

void cmd_string_mset(struct req *r)
{
    r->step = CMD_REPLY_OK;
    mset_submit(r);
}

void cmd_string_msetnx(struct req *r)
{
    struct ls_meta m;
    for (uint32_t i = 1; i < r->argc; i += 2) {
        if (lookup_live(r, &r->argv[i], &m)) {
            reply_int(r, 0);
            req_done(r);
            return;
        }
    }
    r->step = CMD_REPLY_NUM;
    r->num = 1;
    mset_submit(r);
}

/* ---- APPEND, STRLEN, GETRANGE, SETRANGE ---- */

static void append_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    const struct resp_arg *add = &r->argv[2];
    size_t old = rc == 0 ? it->value_len : 0;
    if (old + add->len > r->c->srv->cfg.max_value_size) {
        reply_error(r, ERR_TOO_BIG);
        req_done(r);
        return;
    }
    char *v = malloc(old + add->len + 1);
    if (v == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    if (old)
        memcpy(v, it->value, old);
    memcpy(v + old, add->ptr, add->len);
    r->num = (int64_t)(old + add->len);
    if (rc != 0)
        pubsub_arm(r, NOTIFY_NEW, "new");
    pubsub_arm(r, NOTIFY_STRING, "append");
    cmd_put(r, &r->argv[1], v, old + add->len, rc == 0 ? it->expire_ms : 0, rc == 0 ? it->flags : 0,
            CMD_REPLY_NUM);
    free(v);
}

void cmd_string_append(struct req *r)
{
    cmd_get(r, &r->argv[1], append_cb);
}

static void strlen_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    reply_int(r, rc == 0 ? (int64_t)it->value_len : 0);
    req_done(r);
}

void cmd_string_strlen(struct req *r)
{
    cmd_get(r, &r->argv[1], strlen_cb);
}

static void getrange_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    long long start = r->num, end = (long long)r->u64, len = rc == 0 ? it->value_len : 0;
    if (len == 0 || (start < 0 && end < 0 && start > end)) {
        reply_bulk(r, "", 0);
        req_done(r);
        return;
    }
    if (start < 0)
        start = len + start;
    if (end < 0)
        end = len + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (start > end)
        reply_bulk(r, "", 0);
    else
        reply_bulk(r, (const char *)it->value + start, (size_t)(end - start + 1));
    req_done(r);
}

void cmd_string_getrange(struct req *r)
{
    long long s, e;
    if (cmd_arg_ll(&r->argv[2], &s) < 0 || cmd_arg_ll(&r->argv[3], &e) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    r->num = s;
    r->u64 = (uint64_t)e;
    cmd_get(r, &r->argv[1], getrange_cb);
}

static void setrange_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    const struct resp_arg *val = &r->argv[3];
    size_t off = (size_t)r->num, old = rc == 0 ? it->value_len : 0;
    if (val->len == 0) {
        reply_int(r, (int64_t)old);
        req_done(r);
        return;
    }
    size_t len = off + val->len > old ? off + val->len : old;
    char *v = calloc(1, len + 1);
    if (v == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    if (old)
        memcpy(v, it->value, old);
    memcpy(v + off, val->ptr, val->len);
    r->num = (int64_t)len;
    if (rc != 0)
        pubsub_arm(r, NOTIFY_NEW, "new");
    pubsub_arm(r, NOTIFY_STRING, "setrange");
    cmd_put(r, &r->argv[1], v, len, rc == 0 ? it->expire_ms : 0, rc == 0 ? it->flags : 0,
            CMD_REPLY_NUM);
    free(v);
}

void cmd_string_setrange(struct req *r)
{
    long long off;
    if (cmd_arg_ll(&r->argv[2], &off) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    if (off < 0) {
        reply_error(r, "ERR offset is out of range");
        req_done(r);
        return;
    }
    if (r->argv[3].len &&
        (unsigned long long)off + r->argv[3].len > r->c->srv->cfg.max_value_size) {
        reply_error(r, ERR_TOO_BIG);
        req_done(r);
        return;
    }
    r->num = off;
    cmd_get(r, &r->argv[1], setrange_cb);
}

/* ---- INCR family ---- */

static void incr_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    long long old = 0, by = r->num;
    if (rc == 0 && cmd_parse_ll(it->value, it->value_len, &old) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    if ((by < 0 && old < 0 && by < LLONG_MIN - old) ||
        (by > 0 && old > 0 && by > LLONG_MAX - old)) {
        reply_error(r, ERR_OVERFLOW);
        req_done(r);
        return;
    }
    char buf[32];
    size_t n = pbuf_fmt_i64(buf, old + by); /* not snprintf: ~2% of INCR's CPU */
    r->num = old + by;
    if (rc != 0)
        pubsub_arm(r, NOTIFY_NEW, "new");
    pubsub_arm(r, NOTIFY_STRING, "incrby");
    cmd_put(r, &r->argv[1], buf, n, rc == 0 ? it->expire_ms : 0, rc == 0 ? it->flags : 0,
            CMD_REPLY_NUM);
}

static void incr_start(struct req *r, long long by)
{
    r->num = by;
    cmd_get(r, &r->argv[1], incr_cb);
}

void cmd_string_incr(struct req *r)
{
    incr_start(r, 1);
}

void cmd_string_decr(struct req *r)
{
    incr_start(r, -1);
}

void cmd_string_incrby(struct req *r)
{
    long long by;
    if (cmd_arg_ll(&r->argv[2], &by) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    incr_start(r, by);
}

void cmd_string_decrby(struct req *r)
{
    long long by;
    if (cmd_arg_ll(&r->argv[2], &by) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    if (by == LLONG_MIN) {
        reply_error(r, "ERR decrement would overflow");
        req_done(r);
        return;
    }
    incr_start(r, -by);
}

static void incrbyfloat_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (read_failed(r, rc))
        return;
    long double old = 0, by = 0;
    cmd_parse_ld(r->argv[2].ptr, r->argv[2].len, &by);
    if (rc == 0 && cmd_parse_ld(it->value, it->value_len, &old) < 0) {
        reply_error(r, ERR_NOT_FLOAT);
        req_done(r);
        return;
    }
    long double v = old + by;
    if (isnan(v) || isinf(v)) {
        reply_error(r, "ERR increment would produce NaN or Infinity");
        req_done(r);
        return;
    }
    char buf[5200];
    int n = cmd_format_ld(buf, sizeof(buf), v);
    cmd_tmp_bulk(r, buf, (size_t)n);
    if (rc != 0)
        pubsub_arm(r, NOTIFY_NEW, "new");
    pubsub_arm(r, NOTIFY_STRING, "incrbyfloat");
    cmd_put(r, &r->argv[1], buf, (size_t)n, rc == 0 ? it->expire_ms : 0, rc == 0 ? it->flags : 0,
            CMD_REPLY_TMP);
}

void cmd_string_incrbyfloat(struct req *r)
{
    long double by;
    if (cmd_parse_ld(r->argv[2].ptr, r->argv[2].len, &by) < 0) {
        reply_error(r, ERR_NOT_FLOAT);
        req_done(r);
        return;
    }
    cmd_get(r, &r->argv[1], incrbyfloat_cb);
}
