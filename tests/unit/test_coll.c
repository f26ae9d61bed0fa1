/*
 * test_coll.c - the small form's encoding of collections (proto/coll.c): varints, hash
 * updates keeping Redis's listpack order (update in place, new fields at the end),
 * deletes, the listpack/hashtable report, and damaged encodings refused by
 * coll_hash_open (never read past the buffer), and the element spans the large form
 * splits into pages (coll_spans) for every type.
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

static void test_varint(void **st)
{
    (void)st;
    static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
    uint8_t b[16];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t n = coll_varint_put(b, vals[i]);
        assert_int_equal(n, coll_varint_len(vals[i]));
        uint64_t v = 0;
        assert_int_equal(coll_varint_get(b, n, &v), n);
        assert_true(v == vals[i]);
        /* truncated */
        assert_int_equal(coll_varint_get(b, n - 1, &v), 0);
    }
    /* 11 continuation bytes: too long */
    memset(b, 0x80, sizeof(b));
    uint64_t v;
    assert_int_equal(coll_varint_get(b, sizeof(b), &v), 0);
    /* 10th byte above 1 overflows 64 bits */
    memset(b, 0xff, 9);
    b[9] = 2;
    assert_int_equal(coll_varint_get(b, 10, &v), 0);
}

#define SET(f, v)                                                                                  \
    {                                                                                              \
        f, sizeof(f) - 1, v, sizeof(v) - 1                                                         \
    }
#define DEL(f)                                                                                     \
    {                                                                                              \
        f, sizeof(f) - 1, NULL, 0                                                                  \
    }

static void expect_pairs(const struct coll_buf *b, const char *const *want, size_t n)
{
    struct coll_hash h;
    assert_int_equal(coll_hash_open(&h, b->p, b->len), 0);
    assert_int_equal(h.count, n);
    const uint8_t *pos = h.p, *f, *v;
    size_t fl, vl, i = 0;
    while (coll_hash_next(&h, &pos, &f, &fl, &v, &vl)) {
        assert_true(i < n);
        assert_int_equal(fl, strlen(want[2 * i]));
        assert_memory_equal(f, want[2 * i], fl);
        assert_int_equal(vl, strlen(want[2 * i + 1]));
        assert_memory_equal(v, want[2 * i + 1], vl);
        i++;
    }
    assert_int_equal(i, n);
}

static void test_hash_update(void **st)
{
    (void)st;
    struct coll_buf b = {0}, c = {0};
    uint64_t add, rem;
    struct coll_hset o1[] = {SET("a", "1"), SET("b", "2"), SET("a", "3"), SET("c", "")};
    assert_int_equal(coll_hash_update(NULL, o1, 4, NULL, &b, &add, &rem), 0);
    assert_int_equal(add, 3);
    assert_int_equal(rem, 0);
    expect_pairs(&b, (const char *[]){"a", "3", "b", "2", "c", ""}, 3);

    struct coll_hash h;
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    const uint8_t *v;
    size_t vl;
    assert_int_equal(coll_hash_get(&h, "b", 1, &v, &vl), 1);
    assert_memory_equal(v, "2", 1);
    assert_int_equal(coll_hash_get(&h, "bb", 2, &v, &vl), 0);
    assert_string_equal(coll_hash_encoding(&h), "listpack");

    /* delete a middle field, delete an absent one, update b in place, add d */
    struct coll_hset o2[] = {DEL("a"), DEL("zz"), SET("b", "22"), SET("d", "4")};
    assert_int_equal(coll_hash_update(&h, o2, 4, NULL, &c, &add, &rem), 0);
    assert_int_equal(add, 1);
    assert_int_equal(rem, 1);
    expect_pairs(&c, (const char *[]){"b", "22", "c", "", "d", "4"}, 3);

    /* delete then set again: the field moves to the end, as in a listpack */
    assert_int_equal(coll_hash_open(&h, c.p, c.len), 0);
    struct coll_hset o3[] = {DEL("b"), SET("b", "x")};
    assert_int_equal(coll_hash_update(&h, o3, 2, NULL, &b, &add, &rem), 0);
    assert_int_equal(add, 1);
    assert_int_equal(rem, 1);
    expect_pairs(&b, (const char *[]){"c", "", "d", "4", "b", "x"}, 3);

    /* delete everything: an empty encoding (the caller deletes the key) */
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    struct coll_hset o4[] = {DEL("b"), DEL("c"), DEL("d")};
    assert_int_equal(coll_hash_update(&h, o4, 3, NULL, &c, &add, &rem), 0);
    assert_int_equal(rem, 3);
    expect_pairs(&c, NULL, 0);
    coll_buf_free(&b);
    coll_buf_free(&c);
}

/* The model of coll_hash_update for test_hash_update_many: pairs in order, a set updates
 * in place or appends, a delete removes (a listpack's order). */
struct mpair {
    char f[16], v[16];
};

static size_t model_apply(struct mpair *m, size_t n, const char *f, const char *v)
{
    size_t j = 0;
    while (j < n && strcmp(m[j].f, f) != 0)
        j++;
    if (v == NULL) {
        if (j < n) {
            memmove(&m[j], &m[j + 1], (n - j - 1) * sizeof(*m));
            n--;
        }
        return n;
    }
    if (j == n)
        snprintf(m[n++].f, sizeof(m->f), "%s", f);
    snprintf(m[j].v, sizeof(m->v), "%s", v);
    return n;
}

/* Past 32 fields and changes the fields are found through a hash table: the same results
 * as the scan, in the same order (an HSET of 200,000 fields took 46 s scanning). */
static void test_hash_update_many(void **st)
{
    (void)st;
    enum { N = 600 };
    static char fs[2 * N][16], vs[2 * N][16];
    static struct coll_hset ops[2 * N];
    static struct mpair model[2 * N];
    size_t mn = 0, k = 0;
    uint64_t add, rem;
    for (int i = 0; i < N; i++) { /* f0..f299 twice over: the second time updates */
        snprintf(fs[k], 16, "f%d", i % 300);
        snprintf(vs[k], 16, "v%d", i);
        ops[k] = (struct coll_hset){fs[k], strlen(fs[k]), vs[k], strlen(vs[k])};
        mn = model_apply(model, mn, fs[k], vs[k]);
        k++;
    }
    struct coll_buf b = {0}, c = {0};
    assert_int_equal(coll_hash_update(NULL, ops, k, NULL, &b, &add, &rem), 0);
    assert_int_equal(add, 300);
    assert_int_equal(rem, 0);
    /* deletes (some absent, some twice), a deleted field set again, new fields */
    k = 0;
    for (int i = 0; i < 200; i++) {
        int x = (i * 37) % 350;
        snprintf(fs[k], 16, "f%d", x);
        int del = i % 3 != 2;
        snprintf(vs[k], 16, "w%d", i);
        ops[k] =
            (struct coll_hset){fs[k], strlen(fs[k]), del ? NULL : vs[k], del ? 0 : strlen(vs[k])};
        mn = model_apply(model, mn, fs[k], del ? NULL : vs[k]);
        k++;
    }
    struct coll_hash h;
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    assert_int_equal(coll_hash_update(&h, ops, k, NULL, &c, &add, &rem), 0);
    const char **want = malloc(2 * mn * sizeof(*want));
    assert_non_null(want);
    for (size_t i = 0; i < mn; i++) {
        want[2 * i] = model[i].f;
        want[2 * i + 1] = model[i].v;
    }
    expect_pairs(&c, want, mn);
    free(want);
    coll_buf_free(&b);
    coll_buf_free(&c);
}

/* coll_strtab: growth from a small start, deletes, swap-removes (SREM's), absent keys. */
static void test_strtab(void **st)
{
    (void)st;
    enum { N = 10000 };
    static char buf[N][12];
    static struct coll_str e[N];
    size_t n = 0;
    struct coll_strtab t;
    assert_int_equal(coll_strtab_init(&t, 4), 0);
    for (int i = 0; i < N; i++) {
        int len = snprintf(buf[i], sizeof(buf[i]), "k%d", i);
        e[n] = (struct coll_str){(const uint8_t *)buf[i], (size_t)len};
        struct coll_keys k = COLL_STR_KEYS(e);
        assert_int_equal(coll_strtab_put(&t, &k, n), 0);
        n++;
    }
    struct coll_keys k = COLL_STR_KEYS(e);
    for (int i = 0; i < N; i++)
        assert_int_equal(coll_strtab_find(&t, &k, buf[i], strlen(buf[i])), i);
    assert_int_equal(coll_strtab_find(&t, &k, "k10000", 6), -1);
    assert_int_equal(coll_strtab_find(&t, &k, "", 0), -1);
    /* remove every third by swapping the last into its place */
    for (int i = 0; i < N; i += 3) {
        ssize_t j = coll_strtab_find(&t, &k, buf[i], strlen(buf[i]));
        assert_true(j >= 0);
        coll_strtab_del(&t, &k, (size_t)j);
        e[j] = e[--n];
        coll_strtab_move(&t, &k, n, (size_t)j);
    }
    for (int i = 0; i < N; i++) {
        ssize_t j = coll_strtab_find(&t, &k, buf[i], strlen(buf[i]));
        if (i % 3 == 0) {
            assert_int_equal(j, -1);
        } else {
            assert_true(j >= 0 && (size_t)j < n);
            assert_memory_equal(e[j].p, buf[i], e[j].len);
        }
    }
    /* put again after deletes (their slots reused) */
    for (int i = 0; i < N; i += 3) {
        e[n] = (struct coll_str){(const uint8_t *)buf[i], strlen(buf[i])};
        assert_int_equal(coll_strtab_put(&t, &k, n), 0);
        n++;
    }
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++) {
        ssize_t j = coll_strtab_find(&t, &k, buf[i], strlen(buf[i]));
        assert_true(j >= 0);
        assert_memory_equal(e[j].p, buf[i], e[j].len);
    }
    coll_strtab_free(&t);
}

static void test_hash_encoding_report(void **st)
{
    (void)st;
    struct coll_buf b = {0}, c = {0};
    struct coll_hash h;
    char val[COLL_LP_MAX_VALUE + 1];
    memset(val, 'v', sizeof(val));
    /* a value of exactly 64 bytes stays listpack, 65 converts */
    struct coll_hset o1 = {"f", 1, val, COLL_LP_MAX_VALUE};
    assert_int_equal(coll_hash_update(NULL, &o1, 1, NULL, &b, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "listpack");
    struct coll_hset o2 = {"f", 1, val, COLL_LP_MAX_VALUE + 1};
    assert_int_equal(coll_hash_update(&h, &o2, 1, NULL, &c, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, c.p, c.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "hashtable");
    /* Redis never converts back: shrinking the value keeps hashtable */
    assert_int_equal(coll_hash_update(&h, &o1, 1, NULL, &b, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "hashtable");

    /* 512 fields (hash-max-listpack-entries) listpack, the 513th converts */
    char names[COLL_LP_MAX_ENTRIES + 1][8];
    struct coll_hset ops[COLL_LP_MAX_ENTRIES + 1];
    for (int i = 0; i <= COLL_LP_MAX_ENTRIES; i++) {
        int n = snprintf(names[i], sizeof(names[i]), "f%d", i);
        ops[i] = (struct coll_hset){names[i], (size_t)n, "v", 1};
    }
    assert_int_equal(coll_hash_update(NULL, ops, COLL_LP_MAX_ENTRIES, NULL, &b, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "listpack");
    assert_int_equal(coll_hash_update(&h, &ops[COLL_LP_MAX_ENTRIES], 1, NULL, &c, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, c.p, c.len), 0);
    assert_int_equal(h.count, COLL_LP_MAX_ENTRIES + 1);
    assert_string_equal(coll_hash_encoding(&h), "hashtable");
    /* limits given (CONFIG SET hash-max-listpack-*): 3 fields over 2 convert, and a value
     * written over max_value does even when it is deleted again */
    struct coll_limits lim = {2, 4};
    assert_int_equal(coll_hash_update(NULL, ops, 2, &lim, &b, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "listpack");
    assert_int_equal(coll_hash_update(&h, &ops[2], 1, &lim, &c, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, c.p, c.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "hashtable");
    struct coll_hset longv[] = {{"a", 1, "12345", 5}, {"a", 1, NULL, 0}};
    assert_int_equal(coll_hash_update(NULL, longv, 2, &lim, &b, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, b.p, b.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "hashtable");
    coll_buf_free(&b);
    coll_buf_free(&c);
}

static void test_hash_damaged(void **st)
{
    (void)st;
    struct coll_buf b = {0};
    struct coll_hash h;
    struct coll_hset o[] = {SET("field", "value"), SET("g", "h")};
    assert_int_equal(coll_hash_update(NULL, o, 2, NULL, &b, NULL, NULL), 0);
    /* every truncation is refused */
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *cp = malloc(n ? n : 1);
        memcpy(cp, b.p, n);
        assert_int_equal(coll_hash_open(&h, cp, n), COLL_EBAD);
        free(cp);
    }
    /* trailing garbage, a wrong version, unknown flag bits, a count too high or low */
    uint8_t *cp = malloc(b.len + 1);
    memcpy(cp, b.p, b.len);
    cp[b.len] = 0;
    assert_int_equal(coll_hash_open(&h, cp, b.len + 1), COLL_EBAD);
    cp[0] = 2;
    assert_int_equal(coll_hash_open(&h, cp, b.len), COLL_EBAD);
    cp[0] = COLL_VERSION | 0x20;
    assert_int_equal(coll_hash_open(&h, cp, b.len), COLL_EBAD);
    cp[0] = COLL_VERSION;
    cp[1] = 3;
    assert_int_equal(coll_hash_open(&h, cp, b.len), COLL_EBAD);
    cp[1] = 1;
    assert_int_equal(coll_hash_open(&h, cp, b.len), COLL_EBAD);
    cp[1] = 2;
    assert_int_equal(coll_hash_open(&h, cp, b.len), 0);
    /* a field length pointing past the end */
    cp[2] = 0x7f;
    assert_int_equal(coll_hash_open(&h, cp, b.len), COLL_EBAD);
    free(cp);
    coll_buf_free(&b);
}

/* coll_spans: element i of each type is off[i]..off[i+1], the whole buffer covered; every
 * truncation and trailing byte refused. */
static void check_spans(int t, const struct coll_buf *b, size_t want_n, const size_t *want_len)
{
    size_t *off, n;
    assert_int_equal(coll_spans(t, b->p, b->len, &off, &n), 0);
    assert_int_equal(n, want_n);
    assert_int_equal(off[n], b->len);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(off[i + 1] - off[i], want_len[i]);
    free(off);
    for (size_t k = 0; k < b->len; k++) {
        uint8_t *cp = malloc(k ? k : 1);
        memcpy(cp, b->p, k);
        assert_int_equal(coll_spans(t, cp, k, &off, &n), COLL_EBAD);
        free(cp);
    }
    uint8_t *cp = malloc(b->len + 1);
    memcpy(cp, b->p, b->len);
    cp[b->len] = 7;
    assert_int_equal(coll_spans(t, cp, b->len + 1, &off, &n), COLL_EBAD);
    free(cp);
}

static void test_spans(void **st)
{
    (void)st;
    struct coll_buf b = {0};
    struct coll_hset o[] = {SET("field", "value"), SET("g", "")};
    assert_int_equal(coll_hash_update(NULL, o, 2, NULL, &b, NULL, NULL), 0);
    size_t hl[] = {1 + 5 + 1 + 5, 1 + 1 + 1 + 0};
    check_spans(COLL_HASH, &b, 2, hl);
    struct coll_str e[] = {{(const uint8_t *)"abc", 3}, {(const uint8_t *)"", 0}};
    assert_int_equal(coll_elems_encode(e, 2, COLL_F_BIG, &b), 0);
    size_t sl[] = {4, 1};
    check_spans(COLL_SET, &b, 2, sl);
    check_spans(COLL_LIST, &b, 2, sl);
    struct coll_zel z[] = {{1.5, (const uint8_t *)"m", 1}, {2, (const uint8_t *)"member", 6}};
    assert_int_equal(coll_zset_encode(z, 2, 0, &b), 0);
    size_t zl[] = {8 + 1 + 1, 8 + 1 + 6};
    check_spans(COLL_ZSET, &b, 2, zl);
    size_t *off, n;
    assert_int_equal(coll_spans(COLL_STRING, b.p, b.len, &off, &n), COLL_EBAD);
    uint8_t empty[] = {COLL_VERSION, 0};
    assert_int_equal(coll_spans(COLL_SET, empty, 2, &off, &n), COLL_EBAD);
    coll_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_hash_update),
        cmocka_unit_test(test_hash_update_many),
        cmocka_unit_test(test_strtab),
        cmocka_unit_test(test_hash_encoding_report),
        cmocka_unit_test(test_hash_damaged),
        cmocka_unit_test(test_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
