/*
 * bench_sink.c - the slow destination of scripts/bench: `bench_sink PORT DELAY_MS` answers
 * every HTTP/1.1 request with 200 "ok" after DELAY_MS, on keep-alive connections, in one
 * libevent loop (evhttp), so that tens of thousands of requests can wait at once at almost
 * no CPU: the Python asyncio sink it replaces spent a core at ~5,000 requests/s and so
 * shared the two cores of the bench machine with the worker it was measuring.
 *
 * Prints "ready" when listening. On SIGTERM or SIGINT it prints
 * "requests N first_ms F last_ms L" (when the first and the last request arrived, ms since
 * the epoch) and exits, so a rate can be counted at the destination.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

static struct event_base *base;
static const struct timeval *delay_tv; /* a common timeout: all waits are in one queue */
static long long n_requests, first_ms, last_ms;

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

struct pending {
    struct evhttp_request *req;
    struct event *ev;
};

static void reply(struct evhttp_request *req)
{
    struct evbuffer *b = evhttp_request_get_output_buffer(req);
    evbuffer_add(b, "ok", 2);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct pending *p = arg;
    (void)fd;
    (void)what;
    reply(p->req);
    event_free(p->ev);
    free(p);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    long long t = now_ms();
    if (n_requests++ == 0)
        first_ms = t;
    last_ms = t;
    if (delay_tv == NULL) {
        reply(req);
        return;
    }
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        evhttp_send_error(req, 503, NULL);
        return;
    }
    p->req = req;
    p->ev = evtimer_new(base, on_delay, p);
    if (p->ev == NULL) {
        free(p);
        evhttp_send_error(req, 503, NULL);
        return;
    }
    evtimer_add(p->ev, delay_tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_sink PORT DELAY_MS\n");
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) {
        fprintf(stderr, "bench_sink: bad port %s\n", argv[1]);
        return 2;
    }
    long delay = strtol(argv[2], &end, 10);
    if (*end != '\0' || delay < 0) {
        fprintf(stderr, "bench_sink: bad delay %s\n", argv[2]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (http == NULL) {
        fprintf(stderr, "bench_sink: out of memory\n");
        return 1;
    }
    if (delay > 0) {
        struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
        delay_tv = event_base_init_common_timeout(base, &tv);
    }
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A deep accept backlog: the worker opens up to --concurrency connections at once. */
    struct evconnlistener *l =
        evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 16384,
                                (struct sockaddr *)&sin, sizeof(sin));
    if (l == NULL || evhttp_bind_listener(http, l) == NULL) {
        fprintf(stderr, "bench_sink: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    evhttp_set_gencb(http, on_request, NULL);
    evhttp_set_timeout(http, 120);
    struct event *term = evsignal_new(base, SIGTERM, on_signal, NULL);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, NULL);
    if (term == NULL || intr == NULL || event_add(term, NULL) != 0 || event_add(intr, NULL) != 0) {
        fprintf(stderr, "bench_sink: cannot watch signals\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    event_base_dispatch(base);
    printf("requests %lld first_ms %lld last_ms %lld\n", n_requests, first_ms, last_ms);
    fflush(stdout);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
