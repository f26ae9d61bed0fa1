/*
 * rcache.h - a bounded cache of records read from the device, keyed by log address.
 *
 * A log address names one record for as long as its segment is in use (records are
 * never rewritten in place), so an entry needs no invalidation on overwrite: the index
 * simply stops pointing at it and CLOCK eviction retires it. When a segment is freed
 * for reuse (compaction), rcache_drop_range must be called for its address range.
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

/* Copies the record at addr (size bytes) into dst and returns 1 on a hit, else 0. */
int rcache_get(struct rcache *c, uint64_t addr, uint32_t size, uint8_t *dst);
/* Stores a copy of a verified record. Larger than 1/8 of the cache: not stored. */
void rcache_put(struct rcache *c, uint64_t addr, const uint8_t *rec, uint32_t size);
/* Drops every entry with lo <= addr < hi. */
void rcache_drop_range(struct rcache *c, uint64_t lo, uint64_t hi);

struct rcache_stats {
    uint64_t hits, misses, entries, bytes, evictions;
};
void rcache_get_stats(const struct rcache *c, struct rcache_stats *out);

#endif
