/*
 * route.c - a bridge's destinations: checking each route field of an API body, and the
 * route's JSON forms (API and SQLite).
 *
 * The same checks serve a route object inside `routes` and the top-level fields of a
 * bridge without routes (its implicit "default" route), so both say the same things about
 * the same values. Secret values are sealed the moment they arrive, as in bridge.c.
 */
#include "route.h"

#include "bridge.h"
#include "destcfg.h"
#include "filter.h"
#include "flow.h"
#include "jsonrow.h"
#include "template.h"
#include "text.h"
#include "xalloc.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_URL_MAX 2048
#define ROUTE_HEADERS_MAX 50
#define ROUTE_TIMEOUT_MIN 100
#define ROUTE_TIMEOUT_MAX 300000
#define ROUTE_DEFAULT_RETRIES 3
#define ROUTE_DEFAULT_TIMEOUT 30000
/* Templates and filters are kept in every bridge row and parsed per event. */
#define ROUTE_JSON_FIELD_MAX (64 * 1024)

static const char *const route_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

void route_init(struct route *r, const char *name)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->method, sizeof(r->method), "POST");
    r->headers = cJSON_CreateObject();
    r->retries = ROUTE_DEFAULT_RETRIES;
    r->timeout_ms = ROUTE_DEFAULT_TIMEOUT;
}

static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : NULL;
}

static char *strdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void route_copy(struct route *dst, const struct route *src)
{
    *dst = *src;
    dst->outbound_url = strdup_or_null(src->outbound_url);
    dst->headers = src->headers ? cJSON_Duplicate(src->headers, true) : cJSON_CreateObject();
    dst->payload = dup_or_null(src->payload);
    dst->filter = dup_or_null(src->filter);
    dst->signing_secret = strdup_or_null(src->signing_secret);
    dst->notify_url = strdup_or_null(src->notify_url);
    dst->flow = dup_or_null(src->flow);
    dst->oauth2 = dup_or_null(src->oauth2);
    dst->email = dup_or_null(src->email);
    dst->tls = dup_or_null(src->tls);
    if (src->retry_delays != NULL && src->n_retry_delays > 0) {
        dst->retry_delays = xcalloc(src->n_retry_delays, sizeof(*dst->retry_delays));
        memcpy(dst->retry_delays, src->retry_delays,
               src->n_retry_delays * sizeof(*dst->retry_delays));
    } else {
        dst->retry_delays = NULL;
        dst->n_retry_delays = 0;
    }
}

void route_clear(struct route *r)
{
    if (r == NULL)
        return;
    free(r->outbound_url);
    cJSON_Delete(r->headers);
    cJSON_Delete(r->payload);
    cJSON_Delete(r->filter);
    free(r->retry_delays);
    free(r->signing_secret);
    free(r->notify_url);
    cJSON_Delete(r->flow);
    cJSON_Delete(r->oauth2);
    cJSON_Delete(r->email);
    cJSON_Delete(r->tls);
    memset(r, 0, sizeof(*r));
}

void route_array_free(struct route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        route_clear(&routes[i]);
    free(routes);
}

bool route_name_valid(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= ROUTE_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---- helpers ---- */

bool route_json_int_in(const cJSON *v, long lo, long hi, long *out)
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

bool route_json_small_enough(const cJSON *v, char *err, size_t errlen)
{
    char *s = cJSON_PrintUnformatted(v);
    size_t n = s ? strlen(s) : 0;
    free(s);
    if (n > ROUTE_JSON_FIELD_MAX) {
        snprintf(err, errlen, "must be at most %d bytes as JSON", ROUTE_JSON_FIELD_MAX);
        return false;
    }
    return true;
}

void route_json_replace(cJSON **dst, const cJSON *v)
{
    cJSON_Delete(*dst);
    *dst = cJSON_IsNull(v) ? NULL : cJSON_Duplicate(v, true);
}

bool route_is_mask(const cJSON *v)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, BRIDGE_SECRET_MASK) == 0;
}

/*
 * Field setters. Each takes the JSON value given for its field; null resets the field to
 * its default. They return 0, or -1 with err set, and leave `r` valid either way.
 */
typedef int (*route_setter)(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                            size_t errlen);

static int set_outbound_url(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                            size_t errlen)
{
    (void)key;
    if (cJSON_IsNull(v)) {
        snprintf(err, errlen, "is required");
        return -1;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "must be a string");
        return -1;
    }
    if (strlen(v->valuestring) > ROUTE_URL_MAX) {
        snprintf(err, errlen, "must be at most %d characters", ROUTE_URL_MAX);
        return -1;
    }
    /* smtp:// and smtps:// make an e-mail route (destcfg.h). */
    const char *why = destcfg_is_smtp_url(v->valuestring) ? destcfg_smtp_url_problem(v->valuestring)
                                                          : bridge_url_problem(v->valuestring);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (tmpl_check(v->valuestring, err, errlen) != 0)
        return -1;
    free(r->outbound_url);
    r->outbound_url = xstrdup(v->valuestring);
    return 0;
}

static int set_method(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                      size_t errlen)
{
    (void)key;
    if (cJSON_IsNull(v)) {
        snprintf(r->method, sizeof(r->method), "POST");
        return 0;
    }
    if (cJSON_IsString(v)) {
        for (size_t i = 0; i < sizeof(route_methods) / sizeof(route_methods[0]); i++) {
            if (strcmp(v->valuestring, route_methods[i]) == 0) {
                snprintf(r->method, sizeof(r->method), "%s", route_methods[i]);
                return 0;
            }
        }
    }
    snprintf(err, errlen, "must be one of GET, POST, PUT, PATCH, DELETE");
    return -1;
}

static int set_headers(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                       size_t errlen)
{
    (void)key;
    if (cJSON_IsNull(v)) {
        cJSON_Delete(r->headers);
        r->headers = cJSON_CreateObject();
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "must be an object of header names to string values");
        return -1;
    }
    int n = 0;
    for (const cJSON *h = v->child; h != NULL; h = h->next) {
        if (++n > ROUTE_HEADERS_MAX) {
            snprintf(err, errlen, "must hold at most %d headers", ROUTE_HEADERS_MAX);
            return -1;
        }
        if (!text_is_token(h->string)) {
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
    cJSON_Delete(r->headers);
    r->headers = cJSON_Duplicate(v, true);
    return 0;
}

static int set_delay_seconds(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                             size_t errlen)
{
    (void)key;
    long val = 0;
    if (!cJSON_IsNull(v) && !route_json_int_in(v, 0, BRIDGE_MAX_DELAY, &val)) {
        snprintf(err, errlen, "must be an integer in 0..%d", BRIDGE_MAX_DELAY);
        return -1;
    }
    r->delay_seconds = val;
    return 0;
}

static int set_retries(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                       size_t errlen)
{
    (void)key;
    long val = ROUTE_DEFAULT_RETRIES;
    if (!cJSON_IsNull(v) && !route_json_int_in(v, 0, BRIDGE_MAX_RETRIES, &val)) {
        snprintf(err, errlen, "must be an integer in 0..%d", BRIDGE_MAX_RETRIES);
        return -1;
    }
    r->retries = (int)val;
    return 0;
}

static int set_retry_delays(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                            size_t errlen)
{
    (void)key;
    if (cJSON_IsNull(v)) {
        free(r->retry_delays);
        r->retry_delays = NULL;
        r->n_retry_delays = 0;
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
        if (!route_json_int_in(d, 0, BRIDGE_MAX_DELAY, &delays[i])) {
            snprintf(err, errlen, "item %zu must be an integer in 0..%d", i, BRIDGE_MAX_DELAY);
            free(delays);
            return -1;
        }
    }
    free(r->retry_delays);
    r->retry_delays = delays;
    r->n_retry_delays = (size_t)n;
    return 0;
}

static int set_timeout_ms(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                          size_t errlen)
{
    (void)key;
    long val = ROUTE_DEFAULT_TIMEOUT;
    if (!cJSON_IsNull(v) && !route_json_int_in(v, ROUTE_TIMEOUT_MIN, ROUTE_TIMEOUT_MAX, &val)) {
        snprintf(err, errlen, "must be an integer in %d..%d", ROUTE_TIMEOUT_MIN, ROUTE_TIMEOUT_MAX);
        return -1;
    }
    r->timeout_ms = val;
    return 0;
}

static int set_payload(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                       size_t errlen)
{
    (void)key;
    if (!cJSON_IsNull(v) &&
        (!route_json_small_enough(v, err, errlen) || tmpl_check_json(v, err, errlen) != 0))
        return -1;
    route_json_replace(&r->payload, v);
    return 0;
}

static int set_filter(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                      size_t errlen)
{
    (void)key;
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v)) {
            snprintf(err, errlen, "must be an object or null");
            return -1;
        }
        if (!route_json_small_enough(v, err, errlen) || filter_check(v, err, errlen) != 0)
            return -1;
    }
    route_json_replace(&r->filter, v);
    return 0;
}

static int set_notify_url(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                          size_t errlen)
{
    (void)key;
    if (cJSON_IsNull(v)) {
        free(r->notify_url);
        r->notify_url = NULL;
        return 0;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) > ROUTE_URL_MAX) {
        snprintf(err, errlen, "must be null or a URL of at most %d characters", ROUTE_URL_MAX);
        return -1;
    }
    const char *why = bridge_url_problem(v->valuestring);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    free(r->notify_url);
    r->notify_url = xstrdup(v->valuestring);
    return 0;
}

static int set_signing_secret(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                              size_t errlen)
{
    if (cJSON_IsNull(v)) {
        free(r->signing_secret);
        r->signing_secret = NULL;
        return 0;
    }
    if (route_is_mask(v)) {
        if (r->signing_secret == NULL) {
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
    free(r->signing_secret);
    r->signing_secret = crypto_seal(key, v->valuestring, strlen(v->valuestring));
    return 0;
}

/* The destination fields (destcfg.h): replaced as a whole, secrets kept when left out. */
static int set_tls(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                   size_t errlen)
{
    return destcfg_set("tls", &r->tls, v, key, err, errlen);
}

static int set_email(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                     size_t errlen)
{
    return destcfg_set("email", &r->email, v, key, err, errlen);
}

/* Flow control, checked in common/flow.c and kept together in r->flow. */
static int set_rate_limit(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                          size_t errlen)
{
    (void)key;
    return flow_set_rate_limit(&r->flow, v, err, errlen);
}

static int set_max_concurrency(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                               size_t errlen)
{
    (void)key;
    return flow_set_max_concurrency(&r->flow, v, err, errlen);
}

static int set_circuit(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                       size_t errlen)
{
    (void)key;
    return flow_set_circuit(&r->flow, v, err, errlen);
}

static int set_oauth2(struct route *r, const cJSON *v, const unsigned char *key, char *err,
                      size_t errlen)
{
    return destcfg_set("oauth2", &r->oauth2, v, key, err, errlen);
}

/*
 * Every route field of the API. A module adding a field (flow control, destinations) adds
 * one row here with its setter, which checks the value in that module and stores it with
 * route_json_replace into its member of struct route.
 */
static const struct {
    const char *name;
    route_setter set;
} route_fields[] = {
    {"outbound_url", set_outbound_url},
    {"method", set_method},
    {"headers", set_headers},
    {"payload", set_payload},
    {"filter", set_filter},
    {"delay_seconds", set_delay_seconds},
    {"retries", set_retries},
    {"retry_delays", set_retry_delays},
    {"timeout_ms", set_timeout_ms},
    {"notify_url", set_notify_url},
    {"signing_secret", set_signing_secret},
    {"tls", set_tls},
    {"email", set_email},
    {"oauth2", set_oauth2},
    {"rate_limit", set_rate_limit},
    {"max_concurrency", set_max_concurrency},
    {"circuit", set_circuit},
};

/* The JSON members other modules add, written and read as they are, and only when set. */
static const struct {
    const char *name;
    size_t offset;
} route_json_members[] = {
    {"oauth2", offsetof(struct route, oauth2)},
    {"email", offsetof(struct route, email)},
    {"tls", offsetof(struct route, tls)},
};

#define N_ROUTE_FIELDS (sizeof(route_fields) / sizeof(route_fields[0]))
#define N_ROUTE_JSON_MEMBERS (sizeof(route_json_members) / sizeof(route_json_members[0]))

static cJSON **route_member(struct route *r, size_t i)
{
    return (cJSON **)(void *)((char *)r + route_json_members[i].offset);
}

static cJSON *const *route_member_const(const struct route *r, size_t i)
{
    return (cJSON *const *)(const void *)((const char *)r + route_json_members[i].offset);
}

bool route_field_known(const char *name)
{
    for (size_t i = 0; i < N_ROUTE_FIELDS; i++)
        if (strcmp(name, route_fields[i].name) == 0)
            return true;
    return false;
}

int route_field_set(struct route *r, const char *name, const cJSON *v,
                    const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
    for (size_t i = 0; i < N_ROUTE_FIELDS; i++)
        if (strcmp(name, route_fields[i].name) == 0)
            return route_fields[i].set(r, v, key, err, errlen);
    snprintf(err, errlen, "unknown field");
    return -1;
}

int route_from_api(struct route *r, const cJSON *in, const struct route *base,
                   const unsigned char key[CRYPTO_KEY_LEN], char *field, size_t fieldlen, char *err,
                   size_t errlen)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    memset(r, 0, sizeof(*r));
    field[0] = '\0';
    if (!cJSON_IsObject(in)) {
        snprintf(err, errlen, "must be an object with a name and the route's fields");
        return -1;
    }
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        if (strcmp(v->string, "name") != 0 && !route_field_known(v->string)) {
            snprintf(field, fieldlen, "%s", v->string);
            snprintf(err, errlen, "unknown field");
            return -1;
        }
    }
    if (!cJSON_IsString(name) || !route_name_valid(name->valuestring)) {
        snprintf(field, fieldlen, "name");
        snprintf(err, errlen, "is required: 1..%d of a-z, 0-9, '_' and '-'", ROUTE_NAME_MAX);
        return -1;
    }
    if (base != NULL) {
        route_copy(r, base);
    } else {
        route_init(r, name->valuestring);
    }
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        if (strcmp(v->string, "name") == 0)
            continue;
        if (route_field_set(r, v->string, v, key, err, errlen) != 0) {
            snprintf(field, fieldlen, "%s", v->string);
            route_clear(r);
            return -1;
        }
    }
    if (r->outbound_url == NULL) {
        snprintf(field, fieldlen, "outbound_url");
        snprintf(err, errlen, "is required");
        route_clear(r);
        return -1;
    }
    return 0;
}

/* ---- JSON forms ---- */

static cJSON *retry_delays_json(const struct route *r)
{
    if (r->retry_delays == NULL || r->n_retry_delays == 0)
        return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < r->n_retry_delays; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)r->retry_delays[i]));
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

void route_put(const struct route *r, cJSON *o, bool api)
{
    cJSON_AddStringToObject(o, "outbound_url", r->outbound_url ? r->outbound_url : "");
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddItemToObject(o, "headers",
                          r->headers ? cJSON_Duplicate(r->headers, true) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "payload", json_or_null(r->payload));
    cJSON_AddNumberToObject(o, "delay_seconds", (double)r->delay_seconds);
    cJSON_AddNumberToObject(o, "retries", r->retries);
    cJSON_AddItemToObject(o, "retry_delays", retry_delays_json(r));
    cJSON_AddNumberToObject(o, "timeout_ms", (double)r->timeout_ms);
    cJSON_AddItemToObject(o, "filter", json_or_null(r->filter));
    cJSON_AddItemToObject(o, "notify_url", string_or_null(r->notify_url));
    /* Secrets are write-only: the API says one is set, never what it is. */
    if (api)
        cJSON_AddItemToObject(o, "signing_secret",
                              r->signing_secret ? cJSON_CreateString(BRIDGE_SECRET_MASK)
                                                : cJSON_CreateNull());
    else
        cJSON_AddItemToObject(o, "signing_secret", string_or_null(r->signing_secret));
    for (size_t i = 0; i < N_ROUTE_JSON_MEMBERS; i++) {
        const cJSON *v = *route_member_const(r, i);
        const char *name = route_json_members[i].name;
        if (v == NULL)
            continue;
        /* The destination fields hold sealed secrets, which the API shows masked. */
        if (api && destcfg_is_field(name))
            cJSON_AddItemToObject(o, name, destcfg_to_api(name, v));
        else
            cJSON_AddItemToObject(o, name, cJSON_Duplicate(v, true));
    }
    /* The API shows every flow field with its default; the row keeps what was given. */
    if (api)
        flow_to_api(r->flow, o);
    else if (r->flow != NULL)
        cJSON_AddItemToObject(o, "flow", cJSON_Duplicate(r->flow, true));
}

/* A number member as long: jsonrow_int within long's range. */
static bool load_num(const cJSON *o, const char *key, long def, long *out)
{
    int64_t v;
    if (!jsonrow_int(o, key, def, &v) || v < LONG_MIN || v > LONG_MAX)
        return false;
    *out = (long)v;
    return true;
}

/* An optional string member: absent or null leaves *out NULL. */
static bool load_str_or_null(const cJSON *o, const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v))
        return false;
    free(*out);
    *out = xstrdup(v->valuestring);
    return true;
}

int route_load(struct route *r, const cJSON *o, const char **bad)
{
    long n;
    const cJSON *v;
    if (!load_str_or_null(o, "outbound_url", &r->outbound_url)) {
        *bad = "outbound_url";
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "method");
    if (v != NULL) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(r->method)) {
            *bad = "method";
            return -1;
        }
        snprintf(r->method, sizeof(r->method), "%s", v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "headers");
    if (v != NULL) {
        if (!cJSON_IsObject(v)) {
            *bad = "headers";
            return -1;
        }
        cJSON_Delete(r->headers);
        r->headers = cJSON_Duplicate(v, true);
    }
    if (!load_num(o, "delay_seconds", 0, &n)) {
        *bad = "delay_seconds";
        return -1;
    }
    r->delay_seconds = n;
    if (!load_num(o, "retries", ROUTE_DEFAULT_RETRIES, &n) || n < 0 || n > INT32_MAX) {
        *bad = "retries";
        return -1;
    }
    r->retries = (int)n;
    v = cJSON_GetObjectItemCaseSensitive(o, "retry_delays");
    if (v != NULL && !cJSON_IsNull(v)) {
        int count = cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || count == 0) {
            *bad = "retry_delays";
            return -1;
        }
        free(r->retry_delays);
        r->retry_delays = xcalloc((size_t)count, sizeof(*r->retry_delays));
        r->n_retry_delays = (size_t)count;
        size_t i = 0;
        for (const cJSON *d = v->child; d != NULL; d = d->next, i++) {
            if (!cJSON_IsNumber(d)) {
                *bad = "retry_delays";
                return -1;
            }
            r->retry_delays[i] = (long)d->valuedouble;
        }
    }
    if (!load_num(o, "timeout_ms", ROUTE_DEFAULT_TIMEOUT, &n)) {
        *bad = "timeout_ms";
        return -1;
    }
    r->timeout_ms = n;
    if (!jsonrow_json(o, "payload", false, &r->payload)) {
        *bad = "payload";
        return -1;
    }
    if (!jsonrow_json(o, "filter", true, &r->filter)) {
        *bad = "filter";
        return -1;
    }
    if (!load_str_or_null(o, "notify_url", &r->notify_url)) {
        *bad = "notify_url";
        return -1;
    }
    if (!load_str_or_null(o, "signing_secret", &r->signing_secret)) {
        *bad = "signing_secret";
        return -1;
    }
    for (size_t i = 0; i < N_ROUTE_JSON_MEMBERS; i++) {
        if (!jsonrow_json(o, route_json_members[i].name, false, route_member(r, i))) {
            *bad = route_json_members[i].name;
            return -1;
        }
    }
    if (!jsonrow_json(o, "flow", true, &r->flow)) {
        *bad = "flow";
        return -1;
    }
    return 0;
}

char *route_signing_secret_open(const struct route *r, const unsigned char key[CRYPTO_KEY_LEN],
                                char *err, size_t errlen)
{
    err[0] = '\0';
    if (r->signing_secret == NULL)
        return NULL;
    char why[HB_ERR_LEN];
    char *plain = crypto_open(key, r->signing_secret, NULL, why, sizeof(why));
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
        const char *t = p[1] == '{' ? p + 2 : p + 1;
        if (strncmp(t, "payload", 7) == 0 && !isalnum((unsigned char)t[7]) && t[7] != '_' &&
            t[7] != '-')
            return true;
    }
    return false;
}

/* Whether any string inside `v` (an email route's templates) refers to $payload. */
static bool route_json_uses_payload(const cJSON *v)
{
    if (v == NULL)
        return false;
    if (cJSON_IsString(v))
        return template_uses_payload(v->valuestring);
    for (const cJSON *e = v->child; e != NULL; e = e->next)
        if (route_json_uses_payload(e))
            return true;
    return false;
}

bool route_needs_json(const struct route *r)
{
    if (r->payload != NULL || r->filter != NULL)
        return true;
    if (template_uses_payload(r->outbound_url))
        return true;
    for (const cJSON *h = r->headers ? r->headers->child : NULL; h != NULL; h = h->next)
        if (cJSON_IsString(h) && template_uses_payload(h->valuestring))
            return true;
    return route_json_uses_payload(r->email);
}
