/*
 * crypto.h - the cryptography hookbridge uses, on libsodium: sealing bridge secrets
 * (secretbox under HOOKBRIDGE_SECRET_KEY), HMAC-SHA256, base64 and hex, constant-time
 * comparison, Standard Webhooks signatures for outbound requests, and HS256 JWTs for
 * inbound authentication.
 *
 * sodium_init() must have run before any of these is called (both mains do it).
 */
#ifndef CRYPTO_H
#define CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32
#define CRYPTO_HMAC_LEN 32

/* Prefix of a sealed value, so stored secrets are recognisable and versioned. */
#define CRYPTO_SEALED_PREFIX "sb1:"

/*
 * Seal `plain` (len bytes) with XSalsa20-Poly1305 (crypto_secretbox_easy) under `key` with
 * a fresh random nonce. Returns a new NUL-terminated string the caller frees:
 * "sb1:" + base64(nonce || ciphertext), standard alphabet with padding.
 */
char *crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *plain, size_t len);

/*
 * Open what crypto_seal made. Returns a new buffer the caller frees (NUL-terminated, *len
 * without the NUL; len may be NULL), or NULL with `err` set when `sealed` is malformed, or
 * was sealed under another key, or was altered ("secret cannot be decrypted: wrong
 * HOOKBRIDGE_SECRET_KEY or damaged value"). Never returns partial plaintext.
 */
char *crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const char *sealed, size_t *len,
                  char *err, size_t errlen);

/* True when `s` looks like crypto_seal output (prefix and base64 body of a sane length). */
bool crypto_is_sealed(const char *s);

/* HMAC-SHA256 of msg under key (any key length). */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[CRYPTO_HMAC_LEN]);

/* The same over the concatenation of parts[0..n) (lens[i] bytes each), so that callers need
 * not build it. */
void crypto_hmac_sha256_parts(const void *key, size_t keylen, const void *const *parts,
                              const size_t *lens, size_t n, unsigned char out[CRYPTO_HMAC_LEN]);

enum crypto_b64 {
    CRYPTO_B64_STD,       /* + / with = padding */
    CRYPTO_B64_STD_NOPAD, /* + / without padding */
    CRYPTO_B64_URL,       /* - _ with = padding */
    CRYPTO_B64_URL_NOPAD, /* - _ without padding (JWT) */
};

/* Encode; returns a new string the caller frees. */
char *crypto_b64_encode(const void *bin, size_t len, enum crypto_b64 variant);

/*
 * Decode base64 in `variant`'s alphabet; with `lenient`, padding may be present or not and
 * either alphabet is accepted. Returns a new buffer (NUL-terminated for convenience, *len
 * without the NUL), or NULL when `s[0..slen)` is not valid base64.
 */
unsigned char *crypto_b64_decode(const char *s, size_t slen, enum crypto_b64 variant, bool lenient,
                                 size_t *len);

/* Lower-case hex of bin into a new string the caller frees. */
char *crypto_hex_encode(const void *bin, size_t len);

/*
 * Compare two byte strings in time that depends on neither's content (nor on where they
 * differ); different lengths compare unequal without revealing by how much. Used for
 * every secret comparison.
 */
bool crypto_equal(const void *a, size_t alen, const void *b, size_t blen);

/*
 * Standard Webhooks (standardwebhooks.com) outbound signing. A secret is "whsec_" +
 * base64 (standard alphabet) of the key bytes (at least 16, at most 64).
 */
bool crypto_webhook_secret_valid(const char *secret);

/*
 * The `webhook-signature` header value for one request: "v1," + base64(HMAC-SHA256(key,
 * "{msg_id}.{timestamp}.{body}")). Returns a new string the caller frees, or NULL when the
 * secret is invalid.
 */
char *crypto_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                          const void *body, size_t body_len);

/* What a JWT's claims must say beyond a good signature. */
struct crypto_jwt_rules {
    int64_t leeway_s;     /* allowed clock skew for exp and nbf */
    bool require_exp;     /* a token without "exp" is refused */
    const char *audience; /* NULL or "": not checked; else "aud" (a string, or an array of
                             strings) must hold it */
    const char *issuer;   /* NULL or "": not checked; else "iss" must equal it */
};

/*
 * Verify a compact JWT signed with HS256 under `secret` (secretlen bytes, used as is).
 * The header must be a JSON object with "alg":"HS256" (any other alg, "none" included, is
 * refused); the signature must be canonical unpadded base64url (no '=', no '+' or '/', no
 * stray bits: one token has one spelling) and match (constant-time); when the payload has
 * "exp" (a number), now_s must be < exp + leeway; with "nbf", now_s must be >= nbf -
 * leeway; then `rules` (NULL: none beyond those). Returns 0, or -1 with `err` saying why
 * ("jwt expired", "jwt alg must be HS256", "jwt audience mismatch", …).
 */
int crypto_jwt_verify(const char *token, const void *secret, size_t secretlen, int64_t now_s,
                      const struct crypto_jwt_rules *rules, char *err, size_t errlen);

/* crypto_jwt_verify with only a leeway: exp optional, aud and iss not checked. */
int crypto_jwt_verify_hs256(const char *token, const void *secret, size_t secretlen, int64_t now_s,
                            int64_t leeway_s, char *err, size_t errlen);

#endif
