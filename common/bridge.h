/*
 * bridge.h - a bridge: where events that arrive on one endpoint are forwarded, and how.
 *
 * Turns the admin API's JSON into a checked `struct bridge` (create and PATCH-merge),
 * back into API JSON, and to/from the JSON text kept in SQLite. The struct is plain data
 * that the ingress and the worker read directly.
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include "auth.h"
#include "crypto.h"
#include "hb.h"
#include "route.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define BRIDGE_MAX_DELAY 604800
#define BRIDGE_MAX_RETRIES 25

struct bridge {
    char id[HB_ID_LEN];             /* brg_… */
    char endpoint[HB_ENDPOINT_LEN]; /* random URL-safe token */
    char *name;                     /* "" when unset */
    /* Where events go: one "default" route made of the top-level outbound fields when the
     * bridge has no `routes` (has_routes false), else one per item of `routes`. Never
     * empty. */
    struct route *routes;
    size_t n_routes;
    bool has_routes;
    cJSON *env;     /* name -> sealed value (crypto_seal); never NULL */
    cJSON *auth;    /* the auth object with "secret" sealed; NULL for type none */
    cJSON *schema;  /* JSON Schema the inbound body must pass; NULL for none */
    cJSON *sources; /* response, challenge, dedup, split (common/source.h); NULL: none */
    bool active;
    bool paused; /* deliveries paused (POST /api/bridges/{id}/pause); common/flow.h */
    int64_t created_ms;
    int64_t updated_ms;
};

/* What every API answer shows in place of a secret value. Sent back in a PATCH (clients
 * often PATCH what they GET), it keeps the stored value. */
#define BRIDGE_SECRET_MASK "********"

/*
 * Check an API body and build a bridge. With `base` NULL it is a create: `outbound_url` is
 * required, id/endpoint/timestamps are made here. With `base` it is a PATCH: fields absent
 * from `in` keep base's values, id/endpoint/created_at are kept, updated_at is now; `env`
 * merges key by key (a null value deletes the key). The body is checked field by field
 * (ranges, templates, filter operators, the inbound schema, auth settings), then against
 * schemas/bridge.schema.json. Secret values (env values, auth.secret, signing_secret) are sealed
 * with `key` (HOOKBRIDGE_SECRET_KEY) here, so a bridge never holds them in plain text.
 * Returns 0 and *out (caller frees with bridge_free), or -1 with `field` (the offending
 * field's name, fieldlen bytes) and `err` ("must be an integer in 0..25").
 */
int bridge_from_api(const cJSON *in, const struct bridge *base,
                    const unsigned char key[CRYPTO_KEY_LEN], struct bridge **out, char *field,
                    size_t fieldlen, char *err, size_t errlen);

/* The bridge as the API shows it, with inbound_url = public_url + "/hooks/" + endpoint. */
cJSON *bridge_to_api(const struct bridge *b, const char *public_url);

/* Serialize for SQLite (every field, timestamps in ms). The caller frees the string. */
char *bridge_to_store(const struct bridge *b);

/* Parse what bridge_to_store wrote. Returns 0 and *out, or -1 with err. */
int bridge_from_store(const char *json, struct bridge **out, char *err, size_t errlen);

void bridge_free(struct bridge *b);

/* A new bridge with every optional field at its default and one implicit default route
 * (for bridge_from_api and bridge_from_store to fill). */
struct bridge *bridge_new_default(void);

/* Replace the bridge's routes with `routes` (n of them, taken) and mark it as having
 * explicit routes. */
void bridge_take_routes(struct bridge *b, struct route *routes, size_t n);

/* Put the outbound fields into `o`: at the top level for the implicit default route (as
 * bridges were always shown and stored), else as "routes", each item named. `api` shows
 * secrets masked; else they stay sealed, as stored. */
void bridge_put_routes(const struct bridge *b, cJSON *o, bool api);

/*
 * The bridge's env with values decrypted: a new JSON object of strings the caller deletes,
 * or NULL with `err` when a value cannot be decrypted (wrong key or damaged row).
 */
cJSON *bridge_env_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                       size_t errlen);

/*
 * The inbound auth settings with the secret decrypted into *secret (a new string the caller
 * frees with sodium-style care: bridge_secret_free; NULL for type none), which `p` points
 * into. Returns 0, or -1 with `err`.
 */
int bridge_auth_open(const struct bridge *b, const unsigned char key[CRYPTO_KEY_LEN],
                     struct auth_params *p, char **secret, char *err, size_t errlen);

/* The shortest delay_seconds of the bridge's routes: when its events are first taken (each
 * route then waits for its own delay from the receive time). */
long bridge_first_delay(const struct bridge *b);

/* The route named `name`, or NULL when the bridge has none by that name. */
const struct route *bridge_route(const struct bridge *b, const char *name);

/*
 * Whether a bridge may not set header `name` (compared case-insensitively): the framing and
 * connection headers Content-Length, Transfer-Encoding, Host, Connection, Upgrade, TE,
 * Trailer, Keep-Alive, Expect, and every Proxy-* header. Refused at save; the worker also
 * leaves them out of requests of bridges saved before the rule existed.
 */
bool bridge_header_reserved(const char *name);

/* Why `url` is not a usable http(s) URL with a host ("must start with http:// or
 * https://"), or NULL when it is. Templates are checked before rendering by this too. */
const char *bridge_url_problem(const char *url);

/* Wipe and free a decrypted secret (NULL is fine). */
void bridge_secret_free(char *s);

/*
 * Whether inbound bodies must be JSON for this bridge: it has a payload template, a schema
 * or a filter, or its URL or header templates refer to $payload.
 */
bool bridge_needs_json(const struct bridge *b);

/*
 * Check HOOKBRIDGE_SECRET_KEY against the database: the first process to start seals a
 * known value into the store; later starts must open it with their key, so a changed key
 * stops the process with a clear line instead of failing every secret later. Returns 0, or
 * -1 with `err` naming the setting.
 */
int bridge_key_check(struct store *st, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                     size_t errlen);

#endif
