/*
 * jsonfind.c - see jsonfind.h. The body has passed body_check_json, so the walk only
 * needs to find where values start and end; every step still stays inside body[0..len)
 * and gives up (false) on anything unexpected, so that any bytes are safe.
 */
#include "jsonfind.h"

#include "body.h"
#include "xalloc.h"

#include <cjson/cJSON.h>
#include <string.h>

/* The characters of a template name or segment (template.h). */
static bool jsonfind_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* The segments part ("a.b") of a single payload reference, or NULL for another shape. */
static const char *jsonfind_path(const char *tmpl, size_t *path_len)
{
    bool delimited = strncmp(tmpl, "${payload.", 10) == 0;
    if (!delimited && strncmp(tmpl, "$payload.", 9) != 0)
        return NULL;
    const char *path = tmpl + (delimited ? 10 : 9), *p = path;
    for (;;) {
        const char *seg = p;
        while (jsonfind_name_char((unsigned char)*p))
            p++;
        if (p == seg)
            return NULL;
        if (*p != '.')
            break;
        p++;
    }
    *path_len = (size_t)(p - path);
    if (delimited && *p++ != '}')
        return NULL;
    return *p == '\0' ? path : NULL;
}

bool jsonfind_is_payload_ref(const char *tmpl)
{
    size_t n;
    return jsonfind_path(tmpl, &n) != NULL;
}

static const char *jsonfind_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the string starting at p (a '"'); NULL when it does not end. */
static const char *jsonfind_skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the value starting at p (no whitespace before it); NULL when it does not end. */
static const char *jsonfind_skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return jsonfind_skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = jsonfind_skip_string(p, end);
                if (p == NULL)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p > start ? p : NULL;
}

/* Whether the key string k[0..klen) (quotes included) names segment seg[0..slen) as
 * cJSON's tree would: escapes decoded, compared up to a decoded U+0000 (cJSON keeps keys
 * as C strings). *ok is false when the key cannot be decoded. */
static bool jsonfind_key_is(const char *k, size_t klen, const char *seg, size_t slen, bool *ok)
{
    *ok = true;
    if (memchr(k, '\\', klen) == NULL)
        return klen - 2 == slen && memcmp(k + 1, seg, slen) == 0;
    char err[64];
    cJSON *s = body_parse_json(k, klen, err, sizeof(err));
    if (!cJSON_IsString(s)) {
        *ok = false;
        cJSON_Delete(s);
        return false;
    }
    bool is = strlen(s->valuestring) == slen && memcmp(s->valuestring, seg, slen) == 0;
    cJSON_Delete(s);
    return is;
}

/* Past the value at *q to the next one of its object or array: 1 with *q on it, 0 at
 * `close` (the container ends), -1 on malformed text. */
static int jsonfind_next(const char **q, const char *end, char close)
{
    const char *s = jsonfind_skip_value(*q, end);
    if (s == NULL)
        return -1;
    s = jsonfind_ws(s, end);
    if (s < end && *s == close)
        return 0;
    if (s >= end || *s != ',')
        return -1;
    *q = jsonfind_ws(s + 1, end);
    return 1;
}

/* 1 with *p at the value of member seg of the object at *p, 0 when there is none, -1
 * when the text cannot be followed. The first member of that name wins, as in cJSON. */
static int jsonfind_member(const char **p, const char *end, const char *seg, size_t slen)
{
    const char *q = jsonfind_ws(*p + 1, end);
    if (q < end && *q == '}')
        return 0;
    while (q < end && *q == '"') {
        const char *kend = jsonfind_skip_string(q, end);
        if (kend == NULL)
            return -1;
        bool ok;
        bool is = jsonfind_key_is(q, (size_t)(kend - q), seg, slen, &ok);
        if (!ok)
            return -1;
        q = jsonfind_ws(kend, end);
        if (q >= end || *q != ':')
            return -1;
        q = jsonfind_ws(q + 1, end);
        if (is) {
            *p = q;
            return 1;
        }
        int more = jsonfind_next(&q, end, '}');
        if (more <= 0)
            return more;
    }
    return -1;
}

/* As jsonfind_member for element seg (all digits, at most 9 as in the template engine)
 * of the array at *p. */
static int jsonfind_element(const char **p, const char *end, const char *seg, size_t slen)
{
    if (slen > 9)
        return 0;
    long idx = 0;
    for (size_t k = 0; k < slen; k++) {
        if (seg[k] < '0' || seg[k] > '9')
            return 0;
        idx = idx * 10 + (seg[k] - '0');
    }
    const char *q = jsonfind_ws(*p + 1, end);
    if (q < end && *q == ']')
        return 0;
    for (;;) {
        if (idx-- == 0) {
            *p = q;
            return 1;
        }
        int more = jsonfind_next(&q, end, ']');
        if (more <= 0)
            return more;
    }
}

bool jsonfind_payload_ref(const char *tmpl, const char *body, size_t len, struct jsonfind_text *out)
{
    *out = (struct jsonfind_text){"", 0, NULL};
    size_t path_len;
    const char *path = jsonfind_path(tmpl, &path_len);
    if (path == NULL || body == NULL)
        return false;
    const char *end = body + len, *p = jsonfind_ws(body, end);
    if (p >= end)
        return false;
    const char *path_end = path + path_len;
    while (path < path_end) {
        const char *seg = path;
        while (path < path_end && *path != '.')
            path++;
        size_t slen = (size_t)(path - seg);
        if (path < path_end)
            path++;
        int found = 0;
        if (p < end && *p == '{')
            found = jsonfind_member(&p, end, seg, slen);
        else if (p < end && *p == '[')
            found = jsonfind_element(&p, end, seg, slen);
        else if (jsonfind_skip_value(p, end) == NULL)
            return false;
        if (found < 0)
            return false;
        if (found == 0)
            return true; /* missing: "" */
    }
    const char *vend = jsonfind_skip_value(p, end);
    if (vend == NULL)
        return false;
    size_t vlen = (size_t)(vend - p);
    if (*p == '"' && memchr(p, '\\', vlen) == NULL) {
        /* The common case: a string as it is in the body (checked: valid UTF-8, no
         * control characters). */
        out->ptr = p + 1;
        out->len = vlen - 2;
        return true;
    }
    char err[64];
    cJSON *v = body_parse_json(p, vlen, err, sizeof(err));
    if (v == NULL)
        return false;
    out->owned = cJSON_IsString(v) ? xstrdup(v->valuestring) : cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (out->owned == NULL)
        return false;
    out->ptr = out->owned;
    out->len = strlen(out->owned);
    return true;
}
