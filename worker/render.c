/*
 * render.c - the outbound request of one attempt (see render.h).
 */
#include "render.h"

#include "body.h"
#include "bridge.h"
#include "dynbuf.h"
#include "event.h"
#include "hb.h"
#include "job.h"
#include "text.h"
#include "utf8.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void render_lines_free(char **lines)
{
    if (lines == NULL)
        return;
    for (char **h = lines; *h; h++)
        free(*h);
    free(lines);
}

void render_request_clear(struct render_request *rq)
{
    free(rq->url);
    render_lines_free(rq->hdr);
    free(rq->body);
    memset(rq, 0, sizeof(*rq));
}

int render_ctx_init(struct render_ctx *c, const struct bridge *b, const struct route *r,
                    const struct job *j, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                    size_t errlen)
{
    char perr[HB_ERR_LEN];
    memset(c, 0, sizeof(*c));
    c->bridge = b;
    c->route = r;
    c->job = j;
    c->env = bridge_env_open(b, key, err, errlen);
    if (c->env == NULL)
        return -1;
    if (j->body_len > 0 && bridge_needs_json(b))
        c->payload = body_to_json(j->content_type, j->body, j->body_len, perr, sizeof(perr));
    c->headers = cJSON_Parse(j->headers_json ? j->headers_json : "{}");
    c->query = event_query_object(j->query);
    clock_iso8601(j->received_ms, c->received_at);
    c->tc.payload = c->payload;
    c->tc.headers = c->headers;
    c->tc.query = c->query;
    c->tc.env = c->env;
    c->tc.event_id = j->id;
    c->tc.received_at = c->received_at;
    c->tc.bridge_id = b->id;
    return 0;
}

void render_ctx_clear(struct render_ctx *c)
{
    cJSON_Delete(c->payload);
    cJSON_Delete(c->headers);
    cJSON_Delete(c->query);
    /* Decrypted values: wipe before freeing. */
    for (cJSON *e = c->env ? c->env->child : NULL; e != NULL; e = e->next)
        if (cJSON_IsString(e))
            sodium_memzero(e->valuestring, strlen(e->valuestring));
    cJSON_Delete(c->env);
}

/* Whether one of the header lines `hdr[0..n)` is for `name`. */
static bool render_has_header(char *const *hdr, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (strncasecmp(hdr[i], name, len) == 0 && hdr[i][len] == ':')
            return true;
    return false;
}

/* Whether a header whose value rendered to `v` is left out of the request: see README,
 * "Templates". */
static bool render_header_omitted(const char *v, const struct tmpl_info *info)
{
    if (info->refs > 0 && info->missing == info->refs)
        return true;
    return v[strspn(v, " \t")] == '\0';
}

int render_request(struct render_ctx *c, int attempt, size_t max_body, bool redact,
                   const char *signing, bool *omit, struct render_request *out, char *err,
                   size_t errlen)
{
    const struct route *b = c->route;
    const struct job *j = c->job;
    char why[HB_ERR_LEN];
    struct dynbuf buf;
    memset(out, 0, sizeof(*out));
    c->tc.redact_env = redact;

    dynbuf_init(&buf, RENDER_URL_MAX);
    int rc = tmpl_render_text_buf(b->outbound_url, &c->tc, TMPL_URL, &buf, NULL, why, sizeof(why));
    out->url = dynbuf_take(&buf, NULL);
    if (rc == TMPL_ETOOBIG) {
        snprintf(err, errlen, "outbound_url %.200s", why);
        return RENDER_TOO_LARGE;
    }
    if (rc != 0) {
        snprintf(err, errlen, "outbound_url: %.200s", why);
        return -1;
    }
    const char *bad = bridge_url_problem(out->url);
    if (bad != NULL) {
        snprintf(err, errlen, "outbound_url rendered to an unusable URL: %.160s", bad);
        return -1;
    }
    bool has_body = strcmp(b->method, "GET") != 0;
    if (has_body && b->payload != NULL) {
        dynbuf_init(&buf, max_body);
        rc = tmpl_render_json_buf(b->payload, &c->tc, &buf, why, sizeof(why));
        out->body = dynbuf_take(&buf, &out->body_len);
        if (rc == TMPL_ETOOBIG) {
            snprintf(err, errlen, "payload %.200s", why);
            return RENDER_TOO_LARGE;
        }
        if (rc != 0) {
            snprintf(err, errlen, "payload: %.200s", why);
            return -1;
        }
    }

    size_t n = (size_t)cJSON_GetArraySize(b->headers) + 9;
    char **hdr = xcalloc(n + 1, sizeof(*hdr));
    size_t k = 0, i = 0;
    out->hdr = hdr;
    for (const cJSON *h = b->headers ? b->headers->child : NULL; h; h = h->next, i++) {
        /* Bridges saved before framing headers were refused may still hold one. */
        if (!cJSON_IsString(h) || bridge_header_reserved(h->string) || (redact && omit[i]))
            continue;
        struct tmpl_info info;
        dynbuf_init(&buf, RENDER_HEADER_MAX);
        rc = tmpl_render_text_buf(h->valuestring, &c->tc, TMPL_HEADER, &buf, &info, why,
                                  sizeof(why));
        if (rc == 0 && !redact)
            omit[i] = render_header_omitted(dynbuf_ptr(&buf), &info);
        if (rc == 0 && !omit[i])
            hdr[k++] = xasprintf("%s: %s", h->string, dynbuf_ptr(&buf));
        dynbuf_free(&buf);
        if (rc == TMPL_ETOOBIG) {
            snprintf(err, errlen, "headers.%.64s %.160s", h->string, why);
            return RENDER_TOO_LARGE;
        }
        if (rc != 0) {
            snprintf(err, errlen, "headers.%.64s: %.160s", h->string, why);
            return -1;
        }
    }
    if (!render_has_header(hdr, k, "User-Agent"))
        hdr[k++] = xasprintf("User-Agent: hookbridge/%s", HB_VERSION);
    hdr[k++] = xasprintf("X-Hookbridge-Event-Id: %s", j->id);
    hdr[k++] = xasprintf("X-Hookbridge-Attempt: %d", attempt);
    hdr[k++] = xasprintf("X-Hookbridge-Route: %s", b->name);
    if (!render_has_header(hdr, k, "Content-Type")) {
        if (out->body != NULL)
            hdr[k++] = xstrdup("Content-Type: application/json");
        else if (j->content_type && j->content_type[0])
            hdr[k++] = xasprintf("Content-Type: %s", j->content_type);
        else
            /* "Content-Type:" with no value stops curl adding its form default. */
            hdr[k++] = xstrdup("Content-Type:");
    }
    if (signing != NULL) {
        /* Standard Webhooks: the signature covers id, timestamp and the exact body. */
        int64_t ts = clock_now_ms() / 1000;
        const char *body = out->body ? out->body : has_body ? j->body : "";
        size_t blen = out->body ? out->body_len : has_body ? j->body_len : 0;
        char *sig = crypto_webhook_sign(signing, j->id, ts, body, blen);
        if (sig == NULL) {
            snprintf(err, errlen, "signing_secret is not a valid whsec_ secret");
            return -1;
        }
        hdr[k++] = xasprintf("webhook-id: %s", j->id);
        hdr[k++] = xasprintf("webhook-timestamp: %lld", (long long)ts);
        hdr[k++] = xasprintf("webhook-signature: %s", sig);
        free(sig);
    }
    hdr[k] = NULL;
    return 0;
}

cJSON *render_outbound(const struct render_ctx *c, const struct render_request *rq)
{
    const struct route *b = c->route;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", b->method);
    cJSON_AddStringToObject(o, "url", rq->url);
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    for (char **line = rq->hdr; line && *line; line++) {
        char *colon = strchr(*line, ':');
        if (colon == NULL || colon[1] == '\0')
            continue;
        char *name = xstrndup(*line, (size_t)(colon - *line));
        cJSON_AddStringToObject(h, name, colon + 2);
        free(name);
    }
    if (rq->body != NULL) {
        cJSON *body = cJSON_Parse(rq->body);
        cJSON_AddItemToObject(o, "body", body ? body : cJSON_CreateNull());
        return o;
    }
    if (strcmp(b->method, "GET") == 0) {
        cJSON_AddNullToObject(o, "body");
        return o;
    }
    /* The body is the inbound one: reuse the event's rendering of it. */
    cJSON *ev = event_from_job(c->job, EVENT_STATUS_QUEUED, 0);
    cJSON *req = cJSON_GetObjectItemCaseSensitive(ev, "request");
    cJSON *body = cJSON_DetachItemFromObjectCaseSensitive(req, "body");
    cJSON_AddItemToObject(o, "body", body ? body : cJSON_CreateNull());
    cJSON *b64 = cJSON_DetachItemFromObjectCaseSensitive(req, "body_base64");
    if (b64)
        cJSON_AddItemToObject(o, "body_base64", b64);
    cJSON_Delete(ev);
    return o;
}

/* The body as render_outbound shows it, when its JSON text can go in as it is: a rendered
 * payload, or an inbound body the event keeps parsed (common/event.c: strict JSON with no
 * \u0000, not a string). NULL otherwise. */
static const char *render_outbound_body(const struct render_ctx *c, const struct render_request *rq,
                                        size_t *len)
{
    static const struct body_json_check strict = {.flags = BODY_JSON_NO_NUL};
    const struct job *j = c->job;
    char err[HB_ERR_LEN];
    bool is_string = true;
    if (rq->body != NULL) {
        *len = rq->body_len;
        return body_check_json_opts(rq->body, rq->body_len, &strict, NULL, err, sizeof(err))
                   ? rq->body
                   : NULL;
    }
    if (strcmp(c->route->method, "GET") == 0 || j->body == NULL || j->body_len == 0) {
        *len = 4;
        return "null";
    }
    *len = j->body_len;
    if (!utf8_valid(j->body, j->body_len, false) ||
        !body_check_json_opts(j->body, j->body_len, &strict, &is_string, err, sizeof(err)) ||
        is_string)
        return NULL;
    return j->body;
}

char *render_outbound_json(const struct render_ctx *c, const struct render_request *rq)
{
    size_t blen = 0;
    const char *body = render_outbound_body(c, rq, &blen);
    if (body == NULL) {
        /* Text, binary or odd JSON: the event's own rendering of it, through a tree. */
        cJSON *o = render_outbound(c, rq);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
    }
    struct dynbuf b;
    dynbuf_init(&b, SIZE_MAX / 2);
    int rc = text_json_put_dynbuf(&b, "{\"method\":", c->route->method);
    rc |= text_json_put_dynbuf(&b, ",\"url\":", rq->url);
    rc |= dynbuf_addstr(&b, ",\"headers\":{");
    const char *sep = "";
    for (char **line = rq->hdr; line && *line; line++) {
        char *colon = strchr(*line, ':');
        if (colon == NULL || colon[1] == '\0')
            continue;
        /* The name's quoted copy, then the value after ": ", as render_outbound does. */
        size_t nl = (size_t)(colon - *line);
        char small[256];
        char *q =
            TEXT_JSON_QUOTE_MAX(nl) <= sizeof(small) ? small : xmalloc(TEXT_JSON_QUOTE_MAX(nl));
        size_t qn = text_json_quote(q, *line, nl);
        rc |= dynbuf_addstr(&b, sep);
        rc |= dynbuf_add(&b, q, qn);
        rc |= text_json_put_dynbuf(&b, ":", colon + 2);
        if (q != small)
            free(q);
        sep = ",";
    }
    rc |= dynbuf_addstr(&b, "},\"body\":");
    rc |= dynbuf_add(&b, body, blen);
    rc |= dynbuf_addc(&b, '}');
    if (rc != 0) {
        dynbuf_free(&b);
        return NULL;
    }
    return dynbuf_take(&b, NULL);
}
