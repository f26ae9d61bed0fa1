/*
 * test_kcache.c - the scans' key cache (engine/scan.c: kc_put, kc_get) on its own, with
 * arenas far smaller than scan_cache_size allows, so that a few hundred thousand puts lap
 * them thousands of times: every size the arena can have (not a multiple of anything,
 * down to one entry of the longest key), its head started just below and above multiples
 * of 2^48 (a slot keeps the low 48 bits of its entry's place), keys of 0 to 1124 bytes
 * (longer than KC_KEY_MAX: not kept). kc_get must never give a key that is not the
 * record's (another record's entry, or one written over by later entries), and a record
 * just put must be found. scan.c is compiled into this test (the engine library's
 * scan.o is not linked: every symbol of scan.c is defined here); its arena comes from
 * malloc here, not huge_calloc's mapping, so that ASan sees a read past its end.
 */
#include "../../engine/scan.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The key of record (addr, seq): drawn from both, up to maxlen bytes (one in 7 longer than
 * KC_KEY_MAX whatever maxlen). Returns its length. */
static uint32_t rec_key(uint64_t addr, uint64_t seq, uint8_t *buf, uint32_t maxlen)
{
    uint64_t x = addr * 31 + seq * 1000003;
    uint32_t len = (uint32_t)(x % 7 == 0 ? KC_KEY_MAX + 1 + x % 100 : x % (maxlen + 1));

    for (uint32_t i = 0; i < len; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(x >> 56);
    }
    return len;
}

/* ops puts and gets at random over naddr records of 3 segment uses each. */
static void run(uint64_t asize, uint64_t head, uint32_t maxlen, long ops, uint64_t naddr)
{
    struct kcache k = {.nsets = 1 + asize / 400, .asize = asize, .head = head};
    uint8_t want[KC_KEY_MAX + 128];
    long hits = 0;

    k.slot = calloc(k.nsets * KC_WAYS, sizeof(*k.slot));
    k.arena = malloc(asize);
    assert_non_null(k.slot);
    assert_non_null(k.arena);
    memset(k.arena, 0xA5, asize); /* never taken for an entry */
    for (long op = 0; op < ops; op++) {
        uint64_t addr = (rnd() % naddr) * 8, seq = 1 + rnd() % 3;
        uint32_t wl = rec_key(addr, seq, want, maxlen), len;
        const uint8_t *key;
        uint8_t vtype;
        int put = rnd() % 2;

        if (put)
            kc_put(&k, addr, seq, want, wl, (uint8_t)(addr % 5));
        int r = kc_get(&k, addr, seq, &key, &len, &vtype);
        if (r > 0) {
            if (len != wl || memcmp(key, want, wl) != 0 || vtype != addr % 5 || key < k.arena ||
                key + len > k.arena + asize)
                fail_msg("arena %llu, head from %llx, op %ld: record %llu/%llu gave a key of "
                         "%u bytes, its own has %u",
                         (unsigned long long)asize, (unsigned long long)head, op,
                         (unsigned long long)addr, (unsigned long long)seq, len, wl);
            hits++;
        } else if (put) { /* just put: kept, or said to be too long */
            if (r != (wl > KC_KEY_MAX ? -1 : 1))
                fail_msg("arena %llu: record %llu/%llu just put (%u bytes): kc_get %d",
                         (unsigned long long)asize, (unsigned long long)addr,
                         (unsigned long long)seq, wl, r);
        }
    }
    assert_true(hits > 0);
    free(k.slot);
    free(k.arena);
}

static void test_kcache_laps(void **state)
{
    const uint64_t heads[] = {0, (UINT64_C(1) << 48) - 5000, (UINT64_C(1) << 48) - 1,
                              (UINT64_C(3) << 48) - 777, (UINT64_C(1) << 62) + 12345};
    const uint64_t sizes[] = {KC_HDR + KC_KEY_MAX, KC_HDR + KC_KEY_MAX + 1, 3001, 7919, 65536};
    const uint32_t maxlen[] = {0, 16, 300, KC_KEY_MAX};

    (void)state;
    for (unsigned h = 0; h < sizeof(heads) / sizeof(heads[0]); h++)
        for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            for (unsigned m = 0; m < sizeof(maxlen) / sizeof(maxlen[0]); m++)
                run(sizes[s], heads[h], maxlen[m], 20000, 50 + sizes[s] / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kcache_laps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
