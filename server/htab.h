/*
 * htab.h - an intrusive chained hash table keyed by byte strings, for the server's name
 * tables (pub/sub channels and patterns, CLIENT TRACKING's keys).
 *
 * The caller embeds a struct htab_node as the FIRST member of its entry, points it at the
 * entry's own copy of the key (htab_add), and owns the entries: the table only links them.
 * Buckets double when the entries reach their number, so a lookup walks a chain of about
 * one entry. Iterate with: for (i < t->nb) for (n = t->b[i]; n; n = n->next).
 *
 * Threading: none of its own; the event loop thread only, like its users.
 */
#ifndef LS_SERVER_HTAB_H
#define LS_SERVER_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct htab_node {
    struct htab_node *next; /* bucket chain */
    uint64_t hash;
    const char *key; /* the entry's own copy: borrowed by the table */
    size_t len;
};

struct htab {
    struct htab_node **b;
    size_t nb, n; /* buckets (a power of two, or 0), entries */
};

/* FNV-1a of p[0..n). */
uint64_t htab_hash(const void *p, size_t n);
/* The entry whose key is p[0..n), or NULL. */
struct htab_node *htab_find(const struct htab *t, const void *p, size_t n);
/* Links e, keyed by key[0..len) (which must stay valid while e is linked). Returns 0, or
 * -ENOMEM when the buckets could not grow (e is then not linked). */
int htab_add(struct htab *t, struct htab_node *e, const char *key, size_t len);
/* Unlinks e (linked in t). */
void htab_remove(struct htab *t, struct htab_node *e);
/* Frees the buckets; the entries are the caller's to free first. */
void htab_free(struct htab *t);

#endif
