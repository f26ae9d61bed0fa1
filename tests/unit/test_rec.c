/*
 * test_rec.c - unit tests for the record and buffer-header codec (engine/rec.c).
 *
 * Round trips of PUT, DEL and FLUSH records with empty and binary keys and values, and
 * every way a decode must fail: too few bytes, lengths past the end, a bad type or
 * version (with a checksum that is otherwise right, crafted here with xxh3 as FORMAT.md
 * defines it), a single flipped bit anywhere in the record, another directory's seed.
 * The same for buffer headers. Deterministic: fixed seeds and byte patterns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "logstor.h"
#include "rec.h"

#define SEED  UINT64_C(0x0123456789abcdef)
#define SEED2 UINT64_C(0x0123456789abcdee)

/* A record buffer of rec_size bytes (aligned for the header struct). */
static uint8_t *encode(const struct rec_hdr *h, const void *key, const void *value)
{
    uint32_t size = rec_size(h->key_len, h->value_len);
    uint8_t *p = malloc(size);

    assert_non_null(p);
    memset(p, 0xee, size); /* padding must be written as zeros by rec_encode */
    rec_encode(p, h, key, value, SEED);
    return p;
}

/* The record checksum exactly as FORMAT.md states it, computed independently. */
static uint64_t format_checksum(const uint8_t *rec, uint32_t key_len, uint32_t value_len,
                                uint64_t seed)
{
    uint64_t hs = XXH3_64bits_withSeed(rec, 32, seed);
    return XXH3_64bits_withSeed(rec + REC_HDR_SIZE, (size_t)key_len + value_len, hs);
}

static void reseal_record(uint8_t *rec, uint64_t seed)
{
    struct rec_hdr h;
    memcpy(&h, rec, sizeof(h));
    h.checksum = format_checksum(rec, h.key_len, h.value_len, seed);
    memcpy(rec + offsetof(struct rec_hdr, checksum), &h.checksum, sizeof(h.checksum));
}

static void check_round_trip(uint8_t type, uint16_t table, const void *key, uint32_t key_len,
                             const void *value, uint32_t value_len)
{
    struct rec_hdr h = {.type = type,
                        .table = table,
                        .key_len = key_len,
                        .value_len = value_len,
                        .flags = 0xdeadbeef,
                        .rseq = UINT64_C(0x1122334455667788),
                        .expire_ms = UINT64_C(1700000000123)};
    uint32_t size = rec_size(key_len, value_len);
    uint8_t *p = encode(&h, key, value);
    struct rec_view v;

    assert_int_equal(size % 8, 0);
    assert_true(size >= REC_HDR_SIZE + key_len + value_len);
    assert_true(size < REC_HDR_SIZE + key_len + value_len + 8);
    /* zero padding */
    for (uint32_t i = REC_HDR_SIZE + key_len + value_len; i < size; i++)
        assert_int_equal(p[i], 0);
    /* the byte layout of FORMAT.md */
    assert_int_equal(p[0], type);
    assert_int_equal(p[1], REC_FORMAT_VERSION);
    assert_int_equal(p[2] | p[3] << 8, table);
    uint64_t ck;
    memcpy(&ck, p + 32, 8);
    assert_true(ck == format_checksum(p, key_len, value_len, SEED));

    memset(&v, 0, sizeof(v));
    assert_int_equal(rec_decode(p, size, SEED, &v), 0);
    assert_int_equal(v.h.type, type);
    assert_int_equal(v.h.version, REC_FORMAT_VERSION);
    assert_int_equal(v.h.table, table);
    assert_int_equal(v.h.key_len, key_len);
    assert_int_equal(v.h.value_len, value_len);
    assert_int_equal(v.h.flags, 0xdeadbeef);
    assert_true(v.h.rseq == UINT64_C(0x1122334455667788));
    assert_true(v.h.expire_ms == UINT64_C(1700000000123));
    assert_int_equal(v.size, size);
    assert_ptr_equal(v.key, p + REC_HDR_SIZE);
    assert_ptr_equal(v.value, p + REC_HDR_SIZE + key_len);
    if (key_len)
        assert_memory_equal(v.key, key, key_len);
    if (value_len)
        assert_memory_equal(v.value, value, value_len);
    /* more bytes than the record (the rest of a buffer) decode the same */
    uint8_t *big = calloc(1, size + 4096);
    memcpy(big, p, size);
    assert_int_equal(rec_decode(big, size + 4096, SEED, &v), 0);
    assert_int_equal(v.size, size);
    free(big);
    free(p);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t bin[300];
    for (unsigned i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7 + 3); /* includes 0x00 and 0xff, and header-like bytes */
    static const uint8_t zeros[64];

    check_round_trip(REC_PUT, 0, "k", 1, "v", 1);
    check_round_trip(REC_PUT, 15, "key", 3, "", 0);       /* empty value */
    check_round_trip(REC_PUT, 1, "", 0, "value", 5);      /* empty key */
    check_round_trip(REC_PUT, 65535, "", 0, "", 0);       /* both empty */
    check_round_trip(REC_PUT, 3, bin, 255, bin + 1, 299); /* binary */
    check_round_trip(REC_PUT, 3, zeros, 64, zeros, 64);   /* all-zero key and value */
    for (uint32_t k = 0; k < 9; k++)                      /* every padding amount */
        check_round_trip(REC_PUT, 2, bin, k, bin, 8 - k % 8 + k);
    check_round_trip(REC_DEL, 4, "gone", 4, NULL, 0);
    check_round_trip(REC_DEL, 4, bin, 200, NULL, 0);
    check_round_trip(REC_FLUSH, 9, NULL, 0, NULL, 0);
}

static void test_decode_truncated(void **state)
{
    (void)state;
    struct rec_hdr h = {.type = REC_PUT, .key_len = 5, .value_len = 11, .rseq = 1};
    uint8_t *p = encode(&h, "hello", "world-12345");
    struct rec_view v;

    /* avail < 40: not even a header */
    for (size_t a = 0; a < REC_HDR_SIZE; a++)
        assert_int_equal(rec_decode(p, a, SEED, &v), LS_ECORRUPT);
    /* header present but key and value run past avail */
    for (size_t a = REC_HDR_SIZE; a < REC_HDR_SIZE + 5 + 11; a++)
        assert_int_equal(rec_decode(p, a, SEED, &v), LS_ECORRUPT);
    assert_int_equal(rec_decode(p, REC_HDR_SIZE + 16, SEED, &v), 0);
    free(p);
}

static void test_decode_lengths_past_avail(void **state)
{
    (void)state;
    uint8_t buf[4096] = {0};
    struct rec_hdr h = {.type = REC_PUT, .key_len = 3, .value_len = 4, .rseq = 9};
    struct rec_view v;

    rec_encode(buf, &h, "abc", "defg", SEED);
    /* key_len or value_len claiming more than the buffer, with a checksum recomputed so
     * that only the length check can refuse them */
    uint32_t lens[][2] = {{4096, 0},
                          {0, 4096},
                          {4057, 0},
                          {0, 4057},
                          {2000, 2057},
                          {UINT32_MAX, 0},
                          {0, UINT32_MAX},
                          {UINT32_MAX, 4},
                          {0x80000000u, 0x80000000u},
                          {UINT32_MAX, UINT32_MAX}};
    for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memcpy(buf + 4, &lens[i][0], 4);
        memcpy(buf + 8, &lens[i][1], 4);
        assert_int_equal(rec_decode(buf, sizeof(buf), SEED, &v), LS_ECORRUPT);
    }
    /* exactly filling avail is fine */
    uint32_t kl = 10, vl = 4096 - REC_HDR_SIZE - 10;
    memcpy(buf + 4, &kl, 4);
    memcpy(buf + 8, &vl, 4);
    reseal_record(buf, SEED);
    assert_int_equal(rec_decode(buf, sizeof(buf), SEED, &v), 0);
    assert_int_equal(v.size, 4096);
    /* one byte more is not */
    vl++;
    memcpy(buf + 8, &vl, 4);
    reseal_record(buf, SEED);
    assert_int_equal(rec_decode(buf, sizeof(buf), SEED, &v), LS_ECORRUPT);
}

static void test_decode_bad_type_version(void **state)
{
    (void)state;
    struct rec_hdr h = {.type = REC_PUT, .key_len = 2, .value_len = 2, .rseq = 5};
    uint8_t *p = encode(&h, "kk", "vv");
    uint32_t size = rec_size(2, 2);
    struct rec_view v;
    /* no kind, kind 0 with a tag, a tag on a DEL or FLUSH (tags are for PUTs only) */
    uint8_t types[] = {0, 4, REC_DEL | 0x04, REC_FLUSH | REC_F_PAGED, 0x80, 0xff};

    for (unsigned i = 0; i < sizeof(types); i++) {
        p[0] = types[i];
        reseal_record(p, SEED); /* checksum right: only the type is wrong */
        assert_int_equal(rec_decode(p, size, SEED, &v), LS_ECORRUPT);
    }
    p[0] = REC_PUT;
    uint8_t versions[] = {0, REC_FORMAT_VERSION - 1, REC_FORMAT_VERSION + 1, 0xff};
    for (unsigned i = 0; i < sizeof(versions); i++) {
        p[1] = versions[i];
        reseal_record(p, SEED);
        assert_int_equal(rec_decode(p, size, SEED, &v), LS_ECORRUPT);
    }
    p[1] = REC_FORMAT_VERSION;
    reseal_record(p, SEED);
    assert_int_equal(rec_decode(p, size, SEED, &v), 0);
    /* rec_encode writes the version itself, whatever the caller put in it */
    struct rec_hdr h2 = h;
    h2.version = 77;
    uint8_t *q = encode(&h2, "kk", "vv");
    assert_int_equal(q[1], REC_FORMAT_VERSION);
    assert_memory_equal(p, q, size);
    free(q);
    free(p);
}

/* A PUT's type tag (bits 2..5, FORMAT.md "Collections") round-trips into vtag with h.type
 * left as the kind, batch flags included; an untagged record (everything written before
 * the tag) decodes with vtag 0; rec_resync finds a tagged record after damage. */
static void test_vtag(void **state)
{
    (void)state;
    for (uint8_t tag = 0; tag < 16; tag++) {
        uint8_t b = (uint8_t)(REC_PUT | REC_F_MEMB | (tag << REC_VTAG_SHIFT));
        struct rec_hdr h = {.type = b, .key_len = 1, .value_len = 3, .rseq = 9};
        uint8_t *p = encode(&h, "k", "abc");
        struct rec_view v;
        assert_int_equal(p[0], b);
        assert_int_equal(rec_decode(p, rec_size(1, 3), SEED, &v), 0);
        assert_int_equal(v.h.type, REC_PUT);
        assert_int_equal(v.vtag, tag);
        assert_int_equal(v.memb, 1);
        assert_int_equal(v.cont, 0);
        free(p);
    }
    /* garbage, then a tagged record: resync lands on it */
    struct rec_hdr h = {.type = REC_PUT | (3u << REC_VTAG_SHIFT) | REC_F_PAGED,
                        .key_len = 2,
                        .value_len = 2,
                        .rseq = 5};
    uint32_t size = rec_size(2, 2);
    uint8_t *buf = calloc(1, 64 + size);
    assert_non_null(buf);
    memset(buf, 0x05, 64);
    rec_encode(buf + 64, &h, "kk", "vv", SEED);
    assert_int_equal(rec_resync(buf, 0, 64 + size, SEED), 64);
    struct rec_view v;
    assert_int_equal(rec_decode(buf + 64, size, SEED, &v), 0);
    assert_int_equal(v.vtag, 3 | (REC_F_PAGED >> REC_VTAG_SHIFT));
    free(buf);
}

/* Every single-bit flip in header, checksum, key and value is caught. */
static void test_decode_bit_flips(void **state)
{
    (void)state;
    uint8_t key[13], value[37];
    for (unsigned i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(0x41 + i);
    for (unsigned i = 0; i < sizeof(value); i++)
        value[i] = (uint8_t)(i * 13);
    struct rec_hdr h = {.type = REC_PUT,
                        .table = 7,
                        .key_len = sizeof(key),
                        .value_len = sizeof(value),
                        .flags = 42,
                        .rseq = 1234567,
                        .expire_ms = 99};
    uint8_t *p = encode(&h, key, value);
    uint32_t used = REC_HDR_SIZE + sizeof(key) + sizeof(value);
    uint32_t size = rec_size(sizeof(key), sizeof(value));
    struct rec_view v;

    for (uint32_t byte = 0; byte < used; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            p[byte] ^= (uint8_t)(1u << bit);
            int rc = rec_decode(p, size, SEED, &v);
            if (rc != LS_ECORRUPT)
                fail_msg("flip of byte %u bit %d decoded with rc %d", byte, bit, rc);
            p[byte] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(rec_decode(p, size, SEED, &v), 0);
    free(p);
}

static void test_decode_other_seed(void **state)
{
    (void)state;
    struct rec_hdr h = {.type = REC_PUT, .key_len = 1, .value_len = 1, .rseq = 1};
    uint8_t *p = encode(&h, "a", "b");
    struct rec_view v;

    assert_int_equal(rec_decode(p, rec_size(1, 1), SEED, &v), 0);
    assert_int_equal(rec_decode(p, rec_size(1, 1), SEED2, &v), LS_ECORRUPT);
    assert_int_equal(rec_decode(p, rec_size(1, 1), 0, &v), LS_ECORRUPT);
    free(p);
    /* records without key or value depend on the seed too (through the header hash) */
    struct rec_hdr f = {.type = REC_FLUSH, .table = 2, .rseq = 3};
    p = encode(&f, NULL, NULL);
    assert_int_equal(rec_decode(p, REC_HDR_SIZE, SEED, &v), 0);
    assert_int_equal(rec_decode(p, REC_HDR_SIZE, SEED2, &v), LS_ECORRUPT);
    free(p);
}

/* ---- buffer headers ---- */

static void test_buf_hdr_round_trip(void **state)
{
    (void)state;
    uint8_t blk[REC_BLOCK];
    struct buf_hdr h;

    memset(blk, 0xaa, sizeof(blk));
    buf_hdr_seal(blk, BUF_LARGE, UINT64_C(0x0102030405060708), 3 * REC_BLOCK, 17, 4242,
                 UINT64_C(99999), SEED);
    memset(&h, 0, sizeof(h));
    assert_int_equal(buf_hdr_check(blk, SEED, &h), 0);
    assert_int_equal(h.magic, BUF_MAGIC);
    assert_int_equal(h.version, REC_FORMAT_VERSION);
    assert_int_equal(h.flags, BUF_LARGE);
    assert_true(h.seg_seq == UINT64_C(0x0102030405060708));
    assert_int_equal(h.length, 3 * REC_BLOCK);
    assert_int_equal(h.count, 17);
    assert_int_equal(h.seg_no, 4242);
    assert_true(h.first_rseq == 99999);
    /* byte layout of FORMAT.md, and reserved fields zero */
    assert_memory_equal(blk, "LSB1", 4);
    uint64_t ck;
    memcpy(&ck, blk + 56, 8);
    assert_true(ck == XXH3_64bits_withSeed(blk, 56, SEED));
    for (int i = 28; i < 32; i++)
        assert_int_equal(blk[i], 0);
    for (int i = 40; i < 56; i++)
        assert_int_equal(blk[i], 0);
    /* bytes after the header are not touched */
    for (size_t i = BUF_HDR_SIZE; i < sizeof(blk); i++)
        assert_int_equal(blk[i], 0xaa);
    /* smallest valid buffer, no flags */
    buf_hdr_seal(blk, 0, 1, REC_BLOCK, 0, 0, 0, SEED);
    assert_int_equal(buf_hdr_check(blk, SEED, &h), 0);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.length, REC_BLOCK);
}

static void test_buf_hdr_failures(void **state)
{
    (void)state;
    uint8_t blk[BUF_HDR_SIZE];
    struct buf_hdr h, untouched;

    /* wrong magic (or an unwritten, zero block): -ENOENT, *out untouched */
    memset(blk, 0, sizeof(blk));
    memset(&h, 0x5a, sizeof(h));
    untouched = h;
    assert_int_equal(buf_hdr_check(blk, SEED, &h), -ENOENT);
    assert_memory_equal(&h, &untouched, sizeof(h));
    buf_hdr_seal(blk, 0, 5, 2 * REC_BLOCK, 3, 1, 10, SEED);
    blk[0] ^= 0x01; /* a header whose magic alone is damaged: damage, not the end */
    assert_int_equal(buf_hdr_check(blk, SEED, &h), LS_ECORRUPT);
    blk[0] ^= 0x01;
    assert_int_equal(buf_hdr_check(blk, SEED, &h), 0);

    /* any flipped bit: LS_ECORRUPT (in the magic too: the rest verifies with it put back) */
    for (unsigned byte = 0; byte < BUF_HDR_SIZE; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            blk[byte] ^= (uint8_t)(1u << bit);
            int rc = buf_hdr_check(blk, SEED, &h);
            int want = LS_ECORRUPT;
            if (rc != want)
                fail_msg("flip of byte %u bit %d: rc %d, want %d", byte, bit, rc, want);
            blk[byte] ^= (uint8_t)(1u << bit);
        }
    }

    /* another directory's seed */
    assert_int_equal(buf_hdr_check(blk, SEED2, &h), LS_ECORRUPT);

    /* bad lengths, sealed with a correct checksum */
    uint32_t bad_len[] = {0, 1, 64, REC_BLOCK - 1, REC_BLOCK + 1, 2 * REC_BLOCK - 8, UINT32_MAX};
    for (unsigned i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
        buf_hdr_seal(blk, 0, 5, bad_len[i], 3, 1, 10, SEED);
        if (buf_hdr_check(blk, SEED, &h) != LS_ECORRUPT)
            fail_msg("length %u accepted", bad_len[i]);
    }

    /* bad version, with a correct checksum */
    buf_hdr_seal(blk, 0, 5, REC_BLOCK, 3, 1, 10, SEED);
    uint16_t ver = REC_FORMAT_VERSION + 1;
    memcpy(blk + 4, &ver, 2);
    uint64_t ck = XXH3_64bits_withSeed(blk, 56, SEED);
    memcpy(blk + 56, &ck, 8);
    assert_int_equal(buf_hdr_check(blk, SEED, &h), LS_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_lengths_past_avail),
        cmocka_unit_test(test_decode_bad_type_version),
        cmocka_unit_test(test_decode_bit_flips),
        cmocka_unit_test(test_vtag),
        cmocka_unit_test(test_decode_other_seed),
        cmocka_unit_test(test_buf_hdr_round_trip),
        cmocka_unit_test(test_buf_hdr_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
