/*
 * coll.c - the small form's encoding of collections (design and layout: coll.h).
 */
#include "coll.h"
#include "plist.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

size_t coll_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t coll_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t coll_varint_get(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        uint64_t b = p[i] & 0x7f;
        if (i == 9 && p[i] > 1)
            return 0; /* more than 64 bits */
        x |= b << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Reads one length-prefixed string at *pos (before end). Returns 0 or COLL_EBAD. */
static int get_str(const uint8_t **pos, const uint8_t *end, const uint8_t **s, size_t *len)
{
    uint64_t l;
    size_t k = coll_varint_get(*pos, (size_t)(end - *pos), &l);
    if (k == 0 || l > (uint64_t)(end - *pos) - k)
        return COLL_EBAD;
    *s = *pos + k;
    *len = (size_t)l;
    *pos = *s + l;
    return 0;
}

int coll_hash_open(struct coll_hash *h, const uint8_t *v, size_t n)
{
    if (n < 2 || (v[0] & 0x0f) != COLL_VERSION || (v[0] & ~(0x0fu | COLL_F_BIG)) != 0)
        return COLL_EBAD;
    size_t k = coll_varint_get(v + 1, n - 1, &h->count);
    if (k == 0)
        return COLL_EBAD;
    h->flags = v[0] & COLL_F_BIG;
    h->p = v + 1 + k;
    h->end = v + n;
    /* Validate every pair so that coll_hash_next cannot fail. Each pair takes at least
     * 2 bytes, which bounds the count before the walk. */
    if (h->count > (uint64_t)(h->end - h->p) / 2)
        return COLL_EBAD;
    const uint8_t *pos = h->p, *s;
    size_t l;
    for (uint64_t i = 0; i < h->count; i++)
        if (get_str(&pos, h->end, &s, &l) != 0 || get_str(&pos, h->end, &s, &l) != 0)
            return COLL_EBAD;
    return pos == h->end ? 0 : COLL_EBAD;
}

int coll_hash_next(const struct coll_hash *h, const uint8_t **pos, const uint8_t **f, size_t *flen,
                   const uint8_t **val, size_t *vlen)
{
    if (*pos >= h->end)
        return 0;
    get_str(pos, h->end, f, flen);
    get_str(pos, h->end, val, vlen);
    return 1;
}

int coll_hash_get(const struct coll_hash *h, const void *field, size_t flen, const uint8_t **val,
                  size_t *vlen)
{
    const uint8_t *pos = h->p, *f = NULL;
    size_t fl = 0;
    while (coll_hash_next(h, &pos, &f, &fl, val, vlen))
        if (fl == flen && memcmp(f, field, flen) == 0)
            return 1;
    return 0;
}

void coll_buf_free(struct coll_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

struct pair {
    const uint8_t *f, *v;
    size_t fl, vl;
};

static ssize_t find_pair(const struct pair *a, size_t n, const void *f, size_t fl)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].fl == fl && memcmp(a[i].f, f, fl) == 0)
            return (ssize_t)i;
    return -1;
}

/* ---- coll_strtab ---- */

#define STRTAB_GONE UINT32_MAX

static void key_of(const struct coll_keys *k, size_t i, const uint8_t **p, size_t *len)
{
    const char *e = (const char *)k->base + i * k->stride;
    memcpy(p, e + k->poff, sizeof(*p));
    memcpy(len, e + k->loff, sizeof(*len));
}

static uint32_t strtab_hash(const void *p, size_t len)
{
    uint64_t h = XXH3_64bits(p, len);
    return (uint32_t)(h ^ (h >> 32));
}

int coll_strtab_init(struct coll_strtab *t, size_t expect)
{
    size_t cap = 64;
    while (cap < 2 * expect)
        cap *= 2;
    t->s = calloc(cap, sizeof(*t->s));
    t->mask = t->s ? cap - 1 : 0;
    t->used = 0;
    return t->s ? 0 : -1;
}

void coll_strtab_free(struct coll_strtab *t)
{
    free(t->s);
    t->s = NULL;
}

int coll_strtab_build(struct coll_strtab *t, const struct coll_keys *k, size_t n, size_t more)
{
    if (coll_strtab_init(t, n + more) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (coll_strtab_put(t, k, i) < 0) {
            coll_strtab_free(t);
            return -1;
        }
    return 0;
}

/* The slot holding element i, or of bytes p[0..len) when i is SIZE_MAX; or SIZE_MAX. */
static size_t strtab_slot(const struct coll_strtab *t, const struct coll_keys *k, const void *p,
                          size_t len, uint32_t h, size_t i)
{
    for (size_t at = h & t->mask; t->s[at].idx1; at = (at + 1) & t->mask) {
        const struct coll_strslot *x = &t->s[at];
        if (x->idx1 == STRTAB_GONE || x->h != h)
            continue;
        if (i != SIZE_MAX) {
            if (x->idx1 - 1 == i)
                return at;
            continue;
        }
        const uint8_t *q;
        size_t ql;
        key_of(k, x->idx1 - 1, &q, &ql);
        if (ql == len && (len == 0 || memcmp(q, p, len) == 0))
            return at;
    }
    return SIZE_MAX;
}

ssize_t coll_strtab_find(const struct coll_strtab *t, const struct coll_keys *k, const void *p,
                         size_t len)
{
    size_t at = strtab_slot(t, k, p, len, strtab_hash(p, len), SIZE_MAX);
    return at == SIZE_MAX ? -1 : (ssize_t)(t->s[at].idx1 - 1);
}

static void strtab_place(struct coll_strtab *t, uint32_t idx1, uint32_t h)
{
    size_t at = h & t->mask;
    while (t->s[at].idx1 && t->s[at].idx1 != STRTAB_GONE)
        at = (at + 1) & t->mask;
    if (!t->s[at].idx1)
        t->used++;
    t->s[at] = (struct coll_strslot){idx1, h};
}

int coll_strtab_put(struct coll_strtab *t, const struct coll_keys *k, size_t i)
{
    if (i >= STRTAB_GONE - 1)
        return -1;
    if (2 * (t->used + 1) > t->mask + 1) { /* half full (deleted slots count): rebuilt */
        size_t live = 0;
        for (size_t at = 0; at <= t->mask; at++)
            live += t->s[at].idx1 && t->s[at].idx1 != STRTAB_GONE;
        size_t cap = t->mask + 1;
        while (cap < 4 * (live + 1))
            cap *= 2;
        struct coll_strslot *n = calloc(cap, sizeof(*n)), *o = t->s;
        if (n == NULL)
            return -1;
        size_t old = t->mask + 1;
        t->s = n;
        t->mask = cap - 1;
        t->used = 0;
        for (size_t at = 0; at < old; at++)
            if (o[at].idx1 && o[at].idx1 != STRTAB_GONE)
                strtab_place(t, o[at].idx1, o[at].h);
        free(o);
    }
    const uint8_t *p;
    size_t len;
    key_of(k, i, &p, &len);
    strtab_place(t, (uint32_t)(i + 1), strtab_hash(p, len));
    return 0;
}

void coll_strtab_del(struct coll_strtab *t, const struct coll_keys *k, size_t i)
{
    const uint8_t *p;
    size_t len;
    key_of(k, i, &p, &len);
    size_t at = strtab_slot(t, k, p, len, strtab_hash(p, len), i);
    if (at != SIZE_MAX)
        t->s[at].idx1 = STRTAB_GONE;
}

void coll_strtab_move(struct coll_strtab *t, const struct coll_keys *k, size_t from, size_t to)
{
    const uint8_t *p;
    size_t len;
    key_of(k, to, &p, &len); /* the element is at `to` by now */
    size_t at = strtab_slot(t, k, p, len, strtab_hash(p, len), from);
    if (at != SIZE_MAX)
        t->s[at].idx1 = (uint32_t)(to + 1);
}

/* Past PAIR_SCAN_MAX fields and changes, coll_hash_update finds fields through a
 * coll_strtab (an HSET of 200,000 fields scanned the fields before each: 46 s). */
#define PAIR_SCAN_MAX 32

int coll_hash_update(const struct coll_hash *h, const struct coll_hset *ops, size_t nops,
                     const struct coll_limits *lim, struct coll_buf *out, uint64_t *added,
                     uint64_t *removed)
{
    static const struct coll_limits dflt = {COLL_LP_MAX_ENTRIES, COLL_LP_MAX_VALUE};
    size_t have = h ? (size_t)h->count : 0, n = 0;
    struct pair *a = malloc((have + nops + 1) * sizeof(*a));
    uint64_t add = 0, rem = 0;
    int big = h ? (h->flags & COLL_F_BIG) != 0 : 0;

    if (!a)
        return -1;
    if (h) {
        const uint8_t *pos = h->p;
        while (coll_hash_next(h, &pos, &a[n].f, &a[n].fl, &a[n].v, &a[n].vl))
            n++;
    }
    struct coll_strtab t = {NULL, 0, 0};
    struct coll_keys k = {a, sizeof(*a), offsetof(struct pair, f), offsetof(struct pair, fl)};
    if (n + nops > PAIR_SCAN_MAX && coll_strtab_build(&t, &k, n, nops) < 0) {
        free(a);
        return -1;
    }
    for (size_t i = 0; i < nops; i++) {
        ssize_t j = t.s ? coll_strtab_find(&t, &k, ops[i].field, ops[i].flen)
                        : find_pair(a, n, ops[i].field, ops[i].flen);
        if (!ops[i].val) {
            if (j >= 0 && t.s) {
                coll_strtab_del(&t, &k, (size_t)j);
                a[j].fl = SIZE_MAX; /* dropped when the pairs are packed below */
                rem++;
            } else if (j >= 0) {
                memmove(&a[j], &a[j + 1], (n - (size_t)j - 1) * sizeof(*a));
                n--;
                rem++;
            }
            continue;
        }
        if (j < 0) {
            j = (ssize_t)n++;
            a[j].f = ops[i].field;
            a[j].fl = ops[i].flen;
            add++;
            if (t.s && coll_strtab_put(&t, &k, (size_t)j) < 0) {
                coll_strtab_free(&t);
                free(a);
                return -1;
            }
        }
        a[j].v = ops[i].val;
        a[j].vl = ops[i].vlen;
    }
    if (t.s) { /* the deleted ones out, the order kept */
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (a[i].fl != SIZE_MAX)
                a[kept++] = a[i];
        n = kept;
        coll_strtab_free(&t);
    }
    size_t len = 1 + coll_varint_len(n);
    if (!lim)
        lim = &dflt;
    /* Redis checks the values written (hashTypeTryConversion), not the ones kept */
    for (size_t i = 0; i < nops; i++)
        if (ops[i].val && (ops[i].flen > lim->max_value || ops[i].vlen > lim->max_value))
            big = 1;
    for (size_t i = 0; i < n; i++)
        len += coll_varint_len(a[i].fl) + a[i].fl + coll_varint_len(a[i].vl) + a[i].vl;
    if (n > lim->max_entries)
        big = 1;
    uint8_t *p = malloc(len);
    if (!p) {
        free(a);
        return -1;
    }
    size_t o = 0;
    p[o++] = (uint8_t)(COLL_VERSION | (big ? COLL_F_BIG : 0));
    o += coll_varint_put(p + o, n);
    for (size_t i = 0; i < n; i++) {
        o += coll_varint_put(p + o, a[i].fl);
        memcpy(p + o, a[i].f, a[i].fl);
        o += a[i].fl;
        o += coll_varint_put(p + o, a[i].vl);
        memcpy(p + o, a[i].v, a[i].vl);
        o += a[i].vl;
    }
    free(a);
    coll_buf_free(out);
    out->p = p;
    out->len = out->cap = o;
    if (added)
        *added = add;
    if (removed)
        *removed = rem;
    return 0;
}

const char *coll_hash_encoding(const struct coll_hash *h)
{
    return (h->flags & COLL_F_BIG) ? "hashtable" : "listpack";
}

int coll_list_decode(const uint8_t *v, size_t n, size_t extra, struct coll_str **out, size_t *count)
{
    uint8_t flags;
    return coll_elems_decode(v, n, extra, out, count, &flags);
}

int coll_elems_decode(const uint8_t *v, size_t n, size_t extra, struct coll_str **out,
                      size_t *count, uint8_t *flags)
{
    uint64_t c;
    size_t k;
    if (n < 2 || (v[0] & 0x0f) != COLL_VERSION || (v[0] & ~(0x0fu | COLL_F_BIG)) != 0 ||
        (k = coll_varint_get(v + 1, n - 1, &c)) == 0 || c > n - 1 - k)
        return COLL_EBAD; /* each element takes at least one byte */
    struct coll_str *e = malloc(((size_t)c + extra + 1) * sizeof(*e));
    if (!e)
        return -2;
    const uint8_t *pos = v + 1 + k, *end = v + n;
    for (uint64_t i = 0; i < c; i++) {
        if (get_str(&pos, end, &e[i].p, &e[i].len) != 0) {
            free(e);
            return COLL_EBAD;
        }
    }
    if (pos != end) {
        free(e);
        return COLL_EBAD;
    }
    *out = e;
    *count = (size_t)c;
    *flags = v[0] & COLL_F_BIG;
    return 0;
}

int coll_list_encode(const struct coll_str *e, size_t n, struct coll_buf *out)
{
    return coll_elems_encode(e, n, 0, out);
}

int coll_elems_encode(const struct coll_str *e, size_t n, uint8_t flags, struct coll_buf *out)
{
    size_t len = 1 + coll_varint_len(n);
    for (size_t i = 0; i < n; i++)
        len += coll_varint_len(e[i].len) + e[i].len;
    uint8_t *p = malloc(len);
    if (!p)
        return -1;
    size_t o = 0;
    p[o++] = (uint8_t)(COLL_VERSION | (flags & COLL_F_BIG));
    o += coll_varint_put(p + o, n);
    for (size_t i = 0; i < n; i++) {
        o += coll_varint_put(p + o, e[i].len);
        if (e[i].len)
            memcpy(p + o, e[i].p, e[i].len);
        o += e[i].len;
    }
    coll_buf_free(out);
    out->p = p;
    out->len = out->cap = o;
    return 0;
}

int coll_zel_cmp(const struct coll_zel *a, const struct coll_zel *b)
{
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = m ? memcmp(a->p, b->p, m) : 0;
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* ---- an index of strings ---- */

int coll_idx_init(struct coll_idx *x, void (*key)(const void *, size_t, const uint8_t **, size_t *),
                  const void *arg)
{
    *x = (struct coll_idx){.key = key, .arg = arg, .mask = 63};
    x->slot = calloc(64, sizeof(*x->slot));
    return x->slot ? 0 : -2;
}

void coll_idx_free(struct coll_idx *x)
{
    free(x->slot);
    x->slot = NULL;
}

static size_t idx_home(const struct coll_idx *x, const void *p, size_t len)
{
    return (size_t)XXH3_64bits(p, len) & x->mask;
}

long coll_idx_find(const struct coll_idx *x, const void *p, size_t len)
{
    for (size_t h = idx_home(x, p, len);; h = (h + 1) & x->mask) {
        uint32_t s = x->slot[h];
        if (s == 0)
            return -1;
        const uint8_t *q;
        size_t ql;
        x->key(x->arg, s - 1, &q, &ql);
        if (ql == len && (len == 0 || memcmp(q, p, len) == 0))
            return (long)(s - 1);
    }
}

static void idx_put(struct coll_idx *x, size_t i)
{
    const uint8_t *p;
    size_t len;
    x->key(x->arg, i, &p, &len);
    size_t h = idx_home(x, p, len);
    while (x->slot[h])
        h = (h + 1) & x->mask;
    x->slot[h] = (uint32_t)(i + 1);
}

int coll_idx_add(struct coll_idx *x, size_t i)
{
    if ((x->n + 1) * 2 > x->mask + 1) { /* at most half full */
        size_t cap = (x->mask + 1) * 2;
        uint32_t *old = x->slot, *s = calloc(cap, sizeof(*s));
        if (s == NULL)
            return -2;
        size_t oldcap = x->mask + 1;
        x->slot = s;
        x->mask = cap - 1;
        for (size_t h = 0; h < oldcap; h++)
            if (old[h])
                idx_put(x, old[h] - 1);
        free(old);
    }
    idx_put(x, i);
    x->n++;
    return 0;
}

static int zel_qcmp(const void *a, const void *b)
{
    return coll_zel_cmp(a, b);
}

int coll_zset_sort_elems(uint8_t *p, size_t len, uint64_t n)
{
    if (n > len / 9)
        return COLL_EBAD;
    struct coll_zel *e = malloc((size_t)n * sizeof(*e) + 1);
    uint8_t *out = malloc(len + 1);
    const uint8_t *pos = p, *end = p + len;
    int rc = e && out ? 0 : -2;
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        if (end - pos < 8) {
            rc = COLL_EBAD;
            break;
        }
        memcpy(&e[i].score, pos, 8);
        pos += 8;
        if (e[i].score != e[i].score || get_str(&pos, end, &e[i].p, &e[i].len) != 0)
            rc = COLL_EBAD;
    }
    if (rc == 0 && pos != end)
        rc = COLL_EBAD;
    if (rc == 0) {
        qsort(e, (size_t)n, sizeof(*e), zel_qcmp);
        size_t o = 0;
        for (uint64_t i = 0; i < n; i++) {
            memcpy(out + o, &e[i].score, 8);
            o += 8;
            o += coll_varint_put(out + o, e[i].len);
            if (e[i].len)
                memcpy(out + o, e[i].p, e[i].len);
            o += e[i].len;
        }
        memcpy(p, out, len);
    }
    free(e);
    free(out);
    return rc;
}

int coll_zset_decode(const uint8_t *v, size_t n, size_t extra, struct coll_zel **out, size_t *count,
                     uint8_t *flags)
{
    uint64_t c;
    size_t k;
    if (n < 2 || (v[0] & 0x0f) != COLL_VERSION || (v[0] & ~(0x0fu | COLL_F_BIG)) != 0 ||
        (k = coll_varint_get(v + 1, n - 1, &c)) == 0 || c > (n - 1 - k) / 9)
        return COLL_EBAD; /* each element takes at least 9 bytes */
    struct coll_zel *e = malloc(((size_t)c + extra + 1) * sizeof(*e));
    if (!e)
        return -2;
    const uint8_t *pos = v + 1 + k, *end = v + n;
    for (uint64_t i = 0; i < c; i++) {
        if (end - pos < 8) {
            free(e);
            return COLL_EBAD;
        }
        memcpy(&e[i].score, pos, 8);
        pos += 8;
        if (e[i].score != e[i].score || get_str(&pos, end, &e[i].p, &e[i].len) != 0) {
            free(e); /* NaN is never a score */
            return COLL_EBAD;
        }
    }
    if (pos != end) {
        free(e);
        return COLL_EBAD;
    }
    *out = e;
    *count = (size_t)c;
    *flags = v[0] & COLL_F_BIG;
    return 0;
}

int coll_zset_encode(const struct coll_zel *e, size_t n, uint8_t flags, struct coll_buf *out)
{
    size_t len = 1 + coll_varint_len(n);
    for (size_t i = 0; i < n; i++)
        len += 8 + coll_varint_len(e[i].len) + e[i].len;
    uint8_t *p = malloc(len);
    if (!p)
        return -1;
    size_t o = 0;
    p[o++] = (uint8_t)(COLL_VERSION | (flags & COLL_F_BIG));
    o += coll_varint_put(p + o, n);
    for (size_t i = 0; i < n; i++) {
        /* a listpack keeps -0 as the integer 0 (Redis); a skiplist keeps the double */
        double sc = e[i].score == 0 && !(flags & COLL_F_BIG) ? 0.0 : e[i].score;
        memcpy(p + o, &sc, 8);
        o += 8;
        o += coll_varint_put(p + o, e[i].len);
        if (e[i].len)
            memcpy(p + o, e[i].p, e[i].len);
        o += e[i].len;
    }
    coll_buf_free(out);
    out->p = p;
    out->len = out->cap = o;
    return 0;
}

const char *coll_encoding(int t, const uint8_t *v, size_t n)
{
    struct coll_hash h;
    if (t == COLL_STREAM)
        return "stream";
    if (t != COLL_LIST && plist_is_root(v, n)) { /* large: the flag Redis's rule set */
        int big = (v[0] & COLL_F_BIG) != 0;
        return t == COLL_ZSET ? (big ? "skiplist" : "listpack")
                              : (big             ? "hashtable"
                                 : t == COLL_SET ? "intset"
                                                 : "listpack");
    }
    if (t == COLL_HASH && coll_hash_open(&h, v, n) == 0)
        return coll_hash_encoding(&h);
    if (t == COLL_LIST)
        return "quicklist"; /* Redis 7.0's only list encoding */
    struct coll_str *e;
    size_t k;
    uint8_t fl;
    if (t == COLL_SET && coll_elems_decode(v, n, 0, &e, &k, &fl) == 0) {
        free(e);
        return fl & COLL_F_BIG ? "hashtable" : "intset"; /* Redis 7.0: no listpack sets */
    }
    struct coll_zel *z;
    if (t == COLL_ZSET && coll_zset_decode(v, n, 0, &z, &k, &fl) == 0) {
        free(z);
        return fl & COLL_F_BIG ? "skiplist" : "listpack";
    }
    return "unknown";
}

int coll_spans(int t, const uint8_t *v, size_t n, size_t **off, size_t *count)
{
    uint64_t c;
    *off = NULL;
    *count = 0;
    if (n < 2 || (v[0] & 0x0f) != COLL_VERSION || t < COLL_HASH || t > COLL_ZSET)
        return COLL_EBAD;
    size_t k = coll_varint_get(v + 1, n - 1, &c);
    /* every element takes at least 1 byte (2 for a pair, 9 for a scored member) */
    if (k == 0 || c == 0 || c > n - 1 - k)
        return COLL_EBAD;
    size_t *o = malloc((size_t)(c + 1) * sizeof(*o));
    if (o == NULL)
        return -2;
    const uint8_t *pos = v + 1 + k, *end = v + n, *s;
    size_t l;
    for (uint64_t i = 0; i < c; i++) {
        o[i] = (size_t)(pos - v);
        int bad;
        if (t == COLL_ZSET)
            bad = end - pos < 8 || (pos += 8, get_str(&pos, end, &s, &l) != 0);
        else
            bad = get_str(&pos, end, &s, &l) != 0 ||
                  (t == COLL_HASH && get_str(&pos, end, &s, &l) != 0);
        if (bad) {
            free(o);
            return COLL_EBAD;
        }
    }
    if (pos != end) {
        free(o);
        return COLL_EBAD;
    }
    o[c] = n;
    *off = o;
    *count = (size_t)c;
    return 0;
}
