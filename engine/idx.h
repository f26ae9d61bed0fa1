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
 * Not thread-safe: one index belongs to one engine thread. That includes lookups, which
 * write the finger; snapshots may be scanned from another thread (they never touch it).
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

/* Removes every entry (keeps the index usable). Returns 0; -ENOMEM (index unchanged)
 * only while a snapshot is live, when the list that hands the old nodes to the snapshot
 * cannot grow. */
int idx_clear(struct idx *t);

/* Finds the entry (token, hash2). Returns 0 and copies it to *out (out may be NULL),
 * or -ENOENT. Not const: it records where it ended (the finger, idx.c), from which the
 * next idx_find, idx_upsert, idx_remove or idx_cas_loc of the same key starts while
 * the tree's shape has not changed since. */
int idx_find(struct idx *t, uint64_t token, uint32_t hash2, struct idx_ent *out);

/* Inserts *ent, or replaces the entry with the same (token, hash2). Returns 1 when an
 * entry was replaced (its previous value copied to *old if old is not NULL), 0 when
 * inserted, -ENOMEM when out of memory (the index is unchanged). */
int idx_upsert(struct idx *t, const struct idx_ent *ent, struct idx_ent *old);

/* Removes the entry (token, hash2). Returns 0 (previous value copied to *old if old is
 * not NULL) or -ENOENT; while a snapshot is live also -ENOMEM (index unchanged): the
 * nodes it changes must be copied first. */
int idx_remove(struct idx *t, uint64_t token, uint32_t hash2, struct idx_ent *old);

/* Compare-and-swap of the location: replaces loc with new_loc only if the entry exists
 * and its loc equals expect_loc. Returns 0 when swapped, -ENOENT when absent, -EAGAIN
 * when the loc differs, and while a snapshot is live -ENOMEM (index unchanged).
 * (Compaction moves a record only if the index still points at the copy it read.) */
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

/* Fills an empty index (no snapshot live) with v[0..n), which must be strictly increasing
 * by (token, hash2): leaves built full (7/8) from left to right and the levels above
 * them, without a descent per entry (the shutdown checkpoint's load). 0, -EINVAL (not
 * empty, or v out of order: nothing loaded) or -ENOMEM (nothing loaded). */
int idx_load(struct idx *t, const struct idx_ent *v, size_t n);

/* Number of entries. */
uint64_t idx_count(const struct idx *t);

/* Number of entries with an expiry (expired ones not yet removed included); sets
 * *exp_sum_ms (may be NULL) to the sum of their expiries, absolute unix ms. Exact: kept
 * by every insert, replace, remove and clear. */
uint64_t idx_expires(const struct idx *t, uint64_t *exp_sum_ms);

/* Bytes of memory held by the index: the handle, the live tree's nodes, and what its
 * live snapshots hold beside them (the sum of idx_snap_memory, plus the few spare nodes
 * kept ready for copies while any snapshot is live). */
size_t idx_memory(const struct idx *t);

/* Checks every structural invariant (ordering, fill, counts, depth). Returns 0 when
 * sound, or a negative number identifying the first violation. For tests. */
int idx_check(const struct idx *t);

/*
 * Snapshots: a frozen, point-in-time view of the index, taken in O(1) while the index
 * keeps changing. For checkpoints and SNAPSHOT CREATE: the caller walks the snapshot a
 * few thousand entries at a time between live writes, then releases it.
 *
 * How: copy-on-write of B+tree nodes with path copying (a persistent B-tree). Every node
 * records the generation it was made in; idx_snapshot records the root and bumps the
 * index's generation, so every node existing at that instant belongs to the snapshot.
 * The first later change to such a node (upsert, remove, cas, clear, or a split or
 * merge that touches it) copies it, and those of its ancestors that are still shared;
 * the live tree then points at the copies and the original is *retired*: put on the
 * newest snapshot's list of nodes that only snapshots still read. Nodes made after
 * the newest snapshot are changed in place as before. With no live snapshot the only
 * cost is a compare or two per operation: a workload of inserts, lookups, removes and
 * cas runs 0.6% fewer instructions than before snapshots existed (cachegrind; the inner
 * node lost 2 of its 204 children to make room for the generation).
 *
 * Costs while a snapshot is live (figures: build/bench/bench_idx, 10 M keys):
 *   - memory: one 4 KiB node for each leaf changed for the first time since the
 *     snapshot, and for each inner node above it the first time; whatever the number of
 *     writes, at most the tree as it was (each node is copied once per snapshot). 1 M
 *     upserts of random keys touch nearly all ~68,000 leaves (15 writes per leaf on
 *     average), so the snapshot then holds a second copy of the tree: 277 MB, 27.7
 *     bytes per key. Fewer writes, or writes clustered by token, hold proportionally
 *     less. idx_snap_memory tells what one snapshot holds; INFO should show it. A few
 *     spare nodes (3 leaves, 2 per tree level) are kept while any snapshot is live.
 *   - time: the first write to a leaf copies it, 4 KiB. The copy itself is cheap; on
 *     this VM the cost is the page fault of the fresh heap page each copy lands in
 *     (~20 us per first-touched page here): 1 M upserts took 3.9 us each with a live
 *     snapshot against 1.8 us without (67,830 page faults against none) on a loaded
 *     2-core VM. Once reclaimed snapshots have left free memory behind, copies reuse it.
 *     Writes to a node already copied cost what they cost without a snapshot.
 *   - taking a snapshot: O(1), one calloc (1-20 us measured); scanning it: ~100 M
 *     entries/s in 4096-entry chunks; releasing: O(1) (under 0.1 ms), then
 *     idx_snap_reclaim frees its 68,000 nodes in 13-24 ms all told, a step of 2048
 *     nodes usually under 1 ms.
 *   - -ENOMEM: idx_remove, idx_cas_loc and idx_clear may fail with -ENOMEM while a
 *     snapshot is live (the index unchanged), because they must copy.
 *
 * Several snapshots may be live at once (at most IDX_SNAP_MAX); a node retired while
 * several are live is on the newest one's list, and idx_snap_reclaim hands it to the
 * next older live one, if that one holds it too, once the newest is released.
 * Snapshots may be released in any order.
 *
 * Ownership: a snapshot belongs to its index; it is valid until idx_snap_release or
 * idx_free of the index (which frees every live snapshot and everything pending
 * reclaim: the snapshot handles dangle after).
 * Same thread as the index; the snapshot is read-only and may be scanned between any
 * two operations on the index.
 */
#define IDX_SNAP_MAX 64

struct idx_snap;

/* Takes a snapshot of t's current entries in O(1). Returns it, or NULL when out of
 * memory or when IDX_SNAP_MAX snapshots are live (idx_snaps tells which). Release with
 * idx_snap_release. */
struct idx_snap *idx_snapshot(struct idx *t);

/* Releases s (NULL is a no-op) in O(chunks of its list), never failing; s is invalid
 * afterwards. The nodes it held beside the live tree are not freed here: they go to a
 * pending list that idx_snap_reclaim works through in bounded steps, since there can be
 * as many as the whole tree had at the snapshot (~68,000 4 KiB nodes at 10 M keys,
 * whose freeing took 26 ms in bench_idx: too long for one event-loop turn). Until
 * reclaimed they count in idx_memory. */
void idx_snap_release(struct idx *t, struct idx_snap *s);

/* Works through the nodes released snapshots left: each is freed, or passed to the
 * newest older live snapshot if that one also holds it. Stops once max_nodes nodes have
 * been handled; they go in lists of up to 509, handled whole, so one call handles at
 * most max_nodes + 508 (max_nodes 0 does nothing). Returns the bytes still pending: 0
 * when done. Call it from the event loop until it returns 0, e.g. 2048 nodes a turn. */
size_t idx_snap_reclaim(struct idx *t, size_t max_nodes);

/* idx_scan's contract (same cursor, same rule that runs of equal tokens are never split,
 * same stopping rules) over the entries of s at the snapshot instant, whatever has
 * happened to the index since. */
size_t idx_snap_scan(const struct idx_snap *s, uint64_t from_token, size_t max, idx_visit_fn cb,
                     void *arg, uint64_t *next_token, int *done);

/* Number of entries, and entries with an expiry (as idx_expires), at the snapshot. */
uint64_t idx_snap_count(const struct idx_snap *s);
uint64_t idx_snap_expires(const struct idx_snap *s, uint64_t *exp_sum_ms);

/* Bytes held by s beside the live tree: the nodes that left the live tree while s was
 * the newest snapshot (or handed to it by a released newer one), the lists of them and
 * the handle. Included in idx_memory. Nodes still in the live tree are not counted. */
size_t idx_snap_memory(const struct idx_snap *s);

/* Number of live snapshots of t. */
unsigned idx_snaps(const struct idx *t);

/* Checks s's tree (ordering, fill, counts, generations) as idx_check does the live
 * tree; idx_check checks every snapshot's list of retired nodes. For tests. */
int idx_snap_check(const struct idx *t, const struct idx_snap *s);

#endif
