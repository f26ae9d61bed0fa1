/*
 * htab.c - the intrusive hash table of htab.h: FNV-1a over the key, chains in power-of-two
 * buckets that double when the entries reach their number.
 *
 * Invariant: every linked node is in the chain of bucket hash & (nb - 1); n counts them.
 */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t htab_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct htab_node *htab_find(const struct htab *t, const void *p, size_t n)
{
    if (t->nb == 0)
        return NULL;
    uint64_t h = htab_hash(p, n);
    for (struct htab_node *e = t->b[h & (t->nb - 1)]; e; e = e->next)
        if (e->hash == h && e->len == n && memcmp(e->key, p, n) == 0)
            return e;
    return NULL;
}

static int htab_grow(struct htab *t)
{
    size_t nb = t->nb ? t->nb * 2 : 8;
    struct htab_node **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->nb; i++) {
        while (t->b[i]) {
            struct htab_node *e = t->b[i];
            t->b[i] = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return 0;
}

int htab_add(struct htab *t, struct htab_node *e, const char *key, size_t len)
{
    if (t->n >= t->nb && htab_grow(t) < 0)
        return -ENOMEM;
    e->key = key;
    e->len = len;
    e->hash = htab_hash(key, len);
    e->next = t->b[e->hash & (t->nb - 1)];
    t->b[e->hash & (t->nb - 1)] = e;
    t->n++;
    return 0;
}

void htab_remove(struct htab *t, struct htab_node *e)
{
    struct htab_node **pp = &t->b[e->hash & (t->nb - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    t->n--;
}

void htab_free(struct htab *t)
{
    free(t->b);
    memset(t, 0, sizeof(*t));
}
