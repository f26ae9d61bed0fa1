/*
 * test_mc.c - unit tests for the memcached parser and reply helpers: every classic
 * command form, noreply, the error texts and how many bytes each error skips, storage
 * commands with their data block split across reads (byte by byte), swallowing of
 * too-large values, pipelining, limits, and meta commands with and without flag tokens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mc.h"

static const struct mc_limits lim = {.max_value = 100, .max_line = 2048};
static struct mc_cmd cmd;
static struct mc_parse_out out;

static enum mc_status parse_n(const char *in, size_t n)
{
    return mc_parse(in, n, &lim, &cmd, &out);
}

static enum mc_status parse(const char *in)
{
    return parse_n(in, strlen(in));
}

static void assert_str(struct mc_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* in must give MC_ERROR with err and skip the whole input. */
static void assert_err(const char *in, const char *err)
{
    assert_int_equal(parse(in), MC_ERROR);
    assert_string_equal(out.err, err);
    assert_int_equal(out.consumed, strlen(in));
}

/* Every strict prefix gives MC_MORE with a need that does not overshoot; the whole gives
 * MC_DONE consuming all of it. */
static void feed_bytewise(const char *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(parse_n(in, i), MC_MORE);
        assert_true(out.need >= 1 && out.need <= n - i);
    }
    assert_int_equal(parse_n(in, n), MC_DONE);
    assert_int_equal(out.consumed, n);
}

static void test_get(void **state)
{
    (void)state;
    assert_int_equal(parse("get foo\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_GET);
    assert_int_equal(cmd.nkeys, 1);
    assert_str(cmd.keys[0], "foo");
    assert_int_equal(out.consumed, 9);
    assert_int_equal(parse("gets  a  b c\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_GETS);
    assert_int_equal(cmd.nkeys, 3);
    assert_str(cmd.keys[2], "c");
    assert_int_equal(parse("gat 30 a b\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_GAT);
    assert_int_equal(cmd.exptime, 30);
    assert_int_equal(cmd.nkeys, 2);
    assert_int_equal(parse("gats -1 k\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_GATS);
    assert_int_equal(cmd.exptime, -1);
    assert_err("get\r\n", "ERROR");
    assert_err("gat 10x k\r\n", "CLIENT_ERROR invalid exptime argument");
    assert_err("get a\x01 b\r\n", "CLIENT_ERROR bad command line format");
}

static void test_get_many_keys(void **state)
{
    (void)state;
    static char line[MC_MAX_KEYS * 4 + 32];
    size_t n = (size_t)snprintf(line, sizeof(line), "get");
    for (int i = 0; i < MC_MAX_KEYS; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %03d", i);
    memcpy(line + n, "\r\n", 3);
    assert_int_equal(parse(line), MC_DONE);
    assert_int_equal(cmd.nkeys, MC_MAX_KEYS);
    assert_int_equal(cmd.more, 0);
    assert_str(cmd.keys[MC_MAX_KEYS - 1], "255");
    /* One key more: two pieces, the second with the last key and the end of the line. */
    memcpy(line + n, " 999\r\n", 7);
    assert_int_equal(parse(line), MC_DONE);
    assert_int_equal(cmd.nkeys, MC_MAX_KEYS);
    assert_int_equal(cmd.more, 1);
    assert_int_equal(out.consumed, n); /* the next piece starts at " 999" */
    size_t pos = out.consumed;
    assert_int_equal(parse(line + pos), MC_DONE);
    assert_int_equal(cmd.op, MC_GET);
    assert_int_equal(cmd.nkeys, 1);
    assert_int_equal(cmd.more, 0);
    assert_str(cmd.keys[0], "999");
    assert_int_equal(pos + out.consumed, strlen(line));
    assert_int_equal(parse("get a\r\n"), MC_DONE); /* the state is back to normal */
    assert_int_equal(cmd.nkeys, 1);
}

/* A get line far longer than max_line, fed as a stream: every key comes back once, in
 * order, in pieces of at most max_line bytes, and only the last piece ends the line. */
static void test_get_long_line(void **state)
{
    (void)state;
    enum { NK = 3000 };
    static char line[NK * 12 + 32];
    size_t n = (size_t)snprintf(line, sizeof(line), "gats 77");
    for (int i = 0; i < NK; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " key_%d", i);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "  \r\nmn\r\n");
    size_t pos = 0, got = 0, pieces = 0;
    for (;;) {
        /* at most two reads' worth buffered, as conn.c holds */
        size_t avail = n - pos < 3000 ? n - pos : 3000;
        enum mc_status st = parse_n(line + pos, avail);
        assert_int_equal(st, MC_DONE);
        assert_true(out.consumed > 0 && out.consumed <= 2048 + 2);
        pos += out.consumed;
        pieces++;
        assert_int_equal(cmd.op, MC_GATS);
        assert_int_equal(cmd.exptime, 77);
        for (uint32_t i = 0; i < cmd.nkeys; i++) {
            char want[16];
            snprintf(want, sizeof(want), "key_%zu", got++);
            assert_str(cmd.keys[i], want);
        }
        if (!cmd.more)
            break;
    }
    assert_int_equal(got, NK);
    assert_true(pieces > 10);
    assert_int_equal(parse_n(line + pos, n - pos), MC_DONE);
    assert_int_equal(cmd.op, MC_MN);
}

/* A bad key in a piece: one CLIENT_ERROR, the rest of the line dropped silently. */
static void test_get_long_line_bad_key(void **state)
{
    (void)state;
    static char line[6000];
    memset(line, 'k', sizeof(line));
    memcpy(line, "get a ", 6);
    for (size_t i = 10; i < 5000; i += 10)
        line[i] = ' ';
    line[3000] = '\x01';
    memcpy(line + 5000, "\r\nmn\r\n", 6);
    size_t n = 5006, pos = 0;
    int errors = 0, silent = 0;
    for (;;) {
        size_t avail = n - pos < 3000 ? n - pos : 3000;
        enum mc_status st = parse_n(line + pos, avail);
        if (st == MC_DONE && cmd.op == MC_MN)
            break;
        if (st == MC_ERROR) {
            assert_true(out.consumed > 0);
            if (out.err) {
                assert_string_equal(out.err, "CLIENT_ERROR bad command line format");
                errors++;
            } else {
                silent++;
            }
        } else {
            assert_int_equal(st, MC_DONE);
            assert_int_equal(cmd.more, 1);
        }
        pos += out.consumed;
    }
    assert_int_equal(errors, 1);
    assert_true(silent >= 1);
}

static void test_key_length(void **state)
{
    (void)state;
    char line[600];
    char key[MC_MAX_KEY + 2];
    memset(key, 'k', sizeof(key));
    key[MC_MAX_KEY] = '\0';
    snprintf(line, sizeof(line), "get %s\r\n", key);
    assert_int_equal(parse(line), MC_DONE);
    assert_int_equal(cmd.keys[0].len, MC_MAX_KEY);
    key[MC_MAX_KEY] = 'k';
    key[MC_MAX_KEY + 1] = '\0';
    snprintf(line, sizeof(line), "get %s\r\n", key);
    assert_err(line, "CLIENT_ERROR bad command line format");
    snprintf(line, sizeof(line), "set %s 0 0 1\r\n", key);
    /* The line alone is skipped: memcached reads the block as the next command. */
    assert_int_equal(parse(line), MC_ERROR);
    assert_int_equal(out.consumed, strlen(line));
}

static void test_set_family(void **state)
{
    (void)state;
    const char *names[] = {"set", "add", "replace", "append", "prepend"};
    enum mc_op ops[] = {MC_SET, MC_ADD, MC_REPLACE, MC_APPEND, MC_PREPEND};
    for (int i = 0; i < 5; i++) {
        char line[64];
        size_t n = (size_t)snprintf(line, sizeof(line), "%s k 7 60 5\r\n", names[i]);
        memcpy(line + n, "he\0lo\r\nget k\r\n", 14);
        n += 7;
        assert_int_equal(parse_n(line, n + 7), MC_DONE);
        assert_int_equal(cmd.op, ops[i]);
        assert_str(cmd.keys[0], "k");
        assert_int_equal(cmd.flags, 7);
        assert_int_equal(cmd.exptime, 60);
        assert_int_equal(cmd.data.len, 5);
        assert_int_equal(cmd.noreply, 0);
        assert_int_equal(out.consumed, n);
    }
    assert_int_equal(parse("set k 4294967295 -1 0 noreply\r\n\r\n"), MC_DONE);
    assert_int_equal(cmd.flags, 4294967295u);
    assert_int_equal(cmd.exptime, -1);
    assert_int_equal(cmd.data.len, 0);
    assert_int_equal(cmd.noreply, 1);
}

static void test_set_binary(void **state)
{
    (void)state;
    static const char in[] = "set k 0 0 6\r\na\r\n\0\r\n\r\n";
    assert_int_equal(parse_n(in, sizeof(in) - 1), MC_DONE);
    assert_int_equal(cmd.data.len, 6);
    assert_memory_equal(cmd.data.ptr, "a\r\n\0\r\n", 6);
    feed_bytewise(in, sizeof(in) - 1);
}

static void test_cas(void **state)
{
    (void)state;
    assert_int_equal(parse("cas k 1 2 3 18446744073709551615\r\nabc\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_CAS);
    assert_true(cmd.cas == UINT64_MAX);
    assert_str(cmd.data, "abc");
    assert_int_equal(parse("cas k 1 2 3 99 noreply\r\nabc\r\n"), MC_DONE);
    assert_int_equal(cmd.cas, 99);
    assert_int_equal(cmd.noreply, 1);
    assert_err("cas k 1 2 3\r\n", "ERROR");
    assert_err("cas k 1 2 3 x\r\n", "CLIENT_ERROR bad command line format");
    assert_err("cas k 1 2 3 18446744073709551616\r\n", "CLIENT_ERROR bad command line format");
}

static void test_storage_errors(void **state)
{
    (void)state;
    assert_err("set k 0 0\r\n", "ERROR");
    assert_err("set k 0 0 1 noreply extra\r\n", "ERROR");
    assert_err("set k x 0 1\r\n", "CLIENT_ERROR bad command line format");
    assert_err("set k 4294967296 0 1\r\n", "CLIENT_ERROR bad command line format");
    assert_err("set k 0 x 1\r\n", "CLIENT_ERROR bad command line format");
    assert_err("set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format");
    assert_err("set k 0 0 2147483648\r\n", "CLIENT_ERROR bad command line format");
    assert_int_equal(parse("set k 0 0 x noreply\r\n"), MC_ERROR);
    assert_int_equal(cmd.noreply, 1);
    /* Bad chunk: the announced block and two bytes are skipped. */
    assert_int_equal(parse("set k 0 0 3\r\nabcXYget k\r\n"), MC_ERROR);
    assert_string_equal(out.err, "CLIENT_ERROR bad data chunk");
    assert_int_equal(out.consumed, 18);
}

static void test_too_large(void **state)
{
    (void)state;
    /* max_value is 100: 101 bytes are swallowed, even those not received yet. */
    const char *line = "set k 0 0 101\r\n";
    assert_int_equal(parse(line), MC_ERROR);
    assert_string_equal(out.err, "SERVER_ERROR object too large for cache");
    assert_int_equal(out.consumed, strlen(line) + 103);
    assert_int_equal(out.need, 103);
    assert_int_equal(parse("set k 0 0 100\r\n"), MC_MORE);
    assert_int_equal(out.need, 102);
}

static void test_split_reads(void **state)
{
    (void)state;
    const char *in = "set key 1 0 10 noreply\r\n0123456789\r\n";
    feed_bytewise(in, strlen(in));
    assert_int_equal(cmd.noreply, 1);
    assert_str(cmd.data, "0123456789");
    in = "ms key 3 T10 F5\r\nabc\r\n";
    feed_bytewise(in, strlen(in));
    assert_str(cmd.data, "abc");
    feed_bytewise("get a b\r\n", 9);
    /* The line arrived, the block not yet: need is the rest of the block. */
    assert_int_equal(parse("set k 0 0 10\r\n0123"), MC_MORE);
    assert_int_equal(out.need, 8);
}

static void test_pipeline(void **state)
{
    (void)state;
    const char *in = "set a 0 0 1\r\nx\r\nget a\r\nbogus\r\ndelete a\r\nincr n 5\r\n";
    enum mc_op ops[] = {MC_SET, MC_GET, MC_GET, MC_DELETE, MC_INCR};
    size_t pos = 0, len = strlen(in);
    for (int i = 0; i < 5; i++) {
        enum mc_status st = parse_n(in + pos, len - pos);
        if (i == 2) {
            assert_int_equal(st, MC_ERROR);
            assert_string_equal(out.err, "ERROR");
        } else {
            assert_int_equal(st, MC_DONE);
            assert_int_equal(cmd.op, ops[i]);
        }
        pos += out.consumed;
    }
    assert_int_equal(pos, len);
}

static void test_delete(void **state)
{
    (void)state;
    assert_int_equal(parse("delete k\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_DELETE);
    assert_str(cmd.keys[0], "k");
    assert_int_equal(parse("delete k noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.noreply, 1);
    assert_int_equal(parse("delete k 0\r\n"), MC_DONE);
    assert_int_equal(cmd.noreply, 0);
    assert_int_equal(parse("delete k 0 noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.noreply, 1);
    const char *usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
    assert_err("delete k 5\r\n", usage);
    assert_err("delete k 5 noreply\r\n", usage);
    assert_err("delete k 0 x\r\n", usage);
    assert_err("delete\r\n", "ERROR");
    assert_err("delete a b c d\r\n", "ERROR");
}

static void test_incr_decr_touch(void **state)
{
    (void)state;
    assert_int_equal(parse("incr n 18446744073709551615\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_INCR);
    assert_true(cmd.delta == UINT64_MAX);
    assert_int_equal(parse("decr n 3 noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_DECR);
    assert_int_equal(cmd.delta, 3);
    assert_int_equal(cmd.noreply, 1);
    const char *bad = "CLIENT_ERROR invalid numeric delta argument";
    assert_err("incr n -1\r\n", bad);
    assert_err("incr n 18446744073709551616\r\n", bad);
    assert_err("decr n abc\r\n", bad);
    assert_err("incr n\r\n", "ERROR");
    assert_int_equal(parse("touch k 100 noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_TOUCH);
    assert_int_equal(cmd.exptime, 100);
    assert_int_equal(cmd.noreply, 1);
    assert_err("touch k x\r\n", "CLIENT_ERROR invalid exptime argument");
    assert_err("touch k\r\n", "ERROR");
}

static void test_misc_commands(void **state)
{
    (void)state;
    assert_int_equal(parse("flush_all\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_FLUSH_ALL);
    assert_int_equal(cmd.exptime, 0);
    assert_int_equal(parse("flush_all 10 noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.exptime, 10);
    assert_int_equal(cmd.noreply, 1);
    assert_int_equal(parse("flush_all noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.noreply, 1);
    assert_err("flush_all x\r\n", "CLIENT_ERROR invalid exptime argument");
    assert_int_equal(parse("stats\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_STATS);
    assert_int_equal(cmd.arg.len, 0);
    assert_int_equal(parse("stats detail on\r\n"), MC_DONE);
    assert_str(cmd.arg, "detail on");
    assert_int_equal(parse("version\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_VERSION);
    assert_int_equal(parse("quit\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_QUIT);
    assert_int_equal(parse("verbosity 1 noreply\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_VERBOSITY);
    assert_str(cmd.arg, "1");
    assert_int_equal(cmd.noreply, 1);
    /* a bad level: CLIENT_ERROR, suppressed by noreply ("verbosity noreply" is one) */
    assert_err("verbosity invalid\r\n", "CLIENT_ERROR bad command line format");
    assert_err("verbosity noreply\r\n", "CLIENT_ERROR bad command line format");
    assert_int_equal(cmd.noreply, 1);
    assert_err("verbosity\r\n", "ERROR");
    assert_int_equal(parse("slabs automove 1\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_SLABS_AUTOMOVE);
    assert_err("slabs automove invalid\r\n", "CLIENT_ERROR bad command line format");
    assert_err("slabs automove 3\r\n", "ERROR");
    /* a length memcached cannot add 2 to is a bad command line, nothing swallowed */
    assert_err("set k 0 0 2147483647\r\n", "CLIENT_ERROR bad command line format");
    assert_err("ms k 2147483646\r\n", "CLIENT_ERROR bad command line format");
}

static void test_unknown_and_lines(void **state)
{
    (void)state;
    /* An HTTP request line: close without a reply, as memcached does. */
    assert_int_equal(parse("GET / HTTP/1.0\r\n"), MC_ERROR);
    assert_null(out.err);
    assert_int_equal(out.consumed, 0);
    assert_int_equal(parse("DELETE HTTP/1.1\r\n"), MC_ERROR);
    assert_int_equal(out.consumed, 0);
    assert_err("bogus\r\n", "ERROR");
    assert_err("GET k\r\n", "ERROR");
    assert_err("\r\n", "ERROR");
    assert_err("\n", "ERROR");
    assert_err("get\tk\r\n", "ERROR");
    assert_int_equal(parse("get k"), MC_MORE);
    assert_int_equal(parse(""), MC_MORE);
    /* No newline within max_line: close (consumed 0). */
    static char big[4000];
    memset(big, 'a', sizeof(big));
    assert_int_equal(parse_n(big, 2048), MC_MORE);
    assert_int_equal(parse_n(big, 2049), MC_ERROR);
    assert_int_equal(out.consumed, 0);
    /* A line of max_line bytes is accepted, one more is not. */
    memcpy(big, "get ", 4);
    big[2048] = '\n';
    assert_int_equal(parse_n(big, 2049), MC_ERROR);
    assert_string_equal(out.err, "CLIENT_ERROR bad command line format"); /* key too long */
    assert_true(out.consumed == 2049);
    /* A get line goes on past max_line (in pieces): here its first key is too long, so
     * the first piece is the error and the rest of the line is dropped without a reply. */
    big[2048] = 'a';
    big[2049] = '\n';
    assert_int_equal(parse_n(big, 2050), MC_ERROR);
    assert_string_equal(out.err, "CLIENT_ERROR bad command line format");
    assert_int_equal(out.consumed, 2048);
    assert_int_equal(parse_n(big + 2048, 2), MC_ERROR);
    assert_null(out.err);
    assert_int_equal(out.consumed, 2);
    assert_int_equal(parse("mn\r\n"), MC_DONE);
    /* Any other line too long: close (consumed 0). */
    memcpy(big, "set ", 4);
    assert_int_equal(parse_n(big, 2050), MC_ERROR);
    assert_int_equal(out.consumed, 0);
}

static void test_meta(void **state)
{
    (void)state;
    assert_int_equal(parse("mg key v t T30 Oopaque k\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_MG);
    assert_str(cmd.keys[0], "key");
    assert_int_equal(cmd.nmflags, 5);
    assert_int_equal(cmd.mflags[0].f, 'v');
    assert_int_equal(cmd.mflags[0].tok.len, 0);
    assert_int_equal(cmd.mflags[2].f, 'T');
    assert_str(cmd.mflags[2].tok, "30");
    assert_str(cmd.mflags[3].tok, "opaque");
    assert_int_equal(cmd.key_b64, 0);
    assert_int_equal(parse("mg a2V5 b v\r\n"), MC_DONE);
    assert_int_equal(cmd.key_b64, 1);
    assert_int_equal(parse("mg key\r\n"), MC_DONE);
    assert_int_equal(cmd.nmflags, 0);
    assert_int_equal(parse("md key q I\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_MD);
    assert_int_equal(parse("ma key N0 D5 MI\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_MA);
    assert_str(cmd.mflags[2].tok, "I");
    assert_int_equal(parse("mn\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_MN);
    assert_int_equal(parse("me key\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_ME);
    assert_int_equal(parse("ms key 2 T0 F5 I\r\nhi\r\n"), MC_DONE);
    assert_int_equal(cmd.op, MC_MS);
    assert_str(cmd.data, "hi");
    assert_int_equal(cmd.nmflags, 3);
    assert_str(cmd.mflags[1].tok, "5");
    assert_int_equal(parse("ms key 0\r\n\r\n"), MC_DONE);
    assert_int_equal(cmd.data.len, 0);
}

static void test_meta_errors(void **state)
{
    (void)state;
    assert_err("mg\r\n", "ERROR");
    assert_err("mg key v v\r\n", "CLIENT_ERROR duplicate flag");
    assert_err("mg key 1\r\n", "CLIENT_ERROR invalid flag");
    assert_err("mg key x\r\n", "CLIENT_ERROR invalid flag");
    assert_err("mg key Q\r\n", "CLIENT_ERROR invalid flag");
    assert_err("mg key s v s\r\n", "CLIENT_ERROR duplicate flag");
    assert_err("mx key\r\n", "ERROR");
    assert_err("ms key\r\n", "CLIENT_ERROR bad command line format");
    assert_err("ms key x\r\n", "CLIENT_ERROR bad command line format");
    assert_err("ms key -1\r\n", "CLIENT_ERROR bad command line format");
    char line[200];
    size_t n = (size_t)snprintf(line, sizeof(line), "mg key");
    for (char f = 'a'; f < 'a' + 22; f++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %c", f);
    snprintf(line + n, sizeof(line) - n, "\r\n");
    assert_err(line, "CLIENT_ERROR options flags are too long");
    /* ms errors after the length swallow the block. */
    assert_int_equal(parse("ms key 3 v v\r\nabc\r\nmn\r\n"), MC_ERROR);
    assert_string_equal(out.err, "CLIENT_ERROR duplicate flag");
    assert_int_equal(out.consumed, 19);
    assert_int_equal(parse("ms key 101 T0\r\n"), MC_ERROR);
    assert_string_equal(out.err, "SERVER_ERROR object too large for cache");
    assert_int_equal(out.consumed, 15 + 103);
    assert_int_equal(out.need, 103);
    assert_int_equal(parse("ms key 3\r\nabcde"), MC_ERROR);
    assert_string_equal(out.err, "CLIENT_ERROR bad data chunk");
    assert_int_equal(out.consumed, 15);
}

static void test_replies(void **state)
{
    (void)state;
    struct pbuf o;
    uint64_t cas = 12345;
    pbuf_init(&o, 0);
    assert_int_equal(mc_w_value(&o, "key", 3, 5, "a\0b", 3, NULL), 0);
    assert_int_equal(o.len, 20);
    assert_memory_equal(o.data, "VALUE key 5 3\r\na\0b\r\n", 20);
    pbuf_reset(&o);
    assert_int_equal(mc_w_value(&o, "k", 1, 0, "", 0, &cas), 0);
    assert_int_equal(o.len, 21);
    assert_memory_equal(o.data, "VALUE k 0 0 12345\r\n\r\n", 21);
    pbuf_reset(&o);
    assert_int_equal(mc_w_line(&o, "END"), 0);
    assert_int_equal(o.len, 5);
    assert_memory_equal(o.data, "END\r\n", 5);
    pbuf_free(&o);
    pbuf_init(&o, 10);
    assert_int_equal(mc_w_value(&o, "key", 3, 5, "abc", 3, NULL), -ENOBUFS);
    assert_int_equal(o.len, 0);
    pbuf_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_many_keys),
        cmocka_unit_test(test_get_long_line),
        cmocka_unit_test(test_get_long_line_bad_key),
        cmocka_unit_test(test_key_length),
        cmocka_unit_test(test_set_family),
        cmocka_unit_test(test_set_binary),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_storage_errors),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_split_reads),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_incr_decr_touch),
        cmocka_unit_test(test_misc_commands),
        cmocka_unit_test(test_unknown_and_lines),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_meta_errors),
        cmocka_unit_test(test_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
