/*
 * net.c - listeners, admission and the open-file limit.
 *
 * Each bind address gets one Redis listener (port) and one memcached listener
 * (memcached_port), unless the port is 0. Admission happens at accept time, before any
 * byte is read: past maxclients the client gets "-ERR max number of clients reached" (or
 * memcached's "SERVER_ERROR Too many open connections") and is closed; in protected mode
 * (no password set) a client from a non-loopback address gets an explanation and is
 * closed, as Redis does. Accepted sockets are non-blocking with TCP_NODELAY, because
 * pipelined replies are written in one batch per loop turn anyway.
 *
 * Descriptors: at start maxclients is fitted to RLIMIT_NOFILE, raised when it can be (as
 * Redis does), beside the descriptors the server keeps for itself, so that a full house of
 * clients never makes accept(2) fail. Should it fail anyway for want of descriptors or
 * memory (the limit lowered under a running server, the system's file table full), the
 * pending connection stays readable and a level-triggered listener would spin: every
 * listener is disabled for NET_BACKOFF_MIN_MS, doubling up to NET_BACKOFF_MAX_MS while
 * accepting keeps failing, and the failures are logged once per NET_LOG_EVERY_MS.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "pubsub.h"
#include "server.h"

#define NET_MAX_LISTENERS  32
#define NET_RESERVED_FDS   32 /* beyond the data files: directory, io_uring, log, listeners */
#define NET_BACKOFF_MIN_MS 100
#define NET_BACKOFF_MAX_MS 1000
#define NET_LOG_EVERY_MS   10000

struct net_ctx {
    struct server *s;
    enum conn_kind kind;
};

struct net {
    struct evconnlistener *l[NET_MAX_LISTENERS];
    enum conn_kind kind[NET_MAX_LISTENERS];
    int n;
    struct net_ctx redis, mc;
    struct event *backoff_ev; /* re-enables the listeners after a failed accept */
    uint64_t backoff_ms;      /* current pause; 0: accepting */
    uint64_t fail_count;      /* accept failures not logged yet */
    uint64_t fail_log_ms;     /* when the last one was logged (monotonic) */
};

static const char protected_msg[] =
    "-DENIED logstord is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from "
    "the loopback interface. To accept external clients, either set a password "
    "(requirepass), or disable protected mode with 'CONFIG SET protected_mode no' from the "
    "loopback interface or '--protected_mode no' at start-up, making sure the server is not "
    "reachable from the internet.\r\n";

static int addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
        return 0;
    }
    return 1; /* unix sockets */
}

static void addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port); /* Redis's form, so ADDR filters match */
    } else {
        snprintf(buf, len, "unix");
    }
}

static void net_reject(int fd, const char *msg)
{
    ssize_t w = write(fd, msg, strlen(msg));
    (void)w;
    close(fd);
}

static void net_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
    struct net_ctx *ctx = arg;
    struct server *s = ctx->s;
    (void)l;
    (void)salen;
    s->stats.connections_received++;
    if (s->net->backoff_ms) {
        log_notice("accepting clients again");
        s->net->backoff_ms = 0;
    }
    if (s->nconns >= s->cfg.maxclients) {
        s->stats.rejected_connections++;
        net_reject(fd, ctx->kind == CONN_REDIS ? "-ERR max number of clients reached\r\n"
                                               : "SERVER_ERROR Too many open connections\r\n");
        return;
    }
    if (s->cfg.protected_mode && !config_requires_auth(&s->cfg) && !addr_is_loopback(sa)) {
        s->stats.rejected_connections++;
        log_warning("protected mode: refused a client from a non-loopback address");
        net_reject(fd, ctx->kind == CONN_REDIS ? protected_msg
                                               : "SERVER_ERROR protected mode: set a password "
                                                 "or disable protected_mode\r\n");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = conn_new(s, fd, ctx->kind);
    if (c == NULL) {
        log_warning("cannot allocate a connection");
        return;
    }
    addr_format(sa, c->addr, sizeof(c->addr));
    struct sockaddr_storage ls;
    socklen_t lslen = sizeof(ls);
    if (getsockname(fd, (struct sockaddr *)&ls, &lslen) == 0)
        addr_format((struct sockaddr *)&ls, c->laddr, sizeof(c->laddr));
    log_debug("accepted %s client id=%llu from %s", ctx->kind == CONN_REDIS ? "redis" : "memcached",
              (unsigned long long)c->id, c->addr);
    server_after_events(s);
}

/* Logs an accept failure, at most once per NET_LOG_EVERY_MS with the count since. */
static void net_log_failure(struct net *n, int err)
{
    uint64_t now = server_mono_ms();
    n->fail_count++;
    if (n->fail_log_ms && now - n->fail_log_ms < NET_LOG_EVERY_MS)
        return;
    log_warning("accept failed (%llu time%s since the last report): %s; %s",
                (unsigned long long)n->fail_count, n->fail_count == 1 ? "" : "s",
                evutil_socket_error_to_string(err),
                n->backoff_ms ? "not accepting for a while" : "retrying");
    n->fail_count = 0;
    n->fail_log_ms = now;
}

static void net_enable(struct net *n, int on)
{
    for (int i = 0; i < n->n; i++) {
        if (on)
            evconnlistener_enable(n->l[i]);
        else
            evconnlistener_disable(n->l[i]);
    }
}

static void net_on_backoff_end(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    if (s->net && !s->shutdown_asked)
        net_enable(s->net, 1); /* backoff_ms stays until an accept succeeds */
}

/* Out of descriptors or memory: stop accepting for a while instead of spinning on the
 * connection that stays pending. */
static void net_backoff(struct server *s)
{
    struct net *n = s->net;
    n->backoff_ms = n->backoff_ms ? n->backoff_ms * 2 : NET_BACKOFF_MIN_MS;
    if (n->backoff_ms > NET_BACKOFF_MAX_MS)
        n->backoff_ms = NET_BACKOFF_MAX_MS;
    struct timeval tv = {(time_t)(n->backoff_ms / 1000),
                         (suseconds_t)(n->backoff_ms % 1000) * 1000};
    if (n->backoff_ev == NULL)
        n->backoff_ev = evtimer_new(s->base, net_on_backoff_end, s);
    if (n->backoff_ev == NULL || evtimer_add(n->backoff_ev, &tv) < 0)
        return; /* cannot arm the timer: keep accepting rather than stop for good */
    net_enable(n, 0);
}

static void net_on_error(struct evconnlistener *l, void *arg)
{
    struct net_ctx *ctx = arg;
    struct net *n = ctx->s->net;
    int err = EVUTIL_SOCKET_ERROR();
    (void)l;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
        net_backoff(ctx->s);
    net_log_failure(n, err);
}

static int net_bind_one(struct server *s, const char *host, uint64_t port, struct net_ctx *ctx)
{
    struct net *n = s->net;
    char portstr[16];
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%llu", (unsigned long long)port);
    if (strcmp(host, "*") == 0)
        host = "0.0.0.0"; /* Redis spellings of "every address" */
    else if (strcmp(host, "::*") == 0)
        host = "::";
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        log_warning("bind %s:%s: %s", host, portstr, gai_strerror(rc));
        return -1;
    }
    int ok = -1;
    for (struct addrinfo *ai = res; ai && ok < 0; ai = ai->ai_next) {
        if (n->n >= NET_MAX_LISTENERS)
            break;
        unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
        struct evconnlistener *l =
            evconnlistener_new_bind(s->base, net_on_accept, ctx, flags, (int)s->cfg.tcp_backlog,
                                    ai->ai_addr, (int)ai->ai_addrlen);
        if (l == NULL) {
            log_warning("could not listen on %s:%s: %s", host, portstr, strerror(errno));
            continue;
        }
        evconnlistener_set_error_cb(l, net_on_error);
        n->kind[n->n] = ctx->kind;
        n->l[n->n++] = l;
        ok = 0;
        log_notice("listening on %s:%s (%s)", host, portstr,
                   ctx->kind == CONN_REDIS ? "redis" : "memcached");
    }
    freeaddrinfo(res);
    return ok;
}

int net_listen(struct server *s)
{
    s->net = calloc(1, sizeof(*s->net));
    if (s->net == NULL)
        return -1;
    s->net->redis.s = s;
    s->net->redis.kind = CONN_REDIS;
    s->net->mc.s = s;
    s->net->mc.kind = CONN_MEMCACHED;
    char *binds = strdup(s->cfg.bind && s->cfg.bind[0] ? s->cfg.bind : "127.0.0.1");
    if (binds == NULL)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *h = strtok_r(binds, " ,", &save); h && rc == 0; h = strtok_r(NULL, " ,", &save)) {
        if (s->cfg.port && net_bind_one(s, h, s->cfg.port, &s->net->redis) < 0)
            rc = -1;
        if (rc == 0 && s->cfg.memcached_port &&
            net_bind_one(s, h, s->cfg.memcached_port, &s->net->mc) < 0)
            rc = -1;
    }
    free(binds);
    return rc;
}

/* Binds the Redis listeners of every bind address on port, after the existing ones.
 * Returns 0, or -1 with the listeners it made freed again. */
static int net_bind_redis(struct server *s, uint64_t port)
{
    struct net *n = s->net;
    int first = n->n, rc = 0;
    char *binds = strdup(s->cfg.bind && s->cfg.bind[0] ? s->cfg.bind : "127.0.0.1"), *save = NULL;
    if (binds == NULL)
        return -1;
    for (char *h = strtok_r(binds, " ,", &save); h && rc == 0; h = strtok_r(NULL, " ,", &save))
        rc = net_bind_one(s, h, port, &n->redis);
    free(binds);
    if (rc < 0) {
        while (n->n > first)
            evconnlistener_free(n->l[--n->n]);
    }
    return rc;
}

int net_set_port(struct server *s, uint64_t port)
{
    struct net *n = s->net;
    if (n == NULL)
        return -1;
    int old = n->n;
    if (port && net_bind_redis(s, port) < 0)
        return -1;
    int keep = 0;
    for (int i = 0; i < n->n; i++) {
        if (i < old && n->kind[i] == CONN_REDIS) {
            evconnlistener_free(n->l[i]);
            continue;
        }
        n->l[keep] = n->l[i];
        n->kind[keep++] = n->kind[i];
    }
    n->n = keep;
    return 0;
}

void net_close(struct server *s)
{
    if (s->net == NULL)
        return;
    for (int i = 0; i < s->net->n; i++)
        evconnlistener_free(s->net->l[i]);
    if (s->net->backoff_ev)
        event_free(s->net->backoff_ev);
    free(s->net);
    s->net = NULL;
}

/* Descriptors the server keeps for itself. */
static uint64_t net_reserved_fds(const struct server *s)
{
    uint64_t files = (s->cfg.disk_size + s->cfg.file_size - 1) / s->cfg.file_size;
    return files + NET_RESERVED_FDS;
}

/* Raises the soft open-file limit to need, the hard one with it when allowed
 * (CAP_SYS_RESOURCE), else as far as the hard one goes. Returns the soft limit in effect. */
static rlim_t net_raise_nofile(const struct rlimit *rl, rlim_t need)
{
    struct rlimit up = {need, rl->rlim_max};
    if (rl->rlim_max != RLIM_INFINITY && rl->rlim_max < need)
        up.rlim_max = need;
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
        return need;
    if (rl->rlim_max == RLIM_INFINITY || rl->rlim_max <= rl->rlim_cur)
        return rl->rlim_cur;
    up.rlim_cur = rl->rlim_max < need ? rl->rlim_max : need;
    up.rlim_max = rl->rlim_max;
    return setrlimit(RLIMIT_NOFILE, &up) == 0 ? up.rlim_cur : rl->rlim_cur;
}

uint64_t net_fd_fit(const struct server *s, uint64_t want)
{
    uint64_t reserved = net_reserved_fds(s), need = want + reserved;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return want; /* cannot tell: trust the configuration */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        rl.rlim_cur = net_raise_nofile(&rl, need);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return want;
    return rl.rlim_cur > reserved ? rl.rlim_cur - reserved : 0;
}

int net_size_maxclients(struct server *s)
{
    struct rlimit before;
    int known = getrlimit(RLIMIT_NOFILE, &before) == 0;
    uint64_t want = s->cfg.maxclients, fit = net_fd_fit(s, want);
    uint64_t reserved = net_reserved_fds(s);
    struct rlimit now;
    if (fit == 0) {
        log_warning("the open file limit (ulimit -n) is not enough to start: %llu descriptors "
                    "are kept for the data files and the server, and it cannot be raised; "
                    "raise it to at least %llu",
                    (unsigned long long)reserved, (unsigned long long)(reserved + want));
        return -1;
    }
    if (fit < want) {
        log_warning("maxclients lowered from %llu to %llu: the open file limit (ulimit -n) "
                    "cannot be raised to %llu (%llu descriptors are kept for the data files "
                    "and the server)",
                    (unsigned long long)want, (unsigned long long)fit,
                    (unsigned long long)(want + reserved), (unsigned long long)reserved);
        s->cfg.maxclients = fit;
    } else if (known && getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_cur != before.rlim_cur) {
        log_notice("open file limit raised from %llu to %llu for maxclients %llu",
                   (unsigned long long)before.rlim_cur, (unsigned long long)now.rlim_cur,
                   (unsigned long long)want);
    }
    return 0;
}

void net_sweep_idle(struct server *s)
{
    if (s->cfg.timeout == 0)
        return;
    uint64_t now = server_mono_ms(), limit = s->cfg.timeout * 1000;
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->inflight == 0 && now - c->last_ms > limit && !pubsub_subscribed(c) && !c->monitor)
            conn_close(c, "idle timeout"); /* a subscriber or monitor waits (Redis) */
        c = next;
    }
}
