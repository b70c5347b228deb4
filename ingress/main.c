/*
 * main.c - hookbridge-ingress: one libevent loop serving the public listener
 * (/hooks/{endpoint}, /healthz) and the admin listener (/api/…, /healthz).
 *
 * It never calls a destination: it checks, queues in Redis, answers. SIGTERM/SIGINT stop
 * the listeners, let requests waiting for Redis get their answer, write the batched
 * events, and exit 0.
 */
#include "admin.h"
#include "clock.h"
#include "evwriter.h"
#include "hb.h"
#include "hooks.h"
#include "ingress.h"
#include "log.h"
#include "rconn.h"
#include "store.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ingress_main {
    struct ingress in;
    struct evhttp *pub;
    struct evhttp *admin;
    struct evhttp_bound_socket *pub_sock;
    struct evhttp_bound_socket *admin_sock;
    struct event *sigterm, *sigint, *drain;
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

static struct evhttp *ingress_http(struct ingress_main *m,
                                   void (*cb)(struct evhttp_request *, void *))
{
    struct evhttp *http = evhttp_new(m->in.base);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                         EVHTTP_REQ_OPTIONS);
    evhttp_set_max_headers_size(http, 64 * 1024);
    /* Bodies somewhat over the limit are still read so that the SPEC's check order holds
     * (404 for an unknown endpoint before a JSON 413); evhttp itself refuses (with its own
     * 413) anything over 16x the limit or 16 MiB, whichever is larger. */
    long cap = m->in.cfg.max_body * 16;
    if (cap < 16L * 1024 * 1024)
        cap = 16L * 1024 * 1024;
    evhttp_set_max_body_size(http, cap);
    evhttp_set_timeout(http, 30);
    evhttp_set_gencb(http, cb, &m->in);
    return http;
}

static void ingress_drain(evutil_socket_t fd, short what, void *arg)
{
    struct ingress_main *m = arg;
    (void)fd;
    (void)what;
    if (hooks_pending() > 0 && clock_mono_ms() < m->drain_deadline) {
        struct timeval tv = {0, 20 * 1000};
        evtimer_add(m->drain, &tv);
        return;
    }
    evwriter_flush(m->in.events);
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
    evhttp_del_accept_socket(m->pub, m->pub_sock);
    evhttp_del_accept_socket(m->admin, m->admin_sock);
    m->pub_sock = m->admin_sock = NULL;
    m->drain_deadline = clock_mono_ms() + m->in.cfg.shutdown_timeout * 1000;
    ingress_drain(-1, 0, m);
}

int main(int argc, char **argv)
{
    static struct ingress_main m;
    char err[HB_ERR_LEN];
    int status = 1;

    int rc = config_load(&m.in.cfg, CONFIG_INGRESS, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc > 0)
            return 0;
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        return 2;
    }
    if (log_setup(m.in.cfg.log_level, m.in.cfg.log_format, err, sizeof(err)) != 0 ||
        sodium_init() < 0) {
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        return 2;
    }
    xalloc_init_cjson();
    signal(SIGPIPE, SIG_IGN);
    queue_keys_init(&m.in.keys, m.in.cfg.key_prefix);

    if (store_open(m.in.cfg.db, &m.in.store, err) != 0) {
        fprintf(stderr, "hookbridge-ingress: %s\n", err);
        return 1;
    }
    m.in.base = event_base_new();
    m.in.redis = rconn_new(m.in.base, &m.in.cfg.redis, "redis", NULL, NULL);
    m.in.events = evwriter_new(m.in.base, m.in.store, 5, 512);

    m.pub = ingress_http(&m, hooks_request);
    m.admin = ingress_http(&m, admin_request);
    int pfd = ingress_listen_socket(m.in.cfg.listen_host, m.in.cfg.listen_port, m.in.cfg.reuseport,
                                    err, sizeof(err));
    if (pfd < 0)
        goto fail;
    m.pub_sock = evhttp_accept_socket_with_handle(m.pub, pfd);
    int afd = ingress_listen_socket(m.in.cfg.admin_host, m.in.cfg.admin_port, m.in.cfg.reuseport,
                                    err, sizeof(err));
    if (afd < 0)
        goto fail;
    m.admin_sock = evhttp_accept_socket_with_handle(m.admin, afd);

    m.sigterm = evsignal_new(m.in.base, SIGTERM, ingress_on_signal, &m);
    m.sigint = evsignal_new(m.in.base, SIGINT, ingress_on_signal, &m);
    m.drain = evtimer_new(m.in.base, ingress_drain, &m);
    evsignal_add(m.sigterm, NULL);
    evsignal_add(m.sigint, NULL);

    char lport[8], aport[8];
    snprintf(lport, sizeof(lport), "%d", m.in.cfg.listen_port);
    snprintf(aport, sizeof(aport), "%d", m.in.cfg.admin_port);
    log_kv(LOG_INFO, "ingress started", "listen", m.in.cfg.listen_host, "port", lport,
           "admin_listen", m.in.cfg.admin_host, "admin_port", aport, "version", HB_VERSION, NULL);
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
    }
    /* Redis first: requests still waiting get their 503 while evhttp can send it. */
    rconn_free(m.in.redis);
    if (m.pub)
        evhttp_free(m.pub);
    if (m.admin)
        evhttp_free(m.admin);
    evwriter_free(m.in.events);
    event_base_free(m.in.base);
    store_close(m.in.store);
    return status;
}
