/*
 * test_utf8.c - unit tests for common/utf8.c: what utf8_valid accepts (overlongs,
 * surrogates, code points past U+10FFFF and truncated sequences refused; NUL only with
 * allow_nul), utf8_sanitize's one U+FFFD per maximal invalid subpart (the Unicode §3.9 and
 * WHATWG examples), its `cut` mode that drops an incomplete sequence at the very end, and
 * utf8_chars. Exhaustive runs over short inputs check utf8_valid against a decoder written
 * here from the code point rules, and that sanitize always yields valid UTF-8.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define FFFD "\xEF\xBF\xBD"

/* Length of a string literal without its terminating NUL (literals may hold NULs). */
#define LIT(s) (s), (sizeof(s) - 1)

struct valid_case {
    const char *s;
    size_t len;
    bool valid;     /* with allow_nul false */
    bool valid_nul; /* with allow_nul true */
};

static const struct valid_case valid_cases[] = {
    {LIT(""), true, true},
    {LIT("abc"), true, true},
    {LIT("h\xC3\xA9llo"), true, true},
    {LIT("\xC2\x80"), true, true},           /* U+0080, the first two-byte code point */
    {LIT("\xDF\xBF"), true, true},           /* U+07FF */
    {LIT("\xE0\xA0\x80"), true, true},       /* U+0800 */
    {LIT("\xE2\x82\xAC"), true, true},       /* € */
    {LIT("\xED\x9F\xBF"), true, true},       /* U+D7FF, just below the surrogates */
    {LIT("\xEE\x80\x80"), true, true},       /* U+E000, just above them */
    {LIT("\xEF\xBF\xBF"), true, true},       /* U+FFFF */
    {LIT("\xF0\x90\x80\x80"), true, true},   /* U+10000 */
    {LIT("\xF0\x9F\x98\x80"), true, true},   /* 😀 */
    {LIT("\xF4\x8F\xBF\xBF"), true, true},   /* U+10FFFF */
    {LIT("\xF4\x90\x80\x80"), false, false}, /* U+110000 */
    {LIT("\xF5\x80\x80\x80"), false, false},
    {LIT("\xC0\xAF"), false, false}, /* overlong '/' */
    {LIT("\xC1\xBF"), false, false},
    {LIT("\xE0\x80\xAF"), false, false},
    {LIT("\xE0\x9F\xBF"), false, false},
    {LIT("\xF0\x8F\xBF\xBF"), false, false},
    {LIT("\xED\xA0\x80"), false, false}, /* U+D800 */
    {LIT("\xED\xBF\xBF"), false, false}, /* U+DFFF */
    {LIT("\x80"), false, false},
    {LIT("\xBF"), false, false},
    {LIT("\xFE"), false, false},
    {LIT("\xFF"), false, false},
    {LIT("a\xFF"), false, false},
    {LIT("\xC3"), false, false},
    {LIT("\xC3\x28"), false, false},
    {LIT("\xE2\x82"), false, false},
    {LIT("\xF0\x9F\x98"), false, false},
    {LIT("\xF0\x9F\x98\x61"), false, false},
    {"\xC3\xA9", 1, false, false}, /* the length cuts the sequence, not the NUL */
    {LIT("\0"), false, true},
    {LIT("a\0b"), false, true},
    {LIT("\xC3\xA9\0"), false, true},
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        if (utf8_valid(c->s, c->len, false) != c->valid)
            fail_msg("case %zu: utf8_valid(allow_nul=false) is %d", i, !c->valid);
        if (utf8_valid(c->s, c->len, true) != c->valid_nul)
            fail_msg("case %zu: utf8_valid(allow_nul=true) is %d", i, !c->valid_nul);
    }
}

struct sanitize_case {
    const char *s;
    size_t len;
    bool cut;
    const char *want;
};

static const struct sanitize_case sanitize_cases[] = {
    {LIT(""), false, ""},
    {LIT("abc"), false, "abc"},
    {LIT("\xF0\x9F\x98\x80 \xE2\x82\xAC"), true, "\xF0\x9F\x98\x80 \xE2\x82\xAC"},
    /* WHATWG: an overlong E0 80 80 is three maximal subparts. */
    {LIT("\xE0\x80\x80"), false, FFFD FFFD FFFD},
    {LIT("\xE0\x80\x80"), true, FFFD FFFD FFFD},
    {LIT("\xED\xA0\x80"), false, FFFD FFFD FFFD},
    {LIT("\xC0\xAF"), false, FFFD FFFD},
    {LIT("\xF4\x90\x80\x80"), false, FFFD FFFD FFFD FFFD},
    {LIT("\xFF"), false, FFFD},
    {LIT("\xFF"), true, FFFD},
    {LIT("\x80"), true, FFFD},
    /* A truncated sequence is one maximal subpart, or nothing when the bytes were cut. */
    {LIT("\xF0\x9F\x98"), false, FFFD},
    {LIT("\xF0\x9F\x98"), true, ""},
    {LIT("ab\xF0\x9F\x98"), true, "ab"},
    {LIT("ab\xF0\x9F\x98"), false, "ab" FFFD},
    {LIT("\xF0\x9F\x98x"), true, FFFD "x"},
    {LIT("\xC3"), true, ""},
    {LIT("\xC3"), false, FFFD},
    {LIT("\xED"), true, ""},
    {LIT("\xED\xA0"), true, FFFD FFFD}, /* ED A0 can never complete */
    {LIT("\xE1\x80"), true, ""},
    {LIT("\xF1\x80\x80\xE1\x80"), true, FFFD},
    {LIT("\xF1\x80\x80\xE1\x80"), false, FFFD FFFD},
    {"\xF0\x9F\x98\x80", 3, true, ""}, /* a length shorter than the buffer */
    {"\xF0\x9F\x98\x80", 2, false, FFFD},
    /* NUL bytes are replaced: the result is a C string. */
    {LIT("\0"), false, FFFD},
    {LIT("a\0b"), false, "a" FFFD "b"},
    {LIT("a\0"), true, "a" FFFD},
    /* Unicode §3.9, Table 3-8. */
    {LIT("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"), false,
     "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d"},
};

static void test_sanitize(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]); i++) {
        const struct sanitize_case *c = &sanitize_cases[i];
        char *got = utf8_sanitize(c->s, c->len, c->cut);
        if (strcmp(got, c->want) != 0) {
            char shown[256];
            size_t o = 0;
            for (const unsigned char *p = (const unsigned char *)got; *p && o + 5 < sizeof(shown);
                 p++)
                o += (size_t)snprintf(shown + o, sizeof(shown) - o, "%02X ", *p);
            shown[o] = '\0';
            free(got);
            fail_msg("case %zu (cut=%d): got %s", i, c->cut, shown);
        }
        free(got);
    }
}

/*
 * A second opinion on validity, written from the definition (decode, then judge the code
 * point) rather than from the byte ranges of Unicode Table 3-7 that utf8.c uses.
 */
static bool ref_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* Check one input against ref_valid, and that sanitize gives valid UTF-8 without NULs,
 * unchanged when the input was already valid. */
static void check_consistent(const unsigned char *s, size_t len)
{
    const char *cs = (const char *)s;
    bool want = ref_valid(s, len);
    bool got = utf8_valid(cs, len, true);
    if (got != want)
        fail_msg("utf8_valid %02X %02X %02X (len %zu): %d", len > 0 ? s[0] : 0, len > 1 ? s[1] : 0,
                 len > 2 ? s[2] : 0, len, got);
    bool has_nul = memchr(s, 0, len) != NULL;
    assert_int_equal(utf8_valid(cs, len, false), want && !has_nul);
    for (int cut = 0; cut <= 1; cut++) {
        char *out = utf8_sanitize(cs, len, cut);
        size_t olen = strlen(out);
        bool ok = utf8_valid(out, olen, false);
        bool same = olen == len && memcmp(out, s, len) == 0;
        free(out);
        if (!ok)
            fail_msg("sanitize %02X %02X %02X (len %zu, cut %d) is not valid", s[0],
                     len > 1 ? s[1] : 0, len > 2 ? s[2] : 0, len, cut);
        if (want && !has_nul && !same)
            fail_msg("sanitize changed valid %02X %02X %02X (len %zu)", s[0], len > 1 ? s[1] : 0,
                     len > 2 ? s[2] : 0, len);
    }
}

/* Every input of one and two bytes, and three-byte inputs after the lead bytes whose
 * second-byte range is special (E0, ED, F0, F4) or ordinary (C2, E1, F1). */
static void test_exhaustive_short(void **state)
{
    (void)state;
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        check_consistent(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            check_consistent(s, 2);
        }
    }
    static const unsigned char leads[] = {0xC2, 0xE0, 0xE1, 0xED, 0xF0, 0xF1, 0xF4};
    for (size_t l = 0; l < sizeof(leads); l++) {
        s[0] = leads[l];
        for (unsigned b = 0; b < 256; b++) {
            for (unsigned c = 0; c < 256; c++) {
                s[1] = (unsigned char)b;
                s[2] = (unsigned char)c;
                check_consistent(s, 3);
            }
        }
    }
}

/* Four-byte sequences around the edges of the F0 and F4 ranges. */
static void test_four_byte_edges(void **state)
{
    (void)state;
    static const unsigned char seconds[] = {0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0};
    static const unsigned char leads[] = {0xF0, 0xF3, 0xF4, 0xF5};
    static const unsigned char rests[] = {0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF};
    unsigned char s[4];
    for (size_t l = 0; l < sizeof(leads); l++)
        for (size_t a = 0; a < sizeof(seconds); a++)
            for (size_t b = 0; b < sizeof(rests); b++)
                for (size_t c = 0; c < sizeof(rests); c++) {
                    s[0] = leads[l];
                    s[1] = seconds[a];
                    s[2] = rests[b];
                    s[3] = rests[c];
                    check_consistent(s, 4);
                }
}

static void test_chars(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t want;
    } cases[] = {
        {"", 0},
        {"abc", 3},
        {"h\xC3\xA9llo", 5},
        {"\xE2\x82\xAC", 1},
        {"\xF0\x9F\x98\x80\x61", 2},
        {"a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 4},
        {FFFD FFFD, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (utf8_chars(cases[i].s) != cases[i].want)
            fail_msg("utf8_chars(case %zu) = %zu, want %zu", i, utf8_chars(cases[i].s),
                     cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_four_byte_edges),
        cmocka_unit_test(test_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
