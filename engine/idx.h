/*
 * idx.h - the in-memory index: one B+tree per table, ordered by (token, hash2).
 *
 * An entry is 24 bytes and holds what is needed to find and validate a key's newest
 * record without keeping the key in memory:
 *
 *   token  64 bits  Redis Cluster hash slot (top 14 bits) + 50 bits of xxh3 of the key
 *   loc    64 bits  bits 0..39: record address in 8-byte units (byte address / 8)
 *                   bits 40..63: record size in 8-byte units
 *   meta   64 bits  bits 0..43: expiry, absolute unix ms (0 = none)
 *                   bits 44..63: hash2, 20 more bits of the key's hash
 *
 * Entries are unique by (token, hash2); two keys that share a token but differ in hash2
 * are distinct entries, next to each other in token order.
 *
 * Memory target: under 40 bytes per key including B-tree overhead at 10 million keys.
 * Not thread-safe: one index belongs to one engine thread.
 */
#ifndef LS_IDX_H
#define LS_IDX_H

#include <stddef.h>
#include <stdint.h>

struct idx_ent {
    uint64_t token;
    uint64_t loc;
    uint64_t meta;
};
_Static_assert(sizeof(struct idx_ent) == 24, "index entry is 24 bytes");

#define IDX_ADDR_BITS   40
#define IDX_EXPIRE_BITS 44
#define IDX_HASH2_BITS  20
#define IDX_ADDR_MASK   ((UINT64_C(1) << IDX_ADDR_BITS) - 1)
#define IDX_EXPIRE_MASK ((UINT64_C(1) << IDX_EXPIRE_BITS) - 1)
_Static_assert(IDX_EXPIRE_BITS == 44, "LS_EXPIRE_MAX (logstor.h) is 2^44 - 1");
#define IDX_HASH2_MASK ((UINT32_C(1) << IDX_HASH2_BITS) - 1)

static inline uint64_t idx_loc_addr(uint64_t loc)
{
    return (loc & IDX_ADDR_MASK) << 3;
}
static inline uint32_t idx_loc_size(uint64_t loc)
{
    return (uint32_t)(loc >> IDX_ADDR_BITS) << 3;
}
static inline uint64_t idx_make_loc(uint64_t addr, uint32_t size)
{
    return ((addr >> 3) & IDX_ADDR_MASK) | ((uint64_t)(size >> 3) << IDX_ADDR_BITS);
}
static inline uint64_t idx_meta_expire(uint64_t meta)
{
    return meta & IDX_EXPIRE_MASK;
}
static inline uint32_t idx_meta_hash2(uint64_t meta)
{
    return (uint32_t)(meta >> IDX_EXPIRE_BITS);
}
static inline uint64_t idx_make_meta(uint64_t expire_ms, uint32_t hash2)
{
    return (expire_ms & IDX_EXPIRE_MASK) | ((uint64_t)(hash2 & IDX_HASH2_MASK) << IDX_EXPIRE_BITS);
}

struct idx;

/* Returns a new empty index, or NULL when out of memory. Caller frees with idx_free. */
struct idx *idx_new(void);
void idx_free(struct idx *t);

/* Removes every entry (keeps the index usable). */
void idx_clear(struct idx *t);

/* Finds the entry (token, hash2). Returns 0 and copies it to *out (out may be NULL),
 * or -ENOENT. */
int idx_find(const struct idx *t, uint64_t token, uint32_t hash2, struct idx_ent *out);

/* Inserts *ent, or replaces the entry with the same (token, hash2). Returns 1 when an
 * entry was replaced (its previous value copied to *old if old is not NULL), 0 when
 * inserted, -ENOMEM when out of memory (the index is unchanged). */
int idx_upsert(struct idx *t, const struct idx_ent *ent, struct idx_ent *old);

/* Removes the entry (token, hash2). Returns 0 (previous value copied to *old if old is
 * not NULL) or -ENOENT. */
int idx_remove(struct idx *t, uint64_t token, uint32_t hash2, struct idx_ent *old);

/* Compare-and-swap of the location: replaces loc with new_loc only if the entry exists
 * and its loc equals expect_loc. Returns 0 when swapped, -ENOENT when absent, -EAGAIN
 * when the loc differs. (Compaction moves a record only if the index still points at
 * the copy it read.) */
int idx_cas_loc(struct idx *t, uint64_t token, uint32_t hash2, uint64_t expect_loc,
                uint64_t new_loc);

/* Visits entries in (token, hash2) order starting at the first entry with token >=
 * from_token. Stops after max entries have been visited, except that it never stops in
 * the middle of a run of entries with the same token (so a token cursor is resumable).
 * cb returning nonzero also stops the walk (after that entry). cb must not modify the
 * index. Returns the number of entries visited. Sets *next_token to the token to resume
 * from (last visited token + 1), or to 0 and *done to 1 when the end was reached.
 * next_token/done may be NULL.
 * When cb stops the walk inside a run of equal tokens, *next_token is still that token
 * + 1, so a resumed scan skips the rest of the run: to see every entry, bound the walk
 * with max. With max == 0 nothing is visited and *next_token is from_token. */
typedef int (*idx_visit_fn)(void *arg, const struct idx_ent *ent);
size_t idx_scan(const struct idx *t, uint64_t from_token, size_t max, idx_visit_fn cb, void *arg,
                uint64_t *next_token, int *done);

/* Number of entries. */
uint64_t idx_count(const struct idx *t);

/* Number of entries with an expiry (expired ones not yet removed included); sets
 * *exp_sum_ms (may be NULL) to the sum of their expiries, absolute unix ms. Exact: kept
 * by every insert, replace, remove and clear. */
uint64_t idx_expires(const struct idx *t, uint64_t *exp_sum_ms);

/* Bytes of memory held by the index (nodes and the handle). */
size_t idx_memory(const struct idx *t);

/* Checks every structural invariant (ordering, fill, counts, depth). Returns 0 when
 * sound, or a negative number identifying the first violation. For tests. */
int idx_check(const struct idx *t);

#endif
