/*
 * test_rdbcoll.c - hashes in the RDB encoding (proto/rdbcoll.c) against DUMP payloads
 * redis-server 7.0.15 produced: a listpack hash (type 16, every listpack entry encoding
 * but the 32-bit string's), a small hash converted by hash-max-listpack-entries 1 (type 4,
 * an integer-encoded value) and a large one (type 4, LZF-compressed strings); the round
 * trip through rdbcoll_put_hash; every truncation and a damaged listpack refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rdbcoll.h"
#include "rdbstr.h"

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    return n;
}

/* redis-cli: HSET h1 a 1 b hello c -300 d 70000 e 5000000000 f "" ; DUMP h1 */
static const char H1[] = "1036360000000c0081610201018162028568656c6c6f06816302ded402816402f27011"
                         "0104816502f400f2052a01000000098166028001ff0a003d85d45b9def8229";
/* CONFIG SET hash-max-listpack-entries 1; HSET h2 a 1 b hello; DUMP h2 */
static const char H2[] = "04020161c00101620568656c6c6f0a004f5905fca0bdba67";

/* Decodes a DUMP payload's hash into its small form. */
static int restore_hash(const uint8_t *p, size_t n, struct coll_buf *out, struct coll_hash *h)
{
    assert_int_equal(rdbstr_check_footer(p, n), RDBSTR_OK);
    size_t pos = 1;
    int rc = rdbcoll_read_hash(p, n - 10, &pos, p[0], 1 << 20, NULL, out);
    if (rc == RDBSTR_OK) {
        assert_int_equal(pos, n - 10);
        assert_int_equal(coll_hash_open(h, out->p, out->len), 0);
    }
    return rc;
}

static void expect(const struct coll_hash *h, const char *f, const char *v)
{
    const uint8_t *got;
    size_t gl;
    assert_true(coll_hash_get(h, f, strlen(f), &got, &gl));
    assert_int_equal(gl, strlen(v));
    assert_memory_equal(got, v, gl);
}

static void test_listpack(void **st)
{
    (void)st;
    uint8_t p[256];
    size_t n = unhex(H1, p);
    struct coll_buf b = {0};
    struct coll_hash h;
    assert_int_equal(restore_hash(p, n, &b, &h), RDBSTR_OK);
    assert_int_equal(h.count, 6);
    expect(&h, "a", "1");
    expect(&h, "b", "hello");
    expect(&h, "c", "-300");
    expect(&h, "d", "70000");
    expect(&h, "e", "5000000000");
    expect(&h, "f", "");
    assert_string_equal(coll_hash_encoding(&h), "listpack");
    /* the round trip: written as type 4, read back the same */
    uint8_t *w = malloc(rdbcoll_hash_bound(b.len, h.count));
    size_t wl = rdbcoll_put_hash(w, &h), pos = 0;
    struct coll_buf b2 = {0};
    assert_int_equal(rdbcoll_read_hash(w, wl, &pos, RDB_TYPE_HASH, 1 << 20, NULL, &b2), RDBSTR_OK);
    assert_int_equal(pos, wl);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    /* every truncation of the body is refused, never read past */
    for (size_t k = 0; k < wl; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, w, k);
        pos = 0;
        assert_int_not_equal(rdbcoll_read_hash(cut, k, &pos, RDB_TYPE_HASH, 1 << 20, NULL, &b2),
                             RDBSTR_OK);
        free(cut);
    }
    /* a listpack whose size, count, an entry's length or back-length, or the terminator
     * is damaged is refused */
    static const size_t spots[] = {1, 2, 3, 6, 8, 10, 24, 55}; /* 55: the 0xff */
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        size_t at = spots[i];
        uint8_t d[256];
        memcpy(d, p, n);
        d[at] ^= 0x01;
        pos = 1;
        assert_int_not_equal(rdbcoll_read_hash(d, n - 10, &pos, d[0], 1 << 20, NULL, &b2),
                             RDBSTR_OK);
    }
    free(w);
    coll_buf_free(&b);
    coll_buf_free(&b2);
}

static void test_plain_and_lzf(void **st)
{
    (void)st;
    uint8_t p[256];
    size_t n = unhex(H2, p);
    struct coll_buf b = {0};
    struct coll_hash h;
    assert_int_equal(restore_hash(p, n, &b, &h), RDBSTR_OK);
    assert_int_equal(h.count, 2);
    expect(&h, "a", "1");
    expect(&h, "b", "hello");
    /* a large hash: a 200-byte value and a 5000-byte one, LZF-compressed by Redis */
    struct coll_hset ops[] = {{"k", 1, NULL, 200}, {"big", 3, NULL, 5000}, {"n", 1, "-1", 2}};
    char *x = malloc(200), *y = malloc(5000);
    memset(x, 'x', 200);
    memset(y, 'y', 5000);
    ops[0].val = x;
    ops[1].val = y;
    struct coll_buf src = {0}, back = {0};
    assert_int_equal(coll_hash_update(NULL, ops, 3, NULL, &src, NULL, NULL), 0);
    assert_int_equal(coll_hash_open(&h, src.p, src.len), 0);
    assert_string_equal(coll_hash_encoding(&h), "hashtable");
    uint8_t *w = malloc(rdbcoll_hash_bound(src.len, h.count));
    size_t wl = rdbcoll_put_hash(w, &h), pos = 0;
    assert_true(wl < 600); /* the long values were compressed */
    assert_int_equal(rdbcoll_read_hash(w, wl, &pos, RDB_TYPE_HASH, 1 << 20, NULL, &back),
                     RDBSTR_OK);
    assert_int_equal(back.len, src.len);
    assert_memory_equal(back.p, src.p, src.len);
    /* a value over max_len is refused as too big */
    pos = 0;
    assert_int_equal(rdbcoll_read_hash(w, wl, &pos, RDB_TYPE_HASH, 1000, NULL, &back),
                     RDBSTR_TOOBIG);
    /* another type is not a hash */
    pos = 0;
    assert_int_equal(rdbcoll_read_hash(w, wl, &pos, 1, 1 << 20, NULL, &back), RDBSTR_NOTSTR);
    free(w);
    free(x);
    free(y);
    coll_buf_free(&b);
    coll_buf_free(&src);
    coll_buf_free(&back);
}

/* RPUSH l1 a 1 hello -300 70000 5000000000 "" (one listpack node); with
 * list-max-listpack-size 2, RPUSH l2 a b c d e (three nodes); DUMP of each. */
static const char L1[] = "1201022727000000070081610201018568656c6c6f06ded402f270110104f400f2052a"
                         "01000000098001ff0a003ebf9be032024d06";
static const char L2[] = "1203020d0d0000000200816102816202ff020d0d0000000200816302816402ff020a0a"
                         "0000000100816502ff0a00ec5236a76020a1db";

static void expect_list(const char *hex, const char *const *want, size_t nwant)
{
    uint8_t p[256];
    size_t n = unhex(hex, p), pos = 1, k;
    struct coll_buf b = {0}, b2 = {0};
    struct coll_str *e;
    uint8_t vt = 0;
    assert_int_equal(rdbstr_check_footer(p, n), RDBSTR_OK);
    assert_int_equal(rdbcoll_read(p, n - 10, &pos, p[0], 1 << 20, NULL, &b, &vt), RDBSTR_OK);
    assert_int_equal(vt, COLL_LIST);
    assert_int_equal(pos, n - 10);
    assert_int_equal(coll_list_decode(b.p, b.len, 0, &e, &k), 0);
    assert_int_equal(k, nwant);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(e[i].len, strlen(want[i]));
        assert_memory_equal(e[i].p, want[i], e[i].len);
    }
    free(e);
    /* written as type 1 and read back the same */
    uint8_t *w = malloc(rdbcoll_body_bound(COLL_LIST, b.p, b.len));
    size_t wl = rdbcoll_put_body(w, COLL_LIST, b.p, b.len);
    pos = 0;
    assert_int_equal(
        rdbcoll_read(w, wl, &pos, rdbcoll_rdb_type(COLL_LIST), 1 << 20, NULL, &b2, &vt), RDBSTR_OK);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    /* every truncation refused */
    for (size_t cut = 0; cut < n - 10; cut++) {
        pos = 1;
        assert_int_not_equal(rdbcoll_read(p, cut, &pos, p[0], 1 << 20, NULL, &b2, &vt), RDBSTR_OK);
    }
    free(w);
    coll_buf_free(&b);
    coll_buf_free(&b2);
}

static void test_lists(void **st)
{
    (void)st;
    static const char *const l1[] = {"a", "1", "hello", "-300", "70000", "5000000000", ""};
    static const char *const l2[] = {"a", "b", "c", "d", "e"};
    expect_list(L1, l1, 7);
    expect_list(L2, l2, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listpack),
        cmocka_unit_test(test_plain_and_lzf),
        cmocka_unit_test(test_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
