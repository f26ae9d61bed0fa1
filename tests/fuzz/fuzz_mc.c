/*
 * fuzz_mc.c - libFuzzer target for mc_parse and mcb_parse (the binary protocol, chosen
 * by the input's first byte as the server chooses it per connection).
 *
 * The input is parsed command after command until MC_MORE or a closing error, with
 * small limits. For each result the invariants of mc.h are checked: consumed within the
 * buffer (or, for a swallowed block, need == consumed - len), every key, token and data
 * block inside the bytes of its command, key lengths within MC_MAX_KEY, counts within
 * their arrays, and an error text present.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mc.h"
#include "mcbin.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mc_limits lim = {.max_value = 1024, .max_line = 512};

static void check_str(struct mc_str s, const char *lo, const char *hi)
{
    if (s.len == 0)
        return;
    CHECK(s.ptr >= lo && s.ptr <= hi && s.len <= (size_t)(hi - s.ptr));
}

static void check_done(const struct mc_cmd *cmd, const char *p, size_t consumed)
{
    const char *end = p + consumed;
    CHECK(cmd->nkeys <= MC_MAX_KEYS && cmd->nmflags <= MC_MAX_MFLAGS);
    for (uint32_t i = 0; i < cmd->nkeys; i++) {
        CHECK(cmd->keys[i].len > 0 && cmd->keys[i].len <= MC_MAX_KEY);
        check_str(cmd->keys[i], p, end);
    }
    for (uint32_t i = 0; i < cmd->nmflags; i++)
        check_str(cmd->mflags[i].tok, p, end);
    check_str(cmd->data, p, end);
    check_str(cmd->arg, p, end);
    CHECK(cmd->data.len <= lim.max_value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mc_cmd cmd;
    mc_cmd_init(&cmd);
    const char *buf = (const char *)data;
    size_t pos = 0;
    for (;;) {
        struct mc_parse_out out;
        enum mc_status st = size && data[0] == MCB_REQ
                                ? mcb_parse(buf + pos, size - pos, &lim, &cmd, &out)
                                : mc_parse(buf + pos, size - pos, &lim, &cmd, &out);
        if (st == MC_MORE) {
            CHECK(out.need > 0);
            break;
        }
        if (st == MC_ERROR) {
            CHECK(out.err == NULL || out.err[0]);
            if (out.consumed == 0)
                break;
            if (out.consumed > size - pos) {
                CHECK(out.need == out.consumed - (size - pos));
                break;
            }
            pos += out.consumed;
            continue;
        }
        CHECK(st == MC_DONE && out.consumed > 0 && out.consumed <= size - pos);
        check_done(&cmd, buf + pos, out.consumed);
        pos += out.consumed;
    }
    return 0;
}
