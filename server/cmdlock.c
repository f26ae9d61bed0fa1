/*
 * cmdlock.c - the concurrency rule (stated in lockset.c) applied to requests.
 *
 * A request declares its keys (r->keys in r->db, read or written as r->lk says) and
 * whole databases (r->lk); cmdlock_start turns them into one lockset claim and runs the
 * request's handler once the claim is granted. Requests that declare nothing (PING,
 * INFO, SELECT, AUTH, CLIENT ...) run at once: they touch no key, and the connection-state
 * ones must run before the next command is parsed.
 *
 * Connection order (rule 5): a connection's claiming requests wait in its lk_head queue
 * until the one before them was granted; only the queue's head may be waiting in the
 * lockset. When the head is granted, its handler runs and the next requests claim in
 * turn, as long as each is granted at once.
 *
 * Memory (issue 11 item 18): the next request claims only while its connection's value
 * bytes in flight and replies pending are below their bound (conn_may_claim), else it
 * waits, holding no lock, until the engine completes reads or the client takes replies
 * (conn.c then calls cmdlock_resume from the read event). Without this, GETs parsed while
 * the first of them waited for a key's lock all started their reads at once when it was
 * granted. The wait is for reads already submitted and requests already granted, which
 * need no lock and always complete, and for the client: no cycle is added to lockset.c's
 * argument.
 *
 * Release: the handler calls req_unlock once its writes are submitted (conn.c: not while
 * one is parked) and cmdlock_reads_submitted once its reads are; req_done releases
 * whatever is left. Releasing may grant and run other requests before it returns.
 */
#include "cmdlock.h"

#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "lockset.h"
#include "log.h"
#include "mcserver.h"
#include "reply.h"
#include "resp.h"
#include "server.h"
#include "txn.h"

#define CMDLOCK_STACK_ITEMS 8

static int cmdlock_declares(const struct req *r)
{
    return r->nkeys > 0 || r->lk_nitems > 0 || (r->lk & (CMDLOCK_DB_READ | CMDLOCK_DB_WRITE));
}

/* Fills items with r's declaration. Returns the count. */
static uint32_t cmdlock_items(const struct req *r, struct lockset_item *items)
{
    const struct server *s = r->c->srv;
    uint8_t kmode = (r->lk & CMDLOCK_KEYS_WRITE) ? LOCKSET_EXCLUSIVE : LOCKSET_SHARED;
    uint8_t dmode = (r->lk & CMDLOCK_DB_WRITE) ? LOCKSET_EXCLUSIVE : LOCKSET_SHARED;
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->nkeys; i++)
        items[n++] = (struct lockset_item){r->db, kmode, 0, r->keys[i].ptr, r->keys[i].len};
    if (r->lk & (CMDLOCK_DB_READ | CMDLOCK_DB_WRITE)) {
        uint32_t first = r->db, last = r->db;
        if (r->lk & CMDLOCK_ALL_DBS) {
            first = 0;
            last = (uint32_t)s->cfg.databases - 1;
        }
        for (uint32_t db = first; db <= last; db++)
            items[n++] = (struct lockset_item){db, dmode, 1, NULL, 0};
    }
    return n;
}

static void cmdlock_granted(void *arg);

/* Makes r's claim. Returns 1 granted, 0 waiting, or a negative code. */
static int cmdlock_claim(struct req *r)
{
    struct server *s = r->c->srv;
    if (r->lk_nitems)
        return lockset_claim(s->locks, r->lk_items, r->lk_nitems, cmdlock_granted, r, &r->claim);
    struct lockset_item stack[CMDLOCK_STACK_ITEMS], *items = stack;
    size_t max = (size_t)r->nkeys + ((r->lk & CMDLOCK_ALL_DBS) ? s->cfg.databases : 1);
    if (max > CMDLOCK_STACK_ITEMS && (items = malloc(max * sizeof(*items))) == NULL)
        return -ENOMEM;
    uint32_t n = cmdlock_items(r, items);
    int rc = lockset_claim(s->locks, items, n, cmdlock_granted, r, &r->claim);
    if (items != stack)
        free(items);
    return rc;
}

/* A claim that could not be made: the request cannot run under the rule. */
static void cmdlock_fail(struct req *r, int rc)
{
    log_warning("client id=%llu addr=%s closed: cannot claim the locks of a command: %s",
                (unsigned long long)r->c->id, r->c->addr,
                rc == -ENOMEM ? "out of memory" : "bad database");
    conn_close(r->c, "out of memory for locks");
    req_done(r);
}

static void cmdlock_push(struct conn *c, struct req *r)
{
    r->lk_next = NULL;
    if (c->lk_tail)
        c->lk_tail->lk_next = r;
    else
        c->lk_head = r;
    c->lk_tail = r;
}

static struct req *cmdlock_pop(struct conn *c)
{
    struct req *r = c->lk_head;
    c->lk_head = r->lk_next;
    if (c->lk_head == NULL)
        c->lk_tail = NULL;
    r->lk_next = NULL;
    return r;
}

/* A whole-database read (KEYS, SCAN, DBSIZE, RANDOMKEY) shares its database with the
 * writers of keys in it, so the rule alone would let it run before writes its own
 * connection sent earlier were submitted (MSET ... k4; GETDEL k4; KEYS * listed k4). It
 * claims only once the connection's earlier requests hold no lock: a connection sees its
 * own commands in order, as in Redis. (Writers of a whole database take it exclusive and
 * wait for everyone's earlier claims anyway.) */
static int cmdlock_earlier_hold(const struct conn *c, const struct req *r)
{
    if (!(r->lk & CMDLOCK_DB_READ) || (r->lk & CMDLOCK_DB_WRITE) || r->lk_nitems)
        return 0;
    for (const struct req *e = c->head; e && e != r; e = e->next)
        if (e->claim)
            return 1;
    return 0;
}

/* Once shutdown is asked, a request that has not started yet does not start: like Redis,
 * which runs no command after it decides to exit, and shutdown waits for what runs only
 * (984 queued ZADDs of a large set each rewriting it kept a SIGTERM'd server busy for
 * minutes, and ran on inside ls_close). It answers an error nobody may read: it was
 * never acknowledged. Returns 1 when r was dropped. */
static int cmdlock_dropping(const struct req *r)
{
    return r->c->srv->shutdown_asked && !r->parent;
}

static int cmdlock_drop(struct req *r)
{
    if (!cmdlock_dropping(r))
        return 0;
    if (r->mc) { /* in its own protocol (review of 8d409b3) */
        mcs_refuse(r, "SERVER_ERROR the server is shutting down");
        return 1;
    }
    reply_error(r, "ERR the server is shutting down");
    req_done(r); /* (its claim, when granted, is released there) */
    return 1;
}

/* Claims for the requests at the head of c's queue, running each one granted at once,
 * until one has to wait (it stays at the head), c's memory bound holds the next one back
 * (conn_may_claim), or the queue is empty. */
static void cmdlock_advance(struct conn *c)
{
    while (c->lk_head && c->lk_head->claim == NULL && conn_may_claim(c) &&
           !cmdlock_earlier_hold(c, c->lk_head)) {
        struct req *r = c->lk_head;
        if (cmdlock_dropping(r)) {
            cmdlock_pop(c);
            cmdlock_drop(r);
            continue;
        }
        int rc = cmdlock_claim(r);
        if (rc == 0)
            return;
        cmdlock_pop(c);
        if (rc == 1)
            r->exec(r);
        else
            cmdlock_fail(r, rc);
    }
}

/* lockset callback: the head of its connection's queue was granted. */
static void cmdlock_granted(void *arg)
{
    struct req *r = arg;
    struct conn *c = r->c;
    cmdlock_pop(c);
    if (!cmdlock_drop(r))
        r->exec(r);
    cmdlock_advance(c);
}

void cmdlock_start(struct req *r)
{
    struct conn *c = r->c;
    r->claim = NULL;
    if (!cmdlock_declares(r)) {
        r->exec(r);
        return;
    }
    cmdlock_push(c, r);
    if (c->lk_head == r)
        cmdlock_advance(c);
}

void cmdlock_resume(struct conn *c)
{
    cmdlock_advance(c);
}

void cmdlock_release(struct req *r)
{
    struct lockset_claim *cl = r->claim;
    if (cl == NULL)
        return;
    r->claim = NULL;
    lockset_release(r->c->srv->locks, cl);
    if (r->c->lk_head && r->c->lk_head->claim == NULL)
        conn_resume(r->c); /* a whole-database read may wait for this release */
}

void cmdlock_reads_submitted(struct req *r)
{
    if (r->hold_claim)
        return;      /* more reads follow (SORT_RO): released when it is done */
    if (r->parent) { /* run by EXEC: a reading command lets the next one start */
        if (!(r->lk & CMDLOCK_KEYS_WRITE))
            txn_child_submitted(r);
        return;
    }
    if (r->claim && !lockset_claim_writes(r->claim))
        cmdlock_release(r);
}
