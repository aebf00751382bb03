#!/usr/bin/env python3
"""What SQLite itself costs to store what Mayfly stores per entry, with no Mayfly code running.

The storage counterpart of `mayfly bench http-floor`. Python's sqlite3 module is a thin binding
to SQLite's C library (the system's, 3.40 on Debian 12; sqlx bundles a newer 3.x), so this
measures the storage engine with Mayfly's settings (WAL, synchronous=FULL, temp_store=MEMORY)
and the kernel under it, not our driver or our engine. Each mode writes what the server writes,
batched as the server batches it, on a fresh file in --dir, with the real schemas
(src/storage/migrations):

  entries         each batch's dsse bodies as one blob in one row: the least a durable log
                  can write
  artifact-log    a sequencer batch of dsse bodies: the dedup lookup, the checkpoint's
                  compare-and-swap, one dedup row per entry, the right-edge hash tiles and the
                  batch's part of its entry bundle
  artifact-index  an index transaction of dsse entries as `mayfly bench rekor` sends them: two
                  new digest terms per entry, the one verifier's two terms (key, subject)
                  shared by all, their postings, and each entry's UUID
  issuance-log    a sequencer batch of precertificate leaves (no dedup rows)
  issuance-index  an index transaction of certificates as `mayfly bench issue` requests them:
                  one identity, so a posting on each of nine shared terms per certificate

Prints one Markdown row per mode: entries/s, this process's CPU per entry, and the whole
machine's busy time per entry (from /proc/stat, so the kernel's writeback counts too).

    python3 src/bench/sqlite_floor.py --seconds 10 --dir /path/on/the/disk/under/test
"""

import argparse
import os
import pathlib
import resource
import sqlite3
import tempfile
import time

MIGRATIONS = pathlib.Path(__file__).resolve().parent.parent / "storage" / "migrations"
TILE_WIDTH = 256
ISSUANCE, ARTIFACTS = 1, 2  # LogSlot
INDEX_BATCH = 16 * TILE_WIDTH  # index/follow.rs: ENTRIES_PER_TRANSACTION
SHA256 = b"\x01"  # storage/terms.rs: digest values are stored as a code byte and the digest
DIGEST_FIELD = 34  # index::Field::code
PUBLIC_KEY_FIELD = 33
SUBJECT_FIELD = 32


def open_db(path, schema):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA temp_store=MEMORY")
    for migration in sorted((MIGRATIONS / schema).glob("*.sql")):
        db.executescript(migration.read_text())
    return db


def random_keys(count, size=32):
    """`count` distinct random byte strings, from one call to the kernel's generator."""
    pool = os.urandom(count * size)
    return [pool[i : i + size] for i in range(0, len(pool), size)]


def insert_rows(db, table, rows, chunk=500):
    """Multi-row INSERTs, as the storage layer writes them: one statement per `chunk` rows."""
    for at in range(0, len(rows), chunk):
        part = rows[at : at + chunk]
        marks = ",".join(["(" + ",".join("?" * len(part[0])) + ")"] * len(part))
        db.execute(f"INSERT INTO {table} VALUES {marks}", [v for row in part for v in row])


def begin_index_batch(db, slot, start, count):
    """Opens an index transaction and moves the log's position past `count` entries from
    `start` by compare-and-swap, as the indexer does before writing anything."""
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "UPDATE index_positions SET next = ? WHERE log = ? AND next = ?",
        (start + count, slot, start),
    )


def machine_busy():
    """Busy time of all cores so far, in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Entries:
    """The dsse bodies alone, one blob per batch, in a table of their own."""

    def __init__(self, directory, args):
        self.db = open_db(os.path.join(directory, "entries.db"), "sqlite")
        self.db.execute("CREATE TABLE floor (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        self.batch = args.batch
        self.blob = os.urandom(args.entry_bytes * args.batch)
        self.next = 0

    def write(self):
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO floor VALUES (?, ?)", (self.next, self.blob))
        self.db.execute("COMMIT")
        self.next += 1
        return self.batch


class Log:
    """The artifact log: dsse bodies, each with a dedup row."""

    slot, dedup, entry_size = ARTIFACTS, True, "entry_bytes"

    def __init__(self, directory, args):
        self.db = open_db(os.path.join(directory, "log.db"), "sqlite")
        self.db.execute(
            "INSERT INTO checkpoints VALUES (?, 0, zeroblob(32), '')", (self.slot,)
        )
        self.batch = args.batch
        size = getattr(args, self.entry_size)
        self.entries = [os.urandom(size) for _ in range(args.batch)]
        self.size = 0
        self.bundle_offset = 0

    def write(self):
        keys = random_keys(self.batch) if self.dedup else []
        if self.dedup:
            marks = ",".join("?" * len(keys))
            self.db.execute(
                f"SELECT key, idx, ts FROM leaves WHERE log = ? AND key IN ({marks})",
                [self.slot, *keys],
            ).fetchall()
        size, now = self.size + self.batch, int(time.time() * 1000)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "UPDATE checkpoints SET size = ?, root = ?, note = ? WHERE log = ? AND size = ?",
            (size, os.urandom(32), "x" * 320, self.slot, self.size),
        )
        if self.dedup:
            rows = [(self.slot, key, self.size + i, now) for i, key in enumerate(keys)]
            insert_rows(self.db, "leaves", rows)
        # The right edge of levels 0 and 1, as the tree rewrites them after every batch.
        for level, width in ((0, size % TILE_WIDTH), (1, size // TILE_WIDTH % TILE_WIDTH)):
            self.db.execute(
                "INSERT OR REPLACE INTO hash_tiles VALUES (?, ?, ?, ?)",
                (self.slot, level, size >> (8 * (level + 1)), os.urandom(32 * (width or 256))),
            )
        self.write_bundles(size)
        self.db.execute("COMMIT")
        self.size = size
        return self.batch

    def write_bundles(self, size):
        """The batch's entries as one part of the open bundle, or two where a bundle fills."""
        parts = {}
        for index, entry in enumerate(self.entries, start=self.size):
            framed = len(entry).to_bytes(2, "big") + entry  # C2SP bundle: u16 length, bytes
            parts.setdefault(index // TILE_WIDTH, []).append(framed)
        for bundle, pieces in parts.items():
            data = b"".join(pieces)
            self.db.execute(
                "INSERT OR REPLACE INTO entry_bundle_parts VALUES (?, ?, ?, ?)",
                (self.slot, bundle, self.bundle_offset, data),
            )
            full = (bundle + 1) * TILE_WIDTH <= size
            self.bundle_offset = 0 if full else self.bundle_offset + len(data)


class Index:
    """Index transactions for dsse entries as `mayfly bench rekor` sends them: one signer, so
    its key and subject terms are shared, and two digests per entry that nothing else has."""

    def __init__(self, directory, args):
        self.db = open_db(os.path.join(directory, "log.index.db"), "sqlite-index")
        self.db.execute("INSERT INTO index_positions VALUES (?, 0)", (ARTIFACTS,))
        self.db.execute("INSERT INTO index_counters VALUES ('term', 3)")
        shared = [(PUBLIC_KEY_FIELD, os.urandom(32), 1, 0), (SUBJECT_FIELD, "ci@example.com", 2, 0)]
        insert_rows(self.db, "index_terms", shared)
        self.next = 0
        self.term = 3

    def write(self):
        start, n = self.next, INDEX_BATCH
        begin_index_batch(self.db, ARTIFACTS, start, n)
        digests = [SHA256 + d for d in random_keys(2 * n)]
        for at in range(0, len(digests), 500):
            chunk = digests[at : at + 500]
            marks = ",".join("?" * len(chunk))
            self.db.execute(
                f"SELECT id FROM index_terms WHERE field = ? AND value IN ({marks})",
                [DIGEST_FIELD, *chunk],
            ).fetchall()
        terms = [(DIGEST_FIELD, d, self.term + i, 1) for i, d in enumerate(digests)]
        insert_rows(self.db, "index_terms", terms)
        self.db.execute("UPDATE index_terms SET entries = entries + ? WHERE id IN (1, 2)", (n,))
        postings = [(self.term + i, start + i // 2) for i in range(2 * n)]
        postings += [(shared, start + i) for shared in (1, 2) for i in range(n)]
        insert_rows(self.db, "index_postings", postings)
        uuids = [(start + i, uuid) for i, uuid in enumerate(random_keys(n))]
        insert_rows(self.db, "index_artifacts", uuids)
        self.db.execute(
            "UPDATE index_counters SET value = ? WHERE name = 'term'", (self.term + 2 * n,)
        )
        self.db.execute("COMMIT")
        self.next += n
        self.term += 2 * n
        return n


class IssuanceLog(Log):
    """The issuance log: precertificate leaves, no dedup rows."""

    slot, dedup, entry_size = ISSUANCE, False, "certificate_bytes"


class IssuanceIndex:
    """Index transactions for certificates as `mayfly bench issue` requests them: one
    identity, so each certificate adds a posting to each of its nine shared terms."""

    def __init__(self, directory, args):
        self.db = open_db(os.path.join(directory, "log.index.db"), "sqlite-index")
        self.db.execute("INSERT INTO index_positions VALUES (?, 0)", (ISSUANCE,))
        self.db.execute("INSERT INTO index_counters VALUES ('term', 10)")
        terms = [(field, f"value of field {field}", field, 0) for field in range(1, 10)]
        insert_rows(self.db, "index_terms", terms)
        self.next = 0

    def write(self):
        start, n = self.next, INDEX_BATCH
        begin_index_batch(self.db, ISSUANCE, start, n)
        self.db.execute("SELECT id FROM index_terms").fetchall()
        self.db.execute("UPDATE index_terms SET entries = entries + ?", (n,))
        postings = [(term, start + i) for term in range(1, 10) for i in range(n)]
        insert_rows(self.db, "index_postings", postings)
        now = int(time.time())
        insert_rows(self.db, "index_certificates", [(start + i, now) for i in range(n)])
        self.db.execute("COMMIT")
        self.next += n
        return n


def measure(mode, args):
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        writer = mode(directory, args)
        written, started = 0, time.monotonic()
        cpu, busy = process_cpu(), machine_busy()
        while time.monotonic() - started < args.seconds:
            written += writer.write()
        elapsed = time.monotonic() - started
        cpu, busy = process_cpu() - cpu, machine_busy() - busy
        writer.db.close()
    return written / elapsed, cpu * 1e6 / written, busy * 1e6 / written


MODES = {
    "entries": Entries,
    "artifact-log": Log,
    "artifact-index": Index,
    "issuance-log": IssuanceLog,
    "issuance-index": IssuanceIndex,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--entry-bytes", type=int, default=3600, help="bytes per dsse body (bench's: 3,600)")
    add("--certificate-bytes", type=int, default=1535, help="bytes per precertificate leaf")
    add("--batch", type=int, default=140, help="entries per log commit (256 clients: about 140)")
    add("--seconds", type=float, default=10.0, help="how long to run each mode")
    add("--modes", default=",".join(MODES), help="comma-separated, of: " + ", ".join(MODES))
    add("--dir", default=None, help="where the scratch files go (on the disk under test)")
    args = parser.parse_args()
    print("| mode | entries/s | process CPU per entry | machine busy per entry |")
    print("|---|---:|---:|---:|")
    for name in args.modes.split(","):
        rate, cpu, busy = measure(MODES[name], args)
        print(f"| {name} | {rate:,.0f} | {cpu:.1f} µs | {busy:.1f} µs |", flush=True)


if __name__ == "__main__":
    main()
