/*
 * mget.h - reading several keys at once for MGET and the memcached get family: every
 * read is submitted together, the results are collected in key order, and one callback
 * sees them all.
 */
#ifndef LS_SERVER_MGET_H
#define LS_SERVER_MGET_H

#include <stdint.h>

#include "conn.h"

struct mget_item {
    int rc; /* 0, LS_ENOTFOUND or another engine code */
    uint32_t flags;
    uint64_t cas;
    uint64_t expire_ms;
    char *val; /* owned by the mget; valid during the done callback */
    uint32_t len;
};

/* Called once with n items in key order; the items are freed when it returns. */
typedef void (*mget_done_fn)(struct req *r, struct mget_item *items, uint32_t n);

/* Reads keys[0..n) of table db. done runs later (from an engine callback) or, when no read
 * could be submitted, before mget_start returns. Returns 0, or -ENOMEM with done not
 * called. */
int mget_start(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
               mget_done_fn done);

#endif
