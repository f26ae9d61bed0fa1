/*
 * cmd_set.c - Redis sets: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER
 * SMOVE SINTER SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SINTERCARD SSCAN.
 *
 * A set is one record under its key, value type COLL_SET, its value the small form of
 * proto/coll.h (its members, each once), read and rewritten whole under the key's lock as
 * hashes and lists are (cmd_hash.c). Redis 7.0's encodings are kept in view: while every
 * member is an integer and there are at most set-max-intset-entries of them the members
 * are kept in ascending numeric order (an intset: SMEMBERS answers in that order, OBJECT
 * ENCODING says intset); past that COLL_F_BIG is set for good (hashtable) and members keep
 * their insertion order. SMOVE writes both sets in one batch. Membership tests are linear
 * in the set's size (one record up to max_value_size).
 */
#include <limits.h>
#include <stddef.h>
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
#include "txn.h"

#define ERR_BAD_SET "ERR data corruption detected while reading the key (set encoding)"

/* The members of a read (*e malloc'd with `extra` spare places; *n 0 when absent) and its
 * header flags, or the reply of an error: returns 1 when the callback must return. */
static int set_of(struct req *r, int rc, const struct ls_item *it, size_t extra,
                  struct coll_str **e, size_t *n, uint8_t *flags)
{
    *e = NULL;
    *n = 0;
    *flags = 0;
    if (coll_read_begin(r, &rc))
        return 1;
    int d = rc == 0 ? coll_elems_decode(it->value, it->value_len, extra, e, n, flags) : 0;
    if (rc != 0 && (*e = malloc((extra + 1) * sizeof(**e))) == NULL)
        d = -2;
    if (d != 0) {
        coll_decode_failed(r, d, "set");
        return 1;
    }
    return 0;
}

static void set_read(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    r->want_type = COLL_SET;
    large_coll_get(r, key, cb);
}

/* SADD, SREM: of a large set, only the buckets of the members from argv[2] are read
 * (large_part_get). */
static void set_part(struct req *r, ls_get_cb cb, int write)
{
    r->want_type = COLL_SET;
    large_part_get(r, &r->argv[1], cb, 2, 1, write);
}

static int is_int(const struct coll_str *x)
{
    long long v;
    return cmd_parse_ll((const char *)x->p, x->len, &v) == 0;
}

static long long int_of(const struct coll_str *x)
{
    long long v = 0;
    cmd_parse_ll((const char *)x->p, x->len, &v);
    return v;
}

static int cmp_int(const void *a, const void *b)
{
    long long x = int_of(a), y = int_of(b);
    return x < y ? -1 : x > y;
}

static ssize_t find(const struct coll_str *e, size_t n, const void *p, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].len == len && (len == 0 || memcmp(e[i].p, p, len) == 0))
            return (ssize_t)i;
    return -1;
}

/* Members e[0..n) found by their bytes for a command naming many: past FINDER_SCAN_MAX
 * members and arguments through a coll_strtab (a scan before each argument made an SADD of
 * 200,000 members 34 s, an SREM of 100,000 25 s), else by find. */
#define FINDER_SCAN_MAX 32

struct finder {
    struct coll_strtab t;
    struct coll_keys k;
    size_t n; /* members while scanning */
};

static int finder_init(struct finder *f, const struct coll_str *e, size_t n, size_t args)
{
    f->t.s = NULL;
    f->k = COLL_STR_KEYS(e);
    f->n = n;
    if (n + args <= FINDER_SCAN_MAX)
        return 0;
    return coll_strtab_build(&f->t, &f->k, n, args);
}

static ssize_t finder_find(const struct finder *f, const void *p, size_t len)
{
    return f->t.s ? coll_strtab_find(&f->t, &f->k, p, len) : find(f->k.base, f->n, p, len);
}

/* e[i] was appended. 0, or -1 without memory. */
static int finder_add(struct finder *f, size_t i)
{
    f->n = i + 1;
    return f->t.s ? coll_strtab_put(&f->t, &f->k, i) : 0;
}

/* e[j] goes: the last member takes its place (the caller moves it after this). */
static void finder_drop(struct finder *f, size_t j)
{
    f->n--;
    if (f->t.s)
        coll_strtab_del(&f->t, &f->k, j);
}

static void finder_moved(struct finder *f, size_t from, size_t to)
{
    if (f->t.s && from != to)
        coll_strtab_move(&f->t, &f->k, from, to);
}

static void finder_free(struct finder *f)
{
    coll_strtab_free(&f->t);
}

/* finder_init for a command's handler: on failure e is freed, r answered and done, -1. */
static int finder_open(struct req *r, struct finder *f, struct coll_str *e, size_t n, size_t args)
{
    if (finder_init(f, e, n, args) == 0)
        return 0;
    finder_free(f);
    free(e);
    reply_error(r, "ERR out of memory");
    req_done(r);
    return -1;
}

/* The flags the members e[0..n) are kept with (sorting an intset's), from the old ones. */
static uint8_t set_shape(struct coll_str *e, size_t n, uint8_t flags)
{
    if (!(flags & COLL_F_BIG)) {
        int ints = n <= rconfig_live()->set_max_intset_entries;
        for (size_t i = 0; i < n && ints; i++)
            ints = is_int(&e[i]);
        if (!ints)
            flags |= COLL_F_BIG;
        else
            qsort(e, n, sizeof(*e), cmp_int);
    }
    return flags;
}

/* Writes e[0..n) as the set under key (deleting it when n is 0 and it existed), keeping
 * the TTL of the item read (NULL: absent), replying as mode says. */
static void set_write(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                      struct coll_str *e, size_t n, uint8_t flags, const char *event,
                      enum cmd_reply_mode mode)
{
    struct coll_buf out = {0};
    if (n && coll_elems_encode(e, n, set_shape(e, n, flags), &out) < 0) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    coll_store(r, key, it, out.p, out.len, COLL_SET, NOTIFY_SET, event, mode);
    coll_buf_free(&out);
}

/* ---- SADD, SREM ---- */

static void sadd_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, add = r->argc - 2, added = 0;
    uint8_t fl;
    if (set_of(r, rc, it, add, &e, &n, &fl))
        return;
    struct finder f;
    int oom = finder_init(&f, e, n, add) < 0;
    for (size_t i = 0; i < add && !oom; i++) {
        const struct resp_arg *m = &r->argv[2 + i];
        if (finder_find(&f, m->ptr, m->len) < 0) {
            e[n + added] = (struct coll_str){(const uint8_t *)m->ptr, m->len};
            oom = finder_add(&f, n + added++) < 0;
        }
    }
    finder_free(&f);
    if (oom) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    r->num = (int64_t)added;
    if (added == 0) {
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    set_write(r, &r->argv[1], rc == 0 ? it : NULL, e, n + added, fl, "sadd", CMD_REPLY_NUM);
    free(e);
}

void cmd_set_sadd(struct req *r)
{
    set_part(r, sadd_cb, 1);
}

static void srem_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, gone = 0;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return;
    struct finder f;
    if (finder_open(r, &f, e, n, r->argc - 2) < 0)
        return;
    for (uint32_t i = 2; i < r->argc; i++) {
        ssize_t j = finder_find(&f, r->argv[i].ptr, r->argv[i].len);
        if (j >= 0) {
            finder_drop(&f, (size_t)j);
            e[j] = e[--n]; /* the order of a hashtable set is not kept by Redis either */
            finder_moved(&f, n, (size_t)j);
            gone++;
        }
    }
    finder_free(&f);
    r->num = (int64_t)gone;
    if (gone == 0) {
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    set_write(r, &r->argv[1], it, e, n, fl, "srem", CMD_REPLY_NUM);
    free(e);
}

void cmd_set_srem(struct req *r)
{
    set_part(r, srem_cb, 1);
}

/* ---- reads of one set ---- */

/* SMEMBERS (step 0), SCARD (1), SISMEMBER (2), SMISMEMBER (3). */
static void sread_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return;
    if (r->step == 0) {
        reply_set(r, n);
        for (size_t i = 0; i < n; i++)
            reply_bulk(r, e[i].p, e[i].len);
    } else if (r->step == 1) {
        reply_int(r, (int64_t)n);
    } else if (r->step == 2) {
        reply_int(r, find(e, n, r->argv[2].ptr, r->argv[2].len) >= 0);
    } else {
        struct finder f;
        if (finder_open(r, &f, e, n, r->argc - 2) < 0)
            return;
        reply_array(r, r->argc - 2);
        for (uint32_t i = 2; i < r->argc; i++)
            reply_int(r, finder_find(&f, r->argv[i].ptr, r->argv[i].len) >= 0);
        finder_free(&f);
    }
    free(e);
    req_done(r);
}

static void sread(struct req *r, uint32_t step)
{
    r->step = step;
    set_read(r, &r->argv[1], sread_cb);
}

void cmd_set_smembers(struct req *r)
{
    sread(r, 0);
}

void cmd_set_scard(struct req *r)
{
    r->step = 1;
    r->want_type = COLL_SET;
    large_card_get(r, &r->argv[1], sread_cb); /* a large set's count is in its root */
}

void cmd_set_sismember(struct req *r)
{
    r->step = 2;
    r->want_type = COLL_SET;
    large_part_get(r, &r->argv[1], sread_cb, 2, 0, 0);
}

void cmd_set_smismember(struct req *r)
{
    r->step = 3;
    r->want_type = COLL_SET;
    large_part_get(r, &r->argv[1], sread_cb, 2, 1, 0);
}

/* Moves k random distinct members to the front of e[0..n) (a partial shuffle). */
static void pick(struct coll_str *e, size_t n, size_t k)
{
    for (size_t i = 0; i < k && i < n; i++) {
        size_t j = i + coll_rand() % (n - i);
        struct coll_str t = e[i];
        e[i] = e[j];
        e[j] = t;
    }
}

/* SPOP key [count] (r->u64 1: a count, in r->num). */
static void spop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return;
    size_t k = r->u64 ? ((uint64_t)r->num < n ? (size_t)r->num : n) : (n ? 1 : 0);
    if (k == 0) {
        free(e);
        if (r->u64)
            reply_set(r, 0);
        else
            reply_null(r);
        req_done(r);
        return;
    }
    pick(e, n, k);
    pbuf_reset(&r->tmp);
    int wrc = r->u64 ? resp_w_set(&r->tmp, r->proto, k) : 0;
    for (size_t i = 0; i < k && wrc == 0; i++)
        wrc = resp_w_bulk(&r->tmp, e[i].p, e[i].len);
    reply_check(r, wrc);
    set_write(r, &r->argv[1], it, e + k, n - k, fl, "spop", CMD_REPLY_TMP);
    free(e);
}

void cmd_set_spop(struct req *r)
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
    r->num = count;
    r->u64 = r->argc == 3;
    set_read(r, &r->argv[1], spop_cb);
}

static void srandmember_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return;
    if (!r->u64) {
        if (n == 0)
            reply_null(r);
        else {
            size_t i = coll_rand() % n;
            reply_bulk(r, e[i].p, e[i].len);
        }
    } else if (r->num < 0) { /* repeats allowed */
        uint64_t m = n ? (uint64_t)(-(r->num + 1)) + 1 : 0;
        reply_array(r, m);
        for (uint64_t i = 0; i < m; i++) {
            size_t j = coll_rand() % n;
            reply_bulk(r, e[j].p, e[j].len);
        }
    } else {
        size_t k = (uint64_t)r->num < n ? (size_t)r->num : n;
        pick(e, n, k);
        reply_set(r, k);
        for (size_t i = 0; i < k; i++)
            reply_bulk(r, e[i].p, e[i].len);
    }
    free(e);
    req_done(r);
}

void cmd_set_srandmember(struct req *r)
{
    long long count = 0;
    if (r->argc > 3) {
        reply_error(r, ERR_SYNTAX);
        req_done(r);
        return;
    }
    if (r->argc == 3) {
        if (cmd_arg_ll(&r->argv[2], &count) < 0) {
            reply_error(r, ERR_NOT_INT);
            req_done(r);
            return;
        }
        if (count < -(LLONG_MAX / 2)) {
            reply_error(r, "ERR value is out of range");
            req_done(r);
            return;
        }
    }
    r->num = count;
    r->u64 = r->argc == 3;
    set_read(r, &r->argv[1], srandmember_cb);
}

/* SSCAN key cursor [MATCH pattern] [COUNT count]: every member at once, cursor 0. */
static void sscan_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, k = 0;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return;
    const struct resp_arg *match = r->u64 ? &r->argv[r->u64] : NULL;
    for (size_t i = 0; i < n; i++)
        if (!match || glob_match(match->ptr, match->len, (const char *)e[i].p, e[i].len, 0))
            e[k++] = e[i];
    reply_array(r, 2);
    reply_bulk(r, "0", 1);
    reply_array(r, k);
    for (size_t i = 0; i < k; i++)
        reply_bulk(r, e[i].p, e[i].len);
    free(e);
    req_done(r);
}

void cmd_set_sscan(struct req *r)
{
    if (cmd_coll_scan_args(r, 3) < 0) {
        req_done(r);
        return;
    }
    set_read(r, &r->argv[1], sscan_cb);
}

/* ---- SINTER, SUNION, SDIFF, their STORE forms, SINTERCARD, SMOVE ---- */

enum setop_kind { OP_INTER, OP_UNION, OP_DIFF };

struct owned {
    uint8_t *p;
    size_t len;
};

struct setop {
    enum setop_kind op;
    uint32_t first, last, at; /* the source keys' indexes in argv; the one read now */
    int store;                /* argv[1] is the destination */
    int card;                 /* SINTERCARD: reply the count, at most limit */
    long long limit;
    struct owned *acc; /* the result so far (copies) */
    size_t n, cap;
    struct coll_strtab tab; /* acc's members by their bytes */
    int started;
};

static struct coll_keys acc_keys(const struct setop *o)
{
    return (struct coll_keys){o->acc, sizeof(struct owned), offsetof(struct owned, p),
                              offsetof(struct owned, len)};
}

static void setop_free(void *p)
{
    struct setop *o = p;
    for (size_t i = 0; i < o->n; i++)
        free(o->acc[i].p);
    free(o->acc);
    coll_strtab_free(&o->tab);
    free(o);
}

/* SUNION, SINTER, SDIFF of large sets scanned the result for each member read: O(n*m). */
static ssize_t acc_find(const struct setop *o, const uint8_t *p, size_t len)
{
    if (o->tab.s == NULL)
        return -1; /* nothing added yet */
    struct coll_keys k = acc_keys(o);
    return coll_strtab_find(&o->tab, &k, p, len);
}

static int acc_add(struct setop *o, const uint8_t *p, size_t len)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        struct owned *a = realloc(o->acc, cap * sizeof(*a));
        if (!a)
            return -1;
        o->acc = a;
        o->cap = cap;
    }
    if (o->tab.s == NULL && coll_strtab_init(&o->tab, 16) < 0)
        return -1;
    uint8_t *c = malloc(len ? len : 1);
    if (!c)
        return -1;
    if (len)
        memcpy(c, p, len);
    o->acc[o->n] = (struct owned){c, len};
    struct coll_keys k = acc_keys(o);
    if (coll_strtab_put(&o->tab, &k, o->n) < 0) {
        free(c);
        return -1;
    }
    o->n++;
    return 0;
}

static void acc_drop(struct setop *o, size_t i)
{
    struct coll_keys k = acc_keys(o);
    coll_strtab_del(&o->tab, &k, i);
    free(o->acc[i].p);
    o->acc[i] = o->acc[--o->n];
    k = acc_keys(o);
    if (i != o->n)
        coll_strtab_move(&o->tab, &k, o->n, i);
}

static void setop_next(struct req *r);

static void setop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct setop *o = r->aux;
    struct coll_str *e;
    size_t n;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return; /* r and o (aux_free) are gone */
    int first = !o->started, oom = 0;
    o->started = 1;
    if (o->op == OP_UNION || (first && o->op != OP_UNION)) {
        for (size_t i = 0; i < n && !oom; i++)
            if (acc_find(o, e[i].p, e[i].len) < 0)
                oom = acc_add(o, e[i].p, e[i].len) < 0;
    } else if (o->op == OP_INTER) {
        struct finder f;
        oom = finder_init(&f, e, n, o->n) < 0;
        for (size_t i = o->n; i-- > 0 && !oom;)
            if (finder_find(&f, o->acc[i].p, o->acc[i].len) < 0)
                acc_drop(o, i);
        finder_free(&f);
    } else {
        for (size_t i = 0; i < n; i++) {
            ssize_t j = acc_find(o, e[i].p, e[i].len);
            if (j >= 0)
                acc_drop(o, (size_t)j);
        }
    }
    free(e);
    if (oom) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    o->at++; /* every key is read, empty result or not: each one's type is checked */
    setop_next(r);
}

static void setop_reply(struct req *r)
{
    struct setop *o = r->aux;
    if (o->card) {
        size_t k = o->n;
        if (o->limit && (uint64_t)o->limit < k)
            k = (size_t)o->limit;
        reply_int(r, (int64_t)k);
        req_done(r);
        return;
    }
    if (!o->store) {
        reply_set(r, o->n);
        for (size_t i = 0; i < o->n; i++)
            reply_bulk(r, o->acc[i].p, o->acc[i].len);
        req_done(r);
        return;
    }
    struct coll_str *e = malloc((o->n + 1) * sizeof(*e));
    struct coll_buf out = {0};
    if (e == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t i = 0; i < o->n; i++)
        e[i] = (struct coll_str){o->acc[i].p, o->acc[i].len};
    r->num = (int64_t)o->n;
    static const char *const ev[] = {"sinterstore", "sunionstore", "sdiffstore"};
    if (o->n && coll_elems_encode(e, o->n, set_shape(e, o->n, 0), &out) < 0) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    free(e);
    /* the destination is replaced, whatever type it held; its TTL goes */
    coll_store_dest(r, &r->argv[1], out.p, out.len, COLL_SET, NOTIFY_SET, ev[o->op]);
    coll_buf_free(&out);
}

static void setop_next(struct req *r)
{
    struct setop *o = r->aux;
    if (o->at > o->last) {
        setop_reply(r);
        return;
    }
    set_read(r, &r->argv[o->at], setop_cb);
}

static void setop_start(struct req *r, enum setop_kind op, uint32_t first, uint32_t last, int store,
                        int card, long long limit)
{
    struct setop *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    *o = (struct setop){.op = op,
                        .first = first,
                        .last = last,
                        .at = first,
                        .store = store,
                        .card = card,
                        .limit = limit};
    r->aux = o;
    r->aux_free = setop_free;
    setop_next(r);
}

void cmd_set_sinter(struct req *r)
{
    setop_start(r, OP_INTER, 1, r->argc - 1, 0, 0, 0);
}

void cmd_set_sunion(struct req *r)
{
    setop_start(r, OP_UNION, 1, r->argc - 1, 0, 0, 0);
}

void cmd_set_sdiff(struct req *r)
{
    setop_start(r, OP_DIFF, 1, r->argc - 1, 0, 0, 0);
}

void cmd_set_sinterstore(struct req *r)
{
    setop_start(r, OP_INTER, 2, r->argc - 1, 1, 0, 0);
}

void cmd_set_sunionstore(struct req *r)
{
    setop_start(r, OP_UNION, 2, r->argc - 1, 1, 0, 0);
}

void cmd_set_sdiffstore(struct req *r)
{
    setop_start(r, OP_DIFF, 2, r->argc - 1, 1, 0, 0);
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit] */
void cmd_set_sintercard(struct req *r)
{
    long long nk, limit = 0;
    if (coll_numkeys(r, 1, ERR_NUMKEYS, ERR_NUMKEYS_OVER, &nk) < 0)
        return;
    uint32_t i = 2 + (uint32_t)nk;
    if (i < r->argc) {
        if (i + 2 != r->argc || !cmd_arg_is(&r->argv[i], "limit")) {
            reply_error(r, ERR_SYNTAX);
            req_done(r);
            return;
        }
        if (cmd_arg_ll(&r->argv[i + 1], &limit) < 0 || limit < 0) {
            reply_error(r, "ERR LIMIT can't be negative");
            req_done(r);
            return;
        }
    }
    setop_start(r, OP_INTER, 2, 1 + (uint32_t)nk, 0, 1, limit);
}

/* SMOVE source destination member: the source read into r->aux (its members after the
 * move, copied), then the destination. */
struct smove {
    struct coll_buf src; /* the source's new encoding (len 0: delete it) */
    uint64_t src_expire;
    uint32_t src_flags;
};

static void smove_free(void *p)
{
    struct smove *m = p;
    coll_buf_free(&m->src);
    free(m);
}

static void smove_done_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND)
        reply_engine_error(r, rc);
    else
        reply_int(r, 1);
    req_done(r);
}

static void smove_dst_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct smove *m = r->aux;
    struct coll_str *e;
    size_t n;
    uint8_t fl;
    if (set_of(r, rc, it, 1, &e, &n, &fl))
        return;
    const struct resp_arg *mem = &r->argv[3], *src = &r->argv[1], *dk = &r->argv[2];
    int has = find(e, n, mem->ptr, mem->len) >= 0;
    if (!has)
        e[n++] = (struct coll_str){(const uint8_t *)mem->ptr, mem->len};
    struct coll_buf dst = {0};
    if (coll_elems_encode(e, n, set_shape(e, n, fl), &dst) < 0) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    free(e);
    struct ls_write_opts so = {
        .expire_ms = m->src_expire, .flags = m->src_flags, .vtype = COLL_SET};
    struct ls_write_opts dopt = {.expire_ms = rc == 0 ? it->expire_ms : 0,
                                 .flags = rc == 0 ? it->flags : 0,
                                 .vtype = COLL_SET};
    pubsub_notify(r, NOTIFY_SET, "srem", src);
    if (m->src.len == 0)
        pubsub_notify(r, NOTIFY_GENERIC, "del", src);
    if (has) { /* the destination holds it already: only the source changes (Redis) */
        coll_buf_free(&dst);
        if (m->src.len && large_needed(r->c->srv, COLL_SET, m->src.p, m->src.len)) {
            struct large_put p = {r->db, src, m->src.p, m->src.len, so};
            large_write(r, &p, 1, smove_done_cb); /* large.c: pages, then the root */
            return;
        }
        int wrc = m->src.len ? park_put(r, r->db, src, m->src.p, m->src.len, &so, smove_done_cb)
                             : park_del(r, r->db, src, smove_done_cb);
        if (wrc == 0)
            req_unlock(r);
        else
            smove_done_cb(r, wrc == LS_ENOTFOUND ? 0 : wrc, 0);
        return;
    }
    pubsub_notify(r, NOTIFY_SET, "sadd", dk);
    coll_write_pair(r, dk, dst.p, dst.len, &dopt, src, m->src.p, m->src.len, &so, smove_done_cb);
    coll_buf_free(&dst); /* the writes copied it */
}

static void smove_check_dst_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    (void)it;
    if (rc == SRV_EWRONGTYPE)
        reply_engine_error(r, rc);
    else
        reply_int(r, 0);
    req_done(r);
}

static void smove_src_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct smove *m = r->aux;
    struct coll_str *e;
    size_t n;
    uint8_t fl;
    if (set_of(r, rc, it, 0, &e, &n, &fl))
        return;
    const struct resp_arg *mem = &r->argv[3];
    if (rc != 0) { /* no source: 0, whatever the destination is (Redis) */
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    ssize_t j = find(e, n, mem->ptr, mem->len);
    if (j < 0) { /* not there: 0, nothing moves (the destination's type still checked) */
        free(e);
        r->want_type = COLL_SET;
        r->num = 0;
        cmd_get(r, &r->argv[2], smove_check_dst_cb);
        return;
    }
    if (r->argv[1].len == r->argv[2].len &&
        !memcmp(r->argv[1].ptr, r->argv[2].ptr, r->argv[1].len)) {
        free(e); /* onto itself: it is there already */
        reply_int(r, 1);
        req_done(r);
        return;
    }
    e[j] = e[--n];
    m->src_expire = it->expire_ms;
    m->src_flags = it->flags;
    if (n && coll_elems_encode(e, n, set_shape(e, n, fl), &m->src) < 0) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    free(e);
    set_read(r, &r->argv[2], smove_dst_cb);
}

void cmd_set_smove(struct req *r)
{
    struct smove *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    r->aux = m;
    r->aux_free = smove_free;
    set_read(r, &r->argv[1], smove_src_cb);
}
