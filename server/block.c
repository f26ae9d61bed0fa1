/*
 * block.c - BLPOP and friends: the wait list (design in block.h).
 */
#include "block.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cmd.h"
#include "cmdlock.h"
#include "conn.h"
#include "reply.h"
#include "server.h"

struct blocked {
    struct req *r;
    uint32_t db, first, last;
    enum block_reply reply;
    int ready;         /* signalled: runs again at the next deferred pass */
    struct event *tmo; /* the timeout, or NULL (forever) */
    struct blocked *prev, *next;
};

/* Waiters per slot of a key's hash (key_slot): a write of a key no request waits on (the
 * slot's count 0, the usual case) costs block_signal one hash, not a walk of every waiter
 * now that every put and delete signals its key. */
#define BLOCK_SLOTS 1024

struct block_state {
    struct blocked *head, *tail;
    uint32_t n;
    uint32_t slot_waiters[BLOCK_SLOTS];
    struct event *wake; /* the deferred pass over the ready ones */
};

static struct block_state *state(struct server *s)
{
    if (s->block == NULL) {
        struct block_state *b = calloc(1, sizeof(*b));
        if (b == NULL)
            return NULL;
        s->block = b;
    }
    return s->block;
}

static uint32_t key_slot(uint32_t db, const void *key, size_t len)
{
    return (uint32_t)((XXH3_64bits(key, len) + db) % BLOCK_SLOTS);
}

/* Counts x's keys in (add 1) or out (add -1) of their slots. */
static void count_keys(struct block_state *b, const struct blocked *x, int add)
{
    for (uint32_t i = x->first; i <= x->last; i++) {
        const struct resp_arg *a = &x->r->argv[i];
        b->slot_waiters[key_slot(x->db, a->ptr, a->len)] += (uint32_t)add;
    }
}

static void unlink_blocked(struct block_state *b, struct blocked *x)
{
    count_keys(b, x, -1);
    if (x->prev)
        x->prev->next = x->next;
    else
        b->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        b->tail = x->prev;
    b->n--;
    x->r->c->block_req = NULL;
    if (x->tmo)
        event_free(x->tmo);
    free(x);
}

static void answer_timeout(struct req *r, enum block_reply reply)
{
    if (reply == BLOCK_NULL_ARRAY)
        reply_null_array(r);
    else
        reply_null(r);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct blocked *x = arg;
    struct req *r = x->r;
    struct conn *c = r->c;
    struct server *s = c->srv;
    (void)fd, (void)what;
    answer_timeout(r, x->reply);
    unlink_blocked(s->block, x);
    req_done(r);
    conn_resume(c);
    server_after_events(s);
}

/* Runs every ready request again, in the order they blocked. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    struct block_state *b = s->block;
    (void)fd, (void)what;
    struct blocked *x = b->head, *next;
    struct req *ready[64];
    uint32_t n = 0;
    for (; x && n < 64; x = next) {
        next = x->next;
        if (!x->ready)
            continue;
        ready[n++] = x->r;
        unlink_blocked(b, x);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct conn *c = ready[i]->c;
        ready[i]->block_woken = 1;
        cmdlock_start(ready[i]); /* claims its locks again and runs from the start */
        conn_resume(c);
    }
    for (x = b->head; x; x = x->next)
        if (x->ready) { /* more than one pass's worth: the rest next time */
            event_active(b->wake, 0, 1);
            break;
        }
    server_after_events(s);
}

int block_wait(struct req *r, uint32_t first, uint32_t last, uint64_t timeout_ms,
               enum block_reply reply)
{
    struct server *s = r->c->srv;
    struct block_state *b = state(s);
    if (r->parent || b == NULL)
        return -1;
    if (timeout_ms) { /* the deadline of its first wait: a command woken and blocked again
                         (its key written, nothing for it) keeps it, as Redis does */
        uint64_t now = server_mono_ms();
        if (r->block_deadline == 0)
            r->block_deadline = now + timeout_ms;
        if (now >= r->block_deadline)
            return -1; /* the caller answers the timeout reply */
        timeout_ms = r->block_deadline - now;
    }
    if (b->wake == NULL && (b->wake = event_new(s->base, -1, 0, on_wake, s)) == NULL)
        return -1;
    struct blocked *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return -1;
    *x = (struct blocked){.r = r, .db = r->db, .first = first, .last = last, .reply = reply};
    if (timeout_ms) {
        struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
        if ((x->tmo = evtimer_new(s->base, on_timeout, x)) == NULL ||
            evtimer_add(x->tmo, &tv) < 0) {
            if (x->tmo)
                event_free(x->tmo);
            free(x);
            return -1;
        }
    }
    count_keys(b, x, 1);
    x->prev = b->tail;
    if (b->tail)
        b->tail->next = x;
    else
        b->head = x;
    b->tail = x;
    b->n++;
    r->c->block_req = r;
    req_unlock(r);
    return 0;
}

static void mark(struct server *s, struct blocked *x)
{
    if (!x->ready) {
        x->ready = 1;
        event_active(((struct block_state *)s->block)->wake, 0, 1);
    }
}

void block_signal(struct server *s, uint32_t db, const void *key, size_t len)
{
    struct block_state *b = s->block;
    if (b == NULL || b->n == 0 || b->slot_waiters[key_slot(db, key, len)] == 0)
        return;
    for (struct blocked *x = b->head; x; x = x->next) {
        if (x->db != db || x->ready)
            continue;
        for (uint32_t i = x->first; i <= x->last; i++) {
            const struct resp_arg *a = &x->r->argv[i];
            if (a->len == len && memcmp(a->ptr, key, len) == 0) {
                mark(s, x);
                break;
            }
        }
    }
}

void block_signal_db(struct server *s, uint32_t db)
{
    struct block_state *b = s->block;
    if (b == NULL)
        return;
    for (struct blocked *x = b->head; x; x = x->next)
        if (x->db == db)
            mark(s, x);
}

int block_timeout_arg(struct req *r, const char *p, size_t n, uint64_t *ms)
{
    long double v;
    if (cmd_parse_ld(p, n, &v) < 0 || isnan(v) || isinf(v)) {
        reply_error(r, "ERR timeout is not a float or out of range");
        return -1;
    }
    if (v < 0) {
        reply_error(r, "ERR timeout is negative");
        return -1;
    }
    long double m = v * 1000.0L;
    if (m > (long double)(UINT64_C(1) << 50)) {
        reply_error(r, "ERR timeout is out of range");
        return -1;
    }
    *ms = (uint64_t)ceill(m);
    if (*ms == 0 && v > 0)
        *ms = 1;
    return 0;
}

uint32_t block_count(const struct server *s)
{
    const struct block_state *b = s->block;
    return b ? b->n : 0;
}

static struct blocked *find(struct block_state *b, const struct conn *c)
{
    for (struct blocked *x = b ? b->head : NULL; x; x = x->next)
        if (x->r->c == c)
            return x;
    return NULL;
}

void block_conn_close(struct conn *c)
{
    struct block_state *b = c->srv->block;
    struct blocked *x = c->block_req ? find(b, c) : NULL;
    if (x == NULL)
        return;
    struct req *r = x->r;
    unlink_blocked(b, x);
    req_done(r); /* never answered: nobody reads it */
}

int block_unblock(struct conn *c, int err)
{
    struct block_state *b = c->srv->block;
    struct blocked *x = c->block_req ? find(b, c) : NULL;
    if (x == NULL)
        return 0;
    struct req *r = x->r;
    if (err)
        reply_error(r, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
    else
        answer_timeout(r, x->reply);
    unlink_blocked(b, x);
    req_done(r);
    conn_resume(c);
    return 1;
}

void block_end(struct server *s)
{
    struct block_state *b = s->block;
    while (b && b->head) {
        struct blocked *x = b->head;
        struct req *r = x->r;
        struct conn *c = r->c;
        answer_timeout(r, x->reply);
        unlink_blocked(b, x);
        req_done(r);
        conn_resume(c);
    }
}

void block_free(struct server *s)
{
    struct block_state *b = s->block;
    if (b == NULL)
        return;
    while (b->head) {
        struct blocked *x = b->head;
        b->head = x->next;
        if (x->tmo)
            event_free(x->tmo);
        free(x);
    }
    if (b->wake)
        event_free(b->wake);
    free(b);
    s->block = NULL;
}
