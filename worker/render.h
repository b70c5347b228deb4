/*
 * render.h - the outbound request of one delivery attempt, built from the bridge's current
 * configuration: templates (common/template.h) rendered against the inbound request into
 * capped buffers (common/dynbuf.h), env secrets decrypted only for the moment of
 * rendering, the body signed when the bridge has a signing secret. What the event records
 * is rendered a second time with every $env value "[redacted]".
 */
#ifndef RENDER_H
#define RENDER_H

#include "clock.h"
#include "crypto.h"
#include "template.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct bridge;
struct job;
struct route;

/* What one attempt sends. */
struct render_request {
    char *url;
    char **hdr; /* "Name: value" lines, NULL-terminated */
    char *body; /* NULL: the inbound body as received */
    size_t body_len;
};

/* Free what a rendering filled in and zero the struct (an empty one is fine). */
void render_request_clear(struct render_request *rq);

/* Everything templates may refer to, for one job of one bridge. Fields are private to
 * render.c; the caller frees with render_ctx_clear. */
struct render_ctx {
    struct tmpl_ctx tc;
    const struct bridge *bridge;
    const struct route *route; /* the destination being rendered, one of bridge's routes */
    const struct job *job;
    cJSON *payload, *headers, *query, *env;
    char received_at[CLOCK_ISO_LEN];
};

/*
 * Fill the template context for sending `j` through route `r` of bridge `b`; all three
 * must outlive it. The body is parsed when the
 * bridge uses it; one that no longer parses (the bridge changed since the request was
 * accepted) leaves $payload missing rather than failing the event. Returns 0, or -1 with
 * `err` when the bridge's secrets cannot be decrypted with `key` (then nothing needs
 * clearing).
 */
int render_ctx_init(struct render_ctx *c, const struct bridge *b, const struct route *r,
                    const struct job *j, const unsigned char key[CRYPTO_KEY_LEN], char *err,
                    size_t errlen);

/* Free the context, wiping the decrypted env values first. */
void render_ctx_clear(struct render_ctx *c);

/* render_request's answer when the request would be larger than its caps. */
#define RENDER_TOO_LARGE (-2)

/* The longest rendered outbound_url and header value. 8 KiB is nginx's and Apache's
 * default request-line limit; a header value gets 16 KiB so that "Bearer $env.TOKEN" fits
 * with the longest env value (8 KiB). Either is far below what a sender's input can make a
 * template grow to. */
#define RENDER_URL_MAX 8192
#define RENDER_HEADER_MAX 16384

/*
 * Render the request of attempt number `attempt` (1-based). With `redact` every $env value
 * reads "[redacted]" (what the event records). `omit` has one entry per bridge header: the
 * rendering with secrets fills it, the redacted one follows it, so that the event shows the
 * headers that were sent. `signing` is the decrypted signing secret, or NULL for an
 * unsigned request. Returns 0; RENDER_TOO_LARGE with `err` saying which part outgrew its
 * cap (the URL over RENDER_URL_MAX, a header value over RENDER_HEADER_MAX, the body over
 * `max_body`); or -1 with `err` when a template fails or the rendered URL is not usable.
 * Either failure ends the event at once: no retry can change a rendering. `out` is filled
 * in either case; the caller clears it with render_request_clear.
 */
int render_request(struct render_ctx *c, int attempt, size_t max_body, bool redact,
                   const char *signing, bool *omit, struct render_request *out, char *err,
                   size_t errlen);

/* The request as sent, for the event (from a rendering with $env redacted): method, url,
 * headers as an object, and the body (JSON, or the inbound body as the event shows it). */
cJSON *render_outbound(const struct render_ctx *c, const struct render_request *rq);

/* render_outbound printed (cJSON_PrintUnformatted's answer, the same JSON value), written as
 * text with no tree when the body's JSON can be copied in as it is: the common case, once
 * for every event's first attempt. NULL when out of memory. */
char *render_outbound_json(const struct render_ctx *c, const struct render_request *rq);

#endif
