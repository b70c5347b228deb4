/*
 * config.h - settings of both processes, from flags and HOOKBRIDGE_* environment
 * variables (flags win), with the defaults of the README's Configuration table.
 *
 * A missing or malformed setting is an error whose message names it, so main() can stop
 * with one clear line.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_role { CONFIG_INGRESS, CONFIG_WORKER };

/* Most sentinels a redis-sentinel:// URL may name. */
#define CONFIG_SENTINELS_MAX 8

struct config_sentinel {
    char host[256];
    int port;
};

struct config_redis {
    char host[256];
    int port;
    char path[256]; /* unix socket path; empty for TCP */
    int db;
    char password[256];
    /* redis-sentinel:// only (nsentinels > 0): the master's name and the sentinels that know
     * its address; host and port above stay empty, as the master moves (sentinel.h). */
    char master_name[128];
    int nsentinels;
    struct config_sentinel sentinels[CONFIG_SENTINELS_MAX];
};

struct config {
    char listen_host[256];
    int listen_port;
    char admin_host[256];
    int admin_port;
    char redis_url[512];
    struct config_redis redis;
    char db[512];
    char key_prefix[64];
    char public_url[512];
    long max_body;
    long concurrency;
    long shutdown_timeout;
    bool deny_private;
    bool reuseport;
    long retention_days;
    long redis_wait_replicas; /* ingress: replicas that must hold a job before its 202 */
    char log_level[16];
    char log_format[16];
    char admin_token[256]; /* empty: the admin API answers 401 to everything */
    char smtp_listen[256]; /* ingress only: "host:port" of the SMTP listener; empty: off */
    char tls_cert[512];    /* ingress only: PEM chain for STARTTLS; empty: none */
    char tls_key[512];     /* ingress only: its PEM private key */
    char health_file[512]; /* worker only: touched on each acknowledged heartbeat; "" off */
    char proxy[512];       /* worker only: the one outbound proxy URL; empty: none */
    unsigned char secret_key[32];
};

/*
 * Fill `cfg` from defaults, the environment, then argv. Returns 0, 1 when --help or
 * --version printed something and the process should exit 0, or -1 with `err` naming the
 * setting.
 */
int config_load(struct config *cfg, enum config_role role, int argc, char **argv, char *err,
                size_t errlen);

/* Parse "host:port" ("[::1]:8080" for IPv6). */
int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port, char *err,
                          size_t errlen);

/* Parse redis://[:password@]host[:port][/db], unix:///path[?db=N] or
 * redis-sentinel://[:password@]host[:port][,host[:port]…]/master[/db] (sentinel.h). */
int config_parse_redis_url(const char *url, struct config_redis *out, char *err, size_t errlen);

/* Decode a base64 (standard or url-safe, padding optional) 32-byte key. */
int config_parse_secret_key(const char *b64, unsigned char key[32], char *err, size_t errlen);

#endif
