/*
 * event.c - building the event JSON (see event.h) from a job and from delivery outcomes.
 *
 * Bodies arrive as arbitrary bytes, but an event must stay valid JSON text: a body is kept
 * as parsed JSON when it is JSON, as a string when it is UTF-8 text, and base64-encoded
 * otherwise, so that no input can corrupt the stored event or the API answer showing it.
 */
#include "event.h"

#include "clock.h"
#include "hb.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdlib.h>
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

/* True when s[0..len) is valid UTF-8 without NUL bytes (which C strings cannot carry). */
static bool utf8_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        bool ok;
        if (p[i] == 0)
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
static char *utf8_sanitize(const char *s, size_t len, bool cut)
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

/* Strings for JSON from decoded input that may hold anything. */
static cJSON *event_string(const char *s, size_t len)
{
    char *clean = utf8_sanitize(s, len, false);
    cJSON *v = cJSON_CreateString(clean);
    free(clean);
    return v;
}

static cJSON *event_iso_or_null(int64_t ms)
{
    if (ms == 0)
        return cJSON_CreateNull();
    char iso[CLOCK_ISO_LEN];
    clock_iso8601(ms, iso);
    return cJSON_CreateString(iso);
}

/* Add "body" (and for binary bodies "body_base64") to the request object. */
static void event_add_body(cJSON *req, const char *body, size_t len)
{
    if (body == NULL || len == 0) {
        cJSON_AddNullToObject(req, "body");
        return;
    }
    if (utf8_text(body, len)) {
        /* The body need not be NUL-terminated; cJSON's require_null_terminated then makes
         * sure the whole body is one JSON value, not a JSON prefix followed by text. */
        char *copy = xstrndup(body, len);
        cJSON *parsed = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, true);
        if (parsed != NULL)
            cJSON_AddItemToObject(req, "body", parsed);
        else
            cJSON_AddStringToObject(req, "body", copy);
        free(copy);
        return;
    }
    size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = xmalloc(b64len);
    sodium_bin2base64(b64, b64len, (const unsigned char *)body, len,
                      sodium_base64_VARIANT_ORIGINAL);
    cJSON_AddNullToObject(req, "body");
    cJSON_AddStringToObject(req, "body_base64", b64);
    free(b64);
}

/* The inbound headers as stored in the job; anything but a JSON object shows as {}. */
static cJSON *event_headers(const char *headers_json)
{
    cJSON *h = headers_json ? cJSON_Parse(headers_json) : NULL;
    if (!cJSON_IsObject(h)) {
        cJSON_Delete(h);
        h = cJSON_CreateObject();
    }
    return h;
}

cJSON *event_from_job(const struct job *j, const char *status, int64_t next_attempt_ms)
{
    char iso[CLOCK_ISO_LEN];
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "id", j->id);
    cJSON_AddStringToObject(ev, "bridge_id", j->bridge_id);
    cJSON_AddStringToObject(ev, "status", status);
    clock_iso8601(j->received_ms, iso);
    cJSON_AddStringToObject(ev, "received_at", iso);

    cJSON *req = cJSON_AddObjectToObject(ev, "request");
    cJSON_AddItemToObject(
        req, "method", event_string(j->method ? j->method : "", j->method ? strlen(j->method) : 0));
    cJSON_AddItemToObject(req, "path",
                          event_string(j->path ? j->path : "", j->path ? strlen(j->path) : 0));
    cJSON_AddItemToObject(req, "query", event_query_object(j->query));
    cJSON_AddItemToObject(req, "headers", event_headers(j->headers_json));
    event_add_body(req, j->body, j->body_len);

    cJSON_AddNullToObject(ev, "outbound");
    cJSON_AddArrayToObject(ev, "attempts");
    cJSON_AddItemToObject(ev, "next_attempt_at", event_iso_or_null(next_attempt_ms));
    if (j->replay_of != NULL && j->replay_of[0] != '\0')
        cJSON_AddStringToObject(ev, "replay_of", j->replay_of);
    else
        cJSON_AddNullToObject(ev, "replay_of");
    return ev;
}

cJSON *event_attempt(int n, int64_t started_ms, long duration_ms, int http_status,
                     const char *error, const cJSON *resp_headers, const char *body,
                     size_t body_len, bool truncated)
{
    char iso[CLOCK_ISO_LEN];
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "n", n);
    clock_iso8601(started_ms, iso);
    cJSON_AddStringToObject(a, "started_at", iso);
    cJSON_AddNumberToObject(a, "duration_ms", (double)duration_ms);
    /* 0 means no HTTP answer (transport error, timeout). */
    if (http_status > 0)
        cJSON_AddNumberToObject(a, "status", http_status);
    else
        cJSON_AddNullToObject(a, "status");
    if (error != NULL)
        cJSON_AddItemToObject(a, "error", event_string(error, strlen(error)));
    else
        cJSON_AddNullToObject(a, "error");

    cJSON *resp = cJSON_AddObjectToObject(a, "response");
    cJSON_AddItemToObject(
        resp, "headers", resp_headers ? cJSON_Duplicate(resp_headers, true) : cJSON_CreateObject());
    if (body == NULL)
        body_len = 0;
    if (body_len > HB_RESPONSE_BODY_MAX) {
        body_len = HB_RESPONSE_BODY_MAX;
        truncated = true;
    }
    char *clean = utf8_sanitize(body ? body : "", body_len, truncated);
    cJSON_AddStringToObject(resp, "body", clean);
    free(clean);
    cJSON_AddBoolToObject(resp, "truncated", truncated);
    return a;
}

/* A copy of event[key], or null when it is absent. */
static cJSON *event_copy_item(const cJSON *event, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(event, key);
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

cJSON *event_summary(const cJSON *event)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "id", event_copy_item(event, "id"));
    cJSON_AddItemToObject(s, "bridge_id", event_copy_item(event, "bridge_id"));
    cJSON_AddItemToObject(s, "status", event_copy_item(event, "status"));
    cJSON_AddItemToObject(s, "received_at", event_copy_item(event, "received_at"));
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(event, "attempts");
    int count = cJSON_IsArray(attempts) ? cJSON_GetArraySize(attempts) : 0;
    cJSON_AddNumberToObject(s, "attempts", count);
    const cJSON *last = count > 0 ? cJSON_GetArrayItem(attempts, count - 1) : NULL;
    cJSON_AddItemToObject(s, "last_status", event_copy_item(last, "status"));
    cJSON_AddItemToObject(s, "next_attempt_at", event_copy_item(event, "next_attempt_at"));
    cJSON_AddItemToObject(s, "replay_of", event_copy_item(event, "replay_of"));
    return s;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode application/x-www-form-urlencoded s[0..len) into out (at least len bytes); returns
 * the decoded length. A '%' not followed by two hex digits is kept as it is, as browsers do.
 */
static size_t form_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

cJSON *event_query_object(const char *query)
{
    cJSON *q = cJSON_CreateObject();
    if (query == NULL)
        return q;
    const char *p = query;
    while (*p != '\0') {
        size_t plen = strcspn(p, "&");
        if (plen > 0) {
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq ? (size_t)(eq - p) : plen;
            const char *val = eq ? eq + 1 : p + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;

            char *buf = xmalloc(plen + 1);
            size_t kdec = form_decode(p, klen, buf);
            /* Decoded bytes may be anything (%00, %FF): keep the event valid JSON. */
            char *key = utf8_sanitize(buf, kdec, false);
            size_t vdec = form_decode(val, vlen, buf);
            cJSON *v = event_string(buf, vdec);
            free(buf);
            /* Last value wins, as most web frameworks read a repeated parameter. */
            if (cJSON_GetObjectItemCaseSensitive(q, key) != NULL)
                cJSON_ReplaceItemInObjectCaseSensitive(q, key, v);
            else
                cJSON_AddItemToObject(q, key, v);
            free(key);
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return q;
}
