/*
 * fuzz_body.c - libFuzzer harness for inbound body handling (common/body.c): any bytes as a
 * JSON body, a form body and a query string, and the event built from them
 * (common/event.c), which must always print as valid JSON. What body_check_json accepts,
 * cJSON must parse, and the ingress's straight-printed event must be the same event.
 */
#include "body.h"
#include "event.h"
#include "job.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    const char *s = (const char *)data;
    bool is_string = false;
    bool checked = body_check_json(s, size, &is_string, err, sizeof(err));
    if (!checked && !utf8_valid(err, strlen(err), false))
        abort(); /* messages name keys and go into JSON text */
    /* Allowing duplicates only ever accepts more; any message stays UTF-8 when cut short. */
    static const struct body_json_check loose = {.flags = BODY_JSON_ALLOW_DUPS | BODY_JSON_NO_NUL,
                                                 .subject = "request body"};
    char small[48];
    bool loose_ok = body_check_json_opts(s, size, &loose, NULL, small, sizeof(small));
    if (!loose_ok && !utf8_valid(small, strlen(small), false))
        abort();
    if (checked && !loose_ok && memmem(s, size, "\\u0000", 6) == NULL)
        abort();
    cJSON *v = body_parse_json(s, size, err, sizeof(err));
    if (checked != (v != NULL))
        abort(); /* the checker and the parser must agree */
    cJSON_Delete(v);
    cJSON *f = body_form_object(s, size);
    cJSON_Delete(f);
    v = body_to_json("application/x-www-form-urlencoded", s, size, err, sizeof(err));
    cJSON_Delete(v);

    struct job j;
    memset(&j, 0, sizeof(j));
    memcpy(j.id, "evt_01ARYZ6S41TSV4RRFFQ69G5FAV", 31);
    memcpy(j.bridge_id, "brg_01ARYZ6S41TSV4RRFFQ69G5FAV", 31);
    char method[] = "POST", path[] = "/hooks/x", ctype[] = "application/json", none[] = "";
    j.method = method;
    j.path = path;
    char *q = malloc(size + 1);
    memcpy(q, data, size);
    q[size] = '\0';
    j.query = q;
    j.headers_json = q;
    j.content_type = ctype;
    j.body = (char *)data;
    j.body_len = size;
    j.replay_of = none;
    cJSON *ev = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
    char *text = cJSON_PrintUnformatted(ev);
    cJSON *back = cJSON_Parse(text);
    if (back == NULL)
        abort(); /* an event must always be valid JSON text */
    /* The event keeps a body as JSON when it is strict JSON without \u0000 (event.c). */
    static const struct body_json_check no_nul = {.flags = BODY_JSON_NO_NUL};
    bool as_json = body_check_json_opts(s, size, &no_nul, &is_string, err, sizeof(err));
    if (as_json && !is_string) {
        /* The body is NUL-free when checked, so it is also the C string the writer needs. */
        char *body = malloc(size + 1);
        memcpy(body, data, size);
        body[size] = '\0';
        j.body = body;
        j.headers_json = none;
        char *fast = event_json_trusted(&j, EVENT_STATUS_QUEUED, 0);
        cJSON *slow = event_from_job(&j, EVENT_STATUS_QUEUED, 0);
        cJSON *fast_v = fast ? cJSON_Parse(fast) : NULL;
        if (fast == NULL || fast_v == NULL)
            abort();
        /* Compared as cJSON prints them: it writes a number too large for a double as null
         * (the straight event keeps the sender's text), and cJSON_Compare would trip on
         * repeated keys, which both keep in the same order. */
        char *fast_text = cJSON_PrintUnformatted(fast_v), *slow_text = cJSON_PrintUnformatted(slow);
        if (strcmp(fast_text, slow_text) != 0)
            abort();
        free(fast_text);
        free(slow_text);
        cJSON_Delete(fast_v);
        cJSON_Delete(slow);
        free(fast);
        free(body);
        j.body = (char *)data;
    }
    struct job r;
    if (event_request_to_job(back, &r, err, sizeof(err)) == 0)
        job_clear(&r);
    cJSON_Delete(back);
    free(text);
    cJSON_Delete(ev);
    free(q);
    return 0;
}
