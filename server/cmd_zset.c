/*
 * cmd_zset.c - Redis sorted sets: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT
 * ZRANK ZREVRANK ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGEBYSCORE ZREVRANGEBYSCORE
 * ZREVRANGE ZRANGEBYLEX ZREVRANGEBYLEX ZRANGESTORE ZPOPMIN ZPOPMAX BZPOPMIN BZPOPMAX ZMPOP
 * BZMPOP ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZRANDMEMBER ZSCAN ZUNION ZINTER
 * ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZINTERCARD.
 *
 * A sorted set is one record under its key, value type COLL_ZSET, its value the small
 * form of proto/coll.h: (score, member) pairs sorted by score, then member. As for the
 * other collections (cmd_hash.c) every command reads the record and a write replaces it
 * whole under the key's lock, keeping its TTL; an emptied set is deleted. OBJECT ENCODING
 * follows Redis 7.0's rule (listpack until zset-max-listpack-entries/-value are passed,
 * then skiplist for good). Ranks are array indexes; a member lookup is linear.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "block.h"
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

#define ERR_BAD_ZSET   "ERR data corruption detected while reading the key (sorted set encoding)"
#define ERR_MINMAX     "ERR min or max is not a float"
#define ERR_LEXRANGE   "ERR min or max not valid string range item"
#define ERR_NOT_FLOAT_ "ERR value is not a valid float"

/* ---- reading, writing ---- */

static int zset_of(struct req *r, int rc, const struct ls_item *it, size_t extra,
                   struct coll_zel **e, size_t *n, uint8_t *flags)
{
    *e = NULL;
    *n = 0;
    *flags = 0;
    if (coll_read_begin(r, &rc))
        return 1;
    int d = rc == 0 ? coll_zset_decode(it->value, it->value_len, extra, e, n, flags) : 0;
    if (rc != 0 && (*e = malloc((extra + 1) * sizeof(**e))) == NULL)
        d = -2;
    if (d != 0) {
        coll_decode_failed(r, d, "sorted set");
        return 1;
    }
    return 0;
}

static void zset_read(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    r->want_type = COLL_ZSET;
    large_coll_get(r, key, cb);
}

/* A read of a sorted set for a command that names members: argv[first], then every
 * step-th (step 0: that one); write: it may write; zadd: each member follows its score (1)
 * or increment (2). A large one comes to cb as the part of it those members are in
 * (large_part_get). */
static void zset_part(struct req *r, uint32_t first, uint32_t step, int write, int zadd,
                      ls_get_cb cb)
{
    r->want_type = COLL_ZSET;
    r->part_zadd = (uint8_t)zadd;
    large_part_get(r, &r->argv[1], cb, first, step, write);
}

static int zcmp(const void *a, const void *b)
{
    return coll_zel_cmp(a, b);
}

static uint8_t zset_shape(const struct coll_zel *e, size_t n, uint8_t flags)
{
    const struct rconfig_live *lv = rconfig_live();
    if (n > lv->zset_max_listpack_entries)
        flags |= COLL_F_BIG;
    for (size_t i = 0; i < n && !(flags & COLL_F_BIG); i++)
        if (e[i].len > lv->zset_max_listpack_value)
            flags |= COLL_F_BIG;
    return flags;
}

/* Writes e[0..n) (sorted) under key, or deletes the key when n is 0 and it existed; the
 * TTL of the item read (NULL: absent) is kept; replies as mode says. */
static void zset_write(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                       const struct coll_zel *e, size_t n, uint8_t flags, const char *event,
                       enum cmd_reply_mode mode)
{
    struct coll_buf out = {0};
    if (n && coll_zset_encode(e, n, zset_shape(e, n, flags), &out) < 0) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    coll_store(r, key, it, out.p, out.len, COLL_ZSET, NOTIFY_ZSET, event, mode);
    coll_buf_free(&out);
}

/* A STORE form's destination replaced by e[0..n) (sorted), or deleted when n is 0. */
static void zset_store_dest(struct req *r, const struct coll_zel *e, size_t n, const char *event)
{
    struct coll_buf out = {0};
    r->num = (int64_t)n;
    if (n && coll_zset_encode(e, n, zset_shape(e, n, 0), &out) < 0) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    coll_store_dest(r, &r->argv[1], out.p, out.len, COLL_ZSET, NOTIFY_ZSET, event);
    coll_buf_free(&out);
}

static void zel_key(const void *arg, size_t i, const uint8_t **p, size_t *len)
{
    const struct coll_zel *e = arg;
    *p = e[i].p;
    *len = e[i].len;
}

/* An index of e[0..n)'s members when a command looks up many (else *x stays unused, slot
 * NULL): a large sorted set's ZADD of thousands costs O(members), not O(members x size). */
static int zindex(struct coll_idx *x, const struct coll_zel *e, size_t n, size_t lookups)
{
    x->slot = NULL;
    if (lookups < 8) /* (also for few elements: a ZADD's new ones are added to it) */
        return 0;
    if (coll_idx_init(x, zel_key, e) < 0)
        return -2;
    for (size_t i = 0; i < n; i++)
        if (coll_idx_add(x, i) < 0)
            return -2;
    return 0;
}

static ssize_t zfind(const struct coll_zel *e, size_t n, const void *p, size_t len);

static ssize_t zlookup(const struct coll_idx *x, const struct coll_zel *e, size_t n, const void *p,
                       size_t len)
{
    return x->slot ? (ssize_t)coll_idx_find(x, p, len) : zfind(e, n, p, len);
}

static ssize_t zfind(const struct coll_zel *e, size_t n, const void *p, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].len == len && (len == 0 || memcmp(e[i].p, p, len) == 0))
            return (ssize_t)i;
    return -1;
}

/* A score as Redis's strtod takes it (inf, -inf, +inf; no NaN). 0 or -1. */
static int parse_score(const struct resp_arg *a, double *out)
{
    char *end;
    if (a->len == 0 || isspace((unsigned char)a->ptr[0]))
        return -1;
    errno = 0;
    double d = strtod(a->ptr, &end);
    if (end != a->ptr + a->len || isnan(d) ||
        (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL || d == 0)))
        return -1;
    *out = d;
    return 0;
}

static void tmp_double(struct pbuf *o, int proto, double d, int *wrc)
{
    if (*wrc == 0)
        *wrc = resp_w_double(o, proto, d);
}

/* ---- ZADD, ZINCRBY ---- */

#define ZA_NX   1
#define ZA_XX   2
#define ZA_GT   4
#define ZA_LT   8
#define ZA_CH   16
#define ZA_INCR 32

static void zadd_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_zel *e;
    size_t n;
    uint8_t fl;
    /* the flags and the first score's index (r->num is the reply: a large set's handler
     * may run again, on the whole set, after its part's write fell back) */
    uint32_t f = (uint32_t)r->u64, first = (uint32_t)(r->u64 >> 32);
    size_t pairs = (r->argc - first) / 2;
    if (zset_of(r, rc, it, pairs, &e, &n, &fl))
        return;
    size_t added = 0, changed = 0;
    double last = 0;
    int aborted = 0;
    struct coll_idx ix;
    if (zindex(&ix, e, n, pairs) < 0) {
        coll_idx_free(&ix);
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    /* Whether Redis holds the set as a listpack while this element goes in (its score
     * stored as an integer when it is one: -0 becomes 0): until it passes
     * zset-max-listpack-entries or a member passes -value; a new set starts as a skiplist
     * when its first member does. */
    const struct rconfig_live *lv = rconfig_live();
    int small = !(fl & COLL_F_BIG) && !(n == 0 && pairs &&
                                        (lv->zset_max_listpack_entries == 0 ||
                                         r->argv[first + 1].len > lv->zset_max_listpack_value));
    for (size_t i = 0; i < pairs; i++) {
        double sc = 0;
        const struct resp_arg *m = &r->argv[first + 2 * i + 1];
        parse_score(&r->argv[first + 2 * i], &sc);
        ssize_t j = zlookup(&ix, e, n, m->ptr, m->len);
        if (j >= 0) {
            if (f & ZA_NX) {
                aborted = 1;
                continue;
            }
            double nw = (f & ZA_INCR) ? e[j].score + sc : sc;
            if (isnan(nw)) {
                coll_idx_free(&ix);
                free(e);
                reply_error(r, "ERR resulting score is not a number (NaN)");
                req_done(r);
                return;
            }
            if (((f & ZA_GT) && nw <= e[j].score) || ((f & ZA_LT) && nw >= e[j].score)) {
                aborted = 1;
                continue;
            }
            last = nw;
            if (nw != e[j].score) {
                e[j].score = small && nw == 0 ? 0.0 : nw;
                changed++;
            }
        } else {
            if (f & ZA_XX) {
                aborted = 1;
                continue;
            }
            if (small &&
                (n + 1 > lv->zset_max_listpack_entries || m->len > lv->zset_max_listpack_value))
                small = 0; /* Redis converts it before this one goes in */
            e[n++] =
                (struct coll_zel){small && sc == 0 ? 0.0 : sc, (const uint8_t *)m->ptr, m->len};
            if (ix.slot && coll_idx_add(&ix, n - 1) < 0) {
                coll_idx_free(&ix);
                free(e);
                reply_error(r, "ERR out of memory");
                req_done(r);
                return;
            }
            last = sc;
            added++;
        }
    }
    coll_idx_free(&ix);
    if (f & ZA_INCR) {
        pbuf_reset(&r->tmp);
        int wrc = aborted ? resp_w_null(&r->tmp, r->proto) : resp_w_double(&r->tmp, r->proto, last);
        reply_check(r, wrc);
    }
    r->num = (int64_t)(added + ((f & ZA_CH) ? changed : 0));
    if (added + changed == 0) {
        free(e);
        if (f & ZA_INCR)
            reply_tmp(r);
        else
            reply_int(r, r->num);
        req_done(r);
        return;
    }
    qsort(e, n, sizeof(*e), zcmp);
    zset_write(r, &r->argv[1], rc == 0 ? it : NULL, e, n, fl, (f & ZA_INCR) ? "zincr" : "zadd",
               (f & ZA_INCR) ? CMD_REPLY_TMP : CMD_REPLY_NUM);
    free(e);
}

void cmd_zset_zadd(struct req *r)
{
    uint32_t f = 0, i = 2;
    for (; i < r->argc; i++) {
        const struct resp_arg *a = &r->argv[i];
        if (cmd_arg_is(a, "nx"))
            f |= ZA_NX;
        else if (cmd_arg_is(a, "xx"))
            f |= ZA_XX;
        else if (cmd_arg_is(a, "gt"))
            f |= ZA_GT;
        else if (cmd_arg_is(a, "lt"))
            f |= ZA_LT;
        else if (cmd_arg_is(a, "ch"))
            f |= ZA_CH;
        else if (cmd_arg_is(a, "incr"))
            f |= ZA_INCR;
        else
            break;
    }
    uint32_t left = r->argc - i;
    const char *err = NULL;
    if (left == 0 || left % 2)
        err = ERR_SYNTAX;
    else if ((f & ZA_NX) && (f & ZA_XX))
        err = "ERR XX and NX options at the same time are not compatible";
    else if (((f & ZA_GT) && (f & ZA_NX)) || ((f & ZA_LT) && (f & ZA_NX)) ||
             ((f & ZA_GT) && (f & ZA_LT)))
        err = "ERR GT, LT, and/or NX options at the same time are not compatible";
    else if ((f & ZA_INCR) && left > 2)
        err = "ERR INCR option supports a single increment-element pair";
    for (uint32_t j = i; !err && j < r->argc; j += 2) {
        double d;
        if (parse_score(&r->argv[j], &d) < 0)
            err = ERR_NOT_FLOAT_;
    }
    if (err) {
        reply_error(r, err);
        req_done(r);
        return;
    }
    r->u64 = f | (uint64_t)i << 32;
    zset_part(r, i + 1, 2, 1, (f & ZA_INCR) ? 2 : 1, zadd_cb);
}

/* ZINCRBY key increment member: ZADD key INCR increment member. */
void cmd_zset_zincrby(struct req *r)
{
    double d;
    if (parse_score(&r->argv[2], &d) < 0) {
        reply_error(r, ERR_NOT_FLOAT_);
        req_done(r);
        return;
    }
    r->u64 = ZA_INCR | (uint64_t)2 << 32;
    zset_part(r, 3, 0, 1, 2, zadd_cb);
}

static void zrem_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_zel *e;
    size_t n, gone = 0;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    struct coll_idx ix;
    uint8_t *drop = calloc(n + 1, 1);
    if (drop == NULL || zindex(&ix, e, n, r->argc - 2) < 0) {
        if (drop)
            coll_idx_free(&ix);
        free(drop);
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (uint32_t i = 2; i < r->argc; i++) {
        ssize_t j = zlookup(&ix, e, n, r->argv[i].ptr, r->argv[i].len);
        if (j >= 0 && !drop[j]) {
            drop[j] = 1;
            gone++;
        }
    }
    coll_idx_free(&ix);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!drop[i])
            e[kept++] = e[i];
    n = kept;
    free(drop);
    r->num = (int64_t)gone;
    if (gone == 0) {
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    zset_write(r, &r->argv[1], it, e, n, fl, "zrem", CMD_REPLY_NUM);
    free(e);
}

void cmd_zset_zrem(struct req *r)
{
    zset_part(r, 2, 1, 1, 0, zrem_cb);
}

/* ---- point reads ---- */

/* ZSCORE (step 0), ZMSCORE (1), ZCARD (2), ZRANK (3), ZREVRANK (4). */
static void zpoint_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_zel *e;
    size_t n;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    ssize_t j;
    switch (r->step) {
    case 0:
        j = zfind(e, n, r->argv[2].ptr, r->argv[2].len);
        if (j < 0)
            reply_null(r);
        else
            reply_double(r, e[j].score);
        break;
    case 1: { /* many members of a large set: through a table (a scan each: 15 s for 100 k) */
        struct coll_strtab t = {NULL, 0, 0};
        struct coll_keys k = {e, sizeof(*e), offsetof(struct coll_zel, p),
                              offsetof(struct coll_zel, len)};
        if (r->argc - 2 > 32 && n > 32 && coll_strtab_build(&t, &k, n, 0) < 0) {
            free(e);
            reply_error(r, "ERR out of memory");
            req_done(r);
            return;
        }
        reply_array(r, r->argc - 2);
        for (uint32_t i = 2; i < r->argc; i++) {
            j = t.s ? coll_strtab_find(&t, &k, r->argv[i].ptr, r->argv[i].len)
                    : zfind(e, n, r->argv[i].ptr, r->argv[i].len);
            if (j < 0)
                reply_null(r);
            else
                reply_double(r, e[j].score);
        }
        coll_strtab_free(&t);
        break;
    }
    case 2:
        reply_int(r, (int64_t)n);
        break;
    default:
        j = zfind(e, n, r->argv[2].ptr, r->argv[2].len);
        if (j < 0)
            reply_null(r);
        else
            reply_int(r, r->step == 3 ? (int64_t)j : (int64_t)(n - 1 - (size_t)j));
    }
    free(e);
    req_done(r);
}

void cmd_zset_zscore(struct req *r)
{
    r->step = 0;
    zset_part(r, 2, 0, 0, 0, zpoint_cb);
}

void cmd_zset_zmscore(struct req *r)
{
    r->step = 1;
    zset_part(r, 2, 1, 0, 0, zpoint_cb);
}

void cmd_zset_zcard(struct req *r)
{
    r->step = 2;
    r->want_type = COLL_ZSET;
    large_card_get(r, &r->argv[1], zpoint_cb); /* a large sorted set's count is in its root */
}

/* A large sorted set's rank, from its tree. */
static void zrank_tree(struct req *r, int found, uint64_t rank, uint64_t count)
{
    if (!found)
        reply_null(r);
    else
        reply_int(r, (int64_t)(r->step == 3 ? rank : count - 1 - rank));
    req_done(r);
}

void cmd_zset_zrank(struct req *r)
{
    r->step = 3;
    large_zrank_get(r, &r->argv[1], &r->argv[2], zrank_tree, zpoint_cb);
}

void cmd_zset_zrevrank(struct req *r)
{
    r->step = 4;
    large_zrank_get(r, &r->argv[1], &r->argv[2], zrank_tree, zpoint_cb);
}

/* ---- ranges ---- */

struct zrange_spec {
    int kind; /* 0 rank, 1 score, 2 lex */
    int rev, withscores, has_limit;
    long long start, stop;      /* rank */
    double min, max;            /* score */
    int minex, maxex;           /* exclusive bounds */
    struct resp_arg lmin, lmax; /* lex: the bound's bytes after [ or ( */
    int lmin_inf, lmax_inf;     /* -1: "-", +1: "+", 0: a value */
    long long offset, count;    /* LIMIT; count < 0: all */
    uint32_t store;             /* ZRANGESTORE: 1 (argv[1] the destination), else 0 */
    struct zbound {             /* a large sorted set's bounds (zbelow) */
        const struct zrange_spec *s;
        int hi;
    } lo_b, hi_b;
};

static int parse_score_bound(const struct resp_arg *a, double *v, int *ex)
{
    struct resp_arg b = *a;
    *ex = 0;
    if (b.len && b.ptr[0] == '(') {
        *ex = 1;
        b.ptr++;
        b.len--;
    }
    if (b.len == 0) { /* Redis's strtod of "": 0 */
        *v = 0;
        return 0;
    }
    return parse_score(&b, v);
}

static int parse_lex_bound(const struct resp_arg *a, struct resp_arg *v, int *inf, int *ex)
{
    *inf = 0;
    *ex = 0;
    if (a->len == 1 && a->ptr[0] == '-') {
        *inf = -1;
        return 0;
    }
    if (a->len == 1 && a->ptr[0] == '+') {
        *inf = 1;
        return 0;
    }
    if (a->len == 0 || (a->ptr[0] != '(' && a->ptr[0] != '['))
        return -1;
    *ex = a->ptr[0] == '(';
    *v = (struct resp_arg){a->ptr + 1, a->len - 1};
    return 0;
}

static int lexcmp(const struct coll_zel *x, const struct resp_arg *v)
{
    size_t m = x->len < v->len ? x->len : v->len;
    int c = m ? memcmp(x->p, v->ptr, m) : 0;
    return c ? c : (x->len > v->len) - (x->len < v->len);
}

/* Whether element x is inside the spec's score or lex range. */
static int in_range(const struct zrange_spec *s, const struct coll_zel *x)
{
    if (s->kind == 1) {
        if (s->minex ? x->score <= s->min : x->score < s->min)
            return 0;
        return s->maxex ? x->score < s->max : x->score <= s->max;
    }
    int lo = s->lmin_inf == -1  ? 1
             : s->lmin_inf == 1 ? 0
                                : (s->minex ? lexcmp(x, &s->lmin) > 0 : lexcmp(x, &s->lmin) >= 0);
    int hi = s->lmax_inf == 1    ? 1
             : s->lmax_inf == -1 ? 0
                                 : (s->maxex ? lexcmp(x, &s->lmax) < 0 : lexcmp(x, &s->lmax) <= 0);
    return lo && hi;
}

/* Whether x comes before the spec's range (b: its lo bound) or is not past its end (its
 * hi bound): the positions of a large sorted set's range in its tree. */
static int zbelow(const struct coll_zel *x, const void *arg)
{
    const struct zbound *b = arg;
    const struct zrange_spec *s = b->s;
    if (s->kind == 1) {
        if (!b->hi)
            return s->minex ? x->score <= s->min : x->score < s->min;
        return s->maxex ? x->score < s->max : x->score <= s->max;
    }
    if (!b->hi)
        return s->lmin_inf == -1  ? 0
               : s->lmin_inf == 1 ? 1
                                  : (s->minex ? lexcmp(x, &s->lmin) <= 0 : lexcmp(x, &s->lmin) < 0);
    return s->lmax_inf == 1    ? 1
           : s->lmax_inf == -1 ? 0
                               : (s->maxex ? lexcmp(x, &s->lmax) < 0 : lexcmp(x, &s->lmax) <= 0);
}

/* The ranks [*a, *b) of a large sorted set of count elements the spec selects, its range
 * being ranks [rlo, rhi) (score, lex) or all of it (rank). */
static void zwindow(struct req *r, uint64_t count, uint64_t rlo, uint64_t rhi, uint64_t *a,
                    uint64_t *b)
{
    const struct zrange_spec *s = r->aux;
    long long n = (long long)count;
    if (s->kind == 0) {
        long long x = s->start < 0 ? n + s->start : s->start;
        long long y = s->stop < 0 ? n + s->stop : s->stop;
        if (x < 0)
            x = 0;
        if (y >= n)
            y = n - 1;
        if (x > y)
            return;
        *a = (uint64_t)(s->rev ? n - 1 - y : x);
        *b = (uint64_t)(s->rev ? n - x : y + 1);
        return;
    }
    if (s->store == 2 || s->count == 0 || s->offset < 0 ||
        (uint64_t)s->offset >= rhi - rlo) /* counting, or nothing selected */
        return;
    uint64_t off = (uint64_t)s->offset, k = s->count < 0 ? rhi - rlo : (uint64_t)s->count;
    if (!s->rev) {
        *a = rlo + off;
        *b = k < rhi - *a ? *a + k : rhi;
    } else {
        *b = rhi - off;
        *a = k < *b - rlo ? *b - k : rlo;
    }
}

static void reply_elems(struct req *r, const struct coll_zel *e, const size_t *sel, size_t k,
                        int withscores);

/* A large sorted set's range read from its tree: e[0..b-a) in rank order. */
static void zrange_tree(struct req *r, const struct coll_zel *e, uint64_t a, uint64_t b,
                        uint64_t count, uint64_t rlo, uint64_t rhi)
{
    const struct zrange_spec *s = r->aux;
    (void)count;
    if (s->store == 2) { /* ZCOUNT, ZLEXCOUNT */
        reply_int(r, (int64_t)(rhi - rlo));
        req_done(r);
        return;
    }
    size_t k = (size_t)(b - a), *sel = malloc((k + 1) * sizeof(*sel));
    if (sel == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t i = 0; i < k; i++)
        sel[i] = s->rev ? k - 1 - i : i;
    reply_elems(r, e, sel, k, s->withscores);
    free(sel);
    req_done(r);
}

/* The range read of spec s (in r->aux): from a large sorted set's tree, else cb with the
 * whole set. */
static void zrange_read(struct req *r, struct zrange_spec *s, const struct resp_arg *key,
                        ls_get_cb cb)
{
    s->lo_b = (struct zbound){s, 0};
    s->hi_b = (struct zbound){s, 1};
    struct large_zrange q = {.below = s->kind ? zbelow : NULL,
                             .lo = &s->lo_b,
                             .hi = &s->hi_b,
                             .window = zwindow,
                             .done = zrange_tree};
    large_zrange_get(r, key, &q, cb);
}

/* Selects the elements the spec names out of e[0..n), in reply order, into sel (indexes).
 * Returns how many. */
static size_t zselect(const struct zrange_spec *s, const struct coll_zel *e, size_t n, size_t *sel)
{
    size_t k = 0;
    if (s->kind == 0) {
        long long a = s->start < 0 ? (long long)n + s->start : s->start;
        long long b = s->stop < 0 ? (long long)n + s->stop : s->stop;
        if (a < 0)
            a = 0;
        if (b >= (long long)n)
            b = (long long)n - 1;
        for (long long i = a; i <= b; i++)
            sel[k++] = s->rev ? n - 1 - (size_t)i : (size_t)i;
        return k;
    }
    long long skip = s->offset;
    for (size_t j = 0; j < n; j++) {
        size_t i = s->rev ? n - 1 - j : j;
        if (!in_range(s, &e[i]))
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        if (s->count >= 0 && (long long)k >= s->count)
            break;
        sel[k++] = i;
    }
    return k;
}

static void reply_elems(struct req *r, const struct coll_zel *e, const size_t *sel, size_t k,
                        int withscores)
{
    if (withscores && r->proto == 3) {
        reply_array(r, k);
        for (size_t i = 0; i < k; i++) {
            reply_array(r, 2);
            reply_bulk(r, e[sel[i]].p, e[sel[i]].len);
            reply_double(r, e[sel[i]].score);
        }
        return;
    }
    reply_array(r, withscores ? 2 * k : k);
    for (size_t i = 0; i < k; i++) {
        reply_bulk(r, e[sel[i]].p, e[sel[i]].len);
        if (withscores)
            reply_double(r, e[sel[i]].score);
    }
}

static void zrange_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zrange_spec *s = r->aux;
    struct coll_zel *e;
    size_t n;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    size_t *sel = malloc((n + 1) * sizeof(*sel));
    if (sel == NULL) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    size_t k = zselect(s, e, n, sel);
    if (!s->store) {
        reply_elems(r, e, sel, k, s->withscores);
        free(sel);
        free(e);
        req_done(r);
        return;
    }
    /* ZRANGESTORE: the destination is replaced by the selection (sorted again) */
    struct coll_zel *d = malloc((k + 1) * sizeof(*d));
    if (d == NULL) {
        free(sel);
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t i = 0; i < k; i++)
        d[i] = e[sel[i]];
    qsort(d, k, sizeof(*d), zcmp);
    free(sel);
    zset_store_dest(r, d, k, "zrangestore");
    free(d);
    free(e);
}

/* Parses a range command whose key is argv[key] and bounds argv[key+1], argv[key+2]; kind
 * and rev come from the command, opts from argv[key+3..] (ZRANGE's BYSCORE BYLEX REV LIMIT
 * WITHSCORES when generic). Replies and returns -1 on error. */
static int zrange_parse(struct req *r, struct zrange_spec *s, uint32_t key, int generic)
{
    const struct resp_arg *lo = &r->argv[key + 1], *hi = &r->argv[key + 2];
    s->count = -1;
    for (uint32_t i = key + 3; i < r->argc; i++) {
        const struct resp_arg *a = &r->argv[i];
        if (cmd_arg_is(a, "withscores") && !(generic && s->store)) {
            s->withscores = 1;
        } else if (cmd_arg_is(a, "limit") && i + 2 < r->argc) {
            if (cmd_arg_ll(&r->argv[i + 1], &s->offset) < 0 ||
                cmd_arg_ll(&r->argv[i + 2], &s->count) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            s->has_limit = 1;
            i += 2;
        } else if (generic && !s->kind && cmd_arg_is(a, "byscore")) {
            s->kind = 1; /* once: a second BY* or REV is a syntax error, as in Redis */
        } else if (generic && !s->kind && cmd_arg_is(a, "bylex")) {
            s->kind = 2;
        } else if (generic && !s->rev && cmd_arg_is(a, "rev")) {
            s->rev = 1;
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    if (s->has_limit && s->kind == 0) {
        reply_error(r, "ERR syntax error, LIMIT is only supported in combination with either "
                       "BYSCORE or BYLEX");
        return -1;
    }
    if (s->withscores && s->kind == 2) {
        reply_error(r, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return -1;
    }
    if (s->offset < 0)
        s->count = 0;             /* Redis: a negative offset selects nothing */
    if (s->rev && s->kind != 0) { /* REV takes max before min */
        const struct resp_arg *t = lo;
        lo = hi;
        hi = t;
    }
    if (s->kind == 0) {
        if (cmd_arg_ll(lo, &s->start) < 0 || cmd_arg_ll(hi, &s->stop) < 0) {
            reply_error(r, ERR_NOT_INT);
            return -1;
        }
    } else if (s->kind == 1) {
        if (parse_score_bound(lo, &s->min, &s->minex) < 0 ||
            parse_score_bound(hi, &s->max, &s->maxex) < 0) {
            reply_error(r, ERR_MINMAX);
            return -1;
        }
    } else if (parse_lex_bound(lo, &s->lmin, &s->lmin_inf, &s->minex) < 0 ||
               parse_lex_bound(hi, &s->lmax, &s->lmax_inf, &s->maxex) < 0) {
        reply_error(r, ERR_LEXRANGE);
        return -1;
    }
    return 0;
}

static void zrange_start(struct req *r, int kind, int rev, uint32_t key, int generic, int store)
{
    struct zrange_spec *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    s->kind = kind;
    s->rev = rev;
    s->store = (uint32_t)store;
    r->aux = s;
    r->aux_free = free;
    if (zrange_parse(r, s, key, generic) < 0) {
        req_done(r);
        return;
    }
    if (!store)
        zrange_read(r, s, &r->argv[key], zrange_cb);
    else
        zset_read(r, &r->argv[key], zrange_cb);
}

void cmd_zset_zrange(struct req *r)
{
    zrange_start(r, 0, 0, 1, 1, 0);
}

void cmd_zset_zrangestore(struct req *r)
{
    zrange_start(r, 0, 0, 2, 1, 1);
}

void cmd_zset_zrevrange(struct req *r)
{
    zrange_start(r, 0, 1, 1, 0, 0);
}

void cmd_zset_zrangebyscore(struct req *r)
{
    zrange_start(r, 1, 0, 1, 0, 0);
}

void cmd_zset_zrevrangebyscore(struct req *r)
{
    zrange_start(r, 1, 1, 1, 0, 0);
}

void cmd_zset_zrangebylex(struct req *r)
{
    zrange_start(r, 2, 0, 1, 0, 0);
}

void cmd_zset_zrevrangebylex(struct req *r)
{
    zrange_start(r, 2, 1, 1, 0, 0);
}

/* ZCOUNT, ZLEXCOUNT (the spec in aux) and ZREMRANGEBY* (r->step 1: remove). */
static void zcount_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zrange_spec *s = r->aux;
    struct coll_zel *e;
    size_t n, k = 0;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    size_t *sel = malloc((n + 1) * sizeof(*sel));
    if (sel == NULL) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    k = zselect(s, e, n, sel);
    if (s->store != 1) { /* counting (2: ZCOUNT, ZLEXCOUNT) */
        free(sel);
        free(e);
        reply_int(r, (int64_t)k);
        req_done(r);
        return;
    }
    uint8_t *drop = calloc(n + 1, 1);
    for (size_t i = 0; drop && i < k; i++)
        drop[sel[i]] = 1;
    size_t m = 0;
    for (size_t i = 0; drop && i < n; i++)
        if (!drop[i])
            e[m++] = e[i];
    free(sel);
    if (drop == NULL) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    free(drop);
    r->num = (int64_t)k;
    if (k == 0) {
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    static const char *const ev[] = {"zremrangebyrank", "zremrangebyscore", "zremrangebylex"};
    zset_write(r, &r->argv[1], it, e, m, fl, ev[s->kind], CMD_REPLY_NUM);
    free(e);
}

static void zcount_start(struct req *r, int kind, int remove)
{
    struct zrange_spec *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    s->kind = kind;
    s->store = (uint32_t)remove; /* here: remove what is selected */
    s->count = -1;
    r->aux = s;
    r->aux_free = free;
    const struct resp_arg *lo = &r->argv[2], *hi = &r->argv[3];
    int bad = 0;
    if (kind == 0)
        bad = cmd_arg_ll(lo, &s->start) < 0 || cmd_arg_ll(hi, &s->stop) < 0;
    else if (kind == 1)
        bad = parse_score_bound(lo, &s->min, &s->minex) < 0 ||
              parse_score_bound(hi, &s->max, &s->maxex) < 0;
    else
        bad = parse_lex_bound(lo, &s->lmin, &s->lmin_inf, &s->minex) < 0 ||
              parse_lex_bound(hi, &s->lmax, &s->lmax_inf, &s->maxex) < 0;
    if (bad) {
        reply_error(r, kind == 0 ? ERR_NOT_INT : kind == 1 ? ERR_MINMAX : ERR_LEXRANGE);
        req_done(r);
        return;
    }
    if (!remove) { /* counting: a large one's from its tree */
        s->store = 2;
        zrange_read(r, s, &r->argv[1], zcount_cb);
        return;
    }
    zset_read(r, &r->argv[1], zcount_cb);
}

void cmd_zset_zcount(struct req *r)
{
    zcount_start(r, 1, 0);
}

void cmd_zset_zlexcount(struct req *r)
{
    zcount_start(r, 2, 0);
}

void cmd_zset_zremrangebyrank(struct req *r)
{
    zcount_start(r, 0, 1);
}

void cmd_zset_zremrangebyscore(struct req *r)
{
    zcount_start(r, 1, 1);
}

void cmd_zset_zremrangebylex(struct req *r)
{
    zcount_start(r, 2, 1);
}

/* ---- pops ---- */

/* The pop of ZPOPMIN/ZPOPMAX/BZPOPMIN/BZPOPMAX/ZMPOP/BZMPOP from a key's set. */
struct zpop {
    int max;     /* ZPOPMAX */
    int form;    /* 0 ZPOP*, 1 BZPOP* ([key, member, score]), 2 Z(B)MPOP */
    int counted; /* ZPOP* with a count */
    long long count;
    uint32_t first, last, at; /* the keys */
    uint64_t block_ms;        /* UINT64_MAX: does not block */
};

static void zpop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zpop *p = r->aux;
    struct coll_zel *e;
    size_t n;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    const struct resp_arg *key = &r->argv[p->at];
    if (n == 0) {
        free(e);
        if (p->at < p->last) {
            p->at++;
            large_zpop_get(r, &r->argv[p->at], (uint64_t)p->count, p->max, zpop_cb);
            return;
        }
        if (p->block_ms != UINT64_MAX &&
            block_wait(r, p->first, p->last, p->block_ms, BLOCK_NULL_ARRAY) == 0)
            return;
        if (p->form == 0)
            reply_array(r, 0);
        else
            reply_null_array(r);
        req_done(r);
        return;
    }
    size_t k = (uint64_t)p->count < n ? (size_t)p->count : n;
    pbuf_reset(&r->tmp);
    /* ZMPOP: [member, score] pairs in both protocols; ZPOP* with a count: pairs in RESP3 */
    int wrc = 0, pairs = p->form == 2 || (r->proto == 3 && p->counted);
    if (p->form == 1) {
        wrc = resp_w_array(&r->tmp, 3);
        if (wrc == 0)
            wrc = resp_w_bulk(&r->tmp, key->ptr, key->len);
    } else if (p->form == 2) {
        wrc = resp_w_array(&r->tmp, 2);
        if (wrc == 0)
            wrc = resp_w_bulk(&r->tmp, key->ptr, key->len);
        if (wrc == 0)
            wrc = resp_w_array(&r->tmp, k);
    } else {
        wrc = resp_w_array(&r->tmp, pairs ? k : 2 * k);
    }
    for (size_t i = 0; i < k && wrc == 0; i++) {
        const struct coll_zel *x = p->max ? &e[n - 1 - i] : &e[i];
        if (pairs)
            wrc = resp_w_array(&r->tmp, 2);
        if (wrc == 0)
            wrc = resp_w_bulk(&r->tmp, x->p, x->len);
        tmp_double(&r->tmp, r->proto, x->score, &wrc);
    }
    reply_check(r, wrc);
    zset_write(r, key, it, p->max ? e : e + k, n - k, fl, p->max ? "zpopmax" : "zpopmin",
               CMD_REPLY_TMP);
    free(e);
}

static void zpop_start(struct req *r, struct zpop *tmpl)
{
    if (r->aux && r->aux_free) /* run again after blocking: the last run's */
        r->aux_free(r->aux);
    r->aux = NULL;
    struct zpop *p = malloc(sizeof(*p));
    if (p == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    *p = *tmpl;
    p->at = p->first;
    r->aux = p;
    r->aux_free = free;
    large_zpop_get(r, &r->argv[p->at], (uint64_t)p->count, p->max, zpop_cb);
}

static void zpop_generic(struct req *r, int max)
{
    long long count = 1;
    if (r->argc > 3) {
        reply_error(r, ERR_SYNTAX);
        req_done(r);
        return;
    }
    if (r->argc == 3 && (cmd_arg_ll(&r->argv[2], &count) < 0 || count < 0)) {
        reply_error(r, "ERR value is out of range, must be positive");
        req_done(r);
        return;
    }
    struct zpop t = {.max = max,
                     .counted = r->argc == 3,
                     .count = count,
                     .first = 1,
                     .last = 1,
                     .block_ms = UINT64_MAX};
    zpop_start(r, &t);
}

void cmd_zset_zpopmin(struct req *r)
{
    zpop_generic(r, 0);
}

void cmd_zset_zpopmax(struct req *r)
{
    zpop_generic(r, 1);
}

static void bzpop_generic(struct req *r, int max)
{
    uint64_t ms;
    if (block_timeout_arg(r, r->argv[r->argc - 1].ptr, r->argv[r->argc - 1].len, &ms) < 0) {
        req_done(r);
        return;
    }
    struct zpop t = {
        .max = max, .form = 1, .count = 1, .first = 1, .last = r->argc - 2, .block_ms = ms};
    zpop_start(r, &t);
}

void cmd_zset_bzpopmin(struct req *r)
{
    bzpop_generic(r, 0);
}

void cmd_zset_bzpopmax(struct req *r)
{
    bzpop_generic(r, 1);
}

/* ZMPOP numkeys key [key ...] MIN|MAX [COUNT count] from argv[at] (numkeys). */
static void zmpop_generic(struct req *r, uint32_t at, uint64_t block_ms)
{
    long long nk, count;
    int max;
    if (coll_mpop_args(r, at, "min", "max", &nk, &max, &count) < 0)
        return;
    struct zpop t = {.max = max,
                     .form = 2,
                     .count = count,
                     .first = at + 1,
                     .last = at + (uint32_t)nk,
                     .block_ms = block_ms};
    zpop_start(r, &t);
}

void cmd_zset_zmpop(struct req *r)
{
    zmpop_generic(r, 1, UINT64_MAX);
}

void cmd_zset_bzmpop(struct req *r)
{
    uint64_t ms;
    if (block_timeout_arg(r, r->argv[1].ptr, r->argv[1].len, &ms) < 0) {
        req_done(r);
        return;
    }
    zmpop_generic(r, 2, ms);
}

/* ---- ZRANDMEMBER, ZSCAN ---- */

static void zrandmember_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_zel *e;
    size_t n;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    int withscores = r->argc == 4;
    if (r->argc == 2) {
        if (n == 0) {
            reply_null(r);
        } else {
            size_t i = coll_rand() % n;
            reply_bulk(r, e[i].p, e[i].len);
        }
        free(e);
        req_done(r);
        return;
    }
    size_t *sel = malloc((n + 1) * sizeof(*sel));
    size_t k = 0;
    if (sel == NULL) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    if (n && r->num < 0) {
        uint64_t m = (uint64_t)(-(r->num + 1)) + 1;
        size_t *more = realloc(sel, (m + 1) * sizeof(*sel));
        if (more == NULL) {
            free(sel);
            free(e);
            reply_error(r, "ERR out of memory");
            req_done(r);
            return;
        }
        sel = more;
        for (uint64_t i = 0; i < m; i++)
            sel[k++] = coll_rand() % n;
    } else if (n) {
        for (size_t i = 0; i < n; i++)
            sel[i] = i;
        k = (uint64_t)r->num < n ? (size_t)r->num : n;
        for (size_t i = 0; i < k; i++) {
            size_t j = i + coll_rand() % (n - i), t = sel[i];
            sel[i] = sel[j];
            sel[j] = t;
        }
    }
    reply_elems(r, e, sel, k, withscores);
    free(sel);
    free(e);
    req_done(r);
}

void cmd_zset_zrandmember(struct req *r)
{
    if (coll_randcount_args(r, "withscores") == 0)
        zset_read(r, &r->argv[1], zrandmember_cb);
}

static void zscan_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_zel *e;
    size_t n, k = 0;
    uint8_t fl;
    if (zset_of(r, rc, it, 0, &e, &n, &fl))
        return;
    const struct resp_arg *match = r->u64 ? &r->argv[r->u64] : NULL;
    for (size_t i = 0; i < n; i++)
        if (!match || glob_match(match->ptr, match->len, (const char *)e[i].p, e[i].len, 0))
            e[k++] = e[i];
    reply_array(r, 2);
    reply_bulk(r, "0", 1);
    reply_array(r, 2 * k);
    for (size_t i = 0; i < k; i++) {
        reply_bulk(r, e[i].p, e[i].len);
        pbuf_reset(&r->tmp);
        int wrc = resp_w_double(&r->tmp, 2, e[i].score); /* ZSCAN: scores as bulk strings */
        reply_check(r, wrc);
        reply_raw(r, r->tmp.data, r->tmp.len);
    }
    free(e);
    req_done(r);
}

void cmd_zset_zscan(struct req *r)
{
    if (cmd_coll_scan_args(r, 3) < 0) {
        req_done(r);
        return;
    }
    zset_read(r, &r->argv[1], zscan_cb);
}

/* ---- ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD ---- */

enum zop_kind { ZOP_UNION, ZOP_INTER, ZOP_DIFF };
enum zagg { AGG_SUM, AGG_MIN, AGG_MAX };

struct zowned {
    uint8_t *p;
    size_t len;
    double score;
};

struct zop {
    enum zop_kind op;
    enum zagg agg;
    int store, withscores, card;
    long long limit;
    uint32_t first, nkeys, at; /* the source keys argv[first .. first+nkeys) */
    double *weights;
    struct zowned *acc;
    size_t n, cap;
    int started;
    struct coll_idx idx; /* acc's members (slot NULL: to be built) */
};

static void zop_free(void *v)
{
    struct zop *o = v;
    for (size_t i = 0; i < o->n; i++)
        free(o->acc[i].p);
    free(o->acc);
    free(o->weights);
    coll_idx_free(&o->idx);
    free(o);
}

static void acc_key(const void *arg, size_t i, const uint8_t **p, size_t *len)
{
    const struct zop *o = arg;
    *p = o->acc[i].p;
    *len = o->acc[i].len;
}

/* The accumulated member p[0..len): its index, -1 when absent, -2 out of memory. */
static ssize_t zacc_find(struct zop *o, const uint8_t *p, size_t len)
{
    if (o->idx.slot == NULL) {
        if (coll_idx_init(&o->idx, acc_key, o) < 0)
            return -2;
        for (size_t i = 0; i < o->n; i++)
            if (coll_idx_add(&o->idx, i) < 0)
                return -2;
    }
    return (ssize_t)coll_idx_find(&o->idx, p, len);
}

/* Drops the accumulated members marked in drop[0..n) (the index is built again). */
static void zacc_compact(struct zop *o, const uint8_t *drop)
{
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (drop[i])
            free(o->acc[i].p);
        else
            o->acc[k++] = o->acc[i];
    }
    o->n = k;
    coll_idx_free(&o->idx);
}

static int zacc_add(struct zop *o, const uint8_t *p, size_t len, double score)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        struct zowned *a = realloc(o->acc, cap * sizeof(*a));
        if (!a)
            return -1;
        o->acc = a;
        o->cap = cap;
    }
    uint8_t *c = malloc(len ? len : 1);
    if (!c)
        return -1;
    if (len)
        memcpy(c, p, len);
    o->acc[o->n++] = (struct zowned){c, len, score};
    return o->idx.slot && coll_idx_add(&o->idx, o->n - 1) < 0 ? -1 : 0;
}

static double aggregate(enum zagg a, double x, double y)
{
    if (a == AGG_MIN)
        return x < y ? x : y;
    if (a == AGG_MAX)
        return x > y ? x : y;
    double s = x + y;
    return isnan(s) ? 0.0 : s; /* inf + -inf: Redis takes 0 */
}

static void zop_next(struct req *r);

static void zop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct zop *o = r->aux;
    struct coll_zel *e = NULL;
    size_t n = 0;
    uint8_t fl;
    int d = 0;
    if (rc == 0 && it->vtype == COLL_ZSET) {
        d = coll_zset_decode(it->value, it->value_len, 0, &e, &n, &fl);
    } else if (rc == 0 && it->vtype == COLL_SET) { /* a set's members score 1 */
        struct coll_str *m;
        d = coll_elems_decode(it->value, it->value_len, 0, &m, &n, &fl);
        if (d == 0) {
            e = malloc((n + 1) * sizeof(*e));
            for (size_t i = 0; e && i < n; i++)
                e[i] = (struct coll_zel){1.0, m[i].p, m[i].len};
            free(m);
            if (!e)
                d = -2;
        }
    } else if (rc == 0) {
        rc = SRV_EWRONGTYPE;
    }
    if (rc != 0 && rc != LS_ENOTFOUND) {
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    if (d != 0) {
        reply_error(r, d == -2 ? "ERR out of memory" : ERR_BAD_ZSET);
        req_done(r);
        return;
    }
    double w = o->weights ? o->weights[o->at - o->first] : 1.0;
    int first = !o->started, oom = 0;
    o->started = 1;
    if (o->op == ZOP_UNION || first) {
        for (size_t i = 0; i < n && !oom; i++) {
            double sc = e[i].score * w;
            if (isnan(sc))
                sc = 0;
            ssize_t j = zacc_find(o, e[i].p, e[i].len);
            if (j >= 0)
                o->acc[j].score = aggregate(o->agg, o->acc[j].score, sc);
            else
                oom = j == -2 ||
                      zacc_add(o, e[i].p, e[i].len, o->op == ZOP_DIFF ? e[i].score : sc) < 0;
        }
    } else {
        /* INTER keeps what this source has too, DIFF drops it */
        uint8_t *drop = calloc(o->n + 1, 1);
        struct coll_idx ix = {0};
        oom = drop == NULL || (o->op == ZOP_INTER && coll_idx_init(&ix, zel_key, e) < 0);
        for (size_t i = 0; !oom && o->op == ZOP_INTER && i < n; i++)
            oom = coll_idx_add(&ix, i) < 0;
        for (size_t i = 0; !oom && o->op == ZOP_INTER && i < o->n; i++) {
            long j = coll_idx_find(&ix, o->acc[i].p, o->acc[i].len);
            if (j < 0) {
                drop[i] = 1;
            } else {
                double sc = e[j].score * w;
                if (isnan(sc))
                    sc = 0;
                o->acc[i].score = aggregate(o->agg, o->acc[i].score, sc);
            }
        }
        for (size_t i = 0; !oom && o->op == ZOP_DIFF && i < n; i++) {
            ssize_t j = zacc_find(o, e[i].p, e[i].len);
            oom = j == -2;
            if (j >= 0)
                drop[j] = 1;
        }
        if (!oom)
            zacc_compact(o, drop);
        coll_idx_free(&ix);
        free(drop);
    }
    free(e);
    if (oom) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    if (rc == LS_ENOTFOUND && o->op == ZOP_INTER) { /* an absent key: the intersection is empty */
        for (size_t i = 0; i < o->n; i++)
            free(o->acc[i].p);
        o->n = 0;
        coll_idx_free(&o->idx);
    }
    o->at++;
    zop_next(r);
}

static void zop_reply(struct req *r)
{
    struct zop *o = r->aux;
    if (o->card) {
        size_t k = o->n;
        if (o->limit && (uint64_t)o->limit < k)
            k = (size_t)o->limit;
        reply_int(r, (int64_t)k);
        req_done(r);
        return;
    }
    struct coll_zel *e = malloc((o->n + 1) * sizeof(*e));
    size_t *sel = malloc((o->n + 1) * sizeof(*sel));
    if (e == NULL || sel == NULL) {
        free(e);
        free(sel);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        e[i] = (struct coll_zel){o->acc[i].score, o->acc[i].p, o->acc[i].len};
        sel[i] = i;
    }
    qsort(e, o->n, sizeof(*e), zcmp);
    if (!o->store) {
        reply_elems(r, e, sel, o->n, o->withscores);
        free(e);
        free(sel);
        req_done(r);
        return;
    }
    free(sel);
    static const char *const ev[] = {"zunionstore", "zinterstore", "zdiffstore"};
    zset_store_dest(r, e, o->n, ev[o->op]);
    free(e);
}

static void zop_next(struct req *r)
{
    struct zop *o = r->aux;
    if (o->at >= o->first + o->nkeys) {
        zop_reply(r);
        return;
    }
    r->want_type = VT_ANY; /* a set is read as scores of 1 */
    large_coll_get(r, &r->argv[o->at], zop_cb);
}

/* argv[at] is numkeys; store: argv[1] the destination. */
static void zop_start(struct req *r, enum zop_kind op, uint32_t at, int store, int card)
{
    long long nk;
    if (cmd_arg_ll(&r->argv[at], &nk) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    if (nk < 1) {
        reply_errorf(r, "ERR at least 1 input key is needed for '%s' command", r->cmd->name);
        req_done(r);
        return;
    }
    if ((uint64_t)nk > r->argc - at - 1) {
        reply_error(r,
                    card ? "ERR Number of keys can't be greater than number of args" : ERR_SYNTAX);
        req_done(r);
        return;
    }
    struct zop *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    o->op = op;
    o->store = store;
    o->card = card;
    o->first = at + 1;
    o->nkeys = (uint32_t)nk;
    o->at = o->first;
    r->aux = o;
    r->aux_free = zop_free;
    const char *err = NULL;
    for (uint32_t j = o->first + o->nkeys; j < r->argc && !err; j++) {
        uint32_t left = r->argc - j;
        if (op != ZOP_DIFF && !card && left > o->nkeys && cmd_arg_is(&r->argv[j], "weights")) {
            o->weights = malloc(o->nkeys * sizeof(double));
            if (!o->weights) {
                err = "ERR out of memory";
                break;
            }
            for (uint32_t i = 0; i < o->nkeys; i++) {
                if (parse_score(&r->argv[j + 1 + i], &o->weights[i]) < 0) {
                    err = "ERR weight value is not a float";
                    break;
                }
            }
            j += o->nkeys;
        } else if (op != ZOP_DIFF && !card && left >= 2 && cmd_arg_is(&r->argv[j], "aggregate")) {
            const struct resp_arg *a = &r->argv[++j];
            if (cmd_arg_is(a, "sum"))
                o->agg = AGG_SUM;
            else if (cmd_arg_is(a, "min"))
                o->agg = AGG_MIN;
            else if (cmd_arg_is(a, "max"))
                o->agg = AGG_MAX;
            else
                err = ERR_SYNTAX;
        } else if (!store && !card && cmd_arg_is(&r->argv[j], "withscores")) {
            o->withscores = 1;
        } else if (card && left >= 2 && cmd_arg_is(&r->argv[j], "limit")) {
            if (cmd_arg_ll(&r->argv[++j], &o->limit) < 0 || o->limit < 0)
                err = "ERR LIMIT can't be negative";
        } else {
            err = ERR_SYNTAX;
        }
    }
    if (err) {
        reply_error(r, err);
        req_done(r);
        return;
    }
    zop_next(r);
}

void cmd_zset_zunion(struct req *r)
{
    zop_start(r, ZOP_UNION, 1, 0, 0);
}

void cmd_zset_zinter(struct req *r)
{
    zop_start(r, ZOP_INTER, 1, 0, 0);
}

void cmd_zset_zdiff(struct req *r)
{
    zop_start(r, ZOP_DIFF, 1, 0, 0);
}

void cmd_zset_zunionstore(struct req *r)
{
    zop_start(r, ZOP_UNION, 2, 1, 0);
}

void cmd_zset_zinterstore(struct req *r)
{
    zop_start(r, ZOP_INTER, 2, 1, 0);
}

void cmd_zset_zdiffstore(struct req *r)
{
    zop_start(r, ZOP_DIFF, 2, 1, 0);
}

void cmd_zset_zintercard(struct req *r)
{
    zop_start(r, ZOP_INTER, 1, 0, 1);
}
