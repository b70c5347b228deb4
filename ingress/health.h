/*
 * health.h - GET /healthz, served on both listeners without a token: the public one
 * (hooks.c) for load balancers, the admin one (admin.c) for operators. Its own module so
 * that neither router calls into the other.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include "ingress.h"

struct httpd_req;

/* Answer 200 {"status":"ok","redis":"ok"} when Redis answers PING, else 503 with
 * "unavailable"/"unreachable". The reply may come later, from Redis's callback. */
void health_handle(struct ingress *in, struct httpd_req *req);

#endif
