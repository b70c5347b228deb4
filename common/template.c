/*
 * template.c - the bridge template language (see template.h for the syntax and values).
 *
 * One small tokenizer (tmpl_next) defines the syntax; checking, rendering and the filter's
 * single-reference lookups all walk its tokens, so they can never disagree about what a
 * template means. Templates are short and parsed afresh on every call: nothing is cached
 * and there is no global state.
 */
#include "template.h"

#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Payload templates come from the admin API: bound the recursion over them. */
#define TMPL_MAX_DEPTH 64

/* Longest root or field name quoted back in an error message. */
#define TMPL_ERR_NAME 64

enum tmpl_root {
    TMPL_ROOT_PAYLOAD,
    TMPL_ROOT_HEADERS,
    TMPL_ROOT_QUERY,
    TMPL_ROOT_ENV,
    TMPL_ROOT_EVENT,
    TMPL_ROOT_BRIDGE,
};

static const char *const tmpl_root_names[] = {
    [TMPL_ROOT_PAYLOAD] = "payload", [TMPL_ROOT_HEADERS] = "headers", [TMPL_ROOT_QUERY] = "query",
    [TMPL_ROOT_ENV] = "env",         [TMPL_ROOT_EVENT] = "event",     [TMPL_ROOT_BRIDGE] = "bridge",
};

enum tmpl_tok_kind {
    TMPL_TOK_END,
    TMPL_TOK_TEXT, /* literal bytes text[0..len) */
    TMPL_TOK_REF,  /* a checked reference */
};

struct tmpl_tok {
    enum tmpl_tok_kind kind;
    const char *text;
    size_t len;
    enum tmpl_root root;
    /* The segments after the root joined by '.', without the leading '.'; empty if none. */
    const char *path;
    size_t path_len;
};

/* A resolved reference: absent, a node of one of the context's JSON trees, or a string. */
struct tmpl_val {
    enum { TMPL_VAL_MISSING, TMPL_VAL_JSON, TMPL_VAL_STR } kind;
    const cJSON *json;
    const char *str;
};

/* The JSON pointer of a payload template's string, for error messages: templates come
 * from the admin API, whose bodies are capped, so this cap is never reached in practice. */
#define TMPL_POINTER_MAX (64 * 1024)

static bool tmpl_is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool tmpl_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool tmpl_is_name_char(unsigned char c)
{
    return tmpl_is_letter(c) || tmpl_is_digit(c) || c == '_' || c == '-';
}

static unsigned char tmpl_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Whether `s[0..len)` equals the NUL-terminated `name`, byte for byte. */
static bool tmpl_span_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

/* Splits off the next '.'-separated segment of a token's path; false at the end. */
static bool tmpl_next_segment(const char **p, const char *end, const char **seg, size_t *len)
{
    if (*p >= end)
        return false;
    const char *dot = memchr(*p, '.', (size_t)(end - *p));
    const char *stop = dot ? dot : end;
    *seg = *p;
    *len = (size_t)(stop - *p);
    *p = dot ? dot + 1 : end;
    return true;
}

static size_t tmpl_segment_count(const struct tmpl_tok *t)
{
    if (t->path_len == 0)
        return 0;
    size_t n = 1;
    for (size_t i = 0; i < t->path_len; i++)
        n += t->path[i] == '.';
    return n;
}

/*
 * The root and segment rules that both reference forms share. `name` is the root's text
 * and `pos` the offset of the reference's '$'. Fills t->root; -1 with `err` on error.
 */
static int tmpl_check_ref(struct tmpl_tok *t, const char *name, size_t name_len, size_t pos,
                          char *err, size_t errlen)
{
    size_t nroots = sizeof(tmpl_root_names) / sizeof(tmpl_root_names[0]);
    size_t r = 0;
    while (r < nroots && !tmpl_span_is(name, name_len, tmpl_root_names[r]))
        r++;
    if (r == nroots) {
        snprintf(err, errlen, "unknown reference root '%.*s' at position %zu",
                 (int)(name_len < TMPL_ERR_NAME ? name_len : TMPL_ERR_NAME), name, pos);
        return -1;
    }
    t->root = (enum tmpl_root)r;
    if (t->root == TMPL_ROOT_PAYLOAD || t->root == TMPL_ROOT_HEADERS || t->root == TMPL_ROOT_QUERY)
        return 0;

    const char *what = t->root == TMPL_ROOT_ENV ? "name" : "field";
    size_t nseg = tmpl_segment_count(t);
    if (nseg == 0) {
        snprintf(err, errlen, "$%s needs a %s at position %zu", tmpl_root_names[r], what, pos);
        return -1;
    }
    if (nseg > 1) {
        snprintf(err, errlen, "$%s takes exactly one %s at position %zu", tmpl_root_names[r], what,
                 pos);
        return -1;
    }
    bool known = true;
    if (t->root == TMPL_ROOT_EVENT)
        known = tmpl_span_is(t->path, t->path_len, "id") ||
                tmpl_span_is(t->path, t->path_len, "received_at");
    else if (t->root == TMPL_ROOT_BRIDGE)
        known = tmpl_span_is(t->path, t->path_len, "id");
    if (!known) {
        snprintf(err, errlen, "unknown $%s field '%.*s' at position %zu", tmpl_root_names[r],
                 (int)(t->path_len < TMPL_ERR_NAME ? t->path_len : TMPL_ERR_NAME), t->path, pos);
        return -1;
    }
    return 0;
}

/* A `${...}` whose content is not a reference: say what is wrong and where. */
static int tmpl_bad_delimited(const char *s, size_t start, size_t at, char *err, size_t errlen)
{
    unsigned char c = (unsigned char)s[at];
    if (strchr(s + start + 2, '}') == NULL)
        snprintf(err, errlen, "unclosed ${ at position %zu", start);
    else if (c == '}' && at == start + 2)
        snprintf(err, errlen, "empty ${} at position %zu", start);
    else if (c >= 0x20 && c < 0x7f)
        snprintf(err, errlen, "unexpected character '%c' in ${...} at position %zu", c, at);
    else
        snprintf(err, errlen, "unexpected byte 0x%02X in ${...} at position %zu", c, at);
    return -1;
}

/*
 * The tokenizer: reads the token that starts at s[*pos] into `t` and moves *pos past it.
 * At the end of `s` the token is TMPL_TOK_END (and *pos stays). Returns 0, or -1 with
 * `err` when the template is invalid there.
 */
static int tmpl_next(const char *s, size_t *pos, struct tmpl_tok *t, char *err, size_t errlen)
{
    size_t i = *pos;
    memset(t, 0, sizeof(*t));

    /* Literal text runs to the next '$' that starts a reference or an escape. */
    size_t j = i;
    while (s[j] != '\0') {
        unsigned char next = (unsigned char)s[j + 1];
        if (s[j] == '$' && (next == '$' || next == '{' || tmpl_is_letter(next)))
            break;
        j++;
    }
    if (j > i) {
        t->kind = TMPL_TOK_TEXT;
        t->text = s + i;
        t->len = j - i;
        *pos = j;
        return 0;
    }
    if (s[i] == '\0') {
        t->kind = TMPL_TOK_END;
        return 0;
    }
    if (s[i + 1] == '$') {
        t->kind = TMPL_TOK_TEXT;
        t->text = s + i;
        t->len = 1;
        *pos = i + 2;
        return 0;
    }

    bool delimited = s[i + 1] == '{';
    j = delimited ? i + 2 : i + 1;
    /* Only `${` can get here without a letter: the text scan stops at `$` + letter. */
    if (!tmpl_is_letter((unsigned char)s[j]))
        return tmpl_bad_delimited(s, i, j, err, errlen);
    const char *name = s + j;
    while (tmpl_is_name_char((unsigned char)s[j]))
        j++;
    size_t name_len = (size_t)(s + j - name);
    size_t path_start = j;
    for (;;) {
        if (s[j] != '.')
            break;
        if (!tmpl_is_name_char((unsigned char)s[j + 1])) {
            /* Bare: the '.' is text after the reference. Delimited: a name must follow. */
            if (delimited)
                return tmpl_bad_delimited(s, i, j + 1, err, errlen);
            break;
        }
        j++;
        while (tmpl_is_name_char((unsigned char)s[j]))
            j++;
    }
    /* Never NULL, even without segments: walks do arithmetic on it. */
    t->path = s + path_start;
    if (j > path_start) {
        t->path = s + path_start + 1;
        t->path_len = j - path_start - 1;
    }
    if (delimited) {
        if (s[j] != '}')
            return tmpl_bad_delimited(s, i, j, err, errlen);
        j++;
    }
    t->kind = TMPL_TOK_REF;
    t->text = s + i;
    t->len = j - i;
    if (tmpl_check_ref(t, name, name_len, i, err, errlen) != 0)
        return -1;
    *pos = j;
    return 0;
}

/* The member `key[0..len)` of object `o`; with `fold`, `key` is lower-cased first. */
static const cJSON *tmpl_member(const cJSON *o, const char *key, size_t len, bool fold)
{
    for (const cJSON *m = o->child; m != NULL; m = m->next) {
        if (m->string == NULL || strlen(m->string) != len)
            continue;
        size_t k = 0;
        while (k < len && (fold ? tmpl_lower((unsigned char)key[k]) : (unsigned char)key[k]) ==
                              (unsigned char)m->string[k])
            k++;
        if (k == len)
            return m;
    }
    return NULL;
}

/* Element `seg` of array `a` when `seg` is all digits; NULL otherwise or out of range. */
static const cJSON *tmpl_element(const cJSON *a, const char *seg, size_t len)
{
    /* No array holds a billion elements: longer indexes cannot exist and cannot overflow. */
    if (len > 9)
        return NULL;
    long idx = 0;
    for (size_t k = 0; k < len; k++) {
        if (!tmpl_is_digit((unsigned char)seg[k]))
            return NULL;
        idx = idx * 10 + (seg[k] - '0');
    }
    const cJSON *e = a->child;
    while (e != NULL && idx-- > 0)
        e = e->next;
    return e;
}

/* Follows the token's segments down from `v`. Header names are stored lower-cased. */
static struct tmpl_val tmpl_walk(const cJSON *v, const struct tmpl_tok *t, bool fold)
{
    struct tmpl_val out = {TMPL_VAL_MISSING, NULL, NULL};
    const char *p = t->path, *end = t->path + t->path_len, *seg;
    size_t len;
    while (v != NULL && tmpl_next_segment(&p, end, &seg, &len)) {
        if (cJSON_IsArray(v))
            v = tmpl_element(v, seg, len);
        else if (cJSON_IsObject(v))
            v = tmpl_member(v, seg, len, fold);
        else
            v = NULL;
    }
    if (v != NULL) {
        out.kind = TMPL_VAL_JSON;
        out.json = v;
    }
    return out;
}

static struct tmpl_val tmpl_string_val(const char *s)
{
    struct tmpl_val out = {s ? TMPL_VAL_STR : TMPL_VAL_MISSING, NULL, s};
    return out;
}

static struct tmpl_val tmpl_resolve(const struct tmpl_tok *t, const struct tmpl_ctx *ctx)
{
    struct tmpl_val missing = {TMPL_VAL_MISSING, NULL, NULL};
    switch (t->root) {
    case TMPL_ROOT_PAYLOAD:
        return tmpl_walk(ctx->payload, t, false);
    case TMPL_ROOT_HEADERS:
        return tmpl_walk(ctx->headers, t, true);
    case TMPL_ROOT_QUERY:
        return tmpl_walk(ctx->query, t, false);
    case TMPL_ROOT_ENV:
        /* Redacted whether or not the name exists, so a log never tells which are set. */
        if (ctx->redact_env)
            return tmpl_string_val("[redacted]");
        if (!cJSON_IsObject(ctx->env))
            return missing;
        return tmpl_walk(ctx->env, t, false);
    case TMPL_ROOT_EVENT:
        return tmpl_string_val(tmpl_span_is(t->path, t->path_len, "id") ? ctx->event_id
                                                                        : ctx->received_at);
    case TMPL_ROOT_BRIDGE:
        return tmpl_string_val(ctx->bridge_id);
    }
    return missing;
}

/* A new cJSON value for a resolved reference; NULL when it is missing. */
static cJSON *tmpl_val_to_json(struct tmpl_val v)
{
    if (v.kind == TMPL_VAL_JSON)
        return cJSON_Duplicate(v.json, true);
    if (v.kind == TMPL_VAL_STR)
        return cJSON_CreateString(v.str);
    return NULL;
}

/* Sets `err` for a rendering that outgrew `b` (whose contents dynbuf_add freed). */
static int tmpl_too_big(const struct dynbuf *b, char *err, size_t errlen)
{
    snprintf(err, errlen, "rendered over %zu bytes", dynbuf_max(b));
    return TMPL_ETOOBIG;
}

/* Whether a URL value would be a dot-segment ("." or ".."), which URL resolution would
 * remove along with the segment before it: such a value is sent fully percent-encoded. */
static bool tmpl_is_dot_segment(const char *s)
{
    return strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

/* Appends a substituted value, made safe for where it goes (see enum tmpl_mode). Returns 0
 * or DYNBUF_TOO_BIG. */
static int tmpl_add_value(struct dynbuf *b, const char *s, enum tmpl_mode mode, bool trusted)
{
    static const char hex[] = "0123456789ABCDEF";
    bool url = mode == TMPL_URL && !trusted;
    bool dots = url && tmpl_is_dot_segment(s);
    const unsigned char *run = (const unsigned char *)s;
    const unsigned char *c = run;
    /* Bytes that go in as they are are added a run at a time. */
    for (; *c != '\0'; c++) {
        char enc[3];
        size_t n = 0;
        if (url && (dots || !(tmpl_is_letter(*c) || tmpl_is_digit(*c) || *c == '-' || *c == '.' ||
                              *c == '_' || *c == '~'))) {
            enc[0] = '%';
            enc[1] = hex[*c >> 4];
            enc[2] = hex[*c & 15];
            n = 3;
        } else if (mode == TMPL_HEADER && (*c == '\r' || *c == '\n')) {
            /* NUL cannot occur: a C string ends there. */
            enc[0] = ' ';
            n = 1;
        } else {
            continue;
        }
        if (dynbuf_add(b, run, (size_t)(c - run)) != 0 || dynbuf_add(b, enc, n) != 0)
            return DYNBUF_TOO_BIG;
        run = c + 1;
    }
    return dynbuf_add(b, run, (size_t)(c - run));
}

/* Appends a reference's value as text: strings raw, other values as compact JSON. Counts
 * the reference, and whether it was missing, in `info` (may be NULL). Returns 0 or
 * DYNBUF_TOO_BIG. */
static int tmpl_add_ref(struct dynbuf *b, const struct tmpl_tok *t, const struct tmpl_ctx *ctx,
                        enum tmpl_mode mode, struct tmpl_info *info)
{
    struct tmpl_val v = tmpl_resolve(t, ctx);
    bool trusted = t->root == TMPL_ROOT_ENV;
    int rc = 0;
    if (info != NULL) {
        info->refs++;
        info->missing += v.kind == TMPL_VAL_MISSING;
    }
    if (v.kind == TMPL_VAL_STR) {
        rc = tmpl_add_value(b, v.str, mode, trusted);
    } else if (v.kind == TMPL_VAL_JSON && cJSON_IsString(v.json)) {
        rc = tmpl_add_value(b, v.json->valuestring, mode, trusted);
    } else if (v.kind == TMPL_VAL_JSON) {
        /* At most a few times the inbound body, which the ingress capped. */
        char *json = cJSON_PrintUnformatted(v.json);
        if (json != NULL)
            rc = tmpl_add_value(b, json, mode, trusted);
        free(json);
    }
    return rc;
}

/* Renders `s` as text onto `b`: 0, TMPL_EINVAL or TMPL_ETOOBIG, with `err`. */
static int tmpl_render(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode,
                       struct dynbuf *b, struct tmpl_info *info, char *err, size_t errlen)
{
    struct tmpl_tok t;
    size_t pos = 0;
    for (;;) {
        if (tmpl_next(s, &pos, &t, err, errlen) != 0)
            return TMPL_EINVAL;
        if (t.kind == TMPL_TOK_END)
            return 0;
        int rc = t.kind == TMPL_TOK_TEXT ? dynbuf_add(b, t.text, t.len)
                                         : tmpl_add_ref(b, &t, ctx, mode, info);
        if (rc != 0)
            return tmpl_too_big(b, err, errlen);
    }
}

/*
 * Parses `s` as exactly one reference into `t`. Returns 1 when it is one, 0 when it is a
 * valid template of another shape, -1 with `err` when it is not a valid template.
 */
static int tmpl_single_ref(const char *s, struct tmpl_tok *t, char *err, size_t errlen)
{
    size_t pos = 0;
    struct tmpl_tok end;
    if (tmpl_next(s, &pos, t, err, errlen) != 0)
        return -1;
    if (t->kind != TMPL_TOK_REF) {
        while (t->kind != TMPL_TOK_END)
            if (tmpl_next(s, &pos, t, err, errlen) != 0)
                return -1;
        return 0;
    }
    if (tmpl_next(s, &pos, &end, err, errlen) != 0)
        return -1;
    if (end.kind == TMPL_TOK_END)
        return 1;
    while (end.kind != TMPL_TOK_END)
        if (tmpl_next(s, &pos, &end, err, errlen) != 0)
            return -1;
    return 0;
}

int tmpl_check(const char *s, char *err, size_t errlen)
{
    struct tmpl_tok t;
    size_t pos = 0;
    if (s == NULL) {
        snprintf(err, errlen, "no template");
        return -1;
    }
    do {
        if (tmpl_next(s, &pos, &t, err, errlen) != 0)
            return -1;
    } while (t.kind != TMPL_TOK_END);
    return 0;
}

int tmpl_render_text_buf(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode,
                         struct dynbuf *out, struct tmpl_info *info, char *err, size_t errlen)
{
    struct tmpl_ctx none = {0};
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (s == NULL) {
        snprintf(err, errlen, "no template");
        return TMPL_EINVAL;
    }
    return tmpl_render(s, ctx ? ctx : &none, mode, out, info, err, errlen);
}

char *tmpl_render_text(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode, char *err,
                       size_t errlen)
{
    struct dynbuf b;
    dynbuf_init(&b, TMPL_RENDER_MAX);
    if (tmpl_render_text_buf(s, ctx, mode, &b, NULL, err, errlen) != 0) {
        dynbuf_free(&b);
        return NULL;
    }
    return dynbuf_take(&b, NULL);
}

/* Appends `/key` to a JSON pointer, escaping '~' and '/' as RFC 6901 asks. */
static int tmpl_pointer_push(struct dynbuf *ptr, const char *key)
{
    int rc = dynbuf_addc(ptr, '/');
    for (const char *c = key; rc == 0 && *c != '\0'; c++) {
        if (*c == '~')
            rc = dynbuf_add(ptr, "~0", 2);
        else if (*c == '/')
            rc = dynbuf_add(ptr, "~1", 2);
        else
            rc = dynbuf_addc(ptr, *c);
    }
    return rc;
}

/* Sets `err` to "pointer: what" (just "what" for the top-level value). */
static void tmpl_pointer_err(const struct dynbuf *ptr, const char *what, char *err, size_t errlen)
{
    if (dynbuf_len(ptr) == 0)
        snprintf(err, errlen, "%s", what);
    else
        snprintf(err, errlen, "%s: %s", dynbuf_ptr(ptr), what);
}

/*
 * Appends s[0..len) as a JSON string with its quotes, escaped as cJSON prints strings, so a
 * body reads the same as when it was printed from a tree. Returns 0 or DYNBUF_TOO_BIG.
 */
static int tmpl_add_json_string(struct dynbuf *b, const char *s, size_t len)
{
    if (dynbuf_addc(b, '"') != 0)
        return DYNBUF_TOO_BIG;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t n = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c >= 0x20)
                continue;
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            n = 6;
        }
        if (dynbuf_add(b, s + run, i - run) != 0 || dynbuf_add(b, esc, n) != 0)
            return DYNBUF_TOO_BIG;
        run = i + 1;
    }
    if (dynbuf_add(b, s + run, len - run) != 0)
        return DYNBUF_TOO_BIG;
    return dynbuf_addc(b, '"');
}

/* Appends a JSON value as compact JSON text. Returns 0 or DYNBUF_TOO_BIG. */
static int tmpl_add_json(struct dynbuf *b, const cJSON *v)
{
    if (cJSON_IsString(v))
        return tmpl_add_json_string(b, v->valuestring, strlen(v->valuestring));
    /* A payload value is at most a few times the inbound body, which the ingress capped;
     * a template literal is admin input. */
    char *json = cJSON_PrintUnformatted(v);
    int rc = json ? dynbuf_addstr(b, json) : dynbuf_addstr(b, "null");
    free(json);
    return rc;
}

/* Appends a payload template string rendered as a JSON value (see tmpl_render_json_buf). */
static int tmpl_json_string(const char *s, const struct tmpl_tok *t, int one,
                            const struct tmpl_ctx *ctx, struct dynbuf *out, char *err,
                            size_t errlen)
{
    if (one == 1) {
        struct tmpl_val v = tmpl_resolve(t, ctx);
        int rc = v.kind == TMPL_VAL_MISSING ? dynbuf_addstr(out, "null")
                 : v.kind == TMPL_VAL_STR   ? tmpl_add_json_string(out, v.str, strlen(v.str))
                                            : tmpl_add_json(out, v.json);
        return rc == 0 ? 0 : tmpl_too_big(out, err, errlen);
    }
    /* Escaping never makes text shorter: text that does not fit the room left never will. */
    struct dynbuf text;
    dynbuf_init(&text, dynbuf_room(out));
    int rc = tmpl_render(s, ctx, TMPL_TEXT, &text, NULL, err, errlen);
    if (rc == 0 && tmpl_add_json_string(out, dynbuf_ptr(&text), dynbuf_len(&text)) != 0)
        rc = TMPL_ETOOBIG;
    dynbuf_free(&text);
    if (rc == TMPL_ETOOBIG) {
        dynbuf_free(out);
        return tmpl_too_big(out, err, errlen);
    }
    return rc;
}

/*
 * Walks a payload template. With `out` NULL it only checks; otherwise it appends the
 * rendered value to `out` as compact JSON text. `ptr` is the JSON pointer of `v` and
 * `depth` the number of containers around it. Returns 0, TMPL_EINVAL (with `err` naming
 * the pointer) or TMPL_ETOOBIG.
 */
static int tmpl_json_walk(const cJSON *v, const struct tmpl_ctx *ctx, struct dynbuf *ptr, int depth,
                          struct dynbuf *out, char *err, size_t errlen)
{
    char why[256];
    if (cJSON_IsString(v)) {
        struct tmpl_tok t;
        int one = tmpl_single_ref(v->valuestring, &t, why, sizeof(why));
        if (one < 0) {
            tmpl_pointer_err(ptr, why, err, errlen);
            return TMPL_EINVAL;
        }
        if (out == NULL)
            return 0;
        return tmpl_json_string(v->valuestring, &t, one, ctx, out, err, errlen);
    }
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
        if (out != NULL && tmpl_add_json(out, v) != 0)
            return tmpl_too_big(out, err, errlen);
        return 0;
    }

    if (depth >= TMPL_MAX_DEPTH) {
        snprintf(why, sizeof(why), "nested deeper than %d levels", TMPL_MAX_DEPTH);
        tmpl_pointer_err(ptr, why, err, errlen);
        return TMPL_EINVAL;
    }
    bool object = cJSON_IsObject(v);
    if (out != NULL && dynbuf_addc(out, object ? '{' : '[') != 0)
        return tmpl_too_big(out, err, errlen);
    size_t index = 0;
    for (const cJSON *m = v->child; m != NULL; m = m->next, index++) {
        size_t mark = dynbuf_len(ptr);
        int rc;
        if (object) {
            rc = tmpl_pointer_push(ptr, m->string ? m->string : "");
        } else {
            char num[32];
            snprintf(num, sizeof(num), "/%zu", index);
            rc = dynbuf_addstr(ptr, num);
        }
        if (rc != 0) {
            snprintf(err, errlen, "nested keys longer than %d bytes", TMPL_POINTER_MAX);
            return TMPL_EINVAL;
        }
        if (out != NULL) {
            const char *key = m->string ? m->string : "";
            if ((m != v->child && dynbuf_addc(out, ',') != 0) ||
                (object &&
                 (tmpl_add_json_string(out, key, strlen(key)) != 0 || dynbuf_addc(out, ':') != 0)))
                return tmpl_too_big(out, err, errlen);
        }
        rc = tmpl_json_walk(m, ctx, ptr, depth + 1, out, err, errlen);
        dynbuf_truncate(ptr, mark);
        if (rc != 0)
            return rc;
    }
    if (out != NULL && dynbuf_addc(out, object ? '}' : ']') != 0)
        return tmpl_too_big(out, err, errlen);
    return 0;
}

int tmpl_check_json(const cJSON *v, char *err, size_t errlen)
{
    struct dynbuf ptr;
    if (v == NULL) {
        snprintf(err, errlen, "no template");
        return -1;
    }
    dynbuf_init(&ptr, TMPL_POINTER_MAX);
    int rc = tmpl_json_walk(v, NULL, &ptr, 0, NULL, err, errlen);
    dynbuf_free(&ptr);
    return rc == 0 ? 0 : -1;
}

int tmpl_render_json_buf(const cJSON *tmpl, const struct tmpl_ctx *ctx, struct dynbuf *out,
                         char *err, size_t errlen)
{
    struct tmpl_ctx none = {0};
    struct dynbuf ptr;
    if (tmpl == NULL) {
        snprintf(err, errlen, "no template");
        return TMPL_EINVAL;
    }
    dynbuf_init(&ptr, TMPL_POINTER_MAX);
    int rc = tmpl_json_walk(tmpl, ctx ? ctx : &none, &ptr, 0, out, err, errlen);
    dynbuf_free(&ptr);
    return rc;
}

cJSON *tmpl_render_json(const cJSON *tmpl, const struct tmpl_ctx *ctx, char *err, size_t errlen)
{
    struct dynbuf b;
    dynbuf_init(&b, TMPL_RENDER_MAX);
    cJSON *out = NULL;
    if (tmpl_render_json_buf(tmpl, ctx, &b, err, errlen) == 0) {
        out = cJSON_Parse(dynbuf_ptr(&b));
        if (out == NULL)
            snprintf(err, errlen, "rendered payload does not parse");
    }
    dynbuf_free(&b);
    return out;
}

/* The reference `s` is, in `t`; -1 with `err` when `s` is not exactly one reference. */
static int tmpl_parse_ref(const char *s, struct tmpl_tok *t, char *err, size_t errlen)
{
    if (s == NULL) {
        snprintf(err, errlen, "no reference");
        return -1;
    }
    int one = tmpl_single_ref(s, t, err, errlen);
    if (one == 0)
        snprintf(err, errlen, "not exactly one reference");
    return one == 1 ? 0 : -1;
}

int tmpl_ref_resolve(const char *s, const struct tmpl_ctx *ctx, cJSON **out, char *err,
                     size_t errlen)
{
    struct tmpl_ctx none = {0};
    struct tmpl_tok t;
    *out = NULL;
    if (tmpl_parse_ref(s, &t, err, errlen) != 0)
        return -1;
    *out = tmpl_val_to_json(tmpl_resolve(&t, ctx ? ctx : &none));
    return 0;
}

int tmpl_ref_check(const char *s, char *err, size_t errlen)
{
    struct tmpl_tok t;
    return tmpl_parse_ref(s, &t, err, errlen);
}
