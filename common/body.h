/*
 * body.h - an inbound body as JSON, for templates ($payload), schemas and filters.
 *
 * JSON bodies are checked strictly here because cJSON alone would accept invalid UTF-8 and
 * nest as deep as its own limit: a body must be one JSON value, in valid UTF-8, nested at
 * most BODY_MAX_DEPTH deep. application/x-www-form-urlencoded bodies become an object of
 * strings, as web frameworks read them.
 */
#ifndef BODY_H
#define BODY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define BODY_MAX_DEPTH 64

/* True when the Content-Type names JSON: application/json or any type/…+json. */
bool body_ctype_is_json(const char *ctype);

/* True for application/x-www-form-urlencoded (parameters such as charset ignored). */
bool body_ctype_is_form(const char *ctype);

/*
 * Check that a body is one strict JSON (RFC 8259) value in valid UTF-8, nested at most
 * BODY_MAX_DEPTH deep, without building it. *is_string (may be NULL) tells whether the
 * value is a string. Returns false with `err` as body_parse_json says.
 */
bool body_check_json(const char *body, size_t len, bool *is_string, char *err, size_t errlen);

/*
 * Parse a JSON body strictly (see above). Returns the value (the caller deletes it), or
 * NULL with `err` saying what is wrong: "body is not valid UTF-8", "body nests deeper than
 * 64 levels", "body is not valid JSON (near byte 17)", "body is empty".
 */
cJSON *body_parse_json(const char *body, size_t len, char *err, size_t errlen);

/*
 * The body as JSON for a bridge that needs it: a form body (by Content-Type) becomes an
 * object, anything else goes through body_parse_json. Returns NULL with `err` on failure.
 */
cJSON *body_to_json(const char *ctype, const char *body, size_t len, char *err, size_t errlen);

/*
 * body_to_json for the inbound schema check: the same tree, except that a string holding
 * U+0000 (which cJSON ends at its first NUL) also keeps its whole text for the validator,
 * as jsonschema.h describes (a cJSON_Raw child in modified UTF-8, U+0000 as C0 80); its
 * valuestring is what body_to_json gives. The tree is for jsonschema_validate only.
 */
cJSON *body_to_json_whole(const char *ctype, const char *body, size_t len, char *err,
                          size_t errlen);

/*
 * cJSON_ParseWithLengthOpts(text, len + 1, end, true) (text NUL-terminated at len), keeping
 * the whole text of strings holding U+0000 as body_to_json_whole does: for the admin API's
 * bodies and stored bridge rows, so that an inbound schema's "\u0000" survives to the
 * validator (text_json_print writes it back as \u0000).
 */
cJSON *body_json_whole(const char *text, size_t len, const char **end);

/*
 * Decode "a=1&b=x%20y+z" (a query string or a form body, len bytes, may hold anything)
 * into a JSON object of strings; the last value of a repeated name wins, invalid UTF-8 is
 * replaced, a '%' not followed by two hex digits is kept as is. Never fails.
 */
cJSON *body_form_object(const char *s, size_t len);

#endif
