/*
 * job.c - a job to and from its Redis HASH (see job.h).
 *
 * Both directions go through explicit lengths: the body is binary-safe (it may hold NUL
 * bytes), and hiredis hands back lengths with every string.
 */
#include "job.h"

#include "dynbuf.h"
#include "text.h"
#include "xalloc.h"

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void job_argv_add(struct job_hset *h, const char *s, size_t len)
{
    assert(h->argc < JOB_ARGV_MAX);
    h->argv[h->argc] = s;
    h->argvlen[h->argc] = len;
    h->argc++;
}

/* Add `field` with a non-zero count formatted into the unused tail of h->scratch. */
static void job_argv_count(struct job_hset *h, const char *field, int value, size_t *used)
{
    if (value == 0)
        return;
    char *at = h->scratch + *used;
    int n = snprintf(at, sizeof(h->scratch) - *used, "%d", value);
    assert(n > 0 && (size_t)n < sizeof(h->scratch) - *used);
    job_argv_add(h, field, strlen(field));
    job_argv_add(h, at, (size_t)n);
    *used += (size_t)n + 1;
}

/* The request field: written by hand, not through cJSON, as it is built for every inbound
 * request; the headers are already JSON and go in as they are. The buffer's maximum is the
 * most the fields can take, so an overflow is a clean error, not a write past the end. */
static char *job_request_json(const struct job *j)
{
    const char *strs[] = {j->method,       j->path,      j->query,
                          j->content_type, j->replay_of, j->only_route};
    size_t room = 128 + 16 * sizeof(strs) / sizeof(strs[0]);
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        room += TEXT_JSON_QUOTE_MAX(strs[i] ? strlen(strs[i]) : 0);
    const char *headers = j->headers_json && j->headers_json[0] ? j->headers_json : "{}";
    room += strlen(headers);
    struct dynbuf b;
    char num[24];
    dynbuf_init(&b, room);
    snprintf(num, sizeof(num), "%" PRId64, j->received_ms);
    int rc = dynbuf_addstr(&b, "{\"" JOB_F_RECEIVED "\":");
    rc |= dynbuf_addstr(&b, num);
    rc |= text_json_put_dynbuf(&b, ",\"" JOB_F_METHOD "\":", j->method ? j->method : "");
    rc |= text_json_put_dynbuf(&b, ",\"" JOB_F_PATH "\":", j->path ? j->path : "");
    rc |= text_json_put_dynbuf(&b, ",\"" JOB_F_QUERY "\":", j->query ? j->query : "");
    rc |= text_json_put_dynbuf(&b, ",\"" JOB_F_CTYPE "\":", j->content_type ? j->content_type : "");
    rc |= text_json_put_dynbuf(&b, ",\"" JOB_F_REPLAY "\":", j->replay_of ? j->replay_of : "");
    if (j->only_route != NULL)
        rc |= text_json_put_dynbuf(&b, ",\"" JOB_F_ONLY_ROUTE "\":", j->only_route);
    rc |= dynbuf_addstr(&b, ",\"" JOB_F_HEADERS "\":");
    rc |= dynbuf_addstr(&b, headers);
    rc |= dynbuf_addc(&b, '}');
    /* The room above covers every byte; a failure here is a bug in that sum. */
    assert(rc == 0);
    return dynbuf_take(&b, NULL);
}

void job_hset_build(struct job_hset *h, const struct job *j, const char *key)
{
    size_t used = 0;
    h->argc = 0;
    h->request = job_request_json(j);
    job_argv_add(h, "HSET", 4);
    job_argv_add(h, key, strlen(key));
    job_argv_add(h, JOB_F_BRIDGE, strlen(JOB_F_BRIDGE));
    job_argv_add(h, j->bridge_id, strlen(j->bridge_id));
    job_argv_add(h, JOB_F_REQUEST, strlen(JOB_F_REQUEST));
    job_argv_add(h, h->request, strlen(h->request));
    job_argv_add(h, JOB_F_BODY, strlen(JOB_F_BODY));
    job_argv_add(h, j->body ? j->body : "", j->body ? j->body_len : 0);
    job_argv_count(h, JOB_F_ATTEMPTS, j->attempts, &used);
    job_argv_count(h, JOB_F_REQUEUES, j->requeues, &used);
}

void job_hset_free(struct job_hset *h)
{
    free(h->request);
    h->request = NULL;
}

static bool job_field_is(const char *s, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(s, name, len) == 0;
}

/* A whole decimal number in [lo, hi] from a string that need not be NUL-terminated. */
static bool job_parse_int(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Replace an owned string (a repeated field: the last one wins). */
static void job_set_str(char **dst, const char *s, size_t len)
{
    free(*dst);
    *dst = xstrndup(s, len);
}

/* Readers may rely on every string being set, and on headers_json being an object. */
static void job_fill_defaults(struct job *j)
{
    char **strings[] = {&j->method, &j->path, &j->query, &j->content_type, &j->body, &j->replay_of};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (*strings[i] == NULL)
            *strings[i] = xstrdup("");
    if (j->headers_json == NULL || j->headers_json[0] == '\0') {
        free(j->headers_json);
        j->headers_json = xstrdup("{}");
    }
}

/* The string member `key` of `o` into *dst; absent is fine, another type is not. */
static bool job_request_str(const cJSON *o, const char *key, char **dst)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL)
        return true;
    if (!cJSON_IsString(v))
        return false;
    job_set_str(dst, v->valuestring, strlen(v->valuestring));
    return true;
}

/* A string with no escape and no control byte at p: its bytes inside the quotes into *s and
 * *len; returns the position after it, or NULL. */
static const char *job_plain_string(const char *p, const char *end, const char **s, size_t *len)
{
    if (p >= end || *p != '"')
        return NULL;
    const char *start = ++p;
    while (p < end && *p != '"') {
        if (*p == '\\' || (unsigned char)*p < 0x20)
            return NULL;
        p++;
    }
    if (p >= end)
        return NULL;
    *s = start;
    *len = (size_t)(p - start);
    return p + 1;
}

/* An object of plain strings with no whitespace at p, which cJSON_PrintUnformatted of its
 * parse gives back byte for byte; returns the position after it, or NULL. */
static const char *job_plain_object(const char *p, const char *end)
{
    const char *s;
    size_t len;
    if (p >= end || *p++ != '{')
        return NULL;
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        if ((p = job_plain_string(p, end, &s, &len)) == NULL || p >= end || *p++ != ':' ||
            (p = job_plain_string(p, end, &s, &len)) == NULL || p >= end)
            return NULL;
        if (*p == '}')
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

/*
 * The request field as job_request_json writes it (no whitespace, no escapes, headers an
 * object of plain strings) read without a cJSON tree: a quarter of the cost of parsing it
 * and printing its headers back, once a job taken. Anything else (an escape, a duplicate or
 * unknown member, another number form, trailing bytes) returns false with `j` untouched,
 * for the cJSON path to read, so that both read every text alike.
 */
static bool job_read_request_plain(struct job *j, const char *v, size_t vlen)
{
    static const char *const names[] = {JOB_F_METHOD, JOB_F_PATH,   JOB_F_QUERY,
                                        JOB_F_CTYPE,  JOB_F_REPLAY, JOB_F_ONLY_ROUTE};
    enum { NSTR = sizeof(names) / sizeof(names[0]) };
    const char *str[NSTR] = {NULL}, *hdr = NULL;
    size_t str_len[NSTR] = {0}, hdr_len = 0;
    const char *p = v, *end = v + vlen;
    int64_t received = -1;
    if (p >= end || *p++ != '{')
        return false;
    for (;;) {
        const char *key;
        size_t klen;
        if ((p = job_plain_string(p, end, &key, &klen)) == NULL || p >= end || *p++ != ':')
            return false;
        if (job_field_is(key, klen, JOB_F_RECEIVED)) {
            /* A whole number with no leading zero, at most 2^53. */
            const char *d = p;
            int64_t n = 0;
            while (p < end && *p >= '0' && *p <= '9' && p - d < 16)
                n = n * 10 + (*p++ - '0');
            if (p == d || (*d == '0' && p - d > 1) || received >= 0 || n > 9007199254740992LL)
                return false;
            received = n;
        } else if (job_field_is(key, klen, JOB_F_HEADERS)) {
            const char *h = p;
            if (hdr != NULL || (p = job_plain_object(p, end)) == NULL)
                return false;
            hdr = h;
            hdr_len = (size_t)(p - h);
        } else {
            size_t i = 0;
            while (i < NSTR && !job_field_is(key, klen, names[i]))
                i++;
            if (i == NSTR || str[i] != NULL ||
                (p = job_plain_string(p, end, &str[i], &str_len[i])) == NULL)
                return false;
        }
        if (p >= end)
            return false;
        if (*p == '}')
            break;
        if (*p++ != ',')
            return false;
    }
    if (p + 1 != end || received < 0)
        return false;
    char **dst[NSTR] = {&j->method,       &j->path,      &j->query,
                        &j->content_type, &j->replay_of, &j->only_route};
    for (size_t i = 0; i < NSTR; i++)
        if (str[i] != NULL)
            job_set_str(dst[i], str[i], str_len[i]);
    if (hdr != NULL)
        job_set_str(&j->headers_json, hdr, hdr_len);
    j->received_ms = received;
    return true;
}

/* Fill `j` from the request field's JSON (see job_request_json). */
static bool job_read_request(struct job *j, const char *v, size_t vlen)
{
    bool ok = false;
    if (job_read_request_plain(j, v, vlen))
        return true;
    cJSON *o = cJSON_ParseWithLength(v, vlen);
    if (!cJSON_IsObject(o))
        goto out;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, JOB_F_RECEIVED);
    /* Milliseconds since the epoch are integers well inside a double's exact range. */
    if (!cJSON_IsNumber(r) || r->valuedouble < 0 || r->valuedouble > 9007199254740992.0 ||
        r->valuedouble != (double)(int64_t)r->valuedouble)
        goto out;
    j->received_ms = (int64_t)r->valuedouble;
    if (!job_request_str(o, JOB_F_METHOD, &j->method) ||
        !job_request_str(o, JOB_F_PATH, &j->path) || !job_request_str(o, JOB_F_QUERY, &j->query) ||
        !job_request_str(o, JOB_F_CTYPE, &j->content_type) ||
        !job_request_str(o, JOB_F_REPLAY, &j->replay_of) ||
        !job_request_str(o, JOB_F_ONLY_ROUTE, &j->only_route))
        goto out;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, JOB_F_HEADERS);
    if (h != NULL) {
        if (!cJSON_IsObject(h))
            goto out;
        free(j->headers_json);
        j->headers_json = cJSON_PrintUnformatted(h);
    }
    ok = true;
out:
    cJSON_Delete(o);
    return ok;
}

int job_from_pairs(struct job *j, const char *id, const char *const *strs, const size_t *lens,
                   size_t n, char *err, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    bool have_bridge = false, have_received = false;
    const char *bad = NULL, *what = "malformed";
    int64_t num;

    const char *slash = strchr(id, '/');
    size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
    if (idlen >= sizeof(j->id) ||
        (slash && (slash[1] == '\0' || strlen(slash + 1) >= sizeof(j->route)))) {
        snprintf(err, errlen, "job %.40s: id too long", id);
        return -1;
    }
    memcpy(j->id, id, idlen);
    j->id[idlen] = '\0';
    /* A route entry reads its own counters, "attempts/route" and so on. */
    char f_attempts[16 + JOB_ROUTE_LEN], f_requeues[16 + JOB_ROUTE_LEN],
        f_aborted[16 + JOB_ROUTE_LEN];
    const char *sfx = slash ? slash : "";
    if (slash)
        snprintf(j->route, sizeof(j->route), "%s", slash + 1);
    snprintf(f_attempts, sizeof(f_attempts), "%s%s", JOB_F_ATTEMPTS, sfx);
    snprintf(f_requeues, sizeof(f_requeues), "%s%s", JOB_F_REQUEUES, sfx);
    snprintf(f_aborted, sizeof(f_aborted), "%s%s", JOB_F_ABORTED, sfx);
    if (n % 2 != 0) {
        snprintf(err, errlen, "job %s: odd number of hash entries", j->id);
        return -1;
    }
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *f = strs[i], *v = strs[i + 1];
        size_t flen = lens[i], vlen = lens[i + 1];
        if (job_field_is(f, flen, JOB_F_BRIDGE)) {
            if (vlen == 0 || vlen >= sizeof(j->bridge_id)) {
                bad = JOB_F_BRIDGE;
                goto out_clear;
            }
            memcpy(j->bridge_id, v, vlen);
            j->bridge_id[vlen] = '\0';
            have_bridge = true;
        } else if (job_field_is(f, flen, JOB_F_REQUEST)) {
            if (!job_read_request(j, v, vlen)) {
                bad = JOB_F_REQUEST;
                goto out_clear;
            }
            have_received = true;
        } else if (job_field_is(f, flen, JOB_F_RECEIVED)) {
            if (!job_parse_int(v, vlen, 0, INT64_MAX, &num)) {
                bad = JOB_F_RECEIVED;
                goto out_clear;
            }
            j->received_ms = num;
            have_received = true;
        } else if (job_field_is(f, flen, JOB_F_METHOD)) {
            job_set_str(&j->method, v, vlen);
        } else if (job_field_is(f, flen, JOB_F_PATH)) {
            job_set_str(&j->path, v, vlen);
        } else if (job_field_is(f, flen, JOB_F_QUERY)) {
            job_set_str(&j->query, v, vlen);
        } else if (job_field_is(f, flen, JOB_F_HEADERS)) {
            job_set_str(&j->headers_json, v, vlen);
        } else if (job_field_is(f, flen, JOB_F_CTYPE)) {
            job_set_str(&j->content_type, v, vlen);
        } else if (job_field_is(f, flen, JOB_F_BODY)) {
            /* xstrndup copies exactly vlen bytes, NULs included, and terminates. */
            job_set_str(&j->body, v, vlen);
            j->body_len = vlen;
        } else if (job_field_is(f, flen, JOB_F_REPLAY)) {
            job_set_str(&j->replay_of, v, vlen);
        } else if (job_field_is(f, flen, f_attempts)) {
            if (!job_parse_int(v, vlen, 0, INT32_MAX, &num)) {
                bad = JOB_F_ATTEMPTS;
                goto out_clear;
            }
            j->attempts = (int)num;
        } else if (job_field_is(f, flen, JOB_F_ABORTED) || job_field_is(f, flen, f_aborted)) {
            /* "aborted" alone marks the whole event, every route included. */
            j->aborted = j->aborted || (vlen > 0 && !(vlen == 1 && v[0] == '0'));
        } else if (job_field_is(f, flen, f_requeues)) {
            if (!job_parse_int(v, vlen, 0, INT32_MAX, &num)) {
                bad = JOB_F_REQUEUES;
                goto out_clear;
            }
            j->requeues = (int)num;
        }
        /* Other fields are ignored: a newer ingress may write more than we know. */
    }
    what = "missing";
    if (!have_bridge) {
        bad = JOB_F_BRIDGE;
        goto out_clear;
    }
    if (!have_received) {
        bad = JOB_F_RECEIVED;
        goto out_clear;
    }
    job_fill_defaults(j);
    return 0;

out_clear:
    snprintf(err, errlen, "job %s: %s %s", j->id, bad, what);
    job_clear(j);
    return -1;
}

int job_from_reply(struct job *j, const char *id, const struct redisReply *pairs, char *err,
                   size_t errlen)
{
    size_t n = pairs->elements;
    const char **strs = xcalloc(n ? n : 1, sizeof(*strs));
    size_t *lens = xcalloc(n ? n : 1, sizeof(*lens));
    for (size_t i = 0; i < n; i++) {
        strs[i] = pairs->element[i]->str ? pairs->element[i]->str : "";
        lens[i] = pairs->element[i]->str ? pairs->element[i]->len : 0;
    }
    int rc = job_from_pairs(j, id, strs, lens, n, err, errlen);
    free(strs);
    free(lens);
    return rc;
}

void job_entry(const struct job *j, char out[JOB_ENTRY_LEN])
{
    if (j->route[0] != '\0')
        snprintf(out, JOB_ENTRY_LEN, "%s/%s", j->id, j->route);
    else
        snprintf(out, JOB_ENTRY_LEN, "%s", j->id);
}

void job_clear(struct job *j)
{
    if (j == NULL)
        return;
    free(j->method);
    free(j->path);
    free(j->query);
    free(j->headers_json);
    free(j->content_type);
    free(j->body);
    free(j->replay_of);
    free(j->only_route);
    memset(j, 0, sizeof(*j));
}
