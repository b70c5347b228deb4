/*
 * body.c - inbound bodies as JSON (see body.h).
 */
#include "body.h"

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
 * surrogate escape) and never lets cJSON recurse past BODY_MAX_DEPTH.
 */
struct jcheck {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    bool too_deep;
};

static void jc_ws(struct jcheck *c)
{
    while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
                               c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

/* Four hex digits at pos (after "\u"); the code unit in *cu. */
static bool jc_hex4(struct jcheck *c, unsigned *cu)
{
    if (c->len - c->pos < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = text_hex_value(c->s[c->pos + (size_t)i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    c->pos += 4;
    *cu = v;
    return true;
}

/* A string from its opening quote. Bytes past 0x7F were checked as UTF-8 already. */
static bool jc_string(struct jcheck *c)
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

/* An array or object from its opening bracket. Recursion is bounded by BODY_MAX_DEPTH. */
static bool jc_container(struct jcheck *c, bool object)
{
    if (++c->depth > BODY_MAX_DEPTH) {
        c->too_deep = true;
        return false;
    }
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
            if (c->pos >= c->len || c->s[c->pos] != '"' || !jc_string(c))
                return false;
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
        return jc_string(c);
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

bool body_check_json(const char *body, size_t len, bool *is_string, char *err, size_t errlen)
{
    struct jcheck c = {.s = (const unsigned char *)body, .len = body ? len : 0};
    jc_ws(&c);
    if (c.pos == c.len) {
        snprintf(err, errlen, "body is empty");
        return false;
    }
    if (!utf8_valid(body, len, false)) {
        snprintf(err, errlen, "body is not valid UTF-8");
        return false;
    }
    if (is_string != NULL)
        *is_string = c.s[c.pos] == '"';
    bool ok = jc_value(&c);
    if (ok) {
        jc_ws(&c);
        ok = c.pos == c.len;
    }
    if (c.too_deep)
        snprintf(err, errlen, "body nests deeper than %d levels", BODY_MAX_DEPTH);
    else if (!ok)
        snprintf(err, errlen, "body is not valid JSON (near byte %zu)", c.pos);
    return ok;
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
 */
struct form_seen {
    cJSON **items;
    size_t cap, used;
};

/* The slot holding `key`, or the empty slot where it goes. */
static cJSON **form_slot(cJSON **items, size_t cap, const char *key)
{
    size_t i = text_hash(key) & (cap - 1);
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
