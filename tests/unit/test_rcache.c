/*
 * test_rcache.c - the record cache: hits and misses, the byte bound, range drops, and a
 * randomized run against a reference model (backward-shift deletion must never lose an
 * entry that is still cached, nor return a wrong record).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rcache.h"

static void fill(uint8_t *p, uint32_t n, uint64_t addr)
{
    for (uint32_t i = 0; i < n; i++)
        p[i] = (uint8_t)(addr * 31 + i);
}

static void test_basic(void **state)
{
    (void)state;
    struct rcache *c = rcache_new(1 << 20);
    uint8_t rec[200], out[200];
    struct rcache_stats st;

    assert_non_null(c);
    fill(rec, sizeof(rec), 4096);
    assert_int_equal(rcache_get(c, 4096, 7, 200, out), 0);
    rcache_put(c, 4096, 7, rec, 200);
    assert_int_equal(rcache_get(c, 4096, 7, 200, out), 1);
    assert_memory_equal(out, rec, 200);
    assert_int_equal(rcache_get(c, 4096, 7, 208, out), 0); /* size must match */
    /* the segment was freed and reused: its next use never sees the old bytes, and a
     * record of the new use at the same address replaces them */
    assert_int_equal(rcache_get(c, 4096, 8, 200, out), 0);
    fill(rec, sizeof(rec), 99);
    rcache_put(c, 4096, 8, rec, 200);
    assert_int_equal(rcache_get(c, 4096, 8, 200, out), 1);
    assert_memory_equal(out, rec, 200);
    assert_int_equal(rcache_get(c, 4096, 7, 200, out), 0);
    rcache_get_stats(c, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 200);
    rcache_free(c);
    /* a disabled cache is NULL and every call is harmless */
    assert_null(rcache_new(0));
    rcache_put(NULL, 1, 1, rec, 10);
    assert_int_equal(rcache_get(NULL, 1, 1, 10, out), 0);
}

/* A rewritten record takes its cached predecessor's place: the old version leaves the
 * cache (it used to stay beside the new one until evicted), the new one is there with the
 * old one's CLOCK bit, and a record whose predecessor nobody read stays out. */
static void test_move(void **state)
{
    (void)state;
    struct rcache *c = rcache_new(1 << 20);
    uint8_t rec[200], out[200];
    struct rcache_stats st;

    fill(rec, sizeof(rec), 1);
    rcache_put(c, 8192, 3, rec, 200);
    fill(rec, sizeof(rec), 2);
    assert_int_equal(rcache_move(c, 8192, 3, 16384, 4, rec, 200), 1); /* same size */
    assert_int_equal(rcache_get(c, 8192, 3, 200, out), 0);
    assert_int_equal(rcache_get(c, 16384, 4, 200, out), 1);
    assert_memory_equal(out, rec, 200);
    fill(rec, sizeof(rec), 3);
    assert_int_equal(rcache_move(c, 16384, 4, 24576, 4, rec, 120), 1); /* another size */
    assert_int_equal(rcache_get(c, 16384, 4, 200, out), 0);
    assert_int_equal(rcache_get(c, 24576, 4, 120, out), 1);
    assert_memory_equal(out, rec, 120);
    rcache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 120);
    /* not cached, or an older use of the address: nothing moves in */
    assert_int_equal(rcache_move(c, 32768, 5, 40960, 6, rec, 64), 0);
    assert_int_equal(rcache_move(c, 24576, 3, 40960, 6, rec, 64), 0);
    assert_int_equal(rcache_get(c, 40960, 6, 64, out), 0);
    assert_int_equal(rcache_move(NULL, 1, 1, 2, 2, rec, 10), 0);
    rcache_free(c);
}

static void test_bound(void **state)
{
    (void)state;
    struct rcache *c = rcache_new(64 << 10);
    uint8_t rec[1000];
    struct rcache_stats st;

    for (uint64_t a = 0; a < 1000; a++) {
        fill(rec, sizeof(rec), a);
        rcache_put(c, a * 8, 1, rec, sizeof(rec));
        rcache_get_stats(c, &st);
        assert_true(st.bytes <= 64 << 10);
    }
    assert_true(st.evictions > 900);
    /* a record larger than 1/8 of the cache is not kept */
    uint8_t *big = calloc(1, 9000);
    rcache_put(c, 999999, 1, big, 9000);
    assert_int_equal(rcache_get(c, 999999, 1, 9000, big), 0);
    free(big);
    rcache_free(c);
}

static void test_random_vs_model(void **state)
{
    (void)state;
    enum { N = 4096 };
    static uint8_t present[N];
    static uint64_t use[N]; /* the current use of each address */
    struct rcache *c = rcache_new(256 << 10);
    uint8_t rec[300], out[300];

    srandom(7);
    for (int step = 0; step < 200000; step++) {
        uint64_t a = (uint64_t)(random() % N);
        uint32_t n = 16 + (uint32_t)(a % 280);
        int op = (int)(random() % 10);
        if (op < 5) {
            fill(rec, n, a ^ use[a]);
            rcache_put(c, a * 64, use[a], rec, n);
            present[a] = 1;
        } else if (op < 9) {
            if (rcache_get(c, a * 64, use[a], n, out)) {
                fill(rec, n, a ^ use[a]);
                assert_true(present[a]);
                assert_memory_equal(out, rec, n);
            }
        } else { /* a range of addresses gets a new use: old entries never match */
            for (uint64_t x = a; x < a + (uint64_t)(random() % 32) && x < N; x++) {
                use[x]++;
                present[x] = 0;
                assert_int_equal(rcache_get(c, x * 64, use[x], 16 + (uint32_t)(x % 280), out), 0);
            }
        }
    }
    /* everything the model says is present and the cache still has must be exact; an
     * entry recently put must be found (CLOCK never evicts the newest entry first) */
    fill(rec, 100, 5);
    rcache_put(c, 5 * 64 + 1, 1, rec, 100);
    assert_int_equal(rcache_get(c, 5 * 64 + 1, 1, 100, out), 1);
    rcache_free(c);
}

/* The slot table starts small and doubles as entries arrive: 200,000 records (each
 * doubling rehashes every entry, addresses clustered as in segments) are all found
 * afterwards with their own bytes, nothing evicted while the budget allows, and moves
 * and removals across the doublings keep every entry reachable. */
static void test_growth(void **state)
{
    (void)state;
    enum { N = 200000 };
    struct rcache *c = rcache_new(64u << 20);
    uint8_t rec[48], out[48];
    struct rcache_stats st;

    assert_non_null(c);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t addr = (i / 1000) * (128 << 10) + (i % 1000) * 48;
        fill(rec, sizeof(rec), addr);
        rcache_put(c, addr, 5, rec, sizeof(rec));
        if (i % 3 == 0 && i) { /* move an earlier one to a new address */
            uint64_t o = ((i - 1) / 1000) * (128 << 10) + ((i - 1) % 1000) * 48;
            fill(rec, sizeof(rec), o);
            assert_int_equal(rcache_move(c, o, 5, o + (UINT64_C(1) << 40), 6, rec, sizeof(rec)), 1);
        }
    }
    rcache_get_stats(c, &st);
    assert_int_equal(st.entries, N);
    assert_int_equal(st.evictions, 0);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t addr = (i / 1000) * (128 << 10) + (i % 1000) * 48;
        int moved = (i + 1) % 3 == 0 && i + 1 < N;
        fill(rec, sizeof(rec), addr);
        assert_int_equal(rcache_get(c, addr, 5, sizeof(out), out), !moved);
        assert_int_equal(rcache_get(c, addr + (UINT64_C(1) << 40), 6, sizeof(out), out), moved);
        assert_memory_equal(out, rec, sizeof(rec));
    }
    rcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),  cmocka_unit_test(test_move),
        cmocka_unit_test(test_bound),  cmocka_unit_test(test_random_vs_model),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
