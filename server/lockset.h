/*
 * lockset.h - the lock table behind the server's concurrency rule (the rule itself is
 * stated in lockset.c's design comment).
 *
 * A holder (a command, later a transaction or a script) claims, in one call, a set of
 * items: keys of any databases, each shared (it only reads the key) or exclusive (it
 * writes it), and whole databases, shared (it reads the database as a whole: DBSIZE,
 * SCAN) or exclusive (FLUSHDB). Claiming a key also claims its database shared, so a
 * whole-database exclusive claim waits for every key claim in that database and holds
 * later ones back. The claim is granted when it is compatible with every claim that came
 * before it on each of its items; until then it holds nothing.
 *
 * The module knows nothing of connections or the event loop: it is a pure data structure
 * (unit-tested alone, tests/unit/test_lockset.c). One thread owns a lockset.
 */
#ifndef LS_SERVER_LOCKSET_H
#define LS_SERVER_LOCKSET_H

#include <stddef.h>
#include <stdint.h>

enum lockset_mode { LOCKSET_SHARED = 0, LOCKSET_EXCLUSIVE = 1 };

/* One item of a claim. */
struct lockset_item {
    uint32_t db;
    uint8_t mode;     /* enum lockset_mode */
    uint8_t whole_db; /* 1: the whole database db (key ignored) */
    const void *key;  /* borrowed for the lockset_claim call only */
    size_t key_len;
};

struct lockset;
struct lockset_claim;

/* Called once when a claim that had to wait is granted. */
typedef void (*lockset_grant_fn)(void *arg);

/* A lock table for databases 0..ndbs-1. NULL on allocation failure. */
struct lockset *lockset_new(uint32_t ndbs);
/* Frees the table and every claim still in it (their callbacks never run). Safe on NULL. */
void lockset_free(struct lockset *ls);

/* Claims items[0..n) for one holder (duplicates are merged, exclusive winning; the
 * items' keys are copied). Returns 1 when granted at once (cb will not run), 0 when it
 * waits (cb(arg) will run exactly once, when granted, from inside a later
 * lockset_release), -ENOMEM (nothing claimed), or -EINVAL (n == 0 or a database out of
 * range). *out is set on 0 and 1; the holder ends every claim with lockset_release. */
int lockset_claim(struct lockset *ls, const struct lockset_item *items, uint32_t n,
                  lockset_grant_fn cb, void *arg, struct lockset_claim **out);

/* Ends a claim, granted or still waiting (a waiting claim is withdrawn and its callback
 * never runs), and frees it. Runs the callbacks of the claims this makes grantable, in
 * the order they were made; a callback may call lockset_claim and lockset_release. */
void lockset_release(struct lockset *ls, struct lockset_claim *cl);

/* Whether cl holds (or waits for) an exclusive lock on some item. */
int lockset_claim_writes(const struct lockset_claim *cl);

/* Counters for INFO and tests. */
struct lockset_stats {
    uint64_t keys;    /* keys with a lock entry (held or waited for) now */
    uint64_t claims;  /* claims now (granted or waiting) */
    uint64_t waiting; /* of those, waiting */
    uint64_t waits;   /* claims that had to wait, since the start */
};
void lockset_get_stats(const struct lockset *ls, struct lockset_stats *out);

/* Checks the table's invariants (queues, counts, grants). Returns 0, or -1 after printing
 * the first violation to stderr. For tests. */
int lockset_check(const struct lockset *ls);

#endif
