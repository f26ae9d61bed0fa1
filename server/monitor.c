/*
 * monitor.c - MONITOR.
 *
 * The server keeps an array of its monitors (s->mon, created by the first MONITOR); a
 * connection in it has c->monitor set. monitor_feed formats a command once, as Redis's
 * replicationFeedMonitors does (the time, the database, the client's address or "lua",
 * each argument quoted and escaped like sdscatrepr), and hands the line to every monitor
 * through pubsub_push: between replies, never inside one, and charged to the monitor's
 * output limit, past which pub/sub's deferred pass closes it. A monitor that turned its
 * replies off (CLIENT REPLY OFF) gets nothing, as in Redis, where monitor lines are
 * ordinary replies.
 *
 * What is shown follows Redis 7.0: commands that ran (a command refused before running,
 * for its arity or authentication, is not), never the administrative ones (Redis's
 * CMD_ADMIN rows and subcommands, mon_hidden), and the secrets of AUTH and HELLO ... AUTH
 * as "(redacted)" (Redis redacts them while running the command, so an AUTH with too
 * many arguments, refused before that, shows its arguments).
 *
 * Invariant: c->monitor is set exactly when c is in s->mon's array; a closed connection
 * is not in it (conn_close calls monitor_conn_reset).
 */
#include "monitor.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cmd.h"
#include "conn.h"
#include "log.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "txn.h"

struct monitor {
    struct conn **v;
    uint32_t n, cap;
};

void monitor_free(struct server *s)
{
    if (s->mon == NULL)
        return;
    free(s->mon->v);
    free(s->mon);
    s->mon = NULL;
}

int monitor_is(const struct conn *c)
{
    return c->monitor;
}

static int mon_add(struct conn *c)
{
    struct server *s = c->srv;
    if (s->mon == NULL && (s->mon = calloc(1, sizeof(*s->mon))) == NULL)
        return -1;
    struct monitor *m = s->mon;
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 4;
        struct conn **v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = c;
    c->monitor = 1;
    return 0;
}

void monitor_conn_reset(struct conn *c)
{
    struct monitor *m = c->srv->mon;
    if (!c->monitor || m == NULL)
        return;
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->v[i] == c) {
            memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(m->v[0]));
            m->n--;
            break;
        }
    }
    c->monitor = 0;
}

void monitor_cmd(struct req *r)
{
    struct conn *c = r->c;
    if (r->parent) { /* inside EXEC (Redis: a client that must get one reply per command) */
        reply_error(r, "ERR MONITOR isn't allowed for DENY BLOCKING client");
    } else if (c->monitor) {
        /* already monitoring: Redis answers nothing at all */
    } else if (mon_add(c) < 0) {
        reply_error(r, "ERR out of memory");
    } else {
        reply_ok(r);
    }
    req_done(r);
}

/* ---- the line ---- */

/* Commands and subcommands Redis 7.0 flags CMD_ADMIN: never shown. "name" hides every
 * subcommand; "name|sub" one subcommand. */
static const char *const mon_admin[] = {
    "bgsave",
    "bgrewriteaof",
    "save",
    "shutdown",
    "monitor",
    "debug",
    "pfdebug",
    "pfselftest",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "replconf",
    "failover",
    "config|get",
    "config|set",
    "config|resetstat",
    "config|rewrite",
    "client|kill",
    "client|list",
    "client|no-evict",
    "client|pause",
    "client|unpause",
    "client|unblock",
    "acl|deluser",
    "acl|dryrun",
    "acl|getuser",
    "acl|list",
    "acl|load",
    "acl|log",
    "acl|save",
    "acl|setuser",
    "acl|users",
    "slowlog|get",
    "slowlog|len",
    "slowlog|reset",
    "latency|doctor",
    "latency|graph",
    "latency|histogram",
    "latency|history",
    "latency|latest",
    "latency|reset",
    "module|list",
    "module|load",
    "module|loadex",
    "module|unload",
};

static int mon_hidden(const struct req *r)
{
    const char *name = r->cmd->name;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(mon_admin) / sizeof(mon_admin[0]); i++) {
        const char *a = mon_admin[i];
        if (strncmp(a, name, n) != 0)
            continue;
        if (a[n] == '\0')
            return 1;
        if (a[n] == '|' && r->argc > 1 && cmd_arg_is(&r->argv[1], a + n + 1))
            return 1;
    }
    return 0;
}

/* Which arguments Redis redacts (bit i: argument i; arguments past 63 are never). */
static uint64_t mon_redacted(const struct req *r)
{
    if (r->cmd->proc == cmd_server_auth) {
        if (r->argc > 3)
            return 0; /* refused before redacting */
        return r->argc == 3 ? 6 : 2;
    }
    if (r->cmd->proc != cmd_server_hello || r->argc < 2)
        return 0;
    long long ver;
    if (cmd_arg_ll(&r->argv[1], &ver) < 0 || ver < 2 || ver > 3)
        return 0; /* refused before the options are read */
    uint64_t bits = 0;
    for (uint32_t j = 2; j < r->argc && j < 62; j++) {
        uint32_t more = r->argc - 1 - j;
        if (cmd_arg_is(&r->argv[j], "auth") && more >= 2) {
            bits |= (uint64_t)3 << (j + 1);
            j += 2;
        } else if (cmd_arg_is(&r->argv[j], "setname") && more >= 1) {
            j++;
        } else {
            break; /* Redis stops at a syntax error */
        }
    }
    return bits;
}

/* Appends p[0..n) quoted and escaped as Redis's sdscatrepr does: \\ \" \n \r \t \a \b,
 * other unprintable bytes as \xHH. */
static int mon_repr(struct pbuf *b, const char *p, size_t n)
{
    static const char from[] = "\\\"\n\r\t\a\b", to[] = "\\\"nrtab";
    int rc = pbuf_append(b, "\"", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)p[i];
        const char *e = ch ? memchr(from, ch, sizeof(from) - 1) : NULL;
        if (e) {
            char esc[2] = {'\\', to[e - from]};
            rc = pbuf_append(b, esc, 2);
        } else {
            rc = isprint(ch) ? pbuf_append(b, &p[i], 1) : pbuf_appendf(b, "\\x%02x", ch);
        }
    }
    return rc ? rc : pbuf_append(b, "\"", 1);
}

/* The database Redis shows, the client's after the command ran: the one SELECT chose
 * (inside EXEC too), the client's for RESET and EXEC (whose SELECTs may change it), else
 * the one the command ran in (a later SELECT may have run before it completed). */
static uint32_t mon_db(const struct req *r)
{
    long long db;
    if (r->cmd->proc == cmd_server_select && cmd_arg_ll(&r->argv[1], &db) == 0 && db >= 0 &&
        (uint64_t)db < r->c->srv->cfg.databases)
        return (uint32_t)db;
    if (r->parent == NULL && (r->cmd->proc == cmd_server_reset || r->cmd->proc == cmd_txn_exec))
        return r->c->db;
    return r->db;
}

static int mon_format(const struct req *r, struct pbuf *b)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int lua = r->parent && (r->parent->cmd->flags & CMD_EVAL);
    int rc = pbuf_appendf(b, "+%ld.%06ld [%u %s] ", (long)tv.tv_sec, (long)tv.tv_usec, mon_db(r),
                          lua ? "lua" : r->c->addr);
    uint64_t redacted = mon_redacted(r);
    for (uint32_t i = 0; i < r->argc && rc == 0; i++) {
        if (i < 64 && (redacted >> i & 1))
            rc = pbuf_append(b, "\"(redacted)\"", 12);
        else
            rc = mon_repr(b, r->argv[i].ptr, r->argv[i].len);
        if (rc == 0 && i + 1 < r->argc)
            rc = pbuf_append(b, " ", 1);
    }
    return rc ? rc : pbuf_append(b, "\r\n", 2);
}

void monitor_feed(struct req *r)
{
    struct server *s = r->c->srv;
    struct monitor *m = s->mon;
    if (m == NULL || m->n == 0 || r->cmd == NULL || mon_hidden(r))
        return;
    struct pbuf b;
    pbuf_init(&b, s->cfg.client_output_buffer_limit); /* longer reaches no monitor */
    int rc = mon_format(r, &b);
    if (rc < 0)
        log_verbose("MONITOR: a line of %s does not fit client_output_buffer_limit", r->cmd->name);
    for (uint32_t i = 0; i < m->n; i++) {
        struct conn *c = m->v[i];
        if (!c->reply_off)
            pubsub_push(c, rc < 0 ? NULL : b.data, b.len);
    }
    pbuf_free(&b);
}
