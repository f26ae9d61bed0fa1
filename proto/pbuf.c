/*
 * pbuf.c - a growable byte buffer with a hard limit.
 *
 * Invariants: len <= cap; len <= limit (0 meaning SIZE_MAX); data is NULL iff cap == 0.
 * Every append goes through pbuf_reserve, which checks the limit before it allocates, so
 * a failed append leaves the buffer exactly as it was. Growth doubles the capacity (at
 * least 64 bytes) and is clamped to the limit, so memory never exceeds the limit.
 * pbuf_consume moves the tail to the front (O(remaining bytes)): consume once per batch of
 * parsed commands, not once per command, to stay linear.
 */
#include "pbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBUF_MIN_CAP 64

static size_t pbuf_limit(const struct pbuf *pb)
{
    return pb->limit ? pb->limit : SIZE_MAX;
}

void pbuf_init(struct pbuf *pb, size_t limit)
{
    pb->data = NULL;
    pb->len = 0;
    pb->cap = 0;
    pb->limit = limit;
}

void pbuf_free(struct pbuf *pb)
{
    free(pb->data);
    pbuf_init(pb, pb->limit);
}

int pbuf_reserve(struct pbuf *pb, size_t n)
{
    size_t limit = pbuf_limit(pb);
    if (n > limit || pb->len > limit - n)
        return -ENOBUFS;
    size_t want = pb->len + n;
    if (want <= pb->cap)
        return 0;
    size_t cap = pb->cap ? pb->cap : PBUF_MIN_CAP;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > limit)
        cap = limit;
    char *p = realloc(pb->data, cap);
    if (!p)
        return -ENOMEM;
    pb->data = p;
    pb->cap = cap;
    return 0;
}

int pbuf_append(struct pbuf *pb, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = pbuf_reserve(pb, n);
    if (rc)
        return rc;
    memcpy(pb->data + pb->len, p, n);
    pb->len += n;
    return 0;
}

int pbuf_appendf(struct pbuf *pb, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return pbuf_append(pb, small, (size_t)n);
    /* Too long for the stack buffer: reserve n + 1 (vsnprintf writes the NUL) and
     * format straight into the buffer; len grows by n only. */
    int rc = pbuf_reserve(pb, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(pb->data + pb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    pb->len += (size_t)n;
    return 0;
}

void pbuf_consume(struct pbuf *pb, size_t n)
{
    if (n >= pb->len) {
        pb->len = 0;
        return;
    }
    memmove(pb->data, pb->data + n, pb->len - n);
    pb->len -= n;
}

void pbuf_reset(struct pbuf *pb)
{
    pb->len = 0;
}
