/*
 * test_jsonschema_suite.c - runs the official JSON-Schema-Test-Suite (draft7) against
 * common/jsonschema.c, one cmocka test per suite file.
 *
 * The suite folder is $HB_JSON_SCHEMA_SUITE, else ../shared/data/json-schema-test-suite/
 * tests/draft7 (the newest suite, beside the checkout), else Debian's older
 * /usr/share/json-schema-test-suite/tests/draft7. Every top-level file runs, plus the
 * optional files below that we pass in full. A group whose schema jsonschema_compile refuses
 * for a reason the header allows (an unsupported keyword, an unknown format, a remote $ref)
 * is skipped with that reason; any other refusal, and any case whose validity differs from
 * the suite's, is a failure.
 *
 * Each schema and each instance goes the way a request's does, not a shortcut: the schema
 * is sent as a bridge body (printed, parsed as the admin API parses it, bridge_from_api),
 * stored and read back (bridge_to_store, bridge_from_store) and compiled from there as the
 * bridge cache does; the instance is printed as a client would and parsed by
 * body_to_json_whole, as the ingress parses a hook's body for its schema. Strings holding
 * U+0000 (which the suite's own parse here ends at the NUL, so they are read with a
 * stand-in and printed back as \u0000) run both in schemas and in instances.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "body.h"
#include "bridge.h"
#include "jsonschema.h"
#include "text.h"
#include "xalloc.h"
#include "../readfile.h"

/* Optional files run when present: the formats we support and the extras we pass. */
static const char *const optional_files[] = {
    "optional/format/date-time.json", "optional/format/date.json",
    "optional/format/time.json",      "optional/format/email.json",
    "optional/format/hostname.json",  "optional/format/ipv4.json",
    "optional/format/ipv6.json",      "optional/format/uri.json",
    "optional/format/unknown.json",   "optional/bignum.json",
    "optional/ecmascript-regex.json", "optional/non-bmp-regex.json",
    "optional/float-overflow.json",   "optional/id.json",
};

/* Compile refusals that skip a group rather than fail it. */
static const char *const skip_reasons[] = {
    "unsupported keyword",
    "unknown format",
    "unsupported remote $ref",
};

/* What "\u0000" in the suite's text becomes before parsing, so such cases can be found. */
#define NUL_STANDIN "\\uffff"
#define NUL_STANDIN_UTF8 "\xef\xbf\xbf"

struct suite_file {
    char *name; /* relative to the suite folder */
    char *path;
};

static char *suite_dir;
static struct suite_file *files;
static size_t n_files;
static long total_run, total_passed, total_failed, total_skipped;
static char **failures; /* "file / group / case: why", listed again after the summary */
static size_t n_failures;

static void note_failure(char *line)
{
    printf("  FAIL %s\n", line);
    failures = xrealloc(failures, (n_failures + 1) * sizeof(*failures));
    failures[n_failures++] = line;
}

/* Replace each \u0000 escape with the stand-in (same length, so in place). */
static void mark_nuls(char *text)
{
    for (char *p = strstr(text, "\\u0000"); p != NULL; p = strstr(p + 6, "\\u0000"))
        memcpy(p, NUL_STANDIN, 6);
}

static bool is_skip_reason(const char *err)
{
    for (size_t i = 0; i < sizeof(skip_reasons) / sizeof(skip_reasons[0]); i++)
        if (strstr(err, skip_reasons[i]) != NULL)
            return true;
    return false;
}

/* `v` as a client prints it: the stand-in for U+0000 printed back as the suite's \u0000. */
static char *client_print(const cJSON *v)
{
    char *printed = text_json_print(v);
    char *text = xmalloc(2 * strlen(printed) + 1);
    size_t o = 0;
    for (const char *p = printed; *p;) {
        if (strncmp(p, NUL_STANDIN_UTF8, 3) == 0) {
            memcpy(text + o, "\\u0000", 6);
            o += 6;
            p += 3;
        } else {
            text[o++] = *p++;
        }
    }
    text[o] = '\0';
    free(printed);
    return text;
}

/*
 * Compile `schema` as the ingress gets it: in a bridge body the admin API parses and
 * checks, stored as a row, read back and compiled as the bridge cache does.
 */
static int compile_as_bridge(const cJSON *schema, struct jsonschema **out, char *err, size_t errlen)
{
    static const unsigned char key[CRYPTO_KEY_LEN];
    int rc = -1;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "outbound_url", "http://127.0.0.1:9/suite");
    cJSON_AddItemToObject(in, "schema", cJSON_Duplicate(schema, true));
    char *request = client_print(in);
    cJSON_Delete(in);
    /* As ingress/http.c reads an admin body. */
    cJSON *parsed = body_json_whole(request, strlen(request), NULL);
    free(request);
    struct bridge *b = NULL, *stored = NULL;
    char field[64];
    char *row = NULL;
    if (parsed == NULL) {
        snprintf(err, errlen, "bridge body does not parse");
        goto out;
    }
    if (bridge_from_api(parsed, NULL, key, &b, field, sizeof(field), err, errlen) != 0)
        goto out;
    row = bridge_to_store(b);
    if (bridge_from_store(row, &stored, err, errlen) != 0)
        goto out;
    if (stored->schema == NULL) {
        snprintf(err, errlen, "stored bridge lost its schema");
        goto out;
    }
    rc = jsonschema_compile(stored->schema, out, err, errlen);
out:
    bridge_free(stored);
    free(row);
    bridge_free(b);
    cJSON_Delete(parsed);
    return rc;
}

/* The instance as the ingress sees a body that a client printed. */
static cJSON *parse_as_body(const cJSON *data)
{
    char *text = client_print(data);
    char err[256];
    cJSON *v = body_to_json_whole("application/json", text, strlen(text), err, sizeof(err));
    if (v == NULL)
        fail_msg("body %s refused: %s", text, err);
    free(text);
    return v;
}

/* Validate with and without error collection: both must agree with the suite. */
static bool case_passes(const struct jsonschema *js, const cJSON *suite_data, bool want, char *why,
                        size_t whylen)
{
    cJSON *data = parse_as_body(suite_data);
    cJSON *errors = cJSON_CreateArray();
    bool quick = jsonschema_validate(js, data, NULL, 0);
    bool full = jsonschema_validate(js, data, errors, 50);
    int n = cJSON_GetArraySize(errors);
    bool ok = quick == want && full == want && (want ? n == 0 : n > 0);
    if (!ok) {
        char *text = n > 0 ? cJSON_PrintUnformatted(errors->child) : NULL;
        snprintf(why, whylen, "expected %s, got %s (with errors: %s, %d errors%s%s)",
                 want ? "valid" : "invalid", quick ? "valid" : "invalid",
                 full ? "valid" : "invalid", n, text ? ", first " : "", text ? text : "");
        free(text);
    }
    cJSON_Delete(errors);
    cJSON_Delete(data);
    return ok;
}

static void run_file(void **state)
{
    const struct suite_file *f = *state;
    char *text = readfile(f->path);
    if (text == NULL)
        fail_msg("%s: cannot read %s", f->name, f->path);
    mark_nuls(text);
    cJSON *groups = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(groups))
        fail_msg("%s: not a JSON array of test groups", f->name);
    long run = 0, passed = 0, failed = 0, skipped = 0;
    const cJSON *group;
    cJSON_ArrayForEach(group, groups)
    {
        const char *gdesc = cJSON_GetStringValue(cJSON_GetObjectItem(group, "description"));
        const cJSON *schema = cJSON_GetObjectItem(group, "schema");
        const cJSON *tests = cJSON_GetObjectItem(group, "tests");
        int ncases = cJSON_GetArraySize(tests);
        struct jsonschema *js = NULL;
        char err[512];
        if (compile_as_bridge(schema, &js, err, sizeof(err)) != 0) {
            if (is_skip_reason(err)) {
                printf("  skip %s / %s (%d cases): %s\n", f->name, gdesc, ncases, err);
                skipped += ncases;
            } else {
                note_failure(xasprintf("%s / %s: schema refused: %s", f->name, gdesc, err));
                run += ncases;
                failed += ncases;
            }
            continue;
        }
        const cJSON *tc;
        cJSON_ArrayForEach(tc, tests)
        {
            const char *cdesc = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "description"));
            const cJSON *data = cJSON_GetObjectItem(tc, "data");
            bool want = cJSON_IsTrue(cJSON_GetObjectItem(tc, "valid"));
            char why[1024];
            run++;
            if (case_passes(js, data, want, why, sizeof(why))) {
                passed++;
            } else {
                failed++;
                note_failure(xasprintf("%s / %s / %s: %s", f->name, gdesc, cdesc, why));
            }
        }
        jsonschema_free(js);
    }
    cJSON_Delete(groups);
    printf("%s: %ld run, %ld passed, %ld skipped\n", f->name, run, passed, skipped);
    total_run += run;
    total_passed += passed;
    total_failed += failed;
    total_skipped += skipped;
    if (failed > 0)
        fail_msg("%s: %ld of %ld cases failed", f->name, failed, run);
}

/* Group teardown: runs after every file, before cmocka's own closing lines. */
static int print_summary(void **state)
{
    (void)state;
    printf("JSON-Schema-Test-Suite draft7 (%s): %ld cases run, %ld passed, %ld failed, "
           "%ld skipped\n",
           suite_dir, total_run, total_passed, total_failed, total_skipped);
    for (size_t i = 0; i < n_failures; i++)
        printf("failed: %s\n", failures[i]);
    return 0;
}

static void no_suite(void **state)
{
    (void)state;
    fail_msg("JSON-Schema-Test-Suite draft7 not found: set HB_JSON_SCHEMA_SUITE to its "
             "tests/draft7 folder, or provide ../shared/data/json-schema-test-suite/tests/draft7 "
             "or /usr/share/json-schema-test-suite/tests/draft7 (Debian package "
             "json-schema-test-suite)");
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void add_file(const char *name)
{
    char *path = xasprintf("%s/%s", suite_dir, name);
    if (!is_file(path)) {
        free(path);
        return;
    }
    files = xrealloc(files, (n_files + 1) * sizeof(*files));
    files[n_files].name = xstrdup(name);
    files[n_files].path = path;
    n_files++;
}

static int json_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static const char *find_suite(void)
{
    static const char *const places[] = {
        "../shared/data/json-schema-test-suite/tests/draft7",
        "/usr/share/json-schema-test-suite/tests/draft7",
    };
    const char *env = getenv("HB_JSON_SCHEMA_SUITE");
    if (env != NULL && env[0] != '\0')
        return is_dir(env) ? env : NULL;
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++)
        if (is_dir(places[i]))
            return places[i];
    return NULL;
}

int main(void)
{
    xalloc_init_cjson();
    const char *dir = find_suite();
    if (dir == NULL) {
        const struct CMUnitTest missing[] = {cmocka_unit_test(no_suite)};
        return cmocka_run_group_tests_name("json_schema_test_suite", missing, NULL, NULL);
    }
    suite_dir = xstrdup(dir);
    struct dirent **entries;
    int n = scandir(suite_dir, &entries, json_file, alphasort);
    for (int i = 0; i < n; i++) {
        add_file(entries[i]->d_name);
        free(entries[i]);
    }
    if (n >= 0)
        free(entries);
    for (size_t i = 0; i < sizeof(optional_files) / sizeof(optional_files[0]); i++)
        add_file(optional_files[i]);

    if (n_files == 0) {
        free(suite_dir);
        const struct CMUnitTest missing[] = {cmocka_unit_test(no_suite)};
        return cmocka_run_group_tests_name("json_schema_test_suite", missing, NULL, NULL);
    }
    struct CMUnitTest *tests = xcalloc(n_files, sizeof(*tests));
    for (size_t i = 0; i < n_files; i++) {
        tests[i].name = files[i].name;
        tests[i].test_func = run_file;
        tests[i].initial_state = &files[i];
    }
    int status =
        _cmocka_run_group_tests("json_schema_test_suite", tests, n_files, NULL, print_summary);
    for (size_t i = 0; i < n_files; i++) {
        free(files[i].name);
        free(files[i].path);
    }
    free(files);
    free(tests);
    free(suite_dir);
    return status;
}
