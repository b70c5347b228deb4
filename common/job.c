/*
 * job.c - a job to and from its Redis HASH (see job.h).
 *
 * Both directions go through explicit lengths: the body is binary-safe (it may hold NUL
 * bytes), and hiredis hands back lengths with every string.
 */
#include "job.h"

#include "xalloc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Space the three numbers take in `scratch`: INT64 (20 digits + sign) and two ints, NULs. */
#define JOB_SCRATCH_MIN 64

static void job_argv_add(const char **argv, size_t *argvlen, int *argc, const char *s, size_t len)
{
    argv[*argc] = s;
    argvlen[*argc] = len;
    (*argc)++;
}

static void job_argv_str(const char **argv, size_t *argvlen, int *argc, const char *field,
                         const char *value)
{
    const char *v = value ? value : "";
    job_argv_add(argv, argvlen, argc, field, strlen(field));
    job_argv_add(argv, argvlen, argc, v, strlen(v));
}

/* Format a number into the unused tail of scratch and add it as the value of `field`. */
static void job_argv_num(const char **argv, size_t *argvlen, int *argc, const char *field,
                         int64_t value, char **scratch, size_t *left)
{
    int n = snprintf(*scratch, *left, "%" PRId64, value);
    assert(n > 0 && (size_t)n < *left);
    job_argv_add(argv, argvlen, argc, field, strlen(field));
    job_argv_add(argv, argvlen, argc, *scratch, (size_t)n);
    *scratch += n + 1;
    *left -= (size_t)n + 1;
}

int job_hset_argv(const struct job *j, const char *key, const char **argv, size_t *argvlen,
                  char *scratch, size_t scratchlen)
{
    assert(scratchlen >= JOB_SCRATCH_MIN);
    int argc = 0;
    job_argv_add(argv, argvlen, &argc, "HSET", 4);
    job_argv_add(argv, argvlen, &argc, key, strlen(key));
    job_argv_str(argv, argvlen, &argc, JOB_F_BRIDGE, j->bridge_id);
    job_argv_num(argv, argvlen, &argc, JOB_F_RECEIVED, j->received_ms, &scratch, &scratchlen);
    job_argv_str(argv, argvlen, &argc, JOB_F_METHOD, j->method);
    job_argv_str(argv, argvlen, &argc, JOB_F_PATH, j->path);
    job_argv_str(argv, argvlen, &argc, JOB_F_QUERY, j->query);
    job_argv_str(argv, argvlen, &argc, JOB_F_HEADERS, j->headers_json);
    job_argv_str(argv, argvlen, &argc, JOB_F_CTYPE, j->content_type);
    job_argv_add(argv, argvlen, &argc, JOB_F_BODY, strlen(JOB_F_BODY));
    job_argv_add(argv, argvlen, &argc, j->body ? j->body : "", j->body ? j->body_len : 0);
    job_argv_str(argv, argvlen, &argc, JOB_F_REPLAY, j->replay_of);
    job_argv_num(argv, argvlen, &argc, JOB_F_ATTEMPTS, j->attempts, &scratch, &scratchlen);
    job_argv_num(argv, argvlen, &argc, JOB_F_REQUEUES, j->requeues, &scratch, &scratchlen);
    assert(argc <= JOB_ARGV_MAX);
    return argc;
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

int job_from_pairs(struct job *j, const char *id, const char *const *strs, const size_t *lens,
                   size_t n, char *err, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    bool have_bridge = false, have_received = false;
    const char *bad = NULL, *what = "malformed";
    int64_t num;

    if (strlen(id) >= sizeof(j->id)) {
        snprintf(err, errlen, "job %.40s: id too long", id);
        return -1;
    }
    memcpy(j->id, id, strlen(id) + 1);
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
        } else if (job_field_is(f, flen, JOB_F_ATTEMPTS)) {
            if (!job_parse_int(v, vlen, 0, INT32_MAX, &num)) {
                bad = JOB_F_ATTEMPTS;
                goto out_clear;
            }
            j->attempts = (int)num;
        } else if (job_field_is(f, flen, JOB_F_ABORTED)) {
            j->aborted = vlen > 0 && !(vlen == 1 && v[0] == '0');
        } else if (job_field_is(f, flen, JOB_F_REQUEUES)) {
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
    memset(j, 0, sizeof(*j));
}
