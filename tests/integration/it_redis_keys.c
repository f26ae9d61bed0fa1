/*
 * it_redis_keys.c - the key-space commands against Redis 7 semantics and exact replies.
 *
 * DEL UNLINK EXISTS EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST EXPIRETIME
 * PEXPIRETIME SCAN (MATCH COUNT TYPE) KEYS RANDOMKEY TYPE DBSIZE, with TTL rules (-1 no
 * TTL, -2 missing key, negative expire deletes, SET clears, expiry is exact).
 */
#include "it.h"

static void test_del_exists(void)
{
    it_section("DEL UNLINK EXISTS");
    EXPECT_OK("MSET a 1 b 2 c 3 d 4");
    EXPECT_INT(2, "EXISTS a b");
    EXPECT_INT(3, "EXISTS a a a");
    EXPECT_INT(1, "EXISTS a nokey");
    EXPECT_INT(0, "EXISTS nokey");
    EXPECT_INT(2, "DEL a b nokey");
    EXPECT_INT(0, "DEL a");
    EXPECT_NIL("GET a");
    EXPECT_INT(1, "DEL c c");
    EXPECT_INT(1, "UNLINK d nokey");
    EXPECT_INT(0, "EXISTS a b c d");
    EXPECT_ERR("ERR wrong number of arguments for 'del' command", "DEL");
    EXPECT_ERR("ERR wrong number of arguments for 'unlink' command", "UNLINK");
    EXPECT_ERR("ERR wrong number of arguments for 'exists' command", "EXISTS");
    /* A deleted key can be set again. */
    EXPECT_OK("SET a again");
    EXPECT_STR("again", "GET a");
}

static void test_expire(void)
{
    it_section("EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST EXPIRETIME PEXPIRETIME");
    EXPECT_INT(-2, "TTL nokey");
    EXPECT_INT(-2, "PTTL nokey");
    EXPECT_INT(-2, "EXPIRETIME nokey");
    EXPECT_INT(-2, "PEXPIRETIME nokey");
    EXPECT_INT(0, "EXPIRE nokey 100");
    EXPECT_INT(0, "PEXPIRE nokey 100");
    EXPECT_INT(0, "PERSIST nokey");

    EXPECT_OK("SET e v");
    EXPECT_INT(-1, "TTL e");
    EXPECT_INT(-1, "PTTL e");
    EXPECT_INT(-1, "EXPIRETIME e");
    EXPECT_INT(-1, "PEXPIRETIME e");
    EXPECT_INT(0, "PERSIST e");
    EXPECT_INT(1, "EXPIRE e 100");
    long long ttl = it_int("TTL e");
    CHECK(ttl >= 99 && ttl <= 100, "TTL after EXPIRE 100 (got %lld)", ttl);
    long long et = it_int("EXPIRETIME e");
    long long now_s = it_now_ms() / 1000;
    CHECK(et >= now_s + 98 && et <= now_s + 101, "EXPIRETIME is about now+100 (got %lld, now %lld)",
          et, now_s);
    EXPECT_INT(1, "PEXPIRE e 200000");
    long long pttl = it_int("PTTL e");
    CHECK(pttl > 199000 && pttl <= 200000, "PTTL after PEXPIRE 200000 (got %lld)", pttl);
    long long pet = it_int("PEXPIRETIME e");
    long long now_ms = it_now_ms();
    CHECK(pet > now_ms + 198000 && pet <= now_ms + 200000,
          "PEXPIRETIME is about now+200000 ms (got %lld, now %lld)", pet, now_ms);
    EXPECT_INT(1, "PERSIST e");
    EXPECT_INT(-1, "TTL e");
    EXPECT_INT(0, "PERSIST e");

    long long at = it_now_ms() / 1000 + 1000;
    EXPECT_INT(1, "EXPIREAT e %lld", at);
    EXPECT_INT(at, "EXPIRETIME e");
    EXPECT_INT(at * 1000, "PEXPIRETIME e");
    long long pat = it_now_ms() + 2000000;
    EXPECT_INT(1, "PEXPIREAT e %lld", pat);
    EXPECT_INT(pat, "PEXPIRETIME e");
    EXPECT_INT((pat + 500) / 1000, "EXPIRETIME e"); /* Redis rounds */
    EXPECT_INT(0, "EXPIREAT nokey %lld", at);
    EXPECT_INT(0, "PEXPIREAT nokey %lld", pat);

    /* The value survives TTL changes. */
    EXPECT_STR("v", "GET e");

    /* A zero or negative TTL, or a time in the past, deletes the key at once. */
    EXPECT_INT(1, "EXPIRE e -1");
    EXPECT_INT(0, "EXISTS e");
    EXPECT_OK("SET e v");
    EXPECT_INT(1, "PEXPIRE e 0");
    EXPECT_NIL("GET e");
    EXPECT_OK("SET e v");
    EXPECT_INT(1, "EXPIREAT e %lld", it_now_ms() / 1000 - 10);
    EXPECT_INT(-2, "TTL e");
    EXPECT_OK("SET e v");
    EXPECT_INT(1, "PEXPIREAT e 1");
    EXPECT_INT(0, "EXISTS e");

    /* Keys expire on time (1 s: two sync commits must fit before the EXISTS). */
    EXPECT_OK("SET e1 v");
    EXPECT_INT(1, "PEXPIRE e1 1000");
    EXPECT_OK("SET e2 v");
    EXPECT_INT(1, "PEXPIRE e2 100000");
    EXPECT_INT(1, "EXISTS e1");
    it_sleep_ms(1200);
    EXPECT_INT(0, "EXISTS e1");
    EXPECT_NIL("GET e1");
    EXPECT_INT(-2, "PTTL e1");
    EXPECT_INT(1, "EXISTS e2");
    /* EXPIRE NX XX GT LT (Redis 7). */
    EXPECT_OK("SET o v");
    EXPECT_INT(0, "EXPIRE o 100 XX");
    EXPECT_INT(1, "EXPIRE o 100 NX");
    EXPECT_INT(0, "EXPIRE o 200 NX");
    EXPECT_INT(1, "EXPIRE o 200 GT");
    EXPECT_INT(0, "EXPIRE o 50 GT");
    EXPECT_INT(1, "EXPIRE o 50 LT");
    EXPECT_INT(0, "EXPIRE o 500 LT");
    ttl = it_int("TTL o");
    CHECK(ttl >= 49 && ttl <= 50, "TTL after NX/GT/LT dance is 50 (got %lld)", ttl);

    EXPECT_ERR("ERR value is not an integer or out of range", "EXPIRE o abc");
    EXPECT_ERR("ERR value is not an integer or out of range", "PEXPIRE o 1.5");
    EXPECT_ERR("ERR Unsupported option foo", "EXPIRE o 100 foo");
    EXPECT_ERR("ERR invalid expire time in 'expire' command", "EXPIRE o 9223372036854775807");
    EXPECT_ERR("ERR invalid expire time in 'pexpire' command", "PEXPIRE o 9223372036854775807");
    EXPECT_ERR("ERR wrong number of arguments for 'expire' command", "EXPIRE o");
    EXPECT_ERR("ERR wrong number of arguments for 'ttl' command", "TTL");
    EXPECT_ERR("ERR wrong number of arguments for 'persist' command", "PERSIST");
    EXPECT_ERR("ERR wrong number of arguments for 'pexpiretime' command", "PEXPIRETIME");
    EXPECT_INT(1, "EXISTS o");
}

static void scan_all(const char *extra, int *count, int *calls, char seen[][16], int max)
{
    char cursor[32] = "0";
    *count = 0;
    *calls = 0;
    do {
        /* extra is "OPTION value [OPTION value]": split on spaces into arguments. */
        const char *argv[8] = {"SCAN", cursor};
        int argc = 2;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", extra ? extra : "");
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < 8;
             t = strtok_r(NULL, " ", &save)) {
            argv[argc++] = t;
        }
        redisReply *r = redisCommandArgv(it_c, argc, argv, NULL);
        if (r == NULL) {
            CHECK(0, "SCAN got a reply (%s)", it_c->errstr);
            exit(it_finish());
        }
        (*calls)++;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            CHECK(0, "SCAN reply is [cursor, [keys...]]");
            freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            if (*count < max) {
                snprintf(seen[*count], 16, "%s", r->element[1]->element[i]->str);
            }
            (*count)++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && *calls < 100000);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int distinct(char seen[][16], int n)
{
    qsort(seen, (size_t)n, 16, cmp_str);
    int d = n > 0;
    for (int i = 1; i < n; i++) {
        d += strcmp(seen[i], seen[i - 1]) != 0;
    }
    return d;
}

static void test_scan_keys(void)
{
    static char seen[4096][16];
    int n, calls;
    it_section("SCAN KEYS RANDOMKEY DBSIZE TYPE");
    EXPECT_OK("FLUSHDB");
    EXPECT_INT(0, "DBSIZE");
    EXPECT_NIL("RANDOMKEY");
    EXPECT_ARRAYN(0, "KEYS *");
    redisReply *r = it_cmd("SCAN 0");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "0") == 0 &&
              r->element[1]->elements == 0,
          "SCAN 0 on an empty database is [\"0\", []]");
    freeReplyObject(r);

    /* 1000 keys: 500 user:*, 300 item:*, 200 other. */
    for (int i = 0; i < 1000; i++) {
        const char *p = i < 500 ? "user" : i < 800 ? "item" : "misc";
        redisAppendCommand(it_c, "SET %s:%d %d", p, i, i);
    }
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        redisReply *x = NULL;
        if (redisGetReply(it_c, (void **)&x) != REDIS_OK) {
            bad = 1000;
            break;
        }
        bad += x->type != REDIS_REPLY_STATUS;
        freeReplyObject(x);
    }
    CHECK(bad == 0, "1000 pipelined SETs answered +OK (%d not)", bad);
    EXPECT_INT(1000, "DBSIZE");

    scan_all(NULL, &n, &calls, seen, 4096);
    CHECK(distinct(seen, n < 4096 ? n : 4096) == 1000,
          "full SCAN returns each of 1000 keys at least once (%d returned in %d calls)", n, calls);
    scan_all("COUNT 1000", &n, &calls, seen, 4096);
    CHECK(distinct(seen, n < 4096 ? n : 4096) == 1000, "SCAN COUNT 1000 finds all 1000 (%d calls)",
          calls);
    scan_all("MATCH user:*", &n, &calls, seen, 4096);
    CHECK(distinct(seen, n < 4096 ? n : 4096) == 500, "SCAN MATCH user:* finds 500 keys (got %d)",
          distinct(seen, n < 4096 ? n : 4096));
    int bad_prefix = 0;
    for (int i = 0; i < n && i < 4096; i++) {
        bad_prefix += strncmp(seen[i], "user:", 5) != 0;
    }
    CHECK(bad_prefix == 0, "SCAN MATCH user:* returns only user:* keys (%d others)", bad_prefix);
    scan_all("MATCH item:5?? COUNT 50", &n, &calls, seen, 4096);
    CHECK(distinct(seen, n < 4096 ? n : 4096) == 100,
          "SCAN MATCH item:5?? COUNT 50 finds 100 (got %d)", distinct(seen, n < 4096 ? n : 4096));
    scan_all("TYPE string", &n, &calls, seen, 4096);
    CHECK(distinct(seen, n < 4096 ? n : 4096) == 1000, "SCAN TYPE string finds all 1000 (got %d)",
          distinct(seen, n < 4096 ? n : 4096));
    scan_all("TYPE list", &n, &calls, seen, 4096);
    CHECK(n == 0, "SCAN TYPE list finds none (got %d)", n);
    EXPECT_ERR("ERR invalid cursor", "SCAN abc");
    EXPECT_ERR("ERR syntax error", "SCAN 0 COUNT 0");
    EXPECT_ERR("ERR syntax error", "SCAN 0 MATCH");
    EXPECT_ERR("ERR value is not an integer or out of range", "SCAN 0 COUNT x");
    EXPECT_ERR("ERR syntax error", "SCAN 0 FOO bar");
    EXPECT_ERR("ERR wrong number of arguments for 'scan' command", "SCAN");

    r = KEEP_ARRAYN(1000, "KEYS *");
    freeReplyObject(r);
    EXPECT_ARRAYN(300, "KEYS item:*");
    EXPECT_ARRAYN(10, "KEYS misc:99?");
    EXPECT_ARRAYN(1, "KEYS user:1");
    EXPECT_ARRAYN(20, "KEYS user:[12]?");
    EXPECT_ARRAYN(0, "KEYS nomatch*");
    EXPECT_ERR("ERR wrong number of arguments for 'keys' command", "KEYS");

    r = it_cmd("RANDOMKEY");
    int ok = r->type == REDIS_REPLY_STRING;
    char key[64] = "";
    if (ok) {
        snprintf(key, sizeof key, "%s", r->str);
    }
    freeReplyObject(r);
    CHECK(ok, "RANDOMKEY returns a bulk string (%s)", key);
    EXPECT_INT(1, "EXISTS %s", key);

    EXPECT_STATUS("string", "TYPE user:1");
    EXPECT_STATUS("none", "TYPE nokey");
    EXPECT_ERR("ERR wrong number of arguments for 'type' command", "TYPE");

    /* Expired keys are not listed. */
    EXPECT_OK("FLUSHDB");
    EXPECT_OK("SET live v");
    EXPECT_OK("SET dying v PX 100");
    it_sleep_ms(250);
    r = KEEP_ARRAYN(1, "KEYS *");
    CHECK(it_array_has(r, "live"), "KEYS * after expiry is [live]");
    freeReplyObject(r);
    scan_all(NULL, &n, &calls, seen, 4096);
    CHECK(n == 1 && strcmp(seen[0], "live") == 0, "SCAN after expiry returns only live (n=%d)", n);
    r = it_cmd("RANDOMKEY");
    CHECK(r->type == REDIS_REPLY_STRING && strcmp(r->str, "live") == 0,
          "RANDOMKEY with one live key returns it");
    freeReplyObject(r);
    /* DBSIZE counts keys the expiry sweep (ls_tick, a bounded step every tick) has not
     * removed yet, as Redis's does: give the sweep up to 2 s on a loaded machine. */
    for (int i = 0; i < 40; i++) {
        r = it_cmd("DBSIZE");
        long long n_keys = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (n_keys == 1)
            break;
        it_sleep_ms(50);
    }
    EXPECT_INT(1, "DBSIZE");
}

int main(void)
{
    it_start("it_redis_keys", NULL);
    test_del_exists();
    test_expire();
    test_scan_keys();
    return it_finish();
}
