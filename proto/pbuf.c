/*
 * pbuf.c - a growable byte buffer with a hard limit.
 *
 * Invariants: len <= cap; len <= limit (0 meaning SIZE_MAX); data is NULL iff cap == 0.
 * Every append goes through pbuf_reserve, which checks the limit before it allocates, so
 * a failed append leaves the buffer exactly as it was. Growth doubles the capacity (at
 * least 64 bytes) and is clamped to the limit, so memory never exceeds the limit.
 * pbuf_consume moves the tail to the front (O(remaining bytes)): consume once per batch of
 * parsed commands, not once per command, to stay linear.
 *
 * Accounts: a buffer with an account has exactly cap bytes charged to it (and to its
 * parents) at every moment; growth is clamped to the room the chain has left, like the
 * limit, so an account's used never passes its limit through pbuf_reserve.
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

void pbuf_acct_add(struct pbuf_acct *a, size_t n)
{
    for (; a; a = a->parent)
        a->used += n;
}

void pbuf_acct_sub(struct pbuf_acct *a, size_t n)
{
    for (; a; a = a->parent)
        a->used -= n < a->used ? n : a->used;
}

size_t pbuf_acct_room(const struct pbuf_acct *a)
{
    size_t room = SIZE_MAX;
    for (; a; a = a->parent) {
        if (a->limit == 0)
            continue;
        size_t r = a->used < a->limit ? a->limit - a->used : 0;
        if (r < room)
            room = r;
    }
    return room;
}

void pbuf_acct_reparent(struct pbuf_acct *a, struct pbuf_acct *parent)
{
    pbuf_acct_sub(a->parent, a->used);
    a->parent = parent;
    pbuf_acct_add(parent, a->used);
}

void pbuf_init(struct pbuf *pb, size_t limit)
{
    pb->data = NULL;
    pb->len = 0;
    pb->cap = 0;
    pb->limit = limit;
    pb->acct = NULL;
}

void pbuf_free(struct pbuf *pb)
{
    free(pb->data);
    pbuf_acct_sub(pb->acct, pb->cap);
    pb->data = NULL;
    pb->len = 0;
    pb->cap = 0;
}

int pbuf_reserve(struct pbuf *pb, size_t n)
{
    size_t limit = pbuf_limit(pb);
    if (n > limit || pb->len > limit - n)
        return -ENOBUFS;
    size_t want = pb->len + n;
    if (want <= pb->cap)
        return 0;
    size_t room = pbuf_acct_room(pb->acct);
    if (want - pb->cap > room)
        return -ENOBUFS;
    size_t cap = pb->cap ? pb->cap : PBUF_MIN_CAP;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > limit)
        cap = limit;
    if (cap - pb->cap > room)
        cap = pb->cap + room;
    char *p = realloc(pb->data, cap);
    if (!p)
        return -ENOMEM;
    pbuf_acct_add(pb->acct, cap - pb->cap);
    pb->data = p;
    pb->cap = cap;
    return 0;
}

int pbuf_take(struct pbuf *dst, struct pbuf *src)
{
    if (src->len == 0) {
        pbuf_free(src);
        return 0;
    }
    if (dst->len == 0 && dst->acct == src->acct && src->len <= pbuf_limit(dst)) {
        pbuf_free(dst);
        dst->data = src->data;
        dst->len = src->len;
        dst->cap = src->cap;
        src->data = NULL;
        src->len = src->cap = 0;
        return 0;
    }
    pbuf_acct_sub(src->acct, src->cap); /* src's bytes are on their way out */
    int rc = pbuf_append(dst, src->data, src->len);
    pbuf_acct_add(src->acct, src->cap);
    if (rc == 0)
        pbuf_free(src);
    return rc;
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

size_t pbuf_fmt_u64(char *d, uint64_t v)
{
    char rev[20];
    size_t k = 0, n = 0;
    do {
        rev[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        d[n++] = rev[--k];
    return n;
}

size_t pbuf_fmt_i64(char *d, int64_t v)
{
    if (v >= 0)
        return pbuf_fmt_u64(d, (uint64_t)v);
    d[0] = '-';
    return 1 + pbuf_fmt_u64(d + 1, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
}
