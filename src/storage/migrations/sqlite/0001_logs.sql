-- The log engine's tables (see src/log/store.rs for the contract they implement).
-- Integers are SQLite's 64-bit signed; indices and sizes stay far below 2^63.

-- One row per log: the latest signed checkpoint. Replaced only by compare-and-swap on
-- (size, root), which is what makes a second writer fail instead of forking the log.
CREATE TABLE checkpoints (
    log  INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB    NOT NULL,
    note TEXT    NOT NULL
) STRICT;

-- C2SP hash tiles, one row per (level, index); the right-edge row grows in place.
CREATE TABLE hash_tiles (
    log   INTEGER NOT NULL,
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    data  BLOB    NOT NULL,
    PRIMARY KEY (log, level, idx)
) STRICT;

-- C2SP entry bundles (u16-length-prefixed entries), one row per bundle index.
CREATE TABLE entry_bundles (
    log  INTEGER NOT NULL,
    idx  INTEGER NOT NULL,
    data BLOB    NOT NULL,
    PRIMARY KEY (log, idx)
) STRICT;

-- Dedup key (leaf hash of the submitted payload) -> position and integration time (ms).
-- WITHOUT ROWID: the key is the row, which keeps this index at about 50 bytes per entry.
CREATE TABLE leaves (
    log  INTEGER NOT NULL,
    key  BLOB    NOT NULL,
    idx  INTEGER NOT NULL,
    ts   INTEGER NOT NULL,
    PRIMARY KEY (log, key)
) STRICT, WITHOUT ROWID;
