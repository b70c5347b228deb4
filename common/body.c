/*
 * body.c - inbound bodies as JSON (see body.h).
 */
#include "body.h"

#include "hb.h"
#include "shash.h"
#include "text.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Compare the media type of a Content-Type (before any ';'), ignoring case and spaces. */
static bool ctype_is(const char *ctype, const char *want)
{
    if (ctype == NULL)
        return false;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    size_t n = strcspn(ctype, "; \t");
    return n == strlen(want) && strncasecmp(ctype, want, n) == 0;
}

bool body_ctype_is_json(const char *ctype)
{
    if (ctype_is(ctype, "application/json"))
        return true;
    if (ctype == NULL)
        return false;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    size_t n = strcspn(ctype, "; \t");
    /* type/subtype+json: a '/' before the suffix, as in application/vnd.api+json. */
    const char *slash = memchr(ctype, '/', n);
    return slash != NULL && slash > ctype && n - (size_t)(slash - ctype) > 6 &&
           strncasecmp(ctype + n - 5, "+json", 5) == 0;
}

bool body_ctype_is_form(const char *ctype)
{
    return ctype_is(ctype, "application/x-www-form-urlencoded");
}

/*
 * A strict JSON (RFC 8259) checker that builds nothing: the ingress only needs to know a
 * body is JSON unless a schema or the form decoding wants the value itself, and parsing
 * into a tree and printing it again cost it more than the rest of the request. It is also
 * the gate in front of cJSON, so it agrees with cJSON on what cJSON refuses (a lone UTF-16
 * surrogate escape) and never lets cJSON recurse past the depth limit.
 *
 * It refuses what cJSON would read differently from other JSON readers: two equal keys in
 * one object (cJSON, filters and templates take the first, most parsers the last) and, when
 * asked, a \u0000 escape (cJSON ends the string there). Problems inside the value name
 * where they are as a JSON Pointer, kept as a stack of the members being read.
 */
enum jc_problem { JC_SYNTAX, JC_TOO_DEEP, JC_UTF8, JC_NUL, JC_DUP };

/* One level of the path: a member's key (its escaped text in the body) or an index. */
struct jc_seg {
    size_t off, len, index;
    bool key;
};

/* A key seen in some object: `obj` numbers the object, `key` is the decoded key. */
struct jc_key {
    uint64_t hash;
    size_t obj, len;
    const char *key; /* NULL: empty slot */
};

/* A key that had escapes, decoded, kept until the check ends. */
struct jc_decoded {
    struct jc_decoded *next;
    char key[];
};

#define JC_SMALL_KEYS 32

struct jcheck {
    const unsigned char *s;
    size_t len, pos;
    int depth, max_depth;
    unsigned flags;
    enum jc_problem problem;
    int where;      /* path levels naming the place of a problem other than syntax */
    bool in_key;    /* the UTF-8 or NUL problem is in a key of the object at `where` */
    size_t dup_seg; /* for JC_DUP: path[dup_seg] is the repeated key */
    size_t objects; /* objects opened so far, numbering them for the key table */
    struct jc_key *keys;
    size_t keys_cap, keys_used;
    struct jc_decoded *decoded;
    const char *nul_ok_under;
    /* Last, not zeroed at the start (see body_check_json_opts). */
    struct jc_key small[JC_SMALL_KEYS];
    struct jc_seg path[BODY_CHECK_DEPTH_MAX + 1];
};

static void jc_ws(struct jcheck *c)
{
    while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
                               c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

/* Four hex digits at p; the code unit in *cu. */
static bool jc_hex4_at(const unsigned char *p, size_t avail, unsigned *cu)
{
    if (avail < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = text_hex_value(p[i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *cu = v;
    return true;
}

/* Four hex digits at pos (after "\u"); the code unit in *cu. */
static bool jc_hex4(struct jcheck *c, unsigned *cu)
{
    if (!jc_hex4_at(c->s + c->pos, c->len - c->pos, cu))
        return false;
    c->pos += 4;
    return true;
}

/*
 * A string from its opening quote; `key` says it is an object's key. Bytes past 0x7F are
 * checked as UTF-8 here, a run at a time: no valid sequence holds an ASCII byte.
 */
/* Whether a \u0000 in the string being read lies in a value under c->nul_ok_under. */
static bool jc_nul_ok(const struct jcheck *c, bool key)
{
    if (key || c->nul_ok_under == NULL || c->depth < 1 || !c->path[1].key)
        return false;
    const struct jc_seg *top = &c->path[1];
    return top->len == strlen(c->nul_ok_under) &&
           memcmp(c->s + top->off, c->nul_ok_under, top->len) == 0;
}

static bool jc_string(struct jcheck *c, bool key)
{
    c->pos++;
    while (c->pos < c->len) {
        unsigned char ch = c->s[c->pos];
        if (ch == '"') {
            c->pos++;
            return true;
        }
        if (ch < 0x20)
            return false;
        if (ch >= 0x80) {
            size_t start = c->pos;
            while (c->pos < c->len && c->s[c->pos] >= 0x80)
                c->pos++;
            if (!utf8_valid((const char *)c->s + start, c->pos - start, false)) {
                c->pos = start;
                c->problem = JC_UTF8;
                c->in_key = key;
                return false;
            }
            continue;
        }
        if (ch != '\\') {
            c->pos++;
            continue;
        }
        if (++c->pos >= c->len)
            return false;
        ch = c->s[c->pos++];
        if (strchr("\"\\/bfnrt", ch) != NULL && ch != '\0')
            continue;
        unsigned cu, lo;
        if (ch != 'u' || !jc_hex4(c, &cu))
            return false;
        if (cu == 0 && (c->flags & BODY_JSON_NO_NUL) && !jc_nul_ok(c, key)) {
            c->problem = JC_NUL;
            c->in_key = key;
            return false;
        }
        if (cu >= 0xDC00 && cu <= 0xDFFF)
            return false;
        if (cu >= 0xD800 && cu <= 0xDBFF) {
            /* A high surrogate needs its low half at once, as cJSON insists. */
            if (c->len - c->pos < 2 || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u')
                return false;
            c->pos += 2;
            if (!jc_hex4(c, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return false;
        }
    }
    return false;
}

/* Append code point cp as UTF-8 at out; returns the bytes written. */
static size_t jc_put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Decode the escaped text of a string jc_string accepted (len bytes, quotes excluded) into
 * out, which has room for len bytes (no escape decodes longer than itself). Returns the
 * decoded length; "\u0000" becomes a NUL byte.
 */
static size_t jc_unescape(const unsigned char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] != '\\') {
            out[n++] = (char)s[i++];
            continue;
        }
        unsigned char e = s[i + 1];
        i += 2;
        if (e != 'u') {
            static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
            const char *f = strchr(from, e);
            out[n++] = f ? to[f - from] : (char)e;
            continue;
        }
        unsigned cu = 0, lo = 0;
        jc_hex4_at(s + i, len - i, &cu);
        i += 4;
        if (cu >= 0xD800 && cu <= 0xDBFF) {
            jc_hex4_at(s + i + 2, len - i - 2, &lo);
            i += 6;
            cu = 0x10000 + ((cu - 0xD800) << 10) + (lo - 0xDC00);
        }
        n += jc_put_utf8(out + n, cu);
    }
    return n;
}

/*
 * Record the key at path[c->depth] for object number `obj`; false when that object has it
 * already. The keyed hash (see shash.h) keeps a sender from choosing keys that share a slot,
 * so checking stays linear in the number of keys.
 */
static bool jc_key_new(struct jcheck *c, size_t obj)
{
    const struct jc_seg *seg = &c->path[c->depth];
    const char *key = (const char *)c->s + seg->off;
    size_t len = seg->len;
    if (memchr(key, '\\', len) != NULL) {
        /* "a" and "\u0061" are the same key. */
        struct jc_decoded *d = xmalloc(sizeof(*d) + len + 1);
        len = jc_unescape(c->s + seg->off, len, d->key);
        d->next = c->decoded;
        c->decoded = d;
        key = d->key;
    }
    uint64_t hash = shash(key, len) ^ (uint64_t)obj * 0x9E3779B97F4A7C15u;
    if (2 * (c->keys_used + 1) > c->keys_cap) {
        size_t cap = c->keys_cap ? c->keys_cap * 2 : JC_SMALL_KEYS;
        struct jc_key *keys = c->small;
        if (cap == JC_SMALL_KEYS)
            memset(keys, 0, sizeof(c->small));
        else
            keys = xcalloc(cap, sizeof(*keys));
        for (size_t i = 0; i < c->keys_cap; i++) {
            if (c->keys[i].key == NULL)
                continue;
            size_t j = c->keys[i].hash & (cap - 1);
            while (keys[j].key != NULL)
                j = (j + 1) & (cap - 1);
            keys[j] = c->keys[i];
        }
        if (c->keys != c->small)
            free(c->keys);
        c->keys = keys;
        c->keys_cap = cap;
    }
    size_t i = hash & (c->keys_cap - 1);
    for (; c->keys[i].key != NULL; i = (i + 1) & (c->keys_cap - 1)) {
        const struct jc_key *k = &c->keys[i];
        if (k->hash == hash && k->obj == obj && k->len == len && memcmp(k->key, key, len) == 0)
            return false;
    }
    c->keys[i] = (struct jc_key){.hash = hash, .obj = obj, .len = len, .key = key};
    c->keys_used++;
    return true;
}

static bool jc_digits(struct jcheck *c)
{
    size_t start = c->pos;
    while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9')
        c->pos++;
    return c->pos > start;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool jc_number(struct jcheck *c)
{
    if (c->s[c->pos] == '-')
        c->pos++;
    if (c->pos < c->len && c->s[c->pos] == '0')
        c->pos++;
    else if (!jc_digits(c))
        return false;
    if (c->pos < c->len && c->s[c->pos] == '.') {
        c->pos++;
        if (!jc_digits(c))
            return false;
    }
    if (c->pos < c->len && (c->s[c->pos] == 'e' || c->s[c->pos] == 'E')) {
        c->pos++;
        if (c->pos < c->len && (c->s[c->pos] == '+' || c->s[c->pos] == '-'))
            c->pos++;
        if (!jc_digits(c))
            return false;
    }
    return true;
}

static bool jc_literal(struct jcheck *c, const char *word)
{
    size_t n = strlen(word);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
        return false;
    c->pos += n;
    return true;
}

static bool jc_value(struct jcheck *c);

/*
 * An array or object from its opening bracket. Recursion is bounded by max_depth. On
 * failure the path is left as it was, naming where the problem is.
 */
static bool jc_container(struct jcheck *c, bool object)
{
    if (++c->depth > c->max_depth) {
        c->problem = JC_TOO_DEEP;
        return false;
    }
    size_t obj = object ? ++c->objects : 0;
    struct jc_seg *seg = &c->path[c->depth];
    *seg = (struct jc_seg){.key = object};
    unsigned char close = object ? '}' : ']';
    c->pos++;
    jc_ws(c);
    if (c->pos < c->len && c->s[c->pos] == close) {
        c->pos++;
        c->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            size_t start = c->pos;
            if (c->pos >= c->len || c->s[c->pos] != '"')
                return false;
            if (!jc_string(c, true)) {
                c->where = c->depth - 1;
                return false;
            }
            seg->off = start + 1;
            seg->len = c->pos - start - 2;
            if (!(c->flags & BODY_JSON_ALLOW_DUPS) && !jc_key_new(c, obj)) {
                c->pos = start;
                c->problem = JC_DUP;
                c->where = c->depth - 1;
                c->dup_seg = (size_t)c->depth;
                return false;
            }
            jc_ws(c);
            if (c->pos >= c->len || c->s[c->pos] != ':')
                return false;
            c->pos++;
            jc_ws(c);
        }
        if (!jc_value(c))
            return false;
        jc_ws(c);
        if (c->pos >= c->len)
            return false;
        if (c->s[c->pos] == close) {
            c->pos++;
            c->depth--;
            return true;
        }
        if (c->s[c->pos] != ',')
            return false;
        c->pos++;
        seg->index++;
        jc_ws(c);
    }
}

static bool jc_value(struct jcheck *c)
{
    if (c->pos >= c->len)
        return false;
    size_t start = c->pos;
    bool ok;
    switch (c->s[c->pos]) {
    case '{':
        return jc_container(c, true);
    case '[':
        return jc_container(c, false);
    case '"':
        c->where = c->depth;
        return jc_string(c, false);
    case 't':
        ok = jc_literal(c, "true");
        break;
    case 'f':
        ok = jc_literal(c, "false");
        break;
    case 'n':
        ok = jc_literal(c, "null");
        break;
    default:
        return (c->s[c->pos] == '-' || (c->s[c->pos] >= '0' && c->s[c->pos] <= '9')) &&
               jc_number(c);
    }
    if (!ok)
        c->pos = start; /* a misspelt word is wrong from its first letter */
    return ok;
}

/* Append s (n bytes, valid UTF-8, may hold NULs) to the message at *o, not past `end`
 * (cut at a character boundary, then "..."), with NUL shown as \u0000 and, in a pointer,
 * '~' and '/' escaped as RFC 6901 says. */
static void jc_msg_put(char **o, const char *end, const char *s, size_t n, bool pointer)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *rep = s + i;
        size_t rlen = 1;
        if (ch == '\0') {
            rep = "\\u0000";
            rlen = 6;
        } else if (pointer && (ch == '~' || ch == '/')) {
            rep = ch == '~' ? "~0" : "~1";
            rlen = 2;
        }
        /* Whole characters only: a lead byte needs room for its continuation bytes too. */
        size_t need = rlen;
        if (ch >= 0xC0)
            need = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
        if (end - *o < (ptrdiff_t)(need + 4)) {
            if (end - *o >= 4) {
                memcpy(*o, "...", 3);
                *o += 3;
            }
            if (end - *o >= 1)
                **o = '\0';
            return;
        }
        memcpy(*o, rep, rlen);
        *o += rlen;
    }
    if (end - *o >= 1)
        **o = '\0';
}

/* Decode the key of path segment `seg` and append it at *o. */
static void jc_msg_key(const struct jcheck *c, const struct jc_seg *seg, char **o, const char *end,
                       bool pointer)
{
    char *key = xmalloc(seg->len + 1);
    size_t n = jc_unescape(c->s + seg->off, seg->len, key);
    jc_msg_put(o, end, key, n, pointer);
    free(key);
}

/* The JSON Pointer of the first `levels` path levels ("/" for none), at *o. */
static void jc_msg_pointer(const struct jcheck *c, int levels, char **o, const char *end)
{
    if (levels == 0) {
        jc_msg_put(o, end, "/", 1, false);
        return;
    }
    for (int d = 1; d <= levels; d++) {
        const struct jc_seg *seg = &c->path[d];
        jc_msg_put(o, end, "/", 1, false);
        if (seg->key) {
            jc_msg_key(c, seg, o, end, true);
        } else {
            char num[24];
            int n = snprintf(num, sizeof(num), "%zu", seg->index);
            jc_msg_put(o, end, num, (size_t)n, false);
        }
    }
}

/* Say what c found, naming the text `subject`. */
static void jc_message(const struct jcheck *c, const char *subject, char *err, size_t errlen)
{
    char msg[HB_ERR_LEN];
    /* Cut to fit err at a character boundary: the message may end up in JSON text. */
    char *o = msg, *end = msg + (errlen < sizeof(msg) ? errlen : sizeof(msg));
    int n = 0;
    switch (c->problem) {
    case JC_TOO_DEEP:
        snprintf(err, errlen, "%s nests deeper than %d levels", subject, c->max_depth);
        return;
    case JC_SYNTAX:
        /* Old words for bytes that are not UTF-8 outside any string. */
        if (!utf8_valid((const char *)c->s, c->len, false))
            snprintf(err, errlen, "%s is not valid UTF-8", subject);
        else
            snprintf(err, errlen, "%s is not valid JSON (near byte %zu)", subject, c->pos);
        return;
    case JC_UTF8:
    case JC_NUL:
        if (c->where == 0 && !c->in_key) {
            snprintf(err, errlen,
                     c->problem == JC_UTF8 ? "%s is not valid UTF-8"
                                           : "%s has \\u0000 in the string",
                     subject);
            return;
        }
        n = snprintf(msg, (size_t)(end - o), "%s %s%s at ", subject,
                     c->problem == JC_UTF8 ? "is not valid UTF-8" : "has \\u0000",
                     c->in_key              ? " in a key"
                     : c->problem == JC_NUL ? " in the string"
                                            : "");
        break;
    case JC_DUP:
        n = snprintf(msg, (size_t)(end - o), "%s has duplicate key \"", subject);
        o += n < end - o ? n : end - o - 1;
        /* Leave room for the place after the key. */
        jc_msg_key(c, &c->path[c->dup_seg], &o, end - o > 48 ? end - 32 : o, false);
        n = snprintf(o, (size_t)(end - o), "\" at ");
        break;
    }
    o += n < end - o ? n : end - o - 1;
    jc_msg_pointer(c, c->where, &o, end);
    snprintf(err, errlen, "%s", msg);
}

bool body_check_json_opts(const char *body, size_t len, const struct body_json_check *opts,
                          bool *is_string, char *err, size_t errlen)
{
    const char *subject = opts && opts->subject ? opts->subject : "body";
    int max_depth = opts && opts->max_depth > 0 ? opts->max_depth : BODY_MAX_DEPTH;
    if (max_depth > BODY_CHECK_DEPTH_MAX)
        max_depth = BODY_CHECK_DEPTH_MAX;
    /* Everything but the path and the small key table, which are written before they are
     * read: zeroing those 5 KB on every inbound request is time for nothing. */
    struct jcheck check;
    struct jcheck *c = &check;
    memset(c, 0, offsetof(struct jcheck, small));
    c->s = (const unsigned char *)body;
    c->len = body ? len : 0;
    c->max_depth = max_depth;
    c->flags = opts ? opts->flags : 0;
    c->nul_ok_under = opts ? opts->nul_ok_under : NULL;
    bool ok = false;
    jc_ws(c);
    if (c->pos == c->len) {
        snprintf(err, errlen, "%s is empty", subject);
        goto out;
    }
    if (is_string != NULL)
        *is_string = c->s[c->pos] == '"';
    ok = jc_value(c);
    if (ok) {
        jc_ws(c);
        ok = c->pos == c->len;
        c->problem = JC_SYNTAX;
    }
    if (!ok)
        jc_message(c, subject, err, errlen);
out:
    if (c->keys != c->small)
        free(c->keys);
    while (c->decoded != NULL) {
        struct jc_decoded *next = c->decoded->next;
        free(c->decoded);
        c->decoded = next;
    }
    return ok;
}

bool body_check_json(const char *body, size_t len, bool *is_string, char *err, size_t errlen)
{
    return body_check_json_opts(body, len, NULL, is_string, err, errlen);
}

cJSON *body_parse_json(const char *body, size_t len, char *err, size_t errlen)
{
    if (!body_check_json(body, len, NULL, err, errlen))
        return NULL;
    /* cJSON wants the terminating NUL inside the length to insist on one whole value. */
    char *copy = xstrndup(body, len);
    cJSON *v = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, true);
    if (v == NULL)
        snprintf(err, errlen, "body is not valid JSON");
    free(copy);
    return v;
}

cJSON *body_to_json(const char *ctype, const char *body, size_t len, char *err, size_t errlen)
{
    if (body_ctype_is_form(ctype))
        return body_form_object(body, len);
    return body_parse_json(body, len, err, errlen);
}

/* ---- U+0000 kept whole for the schema check (body_to_json_whole) ---- */

/*
 * A copy of the JSON text s[0..len) (well-formed) with each \u0000 escape inside a string
 * written as the bytes C0 80, which valid UTF-8 never holds, so that cJSON keeps the
 * string's text past it. *outlen is the copy's length.
 */
static char *body_nul_escapes_to_c080(const char *s, size_t len, size_t *outlen)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            in_string = !in_string;
        } else if (in_string && s[i] == '\\' && i + 1 < len) {
            if (i + 5 < len && memcmp(s + i + 1, "u0000", 5) == 0) {
                out[o++] = (char)0xC0;
                out[o++] = (char)0x80;
                i += 5;
            } else {
                out[o++] = s[i++];
                out[o++] = s[i];
            }
            continue;
        }
        out[o++] = s[i];
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Give each string holding C0 80 its whole text as a raw child and its valuestring as cJSON
 * would have made it (ended at the first U+0000); keys are ended there too. */
static void body_keep_whole_strings(cJSON *v)
{
    for (; v != NULL; v = v->next) {
        char *cut = v->string != NULL ? strstr(v->string, "\xC0\x80") : NULL;
        if (cut != NULL)
            *cut = '\0';
        if (cJSON_IsString(v) && v->valuestring != NULL &&
            (cut = strstr(v->valuestring, "\xC0\x80")) != NULL) {
            v->child = cJSON_CreateRaw(v->valuestring);
            *cut = '\0';
        } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
            body_keep_whole_strings(v->child);
        }
    }
}

cJSON *body_json_whole(const char *text, size_t len, const char **end)
{
    /* A raw C0 (never in valid UTF-8) could pass for ours: such text is parsed as it is. */
    if (text == NULL || memmem(text, len, "\\u0000", 6) == NULL || memchr(text, 0xC0, len) != NULL)
        return cJSON_ParseWithLengthOpts(text, len + 1, end, true);
    size_t n;
    char *copy = body_nul_escapes_to_c080(text, len, &n);
    cJSON *v = cJSON_ParseWithLengthOpts(copy, n + 1, NULL, true);
    free(copy);
    if (v == NULL) /* again on the text itself, for where it goes wrong */
        return cJSON_ParseWithLengthOpts(text, len + 1, end, true);
    body_keep_whole_strings(v);
    if (end != NULL)
        *end = text + len;
    return v;
}

static cJSON *body_parse_json_whole(const char *body, size_t len, char *err, size_t errlen)
{
    if (body == NULL || memmem(body, len, "\\u0000", 6) == NULL)
        return body_parse_json(body, len, err, errlen);
    /* Checked first: valid UTF-8 holds no C0 80 of its own to be confused with ours. */
    if (!body_check_json(body, len, NULL, err, errlen))
        return NULL;
    size_t n;
    char *copy = body_nul_escapes_to_c080(body, len, &n);
    cJSON *v = cJSON_ParseWithLengthOpts(copy, n + 1, NULL, true);
    free(copy);
    if (v == NULL) {
        snprintf(err, errlen, "body is not valid JSON");
        return NULL;
    }
    body_keep_whole_strings(v);
    return v;
}

cJSON *body_to_json_whole(const char *ctype, const char *body, size_t len, char *err, size_t errlen)
{
    if (body_ctype_is_form(ctype))
        return body_form_object(body, len);
    return body_parse_json_whole(body, len, err, errlen);
}

/*
 * Names seen so far, by hash, pointing at their item: "last value wins" must not cost a
 * scan of the object per pair, or a body of 100,000 names would hold the loop for a minute.
 * The hash is keyed (shash.h): with a fixed one, a sender could pick names that all share
 * a slot and make every insert scan the table just the same.
 */
struct form_seen {
    cJSON **items;
    size_t cap, used;
};

/* The slot holding `key`, or the empty slot where it goes. */
static cJSON **form_slot(cJSON **items, size_t cap, const char *key)
{
    size_t i = shash(key, strlen(key)) & (cap - 1);
    while (items[i] != NULL && strcmp(items[i]->string, key) != 0)
        i = (i + 1) & (cap - 1);
    return &items[i];
}

static void form_seen_grow(struct form_seen *f)
{
    size_t cap = f->cap ? f->cap * 2 : 64;
    cJSON **items = xcalloc(cap, sizeof(*items));
    for (size_t i = 0; i < f->cap; i++)
        if (f->items[i] != NULL)
            *form_slot(items, cap, f->items[i]->string) = f->items[i];
    free(f->items);
    f->items = items;
    f->cap = cap;
}

cJSON *body_form_object(const char *s, size_t len)
{
    cJSON *q = cJSON_CreateObject();
    struct form_seen seen = {0};
    size_t i = 0;
    while (i < len) {
        const char *p = s + i;
        const char *amp = memchr(p, '&', len - i);
        size_t plen = amp ? (size_t)(amp - p) : len - i;
        if (plen > 0) {
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq ? (size_t)(eq - p) : plen;
            const char *val = eq ? eq + 1 : p + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;

            char *buf = xmalloc(plen + 1);
            size_t kdec = text_form_decode(p, klen, buf);
            /* Decoded bytes may be anything (%00, %FF): keep the JSON valid. */
            char *key = utf8_sanitize(buf, kdec, false);
            size_t vdec = text_form_decode(val, vlen, buf);
            char *value = utf8_sanitize(buf, vdec, false);
            free(buf);
            if (2 * (seen.used + 1) > seen.cap)
                form_seen_grow(&seen);
            cJSON **slot = form_slot(seen.items, seen.cap, key);
            if (*slot != NULL) {
                /* Last value wins, as most web frameworks read a repeated parameter. */
                cJSON_SetValuestring(*slot, value);
            } else {
                cJSON_AddStringToObject(q, key, value);
                /* cJSON appends: the new item is the last child, reached via child->prev. */
                *slot = q->child->prev;
                seen.used++;
            }
            free(value);
            free(key);
        }
        i += plen + 1;
    }
    free(seen.items);
    return q;
}
