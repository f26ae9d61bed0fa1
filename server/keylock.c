/*
 * keylock.c - the lock table: a chained hash of (db, key) -> entry { held, FIFO of
 * waiting requests }.
 *
 * An entry exists only while its key is held or waited on, so the table's size is bounded
 * by the requests in flight (max_inflight per connection times the connections), not by
 * the key space.
 *
 * Waking (keylock_leave): the waiters are popped in order; a plain request runs at once
 * (it only submits engine operations, which the engine orders), so a run of reads behind a
 * writer all start together; a read-modify-write waiter takes the lock and stops the pass.
 * A request may complete synchronously while it is being woken and so release the same
 * key again: the `waking` flag makes that inner release leave the popping to the outer
 * loop, and the entry is freed only by the outermost pass, when idle.
 *
 * Multi-key requests never hold locks (every read-modify-write command has one key); they
 * wait on the first of their keys that has an entry, and are re-checked when woken.
 */
#include "keylock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"

struct klent {
    struct klent *hnext;
    uint64_t hash;
    uint32_t db;
    uint32_t klen;
    int held;
    int waking;
    struct req *wait_head, *wait_tail;
    char key[];
};

struct keylock {
    struct klent **buckets;
    uint64_t nbuckets; /* power of two */
    uint64_t count;
};

#define KEYLOCK_INIT_BUCKETS 1024

struct keylock *keylock_new(void)
{
    struct keylock *kl = calloc(1, sizeof(*kl));
    if (kl == NULL)
        return NULL;
    kl->buckets = calloc(KEYLOCK_INIT_BUCKETS, sizeof(*kl->buckets));
    if (kl->buckets == NULL) {
        free(kl);
        return NULL;
    }
    kl->nbuckets = KEYLOCK_INIT_BUCKETS;
    return kl;
}

void keylock_free(struct keylock *kl)
{
    if (kl == NULL)
        return;
    for (uint64_t i = 0; i < kl->nbuckets; i++) {
        struct klent *e = kl->buckets[i];
        while (e) {
            struct klent *n = e->hnext;
            free(e);
            e = n;
        }
    }
    free(kl->buckets);
    free(kl);
}

uint64_t keylock_count(const struct keylock *kl)
{
    return kl->count;
}

static uint64_t keylock_hash(uint32_t db, const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)db * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static struct klent *keylock_find(struct keylock *kl, uint32_t db, const struct resp_arg *k,
                                  uint64_t h)
{
    for (struct klent *e = kl->buckets[h & (kl->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->db == db && e->klen == k->len && memcmp(e->key, k->ptr, k->len) == 0)
            return e;
    return NULL;
}

static void keylock_grow(struct keylock *kl)
{
    uint64_t nb = kl->nbuckets * 2;
    struct klent **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* longer chains, still correct */
    for (uint64_t i = 0; i < kl->nbuckets; i++) {
        struct klent *e = kl->buckets[i];
        while (e) {
            struct klent *n = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = n;
        }
    }
    free(kl->buckets);
    kl->buckets = b;
    kl->nbuckets = nb;
}

static struct klent *keylock_create(struct keylock *kl, uint32_t db, const struct resp_arg *k,
                                    uint64_t h)
{
    struct klent *e = calloc(1, sizeof(*e) + k->len);
    if (e == NULL)
        return NULL;
    e->hash = h;
    e->db = db;
    e->klen = (uint32_t)k->len;
    memcpy(e->key, k->ptr, k->len);
    if (kl->count >= kl->nbuckets * 2)
        keylock_grow(kl);
    struct klent **b = &kl->buckets[h & (kl->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    kl->count++;
    return e;
}

static void keylock_remove(struct keylock *kl, struct klent *e)
{
    struct klent **p = &kl->buckets[e->hash & (kl->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    kl->count--;
    free(e);
}

static void keylock_enqueue(struct klent *e, struct req *r)
{
    r->queued = 1;
    r->wait_next = NULL;
    if (e->wait_tail)
        e->wait_tail->wait_next = r;
    else
        e->wait_head = r;
    e->wait_tail = r;
}

/* Queues r on the first of its keys with an entry other than `self`; 1 if queued. */
static int keylock_wait_any(struct keylock *kl, struct req *r, const struct klent *self)
{
    for (uint32_t i = 0; i < r->nkeys; i++) {
        uint64_t h = keylock_hash(r->db, r->keys[i].ptr, r->keys[i].len);
        struct klent *e = keylock_find(kl, r->db, &r->keys[i], h);
        if (e && e != self) {
            keylock_enqueue(e, r);
            return 1;
        }
    }
    return 0;
}

int keylock_enter(struct keylock *kl, struct req *r)
{
    if (!r->rmw)
        return kl->count == 0 || !keylock_wait_any(kl, r, NULL);
    uint64_t h = keylock_hash(r->db, r->keys[0].ptr, r->keys[0].len);
    struct klent *e = keylock_find(kl, r->db, &r->keys[0], h);
    if (e) {
        keylock_enqueue(e, r);
        return 0;
    }
    e = keylock_create(kl, r->db, &r->keys[0], h);
    if (e == NULL) {
        /* Out of memory: run unlocked rather than fail the command; logged once per key. */
        log_warning("keylock: out of memory, running a read-modify-write unlocked");
        return 1;
    }
    e->held = 1;
    r->locked = 1;
    return 1;
}

static void keylock_wake(struct keylock *kl, struct klent *e)
{
    if (e->waking)
        return;
    e->waking = 1;
    while (!e->held && e->wait_head) {
        struct req *w = e->wait_head;
        e->wait_head = w->wait_next;
        if (e->wait_head == NULL)
            e->wait_tail = NULL;
        w->wait_next = NULL;
        w->queued = 0;
        if (w->rmw) {
            e->held = 1;
            w->locked = 1;
            w->exec(w);
        } else if (!keylock_wait_any(kl, w, e)) {
            w->exec(w);
        }
    }
    e->waking = 0;
    if (!e->held && e->wait_head == NULL)
        keylock_remove(kl, e);
}

void keylock_leave(struct keylock *kl, struct req *r)
{
    if (!r->locked)
        return;
    r->locked = 0;
    uint64_t h = keylock_hash(r->db, r->keys[0].ptr, r->keys[0].len);
    struct klent *e = keylock_find(kl, r->db, &r->keys[0], h);
    if (e == NULL) {
        log_warning("keylock: released a key that is not locked");
        return;
    }
    e->held = 0;
    keylock_wake(kl, e);
}
