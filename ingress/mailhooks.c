/*
 * mailhooks.c - e-mail in (see mailhooks.h).
 *
 * The event of a mail looks like an HTTP one to everything after the ingress: method
 * "SMTP", path "/hooks/{endpoint}", no query, content type application/json, the parsed
 * message as its body (so a route without `payload` forwards that JSON), and as headers the
 * envelope: x-smtp-mail-from, x-smtp-rcpt-to, x-smtp-helo. Every recipient bridge's job
 * carries an Idempotency-Key made from the message's bytes, so a sender retrying after a
 * 451 (some bridges queued, one not) queues each bridge once: identical bytes within the
 * key's 24 hours are one message.
 */
#include "mailhooks.h"

#include "bcache.h"
#include "bridge.h"
#include "clock.h"
#include "enqueue.h"
#include "ids.h"
#include "inbound.h"
#include "job.h"
#include "jsonschema.h"
#include "log.h"
#include "mail_in.h"
#include "rconn.h"
#include "smtpd.h"
#include "store.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One message waiting for Redis's answers, one per recipient bridge. */
struct mailhooks_pending {
    struct smtpd_msg *msg;
    int waiting, queued, failed;
    char first_id[HB_ID_LEN];
    int64_t started_mono;
};

static struct smtpd_rcpt_answer mailhooks_rcpt(const char *endpoint, const char *address, void *arg)
{
    struct ingress *in = arg;
    char err[HB_ERR_LEN];
    int rc;
    (void)address;
    const struct bcache_entry *e = bcache_get(in->bridges, endpoint, &rc, err, sizeof(err));
    if (e == NULL && rc == STORE_NOTFOUND)
        return (struct smtpd_rcpt_answer){550, "5.1.1 unknown endpoint"};
    if (e == NULL) {
        log_kv(LOG_ERROR, "bridge lookup failed", "error", err, NULL);
        return (struct smtpd_rcpt_answer){451, "4.3.0 bridge lookup failed; try again later"};
    }
    if (!e->b->active)
        return (struct smtpd_rcpt_answer){450, "4.2.1 this bridge is paused; try again later"};
    /* A bridge that checks signatures or tokens would be open to anyone by mail. */
    if (e->auth.type != AUTH_NONE || e->auth_err[0] != '\0')
        return (struct smtpd_rcpt_answer){550, "5.7.1 this bridge requires authentication "
                                               "that mail cannot carry"};
    return (struct smtpd_rcpt_answer){250, "2.1.5 ok"};
}

static void mailhooks_done(struct mailhooks_pending *p)
{
    char text[128];
    if (p->failed > 0) {
        smtpd_msg_reply(p->msg, 451, "4.3.0 the queue is unavailable; try again later");
    } else {
        snprintf(text, sizeof(text), "2.0.0 queued as %s%s", p->first_id,
                 p->queued > 1 ? " and more" : "");
        smtpd_msg_reply(p->msg, 250, text);
    }
    free(p);
}

/* One recipient bridge's job on its way to Redis. */
struct mailhooks_call {
    struct mailhooks_pending *p;
    char bridge_id[HB_ID_LEN];
    bool batch; /* enqueue_batch: the id is a record "1:evt_…" */
};

static void mailhooks_log(const char *bridge_id, const char *event_id, const char *code,
                          const char *why);

static void mailhooks_on_enqueued(enum enqueue_result res, const char *id, const char *why,
                                  void *arg)
{
    struct mailhooks_call *call = arg;
    struct mailhooks_pending *p = call->p;
    if (res == ENQUEUE_FAILED) {
        log_kv(LOG_WARN, "enqueue failed", "bridge_id", call->bridge_id, "error", why, NULL);
        mailhooks_log(call->bridge_id, NULL, "451", "queue_unavailable");
        p->failed++;
    } else {
        char first[HB_ID_LEN];
        inbound_first_id(id, !call->batch, first, sizeof(first));
        /* A dedup duplicate is accepted, whatever on_duplicate says: a mail refused with a
         * 5xx bounces to a person, who can do nothing about an order sent twice. */
        mailhooks_log(call->bridge_id, first, "250", res == ENQUEUE_DUPLICATE ? "duplicate" : NULL);
        if (p->queued++ == 0)
            snprintf(p->first_id, sizeof(p->first_id), "%s", first);
    }
    free(call);
    if (--p->waiting == 0)
        mailhooks_done(p);
}

/* The envelope as the event's inbound headers. */
static char *mailhooks_headers(struct smtpd_msg *msg, const char *rcpt)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "content-type", "application/json");
    cJSON_AddStringToObject(h, "x-smtp-mail-from", smtpd_msg_from(msg));
    cJSON_AddStringToObject(h, "x-smtp-rcpt-to", rcpt);
    cJSON_AddStringToObject(h, "x-smtp-helo", smtpd_msg_helo(msg));
    char *s = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return s;
}

/* The job's Idempotency-Key: "smtp-" and a hash of the message's bytes. */
static void mailhooks_idem_key(const char *raw, size_t len, char out[5 + 64 + 1])
{
    unsigned char digest[32];
    crypto_hash_sha256(digest, (const unsigned char *)raw, len);
    memcpy(out, "smtp-", 5);
    sodium_bin2hex(out + 5, 65, digest, sizeof(digest));
}

static void mailhooks_log(const char *bridge_id, const char *event_id, const char *code,
                          const char *why)
{
    log_kv(LOG_INFO, "inbound mail", "method", "SMTP", "bridge_id", bridge_id, "event_id", event_id,
           "status", code, "error", why, NULL);
}

static void mailhooks_message(struct smtpd_msg *msg, void *arg)
{
    struct ingress *in = arg;
    char err[HB_ERR_LEN], idem[5 + 64 + 1];
    size_t raw_len;
    const char *raw = smtpd_msg_data(msg, &raw_len);
    cJSON *payload = mail_in_parse(raw, raw_len, err, sizeof(err));
    if (payload == NULL) {
        mailhooks_log(NULL, NULL, "554", err);
        smtpd_msg_reply(msg, 554, "5.6.0 the message cannot be parsed");
        return;
    }
    char *body = cJSON_PrintUnformatted(payload);
    if (!rconn_up(in->redis)) {
        mailhooks_log(NULL, NULL, "451", "queue unavailable");
        smtpd_msg_reply(msg, 451, "4.3.0 the queue is unavailable; try again later");
        goto out;
    }
    mailhooks_idem_key(raw, raw_len, idem);
    struct mailhooks_pending *p = xcalloc(1, sizeof(*p));
    p->msg = msg;
    p->started_mono = clock_mono_ms();
    int paused = 0, invalid = 0;
    /* The count stays above zero while jobs are still being sent, so that an answer
     * arriving early cannot finish the message half way. */
    p->waiting = 1;
    for (size_t i = 0; i < smtpd_msg_rcpt_count(msg); i++) {
        const char *ep = smtpd_msg_rcpt_endpoint(msg, i);
        int rc;
        /* Looked up again: the bridge may have changed since RCPT. */
        const struct bcache_entry *e = bcache_get(in->bridges, ep, &rc, err, sizeof(err));
        if (e == NULL || e->auth.type != AUTH_NONE)
            continue;
        if (!e->b->active) {
            mailhooks_log(e->b->id, NULL, "450", "bridge_inactive");
            paused++;
            continue;
        }
        if (e->schema != NULL) {
            cJSON *details = cJSON_CreateArray();
            bool ok = jsonschema_validate(e->schema, payload, details, 1);
            cJSON_Delete(details);
            if (!ok) {
                mailhooks_log(e->b->id, NULL, "554", "validation_failed");
                invalid++;
                continue;
            }
        }
        struct job j;
        memset(&j, 0, sizeof(j));
        j.received_ms = clock_now_ms();
        ids_new("evt_", j.received_ms, j.id, sizeof(j.id));
        snprintf(j.bridge_id, sizeof(j.bridge_id), "%s", e->b->id);
        j.method = xstrdup("SMTP");
        j.path = xasprintf("/hooks/%s", ep);
        j.query = xstrdup("");
        j.headers_json = mailhooks_headers(msg, smtpd_msg_rcpt_address(msg, i));
        j.content_type = xstrdup("application/json");
        j.body = xstrdup(body);
        j.body_len = strlen(body);
        j.replay_of = xstrdup("");
        int64_t due = bridge_first_delay(e->b) > 0
                          ? j.received_ms + (int64_t)bridge_first_delay(e->b) * 1000
                          : 0;
        struct mailhooks_call *call = xcalloc(1, sizeof(*call));
        call->p = p;
        memcpy(call->bridge_id, j.bridge_id, sizeof(call->bridge_id));
        p->waiting++;
        /* dedup applies to mail as to HTTP: its key renders against the parsed message and
         * the envelope headers. */
        char dkey[INBOUND_HASH_HEX];
        long dttl = 0;
        bool dreject = false;
        cJSON *hdrs = cJSON_Parse(j.headers_json);
        struct tmpl_ctx ctx = {.payload = payload, .headers = hdrs, .bridge_id = e->b->id};
        bool dedup = inbound_dedup_key(e->b, &ctx, dkey, &dttl, &dreject);
        cJSON_Delete(hdrs);
        /* One script for every mail, dedup or not: the Idempotency-Key then always holds
         * the same form ("{hash}|{record}"), whichever way the bridge was set before. The
         * message's own hash stands for its body, as the key is made from its bytes. */
        struct enqueue_batch bt = {.jobs = &j,
                                   .n = 1,
                                   .due_ms = due,
                                   .idem_key = idem,
                                   .body_hash = idem + 5,
                                   .dedup_key = dedup ? dkey : NULL,
                                   .dedup_ttl_s = dttl};
        call->batch = true;
        int qrc = enqueue_batch(in, &bt, mailhooks_on_enqueued, call);
        if (qrc != 0) {
            mailhooks_log(e->b->id, NULL, "451", "queue_unavailable");
            free(call);
            p->waiting--;
            p->failed++;
        }
        job_clear(&j);
    }
    if (p->waiting == 1 && p->failed == 0 && p->queued == 0) {
        /* Nothing went to Redis: every recipient bridge refused the message. */
        if (paused > 0)
            smtpd_msg_reply(msg, 450, "4.2.1 the bridge is paused; try again later");
        else if (invalid > 0)
            smtpd_msg_reply(msg, 554, "5.6.0 the message does not match the bridge's schema");
        else
            smtpd_msg_reply(msg, 550, "5.1.1 unknown endpoint");
        free(p);
        goto out;
    }
    if (--p->waiting == 0)
        mailhooks_done(p);
out:
    free(body);
    cJSON_Delete(payload);
}

struct smtpd *mailhooks_listen(struct ingress *in, int listen_fd, char *err, size_t errlen)
{
    struct smtpd_config sc;
    smtpd_config_init(&sc);
    sc.max_message = (size_t)in->cfg.max_body;
    char host[256];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        sc.hostname = host;
    }
    if (in->cfg.tls_cert[0] != '\0') {
        sc.tls_cert = in->cfg.tls_cert;
        sc.tls_key = in->cfg.tls_key;
    }
    return smtpd_new(in->base, listen_fd, &sc, mailhooks_rcpt, mailhooks_message, in, err, errlen);
}
