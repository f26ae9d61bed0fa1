/*
 * test_pbuf.c - unit tests for the bounded growable buffer: appends, formatted appends
 * (short and longer than the internal stack buffer), the limit (an append past it fails
 * with -ENOBUFS and leaves the buffer unchanged), consume and reset; the decimal
 * formatting of pbuf_fmt_u64/pbuf_fmt_i64 against printf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pbuf.h"

static void fmt_equals(int64_t v, const char *want)
{
    char d[24], u[24];
    memset(d, 'x', sizeof(d));
    size_t n = pbuf_fmt_i64(d, v);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(d, want, n);
    assert_int_equal(d[n], 'x'); /* no terminator, nothing past the digits */
    if (v >= 0) {
        assert_int_equal(pbuf_fmt_u64(u, (uint64_t)v), n);
        assert_memory_equal(u, want, n);
    }
}

static void test_fmt(void **state)
{
    (void)state;
    fmt_equals(0, "0");
    fmt_equals(7, "7");
    fmt_equals(-1, "-1");
    fmt_equals(10, "10");
    fmt_equals(-10, "-10");
    fmt_equals(INT64_MAX, "9223372036854775807");
    fmt_equals(INT64_MIN, "-9223372036854775808");
    fmt_equals(INT64_MIN + 1, "-9223372036854775807");
    char d[24], want[32];
    assert_int_equal(pbuf_fmt_u64(d, UINT64_MAX), 20);
    assert_memory_equal(d, "18446744073709551615", 20);
    uint64_t s = 1;
    for (int i = 0; i < 100000; i++) { /* against printf, every magnitude */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int64_t v = (int64_t)(s >> (s % 64));
        if ((i & 1) && v != INT64_MIN)
            v = -v;
        snprintf(want, sizeof(want), "%" PRId64, v);
        fmt_equals(v, want);
    }
}

static void test_append(void **state)
{
    (void)state;
    struct pbuf pb;
    pbuf_init(&pb, 0);
    assert_int_equal(pbuf_append(&pb, "abc", 3), 0);
    assert_int_equal(pbuf_append(&pb, "", 0), 0);
    assert_int_equal(pbuf_append(&pb, "de\0f", 4), 0);
    assert_int_equal(pb.len, 7);
    assert_memory_equal(pb.data, "abcde\0f", 7);
    assert_true(pb.cap >= pb.len);
    pbuf_free(&pb);
    assert_null(pb.data);
    assert_int_equal(pb.len, 0);
}

static void test_growth(void **state)
{
    (void)state;
    struct pbuf pb;
    char block[1000];
    memset(block, 'x', sizeof(block));
    pbuf_init(&pb, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pbuf_append(&pb, block, sizeof(block)), 0);
    assert_int_equal(pb.len, 1000000);
    assert_true(pb.cap >= pb.len && pb.cap <= 2 * pb.len + 64);
    pbuf_free(&pb);
}

static void test_appendf(void **state)
{
    (void)state;
    struct pbuf pb;
    char big[1000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pbuf_init(&pb, 0);
    assert_int_equal(pbuf_appendf(&pb, "%d-%s", 42, "ok"), 0);
    assert_int_equal(pb.len, 5);
    assert_memory_equal(pb.data, "42-ok", 5);
    assert_int_equal(pbuf_appendf(&pb, "<%s>", big), 0);
    assert_int_equal(pb.len, 5 + 2 + 999);
    assert_int_equal(pb.data[5], '<');
    assert_int_equal(pb.data[pb.len - 1], '>');
    pbuf_free(&pb);
}

static void test_limit(void **state)
{
    (void)state;
    struct pbuf pb;
    pbuf_init(&pb, 10);
    assert_int_equal(pbuf_append(&pb, "12345678", 8), 0);
    assert_int_equal(pbuf_append(&pb, "abc", 3), -ENOBUFS);
    assert_int_equal(pb.len, 8);
    assert_memory_equal(pb.data, "12345678", 8);
    assert_int_equal(pbuf_append(&pb, "ab", 2), 0);
    assert_int_equal(pb.len, 10);
    assert_true(pb.cap <= 10);
    assert_int_equal(pbuf_appendf(&pb, "%d", 1), -ENOBUFS);
    assert_int_equal(pbuf_reserve(&pb, SIZE_MAX), -ENOBUFS);
    assert_int_equal(pbuf_reserve(&pb, 0), 0);
    pbuf_free(&pb);
    /* A reserve that would wrap size_t fails cleanly. */
    pbuf_init(&pb, 0);
    assert_int_equal(pbuf_append(&pb, "a", 1), 0);
    assert_int_equal(pbuf_reserve(&pb, SIZE_MAX), -ENOBUFS);
    assert_int_equal(pb.len, 1);
    pbuf_free(&pb);
}

static void test_consume_reset(void **state)
{
    (void)state;
    struct pbuf pb;
    pbuf_init(&pb, 0);
    assert_int_equal(pbuf_append(&pb, "hello world", 11), 0);
    pbuf_consume(&pb, 6);
    assert_int_equal(pb.len, 5);
    assert_memory_equal(pb.data, "world", 5);
    pbuf_consume(&pb, 5);
    assert_int_equal(pb.len, 0);
    assert_int_equal(pbuf_append(&pb, "x", 1), 0);
    pbuf_reset(&pb);
    assert_int_equal(pb.len, 0);
    assert_true(pb.cap > 0);
    pbuf_free(&pb);
}

/* Two empty buffers charged to one account, and a block of data to append. */
static void init_pair(struct pbuf *a, struct pbuf *b, struct pbuf_acct *acct, char *block, size_t n)
{
    memset(block, 'x', n);
    pbuf_init(a, 0);
    pbuf_init(b, 0);
    a->acct = b->acct = acct;
}

/* Buffers sharing an account: one bound over all of them, counted up the chain, growth
 * clamped to the room left, and every byte returned when the buffers are freed. */
static void test_acct(void **state)
{
    (void)state;
    struct pbuf_acct top = {0, 0, NULL}, conn = {0, 0, &top}, out = {0, 4096, &conn};
    struct pbuf a, b;
    char block[1000];
    init_pair(&a, &b, &out, block, sizeof(block));
    assert_int_equal(pbuf_append(&a, block, 1000), 0);
    assert_int_equal(out.used, a.cap);
    assert_int_equal(conn.used, a.cap);
    assert_int_equal(top.used, a.cap);
    assert_int_equal(pbuf_append(&b, block, 1000), 0);
    assert_int_equal(out.used, a.cap + b.cap);
    assert_true(out.used <= out.limit);
    /* The pair may not pass 4096 bytes however the appends are spread. */
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = pbuf_append(i % 2 ? &a : &b, block, 1000);
    assert_int_equal(rc, -ENOBUFS);
    assert_true(out.used <= 4096);
    assert_true(a.len + b.len <= 4096);
    /* Other memory of the connection counts above the reply buffers only. */
    pbuf_acct_add(&conn, 500);
    assert_int_equal(conn.used, out.used + 500);
    assert_int_equal(top.used, conn.used);
    pbuf_acct_sub(&conn, 500);
    /* A closing connection moves what it holds to another parent. */
    struct pbuf_acct closing = {0, 0, NULL};
    size_t held = conn.used;
    pbuf_acct_reparent(&conn, &closing);
    assert_int_equal(top.used, 0);
    assert_int_equal(closing.used, held);
    pbuf_free(&a);
    pbuf_free(&b);
    assert_int_equal(out.used, 0);
    assert_int_equal(conn.used, 0);
    assert_int_equal(closing.used, 0);
}

/* pbuf_take: a move into an empty buffer hands the memory over; into a full one, the
 * source's bytes stop counting first, so the move succeeds up to the limit. */
static void test_take(void **state)
{
    (void)state;
    struct pbuf_acct out = {0, 3000, NULL};
    struct pbuf dst, src;
    char block[1000];
    init_pair(&dst, &src, &out, block, sizeof(block));
    assert_int_equal(pbuf_append(&src, block, 1000), 0);
    char *mem = src.data;
    assert_int_equal(pbuf_take(&dst, &src), 0);
    assert_ptr_equal(dst.data, mem);
    assert_int_equal(dst.len, 1000);
    assert_int_equal(src.cap, 0);
    assert_int_equal(out.used, dst.cap);
    /* dst holds 1000 (cap 1024), src 1000 (cap 1024): 2048 of 3000 used; appending src to
     * dst needs dst to grow to 2048 while src still holds its 1024. */
    assert_int_equal(pbuf_append(&src, block, 1000), 0);
    assert_int_equal(pbuf_take(&dst, &src), 0);
    assert_int_equal(dst.len, 2000);
    assert_int_equal(out.used, dst.cap);
    assert_int_equal(src.cap, 0);
    /* Past the limit: fails and leaves both as they were. */
    assert_int_equal(pbuf_append(&src, block, 1000), -ENOBUFS);
    pbuf_free(&dst);
    assert_int_equal(out.used, 0);
    assert_int_equal(pbuf_take(&dst, &src), 0); /* empty src: nothing to do */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append),        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_appendf),       cmocka_unit_test(test_limit),
        cmocka_unit_test(test_consume_reset), cmocka_unit_test(test_acct),
        cmocka_unit_test(test_take),          cmocka_unit_test(test_fmt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
