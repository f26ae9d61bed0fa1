/*
 * fuzz_rdb.c - libFuzzer target for the RDB reader and the LZF coder (proto/rdb.c,
 * proto/rdbstr.c).
 *
 * The input is taken as the body of an RDB file: "REDIS0010", the input, and a zero
 * checksum (which the reader takes as "saved without checksums"), so that the fuzzer
 * reaches the object decoders instead of stopping at the CRC. Every object is read until
 * the end or an error; an error must name itself, a string entry must have its value, a
 * read must stay in the file. Then the input is LZF-compressed and decompressed, and must
 * come back unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdb.h"
#include "rdbstr.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_file(const uint8_t *data, size_t size)
{
    size_t n = 9 + size + 8;
    uint8_t *f = malloc(n);
    memcpy(f, "REDIS0010", 9);
    memcpy(f + 9, data, size);
    memset(f + 9 + size, 0, 8);
    struct rdb_reader rd;
    if (rdb_reader_open(&rd, f, n, 1 << 16) < 0) { /* too short for an EOF and a checksum */
        CHECK(size == 0 && rd.err[0]);
        free(f);
        return;
    }
    struct rdb_entry e;
    int rc;
    while ((rc = rdb_next(&rd, &e)) == 1) {
        CHECK(rd.pos <= rd.n);
        CHECK(e.type == RDB_ENTRY_FUNCTION || e.key != NULL);
        CHECK(e.type != 0 || e.val != NULL);
        CHECK(e.val_len <= 1 << 16 && e.key_len <= 1 << 16);
        rdb_entry_free(&e);
    }
    CHECK(rc == 0 || (rc == -1 && rd.err[0]));
    free(f);
}

static void lzf_round_trip(const uint8_t *data, size_t size)
{
    uint8_t *c = malloc(size + 64), *d = malloc(size + 1);
    size_t clen = rdbstr_lzf_compress(data, size, c, size + 64);
    CHECK(size == 0 || clen > 0);
    if (clen) {
        CHECK(rdbstr_lzf_decompress(c, clen, d, size) == (long)size);
        CHECK(memcmp(d, data, size) == 0);
    }
    free(c);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_file(data, size);
    lzf_round_trip(data, size);
    return 0;
}
