/*
 * jsonformat.c - the JSON Schema "format" checkers (see jsonformat.h).
 *
 * Hand-written parsers rather than regular expressions, so that each rule of the RFC is a
 * line that can be read and tested. IDNA2008 for "xn--" host name labels is libidn2's (the
 * library libcurl already links for the same job), since its rules rest on Unicode tables.
 */
#include "jsonformat.h"

#include "uri.h"

#include <idn2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The number written by exactly `n` ASCII digits at `s`, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* ---- dates and times (RFC 3339 section 5.6) ---- */

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* A full-date at the start of `s` (what follows is the caller's). */
static bool full_date(const char *s)
{
    int year = digits(s, 4);
    if (year < 0 || s[4] != '-')
        return false;
    int month = digits(s + 5, 2);
    if (month < 1 || month > 12 || s[7] != '-')
        return false;
    int day = digits(s + 8, 2);
    return day >= 1 && day <= days_in_month(year, month);
}

static bool full_time(const char *s)
{
    int hour = digits(s, 2);
    if (hour < 0 || hour > 23 || s[2] != ':')
        return false;
    int minute = digits(s + 3, 2);
    if (minute < 0 || minute > 59 || s[5] != ':')
        return false;
    int second = digits(s + 6, 2);
    if (second < 0 || second > 60)
        return false;
    const char *p = s + 8;
    if (*p == '.') {
        if (!is_digit((unsigned char)*++p))
            return false;
        while (is_digit((unsigned char)*p))
            p++;
    }
    int offset = 0; /* minutes east of UTC */
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2);
        if (oh < 0 || oh > 23 || p[3] != ':')
            return false;
        int om = digits(p + 4, 2);
        if (om < 0 || om > 59)
            return false;
        offset = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    /* Leap seconds are inserted at the end of a UTC day. */
    int utc = ((hour * 60 + minute - offset) % 1440 + 1440) % 1440;
    return second < 60 || utc == 23 * 60 + 59;
}

bool jsonformat_date(const char *s)
{
    return full_date(s) && s[10] == '\0';
}

bool jsonformat_time(const char *s)
{
    return full_time(s);
}

bool jsonformat_date_time(const char *s)
{
    return full_date(s) && (s[10] == 'T' || s[10] == 't') && full_time(s + 11);
}

/* ---- IP addresses ---- */

/* Exactly the `n` bytes at `s` are a dotted quad. */
static bool ipv4_span(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        int v = 0;
        while (i < n && i - start < 3 && is_digit((unsigned char)s[i]))
            v = v * 10 + (s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return false;
    }
    return i == n;
}

bool jsonformat_ipv4(const char *s)
{
    return ipv4_span(s, strlen(s));
}

/* Exactly the `n` bytes at `s` are an IPv6 address. */
static bool ipv6_span(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    int groups = 0;
    bool compressed = false;
    if (n >= 2 && p[0] == ':' && p[1] == ':') {
        compressed = true;
        p += 2;
        if (p == end)
            return true;
    }
    for (;;) {
        size_t len = 0;
        while (p + len < end && p[len] != ':')
            len++;
        if (memchr(p, '.', len) != NULL) {
            /* A dotted quad counts for two groups and ends the address. */
            if (p + len != end || !ipv4_span(p, len))
                return false;
            groups += 2;
            break;
        }
        if (len < 1 || len > 4)
            return false;
        for (size_t i = 0; i < len; i++)
            if (!is_hex((unsigned char)p[i]))
                return false;
        groups++;
        p += len;
        if (p == end)
            break;
        if (++p == end)
            return false; /* a single trailing colon */
        if (*p == ':') {
            if (compressed)
                return false;
            compressed = true;
            if (++p == end)
                break;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

bool jsonformat_ipv6(const char *s)
{
    return ipv6_span(s, strlen(s));
}

/* ---- IDNA2008 A-labels ---- */

/*
 * The `n` bytes at `s` (after "xn--") are the A-label of a valid U-label. libidn2 checks
 * it as a registry would (idn2_register_u8: RFC 5891 section 4): Punycode that decodes to
 * a label with a non-ASCII code point and encodes back to the same bytes, in NFC, hyphens
 * allowed (RFC 5891 4.2.3.1), no leading combining mark, every code point PVALID, or
 * CONTEXTJ/CONTEXTO with its rule of RFC 5892 appendix A met, and the Bidi rule of RFC 5893.
 * Registration rather than lookup, because lookup skips the CONTEXTO rules.
 */
static bool a_label_ok(const char *s, size_t n)
{
    char label[64];
    if (n > sizeof(label) - 5)
        return false;
    /* Host names ignore ASCII case: fold it, so "XN--CAF-DMA" is "café"; an upper-case
     * letter encoded in the Punycode itself stays upper case, and is refused. */
    memcpy(label, "xn--", 4);
    for (size_t i = 0; i < n; i++)
        label[4 + i] = is_alpha((unsigned char)s[i]) ? (char)(s[i] | 0x20) : s[i];
    label[4 + n] = '\0';
    uint8_t *out = NULL;
    int rc = idn2_register_u8(NULL, (const uint8_t *)label, &out, 0);
    idn2_free(out);
    return rc == IDN2_OK;
}

/* ---- host names, e-mail addresses, URIs, UUIDs ---- */

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i]) && s[i] != '-')
            return false;
    if (n > 4 && strncasecmp(s, "xn--", 4) == 0)
        return a_label_ok(s + 4, n - 4);
    return true;
}

bool jsonformat_hostname(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    for (;;) {
        size_t n = strcspn(s, ".");
        if (!label_ok(s, n))
            return false;
        if (s[n] == '\0')
            return true;
        s += n + 1;
    }
}

/* RFC 5322 atext: what a dot-atom is made of. */
static bool is_atext(int c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool local_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    if (s[0] == '"') {
        if (n < 2 || s[n - 1] != '"')
            return false;
        for (size_t i = 1; i < n - 1; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\' && i + 1 < n - 1)
                c = (unsigned char)s[++i];
            else if (c == '"' || c == '\\')
                return false;
            if (c < 0x20 || c > 0x7E)
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (i == 0 || i == n - 1 || s[i - 1] == '.')
                return false;
        } else if (!is_atext((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

bool jsonformat_email(const char *s)
{
    const char *at = strrchr(s, '@');
    if (at == NULL || !local_part_ok(s, (size_t)(at - s)))
        return false;
    const char *domain = at + 1;
    size_t n = strlen(domain);
    if (n > 2 && domain[0] == '[' && domain[n - 1] == ']') {
        if (strncasecmp(domain + 1, "IPv6:", 5) == 0)
            return n > 7 && ipv6_span(domain + 6, n - 7);
        return ipv4_span(domain + 1, n - 2);
    }
    return jsonformat_hostname(domain);
}

/* Skip URI characters: unreserved, sub-delims, %XX and those in `extra`; NULL on a bad %. */
static const char *uri_chars(const char *p, const char *extra)
{
    for (;;) {
        int c = (unsigned char)*p;
        if (c == '%') {
            if (!is_hex((unsigned char)p[1]) || !is_hex((unsigned char)p[2]))
                return NULL;
            p += 3;
        } else if (c != '\0' && (is_alpha(c) || is_digit(c) || strchr("-._~!$&'()*+,;=", c) ||
                                 (extra != NULL && strchr(extra, c)))) {
            p++;
        } else {
            return p;
        }
    }
}

/* RFC 3986 IP-literal: the `n` bytes inside "[...]". */
static bool ip_literal_ok(const char *s, size_t n)
{
    if (n > 0 && (s[0] == 'v' || s[0] == 'V')) {
        size_t i = 1;
        while (i < n && is_hex((unsigned char)s[i]))
            i++;
        if (i == 1 || i + 1 >= n || s[i] != '.')
            return false;
        for (i++; i < n; i++)
            if (uri_chars(s + i, ":") == s + i)
                return false;
        return true;
    }
    return ipv6_span(s, n);
}

/* Whether uri_chars(p, extra) takes exactly the `n` bytes at `p`. */
static bool uri_part_ok(const char *p, size_t n, const char *extra)
{
    return uri_chars(p, extra) == p + n;
}

bool jsonformat_uri(const char *s)
{
    struct uri_parts u;
    uri_split(s, &u);
    /* Absolute: a scheme, a letter then letters, digits, "+", "-" and ".". */
    if (u.scheme == NULL || !is_alpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < u.scheme_len; i++)
        if (!is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i]) &&
            strchr("+-.", s[i]) == NULL)
            return false;
    if (u.auth != NULL) {
        struct uri_authority a;
        if (uri_authority_split(u.auth, u.auth_len, &a) != 0)
            return false;
        if (a.userinfo != NULL && !uri_part_ok(a.userinfo, a.userinfo_len, ":"))
            return false;
        if (a.host_len > 0 && a.host[0] == '[') {
            if (!ip_literal_ok(a.host + 1, a.host_len - 2))
                return false;
        } else if (!uri_part_ok(a.host, a.host_len, NULL)) {
            return false;
        }
        for (size_t i = 0; i < a.port_len; i++)
            if (!is_digit((unsigned char)a.port[i]))
                return false;
    }
    return uri_part_ok(u.path, u.path_len, ":@/") &&
           (u.query == NULL || uri_part_ok(u.query, u.query_len, ":@/?")) &&
           (u.frag == NULL || uri_part_ok(u.frag, u.frag_len, ":@/?"));
}

bool jsonformat_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
            return false;
    }
    return s[36] == '\0';
}

jsonformat_check_fn *jsonformat_find(const char *name)
{
    static const struct {
        const char *name;
        jsonformat_check_fn *check;
    } formats[] = {
        {"date-time", jsonformat_date_time}, {"date", jsonformat_date},
        {"time", jsonformat_time},           {"email", jsonformat_email},
        {"hostname", jsonformat_hostname},   {"ipv4", jsonformat_ipv4},
        {"ipv6", jsonformat_ipv6},           {"uri", jsonformat_uri},
        {"uuid", jsonformat_uuid},
    };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].check;
    return NULL;
}
