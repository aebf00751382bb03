-- The open (right-edge) entry bundle, as the appends that built it: one row per batch that
-- added entries, holding only that batch's bytes at their offset in the bundle. When the
-- bundle fills up, its whole contents go to entry_bundles and these rows are deleted, in the
-- same transaction. Appending instead of rewriting keeps a commit's writes proportional to
-- the batch, not to the bundle.
CREATE TABLE entry_bundle_parts (
    log    INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (log, idx, offset)
) STRICT;
