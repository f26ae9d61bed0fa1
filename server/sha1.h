/*
 * sha1.h - SHA-1 digests in lower-case hex (sha1.c).
 */
#ifndef LS_SERVER_SHA1_H
#define LS_SERVER_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 40 hex digits of SHA-1(data[0..len)) and a NUL to out. */
void sha1_hex(const void *data, size_t len, char out[41]);

#endif
