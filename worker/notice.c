/*
 * notice.c - failure notices (see notice.h).
 */
#include "notice.h"

#include "bridge.h"
#include "event_status.h"
#include "clock.h"
#include "deliver.h"
#include "hb.h"
#include "job.h"
#include "log.h"
#include "xalloc.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define NOTICE_TIMEOUT_MS 10000

/* A notice on its way to a bridge's notify_url. */
struct notice {
    struct deliver_call *call;
    char *body;
    char *hdr[8]; /* "Name: value" lines, NULL-terminated */
    char event_id[HB_ID_LEN];
    LIST_ENTRY(notice) entry; /* in notices while its request is out */
};

static LIST_HEAD(, notice) notices = LIST_HEAD_INITIALIZER(notices);

static void notice_free(struct notice *n)
{
    free(n->body);
    for (char **h = n->hdr; *h; h++)
        free(*h);
    free(n);
}

static void notice_on_done(const struct deliver_result *res, void *arg)
{
    struct notice *n = arg;
    LIST_REMOVE(n, entry);
    char st[8];
    snprintf(st, sizeof(st), "%d", res->http_status);
    bool ok = res->error == NULL && res->http_status >= 200 && res->http_status < 300;
    log_kv(ok ? LOG_INFO : LOG_WARN, ok ? "failure notice sent" : "failure notice not delivered",
           "event_id", n->event_id, "status", st, "error", res->error, NULL);
    notice_free(n);
}

char *notice_body(const struct notice_failure *f, int64_t now_ms)
{
    const struct bridge *b = f->bridge;
    const struct job *j = f->job;
    char iso[CLOCK_ISO_LEN];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "event.failed");
    cJSON_AddStringToObject(o, "event_id", j->id);
    cJSON_AddStringToObject(o, "bridge_id", b->id);
    cJSON_AddStringToObject(o, "bridge_name", b->name ? b->name : "");
    /* The failed route, for events of a bridge with routes (others keep today's body). */
    if (j->route[0] != '\0')
        cJSON_AddStringToObject(o, "route", j->route);
    cJSON_AddStringToObject(o, "status", event_status_name(EVENT_STATUS_FAILED));
    cJSON_AddNumberToObject(o, "attempts", f->attempts);
    if (f->last_status > 0)
        cJSON_AddNumberToObject(o, "last_status", f->last_status);
    else
        cJSON_AddNullToObject(o, "last_status");
    if (f->last_error != NULL)
        cJSON_AddStringToObject(o, "last_error", f->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    clock_iso8601(j->received_ms, iso);
    cJSON_AddStringToObject(o, "received_at", iso);
    clock_iso8601(now_ms, iso);
    cJSON_AddStringToObject(o, "failed_at", iso);
    if (j->replay_of && j->replay_of[0])
        cJSON_AddStringToObject(o, "replay_of", j->replay_of);
    else
        cJSON_AddNullToObject(o, "replay_of");
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

/* POST `body` (taken) to the route's notify_url, signed like its deliveries. */
static void notice_post(struct deliver *d, const struct route *r, const char *id, char *body,
                        const unsigned char key[CRYPTO_KEY_LEN])
{
    char err[HB_ERR_LEN];
    struct notice *n = xcalloc(1, sizeof(*n));
    snprintf(n->event_id, sizeof(n->event_id), "%s", id);
    n->body = body;
    size_t blen = strlen(n->body);
    size_t k = 0;
    n->hdr[k++] = xstrdup("Content-Type: application/json");
    n->hdr[k++] = xasprintf("User-Agent: hookbridge/%s", HB_VERSION);
    n->hdr[k++] = xasprintf("X-Hookbridge-Event-Id: %s", id);
    char *secret = route_signing_secret_open(r, key, err, sizeof(err));
    if (secret != NULL) {
        int64_t ts = clock_now_ms() / 1000;
        char *sig = crypto_webhook_sign(secret, id, ts, n->body, blen);
        if (sig != NULL) {
            n->hdr[k++] = xasprintf("webhook-id: %s", id);
            n->hdr[k++] = xasprintf("webhook-timestamp: %lld", (long long)ts);
            n->hdr[k++] = xasprintf("webhook-signature: %s", sig);
            free(sig);
        }
        bridge_secret_free(secret);
    }
    struct deliver_request rq = {
        .method = "POST",
        .url = r->notify_url,
        .headers = (const char *const *)n->hdr,
        .body = n->body,
        .body_len = blen,
        .timeout_ms = NOTICE_TIMEOUT_MS,
    };
    n->call = deliver_start(d, &rq, notice_on_done, n, err, sizeof(err));
    if (n->call == NULL) {
        log_kv(LOG_WARN, "failure notice not sent", "event_id", n->event_id, "error", err, NULL);
        notice_free(n);
        return;
    }
    LIST_INSERT_HEAD(&notices, n, entry);
}

void notice_send(struct deliver *d, const struct notice_failure *f,
                 const unsigned char key[CRYPTO_KEY_LEN])
{
    const struct route *r = f->route;
    if (f->bridge == NULL || r == NULL || r->notify_url == NULL)
        return;
    notice_post(d, r, f->job->id, notice_body(f, clock_now_ms()), key);
}

void notice_send_circuit(struct deliver *d, const struct bridge *b, const char *route,
                         const char *type, const char *event_id, long open_seconds,
                         const unsigned char key[CRYPTO_KEY_LEN])
{
    const struct route *r = b ? bridge_route(b, route) : NULL;
    if (r == NULL || r->notify_url == NULL)
        return;
    char at[CLOCK_ISO_LEN];
    clock_iso8601(clock_now_ms(), at);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "bridge_id", b->id);
    cJSON_AddStringToObject(o, "route", route);
    cJSON_AddStringToObject(o, "at", at);
    cJSON_AddStringToObject(o, "event_id", event_id);
    if (open_seconds > 0)
        cJSON_AddNumberToObject(o, "open_seconds", (double)open_seconds);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    notice_post(d, r, event_id, body, key);
}

void notice_cancel_all(void)
{
    while (!LIST_EMPTY(&notices)) {
        struct notice *n = LIST_FIRST(&notices);
        LIST_REMOVE(n, entry);
        deliver_cancel(n->call);
        log_kv(LOG_WARN, "failure notice abandoned at shutdown", "event_id", n->event_id, NULL);
        notice_free(n);
    }
}
