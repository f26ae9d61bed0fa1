/*
 * test_glob.c - unit tests for KEYS/SCAN MATCH's matcher (server/glob.c): Redis's
 * stringmatchlen rules for literals, '*', '?', classes and escapes, the literal-prefix
 * shortcut agreeing with the full matcher (trailing runs of '*', a pattern with no
 * special character, an escape in the prefix, nocase), and a seeded random comparison
 * with a reference matcher written here by dynamic programming over '*', '?' and
 * literals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "glob.h"

static int m(const char *p, const char *s)
{
    return glob_match(p, strlen(p), s, strlen(s), 0);
}

static void test_rules(void **state)
{
    (void)state;
    assert_true(m("*", ""));
    assert_true(m("key:1234*", "key:1234"));
    assert_true(m("key:1234*", "key:12345"));
    assert_false(m("key:1234*", "key:123"));
    assert_false(m("key:1234*", "key:1334"));
    assert_true(m("abc", "abc"));
    assert_false(m("abc", "abcd"));
    assert_false(m("abc", "ab"));
    assert_true(m("abc**", "abc"));
    assert_true(m("abc**", "abcxyz"));
    assert_false(m("abc*d", "abc"));
    assert_true(m("abc*d", "abcxd"));
    assert_true(m("a?c*", "abc"));
    assert_false(m("a?c*", "ac"));
    assert_true(m("h[ae]llo", "hallo"));
    assert_false(m("h[^e]llo", "hello"));
    assert_true(m("h[a-c]llo", "hbllo"));
    assert_true(m("a\\*b", "a*b"));
    assert_false(m("a\\*b", "axb"));
    assert_true(m("a\\*b*", "a*bc"));
    assert_false(m("a\\*b*", "axbc"));
    assert_true(m("", ""));
    assert_false(m("**", "")); /* Redis's stringmatchlen: an empty key matches "" and "*" */
    assert_false(m("", "a"));
    assert_true(glob_match("KEY*", 4, "key:1", 5, 1));
    assert_false(glob_match("KEY*", 4, "key:1", 5, 0));
}

/* Reference: '*' any run, '?' any byte, anything else itself (no classes or escapes).
 * As in Redis, an empty key matches only "" and "*". */
static int ref(const char *p, size_t pl, const char *s, size_t sl)
{
    if (sl == 0)
        return pl == 0 || (pl == 1 && p[0] == '*');
    unsigned char *d = calloc((pl + 1) * (sl + 1), 1);
#define D(i, j) d[(i) * (sl + 1) + (j)]
    D(pl, sl) = 1;
    for (size_t i = pl; i-- > 0;)
        for (size_t j = sl + 1; j-- > 0;) {
            if (p[i] == '*')
                D(i, j) = D(i + 1, j) || (j < sl && D(i, j + 1));
            else
                D(i, j) = j < sl && (p[i] == '?' || p[i] == s[j]) && D(i + 1, j + 1);
        }
    int r = D(0, 0);
#undef D
    free(d);
    return r;
}

/* Random tests draw from these: "ab*?" (test_random) or all (test_random_full). */
static const char alpha[] = "ab*?[]^-\\";

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x;
}

/* n bytes drawn from the first na characters of alpha. */
static void rnd_fill(uint64_t *x, char *out, size_t n, size_t na)
{
    for (size_t i = 0; i < n; i++)
        out[i] = alpha[(lcg(x) >> 33) % na];
}

static void check_match(const char *p, size_t pl, const char *s, size_t sl, int want)
{
    int got = glob_match(p, pl, s, sl, 0);
    if (got != want)
        fail_msg("pattern '%.*s' key '%.*s': %d, reference %d", (int)pl, p, (int)sl, s, got, want);
}

static void test_random(void **state)
{
    (void)state;
    uint64_t x = 12345;
    for (int t = 0; t < 200000; t++) {
        char p[10], s[10];
        size_t pl = (lcg(&x) >> 33) % 8, sl = (x >> 40) % 9;
        rnd_fill(&x, p, pl, 4);
        rnd_fill(&x, s, sl, 2);
        check_match(p, pl, s, sl, ref(p, pl, s, sl));
    }
}

/* A second reference, with classes and escapes: the pattern is first cut into tokens
 * (as Redis's stringmatchlen reads it: a class's extent does not depend on the key; an
 * unterminated class ends at the pattern's end; a lone trailing backslash is itself;
 * runs of '*' are one), then matched by dynamic programming with Redis's rules for the
 * end of the key: a key that runs out after a byte was matched leaves only '*' tokens to
 * match, and an empty key matches only the empty pattern (and "*", which glob_match
 * answers as KEYS and SCAN do). */
enum { T_STAR, T_ANY, T_LIT, T_CLASS };
struct tok {
    int kind, neg;
    unsigned char lit;
    unsigned char in[256]; /* T_CLASS: which bytes it names */
};

static size_t tokenize(const char *p, size_t pl, struct tok *t)
{
    size_t n = 0;
    for (size_t i = 0; i < pl; n++) {
        memset(&t[n], 0, sizeof(t[n]));
        if (p[i] == '*') {
            t[n].kind = T_STAR;
            while (i < pl && p[i] == '*')
                i++;
        } else if (p[i] == '?') {
            t[n].kind = T_ANY;
            i++;
        } else if (p[i] == '\\') {
            t[n].kind = T_LIT;
            t[n].lit = (unsigned char)(i + 1 < pl ? p[i + 1] : '\\');
            i += i + 1 < pl ? 2 : 1;
        } else if (p[i] == '[') {
            t[n].kind = T_CLASS;
            i++;
            if (i < pl && p[i] == '^') {
                t[n].neg = 1;
                i++;
            }
            while (i < pl && p[i] != ']') {
                if (p[i] == '\\' && i + 1 < pl) {
                    t[n].in[(unsigned char)p[i + 1]] = 1;
                    i += 2;
                } else if (i + 2 < pl && p[i + 1] == '-') {
                    signed char lo = (signed char)p[i], hi = (signed char)p[i + 2];
                    if (lo > hi) {
                        signed char x = lo;
                        lo = hi;
                        hi = x;
                    }
                    for (int c = lo; c <= hi; c++)
                        t[n].in[(unsigned char)c] = 1;
                    i += 3;
                } else {
                    t[n].in[(unsigned char)p[i++]] = 1;
                }
            }
            i += i < pl; /* the ']' */
        } else {
            t[n].kind = T_LIT;
            t[n].lit = (unsigned char)p[i++];
        }
    }
    return n;
}

static int tok_byte(const struct tok *t, unsigned char c)
{
    switch (t->kind) {
    case T_ANY:
        return 1;
    case T_LIT:
        return t->lit == c;
    default:
        return t->in[c] != t->neg;
    }
}

static int ref_full(const char *p, size_t pl, const char *s, size_t sl)
{
    struct tok t[16];
    size_t nt = tokenize(p, pl, t);
    if (pl == 1 && p[0] == '*')
        return 1;
    if (sl == 0)
        return pl == 0;
    /* d[i][j]: tokens i.. match s[j..] (j == sl: only after a byte was matched) */
    unsigned char d[17][17];
    for (size_t i = nt + 1; i-- > 0;) {
        d[i][sl] = 1;
        for (size_t x = i; x < nt; x++)
            d[i][sl] &= t[x].kind == T_STAR;
        for (size_t j = sl; j-- > 0;) {
            if (i == nt)
                d[i][j] = 0;
            else if (t[i].kind == T_STAR) {
                d[i][j] = i + 1 == nt;
                for (size_t k = j; k < sl && !d[i][j]; k++)
                    d[i][j] = d[i + 1][k];
            } else {
                d[i][j] = tok_byte(&t[i], (unsigned char)s[j]) && d[i + 1][j + 1];
            }
        }
    }
    return d[0][0];
}

/* glob_match (its literal-prefix shortcut, then the full matcher) against ref_full on
 * seeded random patterns and keys over the special characters and two letters. */
static void test_random_full(void **state)
{
    (void)state;
    uint64_t x = 987654321;
    for (int t = 0; t < 300000; t++) {
        char p[12], s[12];
        size_t pl = (lcg(&x) >> 33) % 11, sl = (x >> 40) % 9;
        size_t pa = (x >> 50) & 1 ? 9 : 4, sa = (x >> 52) & 1 ? 9 : 2;
        rnd_fill(&x, p, pl, pa);
        rnd_fill(&x, s, sl, sa);
        check_match(p, pl, s, sl, ref_full(p, pl, s, sl));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
