/*
 * test_rdb.c - the RDB writer pieces and reader (proto/rdb.c): a file redis-server 7.0.15
 * wrote (SAVE) is read with every string (plain, integer, LZF, empty, with an expiry) and
 * every collection (list, intset, hash, zset, stream with a consumer group, hashtable set)
 * skipped by name; a file written by the writer reads back the same; a truncated file, a
 * bad checksum, a wrong version and a foreign file are refused with a clear error.
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
#include "rdb.h"
#include "rdbstr.h"

/* redis-server 7.0.15: SET s hello; SET n 12345; SET big ("ab" x 40); SET e ""; SET t ttl;
 * PEXPIREAT t 4102444800000; RPUSH l a b c; SADD si 1 2 3; HSET h f v; ZADD z 1 m;
 * XADD st * f v; XGROUP CREATE st g 0; XREADGROUP GROUP g c COUNT 1 STREAMS st >;
 * SADD sbig m0 .. m139; SELECT 3; SET d3 x; SAVE. */
static const char redis_file_hex[] = "524544495330303130fa0972656469732d76657206372e302e3135fa0a726"
                                     "56469732d62697473c040fa056374696d65"
                                     "c2090f116bfa08757365642d6d656dc2c0f11100fa08616f662d62617365c"
                                     "000fe00fb0b01020473626967408c046d31"
                                     "3036036d3134036d3638026d39046d313137036d3238036d3234036d37300"
                                     "46d313030046d313031036d3937046d3130"
                                     "37036d3339026d35036d3738036d3734036d3231036d3535036d3939036d3"
                                     "139046d313131046d313032036d3533036d"
                                     "3636036d3634036d3635036d3538036d3630026d30036d3731036d3930046"
                                     "d313138036d3334036d3834036d3931036d"
                                     "3233036d3232036d3337046d313134046d313038036d3236036d3934036d3"
                                     "739036d3633036d3735036d3936036d3137"
                                     "046d313233036d3933036d3932046d313130046d313132036d3237046d313"
                                     "139036d3830036d3133036d3531046d3130"
                                     "34036d3430026d34036d3132036d3537046d313133036d3737036d3332046"
                                     "d313235046d313136036d3831036d313103"
                                     "6d3438036d3732036d3336036d3539036d3935036d3837036d3833046d313"
                                     "135036d3432036d3434046d313234036d38"
                                     "38036d3439036d3839046d313035036d3239036d3338026d31046d3130330"
                                     "36d3532046d313039026d33036d3433036d"
                                     "3637046d313231036d3130036d3436036d3632036d3431036d3534036d353"
                                     "6026d38036d3136036d3138036d3733036d"
                                     "3235026d37036d3435036d3530036d3330036d3230026d36036d3135036d3"
                                     "835036d3437026d32046d313232046d3132"
                                     "30036d3832036d3836036d3333046d313236046d313339046d313334046d3"
                                     "13337046d313333036d3938046d31323703"
                                     "6d3335036d3639036d3631036d3331036d3736046d313332046d313331046"
                                     "d313336046d313330046d313239046d3133"
                                     "35046d313338046d31323812016c010210100000000300816102816202816"
                                     "302ff0001730568656c6c6f0003626967c3"
                                     "0a405002616261e0420101616200016ec13930130273740110000001a23aa"
                                     "2bccb00000000000000001d1d0000000a00"
                                     "01010001010181660200010201000100018176020401ff0181000001a23aa"
                                     "2bccb0081000001a23aa2bccb0000000101"
                                     "016781000001a23aa2bccb000101000001a23aa2bccb0000000000000000e"
                                     "3bca23aa201000001010163e3bca23aa201"
                                     "000001000001a23aa2bccb00000000000000001001680d0d0000000200816"
                                     "602817602ff11017a0c0c0000000200816d"
                                     "020101fffc00d8c32cbb0300000001740374746c0b0273690e02000000030"
                                     "0000001000200030000016500fe03fb0100"
                                     "000264330178ff88945434bac6ce6c";

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        sscanf(h + 2 * i, "%2x", &x);
        out[i] = (uint8_t)x;
    }
    return n;
}

struct want {
    uint32_t db;
    int type;
    const char *key;
    const char *val; /* strings only */
    size_t val_len;
    uint64_t expire_ms;
};

static void test_redis_file(void **state)
{
    (void)state;
    static uint8_t f[2048];
    size_t n = unhex(redis_file_hex, f);
    char big[81];
    for (int i = 0; i < 80; i++)
        big[i] = i % 2 ? 'b' : 'a';
    big[80] = 0;
    struct want w[] = {
        {0, 0, "s", "hello", 5, 0},
        {0, 0, "n", "12345", 5, 0},
        {0, 0, "big", big, 80, 0},
        {0, 0, "e", "", 0, 0},
        {0, 0, "t", "ttl", 3, 4102444800000ull},
        {0, 18, "l", NULL, 0, 0},
        {0, 11, "si", NULL, 0, 0},
        {0, 16, "h", NULL, 0, 0},
        {0, 17, "z", NULL, 0, 0},
        {0, 19, "st", NULL, 0, 0},
        {0, 2, "sbig", NULL, 0, 0},
        {3, 0, "d3", "x", 1, 0},
    };
    size_t nw = sizeof(w) / sizeof(w[0]);
    int seen[sizeof(w) / sizeof(w[0])] = {0};
    struct rdb_reader rd;
    assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), 0);
    assert_int_equal(rd.version, 10);
    assert_int_equal(rd.crc_checked, 1);
    struct rdb_entry e;
    int rc, count = 0;
    while ((rc = rdb_next(&rd, &e)) == 1) {
        size_t i;
        for (i = 0; i < nw; i++)
            if (strlen(w[i].key) == e.key_len && memcmp(w[i].key, e.key, e.key_len) == 0)
                break;
        assert_true(i < nw);
        assert_false(seen[i]);
        seen[i] = 1;
        assert_int_equal(e.db, w[i].db);
        assert_int_equal(e.type, w[i].type);
        assert_int_equal(e.expire_ms, w[i].expire_ms);
        if (w[i].val) {
            assert_int_equal(e.val_len, w[i].val_len);
            assert_memory_equal(e.val, w[i].val, e.val_len);
        } else if (e.type == 17) { /* a sorted set: its small form */
            struct coll_zel *z;
            size_t nz;
            uint8_t fl;
            assert_int_equal(coll_zset_decode(e.val, e.val_len, 0, &z, &nz, &fl), 0);
            assert_true(nz > 0);
            free(z);
        } else if (e.type == 18 || e.type == 11 || e.type == 2) { /* lists, sets: small form */
            struct coll_str *el;
            size_t nel;
            assert_int_equal(coll_list_decode(e.val, e.val_len, 0, &el, &nel), 0);
            assert_true(nel > 0);
            free(el);
        } else if (e.type == 16) { /* a hash comes in its small form: {f: v} */
            struct coll_hash h;
            const uint8_t *v;
            size_t vl;
            assert_int_equal(coll_hash_open(&h, e.val, e.val_len), 0);
            assert_int_equal(h.count, 1);
            assert_true(coll_hash_get(&h, "f", 1, &v, &vl));
            assert_int_equal(vl, 1);
            assert_memory_equal(v, "v", 1);
        } else {
            assert_null(e.val);
        }
        rdb_entry_free(&e);
        count++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(count, (int)nw);
}

#define FN_CODE "#!lua name=mylib\nredis.register_function('f', function() return 1 end)"

/* A file of a function library and several databases written by the writer pieces;
 * returns its length. */
static size_t write_file(uint8_t *f, uint8_t *bin, size_t big_len)
{
    size_t o = rdb_put_header(f);
    o += rdb_put_aux(f + o, "redis-ver", "7.0.0");
    o += rdb_put_aux(f + o, "redis-bits", "64");
    o += rdb_put_function(f + o, FN_CODE, strlen(FN_CODE));
    o += rdb_put_selectdb(f + o, 0, 5, 1);
    o += rdb_put_string_entry(f + o, "a", 1, "hello", 5, 0);
    o += rdb_put_string_entry(f + o, "i", 1, "-2147483648", 11, 0);
    o += rdb_put_string_entry(f + o, "j", 1, "007", 3, 0);
    o += rdb_put_string_entry(f + o, "", 0, "", 0, 1700000000123ull);
    o += rdb_put_string_entry(f + o, bin, 256, bin, 256, 0);
    o += rdb_put_selectdb(f + o, 700, 1, 0);
    memset(bin + 256, 'z', big_len);
    o += rdb_put_string_entry(f + o, "big", 3, bin + 256, big_len, 0);
    return o + rdb_put_eof(f + o, rdbstr_crc64(0, f, o));
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t big_len = 100000;
    uint8_t *bin = malloc(256 + big_len), *f = malloc(big_len + 4096);
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    size_t n = write_file(f, bin, big_len);
    struct want w[] = {
        {0, 0, "a", "hello", 5, 0},        {0, 0, "i", "-2147483648", 11, 0},
        {0, 0, "j", "007", 3, 0},          {0, 0, "", "", 0, 1700000000123ull},
        {0, 0, NULL, (char *)bin, 256, 0}, {700, 0, "big", (char *)bin + 256, big_len, 0},
    };
    struct rdb_reader rd;
    struct rdb_entry e;
    assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), 0);
    assert_int_equal(rdb_next(&rd, &e), 1);
    assert_int_equal(e.type, RDB_ENTRY_FUNCTION);
    assert_null(e.key);
    assert_int_equal(e.val_len, strlen(FN_CODE));
    assert_memory_equal(e.val, FN_CODE, e.val_len);
    rdb_entry_free(&e);
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        assert_int_equal(rdb_next(&rd, &e), 1);
        assert_int_equal(e.db, w[i].db);
        assert_int_equal(e.type, 0);
        assert_int_equal(e.expire_ms, w[i].expire_ms);
        if (w[i].key) {
            assert_int_equal(e.key_len, strlen(w[i].key));
            assert_memory_equal(e.key, w[i].key, e.key_len);
        } else {
            assert_int_equal(e.key_len, 256);
            assert_memory_equal(e.key, bin, 256);
        }
        assert_int_equal(e.val_len, w[i].val_len);
        assert_memory_equal(e.val, w[i].val, e.val_len);
        rdb_entry_free(&e);
    }
    assert_int_equal(rdb_next(&rd, &e), 0);
    /* "i" went out in the integer encoding, "j" (not canonical) as its bytes */
    assert_non_null(memmem(f, n, "\x01i\xc2\x00\x00\x00\x80", 7));
    assert_non_null(memmem(f, n,
                           "\x01j\x03"
                           "007",
                           6));
    /* a value over the reader's limit is refused */
    assert_int_equal(rdb_reader_open(&rd, f, n, 1000), 0);
    int rc;
    while ((rc = rdb_next(&rd, &e)) == 1)
        rdb_entry_free(&e);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(rd.err, "longer than the limit"));
    free(bin);
    free(f);
}

/* Reads every object; returns rdb_next's last code. */
static int read_all(struct rdb_reader *rd)
{
    struct rdb_entry e;
    int rc;
    while ((rc = rdb_next(rd, &e)) == 1)
        rdb_entry_free(&e);
    return rc;
}

static void test_truncated(void **state)
{
    (void)state;
    uint8_t bin[256 + 300], f[4096], g[4096 + 8];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    size_t n = write_file(f, bin, 300);
    struct rdb_reader rd;
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(rdb_reader_open(&rd, f, k, 1 << 20), -1);
        assert_true(strstr(rd.err, "truncated") || strstr(rd.err, "checksum") ||
                    strstr(rd.err, "not an RDB"));
        /* the same prefix with the checksum off: the parser itself finds the end missing */
        if (k <= RDB_HEADER_LEN || k == n - 8)
            continue;
        memcpy(g, f, k);
        memset(g + k, 0, 8);
        assert_int_equal(rdb_reader_open(&rd, g, k + 8, 1 << 20), 0);
        assert_int_equal(rd.crc_checked, 0);
        assert_int_equal(read_all(&rd), -1);
    }
    /* the whole file with its checksum off reads */
    assert_true(n > 16 && n <= sizeof(f));
    if (n <= 16 || n > sizeof(f))
        return;
    memcpy(g, f, n - 8);
    memset(g + n - 8, 0, 8);
    assert_int_equal(rdb_reader_open(&rd, g, n, 1 << 20), 0);
    assert_int_equal(read_all(&rd), 0);
}

static void test_bad_checksum(void **state)
{
    (void)state;
    uint8_t bin[256 + 300], f[4096];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    size_t n = write_file(f, bin, 300);
    struct rdb_reader rd;
    for (size_t k = RDB_HEADER_LEN; k < n; k++) {
        f[k] ^= 0x10;
        assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), -1);
        assert_non_null(strstr(rd.err, "checksum mismatch"));
        f[k] ^= 0x10;
    }
    assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), 0);
    /* bytes after EOF (the checksum recomputed over them) */
    uint8_t g[4096];
    memcpy(g, f, n - 8);
    g[n - 8] = 0;
    uint64_t crc = rdbstr_crc64(0, g, n - 7);
    for (int i = 0; i < 8; i++)
        g[n - 7 + i] = (uint8_t)(crc >> (8 * i));
    assert_int_equal(rdb_reader_open(&rd, g, n + 1, 1 << 20), 0);
    assert_int_equal(read_all(&rd), -1);
    assert_non_null(strstr(rd.err, "after the EOF"));
}

static void test_wrong_version(void **state)
{
    (void)state;
    uint8_t bin[256 + 10], f[4096];
    size_t n = write_file(f, bin, 10);
    struct rdb_reader rd;
    memcpy(f, "REDIS0011", 9); /* Redis 7.2's version */
    assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), -1);
    assert_non_null(strstr(rd.err, "RDB version 11 is not supported"));
    memcpy(f, "REDIS0000", 9);
    assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), -1);
    assert_non_null(strstr(rd.err, "RDB version 0 is not supported"));
    memcpy(f, "REDIS00x1", 9);
    assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), -1);
    assert_non_null(strstr(rd.err, "not an RDB file"));
    const char *foreign = "*1\r\n$4\r\nPING\r\n";
    assert_int_equal(rdb_reader_open(&rd, (const uint8_t *)foreign, strlen(foreign), 1 << 20), -1);
    assert_non_null(strstr(rd.err, "not an RDB file"));
    assert_int_equal(rdb_reader_open(&rd, f, 3, 1 << 20), -1);
}

/* Damaged objects behind a valid checksum (as a file saved with checksums off, or a
 * writer's bug, would have): every one is an error, never a read past the end. */
static void test_damaged_objects(void **state)
{
    (void)state;
    static uint8_t f[2048];
    size_t n = unhex(redis_file_hex, f);
    struct rdb_reader rd;
    int errors = 0;
    for (size_t k = RDB_HEADER_LEN; k < n - 8; k++) {
        for (int bit = 0; bit < 8; bit += 3) {
            f[k] ^= (uint8_t)(1u << bit);
            memset(f + n - 8, 0, 8); /* checksum off */
            assert_int_equal(rdb_reader_open(&rd, f, n, 1 << 20), 0);
            errors += read_all(&rd) < 0;
            f[k] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(errors > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_file),    cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_wrong_version), cmocka_unit_test(test_damaged_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
