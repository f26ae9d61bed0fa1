/*
 * rdbcoll.c - collections in the RDB encoding (see rdbcoll.h).
 */
#include "rdbcoll.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdbstr.h"

size_t rdbcoll_hash_bound(size_t enc_len, uint64_t count)
{
    return 9 + enc_len + (size_t)count * 2 * 9;
}

size_t rdbcoll_put_hash(uint8_t *out, const struct coll_hash *h)
{
    size_t o = rdbstr_put_len(out, h->count);
    const uint8_t *pos = h->p, *f, *v;
    size_t fl, vl;
    while (coll_hash_next(h, &pos, &f, &fl, &v, &vl)) {
        o += rdbstr_put_value_lzf(out + o, f, fl);
        o += rdbstr_put_value_lzf(out + o, v, vl);
    }
    return o;
}

/* The strings read, in order: each its bytes (malloc'd, or in num for an integer). */
struct strs {
    struct str {
        uint8_t *p; /* malloc'd, or NULL: the integer's text is in num */
        size_t len;
        char num[24];
    } * v;
    size_t n, cap;
};

static void strs_free(struct strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].p);
    free(s->v);
}

static struct str *strs_add(struct strs *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct str *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    struct str *x = &s->v[s->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

static const uint8_t *str_bytes(const struct str *x)
{
    return x->p ? x->p : (const uint8_t *)x->num;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The bytes of a listpack entry's back-length for an entry of l bytes. */
static size_t backlen_size(uint64_t l)
{
    return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}

/* Decodes the back-length of `size` bytes at b (read from its last byte backward). */
static uint64_t backlen_of(const uint8_t *b, size_t size)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) {
        uint8_t x = b[size - 1 - i];
        v |= (uint64_t)(x & 127) << (7 * i);
        if ((x & 128) != (i + 1 < size ? 128 : 0))
            return UINT64_MAX; /* the continuation bits disagree with the size */
    }
    return v;
}

/* Splits listpack lp[0..n) into its entries (integers as their decimal text). */
static int listpack_read(const uint8_t *lp, size_t n, size_t max_len, struct strs *out)
{
    if (n < 7 || le(lp, 4) != n || lp[n - 1] != 0xff)
        return RDBSTR_BADDATA;
    uint64_t want = le(lp + 4, 2);
    size_t pos = 6, had = out->n;
    while (pos < n - 1) {
        uint8_t b = lp[pos];
        size_t hdr, len = 0;
        int is_int = 1;
        int64_t iv = 0;
        size_t left = n - 1 - pos;
        if ((b & 0x80) == 0) {
            hdr = 1, iv = b & 0x7f;
        } else if ((b & 0xc0) == 0x80) {
            hdr = 1, len = b & 0x3f, is_int = 0;
        } else if ((b & 0xe0) == 0xc0) {
            if (left < 2)
                return RDBSTR_BADDATA;
            uint64_t u = ((uint64_t)(b & 0x1f) << 8) | lp[pos + 1];
            hdr = 2, iv = u >= 4096 ? (int64_t)u - 8192 : (int64_t)u;
        } else if ((b & 0xf0) == 0xe0) {
            if (left < 2)
                return RDBSTR_BADDATA;
            hdr = 2, len = ((size_t)(b & 0x0f) << 8) | lp[pos + 1], is_int = 0;
        } else if (b == 0xf0) {
            if (left < 5)
                return RDBSTR_BADDATA;
            hdr = 5, len = (size_t)le(lp + pos + 1, 4), is_int = 0;
        } else if (b >= 0xf1 && b <= 0xf4) {
            static const int sizes[] = {2, 3, 4, 8};
            int k = sizes[b - 0xf1];
            if (left < (size_t)k + 1)
                return RDBSTR_BADDATA;
            uint64_t u = le(lp + pos + 1, k);
            if (k < 8 && (u >> (8 * k - 1)))
                u |= ~UINT64_C(0) << (8 * k); /* sign-extend */
            hdr = 1 + (size_t)k, iv = (int64_t)u;
        } else {
            return RDBSTR_BADDATA; /* 0xf5..0xfe are unused; 0xff is the end */
        }
        if (!is_int && len > left - hdr)
            return RDBSTR_BADDATA;
        size_t entry = hdr + (is_int ? 0 : len);
        size_t back = backlen_size(entry);
        if (entry + back > left || backlen_of(lp + pos + entry, back) != entry)
            return RDBSTR_BADDATA;
        if (!is_int && len > max_len)
            return RDBSTR_TOOBIG;
        struct str *x = strs_add(out);
        if (!x)
            return RDBSTR_NOMEM;
        if (is_int) {
            x->len = (size_t)snprintf(x->num, sizeof(x->num), "%" PRId64, iv);
        } else {
            if ((x->p = malloc(len ? len : 1)) == NULL)
                return RDBSTR_NOMEM;
            memcpy(x->p, lp + pos + hdr, len);
            x->len = len;
        }
        pos += entry + back;
    }
    if (pos != n - 1 || (want != 65535 && want != out->n - had))
        return RDBSTR_BADDATA;
    return RDBSTR_OK;
}

int rdbcoll_read_hash(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                      const struct coll_limits *lim, struct coll_buf *out)
{
    struct strs s = {0};
    size_t at = *pos;
    int rc = RDBSTR_OK;
    if (type == RDB_TYPE_HASH) {
        uint64_t count;
        int special;
        if (rdbstr_read_len(p, n, &at, &count, &special) != RDBSTR_OK || special ||
            count > (n - at) / 2)
            return RDBSTR_BADDATA;
        for (uint64_t i = 0; i < 2 * count && rc == RDBSTR_OK; i++) {
            struct str *x = strs_add(&s);
            if (!x)
                rc = RDBSTR_NOMEM;
            else if ((rc = rdbstr_read_string(p, n, &at, max_len, &x->p, &x->len)) != RDBSTR_OK)
                x->p = NULL;
        }
    } else if (type == RDB_TYPE_HASH_LISTPACK) {
        uint8_t *lp = NULL;
        size_t lplen = 0;
        rc = rdbstr_read_string(p, n, &at, SIZE_MAX / 2, &lp, &lplen);
        if (rc == RDBSTR_OK) {
            rc = listpack_read(lp, lplen, max_len, &s);
            if (rc == RDBSTR_OK && s.n % 2)
                rc = RDBSTR_BADDATA;
        }
        free(lp);
    } else {
        return RDBSTR_NOTSTR;
    }
    if (rc == RDBSTR_OK && s.n == 0) /* Redis never writes an empty collection */
        rc = RDBSTR_BADDATA;
    size_t total = 0;
    for (size_t i = 0; i < s.n && rc == RDBSTR_OK; i++)
        if ((total += s.v[i].len + 2) > max_len)
            rc = RDBSTR_TOOBIG;
    struct coll_hset *ops = NULL;
    if (rc == RDBSTR_OK && (ops = malloc((s.n / 2 + 1) * sizeof(*ops))) == NULL)
        rc = RDBSTR_NOMEM;
    if (rc == RDBSTR_OK) {
        for (size_t i = 0; i < s.n / 2; i++)
            ops[i] = (struct coll_hset){str_bytes(&s.v[2 * i]), s.v[2 * i].len,
                                        str_bytes(&s.v[2 * i + 1]), s.v[2 * i + 1].len};
        uint64_t added = 0;
        if (coll_hash_update(NULL, ops, s.n / 2, lim, out, &added, NULL) < 0)
            rc = RDBSTR_NOMEM;
        else if (added != s.n / 2) /* a field twice: Redis refuses such a payload */
            rc = RDBSTR_BADDATA;
    }
    free(ops);
    strs_free(&s);
    if (rc == RDBSTR_OK)
        *pos = at;
    else
        coll_buf_free(out);
    return rc;
}

size_t rdbcoll_list_bound(size_t enc_len, uint64_t count)
{
    return 9 + enc_len + (size_t)count * 9;
}

size_t rdbcoll_put_list(uint8_t *out, const struct coll_str *e, size_t n)
{
    size_t o = rdbstr_put_len(out, n);
    for (size_t i = 0; i < n; i++)
        o += rdbstr_put_value_lzf(out + o, e[i].p, e[i].len);
    return o;
}

int rdbcoll_read_list(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                      struct coll_buf *out)
{
    struct strs s = {0};
    size_t at = *pos;
    uint64_t count;
    int special, rc = RDBSTR_OK;
    if (type != RDB_TYPE_LIST && type != RDB_TYPE_LIST_QUICKLIST2)
        return RDBSTR_NOTSTR;
    if (rdbstr_read_len(p, n, &at, &count, &special) != RDBSTR_OK || special || count > n - at)
        return RDBSTR_BADDATA;
    for (uint64_t i = 0; i < count && rc == RDBSTR_OK; i++) {
        uint64_t container = 1; /* type 1: every item is one plain element */
        if (type == RDB_TYPE_LIST_QUICKLIST2 &&
            (rdbstr_read_len(p, n, &at, &container, &special) != RDBSTR_OK || special ||
             (container != 1 && container != 2))) {
            rc = RDBSTR_BADDATA;
            break;
        }
        uint8_t *v = NULL;
        size_t vl = 0;
        rc = rdbstr_read_string(p, n, &at, container == 2 ? SIZE_MAX / 2 : max_len, &v, &vl);
        if (rc != RDBSTR_OK)
            break;
        if (container == 2) { /* a listpack of elements */
            rc = listpack_read(v, vl, max_len, &s);
            free(v);
            continue;
        }
        struct str *x = strs_add(&s);
        if (!x) {
            free(v);
            rc = RDBSTR_NOMEM;
        } else {
            x->p = v;
            x->len = vl;
        }
    }
    if (rc == RDBSTR_OK && s.n == 0)
        rc = RDBSTR_BADDATA; /* Redis never writes an empty list */
    size_t total = 0;
    for (size_t i = 0; i < s.n && rc == RDBSTR_OK; i++)
        if ((total += s.v[i].len + 2) > max_len)
            rc = RDBSTR_TOOBIG;
    struct coll_str *e = NULL;
    if (rc == RDBSTR_OK && (e = malloc(s.n * sizeof(*e))) == NULL)
        rc = RDBSTR_NOMEM;
    if (rc == RDBSTR_OK) {
        for (size_t i = 0; i < s.n; i++)
            e[i] = (struct coll_str){str_bytes(&s.v[i]), s.v[i].len};
        if (coll_list_encode(e, s.n, out) < 0)
            rc = RDBSTR_NOMEM;
    }
    free(e);
    strs_free(&s);
    if (rc == RDBSTR_OK)
        *pos = at;
    else
        coll_buf_free(out);
    return rc;
}

/* Redis's string2ll: the canonical decimal form of an int64. */
static int canon_int(const uint8_t *p, size_t n, int64_t *v)
{
    char buf[24];
    if (n == 0 || n > 20)
        return 0;
    memcpy(buf, p, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end || buf[0] == '+' || buf[0] == ' ' || (buf[0] == '0' && n > 1) ||
        (buf[0] == '-' && (n == 1 || buf[1] == '0')))
        return 0;
    *v = x;
    return 1;
}

struct ival {
    int64_t v;
    struct coll_str s;
};

static int cmp_ival(const void *a, const void *b)
{
    int64_t x = ((const struct ival *)a)->v, y = ((const struct ival *)b)->v;
    return x < y ? -1 : x > y;
}

/* A set of type 2 (strings) or 11 (an intset blob) into its small form. */
static int read_set(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                    struct coll_buf *out)
{
    struct strs s = {0};
    size_t at = *pos;
    int rc = RDBSTR_OK;
    if (type == RDB_TYPE_SET) {
        uint64_t count;
        int special;
        if (rdbstr_read_len(p, n, &at, &count, &special) != RDBSTR_OK || special || count > n - at)
            return RDBSTR_BADDATA;
        for (uint64_t i = 0; i < count && rc == RDBSTR_OK; i++) {
            struct str *x = strs_add(&s);
            if (!x)
                rc = RDBSTR_NOMEM;
            else if ((rc = rdbstr_read_string(p, n, &at, max_len, &x->p, &x->len)) != RDBSTR_OK)
                x->p = NULL;
        }
    } else {
        uint8_t *b = NULL;
        size_t bl = 0;
        rc = rdbstr_read_string(p, n, &at, SIZE_MAX / 2, &b, &bl);
        uint64_t enc = bl >= 8 ? le(b, 4) : 0, len = bl >= 8 ? le(b + 4, 4) : 0;
        if (rc == RDBSTR_OK && ((enc != 2 && enc != 4 && enc != 8) || bl != 8 + enc * len))
            rc = RDBSTR_BADDATA;
        for (uint64_t i = 0; i < len && rc == RDBSTR_OK; i++) {
            uint64_t u = le(b + 8 + i * enc, (int)enc);
            if (enc < 8 && (u >> (8 * enc - 1)))
                u |= ~UINT64_C(0) << (8 * enc);
            struct str *x = strs_add(&s);
            if (!x)
                rc = RDBSTR_NOMEM;
            else
                x->len = (size_t)snprintf(x->num, sizeof(x->num), "%" PRId64, (int64_t)u);
        }
        free(b);
    }
    if (rc == RDBSTR_OK && s.n == 0)
        rc = RDBSTR_BADDATA;
    size_t total = 0;
    int ints = s.n <= 512;
    for (size_t i = 0; i < s.n && rc == RDBSTR_OK; i++)
        if ((total += s.v[i].len + 2) > max_len)
            rc = RDBSTR_TOOBIG;
    struct ival *e = NULL;
    if (rc == RDBSTR_OK && (e = malloc(s.n * sizeof(*e))) == NULL)
        rc = RDBSTR_NOMEM;
    for (size_t i = 0; i < s.n && rc == RDBSTR_OK; i++) {
        e[i].s = (struct coll_str){str_bytes(&s.v[i]), s.v[i].len};
        if (ints && !canon_int(e[i].s.p, e[i].s.len, &e[i].v))
            ints = 0;
    }
    if (rc == RDBSTR_OK) {
        struct coll_str *m = malloc(s.n * sizeof(*m));
        if (ints)
            qsort(e, s.n, sizeof(*e), cmp_ival);
        for (size_t i = 0; m && i < s.n; i++)
            m[i] = e[i].s;
        if (!m || coll_elems_encode(m, s.n, ints ? 0 : COLL_F_BIG, out) < 0)
            rc = RDBSTR_NOMEM;
        free(m);
    }
    free(e);
    strs_free(&s);
    if (rc == RDBSTR_OK)
        *pos = at;
    else
        coll_buf_free(out);
    return rc;
}

static int cmp_zel(const void *a, const void *b)
{
    return coll_zel_cmp(a, b);
}

/* A score written as a string (types 3 and 17): strtod's form, "inf", "-inf". */
static int score_of(const uint8_t *p, size_t len, double *d)
{
    char buf[64], *end;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, p, len);
    buf[len] = 0;
    *d = strtod(buf, &end);
    return *end || *d != *d ? -1 : 0;
}

/* A sorted set of type 3 (member, score as a string), 5 (member, 8-byte double) or 17 (a
 * listpack of member, score) into its small form, sorted. */
static int read_zset(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                     struct coll_buf *out)
{
    struct strs s = {0};
    size_t at = *pos, pairs = 0;
    double *sc = NULL;
    int rc = RDBSTR_OK;
    if (type == RDB_TYPE_ZSET_LISTPACK) {
        uint8_t *lp = NULL;
        size_t lplen = 0;
        rc = rdbstr_read_string(p, n, &at, SIZE_MAX / 2, &lp, &lplen);
        if (rc == RDBSTR_OK)
            rc = listpack_read(lp, lplen, max_len, &s);
        free(lp);
        if (rc == RDBSTR_OK && s.n % 2)
            rc = RDBSTR_BADDATA;
        pairs = s.n / 2;
        if (rc == RDBSTR_OK && (sc = malloc((pairs + 1) * sizeof(*sc))) == NULL)
            rc = RDBSTR_NOMEM;
        for (size_t i = 0; i < pairs && rc == RDBSTR_OK; i++)
            if (score_of(str_bytes(&s.v[2 * i + 1]), s.v[2 * i + 1].len, &sc[i]) < 0)
                rc = RDBSTR_BADDATA;
    } else {
        uint64_t count;
        int special;
        if (rdbstr_read_len(p, n, &at, &count, &special) != RDBSTR_OK || special ||
            count > (n - at) / 2)
            return RDBSTR_BADDATA;
        pairs = (size_t)count;
        if ((sc = malloc((pairs + 1) * sizeof(*sc))) == NULL)
            return RDBSTR_NOMEM;
        for (size_t i = 0; i < pairs && rc == RDBSTR_OK; i++) {
            struct str *x = strs_add(&s);
            if (!x) {
                rc = RDBSTR_NOMEM;
                break;
            }
            if ((rc = rdbstr_read_string(p, n, &at, max_len, &x->p, &x->len)) != RDBSTR_OK) {
                x->p = NULL;
                break;
            }
            if (type == RDB_TYPE_ZSET_2) {
                if (n - at < 8) {
                    rc = RDBSTR_BADDATA;
                    break;
                }
                uint64_t bits = le(p + at, 8);
                memcpy(&sc[i], &bits, 8);
                at += 8;
                if (sc[i] != sc[i])
                    rc = RDBSTR_BADDATA;
            } else { /* type 3: a length byte, then the score's text (253-255: nan/inf) */
                if (at >= n) {
                    rc = RDBSTR_BADDATA;
                    break;
                }
                uint8_t l = p[at++];
                if (l == 253 || l == 255 || l == 254) {
                    sc[i] = l == 254 ? INFINITY : l == 255 ? -INFINITY : NAN;
                    rc = l == 253 ? RDBSTR_BADDATA : RDBSTR_OK;
                } else if (l > n - at || score_of(p + at, l, &sc[i]) < 0) {
                    rc = RDBSTR_BADDATA;
                } else {
                    at += l;
                }
            }
        }
    }
    if (rc == RDBSTR_OK && pairs == 0)
        rc = RDBSTR_BADDATA;
    size_t total = 0;
    struct coll_zel *z = NULL;
    if (rc == RDBSTR_OK && (z = malloc(pairs * sizeof(*z))) == NULL)
        rc = RDBSTR_NOMEM;
    size_t stride = type == RDB_TYPE_ZSET_LISTPACK ? 2 : 1;
    for (size_t i = 0; i < pairs && rc == RDBSTR_OK; i++) {
        const struct str *m = &s.v[stride * i];
        z[i] = (struct coll_zel){sc[i], str_bytes(m), m->len};
        if ((total += m->len + 10) > max_len)
            rc = RDBSTR_TOOBIG;
    }
    if (rc == RDBSTR_OK) {
        qsort(z, pairs, sizeof(*z), cmp_zel);
        for (size_t i = 1; i < pairs && rc == RDBSTR_OK; i++)
            if (z[i].len == z[i - 1].len && !memcmp(z[i].p, z[i - 1].p, z[i].len))
                rc = RDBSTR_BADDATA; /* a member twice (same score): Redis refuses it */
        int big = pairs > 128;
        for (size_t i = 0; i < pairs && !big; i++)
            big = z[i].len > 64;
        if (rc == RDBSTR_OK && coll_zset_encode(z, pairs, big ? COLL_F_BIG : 0, out) < 0)
            rc = RDBSTR_NOMEM;
    }
    free(z);
    free(sc);
    strs_free(&s);
    if (rc == RDBSTR_OK)
        *pos = at;
    else
        coll_buf_free(out);
    return rc;
}

int rdbcoll_rdb_type(int vtype)
{
    return vtype == COLL_HASH   ? RDB_TYPE_HASH
           : vtype == COLL_LIST ? RDB_TYPE_LIST
           : vtype == COLL_SET  ? RDB_TYPE_SET
           : vtype == COLL_ZSET ? RDB_TYPE_ZSET_2
                                : -1;
}

size_t rdbcoll_body_bound(int vtype, const uint8_t *v, size_t n)
{
    if (vtype == COLL_ZSET) { /* a length, then member strings and 8-byte scores */
        struct coll_zel *z;
        size_t k;
        uint8_t fl;
        if (coll_zset_decode(v, n, 0, &z, &k, &fl) != 0)
            return 0;
        free(z);
        return 9 + n + k * 18;
    }
    if (vtype == COLL_HASH) {
        struct coll_hash h;
        return coll_hash_open(&h, v, n) == 0 ? rdbcoll_hash_bound(n, h.count) : 0;
    }
    if (vtype == COLL_LIST || vtype == COLL_SET) { /* the same body: a length, strings */
        struct coll_str *e;
        size_t k;
        if (coll_list_decode(v, n, 0, &e, &k) != 0)
            return 0;
        free(e);
        return rdbcoll_list_bound(n, k);
    }
    return 0;
}

size_t rdbcoll_put_body(uint8_t *out, int vtype, const uint8_t *v, size_t n)
{
    if (vtype == COLL_ZSET) {
        struct coll_zel *z;
        size_t k;
        uint8_t fl;
        if (coll_zset_decode(v, n, 0, &z, &k, &fl) != 0)
            return 0;
        size_t o = rdbstr_put_len(out, k);
        for (size_t i = k; i-- > 0;) { /* Redis writes from the highest score down */
            o += rdbstr_put_value_lzf(out + o, z[i].p, z[i].len);
            uint64_t bits;
            memcpy(&bits, &z[i].score, 8);
            for (int b = 0; b < 8; b++)
                out[o++] = (uint8_t)(bits >> (8 * b));
        }
        free(z);
        return o;
    }
    if (vtype == COLL_HASH) {
        struct coll_hash h;
        return coll_hash_open(&h, v, n) == 0 ? rdbcoll_put_hash(out, &h) : 0;
    }
    struct coll_str *e;
    size_t k;
    if ((vtype != COLL_LIST && vtype != COLL_SET) || coll_list_decode(v, n, 0, &e, &k) != 0)
        return 0;
    size_t o = rdbcoll_put_list(out, e, k);
    free(e);
    return o;
}

int rdbcoll_read(const uint8_t *p, size_t n, size_t *pos, int type, size_t max_len,
                 const struct coll_limits *lim, struct coll_buf *out, uint8_t *vtype)
{
    if (type == RDB_TYPE_HASH || type == RDB_TYPE_HASH_LISTPACK) {
        *vtype = COLL_HASH;
        return rdbcoll_read_hash(p, n, pos, type, max_len, lim, out);
    }
    if (type == RDB_TYPE_LIST || type == RDB_TYPE_LIST_QUICKLIST2) {
        *vtype = COLL_LIST;
        return rdbcoll_read_list(p, n, pos, type, max_len, out);
    }
    if (type == RDB_TYPE_SET || type == RDB_TYPE_SET_INTSET) {
        *vtype = COLL_SET;
        return read_set(p, n, pos, type, max_len, out);
    }
    if (type == RDB_TYPE_ZSET || type == RDB_TYPE_ZSET_2 || type == RDB_TYPE_ZSET_LISTPACK) {
        *vtype = COLL_ZSET;
        return read_zset(p, n, pos, type, max_len, out);
    }
    return RDBSTR_NOTSTR;
}
