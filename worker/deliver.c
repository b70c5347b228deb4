/*
 * deliver.c - libcurl multi driven by libevent (see deliver.h).
 *
 * curl_multi_socket_action() is only ever called from our event callbacks, and completed
 * transfers are collected right after it returns (deliver_check_done), never from inside
 * a curl callback, so a completion callback may start new requests safely.
 */
#include "deliver.h"

#include "clock.h"
#include "hb.h"
#include "netpolicy.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Easy handles kept for reuse: creating one per request costs more than the request's
 * own work against a fast destination (profiled: malloc was the top symbol). The pool holds
 * as many as there may be requests in flight (max_conns, --concurrency): a fixed 256 made
 * about half the requests at 1,000 in flight create and destroy a handle (uprobes over 4 s
 * of a drain: 5,143 curl_easy_init against 4,683 reuses), since more than 256 complete
 * between two batches of new jobs. Those handles exist at the peak anyway. */

struct deliver {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int active;
    CURL **pool;
    long npool, pool_max;
    bool deny_private;      /* HOOKBRIDGE_DENY_PRIVATE: refuse internal addresses (netpolicy.h) */
    char *proxy;            /* HOOKBRIDGE_PROXY; NULL: none */
    struct evdns_base *dns; /* resolves destinations to check them when a proxy is used */
};

static CURL *deliver_easy_get(struct deliver *d)
{
    if (d->npool > 0)
        return d->pool[--d->npool];
    return curl_easy_init();
}

static void deliver_easy_put(struct deliver *d, CURL *easy)
{
    if (d->npool < d->pool_max) {
        curl_easy_reset(easy);
        d->pool[d->npool++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

struct deliver_call {
    struct deliver *d;
    CURL *easy;
    struct curl_slist *hdrs;
    deliver_done_cb cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    char *body;
    size_t body_len;
    bool truncated;
    int64_t started_ms;
    int64_t started_mono;
    char denied[256]; /* why the address was refused, when it was */
    bool added;       /* the handle is in the multi (not waiting for the destination check) */
    struct evdns_getaddrinfo_request *dnsreq; /* the destination check under way */
    struct event *later;                      /* fails the call from the loop */
    bool smtp;                                /* an e-mail call (deliver_set_mail) */
    struct curl_slist *rcpt;
    const char *upload; /* the message, owned by the caller until the call completes */
    size_t upload_len, upload_off;
};

/* Per-socket state curl asked us to watch. */
struct deliver_sock {
    struct event *ev;
    struct deliver *d;
};

/* The most response headers an attempt records, and the longest value kept of each. */
#define DELIVER_HEADERS_MAX 100
#define DELIVER_HEADER_VALUE_MAX 8192

/* The final response's headers (libcurl keeps them; 1xx responses are not among them) as an
 * object: names lower-cased, the first of each name kept, values cut at
 * DELIVER_HEADER_VALUE_MAX. Empty when no response came. */
static cJSON *deliver_headers(CURL *easy)
{
    cJSON *o = cJSON_CreateObject();
    struct curl_header *h = NULL;
    int n = 0;
    while (n < DELIVER_HEADERS_MAX &&
           (h = curl_easy_nextheader(easy, CURLH_HEADER, -1, h)) != NULL) {
        char name[128];
        size_t nl = strlen(h->name);
        if (nl == 0 || nl >= sizeof(name))
            continue;
        for (size_t i = 0; i < nl; i++)
            name[i] = (char)tolower((unsigned char)h->name[i]);
        name[nl] = '\0';
        if (cJSON_GetObjectItemCaseSensitive(o, name) != NULL)
            continue;
        char *value = xstrndup(h->value, strnlen(h->value, DELIVER_HEADER_VALUE_MAX));
        cJSON_AddStringToObject(o, name, value);
        free(value);
        n++;
    }
    return o;
}

/* The longest wait a Retry-After may ask for: a week, the longest delay a bridge may set. */
#define DELIVER_RETRY_AFTER_MAX 604800L

long deliver_retry_after(const char *value, int64_t now_ms)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        /* Too many digits for a long is still a valid delay-seconds: the cap below applies. */
        if (errno == ERANGE)
            errno = 0;
        if (errno != 0 || *end != '\0' || v < 0)
            return -1;
        return v > DELIVER_RETRY_AFTER_MAX ? DELIVER_RETRY_AFTER_MAX : v;
    }
    /* An HTTP-date in any of the three forms RFC 9110 has recipients accept (IMF-fixdate,
     * RFC 850, asctime): curl_getdate reads them all. */
    time_t when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    int64_t when_ms = (int64_t)when * 1000;
    if (when_ms <= now_ms)
        return 0;
    int64_t secs = (when_ms - now_ms + 999) / 1000;
    return secs > DELIVER_RETRY_AFTER_MAX ? DELIVER_RETRY_AFTER_MAX : (long)secs;
}

static void deliver_complete(struct deliver_call *c, CURLcode code);

static void deliver_check_done(struct deliver *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        struct deliver_call *c = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
        curl_multi_remove_handle(d->multi, easy);
        c->added = false;
        deliver_complete(c, code);
    }
}

/* Report the outcome of call `c` to its callback, then free it. */
static void deliver_complete(struct deliver_call *c, CURLcode code)
{
    struct deliver *d = c->d;
    CURL *easy = c->easy;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    cJSON *headers = deliver_headers(easy);
    d->active--;

    struct deliver_result res = {0};
    res.started_ms = c->started_ms;
    res.duration_ms = (long)(clock_mono_ms() - c->started_mono);
    res.headers = headers;
    res.body = c->body ? c->body : "";
    res.body_len = c->body_len;
    res.truncated = c->truncated;
    res.retry_after_s = -1;
    char errmsg[CURL_ERROR_SIZE + 256];
    if (code != CURLE_OK) {
        /* A refused address explains the failure better than curl's "couldn't
         * connect"; when another address of the name worked, the call succeeded. */
        snprintf(errmsg, sizeof(errmsg), "%s",
                 c->denied[0]   ? c->denied
                 : c->errbuf[0] ? c->errbuf
                                : curl_easy_strerror(code));
        res.error = errmsg;
        /* A transfer cut off mid-response still tells us the status line. An SMTP
         * server's refusal is its reply code, which decides between retry and failure. */
        res.http_status = c->smtp && status >= 400 ? (int)status : 0;
    } else {
        res.http_status = (int)status;
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(headers, "retry-after");
        if (cJSON_IsString(ra))
            res.retry_after_s = deliver_retry_after(ra->valuestring, clock_now_ms());
    }
    c->cb(&res, c->arg);
    deliver_easy_put(d, easy);
    curl_slist_free_all(c->hdrs);
    curl_slist_free_all(c->rcpt);
    cJSON_Delete(headers);
    if (c->later != NULL)
        event_free(c->later);
    free(c->body);
    free(c);
}

static void deliver_on_event(evutil_socket_t fd, short what, void *arg)
{
    struct deliver *d = arg;
    int flags = 0;
    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(d->multi, fd, flags, &running);
    deliver_check_done(d);
    /* `running` predates the completion callbacks, which may have started new calls (an
     * oauth2 token answer sends the requests that waited for it): their kick-off timer
     * must stay. */
    if (running <= 0 && d->active == 0)
        evtimer_del(d->timer);
}

static void deliver_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct deliver *d = arg;
    (void)fd;
    (void)what;
    int running;
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    deliver_check_done(d);
}

static int deliver_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct deliver *d = arg;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(d->timer);
        return 0;
    }
    /* A zero timeout means "act now"; going through the loop keeps us out of curl's
     * callback stack (curl forbids socket_action from inside its callbacks). */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(d->timer, &tv);
    return 0;
}

static int deliver_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct deliver *d = arg;
    struct deliver_sock *ds = sockp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (ds != NULL) {
            event_free(ds->ev);
            free(ds);
            curl_multi_assign(d->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (ds == NULL) {
        ds = xcalloc(1, sizeof(*ds));
        ds->d = d;
        ds->ev = event_new(d->base, s, kind, deliver_on_event, d);
        curl_multi_assign(d->multi, s, ds);
    } else {
        event_del(ds->ev);
        event_assign(ds->ev, d->base, s, kind, deliver_on_event, d);
    }
    event_add(ds->ev, NULL);
    return 0;
}

static size_t deliver_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct deliver_call *c = arg;
    size_t n = size * nmemb;
    size_t room = HB_RESPONSE_BODY_MAX - c->body_len;
    size_t take = n < room ? n : room;
    if (take > 0) {
        c->body = xrealloc(c->body, c->body_len + take + 1);
        memcpy(c->body + c->body_len, ptr, take);
        c->body_len += take;
        c->body[c->body_len] = '\0';
    }
    if (take < n)
        c->truncated = true;
    /* Consume everything so the connection stays reusable. */
    return n;
}

/*
 * curl is about to connect to `addr` (DNS already resolved): the one place where the
 * address actually used is known, so HOOKBRIDGE_DENY_PRIVATE is enforced here and a name
 * cannot smuggle a destination into an internal network.
 */
static curl_socket_t deliver_open_socket(void *arg, curlsocktype purpose,
                                         struct curl_sockaddr *addr)
{
    struct deliver_call *c = arg;
    char why[96];
    (void)purpose;
    /* Through a proxy every connection goes to the proxy, which the operator chose: the
     * destination was checked by name before the call started (deliver_on_resolved). */
    if (c->d->deny_private && c->d->proxy == NULL &&
        !netpolicy_public(&addr->addr, why, sizeof(why))) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (addr->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&addr->addr)->sin_addr, ip,
                      sizeof(ip));
        else if (addr->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr, ip,
                      sizeof(ip));
        snprintf(c->denied, sizeof(c->denied),
                 "destination %s refused (%s): HOOKBRIDGE_DENY_PRIVATE is on", ip, why);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* A route's client certificate, key and CA, handed to libcurl from memory (copied by it):
 * the key never touches the disk. A CA given replaces the system's bundle for the call. */
static void deliver_set_tls(CURL *e, const struct deliver_request *rq)
{
    struct curl_blob blob;
    if (rq->tls_cert != NULL && rq->tls_cert[0] != '\0') {
        blob = (struct curl_blob){(void *)rq->tls_cert, strlen(rq->tls_cert), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (rq->tls_key != NULL && rq->tls_key[0] != '\0') {
        blob = (struct curl_blob){(void *)rq->tls_key, strlen(rq->tls_key), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (rq->tls_ca != NULL && rq->tls_ca[0] != '\0') {
        blob = (struct curl_blob){(void *)rq->tls_ca, strlen(rq->tls_ca), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
}

static size_t deliver_on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct deliver_call *c = arg;
    size_t room = size * nitems;
    size_t left = c->upload_len - c->upload_off;
    size_t n = left < room ? left : room;
    memcpy(buf, c->upload + c->upload_off, n);
    c->upload_off += n;
    return n;
}

/* An SMTP call: libcurl speaks the protocol (and dot-stuffs the message); the message is
 * read from rq->body. */
static void deliver_set_mail(struct deliver_call *c, const struct deliver_request *rq)
{
    CURL *e = c->easy;
    c->smtp = true;
    for (const char *const *r = rq->mail_rcpt; *r; r++)
        c->rcpt = curl_slist_append(c->rcpt, *r);
    c->upload = rq->body ? rq->body : "";
    c->upload_len = rq->body ? rq->body_len : 0;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, rq->mail_from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, c->rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, deliver_on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, c);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->upload_len);
    /* CURLUSESSL_ALL: a server that does not offer STARTTLS, or fails it, gets nothing,
     * not the message in clear text. smtps:// is TLS from the first byte either way. */
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     rq->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    if (rq->username != NULL) {
        curl_easy_setopt(e, CURLOPT_USERNAME, rq->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, rq->password ? rq->password : "");
    }
    /* One connection per message: libcurl would reuse a connection opened for another
     * route's login or without STARTTLS (seen with a route that turned it off), and mail
     * volumes do not need the saving. */
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    /* SMTP cannot travel as a plain HTTP proxy request: through a proxy it is tunnelled. */
    if (c->d->proxy != NULL)
        curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
}

struct deliver *deliver_new(struct event_base *base, long max_conns, bool deny_private)
{
    struct deliver *d = xcalloc(1, sizeof(*d));
    d->base = base;
    d->deny_private = deny_private;
    d->pool_max = max_conns > 0 ? max_conns : 1;
    d->pool = xcalloc((size_t)d->pool_max, sizeof(*d->pool));
    d->multi = curl_multi_init();
    d->timer = evtimer_new(base, deliver_on_timer, d);
    if (d->multi == NULL || d->timer == NULL) {
        deliver_free(d);
        return NULL;
    }
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, deliver_socket_cb);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, deliver_timer_cb);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, max_conns);
    return d;
}

int deliver_set_proxy(struct deliver *d, const char *proxy, char *err, size_t errlen)
{
    if (proxy == NULL || proxy[0] == '\0')
        return 0;
    if (d->deny_private && d->dns == NULL) {
        d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (d->dns == NULL) {
            snprintf(err, errlen, "cannot set up DNS (/etc/resolv.conf) to check destinations");
            return -1;
        }
    }
    free(d->proxy);
    d->proxy = xstrdup(proxy);
    return 0;
}

static void deliver_on_later(evutil_socket_t fd, short what, void *arg)
{
    struct deliver_call *c = arg;
    (void)fd;
    (void)what;
    deliver_complete(c, CURLE_COULDNT_RESOLVE_HOST);
}

/* End call `c` with the error in c->denied, from the loop: its callback must never run
 * inside deliver_start. */
static void deliver_fail_later(struct deliver_call *c)
{
    static const struct timeval now = {0, 0};
    c->later = evtimer_new(c->d->base, deliver_on_later, c);
    evtimer_add(c->later, &now);
}

/*
 * The destination's addresses, when a proxy is used under HOOKBRIDGE_DENY_PRIVATE: the
 * proxy would connect anywhere it is told to, so the name is resolved here and refused
 * when any address is internal (a name with one public and one private address could be
 * reached at either). Only then does the request start.
 */
static void deliver_on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct deliver_call *c = arg;
    if (result == EVUTIL_EAI_CANCEL)
        return; /* deliver_cancel, which frees the call */
    c->dnsreq = NULL;
    if (result != 0) {
        snprintf(c->denied, sizeof(c->denied),
                 "destination host cannot be resolved to check it (%s): "
                 "HOOKBRIDGE_DENY_PRIVATE is on",
                 evutil_gai_strerror(result));
    }
    for (struct evutil_addrinfo *ai = res; ai != NULL && c->denied[0] == '\0'; ai = ai->ai_next) {
        char why[96];
        if (netpolicy_public(ai->ai_addr, why, sizeof(why)))
            continue;
        char ip[INET6_ADDRSTRLEN] = "?";
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, ip,
                      sizeof(ip));
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, ip,
                      sizeof(ip));
        snprintf(c->denied, sizeof(c->denied),
                 "destination %s refused (%s): HOOKBRIDGE_DENY_PRIVATE is on", ip, why);
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
    if (c->denied[0] == '\0') {
        CURLMcode mc = curl_multi_add_handle(c->d->multi, c->easy);
        if (mc == CURLM_OK) {
            c->added = true;
            return;
        }
        snprintf(c->denied, sizeof(c->denied), "curl add handle: %s", curl_multi_strerror(mc));
    }
    deliver_fail_later(c);
}

/* Start resolving the host of `url` for deliver_on_resolved. */
static int deliver_check_host(struct deliver_call *c, const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *host = NULL;
    int ret = -1;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errlen, "the destination URL has no host to check");
        goto out;
    }
    /* curl gives IPv6 literals in brackets; the resolver wants them bare. */
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    /* May answer at once (a literal address, /etc/hosts): deliver_on_resolved then ran
     * already and returned NULL. */
    c->dnsreq = evdns_getaddrinfo(c->d->dns, host, NULL, &hints, deliver_on_resolved, c);
    ret = 0;
out:
    curl_free(host);
    curl_url_cleanup(u);
    return ret;
}

struct deliver_call *deliver_start(struct deliver *d, const struct deliver_request *rq,
                                   deliver_done_cb cb, void *arg, char *err, size_t errlen)
{
    struct deliver_call *c = xcalloc(1, sizeof(*c));
    c->d = d;
    c->cb = cb;
    c->arg = arg;
    c->easy = deliver_easy_get(d);
    if (c->easy == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        goto fail;
    }
    CURL *e = c->easy;
    for (const char *const *h = rq->headers; h && *h; h++)
        c->hdrs = curl_slist_append(c->hdrs, *h);
    /* No "Expect: 100-continue" round trip for large bodies. */
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, rq->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms < 10000 ? rq->timeout_ms : 10000);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* The configured proxy, or an explicit empty one: libcurl would otherwise take one from
     * http_proxy, HTTPS_PROXY or ALL_PROXY in the environment, send every request through
     * it, and the address check below would see the proxy's address instead of the
     * destination's. An explicit no-proxy list keeps no_proxy from the environment out too. */
    curl_easy_setopt(e, CURLOPT_PROXY, d->proxy ? d->proxy : "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    deliver_set_tls(e, rq);
    if (rq->mail_rcpt != NULL)
        deliver_set_mail(c, rq);
    /* The URL goes out as rendered and recorded: no dot-segment removal, which would turn
     * ".../customers/../notes" into another resource than the event says was called. */
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, deliver_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, deliver_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    if (c->smtp) {
        /* the message is read by deliver_on_read */
    } else if (strcmp(rq->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        if (strcmp(rq->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    if (!c->smtp)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    c->started_ms = clock_now_ms();
    c->started_mono = clock_mono_ms();
    if (d->proxy != NULL && d->deny_private) {
        if (deliver_check_host(c, rq->url, err, errlen) != 0)
            goto fail;
        d->active++;
        return c;
    }
    CURLMcode mc = curl_multi_add_handle(d->multi, e);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "curl add handle: %s", curl_multi_strerror(mc));
        goto fail;
    }
    c->added = true;
    d->active++;
    return c;
fail:
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->hdrs);
    curl_slist_free_all(c->rcpt);
    free(c);
    return NULL;
}

void deliver_cancel(struct deliver_call *c)
{
    if (c->dnsreq != NULL)
        evdns_getaddrinfo_cancel(c->dnsreq);
    if (c->later != NULL)
        event_free(c->later);
    if (c->added)
        curl_multi_remove_handle(c->d->multi, c->easy);
    c->d->active--;
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->hdrs);
    curl_slist_free_all(c->rcpt);
    free(c->body);
    free(c);
}

int deliver_active(const struct deliver *d)
{
    return d->active;
}

long deliver_pooled(const struct deliver *d)
{
    return d->npool;
}

void deliver_free(struct deliver *d)
{
    if (d == NULL)
        return;
    if (d->multi != NULL)
        curl_multi_cleanup(d->multi);
    while (d->npool > 0)
        curl_easy_cleanup(d->pool[--d->npool]);
    free(d->pool);
    if (d->timer != NULL)
        event_free(d->timer);
    if (d->dns != NULL)
        evdns_base_free(d->dns, 1);
    free(d->proxy);
    free(d);
}
