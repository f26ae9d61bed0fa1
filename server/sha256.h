/*
 * sha256.h - SHA-256 (FIPS 180-4) of a byte string, for the password hash ACL LIST shows.
 */
#ifndef LS_SERVER_SHA256_H
#define LS_SERVER_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 32-byte SHA-256 digest of p[0..n) to out. */
void sha256(const void *p, size_t n, uint8_t out[32]);
/* Writes the digest as 64 lower-case hex digits and a NUL to hex (65 bytes). */
void sha256_hex(const void *p, size_t n, char hex[65]);

#endif
