/*
 * rcache.h - a bounded cache of records read from the device, keyed by log address
 * and the sequence number of the segment use the record belongs to.
 *
 * A log address names one record for as long as its segment's use lasts (records are
 * never rewritten in place), and (address, use) names it for ever: an entry needs no
 * invalidation, neither on overwrite (the index stops pointing at it) nor when the
 * segment is freed and reused (the new use has a new sequence number, so the old
 * entry never matches again); CLOCK eviction retires it. Keying by address alone let a
 * read that completed after its segment was freed cache the old bytes, and a record of
 * the next use at the same address read them back as corrupt (issue 11, defect 4).
 */
#ifndef LS_RCACHE_H
#define LS_RCACHE_H

#include <stddef.h>
#include <stdint.h>

struct rcache;

/* A cache holding at most max_bytes of records (0 disables it: every call is a no-op
 * and NULL is a valid cache). Returns NULL on ENOMEM or when disabled. */
struct rcache *rcache_new(uint64_t max_bytes);
void rcache_free(struct rcache *c);

/* Copies the record at addr of segment use seq (size bytes) into dst and returns 1 on a
 * hit, else 0. */
int rcache_get(struct rcache *c, uint64_t addr, uint64_t seq, uint32_t size, uint8_t *dst);
/* The cached record at addr of segment use seq (size bytes), counted as a hit, or NULL
 * (not counted: the caller's fallback read counts the miss). The bytes stay valid until
 * the next rcache_put or rcache_free. */
const uint8_t *rcache_peek(struct rcache *c, uint64_t addr, uint64_t seq, uint32_t size);
/* Prefetch hints for a later rcache_peek of addr (they read nothing the caller sees and
 * count nothing): rcache_prefetch_slot asks the CPU for the slot addr hashes to;
 * rcache_prefetch_rec, once that slot is in the caches, for the first cache lines (up to
 * four, within size and the bytes held) of the record it holds for addr, if any. */
void rcache_prefetch_slot(const struct rcache *c, uint64_t addr);
void rcache_prefetch_rec(const struct rcache *c, uint64_t addr, uint32_t size);
/* Stores a copy of a verified record (replacing an entry of an earlier use of the same
 * address). Larger than 1/8 of the cache: not stored. */
void rcache_put(struct rcache *c, uint64_t addr, uint64_t seq, const uint8_t *rec, uint32_t size);

/* rcache_put, but only into room the cache has spare: nothing is evicted for it, and its
 * CLOCK bit starts clear (the first to go once reads need the room). Returns 1 when
 * stored. For records just written: a key read soon after its write is in memory. */
int rcache_put_spare(struct rcache *c, uint64_t addr, uint64_t seq, const uint8_t *rec,
                     uint32_t size);

/* The record at old_addr of use old_seq was replaced (or moved) by rec, at addr of use
 * seq: when the old one is cached, it leaves the cache and rec takes its place (its
 * memory too when the sizes match, and its CLOCK bit), so a key read and written in turn
 * stays cached without a dead version beside it. Returns 1 when the old one was cached. */
int rcache_move(struct rcache *c, uint64_t old_addr, uint64_t old_seq, uint64_t addr, uint64_t seq,
                const uint8_t *rec, uint32_t size);

/* Calls fn for every entry (the record's bytes borrowed for the call); for checks. */
void rcache_visit(const struct rcache *c,
                  void (*fn)(void *arg, uint64_t addr, uint64_t seq, const uint8_t *rec,
                             uint32_t size),
                  void *arg);

struct rcache_stats {
    uint64_t hits, misses, entries, bytes, evictions;
};
void rcache_get_stats(const struct rcache *c, struct rcache_stats *out);

#endif
