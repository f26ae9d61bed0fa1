/*
 * rcache.c - record cache: open addressing on the log address, CLOCK eviction.
 *
 * Slots hold (addr, size, referenced bit, pointer to a heap copy of the record). The
 * table is kept under 50% full, so probes stay short; bytes are bounded by evicting with
 * the CLOCK hand until the new record fits. Deletion uses backward-shift so no
 * tombstones accumulate. Single-threaded, like its engine.
 *
 * The table starts small (RC_MIN_SLOTS) and doubles as entries arrive, up to one slot
 * per 128 bytes of budget (at least 1024); only at that size does a lack of slots evict.
 * Each GET probes one slot at random, so the table's size is its cache-miss cost: sized
 * for the budget from the start (16 MiB of slots for the 64 MiB default), a server whose
 * hot set is 10,000 records missed the CPU caches at every probe (rcache_peek was 7.6%
 * of the server's time under pipelined INCRs); grown to its entries, the table of such
 * a set is 1 MiB. A doubling rehashes every entry at once (a few ms at a million).
 */
#include "rcache.h"
#include "hugemem.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t addr; /* UINT64_MAX: empty */
    uint64_t seq;  /* the segment use the record belongs to */
    uint8_t *rec;
    uint32_t size;
    uint8_t ref;
};

struct rcache {
    struct slot *s;
    uint64_t mask, nslots, max_slots, used, bytes, max_bytes, hand;
    unsigned shift; /* 64 - log2(nslots) */
    struct rcache_stats st;
};

#define EMPTY        UINT64_MAX
#define RC_MIN_SLOTS 4096u

static struct slot *slots_new(uint64_t n)
{
    struct slot *s = huge_calloc(sizeof(*s) * n);
    for (uint64_t i = 0; s && i < n; i++)
        s[i] = (struct slot){.addr = EMPTY};
    return s;
}

static void set_size(struct rcache *c, struct slot *s, uint64_t n)
{
    unsigned bits = 0;
    while ((UINT64_C(1) << bits) < n)
        bits++;
    c->s = s;
    c->nslots = n;
    c->mask = n - 1;
    c->shift = 64 - bits;
}

struct rcache *rcache_new(uint64_t max_bytes)
{
    struct rcache *c;
    uint64_t want = max_bytes / 128, n = 1024;
    struct slot *s;

    if (max_bytes == 0)
        return NULL;
    while (n < want)
        n <<= 1;
    c = calloc(1, sizeof(*c));
    uint64_t first = n < RC_MIN_SLOTS ? n : RC_MIN_SLOTS;
    /* 2 MiB pages once large: a GET probes one slot at random */
    if (!c || !(s = slots_new(first))) {
        free(c);
        return NULL;
    }
    set_size(c, s, first);
    c->max_slots = n;
    c->max_bytes = max_bytes;
    return c;
}

void rcache_free(struct rcache *c)
{
    if (!c)
        return;
    for (uint64_t i = 0; i < c->nslots; i++)
        free(c->s[i].rec);
    huge_free(c->s, sizeof(*c->s) * c->nslots);
    free(c);
}

/* Fibonacci hashing: the top bits of the address times 2^64/phi (addresses are multiples
 * of 8 and cluster within segments; the product's top bits depend on all of them). */
static uint64_t home(const struct rcache *c, uint64_t addr)
{
    return (addr * UINT64_C(0x9E3779B97F4A7C15)) >> c->shift;
}

/* Doubles the table (rehashing every entry); 0, or -1 when the memory is not there (the
 * table keeps its size and stops growing). */
static int grow(struct rcache *c)
{
    uint64_t n = c->nslots * 2;
    struct slot *old = c->s, *s = slots_new(n);
    uint64_t on = c->nslots;
    if (!s) {
        c->max_slots = c->nslots;
        return -1;
    }
    set_size(c, s, n);
    for (uint64_t j = 0; j < on; j++) {
        if (old[j].addr == EMPTY)
            continue;
        uint64_t i = home(c, old[j].addr);
        while (s[i].addr != EMPTY)
            i = (i + 1) & c->mask;
        s[i] = old[j];
    }
    huge_free(old, sizeof(*old) * on);
    c->hand = 0;
    return 0;
}

/* Room for one more entry without passing half the slots: grows the table if it may. */
static int slot_room(struct rcache *c)
{
    while ((c->used + 1) * 2 > c->nslots)
        if (c->nslots >= c->max_slots || grow(c) < 0)
            return 0;
    return 1;
}

static struct slot *find(struct rcache *c, uint64_t addr)
{
    for (uint64_t i = home(c, addr);; i = (i + 1) & c->mask) {
        if (c->s[i].addr == addr)
            return &c->s[i];
        if (c->s[i].addr == EMPTY)
            return NULL;
    }
}

int rcache_get(struct rcache *c, uint64_t addr, uint64_t seq, uint32_t size, uint8_t *dst)
{
    struct slot *sl;

    if (!c)
        return 0;
    sl = find(c, addr);
    if (!sl || sl->seq != seq || sl->size != size) {
        c->st.misses++;
        return 0;
    }
    sl->ref = 1;
    memcpy(dst, sl->rec, size);
    c->st.hits++;
    return 1;
}

const uint8_t *rcache_peek(struct rcache *c, uint64_t addr, uint64_t seq, uint32_t size)
{
    struct slot *sl;

    if (!c)
        return NULL;
    sl = find(c, addr);
    if (!sl || sl->seq != seq || sl->size != size)
        return NULL;
    sl->ref = 1;
    c->st.hits++;
    return sl->rec;
}

void rcache_prefetch_slot(const struct rcache *c, uint64_t addr)
{
    if (c)
        __builtin_prefetch(&c->s[home(c, addr)]);
}

void rcache_prefetch_rec(const struct rcache *c, uint64_t addr, uint32_t size)
{
    if (!c)
        return;
    for (uint64_t i = home(c, addr), probes = 0; probes < 4; i = (i + 1) & c->mask, probes++) {
        const struct slot *sl = &c->s[i];
        if (sl->addr == EMPTY)
            return;
        if (sl->addr != addr)
            continue;
        /* the header and the first bytes of the value (a GET's reply copies them next),
         * within the bytes held: the slot may be an older use's of the address */
        for (uint32_t off = 0; off < size && off < sl->size && off < 4 * 64; off += 64)
            __builtin_prefetch(sl->rec + off);
        return;
    }
}

/* Removes slot i and shifts the following cluster back over it. */
static void remove_at(struct rcache *c, uint64_t i)
{
    uint64_t j = i;

    c->bytes -= c->s[i].size;
    c->used--;
    free(c->s[i].rec);
    c->s[i] = (struct slot){.addr = EMPTY};
    for (;;) {
        j = (j + 1) & c->mask;
        if (c->s[j].addr == EMPTY)
            return;
        uint64_t h = home(c, c->s[j].addr);
        /* slot j may move to i if its home is not in (i, j] (cyclically) */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            c->s[i] = c->s[j];
            c->s[j] = (struct slot){.addr = EMPTY};
            i = j;
        }
    }
}

static void evict_one(struct rcache *c)
{
    for (;;) {
        uint64_t i = c->hand;
        c->hand = (c->hand + 1) & c->mask;
        if (c->s[i].addr == EMPTY)
            continue;
        if (c->s[i].ref) {
            c->s[i].ref = 0;
            continue;
        }
        remove_at(c, i);
        c->st.evictions++;
        return;
    }
}

/* Stores rec at addr of use seq in buf (size bytes, owned by the cache from now on) or,
 * when buf is NULL, in a copy it allocates; ref is the entry's CLOCK bit. */
static void put_in(struct rcache *c, uint64_t addr, uint64_t seq, const uint8_t *rec, uint32_t size,
                   uint8_t *buf, uint8_t ref)
{
    struct slot *old;

    if ((old = find(c, addr))) {
        if (old->seq == seq) {
            free(buf);
            return;
        }
        remove_at(c, (uint64_t)(old - c->s)); /* an earlier use of the address */
    }
    while (c->used && (c->bytes + size > c->max_bytes || !slot_room(c)))
        evict_one(c);
    if (!buf && !(buf = malloc(size)))
        return;
    memcpy(buf, rec, size);
    for (uint64_t i = home(c, addr);; i = (i + 1) & c->mask) {
        if (c->s[i].addr == EMPTY) {
            c->s[i] = (struct slot){.addr = addr, .seq = seq, .rec = buf, .size = size, .ref = ref};
            break;
        }
    }
    c->used++;
    c->bytes += size;
}

void rcache_put(struct rcache *c, uint64_t addr, uint64_t seq, const uint8_t *rec, uint32_t size)
{
    if (!c || size > c->max_bytes / 8)
        return;
    put_in(c, addr, seq, rec, size, NULL, 0);
}

int rcache_put_spare(struct rcache *c, uint64_t addr, uint64_t seq, const uint8_t *rec,
                     uint32_t size)
{
    if (!c || size > c->max_bytes / 8 || c->bytes + size > c->max_bytes || !slot_room(c))
        return 0;
    put_in(c, addr, seq, rec, size, NULL, 0);
    return 1;
}

int rcache_move(struct rcache *c, uint64_t old_addr, uint64_t old_seq, uint64_t addr, uint64_t seq,
                const uint8_t *rec, uint32_t size)
{
    struct slot *o;

    if (!c || !(o = find(c, old_addr)) || o->seq != old_seq)
        return 0;
    uint8_t *buf = NULL, ref = o->ref;
    if (o->size == size) { /* the same size (a counter, a rewritten value): its memory */
        buf = o->rec;
        o->rec = NULL;
    }
    remove_at(c, (uint64_t)(o - c->s));
    if (size > c->max_bytes / 8) {
        free(buf);
        return 1;
    }
    put_in(c, addr, seq, rec, size, buf, ref);
    return 1;
}

void rcache_visit(const struct rcache *c,
                  void (*fn)(void *arg, uint64_t addr, uint64_t seq, const uint8_t *rec,
                             uint32_t size),
                  void *arg)
{
    for (uint64_t i = 0; c && i < c->nslots; i++)
        if (c->s[i].addr != EMPTY)
            fn(arg, c->s[i].addr, c->s[i].seq, c->s[i].rec, c->s[i].size);
}

void rcache_get_stats(const struct rcache *c, struct rcache_stats *out)
{
    if (!c) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = c->st;
    out->entries = c->used;
    out->bytes = c->bytes;
}
