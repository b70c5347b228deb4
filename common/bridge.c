/*
 * bridge.c - checking admin API input into a `struct bridge`, and the bridge as the API
 * shows it (the stored row's form is bridge_row.c; opening its secrets, bridge_secret.c).
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
#include "destcfg.h"
#include "filter.h"
#include "ids.h"
#include "jsonrow.h"
#include "jsonschema.h"
#include "schemas.h"
#include "source.h"
#include "store.h"
#include "template.h"
#include "text.h"
#include "uri.h"
#include "utf8.h"
#include "xalloc.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BRIDGE_NAME_MAX 200
#define BRIDGE_ENV_MAX 100
#define BRIDGE_ENV_NAME_MAX 128
#define BRIDGE_ENV_VALUE_MAX 8192
/* Templates, schemas and filters are kept in every bridge row and parsed per event. */
#define BRIDGE_JSON_FIELD_MAX (64 * 1024)

struct bridge *bridge_new_default(void)
{
    struct bridge *b = xcalloc(1, sizeof(*b));
    b->name = xstrdup("");
    b->routes = xcalloc(1, sizeof(*b->routes));
    b->n_routes = 1;
    route_init(&b->routes[0], ROUTE_DEFAULT_NAME);
    b->env = cJSON_CreateObject();
    b->active = true;
    return b;
}

static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, true) : NULL;
}

static struct bridge *bridge_copy(const struct bridge *src)
{
    struct bridge *b = xcalloc(1, sizeof(*b));
    *b = *src;
    b->name = xstrdup(src->name ? src->name : "");
    b->routes = xcalloc(src->n_routes, sizeof(*b->routes));
    for (size_t i = 0; i < src->n_routes; i++)
        route_copy(&b->routes[i], &src->routes[i]);
    b->env = src->env ? cJSON_Duplicate(src->env, true) : cJSON_CreateObject();
    b->auth = dup_or_null(src->auth);
    b->schema = dup_or_null(src->schema);
    b->sources = dup_or_null(src->sources);
    return b;
}

void bridge_free(struct bridge *b)
{
    if (b == NULL)
        return;
    free(b->name);
    for (size_t i = 0; i < b->n_routes; i++)
        route_clear(&b->routes[i]);
    free(b->routes);
    cJSON_Delete(b->env);
    cJSON_Delete(b->auth);
    cJSON_Delete(b->schema);
    cJSON_Delete(b->sources);
    free(b);
}

long bridge_first_delay(const struct bridge *b)
{
    long d = b->routes[0].delay_seconds;
    for (size_t i = 1; i < b->n_routes; i++)
        if (b->routes[i].delay_seconds < d)
            d = b->routes[i].delay_seconds;
    return d;
}

const struct route *bridge_route(const struct bridge *b, const char *name)
{
    for (size_t i = 0; i < b->n_routes; i++)
        if (strcmp(b->routes[i].name, name) == 0)
            return &b->routes[i];
    return NULL;
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

const char *bridge_url_problem(const char *url)
{
    return uri_http_problem(url);
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

static int set_schema(struct bridge *b, const cJSON *v, char *err, size_t errlen)
{
    if (!cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v) && !cJSON_IsBool(v)) {
            snprintf(err, errlen, "must be a JSON Schema (an object or a boolean) or null");
            return -1;
        }
        if (!route_json_small_enough(v, err, errlen))
            return -1;
        struct jsonschema *js = NULL;
        if (jsonschema_compile(v, &js, err, errlen) != 0)
            return -1;
        jsonschema_free(js);
    }
    route_json_replace(&b->schema, v);
    return 0;
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
        if (route_is_mask(e)) {
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
    char *kept = NULL;
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
    bool keep = !none && (given == NULL || route_is_mask(given)) && cJSON_IsString(old);
    cJSON *check = cJSON_Duplicate(v, true);
    if (keep) {
        /* The rules run on the stored secret itself: a type such as standard-webhooks
         * takes only secrets of its own form. */
        char oerr[HB_ERR_LEN];
        kept = crypto_open(key, old->valuestring, NULL, oerr, sizeof(oerr));
        cJSON_DeleteItemFromObjectCaseSensitive(check, "secret");
        cJSON_AddStringToObject(check, "secret", kept ? kept : "kept");
    } else if (route_is_mask(given)) {
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
    if (kept != NULL) {
        sodium_memzero(kept, strlen(kept));
        free(kept);
    }
    return ret;
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
    {"env", NULL, set_env},
    {"auth", NULL, set_auth},
    {"schema", set_schema, NULL},
    {"active", set_active, NULL},
    {"deliveries", set_ignored, NULL},
    {"id", set_ignored, NULL},
    {"endpoint", set_ignored, NULL},
    {"inbound_url", set_ignored, NULL},
    {"created_at", set_ignored, NULL},
    {"updated_at", set_ignored, NULL},
    {"response", source_set_response, NULL},
    {"challenge", source_set_challenge, NULL},
    {"dedup", source_set_dedup, NULL},
    {"split", source_set_split, NULL},
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

void bridge_take_routes(struct bridge *b, struct route *routes, size_t n)
{
    route_array_free(b->routes, b->n_routes);
    b->routes = routes;
    b->n_routes = n;
    b->has_routes = true;
}

/* Drop every route and leave the implicit default route with its defaults. */
static void bridge_routes_reset(struct bridge *b)
{
    route_array_free(b->routes, b->n_routes);
    b->routes = xcalloc(1, sizeof(*b->routes));
    b->n_routes = 1;
    b->has_routes = false;
    route_init(&b->routes[0], ROUTE_DEFAULT_NAME);
}

/*
 * Set `routes`: null goes back to one implicit default route (whose fields the same body
 * must then give at the top level), an array replaces the routes. In a PATCH an item whose
 * name matches a stored route starts from it, so that absent fields and masked secrets
 * keep their values, as they do at the top level. `field` names the item's field as
 * "routes[1].outbound_url".
 */
static int bridge_set_routes(struct bridge *b, const cJSON *v, const unsigned char *key,
                             char *field, size_t fieldlen, char *err, size_t errlen)
{
    char sub[64];
    snprintf(field, fieldlen, "routes");
    if (cJSON_IsNull(v)) {
        bridge_routes_reset(b);
        return 0;
    }
    int n = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n < 1 || n > ROUTE_MAX) {
        snprintf(err, errlen, "must be an array of 1..%d routes", ROUTE_MAX);
        return -1;
    }
    struct route *routes = xcalloc((size_t)n, sizeof(*routes));
    int done = 0;
    for (const cJSON *item = v->child; item != NULL; item = item->next, done++) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        const struct route *old =
            b->has_routes && cJSON_IsString(name) ? bridge_route(b, name->valuestring) : NULL;
        if (route_from_api(&routes[done], item, old, key, sub, sizeof(sub), err, errlen) != 0) {
            if (sub[0] != '\0')
                snprintf(field, fieldlen, "routes[%d].%s", done, sub);
            else
                snprintf(field, fieldlen, "routes[%d]", done);
            goto out_free;
        }
        for (int i = 0; i < done; i++) {
            if (strcmp(routes[i].name, routes[done].name) == 0) {
                snprintf(field, fieldlen, "routes[%d].name", done);
                snprintf(err, errlen, "\"%s\" is the name of routes[%d]; names must be unique",
                         routes[done].name, i);
                done++;
                goto out_free;
            }
        }
    }
    bridge_take_routes(b, routes, (size_t)n);
    return 0;

out_free:
    route_array_free(routes, (size_t)done);
    return -1;
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
        if (bridge_field_index(v->string) < 0 && !route_field_known(v->string) &&
            strcmp(v->string, "routes") != 0) {
            snprintf(field, fieldlen, "%s", v->string);
            snprintf(err, errlen, "unknown field");
            return -1;
        }
    }
    /* Work on a copy so that a refused PATCH leaves `base` as it was. */
    struct bridge *b = base ? bridge_copy(base) : bridge_new_default();
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(in, "routes");
    /* First, so that the top-level fields below know which kind of bridge they are in. A
     * bridge that gets routes keeps none of its top-level outbound fields; one that gives
     * them up starts its default route afresh. */
    if (routes != NULL && bridge_set_routes(b, routes, key, field, fieldlen, err, errlen) != 0)
        goto out_free;
    for (const cJSON *v = in->child; v != NULL; v = v->next) {
        int i = bridge_field_index(v->string);
        int rc;
        if (strcmp(v->string, "routes") == 0)
            continue;
        if (i < 0 && b->has_routes) {
            snprintf(field, fieldlen, "%s", v->string);
            snprintf(err, errlen,
                     "a bridge with routes takes no top-level %s: set it in each route", v->string);
            goto out_free;
        }
        if (i < 0) /* a field of the implicit default route */
            rc = route_field_set(&b->routes[0], v->string, v, key, err, errlen);
        else if (bridge_fields[i].set)
            rc = bridge_fields[i].set(b, v, err, errlen);
        else
            rc = bridge_fields[i].set_sealed(b, v, key, err, errlen);
        if (rc != 0) {
            snprintf(field, fieldlen, "%s", v->string);
            goto out_free;
        }
    }
    /* Last, so that the setters' messages (which know the field best) come first; the
     * schema still has the final word on every shape it describes. */
    if (bridge_schema_check(in, field, fieldlen, err, errlen) != 0)
        goto out_free;
    if (!b->has_routes && b->routes[0].outbound_url == NULL) {
        snprintf(field, fieldlen, "outbound_url");
        snprintf(err, errlen, "is required");
        goto out_free;
    }
    for (size_t i = 0; i < b->n_routes; i++) {
        const struct route *r = &b->routes[i];
        if (destcfg_check_route(r->outbound_url, r->email, r->oauth2, field, fieldlen, err,
                                errlen) != 0)
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

void bridge_put_routes(const struct bridge *b, cJSON *o, bool api)
{
    if (!b->has_routes) {
        route_put(&b->routes[0], o, api);
        return;
    }
    cJSON *a = cJSON_AddArrayToObject(o, "routes");
    for (size_t i = 0; i < b->n_routes; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "name", b->routes[i].name);
        route_put(&b->routes[i], r, api);
        cJSON_AddItemToArray(a, r);
    }
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
    bridge_put_routes(b, o, true);
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
    cJSON_AddItemToObject(o, "schema", jsonrow_copy_or_null(b->schema));
    source_to_json(b, o);
    cJSON_AddBoolToObject(o, "active", b->active);
    cJSON_AddStringToObject(o, "deliveries", b->paused ? "paused" : "running");
    clock_iso8601(b->created_ms, iso);
    cJSON_AddStringToObject(o, "created_at", iso);
    clock_iso8601(b->updated_ms, iso);
    cJSON_AddStringToObject(o, "updated_at", iso);
    return o;
}

bool bridge_needs_json(const struct bridge *b)
{
    if (b->schema != NULL || source_needs_json(b))
        return true;
    for (size_t i = 0; i < b->n_routes; i++)
        if (route_needs_json(&b->routes[i]))
            return true;
    return false;
}
