/*
 * reply.c - RESP replies for a request, and the one table of engine errors as clients see
 * them. Every helper writes into req_out(r) (the output buffer or the request's own slot)
 * in the connection's protocol, and any failed append (the output limit) sets the
 * connection's overflow flag, which the connection acts on when the reply is drained.
 * A reply silenced by CLIENT REPLY OFF|SKIP goes nowhere (req_out): its failed appends
 * are not an overflow.
 */
#include "reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "conn.h"
#include "logstor.h"
#include "resp.h"
#include "server.h"

void reply_check(struct req *r, int rc)
{
    if (rc < 0 && !r->silent) /* a silenced reply (CLIENT REPLY) fails by design */
        r->c->overflow = 1;
}

void reply_simple(struct req *r, const char *s)
{
    reply_check(r, resp_w_simple(req_out(r), s));
}

void reply_ok(struct req *r)
{
    reply_check(r, pbuf_append(req_out(r), "+OK\r\n", 5));
}

void reply_error(struct req *r, const char *s)
{
    r->c->srv->stats.errors++;
    if (r->c->kind == CONN_REDIS)
        cmd_server_stat_error(r, s);
    reply_check(r, resp_w_error(req_out(r), s));
}

void reply_errorf(struct req *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* An error line must not contain CR or LF. */
    for (char *p = buf; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    reply_error(r, buf);
}

void reply_int(struct req *r, int64_t v)
{
    reply_check(r, resp_w_int(req_out(r), v));
}

void reply_bulk(struct req *r, const void *p, size_t n)
{
    reply_check(r, resp_w_bulk(req_out(r), p, n));
}

void reply_cstr(struct req *r, const char *s)
{
    reply_check(r, resp_w_cstr(req_out(r), s));
}

void reply_null(struct req *r)
{
    reply_check(r, resp_w_null(req_out(r), r->proto));
}

void reply_null_array(struct req *r)
{
    reply_check(r, resp_w_null_array(req_out(r), r->proto));
}

void reply_array(struct req *r, size_t n)
{
    reply_check(r, resp_w_array(req_out(r), n));
}

void reply_map(struct req *r, size_t pairs)
{
    reply_check(r, resp_w_map(req_out(r), r->proto, pairs));
}

void reply_set(struct req *r, size_t n)
{
    reply_check(r, resp_w_set(req_out(r), r->proto, n));
}

void reply_double(struct req *r, double d)
{
    reply_check(r, resp_w_double(req_out(r), r->proto, d));
}

void reply_verbatim(struct req *r, const void *p, size_t n)
{
    reply_check(r, resp_w_verbatim(req_out(r), r->proto, "txt", p, n));
}

void reply_raw(struct req *r, const void *p, size_t n)
{
    reply_check(r, pbuf_append(req_out(r), p, n));
}

void reply_tmp(struct req *r)
{
    reply_check(r, pbuf_take(req_out(r), &r->tmp));
}

void reply_engine_error(struct req *r, int rc)
{
    switch (rc) {
    case LS_ENOSPACE:
        reply_error(r, "OOM command not allowed: disk full");
        return;
    case LS_EBUSY:
        reply_error(r, "ERR server busy, write backlog full (retry)");
        return;
    case LS_ETOOBIG:
        reply_error(r, ERR_TOO_BIG);
        return;
    case SRV_EWRONGTYPE:
        reply_error(r, ERR_WRONGTYPE);
        return;
    case LS_EBADTABLE:
        reply_error(r, ERR_DB_RANGE);
        return;
    case LS_ECORRUPT:
        reply_error(r, "ERR data corruption detected while reading the key");
        return;
    case LS_ECLOSING:
        reply_error(r, "ERR server is shutting down");
        return;
    case LS_EFAILED: {
        struct ls_stats st;
        ls_get_stats(r->c->srv->eng, &st);
        reply_errorf(r, "ERR engine failed: %s (writes refused, reads continue)",
                     ls_strerror(st.last_error ? st.last_error : rc));
        return;
    }
    default:
        reply_errorf(r, "ERR engine error: %s", ls_strerror(rc));
        return;
    }
}

const char *reply_mc_engine_error(int rc)
{
    switch (rc) {
    case LS_ENOSPACE:
        return "SERVER_ERROR out of space";
    case LS_ETOOBIG:
        return "SERVER_ERROR object too large for cache";
    case LS_EBUSY:
        return "SERVER_ERROR busy, write backlog full";
    case LS_EFAILED:
        return "SERVER_ERROR engine failed, writes refused";
    case LS_ECORRUPT:
        return "SERVER_ERROR data corruption detected";
    case LS_ECLOSING:
        return "SERVER_ERROR shutting down";
    case -ENOMEM:
        return "SERVER_ERROR out of memory";
    default:
        return "SERVER_ERROR engine error";
    }
}

void reply_lines(struct req *r, const char *const *lines, size_t n)
{
    reply_array(r, n);
    for (size_t i = 0; i < n; i++)
        reply_simple(r, lines[i]);
}
