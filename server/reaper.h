/*
 * reaper.h - deletes the pages of large collections that no root names any more (design in
 * engine/FORMAT.md, "Reclaiming pages: the reaper"; large.c writes them).
 *
 * A pass walks the anchor table. For each anchor (version V, key K, pages lo..hi) it asks
 * every database whether K holds a large collection whose root names V. When none does
 * (it was deleted, overwritten, rewritten as a new version, expired, flushed), it deletes
 * the pages lo..hi that exist, then the anchor, with batches of tombstones that several
 * small dead versions share (a version's anchor goes in the batch of its last pages or a
 * later one). Versions being
 * written (large.c) are passed over; a check during which a root moved between keys or
 * databases (MOVE, RENAME, SWAPDB, a parked write or a transaction's writes reaching the
 * engine: server.root_moves) is given up until the next pass.
 * A pass runs when asked (reaper_wake: after a large collection was written or deleted, FLUSHDB,
 * start-up), at most once a second, and otherwise every REAPER_INTERVAL_MS while anchors
 * exist. It never blocks a client: each step is one engine call and its callback.
 */
#ifndef LS_SERVER_REAPER_H
#define LS_SERVER_REAPER_H

#include <stdint.h>

struct server;

#define REAPER_INTERVAL_MS 60000
#define REAPER_MIN_GAP_MS  1000
/* Tombstones per batch, and per tick (10 ms) at most. */
#define REAPER_BATCH            256
#define REAPER_RECORDS_PER_TICK (4 * REAPER_BATCH)
/* Page numbers looked up (most absent: a long-lived queue's range) per batch at most. */
#define REAPER_LOOKUPS 4096

int reaper_new(struct server *s);
void reaper_free(struct server *s);
/* Asks for a pass (soon, within REAPER_MIN_GAP_MS of the last). */
void reaper_wake(struct server *s);
/* Called by the loop's tick: starts a pass when one is due, resumes a paced one. */
void reaper_tick(struct server *s);

/* Counters for INFO: pages and versions reclaimed, passes run. */
struct reaper_stats {
    uint64_t pages, versions, passes;
    uint64_t gets; /* of the engine's gets (INFO gets), the reaper's own */
    int running;
};
void reaper_stats(const struct server *s, struct reaper_stats *out);

#endif
