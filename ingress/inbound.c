/*
 * inbound.c - the source settings applied to one inbound request (see inbound.h).
 */
#include "inbound.h"

#include "body.h"
#include "bridge.h"
#include "filter.h"
#include "http.h"
#include "jsonfind.h"
#include "source.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void inbound_sha256_hex(const void *p, size_t n, char hex[INBOUND_HASH_HEX])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, n > 0 ? p : (const void *)"", n);
    sodium_bin2hex(hex, INBOUND_HASH_HEX, h, sizeof(h));
}

static const char *inbound_ctype(const cJSON *o)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "content_type");
    return cJSON_IsString(c) ? c->valuestring : "text/plain";
}

int inbound_challenge(const struct bridge *b, const struct tmpl_ctx *ctx, char **body,
                      const char **ctype, char *err, size_t errlen)
{
    const cJSON *c = source_get(b, "challenge");
    if (c == NULL || !filter_match(cJSON_GetObjectItemCaseSensitive(c, "when"), ctx))
        return 0;
    const cJSON *respond = cJSON_GetObjectItemCaseSensitive(c, "respond");
    *body = tmpl_render_text(cJSON_IsString(respond) ? respond->valuestring : "", ctx, TMPL_TEXT,
                             err, errlen);
    if (*body == NULL)
        return -1;
    *ctype = inbound_ctype(c);
    return 1;
}

/* The dedup settings' window and on_duplicate. */
static void inbound_dedup_opts(const cJSON *d, long *ttl_s, bool *reject)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(d, "window_seconds");
    *ttl_s = cJSON_IsNumber(w) ? (long)w->valuedouble : SOURCE_DEDUP_WINDOW_DEFAULT;
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(d, "on_duplicate");
    *reject = cJSON_IsString(on) && strcmp(on->valuestring, "reject") == 0;
}

bool inbound_dedup_key(const struct bridge *b, const struct tmpl_ctx *ctx,
                       char hex[INBOUND_HASH_HEX], long *ttl_s, bool *reject)
{
    const cJSON *d = source_get(b, "dedup");
    if (d == NULL)
        return false;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(d, "key");
    char err[128];
    char *k = tmpl_render_text(cJSON_IsString(key) ? key->valuestring : "", ctx, TMPL_TEXT, err,
                               sizeof(err));
    if (k == NULL || k[0] == '\0') {
        free(k);
        return false;
    }
    /* Hashed: a fixed-length Redis key, and the order id itself is not kept there. */
    inbound_sha256_hex(k, strlen(k), hex);
    free(k);
    inbound_dedup_opts(d, ttl_s, reject);
    return true;
}

bool inbound_dedup_from_text(const struct bridge *b)
{
    const cJSON *d = source_get(b, "dedup");
    const cJSON *key = d ? cJSON_GetObjectItemCaseSensitive(d, "key") : NULL;
    return cJSON_IsString(key) && jsonfind_is_payload_ref(key->valuestring) &&
           source_get(b, "challenge") == NULL && source_get(b, "split") == NULL;
}

bool inbound_dedup_key_text(const struct bridge *b, const char *body, size_t len,
                            char hex[INBOUND_HASH_HEX], long *ttl_s, bool *reject)
{
    const cJSON *d = source_get(b, "dedup");
    const cJSON *key = d ? cJSON_GetObjectItemCaseSensitive(d, "key") : NULL;
    if (!cJSON_IsString(key))
        return false;
    struct jsonfind_text t;
    if (!jsonfind_payload_ref(key->valuestring, body, len, &t)) {
        /* Not followed (jsonfind.h): the tree and the template engine, as for any key. */
        char err[128];
        cJSON *payload = body_parse_json(body, len, err, sizeof(err));
        struct tmpl_ctx ctx = {.payload = payload, .bridge_id = b->id, .redact_env = true};
        bool has = inbound_dedup_key(b, &ctx, hex, ttl_s, reject);
        cJSON_Delete(payload);
        return has;
    }
    bool has = t.len > 0;
    if (has) {
        inbound_sha256_hex(t.ptr, t.len, hex);
        inbound_dedup_opts(d, ttl_s, reject);
    }
    free(t.owned);
    return has;
}

/* Whether a filter (its keys, at any depth under $and/$or/$not) names `root`. */
static bool inbound_filter_uses(const cJSON *f, const char *root)
{
    for (const cJSON *m = f ? f->child : NULL; m != NULL; m = m->next) {
        if (m->string != NULL && strstr(m->string, root) != NULL)
            return true;
        if ((cJSON_IsObject(m) || cJSON_IsArray(m)) && inbound_filter_uses(m, root))
            return true;
    }
    return false;
}

bool inbound_uses(const struct bridge *b, const char *root)
{
    const cJSON *d = source_get(b, "dedup"), *c = source_get(b, "challenge");
    const cJSON *key = d ? cJSON_GetObjectItemCaseSensitive(d, "key") : NULL;
    const cJSON *respond = c ? cJSON_GetObjectItemCaseSensitive(c, "respond") : NULL;
    return (cJSON_IsString(key) && strstr(key->valuestring, root) != NULL) ||
           (cJSON_IsString(respond) && strstr(respond->valuestring, root) != NULL) ||
           (c != NULL && inbound_filter_uses(cJSON_GetObjectItemCaseSensitive(c, "when"), root));
}

void inbound_first_id(const char *record, bool plain, char *out, size_t outlen)
{
    const char *ids = plain || strlen(record) < 2 ? record : record + 2;
    size_t n = strcspn(ids, ",");
    snprintf(out, outlen, "%.*s", (int)n, ids);
}

void inbound_answer(struct httpd_req *req, const struct bcache_entry *e, const char *record,
                    bool plain, const char *status, bool replayed)
{
    char first[HB_ID_LEN + 8];
    inbound_first_id(record, plain, first, sizeof(first));
    if (replayed)
        httpd_reply_header(req, "Idempotent-Replayed", "true");
    /* Xero's "intent to receive" takes nothing but an empty 200. */
    if (e->auth.type == AUTH_XERO) {
        httpd_reply(req, 200, NULL, NULL, 0);
        return;
    }
    const cJSON *resp = source_get(e->b, "response");
    if (resp != NULL) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(resp, "body");
        int code = cJSON_IsNumber(st) ? (int)st->valuedouble : 200;
        if (!cJSON_IsString(body) || body->valuestring[0] == '\0') {
            httpd_reply(req, code, NULL, NULL, 0);
            return;
        }
        struct tmpl_ctx ctx = {.event_id = first, .bridge_id = e->b->id};
        char err[128];
        char *text = tmpl_render_text(body->valuestring, &ctx, TMPL_TEXT, err, sizeof(err));
        httpd_reply(req, code, inbound_ctype(resp), text ? text : "", text ? strlen(text) : 0);
        free(text);
        return;
    }
    cJSON *ok = cJSON_CreateObject();
    if (!plain && record[0] == 'S') {
        cJSON *ids = cJSON_AddArrayToObject(ok, "event_ids");
        for (const char *p = record + 2; *p;) {
            size_t n = strcspn(p, ",");
            char *id = xstrndup(p, n);
            cJSON_AddItemToArray(ids, cJSON_CreateString(id));
            free(id);
            p += n;
            if (*p == ',')
                p++;
        }
    } else {
        cJSON_AddStringToObject(ok, "event_id", first);
    }
    cJSON_AddStringToObject(ok, "status", status);
    http_reply_json(req, 202, ok);
    cJSON_Delete(ok);
}
