/*
 * store_pg.h - the PostgreSQL store behind store.h, for --db postgres://… (store.c
 * dispatches; nothing else includes this). Each function is its store.h namesake.
 */
#ifndef STORE_PG_H
#define STORE_PG_H

#include "store.h"

struct store_pg;

/* True for a postgres:// or postgresql:// URL. */
bool store_pg_url(const char *path);

int store_pg_open(const char *url, struct store_pg **out, char *err, size_t errlen);
void store_pg_close(struct store_pg *pg);
int store_pg_begin(struct store_pg *pg, char *err, size_t errlen);
int store_pg_commit(struct store_pg *pg, char *err, size_t errlen);
void store_pg_rollback(struct store_pg *pg);
int store_pg_bridge_insert(struct store_pg *pg, const char *id, const char *endpoint,
                           const char *json, char *err, size_t errlen);
int store_pg_bridge_update(struct store_pg *pg, const char *id, const char *json, char *err,
                           size_t errlen);
int store_pg_bridge_delete(struct store_pg *pg, const char *id, char *err, size_t errlen);
int store_pg_bridge_get(struct store_pg *pg, const char *id, char **json, char *err, size_t errlen);
int store_pg_bridge_get_by_endpoint(struct store_pg *pg, const char *endpoint, char **json,
                                    char *err, size_t errlen);
int store_pg_bridge_list(struct store_pg *pg, store_row_cb cb, void *arg, char *err, size_t errlen);
int64_t store_pg_data_version(struct store_pg *pg);
int store_pg_meta_get(struct store_pg *pg, const char *key, char **value, char *err, size_t errlen);
int store_pg_meta_insert(struct store_pg *pg, const char *key, const char *value, char *err,
                         size_t errlen);
int store_pg_event_insert(struct store_pg *pg, const char *id, const char *bridge_id,
                          const char *status, int64_t received_ms, const char *json, bool or_ignore,
                          char *err, size_t errlen);
int store_pg_event_update(struct store_pg *pg, const struct store_event_update *u, char *err,
                          size_t errlen);
int store_pg_event_update_many(struct store_pg *pg, const struct store_event_update *u, size_t n,
                               int *rc, char *err, size_t errlen);
int store_pg_event_insert_many(struct store_pg *pg, const struct store_event_row *rows, size_t n,
                               char *err, size_t errlen);
int store_pg_event_get(struct store_pg *pg, const char *id, char **json, char *err, size_t errlen);
int store_pg_event_get_for_update(struct store_pg *pg, const char *id, char **json, char *err,
                                  size_t errlen);
int store_pg_event_replace(struct store_pg *pg, const char *id, const char *status,
                           const char *json, char *err, size_t errlen);
int store_pg_event_counts_since(struct store_pg *pg, const char *bridge_id, const char *since,
                                store_count_cb cb, void *arg, char *err, size_t errlen);
int store_pg_event_search(struct store_pg *pg, const char *bridge_id, const char *status,
                          const char *before, const char *since, const char *q, int limit,
                          store_row_cb cb, void *arg, char *err, size_t errlen);
int store_pg_event_abort_pending(struct store_pg *pg, const char *bridge_id, int batch,
                                 int *changed, char *err, size_t errlen);
int store_pg_event_delete_older(struct store_pg *pg, int64_t cutoff_ms, int batch, int *deleted,
                                char *err, size_t errlen);
int store_pg_event_counts(struct store_pg *pg, store_count_cb cb, void *arg, char *err,
                          size_t errlen);

#endif
