-- The search index moves to a file of its own (sqlite-index/0001_search_index.sql): its
-- transactions then take that file's write lock, not the log's, so the sequencer's commits
-- never wait behind an index batch. The index is derived from the logs and rebuilt from them
-- in the background after this upgrade (`mayfly_index_lag_entries` shows its progress).
DROP TABLE index_positions;
DROP TABLE index_counters;
DROP TABLE index_terms;
DROP TABLE index_postings;
DROP TABLE index_certificates;
DROP TABLE index_artifacts;

-- This database's identity, made once: the index file records it, so that an index file is
-- never read against another database than the one it was built from.
CREATE TABLE store_identity (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token BLOB    NOT NULL
) STRICT;
INSERT INTO store_identity (id, token) VALUES (1, randomblob(16));
