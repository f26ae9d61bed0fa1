/*
 * net.c - listeners and admission.
 *
 * Each bind address gets one Redis listener (port) and one memcached listener
 * (memcached_port), unless the port is 0. Admission happens at accept time, before any
 * byte is read: past maxclients the client gets "-ERR max number of clients reached" (or
 * memcached's "SERVER_ERROR Too many open connections") and is closed; in protected mode
 * (no password set) a client from a non-loopback address gets an explanation and is
 * closed, as Redis does. Accepted sockets are non-blocking with TCP_NODELAY, because
 * pipelined replies are written in one batch per loop turn anyway.
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
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "server.h"

#define NET_MAX_LISTENERS 32

struct net_ctx {
    struct server *s;
    enum conn_kind kind;
};

struct net {
    struct evconnlistener *l[NET_MAX_LISTENERS];
    int n;
    struct net_ctx redis, mc;
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

static void net_on_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_warning("accept failed: %s", evutil_socket_error_to_string(err));
    (void)l;
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

void net_close(struct server *s)
{
    if (s->net == NULL)
        return;
    for (int i = 0; i < s->net->n; i++)
        evconnlistener_free(s->net->l[i]);
    free(s->net);
    s->net = NULL;
}

void net_sweep_idle(struct server *s)
{
    if (s->cfg.timeout == 0)
        return;
    uint64_t now = server_mono_ms(), limit = s->cfg.timeout * 1000;
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->inflight == 0 && now - c->last_ms > limit)
            conn_close(c, "idle timeout");
        c = next;
    }
}
