/*
 * glob.c - the matcher behind KEYS and SCAN MATCH, following Redis's stringmatchlen so
 * that patterns behave exactly as Redis users expect. The recursion on '*' is bounded:
 * runs of '*' are collapsed, and a nesting limit stops pathological patterns
 * ("a*a*a*...b") from taking exponential time.
 */
#include "glob.h"

#include <ctype.h>
#include <string.h>

#define GLOB_MAX_NESTING 1000

static int glob_class(const char **pp, size_t *plen, char c, int nocase)
{
    const char *p = *pp + 1;
    size_t n = *plen - 1;
    int neg = 0, match = 0;
    if (n > 0 && *p == '^') {
        neg = 1;
        p++;
        n--;
    }
    for (; n > 0; p++, n--) {
        if (*p == '\\' && n >= 2) {
            p++;
            n--;
            if (*p == c)
                match = 1;
        } else if (*p == ']') {
            break;
        } else if (n >= 3 && p[1] == '-') {
            char lo = p[0], hi = p[2], x = c;
            if (lo > hi) {
                char t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                lo = (char)tolower((unsigned char)lo);
                hi = (char)tolower((unsigned char)hi);
                x = (char)tolower((unsigned char)x);
            }
            if (x >= lo && x <= hi)
                match = 1;
            p += 2;
            n -= 2;
        } else if (nocase ? tolower((unsigned char)*p) == tolower((unsigned char)c) : *p == c) {
            match = 1;
        }
    }
    if (n == 0) { /* unterminated class: treat the end as the closing bracket */
        p--;
        n = 1;
    }
    *pp = p;
    *plen = n;
    return neg ? !match : match;
}

static int glob_rec(const char *p, size_t plen, const char *s, size_t slen, int nocase, int *skip,
                    int depth)
{
    if (depth > GLOB_MAX_NESTING)
        return 0;
    while (plen && slen) {
        switch (*p) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1)
                return 1;
            while (slen) {
                if (glob_rec(p + 1, plen - 1, s, slen, nocase, skip, depth + 1))
                    return 1;
                if (*skip)
                    return 0;
                s++;
                slen--;
            }
            *skip = 1;
            return 0;
        case '?':
            s++;
            slen--;
            break;
        case '[':
            if (!glob_class(&p, &plen, *s, nocase))
                return 0;
            s++;
            slen--;
            break;
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (nocase ? tolower((unsigned char)*p) != tolower((unsigned char)*s) : *p != *s)
                return 0;
            s++;
            slen--;
            break;
        }
        p++;
        plen--;
        if (slen == 0) {
            while (plen && *p == '*') {
                p++;
                plen--;
            }
            break;
        }
    }
    return plen == 0 && slen == 0;
}

int glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
    int skip = 0;
    if (plen == 1 && p[0] == '*')
        return 1;
    if (!nocase) { /* the literal prefix first: most keys of a KEYS prefix* differ there */
        size_t lit = 0;
        while (lit < plen && p[lit] != '*' && p[lit] != '?' && p[lit] != '[' && p[lit] != '\\')
            lit++;
        if (lit > slen || memcmp(p, s, lit) != 0)
            return 0;
        if (lit == plen)
            return slen == lit;
        if (lit == plen - 1 && p[lit] == '*')
            return 1;
    }
    return glob_rec(p, plen, s, slen, nocase, &skip, 0);
}
