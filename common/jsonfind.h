/*
 * jsonfind.h - a `$payload.a.b` reference rendered straight from the body's JSON text,
 * without building a cJSON tree: for a dedup key (SPEC "sources"), which is usually one
 * such reference (`$payload.orderid`) and would otherwise cost a parse of the whole body
 * per accepted request (issue 15).
 *
 * The result is what the template engine (template.h) renders for the same template in
 * TMPL_TEXT mode against the body parsed by body_parse_json: the first member of that name
 * (as cJSON finds it, a key compared up to a decoded U+0000), an all-digits segment on an
 * array as an index, strings unescaped, other values printed as cJSON_PrintUnformatted
 * prints them, a missing value as "". test_jsonfind and fuzz_jsonfind compare the two.
 */
#ifndef JSONFIND_H
#define JSONFIND_H

#include <stdbool.h>
#include <stddef.h>

/* A rendered value: `ptr[0..len)`, inside the body or inside `owned` (freed by the caller
 * with free(); NULL when nothing was allocated). */
struct jsonfind_text {
    const char *ptr;
    size_t len;
    char *owned;
};

/* Whether `tmpl` is exactly one reference `$payload.seg[.seg...]` or `${payload.seg...}`
 * with at least one segment: the shape jsonfind_payload_ref renders. */
bool jsonfind_is_payload_ref(const char *tmpl);

/*
 * Render template `tmpl` against the JSON text body[0..len), which the caller has checked
 * with body_check_json (anything else is safe to pass but may not be rendered). Returns
 * true with `out` set (len 0 for a missing value); false when `tmpl` has another shape or
 * the text cannot be followed, for the caller to parse the body and use the template
 * engine.
 */
bool jsonfind_payload_ref(const char *tmpl, const char *body, size_t len,
                          struct jsonfind_text *out);

#endif
