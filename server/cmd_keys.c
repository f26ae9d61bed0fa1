/*
 * cmd_keys.c - the generic key commands: DEL/UNLINK, EXISTS, the EXPIRE family, TTL and
 * friends, TYPE, SCAN, KEYS, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL.
 *
 * Existence and expiry questions are answered from the index alone (ls_lookup, no I/O).
 * Changing a key's expiry is a read-modify-write (the engine stores the expiry in the
 * record): the command holds the key's exclusive lock (lockset.c), reads the value and
 * writes it back with the new expiry and the same flags. An expiry in the past deletes
 * the key, as in Redis. FLUSHDB and FLUSHALL hold their databases exclusively until their
 * flush records are submitted: they come after every command in flight on the database
 * that has not submitted its writes (an INCR's put is erased by the flush, issue 11 item
 * 10) and before every later one.
 * SCAN's cursor is the engine's token cursor printed in decimal; MATCH and TYPE are
 * applied here, after the engine returned its batch, so a page may hold fewer keys than
 * COUNT (Redis behaves the same way).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cmd.h"
#include "large.h"
#include "reaper.h"
#include "cmdlock.h"
#include "glob.h"
#include "park.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"

int cmd_keys_lookup(struct req *r, uint32_t db, const struct resp_arg *k, struct ls_meta *m)
{
    int rc = txn_lookup(r, db, k, m);
    if (rc == 0 && m->expire_ms && m->expire_ms <= server_unix_ms())
        return LS_ENOTFOUND;
    return rc;
}

static void finish_err_or_num(struct req *r)
{
    if (r->err)
        reply_engine_error(r, r->err);
    else
        reply_int(r, r->num);
    req_done(r);
}

/* ---- DEL, EXISTS ---- */

/* A delete that reaches here with LS_ENOTFOUND was parked (ls_del refuses an absent key
 * at submission) and found the key gone when submitted: an earlier delete of the same
 * key in this command took it (DEL k k), or it expired. It was counted when it parked
 * (the key was there then), so it is uncounted: Redis counts each key once. */
static void del_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc == LS_ENOTFOUND)
        r->num--;
    else if (rc != 0 && r->err == 0)
        r->err = rc;
    if (--r->pending == 0)
        finish_err_or_num(r);
}

void cmd_keys_del(struct req *r)
{
    reaper_wake(r->c->srv); /* a large list among them leaves its pages (reaper.c) */
    r->pending = 1;
    for (uint32_t i = 0; i < r->nkeys; i++) {
        int rc = park_del(r, r->db, &r->keys[i], del_cb);
        if (rc == 0) {
            pubsub_notify(r, NOTIFY_GENERIC, "del", &r->keys[i]);
            r->pending++;
            r->num++;
        } else if (rc != LS_ENOTFOUND && r->err == 0) {
            r->err = rc;
        }
    }
    req_unlock(r); /* every delete submitted or parked */
    del_cb(r, 0, 0);
}

void cmd_keys_exists(struct req *r)
{
    struct ls_meta m;
    int64_t n = 0;
    for (uint32_t i = 0; i < r->nkeys; i++)
        if (cmd_keys_lookup(r, r->db, &r->keys[i], &m) == 0)
            n++;
    reply_int(r, n);
    req_done(r);
}

/* ---- EXPIRE family ---- */

#define EXP_NX 1
#define EXP_XX 2
#define EXP_GT 4
#define EXP_LT 8

static int expire_flags(struct req *r, int *out)
{
    int fl = 0;
    for (uint32_t i = 3; i < r->argc; i++) {
        const struct resp_arg *a = &r->argv[i];
        if (cmd_arg_is(a, "nx"))
            fl |= EXP_NX;
        else if (cmd_arg_is(a, "xx"))
            fl |= EXP_XX;
        else if (cmd_arg_is(a, "gt"))
            fl |= EXP_GT;
        else if (cmd_arg_is(a, "lt"))
            fl |= EXP_LT;
        else {
            reply_errorf(r, "ERR Unsupported option %s", a->ptr);
            return -1;
        }
    }
    if ((fl & EXP_NX) && (fl & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_error(r, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return -1;
    }
    if ((fl & EXP_GT) && (fl & EXP_LT)) {
        reply_error(r, "ERR GT and LT options at the same time are not compatible");
        return -1;
    }
    *out = fl;
    return 0;
}

/* Whether the options allow replacing expiry cur (0 = none) with when. */
static int expire_allowed(int fl, uint64_t cur, uint64_t when)
{
    if ((fl & EXP_NX) && cur != 0)
        return 0;
    if ((fl & EXP_XX) && cur == 0)
        return 0;
    if ((fl & EXP_GT) && (cur == 0 || when <= cur))
        return 0;
    if ((fl & EXP_LT) && cur != 0 && when >= cur)
        return 0;
    return 1;
}

static void expire_get_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == LS_ENOTFOUND) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    if (rc != 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    r->num = 1;
    pubsub_arm(r, NOTIFY_GENERIC, r->expire_ms ? "expire" : "persist");
    cmd_put_typed(r, &r->argv[1], it->value, it->value_len, r->expire_ms, it->flags, it->vtype,
                  CMD_REPLY_NUM);
}

static void expire_del_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND)
        reply_engine_error(r, rc);
    else
        reply_int(r, 1);
    req_done(r);
}

static void expire_generic(struct req *r, long long unit, int abs, const char *name)
{
    long long v;
    int fl;
    if (expire_flags(r, &fl) < 0) /* the options first, then the number (Redis) */
        goto done;
    if (cmd_arg_ll(&r->argv[2], &v) < 0) {
        reply_error(r, ERR_NOT_INT);
        goto done;
    }
    uint64_t now = server_unix_ms();
    if (v > LLONG_MAX / unit || v < LLONG_MIN / unit) {
        reply_errorf(r, "ERR invalid expire time in '%s' command", name);
        goto done;
    }
    long long when = v * unit;
    if (!abs) {
        if (when > LLONG_MAX - (long long)now) {
            reply_errorf(r, "ERR invalid expire time in '%s' command", name);
            goto done;
        }
        when += (long long)now;
    }
    if (when > (long long)LS_EXPIRE_MAX) { /* the engine keeps 44 bits of ms: never cut */
        reply_errorf(r, "ERR invalid expire time in '%s' command", name);
        goto done;
    }
    struct ls_meta m;
    if (cmd_keys_lookup(r, r->db, &r->argv[1], &m) != 0) {
        reply_int(r, 0);
        goto done;
    }
    uint64_t w = when <= 0 ? 1 : (uint64_t)when;
    if (!expire_allowed(fl, m.expire_ms, w)) {
        reply_int(r, 0);
        goto done;
    }
    if (w <= now) {
        int rc = park_del(r, r->db, &r->argv[1], expire_del_cb);
        if (rc == 0) {
            pubsub_notify(r, NOTIFY_GENERIC, "del", &r->argv[1]);
            req_unlock(r);
            return;
        }
        if (rc == LS_ENOTFOUND)
            reply_int(r, 0);
        else
            reply_engine_error(r, rc);
        goto done;
    }
    r->expire_ms = w;
    r->want_type = VT_ANY;
    cmd_get(r, &r->argv[1], expire_get_cb);
    return;
done:
    req_done(r);
}

void cmd_keys_expire(struct req *r)
{
    expire_generic(r, 1000, 0, "expire");
}

void cmd_keys_pexpire(struct req *r)
{
    expire_generic(r, 1, 0, "pexpire");
}

void cmd_keys_expireat(struct req *r)
{
    expire_generic(r, 1000, 1, "expireat");
}

void cmd_keys_pexpireat(struct req *r)
{
    expire_generic(r, 1, 1, "pexpireat");
}

void cmd_keys_persist(struct req *r)
{
    struct ls_meta m;
    if (cmd_keys_lookup(r, r->db, &r->argv[1], &m) != 0 || m.expire_ms == 0) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    r->expire_ms = 0;
    r->want_type = VT_ANY;
    cmd_get(r, &r->argv[1], expire_get_cb);
}

/* mode: 0 TTL, 1 PTTL, 2 EXPIRETIME, 3 PEXPIRETIME */
static void ttl_generic(struct req *r, int mode)
{
    struct ls_meta m;
    if (cmd_keys_lookup(r, r->db, &r->argv[1], &m) != 0) {
        reply_int(r, -2);
    } else if (m.expire_ms == 0) {
        reply_int(r, -1);
    } else if (mode >= 2) {
        reply_int(r, mode == 3 ? (int64_t)m.expire_ms : (int64_t)((m.expire_ms + 500) / 1000));
    } else {
        uint64_t now = server_unix_ms();
        int64_t ttl = m.expire_ms > now ? (int64_t)(m.expire_ms - now) : 0;
        reply_int(r, mode == 1 ? ttl : (ttl + 500) / 1000);
    }
    req_done(r);
}

void cmd_keys_ttl(struct req *r)
{
    ttl_generic(r, 0);
}

void cmd_keys_pttl(struct req *r)
{
    ttl_generic(r, 1);
}

void cmd_keys_expiretime(struct req *r)
{
    ttl_generic(r, 2);
}

void cmd_keys_pexpiretime(struct req *r)
{
    ttl_generic(r, 3);
}

static void type_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == 0 || rc == LS_ENOTFOUND)
        reply_simple(r, rc == 0 ? cmd_type_name(it->vtype) : "none");
    else
        reply_engine_error(r, rc);
    req_done(r);
}

/* The type is in the record (its header's tag), not the index: one read, as GET's. */
void cmd_keys_type(struct req *r)
{
    r->want_type = VT_ANY;
    cmd_get(r, &r->argv[1], type_cb);
}

/* ---- SCAN, KEYS, RANDOMKEY ---- */

/* Scan options kept in the request: pattern index in argv (0 none), type filter. */
struct scan_opts {
    const struct resp_arg *match;
    int type; /* TYPE given: the value type + 1 (an unknown name matches nothing); 0 none */
};

static void scan_opts_get(const struct req *r, struct scan_opts *o)
{
    o->match = r->u64 ? &r->argv[r->u64] : NULL;
    o->type = (int)r->flags;
}

/* The engine's filter (ls_scan_match): TYPE and MATCH, before a key is copied. */
static int scan_key_match(void *marg, const void *key, uint32_t key_len, uint8_t vtype)
{
    struct scan_opts o;
    scan_opts_get(marg, &o);
    if (o.type && o.type != vtype + 1)
        return 0;
    return o.match == NULL || glob_match(o.match->ptr, o.match->len, key, key_len, 0);
}

/* ls_scan for the request's options (the filter only when it has one). */
static int scan_keys(struct req *r, uint64_t cursor, uint32_t count, ls_scan_cb cb)
{
    struct scan_opts o;
    scan_opts_get(r, &o);
    return ls_scan_match(cmd_engine(r), r->db, cursor, count,
                         o.match || o.type ? scan_key_match : NULL, r, cb, r);
}

/* A key the filter kept: in the reply unless it has expired. */
static int scan_keep(const struct ls_scan_key *k, uint64_t now)
{
    return !(k->expire_ms && k->expire_ms <= now);
}

static void scan_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct req *r = arg;
    if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    uint64_t now = server_unix_ms();
    size_t kept = 0;
    for (uint32_t i = 0; i < n; i++)
        kept += (size_t)scan_keep(&keys[i], now);
    char cur[32];
    snprintf(cur, sizeof(cur), "%llu", (unsigned long long)next);
    reply_array(r, 2);
    reply_cstr(r, cur);
    reply_array(r, kept);
    for (uint32_t i = 0; i < n; i++)
        if (scan_keep(&keys[i], now))
            reply_bulk(r, keys[i].key, keys[i].key_len);
    req_done(r);
}

static int scan_parse_opts(struct req *r, uint32_t from, long long *count)
{
    r->u64 = 0;
    r->flags = 0;
    for (uint32_t i = from; i < r->argc; i += 2) {
        if (i + 1 >= r->argc) {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
        const struct resp_arg *a = &r->argv[i];
        if (cmd_arg_is(a, "match")) {
            r->u64 = i + 1;
        } else if (cmd_arg_is(a, "count")) {
            if (cmd_arg_ll(&r->argv[i + 1], count) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            if (*count < 1) {
                reply_error(r, ERR_SYNTAX);
                return -1;
            }
        } else if (cmd_arg_is(a, "type")) {
            int t = cmd_type_parse(&r->argv[i + 1]);
            r->flags = t < 0 ? 0x100u : (uint32_t)t + 1;
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

void cmd_keys_scan(struct req *r)
{
    char *end;
    const struct resp_arg *c = &r->argv[1];
    errno = 0;
    unsigned long long cursor = strtoull(c->ptr, &end, 10); /* as Redis: "" is 0, -1 wraps */
    long long count = 10;
    if (isspace((unsigned char)c->ptr[0]) || *end != '\0' || errno == ERANGE) {
        reply_error(r, "ERR invalid cursor");
        req_done(r);
        return;
    }
    if (scan_parse_opts(r, 2, &count) < 0) {
        req_done(r);
        return;
    }
    if (count > LS_SCAN_MAX)
        count = LS_SCAN_MAX;
    int rc = scan_keys(r, cursor, (uint32_t)count, scan_cb);
    if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    cmdlock_reads_submitted(r); /* the scan took its entries from the index */
}

static void keys_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n, uint64_t next)
{
    struct req *r = arg;
    if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    uint64_t now = server_unix_ms();
    for (uint32_t i = 0; i < n && !r->err; i++) {
        if (!scan_keep(&keys[i], now))
            continue;
        if (resp_w_bulk(&r->tmp, keys[i].key, keys[i].key_len) < 0)
            r->err = 1;
        r->num++;
    }
    if (r->err) {
        reply_error(r, "ERR KEYS result exceeds client_output_buffer_limit, use SCAN");
        req_done(r);
        return;
    }
    if (next != 0) {
        rc = scan_keys(r, next, LS_SCAN_MAX, keys_cb);
        if (rc == 0)
            return;
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    reply_array(r, (size_t)r->num);
    reply_tmp(r);
    req_done(r);
}

void cmd_keys_keys(struct req *r)
{
    r->u64 = (r->argv[1].len == 1 && r->argv[1].ptr[0] == '*') ? 0 : 1;
    r->flags = 0;
    int rc = scan_keys(r, 0, LS_SCAN_MAX, keys_cb);
    if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
    }
}

static void randomkey_cb(void *arg, int rc, const struct ls_scan_key *keys, uint32_t n,
                         uint64_t next)
{
    struct req *r = arg;
    (void)next;
    uint64_t now = server_unix_ms();
    if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (keys[i].expire_ms == 0 || keys[i].expire_ms > now) {
            reply_bulk(r, keys[i].key, keys[i].key_len);
            req_done(r);
            return;
        }
    }
    reply_null(r);
    req_done(r);
}

void cmd_keys_randomkey(struct req *r)
{
    uint64_t cursor;
    int rc = ls_random_cursor(cmd_engine(r), r->db, &cursor);
    if (rc == 0)
        rc = ls_scan(cmd_engine(r), r->db, cursor, 1, randomkey_cb, r);
    if (rc == 0)
        return;
    if (rc == LS_ENOTFOUND)
        reply_null(r);
    else
        reply_engine_error(r, rc);
    req_done(r);
}

/* ---- DBSIZE, FLUSHDB, FLUSHALL ---- */

void cmd_keys_dbsize(struct req *r)
{
    reply_int(r, (int64_t)ls_count(cmd_engine(r), r->db));
    req_done(r);
}

static void flush_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND && r->err == 0)
        r->err = rc;
    if (--r->pending > 0)
        return;
    if (r->err)
        reply_engine_error(r, r->err);
    else
        reply_ok(r);
    req_done(r);
}

static int flush_args_ok(struct req *r)
{
    if (r->argc > 2 ||
        (r->argc == 2 && !cmd_arg_is(&r->argv[1], "async") && !cmd_arg_is(&r->argv[1], "sync"))) {
        reply_error(r, ERR_SYNTAX);
        req_done(r);
        return 0;
    }
    return 1;
}

static void flush_tables(struct req *r, uint32_t first, uint32_t last)
{
    tracking_flush(r->c->srv); /* once, FLUSHALL too, as Redis */
    reaper_wake(r->c->srv);    /* large lists flushed: their pages go */
    r->pending = 1;
    for (uint32_t t = first; t <= last; t++) {
        block_signal_db(r->c->srv, t); /* a blocked XREADGROUP: its stream is gone */
        int rc = park_flush(r, t, flush_cb);
        if (rc == 0)
            r->pending++;
        else if (rc != LS_ENOTFOUND && r->err == 0)
            r->err = rc;
    }
    req_unlock(r); /* every flush submitted or parked: later commands may start */
    flush_cb(r, 0, 0);
}

void cmd_keys_flushdb(struct req *r)
{
    if (flush_args_ok(r))
        flush_tables(r, r->db, r->db);
}

void cmd_keys_flushall(struct req *r)
{
    /* and the large lists' page and anchor tables, which follow the databases (large.c):
     * flushed after them, so a crash in between leaves anchors the reaper clears. No large
     * list is being written meanwhile: each holds its key until its root is submitted, and
     * FLUSHALL waits for every key of every database. */
    if (flush_args_ok(r))
        flush_tables(r, 0, large_anchor_table(r->c->srv));
}
