/*
 * auth.h - inbound sender authentication of a bridge (its `auth` object).
 *
 * Four types, as the bridge's `auth` object names them:
 *   {"type":"none"}
 *   {"type":"token","secret":"…","header":"X-Api-Key"}
 *       the header's value must equal the secret; without "header" the request must carry
 *       "Authorization: Bearer <secret>" (scheme name case-insensitive)
 *   {"type":"hmac-sha256","secret":"…","header":"X-Hub-Signature-256","encoding":"hex",
 *    "prefix":"sha256="}
 *       the header holds prefix + encoding(HMAC-SHA256(secret, raw body)); "encoding" is
 *       "hex" (default; either case accepted) or "base64"; "prefix" defaults to ""; "header"
 *       is required. GitHub: X-Hub-Signature-256, hex, "sha256="; Shopify:
 *       X-Shopify-Hmac-Sha256, base64; Xero: x-xero-signature, base64.
 *   {"type":"jwt-hs256","secret":"…","require_exp":true,"audience":"…","issuer":"…"}
 *       "Authorization: Bearer <jwt>" (or the optional "header", holding the bare jwt or
 *       "Bearer <jwt>"), verified by crypto_jwt_verify with 60 s leeway. "require_exp"
 *       refuses tokens without "exp" (absent here means false: bridges stored before it
 *       existed keep working; the bridge API stores true when a new auth object omits it);
 *       "audience" must be in the "aud" claim (a string or an array), "issuer" must equal
 *       "iss"; either absent is not checked.
 * Presets, each fixed to its sender's documented scheme (no header/encoding/prefix):
 *   {"type":"stripe","secret":"whsec_…","tolerance_seconds":300}
 *       Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]: HMAC-SHA256 (key: the secret string
 *       as given) over "{t}.{body}"; any v1 may match; |now - t| <= tolerance.
 *   {"type":"github","secret":"…"}      X-Hub-Signature-256: sha256=<hex HMAC of the body>
 *   {"type":"shopify","secret":"…"}     X-Shopify-Hmac-Sha256: <base64 HMAC of the body>
 *   {"type":"xero","secret":"…"}        x-xero-signature: <base64 HMAC of the body>
 *   {"type":"standard-webhooks","secret":"whsec_<base64 key>","tolerance_seconds":300}
 *       webhook-id, webhook-timestamp, webhook-signature: space-separated "v1,<base64>"
 *       over "{id}.{timestamp}.{body}" keyed with the decoded key; any may match.
 *   {"type":"slack","secret":"…","tolerance_seconds":300}
 *       X-Slack-Signature: v0=<hex HMAC over "v0:{X-Slack-Request-Timestamp}:{body}">.
 *   tolerance_seconds: 1..86400, default 300 (both directions: a clock ahead is as stale).
 * Secrets are used as the bytes of the string. Every comparison is constant-time.
 */
#ifndef AUTH_H
#define AUTH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_HEADER_LEN 128
#define AUTH_PREFIX_LEN 64
#define AUTH_SECRET_MAX 1024
#define AUTH_JWT_LEEWAY_S 60
#define AUTH_CLAIM_LEN 256

#define AUTH_TOLERANCE_DEFAULT_S 300
#define AUTH_TOLERANCE_MAX_S 86400

enum auth_type {
    AUTH_NONE,
    AUTH_TOKEN,
    AUTH_HMAC_SHA256,
    AUTH_JWT_HS256,
    /* Presets (SPEC "Sources"): each sender's own header and format, nothing to configure
     * but the secret (and tolerance_seconds where the sender signs a timestamp). */
    AUTH_STRIPE,
    AUTH_GITHUB,
    AUTH_SHOPIFY,
    AUTH_XERO,
    AUTH_STANDARD_WEBHOOKS,
    AUTH_SLACK,
};

/* One bridge's settings with its secret in plain text (held in memory only). */
struct auth_params {
    enum auth_type type;
    char header[AUTH_HEADER_LEN]; /* lower-cased; "" means the type's default */
    bool base64;                  /* hmac: base64 instead of hex */
    char prefix[AUTH_PREFIX_LEN]; /* hmac */
    const char *secret;           /* not owned */
    size_t secret_len;
    bool require_exp;              /* jwt: a token without "exp" fails */
    char audience[AUTH_CLAIM_LEN]; /* jwt: "" means not checked */
    char issuer[AUTH_CLAIM_LEN];   /* jwt: "" means not checked */
    int64_t tolerance_s;           /* stripe, standard-webhooks, slack: timestamp age limit */
};

/*
 * Check an `auth` object as the admin API receives it (secret in plain text) and fill `p`
 * from it (p->secret points into `in`). Returns 0, or -1 with `err` naming the member and
 * the problem, e.g. "type: must be one of none, token, hmac-sha256, jwt-hs256",
 * "secret: is required", "encoding: must be hex or base64". Unknown members are refused.
 * `in` may be NULL or JSON null: type none.
 */
int auth_params_from_json(const cJSON *in, struct auth_params *p, char *err, size_t errlen);

/* "none", "token", "hmac-sha256", "jwt-hs256", "stripe", … as the `type` member spells it. */
const char *auth_type_name(enum auth_type t);

/* The lower-cased name of the header that carries the credential ("authorization" when
 * the type defaults to it), or NULL for type none: that header is stored "[redacted]". */
const char *auth_credential_header(const struct auth_params *p);

/* The WWW-Authenticate scheme a 401 names: "Bearer" for token and jwt, else "Signature". */
const char *auth_challenge_scheme(const struct auth_params *p);

/* Looks up an inbound header by lower-case name; NULL when absent. */
typedef const char *(*auth_header_fn)(void *arg, const char *name);

/*
 * Whether an inbound request passes `p`. `body` is the raw body. `now_s` is the unix time
 * (for jwt exp/nbf). Returns true or false with `why` set to a short reason for the log
 * (never containing the secret or the credential).
 */
bool auth_verify(const struct auth_params *p, auth_header_fn header, void *arg, const void *body,
                 size_t body_len, int64_t now_s, char *why, size_t whylen);

#endif
