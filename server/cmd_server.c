/*
 * cmd_server.c - connection and server commands: PING ECHO QUIT HELLO AUTH SELECT RESET,
 * CLIENT, COMMAND, INFO, CONFIG, TIME, SHUTDOWN, SAVE/BGSAVE/LASTSAVE.
 *
 * COMMAND's replies are generated from the command table (cmd_redis.c), so what clients
 * discover is exactly what dispatch accepts. INFO gathers the server's counters and the
 * engine's statistics (ls_get_stats) into Redis's "# Section / key:value" text. CONFIG
 * GET/SET walk the configuration descriptor table; only keys marked runtime may change.
 * We announce redis_version 7.0.0 because client libraries gate features on it; the
 * logstor version is reported beside it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cmd.h"
#include "glob.h"
#include "lockset.h"
#include "log.h"
#include "net.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "txn.h"

#define REDIS_COMPAT_VERSION "7.0.0"

static void done(struct req *r)
{
    req_done(r);
}

void cmd_server_ping(struct req *r)
{
    if (pubsub_ping(r)) /* RESP2 subscribed mode: ["pong", arg] */
        ;
    else if (r->argc > 2)
        cmd_wrong_args(r);
    else if (r->argc == 2)
        reply_bulk(r, r->argv[1].ptr, r->argv[1].len);
    else
        reply_simple(r, "PONG");
    done(r);
}

void cmd_server_echo(struct req *r)
{
    reply_bulk(r, r->argv[1].ptr, r->argv[1].len);
    done(r);
}

void cmd_server_quit(struct req *r)
{
    reply_ok(r);
    r->c->close_after_reply = 1;
    done(r);
}

/* Compares a guess with the secret in a time that depends only on the guess's length, so
 * that timing tells an attacker nothing about the secret's bytes (slen > 0). */
static int secret_eq(const char *guess, size_t glen, const char *secret, size_t slen)
{
    volatile unsigned diff = glen != slen;
    for (size_t i = 0; i < glen; i++)
        diff |= (unsigned char)guess[i] ^ (unsigned char)secret[i % slen];
    return diff == 0;
}

static int password_ok(struct req *r, const struct resp_arg *user, const struct resp_arg *pass)
{
    const struct config *cfg = &r->c->srv->cfg;
    if (user && !cmd_arg_is(user, "default"))
        return 0;
    if (!config_requires_auth(cfg))
        return user != NULL; /* HELLO AUTH default <anything> with no password: ok */
    return secret_eq(pass->ptr, pass->len, cfg->requirepass, cfg->requirepass_len);
}

void cmd_server_auth(struct req *r)
{
    if (r->argc > 3) {
        reply_error(r, ERR_SYNTAX);
    } else if (r->argc == 2 && !config_requires_auth(&r->c->srv->cfg)) {
        reply_error(r, "ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
    } else if (password_ok(r, r->argc == 3 ? &r->argv[1] : NULL, &r->argv[r->argc - 1])) {
        r->c->authed = 1;
        reply_ok(r);
    } else {
        reply_error(r, ERR_WRONGPASS);
    }
    done(r);
}

static void hello_reply(struct req *r)
{
    struct conn *c = r->c;
    reply_map(r, 7);
    reply_cstr(r, "server");
    reply_cstr(r, "redis");
    reply_cstr(r, "version");
    reply_cstr(r, REDIS_COMPAT_VERSION);
    reply_cstr(r, "proto");
    reply_int(r, c->proto);
    reply_cstr(r, "id");
    reply_int(r, (int64_t)c->id);
    reply_cstr(r, "mode");
    reply_cstr(r, "standalone");
    reply_cstr(r, "role");
    reply_cstr(r, "master");
    reply_cstr(r, "modules");
    reply_array(r, 0);
}

static int set_name(struct req *r, const struct resp_arg *a)
{
    for (size_t i = 0; i < a->len; i++) {
        if (a->ptr[i] < '!' || a->ptr[i] > '~') {
            reply_error(r, "ERR Client names cannot contain spaces, newlines or special "
                           "characters.");
            return -1;
        }
    }
    free(r->c->name);
    r->c->name = a->len ? strndup(a->ptr, a->len) : NULL;
    return 0;
}

void cmd_server_hello(struct req *r)
{
    long long ver = r->c->proto;
    const struct resp_arg *user = NULL, *pass = NULL, *name = NULL;
    if (r->argc >= 2 && cmd_arg_ll(&r->argv[1], &ver) < 0) {
        reply_error(r, "ERR Protocol version is not an integer or out of range");
        goto out;
    }
    for (uint32_t i = 2; i < r->argc; i++) {
        if (cmd_arg_is(&r->argv[i], "auth") && i + 2 < r->argc) {
            user = &r->argv[i + 1];
            pass = &r->argv[i + 2];
            i += 2;
        } else if (cmd_arg_is(&r->argv[i], "setname") && i + 1 < r->argc) {
            name = &r->argv[++i];
        } else {
            reply_errorf(r, "ERR Syntax error in HELLO option '%s'", r->argv[i].ptr);
            goto out;
        }
    }
    if (ver < 2 || ver > 3) {
        reply_error(r, "NOPROTO unsupported protocol version");
        goto out;
    }
    if (user && !password_ok(r, user, pass)) {
        reply_error(r, ERR_WRONGPASS);
        goto out;
    }
    if (user)
        r->c->authed = 1;
    if (!r->c->authed) {
        reply_error(r, "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                       "authenticate the client and select the RESP protocol version at the "
                       "same time");
        goto out;
    }
    if (name && set_name(r, name) < 0)
        goto out;
    r->c->proto = (int)ver;
    r->proto = (uint8_t)ver; /* HELLO answers in the protocol it chose */
    hello_reply(r);
out:
    done(r);
}

void cmd_server_select(struct req *r)
{
    long long db;
    if (cmd_arg_ll(&r->argv[1], &db) < 0 || db < INT32_MIN || db > INT32_MAX)
        reply_error(r, ERR_NOT_INT);
    else if (db < 0 || (uint64_t)db >= r->c->srv->cfg.databases)
        reply_error(r, ERR_DB_RANGE);
    else {
        r->c->db = (uint32_t)db;
        reply_ok(r);
    }
    done(r);
}

void cmd_server_reset(struct req *r)
{
    struct conn *c = r->c;
    txn_conn_reset(c); /* as Redis: out of MULTI, nothing watched */
    pubsub_conn_reset(c); /* unsubscribes from everything, no confirmations */
    c->db = 0;
    c->proto = 2;
    free(c->name);
    c->name = NULL;
    c->authed = !config_requires_auth(&c->srv->cfg);
    reply_simple(r, "RESET");
    done(r);
}

/* ---- CLIENT ---- */

static void client_line(struct pbuf *pb, const struct conn *c)
{
    uint64_t now = server_mono_ms();
    pbuf_appendf(pb,
                 "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=N db=%u "
                 "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=%zu multi-mem=0 "
                 "obl=0 oll=%u omem=%zu tot-mem=%zu events=r cmd=%s user=default redir=-1 "
                 "resp=%d lib-name=%s lib-ver=%s\n",
                 (unsigned long long)c->id, c->addr, c->laddr, c->fd, c->name ? c->name : "",
                 (unsigned long long)((now - c->created_ms) / 1000),
                 (unsigned long long)((now - c->last_ms) / 1000), c->db, c->in.len - c->in_pos,
                 c->in.cap - c->in.len, c->req_mem, c->nreqs, c->out_acct.used, c->mem.used,
                 c->last_cmd ? c->last_cmd : "NULL", c->proto, c->lib_name ? c->lib_name : "",
                 c->lib_ver ? c->lib_ver : "");
}

/* CLIENT LIST [ID id ...] and CLIENT INFO (only = the caller). */
static void client_list(struct req *r, const struct conn *only)
{
    struct pbuf pb;
    pbuf_init(&pb, 64 * 1024 * 1024);
    if (only) {
        client_line(&pb, only);
    } else if (r->argc > 2) {
        if (!cmd_arg_is(&r->argv[2], "id") || r->argc < 4) {
            reply_error(r, ERR_SYNTAX);
            pbuf_free(&pb);
            return;
        }
        for (uint32_t i = 3; i < r->argc; i++) {
            long long id;
            if (cmd_arg_ll(&r->argv[i], &id) < 0 || id <= 0) {
                reply_error(r, "ERR Invalid client ID");
                pbuf_free(&pb);
                return;
            }
            for (struct conn *c = r->c->srv->conns; c; c = c->next)
                if (c->id == (uint64_t)id)
                    client_line(&pb, c);
        }
    } else {
        for (struct conn *c = r->c->srv->conns; c; c = c->next)
            client_line(&pb, c);
    }
    reply_verbatim(r, pb.data ? pb.data : "", pb.len);
    pbuf_free(&pb);
}

/* CLIENT KILL's filters (Redis 7.0). Every client has type normal and user default: there
 * are no replicas, no pub/sub and no ACL users yet. */
struct kill_filter {
    const struct resp_arg *addr, *laddr;
    uint64_t id;     /* 0: any */
    int type_normal; /* -1: any; 1: TYPE normal; 0: a type no client has */
    int skipme;
};

static int arg_eq_str(const struct resp_arg *a, const char *s)
{
    return a->len == strlen(s) && memcmp(a->ptr, s, a->len) == 0;
}

/* Parses one "<option> <value>" pair at argv[i]. Returns 0, or -1 after replying. */
static int kill_option(struct req *r, uint32_t i, struct kill_filter *f)
{
    const struct resp_arg *opt = &r->argv[i], *val = &r->argv[i + 1];
    long long id;
    if (cmd_arg_is(opt, "id")) {
        if (cmd_arg_ll(val, &id) < 0 || id < 1) {
            reply_error(r, "ERR client-id should be greater than 0");
            return -1;
        }
        f->id = (uint64_t)id;
    } else if (cmd_arg_is(opt, "type")) {
        if (cmd_arg_is(val, "normal")) {
            f->type_normal = 1;
        } else if (cmd_arg_is(val, "master") || cmd_arg_is(val, "replica") ||
                   cmd_arg_is(val, "slave") || cmd_arg_is(val, "pubsub")) {
            f->type_normal = 0;
        } else {
            reply_errorf(r, "ERR Unknown client type '%s'", val->ptr);
            return -1;
        }
    } else if (cmd_arg_is(opt, "addr")) {
        f->addr = val;
    } else if (cmd_arg_is(opt, "laddr")) {
        f->laddr = val;
    } else if (cmd_arg_is(opt, "user")) {
        if (!arg_eq_str(val, "default")) {
            reply_errorf(r, "ERR No such user '%s'", val->ptr);
            return -1;
        }
    } else if (cmd_arg_is(opt, "skipme") && (cmd_arg_is(val, "yes") || cmd_arg_is(val, "no"))) {
        f->skipme = cmd_arg_is(val, "yes");
    } else {
        reply_error(r, ERR_SYNTAX);
        return -1;
    }
    return 0;
}

static int kill_matches(const struct kill_filter *f, const struct conn *c, const struct conn *me)
{
    return (f->addr == NULL || arg_eq_str(f->addr, c->addr)) &&
           (f->laddr == NULL || arg_eq_str(f->laddr, c->laddr)) && f->type_normal != 0 &&
           (f->id == 0 || c->id == f->id) && !(c == me && f->skipme);
}

/* CLIENT KILL <ip:port> (old form: may kill the caller, replies OK or "No such client") and
 * CLIENT KILL <option> <value> ... (replies the count; SKIPME yes by default). Every option
 * is checked before any client is closed; the caller, when it matches, is closed after
 * this reply. */
static void client_kill(struct req *r)
{
    struct kill_filter f = {.type_normal = -1, .skipme = 1};
    if (r->argc == 3) {
        f.addr = &r->argv[2];
        f.skipme = 0;
    } else {
        for (uint32_t i = 2; i < r->argc; i += 2) {
            if (i + 1 >= r->argc) {
                reply_error(r, ERR_SYNTAX);
                return;
            }
            if (kill_option(r, i, &f) < 0)
                return;
        }
    }
    int64_t killed = 0;
    struct conn *c = r->c->srv->conns;
    while (c) {
        struct conn *next = c->next;
        if (kill_matches(&f, c, r->c)) {
            killed++;
            if (c == r->c)
                c->close_after_reply = 1;
            else
                conn_close(c, "CLIENT KILL");
        }
        c = next;
    }
    if (r->argc > 3)
        reply_int(r, killed);
    else if (killed == 0)
        reply_error(r, "ERR No such client");
    else
        reply_ok(r);
}

static void client_setinfo(struct req *r)
{
    char **field;
    if (cmd_arg_is(&r->argv[2], "lib-name"))
        field = &r->c->lib_name;
    else if (cmd_arg_is(&r->argv[2], "lib-ver"))
        field = &r->c->lib_ver;
    else {
        reply_errorf(r, "ERR Unrecognized option '%s'", r->argv[2].ptr);
        return;
    }
    for (size_t i = 0; i < r->argv[3].len; i++) {
        if (r->argv[3].ptr[i] < '!' || r->argv[3].ptr[i] > '~') {
            reply_errorf(r, "ERR %s cannot contain spaces, newlines or special characters.",
                         field == &r->c->lib_name ? "lib-name" : "lib-ver");
            return;
        }
    }
    free(*field);
    *field = strndup(r->argv[3].ptr, r->argv[3].len);
    reply_ok(r);
}

static void client_id(struct req *r)
{
    reply_int(r, (int64_t)r->c->id);
}

static void client_setname(struct req *r)
{
    if (set_name(r, &r->argv[2]) == 0)
        reply_ok(r);
}

static void client_getname(struct req *r)
{
    if (r->c->name)
        reply_cstr(r, r->c->name);
    else
        reply_null(r);
}

static void client_list_all(struct req *r)
{
    client_list(r, NULL);
}

static void client_info(struct req *r)
{
    client_list(r, r->c);
}

static void client_ok(struct req *r)
{
    reply_ok(r);
}

static void client_help(struct req *r)
{
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ID",
        "SETNAME <name>",
        "GETNAME",
        "LIST [ID <id> ...]",
        "INFO",
        "KILL <ip:port>|<filter> <value> ... (ID ADDR LADDR TYPE USER SKIPME yes|no)",
        "SETINFO LIB-NAME|LIB-VER <value>",
        "HELP"};
    reply_array(r, sizeof(lines) / sizeof(lines[0]));
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        reply_simple(r, lines[i]);
}

/* CLIENT subcommands with Redis arities (counting "CLIENT" and the subcommand). */
static const struct {
    const char *name;
    int arity;
    void (*fn)(struct req *r);
} client_subs[] = {
    {"id", 2, client_id},           {"setname", 3, client_setname}, {"getname", 2, client_getname},
    {"list", -2, client_list_all},  {"info", 2, client_info},       {"kill", -3, client_kill},
    {"setinfo", 4, client_setinfo}, {"no-evict", 3, client_ok},     {"no-touch", 3, client_ok},
    {"reply", 3, client_ok},        {"help", 2, client_help},
};

void cmd_server_client(struct req *r)
{
    const struct resp_arg *sub = &r->argv[1];
    for (size_t i = 0; i < sizeof(client_subs) / sizeof(client_subs[0]); i++) {
        if (!cmd_arg_is(sub, client_subs[i].name))
            continue;
        int ar = client_subs[i].arity;
        if ((ar > 0 && r->argc != (uint32_t)ar) || (ar < 0 && r->argc < (uint32_t)-ar))
            reply_errorf(r, "ERR wrong number of arguments for 'client|%s' command",
                         client_subs[i].name);
        else
            client_subs[i].fn(r);
        done(r);
        return;
    }
    reply_errorf(r, "ERR unknown subcommand '%.128s'. Try CLIENT HELP.", sub->ptr);
    done(r);
}

/* ---- COMMAND ---- */

static size_t command_flags(const struct cmd_def *d, const char **out)
{
    size_t n = 0;
    if (d->flags & CMD_WRITE)
        out[n++] = "write";
    if (d->flags & CMD_READONLY)
        out[n++] = "readonly";
    if (d->flags & CMD_WRITE)
        out[n++] = "denyoom";
    if (d->flags & CMD_ADMIN)
        out[n++] = "admin";
    if (d->flags & CMD_NOAUTH)
        out[n++] = "no_auth";
    if (d->flags & CMD_FAST)
        out[n++] = "fast";
    if (d->flags & CMD_CONN)
        out[n++] = "loading";
    return n;
}

static void command_info_one(struct req *r, const struct cmd_def *d)
{
    const char *fl[8];
    size_t nf = command_flags(d, fl);
    char cat[32];
    reply_array(r, 10);
    reply_cstr(r, d->name);
    reply_int(r, d->arity);
    reply_set(r, nf);
    for (size_t i = 0; i < nf; i++)
        reply_simple(r, fl[i]);
    reply_int(r, d->first_key);
    reply_int(r, d->last_key);
    reply_int(r, d->key_step);
    snprintf(cat, sizeof(cat), "@%s", d->group);
    reply_set(r, 1);
    reply_simple(r, cat);
    reply_set(r, 0);   /* tips */
    reply_array(r, 0); /* key specs */
    reply_array(r, 0); /* subcommands */
}

static void command_doc_one(struct req *r, const struct cmd_def *d)
{
    reply_cstr(r, d->name);
    reply_map(r, 4);
    reply_cstr(r, "summary");
    reply_cstr(r, d->summary);
    reply_cstr(r, "since");
    reply_cstr(r, d->since);
    reply_cstr(r, "group");
    reply_cstr(r, d->group);
    reply_cstr(r, "complexity");
    reply_cstr(r, "O(1)");
}

static const struct cmd_def *command_find(const struct resp_arg *a)
{
    size_t n;
    const struct cmd_def *t = cmd_table(&n);
    for (size_t i = 0; i < n; i++)
        if (cmd_arg_is(a, t[i].name))
            return &t[i];
    return NULL;
}

static void command_docs(struct req *r)
{
    size_t n;
    const struct cmd_def *t = cmd_table(&n);
    if (r->argc == 2) {
        reply_map(r, n);
        for (size_t i = 0; i < n; i++)
            command_doc_one(r, &t[i]);
        return;
    }
    size_t found = 0;
    for (uint32_t i = 2; i < r->argc; i++)
        found += command_find(&r->argv[i]) != NULL;
    reply_map(r, found);
    for (uint32_t i = 2; i < r->argc; i++) {
        const struct cmd_def *d = command_find(&r->argv[i]);
        if (d)
            command_doc_one(r, d);
    }
}

void cmd_server_command(struct req *r)
{
    size_t n;
    const struct cmd_def *t = cmd_table(&n);
    if (r->argc == 1) {
        reply_array(r, n);
        for (size_t i = 0; i < n; i++)
            command_info_one(r, &t[i]);
    } else if (cmd_arg_is(&r->argv[1], "count") && r->argc == 2) {
        reply_int(r, (int64_t)n);
    } else if (cmd_arg_is(&r->argv[1], "info")) {
        if (r->argc == 2) {
            reply_array(r, n);
            for (size_t i = 0; i < n; i++)
                command_info_one(r, &t[i]);
        } else {
            reply_array(r, r->argc - 2);
            for (uint32_t i = 2; i < r->argc; i++) {
                const struct cmd_def *d = command_find(&r->argv[i]);
                if (d)
                    command_info_one(r, d);
                else
                    reply_null_array(r);
            }
        }
    } else if (cmd_arg_is(&r->argv[1], "docs")) {
        command_docs(r);
    } else if (cmd_arg_is(&r->argv[1], "list")) {
        reply_array(r, n);
        for (size_t i = 0; i < n; i++)
            reply_cstr(r, t[i].name);
    } else if (cmd_arg_is(&r->argv[1], "help")) {
        reply_array(r, 5);
        reply_simple(r, "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        reply_simple(r, "(no subcommand)");
        reply_simple(r, "COUNT");
        reply_simple(r, "INFO [<command-name> ...]");
        reply_simple(r, "DOCS [<command-name> ...] | LIST");
    } else {
        reply_errorf(r, "ERR unknown subcommand '%.128s'. Try COMMAND HELP.", r->argv[1].ptr);
    }
    done(r);
}

/* ---- INFO ---- */

#define INFO_SERVER      0x01
#define INFO_CLIENTS     0x02
#define INFO_MEMORY      0x04
#define INFO_PERSISTENCE 0x08
#define INFO_STATS       0x10
#define INFO_KEYSPACE    0x20
#define INFO_LOGSTOR     0x40
#define INFO_CLUSTER     0x80
#define INFO_DEFAULT     0xff

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void info_server(struct server *s, struct pbuf *pb)
{
    struct utsname u;
    uname(&u);
    uint64_t up = (server_mono_ms() - s->start_mono_ms) / 1000;
    pbuf_appendf(pb,
                 "# Server\r\nredis_version:%s\r\nlogstor_version:%s\r\nredis_mode:standalone\r\n"
                 "os:%s %s %s\r\narch_bits:%d\r\nmultiplexing_api:%s\r\nprocess_id:%d\r\n"
                 "tcp_port:%" PRIu64 "\r\nmemcached_port:%" PRIu64 "\r\nserver_time_usec:%" PRIu64
                 "\r\nuptime_in_seconds:%" PRIu64 "\r\nuptime_in_days:%" PRIu64
                 "\r\nhz:100\r\nexecutable:%s\r\nconfig_file:%s\r\n\r\n",
                 REDIS_COMPAT_VERSION, LS_VERSION_STRING, u.sysname, u.release, u.machine,
                 (int)(sizeof(void *) * 8), event_base_get_method(s->base), (int)getpid(),
                 s->cfg.port, s->cfg.memcached_port, server_unix_ms() * 1000, up, up / 86400,
                 s->executable ? s->executable : "", s->config_file ? s->config_file : "");
}

static void info_clients(struct server *s, struct pbuf *pb)
{
    struct lockset_stats ls;
    lockset_get_stats(s->locks, &ls);
    pbuf_appendf(pb,
                 "# Clients\r\nconnected_clients:%u\r\nmaxclients:%" PRIu64
                 "\r\nblocked_clients:0\r\nrequests_in_flight:%" PRIu64 "\r\nkeys_locked:%" PRIu64
                 "\r\ncommands_waiting_for_locks:%" PRIu64 "\r\ntotal_lock_waits:%" PRIu64
                 "\r\n\r\n",
                 s->nconns, s->cfg.maxclients, s->inflight, ls.keys, ls.waiting, ls.waits);
}

static void info_memory(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    uint64_t rss = rss_bytes();
    pbuf_appendf(pb,
                 "# Memory\r\nused_memory:%" PRIu64 "\r\nused_memory_rss:%" PRIu64
                 "\r\nused_memory_index:%" PRIu64 "\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction"
                 "\r\nmem_clients_normal:%zu\r\nmaxmemory_clients:%" PRIu64
                 "\r\nmem_allocator:libc\r\n\r\n",
                 rss, rss, st->index_bytes, s->client_mem.used + s->client_mem_closing.used,
                 s->cfg.maxmemory_clients);
}

static void info_persistence(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    pbuf_appendf(pb,
                 "# Persistence\r\nloading:0\r\ndurability:%s\r\nflush_interval_ms:%" PRIu64
                 "\r\nrecovery_time_ms:%" PRIu64 "\r\nrdb_changes_since_last_save:0\r\n"
                 "rdb_bgsave_in_progress:0\r\nrdb_last_save_time:%" PRIu64
                 "\r\naof_enabled:0\r\nengine_failed:%" PRIu64 "\r\n\r\n",
                 s->cfg.durability ? "periodic" : "sync", s->cfg.flush_interval_ms, st->recovery_ms,
                 s->start_ms / 1000, st->failed);
}

static void info_stats(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    const struct server_stats *t = &s->stats;
    pbuf_appendf(
        pb,
        "# Stats\r\ntotal_connections_received:%" PRIu64 "\r\ntotal_commands_processed:%" PRIu64
        "\r\ninstantaneous_ops_per_sec:%" PRIu64 "\r\ntotal_net_input_bytes:%" PRIu64
        "\r\ntotal_net_output_bytes:%" PRIu64 "\r\nrejected_connections:%" PRIu64
        "\r\nexpired_keys:%" PRIu64 "\r\nevicted_keys:0\r\nevicted_clients:%" PRIu64
        "\r\nkeyspace_hits:%" PRIu64 "\r\nkeyspace_misses:%" PRIu64
        "\r\ntotal_error_replies:%" PRIu64 "\r\nclient_query_buffer_limit_disconnections:%" PRIu64
        "\r\nclient_output_buffer_limit_disconnections:%" PRIu64
        "\r\nmemcached_commands_processed:%" PRIu64 "\r\nbusy_writes_parked:%" PRIu64
        "\r\nbusy_write_timeouts:%" PRIu64 "\r\ntxn_unbatched:%" PRIu64 "\r\n\r\n",
        t->connections_received, t->commands_processed, s->ops_per_sec, t->net_input_bytes,
        t->net_output_bytes, t->rejected_connections, st->expired_dropped, t->evicted_clients,
        t->keyspace_hits, t->keyspace_misses, t->errors, t->query_limit_disconnects,
        t->output_limit_disconnects, t->mc_commands, t->busy_parked, t->busy_timeouts,
        t->txn_unbatched);
}

static void info_keyspace(struct server *s, struct pbuf *pb)
{
    pbuf_appendf(pb, "# Keyspace\r\n");
    for (uint32_t t = 0; t < s->cfg.databases; t++) {
        uint64_t n = ls_count(s->eng, t);
        if (n)
            pbuf_appendf(pb, "db%u:keys=%" PRIu64 ",expires=0,avg_ttl=0\r\n", t, n);
    }
    pbuf_appendf(pb, "\r\n");
}

/* Compaction's counters, then one line per compaction group that holds segments. */
static void info_compaction(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    pbuf_appendf(
        pb,
        "segments_mixed:%" PRIu64 "\r\nsegments_group:%" PRIu64 "\r\ntomb_bytes:%" PRIu64
        "\r\nseparator_bytes_written:%" PRIu64 "\r\ncompaction_bytes_written:%" PRIu64
        "\r\ncompaction_runs:%" PRIu64 "\r\nsegments_compacted:%" PRIu64
        "\r\nsegments_freed:%" PRIu64 "\r\nsegments_blanked:%" PRIu64 "\r\nrecords_copied:%" PRIu64
        "\r\ntombstones_dropped:%" PRIu64 "\r\nwrite_stalls:%" PRIu64
        "\r\ncompaction_active:%d\r\ncompact_policy:%s\r\ncompaction_groups:%" PRIu64 "\r\n",
        st->segments_mixed, st->segments_group, st->tomb_bytes, st->separator_bytes_written,
        st->compaction_bytes_written, st->compaction_runs, st->segments_compacted,
        st->segments_freed, st->segments_blanked, st->records_copied, st->tombstones_dropped,
        st->write_stalls, st->compaction_active, s->cfg.compact_policy ? "cost-benefit" : "greedy",
        s->cfg.compaction_groups);
    /* Every group segment belongs to one group, so the walk stops once it has listed
     * segments_group of them: ls_group_segments may cost a pass over the segment table,
     * and databases x groups can reach 65536 pairs, most of them empty. */
    uint64_t left = st->segments_group;
    for (uint32_t t = 0; t < s->cfg.databases && left > 0; t++) {
        for (uint32_t g = 0; g < s->cfg.compaction_groups && left > 0; g++) {
            uint64_t n = ls_group_segments(s->eng, t, g);
            if (n == 0)
                continue;
            pbuf_appendf(pb, "group_db%u_g%u:segments=%" PRIu64 "\r\n", t, g, n);
            left -= n < left ? n : left;
        }
    }
}

static void info_logstor(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    double bpk = st->keys ? (double)st->index_bytes / (double)st->keys : 0.0;
    pbuf_appendf(
        pb,
        "# Logstor\r\ndisk_size:%" PRIu64 "\r\nsegment_size:%" PRIu64 "\r\nsegments_total:%" PRIu64
        "\r\nsegments_free:%" PRIu64 "\r\nsegments_used:%" PRIu64 "\r\nfiles:%" PRIu64
        "\r\nkeys:%" PRIu64 "\r\nlive_bytes:%" PRIu64 "\r\nuser_bytes_written:%" PRIu64
        "\r\nuser_cold_bytes_written:%" PRIu64 "\r\ndevice_bytes_written:%" PRIu64
        "\r\nwrite_amplification:%.2f\r\ndevice_writes:%" PRIu64 "\r\ndevice_reads:%" PRIu64
        "\r\nbuffer_hits:%" PRIu64 "\r\nputs:%" PRIu64 "\r\ngets:%" PRIu64 "\r\ndels:%" PRIu64
        "\r\nindex_bytes:%" PRIu64 "\r\nindex_bytes_per_key:%.1f\r\npending_bytes:%" PRIu64
        "\r\ninflight_writes:%" PRIu64 "\r\nexpired_dropped:%" PRIu64 "\r\nfailed:%" PRIu64
        "\r\nlast_error:%s\r\n"
        "recovery_ms:%" PRIu64 "\r\nrecovery_records:%" PRIu64
        "\r\nrecovery_corrupt_blocks:%" PRIu64 "\r\nrecovery_damaged_files:%" PRIu64
        "\r\nrecovery_segments:%" PRIu64 "\r\nparked_writes:%" PRIu64 "\r\n",
        s->cfg.disk_size, s->cfg.segment_size, st->segments_total, st->segments_free,
        st->segments_used, st->files, st->keys, st->live_bytes, st->user_bytes_written,
        st->user_cold_bytes_written, st->device_bytes_written, st->write_amplification,
        st->device_writes, st->device_reads, st->buffer_hits, st->puts, st->gets, st->dels,
        st->index_bytes, bpk, st->pending_bytes, st->inflight_writes, st->expired_dropped,
        st->failed, st->last_error ? ls_strerror(st->last_error) : "none", st->recovery_ms,
        st->recovery_records, st->recovery_corrupt_blocks, st->recovery_damaged_files,
        st->recovery_segments, s->parked);
    info_compaction(s, st, pb);
    pbuf_appendf(pb, "\r\n");
}

static unsigned info_section_bit(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } secs[] = {{"server", INFO_SERVER},     {"clients", INFO_CLIENTS},
                {"memory", INFO_MEMORY},     {"persistence", INFO_PERSISTENCE},
                {"stats", INFO_STATS},       {"keyspace", INFO_KEYSPACE},
                {"logstor", INFO_LOGSTOR},   {"engine", INFO_LOGSTOR},
                {"cluster", INFO_CLUSTER},
                {"default", INFO_DEFAULT},   {"all", INFO_DEFAULT},
                {"everything", INFO_DEFAULT}};
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
        if (strcasecmp(name, secs[i].name) == 0)
            return secs[i].bit;
    return 0;
}

static void info_build(struct server *s, struct pbuf *pb, unsigned mask)
{
    struct ls_stats st;
    ls_get_stats(s->eng, &st);
    if (mask & INFO_SERVER)
        info_server(s, pb);
    if (mask & INFO_CLIENTS)
        info_clients(s, pb);
    if (mask & INFO_MEMORY)
        info_memory(s, &st, pb);
    if (mask & INFO_PERSISTENCE)
        info_persistence(s, &st, pb);
    if (mask & INFO_STATS)
        info_stats(s, &st, pb);
    if (mask & INFO_CLUSTER) /* cluster clients look for cluster_enabled (cmd_cluster.c) */
        pbuf_appendf(pb, "# Cluster\r\ncluster_enabled:%d\r\n\r\n", s->cfg.cluster_enabled);
    if (mask & INFO_KEYSPACE)
        info_keyspace(s, pb);
    if (mask & INFO_LOGSTOR)
        info_logstor(s, &st, pb);
    if (pb->len >= 2)
        pb->len -= 2; /* no blank line after the last section */
}

void cmd_server_info(struct req *r)
{
    unsigned mask = r->argc == 1 ? INFO_DEFAULT : 0;
    for (uint32_t i = 1; i < r->argc; i++)
        mask |= info_section_bit(r->argv[i].ptr);
    struct pbuf pb;
    pbuf_init(&pb, 0);
    info_build(r->c->srv, &pb, mask);
    reply_verbatim(r, pb.data ? pb.data : "", pb.len);
    pbuf_free(&pb);
    done(r);
}

/* ---- CONFIG ---- */

static int config_matches(const struct config_desc *d, const struct resp_arg *pat)
{
    char dashed[64];
    size_t n = strlen(d->name);
    if (n >= sizeof(dashed))
        return 0;
    for (size_t i = 0; i <= n; i++)
        dashed[i] = d->name[i] == '_' ? '-' : d->name[i];
    return glob_match(pat->ptr, pat->len, d->name, n, 1) ||
           glob_match(pat->ptr, pat->len, dashed, n, 1);
}

/* Redis parameters that tools query (redis-benchmark asks for save and appendonly) and
 * that have a fixed answer here. */
static const char *const config_compat[][2] = {{"save", ""}, {"appendonly", "no"}};
#define CONFIG_COMPAT_N (sizeof(config_compat) / sizeof(config_compat[0]))

static int config_compat_match(size_t i, const struct req *r)
{
    for (uint32_t a = 2; a < r->argc; a++)
        if (glob_match(r->argv[a].ptr, r->argv[a].len, config_compat[i][0],
                       strlen(config_compat[i][0]), 1))
            return 1;
    return 0;
}

/* One key's value as CONFIG GET shows it (a binary-safe string in full). */
static void config_get_value(struct req *r, const struct config_desc *d)
{
    const struct config *cfg = &r->c->srv->cfg;
    char val[512];
    size_t len;
    const char *bin = config_binary_value(cfg, d, &len);
    if (bin) {
        reply_bulk(r, bin, len);
        return;
    }
    config_format(cfg, d, val, sizeof(val));
    reply_cstr(r, val);
}

static void config_get(struct req *r)
{
    size_t n, found = 0;
    const struct config_desc *t = config_table(&n);
    for (size_t i = 0; i < n; i++)
        for (uint32_t a = 2; a < r->argc; a++)
            if (config_matches(&t[i], &r->argv[a])) {
                found++;
                break;
            }
    for (size_t i = 0; i < CONFIG_COMPAT_N; i++)
        found += (size_t)config_compat_match(i, r);
    reply_map(r, found);
    for (size_t i = 0; i < CONFIG_COMPAT_N; i++) {
        if (config_compat_match(i, r)) {
            reply_cstr(r, config_compat[i][0]);
            reply_cstr(r, config_compat[i][1]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (uint32_t a = 2; a < r->argc; a++) {
            if (config_matches(&t[i], &r->argv[a])) {
                reply_cstr(r, t[i].name);
                config_get_value(r, &t[i]);
                break;
            }
        }
    }
}

static void config_apply(struct server *s, const struct config_desc *d)
{
    if (strcmp(d->name, "loglevel") == 0)
        log_set_level(s->cfg.loglevel);
}

/* Checks that a runtime value can take effect: maxclients must fit in the open-file limit,
 * raised if need be (Redis's error when it cannot). Returns 0, or -1 with err set. */
static int config_fits(struct server *s, const struct config_desc *d, const struct config *tmp,
                       char *err, size_t errlen)
{
    if (strcmp(d->name, "maxclients") != 0 || tmp->maxclients <= s->cfg.maxclients)
        return 0;
    uint64_t fit = net_fd_fit(s, tmp->maxclients);
    if (fit >= tmp->maxclients)
        return 0;
    snprintf(err, errlen,
             "The operating system is not able to handle the specified number of clients, try "
             "with %llu",
             (unsigned long long)fit);
    return -1;
}

static void config_set_cmd(struct req *r)
{
    struct server *s = r->c->srv;
    char err[256];
    if (r->argc < 4 || (r->argc - 2) % 2 != 0) {
        reply_error(r, "ERR wrong number of arguments for 'config|set' command");
        return;
    }
    /* Validate every pair first so that a bad pair changes nothing. */
    for (uint32_t i = 2; i < r->argc; i += 2) {
        const struct config_desc *d = config_find(r->argv[i].ptr);
        if (d == NULL) {
            reply_errorf(r, "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                         r->argv[i].ptr);
            return;
        }
        if (!d->runtime) {
            reply_errorf(r,
                         "ERR CONFIG SET failed (possibly related to argument '%s') - can't "
                         "set immutable config",
                         r->argv[i].ptr);
            return;
        }
        struct config tmp;
        if (config_defaults(&tmp) < 0 || config_set_len(&tmp, d->name, r->argv[i + 1].ptr,
                                                        r->argv[i + 1].len, err, sizeof(err)) < 0) {
            config_free(&tmp);
            reply_errorf(r, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                         r->argv[i].ptr, err);
            return;
        }
        if (config_fits(s, d, &tmp, err, sizeof(err)) < 0) {
            config_free(&tmp);
            reply_errorf(r, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                         r->argv[i].ptr, err);
            return;
        }
        config_free(&tmp);
    }
    for (uint32_t i = 2; i < r->argc; i += 2) {
        const struct config_desc *d = config_find(r->argv[i].ptr);
        config_set_len(&s->cfg, d->name, r->argv[i + 1].ptr, r->argv[i + 1].len, err, sizeof(err));
        config_apply(s, d);
        log_notice("CONFIG SET %s %s", d->name,
                   d->type == CONFIG_STR && strcmp(d->name, "requirepass") == 0
                       ? "(hidden)"
                       : r->argv[i + 1].ptr);
    }
    reply_ok(r);
}

void cmd_server_config(struct req *r)
{
    const struct resp_arg *sub = &r->argv[1];
    if (cmd_arg_is(sub, "get") && r->argc >= 3) {
        config_get(r);
    } else if (cmd_arg_is(sub, "set")) {
        config_set_cmd(r);
    } else if (cmd_arg_is(sub, "resetstat") && r->argc == 2) {
        memset(&r->c->srv->stats, 0, sizeof(r->c->srv->stats));
        reply_ok(r);
    } else if (cmd_arg_is(sub, "rewrite") && r->argc == 2) {
        reply_error(r, "ERR CONFIG REWRITE is not supported; edit the configuration file");
    } else if (cmd_arg_is(sub, "get")) {
        reply_error(r, "ERR wrong number of arguments for 'config|get' command");
    } else {
        reply_errorf(r, "ERR unknown subcommand '%.128s'. Try CONFIG HELP.", sub->ptr);
    }
    done(r);
}

/* ---- TIME, SHUTDOWN, SAVE ---- */

void cmd_server_time(struct req *r)
{
    struct timespec ts;
    char a[32], b[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(a, sizeof(a), "%lld", (long long)ts.tv_sec);
    snprintf(b, sizeof(b), "%ld", ts.tv_nsec / 1000);
    reply_array(r, 2);
    reply_cstr(r, a);
    reply_cstr(r, b);
    done(r);
}

void cmd_server_shutdown(struct req *r)
{
    for (uint32_t i = 1; i < r->argc; i++) {
        const struct resp_arg *a = &r->argv[i];
        if (cmd_arg_is(a, "abort")) {
            reply_error(r, "ERR No shutdown in progress.");
            done(r);
            return;
        }
        if (!cmd_arg_is(a, "nosave") && !cmd_arg_is(a, "save") && !cmd_arg_is(a, "now") &&
            !cmd_arg_is(a, "force")) {
            reply_error(r, ERR_SYNTAX);
            done(r);
            return;
        }
    }
    /* As in Redis, a successful SHUTDOWN sends no reply: the connection closes. */
    r->c->close_after_reply = 1;
    server_request_shutdown(r->c->srv, "SHUTDOWN command");
    done(r);
}

static void save_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    (void)cas;
    if (rc == 0) {
        r->c->srv->last_save_ms = server_unix_ms();
        reply_ok(r);
    } else {
        reply_engine_error(r, rc);
    }
    done(r);
}

void cmd_server_save(struct req *r)
{
    int rc = ls_sync(cmd_engine(r), save_cb, r);
    if (rc < 0) {
        reply_engine_error(r, rc);
        done(r);
    }
}

static void bgsave_cb(void *arg, int rc, uint64_t cas)
{
    struct server *s = arg;
    (void)cas;
    if (rc == 0)
        s->last_save_ms = server_unix_ms();
    else
        log_warning("BGSAVE: engine sync failed: %s", ls_strerror(rc));
}

void cmd_server_bgsave(struct req *r)
{
    int rc = ls_sync(cmd_engine(r), bgsave_cb, r->c->srv);
    if (rc < 0)
        reply_engine_error(r, rc);
    else
        reply_simple(r, "Background saving started");
    done(r);
}

void cmd_server_lastsave(struct req *r)
{
    struct server *s = r->c->srv;
    reply_int(r, (int64_t)((s->last_save_ms ? s->last_save_ms : s->start_ms) / 1000));
    done(r);
}
