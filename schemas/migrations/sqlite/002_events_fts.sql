-- `q` on GET /api/events: case-insensitive substring search in the inbound body.
-- A contentless FTS5 table with the trigram tokenizer indexes each event's request body
-- (a JSON body as its JSON text, a text body as the text) under the event's rowid. It holds
-- only the index, not a second copy of every body, and only which rows hold each trigram
-- (detail=none: a third of the size of positions, and faster to write). A search asks for
-- the rows holding every trigram of the text and then checks the text itself in those rows
-- (store.c), as pg_trgm rechecks; text under three characters is scanned.
-- The triggers keep it in step inside the writer's own transaction: the body never changes
-- after insert, so updates (attempts, status) do not touch it.
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(body, content='', tokenize='trigram',
                                                         detail=none);

CREATE TRIGGER IF NOT EXISTS events_fts_insert AFTER INSERT ON events
WHEN json_extract(new.data, '$.request.body') IS NOT NULL
BEGIN
    INSERT INTO events_fts (rowid, body) VALUES (new.rowid, json_extract(new.data, '$.request.body'));
END;

-- A contentless table forgets a row only when given the text it indexed.
CREATE TRIGGER IF NOT EXISTS events_fts_delete AFTER DELETE ON events
WHEN json_extract(old.data, '$.request.body') IS NOT NULL
BEGIN
    INSERT INTO events_fts (events_fts, rowid, body)
    VALUES ('delete', old.rowid, json_extract(old.data, '$.request.body'));
END;

-- Events stored before this migration.
INSERT INTO events_fts (rowid, body)
SELECT rowid, json_extract(data, '$.request.body') FROM events
WHERE json_extract(data, '$.request.body') IS NOT NULL;
