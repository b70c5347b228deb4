-- events_fts rows for inserted events are written by store.c once per transaction, in one
-- INSERT … SELECT just before the COMMIT, instead of by a trigger on each INSERT: a
-- statement that fires a trigger opens a savepoint, and FTS5 (SQLite 3.40) writes its
-- pending index to disk at every savepoint, a new index segment per event. That was about
-- 40 µs of a worker's delivery (scripts/bench --only drain); one flush per batch is not.
DROP TRIGGER IF EXISTS events_fts_insert;
