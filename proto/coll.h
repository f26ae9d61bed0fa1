/*
 * coll.h - Redis collections (hashes, lists, sets, sorted sets) on the log: the small
 * form's encoding. Pure functions over byte buffers (no engine), unit-tested alone
 * (tests/unit/test_coll.c).
 *
 * Design (the records are specified in engine/FORMAT.md, "Collections"):
 *
 * - A key's value type is a tag in its record header (bits 2..5 of the type byte; 0 =
 *   string, so every existing record reads as a string; ls_write_opts.vtype). Designed,
 *   not built: a copy in 3 bits of the index entry, so that TYPE and SCAN TYPE would
 *   need no device read; today they read the record, as GET does.
 *
 * Built so far (2026-12-04): hashes, lists, sets and sorted sets in the small form, with no
 * threshold but max_value_size for the first three; lists past 128 elements or 8 KiB in
 * the large form (server/large.c, proto/plist.h). The rest below is the design.
 *
 * - Small collections (<= 128 elements and <= 8 KiB encoded, Redis's listpack limits)
 *   are ONE record under the user key holding the whole collection in the encoding
 *   below; every update is a read-modify-write of that record under the key's lock
 *   (cmdlock.c), the same rule as APPEND/INCR. Cost: one index entry (~27 B) for the
 *   whole collection; one read and one <= 8 KiB write per update.
 *
 * - Large collections are a root record under the user key (version, count, first and
 *   last page) and pages of a few KiB stored as records of a hidden page table, keyed
 *   (version, page no): the engine index is the page map, so an update rewrites only the
 *   pages it changes and the root, in one ls_write_batch, crash-atomic. Index memory
 *   ~0.5 B per element. An anchor per version (hidden anchor table) lets a background
 *   reaper delete the pages of versions no root names any more (DEL, overwrite, expiry,
 *   FLUSHDB), paced, never blocking (engine/FORMAT.md "Large form"; lists only so far).
 *
 * Why: a record per element (kvrocks) costs an index entry (~27 B, the engine's one
 * memory cost) and a device read per element; a whole-collection record costs O(size)
 * per update. Pages of a few KiB bound the update to one page, and keep the index at
 * one entry per page.
 *
 * Small-form encoding (all collection types share the layout of the element list):
 *
 *   byte 0        low nibble: encoding version (COLL_VERSION); bit 4 COLL_F_BIG: Redis
 *                 would have converted this collection to its large encoding (it never
 *                 converts back), so OBJECT ENCODING reports hashtable/skiplist
 *   varint        element count n (LEB128, unsigned)
 *   elements      hash: varint flen, field, varint vlen, value (n pairs), insertion order
 *                 list/set: varint len, bytes
 *                 zset: 8-byte little-endian IEEE-754 score, varint len, member, sorted
 *
 * Every function here validates lengths against the buffer: a record that fails to
 * parse is reported as COLL_EBAD (the server replies with an error, never reads past).
 */
#ifndef LS_PROTO_COLL_H
#define LS_PROTO_COLL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Value types (record header bits 2..4 and the index entry's tag). */
enum coll_type {
    COLL_STRING = 0,
    COLL_HASH = 1,
    COLL_LIST = 2,
    COLL_SET = 3,
    COLL_ZSET = 4,
    /* 5 and 6 tag the large form's pages and anchors (server/large.h) */
    COLL_STREAM = 7, /* one record: proto/stream.h */
};

#define COLL_VERSION 1
#define COLL_F_BIG   0x10u

/* Storage limits of the small form. */
#define COLL_SMALL_MAX_ELEMS 128
#define COLL_SMALL_MAX_BYTES 8192

/* Redis 7.0's defaults for the encodings OBJECT ENCODING reports. */
#define COLL_LP_MAX_ENTRIES 512 /* hash-max-listpack-entries */
#define COLL_LP_MAX_VALUE   64  /* hash-max-listpack-value */

/* The limits past which Redis converts a collection to its large encoding (CONFIG SET
 * can change them; NULL where one is taken: Redis 7.0's defaults above). */
struct coll_limits {
    uint64_t max_entries, max_value;
};

#define COLL_EBAD (-1)

/* Varint (LEB128) helpers. coll_varint_get returns the bytes read, 0 on a truncated or
 * over-long (> 10 bytes) varint. */
size_t coll_varint_put(uint8_t *p, uint64_t v);
size_t coll_varint_get(const uint8_t *p, size_t n, uint64_t *v);
size_t coll_varint_len(uint64_t v);

/* A parsed small hash: the header and a cursor over its pairs. */
struct coll_hash {
    uint8_t flags;    /* COLL_F_BIG or 0 */
    uint64_t count;   /* pairs */
    const uint8_t *p; /* first pair */
    const uint8_t *end;
};

/* Parses and fully validates v[0..n) (every pair inside the buffer, count exact).
 * Returns 0 or COLL_EBAD. */
int coll_hash_open(struct coll_hash *h, const uint8_t *v, size_t n);

/* One pair; *pos starts at h->p. Returns 1 with the pair set, 0 at the end. Only for a
 * hash coll_hash_open accepted. */
int coll_hash_next(const struct coll_hash *h, const uint8_t **pos, const uint8_t **f, size_t *flen,
                   const uint8_t **val, size_t *vlen);

/* Finds field. Returns 1 with *val and *vlen set, 0 when absent. */
int coll_hash_get(const struct coll_hash *h, const void *field, size_t flen, const uint8_t **val,
                  size_t *vlen);

/* An encoded hash being built (a growable buffer owned by the caller; free with
 * coll_buf_free). */
struct coll_buf {
    uint8_t *p;
    size_t len, cap;
};
void coll_buf_free(struct coll_buf *b);

/* One field=value to set (upsert) or, with val == NULL, to delete. */
struct coll_hset {
    const void *field;
    size_t flen;
    const void *val;
    size_t vlen;
};

/* Writes to out the encoding of h (NULL: an empty hash) with ops applied in order: an
 * existing field keeps its position and takes the new value, a new field goes at the
 * end, a delete removes it. *added / *removed (may be NULL) count fields created and
 * deleted. Sets COLL_F_BIG when the result (or h) exceeds the listpack limits lim (NULL:
 * Redis's defaults), as Redis converts then and never back.
 * Returns 0, or -1 when out of memory (out freed). The result may be empty
 * (count 0): the caller deletes the key then, as Redis does. */
int coll_hash_update(const struct coll_hash *h, const struct coll_hset *ops, size_t nops,
                     const struct coll_limits *lim, struct coll_buf *out, uint64_t *added,
                     uint64_t *removed);

/* Whether the small form can hold an encoding of len bytes and count elements. */
static inline int coll_small_fits(uint64_t count, size_t len)
{
    return count <= COLL_SMALL_MAX_ELEMS && len <= COLL_SMALL_MAX_BYTES;
}

/* "listpack" or "hashtable", as Redis 7.0 reports the hash. */
const char *coll_hash_encoding(const struct coll_hash *h);
/* ---- lists (and later sets): a sequence of strings ---- */

/* One element, borrowed from the encoding it was read from (or the caller's). */
struct coll_str {
    const uint8_t *p;
    size_t len;
};

/* An index of the strings of an array by their bytes (open addressing; grows by itself):
 * the element i of the array described by struct coll_keys has its bytes at the pointer
 * `poff` bytes into it and their length at the size_t `loff` bytes into it (a struct
 * coll_str array: COLL_STR_KEYS(e)). The array may move between calls (pass its base
 * each time). For finding the fields or members of a large collection among a command's
 * many arguments in O(1) each: scanning made an HSET or SADD of 200,000 O(n^2) (46 s). */
struct coll_keys {
    const void *base;
    size_t stride, poff, loff;
};
#define COLL_STR_KEYS(e)                                                                           \
    ((struct coll_keys){(e), sizeof(struct coll_str), 0, sizeof(const uint8_t *)})
struct coll_strtab {
    struct coll_strslot {
        uint32_t idx1; /* index + 1; 0: empty; UINT32_MAX: a deleted entry's */
        uint32_t h;
    } * s;
    size_t mask, used; /* used: slots not empty (deleted ones too) */
};
/* Returns 0, or -1 without memory (the table is then empty and usable for nothing). */
int coll_strtab_init(struct coll_strtab *t, size_t expect);
void coll_strtab_free(struct coll_strtab *t);
/* coll_strtab_init with room for n + more, then elements 0..n-1 put. 0, or -1 without
 * memory (the table freed). */
int coll_strtab_build(struct coll_strtab *t, const struct coll_keys *k, size_t n, size_t more);
/* The index of the element with bytes p[0..len), or -1. */
ssize_t coll_strtab_find(const struct coll_strtab *t, const struct coll_keys *k, const void *p,
                         size_t len);
/* Adds element i (not in the table). 0, or -1 without memory (the table unchanged). */
int coll_strtab_put(struct coll_strtab *t, const struct coll_keys *k, size_t i);
/* Removes element i (its index stays unused until put again). */
void coll_strtab_del(struct coll_strtab *t, const struct coll_keys *k, size_t i);
/* Element `from` is now at index `to` (a swap-remove moved it). */
void coll_strtab_move(struct coll_strtab *t, const struct coll_keys *k, size_t from, size_t to);

/* Parses and fully validates the small form of a list v[0..n) into a malloc'd array of
 * its elements (*out, *count; the elements point into v; free(*out)). Room for `extra`
 * more elements is allocated after them. Returns 0, COLL_EBAD, or -2 (out of memory). */
int coll_list_decode(const uint8_t *v, size_t n, size_t extra, struct coll_str **out,
                     size_t *count);
/* Encodes e[0..n) as a list's small form into out (replacing what it held). Returns 0 or
 * -1 (out of memory). */
int coll_list_encode(const struct coll_str *e, size_t n, struct coll_buf *out);
/* The same with the header's flags (COLL_F_BIG), for sets (stored like lists: their
 * members, each once). */
int coll_elems_decode(const uint8_t *v, size_t n, size_t extra, struct coll_str **out,
                      size_t *count, uint8_t *flags);
int coll_elems_encode(const struct coll_str *e, size_t n, uint8_t flags, struct coll_buf *out);

/* ---- sorted sets: (score, member) pairs kept sorted by score, then member ---- */

struct coll_zel {
    double score;
    const uint8_t *p; /* the member, borrowed */
    size_t len;
};

/* Parses and validates the small form of a sorted set v[0..n) into a malloc'd array (the
 * members point into v), with room for `extra` more, and its header flags. Returns 0,
 * COLL_EBAD, or -2 (out of memory). */
int coll_zset_decode(const uint8_t *v, size_t n, size_t extra, struct coll_zel **out, size_t *count,
                     uint8_t *flags);
/* Encodes e[0..n) (the caller keeps them sorted) into out. 0 or -1 (out of memory). */
int coll_zset_encode(const struct coll_zel *e, size_t n, uint8_t flags, struct coll_buf *out);
/* The order of sorted-set elements: score, then member bytes (memcmp, shorter first). */
int coll_zel_cmp(const struct coll_zel *a, const struct coll_zel *b);
/* Sorts n sorted-set elements encoded end to end in p[0..len) (no header: a large sorted
 * set's buckets read one after another) into (score, member) order, in place. 0,
 * COLL_EBAD (they do not parse as n elements), or -2 (out of memory). */
int coll_zset_sort_elems(uint8_t *p, size_t len, uint64_t n);

/* An index of strings by content, for finding members among many (a large sorted set's
 * ZADD of thousands, ZUNIONSTORE): open addressing on XXH3, each slot holding an entry's
 * number + 1; the strings stay the caller's, named to the index by key(arg, i). */
struct coll_idx {
    uint32_t *slot;
    size_t mask, n;
    void (*key)(const void *arg, size_t i, const uint8_t **p, size_t *len);
    const void *arg;
};
/* 0, or -2 (out of memory). */
int coll_idx_init(struct coll_idx *x, void (*key)(const void *, size_t, const uint8_t **, size_t *),
                  const void *arg);
void coll_idx_free(struct coll_idx *x);
/* The entry whose string is p[0..len), or -1. */
long coll_idx_find(const struct coll_idx *x, const void *p, size_t len);
/* Adds entry i (its string not in the index yet; arg may have moved: key sees the new
 * one). 0, or -2. */
int coll_idx_add(struct coll_idx *x, size_t i);

/* The elements of the small form v[0..n) of a collection of type t (a COLL_* other than
 * COLL_STRING) as byte ranges: off[i]..off[i+1] is element i's encoding (a pair for a
 * hash, score and member for a sorted set), off[count] == n (*off malloc'd). Validates
 * the framing, not the contents. Returns 0, COLL_EBAD (also for no elements), or -2 (out
 * of memory). */
int coll_spans(int t, const uint8_t *v, size_t n, size_t **off, size_t *count);

/* OBJECT ENCODING of a value of type t (a COLL_* other than COLL_STRING) encoded in
 * v[0..n): Redis 7.0's name for it; "unknown" when it does not parse. */
const char *coll_encoding(int t, const uint8_t *v, size_t n);

#endif
