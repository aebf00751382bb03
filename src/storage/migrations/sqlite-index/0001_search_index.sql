-- The search index's own file (`mayfly.index.db` beside `mayfly.db`; src/storage/sqlite.rs).
-- The same tables the log file held in 0003_search_index.sql (see there), plus the token that
-- pairs this file with its log file. Derived data: deleting this file only makes the indexer
-- rebuild it from the logs.

-- The log file's `store_identity` token this index was built from. A file paired with another
-- database (a restore, a copy) is emptied and rebuilt instead of answering for the wrong log.
CREATE TABLE index_owner (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token BLOB    NOT NULL
) STRICT;

-- How many entries of each log are indexed; moved by compare-and-swap with every batch.
CREATE TABLE index_positions (
    log  INTEGER PRIMARY KEY,
    next INTEGER NOT NULL
) STRICT;

-- Counters of the index: 'term' is the next term id to hand out.
CREATE TABLE index_counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- (field, value) -> term id and how many entries carry it (searches start from the rarest).
-- WITHOUT ROWID: the value is stored once, in the key. Values are text, except digests and key
-- fingerprints, which are stored as their bytes (see src/storage/sqlite/index.rs).
CREATE TABLE index_terms (
    field   INTEGER NOT NULL,
    value   ANY     NOT NULL,
    id      INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    PRIMARY KEY (field, value)
) STRICT, WITHOUT ROWID;

-- One row per (term, entry), in log order within a term: a term's entries are one range scan.
CREATE TABLE index_postings (
    term INTEGER NOT NULL,
    idx  INTEGER NOT NULL,
    PRIMARY KEY (term, idx)
) STRICT, WITHOUT ROWID;

-- Issuance-log entries: notBefore (Unix seconds) for time ranges.
CREATE TABLE index_certificates (
    idx        INTEGER PRIMARY KEY,
    not_before INTEGER NOT NULL
) STRICT;
CREATE INDEX index_certificates_not_before ON index_certificates (not_before);

-- Artifact-log entries: the UUID (leaf hash) that Rekor's index/retrieve answers with.
CREATE TABLE index_artifacts (
    idx  INTEGER PRIMARY KEY,
    uuid BLOB    NOT NULL
) STRICT;
