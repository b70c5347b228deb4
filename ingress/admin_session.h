/*
 * admin_session.h - console sessions: POST /api/session trades the admin token for a cookie,
 * DELETE /api/session ends it, and admin.c asks here whether a request's cookie is a live
 * session.
 *
 * A session is a random 256-bit cookie value; Redis keeps only its SHA-256, under
 * "{prefix}session:{hex}", with a 12 h TTL, holding a proof tied to the admin token so that
 * a new token ends every session. Sessions live in Redis rather than in this
 * process so that any ingress answers any signed-in browser, and a restart signs nobody out.
 */
#ifndef ADMIN_SESSION_H
#define ADMIN_SESSION_H

#include "httpd.h"
#include "ingress.h"

#include <stdbool.h>
#include <stddef.h>

/* How long a session lasts after sign-in. */
#define ADMIN_SESSION_TTL_S (12 * 3600)

/* The cookie's name. */
#define ADMIN_SESSION_COOKIE "hb_session"

/* POST /api/session {"token": …} (204 + Set-Cookie, 401 on a wrong token) and
 * DELETE /api/session (204, cookie cleared). */
void admin_session_handle(struct ingress *in, struct httpd_req *req);

/* True when `given` is the configured admin token; compares digests in constant time, so
 * neither the token's content nor its length leaks through timing. False when no token is
 * configured. */
bool admin_session_token_ok(const struct ingress *in, const char *given);

/* Copy the request's hb_session cookie value into `out` (NUL-terminated); false when the
 * request has none, or one that is not 64 hex digits. */
bool admin_session_cookie(const struct httpd_req *req, char *out, size_t outlen);

/*
 * The cross-site check for a request authenticated by cookie: a state-changing method
 * (anything but GET and HEAD) needs Content-Type application/json and an Origin that is
 * absent or names this very host (the Host header). Returns true when the request passes.
 */
bool admin_session_same_site(const struct httpd_req *req);

/* Called with 1 when the cookie names a live session, 0 when it does not, -1 when Redis
 * failed to say. Never called when admin_session_check fails. */
typedef void (*admin_session_cb)(struct ingress *in, struct httpd_req *req, int live);

/* Ask Redis whether `cookie` (from admin_session_cookie) is a live session; `cb` gets the
 * answer. Returns 0, or -1 when Redis is unreachable. */
int admin_session_check(struct ingress *in, struct httpd_req *req, const char *cookie,
                        admin_session_cb cb);

#endif
