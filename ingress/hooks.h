/*
 * hooks.h - the public route: ANY /hooks/{endpoint}.
 *
 * Checks a request in a fixed order (endpoint, size, active, auth, JSON, schema,
 * idempotency), writes the job to Redis and answers 202 only once Redis acknowledged it.
 * No SQLite write is made for it here: the event's row is written from its job later
 * (common/record.h).
 */
#ifndef HOOKS_H
#define HOOKS_H

#include "httpd.h"

/* The public listener's head function (ingress/httpd.h): unknown endpoints (404) and
 * declared bodies over --max-body (413) are refused before the body is read. */
enum httpd_next hooks_head(struct httpd_req *req, void *arg);

/* The public listener's request function; `arg` is the struct ingress. */
void hooks_request(struct httpd_req *req, void *arg);

/* Number of requests waiting for Redis (for a clean shutdown). */
int hooks_pending(void);

#endif
