/*
 * oauth.h - OAuth 2.0 access tokens for routes with `oauth2` (README "Destinations"):
 * client credentials, and refresh tokens that rotate on every use (Xero).
 *
 * One access token per route is shared by every worker on every host: it lives in Redis
 * ("{prefix}oauth:{bridge_id}:{route}", sealed with HOOKBRIDGE_SECRET_KEY like `env`). It
 * is refreshed before it expires by one worker at a time, the holder of
 * "{prefix}oauth:{bridge_id}:{route}:lock" (SET NX with a deadline, so a worker that dies
 * holding it stops blocking the others when the deadline passes); the others use the
 * still-valid token or wait for the new one. A rotated refresh token is written to the
 * bridge row in the store (sealed) before anything else, then to Redis, so it is durable
 * before it can be used again (README, "OAuth2 destinations", for the crash window).
 *
 * Token requests go through the worker's libcurl multi loop (deliver.h): nothing blocks.
 */
#ifndef OAUTH_H
#define OAUTH_H

struct bridge;
struct route;
struct worker;

/* Called exactly once: `token` the access token (valid during the call only), or NULL and
 * `error` saying why ("oauth2 token endpoint: HTTP 400 invalid_grant"). */
typedef void (*oauth_cb)(const char *token, const char *error, void *arg);

/*
 * Get an access token for route `r` of bridge `b` (the route's oauth2 settings). `stale` is a
 * token the destination just refused with 401, or NULL: a token equal to it is not used
 * again, a new one is fetched unless another worker already did. `cb` is called later from
 * the loop, never inside this call. Requests of one route in this process share one lookup.
 */
void oauth_token(struct worker *w, const struct bridge *b, const struct route *r, const char *stale,
                 oauth_cb cb, void *arg);

/* Drop every pending request whose `arg` is `arg`: its callback is not called. */
void oauth_forget(void *arg);

/* At exit, once the Redis connections are closed: cancel token requests, free all. */
void oauth_stop(void);

#endif
