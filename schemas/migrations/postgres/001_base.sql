-- hookbridge PostgreSQL schema, migration 1 (common/store_pg.c; applied under
-- pg_advisory_xact_lock, so several processes may start at once).
--
-- Bridges as in SQLite. Events are partitioned by day: the partition key is the id, whose
-- ULID begins with the received time, so a day is a range of ids ('evt_<day start>' up to
-- 'evt_<next day start>'), a lookup by id touches one partition, and retention drops whole
-- partitions. store_pg.c creates the partitions (events_YYYYMMDD) ahead; there is no DEFAULT
-- partition, which would block DETACH … CONCURRENTLY and trap old rows.
--
-- An event row keeps the JSON as inserted in `data` (large, TOASTed, never rewritten) and the
-- parts that change in their own small columns: an attempt appends to `attempts` and sets
-- `status`, so the big value is not copied on every attempt. Reads put the parts back.

CREATE TABLE IF NOT EXISTS bridges (
    seq        bigserial,                 -- insertion order, for the list
    id         text COLLATE "C" PRIMARY KEY,
    endpoint   text NOT NULL UNIQUE,
    data       text NOT NULL,
    updated_at bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    id              text COLLATE "C" NOT NULL,
    bridge_id       text COLLATE "C" NOT NULL,
    status          text NOT NULL,
    received_at     bigint NOT NULL,
    updated_at      bigint NOT NULL,
    next_attempt_at text,                 -- ISO time or NULL
    outbound        text,                 -- the outbound JSON once set, else NULL (see data)
    attempts        jsonb NOT NULL DEFAULT '[]',
    body            text,                 -- the inbound body as text, for `q`
    data            text NOT NULL,        -- event JSON as inserted
    PRIMARY KEY (id)
) PARTITION BY RANGE (id);

CREATE INDEX IF NOT EXISTS events_bridge ON events (bridge_id, id);
CREATE INDEX IF NOT EXISTS events_status ON events (status, id);
CREATE INDEX IF NOT EXISTS events_bridge_status ON events (bridge_id, status, id);

-- `q`: trigram index for ILIKE '%text%' (pg_trgm is a trusted extension: the database
-- owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS events_body_trgm ON events USING gin (body gin_trgm_ops);

CREATE TABLE IF NOT EXISTS meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
