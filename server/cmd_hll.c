/*
 * cmd_hll.c - PFADD, PFCOUNT, PFMERGE: HyperLogLog in Redis 7.0's own string encoding, so
 * that GET of an HLL key returns the bytes Redis would hold and a value written by Redis
 * (moved with GET/SET or DUMP/RESTORE) is read here, and the other way round.
 *
 * The format (Redis's hyperloglog.c documents it; this is our own implementation):
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      4    "HYLL"
 *   4      1    encoding: 0 dense, 1 sparse
 *   5      3    unused, zero
 *   8      8    cached cardinality, little endian; the top bit of byte 15 set: not valid
 *   16     ...  registers: 16384 of them (P = 14), 6 bits each
 *
 *   Dense: 12288 bytes, register i in bits [6i, 6i+6) counted from the least significant
 *   bit of byte 0 (a register may straddle two bytes); the value is 12304 bytes exactly.
 *   Sparse: a run-length code over the registers, in order:
 *     00xxxxxx           ZERO:  xxxxxx+1 (1..64) registers at 0
 *     01xxxxxx yyyyyyyy  XZERO: the 14 bits +1 (1..16384) registers at 0
 *     1vvvvvxx           VAL:   xx+1 (1..4) registers at vvvvv+1 (1..32)
 *
 * An element is hashed with MurmurHash64A (seed 0xadc83b19); the low 14 bits choose the
 * register, and the register keeps the largest position of the first 1 bit in the other
 * 50 (counted from 1, a 51st bit forced on). A new key starts sparse (one XZERO). Redis
 * updates a sparse value in place: the opcode covering the register is split, and then
 * equal adjacent VAL opcodes are merged, looking at five opcodes from the one before the
 * change. The bytes depend on that exact procedure, so it is followed step for step. A
 * sparse value turns dense when a register needs more than 32 or the value would pass
 * HLL_SPARSE_MAX_BYTES (Redis's hll-sparse-max-bytes default, 3000). The cardinality is
 * Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017), computed in the same floating-point steps as Redis so the counts
 * match; it is cached in the header and invalidated by every change.
 *
 * A value that is not an HLL (too short, wrong magic or encoding, a dense one of the wrong
 * length) gets "WRONGTYPE Key is not a valid HyperLogLog string value."; a sparse one
 * whose runs do not cover exactly 16384 registers, found while using it, gets
 * "INVALIDOBJ Corrupted HLL object detected".
 *
 * PFDEBUG GETREG/DECODE/ENCODING/TODENSE, the debugging command Redis's tests use, has
 * Redis's replies (GETREG and TODENSE write a sparse value back dense, as Redis does).
 * PFSELFTEST checks the register packing and, up to a million elements, that sparse and
 * dense agree and the error stays within six standard errors (Redis goes to ten million,
 * seconds on the event loop; this takes a quarter of a second).
 *
 * Concurrency (lockset.c): all the rows are writes (PFCOUNT rewrites the cached count of
 * one key, as Redis does), so the keys are held exclusive from the read to the put.
 * PFCOUNT of several keys and PFMERGE read their keys through mget.c's bounded window and
 * fold each into one 16 KiB register array as it arrives (PFMERGE also keeps a copy of its
 * destination, at most a dense value's size).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "mget.h"
#include "reply.h"
#include "server.h"

#define HLL_P                14
#define HLL_Q                (64 - HLL_P)
#define HLL_REGS             (1 << HLL_P)
#define HLL_HDR              16
#define HLL_DENSE_SIZE       (HLL_HDR + HLL_REGS * 6 / 8)
#define HLL_DENSE            0
#define HLL_SPARSE           1
#define HLL_SPARSE_MAX_BYTES 3000
#define HLL_VAL_MAX          32
#define HLL_ZERO_MAX         64
#define HLL_ALPHA_INF        0.721347520444481703680 /* 0.5 / ln(2) */
#define HLL_SEED             0xadc83b19ULL

#define ERR_NOT_HLL "WRONGTYPE Key is not a valid HyperLogLog string value."
#define ERR_HLL_BAD "INVALIDOBJ Corrupted HLL object detected"

_Static_assert(HLL_DENSE_SIZE == 12304, "dense HLL size");

/* An HLL value being worked on: p[0..len), with cap bytes allocated, the bytes past len
 * zero (the sparse code reads one byte ahead, the dense one a byte past the last
 * register, as Redis's NUL-terminated strings allow). */
struct hll {
    uint8_t *p;
    size_t len, cap;
};

/* ---- the hash ---- */

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* MurmurHash64A, byte-order neutral (the words are read little endian). */
static uint64_t murmur64a(const uint8_t *key, size_t len, uint64_t seed)
{
    const uint64_t m = 0xc6a4a7935bd1e995ULL;
    uint64_t h = seed ^ ((uint64_t)(int)len * m);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t k = load_le64(key + i) * m;
        k ^= k >> 47;
        h = (h ^ (k * m)) * m;
    }
    size_t rest = len & 7;
    if (rest) {
        for (size_t j = rest; j > 0; j--)
            h ^= (uint64_t)key[i + j - 1] << (8 * (j - 1));
        h *= m;
    }
    h ^= h >> 47;
    h *= m;
    h ^= h >> 47;
    return h;
}

/* The register of an element and the value it offers. */
static uint8_t hll_pattern(const void *ele, size_t len, long *reg)
{
    uint64_t h = murmur64a(ele, len, HLL_SEED);
    *reg = (long)(h & (HLL_REGS - 1));
    h = (h >> HLL_P) | (UINT64_C(1) << HLL_Q);
    return (uint8_t)(__builtin_ctzll(h) + 1);
}

/* ---- buffers, header ---- */

static int hll_reserve(struct hll *h, size_t extra)
{
    if (h->len + extra + 1 <= h->cap)
        return 0;
    size_t cap = h->len + extra + 64;
    uint8_t *n = realloc(h->p, cap);
    if (n == NULL)
        return -1;
    memset(n + h->cap, 0, cap - h->cap);
    h->p = n;
    h->cap = cap;
    return 0;
}

/* Copies v (n bytes) into h. Returns 0 or -1 (out of memory). */
static int hll_load(struct hll *h, const void *v, size_t n)
{
    h->cap = n + 64;
    h->len = n;
    h->p = calloc(1, h->cap);
    if (h->p == NULL)
        return -1;
    memcpy(h->p, v, n);
    return 0;
}

/* A new empty HLL: sparse, one XZERO of 16384 registers, cached count 0 (valid). */
static int hll_new(struct hll *h)
{
    static const uint8_t empty[HLL_HDR + 2] = {'H', 'Y', 'L', 'L', HLL_SPARSE, [16] = 0x7f, 0xff};
    return hll_load(h, empty, sizeof(empty));
}

/* Whether v is an HLL by its header (Redis's isHLLObjectOrReply). */
static int hll_valid(const uint8_t *v, size_t n)
{
    return n >= HLL_HDR && memcmp(v, "HYLL", 4) == 0 && v[4] <= HLL_SPARSE &&
           (v[4] != HLL_DENSE || n == HLL_DENSE_SIZE);
}

static void hll_invalidate(struct hll *h)
{
    h->p[15] |= 0x80;
}

/* ---- dense ---- */

/* A register starting at bit fb of its byte spills into the next byte only when fb > 2
 * (so the last one, at bit 2 of the last byte, never reads past the registers: the value
 * may be a borrowed engine buffer of exactly 12304 bytes). */
static unsigned dense_get(const uint8_t *regs, long i)
{
    size_t byte = (size_t)i * 6 / 8;
    unsigned fb = (unsigned)(i * 6) & 7;
    unsigned hi = fb > 2 ? (unsigned)regs[byte + 1] << (8 - fb) : 0;
    return ((regs[byte] >> fb) | hi) & 63;
}

static void dense_put(uint8_t *regs, long i, unsigned v)
{
    size_t byte = (size_t)i * 6 / 8;
    unsigned fb = (unsigned)(i * 6) & 7;
    regs[byte] = (uint8_t)((regs[byte] & ~(63u << fb)) | (v << fb));
    if (fb > 2)
        regs[byte + 1] = (uint8_t)((regs[byte + 1] & ~(63u >> (8 - fb))) | (v >> (8 - fb)));
}

static int dense_set(uint8_t *regs, long i, uint8_t count)
{
    if (count <= dense_get(regs, i))
        return 0;
    dense_put(regs, i, count);
    return 1;
}

/* ---- sparse ---- */

#define SP_IS_ZERO(p)  ((*(p)&0xc0) == 0)
#define SP_IS_XZERO(p) ((*(p)&0xc0) == 0x40)
#define SP_IS_VAL(p)   ((*(p)&0x80) != 0)
#define SP_VAL(p)      (((*(p) >> 2) & 0x1f) + 1)
#define SP_VAL_LEN(p)  ((*(p)&3) + 1)

/* The registers covered by the opcode at p; *oplen its size in bytes. */
static long sp_span(const uint8_t *p, int *oplen)
{
    *oplen = 1;
    if (SP_IS_ZERO(p))
        return (*p & 0x3f) + 1;
    if (SP_IS_VAL(p))
        return SP_VAL_LEN(p);
    *oplen = 2;
    return (((long)(*p & 0x3f) << 8) | p[1]) + 1;
}

static uint8_t sp_valop(unsigned v, unsigned len)
{
    return (uint8_t)(0x80 | ((v - 1) << 2) | (len - 1));
}

/* Writes a zero run of len registers at q; returns the bytes written. */
static int sp_zeros(uint8_t *q, long len)
{
    if (len > HLL_ZERO_MAX) {
        q[0] = (uint8_t)(0x40 | ((len - 1) >> 8));
        q[1] = (uint8_t)((len - 1) & 0xff);
        return 2;
    }
    q[0] = (uint8_t)(len - 1);
    return 1;
}

/* Applies fn(reg0, n, value) to every run of the sparse code; returns the registers
 * covered, or -1 when a VAL run passes register 16383 (Redis stops there). */
typedef void (*sp_run_fn)(void *ctx, long first, long n, unsigned v);

static long sp_walk(const uint8_t *p, const uint8_t *end, sp_run_fn fn, void *ctx)
{
    long idx = 0;
    while (p < end) {
        int oplen;
        long n = sp_span(p, &oplen);
        unsigned v = SP_IS_VAL(p) ? SP_VAL(p) : 0;
        if (v && idx + n > HLL_REGS)
            return -1;
        fn(ctx, idx, n, v);
        idx += n;
        p += oplen;
    }
    return idx;
}

static void run_to_dense(void *ctx, long first, long n, unsigned v)
{
    for (long i = 0; v && i < n; i++)
        dense_put(ctx, first + i, v);
}

/* Turns a sparse h dense (the header kept, encoding changed). Returns 0, -1 when the
 * sparse code is corrupt, -2 when out of memory. */
static int hll_to_dense(struct hll *h)
{
    if (h->p[4] == HLL_DENSE)
        return 0;
    uint8_t *d = calloc(1, HLL_DENSE_SIZE + 64);
    if (d == NULL)
        return -2;
    memcpy(d, h->p, HLL_HDR);
    d[4] = HLL_DENSE;
    if (sp_walk(h->p + HLL_HDR, h->p + h->len, run_to_dense, d + HLL_HDR) != HLL_REGS) {
        free(d);
        return -1;
    }
    free(h->p);
    h->p = d;
    h->len = HLL_DENSE_SIZE;
    h->cap = HLL_DENSE_SIZE + 64;
    return 0;
}

/* Merges equal adjacent VAL opcodes, looking at five opcodes from p. */
static void sp_merge(struct hll *h, uint8_t *p)
{
    uint8_t *end = h->p + h->len;
    int scan = 5;
    while (p < end && scan-- > 0) {
        if (!SP_IS_VAL(p)) {
            p += SP_IS_XZERO(p) ? 2 : 1;
            continue;
        }
        if (p + 1 < end && SP_IS_VAL(p + 1) && SP_VAL(p) == SP_VAL(p + 1) &&
            SP_VAL_LEN(p) + SP_VAL_LEN(p + 1) <= 4) {
            p[1] = sp_valop(SP_VAL(p), SP_VAL_LEN(p) + SP_VAL_LEN(p + 1));
            memmove(p, p + 1, (size_t)(end - p));
            h->len--;
            end--;
            continue; /* try the merged opcode with the next one */
        }
        p++;
    }
}

/* The opcodes replacing the one at p (covering [first, first+span)) so that register
 * `index` holds count. Returns the length written to seq. */
static int sp_split(const uint8_t *p, long first, long span, long index, uint8_t count,
                    uint8_t *seq)
{
    long last = first + span - 1;
    int n = 0;
    if (!SP_IS_VAL(p)) {
        if (index != first)
            n += sp_zeros(seq + n, index - first);
        seq[n++] = sp_valop(count, 1);
        if (index != last)
            n += sp_zeros(seq + n, last - index);
        return n;
    }
    unsigned cur = SP_VAL(p);
    if (index != first)
        seq[n++] = sp_valop(cur, (unsigned)(index - first));
    seq[n++] = sp_valop(count, 1);
    if (index != last)
        seq[n++] = sp_valop(cur, (unsigned)(last - index));
    return n;
}

static int sp_promote(struct hll *h, long index, uint8_t count)
{
    int rc = hll_to_dense(h);
    if (rc < 0)
        return rc;
    dense_set(h->p + HLL_HDR, index, count);
    return 1;
}

/* Sets register index of a sparse h to count if that raises it. Returns 1 (changed), 0,
 * -1 (corrupt), -2 (out of memory). May turn h dense. */
static int sp_set(struct hll *h, long index, uint8_t count)
{
    if (count > HLL_VAL_MAX)
        return sp_promote(h, index, count);
    if (hll_reserve(h, 3) < 0)
        return -2;
    uint8_t *sp = h->p + HLL_HDR, *end = h->p + h->len, *p = sp, *prev = NULL;
    long first = 0, span = 0;
    int oplen = 1;
    while (p < end) {
        span = sp_span(p, &oplen);
        if (index <= first + span - 1)
            break;
        prev = p;
        p += oplen;
        first += span;
    }
    if (span == 0 || p >= end)
        return -1;
    if (SP_IS_VAL(p) && SP_VAL(p) >= count)
        return 0;
    if ((SP_IS_VAL(p) || SP_IS_ZERO(p)) && span == 1) {
        *p = sp_valop(count, 1); /* a run of one register: rewritten in place */
    } else {
        uint8_t seq[5];
        int n = sp_split(p, first, span, index, count, seq), delta = n - oplen;
        if (delta > 0 && h->len + (size_t)delta > HLL_SPARSE_MAX_BYTES)
            return sp_promote(h, index, count);
        uint8_t *next = p + oplen;
        if (delta && next < end)
            memmove(next + delta, next, (size_t)(end - next));
        h->len = (size_t)((long)h->len + delta);
        memcpy(p, seq, (size_t)n);
        if (delta < 0)
            memset(h->p + h->len, 0, (size_t)-delta);
    }
    sp_merge(h, prev ? prev : sp);
    memset(h->p + h->len, 0, h->cap - h->len);
    hll_invalidate(h); /* here, as Redis: a PFADD that fails later keeps what it did */
    return 1;
}

/* Raises register index of h to count. Returns as sp_set. */
static int hll_set(struct hll *h, long index, uint8_t count)
{
    if (h->p[4] == HLL_DENSE)
        return dense_set(h->p + HLL_HDR, index, count);
    return sp_set(h, index, count);
}

/* ---- counting ---- */

static double hll_sigma(double x)
{
    if (x == 1.)
        return INFINITY;
    double y = 1, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (prev != z);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0. || x == 1.)
        return 0.;
    double y = 1.0, z = 1 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
    } while (prev != z);
    return z / 3;
}

/* The estimate from the histogram of register values (64 slots). */
static uint64_t hll_estimate(const int *histo)
{
    double m = HLL_REGS;
    double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);
    for (int j = HLL_Q; j >= 1; --j) {
        z += histo[j];
        z *= 0.5;
    }
    z += m * hll_sigma(histo[0] / m);
    double e = (double)llroundl(HLL_ALPHA_INF * m * m / z);
    return (uint64_t)e;
}

/* The cardinality of h; *bad set when its sparse code is corrupt. */
static uint64_t hll_count(const struct hll *h, int *bad)
{
    int histo[64] = {0};
    if (h->p[4] == HLL_DENSE) {
        for (long i = 0; i < HLL_REGS; i++)
            histo[dense_get(h->p + HLL_HDR, i)]++;
    } else {
        /* Redis counts every run, even past the end, and flags the value */
        long idx = 0;
        const uint8_t *p = h->p + HLL_HDR, *end = h->p + h->len;
        while (p < end) {
            int oplen;
            long n = sp_span(p, &oplen);
            histo[SP_IS_VAL(p) ? SP_VAL(p) : 0] += (int)n;
            idx += n;
            p += oplen;
        }
        if (idx != HLL_REGS)
            *bad = 1;
    }
    return hll_estimate(histo);
}

static void run_max(void *ctx, long first, long n, unsigned v)
{
    uint8_t *max = ctx;
    for (long i = 0; v && i < n; i++)
        if (v > max[first + i])
            max[first + i] = (uint8_t)v;
}

/* max[i] = MAX(max[i], register i of the HLL v (n bytes, header checked)). Returns 0 or
 * -1 when its sparse code is corrupt. */
static int hll_merge(uint8_t *max, const uint8_t *v, size_t n)
{
    if (v[4] == HLL_DENSE) {
        for (long i = 0; i < HLL_REGS; i++) {
            unsigned x = dense_get(v + HLL_HDR, i);
            if (x > max[i])
                max[i] = (uint8_t)x;
        }
        return 0;
    }
    return sp_walk(v + HLL_HDR, v + n, run_max, max) == HLL_REGS ? 0 : -1;
}

static uint64_t raw_count(const uint8_t *max)
{
    int histo[64] = {0};
    for (long i = 0; i < HLL_REGS; i++)
        histo[max[i]]++;
    return hll_estimate(histo);
}

/* ---- commands ---- */

static void fail_code(struct req *r, int rc)
{
    cmd_bits_fail(r, rc == -2 ? "ERR out of memory" : ERR_HLL_BAD);
}

/* Puts h as key argv[1] (keeping the old item's TTL and flags, it when it existed) with
 * reply r->num, and frees h. */
static void hll_put(struct req *r, struct hll *h, int rc, const struct ls_item *it)
{
    cmd_put(r, &r->argv[1], h->p, h->len, rc == 0 ? it->expire_ms : 0, rc == 0 ? it->flags : 0,
            CMD_REPLY_NUM);
    free(h->p);
}

/* Loads the item (or a new HLL when rc says it is missing) into h; *created set for a new
 * one. Replies, ends r and returns -1 when it is not an HLL or memory ran out. */
static int hll_open(struct req *r, int rc, const struct ls_item *it, struct hll *h, int *created)
{
    *created = rc != 0;
    if (rc == 0 && !hll_valid(it->value, it->value_len)) {
        cmd_bits_fail(r, ERR_NOT_HLL);
        return -1;
    }
    if ((rc == 0 ? hll_load(h, it->value, it->value_len) : hll_new(h)) < 0) {
        cmd_bits_fail(r, "ERR out of memory");
        return -1;
    }
    return 0;
}

static void pfadd_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct hll h;
    int updated;
    if (cmd_bits_read_failed(r, rc) || hll_open(r, rc, it, &h, &updated) < 0)
        return;
    for (uint32_t j = 2; j < r->argc; j++) {
        long reg;
        uint8_t count = hll_pattern(r->argv[j].ptr, r->argv[j].len, &reg);
        int x = hll_set(&h, reg, count);
        if (x == -1 && updated) { /* Redis changed the value in place up to here */
            pbuf_reset(&r->tmp);
            reply_check(r, resp_w_error(&r->tmp, ERR_HLL_BAD));
            cmd_put(r, &r->argv[1], h.p, h.len, it->expire_ms, it->flags, CMD_REPLY_TMP);
            free(h.p);
            return;
        }
        if (x < 0) {
            free(h.p);
            fail_code(r, x);
            return;
        }
        updated |= x;
    }
    if (!updated) {
        free(h.p);
        reply_int(r, 0);
        req_done(r);
        return;
    }
    hll_invalidate(&h);
    r->num = 1;
    hll_put(r, &h, rc, it);
}

void cmd_hll_pfadd(struct req *r)
{
    cmd_get(r, &r->argv[1], pfadd_cb);
}

static void pfcount_one_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    struct hll h;
    int created, bad = 0;
    if (cmd_bits_read_failed(r, rc))
        return;
    if (rc != 0) {
        reply_int(r, 0);
        req_done(r);
        return;
    }
    if (hll_open(r, rc, it, &h, &created) < 0)
        return;
    if (!(h.p[15] & 0x80)) { /* the cached count is valid */
        reply_int(r, (int64_t)load_le64(h.p + 8));
        req_done(r);
        free(h.p);
        return;
    }
    uint64_t card = hll_count(&h, &bad);
    if (bad) {
        free(h.p);
        cmd_bits_fail(r, ERR_HLL_BAD);
        return;
    }
    for (int i = 0; i < 8; i++) /* cache it, as Redis does: the value changes */
        h.p[8 + i] = (uint8_t)(card >> (8 * i));
    r->num = (int64_t)card;
    hll_put(r, &h, rc, it);
}

/* PFCOUNT of several keys and PFMERGE: the keys folded into one register array. */
struct pfmulti {
    uint32_t nread;
    const char *err; /* the first error, in key order */
    int eng;         /* or the first engine error */
    int dense;       /* some source is dense (PFMERGE makes the destination dense) */
    struct hll dest; /* PFMERGE: a copy of the destination when it exists */
    uint64_t dest_exp;
    uint32_t dest_flags;
    uint8_t max[HLL_REGS];
};

static void pfmulti_free(void *p)
{
    struct pfmulti *m = p;
    free(m->dest.p);
    free(m);
}

static void pfmulti_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    struct pfmulti *m = r->aux;
    m->nread++;
    if (m->err || m->eng)
        return;
    if (rc != 0) {
        if (rc != LS_ENOTFOUND)
            m->eng = rc;
        return;
    }
    const uint8_t *v = (const uint8_t *)it->val;
    if (!hll_valid(v, it->len)) {
        m->err = ERR_NOT_HLL;
        return;
    }
    m->dense |= v[4] == HLL_DENSE;
    if (hll_merge(m->max, v, it->len) < 0) {
        m->err = ERR_HLL_BAD;
        return;
    }
    if (i == 0 && r->cmd->proc == cmd_hll_pfmerge) {
        if (hll_load(&m->dest, v, it->len) < 0)
            m->err = "ERR out of memory";
        m->dest_exp = it->expire_ms;
        m->dest_flags = it->flags;
    }
}

/* Ends r when the reads failed; returns 1 then. */
static int pfmulti_failed(struct req *r, struct pfmulti *m)
{
    if (m->nread < r->nkeys)
        cmd_bits_fail(r, "ERR connection closed");
    else if (m->err)
        cmd_bits_fail(r, m->err);
    else if (m->eng) {
        reply_engine_error(r, m->eng);
        req_done(r);
    } else
        return 0;
    return 1;
}

static void pfcount_done(struct req *r)
{
    struct pfmulti *m = r->aux;
    if (pfmulti_failed(r, m))
        return;
    reply_int(r, (int64_t)raw_count(m->max));
    req_done(r);
}

static int pfmulti_start(struct req *r, mget_done_fn done)
{
    struct pfmulti *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -1;
    r->aux = m;
    r->aux_free = pfmulti_free;
    return mget_start(r, r->keys, r->nkeys, r->db, pfmulti_emit, done);
}

void cmd_hll_pfcount(struct req *r)
{
    if (r->nkeys == 1)
        cmd_get(r, &r->argv[1], pfcount_one_cb);
    else if (pfmulti_start(r, pfcount_done) < 0)
        cmd_bits_fail(r, "ERR out of memory");
}

static void pfmerge_done(struct req *r)
{
    struct pfmulti *m = r->aux;
    if (pfmulti_failed(r, m))
        return;
    struct hll *d = &m->dest;
    int existed = d->p != NULL, rc = 0;
    if (!existed && hll_new(d) < 0) {
        cmd_bits_fail(r, "ERR out of memory");
        return;
    }
    if (m->dense)
        rc = hll_to_dense(d);
    for (long j = 0; rc >= 0 && j < HLL_REGS; j++)
        if (m->max[j])
            rc = hll_set(d, j, m->max[j]);
    if (rc < 0) {
        fail_code(r, rc);
        return;
    }
    hll_invalidate(d);
    cmd_put(r, &r->argv[1], d->p, d->len, existed ? m->dest_exp : 0, existed ? m->dest_flags : 0,
            CMD_REPLY_OK);
}

void cmd_hll_pfmerge(struct req *r)
{
    if (pfmulti_start(r, pfmerge_done) < 0)
        cmd_bits_fail(r, "ERR out of memory");
}

/* ---- PFDEBUG (the subcommands Redis's test suite uses) ---- */

/* PFDEBUG DECODE: the sparse opcodes as Redis prints them ("z:len Z:len v:val,len"). */
static void pfdebug_decode(struct req *r, const struct hll *h)
{
    struct pbuf out = {0};
    int rc = 0;
    for (const uint8_t *p = h->p + HLL_HDR; p < h->p + h->len && rc == 0;) {
        int oplen;
        long n = sp_span(p, &oplen);
        char tok[32];
        int k = SP_IS_VAL(p)    ? snprintf(tok, sizeof(tok), "v:%d,%ld ", SP_VAL(p), n)
                : SP_IS_ZERO(p) ? snprintf(tok, sizeof(tok), "z:%ld ", n)
                                : snprintf(tok, sizeof(tok), "Z:%ld ", n);
        rc = pbuf_append(&out, tok, (size_t)k);
        p += oplen;
    }
    if (rc == 0)
        reply_bulk(r, out.data, out.len ? out.len - 1 : 0); /* without the last space */
    else
        reply_error(r, "ERR out of memory");
    pbuf_free(&out);
}

/* GETREG's reply, every register of a dense h, into r->tmp. */
static void pfdebug_regs(struct req *r, const struct hll *h)
{
    pbuf_reset(&r->tmp);
    int rc = resp_w_array(&r->tmp, HLL_REGS);
    for (long i = 0; i < HLL_REGS; i++)
        rc |= resp_w_int(&r->tmp, dense_get(h->p + HLL_HDR, i));
    reply_check(r, rc);
}

/* GETREG and TODENSE turn a sparse value dense and write it (Redis does, in place). */
static void pfdebug_dense(struct req *r, struct hll *h, const struct ls_item *it, int getreg)
{
    int sparse = h->p[4] == HLL_SPARSE, rc = hll_to_dense(h);
    if (rc < 0) {
        free(h->p);
        fail_code(r, rc);
        return;
    }
    if (getreg)
        pfdebug_regs(r, h);
    else {
        pbuf_reset(&r->tmp);
        reply_check(r, resp_w_int(&r->tmp, sparse));
    }
    if (sparse)
        cmd_put(r, &r->argv[2], h->p, h->len, it->expire_ms, it->flags, CMD_REPLY_TMP);
    else {
        reply_tmp(r);
        req_done(r);
    }
    free(h->p);
}

static void pfdebug_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    const struct resp_arg *sub = &r->argv[1];
    struct hll h;
    int created;
    if (cmd_bits_read_failed(r, rc))
        return;
    if (rc != 0) {
        cmd_bits_fail(r, "ERR The specified key does not exist");
        return;
    }
    if (hll_open(r, rc, it, &h, &created) < 0)
        return;
    if (!cmd_arg_is(sub, "getreg") && !cmd_arg_is(sub, "decode") && !cmd_arg_is(sub, "encoding") &&
        !cmd_arg_is(sub, "todense")) {
        reply_errorf(r, "ERR Unknown PFDEBUG subcommand '%s'", sub->ptr);
        req_done(r);
    } else if (cmd_arg_is(sub, "getreg") || cmd_arg_is(sub, "todense")) {
        pfdebug_dense(r, &h, it, cmd_arg_is(sub, "getreg"));
        return; /* h freed */
    } else if (cmd_arg_is(sub, "encoding")) {
        reply_simple(r, h.p[4] == HLL_DENSE ? "dense" : "sparse");
        req_done(r);
    } else if (h.p[4] != HLL_SPARSE) {
        cmd_bits_fail(r, "ERR HLL encoding is not sparse");
    } else {
        pfdebug_decode(r, &h);
        req_done(r);
    }
    free(h.p);
}

void cmd_hll_pfdebug(struct req *r)
{
    cmd_get(r, &r->argv[2], pfdebug_cb);
}

/* ---- PFSELFTEST ---- */

/* Dense registers keep what is written and leave their neighbours alone. Returns 0 or the
 * first register that failed + 1. */
static long selftest_registers(uint8_t *regs, uint64_t *rnd)
{
    static uint8_t want[HLL_REGS];
    for (int round = 0; round < 50; round++) {
        for (long i = 0; i < HLL_REGS; i++) {
            *rnd = *rnd * 6364136223846793005ULL + 1442695040888963407ULL;
            want[i] = (uint8_t)(*rnd >> 58);
            dense_put(regs, i, want[i]);
        }
        for (long i = 0; i < HLL_REGS; i++)
            if (dense_get(regs, i) != want[i])
                return i + 1;
    }
    return 0;
}

/* Adds 1..limit distinct elements to a dense and a sparse HLL; at 1, 10, 100, ... both
 * must agree, the sparse one must still be sparse while small, and the error stay within
 * six standard errors. Returns NULL or what failed. */
static const char *selftest_counts(struct hll *d, struct hll *s, uint64_t seed, char *why, size_t n)
{
    uint64_t next = 1;
    double relerr = 1.04 / sqrt(HLL_REGS);
    for (uint64_t j = 1; j <= 1000000; j++) {
        uint64_t ele = j ^ seed;
        long reg;
        uint8_t count = hll_pattern(&ele, sizeof(ele), &reg);
        if (hll_set(d, reg, count) < 0 || hll_set(s, reg, count) < 0)
            return "TESTFAILED out of memory";
        if (j != next)
            continue;
        int bad = 0;
        uint64_t cd = hll_count(d, &bad), cs = hll_count(s, &bad);
        double err = fabs((double)j - (double)cd);
        if (j < HLL_SPARSE_MAX_BYTES / 2 && s->p[4] != HLL_SPARSE)
            return "TESTFAILED sparse encoding not used";
        if (cd != cs || bad)
            return "TESTFAILED dense/sparse disagree";
        if (err > (j == 10 ? 1 : ceil(relerr * 6 * (double)j))) {
            snprintf(why, n, "TESTFAILED Too big error. card:%llu abserr:%.0f",
                     (unsigned long long)j, err);
            return why;
        }
        next *= 10;
    }
    return NULL;
}

void cmd_hll_pfselftest(struct req *r)
{
    struct hll d = {0}, s = {0};
    uint64_t rnd = server_unix_ms() | 1;
    char why[96];
    const char *err = "ERR out of memory";
    if (hll_new(&d) == 0 && hll_to_dense(&d) == 0 && hll_new(&s) == 0) {
        long reg = selftest_registers(d.p + HLL_HDR, &rnd);
        memset(d.p + HLL_HDR, 0, HLL_DENSE_SIZE - HLL_HDR);
        if (reg)
            snprintf(why, sizeof(why), "TESTFAILED Register %ld", reg - 1);
        err = reg ? why : selftest_counts(&d, &s, rnd, why, sizeof(why));
    }
    if (err)
        reply_error(r, err);
    else
        reply_ok(r);
    free(d.p);
    free(s.p);
    req_done(r);
}
