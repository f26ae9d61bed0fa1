/*
 * conn.c - connection I/O, the request queue, backpressure and memory bounds.
 *
 * Input: commands are parsed from `in` at in_pos. The parsed prefix is not moved after
 * each batch: the buffer is reset when everything is parsed, and the unparsed tail (then
 * at most one partial command) moves to the front only when a read needs room at the end,
 * so a pipelined stream costs time linear in its bytes. The socket is read only while
 * the buffered bytes hold no complete command (nothing left, or in_stuck: the parser
 * wants more) and the connection may start commands. It may not at its in-flight cap
 * (max_inflight), with CONN_OUT_HIGH bytes of values being read (or half its output
 * limit, if lower), with client_query_buffer_limit bytes of arguments held by its
 * requests in flight, or while one of its writes is parked (park.c: no later command may
 * start before it is submitted), nor with CONN_OUT_HIGH bytes of replies pending and
 * values being read while the client is taking its replies (they were not offered to
 * the socket yet, or the socket took some in the last CONN_OUT_STALL_MS): a slow reader
 * is slowed down, not closed. A client whose replies do not move at all (the socket full
 * for CONN_OUT_STALL_MS) may be sending a whole pipeline before it reads (redis-py's pipeline
 * does): holding it back there left both sides waiting for good, so it is read on, as
 * Redis does, and its replies are bounded by client_output_buffer_limit (past it the
 * client is closed) and maxmemory_clients. The cron lets such clients go on
 * (conn_sweep_held). The read event is then removed (the peer's
 * TCP window fills and it slows down); when requests complete, reads complete, the output
 * drains or the parked write is submitted, the buffered commands run first and only then
 * is the socket read again. So the query buffer holds one partial command and one read's
 * worth at most, and client_query_buffer_limit is reached only by one command larger than
 * it: that client is closed, as in Redis.
 *
 * Values being read (issue 11 item 18): a read holds the engine's buffer of the record's
 * size until its callback runs, and each GET of a pipeline used to start its read at once
 * (64 GETs of 512 KiB: +135 MB RSS, unseen by maxmemory_clients). The bytes of the reads
 * in flight for a connection's commands (and of values mget.c holds until their turn) are
 * its read_bytes, charged to `mem`. Parsing stops while they (with the replies, as above)
 * reach the bound. Commands parsed while an earlier one waited for its locks (cmdlock.c)
 * are held to the same bound before they claim theirs (conn_may_claim), so GETs granted
 * together do not start all their reads at once either; there only the replies that can
 * leave without the held-back command count (when it is the oldest request, those of the
 * output buffer), so it waits for reads and for the client, never for itself. Either way at most
 * one command's values pass the bound (an MGET's: mget.c bounds those by the output limit).
 * Held-back commands are let claim by conn_on_read, activated by conn_resume: never from inside
 * another command's handler.
 *
 * End of input: a peer that shuts down its sending side (read returns 0) still gets every
 * reply: the buffered commands run, and the connection closes once they completed and
 * their replies are sent (a trailing partial command is dropped). A peer that closed
 * altogether makes the write fail, which closes the connection then.
 *
 * Output: a request's reply is written into the output buffer directly when the request
 * is at the head of the queue, else into its own buffer; when the head completes, the
 * run of completed requests behind it is moved to the output buffer in order. Connections
 * with new output join the server's write list, flushed once at the end of each event
 * callback so that a pipelined batch leaves in one write(2). All reply buffers of a
 * connection (output buffer, each request's buffer and scratch) share one account limited
 * by client_output_buffer_limit: an append past it fails, and the connection is closed
 * when that request completes (Redis's hard limit for normal clients).
 *
 * CLIENT REPLY OFF|SKIP: whether a request's reply is silenced is decided when the request
 * is created, in command order (r->silent, from c->reply_off and c->reply_skip, which the
 * dispatcher updates as it reads CLIENT REPLY). A silenced request's req_out is the
 * connection's sink, a buffer limited to one byte: every append fails and nothing is kept
 * (reply_check does not count that as an overflow). Pushes (pub/sub confirmations and
 * messages to the request's own connection) use req_push_out and are never silenced, as
 * Redis's CLIENT_PUSHING.
 *
 * Sending: with the engine open, conn_flush hands the pending replies to the engine's
 * ring (ls_send) instead of write(2): run_loop submits them with the rest of the turn's
 * I/O in one io_uring_enter and runs their callbacks right after (submit_turn), so a
 * turn that answers 50 clients makes a few system calls for their replies, not 50 (a
 * system call costs about 1.1 us on this VM, a fifteenth of a GET's CPU): every
 * SEND_BATCH replies queued go at once, the rest at the turn's end. `out` becomes
 * `sending` for the send (both charge out_acct) and new replies go to a fresh `out`
 * (the last sent buffer, kept). A send never waits for room: a full socket (-EAGAIN, or
 * fewer bytes than asked) leaves the rest in `sending`, the connection waits for EV_WRITE
 * as with write(2), and that rest is put back in front of `out` (one buffer, compacted as
 * write(2)'s: conn_unsend) to be sent first. A connection is not freed and its
 * descriptor not closed while a send is in the ring (the kernel looks the descriptor up
 * at submission: closed and reused by an accept, it would name another client).
 * Replicas (on_drain), a server without an engine and shutdown write(2), `sending`'s
 * rest first (conn_unsend). Invariant: send_busy => !in_free_list, and `sending` is not
 * touched until conn_send_done.
 *
 * Memory: a connection's account `mem` holds its query buffer, its requests and its reply
 * account; every open connection's adds up in s->client_mem, a closed one's (requests
 * still in flight) in s->client_mem_closing. Past maxmemory_clients the open connection
 * holding most is closed, then the next, as Redis 7's client eviction does.
 *
 * SYNC (cmd_sync.c) streams an RDB as its reply: the connection is marked replica (no
 * later command starts) and its on_drain hook hears of every write and of the close, so
 * the stream produces more only as the client takes it.
 *
 * Invariants: inflight <= nreqs; in_pos <= in.len; mem.used == in.cap + out_acct.used +
 * req_mem + read_bytes + its subscriptions (pubsub.c); a closed connection has fd -1 and no events,
 * and is freed (deferred, through the server's free list) only when nreqs == 0.
 */
#include "conn.h"
#include "large.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd.h"
#include "cmdlock.h"
#include "log.h"
#include "mcserver.h"
#include "monitor.h"
#include "block.h"
#include "pause.h"
#include "pubsub.h"
#include "server.h"
#include "tracking.h"
#include "txn.h"

#define CONN_READ_CHUNK   (16 * 1024)
#define CONN_READ_MAX     (1024 * 1024) /* most one read asks for (a large bulk's rest) */
#define CONN_OUT_HIGH     (4 * 1024 * 1024)
#define CONN_OUT_STALL_MS 100         /* replies unmoved this long: the client may not be reading */
#define CONN_BUF_KEEP     (64 * 1024) /* an empty buffer larger than this is freed */
#define CONN_OUT_MOVE     (256 * 1024) /* sent bytes dropped from `out` once past this and half */
/* Requests whose arguments fit in 512 bytes (most GET/SET/INCR) come from a free list
 * instead of malloc: malloc and free were a tenth of the CPU time of pipelined GETs. A
 * second class of 2 KiB holds memcached's storage commands of small values (their copy of
 * the parsed command is about 1,000 bytes before the data): calloc and free of each were
 * 6% of the time of memcached sets. At most 2 MiB of either class is kept. */
static const uint32_t req_pool_bytes[2] = {512, 2048};
static const uint32_t req_pool_max[2] = {4096, 1024};

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);

struct conn *conn_new(struct server *s, int fd, enum conn_kind kind)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    c->srv = s;
    c->fd = fd;
    c->kind = kind;
    c->id = ++s->next_client_id;
    c->proto = 2;
    c->authed = !config_requires_auth(&s->cfg);
    c->created_ms = server_mono_ms();
    c->last_ms = c->created_ms;
    c->mem.parent = &s->client_mem;
    c->out_acct.parent = &c->mem;
    c->out_acct.limit = s->cfg.client_output_buffer_limit;
    pbuf_init(&c->in, s->cfg.client_query_buffer_limit);
    pbuf_init(&c->out, s->cfg.client_output_buffer_limit);
    pbuf_init(&c->sending, s->cfg.client_output_buffer_limit);
    pbuf_init(&c->sink, 1);
    c->in.acct = &c->mem;
    c->out.acct = &c->out_acct;
    c->sending.acct = &c->out_acct;
    c->send_fd = -1;
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
    c->wev = event_new(s->base, fd, EV_WRITE, conn_on_write, c);
    c->kev = event_new(s->base, -1, 0, conn_on_read, c);
    if (c->rev == NULL || c->wev == NULL || c->kev == NULL || event_add(c->rev, NULL) < 0)
        goto fail;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    return c;
fail:
    if (c) {
        if (c->rev)
            event_free(c->rev);
        if (c->wev)
            event_free(c->wev);
        if (c->kev)
            event_free(c->kev);
        free(c);
    }
    close(fd);
    return NULL;
}

static void conn_schedule_free(struct conn *c)
{
    if (c->in_free_list || c->send_busy)
        return; /* the send's callback schedules it */
    c->in_free_list = 1;
    c->fnext = c->srv->free_list;
    c->srv->free_list = c;
}

void conn_close(struct conn *c, const char *why)
{
    struct server *s = c->srv;
    if (c->closed)
        return;
    log_verbose("client id=%llu addr=%s closed: %s", (unsigned long long)c->id, c->addr, why);
    pubsub_conn_close(c); /* its subscriptions end with the socket */
    monitor_conn_reset(c);
    tracking_conn_close(c);
    c->closed = 1;
    event_del(c->rev);
    event_del(c->wev);
    if (c->send_busy)
        c->send_fd = c->fd; /* its send may not be submitted yet: closed after it */
    else
        close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
    pbuf_free(&c->in);
    pbuf_free(&c->out);
    if (!c->send_busy) { /* else its callback frees it */
        pbuf_free(&c->sending);
        c->sending_pos = 0;
    }
    c->in_pos = c->pf_end = 0;
    c->out_pos = 0;
    /* What its requests still hold no longer counts against the open clients. */
    pbuf_acct_reparent(&c->mem, &s->client_mem_closing);
    pause_conn_close(c); /* its command held by CLIENT PAUSE completes unrun */
    block_conn_close(c); /* its blocked command completes unanswered */
    if (c->on_drain)
        c->on_drain(c->on_drain_arg); /* an RDB stream (cmd_sync.c) ends */
    if (c->nreqs == 0)
        conn_schedule_free(c);
    else
        conn_resume(c); /* commands held back for its replies to be read wait no more */
}

void conn_free(struct conn *c)
{
    txn_conn_reset(c);
    pbuf_free(&c->in);
    pbuf_free(&c->out);
    pbuf_free(&c->sending);
    ls_send_free(c->send_req);
    pbuf_free(&c->sink);
    pbuf_acct_sub(c->mem.parent, c->mem.used); /* 0 unless the accounting is wrong */
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->kev);
    free(c->argv);
    free(c->mcc);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    free(c);
}

void conn_stop_reading(struct conn *c)
{
    if (!c->closed)
        event_del(c->rev);
    c->read_paused = 1;
}

void conn_mark_write(struct conn *c)
{
    if (c->in_write_list || c->closed)
        return;
    c->in_write_list = 1;
    c->wnext = c->srv->write_list;
    c->srv->write_list = c;
}

static size_t conn_out_pending(const struct conn *c)
{
    return c->out.len - c->out_pos;
}

/* CONFIG SET client_output_buffer_limit applies to a connection from its next request
 * on (and at each completion): its account's bound and its two reply buffers' own (those
 * kept the limit of when it connected: a raised limit still closed it at the old one). */
static void conn_apply_out_limit(struct conn *c)
{
    size_t limit = c->srv->cfg.client_output_buffer_limit;
    c->out_acct.limit = c->out.limit = c->sending.limit = limit;
}

/* Replies the socket has not taken: `out`'s and what a send has left in `sending`. */
static size_t conn_unsent(const struct conn *c)
{
    return conn_out_pending(c) + (c->sending.len - c->sending_pos);
}

/* Bytes of values being read past which no new command starts: CONN_OUT_HIGH, or half
 * the output limit when that is lower (they become replies). */
static size_t conn_out_high(const struct conn *c)
{
    size_t half = c->out_acct.limit / 2;
    return half && half < CONN_OUT_HIGH ? half : CONN_OUT_HIGH;
}

/* The bytes the kernel holds in the socket's send queue, or -1. */
static int conn_sock_queued(const struct conn *c)
{
    int q;
    if (c->fd < 0 || ioctl(c->fd, SIOCOUTQ, &q) < 0)
        return -1;
    return q;
}

/* Whether the client stopped taking its replies: the socket was full and nothing left
 * for CONN_OUT_STALL_MS. Our writes are no measure of a client that reads steadily but
 * slower than its socket's send buffer drains in that time (a 4 MB buffer read at 13 MB/s
 * frees room for a write every 300 ms): the kernel's queue shrinking is (SIOCOUTQ). It is
 * asked once the time has passed, then at most once a CONN_OUT_STALL_MS: a stalled client
 * read on is asked this before each command it sends (an ioctl a command was half the
 * server's CPU under a 500,000-command pipeline). */
static int conn_out_stalled(struct conn *c)
{
    if (!c->out_blocked)
        return 0;
    uint64_t now = server_mono_ms();
    if (now - c->out_moved_ms < CONN_OUT_STALL_MS)
        return 0;
    if (now - c->out_asked_ms < CONN_OUT_STALL_MS)
        return 1; /* stalled when last asked */
    c->out_asked_ms = now;
    c->srv->stats.stall_probes++;
    int q = conn_sock_queued(c);
    if (q >= 0 && (uint32_t)q < c->out_queued) {
        c->out_moved_ms = now; /* it read meanwhile: the next look is a stall time away */
        c->out_queued = (uint32_t)q;
        return 0;
    }
    return 1;
}

/* Whether replies plus values being read hold the connection back: past the bound while
 * the client is taking its replies (see above). */
static int conn_replies_hold(struct conn *c, size_t replies)
{
    if (replies + c->read_bytes < conn_out_high(c))
        return 0;
    /* Replies not offered to the socket yet are no stall, however long the client was
     * quiet before: commands answered at once from memory (ls_get_mem) pile them up within
     * one turn of the loop, and a client that had waited for a lock for seconds was not let
     * past the bound by its old out_moved_ms. */
    return replies == 0 || !conn_out_stalled(c);
}

static int conn_may_start(struct conn *c)
{
    const struct config *cfg = &c->srv->cfg;
    return c->inflight < cfg->max_inflight && c->read_bytes < conn_out_high(c) &&
           !conn_replies_hold(c, c->out_acct.used) && c->req_mem < cfg->client_query_buffer_limit &&
           c->nparked == 0 && c->pause_req == NULL && c->block_req == NULL && !c->closed &&
           !c->close_after_reply && !c->replica && !c->srv->shutdown_asked;
}

int conn_may_claim(struct conn *c)
{
    size_t replies = c->out_acct.used;
    if (c->closed || c->srv->shutdown_asked)
        replies = 0; /* nobody reads them, or shutdown does not wait for clients to */
    else if (c->lk_head == c->head)
        replies = conn_unsent(c); /* the replies queued behind it wait for it */
    return c->read_bytes < conn_out_high(c) && !conn_replies_hold(c, replies);
}

void conn_sweep_held(struct server *s)
{
    for (struct conn *c = s->conns; c; c = c->next)
        if (!c->closed && (c->read_paused || (c->lk_head && c->lk_head->claim == NULL)))
            conn_resume(c); /* a client whose replies stopped moving is read on */
}

void conn_read_add(struct conn *c, uint64_t bytes)
{
    c->read_bytes += bytes;
    pbuf_acct_add(&c->mem, bytes);
}

void conn_read_sub(struct conn *c, uint64_t bytes)
{
    c->read_bytes -= bytes;
    pbuf_acct_sub(&c->mem, bytes);
}

/* Stops watching the socket until conn_resume (it is level-triggered). A connection whose
 * command CLIENT PAUSE holds is watched on while its query buffer has room
 * (conn_read_held). */
static void conn_pause(struct conn *c)
{
    if ((c->pause_req || c->block_req) && !c->eof &&
        c->in.len - c->in_pos < c->srv->cfg.client_query_buffer_limit)
        return;
    if (!c->closed && !c->read_paused) {
        c->read_paused = 1;
        event_del(c->rev);
    }
}

void conn_resume(struct conn *c)
{
    if (c->lk_head && c->lk_head->claim == NULL && conn_may_claim(c))
        event_active(c->kev, 0, 1); /* conn_on_read lets it claim first (closed too) */
    if (c->closed || !conn_may_start(c))
        return;
    if (c->read_paused) {
        c->read_paused = 0;
        if (!c->eof)
            event_add(c->rev, NULL);
    }
    /* run what is already buffered (not while conn_process runs it: a GET answered from
     * memory inside it kicked once per pipelined batch for nothing) */
    if (c->in_pos < c->in.len && !c->in_stuck && !c->in_process)
        event_active(c->kev, 0, 1);
}

/* After a partial write: drops the sent bytes once they are most of the buffer, so a
 * client that reads slowly but steadily does not keep a buffer that only grows. */
static void conn_out_compact(struct conn *c)
{
    if (c->out_pos >= CONN_OUT_MOVE && c->out_pos >= c->out.len / 2) {
        pbuf_consume(&c->out, c->out_pos);
        c->out_pos = 0;
    }
}

/* The socket took n bytes (write(2) or a send). */
static void conn_sent(struct conn *c, size_t n)
{
    uint64_t now = server_mono_ms(); /* one clock read for both */
    c->out_moved_ms = now;
    c->out_blocked = 0;
    c->srv->stats.net_output_bytes += (uint64_t)n;
    c->last_ms = now; /* a client taking its replies is not idle (Redis) */
}

/* The socket is full: wait for EV_WRITE, as long as the client does not read. */
static void conn_out_full(struct conn *c)
{
    if (!c->out_blocked) {
        c->out_moved_ms = server_mono_ms(); /* the stall counts from here */
        c->out_asked_ms = 0;
        int q = conn_sock_queued(c);
        c->out_queued = q > 0 ? (uint32_t)q : 0;
    }
    c->out_blocked = 1;
    conn_out_compact(c);
    event_add(c->wev, NULL);
    if (c->on_drain)
        c->on_drain(c->on_drain_arg);
    conn_resume(c); /* the replies sent may let a held-back command claim */
}

/* Everything was sent: keep or free the empty buffer, tell the drain hook, close after
 * the last reply, let held-back commands go on. */
static void conn_out_drained(struct conn *c)
{
    if (c->out_pos == c->out.len) {
        c->out_pos = 0;
        if (c->out.cap > CONN_BUF_KEEP)
            pbuf_free(&c->out);
        else
            pbuf_reset(&c->out);
    }
    if (c->on_drain)
        c->on_drain(c->on_drain_arg);
    if (c->close_after_reply && c->inflight == 0 && conn_out_pending(c) == 0) {
        conn_close(c, c->eof ? "peer closed" : "closed after reply");
        return;
    }
    conn_resume(c);
}

static void conn_send_done(void *arg, int res);
static void conn_check_overflow(struct conn *c);

/* Replies queued in a turn go to the kernel SEND_BATCH at a time, the rest at the turn's
 * end (run_loop). All at the end, the first client of a turn that served 25 waited for the
 * other 24 to be served: memtier's fixed-rate load (50 connections that send together)
 * read p50 0.50-0.54 ms against 0.41-0.46 with write(2) per reply and 0.43-0.53 for
 * redis-server. */
#define SEND_BATCH 8

/* The pending replies go to the engine's ring (see "Sending" above): first what an
 * earlier send left in `sending`, else `out`, which becomes `sending` for the send. */
static void conn_send(struct conn *c)
{
    struct server *s = c->srv;
    if (c->send_req == NULL && (c->send_req = ls_send_new(conn_send_done, c)) == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    if (c->sending_pos == c->sending.len) {
        struct pbuf t = c->sending; /* empty: its buffer, if any, is reused as `out` */
        c->sending = c->out;
        c->sending_pos = c->out_pos;
        c->out = t;
        c->out_pos = 0;
    }
    size_t n = c->sending.len - c->sending_pos;
    if (n > UINT32_MAX / 2)
        n = UINT32_MAX / 2;
    c->send_busy = 1;
    s->sends_queued++;
    ls_send(s->eng, c->send_req, c->fd, c->sending.data + c->sending_pos, (uint32_t)n);
    if (++s->sends_held >= SEND_BATCH) {
        s->sends_held = 0;
        /* failed: the turn's end submits them. Completions waiting: the turn's end polls
         * them (submit_turn), or its last ls_submit wakes ls_fd for them. */
        (void)ls_submit_quiet(s->eng);
    }
}

/* What `sending` still holds goes back in front of `out`: for write(2) when sends are
 * off (shutdown), and when a send came back short. */
static void conn_unsend(struct conn *c)
{
    if (c->sending_pos < c->sending.len) {
        if (c->out_pos) {
            pbuf_consume(&c->out, c->out_pos);
            c->out_pos = 0;
        }
        /* pbuf_take: `out` is not charged twice while it is copied */
        if (pbuf_take(&c->sending, &c->out) < 0) {
            c->overflow = 1; /* past the limit: closed after the request that completes next */
            pbuf_free(&c->out);
        }
        c->out = c->sending;
        c->out_pos = c->sending_pos;
        pbuf_init(&c->sending, c->out.limit);
        c->sending.acct = &c->out_acct;
    }
    c->sending_pos = 0;
}

static void conn_send_done(void *arg, int res)
{
    struct conn *c = arg;
    c->send_busy = 0;
    if (c->closed) {
        pbuf_free(&c->sending);
        c->sending_pos = 0;
        if (c->send_fd >= 0)
            close(c->send_fd);
        c->send_fd = -1;
        if (c->nreqs == 0)
            conn_schedule_free(c);
        return;
    }
    if (res < 0 && res != -EAGAIN && res != -EINTR) {
        conn_close(c, strerror(-res));
        return;
    }
    if (res > 0) {
        c->sending_pos += (size_t)res;
        conn_sent(c, (size_t)res);
    }
    if (c->sending_pos < c->sending.len) {
        /* the socket is full: the rest and the newer replies become one buffer, whose sent
         * prefix conn_out_full drops, as with write(2). Kept apart, `sending` stayed
         * charged whole, sent bytes included, while `out` grew: a client reading slowly
         * was charged up to twice its backlog and closed at the output limit. */
        conn_unsend(c);
        if (c->overflow) { /* the merge did not fit: close now, not after a next request */
            conn_check_overflow(c);
            return;
        }
        conn_out_full(c);
        return;
    }
    /* all sent: the buffer is reused unless newer replies have one, or it is large */
    if (c->out.cap == 0 && c->sending.cap <= CONN_BUF_KEEP) {
        pbuf_reset(&c->sending);
        struct pbuf t = c->out;
        c->out = c->sending;
        c->sending = t;
    } else {
        pbuf_free(&c->sending);
    }
    c->sending_pos = 0;
    if (conn_out_pending(c))
        conn_mark_write(c);
    else
        conn_out_drained(c);
}

void conn_flush(struct conn *c)
{
    if (c->closed || c->send_busy)
        return; /* the send's callback goes on */
    if (c->srv->eng && c->srv->sends && !c->on_drain && !c->replica) {
        if (conn_unsent(c)) {
            conn_send(c);
            return;
        }
    } else {
        conn_unsend(c);
    }
    while (!c->closed && conn_out_pending(c) > 0) {
        ssize_t n = write(c->fd, c->out.data + c->out_pos, conn_out_pending(c));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_out_full(c);
                return;
            }
            conn_close(c, strerror(errno));
            return;
        }
        c->out_pos += (size_t)n;
        conn_sent(c, (size_t)n);
    }
    if (c->closed)
        return;
    conn_out_drained(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    conn_flush(c);
    server_after_events(c->srv);
}

/* Everything buffered was parsed: empty the buffer (freeing a large one). */
static void conn_in_reset(struct conn *c)
{
    c->in_pos = c->pf_end = 0;
    c->in_stuck = 0;
    if (c->in.cap > CONN_BUF_KEEP)
        pbuf_free(&c->in);
    else
        pbuf_reset(&c->in);
}

/* The peer sent its last byte and every complete command has been started: close once
 * they are answered (conn_flush). */
static void conn_input_ended(struct conn *c)
{
    if (!c->eof || (c->in_pos < c->in.len && !c->in_stuck))
        return;
    conn_in_reset(c); /* a partial command can no longer complete */
    c->close_after_reply = 1;
    conn_mark_write(c);
}

/* Parses and dispatches buffered commands while the connection may start more. */
static void conn_process(struct conn *c)
{
    if (c->in_process)
        return;
    c->in_process = 1;
    c->clk_us = 0;
    if (c->kind == CONN_REDIS)
        cmd_prefetch(c);
    while (c->in_pos < c->in.len && !c->in_stuck) {
        if (!conn_may_start(c)) {
            conn_pause(c);
            break;
        }
        c->in_need = 0;
        int n = c->kind == CONN_REDIS ? cmd_process_one(c) : mcs_process_one(c);
        if (n == 0) {
            c->in_stuck = 1;
            c->in_want = c->in.len - c->in_pos + (c->in_need ? c->in_need : 1);
        }
        if (n <= 0)
            break;
    }
    if (!c->closed && c->in_pos == c->in.len)
        conn_in_reset(c);
    c->in_process = 0;
    if (!c->closed)
        conn_input_ended(c);
}

/* Makes room for one read: want bytes at the end of `in`, moving the unparsed tail to the
 * front first when the room is short. Returns 0, or -ENOBUFS when the unparsed bytes
 * already fill client_query_buffer_limit. */
static int conn_in_room(struct conn *c, size_t want)
{
    c->in.limit = c->srv->cfg.client_query_buffer_limit; /* CONFIG SET applies at once */
    if (c->in_pos > 0 && c->in.cap - c->in.len < want) {
        pbuf_consume(&c->in, c->in_pos);
        c->pf_end = c->pf_end > c->in_pos ? c->pf_end - c->in_pos : 0;
        c->in_pos = 0;
    }
    int rc = pbuf_reserve(&c->in, want);
    if (rc == -ENOBUFS && c->in.len < c->in.limit)
        rc = pbuf_reserve(&c->in, c->in.limit - c->in.len);
    return rc;
}

/* A read while CLIENT PAUSE holds c's command (pause.c): what the client sends meanwhile is
 * buffered, up to client_query_buffer_limit (then the socket is no longer watched), and
 * a client that closes is closed at once, its held command dropped, as Redis frees a
 * paused client that disconnects (so closed clients do not hold descriptors for the
 * length of a pause). */
static void conn_read_held(struct conn *c)
{
    if (conn_in_room(c, CONN_READ_CHUNK) < 0) {
        conn_pause(c);
        return;
    }
    ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c, n == 0 ? "peer closed while its command was paused" : strerror(errno));
        return;
    }
    c->in.len += (size_t)n;
    c->srv->stats.net_input_bytes += (uint64_t)n;
    if (c->in_stuck && c->in.len - c->in_pos >= c->in_want)
        c->in_stuck = 0;
    if (c->in.len - c->in_pos >= c->srv->cfg.client_query_buffer_limit)
        conn_pause(c);
}

/* One read(2) into `in`, when the buffered bytes hold no complete command. A partial
 * bulk's known rest is read in one go (up to CONN_READ_MAX). */
static void conn_read(struct conn *c)
{
    struct server *s = c->srv;
    if ((c->pause_req || c->block_req) && !c->eof) {
        conn_read_held(c);
        return;
    }
    if (!conn_may_start(c)) {
        conn_pause(c);
        return;
    }
    if (c->eof || (c->in_pos < c->in.len && !c->in_stuck))
        return;
    size_t unparsed = c->in.len - c->in_pos, want = CONN_READ_CHUNK;
    if (c->in_stuck && c->in_want > unparsed + want)
        want = c->in_want - unparsed < CONN_READ_MAX ? c->in_want - unparsed : CONN_READ_MAX;
    int rc = conn_in_room(c, want);
    if (rc < 0) {
        if (rc == -ENOBUFS) {
            log_warning("client id=%llu addr=%s closed: query buffer limit reached (%zu bytes)",
                        (unsigned long long)c->id, c->addr, c->in.len);
            s->stats.query_limit_disconnects++;
        }
        conn_close(c, rc == -ENOBUFS ? "query buffer limit" : "out of memory");
        return;
    }
    ssize_t n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        conn_close(c, strerror(errno));
        return;
    }
    if (n == 0) {
        c->eof = 1; /* answer what was sent, then close (conn_input_ended) */
        event_del(c->rev);
    } else {
        c->in.len += (size_t)n;
        s->stats.net_input_bytes += (uint64_t)n;
        c->last_ms = server_mono_ms();
        if (c->in_stuck && c->in.len - c->in_pos >= c->in_want)
            c->in_stuck = 0;
    }
    conn_process(c);
}

/* The socket is readable (rev, what EV_READ), or the connection was kicked (kev, what 0:
 * conn_resume, its held commands may claim or buffered ones start). Only the first reads
 * the socket: a kick that read too made a loop of its own of pipelining clients (their
 * read, replies, flush, kick, read again) that never let libevent back to epoll_wait, so
 * the other clients waited for as long as the pipeliners kept sending (a PING 500 ms
 * behind redis-benchmark -P 16). */
static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    cmdlock_resume(c); /* the commands held back by conn_may_claim go first */
    if (!c->closed) {
        conn_process(c); /* then those already buffered */
        if (!c->closed && (what & EV_READ))
            conn_read(c);
    }
    server_after_events(c->srv);
}

void conn_evict(struct server *s)
{
    uint64_t limit = s->cfg.maxmemory_clients;
    while (limit && s->client_mem.used > limit) {
        struct conn *big = NULL; /* CLIENT NO-EVICT on: never this one */
        for (struct conn *c = s->conns; c; c = c->next)
            if (!c->no_evict && (big == NULL || c->mem.used > big->mem.used))
                big = c;
        if (big == NULL)
            return;
        log_warning("client id=%llu addr=%s evicted: it holds %zu bytes, clients %zu, "
                    "maxmemory_clients %llu",
                    (unsigned long long)big->id, big->addr, big->mem.used, s->client_mem.used,
                    (unsigned long long)limit);
        s->stats.evicted_clients++;
        conn_close(big, "maxmemory_clients");
    }
}

struct req *conn_req_new(struct conn *c, size_t extra, void **extra_out)
{
    struct server *s = c->srv;
    struct req *r;
    size_t bytes = sizeof(*r) + extra;
    int k = bytes <= req_pool_bytes[0] ? 0 : 1;
    if (bytes <= req_pool_bytes[1]) {
        r = s->req_pool[k];
        if (r) {
            s->req_pool[k] = r->next;
            s->req_pool_n[k]--;
        } else if ((r = malloc(req_pool_bytes[k])) == NULL) {
            return NULL;
        }
        memset(r, 0, sizeof(*r));
        r->pooled = (uint8_t)(k + 1);
        bytes = req_pool_bytes[k];
    } else if (bytes > UINT32_MAX || (r = calloc(1, bytes)) == NULL) {
        return NULL;
    }
    r->c = c;
    r->db = c->db;
    r->proto = (uint8_t)c->proto;
    r->silent = c->reply_off | c->reply_skip; /* CLIENT REPLY, in command order */
    c->reply_skip = 0;
    r->mem_bytes = (uint32_t)bytes;
    c->req_mem += bytes;
    pbuf_acct_add(&c->mem, bytes);
    pbuf_init(&r->buf, s->cfg.client_output_buffer_limit);
    pbuf_init(&r->tmp, s->cfg.client_output_buffer_limit);
    r->buf.acct = r->tmp.acct = &c->out_acct;
    conn_apply_out_limit(c); /* its reply is held to the limit of now */
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->inflight++;
    c->nreqs++;
    s->inflight++;
    if (extra_out)
        *extra_out = r + 1;
    return r;
}

struct pbuf *req_out(struct req *r)
{
    if (r->silent) {
        pbuf_reset(&r->c->sink); /* every append past 1 byte fails: nothing is kept */
        return &r->c->sink;
    }
    return r == r->c->head ? &r->c->out : &r->buf;
}

struct pbuf *req_push_out(struct req *r)
{
    return r == r->c->head ? &r->c->out : &r->buf;
}

void conn_reply_mode(struct conn *c, struct req *r, int mode)
{
    if (mode == 0) { /* ON: its own +OK is sent */
        c->reply_off = c->reply_skip = 0;
        r->silent = 0;
    } else if (mode == 1) {
        c->reply_off = 1;
    } else if (!c->reply_off) {
        c->reply_skip = 1; /* the next command read */
    }
}

static void req_free(struct req *r)
{
    struct conn *c = r->c;
    struct server *s = c->srv;
    if (r->aux_free && r->aux)
        r->aux_free(r->aux);
    if (r->pl)
        large_op_free(r);
    free(r->xs_root);
    r->xs_root = NULL;
    free(r->lk_items);
    free(r->child_mem[0]);
    free(r->child_mem[1]);
    pbuf_free(&r->buf);
    pbuf_free(&r->tmp);
    c->req_mem -= r->mem_bytes;
    pbuf_acct_sub(&c->mem, r->mem_bytes);
    int k = r->pooled - 1;
    if (r->pooled && s->req_pool_n[k] < req_pool_max[k]) {
        r->next = s->req_pool[k];
        s->req_pool[k] = r;
        s->req_pool_n[k]++;
        return;
    }
    free(r);
}

void conn_pool_free(struct server *s)
{
    for (int k = 0; k < 2; k++) {
        while (s->req_pool[k]) {
            struct req *r = s->req_pool[k];
            s->req_pool[k] = r->next;
            free(r);
        }
        s->req_pool_n[k] = 0;
    }
}

/* Moves the completed requests at the head of the queue to the output buffer. */
static void conn_drain(struct conn *c)
{
    int wrote = 0;
    while (c->head && c->head->done) {
        struct req *r = c->head;
        c->head = r->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->nreqs--;
        req_free(r);
        wrote = 1;
        pubsub_conn_drained(c); /* pushes held while r's reply was in progress follow it */
        struct req *h = c->head;
        if (h && h->buf.cap > 0 && !c->closed && pbuf_take(&c->out, &h->buf) < 0)
            c->overflow = 1;
    }
    if (c->closed) {
        if (c->nreqs == 0)
            conn_schedule_free(c);
        return;
    }
    if (wrote)
        conn_mark_write(c);
}

/* A reply did not fit client_output_buffer_limit (or memory): close, as Redis does past
 * its hard limit. */
static void conn_check_overflow(struct conn *c)
{
    if (!c->overflow || c->closed)
        return;
    log_warning("client id=%llu addr=%s closed: output buffer limit reached (%zu bytes of "
                "replies, limit %zu)",
                (unsigned long long)c->id, c->addr, c->out_acct.used, c->out_acct.limit);
    c->srv->stats.output_limit_disconnects++;
    conn_close(c, "output buffer limit");
}

void req_unlock(struct req *r)
{
    if (r->nparked)
        return;
    if (r->parent)
        txn_child_submitted(r);
    else
        cmdlock_release(r);
}

struct req *req_child_new(struct req *parent, uint32_t db)
{
    struct conn *c = parent->c;
    struct req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->c = c;
    r->parent = parent;
    r->db = db;
    r->proto = parent->proto;
    r->mem_bytes = sizeof(*r);
    c->req_mem += sizeof(*r);
    pbuf_acct_add(&c->mem, sizeof(*r));
    pbuf_init(&r->buf, c->srv->cfg.client_output_buffer_limit);
    pbuf_init(&r->tmp, c->srv->cfg.client_output_buffer_limit);
    r->buf.acct = r->tmp.acct = &c->out_acct;
    return r;
}

void req_child_free(struct req *r)
{
    req_free(r);
}

void req_done(struct req *r)
{
    if (r->parent) { /* EXEC's: its reply is EXEC's to take (r may be freed by then) */
        r->done = 1;
        txn_child_done(r);
        return;
    }
    struct conn *c = r->c;
    if (r->mon_feed) { /* Redis shows a command once it ran */
        r->mon_feed = 0;
        monitor_feed(r);
    }
    r->done = 1;
    c->inflight--;
    c->srv->inflight--;
    cmdlock_release(r);
    conn_apply_out_limit(c);
    if (r == c->head)
        conn_drain(c);
    conn_check_overflow(c);
    conn_resume(c); /* a closed connection's held-back commands must still complete */
}
