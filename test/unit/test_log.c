/*
 * test_log.c - unit tests for common/log.c. log_setup's accepted and refused names, then
 * records captured from stderr (dup2 onto a temporary file): a JSON record is exactly one
 * line that cJSON parses, with ts, level, msg and the given fields, digit strings as
 * numbers only when they are valid JSON numbers, quotes, backslashes, newlines and control
 * characters escaped, and still valid when a field is far too long to fit; levels below
 * the threshold write nothing; the text format is "ts level msg key=value".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "hb.h"
#include "log.h"

static FILE *cap_file;
static int cap_saved = -1;
static char cap_buf[1 << 16];

static void capture_begin(void)
{
    fflush(stderr);
    cap_file = tmpfile();
    assert_non_null(cap_file);
    cap_saved = dup(STDERR_FILENO);
    assert_true(cap_saved >= 0);
    assert_int_equal(dup2(fileno(cap_file), STDERR_FILENO), STDERR_FILENO);
}

/* Restore stderr and return what was written meanwhile (NUL-terminated), length in *len. */
static const char *capture_end(size_t *len)
{
    log_flush();
    fflush(stderr);
    dup2(cap_saved, STDERR_FILENO);
    close(cap_saved);
    cap_saved = -1;
    rewind(cap_file);
    size_t n = fread(cap_buf, 1, sizeof(cap_buf) - 1, cap_file);
    cap_buf[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    if (len != NULL)
        *len = n;
    return cap_buf;
}

static void set_log(const char *level, const char *format)
{
    char err[HB_ERR_LEN];
    if (log_setup(level, format, err, sizeof(err)) != 0)
        fail_msg("log_setup(%s, %s): %s", level, format, err);
}

/*
 * Check that `out` is one JSON object on one line with ts, level and msg, and return it
 * parsed (the caller deletes it).
 */
static cJSON *parse_record(const char *out, size_t len, const char *level, const char *ts_lo,
                           const char *ts_hi)
{
    assert_true(len > 2);
    assert_int_equal(out[len - 1], '\n');
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);
    for (size_t i = 0; i + 1 < len; i++)
        if ((unsigned char)out[i] < 0x20)
            fail_msg("raw control character 0x%02x at %zu", (unsigned char)out[i], i);
    const char *end = NULL;
    cJSON *rec = cJSON_ParseWithLengthOpts(out, len - 1, &end, false);
    if (rec == NULL)
        fail_msg("not JSON: %s", out);
    assert_ptr_equal(end, out + len - 1);
    assert_true(cJSON_IsObject(rec));

    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(rec, "ts");
    assert_true(cJSON_IsString(ts));
    assert_int_equal(strlen(ts->valuestring), 24);
    assert_int_equal(ts->valuestring[10], 'T');
    assert_int_equal(ts->valuestring[23], 'Z');
    /* ISO 8601 strings of one width sort as the instants do. */
    assert_true(strcmp(ts_lo, ts->valuestring) <= 0);
    assert_true(strcmp(ts->valuestring, ts_hi) <= 0);

    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(rec, "level");
    assert_true(cJSON_IsString(lv));
    assert_string_equal(lv->valuestring, level);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "msg")));
    return rec;
}

static void now_iso(char out[CLOCK_ISO_LEN])
{
    clock_iso8601(clock_now_ms(), out);
}

struct setup_case {
    const char *level;
    const char *format;
    int rc;
    const char *bad; /* named in err when rc is -1 */
};

static const struct setup_case setup_cases[] = {
    {"debug", "json", 0, NULL},         {"info", "json", 0, NULL},
    {"warn", "json", 0, NULL},          {"error", "json", 0, NULL},
    {"debug", "text", 0, NULL},         {"info", "text", 0, NULL},
    {"warn", "text", 0, NULL},          {"error", "text", 0, NULL},
    {"DEBUG", "json", -1, "DEBUG"},     {"trace", "json", -1, "trace"},
    {"warning", "json", -1, "warning"}, {"", "json", -1, "level"},
    {"fatal", "text", -1, "fatal"},     {"info", "JSON", -1, "JSON"},
    {"info", "xml", -1, "xml"},         {"info", "", -1, "format"},
    {"info", "logfmt", -1, "logfmt"},
};

static void test_setup_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(setup_cases) / sizeof(setup_cases[0]); i++) {
        const struct setup_case *c = &setup_cases[i];
        char err[HB_ERR_LEN] = "";
        int rc = log_setup(c->level, c->format, err, sizeof(err));
        if (rc != c->rc)
            fail_msg("log_setup(\"%s\", \"%s\") = %d, want %d", c->level, c->format, rc, c->rc);
        if (rc != 0)
            assert_non_null(strstr(err, c->bad));
    }
}

static void test_level_filtering(void **state)
{
    (void)state;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    for (int set = 0; set < 4; set++) {
        for (int rec = 0; rec < 4; rec++) {
            bool want = rec >= set;
            set_log(names[set], "json");
            assert_int_equal(log_enabled(levels[rec]), want);
            size_t len;

            capture_begin();
            log_kv(levels[rec], "kv record", "k", "v", NULL);
            capture_end(&len);
            if ((len > 0) != want)
                fail_msg("threshold %s, log_kv at %s wrote %zu bytes", names[set], names[rec], len);

            capture_begin();
            log_msgf(levels[rec], "formatted %d", rec);
            capture_end(&len);
            if ((len > 0) != want)
                fail_msg("threshold %s, log_msgf at %s wrote %zu bytes", names[set], names[rec],
                         len);

            /* The filter holds in the text format as well. */
            set_log(names[set], "text");
            capture_begin();
            log_kv(levels[rec], "kv record", NULL);
            capture_end(&len);
            assert_int_equal(len > 0, want);
        }
    }
}

enum want_type { W_STR, W_NUM };

struct field_case {
    const char *key;
    const char *value;
    enum want_type type;
    double num;
};

static const struct field_case field_cases[] = {
    {"event_id", "evt_01ARYZ6S41TSV4RRFFQ69G5FAV", W_STR, 0},
    {"status", "200", W_NUM, 200},
    {"neg", "-42", W_NUM, -42},
    {"zero", "0", W_NUM, 0},
    {"max15", "123456789012345", W_NUM, 123456789012345.0},
    /* Not JSON numbers, or too long to survive a double: strings as given. */
    {"lead", "007", W_STR, 0},
    {"zeros", "00", W_STR, 0},
    {"big", "1234567890123456", W_STR, 0},
    {"minus", "-", W_STR, 0},
    {"plus", "+1", W_STR, 0},
    {"float", "1.5", W_STR, 0},
    {"spaced", " 1", W_STR, 0},
    {"hex", "0x10", W_STR, 0},
    {"empty", "", W_STR, 0},
    /* Escaping */
    {"quote", "say \"hi\"", W_STR, 0},
    {"bs", "back\\slash \\n", W_STR, 0},
    {"nl", "line1\nline2\r\n", W_STR, 0},
    {"ctl", "\x01\x02\x1f\t\b\f\x7f", W_STR, 0},
    {"utf8", "caf\xc3\xa9 \xe2\x9c\x93", W_STR, 0},
    {"json", "{\"a\":[1,2]}", W_STR, 0},
    {"ke\"y\n", "v", W_STR, 0},
};

static void test_json_fields(void **state)
{
    (void)state;
    set_log("debug", "json");
    for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
        const struct field_case *c = &field_cases[i];
        char lo[CLOCK_ISO_LEN], hi[CLOCK_ISO_LEN];
        size_t len;
        now_iso(lo);
        capture_begin();
        log_kv(LOG_INFO, "field test", c->key, c->value, NULL);
        const char *out = capture_end(&len);
        now_iso(hi);
        cJSON *rec = parse_record(out, len, "info", lo, hi);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "msg")->valuestring,
                            "field test");
        assert_int_equal(cJSON_GetArraySize(rec), 4);
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec, c->key);
        if (f == NULL)
            fail_msg("field %s missing in %s", c->key, out);
        if (c->type == W_NUM) {
            if (!cJSON_IsNumber(f))
                fail_msg("%s=%s is not a number in %s", c->key, c->value, out);
            assert_true(f->valuedouble == c->num);
        } else {
            if (!cJSON_IsString(f))
                fail_msg("%s=%s is not a string in %s", c->key, c->value, out);
            assert_string_equal(f->valuestring, c->value);
        }
        cJSON_Delete(rec);
    }
}

static void test_json_record_many_fields(void **state)
{
    (void)state;
    set_log("info", "json");
    char lo[CLOCK_ISO_LEN], hi[CLOCK_ISO_LEN];
    size_t len;
    now_iso(lo);
    capture_begin();
    log_kv(LOG_ERROR, "bad \"input\"\n\tend", "event_id", "evt_1", "status", "503", "error",
           "connect: refused", NULL);
    const char *out = capture_end(&len);
    now_iso(hi);
    cJSON *rec = parse_record(out, len, "error", lo, hi);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "msg")->valuestring,
                        "bad \"input\"\n\tend");
    assert_int_equal(cJSON_GetArraySize(rec), 6);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "event_id")->valuestring, "evt_1");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(rec, "status")->valueint, 503);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "error")->valuestring,
                        "connect: refused");
    /* ts, level, msg lead, fields follow in the order given. */
    assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
    const char *p_level = strstr(out, "\"level\":");
    const char *p_msg = strstr(out, "\"msg\":");
    const char *p_ev = strstr(out, "\"event_id\":");
    const char *p_st = strstr(out, "\"status\":");
    const char *p_er = strstr(out, "\"error\":");
    assert_true(p_level != NULL && p_level < p_msg && p_msg < p_ev && p_ev < p_st && p_st < p_er);
    cJSON_Delete(rec);
}

static void test_msgf(void **state)
{
    (void)state;
    set_log("debug", "json");
    char lo[CLOCK_ISO_LEN], hi[CLOCK_ISO_LEN];
    size_t len;
    now_iso(lo);
    capture_begin();
    log_msgf(LOG_WARN, "%d jobs put back from %s (\"%s\")", 3, "w-1", "a\nb");
    const char *out = capture_end(&len);
    now_iso(hi);
    cJSON *rec = parse_record(out, len, "warn", lo, hi);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "msg")->valuestring,
                        "3 jobs put back from w-1 (\"a\nb\")");
    assert_int_equal(cJSON_GetArraySize(rec), 3);
    cJSON_Delete(rec);

    now_iso(lo);
    capture_begin();
    log_msgf(LOG_DEBUG, "plain");
    out = capture_end(&len);
    now_iso(hi);
    rec = parse_record(out, len, "debug", lo, hi);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "msg")->valuestring, "plain");
    cJSON_Delete(rec);
}

/*
 * Records too long for the line buffer are cut, and must still be one line of valid JSON:
 * a value that does not fit may be left out, but never half-written.
 */
static void test_json_long_records(void **state)
{
    (void)state;
    enum { BIG = 12000 };
    char *plain = malloc(BIG + 1);
    char *ctl = malloc(BIG + 1);
    assert_non_null(plain);
    assert_non_null(ctl);
    memset(plain, 'a', BIG);
    plain[BIG] = '\0';
    /* Each becomes a 6-byte \u00XX escape: cuts can land anywhere inside one. */
    memset(ctl, '\x01', BIG);
    ctl[BIG] = '\0';

    set_log("info", "json");
    for (int variant = 0; variant < 6; variant++) {
        char lo[CLOCK_ISO_LEN], hi[CLOCK_ISO_LEN];
        size_t len;
        now_iso(lo);
        capture_begin();
        switch (variant) {
        case 0:
            log_kv(LOG_INFO, "long", "body", plain, NULL);
            break;
        case 1:
            log_kv(LOG_INFO, "long", "body", ctl, NULL);
            break;
        case 2:
            log_kv(LOG_INFO, "long", "before", "kept", "body", plain, "after", "1", NULL);
            break;
        case 3:
            log_kv(LOG_INFO, "long", "before", "kept", "body", ctl + BIG - 1360, "x",
                   plain + BIG - 20, NULL);
            break;
        case 4:
            /* The message itself needs about 12 KB once escaped. */
            log_msgf(LOG_INFO, "%s", ctl + BIG - 2000);
            break;
        case 5:
            log_kv(LOG_INFO, "long", plain + BIG - 8170, "v", NULL);
            break;
        }
        const char *out = capture_end(&len);
        now_iso(hi);
        assert_true(len <= 8192);
        cJSON *rec = parse_record(out, len, "info", lo, hi);
        const char *msg = cJSON_GetObjectItemCaseSensitive(rec, "msg")->valuestring;
        if (variant == 4) {
            /* Cut, but what is left is the start of the message. */
            assert_true(strlen(msg) > 100);
            assert_int_equal(strncmp(msg, ctl, strlen(msg)), 0);
        } else {
            assert_string_equal(msg, "long");
        }
        if (variant == 2 || variant == 3) {
            const cJSON *before = cJSON_GetObjectItemCaseSensitive(rec, "before");
            assert_true(cJSON_IsString(before));
            assert_string_equal(before->valuestring, "kept");
        }
        if (variant == 2) {
            /* A short field after the one that did not fit still goes out. */
            assert_int_equal(cJSON_GetObjectItemCaseSensitive(rec, "after")->valueint, 1);
        }
        cJSON_Delete(rec);
    }
    free(plain);
    free(ctl);
}

struct text_case {
    enum log_level lvl;
    const char *level;
};

static void test_text_format(void **state)
{
    (void)state;
    static const struct text_case cases[] = {
        {LOG_DEBUG, "debug"}, {LOG_INFO, "info"}, {LOG_WARN, "warn"}, {LOG_ERROR, "error"}};
    set_log("debug", "text");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char lo[CLOCK_ISO_LEN], hi[CLOCK_ISO_LEN];
        size_t len;
        now_iso(lo);
        capture_begin();
        log_kv(cases[i].lvl, "slow delivery", "ms", "1500", "bridge_id", "brg_1", NULL);
        const char *out = capture_end(&len);
        now_iso(hi);
        assert_true(len > 25);
        char ts[25];
        memcpy(ts, out, 24);
        ts[24] = '\0';
        assert_true(strcmp(lo, ts) <= 0 && strcmp(ts, hi) <= 0);
        char want[128];
        snprintf(want, sizeof(want), " %s slow delivery ms=1500 bridge_id=brg_1\n", cases[i].level);
        assert_string_equal(out + 24, want);
    }

    capture_begin();
    log_msgf(LOG_INFO, "%d workers", 2);
    size_t len;
    const char *out = capture_end(&len);
    assert_true(len > 24);
    assert_string_equal(out + 24, " info 2 workers\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_names), cmocka_unit_test(test_level_filtering),
        cmocka_unit_test(test_json_fields), cmocka_unit_test(test_json_record_many_fields),
        cmocka_unit_test(test_msgf),        cmocka_unit_test(test_json_long_records),
        cmocka_unit_test(test_text_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
