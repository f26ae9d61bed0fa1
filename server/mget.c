/*
 * mget.c - concurrent multi-key reads. One allocation holds the per-key slots; each slot
 * is the argument of its ls_get callback and copies the borrowed value out of the engine.
 * The last completion calls the done function, then frees everything.
 */
#include "mget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "logstor.h"
#include "server.h"

struct mget;

struct mget_slot {
    struct mget *m;
    uint32_t i;
};

struct mget {
    struct req *r;
    uint32_t n, pending;
    mget_done_fn done;
    struct mget_slot *slots;
    struct mget_item items[];
};

static void mget_finish(struct mget *m)
{
    m->done(m->r, m->items, m->n);
    for (uint32_t i = 0; i < m->n; i++)
        free(m->items[i].val);
    free(m->slots);
    free(m);
}

static void mget_cb(void *arg, int rc, const struct ls_item *it)
{
    struct mget_slot *sl = arg;
    struct mget *m = sl->m;
    struct mget_item *item = &m->items[sl->i];
    item->rc = rc;
    if (rc == 0) {
        item->val = malloc(it->value_len ? it->value_len : 1);
        if (item->val == NULL) {
            item->rc = -ENOMEM;
        } else {
            memcpy(item->val, it->value, it->value_len);
            item->len = it->value_len;
            item->flags = it->flags;
            item->cas = it->cas;
            item->expire_ms = it->expire_ms;
        }
    }
    if (--m->pending == 0)
        mget_finish(m);
}

int mget_start(struct req *r, const struct resp_arg *keys, uint32_t n, uint32_t db,
               mget_done_fn done)
{
    struct mget *m = calloc(1, sizeof(*m) + (size_t)n * sizeof(struct mget_item));
    struct mget_slot *slots = calloc(n ? n : 1, sizeof(*slots));
    if (m == NULL || slots == NULL) {
        free(m);
        free(slots);
        return -ENOMEM;
    }
    m->r = r;
    m->n = n;
    m->done = done;
    m->slots = slots;
    m->pending = 1; /* held until every read is submitted */
    struct ls_engine *e = r->c->srv->eng;
    for (uint32_t i = 0; i < n; i++) {
        slots[i].m = m;
        slots[i].i = i;
        int rc = ls_get(e, db, keys[i].ptr, keys[i].len, mget_cb, &slots[i]);
        if (rc == 0)
            m->pending++;
        else
            m->items[i].rc = rc;
    }
    if (--m->pending == 0)
        mget_finish(m);
    return 0;
}
