/*
 * filter.h - a bridge's `filter` (README "Filters"): which inbound events are
 * forwarded. An event that does not match is recorded `filtered` and never sent.
 *
 * A filter is a JSON object; every member must hold (implicit AND):
 *   - a key that is a reference (common/template.h: "$payload.status", "${headers.x-a}",
 *     "$query.kind", "$event.id", "$bridge.id"; `$env` is not allowed in a filter) with
 *       - a value that is not an operator object: deep JSON equality with the referenced
 *         value (numbers compare by value: 100 equals 100.0); a null value also matches a
 *         missing one, as MongoDB's {field: null} does;
 *       - an operator object: a non-empty object whose keys are all operators, every one
 *         of which must hold:
 *           $eq $ne        deep equality / its negation ($ne holds for a missing value)
 *           $gt $gte $lt $lte
 *                          numbers compare with numbers, strings with strings (byte order);
 *                          any other pairing, or a missing value, does not hold
 *           $in $nin       operand an array: the value equals one of them / none of them
 *                          ($nin holds for a missing value)
 *           $exists        operand true or false: the value is present (null counts as
 *                          present) / absent
 *           $contains      a string value contains the operand string, or an array value
 *                          holds an element equal to the operand
 *           $startsWith $endsWith
 *                          operand a string; the value is a string with that prefix/suffix
 *   - "$and": a non-empty array of filter objects, all of which hold;
 *   - "$or":  a non-empty array of filter objects, at least one of which holds;
 *   - "$not": a filter object that does not hold.
 * As with a plain null value, `{"$eq": null}` and a `$in` list holding null also match a
 * missing value (MongoDB does the same), so `{"$ne": null}` and such a `$nin` do not hold
 * for one.
 * An object value whose keys all start with '$' is an operator object; one that mixes
 * '$' keys with others is an error; one without '$' keys is compared for equality.
 * The empty filter {} matches everything.
 */
#ifndef FILTER_H
#define FILTER_H

#include "template.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Check a filter at bridge save. Returns 0, or -1 with `err` naming where and what, e.g.
 * "$and/1/$payload.total: unknown operator $foo" or "$payload.kind: $in needs an array".
 */
int filter_check(const cJSON *filter, char *err, size_t errlen);

/*
 * Whether the event described by `ctx` matches `filter` (which filter_check accepted; a
 * filter it would refuse never matches). NULL or {} matches everything.
 */
bool filter_match(const cJSON *filter, const struct tmpl_ctx *ctx);

#endif
