/*
 * admin.h - the admin listener: bearer-token check, routing of /api/…, /healthz.
 *
 * Route modules export one handler each; admin.c has checked the token and split the path
 * before calling them. `segs` are the path segments after "/api/" (e.g. {"bridges", id,
 * "activate"}), already percent-decoded.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include "ingress.h"

struct evhttp_request;

/* Start serving the admin routes on the ingress's admin evhttp. */
void admin_request(struct evhttp_request *req, void *arg);

/* GET /healthz: 200 when Redis answers PING, else 503 (both listeners, no token). */
void admin_healthz(struct ingress *in, struct evhttp_request *req);

/* /api/bridges… (admin_bridges.c) */
void admin_bridges_handle(struct ingress *in, struct evhttp_request *req, const char **segs,
                          int nseg);

/* /api/events… (admin_events.c) */
void admin_events_handle(struct ingress *in, struct evhttp_request *req, const char **segs,
                         int nseg);

/* GET /metrics, Prometheus text, no token (admin_stats.c) */
void admin_metrics_handle(struct ingress *in, struct evhttp_request *req);

/* GET /api/stats (admin_stats.c) */
void admin_stats_handle(struct ingress *in, struct evhttp_request *req);

#endif
