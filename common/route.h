/*
 * route.h - one destination of a bridge: where and how an accepted event is sent.
 *
 * A bridge without `routes` has one implicit route named "default", made of its top-level
 * outbound fields; a bridge with `routes` has one per array item. Each route's delivery is
 * filtered, rendered, delayed, retried, signed and recorded on its own. The field checks
 * live here, one table row per field (route.c), so that a new route field is one row and
 * one check function in its owner's file.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include "crypto.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define ROUTE_NAME_MAX 64
#define ROUTE_DEFAULT_NAME "default"
/* How many routes one bridge may carry. */
#define ROUTE_MAX 16

struct route {
    char name[ROUTE_NAME_MAX + 1]; /* [a-z0-9_-]{1,64}; "default" for the implicit one */
    char *outbound_url;            /* NULL until set (required) */
    char method[8];                /* GET POST PUT PATCH DELETE */
    cJSON *headers;                /* object of name -> string template; never NULL */
    cJSON *payload;                /* outbound body template; NULL forwards the inbound body */
    cJSON *filter;                 /* common/filter.h; NULL forwards everything */
    long delay_seconds;
    int retries;
    long *retry_delays; /* NULL when unset */
    size_t n_retry_delays;
    long timeout_ms;
    char *signing_secret; /* sealed "whsec_…"; NULL when requests are unsigned */
    char *notify_url;     /* POSTed to when a delivery fails for good; NULL for none */
    /* Fields checked by other modules: the destination settings (common/destcfg.h) as
     * checked JSON, NULL when absent; and flow control (common/flow.h): one object holding
     * the rate_limit, max_concurrency and circuit given, NULL when none was. */
    cJSON *oauth2;
    cJSON *email;
    cJSON *tls;
    cJSON *flow;
};

/* Set every field of `r` to its default, named `name`. */
void route_init(struct route *r, const char *name);

/* Deep copy of `src` into `dst` (which holds nothing yet). */
void route_copy(struct route *dst, const struct route *src);

/* Free what `r` holds and zero it. */
void route_clear(struct route *r);

/* route_clear the first `n` routes of `routes`, then free the array. */
void route_array_free(struct route *routes, size_t n);

/* Whether `name` is a route field (allowed in a route object and at the top level of a
 * bridge without routes). */
bool route_field_known(const char *name);

/*
 * Check the API value `v` of route field `name` and set it in `r`; null resets the field to
 * its default (outbound_url: "is required"). Secret values are sealed with `key`; the
 * mask BRIDGE_SECRET_MASK keeps the stored one. Returns 0, or -1 with `err` (the reason,
 * without the field name) and `r` unchanged.
 */
int route_field_set(struct route *r, const char *name, const cJSON *v,
                    const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);

/*
 * Check one item of a bridge's `routes` (an object with "name" and route fields) into `r`.
 * With `base` (the stored route of the same name, in a PATCH) absent fields keep its values
 * and the secret mask keeps its secret; without, they take their defaults. outbound_url is
 * required. Returns 0 and fills `r` (route_clear frees it), or -1 with `field` (the item's
 * field, e.g. "outbound_url") and `err`, and `r` holding nothing.
 */
int route_from_api(struct route *r, const cJSON *in, const struct route *base,
                   const unsigned char key[CRYPTO_KEY_LEN], char *field, size_t fieldlen, char *err,
                   size_t errlen);

/* Whether `s` is a route name: [a-z0-9_-]{1,64}. */
bool route_name_valid(const char *s);

/*
 * Add the route's fields to object `o` (not the name): with `api` as the admin API shows
 * them (secrets masked), else as SQLite keeps them (secrets sealed). Fields added by other
 * modules appear only when set, so bridges without them read back as they always did.
 */
void route_put(const struct route *r, cJSON *o, bool api);

/*
 * Read the route fields of `o` (what route_put wrote with api false) into `r`, which
 * route_init prepared: missing fields keep their defaults. Returns 0, or -1 with *bad
 * naming the malformed field. outbound_url is not required here.
 */
int route_load(struct route *r, const cJSON *o, const char **bad);

/* signing_secret decrypted ("whsec_…", a new string), NULL with err[0] == '\0' when
 * unset, or NULL with `err` when it cannot be decrypted. Free with bridge_secret_free. */
char *route_signing_secret_open(const struct route *r, const unsigned char key[CRYPTO_KEY_LEN],
                                char *err, size_t errlen);

/* Whether sending through this route needs the inbound body as JSON: a payload template,
 * a filter, or URL/header templates that refer to $payload. */
bool route_needs_json(const struct route *r);

/* ---- helpers for field checks, shared with bridge.c and the modules adding fields ---- */

/* True when `v` is a whole JSON number in lo..hi (3.0 counts, 1.5 does not); *out set. */
bool route_json_int_in(const cJSON *v, long lo, long hi, long *out);

/* Whether `v` printed is small enough to keep in a bridge row; else `err`. */
bool route_json_small_enough(const cJSON *v, char *err, size_t errlen);

/* Replace *dst with a copy of `v`, or NULL when `v` is JSON null. */
void route_json_replace(cJSON **dst, const cJSON *v);

/* Whether `v` is the string BRIDGE_SECRET_MASK. */
bool route_is_mask(const cJSON *v);

#endif
