/*
 * cmd_stream_group.c - Redis stream consumer groups: XGROUP (CREATE SETID DESTROY
 * CREATECONSUMER DELCONSUMER HELP) XREADGROUP (BLOCK, NOACK) XACK XPENDING XCLAIM
 * XAUTOCLAIM, and XINFO (STREAM [FULL] GROUPS CONSUMERS HELP).
 *
 * A group lives in its stream's record (proto/stream.h): its last delivered ID, its
 * entries-read counter, its consumers and its pending entries list. So every command
 * that changes a group (XREADGROUP too: it delivers, and refreshes its consumer's seen
 * time) reads and writes the stream's record under the key's exclusive lock, as the other
 * stream writes do (cmd_stream.c); after a crash a delivery, an XACK or a claim happened
 * with its record or did not. On a large stream (a root and pages, large_stream.c) XACK,
 * XPENDING and XREADGROUP `>` read the root and only the pages they need, and write the
 * root alone. XREADGROUP of several streams checks every stream's group
 * first (Redis's NOGROUP, nothing changed), then serves and writes them one after the
 * other, and replies once the last write is acknowledged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "cmd.h"
#include "cmd_stream.h"
#include "coll.h"
#include "coll_cmd.h"
#include "large.h"
#include "park.h"
#include "pubsub.h"
#include "reply.h"
#include "server.h"
#include "stream.h"
#include "txn.h"

/* Redis's -1 entries_read: not known. */
#define ENTRIES_READ_UNKNOWN (-1)

static void subcommand_syntax(struct req *r)
{
    char cmd[32];
    size_t n = r->argv[0].len < sizeof(cmd) - 1 ? r->argv[0].len : sizeof(cmd) - 1;
    for (size_t i = 0; i < n; i++)
        cmd[i] =
            (char)(r->argv[0].ptr[i] >= 'a' && r->argv[0].ptr[i] <= 'z' ? r->argv[0].ptr[i] - 32
                                                                        : r->argv[0].ptr[i]);
    cmd[n] = '\0';
    reply_errorf(r,
                 "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try %s HELP.",
                 r->argv[1].ptr, cmd);
}

static void fail(struct req *r, const char *msg)
{
    reply_error(r, msg);
    req_done(r);
}

/* ---- Redis's entries-read and lag arithmetic ---- */

static int id_zero(const struct stream_id *id)
{
    return id->ms == 0 && id->seq == 0;
}

/* These take the whole stream's length and first ID from s->length and s->first: a read of
 * some of a large stream's entries has only those in s->e (large_stream_after). */

/* Whether a deleted entry may lie in [start, the end]. */
static int has_tombstones(const struct stream *s, const struct stream_id *start)
{
    if (s->length == 0 || id_zero(&s->max_deleted) || stream_id_cmp(&s->first, &s->max_deleted) > 0)
        return 0;
    return stream_id_cmp(start, &s->max_deleted) <= 0;
}

/* The entries added before id and id itself, when it can be told; else -1. */
static int64_t distance_from_first(const struct stream *s, const struct stream_id *id)
{
    if (s->entries_added == 0)
        return 0;
    if (s->length == 0 && stream_id_cmp(id, &s->last_id) < 1)
        return (int64_t)s->entries_added;
    int cmp_last = stream_id_cmp(id, &s->last_id);
    if (cmp_last == 0)
        return (int64_t)s->entries_added;
    if (cmp_last > 0)
        return ENTRIES_READ_UNKNOWN;
    int cmp_first = stream_id_cmp(id, &s->first);
    if (id_zero(&s->max_deleted) || stream_id_cmp(&s->max_deleted, &s->first) < 0) {
        if (cmp_first < 0)
            return (int64_t)(s->entries_added - s->length);
        if (cmp_first == 0)
            return (int64_t)(s->entries_added - s->length + 1);
    }
    return ENTRIES_READ_UNKNOWN;
}

/* The group's lag into *lag (it may be negative: ENTRIESREAD can say anything), or 0 when
 * it cannot be told (Redis's null). Redis's signed arithmetic, in two's complement. */
static int group_lag(const struct stream *s, const struct stream_group *g, int64_t *lag)
{
    int64_t er = g->entries_read;
    if (s->entries_added == 0)
        er = (int64_t)s->entries_added;
    else if (er == ENTRIES_READ_UNKNOWN || has_tombstones(s, &g->last_id))
        er = distance_from_first(s, &g->last_id);
    if (er == ENTRIES_READ_UNKNOWN)
        return 0;
    *lag = (int64_t)(s->entries_added - (uint64_t)er);
    return 1;
}

static void reply_lag(struct req *r, const struct stream *s, const struct stream_group *g)
{
    int64_t lag;
    if (group_lag(s, g, &lag))
        reply_int(r, lag);
    else
        reply_null(r);
}

/* entries-read: Redis's null when not known (-1), else the count (any int64). */
static void reply_int_or_null(struct req *r, int64_t v)
{
    if (v == ENTRIES_READ_UNKNOWN)
        reply_null(r);
    else
        reply_int(r, v);
}

/* ---- XGROUP ---- */

enum xg_sub { XG_CREATE, XG_SETID, XG_DESTROY, XG_CREATECONSUMER, XG_DELCONSUMER };

struct xgroup {
    enum xg_sub sub;
    int mkstream;
    long long entries_read;
};

static void nogroup(struct req *r, const struct resp_arg *group, const struct resp_arg *key)
{
    reply_errorf(r, "NOGROUP No such consumer group '%.*s' for key name '%.*s'", (int)group->len,
                 group->ptr, (int)key->len, key->ptr);
    req_done(r);
}

static void xgroup_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xgroup *q = r->aux;
    const struct resp_arg *key = &r->argv[2], *gname = &r->argv[3];
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    if (!exists && !q->mkstream) {
        fail(r, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
                "may want to use the MKSTREAM option to create an empty stream automatically.");
        return;
    }
    struct stream_group *g = stream_group_find(&s, gname->ptr, gname->len);
    if (g == NULL &&
        (q->sub == XG_SETID || q->sub == XG_CREATECONSUMER || q->sub == XG_DELCONSUMER)) {
        stream_free(&s);
        nogroup(r, gname, key);
        return;
    }
    const char *event = NULL;
    enum cmd_reply_mode mode = CMD_REPLY_OK;
    struct stream_id id;
    const struct resp_arg *ida = r->argc > 4 ? &r->argv[4] : NULL; /* CREATE, SETID: the ID */
    int dollar = ida && ida->len == 1 && ida->ptr[0] == '$';
    switch (q->sub) {
    case XG_CREATE:
        if (dollar)
            id = s.last_id;
        else if (stream_id_parse(ida->ptr, ida->len, 0, 1, NULL, &id) < 0) {
            stream_free(&s);
            fail(r, ERR_INVALID_ID);
            return;
        }
        ssize_t gi = stream_group_add(&s, gname->ptr, gname->len, &id, q->entries_read);
        if (gi < 0) {
            stream_free(&s);
            fail(r,
                 gi == -1 ? "BUSYGROUP Consumer Group name already exists" : "ERR out of memory");
            return;
        }
        event = "xgroup-create";
        break;
    case XG_SETID:
        if (dollar)
            id = s.last_id;
        else if (stream_id_parse(ida->ptr, ida->len, 0, 0, NULL, &id) < 0) {
            stream_free(&s);
            fail(r, ERR_INVALID_ID);
            return;
        }
        g->last_id = id;
        g->entries_read = q->entries_read;
        event = "xgroup-setid";
        break;
    case XG_DESTROY:
        if (g == NULL) {
            stream_free(&s);
            reply_int(r, 0);
            req_done(r);
            return;
        }
        stream_group_del(&s, (size_t)(g - s.g));
        r->num = 1;
        mode = CMD_REPLY_NUM;
        event = "xgroup-destroy";
        break;
    case XG_CREATECONSUMER: {
        int created;
        ssize_t ci =
            stream_consumer_add(g, r->argv[4].ptr, r->argv[4].len, server_unix_ms(), &created);
        if (ci < 0 || !created) {
            stream_free(&s);
            if (ci < 0)
                fail(r, "ERR out of memory");
            else {
                reply_int(r, 0);
                req_done(r);
            }
            return;
        }
        r->num = 1;
        mode = CMD_REPLY_NUM;
        event = "xgroup-createconsumer";
        break;
    }
    case XG_DELCONSUMER: {
        ssize_t ci = stream_consumer_find(g, r->argv[4].ptr, r->argv[4].len);
        if (ci < 0) {
            stream_free(&s);
            reply_int(r, 0);
            req_done(r);
            return;
        }
        r->num = (int64_t)g->cons[ci].pending;
        stream_consumer_del(g, (size_t)ci);
        mode = CMD_REPLY_NUM;
        event = "xgroup-delconsumer";
        break;
    }
    }
    xs_store(r, key, exists ? it : NULL, &s, &event, 1, mode);
    stream_free(&s);
}

static void xgroup_help(struct req *r)
{
    static const char *const lines[] = {
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help."};
    reply_lines(r, lines, sizeof(lines) / sizeof(lines[0]));
}

/* A container's subcommand by name with its Redis arity (counting the container): its
 * index, or -1 with Redis's error replied. */
static int subcommand(struct req *r, const char *const *names, const int *arity, size_t n,
                      const char *container)
{
    const struct resp_arg *sub = &r->argv[1];
    for (size_t i = 0; i < n; i++) {
        if (!cmd_arg_is(sub, names[i]))
            continue;
        if ((arity[i] > 0 && r->argc != (uint32_t)arity[i]) ||
            (arity[i] < 0 && r->argc < (uint32_t)-arity[i])) {
            reply_errorf(r, "ERR wrong number of arguments for '%s|%s' command", container,
                         names[i]);
            return -1;
        }
        return (int)i;
    }
    char up[16];
    size_t k = 0;
    for (; container[k] && k < sizeof(up) - 1; k++)
        up[k] = (char)(container[k] - 32); /* lower case letters */
    up[k] = '\0';
    reply_errorf(r, "ERR unknown subcommand '%.128s'. Try %s HELP.", sub->ptr, up);
    return -1;
}

void cmd_stream_xgroup(struct req *r)
{
    static const char *const names[] = {"create",         "setid",       "destroy",
                                        "createconsumer", "delconsumer", "help"};
    static const int arity[] = {-5, -5, 4, 5, 5, 2};
    int sub = subcommand(r, names, arity, 6, "xgroup");
    if (sub < 0) {
        req_done(r);
        return;
    }
    if (sub == 5) {
        xgroup_help(r);
        req_done(r);
        return;
    }
    struct xgroup *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    q->sub = (enum xg_sub)sub;
    q->entries_read = ENTRIES_READ_UNKNOWN;
    if ((q->sub == XG_CREATE && r->argc > 8) ||
        (q->sub == XG_SETID && r->argc != 5 && r->argc != 7)) {
        subcommand_syntax(r);
        req_done(r);
        return;
    }
    for (uint32_t i = 5; i < r->argc;) {
        const struct resp_arg *o = &r->argv[i];
        if (q->sub == XG_CREATE && cmd_arg_is(o, "mkstream")) {
            q->mkstream = 1;
            i++;
        } else if ((q->sub == XG_CREATE || q->sub == XG_SETID) && cmd_arg_is(o, "entriesread") &&
                   i + 1 < r->argc) {
            if (cmd_arg_ll(&r->argv[i + 1], &q->entries_read) < 0) {
                fail(r, ERR_NOT_INT);
                return;
            }
            if (q->entries_read < 0 && q->entries_read != ENTRIES_READ_UNKNOWN) {
                fail(r, "ERR value for ENTRIESREAD must be positive or -1");
                return;
            }
            i += 2;
        } else {
            subcommand_syntax(r);
            req_done(r);
            return;
        }
    }
    xs_read(r, &r->argv[2], xgroup_cb);
}

/* The group argv[2] of the stream read (its key argv[1]), or NULL with Redis's NOGROUP
 * replied and r ended (s freed). */
static struct stream_group *group_of(struct req *r, struct stream *s, int exists)
{
    struct stream_group *g = exists ? stream_group_find(s, r->argv[2].ptr, r->argv[2].len) : NULL;
    if (g)
        return g;
    stream_free(s);
    reply_errorf(r, "NOGROUP No such key '%.*s' or consumer group '%.*s'", (int)r->argv[1].len,
                 r->argv[1].ptr, (int)r->argv[2].len, r->argv[2].ptr);
    req_done(r);
    return NULL;
}

/* The read's stream and its group argv[2], or NULL with the error (WRONGTYPE, NOGROUP ...)
 * replied and r ended. */
static struct stream_group *group_read(struct req *r, int rc, const struct ls_item *it,
                                       struct stream *s)
{
    int exists;
    if (xs_stream_of(r, rc, it, s, &exists))
        return NULL;
    return group_of(r, s, exists);
}

/* ---- XACK ---- */

static void xack_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    struct stream_group *g = exists ? stream_group_find(&s, r->argv[2].ptr, r->argv[2].len) : NULL;
    if (g == NULL) {
        stream_free(&s);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    struct stream_id id;
    for (uint32_t j = 3; j < r->argc; j++)
        if (stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &id) < 0) {
            stream_free(&s);
            fail(r, ERR_INVALID_ID);
            return;
        }
    int64_t acked = 0;
    for (uint32_t j = 3; j < r->argc; j++) {
        stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &id);
        ssize_t pi = stream_pel_find(g, &id);
        if (pi >= 0) {
            stream_pel_del(g, (size_t)pi);
            acked++;
        }
    }
    if (acked == 0) {
        stream_free(&s);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    r->num = acked;
    xs_store(r, &r->argv[1], it, &s, NULL, 0, CMD_REPLY_NUM);
    stream_free(&s);
}

/* A large stream's groups without its entries (large_stream.c): XACK, XPENDING. */
static void groups_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (rc == 0 && large_stream_groups(r, it, r->coll_cb))
        return;
    large_list_read(r, rc, it, r->coll_cb);
}

static void xs_read_groups(struct req *r, ls_get_cb cb)
{
    r->coll_cb = cb;
    xs_read_root(r, &r->argv[1], groups_root_cb);
}

/* XACK key group id [id ...] */
void cmd_stream_xack(struct req *r)
{
    xs_read_groups(r, xack_cb);
}

/* ---- XPENDING ---- */

struct xpending {
    int summary;
    long long count, minidle;
    struct stream_id start, end;
    const struct resp_arg *consumer;
};

static void xpending_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xpending *q = r->aux;
    struct stream s;
    struct stream_group *g = group_read(r, rc, it, &s);
    if (g == NULL)
        return;
    if (q->summary) {
        reply_array(r, 4);
        reply_int(r, (int64_t)g->npel);
        if (g->npel == 0) {
            reply_null(r);
            reply_null(r);
            reply_null_array(r);
        } else {
            xs_reply_id(r, &g->pel[0].id);
            xs_reply_id(r, &g->pel[g->npel - 1].id);
            size_t k = 0;
            for (size_t i = 0; i < g->ncons; i++)
                k += g->cons[i].pending > 0;
            reply_array(r, k);
            for (size_t i = 0; i < g->ncons; i++) {
                if (g->cons[i].pending == 0)
                    continue;
                char b[24];
                reply_array(r, 2);
                reply_bulk(r, g->cons[i].name, g->cons[i].name_len);
                reply_bulk(
                    r, b,
                    (size_t)snprintf(b, sizeof(b), "%llu", (unsigned long long)g->cons[i].pending));
            }
        }
        stream_free(&s);
        req_done(r);
        return;
    }
    ssize_t ci = -1;
    if (q->consumer && (ci = stream_consumer_find(g, q->consumer->ptr, q->consumer->len)) < 0) {
        stream_free(&s);
        reply_array(r, 0);
        req_done(r);
        return;
    }
    uint64_t now = server_unix_ms();
    pbuf_reset(&r->tmp);
    size_t k = 0;
    int wrc = 0;
    long long count = q->count;
    for (size_t i = stream_pel_lower_bound(g, &q->start);
         count > 0 && i < g->npel && stream_id_cmp(&g->pel[i].id, &q->end) <= 0 && wrc == 0; i++) {
        const struct stream_pending *p = &g->pel[i];
        if (ci >= 0 && p->consumer != (uint64_t)ci)
            continue;
        uint64_t idle = now > p->delivery_ms ? now - p->delivery_ms : 0;
        if (q->minidle && (long long)idle < q->minidle)
            continue;
        k++;
        count--;
        const struct stream_consumer *c = &g->cons[p->consumer];
        wrc = resp_w_array(&r->tmp, 4);
        if (wrc == 0)
            wrc = xs_w_id(&r->tmp, &p->id);
        if (wrc == 0)
            wrc = resp_w_bulk(&r->tmp, c->name, c->name_len);
        if (wrc == 0)
            wrc = resp_w_int(&r->tmp, (int64_t)idle);
        if (wrc == 0)
            wrc = resp_w_int(&r->tmp, (int64_t)p->deliveries);
    }
    reply_check(r, wrc);
    reply_array(r, k);
    reply_tmp(r);
    stream_free(&s);
    req_done(r);
}

/* XPENDING key group [[IDLE min-idle-time] start end count [consumer]] */
void cmd_stream_xpending(struct req *r)
{
    struct xpending *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    if (r->argc != 3 && (r->argc < 6 || r->argc > 9)) {
        fail(r, ERR_SYNTAX);
        return;
    }
    q->summary = r->argc == 3;
    if (!q->summary) {
        uint32_t at = 3;
        if (cmd_arg_is(&r->argv[3], "idle")) {
            if (cmd_arg_ll(&r->argv[4], &q->minidle) < 0) {
                fail(r, ERR_NOT_INT);
                return;
            }
            if (r->argc < 8) {
                fail(r, ERR_SYNTAX);
                return;
            }
            at += 2;
        }
        if (cmd_arg_ll(&r->argv[at + 2], &q->count) < 0) {
            fail(r, ERR_NOT_INT);
            return;
        }
        if (q->count < 0)
            q->count = 0;
        int sx, ex;
        if (xs_interval_arg(r, &r->argv[at], 0, &q->start, &sx) < 0) {
            req_done(r);
            return;
        }
        if (sx && stream_id_incr(&q->start) < 0) {
            fail(r, "ERR invalid start ID for the interval");
            return;
        }
        if (xs_interval_arg(r, &r->argv[at + 1], UINT64_MAX, &q->end, &ex) < 0) {
            req_done(r);
            return;
        }
        if (ex && stream_id_decr(&q->end) < 0) {
            fail(r, "ERR invalid end ID for the interval");
            return;
        }
        if (at + 3 < r->argc)
            q->consumer = &r->argv[at + 3];
    }
    xs_read_groups(r, xpending_cb);
}

/* ---- XCLAIM, XAUTOCLAIM ---- */

/* Claims pending entry pi of g for consumer ci at now: Redis's rules for both commands. */
static void claim(struct stream_group *g, size_t pi, size_t ci, uint64_t delivery_ms,
                  long long retrycount, int justid)
{
    struct stream_pending *p = &g->pel[pi];
    p->delivery_ms = delivery_ms;
    if (retrycount >= 0)
        p->deliveries = (uint64_t)retrycount;
    else if (!justid)
        p->deliveries++;
    if (p->consumer != ci)
        stream_pel_assign(g, pi, ci);
}

/* The entry of id (present) into o, or only its ID (justid). */
static int w_claimed(struct pbuf *o, const struct stream *s, const struct stream_id *id, int justid)
{
    if (justid)
        return xs_w_id(o, id);
    return xs_w_entry(o, &s->e[stream_lower_bound(s, id)]);
}

struct xclaim {
    long long minidle, retrycount;
    int64_t deliverytime; /* -1: now */
    int force, justid;
    struct stream_id lastid;
    uint32_t last_id_arg; /* the IDs are argv[5..last_id_arg] */
    /* XAUTOCLAIM */
    struct stream_id start;
    long long count;
};

static int xclaim_parse(struct req *r, struct xclaim *q);

static void xclaim_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xclaim *q = r->aux;
    struct stream s;
    struct stream_group *g = group_read(r, rc, it, &s);
    if (g == NULL)
        return;
    if (xclaim_parse(r, q) < 0) {
        stream_free(&s);
        return;
    }
    uint64_t now = server_unix_ms();
    int dirty = 0;
    if (stream_id_cmp(&q->lastid, &g->last_id) > 0) {
        g->last_id = q->lastid;
        dirty = 1;
    }
    int64_t dt = q->deliverytime;
    if (dt < 0 || (uint64_t)dt > now)
        dt = (int64_t)now;
    ssize_t ci = -1;
    size_t k = 0;
    int wrc = 0, created = 0;
    pbuf_reset(&r->tmp);
    for (uint32_t j = 5; j <= q->last_id_arg && wrc == 0; j++) {
        struct stream_id id;
        stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &id);
        ssize_t pi = stream_pel_find(g, &id);
        if (!stream_has(&s, &id)) {
            if (pi >= 0) { /* deleted from the stream: dropped from the PEL */
                stream_pel_del(g, (size_t)pi);
                dirty = 1;
            }
            continue;
        }
        int forced = 0;
        if (pi < 0 && q->force) {
            if (ci < 0) {
                ci = stream_consumer_add(g, r->argv[3].ptr, r->argv[3].len, now, &created);
                if (ci < 0)
                    break;
            }
            if (stream_pel_add(g, &id, (size_t)ci, now, 1) < 0) /* Redis's new NACK: 1 */
                break;
            pi = stream_pel_find(g, &id);
            forced = 1;
        }
        if (pi < 0)
            continue;
        if (!forced && q->minidle) {
            uint64_t idle = now > g->pel[pi].delivery_ms ? now - g->pel[pi].delivery_ms : 0;
            if ((long long)idle < q->minidle)
                continue;
        }
        if (ci < 0 &&
            (ci = stream_consumer_add(g, r->argv[3].ptr, r->argv[3].len, now, &created)) < 0)
            break;
        g->cons[ci].seen_ms = now;
        claim(g, (size_t)pi, (size_t)ci, (uint64_t)dt, q->retrycount, q->justid);
        wrc = w_claimed(&r->tmp, &s, &id, q->justid);
        k++;
        dirty = 1;
    }
    reply_check(r, wrc);
    if (!dirty) {
        reply_array(r, 0);
        stream_free(&s);
        req_done(r);
        return;
    }
    struct pbuf body = r->tmp; /* the reply: the array's length, then what was written */
    r->tmp = (struct pbuf){.limit = body.limit, .acct = body.acct};
    reply_check(r, resp_w_array(&r->tmp, k));
    reply_check(r, pbuf_append(&r->tmp, body.data, body.len));
    pbuf_free(&body);
    static const char *const ev[] = {"xgroup-createconsumer"};
    xs_store(r, &r->argv[1], it, &s, ev, created, CMD_REPLY_TMP);
    stream_free(&s);
}

static int claim_ll(struct req *r, const struct resp_arg *a, long long *v, const char *what)
{
    if (cmd_arg_ll(a, v) == 0)
        return 0;
    reply_errorf(r, "ERR Invalid %s", what);
    req_done(r);
    return -1;
}

/* XCLAIM's arguments after its key and group (Redis checks those first): 0, or -1 with the
 * error replied and r ended. */
static int xclaim_parse(struct req *r, struct xclaim *q)
{
    q->retrycount = -1;
    q->deliverytime = -1;
    if (claim_ll(r, &r->argv[4], &q->minidle, "min-idle-time argument for XCLAIM") < 0)
        return -1;
    if (q->minidle < 0)
        q->minidle = 0;
    uint32_t j = 5;
    struct stream_id id;
    while (j < r->argc && stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &id) == 0)
        j++;
    q->last_id_arg = j - 1;
    uint64_t now = server_unix_ms();
    for (; j < r->argc; j++) {
        const struct resp_arg *o = &r->argv[j];
        int more = j + 1 < r->argc;
        long long v;
        if (cmd_arg_is(o, "force")) {
            q->force = 1;
        } else if (cmd_arg_is(o, "justid")) {
            q->justid = 1;
        } else if (cmd_arg_is(o, "idle") && more) {
            if (claim_ll(r, &r->argv[++j], &v, "IDLE option argument for XCLAIM") < 0)
                return -1;
            if (__builtin_sub_overflow((int64_t)now, v, &q->deliverytime))
                q->deliverytime = (int64_t)now; /* Redis: past either end, now */
        } else if (cmd_arg_is(o, "time") && more) {
            if (claim_ll(r, &r->argv[++j], &v, "TIME option argument for XCLAIM") < 0)
                return -1;
            q->deliverytime = v;
        } else if (cmd_arg_is(o, "retrycount") && more) {
            if (claim_ll(r, &r->argv[++j], &q->retrycount,
                         "RETRYCOUNT option argument for XCLAIM") < 0)
                return -1;
        } else if (cmd_arg_is(o, "lastid") && more) {
            j++;
            if (stream_id_parse(r->argv[j].ptr, r->argv[j].len, 0, 1, NULL, &q->lastid) < 0) {
                fail(r, ERR_INVALID_ID);
                return -1;
            }
        } else {
            reply_errorf(r, "ERR Unrecognized XCLAIM option '%.*s'", (int)o->len, o->ptr);
            req_done(r);
            return -1;
        }
    }
    return 0;
}

/* XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
 * [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid] */
void cmd_stream_xclaim(struct req *r)
{
    struct xclaim *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    xs_read(r, &r->argv[1], xclaim_cb);
}

static void xautoclaim_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xclaim *q = r->aux;
    struct stream s;
    struct stream_group *g = group_read(r, rc, it, &s);
    if (g == NULL)
        return;
    uint64_t now = server_unix_ms();
    long long count = q->count, attempts = q->count * 10;
    size_t most = (uint64_t)count < g->npel ? (size_t)count : g->npel; /* deleted ones at most */
    struct stream_id *deleted = malloc((most ? most : 1) * sizeof(*deleted));
    if (deleted == NULL) {
        stream_free(&s);
        fail(r, "ERR Insufficient memory, failed allocating transient memory, COUNT too high.");
        return;
    }
    size_t ndel = 0, k = 0, i = stream_pel_lower_bound(g, &q->start);
    ssize_t ci = -1;
    int wrc = 0, created = 0;
    pbuf_reset(&r->tmp);
    while (attempts-- && count && i < g->npel && wrc == 0) {
        struct stream_id id = g->pel[i].id;
        if (!stream_has(&s, &id)) {
            stream_pel_del(g, i); /* i is the next one now */
            deleted[ndel++] = id;
            count--;
            continue;
        }
        if (q->minidle) {
            uint64_t idle = now > g->pel[i].delivery_ms ? now - g->pel[i].delivery_ms : 0;
            if ((long long)idle < q->minidle) {
                i++;
                continue;
            }
        }
        if (ci < 0 &&
            (ci = stream_consumer_add(g, r->argv[3].ptr, r->argv[3].len, now, &created)) < 0)
            break;
        g->cons[ci].seen_ms = now;
        claim(g, i, (size_t)ci, now, -1, q->justid);
        wrc = w_claimed(&r->tmp, &s, &id, q->justid);
        k++;
        count--;
        i++;
    }
    struct stream_id next = i < g->npel ? g->pel[i].id : (struct stream_id){0, 0};
    struct pbuf body = r->tmp;
    r->tmp = (struct pbuf){.limit = body.limit, .acct = body.acct};
    wrc = wrc ? wrc : resp_w_array(&r->tmp, 3);
    if (wrc == 0)
        wrc = xs_w_id(&r->tmp, &next);
    if (wrc == 0)
        wrc = resp_w_array(&r->tmp, k);
    if (wrc == 0)
        wrc = pbuf_append(&r->tmp, body.data, body.len);
    if (wrc == 0)
        wrc = resp_w_array(&r->tmp, ndel);
    for (size_t d = 0; d < ndel && wrc == 0; d++)
        wrc = xs_w_id(&r->tmp, &deleted[d]);
    reply_check(r, wrc);
    pbuf_free(&body);
    free(deleted);
    if (k == 0 && ndel == 0) {
        reply_tmp(r);
        stream_free(&s);
        req_done(r);
        return;
    }
    static const char *const ev[] = {"xgroup-createconsumer"};
    xs_store(r, &r->argv[1], it, &s, ev, created, CMD_REPLY_TMP);
    stream_free(&s);
}

/* XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID] */
void cmd_stream_xautoclaim(struct req *r)
{
    struct xclaim *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    q->count = 100;
    if (claim_ll(r, &r->argv[4], &q->minidle, "min-idle-time argument for XAUTOCLAIM") < 0)
        return;
    if (q->minidle < 0)
        q->minidle = 0;
    int sx;
    if (xs_interval_arg(r, &r->argv[5], 0, &q->start, &sx) < 0) {
        req_done(r);
        return;
    }
    if (sx && stream_id_incr(&q->start) < 0) {
        fail(r, "ERR invalid start ID for the interval");
        return;
    }
    for (uint32_t j = 6; j < r->argc; j++) {
        const struct resp_arg *o = &r->argv[j];
        if (cmd_arg_is(o, "count") && j + 1 < r->argc) {
            long long v;
            if (cmd_arg_ll(&r->argv[j + 1], &v) < 0 || v < 1 || v > (INT64_MAX / 16)) {
                fail(r, "ERR COUNT must be > 0");
                return;
            }
            q->count = v;
            j++;
        } else if (cmd_arg_is(o, "justid")) {
            q->justid = 1;
        } else {
            fail(r, ERR_SYNTAX);
            return;
        }
    }
    if (q->count > (long long)((UINT64_C(1) << 40) / sizeof(struct stream_id))) {
        /* Redis allocates COUNT IDs first and answers this when it cannot */
        fail(r, "ERR Insufficient memory, failed allocating transient memory, COUNT too high.");
        return;
    }
    xs_read(r, &r->argv[1], xautoclaim_cb);
}

/* ---- XREADGROUP ---- */

/* XREADGROUP's state (r->aux), kept across the runs of a blocked one. */
struct xrg {
    struct xs_read_opts o;
    uint32_t at;           /* the key being read */
    int pass;              /* 0: every group checked first (several keys); 1: served */
    struct stream_id *ids; /* the IDs after which history is read; `>` flagged in gt */
    uint32_t pending;      /* writes submitted and not yet acknowledged */
    int wrote;             /* a write was submitted: its locks are released at the end */
    int ended;             /* no more keys: the reply goes once pending is 0 */
    int rc;                /* the first engine error of a write */
    const char *err;       /* or the first error met serving */
    uint8_t *gt;
    uint32_t served;
    int parsed;
    uint32_t whole; /* 1 + the key to load whole (its root's groups past their bound) */
};

static void xrg_free(void *p)
{
    struct xrg *x = p;
    free(x->ids);
    free(x->gt);
    free(x);
}

static void xrg_next(struct req *r);

/* Ends r once its writes are acknowledged: the served streams, or the first error. */
static void xrg_finish(struct req *r)
{
    struct xrg *x = r->aux;
    if (x->pending)
        return;
    if (x->rc)
        reply_engine_error(r, x->rc);
    else if (x->err)
        reply_error(r, x->err);
    else {
        if (r->proto == 2)
            reply_array(r, x->served);
        else
            reply_map(r, x->served);
        reply_tmp(r);
    }
    req_done(r);
}

/* No more keys (the last served, or err): the locks go once every write is submitted (a
 * transaction's next command may start: inside EXEC or a script the writes wait in its
 * overlay until then), the reply once they are acknowledged. */
static void xrg_end(struct req *r, const char *err)
{
    struct xrg *x = r->aux;
    if (x->err == NULL)
        x->err = err;
    x->ended = 1;
    if (x->wrote)
        req_unlock(r);
    xrg_finish(r);
}

static void xrg_written(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    struct xrg *x = r->aux;
    (void)cas;
    if (rc != 0 && rc != LS_ENOTFOUND && x->rc == 0)
        x->rc = rc;
    x->pending--;
    if (x->ended) {
        xrg_finish(r);
    } else if (!txn_batching(r)) { /* acknowledged: the next key may be this one again */
        x->at++;
        xrg_next(r);
    }
}

/* Serves key x->at from s into r->tmp: 1 when s changed, 0 when not, -1 on a failure. */
static int xrg_serve(struct req *r, struct xrg *x, struct stream *s, struct stream_group *g,
                     int *created)
{
    uint64_t now = server_unix_ms();
    const struct resp_arg *key = &r->argv[x->o.first + x->at];
    int history = !x->gt[x->at];
    *created = 0;
    if (!history && !(s->n && stream_id_cmp(&s->e[s->n - 1].id, &g->last_id) > 0))
        return 0; /* nothing new for the group */
    ssize_t ci = stream_consumer_add(g, x->o.consumer->ptr, x->o.consumer->len, now, created);
    if (ci < 0)
        return -1;
    g->cons[ci].seen_ms = now;
    int wrc = 0;
    if (r->proto == 2)
        wrc = resp_w_array(&r->tmp, 2);
    if (wrc == 0)
        wrc = resp_w_bulk(&r->tmp, key->ptr, key->len);
    uint64_t count = xs_count(r, &x->o), k = 0;
    if (history) { /* the consumer's pending entries after the ID */
        struct stream_id from = x->ids[x->at];
        size_t i0 = stream_id_incr(&from) == 0 ? stream_pel_lower_bound(g, &from) : g->npel;
        for (size_t i = i0; i < g->npel && (!count || k < count); i++)
            k += g->pel[i].consumer == (uint64_t)ci;
        if (wrc == 0)
            wrc = resp_w_array(&r->tmp, k);
        uint64_t done = 0;
        for (size_t i = i0; i < g->npel && done < k && wrc == 0; i++) {
            struct stream_pending *p = &g->pel[i];
            if (p->consumer != (uint64_t)ci)
                continue;
            done++;
            size_t e = stream_lower_bound(s, &p->id);
            if (e < s->n && stream_id_cmp(&s->e[e].id, &p->id) == 0) {
                wrc = xs_w_entry(&r->tmp, &s->e[e]);
                p->delivery_ms = now;
                p->deliveries++;
            } else { /* deleted from the stream: its ID and a null */
                wrc = resp_w_array(&r->tmp, 2);
                if (wrc == 0)
                    wrc = xs_w_id(&r->tmp, &p->id);
                if (wrc == 0)
                    wrc = resp_w_null_array(&r->tmp, r->proto);
            }
        }
    } else { /* new entries: delivered, the group's last ID moved */
        struct stream_id from = g->last_id;
        size_t a = stream_id_incr(&from) == 0 ? stream_lower_bound(s, &from) : s->n;
        k = s->n - a;
        if (count && count < k)
            k = count;
        if (wrc == 0)
            wrc = resp_w_array(&r->tmp, k);
        for (size_t i = a; i < a + k && wrc == 0; i++) {
            const struct stream_id *id = &s->e[i].id;
            if (g->entries_read != ENTRIES_READ_UNKNOWN && !has_tombstones(s, id))
                g->entries_read = (int64_t)((uint64_t)g->entries_read + 1); /* Redis wraps */
            else if (s->entries_added)
                g->entries_read = distance_from_first(s, id);
            g->last_id = *id;
            wrc = xs_w_entry(&r->tmp, &s->e[i]);
            if (x->o.noack || wrc)
                continue;
            ssize_t pi = stream_pel_find(g, id);
            if (pi >= 0) { /* delivered before (SETID moved back): this consumer's now */
                stream_pel_assign(g, (size_t)pi, (size_t)ci);
                g->pel[pi].delivery_ms = now;
                g->pel[pi].deliveries = 1;
            } else if (stream_pel_add(g, id, (size_t)ci, now, 1) < 0) {
                return -1;
            }
        }
    }
    reply_check(r, wrc);
    x->served++;
    return 1;
}

static void xrg_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xrg *x = r->aux;
    struct stream s;
    int exists;
    if (xs_stream_of(r, rc, it, &s, &exists))
        return;
    const struct resp_arg *key = &r->argv[x->o.first + x->at];
    struct stream_group *g =
        exists ? stream_group_find(&s, x->o.group->ptr, x->o.group->len) : NULL;
    if (g == NULL) {
        stream_free(&s);
        if (r->block_woken && !exists) /* deleted, or replaced by another type, meanwhile */
            reply_error(r, "UNBLOCKED the stream key no longer exists");
        else if (r->block_woken)
            reply_error(r,
                        "NOGROUP the consumer group this client was blocked on no longer exists");
        else
            reply_errorf(r,
                         "NOGROUP No such key '%.*s' or consumer group '%.*s' in XREADGROUP with "
                         "GROUP option",
                         (int)key->len, key->ptr, (int)x->o.group->len, x->o.group->ptr);
        req_done(r);
        return;
    }
    if (x->pass == 0 || x->o.n == 1) { /* its ID, once its group is there */
        const struct resp_arg *a = &r->argv[x->o.first + x->o.n + x->at];
        const char *err = NULL;
        if (a->len == 1 && a->ptr[0] == '$')
            err = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                  "history of this consumer by specifying a proper ID, or use the > ID to get new "
                  "messages. The $ ID would just return an empty result set.";
        else if (a->len == 1 && a->ptr[0] == '>')
            x->gt[x->at] = 1;
        else if (stream_id_parse(a->ptr, a->len, 0, 1, NULL, &x->ids[x->at]) < 0)
            err = ERR_INVALID_ID;
        else if (x->ids[x->at].ms == UINT64_MAX && x->ids[x->at].seq == UINT64_MAX)
            x->gt[x->at] = 1; /* Redis takes the greatest ID for > */
        if (err) {
            stream_free(&s);
            fail(r, err);
            return;
        }
    }
    if (x->pass == 0) { /* checked: the next key */
        stream_free(&s);
        x->at++;
        xrg_next(r);
        return;
    }
    size_t mark = r->tmp.len;
    uint32_t served = x->served;
    int created, ch = xrg_serve(r, x, &s, g, &created);
    if (ch < 0) {
        stream_free(&s);
        xrg_end(r, "ERR out of memory");
        return;
    }
    if (ch == 0) {
        stream_free(&s);
        x->at++;
        xrg_next(r);
        return;
    }
    /* Its groups changed, not its entries: a large stream's root alone; else the record
     * (a stream it makes large stays one record until a command that writes entries) */
    struct coll_buf out = {0};
    int enc = xs_encode(r, it, &s, &out);
    stream_free(&s);
    if (enc == -2 && x->whole != x->at + 1) {
        /* some of a large stream's entries, and its groups outgrew the root: served again
         * from the whole stream, which becomes one record (xs_encode) */
        coll_buf_free(&out);
        r->tmp.len = mark;
        x->served = served;
        x->whole = x->at + 1;
        r->c->srv->stats.keyspace_hits--; /* the key's one read, counted again */
        xs_read(r, &r->argv[x->o.first + x->at], xrg_cb);
        return;
    }
    if (enc < 0) {
        coll_buf_free(&out);
        xrg_end(r, enc == -2 ? XS_ERR_PARTIAL : "ERR out of memory");
        return;
    }
    if (out.len > r->c->srv->cfg.max_value_size) {
        coll_buf_free(&out);
        xrg_end(r, "ERR string exceeds maximum allowed size (max_value_size)");
        return;
    }
    if (created)
        pubsub_arm(r, NOTIFY_STREAM, "xgroup-createconsumer");
    struct ls_write_opts o = {.expire_ms = it->expire_ms, .flags = it->flags, .vtype = COLL_STREAM};
    x->pending++;
    x->wrote = 1;
    int wrc = park_put(r, r->db, key, out.p, out.len, &o, xrg_written);
    pubsub_put_submitted(r, key, wrc >= 0);
    coll_buf_free(&out);
    if (wrc < 0) {
        x->pending--;
        if (x->rc == 0)
            x->rc = wrc;
        xrg_end(r, NULL);
        return;
    }
    if (txn_batching(r)) { /* in the overlay: the next key's read sees it */
        x->at++;
        xrg_next(r);
    }
}

/* A large stream: its groups checked from the root alone; `>` reads only the entries after
 * the group's last ID (large_stream.c), and its write is the root alone (xs_encode). */
static void xrg_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct xrg *x = r->aux;
    const struct resp_arg *a = &r->argv[x->o.first + x->o.n + x->at];
    if (rc == 0 && x->pass == 0 && large_stream_groups(r, it, xrg_cb))
        return;
    if (rc == 0 && x->pass == 1 && x->whole != x->at + 1 && a->len == 1 && a->ptr[0] == '>' &&
        large_stream_after(r, it, x->o.group, xs_count(r, &x->o), xrg_cb))
        return;
    large_list_read(r, rc, it, xrg_cb);
}

static void xrg_next(struct req *r)
{
    struct xrg *x = r->aux;
    if (x->at < x->o.n) {
        r->hold_claim = 1; /* the keys are read (and written) one after the other */
        xs_read_root(r, &r->argv[x->o.first + x->at], xrg_root_cb);
        return;
    }
    if (x->pass == 0) {
        x->pass = 1;
        x->at = 0;
        xrg_next(r);
        return;
    }
    if (x->served) {
        xrg_end(r, NULL);
        return;
    }
    xs_block(r, &x->o);
}

/* XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...]
 * id [id ...] */
void cmd_stream_xreadgroup(struct req *r)
{
    struct xrg *x = r->aux;
    if (x && x->parsed) { /* a blocked XREADGROUP woken: runs again from its first key */
        x->at = x->served = x->pending = x->whole = 0;
        x->wrote = x->ended = x->rc = 0;
        x->err = NULL;
        x->pass = x->o.n > 1 ? 0 : 1;
        pbuf_reset(&r->tmp);
        xrg_next(r);
        return;
    }
    if ((x = xs_aux(r, sizeof(*x))) == NULL)
        return;
    r->aux_free = xrg_free;
    if (xs_read_opts_parse(r, &x->o, 1) < 0) {
        req_done(r);
        return;
    }
    if ((x->ids = calloc(x->o.n, sizeof(*x->ids))) == NULL || (x->gt = calloc(x->o.n, 1)) == NULL) {
        fail(r, "ERR out of memory");
        return;
    }
    x->parsed = 1; /* the IDs: each when its key was found with its group, as Redis */
    x->pass = x->o.n > 1 ? 0 : 1;
    pbuf_reset(&r->tmp);
    xrg_next(r);
}

/* ---- XINFO ---- */

struct xinfo {
    int full;
    long long count;
};

static void w_stream_head(struct req *r, const struct stream *s, int full)
{
    /* Redis's radix tree holds nodes of up to 100 entries: the counts it would show */
    uint64_t nodes = (s->length + 99) / 100;
    reply_map(r, full ? 9 : 10);
    reply_cstr(r, "length");
    reply_int(r, (int64_t)s->length);
    reply_cstr(r, "radix-tree-keys");
    reply_int(r, (int64_t)nodes);
    reply_cstr(r, "radix-tree-nodes");
    reply_int(r, (int64_t)(nodes ? nodes + 1 : 1));
    reply_cstr(r, "last-generated-id");
    xs_reply_id(r, &s->last_id);
    reply_cstr(r, "max-deleted-entry-id");
    xs_reply_id(r, &s->max_deleted);
    reply_cstr(r, "entries-added");
    reply_int(r, (int64_t)s->entries_added);
    reply_cstr(r, "recorded-first-entry-id");
    xs_reply_id(r, &s->first);
}

static void reply_entry(struct req *r, const struct stream_entry *e)
{
    pbuf_reset(&r->tmp);
    reply_check(r, xs_w_entry(&r->tmp, e));
    reply_tmp(r);
}

static void xinfo_full(struct req *r, const struct stream *s, long long count)
{
    size_t lim = count ? (size_t)count : SIZE_MAX;
    reply_cstr(r, "entries");
    pbuf_reset(&r->tmp);
    reply_check(r, xs_w_range(&r->tmp, s, 0, s->n, 0, (uint64_t)count));
    reply_tmp(r);
    reply_cstr(r, "groups");
    reply_array(r, s->ng);
    for (size_t gi = 0; gi < s->ng; gi++) {
        const struct stream_group *g = &s->g[gi];
        reply_map(r, 7);
        reply_cstr(r, "name");
        reply_bulk(r, g->name, g->name_len);
        reply_cstr(r, "last-delivered-id");
        xs_reply_id(r, &g->last_id);
        reply_cstr(r, "entries-read");
        reply_int_or_null(r, g->entries_read);
        reply_cstr(r, "lag");
        reply_lag(r, s, g);
        reply_cstr(r, "pel-count");
        reply_int(r, (int64_t)g->npel);
        reply_cstr(r, "pending");
        size_t k = g->npel < lim ? g->npel : lim;
        reply_array(r, k);
        for (size_t i = 0; i < k; i++) {
            const struct stream_pending *p = &g->pel[i];
            reply_array(r, 4);
            xs_reply_id(r, &p->id);
            reply_bulk(r, g->cons[p->consumer].name, g->cons[p->consumer].name_len);
            reply_int(r, (int64_t)p->delivery_ms);
            reply_int(r, (int64_t)p->deliveries);
        }
        reply_cstr(r, "consumers");
        reply_array(r, g->ncons);
        for (size_t ci = 0; ci < g->ncons; ci++) {
            const struct stream_consumer *c = &g->cons[ci];
            reply_map(r, 4);
            reply_cstr(r, "name");
            reply_bulk(r, c->name, c->name_len);
            reply_cstr(r, "seen-time");
            reply_int(r, (int64_t)c->seen_ms);
            reply_cstr(r, "pel-count");
            reply_int(r, (int64_t)c->pending);
            reply_cstr(r, "pending");
            size_t kc = c->pending < lim ? (size_t)c->pending : lim;
            reply_array(r, kc);
            for (size_t i = 0, done = 0; i < g->npel && done < kc; i++) {
                const struct stream_pending *p = &g->pel[i];
                if (p->consumer != ci)
                    continue;
                done++;
                reply_array(r, 3);
                xs_reply_id(r, &p->id);
                reply_int(r, (int64_t)p->delivery_ms);
                reply_int(r, (int64_t)p->deliveries);
            }
        }
    }
}

/* XINFO's read: the stream, or -1 with the error replied (an absent key: Redis's "no such
 * key") and r ended. */
static int xinfo_stream_of(struct req *r, int rc, const struct ls_item *it, struct stream *s)
{
    int exists;
    if (xs_stream_of(r, rc, it, s, &exists))
        return -1;
    if (!exists) {
        fail(r, "ERR no such key");
        return -1;
    }
    return 0;
}

static void xinfo_stream_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct xinfo *q = r->aux;
    struct stream s;
    if (xinfo_stream_of(r, rc, it, &s) < 0)
        return;
    if (q->full < 0) { /* bad options: Redis reads the key first */
        stream_free(&s);
        subcommand_syntax(r);
        req_done(r);
        return;
    }
    w_stream_head(r, &s, q->full);
    if (q->full) {
        xinfo_full(r, &s, q->count);
    } else {
        reply_cstr(r, "groups");
        reply_int(r, (int64_t)s.ng);
        for (int last = 0; last < 2; last++) {
            reply_cstr(r, last ? "last-entry" : "first-entry");
            if (s.n == 0)
                reply_null(r);
            else
                reply_entry(r, &s.e[last ? s.n - 1 : 0]);
        }
    }
    stream_free(&s);
    req_done(r);
}

static void xinfo_groups_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream s;
    if (xinfo_stream_of(r, rc, it, &s) < 0)
        return;
    reply_array(r, s.ng);
    for (size_t gi = 0; gi < s.ng; gi++) {
        const struct stream_group *g = &s.g[gi];
        reply_map(r, 6);
        reply_cstr(r, "name");
        reply_bulk(r, g->name, g->name_len);
        reply_cstr(r, "consumers");
        reply_int(r, (int64_t)g->ncons);
        reply_cstr(r, "pending");
        reply_int(r, (int64_t)g->npel);
        reply_cstr(r, "last-delivered-id");
        xs_reply_id(r, &g->last_id);
        reply_cstr(r, "entries-read");
        reply_int_or_null(r, g->entries_read);
        reply_cstr(r, "lag");
        reply_lag(r, &s, g);
    }
    stream_free(&s);
    req_done(r);
}

static void xinfo_consumers_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct stream s;
    if (xinfo_stream_of(r, rc, it, &s) < 0)
        return;
    const struct stream_group *g = stream_group_find(&s, r->argv[3].ptr, r->argv[3].len);
    if (g == NULL) {
        stream_free(&s);
        nogroup(r, &r->argv[3], &r->argv[2]);
        return;
    }
    uint64_t now = server_unix_ms();
    reply_array(r, g->ncons);
    for (size_t ci = 0; ci < g->ncons; ci++) {
        const struct stream_consumer *c = &g->cons[ci];
        reply_map(r, 3);
        reply_cstr(r, "name");
        reply_bulk(r, c->name, c->name_len);
        reply_cstr(r, "pending");
        reply_int(r, (int64_t)c->pending);
        reply_cstr(r, "idle");
        reply_int(r, now > c->seen_ms ? (int64_t)(now - c->seen_ms) : 0);
    }
    stream_free(&s);
    req_done(r);
}

static void xinfo_help(struct req *r)
{
    static const char *const lines[] = {
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help."};
    reply_lines(r, lines, sizeof(lines) / sizeof(lines[0]));
}

/* A large stream (large_stream.c): XINFO STREAM reads its first and last entries, GROUPS its
 * first (the lag needs the first ID), CONSUMERS the root alone; STREAM FULL loads it. */
static void xinfo_root_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    static const struct stream_id zero = {0, 0}, max = {UINT64_MAX, UINT64_MAX};
    if (rc == 0 && r->coll_cb == xinfo_stream_cb && large_stream_ends(r, it, r->coll_cb))
        return;
    if (rc == 0 && r->coll_cb == xinfo_groups_cb &&
        large_stream_range(r, it, &zero, &max, 0, 1, r->coll_cb))
        return;
    if (rc == 0 && r->coll_cb == xinfo_consumers_cb && large_stream_groups(r, it, r->coll_cb))
        return;
    large_list_read(r, rc, it, r->coll_cb);
}

static void xinfo_read(struct req *r, ls_get_cb cb)
{
    r->coll_cb = cb;
    xs_read_root(r, &r->argv[2], xinfo_root_cb);
}

/* XINFO STREAM key [FULL [COUNT count]] | GROUPS key | CONSUMERS key group | HELP */
void cmd_stream_xinfo(struct req *r)
{
    static const char *const names[] = {"stream", "groups", "consumers", "help"};
    static const int arity[] = {-3, 3, 4, 2};
    int sub = subcommand(r, names, arity, 4, "xinfo");
    if (sub < 0) {
        req_done(r);
        return;
    }
    if (sub == 3) {
        xinfo_help(r);
        req_done(r);
        return;
    }
    if (sub == 1) {
        xinfo_read(r, xinfo_groups_cb);
        return;
    }
    if (sub == 2) {
        xinfo_read(r, xinfo_consumers_cb);
        return;
    }
    struct xinfo *q = xs_aux(r, sizeof(*q));
    if (q == NULL)
        return;
    q->count = 10;
    uint32_t optc = r->argc - 3;
    if (optc) {
        q->full = 1;
        if ((optc != 1 && optc != 3) || !cmd_arg_is(&r->argv[3], "full") ||
            (optc == 3 && !cmd_arg_is(&r->argv[4], "count"))) {
            q->full = -1;
        } else if (optc == 3) {
            if (cmd_arg_ll(&r->argv[5], &q->count) < 0) {
                fail(r, ERR_NOT_INT);
                return;
            }
            if (q->count < 0)
                q->count = 10;
        }
    }
    if (q->full)
        xs_read(r, &r->argv[2], xinfo_stream_cb);
    else
        xinfo_read(r, xinfo_stream_cb);
}
