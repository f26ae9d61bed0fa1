/*
 * test_ztree.c - a large sorted set's B+tree (proto/ztree.c) against a model: pages kept
 * in a map as the page table would keep them, every operation opening the tree from its
 * top and reading only the pages its queries ask for, as the server does; inserts and
 * deletes that split and empty nodes, ranks, score bounds and rank ranges checked against
 * a sorted array, and the whole tree read back and checked (order, counts, bounds) often.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "coll.h"
#include "ztree.h"

#define MAXPAGES 65536

struct store {
    uint64_t page[MAXPAGES];
    struct coll_buf v[MAXPAGES];
    size_t n;
    uint64_t top, depth, next;
};

static struct coll_buf *store_get(struct store *s, uint64_t page)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->page[i] == page)
            return &s->v[i];
    return NULL;
}

static void store_apply(struct store *s, struct zt_out *o)
{
    for (size_t i = 0; i < o->nfreed; i++) {
        size_t j = 0;
        while (j < s->n && s->page[j] != o->freed[i])
            j++;
        assert_true(j < s->n); /* a freed page existed */
        coll_buf_free(&s->v[j]);
        s->page[j] = s->page[s->n - 1];
        s->v[j] = s->v[s->n - 1];
        s->n--;
    }
    for (size_t i = 0; i < o->nw; i++) {
        struct coll_buf *b = store_get(s, o->w[i].page);
        if (b == NULL) {
            assert_true(s->n < MAXPAGES);
            s->page[s->n] = o->w[i].page;
            b = &s->v[s->n++];
        } else {
            coll_buf_free(b);
        }
        *b = o->w[i].v;
        o->w[i].v = (struct coll_buf){0};
    }
    s->top = o->top;
    s->depth = o->depth;
    s->next = o->next;
    zt_out_free(o);
}

/* Opens the tree and reads every page the queries need. */
static void open_read(struct store *s, struct zt_tree *t, const struct zt_query *q, size_t nq)
{
    struct coll_buf *b = store_get(s, s->top);
    assert_non_null(b);
    assert_int_equal(zt_open(t, s->top, s->depth, s->next, b->p, b->len), 0);
    struct zt_want w[256];
    size_t k;
    while ((k = zt_wants(t, q, nq, w, 256)) > 0)
        for (size_t i = 0; i < k; i++) {
            b = store_get(s, w[i].page);
            assert_non_null(b);
            assert_int_equal(zt_attach(t, &w[i], b->p, b->len), 0);
        }
}

/* The model: members "m<id>" with scores, sorted. */
struct el {
    double score;
    char m[220];
    size_t len;
};

static int el_cmp(const void *a, const void *b)
{
    const struct el *x = a, *y = b;
    struct coll_zel p = {x->score, (const uint8_t *)x->m, x->len},
                    q = {y->score, (const uint8_t *)y->m, y->len};
    return coll_zel_cmp(&p, &q);
}

static struct coll_zel zel(const struct el *e)
{
    return (struct coll_zel){e->score, (const uint8_t *)e->m, e->len};
}

static void make(struct el *e, unsigned id, int longm)
{
    e->score = (double)(rand() % 5000) / 4;
    int pad = longm ? rand() % 200 : 0;
    e->len = (size_t)snprintf(e->m, sizeof(e->m), "m%u", id);
    memset(e->m + e->len, 'x', (size_t)pad);
    e->len += (size_t)pad;
}

static int below_score(const struct coll_zel *x, const void *arg)
{
    return x->score < *(const double *)arg;
}

static void check_all(struct store *s, const struct el *m, size_t n)
{
    struct zt_tree t;
    struct zt_query q = {.kind = ZT_Q_RANGE, .a = 0, .b = n};
    open_read(s, &t, &q, 1);
    struct coll_zel *out = calloc(n + 1, sizeof(*out));
    assert_int_equal(zt_range(&t, 0, n, out), 0);
    for (size_t i = 0; i < n; i++) {
        struct coll_zel x = zel(&m[i]);
        assert_int_equal(coll_zel_cmp(&out[i], &x), 0);
    }
    free(out);
    zt_free(&t);
}

/* Sorts m[0..n) and stores the tree built from it, as a conversion builds one. */
static void build(struct store *s, struct el *m, size_t n)
{
    qsort(m, n, sizeof(*m), el_cmp);
    struct coll_zel *e = malloc(n * sizeof(*e));
    for (size_t i = 0; i < n; i++)
        e[i] = zel(&m[i]);
    struct zt_tree t;
    struct zt_out o;
    assert_int_equal(zt_new(&t, e, n, UINT64_C(1) << 40), 0);
    assert_int_equal(zt_commit(&t, &o), 0);
    zt_free(&t);
    free(e);
    store_apply(s, &o);
}

static void run(unsigned seed, size_t n0, size_t ops, int longm)
{
    srand(seed);
    static struct store s;
    memset(&s, 0, sizeof(s));
    size_t cap = n0 + ops + 1, n = 0;
    struct el *m = calloc(cap, sizeof(*m));
    unsigned id = 0;
    for (; n < n0; n++)
        make(&m[n], id++, longm);
    build(&s, m, n);
    struct zt_tree t;
    struct zt_out o;
    check_all(&s, m, n);
    for (size_t op = 0; op < ops; op++) {
        int what = rand() % 10;
        if (what < 4 || n < 2) { /* insert a new member */
            struct el x;
            make(&x, id++, longm);
            struct zt_query q = {.kind = ZT_Q_KEY, .key = zel(&x)};
            open_read(&s, &t, &q, 1);
            assert_int_equal(zt_insert(&t, &q.key), 0);
            assert_int_equal(zt_commit(&t, &o), 0);
            zt_free(&t);
            store_apply(&s, &o);
            size_t p = 0;
            while (p < n && el_cmp(&m[p], &x) < 0)
                p++;
            memmove(&m[p + 1], &m[p], (n - p) * sizeof(*m));
            m[p] = x;
            n++;
        } else if (what < 7) { /* delete one, or move one (delete + insert: a new score) */
            size_t p = (size_t)rand() % n;
            struct el x = m[p];
            struct zt_query q[2] = {{.kind = ZT_Q_KEY, .key = zel(&x)}};
            struct el y = x;
            int move = what == 6;
            y.score = (double)(rand() % 5000) / 4;
            q[1] = (struct zt_query){.kind = ZT_Q_KEY, .key = zel(&y)};
            open_read(&s, &t, q, move ? 2 : 1);
            assert_int_equal(zt_delete(&t, &q[0].key), 0);
            if (move && y.score != x.score)
                assert_int_equal(zt_insert(&t, &q[1].key), 0);
            else
                y = x;
            assert_int_equal(zt_commit(&t, &o), 0);
            zt_free(&t);
            store_apply(&s, &o);
            memmove(&m[p], &m[p + 1], (n - p - 1) * sizeof(*m));
            n--;
            if (move && y.score != x.score) {
                size_t r = 0;
                while (r < n && el_cmp(&m[r], &y) < 0)
                    r++;
                memmove(&m[r + 1], &m[r], (n - r) * sizeof(*m));
                m[r] = y;
                n++;
            }
        } else if (what == 7) { /* rank of a member, and of one absent */
            size_t p = (size_t)rand() % n;
            struct zt_query q = {.kind = ZT_Q_KEY, .key = zel(&m[p])};
            open_read(&s, &t, &q, 1);
            int found;
            assert_int_equal(zt_rank(&t, &q.key, &found), p);
            assert_true(found);
            zt_free(&t);
        } else if (what == 8) { /* elements below a score */
            double b = (double)(rand() % 5200) / 4;
            struct zt_query q = {.kind = ZT_Q_BELOW, .below = below_score, .arg = &b};
            open_read(&s, &t, &q, 1);
            size_t want = 0;
            while (want < n && m[want].score < b)
                want++;
            assert_int_equal(zt_below(&t, below_score, &b), want);
            zt_free(&t);
        } else { /* a rank range */
            uint64_t a = (uint64_t)rand() % n, b = a + (uint64_t)(rand() % 300);
            if (b > n)
                b = n;
            struct zt_query q = {.kind = ZT_Q_RANGE, .a = a, .b = b};
            open_read(&s, &t, &q, 1);
            struct coll_zel out[300];
            assert_int_equal(zt_range(&t, a, b, out), 0);
            for (uint64_t i = a; i < b; i++) {
                struct coll_zel x = zel(&m[i]);
                assert_int_equal(coll_zel_cmp(&out[i - a], &x), 0);
            }
            zt_free(&t);
        }
        if (op % 500 == 499)
            check_all(&s, m, n);
    }
    check_all(&s, m, n);
    /* splits leave nodes about half full or more: no trail of nearly empty pages */
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += 10 + m[i].len;
    assert_true(s.n <= bytes / (ZT_PAGE_BYTES / 3) + n / (ZT_PAGE_ELEMS / 3) + 8);
    for (size_t i = 0; i < s.n; i++)
        coll_buf_free(&s.v[i]);
    free(m);
}

static void test_small(void **st)
{
    (void)st;
    run(1, 1, 3000, 0); /* grows from one leaf */
}

static void test_deep(void **st)
{
    (void)st;
    run(2, 40000, 3000, 0); /* three levels */
}

static void test_long_members(void **st)
{
    (void)st;
    run(3, 3000, 4000, 1); /* splits by bytes */
}

static void test_shrink(void **st)
{
    (void)st;
    srand(4);
    static struct store s;
    memset(&s, 0, sizeof(s));
    size_t n = 20000;
    struct el *m = calloc(n, sizeof(*m));
    for (size_t i = 0; i < n; i++)
        make(&m[i], (unsigned)i, 0);
    build(&s, m, n);
    struct zt_tree t;
    struct zt_out o;
    uint64_t depth = s.depth;
    assert_true(depth >= 3);
    /* deleting from the front down to one element: emptied leaves and nodes go */
    while (n > 1) {
        size_t k = n - 1 < 50 ? n - 1 : 50; /* up to 50 per command */
        struct zt_query q[50];
        for (size_t i = 0; i < k; i++)
            q[i] = (struct zt_query){.kind = ZT_Q_KEY, .key = zel(&m[i])};
        open_read(&s, &t, q, k);
        for (size_t i = 0; i < k; i++)
            assert_int_equal(zt_delete(&t, &q[i].key), 0);
        assert_int_equal(zt_commit(&t, &o), 0);
        zt_free(&t);
        store_apply(&s, &o);
        memmove(m, m + k, (n - k) * sizeof(*m));
        n -= k;
    }
    check_all(&s, m, n);
    assert_int_equal(s.n, 1); /* every other page freed */
    assert_int_equal(s.depth, 1);
    for (size_t i = 0; i < s.n; i++)
        coll_buf_free(&s.v[i]);
    free(m);
}

static void test_damage(void **st)
{
    (void)st;
    struct zt_tree t;
    uint8_t bad[] = {ZT_NODE_VERSION, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* count 0, truncated */
    assert_int_equal(zt_open(&t, 5, 2, 1, bad, sizeof(bad)), COLL_EBAD);
    zt_free(&t);
    uint8_t leaf[] = {COLL_VERSION, 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1,
                      'b',          0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1,
                      'a'}; /* out of order */
    assert_int_equal(zt_open(&t, 5, 1, 1, leaf, sizeof(leaf)), COLL_EBAD);
    zt_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_long_members), cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
