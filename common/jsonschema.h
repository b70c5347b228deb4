/*
 * jsonschema.h - a JSON Schema draft-07 validator over cJSON.
 *
 * Used for a bridge's inbound `schema` and for the admin API's bridge
 * bodies (schemas/bridge.schema.json). A schema is compiled once (regexes compiled,
 * `$ref`s resolved, every keyword checked) and then validates any number of instances.
 *
 * Supported: type, enum, const, properties, required, additionalProperties,
 * patternProperties, propertyNames, dependencies, minProperties, maxProperties, items,
 * additionalItems, contains, minItems, maxItems, uniqueItems, minLength, maxLength,
 * pattern (PCRE2, as close to ECMA-262 as PCRE2 allows), format (date-time, date, time,
 * email, hostname, ipv4, ipv6, uri, uuid), minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, multipleOf, allOf, anyOf, oneOf, not, if/then/else, local `$ref`
 * (`#`, `#/definitions/…`, `#/$defs/…`, any JSON pointer into the schema), boolean
 * schemas, and the annotations title, description, default, examples, $comment, $schema,
 * $id, readOnly, writeOnly, contentMediaType, contentEncoding (accepted, not asserted).
 * Anything else (an unknown keyword, an unknown format, a remote $ref) is refused at
 * compile time, naming it: a schema never half-applies.
 *
 * `$ref` follows draft-07: it replaces its sibling keywords, and resolves against the base
 * URI of the nearest `$id`, so a ref may also name a resource or a `#name` anchor that an
 * `$id` declares inside the same document; only refs leaving the document are "remote".
 * Patterns get ECMA-262's \s, \S and long \p{…} names. A `$ref` loop that would apply a
 * schema to the same value forever (`{"$ref": "#"}`, or definitions that reach each other
 * through $ref, allOf, anyOf, oneOf, not, if/then/else or dependencies without descending
 * into the instance) is refused: "circular $ref \"#\" at /".
 */
#ifndef JSONSCHEMA_H
#define JSONSCHEMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct jsonschema;

/*
 * Compile `schema` (an object or a boolean; copied, so the caller keeps ownership).
 * Returns 0 and *out (free with jsonschema_free), or -1 with `err` naming the problem and
 * where it is, e.g. "unsupported keyword \"$dynamicRef\" at /properties/a",
 * "unknown format \"phone\" at /properties/tel", "invalid regular expression at
 * /pattern: …", "minLength must be a non-negative integer at /properties/name",
 * "unsupported remote $ref \"http://x/y.json\" at /", "unresolvable $ref \"#/a\" at /"
 * (the schema root is "/").
 */
int jsonschema_compile(const cJSON *schema, struct jsonschema **out, char *err, size_t errlen);

/*
 * Validate `instance`. Returns true when valid. When `errors` is not NULL (a cJSON array)
 * and the instance is invalid, appends up to `max_errors` objects
 * {"path": "/customerId", "message": "must match format \"uuid\""} where path is the JSON
 * pointer of the failing instance location ("" for the root). Messages follow ajv:
 *   must be string | must be integer | must be equal to one of the allowed values |
 *   must be equal to constant | must have required property 'serialNumber' |
 *   must NOT have additional property "extra" (at the object's path, one error per
 *   property) | must be <= 9999 | must be < 10 | must be >= 1 |
 *   must be > 0 | must be multiple of 5 | must NOT have more than 3 characters |
 *   must NOT have fewer than 2 characters | must match pattern "^a" |
 *   must match format "uuid" | must NOT have more than 2 items |
 *   must NOT have fewer than 1 items | must NOT have duplicate items (items ## 1 and 0 are
 *   identical) | must contain at least 1 valid item(s) | must NOT have more than 4
 *   properties | must match exactly one schema in oneOf | must match a schema in anyOf |
 *   must NOT be valid | must match "then" schema | must match "else" schema |
 *   must have property b when property a is present | property name must be valid |
 *   boolean schema is false
 * anyOf, oneOf, not, if, contains and propertyNames report only their own message;
 * allOf, $ref, then/else and the object and array keywords pass on their subschemas' errors
 * at the inner paths. Regexes are bounded per validation, not only per match: a pattern
 * that backtracks past PCRE2's match limit on one value, or all the matches of one
 * validation taking longer than a small time budget, make the instance invalid with the one
 * error "pattern \"^(a+)+$\" is too costly to evaluate on this value" (at the value's
 * path), whatever else was found, since no other answer could be trusted.
 * A string holding U+0000 (which cJSON ends at its first NUL byte) is seen whole when its
 * node has a cJSON_Raw child holding its text in modified UTF-8, U+0000 as the bytes C0 80
 * (body_to_json_whole makes such trees, and body_json_whole for the admin API's bodies and
 * stored bridges): lengths, patterns, formats and equality (const, enum, uniqueItems) see
 * the whole text.
 * uniqueItems compares canonical forms sorted by a keyed hash: O(n log n) whatever the
 * items. Schema applications nested over 4096 deep make the instance invalid
 * ("schema applications nested too deeply") instead of exhausting the stack. Several
 * threads may validate with one compiled schema at once.
 */
bool jsonschema_validate(const struct jsonschema *s, const cJSON *instance, cJSON *errors,
                         int max_errors);

void jsonschema_free(struct jsonschema *s);

#endif
