/*
 * test_config.c - unit tests for common/config.c: the defaults of the SPEC's Configuration
 * table, every HOOKBRIDGE_* variable and its flag (flags win), both flag spellings, bare
 * boolean flags, every kind of bad value (the error must name the setting), the secret
 * key, redis URLs, host:port pairs and the public URL. Each test starts from an
 * environment with no HOOKBRIDGE_* variable but a valid HOOKBRIDGE_SECRET_KEY.
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
#include <unistd.h>
#include <fcntl.h>

#include "config.h"
#include "hb.h"

/* Bytes 0..31, standard base64 with padding. */
#define KEY_0_31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void clear_hookbridge_env(void)
{
    /* Collect first: unsetenv rewrites environ under our feet. */
    char names[64][128];
    size_t n;
    do {
        n = 0;
        for (char **e = environ; *e != NULL && n < 64; e++) {
            if (strncmp(*e, "HOOKBRIDGE_", 11) != 0)
                continue;
            const char *eq = strchr(*e, '=');
            size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
            if (len >= sizeof(names[0]))
                continue;
            memcpy(names[n], *e, len);
            names[n][len] = '\0';
            n++;
        }
        for (size_t i = 0; i < n; i++)
            unsetenv(names[i]);
    } while (n > 0);
}

static int setup(void **state)
{
    (void)state;
    clear_hookbridge_env();
    setenv("HOOKBRIDGE_SECRET_KEY", KEY_0_31, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_hookbridge_env();
    return 0;
}

/* The flags only the worker takes; the tables below run a case with them as the worker and
 * every other case as the ingress. */
static bool worker_flag(const char *arg)
{
    static const char *const flags[] = {"--concurrency", "--deny-private", "--retention-days"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        size_t n = strlen(flags[i]);
        if (strncmp(arg, flags[i], n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return true;
    }
    return false;
}

static enum config_role role_for(const char *const *args)
{
    for (; args != NULL && *args != NULL; args++)
        if (worker_flag(*args))
            return CONFIG_WORKER;
    return CONFIG_INGRESS;
}

/* config_load with argv = {"hookbridge-test", args..., NULL}. */
static int load_argv(struct config *cfg, enum config_role role, char *err, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"hookbridge-test";
    for (; args != NULL && *args != NULL && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    err[0] = '\0';
    return config_load(cfg, role, argc, argv, err, HB_ERR_LEN);
}

static void test_defaults(void **state)
{
    (void)state;
    static const enum config_role roles[] = {CONFIG_INGRESS, CONFIG_WORKER};
    for (size_t r = 0; r < 2; r++) {
        struct config cfg;
        char err[HB_ERR_LEN];
        assert_int_equal(load_argv(&cfg, roles[r], err, NULL), 0);
        assert_string_equal(cfg.listen_host, "0.0.0.0");
        assert_int_equal(cfg.listen_port, 8080);
        assert_string_equal(cfg.admin_host, "127.0.0.1");
        assert_int_equal(cfg.admin_port, 8081);
        assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
        assert_string_equal(cfg.redis.host, "127.0.0.1");
        assert_int_equal(cfg.redis.port, 6379);
        assert_int_equal(cfg.redis.db, 0);
        assert_string_equal(cfg.redis.path, "");
        assert_string_equal(cfg.redis.password, "");
        assert_string_equal(cfg.db, "data/hookbridge.db");
        assert_string_equal(cfg.key_prefix, "hb:");
        assert_string_equal(cfg.public_url, "http://localhost:8080");
        assert_int_equal(cfg.max_body, 1048576);
        assert_int_equal(cfg.concurrency, 64);
        assert_int_equal(cfg.shutdown_timeout, 30);
        assert_false(cfg.deny_private);
        assert_false(cfg.reuseport);
        assert_int_equal(cfg.retention_days, 30);
        assert_string_equal(cfg.log_level, "info");
        assert_string_equal(cfg.log_format, "json");
        assert_string_equal(cfg.admin_token, "");
        for (int i = 0; i < 32; i++)
            assert_int_equal(cfg.secret_key[i], i);
    }
}

/* One field of struct config to check after a load. */
enum field_type { F_STR, F_LONG, F_INT, F_BOOL };

struct field_case {
    const char *name; /* variable or flag */
    const char *value;
    enum field_type type;
    size_t off;
    const char *want_s;
    long want_l;
};

#define FSTR(f) F_STR, offsetof(struct config, f)
#define FLONG(f) F_LONG, offsetof(struct config, f)
#define FINT(f) F_INT, offsetof(struct config, f)
#define FBOOL(f) F_BOOL, offsetof(struct config, f)

static void check_field(const struct config *cfg, const struct field_case *c)
{
    const char *p = (const char *)cfg + c->off;
    switch (c->type) {
    case F_STR:
        assert_string_equal(p, c->want_s);
        break;
    case F_LONG:
        assert_int_equal(*(const long *)(const void *)p, c->want_l);
        break;
    case F_INT:
        assert_int_equal(*(const int *)(const void *)p, c->want_l);
        break;
    case F_BOOL:
        assert_int_equal(*(const bool *)(const void *)p, (bool)c->want_l);
        break;
    }
}

/* Every value differs from the default, so a variable that is not read fails its case. */
static const struct field_case env_cases[] = {
    {"HOOKBRIDGE_LISTEN", "127.0.0.2:9090", FSTR(listen_host), "127.0.0.2", 0},
    {"HOOKBRIDGE_LISTEN", "127.0.0.2:9090", FINT(listen_port), NULL, 9090},
    {"HOOKBRIDGE_ADMIN_LISTEN", "[::1]:9091", FSTR(admin_host), "::1", 0},
    {"HOOKBRIDGE_ADMIN_LISTEN", "[::1]:9091", FINT(admin_port), NULL, 9091},
    {"HOOKBRIDGE_REDIS_URL", "redis://cache.local:6380/3", FSTR(redis_url),
     "redis://cache.local:6380/3", 0},
    {"HOOKBRIDGE_REDIS_URL", "redis://cache.local:6380/3", FSTR(redis.host), "cache.local", 0},
    {"HOOKBRIDGE_REDIS_URL", "redis://cache.local:6380/3", FINT(redis.port), NULL, 6380},
    {"HOOKBRIDGE_REDIS_URL", "redis://cache.local:6380/3", FINT(redis.db), NULL, 3},
    {"HOOKBRIDGE_REDIS_URL", "unix:///run/redis.sock", FSTR(redis.path), "/run/redis.sock", 0},
    {"HOOKBRIDGE_REDIS_URL", "redis-sentinel://s1:1,s2:2/mm/5", FSTR(redis.master_name), "mm", 0},
    {"HOOKBRIDGE_REDIS_URL", "redis-sentinel://s1:1,s2:2/mm/5", FINT(redis.nsentinels), NULL, 2},
    {"HOOKBRIDGE_REDIS_URL", "redis-sentinel://s1:1,s2:2/mm/5", FINT(redis.sentinels[1].port), NULL,
     2},
    {"HOOKBRIDGE_REDIS_URL", "redis-sentinel://s1:1,s2:2/mm/5", FINT(redis.db), NULL, 5},
    {"HOOKBRIDGE_REDIS_WAIT_REPLICAS", "2", FLONG(redis_wait_replicas), NULL, 2},
    {"HOOKBRIDGE_DB", "/var/lib/hb/events.db", FSTR(db), "/var/lib/hb/events.db", 0},
    {"HOOKBRIDGE_KEY_PREFIX", "app1:", FSTR(key_prefix), "app1:", 0},
    {"HOOKBRIDGE_PUBLIC_URL", "https://hooks.example.com", FSTR(public_url),
     "https://hooks.example.com", 0},
    {"HOOKBRIDGE_MAX_BODY", "2048", FLONG(max_body), NULL, 2048},
    {"HOOKBRIDGE_CONCURRENCY", "8", FLONG(concurrency), NULL, 8},
    {"HOOKBRIDGE_SHUTDOWN_TIMEOUT", "5", FLONG(shutdown_timeout), NULL, 5},
    {"HOOKBRIDGE_SHUTDOWN_TIMEOUT", "0", FLONG(shutdown_timeout), NULL, 0},
    {"HOOKBRIDGE_DENY_PRIVATE", "1", FBOOL(deny_private), NULL, 1},
    {"HOOKBRIDGE_DENY_PRIVATE", "true", FBOOL(deny_private), NULL, 1},
    {"HOOKBRIDGE_REUSEPORT", "1", FBOOL(reuseport), NULL, 1},
    {"HOOKBRIDGE_REUSEPORT", "yes", FBOOL(reuseport), NULL, 1},
    {"HOOKBRIDGE_RETENTION_DAYS", "7", FLONG(retention_days), NULL, 7},
    {"HOOKBRIDGE_LOG_LEVEL", "debug", FSTR(log_level), "debug", 0},
    {"HOOKBRIDGE_LOG_LEVEL", "error", FSTR(log_level), "error", 0},
    {"HOOKBRIDGE_LOG_FORMAT", "text", FSTR(log_format), "text", 0},
    {"HOOKBRIDGE_ADMIN_TOKEN", "tok-123_abc-45678", FSTR(admin_token), "tok-123_abc-45678", 0},
};

static void test_env_vars(void **state)
{
    for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
        const struct field_case *c = &env_cases[i];
        setup(state);
        setenv(c->name, c->value, 1);
        struct config cfg;
        char err[HB_ERR_LEN];
        int rc = load_argv(&cfg, CONFIG_INGRESS, err, NULL);
        if (rc != 0)
            fail_msg("%s=%s: rc %d, %s", c->name, c->value, rc, err);
        check_field(&cfg, c);
    }
}

static const struct field_case flag_cases[] = {
    {"--listen", "127.0.0.2:9090", FSTR(listen_host), "127.0.0.2", 0},
    {"--listen", "127.0.0.2:9090", FINT(listen_port), NULL, 9090},
    {"--admin-listen", "[::1]:9091", FSTR(admin_host), "::1", 0},
    {"--admin-listen", "[::1]:9091", FINT(admin_port), NULL, 9091},
    {"--redis", "redis://:pw@cache.local/4", FSTR(redis.password), "pw", 0},
    {"--redis", "redis://:pw@cache.local/4", FINT(redis.db), NULL, 4},
    {"--redis-wait-replicas", "1", FLONG(redis_wait_replicas), NULL, 1},
    {"--db", "other.db", FSTR(db), "other.db", 0},
    {"--key-prefix", "x:", FSTR(key_prefix), "x:", 0},
    {"--public-url", "https://h.example/", FSTR(public_url), "https://h.example", 0},
    {"--max-body", "10", FLONG(max_body), NULL, 10},
    {"--max-body", "1073741824", FLONG(max_body), NULL, 1073741824L},
    {"--concurrency", "100000", FLONG(concurrency), NULL, 100000},
    {"--shutdown-timeout", "86400", FLONG(shutdown_timeout), NULL, 86400},
    {"--deny-private", "1", FBOOL(deny_private), NULL, 1},
    {"--reuseport", "on", FBOOL(reuseport), NULL, 1},
    {"--retention-days", "0", FLONG(retention_days), NULL, 0},
    {"--log-level", "warn", FSTR(log_level), "warn", 0},
    {"--log-format", "text", FSTR(log_format), "text", 0},
};

/* Each flag as "--flag value" and as "--flag=value". */
static void test_flags_both_forms(void **state)
{
    for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++) {
        const struct field_case *c = &flag_cases[i];
        for (int form = 0; form < 2; form++) {
            setup(state);
            char joined[600];
            snprintf(joined, sizeof(joined), "%s=%s", c->name, c->value);
            const char *sep[] = {c->name, c->value, NULL};
            const char *eq[] = {joined, NULL};
            struct config cfg;
            char err[HB_ERR_LEN];
            int rc = load_argv(&cfg, role_for(sep), err, form == 0 ? sep : eq);
            if (rc != 0)
                fail_msg("%s %s (form %d): rc %d, %s", c->name, c->value, form, rc, err);
            check_field(&cfg, c);
        }
    }
}

struct override_case {
    const char *env;
    const char *env_value;
    const char *args[4];
    struct field_case want;
};

static const struct override_case override_cases[] = {
    {"HOOKBRIDGE_MAX_BODY", "5000", {"--max-body", "10"}, {NULL, NULL, FLONG(max_body), NULL, 10}},
    {"HOOKBRIDGE_MAX_BODY", "5000", {"--max-body=10"}, {NULL, NULL, FLONG(max_body), NULL, 10}},
    {"HOOKBRIDGE_DB", "env.db", {"--db", "flag.db"}, {NULL, NULL, FSTR(db), "flag.db", 0}},
    {"HOOKBRIDGE_DENY_PRIVATE",
     "1",
     {"--deny-private", "0"},
     {NULL, NULL, FBOOL(deny_private), NULL, 0}},
    {"HOOKBRIDGE_REUSEPORT", "1", {"--reuseport=off"}, {NULL, NULL, FBOOL(reuseport), NULL, 0}},
    {"HOOKBRIDGE_LISTEN",
     "127.0.0.1:1111",
     {"--listen", "0.0.0.0:2222"},
     {NULL, NULL, FINT(listen_port), NULL, 2222}},
    {"HOOKBRIDGE_LOG_LEVEL",
     "error",
     {"--log-level", "debug"},
     {NULL, NULL, FSTR(log_level), "debug", 0}},
    {"HOOKBRIDGE_REDIS_URL",
     "redis://envhost:6379/0",
     {"--redis", "redis://flaghost:6379/0"},
     {NULL, NULL, FSTR(redis.host), "flaghost", 0}},
};

static void test_flag_beats_env(void **state)
{
    for (size_t i = 0; i < sizeof(override_cases) / sizeof(override_cases[0]); i++) {
        const struct override_case *c = &override_cases[i];
        setup(state);
        setenv(c->env, c->env_value, 1);
        struct config cfg;
        char err[HB_ERR_LEN];
        int rc = load_argv(&cfg, role_for(c->args), err, c->args);
        if (rc != 0)
            fail_msg("case %zu: rc %d, %s", i, rc, err);
        check_field(&cfg, &c->want);
    }
}

static void test_bare_boolean_flags(void **state)
{
    (void)state;
    struct config cfg;
    char err[HB_ERR_LEN];

    const char *a1[] = {"--reuseport", NULL};
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, a1), 0);
    assert_true(cfg.reuseport);
    assert_false(cfg.deny_private);

    /* A bare flag followed by another flag does not swallow it. */
    const char *a2[] = {"--reuseport", "--max-body", "10", NULL};
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, a2), 0);
    assert_true(cfg.reuseport);
    assert_int_equal(cfg.max_body, 10);
    const char *a2w[] = {"--deny-private", "--concurrency", "5", "--deny-private", NULL};
    assert_int_equal(load_argv(&cfg, CONFIG_WORKER, err, a2w), 0);
    assert_true(cfg.deny_private);
    assert_int_equal(cfg.concurrency, 5);

    /* An explicit value after a boolean flag is taken. */
    setenv("HOOKBRIDGE_REUSEPORT", "1", 1);
    const char *a3[] = {"--reuseport", "0", NULL};
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, a3), 0);
    assert_false(cfg.reuseport);

    const char *a4[] = {"--reuseport", "false", "--db", "x.db", NULL};
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, a4), 0);
    assert_false(cfg.reuseport);
    assert_string_equal(cfg.db, "x.db");
}

struct error_case {
    const char *env; /* NULL: none */
    const char *env_value;
    const char *args[4];
    const char *names; /* the error must contain this */
};

static const struct error_case error_cases[] = {
    /* malformed numbers */
    {"HOOKBRIDGE_MAX_BODY", "12abc", {NULL}, "HOOKBRIDGE_MAX_BODY"},
    {"HOOKBRIDGE_MAX_BODY", "", {NULL}, "HOOKBRIDGE_MAX_BODY"},
    {"HOOKBRIDGE_MAX_BODY", "1e6", {NULL}, "HOOKBRIDGE_MAX_BODY"},
    {"HOOKBRIDGE_CONCURRENCY", "99999999999999999999999", {NULL}, "HOOKBRIDGE_CONCURRENCY"},
    {"HOOKBRIDGE_RETENTION_DAYS", "thirty", {NULL}, "HOOKBRIDGE_RETENTION_DAYS"},
    {NULL, NULL, {"--max-body", "abc"}, "--max-body"},
    {NULL, NULL, {"--concurrency", "1.5"}, "--concurrency"},
    {NULL, NULL, {"--retention-days="}, "--retention-days"},
    {NULL, NULL, {"--shutdown-timeout", "10s"}, "--shutdown-timeout"},
    /* out of range */
    {"HOOKBRIDGE_CONCURRENCY", "0", {NULL}, "HOOKBRIDGE_CONCURRENCY"},
    {"HOOKBRIDGE_RETENTION_DAYS", "-1", {NULL}, "HOOKBRIDGE_RETENTION_DAYS"},
    {"HOOKBRIDGE_SHUTDOWN_TIMEOUT", "86401", {NULL}, "HOOKBRIDGE_SHUTDOWN_TIMEOUT"},
    {NULL, NULL, {"--max-body=0"}, "--max-body"},
    {NULL, NULL, {"--max-body", "1073741825"}, "--max-body"},
    {NULL, NULL, {"--max-body", "-5"}, "--max-body"},
    {NULL, NULL, {"--concurrency", "100001"}, "--concurrency"},
    /* booleans */
    {"HOOKBRIDGE_DENY_PRIVATE", "maybe", {NULL}, "HOOKBRIDGE_DENY_PRIVATE"},
    {"HOOKBRIDGE_REUSEPORT", "", {NULL}, "HOOKBRIDGE_REUSEPORT"},
    {NULL, NULL, {"--reuseport=maybe"}, "--reuseport"},
    /* host:port */
    {"HOOKBRIDGE_LISTEN", "8080", {NULL}, "HOOKBRIDGE_LISTEN"},
    {"HOOKBRIDGE_LISTEN", "0.0.0.0:70000", {NULL}, "HOOKBRIDGE_LISTEN"},
    {"HOOKBRIDGE_ADMIN_LISTEN", "[::1]8081", {NULL}, "HOOKBRIDGE_ADMIN_LISTEN"},
    {NULL, NULL, {"--listen", ":8080"}, "--listen"},
    {NULL, NULL, {"--admin-listen=localhost:"}, "--admin-listen"},
    /* strings, URLs, enumerations */
    {"HOOKBRIDGE_DB", "", {NULL}, "HOOKBRIDGE_DB"},
    {"HOOKBRIDGE_KEY_PREFIX", "", {NULL}, "HOOKBRIDGE_KEY_PREFIX"},
    {"HOOKBRIDGE_REDIS_URL", "http://127.0.0.1:6379", {NULL}, "HOOKBRIDGE_REDIS_URL"},
    {NULL, NULL, {"--redis", "redis://h:0"}, "--redis"},
    {"HOOKBRIDGE_PUBLIC_URL", "localhost:8080", {NULL}, "HOOKBRIDGE_PUBLIC_URL"},
    {"HOOKBRIDGE_PUBLIC_URL", "ftp://files.example", {NULL}, "HOOKBRIDGE_PUBLIC_URL"},
    {"HOOKBRIDGE_PUBLIC_URL", "http://", {NULL}, "HOOKBRIDGE_PUBLIC_URL"},
    {NULL, NULL, {"--public-url", "https:///"}, "--public-url"},
    {"HOOKBRIDGE_LOG_LEVEL", "verbose", {NULL}, "HOOKBRIDGE_LOG_LEVEL"},
    {NULL, NULL, {"--log-level", "INFO"}, "--log-level"},
    {"HOOKBRIDGE_LOG_FORMAT", "xml", {NULL}, "HOOKBRIDGE_LOG_FORMAT"},
    {NULL, NULL, {"--log-format=logfmt"}, "--log-format"},
    /* unknown flags and missing values */
    {NULL, NULL, {"--bogus"}, "--bogus"},
    {NULL, NULL, {"--max-bodyx=3"}, "--max-bodyx"},
    {NULL, NULL, {"-x"}, "-x"},
    {NULL, NULL, {"extra"}, "extra"},
    {NULL, NULL, {"--db", "x.db", "--nope", "1"}, "--nope"},
    {NULL, NULL, {"--db"}, "--db"},
    {NULL, NULL, {"--max-body"}, "--max-body"},
    {NULL, NULL, {"--reuseport", "--listen"}, "--listen"},
};

static void test_errors_name_the_setting(void **state)
{
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        setup(state);
        if (c->env != NULL)
            setenv(c->env, c->env_value, 1);
        struct config cfg;
        char err[HB_ERR_LEN];
        int rc = load_argv(&cfg, role_for(c->args), err, c->args);
        if (rc != -1)
            fail_msg("case %zu (%s): rc %d, want -1", i, c->names, rc);
        if (strstr(err, c->names) == NULL)
            fail_msg("case %zu: error \"%s\" does not name %s", i, err, c->names);
        assert_null(strchr(err, '\n'));
    }
}

struct key_case {
    const char *value; /* NULL: unset */
    int rc;
    const unsigned char *want; /* 32 bytes when rc == 0 */
};

static const unsigned char key_0_31[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                           11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                           22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
/* 0xfb 0xff 0xbf x10, 0xfe 0xff: '+' and '/' in standard base64, '-' and '_' in url-safe. */
static const unsigned char key_pm[32] = {
    0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb,
    0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf, 0xfe, 0xff};

static const struct key_case key_cases[] = {
    {NULL, -1, NULL},
    {"", -1, NULL},
    {KEY_0_31, 0, key_0_31},
    {KEY_0_31 "\n", 0, key_0_31},
    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 0, key_0_31},
    {"+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+//v8=", 0, key_pm},
    {"-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-__v8", 0, key_pm},
    /* 16 bytes: too short */
    {"AAECAwQFBgcICQoLDA0ODw==", -1, NULL},
    /* 33 bytes: too long */
    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", -1, NULL},
    /* not base64 */
    {"this is not base64 at all, not even close!!", -1, NULL},
    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH*8=", -1, NULL},
    /* hex of 32 bytes is 64 characters of valid base64 alphabet, but 48 bytes */
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", -1, NULL},
};

static void test_secret_key(void **state)
{
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const struct key_case *c = &key_cases[i];
        setup(state);
        if (c->value == NULL)
            unsetenv("HOOKBRIDGE_SECRET_KEY");
        else
            setenv("HOOKBRIDGE_SECRET_KEY", c->value, 1);
        struct config cfg;
        char err[HB_ERR_LEN];
        int rc = load_argv(&cfg, CONFIG_WORKER, err, NULL);
        if (rc != c->rc)
            fail_msg("key case %zu: rc %d, want %d (%s)", i, rc, c->rc, err);
        if (rc == 0) {
            assert_memory_equal(cfg.secret_key, c->want, 32);
        } else {
            assert_non_null(strstr(err, "HOOKBRIDGE_SECRET_KEY"));
            /* The value itself is a secret: never echo it. */
            if (c->value != NULL && c->value[0] != '\0')
                assert_null(strstr(err, c->value));
        }

        /* The parser alone agrees. */
        if (c->value != NULL) {
            unsigned char key[32];
            err[0] = '\0';
            rc = config_parse_secret_key(c->value, key, err, sizeof(err));
            assert_int_equal(rc, c->value[0] == '\0' ? -1 : c->rc);
            if (rc == 0)
                assert_memory_equal(key, c->want, 32);
            else
                assert_non_null(strstr(err, "HOOKBRIDGE_SECRET_KEY"));
        }
    }
}

struct redis_case {
    const char *url;
    int rc;
    const char *host;
    int port;
    const char *path;
    int db;
    const char *password;
};

static const struct redis_case redis_cases[] = {
    {"redis://127.0.0.1:6379/0", 0, "127.0.0.1", 6379, "", 0, ""},
    {"redis://h:6380/2", 0, "h", 6380, "", 2, ""},
    {"redis://cache.internal:1/15", 0, "cache.internal", 1, "", 15, ""},
    {"redis://:pw@h", 0, "h", 6379, "", 0, "pw"},
    {"redis://:s3cr3t@h:7000/5", 0, "h", 7000, "", 5, "s3cr3t"},
    {"redis://user:secret@h:1234/1", 0, "h", 1234, "", 1, "secret"},
    {"redis://h", 0, "h", 6379, "", 0, ""},
    {"redis://h/", 0, "h", 6379, "", 0, ""},
    {"redis://h:65535", 0, "h", 65535, "", 0, ""},
    {"redis://[::1]:6380/1", 0, "::1", 6380, "", 1, ""},
    {"redis://[::1]", 0, "::1", 6379, "", 0, ""},
    {"redis://:pw@[fe80::1]:7000", 0, "fe80::1", 7000, "", 0, "pw"},
    {"unix:///var/run/redis.sock", 0, "", 6379, "/var/run/redis.sock", 0, ""},
    {"unix:///p?db=2", 0, "", 6379, "/p", 2, ""},
    {"", -1, NULL, 0, NULL, 0, NULL},
    {"127.0.0.1:6379", -1, NULL, 0, NULL, 0, NULL},
    {"http://h:6379", -1, NULL, 0, NULL, 0, NULL},
    {"rediss://h:6379", -1, NULL, 0, NULL, 0, NULL},
    {"redis://", -1, NULL, 0, NULL, 0, NULL},
    {"redis:///0", -1, NULL, 0, NULL, 0, NULL},
    {"redis://:6379", -1, NULL, 0, NULL, 0, NULL},
    {"redis://:pw@", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h:abc", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h:", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h:0", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h:65536", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h/x", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h/-1", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h/1001", -1, NULL, 0, NULL, 0, NULL},
    {"redis://h/1/2", -1, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1", -1, NULL, 0, NULL, 0, NULL},
    {"redis-sentinel://h:1/m", 0, "", 0, "", 0, ""},
    {"redis://[::1", -1, NULL, 0, NULL, 0, NULL},
    {"redis://[::1]x", -1, NULL, 0, NULL, 0, NULL},
    {"redis://[]:6379", -1, NULL, 0, NULL, 0, NULL},
    {"unix://", -1, NULL, 0, NULL, 0, NULL},
    {"unix://relative.sock", -1, NULL, 0, NULL, 0, NULL},
    {"unix:///p?db=x", -1, NULL, 0, NULL, 0, NULL},
    {"unix:///p?db=", -1, NULL, 0, NULL, 0, NULL},
    {"unix:///p?foo=1", -1, NULL, 0, NULL, 0, NULL},
    {"unix:///?db=1", 0, "", 6379, "/", 1, ""},
};

static void test_redis_url(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(redis_cases) / sizeof(redis_cases[0]); i++) {
        const struct redis_case *c = &redis_cases[i];
        struct config_redis r;
        char err[HB_ERR_LEN] = "";
        int rc = config_parse_redis_url(c->url, &r, err, sizeof(err));
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d (%s)", c->url, rc, c->rc, err);
        if (rc != 0) {
            assert_non_null(strstr(err, "redis url"));
            continue;
        }
        assert_string_equal(r.host, c->host);
        assert_int_equal(r.port, c->port);
        assert_string_equal(r.path, c->path);
        assert_int_equal(r.db, c->db);
        assert_string_equal(r.password, c->password);
    }
}

struct hostport_case {
    const char *s;
    int rc;
    const char *host;
    int port;
};

static const struct hostport_case hostport_cases[] = {
    {"0.0.0.0:8080", 0, "0.0.0.0", 8080},
    {"127.0.0.1:8081", 0, "127.0.0.1", 8081},
    {"localhost:0", 0, "localhost", 0},
    {"example.com:65535", 0, "example.com", 65535},
    {"[::1]:8080", 0, "::1", 8080},
    {"[::]:443", 0, "::", 443},
    {"[fe80::1%eth0]:9000", 0, "fe80::1%eth0", 9000},
    {"", -1, NULL, 0},
    {"8080", -1, NULL, 0},
    {":8080", -1, NULL, 0},
    {"host:", -1, NULL, 0},
    {"host:65536", -1, NULL, 0},
    {"host:-1", -1, NULL, 0},
    {"host:80x", -1, NULL, 0},
    {"host:http", -1, NULL, 0},
    {"[::1]8080", -1, NULL, 0},
    {"[::1]", -1, NULL, 0},
    {"[::1]:", -1, NULL, 0},
    {"[]:80", -1, NULL, 0},
    {"[::1:80", -1, NULL, 0},
};

static void test_hostport(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hostport_cases) / sizeof(hostport_cases[0]); i++) {
        const struct hostport_case *c = &hostport_cases[i];
        char host[256] = "unchanged";
        int port = -2;
        char err[HB_ERR_LEN] = "";
        int rc = config_parse_hostport(c->s, host, sizeof(host), &port, err, sizeof(err));
        if (rc != c->rc)
            fail_msg("\"%s\": rc %d, want %d", c->s, rc, c->rc);
        if (rc == 0) {
            assert_string_equal(host, c->host);
            assert_int_equal(port, c->port);
        } else {
            assert_non_null(strstr(err, "host:port"));
            assert_non_null(strstr(err, c->s));
        }
    }

    /* A host longer than the caller's buffer is an error, not an overflow. */
    char small[4];
    int port;
    char err[HB_ERR_LEN];
    assert_int_equal(
        config_parse_hostport("abcd:80", small, sizeof(small), &port, err, sizeof(err)), -1);
    assert_int_equal(config_parse_hostport("abc:80", small, sizeof(small), &port, err, sizeof(err)),
                     0);
    assert_string_equal(small, "abc");
}

struct url_case {
    const char *in;
    const char *want;
};

static const struct url_case public_url_cases[] = {
    {"http://localhost:8080/", "http://localhost:8080"},
    {"https://hooks.example.com//", "https://hooks.example.com"},
    {"https://example.com/hb/", "https://example.com/hb"},
    {"https://example.com/hb", "https://example.com/hb"},
};

static void test_public_url_trailing_slash(void **state)
{
    for (size_t i = 0; i < sizeof(public_url_cases) / sizeof(public_url_cases[0]); i++) {
        const struct url_case *c = &public_url_cases[i];
        struct config cfg;
        char err[HB_ERR_LEN];

        setup(state);
        setenv("HOOKBRIDGE_PUBLIC_URL", c->in, 1);
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
        assert_string_equal(cfg.public_url, c->want);

        setup(state);
        const char *args[] = {"--public-url", c->in, NULL};
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, args), 0);
        assert_string_equal(cfg.public_url, c->want);
    }
}

static void test_admin_token(void **state)
{
    (void)state;
    struct config cfg;
    char err[HB_ERR_LEN];

    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
    assert_string_equal(cfg.admin_token, "");

    setenv("HOOKBRIDGE_ADMIN_TOKEN", "s3cr3t-admin-0016", 1);
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
    assert_string_equal(cfg.admin_token, "s3cr3t-admin-0016");

    /* Under 16 characters stops the ingress, naming the variable but not the value. */
    static const char *const short_tokens[] = {"x", "s3cr3t-admin", "123456789012345"};
    for (size_t i = 0; i < sizeof(short_tokens) / sizeof(short_tokens[0]); i++) {
        setenv("HOOKBRIDGE_ADMIN_TOKEN", short_tokens[i], 1);
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), -1);
        assert_non_null(strstr(err, "HOOKBRIDGE_ADMIN_TOKEN"));
        assert_null(strstr(err, short_tokens[i]));
        /* The worker does not use it. */
        assert_int_equal(load_argv(&cfg, CONFIG_WORKER, err, NULL), 0);
    }
    /* Empty is unset: the admin API answers 401. */
    setenv("HOOKBRIDGE_ADMIN_TOKEN", "", 1);
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
    assert_string_equal(cfg.admin_token, "");

    char t255[256];
    memset(t255, 'a', 255);
    t255[255] = '\0';
    setenv("HOOKBRIDGE_ADMIN_TOKEN", t255, 1);
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
    assert_string_equal(cfg.admin_token, t255);

    char t256[257];
    memset(t256, 'a', 256);
    t256[256] = '\0';
    setenv("HOOKBRIDGE_ADMIN_TOKEN", t256, 1);
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), -1);
    assert_non_null(strstr(err, "HOOKBRIDGE_ADMIN_TOKEN"));
}

/* --help and --version print to stdout and ask the caller to exit 0. */
static void test_help_and_version(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"--help", NULL, NULL}, {"-h", NULL, NULL}, {"--version", NULL, NULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fflush(stdout);
        int saved = dup(STDOUT_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        assert_true(saved >= 0 && devnull >= 0);
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
        struct config cfg;
        char err[HB_ERR_LEN];
        int rc = load_argv(&cfg, CONFIG_INGRESS, err, cases[i]);
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        assert_int_equal(rc, 1);
    }
}

struct derive_case {
    const char *listen; /* HOOKBRIDGE_LISTEN */
    const char *want;
};

static const struct derive_case derive_cases[] = {
    {"127.0.0.1:18080", "http://127.0.0.1:18080"},
    {"0.0.0.0:18080", "http://localhost:18080"},
    {"[::]:9000", "http://localhost:9000"},
    {"[::1]:9001", "http://[::1]:9001"},
    {"hooks.internal:80", "http://hooks.internal:80"},
};

/* Without HOOKBRIDGE_PUBLIC_URL the base of inbound_url follows the listen address. */
static void test_public_url_from_listen(void **state)
{
    for (size_t i = 0; i < sizeof(derive_cases) / sizeof(derive_cases[0]); i++) {
        const struct derive_case *c = &derive_cases[i];
        struct config cfg;
        char err[HB_ERR_LEN];

        setup(state);
        setenv("HOOKBRIDGE_LISTEN", c->listen, 1);
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
        assert_string_equal(cfg.public_url, c->want);

        setup(state);
        const char *args[] = {"--listen", c->listen, NULL};
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, args), 0);
        assert_string_equal(cfg.public_url, c->want);

        /* An explicit URL wins, from either place. */
        setup(state);
        setenv("HOOKBRIDGE_LISTEN", c->listen, 1);
        setenv("HOOKBRIDGE_PUBLIC_URL", "https://hooks.example.com", 1);
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
        assert_string_equal(cfg.public_url, "https://hooks.example.com");
        setup(state);
        const char *args2[] = {"--public-url", "https://h.example", "--listen", c->listen, NULL};
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, args2), 0);
        assert_string_equal(cfg.public_url, "https://h.example");
    }
}

/* A flag of the other binary stops the process with a line naming it; its environment
 * variable does not, since one environment usually serves both. */
static void test_flags_of_the_other_binary(void **state)
{
    static const char *const ingress_only[][3] = {
        {"--listen", "127.0.0.1:1", NULL},  {"--admin-listen=127.0.0.1:2", NULL, NULL},
        {"--public-url", "http://x", NULL}, {"--max-body", "10", NULL},
        {"--reuseport", NULL, NULL},
    };
    static const char *const worker_only[][3] = {
        {"--concurrency", "5", NULL},
        {"--deny-private", NULL, NULL},
        {"--retention-days=3", NULL, NULL},
    };
    struct config cfg;
    char err[HB_ERR_LEN];
    for (size_t i = 0; i < sizeof(ingress_only) / sizeof(ingress_only[0]); i++) {
        setup(state);
        assert_int_equal(load_argv(&cfg, CONFIG_WORKER, err, ingress_only[i]), -1);
        assert_non_null(strstr(err, "hookbridge-ingress"));
        assert_int_equal(strncmp(err, ingress_only[i][0], strcspn(ingress_only[i][0], "=")), 0);
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, ingress_only[i]), 0);
    }
    for (size_t i = 0; i < sizeof(worker_only) / sizeof(worker_only[0]); i++) {
        setup(state);
        assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, worker_only[i]), -1);
        assert_non_null(strstr(err, "hookbridge-worker"));
        assert_int_equal(strncmp(err, worker_only[i][0], strcspn(worker_only[i][0], "=")), 0);
        assert_int_equal(load_argv(&cfg, CONFIG_WORKER, err, worker_only[i]), 0);
    }
    setup(state);
    setenv("HOOKBRIDGE_MAX_BODY", "2048", 1);
    setenv("HOOKBRIDGE_CONCURRENCY", "8", 1);
    assert_int_equal(load_argv(&cfg, CONFIG_WORKER, err, NULL), 0);
    assert_int_equal(cfg.max_body, 2048);
    assert_int_equal(load_argv(&cfg, CONFIG_INGRESS, err, NULL), 0);
    assert_int_equal(cfg.concurrency, 8);
}

/* Run --help as `role` and return what it printed (static buffer). */
static const char *help_text(enum config_role role)
{
    static char out[8192];
    char path[] = "/tmp/hb-test-help-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    struct config cfg;
    char err[HB_ERR_LEN];
    const char *args[] = {"--help", NULL};
    int rc = load_argv(&cfg, role, err, args);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    assert_int_equal(rc, 1);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    close(fd);
    assert_true(n > 0);
    out[n] = '\0';
    return out;
}

static void test_help_lists_own_flags(void **state)
{
    (void)state;
    const char *in = help_text(CONFIG_INGRESS);
    assert_non_null(strstr(in, "hookbridge-ingress"));
    assert_non_null(strstr(in, "--listen"));
    assert_non_null(strstr(in, "HOOKBRIDGE_LISTEN"));
    assert_non_null(strstr(in, "0.0.0.0:8080"));
    assert_non_null(strstr(in, "--max-body"));
    assert_non_null(strstr(in, "1048576"));
    assert_non_null(strstr(in, "HOOKBRIDGE_ADMIN_TOKEN"));
    assert_non_null(strstr(in, "--redis"));
    assert_null(strstr(in, "--concurrency"));
    assert_null(strstr(in, "--deny-private"));
    assert_null(strstr(in, "--retention-days"));

    const char *wk = help_text(CONFIG_WORKER);
    assert_non_null(strstr(wk, "hookbridge-worker"));
    assert_non_null(strstr(wk, "--concurrency"));
    assert_non_null(strstr(wk, "HOOKBRIDGE_CONCURRENCY"));
    assert_non_null(strstr(wk, "(default 64)"));
    assert_non_null(strstr(wk, "--retention-days"));
    assert_non_null(strstr(wk, "--db"));
    assert_null(strstr(wk, "--listen"));
    assert_null(strstr(wk, "--max-body"));
    assert_null(strstr(wk, "--public-url"));
    assert_null(strstr(wk, "--reuseport"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_vars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_both_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_beats_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bare_boolean_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_the_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_url_trailing_slash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_url_from_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_of_the_other_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_own_flags, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
