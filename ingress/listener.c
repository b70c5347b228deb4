/*
 * listener.c - accepting connections for the ingress's servers (see listener.h).
 */
#include "listener.h"

#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

struct listener {
    struct event *ev_accept, *ev_backoff;
    listener_accept_fn fn;
    void *arg;
    bool want;      /* the server takes connections */
    bool backoff;   /* pausing after a failed accept */
    bool listening; /* ev_accept is added */
};

/* Listen exactly when the server wants connections and no pause is on. */
static void listener_update(struct listener *l)
{
    bool on = l->want && !l->backoff;
    if (on == l->listening)
        return;
    if ((on ? event_add(l->ev_accept, NULL) : event_del(l->ev_accept)) == 0)
        l->listening = on;
}

static void listener_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listener *l = arg;
    (void)fd;
    (void)what;
    l->backoff = false;
    listener_update(l);
}

static void listener_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct listener *l = arg;
    (void)what;
    while (l->want) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            /* EMFILE, ENFILE, ENOBUFS...: the listener would stay readable and spin, so pause
             * it; descriptors freed meanwhile let the next round succeed. */
            struct timeval tv = {0, LISTENER_BACKOFF_MS * 1000};
            if (evtimer_add(l->ev_backoff, &tv) == 0)
                l->backoff = true;
            break;
        }
        l->fn(fd, &ss, l->arg);
    }
    listener_update(l);
}

struct listener *listener_new(struct event_base *base, int listen_fd, listener_accept_fn fn,
                              void *arg)
{
    if (evutil_make_socket_nonblocking(listen_fd) < 0)
        return NULL;
    struct listener *l = xcalloc(1, sizeof(*l));
    l->fn = fn;
    l->arg = arg;
    l->want = true;
    l->ev_accept = event_new(base, listen_fd, EV_READ | EV_PERSIST, listener_accept_cb, l);
    if (l->ev_accept == NULL)
        goto out_free;
    l->ev_backoff = evtimer_new(base, listener_backoff_cb, l);
    if (l->ev_backoff == NULL)
        goto out_free_accept;
    listener_update(l);
    if (!l->listening)
        goto out_free_backoff;
    return l;

out_free_backoff:
    event_free(l->ev_backoff);
out_free_accept:
    event_free(l->ev_accept);
out_free:
    free(l);
    return NULL;
}

void listener_want(struct listener *l, bool want)
{
    l->want = want;
    listener_update(l);
}

void listener_free(struct listener *l)
{
    if (l == NULL)
        return;
    event_free(l->ev_backoff);
    event_free(l->ev_accept);
    free(l);
}

void listener_peer_name(const struct sockaddr_storage *peer, char *out, size_t outlen)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        if (inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr)) == NULL)
            snprintf(addr, sizeof(addr), "?");
        snprintf(out, outlen, "%s:%u", addr, (unsigned)ntohs(in->sin_port));
    } else if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr)) == NULL)
            snprintf(addr, sizeof(addr), "?");
        snprintf(out, outlen, "[%s]:%u", addr, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unix");
    }
}
