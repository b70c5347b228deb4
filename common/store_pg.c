/*
 * store_pg.c - the PostgreSQL store (see store_pg.h, store.h and
 * schemas/migrations/postgres/). libpq with blocking calls on the calling thread, as the
 * SQLite store runs: the ingress's event writer thread (evwriter.c) owns its own connection
 * and batches inserts in one transaction, the loop's connection answers the admin API.
 *
 * Every statement goes through PQexecParams (unnamed, unprepared): that works behind
 * PgBouncer in transaction mode, where a named prepared statement may meet another server
 * connection. Locks are transaction-scoped (pg_advisory_xact_lock) for the same reason.
 */
#include "store_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "clock.h"
#include "hb.h"
#include "ids.h"
#include "migrate.h"
#include "xalloc.h"

#define DAY_MS 86400000LL
/* Days of partitions created ahead of the day being written. */
#define PARTITIONS_AHEAD 7
/* pg_advisory_xact_lock keys: migrations, partition DDL. */
#define LOCK_MIGRATE 0x68626d6967LL
#define LOCK_PARTITIONS 0x6862706172LL

struct store_pg {
    PGconn *conn;
    bool in_tx;
    /* Days (since the epoch) whose partitions this connection knows exist. */
    int64_t day_lo, day_hi;
};

/* Columns an event is read back from, in event_compose's order. */
#define EVENT_COLS "data, status, next_attempt_at, outbound, attempts::text"

bool store_pg_url(const char *path)
{
    return strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0;
}

/* libpq's message without its trailing newline. */
static void pg_errf(struct store_pg *pg, const PGresult *r, char *err, size_t errlen,
                    const char *what)
{
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(pg->conn);
    int len = (int)strcspn(msg, "\n");
    snprintf(err, errlen, "postgres %s: %.*s", what, len, msg);
}

/*
 * A connection the server dropped (a restart, a failover, an idle timeout) is opened again
 * before the next statement, outside a transaction only: one that was open is gone with its
 * connection, and its caller sees the error and starts over.
 */
static void pg_reconnect_if_lost(struct store_pg *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_BAD && !pg->in_tx)
        PQreset(pg->conn);
}

/* Run one statement; *out (when not NULL) gets the result to PQclear. */
static int pg_exec(struct store_pg *pg, const char *sql, int n, const char *const *params,
                   const char *what, PGresult **out, char *err, size_t errlen)
{
    pg_reconnect_if_lost(pg);
    PGresult *r = PQexecParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_FATAL_ERROR && PQstatus(pg->conn) == CONNECTION_BAD && !pg->in_tx) {
        /* The server went away since the last statement: the first one after finds out. */
        PQclear(r);
        PQreset(pg->conn);
        r = PQexecParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0);
        s = PQresultStatus(r);
    }
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        pg_errf(pg, r, err, errlen, what);
        PQclear(r);
        return -1;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return 0;
}

/* Several statements in one string, no parameters (migrations, BEGIN/COMMIT). */
static int pg_exec_script(struct store_pg *pg, const char *sql, const char *what, char *err,
                          size_t errlen)
{
    pg_reconnect_if_lost(pg);
    PGresult *r = PQexec(pg->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_FATAL_ERROR && PQstatus(pg->conn) == CONNECTION_BAD && !pg->in_tx) {
        PQclear(r);
        PQreset(pg->conn);
        r = PQexec(pg->conn, sql);
        s = PQresultStatus(r);
    }
    int ret = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        pg_errf(pg, r, err, errlen, what);
        ret = -1;
    }
    PQclear(r);
    return ret;
}

/* ---- migrations ---- */

static int pg_migrate(struct store_pg *pg, char *err, size_t errlen)
{
    char sql[160];
    PGresult *r = NULL;
    if (migrate_check(migrations_postgres, migrations_postgres_count, err, errlen) != 0)
        return -1;
    /* Whoever holds the lock migrates; the others wait here and then find nothing to do. */
    snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%lld)", LOCK_MIGRATE);
    if (pg_exec_script(pg, sql, "migration lock", err, errlen) != 0)
        goto fail;
    if (pg_exec_script(pg,
                       "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY "
                       "KEY, name text NOT NULL, applied_at bigint NOT NULL)",
                       "schema_migrations", err, errlen) != 0 ||
        pg_exec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
                "migration version", &r, err, errlen) != 0)
        goto fail;
    long current = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = NULL;
    size_t n = migrations_postgres_count;
    if (n > 0 && current > migrations_postgres[n - 1].version) {
        snprintf(err, errlen,
                 "postgres database is at schema version %ld, this program knows up to %d: "
                 "run a newer hookbridge",
                 current, migrations_postgres[n - 1].version);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const struct migration *m = &migrations_postgres[i];
        if (m->version <= current)
            continue;
        char v[16], at[24];
        snprintf(v, sizeof(v), "%d", m->version);
        snprintf(at, sizeof(at), "%" PRId64, clock_now_ms());
        const char *params[] = {v, m->name, at};
        if (pg_exec_script(pg, m->sql, m->name, err, errlen) != 0 ||
            pg_exec(pg, "INSERT INTO schema_migrations VALUES ($1, $2, $3)", 3, params, m->name,
                    NULL, err, errlen) != 0)
            goto fail;
    }
    if (pg_exec_script(pg, "COMMIT", "migration commit", err, errlen) != 0)
        goto fail;
    return 0;
fail:
    PQclear(r);
    PQclear(PQexec(pg->conn, "ROLLBACK"));
    return -1;
}

/* ---- partitions ---- */

/* The ms time a ULID id holds (its first 10 Crockford characters after the prefix). */
static int64_t id_time_ms(const char *id)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const char *u = strchr(id, '_');
    int64_t v = 0;
    u = u ? u + 1 : id;
    for (int i = 0; i < 10 && u[i] != '\0'; i++) {
        const char *c = strchr(alphabet, u[i]);
        v = v * 32 + (c ? c - alphabet : 0);
    }
    return v;
}

/*
 * Create the partitions of days [from, to] that do not exist, under a transaction-scoped
 * lock so that processes starting together do not race on the same CREATE. Inside a
 * caller's transaction (the event writer's batch) the DDL joins it.
 */
static int pg_partitions_ensure(struct store_pg *pg, int64_t from, int64_t to, char *err,
                                size_t errlen)
{
    char sql[512];
    bool own = !pg->in_tx;
    if (own && pg_exec_script(pg, "BEGIN", "begin", err, errlen) != 0)
        return -1;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)", LOCK_PARTITIONS);
    if (pg_exec_script(pg, sql, "partition lock", err, errlen) != 0)
        goto fail;
    for (int64_t d = from; d <= to; d++) {
        char lo[HB_ID_LEN], hi[HB_ID_LEN];
        ids_time_bound("evt_", d * DAY_MS, lo, sizeof(lo));
        ids_time_bound("evt_", (d + 1) * DAY_MS, hi, sizeof(hi));
        time_t t = (time_t)(d * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS events_%04d%02d%02d PARTITION OF events "
                 "FOR VALUES FROM ('%s') TO ('%s')",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, lo, hi);
        if (pg_exec_script(pg, sql, "create partition", err, errlen) != 0)
            goto fail;
    }
    if (own && pg_exec_script(pg, "COMMIT", "commit", err, errlen) != 0)
        goto fail;
    if (pg->day_hi < pg->day_lo || from > pg->day_hi + 1 || to < pg->day_lo - 1) {
        pg->day_lo = from;
        pg->day_hi = to;
    } else {
        pg->day_lo = from < pg->day_lo ? from : pg->day_lo;
        pg->day_hi = to > pg->day_hi ? to : pg->day_hi;
    }
    return 0;
fail:
    if (own)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    return -1;
}

static int pg_partition_for(struct store_pg *pg, const char *id, char *err, size_t errlen)
{
    int64_t day = id_time_ms(id) / DAY_MS;
    if (day >= pg->day_lo && day <= pg->day_hi)
        return 0;
    return pg_partitions_ensure(pg, day, day + PARTITIONS_AHEAD, err, errlen);
}

/* ---- open, transactions ---- */

int store_pg_open(const char *url, struct store_pg **out, char *err, size_t errlen)
{
    struct store_pg *pg = xcalloc(1, sizeof(*pg));
    *out = NULL;
    pg->day_lo = 1;
    pg->day_hi = 0; /* empty */
    pg->conn = PQconnectdb(url);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        /* The message names host and port, never the password. */
        pg_errf(pg, NULL, err, errlen, "connect");
        goto fail;
    }
    PQclear(PQexec(pg->conn, "SET client_min_messages = warning"));
    if (pg_migrate(pg, err, errlen) != 0)
        goto fail;
    int64_t today = clock_now_ms() / DAY_MS;
    if (pg_partitions_ensure(pg, today - 1, today + PARTITIONS_AHEAD, err, errlen) != 0)
        goto fail;
    *out = pg;
    return 0;
fail:
    store_pg_close(pg);
    return -1;
}

void store_pg_close(struct store_pg *pg)
{
    if (pg == NULL)
        return;
    PQfinish(pg->conn);
    free(pg);
}

int store_pg_begin(struct store_pg *pg, char *err, size_t errlen)
{
    if (pg_exec_script(pg, "BEGIN", "begin", err, errlen) != 0)
        return -1;
    pg->in_tx = true;
    return 0;
}

int store_pg_commit(struct store_pg *pg, char *err, size_t errlen)
{
    pg->in_tx = false;
    return pg_exec_script(pg, "COMMIT", "commit", err, errlen);
}

void store_pg_rollback(struct store_pg *pg)
{
    pg->in_tx = false;
    PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* ---- rows ---- */

/* The one text column of a single-row query into a new string, or STORE_NOTFOUND. */
static int pg_get_one(struct store_pg *pg, const char *sql, int n, const char *const *params,
                      const char *what, char **value, char *err, size_t errlen)
{
    PGresult *r = NULL;
    if (pg_exec(pg, sql, n, params, what, &r, err, errlen) != 0)
        return -1;
    int ret = STORE_NOTFOUND;
    if (PQntuples(r) > 0) {
        *value = xstrdup(PQgetvalue(r, 0, 0));
        ret = 0;
    }
    PQclear(r);
    return ret;
}

/* Rows affected by the last command, STORE_NOTFOUND for none. */
static int pg_changed(PGresult *r)
{
    const char *n = PQcmdTuples(r);
    int ret = (n[0] == '\0' || strcmp(n, "0") == 0) ? STORE_NOTFOUND : 0;
    PQclear(r);
    return ret;
}

/*
 * The event JSON of one row: `data` as inserted with the columns that change since put
 * back (status, next_attempt_at, outbound once set, attempts).
 */
static char *event_compose(PGresult *r, int row)
{
    cJSON *ev = cJSON_Parse(PQgetvalue(r, row, 0));
    if (ev == NULL)
        return xstrdup(PQgetvalue(r, row, 0));
    cJSON_ReplaceItemInObjectCaseSensitive(ev, "status", cJSON_CreateString(PQgetvalue(r, row, 1)));
    cJSON *next =
        PQgetisnull(r, row, 2) ? cJSON_CreateNull() : cJSON_CreateString(PQgetvalue(r, row, 2));
    if (cJSON_HasObjectItem(ev, "next_attempt_at"))
        cJSON_ReplaceItemInObjectCaseSensitive(ev, "next_attempt_at", next);
    else
        cJSON_AddItemToObject(ev, "next_attempt_at", next);
    if (!PQgetisnull(r, row, 3)) {
        cJSON *out = cJSON_Parse(PQgetvalue(r, row, 3));
        if (out != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(ev, "outbound", out);
    }
    cJSON *attempts = cJSON_Parse(PQgetvalue(r, row, 4));
    if (attempts != NULL) {
        if (cJSON_HasObjectItem(ev, "attempts"))
            cJSON_ReplaceItemInObjectCaseSensitive(ev, "attempts", attempts);
        else
            cJSON_AddItemToObject(ev, "attempts", attempts);
    }
    char *json = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    return json;
}

/* Copy every row first, then call back (the callback may use the store). */
static int pg_for_each(struct store_pg *pg, const char *sql, int n, const char *const *params,
                       bool events, const char *what, store_row_cb cb, void *arg, char *err,
                       size_t errlen)
{
    PGresult *r = NULL;
    if (pg_exec(pg, sql, n, params, what, &r, err, errlen) != 0)
        return -1;
    int rows = PQntuples(r);
    char **v = xcalloc((size_t)rows + 1, sizeof(*v));
    for (int i = 0; i < rows; i++)
        v[i] = events ? event_compose(r, i) : xstrdup(PQgetvalue(r, i, 0));
    PQclear(r);
    int i = 0;
    for (; i < rows; i++) {
        if (cb(v[i], arg) != 0)
            break;
    }
    for (i = 0; i < rows; i++)
        free(v[i]);
    free(v);
    return 0;
}

/* ---- bridges ---- */

int store_pg_bridge_insert(struct store_pg *pg, const char *id, const char *endpoint,
                           const char *json, char *err, size_t errlen)
{
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, clock_now_ms());
    const char *p[] = {id, endpoint, json, now};
    return pg_exec(pg,
                   "INSERT INTO bridges (id, endpoint, data, updated_at) VALUES ($1, $2, $3, $4)",
                   4, p, "insert bridge", NULL, err, errlen);
}

int store_pg_bridge_update(struct store_pg *pg, const char *id, const char *json, char *err,
                           size_t errlen)
{
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, clock_now_ms());
    const char *p[] = {id, json, now};
    PGresult *r = NULL;
    if (pg_exec(pg,
                "UPDATE bridges SET data = $2, updated_at = $3, "
                "endpoint = coalesce(($2::text)::json->>'endpoint', endpoint) WHERE id = $1",
                3, p, "update bridge", &r, err, errlen) != 0)
        return -1;
    return pg_changed(r);
}

int store_pg_bridge_delete(struct store_pg *pg, const char *id, char *err, size_t errlen)
{
    const char *p[] = {id};
    PGresult *r = NULL;
    if (pg_exec(pg, "DELETE FROM bridges WHERE id = $1", 1, p, "delete bridge", &r, err, errlen) !=
        0)
        return -1;
    return pg_changed(r);
}

int store_pg_bridge_get(struct store_pg *pg, const char *id, char **json, char *err, size_t errlen)
{
    const char *p[] = {id};
    return pg_get_one(pg, "SELECT data FROM bridges WHERE id = $1", 1, p, "get bridge", json, err,
                      errlen);
}

int store_pg_bridge_get_by_endpoint(struct store_pg *pg, const char *endpoint, char **json,
                                    char *err, size_t errlen)
{
    const char *p[] = {endpoint};
    return pg_get_one(pg, "SELECT data FROM bridges WHERE endpoint = $1", 1, p,
                      "get bridge by endpoint", json, err, errlen);
}

int store_pg_bridge_list(struct store_pg *pg, store_row_cb cb, void *arg, char *err, size_t errlen)
{
    return pg_for_each(pg, "SELECT data FROM bridges ORDER BY seq", 0, NULL, false, "list bridges",
                       cb, arg, err, errlen);
}

/* Changes with every bridge write (a new updated_at, a row more or less). */
int64_t store_pg_data_version(struct store_pg *pg)
{
    char err[HB_ERR_LEN];
    char *v = NULL;
    if (pg_get_one(pg, "SELECT (coalesce(max(updated_at), 0) + count(*))::text FROM bridges", 0,
                   NULL, "data version", &v, err, sizeof err) != 0)
        return -1;
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

/* ---- meta ---- */

int store_pg_meta_get(struct store_pg *pg, const char *key, char **value, char *err, size_t errlen)
{
    const char *p[] = {key};
    return pg_get_one(pg, "SELECT value FROM meta WHERE key = $1", 1, p, "get meta", value, err,
                      errlen);
}

int store_pg_meta_insert(struct store_pg *pg, const char *key, const char *value, char *err,
                         size_t errlen)
{
    const char *p[] = {key, value};
    return pg_exec(pg, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                   2, p, "insert meta", NULL, err, errlen);
}

/* ---- events ---- */

/* An event INSERT's parameters; the pointers in `p` point into this struct and what it owns
 * (pg_insert_clear frees that). */
struct pg_insert {
    char received[24], now[24];
    char *attempts_text, *body_text;
    cJSON *ev;
    const char *p[9];
    bool or_ignore;
};

#define PG_INSERT_SQL                                                                              \
    "INSERT INTO events (id, bridge_id, status, received_at, updated_at, next_attempt_at, "        \
    "attempts, body, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"

static const char *pg_insert_sql(const struct pg_insert *in)
{
    return in->or_ignore ? PG_INSERT_SQL " ON CONFLICT (id) DO NOTHING" : PG_INSERT_SQL;
}

static void pg_insert_prepare(struct pg_insert *in, const char *id, const char *bridge_id,
                              const char *status, int64_t received_ms, const char *json,
                              bool or_ignore)
{
    /* The parts that change later get their own columns (see the migration). */
    in->ev = cJSON_Parse(json);
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(in->ev, "request");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(req, "body");
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(in->ev, "next_attempt_at");
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(in->ev, "attempts");
    in->body_text = NULL;
    if (cJSON_IsString(body))
        in->body_text = xstrdup(body->valuestring);
    else if (body != NULL && !cJSON_IsNull(body))
        in->body_text = cJSON_PrintUnformatted(body);
    in->attempts_text = cJSON_IsArray(attempts) ? cJSON_PrintUnformatted(attempts) : NULL;
    snprintf(in->received, sizeof(in->received), "%" PRId64, received_ms);
    snprintf(in->now, sizeof(in->now), "%" PRId64, clock_now_ms());
    in->or_ignore = or_ignore;
    in->p[0] = id;
    in->p[1] = bridge_id;
    in->p[2] = status;
    in->p[3] = in->received;
    in->p[4] = in->now;
    in->p[5] = cJSON_IsString(next) ? next->valuestring : NULL;
    in->p[6] = in->attempts_text ? in->attempts_text : "[]";
    in->p[7] = in->body_text;
    in->p[8] = json;
}

static void pg_insert_clear(struct pg_insert *in)
{
    free(in->attempts_text);
    free(in->body_text);
    cJSON_Delete(in->ev);
}

int store_pg_event_insert(struct store_pg *pg, const char *id, const char *bridge_id,
                          const char *status, int64_t received_ms, const char *json, bool or_ignore,
                          char *err, size_t errlen)
{
    if (pg_partition_for(pg, id, err, errlen) != 0)
        return -1;
    struct pg_insert in;
    pg_insert_prepare(&in, id, bridge_id, status, received_ms, json, or_ignore);
    int rc = pg_exec(pg, pg_insert_sql(&in), 9, in.p, "insert event", NULL, err, errlen);
    pg_insert_clear(&in);
    return rc;
}

/* An event UPDATE (store_event_update): its SQL and parameters, pointing into the struct. */
struct pg_update {
    char now[24], next[CLOCK_ISO_LEN];
    char sql[320];
    const char *p[6];
    int n;
};

static void pg_update_prepare(struct pg_update *pu, const struct store_event_update *u)
{
    snprintf(pu->now, sizeof(pu->now), "%" PRId64, clock_now_ms());
    if (u->next_attempt_ms != 0)
        clock_iso8601(u->next_attempt_ms, pu->next);
    pu->p[0] = u->id;
    pu->p[1] = u->status;
    pu->p[2] = pu->now;
    pu->p[3] = u->next_attempt_ms != 0 ? pu->next : NULL;
    pu->n = 4;
    char attempt[96] = "", outbound[48] = "";
    if (u->attempt_json != NULL) {
        pu->p[pu->n++] = u->attempt_json;
        snprintf(attempt, sizeof(attempt), ", attempts = attempts || jsonb_build_array($%d::jsonb)",
                 pu->n);
    }
    if (u->outbound_json != NULL) {
        pu->p[pu->n++] = u->outbound_json;
        snprintf(outbound, sizeof(outbound), ", outbound = $%d", pu->n);
    }
    snprintf(pu->sql, sizeof(pu->sql),
             "UPDATE events SET status = $2, updated_at = $3, next_attempt_at = $4%s%s "
             "WHERE id = $1",
             attempt, outbound);
}

int store_pg_event_update(struct store_pg *pg, const struct store_event_update *u, char *err,
                          size_t errlen)
{
    struct pg_update pu;
    pg_update_prepare(&pu, u);
    PGresult *r = NULL;
    if (pg_exec(pg, pu.sql, pu.n, pu.p, "update event", &r, err, errlen) != 0)
        return -1;
    return pg_changed(r);
}

/* ---- pipelines ---- */

/*
 * Statements sent per pipeline sync. The client sends a chunk before it reads any result, in
 * blocking mode: the results (a command tag each) must fit the socket buffers meanwhile, or
 * the server would block writing them while we block sending; a few hundred tags are a few
 * KB.
 */
#define PG_PIPELINE_CHUNK 256

/* One statement of a pipeline; `changed` gets 0, or STORE_NOTFOUND when it touched no row. */
struct pg_stmt {
    const char *sql;
    int n;
    const char *const *params;
    int changed;
};

/*
 * After a pipeline failed half-way: read what is left, and leave pipeline mode. A
 * connection that will not leave it is reset (its transaction is lost, which the failure
 * already made certain: the caller rolls back).
 */
static void pg_pipeline_abandon(struct store_pg *pg)
{
    for (int guard = 0; guard < 4 * PG_PIPELINE_CHUNK + 8; guard++) {
        if (PQexitPipelineMode(pg->conn) == 1)
            return;
        if (PQstatus(pg->conn) == CONNECTION_BAD)
            break;
        PGresult *r = PQgetResult(pg->conn);
        if (r == NULL)
            continue;
        PQclear(r);
    }
    PQreset(pg->conn);
}

/*
 * Run `n` statements with one round trip per PG_PIPELINE_CHUNK (libpq pipeline mode), inside
 * the caller's transaction. Unnamed statements only, so this works behind PgBouncer in
 * transaction mode like the rest. The first statement that fails makes the server skip the
 * rest of its chunk and this returns -1 with its error: the transaction is then aborted and
 * the caller rolls back.
 */
static int pg_pipeline(struct store_pg *pg, struct pg_stmt *s, size_t n, const char *what,
                       char *err, size_t errlen)
{
    for (size_t at = 0; at < n; at += PG_PIPELINE_CHUNK) {
        size_t end = n - at > PG_PIPELINE_CHUNK ? at + PG_PIPELINE_CHUNK : n;
        if (PQenterPipelineMode(pg->conn) != 1) {
            pg_errf(pg, NULL, err, errlen, what);
            return -1;
        }
        for (size_t i = at; i < end; i++) {
            if (PQsendQueryParams(pg->conn, s[i].sql, s[i].n, NULL, s[i].params, NULL, NULL, 0) !=
                1) {
                pg_errf(pg, NULL, err, errlen, what);
                pg_pipeline_abandon(pg);
                return -1;
            }
        }
        if (PQpipelineSync(pg->conn) != 1) {
            pg_errf(pg, NULL, err, errlen, what);
            pg_pipeline_abandon(pg);
            return -1;
        }
        bool failed = false;
        for (size_t i = at; i < end; i++) {
            PGresult *r = PQgetResult(pg->conn);
            if (r == NULL) {
                /* The connection broke: no result will come. */
                if (!failed)
                    pg_errf(pg, NULL, err, errlen, what);
                pg_pipeline_abandon(pg);
                return -1;
            }
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                const char *t = PQcmdTuples(r);
                s[i].changed = (t[0] == '\0' || strcmp(t, "0") == 0) ? STORE_NOTFOUND : 0;
            } else if (!failed) {
                /* The first failure; the statements after it come back PIPELINE_ABORTED. */
                pg_errf(pg, r, err, errlen, what);
                failed = true;
            }
            PQclear(r);
            /* Each statement's results end with a NULL. */
            while ((r = PQgetResult(pg->conn)) != NULL)
                PQclear(r);
        }
        PGresult *sync = PQgetResult(pg->conn);
        bool synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
        if (!synced || PQexitPipelineMode(pg->conn) != 1) {
            if (!failed)
                pg_errf(pg, NULL, err, errlen, what);
            pg_pipeline_abandon(pg);
            return -1;
        }
        if (failed)
            return -1;
    }
    return 0;
}

int store_pg_event_update_many(struct store_pg *pg, const struct store_event_update *u, size_t n,
                               int *rc, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    struct pg_update *pu = xcalloc(n, sizeof(*pu));
    struct pg_stmt *s = xcalloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        pg_update_prepare(&pu[i], &u[i]);
        s[i] = (struct pg_stmt){.sql = pu[i].sql, .n = pu[i].n, .params = pu[i].p};
    }
    int ret = pg_pipeline(pg, s, n, "update events", err, errlen);
    for (size_t i = 0; ret == 0 && i < n; i++)
        rc[i] = s[i].changed;
    free(s);
    free(pu);
    return ret;
}

int store_pg_event_insert_many(struct store_pg *pg, const struct store_event_row *rows, size_t n,
                               char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    /* Partition DDL cannot go in a pipeline: it goes first, once per new day. */
    for (size_t i = 0; i < n; i++) {
        if (pg_partition_for(pg, rows[i].id, err, errlen) != 0)
            return -1;
    }
    struct pg_insert *in = xcalloc(n, sizeof(*in));
    struct pg_stmt *s = xcalloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        const struct store_event_row *r = &rows[i];
        pg_insert_prepare(&in[i], r->id, r->bridge_id, r->status, r->received_ms, r->json,
                          r->or_ignore);
        s[i] = (struct pg_stmt){.sql = pg_insert_sql(&in[i]), .n = 9, .params = in[i].p};
    }
    int ret = pg_pipeline(pg, s, n, "insert events", err, errlen);
    for (size_t i = 0; i < n; i++)
        pg_insert_clear(&in[i]);
    free(s);
    free(in);
    return ret;
}

static int pg_event_get(struct store_pg *pg, const char *id, bool lock, char **json, char *err,
                        size_t errlen)
{
    const char *p[] = {id};
    PGresult *r = NULL;
    if (pg_exec(pg,
                lock ? "SELECT " EVENT_COLS " FROM events WHERE id = $1 FOR UPDATE"
                     : "SELECT " EVENT_COLS " FROM events WHERE id = $1",
                1, p, "get event", &r, err, errlen) != 0)
        return -1;
    int ret = STORE_NOTFOUND;
    if (PQntuples(r) > 0) {
        *json = event_compose(r, 0);
        ret = 0;
    }
    PQclear(r);
    return ret;
}

int store_pg_event_get(struct store_pg *pg, const char *id, char **json, char *err, size_t errlen)
{
    return pg_event_get(pg, id, false, json, err, errlen);
}

int store_pg_event_get_for_update(struct store_pg *pg, const char *id, char **json, char *err,
                                  size_t errlen)
{
    return pg_event_get(pg, id, true, json, err, errlen);
}

int store_pg_event_replace(struct store_pg *pg, const char *id, const char *status,
                           const char *json, char *err, size_t errlen)
{
    /* The whole event again (a route's outcome rewrote its deliveries): `data` takes it,
     * and the columns that event_compose lays over `data` take its parts, so that a read
     * gives back exactly `json`. */
    cJSON *ev = cJSON_Parse(json);
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(ev, "next_attempt_at");
    const cJSON *outbound = cJSON_GetObjectItemCaseSensitive(ev, "outbound");
    const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(ev, "attempts");
    char *outbound_text = cJSON_IsObject(outbound) ? cJSON_PrintUnformatted(outbound) : NULL;
    char *attempts_text = cJSON_IsArray(attempts) ? cJSON_PrintUnformatted(attempts) : NULL;
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, clock_now_ms());
    const char *p[] = {id,
                       status,
                       now,
                       cJSON_IsString(next) ? next->valuestring : NULL,
                       outbound_text,
                       attempts_text ? attempts_text : "[]",
                       json};
    PGresult *r = NULL;
    int rc = pg_exec(pg,
                     "UPDATE events SET status = $2, updated_at = $3, next_attempt_at = $4, "
                     "outbound = $5, attempts = $6::jsonb, data = $7 WHERE id = $1",
                     7, p, "replace event", &r, err, errlen);
    free(outbound_text);
    free(attempts_text);
    cJSON_Delete(ev);
    if (rc != 0)
        return -1;
    return pg_changed(r);
}

int store_pg_event_counts_since(struct store_pg *pg, const char *bridge_id, const char *since,
                                store_count_cb cb, void *arg, char *err, size_t errlen)
{
    const char *p[] = {bridge_id, since};
    PGresult *r = NULL;
    if (pg_exec(pg,
                "SELECT status, count(*) FROM events WHERE bridge_id = $1 AND id >= $2 "
                "GROUP BY status",
                2, p, "count a bridge's events", &r, err, errlen) != 0)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        cb(PQgetvalue(r, i, 0), strtoll(PQgetvalue(r, i, 1), NULL, 10), arg);
    PQclear(r);
    return 0;
}

/* q as an ILIKE pattern: %q% with \, % and _ taken literally. */
static char *like_pattern(const char *q)
{
    char *out = xmalloc(2 * strlen(q) + 3);
    char *w = out;
    *w++ = '%';
    for (const char *c = q; *c != '\0'; c++) {
        if (*c == '\\' || *c == '%' || *c == '_')
            *w++ = '\\';
        *w++ = *c;
    }
    *w++ = '%';
    *w = '\0';
    return out;
}

int store_pg_event_search(struct store_pg *pg, const char *bridge_id, const char *status,
                          const char *before, const char *since, const char *q, int limit,
                          store_row_cb cb, void *arg, char *err, size_t errlen)
{
    /* Each filter present adds its own condition, numbered in order. */
    const char *p[6];
    int n = 0;
    char where[512] = "";
    size_t used = 0;
    char *statuses = NULL, *pattern = NULL;
    char lim[16];
#define ADD_COND(fmt, value)                                                                       \
    do {                                                                                           \
        p[n++] = (value);                                                                          \
        used += (size_t)snprintf(where + used, sizeof(where) - used, " AND " fmt, n);              \
    } while (0)
    if (bridge_id != NULL)
        ADD_COND("bridge_id = $%d", bridge_id);
    if (status != NULL) {
        statuses = xasprintf("{%s}", status);
        ADD_COND("status = ANY ($%d::text[])", statuses);
    }
    if (before != NULL)
        ADD_COND("id < $%d", before);
    if (since != NULL)
        ADD_COND("id >= $%d", since);
    if (q != NULL && q[0] != '\0') {
        pattern = like_pattern(q);
        ADD_COND("body ILIKE $%d", pattern);
    }
#undef ADD_COND
    snprintf(lim, sizeof(lim), "%d", limit);
    p[n++] = lim;
    char *sql = xasprintf("SELECT " EVENT_COLS " FROM events WHERE true%s ORDER BY id DESC "
                          "LIMIT $%d",
                          where, n);
    int rc = pg_for_each(pg, sql, n, p, true, "list events", cb, arg, err, errlen);
    free(sql);
    free(pattern);
    free(statuses);
    return rc;
}

int store_pg_event_abort_pending(struct store_pg *pg, const char *bridge_id, int batch,
                                 int *changed, char *err, size_t errlen)
{
    char now[24], lim[16];
    snprintf(now, sizeof(now), "%" PRId64, clock_now_ms());
    snprintf(lim, sizeof(lim), "%d", batch);
    const char *p[] = {bridge_id, now, lim};
    PGresult *r = NULL;
    *changed = 0;
    if (pg_exec(pg,
                "UPDATE events SET status = 'aborted', updated_at = $2, next_attempt_at = NULL "
                "WHERE id IN (SELECT id FROM events WHERE bridge_id = $1 "
                "AND status IN ('queued', 'scheduled', 'retrying') LIMIT $3)",
                3, p, "abort events", &r, err, errlen) != 0)
        return -1;
    *changed = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/*
 * Retention: partitions wholly before the cutoff are detached (CONCURRENTLY, so inserts
 * and reads go on) and dropped; the rows of the day the cutoff falls in are deleted in
 * batches. Partitions for the days ahead are created here too, since workers run this
 * every few minutes.
 */
int store_pg_event_delete_older(struct store_pg *pg, int64_t cutoff_ms, int batch, int *deleted,
                                char *err, size_t errlen)
{
    char bound[HB_ID_LEN], lim[16];
    PGresult *r = NULL;
    *deleted = 0;
    int64_t today = clock_now_ms() / DAY_MS;
    if (pg_partitions_ensure(pg, today, today + PARTITIONS_AHEAD, err, errlen) != 0)
        return -1;
    ids_time_bound("evt_", cutoff_ms, bound, sizeof(bound));
    const char *pb[] = {bound};
    /* The upper bound of each partition, from the catalog's bound expression. */
    if (pg_exec(pg,
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'events'::regclass AND substring("
                "pg_get_expr(c.relpartbound, c.oid) from 'TO \\(''([^'']*)''\\)') "
                "COLLATE \"C\" <= $1 ORDER BY c.relname",
                1, pb, "old partitions", &r, err, errlen) != 0)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        char sql[160];
        const char *name = PQgetvalue(r, i, 0);
        /* A detach another worker started and did not finish is completed first. */
        snprintf(sql, sizeof(sql), "ALTER TABLE events DETACH PARTITION %s CONCURRENTLY", name);
        if (pg_exec_script(pg, sql, "detach partition", err, errlen) != 0) {
            snprintf(sql, sizeof(sql), "ALTER TABLE events DETACH PARTITION %s FINALIZE", name);
            PQclear(PQexec(pg->conn, sql));
        }
        snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", name);
        if (pg_exec_script(pg, sql, "drop partition", err, errlen) != 0) {
            PQclear(r);
            return -1;
        }
        if (*deleted < batch)
            (*deleted)++; /* rows are not counted; one more pass follows */
    }
    PQclear(r);
    snprintf(lim, sizeof(lim), "%d", batch);
    const char *p[] = {bound, lim};
    if (pg_exec(pg, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < $1 LIMIT $2)",
                2, p, "delete old events", &r, err, errlen) != 0)
        return -1;
    int n = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    *deleted = n > *deleted ? n : *deleted;
    if (pg->day_lo <= cutoff_ms / DAY_MS)
        pg->day_lo = cutoff_ms / DAY_MS + 1;
    return 0;
}

int store_pg_event_counts(struct store_pg *pg, store_count_cb cb, void *arg, char *err,
                          size_t errlen)
{
    PGresult *r = NULL;
    if (pg_exec(pg, "SELECT status, count(*) FROM events GROUP BY status", 0, NULL, "count events",
                &r, err, errlen) != 0)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        cb(PQgetvalue(r, i, 0), strtoll(PQgetvalue(r, i, 1), NULL, 10), arg);
    PQclear(r);
    return 0;
}
