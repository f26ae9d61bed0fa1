/*
 * resp.h - the Redis protocol (RESP2/RESP3): a request parser and reply encoders.
 *
 * The parser is a pure function over a byte buffer: it knows nothing of sockets or of the
 * engine, allocates nothing, and checks every length against struct resp_limits before
 * trusting it. Arguments point into the caller's buffer (zero copy); inline commands
 * (telnet, `redis-cli` in some modes) are unquoted and unescaped in place, which is why
 * the buffer is writable.
 */
#ifndef LS_RESP_H
#define LS_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pbuf.h"

/* What a client that has not authenticated may send (requirepass set), as Redis: a larger
 * multibulk count or bulk length is a protocol error, so an unauthenticated peer cannot
 * make the server hold more than a few KiB for it. */
#define RESP_UNAUTH_MAX_ARGS 10
#define RESP_UNAUTH_MAX_BULK 16384

struct resp_limits {
    uint32_t max_args;   /* most arguments in one command (Redis: 1024*1024) */
    uint64_t max_bulk;   /* largest bulk string (proto-max-bulk-len, 512 MiB) */
    uint32_t max_inline; /* longest inline command line (Redis: 64 KiB) */
    int unauth;          /* 1: the RESP_UNAUTH_* limits apply too */
};

struct resp_arg {
    char *ptr;
    size_t len;
};

/* Result of parsing. */
enum resp_status {
    RESP_DONE = 1,   /* a whole command parsed: argc/argv set, consumed bytes */
    RESP_MORE = 0,   /* need more input; `need` is a lower bound of the bytes missing
                        (0 when unknown), so a caller can wait for a large bulk */
    RESP_ERROR = -1, /* protocol error; `err` is the Redis error text (without "-ERR "),
                        e.g. "Protocol error: invalid multibulk length"; the caller
                        replies and closes the connection as Redis does */
};

struct resp_parse_out {
    size_t consumed; /* bytes of the command (RESP_DONE) */
    size_t need;     /* RESP_MORE: lower bound of bytes still needed */
    uint32_t argc;   /* RESP_DONE: arguments (0 for an empty inline line, "*0" or
                        "*-1": skip the command); RESP_MORE: 0, or the argument
                        count when argv is too small (see resp_parse) */
    int is_inline;
    const char *err; /* RESP_ERROR: the message; a static string or errbuf */
    char errbuf[48]; /* holds a message that names a byte from the input
                        ("Protocol error: expected '$', got 'X'"); err may point
                        here, so copy the struct only after using err */
};

/* Parses the first command in buf[0..len). Every field of *out is written on every call.
 *
 * RESP_DONE: argv[0..argc) point into buf (binary safe, not NUL-terminated); drop
 * out->consumed bytes. argc 0 is an empty command ("*0", "*-5", an empty inline line):
 * consume it and reply nothing, as Redis does.
 *
 * RESP_MORE: read more and call again with the same bytes at the front of buf. need is
 * a lower bound of the bytes missing (for a partial bulk: the rest of its data, so the
 * caller can wait for a large value without re-parsing); buf is not modified.
 *
 * Too many arguments for argv: when the whole command is present and has more than
 * argv_cap arguments (never more than lim->max_args), the call returns RESP_MORE with
 * need == 0 and out->argc set to the count; argv[0..argv_cap) may have been written but
 * buf is not modified. The caller grows argv to out->argc entries and parses again. A
 * partial command never asks for growth, so argv grows only with bytes received.
 *
 * RESP_ERROR: err is the reply text (without the leading '-'); the caller replies and
 * closes the connection, as Redis does. With lim->unauth, a multibulk count above
 * RESP_UNAUTH_MAX_ARGS is "Protocol error: unauthenticated multibulk length" and a bulk
 * length above RESP_UNAUTH_MAX_BULK "Protocol error: unauthenticated bulk length", each
 * reported as soon as its header line is complete (Redis's checks, in Redis's order).
 *
 * Inline commands are unescaped in place, only on RESP_DONE. Deviations from Redis,
 * chosen so that the result does not depend on how the input is split into reads: an
 * inline line (or a "*N"/"$N" header line) longer than lim->max_inline is an error even
 * when its newline has arrived. Like Redis, the two bytes after a bulk's data are skipped
 * without checking that they are "\r\n", and "\r" ends a header line whatever follows.
 * Pure function: any thread, no state. */
enum resp_status resp_parse(char *buf, size_t len, const struct resp_limits *lim,
                            struct resp_arg *argv, uint32_t argv_cap, struct resp_parse_out *out);

/* Reply encoders. proto is 2 or 3 (RESP2/RESP3): where RESP3 has a richer type the
 * encoder picks it (null, map, set, double, boolean, verbatim), and the RESP2 fallback
 * Redis uses otherwise. Each returns 0 or the pbuf error.
 * Simple strings and errors are one line: a '\r' or '\n' in s is sent as a space, as Redis
 * does. resp_w_errorf truncates its message at 511 bytes. A double is formatted with
 * "%.17g"; infinities as "inf"/"-inf", NaN as "nan". Each encoder appends the whole element
 * or, on error, nothing. */
int resp_w_simple(struct pbuf *o, const char *s); /* +s */
int resp_w_error(struct pbuf *o, const char *s);  /* -s (s includes the code) */
int resp_w_errorf(struct pbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int resp_w_int(struct pbuf *o, int64_t v);                /* :v */
int resp_w_bulk(struct pbuf *o, const void *p, size_t n); /* $n p */
int resp_w_cstr(struct pbuf *o, const char *s);           /* bulk of a C string */
int resp_w_null(struct pbuf *o, int proto);               /* $-1 or _ */
int resp_w_null_array(struct pbuf *o, int proto);         /* *-1 or _ */
int resp_w_array(struct pbuf *o, size_t n);               /* *n */
int resp_w_map(struct pbuf *o, int proto, size_t pairs);  /* %n or *2n */
int resp_w_set(struct pbuf *o, int proto, size_t n);      /* ~n or *n */
int resp_w_double(struct pbuf *o, int proto, double d);   /* ,d or bulk */
int resp_w_bool(struct pbuf *o, int proto, int b);        /* #t/#f or :1/:0 */
/* RESP3: "=<n+4>\r\n<fmt3>:<p>\r\n"; RESP2: a bulk of p. fmt3 is three characters such as
 * "txt" or "mkd" (anything else, or NULL, is sent as "txt"). */
int resp_w_verbatim(struct pbuf *o, int proto, const char *fmt3, const void *p, size_t n);
/* RESP3 push / attribute are not needed yet. */

#endif
