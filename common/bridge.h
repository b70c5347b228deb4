/*
 * bridge.h - a bridge: where events that arrive on one endpoint are forwarded, and how.
 *
 * Turns the admin API's JSON into a checked `struct bridge` (create and PATCH-merge),
 * back into API JSON, and to/from the JSON text kept in SQLite. The struct is plain data
 * that the ingress and the worker read directly.
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include "hb.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BRIDGE_MAX_DELAY 604800
#define BRIDGE_MAX_RETRIES 25

struct bridge {
    char id[HB_ID_LEN];             /* brg_… */
    char endpoint[HB_ENDPOINT_LEN]; /* random URL-safe token */
    char *name;                     /* "" when unset */
    char *outbound_url;
    char method[8]; /* GET POST PUT PATCH DELETE */
    cJSON *headers; /* object of name -> string value; never NULL */
    long delay_seconds;
    int retries;
    long *retry_delays; /* NULL when unset */
    size_t n_retry_delays;
    long timeout_ms;
    bool active;
    int64_t created_ms;
    int64_t updated_ms;
};

/*
 * Check an API body and build a bridge. With `base` NULL it is a create: `outbound_url` is
 * required, id/endpoint/timestamps are made here. With `base` it is a PATCH: fields absent
 * from `in` keep base's values, id/endpoint/created_at are kept, updated_at is now.
 * Returns 0 and *out (caller frees with bridge_free), or -1 with `field` (the offending
 * field's name, fieldlen bytes) and `err` ("must be an integer in 0..25").
 */
int bridge_from_api(const cJSON *in, const struct bridge *base, struct bridge **out, char *field,
                    size_t fieldlen, char *err, size_t errlen);

/* The bridge as the API shows it, with inbound_url = public_url + "/hooks/" + endpoint. */
cJSON *bridge_to_api(const struct bridge *b, const char *public_url);

/* Serialize for SQLite (every field, timestamps in ms). The caller frees the string. */
char *bridge_to_store(const struct bridge *b);

/* Parse what bridge_to_store wrote. Returns 0 and *out, or -1 with err. */
int bridge_from_store(const char *json, struct bridge **out, char *err, size_t errlen);

void bridge_free(struct bridge *b);

#endif
