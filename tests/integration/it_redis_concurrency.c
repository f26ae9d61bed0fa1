/*
 * it_redis_concurrency.c - atomic read-modify-write under concurrent clients, and
 * pipelining.
 *
 * 50 client threads, each on its own connection, run INCR on one key 1000 times: the key
 * must end at exactly 50000. The same for APPEND (length), SETNX and SET NX races
 * (exactly one winner), GETSET chains (no value lost) and INCRBYFLOAT. Pipelining: a
 * thousand commands sent in one write are answered in order.
 */
#include <pthread.h>

/* 50000 INCRs on one key are serialized by the key: in sync mode each waits for a device
 * write, so this test gets more time than the default. */
#define IT_TIME_LIMIT_S 150
#include "it.h"

#define NCLIENTS 50
#define NOPS     1000 /* INCR: the 50 x 1000 */
#define NOPS2    200  /* the other read-modify-write commands */

struct worker {
    pthread_t th;
    int idx;
    int mode;
    long long errors;
    long long wins;
    char first_err[128]; /* the first unexpected reply, for the report */
};

enum { M_INCR, M_APPEND, M_SETNX, M_SETNXGET, M_GETSET, M_INCRBYFLOAT, M_INCRBY_DECRBY };

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    redisContext *c = it_connect_port(it_srv.port);
    if (c == NULL) {
        w->errors = NOPS;
        return NULL;
    }
    /* APPEND rewrites the whole value each time: 200 per client keeps it to 10000 appends. */
    int n = w->mode == M_SETNX || w->mode == M_SETNXGET ? 1 : w->mode == M_INCR ? NOPS : NOPS2;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        switch (w->mode) {
        case M_INCR:
            r = redisCommand(c, "INCR counter");
            break;
        case M_APPEND:
            r = redisCommand(c, "APPEND appended x");
            break;
        case M_SETNX:
            r = redisCommand(c, "SETNX race client%d", w->idx);
            break;
        case M_SETNXGET:
            r = redisCommand(c, "SET race2 client%d NX", w->idx);
            break;
        case M_GETSET:
            r = redisCommand(c, "GETSET chain c%d-%d", w->idx, i);
            break;
        case M_INCRBYFLOAT:
            r = redisCommand(c, "INCRBYFLOAT fl 0.5");
            break;
        case M_INCRBY_DECRBY:
            r = redisCommand(c, i % 2 ? "DECRBY bal 3" : "INCRBY bal 3");
            break;
        }
        if (r == NULL) {
            w->errors += n - i;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && !w->first_err[0]) {
            snprintf(w->first_err, sizeof w->first_err, "-%s", r->str);
        }
        switch (w->mode) {
        case M_SETNX:
            w->wins += r->type == REDIS_REPLY_INTEGER && r->integer == 1;
            break;
        case M_SETNXGET:
            w->wins += r->type == REDIS_REPLY_STATUS;
            break;
        case M_GETSET:
            /* Each old value returned is remembered: the chain must not lose one. */
            if (r->type == REDIS_REPLY_STRING) {
                w->wins++;
            } else if (r->type != REDIS_REPLY_NIL) {
                w->errors++;
            }
            break;
        case M_APPEND:
        case M_INCR:
        case M_INCRBY_DECRBY:
            w->errors += r->type != REDIS_REPLY_INTEGER;
            break;
        case M_INCRBYFLOAT:
            w->errors += r->type != REDIS_REPLY_STRING;
            break;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static void run_workers(int mode, long long *errors, long long *wins)
{
    static struct worker w[NCLIENTS];
    *errors = 0;
    *wins = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].idx = i;
        w[i].mode = mode;
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            perror("pthread_create");
            exit(2);
        }
    }
    int shown = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(w[i].th, NULL);
        *errors += w[i].errors;
        *wins += w[i].wins;
        if (w[i].first_err[0] && shown++ < 3) {
            printf("     client %d got: %s\n", i, w[i].first_err);
        }
    }
}

static void test_atomic(void)
{
    long long errors, wins;
    it_section("atomic read-modify-write from 50 concurrent clients");
    long long t0 = it_now_ms();
    run_workers(M_INCR, &errors, &wins);
    printf("     50 x 1000 INCR took %lld ms\n", it_now_ms() - t0);
    CHECK(errors == 0, "50 clients x 1000 INCR: every reply is an integer (%lld not)", errors);
    EXPECT_STR("50000", "GET counter");

    run_workers(M_INCRBY_DECRBY, &errors, &wins);
    CHECK(errors == 0, "50 clients x 100 INCRBY 3 / 100 DECRBY 3: no errors (%lld)", errors);
    EXPECT_STR("0", "GET bal");

    run_workers(M_APPEND, &errors, &wins);
    CHECK(errors == 0, "50 clients x 200 APPEND: no errors (%lld)", errors);
    EXPECT_INT(10000, "STRLEN appended");

    run_workers(M_INCRBYFLOAT, &errors, &wins);
    CHECK(errors == 0, "50 clients x 200 INCRBYFLOAT 0.5: no errors (%lld)", errors);
    EXPECT_STR("5000", "GET fl");

    run_workers(M_SETNX, &errors, &wins);
    CHECK(errors == 0 && wins == 1, "50 clients SETNX the same key: exactly one wins (%lld)", wins);
    run_workers(M_SETNXGET, &errors, &wins);
    CHECK(errors == 0 && wins == 1, "50 clients SET NX the same key: exactly one +OK (%lld)", wins);

    /* GETSET: 10000 swaps; all but the first return a value, so 9999 non-nil replies. */
    run_workers(M_GETSET, &errors, &wins);
    CHECK(errors == 0 && wins == NCLIENTS * NOPS2 - 1,
          "50 clients x 200 GETSET: 9999 old values returned, one nil (got %lld)", wins);
}

static void test_pipeline(void)
{
    it_section("pipelining");
    /* hiredis buffers appended commands and writes them all before reading. */
    enum { N = 1000 };
    for (int i = 0; i < N; i++) {
        switch (i % 4) {
        case 0:
            redisAppendCommand(it_c, "SET p%d v%d", i, i);
            break;
        case 1:
            redisAppendCommand(it_c, "GET p%d", i - 1);
            break;
        case 2:
            redisAppendCommand(it_c, "INCR pc");
            break;
        case 3:
            redisAppendCommand(it_c, "GET nokey%d", i);
            break;
        }
    }
    int bad = 0, first_bad = -1;
    for (int i = 0; i < N; i++) {
        redisReply *r = NULL;
        if (redisGetReply(it_c, (void **)&r) != REDIS_OK) {
            bad += N - i;
            first_bad = first_bad < 0 ? i : first_bad;
            break;
        }
        char want[32];
        int ok = 0;
        switch (i % 4) {
        case 0:
            ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
            break;
        case 1:
            snprintf(want, sizeof want, "v%d", i - 1);
            ok = r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0;
            break;
        case 2:
            ok = r->type == REDIS_REPLY_INTEGER && r->integer == i / 4 + 1;
            break;
        case 3:
            ok = r->type == REDIS_REPLY_NIL;
            break;
        }
        if (!ok) {
            bad++;
            if (first_bad < 0) {
                first_bad = i;
            }
        }
        freeReplyObject(r);
    }
    CHECK(bad == 0,
          "1000 pipelined SET/GET/INCR/GET-miss answered in order (%d wrong, first at %d)", bad,
          first_bad);

    /* A pipeline that mixes errors with successes keeps its order. */
    redisAppendCommand(it_c, "SET pe 1");
    redisAppendCommand(it_c, "INCR pe");
    redisAppendCommand(it_c, "NOSUCHCMD");
    redisAppendCommand(it_c, "GET");
    redisAppendCommand(it_c, "INCR pe");
    redisAppendCommand(it_c, "GET pe");
    int types[6] = {REDIS_REPLY_STATUS, REDIS_REPLY_INTEGER, REDIS_REPLY_ERROR,
                    REDIS_REPLY_ERROR,  REDIS_REPLY_INTEGER, REDIS_REPLY_STRING};
    bad = 0;
    for (int i = 0; i < 6; i++) {
        redisReply *r = NULL;
        if (redisGetReply(it_c, (void **)&r) != REDIS_OK) {
            bad = 6;
            break;
        }
        bad += r->type != types[i];
        if (i == 5) {
            bad += strcmp(r->str, "3") != 0;
        }
        freeReplyObject(r);
    }
    CHECK(bad == 0, "pipeline with errors in the middle: +OK :2 -ERR -ERR :3 \"3\"");

    /* 20000 SETs in one pipeline, then the count and a sample. */
    enum { M = 20000 };
    for (int i = 0; i < M; i++) {
        redisAppendCommand(it_c, "SET bulk:%d %d", i, i);
    }
    bad = 0;
    for (int i = 0; i < M; i++) {
        redisReply *r = NULL;
        if (redisGetReply(it_c, (void **)&r) != REDIS_OK) {
            bad += M - i;
            break;
        }
        bad += r->type != REDIS_REPLY_STATUS;
        freeReplyObject(r);
    }
    CHECK(bad == 0, "20000 pipelined SETs all +OK (%d not)", bad);
    EXPECT_STR("12345", "GET bulk:12345");
}

int main(void)
{
    it_start("it_redis_concurrency", NULL);
    test_pipeline();
    test_atomic();
    return it_finish();
}
