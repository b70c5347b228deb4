/*
 * job.h - what the worker needs to deliver one event, as held in the Redis HASH
 * `{prefix}job:{event_id}`.
 *
 * The ingress writes a job and answers 202 only after Redis acknowledged it, and writes no
 * SQLite row: the job alone is enough to build the event (event_from_job, event_json),
 * which is how its row is written (common/record.h). Inbound credentials are already
 * "[redacted]" in `headers_json`: Redis never holds them.
 */
#ifndef JOB_H
#define JOB_H

#include "hb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A route name with its NUL ([a-z0-9_-]{1,64}, common/route.h). */
#define JOB_ROUTE_LEN 65
/* A queue entry: "evt_…" or "evt_…/route". */
#define JOB_ENTRY_LEN (HB_ID_LEN + JOB_ROUTE_LEN)

struct job {
    char id[HB_ID_LEN];        /* evt_… */
    char route[JOB_ROUTE_LEN]; /* the route of an "id/route" queue entry; "" for an id */
    char bridge_id[HB_ID_LEN]; /* brg_… */
    int64_t received_ms;
    char *method;       /* inbound method, e.g. "POST" */
    char *path;         /* inbound path, e.g. "/hooks/abc" */
    char *query;        /* raw query string without '?', "" when none */
    char *headers_json; /* JSON object of inbound headers (names lower-cased) */
    char *content_type; /* inbound Content-Type, "" when none */
    char *body;         /* raw inbound body (may hold NULs) */
    size_t body_len;
    char *replay_of;  /* evt_… or "" */
    int attempts;     /* attempts made so far (of this route, for a route entry) */
    int requeues;     /* times put back after a worker died holding it */
    bool aborted;     /* an abort marked it (or this route): record, never send */
    char *only_route; /* a replay to one route of a bridge with routes; NULL for all */
};

/* The queue entry of `j`: its id, or "id/route". */
void job_entry(const struct job *j, char out[JOB_ENTRY_LEN]);

/*
 * Field names in the Redis hash. A job is written as three fields: bridge_id, request (a
 * JSON object with received_ms, method, path, query, content_type, replay_of and headers)
 * and body, because Redis spends its time per hash field, not per byte: eleven fields cost
 * it a third more than three (scripts/bench, "ingress"). attempts, requeues and aborted are
 * added later by the queue scripts. The one-field-per-value layout of earlier versions is
 * still read, so jobs queued before an upgrade are delivered.
 */
#define JOB_F_BRIDGE "bridge_id"
#define JOB_F_REQUEST "request"
#define JOB_F_BODY "body"
#define JOB_F_ATTEMPTS "attempts"
#define JOB_F_REQUEUES "requeues"
#define JOB_F_ABORTED "aborted"
/* Keys inside the request object, also the field names of the older layout. */
#define JOB_F_RECEIVED "received_ms"
#define JOB_F_METHOD "method"
#define JOB_F_PATH "path"
#define JOB_F_QUERY "query"
#define JOB_F_HEADERS "headers"
#define JOB_F_CTYPE "content_type"
#define JOB_F_REPLAY "replay_of"
/* In the request object only when set: the one route a replay goes to. */
#define JOB_F_ONLY_ROUTE "only_route"

/* Maximum argv entries of a job's HSET. */
#define JOB_ARGV_MAX 12

/* One job's "HSET {key} field value …", ready for redisAsyncCommandArgv. */
struct job_hset {
    int argc;
    const char *argv[JOB_ARGV_MAX];
    size_t argvlen[JOB_ARGV_MAX];
    char *request;    /* the request field's JSON, owned */
    char scratch[64]; /* attempts and requeues as text */
};

/*
 * Fill `h` with the HSET for the whole job. The strings point into `j` (the body is not
 * copied) and into `h`, so both must outlive the command's submission; then job_hset_free.
 * headers_json must be a JSON object (or NULL/"" for none): it is copied in as it is.
 */
void job_hset_build(struct job_hset *h, const struct job *j, const char *key);
void job_hset_free(struct job_hset *h);

/*
 * Fill `j` from the field/value pairs of an HGETALL reply (`n` strings, alternating field
 * and value, with their lengths). `id` is the queue entry: the event id, or "id/route",
 * whose attempts, requeues and aborted are read from the route's own fields. Returns 0, or -1 with
 * err set when a required field is missing. The job owns copies; free with job_clear.
 */
int job_from_pairs(struct job *j, const char *id, const char *const *strs, const size_t *lens,
                   size_t n, char *err, size_t errlen);

/*
 * The same from an HGETALL reply as hiredis hands it (an array of field, value strings;
 * the hiredis type, not named here so that job.h stays free of it).
 */
struct redisReply;
int job_from_reply(struct job *j, const char *id, const struct redisReply *pairs, char *err,
                   size_t errlen);

/* Free what `j` owns and zero it. */
void job_clear(struct job *j);

#endif
