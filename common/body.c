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
 * How deep s[0..len) nests, counting brackets outside strings; stops counting once past
 * `max`. Done before parsing so that a hostile body never drives cJSON's recursion deep.
 */
static int json_depth(const char *s, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > max)
                    return deepest;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return deepest;
}

cJSON *body_parse_json(const char *body, size_t len, char *err, size_t errlen)
{
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", body[start]) != NULL && body[start] != '\0')
        start++;
    if (start == len) {
        snprintf(err, errlen, "body is empty");
        return NULL;
    }
    if (!utf8_valid(body, len, false)) {
        snprintf(err, errlen, "body is not valid UTF-8");
        return NULL;
    }
    if (json_depth(body, len, BODY_MAX_DEPTH) > BODY_MAX_DEPTH) {
        snprintf(err, errlen, "body nests deeper than %d levels", BODY_MAX_DEPTH);
        return NULL;
    }
    /* cJSON wants the terminating NUL inside the length to insist on one whole value. */
    char *copy = xstrndup(body, len);
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(copy, len + 1, &end, true);
    if (v == NULL)
        snprintf(err, errlen, "body is not valid JSON (near byte %zu)",
                 end ? (size_t)(end - copy) : (size_t)0);
    free(copy);
    return v;
}

cJSON *body_to_json(const char *ctype, const char *body, size_t len, char *err, size_t errlen)
{
    if (body_ctype_is_form(ctype))
        return body_form_object(body, len);
    return body_parse_json(body, len, err, errlen);
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
