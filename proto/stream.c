/*
 * stream.c - stream IDs and the stream record's codec (stream.h).
 */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

int stream_id_cmp(const struct stream_id *a, const struct stream_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

int stream_id_incr(struct stream_id *id)
{
    if (id->seq != UINT64_MAX) {
        id->seq++;
        return 0;
    }
    if (id->ms == UINT64_MAX)
        return -1;
    id->ms++;
    id->seq = 0;
    return 0;
}

int stream_id_decr(struct stream_id *id)
{
    if (id->seq != 0) {
        id->seq--;
        return 0;
    }
    if (id->ms == 0)
        return -1;
    id->ms--;
    id->seq = UINT64_MAX;
    return 0;
}

static size_t u64_fmt(uint64_t v, char *out)
{
    char t[20];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = t[n - 1 - i];
    return n;
}

size_t stream_id_fmt(const struct stream_id *id, char *buf)
{
    size_t n = u64_fmt(id->ms, buf);
    buf[n++] = '-';
    return n + u64_fmt(id->seq, buf + n);
}

/* Redis's string2ull: its strict integer form, else what strtoull(3) takes whole in base
 * 10: leading white space, a sign ('-' after white space negates modulo 2^64), one digit
 * at least, no overflow. */
static int parse_u64(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    if (n && p[0] == '-')
        return -1; /* string2ll takes it, negative: out of range */
    while (i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')))
        i++;
    int neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    if (i == n)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (uint64_t)0 - v : v;
    return 0;
}

int stream_id_parse(const char *p, size_t n, uint64_t missing_seq, int strict, int *seq_given,
                    struct stream_id *id)
{
    if (n == 0 || n > 127)
        return -1;
    if (n == 1 && (p[0] == '-' || p[0] == '+')) {
        if (strict)
            return -1;
        id->ms = id->seq = p[0] == '-' ? 0 : UINT64_MAX;
        if (seq_given)
            *seq_given = 1;
        return 0;
    }
    const char *dash = memchr(p, '-', n);
    size_t mlen = dash ? (size_t)(dash - p) : n;
    uint64_t ms, seq = missing_seq;
    if (parse_u64(p, mlen, &ms) < 0)
        return -1;
    int given = 1;
    if (dash) {
        const char *s = dash + 1;
        size_t slen = n - mlen - 1;
        if (seq_given && slen == 1 && s[0] == '*') {
            seq = 0;
            given = 0;
        } else if (parse_u64(s, slen, &seq) < 0) {
            return -1;
        }
    }
    if (seq_given)
        *seq_given = given;
    id->ms = ms;
    id->seq = seq;
    return 0;
}

/* ---- decoding ---- */

struct rd {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    size_t k = r->bad ? 0 : coll_varint_get(r->p, (size_t)(r->end - r->p), &v);
    if (k == 0) {
        r->bad = 1;
        return 0;
    }
    r->p += k;
    return v;
}

/* A varint length, then that many bytes (borrowed). */
static const uint8_t *rd_bytes(struct rd *r, size_t *len)
{
    uint64_t l = rd_varint(r);
    if (r->bad || l > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        *len = 0;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += l;
    *len = (size_t)l;
    return q;
}

static void rd_id(struct rd *r, struct stream_id *id)
{
    id->ms = rd_varint(r);
    id->seq = rd_varint(r);
}

/* A count of items of at least `least` bytes each that the rest of the buffer can hold. */
static int count_fits(const struct rd *r, uint64_t n, size_t least)
{
    return !r->bad && n <= (uint64_t)(r->end - r->p) / least;
}

static int decode_group(struct rd *r, struct stream_group *g)
{
    g->name = rd_bytes(r, &g->name_len);
    rd_id(r, &g->last_id);
    g->entries_read = (int64_t)(rd_varint(r) - 1); /* stored + 1 modulo 2^64: -1 is 0 */
    uint64_t nc = rd_varint(r);
    if (!count_fits(r, nc, 2))
        return -1;
    if (nc && (g->cons = calloc(nc, sizeof(*g->cons))) == NULL)
        return -2;
    g->ncons = g->cons_cap = nc;
    for (size_t i = 0; i < nc; i++) {
        g->cons[i].name = rd_bytes(r, &g->cons[i].name_len);
        g->cons[i].seen_ms = rd_varint(r);
    }
    uint64_t np = rd_varint(r);
    if (!count_fits(r, np, 5))
        return -1;
    if (np && (g->pel = malloc(np * sizeof(*g->pel))) == NULL)
        return -2;
    g->npel = g->pel_cap = np;
    for (size_t i = 0; i < np && !r->bad; i++) {
        struct stream_pending *x = &g->pel[i];
        rd_id(r, &x->id);
        x->consumer = rd_varint(r);
        x->delivery_ms = rd_varint(r);
        x->deliveries = rd_varint(r);
        if (x->consumer >= nc || (i && stream_id_cmp(&g->pel[i - 1].id, &x->id) >= 0))
            return -1;
        g->cons[x->consumer].pending++;
    }
    return r->bad ? -1 : 0;
}

int stream_decode(const uint8_t *v, size_t len, struct stream *s)
{
    memset(s, 0, sizeof(*s));
    if (len < 1 || v[0] != STREAM_VERSION)
        return -1;
    struct rd r = {v + 1, v + len, 0};
    uint64_t n = rd_varint(&r);
    rd_id(&r, &s->last_id);
    s->entries_added = rd_varint(&r);
    rd_id(&r, &s->max_deleted);
    uint64_t ng = rd_varint(&r);
    if (!count_fits(&r, ng, 6) || !count_fits(&r, n, 3))
        return -1;
    int rc = 0;
    if (ng && (s->g = calloc(ng, sizeof(*s->g))) == NULL)
        return -2;
    s->ng = s->gcap = ng;
    for (size_t i = 0; i < ng && rc == 0; i++)
        rc = decode_group(&r, &s->g[i]);
    if (rc == 0 && n && (s->e = malloc(n * sizeof(*s->e))) == NULL)
        rc = -2;
    s->cap = n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stream_entry *x = &s->e[i];
        rd_id(&r, &x->id);
        x->fields = rd_varint(&r);
        const uint8_t *start = r.p;
        if (!count_fits(&r, x->fields, 2)) {
            rc = -1;
            break;
        }
        for (uint64_t k = 0; k < 2 * x->fields && !r.bad; k++) {
            size_t l;
            rd_bytes(&r, &l);
        }
        x->pairs = start;
        x->pairs_len = (size_t)(r.p - start);
        if (r.bad || x->fields == 0 || (i && stream_id_cmp(&s->e[i - 1].id, &x->id) >= 0) ||
            stream_id_cmp(&x->id, &s->last_id) > 0)
            rc = -1;
        s->n = i + 1;
    }
    if (rc == 0 && (r.bad || r.p != r.end))
        rc = -1;
    if (rc != 0) {
        stream_free(s);
        return rc;
    }
    s->length = s->n;
    if (s->n)
        s->first = s->e[0].id;
    return 0;
}

void stream_free(struct stream *s)
{
    for (size_t i = 0; i < s->ng; i++) {
        free(s->g[i].cons);
        free(s->g[i].pel);
    }
    free(s->g);
    free(s->e);
    memset(s, 0, sizeof(*s));
}

/* ---- encoding ---- */

struct wr {
    uint8_t *p;
    size_t len;
};

static void wr_varint(struct wr *w, uint64_t v)
{
    if (w->p)
        coll_varint_put(w->p + w->len, v);
    w->len += coll_varint_len(v);
}

static void wr_bytes(struct wr *w, const void *b, size_t n)
{
    wr_varint(w, n);
    if (w->p && n)
        memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void wr_id(struct wr *w, const struct stream_id *id)
{
    wr_varint(w, id->ms);
    wr_varint(w, id->seq);
}

/* Writes s (w->p NULL: only counts). */
static void encode(const struct stream *s, struct wr *w)
{
    if (w->p)
        w->p[0] = STREAM_VERSION;
    w->len = 1;
    wr_varint(w, s->n);
    wr_id(w, &s->last_id);
    wr_varint(w, s->entries_added);
    wr_id(w, &s->max_deleted);
    wr_varint(w, s->ng);
    for (size_t i = 0; i < s->ng; i++) {
        const struct stream_group *g = &s->g[i];
        wr_bytes(w, g->name, g->name_len);
        wr_id(w, &g->last_id);
        wr_varint(w, (uint64_t)g->entries_read + 1);
        wr_varint(w, g->ncons);
        for (size_t j = 0; j < g->ncons; j++) {
            wr_bytes(w, g->cons[j].name, g->cons[j].name_len);
            wr_varint(w, g->cons[j].seen_ms);
        }
        wr_varint(w, g->npel);
        for (size_t j = 0; j < g->npel; j++) {
            wr_id(w, &g->pel[j].id);
            wr_varint(w, g->pel[j].consumer);
            wr_varint(w, g->pel[j].delivery_ms);
            wr_varint(w, g->pel[j].deliveries);
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct stream_entry *x = &s->e[i];
        wr_id(w, &x->id);
        wr_varint(w, x->fields);
        if (w->p)
            memcpy(w->p + w->len, x->pairs, x->pairs_len);
        w->len += x->pairs_len;
    }
}

int stream_encode(const struct stream *s, struct coll_buf *out)
{
    struct wr w = {NULL, 0};
    encode(s, &w);
    if (out->cap < w.len) {
        uint8_t *p = malloc(w.len);
        if (p == NULL)
            return -1;
        free(out->p);
        out->p = p;
        out->cap = w.len;
    }
    w = (struct wr){out->p, 0};
    encode(s, &w);
    out->len = w.len;
    return 0;
}

size_t stream_entry_bytes(const struct stream_entry *x)
{
    return coll_varint_len(x->id.ms) + coll_varint_len(x->id.seq) + coll_varint_len(x->fields) +
           x->pairs_len;
}

/* ---- editing ---- */

size_t stream_lower_bound(const struct stream *s, const struct stream_id *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (stream_id_cmp(&s->e[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int stream_append(struct stream *s, const struct stream_entry *x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        struct stream_entry *e = realloc(s->e, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        s->e = e;
        s->cap = cap;
    }
    s->e[s->n++] = *x;
    return 0;
}

void stream_remove(struct stream *s, size_t a, size_t b)
{
    if (b > s->n)
        b = s->n;
    if (a >= b)
        return;
    memmove(&s->e[a], &s->e[b], (s->n - b) * sizeof(*s->e));
    s->n -= b - a;
}

int stream_pair_next(const struct stream_entry *x, const uint8_t **pos, const uint8_t **f,
                     size_t *flen, const uint8_t **v, size_t *vlen)
{
    struct rd r = {*pos, x->pairs + x->pairs_len, 0};
    if (r.p >= r.end)
        return 0;
    *f = rd_bytes(&r, flen);
    *v = rd_bytes(&r, vlen);
    if (r.bad)
        return 0;
    *pos = r.p;
    return 1;
}

struct stream_group *stream_group_find(struct stream *s, const void *name, size_t len)
{
    for (size_t i = 0; i < s->ng; i++)
        if (s->g[i].name_len == len && memcmp(s->g[i].name, name, len) == 0)
            return &s->g[i];
    return NULL;
}

ssize_t stream_consumer_find(const struct stream_group *g, const void *name, size_t len)
{
    for (size_t i = 0; i < g->ncons; i++)
        if (g->cons[i].name_len == len && memcmp(g->cons[i].name, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* ---- consumer groups ---- */

static int name_cmp(const uint8_t *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : al < bl ? -1 : al > bl;
}

ssize_t stream_group_add(struct stream *s, const void *name, size_t len,
                         const struct stream_id *last_id, int64_t entries_read)
{
    size_t at = 0;
    while (at < s->ng && name_cmp(s->g[at].name, s->g[at].name_len, name, len) < 0)
        at++;
    if (at < s->ng && name_cmp(s->g[at].name, s->g[at].name_len, name, len) == 0)
        return -1;
    if (s->ng == s->gcap) {
        size_t cap = s->gcap ? 2 * s->gcap : 4;
        struct stream_group *g = realloc(s->g, cap * sizeof(*g));
        if (g == NULL)
            return -2;
        s->g = g;
        s->gcap = cap;
    }
    memmove(&s->g[at + 1], &s->g[at], (s->ng - at) * sizeof(*s->g));
    s->g[at] = (struct stream_group){
        .name = name, .name_len = len, .last_id = *last_id, .entries_read = entries_read};
    s->ng++;
    return (ssize_t)at;
}

void stream_group_del(struct stream *s, size_t gi)
{
    free(s->g[gi].cons);
    free(s->g[gi].pel);
    memmove(&s->g[gi], &s->g[gi + 1], (s->ng - gi - 1) * sizeof(*s->g));
    s->ng--;
}

ssize_t stream_consumer_add(struct stream_group *g, const void *name, size_t len, uint64_t now_ms,
                            int *created)
{
    size_t at = 0;
    *created = 0;
    while (at < g->ncons && name_cmp(g->cons[at].name, g->cons[at].name_len, name, len) < 0)
        at++;
    if (at < g->ncons && name_cmp(g->cons[at].name, g->cons[at].name_len, name, len) == 0)
        return (ssize_t)at;
    if (g->ncons == g->cons_cap) {
        size_t cap = g->cons_cap ? 2 * g->cons_cap : 4;
        struct stream_consumer *c = realloc(g->cons, cap * sizeof(*c));
        if (c == NULL)
            return -2;
        g->cons = c;
        g->cons_cap = cap;
    }
    memmove(&g->cons[at + 1], &g->cons[at], (g->ncons - at) * sizeof(*g->cons));
    g->cons[at] = (struct stream_consumer){name, len, now_ms, 0};
    g->ncons++;
    for (size_t i = 0; i < g->npel; i++)
        if (g->pel[i].consumer >= at)
            g->pel[i].consumer++;
    *created = 1;
    return (ssize_t)at;
}

void stream_consumer_del(struct stream_group *g, size_t ci)
{
    size_t k = 0;
    for (size_t i = 0; i < g->npel; i++) {
        if (g->pel[i].consumer == ci)
            continue;
        g->pel[k] = g->pel[i];
        if (g->pel[k].consumer > ci)
            g->pel[k].consumer--;
        k++;
    }
    g->npel = k;
    memmove(&g->cons[ci], &g->cons[ci + 1], (g->ncons - ci - 1) * sizeof(*g->cons));
    g->ncons--;
}

size_t stream_pel_lower_bound(const struct stream_group *g, const struct stream_id *id)
{
    size_t lo = 0, hi = g->npel;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (stream_id_cmp(&g->pel[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

ssize_t stream_pel_find(const struct stream_group *g, const struct stream_id *id)
{
    size_t i = stream_pel_lower_bound(g, id);
    return i < g->npel && stream_id_cmp(&g->pel[i].id, id) == 0 ? (ssize_t)i : -1;
}

int stream_pel_add(struct stream_group *g, const struct stream_id *id, size_t consumer,
                   uint64_t delivery_ms, uint64_t deliveries)
{
    if (g->npel == g->pel_cap) {
        size_t cap = g->pel_cap ? 2 * g->pel_cap : 8;
        struct stream_pending *p = realloc(g->pel, cap * sizeof(*p));
        if (p == NULL)
            return -2;
        g->pel = p;
        g->pel_cap = cap;
    }
    size_t at = stream_pel_lower_bound(g, id);
    memmove(&g->pel[at + 1], &g->pel[at], (g->npel - at) * sizeof(*g->pel));
    g->pel[at] = (struct stream_pending){*id, consumer, delivery_ms, deliveries};
    g->npel++;
    g->cons[consumer].pending++;
    return 0;
}

void stream_pel_del(struct stream_group *g, size_t pi)
{
    g->cons[g->pel[pi].consumer].pending--;
    memmove(&g->pel[pi], &g->pel[pi + 1], (g->npel - pi - 1) * sizeof(*g->pel));
    g->npel--;
}

void stream_pel_assign(struct stream_group *g, size_t pi, size_t ci)
{
    g->cons[g->pel[pi].consumer].pending--;
    g->pel[pi].consumer = ci;
    g->cons[ci].pending++;
}

int stream_has(const struct stream *s, const struct stream_id *id)
{
    size_t i = stream_lower_bound(s, id);
    return i < s->n && stream_id_cmp(&s->e[i].id, id) == 0;
}

/* ---- the paged form's pieces (FORMAT.md, "Streams": paged) ---- */

size_t stream_entry_span(const uint8_t *p, size_t len, struct stream_id *id)
{
    struct rd r = {p, p + len, 0};
    rd_id(&r, id);
    uint64_t k = rd_varint(&r);
    if (r.bad || k == 0 || !count_fits(&r, k, 2))
        return 0;
    for (uint64_t i = 0; i < 2 * k && !r.bad; i++) {
        size_t l;
        rd_bytes(&r, &l);
    }
    return r.bad ? 0 : (size_t)(r.p - p);
}

int stream_spans(const uint8_t *v, size_t len, size_t *meta_off, size_t **off, size_t *count)
{
    struct stream s;
    *off = NULL;
    *count = 0;
    int rc = stream_decode(v, len, &s); /* checks everything, entries' order too */
    if (rc != 0)
        return rc;
    uint64_t n;
    *meta_off = 1 + coll_varint_get(v + 1, len - 1, &n);
    size_t *o = malloc((s.n + 1) * sizeof(*o));
    if (o == NULL) {
        stream_free(&s);
        return -2;
    }
    /* entry i starts stream_entry_bytes - pairs_len bytes before its pairs */
    for (size_t i = 0; i < s.n; i++)
        o[i] = (size_t)(s.e[i].pairs - v) - (stream_entry_bytes(&s.e[i]) - s.e[i].pairs_len);
    o[s.n] = len;
    *count = s.n;
    *off = o;
    stream_free(&s);
    return 0;
}

size_t stream_meta_head(const uint8_t *m, size_t len, struct stream_meta *out)
{
    struct rd r = {m, m + len, 0};
    rd_id(&r, &out->last_id);
    out->entries_added = rd_varint(&r);
    rd_id(&r, &out->max_deleted);
    return r.bad ? 0 : (size_t)(r.p - m);
}

size_t stream_meta_head_put(uint8_t *out, const struct stream_meta *m)
{
    struct wr w = {out, 0};
    wr_id(&w, &m->last_id);
    wr_varint(&w, m->entries_added);
    wr_id(&w, &m->max_deleted);
    return w.len;
}

size_t stream_entry_put(uint8_t *out, const struct stream_id *id, uint64_t fields,
                        const uint8_t *pairs, size_t pairs_len)
{
    struct wr w = {out, 0};
    wr_id(&w, id);
    wr_varint(&w, fields);
    if (out)
        memcpy(out + w.len, pairs, pairs_len);
    return w.len + pairs_len;
}

/* Walks one group of a meta: its name and last delivered ID, the rest skipped. */
static void rd_group_skip(struct rd *r, const uint8_t **name, size_t *nlen, struct stream_id *last)
{
    size_t l;
    *name = rd_bytes(r, nlen);
    rd_id(r, last);
    rd_varint(r); /* entries read */
    uint64_t nc = rd_varint(r);
    for (uint64_t c = 0; c < nc && !r->bad; c++) {
        rd_bytes(r, &l);
        rd_varint(r);
    }
    uint64_t np = rd_varint(r);
    for (uint64_t p = 0; p < np && !r->bad; p++)
        for (int i = 0; i < 5; i++)
            rd_varint(r);
}

size_t stream_meta_len(const uint8_t *v, size_t len)
{
    if (len < 1 || v[0] != STREAM_VERSION)
        return 0;
    struct rd r = {v + 1, v + len, 0};
    rd_varint(&r); /* n */
    const uint8_t *meta = r.p;
    for (int i = 0; i < 5; i++) /* last ID, entries added, max deleted ID */
        rd_varint(&r);
    uint64_t ng = rd_varint(&r);
    for (uint64_t g = 0; g < ng && !r.bad; g++) {
        const uint8_t *name;
        size_t nlen;
        struct stream_id last;
        rd_group_skip(&r, &name, &nlen, &last);
    }
    return r.bad ? 0 : (size_t)(r.p - meta);
}

int stream_meta_group_last(const uint8_t *m, size_t len, const void *name, size_t nlen,
                           struct stream_id *last)
{
    struct stream_meta head;
    size_t h = stream_meta_head(m, len, &head);
    if (h == 0)
        return 0;
    struct rd r = {m + h, m + len, 0};
    uint64_t ng = rd_varint(&r);
    for (uint64_t g = 0; g < ng && !r.bad; g++) {
        const uint8_t *gname;
        size_t glen;
        rd_group_skip(&r, &gname, &glen, last);
        if (!r.bad && glen == nlen && (nlen == 0 || memcmp(gname, name, nlen) == 0))
            return 1;
    }
    return 0;
}
