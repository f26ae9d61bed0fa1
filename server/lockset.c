/*
 * lockset.c - THE SERVER'S CONCURRENCY RULE, and the lock table that implements it.
 *
 * The engine is asynchronous: a command reads (ls_get), computes, then writes (ls_put)
 * several loop turns later, and a write the engine refuses as busy waits in park.c
 * before it is submitted. Without a rule, two commands could both decide on the same
 * state (two SET NX both see the key absent; FLUSHDB runs while an INCR it should erase
 * still has its write to make). One rule covers every command, Redis and memcached alike,
 * and the transactions and scripts built on it:
 *
 *  1. Declare. A command declares the keys it reads and the keys it writes (the Redis
 *     command table's key positions; a memcached command's key), and the databases it
 *     reads or writes as a whole: FLUSHDB, FLUSHALL and flush_all write theirs, DBSIZE,
 *     SCAN, KEYS and RANDOMKEY read theirs. (cmd_redis.c, mcserver.c, cmdlock.c.)
 *  2. Claim everything before the first read. The declared items are sorted (database,
 *     the whole database before its keys, key bytes), duplicates merged, and claimed in
 *     one step: shared for what it only reads, exclusive for what it writes. A key claims
 *     its database shared as well. The command starts only when the claim is granted.
 *  3. Hold until submitted. The locks are kept until every write of the command has been
 *     accepted by the engine (ls_put/ls_del/ls_flush_table returned 0; from then on every
 *     read sees it, the engine orders the rest). A write refused as busy and parked keeps
 *     them until it is submitted or fails. A command that only reads releases once its
 *     reads are submitted (a read returns the record its submission looked up).
 *  4. Grant in arrival order. Each item (a key of a database, or a whole database) keeps
 *     the claims on it in arrival order. A claim is compatible at an item when nothing
 *     ahead of it is exclusive (it is shared) or nothing is ahead at all (exclusive); it
 *     is granted when compatible at all its items. Readers do not block readers; a writer
 *     waiting blocks the readers behind it, so writers are not starved.
 *  5. A connection's commands claim in the order it sent them (cmdlock.c): a command makes
 *     its claim only after the connection's previous claim was granted.
 *  6. Whole databases. A whole-database exclusive claim (FLUSHDB) comes after every claim
 *     made before it in that database, so it waits for the commands in flight there that
 *     have not submitted their writes, and every later claim in the database waits for it
 *     to submit its flush. MULTI/EXEC and scripts claim the union of their keys (EXEC
 *     knows its queued commands, EVAL its KEYS) or whole databases, through the same call.
 *
 * Why no deadlock. A claim is all-or-nothing: it enters every one of its queues in the
 * same step and holds nothing while it waits, so everything ahead of it in any queue is
 * an older claim: every wait is on an older claim, and waits form no cycle. A granted
 * claim never waits for a lock again; it waits only for the engine, which always calls
 * back (a parked write fails after busy_timeout_ms at the latest), and then releases. So
 * the oldest waiting claim is granted once the granted claims ahead of it release. Rule 5
 * adds waits on the connection's previous claim only, which is older too; a claim held back
 * by its connection's memory bound (cmdlock.c) waits, holding nothing, for granted
 * requests, the engine and the client only. The sorted order
 * makes a claim deterministic and lets a key named twice be locked once; a database item
 * sorts before its keys, so a barrier is always met before any key of its database.
 *
 * Bounds. A key has an entry only while some claim holds or waits for it (freed when its
 * queue empties), so the table is bounded by the claims in flight (max_inflight per
 * connection) and their keys, not by the key space. The database items are a fixed array.
 *
 * Data structure. Every item is a resource with a doubly linked FIFO of nodes, one per
 * claim on it; the nodes that are compatible ("ok") always form a prefix of the queue,
 * `blocked` is the first node that is not. A claim counts its nodes not yet ok; at zero it
 * is granted. Releasing a node may make the first blocked nodes of its queue ok
 * (res_advance). Grants found while releasing go to a ready list that the outermost call
 * drains, so a callback that claims or releases never sees a half-updated table.
 */
#include "lockset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCKSET_INIT_BUCKETS 1024
#define LOCKSET_SMALL_CLAIM  4  /* nodes: claims this small are kept for reuse */
#define LOCKSET_SMALL_KEY    48 /* bytes: key entries this small are kept for reuse */
#define LOCKSET_POOL_MAX     4096
#define LOCKSET_STACK_ITEMS  16 /* sorting scratch on the stack up to this many items */

struct lres;

struct lnode {
    struct lnode *prev, *next; /* the resource's queue, arrival order */
    struct lres *res;
    struct lockset_claim *cl;
    uint8_t mode;
    uint8_t ok; /* compatible with every node ahead of it */
};

/* A resource: a whole database (an array slot) or a key (a hash table entry). */
struct lres {
    struct lnode *head, *tail;
    struct lnode *blocked; /* first node not ok; NULL when all are */
    uint32_t nok;          /* nodes that are ok */
    uint8_t excl_ok;       /* one of them is exclusive (then it is the only one) */
    uint8_t is_key;
    struct lres *hnext; /* key entries: hash chain (also the free list) */
    uint64_t hash;
    uint32_t db;
    uint32_t klen;
    char key[];
};

struct lockset_claim {
    struct lockset_claim *ready_next; /* ready list (also the free list) */
    lockset_grant_fn cb;
    void *arg;
    uint32_t n;        /* nodes */
    uint32_t nblocked; /* nodes not yet ok */
    uint8_t writes;    /* some node is exclusive */
    uint8_t on_ready;
    struct lnode nodes[];
};

struct lockset {
    uint32_t ndbs;
    struct lres *dbs; /* ndbs entries */
    struct lres **buckets;
    uint64_t nbuckets; /* power of two */
    struct lockset_claim *ready_head, *ready_tail;
    int draining;
    struct lockset_stats st;
    struct lres *free_res; /* key entries of LOCKSET_SMALL_KEY bytes */
    struct lockset_claim *free_claims;
    uint32_t nfree_res, nfree_claims;
};

/* A declared item after sorting; key items and their database's shared item alike. */
struct sitem {
    uint32_t db;
    uint8_t mode;
    uint8_t whole;
    const char *key;
    size_t len;
};

struct lockset *lockset_new(uint32_t ndbs)
{
    struct lockset *ls = calloc(1, sizeof(*ls));
    if (ls == NULL)
        return NULL;
    ls->dbs = calloc(ndbs ? ndbs : 1, sizeof(struct lres));
    ls->buckets = calloc(LOCKSET_INIT_BUCKETS, sizeof(*ls->buckets));
    if (ls->dbs == NULL || ls->buckets == NULL) {
        lockset_free(ls);
        return NULL;
    }
    ls->ndbs = ndbs;
    ls->nbuckets = LOCKSET_INIT_BUCKETS;
    for (uint32_t i = 0; i < ndbs; i++)
        ls->dbs[i].db = i;
    return ls;
}

/* Frees every claim with a node in r's queue (each once: a claim is freed by its first
 * node met, whose other nodes are unlinked from their queues first). */
static void res_free_claims(struct lres *r)
{
    while (r->head) {
        struct lockset_claim *cl = r->head->cl;
        for (uint32_t i = 0; i < cl->n; i++) {
            struct lnode *n = &cl->nodes[i];
            if (n->prev)
                n->prev->next = n->next;
            else
                n->res->head = n->next;
            if (n->next)
                n->next->prev = n->prev;
            else
                n->res->tail = n->prev;
        }
        free(cl);
    }
}

void lockset_free(struct lockset *ls)
{
    if (ls == NULL)
        return;
    for (uint32_t i = 0; ls->dbs && i < ls->ndbs; i++)
        res_free_claims(&ls->dbs[i]);
    for (uint64_t i = 0; ls->buckets && i < ls->nbuckets; i++)
        for (struct lres *e = ls->buckets[i]; e; e = e->hnext)
            res_free_claims(e);
    for (uint64_t i = 0; ls->buckets && i < ls->nbuckets; i++) {
        struct lres *e = ls->buckets[i];
        while (e) {
            struct lres *n = e->hnext;
            free(e);
            e = n;
        }
    }
    while (ls->free_res) {
        struct lres *n = ls->free_res->hnext;
        free(ls->free_res);
        ls->free_res = n;
    }
    while (ls->free_claims) {
        struct lockset_claim *n = ls->free_claims->ready_next;
        free(ls->free_claims);
        ls->free_claims = n;
    }
    free(ls->dbs);
    free(ls->buckets);
    free(ls);
}

/* ---- the key hash table ---- */

/* Eight bytes a step (keys are hashed on every claim); the table only needs spread. */
static uint64_t key_hash(uint32_t db, const char *k, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL * (db + 1) ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, k + i, n - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

static struct lres *key_find(const struct lockset *ls, const struct sitem *it, uint64_t h)
{
    for (struct lres *e = ls->buckets[h & (ls->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->db == it->db && e->klen == it->len &&
            memcmp(e->key, it->key, it->len) == 0)
            return e;
    return NULL;
}

static void key_grow(struct lockset *ls)
{
    uint64_t nb = ls->nbuckets * 2;
    struct lres **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* longer chains, still correct */
    for (uint64_t i = 0; i < ls->nbuckets; i++) {
        struct lres *e = ls->buckets[i];
        while (e) {
            struct lres *n = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = n;
        }
    }
    free(ls->buckets);
    ls->buckets = b;
    ls->nbuckets = nb;
}

static struct lres *key_create(struct lockset *ls, const struct sitem *it, uint64_t h)
{
    struct lres *e;
    if (it->len <= LOCKSET_SMALL_KEY && ls->free_res) {
        e = ls->free_res;
        ls->free_res = e->hnext;
        ls->nfree_res--;
    } else {
        size_t kb = it->len <= LOCKSET_SMALL_KEY ? LOCKSET_SMALL_KEY : it->len;
        if ((e = malloc(sizeof(*e) + kb)) == NULL)
            return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->is_key = 1;
    e->hash = h;
    e->db = it->db;
    e->klen = (uint32_t)it->len;
    memcpy(e->key, it->key, it->len);
    if (ls->st.keys >= ls->nbuckets * 2)
        key_grow(ls);
    struct lres **b = &ls->buckets[h & (ls->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    ls->st.keys++;
    return e;
}

static void key_remove(struct lockset *ls, struct lres *e)
{
    struct lres **p = &ls->buckets[e->hash & (ls->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    ls->st.keys--;
    if (e->klen <= LOCKSET_SMALL_KEY && ls->nfree_res < LOCKSET_POOL_MAX) {
        e->hnext = ls->free_res;
        ls->free_res = e;
        ls->nfree_res++;
        return;
    }
    free(e);
}

/* ---- queues ---- */

static int res_compatible(const struct lres *r, uint8_t mode)
{
    return mode == LOCKSET_SHARED ? !r->excl_ok : r->nok == 0;
}

static void ready_push(struct lockset *ls, struct lockset_claim *cl)
{
    cl->on_ready = 1;
    cl->ready_next = NULL;
    if (ls->ready_tail)
        ls->ready_tail->ready_next = cl;
    else
        ls->ready_head = cl;
    ls->ready_tail = cl;
    ls->st.waiting--;
}

static void node_mark_ok(struct lres *r, struct lnode *n)
{
    n->ok = 1;
    r->nok++;
    if (n->mode == LOCKSET_EXCLUSIVE)
        r->excl_ok = 1;
}

/* Makes the first blocked nodes of r ok while they are compatible; a claim whose last
 * node became ok is granted (queued on the ready list). */
static void res_advance(struct lockset *ls, struct lres *r)
{
    while (r->blocked && res_compatible(r, r->blocked->mode)) {
        struct lnode *n = r->blocked;
        node_mark_ok(r, n);
        r->blocked = n->next;
        if (--n->cl->nblocked == 0)
            ready_push(ls, n->cl);
    }
}

static void res_append(struct lres *r, struct lnode *n)
{
    n->res = r;
    n->next = NULL;
    n->prev = r->tail;
    if (r->tail)
        r->tail->next = n;
    else
        r->head = n;
    r->tail = n;
    if (r->blocked == NULL && res_compatible(r, n->mode)) {
        node_mark_ok(r, n);
    } else {
        n->cl->nblocked++;
        if (r->blocked == NULL)
            r->blocked = n;
    }
}

static void res_unlink(struct lres *r, struct lnode *n)
{
    if (n->ok) {
        r->nok--;
        if (n->mode == LOCKSET_EXCLUSIVE)
            r->excl_ok = 0;
    } else if (r->blocked == n) {
        r->blocked = n->next;
    }
    if (n->prev)
        n->prev->next = n->next;
    else
        r->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        r->tail = n->prev;
}

/* ---- declaring: sort and merge ---- */

static int sitem_cmp(const void *pa, const void *pb)
{
    const struct sitem *a = pa, *b = pb;
    if (a->db != b->db)
        return a->db < b->db ? -1 : 1;
    if (a->whole != b->whole)
        return a->whole ? -1 : 1; /* the database before its keys */
    if (a->whole)
        return 0;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->key, b->key, m);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Expands items into out (each key also names its database shared), sorts, and merges
 * equal items (exclusive wins). Returns the number of distinct items. */
static uint32_t declare(const struct lockset_item *items, uint32_t n, struct sitem *out)
{
    if (n == 1 && !items[0].whole_db) { /* most commands: one key, already in order */
        out[0] = (struct sitem){items[0].db, LOCKSET_SHARED, 1, NULL, 0};
        out[1] = (struct sitem){items[0].db, items[0].mode, 0, items[0].key, items[0].key_len};
        return 2;
    }
    uint32_t m = 0;
    int64_t shared_db = -1; /* the database whose shared item was added last */
    for (uint32_t i = 0; i < n; i++) {
        const struct lockset_item *it = &items[i];
        if (it->whole_db) {
            out[m++] = (struct sitem){it->db, it->mode, 1, NULL, 0};
        } else {
            /* keys of one database (MSET, DEL k1 k2 ...) name it shared once, not once
             * each: fewer items to sort (the merge below would drop the copies) */
            if (shared_db != (int64_t)it->db)
                out[m++] = (struct sitem){it->db, LOCKSET_SHARED, 1, NULL, 0};
            shared_db = it->db;
            out[m++] = (struct sitem){it->db, it->mode, 0, it->key, it->key_len};
        }
    }
    if (m > LOCKSET_STACK_ITEMS) {
        qsort(out, m, sizeof(*out), sitem_cmp);
    } else { /* most claims: one key and its database, already in order */
        for (uint32_t i = 1; i < m; i++)
            for (uint32_t j = i; j > 0 && sitem_cmp(&out[j - 1], &out[j]) > 0; j--) {
                struct sitem t = out[j];
                out[j] = out[j - 1];
                out[j - 1] = t;
            }
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < m; i++) {
        if (k > 0 && sitem_cmp(&out[k - 1], &out[i]) == 0) {
            if (out[i].mode == LOCKSET_EXCLUSIVE)
                out[k - 1].mode = LOCKSET_EXCLUSIVE;
            continue;
        }
        out[k++] = out[i];
    }
    return k;
}

static struct lockset_claim *claim_alloc(struct lockset *ls, uint32_t n)
{
    struct lockset_claim *cl;
    if (n <= LOCKSET_SMALL_CLAIM && ls->free_claims) {
        cl = ls->free_claims;
        ls->free_claims = cl->ready_next;
        ls->nfree_claims--;
    } else {
        uint32_t cap = n <= LOCKSET_SMALL_CLAIM ? LOCKSET_SMALL_CLAIM : n;
        cl = malloc(sizeof(*cl) + (size_t)cap * sizeof(struct lnode));
        if (cl == NULL)
            return NULL;
    }
    memset(cl, 0, sizeof(*cl) + (size_t)n * sizeof(struct lnode));
    cl->n = n;
    return cl;
}

static void claim_recycle(struct lockset *ls, struct lockset_claim *cl)
{
    if (cl->n <= LOCKSET_SMALL_CLAIM && ls->nfree_claims < LOCKSET_POOL_MAX) {
        cl->ready_next = ls->free_claims;
        ls->free_claims = cl;
        ls->nfree_claims++;
        return;
    }
    free(cl);
}

/* Finds or creates the resource of each item. On failure frees the key entries it
 * created (they have no node yet) and returns -ENOMEM. */
static int claim_resolve(struct lockset *ls, struct lockset_claim *cl, const struct sitem *s)
{
    for (uint32_t i = 0; i < cl->n; i++) {
        if (s[i].whole) {
            cl->nodes[i].res = &ls->dbs[s[i].db];
            continue;
        }
        uint64_t h = key_hash(s[i].db, s[i].key, s[i].len);
        struct lres *e = key_find(ls, &s[i], h);
        if (e == NULL && (e = key_create(ls, &s[i], h)) == NULL) {
            for (uint32_t j = 0; j < i; j++)
                if (cl->nodes[j].res->is_key && cl->nodes[j].res->head == NULL)
                    key_remove(ls, cl->nodes[j].res);
            return -ENOMEM;
        }
        cl->nodes[i].res = e;
    }
    return 0;
}

static void drain_ready(struct lockset *ls);

int lockset_claim(struct lockset *ls, const struct lockset_item *items, uint32_t n,
                  lockset_grant_fn cb, void *arg, struct lockset_claim **out)
{
    struct sitem stack[2 * LOCKSET_STACK_ITEMS], *s = stack;
    if (n == 0)
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (items[i].db >= ls->ndbs)
            return -EINVAL;
    if (n > LOCKSET_STACK_ITEMS && (s = malloc(2 * (size_t)n * sizeof(*s))) == NULL)
        return -ENOMEM;
    uint32_t m = declare(items, n, s);
    struct lockset_claim *cl = claim_alloc(ls, m);
    if (cl == NULL || claim_resolve(ls, cl, s) < 0) {
        if (cl)
            claim_recycle(ls, cl);
        if (s != stack)
            free(s);
        return -ENOMEM;
    }
    cl->cb = cb;
    cl->arg = arg;
    for (uint32_t i = 0; i < m; i++) {
        struct lnode *nd = &cl->nodes[i];
        nd->cl = cl;
        nd->mode = s[i].mode;
        cl->writes |= nd->mode == LOCKSET_EXCLUSIVE;
        res_append(nd->res, nd);
    }
    if (s != stack)
        free(s);
    ls->st.claims++;
    *out = cl;
    if (cl->nblocked == 0)
        return 1;
    ls->st.waiting++;
    ls->st.waits++;
    return 0;
}

static void ready_remove(struct lockset *ls, struct lockset_claim *cl)
{
    struct lockset_claim **p = &ls->ready_head, *prev = NULL;
    while (*p != cl) {
        prev = *p;
        p = &(*p)->ready_next;
    }
    *p = cl->ready_next;
    if (ls->ready_tail == cl)
        ls->ready_tail = prev;
}

void lockset_release(struct lockset *ls, struct lockset_claim *cl)
{
    if (cl->on_ready)
        ready_remove(ls, cl); /* granted, callback not run yet: withdrawn */
    else if (cl->nblocked > 0)
        ls->st.waiting--;
    for (uint32_t i = 0; i < cl->n; i++) {
        struct lnode *nd = &cl->nodes[i];
        struct lres *r = nd->res;
        res_unlink(r, nd);
        res_advance(ls, r);
        if (r->is_key && r->head == NULL)
            key_remove(ls, r);
    }
    ls->st.claims--;
    claim_recycle(ls, cl);
    drain_ready(ls);
}

/* Runs the callbacks of granted claims, oldest grant first; only the outermost call
 * drains, so the callbacks run with the table consistent. */
static void drain_ready(struct lockset *ls)
{
    if (ls->draining)
        return;
    ls->draining = 1;
    while (ls->ready_head) {
        struct lockset_claim *cl = ls->ready_head;
        ls->ready_head = cl->ready_next;
        if (ls->ready_head == NULL)
            ls->ready_tail = NULL;
        cl->on_ready = 0;
        cl->cb(cl->arg); /* may release cl, claim or release others */
    }
    ls->draining = 0;
}

int lockset_claim_writes(const struct lockset_claim *cl)
{
    return cl->writes;
}

void lockset_get_stats(const struct lockset *ls, struct lockset_stats *out)
{
    *out = ls->st;
}

/* ---- checking ---- */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "lockset_check: " __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                                   \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* One queue: links, the ok prefix, its counts, and that the first blocked node is not
 * compatible. Counts the claims met for the first time (their node 0) into *claims and
 * *waiting. */
static int check_res(const struct lres *r, uint64_t *claims, uint64_t *waiting)
{
    uint32_t nok = 0, excl = 0;
    const struct lnode *prev = NULL, *blocked = NULL;
    for (const struct lnode *n = r->head; n; prev = n, n = n->next) {
        CHECK(n->prev == prev && n->res == r, "broken queue links");
        CHECK(n >= n->cl->nodes && n < n->cl->nodes + n->cl->n, "node outside its claim");
        if (n->ok) {
            CHECK(blocked == NULL, "an ok node after a blocked one");
            nok++;
            excl += n->mode == LOCKSET_EXCLUSIVE;
        } else if (blocked == NULL) {
            blocked = n;
        }
        if (n == &n->cl->nodes[0]) {
            uint32_t nb = 0;
            for (uint32_t i = 0; i < n->cl->n; i++)
                nb += !n->cl->nodes[i].ok;
            CHECK(nb == n->cl->nblocked, "claim counts %u blocked nodes, has %u", n->cl->nblocked,
                  nb);
            (*claims)++;
            *waiting += nb > 0;
        }
    }
    CHECK(r->tail == prev, "queue tail");
    CHECK(r->blocked == blocked, "blocked pointer is not the first blocked node");
    CHECK(r->nok == nok && r->excl_ok == (excl > 0), "ok counts");
    CHECK(excl == 0 || nok == 1, "an exclusive lock shared with %u others", nok - 1);
    CHECK(blocked == NULL || !res_compatible(r, blocked->mode), "a compatible node waits");
    return 0;
}

int lockset_check(const struct lockset *ls)
{
    uint64_t claims = 0, waiting = 0, keys = 0;
    for (uint32_t i = 0; i < ls->ndbs; i++)
        if (check_res(&ls->dbs[i], &claims, &waiting) < 0)
            return -1;
    for (uint64_t b = 0; b < ls->nbuckets; b++) {
        for (const struct lres *e = ls->buckets[b]; e; e = e->hnext) {
            CHECK(e->head != NULL, "an idle key entry is kept");
            CHECK((e->hash & (ls->nbuckets - 1)) == b, "key entry in the wrong bucket");
            if (check_res(e, &claims, &waiting) < 0)
                return -1;
            keys++;
        }
    }
    /* A claim with nodes on the ready list is granted but its callback has not run. */
    CHECK(keys == ls->st.keys, "%llu key entries, counted %llu", (unsigned long long)keys,
          (unsigned long long)ls->st.keys);
    CHECK(claims == ls->st.claims, "%llu claims, counted %llu", (unsigned long long)claims,
          (unsigned long long)ls->st.claims);
    CHECK(waiting == ls->st.waiting, "%llu waiting claims, counted %llu",
          (unsigned long long)waiting, (unsigned long long)ls->st.waiting);
    return 0;
}
