/*
 * filter.c - a bridge's filter: MongoDB-style conditions on an inbound event (see filter.h).
 *
 * Keys are template references, resolved with tmpl_ref_resolve, so a filter and a payload
 * template name the same value the same way. filter_check is the one place that knows what
 * a valid filter is; filter_match runs it first and evaluates only what it accepts, so a
 * filter saved before a rule tightened can never match by accident.
 */
#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Filters come from the admin API: bound every recursion over them. */
#define FILTER_MAX_DEPTH 64

/* Longest key quoted in an error path. */
#define FILTER_ERR_KEY 64

enum filter_op {
    FILTER_OP_EQ,
    FILTER_OP_NE,
    FILTER_OP_GT,
    FILTER_OP_GTE,
    FILTER_OP_LT,
    FILTER_OP_LTE,
    FILTER_OP_IN,
    FILTER_OP_NIN,
    FILTER_OP_EXISTS,
    FILTER_OP_CONTAINS,
    FILTER_OP_STARTS_WITH,
    FILTER_OP_ENDS_WITH,
    FILTER_OP_UNKNOWN,
};

static const char *const filter_op_names[] = {
    [FILTER_OP_EQ] = "$eq",
    [FILTER_OP_NE] = "$ne",
    [FILTER_OP_GT] = "$gt",
    [FILTER_OP_GTE] = "$gte",
    [FILTER_OP_LT] = "$lt",
    [FILTER_OP_LTE] = "$lte",
    [FILTER_OP_IN] = "$in",
    [FILTER_OP_NIN] = "$nin",
    [FILTER_OP_EXISTS] = "$exists",
    [FILTER_OP_CONTAINS] = "$contains",
    [FILTER_OP_STARTS_WITH] = "$startsWith",
    [FILTER_OP_ENDS_WITH] = "$endsWith",
};

static enum filter_op filter_op_of(const char *name)
{
    for (size_t i = 0; i < FILTER_OP_UNKNOWN; i++)
        if (strcmp(name, filter_op_names[i]) == 0)
            return (enum filter_op)i;
    return FILTER_OP_UNKNOWN;
}

static bool filter_is_logical(const char *key)
{
    return strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 || strcmp(key, "$not") == 0;
}

static const char *filter_key(const cJSON *m)
{
    return m->string ? m->string : "";
}

/* Whether an object value is an operator object: it has a key that starts with '$'. */
static bool filter_has_dollar_key(const cJSON *v)
{
    if (!cJSON_IsObject(v))
        return false;
    for (const cJSON *m = v->child; m != NULL; m = m->next)
        if (filter_key(m)[0] == '$')
            return true;
    return false;
}

/* ---- checking ---- */

/* Whether `v` nests objects and arrays deeper than `left` more levels. */
static bool filter_too_deep(const cJSON *v, int left)
{
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return false;
    if (left <= 0)
        return true;
    for (const cJSON *m = v->child; m != NULL; m = m->next)
        if (filter_too_deep(m, left - 1))
            return true;
    return false;
}

/* Sets `err` to "<prefix><what>: <why>", quoting at most FILTER_ERR_KEY bytes of `what`. */
static int filter_fail(const char *prefix, const char *what, const char *why, char *err,
                       size_t errlen)
{
    snprintf(err, errlen, "%s%.*s%s: %s", prefix, FILTER_ERR_KEY, what,
             strlen(what) > FILTER_ERR_KEY ? "..." : "", why);
    return -1;
}

static int filter_check_operand(enum filter_op op, const cJSON *operand, const char **why)
{
    switch (op) {
    case FILTER_OP_GT:
    case FILTER_OP_GTE:
    case FILTER_OP_LT:
    case FILTER_OP_LTE:
        if (!cJSON_IsNumber(operand) && !cJSON_IsString(operand)) {
            *why = "needs a number or a string";
            return -1;
        }
        return 0;
    case FILTER_OP_IN:
    case FILTER_OP_NIN:
        if (!cJSON_IsArray(operand)) {
            *why = "needs an array";
            return -1;
        }
        return 0;
    case FILTER_OP_EXISTS:
        if (!cJSON_IsBool(operand)) {
            *why = "needs true or false";
            return -1;
        }
        return 0;
    case FILTER_OP_STARTS_WITH:
    case FILTER_OP_ENDS_WITH:
        if (!cJSON_IsString(operand)) {
            *why = "needs a string";
            return -1;
        }
        return 0;
    default:
        /* $eq, $ne and $contains (which searches arrays too) take any JSON value. */
        return 0;
    }
}

/* Checks the value held by reference key `key`; `prefix` is the path to the key. */
static int filter_check_condition(const char *prefix, const char *key, const cJSON *v, char *err,
                                  size_t errlen)
{
    char why[256];
    if (!filter_has_dollar_key(v))
        return 0;
    for (const cJSON *m = v->child; m != NULL; m = m->next) {
        if (filter_key(m)[0] != '$')
            return filter_fail(prefix, key, "mixes operators and plain keys", err, errlen);
    }
    for (const cJSON *m = v->child; m != NULL; m = m->next) {
        enum filter_op op = filter_op_of(filter_key(m));
        const char *what = NULL;
        if (op == FILTER_OP_UNKNOWN) {
            snprintf(why, sizeof(why), "unknown operator %.*s", FILTER_ERR_KEY, m->string);
            return filter_fail(prefix, key, why, err, errlen);
        }
        if (filter_check_operand(op, m, &what) != 0) {
            snprintf(why, sizeof(why), "%s %s", m->string, what);
            return filter_fail(prefix, key, why, err, errlen);
        }
    }
    return 0;
}

static bool filter_key_is_env(const char *key)
{
    /* Called on a valid reference, whose root ends at '.', '}' or the end. */
    const char *r = key + 1;
    if (*r == '{')
        r++;
    return strncmp(r, "env", 3) == 0 && (r[3] == '.' || r[3] == '}' || r[3] == '\0');
}

/* Checks filter object `f`; `prefix` is its path ("" or "$and/1/"). */
static int filter_check_object(const cJSON *f, const char *prefix, char *err, size_t errlen)
{
    char why[256], sub[512];
    for (const cJSON *m = f->child; m != NULL; m = m->next) {
        const char *key = filter_key(m);
        if (strcmp(key, "$not") == 0) {
            if (!cJSON_IsObject(m))
                return filter_fail(prefix, key, "must be a filter object", err, errlen);
            snprintf(sub, sizeof(sub), "%s$not/", prefix);
            if (filter_check_object(m, sub, err, errlen) != 0)
                return -1;
            continue;
        }
        if (filter_is_logical(key)) {
            if (!cJSON_IsArray(m) || m->child == NULL)
                return filter_fail(prefix, key, "must be a non-empty array of filter objects", err,
                                   errlen);
            size_t i = 0;
            for (const cJSON *e = m->child; e != NULL; e = e->next, i++) {
                snprintf(sub, sizeof(sub), "%s%s/%zu", prefix, key, i);
                if (!cJSON_IsObject(e))
                    return filter_fail(sub, "", "must be a filter object", err, errlen);
                snprintf(sub, sizeof(sub), "%s%s/%zu/", prefix, key, i);
                if (filter_check_object(e, sub, err, errlen) != 0)
                    return -1;
            }
            continue;
        }
        if (filter_op_of(key) != FILTER_OP_UNKNOWN)
            return filter_fail(prefix, key, "operator outside a reference's object", err, errlen);
        if (tmpl_ref_check(key, why, sizeof(why)) != 0)
            return filter_fail(prefix, key, why, err, errlen);
        if (filter_key_is_env(key))
            return filter_fail(prefix, key, "$env is not allowed in a filter", err, errlen);
        if (filter_check_condition(prefix, key, m, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int filter_check(const cJSON *filter, char *err, size_t errlen)
{
    if (filter == NULL)
        return 0;
    if (!cJSON_IsObject(filter)) {
        snprintf(err, errlen, "must be an object");
        return -1;
    }
    /* Once here, so that no later walk (nor equality on operands) can recurse deeper. */
    if (filter_too_deep(filter, FILTER_MAX_DEPTH)) {
        snprintf(err, errlen, "nested deeper than %d levels", FILTER_MAX_DEPTH);
        return -1;
    }
    return filter_check_object(filter, "", err, errlen);
}

/* ---- matching ---- */

/* A member of object `o` named exactly `key`; the first one when keys repeat. */
static const cJSON *filter_member(const cJSON *o, const char *key)
{
    for (const cJSON *m = o->child; m != NULL; m = m->next)
        if (m->string != NULL && strcmp(m->string, key) == 0)
            return m;
    return NULL;
}

/* Deep JSON equality: numbers by value, objects in any member order, arrays in order. */
static bool filter_equal(const cJSON *a, const cJSON *b, int depth)
{
    if (depth > FILTER_MAX_DEPTH)
        return false;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNull(a) || cJSON_IsTrue(a) || cJSON_IsFalse(a))
        return (a->type & 0xFF) == (b->type & 0xFF);
    if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if (!filter_equal(x, y, depth + 1))
                return false;
        return x == NULL && y == NULL;
    }
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return false;
        /* Both ways round, so that repeated keys cannot make unequal objects look equal. */
        for (const cJSON *x = a->child; x != NULL; x = x->next) {
            const cJSON *y = filter_member(b, filter_key(x));
            if (y == NULL || !filter_equal(x, y, depth + 1))
                return false;
        }
        for (const cJSON *y = b->child; y != NULL; y = y->next) {
            const cJSON *x = filter_member(a, filter_key(y));
            if (x == NULL || !filter_equal(x, y, depth + 1))
                return false;
        }
        return true;
    }
    return false;
}

/* Equality of a resolved value (NULL when missing) with an operand: null matches missing. */
static bool filter_value_equals(const cJSON *v, const cJSON *operand)
{
    if (v == NULL)
        return cJSON_IsNull(operand);
    return filter_equal(v, operand, 0);
}

static bool filter_ordered(enum filter_op op, const cJSON *v, const cJSON *operand)
{
    int cmp;
    if (v == NULL)
        return false;
    if (cJSON_IsNumber(v) && cJSON_IsNumber(operand))
        cmp = v->valuedouble < operand->valuedouble   ? -1
              : v->valuedouble > operand->valuedouble ? 1
                                                      : 0;
    else if (cJSON_IsString(v) && cJSON_IsString(operand))
        cmp = strcmp(v->valuestring, operand->valuestring);
    else
        return false;
    switch (op) {
    case FILTER_OP_GT:
        return cmp > 0;
    case FILTER_OP_GTE:
        return cmp >= 0;
    case FILTER_OP_LT:
        return cmp < 0;
    default:
        return cmp <= 0;
    }
}

static bool filter_in(const cJSON *v, const cJSON *list)
{
    for (const cJSON *e = list->child; e != NULL; e = e->next)
        if (filter_value_equals(v, e))
            return true;
    return false;
}

static bool filter_contains(const cJSON *v, const cJSON *operand)
{
    if (cJSON_IsString(v))
        return cJSON_IsString(operand) && strstr(v->valuestring, operand->valuestring) != NULL;
    if (cJSON_IsArray(v))
        return filter_in(operand, v);
    return false;
}

static bool filter_affix(const cJSON *v, const cJSON *operand, bool prefix)
{
    if (!cJSON_IsString(v) || !cJSON_IsString(operand))
        return false;
    size_t n = strlen(v->valuestring), k = strlen(operand->valuestring);
    if (k > n)
        return false;
    const char *at = prefix ? v->valuestring : v->valuestring + n - k;
    return memcmp(at, operand->valuestring, k) == 0;
}

/* Whether operator `op` holds for value `v` (NULL when missing). */
static bool filter_op_holds(enum filter_op op, const cJSON *v, const cJSON *operand)
{
    switch (op) {
    case FILTER_OP_EQ:
        return filter_value_equals(v, operand);
    case FILTER_OP_NE:
        return !filter_value_equals(v, operand);
    case FILTER_OP_GT:
    case FILTER_OP_GTE:
    case FILTER_OP_LT:
    case FILTER_OP_LTE:
        return filter_ordered(op, v, operand);
    case FILTER_OP_IN:
        return cJSON_IsArray(operand) && filter_in(v, operand);
    case FILTER_OP_NIN:
        return cJSON_IsArray(operand) && !filter_in(v, operand);
    case FILTER_OP_EXISTS:
        return cJSON_IsTrue(operand) ? v != NULL : v == NULL;
    case FILTER_OP_CONTAINS:
        return filter_contains(v, operand);
    case FILTER_OP_STARTS_WITH:
        return filter_affix(v, operand, true);
    case FILTER_OP_ENDS_WITH:
        return filter_affix(v, operand, false);
    default:
        return false;
    }
}

static bool filter_condition_holds(const char *key, const cJSON *cond, const struct tmpl_ctx *ctx)
{
    char err[256];
    cJSON *v = NULL;
    bool holds = true;
    if (tmpl_ref_resolve(key, ctx, &v, err, sizeof(err)) != 0)
        return false;
    if (filter_has_dollar_key(cond)) {
        for (const cJSON *m = cond->child; m != NULL && holds; m = m->next)
            holds = filter_op_holds(filter_op_of(filter_key(m)), v, m);
    } else {
        holds = filter_value_equals(v, cond);
    }
    cJSON_Delete(v);
    return holds;
}

static bool filter_object_holds(const cJSON *f, const struct tmpl_ctx *ctx, int depth)
{
    if (depth > FILTER_MAX_DEPTH)
        return false;
    for (const cJSON *m = f->child; m != NULL; m = m->next) {
        const char *key = filter_key(m);
        bool holds;
        if (strcmp(key, "$and") == 0) {
            holds = true;
            for (const cJSON *e = m->child; e != NULL && holds; e = e->next)
                holds = filter_object_holds(e, ctx, depth + 2);
        } else if (strcmp(key, "$or") == 0) {
            holds = false;
            for (const cJSON *e = m->child; e != NULL && !holds; e = e->next)
                holds = filter_object_holds(e, ctx, depth + 2);
        } else if (strcmp(key, "$not") == 0) {
            holds = !filter_object_holds(m, ctx, depth + 1);
        } else {
            holds = filter_condition_holds(key, m, ctx);
        }
        if (!holds)
            return false;
    }
    return true;
}

bool filter_match(const cJSON *filter, const struct tmpl_ctx *ctx)
{
    char err[256];
    if (filter == NULL)
        return true;
    /* A refused filter never matches; checking first also bounds the recursion below. */
    if (filter_check(filter, err, sizeof(err)) != 0)
        return false;
    return filter_object_holds(filter, ctx, 1);
}
