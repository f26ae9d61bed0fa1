/*
 * test_resp.c - unit tests for the RESP parser and encoders.
 *
 * Parser: multibulk and inline forms, every protocol error text, empty commands, the
 * limits, binary-safe bulks, pipelining, the argv-too-small contract, and incremental
 * feeding: every strict prefix of a command gives RESP_MORE with a need that does not
 * overshoot, and the whole command gives the same result as when it arrives at once.
 * Encoders: RESP2 and RESP3 output compared byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define MAXARGS 16

static const struct resp_limits lim = {.max_args = 1000, .max_bulk = 1000, .max_inline = 100};

struct parsed {
    enum resp_status st;
    struct resp_parse_out out;
    struct resp_arg argv[MAXARGS];
    char buf[4096]; /* writable copy of the input; argv points here */
};

static struct parsed *parse_n(const char *in, size_t n, const struct resp_limits *l)
{
    static struct parsed p;
    assert_true(n <= sizeof(p.buf));
    memset(&p, 0, sizeof(p));
    memcpy(p.buf, in, n);
    p.st = resp_parse(p.buf, n, l, p.argv, MAXARGS, &p.out);
    return &p;
}

static struct parsed *parse(const char *in)
{
    return parse_n(in, strlen(in), &lim);
}

static void assert_arg(const struct parsed *p, uint32_t i, const char *s, size_t n)
{
    assert_true(i < p->out.argc);
    assert_int_equal(p->argv[i].len, n);
    assert_memory_equal(p->argv[i].ptr, s, n);
}

#define ARG(p, i, lit) assert_arg((p), (i), (lit), sizeof(lit) - 1)

static void assert_error(const char *in, const char *err)
{
    struct parsed *p = parse(in);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, err);
}

/* Feeds in[0..n) one byte more at a time: every strict prefix must give RESP_MORE with
 * need no larger than the bytes missing; the whole gives RESP_DONE with want_argc. */
static struct parsed *feed_bytewise(const char *in, size_t n, uint32_t want_argc)
{
    for (size_t i = 0; i < n; i++) {
        struct parsed *p = parse_n(in, i, &lim);
        assert_int_equal(p->st, RESP_MORE);
        assert_true(p->out.need >= 1 && p->out.need <= n - i);
    }
    struct parsed *p = parse_n(in, n, &lim);
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->out.consumed, n);
    assert_int_equal(p->out.argc, want_argc);
    return p;
}

static void test_multibulk(void **state)
{
    (void)state;
    struct parsed *p = parse("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->out.argc, 3);
    assert_int_equal(p->out.consumed, 33);
    assert_false(p->out.is_inline);
    ARG(p, 0, "SET");
    ARG(p, 1, "key");
    ARG(p, 2, "value");
    p = parse("*1\r\n$0\r\n\r\n");
    assert_int_equal(p->st, RESP_DONE);
    ARG(p, 0, "");
}

static void test_binary_bulk(void **state)
{
    (void)state;
    static const char in[] = "*2\r\n$3\r\nGET\r\n$7\r\na\0\r\nb\r\n\r\n";
    struct parsed *p = parse_n(in, sizeof(in) - 1, &lim);
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->out.consumed, sizeof(in) - 1);
    ARG(p, 1, "a\0\r\nb\r\n");
}

static void test_empty_multibulk(void **state)
{
    (void)state;
    const char *in[] = {"*0\r\n", "*-1\r\n", "*-5\r\n"};
    for (size_t i = 0; i < 3; i++) {
        struct parsed *p = parse(in[i]);
        assert_int_equal(p->st, RESP_DONE);
        assert_int_equal(p->out.argc, 0);
        assert_int_equal(p->out.consumed, strlen(in[i]));
    }
}

static void test_pipeline(void **state)
{
    (void)state;
    const char *in = "*1\r\n$4\r\nPING\r\n*0\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\n";
    size_t len = strlen(in), pos = 0;
    uint32_t want[] = {1, 0, 2, 2, 0};
    const char *first[] = {"PING", NULL, "ECHO", "GET", NULL};
    for (size_t i = 0; i < 5; i++) {
        struct parsed *p = parse_n(in + pos, len - pos, &lim);
        assert_int_equal(p->st, RESP_DONE);
        assert_int_equal(p->out.argc, want[i]);
        if (first[i])
            assert_arg(p, 0, first[i], strlen(first[i]));
        pos += p->out.consumed;
    }
    assert_int_equal(pos, len);
    assert_int_equal(parse_n(in, 0, &lim)->st, RESP_MORE);
}

static void test_bytewise(void **state)
{
    (void)state;
    static const char mb[] = "*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$10\r\n0123456789\r\n";
    struct parsed *p = feed_bytewise(mb, sizeof(mb) - 1, 3);
    ARG(p, 1, "k\r\n\0");
    ARG(p, 2, "0123456789");
    p = feed_bytewise("SET k \"v w\"\r\n", 13, 3);
    ARG(p, 2, "v w");
    p = feed_bytewise("PING\n", 5, 1);
    ARG(p, 0, "PING");
    feed_bytewise("*0\r\n", 4, 0);
}

static void test_need_large_bulk(void **state)
{
    (void)state;
    /* Header of a 900-byte bulk, 10 bytes of it, and one more argument announced. */
    char in[64];
    int n = snprintf(in, sizeof(in), "*2\r\n$900\r\n0123456789");
    struct parsed *p = parse_n(in, (size_t)n, &lim);
    assert_int_equal(p->st, RESP_MORE);
    /* 890 data bytes + "\r\n" + at least "$0\r\n\r\n" for the second argument. */
    assert_int_equal(p->out.need, 890 + 2 + 6);
    /* Header line split before its '\n'. */
    p = parse_n("*2\r", 3, &lim);
    assert_int_equal(p->st, RESP_MORE);
    assert_int_equal(p->out.need, 1);
}

static void test_multibulk_errors(void **state)
{
    (void)state;
    assert_error("*x\r\n", "Protocol error: invalid multibulk length");
    assert_error("*\r\n", "Protocol error: invalid multibulk length");
    assert_error("*01\r\n", "Protocol error: invalid multibulk length");
    assert_error("*+1\r\n", "Protocol error: invalid multibulk length");
    assert_error("*1001\r\n", "Protocol error: invalid multibulk length");
    assert_error("*99999999999999999999\r\n", "Protocol error: invalid multibulk length");
    assert_error("*1\r\n$x\r\n", "Protocol error: invalid bulk length");
    assert_error("*1\r\n$-1\r\n", "Protocol error: invalid bulk length");
    assert_error("*1\r\n$1001\r\n", "Protocol error: invalid bulk length");
    assert_error("*1\r\n$\r\n", "Protocol error: invalid bulk length");
    assert_error("*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'");
    assert_error("*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'");
    /* At the limit: accepted. */
    struct parsed *p = parse("*1000\r\n");
    assert_int_equal(p->st, RESP_MORE);
    char big[1100];
    int n = snprintf(big, sizeof(big), "*1\r\n$1000\r\n");
    memset(big + n, 'v', 1000);
    memcpy(big + n + 1000, "\r\n", 2);
    p = parse_n(big, (size_t)n + 1002, &lim);
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->argv[0].len, 1000);
}

/* Unauthenticated limits (Redis): at most 10 arguments and 16 KiB bulks, refused as soon
 * as the header line is in, before any data is waited for. */
static void test_unauth_limits(void **state)
{
    (void)state;
    struct resp_limits ul = lim;
    ul.unauth = 1;
    struct parsed *p = parse_n("*11\r\n", 5, &ul);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, "Protocol error: unauthenticated multibulk length");
    /* Redis checks the unauthenticated count before its own multibulk limit. */
    p = parse_n("*5000\r\n", 7, &ul);
    assert_string_equal(p->out.err, "Protocol error: unauthenticated multibulk length");
    p = parse_n("*1\r\n$16385\r\n", 12, &ul);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, "Protocol error: invalid bulk length"); /* > max_bulk */
    ul.max_bulk = 1 << 20;
    p = parse_n("*1\r\n$16385\r\n", 12, &ul);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, "Protocol error: unauthenticated bulk length");
    /* At the limits: accepted (waiting for the data). */
    p = parse_n("*10\r\n", 5, &ul);
    assert_int_equal(p->st, RESP_MORE);
    p = parse_n("*1\r\n$16384\r\n", 12, &ul);
    assert_int_equal(p->st, RESP_MORE);
    assert_int_equal(p->out.need, 16384 + 2);
    /* Authenticated: the same headers are fine. */
    ul.unauth = 0;
    p = parse_n("*1\r\n$16385\r\n", 12, &ul);
    assert_int_equal(p->st, RESP_MORE);
    p = parse_n("*11\r\n", 5, &ul);
    assert_int_equal(p->st, RESP_MORE);
}

static void test_header_too_long(void **state)
{
    (void)state;
    char in[200];
    memset(in, '1', sizeof(in));
    in[0] = '*';
    struct parsed *p = parse_n(in, 100, &lim);
    assert_int_equal(p->st, RESP_MORE);
    p = parse_n(in, 101, &lim);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, "Protocol error: too big mbulk count string");
    memcpy(in, "*1\r\n$", 5);
    p = parse_n(in, 200, &lim);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, "Protocol error: too big bulk count string");
}

static void test_inline(void **state)
{
    (void)state;
    struct parsed *p = parse("  SET   key\tvalue  \r\n");
    assert_int_equal(p->st, RESP_DONE);
    assert_true(p->out.is_inline);
    assert_int_equal(p->out.argc, 3);
    ARG(p, 0, "SET");
    ARG(p, 1, "key");
    ARG(p, 2, "value");
    p = parse("PING\n");
    assert_int_equal(p->out.consumed, 5);
    ARG(p, 0, "PING");
    p = parse("\r\n");
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->out.argc, 0);
    assert_int_equal(p->out.consumed, 2);
    p = parse("   \n");
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->out.argc, 0);
}

static void test_inline_quotes(void **state)
{
    (void)state;
    struct parsed *p = parse("SET \"a\\x41\\n\\r\\t\\b\\a\\\\\\\"z\\q\" 'it\\'s \"x\"' \"\"\r\n");
    assert_int_equal(p->st, RESP_DONE);
    assert_int_equal(p->out.argc, 4);
    ARG(p, 1, "aA\n\r\t\b\a\\\"zq");
    ARG(p, 2, "it's \"x\"");
    ARG(p, 3, "");
    /* Quotes inside a word open a quoted part of the same argument. */
    p = parse("a\"b c\"d\n");
    assert_int_equal(p->st, RESP_ERROR);
    p = parse("a\"b c\" d\n");
    assert_int_equal(p->out.argc, 2);
    ARG(p, 0, "ab c");
    /* \x with bad hex digits is an ordinary escape of 'x'. */
    p = parse("\"\\xzz\"\n");
    ARG(p, 0, "xzz");
    p = parse("'a\\nb'\n");
    ARG(p, 0, "a\\nb");
}

static void test_inline_errors(void **state)
{
    (void)state;
    const char *bad[] = {"SET \"abc\n", "SET 'abc\n", "SET \"a\"b\n", "SET 'a'b\n",
                         "GET \"a\\\"\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error(bad[i], "Protocol error: unbalanced quotes in request");
    char in[200];
    memset(in, 'a', sizeof(in));
    struct parsed *p = parse_n(in, 100, &lim);
    assert_int_equal(p->st, RESP_MORE);
    p = parse_n(in, 101, &lim);
    assert_int_equal(p->st, RESP_ERROR);
    assert_string_equal(p->out.err, "Protocol error: too big inline request");
    /* A line of exactly max_inline bytes is accepted, one more is not. */
    in[100] = '\n';
    p = parse_n(in, 101, &lim);
    assert_int_equal(p->st, RESP_DONE);
    in[100] = 'a';
    in[101] = '\n';
    p = parse_n(in, 102, &lim);
    assert_int_equal(p->st, RESP_ERROR);
}

static void test_argv_grow(void **state)
{
    (void)state;
    char in[512];
    size_t n = (size_t)snprintf(in, sizeof(in), "*20\r\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "$2\r\n%02d\r\n", i);
    /* Partial: an ordinary RESP_MORE, no request to grow. */
    struct parsed *p = parse_n(in, n - 1, &lim);
    assert_int_equal(p->st, RESP_MORE);
    assert_int_equal(p->out.argc, 0);
    assert_true(p->out.need > 0);
    /* Whole, argv of 16: asks for 20. */
    p = parse_n(in, n, &lim);
    assert_int_equal(p->st, RESP_MORE);
    assert_int_equal(p->out.need, 0);
    assert_int_equal(p->out.argc, 20);
    struct resp_arg argv[20];
    struct resp_parse_out out;
    assert_int_equal(resp_parse(in, n, &lim, argv, 20, &out), RESP_DONE);
    assert_int_equal(out.argc, 20);
    assert_memory_equal(argv[19].ptr, "19", 2);
    /* Inline: buf is not touched until argv is large enough. */
    char line[] = "a \"b\\x41\" c\n";
    assert_int_equal(resp_parse(line, strlen(line), &lim, argv, 2, &out), RESP_MORE);
    assert_int_equal(out.argc, 3);
    assert_string_equal(line, "a \"b\\x41\" c\n");
    assert_int_equal(resp_parse(line, strlen(line), &lim, argv, 3, &out), RESP_DONE);
    assert_int_equal(argv[1].len, 2);
    assert_memory_equal(argv[1].ptr, "bA", 2);
}

/* ---- encoders ---- */

static struct pbuf ob;

static void expect_n(const char *s, size_t n)
{
    assert_int_equal(ob.len, n);
    assert_memory_equal(ob.data, s, n);
    pbuf_reset(&ob);
}

static void expect(const char *s)
{
    expect_n(s, strlen(s));
}

static void test_encode_common(void **state)
{
    (void)state;
    pbuf_init(&ob, 0);
    resp_w_simple(&ob, "OK");
    expect("+OK\r\n");
    resp_w_simple(&ob, "a\r\nb");
    expect("+a  b\r\n");
    resp_w_error(&ob, "ERR bad\nthing");
    expect("-ERR bad thing\r\n");
    resp_w_errorf(&ob, "ERR unknown command '%s'", "FOO");
    expect("-ERR unknown command 'FOO'\r\n");
    resp_w_int(&ob, -42);
    expect(":-42\r\n");
    resp_w_int(&ob, INT64_MIN);
    expect(":-9223372036854775808\r\n");
    resp_w_int(&ob, INT64_MAX);
    expect(":9223372036854775807\r\n");
    resp_w_int(&ob, 0);
    expect(":0\r\n");
    resp_w_int(&ob, 10);
    expect(":10\r\n");
    resp_w_array(&ob, 1000);
    expect("*1000\r\n");
    resp_w_array(&ob, 0);
    expect("*0\r\n");
    resp_w_bulk(&ob, "0123456789", 10);
    expect("$10\r\n0123456789\r\n");
    resp_w_bulk(&ob, "a\0b", 3);
    expect_n("$3\r\na\0b\r\n", 9);
    resp_w_bulk(&ob, NULL, 0);
    expect("$0\r\n\r\n");
    resp_w_cstr(&ob, "hi");
    expect("$2\r\nhi\r\n");
    resp_w_array(&ob, 3);
    expect("*3\r\n");
    pbuf_free(&ob);
}

static void test_encode_resp2(void **state)
{
    (void)state;
    pbuf_init(&ob, 0);
    resp_w_null(&ob, 2);
    expect("$-1\r\n");
    resp_w_null_array(&ob, 2);
    expect("*-1\r\n");
    resp_w_map(&ob, 2, 2);
    expect("*4\r\n");
    resp_w_set(&ob, 2, 5);
    expect("*5\r\n");
    resp_w_double(&ob, 2, 1.5);
    expect("$3\r\n1.5\r\n");
    resp_w_double(&ob, 2, 0.1);
    expect("$19\r\n0.10000000000000001\r\n");
    resp_w_double(&ob, 2, INFINITY);
    expect("$3\r\ninf\r\n");
    resp_w_double(&ob, 2, -INFINITY);
    expect("$4\r\n-inf\r\n");
    resp_w_bool(&ob, 2, 1);
    expect(":1\r\n");
    resp_w_bool(&ob, 2, 0);
    expect(":0\r\n");
    resp_w_verbatim(&ob, 2, "txt", "hello", 5);
    expect("$5\r\nhello\r\n");
    pbuf_free(&ob);
}

static void test_encode_resp3(void **state)
{
    (void)state;
    pbuf_init(&ob, 0);
    resp_w_null(&ob, 3);
    expect("_\r\n");
    resp_w_null_array(&ob, 3);
    expect("_\r\n");
    resp_w_map(&ob, 3, 2);
    expect("%2\r\n");
    resp_w_set(&ob, 3, 5);
    expect("~5\r\n");
    resp_w_double(&ob, 3, 3.0);
    expect(",3\r\n");
    resp_w_double(&ob, 3, -0.5);
    expect(",-0.5\r\n");
    resp_w_double(&ob, 3, 1e300);
    expect(",1.0000000000000001e+300\r\n");
    resp_w_double(&ob, 3, INFINITY);
    expect(",inf\r\n");
    resp_w_double(&ob, 3, -INFINITY);
    expect(",-inf\r\n");
    resp_w_double(&ob, 3, NAN);
    expect(",nan\r\n");
    resp_w_bool(&ob, 3, 1);
    expect("#t\r\n");
    resp_w_bool(&ob, 3, 0);
    expect("#f\r\n");
    resp_w_verbatim(&ob, 3, "txt", "hello", 5);
    expect("=9\r\ntxt:hello\r\n");
    resp_w_verbatim(&ob, 3, "mkd", "", 0);
    expect("=4\r\nmkd:\r\n");
    pbuf_free(&ob);
}

static void test_encode_limit(void **state)
{
    (void)state;
    pbuf_init(&ob, 8);
    assert_int_equal(resp_w_bulk(&ob, "0123456789", 10), -ENOBUFS);
    assert_int_equal(ob.len, 0);
    assert_int_equal(resp_w_simple(&ob, "OK"), 0);
    assert_int_equal(resp_w_verbatim(&ob, 3, "txt", "x", 1), -ENOBUFS);
    assert_int_equal(ob.len, 5);
    pbuf_free(&ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk),        cmocka_unit_test(test_binary_bulk),
        cmocka_unit_test(test_empty_multibulk),  cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_bytewise),         cmocka_unit_test(test_need_large_bulk),
        cmocka_unit_test(test_multibulk_errors), cmocka_unit_test(test_unauth_limits),
        cmocka_unit_test(test_header_too_long),  cmocka_unit_test(test_inline),
        cmocka_unit_test(test_inline_quotes),    cmocka_unit_test(test_inline_errors),
        cmocka_unit_test(test_argv_grow),        cmocka_unit_test(test_encode_common),
        cmocka_unit_test(test_encode_resp2),     cmocka_unit_test(test_encode_resp3),
        cmocka_unit_test(test_encode_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
