/*
 * it_redis_strings.c - the string commands, against Redis 7 semantics and exact replies.
 *
 * GET SET (EX PX EXAT PXAT NX XX KEEPTTL GET) SETNX SETEX PSETEX GETSET GETDEL GETEX MGET
 * MSET MSETNX APPEND STRLEN GETRANGE SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT, with
 * their argument errors. Run with TARGET=redis to check the test itself against Redis.
 */
#include "it.h"

static void test_get_set(void)
{
    it_section("GET / SET basics");
    EXPECT_NIL("GET nokey");
    EXPECT_OK("SET k1 v1");
    EXPECT_STR("v1", "GET k1");
    EXPECT_OK("SET k1 v2");
    EXPECT_STR("v2", "GET k1");
    EXPECT_OK("SET empty %s", "");
    EXPECT_STR("", "GET empty");
    EXPECT_INT(0, "STRLEN empty");

    /* Binary-safe values and keys: NUL bytes and CRLF inside. */
    const char bin[] = "a\0b\r\nc";
    redisReply *r = redisCommand(it_c, "SET bin%b %b", "\0\r\n", (size_t)3, bin, sizeof bin - 1);
    it_report(r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, __LINE__,
              "SET with NUL and CRLF in key and value", r, "+OK");
    freeReplyObject(r);
    r = redisCommand(it_c, "GET bin%b", "\0\r\n", (size_t)3);
    it_report(r && r->type == REDIS_REPLY_STRING && r->len == sizeof bin - 1 &&
                  memcmp(r->str, bin, r->len) == 0,
              __LINE__, "GET binary key returns the 6 binary bytes", r, "\"a\\0b\\r\\nc\"");
    freeReplyObject(r);

    /* A 100 KiB value. */
    size_t big_len = 100 * 1024;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) {
        big[i] = (char)('a' + i % 26);
    }
    r = redisCommand(it_c, "SET big %b", big, big_len);
    it_report(r && r->type == REDIS_REPLY_STATUS, __LINE__, "SET big (100 KiB)", r, "+OK");
    freeReplyObject(r);
    r = redisCommand(it_c, "GET big");
    it_report(r && r->type == REDIS_REPLY_STRING && r->len == big_len &&
                  memcmp(r->str, big, big_len) == 0,
              __LINE__, "GET big returns the same 100 KiB", r, "the 100 KiB value");
    freeReplyObject(r);
    free(big);
    EXPECT_INT(102400, "STRLEN big");

    EXPECT_ERR("ERR wrong number of arguments for 'get' command", "GET");
    EXPECT_ERR("ERR wrong number of arguments for 'get' command", "GET a b");
    EXPECT_ERR("ERR wrong number of arguments for 'set' command", "SET a");
    EXPECT_ERR("ERR syntax error", "SET a b c");
    EXPECT_ERR("ERR syntax error", "SET a b NX XX");
    EXPECT_ERR("ERR syntax error", "SET a b EX 10 PX 100");
    EXPECT_ERR("ERR syntax error", "SET a b KEEPTTL EX 10");
    EXPECT_ERR("ERR syntax error", "SET a b EX");
    EXPECT_ERR("ERR value is not an integer or out of range", "SET a b EX ten");
    EXPECT_ERR("ERR invalid expire time in 'set' command", "SET a b EX 0");
    EXPECT_ERR("ERR invalid expire time in 'set' command", "SET a b EX -1");
    EXPECT_ERR("ERR invalid expire time in 'set' command", "SET a b PX 0");
    EXPECT_ERR("ERR invalid expire time in 'set' command", "SET a b PX 9223372036854775807");
    EXPECT_NIL("GET a");
}

static void test_set_options(void)
{
    it_section("SET NX / XX / GET / KEEPTTL / EX PX EXAT PXAT");
    EXPECT_NIL("SET nx1 a XX");
    EXPECT_NIL("GET nx1");
    EXPECT_OK("SET nx1 a NX");
    EXPECT_NIL("SET nx1 b NX");
    EXPECT_STR("a", "GET nx1");
    EXPECT_OK("SET nx1 c XX");
    EXPECT_STR("c", "GET nx1");
    EXPECT_ERR("ERR syntax error", "SET nx1 d NX XX");
    EXPECT_STR("c", "GET nx1");
}

static void test_set_options2(void)
{
    /* SET ... GET returns the old value (nil if none) and sets. */
    EXPECT_NIL("SET g1 first GET");
    EXPECT_STR("first", "GET g1");
    EXPECT_STR("first", "SET g1 second GET");
    EXPECT_STR("second", "GET g1");
    /* NX GET on an existing key: returns old value, does not set (Redis 7). */
    EXPECT_STR("second", "SET g1 third NX GET");
    EXPECT_STR("second", "GET g1");
    EXPECT_NIL("SET g2 v XX GET");
    EXPECT_NIL("GET g2");

    /* EX / PX set a TTL; a plain SET clears it; KEEPTTL keeps it. */
    EXPECT_OK("SET t1 v EX 100");
    long long ttl = it_int("TTL t1");
    CHECK(ttl >= 99 && ttl <= 100, "TTL after SET EX 100 is 99..100 (got %lld)", ttl);
    EXPECT_OK("SET t1 v2");
    EXPECT_INT(-1, "TTL t1");
    EXPECT_OK("SET t1 v PX 100000");
    long long pttl = it_int("PTTL t1");
    CHECK(pttl > 99000 && pttl <= 100000, "PTTL after SET PX 100000 is 99001..100000 (got %lld)",
          pttl);
    EXPECT_OK("SET t1 v3 KEEPTTL");
    ttl = it_int("TTL t1");
    CHECK(ttl >= 99 && ttl <= 100, "SET KEEPTTL keeps the TTL (got %lld)", ttl);
    EXPECT_STR("v3", "GET t1");
    EXPECT_OK("SET t1 v4 XX KEEPTTL");
    ttl = it_int("TTL t1");
    CHECK(ttl >= 99 && ttl <= 100, "SET XX KEEPTTL keeps the TTL (got %lld)", ttl);

    long long now_s = it_now_ms() / 1000;
    EXPECT_OK("SET t2 v EXAT %lld", now_s + 200);
    ttl = it_int("TTL t2");
    CHECK(ttl >= 198 && ttl <= 200, "SET EXAT now+200 gives TTL 198..200 (got %lld)", ttl);
    EXPECT_INT(now_s + 200, "EXPIRETIME t2");
    long long now_ms = it_now_ms();
    EXPECT_OK("SET t3 v PXAT %lld", now_ms + 300000);
    EXPECT_INT(now_ms + 300000, "PEXPIRETIME t3");

    /* The engine keeps expiries up to 2^44 - 1 ms (year 2527) exactly and refuses later
     * ones (Redis keeps them; they were silently cut to 44 bits: the key vanished). */
    if (!it_srv.is_redis) {
        EXPECT_OK("SET far v PXAT 17592186044415");
        EXPECT_INT(17592186044415LL, "PEXPIRETIME far");
        EXPECT_ERR("ERR invalid expire time in 'set' command", "SET far v PXAT 17592186045416");
        EXPECT_ERR("ERR invalid expire time in 'set' command", "SET far v PXAT 35184372088832");
        EXPECT_ERR("ERR invalid expire time in 'expireat' command", "EXPIREAT far 100000000000");
        EXPECT_INT(17592186044415LL, "PEXPIRETIME far");
        EXPECT_STR("v", "GET far");
    }

    /* Expiry: a key set with PX 1000 is gone after 1250 ms (a TTL of 100 ms was
     * shorter than a sync commit's fdatasync can stall on a shared disk). */
    EXPECT_OK("SET short v PX 1000");
    EXPECT_STR("v", "GET short");
    it_sleep_ms(1250);
    EXPECT_NIL("GET short");
    EXPECT_INT(0, "EXISTS short");
    /* EXAT/PXAT in the past: the key is set and immediately expired. */
    EXPECT_OK("SET past v PXAT %lld", it_now_ms() - 1000);
    EXPECT_NIL("GET past");
    /* NX succeeds on a key whose TTL has passed. */
    EXPECT_OK("SET short again NX");
    EXPECT_STR("again", "GET short");
}

static void test_setnx_setex(void)
{
    it_section("SETNX SETEX PSETEX GETSET GETDEL");
    EXPECT_INT(1, "SETNX sn a");
    EXPECT_INT(0, "SETNX sn b");
    EXPECT_STR("a", "GET sn");
    EXPECT_ERR("ERR wrong number of arguments for 'setnx' command", "SETNX sn");

    EXPECT_OK("SETEX se 100 val");
    EXPECT_STR("val", "GET se");
    long long ttl = it_int("TTL se");
    CHECK(ttl >= 99 && ttl <= 100, "TTL after SETEX 100 is 99..100 (got %lld)", ttl);
    EXPECT_ERR("ERR invalid expire time in 'setex' command", "SETEX se 0 val");
    EXPECT_ERR("ERR invalid expire time in 'setex' command", "SETEX se -10 val");
    EXPECT_ERR("ERR value is not an integer or out of range", "SETEX se abc val");
    EXPECT_ERR("ERR wrong number of arguments for 'setex' command", "SETEX se 10");

    EXPECT_OK("PSETEX pse 100000 val");
    long long pttl = it_int("PTTL pse");
    CHECK(pttl > 99000 && pttl <= 100000, "PTTL after PSETEX 100000 (got %lld)", pttl);
    EXPECT_ERR("ERR invalid expire time in 'psetex' command", "PSETEX pse 0 val");

    EXPECT_NIL("GETSET gs one");
    EXPECT_STR("one", "GETSET gs two");
    EXPECT_STR("two", "GET gs");
    EXPECT_OK("SET gs3 x EX 100");
    EXPECT_STR("x", "GETSET gs3 y");
    EXPECT_INT(-1, "TTL gs3");

    EXPECT_OK("SET gd v");
    EXPECT_STR("v", "GETDEL gd");
    EXPECT_NIL("GETDEL gd");
    EXPECT_INT(0, "EXISTS gd");
    EXPECT_ERR("ERR wrong number of arguments for 'getdel' command", "GETDEL");
}

static void test_getex(void)
{
    it_section("GETEX");
    EXPECT_NIL("GETEX nokey");
    EXPECT_NIL("GETEX nokey EX 10");
    EXPECT_INT(0, "EXISTS nokey");
    EXPECT_OK("SET ge v");
    EXPECT_STR("v", "GETEX ge");
    EXPECT_INT(-1, "TTL ge");
    EXPECT_STR("v", "GETEX ge EX 100");
    long long ttl = it_int("TTL ge");
    CHECK(ttl >= 99 && ttl <= 100, "TTL after GETEX EX 100 (got %lld)", ttl);
    EXPECT_STR("v", "GETEX ge PX 50000");
    long long pttl = it_int("PTTL ge");
    CHECK(pttl > 49000 && pttl <= 50000, "PTTL after GETEX PX 50000 (got %lld)", pttl);
    EXPECT_STR("v", "GETEX ge PERSIST");
    EXPECT_INT(-1, "TTL ge");
    EXPECT_STR("v", "GETEX ge EXAT %lld", it_now_ms() / 1000 + 500);
    ttl = it_int("TTL ge");
    CHECK(ttl >= 498 && ttl <= 500, "TTL after GETEX EXAT now+500 (got %lld)", ttl);
    EXPECT_STR("v", "GETEX ge PXAT %lld", it_now_ms() + 600000);
    ttl = it_int("TTL ge");
    CHECK(ttl >= 598 && ttl <= 600, "TTL after GETEX PXAT now+600s (got %lld)", ttl);
    EXPECT_ERR("ERR syntax error", "GETEX ge PERSIST EX 10");
    EXPECT_ERR("ERR syntax error", "GETEX ge foo");
    EXPECT_ERR("ERR invalid expire time in 'getex' command", "GETEX ge EX 0");
    EXPECT_ERR("ERR invalid expire time in 'getex' command", "GETEX ge PX -5");
    EXPECT_ERR("ERR value is not an integer or out of range", "GETEX ge EX x");
    EXPECT_ERR("ERR wrong number of arguments for 'getex' command", "GETEX");
    EXPECT_STR("v", "GET ge");
}

static void test_mget_mset(void)
{
    it_section("MGET MSET MSETNX");
    EXPECT_OK("MSET m1 a m2 b m3 c");
    redisReply *r = KEEP_ARRAYN(4, "MGET m1 m2 nokey m3");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        CHECK(r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "a") == 0,
              "MGET[0] == a");
        CHECK(r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, "b") == 0,
              "MGET[1] == b");
        CHECK(r->element[2]->type == REDIS_REPLY_NIL, "MGET[2] (missing key) is nil");
        CHECK(r->element[3]->type == REDIS_REPLY_STRING && strcmp(r->element[3]->str, "c") == 0,
              "MGET[3] == c");
    }
    freeReplyObject(r);
    EXPECT_OK("MSET m1 x m1 y");
    EXPECT_STR("y", "GET m1");
    EXPECT_ERR("ERR wrong number of arguments for 'mset' command", "MSET m1");
    EXPECT_ERR("ERR wrong number of arguments for 'mset' command", "MSET m1 a m2");
    EXPECT_ERR("ERR wrong number of arguments for 'mget' command", "MGET");

    /* MSETNX is all or nothing. */
    EXPECT_INT(1, "MSETNX n1 a n2 b");
    EXPECT_STR("a", "GET n1");
    EXPECT_INT(0, "MSETNX n3 c n1 z");
    EXPECT_NIL("GET n3");
    EXPECT_STR("a", "GET n1");
    EXPECT_ERR("ERR wrong number of arguments for 'msetnx' command", "MSETNX n4 a n5");

    /* MSET clears TTLs. */
    EXPECT_OK("SET mt v EX 100");
    EXPECT_OK("MSET mt w");
    EXPECT_INT(-1, "TTL mt");
}

static void test_append_range(void)
{
    it_section("APPEND STRLEN GETRANGE SETRANGE");
    EXPECT_INT(5, "APPEND ap hello");
    EXPECT_INT(11, "APPEND ap %s", " world");
    EXPECT_STR("hello world", "GET ap");
    EXPECT_INT(11, "STRLEN ap");
    EXPECT_INT(0, "STRLEN nokey");
    EXPECT_INT(11, "APPEND ap %s", "");
    EXPECT_ERR("ERR wrong number of arguments for 'append' command", "APPEND ap");
    EXPECT_ERR("ERR wrong number of arguments for 'strlen' command", "STRLEN");
    EXPECT_OK("SET apt v EX 100");
    EXPECT_INT(2, "APPEND apt w");
    long long ttl = it_int("TTL apt");
    CHECK(ttl >= 99 && ttl <= 100, "APPEND keeps the TTL (got %lld)", ttl);

    EXPECT_STR("hello world", "GETRANGE ap 0 -1");
    EXPECT_STR("hello", "GETRANGE ap 0 4");
    EXPECT_STR("rld", "GETRANGE ap -3 -1");
    EXPECT_STR("world", "GETRANGE ap 6 100");
    EXPECT_STR("hello world", "GETRANGE ap -100 100");
    EXPECT_STR("", "GETRANGE ap 5 3");
    EXPECT_STR("", "GETRANGE ap 20 30");
    EXPECT_STR("", "GETRANGE nokey 0 -1");
    EXPECT_ERR("ERR value is not an integer or out of range", "GETRANGE ap a 1");
    EXPECT_ERR("ERR wrong number of arguments for 'getrange' command", "GETRANGE ap 0");

    EXPECT_INT(11, "SETRANGE ap 6 WORLD");
    EXPECT_STR("hello WORLD", "GET ap");
    EXPECT_INT(13, "SETRANGE ap 11 !!");
    EXPECT_STR("hello WORLD!!", "GET ap");
    /* Padding with zero bytes past the end, also on a missing key. */
    EXPECT_INT(5, "SETRANGE sr 3 ab");
    redisReply *r = it_cmd("GET sr");
    CHECK(r->type == REDIS_REPLY_STRING && r->len == 5 && memcmp(r->str, "\0\0\0ab", 5) == 0,
          "SETRANGE on a missing key pads with three NUL bytes");
    freeReplyObject(r);
    EXPECT_INT(0, "SETRANGE sr2 0 %s", "");
    EXPECT_INT(0, "EXISTS sr2");
    EXPECT_INT(5, "SETRANGE sr 1 %s", "");
    EXPECT_ERR("ERR offset is out of range", "SETRANGE sr -1 x");
    EXPECT_ERR("ERR value is not an integer or out of range", "SETRANGE sr x x");
    EXPECT_ERR("ERR wrong number of arguments for 'setrange' command", "SETRANGE sr 1");
}

static void test_incr(void)
{
    it_section("INCR DECR INCRBY DECRBY");
    EXPECT_INT(1, "INCR c1");
    EXPECT_INT(2, "INCR c1");
    EXPECT_INT(1, "DECR c1");
    EXPECT_INT(11, "INCRBY c1 10");
    EXPECT_INT(-9, "DECRBY c1 20");
    EXPECT_STR("-9", "GET c1");
    EXPECT_INT(-1, "DECR c2");
    EXPECT_INT(-5, "DECRBY c3 5");
    EXPECT_INT(7, "INCRBY c4 7");
    EXPECT_OK("SET c5 41");
    EXPECT_INT(42, "INCR c5");
    EXPECT_OK("SET c6 v EX 100");
    EXPECT_OK("SET c6 5 KEEPTTL");
    EXPECT_INT(6, "INCR c6");
    long long ttl = it_int("TTL c6");
    CHECK(ttl >= 99 && ttl <= 100, "INCR keeps the TTL (got %lld)", ttl);

    EXPECT_OK("SET s abc");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCR s");
    EXPECT_ERR("ERR value is not an integer or out of range", "DECR s");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCRBY c1 abc");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCRBY c1 1.5");
    EXPECT_ERR("ERR value is not an integer or out of range", "DECRBY c1 9223372036854775808");
    EXPECT_OK("SET s %s", " 1");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCR s");
    EXPECT_OK("SET s %s", "1 ");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCR s");
    EXPECT_OK("SET s 1.0");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCR s");
    EXPECT_OK("SET s 9223372036854775808");
    EXPECT_ERR("ERR value is not an integer or out of range", "INCR s");
    EXPECT_STR("9223372036854775808", "GET s");

    EXPECT_OK("SET max 9223372036854775807");
    EXPECT_ERR("ERR increment or decrement would overflow", "INCR max");
    EXPECT_ERR("ERR increment or decrement would overflow", "INCRBY max 1");
    EXPECT_STR("9223372036854775807", "GET max");
    EXPECT_OK("SET min -9223372036854775808");
    EXPECT_ERR("ERR increment or decrement would overflow", "DECR min");
    EXPECT_ERR("ERR increment or decrement would overflow", "DECRBY min 1");
    EXPECT_INT(-9223372036854775807LL, "INCR min");
    EXPECT_ERR("ERR decrement would overflow", "DECRBY c1 -9223372036854775808");
    EXPECT_ERR("ERR wrong number of arguments for 'incr' command", "INCR");
    EXPECT_ERR("ERR wrong number of arguments for 'incrby' command", "INCRBY c1");
}

static void test_incrbyfloat(void)
{
    it_section("INCRBYFLOAT");
    EXPECT_STR("10.5", "INCRBYFLOAT f1 10.5");
    EXPECT_STR("10.6", "INCRBYFLOAT f1 0.1");
    EXPECT_STR("5.6", "INCRBYFLOAT f1 -5");
    EXPECT_OK("SET f2 5");
    EXPECT_STR("5005", "INCRBYFLOAT f2 5.0e3");
    EXPECT_STR("5", "INCRBYFLOAT f2 -5000");
    EXPECT_STR("5", "GET f2");
    EXPECT_OK("SET f3 3.0");
    EXPECT_STR("3", "INCRBYFLOAT f3 0");
    EXPECT_STR("1.5", "INCRBYFLOAT f4 1.5");
    EXPECT_OK("SET s abc");
    EXPECT_ERR("ERR value is not a valid float", "INCRBYFLOAT s 1");
    EXPECT_ERR("ERR value is not a valid float", "INCRBYFLOAT f1 abc");
    EXPECT_ERR("ERR increment would produce NaN or Infinity", "INCRBYFLOAT f1 inf");
    EXPECT_ERR("ERR wrong number of arguments for 'incrbyfloat' command", "INCRBYFLOAT f1");
    /* A NUL inside the increment or the stored value (issue 11 item 13): strtold stopped at
     * it, so "1\0" "2" counted as 1. */
    EXPECT_ERR("ERR value is not a valid float", "INCRBYFLOAT f1 %b", "1\0002", (size_t)3);
    EXPECT_OK("SET fnul %b", "1\000", (size_t)2);
    EXPECT_ERR("ERR value is not a valid float", "INCRBYFLOAT fnul 1");
    EXPECT_STR("10.6", "INCRBYFLOAT f1 5");
    EXPECT_OK("SET f5 1 EX 100");
    EXPECT_STR("2", "INCRBYFLOAT f5 1");
    long long ttl = it_int("TTL f5");
    CHECK(ttl >= 99 && ttl <= 100, "INCRBYFLOAT keeps the TTL (got %lld)", ttl);
}

int main(void)
{
    it_start("it_redis_strings", NULL);
    test_get_set();
    test_set_options();
    test_set_options2();
    test_setnx_setex();
    test_getex();
    test_mget_mset();
    test_append_range();
    test_incr();
    test_incrbyfloat();
    return it_finish();
}
