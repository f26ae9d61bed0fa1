/*
 * cmd_sort.c - SORT and SORT_RO (issue 15): the elements of a list, a set or a sorted set,
 * sorted numerically or (ALPHA) by bytes, by themselves or by the values of other keys
 * (BY pattern), with LIMIT, and each replaced by the values of other keys (GET pattern),
 * replied or stored as a list (STORE).
 *
 * A pattern names a key by its first '*', replaced by the element; "key->field" names a
 * field of the hash at key; "#" (GET only) is the element itself; a pattern without '*'
 * names nothing (a BY of it does not sort: the native order, as in Redis). A key of
 * another type than the pattern wants reads as missing: 0 (numeric) or before everything
 * (ALPHA) for BY, nil for GET (an empty string when stored).
 *
 * Steps, each a read through the engine: the collection (one record); then the BY keys of
 * every element, and then the GET keys of the elements in the LIMIT range, each batch
 * through mget (a window of reads, bounded by the connection's output limit; values taken
 * as they arrive, copied only when kept). What a command keeps (the collection, the
 * ALPHA weights and the GET values) is bounded by client_output_buffer_limit: beyond,
 * the command fails with an error rather than grow.
 *
 * Locking: the keys a pattern names are known only once the collection is read, so SORT
 * takes its whole database (CMD_WHOLE_DB: exclusive for SORT, which may STORE; shared for
 * SORT_RO), which keeps every key it reads and writes from changing under it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "coll.h"
#include "coll_cmd.h"
#include "large.h"
#include "mget.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "txn.h"

struct sort_el {
    const uint8_t *p; /* the element (into the collection's copy) */
    size_t len;
    double score;
    uint8_t *cmp; /* ALPHA with BY: the weight (malloc'd), NULL when missing */
    size_t cmplen;
};

struct sort_get {
    uint8_t *p; /* malloc'd; NULL: missing */
    size_t len;
};

struct sort_op {
    int desc, alpha, dontsort, ro;
    uint32_t by_at, store_at; /* argv indexes (0: none) */
    uint32_t *gets;           /* argv indexes of the GET patterns */
    uint32_t ngets;
    long long lstart, lcount;
    size_t max_key; /* max_key_size: a longer key a pattern names is missing */
    uint8_t *val;   /* the collection's record, copied */
    struct sort_el *v;
    size_t n;
    long start, end;
    int conv_err;
    /* the lookups under way */
    int phase;               /* 0: BY weights, 1: GET values */
    struct resp_arg *lk;     /* keys (malloc'd strings) */
    const uint8_t **lkfield; /* per lookup: the hash field (into argv), or NULL */
    size_t *lkflen;
    uint32_t *lkel; /* per lookup: its element (BY), or result slot (GET) */
    uint32_t nlk;
    struct sort_get *got; /* (end - start + 1) * ngets */
    size_t kept;          /* bytes kept (collection, weights, values) */
    int err;              /* a read failed (engine code), or -ENOMEM */
};

static void lookups_clear(struct sort_op *o)
{
    for (uint32_t i = 0; i < o->nlk; i++)
        free((void *)o->lk[i].ptr);
    free(o->lk);
    free(o->lkfield);
    free(o->lkflen);
    free(o->lkel);
    o->lk = NULL;
    o->lkfield = NULL;
    o->lkflen = NULL;
    o->lkel = NULL;
    o->nlk = 0;
}

static void sort_free(void *p)
{
    struct sort_op *o = p;
    free(o->gets);
    free(o->val);
    if (o->v)
        for (size_t i = 0; i < o->n; i++)
            free(o->v[i].cmp);
    free(o->v);
    lookups_clear(o);
    if (o->got) {
        size_t ng = (size_t)(o->end - o->start + 1) * o->ngets;
        for (size_t i = 0; i < ng; i++)
            free(o->got[i].p);
    }
    free(o->got);
    free(o);
}

static int sort_keep(struct req *r, struct sort_op *o, size_t bytes)
{
    o->kept += bytes;
    return o->kept <= r->c->srv->cfg.client_output_buffer_limit ? 0 : -1;
}

static void sort_fail(struct req *r, const char *msg)
{
    reply_error(r, msg);
    req_done(r);
}

/* The key (malloc'd, NUL-terminated) pattern pat names for element e, and the hash field
 * (into pat) when it has one. 0: pat names no key (no '*'); 1: done; -1: no memory. */
static int pattern_key(const struct resp_arg *pat, const uint8_t *e, size_t elen, char **key,
                       size_t *klen, const uint8_t **field, size_t *flen)
{
    const char *s = pat->ptr, *end = s + pat->len;
    const char *star = memchr(s, '*', pat->len);
    *field = NULL;
    *flen = 0;
    if (!star)
        return 0;
    const char *f = NULL;
    for (const char *q = star + 1; q + 1 < end; q++)
        if (q[0] == '-' && q[1] == '>') {
            f = q;
            break;
        }
    const char *kend = end;
    if (f && f + 2 < end) { /* "->" with a field after it */
        *field = (const uint8_t *)f + 2;
        *flen = (size_t)(end - f - 2);
        kend = f;
    }
    size_t pre = (size_t)(star - s), post = (size_t)(kend - star - 1);
    char *k = malloc(pre + elen + post + 1);
    if (!k)
        return -1;
    memcpy(k, s, pre);
    if (elen)
        memcpy(k + pre, e, elen);
    memcpy(k + pre + elen, star + 1, post);
    k[pre + elen + post] = '\0';
    *key = k;
    *klen = pre + elen + post;
    return 1;
}

/* The value a lookup found: a string's value, or the hash field's; NULL when missing or
 * of another type. */
static const uint8_t *lookup_value(const struct sort_op *o, uint32_t i, int rc,
                                   const struct mget_item *it, size_t *len)
{
    if (rc != 0)
        return NULL;
    if (!o->lkfield[i]) {
        *len = it->len;
        return it->vtype == COLL_STRING ? (const uint8_t *)it->val : NULL;
    }
    struct coll_hash h;
    const uint8_t *v;
    if (it->vtype != COLL_HASH || coll_hash_open(&h, (const uint8_t *)it->val, it->len) != 0 ||
        !coll_hash_get(&h, o->lkfield[i], o->lkflen[i], &v, len))
        return NULL;
    return v;
}

/* Redis's numeric weight: strtod of the whole string, finite or infinite, not NaN. */
static int parse_weight(const uint8_t *p, size_t len, double *d)
{
    char small[128], *buf = small, *end;
    if (len >= sizeof(small) && !(buf = malloc(len + 1)))
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    errno = 0;
    *d = strtod(buf, &end);
    int rc = *end != '\0' || errno == ERANGE || isnan(*d) ? -1 : 0;
    if (buf != small)
        free(buf);
    return rc;
}

static void lookup_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    struct sort_op *o = r->aux;
    size_t len = 0;
    if (rc != 0 && rc != LS_ENOTFOUND && !o->err)
        o->err = rc;
    const uint8_t *val = lookup_value(o, i, rc, it, &len);
    if (!val)
        return; /* missing: score 0, no weight, nil */
    if (o->phase == 0) {
        struct sort_el *e = &o->v[o->lkel[i]];
        if (!o->alpha) {
            if (parse_weight(val, len, &e->score) < 0)
                o->conv_err = 1;
            return;
        }
        if (sort_keep(r, o, len) < 0 || !(e->cmp = malloc(len ? len : 1))) {
            o->err = o->err ? o->err : -ENOMEM;
            return;
        }
        memcpy(e->cmp, val, len);
        e->cmplen = len;
        return;
    }
    struct sort_get *g = &o->got[o->lkel[i]];
    if (sort_keep(r, o, len) < 0 || !(g->p = malloc(len ? len : 1))) {
        o->err = o->err ? o->err : -ENOMEM;
        return;
    }
    memcpy(g->p, val, len);
    g->len = len;
}

/* Room for n lookups. */
static int lookups_alloc(struct sort_op *o, size_t n)
{
    size_t m = n ? n : 1;
    o->lk = calloc(m, sizeof(*o->lk));
    o->lkfield = calloc(m, sizeof(*o->lkfield));
    o->lkflen = calloc(m, sizeof(*o->lkflen));
    o->lkel = calloc(m, sizeof(*o->lkel));
    return o->lk && o->lkfield && o->lkflen && o->lkel ? 0 : -1;
}

/* Adds the lookup of pattern pat for element e, for slot el. 0, or -1 (no memory). */
static int lookup_add(struct sort_op *o, const struct resp_arg *pat, const struct sort_el *e,
                      uint32_t el)
{
    char *k;
    size_t klen;
    int rc = pattern_key(pat, e->p, e->len, &k, &klen, &o->lkfield[o->nlk], &o->lkflen[o->nlk]);
    if (rc <= 0)
        return rc;
    if (klen > o->max_key) { /* no such key can exist: missing, as in Redis */
        free(k);
        return 0;
    }
    o->lk[o->nlk] = (struct resp_arg){.ptr = k, .len = klen};
    o->lkel[o->nlk++] = el;
    return 0;
}

static void sort_output(struct req *r);
static void sort_gets(struct req *r);

/* A batch of lookups is over: 1 when one failed (replied, r ended). */
static int lookups_end(struct req *r, struct sort_op *o)
{
    lookups_clear(o);
    if (!o->err)
        return 0;
    if (o->err == -ENOMEM) {
        sort_fail(r, "ERR SORT needs more memory than client-output-buffer-limit allows");
    } else {
        reply_engine_error(r, o->err);
        req_done(r);
    }
    return 1;
}

static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

static int sort_cmp(const void *a, const void *b, void *arg)
{
    const struct sort_el *x = a, *y = b;
    const struct sort_op *o = arg;
    int c;
    if (!o->alpha) {
        c = x->score > y->score   ? 1
            : x->score < y->score ? -1
                                  : cmp_bytes(x->p, x->len, y->p, y->len);
    } else if (o->by_at) {
        if (!x->cmp || !y->cmp)
            c = x->cmp == y->cmp ? 0 : x->cmp ? 1 : -1;
        else
            c = cmp_bytes(x->cmp, x->cmplen, y->cmp, y->cmplen);
    } else {
        c = cmp_bytes(x->p, x->len, y->p, y->len);
    }
    return o->desc ? -c : c;
}

/* The BY weights are in (or not needed): the scores of the elements themselves, the sort,
 * then the GET values. */
static void sort_weights_done(struct req *r)
{
    struct sort_op *o = r->aux;
    if (lookups_end(r, o))
        return;
    if (!o->dontsort) {
        if (!o->alpha && !o->by_at)
            for (size_t i = 0; i < o->n; i++)
                if (parse_weight(o->v[i].p, o->v[i].len, &o->v[i].score) < 0)
                    o->conv_err = 1;
        qsort_r(o->v, o->n, sizeof(*o->v), sort_cmp, o);
    }
    if (o->conv_err) {
        sort_fail(r, "ERR One or more scores can't be converted into double");
        return;
    }
    sort_gets(r);
}

static void sort_gets(struct req *r)
{
    struct sort_op *o = r->aux;
    size_t rows = (size_t)(o->end - o->start + 1);
    if (!o->ngets || !rows) {
        sort_output(r);
        return;
    }
    o->got = calloc(rows * o->ngets, sizeof(*o->got));
    if (!o->got || lookups_alloc(o, rows * o->ngets) < 0) {
        sort_fail(r, "ERR out of memory");
        return;
    }
    for (size_t j = 0; j < rows; j++)
        for (uint32_t g = 0; g < o->ngets; g++) {
            const struct resp_arg *pat = &r->argv[o->gets[g]];
            if (pat->len == 1 && pat->ptr[0] == '#')
                continue; /* the element itself, at output */
            if (lookup_add(o, pat, &o->v[o->start + (long)j], (uint32_t)(j * o->ngets + g)) < 0) {
                sort_fail(r, "ERR out of memory");
                return;
            }
        }
    o->phase = 1;
    if (!o->nlk) {
        sort_output(r);
        return;
    }
    r->want_type = VT_ANY;
    if (mget_start(r, o->lk, o->nlk, r->db, lookup_emit, sort_output) < 0)
        sort_fail(r, "ERR out of memory");
}

static void sort_output(struct req *r)
{
    struct sort_op *o = r->aux;
    if (lookups_end(r, o))
        return;
    size_t rows = (size_t)(o->end - o->start + 1), per = o->ngets ? o->ngets : 1;
    if (!o->store_at) {
        reply_array(r, rows * per);
        for (size_t j = 0; j < rows; j++) {
            const struct sort_el *e = &o->v[o->start + (long)j];
            if (!o->ngets)
                reply_bulk(r, e->p, e->len);
            for (uint32_t g = 0; g < o->ngets; g++) {
                const struct resp_arg *pat = &r->argv[o->gets[g]];
                const struct sort_get *v = &o->got[j * o->ngets + g];
                if (pat->len == 1 && pat->ptr[0] == '#')
                    reply_bulk(r, e->p, e->len);
                else if (v->p)
                    reply_bulk(r, v->p, v->len);
                else
                    reply_null(r);
            }
        }
        req_done(r);
        return;
    }
    struct coll_str *out = malloc((rows * per + 1) * sizeof(*out));
    struct coll_buf enc = {0};
    if (!out) {
        sort_fail(r, "ERR out of memory");
        return;
    }
    size_t k = 0;
    for (size_t j = 0; j < rows; j++) {
        const struct sort_el *e = &o->v[o->start + (long)j];
        if (!o->ngets)
            out[k++] = (struct coll_str){e->p, e->len};
        for (uint32_t g = 0; g < o->ngets; g++) {
            const struct resp_arg *pat = &r->argv[o->gets[g]];
            const struct sort_get *v = &o->got[j * o->ngets + g];
            if (pat->len == 1 && pat->ptr[0] == '#')
                out[k++] = (struct coll_str){e->p, e->len};
            else
                out[k++] = (struct coll_str){v->p ? v->p : (const uint8_t *)"", v->p ? v->len : 0};
        }
    }
    if (k && coll_list_encode(out, k, &enc) < 0) {
        free(out);
        sort_fail(r, "ERR out of memory");
        return;
    }
    free(out);
    r->num = (int64_t)k;
    coll_store_dest(r, &r->argv[o->store_at], enc.p, enc.len, COLL_LIST, NOTIFY_LIST, "sortstore");
    coll_buf_free(&enc);
}

/* The collection is read: its elements in the order SORT starts from. */
static void sort_read_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct sort_op *o = r->aux;
    if (rc == 0 && large_is_root(it->vtype, it->value, it->value_len)) {
        large_list_read(r, rc, it, sort_read_cb); /* comes back as the whole list */
        return;
    }
    if (coll_read_begin(r, &rc))
        return;
    int type = rc == 0 ? it->vtype : COLL_LIST;
    if (type != COLL_LIST && type != COLL_SET && type != COLL_ZSET) {
        reply_error(r, ERR_WRONGTYPE);
        req_done(r);
        return;
    }
    size_t n = 0;
    struct coll_str *el = NULL;
    struct coll_zel *zel = NULL;
    int d = 0;
    if (rc == 0) {
        if (sort_keep(r, o, it->value_len) < 0) {
            sort_fail(r, "ERR SORT needs more memory than client-output-buffer-limit allows");
            return;
        }
        if (!(o->val = malloc(it->value_len ? it->value_len : 1))) {
            sort_fail(r, "ERR out of memory");
            return;
        }
        memcpy(o->val, it->value, it->value_len);
        uint8_t fl;
        if (type == COLL_LIST)
            d = coll_list_decode(o->val, it->value_len, 0, &el, &n);
        else if (type == COLL_SET)
            d = coll_elems_decode(o->val, it->value_len, 0, &el, &n, &fl);
        else
            d = coll_zset_decode(o->val, it->value_len, 0, &zel, &n, &fl);
        if (d != 0) {
            coll_decode_failed(r, d,
                               type == COLL_LIST  ? "list"
                               : type == COLL_SET ? "set"
                                                  : "zset");
            return;
        }
    }
    o->v = calloc(n ? n : 1, sizeof(*o->v));
    if (!o->v) {
        free(el);
        free(zel);
        sort_fail(r, "ERR out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        o->v[i] = zel ? (struct sort_el){.p = zel[i].p, .len = zel[i].len}
                      : (struct sort_el){.p = el[i].p, .len = el[i].len};
    free(el);
    free(zel);
    o->n = n;
    /* a set has no order of its own: without a sort, a STORE or a script sorts it ALPHA,
     * so that what it writes does not depend on the encoding (as Redis does) */
    int in_script = r->parent && txn_unit_script(r->parent) != NULL;
    if (o->dontsort && type == COLL_SET && (o->store_at || in_script)) {
        o->dontsort = 0;
        o->alpha = 1;
        o->by_at = 0;
    }
    /* LIMIT as Redis clamps it */
    long vl = (long)n;
    long long ls = o->lstart < 0 ? 0 : o->lstart > vl ? vl : o->lstart;
    long long lc = o->lcount < -1 ? -1 : o->lcount > vl ? vl : o->lcount;
    o->start = (long)ls;
    o->end = lc < 0 ? vl - 1 : (long)(ls + lc - 1);
    if (o->start >= vl) {
        o->start = vl - 1;
        o->end = vl - 2;
    }
    if (o->end >= vl)
        o->end = vl - 1;
    if (o->dontsort && o->desc && type != COLL_SET) {
        /* the native order, reversed */
        for (size_t i = 0; i < n / 2; i++) {
            struct sort_el t = o->v[i];
            o->v[i] = o->v[n - 1 - i];
            o->v[n - 1 - i] = t;
        }
    }
    if (o->dontsort || !o->by_at || !n) {
        sort_weights_done(r);
        return;
    }
    if (lookups_alloc(o, n) < 0) {
        sort_fail(r, "ERR out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (lookup_add(o, &r->argv[o->by_at], &o->v[i], (uint32_t)i) < 0) {
            sort_fail(r, "ERR out of memory");
            return;
        }
    o->phase = 0;
    r->want_type = VT_ANY;
    if (mget_start(r, o->lk, o->nlk, r->db, lookup_emit, sort_weights_done) < 0)
        sort_fail(r, "ERR out of memory");
}

static void sort_generic(struct req *r, int ro)
{
    struct sort_op *o = calloc(1, sizeof(*o));
    if (!o || !(o->gets = malloc(sizeof(uint32_t) * r->argc))) {
        free(o);
        sort_fail(r, "ERR out of memory");
        return;
    }
    o->ro = ro;
    o->lcount = -1;
    r->hold_claim = 1; /* its pattern reads come after the collection's: one state for all */
    o->max_key = r->c->srv->cfg.max_key_size;
    r->aux = o;
    r->aux_free = sort_free;
    for (uint32_t j = 2; j < r->argc; j++) {
        uint32_t left = r->argc - j - 1;
        const struct resp_arg *a = &r->argv[j];
        if (cmd_arg_is(a, "asc")) {
            o->desc = 0;
        } else if (cmd_arg_is(a, "desc")) {
            o->desc = 1;
        } else if (cmd_arg_is(a, "alpha")) {
            o->alpha = 1;
        } else if (cmd_arg_is(a, "limit") && left >= 2) {
            if (cmd_arg_ll(&r->argv[j + 1], &o->lstart) < 0 ||
                cmd_arg_ll(&r->argv[j + 2], &o->lcount) < 0) {
                sort_fail(r, ERR_NOT_INT);
                return;
            }
            j += 2;
        } else if (!ro && cmd_arg_is(a, "store") && left >= 1) {
            o->store_at = ++j;
        } else if (cmd_arg_is(a, "by") && left >= 1) {
            o->by_at = ++j;
            int constant = memchr(r->argv[j].ptr, '*', r->argv[j].len) == NULL;
            o->dontsort |= constant; /* a constant BY anywhere: no sort, as in Redis */
            if (!constant && r->c->srv->cfg.cluster_enabled) {
                sort_fail(r, "ERR BY option of SORT denied in Cluster mode.");
                return;
            }
        } else if (cmd_arg_is(a, "get") && left >= 1) {
            if (r->c->srv->cfg.cluster_enabled) {
                sort_fail(r, "ERR GET option of SORT denied in Cluster mode.");
                return;
            }
            o->gets[o->ngets++] = ++j;
        } else {
            sort_fail(r, ERR_SYNTAX);
            return;
        }
    }
    if (o->dontsort)
        o->by_at = 0;
    r->want_type = VT_ANY;
    cmd_get(r, &r->argv[1], sort_read_cb);
}

uint32_t cmd_sort_store_key(const struct resp_arg *argv, uint32_t argc)
{
    uint32_t at = 0;
    for (uint32_t i = 2; i < argc; i++) {
        if (cmd_arg_is(&argv[i], "limit"))
            i += 2;
        else if (cmd_arg_is(&argv[i], "get") || cmd_arg_is(&argv[i], "by"))
            i += 1;
        else if (cmd_arg_is(&argv[i], "store") && i + 1 < argc)
            at = ++i; /* the last STORE wins */
    }
    return at;
}

void cmd_sort_sort(struct req *r)
{
    sort_generic(r, 0);
}

void cmd_sort_ro(struct req *r)
{
    sort_generic(r, 1);
}
