/*
 * bridge.c - checking admin API input into a `struct bridge`, and the bridge's two JSON
 * forms: what the API shows and what SQLite keeps.
 *
 * Validation is by hand for now; a JSON Schema validator takes over the shape checks later,
 * but the rules here stay the source of truth for ranges and defaults. Fields that later
 * issues implement (payload, env, auth, …) are accepted only in their "not set" form, so a
 * client never believes a setting took effect when it did not.
 */
#include "bridge.h"

#include "clock.h"
#include "ids.h"
#include "xalloc.h"

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

static const char *const bridge_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/* A new bridge with every optional field at its default. */
static struct bridge *bridge_new_default(void)
{
    struct bridge *b = xcalloc(1, sizeof(*b));
    b->name = xstrdup("");
    snprintf(b->method, sizeof(b->method), "POST");
    b->headers = cJSON_CreateObject();
    b->retries = BRIDGE_DEFAULT_RETRIES;
    b->timeout_ms = BRIDGE_DEFAULT_TIMEOUT;
    b->active = true;
    return b;
}

static struct bridge *bridge_copy(const struct bridge *src)
{
    struct bridge *b = xcalloc(1, sizeof(*b));
    *b = *src;
    b->name = xstrdup(src->name ? src->name : "");
    b->outbound_url = src->outbound_url ? xstrdup(src->outbound_url) : NULL;
    b->headers = src->headers ? cJSON_Duplicate(src->headers, true) : cJSON_CreateObject();
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

/* Code points, not bytes: limits are what a user counts, as JSON Schema's maxLength does. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
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

/*
 * Check that an http(s) URL has a host. By hand rather than with curl's or libevent's
 * parser because outbound_url may hold template references (`${payload.id}`) that strict
 * parsers refuse; they are resolved before the request is made.
 */
static const char *url_problem(const char *url)
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
    const char *why = url_problem(v->valuestring);
    if (why != NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
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
        if (!cJSON_IsString(h)) {
            snprintf(err, errlen, "%.64s: must be a string", h->string);
            return -1;
        }
        /* CR or LF in a value would let a bridge inject headers or a second request. */
        if (strpbrk(h->valuestring, "\r\n") != NULL) {
            snprintf(err, errlen, "%.64s: must not contain cr or lf", h->string);
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

/* Accepts only the "not set" forms of fields whose features are still to come. */
static int set_not_yet(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    (void)b;
    if (cJSON_IsNull(v))
        return 0;
    snprintf(err, errlen, "not supported yet");
    return -1;
}

static int set_env_not_yet(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsObject(v) && v->child == NULL)
        return 0;
    return set_not_yet(b, v, err, errlen);
}

static int set_auth_not_yet(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsObject(v) && v->child != NULL && v->child->next == NULL &&
        strcmp(v->child->string, "type") == 0 && cJSON_IsString(v->child) &&
        strcmp(v->child->valuestring, "none") == 0)
        return 0;
    return set_not_yet(b, v, err, errlen);
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

static const struct {
    const char *name;
    field_setter set;
} bridge_fields[] = {
    {"name", set_name},
    {"outbound_url", set_outbound_url},
    {"method", set_method},
    {"headers", set_headers},
    {"delay_seconds", set_delay_seconds},
    {"retries", set_retries},
    {"retry_delays", set_retry_delays},
    {"timeout_ms", set_timeout_ms},
    {"active", set_active},
    {"payload", set_not_yet},
    {"schema", set_not_yet},
    {"filter", set_not_yet},
    {"notify_url", set_not_yet},
    {"signing_secret", set_not_yet},
    {"env", set_env_not_yet},
    {"auth", set_auth_not_yet},
    {"id", set_ignored},
    {"endpoint", set_ignored},
    {"inbound_url", set_ignored},
    {"created_at", set_ignored},
    {"updated_at", set_ignored},
};

static field_setter bridge_field_setter(const char *name)
{
    for (size_t i = 0; i < sizeof(bridge_fields) / sizeof(bridge_fields[0]); i++)
        if (strcmp(name, bridge_fields[i].name) == 0)
            return bridge_fields[i].set;
    return NULL;
}

int bridge_from_api(const cJSON *in, const struct bridge *base, struct bridge **out, char *field,
                    size_t fieldlen, char *err, size_t errlen)
{
    *out = NULL;
    if (!cJSON_IsObject(in)) {
        snprintf(field, fieldlen, "%s", "");
        snprintf(err, errlen, "the bridge must be a json object");
        return -1;
    }
    /* Work on a copy so that a refused PATCH leaves `base` as it was. */
    struct bridge *b = base ? bridge_copy(base) : bridge_new_default();
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        field_setter set = bridge_field_setter(v->string);
        if (set == NULL) {
            snprintf(field, fieldlen, "%s", v->string);
            snprintf(err, errlen, "unknown field");
            goto out_free;
        }
        if (set(b, v, err, errlen) != 0) {
            snprintf(field, fieldlen, "%s", v->string);
            goto out_free;
        }
    }
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
    cJSON_AddNullToObject(o, "payload");
    cJSON_AddNumberToObject(o, "delay_seconds", (double)b->delay_seconds);
    cJSON_AddNumberToObject(o, "retries", b->retries);
    cJSON_AddItemToObject(o, "retry_delays", retry_delays_json(b));
    cJSON_AddNumberToObject(o, "timeout_ms", (double)b->timeout_ms);
    /* Not implemented yet; shown in their "not set" form so clients see the full shape. */
    cJSON_AddObjectToObject(o, "env");
    cJSON *auth = cJSON_AddObjectToObject(o, "auth");
    cJSON_AddStringToObject(auth, "type", "none");
    cJSON_AddNullToObject(o, "schema");
    cJSON_AddNullToObject(o, "filter");
    cJSON_AddNullToObject(o, "notify_url");
    cJSON_AddNullToObject(o, "signing_secret");
    cJSON_AddBoolToObject(o, "active", b->active);
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
    cJSON_AddBoolToObject(o, "active", b->active);
    /* Milliseconds stay exact in a double up to 2^53, far past any real clock. */
    cJSON_AddNumberToObject(o, "created_ms", (double)b->created_ms);
    cJSON_AddNumberToObject(o, "updated_ms", (double)b->updated_ms);
    char *s = cJSON_PrintUnformatted(o);
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

int bridge_from_store(const char *json, struct bridge **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *bad = NULL;
    cJSON *o = cJSON_Parse(json ? json : "");
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
