/*
 * scan.c - ordered scans of a table (ls_scan: SCAN, KEYS, RANDOMKEY, memcached's
 * cachedump) and how they learn their keys.
 *
 * The index keeps no key (a token, a location and an expiry per entry), so a scan reads
 * each key from its record. One device read per key made KEYS * over 500,000 keys
 * 500,000 random 4 KiB reads (5.7 s; Redis 1.1 s), and SCAN's default COUNT of 10 ten
 * reads per call (24 s; Redis 2.6 s). A scan now:
 *
 *  1. collects its entries in token order from the cursor (the cursor is a token), up to
 *     count and to LS_SCAN_MAX_BYTES of keys at most (an entry counts for the largest key
 *     its record could hold), so what it holds is bounded whatever the keys;
 *  2. takes the keys it can from memory: the key cache (below), a write buffer, the record
 *     cache;
 *  3. sorts the rest by log address and reads them in spans: records of one segment less
 *     than SCAN_GAP bytes apart share one device read, so a window that covers a good
 *     share of a table reads its segments nearly sequentially. At most SCAN_INFLIGHT bytes
 *     of spans are in flight per scan (one span at least);
 *  4. a scan that goes on from where another scan of the table stopped (its cursor is one
 *     a recent scan returned, or 0) and must read a record the key cache has never seen
 *     reads the next SCAN_AHEAD entries too (at most SCAN_AHEAD_BYTES of records; not
 *     those the cache holds or has seen), and keeps their keys in the key cache: a SCAN
 *     iteration with COUNT 10 then reads the device once every few thousand calls. The
 *     window is large because spans pay only when they are dense: 4096 entries of a
 *     500,000-key table are 7 per segment, one read each. RANDOMKEY's random cursors
 *     never read ahead. A record the cache has seen but whose key it did not keep (longer
 *     than KC_KEY_MAX, or pushed out of the arena by the later keys of a large window) is
 *     read alone when its turn comes, without a new read-ahead: one was no better kept
 *     the next time, and every call of a SCAN over 1100-byte keys read the next 16 MiB
 *     of records again (11,406 reads for 3,000 keys, now 2,893; 1020-byte keys: 193,132
 *     reads for 20,000, now 12,146). The reply's own records are read first and the
 *     callback runs once they are in (the read-ahead, up to 16 MiB, goes on without
 *     holding the caller); a sequential scan that comes while a read-ahead is in flight
 *     waits for it and starts again from the key cache (reading its own records alone
 *     meanwhile made SCAN COUNT 1000 cost 2.15 us of CPU per key instead of 1.30).
 *
 * The key cache is keyed as the record cache is, by (log address, sequence number of the
 * segment's use): a record is never rewritten in place and a reused segment has a new
 * sequence number, so an entry never needs invalidating, and one whose record was
 * overwritten is simply never asked for again. A set is one cache line of 8 slots of 8
 * bytes (a tag of the address and where the entry is in the arena); the entry (address,
 * use, length, type tag, then the key) is appended to an arena that wraps, so a key costs
 * about 16 bytes of slots and 20 of header. It is bounded (scan_cache_size bytes: 30% slots,
 * the rest entries; in 2 MiB pages), allocated by the first scan that reads a record, and
 * holds no values, so scans do not push the records of hot GETs out of the record cache.
 * A scan that takes its keys from the cache brings the set of the entry 16 ahead and the
 * key of the one 8 ahead towards the CPU's cache before it needs them: a pattern KEYS over
 * 300,000 cached keys took 25.6 ms with a 16-way set of 32-byte slots (four lines), 12 ms
 * now, Redis's walk of its dict 17 ms (redis-py, one connection; README). ls_scan_match's
 * filter (KEYS and SCAN MATCH/TYPE) runs before a key is copied into the reply.
 *
 * Every record a scan lists to read holds its segment's readers count, as a GET's read
 * does (compaction frees a victim only after its last reader), from the moment the scan
 * takes its entry from the index until its span's read completes: the in-flight bound
 * starts the last spans long after the entries were taken, and a segment freed and
 * reused meanwhile left live keys out of the reply as corrupt records. Every record a
 * span yields is checked (checksum seeded with the segment's use, type, table) before its
 * key is used. A key whose record cannot be read is left out of the reply and logged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "hugemem.h"
#include "internal.h"
#include "vfs.h"

#define SCAN_GAP         (16u << 10) /* a smaller gap is read rather than split into two reads */
#define SCAN_INFLIGHT    (4u << 20)  /* bytes of span reads in flight per scan */
#define SCAN_AHEAD       32768u      /* entries read ahead by a sequential scan, */
#define SCAN_AHEAD_BYTES (16u << 20) /* at most this many bytes of their records */
#define SCAN_RING        8u          /* cursors remembered to tell a sequential scan */
#define SCAN_CACHE_MAX   64u         /* larger scans skip the record cache (1/8 of KEYS' time) */

/* A sequential scan that came while a read-ahead was in flight: it starts again, from the
 * key cache, once the read-ahead is in (its keys are most likely there). */
struct scan_wait {
    uint32_t table; /* as the caller named it (a SWAPDB meanwhile is honoured) */
    uint32_t count;
    uint64_t cursor;
    ls_scan_match_fn match;
    void *marg;
    ls_scan_cb cb;
    void *arg;
    struct scan_wait *next;
};

/* ---- the key cache ---- */

#define KC_WAYS     8u         /* slots per set (one cache line): a put replaces the oldest */
#define KC_MIN      (8u << 20) /* scan_cache_size at least (the default), slots and arena */
#define KC_KEY_MAX  1024u      /* longer keys are not cached (their entry says so) */
#define KC_NOKEY    0xFFFFu    /* an entry's len: the record was read, its key not kept */
#define KC_POS_BITS 48u
#define KC_POS_MASK ((UINT64_C(1) << KC_POS_BITS) - 1)

/* A slot is 8 bytes: a 16-bit tag of the record's address (top bit set: 0 is an empty
 * slot) over the low 48 bits of its entry's place in the arena, counted since creation;
 * a set of 8 is one cache line. An entry in the arena is this header and the key: the
 * header names the record, so a tag that matches another record's is told apart there. */
struct kc_hdr {
    uint64_t addr, seq; /* the record: log address and its segment's use */
    uint16_t len;       /* key bytes after the header, or KC_NOKEY */
    uint8_t vtype;      /* the record's type tag */
    uint8_t pad;
};
#define KC_HDR 20u /* bytes of a header in the arena (unaligned) */

struct kcache {
    uint64_t head;  /* bytes ever written to the arena */
    uint64_t nsets; /* sets of KC_WAYS slots */
    uint64_t asize; /* arena bytes */
    uint64_t *slot;
    uint8_t *arena;
};

static size_t kc_slot_bytes(const struct kcache *k)
{
    return (size_t)k->nsets * KC_WAYS * sizeof(*k->slot);
}

/* 30% of scan_cache_size for slots (8 bytes each), the rest for entries (20 bytes and
 * the key): two slots per entry of a 16-byte key, so that a set seldom fills before the
 * arena wraps. At 64 MiB, 2.5 million slots and 1.2 million keys of 16 bytes; at the
 * 8 MiB minimum, 315,000 slots, about 10 per key a read-ahead brings (SCAN_AHEAD). */
static struct kcache *kc_new(uint64_t size)
{
    struct kcache *k = calloc(1, sizeof(*k));
    if (size < KC_MIN)
        size = KC_MIN;
    if (!k)
        return NULL;
    k->nsets = size * 3 / 10 / (KC_WAYS * sizeof(*k->slot));
    k->asize = size - kc_slot_bytes(k);
    /* 2 MiB pages: every key of a scan is two lookups at random in these (a TLB miss each
     * with small pages: KEYS over 300,000 keys, 65 ns a key) */
    k->slot = huge_calloc(kc_slot_bytes(k));
    k->arena = huge_calloc(k->asize);
    if (!k->slot || !k->arena) {
        huge_free(k->slot, kc_slot_bytes(k));
        huge_free(k->arena, k->asize);
        free(k);
        return NULL;
    }
    return k;
}

/* A prefetch the compiler cannot drop (GCC 12 removed __builtin_prefetch of an address
 * computed through these helpers). */
static inline void kc_prefetch(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p);
#endif
}

static uint64_t kc_hash(uint64_t addr)
{
    return (addr >> 3) * UINT64_C(0x9E3779B97F4A7C15);
}

static uint64_t *kc_set_of(const struct kcache *k, uint64_t h)
{
    return &k->slot[((h >> 32) * k->nsets >> 32) * KC_WAYS]; /* the top 32 bits, scaled */
}

static uint64_t kc_tag(uint64_t h)
{
    return ((h >> 16) | 0x8000u) & 0xFFFFu;
}

/* The arena entry a slot names, or NULL when later keys have been written over it. */
static const uint8_t *kc_entry(const struct kcache *k, uint64_t slot)
{
    uint64_t pos = k->head - ((k->head - (slot & KC_POS_MASK)) & KC_POS_MASK);
    if (k->head - pos > k->asize)
        return NULL;
    return k->arena + pos % k->asize;
}

/* Brings the set of the record at addr towards the cache (a scan asks for it soon). */
static void kc_prefetch_set(const struct kcache *k, uint64_t addr)
{
    if (k)
        kc_prefetch(kc_set_of(k, kc_hash(addr)));
}

/* Brings the entry of the record at addr towards the cache, once its set is there. */
static void kc_prefetch_key(const struct kcache *k, uint64_t addr)
{
    if (!k)
        return;
    uint64_t h = kc_hash(addr), tag = kc_tag(h) << KC_POS_BITS;
    const uint64_t *set = kc_set_of(k, h);
    for (uint32_t w = 0; w < KC_WAYS; w++)
        if ((set[w] & ~KC_POS_MASK) == tag) {
            const uint8_t *p = kc_entry(k, set[w]);
            if (p) {
                kc_prefetch(p);
                kc_prefetch(p + KC_HDR + 15); /* the key's first 16 bytes */
            }
        }
}

/* The key of the record at (addr, seq) when cached: 1 with *key (valid until the next
 * kc_put) and *len set. -1 when the record was read ahead but its key is not kept (too
 * long, or later keys wrapped the arena over it): reading it ahead again would be lost
 * the same way (a tag alone, once its entry is gone: at worst a record not read ahead).
 * 0 when the cache knows nothing of it. */
static int kc_get(const struct kcache *k, uint64_t addr, uint64_t seq, const uint8_t **key,
                  uint32_t *len, uint8_t *vtype)
{
    if (!k || seq == 0)
        return 0;
    uint64_t h = kc_hash(addr), tag = kc_tag(h) << KC_POS_BITS;
    const uint64_t *set = kc_set_of(k, h);
    int gone = 0;
    for (uint32_t w = 0; w < KC_WAYS; w++) {
        if ((set[w] & ~KC_POS_MASK) != tag)
            continue;
        const uint8_t *p = kc_entry(k, set[w]);
        struct kc_hdr hd;
        if (!p) {
            gone = 1;
            continue;
        }
        memcpy(&hd, p, KC_HDR);
        if (hd.addr != addr || hd.seq != seq)
            continue;
        if (hd.len == KC_NOKEY)
            return -1;
        *key = p + KC_HDR;
        *len = hd.len;
        *vtype = hd.vtype;
        return 1;
    }
    return gone ? -1 : 0;
}

static void kc_put(struct kcache *k, uint64_t addr, uint64_t seq, const uint8_t *key, uint32_t len,
                   uint8_t vtype)
{
    if (!k || seq == 0)
        return;
    uint32_t keep = len <= KC_KEY_MAX ? len : 0; /* a longer key: its entry says it was read */
    uint64_t at = k->head % k->asize;
    if (at + KC_HDR + keep > k->asize) /* entries never wrap: start the next lap */
        k->head += k->asize - at;
    uint64_t h = kc_hash(addr), *set = kc_set_of(k, h), *s = &set[0];
    uint64_t age = 0; /* how far back the slot's entry was written (the oldest is replaced) */
    for (uint32_t w = 0; w < KC_WAYS; w++) {
        if (!set[w]) {
            s = &set[w];
            break;
        }
        uint64_t a = (k->head - (set[w] & KC_POS_MASK)) & KC_POS_MASK;
        if (a >= age) {
            age = a;
            s = &set[w];
        }
    }
    struct kc_hdr hd = {
        .addr = addr, .seq = seq, .len = (uint16_t)(keep == len ? len : KC_NOKEY), .vtype = vtype};
    uint8_t *p = k->arena + k->head % k->asize;
    memcpy(p, &hd, KC_HDR);
    memcpy(p + KC_HDR, key, keep);
    *s = kc_tag(h) << KC_POS_BITS | (k->head & KC_POS_MASK);
    k->head += KC_HDR + keep;
}

void eng_scan_note_put(struct ls_engine *e, uint64_t addr, uint64_t seq, const uint8_t *rec,
                       uint32_t size)
{
    struct rec_hdr h;

    if (!e->kcache || size < REC_HDR_SIZE)
        return;
    memcpy(&h, rec, sizeof(h));
    if ((h.type & ~REC_VTAG_MASK) != REC_PUT || h.key_len > size - REC_HDR_SIZE)
        return;
    kc_put(e->kcache, addr, seq, rec + REC_HDR_SIZE, h.key_len,
           (uint8_t)((h.type & REC_VTAG_MASK) >> REC_VTAG_SHIFT));
}

void eng_scan_free(struct ls_engine *e)
{
    if (e->kcache) {
        huge_free(e->kcache->slot, kc_slot_bytes(e->kcache));
        huge_free(e->kcache->arena, e->kcache->asize);
    }
    free(e->kcache);
    e->kcache = NULL;
    /* none is left once the last read completed (each waits for one); defensive */
    while (e->scan_waiters) {
        struct scan_wait *w = e->scan_waiters;
        e->scan_waiters = w->next;
        free(w);
    }
}

/* ---- a scan ---- */

struct want { /* an entry whose record is read from the device */
    uint64_t addr, seq;
    uint32_t size, i; /* i: index in ents (at or past n: read ahead for the key cache) */
};

struct scan {
    struct ls_engine *e;
    ls_scan_cb cb;
    void *arg;
    ls_scan_match_fn match; /* NULL: every key */
    void *marg;
    uint64_t next_cursor;
    uint16_t table;
    uint32_t n;               /* entries the reply covers (ents[0..n)) */
    uint32_t nents;           /* and with those read ahead */
    struct idx_ent *ents;     /* token order */
    struct ls_scan_key *keys; /* [n]; key is NULL until found, koff[i] its arena offset */
    size_t *koff;
    uint8_t *arena; /* the reply's keys */
    size_t alen, acap;
    struct want *want; /* [0..nown): the reply's records, [nown..nwant): read ahead; each
                          part sorted by address, the reply's read first */
    uint32_t nwant, next_want, nown;
    uint32_t own_left;     /* the reply's records not read yet */
    uint8_t sentinel_done; /* the sentinel went through ls_poll */
    uint8_t answered;      /* the callback ran (a read-ahead may still be in flight) */
    uint32_t unseen;       /* entries of the reply read from the device that the key cache never
                              saw (a read-ahead can help the calls that follow) */
    uint64_t inflight_bytes;
    uint32_t pending; /* span reads in flight, plus the sentinel */
    uint8_t *scratch; /* a record copied from memory */
    size_t scratch_cap;
};

static int want_cmp(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sorts w[0..n) by address: LSD radix sort, 11 bits a pass, as many passes as the
 * largest address needs (qsort took a fifth of KEYS' time). tmp: room for n. */
static void want_sort(struct want *w, struct want *tmp, uint32_t n)
{
    uint64_t max = 0;
    uint32_t count[2048];

    for (uint32_t i = 0; i < n; i++)
        if (w[i].addr > max)
            max = w[i].addr;
    for (uint32_t shift = 0; shift < 64 && (max >> shift) != 0; shift += 11) {
        memset(count, 0, sizeof(count));
        for (uint32_t i = 0; i < n; i++)
            count[(w[i].addr >> shift) & 2047]++;
        for (uint32_t d = 0, sum = 0; d < 2048; d++) {
            uint32_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++)
            tmp[count[(w[i].addr >> shift) & 2047]++] = w[i];
        memcpy(w, tmp, sizeof(*w) * n);
    }
}

/* Sorts w[0..n) by address (qsort when the radix sort's room cannot be had). */
static void want_order(struct want *w, uint32_t n)
{
    if (n < 2)
        return;
    struct want *tmp = malloc(sizeof(*tmp) * n);
    if (tmp)
        want_sort(w, tmp, n);
    else
        qsort(w, n, sizeof(*w), want_cmp);
    free(tmp);
}

/* Keeps the key of entry i in the reply (i < n; an entry read ahead has none). */
static void scan_got(struct scan *s, uint32_t i, const uint8_t *key, uint32_t len,
                     uint64_t expire_ms, uint8_t vtype)
{
    if (i >= s->n || (s->match && !s->match(s->marg, key, len, vtype)))
        return;
    if (s->alen + len > s->acap || !s->arena) {
        size_t cap = s->acap ? s->acap : 4096;
        while (cap < s->alen + len)
            cap *= 2;
        uint8_t *a = realloc(s->arena, cap);
        if (!a)
            return; /* left out, as a read that failed */
        s->arena = a;
        s->acap = cap;
    }
    memcpy(s->arena + s->alen, key, len);
    s->koff[i] = s->alen;
    s->alen += len;
    s->keys[i].key = s->arena; /* found; the pointer is set at the end */
    s->keys[i].key_len = len;
    s->keys[i].expire_ms = expire_ms;
    s->keys[i].vtype = vtype;
}

/* Decodes and checks the record of entry i at p (size bytes, written in segment use seq). */
static void scan_record(struct scan *s, uint32_t i, const uint8_t *p, uint32_t size, uint64_t addr,
                        uint64_t seq)
{
    struct rec_view v;

    if (rec_decode(p, size, rec_seed(s->e->seed, seq), &v) != 0 || v.h.type != REC_PUT ||
        v.h.table != s->table) {
        s->e->st.read_corrupt++;
        eng_log(s->e, LS_LOG_ERROR, "scan: corrupt record at %llu (table %u); key left out",
                (unsigned long long)addr, s->table);
        return;
    }
    /* a key not taken from the key cache: kept there for the next scans (KEYS, SCAN) */
    kc_put(s->e->kcache, addr, seq, v.key, v.h.key_len, v.vtag);
    scan_got(s, i, v.key, v.h.key_len, v.h.expire_ms, v.vtag);
}

static void scan_resume(struct ls_engine *e);

/* Answers once the reply's own records are read (and the sentinel went through ls_poll):
 * a read-ahead still in flight goes on without holding the caller. Frees the scan once
 * no read is in flight. */
static void scan_progress(struct scan *s)
{
    if (!s->answered && s->sentinel_done && s->own_left == 0) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < s->n; i++) {
            if (!s->keys[i].key)
                continue;
            s->keys[k] = s->keys[i];
            s->keys[k++].key = s->arena + s->koff[i];
        }
        s->answered = 1;
        s->cb(s->arg, 0, s->keys, k, s->next_cursor);
        free(s->keys);
        free(s->koff);
        free(s->arena);
        s->keys = NULL;
        s->koff = NULL;
        s->arena = NULL;
    }
    if (s->pending)
        return;
    struct ls_engine *e = s->e;
    int ahead_done = s->nwant > s->nown && --e->scans_ahead == 0;
    free(s->ents);
    free(s->want);
    free(s->scratch);
    free(s);
    if (ahead_done)
        scan_resume(e);
}

static void scan_pump(struct scan *s);

/* A span read's completion (from uio_reap), or the sentinel's (from ls_poll). */
void eng_scan_read_done(struct rd *r, int res)
{
    struct scan *s = r->scan;
    struct ls_engine *e = s->e;

    if (!r->from_mem) {
        uint32_t len = (uint32_t)r->req.len;
        for (uint32_t w = r->want_from; w < r->want_to; w++) {
            const struct want *x = &s->want[w];
            uint64_t at = x->addr - r->addr;
            if (w + 8 < r->want_to) /* its key goes into the key cache: a set at random */
                kc_prefetch_set(e->kcache, s->want[w + 8].addr);
            if (res < 0 || (uint64_t)res < at + x->size) {
                s->e->st.read_corrupt++;
                eng_log(e, LS_LOG_ERROR, "scan: read at %llu failed (%s); key left out",
                        (unsigned long long)x->addr, ls_strerror(res < 0 ? res : -EIO));
            } else {
                scan_record(s, x->i, r->buf + at, x->size, x->addr, x->seq);
            }
            eng_read_release(e, x->addr); /* held since scan_place */
            s->own_left -= w < s->nown;
        }
        s->inflight_bytes -= len;
    } else {
        s->sentinel_done = 1;
    }
    eng_rd_free(r);
    s->pending--;
    scan_pump(s);
    scan_progress(s);
}

static void scan_rd_done(struct uio_req *req, int res)
{
    eng_scan_read_done(req->arg, res);
}

/* Starts span reads while the in-flight bound allows (one at least). A read that cannot
 * start leaves its keys out. */
static void scan_pump(struct scan *s)
{
    struct ls_engine *e = s->e;

    while (s->next_want < s->nwant &&
           (s->inflight_bytes == 0 || s->inflight_bytes < SCAN_INFLIGHT)) {
        uint32_t a = s->next_want, b = a + 1, lim = a < s->nown ? s->nown : s->nwant;
        uint64_t seg = seg_of(&e->sm, s->want[a].addr);
        uint64_t start = s->want[a].addr & ~(uint64_t)(REC_BLOCK - 1);
        uint64_t end = rec_align_block(s->want[a].addr + s->want[a].size);
        uint64_t seg_end = (seg + 1) * (uint64_t)e->sm.seg_size;
        while (b < lim && seg_of(&e->sm, s->want[b].addr) == seg &&
               s->want[b].addr + s->want[b].size <= seg_end &&
               (s->want[b].addr & ~(uint64_t)(REC_BLOCK - 1)) <= end + SCAN_GAP) {
            uint64_t x = rec_align_block(s->want[b].addr + s->want[b].size);
            if (x > end)
                end = x;
            b++;
        }
        s->next_want = b;
        uint64_t off;
        int fd = seg_fd(&e->sm, start, &off);
        struct rd *r = fd < 0 ? NULL : calloc(1, sizeof(*r));
        uint8_t *buf = r ? uio_alloc(end - start) : NULL;
        if (!buf) {
            free(r);
            e->st.read_corrupt += b - a;
            eng_log(e, LS_LOG_ERROR, "scan: cannot read %u records at %llu (%s); keys left out",
                    b - a, (unsigned long long)start, fd < 0 ? "no such file" : "out of memory");
            for (uint32_t w = a; w < b; w++) {
                eng_read_release(e, s->want[w].addr);
                s->own_left -= w < s->nown;
            }
            continue;
        }
        *r =
            (struct rd){.e = e, .scan = s, .buf = buf, .addr = start, .want_from = a, .want_to = b};
        r->req = (struct uio_req){.cb = scan_rd_done,
                                  .arg = r,
                                  .buf = buf,
                                  .off = off,
                                  .len = (uint32_t)(end - start),
                                  .fd = fd,
                                  .op = UIO_READ};
        uio_queue(e->u, &r->req);
        e->st.device_reads++;
        e->st.device_read_bytes += end - start;
        s->inflight_bytes += end - start;
        s->pending++;
    }
    if (s->pending)
        eng_wake(e);
}

/* How many entries from the cursor a scan takes: up to max, fewer once the keys their
 * records could hold add up to LS_SCAN_MAX_BYTES (a read-ahead: once their records add
 * up to rec_bytes). A cut never falls inside a run of
 * entries with one token (idx_scan resumes after the token). At least one entry. */
struct fit {
    const struct ls_engine *e;
    uint64_t bytes, last_token;
    uint64_t rec_bytes; /* nonzero: bound the records' bytes instead (read-ahead) */
    size_t n, max;      /* n: entries taken (all visited unless cut), max: where to stop */
};

static int fit_visit(void *arg, const struct idx_ent *ent)
{
    struct fit *f = arg;
    uint64_t k = idx_loc_size(ent->loc), bound = LS_SCAN_MAX_BYTES;

    if (f->rec_bytes) {
        bound = f->rec_bytes;
    } else {
        k = k > REC_HDR_SIZE ? k - REC_HDR_SIZE : 0;
        if (k > f->e->cfg.max_key_size)
            k = f->e->cfg.max_key_size;
    }
    if (f->n && ent->token != f->last_token && f->bytes + k > bound) {
        f->max = f->n;
        return 1;
    }
    f->bytes += k;
    f->last_token = ent->token;
    f->n++;
    return 0;
}

struct collect {
    const struct ls_engine *e;
    struct idx_ent *ents;
    uint32_t n, cap;
};

static int collect_visit(void *arg, const struct idx_ent *ent)
{
    struct collect *c = arg;
    uint64_t x = idx_meta_expire(ent->meta);

    if ((x && x <= eng_now_ms(c->e)) || c->n == c->cap)
        return 0;
    c->ents[c->n++] = *ent;
    return 0;
}

/* Takes entry i's key from memory (key cache, write buffer, record cache), or lists its
 * record to read. ahead: an entry read ahead (only the device read is of use). */
static int scan_place(struct scan *s, uint32_t i, int ahead)
{
    struct ls_engine *e = s->e;
    uint64_t addr = idx_loc_addr(s->ents[i].loc), seq;
    uint32_t size = idx_loc_size(s->ents[i].loc), len;
    const uint8_t *key;
    uint8_t vtype = 0;

    seq = e->sm.d[seg_of(&e->sm, addr)].seq;
    int known = kc_get(e->kcache, addr, seq, &key, &len, &vtype);
    if (known > 0) {
        if (!ahead) /* the index keeps the record's expiry exactly (below 2^44 ms) */
            scan_got(s, i, key, len, idx_meta_expire(s->ents[i].meta), vtype);
        return 0;
    }
    if (ahead && known < 0)
        return 0; /* read ahead before, its key not kept: it would not be this time */
    if (ahead && e->sm.d[seg_of(&e->sm, addr)].mem_bufs)
        return 0; /* may be in a write buffer: a later scan copies it from there */
    if (!ahead) {
        if (size > s->scratch_cap) {
            uint8_t *p = realloc(s->scratch, size);
            if (!p)
                return -ENOMEM;
            s->scratch = p;
            s->scratch_cap = size;
        }
        if (wbuf_read_mem(e, addr, size, s->scratch) ||
            (s->n <= SCAN_CACHE_MAX && rcache_get(e->cache, addr, seq, size, s->scratch))) {
            scan_record(s, i, s->scratch, size, addr, seq);
            return 0;
        }
    }
    s->unseen += !ahead && known == 0;
    /* held until its span's read completes: compaction must not free the segment (and a
     * write reuse it) before the read, however late the in-flight bound starts it */
    e->sm.d[seg_of(&e->sm, addr)].readers++;
    s->want[s->nwant++] = (struct want){.addr = addr, .seq = seq, .size = size, .i = i};
    return 0;
}

/* Before entry i is placed: the key cache's set of entry i + 2d and the key of entry
 * i + d are brought towards the CPU's cache (two misses a key, overlapped: KEYS walked
 * at 133 ns a key, Redis 67). */
static void scan_prefetch(const struct scan *s, uint32_t i, uint32_t n)
{
    enum { d = 8 };
    const struct kcache *k = s->e->kcache;

    if (!k)
        return;
    if (i == 0)
        for (uint32_t j = 0; j < 2 * d && j < n; j++)
            kc_prefetch_set(k, idx_loc_addr(s->ents[j].loc));
    if (i + 2 * d < n)
        kc_prefetch_set(k, idx_loc_addr(s->ents[i + 2 * d].loc));
    if (i + d < n)
        kc_prefetch_key(k, idx_loc_addr(s->ents[i + d].loc));
}

/* 1 when a scan of table from cursor goes on from an earlier scan (or starts one). */
static int scan_sequential(struct ls_engine *e, uint32_t table, uint64_t cursor)
{
    if (cursor == 0)
        return 1;
    for (uint32_t i = 0; i < SCAN_RING; i++)
        if (e->scan_ring[i].cursor == cursor && e->scan_ring[i].table == table)
            return 1;
    return 0;
}

static int scan_start(struct ls_engine *e, uint32_t table, uint64_t cursor, uint32_t count,
                      ls_scan_match_fn match, void *marg, ls_scan_cb cb, void *arg);

/* Starts the scans that waited for the read-ahead (in arrival order); the first may start
 * another, which the rest then wait for. */
static void scan_resume(struct ls_engine *e)
{
    struct scan_wait *w = e->scan_waiters;

    e->scan_waiters = e->scan_waiters_tail = NULL;
    while (w) {
        struct scan_wait *next = w->next;
        int rc = scan_start(e, w->table, w->cursor, w->count, w->match, w->marg, w->cb, w->arg);
        if (rc < 0)
            w->cb(w->arg, rc, NULL, 0, 0);
        free(w);
        w = next;
    }
}

int ls_scan(struct ls_engine *e, uint32_t table, uint64_t cursor, uint32_t count, ls_scan_cb cb,
            void *arg)
{
    return scan_start(e, table, cursor, count, NULL, NULL, cb, arg);
}

int ls_scan_match(struct ls_engine *e, uint32_t table, uint64_t cursor, uint32_t count,
                  ls_scan_match_fn match, void *marg, ls_scan_cb cb, void *arg)
{
    return scan_start(e, table, cursor, count, match, marg, cb, arg);
}

static int scan_start(struct ls_engine *e, uint32_t table, uint64_t cursor, uint32_t count,
                      ls_scan_match_fn match, void *marg, ls_scan_cb cb, void *arg)
{
    uint32_t logical = table;
    table = eng_phys(e, table); /* the database's table (tmap.c) */
    struct idx *t;
    struct scan *s;
    struct rd *sentinel = NULL;
    uint64_t next = 0;
    int done = 0, ahead;

    if (table >= e->cfg.tables)
        return LS_EBADTABLE;
    t = e->tables[table];
    if (count == 0)
        count = 1;
    if (count > LS_SCAN_MAX)
        count = LS_SCAN_MAX;
    ahead = count < SCAN_AHEAD && scan_sequential(e, table, cursor);
    if (ahead && e->scans_ahead) { /* wait for the read-ahead: it is reading these keys */
        struct scan_wait *w = calloc(1, sizeof(*w));
        if (!w)
            return -ENOMEM;
        *w = (struct scan_wait){.table = logical,
                                .count = count,
                                .cursor = cursor,
                                .match = match,
                                .marg = marg,
                                .cb = cb,
                                .arg = arg};
        if (e->scan_waiters_tail)
            e->scan_waiters_tail->next = w;
        else
            e->scan_waiters = w;
        e->scan_waiters_tail = w;
        return 0;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    struct fit fit = {.e = e, .max = count};
    idx_scan(t, cursor, count, fit_visit, &fit, NULL, NULL);
    /* fit.n: every entry the walk below visits (a run of one token, which it never
     * splits, may take it past count; the rest of a run left out would be skipped) */
    uint32_t cap = (uint32_t)fit.n + 1;
    struct collect c = {.e = e, .cap = cap};
    c.ents = malloc(sizeof(*c.ents) * cap);
    sentinel = calloc(1, sizeof(*sentinel));
    if (!c.ents || !sentinel)
        goto fail;
    idx_scan(t, cursor, fit.max, collect_visit, &c, &next, &done);
    *s = (struct scan){.e = e,
                       .cb = cb,
                       .arg = arg,
                       .match = match,
                       .marg = marg,
                       .next_cursor = done ? 0 : next,
                       .table = (uint16_t)table,
                       .n = c.n,
                       .pending = 1,
                       .ents = c.ents};
    s->keys = calloc(c.n ? c.n : 1, sizeof(*s->keys));
    s->koff = calloc(c.n ? c.n : 1, sizeof(*s->koff));
    s->want = malloc(sizeof(*s->want) * cap);
    if (!s->keys || !s->koff || !s->want)
        goto fail;
    for (uint32_t i = 0; i < s->n; i++) {
        scan_prefetch(s, i, s->n);
        if (scan_place(s, i, 0) < 0)
            goto fail;
    }
    if (s->nwant && !e->kcache) /* keys learnt from the device are kept for the next scans */
        e->kcache = kc_new(e->cfg.scan_cache_size);
    s->nown = s->own_left = s->nwant;
    if (!done) {
        e->scan_ring[e->scan_ring_next] = (struct scan_pos){.table = table, .cursor = next};
        e->scan_ring_next = (e->scan_ring_next + 1) % SCAN_RING;
    }
    if (ahead && s->unseen && !done &&
        (e->kcache || (e->kcache = kc_new(e->cfg.scan_cache_size)))) {
        /* the next entries' keys, for the scans that follow this one */
        struct fit afit = {.e = e, .max = SCAN_AHEAD, .rec_bytes = SCAN_AHEAD_BYTES};
        idx_scan(t, next, SCAN_AHEAD, fit_visit, &afit, NULL, NULL);
        cap += (uint32_t)afit.n + 1;
        struct idx_ent *ents = realloc(s->ents, sizeof(*ents) * cap);
        struct want *want = ents ? realloc(s->want, sizeof(*want) * cap) : NULL;
        if (ents)
            s->ents = c.ents = ents;
        if (!want)
            goto start; /* no read-ahead */
        s->want = want;
        c.cap = cap;
        idx_scan(t, next, afit.max, collect_visit, &c, NULL, NULL);
        s->nents = c.n;
        for (uint32_t i = s->n; i < s->nents; i++)
            scan_place(s, i, 1);
        e->scans_ahead += s->nwant > s->nown;
    }
start:
    want_order(s->want, s->nown);
    want_order(s->want + s->nown, s->nwant - s->nown);
    scan_pump(s);
    /* The sentinel (a read from memory with no span) holds one pending count, so the
     * callback runs from ls_poll even when every key came from memory. */
    *sentinel = (struct rd){.e = e, .scan = s, .from_mem = 1};
    eng_ready_push(e, sentinel);
    return 0;
fail: /* no read was started */
    for (uint32_t w = 0; w < s->nwant; w++)
        eng_read_release(e, s->want[w].addr);
    free(sentinel);
    free(s->keys);
    free(s->koff);
    free(s->want);
    free(s->scratch);
    free(s->arena);
    free(c.ents);
    free(s);
    return -ENOMEM;
}

static int first_visit(void *arg, const struct idx_ent *ent)
{
    *(uint64_t *)arg = ent->token;
    return 1;
}

int ls_random_cursor(struct ls_engine *e, uint32_t table, uint64_t *cursor)
{
    table = eng_phys(e, table); /* the database's table (tmap.c) */
    uint64_t r, tok;

    if (table >= e->cfg.tables)
        return LS_EBADTABLE;
    if (idx_count(e->tables[table]) == 0)
        return LS_ENOTFOUND;
    if (vfs_random(e->cfg.sim, &r, sizeof(r)) < 0)
        r = XXH3_64bits_withSeed(&e->st, sizeof(e->st), eng_now_ms(e));
    if (idx_scan(e->tables[table], r, 1, first_visit, &tok, NULL, NULL) == 0 &&
        idx_scan(e->tables[table], 0, 1, first_visit, &tok, NULL, NULL) == 0)
        return LS_ENOTFOUND;
    *cursor = tok;
    return 0;
}
