-- The search index of both logs (src/index), as on SQLite (0003_search_index.sql there):
-- derived from the logs, rebuildable from them, and outside the trust path.

-- How many entries of each log are indexed; moved by compare-and-swap with every batch.
CREATE TABLE index_positions (
    log  BIGINT PRIMARY KEY,
    next BIGINT NOT NULL
);

-- (field, kind, value) -> term id and how many entries carry it (searches start from the
-- rarest). kind 0: the value is UTF-8 text; kind 1: digests and key fingerprints as their bytes
-- (see src/storage/postgres/index.rs). The kind keeps a text and a byte value apart, as
-- SQLite's typed column does. Ids come from the identity sequence, so two processes indexing
-- at once never hand out the same id.
CREATE TABLE index_terms (
    field   BIGINT   NOT NULL,
    kind    SMALLINT NOT NULL,
    value   BYTEA    NOT NULL,
    id      BIGINT   GENERATED ALWAYS AS IDENTITY UNIQUE,
    entries BIGINT   NOT NULL,
    PRIMARY KEY (field, kind, value)
);

-- One row per (term, entry), in log order within a term: a term's entries are one range scan.
CREATE TABLE index_postings (
    term BIGINT NOT NULL,
    idx  BIGINT NOT NULL,
    PRIMARY KEY (term, idx)
);

-- Issuance-log entries: notBefore (Unix seconds) for time ranges.
CREATE TABLE index_certificates (
    idx        BIGINT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
CREATE INDEX index_certificates_not_before ON index_certificates (not_before);

-- Artifact-log entries: the UUID (leaf hash) that Rekor's index/retrieve answers with.
CREATE TABLE index_artifacts (
    idx  BIGINT PRIMARY KEY,
    uuid BYTEA  NOT NULL
);
