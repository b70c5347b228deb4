/*
 * test_render.c - unit tests for worker/render.c: the outbound request rendered from a
 * bridge's templates (URL, headers, payload), the headers hookbridge adds and the ones it
 * leaves out, $env redacted for the event, signing, the caps (rendered_too_large), and the
 * outbound record of the event.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "bridge.h"
#include "hb.h"
#include "job.h"
#include "render.h"
#include "xalloc.h"

/* HOOKBRIDGE_SECRET_KEY for these tests. */
static const unsigned char key[CRYPTO_KEY_LEN] = "0123456789abcdef0123456789abcdef";

/* Standard Webhooks' example secret. */
#define SIGNING "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static struct bridge *make_bridge(const char *json)
{
    char field[64], err[HB_ERR_LEN];
    struct bridge *b = NULL;
    cJSON *in = cJSON_Parse(json);
    if (in == NULL)
        fail_msg("test input is not json: %s", json);
    if (bridge_from_api(in, NULL, key, &b, field, sizeof(field), err, sizeof(err)) != 0)
        fail_msg("%s refused: %s: %s", json, field, err);
    cJSON_Delete(in);
    return b;
}

/* A job as the ingress queues it: POST with a JSON body and one inbound header. */
static void make_job(struct job *j, const char *body)
{
    memset(j, 0, sizeof(*j));
    snprintf(j->id, sizeof(j->id), "evt_0123456789abcdef");
    snprintf(j->bridge_id, sizeof(j->bridge_id), "brg_x");
    j->received_ms = 1700000000000LL;
    j->method = xstrdup("POST");
    j->path = xstrdup("/hooks/abc");
    j->query = xstrdup("a=1&b=two%20words");
    j->headers_json = xstrdup("{\"x-shop\":\"acme\",\"content-type\":\"application/json\"}");
    j->content_type = xstrdup("application/json");
    j->body = xstrdup(body);
    j->body_len = strlen(body);
    j->replay_of = xstrdup("");
}

/* The value of header line `name` in a NULL-terminated list, or NULL. */
static const char *header(char **hdr, const char *name)
{
    size_t len = strlen(name);
    for (char **h = hdr; h && *h; h++)
        if (strncmp(*h, name, len) == 0 && (*h)[len] == ':')
            return (*h)[len + 1] == ' ' ? *h + len + 2 : *h + len + 1;
    return NULL;
}

static size_t count_headers(char **hdr)
{
    size_t n = 0;
    for (char **h = hdr; h && *h; h++)
        n++;
    return n;
}

/* One rendering of `b` for `j`; returns render_request's answer. */
static int render(struct bridge *b, struct job *j, bool redact, const char *signing,
                  size_t max_body, bool *omit, struct render_request *out, char *err)
{
    struct render_ctx c;
    char cerr[HB_ERR_LEN];
    if (render_ctx_init(&c, b, &b->routes[0], j, key, cerr, sizeof(cerr)) != 0)
        fail_msg("render_ctx_init: %s", cerr);
    int rc = render_request(&c, 2, max_body, redact, signing, omit, out, err, HB_ERR_LEN);
    render_ctx_clear(&c);
    return rc;
}

static void test_templates_rendered(void **state)
{
    (void)state;
    struct bridge *b = make_bridge(
        "{\"outbound_url\":\"http://127.0.0.1:9/o/$payload.order.id?shop=$headers.x-shop\","
        "\"headers\":{\"X-Query\":\"$query.b\",\"X-Event\":\"$event.id\"},"
        "\"payload\":{\"id\":\"$payload.order.id\",\"total\":\"$payload.order.total\","
        "\"text\":\"order ${payload.order.id} of $bridge.id\"}}");
    struct job j;
    make_job(&j, "{\"order\":{\"id\":\"a/b c\",\"total\":12.5}}");
    bool omit[8] = {false};
    struct render_request rq;
    char err[HB_ERR_LEN];
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), 0);
    /* Sender's values are percent-encoded in the URL. */
    assert_string_equal(rq.url, "http://127.0.0.1:9/o/a%2Fb%20c?shop=acme");
    assert_string_equal(header(rq.hdr, "X-Query"), "two words");
    assert_string_equal(header(rq.hdr, "X-Event"), "evt_0123456789abcdef");
    assert_string_equal(header(rq.hdr, "X-Hookbridge-Event-Id"), "evt_0123456789abcdef");
    assert_string_equal(header(rq.hdr, "X-Hookbridge-Attempt"), "2");
    assert_string_equal(header(rq.hdr, "Content-Type"), "application/json");
    assert_non_null(header(rq.hdr, "User-Agent"));
    assert_null(header(rq.hdr, "webhook-signature"));
    cJSON *body = cJSON_Parse(rq.body);
    assert_non_null(body);
    assert_int_equal(strlen(rq.body), rq.body_len);
    assert_string_equal(cJSON_GetObjectItem(body, "id")->valuestring, "a/b c");
    assert_true(cJSON_GetObjectItem(body, "total")->valuedouble == 12.5);
    char want[128];
    snprintf(want, sizeof(want), "order a/b c of %s", b->id);
    assert_string_equal(cJSON_GetObjectItem(body, "text")->valuestring, want);
    cJSON_Delete(body);
    render_request_clear(&rq);
    job_clear(&j);
    bridge_free(b);
}

/* Without a payload template the inbound body goes out (body NULL) with its own type. */
static void test_inbound_body_forwarded(void **state)
{
    (void)state;
    struct bridge *b = make_bridge("{\"outbound_url\":\"http://127.0.0.1:9/in\","
                                   "\"headers\":{\"User-Agent\":\"mine/1\"}}");
    struct job j;
    make_job(&j, "a=1");
    free(j.content_type);
    j.content_type = xstrdup("application/x-www-form-urlencoded");
    bool omit[2] = {false};
    struct render_request rq;
    char err[HB_ERR_LEN];
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), 0);
    assert_null(rq.body);
    assert_string_equal(header(rq.hdr, "Content-Type"), "application/x-www-form-urlencoded");
    /* The bridge's User-Agent replaces hookbridge's. */
    assert_string_equal(header(rq.hdr, "User-Agent"), "mine/1");
    render_request_clear(&rq);

    /* No inbound type: "Content-Type:" with no value, so curl adds no default. */
    free(j.content_type);
    j.content_type = xstrdup("");
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), 0);
    assert_string_equal(header(rq.hdr, "Content-Type"), "");
    render_request_clear(&rq);
    job_clear(&j);
    bridge_free(b);
}

/* $env goes out in the request and "[redacted]" in the event's copy. */
static void test_env_redacted(void **state)
{
    (void)state;
    struct bridge *b =
        make_bridge("{\"outbound_url\":\"http://127.0.0.1:9/in\",\"env\":{\"TOKEN\":\"s3cret\"},"
                    "\"headers\":{\"Authorization\":\"Bearer $env.TOKEN\"}}");
    struct job j;
    make_job(&j, "{}");
    bool omit[2] = {false};
    struct render_request sent, shown;
    char err[HB_ERR_LEN];
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &sent, err), 0);
    assert_string_equal(header(sent.hdr, "Authorization"), "Bearer s3cret");
    assert_int_equal(render(b, &j, true, NULL, 1 << 20, omit, &shown, err), 0);
    assert_string_equal(header(shown.hdr, "Authorization"), "Bearer [redacted]");

    struct render_ctx c;
    assert_int_equal(render_ctx_init(&c, b, &b->routes[0], &j, key, err, HB_ERR_LEN), 0);
    cJSON *o = render_outbound(&c, &shown);
    render_ctx_clear(&c);
    char *text = cJSON_PrintUnformatted(o);
    assert_null(strstr(text, "s3cret"));
    assert_string_equal(cJSON_GetObjectItem(o, "method")->valuestring, "POST");
    assert_string_equal(cJSON_GetObjectItem(o, "url")->valuestring, "http://127.0.0.1:9/in");
    cJSON *h = cJSON_GetObjectItem(o, "headers");
    assert_string_equal(cJSON_GetObjectItem(h, "Authorization")->valuestring, "Bearer [redacted]");
    /* The inbound body as the event shows it. */
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(o, "body")));
    free(text);
    cJSON_Delete(o);
    render_request_clear(&sent);
    render_request_clear(&shown);
    job_clear(&j);
    bridge_free(b);
}

/* render_outbound_json is render_outbound printed: the same JSON value for every kind of body
 * (parsed JSON copied in as text, a rendered payload, text, binary, a JSON string, none,
 * GET) and for header values that need escaping. */
static void test_outbound_json_matches_tree(void **state)
{
    (void)state;
    static const char *const bridges[] = {
        "{\"outbound_url\":\"http://127.0.0.1:9/in?q=$query.b\",\"env\":{\"T\":\"s3cret\"},"
        "\"headers\":{\"Authorization\":\"Bearer $env.T\",\"X-Q\":\"$query.b\","
        "\"X-Shop\":\"\\\"$headers.x-shop\\\\\\t\"}}",
        "{\"outbound_url\":\"http://127.0.0.1:9/p\",\"payload\":{\"id\":\"$payload.id\","
        "\"all\":\"$payload\"}}",
        "{\"outbound_url\":\"http://127.0.0.1:9/g\",\"method\":\"GET\"}",
    };
    static const char *const bodies[] = {
        "{\"id\":1,\"order\":{\"note\":\"caf\\u00e9 \\\"x\\\"\",\"n\":[1,2.5,-3e2,true,null]}}",
        "[1, 2 ,{\"a\" : \"b\"}]",
        "\"just a string\"",
        "a=1&b=text",
        "caf\xff binary",
        "",
        "{\"dup\":1,\"dup\":2}",
        "{\"nul\":\"a\\u0000b\"}",
    };
    for (size_t bi = 0; bi < sizeof(bridges) / sizeof(bridges[0]); bi++) {
        struct bridge *b = make_bridge(bridges[bi]);
        for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
            struct job j;
            make_job(&j, bodies[k]);
            bool omit[8] = {false};
            struct render_request sent, shown;
            char err[HB_ERR_LEN];
            int rc = render(b, &j, false, NULL, 1 << 20, omit, &sent, err);
            if (rc != 0) {
                /* A payload template over a body that is not JSON: nothing to record. */
                render_request_clear(&sent);
                job_clear(&j);
                continue;
            }
            assert_int_equal(render(b, &j, true, NULL, 1 << 20, omit, &shown, err), 0);
            struct render_ctx c;
            assert_int_equal(render_ctx_init(&c, b, &b->routes[0], &j, key, err, HB_ERR_LEN), 0);
            cJSON *tree = render_outbound(&c, &shown);
            char *text = render_outbound_json(&c, &shown);
            render_ctx_clear(&c);
            assert_non_null(text);
            cJSON *back = cJSON_Parse(text);
            if (back == NULL || !cJSON_Compare(back, tree, true)) {
                char *want = cJSON_PrintUnformatted(tree);
                fail_msg("bridge %zu body %zu:\n got %s\nwant %s", bi, k, text, want);
            }
            assert_null(strstr(text, "s3cret"));
            cJSON_Delete(back);
            cJSON_Delete(tree);
            free(text);
            render_request_clear(&sent);
            render_request_clear(&shown);
            job_clear(&j);
        }
        bridge_free(b);
    }
}

/* A header whose references are all missing, or whose value is blank, is left out; the
 * redacted rendering leaves out the same ones, even when only the env made the difference. */
static void test_headers_left_out(void **state)
{
    (void)state;
    struct bridge *b = make_bridge(
        "{\"outbound_url\":\"http://127.0.0.1:9/in\",\"payload\":{\"a\":1},"
        "\"headers\":{\"X-Missing\":\"$payload.nope\",\"X-Blank\":\"$payload.blank\","
        "\"Content-Type\":\"$payload.type\",\"X-Kept\":\"v=$payload.nope $headers.x-shop\"}}");
    struct job j;
    make_job(&j, "{\"blank\":\"  \"}");
    bool omit[4] = {false};
    struct render_request sent, shown;
    char err[HB_ERR_LEN];
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &sent, err), 0);
    size_t i = 0;
    for (const cJSON *h = b->routes[0].headers->child; h != NULL; h = h->next, i++)
        if (omit[i] != (strcmp(h->string, "X-Kept") != 0))
            fail_msg("header %s: omit %d", h->string, omit[i]);
    assert_int_equal(i, 4);
    assert_null(header(sent.hdr, "X-Missing"));
    assert_null(header(sent.hdr, "X-Blank"));
    assert_string_equal(header(sent.hdr, "X-Kept"), "v= acme");
    /* The bridge's Content-Type was left out, so the default applies. */
    assert_string_equal(header(sent.hdr, "Content-Type"), "application/json");
    assert_int_equal(render(b, &j, true, NULL, 1 << 20, omit, &shown, err), 0);
    assert_int_equal(count_headers(shown.hdr), count_headers(sent.hdr));
    render_request_clear(&sent);
    render_request_clear(&shown);
    job_clear(&j);
    bridge_free(b);
}

/* A signing secret adds the Standard Webhooks headers over the exact body sent. */
static void test_signed(void **state)
{
    (void)state;
    struct bridge *b = make_bridge("{\"outbound_url\":\"http://127.0.0.1:9/in\"}");
    struct job j;
    make_job(&j, "{\"x\":1}");
    bool omit[1] = {false};
    struct render_request rq;
    char err[HB_ERR_LEN];
    assert_int_equal(render(b, &j, false, SIGNING, 1 << 20, omit, &rq, err), 0);
    assert_string_equal(header(rq.hdr, "webhook-id"), j.id);
    const char *ts = header(rq.hdr, "webhook-timestamp");
    assert_non_null(ts);
    const char *sig = header(rq.hdr, "webhook-signature");
    assert_non_null(sig);
    char *want = crypto_webhook_sign(SIGNING, j.id, strtoll(ts, NULL, 10), j.body, j.body_len);
    assert_string_equal(sig, want);
    free(want);
    render_request_clear(&rq);

    assert_int_equal(render(b, &j, false, "not-a-secret", 1 << 20, omit, &rq, err), -1);
    assert_non_null(strstr(err, "signing_secret"));
    render_request_clear(&rq);
    job_clear(&j);
    bridge_free(b);
}

/* Each part has its cap: the body the caller's, the URL 8 KiB, a header value 16 KiB. */
static void test_too_large(void **state)
{
    (void)state;
    size_t n = RENDER_HEADER_MAX + 10;
    char *big = xmalloc(n + 32);
    memcpy(big, "{\"s\":\"", 6);
    memset(big + 6, 'a', n);
    memcpy(big + 6 + n, "\"}", 3);
    struct job j;
    make_job(&j, big);
    free(big);
    char err[HB_ERR_LEN];
    struct render_request rq;
    bool omit[1] = {false};

    struct bridge *b =
        make_bridge("{\"outbound_url\":\"http://127.0.0.1:9/in\",\"payload\":\"$payload\"}");
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), 0);
    render_request_clear(&rq);
    assert_int_equal(render(b, &j, false, NULL, 1000, omit, &rq, err), RENDER_TOO_LARGE);
    assert_non_null(strstr(err, "payload"));
    render_request_clear(&rq);
    bridge_free(b);

    b = make_bridge("{\"outbound_url\":\"http://127.0.0.1:9/in?s=$payload.s\"}");
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), RENDER_TOO_LARGE);
    assert_non_null(strstr(err, "outbound_url"));
    render_request_clear(&rq);
    bridge_free(b);

    b = make_bridge("{\"outbound_url\":\"http://127.0.0.1:9/in\","
                    "\"headers\":{\"X-Big\":\"$payload.s\"}}");
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), RENDER_TOO_LARGE);
    assert_non_null(strstr(err, "headers.X-Big"));
    render_request_clear(&rq);
    bridge_free(b);
    job_clear(&j);
}

/* A URL template that renders to something else than an http(s) URL ends the event. */
static void test_unusable_url(void **state)
{
    (void)state;
    struct bridge *b =
        make_bridge("{\"outbound_url\":\"http://$env.HOST/in\",\"env\":{\"HOST\":\"\"}}");
    struct job j;
    make_job(&j, "{}");
    bool omit[1] = {false};
    struct render_request rq;
    char err[HB_ERR_LEN];
    assert_int_equal(render(b, &j, false, NULL, 1 << 20, omit, &rq, err), -1);
    assert_non_null(strstr(err, "unusable URL"));
    render_request_clear(&rq);
    job_clear(&j);
    bridge_free(b);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    xalloc_init_cjson();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates_rendered),
        cmocka_unit_test(test_inbound_body_forwarded),
        cmocka_unit_test(test_env_redacted),
        cmocka_unit_test(test_outbound_json_matches_tree),
        cmocka_unit_test(test_headers_left_out),
        cmocka_unit_test(test_signed),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_unusable_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
