-- The log engine's tables on PostgreSQL: the same tables as on SQLite (see
-- src/storage/migrations/sqlite and src/log/storage.rs for the contract they implement).
-- Integers are BIGINT; indices and sizes stay far below 2^63.

-- One row per log: the latest signed checkpoint. Replaced only by compare-and-swap on
-- (size, root), which is what makes a second writer fail instead of forking the log.
CREATE TABLE checkpoints (
    log  BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    root BYTEA  NOT NULL,
    note TEXT   NOT NULL
);

-- C2SP hash tiles, one row per (level, index); the right-edge row grows in place.
CREATE TABLE hash_tiles (
    log   BIGINT NOT NULL,
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    data  BYTEA  NOT NULL,
    PRIMARY KEY (log, level, idx)
);

-- C2SP entry bundles (u16-length-prefixed entries), one row per full bundle.
CREATE TABLE entry_bundles (
    log  BIGINT NOT NULL,
    idx  BIGINT NOT NULL,
    data BYTEA  NOT NULL,
    PRIMARY KEY (log, idx)
);

-- The open (right-edge) entry bundle as the appends that built it, one row per batch that
-- added entries; folded into entry_bundles when the bundle fills up, in the same transaction.
CREATE TABLE entry_bundle_parts (
    log         BIGINT NOT NULL,
    idx         BIGINT NOT NULL,
    byte_offset BIGINT NOT NULL,
    data        BYTEA  NOT NULL,
    PRIMARY KEY (log, idx, byte_offset)
);

-- Dedup key (leaf hash of the submitted payload) -> position and integration time (ms).
CREATE TABLE leaves (
    log BIGINT NOT NULL,
    key BYTEA  NOT NULL,
    idx BIGINT NOT NULL,
    ts  BIGINT NOT NULL,
    PRIMARY KEY (log, key)
);
