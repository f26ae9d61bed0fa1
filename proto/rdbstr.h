/*
 * rdbstr.h - Redis's DUMP payload for string values: encode (DUMP) and decode (RESTORE),
 * with the CRC64 and LZF pieces it needs. Pure functions over byte buffers (no sockets,
 * no engine), unit-tested alone (tests/unit/test_rdbstr.c).
 *
 * A payload is [RDB type byte][the value in the RDB string encoding][RDB version, 2 bytes
 * little-endian][CRC64 (Jones polynomial, reflected, as Redis computes it) of everything
 * before, 8 bytes little-endian].
 */
#ifndef LS_SERVER_RDBSTR_H
#define LS_SERVER_RDBSTR_H

#include <stddef.h>
#include <stdint.h>

#define RDBSTR_VERSION 10 /* Redis 7.0's RDB_VERSION: the highest RESTORE accepts */

/* CRC64 as Redis's crc64(): continues crc over p[0..n). crc64(0, "123456789") is
 * 0xe9c6d914c4b8d9ca. */
uint64_t rdbstr_crc64(uint64_t crc, const void *p, size_t n);

/* Decompresses an LZF block in[0..in_len) into out[0..out_cap). Returns the bytes
 * written, or -1 when the block is malformed (a back reference before the start, a run
 * past either end). */
long rdbstr_lzf_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap);

/* Compresses in[0..n) into an LZF block at out[0..out_cap) (the form
 * rdbstr_lzf_decompress reads). Returns its length, or 0 when it does not fit out_cap
 * (the data does not compress enough). Greedy, with a hash table of the 3-byte sequences
 * seen (at most 2^13 entries, fewer for short inputs), on the stack. */
size_t rdbstr_lzf_compress(const uint8_t *in, size_t n, uint8_t *out, size_t out_cap);

/* Bytes rdbstr_dump writes for a value of n bytes (at most). */
size_t rdbstr_dump_bound(size_t n);
/* Writes the DUMP payload of string v[0..n) to out (rdbstr_dump_bound(n) bytes of room)
 * as Redis 7.0 does, except that it never LZF-compresses (a valid payload all the same).
 * Returns the payload's length. */
size_t rdbstr_dump(const void *v, size_t n, uint8_t *out);

/* Outcomes of rdbstr_restore. */
enum rdbstr_rc {
    RDBSTR_OK = 0,
    RDBSTR_BADSUM = -1,  /* too short, version above RDBSTR_VERSION, or CRC mismatch */
    RDBSTR_BADDATA = -2, /* not a valid RDB object */
    RDBSTR_NOTSTR = -3,  /* a valid type logstord does not store (list, hash ...) */
    RDBSTR_TOOBIG = -4,  /* the string is longer than max_len */
    RDBSTR_NOMEM = -5,
};
/* Decodes payload p[0..n) holding a string of at most max_len bytes. On RDBSTR_OK sets
 * *val (malloc'd, caller frees; never NULL) and *val_len. On RDBSTR_NOTSTR sets *type to
 * the payload's RDB type byte. */
int rdbstr_restore(const uint8_t *p, size_t n, size_t max_len, uint8_t **val, size_t *val_len,
                   int *type);
/* The pieces FUNCTION DUMP/RESTORE use (script.c), whose payload is a sequence of
 * [RDB_OPCODE_FUNCTION2 (245)][library code as an RDB string] with the same footer. */
/* Writes v[0..n) as an RDB string (length, then the bytes; 9 + n bytes of room) at out.
 * Returns the bytes written. */
size_t rdbstr_put_string(uint8_t *out, const void *v, size_t n);
/* Appends the footer (RDB version, CRC64 of out[0..len)) at out + len (10 bytes of room).
 * Returns the payload's length. */
size_t rdbstr_put_footer(uint8_t *out, size_t len);
/* RDBSTR_OK when p[0..n) ends with a valid footer (version, CRC64), else RDBSTR_BADSUM. */
int rdbstr_check_footer(const uint8_t *p, size_t n);
/* Reads the RDB string (plain, integer or LZF) at p[*pos..n), at most max_len bytes once
 * decoded, advancing *pos. Returns as rdbstr_restore (*val malloc'd on RDBSTR_OK). */
int rdbstr_read_string(const uint8_t *p, size_t n, size_t *pos, size_t max_len, uint8_t **val,
                       size_t *val_len);
/* The pieces the RDB file writer and reader use (rdb.c). */
/* Writes length len in the RDB length encoding (at most 9 bytes) at out. Returns the bytes
 * written. */
size_t rdbstr_put_len(uint8_t *out, uint64_t len);
/* Writes string v[0..n) as Redis writes a string value (the integer encoding for the
 * canonical decimal form of a 32-bit integer, else plainly; 9 + n bytes of room) at out.
 * Returns the bytes written. */
size_t rdbstr_put_value(uint8_t *out, const void *v, size_t n);
/* rdbstr_put_value, except that a string longer than 20 bytes and at most
 * RDBSTR_LZF_MAX is LZF-compressed when that saves more than 4 bytes, as Redis writes
 * its RDB files (rdbcompression yes). 9 + n bytes of room. */
#define RDBSTR_LZF_MAX (1u << 20)
size_t rdbstr_put_value_lzf(uint8_t *out, const void *v, size_t n);
/* Reads an RDB length at p[*pos..n), advancing *pos. *special is set when it is an
 * encoding number (11xxxxxx) instead of a length. Returns RDBSTR_OK or RDBSTR_BADDATA
 * (past the end, or a length form RDB does not have). */
int rdbstr_read_len(const uint8_t *p, size_t n, size_t *pos, uint64_t *len, int *special);
/* Skips the RDB string (any encoding) at p[*pos..n) without decoding it, advancing *pos.
 * Returns RDBSTR_OK or RDBSTR_BADDATA. */
int rdbstr_skip_string(const uint8_t *p, size_t n, size_t *pos);
/* The name of an RDB object type ("list", "set", "zset", "hash", "module", "stream"). */
const char *rdbstr_type_name(int type);

#endif
