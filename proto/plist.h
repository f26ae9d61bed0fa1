/*
 * plist.h - the large form of a collection (engine/FORMAT.md, "Large form"): the root
 * record that stays under the user key, the keys of its pages in the hidden page table,
 * and its anchor in the hidden anchor table. Pure functions over byte buffers (no
 * engine), unit-tested alone (tests/unit/test_plist.c).
 *
 * A large list is its root plus pages numbered consecutively [head, tail] (head numbers
 * go down from PLIST_MID as pages are pushed on the left, tail numbers go up). A page's
 * value is the small form of a list (proto/coll.h) holding its run of elements. The
 * pages are named by the collection's version, never by its key, so a root moves
 * (RENAME, MOVE, SWAPDB) without its pages, and a version is never handed out twice, so
 * a page can only ever be read as part of the collection it was written for.
 */
#ifndef LS_PROTO_PLIST_H
#define LS_PROTO_PLIST_H

#include <stddef.h>
#include <stdint.h>

/* Little-endian 64-bit fields of roots, anchors and tree nodes. */
static inline void plist_put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t plist_get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Byte 0 of a large collection's root (low nibble; the small form's is COLL_VERSION). */
#define PLIST_ROOT_VERSION 2
/* The first page of a list converted to the large form. */
#define PLIST_MID (UINT64_C(1) << 62)
/* Encoded length of a list's root: byte 0, version, count, head, tail, lo, hi. */
#define PLIST_ROOT_LEN (1 + 6 * 8)
/* A tree's root (PLIST_F_TREE) adds top, next and depth: the longest root. */
#define PLIST_ROOT_MAX (PLIST_ROOT_LEN + 3 * 8)
/* Length of a page key: version and page number, big-endian. */
#define PLIST_PAGE_KEY_LEN 16
/* Length of an anchor's key: the version, big-endian. */
#define PLIST_ANCHOR_KEY_LEN 8

/* A page is full past either bound (a page of one element may be larger). */
#define PLIST_PAGE_ELEMS 128
#define PLIST_PAGE_BYTES 8192

/* A root's flag (high nibble of byte 0, besides the small form's COLL_F_BIG): its pages are
 * hash buckets (a large hash or set): page head + b holds the elements whose field or
 * member hashes to b (plist_bucket), in any order; a bucket may be empty. Without it the
 * pages hold the elements in order (a list, a sorted set). */
#define PLIST_F_HASHED 0x20u
/* A root's flag (with PLIST_F_HASHED): a large sorted set whose members are in hash
 * buckets [head, tail] (member and score: ZSCORE, the score a ZADD replaces) and whose
 * elements are also in a B+tree in score order (proto/ztree.h), its pages numbered
 * downwards from head - 1 (down to next + 1), its top page `top`, `depth` levels (1: the
 * top is a leaf). */
#define PLIST_F_TREE 0x40u

/* A root's flag: a large stream's (proto/stream.h): a list root whose pages hold entries,
 * followed by the stream's meta (any length), which the root's value ends with. */
#define PLIST_F_STREAM 0x80u
/* The root of a large collection. */
struct plist_root {
    uint8_t flags;             /* the small form's header flags (COLL_F_BIG ...) */
    uint64_t version;          /* the collection's version: names its pages and anchor */
    uint64_t count;            /* elements */
    uint64_t head;             /* first page number */
    uint64_t tail;             /* last page number (head <= tail) */
    uint64_t lo, hi;           /* the range its anchor names (lo <= head, tail <= hi): a push past
                                  it widens the anchor in the same batch */
    uint64_t top, next, depth; /* PLIST_F_TREE only: the tree's top page, the next page
                                  number to hand out (down: lo <= next + 1, next < top), its
                                  levels */
};

/* Whether v[0..n) is a large collection's root (whatever it decodes to). */
int plist_is_root(const uint8_t *v, size_t n);
/* Parses a root: 0, or -1 when v[0..n) is not a valid one (count 0, head > tail, more
 * pages than elements but for hashed buckets, [head, tail] outside [lo, hi], a wrong
 * length). */
int plist_root_decode(const uint8_t *v, size_t n, struct plist_root *out);
/* Encodes r into out[plist_root_len(r)] (at most PLIST_ROOT_MAX); returns the length. */
size_t plist_root_encode(const struct plist_root *r, uint8_t *out);
size_t plist_root_len(const struct plist_root *r);

/* The bucket, 0..nb-1, of the field or member p[0..n) in a hashed collection of nb
 * buckets (nb >= 1). */
uint64_t plist_bucket(const void *p, size_t n, uint64_t nb);

/* The page key of page `page` of version `version`. */
void plist_page_key(uint64_t version, uint64_t page, uint8_t *out);
/* The anchor key of version `version`. */
void plist_anchor_key(uint64_t version, uint8_t *out);
/* The version an anchor key names: 0 and *version, or -1 when k[0..n) is not one. */
int plist_anchor_key_decode(const uint8_t *k, size_t n, uint64_t *version);

/* An anchor's value: the user key its root is under and the page numbers its pages may
 * occupy (lo..hi, inclusive; pages outside the root's [head, tail] are garbage). */
struct plist_anchor {
    const uint8_t *key; /* borrowed from the decoded buffer (or the caller's) */
    size_t key_len;
    uint64_t lo, hi;
};
/* Bytes an anchor takes encoded. */
size_t plist_anchor_len(const struct plist_anchor *a);
/* Encodes a into out[plist_anchor_len(a)]; returns the length. */
size_t plist_anchor_encode(const struct plist_anchor *a, uint8_t *out);
/* 0, or -1 when v[0..n) is not an anchor (lo > hi, a key past the end, trailing bytes). */
int plist_anchor_decode(const uint8_t *v, size_t n, struct plist_anchor *out);

/* Splits elements of lengths len[0..n) into pages: the number of elements of each page
 * into per[] (at most n entries), so that each page holds at most PLIST_PAGE_ELEMS
 * elements and `max` bytes of encoding (PLIST_PAGE_BYTES, or less when max_value_size
 * is smaller), or a single element. Returns the number of pages (0 when n is 0). */
size_t plist_split(const size_t *len, size_t n, size_t max, size_t *per);
/* The same for elements whose whole encodings (length prefixes included: a hash's pair,
 * a sorted set's score and member) take enc[0..n) bytes. */
size_t plist_split_raw(const size_t *enc, size_t n, size_t max, size_t *per);
/* Bytes of the small-form encoding of a page holding elements of lengths len[0..n). */
size_t plist_page_bytes(const size_t *len, size_t n);

#endif
