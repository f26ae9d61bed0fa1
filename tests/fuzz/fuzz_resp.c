/*
 * fuzz_resp.c - libFuzzer target for resp_parse.
 *
 * The input is copied into a writable buffer (inline commands are unescaped in place)
 * and parsed command after command until RESP_MORE or RESP_ERROR, with small limits so
 * that the limit paths are reached. For every result the invariants of resp.h are
 * checked: consumed within the buffer and non-zero, every argument inside the bytes of
 * its command, need > 0 unless argv was too small, and an error text present. A command
 * too large for argv is parsed again with a large enough argv. Every multibulk command
 * parsed is re-parsed one byte short, which must give RESP_MORE with need == 1 (need is
 * a lower bound of the bytes missing).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct resp_limits lim = {.max_args = 64, .max_bulk = 4096, .max_inline = 256};

static void check_done(const char *cmd, const struct resp_parse_out *out,
                       const struct resp_arg *argv, size_t left)
{
    CHECK(out->consumed > 0 && out->consumed <= left);
    CHECK(out->argc <= lim.max_args);
    for (uint32_t i = 0; i < out->argc; i++) {
        CHECK(argv[i].ptr >= cmd);
        CHECK(argv[i].len <= out->consumed);
        CHECK(argv[i].ptr + argv[i].len <= cmd + out->consumed);
        if (!out->is_inline)
            CHECK(argv[i].len <= lim.max_bulk);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    struct resp_arg argv[64];
    memcpy(buf, data, size);
    size_t pos = 0;
    for (;;) {
        struct resp_parse_out out;
        uint32_t cap = 4;
        enum resp_status st = resp_parse(buf + pos, size - pos, &lim, argv, cap, &out);
        if (st == RESP_MORE && out.need == 0) {
            CHECK(out.argc > cap && out.argc <= lim.max_args);
            cap = out.argc;
            st = resp_parse(buf + pos, size - pos, &lim, argv, cap, &out);
            CHECK(st != RESP_MORE || out.need > 0);
        }
        if (st == RESP_ERROR) {
            CHECK(out.err && strncmp(out.err, "Protocol error: ", 16) == 0);
            break;
        }
        if (st == RESP_MORE) {
            CHECK(out.need > 0 && out.argc == 0);
            break;
        }
        CHECK(st == RESP_DONE);
        check_done(buf + pos, &out, argv, size - pos);
        if (!out.is_inline) {
            struct resp_parse_out o2;
            st = resp_parse(buf + pos, out.consumed - 1, &lim, argv, cap, &o2);
            CHECK(st == RESP_MORE && o2.need == 1);
        }
        pos += out.consumed;
    }
    free(buf);
    return 0;
}
