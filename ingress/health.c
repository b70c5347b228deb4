/*
 * health.c - GET /healthz: whether this ingress can accept webhooks, which is whether Redis
 * answers (see health.h).
 */
#include "health.h"

#include "http.h"
#include "httpd.h"
#include "rconn.h"
#include "xalloc.h"

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdlib.h>

static void health_reply(struct httpd_req *req, bool ok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", ok ? "ok" : "unavailable");
    cJSON_AddStringToObject(o, "redis", ok ? "ok" : "unreachable");
    http_reply_json(req, ok ? 200 : 503, o);
    cJSON_Delete(o);
}

static void health_on_ping(redisAsyncContext *ac, void *r, void *priv)
{
    struct httpd_req *req = priv;
    redisReply *reply = r;
    (void)ac;
    health_reply(req, reply != NULL && reply->type == REDIS_REPLY_STATUS);
}

void health_handle(struct ingress *in, struct httpd_req *req)
{
    if (rconn_cmd(in->redis, health_on_ping, req, "PING") != 0)
        health_reply(req, false);
}
