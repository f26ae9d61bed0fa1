/*
 * glob.h - Redis-style glob matching for KEYS and SCAN MATCH: * ? [abc] [^a-z] and
 * backslash escapes, over byte strings that may contain NULs.
 */
#ifndef LS_SERVER_GLOB_H
#define LS_SERVER_GLOB_H

#include <stddef.h>

/* Returns 1 when s[0..slen) matches pattern p[0..plen). */
int glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase);

#endif
