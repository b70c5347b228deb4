/*
 * utf8.h - checking and cleaning UTF-8, for input that may hold any bytes (bodies, query
 * strings, destination answers) but must end up inside JSON text.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). With `allow_nul` false, a NUL byte also makes it invalid (C strings cannot
 * carry one). */
bool utf8_valid(const char *s, size_t len, bool allow_nul);

/*
 * A NUL-terminated copy of s[0..len) with invalid UTF-8 and NUL bytes replaced by U+FFFD
 * (one per maximal invalid subpart, as Unicode §3.9 and WHATWG do). With `cut` (the bytes
 * end where a limit cut them) an incomplete sequence at the very end is dropped instead, so
 * that a truncated text stays a prefix of the real one. The caller frees the result.
 */
char *utf8_sanitize(const char *s, size_t len, bool cut);

/* Number of code points in a valid UTF-8 string. */
size_t utf8_chars(const char *s);

#endif
