/*
 * pause.c - CLIENT PAUSE / CLIENT UNPAUSE.
 *
 * State (s->pause, created by the first CLIENT PAUSE): the pause type (off, WRITE, ALL),
 * its end in unix ms, and the list of held requests in the order they arrived. A new
 * CLIENT PAUSE keeps the stricter type and the later end, as Redis's pauseClients does; a
 * pause whose end has passed is off (CLIENT PAUSE 0 pauses nothing). A timer fires at the
 * end; CLIENT UNPAUSE activates it at once. When it runs and the pause is off (or has
 * become less strict), every held request is handed back to the dispatcher
 * (cmd_dispatch_run), which checks it against the pause again, as Redis re-processes its
 * postponed clients, and runs it.
 *
 * A held request stays in its connection's queue (its reply keeps its place) and is the
 * connection's pause_req: conn.c starts no later command of that connection meanwhile.
 * Invariant: c->pause_req is set exactly when that request is in the held list.
 */
#include "pause.h"

#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/time.h>

#include "cmd.h"
#include "conn.h"
#include "log.h"
#include "pubsub.h"
#include "reply.h"
#include "script.h"
#include "server.h"
#include "txn.h"

/* Longest wait armed at once: a pause of LLONG_MAX ms must not overflow the timer. */
#define PAUSE_TIMER_MAX_MS (3600 * 1000)

enum pause_type { PAUSE_OFF = 0, PAUSE_WRITE = 1, PAUSE_ALL = 2 };

struct pause {
    enum pause_type type;
    uint64_t end_ms; /* unix ms */
    struct event *ev;
    struct req *head, *tail; /* held requests (pause_next) */
    uint32_t n;
};

static void pause_on_timer(evutil_socket_t fd, short what, void *arg);

static struct pause *pause_state(struct server *s)
{
    if (s->pause == NULL) {
        struct pause *p = calloc(1, sizeof(*p));
        if (p == NULL)
            return NULL;
        p->ev = evtimer_new(s->base, pause_on_timer, s);
        if (p->ev == NULL) {
            free(p);
            return NULL;
        }
        s->pause = p;
    }
    return s->pause;
}

/* The type in force now: off once the end has passed (Redis: end < now). */
static enum pause_type pause_now(const struct server *s)
{
    const struct pause *p = s->pause;
    if (p == NULL || p->type == PAUSE_OFF || p->end_ms < server_unix_ms())
        return PAUSE_OFF;
    return p->type;
}

/* Whether WRITE holds command d: it writes, or Redis 7.0 flags it may-replicate (EVAL,
 * EVALSHA, FCALL, PUBLISH, SPUBLISH; FUNCTION's writing subcommands are writes there). */
static int pause_may_replicate(const struct cmd_def *d, const struct resp_arg *argv, uint32_t argc)
{
    if (d->flags & CMD_WRITE)
        return 1;
    if (d->proc == cmd_script_eval || d->proc == cmd_script_evalsha ||
        d->proc == cmd_script_fcall || d->proc == pubsub_cmd_publish ||
        d->proc == pubsub_cmd_spublish)
        return 1;
    return d->proc == cmd_script_function && argc > 1 &&
           (cmd_arg_is(&argv[1], "load") || cmd_arg_is(&argv[1], "delete") ||
            cmd_arg_is(&argv[1], "flush") || cmd_arg_is(&argv[1], "restore"));
}

static int pause_covers(const struct req *r, enum pause_type t)
{
    if (t == PAUSE_ALL)
        return 1;
    if (t == PAUSE_OFF)
        return 0;
    if (pause_may_replicate(r->cmd, r->argv, r->argc))
        return 1;
    return r->cmd->proc == cmd_txn_exec && txn_queued_any(r->c, pause_may_replicate);
}

int pause_hold(struct req *r)
{
    struct server *s = r->c->srv;
    if (r->parent || !pause_covers(r, pause_now(s)))
        return 0;
    struct pause *p = s->pause;
    r->pause_next = NULL;
    if (p->tail)
        p->tail->pause_next = r;
    else
        p->head = r;
    p->tail = r;
    p->n++;
    r->c->pause_req = r;
    return 1;
}

uint32_t pause_held_count(const struct server *s)
{
    return s->pause ? s->pause->n : 0;
}

/* Removes r from the held list. */
static void pause_unlink(struct pause *p, struct req *r)
{
    struct req **pp = &p->head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->pause_next;
    }
    if (*pp == NULL)
        return;
    *pp = r->pause_next;
    if (p->tail == r)
        p->tail = prev;
    p->n--;
    r->pause_next = NULL;
    r->c->pause_req = NULL;
}

void pause_conn_close(struct conn *c)
{
    struct req *r = c->pause_req;
    if (r == NULL)
        return;
    pause_unlink(c->srv->pause, r);
    req_done(r); /* never run: nobody reads its reply */
}

/* Hands every held request back to the dispatcher, in arrival order. */
static void pause_release(struct server *s)
{
    struct pause *p = s->pause;
    struct req *r = p->head;
    p->head = p->tail = NULL;
    p->n = 0;
    while (r) {
        struct req *next = r->pause_next;
        struct conn *c = r->c;
        r->pause_next = NULL;
        c->pause_req = NULL;
        cmd_dispatch_run(r, NULL, 0); /* may hold it again under a pause that is still on */
        conn_resume(c);               /* the commands it read meanwhile may start */
        r = next;
    }
}

static void pause_arm(struct server *s)
{
    struct pause *p = s->pause;
    uint64_t now = server_unix_ms(), left = p->end_ms > now ? p->end_ms - now : 0;
    if (left > PAUSE_TIMER_MAX_MS)
        left = PAUSE_TIMER_MAX_MS; /* a longer pause re-arms it (pause_on_timer) */
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 + 1000};
    evtimer_add(p->ev, &tv);
}

static void pause_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    enum pause_type t = pause_now(s);
    if (t == PAUSE_OFF)
        s->pause->type = PAUSE_OFF;
    else
        pause_arm(s); /* extended meanwhile; a WRITE pause still lets its reads go */
    pause_release(s);
    server_after_events(s);
}

void pause_client_pause(struct req *r)
{
    struct server *s = r->c->srv;
    enum pause_type t = PAUSE_ALL;
    long long ms;
    if (r->argc > 4) {
        reply_errorf(r,
                     "ERR unknown subcommand or wrong number of arguments for '%s'. Try "
                     "CLIENT HELP.",
                     r->argv[1].ptr);
        return;
    }
    if (r->argc == 4) {
        if (cmd_arg_is(&r->argv[3], "write")) {
            t = PAUSE_WRITE;
        } else if (!cmd_arg_is(&r->argv[3], "all")) {
            reply_error(r, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    if (cmd_arg_ll(&r->argv[2], &ms) < 0) {
        reply_error(r, "ERR timeout is not an integer or out of range");
        return;
    }
    if (ms < 0) {
        reply_error(r, "ERR timeout is negative");
        return;
    }
    struct pause *p = pause_state(s);
    if (p == NULL) {
        reply_error(r, "ERR out of memory");
        return;
    }
    uint64_t now = server_unix_ms();
    uint64_t end =
        ms == 0 ? 0 : ((uint64_t)ms > UINT64_MAX - now ? UINT64_MAX : now + (uint64_t)ms);
    if (pause_now(s) == PAUSE_OFF) { /* an expired pause counts for nothing */
        p->type = PAUSE_OFF;
        p->end_ms = 0;
    }
    p->type = t > p->type ? t : p->type;
    p->end_ms = end > p->end_ms ? end : p->end_ms;
    if (pause_now(s) != PAUSE_OFF)
        pause_arm(s);
    reply_ok(r);
}

void pause_client_unpause(struct req *r)
{
    struct server *s = r->c->srv;
    struct pause *p = s->pause;
    if (p) {
        p->type = PAUSE_OFF;
        p->end_ms = 0;
        event_active(p->ev, EV_TIMEOUT, 1); /* released from the loop, not inside UNPAUSE */
    }
    reply_ok(r);
}

void pause_end(struct server *s)
{
    if (s->pause == NULL)
        return;
    s->pause->type = PAUSE_OFF;
    s->pause->end_ms = 0;
    evtimer_del(s->pause->ev);
    pause_release(s);
}

void pause_free(struct server *s)
{
    if (s->pause == NULL)
        return;
    event_free(s->pause->ev);
    free(s->pause);
    s->pause = NULL;
}
