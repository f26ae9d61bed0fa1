/*
 * cmd_list.c - Redis lists: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LINDEX LSET LRANGE
 * LTRIM LREM LINSERT LPOS LMOVE RPOPLPUSH LMPOP and the blocking BLPOP BRPOP BLMOVE
 * BRPOPLPUSH BLMPOP.
 *
 * A list of up to 128 elements and 8 KiB is one record under its key, value type
 * COLL_LIST, its value the small form of proto/coll.h (the elements in order); a larger
 * one is a root and pages (large.c). As for hashes (cmd_hash.c): every command reads the
 * key (WRONGTYPE for another type, an absent key is an empty list) and a write replaces
 * the list under the key's exclusive lock, keeping its TTL; a list left empty is deleted.
 * On a large list, LLEN, LINDEX, LRANGE, the pushes and the pops go to large.c's native
 * forms, which read and write only the pages at stake; every other handler gets the whole
 * list in the small form (list_read) and its write goes to large.c again when the result
 * needs the large form (coll_store, coll_write_pair). LMOVE and RPOPLPUSH write both lists
 * in one unit, so after a crash the element is in one of them, never both or neither.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cmd.h"
#include "coll.h"
#include "coll_cmd.h"
#include "large.h"
#include "park.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "txn.h"

#define ERR_BAD_LIST "ERR data corruption detected while reading the key (list encoding)"
#define ERR_RANGE    "ERR value is out of range, must be positive"

/* The elements of a read (*e malloc'd with `extra` spare places, caller frees; *n 0 and
 * *e allocated when the key is absent), or the reply of an error: returns 1 when the
 * callback must return (r answered and ended). */
static int list_of(struct req *r, int rc, const struct ls_item *it, size_t extra,
                   struct coll_str **e, size_t *n)
{
    *e = NULL;
    *n = 0;
    if (coll_read_begin(r, &rc))
        return 1;
    int d = rc == 0 ? coll_list_decode(it->value, it->value_len, extra, e, n) : 0;
    if (rc != 0 && (*e = malloc((extra + 1) * sizeof(**e))) == NULL)
        d = -2;
    if (d != 0) {
        coll_decode_failed(r, d, "list");
        return 1;
    }
    return 0;
}

static void push_cb(void *arg, int rc, const struct ls_item *it);
static void pop_cb(void *arg, int rc, const struct ls_item *it);
static void llen_cb(void *arg, int rc, const struct ls_item *it);
static void lindex_cb(void *arg, int rc, const struct ls_item *it);
static void lrange_cb(void *arg, int rc, const struct ls_item *it);
static void bpop_cb(void *arg, int rc, const struct ls_item *it);
static void mpop_cb(void *arg, int rc, const struct ls_item *it);
static void ltrim_cb(void *arg, int rc, const struct ls_item *it);
static void lmove_src_cb(void *arg, int rc, const struct ls_item *it);
static int lmove_native(struct req *r, const struct ls_item *it);
static void lrem_cb(void *arg, int rc, const struct ls_item *it);
static void lset_cb(void *arg, int rc, const struct ls_item *it);

/* LMPOP/BLMPOP's state (r->aux): the keys argv[first..last], the one being read (at). */
struct mpop {
    uint32_t first, last, at;
    int right;
    long long count;
    uint64_t block_ms; /* UINT64_MAX: LMPOP, which does not block */
};

/* A large list (large.c): LLEN, LINDEX, LRANGE, the pushes, the pops (blocking and
 * LMPOP's too), an LTRIM of one end, LREM and LSET work on the pages at stake; every other
 * command gets the whole list, in the small form. */
static void list_read_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    ls_get_cb cb = r->coll_cb;
    /* Inside EXEC or a script too: a native write's pages and root join the unit's overlay
     * as a group, which reaches the engine as one batch also when the unit is too large
     * for one (txn_group_begin). */
    if (rc == 0 && plist_is_root(it->value, it->value_len) &&
        (cb == llen_cb || cb == lindex_cb || cb == lrange_cb || cb == push_cb || cb == bpop_cb ||
         cb == mpop_cb || cb == ltrim_cb || cb == lmove_src_cb || cb == lrem_cb || cb == lset_cb ||
         (cb == pop_cb && (!(r->u64 & 2) || r->num > 0)))) {
        if (coll_read_begin(r, &rc))
            return; /* answered (it counted the hit) */
        int took;
        if (cb == llen_cb) {
            took = large_llen(r, it);
        } else if (cb == lindex_cb) {
            took = large_range(r, it, r->num, r->num, 1, cb);
        } else if (cb == lrange_cb) {
            took = large_range(r, it, r->num, (int64_t)r->u64, 0, cb);
        } else if (cb == push_cb) {
            took = large_push(r, it, r->step & 1, cb);
        } else if (cb == ltrim_cb) {
            took = large_trim(r, it, r->num, (int64_t)r->u64, cb);
        } else if (cb == lmove_src_cb) {
            took = lmove_native(r, it);
        } else if (cb == lrem_cb) {
            took = large_lrem(r, it, r->num, cb);
        } else if (cb == lset_cb) {
            took = large_lset(r, it, r->num, cb);
        } else if (cb == bpop_cb) {
            took = large_pop(r, it, &r->argv[r->num], (int)(r->u64 & 1), LARGE_POP_BLOCKING, 1, cb);
        } else if (cb == mpop_cb) {
            const struct mpop *m = r->aux;
            took = large_pop(r, it, &r->argv[m->at], m->right, LARGE_POP_MULTI, (uint64_t)m->count,
                             cb);
        } else {
            int counted = (r->u64 & 2) != 0;
            took = large_pop(r, it, &r->argv[1], (int)(r->u64 & 1),
                             counted ? LARGE_POP_COUNT : LARGE_POP_ONE,
                             counted ? (uint64_t)r->num : 1, cb);
        }
        if (took)
            return;
    }
    large_list_read(r, rc, it, cb);
}

static void list_read(struct req *r, const struct resp_arg *key, ls_get_cb cb)
{
    r->want_type = COLL_LIST;
    r->coll_cb = cb;
    r->hold_claim = 1; /* a large list's pages come after its root: see large_part_get */
    cmd_get(r, key, list_read_cb);
}

/* Writes e[0..n) as the list under key (deletes the key when n is 0 and it existed),
 * keeping the TTL of the item read (it NULL: absent), then replies as mode says (r->num,
 * r->tmp or +OK). event: the keyspace event of the change. */
static void list_write(struct req *r, const struct resp_arg *key, const struct ls_item *it,
                       const struct coll_str *e, size_t n, const char *event,
                       enum cmd_reply_mode mode)
{
    struct coll_buf out = {0};
    if (n && coll_list_encode(e, n, &out) < 0) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    coll_store(r, key, it, out.p, out.len, COLL_LIST, NOTIFY_LIST, event, mode);
    coll_buf_free(&out);
}

/* Redis's index rule: negative counts from the end. */
static long long norm_index(long long i, size_t n)
{
    return i < 0 ? (long long)n + i : i;
}

/* ---- pushes ---- */

/* LPUSH (step bit 0 clear) / RPUSH (set); X forms (bit 1): only onto an existing list. */
static void push_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, add = r->argc - 2;
    int right = r->step & 1, only_x = (r->step & 2) != 0;
    if (list_of(r, rc, it, add, &e, &n))
        return;
    if (only_x && rc != 0) {
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    if (!right) { /* LPUSH a b c: c b a, then the old */
        memmove(e + add, e, n * sizeof(*e));
        for (size_t i = 0; i < add; i++)
            e[add - 1 - i] =
                (struct coll_str){(const uint8_t *)r->argv[2 + i].ptr, r->argv[2 + i].len};
    } else {
        for (size_t i = 0; i < add; i++)
            e[n + i] = (struct coll_str){(const uint8_t *)r->argv[2 + i].ptr, r->argv[2 + i].len};
    }
    r->num = (int64_t)(n + add);
    list_write(r, &r->argv[1], rc == 0 ? it : NULL, e, n + add, right ? "rpush" : "lpush",
               CMD_REPLY_NUM);
    free(e);
}

static void push_generic(struct req *r, int right, int only_x)
{
    r->step = (uint32_t)(right | (only_x << 1));
    list_read(r, &r->argv[1], push_cb);
}

void cmd_list_lpush(struct req *r)
{
    push_generic(r, 0, 0);
}

void cmd_list_rpush(struct req *r)
{
    push_generic(r, 1, 0);
}

void cmd_list_lpushx(struct req *r)
{
    push_generic(r, 0, 1);
}

void cmd_list_rpushx(struct req *r)
{
    push_generic(r, 1, 1);
}

/* ---- pops ---- */

/* LPOP/RPOP key [count]: r->u64 bit 0 right, bit 1 a count was given (r->num). */
static void pop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    int right = r->u64 & 1, counted = (r->u64 & 2) != 0;
    size_t want = counted ? (size_t)r->num : 1;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    if (rc != 0) { /* no list: nil (a null array when a count was given) */
        free(e);
        if (counted)
            reply_null_array(r);
        else
            reply_null(r);
        req_done(r);
        return;
    }
    size_t k = want < n ? want : n;
    pbuf_reset(&r->tmp);
    int wrc = 0;
    if (counted)
        wrc = resp_w_array(&r->tmp, k);
    for (size_t i = 0; i < k && wrc == 0; i++) {
        const struct coll_str *x = right ? &e[n - 1 - i] : &e[i];
        wrc = resp_w_bulk(&r->tmp, x->p, x->len);
    }
    reply_check(r, wrc);
    if (k == 0) { /* LPOP key 0: an empty array, nothing written */
        free(e);
        reply_tmp(r);
        req_done(r);
        return;
    }
    list_write(r, &r->argv[1], it, right ? e : e + k, n - k, right ? "rpop" : "lpop",
               CMD_REPLY_TMP);
    free(e);
}

static void pop_generic(struct req *r, int right)
{
    long long count = 1;
    if (r->argc > 3) {
        cmd_wrong_args(r);
        req_done(r);
        return;
    }
    if (r->argc == 3 && (cmd_arg_ll(&r->argv[2], &count) < 0 || count < 0)) {
        reply_error(r, ERR_RANGE);
        req_done(r);
        return;
    }
    r->num = count;
    r->u64 = (uint64_t)(right | (r->argc == 3 ? 2 : 0));
    list_read(r, &r->argv[1], pop_cb);
}

void cmd_list_lpop(struct req *r)
{
    pop_generic(r, 0);
}

void cmd_list_rpop(struct req *r)
{
    pop_generic(r, 1);
}

/* ---- reads ---- */

static void llen_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    free(e);
    reply_int(r, (int64_t)n);
    req_done(r);
}

void cmd_list_llen(struct req *r)
{
    list_read(r, &r->argv[1], llen_cb);
}

static void lindex_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    long long i = norm_index(r->num, n);
    if (i < 0 || (size_t)i >= n)
        reply_null(r);
    else
        reply_bulk(r, e[i].p, e[i].len);
    free(e);
    req_done(r);
}

void cmd_list_lindex(struct req *r)
{
    long long i;
    if (cmd_arg_ll(&r->argv[2], &i) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    r->num = i;
    list_read(r, &r->argv[1], lindex_cb);
}

/* The elements [*from, *to] that start..stop select in a list of n (Redis's LRANGE and
 * LTRIM rule); 0 when none. */
static int range_of(long long start, long long stop, size_t n, size_t *from, size_t *to)
{
    start = norm_index(start, n);
    stop = norm_index(stop, n);
    if (start < 0)
        start = 0;
    if (start > stop || n == 0 || start >= (long long)n)
        return 0;
    if (stop >= (long long)n)
        stop = (long long)n - 1;
    *from = (size_t)start;
    *to = (size_t)stop;
    return 1;
}

static void lrange_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, from, to;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    if (!range_of(r->num, (long long)r->u64, n, &from, &to)) {
        reply_array(r, 0);
    } else {
        reply_array(r, to - from + 1);
        for (size_t i = from; i <= to; i++)
            reply_bulk(r, e[i].p, e[i].len);
    }
    free(e);
    req_done(r);
}

/* start and stop of LRANGE/LTRIM into r->num and r->u64. -1 after replying. */
static int range_args(struct req *r)
{
    long long a, b;
    if (cmd_arg_ll(&r->argv[2], &a) < 0 || cmd_arg_ll(&r->argv[3], &b) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return -1;
    }
    r->num = a;
    r->u64 = (uint64_t)b;
    return 0;
}

void cmd_list_lrange(struct req *r)
{
    if (range_args(r) == 0)
        list_read(r, &r->argv[1], lrange_cb);
}

static void ltrim_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, from = 0, to = 0;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    if (rc != 0) {
        free(e);
        reply_ok(r);
        req_done(r);
        return;
    }
    size_t k = range_of(r->num, (long long)r->u64, n, &from, &to) ? to - from + 1 : 0;
    if (k == n) { /* nothing trimmed: no write (Redis still reports the event) */
        pubsub_notify(r, NOTIFY_LIST, "ltrim", &r->argv[1]);
        free(e);
        reply_ok(r);
        req_done(r);
        return;
    }
    list_write(r, &r->argv[1], it, e + from, k, "ltrim", CMD_REPLY_OK);
    free(e);
}

void cmd_list_ltrim(struct req *r)
{
    if (range_args(r) == 0)
        list_read(r, &r->argv[1], ltrim_cb);
}

static void lset_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    long long i = norm_index(r->num, n);
    if (rc != 0 || i < 0 || (size_t)i >= n) {
        free(e);
        reply_error(r, rc != 0 ? "ERR no such key" : "ERR index out of range");
        req_done(r);
        return;
    }
    e[i] = (struct coll_str){(const uint8_t *)r->argv[3].ptr, r->argv[3].len};
    list_write(r, &r->argv[1], it, e, n, "lset", CMD_REPLY_OK);
    free(e);
}

void cmd_list_lset(struct req *r)
{
    long long i;
    if (cmd_arg_ll(&r->argv[2], &i) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    r->num = i;
    list_read(r, &r->argv[1], lset_cb);
}

static int same_key(const struct resp_arg *a, const struct resp_arg *b)
{
    return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

static int same(const struct coll_str *x, const struct resp_arg *a)
{
    return x->len == a->len && (x->len == 0 || memcmp(x->p, a->ptr, x->len) == 0);
}

/* LREM key count element: count > 0 from the head, < 0 from the tail, 0 all. */
static void lrem_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, gone = 0;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    long long count = r->num;
    size_t limit = count == 0 ? SIZE_MAX : (size_t)(count < 0 ? -(count + 1) + 1 : count);
    uint8_t *drop = calloc(n ? n : 1, 1);
    if (drop == NULL) {
        free(e);
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    for (size_t j = 0; j < n && gone < limit; j++) {
        size_t i = count < 0 ? n - 1 - j : j;
        if (same(&e[i], &r->argv[3])) {
            drop[i] = 1;
            gone++;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!drop[i])
            e[k++] = e[i];
    free(drop);
    r->num = (int64_t)gone;
    if (gone == 0) {
        free(e);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    list_write(r, &r->argv[1], it, e, k, "lrem", CMD_REPLY_NUM);
    free(e);
}

void cmd_list_lrem(struct req *r)
{
    long long c;
    if (cmd_arg_ll(&r->argv[2], &c) < 0) {
        reply_error(r, ERR_NOT_INT);
        req_done(r);
        return;
    }
    r->num = c;
    list_read(r, &r->argv[1], lrem_cb);
}

/* LINSERT key BEFORE|AFTER pivot element (r->u64 1: AFTER). */
static void linsert_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n, at = SIZE_MAX;
    if (list_of(r, rc, it, 1, &e, &n))
        return;
    for (size_t i = 0; i < n && at == SIZE_MAX; i++)
        if (same(&e[i], &r->argv[3]))
            at = i + (r->u64 ? 1 : 0);
    if (rc != 0 || at == SIZE_MAX) {
        free(e);
        reply_int(r, rc != 0 ? 0 : -1);
        req_done(r);
        return;
    }
    memmove(e + at + 1, e + at, (n - at) * sizeof(*e));
    e[at] = (struct coll_str){(const uint8_t *)r->argv[4].ptr, r->argv[4].len};
    r->num = (int64_t)(n + 1);
    list_write(r, &r->argv[1], it, e, n + 1, "linsert", CMD_REPLY_NUM);
    free(e);
}

void cmd_list_linsert(struct req *r)
{
    if (!cmd_arg_is(&r->argv[2], "before") && !cmd_arg_is(&r->argv[2], "after")) {
        reply_error(r, ERR_SYNTAX);
        req_done(r);
        return;
    }
    r->u64 = cmd_arg_is(&r->argv[2], "after");
    list_read(r, &r->argv[1], linsert_cb);
}

/* LPOS key element [RANK rank] [COUNT num] [MAXLEN len] */
struct lpos_args {
    long long rank, count, maxlen;
    int counted;
};

static void lpos_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct lpos_args *a = (struct lpos_args *)r->aux;
    struct coll_str *e;
    size_t n;
    if (list_of(r, rc, it, 0, &e, &n))
        return; /* r, and a with it (aux_free), are gone */
    long long want = a->counted ? (a->count == 0 ? LLONG_MAX : a->count) : 1;
    long long skip = (a->rank < 0 ? -a->rank : a->rank) - 1, found = 0;
    size_t scanned = 0, *hits = malloc((n ? n : 1) * sizeof(size_t));
    for (size_t j = 0; hits && j < n && found < want; j++) {
        if (a->maxlen && scanned++ >= (size_t)a->maxlen)
            break;
        size_t i = a->rank < 0 ? n - 1 - j : j;
        if (!same(&e[i], &r->argv[2]))
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        hits[found++] = i;
    }
    if (hits == NULL) {
        reply_error(r, "ERR out of memory");
    } else if (a->counted) {
        reply_array(r, (size_t)found);
        for (long long i = 0; i < found; i++)
            reply_int(r, (int64_t)hits[i]);
    } else if (found) {
        reply_int(r, (int64_t)hits[0]);
    } else {
        reply_null(r);
    }
    free(hits);
    free(e);
    free(a);
    r->aux = NULL;
    req_done(r);
}

void cmd_list_lpos(struct req *r)
{
    struct lpos_args a = {.rank = 1};
    for (uint32_t i = 3; i < r->argc; i += 2) {
        long long v;
        const struct resp_arg *o = &r->argv[i];
        if (i + 1 >= r->argc) {
            reply_error(r, ERR_SYNTAX);
            req_done(r);
            return;
        }
        if (cmd_arg_ll(&r->argv[i + 1], &v) < 0) {
            reply_error(r, ERR_NOT_INT);
            req_done(r);
            return;
        }
        if (cmd_arg_is(o, "rank")) {
            if (v == 0 || v == LLONG_MIN) {
                reply_error(r, "ERR RANK can't be zero: use 1 to start from the first match, 2 "
                               "from the second ... or use negative to start from the end of "
                               "the list");
                req_done(r);
                return;
            }
            a.rank = v;
        } else if (cmd_arg_is(o, "count")) {
            if (v < 0) {
                reply_error(r, "ERR COUNT can't be negative");
                req_done(r);
                return;
            }
            a.count = v;
            a.counted = 1;
        } else if (cmd_arg_is(o, "maxlen")) {
            if (v < 0) {
                reply_error(r, "ERR MAXLEN can't be negative");
                req_done(r);
                return;
            }
            a.maxlen = v;
        } else {
            reply_error(r, ERR_SYNTAX);
            req_done(r);
            return;
        }
    }
    struct lpos_args *p = malloc(sizeof(*p));
    if (p == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    *p = a;
    r->aux = p;
    r->aux_free = free;
    list_read(r, &r->argv[1], lpos_cb);
}

/* ---- LMOVE, RPOPLPUSH ---- */

/* A move between the reads of its two lists: the source's new encoding (or none: it is
 * left empty) and the element, copied out of the source's record. */
struct lmove {
    int from_right, to_right;
    uint64_t block_ms;   /* BLMOVE, BRPOPLPUSH: the timeout (UINT64_MAX: does not block) */
    struct coll_buf src; /* the source's new encoding; len 0: delete it */
    uint64_t src_expire;
    uint32_t src_flags;
    uint8_t *elem;
    size_t elen;
};

static void lmove_free_aux(void *p)
{
    struct lmove *m = p;
    coll_buf_free(&m->src);
    free(m->elem);
    free(m);
}

static void lmove_free(struct req *r)
{
    if (r->aux)
        lmove_free_aux(r->aux);
    r->aux = NULL;
}

static void lmove_done_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    struct lmove *m = r->aux;
    if (rc != 0 && rc != LS_ENOTFOUND)
        reply_engine_error(r, rc);
    else
        reply_bulk(r, m->elem, m->elen);
    lmove_free(r);
    req_done(r);
}

/* Both lists written: in EXEC's overlay, as one batch, or (too large for a batch) one
 * after the other. */
static void lmove_write(struct req *r, struct coll_buf *dst, const struct ls_item *dit)
{
    struct lmove *m = r->aux;
    const struct resp_arg *src = &r->argv[1], *dk = &r->argv[2];
    struct ls_write_opts so = {
        .expire_ms = m->src_expire, .flags = m->src_flags, .vtype = COLL_LIST};
    struct ls_write_opts dopt = {
        .expire_ms = dit ? dit->expire_ms : 0, .flags = dit ? dit->flags : 0, .vtype = COLL_LIST};
    if (dst->len > r->c->srv->cfg.max_value_size &&
        !large_needed(r->c->srv, COLL_LIST, dst->p, dst->len)) {
        reply_error(r, ERR_TOO_BIG);
        lmove_free(r);
        req_done(r);
        return;
    }
    pubsub_notify(r, NOTIFY_LIST, m->from_right ? "rpop" : "lpop", src);
    if (m->src.len == 0)
        pubsub_notify(r, NOTIFY_GENERIC, "del", src);
    pubsub_notify(r, NOTIFY_LIST, m->to_right ? "rpush" : "lpush", dk);
    block_signal(r->c->srv, r->db, dk->ptr, dk->len);
    coll_write_pair(r, dk, dst->p, dst->len, &dopt, src, m->src.p, m->src.len, &so, lmove_done_cb);
}

static void lmove_dst_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct lmove *m = r->aux;
    struct coll_str *e;
    size_t n;
    if (rc == SRV_EWRONGTYPE) { /* even woken: the element stays where it was (Redis) */
        reply_engine_error(r, rc);
        req_done(r);
        return;
    }
    if (list_of(r, rc, it, 1, &e, &n))
        return; /* r, and its lmove with it (aux_free), are gone */
    struct coll_str x = {m->elem, m->elen};
    if (m->to_right) {
        e[n] = x;
    } else {
        memmove(e + 1, e, n * sizeof(*e));
        e[0] = x;
    }
    struct coll_buf out = {0};
    if (coll_list_encode(e, n + 1, &out) < 0) {
        free(e);
        reply_error(r, "ERR out of memory");
        lmove_free(r);
        req_done(r);
        return;
    }
    free(e);
    lmove_write(r, &out, rc == 0 ? it : NULL);
    coll_buf_free(&out);
}

static void lmove_src_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct lmove *m = r->aux;
    struct coll_str *e;
    size_t n;
    if (list_of(r, rc, it, 1, &e, &n))
        return;    /* r, and its lmove with it (aux_free), are gone */
    if (rc != 0) { /* no source list: nil, nothing moves (or BLMOVE waits for one) */
        uint64_t ms = m->block_ms;
        free(e);
        lmove_free(r);
        if (ms == UINT64_MAX || block_wait(r, 1, 1, ms, BLOCK_NULL_ARRAY) < 0) {
            reply_null(r);
            req_done(r);
        }
        return;
    }
    struct coll_str x = m->from_right ? e[n - 1] : e[0];
    if ((m->elem = malloc(x.len ? x.len : 1)) == NULL) {
        free(e);
        reply_error(r, "ERR out of memory");
        lmove_free(r);
        req_done(r);
        return;
    }
    memcpy(m->elem, x.p, x.len);
    m->elen = x.len;
    if (same_key(&r->argv[1], &r->argv[2])) { /* a rotation of one list */
        if (m->from_right && !m->to_right) {
            memmove(e + 1, e, (n - 1) * sizeof(*e));
            e[0] = (struct coll_str){m->elem, m->elen};
        } else if (!m->from_right && m->to_right) {
            memmove(e, e + 1, (n - 1) * sizeof(*e));
            e[n - 1] = (struct coll_str){m->elem, m->elen};
        }
        cmd_tmp_bulk(r, m->elem, m->elen);
        pubsub_notify(r, NOTIFY_LIST, m->from_right ? "rpop" : "lpop", &r->argv[1]);
        list_write(r, &r->argv[1], it, e, n, m->to_right ? "rpush" : "lpush", CMD_REPLY_TMP);
        free(e);
        lmove_free(r);
        return;
    }
    m->src_expire = it->expire_ms;
    m->src_flags = it->flags;
    if (n > 1 && coll_list_encode(m->from_right ? e : e + 1, n - 1, &m->src) < 0) {
        free(e);
        reply_error(r, "ERR out of memory");
        lmove_free(r);
        req_done(r);
        return;
    }
    free(e);
    list_read(r, &r->argv[2], lmove_dst_cb);
}

/* A large source distinct from the destination: its end page only (large.c). */
static int lmove_native(struct req *r, const struct ls_item *it)
{
    const struct lmove *m = r->aux;
    if (m == NULL || same_key(&r->argv[1], &r->argv[2]))
        return 0;
    return large_move(r, it, &r->argv[1], &r->argv[2], m->from_right, m->to_right, lmove_src_cb);
}

static void lmove_start(struct req *r, int from_right, int to_right, uint64_t block_ms)
{
    struct lmove *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    m->from_right = from_right;
    m->to_right = to_right;
    m->block_ms = block_ms;
    r->aux = m;
    r->aux_free = lmove_free_aux;
    list_read(r, &r->argv[1], lmove_src_cb);
}

/* LEFT (0) or RIGHT (1) of argv[i]; -1 after replying a syntax error. */
static int side(struct req *r, uint32_t i)
{
    if (cmd_arg_is(&r->argv[i], "left"))
        return 0;
    if (cmd_arg_is(&r->argv[i], "right"))
        return 1;
    reply_error(r, ERR_SYNTAX);
    req_done(r);
    return -1;
}

void cmd_list_lmove(struct req *r)
{
    int a = side(r, 3), b = a < 0 ? -1 : side(r, 4);
    if (a >= 0 && b >= 0)
        lmove_start(r, a, b, UINT64_MAX);
}

void cmd_list_rpoplpush(struct req *r)
{
    lmove_start(r, 1, 0, UINT64_MAX);
}

/* The timeout argument argv[i] in ms; -1 after replying its error. */
static int timeout_of(struct req *r, uint32_t i, uint64_t *ms)
{
    if (block_timeout_arg(r, r->argv[i].ptr, r->argv[i].len, ms) < 0) {
        req_done(r);
        return -1;
    }
    return 0;
}

void cmd_list_blmove(struct req *r)
{
    uint64_t ms;
    int a = side(r, 3), b = a < 0 ? -1 : side(r, 4);
    if (a >= 0 && b >= 0 && timeout_of(r, 5, &ms) == 0)
        lmove_start(r, a, b, ms);
}

void cmd_list_brpoplpush(struct req *r)
{
    uint64_t ms;
    if (timeout_of(r, 3, &ms) == 0)
        lmove_start(r, 1, 0, ms);
}

/* ---- BLPOP, BRPOP ---- */

/* BLPOP key [key ...] timeout: r->num the key read now (1..argc-2), r->u64 bit 0 right,
 * the timeout in r->expire_ms. The first non-empty list gives its first (last) element:
 * [key, element]; none: wait. */
static void bpop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct coll_str *e;
    size_t n;
    int right = r->u64 & 1;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    const struct resp_arg *key = &r->argv[r->num];
    if (rc != 0 || n == 0) {
        free(e);
        if ((uint32_t)r->num + 1 < r->argc - 1) { /* the next key */
            r->num++;
            list_read(r, &r->argv[r->num], bpop_cb);
            return;
        }
        if (block_wait(r, 1, r->argc - 2, r->expire_ms, BLOCK_NULL_ARRAY) < 0) {
            reply_null_array(r);
            req_done(r);
        }
        return;
    }
    const struct coll_str *x = right ? &e[n - 1] : &e[0];
    pbuf_reset(&r->tmp);
    int wrc = resp_w_array(&r->tmp, 2);
    if (wrc == 0)
        wrc = resp_w_bulk(&r->tmp, key->ptr, key->len);
    if (wrc == 0)
        wrc = resp_w_bulk(&r->tmp, x->p, x->len);
    reply_check(r, wrc);
    list_write(r, key, it, right ? e : e + 1, n - 1, right ? "rpop" : "lpop", CMD_REPLY_TMP);
    free(e);
}

static void bpop_generic(struct req *r, int right)
{
    uint64_t ms;
    if (timeout_of(r, r->argc - 1, &ms) < 0)
        return;
    r->expire_ms = ms;
    r->u64 = (uint64_t)right;
    r->num = 1;
    list_read(r, &r->argv[1], bpop_cb);
}

void cmd_list_blpop(struct req *r)
{
    bpop_generic(r, 0);
}

void cmd_list_brpop(struct req *r)
{
    bpop_generic(r, 1);
}

/* ---- LMPOP, BLMPOP ---- */

static void mpop_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct mpop *m = r->aux;
    struct coll_str *e;
    size_t n;
    if (list_of(r, rc, it, 0, &e, &n))
        return;
    const struct resp_arg *key = &r->argv[m->at];
    if (rc != 0 || n == 0) {
        free(e);
        if (m->at < m->last) {
            m->at++;
            list_read(r, &r->argv[m->at], mpop_cb);
            return;
        }
        if (m->block_ms == UINT64_MAX ||
            block_wait(r, m->first, m->last, m->block_ms, BLOCK_NULL_ARRAY) < 0) {
            reply_null_array(r);
            req_done(r);
        }
        return;
    }
    size_t k = (uint64_t)m->count < n ? (size_t)m->count : n;
    pbuf_reset(&r->tmp);
    int wrc = resp_w_array(&r->tmp, 2);
    if (wrc == 0)
        wrc = resp_w_bulk(&r->tmp, key->ptr, key->len);
    if (wrc == 0)
        wrc = resp_w_array(&r->tmp, k);
    for (size_t i = 0; i < k && wrc == 0; i++) {
        const struct coll_str *x = m->right ? &e[n - 1 - i] : &e[i];
        wrc = resp_w_bulk(&r->tmp, x->p, x->len);
    }
    reply_check(r, wrc);
    int right = m->right;
    list_write(r, key, it, right ? e : e + k, n - k, right ? "rpop" : "lpop", CMD_REPLY_TMP);
    free(e);
}

/* LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] from argv[at] (numkeys). */
static void mpop_start(struct req *r, uint32_t at, uint64_t block_ms)
{
    long long nk, count;
    int right;
    if (coll_mpop_args(r, at, "left", "right", &nk, &right, &count) < 0)
        return;
    if (r->aux && r->aux_free) /* run again after blocking: the last run's */
        r->aux_free(r->aux);
    r->aux = NULL;
    struct mpop *m = malloc(sizeof(*m));
    if (m == NULL) {
        reply_error(r, "ERR out of memory");
        req_done(r);
        return;
    }
    *m = (struct mpop){at + 1, at + (uint32_t)nk, at + 1, right, count, block_ms};
    r->aux = m;
    r->aux_free = free;
    list_read(r, &r->argv[m->at], mpop_cb);
}

void cmd_list_lmpop(struct req *r)
{
    mpop_start(r, 1, UINT64_MAX);
}

void cmd_list_blmpop(struct req *r)
{
    uint64_t ms;
    if (timeout_of(r, 1, &ms) == 0)
        mpop_start(r, 2, ms);
}
