/*
 * ztree.h - the B+tree of a large sorted set (engine/FORMAT.md, "Large form", sorted
 * sets): its pages' encodings and the changes a command makes to the part of the tree it
 * read. Pure functions over byte buffers (no engine), unit-tested alone
 * (tests/unit/test_ztree.c); server/large_zset.c reads and writes the pages.
 *
 * A leaf is the small form of a sorted set (proto/coll.h: COLL_VERSION, varint n, n
 * elements in (score, member) order). An interior node is byte 0 ZT_NODE_VERSION, varint
 * k >= 1, then k entries: the child's page number (8 bytes, little-endian), varint the
 * number of elements under the child, and a key encoded as a sorted set's element is
 * (score, varint len, member): a lower bound of the keys under the child (entry 0's is
 * not used: entry 0 takes every key below entry 1's). A node holds at most ZT_PAGE_ELEMS
 * elements or entries and ZT_PAGE_BYTES bytes, but for a node of one; members of a tree
 * are at most ZT_MEMBER_MAX bytes, so that a command's pages fit one batch.
 *
 * The counts give ranks: the rank of a key is the sum of the counts of the entries left of
 * its path plus its position in its leaf. A command reads the top, then level by level the
 * children its queries need (zt_wants, zt_attach), then answers from what it read
 * (zt_rank, zt_below, zt_range) or changes it (zt_delete, zt_insert, then zt_commit:
 * emptied nodes dropped, overfull ones split, new pages numbered, the changed pages
 * encoded).
 */
#ifndef LS_PROTO_ZTREE_H
#define LS_PROTO_ZTREE_H

#include <stddef.h>
#include <stdint.h>

#include "coll.h"

#define ZT_NODE_VERSION 3
#define ZT_PAGE_BYTES   4096
#define ZT_PAGE_ELEMS   128
#define ZT_MEMBER_MAX   1024

struct zt_node;

struct zt_ent {
    uint64_t page, count;
    struct coll_zel key; /* lower bound (entry 0's unused) */
};

struct zt_node {
    uint64_t page; /* 0: a new node, numbered by zt_commit */
    int leaf;
    int dirty;   /* to be written */
    int touched; /* changed below: zt_commit looks at it */
    size_t n, cap;
    struct coll_zel *e;   /* leaf: elements */
    struct zt_ent *c;     /* interior: entries */
    struct zt_node **kid; /* interior: the children read (NULL: not read) */
    uint8_t *raw;         /* the page as read: e's and c's members point into it */
};

struct zt_tree {
    struct zt_node *top;
    uint64_t depth; /* levels: 1, the top is a leaf */
    uint64_t next;  /* the next page number to hand out, going down */
    struct zt_node **all;
    size_t nall, capall;
    uint8_t **mem; /* members copied in by zt_insert */
    size_t nmem, capmem;
};

/* A page to read: entry idx of parent (NULL: the top), a leaf or not. */
struct zt_want {
    struct zt_node *parent;
    size_t idx;
    uint64_t page;
    int leaf;
};

/* What a command needs of the tree: the path of a key (its rank, or a change of it), the
 * leaves of the ranks [a, b), or the path to the end of the prefix of elements for which
 * below(x, arg) holds (a score or lex bound: elements below it come first). */
enum zt_qkind { ZT_Q_KEY, ZT_Q_RANGE, ZT_Q_BELOW };
struct zt_query {
    enum zt_qkind kind;
    struct coll_zel key;
    uint64_t a, b;
    int (*below)(const struct coll_zel *x, const void *arg);
    const void *arg;
};

/* A tree whose top (page `top`, leaf when depth is 1) is v[0..n): 0, COLL_EBAD, -2. */
int zt_open(struct zt_tree *t, uint64_t top, uint64_t depth, uint64_t next, const uint8_t *v,
            size_t n);
/* A new tree holding the sorted e[0..n) (n >= 1), every node dirty and new (numbered by
 * zt_commit). 0 or -2. */
int zt_new(struct zt_tree *t, const struct coll_zel *e, size_t n, uint64_t next);
void zt_free(struct zt_tree *t);

/* The pages the queries need that are not read yet, at most max into out (the next level
 * of each path only). Returns how many; 0 when all are read. */
size_t zt_wants(struct zt_tree *t, const struct zt_query *q, size_t nq, struct zt_want *out,
                size_t max);
/* A wanted page read: v[0..n). 0, COLL_EBAD (does not decode, or its count disagrees
 * with its parent's entry), -2. */
int zt_attach(struct zt_tree *t, const struct zt_want *w, const uint8_t *v, size_t n);

/* Once the query's pages are read: the number of elements before key (*found: key is
 * one); the number of elements below (ZT_Q_BELOW); ranks [a, b) into out[b - a]
 * (members borrowed from the tree). */
uint64_t zt_rank(const struct zt_tree *t, const struct coll_zel *key, int *found);
uint64_t zt_below(const struct zt_tree *t, int (*below)(const struct coll_zel *, const void *),
                  const void *arg);
int zt_range(const struct zt_tree *t, uint64_t a, uint64_t b, struct coll_zel *out);

/* Removes key (present: else COLL_EBAD) / inserts key (absent; its member copied) along
 * paths read. 0, COLL_EBAD, -2. */
int zt_delete(struct zt_tree *t, const struct coll_zel *key);
int zt_insert(struct zt_tree *t, const struct coll_zel *key);

/* The pages a commit writes and frees. */
struct zt_page {
    uint64_t page;
    struct coll_buf v;
};
struct zt_out {
    struct zt_page *w;
    size_t nw;
    uint64_t *freed;
    size_t nfreed;
    uint64_t top, depth, next;
};
/* Splits overfull nodes, drops emptied ones (the tree must not be empty), numbers new
 * pages from t->next down, and encodes every dirty node into out. 0 or -2. */
int zt_commit(struct zt_tree *t, struct zt_out *out);
void zt_out_free(struct zt_out *out);

/* Bytes of an element's encoding (score, varint len, member). */
size_t zt_elem_bytes(const struct coll_zel *e);

#endif
