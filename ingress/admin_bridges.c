/*
 * admin_bridges.c - /api/bridges…: create, list, read, PATCH-merge, delete, activate and
 * deactivate bridges (SPEC "Admin API").
 *
 * Validation lives in common/bridge.c; this file only maps HTTP to it and to the store.
 */
#include "admin.h"

#include "bridge.h"
#include "hb.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bridges_internal(struct evhttp_request *req, const char *what, const char *err)
{
    log_kv(LOG_ERROR, "admin store error", "what", what, "error", err, NULL);
    http_reply_error(req, 500, "internal", "the store failed; see the ingress log");
}

static void bridges_not_found(struct evhttp_request *req, const char *id)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "bridge %.40s not found", id);
    http_reply_error(req, 404, "not_found", msg);
}

static void bridges_invalid(struct evhttp_request *req, const char *field, const char *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "invalid_bridge");
    char *msg = field[0] ? xasprintf("%s: %s", field, err) : xstrdup(err);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "field", field);
    http_reply_json(req, 400, o);
    cJSON_Delete(o);
    free(msg);
}

static void bridges_method_not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this route");
}

static void bridges_reply(struct ingress *in, struct evhttp_request *req, int code,
                          const struct bridge *b)
{
    cJSON *o = bridge_to_api(b, in->cfg.public_url);
    http_reply_json(req, code, o);
    cJSON_Delete(o);
}

/* Load a bridge; replies 404/500 itself and returns NULL when it cannot. */
static struct bridge *bridges_load(struct ingress *in, struct evhttp_request *req, const char *id)
{
    char err[HB_ERR_LEN];
    char *json = NULL;
    struct bridge *b = NULL;
    if (!ids_valid("brg_", id)) {
        bridges_not_found(req, id);
        return NULL;
    }
    int rc = store_bridge_get(in->store, id, &json, err);
    if (rc == STORE_NOTFOUND) {
        bridges_not_found(req, id);
        return NULL;
    }
    if (rc != 0 || bridge_from_store(json, &b, err, sizeof(err)) != 0) {
        bridges_internal(req, "load bridge", err);
        free(json);
        return NULL;
    }
    free(json);
    return b;
}

static int bridges_save(struct ingress *in, const struct bridge *b, bool create, char *err)
{
    char *json = bridge_to_store(b);
    int rc = create ? store_bridge_insert(in->store, b->id, b->endpoint, json, err)
                    : store_bridge_update(in->store, b->id, json, err);
    free(json);
    return rc;
}

static void bridges_create(struct ingress *in, struct evhttp_request *req)
{
    char field[64] = "", err[HB_ERR_LEN];
    struct bridge *b = NULL;
    cJSON *body = http_body_json_object(req);
    if (body == NULL)
        return;
    if (bridge_from_api(body, NULL, &b, field, sizeof(field), err, sizeof(err)) != 0) {
        bridges_invalid(req, field, err);
        goto out;
    }
    if (bridges_save(in, b, true, err) != 0) {
        bridges_internal(req, "insert bridge", err);
        goto out;
    }
    log_kv(LOG_INFO, "bridge created", "bridge_id", b->id, NULL);
    bridges_reply(in, req, 201, b);
out:
    bridge_free(b);
    cJSON_Delete(body);
}

struct bridges_list {
    cJSON *arr;
    const char *public_url;
};

static int bridges_list_row(const char *json, void *arg)
{
    struct bridges_list *l = arg;
    char err[HB_ERR_LEN];
    struct bridge *b = NULL;
    if (bridge_from_store(json, &b, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, "unreadable bridge row skipped", "error", err, NULL);
        return 0;
    }
    cJSON_AddItemToArray(l->arr, bridge_to_api(b, l->public_url));
    bridge_free(b);
    return 0;
}

static void bridges_list(struct ingress *in, struct evhttp_request *req)
{
    char err[HB_ERR_LEN];
    cJSON *o = cJSON_CreateObject();
    struct bridges_list l = {cJSON_AddArrayToObject(o, "bridges"), in->cfg.public_url};
    if (store_bridge_list(in->store, bridges_list_row, &l, err) != 0)
        bridges_internal(req, "list bridges", err);
    else
        http_reply_json(req, 200, o);
    cJSON_Delete(o);
}

static void bridges_patch(struct ingress *in, struct evhttp_request *req, const char *id)
{
    char field[64] = "", err[HB_ERR_LEN];
    struct bridge *merged = NULL;
    struct bridge *b = bridges_load(in, req, id);
    if (b == NULL)
        return;
    cJSON *body = http_body_json_object(req);
    if (body == NULL)
        goto out;
    if (bridge_from_api(body, b, &merged, field, sizeof(field), err, sizeof(err)) != 0) {
        bridges_invalid(req, field, err);
        goto out;
    }
    if (bridges_save(in, merged, false, err) != 0) {
        bridges_internal(req, "update bridge", err);
        goto out;
    }
    bridges_reply(in, req, 200, merged);
out:
    cJSON_Delete(body);
    bridge_free(merged);
    bridge_free(b);
}

static void bridges_set_active(struct ingress *in, struct evhttp_request *req, const char *id,
                               bool active)
{
    char field[64] = "", err[HB_ERR_LEN];
    struct bridge *merged = NULL;
    struct bridge *b = bridges_load(in, req, id);
    if (b == NULL)
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddBoolToObject(patch, "active", active);
    if (bridge_from_api(patch, b, &merged, field, sizeof(field), err, sizeof(err)) != 0 ||
        bridges_save(in, merged, false, err) != 0) {
        bridges_internal(req, "activate bridge", err);
        goto out;
    }
    log_kv(LOG_INFO, active ? "bridge activated" : "bridge deactivated", "bridge_id", id, NULL);
    bridges_reply(in, req, 200, merged);
out:
    cJSON_Delete(patch);
    bridge_free(merged);
    bridge_free(b);
}

static void bridges_delete(struct ingress *in, struct evhttp_request *req, const char *id)
{
    char err[HB_ERR_LEN];
    if (!ids_valid("brg_", id)) {
        bridges_not_found(req, id);
        return;
    }
    /* Its queued jobs stay in Redis; a worker that takes one finds no bridge and records
     * the event as aborted, so nothing is sent and nothing is left pending. */
    int rc = store_bridge_delete(in->store, id, err);
    if (rc == STORE_NOTFOUND) {
        bridges_not_found(req, id);
        return;
    }
    if (rc != 0) {
        bridges_internal(req, "delete bridge", err);
        return;
    }
    log_kv(LOG_INFO, "bridge deleted", "bridge_id", id, NULL);
    http_reply_empty(req, 204);
}

void admin_bridges_handle(struct ingress *in, struct evhttp_request *req, const char **segs,
                          int nseg)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (nseg == 1) {
        if (cmd == EVHTTP_REQ_POST)
            bridges_create(in, req);
        else if (cmd == EVHTTP_REQ_GET)
            bridges_list(in, req);
        else
            bridges_method_not_allowed(req, "GET, POST");
        return;
    }
    const char *id = segs[1];
    if (nseg == 2) {
        if (cmd == EVHTTP_REQ_GET) {
            struct bridge *b = bridges_load(in, req, id);
            if (b != NULL)
                bridges_reply(in, req, 200, b);
            bridge_free(b);
        } else if (cmd == EVHTTP_REQ_PATCH) {
            bridges_patch(in, req, id);
        } else if (cmd == EVHTTP_REQ_DELETE) {
            bridges_delete(in, req, id);
        } else {
            bridges_method_not_allowed(req, "GET, PATCH, DELETE");
        }
        return;
    }
    if (nseg == 3 && (strcmp(segs[2], "activate") == 0 || strcmp(segs[2], "deactivate") == 0)) {
        if (cmd != EVHTTP_REQ_POST)
            bridges_method_not_allowed(req, "POST");
        else
            bridges_set_active(in, req, id, strcmp(segs[2], "activate") == 0);
        return;
    }
    http_reply_error(req, 404, "not_found", "no such route");
}
