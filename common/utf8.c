/*
 * utf8.c - UTF-8 checking and cleaning (see utf8.h). One decoder, utf8_seq, defines what
 * valid means for every caller.
 */
#include "utf8.h"

#include "xalloc.h"

#include <string.h>

/*
 * Length of the UTF-8 sequence starting at s (len > 0 bytes available). Returns the
 * sequence length with *ok true, or with *ok false the length of the maximal invalid
 * subpart (at least 1), which is what one U+FFFD replaces (Unicode §3.9, WHATWG). Overlong
 * forms, surrogates and code points past U+10FFFF are invalid.
 */
static size_t utf8_seq(const unsigned char *s, size_t len, bool *ok)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;
    *ok = false;
    if (c < 0x80) {
        *ok = true;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c == 0xE0) {
        need = 2;
        lo = 0xA0;
    } else if (c >= 0xE1 && c <= 0xEF) {
        need = 2;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c == 0xF0) {
        need = 3;
        lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
        need = 3;
    } else if (c == 0xF4) {
        need = 3;
        hi = 0x8F;
    } else {
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi)
            return i;
        lo = 0x80;
        hi = 0xBF;
    }
    *ok = true;
    return need + 1;
}

bool utf8_valid(const char *s, size_t len, bool allow_nul)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        bool ok;
        /* Most of what comes through is ASCII: skip it without decoding. */
        if (p[i] > 0 && p[i] < 0x80) {
            i++;
            continue;
        }
        if (p[i] == 0 && !allow_nul)
            return false;
        i += utf8_seq(p + i, len - i, &ok);
        if (!ok)
            return false;
    }
    return true;
}

/*
 * A NUL-terminated copy of s[0..len) with invalid UTF-8 and NUL bytes replaced by U+FFFD.
 * With `cut` (the bytes end where a limit cut them) an incomplete sequence at the very end
 * is dropped instead, so that a truncated body stays a prefix of the real one.
 */
char *utf8_sanitize(const char *s, size_t len, bool cut)
{
    static const char fffd[] = "\xEF\xBF\xBD";
    const unsigned char *p = (const unsigned char *)s;
    char *out = xmalloc(len * 3 + 1);
    size_t o = 0, i = 0;
    while (i < len) {
        bool ok;
        size_t n = utf8_seq(p + i, len - i, &ok);
        if (ok && p[i] != 0) {
            memcpy(out + o, p + i, n);
            o += n;
        } else if (cut && !ok && i + n == len && p[i] >= 0xC2 && p[i] <= 0xF4) {
            break;
        } else {
            memcpy(out + o, fffd, 3);
            o += 3;
        }
        i += n;
    }
    out[o] = '\0';
    return out;
}

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}
