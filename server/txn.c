/*
 * txn.c - Redis transactions (MULTI/EXEC/DISCARD/WATCH/UNWATCH) under the concurrency
 * rule.
 *
 * Queuing. MULTI gives the connection a queue (struct txn_multi). Every later command
 * passes the dispatcher's checks (cmd_redis.c) and is copied here instead of being run,
 * with the database it will run in (a queued SELECT is followed, so the keys of the
 * commands after it are claimed in the right database). A failed check flags the queue:
 * EXEC then answers -EXECABORT, as Redis does. MULTI, EXEC, DISCARD, WATCH, QUIT and
 * RESET are never queued (CMD_TXN rows); they claim no lock and run when parsed.
 *
 * WATCH. A watched key is an entry in the server's table (struct txn_watches, chained by
 * the key's hash) owned by the connection's watch set. Every write of a key, from either
 * protocol, passes park.c, which calls txn_touch: the sets watching it become dirty;
 * FLUSHDB/FLUSHALL touch the watched keys that exist. A key that was live with an expiry
 * when watched makes EXEC fail once that expiry has passed (Redis 7: a watched key that
 * expires counts as changed). WATCH runs when parsed, before the connection's earlier
 * commands and other clients' writes in flight have been submitted: those writes touch
 * the key afterwards, so EXEC can fail where Redis would not, never the reverse.
 *
 * EXEC. When EXEC is parsed the queue and the watch set move from the connection to the
 * EXEC request (the commands parsed after it, a new MULTI or WATCH included, belong to
 * the next transaction) and EXEC declares, as one claim, every key of its commands
 * (exclusive for a writing command, shared otherwise), the databases they use as a whole
 * (exclusive, so they also wait for this connection's earlier writes), and its watched
 * keys (shared). Once granted, the watch set is checked, with every earlier write of
 * those keys already submitted (they held the locks before), and the commands run in
 * order as children of the EXEC request (r->parent): each starts once the one before has
 * submitted its writes (req_unlock) or, reading only, its reads, so a command sees the
 * effects of those before it, and writes share device writes. The claim is released once
 * the last command has submitted its writes: no other client sees some of the
 * transaction's writes without the others. EXEC answers when every command has completed
 * (in sync durability: when all its writes are on stable storage), its array holding their
 * replies in order, errors included (a command's error does not stop the others).
 *
 * Durable as a unit. The writes of EXEC's commands are not sent to the engine one by
 * one: they are kept in an overlay (struct ovl: the transaction's writes in order, and the
 * newest state of each key it wrote), which the commands' reads consult first (cmd_get,
 * cmd_lookup, MGET's reads, park_del's existence test: txn_read, txn_lookup), so each
 * command sees the ones before it. Once the last command has run, the writes go to the
 * engine as one ls_write_batch, which recovery applies all or none (FORMAT.md), and each
 * command's write callback runs when the batch is acknowledged. A transaction whose
 * writes do not fit one batch (ls_batch_max_bytes: a write buffer, 128 KiB by default)
 * is written record by record, in order, without the unit; so is one with a command that
 * reads or writes a database as a whole (KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHDB,
 * FLUSHALL): those go to the engine directly, which would not see the overlay.
 */
#include "txn.h"
#include "large.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmdlock.h"
#include "conn.h"
#include "lockset.h"
#include "log.h"
#include "tracking.h"
#include "park.h"
#include "reply.h"
#include "script.h"
#include "server.h"

/* One queued command: its arguments and keys point into the same allocation. */
struct txn_cmd {
    const struct cmd_def *cmd;
    uint32_t db;
    uint32_t argc, nkeys;
    struct resp_arg *argv, *keys;
    size_t bytes;
};

struct txn_multi {
    struct txn_cmd *cmds;
    uint32_t n, cap;
    uint32_t db; /* the database the next queued command runs in */
    int error;   /* a command failed its checks: EXEC answers -EXECABORT */
    int denyoom; /* a queued command may add data: EXEC is refused while over maxmemory */
};

struct txn_wset;

struct txn_wkey {
    struct txn_wkey *hnext; /* the table's bucket */
    struct txn_wkey *onext; /* its set's list */
    struct txn_wset *owner;
    uint64_t hash;
    uint64_t expire_ms; /* live with this expiry when watched; 0: none or absent */
    uint32_t db;
    uint32_t len;
    char key[];
};

struct txn_wset {
    struct txn_wkey *head;
    struct conn *c; /* charged with the entries */
    int dirty;
};

struct txn_watches {
    struct txn_wkey **b;
    size_t nb, n;
};

/* One write of a transaction in the overlay; key and value in one allocation. */
struct ovl_ent {
    uint32_t next; /* its bucket's chain, newest first: index + 1, 0 ends */
    uint32_t db, klen, vlen, flags;
    uint8_t del, vtype;
    uint8_t ordered; /* ls_write_opts.ordered: a large collection's write */
    uint32_t grp;    /* nonzero: one of a group that reaches the engine as one batch */
    uint64_t hash, expire_ms;
    char *key, *val;
    struct req *k; /* the command that wrote it, and its write callback */
    ls_write_cb cb;
};

struct ovl {
    struct ovl_ent *e;
    uint32_t n, cap;
    uint32_t *b; /* buckets: index + 1 of the newest entry, 0 none */
    uint32_t nb;
    uint64_t bytes;     /* the records' bytes in the log */
    size_t mem;         /* charged to the connection */
    uint32_t grp, ngrp; /* the group being written (txn_group_begin), groups so far */
};

/* EXEC's state (the request's aux). */
struct txn_exec {
    struct txn_multi *m;
    struct txn_wset *w;
    struct ovl ovl;
    int batching;              /* writes go to the overlay, then to the engine as one batch */
    struct script_run *script; /* a script's unit (script.c), else EXEC's */
    uint32_t each_pending;     /* the unit's writes sent one by one, not yet completed */
    ls_write_cb each_cb;       /* and the callback that counts them (the parent's) */
    struct req **kids;
    uint32_t started, ndone;
    int advance;       /* the last started command let the next one start */
    int running;       /* txn_run is on the stack */
    int unlocked;      /* every command submitted: the claim was released */
    int batch_pending; /* its batch is with the engine: EXEC ends after its callback, also
                          when no command waits for it (their writes failed part way) */
};

/* ---- queue ---- */

static void multi_free(struct conn *c, struct txn_multi *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->n; i++) {
        pbuf_acct_sub(&c->mem, m->cmds[i].bytes);
        free(m->cmds[i].argv);
    }
    pbuf_acct_sub(&c->mem, (size_t)m->cap * sizeof(*m->cmds) + sizeof(*m));
    free(m->cmds);
    free(m);
}

int txn_in_multi(const struct conn *c)
{
    return c->multi != NULL;
}

int txn_queued_any(const struct conn *c, txn_cmd_pred fn)
{
    for (uint32_t i = 0; c->multi && i < c->multi->n; i++) {
        const struct txn_cmd *q = &c->multi->cmds[i];
        if (fn(q->cmd, q->argv, q->argc))
            return 1;
    }
    return 0;
}

void txn_flag_error(struct conn *c)
{
    if (c->multi)
        c->multi->error = 1;
}

/* Copies r's arguments and keys into a new queue slot. Returns 0 or -1 (no memory). */
static int multi_push(struct txn_multi *m, struct conn *c, const struct req *r)
{
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 4;
        struct txn_cmd *a = realloc(m->cmds, (size_t)cap * sizeof(*a));
        if (a == NULL)
            return -1;
        pbuf_acct_add(&c->mem, (size_t)(cap - m->cap) * sizeof(*a));
        m->cmds = a;
        m->cap = cap;
    }
    size_t bytes = (size_t)(r->argc + r->nkeys) * sizeof(struct resp_arg);
    for (uint32_t i = 0; i < r->argc; i++)
        bytes += r->argv[i].len + 1;
    struct resp_arg *argv = malloc(bytes);
    if (argv == NULL)
        return -1;
    struct resp_arg *keys = argv + r->argc;
    char *p = (char *)(keys + r->nkeys);
    for (uint32_t i = 0; i < r->argc; i++) {
        memcpy(p, r->argv[i].ptr, r->argv[i].len + 1);
        argv[i].ptr = p;
        argv[i].len = r->argv[i].len;
        p += r->argv[i].len + 1;
    }
    const struct cmd_def *d = r->cmd;
    uint32_t kfirst, kstep;
    cmd_keys_find(d, argv, r->argc, &kfirst, &kstep);
    for (uint32_t k = 0; k < r->nkeys; k++)
        keys[k] = argv[kfirst + k * kstep];
    m->cmds[m->n++] = (struct txn_cmd){d, m->db, r->argc, r->nkeys, argv, keys, bytes};
    pbuf_acct_add(&c->mem, bytes);
    return 0;
}

/* The database a queued SELECT will switch to, as cmd_server_select decides it. */
static void multi_follow_select(struct txn_multi *m, const struct req *r)
{
    long long db;
    if (r->cmd->proc == cmd_server_select && cmd_arg_ll(&r->argv[1], &db) == 0 && db >= 0 &&
        (uint64_t)db < (uint64_t)r->c->srv->cfg.databases)
        m->db = (uint32_t)db;
}

void txn_queue(struct req *r)
{
    struct conn *c = r->c;
    struct txn_multi *m = c->multi;
    if (r->cmd->flags & CMD_NO_MULTI) {
        m->error = 1;
        reply_error(r, "ERR Command not allowed inside a transaction");
        req_done(r);
        return;
    }
    /* As Redis: once EXEC is bound to abort, the queue is not grown for nothing. */
    m->denyoom |= (r->cmd->flags & CMD_DENYOOM) != 0;
    if (!m->error) {
        if (multi_push(m, c, r) < 0) {
            log_warning("client id=%llu addr=%s closed: out of memory for a queued command",
                        (unsigned long long)c->id, c->addr);
            conn_close(c, "out of memory");
            req_done(r);
            return;
        }
        multi_follow_select(m, r);
    }
    reply_simple(r, "QUEUED");
    req_done(r);
}

/* ---- watched keys ---- */

static uint64_t wkey_hash(uint32_t db, const void *key, size_t len)
{
    return ls_token(key, len) ^ ((uint64_t)db * 0x9e3779b97f4a7c15ull);
}

static int wkey_is(const struct txn_wkey *w, uint64_t h, uint32_t db, const void *key, size_t len)
{
    return w->hash == h && w->db == db && w->len == len && memcmp(w->key, key, len) == 0;
}

static int watches_grow(struct txn_watches *t)
{
    size_t nb = t->nb ? t->nb * 2 : 64;
    struct txn_wkey **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < t->nb; i++) {
        struct txn_wkey *w = t->b[i], *next;
        for (; w; w = next) {
            next = w->hnext;
            w->hnext = b[w->hash & (nb - 1)];
            b[w->hash & (nb - 1)] = w;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return 0;
}

static void wkey_unlink(struct txn_watches *t, struct txn_wkey *w)
{
    struct txn_wkey **pp = &t->b[w->hash & (t->nb - 1)];
    while (*pp != w)
        pp = &(*pp)->hnext;
    *pp = w->hnext;
    t->n--;
}

static void wset_free(struct server *s, struct txn_wset *ws)
{
    if (ws == NULL)
        return;
    struct txn_wkey *w = ws->head, *next;
    for (; w; w = next) {
        next = w->onext;
        wkey_unlink(s->watches, w);
        pbuf_acct_sub(&ws->c->mem, sizeof(*w) + w->len);
        free(w);
    }
    pbuf_acct_sub(&ws->c->mem, sizeof(*ws));
    free(ws);
}

/* Adds key (db) to ws unless it watches it already. Returns 0 or -1 (no memory). */
static int wset_add(struct server *s, struct txn_wset *ws, uint32_t db, const struct resp_arg *k)
{
    struct txn_watches *t = s->watches;
    uint64_t h = wkey_hash(db, k->ptr, k->len);
    if (t->nb) {
        for (struct txn_wkey *w = t->b[h & (t->nb - 1)]; w; w = w->hnext)
            if (w->owner == ws && wkey_is(w, h, db, k->ptr, k->len))
                return 0;
    }
    if (t->n >= t->nb && watches_grow(t) < 0)
        return -1;
    struct txn_wkey *w = malloc(sizeof(*w) + k->len);
    if (w == NULL)
        return -1;
    struct ls_meta meta;
    w->owner = ws;
    w->hash = h;
    w->db = db;
    w->len = (uint32_t)k->len;
    memcpy(w->key, k->ptr, k->len);
    if (s->eng == NULL) /* WATCH while loading (loading.c): the key's state is unknown, */
        ws->dirty = 1;  /* so EXEC fails rather than miss a change (the client retries) */
    w->expire_ms = s->eng && ls_lookup(s->eng, db, k->ptr, k->len, &meta) == 0 ? meta.expire_ms : 0;
    w->hnext = t->b[h & (t->nb - 1)];
    t->b[h & (t->nb - 1)] = w;
    t->n++;
    w->onext = ws->head;
    ws->head = w;
    pbuf_acct_add(&ws->c->mem, sizeof(*w) + k->len);
    return 0;
}

/* Whether EXEC must fail: a watched key was written, flushed, or has expired since. */
static int wset_changed(const struct txn_wset *ws)
{
    if (ws == NULL)
        return 0;
    if (ws->dirty)
        return 1;
    uint64_t now = server_unix_ms();
    for (const struct txn_wkey *w = ws->head; w; w = w->onext)
        if (w->expire_ms && w->expire_ms <= now)
            return 1;
    return 0;
}

void txn_touch(struct server *s, uint32_t db, const void *key, size_t len)
{
    struct txn_watches *t = s->watches;
    if (t == NULL || t->n == 0)
        return;
    uint64_t h = wkey_hash(db, key, len);
    for (struct txn_wkey *w = t->b[h & (t->nb - 1)]; w; w = w->hnext)
        if (wkey_is(w, h, db, key, len))
            w->owner->dirty = 1;
}

void txn_touch_db(struct server *s, uint32_t db)
{
    struct txn_watches *t = s->watches;
    if (t == NULL || t->n == 0)
        return;
    struct ls_meta meta;
    for (size_t i = 0; i < t->nb; i++)
        for (struct txn_wkey *w = t->b[i]; w; w = w->hnext)
            if (w->db == db && !w->owner->dirty &&
                ls_lookup(s->eng, db, w->key, w->len, &meta) == 0)
                w->owner->dirty = 1;
}

void txn_touch_swap(struct server *s, uint32_t a, uint32_t b)
{
    struct txn_watches *t = s->watches;
    if (t == NULL || t->n == 0)
        return;
    struct ls_meta meta;
    for (size_t i = 0; i < t->nb; i++)
        for (struct txn_wkey *w = t->b[i]; w; w = w->hnext) {
            if ((w->db != a && w->db != b) || w->owner->dirty)
                continue;
            uint32_t other = w->db == a ? b : a;
            if (ls_lookup(s->eng, w->db, w->key, w->len, &meta) == 0 ||
                ls_lookup(s->eng, other, w->key, w->len, &meta) == 0)
                w->owner->dirty = 1;
        }
}

/* ---- commands ---- */

void cmd_txn_multi(struct req *r)
{
    struct conn *c = r->c;
    if (c->multi) {
        reply_error(r, "ERR MULTI calls can not be nested");
    } else if ((c->multi = calloc(1, sizeof(*c->multi))) == NULL) {
        reply_error(r, "ERR out of memory");
    } else {
        pbuf_acct_add(&c->mem, sizeof(*c->multi));
        c->multi->db = c->db;
        reply_ok(r);
    }
    req_done(r);
}

void cmd_txn_discard(struct req *r)
{
    struct conn *c = r->c;
    if (c->multi == NULL) {
        reply_error(r, "ERR DISCARD without MULTI");
    } else {
        txn_conn_reset(c);
        reply_ok(r);
    }
    req_done(r);
}

void cmd_txn_watch(struct req *r)
{
    struct conn *c = r->c;
    struct server *s = c->srv;
    if (c->multi) {
        reply_error(r, "ERR WATCH inside MULTI is not allowed");
        req_done(r);
        return;
    }
    if (s->watches == NULL && (s->watches = calloc(1, sizeof(*s->watches))) == NULL)
        goto oom;
    if (c->watch == NULL) {
        if ((c->watch = calloc(1, sizeof(*c->watch))) == NULL)
            goto oom;
        c->watch->c = c;
        pbuf_acct_add(&c->mem, sizeof(*c->watch));
    }
    if (!c->watch->dirty) /* as Redis: no point watching more once EXEC must fail */
        for (uint32_t i = 1; i < r->argc; i++)
            if (wset_add(s, c->watch, c->db, &r->argv[i]) < 0)
                goto oom;
    reply_ok(r);
    req_done(r);
    return;
oom:
    reply_error(r, "ERR out of memory");
    req_done(r);
}

void cmd_txn_unwatch(struct req *r)
{
    struct conn *c = r->c;
    wset_free(c->srv, c->watch);
    c->watch = NULL;
    reply_ok(r);
    req_done(r);
}

void txn_conn_reset(struct conn *c)
{
    multi_free(c, c->multi);
    c->multi = NULL;
    wset_free(c->srv, c->watch);
    c->watch = NULL;
}

void txn_server_free(struct server *s)
{
    if (s->watches) {
        free(s->watches->b);
        free(s->watches);
        s->watches = NULL;
    }
}

/* ---- the overlay of a transaction's writes ---- */

static void ovl_free(struct conn *c, struct ovl *o)
{
    for (uint32_t i = 0; i < o->n; i++)
        free(o->e[i].key);
    free(o->e);
    free(o->b);
    pbuf_acct_sub(&c->mem, o->mem);
    memset(o, 0, sizeof(*o));
}

static struct ovl_ent *ovl_find(const struct ovl *o, uint32_t db, const void *key, size_t len)
{
    if (o->nb == 0)
        return NULL;
    uint64_t h = wkey_hash(db, key, len);
    for (uint32_t i = o->b[h & (o->nb - 1)]; i; i = o->e[i - 1].next) {
        struct ovl_ent *x = &o->e[i - 1];
        if (x->hash == h && x->db == db && x->klen == len && memcmp(x->key, key, len) == 0)
            return x;
    }
    return NULL;
}

static int ovl_rehash(struct ovl *o, uint32_t nb)
{
    uint32_t *b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return -1;
    for (uint32_t i = 0; i < o->n; i++) { /* oldest first: the newest ends up in front */
        uint32_t slot = (uint32_t)(o->e[i].hash & (nb - 1));
        o->e[i].next = b[slot];
        b[slot] = i + 1;
    }
    free(o->b);
    o->b = b;
    o->nb = nb;
    return 0;
}

/* The memory an entry is charged (its key and value, itself, its share of the buckets). */
static size_t ovl_ent_mem(size_t klen, size_t vlen)
{
    return klen + vlen + sizeof(struct ovl_ent) + 2 * sizeof(uint32_t);
}

/* Appends a write. Returns 0 or -ENOMEM. */
static int ovl_add(struct conn *c, struct ovl *o, uint32_t db, const struct resp_arg *key,
                   const void *v, size_t n, const struct ls_write_opts *opts, int del,
                   struct req *k, ls_write_cb cb)
{
    if (o->n == o->cap) {
        uint32_t cap = o->cap ? o->cap * 2 : 16;
        struct ovl_ent *e = realloc(o->e, cap * sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        o->e = e;
        o->cap = cap;
    }
    if (o->n + 1 > o->nb && ovl_rehash(o, o->nb ? o->nb * 2 : 16) < 0)
        return -ENOMEM;
    char *mem = malloc(key->len + n + 1);
    if (mem == NULL)
        return -ENOMEM;
    memcpy(mem, key->ptr, key->len);
    if (n)
        memcpy(mem + key->len, v, n);
    uint64_t h = wkey_hash(db, key->ptr, key->len);
    uint32_t slot = (uint32_t)(h & (o->nb - 1));
    o->e[o->n] = (struct ovl_ent){.next = o->b[slot],
                                  .db = db,
                                  .klen = (uint32_t)key->len,
                                  .vlen = (uint32_t)n,
                                  .flags = opts ? opts->flags : 0,
                                  .del = (uint8_t)del,
                                  .vtype = opts ? opts->vtype : 0,
                                  .ordered = opts ? opts->ordered : 0,
                                  .grp = o->grp,
                                  .hash = h,
                                  .expire_ms = opts ? opts->expire_ms : 0,
                                  .key = mem,
                                  .val = mem + key->len,
                                  .k = k,
                                  .cb = cb};
    o->b[slot] = ++o->n;
    o->bytes += ls_record_size(key->len, n);
    size_t more = ovl_ent_mem(key->len, n);
    o->mem += more;
    pbuf_acct_add(&c->mem, more);
    return 0;
}

/* Whether x leaves its key present now (written, and not past its expiry). */
static int ovl_present(const struct ovl_ent *x)
{
    return !x->del && (x->expire_ms == 0 || x->expire_ms > server_unix_ms());
}

/* The overlay of the transaction r (a command EXEC runs) belongs to, when it batches. */
static struct ovl *txn_ovl(const struct req *r)
{
    if (r->parent == NULL)
        return NULL;
    struct txn_exec *t = r->parent->aux;
    return t->batching ? &t->ovl : NULL;
}

int txn_batching(const struct req *r)
{
    return txn_ovl(r) != NULL;
}

int txn_write(struct req *r, uint32_t db, const struct resp_arg *key, const void *v, size_t n,
              const struct ls_write_opts *opts, int del, ls_write_cb cb)
{
    struct ovl *o = txn_ovl(r);
    if (o == NULL)
        return 1;
    if (opts && opts->expire_ms > LS_EXPIRE_MAX)
        return LS_EINVAL;
    /* a page of a large collection may pass max_value_size, as in the engine (main.c) */
    if (!del && n > r->c->srv->cfg.max_value_size &&
        (db < (uint32_t)r->c->srv->cfg.databases || n > LARGE_PAGE_RECORD_MAX))
        return LS_ETOOBIG;
    if (del) { /* as ls_del: an absent key is not deleted */
        struct ls_meta m;
        if (txn_lookup(r, db, key, &m) == LS_ENOTFOUND)
            return LS_ENOTFOUND;
    }
    if (db < (uint32_t)r->c->srv->cfg.databases) { /* not a large list's page or anchor */
        txn_touch(r->c->srv, db, key->ptr, key->len);
        tracking_invalidate(r, key->ptr, key->len);
    }
    return ovl_add(r->c, o, db, key, v, n, opts, del, r, cb);
}

void txn_group_begin(struct req *r)
{
    struct ovl *o = txn_ovl(r);
    if (o)
        o->grp = ++o->ngrp;
}

/* Takes o's newest write out (it is its bucket's newest). */
static void ovl_pop(struct req *r, struct ovl *o)
{
    struct ovl_ent *x = &o->e[--o->n];
    o->b[x->hash & (o->nb - 1)] = x->next;
    o->bytes -= ls_record_size(x->klen, x->vlen);
    size_t less = ovl_ent_mem(x->klen, x->vlen);
    o->mem -= less;
    pbuf_acct_sub(&r->c->mem, less);
    free(x->key);
}

void txn_group_end(struct req *r, int ok)
{
    struct ovl *o = txn_ovl(r);
    if (o == NULL)
        return;
    /* Failed: the group's writes leave the overlay, newest first, so no page changed in
     * place stays without its root. */
    while (!ok && o->grp && o->n && o->e[o->n - 1].grp == o->grp)
        ovl_pop(r, o);
    o->grp = 0;
}

uint32_t txn_mark(struct req *r)
{
    struct ovl *o = txn_ovl(r);
    return o ? o->n : 0;
}

void txn_rollback(struct req *r, uint32_t mark)
{
    struct ovl *o = txn_ovl(r);
    while (o && o->n > mark)
        ovl_pop(r, o);
}

int txn_lookup(struct req *r, uint32_t db, const struct resp_arg *key, struct ls_meta *out)
{
    struct ovl *o = txn_ovl(r);
    struct ovl_ent *x = o ? ovl_find(o, db, key->ptr, key->len) : NULL;
    if (x == NULL)
        return ls_lookup(r->c->srv->eng, db, key->ptr, key->len, out);
    if (!ovl_present(x))
        return LS_ENOTFOUND;
    out->expire_ms = x->expire_ms;
    out->record_size = ls_record_size(x->klen, x->vlen);
    return 0;
}

int txn_read(struct req *r, uint32_t db, const struct resp_arg *key, struct ls_item *out)
{
    struct ovl *o = txn_ovl(r);
    struct ovl_ent *x = o ? ovl_find(o, db, key->ptr, key->len) : NULL;
    if (x == NULL)
        return 1;
    if (!ovl_present(x))
        return LS_ENOTFOUND;
    *out = (struct ls_item){.key = x->key,
                            .key_len = x->klen,
                            .value = x->val,
                            .value_len = x->vlen,
                            .expire_ms = x->expire_ms,
                            .flags = x->flags,
                            .vtype = x->vtype};
    return 0;
}

/* ---- EXEC ---- */

static void exec_free(struct req *r)
{
    struct txn_exec *t = r->aux;
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < t->started; i++)
        if (t->kids[i])
            req_child_free(t->kids[i]);
    free(t->kids);
    large_unit_end(r->c->srv, r); /* its large lists' roots are written, or never will be */
    ovl_free(r->c, &t->ovl);
    multi_free(r->c, t->m);
    wset_free(r->c->srv, t->w);
    free(t);
    r->aux = NULL;
}

static uint8_t txn_lock_mode(const struct cmd_def *d)
{
    return (d->flags & CMD_WRITE) ? LOCKSET_EXCLUSIVE : LOCKSET_SHARED;
}

/* EXEC's claim: its commands' keys and databases, and its watched keys. */
static int exec_items(struct req *r, struct txn_exec *t)
{
    uint32_t ndbs = (uint32_t)r->c->srv->cfg.databases, n = 0, max = 0;
    for (uint32_t i = 0; i < t->m->n; i++)
        max += t->m->cmds[i].nkeys + ((t->m->cmds[i].cmd->flags & CMD_WHOLE_DB) ? ndbs : 0);
    for (const struct txn_wkey *w = t->w ? t->w->head : NULL; w; w = w->onext)
        max++;
    if (max == 0)
        return 0;
    struct lockset_item *it = malloc((size_t)max * sizeof(*it));
    if (it == NULL)
        return -1;
    for (uint32_t i = 0; i < t->m->n; i++) {
        const struct txn_cmd *q = &t->m->cmds[i];
        for (uint32_t k = 0; k < q->nkeys; k++)
            it[n++] = (struct lockset_item){q->db, txn_lock_mode(q->cmd), 0, q->keys[k].ptr,
                                            q->keys[k].len};
        if (q->cmd->flags & CMD_WHOLE_DB) {
            uint32_t first = q->db, last = q->db;
            if (q->cmd->flags & CMD_ALL_DBS) {
                first = 0;
                last = ndbs - 1;
            }
            for (uint32_t db = first; db <= last; db++)
                it[n++] = (struct lockset_item){db, LOCKSET_EXCLUSIVE, 1, NULL, 0};
        }
    }
    for (const struct txn_wkey *w = t->w ? t->w->head : NULL; w; w = w->onext)
        it[n++] = (struct lockset_item){w->db, LOCKSET_SHARED, 0, w->key, w->len};
    r->lk_items = it;
    r->lk_nitems = n;
    return 0;
}

int txn_exec_prepare(struct req *r)
{
    struct conn *c = r->c;
    if (c->multi == NULL)
        return 0; /* the handler answers "EXEC without MULTI" */
    struct txn_exec *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    t->m = c->multi;
    t->w = c->watch;
    c->multi = NULL;
    c->watch = NULL;
    r->aux = t;
    if (!t->m->error && exec_items(r, t) < 0)
        return -1;
    t->batching = 1;
    for (uint32_t i = 0; i < t->m->n; i++)
        if (t->m->cmds[i].cmd->flags & (CMD_WHOLE_DB | CMD_EVAL))
            t->batching = 0; /* it reads or writes the engine directly (see above) */
    return 0;
}

static void exec_finish(struct req *r)
{
    struct txn_exec *t = r->aux;
    reply_array(r, t->m->n);
    for (uint32_t i = 0; i < t->m->n; i++)
        reply_raw(r, t->kids[i]->buf.data, t->kids[i]->buf.len);
    exec_free(r);
    req_done(r);
}

static void exec_run(struct req *r);

/* The batch's callback: every command's write completes with rc, in order. */
static void exec_batch_cb(void *arg, int rc, uint64_t cas)
{
    struct req *r = arg;
    struct txn_exec *t = r->aux;
    (void)cas;
    int nested = t->running; /* refused at once: inside exec_run, which finishes EXEC */
    t->batch_pending = 0;
    t->running = 1; /* EXEC finishes after the loop, not inside it */
    for (uint32_t i = 0; i < t->ovl.n; i++)
        if (t->ovl.e[i].cb)
            t->ovl.e[i].cb(t->ovl.e[i].k, rc, 0);
    t->running = nested;
    if (!nested)
        exec_run(r);
}

static struct ls_batch_op ovl_op(const struct ovl_ent *x)
{
    return (struct ls_batch_op){.del = x->del,
                                .table = x->db,
                                .key = x->key,
                                .key_len = x->klen,
                                .value = x->val,
                                .value_len = x->vlen,
                                .opts = {x->expire_ms, x->flags, x->vtype, x->ordered}};
}

/* Entries x[0..n) to the engine: one write, or a group as one batch. A group too large
 * for one batch fails whole (LS_ETOOBIG): written one record at a time, a crash between
 * them would leave pages changed in place without their root. (large.c bounds a native
 * write by ls_batch_max_bytes before it makes one, so this is a guard.) Returns 0 or an
 * engine error. */
static int write_some(struct req *w, const struct ovl_ent *x, uint32_t n, ls_write_cb cb)
{
    if (n > 1) {
        struct ls_batch_op *ops = malloc(n * sizeof(*ops));
        if (ops == NULL)
            return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            ops[i] = ovl_op(&x[i]);
        int rc = park_batch(w, ops, n, cb);
        free(ops);
        return rc;
    }
    struct resp_arg key = {x->key, x->klen};
    struct ls_batch_op op = ovl_op(x);
    return x->del ? park_del(w, x->db, &key, cb)
                  : park_put(w, x->db, &key, x->val, x->vlen, &op.opts, cb);
}

/* Too large for one batch: the writes go to the engine one by one, in order, each
 * command's callback its own, except that a group (txn_group_begin: a large collection's
 * pages and root, changed in place) goes as one batch, since its root must never be
 * found without its pages nor its pages without its root. EXEC keeps its locks until
 * every one has completed. */
static void exec_write_each(struct req *r)
{
    struct txn_exec *t = r->aux;
    struct server *s = r->c->srv;
    t->unlocked = 1; /* released by req_done */
    for (uint32_t i = 0, n; i < t->ovl.n; i += n) {
        const struct ovl_ent *x = &t->ovl.e[i];
        for (n = 1; x->grp && i + n < t->ovl.n && x[n].grp == x->grp; n++)
            ;
        /* a script's writes were acknowledged to it already: they complete to its parent;
         * a group's callback is its last entry's (the others' do nothing) */
        const struct ovl_ent *last = &x[n - 1];
        struct req *w = last->cb ? last->k : r;
        ls_write_cb cb = last->cb ? last->cb : t->each_cb;
        t->each_pending += last->cb == NULL;
        int rc = write_some(w, x, n, cb);
        if (rc < 0)
            cb(w, rc, 0); /* LS_ENOTFOUND: expired meanwhile, deleted all the same */
    }
    s->stats.txn_unbatched++;
}

/* Every command has run: the overlay's writes go to the engine, as one batch (or one by
 * one when too large: exec_write_each, through txn_unit_submit). */
static void exec_submit(struct req *r)
{
    struct txn_exec *t = r->aux;
    t->batch_pending = 1; /* before: were its callback to run at once, it clears this */
    int rc = txn_unit_submit(r, exec_batch_cb, NULL);
    if (rc != 1)
        t->batch_pending = 0;
    if (rc < 0)
        exec_batch_cb(r, rc, 0);
}

/* Starts the queued commands in turn while each lets the next start at once; finishes
 * EXEC when all have completed. Runs again from txn_child_submitted/txn_child_done when
 * a command lets the next start later (from an engine callback). */
static void exec_run(struct req *r)
{
    struct txn_exec *t = r->aux;
    if (t->running)
        return;
    t->running = 1;
    while (t->started < t->m->n && t->advance) {
        const struct txn_cmd *q = &t->m->cmds[t->started];
        struct req *k = req_child_new(r, q->db);
        t->advance = 0;
        if (k == NULL) {
            log_warning("client id=%llu addr=%s closed: out of memory inside EXEC",
                        (unsigned long long)r->c->id, r->c->addr);
            conn_close(r->c, "out of memory");
            t->m->n = t->started; /* the rest is never run; nobody reads the reply */
            t->advance = 1;
            break;
        }
        t->kids[t->started++] = k;
        k->cmd = q->cmd;
        k->argv = q->argv;
        k->argc = q->argc;
        k->keys = q->keys;
        k->nkeys = q->nkeys;
        k->lk = (q->cmd->flags & CMD_WRITE) ? CMDLOCK_KEYS_WRITE : 0;
        k->exec = q->cmd->proc;
        r->c->srv->stats.commands_processed++;
        uint64_t t0 = cmd_server_stat_begin(); /* commandstats count EXEC's commands */
        struct conn *c = r->c;
        cmd_child_started(k); /* MONITOR shows it between MULTI and EXEC, as Redis */
        k->exec(k);
        cmd_server_stat_end(c, q->cmd->name, t0);
    }
    if (t->started == t->m->n && t->advance && t->batching)
        exec_submit(r);
    t->running = 0;
    if (t->started == t->m->n && t->advance && !t->unlocked) {
        t->unlocked = 1;
        req_unlock(r); /* every write submitted: the others may see them all */
    }
    if (t->ndone == t->m->n && !t->batch_pending)
        exec_finish(r);
}

/* Whether k is EXEC's last started command and lets the next one start now (once). */
static int child_advances(struct txn_exec *t, struct req *k)
{
    if (!t->started || t->kids[t->started - 1] != k || k->txn_advanced)
        return 0;
    k->txn_advanced = 1;
    t->advance = 1;
    return 1;
}

void txn_child_submitted(struct req *k)
{
    struct req *r = k->parent;
    struct txn_exec *t = r->aux;
    if (t->script)
        script_child_submitted(k);
    else if (child_advances(t, k))
        exec_run(r);
}

void txn_child_done(struct req *k)
{
    struct req *r = k->parent;
    struct txn_exec *t = r->aux;
    if (t->script) {
        script_child_done(k);
        return;
    }
    t->ndone++;
    child_advances(t, k);
    exec_run(r);
}

void cmd_txn_exec(struct req *r)
{
    struct txn_exec *t = r->aux;
    if (t == NULL) {
        reply_error(r, "ERR EXEC without MULTI");
    } else if (t->m->error) {
        reply_error(r, "EXECABORT Transaction discarded because of previous errors.");
    } else if (t->m->denyoom && server_oom(r->c->srv)) {
        reply_error(r, "EXECABORT Transaction discarded because of: " ERR_OOM);
    } else if (wset_changed(t->w)) {
        reply_null_array(r);
    } else if (t->m->n && (t->kids = calloc(t->m->n, sizeof(*t->kids))) == NULL) {
        reply_error(r, "ERR out of memory");
    } else {
        wset_free(r->c->srv, t->w); /* as Redis: unwatched before the commands run */
        t->w = NULL;
        t->advance = 1;
        exec_run(r);
        return;
    }
    exec_free(r);
    req_done(r);
}

/* ---- the unit a script runs in (script.c) ---- */

int txn_unit_begin(struct req *r, struct script_run *sr, int batching)
{
    struct txn_exec *t = calloc(1, sizeof(*t));
    struct txn_multi *m = calloc(1, sizeof(*m));
    if (t == NULL || m == NULL) {
        free(t);
        free(m);
        return -ENOMEM;
    }
    pbuf_acct_add(&r->c->mem, sizeof(*m));
    t->m = m;
    t->script = sr;
    t->batching = batching;
    r->aux = t;
    return 0;
}

struct script_run *txn_unit_script(const struct req *parent)
{
    const struct txn_exec *t = parent->aux;
    return t->script;
}

struct req *txn_unit_child(struct req *r, const struct cmd_def *d, uint32_t db,
                           struct resp_arg *argv, uint32_t argc)
{
    /* argv (one allocation with its strings) belongs to the child from here on */
    uint32_t kfirst, kstep, nkeys = cmd_keys_find(d, argv, argc, &kfirst, &kstep);
    struct resp_arg *keys = nkeys ? malloc(nkeys * sizeof(*keys)) : NULL;
    struct req *k = req_child_new(r, db);
    if ((nkeys && keys == NULL) || k == NULL) {
        free(keys);
        free(argv);
        if (k)
            req_child_free(k);
        return NULL;
    }
    for (uint32_t i = 0; i < nkeys; i++)
        keys[i] = argv[kfirst + i * kstep];
    k->cmd = d;
    k->argv = argv;
    k->argc = argc;
    k->keys = keys;
    k->nkeys = nkeys;
    k->child_mem[0] = argv; /* both freed with the child */
    k->child_mem[1] = keys;
    k->lk = (d->flags & CMD_WRITE) ? CMDLOCK_KEYS_WRITE : 0;
    k->exec = d->proc;
    r->c->srv->stats.commands_processed++;
    return k;
}

void txn_unit_ack(struct req *k)
{
    struct txn_exec *t = k->parent->aux;
    for (uint32_t i = 0; i < t->ovl.n; i++) {
        struct ovl_ent *x = &t->ovl.e[i];
        if (x->k == k && x->cb) {
            ls_write_cb cb = x->cb;
            x->cb = NULL;
            cb(k, 0, 0);
        }
    }
}

uint64_t txn_unit_writes(const struct req *r)
{
    const struct txn_exec *t = r->aux;
    return t->ovl.n;
}

int txn_unit_submit(struct req *r, ls_write_cb batch_cb, ls_write_cb each_cb)
{
    struct txn_exec *t = r->aux;
    struct ovl *o = &t->ovl;
    t->batching = 0;
    r->c->srv->root_moves++; /* its MOVEs and RENAMEs reach the engine now (reaper.c) */
    if (o->n == 0)
        return 0;
    struct ls_batch_op *ops = malloc(o->n * sizeof(*ops));
    if (ops == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < o->n; i++)
        ops[i] = ovl_op(&o->e[i]);
    int rc = park_batch(r, ops, o->n, batch_cb);
    free(ops);
    if (rc == LS_ETOOBIG) {
        t->each_cb = each_cb;
        t->each_pending = 1; /* held until every write is sent */
        exec_write_each(r);
        return --t->each_pending == 0 ? 0 : 2;
    }
    return rc < 0 ? rc : 1;
}

int txn_unit_each_done(struct req *r)
{
    struct txn_exec *t = r->aux;
    return --t->each_pending == 0;
}

void txn_unit_end(struct req *r)
{
    exec_free(r);
}
