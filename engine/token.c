/*
 * token.c - key tokens.
 *
 * The token orders the index. Its top 14 bits are the Redis Cluster hash slot (CRC16
 * XMODEM of the key, or of the part inside the first non-empty {...}, mod 16384), so a
 * token range is a slot range: compaction groups and, later, cluster shards split the
 * data by slot. The 50 low bits and the 20-bit hash2 come from one xxh3-128 of the whole
 * key, giving 70 bits that tell keys of one slot apart in memory; the full key on disk
 * settles the rest.
 */
#include "token.h"

#include <xxhash.h>

#include "logstor.h"

static uint16_t crc16_xmodem(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint32_t ls_key_slot(const void *key, size_t len)
{
    const uint8_t *k = key;
    size_t s, e;

    for (s = 0; s < len && k[s] != '{'; s++)
        ;
    if (s < len) {
        for (e = s + 1; e < len && k[e] != '}'; e++)
            ;
        if (e < len && e != s + 1)
            return crc16_xmodem(k + s + 1, e - s - 1) & 16383;
    }
    return crc16_xmodem(k, len) & 16383;
}

void token_of(const void *key, size_t len, uint64_t *token, uint32_t *hash2)
{
    XXH128_hash_t h = XXH3_128bits(key, len);
    uint64_t slot = ls_key_slot(key, len);

    *token = (slot << TOKEN_SLOT_SHIFT) | (h.low64 & ((UINT64_C(1) << TOKEN_SLOT_SHIFT) - 1));
    *hash2 = (uint32_t)(h.high64 >> 44);
}

uint64_t ls_token(const void *key, size_t len)
{
    uint64_t t;
    uint32_t h2;

    token_of(key, len, &t, &h2);
    return t;
}
