/*
 * config.c - flag and environment parsing (see config.h).
 *
 * One table drives both: each setting names its flag, its variable and its parser, so a
 * setting cannot exist as a flag without its environment twin.
 */
#include "config.h"

#include "hb.h"
#include "sentinel.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum config_kind { CK_STR, CK_LONG, CK_BOOL, CK_HOSTPORT_PUBLIC, CK_HOSTPORT_ADMIN };

struct config_opt {
    const char *flag;
    const char *env;
    enum config_kind kind;
    size_t offset;    /* into struct config */
    size_t size;      /* for CK_STR */
    long min, max;    /* for CK_LONG */
    unsigned roles;   /* bit 1: ingress, bit 2: worker */
    const char *def;  /* the default, as --help prints it */
    const char *help; /* one line for --help */
};

#define R_IN 1u
#define R_WK 2u
#define OFF(f) offsetof(struct config, f)
#define STR(f) OFF(f), sizeof(((struct config *)0)->f)

/* The roles follow the README's Configuration table: a flag of the other binary is an error
 * (so a worker started with --listen says so instead of ignoring it), while its environment
 * variable is read by both, since one environment usually serves both processes. */
static const struct config_opt config_opts[] = {
    {"--listen", "HOOKBRIDGE_LISTEN", CK_HOSTPORT_PUBLIC, 0, 0, 0, 0, R_IN, "0.0.0.0:8080",
     "public address: /hooks/..., /healthz"},
    {"--admin-listen", "HOOKBRIDGE_ADMIN_LISTEN", CK_HOSTPORT_ADMIN, 0, 0, 0, 0, R_IN,
     "127.0.0.1:8081", "admin API, /metrics, /healthz"},
    {"--redis", "HOOKBRIDGE_REDIS_URL", CK_STR, STR(redis_url), 0, 0, R_IN | R_WK,
     "redis://127.0.0.1:6379/0", "Redis URL (also unix:///path)"},
    {"--db", "HOOKBRIDGE_DB", CK_STR, STR(db), 0, 0, R_IN | R_WK, "data/hookbridge.db",
     "SQLite file of bridges and events"},
    {"--key-prefix", "HOOKBRIDGE_KEY_PREFIX", CK_STR, STR(key_prefix), 0, 0, R_IN | R_WK,
     "hb:", "prefix of every Redis key"},
    {"--public-url", "HOOKBRIDGE_PUBLIC_URL", CK_STR, STR(public_url), 0, 0, R_IN, "from --listen",
     "base of inbound_url (http://localhost:{port} for a wildcard address)"},
    {"--max-body", "HOOKBRIDGE_MAX_BODY", CK_LONG, OFF(max_body), 0, 1, 1L << 30, R_IN, "1048576",
     "largest inbound body in bytes"},
    {"--concurrency", "HOOKBRIDGE_CONCURRENCY", CK_LONG, OFF(concurrency), 0, 1, 100000, R_WK, "64",
     "outbound requests in flight"},
    {"--shutdown-timeout", "HOOKBRIDGE_SHUTDOWN_TIMEOUT", CK_LONG, OFF(shutdown_timeout), 0, 0,
     86400, R_IN | R_WK, "30", "seconds to finish work on SIGTERM"},
    {"--deny-private", "HOOKBRIDGE_DENY_PRIVATE", CK_BOOL, OFF(deny_private), 0, 0, 0, R_WK, "0",
     "1 refuses loopback, private, link-local and metadata destinations"},
    {"--reuseport", "HOOKBRIDGE_REUSEPORT", CK_BOOL, OFF(reuseport), 0, 0, 0, R_IN, "0",
     "1 lets several ingress processes share the port"},
    {"--retention-days", "HOOKBRIDGE_RETENTION_DAYS", CK_LONG, OFF(retention_days), 0, 0, 36500,
     R_WK, "30", "days events are kept"},
    /* Ingress only: the worker has no 202 to hold back. */
    {"--redis-wait-replicas", "HOOKBRIDGE_REDIS_WAIT_REPLICAS", CK_LONG, OFF(redis_wait_replicas),
     0, 0, 16, R_IN, "0", "replicas that must hold a job before its 202 (Redis WAIT)"},
    {"--log-level", "HOOKBRIDGE_LOG_LEVEL", CK_STR, STR(log_level), 0, 0, R_IN | R_WK, "info",
     "debug, info, warn or error"},
    {"--log-format", "HOOKBRIDGE_LOG_FORMAT", CK_STR, STR(log_format), 0, 0, R_IN | R_WK, "json",
     "json or text, on stderr"},
    {"--smtp-listen", "HOOKBRIDGE_SMTP_LISTEN", CK_STR, STR(smtp_listen), 0, 0, R_IN, "off",
     "SMTP listener for e-mail in, e.g. 0.0.0.0:2525"},
    {"--tls-cert", "HOOKBRIDGE_TLS_CERT", CK_STR, STR(tls_cert), 0, 0, R_IN, "none",
     "PEM certificate for STARTTLS on the SMTP listener"},
    {"--tls-key", "HOOKBRIDGE_TLS_KEY", CK_STR, STR(tls_key), 0, 0, R_IN, "none",
     "PEM private key for STARTTLS on the SMTP listener"},
    /* Worker only: it has no listener a container health check could ask. */
    {"--health-file", "HOOKBRIDGE_HEALTH_FILE", CK_STR, STR(health_file), 0, 0, R_WK, "none",
     "file touched on each heartbeat Redis acknowledged (for container health checks)"},
    /* Worker only: the ingress makes no outbound requests. */
    {"--proxy", "HOOKBRIDGE_PROXY", CK_STR, STR(proxy), 0, 0, R_WK, "none",
     "the one outbound proxy, e.g. http://proxy.internal:3128 (http_proxy is ignored)"},
};

#define N_OPTS (sizeof(config_opts) / sizeof(config_opts[0]))

static void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "0.0.0.0");
    cfg->listen_port = 8080;
    snprintf(cfg->admin_host, sizeof(cfg->admin_host), "127.0.0.1");
    cfg->admin_port = 8081;
    snprintf(cfg->redis_url, sizeof(cfg->redis_url), "redis://127.0.0.1:6379/0");
    snprintf(cfg->db, sizeof(cfg->db), "data/hookbridge.db");
    snprintf(cfg->key_prefix, sizeof(cfg->key_prefix), "hb:");
    snprintf(cfg->public_url, sizeof(cfg->public_url), "http://localhost:8080");
    cfg->max_body = 1048576;
    cfg->concurrency = 64;
    cfg->shutdown_timeout = 30;
    cfg->retention_days = 30;
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    snprintf(cfg->log_format, sizeof(cfg->log_format), "json");
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *err,
                          size_t errlen)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            goto bad;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostlen)
        goto bad;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p < 0 || p > 65535)
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
bad:
    snprintf(err, errlen, "%s: expected host:port", s);
    return -1;
}

int config_parse_redis_url(const char *url, struct config_redis *out, char *err, size_t errlen)
{
    if (strncmp(url, "redis-sentinel://", 17) == 0)
        return sentinel_parse_url(url, out, err, errlen);
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || plen >= sizeof(out->path) || path[0] != '/')
            goto bad;
        memcpy(out->path, path, plen);
        out->path[plen] = '\0';
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0)
                goto bad;
            char *end;
            errno = 0;
            long db = strtol(q + 4, &end, 10);
            if (errno != 0 || end == q + 4 || *end != '\0' || db < 0 || db > 1000)
                goto bad;
            out->db = (int)db;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        goto bad;
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t pwlen = (size_t)(at - pw);
        if (pwlen >= sizeof(out->password))
            goto bad;
        memcpy(out->password, pw, pwlen);
        out->password[pwlen] = '\0';
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hplen = slash ? (size_t)(slash - p) : strlen(p);
    char hp[300];
    if (hplen == 0 || hplen >= sizeof(hp))
        goto bad;
    memcpy(hp, p, hplen);
    hp[hplen] = '\0';
    char *h = hp;
    char *colon;
    if (hp[0] == '[') {
        /* An IPv6 literal: the brackets are URL syntax, not part of the address. */
        char *close = strchr(hp, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            goto bad;
        colon = close[1] == ':' ? close + 1 : NULL;
        *close = '\0';
        h = hp + 1;
    } else {
        colon = strrchr(hp, ':');
    }
    if (colon != NULL) {
        *colon = '\0';
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || port <= 0 || port > 65535)
            goto bad;
        out->port = (int)port;
    }
    size_t hlen = strlen(h);
    if (hlen == 0 || hlen >= sizeof(out->host))
        goto bad;
    memcpy(out->host, h, hlen + 1);
    if (slash != NULL && slash[1] != '\0') {
        char *end;
        errno = 0;
        long db = strtol(slash + 1, &end, 10);
        if (errno != 0 || *end != '\0' || db < 0 || db > 1000)
            goto bad;
        out->db = (int)db;
    }
    return 0;
bad:
    snprintf(err, errlen,
             "redis url %s: expected redis://host:port/db, unix:///path or "
             "redis-sentinel://host:port,host:port/master",
             url);
    return -1;
}

int config_parse_secret_key(const char *b64, unsigned char key[32], char *err, size_t errlen)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t n = strlen(b64);
    while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        unsigned char buf[64];
        size_t len;
        if (sodium_base642bin(buf, sizeof(buf), b64, n, NULL, &len, NULL, variants[i]) == 0 &&
            len == 32) {
            memcpy(key, buf, 32);
            sodium_memzero(buf, sizeof(buf));
            return 0;
        }
        sodium_memzero(buf, sizeof(buf));
    }
    snprintf(err, errlen, "HOOKBRIDGE_SECRET_KEY: must be 32 bytes in base64");
    return -1;
}

static int config_set(struct config *cfg, const struct config_opt *o, const char *val,
                      const char *source, char *err, size_t errlen)
{
    switch (o->kind) {
    case CK_STR: {
        char *dst = (char *)cfg + o->offset;
        if (strlen(val) >= o->size || val[0] == '\0') {
            snprintf(err, errlen, "%s: value empty or too long", source);
            return -1;
        }
        snprintf(dst, o->size, "%s", val);
        return 0;
    }
    case CK_LONG: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0' || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: %s is not a whole number in %ld..%ld", source, val, o->min,
                     o->max);
            return -1;
        }
        *(long *)((char *)cfg + o->offset) = v;
        return 0;
    }
    case CK_BOOL: {
        bool *dst = (bool *)((char *)cfg + o->offset);
        if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "on") == 0 ||
            strcmp(val, "yes") == 0)
            *dst = true;
        else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "off") == 0 ||
                 strcmp(val, "no") == 0)
            *dst = false;
        else {
            snprintf(err, errlen, "%s: %s is not 0 or 1", source, val);
            return -1;
        }
        return 0;
    }
    case CK_HOSTPORT_PUBLIC:
    case CK_HOSTPORT_ADMIN: {
        char e[HB_ERR_LEN];
        int rc = o->kind == CK_HOSTPORT_PUBLIC
                     ? config_parse_hostport(val, cfg->listen_host, sizeof(cfg->listen_host),
                                             &cfg->listen_port, e, sizeof(e))
                     : config_parse_hostport(val, cfg->admin_host, sizeof(cfg->admin_host),
                                             &cfg->admin_port, e, sizeof(e));
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", source, e);
            return -1;
        }
        return 0;
    }
    }
    return -1;
}

static unsigned config_role_bit(enum config_role role)
{
    return role == CONFIG_INGRESS ? R_IN : R_WK;
}

static void config_usage(enum config_role role)
{
    printf("usage: hookbridge-%s [options]\n\n", role == CONFIG_INGRESS ? "ingress" : "worker");
    printf("Every option is also an environment variable; options win.\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct config_opt *o = &config_opts[i];
        if ((o->roles & config_role_bit(role)) == 0)
            continue;
        printf("  %-20s %-28s %s (default %s)\n", o->flag, o->env, o->help, o->def);
    }
    printf("  %-20s %-28s %s\n", "--help", "", "this text");
    printf("  %-20s %-28s %s\n", "--version", "", "the version");
    printf("\nBoolean options take 0 or 1; a bare flag means 1.\n");
    printf("Environment only:\n");
    printf("  %-49s %s\n", "HOOKBRIDGE_SECRET_KEY",
           "required: 32 bytes, base64 (head -c32 /dev/urandom | base64)");
    if (role == CONFIG_INGRESS)
        printf("  %-49s %s\n", "HOOKBRIDGE_ADMIN_TOKEN",
               "admin API bearer token, at least 16 characters (unset: 401 to everything)");
}

/* The default public URL: http://localhost:{port} for a wildcard listen address,
 * else http://{host}:{port}, an IPv6 host in brackets. */
static void config_derive_public_url(struct config *cfg)
{
    const char *h = cfg->listen_host;
    if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "*") == 0)
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://localhost:%d", cfg->listen_port);
    else if (strchr(h, ':') != NULL)
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://[%s]:%d", h, cfg->listen_port);
    else
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s:%d", h, cfg->listen_port);
}

/*
 * The proxy must say its scheme and name a host: libcurl would read "proxy:3128" as an
 * HTTP proxy, but a typo such as "htp://" would otherwise only show at the first delivery.
 * The value may hold credentials (http://user:pass@host), so messages never repeat it.
 */
static int config_check_proxy(const char *proxy, char *err, size_t errlen)
{
    static const char *const schemes[] = {"http://", "https://", "socks5://", "socks5h://"};
    if (proxy[0] == '\0')
        return 0;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(proxy, schemes[i], n) == 0) {
            const char *host = proxy + n;
            const char *at = strchr(host, '@');
            if (at != NULL)
                host = at + 1;
            if (*host != '\0' && *host != '/' && *host != ':')
                return 0;
            break;
        }
    }
    snprintf(err, errlen,
             "HOOKBRIDGE_PROXY/--proxy: must be http://, https://, socks5:// or socks5h:// "
             "followed by host[:port]");
    return -1;
}

int config_load(struct config *cfg, enum config_role role, int argc, char **argv, char *err,
                size_t errlen)
{
    config_defaults(cfg);
    bool public_url_set = false;
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *v = getenv(config_opts[i].env);
        if (v != NULL && config_set(cfg, &config_opts[i], v, config_opts[i].env, err, errlen))
            return -1;
        if (v != NULL && config_opts[i].offset == OFF(public_url))
            public_url_set = true;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_usage(role);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("hookbridge %s\n", HB_VERSION);
            return 1;
        }
        const struct config_opt *o = NULL;
        const char *val = NULL;
        for (size_t i = 0; i < N_OPTS; i++) {
            size_t fl = strlen(config_opts[i].flag);
            if (strncmp(arg, config_opts[i].flag, fl) == 0 && (arg[fl] == '\0' || arg[fl] == '=')) {
                o = &config_opts[i];
                val = arg[fl] == '=' ? arg + fl + 1 : NULL;
                break;
            }
        }
        if (o == NULL) {
            snprintf(err, errlen, "%s: unknown option (see --help)", arg);
            return -1;
        }
        if ((o->roles & config_role_bit(role)) == 0) {
            snprintf(err, errlen, "%s: an option of hookbridge-%s, not of this binary", o->flag,
                     role == CONFIG_INGRESS ? "worker" : "ingress");
            return -1;
        }
        if (o->offset == OFF(public_url))
            public_url_set = true;
        if (val == NULL) {
            if (o->kind == CK_BOOL && (a + 1 >= argc || strncmp(argv[a + 1], "--", 2) == 0)) {
                val = "1";
            } else if (a + 1 < argc) {
                val = argv[++a];
            } else {
                snprintf(err, errlen, "%s: missing value", o->flag);
                return -1;
            }
        }
        if (config_set(cfg, o, val, o->flag, err, errlen))
            return -1;
    }
    char e[HB_ERR_LEN];
    if (config_parse_redis_url(cfg->redis_url, &cfg->redis, e, sizeof(e))) {
        snprintf(err, errlen, "HOOKBRIDGE_REDIS_URL/--redis: %s", e);
        return -1;
    }
    if (!public_url_set)
        config_derive_public_url(cfg);
    /* A trailing slash would double up in inbound_url. Stripped before the scheme check so
     * that "http://" alone, with no host, is refused. */
    size_t pl = strlen(cfg->public_url);
    while (pl > 0 && cfg->public_url[pl - 1] == '/')
        cfg->public_url[--pl] = '\0';
    if (strncmp(cfg->public_url, "http://", 7) != 0 && strncmp(cfg->public_url, "https://", 8)) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_PUBLIC_URL/--public-url: must be an http:// or "
                 "https:// URL with a host");
        return -1;
    }
    if (strcmp(cfg->log_format, "json") != 0 && strcmp(cfg->log_format, "text") != 0) {
        snprintf(err, errlen, "HOOKBRIDGE_LOG_FORMAT/--log-format: must be json or text");
        return -1;
    }
    const char *lv = cfg->log_level;
    if (strcmp(lv, "debug") && strcmp(lv, "info") && strcmp(lv, "warn") && strcmp(lv, "error")) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_LOG_LEVEL/--log-level: must be debug, info, warn or "
                 "error");
        return -1;
    }
    if (cfg->smtp_listen[0] != '\0') {
        char host[256];
        int port;
        if (config_parse_hostport(cfg->smtp_listen, host, sizeof(host), &port, e, sizeof(e))) {
            snprintf(err, errlen, "HOOKBRIDGE_SMTP_LISTEN/--smtp-listen: %s", e);
            return -1;
        }
    }
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        snprintf(err, errlen,
                 "HOOKBRIDGE_TLS_CERT/--tls-cert and HOOKBRIDGE_TLS_KEY/--tls-key: "
                 "set both or neither");
        return -1;
    }
    if (role == CONFIG_WORKER && config_check_proxy(cfg->proxy, err, errlen) != 0)
        return -1;
    const char *tok = getenv("HOOKBRIDGE_ADMIN_TOKEN");
    if (tok != NULL) {
        if (strlen(tok) >= sizeof(cfg->admin_token)) {
            snprintf(err, errlen, "HOOKBRIDGE_ADMIN_TOKEN: longer than 255 characters");
            return -1;
        }
        /* A short token can be guessed; the worker never uses it. Empty counts as unset,
         * as a compose file passing through an unset variable gives "". */
        if (role == CONFIG_INGRESS && tok[0] != '\0' && strlen(tok) < 16) {
            snprintf(err, errlen, "HOOKBRIDGE_ADMIN_TOKEN: shorter than 16 characters");
            return -1;
        }
        snprintf(cfg->admin_token, sizeof(cfg->admin_token), "%s", tok);
    }
    const char *key = getenv("HOOKBRIDGE_SECRET_KEY");
    if (key == NULL || key[0] == '\0') {
        snprintf(err, errlen,
                 "HOOKBRIDGE_SECRET_KEY: not set (32 bytes, base64; make one with "
                 "'head -c32 /dev/urandom | base64')");
        return -1;
    }
    if (config_parse_secret_key(key, cfg->secret_key, err, errlen))
        return -1;
    return 0;
}
