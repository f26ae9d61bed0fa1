/*
 * it_redis_server.c - connection and server commands in RESP2 (hiredis).
 *
 * PING ECHO QUIT HELLO 2 SELECT; CLIENT SETNAME GETNAME ID LIST INFO SETINFO KILL; COMMAND
 * and COMMAND COUNT/DOCS/INFO/LIST; INFO and its sections; CONFIG GET/SET/RESETSTAT;
 * DBSIZE FLUSHDB FLUSHALL TIME TYPE; unknown commands and subcommands. RESP3 and inline
 * commands are in resp3_inline_limits.py (hiredis 0.14 has no RESP3).
 *
 * CLIENT SETINFO appeared in Redis 7.2; against an older redis-server (TARGET=redis with
 * the Debian 7.0 package) those checks are skipped with a message.
 */
#include "it.h"

static void test_ping_echo(void)
{
    it_section("PING ECHO unknown commands");
    EXPECT_STATUS("PONG", "PING");
    EXPECT_STR("hello", "PING hello");
    EXPECT_ERR("ERR wrong number of arguments for 'ping' command", "PING a b");
    EXPECT_STR("hi there", "ECHO %s", "hi there");
    EXPECT_STR("", "ECHO %s", "");
    EXPECT_ERR("ERR wrong number of arguments for 'echo' command", "ECHO");
    EXPECT_ERR("ERR wrong number of arguments for 'echo' command", "ECHO a b");
    EXPECT_ERR("ERR unknown command 'FOO', with args beginning with: ", "FOO");
    EXPECT_ERR("ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ", "foo bar baz");
    /* Commands of real Redis that logstord does not have must be refused the same way. */
    EXPECT_ERRPFX("ERR unknown command 'nosuchcommand'", "nosuchcommand key");
    /* The connection still works after errors. */
    EXPECT_STATUS("PONG", "ping");
    EXPECT_STATUS("PONG", "PiNg");
}

static void test_select_flush(void)
{
    it_section("SELECT DBSIZE FLUSHDB FLUSHALL (databases)");
    EXPECT_OK("FLUSHALL");
    EXPECT_OK("SELECT 0");
    EXPECT_OK("SET k db0");
    EXPECT_OK("SET k0 x");
    EXPECT_OK("SELECT 1");
    EXPECT_NIL("GET k");
    EXPECT_INT(0, "DBSIZE");
    EXPECT_OK("SET k db1");
    EXPECT_INT(1, "DBSIZE");
    EXPECT_OK("SELECT 15");
    EXPECT_OK("SET k db15");
    EXPECT_OK("SELECT 0");
    EXPECT_STR("db0", "GET k");
    EXPECT_INT(2, "DBSIZE");
    EXPECT_ERR("ERR DB index is out of range", "SELECT 16");
    EXPECT_ERR("ERR DB index is out of range", "SELECT -1");
    EXPECT_ERR("ERR value is not an integer or out of range", "SELECT abc");
    EXPECT_ERR("ERR wrong number of arguments for 'select' command", "SELECT");
    EXPECT_ERR("ERR wrong number of arguments for 'dbsize' command", "DBSIZE x");

    redisReply *r = it_cmd("INFO keyspace");
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, "# Keyspace") &&
              strstr(r->str, "db0:keys=2,expires=0") && strstr(r->str, "db1:keys=1,expires=0") &&
              strstr(r->str, "db15:keys=1,expires=0"),
          "INFO keyspace lists db0:keys=2, db1:keys=1, db15:keys=1 (got: %.200s)",
          r->type == REDIS_REPLY_STRING ? r->str : "?");
    freeReplyObject(r);

    /* A second connection starts in db 0, whatever the first one selected. */
    EXPECT_OK("SELECT 1");
    redisContext *c2 = it_connect();
    redisContext *save = it_c;
    it_c = c2;
    EXPECT_STR("db0", "GET k");
    it_c = save;
    redisFree(c2);

    EXPECT_OK("FLUSHDB");
    EXPECT_INT(0, "DBSIZE");
    EXPECT_OK("SELECT 0");
    EXPECT_INT(2, "DBSIZE");
    EXPECT_OK("FLUSHDB SYNC");
    EXPECT_INT(0, "DBSIZE");
    EXPECT_OK("SELECT 15");
    EXPECT_STR("db15", "GET k");
    EXPECT_OK("FLUSHALL");
    EXPECT_INT(0, "DBSIZE");
    EXPECT_OK("SELECT 0");
    EXPECT_OK("SET k v");
    EXPECT_OK("FLUSHALL ASYNC");
    EXPECT_INT(0, "DBSIZE");
    EXPECT_ERR("ERR syntax error", "FLUSHALL foo");
    EXPECT_ERR("ERR syntax error", "FLUSHDB foo");
}

static void test_hello2(void)
{
    it_section("HELLO 2");
    redisReply *r = KEEP_ARRAYN(14, "HELLO 2");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 14) {
        int proto = 0, have_id = 0, have_server = 0, have_version = 0;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *k = r->element[i]->str;
            redisReply *v = r->element[i + 1];
            if (strcmp(k, "proto") == 0 && v->type == REDIS_REPLY_INTEGER) {
                proto = (int)v->integer;
            }
            have_id |= strcmp(k, "id") == 0 && v->type == REDIS_REPLY_INTEGER;
            have_server |= strcmp(k, "server") == 0 && v->type == REDIS_REPLY_STRING;
            have_version |= strcmp(k, "version") == 0 && v->type == REDIS_REPLY_STRING;
        }
        CHECK(proto == 2, "HELLO 2: proto is the integer 2");
        CHECK(have_id && have_server && have_version, "HELLO 2: has server, version, id");
    }
    freeReplyObject(r);
    r = KEEP_ARRAYN(14, "HELLO 2 SETNAME hello-client");
    freeReplyObject(r);
    EXPECT_STR("hello-client", "CLIENT GETNAME");
    r = KEEP_ARRAYN(14, "HELLO");
    freeReplyObject(r);
    EXPECT_ERR("NOPROTO unsupported protocol version", "HELLO 4");
    EXPECT_ERR("NOPROTO unsupported protocol version", "HELLO 1");
    EXPECT_ERR("ERR Protocol version is not an integer or out of range", "HELLO abc");
    EXPECT_ERR("ERR Syntax error in HELLO option 'FOO'", "HELLO 2 FOO");
}

static void test_client(void)
{
    it_section("CLIENT SETNAME GETNAME ID LIST INFO SETINFO KILL");
    EXPECT_OK("CLIENT SETNAME %s", "");
    EXPECT_NIL("CLIENT GETNAME");
    EXPECT_OK("CLIENT SETNAME alice");
    EXPECT_STR("alice", "CLIENT GETNAME");
    EXPECT_ERR("ERR Client names cannot contain spaces, newlines or special characters.",
               "CLIENT SETNAME %s", "a b");
    EXPECT_ERR("ERR Client names cannot contain spaces, newlines or special characters.",
               "CLIENT SETNAME %s", "a\nb");
    EXPECT_STR("alice", "CLIENT GETNAME");
    long long id = it_int("CLIENT ID");
    CHECK(id > 0, "CLIENT ID is a positive integer (%lld)", id);

    redisContext *c2 = it_connect();
    redisReply *r2 = redisCommand(c2, "CLIENT ID");
    long long id2 = r2 && r2->type == REDIS_REPLY_INTEGER ? r2->integer : -1;
    if (r2) {
        freeReplyObject(r2);
    }
    CHECK(id2 > id, "a later connection gets a larger CLIENT ID (%lld > %lld)", id2, id);
    r2 = redisCommand(c2, "CLIENT SETNAME bob");
    if (r2) {
        freeReplyObject(r2);
    }

    char needle[64];
    redisReply *r = it_cmd("CLIENT LIST");
    snprintf(needle, sizeof needle, "id=%lld ", id);
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, needle) && strstr(r->str, "name=alice") &&
              strstr(r->str, "name=bob") && strstr(r->str, "addr=127.0.0.1:"),
          "CLIENT LIST has both clients (id=, addr=127.0.0.1:, name=alice, name=bob)");
    freeReplyObject(r);
    r = it_cmd("CLIENT LIST ID %lld", id2);
    snprintf(needle, sizeof needle, "id=%lld ", id2);
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, needle) && strstr(r->str, "name=bob") &&
              !strstr(r->str, "name=alice"),
          "CLIENT LIST ID <id2> has only bob");
    freeReplyObject(r);
    r = it_cmd("CLIENT INFO");
    snprintf(needle, sizeof needle, "id=%lld ", id);
    CHECK(r->type == REDIS_REPLY_STRING && strncmp(r->str, needle, strlen(needle)) == 0 &&
              strstr(r->str, "name=alice") && strstr(r->str, "db=0") && !strstr(r->str, "bob"),
          "CLIENT INFO starts with id=<my id> and has name=alice db=0");
    freeReplyObject(r);

    r = it_cmd("CLIENT SETINFO LIB-NAME mylib");
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "unknown subcommand") && it_srv.is_redis) {
        printf("SKIP CLIENT SETINFO: this redis-server predates 7.2 (%s)\n", r->str);
    } else {
        it_report(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, __LINE__,
                  "CLIENT SETINFO LIB-NAME mylib", r, "+OK");
        EXPECT_OK("CLIENT SETINFO lib-ver 1.2.3");
        EXPECT_ANYERR("CLIENT SETINFO foo bar");
        EXPECT_ANYERR("CLIENT SETINFO lib-name %s", "a b");
        redisReply *i = it_cmd("CLIENT INFO");
        CHECK(i->type == REDIS_REPLY_STRING && strstr(i->str, "lib-name=mylib") &&
                  strstr(i->str, "lib-ver=1.2.3"),
              "CLIENT INFO shows lib-name=mylib lib-ver=1.2.3");
        freeReplyObject(i);
    }
    freeReplyObject(r);

    EXPECT_INT(0, "CLIENT KILL ID 999999"); /* new form: count of killed clients */
    EXPECT_ERR("ERR No such client", "CLIENT KILL 127.0.0.1:1");
    EXPECT_ERR("ERR client-id should be greater than 0", "CLIENT KILL ID abc");
    EXPECT_INT(1, "CLIENT KILL ID %lld", id2);
    r2 = redisCommand(c2, "PING");
    CHECK(r2 == NULL || c2->err != 0, "the killed client's connection is closed (%s)",
          c2->err ? c2->errstr : "still answers");
    if (r2) {
        freeReplyObject(r2);
    }
    redisFree(c2);
    r = it_cmd("CLIENT LIST");
    CHECK(r->type == REDIS_REPLY_STRING && !strstr(r->str, "name=bob"),
          "CLIENT LIST no longer lists bob");
    freeReplyObject(r);
    EXPECT_ERRPFX("ERR unknown subcommand 'foo'", "CLIENT foo");
    EXPECT_ERR("ERR wrong number of arguments for 'client|getname' command", "CLIENT GETNAME x");
}

static void test_command(void)
{
    it_section("COMMAND COUNT DOCS INFO LIST");
    /* Every command of the server issue must be known to COMMAND INFO. */
    static const char *const issue_cmds[] = {
        "ping",        "echo",     "quit",     "hello",   "auth",       "select",      "client",
        "command",     "info",     "config",   "dbsize",  "flushdb",    "flushall",    "time",
        "type",        "shutdown", "get",      "set",     "setnx",      "setex",       "psetex",
        "getset",      "getdel",   "getex",    "mget",    "mset",       "msetnx",      "append",
        "strlen",      "getrange", "setrange", "incr",    "decr",       "incrby",      "decrby",
        "incrbyfloat", "del",      "unlink",   "exists",  "expire",     "pexpire",     "expireat",
        "pexpireat",   "ttl",      "pttl",     "persist", "expiretime", "pexpiretime", "scan",
        "keys",        "randomkey"};
    size_t ncmds = sizeof issue_cmds / sizeof issue_cmds[0];
    int unknown = 0;
    for (size_t i = 0; i < ncmds; i++) {
        redisReply *ci = it_cmd("COMMAND INFO %s", issue_cmds[i]);
        if (ci->type != REDIS_REPLY_ARRAY || ci->elements != 1 ||
            ci->element[0]->type != REDIS_REPLY_ARRAY) {
            printf("     COMMAND INFO %s: not known\n", issue_cmds[i]);
            unknown++;
        }
        freeReplyObject(ci);
    }
    CHECK(unknown == 0, "COMMAND INFO knows all %zu commands of the issue (%d unknown)", ncmds,
          unknown);
    long long n = it_int("COMMAND COUNT");
    CHECK(n >= (long long)ncmds, "COMMAND COUNT >= %zu (got %lld)", ncmds, n);
    redisReply *r = it_cmd("COMMAND");
    CHECK(r->type == REDIS_REPLY_ARRAY && (long long)r->elements == n,
          "COMMAND returns COUNT (%lld) entries (got %zu)", n, r->elements);
    freeReplyObject(r);

    r = KEEP_ARRAYN(1, "COMMAND INFO get");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *e = r->element[0];
        CHECK(e->type == REDIS_REPLY_ARRAY && e->elements >= 6 &&
                  e->element[0]->type == REDIS_REPLY_STRING &&
                  strcmp(e->element[0]->str, "get") == 0 &&
                  e->element[1]->type == REDIS_REPLY_INTEGER && e->element[1]->integer == 2 &&
                  e->element[2]->type == REDIS_REPLY_ARRAY && e->element[3]->integer == 1 &&
                  e->element[4]->integer == 1 && e->element[5]->integer == 1,
              "COMMAND INFO get: [get, arity 2, [flags], first 1, last 1, step 1, ...]");
    }
    freeReplyObject(r);
    r = KEEP_ARRAYN(3, "COMMAND INFO set nosuchcmd mset");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        CHECK(r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 6 &&
                  r->element[0]->element[1]->integer == -3,
              "COMMAND INFO set: arity -3");
        CHECK(r->element[1]->type == REDIS_REPLY_NIL, "COMMAND INFO nosuchcmd: nil");
        CHECK(r->element[2]->type == REDIS_REPLY_ARRAY && r->element[2]->elements >= 6 &&
                  r->element[2]->element[1]->integer == -3 &&
                  r->element[2]->element[3]->integer == 1 &&
                  r->element[2]->element[4]->integer == -1 &&
                  r->element[2]->element[5]->integer == 2,
              "COMMAND INFO mset: arity -3, keys 1..-1 step 2");
    }
    freeReplyObject(r);
    r = KEEP_ARRAYN(2, "COMMAND DOCS get");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *d = r->element[1];
        CHECK(r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "get") == 0 &&
                  d->type == REDIS_REPLY_ARRAY && it_array_has(d, "summary"),
              "COMMAND DOCS get: [get, [summary, ..., ...]]");
    }
    freeReplyObject(r);
    r = it_cmd("COMMAND LIST");
    int all = 1;
    const char *names[] = {"get",    "set",    "incr",        "del",    "scan",
                           "hello",  "client", "config",      "info",   "ping",
                           "expire", "getex",  "incrbyfloat", "select", "command"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!it_array_has(r, names[i])) {
            printf("     COMMAND LIST lacks %s\n", names[i]);
            all = 0;
        }
    }
    CHECK(r->type == REDIS_REPLY_ARRAY && all, "COMMAND LIST has get set incr del scan hello ...");
    freeReplyObject(r);
    EXPECT_ERRPFX("ERR unknown subcommand 'foo'", "COMMAND foo");
}

static void test_info(void)
{
    it_section("INFO");
    redisReply *r = it_cmd("INFO");
    const char *want[] = {"# Server",
                          "# Clients",
                          "# Memory",
                          "# Persistence",
                          "# Stats",
                          "# Keyspace",
                          "redis_version:",
                          "connected_clients:",
                          "total_commands_processed:",
                          "uptime_in_seconds:",
                          "tcp_port:"};
    int ok = r->type == REDIS_REPLY_STRING;
    for (size_t i = 0; ok && i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(r->str, want[i])) {
            printf("     INFO lacks '%s'\n", want[i]);
            ok = 0;
        }
    }
    CHECK(ok, "INFO has sections Server Clients Memory Persistence Stats Keyspace and fields");
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, "\r\n"), "INFO lines end in CRLF");
    freeReplyObject(r);

    const char *sections[][2] = {{"server", "# Server"}, {"clients", "# Clients"},
                                 {"memory", "# Memory"}, {"persistence", "# Persistence"},
                                 {"stats", "# Stats"},   {"keyspace", "# Keyspace"}};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        r = it_cmd("INFO %s", sections[i][0]);
        CHECK(r->type == REDIS_REPLY_STRING &&
                  strncmp(r->str, sections[i][1], strlen(sections[i][1])) == 0 &&
                  (i == 0 || !strstr(r->str, "# Server")),
              "INFO %s starts with '%s' and holds only that section", sections[i][0],
              sections[i][1]);
        freeReplyObject(r);
    }
    r = it_cmd("INFO server");
    char port_line[32];
    snprintf(port_line, sizeof port_line, "tcp_port:%d\r\n", it_srv.port);
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, port_line), "INFO server has %.*s",
          (int)strlen(port_line) - 2, port_line);
    freeReplyObject(r);
    r = it_cmd("INFO nosuchsection");
    CHECK(r->type == REDIS_REPLY_STRING && r->len == 0,
          "INFO nosuchsection is an empty bulk string");
    freeReplyObject(r);
    if (!it_srv.is_redis) {
        r = it_cmd("INFO everything");
        CHECK(r->type == REDIS_REPLY_STRING &&
                  (strstr(r->str, "segment") || strstr(r->str, "Segment")),
              "logstord: INFO everything has the engine section (mentions segments)");
        freeReplyObject(r);
    }
    EXPECT_OK("CONFIG RESETSTAT");
    r = it_cmd("INFO stats");
    const char *p =
        r->type == REDIS_REPLY_STRING ? strstr(r->str, "total_commands_processed:") : NULL;
    long long cmds = p ? atoll(p + strlen("total_commands_processed:")) : -1;
    CHECK(cmds >= 0 && cmds <= 2,
          "after CONFIG RESETSTAT total_commands_processed is 0..2 (got %lld)", cmds);
    freeReplyObject(r);
}

static void test_config(void)
{
    it_section("CONFIG GET SET");
    redisReply *r = KEEP_ARRAYN(2, "CONFIG GET port");
    char port[16];
    snprintf(port, sizeof port, "%d", it_srv.port);
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              strcmp(r->element[0]->str, "port") == 0 && strcmp(r->element[1]->str, port) == 0,
          "CONFIG GET port is [port, %s]", port);
    freeReplyObject(r);
    r = KEEP_ARRAYN(2, "CONFIG GET databases");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && strcmp(r->element[1]->str, "16") == 0,
          "CONFIG GET databases is 16");
    freeReplyObject(r);
    EXPECT_ARRAYN(0, "CONFIG GET nosuchparameter");
    r = it_cmd("CONFIG GET maxc*");
    CHECK(it_array_has(r, "maxclients"), "CONFIG GET maxc* (glob) includes maxclients");
    freeReplyObject(r);
    r = it_cmd("CONFIG GET *");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0 && it_array_has(r, "port") &&
              it_array_has(r, "timeout") && it_array_has(r, "maxclients") &&
              it_array_has(r, "requirepass"),
          "CONFIG GET * lists port timeout maxclients requirepass as pairs");
    freeReplyObject(r);

    EXPECT_OK("CONFIG SET timeout 300");
    r = KEEP_ARRAYN(2, "CONFIG GET timeout");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              strcmp(r->element[1]->str, "300") == 0,
          "CONFIG GET timeout after CONFIG SET timeout 300 is 300");
    freeReplyObject(r);
    EXPECT_OK("CONFIG SET timeout 0");
    EXPECT_OK("CONFIG SET maxclients 1000");
    r = KEEP_ARRAYN(2, "CONFIG GET maxclients");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              strcmp(r->element[1]->str, "1000") == 0,
          "CONFIG GET maxclients after SET is 1000");
    freeReplyObject(r);
    EXPECT_ERRPFX("ERR CONFIG SET failed (possibly related to argument 'maxclients')",
                  "CONFIG SET maxclients abc");
    EXPECT_ERRPFX("ERR Unknown option or number of arguments for CONFIG SET - 'nosuchparameter'",
                  "CONFIG SET nosuchparameter 1");
    EXPECT_ERR("ERR wrong number of arguments for 'config|set' command", "CONFIG SET timeout");
    EXPECT_ERR("ERR wrong number of arguments for 'config|get' command", "CONFIG GET");
    EXPECT_ERRPFX("ERR unknown subcommand 'foo'", "CONFIG foo");
}

static void test_time_type_quit(void)
{
    it_section("TIME TYPE QUIT");
    redisReply *r = KEEP_ARRAYN(2, "TIME");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        long long s = atoll(r->element[0]->str), us = atoll(r->element[1]->str);
        long long now = it_now_ms() / 1000;
        CHECK(r->element[0]->type == REDIS_REPLY_STRING && s >= now - 2 && s <= now + 2,
              "TIME seconds within 2 s of the local clock (%lld vs %lld)", s, now);
        CHECK(r->element[1]->type == REDIS_REPLY_STRING && us >= 0 && us < 1000000,
              "TIME microseconds in 0..999999 (%lld)", us);
    }
    freeReplyObject(r);
    EXPECT_OK("SET tk v");
    EXPECT_STATUS("string", "TYPE tk");
    EXPECT_STATUS("none", "TYPE nokey");

    EXPECT_OK("QUIT");
    r = redisCommand(it_c, "PING");
    CHECK(r == NULL, "after QUIT the connection is closed (%s)", it_c->err ? it_c->errstr : "open");
    if (r) {
        freeReplyObject(r);
    }
    redisFree(it_c);
    it_c = it_connect();
    EXPECT_STATUS("PONG", "PING");
}

int main(void)
{
    it_start("it_redis_server", NULL);
    test_ping_echo();
    test_select_flush();
    test_hello2();
    test_client();
    test_command();
    test_config();
    test_info();
    test_time_type_quit();
    return it_finish();
}
