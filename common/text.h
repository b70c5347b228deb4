/*
 * text.h - small text helpers several modules need alike: hex digits, HTTP tokens, percent-decoding
 * (strict for paths and URI fragments, lenient for form bodies and query strings), string
 * hashes (a keyed one for strings clients choose), JSON printing with exact numbers, and
 * JSON string quoting for
 * records written on the hot path without building a cJSON tree.
 */
#ifndef TEXT_H
#define TEXT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
int text_hex_value(int c);

/* Whether `c` is an RFC 9110 tchar, a character allowed in a token (a header name, a
 * method): letters, digits and !#$%&'*+-.^_`|~. */
bool text_is_tchar(unsigned char c);

/* Whether `s` is a non-empty RFC 9110 token (text_is_tchar throughout). */
bool text_is_token(const char *s);

/* Write `v` in decimal at `out` (room for 20 digits and a NUL) and return the digits'
 * count: for numbers printed on every request, where snprintf costs more than the rest. */
size_t text_u64(char *out, uint64_t v);

/* FNV-1a of a NUL-terminated string, for tables whose keys are ours (metrics fields): its
 * collisions are easy to find, so never use it on strings a client chooses. */
uint32_t text_hash(const char *s);

/*
 * shash (shash.h): SipHash-2-4 of p[0..len) under a key drawn at random once per process,
 * for hash tables keyed by strings a client chooses (endpoints, JSON items), whose
 * collisions a client cannot then aim for. One key and one implementation for the process.
 */
uint64_t text_hash_keyed(const void *p, size_t len);

/*
 * Percent-decode `s` strictly into a new string the caller frees: NULL when an escape is
 * malformed or decodes to a NUL byte (neither belongs in a path or a URI fragment).
 */
char *text_uri_decode(const char *s);

/*
 * Decode application/x-www-form-urlencoded s[0..len) into `out` (at least len bytes) and
 * return the decoded length: '+' is a space, and a '%' not followed by two hex digits is
 * kept as it is, as browsers do. The result may hold any byte, NUL included.
 */
size_t text_form_decode(const char *s, size_t len, char *out);

/* Room text_json_quote needs for `len` input bytes: each may become a six-byte \u00XX. */
#define TEXT_JSON_QUOTE_MAX(len) (6 * (len) + 2)

/*
 * Write s[0..len) to `out` as a JSON string with its quotes, escaping '"', '\\' and control
 * characters, and return the bytes written (no NUL added). Other bytes pass as they are, so
 * a JSON reader gives back exactly `s`. `out` holds at least TEXT_JSON_QUOTE_MAX(len).
 */
size_t text_json_quote(char *out, const char *s, size_t len);

/* Write `lead` (e.g. ",\"path\":") and then s as a JSON string at `out`; returns the new
 * end. `out` holds strlen(lead) + TEXT_JSON_QUOTE_MAX(strlen(s)). */
char *text_json_put(char *out, const char *lead, const char *s);

/* The same appended to a dynbuf (common/dynbuf.h): `lead`, then s as a JSON string.
 * Returns 0, or DYNBUF_TOO_BIG when the buffer's maximum would be passed. */
struct dynbuf;
int text_json_put_dynbuf(struct dynbuf *b, const char *lead, const char *s);

/* The same without the quotes (at most 6 * len bytes), to build one string from parts. */
size_t text_json_escape(char *out, const char *s, size_t len);

/* Room text_json_number needs. */
#define TEXT_JSON_NUMBER_MAX 32

/*
 * Write `d` as a JSON number that reads back as exactly `d` (integers plainly, others in
 * the fewest digits of 15..17 that round-trip; "null" for NaN and infinities, as cJSON
 * does) and return its length. cJSON's own printer accepts 15 digits when they come back
 * within an epsilon, so it turns 9007199254740992 into 9.00719925474099e+15, another number.
 */
size_t text_json_number(char out[TEXT_JSON_NUMBER_MAX], double d);

/*
 * `v` as compact JSON, like cJSON_PrintUnformatted but with numbers as text_json_number
 * writes them, so that what is stored and read back is the value that was given. The
 * caller frees the string.
 */
char *text_json_print(const cJSON *v);

#endif
