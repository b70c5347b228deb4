/*
 * bridge_row.c - the bridge as the store keeps it: one JSON row with every field, secrets
 * sealed, timestamps in milliseconds, and its reading back. Rows written by older versions
 * load: a missing optional field takes its default, unknown fields are left for newer code.
 */
#include "bridge.h"

#include "body.h"
#include "jsonrow.h"
#include "route.h"
#include "source.h"
#include "text.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *bridge_to_store(const struct bridge *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", b->id);
    cJSON_AddStringToObject(o, "endpoint", b->endpoint);
    cJSON_AddStringToObject(o, "name", b->name ? b->name : "");
    /* Sealed values only: the row is safe to back up or read with sqlite3. */
    bridge_put_routes(b, o, false);
    cJSON_AddItemToObject(o, "env", b->env ? cJSON_Duplicate(b->env, true) : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "auth", jsonrow_copy_or_null(b->auth));
    cJSON_AddItemToObject(o, "schema", jsonrow_copy_or_null(b->schema));
    source_to_json(b, o);
    cJSON_AddBoolToObject(o, "active", b->active);
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

/* The "routes" array of a stored row into b->routes. */
static int bridge_load_routes(struct bridge *b, const cJSON *v, const char **bad)
{
    int n = cJSON_GetArraySize(v);
    *bad = "routes";
    if (!cJSON_IsArray(v) || n < 1)
        return -1;
    struct route *routes = xcalloc((size_t)n, sizeof(*routes));
    int done = 0;
    for (const cJSON *item = v->child; item != NULL; item = item->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        if (!cJSON_IsObject(item) || !cJSON_IsString(name) ||
            strlen(name->valuestring) > ROUTE_NAME_MAX)
            goto out_free;
        route_init(&routes[done], name->valuestring);
        done++;
        if (route_load(&routes[done - 1], item, bad) != 0 || routes[done - 1].outbound_url == NULL)
            goto out_free;
    }
    bridge_take_routes(b, routes, (size_t)n);
    return 0;

out_free:
    *bad = "routes";
    route_array_free(routes, (size_t)done);
    return -1;
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
    const cJSON *v;

    if (!jsonrow_str_buf(o, "id", b->id, sizeof(b->id))) {
        bad = "id";
        goto out_free;
    }
    if (!jsonrow_str_buf(o, "endpoint", b->endpoint, sizeof(b->endpoint))) {
        bad = "endpoint";
        goto out_free;
    }
    /* Rows without routes keep the default route's fields at the top level. */
    v = cJSON_GetObjectItemCaseSensitive(o, "routes");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (bridge_load_routes(b, v, &bad) != 0)
            goto out_free;
    } else {
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "outbound_url"))) {
            bad = "outbound_url";
            goto out_free;
        }
        if (route_load(&b->routes[0], o, &bad) != 0)
            goto out_free;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (v != NULL) {
        if (!cJSON_IsString(v)) {
            bad = "name";
            goto out_free;
        }
        free(b->name);
        b->name = xstrdup(v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "active");
    if (v != NULL) {
        if (!cJSON_IsBool(v)) {
            bad = "active";
            goto out_free;
        }
        b->active = cJSON_IsTrue(v);
    }
    b->paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "paused"));
    if (!jsonrow_json(o, "auth", true, &b->auth)) {
        bad = "auth";
        goto out_free;
    }
    if (!jsonrow_json(o, "schema", false, &b->schema)) {
        bad = "schema";
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
    if (!source_from_store(o, &b->sources, &bad))
        goto out_free;
    if (!jsonrow_int(o, "created_ms", 0, &b->created_ms)) {
        bad = "created_ms";
        goto out_free;
    }
    if (!jsonrow_int(o, "updated_ms", b->created_ms, &b->updated_ms)) {
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
