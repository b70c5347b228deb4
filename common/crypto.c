/*
 * crypto.c - hookbridge's cryptography on libsodium (see crypto.h): sealed secrets,
 * HMAC-SHA256, base64 and hex, constant-time comparison, Standard Webhooks signatures and
 * HS256 JWT verification.
 *
 * Everything that decides whether a secret or a signature matches goes through
 * crypto_equal, and every decoder refuses what it does not fully understand, because
 * these functions sit between the internet and the bridges' secrets.
 */
#include "crypto.h"

#include "xalloc.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRYPTO_SEALED_PREFIX_LEN (sizeof(CRYPTO_SEALED_PREFIX) - 1)
#define CRYPTO_BOX_MIN (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
#define CRYPTO_WHSEC_PREFIX "whsec_"
#define CRYPTO_WHSEC_MIN 16
#define CRYPTO_WHSEC_MAX 64

static const char crypto_open_damaged[] =
    "secret cannot be decrypted: wrong HOOKBRIDGE_SECRET_KEY or damaged value";

static int crypto_sodium_variant(enum crypto_b64 variant)
{
    switch (variant) {
    case CRYPTO_B64_STD_NOPAD:
        return sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    case CRYPTO_B64_URL:
        return sodium_base64_VARIANT_URLSAFE;
    case CRYPTO_B64_URL_NOPAD:
        return sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    case CRYPTO_B64_STD:
    default:
        return sodium_base64_VARIANT_ORIGINAL;
    }
}

char *crypto_b64_encode(const void *bin, size_t len, enum crypto_b64 variant)
{
    int v = crypto_sodium_variant(variant);
    size_t n = sodium_base64_ENCODED_LEN(len, v);
    char *out = xmalloc(n);
    sodium_bin2base64(out, n, len > 0 ? bin : (const void *)"", len, v);
    return out;
}

/* Strict decode of exactly s[0..slen) in one libsodium variant. */
static unsigned char *crypto_b64_decode_strict(const char *s, size_t slen, int v, size_t *len)
{
    size_t max = slen / 4 * 3 + 3;
    unsigned char *out = xmalloc(max + 1);
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, max, s, slen, NULL, &n, &end, v) != 0 || end != s + slen) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    if (len != NULL)
        *len = n;
    return out;
}

unsigned char *crypto_b64_decode(const char *s, size_t slen, enum crypto_b64 variant, bool lenient,
                                 size_t *len)
{
    if (s == NULL)
        return NULL;
    if (!lenient)
        return crypto_b64_decode_strict(s, slen, crypto_sodium_variant(variant), len);

    /* Normalise to the standard alphabet without padding; padding, when present, must
     * still be the right amount for the length, so "QQ=" stays an error. */
    size_t pad = 0;
    while (pad < slen && s[slen - 1 - pad] == '=')
        pad++;
    if (pad > 2 || (pad > 0 && slen % 4 != 0))
        return NULL;
    size_t n = slen - pad;
    char *norm = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        norm[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    norm[n] = '\0';
    unsigned char *out =
        crypto_b64_decode_strict(norm, n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING, len);
    free(norm);
    return out;
}

char *crypto_hex_encode(const void *bin, size_t len)
{
    char *out = xmalloc(len * 2 + 1);
    sodium_bin2hex(out, len * 2 + 1, len > 0 ? bin : (const void *)"", len);
    return out;
}

char *crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *plain, size_t len)
{
    size_t boxlen = CRYPTO_BOX_MIN + len;
    unsigned char *box = xmalloc(boxlen);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, len > 0 ? plain : (const void *)"",
                          len, box, key);
    char *b64 = crypto_b64_encode(box, boxlen, CRYPTO_B64_STD);
    char *out = xasprintf("%s%s", CRYPTO_SEALED_PREFIX, b64);
    free(b64);
    free(box);
    return out;
}

/* The nonce||ciphertext of a sealed value, or NULL with err set. */
static unsigned char *crypto_sealed_box(const char *sealed, size_t *boxlen, char *err,
                                        size_t errlen)
{
    if (sealed == NULL || strncmp(sealed, CRYPTO_SEALED_PREFIX, CRYPTO_SEALED_PREFIX_LEN) != 0) {
        snprintf(err, errlen, "secret cannot be decrypted: not a sealed value");
        return NULL;
    }
    const char *b64 = sealed + CRYPTO_SEALED_PREFIX_LEN;
    unsigned char *box = crypto_b64_decode(b64, strlen(b64), CRYPTO_B64_STD, false, boxlen);
    if (box == NULL) {
        snprintf(err, errlen, "secret cannot be decrypted: sealed value is not valid base64");
        return NULL;
    }
    if (*boxlen < CRYPTO_BOX_MIN) {
        snprintf(err, errlen, "secret cannot be decrypted: sealed value too short");
        free(box);
        return NULL;
    }
    return box;
}

char *crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const char *sealed, size_t *len,
                  char *err, size_t errlen)
{
    size_t boxlen;
    unsigned char *box = crypto_sealed_box(sealed, &boxlen, err, errlen);
    if (box == NULL)
        return NULL;
    size_t plen = boxlen - CRYPTO_BOX_MIN;
    char *plain = xmalloc(plen + 1);
    /* secretbox checks the tag before it decrypts, so a failure leaves nothing behind;
     * the wipe below is for the reader who cannot see that from here. */
    if (crypto_secretbox_open_easy((unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
                                   boxlen - crypto_secretbox_NONCEBYTES, box, key) != 0) {
        sodium_memzero(plain, plen + 1);
        free(plain);
        free(box);
        snprintf(err, errlen, "%s", crypto_open_damaged);
        return NULL;
    }
    plain[plen] = '\0';
    free(box);
    if (len != NULL)
        *len = plen;
    return plain;
}

bool crypto_is_sealed(const char *s)
{
    char err[128];
    size_t boxlen;
    unsigned char *box = crypto_sealed_box(s, &boxlen, err, sizeof(err));
    free(box);
    return box != NULL;
}

/* SHA-256 as OpenSSL implements it, fetched once: its assembly uses the CPU's SHA
 * instructions where libsodium's portable C does not, which made the HMAC of a 300-byte
 * webhook 10 % of the ingress's CPU for a github or stripe bridge. */
static EVP_MD *crypto_md_sha256;
static pthread_once_t crypto_md_once = PTHREAD_ONCE_INIT;

static void crypto_md_fetch(void)
{
    crypto_md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* RFC 2104 over OpenSSL's SHA-256. Returns false when OpenSSL failed (then `out` is not
 * set and the caller uses libsodium's). */
static bool crypto_hmac_openssl(const void *key, size_t keylen, const void *const *parts,
                                const size_t *lens, size_t n, unsigned char out[CRYPTO_HMAC_LEN])
{
    enum { BLOCK = 64 };
    pthread_once(&crypto_md_once, crypto_md_fetch);
    if (crypto_md_sha256 == NULL)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return false;
    unsigned char k[BLOCK] = {0}, pad[BLOCK], inner[CRYPTO_HMAC_LEN];
    bool ok = true;
    if (keylen > BLOCK)
        ok = EVP_DigestInit_ex(ctx, crypto_md_sha256, NULL) == 1 &&
             EVP_DigestUpdate(ctx, key, keylen) == 1 && EVP_DigestFinal_ex(ctx, k, NULL) == 1;
    else if (keylen > 0)
        memcpy(k, key, keylen);
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(ctx, crypto_md_sha256, NULL) == 1 &&
         EVP_DigestUpdate(ctx, pad, BLOCK) == 1;
    for (size_t i = 0; ok && i < n; i++)
        if (lens[i] > 0)
            ok = EVP_DigestUpdate(ctx, parts[i], lens[i]) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, inner, NULL) == 1;
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(ctx, crypto_md_sha256, NULL) == 1 &&
         EVP_DigestUpdate(ctx, pad, BLOCK) == 1 &&
         EVP_DigestUpdate(ctx, inner, sizeof(inner)) == 1 &&
         EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    sodium_memzero(k, sizeof(k));
    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(inner, sizeof(inner));
    return ok;
}

void crypto_hmac_sha256_parts(const void *key, size_t keylen, const void *const *parts,
                              const size_t *lens, size_t n, unsigned char out[CRYPTO_HMAC_LEN])
{
    if (crypto_hmac_openssl(key, keylen, parts, lens, n, out))
        return;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, keylen > 0 ? key : (const void *)"", keylen);
    for (size_t i = 0; i < n; i++)
        if (lens[i] > 0)
            crypto_auth_hmacsha256_update(&st, parts[i], lens[i]);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[CRYPTO_HMAC_LEN])
{
    crypto_hmac_sha256_parts(key, keylen, &msg, &msglen, 1, out);
}

bool crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Comparing digests instead of the bytes makes the work the same wherever the inputs
     * differ and whether or not their lengths agree; the length check is folded in
     * without a branch so a length mismatch does not return early either. */
    unsigned char da[crypto_generichash_BYTES], db[crypto_generichash_BYTES];
    crypto_generichash(da, sizeof(da), alen > 0 ? a : (const void *)"", alen, NULL, 0);
    crypto_generichash(db, sizeof(db), blen > 0 ? b : (const void *)"", blen, NULL, 0);
    int same_digest = sodium_memcmp(da, db, sizeof(da)) == 0;
    int same_len = alen == blen;
    return (same_digest & same_len) != 0;
}

/* The key bytes of a "whsec_" secret, or NULL when it is not one. */
static unsigned char *crypto_webhook_key(const char *secret, size_t *keylen)
{
    if (secret == NULL || strncmp(secret, CRYPTO_WHSEC_PREFIX, strlen(CRYPTO_WHSEC_PREFIX)) != 0)
        return NULL;
    const char *b64 = secret + strlen(CRYPTO_WHSEC_PREFIX);
    unsigned char *key = crypto_b64_decode(b64, strlen(b64), CRYPTO_B64_STD, true, keylen);
    if (key != NULL && (*keylen < CRYPTO_WHSEC_MIN || *keylen > CRYPTO_WHSEC_MAX)) {
        sodium_memzero(key, *keylen);
        free(key);
        return NULL;
    }
    return key;
}

bool crypto_webhook_secret_valid(const char *secret)
{
    size_t keylen;
    unsigned char *key = crypto_webhook_key(secret, &keylen);
    if (key == NULL)
        return false;
    sodium_memzero(key, keylen);
    free(key);
    return true;
}

char *crypto_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                          const void *body, size_t body_len)
{
    size_t keylen;
    unsigned char *key = crypto_webhook_key(secret, &keylen);
    if (key == NULL)
        return NULL;
    char ts[32];
    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
    const void *parts[] = {msg_id, ".", ts, ".", body};
    size_t lens[] = {strlen(msg_id), 1, strlen(ts), 1, body_len};
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256_parts(key, keylen, parts, lens, 5, mac);
    sodium_memzero(key, keylen);
    free(key);
    char *b64 = crypto_b64_encode(mac, sizeof(mac), CRYPTO_B64_STD);
    char *out = xasprintf("v1,%s", b64);
    free(b64);
    return out;
}

/*
 * Parse a decoded JWT segment as one JSON object whose members all have distinct names:
 * parsers that keep the first or the last of two "alg" members disagree, and an attacker
 * lives in that disagreement.
 */
static cJSON *crypto_jwt_object(const unsigned char *text, size_t len)
{
    if (memchr(text, '\0', len) != NULL)
        return NULL;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts((const char *)text, &end, true);
    if (!cJSON_IsObject(o))
        goto out_delete;
    for (const cJSON *a = o->child; a != NULL; a = a->next)
        for (const cJSON *b = a->next; b != NULL; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                goto out_delete;
    return o;
out_delete:
    cJSON_Delete(o);
    return NULL;
}

/* A JWT time claim: absent (true, *present false), a number (true), anything else (false). */
static bool crypto_jwt_time(const cJSON *payload, const char *name, bool *present, double *v)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(payload, name);
    *present = c != NULL;
    if (c == NULL)
        return true;
    if (!cJSON_IsNumber(c))
        return false;
    *v = c->valuedouble;
    return true;
}

/* Whether the "aud" claim (a string or an array of strings) names `audience`. */
static bool crypto_jwt_audience(const cJSON *aud, const char *audience)
{
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, audience) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    for (const cJSON *a = aud->child; a != NULL; a = a->next)
        if (cJSON_IsString(a) && strcmp(a->valuestring, audience) == 0)
            return true;
    return false;
}

/* The checks of `rules` on a payload already known to be signed; NULL, or why not. */
static const char *crypto_jwt_claims(const cJSON *payload, bool has_exp,
                                     const struct crypto_jwt_rules *rules)
{
    if (rules->require_exp && !has_exp)
        return "jwt has no exp";
    if (rules->issuer != NULL && rules->issuer[0] != '\0') {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(payload, "iss");
        if (iss == NULL)
            return "jwt has no iss";
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, rules->issuer) != 0)
            return "jwt issuer mismatch";
    }
    if (rules->audience != NULL && rules->audience[0] != '\0') {
        const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud");
        if (aud == NULL)
            return "jwt has no aud";
        if (!crypto_jwt_audience(aud, rules->audience))
            return "jwt audience mismatch";
    }
    return NULL;
}

int crypto_jwt_verify_hs256(const char *token, const void *secret, size_t secretlen, int64_t now_s,
                            int64_t leeway_s, char *err, size_t errlen)
{
    struct crypto_jwt_rules rules = {.leeway_s = leeway_s};
    return crypto_jwt_verify(token, secret, secretlen, now_s, &rules, err, errlen);
}

int crypto_jwt_verify(const char *token, const void *secret, size_t secretlen, int64_t now_s,
                      const struct crypto_jwt_rules *rules, char *err, size_t errlen)
{
    static const struct crypto_jwt_rules no_rules = {0};
    if (rules == NULL)
        rules = &no_rules;
    int64_t leeway_s = rules->leeway_s;
    int ret = -1;
    unsigned char *header_json = NULL, *payload_json = NULL, *sig = NULL;
    cJSON *header = NULL, *payload = NULL;
    const char *why = "jwt malformed";

    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL || dot1 == token || dot2 == dot1 + 1)
        goto out;
    size_t hlen = (size_t)(dot1 - token);
    size_t plen = (size_t)(dot2 - dot1 - 1);
    const char *sig_b64 = dot2 + 1;

    size_t n;
    header_json = crypto_b64_decode(token, hlen, CRYPTO_B64_URL_NOPAD, true, &n);
    if (header_json == NULL || (header = crypto_jwt_object(header_json, n)) == NULL)
        goto out;
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0) {
        why = "jwt alg must be HS256";
        goto out;
    }
    /* "crit" names extensions the verifier must understand; we understand none. */
    if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL) {
        why = "jwt crit header not supported";
        goto out;
    }

    /* Strict: a lenient decoder would take many spellings of one signature (padded, in the
     * other alphabet, with stray low bits), so a token seen once could come back changed. */
    size_t siglen;
    sig = crypto_b64_decode(sig_b64, strlen(sig_b64), CRYPTO_B64_URL_NOPAD, false, &siglen);
    if (sig == NULL) {
        why = "jwt signature is not canonical base64url";
        goto out;
    }
    unsigned char mac[CRYPTO_HMAC_LEN];
    crypto_hmac_sha256(secret, secretlen, token, (size_t)(dot2 - token), mac);
    if (!crypto_equal(mac, sizeof(mac), sig, siglen)) {
        why = "jwt signature mismatch";
        goto out;
    }

    /* Only a signed payload is worth parsing. */
    payload_json = crypto_b64_decode(dot1 + 1, plen, CRYPTO_B64_URL_NOPAD, true, &n);
    if (payload_json == NULL || (payload = crypto_jwt_object(payload_json, n)) == NULL)
        goto out;
    bool has_exp, has_nbf;
    double exp = 0, nbf = 0;
    if (!crypto_jwt_time(payload, "exp", &has_exp, &exp)) {
        why = "jwt exp must be a number";
        goto out;
    }
    if (!crypto_jwt_time(payload, "nbf", &has_nbf, &nbf)) {
        why = "jwt nbf must be a number";
        goto out;
    }
    if (has_exp && !((double)now_s < exp + (double)leeway_s)) {
        why = "jwt expired";
        goto out;
    }
    if (has_nbf && !((double)now_s >= nbf - (double)leeway_s)) {
        why = "jwt not yet valid";
        goto out;
    }
    const char *claims = crypto_jwt_claims(payload, has_exp, rules);
    if (claims != NULL) {
        why = claims;
        goto out;
    }
    ret = 0;
out:
    if (ret != 0)
        snprintf(err, errlen, "%s", why);
    cJSON_Delete(payload);
    cJSON_Delete(header);
    free(sig);
    free(payload_json);
    free(header_json);
    return ret;
}
