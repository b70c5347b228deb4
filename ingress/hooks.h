/*
 * hooks.h - the public route: ANY /hooks/{endpoint}.
 *
 * Checks a request in the SPEC's order (endpoint, size, active, …), writes the job to Redis
 * and answers 202 only once Redis acknowledged it; the event's first SQLite write follows,
 * batched, after the answer.
 */
#ifndef HOOKS_H
#define HOOKS_H

struct evhttp_request;

/* evhttp callback for the public listener; `arg` is the struct ingress. */
void hooks_request(struct evhttp_request *req, void *arg);

/* Number of requests waiting for Redis (for a clean shutdown). */
int hooks_pending(void);

#endif
