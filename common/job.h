/*
 * job.h - what the worker needs to deliver one event, as held in the Redis HASH
 * `{prefix}job:{event_id}`.
 *
 * The ingress writes a job and answers 202 only after Redis acknowledged it; the job alone
 * is enough to build the event (event_from_job) so an event is never lost even if its
 * first SQLite write did not happen. Inbound credentials are already "[redacted]" in
 * `headers_json`: Redis never holds them.
 */
#ifndef JOB_H
#define JOB_H

#include "hb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct job {
    char id[HB_ID_LEN];        /* evt_… */
    char bridge_id[HB_ID_LEN]; /* brg_… */
    int64_t received_ms;
    char *method;       /* inbound method, e.g. "POST" */
    char *path;         /* inbound path, e.g. "/hooks/abc" */
    char *query;        /* raw query string without '?', "" when none */
    char *headers_json; /* JSON object of inbound headers (names lower-cased) */
    char *content_type; /* inbound Content-Type, "" when none */
    char *body;         /* raw inbound body (may hold NULs) */
    size_t body_len;
    char *replay_of; /* evt_… or "" */
    int attempts;    /* attempts made so far */
    int requeues;    /* times put back after a worker died holding it */
    bool aborted;    /* POST /api/bridges/{id}/abort marked it: record, never send */
};

/* Field names in the Redis hash. */
#define JOB_F_BRIDGE "bridge_id"
#define JOB_F_RECEIVED "received_ms"
#define JOB_F_METHOD "method"
#define JOB_F_PATH "path"
#define JOB_F_QUERY "query"
#define JOB_F_HEADERS "headers"
#define JOB_F_CTYPE "content_type"
#define JOB_F_BODY "body"
#define JOB_F_REPLAY "replay_of"
#define JOB_F_ATTEMPTS "attempts"
#define JOB_F_REQUEUES "requeues"
#define JOB_F_ABORTED "aborted"

/* Maximum argv entries job_hset_argv fills. */
#define JOB_ARGV_MAX 32

/*
 * Fill argv/argvlen with "HSET {key} field value …" for the whole job. The strings point
 * into `j` and into `scratch` (at least 64 bytes), so both must outlive the command's
 * submission. Returns the argument count.
 */
int job_hset_argv(const struct job *j, const char *key, const char **argv, size_t *argvlen,
                  char *scratch, size_t scratchlen);

/*
 * Fill `j` from the field/value pairs of an HGETALL reply (`n` strings, alternating field
 * and value, with their lengths). `id` is the event id. Returns 0, or -1 with err set when
 * a required field is missing. The job owns copies; free with job_clear.
 */
int job_from_pairs(struct job *j, const char *id, const char *const *strs, const size_t *lens,
                   size_t n, char *err, size_t errlen);

/* Free what `j` owns and zero it. */
void job_clear(struct job *j);

#endif
