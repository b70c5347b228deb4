/*
 * source.h - how a bridge answers and sorts what its sender sends (SPEC "Sources"): the
 * bridge fields `response`, `challenge`, `dedup` and `split`.
 *
 *   "response":  {"status": 200, "body": "…", "content_type": "text/plain"}
 *       replaces the 202 of an accepted request; status 200..299 (default 200); body a
 *       template that may use $event.id and $bridge.id only (default empty); content_type default
 *       "text/plain" (only with a body).
 *   "challenge": {"when": {filter}, "respond": "$payload.challenge",
 *                 "content_type": "text/plain"}
 *       a request matching `when` (after auth) is answered 200 with `respond` rendered
 *       against it, and nothing is queued.
 *   "dedup":     {"key": "$payload.orderid", "window_seconds": 86400,
 *                 "on_duplicate": "accept" | "reject"}
 *       window 1..2592000 (default 86400), on_duplicate default accept.
 *   "split":     "$payload.events": exactly one $payload reference naming an array.
 *
 * The bridge keeps the four as one JSON object (struct bridge's `sources`), each member
 * present only when set, in the API answer and the row as top-level fields.
 */
#ifndef SOURCE_H
#define SOURCE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SOURCE_DEDUP_WINDOW_DEFAULT 86400
#define SOURCE_DEDUP_WINDOW_MAX 2592000
#define SOURCE_CTYPE_MAX 255
#define SOURCE_TEXT_MAX 4096

struct bridge;

/* bridge.c's field setters: null clears the field; -1 with `err` naming the member. */
int source_set_response(struct bridge *b, const cJSON *v, char *err, size_t errlen);
int source_set_challenge(struct bridge *b, const cJSON *v, char *err, size_t errlen);
int source_set_dedup(struct bridge *b, const cJSON *v, char *err, size_t errlen);
int source_set_split(struct bridge *b, const cJSON *v, char *err, size_t errlen);

/* Add the four fields to an API answer or a row (null when unset). */
void source_to_json(const struct bridge *b, cJSON *o);

/* Read the four fields back from a row; false when one is malformed (its name in *bad). */
bool source_from_store(const cJSON *row, cJSON **sources, const char **bad);

/* Whether any of them reads the body as JSON (challenge, dedup key on $payload, split). */
bool source_needs_json(const struct bridge *b);

/* One field's stored value, or NULL when unset. */
const cJSON *source_get(const struct bridge *b, const char *name);

#endif
