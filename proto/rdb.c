/*
 * rdb.c - RDB file writer pieces and reader (rdb.h).
 *
 * Written from the RDB format's description (rdb.h), not from Redis's code.
 *
 * Writer: the caller lays the file out (header, AUX fields, per database SELECTDB and
 * RESIZEDB then its objects, EOF) and keeps the running CRC64, so that it can stream the
 * file in pieces of any size (cmd_sync.c writes it to a socket as the scan goes).
 *
 * Reader: the whole file is in memory (logstor-load maps it). rdb_reader_open checks the
 * signature, the version and the checksum first, so nothing of a damaged file is used.
 * Every read is bounds-checked whatever the checksum said (a file saved with checksums
 * off has none). Objects logstord cannot store (collections) are skipped by walking their
 * encoding, and returned with their key and type so that the caller can name them; a
 * function library is returned with its code (FUNCTION LOAD takes it as it is); the
 * module type 6 (no way to know its length) and the release-candidate function opcode
 * cannot be skipped and stop the read with an error.
 */
#include "rdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdbcoll.h"
#include "rdbstr.h"

enum {
    OP_FUNCTION2 = 245,
    OP_FUNCTION_RC = 246,
    OP_MODULE_AUX = 247,
    OP_IDLE = 248,
    OP_FREQ = 249,
    OP_AUX = 250,
    OP_RESIZEDB = 251,
    OP_EXPIRETIME_MS = 252,
    OP_EXPIRETIME = 253,
    OP_SELECTDB = 254,
    OP_EOF = 255,
};

/* ---- writer ---- */

size_t rdb_put_header(uint8_t *out)
{
    char h[RDB_HEADER_LEN + 1];
    snprintf(h, sizeof(h), "REDIS%04d", RDB_VERSION);
    memcpy(out, h, RDB_HEADER_LEN);
    return RDB_HEADER_LEN;
}

size_t rdb_put_aux(uint8_t *out, const char *name, const char *value)
{
    size_t o = 0;
    out[o++] = OP_AUX;
    o += rdbstr_put_string(out + o, name, strlen(name));
    o += rdbstr_put_value(out + o, value, strlen(value));
    return o;
}

size_t rdb_put_selectdb(uint8_t *out, uint32_t db, uint64_t keys, uint64_t expires)
{
    size_t o = 0;
    out[o++] = OP_SELECTDB;
    o += rdbstr_put_len(out + o, db);
    out[o++] = OP_RESIZEDB;
    o += rdbstr_put_len(out + o, keys);
    o += rdbstr_put_len(out + o, expires);
    return o;
}

size_t rdb_entry_bound(size_t key_len, size_t val_len)
{
    return 9 + 1 + 9 + key_len + 9 + val_len;
}

/* The expiry opcode of an object, when it has one. */
static size_t put_expire(uint8_t *out, uint64_t expire_ms)
{
    size_t o = 0;
    if (expire_ms) {
        out[o++] = OP_EXPIRETIME_MS;
        for (int i = 0; i < 8; i++)
            out[o++] = (uint8_t)(expire_ms >> (8 * i));
    }
    return o;
}

size_t rdb_put_string_entry(uint8_t *out, const void *key, size_t key_len, const void *val,
                            size_t val_len, uint64_t expire_ms)
{
    size_t o = put_expire(out, expire_ms);
    out[o++] = 0; /* RDB_TYPE_STRING */
    o += rdbstr_put_string(out + o, key, key_len);
    o += rdbstr_put_value_lzf(out + o, val, val_len);
    return o;
}

size_t rdb_put_coll_entry(uint8_t *out, const void *key, size_t key_len, int vtype,
                          const uint8_t *v, size_t n, uint64_t expire_ms)
{
    size_t o = put_expire(out, expire_ms);
    out[o++] = (uint8_t)rdbcoll_rdb_type(vtype);
    o += rdbstr_put_string(out + o, key, key_len);
    size_t body = rdbcoll_put_body(out + o, vtype, v, n);
    return body ? o + body : 0;
}

size_t rdb_put_function(uint8_t *out, const void *code, size_t n)
{
    out[0] = OP_FUNCTION2;
    return 1 + rdbstr_put_string(out + 1, code, n);
}

size_t rdb_put_eof(uint8_t *out, uint64_t crc)
{
    out[0] = OP_EOF;
    crc = rdbstr_crc64(crc, out, 1);
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(crc >> (8 * i));
    return RDB_EOF_LEN;
}

/* ---- reader ---- */

static int fail(struct rdb_reader *rd, const char *what)
{
    snprintf(rd->err, sizeof(rd->err), "%s at byte %zu", what, rd->pos);
    return -1;
}

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int rdb_reader_open(struct rdb_reader *rd, const uint8_t *p, size_t n, size_t max_len)
{
    memset(rd, 0, sizeof(*rd));
    rd->p = p;
    rd->max_len = max_len;
    if (n < RDB_HEADER_LEN || memcmp(p, "REDIS", 5) != 0) {
        snprintf(rd->err, sizeof(rd->err), "not an RDB file (no REDIS signature)");
        return -1;
    }
    int v = 0;
    for (int i = 5; i < 9; i++) {
        if (p[i] < '0' || p[i] > '9') {
            snprintf(rd->err, sizeof(rd->err), "not an RDB file (bad version field)");
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > RDB_VERSION) {
        snprintf(rd->err, sizeof(rd->err),
                 "RDB version %d is not supported (this reader reads versions 1 to %d, "
                 "those of Redis up to 7.0)",
                 v, RDB_VERSION);
        return -1;
    }
    rd->version = v;
    rd->n = n;
    rd->pos = RDB_HEADER_LEN;
    if (v < 5)
        return 0;
    if (n < RDB_HEADER_LEN + RDB_EOF_LEN) {
        snprintf(rd->err, sizeof(rd->err), "truncated RDB file (%zu bytes)", n);
        return -1;
    }
    rd->n = n - 8;
    uint64_t want = le(p + n - 8, 8);
    if (want == 0)
        return 0; /* saved with rdbchecksum no */
    uint64_t got = rdbstr_crc64(0, p, n - 8);
    if (got != want) {
        snprintf(rd->err, sizeof(rd->err),
                 "checksum mismatch: the file is truncated or corrupt (stored %016llx, "
                 "computed %016llx)",
                 (unsigned long long)want, (unsigned long long)got);
        return -1;
    }
    rd->crc_checked = 1;
    return 0;
}

static int rd_len(struct rdb_reader *rd, uint64_t *len)
{
    int special;
    if (rdbstr_read_len(rd->p, rd->n, &rd->pos, len, &special) != RDBSTR_OK || special)
        return fail(rd, "malformed length");
    return 0;
}

static int rd_skip(struct rdb_reader *rd, uint64_t bytes)
{
    if (bytes > rd->n - rd->pos)
        return fail(rd, "truncated object");
    rd->pos += bytes;
    return 0;
}

static int rd_skip_string(struct rdb_reader *rd)
{
    if (rdbstr_skip_string(rd->p, rd->n, &rd->pos) != RDBSTR_OK)
        return fail(rd, "malformed string");
    return 0;
}

static int rd_string(struct rdb_reader *rd, uint8_t **v, size_t *len)
{
    switch (rdbstr_read_string(rd->p, rd->n, &rd->pos, rd->max_len, v, len)) {
    case RDBSTR_OK:
        return 0;
    case RDBSTR_TOOBIG:
        return fail(rd, "string longer than the limit");
    case RDBSTR_NOMEM:
        return fail(rd, "out of memory");
    default:
        return fail(rd, "malformed string");
    }
}

/* Skips n strings, each preceded by extra_lens lengths and followed by tail bytes. */
static int rd_skip_seq(struct rdb_reader *rd, uint64_t n, int strings, int extra_lens, int tail)
{
    uint64_t x;
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < extra_lens; k++)
            if (rd_len(rd, &x) < 0)
                return -1;
        for (int k = 0; k < strings; k++)
            if (rd_skip_string(rd) < 0)
                return -1;
        if (tail && rd_skip(rd, (uint64_t)tail) < 0)
            return -1;
    }
    return 0;
}

/* ZSET (type 3): member, then the score as a length byte and that many ASCII bytes
 * (253, 254, 255: NaN, +inf, -inf with none). */
static int rd_skip_zset1(struct rdb_reader *rd, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (rd_skip_string(rd) < 0 || rd_skip(rd, 1) < 0)
            return -1;
        uint8_t b = rd->p[rd->pos - 1];
        if (b < 253 && rd_skip(rd, b) < 0)
            return -1;
    }
    return 0;
}

/* A module value in the self-describing form (type 7, MODULE_AUX): opcodes until EOF. */
static int rd_skip_module_ops(struct rdb_reader *rd)
{
    uint64_t op, x;
    for (;;) {
        if (rd_len(rd, &op) < 0)
            return -1;
        if (op == 0)
            return 0;
        int rc = op == 1 || op == 2 ? rd_len(rd, &x)
                 : op == 3          ? rd_skip(rd, 4)
                 : op == 4          ? rd_skip(rd, 8)
                 : op == 5          ? rd_skip_string(rd)
                                    : fail(rd, "malformed module value");
        if (rc < 0)
            return -1;
    }
}

/* Stream (types 15, 19): listpacks, then the stream's ids, its consumer groups with their
 * pending entries, and their consumers. */
static int rd_skip_stream(struct rdb_reader *rd, int v2)
{
    uint64_t n, groups, pel, consumers, x;
    if (rd_len(rd, &n) < 0 || rd_skip_seq(rd, n, 2, 0, 0) < 0)
        return -1;
    for (int k = 0; k < (v2 ? 8 : 3); k++) /* length, last id (2); v2: first, max deleted
                                              ids (4), entries added */
        if (rd_len(rd, &x) < 0)
            return -1;
    if (rd_len(rd, &groups) < 0)
        return -1;
    for (uint64_t g = 0; g < groups; g++) {
        if (rd_skip_string(rd) < 0)
            return -1;
        for (int k = 0; k < (v2 ? 3 : 2); k++) /* last id; v2: entries read */
            if (rd_len(rd, &x) < 0)
                return -1;
        if (rd_len(rd, &pel) < 0)
            return -1;
        for (uint64_t i = 0; i < pel; i++) /* raw id, delivery time, delivery count */
            if (rd_skip(rd, 16 + 8) < 0 || rd_len(rd, &x) < 0)
                return -1;
        if (rd_len(rd, &consumers) < 0)
            return -1;
        for (uint64_t i = 0; i < consumers; i++) {
            if (rd_skip_string(rd) < 0 || rd_skip(rd, 8) < 0 || rd_len(rd, &pel) < 0)
                return -1;
            if (pel > (rd->n - rd->pos) / 16)
                return fail(rd, "truncated object");
            rd->pos += pel * 16;
        }
    }
    return 0;
}

/* Skips the value of an object of a type other than string. */
static int rd_skip_value(struct rdb_reader *rd, int type)
{
    uint64_t n;
    switch (type) {
    case 9: /* zipmap, ziplists, intset, listpacks: one string each */
    case 10:
    case 11:
    case 12:
    case 13:
    case 16:
    case 17:
        return rd_skip_string(rd);
    case 15:
    case 19:
        return rd_skip_stream(rd, type == 19);
    case 7:
        return rd_len(rd, &n) < 0 ? -1 : rd_skip_module_ops(rd);
    case 6:
        return fail(rd, "a module value of the old format (type 6) cannot be skipped");
    default:
        break;
    }
    if (type > 19 || type == 8)
        return fail(rd, "unknown object type");
    if (rd_len(rd, &n) < 0)
        return -1;
    switch (type) {
    case 1:  /* list of strings */
    case 2:  /* set */
    case 14: /* quicklist of ziplists */
        return rd_skip_seq(rd, n, 1, 0, 0);
    case 3:
        return rd_skip_zset1(rd, n);
    case 4:
        return rd_skip_seq(rd, n, 2, 0, 0);
    case 5: /* member and a binary double */
        return rd_skip_seq(rd, n, 1, 0, 8);
    default: /* 18: quicklist of (container kind, listpack) */
        return rd_skip_seq(rd, n, 1, 1, 0);
    }
}

static int rd_object(struct rdb_reader *rd, int type, uint64_t expire_ms, struct rdb_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->db = rd->db;
    e->type = type;
    e->expire_ms = expire_ms;
    if (rd_string(rd, &e->key, &e->key_len) < 0)
        return -1;
    int rc;
    if (type == 0) {
        rc = rd_string(rd, &e->val, &e->val_len);
    } else if (type == RDB_TYPE_HASH || type == RDB_TYPE_HASH_LISTPACK || type == RDB_TYPE_LIST ||
               type == RDB_TYPE_LIST_QUICKLIST2 || type == RDB_TYPE_SET ||
               type == RDB_TYPE_SET_INTSET || type == RDB_TYPE_ZSET || type == RDB_TYPE_ZSET_2 ||
               type == RDB_TYPE_ZSET_LISTPACK) {
        struct coll_buf b = {0};
        uint8_t vt;
        rc = rdbcoll_read(rd->p, rd->n, &rd->pos, type, rd->max_len, NULL, &b, &vt);
        if (rc == RDBSTR_OK) {
            e->val = b.p;
            e->val_len = b.len;
        } else {
            snprintf(rd->err, sizeof(rd->err), "a malformed or too large %s at offset %zu",
                     rdbstr_type_name(type), rd->pos);
            rc = -1;
        }
    } else {
        rc = rd_skip_value(rd, type);
    }
    if (rc < 0) {
        rdb_entry_free(e);
        return -1;
    }
    return 1;
}

/* The opcodes that carry no object: returns 0 to go on, -1 on error. */
static int rd_meta(struct rdb_reader *rd, int op, uint64_t *expire_ms)
{
    uint64_t x, y;
    switch (op) {
    case OP_AUX:
        return rd_skip_string(rd) < 0 ? -1 : rd_skip_string(rd);
    case OP_RESIZEDB:
        return rd_len(rd, &x) < 0 ? -1 : rd_len(rd, &y);
    case OP_SELECTDB:
        if (rd_len(rd, &x) < 0)
            return -1;
        if (x > UINT32_MAX)
            return fail(rd, "database number out of range");
        rd->db = (uint32_t)x;
        return 0;
    case OP_EXPIRETIME_MS:
    case OP_EXPIRETIME: {
        int bytes = op == OP_EXPIRETIME_MS ? 8 : 4;
        if (rd_skip(rd, (uint64_t)bytes) < 0)
            return -1;
        x = le(rd->p + rd->pos - bytes, bytes);
        *expire_ms = op == OP_EXPIRETIME_MS ? x : x * 1000;
        return 0;
    }
    case OP_FREQ:
        return rd_skip(rd, 1);
    case OP_IDLE:
        return rd_len(rd, &x);
    case OP_MODULE_AUX:
        if (rd_len(rd, &x) < 0 || rd_len(rd, &x) < 0 || rd_len(rd, &y) < 0)
            return -1;
        return rd_skip_module_ops(rd);
    case OP_FUNCTION_RC:
        return fail(rd, "a function of a Redis 7.0 release candidate cannot be read");
    default:
        return fail(rd, "unknown opcode");
    }
}

int rdb_next(struct rdb_reader *rd, struct rdb_entry *e)
{
    uint64_t expire_ms = 0;
    for (;;) {
        if (rd->pos >= rd->n)
            return fail(rd, "truncated file: no EOF opcode");
        int op = rd->p[rd->pos++];
        if (op == OP_EOF) {
            if (rd->pos != rd->n) {
                rd->pos--;
                return fail(rd, "bytes after the EOF opcode");
            }
            return 0;
        }
        if (op == OP_FUNCTION2) {
            memset(e, 0, sizeof(*e));
            e->db = rd->db;
            e->type = RDB_ENTRY_FUNCTION;
            return rd_string(rd, &e->val, &e->val_len) < 0 ? -1 : 1;
        }
        if (op < OP_FUNCTION2)
            return rd_object(rd, op, expire_ms, e);
        if (rd_meta(rd, op, &expire_ms) < 0)
            return -1;
    }
}

void rdb_entry_free(struct rdb_entry *e)
{
    free(e->key);
    free(e->val);
    e->key = e->val = NULL;
}
