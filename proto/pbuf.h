/*
 * pbuf.h - a growable byte buffer with a hard limit, used for replies and query input.
 *
 * Every append checks the limit before it allocates: an append that would take the
 * buffer past pb->limit fails with -ENOBUFS and leaves the buffer unchanged. Growth is
 * geometric. The buffer owns its memory; free it with pbuf_free.
 */
#ifndef LS_PBUF_H
#define LS_PBUF_H

#include <stddef.h>
#include <stdint.h>

struct pbuf {
    char *data;
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t limit; /* largest len allowed; 0 means SIZE_MAX */
};

void pbuf_init(struct pbuf *pb, size_t limit);
void pbuf_free(struct pbuf *pb);
/* Ensures room for n more bytes. Returns 0, -ENOBUFS past the limit, -ENOMEM. */
int pbuf_reserve(struct pbuf *pb, size_t n);
int pbuf_append(struct pbuf *pb, const void *p, size_t n);
int pbuf_appendf(struct pbuf *pb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len; more empties the buffer). Moves the rest to the
 * front, so it costs O(len - n): consume once per batch of commands, not per command. */
void pbuf_consume(struct pbuf *pb, size_t n);
void pbuf_reset(struct pbuf *pb);

#endif
