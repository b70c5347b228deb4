/*
 * oauth.c - shared OAuth 2.0 access tokens (see oauth.h).
 *
 * One flow per route in this process gathers the tasks waiting for its token, so a burst
 * of events makes one Redis lookup and at most one token request. A lookup reads the
 * shared token; when it is due for refresh the flow takes the route's lock, reads the
 * bridge row again (the refresh token there is the newest durable one), asks the token
 * endpoint, stores a rotated refresh token in the row, then publishes the token in Redis
 * and frees the lock. A flow that finds the lock taken uses the still-valid token or looks
 * again shortly, until the lock's deadline has passed.
 */
#include "oauth.h"

#include "bridge.h"
#include "clock.h"
#include "crypto.h"
#include "deliver.h"
#include "destcfg.h"
#include "hb.h"
#include "log.h"
#include "rconn.h"
#include "route.h"
#include "store.h"
#include "worker.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long the refreshing worker holds the lock at most; longer than the token request's
 * timeout, so that the lock cannot lapse while a refresh token is on the wire (another
 * worker would then use the same refresh token, and a rotating server revoke both). */
#define OAUTH_LOCK_MS 60000
#define OAUTH_REQUEST_MS 20000
/* How long a task waits for another worker's refresh before its attempt fails. */
#define OAUTH_WAIT_MS (OAUTH_LOCK_MS + 15000)
#define OAUTH_POLL_MS 200
/* expires_in when the server leaves it out (RFC 6749 5.1 makes it optional). */
#define OAUTH_DEFAULT_EXPIRES_S 3600

static const char oauth_lua_unlock[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

struct oauth_waiter {
    oauth_cb cb;
    void *arg;
    char *stale; /* a token refused with 401: not to be handed out again */
    struct oauth_waiter *next;
};

struct oauth_flow {
    struct worker *w;
    char bridge_id[HB_ID_LEN];
    char route[72];
    char key[QUEUE_KEY_LEN + 160];
    char lock[QUEUE_KEY_LEN + 168];
    char owner[200];
    char fp[crypto_generichash_BYTES * 2 + 1]; /* the settings the shared token belongs to */
    struct oauth_waiter *waiters;
    bool busy;         /* a lookup or refresh is under way */
    bool dead;         /* oauth_stop ran; freed when the last Redis reply arrives */
    int redis_pending; /* commands whose callbacks hold this flow */
    int64_t wait_until_ms;
    struct event *timer;
    char *fail_later; /* an error to report from the loop */
    char *valid;      /* a token still valid but due for refresh (wiped) */
    struct deliver_call *call;
    char *form;        /* the token request's body: holds secrets (wiped) */
    char *basic;       /* its Authorization header (wiped) */
    char *old_refresh; /* the refresh token sent (wiped) */
    bool rotating;     /* grant refresh_token */
    struct oauth_flow *next;
};

static struct oauth_flow *oauth_flows;

static void oauth_wipe(char **s)
{
    if (*s != NULL) {
        sodium_memzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

static void oauth_fingerprint(const cJSON *o, char out[crypto_generichash_BYTES * 2 + 1])
{
    static const char *const members[] = {"grant", "token_url", "client_id", "scope",
                                          "client_auth"};
    crypto_generichash_state st;
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, members[i]);
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        crypto_generichash_update(&st, (const unsigned char *)s, strlen(s) + 1);
    }
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(out, crypto_generichash_BYTES * 2 + 1, h, sizeof(h));
}

/* Hand `token` (or `error`) to every waiter that may take it; the flow is idle again before
 * any callback runs, so a callback may ask for a token at once. With `token`, waiters that
 * refused exactly this token stay and the function returns true when any did. */
static bool oauth_finish(struct oauth_flow *f, const char *token, const char *error)
{
    struct oauth_waiter *take = NULL, **tail = &take, **pp = &f->waiters;
    while (*pp != NULL) {
        struct oauth_waiter *x = *pp;
        if (token != NULL && x->stale != NULL && strcmp(x->stale, token) == 0) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        x->next = NULL;
        *tail = x;
        tail = &x->next;
    }
    /* A copy: `token` may be f->valid, wiped just below. */
    char *tok = token ? xstrdup(token) : NULL;
    bool left = f->waiters != NULL;
    if (!left) {
        f->busy = false;
        oauth_wipe(&f->valid);
    }
    while (take != NULL) {
        struct oauth_waiter *x = take;
        take = x->next;
        x->cb(tok, tok ? NULL : error, x->arg);
        oauth_wipe(&x->stale);
        free(x);
    }
    oauth_wipe(&tok);
    return left;
}

static void oauth_fail(struct oauth_flow *f, const char *error)
{
    oauth_finish(f, NULL, error);
}

static void oauth_lookup(struct oauth_flow *f);

static void oauth_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct oauth_flow *f = arg;
    (void)fd;
    (void)what;
    if (f->fail_later != NULL) {
        char *e = f->fail_later;
        f->fail_later = NULL;
        oauth_fail(f, e);
        free(e);
        return;
    }
    oauth_lookup(f);
}

static void oauth_arm(struct oauth_flow *f, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(f->timer, &tv);
}

/* Report `error` from the loop: oauth_token's callback never runs inside it. */
static void oauth_fail_later(struct oauth_flow *f, const char *error)
{
    free(f->fail_later);
    f->fail_later = xstrdup(error);
    oauth_arm(f, 0);
}

/* A Redis reply for flow `f`: false when the flow was stopped meanwhile (then freed here
 * once nothing else holds it). */
static bool oauth_reply_alive(struct oauth_flow *f)
{
    f->redis_pending--;
    if (!f->dead)
        return true;
    if (f->redis_pending == 0)
        free(f);
    return false;
}

static void oauth_on_ignored(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    (void)priv;
    redisReply *reply = r;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        log_kv(LOG_WARN, "oauth2 token could not be published in redis", "error",
               reply ? reply->str : "no answer", NULL);
}

/* Route `name` of `b`, or NULL. */
static struct route *oauth_route(struct bridge *b, const char *name)
{
    for (size_t i = 0; i < b->n_routes; i++)
        if (strcmp(b->routes[i].name, name) == 0)
            return &b->routes[i];
    return NULL;
}

/* The response of a token request as an error line: the status and the error code the
 * server gives (RFC 6749 5.2), never the body itself. */
static void oauth_response_error(const struct deliver_result *res, char *err, size_t errlen)
{
    if (res->error != NULL) {
        snprintf(err, errlen, "oauth2 token endpoint: %.200s", res->error);
        return;
    }
    cJSON *j = cJSON_ParseWithLength(res->body, res->body_len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(j, "error_description");
    snprintf(err, errlen, "oauth2 token endpoint: HTTP %d%s%.64s%s%.160s", res->http_status,
             cJSON_IsString(code) ? " " : "", cJSON_IsString(code) ? code->valuestring : "",
             cJSON_IsString(desc) ? ": " : "", cJSON_IsString(desc) ? desc->valuestring : "");
    cJSON_Delete(j);
}

/*
 * Write a rotated refresh token into the bridge row (sealed), in one transaction that
 * reads the row again so that nothing else in it changes. Returns 0, or -1 with `err`.
 */
static int oauth_store_refresh(struct oauth_flow *f, const char *refresh, char *err, size_t errlen)
{
    struct worker *w = f->w;
    char serr[HB_ERR_LEN];
    char *json = NULL, *out = NULL;
    struct bridge *b = NULL;
    int ret = -1;
    if (store_begin(w->store, serr, sizeof serr) != 0) {
        snprintf(err, errlen, "%s", serr);
        return -1;
    }
    int rc = store_bridge_get(w->store, f->bridge_id, &json, serr, sizeof serr);
    if (rc != 0 || bridge_from_store(json, &b, serr, sizeof(serr)) != 0) {
        snprintf(err, errlen, "%s", rc == STORE_NOTFOUND ? "bridge deleted" : serr);
        goto out_rollback;
    }
    struct route *r = oauth_route(b, f->route);
    if (r == NULL || r->oauth2 == NULL) {
        snprintf(err, errlen, "the route no longer has oauth2");
        goto out_rollback;
    }
    char *sealed = crypto_seal(w->cfg.secret_key, refresh, strlen(refresh));
    cJSON_DeleteItemFromObjectCaseSensitive(r->oauth2, "refresh_token");
    cJSON_AddStringToObject(r->oauth2, "refresh_token", sealed);
    free(sealed);
    out = bridge_to_store(b);
    if (store_bridge_update(w->store, f->bridge_id, out, serr, sizeof serr) != 0 ||
        store_commit(w->store, serr, sizeof serr) != 0) {
        snprintf(err, errlen, "%s", serr);
        goto out_rollback;
    }
    ret = 0;
    goto out;
out_rollback:
    store_rollback(w->store);
out:
    free(json);
    free(out);
    bridge_free(b);
    return ret;
}

static void oauth_release_lock(struct oauth_flow *f)
{
    rconn_cmd(f->w->cmd, oauth_on_ignored, NULL, "EVAL %s 1 %s %s", oauth_lua_unlock, f->lock,
              f->owner);
}

static void oauth_on_token(const struct deliver_result *res, void *arg)
{
    struct oauth_flow *f = arg;
    struct worker *w = f->w;
    char err[HB_ERR_LEN + 256];
    f->call = NULL;
    log_kv(LOG_DEBUG, "oauth2 token answer", "bridge_id", f->bridge_id, "error", res->error, NULL);
    oauth_wipe(&f->form);
    oauth_wipe(&f->basic);
    cJSON *j = NULL;
    const cJSON *access = NULL, *expires = NULL, *refresh = NULL;
    if (res->error == NULL && res->http_status >= 200 && res->http_status < 300) {
        j = cJSON_ParseWithLength(res->body, res->body_len);
        access = cJSON_GetObjectItemCaseSensitive(j, "access_token");
        expires = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
        refresh = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    }
    if (!cJSON_IsString(access) || access->valuestring[0] == '\0') {
        if (j != NULL)
            snprintf(err, sizeof(err), "oauth2 token endpoint: HTTP %d without an access_token",
                     res->http_status);
        else
            oauth_response_error(res, err, sizeof(err));
        log_kv(LOG_WARN, "oauth2 token request failed", "bridge_id", f->bridge_id, "route",
               f->route, "error", err, NULL);
        cJSON_Delete(j);
        oauth_wipe(&f->old_refresh);
        oauth_release_lock(f);
        oauth_fail(f, err);
        return;
    }
    /* A rotated refresh token is made durable first: the old one may already be revoked. */
    if (f->rotating && cJSON_IsString(refresh) && refresh->valuestring[0] != '\0' &&
        (f->old_refresh == NULL || strcmp(refresh->valuestring, f->old_refresh) != 0)) {
        char serr[HB_ERR_LEN];
        if (oauth_store_refresh(f, refresh->valuestring, serr, sizeof(serr)) != 0)
            log_kv(LOG_ERROR, "rotated oauth2 refresh token could not be stored", "bridge_id",
                   f->bridge_id, "route", f->route, "error", serr, NULL);
        else
            log_kv(LOG_INFO, "oauth2 refresh token rotated and stored", "bridge_id", f->bridge_id,
                   "route", f->route, NULL);
    }
    oauth_wipe(&f->old_refresh);
    double in = cJSON_IsNumber(expires) ? expires->valuedouble : OAUTH_DEFAULT_EXPIRES_S;
    if (!(in >= 1 && in <= 31536000))
        in = OAUTH_DEFAULT_EXPIRES_S;
    int64_t now = clock_now_ms();
    int64_t life_ms = (int64_t)(in * 1000);
    int64_t expires_ms = now + life_ms;
    /* Refreshed a minute before it runs out, or halfway through a shorter life. */
    int64_t early = life_ms - 60000 > life_ms / 2 ? life_ms - 60000 : life_ms / 2;
    int64_t refresh_at = now + early;
    char *sealed = crypto_seal(w->cfg.secret_key, access->valuestring, strlen(access->valuestring));
    char ra[24], ex[24], ttl[24];
    snprintf(ra, sizeof(ra), "%lld", (long long)refresh_at);
    snprintf(ex, sizeof(ex), "%lld", (long long)expires_ms);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)life_ms);
    rconn_cmd(w->cmd, oauth_on_ignored, NULL, "HSET %s token %s refresh_at %s expires %s fp %s",
              f->key, sealed, ra, ex, f->fp);
    rconn_cmd(w->cmd, oauth_on_ignored, NULL, "PEXPIRE %s %s", f->key, ttl);
    free(sealed);
    oauth_release_lock(f);
    oauth_wipe(&f->valid);
    /* A token just issued is the best there is, even for a task whose 401 came with it. */
    for (struct oauth_waiter *x = f->waiters; x != NULL; x = x->next)
        oauth_wipe(&x->stale);
    oauth_finish(f, access->valuestring, NULL);
    cJSON_Delete(j);
}

/* Append `name=value` to a form body, both percent-encoded. */
static void oauth_form_add(char **form, const char *name, const char *value)
{
    char *v = curl_easy_escape(NULL, value, 0);
    char *next = xasprintf("%s%s%s=%s", *form ? *form : "", *form ? "&" : "", name, v ? v : "");
    if (v != NULL) {
        sodium_memzero(v, strlen(v));
        curl_free(v);
    }
    oauth_wipe(form);
    *form = next;
}

/* We hold the lock: ask the token endpoint. */
static void oauth_refresh(struct oauth_flow *f)
{
    struct worker *w = f->w;
    char err[HB_ERR_LEN + 64], serr[HB_ERR_LEN];
    char *json = NULL, *secret = NULL;
    struct bridge *b = NULL;
    /* The row, not the task's copy: a refresh token rotated since the task read it is there. */
    int rc = store_bridge_get(w->store, f->bridge_id, &json, serr, sizeof serr);
    const struct route *r = NULL;
    if (rc == 0 && bridge_from_store(json, &b, serr, sizeof(serr)) == 0)
        r = oauth_route(b, f->route);
    if (r == NULL || r->oauth2 == NULL) {
        snprintf(err, sizeof(err), "oauth2: route settings cannot be read: %s",
                 rc == STORE_NOTFOUND ? "bridge deleted"
                 : b                  ? "no oauth2 on the route"
                                      : serr);
        goto fail;
    }
    const cJSON *o = r->oauth2;
    const cJSON *grant = cJSON_GetObjectItemCaseSensitive(o, "grant");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(o, "token_url");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "client_id");
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(o, "scope");
    const cJSON *cauth = cJSON_GetObjectItemCaseSensitive(o, "client_auth");
    if (!cJSON_IsString(grant) || !cJSON_IsString(url) || !cJSON_IsString(id)) {
        snprintf(err, sizeof(err), "oauth2: settings incomplete");
        goto fail;
    }
    oauth_fingerprint(o, f->fp);
    secret = destcfg_get(o, "client_secret", w->cfg.secret_key, serr, sizeof(serr));
    if (secret == NULL && serr[0] != '\0') {
        snprintf(err, sizeof(err), "bridge secrets cannot be decrypted: %s", serr);
        goto fail;
    }
    f->rotating = strcmp(grant->valuestring, "refresh_token") == 0;
    oauth_form_add(&f->form, "grant_type", grant->valuestring);
    if (f->rotating) {
        f->old_refresh = destcfg_get(o, "refresh_token", w->cfg.secret_key, serr, sizeof(serr));
        if (f->old_refresh == NULL) {
            snprintf(err, sizeof(err), "bridge secrets cannot be decrypted: %s",
                     serr[0] ? serr : "no refresh_token");
            goto fail;
        }
        oauth_form_add(&f->form, "refresh_token", f->old_refresh);
    } else if (cJSON_IsString(scope)) {
        oauth_form_add(&f->form, "scope", scope->valuestring);
    }
    /* RFC 6749 2.3.1: HTTP Basic with the form-encoded id and secret, or (client_auth
     * "body") both in the request body. */
    if (cJSON_IsString(cauth) && strcmp(cauth->valuestring, "body") == 0) {
        oauth_form_add(&f->form, "client_id", id->valuestring);
        if (secret != NULL)
            oauth_form_add(&f->form, "client_secret", secret);
    } else {
        char *eid = curl_easy_escape(NULL, id->valuestring, 0);
        char *esec = curl_easy_escape(NULL, secret ? secret : "", 0);
        char *pair = xasprintf("%s:%s", eid ? eid : "", esec ? esec : "");
        char *b64 = crypto_b64_encode(pair, strlen(pair), CRYPTO_B64_STD);
        f->basic = xasprintf("Authorization: Basic %s", b64);
        oauth_wipe(&b64);
        oauth_wipe(&pair);
        if (esec != NULL) {
            sodium_memzero(esec, strlen(esec));
            curl_free(esec);
        }
        curl_free(eid);
    }
    const char *hdrs[5];
    size_t n = 0;
    hdrs[n++] = "Content-Type: application/x-www-form-urlencoded";
    hdrs[n++] = "Accept: application/json";
    if (f->basic != NULL)
        hdrs[n++] = f->basic;
    hdrs[n] = NULL;
    struct deliver_request rq = {
        .method = "POST",
        .url = url->valuestring,
        .headers = hdrs,
        .body = f->form,
        .body_len = strlen(f->form),
        .timeout_ms = OAUTH_REQUEST_MS,
    };
    f->call = deliver_start(w->deliver, &rq, oauth_on_token, f, serr, sizeof(serr));
    log_kv(LOG_DEBUG, "oauth2 token request", "bridge_id", f->bridge_id, "started",
           f->call ? "yes" : serr, NULL);
    if (f->call == NULL) {
        snprintf(err, sizeof(err), "oauth2 token endpoint: %s", serr);
        goto fail;
    }
    oauth_wipe(&secret);
    free(json);
    bridge_free(b);
    return;
fail:
    oauth_wipe(&secret);
    oauth_wipe(&f->form);
    oauth_wipe(&f->basic);
    oauth_wipe(&f->old_refresh);
    free(json);
    bridge_free(b);
    oauth_release_lock(f);
    oauth_fail_later(f, err);
}

static void oauth_on_lock(redisAsyncContext *ac, void *r, void *priv)
{
    struct oauth_flow *f = priv;
    redisReply *reply = r;
    (void)ac;
    if (!oauth_reply_alive(f))
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        oauth_fail(f, "oauth2: redis did not answer the token lock");
        return;
    }
    log_kv(LOG_DEBUG, "oauth2 token lock", "bridge_id", f->bridge_id, "taken",
           reply->type == REDIS_REPLY_STATUS ? "yes" : "no", NULL);
    if (reply->type == REDIS_REPLY_STATUS) {
        oauth_refresh(f);
        return;
    }
    /* Another worker is refreshing: a token that is due but still valid serves meanwhile. */
    if (f->valid != NULL && !oauth_finish(f, f->valid, NULL))
        return;
    if (clock_now_ms() > f->wait_until_ms) {
        oauth_fail(f, "oauth2: the token refresh by another worker did not finish in time");
        return;
    }
    oauth_arm(f, OAUTH_POLL_MS);
}

static void oauth_on_lookup(redisAsyncContext *ac, void *r, void *priv)
{
    struct oauth_flow *f = priv;
    redisReply *reply = r;
    (void)ac;
    if (!oauth_reply_alive(f))
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        oauth_fail(f, "oauth2: redis did not answer the token lookup");
        return;
    }
    redisReply **e = reply->element;
    char *token = NULL;
    if (e[0]->type == REDIS_REPLY_STRING && e[3]->type == REDIS_REPLY_STRING &&
        strcmp(e[3]->str, f->fp) == 0) {
        char why[HB_ERR_LEN];
        token = crypto_open(f->w->cfg.secret_key, e[0]->str, NULL, why, sizeof(why));
    }
    log_kv(LOG_DEBUG, "oauth2 token lookup", "bridge_id", f->bridge_id, "found",
           token ? "yes" : "no", NULL);
    int64_t now = clock_now_ms();
    int64_t refresh_at = e[1]->type == REDIS_REPLY_STRING ? strtoll(e[1]->str, NULL, 10) : 0;
    int64_t expires = e[2]->type == REDIS_REPLY_STRING ? strtoll(e[2]->str, NULL, 10) : 0;
    if (token != NULL && now < refresh_at) {
        bool left = oauth_finish(f, token, NULL);
        oauth_wipe(&token);
        if (!left)
            return;
    } else if (token != NULL && now < expires) {
        oauth_wipe(&f->valid);
        f->valid = token;
        token = NULL;
    }
    oauth_wipe(&token);
    char px[16];
    snprintf(px, sizeof(px), "%d", OAUTH_LOCK_MS);
    if (rconn_cmd(f->w->cmd, oauth_on_lock, f, "SET %s %s NX PX %s", f->lock, f->owner, px) != 0) {
        oauth_fail(f, "oauth2: redis is unavailable");
        return;
    }
    f->redis_pending++;
}

static void oauth_lookup(struct oauth_flow *f)
{
    if (rconn_cmd(f->w->cmd, oauth_on_lookup, f, "HMGET %s token refresh_at expires fp", f->key) !=
        0) {
        oauth_fail_later(f, "oauth2: redis is unavailable");
        return;
    }
    f->redis_pending++;
}

static struct oauth_flow *oauth_flow_get(struct worker *w, const struct bridge *b,
                                         const char *route)
{
    for (struct oauth_flow *f = oauth_flows; f != NULL; f = f->next)
        if (strcmp(f->bridge_id, b->id) == 0 && strcmp(f->route, route) == 0)
            return f;
    struct oauth_flow *f = xcalloc(1, sizeof(*f));
    f->w = w;
    snprintf(f->bridge_id, sizeof(f->bridge_id), "%s", b->id);
    snprintf(f->route, sizeof(f->route), "%s", route);
    snprintf(f->key, sizeof(f->key), "%soauth:%s:%s", w->keys.prefix, b->id, route);
    snprintf(f->lock, sizeof(f->lock), "%s:lock", f->key);
    unsigned char nonce[8];
    char hex[sizeof(nonce) * 2 + 1];
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2hex(hex, sizeof(hex), nonce, sizeof(nonce));
    snprintf(f->owner, sizeof(f->owner), "%s:%s", w->id, hex);
    f->timer = evtimer_new(w->base, oauth_on_timer, f);
    f->next = oauth_flows;
    oauth_flows = f;
    return f;
}

void oauth_token(struct worker *w, const struct bridge *b, const struct route *r, const char *stale,
                 oauth_cb cb, void *arg)
{
    struct oauth_flow *f = oauth_flow_get(w, b, r->name);
    struct oauth_waiter *x = xcalloc(1, sizeof(*x));
    x->cb = cb;
    x->arg = arg;
    x->stale = stale ? xstrdup(stale) : NULL;
    x->next = f->waiters;
    f->waiters = x;
    if (f->busy)
        return;
    f->busy = true;
    f->wait_until_ms = clock_now_ms() + OAUTH_WAIT_MS;
    oauth_fingerprint(r->oauth2, f->fp);
    oauth_lookup(f);
}

void oauth_forget(void *arg)
{
    for (struct oauth_flow *f = oauth_flows; f != NULL; f = f->next) {
        struct oauth_waiter **pp = &f->waiters;
        while (*pp != NULL) {
            struct oauth_waiter *x = *pp;
            if (x->arg != arg) {
                pp = &x->next;
                continue;
            }
            *pp = x->next;
            oauth_wipe(&x->stale);
            free(x);
        }
    }
}

void oauth_stop(void)
{
    while (oauth_flows != NULL) {
        struct oauth_flow *f = oauth_flows;
        oauth_flows = f->next;
        if (f->call != NULL)
            deliver_cancel(f->call);
        if (f->timer != NULL)
            event_free(f->timer);
        while (f->waiters != NULL) {
            struct oauth_waiter *x = f->waiters;
            f->waiters = x->next;
            oauth_wipe(&x->stale);
            free(x);
        }
        free(f->fail_later);
        oauth_wipe(&f->valid);
        oauth_wipe(&f->form);
        oauth_wipe(&f->basic);
        oauth_wipe(&f->old_refresh);
        if (f->redis_pending > 0)
            f->dead = true; /* its replies still point here */
        else
            free(f);
    }
}
