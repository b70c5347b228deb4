/*
 * schemas.h - the files of schemas/, compiled in by scripts/embed-schemas (the stores'
 * migrations, schemas/migrations/, are in migrate.h).
 */
#ifndef SCHEMAS_H
#define SCHEMAS_H

/* schemas/bridge.schema.json: the admin API's bridge body (create and PATCH). */
extern const char schema_bridge_schema_json[];

/* schemas/event.schema.json: the event as GET /api/events/{id} shows it. */
extern const char schema_event_schema_json[];

/* schemas/openapi.json: the admin API as OpenAPI 3.1 (GET /api/openapi.json). */
extern const char schema_openapi_json[];

#endif
