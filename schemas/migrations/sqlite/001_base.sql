-- hookbridge SQLite schema, migration 1: the tables as they were before migrations existed.
-- Every statement is idempotent, so a file made by those versions takes it as a no-op and
-- then gets the later migrations (common/migrate.c applies each once, in order).
-- Bridges and events are JSON blobs (`data`); the other columns exist to be indexed.

CREATE TABLE IF NOT EXISTS bridges (
    id         TEXT PRIMARY KEY,          -- brg_<ULID>
    endpoint   TEXT NOT NULL UNIQUE,      -- the /hooks/{endpoint} token
    data       TEXT NOT NULL,             -- bridge JSON (secrets encrypted)
    updated_at INTEGER NOT NULL           -- ms since the epoch
);

CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,         -- evt_<ULID>: sorts by time received
    bridge_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    received_at INTEGER NOT NULL,         -- ms since the epoch
    updated_at  INTEGER NOT NULL,
    data        TEXT NOT NULL             -- event JSON (schemas/event.schema.json)
);

CREATE INDEX IF NOT EXISTS events_bridge ON events (bridge_id, id);
CREATE INDEX IF NOT EXISTS events_status ON events (status, id);
-- Both filters at once (a bridge's failed events, a bridge's pending ones to abort), newest first.
CREATE INDEX IF NOT EXISTS events_bridge_status ON events (bridge_id, status, id);
-- Retention finds old events by id (ids begin with their time); databases made by earlier
-- versions lose the index that was kept for it, which every insert paid for.
DROP INDEX IF EXISTS events_received;

-- Small facts about the database itself, e.g. a value sealed with HOOKBRIDGE_SECRET_KEY so
-- that a process started with another key stops at once with a clear line.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
