/*
 * conn.c - connection I/O, the request queue and backpressure.
 *
 * Input: one read(2) per readable event into `in` (bounded by client_query_buffer_limit),
 * then as many complete commands as the connection may start are parsed and dispatched.
 * Parsing stops at the in-flight cap (max_inflight), when more than CONN_OUT_HIGH reply
 * bytes wait to be sent, or while one of the connection's writes is parked (park.c: the
 * engine said busy, and no later command may start before that write is submitted); the
 * read event is then removed (the peer's TCP window fills and it slows down), and put
 * back, with a kick to parse what is already buffered, when requests complete, the
 * output drains or the parked write is submitted.
 *
 * Output: a request's reply is written into the output buffer directly when the request
 * is at the head of the queue, else into its own buffer; when the head completes, the
 * run of completed requests behind it is appended in order. Connections with new output
 * join the server's write list, flushed once at the end of each event callback so that a
 * pipelined batch leaves in one write(2).
 *
 * Invariants: inflight <= nreqs; a closed connection has fd -1 and no events, and is freed
 * (deferred, through the server's free list) only when nreqs == 0.
 */
#include "conn.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "keylock.h"
#include "log.h"
#include "mcserver.h"
#include "server.h"

#define CONN_READ_CHUNK (16 * 1024)
#define CONN_OUT_HIGH   (4 * 1024 * 1024)
#define CONN_IN_KEEP    (1024 * 1024)
/* Requests whose arguments fit in this many bytes (most GET/SET/INCR) come from a free
 * list instead of malloc: malloc and free were a tenth of the CPU time of pipelined GETs. */
#define CONN_REQ_POOL_BYTES 512
#define CONN_REQ_POOL_MAX   4096

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
    pbuf_init(&c->in, s->cfg.client_query_buffer_limit);
    pbuf_init(&c->out, s->cfg.client_output_buffer_limit);
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
    c->wev = event_new(s->base, fd, EV_WRITE, conn_on_write, c);
    if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) < 0)
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
        free(c);
    }
    close(fd);
    return NULL;
}

static void conn_schedule_free(struct conn *c)
{
    if (c->in_free_list)
        return;
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
    c->closed = 1;
    event_del(c->rev);
    event_del(c->wev);
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
    c->out_pos = 0;
    if (c->nreqs == 0)
        conn_schedule_free(c);
}

void conn_free(struct conn *c)
{
    pbuf_free(&c->in);
    pbuf_free(&c->out);
    event_free(c->rev);
    event_free(c->wev);
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

static void conn_mark_write(struct conn *c)
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

static int conn_may_start(const struct conn *c)
{
    return c->inflight < c->srv->cfg.max_inflight && conn_out_pending(c) < CONN_OUT_HIGH &&
           c->nparked == 0 && !c->closed && !c->close_after_reply && !c->srv->shutdown_asked;
}

void conn_resume(struct conn *c)
{
    if (!c->read_paused || !conn_may_start(c))
        return;
    c->read_paused = 0;
    event_add(c->rev, NULL);
    event_active(c->rev, EV_READ, 1); /* parse what is already buffered */
}

void conn_flush(struct conn *c)
{
    while (!c->closed && conn_out_pending(c) > 0) {
        ssize_t n = write(c->fd, c->out.data + c->out_pos, conn_out_pending(c));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->wev, NULL);
                return;
            }
            conn_close(c, strerror(errno));
            return;
        }
        c->out_pos += (size_t)n;
        c->srv->stats.net_output_bytes += (uint64_t)n;
    }
    if (c->closed)
        return;
    if (c->out_pos == c->out.len) {
        c->out_pos = 0;
        if (c->out.cap > 1024 * 1024)
            pbuf_free(&c->out);
        else
            pbuf_reset(&c->out);
    }
    if (c->close_after_reply && c->inflight == 0) {
        conn_close(c, "closed after reply");
        return;
    }
    conn_resume(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    conn_flush(c);
    server_after_events(c->srv);
}

/* Parses and dispatches buffered commands while the connection may start more. */
static void conn_process(struct conn *c)
{
    if (c->in_process)
        return;
    c->in_process = 1;
    while (c->in_pos < c->in.len) {
        if (!conn_may_start(c)) {
            if (!c->closed && !c->read_paused) {
                c->read_paused = 1;
                event_del(c->rev);
            }
            break;
        }
        int n = c->kind == CONN_REDIS ? cmd_process_one(c) : mcs_process_one(c);
        if (n <= 0)
            break;
    }
    if (!c->closed && c->in_pos > 0) {
        pbuf_consume(&c->in, c->in_pos);
        c->in_pos = 0;
        if (c->in.len == 0 && c->in.cap > CONN_IN_KEEP)
            pbuf_free(&c->in); /* do not keep a large value's buffer per connection */
    }
    c->in_process = 0;
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct server *s = c->srv;
    (void)what;
    if (!conn_may_start(c)) {
        /* At the cap, closing or shutting down: stop watching the socket (it is
         * level-triggered) until conn_resume. */
        if (!c->closed && !c->read_paused) {
            c->read_paused = 1;
            event_del(c->rev);
        }
        server_after_events(s);
        return;
    }
    int rc = pbuf_reserve(&c->in, CONN_READ_CHUNK);
    if (rc == -ENOBUFS && c->in.len < c->in.limit)
        rc = pbuf_reserve(&c->in, c->in.limit - c->in.len);
    if (rc < 0) {
        if (c->in_pos < c->in.len && rc == -ENOBUFS) {
            log_warning("client id=%llu addr=%s closed: query buffer limit reached (%zu bytes)",
                        (unsigned long long)c->id, c->addr, c->in.len);
            s->stats.query_limit_disconnects++;
        }
        conn_close(c, "query buffer limit");
        server_after_events(s);
        return;
    }
    ssize_t n = read(fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
        conn_close(c, n == 0 ? "peer closed" : strerror(errno));
        server_after_events(s);
        return;
    }
    if (n > 0) {
        c->in.len += (size_t)n;
        s->stats.net_input_bytes += (uint64_t)n;
        c->last_ms = server_mono_ms();
    }
    conn_process(c);
    server_after_events(s);
}

struct req *conn_req_new(struct conn *c, size_t extra, void **extra_out)
{
    struct server *s = c->srv;
    struct req *r;
    if (sizeof(*r) + extra <= CONN_REQ_POOL_BYTES) {
        r = s->req_pool;
        if (r) {
            s->req_pool = r->next;
            s->req_pool_n--;
        } else if ((r = malloc(CONN_REQ_POOL_BYTES)) == NULL) {
            return NULL;
        }
        memset(r, 0, sizeof(*r));
        r->pooled = 1;
    } else if ((r = calloc(1, sizeof(*r) + extra)) == NULL) {
        return NULL;
    }
    r->c = c;
    r->db = c->db;
    pbuf_init(&r->buf, c->srv->cfg.client_output_buffer_limit);
    pbuf_init(&r->tmp, c->srv->cfg.client_output_buffer_limit);
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
    return r == r->c->head ? &r->c->out : &r->buf;
}

static void req_free(struct req *r)
{
    if (r->aux_free && r->aux)
        r->aux_free(r->aux);
    pbuf_free(&r->buf);
    pbuf_free(&r->tmp);
    struct server *s = r->c->srv;
    if (r->pooled && s->req_pool_n < CONN_REQ_POOL_MAX) {
        r->next = s->req_pool;
        s->req_pool = r;
        s->req_pool_n++;
        return;
    }
    free(r);
}

void conn_pool_free(struct server *s)
{
    while (s->req_pool) {
        struct req *r = s->req_pool;
        s->req_pool = r->next;
        free(r);
    }
    s->req_pool_n = 0;
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
        struct req *h = c->head;
        if (h && h->buf.len > 0 && !c->closed) {
            if (pbuf_append(&c->out, h->buf.data, h->buf.len) < 0)
                c->overflow = 1;
            pbuf_free(&h->buf);
        }
    }
    if (c->closed) {
        if (c->nreqs == 0)
            conn_schedule_free(c);
        return;
    }
    if (c->overflow) {
        log_warning("client id=%llu addr=%s closed: output buffer limit reached",
                    (unsigned long long)c->id, c->addr);
        c->srv->stats.output_limit_disconnects++;
        conn_close(c, "output buffer limit");
        return;
    }
    if (wrote)
        conn_mark_write(c);
}

void req_unlock(struct req *r)
{
    if (r->locked && r->nparked == 0)
        keylock_leave(r->c->srv->locks, r);
}

void req_done(struct req *r)
{
    struct conn *c = r->c;
    r->done = 1;
    c->inflight--;
    c->srv->inflight--;
    if (r->locked)
        keylock_leave(c->srv->locks, r);
    if (r == c->head)
        conn_drain(c);
    if (!c->closed)
        conn_resume(c);
}
