/*
 * jsonschema.c - JSON Schema draft-07 validation over cJSON (see jsonschema.h).
 *
 * Compiling turns a copy of the schema document into a graph of nodes, one per schema
 * object, with every keyword value checked, every regex compiled and every $ref resolved
 * to the node it names, so that validation never meets a problem in the schema itself.
 * $ref follows draft-07: it replaces its sibling keywords and resolves against the base
 * URI that the nearest "$id" sets, so refs between resources embedded in one document
 * work, and only refs that leave the document are refused. A loop of refs and in-place
 * applicators ({"$ref": "#"}, allOf/anyOf/not... back to an ancestor) would apply a schema
 * to the same value forever: it is refused at compile time.
 *
 * Validation collects ajv-style errors {"path", "message"} while it can, and otherwise
 * stops at the first failure: inside anyOf, oneOf, not, if and contains ("quiet") a
 * failure is expected, so nothing is reported from there, only the combinator's summary.
 */
#include "jsonschema.h"

#include "dynbuf.h"
#include "jsonformat.h"
#include "utf8.h"
#include "text.h"
#include "uri.h"
#include "xalloc.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Schema applications nested deeper than this fail the instance rather than the stack. */
#define JS_MAX_DEPTH 4096
/* Schema documents nested deeper than this are refused, for the same reason. */
#define JS_MAX_COMPILE_DEPTH 1024
/*
 * Regex cost bounds, so that a pattern cannot stall ingress: one match may backtrack this
 * much (PCRE2's match limit), and all the matches of one validation together may take this
 * long; past either, the instance is refused as too costly to check. PCRE2's limit is per
 * match and it does not say what a match used, so the shared budget is kept in time.
 */
#define JS_MATCH_LIMIT 100000
#define JS_REGEX_BUDGET_NS (20 * 1000000LL)

enum {
    JS_NULL = 1,
    JS_BOOLEAN = 2,
    JS_OBJECT = 4,
    JS_ARRAY = 8,
    JS_NUMBER = 16,
    JS_STRING = 32,
    JS_INTEGER = 64,
};

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

/* Growable strings (JSON pointers, canonical forms of values, rewritten regexes) are
 * dynbufs without a cap of their own: what they hold is bounded by the schema and the
 * instance, both already in memory, so memory runs out (xalloc.h: abort) long before. */
#define JS_STR_MAX (SIZE_MAX / 4)

struct js_regex {
    pcre2_code *code;
    const char *source;
};

struct js_list {
    struct js_node **v;
    size_t n;
};

struct js_prop {
    const char *name;
    struct js_node *schema;
};

struct js_pattern_prop {
    struct js_regex re;
    struct js_node *schema;
};

/* One "dependencies" entry: either a schema or a list of required names. */
struct js_dep {
    const char *name;
    struct js_node *schema;
    const cJSON *required;
};

struct js_node {
    const cJSON *json;
    bool is_bool, bool_value;
    /* draft-07: a node with $ref is only its target; its siblings are checked, not applied */
    struct js_node *ref;
    const cJSON *type; /* the keyword value, kept to word the error as the schema does */
    unsigned types;
    const cJSON *enum_values, *const_value;
    double minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of; /* NAN: none */
    long min_length, max_length, min_items, max_items, min_properties, max_properties; /* -1 */
    struct js_regex pattern;
    const char *format_name;
    jsonformat_check_fn *format;
    struct js_list all_of, any_of, one_of;
    struct js_node *not_, *if_, *then_, *else_;
    struct js_prop *props;
    size_t n_props;
    const cJSON *required;
    struct js_node *additional_properties;
    struct js_pattern_prop *pattern_props;
    size_t n_pattern_props;
    struct js_node *property_names;
    struct js_dep *deps;
    size_t n_deps;
    struct js_node *items;
    struct js_list item_list;
    bool items_is_list, unique_items;
    struct js_node *additional_items, *contains;
    /* compile time only: the nodes applied to the same instance, for the loop check */
    struct js_list inplace;
    int mark;
    long ref_index;
};

struct jsonschema {
    cJSON *doc;
    struct js_node *root;
    struct js_node **nodes;
    size_t n_nodes, cap_nodes;
    pcre2_general_context *gctx;
};

/* ---- small helpers: growable strings and JSON pointers ---- */

static void str_add(struct dynbuf *s, const char *p, size_t n)
{
    if (dynbuf_add(s, p, n) != 0)
        abort(); /* past JS_STR_MAX: see there */
}

static void str_addz(struct dynbuf *s, const char *p)
{
    str_add(s, p, strlen(p));
}

/* Append "/" + `seg` escaped as a JSON pointer token; returns the length to pop back to. */
static size_t path_push(struct dynbuf *p, const char *seg)
{
    size_t old = dynbuf_len(p);
    str_add(p, "/", 1);
    for (; *seg; seg++) {
        if (*seg == '~')
            str_add(p, "~0", 2);
        else if (*seg == '/')
            str_add(p, "~1", 2);
        else
            str_add(p, seg, 1);
    }
    return old;
}

static size_t path_push_index(struct dynbuf *p, size_t i)
{
    char num[32];
    snprintf(num, sizeof(num), "%zu", i);
    return path_push(p, num);
}

static void path_pop(struct dynbuf *p, size_t old)
{
    dynbuf_truncate(p, old);
}

static const char *str_get(const struct dynbuf *s)
{
    return dynbuf_ptr(s);
}

/* The value at JSON pointer `ptr` (already percent-decoded) inside `root`, or NULL. */
static const cJSON *pointer_get(const cJSON *root, const char *ptr)
{
    const cJSON *cur = root;
    struct dynbuf tok;
    dynbuf_init(&tok, JS_STR_MAX);
    while (cur != NULL && *ptr != '\0') {
        if (*ptr != '/') {
            cur = NULL;
            break;
        }
        ptr++;
        dynbuf_truncate(&tok, 0);
        for (; *ptr != '\0' && *ptr != '/'; ptr++) {
            if (*ptr == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
                str_add(&tok, ptr[1] == '0' ? "~" : "/", 1);
                ptr++;
            } else if (*ptr == '~') {
                cur = NULL;
                break;
            } else {
                str_add(&tok, ptr, 1);
            }
        }
        if (cur == NULL)
            break;
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, dynbuf_ptr(&tok));
        } else if (cJSON_IsArray(cur)) {
            char *end;
            const char *t = dynbuf_ptr(&tok);
            long i = strtol(t, &end, 10);
            bool digits = t[0] >= '0' && t[0] <= '9';
            bool leading_zero = digits && t[1] != '\0' && t[0] == '0';
            bool index = digits && !leading_zero && *end == '\0' && i <= INT_MAX;
            cur = index ? cJSON_GetArrayItem(cur, (int)i) : NULL;
        } else {
            cur = NULL;
        }
    }
    dynbuf_free(&tok);
    return cur;
}

/* ---- regular expressions: ECMA-262 spellings PCRE2 lacks, rewritten ---- */

/* What ECMA-262 calls white space and line terminators, inside a character class. */
#define ECMA_SPACE                                                                                 \
    "\\t\\n\\x0b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"

/* Long general-category names (Unicode PropertyValueAliases) PCRE2 10.42 knows only short. */
static const char category_aliases[] =
    " Letter=L Cased_Letter=LC Uppercase_Letter=Lu Lowercase_Letter=Ll Titlecase_Letter=Lt"
    " Modifier_Letter=Lm Other_Letter=Lo Mark=M Combining_Mark=M Nonspacing_Mark=Mn"
    " Spacing_Mark=Mc Enclosing_Mark=Me Number=N Decimal_Number=Nd digit=Nd Letter_Number=Nl"
    " Other_Number=No Punctuation=P punct=P Connector_Punctuation=Pc Dash_Punctuation=Pd"
    " Open_Punctuation=Ps Close_Punctuation=Pe Initial_Punctuation=Pi Final_Punctuation=Pf"
    " Other_Punctuation=Po Symbol=S Math_Symbol=Sm Currency_Symbol=Sc Modifier_Symbol=Sk"
    " Other_Symbol=So Separator=Z Space_Separator=Zs Line_Separator=Zl Paragraph_Separator=Zp"
    " Other=C Control=Cc cntrl=Cc Format=Cf Surrogate=Cs Private_Use=Co Unassigned=Cn ";

/* Rewrite \p{Name} at `p` (just after "\p" or "\P") into `out`; returns the bytes used. */
static size_t ecma_property(struct dynbuf *out, const char *p)
{
    size_t n = p[0] == '{' ? strcspn(p, "}") : 0;
    if (n == 0 || p[n] != '}')
        return 0;
    const char *name = p + 1;
    size_t len = n - 1;
    static const char *const prefixes[] = {"General_Category=", "gc=", "Script=", "sc="};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t pl = strlen(prefixes[i]);
        if (len > pl && strncmp(name, prefixes[i], pl) == 0) {
            name += pl;
            len -= pl;
        }
    }
    for (const char *a = category_aliases; a[1] != '\0'; a = strchr(a + 1, ' ')) {
        const char *eq = strchr(a + 1, '=');
        if ((size_t)(eq - a - 1) == len && strncmp(a + 1, name, len) == 0) {
            name = eq + 1;
            len = strcspn(name, " ");
            break;
        }
    }
    str_add(out, "{", 1);
    str_add(out, name, len);
    str_add(out, "}", 1);
    return n + 1;
}

/*
 * PCRE2 reads most of ECMA-262's syntax as ECMA does (with the options set in
 * compile_regex); what differs is \s and \S (ECMA's white space is Unicode's, plus U+FEFF)
 * and long property names. A \S inside a class stays PCRE2's ASCII one.
 */
static char *ecma_to_pcre2(const char *src)
{
    struct dynbuf out;
    dynbuf_init(&out, JS_STR_MAX);
    bool in_class = false;
    for (const char *p = src; *p != '\0'; p++) {
        if (*p == '\\' && p[1] != '\0') {
            char c = p[1];
            p++;
            if (c == 's') {
                str_addz(&out, in_class ? ECMA_SPACE : "[" ECMA_SPACE "]");
            } else if (c == 'S' && !in_class) {
                str_addz(&out, "[^" ECMA_SPACE "]");
            } else {
                str_add(&out, p - 1, 2);
                if (c == 'p' || c == 'P')
                    p += ecma_property(&out, p + 1);
            }
            continue;
        }
        str_add(&out, p, 1);
        if (*p == '[' && !in_class) {
            in_class = true;
            /* As in PCRE2, a "]" first in a class is a literal. */
            if (p[1] == '^')
                str_add(&out, ++p, 1);
            if (p[1] == ']')
                str_add(&out, ++p, 1);
        } else if (*p == ']') {
            in_class = false;
        }
    }
    return dynbuf_take(&out, NULL);
}

static void *pcre2_xmalloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return xmalloc(n);
}

static void pcre2_xfree(void *p, void *data)
{
    (void)data;
    free(p);
}

/* ---- compiling ---- */

struct js_uri_target {
    char *uri;
    const cJSON *json;
};

struct js_pending {
    struct js_node *node;
    char *uri;  /* the $ref resolved against its base */
    char *path; /* where the $ref is, for errors */
    const char *text;
};

struct js_compiler {
    struct jsonschema *s;
    char *err;
    size_t errlen;
    struct dynbuf path;
    int depth;
    pcre2_compile_context *cctx;
    /* cJSON pointer -> node, open addressing */
    struct js_node **slots;
    size_t n_slots;
    /* resources (an "$id" without fragment) and plain-name anchors ("$id": "#foo") */
    struct js_uri_target *resources, *anchors;
    size_t n_resources, n_anchors;
    struct js_pending *pending;
    size_t n_pending;
    char **bases;
    size_t n_bases;
};

static int compile_error(struct js_compiler *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write "<message> at <schema path>" into the caller's buffer; returns -1. */
static int compile_error(struct js_compiler *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *where = dynbuf_len(&c->path) > 0 ? dynbuf_ptr(&c->path) : "/";
    if (c->errlen > 0)
        snprintf(c->err, c->errlen, "%s at %s", msg, where);
    return -1;
}

static size_t slot_of(const struct js_compiler *c, const cJSON *json)
{
    uintptr_t h = (uintptr_t)json;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 7) & (c->n_slots - 1);
}

static struct js_node *node_find(const struct js_compiler *c, const cJSON *json)
{
    if (c->n_slots == 0)
        return NULL;
    for (size_t i = slot_of(c, json);; i = (i + 1) & (c->n_slots - 1)) {
        if (c->slots[i] == NULL)
            return NULL;
        if (c->slots[i]->json == json)
            return c->slots[i];
    }
}

static void slot_put(struct js_compiler *c, struct js_node *n)
{
    size_t i = slot_of(c, n->json);
    while (c->slots[i] != NULL)
        i = (i + 1) & (c->n_slots - 1);
    c->slots[i] = n;
}

static struct js_node *node_new(struct js_compiler *c, const cJSON *json)
{
    struct jsonschema *s = c->s;
    if (s->n_nodes == s->cap_nodes) {
        s->cap_nodes = s->cap_nodes ? s->cap_nodes * 2 : 16;
        s->nodes = xrealloc(s->nodes, s->cap_nodes * sizeof(*s->nodes));
    }
    if ((s->n_nodes + 1) * 2 > c->n_slots) {
        free(c->slots);
        c->n_slots = c->n_slots ? c->n_slots * 2 : 64;
        c->slots = xcalloc(c->n_slots, sizeof(*c->slots));
        for (size_t i = 0; i < s->n_nodes; i++)
            slot_put(c, s->nodes[i]);
    }
    struct js_node *n = xcalloc(1, sizeof(*n));
    n->json = json;
    n->minimum = n->maximum = n->exclusive_minimum = n->exclusive_maximum = NAN;
    n->multiple_of = NAN;
    n->min_length = n->max_length = n->min_items = n->max_items = -1;
    n->min_properties = n->max_properties = -1;
    n->ref_index = -1;
    s->nodes[s->n_nodes++] = n;
    slot_put(c, n);
    return n;
}

static const char *keep_base(struct js_compiler *c, char *uri)
{
    c->bases = xrealloc(c->bases, (c->n_bases + 1) * sizeof(*c->bases));
    c->bases[c->n_bases++] = uri;
    return uri;
}

static void add_uri_target(struct js_uri_target **list, size_t *n, const char *uri,
                           const cJSON *json)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].uri, uri) == 0)
            return; /* the first of two equal ids wins */
    *list = xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[*n].uri = xstrdup(uri);
    (*list)[*n].json = json;
    (*n)++;
}

static struct js_node *compile_schema(struct js_compiler *c, const cJSON *json, const char *base);

/* Compile the schema at member `key` (and, when not NULL, name `sub`) of the current one. */
static struct js_node *compile_child(struct js_compiler *c, const cJSON *json, const char *base,
                                     const char *key, const char *sub)
{
    size_t old = path_push(&c->path, key);
    if (sub != NULL)
        path_push(&c->path, sub);
    struct js_node *n = compile_schema(c, json, base);
    if (n != NULL)
        path_pop(&c->path, old);
    return n;
}

static struct js_node *compile_child_index(struct js_compiler *c, const cJSON *json,
                                           const char *base, const char *key, size_t i)
{
    size_t old = path_push(&c->path, key);
    path_push_index(&c->path, i);
    struct js_node *n = compile_schema(c, json, base);
    if (n != NULL)
        path_pop(&c->path, old);
    return n;
}

static int compile_regex(struct js_compiler *c, struct js_regex *re, const char *source,
                         const char *key, const char *sub)
{
    int code;
    PCRE2_SIZE offset;
    char *translated = ecma_to_pcre2(source);
    re->source = source;
    re->code = pcre2_compile((PCRE2_SPTR)translated, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &offset, c->cctx);
    free(translated);
    if (re->code != NULL) {
        /* Where the JIT is available it makes each match several times cheaper; where it is
         * not (or fails), the interpreter runs the same pattern under the same limits. */
        (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
        return 0;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    size_t old = path_push(&c->path, key);
    if (sub != NULL)
        path_push(&c->path, sub);
    if (c->errlen > 0)
        snprintf(c->err, c->errlen, "invalid regular expression at %s: %s", dynbuf_ptr(&c->path),
                 (const char *)msg);
    path_pop(&c->path, old);
    return -1;
}

/*
 * Keyword compilers: each checks its value and fills the node; `field` is the offset of
 * the node member it fills, so one function serves every keyword of a kind.
 */
struct js_keyword {
    const char *name;
    int (*compile)(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                   const struct js_keyword *kw);
    size_t field;
};

#define FIELD(type, n, kw) ((type *)((char *)(n) + (kw)->field))

static int kw_any(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                  const struct js_keyword *kw)
{
    (void)c, (void)n, (void)v, (void)base, (void)kw;
    return 0;
}

static int kw_string(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                     const struct js_keyword *kw)
{
    (void)n, (void)base;
    return cJSON_IsString(v) ? 0 : compile_error(c, "%s must be a string", kw->name);
}

static int kw_boolean(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                      const struct js_keyword *kw)
{
    (void)base;
    if (!cJSON_IsBool(v))
        return compile_error(c, "%s must be a boolean", kw->name);
    if (kw->field != 0)
        *FIELD(bool, n, kw) = cJSON_IsTrue(v);
    return 0;
}

static int kw_array(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                    const struct js_keyword *kw)
{
    (void)base;
    if (!cJSON_IsArray(v))
        return compile_error(c, "%s must be an array", kw->name);
    if (kw->field != 0)
        *FIELD(const cJSON *, n, kw) = v;
    return 0;
}

static int kw_const(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                    const struct js_keyword *kw)
{
    (void)c, (void)base, (void)kw;
    n->const_value = v;
    return 0;
}

static int kw_number(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                     const struct js_keyword *kw)
{
    (void)base;
    if (!cJSON_IsNumber(v))
        return compile_error(c, "%s must be a number", kw->name);
    if (kw->field == offsetof(struct js_node, multiple_of) && !(v->valuedouble > 0))
        return compile_error(c, "multipleOf must be greater than 0");
    *FIELD(double, n, kw) = v->valuedouble;
    return 0;
}

static int kw_count(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                    const struct js_keyword *kw)
{
    (void)base;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 0 && d == floor(d)))
        return compile_error(c, "%s must be a non-negative integer", kw->name);
    *FIELD(long, n, kw) = d > (double)LONG_MAX / 2 ? LONG_MAX / 2 : (long)d;
    return 0;
}

static int kw_schema(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                     const struct js_keyword *kw)
{
    struct js_node *child = compile_child(c, v, base, kw->name, NULL);
    *FIELD(struct js_node *, n, kw) = child;
    return child != NULL ? 0 : -1;
}

static int kw_schema_list(struct js_compiler *c, struct js_node *n, const cJSON *v,
                          const char *base, const struct js_keyword *kw)
{
    int count = cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || count == 0)
        return compile_error(c, "%s must be a non-empty array of schemas", kw->name);
    struct js_list *list = FIELD(struct js_list, n, kw);
    list->v = xcalloc((size_t)count, sizeof(*list->v));
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        list->v[list->n] = compile_child_index(c, e, base, kw->name, list->n);
        if (list->v[list->n++] == NULL)
            return -1;
    }
    return 0;
}

static int kw_items(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                    const struct js_keyword *kw)
{
    if (!cJSON_IsArray(v))
        return kw_schema(c, n, v, base, kw);
    n->items_is_list = true;
    n->item_list.v = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*n->item_list.v));
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        n->item_list.v[n->item_list.n] = compile_child_index(c, e, base, "items", n->item_list.n);
        if (n->item_list.v[n->item_list.n++] == NULL)
            return -1;
    }
    return 0;
}

static int kw_definitions(struct js_compiler *c, struct js_node *n, const cJSON *v,
                          const char *base, const struct js_keyword *kw)
{
    (void)n;
    if (!cJSON_IsObject(v))
        return compile_error(c, "%s must be an object", kw->name);
    for (const cJSON *e = v->child; e != NULL; e = e->next)
        if (compile_child(c, e, base, kw->name, e->string) == NULL)
            return -1;
    return 0;
}

static int kw_properties(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                         const struct js_keyword *kw)
{
    (void)kw;
    if (!cJSON_IsObject(v))
        return compile_error(c, "properties must be an object");
    n->props = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*n->props));
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        struct js_prop *p = &n->props[n->n_props++];
        p->name = e->string;
        p->schema = compile_child(c, e, base, "properties", e->string);
        if (p->schema == NULL)
            return -1;
    }
    return 0;
}

static int kw_pattern_properties(struct js_compiler *c, struct js_node *n, const cJSON *v,
                                 const char *base, const struct js_keyword *kw)
{
    (void)kw;
    if (!cJSON_IsObject(v))
        return compile_error(c, "patternProperties must be an object");
    n->pattern_props = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*n->pattern_props));
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        struct js_pattern_prop *p = &n->pattern_props[n->n_pattern_props++];
        if (compile_regex(c, &p->re, e->string, "patternProperties", e->string) < 0)
            return -1;
        p->schema = compile_child(c, e, base, "patternProperties", e->string);
        if (p->schema == NULL)
            return -1;
    }
    return 0;
}

static bool is_string_array(const cJSON *v)
{
    if (!cJSON_IsArray(v))
        return false;
    for (const cJSON *e = v->child; e != NULL; e = e->next)
        if (!cJSON_IsString(e))
            return false;
    return true;
}

static int kw_required(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                       const struct js_keyword *kw)
{
    (void)base, (void)kw;
    if (!is_string_array(v))
        return compile_error(c, "required must be an array of strings");
    n->required = v;
    return 0;
}

static int kw_dependencies(struct js_compiler *c, struct js_node *n, const cJSON *v,
                           const char *base, const struct js_keyword *kw)
{
    (void)kw;
    if (!cJSON_IsObject(v))
        return compile_error(c, "dependencies must be an object");
    n->deps = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*n->deps));
    for (const cJSON *e = v->child; e != NULL; e = e->next) {
        struct js_dep *d = &n->deps[n->n_deps++];
        d->name = e->string;
        if (cJSON_IsArray(e)) {
            if (!is_string_array(e))
                return compile_error(c, "dependencies/%s must be a schema or an array of strings",
                                     e->string);
            d->required = e;
        } else if ((d->schema = compile_child(c, e, base, "dependencies", e->string)) == NULL) {
            return -1;
        }
    }
    return 0;
}

static int kw_type(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                   const struct js_keyword *kw)
{
    (void)base, (void)kw;
    bool one = cJSON_IsString(v);
    if (!one && !cJSON_IsArray(v))
        return compile_error(c, "type must be a type name or an array of distinct ones");
    for (const cJSON *e = one ? v : v->child; e != NULL; e = one ? NULL : e->next) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
            if (cJSON_IsString(e) && strcmp(e->valuestring, type_names[i]) == 0)
                bit = 1u << i;
        if (bit == 0 || (n->types & bit) != 0)
            return compile_error(c, "type must be a type name or an array of distinct ones");
        n->types |= bit;
    }
    n->type = v;
    return 0;
}

static int kw_pattern(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                      const struct js_keyword *kw)
{
    (void)base, (void)kw;
    if (!cJSON_IsString(v))
        return compile_error(c, "pattern must be a string");
    return compile_regex(c, &n->pattern, v->valuestring, "pattern", NULL);
}

static int kw_format(struct js_compiler *c, struct js_node *n, const cJSON *v, const char *base,
                     const struct js_keyword *kw)
{
    (void)base, (void)kw;
    if (!cJSON_IsString(v))
        return compile_error(c, "format must be a string");
    n->format = jsonformat_find(v->valuestring);
    if (n->format == NULL)
        return compile_error(c, "unknown format \"%s\"", v->valuestring);
    n->format_name = v->valuestring;
    return 0;
}

#define AT(member) offsetof(struct js_node, member)

static const struct js_keyword keywords[] = {
    {"$schema", kw_string, 0},
    {"$id", kw_string, 0},
    {"$ref", kw_string, 0},
    {"$comment", kw_string, 0},
    {"title", kw_string, 0},
    {"description", kw_string, 0},
    {"default", kw_any, 0},
    {"examples", kw_array, 0},
    {"readOnly", kw_boolean, 0},
    {"writeOnly", kw_boolean, 0},
    {"contentMediaType", kw_string, 0},
    {"contentEncoding", kw_string, 0},
    {"definitions", kw_definitions, 0},
    {"$defs", kw_definitions, 0},
    {"type", kw_type, 0},
    {"enum", kw_array, AT(enum_values)},
    {"const", kw_const, 0},
    {"minimum", kw_number, AT(minimum)},
    {"maximum", kw_number, AT(maximum)},
    {"exclusiveMinimum", kw_number, AT(exclusive_minimum)},
    {"exclusiveMaximum", kw_number, AT(exclusive_maximum)},
    {"multipleOf", kw_number, AT(multiple_of)},
    {"minLength", kw_count, AT(min_length)},
    {"maxLength", kw_count, AT(max_length)},
    {"pattern", kw_pattern, 0},
    {"format", kw_format, 0},
    {"minItems", kw_count, AT(min_items)},
    {"maxItems", kw_count, AT(max_items)},
    {"uniqueItems", kw_boolean, AT(unique_items)},
    {"items", kw_items, AT(items)},
    {"additionalItems", kw_schema, AT(additional_items)},
    {"contains", kw_schema, AT(contains)},
    {"minProperties", kw_count, AT(min_properties)},
    {"maxProperties", kw_count, AT(max_properties)},
    {"required", kw_required, 0},
    {"properties", kw_properties, 0},
    {"patternProperties", kw_pattern_properties, 0},
    {"additionalProperties", kw_schema, AT(additional_properties)},
    {"propertyNames", kw_schema, AT(property_names)},
    {"dependencies", kw_dependencies, 0},
    {"allOf", kw_schema_list, AT(all_of)},
    {"anyOf", kw_schema_list, AT(any_of)},
    {"oneOf", kw_schema_list, AT(one_of)},
    {"not", kw_schema, AT(not_)},
    {"if", kw_schema, AT(if_)},
    {"then", kw_schema, AT(then_)},
    {"else", kw_schema, AT(else_)},
};

static const struct js_keyword *keyword_find(const char *name)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcmp(keywords[i].name, name) == 0)
            return &keywords[i];
    return NULL;
}

/* Note the resource or anchor an "$id" names; returns the base for the schema's members. */
static const char *apply_id(struct js_compiler *c, const cJSON *json, const char *id,
                            const char *base)
{
    char *uri = uri_resolve(base, id);
    char *hash = strchr(uri, '#');
    if (hash != NULL && hash[1] != '\0')
        add_uri_target(&c->anchors, &c->n_anchors, uri, json);
    if (hash != NULL)
        *hash = '\0';
    if (id[0] == '#') {
        free(uri);
        return base;
    }
    add_uri_target(&c->resources, &c->n_resources, uri, json);
    return keep_base(c, uri);
}

static struct js_node *compile_schema(struct js_compiler *c, const cJSON *json, const char *base)
{
    if (cJSON_IsBool(json)) {
        struct js_node *n = node_find(c, json);
        if (n == NULL) {
            n = node_new(c, json);
            n->is_bool = true;
            n->bool_value = cJSON_IsTrue(json);
        }
        return n;
    }
    if (!cJSON_IsObject(json)) {
        compile_error(c, "schema must be an object or a boolean");
        return NULL;
    }
    if (c->depth >= JS_MAX_COMPILE_DEPTH) {
        compile_error(c, "schema nested too deeply");
        return NULL;
    }
    struct js_node *n = node_find(c, json);
    if (n != NULL)
        return n;
    n = node_new(c, json);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(json, "$ref");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "$id");
    if (ref != NULL && !cJSON_IsString(ref)) {
        compile_error(c, "$ref must be a string");
        return NULL;
    }
    /* draft-07 ignores every sibling of $ref, "$id" included. */
    if (ref == NULL && cJSON_IsString(id))
        base = apply_id(c, json, id->valuestring, base);
    if (ref != NULL) {
        c->pending = xrealloc(c->pending, (c->n_pending + 1) * sizeof(*c->pending));
        struct js_pending *p = &c->pending[c->n_pending];
        p->node = n;
        p->uri = uri_resolve(base, ref->valuestring);
        p->path = xstrdup(str_get(&c->path));
        p->text = ref->valuestring;
        n->ref_index = (long)c->n_pending++;
    }
    c->depth++;
    for (const cJSON *m = json->child; m != NULL; m = m->next) {
        for (const cJSON *prev = json->child; prev != m; prev = prev->next) {
            if (strcmp(prev->string, m->string) == 0) {
                compile_error(c, "duplicate keyword \"%s\"", m->string);
                return NULL;
            }
        }
        const struct js_keyword *kw = keyword_find(m->string);
        if (kw == NULL) {
            compile_error(c, "unsupported keyword \"%s\"", m->string);
            return NULL;
        }
        if (kw->compile(c, n, m, base, kw) < 0)
            return NULL;
    }
    c->depth--;
    return n;
}

/* Point every $ref at its node, compiling targets that were no schema position yet. */
static int resolve_refs(struct js_compiler *c)
{
    for (size_t i = 0; i < c->n_pending; i++) {
        struct js_pending *p = &c->pending[i];
        char *hash = strchr(p->uri, '#');
        const char *frag = hash != NULL ? hash + 1 : "";
        size_t doc_len = hash != NULL ? (size_t)(hash - p->uri) : strlen(p->uri);
        const struct js_uri_target *res = NULL;
        for (size_t k = 0; k < c->n_resources && res == NULL; k++)
            if (strlen(c->resources[k].uri) == doc_len &&
                strncmp(c->resources[k].uri, p->uri, doc_len) == 0)
                res = &c->resources[k];
        path_pop(&c->path, 0);
        str_addz(&c->path, p->path);
        if (res == NULL)
            return compile_error(c, "unsupported remote $ref \"%s\"", p->text);
        const cJSON *target = NULL;
        if (frag[0] == '\0' || frag[0] == '/') {
            char *decoded = text_uri_decode(frag);
            target = decoded != NULL ? pointer_get(res->json, decoded) : NULL;
            free(decoded);
        } else {
            for (size_t k = 0; k < c->n_anchors && target == NULL; k++)
                if (strcmp(c->anchors[k].uri, p->uri) == 0)
                    target = c->anchors[k].json;
        }
        if (target == NULL)
            return compile_error(c, "unresolvable $ref \"%s\"", p->text);
        struct js_node *node = node_find(c, target);
        if (node == NULL) {
            /* A pointer to a place no keyword made a schema: compile it as one now. */
            path_pop(&c->path, 0);
            str_addz(&c->path, frag);
            node = compile_schema(c, target, res->uri);
            if (node == NULL)
                return -1;
        }
        c->pending[i].node->ref = node;
    }
    return 0;
}

static void list_add(struct js_list *l, struct js_node *n)
{
    if (n == NULL)
        return;
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = n;
}

/* The nodes `n` applies to the very value it is given. */
static void collect_inplace(struct js_node *n)
{
    if (n->ref != NULL) {
        list_add(&n->inplace, n->ref);
        return;
    }
    const struct js_list *lists[] = {&n->all_of, &n->any_of, &n->one_of};
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < lists[i]->n; k++)
            list_add(&n->inplace, lists[i]->v[k]);
    list_add(&n->inplace, n->not_);
    list_add(&n->inplace, n->if_);
    list_add(&n->inplace, n->then_);
    list_add(&n->inplace, n->else_);
    for (size_t k = 0; k < n->n_deps; k++)
        list_add(&n->inplace, n->deps[k].schema);
}

/* Refuse a cycle of in-place applications: depth-first search without recursion. */
static int check_ref_loops(struct js_compiler *c)
{
    struct jsonschema *s = c->s;
    struct js_node **stack = xcalloc(s->n_nodes + 1, sizeof(*stack));
    size_t *next = xcalloc(s->n_nodes + 1, sizeof(*next));
    int rc = 0;
    for (size_t i = 0; i < s->n_nodes; i++)
        collect_inplace(s->nodes[i]);
    for (size_t i = 0; i < s->n_nodes && rc == 0; i++) {
        if (s->nodes[i]->mark != 0)
            continue;
        size_t top = 0;
        stack[0] = s->nodes[i];
        next[0] = 0;
        stack[0]->mark = 1;
        while (rc == 0) {
            struct js_node *n = stack[top];
            if (next[top] == n->inplace.n) {
                n->mark = 2;
                if (top-- == 0)
                    break;
                continue;
            }
            struct js_node *child = n->inplace.v[next[top]++];
            if (child->mark == 0) {
                child->mark = 1;
                stack[++top] = child;
                next[top] = 0;
            } else if (child->mark == 1) {
                /* Any cycle goes through a $ref: name the innermost one. */
                size_t k = top;
                while (stack[k]->ref_index < 0 && k > 0)
                    k--;
                if (stack[k]->ref_index < 0) {
                    rc = compile_error(c, "circular schema");
                    break;
                }
                const struct js_pending *p = &c->pending[stack[k]->ref_index];
                path_pop(&c->path, 0);
                str_addz(&c->path, p->path);
                rc = compile_error(c, "circular $ref \"%s\"", p->text);
            }
        }
    }
    free(stack);
    free(next);
    return rc;
}

static void node_free(struct js_node *n)
{
    free(n->all_of.v);
    free(n->any_of.v);
    free(n->one_of.v);
    free(n->props);
    for (size_t i = 0; i < n->n_pattern_props; i++)
        pcre2_code_free(n->pattern_props[i].re.code);
    free(n->pattern_props);
    free(n->deps);
    free(n->item_list.v);
    free(n->inplace.v);
    pcre2_code_free(n->pattern.code);
    free(n);
}

void jsonschema_free(struct jsonschema *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_nodes; i++)
        node_free(s->nodes[i]);
    free(s->nodes);
    pcre2_general_context_free(s->gctx);
    cJSON_Delete(s->doc);
    free(s);
}

int jsonschema_compile(const cJSON *schema, struct jsonschema **out, char *err, size_t errlen)
{
    struct js_compiler c = {.err = err, .errlen = errlen};
    dynbuf_init(&c.path, JS_STR_MAX);
    int rc = -1;
    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (schema == NULL) {
        snprintf(err, errlen, "schema must be an object or a boolean at /");
        return -1;
    }
    c.s = xcalloc(1, sizeof(*c.s));
    c.s->gctx = pcre2_general_context_create(pcre2_xmalloc, pcre2_xfree, NULL);
    c.cctx = pcre2_compile_context_create(c.s->gctx);
    pcre2_set_compile_extra_options(c.cctx, PCRE2_EXTRA_ALT_BSUX);
    c.s->doc = cJSON_Duplicate(schema, true);
    if (c.s->doc == NULL) {
        snprintf(err, errlen, "schema could not be copied");
        goto out_free;
    }
    add_uri_target(&c.resources, &c.n_resources, "", c.s->doc);
    c.s->root = compile_schema(&c, c.s->doc, "");
    if (c.s->root == NULL || resolve_refs(&c) < 0 || check_ref_loops(&c) < 0)
        goto out_free;
    for (size_t i = 0; i < c.s->n_nodes; i++) {
        free(c.s->nodes[i]->inplace.v);
        c.s->nodes[i]->inplace.v = NULL;
    }
    *out = c.s;
    c.s = NULL;
    rc = 0;
out_free:
    jsonschema_free(c.s);
    pcre2_compile_context_free(c.cctx);
    dynbuf_free(&c.path);
    free(c.slots);
    for (size_t i = 0; i < c.n_resources; i++)
        free(c.resources[i].uri);
    free(c.resources);
    for (size_t i = 0; i < c.n_anchors; i++)
        free(c.anchors[i].uri);
    free(c.anchors);
    for (size_t i = 0; i < c.n_pending; i++) {
        free(c.pending[i].uri);
        free(c.pending[i].path);
    }
    free(c.pending);
    for (size_t i = 0; i < c.n_bases; i++)
        free(c.bases[i]);
    free(c.bases);
    return rc;
}

/* ---- validating ---- */

struct js_vctx {
    cJSON *errors;
    int max, count, quiet, depth;
    struct dynbuf path; /* JSON pointer of the instance location */
    const struct jsonschema *s;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    long long regex_ns; /* time spent matching so far, against JS_REGEX_BUDGET_NS */
    /* Set once a regex was too costly; then the validation fails with this one error. */
    char *costly_path, *costly_msg;
};

/* Whether a failure now is reported, or can end the validation at once. */
static bool collecting(const struct js_vctx *v)
{
    return v->errors != NULL && v->quiet == 0 && v->count < v->max;
}

static bool fail(struct js_vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report an error at the current instance path when collecting; returns false. */
static bool fail(struct js_vctx *v, const char *fmt, ...)
{
    if (!collecting(v))
        return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "path", str_get(&v->path));
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddItemToArray(v->errors, e);
    v->count++;
    return false;
}

/* A number as JavaScript would print it in most cases: integers plainly, others shortest. */
static const char *num_text(double d, char *buf, size_t len)
{
    if (d == floor(d) && fabs(d) < 1e21) {
        snprintf(buf, len, "%.0f", d);
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

/* U+0000 in a string's whole text (see jsonschema.h). */
#define JS_NUL "\xC0\x80"

/* A string's whole text: its raw child's when it has one (see jsonschema.h). */
static const char *js_whole(const cJSON *x)
{
    if (x->child != NULL && cJSON_IsRaw(x->child) && x->child->valuestring != NULL)
        return x->child->valuestring;
    return x->valuestring;
}

static bool json_equal(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return false;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a))
        return strcmp(js_whole(a), js_whole(b)) == 0;
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if (!json_equal(x, y))
                return false;
        return x == NULL && y == NULL;
    }
    if (cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return false;
        for (const cJSON *x = a->child; x != NULL; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (y == NULL || !json_equal(x, y))
                return false;
        }
    }
    return true;
}

/*
 * The canonical form of a value, appended to `out`: equal values (json_equal) give equal
 * bytes and unequal ones unequal bytes, so that items compare by memcmp. Numbers are their
 * double's bits (1 and 1.0 alike, -0 as 0), strings and names carry their length, and
 * object members go in name order (members in any order alike). Each part is
 * self-delimiting, so concatenations cannot be confused.
 */
static void canon_add(struct dynbuf *out, const cJSON *x);

static int member_order(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void canon_add_str(struct dynbuf *out, char tag, const char *p)
{
    uint64_t n = strlen(p);
    str_add(out, &tag, 1);
    str_add(out, (const char *)&n, sizeof(n));
    str_add(out, p, n);
}

static void canon_add(struct dynbuf *out, const cJSON *x)
{
    if (cJSON_IsNumber(x)) {
        double d = x->valuedouble == 0 ? 0 : x->valuedouble;
        str_add(out, "d", 1);
        str_add(out, (const char *)&d, sizeof(d));
    } else if (cJSON_IsString(x)) {
        canon_add_str(out, 's', js_whole(x));
    } else if (cJSON_IsArray(x)) {
        str_add(out, "[", 1);
        for (const cJSON *e = x->child; e != NULL; e = e->next)
            canon_add(out, e);
        str_add(out, "]", 1);
    } else if (cJSON_IsObject(x)) {
        size_t n = 0;
        for (const cJSON *e = x->child; e != NULL; e = e->next)
            n++;
        const cJSON **m = xmalloc((n > 0 ? n : 1) * sizeof(*m));
        n = 0;
        for (const cJSON *e = x->child; e != NULL; e = e->next)
            m[n++] = e;
        qsort(m, n, sizeof(*m), member_order);
        str_add(out, "{", 1);
        for (size_t i = 0; i < n; i++) {
            canon_add_str(out, 'k', m[i]->string);
            canon_add(out, m[i]);
        }
        str_add(out, "}", 1);
        free(m);
    } else {
        str_add(out, cJSON_IsNull(x) ? "n" : cJSON_IsTrue(x) ? "t" : "f", 1);
    }
}

struct js_item {
    uint64_t hash;
    size_t off, len; /* the canonical form, in the shared buffer */
    long index;
};

static int item_cmp_value(const struct js_item *x, const struct js_item *y, const char *buf)
{
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(buf + x->off, buf + y->off, x->len);
}

static int item_order(const void *a, const void *b, void *buf)
{
    const struct js_item *x = a, *y = b;
    int c = item_cmp_value(x, y, buf);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Whether array `x` repeats an item, naming the pair as ajv does: the last item that has a
 * later equal one (*first) and the earliest such later one (*second). Items are sorted by
 * a keyed hash of their canonical form, then by the form itself, so equal items end up
 * side by side: O(n log n) compares whatever the items, since a client that chose items
 * to collide cannot know the hash's key, and a collision costs one memcmp, not a rescan.
 */
static bool find_duplicate(const cJSON *x, long len, long *first, long *second)
{
    if (len < 2)
        return false;
    struct js_item *items = xmalloc((size_t)len * sizeof(*items));
    struct dynbuf buf;
    dynbuf_init(&buf, JS_STR_MAX);
    long n = 0;
    for (const cJSON *e = x->child; e != NULL && n < len; e = e->next, n++) {
        size_t off = dynbuf_len(&buf);
        canon_add(&buf, e);
        items[n] = (struct js_item){0, off, dynbuf_len(&buf) - off, n};
    }
    const char *text = dynbuf_ptr(&buf);
    for (long i = 0; i < n; i++)
        items[i].hash = text_hash_keyed(text + items[i].off, items[i].len);
    qsort_r(items, (size_t)n, sizeof(*items), item_order, (void *)text);
    *first = -1;
    for (long a = 0; a + 1 < n; a++) {
        /* Within a run of equal items (sorted by index) each one's next equal is the next
         * in the run; the run's pair ajv would name is its last two. */
        if (item_cmp_value(&items[a], &items[a + 1], text) == 0 &&
            (a + 2 >= n || item_cmp_value(&items[a + 1], &items[a + 2], text) != 0) &&
            items[a].index > *first) {
            *first = items[a].index;
            *second = items[a + 1].index;
        }
    }
    dynbuf_free(&buf);
    free(items);
    return *first >= 0;
}

static unsigned instance_type(const cJSON *x)
{
    if (cJSON_IsNull(x))
        return JS_NULL;
    if (cJSON_IsBool(x))
        return JS_BOOLEAN;
    if (cJSON_IsObject(x))
        return JS_OBJECT;
    if (cJSON_IsArray(x))
        return JS_ARRAY;
    if (cJSON_IsString(x))
        return JS_STRING;
    if (cJSON_IsNumber(x))
        return x->valuedouble == floor(x->valuedouble) ? JS_NUMBER | JS_INTEGER : JS_NUMBER;
    return 0;
}

static bool is_multiple(double x, double m)
{
    double q = x / m;
    if (isinf(q))
        return fmod(x, m) == 0;
    /* Decimal divisors (0.01) are inexact in binary: allow a few ulps of the quotient. */
    return fabs(q - nearbyint(q)) <= 8 * DBL_EPSILON * fmax(1.0, fabs(q));
}

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Whether `re` matches somewhere in `s`. A match past the regex limits (JS_MATCH_LIMIT for
 * one, JS_REGEX_BUDGET_NS for all of this validation) marks the validation too costly: it
 * then fails whatever else holds, since counting such a pattern as a match or as no match
 * could each turn a wrong instance valid (through "not", for one).
 */
static bool regex_search(struct js_vctx *v, const struct js_regex *re, const char *s)
{
    if (v->costly_msg != NULL)
        return false;
    if (v->md == NULL) {
        v->md = pcre2_match_data_create(1, v->s->gctx);
        v->mctx = pcre2_match_context_create(v->s->gctx);
        pcre2_set_match_limit(v->mctx, JS_MATCH_LIMIT);
        pcre2_set_depth_limit(v->mctx, JS_MATCH_LIMIT);
    }
    int rc = PCRE2_ERROR_MATCHLIMIT;
    /* PCRE2 takes the NULs themselves, given a length. */
    char *with_nuls = NULL;
    size_t len = strlen(s);
    if (strstr(s, JS_NUL) != NULL) {
        with_nuls = xmalloc(len + 1);
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (memcmp(s + i, JS_NUL, 2) == 0) {
                with_nuls[o++] = '\0';
                i++;
            } else {
                with_nuls[o++] = s[i];
            }
        }
        len = o;
        s = with_nuls;
    }
    if (v->regex_ns < JS_REGEX_BUDGET_NS) {
        long long t0 = mono_ns();
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, v->md, v->mctx);
        v->regex_ns += mono_ns() - t0;
    }
    free(with_nuls);
    if (rc >= 0)
        return true;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        v->costly_path = xstrdup(str_get(&v->path));
        v->costly_msg = xasprintf("pattern \"%.200s%s\" is too costly to evaluate on this value",
                                  re->source, strlen(re->source) > 200 ? "..." : "");
    }
    /* Other errors (invalid UTF-8) count as no match. */
    return false;
}

static bool validate(struct js_vctx *v, const struct js_node *n, const cJSON *x);

/* Whether `x` is valid against `n`, reporting nothing. */
static bool passes(struct js_vctx *v, const struct js_node *n, const cJSON *x)
{
    v->quiet++;
    bool ok = validate(v, n, x);
    v->quiet--;
    return ok;
}

static bool check_generic(struct js_vctx *v, const struct js_node *n, const cJSON *x)
{
    bool ok = true;
    if (n->types != 0 && (n->types & instance_type(x)) == 0) {
        if (cJSON_IsString(n->type)) {
            ok = fail(v, "must be %s", n->type->valuestring);
        } else {
            struct dynbuf names;
            dynbuf_init(&names, JS_STR_MAX);
            for (const cJSON *e = n->type->child; e != NULL; e = e->next) {
                str_addz(&names, e->valuestring);
                if (e->next != NULL)
                    str_add(&names, ",", 1);
            }
            ok = fail(v, "must be %s", str_get(&names));
            dynbuf_free(&names);
        }
    }
    if (n->enum_values != NULL) {
        const cJSON *e = n->enum_values->child;
        while (e != NULL && !json_equal(e, x))
            e = e->next;
        if (e == NULL)
            ok = fail(v, "must be equal to one of the allowed values");
    }
    if (n->const_value != NULL && !json_equal(n->const_value, x))
        ok = fail(v, "must be equal to constant");
    return ok;
}

static bool check_number(struct js_vctx *v, const struct js_node *n, double d)
{
    bool ok = true;
    char num[64];
    if (!isnan(n->maximum) && !(d <= n->maximum))
        ok = fail(v, "must be <= %s", num_text(n->maximum, num, sizeof(num)));
    if (!isnan(n->minimum) && !(d >= n->minimum))
        ok = fail(v, "must be >= %s", num_text(n->minimum, num, sizeof(num)));
    if (!isnan(n->exclusive_maximum) && !(d < n->exclusive_maximum))
        ok = fail(v, "must be < %s", num_text(n->exclusive_maximum, num, sizeof(num)));
    if (!isnan(n->exclusive_minimum) && !(d > n->exclusive_minimum))
        ok = fail(v, "must be > %s", num_text(n->exclusive_minimum, num, sizeof(num)));
    if (!isnan(n->multiple_of) && !is_multiple(d, n->multiple_of))
        ok = fail(v, "must be multiple of %s", num_text(n->multiple_of, num, sizeof(num)));
    return ok;
}

static bool check_string(struct js_vctx *v, const struct js_node *n, const char *s)
{
    bool ok = true;
    if (n->max_length >= 0 || n->min_length >= 0) {
        size_t chars = utf8_chars(s);
        if (n->max_length >= 0 && chars > (size_t)n->max_length)
            ok = fail(v, "must NOT have more than %ld characters", n->max_length);
        if (n->min_length >= 0 && chars < (size_t)n->min_length)
            ok = fail(v, "must NOT have fewer than %ld characters", n->min_length);
    }
    if (n->pattern.code != NULL && !regex_search(v, &n->pattern, s))
        ok = fail(v, "must match pattern \"%s\"", n->pattern.source);
    /* None of the formats allows U+0000, which their checkers could not see. */
    if (n->format != NULL && (strstr(s, JS_NUL) != NULL || !n->format(s)))
        ok = fail(v, "must match format \"%s\"", n->format_name);
    return ok;
}

static bool check_array(struct js_vctx *v, const struct js_node *n, const cJSON *x)
{
    bool ok = true;
    long len = cJSON_GetArraySize(x);
    if (n->max_items >= 0 && len > n->max_items)
        ok = fail(v, "must NOT have more than %ld items", n->max_items);
    if (n->min_items >= 0 && len < n->min_items)
        ok = fail(v, "must NOT have fewer than %ld items", n->min_items);
    size_t i = 0;
    bool too_many = false;
    for (const cJSON *e = x->child; e != NULL && (ok || collecting(v)); e = e->next, i++) {
        const struct js_node *schema = n->items_is_list ? NULL : n->items;
        if (n->items_is_list)
            schema = i < n->item_list.n ? n->item_list.v[i] : n->additional_items;
        if (schema == NULL)
            continue;
        if (schema->is_bool && !schema->bool_value && n->items_is_list && i >= n->item_list.n) {
            too_many = true;
            continue;
        }
        size_t old = path_push_index(&v->path, i);
        if (!validate(v, schema, e))
            ok = false;
        path_pop(&v->path, old);
    }
    if (too_many)
        ok = fail(v, "must NOT have more than %zu items", n->item_list.n);
    if (n->contains != NULL) {
        const cJSON *e = x->child;
        while (e != NULL && !passes(v, n->contains, e))
            e = e->next;
        if (e == NULL)
            ok = fail(v, "must contain at least 1 valid item(s)");
    }
    long first, second;
    if (n->unique_items && find_duplicate(x, len, &first, &second))
        ok = fail(v, "must NOT have duplicate items (items ## %ld and %ld are identical)", second,
                  first);
    return ok;
}

static bool check_object(struct js_vctx *v, const struct js_node *n, const cJSON *x)
{
    bool ok = true;
    long count = cJSON_GetArraySize(x);
    if (n->max_properties >= 0 && count > n->max_properties)
        ok = fail(v, "must NOT have more than %ld properties", n->max_properties);
    if (n->min_properties >= 0 && count < n->min_properties)
        ok = fail(v, "must NOT have fewer than %ld properties", n->min_properties);
    for (const cJSON *r = n->required ? n->required->child : NULL; r != NULL; r = r->next)
        if (cJSON_GetObjectItemCaseSensitive(x, r->valuestring) == NULL)
            ok = fail(v, "must have required property '%s'", r->valuestring);
    for (size_t i = 0; i < n->n_deps && (ok || collecting(v)); i++) {
        const struct js_dep *d = &n->deps[i];
        if (cJSON_GetObjectItemCaseSensitive(x, d->name) == NULL)
            continue;
        if (d->schema != NULL && !validate(v, d->schema, x))
            ok = false;
        for (const cJSON *r = d->required ? d->required->child : NULL; r != NULL; r = r->next)
            if (cJSON_GetObjectItemCaseSensitive(x, r->valuestring) == NULL)
                ok = fail(v, "must have property %s when property %s is present", r->valuestring,
                          d->name);
    }
    if (n->property_names != NULL) {
        for (const cJSON *m = x->child; m != NULL; m = m->next) {
            cJSON name = {0};
            name.type = cJSON_String;
            name.valuestring = m->string;
            if (!passes(v, n->property_names, &name)) {
                ok = fail(v, "property name must be valid");
                break;
            }
        }
    }
    for (const cJSON *m = x->child; m != NULL && (ok || collecting(v)); m = m->next) {
        size_t old = path_push(&v->path, m->string);
        bool matched = false;
        for (size_t i = 0; i < n->n_props; i++) {
            if (strcmp(n->props[i].name, m->string) != 0)
                continue;
            matched = true;
            if (!validate(v, n->props[i].schema, m))
                ok = false;
        }
        for (size_t i = 0; i < n->n_pattern_props; i++) {
            if (!regex_search(v, &n->pattern_props[i].re, m->string))
                continue;
            matched = true;
            if (!validate(v, n->pattern_props[i].schema, m))
                ok = false;
        }
        const struct js_node *add = n->additional_properties;
        if (!matched && add != NULL) {
            if (add->is_bool && !add->bool_value) {
                /* At the object's path, as ajv reports it, naming the property. */
                path_pop(&v->path, old);
                ok = fail(v, "must NOT have additional property \"%.200s%s\"", m->string,
                          strlen(m->string) > 200 ? "..." : "");
                continue;
            } else if (!validate(v, add, m)) {
                ok = false;
            }
        }
        path_pop(&v->path, old);
    }
    return ok;
}

static bool check_combinators(struct js_vctx *v, const struct js_node *n, const cJSON *x)
{
    bool ok = true;
    for (size_t i = 0; i < n->all_of.n && (ok || collecting(v)); i++)
        if (!validate(v, n->all_of.v[i], x))
            ok = false;
    if (n->any_of.n > 0) {
        size_t i = 0;
        while (i < n->any_of.n && !passes(v, n->any_of.v[i], x))
            i++;
        if (i == n->any_of.n)
            ok = fail(v, "must match a schema in anyOf");
    }
    if (n->one_of.n > 0) {
        size_t valid = 0;
        for (size_t i = 0; i < n->one_of.n && valid < 2; i++)
            if (passes(v, n->one_of.v[i], x))
                valid++;
        if (valid != 1)
            ok = fail(v, "must match exactly one schema in oneOf");
    }
    if (n->not_ != NULL && passes(v, n->not_, x))
        ok = fail(v, "must NOT be valid");
    if (n->if_ != NULL && (ok || collecting(v))) {
        bool cond = passes(v, n->if_, x);
        const struct js_node *branch = cond ? n->then_ : n->else_;
        if (branch != NULL && !validate(v, branch, x))
            ok = fail(v, "must match \"%s\" schema", cond ? "then" : "else");
    }
    return ok;
}

static bool validate(struct js_vctx *v, const struct js_node *n, const cJSON *x)
{
    if (n->is_bool)
        return n->bool_value ? true : fail(v, "boolean schema is false");
    if (v->costly_msg != NULL)
        return false;
    if (v->depth >= JS_MAX_DEPTH)
        return fail(v, "schema applications nested too deeply");
    v->depth++;
    bool ok;
    if (n->ref != NULL) {
        ok = validate(v, n->ref, x);
    } else {
        ok = check_generic(v, n, x);
        if (ok || collecting(v)) {
            if (cJSON_IsNumber(x))
                ok = check_number(v, n, x->valuedouble) && ok;
            else if (cJSON_IsString(x))
                ok = check_string(v, n, js_whole(x)) && ok;
            else if (cJSON_IsArray(x))
                ok = check_array(v, n, x) && ok;
            else if (cJSON_IsObject(x))
                ok = check_object(v, n, x) && ok;
        }
        if (ok || collecting(v))
            ok = check_combinators(v, n, x) && ok;
    }
    v->depth--;
    return ok;
}

bool jsonschema_validate(const struct jsonschema *s, const cJSON *instance, cJSON *errors,
                         int max_errors)
{
    struct js_vctx v = {.errors = errors, .max = max_errors, .s = s};
    dynbuf_init(&v.path, JS_STR_MAX);
    bool ok;
    if (instance == NULL)
        ok = fail(&v, "must be a JSON value");
    else
        ok = validate(&v, s->root, instance);
    if (v.costly_msg != NULL) {
        /* What was found before may be wrong, and what follows went unchecked: say only
         * why the instance cannot be checked. */
        ok = false;
        for (int i = 0; errors != NULL && i < v.count; i++)
            cJSON_DeleteItemFromArray(errors, cJSON_GetArraySize(errors) - 1);
        if (errors != NULL && max_errors > 0) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "path", v.costly_path);
            cJSON_AddStringToObject(e, "message", v.costly_msg);
            cJSON_AddItemToArray(errors, e);
        }
    }
    free(v.costly_path);
    free(v.costly_msg);
    dynbuf_free(&v.path);
    pcre2_match_data_free(v.md);
    pcre2_match_context_free(v.mctx);
    return ok;
}
