/*
 * ztree.c - a large sorted set's B+tree pages and their changes (ztree.h).
 */
#include "ztree.h"

#include <stdlib.h>
#include <string.h>

#include "plist.h"

size_t zt_elem_bytes(const struct coll_zel *e)
{
    return 8 + coll_varint_len(e->len) + e->len;
}

static size_t ent_bytes(const struct zt_ent *c)
{
    return 8 + coll_varint_len(c->count) + zt_elem_bytes(&c->key);
}

/* ---- nodes ---- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (q == NULL)
        return -2;
    *p = q;
    *cap = c;
    return 0;
}

static struct zt_node *node_new(struct zt_tree *t, int leaf)
{
    struct zt_node *x = calloc(1, sizeof(*x));
    if (x == NULL || grow((void **)&t->all, &t->capall, t->nall + 1, sizeof(*t->all)) < 0) {
        free(x);
        return NULL;
    }
    x->leaf = leaf;
    t->all[t->nall++] = x;
    return x;
}

/* Room for need elements or entries in x. */
static int node_room(struct zt_node *x, size_t need)
{
    if (x->leaf)
        return grow((void **)&x->e, &x->cap, need, sizeof(*x->e));
    size_t cap = x->cap;
    if (grow((void **)&x->c, &cap, need, sizeof(*x->c)) < 0)
        return -2;
    if (cap != x->cap) {
        struct zt_node **k = realloc(x->kid, cap * sizeof(*k));
        if (k == NULL)
            return -2; /* x->c grew, x->cap did not: the next call grows kid again */
        x->kid = k;
        x->cap = cap;
    }
    return 0;
}

static int get_key(const uint8_t **pos, const uint8_t *end, struct coll_zel *k)
{
    uint64_t l;
    if (end - *pos < 9)
        return COLL_EBAD;
    memcpy(&k->score, *pos, 8);
    *pos += 8;
    size_t h = coll_varint_get(*pos, (size_t)(end - *pos), &l);
    if (h == 0 || l > (uint64_t)(end - *pos) - h || k->score != k->score)
        return COLL_EBAD;
    k->p = *pos + h;
    k->len = (size_t)l;
    *pos += h + l;
    return 0;
}

/* Decodes page v[0..n) into a node of t (raw: a copy of v). */
static int node_parse(struct zt_tree *t, const uint8_t *v, size_t n, int leaf, struct zt_node **out)
{
    struct zt_node *x = node_new(t, leaf);
    if (x == NULL || (x->raw = malloc(n ? n : 1)) == NULL)
        return -2;
    memcpy(x->raw, v, n);
    const uint8_t *pos, *end = x->raw + n;
    uint64_t k;
    size_t h;
    if (n < 2 || x->raw[0] != (leaf ? COLL_VERSION : ZT_NODE_VERSION) ||
        (h = coll_varint_get(x->raw + 1, n - 1, &k)) == 0 || k == 0 || k > (n - 1 - h) / 9)
        return COLL_EBAD;
    if (node_room(x, (size_t)k) < 0)
        return -2;
    pos = x->raw + 1 + h;
    for (size_t i = 0; i < k; i++) {
        if (leaf) {
            if (get_key(&pos, end, &x->e[i]) != 0 ||
                (i > 0 && coll_zel_cmp(&x->e[i - 1], &x->e[i]) >= 0))
                return COLL_EBAD;
            continue;
        }
        struct zt_ent *c = &x->c[i];
        if (end - pos < 9)
            return COLL_EBAD;
        c->page = plist_get64le(pos);
        pos += 8;
        if ((h = coll_varint_get(pos, (size_t)(end - pos), &c->count)) == 0 || c->count == 0)
            return COLL_EBAD;
        pos += h;
        if (get_key(&pos, end, &c->key) != 0)
            return COLL_EBAD;
        x->kid[i] = NULL;
    }
    if (pos != end)
        return COLL_EBAD;
    x->n = (size_t)k;
    *out = x;
    return 0;
}

static uint64_t node_count(const struct zt_node *x)
{
    if (x->leaf)
        return x->n;
    uint64_t c = 0;
    for (size_t i = 0; i < x->n; i++)
        c += x->c[i].count;
    return c;
}

int zt_open(struct zt_tree *t, uint64_t top, uint64_t depth, uint64_t next, const uint8_t *v,
            size_t n)
{
    memset(t, 0, sizeof(*t));
    t->depth = depth;
    t->next = next;
    int rc = node_parse(t, v, n, depth == 1, &t->top);
    if (rc == 0)
        t->top->page = top;
    return rc;
}

int zt_new(struct zt_tree *t, const struct coll_zel *e, size_t n, uint64_t next)
{
    memset(t, 0, sizeof(*t));
    t->depth = 1;
    t->next = next;
    struct zt_node *x = node_new(t, 1);
    if (x == NULL || node_room(x, n) < 0)
        return -2;
    memcpy(x->e, e, n * sizeof(*e));
    x->n = n;
    x->dirty = x->touched = 1;
    t->top = x;
    return 0;
}

void zt_free(struct zt_tree *t)
{
    for (size_t i = 0; i < t->nall; i++) {
        struct zt_node *x = t->all[i];
        free(x->e);
        free(x->c);
        free(x->kid);
        free(x->raw);
        free(x);
    }
    for (size_t i = 0; i < t->nmem; i++)
        free(t->mem[i]);
    free(t->all);
    free(t->mem);
    memset(t, 0, sizeof(*t));
}

/* ---- routing ---- */

/* The entry of interior x a key goes to: the last one whose lower bound is <= key (entry
 * 0 when none is). */
static size_t child_of(const struct zt_node *x, const struct coll_zel *key)
{
    size_t lo = 1, hi = x->n; /* the answer is the last i in [1, n) with c[i].key <= key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (coll_zel_cmp(&x->c[mid].key, key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

static size_t child_below(const struct zt_node *x,
                          int (*below)(const struct coll_zel *, const void *), const void *arg)
{
    size_t lo = 1, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (below(&x->c[mid].key, arg))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

struct wants {
    struct zt_want *out;
    size_t n, max;
};

static void want(struct wants *w, struct zt_node *x, size_t i, uint64_t level, uint64_t depth)
{
    for (size_t j = 0; j < w->n; j++)
        if (w->out[j].parent == x && w->out[j].idx == i)
            return;
    if (w->n < w->max)
        w->out[w->n++] = (struct zt_want){
            .parent = x, .idx = i, .page = x->c[i].page, .leaf = level + 2 == depth};
}

static void walk(const struct zt_tree *t, struct zt_node *x, uint64_t level, uint64_t base,
                 const struct zt_query *q, struct wants *w)
{
    if (x->leaf)
        return;
    if (q->kind == ZT_Q_RANGE) {
        for (size_t i = 0; i < x->n; i++) {
            uint64_t lo = base, hi = base + x->c[i].count;
            base = hi;
            if (hi <= q->a || lo >= q->b)
                continue;
            if (x->kid[i])
                walk(t, x->kid[i], level + 1, lo, q, w);
            else
                want(w, x, i, level, t->depth);
        }
        return;
    }
    size_t i = q->kind == ZT_Q_KEY ? child_of(x, &q->key) : child_below(x, q->below, q->arg);
    if (x->kid[i])
        walk(t, x->kid[i], level + 1, 0, q, w);
    else
        want(w, x, i, level, t->depth);
}

size_t zt_wants(struct zt_tree *t, const struct zt_query *q, size_t nq, struct zt_want *out,
                size_t max)
{
    struct wants w = {out, 0, max};
    for (size_t i = 0; i < nq; i++)
        walk(t, t->top, 0, 0, &q[i], &w);
    return w.n;
}

int zt_attach(struct zt_tree *t, const struct zt_want *w, const uint8_t *v, size_t n)
{
    struct zt_node *x;
    int rc = node_parse(t, v, n, w->leaf, &x);
    if (rc != 0)
        return rc;
    if (node_count(x) != w->parent->c[w->idx].count)
        return COLL_EBAD;
    x->page = w->page;
    w->parent->kid[w->idx] = x;
    return 0;
}

/* ---- answers ---- */

static size_t leaf_pos(const struct zt_node *x, const struct coll_zel *key)
{
    size_t lo = 0, hi = x->n; /* the first element >= key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (coll_zel_cmp(&x->e[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t zt_rank(const struct zt_tree *t, const struct coll_zel *key, int *found)
{
    const struct zt_node *x = t->top;
    uint64_t r = 0;
    *found = 0;
    while (x && !x->leaf) {
        size_t i = child_of(x, key);
        for (size_t j = 0; j < i; j++)
            r += x->c[j].count;
        x = x->kid[i];
    }
    if (x == NULL)
        return r;
    size_t p = leaf_pos(x, key);
    *found = p < x->n && coll_zel_cmp(&x->e[p], key) == 0;
    return r + p;
}

uint64_t zt_below(const struct zt_tree *t, int (*below)(const struct coll_zel *, const void *),
                  const void *arg)
{
    const struct zt_node *x = t->top;
    uint64_t r = 0;
    while (x && !x->leaf) {
        size_t i = child_below(x, below, arg);
        for (size_t j = 0; j < i; j++)
            r += x->c[j].count;
        x = x->kid[i];
    }
    if (x == NULL)
        return r;
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (below(&x->e[mid], arg))
            lo = mid + 1;
        else
            hi = mid;
    }
    return r + lo;
}

static int range(const struct zt_node *x, uint64_t base, uint64_t a, uint64_t b,
                 struct coll_zel *out)
{
    if (x == NULL)
        return COLL_EBAD;
    if (x->leaf) {
        for (size_t i = 0; i < x->n; i++)
            if (base + i >= a && base + i < b)
                out[base + i - a] = x->e[i];
        return 0;
    }
    for (size_t i = 0; i < x->n; i++) {
        uint64_t lo = base, hi = base + x->c[i].count;
        base = hi;
        if (hi > a && lo < b && range(x->kid[i], lo, a, b, out) != 0)
            return COLL_EBAD;
    }
    return 0;
}

int zt_range(const struct zt_tree *t, uint64_t a, uint64_t b, struct coll_zel *out)
{
    return a < b ? range(t->top, 0, a, b, out) : 0;
}

/* ---- changes ---- */

/* The leaf of key along read paths, each node on the way touched and its entry's count
 * moved by d. NULL when a page on the way was not read. */
static struct zt_node *descend(struct zt_tree *t, const struct coll_zel *key, int d)
{
    struct zt_node *x = t->top;
    while (x && !x->leaf) {
        size_t i = child_of(x, key);
        if (x->kid[i] == NULL)
            return NULL;
        x->c[i].count += (uint64_t)(int64_t)d;
        x->dirty = x->touched = 1;
        x = x->kid[i];
    }
    x->dirty = x->touched = 1;
    return x;
}

/* Whether every node on key's path is read (descend would not stop). */
static int path_read(const struct zt_tree *t, const struct coll_zel *key)
{
    const struct zt_node *x = t->top;
    while (!x->leaf) {
        x = x->kid[child_of(x, key)];
        if (x == NULL)
            return 0;
    }
    return 1;
}

int zt_delete(struct zt_tree *t, const struct coll_zel *key)
{
    if (!path_read(t, key))
        return COLL_EBAD;
    const struct zt_node *y = t->top;
    while (!y->leaf)
        y = y->kid[child_of(y, key)];
    size_t p = leaf_pos(y, key);
    if (p == y->n || coll_zel_cmp(&y->e[p], key) != 0)
        return COLL_EBAD;
    struct zt_node *x = descend(t, key, -1);
    memmove(&x->e[p], &x->e[p + 1], (x->n - p - 1) * sizeof(*x->e));
    x->n--;
    return 0;
}

int zt_insert(struct zt_tree *t, const struct coll_zel *key)
{
    if (!path_read(t, key))
        return COLL_EBAD;
    uint8_t *m = malloc(key->len ? key->len : 1);
    if (m == NULL || grow((void **)&t->mem, &t->capmem, t->nmem + 1, sizeof(*t->mem)) < 0) {
        free(m);
        return -2;
    }
    t->mem[t->nmem++] = m;
    if (key->len)
        memcpy(m, key->p, key->len);
    const struct zt_node *y = t->top;
    while (!y->leaf)
        y = y->kid[child_of(y, key)];
    size_t p = leaf_pos(y, key);
    if (p < y->n && coll_zel_cmp(&y->e[p], key) == 0)
        return COLL_EBAD;
    if (node_room((struct zt_node *)y, y->n + 1) < 0)
        return -2;
    struct zt_node *x = descend(t, key, +1);
    memmove(&x->e[p + 1], &x->e[p], (x->n - p) * sizeof(*x->e));
    x->e[p] = (struct coll_zel){key->score, m, key->len};
    x->n++;
    return 0;
}

/* ---- commit: drop, split, number, encode ---- */

struct pieces {
    struct zt_node **p;
    size_t n, cap;
};

static int pieces_add(struct pieces *ps, struct zt_node *x)
{
    if (grow((void **)&ps->p, &ps->cap, ps->n + 1, sizeof(*ps->p)) < 0)
        return -2;
    ps->p[ps->n++] = x;
    return 0;
}

/* x split into nodes within the bounds: x keeps the first run, new nodes the others;
 * all appended to ps. */
static int split(struct zt_tree *t, struct zt_node *x, struct pieces *ps)
{
    size_t *len = malloc((x->n + 1) * sizeof(*len)), *per = malloc((x->n + 1) * sizeof(*per));
    int rc = len && per ? 0 : -2;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < x->n; i++)
        len[i] = x->leaf ? zt_elem_bytes(&x->e[i]) : ent_bytes(&x->c[i]);
    if (rc == 0) { /* pieces about 3/4 full: an insert or two does not split them again */
        size_t bytes = 0, cur = 0, cb = 0;
        for (size_t i = 0; i < x->n; i++)
            bytes += len[i];
        size_t fn = ZT_PAGE_ELEMS * 3 / 4, fb = ZT_PAGE_BYTES * 3 / 4;
        size_t want = (x->n + fn - 1) / fn, wb = (bytes + fb - 1) / fb;
        if (wb > want)
            want = wb;
        if (want < 2)
            want = 2;
        size_t tn = (x->n + want - 1) / want, tb = (bytes + want - 1) / want;
        for (size_t i = 0; i < x->n; i++) {
            if (cur > 0 && (cur >= tn || cb + len[i] > tb)) {
                per[k++] = cur;
                cur = cb = 0;
            }
            cur++;
            cb += len[i];
        }
        per[k++] = cur;
    }
    if (rc == 0) { /* x keeps the first run and comes first */
        rc = pieces_add(ps, x);
        x->dirty = 1;
    }
    size_t at = rc == 0 ? per[0] : 0;
    for (size_t j = 1; rc == 0 && j < k; at += per[j], j++) {
        struct zt_node *y = node_new(t, x->leaf);
        if (y == NULL || node_room(y, per[j]) < 0) {
            rc = -2;
            break;
        }
        if (x->leaf) {
            memcpy(y->e, x->e + at, per[j] * sizeof(*y->e));
        } else {
            memcpy(y->c, x->c + at, per[j] * sizeof(*y->c));
            memcpy(y->kid, x->kid + at, per[j] * sizeof(*y->kid));
        }
        y->n = per[j];
        y->dirty = 1;
        rc = pieces_add(ps, y);
    }
    if (rc == 0)
        x->n = per[0];
    free(len);
    free(per);
    return rc;
}

static int node_fits(const struct zt_node *x)
{
    if (x->n <= 1)
        return 1;
    if (x->n > ZT_PAGE_ELEMS)
        return 0;
    size_t b = 1 + coll_varint_len(x->n);
    for (size_t i = 0; i < x->n; i++)
        b += x->leaf ? zt_elem_bytes(&x->e[i]) : ent_bytes(&x->c[i]);
    return b <= ZT_PAGE_BYTES;
}

static int freed_add(struct zt_out *o, uint64_t page)
{
    size_t cap = o->nfreed; /* grown one by one: a commit frees few pages */
    uint64_t *f = realloc(o->freed, (cap + 1) * sizeof(*f));
    if (f == NULL)
        return -2;
    o->freed = f;
    o->freed[o->nfreed++] = page;
    return 0;
}

static struct coll_zel first_key(const struct zt_node *x)
{
    return x->leaf ? x->e[0] : x->c[0].key;
}

/* Fixes x (touched): its touched children first, each replaced in x by what it became.
 * What x becomes (nothing when emptied, itself, or itself and new nodes) goes to ps. */
static int fix(struct zt_tree *t, struct zt_node *x, struct pieces *ps, struct zt_out *o)
{
    int rc = 0;
    x->touched = 0;
    for (size_t i = x->leaf ? 0 : x->n; rc == 0 && i-- > 0;) {
        struct zt_node *k = x->kid[i];
        if (k == NULL || !k->touched)
            continue;
        struct pieces sub = {0};
        rc = fix(t, k, &sub, o);
        if (rc == 0 && node_room(x, x->n + sub.n) < 0)
            rc = -2;
        if (rc == 0) {
            struct coll_zel lb = x->c[i].key; /* the entry's bound stays for its first piece */
            memmove(&x->c[i + sub.n], &x->c[i + 1], (x->n - i - 1) * sizeof(*x->c));
            memmove(&x->kid[i + sub.n], &x->kid[i + 1], (x->n - i - 1) * sizeof(*x->kid));
            x->n = x->n - 1 + sub.n;
            for (size_t j = 0; j < sub.n; j++) {
                x->c[i + j] = (struct zt_ent){.page = sub.p[j]->page,
                                              .count = node_count(sub.p[j]),
                                              .key = j == 0 ? lb : first_key(sub.p[j])};
                x->kid[i + j] = sub.p[j];
            }
            x->dirty = 1;
        }
        free(sub.p);
    }
    if (rc != 0)
        return rc;
    if (x->n == 0) { /* emptied: its page goes */
        x->dirty = 0;
        return x->page ? freed_add(o, x->page) : 0;
    }
    if (node_fits(x))
        return pieces_add(ps, x);
    return split(t, x, ps);
}

static int number(struct zt_tree *t, struct zt_node *x)
{
    if (x->page == 0) {
        x->page = t->next--;
        x->dirty = 1;
    }
    if (x->leaf)
        return 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->kid[i]) {
            number(t, x->kid[i]);
            x->c[i].page = x->kid[i]->page;
        }
    return 0;
}

static int encode(const struct zt_node *x, struct coll_buf *out)
{
    if (x->leaf) { /* as a skiplist holds them: -0 stays -0 (COLL_F_BIG), no flag kept */
        if (coll_zset_encode(x->e, x->n, COLL_F_BIG, out) < 0)
            return -2;
        out->p[0] = COLL_VERSION;
        return 0;
    }
    size_t len = 1 + coll_varint_len(x->n);
    for (size_t i = 0; i < x->n; i++)
        len += ent_bytes(&x->c[i]);
    uint8_t *p = malloc(len);
    if (p == NULL)
        return -2;
    size_t o = 0;
    p[o++] = ZT_NODE_VERSION;
    o += coll_varint_put(p + o, x->n);
    for (size_t i = 0; i < x->n; i++) {
        const struct zt_ent *c = &x->c[i];
        plist_put64le(p + o, c->page);
        o += 8;
        o += coll_varint_put(p + o, c->count);
        memcpy(p + o, &c->key.score, 8);
        o += 8;
        o += coll_varint_put(p + o, c->key.len);
        if (c->key.len)
            memcpy(p + o, c->key.p, c->key.len);
        o += c->key.len;
    }
    *out = (struct coll_buf){p, len, len};
    return 0;
}

static int emit(const struct zt_node *x, struct zt_out *o)
{
    if (x->dirty) {
        struct zt_page *w = realloc(o->w, (o->nw + 1) * sizeof(*w));
        if (w == NULL)
            return -2;
        o->w = w;
        w[o->nw] = (struct zt_page){.page = x->page};
        if (encode(x, &w[o->nw].v) < 0)
            return -2;
        o->nw++;
    }
    if (!x->leaf)
        for (size_t i = 0; i < x->n; i++)
            if (x->kid[i] && emit(x->kid[i], o) < 0)
                return -2;
    return 0;
}

int zt_commit(struct zt_tree *t, struct zt_out *out)
{
    memset(out, 0, sizeof(*out));
    struct pieces ps = {0};
    int rc = t->top->touched ? fix(t, t->top, &ps, out) : pieces_add(&ps, t->top);
    while (rc == 0 && ps.n > 1) { /* the top split: a level above it */
        struct zt_node *x = node_new(t, 0);
        if (x == NULL || node_room(x, ps.n) < 0) {
            rc = -2;
            break;
        }
        for (size_t j = 0; j < ps.n; j++) {
            x->c[j] = (struct zt_ent){
                .page = ps.p[j]->page, .count = node_count(ps.p[j]), .key = first_key(ps.p[j])};
            x->kid[j] = ps.p[j];
        }
        x->n = ps.n;
        x->dirty = 1;
        t->depth++;
        ps.n = 0;
        rc = node_fits(x) ? pieces_add(&ps, x) : split(t, x, &ps);
    }
    if (rc == 0 && ps.n == 0)
        rc = COLL_EBAD; /* an emptied tree: the caller deletes the key instead */
    if (rc == 0) {
        t->top = ps.p[0];
        /* a top of one read child: the child is the top */
        while (!t->top->leaf && t->top->n == 1 && t->top->kid[0] && rc == 0) {
            if (t->top->page)
                rc = freed_add(out, t->top->page);
            t->top->dirty = 0;
            t->top = t->top->kid[0];
            t->depth--;
        }
    }
    free(ps.p);
    if (rc == 0)
        rc = number(t, t->top);
    if (rc == 0)
        rc = emit(t->top, out);
    if (rc != 0) {
        zt_out_free(out);
        return rc;
    }
    out->top = t->top->page;
    out->depth = t->depth;
    out->next = t->next;
    return 0;
}

void zt_out_free(struct zt_out *out)
{
    for (size_t i = 0; i < out->nw; i++)
        coll_buf_free(&out->w[i].v);
    free(out->w);
    free(out->freed);
    memset(out, 0, sizeof(*out));
}
