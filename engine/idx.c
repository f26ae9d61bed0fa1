/*
 * idx.c - the in-memory index: a B+tree of 24-byte entries ordered by (token, hash2).
 *
 * Why a B+tree with big nodes: the headline figure is memory per key (under 40 bytes at
 * 10 million keys, B-tree overhead included). An entry is 24 bytes, so what matters is
 * how full the leaves are and how much the tree spends beside them:
 *
 *   - Leaves hold LEAF_CAP entries in one 4 KiB allocation, so malloc's per-chunk
 *     header and the inner levels cost well under 1% (an inner node of INNER_CAP
 *     children sits above ~130 leaves).
 *   - Node sizes are 8 mod 16 bytes, so glibc hands out a chunk of exactly size + 8.
 *   - Inserts keep leaves about 80% full instead of the ~69% of a plain half split,
 *     like Knuth's B*-tree: a full leaf first shares its entries with an adjacent
 *     sibling that has room; when both neighbours are full, the leaf and one full
 *     sibling (2 * LEAF_CAP + 1 entries with the new one) are spread over three leaves.
 *     Only a leaf root splits 1 -> 2. Inner nodes are few and split plainly in halves.
 *   - Deletes must merge or rebalance a leaf that drops below LEAF_MIN and an inner
 *     node that drops below INNER_MIN. Beyond that, after each delete the leaf and its
 *     neighbours are merged 2 -> 1 or 3 -> 2 when they fit at MERGE_FILL (5/6 full),
 *     so random deletes keep leaves well filled instead of drifting toward a third.
 *
 * Measured (bench_idx, 10M random keys): 27.2 bytes per key (88% leaf fill), 27.7
 * after churning half of the keys; 2 or 8 KiB leaves change this by under 0.5 bytes.
 *
 * Every structural change goes the same way: gather the entries (or children and
 * separators) of the one to three nodes involved into a scratch area in the handle,
 * then spread them evenly over the output nodes and fix the parent's separators.
 * An insert that must split allocates every node it may need before it changes
 * anything, so -ENOMEM leaves the index as it was. Deletes never allocate (except for
 * the copies below, reserved before anything changes too).
 *
 * Snapshots (copy-on-write, a persistent B-tree by path copying). t->gen is the
 * generation given to every node made; idx_snapshot records root, height and counters
 * in a handle, takes gen as the snapshot's and bumps t->gen. A live node whose gen is
 * <= t->shared_gen (the newest live snapshot's gen; 0 when none) existed when that
 * snapshot was taken, so the snapshot reads it and it must not change: every operation
 * first calls cow_begin (with no snapshot live, one compare and nothing else), which
 * reserves spare nodes and room in the retired list, then owns what it will modify:
 * path_own copies the shared nodes of the root-to-leaf path top down (each copy takes
 * the original's place in its parent, which is already owned), node_own does the same
 * for a sibling a split or merge rewrites, and node_drop retires instead of freeing a
 * shared node that leaves the tree. A copy gets the current gen, so it is changed in
 * place afterwards: each node is copied at most once per snapshot. Because copies come
 * from the reserved spares, an operation that has begun cannot fail halfway.
 *
 * Reclamation. A node X is in exactly the snapshots taken while it was live (nodes
 * never return to the live tree once they leave it). When it leaves, it goes on the
 * retired list of the newest live snapshot N (it is in N iff gen(X) <= gen(N);
 * otherwise it is freed at once), so the memory a snapshot pins is its list
 * (idx_snap_memory). Releasing N is O(1) per chunk of its list: the chunks move to
 * t->pending tagged with bound = gen(N). idx_snap_reclaim later sifts a chunk at a
 * time: X is then held by exactly the live snapshots O with gen(X) <= gen(O) < bound,
 * so it passes to the newest live snapshot below the bound if that one holds it, and
 * is freed otherwise; kept nodes stay in their chunk, which joins that snapshot's list,
 * so reclaiming never allocates. A snapshot's release thus costs nothing on the spot
 * and O(its nodes) later, in steps the caller bounds.
 *
 * There are no parent or sibling pointers: operations record the root-to-leaf path
 * (struct path), which bounds the work and makes the scan cursor a path as well.
 *
 * The finger. A command often looks the same key up twice in a row: INCR, APPEND or
 * SET NX read the key (idx_find) and then write it (idx_upsert from the write buffer),
 * and a put may look it up once more before that (expired-key reporting, the cold-stream
 * guess of compaction). The path of the last lookup is therefore kept in the handle
 * (t->fp, the very path the operation works on) with its key, and the next lookup of the
 * same (token, hash2) starts from it instead of descending again. It is valid only while
 * t->shape equals the value it had when the path was taken: shape_changed bumps it on
 * every insert and removal of an entry (which move entries within a leaf, and take in
 * every split, merge and rebalance), whenever a node leaves the live tree (node_drop) or
 * a copy takes a shared node's place (node_own, copy-on-write while a snapshot is live),
 * and on idx_clear and idx_load. What does not bump it keeps every key where it is:
 * replacing an entry in place and idx_cas_loc change an entry's value, never its
 * position, and the finger holds positions, not values. Some bumps are covered by others
 * today (path_own rewrites the finger's own path, so a copy of it never leaves it stale;
 * idx_clear drops every node; idx_load fills only an empty tree) and stay so that no
 * later change can keep a finger across such a change. Only the same key is served: a
 * key elsewhere in the same leaf would need the leaf's bounds from the descent, and with
 * keys ordered by hash a following lookup of another key lands in the same leaf about
 * once in (number of leaves) times.
 *
 * Invariants (idx_check tests all of them):
 *   1. Entries are strictly increasing by (token, hash2) within a leaf and across
 *      leaves; inner separators are strictly increasing.
 *   2. Inner node: n children, n - 1 separators; every key in child[i] is
 *      >= key[i - 1] and < key[i] (bounds inherited from the ancestors).
 *   3. Every node records its level; leaves are level 0 and all at depth t->height.
 *   4. A non-root leaf holds LEAF_MIN..LEAF_CAP entries (MERGE_FILL is a goal, not an
 *      invariant); a non-root inner node
 *      INNER_MIN..INNER_CAP children; an inner root at least 2; a leaf root at least 1
 *      (an empty tree has no root at all).
 *   5. t->count is the number of entries and t->bytes the sum of the requested sizes
 *      of the handle and every node.
 *   6. t->nexp is the number of entries with an expiry and t->exp_sum the sum of those
 *      expiries (INFO keyspace's expires= and avg_ttl, exact at any moment): every
 *      change of an entry goes through entry_add/entry_sub.
 *   7. Every node's gen is in 1..t->gen (a snapshot's nodes: 1..its gen). A node made in
 *      generation g is frozen from the first live snapshot S with gen(S) >= g on, so its
 *      children have gen <= gen(S) (they were all in S).
 *   8. Live snapshots are listed oldest first with increasing gens, all < t->gen, and
 *      t->shared_gen is the newest one's; a node on snapshot S's retired list has gen
 *      <= gen(S), one on a pending chunk gen <= its bound; S->bytes is its handle, its
 *      list's chunks and nodes; t->pend_bytes is the pending chunks and nodes; and
 *      t->snap_bytes is the sum of all those plus the spares (which exist only while a
 *      snapshot is live).
 *   9. While t->fing_shape == t->shape and the tree is not empty, t->fp is the path
 *      descend() takes now for (t->fing_tok, t->fing_h2): the same nodes, slots, leaf
 *      and position.
 */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Overridable at build time only to measure other node sizes in bench_idx. */
#ifndef IDX_LEAF_CAP
#define IDX_LEAF_CAP 170 /* 8 + 170 * 24 = 4088 bytes: a 4096-byte malloc chunk */
#endif
#ifndef IDX_INNER_CAP
#define IDX_INNER_CAP 202 /* 20 * 202 = 4040 bytes with the 8-byte header */
#endif

#define LEAF_CAP   IDX_LEAF_CAP
#define LEAF_MIN   (LEAF_CAP / 3)
#define MERGE_FILL (LEAF_CAP * 5 / 6) /* deletes merge neighbours that fit at this fill */
#define INNER_CAP  IDX_INNER_CAP
#define INNER_MIN  (INNER_CAP / 2)
#define MAX_HEIGHT 16 /* inner levels; INNER_MIN^15 is far beyond any memory */

_Static_assert(LEAF_CAP >= 6 && LEAF_CAP < 65536, "leaf capacity fits a uint16_t count");
_Static_assert(INNER_CAP >= 4 && INNER_CAP < 65536 && INNER_CAP % 2 == 0,
               "inner capacity is even and fits a uint16_t count");

#define IDX_ASSERT(c)                                                                              \
    do {                                                                                           \
        if (!(c))                                                                                  \
            idx_assert_fail(#c, __FILE__, __LINE__);                                               \
    } while (0)

static void idx_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

/* Both node kinds begin with the same 8 bytes: struct node_hdr. gen is the generation
 * the node was made in (see "Snapshots" above). */
struct node_hdr {
    uint16_t n;
    uint16_t level;
    uint32_t gen;
};

struct leaf {
    uint16_t n;
    uint16_t level; /* always 0 */
    uint32_t gen;
    struct idx_ent e[LEAF_CAP];
};

/* Separators are split into two arrays so that a 12-byte key costs 12 bytes. */
struct inner {
    uint16_t n; /* children */
    uint16_t level;
    uint32_t gen;
    uint32_t h2[INNER_CAP - 1];
    uint64_t tok[INNER_CAP - 1];
    void *child[INNER_CAP];
};

_Static_assert(sizeof(struct leaf) == 8 + 24 * LEAF_CAP, "leaf has no padding");
_Static_assert(offsetof(struct leaf, e) == sizeof(struct node_hdr) &&
                   offsetof(struct inner, h2) == sizeof(struct node_hdr),
               "both nodes begin with a struct node_hdr");
#if IDX_LEAF_CAP == 170 && IDX_INNER_CAP == 202
_Static_assert(sizeof(struct leaf) % 16 == 8 && sizeof(struct inner) % 16 == 8,
               "node sizes are 8 mod 16 so malloc wastes nothing beyond its header");
#endif

/* Root-to-leaf path. up[l].node is the inner node at level l (1..height), up[l].slot
 * the index of the child taken in it; leaf and pos are the leaf and the position in it.
 * (With node and slot in two parallel arrays, gcc 12's ipa-modref wrongly concluded
 * at -O1 and above that descend() does not write the node array: keep them together.) */
struct step {
    struct inner *node;
    unsigned slot;
};

struct path {
    struct step up[MAX_HEIGHT + 1];
    struct leaf *leaf;
    unsigned pos;
};

/* Room to gather the nodes taking part in one structural change. */
struct scratch {
    struct idx_ent e[2 * LEAF_CAP + 1];
    void *child[2 * INNER_CAP + 1];
    uint64_t tok[2 * INNER_CAP];
    uint32_t h2[2 * INNER_CAP];
};

/* Nodes retired to a snapshot: taken out of the live tree, still read by the snapshot. */
#define RETIRE_CAP 509 /* 16 + 509 * 8 = 4088 bytes */
struct retire_chunk {
    struct retire_chunk *next;
    uint32_t n;
    uint32_t bound; /* on t->pending: gen of the released snapshot that held it; else 0 */
    void *node[RETIRE_CAP];
};

/* Most nodes one upsert, remove or cas can copy or drop while a snapshot is live: the
 * path (up to MAX_HEIGHT inner nodes and a leaf), two leaf siblings, one inner sibling
 * per inner level below the root. cow_begin reserves room to retire this many, three
 * spare leaves and 2 * height spare inner nodes before the operation. */
#define COW_LEAVES  3
#define COW_INNERS  (2 * MAX_HEIGHT)
#define COW_RETIRES (COW_LEAVES + COW_INNERS)
_Static_assert(COW_RETIRES <= RETIRE_CAP, "one chunk holds an operation's retirements");

struct idx_snap {
    struct idx_snap *older, *newer; /* live snapshots, oldest first (= by gen) */
    uint32_t gen;                   /* t->gen when taken: nodes with gen <= this are in it */
    unsigned height;
    void *root;
    uint64_t count, nexp, exp_sum;
    struct retire_chunk *retired; /* nodes it holds that left the live tree (invariant 8) */
    size_t bytes;                 /* those nodes, their chunks and this handle */
};

struct idx {
    void *root; /* struct leaf when height == 0, else struct inner; NULL when empty */
    unsigned height;
    uint64_t count;
    uint64_t nexp;    /* entries with an expiry (invariant 6) */
    uint64_t exp_sum; /* the sum of their expiries, absolute unix ms */
    size_t bytes;     /* the handle and the live tree's nodes (invariant 5) */
    /* Snapshots (invariants 7 and 8). */
    uint32_t gen;        /* generation given to new nodes; a snapshot takes it and bumps it */
    uint32_t shared_gen; /* gen of the newest live snapshot, 0 when none */
    struct idx_snap *snap_oldest, *snap_newest;
    unsigned nsnaps;
    size_t snap_bytes;            /* snapshots' bytes, pending chunks, spares below */
    struct retire_chunk *pending; /* lists of released snapshots, for idx_snap_reclaim */
    size_t pend_bytes;            /* their chunks and nodes */
    /* Reserved by cow_begin so that an operation under way never fails to copy. */
    struct leaf *spare_leaf[COW_LEAVES];
    struct inner *spare_inner[COW_INNERS];
    struct retire_chunk *spare_chunks;
    unsigned nspare_leaf, nspare_inner;
    /* The finger (invariant 9): the path of the last lookup, reused by the next lookup
     * of the same key while the tree's shape has not changed. */
    uint64_t shape;      /* bumped by every change of the live tree's shape (shape_changed) */
    uint64_t fing_shape; /* shape when fp was filled: fp is valid while it equals shape */
    uint64_t fing_tok;   /* the key fp was filled for */
    uint32_t fing_h2;
    struct path fp;
    struct scratch s;
};

/* Every change that moves an entry within or between leaves, adds or removes a node, or
 * makes a copy take a node's place calls this: the finger no longer describes the tree. */
static inline void shape_changed(struct idx *t)
{
    t->shape++;
}

/* Counts e into the expiry counters (invariant 6); entry_sub takes it out. */
static void entry_add(struct idx *t, const struct idx_ent *e)
{
    uint64_t x = idx_meta_expire(e->meta);
    t->nexp += x != 0;
    t->exp_sum += x;
}

static void entry_sub(struct idx *t, const struct idx_ent *e)
{
    uint64_t x = idx_meta_expire(e->meta);
    t->nexp -= x != 0;
    t->exp_sum -= x;
}

/* Nodes an insert may need, allocated before the tree is touched. */
struct pool {
    struct leaf *leaf;
    struct inner *inner[MAX_HEIGHT + 1];
    unsigned ninner;
};

static inline uint32_t ent_h2(const struct idx_ent *e)
{
    return idx_meta_hash2(e->meta);
}

static inline int key_cmp(uint64_t at, uint32_t ah, uint64_t bt, uint32_t bh)
{
    if (at != bt)
        return at < bt ? -1 : 1;
    if (ah != bh)
        return ah < bh ? -1 : 1;
    return 0;
}

/* ---- nodes ---------------------------------------------------------------------- */

static struct leaf *leaf_new(struct idx *t)
{
    struct leaf *l = malloc(sizeof(*l));
    if (!l)
        return NULL;
    l->n = 0;
    l->level = 0;
    l->gen = t->gen;
    t->bytes += sizeof(*l);
    return l;
}

static struct inner *inner_new(struct idx *t)
{
    struct inner *in = malloc(sizeof(*in));
    if (!in)
        return NULL;
    in->n = 0;
    in->level = 0;
    in->gen = t->gen;
    t->bytes += sizeof(*in);
    return in;
}

/* The header of either node kind (read through memcpy: the node is a leaf or an inner). */
static inline struct node_hdr node_hdr(const void *node)
{
    struct node_hdr h;
    memcpy(&h, node, sizeof(h));
    return h;
}

static size_t node_size(const void *node)
{
    return node_hdr(node).level == 0 ? sizeof(struct leaf) : sizeof(struct inner);
}

static void leaf_free(struct idx *t, struct leaf *l)
{
    t->bytes -= sizeof(*l);
    free(l);
}

static void inner_free(struct idx *t, struct inner *in)
{
    t->bytes -= sizeof(*in);
    free(in);
}

/* Frees the subtree under node at level (recursion depth is at most MAX_HEIGHT). */
static void node_free_tree(struct idx *t, void *node, unsigned level)
{
    if (level == 0) {
        leaf_free(t, node);
        return;
    }
    struct inner *in = node;
    for (unsigned i = 0; i < in->n; i++)
        node_free_tree(t, in->child[i], level - 1);
    inner_free(t, in);
}

/* ---- copy on write --------------------------------------------------------------- */

/* A live node is shared with a live snapshot when it was made no later than the newest
 * one (invariant 7). With no live snapshot shared_gen is 0 and no node is shared. */
static inline int node_shared(const struct idx *t, const void *node)
{
    return node_hdr(node).gen <= t->shared_gen;
}

/* Moves node from the live tree to the newest snapshot's retired list. The room was
 * reserved by cow_reserve or clear_reserve. */
static void node_retire(struct idx *t, void *node)
{
    struct idx_snap *s = t->snap_newest;
    struct retire_chunk *c = s->retired;
    if (!c || c->n == RETIRE_CAP) {
        c = t->spare_chunks;
        IDX_ASSERT(c != NULL);
        t->spare_chunks = c->next;
        c->next = s->retired;
        c->n = 0;
        c->bound = 0;
        s->retired = c;
        s->bytes += sizeof(*c); /* already in t->snap_bytes as a spare */
    }
    c->node[c->n++] = node;
    size_t size = node_size(node);
    t->bytes -= size;
    s->bytes += size;
    t->snap_bytes += size;
}

/* Takes node out of the live tree: retired when a snapshot holds it, else freed. */
static void node_drop(struct idx *t, void *node)
{
    shape_changed(t);
    if (node_shared(t, node))
        node_retire(t, node);
    else if (node_hdr(node).level == 0)
        leaf_free(t, node);
    else
        inner_free(t, node);
}

/* Makes *link (a pointer to a live node held by t->root or by a node already owned)
 * safe to modify: a shared node is copied from the spares, the copy takes its place
 * and the original is retired. Returns the node to modify. Cannot fail: cow_begin
 * reserved the spares. */
static void *node_own(struct idx *t, void **link)
{
    void *old = *link;
    if (!node_shared(t, old))
        return old;
    void *copy;
    size_t size;
    if (node_hdr(old).level == 0) {
        const struct leaf *ol = old;
        IDX_ASSERT(t->nspare_leaf > 0);
        struct leaf *l = t->spare_leaf[--t->nspare_leaf];
        memcpy(l, ol, offsetof(struct leaf, e) + ol->n * sizeof(ol->e[0]));
        l->gen = t->gen;
        copy = l;
        size = sizeof(*l);
    } else {
        IDX_ASSERT(t->nspare_inner > 0);
        struct inner *in = t->spare_inner[--t->nspare_inner];
        memcpy(in, old, sizeof(*in));
        in->gen = t->gen;
        copy = in;
        size = sizeof(*in);
    }
    t->snap_bytes -= size;
    t->bytes += size;
    node_retire(t, old);
    *link = copy;
    shape_changed(t);
    return copy;
}

/* Owns every node on the path, top down, so that its nodes can be modified; the path
 * then names the copies. */
static void path_own(struct idx *t, struct path *p)
{
    if (!t->shared_gen)
        return;
    void **link = &t->root;
    for (unsigned l = t->height; l >= 1; l--) {
        p->up[l].node = node_own(t, link);
        link = &p->up[l].node->child[p->up[l].slot];
    }
    p->leaf = node_own(t, link);
}

/* Allocates what an upsert, remove or cas may copy or retire while a snapshot is live:
 * COW_LEAVES leaves, two inner nodes per inner level, room for COW_RETIRES retired
 * nodes. Returns 0 or -ENOMEM (nothing in the tree changed). */
static int cow_reserve(struct idx *t)
{
    while (t->nspare_leaf < COW_LEAVES) {
        struct leaf *l = malloc(sizeof(*l));
        if (!l)
            return -ENOMEM;
        t->spare_leaf[t->nspare_leaf++] = l;
        t->snap_bytes += sizeof(*l);
    }
    while (t->nspare_inner < 2 * t->height) {
        struct inner *in = malloc(sizeof(*in));
        if (!in)
            return -ENOMEM;
        t->spare_inner[t->nspare_inner++] = in;
        t->snap_bytes += sizeof(*in);
    }
    const struct retire_chunk *head = t->snap_newest->retired;
    unsigned room = head ? RETIRE_CAP - head->n : 0;
    if (room < COW_RETIRES && !t->spare_chunks) {
        struct retire_chunk *c = malloc(sizeof(*c));
        if (!c)
            return -ENOMEM;
        c->next = NULL;
        c->n = 0;
        c->bound = 0;
        t->spare_chunks = c;
        t->snap_bytes += sizeof(*c);
    }
    return 0;
}

/* Called before an operation modifies the tree; one branch when no snapshot is live. */
static inline int cow_begin(struct idx *t)
{
    return t->shared_gen ? cow_reserve(t) : 0;
}

/* Frees the spares (once no snapshot is live they are not needed). */
static void spares_free(struct idx *t)
{
    while (t->nspare_leaf > 0) {
        free(t->spare_leaf[--t->nspare_leaf]);
        t->snap_bytes -= sizeof(struct leaf);
    }
    while (t->nspare_inner > 0) {
        free(t->spare_inner[--t->nspare_inner]);
        t->snap_bytes -= sizeof(struct inner);
    }
    while (t->spare_chunks) {
        struct retire_chunk *c = t->spare_chunks;
        t->spare_chunks = c->next;
        free(c);
        t->snap_bytes -= sizeof(*c);
    }
}

/* ---- search --------------------------------------------------------------------- */

/* First position in e[0..n) whose key is >= (tok, h2). */
/* Whether (at, ah) orders before (bt, bh), without a branch. */
static inline unsigned key_less(uint64_t at, uint32_t ah, uint64_t bt, uint32_t bh)
{
    return (unsigned)(at < bt) | ((unsigned)(at == bt) & (unsigned)(ah < bh));
}

/* The searches below halve the range with a conditional move, not a branch: a GET's
 * binary searches of a leaf (170 entries) and an inner node mispredicted about half their
 * steps, and descend was a tenth of the server's time under pipelined GETs. */
static unsigned ents_lower_bound(const struct idx_ent *e, unsigned n, uint64_t tok, uint32_t h2)
{
    if (n == 0)
        return 0;
    unsigned base = 0;
    while (n > 1) {
        unsigned half = n / 2;
        base += key_less(e[base + half].token, ent_h2(&e[base + half]), tok, h2) ? half : 0;
        n -= half;
    }
    return base + key_less(e[base].token, ent_h2(&e[base]), tok, h2);
}

/* The number of separators (tok[i], h2[i]), i < n, that are <= (t, h). */
static unsigned seps_upper_bound(const uint64_t *tok, const uint32_t *h2, unsigned n, uint64_t t,
                                 uint32_t h)
{
    unsigned base = 0;
    if (n == 0)
        return 0;
    while (n > 1) {
        unsigned half = n / 2;
        base += key_less(t, h, tok[base + half], h2[base + half]) ? 0 : half;
        n -= half;
    }
    return base + !key_less(t, h, tok[base], h2[base]);
}

/* Interpolation. Tokens are hashes (token.c), spread evenly over the range a node's
 * keys can have, which its parent's separators bound (lo, hi). So the position of tok
 * among a node's n keys is close to n * (tok - lo) / (hi - lo): within about sqrt(n) / 2
 * for a leaf of n random tokens. The search then covers the SEARCH_WIN keys either side of
 * that guess, their cache lines asked for all at once, and checks that the window holds
 * the answer (the keys on its two edges), searching the whole node only when it does not
 * (keys that are not spread evenly: a bad guess costs time, never a wrong answer). A
 * binary search of a whole leaf took eight cache lines one after another (4 KiB, 170
 * entries): a GET's leaf was most of an index lookup once the leaves outgrew the CPU
 * caches. */
#define SEARCH_WIN    16
#define SEARCH_INTERP (4 * SEARCH_WIN) /* smaller nodes: the plain binary search */

static unsigned guess_pos(uint64_t tok, uint64_t lo, uint64_t hi, unsigned n)
{
    if (tok <= lo || hi <= lo)
        return 0;
    if (tok >= hi)
        return n;
    double g = (double)(tok - lo) / (double)(hi - lo) * (double)n;
    return g >= (double)n ? n : (unsigned)g;
}

/* Asks for the cache lines of the bytes from .. to (inclusive). */
static void prefetch_span(const void *from, const void *to)
{
    uintptr_t a = (uintptr_t)from & ~(uintptr_t)63, z = (uintptr_t)to;
    for (; a <= z; a += 64)
        __builtin_prefetch((const void *)a);
}

/* ents_lower_bound of a leaf's entries whose tokens lie in [lo, hi]. */
static unsigned leaf_lower_bound(const struct idx_ent *e, unsigned n, uint64_t tok, uint32_t h2,
                                 uint64_t lo, uint64_t hi)
{
    if (n >= SEARCH_INTERP) {
        unsigned g = guess_pos(tok, lo, hi, n);
        unsigned a = g > SEARCH_WIN ? g - SEARCH_WIN : 0;
        unsigned b = g + SEARCH_WIN < n ? g + SEARCH_WIN : n;
        prefetch_span(&e[a ? a - 1 : 0], &e[b < n ? b : n - 1]);
        /* the answer is in [a, b] when e[a - 1] < key <= e[b] */
        if ((a == 0 || key_less(e[a - 1].token, ent_h2(&e[a - 1]), tok, h2)) &&
            (b == n || !key_less(e[b].token, ent_h2(&e[b]), tok, h2)))
            return a + ents_lower_bound(e + a, b - a, tok, h2);
    }
    return ents_lower_bound(e, n, tok, h2);
}

/* Child to descend into: the number of separators <= (tok, h2); the node's keys lie in
 * [lo, hi]. */
static unsigned inner_child_index(const struct inner *in, uint64_t tok, uint32_t h2, uint64_t lo,
                                  uint64_t hi)
{
    unsigned n = in->n - 1u; /* separators */
    if (n >= SEARCH_INTERP) {
        unsigned g = guess_pos(tok, lo, hi, n);
        unsigned a = g > SEARCH_WIN ? g - SEARCH_WIN : 0;
        unsigned b = g + SEARCH_WIN < n ? g + SEARCH_WIN : n;
        unsigned f = a ? a - 1 : 0, z = b < n ? b : n - 1;
        prefetch_span(&in->tok[f], &in->tok[z]);
        prefetch_span(&in->h2[f], &in->h2[z]);
        /* the answer is in [a, b] when sep[a - 1] <= key < sep[b] */
        if ((a == 0 || !key_less(tok, h2, in->tok[a - 1], in->h2[a - 1])) &&
            (b == n || key_less(tok, h2, in->tok[b], in->h2[b])))
            return a + seps_upper_bound(in->tok + a, in->h2 + a, b - a, tok, h2);
    }
    return seps_upper_bound(in->tok, in->h2, n, tok, h2);
}

/* Fills *p with the path to the leaf that holds (or would hold) (tok, h2); p->pos is
 * the lower bound in that leaf. The tree must not be empty. */
static void descend(void *root, unsigned height, uint64_t tok, uint32_t h2, struct path *p)
{
    void *node = root;
    uint64_t lo = 0, hi = UINT64_MAX; /* the tokens node's keys can have */
    for (unsigned l = height; l >= 1; l--) {
        struct inner *in = node;
        unsigned i = inner_child_index(in, tok, h2, lo, hi);
        p->up[l].node = in;
        p->up[l].slot = i;
        if (i > 0)
            lo = in->tok[i - 1];
        if (i + 1u < in->n)
            hi = in->tok[i];
        node = in->child[i];
    }
    p->leaf = node;
    p->pos = leaf_lower_bound(p->leaf->e, p->leaf->n, tok, h2, lo, hi);
}

/* Finds the exact entry; returns it or NULL. Either way the finger t->fp then holds
 * the path to (tok, h2) when the tree is not empty (the caller's working path: an
 * operation that changes the tree's shape changes the finger's validity with it). The
 * descent is skipped when the finger already holds the path of this key (invariant 9). */
static struct idx_ent *lookup(struct idx *t, uint64_t tok, uint32_t h2)
{
    if (!t->root)
        return NULL;
    h2 &= IDX_HASH2_MASK;
    struct path *p = &t->fp;
    if (t->fing_shape != t->shape || t->fing_tok != tok || t->fing_h2 != h2) {
        descend(t->root, t->height, tok, h2, p);
        t->fing_shape = t->shape;
        t->fing_tok = tok;
        t->fing_h2 = h2;
    }
    if (p->pos == p->leaf->n)
        return NULL;
    struct idx_ent *e = &p->leaf->e[p->pos];
    return key_cmp(e->token, ent_h2(e), tok, h2) == 0 ? e : NULL;
}

/* Advances *p to the first entry of the next leaf; returns that leaf or NULL at the end. */
static struct leaf *next_leaf(unsigned height, struct path *p)
{
    unsigned l = 1;
    while (l <= height && p->up[l].slot + 1 >= p->up[l].node->n)
        l++;
    if (l > height)
        return NULL;
    p->up[l].slot++;
    void *node = p->up[l].node->child[p->up[l].slot];
    for (l--; l >= 1; l--) {
        p->up[l].node = node;
        p->up[l].slot = 0;
        node = p->up[l].node->child[0];
    }
    p->leaf = node;
    p->pos = 0;
    return p->leaf;
}

/* ---- gather and spread ---------------------------------------------------------- */

static void sep_set(struct inner *in, unsigned i, uint64_t tok, uint32_t h2)
{
    in->tok[i] = tok;
    in->h2[i] = h2;
}

static void sep_from_leaf(struct inner *in, unsigned i, const struct leaf *l)
{
    sep_set(in, i, l->e[0].token, ent_h2(&l->e[0]));
}

/* Copies the k leaves par->child[first..first+k) into scratch, with *ent (if not NULL)
 * inserted in order. Returns the number of entries gathered. */
static unsigned leaf_gather(struct idx *t, struct inner *par, unsigned first, unsigned k,
                            const struct idx_ent *ent)
{
    unsigned n = 0;
    for (unsigned j = 0; j < k; j++) {
        const struct leaf *l = par->child[first + j];
        memcpy(&t->s.e[n], l->e, l->n * sizeof(l->e[0]));
        n += l->n;
    }
    if (ent) {
        unsigned pos = ents_lower_bound(t->s.e, n, ent->token, ent_h2(ent));
        memmove(&t->s.e[pos + 1], &t->s.e[pos], (n - pos) * sizeof(t->s.e[0]));
        t->s.e[pos] = *ent;
        n++;
    }
    return n;
}

/* Spreads the n gathered entries evenly over the k leaves out[]. */
static void leaf_spread(struct idx *t, unsigned n, struct leaf **out, unsigned k)
{
    for (unsigned j = 0; j < k; j++) {
        unsigned from = (unsigned)((uint64_t)n * j / k);
        unsigned to = (unsigned)((uint64_t)n * (j + 1) / k);
        IDX_ASSERT(to - from <= LEAF_CAP);
        memcpy(out[j]->e, &t->s.e[from], (to - from) * sizeof(out[j]->e[0]));
        out[j]->n = (uint16_t)(to - from);
    }
}

/* Copies the children and separators of a (and, when b is not NULL, the separator
 * (mt, mh) followed by those of b) into scratch. Returns the number of children. */
static unsigned inner_gather(struct idx *t, const struct inner *a, uint64_t mt, uint32_t mh,
                             const struct inner *b)
{
    unsigned n = a->n;
    memcpy(t->s.child, a->child, n * sizeof(a->child[0]));
    memcpy(t->s.tok, a->tok, (n - 1) * sizeof(a->tok[0]));
    memcpy(t->s.h2, a->h2, (n - 1) * sizeof(a->h2[0]));
    if (!b)
        return n;
    t->s.tok[n - 1] = mt;
    t->s.h2[n - 1] = mh;
    memcpy(&t->s.child[n], b->child, b->n * sizeof(b->child[0]));
    memcpy(&t->s.tok[n], b->tok, (b->n - 1u) * sizeof(b->tok[0]));
    memcpy(&t->s.h2[n], b->h2, (b->n - 1u) * sizeof(b->h2[0]));
    return n + b->n;
}

/* Makes `in` hold scratch children [from, from + n) and the separators between them. */
static void inner_fill(struct idx *t, struct inner *in, unsigned from, unsigned n)
{
    IDX_ASSERT(n >= 1 && n <= INNER_CAP);
    memcpy(in->child, &t->s.child[from], n * sizeof(in->child[0]));
    memcpy(in->tok, &t->s.tok[from], (n - 1) * sizeof(in->tok[0]));
    memcpy(in->h2, &t->s.h2[from], (n - 1) * sizeof(in->h2[0]));
    in->n = (uint16_t)n;
}

/* Inserts child c at index at of a non-full node, with separator (tok, h2) before it. */
static void inner_insert_at(struct inner *in, unsigned at, uint64_t tok, uint32_t h2, void *c)
{
    unsigned n = in->n;
    IDX_ASSERT(n < INNER_CAP && at >= 1 && at <= n);
    memmove(&in->child[at + 1], &in->child[at], (n - at) * sizeof(in->child[0]));
    memmove(&in->tok[at], &in->tok[at - 1], (n - at) * sizeof(in->tok[0]));
    memmove(&in->h2[at], &in->h2[at - 1], (n - at) * sizeof(in->h2[0]));
    in->child[at] = c;
    sep_set(in, at - 1, tok, h2);
    in->n++;
}

/* Removes child at (>= 1) and the separator before it. */
static void inner_remove_at(struct inner *in, unsigned at)
{
    unsigned n = in->n;
    IDX_ASSERT(at >= 1 && at < n);
    memmove(&in->child[at], &in->child[at + 1], (n - at - 1) * sizeof(in->child[0]));
    memmove(&in->tok[at - 1], &in->tok[at], (n - at - 1) * sizeof(in->tok[0]));
    memmove(&in->h2[at - 1], &in->h2[at], (n - at - 1) * sizeof(in->h2[0]));
    in->n--;
}

/* ---- insert --------------------------------------------------------------------- */

static void pool_release(struct idx *t, struct pool *pl)
{
    if (pl->leaf)
        leaf_free(t, pl->leaf);
    for (unsigned i = 0; i < pl->ninner; i++)
        inner_free(t, pl->inner[i]);
    pl->leaf = NULL;
    pl->ninner = 0;
}

/* Allocates one leaf and the inner nodes a child insert at level 1 may need: one per
 * full node going up from level 1, plus a new root when all of them are full. */
static int pool_fill(struct idx *t, const struct path *p, struct pool *pl)
{
    unsigned need = 0;
    while (need < t->height && p->up[need + 1].node->n == INNER_CAP)
        need++;
    if (need == t->height)
        need++;
    pl->ninner = 0;
    pl->leaf = leaf_new(t);
    if (!pl->leaf)
        goto fail;
    for (; pl->ninner < need; pl->ninner++) {
        pl->inner[pl->ninner] = inner_new(t);
        if (!pl->inner[pl->ninner])
            goto fail;
    }
    return 0;
fail:
    pool_release(t, pl);
    return -ENOMEM;
}

static struct inner *pool_take(struct pool *pl)
{
    IDX_ASSERT(pl->ninner > 0);
    return pl->inner[--pl->ninner];
}

/* Inserts child c with separator (tok, h2) at index at of the level-l node on the path,
 * splitting full nodes upwards and growing a new root when the old one splits. */
static void insert_child(struct idx *t, struct path *p, unsigned l, unsigned at, uint64_t tok,
                         uint32_t h2, void *c, struct pool *pl)
{
    for (; l <= t->height; l++) {
        struct inner *in = p->up[l].node;
        if (in->n < INNER_CAP) {
            inner_insert_at(in, at, tok, h2, c);
            return;
        }
        unsigned n = inner_gather(t, in, 0, 0, NULL);
        memmove(&t->s.child[at + 1], &t->s.child[at], (n - at) * sizeof(t->s.child[0]));
        memmove(&t->s.tok[at], &t->s.tok[at - 1], (n - at) * sizeof(t->s.tok[0]));
        memmove(&t->s.h2[at], &t->s.h2[at - 1], (n - at) * sizeof(t->s.h2[0]));
        t->s.child[at] = c;
        t->s.tok[at - 1] = tok;
        t->s.h2[at - 1] = h2;
        n++;
        struct inner *right = pool_take(pl);
        right->level = in->level;
        unsigned left_n = n / 2;
        inner_fill(t, in, 0, left_n);
        inner_fill(t, right, left_n, n - left_n);
        tok = t->s.tok[left_n - 1];
        h2 = t->s.h2[left_n - 1];
        c = right;
        at = l < t->height ? p->up[l + 1].slot + 1 : 0;
    }
    struct inner *root = pool_take(pl);
    root->level = (uint16_t)l;
    root->n = 2;
    root->child[0] = t->root;
    root->child[1] = c;
    sep_set(root, 0, tok, h2);
    t->root = root;
    t->height = l;
    IDX_ASSERT(t->height <= MAX_HEIGHT);
}

/* The root is a full leaf: spread it and *ent over two leaves under a new root. */
static int split_root_leaf(struct idx *t, const struct path *p, const struct idx_ent *ent)
{
    struct pool pl = {0};
    if (pool_fill(t, p, &pl) < 0)
        return -ENOMEM;
    struct leaf *out[2] = {t->root, pl.leaf};
    struct inner *root = pool_take(&pl);
    root->level = 1;
    root->n = 1;
    root->child[0] = t->root;
    unsigned n = leaf_gather(t, root, 0, 1, ent);
    leaf_spread(t, n, out, 2);
    root->child[1] = out[1];
    root->n = 2;
    sep_from_leaf(root, 0, out[1]);
    t->root = root;
    t->height = 1;
    return 0;
}

/* The leaf on the path is full: share with a sibling that has room, or spread the leaf
 * and a full sibling over three leaves. Returns 0 or -ENOMEM (index unchanged). The
 * path is owned (path_own); the sibling is owned here. */
static int insert_full(struct idx *t, struct path *p, const struct idx_ent *ent)
{
    struct pool pl = {0};
    if (t->height == 0)
        return split_root_leaf(t, p, ent);
    struct inner *par = p->up[1].node;
    unsigned s = p->up[1].slot;
    unsigned room_l = s > 0 ? LEAF_CAP - ((struct leaf *)par->child[s - 1])->n : 0;
    unsigned room_r = s + 1 < par->n ? LEAF_CAP - ((struct leaf *)par->child[s + 1])->n : 0;
    unsigned first = (room_l > room_r || s + 1 == par->n) ? s - 1 : s;
    if (room_l == 0 && room_r == 0 && pool_fill(t, p, &pl) < 0)
        return -ENOMEM;
    struct leaf *out[3] = {node_own(t, &par->child[first]), node_own(t, &par->child[first + 1]),
                           pl.leaf};
    if (room_l > 0 || room_r > 0) {
        unsigned n = leaf_gather(t, par, first, 2, ent);
        leaf_spread(t, n, out, 2);
        sep_from_leaf(par, first, out[1]);
        return 0;
    }
    unsigned n = leaf_gather(t, par, first, 2, ent);
    leaf_spread(t, n, out, 3);
    sep_from_leaf(par, first, out[1]);
    insert_child(t, p, 1, first + 2, out[2]->e[0].token, ent_h2(&out[2]->e[0]), out[2], &pl);
    IDX_ASSERT(pl.ninner == 0);
    return 0;
}

/* ---- remove --------------------------------------------------------------------- */

/* Picks the pair (first, first + 1) of children of in that holds child s: the sibling
 * with fewer children/entries, so that a merge is more likely. */
static unsigned pick_pair(const struct inner *in, unsigned s, unsigned (*size)(const void *))
{
    if (s == 0)
        return 0;
    if (s + 1 == in->n)
        return s - 1;
    return size(in->child[s - 1]) <= size(in->child[s + 1]) ? s - 1 : s;
}

static unsigned leaf_size(const void *node)
{
    return ((const struct leaf *)node)->n;
}

static unsigned inner_size(const void *node)
{
    return ((const struct inner *)node)->n;
}

/* Respreads the k leaves par->child[first..first+k) (k is 2 or 3) over k - 1 leaves
 * when their entries fit in (k - 1) * fill; otherwise, when force is set, evens them
 * out over k. Returns 1 when a leaf was freed (par lost a child). */
static int leaf_respread(struct idx *t, struct inner *par, unsigned first, unsigned k,
                         unsigned fill, int force)
{
    struct leaf *out[3];
    unsigned n = 0;
    for (unsigned j = 0; j < k; j++) {
        out[j] = par->child[first + j];
        n += out[j]->n;
    }
    unsigned k_out = n <= (k - 1) * fill ? k - 1 : k;
    if (k_out == k && !force)
        return 0;
    for (unsigned j = 0; j < k_out; j++)
        out[j] = node_own(t, &par->child[first + j]);
    leaf_gather(t, par, first, k, NULL);
    leaf_spread(t, n, out, k_out);
    for (unsigned j = 1; j < k_out; j++)
        sep_from_leaf(par, first + j - 1, out[j]);
    if (k_out == k)
        return 0;
    inner_remove_at(par, first + k - 1);
    node_drop(t, out[k - 1]);
    return 1;
}

/* After a remove from the leaf at slot s of par: a leaf below LEAF_MIN must merge with
 * or borrow from a sibling. Above that, neighbours that fit in fewer leaves at
 * MERGE_FILL are merged anyway (2 -> 1, else 3 -> 2), so that random deletes do not
 * leave the tree half empty; MERGE_FILL stays well above the ~81% that inserts leave,
 * so a merge does not set up an immediate split. Returns 1 when par lost a child. */
static int leaf_shrink(struct idx *t, struct inner *par, unsigned s, unsigned n)
{
    unsigned first = pick_pair(par, s, leaf_size);
    if (n < LEAF_MIN)
        return leaf_respread(t, par, first, 2, LEAF_CAP, 1);
    if (leaf_respread(t, par, first, 2, MERGE_FILL, 0))
        return 1;
    return s > 0 && s + 1 < par->n && leaf_respread(t, par, s - 1, 3, MERGE_FILL, 0);
}

/* Same for two inner siblings; the parent's separator moves down between them. */
static int inner_rebalance(struct idx *t, struct inner *par, unsigned first)
{
    struct inner *a = node_own(t, &par->child[first]), *b = par->child[first + 1];
    unsigned n = inner_gather(t, a, par->tok[first], par->h2[first], b);
    if (n <= INNER_CAP) {
        inner_fill(t, a, 0, n);
        inner_remove_at(par, first + 1);
        node_drop(t, b);
        return 1;
    }
    b = node_own(t, &par->child[first + 1]);
    unsigned left_n = n / 2;
    inner_fill(t, a, 0, left_n);
    inner_fill(t, b, left_n, n - left_n);
    sep_set(par, first, t->s.tok[left_n - 1], t->s.h2[left_n - 1]);
    return 0;
}

/* After an entry left the leaf on the path: restore the fill invariants upwards. The
 * path is owned; siblings are owned where they change. */
static void fix_underflow(struct idx *t, struct path *p)
{
    if (t->height == 0) {
        if (p->leaf->n == 0) {
            node_drop(t, p->leaf);
            t->root = NULL;
        }
        return;
    }
    struct inner *par = p->up[1].node;
    if (!leaf_shrink(t, par, p->up[1].slot, p->leaf->n))
        return;
    for (unsigned l = 1; l < t->height; l++) {
        if (p->up[l].node->n >= INNER_MIN)
            return;
        par = p->up[l + 1].node;
        if (!inner_rebalance(t, par, pick_pair(par, p->up[l + 1].slot, inner_size)))
            return;
    }
    struct inner *root = t->root;
    if (root->n == 1) {
        t->root = root->child[0];
        t->height--;
        node_drop(t, root);
    }
}

/* ---- interface ------------------------------------------------------------------ */

struct idx *idx_new(void)
{
    struct idx *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->bytes = sizeof(*t);
    t->gen = 1;   /* shared_gen 0 then means "no snapshot" */
    t->shape = 1; /* fing_shape 0: no finger yet */
    return t;
}

/* Frees every chunk of the list *head and every node on them (idx_free only). */
static void chunks_free_all(struct idx *t, struct retire_chunk **head)
{
    while (*head) {
        struct retire_chunk *c = *head;
        *head = c->next;
        for (uint32_t i = 0; i < c->n; i++) {
            t->snap_bytes -= node_size(c->node[i]);
            free(c->node[i]);
        }
        t->snap_bytes -= sizeof(*c);
        free(c);
    }
}

/* Frees snapshot s, every node on its retired list and its chunks (idx_free only: the
 * nodes may still be in older snapshots, which idx_free frees as well). */
static void snap_free_all(struct idx *t, struct idx_snap *s)
{
    chunks_free_all(t, &s->retired);
    t->snap_oldest = s->newer;
    if (s->newer)
        s->newer->older = NULL;
    else
        t->snap_newest = NULL;
    t->snap_bytes -= sizeof(*s);
    t->nsnaps--;
    free(s);
}

void idx_free(struct idx *t)
{
    if (!t)
        return;
    if (t->root)
        node_free_tree(t, t->root, t->height);
    while (t->snap_oldest)
        snap_free_all(t, t->snap_oldest);
    chunks_free_all(t, &t->pending);
    t->pend_bytes = 0;
    t->shared_gen = 0;
    spares_free(t);
    IDX_ASSERT(t->bytes == sizeof(*t) && t->snap_bytes == 0);
    free(t);
}

/* Live nodes under node that a snapshot shares (recursion depth <= MAX_HEIGHT). */
static size_t count_shared(const struct idx *t, const void *node, unsigned level)
{
    size_t n = (size_t)node_shared(t, node);
    if (level > 0) {
        const struct inner *in = node;
        for (unsigned i = 0; i < in->n; i++)
            n += count_shared(t, in->child[i], level - 1);
    }
    return n;
}

/* Reserves room to retire need nodes at once (idx_clear). Returns 0 or -ENOMEM. */
static int clear_reserve(struct idx *t, size_t need)
{
    const struct retire_chunk *head = t->snap_newest->retired;
    size_t room = head ? RETIRE_CAP - head->n : 0;
    for (const struct retire_chunk *c = t->spare_chunks; c; c = c->next)
        room += RETIRE_CAP;
    while (room < need) {
        struct retire_chunk *c = malloc(sizeof(*c));
        if (!c)
            return -ENOMEM;
        c->next = t->spare_chunks;
        c->n = 0;
        c->bound = 0;
        t->spare_chunks = c;
        t->snap_bytes += sizeof(*c);
        room += RETIRE_CAP;
    }
    return 0;
}

/* Drops every node under node, children first (recursion depth <= MAX_HEIGHT). */
static void clear_tree(struct idx *t, void *node, unsigned level)
{
    if (level > 0) {
        struct inner *in = node;
        for (unsigned i = 0; i < in->n; i++)
            clear_tree(t, in->child[i], level - 1);
    }
    node_drop(t, node);
}

int idx_clear(struct idx *t)
{
    if (t->root && t->shared_gen) {
        int rc = clear_reserve(t, count_shared(t, t->root, t->height));
        if (rc < 0)
            return rc;
    }
    shape_changed(t);
    if (t->root)
        clear_tree(t, t->root, t->height);
    t->root = NULL;
    t->height = 0;
    t->count = 0;
    t->nexp = 0;
    t->exp_sum = 0;
    IDX_ASSERT(t->bytes == sizeof(*t));
    return 0;
}

int idx_find(struct idx *t, uint64_t token, uint32_t hash2, struct idx_ent *out)
{
    const struct idx_ent *e = lookup(t, token, hash2);
    if (!e)
        return -ENOENT;
    if (out)
        *out = *e;
    return 0;
}

int idx_upsert(struct idx *t, const struct idx_ent *ent, struct idx_ent *old)
{
    struct path *p = &t->fp;
    struct idx_ent *e = lookup(t, ent->token, ent_h2(ent));
    if (cow_begin(t) < 0)
        return -ENOMEM;
    if (t->root) {
        path_own(t, p);
        e = e ? &p->leaf->e[p->pos] : NULL;
    }
    if (e) { /* replaced in place: every entry keeps its position */
        if (old)
            *old = *e;
        entry_sub(t, e);
        *e = *ent;
        entry_add(t, e);
        return 1;
    }
    shape_changed(t); /* even when out of memory below: the finger is merely dropped */
    if (!t->root) {
        p->leaf = leaf_new(t);
        if (!p->leaf)
            return -ENOMEM;
        t->root = p->leaf;
        p->pos = 0;
    }
    struct leaf *l = p->leaf;
    if (l->n < LEAF_CAP) {
        memmove(&l->e[p->pos + 1], &l->e[p->pos], (l->n - p->pos) * sizeof(l->e[0]));
        l->e[p->pos] = *ent;
        l->n++;
    } else if (insert_full(t, p, ent) < 0) {
        return -ENOMEM;
    }
    t->count++;
    entry_add(t, ent);
    return 0;
}

int idx_remove(struct idx *t, uint64_t token, uint32_t hash2, struct idx_ent *old)
{
    struct path *p = &t->fp;
    struct idx_ent *e = lookup(t, token, hash2);
    if (!e)
        return -ENOENT;
    if (cow_begin(t) < 0)
        return -ENOMEM;
    path_own(t, p);
    shape_changed(t);
    e = &p->leaf->e[p->pos];
    if (old)
        *old = *e;
    entry_sub(t, e);
    struct leaf *l = p->leaf;
    memmove(&l->e[p->pos], &l->e[p->pos + 1], (l->n - p->pos - 1) * sizeof(l->e[0]));
    l->n--;
    t->count--;
    fix_underflow(t, p);
    return 0;
}

int idx_cas_loc(struct idx *t, uint64_t token, uint32_t hash2, uint64_t expect_loc,
                uint64_t new_loc)
{
    struct path *p = &t->fp;
    struct idx_ent *e = lookup(t, token, hash2);
    if (!e)
        return -ENOENT;
    if (e->loc != expect_loc)
        return -EAGAIN;
    if (cow_begin(t) < 0)
        return -ENOMEM;
    path_own(t, p);
    p->leaf->e[p->pos].loc = new_loc;
    return 0;
}

/*
 * Scan. Stopping rules, in order, for each entry e in (token, hash2) order:
 *   - visited == max and e->token differs from the last visited token: stop before e;
 *     resume at last token + 1 (never mid-run, so a token cursor loses nothing);
 *   - cb(e) != 0: stop right after e, even in the middle of a run of equal tokens;
 *     the cursor is still e->token + 1, so a resumed scan skips the rest of that run.
 *     A caller that must see every entry bounds the walk with max, not with cb.
 * With max == 0 nothing is visited and the cursor stays at from_token (done only when
 * no entry has token >= from_token). A cursor that would pass UINT64_MAX reports done.
 */
static size_t scan_tree(void *root, unsigned height, uint64_t from_token, size_t max,
                        idx_visit_fn cb, void *arg, uint64_t *next_token, int *done)
{
    size_t visited = 0;
    uint64_t next = from_token;
    int end = 1;
    struct path p;
    struct leaf *l = NULL;
    if (root) {
        descend(root, height, from_token, 0, &p);
        l = p.pos < p.leaf->n ? p.leaf : next_leaf(height, &p);
    }
    for (; l; l = next_leaf(height, &p)) {
        for (; p.pos < l->n; p.pos++) {
            const struct idx_ent *e = &l->e[p.pos];
            if (visited >= max && (visited == 0 || e->token != next - 1)) {
                end = 0;
                goto out;
            }
            visited++;
            next = e->token + 1;
            if (cb && cb(arg, e)) {
                end = next == 0;
                p.pos++;
                goto out;
            }
        }
    }
out:
    if (end)
        next = 0;
    if (next_token)
        *next_token = next;
    if (done)
        *done = end;
    return visited;
}

size_t idx_scan(const struct idx *t, uint64_t from_token, size_t max, idx_visit_fn cb, void *arg,
                uint64_t *next_token, int *done)
{
    return scan_tree(t->root, t->height, from_token, max, cb, arg, next_token, done);
}

/* ---- bulk load ------------------------------------------------------------------- */

/* Leaves of a bulk load are filled to this: as full as the B*-tree inserts keep them
 * (88%), leaving room for the next inserts without splitting at once. */
#define LOAD_FILL (LEAF_CAP * 7 / 8)

/* Frees the first n nodes of one level (of a load that failed). */
static void load_undo(struct idx *t, void **nodes, size_t n, unsigned level)
{
    for (size_t i = 0; i < n; i++)
        node_free_tree(t, nodes[i], level);
}

int idx_load(struct idx *t, const struct idx_ent *v, size_t n)
{
    if (t->count || t->root || t->nsnaps)
        return -EINVAL;
    for (size_t i = 1; i < n; i++)
        if (key_cmp(v[i - 1].token, ent_h2(&v[i - 1]), v[i].token, ent_h2(&v[i])) >= 0)
            return -EINVAL;
    if (n == 0)
        return 0;
    size_t cnt = (n + LOAD_FILL - 1) / LOAD_FILL;
    void **nodes = calloc(cnt, sizeof(*nodes));
    uint64_t *tok = malloc(cnt * sizeof(*tok));
    uint32_t *h2 = malloc(cnt * sizeof(*h2));
    if (!nodes || !tok || !h2) {
        free(nodes), free(tok), free(h2);
        return -ENOMEM;
    }
    /* leaves: the entries spread evenly, so that each holds more than LEAF_MIN */
    for (size_t i = 0, from = 0; i < cnt; i++) {
        size_t to = n * (i + 1) / cnt;
        struct leaf *l = leaf_new(t);
        if (!l) {
            load_undo(t, nodes, i, 0);
            free(nodes), free(tok), free(h2);
            return -ENOMEM;
        }
        l->n = (uint16_t)(to - from);
        memcpy(l->e, v + from, (to - from) * sizeof(*v));
        nodes[i] = l;
        tok[i] = v[from].token;
        h2[i] = ent_h2(&v[from]);
        from = to;
    }
    /* inner levels: children spread evenly, full ones (two halves of a split hold at
     * least INNER_MIN each, so an even spread over ceil(c / INNER_CAP) nodes does too) */
    unsigned level = 0;
    while (cnt > 1) {
        size_t up = (cnt + INNER_CAP - 1) / INNER_CAP;
        for (size_t i = 0, from = 0; i < up; i++) {
            size_t to = cnt * (i + 1) / up;
            struct inner *in = inner_new(t);
            if (!in) {
                load_undo(t, nodes, i, level + 1);
                load_undo(t, nodes + from, cnt - from, level);
                free(nodes), free(tok), free(h2);
                return -ENOMEM;
            }
            in->level = (uint16_t)(level + 1);
            in->n = (uint16_t)(to - from);
            for (size_t k = from; k < to; k++) {
                in->child[k - from] = nodes[k];
                if (k > from) {
                    in->tok[k - from - 1] = tok[k];
                    in->h2[k - from - 1] = h2[k];
                }
            }
            /* nodes[i] <= nodes[from]: written only once they are read */
            uint64_t mt = tok[from];
            uint32_t mh = h2[from];
            nodes[i] = in;
            tok[i] = mt;
            h2[i] = mh;
            from = to;
        }
        cnt = up;
        level++;
    }
    shape_changed(t);
    t->root = nodes[0];
    t->height = level;
    t->count = n;
    for (size_t i = 0; i < n; i++)
        entry_add(t, &v[i]);
    free(nodes), free(tok), free(h2);
    return 0;
}

uint64_t idx_count(const struct idx *t)
{
    return t->count;
}

uint64_t idx_expires(const struct idx *t, uint64_t *exp_sum_ms)
{
    if (exp_sum_ms)
        *exp_sum_ms = t->exp_sum;
    return t->nexp;
}

size_t idx_memory(const struct idx *t)
{
    return t->bytes + t->snap_bytes;
}

/* ---- snapshots ------------------------------------------------------------------ */

struct idx_snap *idx_snapshot(struct idx *t)
{
    /* gen is 32 bits: 4 billion snapshots per index, then idx_snapshot fails. */
    if (t->nsnaps >= IDX_SNAP_MAX || t->gen == UINT32_MAX)
        return NULL;
    struct idx_snap *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->gen = t->gen++;
    s->root = t->root;
    s->height = t->height;
    s->count = t->count;
    s->nexp = t->nexp;
    s->exp_sum = t->exp_sum;
    s->bytes = sizeof(*s);
    s->older = t->snap_newest;
    if (s->older)
        s->older->newer = s;
    else
        t->snap_oldest = s;
    t->snap_newest = s;
    t->nsnaps++;
    t->snap_bytes += sizeof(*s);
    t->shared_gen = s->gen;
    return s;
}

void idx_snap_release(struct idx *t, struct idx_snap *s)
{
    if (!s)
        return;
    while (s->retired) { /* to the pending list, tagged with the bound of what holds them */
        struct retire_chunk *c = s->retired;
        s->retired = c->next;
        c->bound = s->gen;
        c->next = t->pending;
        t->pending = c;
    }
    t->pend_bytes += s->bytes - sizeof(*s);
    if (s->older)
        s->older->newer = s->newer;
    else
        t->snap_oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        t->snap_newest = s->older;
    t->nsnaps--;
    t->snap_bytes -= sizeof(*s);
    free(s);
    t->shared_gen = t->snap_newest ? t->snap_newest->gen : 0;
    if (!t->shared_gen)
        spares_free(t);
}

/* Sifts pending chunk c. A node on it is held by exactly the live snapshots O with
 * gen(node) <= gen(O) < c->bound (it left the live tree when the released snapshot was
 * the newest holding it, and snapshots taken since are newer). The newest live
 * snapshot below the bound takes the nodes it holds, with the chunk; the others are
 * freed. Returns the nodes sifted. */
static size_t pending_sift(struct idx *t, struct retire_chunk *c)
{
    struct idx_snap *o = t->snap_newest;
    while (o && o->gen >= c->bound)
        o = o->older;
    size_t kept = 0, n = c->n;
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        void *node = c->node[i];
        size_t size = node_size(node);
        if (o && node_hdr(node).gen <= o->gen) {
            c->node[k++] = node;
            kept += size;
        } else {
            free(node);
            t->snap_bytes -= size;
        }
        t->pend_bytes -= size;
    }
    c->n = k;
    t->pend_bytes -= sizeof(*c);
    if (k == 0) {
        free(c);
        t->snap_bytes -= sizeof(*c);
    } else { /* o's list takes the chunk: only the head chunk is ever appended to */
        c->bound = 0;
        if (o->retired) {
            c->next = o->retired->next;
            o->retired->next = c;
        } else {
            c->next = NULL;
            o->retired = c;
        }
        o->bytes += kept + sizeof(*c);
    }
    return n;
}

size_t idx_snap_reclaim(struct idx *t, size_t max_nodes)
{
    size_t done = 0;
    while (t->pending && done < max_nodes) {
        struct retire_chunk *c = t->pending;
        t->pending = c->next;
        done += pending_sift(t, c);
    }
    return t->pend_bytes;
}

size_t idx_snap_scan(const struct idx_snap *s, uint64_t from_token, size_t max, idx_visit_fn cb,
                     void *arg, uint64_t *next_token, int *done)
{
    return scan_tree(s->root, s->height, from_token, max, cb, arg, next_token, done);
}

uint64_t idx_snap_count(const struct idx_snap *s)
{
    return s->count;
}

uint64_t idx_snap_expires(const struct idx_snap *s, uint64_t *exp_sum_ms)
{
    if (exp_sum_ms)
        *exp_sum_ms = s->exp_sum;
    return s->nexp;
}

size_t idx_snap_memory(const struct idx_snap *s)
{
    return s->bytes;
}

unsigned idx_snaps(const struct idx *t)
{
    return t->nsnaps;
}

/* ---- check ---------------------------------------------------------------------- */

/* Key bounds inherited from the ancestors: lo inclusive, hi exclusive. */
struct bounds {
    uint64_t lo_tok, hi_tok;
    uint32_t lo_h2, hi_h2;
    int has_lo, has_hi;
};

struct check {
    const struct idx *t;
    uint32_t max_gen; /* no node of the tree checked is newer */
    uint64_t entries;
    size_t bytes;
    uint64_t nexp, exp_sum;
};

/* Invariant 7: the children of a node made in generation g are no newer than the
 * oldest live snapshot taken at or after g (that snapshot froze the node). */
static uint32_t child_gen_bound(const struct check *c, uint32_t g)
{
    for (const struct idx_snap *s = c->t->snap_oldest; s; s = s->newer) {
        if (s->gen >= g)
            return s->gen;
    }
    return c->max_gen;
}

static int in_bounds(const struct bounds *b, uint64_t tok, uint32_t h2)
{
    if (b->has_lo && key_cmp(tok, h2, b->lo_tok, b->lo_h2) < 0)
        return 0;
    if (b->has_hi && key_cmp(tok, h2, b->hi_tok, b->hi_h2) >= 0)
        return 0;
    return 1;
}

static int check_leaf(const struct leaf *l, int is_root, const struct bounds *b, struct check *c)
{
    if (l->level != 0 || l->gen == 0 || l->gen > c->max_gen)
        return -3;
    if (l->n > LEAF_CAP || l->n == 0 || (!is_root && l->n < LEAF_MIN))
        return -4;
    for (unsigned i = 0; i < l->n; i++) {
        const struct idx_ent *e = &l->e[i];
        if (i > 0 && key_cmp(e[-1].token, ent_h2(&e[-1]), e->token, ent_h2(e)) >= 0)
            return -5;
        if (!in_bounds(b, e->token, ent_h2(e)))
            return -6;
    }
    for (unsigned i = 0; i < l->n; i++) {
        uint64_t x = idx_meta_expire(l->e[i].meta);
        c->nexp += x != 0;
        c->exp_sum += x;
    }
    c->entries += l->n;
    c->bytes += sizeof(*l);
    return 0;
}

/* Recursion depth is the tree height, at most MAX_HEIGHT. */
static int check_node(const void *node, unsigned level, int is_root, const struct bounds *b,
                      struct check *c)
{
    if (level == 0)
        return check_leaf(node, is_root, b, c);
    const struct inner *in = node;
    if (in->level != level || in->gen == 0 || in->gen > c->max_gen)
        return -3;
    if (in->n > INNER_CAP || in->n < 2 || (!is_root && in->n < INNER_MIN))
        return -7;
    for (unsigned i = 0; i + 1 < in->n; i++) {
        if (i > 0 && key_cmp(in->tok[i - 1], in->h2[i - 1], in->tok[i], in->h2[i]) >= 0)
            return -8;
        if (!in_bounds(b, in->tok[i], in->h2[i]) || in->h2[i] > IDX_HASH2_MASK)
            return -9;
    }
    c->bytes += sizeof(*in);
    uint32_t gen_bound = child_gen_bound(c, in->gen);
    for (unsigned i = 0; i < in->n; i++) {
        if (node_hdr(in->child[i]).gen > gen_bound)
            return -13;
        struct bounds cb = *b;
        if (i > 0) {
            cb.has_lo = 1;
            cb.lo_tok = in->tok[i - 1];
            cb.lo_h2 = in->h2[i - 1];
        }
        if (i + 1 < in->n) {
            cb.has_hi = 1;
            cb.hi_tok = in->tok[i];
            cb.hi_h2 = in->h2[i];
        }
        int rc = check_node(in->child[i], level - 1, 0, &cb, c);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Invariant 8 and the snapshot list: gens increase, shared_gen is the newest, every
 * retired node is no newer than its snapshot, and the bytes add up. */
static int check_snaps(const struct idx *t)
{
    size_t total = 0;
    unsigned n = 0;
    uint32_t prev_gen = 0;
    const struct idx_snap *prev = NULL;
    for (const struct idx_snap *s = t->snap_oldest; s; prev = s, s = s->newer) {
        if (s->older != prev || s->gen <= prev_gen || s->gen >= t->gen)
            return -20;
        size_t bytes = sizeof(*s);
        for (const struct retire_chunk *c = s->retired; c; c = c->next) {
            if (c->n == 0 || c->n > RETIRE_CAP || c->bound != 0)
                return -21;
            bytes += sizeof(*c);
            for (uint32_t i = 0; i < c->n; i++) {
                if (node_hdr(c->node[i]).gen > s->gen)
                    return -22;
                bytes += node_size(c->node[i]);
            }
        }
        if (bytes != s->bytes)
            return -23;
        total += bytes;
        prev_gen = s->gen;
        n++;
    }
    if (prev != t->snap_newest || n != t->nsnaps || t->shared_gen != prev_gen)
        return -24;
    if (!t->shared_gen && (t->nspare_leaf || t->nspare_inner || t->spare_chunks))
        return -25;
    size_t pend = 0;
    for (const struct retire_chunk *c = t->pending; c; c = c->next) {
        if (c->n > RETIRE_CAP || c->bound == 0 || c->bound >= t->gen)
            return -27;
        pend += sizeof(*c);
        for (uint32_t i = 0; i < c->n; i++) {
            if (node_hdr(c->node[i]).gen > c->bound)
                return -28;
            pend += node_size(c->node[i]);
        }
    }
    if (pend != t->pend_bytes)
        return -29;
    total += pend;
    total += t->nspare_leaf * sizeof(struct leaf) + t->nspare_inner * sizeof(struct inner);
    for (const struct retire_chunk *c = t->spare_chunks; c; c = c->next)
        total += sizeof(*c);
    return total == t->snap_bytes ? 0 : -26;
}

/* Invariant 9: a valid finger is the path a descent for its key takes now. */
static int check_finger(const struct idx *t)
{
    if (t->fing_shape > t->shape)
        return -15;
    if (!t->root || t->fing_shape != t->shape)
        return 0;
    struct path p;
    descend(t->root, t->height, t->fing_tok, t->fing_h2, &p);
    if (p.leaf != t->fp.leaf || p.pos != t->fp.pos)
        return -14;
    for (unsigned l = 1; l <= t->height; l++) {
        if (p.up[l].node != t->fp.up[l].node || p.up[l].slot != t->fp.up[l].slot)
            return -14;
    }
    return 0;
}

int idx_check(const struct idx *t)
{
    struct check c = {.t = t, .max_gen = t->gen, .bytes = sizeof(*t)};
    struct bounds b = {0};
    if (t->height > MAX_HEIGHT || t->gen == 0)
        return -1;
    int rc = check_snaps(t);
    if (rc < 0)
        return rc;
    if (!t->root) {
        if (t->height != 0 || t->count != 0 || t->nexp != 0 || t->exp_sum != 0 ||
            t->bytes != sizeof(*t))
            return -2;
        return 0;
    }
    rc = check_node(t->root, t->height, 1, &b, &c);
    if (rc < 0)
        return rc;
    if (c.entries != t->count)
        return -10;
    if (c.bytes != t->bytes)
        return -11;
    if (c.nexp != t->nexp || c.exp_sum != t->exp_sum)
        return -12;
    return check_finger(t);
}

int idx_snap_check(const struct idx *t, const struct idx_snap *s)
{
    const struct idx_snap *x = t->snap_oldest;
    while (x && x != s)
        x = x->newer;
    if (!x)
        return -30;
    if (!s->root)
        return s->height == 0 && s->count == 0 && s->nexp == 0 && s->exp_sum == 0 ? 0 : -31;
    struct check c = {.t = t, .max_gen = s->gen};
    struct bounds b = {0};
    if (s->height > MAX_HEIGHT)
        return -1;
    int rc = check_node(s->root, s->height, 1, &b, &c);
    if (rc < 0)
        return rc;
    if (c.entries != s->count)
        return -10;
    if (c.nexp != s->nexp || c.exp_sum != s->exp_sum)
        return -12;
    return 0;
}
