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

/* A growing output string; always NUL-terminated once tmpl_buf_init ran. */
struct tmpl_buf {
    char *p;
    size_t len, cap;
};

static void tmpl_buf_init(struct tmpl_buf *b)
{
    b->cap = 64;
    b->len = 0;
    b->p = xmalloc(b->cap);
    b->p[0] = '\0';
}

static void tmpl_buf_reserve(struct tmpl_buf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    while (b->len + n + 1 > b->cap)
        b->cap *= 2;
    b->p = xrealloc(b->p, b->cap);
}

static void tmpl_buf_add(struct tmpl_buf *b, const char *s, size_t n)
{
    tmpl_buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void tmpl_buf_add_char(struct tmpl_buf *b, char c)
{
    tmpl_buf_add(b, &c, 1);
}

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

/* Appends a substituted value, made safe for where it goes (see enum tmpl_mode). */
static void tmpl_add_value(struct tmpl_buf *b, const char *s, enum tmpl_mode mode, bool trusted)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (mode == TMPL_URL && !trusted &&
            !(tmpl_is_letter(*c) || tmpl_is_digit(*c) || *c == '-' || *c == '.' || *c == '_' ||
              *c == '~')) {
            char enc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            tmpl_buf_add(b, enc, 3);
        } else if (mode == TMPL_HEADER && (*c == '\r' || *c == '\n')) {
            /* NUL cannot occur: a C string ends there. */
            tmpl_buf_add_char(b, ' ');
        } else {
            tmpl_buf_add_char(b, (char)*c);
        }
    }
}

/* Appends a reference's value as text: strings raw, other values as compact JSON. */
static void tmpl_add_ref(struct tmpl_buf *b, const struct tmpl_tok *t, const struct tmpl_ctx *ctx,
                         enum tmpl_mode mode)
{
    struct tmpl_val v = tmpl_resolve(t, ctx);
    bool trusted = t->root == TMPL_ROOT_ENV;
    if (v.kind == TMPL_VAL_STR) {
        tmpl_add_value(b, v.str, mode, trusted);
    } else if (v.kind == TMPL_VAL_JSON && cJSON_IsString(v.json)) {
        tmpl_add_value(b, v.json->valuestring, mode, trusted);
    } else if (v.kind == TMPL_VAL_JSON) {
        char *json = cJSON_PrintUnformatted(v.json);
        if (json != NULL)
            tmpl_add_value(b, json, mode, trusted);
        free(json);
    }
}

/* Renders `s` as text into a new string; NULL with `err` when it is not a template. */
static char *tmpl_render(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode, char *err,
                         size_t errlen)
{
    struct tmpl_buf b;
    struct tmpl_tok t;
    size_t pos = 0;
    tmpl_buf_init(&b);
    for (;;) {
        if (tmpl_next(s, &pos, &t, err, errlen) != 0)
            goto out_free_buf;
        if (t.kind == TMPL_TOK_END)
            return b.p;
        if (t.kind == TMPL_TOK_TEXT)
            tmpl_buf_add(&b, t.text, t.len);
        else
            tmpl_add_ref(&b, &t, ctx, mode);
    }
out_free_buf:
    free(b.p);
    return NULL;
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

char *tmpl_render_text(const char *s, const struct tmpl_ctx *ctx, enum tmpl_mode mode, char *err,
                       size_t errlen)
{
    struct tmpl_ctx none = {0};
    if (s == NULL) {
        snprintf(err, errlen, "no template");
        return NULL;
    }
    return tmpl_render(s, ctx ? ctx : &none, mode, err, errlen);
}

/* Appends `/key` to a JSON pointer, escaping '~' and '/' as RFC 6901 asks. */
static void tmpl_pointer_push(struct tmpl_buf *ptr, const char *key)
{
    tmpl_buf_add_char(ptr, '/');
    for (const char *c = key; *c != '\0'; c++) {
        if (*c == '~')
            tmpl_buf_add(ptr, "~0", 2);
        else if (*c == '/')
            tmpl_buf_add(ptr, "~1", 2);
        else
            tmpl_buf_add_char(ptr, *c);
    }
}

/* Sets `err` to "pointer: what" (just "what" for the top-level value). */
static void tmpl_pointer_err(const struct tmpl_buf *ptr, const char *what, char *err, size_t errlen)
{
    if (ptr->len == 0)
        snprintf(err, errlen, "%s", what);
    else
        snprintf(err, errlen, "%s: %s", ptr->p, what);
}

/*
 * Walks a payload template. With `ctx` NULL it only checks; otherwise it also builds the
 * rendered value into *out (which the caller owns). `ptr` is the JSON pointer of `v` and
 * `depth` the number of containers around it. Returns 0, or -1 with `err`.
 */
static int tmpl_json_walk(const cJSON *v, const struct tmpl_ctx *ctx, struct tmpl_buf *ptr,
                          int depth, cJSON **out, char *err, size_t errlen)
{
    char why[256];
    if (cJSON_IsString(v)) {
        struct tmpl_tok t;
        int one = tmpl_single_ref(v->valuestring, &t, why, sizeof(why));
        if (one < 0) {
            tmpl_pointer_err(ptr, why, err, errlen);
            return -1;
        }
        if (ctx == NULL)
            return 0;
        if (one == 1) {
            *out = tmpl_val_to_json(tmpl_resolve(&t, ctx));
            if (*out == NULL)
                *out = cJSON_CreateNull();
            return 0;
        }
        char *text = tmpl_render(v->valuestring, ctx, TMPL_TEXT, why, sizeof(why));
        *out = cJSON_CreateString(text);
        free(text);
        return 0;
    }
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
        if (ctx != NULL)
            *out = cJSON_Duplicate(v, false);
        return 0;
    }

    if (depth >= TMPL_MAX_DEPTH) {
        snprintf(why, sizeof(why), "nested deeper than %d levels", TMPL_MAX_DEPTH);
        tmpl_pointer_err(ptr, why, err, errlen);
        return -1;
    }
    bool object = cJSON_IsObject(v);
    cJSON *container = NULL;
    if (ctx != NULL)
        container = object ? cJSON_CreateObject() : cJSON_CreateArray();
    size_t index = 0;
    for (const cJSON *m = v->child; m != NULL; m = m->next, index++) {
        size_t mark = ptr->len;
        if (object) {
            tmpl_pointer_push(ptr, m->string ? m->string : "");
        } else {
            char num[32];
            snprintf(num, sizeof(num), "/%zu", index);
            tmpl_buf_add(ptr, num, strlen(num));
        }
        cJSON *item = NULL;
        int rc = tmpl_json_walk(m, ctx, ptr, depth + 1, ctx ? &item : NULL, err, errlen);
        ptr->len = mark;
        ptr->p[mark] = '\0';
        if (rc != 0)
            goto out_free_container;
        if (container != NULL && object)
            cJSON_AddItemToObject(container, m->string ? m->string : "", item);
        else if (container != NULL)
            cJSON_AddItemToArray(container, item);
    }
    if (ctx != NULL)
        *out = container;
    return 0;

out_free_container:
    cJSON_Delete(container);
    return -1;
}

int tmpl_check_json(const cJSON *v, char *err, size_t errlen)
{
    struct tmpl_buf ptr;
    if (v == NULL) {
        snprintf(err, errlen, "no template");
        return -1;
    }
    tmpl_buf_init(&ptr);
    int rc = tmpl_json_walk(v, NULL, &ptr, 0, NULL, err, errlen);
    free(ptr.p);
    return rc;
}

cJSON *tmpl_render_json(const cJSON *tmpl, const struct tmpl_ctx *ctx, char *err, size_t errlen)
{
    struct tmpl_ctx none = {0};
    struct tmpl_buf ptr;
    cJSON *out = NULL;
    if (tmpl == NULL) {
        snprintf(err, errlen, "no template");
        return NULL;
    }
    tmpl_buf_init(&ptr);
    if (tmpl_json_walk(tmpl, ctx ? ctx : &none, &ptr, 0, &out, err, errlen) != 0)
        out = NULL;
    free(ptr.p);
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
