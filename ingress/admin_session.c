/*
 * admin_session.c - console sign-in, sign-out and the session check (see admin_session.h).
 */
#include "admin_session.h"

#include "hb.h"
#include "http.h"
#include "log.h"
#include "rconn.h"
#include "xalloc.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* 32 random bytes as hex. */
#define SESSION_HEX_LEN 64

bool admin_session_token_ok(const struct ingress *in, const char *given)
{
    if (in->cfg.admin_token[0] == '\0' || given == NULL)
        return false;
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof(a), (const unsigned char *)given, strlen(given), NULL, 0);
    crypto_generichash(b, sizeof(b), (const unsigned char *)in->cfg.admin_token,
                       strlen(in->cfg.admin_token), NULL, 0);
    return sodium_memcmp(a, b, sizeof(a)) == 0;
}

bool admin_session_cookie(const struct httpd_req *req, char *out, size_t outlen)
{
    const char *c = httpd_req_header(req, "Cookie");
    size_t nl = strlen(ADMIN_SESSION_COOKIE);
    if (c == NULL || outlen < SESSION_HEX_LEN + 1)
        return false;
    while (*c != '\0') {
        while (*c == ' ' || *c == ';')
            c++;
        const char *end = strchr(c, ';');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == nl + 1 + SESSION_HEX_LEN && strncmp(c, ADMIN_SESSION_COOKIE, nl) == 0 &&
            c[nl] == '=') {
            const char *v = c + nl + 1;
            for (size_t i = 0; i < SESSION_HEX_LEN; i++)
                if (strchr("0123456789abcdef", v[i]) == NULL || v[i] == '\0')
                    return false;
            memcpy(out, v, SESSION_HEX_LEN);
            out[SESSION_HEX_LEN] = '\0';
            return true;
        }
        if (end == NULL)
            break;
        c = end + 1;
    }
    return false;
}

bool admin_session_same_site(const struct httpd_req *req)
{
    const char *m = httpd_req_method(req);
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return true;
    const char *ct = httpd_req_header(req, "Content-Type");
    size_t jl = strlen("application/json");
    if (ct == NULL || strncasecmp(ct, "application/json", jl) != 0 ||
        (ct[jl] != '\0' && ct[jl] != ';' && ct[jl] != ' '))
        return false;
    const char *origin = httpd_req_header(req, "Origin");
    if (origin == NULL)
        return true;
    const char *host = httpd_req_header(req, "Host");
    const char *rest = NULL;
    if (strncmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    return rest != NULL && host != NULL && strcasecmp(rest, host) == 0;
}

/* "{prefix}session:{sha256 of the cookie value, hex}": Redis never holds a usable cookie. */
static void session_key(const struct ingress *in, const char *cookie, char *out, size_t outlen)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256(h, (const unsigned char *)cookie, strlen(cookie));
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    snprintf(out, outlen, "%ssession:%s", in->cfg.key_prefix, hex);
}

/*
 * The session's value in Redis: BLAKE2b of the admin token keyed by the cookie value, hex. A
 * session made with one token stops working once the ingress runs with another (rotating
 * the token signs everyone out), and the value tells nothing without the cookie.
 */
static void session_proof(const struct ingress *in, const char *cookie, char *out, size_t outlen)
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)in->cfg.admin_token,
                       strlen(in->cfg.admin_token), (const unsigned char *)cookie, strlen(cookie));
    sodium_bin2hex(out, outlen, h, sizeof(h));
}

struct session_op {
    struct ingress *in;
    struct httpd_req *req;
    admin_session_cb cb;
    char cookie[SESSION_HEX_LEN + 1];
};

static void session_on_get(redisAsyncContext *ac, void *r, void *priv)
{
    struct session_op *op = priv;
    redisReply *reply = r;
    (void)ac;
    int live = -1;
    char proof[65];
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        session_proof(op->in, op->cookie, proof, sizeof(proof));
        live = op->in->cfg.admin_token[0] != '\0' && reply->len == 64 &&
               sodium_memcmp(reply->str, proof, 64) == 0;
    } else if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        live = 0;
    }
    op->cb(op->in, op->req, live);
    sodium_memzero(op->cookie, sizeof(op->cookie));
    free(op);
}

int admin_session_check(struct ingress *in, struct httpd_req *req, const char *cookie,
                        admin_session_cb cb)
{
    char key[256];
    session_key(in, cookie, key, sizeof(key));
    struct session_op *op = xcalloc(1, sizeof(*op));
    op->in = in;
    op->req = req;
    op->cb = cb;
    snprintf(op->cookie, sizeof(op->cookie), "%s", cookie);
    if (rconn_cmd(in->redis, session_on_get, op, "GET %s", key) != 0) {
        free(op);
        return -1;
    }
    return 0;
}

static void session_unavailable(struct httpd_req *req)
{
    httpd_reply_header(req, "Retry-After", "5");
    httpd_reply_json_error(req, 503, "queue_unavailable",
                           "redis is unavailable; sessions live there");
}

static void session_on_set(redisAsyncContext *ac, void *r, void *priv)
{
    struct session_op *op = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        session_unavailable(op->req);
        goto out;
    }
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d",
             ADMIN_SESSION_COOKIE, op->cookie, ADMIN_SESSION_TTL_S);
    /* A refused header would answer 204 with no session: the sign-in would seem to work and
     * every next request be 401. */
    if (httpd_reply_header(op->req, "Set-Cookie", cookie) != 0) {
        log_kv(LOG_ERROR, "console session cookie refused by the server", "peer",
               httpd_req_peer(op->req), NULL);
        httpd_reply_json_error(op->req, 500, "internal", "the session cookie could not be set");
        goto out;
    }
    httpd_reply_header(op->req, "Cache-Control", "no-store");
    log_kv(LOG_INFO, "console session started", "peer", httpd_req_peer(op->req), NULL);
    httpd_reply(op->req, 204, NULL, NULL, 0);
out:
    sodium_memzero(op->cookie, sizeof(op->cookie));
    free(op);
}

static void session_start(struct ingress *in, struct httpd_req *req)
{
    if (!admin_session_same_site(req)) {
        httpd_reply_json_error(
            req, 403, "forbidden",
            "sign-in needs Content-Type application/json and this site's Origin");
        return;
    }
    cJSON *body = http_body_json_object(req);
    if (body == NULL)
        return;
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(body, "token");
    if (!cJSON_IsString(token)) {
        httpd_reply_json_error(req, 400, "invalid_request", "token: a string is required");
        goto out;
    }
    if (!admin_session_token_ok(in, token->valuestring)) {
        log_kv(LOG_WARN, "console sign-in refused", "peer", httpd_req_peer(req), NULL);
        httpd_reply_json_error(req, 401, "unauthorized",
                               in->cfg.admin_token[0] ? "wrong admin token"
                                                      : "the admin API is disabled until "
                                                        "HOOKBRIDGE_ADMIN_TOKEN is set");
        goto out;
    }
    unsigned char raw[32];
    char key[256];
    struct session_op *op = xcalloc(1, sizeof(*op));
    op->in = in;
    op->req = req;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(op->cookie, sizeof(op->cookie), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    session_key(in, op->cookie, key, sizeof(key));
    char proof[65];
    session_proof(in, op->cookie, proof, sizeof(proof));
    if (rconn_cmd(in->redis, session_on_set, op, "SET %s %s EX %d", key, proof,
                  ADMIN_SESSION_TTL_S) != 0)
        session_on_set(NULL, NULL, op);
out:
    cJSON_Delete(body);
}

/* The sign-out's answer: the cookie cleared, once Redis dropped the session (or could not). */
static void session_ended(struct httpd_req *req)
{
    char clear[128];
    snprintf(clear, sizeof(clear), "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
             ADMIN_SESSION_COOKIE);
    httpd_reply_header(req, "Set-Cookie", clear);
    httpd_reply(req, 204, NULL, NULL, 0);
}

static void session_on_del(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    (void)r;
    /* Answered whatever Redis said: the browser forgets the cookie either way, and a key
     * Redis missed still expires with its TTL. */
    session_ended(priv);
}

static void session_end(struct ingress *in, struct httpd_req *req)
{
    char cookie[SESSION_HEX_LEN + 1], key[256];
    if (admin_session_cookie(req, cookie, sizeof(cookie))) {
        session_key(in, cookie, key, sizeof(key));
        /* The 204 waits for the DEL, so that a sign-out answered is a session gone. */
        if (rconn_cmd(in->redis, session_on_del, req, "DEL %s", key) == 0)
            return;
    }
    session_ended(req);
}

void admin_session_handle(struct ingress *in, struct httpd_req *req)
{
    if (httpd_req_method_is(req, "POST")) {
        session_start(in, req);
    } else if (httpd_req_method_is(req, "DELETE")) {
        session_end(in, req);
    } else {
        httpd_reply_header(req, "Allow", "POST, DELETE");
        httpd_reply_json_error(req, 405, "method_not_allowed", "method not allowed on this route");
    }
}
