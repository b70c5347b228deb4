/*
 * main.c - hookbridge-ingress: one libevent loop serving the public listener
 * (/hooks/{endpoint}, /healthz) and the admin listener (/api/…, /healthz).
 *
 * It never calls a destination: it checks, queues in Redis, answers. SIGTERM/SIGINT stop
 * the listeners, let requests waiting for Redis get their answer, write the batched
 * events, and exit 0.
 */
#include "admin.h"
#include "bcache.h"
#include "bridge.h"
#include "clock.h"
#include "evwriter.h"
#include "hb.h"
#include "hooks.h"
#include "httpd.h"
#include "ingress.h"
#include "log.h"
#include "mailhooks.h"
#include "metrics.h"
#include "rconn.h"
#include "smtpd.h"
#include "store.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Admin bodies are bridges: templates, schemas and filters of up to 64 KiB each. */
#define INGRESS_ADMIN_MAX_BODY (4 * 1024 * 1024)

struct ingress_main {
    struct ingress in;
    struct httpd *pub;
    struct httpd *admin;
    struct smtpd *smtp; /* NULL unless --smtp-listen */
    int fds[3];         /* the listening sockets, which httpd/smtpd do not own */
    size_t n_fds;
    struct event *sigterm, *sigint, *drain, *metrics, *logs;
    int64_t drain_deadline;
    bool stopping;
};

/* A listening socket made by hand so that SO_REUSEPORT can be set before bind(). */
static int ingress_listen_socket(const char *host, int port, bool reuseport, char *err,
                                 size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s:%d: %s", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        goto fail;
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0)
        goto fail;
    if (listen(fd, 4096) != 0)
        goto fail;
    freeaddrinfo(res);
    return fd;
fail:
    snprintf(err, errlen, "listen %s:%d: %s", host, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

/* Both listeners' limits: the public one takes bodies up to --max-body; admin bodies (a
 * bridge with its templates and schema) are small. */
static struct httpd *ingress_httpd(struct ingress_main *m, int fd, size_t max_body,
                                   httpd_head_fn head, httpd_request_fn request)
{
    struct httpd_config hc;
    httpd_config_init(&hc);
    hc.max_body = max_body;
    return httpd_new(m->in.base, fd, &hc, head, request, &m->in);
}

/* Many idle or slow clients each hold a descriptor: use all the process may have. */
static void ingress_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void ingress_flush_metrics(struct ingress_main *m)
{
    char key[QUEUE_KEY_LEN];
    metrics_key(m->in.cfg.key_prefix, key, sizeof(key));
    metrics_flush(m->in.metrics, m->in.redis, key);
}

static void ingress_on_metrics(evutil_socket_t fd, short what, void *arg)
{
    struct ingress_main *m = arg;
    (void)fd;
    (void)what;
    ingress_flush_metrics(m);
    struct timeval tv = {METRICS_FLUSH_MS / 1000, (METRICS_FLUSH_MS % 1000) * 1000};
    evtimer_add(m->metrics, &tv);
}

static void ingress_on_logs(evutil_socket_t fd, short what, void *arg)
{
    struct ingress_main *m = arg;
    (void)fd;
    (void)what;
    log_flush();
    struct timeval tv = {0, LOG_FLUSH_MS * 1000};
    evtimer_add(m->logs, &tv);
}

static void ingress_drain(evutil_socket_t fd, short what, void *arg)
{
    struct ingress_main *m = arg;
    (void)fd;
    (void)what;
    bool busy = hooks_pending() > 0 || httpd_active(m->pub) > 0 || httpd_active(m->admin) > 0 ||
                smtpd_active(m->smtp) > 0;
    if (busy && clock_mono_ms() < m->drain_deadline) {
        struct timeval tv = {0, 20 * 1000};
        evtimer_add(m->drain, &tv);
        return;
    }
    evwriter_flush(m->in.events);
    ingress_flush_metrics(m);
    event_base_loopexit(m->in.base, NULL);
}

static void ingress_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct ingress_main *m = arg;
    (void)what;
    if (m->stopping)
        return;
    m->stopping = true;
    log_kv(LOG_INFO, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    /* No new connections; requests already read still get their answer. */
    httpd_stop_accepting(m->pub);
    httpd_stop_accepting(m->admin);
    smtpd_stop_accepting(m->smtp);
    m->drain_deadline = clock_mono_ms() + m->in.cfg.shutdown_timeout * 1000;
    ingress_drain(-1, 0, m);
}

int main(int argc, char **argv)
{
    static struct ingress_main m;
    char err[HB_ERR_LEN];
    int status = 1;
    /* SIGTERM before the loop's handlers exist must not kill the process: it waits,
     * blocked, until they are installed, then stops it cleanly. */
    sigset_t stopsigs;
    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    sigaddset(&stopsigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stopsigs, NULL);

    int rc = config_load(&m.in.cfg, CONFIG_INGRESS, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc > 0)
            return 0;
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        return 2;
    }
    if (log_setup(m.in.cfg.log_level, m.in.cfg.log_format, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "hookbridge-ingress: libsodium cannot be initialised\n");
        return 2;
    }
    xalloc_init_cjson();
    signal(SIGPIPE, SIG_IGN);
    queue_keys_init(&m.in.keys, m.in.cfg.key_prefix);

    if (store_open(m.in.cfg.db, &m.in.store, err, sizeof err) != 0) {
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        return 1;
    }
    if (bridge_key_check(m.in.store, m.in.cfg.secret_key, err, sizeof(err)) != 0) {
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        store_close(m.in.store);
        return 2;
    }
    m.in.bridges = bcache_new(m.in.store, m.in.cfg.secret_key);
    m.in.metrics = metrics_batch_new();
    m.in.base = event_base_new();
    m.in.redis = rconn_new(m.in.base, &m.in.cfg.redis, "redis", NULL, NULL);
    /* Its own thread and connection: nothing on this loop may wait for a commit. */
    if (evwriter_new_threaded(m.in.base, m.in.cfg.db, 5, 512, &m.in.events, err, sizeof err) != 0)
        goto fail;

    ingress_raise_fd_limit();
    int pfd = ingress_listen_socket(m.in.cfg.listen_host, m.in.cfg.listen_port, m.in.cfg.reuseport,
                                    err, sizeof(err));
    if (pfd < 0)
        goto fail;
    m.fds[m.n_fds++] = pfd;
    m.pub = ingress_httpd(&m, pfd, (size_t)m.in.cfg.max_body, hooks_head, hooks_request);
    int afd = ingress_listen_socket(m.in.cfg.admin_host, m.in.cfg.admin_port, m.in.cfg.reuseport,
                                    err, sizeof(err));
    if (afd < 0)
        goto fail;
    m.fds[m.n_fds++] = afd;
    m.admin = ingress_httpd(&m, afd, INGRESS_ADMIN_MAX_BODY, admin_head, admin_request);
    if (m.in.cfg.smtp_listen[0] != '\0') {
        /* E-mail in (mailhooks.h); the address was checked by config_load. */
        char shost[256];
        int sport;
        config_parse_hostport(m.in.cfg.smtp_listen, shost, sizeof(shost), &sport, err, sizeof(err));
        int sfd = ingress_listen_socket(shost, sport, m.in.cfg.reuseport, err, sizeof(err));
        if (sfd < 0)
            goto fail;
        m.fds[m.n_fds++] = sfd;
        m.smtp = mailhooks_listen(&m.in, sfd, err, sizeof(err));
        if (m.smtp == NULL)
            goto fail;
    }

    m.sigterm = evsignal_new(m.in.base, SIGTERM, ingress_on_signal, &m);
    m.sigint = evsignal_new(m.in.base, SIGINT, ingress_on_signal, &m);
    m.drain = evtimer_new(m.in.base, ingress_drain, &m);
    m.metrics = evtimer_new(m.in.base, ingress_on_metrics, &m);
    ingress_on_metrics(-1, 0, &m);
    m.logs = evtimer_new(m.in.base, ingress_on_logs, &m);
    ingress_on_logs(-1, 0, &m);
    evsignal_add(m.sigterm, NULL);
    evsignal_add(m.sigint, NULL);
    sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);

    char lport[8], aport[8];
    snprintf(lport, sizeof(lport), "%d", m.in.cfg.listen_port);
    snprintf(aport, sizeof(aport), "%d", m.in.cfg.admin_port);
    log_kv(LOG_INFO, "ingress started", "listen", m.in.cfg.listen_host, "port", lport,
           "admin_listen", m.in.cfg.admin_host, "admin_port", aport, "smtp_listen",
           m.in.cfg.smtp_listen[0] ? m.in.cfg.smtp_listen : NULL, "version", HB_VERSION, NULL);
    event_base_dispatch(m.in.base);
    log_kv(LOG_INFO, "ingress stopped", NULL);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "hookbridge-ingress: %s\n", err);
out:
    if (m.sigterm) {
        event_free(m.sigterm);
        event_free(m.sigint);
        event_free(m.drain);
        event_free(m.metrics);
        event_free(m.logs);
    }
    /* Redis first: requests still waiting get their 503 (and are freed by it). */
    rconn_free(m.in.redis);
    if (m.pub)
        httpd_free(m.pub);
    if (m.admin)
        httpd_free(m.admin);
    smtpd_free(m.smtp);
    for (size_t i = 0; i < m.n_fds; i++)
        close(m.fds[i]);
    evwriter_free(m.in.events);
    bcache_free(m.in.bridges);
    metrics_batch_free(m.in.metrics);
    event_base_free(m.in.base);
    store_close(m.in.store);
    return status;
}
