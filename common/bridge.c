/*
 * bridge.c - checking admin API input into a `struct bridge`, and the bridge's two JSON
 * forms: what the API shows and what SQLite keeps.
 *
 * An API body is checked three ways, in order: no unknown fields (so the 400 can name one),
 * each field's setter here (ranges with messages that name them, and what a schema cannot
 * say: templates parse, filters use known operators, an inbound schema compiles, secrets
 * are sealed), then schemas/bridge.schema.json through our own JSON Schema validator, the
 * documented contract of every shape. Secret values are sealed the moment they arrive, so no
 * `struct bridge` and no SQLite row ever holds one in plain text; the API shows them as
 * BRIDGE_SECRET_MASK.
 */
#include "bridge.h"

#include "body.h"
#include "clock.h"
#include "filter.h"
#include "flow.h"
#include "ids.h"
#include "jsonschema.h"
#include "schemas.h"
#include "store.h"
#include "template.h"
#include "text.h"
#include "utf8.h"
#include "xalloc.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BRIDGE_NAME_MAX 200
#define BRIDGE_URL_MAX 2048
#define BRIDGE_HEADERS_MAX 50
#define BRIDGE_TIMEOUT_MIN 100
#define BRIDGE_TIMEOUT_MAX 300000
#define BRIDGE_DEFAULT_RETRIES 3
#define BRIDGE_DEFAULT_TIMEOUT 30000
#define BRIDGE_ENV_MAX 100
#define BRIDGE_ENV_NAME_MAX 128
#define BRIDGE_ENV_VALUE_MAX 8192
/* Templates, schemas and filters are kept in every bridge row and parsed per event. */
#define BRIDGE_JSON_FIELD_MAX (64 * 1024)
#define BRIDGE_KEY_CHECK "secret_key_check"
#define BRIDGE_KEY_CHECK_TEXT "hookbridge secret key check"

static const char *const bridge_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/* A new bridge with every optional field at its default. */
static struct bridge *bridge_new_default(void)
{
    struct bridge *b = xcalloc(1, sizeof(*b));
    b->name = xstrdup("");
    snprintf(b->method, sizeof(b->method), "POST");
    b->headers = cJSON_CreateObject();
    b->env = cJSON_CreateObject();
    b->retries = BRIDGE_DEFAULT_RETRIES;
    b->timeout_ms = BRIDGE_DEFAULT_TIMEOUT;
    b->active = true;
    return b;
}

static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : NULL;
}

static char *strdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static struct bridge *bridge_copy(const struct bridge *src)
{
    struct bridge *b = xcalloc(1, sizeof(*b));
    *b = *src;
    b->name = xstrdup(src->name ? src->name : "");
    b->outbound_url = src->outbound_url ? xstrdup(src->outbound_url) : NULL;
    b->headers = src->headers ? cJSON_Duplicate(src->headers, true) : cJSON_CreateObject();
    b->payload = dup_or_null(src->payload);
    b->env = src->env ? cJSON_Duplicate(src->env, true) : cJSON_CreateObject();
    b->auth = dup_or_null(src->auth);
    b->schema = dup_or_null(src->schema);
    b->filter = dup_or_null(src->filter);
    b->notify_url = strdup_or_null(src->notify_url);
    b->flow = dup_or_null(src->flow);
    b->signing_secret = strdup_or_null(src->signing_secret);
    if (src->retry_delays != NULL && src->n_retry_delays > 0) {
        b->retry_delays = xcalloc(src->n_retry_delays, sizeof(*b->retry_delays));
        memcpy(b->retry_delays, src->retry_delays, src->n_retry_delays * sizeof(*b->retry_delays));
    } else {
        b->retry_delays = NULL;
        b->n_retry_delays = 0;
    }
    return b;
}

void bridge_free(struct bridge *b)
{
    if (b == NULL)
        return;
    free(b->name);
    free(b->outbound_url);
    cJSON_Delete(b->headers);
    free(b->retry_delays);
    cJSON_Delete(b->payload);
    cJSON_Delete(b->env);
    cJSON_Delete(b->auth);
    cJSON_Delete(b->schema);
    cJSON_Delete(b->filter);
    free(b->notify_url);
    cJSON_Delete(b->flow);
    free(b->signing_secret);
    free(b);
}

/*
 * True when `v` is a JSON number with no fractional part in lo..hi. JSON has one number
 * type, so 3.0 counts as an integer (as JSON Schema's "integer" does) but 1.5 does not.
 */
static bool json_int_in(const cJSON *v, long lo, long hi, long *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi))
        return false;
    if ((double)(long)d != d)
        return false;
    *out = (long)d;
    return true;
}

/* RFC 9110 tchar: what a header name may hold. */
static bool http_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL)
            continue;
        return false;
    }
    return true;
}

/* Headers that frame the message or steer the connection: libcurl sets them from the
 * request it makes, and a bridge's own value would desynchronize the keep-alive connection
 * (a short Content-Length leaves the rest of the body to be read as the next request, which
 * may be another bridge's) or reach somewhere else (Host, Proxy-*). */
static const char *const bridge_reserved_headers[] = {
    "Content-Length", "Transfer-Encoding", "Host",   "Connection", "Upgrade", "TE",
    "Trailer",        "Keep-Alive",        "Expect",
};

bool bridge_header_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(bridge_reserved_headers) / sizeof(bridge_reserved_headers[0]);
         i++)
        if (strcasecmp(name, bridge_reserved_headers[i]) == 0)
            return true;
    return strncasecmp(name, "Proxy-", 6) == 0;
}

/*
 * Check that an http(s) URL has a host. By hand rather than with curl's or libevent's
 * parser because outbound_url may hold template references (`${payload.id}`) that strict
 * parsers refuse; they are resolved before the request is made.
 */
const char *bridge_url_problem(const char *url)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return "must start with http:// or https://";
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c == 0x7F)
            return "must not contain spaces or control characters";

    size_t alen = strcspn(p, "/?#");
    const char *auth_end = p + alen;
    /* Userinfo ends at the last '@' of the authority. */
    const char *host = p;
    for (const char *c = p; c < auth_end; c++)
        if (*c == '@')
            host = c + 1;
    const char *port = NULL;
    const char *host_end;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(auth_end - host));
        if (close == NULL || close == host + 1)
            return "must have a valid host";
        host_end = close + 1;
        if (host_end < auth_end) {
            if (*host_end != ':')
                return "must have a valid host";
            port = host_end + 1;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(auth_end - host));
        host_end = colon ? colon : auth_end;
        if (colon)
            port = colon + 1;
    }
    if (host_end == host)
        return "must have a host";
    if (port != NULL) {
        /* An empty port means the default (RFC 3986 allows "host:"). */
        long val = 0;
        for (const char *c = port; c < auth_end; c++) {
            if (*c < '0' || *c > '9')
                return "must have a numeric port";
            val = val * 10 + (*c - '0');
            if (val > 65535)
                return "must have a port in 1..65535";
        }
        if (port < auth_end && val == 0)
            return "must have a port in 1..65535";
    }
    return NULL;
}

/*
 * Field setters. Each takes the JSON value given for its field; null resets the field to
 * its default (PATCH {"name": null} clears the name). They return 0, or -1 with err set,
 * and leave `b` valid either way.
 */
typedef int (*field_setter)(struct bridge *b, const cJSON *v, char *err, size_t errlen);

static int set_name(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        free(b->name);
        b->name = xstrdup("");
        return 0;
    }
    if (!cJSON_IsString(v) || utf8_chars(v->valuestring) > BRIDGE_NAME_MAX) {
        snprintf(err, errlen, "must be a string of at most %d characters", BRIDGE_NAME_MAX);
        return -1;
    }
    free(b->name);
    b->name = xstrdup(v->valuestring);
    return 0;
}

static int set_outbound_url(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        snprintf(err, errlen, "is required");
        return -1;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "must be a string");
        return -1;
    }
    if (strlen(v->valuestring) > BRIDGE_URL_MAX) {
        snprintf(err, errlen, "must be at most %d characters", BRIDGE_URL_MAX);
        return -1;
    }
    const char *why = bridge_url_problem(v->valuestring);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (tmpl_check(v->valuestring, err, errlen) != 0)
        return -1;
    free(b->outbound_url);
    b->outbound_url = xstrdup(v->valuestring);
    return 0;
}

static int set_method(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        snprintf(b->method, sizeof(b->method), "POST");
        return 0;
    }
    if (cJSON_IsString(v)) {
        for (size_t i = 0; i < sizeof(bridge_methods) / sizeof(bridge_methods[0]); i++) {
            if (strcmp(v->valuestring, bridge_methods[i]) == 0) {
                snprintf(b->method, sizeof(b->method), "%s", bridge_methods[i]);
                return 0;
            }
        }
    }
    snprintf(err, errlen, "must be one of GET, POST, PUT, PATCH, DELETE");
    return -1;
}

static int set_headers(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        cJSON_Delete(b->headers);
        b->headers = cJSON_CreateObject();
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object of header names to string values");
        return -1;
    }
    int n = 0;
    for (const cJSON *h = v->child; h != NULL; h = h->next) {
        if (++n > BRIDGE_HEADERS_MAX) {
            snprintf(err, errlen, "must hold at most %d headers", BRIDGE_HEADERS_MAX);
            return -1;
        }
        if (!http_token(h->string)) {
            snprintf(err, errlen, "\"%.64s\" is not a valid header name", h->string);
            return -1;
        }
        if (bridge_header_reserved(h->string)) {
            snprintf(err, errlen, "\"%.64s\" is set by hookbridge itself and may not be given",
                     h->string);
            return -1;
        }
        if (!cJSON_IsString(h)) {
            snprintf(err, errlen, "%.64s: must be a string", h->string);
            return -1;
        }
        /* CR or LF in a value would let a bridge inject headers or a second request. */
        if (strpbrk(h->valuestring, "\r\n") != NULL) {
            snprintf(err, errlen, "%.64s: must not contain cr or lf", h->string);
            return -1;
        }
        char why[HB_ERR_LEN];
        if (tmpl_check(h->valuestring, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%.64s: %s", h->string, why);
            return -1;
        }
    }
    cJSON_Delete(b->headers);
    b->headers = cJSON_Duplicate(v, true);
    return 0;
}

static int set_delay_seconds(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    long val = 0;
    if (!cJSON_IsNull(v) && !json_int_in(v, 0, BRIDGE_MAX_DELAY, &val)) {
        snprintf(err, errlen, "must be an integer in 0..%d", BRIDGE_MAX_DELAY);
        return -1;
    }
    b->delay_seconds = val;
    return 0;
}

static int set_retries(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    long val = BRIDGE_DEFAULT_RETRIES;
    if (!cJSON_IsNull(v) && !json_int_in(v, 0, BRIDGE_MAX_RETRIES, &val)) {
        snprintf(err, errlen, "must be an integer in 0..%d", BRIDGE_MAX_RETRIES);
        return -1;
    }
    b->retries = (int)val;
    return 0;
}

static int set_retry_delays(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        free(b->retry_delays);
        b->retry_delays = NULL;
        b->n_retry_delays = 0;
        return 0;
    }
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n < 1 || n > BRIDGE_MAX_RETRIES) {
        snprintf(err, errlen, "must be null or an array of 1..%d integers", BRIDGE_MAX_RETRIES);
        return -1;
    }
    long *delays = xcalloc((size_t)n, sizeof(*delays));
    size_t i = 0;
    for (const cJSON *d = v->child; d != NULL; d = d->next, i++) {
        if (!json_int_in(d, 0, BRIDGE_MAX_DELAY, &delays[i])) {
            snprintf(err, errlen, "item %zu must be an integer in 0..%d", i, BRIDGE_MAX_DELAY);
            free(delays);
            return -1;
        }
    }
    free(b->retry_delays);
    b->retry_delays = delays;
    b->n_retry_delays = (size_t)n;
    return 0;
}

static int set_timeout_ms(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    long val = BRIDGE_DEFAULT_TIMEOUT;
    if (!cJSON_IsNull(v) && !json_int_in(v, BRIDGE_TIMEOUT_MIN, BRIDGE_TIMEOUT_MAX, &val)) {
        snprintf(err, errlen, "must be an integer in %d..%d", BRIDGE_TIMEOUT_MIN,
                 BRIDGE_TIMEOUT_MAX);
        return -1;
    }
    b->timeout_ms = val;
    return 0;
}

static int set_active(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        b->active = true;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        snprintf(err, errlen, "must be true or false");
        return -1;
    }
    b->active = cJSON_IsTrue(v);
    return 0;
}

/* The printed size of a JSON field, so one bridge cannot make every event slow. */
static bool json_small_enough(const cJSON *v, char *err, size_t errlen)
{
    char *s = cJSON_PrintUnformatted(v);
    size_t n = s ? strlen(s) : 0;
    free(s);
    if (n > BRIDGE_JSON_FIELD_MAX) {
        snprintf(err, errlen, "must be at most %d bytes as JSON", BRIDGE_JSON_FIELD_MAX);
        return false;
    }
    return true;
}

static void replace_json(cJSON **dst, const cJSON *v)
{
    cJSON_Delete(*dst);
    *dst = cJSON_IsNull(v) ? NULL : cJSON_Duplicate(v, true);
}

static int set_payload(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (!cJSON_IsNull(v) &&
        (!json_small_enough(v, err, errlen) || tmpl_check_json(v, err, errlen) != 0))
        return -1;
    replace_json(&b->payload, v);
    return 0;
}

static int set_schema(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v) && !cJSON_IsBool(v)) {
            snprintf(err, errlen, "must be a JSON Schema (an object or a boolean) or null");
            return -1;
        }
        if (!json_small_enough(v, err, errlen))
            return -1;
        struct jsonschema *js = NULL;
        if (jsonschema_compile(v, &js, err, errlen) != 0)
            return -1;
        jsonschema_free(js);
    }
    replace_json(&b->schema, v);
    return 0;
}

static int set_filter(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            snprintf(err, errlen, "must be an object or null");
            return -1;
        }
        if (!json_small_enough(v, err, errlen) || filter_check(v, err, errlen) != 0)
            return -1;
    }
    replace_json(&b->filter, v);
    return 0;
}

static int set_notify_url(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsNull(v)) {
        free(b->notify_url);
        b->notify_url = NULL;
        return 0;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) > BRIDGE_URL_MAX) {
        snprintf(err, errlen, "must be null or a URL of at most %d characters", BRIDGE_URL_MAX);
        return -1;
    }
    const char *why = bridge_url_problem(v->valuestring);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    free(b->notify_url);
    b->notify_url = xstrdup(v->valuestring);
    return 0;
}

static bool is_mask(const cJSON *v)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, BRIDGE_SECRET_MASK) == 0;
}

/* Env names are what `$env.NAME` can reach: template name characters only. */
static bool env_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BRIDGE_ENV_NAME_MAX)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Merge `v` into the env: strings are sealed, null deletes, the mask keeps. */
static int set_env(struct bridge *b, const cJSON *v, const unsigned char *key, char *err,
                   size_t errlen)
{
    if (cJSON_IsNull(v)) {
        cJSON_Delete(b->env);
        b->env = cJSON_CreateObject();
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object of names to string values");
        return -1;
    }
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        if (!env_name_ok(e->string)) {
            snprintf(err, errlen,
                     "\"%.64s\": names hold 1..%d letters, digits, '_' or '-' (as in $env.NAME)",
                     e->string, BRIDGE_ENV_NAME_MAX);
            return -1;
        }
        if (cJSON_IsNull(e)) {
            cJSON_DeleteItemFromObjectCaseSensitive(b->env, e->string);
            continue;
        }
        if (is_mask(e)) {
            if (cJSON_GetObjectItemCaseSensitive(b->env, e->string) == NULL) {
                snprintf(err, errlen, "%.64s: \"%s\" keeps a stored value, but there is none",
                         e->string, BRIDGE_SECRET_MASK);
                return -1;
            }
            continue;
        }
        if (!cJSON_IsString(e) || strlen(e->valuestring) > BRIDGE_ENV_VALUE_MAX) {
            snprintf(err, errlen, "%.64s: must be a string of at most %d bytes, or null", e->string,
                     BRIDGE_ENV_VALUE_MAX);
            return -1;
        }
        char *sealed = crypto_seal(key, e->valuestring, strlen(e->valuestring));
        if (cJSON_GetObjectItemCaseSensitive(b->env, e->string) != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(b->env, e->string, cJSON_CreateString(sealed));
        else
            cJSON_AddStringToObject(b->env, e->string, sealed);
        free(sealed);
    }
    if (cJSON_GetArraySize(b->env) > BRIDGE_ENV_MAX) {
        snprintf(err, errlen, "must hold at most %d values", BRIDGE_ENV_MAX);
        return -1;
    }
    return 0;
}

/*
 * auth is replaced as a whole, but a secret that is absent or the mask keeps the stored
 * one, so that switching e.g. the signature header does not require the secret again.
 */
static int set_auth(struct bridge *b, const cJSON *v, const unsigned char *key, char *err,
                    size_t errlen)
{
    struct auth_params p;
    int ret = -1;
    if (cJSON_IsNull(v)) {
        cJSON_Delete(b->auth);
        b->auth = NULL;
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object such as {\"type\": \"none\"}");
        return -1;
    }
    const cJSON *old = b->auth ? cJSON_GetObjectItemCaseSensitive(b->auth, "secret") : NULL;
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(v, "secret");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
    bool none = cJSON_IsString(type) && strcmp(type->valuestring, "none") == 0;
    /* Type none takes no secret, so there is nothing to keep. */
    bool keep = !none && (given == NULL || is_mask(given)) && cJSON_IsString(old);
    cJSON *check = cJSON_Duplicate(v, true);
    if (keep) {
        /* The stored secret is sealed; any non-empty stand-in lets the rules run. */
        cJSON_DeleteItemFromObjectCaseSensitive(check, "secret");
        cJSON_AddStringToObject(check, "secret", "kept");
    } else if (is_mask(given)) {
        snprintf(err, errlen, "secret: \"%s\" keeps a stored value, but there is none",
                 BRIDGE_SECRET_MASK);
        goto out_free_check;
    }
    if (auth_params_from_json(check, &p, err, errlen) != 0)
        goto out_free_check;
    if (p.type == AUTH_NONE) {
        cJSON_Delete(b->auth);
        b->auth = NULL;
        ret = 0;
        goto out_free_check;
    }
    cJSON *stored = cJSON_Duplicate(v, true);
    cJSON_DeleteItemFromObjectCaseSensitive(stored, "secret");
    /* Tokens without exp are refused unless asked for: stored explicitly, because an auth
     * object without the member (saved before it existed) means false (auth.h). */
    if (p.type == AUTH_JWT_HS256 && cJSON_GetObjectItemCaseSensitive(v, "require_exp") == NULL)
        cJSON_AddTrueToObject(stored, "require_exp");
    if (keep) {
        cJSON_AddStringToObject(stored, "secret", old->valuestring);
    } else {
        char *sealed = crypto_seal(key, p.secret, p.secret_len);
        cJSON_AddStringToObject(stored, "secret", sealed);
        free(sealed);
    }
    cJSON_Delete(b->auth);
    b->auth = stored;
    ret = 0;
out_free_check:
    cJSON_Delete(check);
    return ret;
}

static int set_signing_secret(struct bridge *b, const cJSON *v, const unsigned char *key, char *err,
                              size_t errlen)
{
    if (cJSON_IsNull(v)) {
        free(b->signing_secret);
        b->signing_secret = NULL;
        return 0;
    }
    if (is_mask(v)) {
        if (b->signing_secret == NULL) {
            snprintf(err, errlen, "\"%s\" keeps a stored value, but there is none",
                     BRIDGE_SECRET_MASK);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(v) || !crypto_webhook_secret_valid(v->valuestring)) {
        snprintf(err, errlen,
                 "must be null or \"whsec_\" followed by the base64 of a 16..64 "
                 "byte key (the Standard Webhooks form)");
        return -1;
    }
    free(b->signing_secret);
    b->signing_secret = crypto_seal(key, v->valuestring, strlen(v->valuestring));
    return 0;
}

/* Flow control fields, checked in common/flow.c. */
static int set_rate_limit(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    return flow_set_rate_limit(&b->flow, v, err, errlen);
}

static int set_max_concurrency(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    return flow_set_max_concurrency(&b->flow, v, err, errlen);
}

static int set_circuit(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    return flow_set_circuit(&b->flow, v, err, errlen);
}

/* Server-made: clients often PATCH back what they GET, so these are ignored, not refused. */
static int set_ignored(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    (void)b;
    (void)v;
    (void)err;
    (void)errlen;
    return 0;
}

typedef int (*sealed_setter)(struct bridge *b, const cJSON *v, const unsigned char *key, char *err,
                             size_t errlen);

/* Every field of the API body; exactly one of `set` and `set_sealed` is given. */
static const struct {
    const char *name;
    field_setter set;
    sealed_setter set_sealed; /* fields holding secrets, sealed with the key */
} bridge_fields[] = {
    {"name", set_name, NULL},
    {"outbound_url", set_outbound_url, NULL},
    {"method", set_method, NULL},
    {"headers", set_headers, NULL},
    {"payload", set_payload, NULL},
    {"delay_seconds", set_delay_seconds, NULL},
    {"retries", set_retries, NULL},
    {"retry_delays", set_retry_delays, NULL},
    {"timeout_ms", set_timeout_ms, NULL},
    {"env", NULL, set_env},
    {"auth", NULL, set_auth},
    {"schema", set_schema, NULL},
    {"filter", set_filter, NULL},
    {"notify_url", set_notify_url, NULL},
    {"signing_secret", NULL, set_signing_secret},
    {"active", set_active, NULL},
    {"rate_limit", set_rate_limit, NULL},
    {"max_concurrency", set_max_concurrency, NULL},
    {"circuit", set_circuit, NULL},
    {"deliveries", set_ignored, NULL},
    {"id", set_ignored, NULL},
    {"endpoint", set_ignored, NULL},
    {"inbound_url", set_ignored, NULL},
    {"created_at", set_ignored, NULL},
    {"updated_at", set_ignored, NULL},
};

static int bridge_field_index(const char *name)
{
    for (size_t i = 0; i < sizeof(bridge_fields) / sizeof(bridge_fields[0]); i++)
        if (strcmp(name, bridge_fields[i].name) == 0)
            return (int)i;
    return -1;
}

/*
 * Check `in` against schemas/bridge.schema.json. The compiled schema is made once and kept
 * for the life of the process. On failure, `field` gets the first path segment of the first
 * error ("/retry_delays/2" -> "retry_delays") and `err` its message.
 */
static int bridge_schema_check(const cJSON *in, char *field, size_t fieldlen, char *err,
                               size_t errlen)
{
    static struct jsonschema *compiled;
    if (compiled == NULL) {
        cJSON *doc = cJSON_Parse(schema_bridge_schema_json);
        int rc = jsonschema_compile(doc, &compiled, err, errlen);
        cJSON_Delete(doc);
        if (rc != 0) {
            /* A bug in the shipped schema: say so rather than accept unchecked input. */
            snprintf(field, fieldlen, "%s", "");
            return -1;
        }
    }
    cJSON *errors = cJSON_CreateArray();
    int ret = 0;
    if (!jsonschema_validate(compiled, in, errors, 1)) {
        const cJSON *e = cJSON_GetArrayItem(errors, 0);
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(e, "path");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        const char *p = cJSON_IsString(path) ? path->valuestring : "";
        if (*p == '/')
            p++;
        size_t seg = strcspn(p, "/");
        snprintf(field, fieldlen, "%.*s", (int)seg, p);
        /* Deeper paths say where inside the field: "item 2 must be >= 0". */
        if (p[seg] == '/')
            snprintf(err, errlen, "at %s: %s", p + seg,
                     cJSON_IsString(msg) ? msg->valuestring : "is invalid");
        else
            snprintf(err, errlen, "%s", cJSON_IsString(msg) ? msg->valuestring : "is invalid");
        ret = -1;
    }
    cJSON_Delete(errors);
    return ret;
}

int bridge_from_api(const cJSON *in, const struct bridge *base,
                    const unsigned char key[CRYPTO_KEY_LEN], struct bridge **out, char *field,
                    size_t fieldlen, char *err, size_t errlen)
{
    *out = NULL;
    if (!cJSON_IsObject(in)) {
        snprintf(field, fieldlen, "%s", "");
        snprintf(err, errlen, "the bridge must be a json object");
        return -1;
    }
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        if (bridge_field_index(v->string) < 0) {
            snprintf(field, fieldlen, "%s", v->string);
            snprintf(err, errlen, "unknown field");
            return -1;
        }
    }
    /* Work on a copy so that a refused PATCH leaves `base` as it was. */
    struct bridge *b = base ? bridge_copy(base) : bridge_new_default();
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        int i = bridge_field_index(v->string);
        int rc = bridge_fields[i].set ? bridge_fields[i].set(b, v, err, errlen)
                                      : bridge_fields[i].set_sealed(b, v, key, err, errlen);
        if (rc != 0) {
            snprintf(field, fieldlen, "%s", v->string);
            goto out_free;
        }
    }
    /* Last, so that the setters' messages (which know the field best) come first; the
     * schema still has the final word on every shape it describes. */
    if (bridge_schema_check(in, field, fieldlen, err, errlen) != 0)
        goto out_free;
    if (b->outbound_url == NULL) {
        snprintf(field, fieldlen, "outbound_url");
        snprintf(err, errlen, "is required");
        goto out_free;
    }
    int64_t now = clock_now_ms();
    if (base == NULL) {
        ids_new("brg_", now, b->id, sizeof(b->id));
        char ep[IDS_ENDPOINT_LEN + 1];
        ids_endpoint(ep);
        snprintf(b->endpoint, sizeof(b->endpoint), "%s", ep);
        b->created_ms = now;
    }
    b->updated_ms = now;
    *out = b;
    return 0;

out_free:
    bridge_free(b);
    return -1;
}

static cJSON *retry_delays_json(const struct bridge *b)
{
    if (b->retry_delays == NULL || b->n_retry_delays == 0)
        return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < b->n_retry_delays; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)b->retry_delays[i]));
    return a;
}

static cJSON *json_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

static cJSON *string_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *headers_json(const struct bridge *b)
{
    return b->headers ? cJSON_Duplicate(b->headers, true) : cJSON_CreateObject();
}

cJSON *bridge_to_api(const struct bridge *b, const char *public_url)
{
    char iso[CLOCK_ISO_LEN];
    const char *pub = public_url ? public_url : "";
    size_t publen = strlen(pub);
    /* "http://host/" + "/hooks/…" would give a double slash. */
    while (publen > 0 && pub[publen - 1] == '/')
        publen--;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", b->id);
    cJSON_AddStringToObject(o, "name", b->name ? b->name : "");
    cJSON_AddStringToObject(o, "endpoint", b->endpoint);
    char *inbound = xasprintf("%.*s/hooks/%s", (int)publen, pub, b->endpoint);
    cJSON_AddStringToObject(o, "inbound_url", inbound);
    free(inbound);
    cJSON_AddStringToObject(o, "outbound_url", b->outbound_url ? b->outbound_url : "");
    cJSON_AddStringToObject(o, "method", b->method);
    cJSON_AddItemToObject(o, "headers", headers_json(b));
    cJSON_AddItemToObject(o, "payload", json_or_null(b->payload));
    cJSON_AddNumberToObject(o, "delay_seconds", (double)b->delay_seconds);
    cJSON_AddNumberToObject(o, "retries", b->retries);
    cJSON_AddItemToObject(o, "retry_delays", retry_delays_json(b));
    cJSON_AddNumberToObject(o, "timeout_ms", (double)b->timeout_ms);
    /* Secrets are write-only: the names show, the values never do. */
    cJSON *env = cJSON_AddObjectToObject(o, "env");
    for (const cJSON *e = b->env ? b->env->child : NULL; e != NULL; e = e->next)
        cJSON_AddStringToObject(env, e->string, BRIDGE_SECRET_MASK);
    cJSON *auth;
    if (b->auth != NULL) {
        auth = cJSON_Duplicate(b->auth, true);
        cJSON_ReplaceItemInObjectCaseSensitive(auth, "secret",
                                               cJSON_CreateString(BRIDGE_SECRET_MASK));
    } else {
        auth = cJSON_CreateObject();
        cJSON_AddStringToObject(auth, "type", "none");
    }
    cJSON_AddItemToObject(o, "auth", auth);
    cJSON_AddItemToObject(o, "schema", json_or_null(b->schema));
    cJSON_AddItemToObject(o, "filter", json_or_null(b->filter));
    cJSON_AddItemToObject(o, "notify_url", string_or_null(b->notify_url));
    cJSON_AddItemToObject(o, "signing_secret",
                          b->signing_secret ? cJSON_CreateString(BRIDGE_SECRET_MASK)
                                            : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "active", b->active);
    flow_to_api(b->flow, o);
    cJSON_AddStringToObject(o, "deliveries", b->paused ? "paused" : "running");
    clock_iso8601(b->created_ms, iso);
    cJSON_AddStringToObject(o, "created_at", iso);
    clock_iso8601(b->updated_ms, iso);
    cJSON_AddStringToObject(o, "updated_at", iso);
    return o;
}

char *bridge_to_store(const struct bridge *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", b->id);
    cJSON_AddStringToObject(o, "endpoint", b->endpoint);
    cJSON_AddStringToObject(o, "name", b->name ? b->name : "");
    cJSON_AddStringToObject(o, "outbound_url", b->outbound_url ? b->outbound_url : "");
    cJSON_AddStringToObject(o, "method", b->method);
    cJSON_AddItemToObject(o, "headers", headers_json(b));
    cJSON_AddNumberToObject(o, "delay_seconds", (double)b->delay_seconds);
    cJSON_AddNumberToObject(o, "retries", b->retries);
    cJSON_AddItemToObject(o, "retry_delays", retry_delays_json(b));
    cJSON_AddNumberToObject(o, "timeout_ms", (double)b->timeout_ms);
    /* Sealed values only: the row is safe to back up or read with sqlite3. */
    cJSON_AddItemToObject(o, "payload", json_or_null(b->payload));
    cJSON_AddItemToObject(o, "env", b->env ? cJSON_Duplicate(b->env, true) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "auth", json_or_null(b->auth));
    cJSON_AddItemToObject(o, "schema", json_or_null(b->schema));
    cJSON_AddItemToObject(o, "filter", json_or_null(b->filter));
    cJSON_AddItemToObject(o, "notify_url", string_or_null(b->notify_url));
    cJSON_AddItemToObject(o, "signing_secret", string_or_null(b->signing_secret));
    cJSON_AddBoolToObject(o, "active", b->active);
    if (b->flow != NULL)
        cJSON_AddItemToObject(o, "flow", cJSON_Duplicate(b->flow, true));
    if (b->paused)
        cJSON_AddBoolToObject(o, "paused", true);
    /* Milliseconds stay exact in a double up to 2^53, far past any real clock. */
    cJSON_AddNumberToObject(o, "created_ms", (double)b->created_ms);
    cJSON_AddNumberToObject(o, "updated_ms", (double)b->updated_ms);
    /* Exact numbers: cJSON's printer would store {"const": 9007199254740992} as 2^53 - 2. */
    char *s = text_json_print(o);
    cJSON_Delete(o);
    return s;
}

/* Copy a string member into a fixed buffer; false when missing, not a string or too long. */
static bool store_str_buf(const cJSON *o, const char *key, char *buf, size_t buflen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= buflen)
        return false;
    memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

/* A number member as int64; absent gives `def`, anything else but a whole number fails. */
static bool store_num(const cJSON *o, const char *key, int64_t def, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9.0e15 && v->valuedouble <= 9.0e15))
        return false;
    *out = (int64_t)v->valuedouble;
    return (double)*out == v->valuedouble;
}

/* An optional JSON member: absent or null leaves *out NULL; `object` requires an object. */
static bool store_json_field(const cJSON *o, const char *key, bool object, cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (object && !cJSON_IsObject(v))
        return false;
    *out = cJSON_Duplicate(v, true);
    return true;
}

/* An optional string member: absent or null leaves *out NULL. */
static bool store_str_or_null(const cJSON *o, const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v))
        return false;
    *out = xstrdup(v->valuestring);
    return true;
}

int bridge_from_store(const char *json, struct bridge **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *bad = NULL;
    /* Strings holding U+0000 stay whole, for an inbound schema's const or enum. */
    cJSON *o = body_json_whole(json ? json : "", json ? strlen(json) : 0, NULL);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "bridge json: not a json object");
        cJSON_Delete(o);
        return -1;
    }
    /* Missing optional fields take their defaults, so rows written before a field existed
     * still load; unknown fields are left for newer code. */
    struct bridge *b = bridge_new_default();
    int64_t n;
    const cJSON *v;

    if (!store_str_buf(o, "id", b->id, sizeof(b->id))) {
        bad = "id";
        goto out_free;
    }
    if (!store_str_buf(o, "endpoint", b->endpoint, sizeof(b->endpoint))) {
        bad = "endpoint";
        goto out_free;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "outbound_url");
    if (!cJSON_IsString(v)) {
        bad = "outbound_url";
        goto out_free;
    }
    b->outbound_url = xstrdup(v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (v != NULL) {
        if (!cJSON_IsString(v)) {
            bad = "name";
            goto out_free;
        }
        free(b->name);
        b->name = xstrdup(v->valuestring);
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "method") != NULL &&
        !store_str_buf(o, "method", b->method, sizeof(b->method))) {
        bad = "method";
        goto out_free;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "headers");
    if (v != NULL) {
        if (!cJSON_IsObject(v)) {
            bad = "headers";
            goto out_free;
        }
        cJSON_Delete(b->headers);
        b->headers = cJSON_Duplicate(v, true);
    }
    if (!store_num(o, "delay_seconds", 0, &n)) {
        bad = "delay_seconds";
        goto out_free;
    }
    b->delay_seconds = (long)n;
    if (!store_num(o, "retries", BRIDGE_DEFAULT_RETRIES, &n) || n < 0 || n > INT32_MAX) {
        bad = "retries";
        goto out_free;
    }
    b->retries = (int)n;
    v = cJSON_GetObjectItemCaseSensitive(o, "retry_delays");
    if (v != NULL && !cJSON_IsNull(v)) {
        int count = cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || count == 0) {
            bad = "retry_delays";
            goto out_free;
        }
        b->retry_delays = xcalloc((size_t)count, sizeof(*b->retry_delays));
        b->n_retry_delays = (size_t)count;
        size_t i = 0;
        for (const cJSON *d = v->child; d != NULL; d = d->next, i++) {
            if (!cJSON_IsNumber(d)) {
                bad = "retry_delays";
                goto out_free;
            }
            b->retry_delays[i] = (long)d->valuedouble;
        }
    }
    if (!store_num(o, "timeout_ms", BRIDGE_DEFAULT_TIMEOUT, &n)) {
        bad = "timeout_ms";
        goto out_free;
    }
    b->timeout_ms = (long)n;
    v = cJSON_GetObjectItemCaseSensitive(o, "active");
    if (v != NULL) {
        if (!cJSON_IsBool(v)) {
            bad = "active";
            goto out_free;
        }
        b->active = cJSON_IsTrue(v);
    }
    b->paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "paused"));
    if (!store_json_field(o, "flow", true, &b->flow)) {
        bad = "flow";
        goto out_free;
    }
    if (!store_json_field(o, "payload", false, &b->payload)) {
        bad = "payload";
        goto out_free;
    }
    if (!store_json_field(o, "auth", true, &b->auth)) {
        bad = "auth";
        goto out_free;
    }
    if (!store_json_field(o, "schema", false, &b->schema)) {
        bad = "schema";
        goto out_free;
    }
    if (!store_json_field(o, "filter", true, &b->filter)) {
        bad = "filter";
        goto out_free;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "env");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            bad = "env";
            goto out_free;
        }
        for (const cJSON *e = v->child; e != NULL; e = e->next) {
            if (!cJSON_IsString(e)) {
                bad = "env";
                goto out_free;
            }
        }
        cJSON_Delete(b->env);
        b->env = cJSON_Duplicate(v, true);
    }
    if (!store_str_or_null(o, "notify_url", &b->notify_url)) {
        bad = "notify_url";
        goto out_free;
    }
    if (!store_str_or_null(o, "signing_secret", &b->signing_secret)) {
        bad = "signing_secret";
        goto out_free;
    }
    if (!store_num(o, "created_ms", 0, &b->created_ms)) {
        bad = "created_ms";
        goto out_free;
    }
    if (!store_num(o, "updated_ms", b->created_ms, &b->updated_ms)) {
        bad = "updated_ms";
        goto out_free;
    }
    cJSON_Delete(o);
    *out = b;
    return 0;

out_free:
    snprintf(err, errlen, "bridge json: %s missing or malformed", bad);
    bridge_free(b);
    cJSON_Delete(o);
    return -1;
}

/* ---- secrets ---- */

void bridge_secret_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

cJSON *bridge_env_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                       size_t errlen)
{
    cJSON *env = cJSON_CreateObject();
    for (const cJSON *e = b->env ? b->env->child : NULL; e != NULL; e = e->next) {
        char why[HB_ERR_LEN];
        char *plain =
            cJSON_IsString(e) ? crypto_open(key, e->valuestring, NULL, why, sizeof(why)) : NULL;
        if (plain == NULL) {
            snprintf(err, errlen, "env %.64s: %s", e->string,
                     cJSON_IsString(e) ? why : "not a sealed value");
            cJSON_Delete(env);
            return NULL;
        }
        cJSON_AddStringToObject(env, e->string, plain);
        bridge_secret_free(plain);
    }
    return env;
}

int bridge_auth_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN],
                     struct auth_params *p, char **secret, char *err, size_t errlen)
{
    *secret = NULL;
    if (b->auth == NULL) {
        memset(p, 0, sizeof(*p));
        p->type = AUTH_NONE;
        return 0;
    }
    const cJSON *sealed = cJSON_GetObjectItemCaseSensitive(b->auth, "secret");
    char why[HB_ERR_LEN];
    char *plain = cJSON_IsString(sealed)
                      ? crypto_open(key, sealed->valuestring, NULL, why, sizeof(why))
                      : NULL;
    if (plain == NULL) {
        snprintf(err, errlen, "auth secret: %s", cJSON_IsString(sealed) ? why : "missing");
        return -1;
    }
    /* Check the settings with the real secret in place, exactly as the API did. */
    cJSON *open = cJSON_Duplicate(b->auth, true);
    cJSON_ReplaceItemInObjectCaseSensitive(open, "secret", cJSON_CreateString(plain));
    int rc = auth_params_from_json(open, p, err, errlen);
    /* p->secret points into `open`; repoint it at our own copy before freeing the tree. */
    if (rc == 0) {
        p->secret = plain;
        p->secret_len = strlen(plain);
        *secret = plain;
    } else {
        bridge_secret_free(plain);
    }
    const cJSON *tmp = cJSON_GetObjectItemCaseSensitive(open, "secret");
    if (cJSON_IsString(tmp))
        sodium_memzero(tmp->valuestring, strlen(tmp->valuestring));
    cJSON_Delete(open);
    return rc;
}

char *bridge_signing_secret_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN],
                                 char *err, size_t errlen)
{
    err[0] = '\0';
    if (b->signing_secret == NULL)
        return NULL;
    char why[HB_ERR_LEN];
    char *plain = crypto_open(key, b->signing_secret, NULL, why, sizeof(why));
    if (plain == NULL)
        snprintf(err, errlen, "signing_secret: %s", why);
    return plain;
}

/* Whether a template string refers to $payload (bare or delimited, not escaped as $$). */
static bool template_uses_payload(const char *s)
{
    for (const char *p = s; p && *p; p++) {
        if (*p != '$')
            continue;
        if (p[1] == '$') {
            p++;
            continue;
        }
        const char *r = p[1] == '{' ? p + 2 : p + 1;
        if (strncmp(r, "payload", 7) == 0 && !isalnum((unsigned char)r[7]) && r[7] != '_' &&
            r[7] != '-')
            return true;
    }
    return false;
}

bool bridge_needs_json(const struct bridge *b)
{
    if (b->payload != NULL || b->schema != NULL || b->filter != NULL)
        return true;
    if (template_uses_payload(b->outbound_url))
        return true;
    for (const cJSON *h = b->headers ? b->headers->child : NULL; h != NULL; h = h->next)
        if (cJSON_IsString(h) && template_uses_payload(h->valuestring))
            return true;
    return false;
}

int bridge_key_check(struct store *st, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                     size_t errlen)
{
    char serr[HB_ERR_LEN];
    char *sealed = NULL;
    int rc = store_meta_get(st, BRIDGE_KEY_CHECK, &sealed, serr);
    if (rc == STORE_NOTFOUND) {
        char *mine = crypto_seal(key, BRIDGE_KEY_CHECK_TEXT, strlen(BRIDGE_KEY_CHECK_TEXT));
        /* Two processes starting together: the first insert wins, both then check it. */
        rc = store_meta_insert(st, BRIDGE_KEY_CHECK, mine, serr);
        free(mine);
        if (rc == 0)
            rc = store_meta_get(st, BRIDGE_KEY_CHECK, &sealed, serr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "secret key check: %s", serr);
        free(sealed);
        return -1;
    }
    char why[HB_ERR_LEN];
    char *plain = crypto_open(key, sealed, NULL, why, sizeof(why));
    free(sealed);
    bool ok = plain != NULL && strcmp(plain, BRIDGE_KEY_CHECK_TEXT) == 0;
    free(plain);
    if (!ok) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_SECRET_KEY: not the key this database's secrets were sealed with");
        return -1;
    }
    return 0;
}
