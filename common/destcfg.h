/*
 * destcfg.h - the destination settings of a route (README "Destinations"): `tls` (client
 * certificate, key and CA for mutual TLS), `email` (a route whose outbound_url is smtp://
 * or smtps://) and `oauth2` (client credentials or rotating refresh tokens).
 *
 * Each is kept as a JSON object whose secret members (tls.client_key, email.password,
 * oauth2.client_secret, oauth2.refresh_token) are sealed with HOOKBRIDGE_SECRET_KEY
 * (crypto_seal), so the bridge row never holds them in plain text; API answers show them
 * as BRIDGE_SECRET_MASK. A secret that is absent or the mask in an update keeps the stored
 * one, as `env` does.
 */
#ifndef DESTCFG_H
#define DESTCFG_H

#include "crypto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether `field` is one of the destination fields ("tls", "email", "oauth2"). */
bool destcfg_is_field(const char *field);

/*
 * Check the API value `v` of destination field `field` and replace *slot with its stored
 * form (secrets sealed with `key`); null removes it (*slot NULL). `*slot` is the stored
 * value so far (NULL when none), whose sealed secrets are kept where `v` leaves them out
 * or gives the mask. Returns 0, or -1 with `err` saying which member is wrong and why,
 * leaving *slot as it was.
 */
int destcfg_set(const char *field, cJSON **slot, const cJSON *v,
                const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);

/* The stored value as API answers show it: a new object with secrets masked, or JSON null
 * for NULL. The caller owns the result. */
cJSON *destcfg_to_api(const char *field, const cJSON *stored);

/*
 * Rules between fields, checked once all are set: an smtp:// or smtps:// outbound_url
 * needs `email` and vice versa; such a route takes no `oauth2`. Returns 0, or -1 with
 * `field` (the field to blame) and `err`.
 */
int destcfg_check_route(const char *outbound_url, const cJSON *email, const cJSON *oauth2,
                        char *field, size_t fieldlen, char *err, size_t errlen);

/* Whether `url` starts with smtp:// or smtps:// (case-insensitive). */
bool destcfg_is_smtp_url(const char *url);

/* Why `url` is not a usable smtp:// or smtps:// URL with a host, or NULL when it is. */
const char *destcfg_smtp_url_problem(const char *url);

/*
 * A string member of a stored destination object: sealed members are opened with `key`.
 * Returns a new string the caller frees with bridge_secret_free-style care
 * (destcfg_secret_free), NULL with err[0] == '\0' when the member is absent, or NULL with
 * `err` when it cannot be opened.
 */
char *destcfg_get(const cJSON *stored, const char *member, const unsigned char key[CRYPTO_KEY_LEN],
                  char *err, size_t errlen);

/* Wipe and free a string destcfg_get returned (NULL is fine). */
void destcfg_secret_free(char *s);

#endif
