/*
 * schemas.h - the files of schemas/, compiled in by scripts/embed-schemas.
 */
#ifndef SCHEMAS_H
#define SCHEMAS_H

/* schemas/store.sql: the SQLite tables and indexes (idempotent CREATE … IF NOT EXISTS). */
extern const char schema_store_sql[];

#endif
