/*
 * test_plist.c - the large form's root, page keys, anchors and page split (proto/plist.c):
 * round trips, damaged roots and anchors refused (never read past the buffer), and pages
 * that respect their bounds.
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
#include "plist.h"

static void test_root(void **st)
{
    (void)st;
    struct plist_root r = {.flags = COLL_F_BIG,
                           .version = 0x0102030405060708u,
                           .count = 1000,
                           .head = PLIST_MID - 3,
                           .tail = PLIST_MID + 5,
                           .lo = PLIST_MID - 64,
                           .hi = PLIST_MID + 64},
                      d;
    uint8_t b[PLIST_ROOT_LEN];
    plist_root_encode(&r, b);
    assert_true(plist_is_root(b, sizeof(b)));
    assert_int_equal(plist_root_decode(b, sizeof(b), &d), 0);
    assert_true(d.version == r.version && d.count == r.count && d.head == r.head &&
                d.tail == r.tail && d.lo == r.lo && d.hi == r.hi && d.flags == COLL_F_BIG);
    /* a wrong length, a small form, an impossible shape */
    assert_int_equal(plist_root_decode(b, sizeof(b) - 1, &d), -1);
    uint8_t small[2] = {COLL_VERSION, 0};
    assert_false(plist_is_root(small, 2));
    struct plist_root bad[] = {
        {.version = 0, .count = 1, .head = 1, .tail = 1, .lo = 1, .hi = 1},    /* no version */
        {.version = 9, .count = 0, .head = 1, .tail = 1, .lo = 1, .hi = 1},    /* empty */
        {.version = 9, .count = 5, .head = 3, .tail = 2, .lo = 1, .hi = 9},    /* head past tail */
        {.version = 9, .count = 2, .head = 10, .tail = 12, .lo = 1, .hi = 20}, /* 3 pages, 2 */
        {.version = 9, .count = 5, .head = 3, .tail = 4, .lo = 4, .hi = 9},    /* head below lo */
        {.version = 9, .count = 5, .head = 3, .tail = 4, .lo = 1, .hi = 3},    /* tail above hi */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        plist_root_encode(&bad[i], b);
        assert_int_equal(plist_root_decode(b, sizeof(b), &d), -1);
    }
}

/* A stream's root (PLIST_F_STREAM): a list root followed by the stream's meta, of any
 * length; shorter than a list root, or with the hashed or tree flag, refused. */
static void test_stream_root(void **st)
{
    (void)st;
    struct plist_root r = {.flags = PLIST_F_STREAM,
                           .version = 77,
                           .count = 300,
                           .head = PLIST_MID + 2,
                           .tail = PLIST_MID + 4,
                           .lo = PLIST_MID,
                           .hi = PLIST_MID + 63},
                      d;
    uint8_t b[PLIST_ROOT_LEN + 40];
    size_t n = plist_root_encode(&r, b);
    assert_int_equal(n, PLIST_ROOT_LEN);
    memset(b + n, 0x5a, 40); /* its meta */
    assert_true(plist_is_root(b, sizeof(b)));
    assert_int_equal(plist_root_decode(b, sizeof(b), &d), 0);
    assert_int_equal(plist_root_decode(b, PLIST_ROOT_LEN, &d), 0); /* empty meta: still a root */
    assert_true(d.flags == PLIST_F_STREAM && d.version == 77 && d.count == 300 &&
                d.head == r.head && d.tail == r.tail && d.hi == r.hi);
    assert_int_equal(plist_root_decode(b, PLIST_ROOT_LEN - 1, &d), -1);
    b[0] |= PLIST_F_HASHED;
    assert_int_equal(plist_root_decode(b, sizeof(b), &d), -1);
    /* a list root with bytes after it is still refused */
    r.flags = 0;
    plist_root_encode(&r, b);
    assert_int_equal(plist_root_decode(b, sizeof(b), &d), -1);
}

/* A sorted set's root (PLIST_F_TREE): its tree's top, next page and depth round trip; a
 * tree root without buckets, a top outside its range or a wrong length is refused. */
static void test_tree_root(void **st)
{
    (void)st;
    struct plist_root r = {.flags = COLL_F_BIG | PLIST_F_HASHED | PLIST_F_TREE,
                           .version = 77,
                           .count = 5000,
                           .head = PLIST_MID,
                           .tail = PLIST_MID + 155,
                           .lo = PLIST_MID - 200,
                           .hi = PLIST_MID + 155,
                           .top = PLIST_MID - 60,
                           .next = PLIST_MID - 70,
                           .depth = 2},
                      d;
    uint8_t b[PLIST_ROOT_MAX];
    assert_int_equal(plist_root_encode(&r, b), PLIST_ROOT_MAX);
    assert_int_equal(plist_root_len(&r), PLIST_ROOT_MAX);
    assert_int_equal(plist_root_decode(b, sizeof(b), &d), 0);
    assert_true(d.top == r.top && d.next == r.next && d.depth == r.depth && d.flags == r.flags);
    assert_int_equal(plist_root_decode(b, PLIST_ROOT_LEN, &d), -1); /* its fields cut off */
    struct plist_root bad[4];
    for (int i = 0; i < 4; i++)
        bad[i] = r;
    bad[0].flags &= (uint8_t)~PLIST_F_HASHED; /* a tree without buckets */
    bad[1].top = PLIST_MID;                   /* the top among the buckets */
    bad[2].next = PLIST_MID - 10;             /* pages handed out at or above the top */
    bad[3].depth = 0;
    for (size_t i = 0; i < 4; i++) {
        plist_root_encode(&bad[i], b);
        assert_int_equal(plist_root_decode(b, sizeof(b), &d), -1);
    }
}

static void test_keys(void **st)
{
    (void)st;
    uint8_t k[PLIST_PAGE_KEY_LEN], a[PLIST_ANCHOR_KEY_LEN], k2[PLIST_PAGE_KEY_LEN];
    plist_page_key(7, PLIST_MID, k);
    plist_page_key(7, PLIST_MID + 1, k2);
    assert_true(memcmp(k, k2, sizeof(k)) < 0); /* big-endian: numeric order */
    assert_int_equal(k[7], 7);
    plist_anchor_key(0xabcdef, a);
    uint64_t v = 0;
    assert_int_equal(plist_anchor_key_decode(a, sizeof(a), &v), 0);
    assert_true(v == 0xabcdef);
    assert_int_equal(plist_anchor_key_decode(a, 7, &v), -1);
}

static void test_anchor(void **st)
{
    (void)st;
    struct plist_anchor a = {(const uint8_t *)"mylist", 6, PLIST_MID - 2, PLIST_MID + 9}, d;
    uint8_t b[64];
    size_t n = plist_anchor_encode(&a, b);
    assert_int_equal(n, plist_anchor_len(&a));
    assert_int_equal(plist_anchor_decode(b, n, &d), 0);
    assert_int_equal(d.key_len, 6);
    assert_memory_equal(d.key, "mylist", 6);
    assert_true(d.lo == a.lo && d.hi == a.hi);
    for (size_t cut = 0; cut < n; cut++) /* every truncation refused */
        assert_int_equal(plist_anchor_decode(b, cut, &d), -1);
    assert_int_equal(plist_anchor_decode(b, n + 1, &d), -1); /* trailing byte */
    b[0] = 0x7f;                                             /* a key longer than the buffer */
    assert_int_equal(plist_anchor_decode(b, n, &d), -1);
    struct plist_anchor inv = {(const uint8_t *)"k", 1, 5, 4};
    n = plist_anchor_encode(&inv, b);
    assert_int_equal(plist_anchor_decode(b, n, &d), -1); /* lo past hi */
}

/* Every page within its bounds (or a single element), greedy (the next element would not
 * have fit), and the counts add up. */
static void check_split(const size_t *len, size_t n)
{
    size_t *per = malloc((n ? n : 1) * sizeof(*per));
    assert_non_null(per);
    size_t pages = plist_split(len, n, PLIST_PAGE_BYTES, per), at = 0;
    for (size_t p = 0; p < pages; p++) {
        assert_true(per[p] >= 1);
        size_t bytes = plist_page_bytes(len + at, per[p]);
        assert_true(per[p] == 1 || (per[p] <= PLIST_PAGE_ELEMS && bytes <= PLIST_PAGE_BYTES));
        if (p + 1 < pages) { /* greedy: one more would have broken a bound */
            size_t more = plist_page_bytes(len + at, per[p] + 1);
            assert_true(per[p] == PLIST_PAGE_ELEMS || more > PLIST_PAGE_BYTES);
        }
        at += per[p];
    }
    assert_int_equal(at, n);
    free(per);
}

static void test_split(void **st)
{
    (void)st;
    size_t len[4000] = {0};
    assert_int_equal(plist_split(len, 0, PLIST_PAGE_BYTES, len), 0);
    for (size_t i = 0; i < 4000; i++)
        len[i] = 3;
    check_split(len, 4000); /* by count: 128 per page */
    size_t per[4000];
    assert_int_equal(plist_split(len, 4000, PLIST_PAGE_BYTES, per), (4000 + 127) / 128);
    for (size_t i = 0; i < 4000; i++)
        len[i] = 1000;
    check_split(len, 4000); /* by bytes: 8 per page */
    unsigned seed = 12345;
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + (size_t)(rand_r(&seed) % 4000);
        for (size_t i = 0; i < n; i++) {
            unsigned r = (unsigned)rand_r(&seed);
            len[i] = r % 10 == 0 ? r % 20000 : r % 200; /* some larger than a page */
        }
        check_split(len, n);
    }
    /* a smaller bound (max_value_size below 8 KiB): pages of whole encodings up to it */
    for (size_t i = 0; i < 100; i++)
        len[i] = 100; /* raw: each element's whole encoding */
    size_t pages = plist_split_raw(len, 100, 1024, per);
    assert_int_equal(pages, (100 + 9) / 10); /* 1 + 1 + 10 * 100 <= 1024 */
    for (size_t p = 0; p < pages; p++)
        assert_int_equal(per[p], p + 1 < pages ? 10 : 100 - 10 * (pages - 1));
    len[0] = 5000; /* one element past the bound: a page of its own */
    assert_int_equal(plist_split_raw(len, 2, 1024, per), 2);
    assert_int_equal(per[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root),  cmocka_unit_test(test_tree_root),
        cmocka_unit_test(test_keys),  cmocka_unit_test(test_anchor),
        cmocka_unit_test(test_split), cmocka_unit_test(test_stream_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
