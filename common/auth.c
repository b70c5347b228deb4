/*
 * auth.c - inbound sender authentication (see auth.h): checking a bridge's `auth` object
 * when it is saved, and deciding whether one inbound request passes it.
 *
 * The reasons auth_verify gives end up in logs, so they name the header and the problem
 * and never echo what the sender presented: a near-miss credential is still a credential.
 */
#include "auth.h"

#include "crypto.h"
#include "text.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const auth_type_names[] = {
    [AUTH_NONE] = "none",
    [AUTH_TOKEN] = "token",
    [AUTH_HMAC_SHA256] = "hmac-sha256",
    [AUTH_JWT_HS256] = "jwt-hs256",
    [AUTH_STRIPE] = "stripe",
    [AUTH_GITHUB] = "github",
    [AUTH_SHOPIFY] = "shopify",
    [AUTH_XERO] = "xero",
    [AUTH_STANDARD_WEBHOOKS] = "standard-webhooks",
    [AUTH_SLACK] = "slack",
};

#define AUTH_TYPE_LIST                                                                             \
    "none, token, hmac-sha256, jwt-hs256, stripe, github, shopify, xero, standard-webhooks, "      \
    "slack"

/* The header each preset reads its signature from (lower-cased, as lookups want it). */
static const char *const auth_preset_headers[] = {
    [AUTH_STRIPE] = "stripe-signature",
    [AUTH_GITHUB] = "x-hub-signature-256",
    [AUTH_SHOPIFY] = "x-shopify-hmac-sha256",
    [AUTH_XERO] = "x-xero-signature",
    [AUTH_STANDARD_WEBHOOKS] = "webhook-signature",
    [AUTH_SLACK] = "x-slack-signature",
};

#define AUTH_NTYPES (sizeof(auth_type_names) / sizeof(auth_type_names[0]))

static const char *const auth_members[] = {"type",     "secret", "header",
                                           "encoding", "prefix", "require_exp",
                                           "audience", "issuer", "tolerance_seconds"};

static bool auth_is_preset(enum auth_type t)
{
    return t >= AUTH_STRIPE && t <= AUTH_SLACK;
}

/* The presets whose senders sign a timestamp, checked against tolerance_seconds. */
static bool auth_has_timestamp(enum auth_type t)
{
    return t == AUTH_STRIPE || t == AUTH_STANDARD_WEBHOOKS || t == AUTH_SLACK;
}

const char *auth_type_name(enum auth_type t)
{
    if ((unsigned)t >= AUTH_NTYPES)
        return "unknown";
    return auth_type_names[t];
}

static bool auth_is_member(const char *name)
{
    for (size_t i = 0; i < sizeof(auth_members) / sizeof(auth_members[0]); i++)
        if (strcmp(name, auth_members[i]) == 0)
            return true;
    return false;
}

/* Member names, known or not, are checked before their values. */
static int auth_check_members(const cJSON *in, enum auth_type type, char *err, size_t errlen)
{
    for (const cJSON *m = in->child; m != NULL; m = m->next) {
        if (!auth_is_member(m->string)) {
            snprintf(err, errlen,
                     "%.64s: is not a known member (type, secret, header, "
                     "encoding, prefix, require_exp, audience, issuer, tolerance_seconds)",
                     m->string);
            return -1;
        }
        for (const cJSON *o = m->next; o != NULL; o = o->next) {
            if (strcmp(m->string, o->string) == 0) {
                snprintf(err, errlen, "%s: appears more than once", m->string);
                return -1;
            }
        }
        if (strcmp(m->string, "type") == 0)
            continue;
        if (type == AUTH_NONE) {
            snprintf(err, errlen, "%s: not allowed with type none", m->string);
            return -1;
        }
        /* A preset's header is its sender's: naming another could only break it. */
        if (auth_is_preset(type) && strcmp(m->string, "header") == 0) {
            snprintf(err, errlen, "header: is fixed by type %s", auth_type_name(type));
            return -1;
        }
        if (!auth_has_timestamp(type) && strcmp(m->string, "tolerance_seconds") == 0) {
            snprintf(err, errlen,
                     "tolerance_seconds: only applies to types stripe, standard-webhooks "
                     "and slack");
            return -1;
        }
        /* Accepting and ignoring these would let a typo in "type" pass unnoticed. */
        if (type != AUTH_HMAC_SHA256 &&
            (strcmp(m->string, "encoding") == 0 || strcmp(m->string, "prefix") == 0)) {
            snprintf(err, errlen, "%s: only applies to type hmac-sha256", m->string);
            return -1;
        }
        if (type != AUTH_JWT_HS256 &&
            (strcmp(m->string, "require_exp") == 0 || strcmp(m->string, "audience") == 0 ||
             strcmp(m->string, "issuer") == 0)) {
            snprintf(err, errlen, "%s: only applies to type jwt-hs256", m->string);
            return -1;
        }
    }
    return 0;
}

static int auth_set_header(const cJSON *v, struct auth_params *p, char *err, size_t errlen)
{
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        snprintf(err, errlen, "header: must be a non-empty string");
        return -1;
    }
    size_t n = strlen(v->valuestring);
    if (n >= sizeof(p->header)) {
        snprintf(err, errlen, "header: must be at most %zu bytes", sizeof(p->header) - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v->valuestring[i];
        if (!text_is_tchar(c)) {
            snprintf(err, errlen, "header: must be a valid http header name");
            return -1;
        }
        p->header[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    p->header[n] = '\0';
    return 0;
}

/* An expected claim value: a non-empty string that fits `out`. */
static int auth_set_claim(const cJSON *v, const char *name, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    if (v == NULL)
        return 0;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= outlen) {
        snprintf(err, errlen, "%s: must be a non-empty string of at most %zu bytes", name,
                 outlen - 1);
        return -1;
    }
    snprintf(out, outlen, "%s", v->valuestring);
    return 0;
}

int auth_params_from_json(const cJSON *in, struct auth_params *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->type = AUTH_NONE;
    if (in == NULL || cJSON_IsNull(in))
        return 0;
    if (!cJSON_IsObject(in)) {
        snprintf(err, errlen, "must be an object such as {\"type\": \"none\"}");
        return -1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(in, "type");
    if (type == NULL) {
        snprintf(err, errlen, "type: is required");
        return -1;
    }
    size_t t = 0;
    while (t < AUTH_NTYPES &&
           !(cJSON_IsString(type) && strcmp(type->valuestring, auth_type_names[t]) == 0))
        t++;
    if (t == AUTH_NTYPES) {
        snprintf(err, errlen, "type: must be one of " AUTH_TYPE_LIST);
        return -1;
    }
    enum auth_type at = (enum auth_type)t;
    if (auth_check_members(in, at, err, errlen) != 0)
        return -1;
    if (at == AUTH_NONE)
        return 0;

    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(in, "secret");
    if (secret == NULL) {
        snprintf(err, errlen, "secret: is required");
        return -1;
    }
    if (!cJSON_IsString(secret) || secret->valuestring[0] == '\0') {
        snprintf(err, errlen, "secret: must be a non-empty string");
        return -1;
    }
    size_t secret_len = strlen(secret->valuestring);
    if (secret_len > AUTH_SECRET_MAX) {
        snprintf(err, errlen, "secret: must be at most %d bytes", AUTH_SECRET_MAX);
        return -1;
    }

    const cJSON *header = cJSON_GetObjectItemCaseSensitive(in, "header");
    if (header != NULL && auth_set_header(header, p, err, errlen) != 0)
        return -1;

    const cJSON *encoding = cJSON_GetObjectItemCaseSensitive(in, "encoding");
    if (encoding != NULL) {
        if (!cJSON_IsString(encoding) || (strcmp(encoding->valuestring, "hex") != 0 &&
                                          strcmp(encoding->valuestring, "base64") != 0)) {
            snprintf(err, errlen, "encoding: must be hex or base64");
            return -1;
        }
        p->base64 = strcmp(encoding->valuestring, "base64") == 0;
    }

    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(in, "prefix");
    if (prefix != NULL) {
        if (!cJSON_IsString(prefix) || strlen(prefix->valuestring) >= sizeof(p->prefix)) {
            snprintf(err, errlen, "prefix: must be a string of at most %zu bytes",
                     sizeof(p->prefix) - 1);
            return -1;
        }
        snprintf(p->prefix, sizeof(p->prefix), "%s", prefix->valuestring);
    }
    const cJSON *require_exp = cJSON_GetObjectItemCaseSensitive(in, "require_exp");
    if (require_exp != NULL) {
        if (!cJSON_IsBool(require_exp)) {
            snprintf(err, errlen, "require_exp: must be true or false");
            return -1;
        }
        p->require_exp = cJSON_IsTrue(require_exp);
    }
    if (auth_set_claim(cJSON_GetObjectItemCaseSensitive(in, "audience"), "audience", p->audience,
                       sizeof(p->audience), err, errlen) != 0 ||
        auth_set_claim(cJSON_GetObjectItemCaseSensitive(in, "issuer"), "issuer", p->issuer,
                       sizeof(p->issuer), err, errlen) != 0)
        return -1;
    p->tolerance_s = AUTH_TOLERANCE_DEFAULT_S;
    const cJSON *tol = cJSON_GetObjectItemCaseSensitive(in, "tolerance_seconds");
    if (tol != NULL) {
        if (!cJSON_IsNumber(tol) || tol->valuedouble != (double)(int64_t)tol->valuedouble ||
            tol->valuedouble < 1 || tol->valuedouble > AUTH_TOLERANCE_MAX_S) {
            snprintf(err, errlen, "tolerance_seconds: must be an integer in 1..%d",
                     AUTH_TOLERANCE_MAX_S);
            return -1;
        }
        p->tolerance_s = (int64_t)tol->valuedouble;
    }
    /* The key is the base64 after "whsec_": a secret in another form could never match. */
    if (at == AUTH_STANDARD_WEBHOOKS && !crypto_webhook_secret_valid(secret->valuestring)) {
        snprintf(err, errlen,
                 "secret: must be \"whsec_\" followed by the base64 of a 16..64 byte key");
        return -1;
    }
    if (auth_is_preset(at)) {
        snprintf(p->header, sizeof(p->header), "%s", auth_preset_headers[at]);
        /* github, shopify and xero are hmac-sha256 over the body in a fixed form. */
        p->base64 = at == AUTH_SHOPIFY || at == AUTH_XERO;
        if (at == AUTH_GITHUB)
            snprintf(p->prefix, sizeof(p->prefix), "sha256=");
    }
    /* Last, so that a wrong value given is reported before a value missing. */
    if (header == NULL && at == AUTH_HMAC_SHA256) {
        snprintf(err, errlen, "header: is required for type hmac-sha256");
        return -1;
    }

    p->type = at;
    p->secret = secret->valuestring;
    p->secret_len = secret_len;
    return 0;
}

const char *auth_challenge_scheme(const struct auth_params *p)
{
    return p->type == AUTH_TOKEN || p->type == AUTH_JWT_HS256 ? "Bearer" : "Signature";
}

const char *auth_credential_header(const struct auth_params *p)
{
    if (p->type == AUTH_NONE)
        return NULL;
    return p->header[0] != '\0' ? p->header : "authorization";
}

/* A header's value without the optional whitespace HTTP allows around it. */
static bool auth_header_value(auth_header_fn header, void *arg, const char *name,
                              const char **value, size_t *len)
{
    const char *v = header(arg, name);
    if (v == NULL)
        return false;
    size_t n = strlen(v);
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *value = v;
    *len = n;
    return true;
}

/* The credential after "Bearer " (scheme case-insensitive, one or more spaces), or false. */
static bool auth_bearer(const char *v, size_t n, const char **cred, size_t *credlen)
{
    static const char scheme[] = "bearer";
    size_t s = sizeof(scheme) - 1;
    if (n <= s || strncasecmp(v, scheme, s) != 0 || v[s] != ' ')
        return false;
    size_t i = s;
    while (i < n && v[i] == ' ')
        i++;
    if (i == n)
        return false;
    *cred = v + i;
    *credlen = n - i;
    return true;
}

static bool auth_verify_token(const struct auth_params *p, auth_header_fn header, void *arg,
                              char *why, size_t whylen)
{
    const char *name = auth_credential_header(p);
    const char *v, *cred;
    size_t n, credlen;
    if (!auth_header_value(header, arg, name, &v, &n)) {
        snprintf(why, whylen, "missing %s header", name);
        return false;
    }
    if (p->header[0] != '\0') {
        cred = v;
        credlen = n;
    } else if (!auth_bearer(v, n, &cred, &credlen)) {
        snprintf(why, whylen, "authorization is not a bearer token");
        return false;
    }
    if (!crypto_equal(cred, credlen, p->secret, p->secret_len)) {
        snprintf(why, whylen, "token mismatch");
        return false;
    }
    return true;
}

/* The signature bytes an hmac header carries after its prefix, or NULL with why set. */
static unsigned char *auth_signature_bytes(const struct auth_params *p, const char *v, size_t n,
                                           size_t *siglen, char *why, size_t whylen)
{
    size_t plen = strlen(p->prefix);
    if (n < plen || strncasecmp(v, p->prefix, plen) != 0) {
        snprintf(why, whylen, "%s does not start with the expected prefix", p->header);
        return NULL;
    }
    v += plen;
    n -= plen;
    if (p->base64) {
        unsigned char *sig = crypto_b64_decode(v, n, CRYPTO_B64_STD, true, siglen);
        if (sig == NULL)
            snprintf(why, whylen, "%s is not valid base64", p->header);
        return sig;
    }
    /* Hex of anything but an HMAC-SHA256 cannot match; refusing it early avoids a buffer
     * sized by the sender. */
    unsigned char *sig = xmalloc(CRYPTO_HMAC_LEN);
    const char *end = NULL;
    if (n != CRYPTO_HMAC_LEN * 2 ||
        sodium_hex2bin(sig, CRYPTO_HMAC_LEN, v, n, NULL, siglen, &end) != 0 || end != v + n) {
        snprintf(why, whylen, "%s is not the hex of a sha256 hmac", p->header);
        free(sig);
        return NULL;
    }
    return sig;
}

static bool auth_verify_hmac(const struct auth_params *p, auth_header_fn header, void *arg,
                             const void *body, size_t body_len, char *why, size_t whylen)
{
    const char *v;
    size_t n;
    if (!auth_header_value(header, arg, p->header, &v, &n)) {
        snprintf(why, whylen, "missing %s header", p->header);
        return false;
    }
    size_t siglen;
    unsigned char *sig = auth_signature_bytes(p, v, n, &siglen, why, whylen);
    if (sig == NULL)
        return false;
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256(p->secret, p->secret_len, body_len > 0 ? body : "", body_len, mac);
    bool ok = crypto_equal(mac, sizeof(mac), sig, siglen);
    free(sig);
    if (!ok)
        snprintf(why, whylen, "%s does not match the body", p->header);
    return ok;
}

static bool auth_verify_jwt(const struct auth_params *p, auth_header_fn header, void *arg,
                            int64_t now_s, char *why, size_t whylen)
{
    const char *name = auth_credential_header(p);
    const char *v, *jwt;
    size_t n, jwtlen;
    if (!auth_header_value(header, arg, name, &v, &n)) {
        snprintf(why, whylen, "missing %s header", name);
        return false;
    }
    if (!auth_bearer(v, n, &jwt, &jwtlen)) {
        /* Only a configured header may hold the bare token. */
        if (p->header[0] == '\0') {
            snprintf(why, whylen, "authorization is not a bearer token");
            return false;
        }
        jwt = v;
        jwtlen = n;
    }
    char *token = xstrndup(jwt, jwtlen);
    char err[128];
    struct crypto_jwt_rules rules = {.leeway_s = AUTH_JWT_LEEWAY_S,
                                     .require_exp = p->require_exp,
                                     .audience = p->audience,
                                     .issuer = p->issuer};
    int rc = crypto_jwt_verify(token, p->secret, p->secret_len, now_s, &rules, err, sizeof(err));
    free(token);
    if (rc != 0)
        snprintf(why, whylen, "%s", err);
    return rc == 0;
}

/* A unix timestamp in seconds as senders print it: 1..18 digits, nothing else. */
static bool auth_parse_ts(const char *v, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        t = t * 10 + (v[i] - '0');
    }
    *out = t;
    return true;
}

/* Whether the signed timestamp is within tolerance of now, either way: a sender's clock a
 * little ahead is fine, a replay from long ago (or a forged future) is not. */
static bool auth_fresh(const struct auth_params *p, const char *name, const char *v, size_t n,
                       int64_t now_s, char *why, size_t whylen)
{
    int64_t t;
    if (!auth_parse_ts(v, n, &t)) {
        snprintf(why, whylen, "%s holds no unix timestamp", name);
        return false;
    }
    int64_t age = now_s > t ? now_s - t : t - now_s;
    if (age > p->tolerance_s) {
        snprintf(why, whylen, "%s is outside the %lld s tolerance", name,
                 (long long)p->tolerance_s);
        return false;
    }
    return true;
}

/* HMAC-SHA256 under the secret over parts[0..n) joined, as lower-case hex (65 bytes). */
static void auth_hmac_hex(const struct auth_params *p, const void *const *parts, const size_t *lens,
                          size_t n, char hex[CRYPTO_HMAC_LEN * 2 + 1])
{
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256_parts(p->secret, p->secret_len, parts, lens, n, mac);
    sodium_bin2hex(hex, CRYPTO_HMAC_LEN * 2 + 1, mac, sizeof(mac));
}

/* Constant-time, case-insensitive equality of a presented hex signature and ours. */
static bool auth_hex_equal(const char *ours, const char *v, size_t n)
{
    char lower[CRYPTO_HMAC_LEN * 2];
    if (n != sizeof(lower))
        return false;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] - 'A' + 'a' : v[i]);
    return crypto_equal(ours, sizeof(lower), lower, n);
}

/* Stripe-Signature: "t=…,v1=…,v1=…,v0=…"; every v1 is tried, other schemes ignored. */
static bool auth_verify_stripe(const struct auth_params *p, auth_header_fn header, void *arg,
                               const void *body, size_t body_len, int64_t now_s, char *why,
                               size_t whylen)
{
    const char *v;
    size_t n;
    if (!auth_header_value(header, arg, p->header, &v, &n)) {
        snprintf(why, whylen, "missing %s header", p->header);
        return false;
    }
    const char *t = NULL;
    size_t tlen = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        if (j - i > 2 && v[i] == 't' && v[i + 1] == '=' && t == NULL) {
            t = v + i + 2;
            tlen = j - i - 2;
        }
        i = j + 1;
    }
    if (t == NULL) {
        snprintf(why, whylen, "%s has no t= timestamp", p->header);
        return false;
    }
    if (!auth_fresh(p, "stripe-signature t", t, tlen, now_s, why, whylen))
        return false;
    char hex[CRYPTO_HMAC_LEN * 2 + 1];
    const void *parts[] = {t, ".", body};
    size_t lens[] = {tlen, 1, body_len};
    auth_hmac_hex(p, parts, lens, 3, hex);
    bool ok = false, any = false;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        if (j - i > 3 && memcmp(v + i, "v1=", 3) == 0) {
            any = true;
            /* No early exit: which of several signatures matched is not told by timing. */
            ok |= auth_hex_equal(hex, v + i + 3, j - i - 3);
        }
        i = j + 1;
    }
    if (!ok)
        snprintf(why, whylen, any ? "%s: no v1 signature matches" : "%s has no v1 signature",
                 p->header);
    return ok;
}

/* X-Slack-Signature: "v0=" + hex over "v0:{X-Slack-Request-Timestamp}:{body}". */
static bool auth_verify_slack(const struct auth_params *p, auth_header_fn header, void *arg,
                              const void *body, size_t body_len, int64_t now_s, char *why,
                              size_t whylen)
{
    const char *v, *ts;
    size_t n, tslen;
    if (!auth_header_value(header, arg, p->header, &v, &n)) {
        snprintf(why, whylen, "missing %s header", p->header);
        return false;
    }
    if (!auth_header_value(header, arg, "x-slack-request-timestamp", &ts, &tslen)) {
        snprintf(why, whylen, "missing x-slack-request-timestamp header");
        return false;
    }
    if (!auth_fresh(p, "x-slack-request-timestamp", ts, tslen, now_s, why, whylen))
        return false;
    char hex[CRYPTO_HMAC_LEN * 2 + 1];
    const void *parts[] = {"v0:", ts, ":", body};
    size_t lens[] = {3, tslen, 1, body_len};
    auth_hmac_hex(p, parts, lens, 4, hex);
    if (n < 3 || memcmp(v, "v0=", 3) != 0 || !auth_hex_equal(hex, v + 3, n - 3)) {
        snprintf(why, whylen, "%s does not match the body", p->header);
        return false;
    }
    return true;
}

/* webhook-signature: space-separated "v1,<base64>" entries, any of which may match. */
static bool auth_verify_standard(const struct auth_params *p, auth_header_fn header, void *arg,
                                 const void *body, size_t body_len, int64_t now_s, char *why,
                                 size_t whylen)
{
    const char *v, *id, *ts;
    size_t n, idlen, tslen;
    if (!auth_header_value(header, arg, "webhook-id", &id, &idlen) || idlen == 0 ||
        !auth_header_value(header, arg, "webhook-timestamp", &ts, &tslen) ||
        !auth_header_value(header, arg, p->header, &v, &n)) {
        snprintf(why, whylen, "missing webhook-id, webhook-timestamp or webhook-signature");
        return false;
    }
    int64_t t = 0;
    if (!auth_fresh(p, "webhook-timestamp", ts, tslen, now_s, why, whylen) ||
        !auth_parse_ts(ts, tslen, &t))
        return false;
    char *msg_id = xstrndup(id, idlen);
    char *ours = crypto_webhook_sign(p->secret, msg_id, t, body_len > 0 ? body : "", body_len);
    free(msg_id);
    if (ours == NULL) {
        snprintf(why, whylen, "auth secret is not a whsec_ key");
        return false;
    }
    size_t olen = strlen(ours);
    bool ok = false;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] != ' ')
            j++;
        if (j > i)
            ok |= crypto_equal(ours, olen, v + i, j - i);
        i = j + 1;
    }
    free(ours);
    if (!ok)
        snprintf(why, whylen, "no webhook-signature entry matches");
    return ok;
}

bool auth_verify(const struct auth_params *p, auth_header_fn header, void *arg, const void *body,
                 size_t body_len, int64_t now_s, char *why, size_t whylen)
{
    if (p->type == AUTH_NONE)
        return true;
    if (p->secret == NULL || p->secret_len == 0) {
        snprintf(why, whylen, "auth secret missing");
        return false;
    }
    switch (p->type) {
    case AUTH_TOKEN:
        return auth_verify_token(p, header, arg, why, whylen);
    case AUTH_HMAC_SHA256:
    case AUTH_GITHUB:
    case AUTH_SHOPIFY:
    case AUTH_XERO:
        return auth_verify_hmac(p, header, arg, body, body_len, why, whylen);
    case AUTH_STRIPE:
        return auth_verify_stripe(p, header, arg, body, body_len, now_s, why, whylen);
    case AUTH_SLACK:
        return auth_verify_slack(p, header, arg, body, body_len, now_s, why, whylen);
    case AUTH_STANDARD_WEBHOOKS:
        return auth_verify_standard(p, header, arg, body, body_len, now_s, why, whylen);
    case AUTH_JWT_HS256:
        return auth_verify_jwt(p, header, arg, now_s, why, whylen);
    case AUTH_NONE:
    default:
        break;
    }
    snprintf(why, whylen, "unknown auth type");
    return false;
}
