/*
 * event.h - the event JSON (schemas/event.schema.json): one inbound request and every
 * delivery attempt, as stored in SQLite and shown by GET /api/events/{id}.
 *
 * Built with cJSON; the caller owns every returned tree.
 */
#ifndef EVENT_H
#define EVENT_H

#include "event_status.h"
#include "job.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The event as it is when accepted: id, bridge_id, status, received_at, request (method,
 * path, query as an object, headers, body), outbound null, attempts [], next_attempt_at
 * (ISO time or null when next_attempt_ms is 0), replay_of. The body is the parsed JSON when
 * it is valid JSON, else a string when valid UTF-8, else {"base64": "…"} under
 * "body_base64".
 */
cJSON *event_from_job(const struct job *j, enum event_status status, int64_t next_attempt_ms);

/*
 * The same event printed straight to JSON text, where the body passed body_check_json
 * (with BODY_JSON_NO_NUL) and is not a JSON string, and headers_json is a JSON object
 * (job.h): both are copied in as they are, with no tree built. Returns a new string, or
 * NULL when a field needs the cleaning event_from_job does (invalid UTF-8). event_json is
 * what callers use; this one is public so that test_event and fuzz_body can check the fast
 * path against event_from_job on the same job, which is how it is kept honest.
 */
char *event_json_trusted(const struct job *j, enum event_status status, int64_t next_attempt_ms);

/*
 * The event printed to JSON text, with `outbound_json` (the outbound request, NULL for
 * null) and `attempt_json` (one attempt, NULL for none), both JSON texts as cJSON printed
 * them: straight, as event_json_trusted does, when the body is strict JSON that is not a
 * string and has no \u0000 (the common case, no tree built), else through event_from_job.
 * Returns a new string.
 */
char *event_json(const struct job *j, enum event_status status, int64_t next_attempt_ms,
                 const char *outbound_json, const char *attempt_json);

/*
 * The status of an event whose job is still in Redis with no attempt recorded, as a reader
 * sees it: aborted once an abort marked the job, retrying or scheduled while it has a due
 * time (`due_ms`, 0 for none; retrying once attempts were made), else queued.
 */
enum event_status event_status_waiting(const struct job *j, int64_t due_ms);

/*
 * One attempt: {"n","started_at","duration_ms","status" (HTTP status or null),"error"
 * (string or null),"response":{"headers":{},"body":"…","truncated":bool}}. `resp_headers`
 * is copied (may be NULL); `body` may hold invalid UTF-8, which is replaced.
 */
cJSON *event_attempt(int n, int64_t started_ms, long duration_ms, int http_status,
                     const char *error, const cJSON *resp_headers, const char *body,
                     size_t body_len, bool truncated);

/*
 * Record one route's outcome in event `ev` (changed in place): the delivery of `route` in
 * "deliveries" ({"route","status","outbound","attempts","next_attempt_at"}; the array and
 * a delivery for each name of `routes_csv` are added, queued, when missing) gets `status`,
 * `attempt_json` appended and `outbound_json` set when not NULL, and next_attempt_at
 * (null for 0). The event's status is then derived from every delivery
 * (event_status_derive), and the first delivery is mirrored into the top-level outbound,
 * attempts and next_attempt_at. Returns the event's new status.
 */
enum event_status event_apply_route(cJSON *ev, const char *route, const char *routes_csv,
                                    enum event_status status, const char *attempt_json,
                                    const char *outbound_json, int64_t next_attempt_ms);

/* The summary shown in GET /api/events lists, taken from a full event. */
cJSON *event_summary(const cJSON *event);

/*
 * Rebuild the inbound request of a stored event into `j` (zeroed first), for a replay:
 * bridge_id, method, path, query (re-encoded from the stored object), headers (as stored:
 * credentials stay "[redacted]"), content type, and body (JSON re-serialized compactly, text
 * as it was, binary from body_base64). The caller sets id, received_ms and replay_of.
 * Returns 0, or -1 with `err` when the event has no usable request. Free with job_clear.
 */
int event_request_to_job(const cJSON *event, struct job *j, char *err, size_t errlen);

/* Parse a query string "a=1&b=x%20y" into a JSON object of strings (last value wins). */
cJSON *event_query_object(const char *query);

#endif
