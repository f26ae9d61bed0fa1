/*
 * token.h - a key's place in the index: token and hash2.
 */
#ifndef LS_TOKEN_H
#define LS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_SLOT_SHIFT 50

/* Computes the key's token (slot in the top 14 bits, 50 bits of xxh3 below) and hash2
 * (20 further bits of the same 128-bit hash). */
void token_of(const void *key, size_t len, uint64_t *token, uint32_t *hash2);

#endif
