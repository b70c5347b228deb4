/*
 * metrics.c - shared counters' names and Prometheus rendering (see metrics.h).
 */
#include "metrics.h"

#include "dynbuf.h"
#include "rconn.h"
#include "text.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bucket upper bounds in seconds, as Prometheus "le" labels. */
static const char *const metrics_le[] = {"0.05", "0.1", "0.25", "0.5", "1",    "2.5", "5",
                                         "10",   "30",  "60",   "300", "1800", "+Inf"};
static const int64_t metrics_le_ms[] = {50,   100,   250,   500,   1000,   2500,
                                        5000, 10000, 30000, 60000, 300000, 1800000};
#define METRICS_NLE (sizeof(metrics_le) / sizeof(metrics_le[0]))

void metrics_key(const char *prefix, char *out, size_t outlen)
{
    snprintf(out, outlen, "%smetrics", prefix);
}

void metrics_bucket_field(const char *hist, int64_t ms, char *out, size_t outlen)
{
    size_t i = 0;
    while (i < METRICS_NLE - 1 && ms > metrics_le_ms[i])
        i++;
    snprintf(out, outlen, "%s|%s", hist, metrics_le[i]);
}

/* The most /metrics text one render makes. Its size follows the hash it renders (a line per
 * bridge and status code, a fixed few more), which a few thousand bridges keep far below. */
#define METRICS_TEXT_MAX (64u << 20)

/* The text being rendered; `too_big` stops it at the first line past the cap, since the
 * buffer would take the lines after it again. */
struct metrics_text {
    struct dynbuf buf;
    bool too_big;
};

static void metrics_printf(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void metrics_printf(struct metrics_text *t, const char *fmt, ...)
{
    if (t->too_big)
        return;
    va_list ap;
    va_start(ap, fmt);
    t->too_big = dynbuf_vprintf(&t->buf, fmt, ap) != 0;
    va_end(ap);
}

static long long metrics_value(const char *const *strs, size_t n, const char *field)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        if (strcmp(strs[i], field) == 0)
            return strtoll(strs[i + 1], NULL, 10);
    return 0;
}

/* Counters whose field is "{kind}|{label}": one sample per label. */
static void metrics_labelled(struct metrics_text *b, const char *const *strs, size_t n,
                             const char *kind, const char *name, const char *label)
{
    size_t kl = strlen(kind);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (strncmp(strs[i], kind, kl) != 0 || strs[i][kl] != '|')
            continue;
        metrics_printf(b, "%s{%s=\"%s\"} %s\n", name, label, strs[i] + kl + 1, strs[i + 1]);
    }
}

static void metrics_histogram(struct metrics_text *b, const char *const *strs, size_t n,
                              const char *hist, const char *name, const char *help)
{
    char field[METRICS_FIELD_LEN];
    metrics_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    long long cumulative = 0;
    for (size_t i = 0; i < METRICS_NLE; i++) {
        snprintf(field, sizeof(field), "%s|%s", hist, metrics_le[i]);
        cumulative += metrics_value(strs, n, field);
        metrics_printf(b, "%s_bucket{le=\"%s\"} %lld\n", name, metrics_le[i], cumulative);
    }
    snprintf(field, sizeof(field), "%s|sum_ms", hist);
    long long sum_ms = metrics_value(strs, n, field);
    metrics_printf(b, "%s_sum %lld.%03lld\n", name, sum_ms / 1000, sum_ms % 1000);
    metrics_printf(b, "%s_count %lld\n", name, cumulative);
}

char *metrics_render(const char *const *strs, size_t n, const struct metrics_queue *q)
{
    struct metrics_text b = {.too_big = false};
    dynbuf_init(&b.buf, METRICS_TEXT_MAX);
    metrics_printf(&b, "# HELP hookbridge_requests_total Inbound /hooks requests by bridge and "
                       "status code.\n# TYPE hookbridge_requests_total counter\n");
    size_t kl = strlen("requests|");
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (strncmp(strs[i], "requests|", kl) != 0)
            continue;
        const char *rest = strs[i] + kl;
        const char *bar = strchr(rest, '|');
        if (bar == NULL)
            continue;
        metrics_printf(&b, "hookbridge_requests_total{bridge_id=\"%.*s\",code=\"%s\"} %s\n",
                       (int)(bar - rest), rest, bar + 1, strs[i + 1]);
    }
    metrics_printf(&b, "# HELP hookbridge_events_total Events by final status.\n"
                       "# TYPE hookbridge_events_total counter\n");
    metrics_labelled(&b, strs, n, "events", "hookbridge_events_total", "status");
    /* "routes|{bridge}|{route}|{status}": routes of bridges with routes, by final status. */
    metrics_printf(&b,
                   "# HELP hookbridge_route_deliveries_total Deliveries of bridges with routes by "
                   "bridge, route and final status.\n"
                   "# TYPE hookbridge_route_deliveries_total counter\n");
    kl = strlen("routes|");
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (strncmp(strs[i], "routes|", kl) != 0)
            continue;
        const char *rest = strs[i] + kl;
        const char *bar1 = strchr(rest, '|');
        const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (bar2 == NULL)
            continue;
        metrics_printf(&b,
                       "hookbridge_route_deliveries_total{bridge_id=\"%.*s\",route=\"%.*s\","
                       "status=\"%s\"} %s\n",
                       (int)(bar1 - rest), rest, (int)(bar2 - bar1 - 1), bar1 + 1, bar2 + 1,
                       strs[i + 1]);
    }
    metrics_printf(&b, "# HELP hookbridge_delivery_attempts_total Delivery attempts by result.\n"
                       "# TYPE hookbridge_delivery_attempts_total counter\n");
    metrics_labelled(&b, strs, n, "attempts", "hookbridge_delivery_attempts_total", "result");
    metrics_printf(&b, "# HELP hookbridge_circuit_transitions_total Circuit breakers opened and "
                       "closed.\n# TYPE hookbridge_circuit_transitions_total counter\n");
    metrics_labelled(&b, strs, n, "circuit", "hookbridge_circuit_transitions_total", "transition");
    metrics_histogram(&b, strs, n, "latency", "hookbridge_delivery_latency_seconds",
                      "Time from accepting an event to its delivery.");
    metrics_histogram(&b, strs, n, "response", "hookbridge_destination_response_seconds",
                      "Destination response time per attempt.");
    metrics_printf(&b,
                   "# HELP hookbridge_queue_depth Jobs in the Redis queue by state.\n"
                   "# TYPE hookbridge_queue_depth gauge\n"
                   "hookbridge_queue_depth{state=\"ready\"} %lld\n"
                   "hookbridge_queue_depth{state=\"scheduled\"} %lld\n"
                   "hookbridge_queue_depth{state=\"in_flight\"} %lld\n"
                   "# HELP hookbridge_workers Workers with a heartbeat in the last 30 s.\n"
                   "# TYPE hookbridge_workers gauge\n"
                   "hookbridge_workers %lld\n",
                   q->ready, q->scheduled, q->in_flight, q->live_workers);
    if (b.too_big) {
        dynbuf_free(&b.buf);
        return NULL;
    }
    return dynbuf_take(&b.buf, NULL);
}

/* ---- local counts ---- */

/* Fields are few (bridges x status codes, a dozen buckets): open addressing, grown at half
 * full, never shrunk. */
struct metrics_slot {
    char *field;
    long long n;
};

struct metrics_batch {
    struct metrics_slot *slots;
    size_t cap, used;
};

struct metrics_batch *metrics_batch_new(void)
{
    struct metrics_batch *b = xcalloc(1, sizeof(*b));
    b->cap = 64;
    b->slots = xcalloc(b->cap, sizeof(*b->slots));
    return b;
}

static struct metrics_slot *metrics_find(struct metrics_slot *slots, size_t cap, const char *field)
{
    size_t i = text_hash(field) & (cap - 1);
    while (slots[i].field != NULL && strcmp(slots[i].field, field) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

void metrics_add(struct metrics_batch *b, const char *field, long long n)
{
    struct metrics_slot *s = metrics_find(b->slots, b->cap, field);
    if (s->field == NULL) {
        if (2 * (b->used + 1) > b->cap) {
            size_t cap = b->cap * 2;
            struct metrics_slot *slots = xcalloc(cap, sizeof(*slots));
            for (size_t i = 0; i < b->cap; i++)
                if (b->slots[i].field != NULL)
                    *metrics_find(slots, cap, b->slots[i].field) = b->slots[i];
            free(b->slots);
            b->slots = slots;
            b->cap = cap;
            s = metrics_find(b->slots, b->cap, field);
        }
        s->field = xstrdup(field);
        b->used++;
    }
    s->n += n;
}

void metrics_series_key(const char *prefix, int64_t minute, const char *kind, char *out,
                        size_t outlen)
{
    snprintf(out, outlen, "%sstats:m:%lld:%s", prefix, (long long)minute, kind);
}

/* Which per-minute series a counter field feeds: 0 accepted, 1 delivered, 2 failed, -1 none. */
static int metrics_series_of(const char *field)
{
    size_t len = strlen(field);
    if (strncmp(field, "requests|", 9) == 0 && len > 13 && strcmp(field + len - 4, "|202") == 0)
        return 0;
    if (strcmp(field, "events|delivered") == 0)
        return 1;
    if (strcmp(field, "events|failed") == 0)
        return 2;
    return -1;
}

static void metrics_flush_series(struct rconn *rc, const char *key, const long long *sums)
{
    static const char *const kinds[] = {"accepted", "delivered", "failed"};
    size_t kl = strlen(key), ml = strlen("metrics");
    if (kl < ml || strcmp(key + kl - ml, "metrics") != 0)
        return;
    char prefix[128], skey[192];
    snprintf(prefix, sizeof(prefix), "%.*s", (int)(kl - ml), key);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t minute = (int64_t)ts.tv_sec / 60;
    for (int i = 0; i < 3; i++) {
        if (sums[i] == 0)
            continue;
        metrics_series_key(prefix, minute, kinds[i], skey, sizeof(skey));
        rconn_cmd(rc, NULL, NULL, "INCRBY %s %lld", skey, sums[i]);
        rconn_cmd(rc, NULL, NULL, "EXPIRE %s %d", skey, METRICS_SERIES_TTL_S);
    }
}

void metrics_flush(struct metrics_batch *b, struct rconn *rc, const char *key)
{
    long long sums[3] = {0, 0, 0};
    for (size_t i = 0; i < b->cap; i++) {
        struct metrics_slot *s = &b->slots[i];
        if (s->field == NULL || s->n == 0)
            continue;
        if (rconn_cmd(rc, NULL, NULL, "HINCRBY %s %s %lld", key, s->field, s->n) != 0)
            break;
        int series = metrics_series_of(s->field);
        if (series >= 0)
            sums[series] += s->n;
        s->n = 0;
    }
    metrics_flush_series(rc, key, sums);
}

void metrics_batch_free(struct metrics_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->cap; i++)
        free(b->slots[i].field);
    free(b->slots);
    free(b);
}
