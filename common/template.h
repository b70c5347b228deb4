/*
 * template.h - the bridge template language (README "Templates"): references such as
 * `$payload.job.id`, `${payload.job.id}`, `$env.API_TOKEN`, `$headers.x-shop`, `$query.a`,
 * `$event.id`, `$event.received_at`, `$bridge.id`, and `$$` for a literal `$`.
 *
 * Used in a bridge's `outbound_url`, `headers` values and `payload` (a JSON value whose
 * strings are templates), and by common/filter.c for the references that filter keys name.
 *
 * Syntax, precisely:
 *   - `$$` is a literal `$`.
 *   - `$` followed by a letter starts a bare reference: a root name, then any number of
 *     `.segment`; names and segments hold letters, digits, `_` and `-`. The reference ends
 *     at the first character that cannot continue it (a `.` not followed by a name
 *     character is left as text: "$payload.id." renders the id, then ".").
 *   - `${root.seg.seg}` is a delimited reference; its content must be exactly a reference
 *     without the `$`. An unclosed `${` or bad content is an error.
 *   - `$` followed by anything else (a digit, a space, punctuation, the end) is a literal
 *     `$`, so "costs $5" needs no escaping.
 *   - Roots: `payload` (the inbound body as JSON; `$payload` alone is the whole body),
 *     `headers` (inbound headers, looked up case-insensitively; `$headers` alone is the
 *     object), `query` (the inbound query string as an object; `$query` alone too),
 *     `env` (the bridge's secrets; needs exactly one segment), `event` (`id`,
 *     `received_at`), `bridge` (`id`). Any other root, a missing or extra segment on
 *     env/event/bridge, or an unknown event/bridge field is an error.
 *   - A segment applied to an array is an index when it is all digits ("items.0.id");
 *     applied to an object it is a key; anything else makes the value missing.
 *
 * Values: a string that is exactly one reference (bare or delimited), rendered as a JSON
 * value (tmpl_render_json), becomes the referenced value with its type; missing -> null.
 * A reference inside longer text becomes text: strings raw, other values as compact JSON,
 * missing -> "".
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include "dynbuf.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* What the *_buf renderers return besides 0. */
#define TMPL_EINVAL (-1)  /* not a valid template (tmpl_check would have refused it) */
#define TMPL_ETOOBIG (-2) /* the rendering would outgrow its buffer's maximum */

/* The cap of tmpl_render_text and tmpl_render_json, which allocate their own buffer. */
#define TMPL_RENDER_MAX (16 * 1024 * 1024)

/* What references resolve against. Every pointer may be NULL (the values are missing). */
struct tmpl_ctx {
    const cJSON *payload; /* the parsed inbound body */
    const cJSON *headers; /* object, inbound header names lower-cased */
    const cJSON *query;   /* object of strings */
    const cJSON *env;     /* object of decrypted strings */
    const char *event_id;
    const char *received_at; /* ISO 8601 */
    const char *bridge_id;
    /* Render every $env value as "[redacted]": for events and logs. */
    bool redact_env;
};

/* How text is rendered into its destination. */
enum tmpl_mode {
    TMPL_TEXT,   /* as is */
    TMPL_URL,    /* values of payload/headers/query/event/bridge references are
                  * percent-encoded (all but RFC 3986 unreserved characters; a value that
                  * is "." or ".." entirely, as %2E or %2E%2E, since as a path segment it
                  * would climb the path), so that input from a sender can never change a
                  * URL's structure; $env values are trusted configuration (a base URL, a
                  * key) and go in as they are */
    TMPL_HEADER, /* CR, LF and NUL in values become spaces (no header injection) */
};

/*
 * Check a template string at bridge save. Returns 0, or -1 with `err` saying what and
 * where, e.g. "unclosed ${ at position 12" or "unknown reference root 'foo' at position 0"
 * (positions are 0-based byte offsets into `s`).
 */
int tmpl_check(const char *s, char *err, size_t errlen);

/*
 * Check every string inside a JSON value (a payload template), recursively; object keys
 * are not templates. On error `err` also names the JSON pointer of the string, e.g.
 * "/lines/0/total: unknown reference root 'foo' at position 0".
 */
int tmpl_check_json(const cJSON *v, char *err, size_t errlen);

/* What a text rendering met: its references, and how many of them were missing. */
struct tmpl_info {
    size_t refs;
    size_t missing;
};

/*
 * Render a template string as text, appended to `out`, whose maximum bounds the result (a
 * sender's input can make a rendering many times its own size). Fills `info` (may be
 * NULL). Returns 0; TMPL_EINVAL with `err` when `s` is not a valid template; TMPL_ETOOBIG
 * with `err` when the result would exceed out's maximum, `out` then being freed (dynbuf.h).
 */
int tmpl_render_text_buf(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode,
                         struct dynbuf *out, struct tmpl_info *info, char *err, size_t errlen);

/*
 * tmpl_render_text_buf into a new string the caller frees, capped at TMPL_RENDER_MAX;
 * NULL with `err` on either error.
 */
char *tmpl_render_text(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode, char *err,
                       size_t errlen);

/*
 * Render a payload template (any JSON value) as compact JSON text appended to `out`:
 * strings that are exactly one reference take the referenced value, other strings are
 * rendered as text, objects and arrays are rendered member by member, other values are
 * copied; printed as cJSON_PrintUnformatted prints. Written straight into `out`, so the
 * cap holds before anything as large as the result is allocated. Returns 0, TMPL_EINVAL
 * or TMPL_ETOOBIG as tmpl_render_text_buf does.
 */
int tmpl_render_json_buf(const cJSON *tmpl, const struct tmpl_ctx *ctx, struct dynbuf *out,
                         char *err, size_t errlen);

/*
 * tmpl_render_json_buf (capped at TMPL_RENDER_MAX) parsed into a new JSON value the caller
 * frees with cJSON_Delete. Returns NULL with `err` on either error.
 */
cJSON *tmpl_render_json(const cJSON *tmpl, const struct tmpl_ctx *ctx, char *err, size_t errlen);

/*
 * Parse `s` as exactly one reference, bare ("$payload.a") or delimited ("${payload.a}"),
 * and resolve it. Used by the filter for its keys. Returns 0 with *out set to a new value
 * (the caller deletes it) or to NULL when the value is missing; -1 with `err` when `s` is
 * not exactly one valid reference.
 */
int tmpl_ref_resolve(const char *s, const struct tmpl_ctx *ctx, cJSON **out, char *err,
                     size_t errlen);

/* Check that `s` is exactly one valid reference (what tmpl_ref_resolve accepts). */
int tmpl_ref_check(const char *s, char *err, size_t errlen);

#endif
