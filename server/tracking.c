/*
 * tracking.c - CLIENT TRACKING (client-side caching), after Redis 7.0's tracking.c.
 *
 * State. A tracking client has c->trk (struct tk_client: its mode flags, its redirection,
 * its BCAST prefixes) and is in the server's table of tracking clients by id
 * (s->trk->clients), through which the key table's ids are resolved: the key table keeps
 * client ids, not pointers, so a client that stops tracking or goes away leaves ids that
 * are skipped when found (as Redis does), and nothing has to be scanned when it leaves.
 *
 * Keys. The key table (htab.c) maps a key name (any database: tracking is global in Redis) to the
 * ids of the clients that read it, and keeps the keys in insertion order: past
 * tracking_table_max_keys the oldest is dropped and its clients are sent its
 * invalidation. A write of a key (tracking_invalidate) sends the invalidation to each of
 * its clients and drops the key: a client is told once, until it reads the key again.
 *
 * BCAST. Each prefix some client registered has a state (struct tk_prefix: its clients
 * and the keys under it written since the last pass, with who wrote each, for NOLOOP).
 * An event made active by the first such key sends, after the events active now have run
 * (Redis: before it sleeps), each client the sorted, de-duplicated array of its prefix's
 * keys.
 *
 * Delivery goes through pubsub_push: between replies (after the reply of the command that
 * caused it, for the client's own writes), charged to the receiver's output limit.
 *
 * Invariants: a client in the id table has c->trk; a prefix state has at least one
 * client, and a client is in a prefix's list exactly when the prefix is in its own list;
 * c->trk_refs counts the tracking clients whose redir_conn is c.
 */
#include "tracking.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "conn.h"
#include "htab.h"
#include "log.h"
#include "pubsub.h"
#include "reply.h"
#include "resp.h"
#include "server.h"
#include "txn.h"

#define TK_ON     0x01u
#define TK_BCAST  0x02u
#define TK_OPTIN  0x04u
#define TK_OPTOUT 0x08u
#define TK_NOLOOP 0x10u
#define TK_BROKEN 0x20u

struct tk_prefix;

struct tk_client {
    struct conn *c;
    struct tk_client *hnext; /* the id table's chain */
    uint32_t flags;
    uint8_t caching;         /* CLIENT CACHING given: applies to the next command */
    uint64_t redir;          /* REDIRECT id, 0: none */
    struct conn *redir_conn; /* NULL once that client went away */
    struct tk_prefix **prefixes;
    uint32_t nprefixes, cap;
};

struct tk_key {
    struct htab_node hn;          /* first: the table's node is the key (keyed by name) */
    struct tk_key *older, *newer; /* insertion order */
    uint64_t *ids;
    uint32_t nids, cap;
    char name[];
};

struct tk_pend {
    char *key;
    size_t len;
    uint64_t by;  /* id of the client that wrote it */
    uint64_t seq; /* order of the writes: the last writer of a key counts */
};

struct tk_prefix {
    struct tk_prefix *next;
    struct tk_client **clients;
    uint32_t nclients, cap;
    struct tk_pend *pend;
    size_t npend, pcap;
    size_t len;
    char name[];
};

struct tracking {
    struct htab keys;
    struct tk_key *oldest, *newest;
    struct tk_client **cb; /* id table, TK_ID_BUCKETS chains */
    size_t nclients;
    struct tk_prefix *prefixes;
    struct event *bcast_ev;
    int bcast_armed;
    uint64_t seq;
};

#define TK_ID_BUCKETS 1024

static const char tk_head3[] = ">2\r\n$10\r\ninvalidate\r\n";
static const char tk_head2[] = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";

static void tk_bcast_cb(evutil_socket_t fd, short what, void *arg);

static struct tracking *tk_state(struct server *s)
{
    if (s->trk == NULL) {
        struct tracking *tk = calloc(1, sizeof(*tk));
        if (tk == NULL || (tk->cb = calloc(TK_ID_BUCKETS, sizeof(*tk->cb))) == NULL ||
            (tk->bcast_ev = event_new(s->base, -1, 0, tk_bcast_cb, s)) == NULL) {
            if (tk)
                free(tk->cb);
            free(tk);
            return NULL;
        }
        s->trk = tk;
    }
    return s->trk;
}

/* ---- the id table ---- */

static struct conn *tk_conn_of(const struct tracking *tk, uint64_t id)
{
    for (struct tk_client *t = tk->cb[id % TK_ID_BUCKETS]; t; t = t->hnext)
        if (t->c->id == id)
            return t->c;
    return NULL;
}

static void tk_id_add(struct tracking *tk, struct tk_client *t)
{
    struct tk_client **head = &tk->cb[t->c->id % TK_ID_BUCKETS];
    t->hnext = *head;
    *head = t;
    tk->nclients++;
}

static void tk_id_remove(struct tracking *tk, struct tk_client *t)
{
    struct tk_client **pp = &tk->cb[t->c->id % TK_ID_BUCKETS];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = t->hnext;
        tk->nclients--;
    }
}

/* ---- messages ---- */

/* Sends t's client the invalidation whose value is arr (an encoded array of keys, or a
 * null), to its redirection if it has one, as Redis's sendTrackingMessage. */
static void tk_send(struct server *s, struct tk_client *t, const char *arr, size_t n)
{
    struct conn *to = t->c;
    if (t->redir) {
        if (t->redir_conn == NULL) {
            char msg[80];
            int m = snprintf(msg, sizeof(msg), ">2\r\n$21\r\ntracking-redir-broken\r\n:%llu\r\n",
                             (unsigned long long)t->redir);
            t->flags |= TK_BROKEN;
            if (t->c->proto == 3)
                pubsub_push(t->c, msg, (size_t)m);
            return;
        }
        to = t->redir_conn;
    }
    const char *head = to->proto == 3 ? tk_head3 : tk_head2;
    if (to->proto != 3 && !(t->redir && pubsub_subscribed(to)))
        return; /* RESP2 has no pushes on the connection itself */
    struct pbuf b;
    pbuf_init(&b, s->cfg.client_output_buffer_limit);
    if (pbuf_append(&b, head, strlen(head)) == 0 && pbuf_append(&b, arr, n) == 0)
        pubsub_push(to, b.data, b.len);
    else
        pubsub_push(to, NULL, 0); /* past the output limit: closed as a slow reader */
    pbuf_free(&b);
}

/* Sends key's invalidation to its clients (but writer's own with NOLOOP) and drops it. */
static void tk_key_fire(struct server *s, struct tk_key *k, const struct conn *writer)
{
    struct tracking *tk = s->trk;
    struct pbuf arr;
    pbuf_init(&arr, 0);
    int rc = resp_w_array(&arr, 1);
    rc = rc < 0 ? rc : resp_w_bulk(&arr, k->name, k->hn.len);
    for (uint32_t i = 0; i < k->nids && rc == 0; i++) {
        struct conn *c = tk_conn_of(tk, k->ids[i]);
        if (c == NULL || !(c->trk->flags & TK_ON) || (c->trk->flags & TK_BCAST))
            continue;
        if ((c->trk->flags & TK_NOLOOP) && c == writer)
            continue;
        tk_send(s, c->trk, arr.data, arr.len);
    }
    pbuf_free(&arr);
    htab_remove(&tk->keys, &k->hn);
    if (k->older)
        k->older->newer = k->newer;
    else
        tk->oldest = k->newer;
    if (k->newer)
        k->newer->older = k->older;
    else
        tk->newest = k->older;
    free(k->ids);
    free(k);
}

static struct tk_key *tk_key_find(const struct tracking *tk, const char *p, size_t n)
{
    return tk ? (struct tk_key *)htab_find(&tk->keys, p, n) : NULL;
}

/* A new key (the oldest dropped, invalidated, when the table is full). */
static struct tk_key *tk_key_new(struct server *s, const char *p, size_t n)
{
    struct tracking *tk = s->trk;
    while (tk->keys.n >= s->cfg.tracking_table_max_keys && tk->oldest)
        tk_key_fire(s, tk->oldest, NULL);
    struct tk_key *k = calloc(1, sizeof(*k) + n + 1);
    if (k == NULL)
        return NULL;
    memcpy(k->name, p, n);
    if (htab_add(&tk->keys, &k->hn, k->name, n) < 0) {
        free(k);
        return NULL;
    }
    k->older = tk->newest;
    if (tk->newest)
        tk->newest->newer = k;
    else
        tk->oldest = k;
    tk->newest = k;
    return k;
}

/* Remembers that client id read key p. */
static void tk_key_add(struct server *s, const char *p, size_t n, uint64_t id)
{
    if (s->cfg.tracking_table_max_keys == 0)
        return;
    struct tk_key *k = tk_key_find(s->trk, p, n);
    if (k == NULL && (k = tk_key_new(s, p, n)) == NULL)
        return; /* out of memory: this read is not tracked */
    for (uint32_t i = 0; i < k->nids; i++)
        if (k->ids[i] == id)
            return;
    if (k->nids == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 2;
        uint64_t *v = realloc(k->ids, cap * sizeof(*v));
        if (v == NULL)
            return;
        k->ids = v;
        k->cap = cap;
    }
    k->ids[k->nids++] = id;
}

/* ---- hooks ---- */

static int tk_caching(const struct req *r)
{
    while (r->parent)
        r = r->parent;
    return r->trk_caching;
}

void tracking_remember(struct req *r)
{
    struct tk_client *t = r->c->trk;
    if (t == NULL || (t->flags & (TK_ON | TK_BCAST)) != TK_ON || r->nkeys == 0 ||
        !(r->cmd->flags & CMD_READONLY) || (r->cmd->flags & CMD_EVAL))
        return;
    int caching = tk_caching(r);
    if (((t->flags & TK_OPTIN) && !caching) || ((t->flags & TK_OPTOUT) && caching))
        return;
    for (uint32_t i = 0; i < r->nkeys; i++)
        tk_key_add(r->c->srv, r->keys[i].ptr, r->keys[i].len, r->c->id);
}

void tracking_command_read(struct req *r)
{
    struct tk_client *t = r->c->trk;
    if (t == NULL)
        return;
    r->trk_caching = t->caching;
    req_exec_fn p = r->cmd->proc;
    if (p == cmd_server_client || p == cmd_txn_multi)
        return;
    if (!txn_in_multi(r->c) || p == cmd_txn_exec || p == cmd_txn_discard)
        t->caching = 0; /* Redis: cleared after the next command outside MULTI */
}

/* Queues key for the BCAST clients of the prefixes it falls under. */
static void tk_bcast_note(struct server *s, const char *key, size_t len, uint64_t by)
{
    struct tracking *tk = s->trk;
    for (struct tk_prefix *p = tk->prefixes; p; p = p->next) {
        if (p->len > len || memcmp(p->name, key, p->len) != 0)
            continue;
        if (p->npend == p->pcap) {
            size_t cap = p->pcap ? p->pcap * 2 : 8;
            struct tk_pend *v = realloc(p->pend, cap * sizeof(*v));
            if (v == NULL)
                continue;
            p->pend = v;
            p->pcap = cap;
        }
        char *copy = malloc(len ? len : 1);
        if (copy == NULL)
            continue;
        memcpy(copy, key, len);
        p->pend[p->npend++] = (struct tk_pend){copy, len, by, tk->seq++};
        if (!tk->bcast_armed) {
            tk->bcast_armed = 1;
            event_active(tk->bcast_ev, 0, 1);
        }
    }
}

uint32_t tracking_clients(const struct server *s)
{
    return s->trk ? (uint32_t)s->trk->nclients : 0;
}

int tracking_on(const struct server *s)
{
    return s->trk && (s->trk->keys.n || s->trk->prefixes);
}

void tracking_invalidate(struct req *r, const void *key, size_t len)
{
    struct server *s = r->c->srv;
    struct tracking *tk = s->trk;
    if (tk == NULL)
        return;
    if (tk->prefixes)
        tk_bcast_note(s, key, len, r->c->id);
    struct tk_key *k = tk_key_find(tk, key, len);
    if (k)
        tk_key_fire(s, k, r->c);
}

static void tk_keys_free(struct tracking *tk)
{
    while (tk->oldest) {
        struct tk_key *k = tk->oldest;
        tk->oldest = k->newer;
        free(k->ids);
        free(k);
    }
    tk->newest = NULL;
    htab_free(&tk->keys);
}

void tracking_flush(struct server *s)
{
    struct tracking *tk = s->trk;
    if (tk == NULL)
        return;
    for (size_t i = 0; i < TK_ID_BUCKETS; i++)
        for (struct tk_client *t = tk->cb[i]; t; t = t->hnext)
            if (t->flags & TK_ON)
                tk_send(s, t, t->c->proto == 3 ? "_\r\n" : "$-1\r\n", t->c->proto == 3 ? 3 : 5);
    tk_keys_free(tk);
}

/* ---- BCAST ---- */

static int tk_pend_cmp(const void *a, const void *b)
{
    const struct tk_pend *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->seq < y->seq ? -1 : 1;
}

/* Sorts p's keys and keeps each key's last write (Redis's radix tree of keys). */
static void tk_pend_dedup(struct tk_prefix *p)
{
    qsort(p->pend, p->npend, sizeof(p->pend[0]), tk_pend_cmp);
    size_t out = 0;
    for (size_t i = 0; i < p->npend; i++) {
        if (i + 1 < p->npend && p->pend[i].len == p->pend[i + 1].len &&
            memcmp(p->pend[i].key, p->pend[i + 1].key, p->pend[i].len) == 0) {
            free(p->pend[i].key);
            continue;
        }
        p->pend[out++] = p->pend[i];
    }
    p->npend = out;
}

/* The array of p's keys, without those last written by client skip (0: none). 0, or -1
 * when no key is left. */
static int tk_pend_array(const struct tk_prefix *p, uint64_t skip, struct pbuf *o)
{
    size_t n = 0;
    for (size_t i = 0; i < p->npend; i++)
        n += !skip || p->pend[i].by != skip;
    if (n == 0)
        return -1;
    int rc = resp_w_array(o, n);
    for (size_t i = 0; i < p->npend && rc == 0; i++)
        if (!skip || p->pend[i].by != skip)
            rc = resp_w_bulk(o, p->pend[i].key, p->pend[i].len);
    return rc;
}

static void tk_bcast_prefix(struct server *s, struct tk_prefix *p)
{
    struct pbuf all, own;
    pbuf_init(&all, s->cfg.client_output_buffer_limit);
    tk_pend_dedup(p);
    int rc = tk_pend_array(p, 0, &all);
    for (uint32_t i = 0; i < p->nclients && rc == 0; i++) {
        struct tk_client *t = p->clients[i];
        if (!(t->flags & TK_NOLOOP)) {
            tk_send(s, t, all.data, all.len);
            continue;
        }
        pbuf_init(&own, s->cfg.client_output_buffer_limit);
        if (tk_pend_array(p, t->c->id, &own) == 0)
            tk_send(s, t, own.data, own.len);
        pbuf_free(&own);
    }
    pbuf_free(&all);
    for (size_t i = 0; i < p->npend; i++)
        free(p->pend[i].key);
    p->npend = 0;
}

static void tk_bcast_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    s->trk->bcast_armed = 0;
    for (struct tk_prefix *p = s->trk->prefixes; p; p = p->next)
        if (p->npend)
            tk_bcast_prefix(s, p);
    server_after_events(s);
}

/* ---- enabling and disabling ---- */

static void tk_prefix_drop_client(struct tracking *tk, struct tk_prefix *p, struct tk_client *t)
{
    for (uint32_t i = 0; i < p->nclients; i++) {
        if (p->clients[i] == t) {
            p->clients[i] = p->clients[--p->nclients];
            break;
        }
    }
    if (p->nclients)
        return;
    struct tk_prefix **pp = &tk->prefixes;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    for (size_t i = 0; i < p->npend; i++)
        free(p->pend[i].key);
    free(p->pend);
    free(p->clients);
    free(p);
}

void tracking_conn_reset(struct conn *c)
{
    struct tk_client *t = c->trk;
    if (t == NULL)
        return;
    struct tracking *tk = c->srv->trk;
    for (uint32_t i = 0; i < t->nprefixes; i++)
        tk_prefix_drop_client(tk, t->prefixes[i], t);
    free(t->prefixes);
    if (t->redir_conn)
        t->redir_conn->trk_refs--;
    tk_id_remove(tk, t);
    free(t);
    c->trk = NULL;
}

void tracking_conn_close(struct conn *c)
{
    struct tracking *tk = c->srv->trk;
    if (tk && c->trk_refs) { /* the clients redirecting to c: broken from now on */
        for (size_t i = 0; i < TK_ID_BUCKETS; i++)
            for (struct tk_client *t = tk->cb[i]; t; t = t->hnext)
                if (t->redir_conn == c)
                    t->redir_conn = NULL;
        c->trk_refs = 0;
    }
    tracking_conn_reset(c);
}

void tracking_free(struct server *s)
{
    struct tracking *tk = s->trk;
    if (tk == NULL)
        return;
    tk_keys_free(tk);
    while (tk->prefixes) { /* only if a connection outlived the loop: not expected */
        struct tk_prefix *p = tk->prefixes;
        tk->prefixes = p->next;
        for (size_t i = 0; i < p->npend; i++)
            free(p->pend[i].key);
        free(p->pend);
        free(p->clients);
        free(p);
    }
    event_free(tk->bcast_ev);
    free(tk->cb);
    free(tk);
    s->trk = NULL;
}

char *tracking_flags(const struct conn *c, char *p)
{
    const struct tk_client *t = c->trk;
    if (t == NULL || !(t->flags & TK_ON))
        return p;
    *p++ = 't';
    if (t->flags & TK_BROKEN)
        *p++ = 'R';
    if (t->flags & TK_BCAST)
        *p++ = 'B';
    return p;
}

long long tracking_redir(const struct conn *c)
{
    const struct tk_client *t = c->trk;
    return t && (t->flags & TK_ON) ? (long long)t->redir : -1;
}

/* ---- CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO ---- */

struct tk_opts {
    uint64_t redir;
    struct conn *redir_conn;
    uint32_t flags;
    const struct resp_arg **prefix;
    uint32_t nprefix;
};

static struct conn *tk_find_conn(struct server *s, long long id)
{
    for (struct conn *c = s->conns; c; c = c->next)
        if (id > 0 && c->id == (uint64_t)id)
            return c;
    return NULL;
}

/* Parses CLIENT TRACKING's options. Returns 0, or -1 after replying. */
static int tk_parse(struct req *r, struct tk_opts *o)
{
    for (uint32_t j = 3; j < r->argc; j++) {
        uint32_t more = r->argc - 1 - j;
        const struct resp_arg *a = &r->argv[j];
        long long id;
        if (cmd_arg_is(a, "redirect") && more) {
            j++;
            if (o->redir) {
                reply_error(r, "ERR A client can only redirect to a single other client");
                return -1;
            }
            if (cmd_arg_ll(&r->argv[j], &id) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            if ((o->redir_conn = tk_find_conn(r->c->srv, id)) == NULL) {
                reply_error(r, "ERR The client ID you want redirect to does not exist");
                return -1;
            }
            o->redir = (uint64_t)id;
        } else if (cmd_arg_is(a, "bcast")) {
            o->flags |= TK_BCAST;
        } else if (cmd_arg_is(a, "optin")) {
            o->flags |= TK_OPTIN;
        } else if (cmd_arg_is(a, "optout")) {
            o->flags |= TK_OPTOUT;
        } else if (cmd_arg_is(a, "noloop")) {
            o->flags |= TK_NOLOOP;
        } else if (cmd_arg_is(a, "prefix") && more) {
            o->prefix[o->nprefix++] = &r->argv[++j];
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

static int tk_overlap(const char *a, size_t an, const char *b, size_t bn)
{
    return memcmp(a, b, an < bn ? an : bn) == 0;
}

/* Redis's checkPrefixCollisionsOrReply. Returns 0, or -1 after replying. */
static int tk_check_prefixes(struct req *r, const struct tk_opts *o)
{
    const struct tk_client *t = r->c->trk;
    for (uint32_t i = 0; i < o->nprefix; i++) {
        const struct resp_arg *p = o->prefix[i];
        for (uint32_t k = 0; t && k < t->nprefixes; k++) {
            const struct tk_prefix *e = t->prefixes[k];
            if (tk_overlap(e->name, e->len, p->ptr, p->len)) {
                reply_errorf(r,
                             "ERR Prefix '%s' overlaps with an existing prefix '%.*s'. "
                             "Prefixes for a single client must not overlap.",
                             p->ptr, (int)e->len, e->name);
                return -1;
            }
        }
        for (uint32_t j = i + 1; j < o->nprefix; j++) {
            if (tk_overlap(p->ptr, p->len, o->prefix[j]->ptr, o->prefix[j]->len)) {
                reply_errorf(r,
                             "ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                             "Prefixes for a single client must not overlap.",
                             p->ptr, o->prefix[j]->ptr);
                return -1;
            }
        }
    }
    return 0;
}

/* The checks of CLIENT TRACKING ON, in Redis's order. Returns 0, or -1 after replying. */
static int tk_check_on(struct req *r, const struct tk_opts *o)
{
    const struct tk_client *t = r->c->trk;
    uint32_t cur = t && (t->flags & TK_ON) ? t->flags : 0;
    const char *err = NULL;
    if (!(o->flags & TK_BCAST) && o->nprefix)
        err = "ERR PREFIX option requires BCAST mode to be enabled";
    else if (cur && (cur & TK_BCAST) != (o->flags & TK_BCAST))
        err = "ERR You can't switch BCAST mode on/off before disabling tracking for this "
              "client, and then re-enabling it with a different mode.";
    else if ((o->flags & TK_BCAST) && (o->flags & (TK_OPTIN | TK_OPTOUT)))
        err = "ERR OPTIN and OPTOUT are not compatible with BCAST";
    else if ((o->flags & TK_OPTIN) && (o->flags & TK_OPTOUT))
        err = "ERR You can't specify both OPTIN mode and OPTOUT mode";
    else if (((o->flags & TK_OPTIN) && (cur & TK_OPTOUT)) ||
             ((o->flags & TK_OPTOUT) && (cur & TK_OPTIN)))
        err = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this "
              "client, and then re-enabling it with a different mode.";
    if (err) {
        reply_error(r, err);
        return -1;
    }
    return (o->flags & TK_BCAST) ? tk_check_prefixes(r, o) : 0;
}

/* Registers t for prefix p[0..n) (once). Returns 0 or -ENOMEM. */
static int tk_prefix_add(struct tracking *tk, struct tk_client *t, const char *p, size_t n)
{
    struct tk_prefix *e = tk->prefixes;
    while (e && !(e->len == n && memcmp(e->name, p, n) == 0))
        e = e->next;
    for (uint32_t i = 0; e && i < t->nprefixes; i++)
        if (t->prefixes[i] == e)
            return 0;
    if (t->nprefixes == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 4;
        struct tk_prefix **v = realloc(t->prefixes, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        t->prefixes = v;
        t->cap = cap;
    }
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e) + n + 1)) == NULL)
            return -ENOMEM;
        memcpy(e->name, p, n);
        e->len = n;
        e->next = tk->prefixes;
        tk->prefixes = e;
    }
    if (e->nclients == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 4;
        struct tk_client **v = realloc(e->clients, cap * sizeof(*v));
        if (v == NULL) {
            if (e->nclients == 0)
                tk_prefix_drop_client(tk, e, t);
            return -ENOMEM;
        }
        e->clients = v;
        e->cap = cap;
    }
    e->clients[e->nclients++] = t;
    t->prefixes[t->nprefixes++] = e;
    return 0;
}

/* Redis's enableTracking. Returns 0 or -ENOMEM. */
static int tk_enable(struct req *r, const struct tk_opts *o)
{
    struct conn *c = r->c;
    struct tracking *tk = tk_state(c->srv);
    if (tk == NULL)
        return -ENOMEM;
    struct tk_client *t = c->trk;
    if (t == NULL) {
        if ((t = calloc(1, sizeof(*t))) == NULL)
            return -ENOMEM;
        t->c = c;
        c->trk = t;
        tk_id_add(tk, t);
    }
    t->flags = TK_ON;
    if (t->redir_conn)
        t->redir_conn->trk_refs--;
    t->redir = o->redir;
    t->redir_conn = o->redir_conn;
    if (t->redir_conn)
        t->redir_conn->trk_refs++;
    if (o->flags & TK_BCAST) {
        t->flags |= TK_BCAST;
        if (o->nprefix == 0 && tk_prefix_add(tk, t, "", 0) < 0)
            return -ENOMEM;
        for (uint32_t i = 0; i < o->nprefix; i++)
            if (tk_prefix_add(tk, t, o->prefix[i]->ptr, o->prefix[i]->len) < 0)
                return -ENOMEM;
    }
    t->flags |= o->flags & (TK_OPTIN | TK_OPTOUT | TK_NOLOOP);
    return 0;
}

void tracking_client_tracking(struct req *r)
{
    struct tk_opts o = {0};
    o.prefix = calloc(r->argc, sizeof(*o.prefix));
    if (o.prefix == NULL) {
        reply_error(r, "ERR out of memory");
        return;
    }
    if (tk_parse(r, &o) == 0) {
        if (cmd_arg_is(&r->argv[2], "on")) {
            if (tk_check_on(r, &o) == 0) {
                if (tk_enable(r, &o) < 0)
                    reply_error(r, "ERR out of memory");
                else
                    reply_ok(r);
            }
        } else if (cmd_arg_is(&r->argv[2], "off")) {
            tracking_conn_reset(r->c);
            reply_ok(r);
        } else {
            reply_error(r, ERR_SYNTAX);
        }
    }
    free(o.prefix);
}

void tracking_client_caching(struct req *r)
{
    struct tk_client *t = r->c->trk;
    const struct resp_arg *a = &r->argv[2];
    if (t == NULL || !(t->flags & TK_ON)) {
        reply_error(r, "ERR CLIENT CACHING can be called only when the client is in tracking "
                       "mode with OPTIN or OPTOUT mode enabled");
    } else if (!cmd_arg_is(a, "yes") && !cmd_arg_is(a, "no")) {
        reply_error(r, ERR_SYNTAX);
    } else if (!(t->flags & (cmd_arg_is(a, "yes") ? TK_OPTIN : TK_OPTOUT))) {
        int yes = cmd_arg_is(a, "yes");
        reply_errorf(r, "ERR CLIENT CACHING %s is only valid when tracking is enabled in %s mode.",
                     yes ? "YES" : "NO", yes ? "OPTIN" : "OPTOUT");
    } else {
        t->caching = 1; /* YES in OPTIN mode, NO in OPTOUT mode */
        reply_ok(r);
    }
}

void tracking_client_getredir(struct req *r)
{
    reply_int(r, tracking_redir(r->c));
}

static int tk_prefix_cmp(const void *a, const void *b)
{
    const struct tk_prefix *x = *(struct tk_prefix *const *)a, *y = *(struct tk_prefix *const *)b;
    int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* t's prefixes, sorted as Redis's radix tree lists them. */
static void tk_reply_prefixes(struct req *r, const struct tk_client *t)
{
    uint32_t n = t ? t->nprefixes : 0;
    struct tk_prefix **v = n ? malloc(n * sizeof(*v)) : NULL;
    if (n && v == NULL) {
        reply_array(r, 0); /* out of memory: a valid reply all the same */
        return;
    }
    if (n) {
        memcpy(v, t->prefixes, n * sizeof(*v));
        qsort(v, n, sizeof(*v), tk_prefix_cmp);
    }
    reply_array(r, n);
    for (uint32_t i = 0; i < n; i++)
        reply_bulk(r, v[i]->name, v[i]->len);
    free(v);
}

void tracking_client_trackinginfo(struct req *r)
{
    const struct tk_client *t = r->c->trk;
    uint32_t f = t ? t->flags : 0;
    const char *words[8];
    size_t n = 0;
    words[n++] = (f & TK_ON) ? "on" : "off";
    if (f & TK_BCAST)
        words[n++] = "bcast";
    if (f & TK_OPTIN)
        words[n++] = "optin";
    if ((f & TK_OPTIN) && t->caching)
        words[n++] = "caching-yes";
    if (f & TK_OPTOUT)
        words[n++] = "optout";
    if ((f & TK_OPTOUT) && t->caching)
        words[n++] = "caching-no";
    if (f & TK_NOLOOP)
        words[n++] = "noloop";
    if (f & TK_BROKEN)
        words[n++] = "broken_redirect";
    reply_map(r, 3);
    reply_cstr(r, "flags");
    reply_set(r, n);
    for (size_t i = 0; i < n; i++)
        reply_cstr(r, words[i]);
    reply_cstr(r, "redirect");
    reply_int(r, tracking_redir(r->c));
    reply_cstr(r, "prefixes");
    tk_reply_prefixes(r, t);
}
