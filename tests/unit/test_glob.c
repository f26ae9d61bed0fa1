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

static void test_random(void **state)
{
    (void)state;
    static const char pa[] = "ab*?";
    static const char sa[] = "ab";
    uint64_t x = 12345;
    for (int t = 0; t < 200000; t++) {
        char p[10], s[10];
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t pl = (x >> 33) % 8, sl = (x >> 40) % 9;
        for (size_t i = 0; i < pl; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            p[i] = pa[(x >> 33) % 4];
        }
        for (size_t i = 0; i < sl; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            s[i] = sa[(x >> 33) % 2];
        }
        if (glob_match(p, pl, s, sl, 0) != ref(p, pl, s, sl))
            fail_msg("pattern '%.*s' key '%.*s': %d, reference %d", (int)pl, p, (int)sl, s,
                     glob_match(p, pl, s, sl, 0), ref(p, pl, s, sl));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
