/*
 * admin.h - the admin listener: token or session check, routing of /api/…, /healthz
 * (health.h), the console (console.h) and its sessions (admin_session.h).
 *
 * Route modules export one handler each; admin.c has checked the token and split the path
 * before calling them. `segs` are the path segments after "/api/" (e.g. {"bridges", id,
 * "activate"}), already percent-decoded.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include "httpd.h"
#include "ingress.h"

/* The admin listener's head function (ingress/httpd.h): unknown routes (404) and a missing
 * or wrong token (401) are refused before any body is read. `arg` is the struct ingress. */
enum httpd_next admin_head(struct httpd_req *req, void *arg);

/* The admin listener's request function: routes /api/…, /metrics, /healthz. */
void admin_request(struct httpd_req *req, void *arg);

/* /api/bridges… (admin_bridges.c) */
void admin_bridges_handle(struct ingress *in, struct httpd_req *req, const char **segs, int nseg);

/* /api/events… (admin_events.c) */
void admin_events_handle(struct ingress *in, struct httpd_req *req, const char **segs, int nseg);

/* An RFC 3339 date-time as an event id bound (ids_time_bound), for since/until; false when
 * `s` is not one (admin_events.c). `out` holds HB_ID_LEN bytes. */
bool admin_time_bound(const char *s, char *out, size_t outlen);

/* POST /api/events/replay: bulk replay of the events a filter matches (admin_replay.c) */
void admin_replay_handle(struct ingress *in, struct httpd_req *req);

/* GET /metrics, Prometheus text, no token (admin_stats.c) */
void admin_metrics_handle(struct ingress *in, struct httpd_req *req);

/* GET /api/stats (admin_stats.c) */
void admin_stats_handle(struct ingress *in, struct httpd_req *req);

/* GET /api/stats/series?minutes=N: per-minute accepted/delivered/failed (admin_stats.c) */
void admin_stats_series_handle(struct ingress *in, struct httpd_req *req);

/* GET /api/openapi.json: the API's OpenAPI document, schemas/openapi.json (admin_openapi.c) */
void admin_openapi_handle(struct httpd_req *req);

#endif
