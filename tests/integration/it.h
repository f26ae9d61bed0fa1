/*
 * it.h - shared harness for the C integration tests (tests/integration/it_*.c).
 *
 * Each test binary starts its own server, drives it with hiredis and exits nonzero if
 * any check failed. The server is logstord ($LOGSTORD, set by tests/run.sh) by default,
 * or a real redis-server when TARGET=redis: a test must pass against Redis before a
 * failure against logstord counts as a logstord bug.
 *
 * Safety rules the harness enforces, so that a broken server cannot hang or leak:
 * - the server listens on 127.0.0.1 only, on a port found free by binding port 0;
 * - its data lives in a fresh mkdtemp() directory under /tmp (ext4 here: O_DIRECT works),
 *   removed at exit;
 * - every hiredis call has a socket timeout (IT_CALL_TIMEOUT_MS) and the whole binary has
 *   an alarm (IT_TIME_LIMIT_S, or $IT_TIME_LIMIT); the alarm handler kills the server;
 * - the server is killed at exit whatever the exit path (atexit + signal handlers).
 *
 * This is a header of static functions because the Makefile builds one binary per .c
 * file in tests/integration/. Functions are `static inline` so unused ones do not warn.
 */
#ifndef IT_H
#define IT_H

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#ifndef IT_TIME_LIMIT_S
#define IT_TIME_LIMIT_S 60
#endif
#define IT_CALL_TIMEOUT_MS  5000
#define IT_READY_TIMEOUT_MS 15000

struct it_server {
    pid_t pid;
    int port;
    int mc_port;
    int is_redis; /* 1 when TARGET=redis: a real redis-server */
    char dir[64];
    char log[96];
};

static struct it_server it_srv;
static redisContext *it_c; /* the connection the it_expect_* helpers use */
static int it_failures;
static int it_checks;
static const char *it_name = "it";

static inline void it_kill_server(void)
{
    if (it_srv.pid > 0) {
        kill(it_srv.pid, SIGKILL);
        waitpid(it_srv.pid, NULL, 0);
        it_srv.pid = 0;
    }
}

static inline void it_rmdir(void)
{
    if (it_srv.dir[0] && !getenv("IT_KEEP")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", it_srv.dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "%s: could not remove %s\n", it_name, it_srv.dir);
        }
        it_srv.dir[0] = 0;
    }
}

static inline void it_cleanup(void)
{
    it_kill_server();
    it_rmdir();
}

static inline void it_on_signal(int sig)
{
    static const char msg[] =
        "\nFAIL: global time limit reached or signal received; killing server\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing to do */
    }
    if (it_srv.pid > 0) {
        kill(it_srv.pid, SIGKILL);
        waitpid(it_srv.pid, NULL, 0);
    }
    /* Remove the data dir with async-signal-safe calls only (fork, exec, waitpid). */
    if (it_srv.dir[0] && !getenv("IT_KEEP")) {
        pid_t p = fork();
        if (p == 0) {
            execlp("rm", "rm", "-rf", it_srv.dir, (char *)NULL);
            _exit(127);
        }
        if (p > 0) {
            waitpid(p, NULL, 0);
        }
    }
    _exit(sig == SIGALRM ? 124 : 128 + sig);
}

static inline long long it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A free TCP port on 127.0.0.1: bind port 0 and read the port back. */
static inline int it_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("it_free_port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static inline redisContext *it_connect_port(int port)
{
    struct timeval tv = {IT_CALL_TIMEOUT_MS / 1000, (IT_CALL_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL) {
        return NULL;
    }
    if (c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

static inline redisContext *it_connect(void)
{
    redisContext *c = it_connect_port(it_srv.port);
    if (c == NULL) {
        fprintf(stderr, "FAIL: cannot connect to 127.0.0.1:%d\n", it_srv.port);
        exit(1);
    }
    return c;
}

/* Waits until the server answers PING with +PONG (after AUTH pass when pass is not NULL;
 * logstord answers -LOADING until its engine is open, and AUTH works meanwhile), or with
 * -NOAUTH when no password is known. Returns 0 or -1. */
static inline int it_wait_ready(int port, const char *pass)
{
    long long end = it_now_ms() + IT_READY_TIMEOUT_MS;
    while (it_now_ms() < end) {
        if (it_srv.pid > 0 && waitpid(it_srv.pid, NULL, WNOHANG) == it_srv.pid) {
            it_srv.pid = 0;
            fprintf(stderr, "FAIL: server exited during start-up (log: %s)\n", it_srv.log);
            return -1;
        }
        redisContext *c = it_connect_port(port);
        if (c) {
            if (pass) {
                redisReply *a = redisCommand(c, "AUTH %s", pass);
                if (a) {
                    freeReplyObject(a);
                }
            }
            redisReply *r = redisCommand(c, "PING");
            int ok = r && ((r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) ||
                           (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0));
            if (r) {
                freeReplyObject(r);
            }
            redisFree(c);
            if (ok) {
                return 0;
            }
        }
        it_sleep_ms(50);
    }
    fprintf(stderr, "FAIL: server not ready on port %d after %d ms\n", port, IT_READY_TIMEOUT_MS);
    return -1;
}

/*
 * Starts the server on fresh ports. extra is NULL or a NULL-terminated list of
 * "--key", "value" arguments understood by both logstord and redis-server (for
 * example "--requirepass", "pw"). The data dir is kept across it_restart().
 */
static inline void it_spawn(const char *const *extra)
{
    const char *argv[64];
    int n = 0;
    char port[16], mcport[16];
    snprintf(port, sizeof port, "%d", it_srv.port);
    snprintf(mcport, sizeof mcport, "%d", it_srv.mc_port);
    if (it_srv.is_redis) {
        argv[n++] = "redis-server";
        argv[n++] = "--port";
        argv[n++] = port;
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--appendonly";
        argv[n++] = "no";
        argv[n++] = "--dir";
        argv[n++] = it_srv.dir;
    } else {
        const char *bin = getenv("LOGSTORD");
        argv[n++] = bin && *bin ? bin : "build/logstord";
        argv[n++] = "--port";
        argv[n++] = port;
        argv[n++] = "--memcached_port";
        argv[n++] = mcport;
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--dir";
        argv[n++] = it_srv.dir;
        argv[n++] = "--durability";
        argv[n++] = "sync";
        argv[n++] = "--loglevel";
        argv[n++] = "warning";
    }
    for (int i = 0; extra && extra[i] && n < 62; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    const char *pass = NULL;
    for (int i = 0; extra && extra[i] && extra[i + 1]; i++) {
        if (strcmp(extra[i], "--requirepass") == 0) {
            pass = extra[i + 1];
        }
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int fd = open(it_srv.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        perror("execvp");
        _exit(127);
    }
    it_srv.pid = pid;
    if (it_wait_ready(it_srv.port, pass) != 0) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", it_srv.log);
        if (system(cmd) != 0) {
            /* best effort */
        }
        exit(1);
    }
}

static inline void it_setup_signals(void)
{
    const char *tl = getenv("IT_TIME_LIMIT");
    signal(SIGALRM, it_on_signal);
    signal(SIGINT, it_on_signal);
    signal(SIGTERM, it_on_signal);
    signal(SIGPIPE, SIG_IGN);
    alarm(tl ? (unsigned)atoi(tl) : IT_TIME_LIMIT_S);
}

/* Starts a fresh server for test `name`; sets it_c to a connection to it. */
static inline void it_start(const char *name, const char *const *extra)
{
    const char *target = getenv("TARGET");
    it_name = name;
    setvbuf(stdout, NULL, _IOLBF, 0);
    it_setup_signals();
    memset(&it_srv, 0, sizeof it_srv);
    it_srv.is_redis = target && strcmp(target, "redis") == 0;
    snprintf(it_srv.dir, sizeof it_srv.dir, "/tmp/logstor-it-XXXXXX");
    if (mkdtemp(it_srv.dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(it_srv.log, sizeof it_srv.log, "%s/server.log", it_srv.dir);
    atexit(it_cleanup);
    it_srv.port = it_free_port();
    it_srv.mc_port = it_free_port();
    while (it_srv.mc_port == it_srv.port) {
        it_srv.mc_port = it_free_port();
    }
    printf("%s: target %s on 127.0.0.1:%d, dir %s\n", name,
           it_srv.is_redis ? "redis-server" : "logstord", it_srv.port, it_srv.dir);
    it_spawn(extra);
    it_c = it_connect();
}

/* Sends signal sig, waits (bounded) for exit; returns the exit status or -1. */
static inline int it_stop_with(int sig, int timeout_ms)
{
    int st = -1;
    if (it_srv.pid <= 0) {
        return -1;
    }
    kill(it_srv.pid, sig);
    long long end = it_now_ms() + timeout_ms;
    while (it_now_ms() < end) {
        pid_t p = waitpid(it_srv.pid, &st, WNOHANG);
        if (p == it_srv.pid) {
            it_srv.pid = 0;
            return st;
        }
        it_sleep_ms(20);
    }
    it_kill_server();
    return -1;
}

static inline int it_finish(void)
{
    if (it_c) {
        redisFree(it_c);
        it_c = NULL;
    }
    it_kill_server();
    if (it_failures) {
        printf("%s: FAILED %d of %d checks (server log: %s kept with IT_KEEP=1)\n", it_name,
               it_failures, it_checks, it_srv.log);
        return 1;
    }
    printf("%s: all %d checks passed\n", it_name, it_checks);
    return 0;
}

/* Prints whether the server is still running (or how it died) and its log's tail. */
static inline void it_server_state(void)
{
    int st = 0;
    if (it_srv.pid > 0 && waitpid(it_srv.pid, &st, WNOHANG) == it_srv.pid) {
        if (WIFSIGNALED(st)) {
            printf("     server DIED on signal %d\n", WTERMSIG(st));
        } else {
            printf("     server EXITED with status %d\n", WEXITSTATUS(st));
        }
        it_srv.pid = 0;
    } else if (it_srv.pid > 0) {
        printf("     server still running\n");
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "tail -n 15 '%s'", it_srv.log);
    fflush(stdout);
    if (system(cmd) != 0) {
        /* best effort */
    }
}

/* ---- reply checking ---- */

static inline void it_section(const char *s)
{
    printf("-- %s\n", s);
}

static inline void it_describe(char *out, size_t n, redisReply *r)
{
    if (r == NULL) {
        snprintf(out, n, "(no reply: %s)", it_c && it_c->err ? it_c->errstr : "?");
        return;
    }
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        snprintf(out, n, "+%.200s", r->str);
        break;
    case REDIS_REPLY_ERROR:
        snprintf(out, n, "-%.200s", r->str);
        break;
    case REDIS_REPLY_STRING:
        snprintf(out, n, "\"%.200s\"", r->str);
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(out, n, ":%lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        snprintf(out, n, "(nil)");
        break;
    case REDIS_REPLY_ARRAY:
        snprintf(out, n, "(array of %zu)", r->elements);
        break;
    default:
        snprintf(out, n, "(type %d)", r->type);
        break;
    }
}

/* Records one check. Returns ok so callers may chain. */
static inline int it_report(int ok, int line, const char *what, redisReply *r, const char *want)
{
    char got[256];
    it_checks++;
    it_describe(got, sizeof got, r);
    if (ok) {
        printf("ok   %-60s -> %s\n", what, got);
    } else {
        it_failures++;
        printf("FAIL line %d: %s\n     want %s\n     got  %s\n", line, what, want, got);
        if (it_c && it_c->err) {
            printf("%s: connection broken (%s); stopping\n", it_name, it_c->errstr);
            it_server_state();
            exit(it_finish());
        }
    }
    return ok;
}

static inline int it_check(int line, int cond, const char *what)
{
    it_checks++;
    if (cond) {
        printf("ok   %s\n", what);
    } else {
        it_failures++;
        printf("FAIL line %d: %s\n", line, what);
    }
    return cond;
}
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        char what_[512];                                                                           \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                \
        it_check(__LINE__, (cond) ? 1 : 0, what_);                                                 \
    } while (0)

enum it_want { W_STATUS, W_STR, W_INT, W_NIL, W_ERR, W_ERRPFX, W_ARRAYN, W_ANY_ERR };

/*
 * Runs a command (hiredis format; only %s %d %lld %b-free formats, since the text is
 * also printed with vsnprintf) and checks its reply. Returns the reply (caller frees).
 */
static inline redisReply *it_vexpect(int line, enum it_want w, const char *ws, long long wi,
                                     const char *fmt, va_list ap)
{
    char what[512], want[320];
    va_list ap2;
    va_copy(ap2, ap);
    vsnprintf(what, sizeof what, fmt, ap2);
    va_end(ap2);
    redisReply *r = redisvCommand(it_c, fmt, ap);
    int ok = 0;
    if (r) {
        switch (w) {
        case W_STATUS:
            ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, ws) == 0;
            break;
        case W_STR:
            ok = r->type == REDIS_REPLY_STRING && r->len == strlen(ws) &&
                 memcmp(r->str, ws, r->len) == 0;
            break;
        case W_INT:
            ok = r->type == REDIS_REPLY_INTEGER && r->integer == wi;
            break;
        case W_NIL:
            ok = r->type == REDIS_REPLY_NIL;
            break;
        case W_ERR:
            ok = r->type == REDIS_REPLY_ERROR && strcmp(r->str, ws) == 0;
            break;
        case W_ERRPFX:
            ok = r->type == REDIS_REPLY_ERROR && strncmp(r->str, ws, strlen(ws)) == 0;
            break;
        case W_ARRAYN:
            ok = r->type == REDIS_REPLY_ARRAY && (long long)r->elements == wi;
            break;
        case W_ANY_ERR:
            ok = r->type == REDIS_REPLY_ERROR;
            break;
        }
    }
    switch (w) {
    case W_STATUS:
        snprintf(want, sizeof want, "+%.300s", ws);
        break;
    case W_STR:
        snprintf(want, sizeof want, "\"%.300s\"", ws);
        break;
    case W_INT:
        snprintf(want, sizeof want, ":%lld", wi);
        break;
    case W_NIL:
        snprintf(want, sizeof want, "(nil)");
        break;
    case W_ERR:
        snprintf(want, sizeof want, "-%.300s", ws);
        break;
    case W_ERRPFX:
        snprintf(want, sizeof want, "-%.300s...", ws);
        break;
    case W_ARRAYN:
        snprintf(want, sizeof want, "(array of %lld)", wi);
        break;
    case W_ANY_ERR:
        snprintf(want, sizeof want, "(an error)");
        break;
    }
    it_report(ok, line, what, r, want);
    return r;
}

static inline void it_expect(int line, enum it_want w, const char *ws, long long wi,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = it_vexpect(line, w, ws, wi, fmt, ap);
    va_end(ap);
    if (r) {
        freeReplyObject(r);
    }
}

static inline redisReply *it_expect_keep(int line, enum it_want w, const char *ws, long long wi,
                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = it_vexpect(line, w, ws, wi, fmt, ap);
    va_end(ap);
    return r;
}

#define EXPECT_OK(...)        it_expect(__LINE__, W_STATUS, "OK", 0, __VA_ARGS__)
#define EXPECT_STATUS(s, ...) it_expect(__LINE__, W_STATUS, s, 0, __VA_ARGS__)
#define EXPECT_STR(s, ...)    it_expect(__LINE__, W_STR, s, 0, __VA_ARGS__)
#define EXPECT_INT(i, ...)    it_expect(__LINE__, W_INT, NULL, i, __VA_ARGS__)
#define EXPECT_NIL(...)       it_expect(__LINE__, W_NIL, NULL, 0, __VA_ARGS__)
#define EXPECT_ERR(s, ...)    it_expect(__LINE__, W_ERR, s, 0, __VA_ARGS__)
#define EXPECT_ERRPFX(s, ...) it_expect(__LINE__, W_ERRPFX, s, 0, __VA_ARGS__)
#define EXPECT_ANYERR(...)    it_expect(__LINE__, W_ANY_ERR, NULL, 0, __VA_ARGS__)
#define EXPECT_ARRAYN(n, ...) it_expect(__LINE__, W_ARRAYN, NULL, n, __VA_ARGS__)
/* Same checks, but the reply is returned for further inspection (caller frees). */
#define KEEP_ARRAYN(n, ...) it_expect_keep(__LINE__, W_ARRAYN, NULL, n, __VA_ARGS__)
#define KEEP_STR(s, ...)    it_expect_keep(__LINE__, W_STR, s, 0, __VA_ARGS__)

/* Runs a command and returns its reply with no check (caller frees); exits if none. */
static inline redisReply *it_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(it_c, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        printf("FAIL: no reply to '%s' (%s)\n", fmt, it_c->errstr);
        it_failures++;
        it_server_state();
        exit(it_finish());
    }
    return r;
}

/* The integer reply of a command, or LLONG_MIN (and a failure) if it is not one. */
static inline long long it_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(it_c, fmt, ap);
    va_end(ap);
    long long v = -(long long)0x7fffffffffffffffLL - 1;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    } else {
        char got[256];
        it_describe(got, sizeof got, r);
        printf("FAIL: '%s' did not return an integer: %s\n", fmt, got);
        it_failures++;
    }
    if (r) {
        freeReplyObject(r);
    }
    return v;
}

/* 1 if the array reply r holds a bulk string equal to s. */
static inline int it_array_has(const redisReply *r, const char *s)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        return 0;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if ((e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) &&
            e->len == strlen(s) && memcmp(e->str, s, e->len) == 0) {
            return 1;
        }
    }
    return 0;
}

#endif
