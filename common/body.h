/*
 * body.h - an inbound body as JSON, for templates ($payload), schemas and filters.
 *
 * JSON bodies are checked strictly here because cJSON alone would accept invalid UTF-8,
 * nest as deep as its own limit and read the first of two equal keys where other parsers
 * read the last: a body must be one JSON value, in valid UTF-8, nested at most
 * BODY_MAX_DEPTH deep, without duplicate keys. application/x-www-form-urlencoded bodies become an
 * object of strings, as web frameworks read them.
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

/* Refuse a \u0000 escape in strings and keys (cJSON would end the string there). */
#define BODY_JSON_NO_NUL 0x1u
/* Accept two equal keys in one object (only where nothing reads the keys). */
#define BODY_JSON_ALLOW_DUPS 0x2u

/* The largest max_depth body_check_json_opts honours. */
#define BODY_CHECK_DEPTH_MAX 128

/* How body_check_json_opts checks; zero fields mean what body_check_json does. */
struct body_json_check {
    unsigned flags;      /* BODY_JSON_* */
    int max_depth;       /* 0: BODY_MAX_DEPTH; at most BODY_CHECK_DEPTH_MAX */
    const char *subject; /* what messages call the text; NULL: "body" */
    /* With BODY_JSON_NO_NUL: a top-level key whose value may still hold \u0000 in its
     * strings (a bridge's "schema", where const and enum compare such strings); NULL: none */
    const char *nul_ok_under;
};

/*
 * Check that a body is one strict JSON (RFC 8259) value in valid UTF-8, nested at most
 * BODY_MAX_DEPTH deep, with no two equal keys in one object (after decoding escapes),
 * without building it. *is_string (may be NULL) tells whether the value is a string.
 * Returns false with `err` as body_parse_json says. Time and memory are linear in len
 * whatever the keys.
 */
bool body_check_json(const char *body, size_t len, bool *is_string, char *err, size_t errlen);

/*
 * body_check_json with options (`opts` may be NULL). A problem inside the value is named by
 * the JSON Pointer of its place ("/" for the top level): "body is not valid UTF-8 at
 * /name", "body has duplicate key \"status\" at /", "body has \u0000 in the string at
 * /env/TOKEN", "body is not valid UTF-8 in a key at /headers"; others as body_parse_json.
 */
bool body_check_json_opts(const char *body, size_t len, const struct body_json_check *opts,
                          bool *is_string, char *err, size_t errlen);

/*
 * Parse a JSON body strictly (see above). Returns the value (the caller deletes it), or
 * NULL with `err` saying what is wrong: "body is not valid UTF-8", "body nests deeper than
 * 64 levels", "body is not valid JSON (near byte 17)", "body is empty", "body has duplicate
 * key \"a\" at /".
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
