/*
 * test_template.c - unit tests for common/template.c: every syntax form (bare, delimited,
 * `$$`, a lone `$`, a trailing '.'), each root and its lookups (array indexes, case-blind
 * headers, case-sensitive payload and query, names with '-'), text, URL and header modes,
 * $env redaction, type keeping in JSON payloads, invalid templates with their exact
 * messages and positions, JSON pointers in errors, the nesting limit, single-reference
 * resolution for filters, and a generated-input check that check and render agree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "xalloc.h"

#define TEST_PAYLOAD                                                                               \
    "{\"job\":{\"id\":42,\"total\":99.5,\"tags\":[\"a\",\"b\"],\"ok\":true,\"none\":null,"         \
    "\"name\":\"Ann \\\"A\\\"/x y&z\",\"big\":1e300,\"neg\":-3},"                                  \
    "\"customer\":{\"name\":\"Ann\"},\"items\":[{\"id\":\"a\"},{\"id\":\"b\",\"qty\":2}],"         \
    "\"Case\":\"upper\",\"s\":\"line1\\r\\nline2\",\"weird-key\":\"w\",\"under_score\":\"u\","     \
    "\"0\":\"zero\",\"uni\":\"\\u00e9~-._\",\"empty\":\"\",\"obj\":{\"nl\":\"a\\nb\"}}"

struct fixture {
    cJSON *payload, *headers, *query, *env;
    struct tmpl_ctx ctx;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    fx.payload = cJSON_Parse(TEST_PAYLOAD);
    fx.headers = cJSON_Parse("{\"x-shop\":\"s1\",\"x-multi\":\"a\\r\\nInjected: 1\","
                             "\"content-type\":\"application/json\"}");
    fx.query = cJSON_Parse("{\"a\":\"1\",\"A\":\"upper\",\"sp\":\"x y/z\"}");
    fx.env = cJSON_Parse("{\"API_TOKEN\":\"tok/123?x\",\"JWT-secret\":\"j\","
                         "\"BASE\":\"https://api.example.com/v1\",\"NL\":\"x\\ny\"}");
    if (fx.payload == NULL || fx.headers == NULL || fx.query == NULL || fx.env == NULL)
        return -1;
    memset(&fx.ctx, 0, sizeof(fx.ctx));
    fx.ctx.payload = fx.payload;
    fx.ctx.headers = fx.headers;
    fx.ctx.query = fx.query;
    fx.ctx.env = fx.env;
    fx.ctx.event_id = "evt_1";
    fx.ctx.received_at = "2026-01-01T00:00:00.000Z";
    fx.ctx.bridge_id = "brg_1";
    fx.ctx.redact_env = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(fx.payload);
    cJSON_Delete(fx.headers);
    cJSON_Delete(fx.query);
    cJSON_Delete(fx.env);
    return 0;
}

static void expect_text(const char *tmpl, const struct tmpl_ctx *ctx, enum tmpl_mode mode,
                        const char *want)
{
    char err[256] = "";
    char *got = tmpl_render_text(tmpl, ctx, mode, err, sizeof(err));
    if (got == NULL)
        fail_msg("render(\"%s\", mode %d): error %s", tmpl, (int)mode, err);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "render(\"%s\", mode %d):\n  got  \"%s\"\n  want \"%s\"\n", tmpl, (int)mode,
                got, want);
        free(got);
        fail();
    }
    free(got);
    if (tmpl_check(tmpl, err, sizeof(err)) != 0)
        fail_msg("check(\"%s\"): %s", tmpl, err);
}

/* ---- text rendering ---- */

static const struct {
    const char *tmpl, *want;
} text_cases[] = {
    {"", ""},
    {"plain text", "plain text"},
    {"$payload.job.id", "42"},
    {"${payload.job.id}", "42"},
    {"Job ${payload.job.id} done", "Job 42 done"},
    {"Job $payload.job.id done", "Job 42 done"},
    {"$payload.job.total", "99.5"},
    {"$payload.job.neg", "-3"},
    {"$payload.job.big", "1e+300"},
    {"$payload.job.id.", "42."},
    {"$payload.job.id..", "42.."},
    {"($payload.job.id)", "(42)"},
    {"$payload.job.id/$payload.job.id", "42/42"},
    {"$payload.job.id$payload.job.id", "4242"},
    {"${payload.job.id}${payload.job.id}", "4242"},
    {"${payload.job}.id", "{\"id\":42,\"total\":99.5,\"tags\":[\"a\",\"b\"],\"ok\":true,"
                          "\"none\":null,\"name\":\"Ann \\\"A\\\"/x y&z\",\"big\":1e+300,"
                          "\"neg\":-3}.id"},
    {"$payload.customer.name!", "Ann!"},
    {"$payload.job.tags", "[\"a\",\"b\"]"},
    {"$payload.job.ok", "true"},
    {"$payload.job.none", "null"},
    {"$payload.empty", ""},
    {"[$payload.missing]", "[]"},
    {"[$payload.missing.deeper]", "[]"},
    {"[$payload.job.id.x]", "[]"},
    {"[$payload.job.name.0]", "[]"},
    {"$payload.items.0.id", "a"},
    {"$payload.items.1.qty", "2"},
    {"$payload.items.01.id", "b"},
    {"[$payload.items.2.id]", "[]"},
    {"[$payload.items.x]", "[]"},
    {"[$payload.items.-1]", "[]"},
    {"[$payload.items.99999999999.id]", "[]"},
    {"[$payload.job.tags.1]", "[b]"},
    {"$payload.0", "zero"},
    {"$payload.Case", "upper"},
    {"[$payload.case]", "[]"},
    {"$payload.weird-key", "w"},
    {"$payload.under_score", "u"},
    {"$payload.obj", "{\"nl\":\"a\\nb\"}"},
    {"$payload.s", "line1\r\nline2"},
    /* `$` that cannot start a reference is literal; `$$` is always one `$`. */
    {"costs $5", "costs $5"},
    {"a $ b", "a $ b"},
    {"end $", "end $"},
    {"$", "$"},
    {"$$", "$"},
    {"$$$", "$$"},
    {"$$$$", "$$"},
    {"$$payload", "$payload"},
    {"$${payload.job.id}", "${payload.job.id}"},
    {"$$$payload.job.id", "$42"},
    {"100%$", "100%$"},
    {"$.x", "$.x"},
    {"$_x", "$_x"},
    {"$-x", "$-x"},
    {"$}", "$}"},
    {"$1$2", "$1$2"},
    {"{$payload.job.id}", "{42}"},
    {"}{", "}{"},
    {"h\xc3\xa9llo $payload.customer.name", "h\xc3\xa9llo Ann"},
    {"$payload.uni", "\xc3\xa9~-._"},
    /* Headers are found whatever the case; query and payload keys are exact. */
    {"$headers.x-shop", "s1"},
    {"$headers.X-Shop", "s1"},
    {"${headers.X-SHOP}", "s1"},
    {"[$headers.x-none]", "[]"},
    {"[$headers.x-shop.deeper]", "[]"},
    {"$query.a", "1"},
    {"$query.A", "upper"},
    {"[$query.b]", "[]"},
    {"$query", "{\"a\":\"1\",\"A\":\"upper\",\"sp\":\"x y/z\"}"},
    {"$env.API_TOKEN", "tok/123?x"},
    {"$env.JWT-secret", "j"},
    {"${env.JWT-secret}", "j"},
    {"[$env.api_token]", "[]"},
    {"[$env.NOPE]", "[]"},
    {"$event.id", "evt_1"},
    {"${event.id}.json", "evt_1.json"},
    {"$event.received_at", "2026-01-01T00:00:00.000Z"},
    {"$bridge.id", "brg_1"},
};

static void test_render_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++)
        expect_text(text_cases[i].tmpl, &fx.ctx, TMPL_TEXT, text_cases[i].want);
}

/* The whole body as text is what cJSON prints. */
static void test_render_whole_payload(void **state)
{
    (void)state;
    char *body = cJSON_PrintUnformatted(fx.payload);
    char *want = xasprintf("<%s>", body);
    expect_text("<$payload>", &fx.ctx, TMPL_TEXT, want);
    expect_text("<${payload}>", &fx.ctx, TMPL_TEXT, want);
    free(want);
    free(body);
}

/* ---- URL and header modes ---- */

static const struct {
    const char *tmpl, *want;
} url_cases[] = {
    {"https://api.example.com/invoices/$payload.job.id", "https://api.example.com/invoices/42"},
    {"https://x/?q=$payload.job.name", "https://x/?q=Ann%20%22A%22%2Fx%20y%26z"},
    {"$env.BASE/items?token=$env.API_TOKEN", "https://api.example.com/v1/items?token=tok/123?x"},
    {"https://x/$query.sp", "https://x/x%20y%2Fz"},
    {"https://x/$payload.job.tags", "https://x/%5B%22a%22%2C%22b%22%5D"},
    {"https://x/$payload.job.total", "https://x/99.5"},
    {"https://x/$payload.job.neg", "https://x/-3"},
    {"https://x/${headers.X-Shop}", "https://x/s1"},
    {"https://x/$headers.x-multi", "https://x/a%0D%0AInjected%3A%201"},
    {"https://x/?t=$event.received_at", "https://x/?t=2026-01-01T00%3A00%3A00.000Z"},
    {"https://x/$bridge.id/$event.id", "https://x/brg_1/evt_1"},
    {"https://x/$payload.uni", "https://x/%C3%A9~-._"},
    {"https://x/a b?c=d&e=$payload.missing", "https://x/a b?c=d&e="},
    {"https://x/$$?a=1", "https://x/$?a=1"},
};

static void test_render_url(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++)
        expect_text(url_cases[i].tmpl, &fx.ctx, TMPL_URL, url_cases[i].want);
    /* The same templates as plain text are not encoded. */
    expect_text("https://x/$query.sp", &fx.ctx, TMPL_TEXT, "https://x/x y/z");
}

/* A value that is a whole dot-segment is encoded, so URL resolution cannot climb with it. */
static void test_render_url_dot_segments(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse("{\"one\":\".\",\"two\":\"..\",\"three\":\"...\",\"v\":\"1.5\","
                           "\"up\":\"../x\",\"dots\":[\".\",\"..\"]}");
    struct tmpl_ctx ctx = fx.ctx;
    ctx.payload = p;
    expect_text("https://h/c/$payload.two/notes", &ctx, TMPL_URL, "https://h/c/%2E%2E/notes");
    expect_text("https://h/c/$payload.one/notes", &ctx, TMPL_URL, "https://h/c/%2E/notes");
    expect_text("https://h/c/${payload.one}${payload.one}/n", &ctx, TMPL_URL,
                "https://h/c/%2E%2E/n");
    /* Dots inside a longer value are no segment of their own: left as they are. */
    expect_text("https://h/c/$payload.three/$payload.v", &ctx, TMPL_URL, "https://h/c/.../1.5");
    expect_text("https://h/c/$payload.up", &ctx, TMPL_URL, "https://h/c/..%2Fx");
    expect_text("https://h/c/$payload.dots.1", &ctx, TMPL_URL, "https://h/c/%2E%2E");
    /* Only URLs: text and headers keep the value. */
    expect_text("$payload.two", &ctx, TMPL_TEXT, "..");
    expect_text("$payload.two", &ctx, TMPL_HEADER, "..");
    cJSON_Delete(p);
}

/* Renderings into a capped buffer stop at the cap with TMPL_ETOOBIG. */
static void test_render_capped(void **state)
{
    (void)state;
    char err[256];
    struct dynbuf b;
    struct tmpl_info info;

    dynbuf_init(&b, 12);
    assert_int_equal(
        tmpl_render_text_buf("id=$payload.job.id", &fx.ctx, TMPL_TEXT, &b, &info, err, sizeof(err)),
        0);
    assert_string_equal(dynbuf_ptr(&b), "id=42");
    assert_int_equal(info.refs, 1);
    assert_int_equal(info.missing, 0);
    /* Appends: 5 + 5 bytes fit 12 exactly with two more. */
    assert_int_equal(
        tmpl_render_text_buf("x$payload.job.id!!", &fx.ctx, TMPL_TEXT, &b, NULL, err, sizeof(err)),
        0);
    assert_string_equal(dynbuf_ptr(&b), "id=42x42!!");
    assert_int_equal(tmpl_render_text_buf("abc", &fx.ctx, TMPL_TEXT, &b, NULL, err, sizeof(err)),
                     TMPL_ETOOBIG);
    assert_string_equal(err, "rendered over 12 bytes");
    assert_int_equal(dynbuf_len(&b), 0);

    /* The value is what grows past the cap, percent-encoding included. */
    dynbuf_init(&b, 10);
    assert_int_equal(
        tmpl_render_text_buf("$query.sp", &fx.ctx, TMPL_URL, &b, NULL, err, sizeof(err)), 0);
    assert_string_equal(dynbuf_ptr(&b), "x%20y%2Fz");
    dynbuf_free(&b);
    assert_int_equal(
        tmpl_render_text_buf("$query.sp/", &fx.ctx, TMPL_URL, &b, NULL, err, sizeof(err)), 0);
    dynbuf_free(&b);
    assert_int_equal(
        tmpl_render_text_buf("/$query.sp/", &fx.ctx, TMPL_URL, &b, NULL, err, sizeof(err)),
        TMPL_ETOOBIG);
    /* A syntax error is told apart from a size error. */
    assert_int_equal(tmpl_render_text_buf("${", &fx.ctx, TMPL_URL, &b, NULL, err, sizeof(err)),
                     TMPL_EINVAL);
    dynbuf_free(&b);
}

/* Missing references are counted, so a caller can leave out a header made only of them. */
static void test_render_info(void **state)
{
    (void)state;
    char err[256];
    struct dynbuf b;
    struct tmpl_info info;
    static const struct {
        const char *tmpl;
        size_t refs, missing;
    } cases[] = {
        {"plain", 0, 0},
        {"$payload.nope", 1, 1},
        {"Bearer $payload.nope", 1, 1},
        {"$payload.nope$headers.nope", 2, 2},
        {"$payload.nope $payload.job.id", 2, 1},
        {"$payload.empty", 1, 0},
        {"$payload.job.none", 1, 0},
        {"$env.NOPE", 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dynbuf_init(&b, 1024);
        assert_int_equal(
            tmpl_render_text_buf(cases[i].tmpl, &fx.ctx, TMPL_HEADER, &b, &info, err, sizeof(err)),
            0);
        assert_int_equal(info.refs, cases[i].refs);
        assert_int_equal(info.missing, cases[i].missing);
        dynbuf_free(&b);
    }
}

/* The JSON payload is written as text under the cap, never built as a tree first. */
static void test_render_json_capped(void **state)
{
    (void)state;
    char err[256];
    struct dynbuf b;
    /* Prints exactly as cJSON would print the tree. */
    cJSON *tmpl = cJSON_Parse("{\"a\":\"$payload.job\",\"b\":\"x ${payload.s} \\u0001\\t\","
                              "\"c\":[1,2.5,null,true,\"$payload.nope\"],\"k\\\"\\n\":\"$$\","
                              "\"e\":\"$event.id\",\"u\":\"$payload.uni\"}");
    assert_non_null(tmpl);
    cJSON *tree = tmpl_render_json(tmpl, &fx.ctx, err, sizeof(err));
    assert_non_null(tree);
    char *want = cJSON_PrintUnformatted(tree);
    dynbuf_init(&b, 4096);
    assert_int_equal(tmpl_render_json_buf(tmpl, &fx.ctx, &b, err, sizeof(err)), 0);
    assert_string_equal(dynbuf_ptr(&b), want);
    size_t full = dynbuf_len(&b);
    dynbuf_free(&b);
    /* One byte less than it needs fails cleanly; exactly enough succeeds. */
    dynbuf_init(&b, full - 1);
    assert_int_equal(tmpl_render_json_buf(tmpl, &fx.ctx, &b, err, sizeof(err)), TMPL_ETOOBIG);
    assert_int_equal(dynbuf_len(&b), 0);
    dynbuf_init(&b, full);
    assert_int_equal(tmpl_render_json_buf(tmpl, &fx.ctx, &b, err, sizeof(err)), 0);
    dynbuf_free(&b);
    free(want);
    cJSON_Delete(tree);
    cJSON_Delete(tmpl);

    /* 64 copies of a payload: the rendering stops at the cap, whatever the inbound size. */
    struct dynbuf big;
    dynbuf_init(&big, 1 << 20);
    assert_int_equal(dynbuf_addstr(&big, "{\"x\":\""), 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(dynbuf_addstr(&big, "abcdefgh"), 0);
    assert_int_equal(dynbuf_addstr(&big, "\"}"), 0);
    cJSON *payload = cJSON_Parse(dynbuf_ptr(&big));
    dynbuf_free(&big);
    assert_non_null(payload);
    struct tmpl_ctx ctx = fx.ctx;
    ctx.payload = payload;
    struct dynbuf t;
    dynbuf_init(&t, 4096);
    for (int i = 0; i < 64; i++)
        assert_int_equal(dynbuf_addstr(&t, "${payload}"), 0);
    cJSON *many = cJSON_CreateObject();
    cJSON_AddStringToObject(many, "all", dynbuf_ptr(&t));
    dynbuf_free(&t);
    dynbuf_init(&b, 4 << 20);
    assert_int_equal(tmpl_render_json_buf(many, &ctx, &b, err, sizeof(err)), TMPL_ETOOBIG);
    assert_string_equal(err, "rendered over 4194304 bytes");
    assert_int_equal(dynbuf_len(&b), 0);
    /* The same as whole values, one per member. */
    cJSON *members = cJSON_CreateArray();
    for (int i = 0; i < 64; i++)
        cJSON_AddItemToArray(members, cJSON_CreateString("$payload"));
    assert_int_equal(tmpl_render_json_buf(members, &ctx, &b, err, sizeof(err)), TMPL_ETOOBIG);
    cJSON_Delete(members);
    cJSON_Delete(many);
    cJSON_Delete(payload);
}

static const struct {
    const char *tmpl, *want;
} header_cases[] = {
    {"Bearer $env.API_TOKEN", "Bearer tok/123?x"},
    {"$headers.x-multi", "a  Injected: 1"},
    {"x $payload.s x", "x line1  line2 x"},
    {"$env.NL", "x y"},
    /* Printed JSON escapes its newlines; the template's own text is the admin's choice. */
    {"$payload.obj", "{\"nl\":\"a\\nb\"}"},
    {"a\r\nb $payload.job.id", "a\r\nb 42"},
    {"${headers.X-Shop}", "s1"},
    {"$payload.job.name", "Ann \"A\"/x y&z"},
};

static void test_render_header(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++)
        expect_text(header_cases[i].tmpl, &fx.ctx, TMPL_HEADER, header_cases[i].want);
    expect_text("$headers.x-multi", &fx.ctx, TMPL_TEXT, "a\r\nInjected: 1");
}

static void test_redacted_env(void **state)
{
    (void)state;
    struct tmpl_ctx ctx = fx.ctx;
    ctx.redact_env = true;
    static const enum tmpl_mode modes[] = {TMPL_TEXT, TMPL_URL, TMPL_HEADER};
    for (size_t i = 0; i < 3; i++) {
        expect_text("Bearer $env.API_TOKEN", &ctx, modes[i], "Bearer [redacted]");
        expect_text("$env.NOPE", &ctx, modes[i], "[redacted]");
        expect_text("${env.JWT-secret}/$payload.job.id", &ctx, modes[i], "[redacted]/42");
    }
    /* Without an env object at all, still redacted; unredacted, simply missing. */
    ctx.env = NULL;
    expect_text("$env.API_TOKEN", &ctx, TMPL_TEXT, "[redacted]");
    ctx.redact_env = false;
    expect_text("[$env.API_TOKEN]", &ctx, TMPL_TEXT, "[]");

    char err[256];
    cJSON *tmpl = cJSON_Parse("{\"t\":\"$env.API_TOKEN\",\"u\":\"Bearer $env.API_TOKEN\"}");
    assert_non_null(tmpl);
    ctx = fx.ctx;
    ctx.redact_env = true;
    cJSON *out = tmpl_render_json(tmpl, &ctx, err, sizeof(err));
    assert_non_null(out);
    char *s = cJSON_PrintUnformatted(out);
    assert_string_equal(s, "{\"t\":\"[redacted]\",\"u\":\"Bearer [redacted]\"}");
    free(s);
    cJSON_Delete(out);
    ctx.redact_env = false;
    out = tmpl_render_json(tmpl, &ctx, err, sizeof(err));
    s = cJSON_PrintUnformatted(out);
    assert_string_equal(s, "{\"t\":\"tok/123?x\",\"u\":\"Bearer tok/123?x\"}");
    free(s);
    cJSON_Delete(out);
    cJSON_Delete(tmpl);
}

/* An empty context (or none): every reference is missing, nothing fails. */
static void test_empty_context(void **state)
{
    (void)state;
    struct tmpl_ctx none;
    memset(&none, 0, sizeof(none));
    const char *tmpl = "[$payload|$payload.a|$headers.x|$query.q|$env.E|$event.id|"
                       "$event.received_at|$bridge.id]";
    expect_text(tmpl, &none, TMPL_TEXT, "[|||||||]");
    expect_text(tmpl, NULL, TMPL_URL, "[|||||||]");

    char err[256];
    cJSON *t = cJSON_Parse("[\"$payload\",\"$event.id\",\"$bridge.id\",\"x$payload\"]");
    cJSON *out = tmpl_render_json(t, NULL, err, sizeof(err));
    char *s = cJSON_PrintUnformatted(out);
    assert_string_equal(s, "[null,null,null,\"x\"]");
    free(s);
    cJSON_Delete(out);
    cJSON_Delete(t);
}

/* ---- invalid templates ---- */

static const struct {
    const char *tmpl, *err;
} bad_cases[] = {
    {"${payload.job.id", "unclosed ${ at position 0"},
    {"Job ${payload", "unclosed ${ at position 4"},
    {"abc ${", "unclosed ${ at position 4"},
    {"${", "unclosed ${ at position 0"},
    {"${payload a", "unclosed ${ at position 0"},
    {"$payload.a ${x", "unclosed ${ at position 11"},
    {"${}", "empty ${} at position 0"},
    {"x${}", "empty ${} at position 1"},
    {"${payload.}", "unexpected character '}' in ${...} at position 10"},
    {"${payload..a}", "unexpected character '.' in ${...} at position 10"},
    {"${payload a}", "unexpected character ' ' in ${...} at position 9"},
    {"${1x}", "unexpected character '1' in ${...} at position 2"},
    {"${ payload}", "unexpected character ' ' in ${...} at position 2"},
    {"${$payload}", "unexpected character '$' in ${...} at position 2"},
    {"${payload.${x}}", "unexpected character '$' in ${...} at position 10"},
    {"${payload.a\n}", "unexpected byte 0x0A in ${...} at position 11"},
    {"${payload.\xc3\xa9}", "unexpected byte 0xC3 in ${...} at position 10"},
    {"$foo", "unknown reference root 'foo' at position 0"},
    {"x $foo.bar", "unknown reference root 'foo' at position 2"},
    {"${foo}", "unknown reference root 'foo' at position 0"},
    {"$Payload.a", "unknown reference root 'Payload' at position 0"},
    {"$payloads", "unknown reference root 'payloads' at position 0"},
    {"$payload-x", "unknown reference root 'payload-x' at position 0"},
    {"price: $USD", "unknown reference root 'USD' at position 7"},
    {"ok $payload.a then $nope", "unknown reference root 'nope' at position 19"},
    {"$foo ${", "unknown reference root 'foo' at position 0"},
    {"$$$foo", "unknown reference root 'foo' at position 2"},
    {"abc$env", "$env needs a name at position 3"},
    {"$env.", "$env needs a name at position 0"},
    {"${env}", "$env needs a name at position 0"},
    {"$env.a.b", "$env takes exactly one name at position 0"},
    {"${env.a.b}", "$env takes exactly one name at position 0"},
    {"$event", "$event needs a field at position 0"},
    {"$event.x", "unknown $event field 'x' at position 0"},
    {"$event.ID", "unknown $event field 'ID' at position 0"},
    {"$event.id.x", "$event takes exactly one field at position 0"},
    {"https://x/$event.id.json", "$event takes exactly one field at position 10"},
    {"$bridge", "$bridge needs a field at position 0"},
    {"$bridge.name", "unknown $bridge field 'name' at position 0"},
    {"${bridge.id.x}", "$bridge takes exactly one field at position 0"},
    {"$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "unknown reference root 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
     "at position 0"},
};

static void test_bad_templates(void **state)
{
    (void)state;
    static const enum tmpl_mode modes[] = {TMPL_TEXT, TMPL_URL, TMPL_HEADER};
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const char *t = bad_cases[i].tmpl;
        char err[256] = "";
        if (tmpl_check(t, err, sizeof(err)) != -1)
            fail_msg("check(\"%s\") accepted it", t);
        if (strcmp(err, bad_cases[i].err) != 0)
            fail_msg("check(\"%s\"): \"%s\", want \"%s\"", t, err, bad_cases[i].err);
        for (size_t m = 0; m < 3; m++) {
            err[0] = '\0';
            char *out = tmpl_render_text(t, &fx.ctx, modes[m], err, sizeof(err));
            if (out != NULL)
                fail_msg("render(\"%s\") gave \"%s\"", t, out);
            assert_string_equal(err, bad_cases[i].err);
        }
        cJSON *str = cJSON_CreateString(t);
        err[0] = '\0';
        assert_null(tmpl_render_json(str, &fx.ctx, err, sizeof(err)));
        assert_string_equal(err, bad_cases[i].err);
        assert_int_equal(tmpl_check_json(str, err, sizeof(err)), -1);
        assert_string_equal(err, bad_cases[i].err);
        cJSON_Delete(str);
    }
}

/* A short error buffer gets a truncated, terminated message. */
static void test_error_truncated(void **state)
{
    (void)state;
    char err[8];
    memset(err, 'X', sizeof(err));
    assert_int_equal(tmpl_check("$foo", err, sizeof(err)), -1);
    assert_string_equal(err, "unknown");
    char *out = tmpl_render_text(NULL, &fx.ctx, TMPL_TEXT, err, sizeof(err));
    assert_null(out);
    assert_int_equal(tmpl_check(NULL, err, sizeof(err)), -1);
}

/* ---- JSON payloads ---- */

static void expect_json(const char *tmpl_json, const char *want)
{
    char err[256] = "";
    cJSON *tmpl = cJSON_Parse(tmpl_json);
    if (tmpl == NULL)
        fail_msg("bad test JSON %s", tmpl_json);
    if (tmpl_check_json(tmpl, err, sizeof(err)) != 0)
        fail_msg("check_json(%s): %s", tmpl_json, err);
    cJSON *out = tmpl_render_json(tmpl, &fx.ctx, err, sizeof(err));
    if (out == NULL)
        fail_msg("render_json(%s): %s", tmpl_json, err);
    char *got = cJSON_PrintUnformatted(out);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "render_json(%s):\n  got  %s\n  want %s\n", tmpl_json, got, want);
        free(got);
        fail();
    }
    free(got);
    cJSON_Delete(out);
    cJSON_Delete(tmpl);
}

/* The example from the brief: a ServiceM8 job as a Xero invoice. */
static void test_render_json_example(void **state)
{
    (void)state;
    cJSON *body = cJSON_Parse("{\"job\":{\"id\":42,\"total\":99.5},\"customer\":{\"name\":"
                              "\"Ann\"},\"items\":[{\"id\":\"a\"}]}");
    struct tmpl_ctx ctx = fx.ctx;
    ctx.payload = body;
    cJSON *tmpl = cJSON_Parse("{\"contact\":\"$payload.customer.name\",\"total\":"
                              "\"$payload.job.total\",\"note\":\"Job ${payload.job.id} done\","
                              "\"lines\":\"$payload.items\",\"raw\":\"$payload\"}");
    char err[256];
    cJSON *out = tmpl_render_json(tmpl, &ctx, err, sizeof(err));
    assert_non_null(out);
    char *got = cJSON_PrintUnformatted(out);
    assert_string_equal(got, "{\"contact\":\"Ann\",\"total\":99.5,\"note\":\"Job 42 done\","
                             "\"lines\":[{\"id\":\"a\"}],\"raw\":{\"job\":{\"id\":42,\"total\":"
                             "99.5},\"customer\":{\"name\":\"Ann\"},\"items\":[{\"id\":\"a\"}]}}");
    free(got);
    /* The result is a copy: it outlives the body. */
    cJSON_Delete(body);
    got = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "lines"));
    assert_string_equal(got, "[{\"id\":\"a\"}]");
    free(got);
    cJSON_Delete(out);
    cJSON_Delete(tmpl);
}

static const struct {
    const char *tmpl, *want;
} json_cases[] = {
    /* A whole-string reference keeps its type. */
    {"{\"n\":\"$payload.job.id\"}", "{\"n\":42}"},
    {"{\"n\":\"${payload.job.total}\"}", "{\"n\":99.5}"},
    {"{\"s\":\"$payload.customer.name\"}", "{\"s\":\"Ann\"}"},
    {"{\"e\":\"$payload.empty\"}", "{\"e\":\"\"}"},
    {"{\"b\":\"$payload.job.ok\"}", "{\"b\":true}"},
    {"{\"z\":\"$payload.job.none\"}", "{\"z\":null}"},
    {"{\"m\":\"$payload.nope\"}", "{\"m\":null}"},
    {"{\"m\":\"$payload.items.7\"}", "{\"m\":null}"},
    {"{\"a\":\"$payload.job.tags\"}", "{\"a\":[\"a\",\"b\"]}"},
    {"{\"o\":\"$payload.customer\"}", "{\"o\":{\"name\":\"Ann\"}}"},
    {"{\"i\":\"$payload.items.1\"}", "{\"i\":{\"id\":\"b\",\"qty\":2}}"},
    {"{\"h\":\"${headers.X-Shop}\"}", "{\"h\":\"s1\"}"},
    {"{\"q\":\"$query\"}", "{\"q\":{\"a\":\"1\",\"A\":\"upper\",\"sp\":\"x y/z\"}}"},
    {"{\"e\":\"$event.id\",\"r\":\"$event.received_at\",\"b\":\"$bridge.id\"}",
     "{\"e\":\"evt_1\",\"r\":\"2026-01-01T00:00:00.000Z\",\"b\":\"brg_1\"}"},
    {"{\"t\":\"$env.API_TOKEN\",\"m\":\"$env.NOPE\"}", "{\"t\":\"tok/123?x\",\"m\":null}"},
    /* Anything more than one reference is text. */
    {"{\"t\":\"$payload.job.id.\"}", "{\"t\":\"42.\"}"},
    {"{\"t\":\" $payload.job.id\"}", "{\"t\":\" 42\"}"},
    {"{\"t\":\"$payload.job.id$payload.job.id\"}", "{\"t\":\"4242\"}"},
    {"{\"t\":\"x$payload.nope\"}", "{\"t\":\"x\"}"},
    {"{\"t\":\"#$payload.job.tags\"}", "{\"t\":\"#[\\\"a\\\",\\\"b\\\"]\"}"},
    {"{\"t\":\"$$payload\"}", "{\"t\":\"$payload\"}"},
    {"{\"t\":\"$$\"}", "{\"t\":\"$\"}"},
    {"{\"t\":\"$\"}", "{\"t\":\"$\"}"},
    {"{\"t\":\"\"}", "{\"t\":\"\"}"},
    {"{\"t\":\"$payload.s\"}", "{\"t\":\"line1\\r\\nline2\"}"},
    /* Other values are copied; keys are never templates. */
    {"{\"n\":5,\"f\":-1.25,\"b\":false,\"z\":null,\"o\":{},\"a\":[]}",
     "{\"n\":5,\"f\":-1.25,\"b\":false,\"z\":null,\"o\":{},\"a\":[]}"},
    {"{\"$payload.job.id\":\"k\",\"$foo\":1}", "{\"$payload.job.id\":\"k\",\"$foo\":1}"},
    {"[\"$payload.job.id\",\"x$payload.job.id\",{\"d\":[\"${payload.job.ok}\"]}]",
     "[42,\"x42\",{\"d\":[true]}]"},
    {"\"$payload.items\"", "[{\"id\":\"a\"},{\"id\":\"b\",\"qty\":2}]"},
    {"\"Job $payload.job.id\"", "\"Job 42\""},
    {"7", "7"},
    {"null", "null"},
    {"{\"dup\":\"$payload.job.id\",\"dup\":\"$payload.Case\"}", "{\"dup\":42,\"dup\":\"upper\"}"},
};

static void test_render_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++)
        expect_json(json_cases[i].tmpl, json_cases[i].want);
}

static const struct {
    const char *tmpl, *err;
} bad_json_cases[] = {
    {"{\"lines\":[{\"total\":\"$foo\"}]}",
     "/lines/0/total: unknown reference root 'foo' at position 0"},
    {"{\"a/b\":{\"c~d\":\"${x\"}}", "/a~1b/c~0d: unclosed ${ at position 0"},
    {"{\"~/\":[1,2,\"ok $env\"]}", "/~0~1/2: $env needs a name at position 3"},
    {"[\"ok\",\"$env\"]", "/1: $env needs a name at position 0"},
    {"{\"\":\"$event.x\"}", "/: unknown $event field 'x' at position 0"},
    {"\"$foo\"", "unknown reference root 'foo' at position 0"},
    /* The first bad string in document order is the one reported. */
    {"{\"a\":\"fine $payload\",\"b\":\"$bad1\",\"c\":\"$bad2\"}",
     "/b: unknown reference root 'bad1' at position 0"},
};

static void test_bad_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_json_cases) / sizeof(bad_json_cases[0]); i++) {
        char err[256] = "";
        cJSON *tmpl = cJSON_Parse(bad_json_cases[i].tmpl);
        assert_non_null(tmpl);
        assert_int_equal(tmpl_check_json(tmpl, err, sizeof(err)), -1);
        if (strcmp(err, bad_json_cases[i].err) != 0)
            fail_msg("check_json(%s): \"%s\", want \"%s\"", bad_json_cases[i].tmpl, err,
                     bad_json_cases[i].err);
        err[0] = '\0';
        assert_null(tmpl_render_json(tmpl, &fx.ctx, err, sizeof(err)));
        assert_string_equal(err, bad_json_cases[i].err);
        cJSON_Delete(tmpl);
    }
    char err[256];
    assert_int_equal(tmpl_check_json(NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "no template");
    assert_null(tmpl_render_json(NULL, &fx.ctx, err, sizeof(err)));
}

/* `levels` containers nested in one another, holding one reference at the bottom. */
static cJSON *nested(int levels, bool objects)
{
    cJSON *v = cJSON_CreateString("$payload.job.id");
    for (int i = 0; i < levels; i++) {
        cJSON *c = objects ? cJSON_CreateObject() : cJSON_CreateArray();
        if (objects)
            cJSON_AddItemToObject(c, "k", v);
        else
            cJSON_AddItemToArray(c, v);
        v = c;
    }
    return v;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    for (int objects = 0; objects < 2; objects++) {
        char err[1024] = "";
        cJSON *ok = nested(64, objects);
        assert_int_equal(tmpl_check_json(ok, err, sizeof(err)), 0);
        cJSON *out = tmpl_render_json(ok, &fx.ctx, err, sizeof(err));
        assert_non_null(out);
        /* The reference at the bottom was rendered. */
        const cJSON *v = out;
        for (int i = 0; i < 64; i++)
            v = v->child;
        assert_true(cJSON_IsNumber(v));
        assert_int_equal(v->valueint, 42);
        cJSON_Delete(out);
        cJSON_Delete(ok);

        cJSON *deep = nested(65, objects);
        char want[1024] = "";
        size_t n = 0;
        for (int i = 0; i < 64; i++)
            n += (size_t)snprintf(want + n, sizeof(want) - n, objects ? "/k" : "/0");
        snprintf(want + n, sizeof(want) - n, ": nested deeper than 64 levels");
        assert_int_equal(tmpl_check_json(deep, err, sizeof(err)), -1);
        assert_string_equal(err, want);
        err[0] = '\0';
        assert_null(tmpl_render_json(deep, &fx.ctx, err, sizeof(err)));
        assert_string_equal(err, want);
        cJSON_Delete(deep);
    }
}

/* ---- single references (what filters use) ---- */

static const struct {
    const char *ref, *want; /* want: printed JSON, or NULL for missing */
} ref_cases[] = {
    {"$payload.job.id", "42"},
    {"${payload.job.id}", "42"},
    {"$payload.job", "{\"id\":42,\"total\":99.5,\"tags\":[\"a\",\"b\"],\"ok\":true,\"none\":null,"
                     "\"name\":\"Ann \\\"A\\\"/x y&z\",\"big\":1e+300,\"neg\":-3}"},
    {"$payload.job.none", "null"},
    {"$payload.nope", NULL},
    {"$payload.items.1.qty", "2"},
    {"$headers.X-Shop", "\"s1\""},
    {"$query.A", "\"upper\""},
    {"$query.x", NULL},
    {"$event.id", "\"evt_1\""},
    {"$event.received_at", "\"2026-01-01T00:00:00.000Z\""},
    {"$bridge.id", "\"brg_1\""},
    {"$env.API_TOKEN", "\"tok/123?x\""},
    {"$env.NOPE", NULL},
};

static void test_ref_resolve(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
        char err[256] = "";
        cJSON *v = (cJSON *)&err; /* must be overwritten */
        if (tmpl_ref_resolve(ref_cases[i].ref, &fx.ctx, &v, err, sizeof(err)) != 0)
            fail_msg("resolve(%s): %s", ref_cases[i].ref, err);
        assert_int_equal(tmpl_ref_check(ref_cases[i].ref, err, sizeof(err)), 0);
        if (ref_cases[i].want == NULL) {
            if (v != NULL)
                fail_msg("resolve(%s): want missing", ref_cases[i].ref);
            continue;
        }
        assert_non_null(v);
        char *got = cJSON_PrintUnformatted(v);
        if (strcmp(got, ref_cases[i].want) != 0)
            fail_msg("resolve(%s): %s, want %s", ref_cases[i].ref, got, ref_cases[i].want);
        free(got);
        cJSON_Delete(v);
    }

    struct tmpl_ctx ctx = fx.ctx;
    ctx.redact_env = true;
    char err[256];
    cJSON *v = NULL;
    assert_int_equal(tmpl_ref_resolve("$env.NOPE", &ctx, &v, err, sizeof(err)), 0);
    assert_string_equal(cJSON_GetStringValue(v), "[redacted]");
    cJSON_Delete(v);
    assert_int_equal(tmpl_ref_resolve("$payload", NULL, &v, err, sizeof(err)), 0);
    assert_null(v);
}

static const struct {
    const char *ref, *err;
} bad_ref_cases[] = {
    {"", "not exactly one reference"},
    {"payload.a", "not exactly one reference"},
    {"$payload.a x", "not exactly one reference"},
    {" $payload.a", "not exactly one reference"},
    {"$payload.a.", "not exactly one reference"},
    {"$$payload", "not exactly one reference"},
    {"$payload$payload", "not exactly one reference"},
    {"${payload}x", "not exactly one reference"},
    {"$", "not exactly one reference"},
    {"$foo", "unknown reference root 'foo' at position 0"},
    {"$payload.a $foo", "unknown reference root 'foo' at position 11"},
    {"x $foo", "unknown reference root 'foo' at position 2"},
    {"${payload", "unclosed ${ at position 0"},
    {"$event.nope", "unknown $event field 'nope' at position 0"},
};

static void test_ref_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_ref_cases) / sizeof(bad_ref_cases[0]); i++) {
        char err[256] = "";
        cJSON *v = (cJSON *)&err;
        assert_int_equal(tmpl_ref_resolve(bad_ref_cases[i].ref, &fx.ctx, &v, err, sizeof(err)), -1);
        assert_null(v);
        if (strcmp(err, bad_ref_cases[i].err) != 0)
            fail_msg("resolve(\"%s\"): \"%s\", want \"%s\"", bad_ref_cases[i].ref, err,
                     bad_ref_cases[i].err);
        err[0] = '\0';
        assert_int_equal(tmpl_ref_check(bad_ref_cases[i].ref, err, sizeof(err)), -1);
        assert_string_equal(err, bad_ref_cases[i].err);
    }
    char err[256];
    cJSON *v = NULL;
    assert_int_equal(tmpl_ref_check(NULL, err, sizeof(err)), -1);
    assert_int_equal(tmpl_ref_resolve(NULL, &fx.ctx, &v, err, sizeof(err)), -1);
}

/* ---- generated templates: check and render always agree ---- */

static unsigned long lcg_next(unsigned long *s)
{
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

static void test_generated_agree(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "$",     "$$",    "{",  "}",           ".",  "payload", "env", "event",     "id", "job",
        "items", "0",     "1",  "headers",     "x-", "shop",    "-",   "_",         " ",  "\r\n",
        "${",    "query", "a",  "bridge",      "é",  "$p",      "foo", "API_TOKEN", "%",  "/",
        "?",     "&",     "\t", "received_at", "..", "}}",      "$${", "S",         "9",  "~",
    };
    size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    unsigned long seed = 12345;
    int accepted = 0, refused = 0;
    static const enum tmpl_mode modes[] = {TMPL_TEXT, TMPL_URL, TMPL_HEADER};
    for (int iter = 0; iter < 20000; iter++) {
        char s[128] = "";
        size_t len = 0;
        int n = (int)(lcg_next(&seed) % 8) + 1;
        for (int k = 0; k < n; k++) {
            const char *p = pieces[lcg_next(&seed) % npieces];
            size_t pl = strlen(p);
            if (len + pl >= sizeof(s))
                break;
            memcpy(s + len, p, pl);
            len += pl;
            s[len] = '\0';
        }
        char err[256] = "", err2[256] = "";
        int rc = tmpl_check(s, err, sizeof(err));
        if (rc == 0) {
            accepted++;
        } else {
            refused++;
            /* Positions always point inside the template. */
            const char *at = strstr(err, " at position ");
            if (at == NULL || (size_t)strtoul(at + 13, NULL, 10) >= len)
                fail_msg("check(\"%s\"): %s", s, err);
        }
        for (size_t m = 0; m < 3; m++) {
            struct tmpl_ctx ctx = fx.ctx;
            ctx.redact_env = m == 1;
            char *out = tmpl_render_text(s, &ctx, modes[m], err2, sizeof(err2));
            if ((out != NULL) != (rc == 0))
                fail_msg("check and render disagree on \"%s\"", s);
            if (out == NULL)
                assert_string_equal(err, err2);
            if (out != NULL && modes[m] == TMPL_HEADER && strpbrk(s, "\r\n") == NULL)
                assert_null(strpbrk(out, "\r\n"));
            if (out != NULL && modes[m] == TMPL_URL && strchr(s, ' ') == NULL &&
                strstr(s, "env") == NULL)
                assert_null(strchr(out, ' '));
            free(out);
        }
        cJSON *str = cJSON_CreateString(s);
        cJSON *r = tmpl_render_json(str, &fx.ctx, err2, sizeof(err2));
        assert_int_equal(r != NULL, rc == 0);
        assert_int_equal(tmpl_check_json(str, err2, sizeof(err2)), rc);
        cJSON_Delete(r);
        cJSON_Delete(str);
        cJSON *ref = NULL;
        if (tmpl_ref_resolve(s, &fx.ctx, &ref, err2, sizeof(err2)) == 0) {
            assert_int_equal(rc, 0);
            cJSON_Delete(ref);
        }
    }
    /* The generator must exercise both sides. */
    assert_true(accepted > 1000);
    assert_true(refused > 1000);
}

int main(void)
{
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_text),
        cmocka_unit_test(test_render_whole_payload),
        cmocka_unit_test(test_render_url),
        cmocka_unit_test(test_render_url_dot_segments),
        cmocka_unit_test(test_render_capped),
        cmocka_unit_test(test_render_info),
        cmocka_unit_test(test_render_json_capped),
        cmocka_unit_test(test_render_header),
        cmocka_unit_test(test_redacted_env),
        cmocka_unit_test(test_empty_context),
        cmocka_unit_test(test_bad_templates),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_render_json_example),
        cmocka_unit_test(test_render_json),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_ref_resolve),
        cmocka_unit_test(test_ref_bad),
        cmocka_unit_test(test_generated_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
