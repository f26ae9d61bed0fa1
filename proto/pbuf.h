/*
 * pbuf.h - a growable byte buffer with a hard limit, used for replies and query input.
 *
 * Every append checks the limit before it allocates: an append that would take the
 * buffer past pb->limit fails with -ENOBUFS and leaves the buffer unchanged. Growth is
 * geometric. The buffer owns its memory; free it with pbuf_free.
 *
 * Buffers may share an account (struct pbuf_acct): the bytes they have allocated, counted
 * up a chain of accounts (a connection's reply buffers -> the connection -> every client),
 * each with an optional limit. A growth that would take any account of the chain past its
 * limit fails with -ENOBUFS like the buffer's own limit, so a set of buffers (all the
 * pending replies of one connection) has one bound however many buffers it holds.
 * Single-threaded, like the buffers.
 */
#ifndef LS_PBUF_H
#define LS_PBUF_H

#include <stddef.h>
#include <stdint.h>

struct pbuf_acct {
    size_t used;              /* bytes allocated by the buffers charged here (and below) */
    size_t limit;             /* most bytes allowed; 0: no limit (a counter) */
    struct pbuf_acct *parent; /* charged the same bytes; NULL at the top */
};

struct pbuf {
    char *data;
    size_t len;             /* bytes in use */
    size_t cap;             /* bytes allocated */
    size_t limit;           /* largest len allowed; 0 means SIZE_MAX */
    struct pbuf_acct *acct; /* charged with cap; NULL: none */
};

/* Adds n bytes to a and its parents (no limit is checked: memory allocated elsewhere that
 * the account must show), or removes them. */
void pbuf_acct_add(struct pbuf_acct *a, size_t n);
void pbuf_acct_sub(struct pbuf_acct *a, size_t n);
/* Bytes that may still be charged to a without passing a limit of its chain. */
size_t pbuf_acct_room(const struct pbuf_acct *a);
/* Moves a's bytes from its parent chain to parent's (a connection that closes leaves the
 * open clients' total with what it still holds). */
void pbuf_acct_reparent(struct pbuf_acct *a, struct pbuf_acct *parent);

/* An empty buffer with no account (pb->acct may be set while cap is 0). */
void pbuf_init(struct pbuf *pb, size_t limit);
void pbuf_free(struct pbuf *pb);
/* Ensures room for n more bytes. Returns 0, -ENOBUFS past the limit, -ENOMEM. */
int pbuf_reserve(struct pbuf *pb, size_t n);
int pbuf_append(struct pbuf *pb, const void *p, size_t n);
int pbuf_appendf(struct pbuf *pb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends src's bytes to dst and frees src. When dst is empty and both share an account
 * the memory changes hands without a copy; otherwise src's bytes stop counting before dst
 * grows, so a move never fails for holding the bytes twice. Returns 0 or the error of the
 * append (-ENOBUFS, -ENOMEM), src then unchanged. */
int pbuf_take(struct pbuf *dst, struct pbuf *src);
/* Drops the first n bytes (n <= len; more empties the buffer). Moves the rest to the
 * front, so it costs O(len - n): consume once per batch of commands, not per command. */
void pbuf_consume(struct pbuf *pb, size_t n);
void pbuf_reset(struct pbuf *pb);
/* Writes v in decimal at d (room for 20 bytes), no terminator; returns its length. By hand:
 * snprintf was a visible share of a reply's cost (memcached VALUE lines, RESP headers). */
size_t pbuf_fmt_u64(char *d, uint64_t v);
/* The same for a signed value, '-' first when negative (INT64_MIN included): room for 20
 * bytes. */
size_t pbuf_fmt_i64(char *d, int64_t v);

#endif
