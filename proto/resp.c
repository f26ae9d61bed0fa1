/*
 * resp.c - RESP2/RESP3 request parser and reply encoders.
 *
 * The parser is stateless: each call parses the first command of the buffer from its
 * first byte, the way Redis's processMultibulkBuffer/processInlineBuffer would if they
 * kept no state between reads. Re-parsing is cheap because only header lines are
 * scanned: a bulk's data is skipped by its length, never searched, so waiting for a
 * 500 MiB value costs one header parse per read, and out->need tells the caller how
 * many bytes to wait for.
 *
 * Invariants:
 *   1. No byte at or past buf[len] is read; every index is checked against len first.
 *   2. Every length from the input is checked against lim before it is used, and sums
 *      are computed in uint64_t so they cannot wrap.
 *   3. buf is written only on RESP_DONE of an inline command (unescaped in place; the
 *      write position never passes the read position).
 *   4. A header line is accepted only within lim->max_inline bytes, so the result does
 *      not depend on how the input was split into reads.
 *
 * The encoders reserve the whole reply element before writing, so a failed encoder
 * leaves the output buffer unchanged.
 */
#include "resp.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The smallest encoding of one more argument: "$0\r\n\r\n". */
#define RESP_MIN_ARG_BYTES 6

static enum resp_status resp_fail(struct resp_parse_out *out, const char *msg)
{
    out->err = msg;
    return RESP_ERROR;
}

static enum resp_status resp_more(struct resp_parse_out *out, uint64_t need)
{
    out->need = need > SIZE_MAX ? SIZE_MAX : (size_t)need;
    return RESP_MORE;
}

/* Redis's string2ll: optional '-', no leading zeros, no '+', no spaces, fits in 64 bits. */
static int resp_str2ll(const char *s, size_t n, long long *v)
{
    size_t i = 0;
    int neg = 0;
    if (n == 0 || n > 20)
        return 0;
    if (n == 1 && s[0] == '0') {
        *v = 0;
        return 1;
    }
    if (s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || s[i] < '1' || s[i] > '9')
        return 0;
    unsigned long long u = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (18446744073709551615ULL - d) / 10)
            return 0;
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *v = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)u;
    } else {
        if (u > (unsigned long long)LLONG_MAX)
            return 0;
        *v = (long long)u;
    }
    return 1;
}

/* Finds the '\r' ending the header line at pos. Returns 1 with *cr set when the line and
 * the byte after '\r' are present, 0 when more input is needed, -1 when the line is longer
 * than max (Redis: PROTO_INLINE_MAX_SIZE). */
static int resp_header(const char *buf, size_t len, size_t pos, size_t max, size_t *cr)
{
    size_t avail = len - pos;
    size_t window = avail < max ? avail : max;
    const char *p = memchr(buf + pos, '\r', window);
    if (!p)
        return avail > max ? -1 : 0;
    *cr = (size_t)(p - buf);
    return *cr + 2 <= len ? 1 : 0;
}

/* Parses one "$len\r\n<data>\r\n" at *pos. remaining is the number of arguments after
 * this one, used only for the lower bound in out->need. */
static enum resp_status resp_bulk(char *buf, size_t len, size_t *pos, const struct resp_limits *lim,
                                  struct resp_arg *arg, uint64_t remaining,
                                  struct resp_parse_out *out)
{
    size_t cr;
    uint64_t rest_min = remaining * RESP_MIN_ARG_BYTES;
    int h = resp_header(buf, len, *pos, lim->max_inline, &cr);
    if (h < 0)
        return resp_fail(out, "Protocol error: too big bulk count string");
    if (h == 0)
        return resp_more(out, 1 + rest_min);
    if (buf[*pos] != '$') {
        snprintf(out->errbuf, sizeof(out->errbuf), "Protocol error: expected '$', got '%c'",
                 buf[*pos]);
        return resp_fail(out, out->errbuf);
    }
    long long ll;
    if (!resp_str2ll(buf + *pos + 1, cr - *pos - 1, &ll) || ll < 0 || (uint64_t)ll > lim->max_bulk)
        return resp_fail(out, "Protocol error: invalid bulk length");
    if (lim->unauth && ll > RESP_UNAUTH_MAX_BULK)
        return resp_fail(out, "Protocol error: unauthenticated bulk length");
    size_t start = cr + 2;
    uint64_t want = (uint64_t)ll + 2;
    if ((uint64_t)(len - start) < want)
        return resp_more(out, want - (len - start) + rest_min);
    arg->ptr = buf + start;
    arg->len = (size_t)ll;
    *pos = start + (size_t)want;
    return RESP_DONE;
}

static enum resp_status resp_multibulk(char *buf, size_t len, const struct resp_limits *lim,
                                       struct resp_arg *argv, uint32_t argv_cap,
                                       struct resp_parse_out *out)
{
    size_t cr;
    int h = resp_header(buf, len, 0, lim->max_inline, &cr);
    if (h < 0)
        return resp_fail(out, "Protocol error: too big mbulk count string");
    if (h == 0)
        return resp_more(out, 1);
    long long n;
    if (!resp_str2ll(buf + 1, cr - 1, &n) || n > INT_MAX)
        return resp_fail(out, "Protocol error: invalid multibulk length");
    if (lim->unauth && n > RESP_UNAUTH_MAX_ARGS)
        return resp_fail(out, "Protocol error: unauthenticated multibulk length");
    if (n > (long long)lim->max_args)
        return resp_fail(out, "Protocol error: invalid multibulk length");
    size_t pos = cr + 2;
    if (n <= 0) {
        out->consumed = pos;
        return RESP_DONE;
    }
    for (long long i = 0; i < n; i++) {
        struct resp_arg arg;
        enum resp_status st = resp_bulk(buf, len, &pos, lim, &arg, (uint64_t)(n - i - 1), out);
        if (st != RESP_DONE)
            return st;
        if (i < (long long)argv_cap)
            argv[i] = arg;
    }
    if (n > (long long)argv_cap) {
        out->argc = (uint32_t)n;
        return resp_more(out, 0);
    }
    out->argc = (uint32_t)n;
    out->consumed = pos;
    return RESP_DONE;
}

/* ---- inline commands: Redis's sdssplitargs over buf[0..end) ---- */

struct resp_split {
    char *buf;
    size_t end; /* the line, without its "\r\n" */
    size_t i;   /* read position */
    int write;  /* 0: count only; 1: unescape in place */
};

/* The byte at i, or 0 past the end: sdssplitargs works on a C string, so a NUL inside
 * the line ends it there too. */
static int resp_at(const struct resp_split *s, size_t i)
{
    return i < s->end ? (unsigned char)s->buf[i] : 0;
}

static int resp_isspace(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int resp_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void resp_put(struct resp_split *s, size_t w, size_t *n, int c)
{
    if (s->write)
        s->buf[w + *n] = (char)c;
    (*n)++;
}

static int resp_unescape(int c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* One step inside "double quotes": returns 1 when the closing quote was read, 0 to go
 * on, -1 on unbalanced quotes. */
static int resp_dquote_step(struct resp_split *s, size_t w, size_t *n)
{
    int c = resp_at(s, s->i);
    int c1 = resp_at(s, s->i + 1);
    if (c == '\\' && c1 == 'x' && resp_hexval(resp_at(s, s->i + 2)) >= 0 &&
        resp_hexval(resp_at(s, s->i + 3)) >= 0) {
        resp_put(s, w, n,
                 resp_hexval(resp_at(s, s->i + 2)) * 16 + resp_hexval(resp_at(s, s->i + 3)));
        s->i += 3;
    } else if (c == '\\' && c1) {
        s->i++;
        resp_put(s, w, n, resp_unescape(c1));
    } else if (c == '"') {
        /* The closing quote must be followed by a space or nothing at all. */
        return c1 && !resp_isspace(c1) ? -1 : 1;
    } else if (!c) {
        return -1;
    } else {
        resp_put(s, w, n, c);
    }
    return 0;
}

static int resp_squote_step(struct resp_split *s, size_t w, size_t *n)
{
    int c = resp_at(s, s->i);
    int c1 = resp_at(s, s->i + 1);
    if (c == '\\' && c1 == '\'') {
        s->i++;
        resp_put(s, w, n, '\'');
    } else if (c == '\'') {
        return c1 && !resp_isspace(c1) ? -1 : 1;
    } else if (!c) {
        return -1;
    } else {
        resp_put(s, w, n, c);
    }
    return 0;
}

/* Reads one token starting at s->i (no leading space), writing it at buf[w] when
 * s->write. Returns 0 with *n set, or -1 on unbalanced quotes. */
static int resp_token(struct resp_split *s, size_t w, size_t *n)
{
    int inq = 0, insq = 0, done = 0;
    *n = 0;
    while (!done) {
        int c = resp_at(s, s->i);
        if (inq || insq) {
            int r = inq ? resp_dquote_step(s, w, n) : resp_squote_step(s, w, n);
            if (r < 0)
                return -1;
            done = r;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0) {
            done = 1;
        } else if (c == '"') {
            inq = 1;
        } else if (c == '\'') {
            insq = 1;
        } else {
            resp_put(s, w, n, c);
        }
        if (resp_at(s, s->i))
            s->i++;
    }
    return 0;
}

/* Splits the line: counts tokens, and fills argv when s->write. Returns the count or -1
 * on unbalanced quotes. The line is at most max_inline bytes, so the count fits. */
static long resp_split(struct resp_split *s, struct resp_arg *argv, uint32_t argv_cap)
{
    long argc = 0;
    s->i = 0;
    for (;;) {
        while (resp_at(s, s->i) && resp_isspace(resp_at(s, s->i)))
            s->i++;
        if (!resp_at(s, s->i))
            return argc;
        size_t w = s->i, n;
        if (resp_token(s, w, &n) < 0)
            return -1;
        if (s->write && (uint64_t)argc < argv_cap) {
            argv[argc].ptr = s->buf + w;
            argv[argc].len = n;
        }
        argc++;
    }
}

static enum resp_status resp_inline(char *buf, size_t len, const struct resp_limits *lim,
                                    struct resp_arg *argv, uint32_t argv_cap,
                                    struct resp_parse_out *out)
{
    size_t window = len <= lim->max_inline ? len : (size_t)lim->max_inline + 1;
    const char *nl = memchr(buf, '\n', window);
    out->is_inline = 1;
    if (!nl) {
        if (len > lim->max_inline)
            return resp_fail(out, "Protocol error: too big inline request");
        return resp_more(out, 1);
    }
    size_t end = (size_t)(nl - buf);
    if (end > 0 && buf[end - 1] == '\r')
        end--;
    struct resp_split s = {.buf = buf, .end = end, .write = 0};
    long argc = resp_split(&s, NULL, 0);
    if (argc < 0)
        return resp_fail(out, "Protocol error: unbalanced quotes in request");
    if ((uint64_t)argc > lim->max_args)
        return resp_fail(out, "Protocol error: invalid multibulk length");
    out->argc = (uint32_t)argc;
    if ((uint64_t)argc > argv_cap)
        return resp_more(out, 0);
    s.write = 1;
    resp_split(&s, argv, argv_cap);
    out->consumed = (size_t)(nl - buf) + 1;
    return RESP_DONE;
}

enum resp_status resp_parse(char *buf, size_t len, const struct resp_limits *lim,
                            struct resp_arg *argv, uint32_t argv_cap, struct resp_parse_out *out)
{
    out->consumed = 0;
    out->need = 0;
    out->argc = 0;
    out->is_inline = 0;
    out->err = NULL;
    out->errbuf[0] = '\0';
    if (len == 0)
        return resp_more(out, 1);
    if (buf[0] == '*')
        return resp_multibulk(buf, len, lim, argv, argv_cap, out);
    return resp_inline(buf, len, lim, argv, argv_cap, out);
}

/* ---- encoders ---- */

/* Appends <type><s>\r\n with '\r' and '\n' in s replaced by spaces, as Redis does for
 * status and error replies, so a reply can never be split in two. */
static int resp_w_line(struct pbuf *o, char type, const char *s, size_t n)
{
    int rc = pbuf_reserve(o, n + 3);
    if (rc)
        return rc;
    o->data[o->len++] = type;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        o->data[o->len++] = (c == '\r' || c == '\n') ? ' ' : c;
    }
    o->data[o->len++] = '\r';
    o->data[o->len++] = '\n';
    return 0;
}

/* Writes <type><v>\r\n at d (room for 24 bytes) and returns its length: by hand, as
 * snprintf cost ~5% of a large KEYS reply (one header per key). */
static size_t resp_fmt_num(char *d, char type, int neg, uint64_t mag)
{
    size_t n = 0;
    d[n++] = type;
    if (neg)
        d[n++] = '-';
    n += pbuf_fmt_u64(d + n, mag);
    d[n++] = '\r';
    d[n++] = '\n';
    return n;
}

/* Appends <type><v>\r\n, e.g. "*3\r\n" or ":-1\r\n". */
static int resp_w_num(struct pbuf *o, char type, long long v)
{
    char tmp[32];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; /* LLONG_MIN too */
    return pbuf_append(o, tmp, resp_fmt_num(tmp, type, v < 0, mag));
}

/* Appends <hdr><p[0..n)>\r\n as one unit: all of it or, on error, nothing. */
static int resp_w_framed(struct pbuf *o, const char *hdr, size_t hlen, const void *p, size_t n)
{
    if (n > SIZE_MAX - hlen - 2)
        return -ENOBUFS;
    int rc = pbuf_reserve(o, hlen + n + 2);
    if (rc)
        return rc;
    memcpy(o->data + o->len, hdr, hlen);
    if (n)
        memcpy(o->data + o->len + hlen, p, n);
    memcpy(o->data + o->len + hlen + n, "\r\n", 2);
    o->len += hlen + n + 2;
    return 0;
}

int resp_w_simple(struct pbuf *o, const char *s)
{
    return resp_w_line(o, '+', s, strlen(s));
}

int resp_w_error(struct pbuf *o, const char *s)
{
    return resp_w_line(o, '-', s, strlen(s));
}

int resp_w_errorf(struct pbuf *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    /* Longer messages are truncated: an error line is for humans. */
    return resp_w_line(o, '-', tmp, strlen(tmp));
}

int resp_w_int(struct pbuf *o, int64_t v)
{
    return resp_w_num(o, ':', (long long)v);
}

int resp_w_bulk(struct pbuf *o, const void *p, size_t n)
{
    char hdr[32];
    return resp_w_framed(o, hdr, resp_fmt_num(hdr, '$', 0, n), p, n);
}

int resp_w_cstr(struct pbuf *o, const char *s)
{
    return resp_w_bulk(o, s, strlen(s));
}

int resp_w_null(struct pbuf *o, int proto)
{
    return proto >= 3 ? pbuf_append(o, "_\r\n", 3) : pbuf_append(o, "$-1\r\n", 5);
}

int resp_w_null_array(struct pbuf *o, int proto)
{
    return proto >= 3 ? pbuf_append(o, "_\r\n", 3) : pbuf_append(o, "*-1\r\n", 5);
}

int resp_w_array(struct pbuf *o, size_t n)
{
    return resp_w_num(o, '*', (long long)n);
}

int resp_w_map(struct pbuf *o, int proto, size_t pairs)
{
    return proto >= 3 ? resp_w_num(o, '%', (long long)pairs)
                      : resp_w_num(o, '*', (long long)pairs * 2);
}

int resp_w_set(struct pbuf *o, int proto, size_t n)
{
    return resp_w_num(o, proto >= 3 ? '~' : '*', (long long)n);
}

int resp_w_double(struct pbuf *o, int proto, double d)
{
    char num[64];
    if (isinf(d))
        snprintf(num, sizeof(num), "%s", d > 0 ? "inf" : "-inf");
    else if (isnan(d))
        snprintf(num, sizeof(num), "nan");
    else
        snprintf(num, sizeof(num), "%.17g", d);
    if (proto >= 3)
        return resp_w_framed(o, ",", 1, num, strlen(num));
    return resp_w_cstr(o, num);
}

int resp_w_bool(struct pbuf *o, int proto, int b)
{
    if (proto >= 3)
        return pbuf_append(o, b ? "#t\r\n" : "#f\r\n", 4);
    return pbuf_append(o, b ? ":1\r\n" : ":0\r\n", 4);
}

int resp_w_verbatim(struct pbuf *o, int proto, const char *fmt3, const void *p, size_t n)
{
    if (proto < 3)
        return resp_w_bulk(o, p, n);
    if (n > SIZE_MAX - 4)
        return -ENOBUFS;
    char hdr[48];
    const char *f = fmt3 && strlen(fmt3) == 3 ? fmt3 : "txt";
    int h = snprintf(hdr, sizeof(hdr), "=%zu\r\n%s:", n + 4, f);
    return resp_w_framed(o, hdr, (size_t)h, p, n);
}
