/*
 * server.c - the event loop's phases: the engine's eventfd, the 10 ms tick, the 100 ms
 * cron, signals, and the deferred pass that ends every callback.
 *
 * Every event callback ends with server_after_events, which (0) runs the engine work
 * the callback's calls queued (the engine is opened with caller_polls: it does not wake
 * its eventfd for them, so a read from the device is submitted here, without an eventfd
 * write, a wake-up and an eventfd read; a few rounds at most, then the eventfd),
 * (1) writes out the replies
 * queued during the callback, one write(2) per connection, (2) closes the clients that
 * take the memory of all clients past maxmemory_clients, (3) frees connections that
 * were closed and have no request left, and (4) ends the loop once a requested shutdown
 * has no request in flight. Doing these at one point keeps callbacks from freeing a
 * connection that a caller further up the stack still uses.
 *
 * Shutdown (SIGTERM, SIGINT, SHUTDOWN): listeners close, every connection stops reading,
 * the requests already started (including those waiting on key locks, and writes parked
 * until the engine has room, park.c) run to completion and their replies are sent; then
 * the loop ends and main fails the writes still parked, and closes the engine, which
 * flushes its write buffers. A shutdown that has not drained after SERVER_SHUTDOWN_MS is
 * forced: ls_close still completes every engine operation in flight.
 */
#include "server.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "logstor.h"
#include "net.h"
#include "park.h"
#include "block.h"
#include "pause.h"
#include "pubsub.h"
#include "rconfig.h"
#include "script.h"

uint64_t server_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t server_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void server_poll_engine(struct server *s, int pending)
{
    int rc = pending ? ls_poll_pending(s->eng) : ls_poll(s->eng);
    if (rc < 0 && rc != -EAGAIN)
        log_warning("engine poll: %s", ls_strerror(rc));
    park_retry(s); /* completions may have freed buffers or segments */
}

/* Rounds of engine work run here before the loop is asked to come back through ls_fd
 * instead: a chain of answers from memory (an MGET, a pipeline) must not keep one
 * callback from letting the others run. */
#define AFTER_EVENTS_POLLS 4

void server_after_events(struct server *s)
{
    /* The engine does not wake its eventfd for work queued by our calls (caller_polls):
     * a read submitted here leaves now, without an eventfd write, a wake-up and a read. */
    for (int i = 0; s->eng && ls_wants_poll(s->eng); i++) {
        if (i == AFTER_EVENTS_POLLS) {
            ls_wake(s->eng);
            break;
        }
        server_poll_engine(s, 1);
    }
    pubsub_after_events(s); /* subscribers past their output limit */
    while (s->write_list) {
        struct conn *c = s->write_list;
        s->write_list = c->wnext;
        c->wnext = NULL;
        c->in_write_list = 0;
        conn_flush(c);
    }
    conn_evict(s);
    while (s->free_list) {
        struct conn *c = s->free_list;
        s->free_list = c->fnext;
        conn_free(c);
    }
    if (s->eng && ls_wants_poll(s->eng))
        ls_wake(s->eng); /* queued by what ran after the polls (a close): the eventfd's */
    if (s->shutdown_asked && s->inflight == 0)
        event_base_loopbreak(s->base);
}

void server_request_shutdown(struct server *s, const char *why)
{
    if (s->shutdown_asked)
        return;
    s->shutdown_asked = 1;
    s->shutdown_start_ms = server_mono_ms();
    script_shutdown(s); /* a script running busy stops */
    pause_end(s);       /* commands held by CLIENT PAUSE run (or fail) now */
    block_end(s);       /* commands blocked on lists answer as at their timeout */
    log_notice("%s: shutting down (%llu requests in flight)", why, (unsigned long long)s->inflight);
    net_close(s);
    for (struct conn *c = s->conns; c; c = c->next)
        conn_stop_reading(c);
}

void server_engine_stats(const struct server *s, struct ls_stats *st)
{
    if (s->eng)
        ls_get_stats(s->eng, st);
    else
        memset(st, 0, sizeof(*st));
}

uint64_t server_engine_count(const struct server *s, uint32_t t)
{
    return s->eng ? ls_count(s->eng, t) : 0;
}

uint64_t server_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

int server_oom(const struct server *s)
{
    uint64_t max = rconfig_live()->maxmemory;
    return max != 0 && s->used_memory > max;
}
