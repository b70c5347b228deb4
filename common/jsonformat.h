/*
 * jsonformat.h - the JSON Schema "format" checkers hookbridge supports, for
 * common/jsonschema.c: date-time, date, time, email, hostname, ipv4, ipv6, uri and uuid, as
 * JSON Schema draft-07 and its official test suite read them. Each takes a NUL-terminated
 * UTF-8 string and says whether it is in that format; none allocates.
 */
#ifndef JSONFORMAT_H
#define JSONFORMAT_H

#include <stdbool.h>

typedef bool jsonformat_check_fn(const char *s);

/* The checker for the format called `name`, or NULL when hookbridge does not know it. */
jsonformat_check_fn *jsonformat_find(const char *name);

/* RFC 3339 date-time: full-date "T" full-time, "T" and "Z" in either case. */
bool jsonformat_date_time(const char *s);

/* RFC 3339 full-date YYYY-MM-DD, with the real length of each month and leap years. */
bool jsonformat_date(const char *s);

/*
 * RFC 3339 full-time: HH:MM:SS[.frac] and a Z or +HH:MM / -HH:MM offset (required). A leap
 * second (:60) is valid only at 23:59 UTC once the offset is applied.
 */
bool jsonformat_time(const char *s);

/*
 * An RFC 5321 mailbox: a dot-atom or quoted-string local part (at most 64 bytes), "@", and a
 * hostname or an address literal ([192.0.2.1], [IPv6:2001:db8::1]).
 */
bool jsonformat_email(const char *s);

/*
 * An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, each
 * at most 63 characters, at most 253 in all, no trailing dot. A label starting with "xn--"
 * must be an IDNA2008 A-label, as libidn2 registers one: valid Punycode that decodes to a
 * U-label in NFC whose code points are PVALID (RFC 5892, libidn2's Unicode tables) or pass
 * their CONTEXTJ / CONTEXTO rule, that does not start with a combining mark nor hold "--" in
 * its 3rd and 4th positions, and that keeps the Bidi rule (RFC 5893).
 */
bool jsonformat_hostname(const char *s);

/* A dotted quad of decimal numbers 0..255 without leading zeros. */
bool jsonformat_ipv4(const char *s);

/* An RFC 4291 text address: eight groups, one "::", an embedded dotted quad at the end. */
bool jsonformat_ipv6(const char *s);

/* An RFC 3986 URI (absolute, a fragment allowed): ASCII only, percent-escapes checked. */
bool jsonformat_uri(const char *s);

/* 8-4-4-4-12 hexadecimal digits, either case. */
bool jsonformat_uuid(const char *s);

#endif
