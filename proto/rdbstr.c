/*
 * rdbstr.c - DUMP/RESTORE payloads for string values (rdbstr.h).
 *
 * Written from the RDB format's description, not from Redis's code:
 *  - Lengths: 00xxxxxx (6 bits), 01xxxxxx xxxxxxxx (14 bits, big-endian), 0x80 + 4 bytes
 *    and 0x81 + 8 bytes (big-endian); 11xxxxxx marks a special encoding: 0, 1, 2 an
 *    8-, 16- or 32-bit little-endian signed integer standing for its decimal string,
 *    3 an LZF block ([compressed length][original length][bytes]).
 *  - DUMP writes a string that is the canonical decimal form of a 32-bit integer in the
 *    integer encoding, as Redis does, and every other string plainly (Redis compresses
 *    strings over 20 bytes when LZF saves room; we never do, so payloads of such values
 *    differ from Redis's in bytes but restore to the same value everywhere).
 *  - RESTORE reads every string encoding. Like Redis it reads the object from the start
 *    of the payload with the whole payload as its bound (footer included) and ignores
 *    bytes between the object and the footer.
 *  - CRC64: the Jones polynomial (0xad93d23594c935a9) in reflected form, initial value 0,
 *    no final xor, computed a byte at a time from a table built on first use.
 *  - LZF: a control byte below 32 copies that many plus one literal bytes; otherwise its
 *    top 3 bits are a length (7: add the next byte) and a back reference of length + 2
 *    bytes at distance ((low 5 bits << 8) | next byte) + 1.
 */
#include "rdbstr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRC64_POLY_REFLECTED UINT64_C(0x95ac9329ac4bc9b5) /* 0xad93d23594c935a9 reflected */

static uint64_t crc64_table[256];
static int crc64_ready;

static void crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int b = 0; b < 8; b++)
            c = (c & 1) ? (c >> 1) ^ CRC64_POLY_REFLECTED : c >> 1;
        crc64_table[i] = c;
    }
    crc64_ready = 1;
}

uint64_t rdbstr_crc64(uint64_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (!crc64_ready)
        crc64_init();
    for (size_t i = 0; i < n; i++)
        crc = crc64_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

long rdbstr_lzf_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap)
{
    size_t ip = 0, op = 0;
    while (ip < in_len) {
        unsigned ctrl = in[ip++];
        if (ctrl < 32) {
            size_t run = ctrl + 1;
            if (run > in_len - ip || run > out_cap - op)
                return -1;
            memcpy(out + op, in + ip, run);
            ip += run;
            op += run;
            continue;
        }
        size_t len = ctrl >> 5;
        if (len == 7) {
            if (ip >= in_len)
                return -1;
            len += in[ip++];
        }
        if (ip >= in_len)
            return -1;
        size_t dist = (((size_t)ctrl & 0x1f) << 8 | in[ip++]) + 1;
        len += 2;
        if (dist > op || len > out_cap - op)
            return -1;
        for (size_t i = 0; i < len; i++, op++) /* bytewise: the copy may overlap itself */
            out[op] = out[op - dist];
    }
    return (long)op;
}

#define LZF_HBITS_MAX 13
#define LZF_MAX_OFF   8192          /* farthest back reference: 13 bits, plus one */
#define LZF_MAX_REF   (7 + 255 + 2) /* longest back reference */
#define LZF_MAX_LIT   32

/* Closes the literal run of lit bytes that ends at out + op (its control byte is just
 * before them); an empty run gives its reserved byte back. Returns the new op. */
static size_t lzf_close_lit(uint8_t *out, size_t op, size_t lit)
{
    if (lit == 0)
        return op - 1;
    out[op - lit - 1] = (uint8_t)(lit - 1);
    return op;
}

size_t rdbstr_lzf_compress(const uint8_t *in, size_t n, uint8_t *out, size_t out_cap)
{
    uint32_t htab[1u << LZF_HBITS_MAX]; /* position + 1 of the last sequence of a hash */
    unsigned bits = 4;
    while (bits < LZF_HBITS_MAX && ((size_t)1 << bits) < n)
        bits++;
    memset(htab, 0, sizeof(htab[0]) << bits);
    size_t ip = 0, op = 1, lit = 0; /* out[0]: the first literal run's control byte */
    if (out_cap < 2 || n == 0)
        return 0;
    while (ip < n) {
        size_t len = 0, ref = 0;
        if (ip + 2 < n) {
            uint32_t x = (uint32_t)in[ip] << 16 | (uint32_t)in[ip + 1] << 8 | in[ip + 2];
            uint32_t h = (x * 2654435761u) >> (32 - bits);
            ref = htab[h];
            htab[h] = (uint32_t)ip + 1;
            if (ref && ip - (ref - 1) <= LZF_MAX_OFF && memcmp(in + ref - 1, in + ip, 3) == 0) {
                ref--;
                size_t max = n - ip < LZF_MAX_REF ? n - ip : LZF_MAX_REF;
                for (len = 3; len < max && in[ref + len] == in[ip + len]; len++)
                    ;
            }
        }
        if (len == 0) { /* a literal byte */
            if (op + 1 >= out_cap)
                return 0;
            out[op++] = in[ip++];
            if (++lit == LZF_MAX_LIT) {
                op = lzf_close_lit(out, op, lit);
                out[op++] = 0; /* the next run's control byte */
                lit = 0;
            }
            continue;
        }
        op = lzf_close_lit(out, op, lit);
        if (op + 4 >= out_cap)
            return 0;
        size_t off = ip - ref - 1, l = len - 2;
        if (l < 7) {
            out[op++] = (uint8_t)(l << 5 | off >> 8);
        } else {
            out[op++] = (uint8_t)(7 << 5 | off >> 8);
            out[op++] = (uint8_t)(l - 7);
        }
        out[op++] = (uint8_t)off;
        out[op++] = 0; /* the next literal run's control byte */
        lit = 0;
        ip += len;
    }
    return lzf_close_lit(out, op, lit);
}

/* The value of v[0..n) when it is the canonical decimal form of a 32-bit integer (no
 * sign but '-', no leading zero, no "-0"). Returns 1 and sets *out, or 0. */
static int canon_i32(const char *v, size_t n, int32_t *out)
{
    if (n == 0 || n > 11)
        return 0;
    size_t i = v[0] == '-';
    long long x = 0;
    if (i == n || (v[i] == '0' && (n > i + 1 || i == 1)))
        return 0;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        x = x * 10 + (v[i] - '0');
    }
    x = v[0] == '-' ? -x : x;
    if (x < INT32_MIN || x > INT32_MAX)
        return 0;
    *out = (int32_t)x;
    return 1;
}

static size_t put_len(uint8_t *o, uint64_t len)
{
    if (len < 64) {
        o[0] = (uint8_t)len;
        return 1;
    }
    if (len < 16384) {
        o[0] = (uint8_t)(0x40 | (len >> 8));
        o[1] = (uint8_t)len;
        return 2;
    }
    int wide = len > UINT32_MAX;
    size_t bytes = wide ? 8 : 4;
    o[0] = wide ? 0x81 : 0x80;
    for (size_t i = 0; i < bytes; i++)
        o[1 + i] = (uint8_t)(len >> (8 * (bytes - 1 - i)));
    return 1 + bytes;
}

/* The integer encoding of x: the smallest of 8, 16 and 32 bits. */
static size_t put_int(uint8_t *o, int32_t x)
{
    size_t bytes = x >= INT8_MIN && x <= INT8_MAX ? 1 : x >= INT16_MIN && x <= INT16_MAX ? 2 : 4;
    uint32_t u = (uint32_t)x;
    o[0] = (uint8_t)(0xc0 | (bytes == 1 ? 0 : bytes == 2 ? 1 : 2));
    for (size_t i = 0; i < bytes; i++)
        o[1 + i] = (uint8_t)(u >> (8 * i));
    return 1 + bytes;
}

size_t rdbstr_dump_bound(size_t n)
{
    return 1 + 9 + n + 2 + 8;
}

size_t rdbstr_put_string(uint8_t *out, const void *v, size_t n)
{
    size_t o = put_len(out, n);
    if (n)
        memcpy(out + o, v, n);
    return o + n;
}

size_t rdbstr_put_footer(uint8_t *out, size_t len)
{
    out[len++] = RDBSTR_VERSION & 0xff;
    out[len++] = RDBSTR_VERSION >> 8;
    uint64_t crc = rdbstr_crc64(0, out, len);
    for (int i = 0; i < 8; i++)
        out[len++] = (uint8_t)(crc >> (8 * i));
    return len;
}

size_t rdbstr_put_len(uint8_t *out, uint64_t len)
{
    return put_len(out, len);
}

size_t rdbstr_put_value(uint8_t *out, const void *v, size_t n)
{
    int32_t x;
    if (canon_i32(v, n, &x))
        return put_int(out, x);
    return rdbstr_put_string(out, v, n);
}

size_t rdbstr_put_value_lzf(uint8_t *out, const void *v, size_t n)
{
    int32_t x;
    if (n <= 20 || n > RDBSTR_LZF_MAX || canon_i32(v, n, &x))
        return rdbstr_put_value(out, v, n);
    /* Compressed at out + 11 (room for the header at its longest), then moved down. The
     * block must save more than 4 bytes; the whole then fits the 9 + n bytes of room. */
    size_t clen = rdbstr_lzf_compress(v, n, out + 11, n - 4);
    if (clen == 0)
        return rdbstr_put_value(out, v, n);
    size_t o = 0;
    out[o++] = 0xc3; /* 11 000011: an LZF block */
    o += put_len(out + o, clen);
    o += put_len(out + o, n);
    memmove(out + o, out + 11, clen);
    return o + clen;
}

size_t rdbstr_dump(const void *v, size_t n, uint8_t *out)
{
    size_t o = 0;
    out[o++] = 0; /* RDB_TYPE_STRING */
    o += rdbstr_put_value(out + o, v, n);
    return rdbstr_put_footer(out, o);
}

/* A reader over the whole payload. */
struct rd {
    const uint8_t *p;
    size_t n, pos;
};

/* Reads a length; *special is set when it is an encoding number instead. */
static int rd_len(struct rd *r, uint64_t *len, int *special)
{
    if (r->pos >= r->n)
        return -1;
    uint8_t b = r->p[r->pos++];
    *special = (b >> 6) == 3;
    if ((b >> 6) == 0 || *special) {
        *len = b & 0x3f;
        return 0;
    }
    if ((b >> 6) == 1) {
        if (r->pos >= r->n)
            return -1;
        *len = ((uint64_t)(b & 0x3f) << 8) | r->p[r->pos++];
        return 0;
    }
    size_t bytes = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
    if (bytes == 0 || r->n - r->pos < bytes)
        return -1;
    *len = 0;
    for (size_t i = 0; i < bytes; i++)
        *len = (*len << 8) | r->p[r->pos++];
    return 0;
}

static int rd_int(struct rd *r, uint64_t enc, uint8_t **val, size_t *val_len)
{
    size_t bytes = enc == 0 ? 1 : enc == 1 ? 2 : 4;
    if (r->n - r->pos < bytes)
        return RDBSTR_BADDATA;
    uint32_t u = 0;
    for (size_t i = 0; i < bytes; i++)
        u |= (uint32_t)r->p[r->pos++] << (8 * i);
    long long x = bytes == 1 ? (int8_t)u : bytes == 2 ? (int16_t)u : (int32_t)u;
    char buf[24];
    int len = snprintf(buf, sizeof(buf), "%lld", x);
    if ((*val = malloc((size_t)len)) == NULL)
        return RDBSTR_NOMEM;
    memcpy(*val, buf, (size_t)len);
    *val_len = (size_t)len;
    return RDBSTR_OK;
}

/* Most bytes one byte of LZF makes: a back reference of 3 bytes copies up to 264. */
#define LZF_MAX_RATIO 88

static int rd_lzf(struct rd *r, size_t max_len, uint8_t **val, size_t *val_len)
{
    uint64_t clen, len;
    int sp1, sp2;
    /* A length no block of clen bytes can decompress to is damage, refused before the
     * allocation: a RESTORE payload of 80 bytes asked for 1 TB (found by fuzz_rdb). */
    if (rd_len(r, &clen, &sp1) < 0 || rd_len(r, &len, &sp2) < 0 || sp1 || sp2 ||
        clen > r->n - r->pos || len > clen * LZF_MAX_RATIO)
        return RDBSTR_BADDATA;
    if (len > max_len)
        return RDBSTR_TOOBIG;
    if ((*val = malloc(len ? len : 1)) == NULL)
        return RDBSTR_NOMEM;
    /* An empty result is what Redis's loader accepts whatever the block holds. */
    long got = len ? rdbstr_lzf_decompress(r->p + r->pos, clen, *val, len) : 0;
    if (got < 0 || (uint64_t)got != len) {
        free(*val);
        *val = NULL;
        return RDBSTR_BADDATA;
    }
    r->pos += clen;
    *val_len = len;
    return RDBSTR_OK;
}

static int rd_string(struct rd *r, size_t max_len, uint8_t **val, size_t *val_len)
{
    uint64_t len;
    int special;
    if (rd_len(r, &len, &special) < 0)
        return RDBSTR_BADDATA;
    if (special && len <= 2)
        return rd_int(r, len, val, val_len);
    if (special && len == 3)
        return rd_lzf(r, max_len, val, val_len);
    if (special || len > r->n - r->pos)
        return RDBSTR_BADDATA;
    if (len > max_len)
        return RDBSTR_TOOBIG;
    if ((*val = malloc(len ? len : 1)) == NULL)
        return RDBSTR_NOMEM;
    memcpy(*val, r->p + r->pos, len);
    r->pos += len;
    *val_len = len;
    return RDBSTR_OK;
}

int rdbstr_check_footer(const uint8_t *p, size_t n)
{
    if (n < 10)
        return RDBSTR_BADSUM;
    unsigned ver = p[n - 10] | (unsigned)p[n - 9] << 8;
    if (ver > RDBSTR_VERSION)
        return RDBSTR_BADSUM;
    uint64_t crc = rdbstr_crc64(0, p, n - 8), want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)p[n - 8 + i] << (8 * i);
    return crc == want ? RDBSTR_OK : RDBSTR_BADSUM;
}

int rdbstr_read_string(const uint8_t *p, size_t n, size_t *pos, size_t max_len, uint8_t **val,
                       size_t *val_len)
{
    struct rd r = {p, n, *pos};
    int rc = rd_string(&r, max_len, val, val_len);
    if (rc == RDBSTR_OK)
        *pos = r.pos;
    return rc;
}

int rdbstr_read_len(const uint8_t *p, size_t n, size_t *pos, uint64_t *len, int *special)
{
    struct rd r = {p, n, *pos};
    if (rd_len(&r, len, special) < 0)
        return RDBSTR_BADDATA;
    *pos = r.pos;
    return RDBSTR_OK;
}

int rdbstr_skip_string(const uint8_t *p, size_t n, size_t *pos)
{
    struct rd r = {p, n, *pos};
    uint64_t len, clen;
    int special, sp2;
    if (rd_len(&r, &len, &special) < 0)
        return RDBSTR_BADDATA;
    if (special && len <= 2) {
        len = len == 0 ? 1 : len == 1 ? 2 : 4;
    } else if (special && len == 3) {
        if (rd_len(&r, &clen, &sp2) < 0 || sp2 || rd_len(&r, &len, &special) < 0 || special)
            return RDBSTR_BADDATA;
        len = clen;
    } else if (special) {
        return RDBSTR_BADDATA;
    }
    if (len > r.n - r.pos)
        return RDBSTR_BADDATA;
    *pos = r.pos + len;
    return RDBSTR_OK;
}

int rdbstr_restore(const uint8_t *p, size_t n, size_t max_len, uint8_t **val, size_t *val_len,
                   int *type)
{
    if (rdbstr_check_footer(p, n) != RDBSTR_OK)
        return RDBSTR_BADSUM;
    int t = p[0];
    if (t > 19 || t == 8) /* the object types of RDB version 10 are 0..7 and 9..19 */
        return RDBSTR_BADDATA;
    if (t != 0) {
        *type = t;
        return RDBSTR_NOTSTR;
    }
    size_t pos = 1; /* the footer may hold the end of a value, as Redis reads it */
    return rdbstr_read_string(p, n, &pos, max_len, val, val_len);
}

const char *rdbstr_type_name(int type)
{
    switch (type) {
    case 0:
        return "string";
    case 1:
    case 10:
    case 14:
    case 18:
        return "list";
    case 2:
    case 11:
        return "set";
    case 3:
    case 5:
    case 12:
    case 17:
        return "zset";
    case 4:
    case 9:
    case 13:
    case 16:
        return "hash";
    case 6:
    case 7:
        return "module";
    case 15:
    case 19:
        return "stream";
    default:
        return "unknown";
    }
}
