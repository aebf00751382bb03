//! The storage contracts (src/log/storage.rs, src/index), checked on every backend: each test
//! body takes a [`Store`] and runs once on a SQLite file and once on a PostgreSQL database of
//! its own.

use super::scratch::ScratchDatabase;
use super::*;
use crate::index::{EntryDetail, Field, IndexedEntry, Term};
use crate::log::storage::BundleWrite;
use sha2::{Digest, Sha256};

/// Keeps a test's database alive: the SQLite file's directory or the scratch database.
#[allow(dead_code)]
enum Scratch {
    Dir(tempfile::TempDir),
    Postgres(ScratchDatabase),
}

async fn sqlite() -> (Scratch, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::sqlite(&dir.path().join("t.db"));
    (Scratch::Dir(dir), Store::open(&url).await.unwrap())
}

async fn postgres() -> (Scratch, Store) {
    let db = ScratchDatabase::create().await;
    let store = Store::open(&DatabaseUrl::parse(db.url()).unwrap())
        .await
        .unwrap();
    (Scratch::Postgres(db), store)
}

/// `name_sqlite` and `name_postgres` running the body `name(store)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                let (_scratch, store) = super::sqlite().await;
                super::$name(store.clone()).await;
                store.close().await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                let (_scratch, store) = super::postgres().await;
                super::$name(store.clone()).await;
                store.close().await;
            })*
        }
    };
}

on_both_backends!(
    appends_assemble_the_open_bundle_and_completion_replaces_them,
    a_gap_between_parts_is_corruption,
    checkpoints_move_only_by_compare_and_swap,
    racing_writers_one_wins_and_the_other_writes_nothing,
    a_second_leaf_row_for_a_key_is_a_conflict,
    leaf_rows_walk_every_row_in_key_order,
    index_positions_move_by_compare_and_swap_and_queries_keep_their_bounds,
    racing_indexers_index_each_entry_once,
    artifact_searches_match_any_or_all_terms,
    batches_of_many_terms_are_indexed_whole,
);

const LOG: LogSlot = LogSlot::ARTIFACTS;

fn batch(previous: Option<(u64, Hash)>, size: u64, bundles: Vec<BundleWrite>) -> Batch {
    Batch {
        previous,
        checkpoint: Some(StoredCheckpoint {
            size,
            root: Hash([size as u8; 32]),
            note: format!("cp {size}\n"),
        }),
        tiles: vec![],
        bundles,
        leaves: vec![],
    }
}

fn leaf(key: u8, index: u64) -> LeafRecord {
    LeafRecord {
        key: Hash([key; 32]),
        index,
        timestamp: 1_700_000_000_000 + index,
    }
}

async fn appends_assemble_the_open_bundle_and_completion_replaces_them(store: Store) {
    let append = |offset: u64, data: &[u8]| BundleWrite::Append {
        index: 3,
        offset,
        data: data.to_vec(),
    };
    store
        .commit(LOG, &batch(None, 1, vec![append(0, b"ab")]))
        .await
        .unwrap();
    store
        .commit(
            LOG,
            &batch(Some((1, Hash([1; 32]))), 2, vec![append(2, b"cde")]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.entry_bundle(LOG, 3).await.unwrap().as_deref(),
        Some(&b"abcde"[..])
    );
    assert_eq!(store.entry_bundle(LOG, 4).await.unwrap(), None);
    assert_eq!(
        store.entry_bundle(LogSlot::ISSUANCE, 3).await.unwrap(),
        None
    );

    // The same part again (a batch retried after an in-doubt commit) changes nothing.
    store
        .commit(
            LOG,
            &batch(Some((2, Hash([2; 32]))), 3, vec![append(2, b"cde")]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.entry_bundle(LOG, 3).await.unwrap().as_deref(),
        Some(&b"abcde"[..])
    );

    // Completion: the whole bundle in one row, the parts gone (a part left behind would not
    // follow the full row's last byte, and the read would fail as corrupt).
    let complete = BundleWrite::Complete {
        index: 3,
        data: b"abcdefgh".to_vec(),
    };
    store
        .commit(LOG, &batch(Some((3, Hash([3; 32]))), 4, vec![complete]))
        .await
        .unwrap();
    assert_eq!(
        store.entry_bundle(LOG, 3).await.unwrap().as_deref(),
        Some(&b"abcdefgh"[..])
    );
}

async fn a_gap_between_parts_is_corruption(store: Store) {
    let parts = vec![
        BundleWrite::Append {
            index: 0,
            offset: 0,
            data: b"ab".to_vec(),
        },
        BundleWrite::Append {
            index: 0,
            offset: 5,
            data: b"xy".to_vec(),
        },
    ];
    store.commit(LOG, &batch(None, 1, parts)).await.unwrap();
    assert!(matches!(
        store.entry_bundle(LOG, 0).await,
        Err(StoreError::Corrupt(_))
    ));
}

async fn checkpoints_move_only_by_compare_and_swap(store: Store) {
    let tile = TileId { level: 0, index: 0 };
    let mut first = batch(None, 1, vec![]);
    first.tiles = vec![(tile, vec![1; 32])];
    store.commit(LOG, &first).await.unwrap();
    // Creating the log again, or extending a checkpoint that is not the stored one, fails
    // and writes nothing: not the tile, not the leaf row.
    for stale in [None, Some((1, Hash([9; 32]))), Some((0, Hash([1; 32])))] {
        let mut losing = batch(stale, 2, vec![]);
        losing.tiles = vec![(tile, vec![7; 64])];
        losing.leaves = vec![leaf(7, 1)];
        assert!(matches!(
            store.commit(LOG, &losing).await,
            Err(StoreError::Conflict)
        ));
    }
    assert_eq!(store.hash_tile(LOG, tile).await.unwrap(), Some(vec![1; 32]));
    assert_eq!(store.lookup(LOG, &[Hash([7; 32])]).await.unwrap(), [None]);
    assert_eq!(store.checkpoint(LOG).await.unwrap().unwrap().size, 1);

    let mut next = batch(Some((1, Hash([1; 32]))), 2, vec![]);
    next.tiles = vec![(tile, vec![1; 64])];
    next.leaves = vec![leaf(7, 1)];
    store.commit(LOG, &next).await.unwrap();
    assert_eq!(store.hash_tile(LOG, tile).await.unwrap(), Some(vec![1; 64]));
    assert_eq!(
        store
            .lookup(LOG, &[Hash([7; 32]), Hash([8; 32])])
            .await
            .unwrap(),
        [Some(leaf(7, 1)), None]
    );
    let stored = store.checkpoint(LOG).await.unwrap().unwrap();
    assert_eq!((stored.size, stored.note.as_str()), (2, "cp 2\n"));
    assert_eq!(store.checkpoint(LogSlot::ISSUANCE).await.unwrap(), None);
}

/// Two writers extend the same checkpoint at once (two servers on one database): exactly one
/// commits, the other gets a conflict and none of its rows land.
async fn racing_writers_one_wins_and_the_other_writes_nothing(store: Store) {
    store.commit(LOG, &batch(None, 1, vec![])).await.unwrap();
    for round in 1..6u8 {
        let size = u64::from(round);
        let writer = |key: u8| {
            let store = store.clone();
            let mut b = batch(Some((size, Hash([round; 32]))), size + 1, vec![]);
            b.leaves = vec![leaf(key, size)];
            async move { store.commit(LOG, &b).await }
        };
        let (a, b) = tokio::join!(writer(100 + round), writer(200 + round));
        let won = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {a:?} {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(matches!(loser, Err(StoreError::Conflict)), "{loser:?}");
        let keys = [Hash([100 + round; 32]), Hash([200 + round; 32])];
        let found = store.lookup(LOG, &keys).await.unwrap();
        assert_eq!(found.iter().flatten().count(), 1, "round {round}");
    }
}

async fn a_second_leaf_row_for_a_key_is_a_conflict(store: Store) {
    let mut first = batch(None, 1, vec![]);
    first.leaves = vec![leaf(5, 0)];
    store.commit(LOG, &first).await.unwrap();
    let mut twin = batch(Some((1, Hash([1; 32]))), 2, vec![]);
    twin.leaves = vec![leaf(5, 1)];
    assert!(matches!(
        store.commit(LOG, &twin).await,
        Err(StoreError::Conflict)
    ));
    // The failed transaction took its checkpoint with it.
    assert_eq!(store.checkpoint(LOG).await.unwrap().unwrap().size, 1);
}

async fn leaf_rows_walk_every_row_in_key_order(store: Store) {
    assert!(store.is_empty().await.unwrap());
    let mut first = batch(None, 3, vec![]);
    first.leaves = vec![leaf(30, 0), leaf(10, 1), leaf(20, 2)];
    store.commit(LOG, &first).await.unwrap();
    assert!(!store.is_empty().await.unwrap());
    let page = store.leaf_rows(LOG, None, 2).await.unwrap();
    assert_eq!(page, [leaf(10, 1), leaf(20, 2)]);
    let rest = store.leaf_rows(LOG, Some(page[1].key), 2).await.unwrap();
    assert_eq!(rest, [leaf(30, 0)]);
    assert_eq!(
        store.leaf_rows(LogSlot::ISSUANCE, None, 9).await.unwrap(),
        []
    );
}

fn index_batch(from: u64, to: u64) -> IndexBatch {
    IndexBatch {
        from,
        to,
        entries: (from..to)
            .map(|i| IndexedEntry {
                index: i,
                terms: vec![
                    Term::new(Field::RepositoryPath, "o/r"),
                    Term::new(Field::Ref, format!("ref{}", i % 2)),
                ],
                detail: EntryDetail::Certificate {
                    not_before: i as i64,
                },
            })
            .collect(),
    }
}

fn query(terms: &[(Field, &str)]) -> CertificateQuery {
    CertificateQuery {
        terms: terms.iter().map(|(f, v)| Term::new(*f, *v)).collect(),
        since: None,
        until: None,
        start: 0,
        end: 100,
        limit: 100,
    }
}

async fn index_positions_move_by_compare_and_swap_and_queries_keep_their_bounds(store: Store) {
    const LOG: LogSlot = LogSlot::ISSUANCE;
    store.index_add(LOG, &index_batch(0, 3)).await.unwrap();
    assert_eq!(store.index_position(LOG).await.unwrap(), 3);
    assert_eq!(store.index_position(LogSlot::ARTIFACTS).await.unwrap(), 0);
    // The same batch again, or one leaving a gap, is another writer's: nothing is written.
    for stale in [index_batch(0, 3), index_batch(4, 5)] {
        assert!(matches!(
            store.index_add(LOG, &stale).await,
            Err(StoreError::Conflict)
        ));
    }
    store.index_add(LOG, &index_batch(3, 6)).await.unwrap();

    let both = [(Field::RepositoryPath, "o/r"), (Field::Ref, "ref1")];
    let find = |q: CertificateQuery| {
        let store = store.clone();
        async move { store.find_certificates(&q).await.unwrap() }
    };
    assert_eq!(find(query(&both)).await, [1, 3, 5]);
    assert_eq!(find(query(&[])).await, [0, 1, 2, 3, 4, 5]);
    assert_eq!(
        find(query(&[(Field::Ref, "ref9")])).await,
        Vec::<u64>::new()
    );
    let bounded = |start, end, limit| CertificateQuery {
        start,
        end,
        limit,
        ..query(&both)
    };
    assert_eq!(find(bounded(0, 4, 100)).await, [1, 3]);
    assert_eq!(find(bounded(2, 100, 1)).await, [3]);
    let timed = |terms: &[(Field, &str)]| CertificateQuery {
        since: Some(2),
        until: Some(4),
        ..query(terms)
    };
    assert_eq!(find(timed(&[])).await, [2, 3, 4]);
    assert_eq!(find(timed(&both)).await, [3]);

    store.index_clear().await.unwrap();
    assert_eq!(store.index_position(LOG).await.unwrap(), 0);
    assert_eq!(find(query(&[])).await, Vec::<u64>::new());
    store.index_add(LOG, &index_batch(0, 2)).await.unwrap();
    assert_eq!(find(query(&both)).await, [1]);
}

/// Two indexers (two servers on one database) add the same entries at once: one wins, the
/// other writes nothing, and every entry is found once.
async fn racing_indexers_index_each_entry_once(store: Store) {
    const LOG: LogSlot = LogSlot::ISSUANCE;
    for from in (0..40).step_by(8) {
        let indexer = || {
            let store = store.clone();
            async move { store.index_add(LOG, &index_batch(from, from + 8)).await }
        };
        let (a, b) = tokio::join!(indexer(), indexer());
        assert_eq!([&a, &b].iter().filter(|r| r.is_ok()).count(), 1);
        assert!(matches!(
            if a.is_ok() { b } else { a },
            Err(StoreError::Conflict)
        ));
    }
    let all = store.find_certificates(&query(&[])).await.unwrap();
    assert_eq!(all, (0..40).collect::<Vec<u64>>());
    let odd = store
        .find_certificates(&query(&[
            (Field::RepositoryPath, "o/r"),
            (Field::Ref, "ref1"),
        ]))
        .await
        .unwrap();
    assert_eq!(odd, (0..40).filter(|i| i % 2 == 1).collect::<Vec<u64>>());
}

async fn artifact_searches_match_any_or_all_terms(store: Store) {
    let digest = |n: u8| format!("sha256:{}", hex::encode([n; 32]));
    let entry = |index: u64, terms: Vec<Term>| IndexedEntry {
        index,
        terms,
        detail: EntryDetail::Artifact {
            uuid: Hash([index as u8; 32]),
        },
    };
    let subject = |s: &str| Term::new(Field::ArtifactSubject, s);
    let batch = IndexBatch {
        from: 0,
        to: 3,
        entries: vec![
            entry(0, vec![subject("a@x"), Term::new(Field::Digest, digest(1))]),
            entry(1, vec![subject("b@x"), Term::new(Field::Digest, digest(1))]),
            // Not lower-case hex: stored as text, still found by its exact value.
            entry(
                2,
                vec![subject("a@x"), Term::new(Field::Digest, "sha256:ABC")],
            ),
        ],
    };
    store.index_add(LOG, &batch).await.unwrap();
    let find = |terms: Vec<Term>, all: bool| {
        let store = store.clone();
        async move {
            let query = ArtifactQuery {
                terms,
                all,
                start: 0,
                end: 10,
                limit: 10,
            };
            let found = store.find_artifacts(&query).await.unwrap();
            found
                .into_iter()
                .map(|(i, uuid)| {
                    assert_eq!(uuid, Hash([i as u8; 32]));
                    i
                })
                .collect::<Vec<u64>>()
        }
    };
    let d1 = Term::new(Field::Digest, digest(1));
    assert_eq!(find(vec![d1.clone()], false).await, [0, 1]);
    assert_eq!(find(vec![d1.clone(), subject("a@x")], true).await, [0]);
    assert_eq!(
        find(vec![d1.clone(), subject("a@x")], false).await,
        [0, 1, 2]
    );
    assert_eq!(
        find(vec![Term::new(Field::Digest, "sha256:ABC")], false).await,
        [2]
    );
    assert_eq!(find(vec![subject("nobody")], true).await, Vec::<u64>::new());
}

/// Batches with hundreds of distinct terms (each dsse entry brings two digests of its own),
/// new and already known, text and binary: every entry is found by each of its terms, and a
/// term's entries across batches stay one list in log order.
async fn batches_of_many_terms_are_indexed_whole(store: Store) {
    let digest = |n: u64| {
        Term::new(
            Field::Digest,
            format!("sha256:{}", hex::encode(Sha256::digest(n.to_be_bytes()))),
        )
    };
    let shared = Term::new(Field::ArtifactSubject, "ci@example.com");
    let entries = |from: u64, to: u64| IndexBatch {
        from,
        to,
        entries: (from..to)
            .map(|index| IndexedEntry {
                index,
                // Entries 2k and 2k + 1 share their second digest; 600 and 601 fall in two
                // batches, so the second batch writes a term the first one made.
                terms: vec![shared.clone(), digest(index), digest(1_000_000 + index / 2)],
                detail: EntryDetail::Artifact {
                    uuid: Hash([index as u8; 32]),
                },
            })
            .collect(),
    };
    store.index_add(LOG, &entries(0, 601)).await.unwrap();
    store.index_add(LOG, &entries(601, 1300)).await.unwrap();
    let find = |terms: Vec<Term>, limit: usize| {
        let store = store.clone();
        async move {
            let query = ArtifactQuery {
                terms,
                all: true,
                start: 0,
                end: 1300,
                limit,
            };
            let found = store.find_artifacts(&query).await.unwrap();
            found.into_iter().map(|(i, _)| i).collect::<Vec<u64>>()
        }
    };
    for index in [0, 249, 250, 251, 599, 600, 601, 850, 1299] {
        assert_eq!(
            find(vec![digest(index)], 10).await,
            [index],
            "entry {index}"
        );
        let pair = index / 2 * 2;
        assert_eq!(
            find(vec![digest(1_000_000 + index / 2)], 10).await,
            [pair, pair + 1],
            "entry {index}"
        );
    }
    let all = find(vec![shared.clone()], 2000).await;
    assert_eq!(all, (0..1300).collect::<Vec<u64>>());
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_without_its_password() {
    // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    let url = DatabaseUrl::parse("postgres://mayfly:s3cret@127.0.0.1:1/mayfly").unwrap();
    let message = Store::open(&url).await.unwrap_err().to_string();
    assert!(
        message.starts_with("cannot connect to postgres://mayfly:***@127.0.0.1:1/mayfly: ")
            && message.ends_with("is the server running?"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}

/// A database migrated by a newer Mayfly (it has a migration this binary does not know) is
/// refused before anything reads its tables, on both backends.
#[tokio::test]
async fn a_schema_from_a_newer_mayfly_is_refused() {
    let newer = "INSERT INTO _sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES (9999, 'from the future', TRUE, '\\x00', 0)";
    let (_dir, sqlite) = sqlite().await;
    let (_db, postgres) = postgres().await;
    for store in [sqlite, postgres] {
        match &store {
            Store::Sqlite(s) => s.execute_raw(newer).await,
            Store::Postgres(s) => s.execute_raw(newer).await,
            _ => unreachable!(),
        }
        .unwrap();
        store.close().await;
    }
    for scratch in [&_dir, &_db] {
        let url = match scratch {
            Scratch::Dir(dir) => DatabaseUrl::sqlite(&dir.path().join("t.db")),
            Scratch::Postgres(db) => DatabaseUrl::parse(db.url()).unwrap(),
        };
        let message = Store::open(&url).await.unwrap_err().to_string();
        assert!(
            message.ends_with(
                "the database schema is newer than this mayfly (migration 9999); upgrade mayfly"
            ),
            "{message}"
        );
    }
}

/// Writer turns on PostgreSQL are exclusive per log and schema: a second process (its own
/// pool) waits until the first turn ends, then reads the checkpoint that turn committed. A
/// turn at another log, or in another schema, does not wait.
#[tokio::test]
async fn a_postgres_turn_waits_for_the_turn_before_and_reads_what_it_committed() {
    use std::time::Duration;
    let (scratch, first) = postgres().await;
    let Scratch::Postgres(db) = &scratch else {
        unreachable!("postgres() makes a scratch schema")
    };
    let second = Store::open(&DatabaseUrl::parse(db.url()).unwrap())
        .await
        .unwrap();
    first.commit(LOG, &batch(None, 1, vec![])).await.unwrap();

    let (turn, stored) = first.begin_turn(LOG).await.unwrap();
    assert_eq!(stored.map(|c| c.size), Some(1));
    let waiting = tokio::spawn({
        let second = second.clone();
        async move { second.begin_turn(LOG).await.map(|(_, stored)| stored) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a second turn began while the first was held"
    );
    let other_log =
        tokio::time::timeout(Duration::from_secs(5), second.begin_turn(LogSlot::ISSUANCE));
    assert!(other_log.await.is_ok(), "a turn at another log waited");
    let (_other_db, elsewhere) = postgres().await;
    let other_schema = tokio::time::timeout(Duration::from_secs(5), elsewhere.begin_turn(LOG));
    assert!(
        other_schema.await.is_ok(),
        "a turn in another schema waited"
    );

    let hash = Hash([1; 32]);
    first
        .commit(LOG, &batch(Some((1, hash)), 2, vec![]))
        .await
        .unwrap();
    drop(turn);
    let seen = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the second turn begins once the first ends")
        .unwrap()
        .unwrap();
    assert_eq!(seen.map(|c| c.size), Some(2));
    second.close().await;
    first.close().await;
}

/// SQLite's WAL stays a few megabytes under a steady stream of commits while readers read
/// all the time, as the API's do: it must start over again and again, not grow with every byte
/// written. (Checkpointing from a connection beside the writer, with the writer's own automatic
/// checkpoint off, let it grow to 52 GB in a quarter of an hour of load: under steady writes
/// only the writer can finish a checkpoint with no frame added meanwhile.)
#[tokio::test]
async fn the_sqlite_wal_starts_over_under_steady_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    store.commit(LOG, &batch(None, 1, vec![])).await.unwrap();
    let reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, reading) = (store.clone(), reading.clone());
            tokio::spawn(async move {
                while reading.load(std::sync::atomic::Ordering::Relaxed) {
                    let size = store.checkpoint(LOG).await.unwrap().map_or(1, |c| c.size);
                    store.entry_bundle(LOG, size - 1).await.unwrap();
                }
            })
        })
        .collect();
    let chunk = vec![7u8; 256 * 1024];
    for size in 1..=160u64 {
        let mut next = batch(Some((size, Hash([size as u8; 32]))), size + 1, vec![]);
        next.bundles = vec![BundleWrite::Complete {
            index: size,
            data: chunk.clone(),
        }];
        store.commit(LOG, &next).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    reading.store(false, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    let wal = std::fs::metadata(dir.path().join("t.db-wal"))
        .unwrap()
        .len();
    // 40 MiB went through the WAL.
    assert!(wal < 16 * 1024 * 1024, "the WAL grew to {wal} bytes");
    store.close().await;
}

/// The search index's file answers only for the log file it was built from. An index behind
/// its log is a prefix of the same append-only log and is kept; one copied from another
/// database, or one ahead of its log (the log file restored from an older backup), is emptied
/// when the store opens, so the indexer rebuilds it instead of answering for the wrong entries.
#[tokio::test]
async fn an_index_file_is_kept_only_with_the_log_file_it_was_built_from() {
    const SLOT: LogSlot = LogSlot::ISSUANCE;
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours.db"), dir.path().join("theirs.db"));
    let open = |path: std::path::PathBuf| async move { SqliteStore::open(&path).await.unwrap() };

    let store = open(ours.clone()).await;
    store.commit(SLOT, &batch(None, 6, vec![])).await.unwrap();
    store.index_add(SLOT, &index_batch(0, 3)).await.unwrap();
    store.close().await;
    let store = open(ours.clone()).await;
    assert_eq!(
        store.index_position(SLOT).await.unwrap(),
        3,
        "a prefix is kept"
    );
    store.close().await;
    assert!(index_path(&ours).is_file());

    // Another database's index, at a position our log holds: still not ours.
    let other = open(theirs.clone()).await;
    other.commit(SLOT, &batch(None, 6, vec![])).await.unwrap();
    other.index_add(SLOT, &index_batch(0, 5)).await.unwrap();
    other.close().await;
    std::fs::copy(index_path(&theirs), index_path(&ours)).unwrap();
    let store = open(ours.clone()).await;
    assert_eq!(
        store.index_position(SLOT).await.unwrap(),
        0,
        "another database's index"
    );
    assert!(
        store
            .find_certificates(&query(&[]))
            .await
            .unwrap()
            .is_empty()
    );
    // Now paired with our log: rebuilt entries stay across a reopen.
    store.index_add(SLOT, &index_batch(0, 6)).await.unwrap();
    store.close().await;
    let store = open(ours.clone()).await;
    assert_eq!(store.index_position(SLOT).await.unwrap(), 6);
    store.close().await;

    // Our log file as an older backup left it (4 entries) under the newer index (6).
    let log_only = dir.path().join("older.db");
    let older = open(log_only.clone()).await;
    older.close().await;
    std::fs::copy(&ours, &log_only).unwrap();
    let older = open(log_only.clone()).await;
    older
        .commit(SLOT, &batch(Some((6, Hash([6; 32]))), 4, vec![]))
        .await
        .unwrap();
    older.close().await;
    std::fs::copy(&log_only, &ours).unwrap();
    let store = open(ours.clone()).await;
    assert_eq!(
        store.index_position(SLOT).await.unwrap(),
        0,
        "an index ahead of its log"
    );
    store.close().await;
}

/// The dedup lookup on PostgreSQL reads the rows it asks for and no others, also on a log table
/// that was never analyzed (where the planner's guess once read every row of the log).
#[tokio::test]
async fn the_postgres_lookup_probes_each_key_without_statistics() {
    let (_db, store) = postgres().await;
    let Store::Postgres(pg) = &store else {
        unreachable!()
    };
    pg.execute_raw(
        "INSERT INTO leaves (log, key, idx, ts) \
         SELECT 2, sha256(int8send(i)), i, 0 FROM generate_series(0, 49999) AS i",
    )
    .await
    .unwrap();
    let key = |i: u64| Hash(Sha256::digest(i.to_be_bytes()).into());
    // Twenty logged keys and twenty that are not.
    let keys: Vec<Hash> = (0..20)
        .map(|i| key(i * 997))
        .chain((0..20).map(|i| key(1_000_000 + i)))
        .collect();
    let found = store.lookup(LogSlot(2), &keys).await.unwrap();
    assert_eq!(found.iter().filter(|f| f.is_some()).count(), 20);
    assert_eq!(found[1].map(|r| r.index), Some(997));

    let plan = pg.explain_lookup(LogSlot(2), &keys).await.unwrap();
    let rows_read: Vec<u64> = plan
        .iter()
        .filter(|line| line.contains("Scan") && line.contains("on leaves"))
        .filter_map(|line| line.split("rows=").nth(2)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(!rows_read.is_empty(), "{plan:#?}");
    assert!(rows_read.iter().all(|&rows| rows <= 1), "{plan:#?}");
    assert!(
        !plan
            .iter()
            .any(|line| line.contains("Rows Removed by Filter")),
        "{plan:#?}"
    );
    store.close().await;
}
