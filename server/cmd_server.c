/*
 * cmd_server.c - connection and server commands: PING ECHO QUIT HELLO AUTH SELECT RESET,
 * CLIENT, COMMAND, INFO, CONFIG, ROLE, ACL, TIME, SHUTDOWN, SAVE/BGSAVE/LASTSAVE.
 *
 * COMMAND's replies are generated from the command table (cmd_redis.c) and the subcommand
 * tables here (CLIENT, COMMAND, CONFIG, ACL: one row per subcommand with its Redis arity and
 * full name, "client|list", which CLIENT LIST shows as cmd= and INFO commandstats counts),
 * so what clients discover is exactly what dispatch accepts. INFO gathers the server's
 * counters, the engine's statistics (ls_get_stats), per-command and per-error-code counts
 * (kept here, fed by dispatch and reply_error) and the process's CPU times into Redis's
 * "# Section / key:value" text. CONFIG GET/SET walk the configuration descriptor table; only
 * keys marked runtime may change; a few Redis parameters clients read (maxmemory, save,
 * appendonly) have a fixed value. There is no replication and one user: ROLE says master,
 * ACL knows "default".
 * We announce redis_version 7.0.0 because client libraries gate features on it; the
 * logstor version is reported beside it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cmd.h"
#include "large.h"
#include "reaper.h"
#include "glob.h"
#include "loading.h"
#include "lockset.h"
#include "log.h"
#include "monitor.h"
#include "net.h"
#include "block.h"
#include "pause.h"
#include "pubsub.h"
#include "rconfig.h"
#include "reply.h"
#include "script.h"
#include "server.h"
#include "sha256.h"
#include "tracking.h"
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
    txn_conn_reset(c);    /* as Redis: out of MULTI, nothing watched */
    pubsub_conn_reset(c); /* unsubscribes from everything, no confirmations */
    monitor_conn_reset(c);
    tracking_conn_reset(c);
    conn_reply_mode(c, r, 0); /* CLIENT REPLY ON: +RESET is sent */
    c->db = 0;
    c->proto = 2;
    free(c->name);
    c->name = NULL;
    c->authed = !config_requires_auth(&c->srv->cfg);
    reply_simple(r, "RESET"); /* CLIENT NO-EVICT stays, as in Redis 7.0 */
    done(r);
}

/* ---- command and error statistics (INFO commandstats, errorstats) ---- */

/* Per command (or container|subcommand) name: calls that ran, the microseconds the event
 * loop spent starting them (a command that waits for its locks or the engine goes on
 * later: that part is not counted, as Redis does not count a blocked command's wait),
 * calls refused before running (arity, authentication) and calls that replied an error.
 * Names are the command table's and the subcommand tables' static strings. */
#define CMDSTAT_MAX 256
#define ERRSTAT_MAX 128 /* distinct error codes counted; later new ones are not */

struct cmdstat {
    const char *name;
    uint64_t calls, usec, rejected, failed;
};

static struct cmdstat cmdstats[CMDSTAT_MAX];
static size_t ncmdstats;
static struct {
    char code[32];
    uint64_t count;
} errstats[ERRSTAT_MAX];
static size_t nerrstats;
/* A subcommand refused for its arity or name (Redis refuses those before running them):
 * while its error is replied, refusing is set, so that the error is not a failed call;
 * refused_conn then keeps cmd_server_stat_end from counting it as a call. */
static int refusing;
static const struct conn *refused_conn;

static struct cmdstat *cmdstat_of(const char *name)
{
    /* Names are the command table's static strings: a pointer pass finds them without a
     * strcmp per entry ahead (was 1% of a pipelined GET's time with a dozen in use). */
    for (size_t i = 0; i < ncmdstats; i++)
        if (cmdstats[i].name == name)
            return &cmdstats[i];
    for (size_t i = 0; i < ncmdstats; i++)
        if (strcmp(cmdstats[i].name, name) == 0)
            return &cmdstats[i];
    if (ncmdstats == CMDSTAT_MAX)
        return NULL;
    memset(&cmdstats[ncmdstats], 0, sizeof(cmdstats[0]));
    cmdstats[ncmdstats].name = name;
    return &cmdstats[ncmdstats++];
}

/* The name a command's statistics go to: the full subcommand name the handler set in
 * c->last_cmd ("client|list") when it ran, else the command's. */
static const char *cmdstat_name(const struct conn *c, const char *cmd)
{
    const char *last = c->last_cmd;
    if (last == cmd) /* the command itself, no subcommand (the usual case) */
        return cmd;
    size_t n = strlen(cmd);
    return last && strncmp(last, cmd, n) == 0 && last[n] == '|' ? last : cmd;
}

uint64_t cmd_server_stat_begin(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void cmd_server_stat_end_at(const struct conn *c, const char *cmd, uint64_t t0, uint64_t t1)
{
    struct cmdstat *st = cmdstat_of(cmdstat_name(c, cmd));
    if (st && refused_conn != c) {
        st->calls++;
        st->usec += t1 - t0;
    }
    if (refused_conn == c)
        refused_conn = NULL;
}

void cmd_server_stat_end(const struct conn *c, const char *cmd, uint64_t t0)
{
    cmd_server_stat_end_at(c, cmd, t0, cmd_server_stat_begin());
}

void cmd_server_stat_rejected(const char *cmd)
{
    struct cmdstat *st = cmdstat_of(cmd);
    if (st)
        st->rejected++;
}

void cmd_server_stat_failed(const struct req *r)
{
    if (r->cmd && r->exec && !refusing) {
        struct cmdstat *st = cmdstat_of(cmdstat_name(r->c, r->cmd->name));
        if (st)
            st->failed++;
    }
}

void cmd_server_stat_error(const struct req *r, const char *err)
{
    size_t n = strcspn(err, " ");
    cmd_server_stat_failed(r);
    if (n >= sizeof(errstats[0].code))
        n = sizeof(errstats[0].code) - 1;
    for (size_t i = 0; i < nerrstats; i++) {
        if (strlen(errstats[i].code) == n && memcmp(errstats[i].code, err, n) == 0) {
            errstats[i].count++;
            return;
        }
    }
    if (nerrstats == ERRSTAT_MAX)
        return;
    memcpy(errstats[nerrstats].code, err, n);
    errstats[nerrstats].code[n] = '\0';
    errstats[nerrstats++].count = 1;
}

/* Refuses r's subcommand with Redis's error msg: a rejected call of name, not a failed
 * one. */
static void subcmd_refuse(struct req *r, const char *name, const char *msg)
{
    cmd_server_stat_rejected(name);
    refused_conn = r->c;
    refusing = 1;
    reply_error(r, msg);
    refusing = 0;
}

static void cmdstat_reset(void)
{
    ncmdstats = 0;
    nerrstats = 0;
}

static void info_commandstats(struct pbuf *pb)
{
    pbuf_appendf(pb, "# Commandstats\r\n");
    for (size_t i = 0; i < ncmdstats; i++) {
        const struct cmdstat *st = &cmdstats[i];
        if (st->calls == 0 && st->rejected == 0 && st->failed == 0)
            continue;
        pbuf_appendf(pb,
                     "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64
                     ",usec_per_call=%.2f,rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64 "\r\n",
                     st->name, st->calls, st->usec,
                     st->calls ? (double)st->usec / (double)st->calls : 0.0, st->rejected,
                     st->failed);
    }
    pbuf_appendf(pb, "\r\n");
}

static void info_errorstats(struct pbuf *pb)
{
    pbuf_appendf(pb, "# Errorstats\r\n");
    for (size_t i = 0; i < nerrstats; i++)
        pbuf_appendf(pb, "errorstat_%s:count=%" PRIu64 "\r\n", errstats[i].code, errstats[i].count);
    pbuf_appendf(pb, "\r\n");
}

/* ---- subcommands ---- */

/* A HELP subcommand's reply: one simple string per line. */
static void reply_help(struct req *r, const char *const *lines, size_t n)
{
    reply_lines(r, lines, n);
}

/* Runs r's subcommand (argv[1]) from subs, or replies Redis's unknown-subcommand error
 * naming the container (upper case, as in "Try CLIENT HELP."). Ends the request. */
static void subcmd_run(struct req *r, const struct subcmd *subs, size_t n, const char *container)
{
    const struct resp_arg *sub = &r->argv[1];
    char msg[256];
    for (size_t i = 0; i < n; i++) {
        if (!cmd_arg_is(sub, subs[i].name))
            continue;
        int ar = subs[i].arity;
        r->c->last_cmd = subs[i].full;
        if ((ar > 0 && r->argc != (uint32_t)ar) || (ar < 0 && r->argc < (uint32_t)-ar)) {
            snprintf(msg, sizeof(msg), "ERR wrong number of arguments for '%s' command",
                     subs[i].full);
            subcmd_refuse(r, subs[i].full, msg);
        } else {
            subs[i].fn(r);
        }
        done(r);
        return;
    }
    snprintf(msg, sizeof(msg), "ERR unknown subcommand '%.128s'. Try %s HELP.", sub->ptr,
             container);
    for (char *p = msg; *p; p++) /* an error line holds no CR or LF */
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    subcmd_refuse(r, r->cmd->name, msg);
    done(r);
}

void cmd_server_subcmd_run(struct req *r, const struct subcmd *subs, size_t n,
                           const char *container)
{
    subcmd_run(r, subs, n, container);
}

/* ---- CLIENT ---- */

/* Bytes of the command r as its client sent it in RESP (Redis counts the command being
 * run in the query buffer, qbuf, since it stays there until the command ends). */
static size_t req_wire_bytes(const struct req *r)
{
    char tmp[32];
    size_t n = (size_t)snprintf(tmp, sizeof(tmp), "*%u\r\n", r->argc);
    for (uint32_t i = 0; i < r->argc; i++)
        n += (size_t)snprintf(tmp, sizeof(tmp), "$%zu\r\n", r->argv[i].len) + r->argv[i].len + 2;
    return n;
}

/* One CLIENT LIST line in Redis 7.0's fields (lib-name and lib-ver of CLIENT SETINFO
 * after them). The reply buffer is the connection's output buffer: rbs its size, rbp its
 * fill since it was last emptied, obl its unsent bytes; oll counts the replies waiting in
 * requests behind it and omem their memory. The caller's own request, whose reply is being
 * built, counts as Redis counts it: in qbuf, not in oll. */
/* CLIENT LIST's flags, in Redis 7.0's order: O monitor, P subscribed, x in MULTI, b
 * blocked (held by CLIENT PAUSE), t tracking (R broken redirection, B BCAST), e no-evict;
 * N for none. */
static void client_flags(const struct conn *c, char *f)
{
    char *p = f;
    if (c->monitor)
        *p++ = 'O';
    if (pubsub_subscribed(c))
        *p++ = 'P';
    if (txn_in_multi(c))
        *p++ = 'x';
    if (c->pause_req || c->block_req)
        *p++ = 'b';
    p = tracking_flags(c, p); /* t, R, B */
    if (c->no_evict)
        *p++ = 'e';
    if (p == f)
        *p++ = 'N';
    *p = '\0';
}

static void client_line(struct pbuf *pb, const struct conn *c, const struct req *me)
{
    char flags[16];
    client_flags(c, flags);
    uint64_t now = server_mono_ms();
    size_t qbuf = c->in.len - c->in_pos;
    size_t omem = c->out_acct.used > c->out.cap ? c->out_acct.used - c->out.cap : 0;
    uint32_t oll = c->nreqs;
    if (me && me->c == c) {
        qbuf += req_wire_bytes(me);
        oll--;
    }
    pbuf_appendf(pb,
                 "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=%u "
                 "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=%zu multi-mem=0 "
                 "rbs=%zu rbp=%zu obl=%zu oll=%u omem=%zu tot-mem=%zu events=r cmd=%s "
                 "user=default redir=%lld resp=%d lib-name=%s lib-ver=%s\n",
                 (unsigned long long)c->id, c->addr, c->laddr, c->fd, c->name ? c->name : "",
                 (unsigned long long)((now - c->created_ms) / 1000),
                 (unsigned long long)((now - c->last_ms) / 1000), flags, c->db, qbuf,
                 c->in.cap - c->in.len, c->req_mem, c->out.cap, c->out.len, c->out.len - c->out_pos,
                 oll, omem, c->mem.used, c->last_cmd ? c->last_cmd : "NULL", tracking_redir(c),
                 c->proto, c->lib_name ? c->lib_name : "", c->lib_ver ? c->lib_ver : "");
}

/* CLIENT LIST [ID id ...] and CLIENT INFO (only = the caller). */
static void client_list(struct req *r, const struct conn *only)
{
    struct pbuf pb;
    pbuf_init(&pb, 64 * 1024 * 1024);
    if (only) {
        client_line(&pb, only, r);
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
                    client_line(&pb, c, r);
        }
    } else {
        for (struct conn *c = r->c->srv->conns; c; c = c->next)
            client_line(&pb, c, r);
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

/* Parses ON|OFF into *on. Returns 0, or -1 after replying a syntax error. */
static int arg_on_off(struct req *r, const struct resp_arg *a, int *on)
{
    if (cmd_arg_is(a, "on") || cmd_arg_is(a, "off")) {
        *on = cmd_arg_is(a, "on");
        return 0;
    }
    reply_error(r, ERR_SYNTAX);
    return -1;
}

/* CLIENT NO-EVICT ON|OFF: whether client eviction (maxmemory_clients) may close it. */
static void client_no_evict(struct req *r)
{
    int on;
    if (arg_on_off(r, &r->argv[2], &on) == 0) {
        r->c->no_evict = on;
        reply_ok(r);
    }
}

/* CLIENT NO-TOUCH ON|OFF (Redis 7.2): accepted; logstord keeps no access times to spare. */
static void client_no_touch(struct req *r)
{
    int on;
    if (arg_on_off(r, &r->argv[2], &on) == 0)
        reply_ok(r);
}

/* CLIENT REPLY's mode: 0 ON, 1 OFF, 2 SKIP, -1 none of them. */
static int reply_mode(const struct resp_arg *a)
{
    if (cmd_arg_is(a, "on"))
        return 0;
    if (cmd_arg_is(a, "off"))
        return 1;
    return cmd_arg_is(a, "skip") ? 2 : -1;
}

void cmd_server_client_read(struct req *r)
{
    int mode = r->argc == 3 && cmd_arg_is(&r->argv[1], "reply") ? reply_mode(&r->argv[2]) : -1;
    if (mode >= 0)
        conn_reply_mode(r->c, r, mode);
}

/* CLIENT REPLY ON|OFF|SKIP: the mode was applied when the command was read
 * (cmd_server_client_read), or applies now inside EXEC. Only ON answers (+OK). */
static void client_reply(struct req *r)
{
    int mode = reply_mode(&r->argv[2]);
    if (mode < 0) {
        reply_error(r, ERR_SYNTAX);
        return;
    }
    if (r->parent)
        conn_reply_mode(r->c, r, mode);
    if (mode == 0)
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
        "REPLY ON|OFF|SKIP",
        "PAUSE <timeout> [WRITE|ALL]",
        "UNPAUSE",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] "
        "[NOLOOP]",
        "CACHING (YES|NO)",
        "GETREDIR",
        "TRACKINGINFO",
        "HELP"};
    reply_help(r, lines, sizeof(lines) / sizeof(lines[0]));
}

/* CLIENT UNBLOCK id [TIMEOUT|ERROR]: a client blocked in BLPOP and friends (block.c). */
static void client_unblock(struct req *r)
{
    long long id;
    int err = 0;
    if (cmd_arg_ll(&r->argv[2], &id) < 0) {
        reply_error(r, ERR_NOT_INT);
        return;
    }
    if (r->argc == 4) {
        if (cmd_arg_is(&r->argv[3], "error"))
            err = 1;
        else if (!cmd_arg_is(&r->argv[3], "timeout")) {
            reply_error(r, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    } else if (r->argc > 4) {
        reply_error(r, ERR_SYNTAX);
        return;
    }
    for (struct conn *c = r->c->srv->conns; c; c = c->next) {
        if (c->id == (uint64_t)id && c->block_req && c != r->c) {
            reply_int(r, block_unblock(c, err));
            return;
        }
    }
    reply_int(r, 0);
}

/* CLIENT subcommands with Redis arities (counting "CLIENT" and the subcommand). */
static const struct subcmd client_subs[] = {
    {"id", "client|id", 2, client_id},
    {"setname", "client|setname", 3, client_setname},
    {"getname", "client|getname", 2, client_getname},
    {"list", "client|list", -2, client_list_all},
    {"info", "client|info", 2, client_info},
    {"kill", "client|kill", -3, client_kill},
    {"setinfo", "client|setinfo", 4, client_setinfo},
    {"no-evict", "client|no-evict", 3, client_no_evict},
    {"no-touch", "client|no-touch", 3, client_no_touch},
    {"reply", "client|reply", 3, client_reply},
    {"pause", "client|pause", -3, pause_client_pause},
    {"unpause", "client|unpause", 2, pause_client_unpause},
    {"unblock", "client|unblock", -3, client_unblock},
    {"tracking", "client|tracking", -3, tracking_client_tracking},
    {"caching", "client|caching", 3, tracking_client_caching},
    {"getredir", "client|getredir", 2, tracking_client_getredir},
    {"trackinginfo", "client|trackinginfo", 2, tracking_client_trackinginfo},
    {"help", "client|help", 2, client_help},
};

void cmd_server_client(struct req *r)
{
    subcmd_run(r, client_subs, sizeof(client_subs) / sizeof(client_subs[0]), "CLIENT");
}

/* ---- COMMAND ---- */

static size_t command_flags(const struct cmd_def *d, const char **out)
{
    size_t n = 0;
    if (d->flags & CMD_WRITE)
        out[n++] = "write";
    if (d->flags & CMD_READONLY)
        out[n++] = "readonly";
    if (d->flags & CMD_DENYOOM)
        out[n++] = "denyoom";
    if (d->flags & CMD_ADMIN)
        out[n++] = "admin";
    if (d->flags & CMD_NOAUTH)
        out[n++] = "no_auth";
    if (d->flags & CMD_FAST)
        out[n++] = "fast";
    if (d->flags & CMD_LOADING)
        out[n++] = "loading";
    /* where its keys are depends on its arguments: numkeys (EVAL, LMPOP, ZUNIONSTORE ...)
     * or an option (SORT's STORE) */
    if ((d->flags & CMD_EVAL) || (d->first_key && d->key_step <= 0) || d->proc == cmd_sort_sort ||
        d->proc == cmd_sort_ro || d->proc == cmd_zset_zunionstore ||
        d->proc == cmd_zset_zinterstore || d->proc == cmd_zset_zdiffstore)
        out[n++] = "movablekeys";
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
    reply_int(r, d->key_step > 0 ? d->first_key : 0); /* numkeys, STREAMS rows: Redis's 0 0 0 */
    reply_int(r, d->key_step > 0 ? d->last_key : 0);
    reply_int(r, d->key_step > 0 ? d->key_step : 0);
    snprintf(cat, sizeof(cat), "@%s", d->group);
    reply_set(r, 1);
    reply_simple(r, cat);
    reply_set(r, 0);   /* tips */
    reply_array(r, 0); /* key specs */
    reply_array(r, 0); /* subcommands */
}

/* One command's COMMAND DOCS entry: Redis's (cmd_docs.c), else what the table knows. */
static void command_doc_one(struct req *r, const struct cmd_def *d)
{
    if (cmd_docs_reply(r, d->name) == 0)
        return;
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

/* The full name of the i-th subcommand this file implements ("client|list"), or NULL
 * past the last one (they are in the subcommand tables: see the end of the file). */
static const char *subcmd_full_name(size_t i);

/* Redis's key flags of each command's keys (COMMAND GETKEYSANDFLAGS). A command missing
 * here gets RW update when it writes, RO access otherwise. */
static const char *const key_flags[][2] = {
    {"get", "RO access"},
    {"set", "OW update"},
    {"setnx", "OW insert"},
    {"setex", "OW update"},
    {"psetex", "OW update"},
    {"getset", "RW access update"},
    {"getdel", "RW access delete"},
    {"getex", "RW access update"},
    {"mget", "RO access"},
    {"mset", "OW update"},
    {"msetnx", "OW insert"},
    {"append", "RW insert"},
    {"strlen", "RO"},
    {"getrange", "RO access"},
    {"substr", "RO access"},
    {"setrange", "RW update"},
    {"incr", "RW access update"},
    {"decr", "RW access update"},
    {"incrby", "RW access update"},
    {"decrby", "RW access update"},
    {"incrbyfloat", "RW access update"},
    {"del", "RM delete"},
    {"unlink", "RM delete"},
    {"exists", "RO"},
    {"touch", "RO"},
    {"expire", "RW update"},
    {"pexpire", "RW update"},
    {"expireat", "RW update"},
    {"pexpireat", "RW update"},
    {"ttl", "RO access"},
    {"pttl", "RO access"},
    {"expiretime", "RO access"},
    {"pexpiretime", "RO access"},
    {"persist", "RW update"},
    {"type", "RO"},
};

/* The key flags of d's keys in argv (SET with GET reads the old value: RW access). */
static const char *command_key_flags(const struct cmd_def *d, const struct resp_arg *argv,
                                     uint32_t argc)
{
    if (strcmp(d->name, "set") == 0)
        for (uint32_t i = 3; i < argc; i++)
            if (cmd_arg_is(&argv[i], "get"))
                return "RW access update";
    for (size_t i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++)
        if (strcmp(key_flags[i][0], d->name) == 0)
            return key_flags[i][1];
    return (d->flags & CMD_WRITE) ? "RW update" : "RO access";
}

/* Replies an array of simple strings, the words of a space-separated list (< 64 bytes). */
static void reply_words(struct req *r, const char *words)
{
    char buf[64];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", words);
    for (const char *p = buf; *p; p++)
        n += *p != ' ' && (p == buf || p[-1] == ' ');
    reply_array(r, n);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        reply_simple(r, w);
}

/* One key of COMMAND GETKEYS (with_flags: GETKEYSANDFLAGS, and its flags). */
static void command_getkeys_one(struct req *r, const struct resp_arg *key, const char *flags)
{
    if (flags) {
        reply_array(r, 2);
        reply_bulk(r, key->ptr, key->len);
        reply_words(r, flags);
    } else {
        reply_bulk(r, key->ptr, key->len);
    }
}

/* EVAL, EVALSHA, FCALL and their _RO forms: numkeys keys after the script (movable keys).
 * A numkeys that is not a count of the arguments that follow names no key, as in Redis. */
static void command_getkeys_eval(struct req *r, const struct cmd_def *d,
                                 const struct resp_arg *argv, uint32_t argc, int with_flags)
{
    long long nk;
    if (argc < 3 || cmd_arg_ll(&argv[2], &nk) < 0 || nk < 0 || nk > (long long)argc - 3)
        nk = 0;
    reply_array(r, (size_t)nk);
    for (uint32_t i = 3; i < 3 + (uint32_t)nk; i++)
        command_getkeys_one(r, &argv[i],
                            !with_flags               ? NULL
                            : d->flags & CMD_READONLY ? "RO access"
                                                      : "RW access update");
}

/* COMMAND GETKEYS|GETKEYSANDFLAGS <command> <arg> ...: the keys the command would name,
 * from the table's key positions, and with flags their Redis key flags. */
static void command_getkeys(struct req *r, int with_flags)
{
    const struct cmd_def *d = command_find(&r->argv[2]);
    const struct resp_arg *argv = &r->argv[2];
    uint32_t argc = r->argc - 2;
    if (d == NULL) {
        reply_error(r, "ERR Invalid command specified");
        return;
    }
    if (d->flags & CMD_EVAL) {
        command_getkeys_eval(r, d, argv, argc, with_flags);
        return;
    }
    if (d->first_key == 0) {
        reply_error(r, "ERR The command has no key arguments");
        return;
    }
    if ((d->arity > 0 && argc != (uint32_t)d->arity) ||
        (d->arity < 0 && argc < (uint32_t)-d->arity)) {
        reply_error(r, "ERR Invalid number of arguments specified for command");
        return;
    }
    uint32_t first, step, n = cmd_keys_find(d, argv, argc, &first, &step);
    /* SORT's STORE key is where its options put it (its lock: the whole database) */
    uint32_t store = d->proc == cmd_sort_sort ? cmd_sort_store_key(argv, argc) : 0;
    reply_array(r, n + (store != 0));
    for (uint32_t k = 0, i = first; k < n; k++, i += step)
        command_getkeys_one(r, &argv[i],
                            !with_flags                ? NULL
                            : d->proc == cmd_sort_sort ? "RO access"
                                                       : command_key_flags(d, argv, argc));
    if (store)
        command_getkeys_one(r, &argv[store], with_flags ? "OW update" : NULL);
}

/* Whether d belongs to ACL category cat (without '@'): derived from its flags and group
 * (read, write, fast, slow, admin, dangerous, keyspace, string, connection). */
static int command_in_category(const struct cmd_def *d, const struct resp_arg *cat)
{
    static const struct {
        const char *name;
        uint32_t flag;
    } by_flag[] = {{"read", CMD_READONLY},
                   {"write", CMD_WRITE},
                   {"fast", CMD_FAST},
                   {"admin", CMD_ADMIN},
                   {"dangerous", CMD_ADMIN}};
    for (size_t i = 0; i < sizeof(by_flag) / sizeof(by_flag[0]); i++)
        if (cmd_arg_is(cat, by_flag[i].name))
            return (d->flags & by_flag[i].flag) != 0;
    if (cmd_arg_is(cat, "slow"))
        return !(d->flags & CMD_FAST);
    if (cmd_arg_is(cat, "keyspace"))
        return strcmp(d->group, "generic") == 0;
    if (cmd_arg_is(cat, "string") || cmd_arg_is(cat, "connection") ||
        cmd_arg_is(cat, "scripting") || cmd_arg_is(cat, "pubsub"))
        return cmd_arg_is(cat, d->group);
    return 0;
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT cat | PATTERN pattern]: every command and
 * subcommand (a subcommand is in its container's ACL categories). */
static void command_list(struct req *r)
{
    size_t n, found = 0;
    const struct cmd_def *t = cmd_table(&n);
    const struct resp_arg *by = r->argc == 5 ? &r->argv[3] : NULL, *val = &r->argv[4];
    if (r->argc != 2 &&
        (r->argc != 5 || !cmd_arg_is(&r->argv[2], "filterby") ||
         !(cmd_arg_is(by, "module") || cmd_arg_is(by, "aclcat") || cmd_arg_is(by, "pattern")))) {
        reply_error(r, ERR_SYNTAX);
        return;
    }
    int pattern = by && cmd_arg_is(by, "pattern"), aclcat = by && cmd_arg_is(by, "aclcat");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            reply_array(r, found);
        const char *name;
        for (size_t i = 0; (name = i < n ? t[i].name : subcmd_full_name(i - n)) != NULL; i++) {
            const struct cmd_def *d = i < n ? &t[i] : cmd_find(name, strcspn(name, "|"));
            int ok = by == NULL ||
                     (pattern && glob_match(val->ptr, val->len, name, strlen(name), 1)) ||
                     (aclcat && d && command_in_category(d, val)); /* a subcommand: its parent's */
            if (ok && pass == 0)
                found++;
            else if (ok)
                reply_cstr(r, name);
        }
    }
}

static void command_help(struct req *r)
{
    static const char *const lines[] = {
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "COUNT",
        "INFO [<command-name> ...]",
        "DOCS [<command-name> ...]",
        "GETKEYS <full-command>",
        "GETKEYSANDFLAGS <full-command>",
        "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
        "HELP"};
    reply_help(r, lines, sizeof(lines) / sizeof(lines[0]));
}

static void command_info(struct req *r)
{
    size_t n;
    const struct cmd_def *t = cmd_table(&n);
    if (r->argc <= 2) {
        reply_array(r, n);
        for (size_t i = 0; i < n; i++)
            command_info_one(r, &t[i]);
        return;
    }
    reply_array(r, r->argc - 2);
    for (uint32_t i = 2; i < r->argc; i++) {
        const struct cmd_def *d = command_find(&r->argv[i]);
        if (d)
            command_info_one(r, d);
        else
            reply_null_array(r);
    }
}

static void command_count(struct req *r)
{
    size_t n;
    cmd_table(&n);
    reply_int(r, (int64_t)n);
}

static void command_getkeys_only(struct req *r)
{
    command_getkeys(r, 0);
}

static void command_getkeysandflags(struct req *r)
{
    command_getkeys(r, 1);
}

/* COMMAND subcommands with Redis arities (counting "COMMAND" and the subcommand). */
static const struct subcmd command_subcmds[] = {
    {"count", "command|count", 2, command_count},
    {"info", "command|info", -2, command_info},
    {"docs", "command|docs", -2, command_docs},
    {"list", "command|list", -2, command_list},
    {"getkeys", "command|getkeys", -4, command_getkeys_only},
    {"getkeysandflags", "command|getkeysandflags", -4, command_getkeysandflags},
    {"help", "command|help", 2, command_help},
};

void cmd_server_command(struct req *r)
{
    if (r->argc == 1) {
        command_info(r);
        done(r);
        return;
    }
    subcmd_run(r, command_subcmds, sizeof(command_subcmds) / sizeof(command_subcmds[0]), "COMMAND");
}

/* ---- ROLE, ACL ---- */

/* ROLE: logstord has no replication, so it is always a master with no replicas. */
void cmd_server_role(struct req *r)
{
    reply_array(r, 3);
    reply_cstr(r, "master");
    reply_int(r, 0);
    reply_array(r, 0);
    done(r);
}

/* The one user is "default", with every permission; its password is requirepass. */
static void acl_whoami(struct req *r)
{
    reply_cstr(r, "default");
}

static void acl_list(struct req *r)
{
    const struct config *cfg = &r->c->srv->cfg;
    char line[128], hex[65];
    reply_array(r, 1);
    if (config_requires_auth(cfg)) {
        sha256_hex(cfg->requirepass, cfg->requirepass_len, hex);
        snprintf(line, sizeof(line), "user default on #%s ~* &* +@all", hex);
        reply_cstr(r, line);
    } else {
        reply_cstr(r, "user default on nopass ~* &* +@all");
    }
}

static void acl_help(struct req *r)
{
    static const char *const lines[] = {
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LIST",
        "    Show users details in config file format.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Print this help."};
    reply_help(r, lines, sizeof(lines) / sizeof(lines[0]));
}

static const struct subcmd acl_subs[] = {
    {"whoami", "acl|whoami", 2, acl_whoami},
    {"list", "acl|list", 2, acl_list},
    {"help", "acl|help", 2, acl_help},
};

void cmd_server_acl(struct req *r)
{
    subcmd_run(r, acl_subs, sizeof(acl_subs) / sizeof(acl_subs[0]), "ACL");
}

/* ---- INFO ---- */

#define INFO_SERVER      0x01
#define INFO_CLIENTS     0x02
#define INFO_MEMORY      0x04
#define INFO_PERSISTENCE 0x08
#define INFO_STATS       0x10
#define INFO_KEYSPACE    0x20
#define INFO_LOGSTOR     0x40
#define INFO_REPLICATION 0x80
#define INFO_CPU         0x100
#define INFO_ERRORSTATS  0x200
#define INFO_CMDSTATS    0x400
#define INFO_CLUSTER     0x800
#define INFO_LATSTATS    0x1000
#define INFO_DEFAULT     (0x3ff | INFO_CLUSTER)
#define INFO_ALL         (0x7ff | INFO_CLUSTER | INFO_LATSTATS)

/* Fills id with 40 random hex digits (from /dev/urandom, else the clock and pid). */
static void random_hex40(char id[41], uint64_t salt)
{
    unsigned char b[20] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(b, 1, sizeof(b), f) != sizeof(b)) {
        uint64_t x = server_unix_ms() ^ ((uint64_t)getpid() << 32) ^ salt;
        for (size_t i = 0; i < sizeof(b); i++, x = x * 6364136223846793005u + 1)
            b[i] = (unsigned char)(x >> 56);
    }
    if (f)
        fclose(f);
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(id + 2 * i, 3, "%02x", b[i]);
}

/* The replication ID Redis shows: 40 random hex digits, drawn once per process. */
static const char *replid(void)
{
    static char id[41];
    if (id[0] == '\0')
        random_hex40(id, 1);
    return id;
}

/* INFO server's run_id: another 40 random hex digits, one per process as in Redis. */
static const char *run_id(void)
{
    static char id[41];
    if (id[0] == '\0')
        random_hex40(id, 2);
    return id;
}

/* Redis's bytesToHuman: B below 1 KiB, then K M G T P with two decimals. */
static void bytes_human(char *buf, size_t len, uint64_t n)
{
    static const char units[] = "KMGTP";
    if (n < 1024) {
        snprintf(buf, len, "%" PRIu64 "B", n);
        return;
    }
    double d = (double)n / 1024;
    int u = 0;
    while (d >= 1024 && u < 4)
        d /= 1024, u++;
    snprintf(buf, len, "%.2f%c", d, units[u]);
}

static void info_server(struct server *s, struct pbuf *pb)
{
    struct utsname u;
    uname(&u);
    uint64_t up = (server_mono_ms() - s->start_mono_ms) / 1000;
    char hz[32];
    rconfig_value(rconfig_find("hz"), &s->cfg, hz, sizeof(hz));
    pbuf_appendf(pb,
                 "# Server\r\nredis_version:%s\r\nlogstor_version:%s\r\nredis_git_sha1:00000000\r\n"
                 "redis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\n"
                 "os:%s %s %s\r\narch_bits:%d\r\nmonotonic_clock:POSIX clock_gettime\r\n"
                 "multiplexing_api:%s\r\natomicvar_api:c11-builtin\r\ngcc_version:%d.%d.%d\r\n"
                 "process_id:%d\r\nprocess_supervised:no\r\nrun_id:%s\r\n"
                 "tcp_port:%" PRIu64 "\r\nmemcached_port:%" PRIu64 "\r\nserver_time_usec:%" PRIu64
                 "\r\nuptime_in_seconds:%" PRIu64 "\r\nuptime_in_days:%" PRIu64
                 "\r\nhz:100\r\nconfigured_hz:%s\r\nlru_clock:%" PRIu64
                 "\r\nexecutable:%s\r\nconfig_file:%s\r\nio_threads_active:0\r\n\r\n",
                 REDIS_COMPAT_VERSION, LS_VERSION_STRING, u.sysname, u.release, u.machine,
                 (int)(sizeof(void *) * 8), event_base_get_method(s->base),
#ifdef __GNUC__
                 __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__,
#else
                 0, 0, 0,
#endif
                 (int)getpid(), run_id(), s->cfg.port, s->cfg.memcached_port,
                 server_unix_ms() * 1000, up, up / 86400, hz,
                 (server_unix_ms() / 1000) & ((1u << 24) - 1), /* Redis's LRU clock, 1 s */
                 s->executable ? s->executable : "", s->config_file ? s->config_file : "");
}

static void info_clients(struct server *s, struct pbuf *pb)
{
    struct lockset_stats ls;
    size_t max_in = 0, max_out = 0;
    lockset_get_stats(s->locks, &ls);
    for (const struct conn *c = s->conns; c; c = c->next) {
        max_in = c->in.cap > max_in ? c->in.cap : max_in;
        max_out = c->out.cap > max_out ? c->out.cap : max_out;
    }
    pbuf_appendf(
        pb,
        "# Clients\r\nconnected_clients:%u\r\ncluster_connections:0\r\nmaxclients:%" PRIu64
        "\r\nclient_recent_max_input_buffer:%zu\r\nclient_recent_max_output_buffer:%zu"
        "\r\nblocked_clients:%u\r\ntracking_clients:%u\r\nclients_in_timeout_table:0"
        "\r\nrequests_in_flight:%" PRIu64 "\r\nkeys_locked:%" PRIu64
        "\r\ncommands_waiting_for_locks:%" PRIu64 "\r\ntotal_lock_waits:%" PRIu64 "\r\n\r\n",
        s->nconns, s->cfg.maxclients, max_in, max_out, pause_held_count(s) + block_count(s),
        tracking_clients(s), s->inflight, ls.keys, ls.waiting, ls.waits);
}

/* Peak resident set size (VmHWM), in bytes: used_memory is the RSS here, so this is its
 * peak over the process's life. */
static uint64_t rss_peak_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static void info_memory(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    uint64_t rss = server_rss_bytes(), peak = rss_peak_bytes(), maxmem;
    uint64_t total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    char h_used[32], h_peak[32], h_total[32], h_max[32], mm[32], policy[32];
    rconfig_value(rconfig_find("maxmemory"), &s->cfg, mm, sizeof(mm));
    rconfig_value(rconfig_find("maxmemory-policy"), &s->cfg, policy, sizeof(policy));
    maxmem = strtoull(mm, NULL, 10);
    peak = peak > rss ? peak : rss;
    bytes_human(h_used, sizeof(h_used), rss);
    bytes_human(h_peak, sizeof(h_peak), peak);
    bytes_human(h_total, sizeof(h_total), total);
    bytes_human(h_max, sizeof(h_max), maxmem);
    pbuf_appendf(pb,
                 "# Memory\r\nused_memory:%" PRIu64
                 "\r\nused_memory_human:%s\r\nused_memory_rss:%" PRIu64
                 "\r\nused_memory_rss_human:%s\r\nused_memory_peak:%" PRIu64
                 "\r\nused_memory_peak_human:%s\r\nused_memory_peak_perc:%.2f%%\r\n"
                 "used_memory_index:%" PRIu64 "\r\ntotal_system_memory:%" PRIu64
                 "\r\ntotal_system_memory_human:%s\r\nmaxmemory:%" PRIu64
                 "\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\nmem_fragmentation_ratio:1.00"
                 "\r\nmem_clients_normal:%zu\r\nmaxmemory_clients:%" PRIu64
                 "\r\nnumber_of_cached_scripts:%" PRIu64
                 "\r\nmem_allocator:libc\r\nheap_trims:%" PRIu64 "\r\n\r\n",
                 rss, h_used, rss, h_used, peak, h_peak,
                 peak ? 100.0 * (double)rss / (double)peak : 0.0, st->index_bytes, total, h_total,
                 maxmem, h_max, policy, s->client_mem.used + s->client_mem_closing.used,
                 s->cfg.maxmemory_clients, script_count(s), s->stats.heap_trims);
}

static uint64_t saves_done;    /* SAVE and BGSAVE that succeeded (INFO rdb_saves) */
static int last_bgsave_failed; /* INFO rdb_last_bgsave_status */
static int bgsave_running;     /* INFO rdb_bgsave_in_progress */

static void info_persistence(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    struct ls_snapshot_info snaps[LS_SNAP_MAX];
    uint32_t nsnap = s->eng ? ls_snapshot_list(s->eng, snaps, LS_SNAP_MAX) : 0;
    uint64_t held = s->eng ? ls_snapshot_held_segments(s->eng) : 0;
    pbuf_appendf(pb,
                 "# Persistence\r\nloading:%d\r\ndurability:%s\r\nflush_interval_ms:%" PRIu64
                 "\r\nrecovery_time_ms:%" PRIu64 "\r\nrdb_changes_since_last_save:%" PRIu64
                 "\r\nrdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%" PRIu64
                 "\r\nrdb_saves:%" PRIu64 "\r\nrdb_last_bgsave_status:%s"
                 "\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1"
                 "\r\nrdb_last_cow_size:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0"
                 "\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1"
                 "\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok"
                 "\r\naof_rewrites:0\r\naof_last_write_status:%s\r\nasync_loading:0"
                 "\r\nengine_failed:%" PRIu64 "\r\ncheckpoint_interval_ms:%" PRIu64
                 "\r\ncheckpoint_bytes:%" PRIu64 "\r\ncheckpoints:%" PRIu64
                 "\r\ncheckpoints_failed:%" PRIu64 "\r\ncheckpoint_last_ms:%" PRIu64
                 "\r\ncheckpoint_last_keys:%" PRIu64 "\r\nsnapshots:%" PRIu32
                 "\r\nsnapshot_held_segments:%" PRIu64 "\r\nsnapshot_held_bytes:%" PRIu64 "\r\n",
                 loading_active(s), s->cfg.durability ? "periodic" : "sync",
                 s->cfg.flush_interval_ms, st->recovery_ms,
                 st->puts + st->dels - s->changes_at_save, bgsave_running,
                 (s->last_save_ms ? s->last_save_ms : s->start_ms) / 1000, saves_done,
                 last_bgsave_failed ? "err" : "ok", st->failed ? "err" : "ok", st->failed,
                 s->cfg.checkpoint_interval_ms, s->cfg.checkpoint_bytes, st->checkpoints,
                 st->checkpoints_failed, st->checkpoint_last_ms, st->checkpoint_last_keys, nsnap,
                 held, held * s->cfg.segment_size);
    loading_info(s, pb); /* while loading: Redis's loading_* progress fields */
    pbuf_appendf(pb, "\r\n");
}

static void info_stats(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    const struct server_stats *t = &s->stats;
    pbuf_appendf(pb,
                 "# Stats\r\ntotal_connections_received:%" PRIu64
                 "\r\ntotal_commands_processed:%" PRIu64 "\r\ninstantaneous_ops_per_sec:%" PRIu64
                 "\r\ntotal_net_input_bytes:%" PRIu64 "\r\ntotal_net_output_bytes:%" PRIu64
                 "\r\nrejected_connections:%" PRIu64 "\r\nexpired_keys:%" PRIu64
                 "\r\nevicted_keys:0\r\nevicted_clients:%" PRIu64 "\r\nkeyspace_hits:%" PRIu64
                 "\r\nkeyspace_misses:%" PRIu64 "\r\ntotal_error_replies:%" PRIu64
                 "\r\nclient_query_buffer_limit_disconnections:%" PRIu64
                 "\r\nclient_output_buffer_limit_disconnections:%" PRIu64
                 "\r\nclient_output_stall_probes:%" PRIu64
                 "\r\nmemcached_commands_processed:%" PRIu64 "\r\nbusy_writes_parked:%" PRIu64
                 "\r\nbusy_write_timeouts:%" PRIu64 "\r\ntxn_unbatched:%" PRIu64
                 "\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0"
                 "\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nsync_full:0\r\nsync_partial_ok:0"
                 "\r\nsync_partial_err:0\r\nmigrate_cached_sockets:0\r\n\r\n",
                 t->connections_received, t->commands_processed, s->ops_per_sec, t->net_input_bytes,
                 t->net_output_bytes, t->rejected_connections, st->expired_dropped,
                 t->evicted_clients, t->keyspace_hits, t->keyspace_misses, t->errors,
                 t->query_limit_disconnects, t->output_limit_disconnects, t->stall_probes,
                 t->mc_commands, t->busy_parked, t->busy_timeouts, t->txn_unbatched);
}

/* expires= and avg_ttl are exact (the engine's per-table expiry counters; Redis samples
 * avg_ttl). The expiry sum is kept modulo 2^64, so the difference is taken the same way:
 * exact while the true sum of TTLs fits in 63 bits. Keys already expired but not yet
 * swept count as in keys= and bring avg_ttl down, never below 0. */
static void info_keyspace(struct server *s, struct pbuf *pb)
{
    uint64_t now = server_unix_ms();
    pbuf_appendf(pb, "# Keyspace\r\n");
    for (uint32_t t = 0; s->eng && t < s->cfg.databases; t++) { /* none while loading */
        uint64_t n = ls_count(s->eng, t), sum, avg = 0;
        if (n == 0)
            continue;
        uint64_t nexp = ls_count_expires(s->eng, t, &sum);
        if (nexp) {
            int64_t left = (int64_t)(sum - nexp * now);
            avg = left > 0 ? (uint64_t)left / nexp : 0;
        }
        pbuf_appendf(pb, "db%u:keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=%" PRIu64 "\r\n", t, n,
                     nexp, avg);
    }
    pbuf_appendf(pb, "\r\n");
}

/* logstord has no replication: a master without replicas or backlog, as Redis reports. */
static void info_replication(struct pbuf *pb)
{
    pbuf_appendf(pb,
                 "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                 "master_failover_state:no-failover\r\nmaster_replid:%s\r\n"
                 "master_replid2:0000000000000000000000000000000000000000\r\n"
                 "master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n"
                 "repl_backlog_size:0\r\nrepl_backlog_first_byte_offset:0\r\n"
                 "repl_backlog_histlen:0\r\n\r\n",
                 replid());
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* CPU time of the process, of its waited-for children and of the main (event loop)
 * thread, as Redis's "# CPU" section. */
static void info_cpu(struct pbuf *pb)
{
    struct rusage self, children, main_thread;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    getrusage(RUSAGE_THREAD, &main_thread);
    pbuf_appendf(pb,
                 "# CPU\r\nused_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\n"
                 "used_cpu_sys_children:%.6f\r\nused_cpu_user_children:%.6f\r\n"
                 "used_cpu_sys_main_thread:%.6f\r\nused_cpu_user_main_thread:%.6f\r\n\r\n",
                 tv_s(self.ru_stime), tv_s(self.ru_utime), tv_s(children.ru_stime),
                 tv_s(children.ru_utime), tv_s(main_thread.ru_stime), tv_s(main_thread.ru_utime));
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
        "\r\ncompaction_stuck:%" PRIu64
        "\r\ncompaction_active:%d\r\ncompact_policy:%s\r\ncompaction_groups:%" PRIu64 "\r\n",
        st->segments_mixed, st->segments_group, st->tomb_bytes, st->separator_bytes_written,
        st->compaction_bytes_written, st->compaction_runs, st->segments_compacted,
        st->segments_freed, st->segments_blanked, st->records_copied, st->tombstones_dropped,
        st->write_stalls, st->compaction_stuck, st->compaction_active,
        s->cfg.compact_policy ? "cost-benefit" : "greedy", s->cfg.compaction_groups);
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

/* A latency histogram as Redis's INFO latencystats prints one (each percentile is its
 * bucket's upper bound), with the count and the largest. */
static void info_latency(struct pbuf *pb, const char *name, const struct ls_lat_hist *h)
{
    pbuf_appendf(pb,
                 "%s:p50=%" PRIu64 ",p99=%" PRIu64 ",p99.9=%" PRIu64 ",max=%" PRIu64
                 ",count=%" PRIu64 "\r\n",
                 name, ls_lat_percentile(h, 50), ls_lat_percentile(h, 99),
                 ls_lat_percentile(h, 99.9), h->max_us, h->count);
}

static void info_logstor(struct server *s, const struct ls_stats *st, struct pbuf *pb)
{
    static const char *const gc_load_names[] = {"off", "light", "heavy"};
    double bpk = st->keys ? (double)st->index_bytes / (double)st->keys : 0.0;
    pbuf_appendf(
        pb,
        "# Logstor\r\ndisk_size:%" PRIu64 "\r\nsegment_size:%" PRIu64 "\r\nsegments_total:%" PRIu64
        "\r\nsegments_free:%" PRIu64 "\r\nsegments_used:%" PRIu64 "\r\nfiles:%" PRIu64
        "\r\nkeys:%" PRIu64 "\r\nlive_bytes:%" PRIu64 "\r\nuser_bytes_written:%" PRIu64
        "\r\nuser_cold_bytes_written:%" PRIu64 "\r\ndevice_bytes_written:%" PRIu64
        "\r\nwrite_amplification:%.2f\r\ndevice_writes:%" PRIu64 "\r\ndevice_reads:%" PRIu64
        "\r\ndevice_read_bytes:%" PRIu64 "\r\ncompaction_read_bytes:%" PRIu64
        "\r\nread_corrupt:%" PRIu64 "\r\ndata_file_stalls:%" PRIu64 "\r\nbuffer_hits:%" PRIu64
        "\r\nputs:%" PRIu64 "\r\ngets:%" PRIu64 "\r\ndels:%" PRIu64 "\r\nindex_bytes:%" PRIu64
        "\r\nindex_bytes_per_key:%.1f\r\npending_bytes:%" PRIu64 "\r\ninflight_writes:%" PRIu64
        "\r\nexpired_dropped:%" PRIu64 "\r\nfailed:%" PRIu64 "\r\nlast_error:%s\r\n"
        "recovery_ms:%" PRIu64 "\r\nrecovery_records:%" PRIu64
        "\r\nrecovery_corrupt_blocks:%" PRIu64 "\r\nrecovery_damaged_files:%" PRIu64
        "\r\nrecovery_segments:%" PRIu64 "\r\nrecovery_from_checkpoint:%" PRIu64
        "\r\nrecovery_heads_read:%" PRIu64 "\r\nrecovery_heads_presumed:%" PRIu64
        "\r\nsegment_journal_writes:%" PRIu64 "\r\nsegment_journal_failures:%" PRIu64
        "\r\nparked_writes:%" PRIu64 "\r\nordered_writes:%" PRIu64 "\r\nordered_waits:%" PRIu64
        "\r\ngroup_commit_load:%s\r\ngroup_commit_seals:%" PRIu64
        "\r\ngroup_commit_judged_light:%" PRIu64 "\r\ngroup_commit_judged_heavy:%" PRIu64 "\r\n",
        s->cfg.disk_size, s->cfg.segment_size, st->segments_total, st->segments_free,
        st->segments_used, st->files, st->keys, st->live_bytes, st->user_bytes_written,
        st->user_cold_bytes_written, st->device_bytes_written, st->write_amplification,
        st->device_writes, st->device_reads, st->device_read_bytes, st->compaction_read_bytes,
        st->read_corrupt, st->file_stalls, st->buffer_hits, st->puts, st->gets, st->dels,
        st->index_bytes, bpk, st->pending_bytes, st->inflight_writes, st->expired_dropped,
        st->failed, st->last_error ? ls_strerror(st->last_error) : "none", st->recovery_ms,
        st->recovery_records, st->recovery_corrupt_blocks, st->recovery_damaged_files,
        st->recovery_segments, st->recovery_from_checkpoint, st->recovery_heads_read,
        st->recovery_heads_presumed, st->segj_writes, st->segj_failures, s->parked,
        st->ordered_writes, st->ordered_waits, gc_load_names[st->group_commit_load],
        st->group_commit_seals, st->group_commit_judged_light, st->group_commit_judged_heavy);
    struct reaper_stats rs;
    reaper_stats(s, &rs);
    pbuf_appendf(
        pb,
        "large_pages:%" PRIu64 "\r\nlarge_versions:%" PRIu64 "\r\nlarge_part_writes:%" PRIu64
        "\r\nlarge_new_versions:%" PRIu64 "\r\nreaper_running:%d\r\nreaper_passes:%" PRIu64
        "\r\nreaper_pages_deleted:%" PRIu64 "\r\nreaper_versions_deleted:%" PRIu64
        "\r\nreaper_gets:%" PRIu64 "\r\n",
        server_engine_count(s, large_page_table(s)), server_engine_count(s, large_anchor_table(s)),
        s->stats.large_part_writes, s->stats.large_new_versions, rs.running, rs.passes, rs.pages,
        rs.versions, rs.gets);
    info_latency(pb, "device_write_latency_usec", &st->write_latency);
    info_latency(pb, "commit_latency_usec", &st->commit_latency);
    info_compaction(s, st, pb);
    pbuf_appendf(pb, "\r\n");
}

static unsigned info_section_bit(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } secs[] = {{"server", INFO_SERVER},
                {"clients", INFO_CLIENTS},
                {"memory", INFO_MEMORY},
                {"persistence", INFO_PERSISTENCE},
                {"stats", INFO_STATS},
                {"keyspace", INFO_KEYSPACE},
                {"logstor", INFO_LOGSTOR},
                {"engine", INFO_LOGSTOR},
                {"replication", INFO_REPLICATION},
                {"cpu", INFO_CPU},
                {"errorstats", INFO_ERRORSTATS},
                {"commandstats", INFO_CMDSTATS},
                {"latencystats", INFO_LATSTATS},
                {"cluster", INFO_CLUSTER},
                {"default", INFO_DEFAULT},
                {"all", INFO_ALL},
                {"everything", INFO_ALL}};
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
        if (strcasecmp(name, secs[i].name) == 0)
            return secs[i].bit;
    return 0;
}

static void info_build(struct server *s, struct pbuf *pb, unsigned mask)
{
    struct ls_stats st;
    server_engine_stats(s, &st); /* zeros while loading */
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
    if (mask & INFO_REPLICATION)
        info_replication(pb);
    if (mask & INFO_CPU)
        info_cpu(pb);
    if (mask & INFO_CMDSTATS)
        info_commandstats(pb);
    if (mask & INFO_ERRORSTATS)
        info_errorstats(pb);
    if (mask & INFO_LATSTATS) { /* as Redis: in INFO all, not in the default sections */
        char pctl[256];
        rconfig_value(rconfig_find("latency-tracking-info-percentiles"), &s->cfg, pctl,
                      sizeof(pctl));
        cmd_slowlog_latencystats(pb, pctl);
        pbuf_appendf(pb, "\r\n");
    }
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

/*
 * Two tables answer CONFIG: logstord's own keys (config.c) and Redis 7.0's parameters
 * (rconfig.c). A Redis parameter that is also a logstord key (maxclients, timeout,
 * maxmemory-clients ...) is that key, shown under its Redis name; a logstord-only key
 * under its own name (disk_size), or with dashes when asked so. Hidden Redis parameters
 * answer only to their exact name, as in Redis.
 */

/* Whether one of CONFIG GET's patterns matches name (a hidden name: only exactly). */
static int config_pat_match(const struct req *r, const char *name, int hidden)
{
    size_t n = strlen(name);
    for (uint32_t a = 2; a < r->argc; a++) {
        const struct resp_arg *p = &r->argv[a];
        if (hidden ? p->len == n && strncasecmp(p->ptr, name, n) == 0
                   : glob_match(p->ptr, p->len, name, n, 1))
            return 1;
    }
    return 0;
}

/* The name CONFIG GET shows a logstord key under, NULL when no pattern matches it: its
 * Redis name when it is a Redis parameter too and a pattern matches that, else its own
 * name, else its name with dashes. dashed is scratch space of dlen bytes. */
static const char *config_native_shown(const struct req *r, const struct config_desc *d,
                                       char *dashed, size_t dlen)
{
    size_t n = strlen(d->name);
    if (n >= dlen)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        dashed[i] = d->name[i] == '_' ? '-' : d->name[i];
    int redis = rconfig_find(dashed) != NULL;
    if (redis && config_pat_match(r, dashed, 0))
        return dashed;
    if (config_pat_match(r, d->name, 0))
        return d->name;
    return !redis && config_pat_match(r, dashed, 0) ? dashed : NULL;
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

/* Whether a Redis row is a logstord key under its Redis name (maxmemory-clients is
 * maxmemory_clients); an alias (lua-time-limit) is not. */
static int config_is_twin(const struct rconfig_desc *rd)
{
    const char *name = rconfig_name(rd);
    const struct config_desc *nd = config_find(name);
    if (nd == NULL || strlen(nd->name) != strlen(name))
        return 0;
    for (size_t i = 0; name[i]; i++)
        if ((nd->name[i] == '_' ? '-' : nd->name[i]) != name[i])
            return 0;
    return 1;
}

static void config_get_redis_value(struct req *r, const struct rconfig_desc *rd)
{
    const char *native = rconfig_native(rd); /* an alias of a logstord key */
    char val[512];
    if (native) {
        config_get_value(r, config_find(native));
        return;
    }
    rconfig_value(rd, &r->c->srv->cfg, val, sizeof(val));
    reply_cstr(r, val);
}

/* Walks everything CONFIG GET's patterns match; replies only when emit is set. Returns
 * the number of parameters matched. */
static size_t config_get_walk(struct req *r, int emit)
{
    size_t n, found = 0;
    const struct config_desc *t = config_table(&n);
    char dashed[64];
    for (size_t i = 0; i < n; i++) {
        const char *shown = config_native_shown(r, &t[i], dashed, sizeof(dashed));
        if (shown && ++found && emit) {
            reply_cstr(r, shown);
            config_get_value(r, &t[i]);
        }
    }
    for (size_t i = 0; i < rconfig_count(); i++) {
        const struct rconfig_desc *rd = rconfig_at(i);
        if (config_is_twin(rd) ||
            !config_pat_match(r, rconfig_name(rd), rconfig_flags(rd) & RC_HIDDEN))
            continue;
        found++;
        if (emit) {
            reply_cstr(r, rconfig_name(rd));
            config_get_redis_value(r, rd);
        }
    }
    return found;
}

static void config_get(struct req *r)
{
    reply_map(r, config_get_walk(r, 0));
    config_get_walk(r, 1);
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

/* What CONFIG SET's name argument i names: a Redis row (*rd), a logstord key (*nd), both
 * (a Redis parameter held by a logstord key), or neither. */
static void config_resolve(const struct req *r, uint32_t i, const struct rconfig_desc **rd,
                           const struct config_desc **nd)
{
    *rd = rconfig_find(r->argv[i].ptr);
    const char *native = *rd ? rconfig_native(*rd) : NULL;
    *nd = *rd ? (native ? config_find(native) : NULL) : config_find(r->argv[i].ptr);
}

/* CONFIG SET's checks of the names, in Redis's order of precedence: an unknown name (the
 * first one) wins over an immutable, protected or repeated one (the last one). A name and
 * its alias (busy-reply-threshold, lua-time-limit) are not a repeat, as in Redis. Returns
 * 0, or -1 after replying. */
static int config_check_names(struct req *r)
{
    size_t n;
    config_table(&n);
    const char *unknown = NULL, *bad = NULL, *why = NULL;
    unsigned char *seen = calloc(n + rconfig_count(), 1); /* logstord keys, then Redis rows */
    if (seen == NULL) {
        reply_error(r, "ERR out of memory");
        return -1;
    }
    for (uint32_t i = 2; i < r->argc; i += 2) {
        const struct rconfig_desc *rd;
        const struct config_desc *nd;
        config_resolve(r, i, &rd, &nd);
        unsigned flags = rd ? rconfig_flags(rd) : 0;
        /* one slot per name a parameter has: a logstord key and its Redis twin share one */
        size_t slot = nd && (!rd || config_is_twin(rd)) ? (size_t)(nd - config_table(&n))
                      : rd                              ? n + rconfig_index(rd)
                                                        : 0;
        if (rd == NULL && nd == NULL)
            unknown = unknown ? unknown : r->argv[i].ptr;
        else if (flags & RC_IMMUTABLE)
            bad = r->argv[i].ptr, why = "can't set immutable config";
        else if (flags & RC_PROTECTED)
            bad = r->argv[i].ptr, why = "can't set protected config";
        else if (seen[slot])
            bad = r->argv[i].ptr, why = "duplicate parameter";
        else
            seen[slot] = 1;
    }
    free(seen);
    if (unknown)
        reply_errorf(r, "ERR Unknown option or number of arguments for CONFIG SET - '%s'", unknown);
    else if (bad)
        reply_errorf(r, "ERR CONFIG SET failed (possibly related to argument '%s') - %s", bad, why);
    return unknown || bad ? -1 : 0;
}

/* maxmemory-clients takes a percentage of maxmemory in Redis; logstord has no maxmemory
 * (its data is on disk), so only Redis's own refusal of one above 100% is kept and any
 * other percentage is refused too. Returns 0 when v is not a percentage. */
static int config_check_percent(const struct config_desc *d, const char *v, char *err,
                                size_t errlen)
{
    size_t len = strlen(v);
    if (strcmp(d->name, "maxmemory_clients") != 0 || len == 0 || v[len - 1] != '%')
        return 0;
    char *end;
    long long pct = strtoll(v, &end, 10);
    if (end != v + len - 1 || pct < 0)
        snprintf(err, errlen, "argument must be a memory or percent value");
    else if (pct > 100)
        snprintf(err, errlen, "percentage argument must be less or equal to 100");
    else
        snprintf(err, errlen, "logstord takes maxmemory-clients in bytes (it has no maxmemory)");
    return -1;
}

/* Checks a logstord key's new value on a scratch configuration. A key that cannot change
 * while running accepts its current value (nothing to do: CONFIG SET of what CONFIG GET
 * shows always works) and refuses any other. Returns 0, or -1 with err set. */
static int config_check_native(struct server *s, const struct config_desc *d,
                               const struct resp_arg *v, char *err, size_t errlen)
{
    struct config tmp;
    if (config_check_percent(d, v->ptr, err, errlen) < 0)
        return -1;
    int rc = config_defaults(&tmp);
    if (rc == 0)
        rc = config_set_len(&tmp, d->name, v->ptr, v->len, err, errlen);
    else
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && !d->runtime) {
        char now[512], want[512];
        config_format(&s->cfg, d, now, sizeof(now));
        config_format(&tmp, d, want, sizeof(want));
        if (strcmp(now, want) != 0) {
            snprintf(err, errlen, "can't set immutable config");
            rc = -1;
        }
    }
    if (rc == 0)
        rc = config_fits(s, d, &tmp, err, errlen);
    config_free(&tmp);
    return rc < 0 ? -1 : 0;
}

/* Checks pair i's value; a Redis row's canonical value is prepared into *prepared (NULL
 * for a logstord key). Returns 0, or -1 after replying. */
static int config_check_value(struct req *r, uint32_t i, char **prepared)
{
    struct server *s = r->c->srv;
    const struct rconfig_desc *rd;
    const struct config_desc *nd;
    char err[256], norm[512];
    int rc;
    config_resolve(r, i, &rd, &nd);
    *prepared = NULL;
    if (nd) {
        rc = config_check_native(s, nd, &r->argv[i + 1], err, sizeof(err));
    } else if (memchr(r->argv[i + 1].ptr, '\0', r->argv[i + 1].len)) {
        snprintf(err, sizeof(err), "argument must not contain NUL bytes");
        rc = -1;
    } else {
        rc = rconfig_check(rd, &s->cfg, r->argv[i + 1].ptr, norm, sizeof(norm), err, sizeof(err));
        if (rc == 0 && (*prepared = rconfig_prepare(norm)) == NULL) {
            snprintf(err, sizeof(err), "out of memory");
            rc = -1;
        }
    }
    if (rc < 0)
        reply_errorf(r, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                     r->argv[i].ptr, err);
    return rc;
}

/* A value CONFIG SET replaces, kept until every pair has taken effect so that a failure
 * puts the earlier ones back (len: requirepass may hold NUL bytes). */
struct config_old {
    char *val;
    size_t len;
};

static int config_save_old(struct server *s, const struct rconfig_desc *rd,
                           const struct config_desc *nd, struct config_old *old)
{
    char buf[512];
    size_t len;
    const char *bin = nd ? config_binary_value(&s->cfg, nd, &len) : NULL;
    if (!bin) {
        if (nd)
            config_format(&s->cfg, nd, buf, sizeof(buf));
        else
            rconfig_value(rd, &s->cfg, buf, sizeof(buf));
        bin = buf;
        len = strlen(buf);
    }
    old->len = len;
    old->val = malloc(len + 1);
    if (old->val == NULL)
        return -1;
    memcpy(old->val, bin, len);
    old->val[len] = '\0';
    return 0;
}

/* Makes a logstord key's new value take effect. Only port can fail (the new port taken):
 * then nothing changed. Returns 0, or -1 with err set. */
static int config_set_native(struct server *s, const struct config_desc *d,
                             const struct resp_arg *v, char *err, size_t errlen)
{
    if (strcmp(d->name, "port") == 0) {
        uint64_t port = strtoull(v->ptr, NULL, 10);
        if (port != s->cfg.port && net_set_port(s, port) < 0) {
            snprintf(err, errlen, "Unable to listen on this port. Check server logs.");
            return -1;
        }
    }
    config_set_len(&s->cfg, d->name, v->ptr, v->len, err, errlen);
    config_apply(s, d);
    log_notice("CONFIG SET %s %s", d->name,
               strcmp(d->name, "requirepass") == 0 ? "(hidden)" : v->ptr);
    return 0;
}

/* Puts back pairs [0, upto) of a CONFIG SET whose pair upto failed to take effect
 * (their old values took effect before, so they do again). Consumes old[].val. */
static void config_rollback(struct req *r, struct config_old *old, uint32_t upto)
{
    struct server *s = r->c->srv;
    char err[256];
    while (upto-- > 0) {
        const struct rconfig_desc *rd;
        const struct config_desc *nd;
        config_resolve(r, 2 + 2 * upto, &rd, &nd);
        struct resp_arg v = {.ptr = old[upto].val, .len = (uint32_t)old[upto].len};
        if (nd && nd->runtime) {
            config_set_native(s, nd, &v, err, sizeof(err));
        } else if (rd && !nd) {
            rconfig_commit(rd, old[upto].val);
            old[upto].val = NULL;
        }
    }
}

/* Applies every checked pair in order; on a failure puts the earlier ones back and
 * replies the error. Takes prepared[] (the Redis rows' new values). Returns 0 or -1. */
static int config_apply_all(struct req *r, char **prepared, uint32_t npairs)
{
    struct server *s = r->c->srv;
    struct config_old *old = calloc(npairs, sizeof(*old));
    const struct rconfig_desc *rd;
    const struct config_desc *nd;
    char err[256];
    int rc = old ? 0 : -1;
    for (uint32_t p = 0; p < npairs && rc == 0; p++) {
        config_resolve(r, 2 + 2 * p, &rd, &nd);
        rc = config_save_old(s, rd, nd, &old[p]);
    }
    if (rc < 0)
        reply_error(r, "ERR out of memory");
    for (uint32_t p = 0; p < npairs && rc == 0; p++) {
        config_resolve(r, 2 + 2 * p, &rd, &nd);
        if (nd && nd->runtime &&
            config_set_native(s, nd, &r->argv[3 + 2 * p], err, sizeof(err)) < 0) {
            config_rollback(r, old, p);
            reply_errorf(r, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                         r->argv[2 + 2 * p].ptr, err);
            rc = -1;
        } else if (rd && !nd) {
            rconfig_commit(rd, prepared[p]);
            prepared[p] = NULL;
        }
    }
    for (uint32_t p = 0; p < npairs; p++) {
        free(prepared[p]);
        if (old)
            free(old[p].val);
    }
    free(old);
    return rc;
}

/* CONFIG SET of one or more pairs: all are checked (names, then each value) before any
 * takes effect, so a bad pair changes nothing. */
static void config_set_cmd(struct req *r)
{
    if (r->argc < 4) {
        reply_error(r, "ERR wrong number of arguments for 'config|set' command");
        return;
    }
    if (r->argc % 2 != 0) {
        reply_error(r, ERR_SYNTAX);
        return;
    }
    if (config_check_names(r) < 0)
        return;
    uint32_t npairs = (r->argc - 2) / 2, ok = 0;
    char **prepared = calloc(npairs, sizeof(*prepared));
    if (prepared == NULL) {
        reply_error(r, "ERR out of memory");
        return;
    }
    while (ok < npairs && config_check_value(r, 2 + 2 * ok, &prepared[ok]) == 0)
        ok++;
    if (ok < npairs) {
        for (uint32_t p = 0; p < npairs; p++)
            free(prepared[p]);
    } else if (config_apply_all(r, prepared, npairs) == 0) {
        reply_ok(r);
    }
    free(prepared);
}

static void config_resetstat(struct req *r)
{
    memset(&r->c->srv->stats, 0, sizeof(r->c->srv->stats));
    cmdstat_reset();
    cmd_slowlog_reset_stats();
    reply_ok(r);
}

static void config_rewrite(struct req *r)
{
    reply_error(r, "ERR CONFIG REWRITE is not supported; edit the configuration file");
}

static void config_help(struct req *r)
{
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help."};
    reply_help(r, lines, sizeof(lines) / sizeof(lines[0]));
}

/* CONFIG SET's own argument checks follow Redis's (an odd count is a syntax error). */
static const struct subcmd config_subs[] = {
    {"get", "config|get", -3, config_get},
    {"set", "config|set", -4, config_set_cmd},
    {"resetstat", "config|resetstat", 2, config_resetstat},
    {"rewrite", "config|rewrite", 2, config_rewrite},
    {"help", "config|help", 2, config_help},
};

void cmd_server_config(struct req *r)
{
    subcmd_run(r, config_subs, sizeof(config_subs) / sizeof(config_subs[0]), "CONFIG");
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

/* SAVE and BGSAVE take a named snapshot (engine/snap.c, SNAPSHOT CREATE) of every
 * database, "bgsave-<unix ms>", as Redis's write dump.rdb: a point-in-time copy that
 * logstor-backup copies out and `rollback` returns to. Once it is durable the previous
 * ones of that form are dropped (a failed save leaves the previous in place, as a
 * failed dump.rdb write leaves the old file), so at most one holds segments against
 * compaction between saves. The changes it covers are those made before it began
 * (rdb_changes_since_last_save counts from that mark once it succeeds). */
#define SAVE_PREFIX "bgsave-"

struct save_op {
    struct server *s;
    struct req *r; /* SAVE's request to answer; NULL for BGSAVE */
    uint64_t mark; /* engine puts + dels when it began */
    char name[LS_SNAP_NAME_MAX + 1];
};

static uint64_t engine_changes(struct server *s)
{
    struct ls_stats st;
    ls_get_stats(s->eng, &st);
    return st.puts + st.dels;
}

/* Drops the saves older than `keep`. */
static void save_drop_older(struct server *s, const char *keep)
{
    struct ls_snapshot_info v[LS_SNAP_MAX];
    uint32_t n = ls_snapshot_list(s->eng, v, LS_SNAP_MAX);
    for (uint32_t i = 0; i < n; i++) {
        if (strncmp(v[i].name, SAVE_PREFIX, strlen(SAVE_PREFIX)) || !strcmp(v[i].name, keep))
            continue;
        int rc = ls_snapshot_drop(s->eng, v[i].name);
        if (rc < 0 && rc != LS_ENOTFOUND)
            log_warning("SAVE: the previous snapshot %s was not dropped: %s", v[i].name,
                        ls_strerror(rc));
    }
}

static void save_cb(void *arg, int rc, uint64_t cas)
{
    struct save_op *op = arg;
    (void)cas;
    if (op->r == NULL) {
        last_bgsave_failed = rc != 0;
        bgsave_running = 0;
    }
    if (rc == 0) {
        saves_done++;
        op->s->last_save_ms = server_unix_ms();
        if (op->mark > op->s->changes_at_save)
            op->s->changes_at_save = op->mark;
        save_drop_older(op->s, op->name);
    } else if (op->r == NULL) {
        log_warning("BGSAVE: snapshot %s failed: %s", op->name, ls_strerror(rc));
    }
    if (op->r) {
        if (rc == 0)
            reply_ok(op->r);
        else
            reply_engine_error(op->r, rc);
        done(op->r);
    }
    free(op);
}

/* Starts the snapshot for SAVE (r answered when it is durable) or BGSAVE (r NULL).
 * Returns 0 or the engine's error (nothing started). */
static int save_start(struct server *s, struct req *r)
{
    struct save_op *op = malloc(sizeof(*op));
    if (op == NULL)
        return -ENOMEM;
    *op = (struct save_op){.s = s, .r = r, .mark = engine_changes(s)};
    uint64_t ms = server_unix_ms();
    int rc;
    do { /* a name not taken: two saves in one ms get the next */
        snprintf(op->name, sizeof(op->name), SAVE_PREFIX "%" PRIu64, ms++);
        rc = ls_snapshot_create(s->eng, op->name, save_cb, op);
    } while (rc == -EEXIST);
    if (rc == -EMLINK) { /* SNAPSHOT CREATE's took every place: make one from a save */
        save_drop_older(s, "");
        rc = ls_snapshot_create(s->eng, op->name, save_cb, op);
    }
    if (rc < 0)
        free(op);
    else if (r == NULL)
        bgsave_running = 1;
    return rc;
}

static void save_refused(struct req *r, int rc)
{
    if (rc == LS_EBUSY)
        reply_error(r, "ERR Background save already in progress");
    else if (rc == -EMLINK)
        reply_errorf(r, "ERR too many snapshots (at most %d): drop one first", LS_SNAP_MAX);
    else
        reply_engine_error(r, rc);
}

void cmd_server_save(struct req *r)
{
    int rc = save_start(r->c->srv, r);
    if (rc < 0) {
        save_refused(r, rc);
        done(r);
    }
}

void cmd_server_bgsave(struct req *r)
{
    int rc = save_start(r->c->srv, NULL);
    if (rc < 0)
        save_refused(r, rc);
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

/* ---- the subcommand tables together (COMMAND LIST) ---- */

static const char *subcmd_full_name(size_t i)
{
    static const struct {
        const struct subcmd *subs;
        size_t n;
    } tables[] = {
        {acl_subs, sizeof(acl_subs) / sizeof(acl_subs[0])},
        {client_subs, sizeof(client_subs) / sizeof(client_subs[0])},
        {command_subcmds, sizeof(command_subcmds) / sizeof(command_subcmds[0])},
        {config_subs, sizeof(config_subs) / sizeof(config_subs[0])},
    };
    /* Containers whose handlers parse their subcommands themselves (cmd_cluster.c,
     * script.c, pubsub.c, cmd_keys2.c): the subcommands they answer. */
    static const char *const others[] = {
        "cluster|help",         "cluster|info",       "cluster|keyslot", "cluster|myid",
        "cluster|nodes",        "cluster|shards",     "cluster|slots",   "function|delete",
        "function|flush",       "function|kill",      "function|list",   "function|load",
        "function|stats",       "memory|help",        "memory|usage",    "object|encoding",
        "object|freq",          "object|help",        "object|idletime", "object|refcount",
        "pubsub|channels",      "pubsub|help",        "pubsub|numpat",   "pubsub|numsub",
        "pubsub|shardchannels", "pubsub|shardnumsub", "script|exists",   "script|flush",
        "script|help",          "script|kill",        "script|load"};
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); i -= tables[t++].n)
        if (i < tables[t].n)
            return tables[t].subs[i].full;
    if (i < cmd_slowlog_nsubs)
        return cmd_slowlog_subs[i].full;
    i -= cmd_slowlog_nsubs;
    if (i < cmd_latency_nsubs)
        return cmd_latency_subs[i].full;
    i -= cmd_latency_nsubs;
    return i < sizeof(others) / sizeof(others[0]) ? others[i] : NULL;
}
