/*
 * cmd_bits.c - the Redis bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
 * BITFIELD, BITFIELD_RO) and LCS, over string values, with Redis 7.0's replies.
 *
 * Bits are numbered as Redis numbers them: bit 0 is the most significant bit of byte 0.
 * A write that addresses a bit past the end pads the value with zero bytes.
 *
 * Concurrency (lockset.c): SETBIT, BITFIELD and BITOP are read-modify-writes. Their table
 * rows are writes, so they hold their keys exclusive from before the first read until
 * the put is submitted (cmd_put); BITOP reads its sources in key order through mget.c's
 * bounded window (its result buffer is bounded by max_value_size, since every source is)
 * and then writes or deletes the destination. The read-only commands read one key, LCS
 * its two through mget_start so that both are read under the claim.
 *
 * Limits. A bit offset is refused as Redis refuses it, with "bit offset is not an integer
 * or out of range", when its byte is at or past proto_max_bulk_len; a write that would
 * grow the value past max_value_size is refused with the same error (the value could not
 * be stored). LCS refuses a table larger than proto_max_bulk_len, as Redis does.
 *
 * Write decisions follow Redis: SETBIT and BITFIELD write only when the value is created,
 * grows or changes (keeping its TTL and flags); BITOP replaces the destination (no TTL)
 * or deletes it when every source is empty.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "mget.h"
#include "park.h"
#include "reply.h"
#include "server.h"

#define ERR_BIT_OFFSET "ERR bit offset is not an integer or out of range"
#define ERR_BF_TYPE                                                                                \
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported "        \
    "but i64 is."

/* ---- shared helpers ---- */

void cmd_bits_fail(struct req *r, const char *err)
{
    reply_error(r, err);
    req_done(r);
}

int cmd_bits_read_failed(struct req *r, int rc)
{
    if (rc == 0 || rc == LS_ENOTFOUND)
        return 0;
    reply_engine_error(r, rc);
    req_done(r);
    return 1;
}

/* Redis's getBitOffsetFromArgument: "#N" (when bits > 0) means N * bits. Replies and
 * returns -1 on error. */
static int bit_offset(struct req *r, const struct resp_arg *a, int bits, uint64_t *out)
{
    int hash = bits > 0 && a->len > 0 && a->ptr[0] == '#';
    long long v;
    if (cmd_parse_ll(a->ptr + hash, a->len - (size_t)hash, &v) < 0) {
        reply_error(r, ERR_BIT_OFFSET);
        return -1;
    }
    if (hash) /* Redis multiplies without a check; keep its wrap, defined here */
        v = (long long)((unsigned long long)v * (unsigned long long)bits);
    if (v < 0 || (unsigned long long)(v >> 3) >= r->c->srv->cfg.proto_max_bulk_len) {
        reply_error(r, ERR_BIT_OFFSET);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Whether a write reaching bit `last` fits max_value_size. Replies when not. */
static int bit_fits(struct req *r, uint64_t last)
{
    if ((last >> 3) + 1 > r->c->srv->cfg.max_value_size) {
        reply_error(r, ERR_BIT_OFFSET);
        return 0;
    }
    return 1;
}

/* A copy of the old value (len old) grown with zeros to at least len bytes, plus one
 * spare byte. NULL when out of memory. */
static uint8_t *grown_copy(const void *old, size_t oldlen, size_t len)
{
    size_t n = len > oldlen ? len : oldlen;
    uint8_t *v = calloc(1, n + 1);
    if (v && oldlen)
        memcpy(v, old, oldlen);
    return v;
}

/* Puts v (n bytes) as key's new value, keeping the TTL and flags of the old item. */
static void put_keep(struct req *r, int rc, const struct ls_item *it, const void *v, size_t n,
                     enum cmd_reply_mode mode)
{
    cmd_put(r, &r->argv[1], v, n, rc == 0 ? it->expire_ms : 0, rc == 0 ? it->flags : 0, mode);
}

/* ---- SETBIT, GETBIT ---- */

static void setbit_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (cmd_bits_read_failed(r, rc))
        return;
    uint64_t off = r->u64;
    size_t byte = (size_t)(off >> 3), oldlen = rc == 0 ? it->value_len : 0;
    int shift = 7 - (int)(off & 7);
    int old = byte < oldlen ? (((const uint8_t *)it->value)[byte] >> shift) & 1 : 0;
    r->num = old;
    if (byte < oldlen && old == (int)r->flags) { /* nothing changes: Redis writes nothing */
        reply_int(r, old);
        req_done(r);
        return;
    }
    uint8_t *v = grown_copy(rc == 0 ? it->value : NULL, oldlen, byte + 1);
    if (v == NULL) {
        cmd_bits_fail(r, "ERR out of memory");
        return;
    }
    v[byte] = (uint8_t)((v[byte] & ~(1u << shift)) | (r->flags << shift));
    put_keep(r, rc, it, v, byte + 1 > oldlen ? byte + 1 : oldlen, CMD_REPLY_NUM);
    free(v);
}

void cmd_bits_setbit(struct req *r)
{
    long long on;
    if (bit_offset(r, &r->argv[2], 0, &r->u64) < 0) {
        req_done(r);
        return;
    }
    if (cmd_arg_ll(&r->argv[3], &on) < 0 || (on & ~1LL)) {
        cmd_bits_fail(r, "ERR bit is not an integer or out of range");
        return;
    }
    if (!bit_fits(r, r->u64)) {
        req_done(r);
        return;
    }
    r->flags = (uint32_t)on;
    cmd_get(r, &r->argv[1], setbit_cb);
}

static void getbit_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (cmd_bits_read_failed(r, rc))
        return;
    size_t byte = (size_t)(r->u64 >> 3);
    int bit = 0;
    if (rc == 0 && byte < it->value_len)
        bit = (((const uint8_t *)it->value)[byte] >> (7 - (r->u64 & 7))) & 1;
    reply_int(r, bit);
    req_done(r);
}

void cmd_bits_getbit(struct req *r)
{
    if (bit_offset(r, &r->argv[2], 0, &r->u64) < 0) {
        req_done(r);
        return;
    }
    cmd_get(r, &r->argv[1], getbit_cb);
}

/* ---- BITCOUNT, BITPOS ---- */

/* An inclusive range of bits [start, end] of a value; empty when start > end. */
struct bit_range {
    long long start, end;
};

/* Redis's index arithmetic: negative indexes count from the end, both are clamped to the
 * value (of totlen units), and a BIT range stays in bits while a BYTE range is turned
 * into the bits of its bytes. */
static struct bit_range range_of(long long start, long long end, long long len, int isbit)
{
    long long totlen = isbit ? len * 8 : len;
    if (start < 0)
        start = totlen + start;
    if (end < 0)
        end = totlen + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= totlen)
        end = totlen - 1;
    struct bit_range br = {start, end};
    if (!isbit && start <= end) {
        br.start = start * 8;
        br.end = end * 8 + 7;
    }
    return br;
}

/* The bits of byte b of p that lie in br, as a mask (MSB is bit 0 of the byte). */
static unsigned byte_mask(struct bit_range br, long long b)
{
    unsigned m = 0xff;
    if (b == br.start >> 3)
        m &= 0xffu >> (br.start & 7);
    if (b == br.end >> 3)
        m &= (0xff00u >> ((br.end & 7) + 1)) & 0xff;
    return m;
}

static long long popcount_bytes(const uint8_t *p, size_t n)
{
    long long c = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        c += __builtin_popcountll(w);
    }
    for (; i < n; i++)
        c += __builtin_popcount(p[i]);
    return c;
}

static long long count_bits(const uint8_t *p, struct bit_range br)
{
    long long sb = br.start >> 3, eb = br.end >> 3;
    long long c = __builtin_popcount(p[sb] & byte_mask(br, sb));
    if (eb > sb) {
        c += __builtin_popcount(p[eb] & byte_mask(br, eb));
        c += popcount_bytes(p + sb + 1, (size_t)(eb - sb - 1));
    }
    return c;
}

/* The first bit equal to `bit` in br, or -1. */
static long long find_bit(const uint8_t *p, struct bit_range br, int bit)
{
    long long sb = br.start >> 3, eb = br.end >> 3;
    uint8_t skip = bit ? 0 : 0xff;
    for (long long b = sb; b <= eb; b++) {
        if (p[b] == skip && b != sb && b != eb) {
            long long w = b;
            uint64_t sw = bit ? 0 : UINT64_MAX, x;
            while (w + 8 < eb && (memcpy(&x, p + w, 8), x == sw))
                w += 8;
            b = w;
            if (p[b] == skip)
                continue;
        }
        unsigned m = byte_mask(br, b), v = (bit ? p[b] : (uint8_t)~p[b]) & m;
        if (v)
            return b * 8 + (__builtin_clz(v) - 24);
    }
    return -1;
}

/* BITCOUNT and BITPOS share the tail of their arguments: [start end [BYTE|BIT]] from
 * argv[i]. Sets *isbit; replies and returns -1 on a syntax error. */
static int unit_arg(struct req *r, uint32_t i, int *isbit)
{
    *isbit = 0;
    if (r->argc <= i)
        return 0;
    if (cmd_arg_is(&r->argv[i], "bit"))
        *isbit = 1;
    else if (!cmd_arg_is(&r->argv[i], "byte")) {
        reply_error(r, ERR_SYNTAX);
        return -1;
    }
    return 0;
}

static void bitcount_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (cmd_bits_read_failed(r, rc))
        return;
    if (rc != 0) { /* Redis: a missing key counts 0 before its arguments are looked at */
        reply_int(r, 0);
        req_done(r);
        return;
    }
    long long len = (long long)it->value_len, start = 0, end = len - 1;
    int isbit = 0;
    if (r->argc == 4 || r->argc == 5) {
        if (cmd_arg_ll(&r->argv[2], &start) < 0 || cmd_arg_ll(&r->argv[3], &end) < 0) {
            cmd_bits_fail(r, ERR_NOT_INT);
            return;
        }
        if (start < 0 && end < 0 && start > end) {
            reply_int(r, 0);
            req_done(r);
            return;
        }
        if (unit_arg(r, 4, &isbit) < 0) {
            req_done(r);
            return;
        }
    } else if (r->argc != 2) {
        cmd_bits_fail(r, ERR_SYNTAX);
        return;
    }
    struct bit_range br = range_of(start, end, len, isbit);
    reply_int(r, br.start > br.end ? 0 : count_bits(it->value, br));
    req_done(r);
}

void cmd_bits_bitcount(struct req *r)
{
    cmd_get(r, &r->argv[1], bitcount_cb);
}

/* BITPOS's range: *end_given set when the end was named. Replies and returns -1 on error. */
static int bitpos_range(struct req *r, long long len, struct bit_range *br, int *end_given)
{
    long long start = 0, end = len - 1;
    int isbit = 0;
    *end_given = 0;
    if (r->argc > 6) {
        reply_error(r, ERR_SYNTAX);
        return -1;
    }
    if (r->argc >= 4) {
        if (cmd_arg_ll(&r->argv[3], &start) < 0) {
            reply_error(r, ERR_NOT_INT);
            return -1;
        }
        if (unit_arg(r, 5, &isbit) < 0)
            return -1;
        if (r->argc >= 5) {
            if (cmd_arg_ll(&r->argv[4], &end) < 0) {
                reply_error(r, ERR_NOT_INT);
                return -1;
            }
            *end_given = 1;
        } else {
            end = isbit ? len * 8 + 7 : len - 1;
        }
    }
    *br = range_of(start, end, len, isbit);
    return 0;
}

static void bitpos_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (cmd_bits_read_failed(r, rc))
        return;
    int bit = (int)r->num, end_given;
    if (rc != 0) { /* an endless run of zeros */
        reply_int(r, bit ? -1 : 0);
        req_done(r);
        return;
    }
    struct bit_range br;
    if (bitpos_range(r, (long long)it->value_len, &br, &end_given) < 0) {
        req_done(r);
        return;
    }
    long long pos = -1;
    if (br.start <= br.end) {
        pos = find_bit(it->value, br, bit);
        /* Looking for a 0 past an open end finds the padding just after the range. */
        if (pos < 0 && bit == 0 && !end_given)
            pos = ((br.end >> 3) + 1) * 8;
    }
    reply_int(r, pos);
    req_done(r);
}

void cmd_bits_bitpos(struct req *r)
{
    long long bit;
    if (cmd_arg_ll(&r->argv[2], &bit) < 0) {
        cmd_bits_fail(r, ERR_NOT_INT);
        return;
    }
    if (bit != 0 && bit != 1) {
        cmd_bits_fail(r, "ERR The bit argument must be 1 or 0.");
        return;
    }
    r->num = bit;
    cmd_get(r, &r->argv[1], bitpos_cb);
}

/* ---- BITOP ---- */

enum { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

struct bitop {
    int op;
    uint32_t nread; /* sources emitted */
    int err;        /* first engine error */
    size_t len;     /* result length: the longest source */
    uint8_t *res;   /* max_value_size bytes at most */
};

static void bitop_free(void *p)
{
    struct bitop *b = p;
    free(b->res);
    free(b);
}

/* Folds source i (len bytes at v; 0 for a missing key) into the result. A source shorter
 * than the result counts as zero bytes past its end. */
static int bitop_fold(struct bitop *b, uint32_t i, const uint8_t *v, size_t len)
{
    if (len > b->len) {
        uint8_t *n = realloc(b->res, len);
        if (n == NULL)
            return -1;
        /* bytes past every earlier source: AND gives 0 (unless this is the first), the
         * others keep the first sources' zero padding, which is 0 too */
        memset(n + b->len, 0, len - b->len);
        b->res = n;
        b->len = len;
    }
    if (i == 0) {
        if (len)
            memcpy(b->res, v, len);
        if (b->op == BITOP_NOT)
            for (size_t j = 0; j < b->len; j++)
                b->res[j] = (uint8_t)~b->res[j];
        return 0;
    }
    size_t j = 0;
    if (b->op == BITOP_AND) {
        for (; j < len; j++)
            b->res[j] &= v[j];
        if (b->len > j)
            memset(b->res + j, 0, b->len - j);
    } else if (b->op == BITOP_OR) {
        for (; j < len; j++)
            b->res[j] |= v[j];
    } else {
        for (; j < len; j++)
            b->res[j] ^= v[j];
    }
    return 0;
}

static void bitop_emit(struct req *r, uint32_t i, int rc, const struct mget_item *it)
{
    struct bitop *b = r->aux;
    b->nread++;
    if (rc != 0 && rc != LS_ENOTFOUND && b->err == 0)
        b->err = rc;
    if (b->err)
        return;
    if (bitop_fold(b, i, rc == 0 ? (const uint8_t *)it->val : NULL, rc == 0 ? it->len : 0) < 0)
        b->err = -ENOMEM;
}

static void bitop_done(struct req *r)
{
    struct bitop *b = r->aux;
    if (b->nread < r->nkeys - 1) { /* the connection closed under the reads */
        cmd_bits_fail(r, "ERR connection closed");
        return;
    }
    if (b->err) {
        if (b->err == -ENOMEM)
            cmd_bits_fail(r, "ERR out of memory");
        else {
            reply_engine_error(r, b->err);
            req_done(r);
        }
        return;
    }
    r->num = (int64_t)b->len;
    if (b->len) {
        cmd_put(r, &r->argv[2], b->res, b->len, 0, 0, CMD_REPLY_NUM);
        return;
    }
    r->step = CMD_REPLY_NUM;
    int rc = park_del(r, r->db, &r->argv[2], cmd_write_cb);
    if (rc == 0)
        req_unlock(r);
    else if (rc == LS_ENOTFOUND) {
        reply_int(r, 0);
        req_done(r);
    } else if (rc < 0) {
        reply_engine_error(r, rc);
        req_done(r);
    }
}

void cmd_bits_bitop(struct req *r)
{
    const struct resp_arg *o = &r->argv[1];
    int op = cmd_arg_is(o, "and")   ? BITOP_AND
             : cmd_arg_is(o, "or")  ? BITOP_OR
             : cmd_arg_is(o, "xor") ? BITOP_XOR
             : cmd_arg_is(o, "not") ? BITOP_NOT
                                    : -1;
    if (op < 0) {
        cmd_bits_fail(r, ERR_SYNTAX);
        return;
    }
    if (op == BITOP_NOT && r->argc != 4) {
        cmd_bits_fail(r, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    struct bitop *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        cmd_bits_fail(r, "ERR out of memory");
        return;
    }
    b->op = op;
    r->aux = b;
    r->aux_free = bitop_free;
    /* keys[0] is the destination; the sources are keys[1..] */
    if (mget_start(r, r->keys + 1, r->nkeys - 1, r->db, bitop_emit, bitop_done) < 0)
        cmd_bits_fail(r, "ERR out of memory");
}

/* ---- BITFIELD, BITFIELD_RO ---- */

enum { BF_GET, BF_SET, BF_INCRBY };
enum { BF_WRAP, BF_SAT, BF_FAIL };

struct bf_op {
    uint64_t offset;
    int64_t val;
    uint8_t op, ow, bits, sign;
};

struct bf {
    uint32_t nops;
    int writes;
    uint64_t last_bit; /* the highest bit a write reaches */
    struct bf_op ops[];
};

/* <i|u><bits>: i1..i64, u1..u63. The digits are read up to a NUL, as Redis reads them. */
static int bf_type(const struct resp_arg *a, struct bf_op *o)
{
    long long bits;
    if (a->len == 0 || (a->ptr[0] != 'i' && a->ptr[0] != 'u'))
        return -1;
    o->sign = a->ptr[0] == 'i';
    if (cmd_parse_ll(a->ptr + 1, strlen(a->ptr + 1), &bits) < 0 || bits < 1 ||
        bits > (o->sign ? 64 : 63))
        return -1;
    o->bits = (uint8_t)bits;
    return 0;
}

static int bf_overflow(struct req *r, const struct resp_arg *a, uint8_t *ow)
{
    if (cmd_arg_is(a, "wrap"))
        *ow = BF_WRAP;
    else if (cmd_arg_is(a, "sat"))
        *ow = BF_SAT;
    else if (cmd_arg_is(a, "fail"))
        *ow = BF_FAIL;
    else {
        reply_error(r, "ERR Invalid OVERFLOW type specified");
        return -1;
    }
    return 0;
}

/* Parses one GET/SET/INCRBY at argv[j] into o. Replies and returns -1 on error. */
static int bf_parse_op(struct req *r, uint32_t j, struct bf_op *o)
{
    if (bf_type(&r->argv[j + 1], o) < 0) {
        reply_error(r, ERR_BF_TYPE);
        return -1;
    }
    if (bit_offset(r, &r->argv[j + 2], o->bits, &o->offset) < 0)
        return -1;
    if (o->op == BF_GET)
        return 0;
    long long v;
    if (cmd_arg_ll(&r->argv[j + 3], &v) < 0) {
        reply_error(r, ERR_NOT_INT);
        return -1;
    }
    o->val = v;
    return 0;
}

/* Parses the subcommands into a new struct bf. Replies and returns NULL on error. */
static struct bf *bf_parse(struct req *r, int ro)
{
    struct bf *b = calloc(1, sizeof(*b) + (size_t)r->argc / 2 * sizeof(struct bf_op));
    uint8_t ow = BF_WRAP;
    if (b == NULL) {
        reply_error(r, "ERR out of memory");
        return NULL;
    }
    for (uint32_t j = 2; j < r->argc; j++) {
        uint32_t more = r->argc - j - 1;
        const struct resp_arg *a = &r->argv[j];
        struct bf_op *o = &b->ops[b->nops];
        if (cmd_arg_is(a, "overflow") && more >= 1) {
            if (bf_overflow(r, &r->argv[++j], &ow) < 0)
                goto fail;
            continue;
        }
        if (cmd_arg_is(a, "get") && more >= 2)
            o->op = BF_GET;
        else if (cmd_arg_is(a, "set") && more >= 3)
            o->op = BF_SET;
        else if (cmd_arg_is(a, "incrby") && more >= 3)
            o->op = BF_INCRBY;
        else {
            reply_error(r, ERR_SYNTAX);
            goto fail;
        }
        o->ow = ow;
        if (bf_parse_op(r, j, o) < 0)
            goto fail;
        if (o->op != BF_GET) {
            b->writes = 1;
            if (o->offset + o->bits - 1 > b->last_bit)
                b->last_bit = o->offset + o->bits - 1;
        }
        b->nops++;
        j += o->op == BF_GET ? 2 : 3;
    }
    if (b->writes && ro) {
        reply_error(r, "ERR BITFIELD_RO only supports the GET subcommand");
        goto fail;
    }
    if (b->writes && !bit_fits(r, b->last_bit))
        goto fail;
    return b;
fail:
    free(b);
    return NULL;
}

static uint64_t bf_get_raw(const uint8_t *p, uint64_t off, int bits)
{
    uint64_t v = 0;
    for (int i = 0; i < bits; i++, off++)
        v = (v << 1) | ((p[off >> 3] >> (7 - (off & 7))) & 1);
    return v;
}

static void bf_set_raw(uint8_t *p, uint64_t off, int bits, uint64_t v)
{
    for (int i = bits - 1; i >= 0; i--, off++) {
        unsigned b = (unsigned)((v >> i) & 1), sh = 7 - (unsigned)(off & 7);
        p[off >> 3] = (uint8_t)((p[off >> 3] & ~(1u << sh)) | (b << sh));
    }
}

static int64_t bf_signed(uint64_t raw, int bits)
{
    if (bits < 64 && (raw >> (bits - 1)) & 1)
        raw |= UINT64_MAX << bits;
    return (int64_t)raw;
}

/* Redis's overflow rules for v + incr in an unsigned field of `bits` (its arithmetic,
 * wraps and all, so that the same inputs give the same replies): returns 1 when it
 * overflows, -1 when it underflows, 0 when it fits; *out is the value to store (the
 * wrapped or saturated one on overflow; the sum when it fits). */
static int bf_unsigned_add(uint64_t v, int64_t incr, int bits, int ow, uint64_t *out)
{
    uint64_t max = (UINT64_C(1) << bits) - 1, sum = v + (uint64_t)incr;
    int64_t maxincr = (int64_t)(max - v), minincr = (int64_t)(0 - v);
    int res = 0;
    if (v > max || (incr > 0 && incr > maxincr))
        res = 1;
    else if (incr < 0 && incr < minincr)
        res = -1;
    *out = sum;
    if (res && ow == BF_WRAP)
        *out = sum & max;
    else if (res && ow == BF_SAT)
        *out = res > 0 ? max : 0;
    return res;
}

static int bf_signed_add(int64_t v, int64_t incr, int bits, int ow, int64_t *out)
{
    int64_t max = bits == 64 ? INT64_MAX : (int64_t)((UINT64_C(1) << (bits - 1)) - 1);
    int64_t min = -max - 1;
    int64_t maxincr = (int64_t)((uint64_t)max - (uint64_t)v);
    int64_t minincr = (int64_t)((uint64_t)min - (uint64_t)v);
    int res = 0;
    if (v > max || (bits != 64 && incr > maxincr) || (v >= 0 && incr > 0 && incr > maxincr))
        res = 1;
    else if (v < min || (bits != 64 && incr < minincr) || (v < 0 && incr < 0 && incr < minincr))
        res = -1;
    uint64_t sum = (uint64_t)v + (uint64_t)incr;
    *out = (int64_t)sum;
    if (res && ow == BF_WRAP)
        *out = bf_signed(bits == 64 ? sum : sum & ((UINT64_C(1) << bits) - 1), bits);
    else if (res && ow == BF_SAT)
        *out = res > 0 ? max : min;
    return res;
}

/* Runs a SET or INCRBY on p; adds its reply to tmp. Returns the append's code. */
static int bf_write(struct pbuf *tmp, int proto, uint8_t *p, const struct bf_op *o)
{
    uint64_t raw = bf_get_raw(p, o->offset, o->bits), nraw;
    int64_t ret;
    int ovf;
    if (o->sign) {
        int64_t old = bf_signed(raw, o->bits), nv;
        if (o->op == BF_INCRBY)
            ovf = bf_signed_add(old, o->val, o->bits, o->ow, &nv);
        else
            ovf = bf_signed_add(o->val, 0, o->bits, o->ow, &nv);
        ret = o->op == BF_INCRBY ? nv : old;
        nraw = (uint64_t)nv;
    } else {
        uint64_t nv;
        if (o->op == BF_INCRBY)
            ovf = bf_unsigned_add(raw, o->val, o->bits, o->ow, &nv);
        else
            ovf = bf_unsigned_add((uint64_t)o->val, 0, o->bits, o->ow, &nv);
        ret = (int64_t)(o->op == BF_INCRBY ? nv : raw);
        nraw = nv;
    }
    if (ovf && o->ow == BF_FAIL)
        return resp_w_null(tmp, proto);
    if (o->bits < 64)
        nraw &= (UINT64_C(1) << o->bits) - 1;
    bf_set_raw(p, o->offset, o->bits, nraw);
    return resp_w_int(tmp, ret);
}

/* Runs every op over v (len bytes, with room for the writes) into r->tmp. */
static void bf_run(struct req *r, const struct bf *b, uint8_t *v, size_t len)
{
    pbuf_reset(&r->tmp);
    int rc = resp_w_array(&r->tmp, b->nops);
    for (uint32_t i = 0; i < b->nops; i++) {
        const struct bf_op *o = &b->ops[i];
        if (o->op != BF_GET) {
            rc |= bf_write(&r->tmp, r->proto, v, o);
            continue;
        }
        uint8_t buf[9] = {0};
        uint64_t byte = o->offset >> 3;
        for (int k = 0; k < 9 && byte + (uint64_t)k < len; k++)
            buf[k] = v[byte + (uint64_t)k];
        uint64_t raw = bf_get_raw(buf, o->offset & 7, o->bits);
        rc |= resp_w_int(&r->tmp, o->sign ? bf_signed(raw, o->bits) : (int64_t)raw);
    }
    reply_check(r, rc);
}

static void bitfield_cb(void *arg, int rc, const struct ls_item *it)
{
    struct req *r = arg;
    if (cmd_bits_read_failed(r, rc))
        return;
    const struct bf *b = r->aux;
    size_t oldlen = rc == 0 ? it->value_len : 0;
    size_t len = oldlen;
    if (b->writes && (b->last_bit >> 3) + 1 > len)
        len = (size_t)(b->last_bit >> 3) + 1;
    uint8_t *v = grown_copy(rc == 0 ? it->value : NULL, oldlen, len);
    if (v == NULL) {
        cmd_bits_fail(r, "ERR out of memory");
        return;
    }
    bf_run(r, b, v, len);
    /* Redis writes a created or grown value, or one whose bits changed */
    if (b->writes && (rc != 0 || len != oldlen || memcmp(v, it->value, len) != 0))
        put_keep(r, rc, it, v, len, CMD_REPLY_TMP);
    else {
        reply_tmp(r);
        req_done(r);
    }
    free(v);
}

static void bitfield_common(struct req *r, int ro)
{
    struct bf *b = bf_parse(r, ro);
    if (b == NULL) {
        req_done(r);
        return;
    }
    r->aux = b;
    r->aux_free = free;
    cmd_get(r, &r->argv[1], bitfield_cb);
}

void cmd_bits_bitfield(struct req *r)
{
    bitfield_common(r, 0);
}

void cmd_bits_bitfield_ro(struct req *r)
{
    bitfield_common(r, 1);
}
