/*
 * cmd_hash.c - Redis hashes: HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HLEN HSTRLEN HKEYS
 * HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.
 *
 * A hash is one record under its key, value type COLL_HASH in the record header (the
 * engine's type tag, ls_write_opts.vtype), its value the small-form encoding of
 * proto/coll.h (fields in insertion order). Every command reads the record (one read,
 * as GET's; a key of another type answers WRONGTYPE, an absent key is an empty hash),
 * and a write replaces it whole under the key's exclusive lock (the concurrency rule,
 * lockset.c), keeping the key's TTL, as APPEND does for strings: after a crash the hash
 * is the old record or the new one, never a mix. A hash left with no field is deleted,
 * as Redis does.
 *
 * Cost: one read and one write of the whole hash per update. A hash past 128 fields or
 * 8 KiB that Redis holds as a hashtable, or any past max_value_size, is stored in the
 * large form instead (server/large.c: a root under the key, its fields in hash-bucket
 * pages): the commands that name fields (hash_part) read and write only their buckets,
 * the others load it whole (up to the 512 MB a command may load).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "coll.h"
#include "coll_cmd.h"
#include "glob.h"
#include "large.h"
#include "park.h"
#include "pubsub.h"
#include "rconfig.h"
#include "reply.h"
#include "server.h"

#define ERR_BAD_HASH "ERR data corruption detected while reading the key (hash encoding)"

/* The hash of a read (h set when rc is 0) or the reply of an error: 1 when the callback
 * must return (r answered and ended). An absent key is an empty hash (h->count 0). */
static int hash_of(struct req *r, int rc, const struct ls_item *it, struct coll_hash *h)
{
    struct server *s = r->c->srv;
    memset(h, 0, sizeof(*h));
    if (rc == LS_ENOTFOUND) {
        s->stats.keyspace_misses++;
        return 0;
    }
    if (rc != 0) {
        reply_engine_error(r, rc);
        req_done(r);
        return 1;
    }
    s->stats.keyspace_hits++;
    if (coll_hash_open(h, it->value, it->value_len) != 0) {
        reply_error(r, ERR_BAD_HASH);
        req_done(r);
        return 1;
    }
    return 0;
}

static void hash_read(struct req *r, ls_get_cb cb)
{
    r->want_type = COLL_HASH;
    large_coll_get(r, &r->argv[1], cb);
}

/* The read of a command naming fields from argv[2] (every step-th; step 0: argv[2] only):
 * of a large hash, only their buckets (large_part_get). */
static void hash_part(struct req *r, ls_get_cb cb, uint32_t step, int write)
{
    r->want_type = COLL_HASH;
    large_part_get(r, &r->argv[1], cb, 2, step, write);
}

/* ---- writes ---- */

enum num_from { NUM_KEEP, NUM_ADDED, NUM_REMOVED };

/* Applies ops to the hash read (it NULL: absent) and writes the result under the key,
 * keeping its TTL, replying as mode says (r->num, set from the fields added or removed
 * when num says so, or r->tmp). event: the keyspace event. With NUM_REMOVED and nothing
 * removed, nothing is written. A hash left empty is deleted (its reply is r->num). */
static void hash_write(struct req *r, const struct ls_item *it, const struct coll_hash *h,
                       const struct coll_hset *ops, size_t nops, const char *event,
                       enum cmd_reply_mode mode, enum num_from num)
{
    struct coll_buf out = {0};
    uint64_t added = 0, removed = 0;
    const struct rconfig_live *lv = rconfig_live();
    struct coll_limits lim = {lv->hash_max_listpack_entries, lv->hash_max_listpack_value};
    if (coll_hash_update(it ? h : NULL, ops, nops, &lim, &out, &added, &removed) < 0) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    if (num != NUM_KEEP)
        r->num = (int64_t)(num == NUM_ADDED ? added : removed);
    if (num == NUM_REMOVED && removed == 0) {
        coll_buf_free(&out);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    uint64_t count = 0;
    coll_varint_get(out.p + 1, out.len - 1, &count);
    if (count == 0) /* the last field went: the key goes (hdel, then del; coll_store) */
        out.len = 0;
    coll_store(r, &r->argv[1], it, out.p, out.len, COLL_HASH, NOTIFY_HASH, event, mode);
    coll_buf_free(&out); /* the put copied it */
}

/* HSET key field value [field value ...] (r->step 0), HMSET (1): argv pairs from 2. */
static void hset_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    if (hash_of(r, rc, it, &h))
        return;
    size_t n = (r->argc - 2) / 2;
    struct coll_hset *ops = malloc(n * sizeof(*ops));
    if (ops == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ops[i] = (struct coll_hset){r->argv[2 + 2 * i].ptr, r->argv[2 + 2 * i].len,
                                    r->argv[3 + 2 * i].ptr, r->argv[3 + 2 * i].len};
    hash_write(r, rc == 0 ? it : NULL, &h, ops, n, "hset", r->step ? CMD_REPLY_OK : CMD_REPLY_NUM,
               NUM_ADDED);
    free(ops);
}

static void hset_generic(struct req *r, int hmset)
{
    if (r->argc % 2 != 0) {
        cmd_wrong_args(r);
        req_done(r);
        return;
    }
    r->step = (uint32_t)hmset;
    hash_part(r, hset_cb, 2, 1);
}

void cmd_hash_hset(struct req *r)
{
    hset_generic(r, 0);
}

void cmd_hash_hmset(struct req *r)
{
    hset_generic(r, 1);
}

static void hsetnx_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    const uint8_t *v;
    size_t vl;
    if (hash_of(r, rc, it, &h))
        return;
    if (rc == 0 && coll_hash_get(&h, r->argv[2].ptr, r->argv[2].len, &v, &vl)) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    struct coll_hset op = {r->argv[2].ptr, r->argv[2].len, r->argv[3].ptr, r->argv[3].len};
    r->num = 1;
    hash_write(r, rc == 0 ? it : NULL, &h, &op, 1, "hset", CMD_REPLY_NUM, NUM_KEEP);
}

void cmd_hash_hsetnx(struct req *r)
{
    hash_part(r, hsetnx_cb, 0, 1);
}

static void hdel_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    if (hash_of(r, rc, it, &h))
        return;
    if (rc != 0) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    size_t n = r->argc - 2;
    struct coll_hset *ops = malloc(n * sizeof(*ops));
    if (ops == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ops[i] = (struct coll_hset){r->argv[2 + i].ptr, r->argv[2 + i].len, NULL, 0};
    hash_write(r, it, &h, ops, n, "hdel", CMD_REPLY_NUM, NUM_REMOVED);
    free(ops);
}

void cmd_hash_hdel(struct req *r)
{
    hash_part(r, hdel_cb, 1, 1);
}

static void hincrby_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    const uint8_t *v;
    size_t vl;
    long long old = 0, by = 0;
    if (hash_of(r, rc, it, &h))
        return;
    cmd_arg_ll(&r->argv[3], &by);
    if (rc == 0 && coll_hash_get(&h, r->argv[2].ptr, r->argv[2].len, &v, &vl) &&
        cmd_parse_ll((const char *)v, vl, &old) < 0) {
        reply_error(r, "ERR hash value is not an integer");
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
    int n = snprintf(buf, sizeof(buf), "%lld", old + by);
    struct coll_hset op = {r->argv[2].ptr, r->argv[2].len, buf, (size_t)n};
    r->num = old + by;
    hash_write(r, rc == 0 ? it : NULL, &h, &op, 1, "hincrby", CMD_REPLY_NUM, NUM_KEEP);
}

void cmd_hash_hincrby(struct req *r)
{
    long long by;
    if (cmd_arg_ll(&r->argv[3], &by) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    hash_part(r, hincrby_cb, 0, 1);
}

static void hincrbyfloat_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    const uint8_t *v;
    size_t vl;
    long double old = 0, by = 0;
    if (hash_of(r, rc, it, &h))
        return;
    cmd_parse_ld(r->argv[3].ptr, r->argv[3].len, &by);
    if (rc == 0 && coll_hash_get(&h, r->argv[2].ptr, r->argv[2].len, &v, &vl) &&
        cmd_parse_ld((const char *)v, vl, &old) < 0) {
        reply_error(r, "ERR hash value is not a float");
        req_done(r);
        return;
    }
    long double x = old + by;
    if (isnan(x) || isinf(x)) {
        reply_error(r, "ERR increment would produce NaN or Infinity");
        req_done(r);
        return;
    }
    char buf[5200];
    int n = cmd_format_ld(buf, sizeof(buf), x);
    cmd_tmp_bulk(r, buf, (size_t)n);
    struct coll_hset op = {r->argv[2].ptr, r->argv[2].len, buf, (size_t)n};
    hash_write(r, rc == 0 ? it : NULL, &h, &op, 1, "hincrbyfloat", CMD_REPLY_TMP, NUM_KEEP);
}

void cmd_hash_hincrbyfloat(struct req *r)
{
    long double by;
    if (cmd_parse_ld(r->argv[3].ptr, r->argv[3].len, &by) < 0) {
        reply_error(r, ERR_NOT_FLOAT);
        req_done(r);
        return;
    }
    if (isnan(by) || isinf(by)) {
        reply_error(r, "ERR value is NaN or Infinity");
        req_done(r);
        return;
    }
    hash_part(r, hincrbyfloat_cb, 0, 1);
}

/* ---- reads ---- */

static void hget_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    const uint8_t *v;
    size_t vl;
    if (hash_of(r, rc, it, &h))
        return;
    if (rc == 0 && coll_hash_get(&h, r->argv[2].ptr, r->argv[2].len, &v, &vl))
        reply_bulk(r, v, vl);
    else
        reply_null(r);
    req_done(r);
}

void cmd_hash_hget(struct req *r)
{
    hash_part(r, hget_cb, 0, 0);
}

static void hmget_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    const uint8_t *v;
    size_t vl;
    if (hash_of(r, rc, it, &h))
        return;
    /* Many fields of a large hash: through a table of its fields (a scan of the hash for
     * each field: HMGET of 100,000 fields of a 200,000-field hash took 55 s). */
    struct hpair {
        const uint8_t *f, *v;
        size_t fl, vl;
    } *a = NULL;
    struct coll_strtab t = {NULL, 0, 0};
    struct coll_keys k = {NULL, sizeof(*a), offsetof(struct hpair, f), offsetof(struct hpair, fl)};
    if (rc == 0 && r->argc - 2 > 32 && h.count > 32) {
        size_t n = 0;
        const uint8_t *pos = h.p;
        if ((a = malloc(h.count * sizeof(*a))) == NULL) {
            reply_error(r, "ERR out of memory");
            req_done(r);
            return;
        }
        while (n < h.count && coll_hash_next(&h, &pos, &a[n].f, &a[n].fl, &a[n].v, &a[n].vl))
            n++;
        k.base = a;
        if (coll_strtab_build(&t, &k, n, 0) < 0) {
            free(a);
            reply_error(r, "ERR out of memory");
            req_done(r);
            return;
        }
    }
    reply_array(r, r->argc - 2);
    for (uint32_t i = 2; i < r->argc; i++) {
        ssize_t j = t.s ? coll_strtab_find(&t, &k, r->argv[i].ptr, r->argv[i].len) : -1;
        if (j >= 0)
            reply_bulk(r, a[j].v, a[j].vl);
        else if (!t.s && rc == 0 && coll_hash_get(&h, r->argv[i].ptr, r->argv[i].len, &v, &vl))
            reply_bulk(r, v, vl);
        else
            reply_null(r);
    }
    coll_strtab_free(&t);
    free(a);
    req_done(r);
}

void cmd_hash_hmget(struct req *r)
{
    hash_part(r, hmget_cb, 1, 0);
}

/* HEXISTS (step 0), HSTRLEN (1): one field's presence or length. */
static void hfield_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    const uint8_t *v;
    size_t vl = 0;
    if (hash_of(r, rc, it, &h))
        return;
    int has = rc == 0 && coll_hash_get(&h, r->argv[2].ptr, r->argv[2].len, &v, &vl);
    reply_int(r, r->step ? (int64_t)(has ? vl : 0) : has);
    req_done(r);
}

void cmd_hash_hexists(struct req *r)
{
    r->step = 0;
    hash_part(r, hfield_cb, 0, 0);
}

void cmd_hash_hstrlen(struct req *r)
{
    r->step = 1;
    hash_part(r, hfield_cb, 0, 0);
}

static void hlen_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    if (hash_of(r, rc, it, &h))
        return;
    reply_int(r, (int64_t)h.count);
    req_done(r);
}

void cmd_hash_hlen(struct req *r)
{
    r->want_type = COLL_HASH;
    large_card_get(r, &r->argv[1], hlen_cb); /* a large hash's count is in its root */
}

/* HKEYS (step 1), HVALS (2), HGETALL (3: a map in RESP3). */
static void hall_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    if (hash_of(r, rc, it, &h))
        return;
    if (r->step == 3)
        reply_map(r, h.count);
    else
        reply_array(r, h.count);
    const uint8_t *pos = h.p, *f, *v;
    size_t fl, vl;
    while (rc == 0 && coll_hash_next(&h, &pos, &f, &fl, &v, &vl)) {
        if (r->step & 1)
            reply_bulk(r, f, fl);
        if (r->step & 2)
            reply_bulk(r, v, vl);
    }
    req_done(r);
}

void cmd_hash_hkeys(struct req *r)
{
    r->step = 1;
    hash_read(r, hall_cb);
}

void cmd_hash_hvals(struct req *r)
{
    r->step = 2;
    hash_read(r, hall_cb);
}

void cmd_hash_hgetall(struct req *r)
{
    r->step = 3;
    hash_read(r, hall_cb);
}

/* HRANDFIELD key [count [WITHVALUES]] */
struct pairv {
    const uint8_t *f, *v;
    size_t fl, vl;
};

static void reply_pair(struct req *r, const struct pairv *p, int withvalues)
{
    if (withvalues && r->proto == 3)
        reply_array(r, 2);
    reply_bulk(r, p->f, p->fl);
    if (withvalues)
        reply_bulk(r, p->v, p->vl);
}

static void hrandfield_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    if (hash_of(r, rc, it, &h))
        return;
    int withcount = r->argc >= 3, withvalues = r->argc == 4;
    long long count = r->num;
    if (!withcount) {
        if (h.count == 0) {
            reply_null(r);
        } else {
            uint64_t k = coll_rand() % h.count;
            const uint8_t *pos = h.p, *f = NULL, *v;
            size_t fl = 0, vl;
            for (uint64_t i = 0; i <= k; i++)
                coll_hash_next(&h, &pos, &f, &fl, &v, &vl);
            reply_bulk(r, f, fl);
        }
        req_done(r);
        return;
    }
    if (h.count == 0 || count == 0) {
        reply_array(r, 0);
        req_done(r);
        return;
    }
    struct pairv *a = malloc(h.count * sizeof(*a));
    if (a == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    const uint8_t *pos = h.p;
    size_t n = 0;
    while (coll_hash_next(&h, &pos, &a[n].f, &a[n].fl, &a[n].v, &a[n].vl))
        n++;
    if (count < 0) { /* repeats allowed: -count picks */
        uint64_t m = (uint64_t)(-(count + 1)) + 1;
        reply_array(r, withvalues && r->proto != 3 ? 2 * m : m);
        for (uint64_t i = 0; i < m; i++)
            reply_pair(r, &a[coll_rand() % n], withvalues);
    } else {
        uint64_t m = (uint64_t)count < n ? (uint64_t)count : n;
        for (uint64_t i = 0; i < m; i++) { /* a partial shuffle: m distinct fields */
            uint64_t j = i + coll_rand() % (n - i);
            struct pairv t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        reply_array(r, withvalues && r->proto != 3 ? 2 * m : m);
        for (uint64_t i = 0; i < m; i++)
            reply_pair(r, &a[i], withvalues);
    }
    free(a);
    req_done(r);
}

void cmd_hash_hrandfield(struct req *r)
{
    if (coll_randcount_args(r, "withvalues") == 0)
        hash_read(r, hrandfield_cb);
}

/* HSCAN key cursor [MATCH pattern] [COUNT count]: the hash is one record, so the first
 * call returns every field (cursor 0), as Redis does for a listpack-encoded hash. */
static void hscan_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_hash h;
    if (hash_of(r, rc, it, &h))
        return;
    const struct resp_arg *match = r->u64 ? &r->argv[r->u64] : NULL;
    size_t n = 0;
    const uint8_t *pos = h.p, *f, *v;
    size_t fl, vl;
    while (rc == 0 && coll_hash_next(&h, &pos, &f, &fl, &v, &vl))
        n += !match || glob_match(match->ptr, match->len, (const char *)f, fl, 0);
    reply_array(r, 2);
    reply_bulk(r, "0", 1);
    reply_array(r, 2 * n);
    pos = h.p;
    while (rc == 0 && coll_hash_next(&h, &pos, &f, &fl, &v, &vl)) {
        if (match && !glob_match(match->ptr, match->len, (const char *)f, fl, 0))
            continue;
        reply_bulk(r, f, fl);
        reply_bulk(r, v, vl);
    }
    req_done(r);
}

/* Parses a SCAN-family cursor and its options from argv[from] (HSCAN, SSCAN, ZSCAN):
 * r->u64 the MATCH pattern's argument index (0 none). Replies and returns -1 on error. */
int cmd_coll_scan_args(struct req *r, uint32_t from)
{
    unsigned long long cursor;
    char *end;
    const struct resp_arg *c = &r->argv[from - 1];
    errno = 0;
    cursor = strtoull(c->ptr, &end, 10);
    if (c->len == 0 || end != c->ptr + c->len || errno || c->ptr[0] == '-') {
        reply_error(r, "ERR invalid cursor");
        return -1;
    }
    (void)cursor;
    r->u64 = 0;
    for (uint32_t i = from; i < r->argc; i += 2) {
        long long count;
        if (i + 1 >= r->argc) {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
        if (cmd_arg_is(&r->argv[i], "match")) {
            r->u64 = i + 1;
        } else if (cmd_arg_is(&r->argv[i], "count")) {
            if (cmd_arg_ll(&r->argv[i + 1], &count) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            if (count < 1) {
                reply_error(r, ERR_SYNTAX);
                return -1;
            }
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

void cmd_hash_hscan(struct req *r)
{
    if (cmd_coll_scan_args(r, 3) < 0) {
        req_done(r);
        return;
    }
    hash_read(r, hscan_cb);
}
