/*
 * test_pbuf.c - unit tests for the bounded growable buffer: appends, formatted appends
 * (short and longer than the internal stack buffer), the limit (an append past it fails
 * with -ENOBUFS and leaves the buffer unchanged), consume and reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "pbuf.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append),        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_appendf),       cmocka_unit_test(test_limit),
        cmocka_unit_test(test_consume_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
