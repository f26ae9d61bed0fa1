/*
 * test_rdbstr.c - DUMP/RESTORE payloads for strings (proto/rdbstr.c) against payloads
 * that redis-server 7.0.15 produced (DUMP after SET): DUMP must write the same bytes for
 * every value Redis does not LZF-compress, and RESTORE must read all of them back, the
 * compressed ones included. Then the CRC64 check value, and damaged payloads of each kind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rdbstr.h"

struct vec {
    const char *value; /* NULL: see rep/nrep */
    char rep;
    size_t nrep;
    const char *hex; /* redis-server's DUMP */
    int compressed;  /* Redis compressed it: DUMP differs, RESTORE must read it */
};

static const struct vec vecs[] = {
    {"hello", 0, 0, "000568656c6c6f0a006372df766534200a", 0},
    {"123", 0, 0, "00c07b0a0048e253e1007a67b9", 0},
    {"-5", 0, 0, "00c0fb0a0049c4c6f4d7263f68", 0},
    {"0", 0, 0, "00c0000a009840a778f8500308", 0},
    {"128", 0, 0, "00c180000a00eb7ab3b510cf4b65", 0},
    {"-128", 0, 0, "00c0800a009966326d2f0c5bd9", 0},
    {"-129", 0, 0, "00c17fff0a001760822854808480", 0},
    {"32768", 0, 0, "00c2008000000a0045d82eedd5bda910", 0},
    {"-32768", 0, 0, "00c100800a00b540064753bb1ace", 0},
    {"2147483647", 0, 0, "00c2ffffff7f0a002c74e59ee02eada1", 0},
    {"2147483648", 0, 0, "000a323134373438333634380a00e7b129a34c1d76ee", 0},
    {"-2147483648", 0, 0, "00c2000000800a00c74f873e33558187", 0},
    {"012", 0, 0, "00033031320a008f5463e9547eeb0c", 0},
    {"", 0, 0, "00000a005d9b5c400f7fa2da", 0},
    {"12345678901", 0, 0, "000b31323334353637383930310a00304e52d727176510", 0},
    {NULL, 'a', 30, "00c3091e016161e011000161610a0045737cbb2b647bbb", 1},
    {NULL, 'x', 100, "00c3094064017878e057000178780a005db7f663bb08625f", 1},
};

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        sscanf(h + 2 * i, "%2x", &b);
        out[i] = (uint8_t)b;
    }
    return n;
}

static void vec_value(const struct vec *v, char *buf, size_t *n)
{
    if (v->value) {
        *n = strlen(v->value);
        memcpy(buf, v->value, *n);
    } else {
        *n = v->nrep;
        memset(buf, v->rep, *n);
    }
}

static void test_crc64(void **state)
{
    (void)state;
    assert_true(rdbstr_crc64(0, "123456789", 9) == UINT64_C(0xe9c6d914c4b8d9ca));
    /* continuing over pieces equals one pass */
    uint64_t c = rdbstr_crc64(rdbstr_crc64(0, "1234", 4), "56789", 5);
    assert_true(c == UINT64_C(0xe9c6d914c4b8d9ca));
}

static void test_dump_matches_redis(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        char val[256];
        uint8_t want[300], got[300];
        size_t n, wn = unhex(vecs[i].hex, want);
        vec_value(&vecs[i], val, &n);
        assert_true(rdbstr_dump_bound(n) <= sizeof(got));
        size_t gn = rdbstr_dump(val, n, got);
        if (!vecs[i].compressed) {
            assert_int_equal(gn, wn);
            assert_memory_equal(got, want, wn);
        }
        /* both ours and Redis's restore to the value */
        const uint8_t *pl[2] = {got, want};
        size_t pn[2] = {gn, wn};
        for (int k = 0; k < 2; k++) {
            uint8_t *out = NULL;
            size_t on = 0;
            int type = -1;
            assert_int_equal(rdbstr_restore(pl[k], pn[k], 1 << 20, &out, &on, &type), RDBSTR_OK);
            assert_int_equal(on, n);
            assert_memory_equal(out, val, n);
            free(out);
        }
    }
}

/* Rewrites the footer's CRC so that the payload passes the checksum. */
static void fix_crc(uint8_t *p, size_t n)
{
    uint64_t c = rdbstr_crc64(0, p, n - 8);
    for (int i = 0; i < 8; i++)
        p[n - 8 + i] = (uint8_t)(c >> (8 * i));
}

static int restore(const uint8_t *p, size_t n, size_t max, int *type)
{
    uint8_t *out = NULL;
    size_t on = 0;
    int rc = rdbstr_restore(p, n, max, &out, &on, type);
    free(out);
    return rc;
}

static void test_damaged(void **state)
{
    (void)state;
    uint8_t p[64];
    int type = -1;
    size_t n = unhex("000568656c6c6f0a006372df766534200a", p);
    assert_int_equal(restore(p, 9, 100, &type), RDBSTR_BADSUM); /* shorter than a footer */
    p[3] ^= 1;                                                  /* a flipped bit */
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_BADSUM);
    p[3] ^= 1;
    p[n - 10] = 11; /* a newer RDB version */
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_BADSUM);
    p[n - 10] = 10;
    p[1] = 0x3f; /* length past the payload */
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_BADDATA);
    p[1] = 0xc5; /* an unknown special encoding */
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_BADDATA);
    p[1] = 0x05;
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 4, &type), RDBSTR_TOOBIG);
    p[0] = 8; /* not an object type */
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_BADDATA);
    p[0] = 14; /* a list: valid, not stored here */
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_NOTSTR);
    assert_int_equal(type, 14);
    assert_string_equal(rdbstr_type_name(type), "list");
    /* LZF whose back reference points before the start */
    n = unhex("00c3051e01616160ff0a000000000000000000", p);
    fix_crc(p, n);
    assert_int_equal(restore(p, n, 100, &type), RDBSTR_BADDATA);
}

static void test_lzf(void **state)
{
    (void)state;
    /* literal "ab", then a reference of length 2+2 at distance 2: "ababab" */
    const uint8_t in[] = {0x01, 'a', 'b', 0x40, 0x01};
    uint8_t out[16];
    assert_int_equal(rdbstr_lzf_decompress(in, sizeof(in), out, sizeof(out)), 6);
    assert_memory_equal(out, "ababab", 6);
    assert_int_equal(rdbstr_lzf_decompress(in, sizeof(in), out, 5), -1);  /* no room */
    assert_int_equal(rdbstr_lzf_decompress(in, 4, out, sizeof(out)), -1); /* cut short */
}

/* LZF compression round trips through the decompressor: random bytes (do not compress),
 * runs, text, and lengths around the literal-run (32), reference (264) and distance
 * (8192) limits. */
static void lzf_round_trip(const uint8_t *in, size_t n)
{
    uint8_t *c = malloc(n + 64), *d = malloc(n + 1);
    size_t clen = rdbstr_lzf_compress(in, n, c, n + 64);
    assert_true(clen > 0);
    assert_int_equal(rdbstr_lzf_decompress(c, clen, d, n), (long)n);
    assert_memory_equal(d, in, n);
    /* every cap below what it needs makes it give up, never overflow */
    for (size_t cap = clen > 40 ? clen - 40 : 0; cap < clen; cap++)
        assert_int_equal(rdbstr_lzf_compress(in, n, c, cap), 0);
    free(c);
    free(d);
}

static void test_lzf_compress(void **state)
{
    (void)state;
    size_t max = 40000;
    uint8_t *buf = malloc(max), *out = malloc(max + 16);
    uint32_t x = 12345;
    for (size_t n = 1; n < 600; n += (n < 80 ? 1 : 37)) {
        for (size_t i = 0; i < n; i++) { /* random */
            x = x * 1103515245 + 12345;
            buf[i] = (uint8_t)(x >> 16);
        }
        lzf_round_trip(buf, n);
        memset(buf, 'a', n); /* one run */
        lzf_round_trip(buf, n);
        for (size_t i = 0; i < n; i++) /* period 7 */
            buf[i] = (uint8_t)("abcdefg"[i % 7]);
        lzf_round_trip(buf, n);
    }
    for (size_t i = 0; i < max; i++) /* a block repeated 9000 bytes later: too far */
        buf[i] = (uint8_t)((i % 9000) * 2654435761u >> 24);
    lzf_round_trip(buf, max);
    for (size_t i = 0; i < max; i++) /* repeated 8192 bytes later: the farthest */
        buf[i] = (uint8_t)((i % 8192) * 2654435761u >> 24);
    lzf_round_trip(buf, max);
    size_t clen = rdbstr_lzf_compress(buf, max, out, max);
    assert_true(clen < max / 4);
    /* random data does not compress */
    for (size_t i = 0; i < 1000; i++) {
        x = x * 1103515245 + 12345;
        buf[i] = (uint8_t)(x >> 16);
    }
    assert_int_equal(rdbstr_lzf_compress(buf, 1000, out, 996), 0);
    /* the RDB value: compressed past 20 bytes when it saves, read back by the reader */
    const char *vals[] = {"aaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaa", "12345678901",
                          "abcabcabcabcabcabcabcabcabcabcabcabc", "ab"};
    for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
        size_t n = strlen(vals[k]), pos = 0, got_len;
        uint8_t enc[128], *got;
        size_t len = rdbstr_put_value_lzf(enc, vals[k], n);
        assert_true(len <= 9 + n);
        assert_int_equal(enc[0] == 0xc3, n > 20); /* the 21-byte run and the abc run */
        assert_int_equal(rdbstr_read_string(enc, len, &pos, 1000, &got, &got_len), RDBSTR_OK);
        assert_int_equal(pos, len);
        assert_int_equal(got_len, n);
        assert_memory_equal(got, vals[k], n);
        free(got);
    }
    /* a length the block cannot make (1 TB from 4 bytes): damage, refused before any
     * allocation (under ASan the allocation itself aborted) */
    const uint8_t huge[] = {0xc3, 4, 0x81, 0, 0, 0x01, 0, 0, 0, 0, 0, 0x00, 'a', 0xe0, 0xff};
    size_t hpos = 0, hlen;
    uint8_t *hval = NULL;
    assert_int_equal(rdbstr_read_string(huge, sizeof(huge), &hpos, SIZE_MAX / 2, &hval, &hlen),
                     RDBSTR_BADDATA);
    assert_null(hval);
    /* the most LZF makes of a block, a run (264 bytes from each back reference of 3
     * bytes, 87.8 times the block here), is still read */
    {
        size_t rn = 100000, rpos = 0, rlen;
        uint8_t *run = malloc(rn), *renc = malloc(rn + 16), *rgot = NULL;
        assert_non_null(run);
        assert_non_null(renc);
        memset(run, 'a', rn);
        size_t elen = rdbstr_put_value_lzf(renc, run, rn);
        assert_true(elen * 80 < rn); /* compressed near the limit */
        assert_int_equal(rdbstr_read_string(renc, elen, &rpos, SIZE_MAX / 2, &rgot, &rlen),
                         RDBSTR_OK);
        assert_int_equal(rlen, rn);
        assert_memory_equal(rgot, run, rn);
        free(rgot);
        free(renc);
        free(run);
    }
    /* random bytes stay plain */
    size_t len = rdbstr_put_value_lzf(out, buf, 1000);
    assert_int_equal(len, 2 + 1000);
    free(buf);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64),        cmocka_unit_test(test_dump_matches_redis),
        cmocka_unit_test(test_damaged),      cmocka_unit_test(test_lzf),
        cmocka_unit_test(test_lzf_compress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
