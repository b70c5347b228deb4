/*
 * source.c - the bridge fields response, challenge, dedup and split (see source.h):
 * checked at save, kept in the bridge's `sources` object, written to the row and the API.
 */
#include "source.h"

#include "bridge.h"
#include "filter.h"
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const source_fields[] = {"response", "challenge", "dedup", "split"};

#define SOURCE_NFIELDS (sizeof(source_fields) / sizeof(source_fields[0]))

/* Store `v` (a copy) as b->sources[name], or drop the member for null. */
static void source_put(struct bridge *b, const char *name, const cJSON *v)
{
    if (b->sources != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(b->sources, name);
    if (!cJSON_IsNull(v)) {
        if (b->sources == NULL)
            b->sources = cJSON_CreateObject();
        cJSON_AddItemToObject(b->sources, name, cJSON_Duplicate(v, true));
    }
    if (b->sources != NULL && b->sources->child == NULL) {
        cJSON_Delete(b->sources);
        b->sources = NULL;
    }
}

const cJSON *source_get(const struct bridge *b, const char *name)
{
    return b->sources ? cJSON_GetObjectItemCaseSensitive(b->sources, name) : NULL;
}

/* Every member of `v` must be one of `names` (a NULL-terminated list). */
static int source_members(const cJSON *v, const char *const *names, char *err, size_t errlen)
{
    for (const cJSON *m = v->child; m != NULL; m = m->next) {
        size_t i = 0;
        while (names[i] != NULL && strcmp(names[i], m->string) != 0)
            i++;
        if (names[i] == NULL) {
            snprintf(err, errlen, "%.64s: is not a known member", m->string);
            return -1;
        }
        for (const cJSON *o = m->next; o != NULL; o = o->next) {
            if (strcmp(o->string, m->string) == 0) {
                snprintf(err, errlen, "%s: appears more than once", m->string);
                return -1;
            }
        }
    }
    return 0;
}

/* An optional content type: printable ASCII, no CR/LF (it becomes a header). */
static int source_ctype(const cJSON *v, char *err, size_t errlen)
{
    if (v == NULL)
        return 0;
    bool ok = cJSON_IsString(v) && v->valuestring[0] != '\0' &&
              strlen(v->valuestring) <= SOURCE_CTYPE_MAX;
    for (const unsigned char *c = ok ? (const unsigned char *)v->valuestring : NULL; c && *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            ok = false;
    if (!ok) {
        snprintf(err, errlen, "content_type: must be a media type of at most %d printable bytes",
                 SOURCE_CTYPE_MAX);
        return -1;
    }
    return 0;
}

/* A template string of at most SOURCE_TEXT_MAX bytes. */
static int source_template(const cJSON *v, const char *name, bool required, char *err,
                           size_t errlen)
{
    char terr[200];
    if (v == NULL) {
        if (!required)
            return 0;
        snprintf(err, errlen, "%s: is required", name);
        return -1;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) > SOURCE_TEXT_MAX ||
        (required && v->valuestring[0] == '\0')) {
        snprintf(err, errlen, "%s: must be a %sstring of at most %d bytes", name,
                 required ? "non-empty " : "", SOURCE_TEXT_MAX);
        return -1;
    }
    if (tmpl_check(v->valuestring, terr, sizeof(terr)) != 0) {
        snprintf(err, errlen, "%s: %s", name, terr);
        return -1;
    }
    return 0;
}

/* The answer is made after the job is queued (or found queued, for a duplicate): only the
 * first event's id and the bridge are known then, so the body may refer to nothing else. */
static int source_event_refs_only(const char *s, char *err, size_t errlen)
{
    for (const char *p = s; *p; p++) {
        if (*p != '$')
            continue;
        if (p[1] == '$') {
            p++;
            continue;
        }
        const char *r = p[1] == '{' ? p + 2 : p + 1;
        if (!((r[0] >= 'a' && r[0] <= 'z') || (r[0] >= 'A' && r[0] <= 'Z')))
            continue;
        size_t n = strncmp(r, "event.id", 8) == 0 ? 8 : strncmp(r, "bridge.id", 9) == 0 ? 9 : 0;
        bool name_goes_on =
            n > 0 && (r[n] == '.' || r[n] == '_' || r[n] == '-' || (r[n] >= 'a' && r[n] <= 'z') ||
                      (r[n] >= 'A' && r[n] <= 'Z') || (r[n] >= '0' && r[n] <= '9'));
        if (n == 0 || name_goes_on) {
            snprintf(err, errlen, "body: may only refer to $event.id and $bridge.id (position %zu)",
                     (size_t)(p - s));
            return -1;
        }
    }
    return 0;
}

int source_set_response(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    static const char *const names[] = {"status", "body", "content_type", NULL};
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            snprintf(err, errlen, "must be an object such as {\"status\": 200} or null");
            return -1;
        }
        if (source_members(v, names, err, errlen) != 0)
            return -1;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(v, "status");
        if (st != NULL && (!cJSON_IsNumber(st) || st->valuedouble != (double)(int)st->valuedouble ||
                           st->valuedouble < 200 || st->valuedouble > 299)) {
            snprintf(err, errlen, "status: must be an integer in 200..299");
            return -1;
        }
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(v, "body");
        if (source_template(body, "body", false, err, errlen) != 0 ||
            (body != NULL && source_event_refs_only(body->valuestring, err, errlen) != 0) ||
            source_ctype(cJSON_GetObjectItemCaseSensitive(v, "content_type"), err, errlen) != 0)
            return -1;
    }
    source_put(b, "response", v);
    return 0;
}

int source_set_challenge(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    static const char *const names[] = {"when", "respond", "content_type", NULL};
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            snprintf(err, errlen,
                     "must be an object such as {\"when\": {…}, \"respond\": \"…\"} or null");
            return -1;
        }
        if (source_members(v, names, err, errlen) != 0)
            return -1;
        const cJSON *when = cJSON_GetObjectItemCaseSensitive(v, "when");
        char ferr[200];
        if (when == NULL || !cJSON_IsObject(when) || when->child == NULL) {
            snprintf(err, errlen, "when: must be a non-empty filter object");
            return -1;
        }
        if (filter_check(when, ferr, sizeof(ferr)) != 0) {
            snprintf(err, errlen, "when: %s", ferr);
            return -1;
        }
        if (source_template(cJSON_GetObjectItemCaseSensitive(v, "respond"), "respond", true, err,
                            errlen) != 0 ||
            source_ctype(cJSON_GetObjectItemCaseSensitive(v, "content_type"), err, errlen) != 0)
            return -1;
    }
    source_put(b, "challenge", v);
    return 0;
}

int source_set_dedup(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    static const char *const names[] = {"key", "window_seconds", "on_duplicate", NULL};
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            snprintf(err, errlen, "must be an object such as {\"key\": \"$payload.id\"} or null");
            return -1;
        }
        if (source_members(v, names, err, errlen) != 0 ||
            source_template(cJSON_GetObjectItemCaseSensitive(v, "key"), "key", true, err, errlen) !=
                0)
            return -1;
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "window_seconds");
        if (w != NULL && (!cJSON_IsNumber(w) || w->valuedouble != (double)(long)w->valuedouble ||
                          w->valuedouble < 1 || w->valuedouble > SOURCE_DEDUP_WINDOW_MAX)) {
            snprintf(err, errlen, "window_seconds: must be an integer in 1..%d",
                     SOURCE_DEDUP_WINDOW_MAX);
            return -1;
        }
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(v, "on_duplicate");
        if (d != NULL && (!cJSON_IsString(d) || (strcmp(d->valuestring, "accept") != 0 &&
                                                 strcmp(d->valuestring, "reject") != 0))) {
            snprintf(err, errlen, "on_duplicate: must be accept or reject");
            return -1;
        }
    }
    source_put(b, "dedup", v);
    return 0;
}

int source_set_split(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (!cJSON_IsNull(v)) {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        char terr[200];
        cJSON *none = NULL;
        struct tmpl_ctx empty = {0};
        /* Exactly one reference, and into the body: only the body can hold the array. */
        bool payload = strncmp(s, "$payload", 8) == 0 || strncmp(s, "${payload", 9) == 0;
        if (!payload || tmpl_ref_resolve(s, &empty, &none, terr, sizeof(terr)) != 0) {
            snprintf(err, errlen,
                     "must be null or one $payload reference to an array, e.g. "
                     "\"$payload.events\"");
            return -1;
        }
        cJSON_Delete(none);
    }
    source_put(b, "split", v);
    return 0;
}

void source_to_json(const struct bridge *b, cJSON *o)
{
    for (size_t i = 0; i < SOURCE_NFIELDS; i++) {
        const cJSON *v = source_get(b, source_fields[i]);
        cJSON_AddItemToObject(o, source_fields[i],
                              v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
    }
}

bool source_from_store(const cJSON *row, cJSON **sources, const char **bad)
{
    cJSON_Delete(*sources);
    *sources = NULL;
    for (size_t i = 0; i < SOURCE_NFIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, source_fields[i]);
        if (v == NULL || cJSON_IsNull(v))
            continue;
        bool ok = i == 3 ? cJSON_IsString(v) : cJSON_IsObject(v);
        if (!ok) {
            *bad = source_fields[i];
            cJSON_Delete(*sources);
            *sources = NULL;
            return false;
        }
        if (*sources == NULL)
            *sources = cJSON_CreateObject();
        cJSON_AddItemToObject(*sources, source_fields[i], cJSON_Duplicate(v, true));
    }
    return true;
}

bool source_needs_json(const struct bridge *b)
{
    const cJSON *d = source_get(b, "dedup");
    const cJSON *key = d ? cJSON_GetObjectItemCaseSensitive(d, "key") : NULL;
    return source_get(b, "challenge") != NULL || source_get(b, "split") != NULL ||
           (cJSON_IsString(key) && strstr(key->valuestring, "payload") != NULL);
}
