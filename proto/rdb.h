/*
 * rdb.h - Redis RDB files: the pieces of a writer (SYNC streams an RDB of the data set,
 * cmd_sync.c) and a reader (logstor-load imports one). Pure functions over byte buffers
 * (no sockets, no engine, no files), built on rdbstr.c's strings, lengths, LZF and CRC64,
 * unit-tested alone (tests/unit/test_rdb.c).
 *
 * A file is "REDIS" and the version in four decimal digits, then opcodes and objects:
 *   0xFA AUX <string name> <string value>      metadata (redis-ver, ctime, ...)
 *   0xFE SELECTDB <length db>                 the database of the objects that follow
 *   0xFB RESIZEDB <length keys> <length expires>   a sizing hint
 *   0xFC EXPIRETIME_MS <8 bytes LE unix ms>   the expiry of the next object
 *   0xFD EXPIRETIME <4 bytes LE unix s>       (old form)
 *   0xF9 FREQ <1 byte>, 0xF8 IDLE <length>    eviction hints of the next object
 *   0xF7 MODULE_AUX, 0xF5 FUNCTION2 <string>  module data, a function library
 *   <type byte> <string key> <value>          an object; type 0 is a string
 *   0xFF EOF, then (version >= 5) the CRC64 of every byte before it, 8 bytes LE (0: none)
 * The writer emits version 10 (what Redis 7.0 writes and the newest it loads).
 */
#ifndef LS_SERVER_RDB_H
#define LS_SERVER_RDB_H

#include <stddef.h>
#include <stdint.h>

#define RDB_VERSION        10
#define RDB_HEADER_LEN     9   /* "REDIS0010" */
#define RDB_EOF_LEN        9   /* the EOF opcode and the checksum */
#define RDB_DB_HDR_MAX     29  /* rdb_put_selectdb's most */
#define RDB_ENTRY_FUNCTION 245 /* rdb_entry.type of a function library (RDB_OPCODE_FUNCTION2) */

/* ---- writer: each function writes at out (room as stated) and returns the bytes
 * written. The caller keeps the CRC64 of everything it wrote (rdbstr_crc64) for
 * rdb_put_eof. ---- */

/* "REDIS0010" (RDB_HEADER_LEN bytes). */
size_t rdb_put_header(uint8_t *out);
/* An AUX field (20 + strlen(name) + strlen(value) bytes of room). */
size_t rdb_put_aux(uint8_t *out, const char *name, const char *value);
/* SELECTDB db, then RESIZEDB keys expires (RDB_DB_HDR_MAX bytes of room). */
size_t rdb_put_selectdb(uint8_t *out, uint32_t db, uint64_t keys, uint64_t expires);
/* Bytes rdb_put_string_entry writes at most. */
size_t rdb_entry_bound(size_t key_len, size_t val_len);
/* A string object: EXPIRETIME_MS when expire_ms is not 0, type 0, the key, the value (the
 * integer encoding where Redis uses it, LZF-compressed where Redis would compress it, up
 * to RDBSTR_LZF_MAX bytes, else plain). */
size_t rdb_put_string_entry(uint8_t *out, const void *key, size_t key_len, const void *val,
                            size_t val_len, uint64_t expire_ms);
/* A collection object (rdbcoll.h) of value type vtype whose small form is v[0..n):
 * EXPIRETIME_MS when expire_ms is not 0, its RDB type, the key, the body;
 * rdb_entry_bound(key_len, 0) + rdbcoll_body_bound(...) bytes of room. 0 on failure. */
size_t rdb_put_coll_entry(uint8_t *out, const void *key, size_t key_len, int vtype,
                          const uint8_t *v, size_t n, uint64_t expire_ms);
/* A function library (its Lua code) as Redis writes it before the databases (10 + n bytes
 * of room). */
size_t rdb_put_function(uint8_t *out, const void *code, size_t n);
/* EOF and the checksum; crc is the CRC64 of every byte written before (RDB_EOF_LEN bytes). */
size_t rdb_put_eof(uint8_t *out, uint64_t crc);

/* ---- reader ---- */

struct rdb_reader {
    const uint8_t *p;
    size_t n;        /* bytes before the checksum */
    size_t pos;      /* next byte to read */
    int version;     /* from the header */
    int crc_checked; /* 0: the file's checksum is 0 (saved with rdbchecksum no), or the
                        version predates checksums */
    uint32_t db;
    size_t max_len; /* longest key or string value accepted */
    char err[160];  /* why the last call failed */
};

/* One object of the file. A string's key and value, and another type's key, are malloc'd
 * (rdb_entry_free frees them); a function library (type RDB_ENTRY_FUNCTION) has no key and
 * its code as val. */
struct rdb_entry {
    uint32_t db;
    int type; /* the RDB object type: 0 string, others are collections (rdbstr_type_name) */
    uint8_t *key;
    size_t key_len;
    uint8_t *val; /* strings, function libraries, and hashes (type 4 or 16) and lists (1
                     or 18): their small-form encoding (coll.h) */
    size_t val_len;
    uint64_t expire_ms; /* absolute unix ms; 0 none */
};

/* Checks the header (signature, version 1 to RDB_VERSION) and the checksum of the whole
 * file p[0..n) before anything is read, so a truncated or damaged file is refused before
 * its first object. p is borrowed for the reader's life. Returns 0, or -1 with rd->err
 * set. */
int rdb_reader_open(struct rdb_reader *rd, const uint8_t *p, size_t n, size_t max_len);
/* Reads the next object. Returns 1 with *e filled, 0 at the EOF opcode (the end of the
 * file must follow it), or -1 with rd->err set (malformed, a value longer than max_len,
 * a type that cannot be skipped, out of memory). */
int rdb_next(struct rdb_reader *rd, struct rdb_entry *e);
void rdb_entry_free(struct rdb_entry *e);

#endif
