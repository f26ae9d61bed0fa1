/*
 * pubsub.c - Redis Pub/Sub and keyspace notifications.
 *
 * Tables: the server keeps three hash tables of entries (name -> subscribers): channels,
 * patterns and shard channels (s->ps). A connection keeps its own three tables of the
 * names it subscribed to (c->ps, created at its first subscription), whose entries point
 * at the server's entry, so unsubscribing is a lookup on both sides. A server entry is
 * freed when its last subscriber leaves (a client cannot grow the tables past what it is
 * subscribed to); every entry a connection caused is charged to its memory (c->mem), so
 * maxmemory_clients bounds subscriptions too.
 *
 * Delivery: PUBLISH encodes the message once per protocol and wire shape and appends it
 * to each subscriber's output: to the output buffer directly when the subscriber has no
 * request in progress (between commands its output ends at a reply boundary), to the
 * publishing request's own reply when the subscriber is the publisher (Redis sends that
 * push before PUBLISH's reply), and otherwise to a pending buffer that conn.c moves to the
 * output right after the next reply it drains (pubsub_conn_drained): a request's reply may
 * be written in pieces across events (MGET), and a push must never land inside one.
 * A subscriber's output buffer is flushed once after the events active now have run
 * (flush_ev), not at the end of each publisher's callback.
 * Every push is charged to the subscriber's reply account (client_output_buffer_limit):
 * one that does not fit marks the subscriber, which the deferred pass closes
 * (pubsub_after_events) - never from inside PUBLISH, whose own connection may be the one.
 *
 * Modes: in RESP2 a connection with a subscription only runs (P|S)SUBSCRIBE,
 * (P|S)UNSUBSCRIBE, PING, QUIT and RESET (pubsub_check_mode); in RESP3 any command, and
 * messages arrive as push (>) frames. Subscribe confirmations are pushes too in RESP3.
 *
 * Notifications: pubsub_notify publishes a command's keyspace event as Redis's
 * notifyKeyspaceEvent does, on __keyspace@<db>__:<key> (message: the event) and
 * __keyevent@<db>__:<event> (message: the key), when notify-keyspace-events enables its
 * class. Expired keys are reported by the engine (ls_config.expired), from reads, writes,
 * its sweep and compaction, once per key.
 *
 * Invariants: a connection is in a server entry's subscriber array exactly when the entry
 * is in the connection's table of that kind; a server entry has at least one subscriber.
 */
#include "pubsub.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "block.h"
#include "cmd.h"
#include "conn.h"
#include "glob.h"
#include "htab.h"
#include "log.h"
#include "reply.h"
#include "resp.h"
#include "server.h"

enum ps_kind { PS_CHAN = 0, PS_PAT = 1, PS_SHARD = 2, PS_KINDS = 3 };

/* A channel or pattern. In a server table, subs lists its subscribers; in a connection's
 * table, ref points at the server's entry. hn first: a table's node is its entry. */
struct ps_ent {
    struct htab_node hn; /* keyed by name */
    struct ps_ent *ref;
    struct conn **subs;
    uint32_t nsubs, cap;
    size_t len;
    char name[];
};

/* The entry of a node of one of the tables (htab.c). */
#define PS_ENT(node) ((struct ps_ent *)(node))

struct pubsub {
    struct htab t[PS_KINDS];
    struct {
        struct req *r; /* the request the events are armed for (pubsub_arm) */
        uint32_t n;
        int type[PUBSUB_ARMED];
        const char *event[PUBSUB_ARMED];
    } armed;
    struct conn **doomed; /* subscribers past their output limit, closed after events */
    size_t ndoomed, doomed_cap;
    /* Subscribers with new pushes in their output buffer, flushed once by flush_ev after
     * every event now active ran (Redis writes once per loop iteration): each publisher's
     * callback flushing every subscriber made 20 pipelining publishers to 4 subscribers
     * write 100 times where 24 do. */
    struct event *flush_ev;
    struct pubsub_conn *flush_head;
};

struct pubsub_conn {
    struct htab t[PS_KINDS];
    struct pbuf pend; /* pushes waiting for the reply in progress to end */
    int doomed;       /* in s->ps->doomed */
    int queued;       /* in s->ps->flush_head: its output gets flushed after the events */
    struct conn *c;   /* NULL once the connection closed (then freed by whoever holds it) */
    struct pubsub_conn *fnext;
};

/* ---- hash tables ---- */

static struct ps_ent *ps_find(const struct htab *t, const char *p, size_t n)
{
    return PS_ENT(htab_find(t, p, n));
}

/* A new entry named p[0..n) in t. NULL on allocation failure. */
static struct ps_ent *ps_add(struct htab *t, const char *p, size_t n)
{
    struct ps_ent *e = calloc(1, sizeof(*e) + n + 1);
    if (e == NULL)
        return NULL;
    e->len = n;
    memcpy(e->name, p, n);
    if (htab_add(t, &e->hn, e->name, n) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

static void ps_remove(struct htab *t, struct ps_ent *e)
{
    htab_remove(t, &e->hn);
    free(e->subs);
    free(e);
}

static void ps_table_free(struct htab *t)
{
    for (size_t i = 0; i < t->nb; i++) {
        while (t->b[i]) {
            struct ps_ent *e = PS_ENT(t->b[i]);
            t->b[i] = e->hn.next;
            free(e->subs);
            free(e);
        }
    }
    htab_free(t);
}

/* Bytes an entry costs, charged to the subscriber's memory. */
static size_t ps_ent_bytes(size_t n)
{
    return 2 * (sizeof(struct ps_ent) + n + 1) + 2 * sizeof(void *);
}

/* ---- server and connection state ---- */

int pubsub_init(struct server *s)
{
    s->ps = calloc(1, sizeof(*s->ps));
    return s->ps ? 0 : -ENOMEM;
}

void pubsub_free(struct server *s)
{
    if (s->ps == NULL)
        return;
    for (int k = 0; k < PS_KINDS; k++)
        ps_table_free(&s->ps->t[k]);
    while (s->ps->flush_head) { /* only closed connections' are left after the loop */
        struct pubsub_conn *pc = s->ps->flush_head;
        s->ps->flush_head = pc->fnext;
        free(pc);
    }
    if (s->ps->flush_ev)
        event_free(s->ps->flush_ev);
    free(s->ps->doomed);
    free(s->ps);
    s->ps = NULL;
}

static struct pubsub_conn *ps_conn(struct conn *c)
{
    if (c->ps == NULL) {
        c->ps = calloc(1, sizeof(*c->ps));
        if (c->ps == NULL)
            return NULL;
        pbuf_init(&c->ps->pend, c->srv->cfg.client_output_buffer_limit);
        c->ps->pend.acct = &c->out_acct;
        c->ps->c = c;
    }
    return c->ps;
}

static size_t ps_count(const struct conn *c, enum ps_kind k)
{
    return c->ps ? c->ps->t[k].n : 0;
}

/* Redis's clientSubscriptionsCount (channels + patterns) or, for shard channels, theirs. */
static size_t ps_sub_count(const struct conn *c, enum ps_kind k)
{
    return k == PS_SHARD ? ps_count(c, PS_SHARD) : ps_count(c, PS_CHAN) + ps_count(c, PS_PAT);
}

static size_t ps_total(const struct conn *c)
{
    return ps_count(c, PS_CHAN) + ps_count(c, PS_PAT) + ps_count(c, PS_SHARD);
}

/* Subscribes c to name in kind k. Returns 1 when new, 0 when already there, -ENOMEM. */
static int ps_subscribe(struct conn *c, enum ps_kind k, const char *p, size_t n)
{
    struct pubsub_conn *pc = ps_conn(c);
    struct htab *st = &c->srv->ps->t[k];
    if (pc == NULL)
        return -ENOMEM;
    if (ps_find(&pc->t[k], p, n))
        return 0;
    struct ps_ent *se = ps_find(st, p, n);
    if (se == NULL && (se = ps_add(st, p, n)) == NULL)
        return -ENOMEM;
    if (se->nsubs == se->cap) {
        uint32_t cap = se->cap ? se->cap * 2 : 4;
        struct conn **v = realloc(se->subs, cap * sizeof(*v));
        if (v == NULL)
            goto fail;
        se->subs = v;
        se->cap = cap;
    }
    struct ps_ent *ce = ps_add(&pc->t[k], p, n);
    if (ce == NULL)
        goto fail;
    ce->ref = se;
    se->subs[se->nsubs++] = c;
    pbuf_acct_add(&c->mem, ps_ent_bytes(n));
    return 1;
fail:
    if (se->nsubs == 0)
        ps_remove(st, se);
    return -ENOMEM;
}

/* Removes c's entry ce of kind k (and c from the server's entry). */
static void ps_drop(struct conn *c, enum ps_kind k, struct ps_ent *ce)
{
    struct ps_ent *se = ce->ref;
    for (uint32_t i = 0; i < se->nsubs; i++) {
        if (se->subs[i] == c) {
            memmove(&se->subs[i], &se->subs[i + 1], (se->nsubs - i - 1) * sizeof(se->subs[0]));
            se->nsubs--;
            break;
        }
    }
    if (se->nsubs == 0)
        ps_remove(&c->srv->ps->t[k], se);
    pbuf_acct_sub(&c->mem, ps_ent_bytes(ce->len));
    ps_remove(&c->ps->t[k], ce);
}

/* Unsubscribes c from name. Returns 1 when it was subscribed. */
static int ps_unsubscribe(struct conn *c, enum ps_kind k, const char *p, size_t n)
{
    struct ps_ent *ce = c->ps ? ps_find(&c->ps->t[k], p, n) : NULL;
    if (ce == NULL)
        return 0;
    ps_drop(c, k, ce);
    return 1;
}

void pubsub_conn_reset(struct conn *c)
{
    if (c->ps == NULL)
        return;
    for (int k = 0; k < PS_KINDS; k++) {
        struct htab *t = &c->ps->t[k];
        for (size_t i = 0; i < t->nb; i++)
            while (t->b[i])
                ps_drop(c, (enum ps_kind)k, PS_ENT(t->b[i]));
        ps_table_free(t);
    }
}

void pubsub_conn_close(struct conn *c)
{
    if (c->ps == NULL)
        return;
    pubsub_conn_reset(c);
    pbuf_free(&c->ps->pend);
    if (c->ps->queued) { /* ps_flush_cb frees it */
        c->ps->c = NULL;
        c->ps = NULL;
    } else if (!c->ps->doomed) {
        free(c->ps);
        c->ps = NULL;
    }
}

/* ---- pushes ---- */

/* Where a push to c goes now (see the design comment), or NULL when it must be held. */
static struct pbuf *ps_push_buf(struct conn *c, struct req *self)
{
    if (self && self->c == c)
        return req_push_out(self); /* a push, sent even with CLIENT REPLY OFF */
    if (c->head == NULL)
        return &c->out;
    struct pubsub_conn *pc = ps_conn(c);
    return pc ? &pc->pend : NULL;
}

static void ps_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    while (s->ps->flush_head) {
        struct pubsub_conn *pc = s->ps->flush_head;
        s->ps->flush_head = pc->fnext;
        pc->queued = 0;
        if (pc->c)
            conn_mark_write(pc->c);
        else
            free(pc); /* its connection closed meanwhile */
    }
    server_after_events(s);
}

/* Has c's output flushed once the events now active have run (see struct pubsub). */
static void ps_queue_flush(struct conn *c)
{
    struct pubsub *ps = c->srv->ps;
    if (ps->flush_ev == NULL)
        ps->flush_ev = event_new(c->srv->base, -1, 0, ps_flush_cb, c->srv);
    if (ps->flush_ev == NULL || c->ps == NULL) {
        conn_mark_write(c);
        return;
    }
    if (c->ps->queued)
        return;
    if (ps->flush_head == NULL)
        event_active(ps->flush_ev, 0, 1);
    c->ps->queued = 1;
    c->ps->fnext = ps->flush_head;
    ps->flush_head = c->ps;
}

static void ps_doom(struct conn *c)
{
    struct pubsub *ps = c->srv->ps;
    if (ps_conn(c) == NULL) {
        c->overflow = 1; /* closed when a request of it completes */
        return;
    }
    if (c->ps->doomed)
        return;
    if (ps->ndoomed == ps->doomed_cap) {
        size_t cap = ps->doomed_cap ? ps->doomed_cap * 2 : 8;
        struct conn **v = realloc(ps->doomed, cap * sizeof(*v));
        if (v == NULL) {
            c->overflow = 1; /* closed when a request of it completes */
            return;
        }
        ps->doomed = v;
        ps->doomed_cap = cap;
    }
    c->ps->doomed = 1;
    ps->doomed[ps->ndoomed++] = c;
}

/* Appends the bytes of one push to subscriber c; past its output limit it is doomed. */
static void ps_push(struct conn *c, struct req *self, const void *p, size_t n)
{
    if (c->closed || (c->ps && c->ps->doomed))
        return;
    c->out_acct.limit = c->srv->cfg.client_output_buffer_limit; /* CONFIG SET applies */
    struct pbuf *b = ps_push_buf(c, self);
    if (b == NULL || pbuf_append(b, p, n) < 0) {
        ps_doom(c);
        return;
    }
    if (b == &c->out)
        ps_queue_flush(c);
}

void pubsub_push(struct conn *c, const void *p, size_t n)
{
    if (c->closed)
        return;
    if (p == NULL)
        ps_doom(c);
    else
        ps_push(c, NULL, p, n);
}

void pubsub_conn_drained(struct conn *c)
{
    if (c->ps == NULL || c->ps->pend.len == 0 || c->closed)
        return;
    if (pbuf_take(&c->out, &c->ps->pend) < 0)
        ps_doom(c);
}

void pubsub_after_events(struct server *s)
{
    struct pubsub *ps = s->ps;
    while (ps && ps->ndoomed) {
        struct conn *c = ps->doomed[--ps->ndoomed];
        if (c->ps)
            c->ps->doomed = 0;
        if (c->closed) {
            pubsub_conn_close(c); /* frees what conn_close left for this pass */
            continue;
        }
        log_warning("client id=%llu addr=%s closed: output buffer limit reached by pub/sub "
                    "messages (%zu bytes of replies, limit %zu)",
                    (unsigned long long)c->id, c->addr, c->out_acct.used, c->out_acct.limit);
        s->stats.output_limit_disconnects++;
        conn_close(c, "output buffer limit (pub/sub)");
    }
}

/* Encodes an array or push header of n elements for protocol proto. */
static int ps_w_head(struct pbuf *o, int proto, size_t n)
{
    return proto == 3 ? pbuf_appendf(o, ">%zu\r\n", n) : resp_w_array(o, n);
}

/* One message frame: kind word, [pattern], channel, payload. */
static int ps_w_message(struct pbuf *o, int proto, const char *word, const struct ps_ent *pat,
                        const char *ch, size_t chn, const char *msg, size_t msgn)
{
    int rc = ps_w_head(o, proto, pat ? 4 : 3);
    rc = rc < 0 ? rc : resp_w_cstr(o, word);
    if (pat && rc == 0)
        rc = resp_w_bulk(o, pat->name, pat->len);
    rc = rc < 0 ? rc : resp_w_bulk(o, ch, chn);
    return rc < 0 ? rc : resp_w_bulk(o, msg, msgn);
}

/* The message as subscriber c must see it, encoded once per protocol in enc[]. */
struct ps_msg {
    const char *word;
    const struct ps_ent *pat;
    const char *ch, *msg;
    size_t chn, msgn;
    struct pbuf enc[2]; /* RESP2, RESP3 */
};

static void ps_deliver(struct ps_msg *m, struct conn *c, struct req *self)
{
    struct pbuf *o = &m->enc[c->proto == 3];
    if (o->len == 0 &&
        ps_w_message(o, c->proto, m->word, m->pat, m->ch, m->chn, m->msg, m->msgn) < 0) {
        ps_doom(c);
        return;
    }
    ps_push(c, self, o->data, o->len);
}

static void ps_msg_reset(struct ps_msg *m)
{
    pbuf_free(&m->enc[0]);
    pbuf_free(&m->enc[1]);
}

/* Delivers to every subscriber of one entry. Returns the number of receivers. */
static long long ps_deliver_all(struct ps_msg *m, const struct ps_ent *se, struct req *self)
{
    for (uint32_t i = 0; i < se->nsubs; i++)
        ps_deliver(m, se->subs[i], self);
    return se->nsubs;
}

/* Publishes msg on channel ch (a shard channel when shard); self is the request that
 * publishes (NULL for the engine's reports). Returns the number of receivers. */
static long long ps_publish(struct server *s, int shard, const char *ch, size_t chn,
                            const char *msg, size_t msgn, struct req *self)
{
    struct ps_msg m = {shard ? "smessage" : "message", NULL, ch, msg, chn, msgn, {{0}}};
    long long n = 0;
    struct ps_ent *se = ps_find(&s->ps->t[shard ? PS_SHARD : PS_CHAN], ch, chn);
    if (se)
        n += ps_deliver_all(&m, se, self);
    ps_msg_reset(&m);
    if (shard)
        return n;
    const struct htab *pt = &s->ps->t[PS_PAT];
    for (size_t i = 0; i < pt->nb; i++) {
        for (struct ps_ent *pe = PS_ENT(pt->b[i]); pe; pe = PS_ENT(pe->hn.next)) {
            if (!glob_match(pe->name, pe->len, ch, chn, 0))
                continue;
            m.word = "pmessage";
            m.pat = pe;
            n += ps_deliver_all(&m, pe, self);
            ps_msg_reset(&m);
        }
    }
    return n;
}

/* ---- commands ---- */

static const char *const ps_sub_words[PS_KINDS] = {"subscribe", "psubscribe", "ssubscribe"};
static const char *const ps_unsub_words[PS_KINDS] = {"unsubscribe", "punsubscribe", "sunsubscribe"};

/* A confirmation: [word, name or null, count] as an array (RESP2) or a push (RESP3). */
static void ps_reply_confirm(struct req *r, const char *word, const char *p, size_t n,
                             enum ps_kind k)
{
    struct pbuf *o = req_push_out(r); /* Redis sends it even with CLIENT REPLY OFF */
    int rc = ps_w_head(o, r->proto, 3);
    rc = rc < 0 ? rc : resp_w_cstr(o, word);
    rc = rc < 0 ? rc : (p ? resp_w_bulk(o, p, n) : resp_w_null(o, r->proto));
    rc = rc < 0 ? rc : resp_w_int(o, (int64_t)ps_sub_count(r->c, k));
    if (rc < 0)
        r->c->overflow = 1; /* not reply_check: that ignores a silenced reply's */
}

static void ps_subscribe_cmd(struct req *r, enum ps_kind k)
{
    for (uint32_t i = 1; i < r->argc; i++) {
        if (ps_subscribe(r->c, k, r->argv[i].ptr, r->argv[i].len) < 0) {
            reply_error(r, "ERR out of memory");
            break;
        }
        ps_reply_confirm(r, ps_sub_words[k], r->argv[i].ptr, r->argv[i].len, k);
    }
    req_done(r);
}

/* Unsubscribes from every name of kind k, one confirmation each (or one with a null name
 * when there was none). */
static void ps_unsubscribe_all(struct req *r, enum ps_kind k)
{
    struct conn *c = r->c;
    int any = 0;
    struct htab *t = c->ps ? &c->ps->t[k] : NULL;
    for (size_t i = 0; t && i < t->nb; i++) {
        while (t->b[i]) {
            struct ps_ent *ce = PS_ENT(t->b[i]);
            char *name = malloc(ce->len + 1);
            size_t n = ce->len;
            if (name == NULL) {
                reply_error(r, "ERR out of memory");
                return;
            }
            memcpy(name, ce->name, n);
            ps_drop(c, k, ce);
            ps_reply_confirm(r, ps_unsub_words[k], name, n, k);
            free(name);
            any = 1;
        }
    }
    if (!any)
        ps_reply_confirm(r, ps_unsub_words[k], NULL, 0, k);
}

static void ps_unsubscribe_cmd(struct req *r, enum ps_kind k)
{
    if (r->argc == 1)
        ps_unsubscribe_all(r, k);
    for (uint32_t i = 1; i < r->argc; i++) {
        ps_unsubscribe(r->c, k, r->argv[i].ptr, r->argv[i].len);
        ps_reply_confirm(r, ps_unsub_words[k], r->argv[i].ptr, r->argv[i].len, k);
    }
    req_done(r);
}

void pubsub_cmd_subscribe(struct req *r)
{
    ps_subscribe_cmd(r, PS_CHAN);
}

void pubsub_cmd_psubscribe(struct req *r)
{
    ps_subscribe_cmd(r, PS_PAT);
}

void pubsub_cmd_ssubscribe(struct req *r)
{
    ps_subscribe_cmd(r, PS_SHARD);
}

void pubsub_cmd_unsubscribe(struct req *r)
{
    ps_unsubscribe_cmd(r, PS_CHAN);
}

void pubsub_cmd_punsubscribe(struct req *r)
{
    ps_unsubscribe_cmd(r, PS_PAT);
}

void pubsub_cmd_sunsubscribe(struct req *r)
{
    ps_unsubscribe_cmd(r, PS_SHARD);
}

static void ps_publish_cmd(struct req *r, int shard)
{
    long long n = ps_publish(r->c->srv, shard, r->argv[1].ptr, r->argv[1].len, r->argv[2].ptr,
                             r->argv[2].len, r);
    reply_int(r, n);
    req_done(r);
}

void pubsub_cmd_publish(struct req *r)
{
    ps_publish_cmd(r, 0);
}

void pubsub_cmd_spublish(struct req *r)
{
    ps_publish_cmd(r, 1);
}

/* PUBSUB CHANNELS / SHARDCHANNELS [pattern]. */
static void ps_channels(struct req *r, enum ps_kind k)
{
    const struct htab *t = &r->c->srv->ps->t[k];
    const struct resp_arg *pat = r->argc == 3 ? &r->argv[2] : NULL;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            reply_array(r, n);
        for (size_t i = 0; i < t->nb; i++) {
            for (const struct ps_ent *e = PS_ENT(t->b[i]); e; e = PS_ENT(e->hn.next)) {
                if (pat && !glob_match(pat->ptr, pat->len, e->name, e->len, 0))
                    continue;
                if (pass == 0)
                    n++;
                else
                    reply_bulk(r, e->name, e->len);
            }
        }
    }
}

/* PUBSUB NUMSUB / SHARDNUMSUB [channel ...]. */
static void ps_numsub(struct req *r, enum ps_kind k)
{
    const struct htab *t = &r->c->srv->ps->t[k];
    reply_array(r, (size_t)(r->argc - 2) * 2);
    for (uint32_t i = 2; i < r->argc; i++) {
        const struct ps_ent *e = ps_find(t, r->argv[i].ptr, r->argv[i].len);
        reply_bulk(r, r->argv[i].ptr, r->argv[i].len);
        reply_int(r, e ? e->nsubs : 0);
    }
}

static void ps_help(struct req *r)
{
    static const char *const help[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: "
        "'*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help."};
    reply_array(r, sizeof(help) / sizeof(help[0]));
    for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
        reply_simple(r, help[i]);
}

/* PUBSUB's subcommands with their Redis 7.0 arity (-N: at least N). */
static const struct {
    const char *name;
    int arity;
} ps_subcmds[] = {{"channels", -2}, {"numsub", -2},        {"numpat", 2},
                  {"help", 2},      {"shardchannels", -2}, {"shardnumsub", -2}};

/* Redis's checks before the handler: unknown subcommand, then the subcommand's arity. */
static int ps_pubsub_check(struct req *r)
{
    for (size_t i = 0; i < sizeof(ps_subcmds) / sizeof(ps_subcmds[0]); i++) {
        if (!cmd_arg_is(&r->argv[1], ps_subcmds[i].name))
            continue;
        int a = ps_subcmds[i].arity;
        if ((a > 0 && r->argc != (uint32_t)a) || (a < 0 && r->argc < (uint32_t)-a)) {
            reply_errorf(r, "ERR wrong number of arguments for 'pubsub|%s' command",
                         ps_subcmds[i].name);
            return -1;
        }
        return 0;
    }
    reply_errorf(r, "ERR unknown subcommand '%.128s'. Try PUBSUB HELP.", r->argv[1].ptr);
    return -1;
}

void pubsub_cmd_pubsub(struct req *r)
{
    const struct resp_arg *sub = &r->argv[1];
    if (ps_pubsub_check(r) < 0)
        ;
    else if (cmd_arg_is(sub, "help"))
        ps_help(r);
    else if (cmd_arg_is(sub, "channels") && r->argc <= 3)
        ps_channels(r, PS_CHAN);
    else if (cmd_arg_is(sub, "shardchannels") && r->argc <= 3)
        ps_channels(r, PS_SHARD);
    else if (cmd_arg_is(sub, "numsub"))
        ps_numsub(r, PS_CHAN);
    else if (cmd_arg_is(sub, "shardnumsub"))
        ps_numsub(r, PS_SHARD);
    else if (cmd_arg_is(sub, "numpat"))
        reply_int(r, (int64_t)r->c->srv->ps->t[PS_PAT].n);
    else
        reply_errorf(r,
                     "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try "
                     "PUBSUB HELP.",
                     sub->ptr);
    req_done(r);
}

/* ---- subscribed mode ---- */

static int ps_allowed_in_mode(const struct cmd_def *d)
{
    static const char *const ok[] = {"ping",         "subscribe",    "ssubscribe",
                                     "unsubscribe",  "sunsubscribe", "psubscribe",
                                     "punsubscribe", "quit",         "reset"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(d->name, ok[i]) == 0)
            return 1;
    return 0;
}

/* Commands whose name Redis reports with their subcommand ("client|list"). */
static int ps_is_container(const char *name)
{
    static const char *const v[] = {"client",  "config",  "command",  "pubsub",  "object",
                                    "memory",  "script",  "function", "cluster", "acl",
                                    "slowlog", "latency", "module",   "xinfo",   "xgroup"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (strcmp(name, v[i]) == 0)
            return 1;
    return 0;
}

int pubsub_subscribed(const struct conn *c)
{
    return ps_total(c) > 0;
}

int pubsub_check_mode(struct req *r)
{
    const struct conn *c = r->c;
    if (r->proto != 2 || c->ps == NULL || ps_total(c) == 0 || ps_allowed_in_mode(r->cmd))
        return 0;
    char full[192];
    if (ps_is_container(r->cmd->name) && r->argc > 1 && r->argv[1].len < 64) {
        int n = snprintf(full, sizeof(full), "%s|%s", r->cmd->name, r->argv[1].ptr);
        for (int i = 0; i < n; i++)
            full[i] = (char)(full[i] >= 'A' && full[i] <= 'Z' ? full[i] + 32 : full[i]);
    } else {
        snprintf(full, sizeof(full), "%s", r->cmd->name);
    }
    reply_errorf(r,
                 "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                 "RESET are allowed in this context",
                 full);
    return -1;
}

int pubsub_ping(struct req *r)
{
    if (r->proto != 2 || ps_total(r->c) == 0 || r->argc > 2)
        return 0;
    reply_array(r, 2);
    reply_bulk(r, "pong", 4);
    if (r->argc == 2)
        reply_bulk(r, r->argv[1].ptr, r->argv[1].len);
    else
        reply_bulk(r, "", 0);
    return 1;
}

/* ---- keyspace notifications ---- */

static const struct {
    char letter;
    int flag;
} ps_classes[] = {{'A', NOTIFY_ALL},      {'g', NOTIFY_GENERIC},  {'$', NOTIFY_STRING},
                  {'l', NOTIFY_LIST},     {'s', NOTIFY_SET},      {'h', NOTIFY_HASH},
                  {'z', NOTIFY_ZSET},     {'x', NOTIFY_EXPIRED},  {'e', NOTIFY_EVICTED},
                  {'t', NOTIFY_STREAM},   {'d', NOTIFY_MODULE},   {'n', NOTIFY_NEW},
                  {'K', NOTIFY_KEYSPACE}, {'E', NOTIFY_KEYEVENT}, {'m', NOTIFY_KEY_MISS}};
#define PS_NCLASSES (sizeof(ps_classes) / sizeof(ps_classes[0]))

int pubsub_notify_parse(const char *s)
{
    int flags = 0;
    for (; *s; s++) {
        size_t i = 0;
        while (i < PS_NCLASSES && ps_classes[i].letter != *s)
            i++;
        if (i == PS_NCLASSES)
            return -1;
        flags |= ps_classes[i].flag;
    }
    return flags;
}

void pubsub_notify_format(int flags, char *buf, size_t len)
{
    size_t n = 0;
    /* Redis's order: A, or else its classes g$lshzxetd and n (so A hides n: "AnKE" shows
     * as "AKE", the flag still on), then K, E, m. */
    int all = (flags & NOTIFY_ALL) == NOTIFY_ALL;
    for (size_t i = 0; i < PS_NCLASSES && n + 1 < len; i++) {
        int f = ps_classes[i].flag;
        int in_a = f == NOTIFY_NEW || (f & NOTIFY_ALL) != 0; /* shown only without A */
        if (f == NOTIFY_ALL ? all : (flags & f) && !(all && in_a))
            buf[n++] = ps_classes[i].letter;
    }
    buf[n] = '\0';
}

/* Publishes one event on the keyspace and keyevent channels. */
static void ps_notify(struct server *s, struct req *self, int type, const char *event, uint32_t db,
                      const void *key, size_t key_len)
{
    int flags = s->cfg.notify_flags;
    if (!(flags & type) || s->ps == NULL)
        return;
    size_t ev_len = strlen(event);
    char *ch = malloc(32 + (key_len > ev_len ? key_len : ev_len));
    if (ch == NULL)
        return;
    if (flags & NOTIFY_KEYSPACE) {
        int n = sprintf(ch, "__keyspace@%u__:", db);
        memcpy(ch + n, key, key_len);
        ps_publish(s, 0, ch, (size_t)n + key_len, event, ev_len, self);
    }
    if (flags & NOTIFY_KEYEVENT) {
        int n = sprintf(ch, "__keyevent@%u__:%s", db, event);
        ps_publish(s, 0, ch, (size_t)n, key, key_len, self);
    }
    free(ch);
}

void pubsub_notify(struct req *r, int type, const char *event, const struct resp_arg *key)
{
    ps_notify(r->c->srv, r, type, event, r->db, key->ptr, key->len);
}

int pubsub_key_absent(struct req *r, const struct resp_arg *key)
{
    struct ls_meta m;
    struct server *s = r->c->srv;
    return (s->cfg.notify_flags & NOTIFY_NEW) &&
           ls_lookup(s->eng, r->db, key->ptr, key->len, &m) == LS_ENOTFOUND;
}

void pubsub_arm(struct req *r, int type, const char *event)
{
    struct pubsub *ps = r->c->srv->ps;
    if (!(r->c->srv->cfg.notify_flags & type))
        return;
    if (ps->armed.r != r) {
        ps->armed.r = r;
        ps->armed.n = 0;
    }
    if (ps->armed.n < PUBSUB_ARMED) {
        ps->armed.type[ps->armed.n] = type;
        ps->armed.event[ps->armed.n++] = event;
    }
}

void pubsub_arm_new(struct req *r, const struct resp_arg *key)
{
    if (pubsub_key_absent(r, key))
        pubsub_arm(r, NOTIFY_NEW, "new");
}

void pubsub_put_submitted(struct req *r, const struct resp_arg *key, int ok)
{
    struct pubsub *ps = r->c->srv->ps;
    if (ps->armed.r != r)
        return;
    ps->armed.r = NULL;
    for (uint32_t i = 0; ok && i < ps->armed.n; i++)
        pubsub_notify(r, ps->armed.type[i], ps->armed.event[i], key);
}

void pubsub_notify_db(struct server *s, int type, const char *event, uint32_t db, const void *key,
                      size_t key_len)
{
    ps_notify(s, NULL, type, event, db, key, key_len);
}

void pubsub_engine_expired(void *arg, uint32_t table, const void *key, size_t key_len)
{
    pubsub_notify_db(arg, NOTIFY_EXPIRED, "expired", table, key, key_len);
    block_signal(arg, table, key, key_len); /* a blocked XREADGROUP: its stream expired */
}

int pubsub_wants_expired(const struct server *s)
{
    int f = s->cfg.notify_flags;
    return (f & NOTIFY_EXPIRED) && (f & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT));
}
