use super::*;
use crate::index::{Field, IndexedEntry};

fn batch(from: u64, to: u64) -> IndexBatch {
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

#[tokio::test]
async fn positions_move_by_compare_and_swap_and_queries_keep_their_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    const LOG: LogSlot = LogSlot::ISSUANCE;
    store.index_add(LOG, &batch(0, 3)).await.unwrap();
    assert_eq!(store.index_position(LOG).await.unwrap(), 3);
    assert_eq!(store.index_position(LogSlot::ARTIFACTS).await.unwrap(), 0);
    // The same batch again, or one leaving a gap, is another writer's: nothing is written.
    for stale in [batch(0, 3), batch(4, 5)] {
        assert!(matches!(
            store.index_add(LOG, &stale).await,
            Err(StoreError::Conflict)
        ));
    }
    store.index_add(LOG, &batch(3, 6)).await.unwrap();

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
    assert_eq!(
        find(CertificateQuery {
            end: 4,
            ..query(&both)
        })
        .await,
        [1, 3]
    );
    assert_eq!(
        find(CertificateQuery {
            start: 2,
            limit: 1,
            ..query(&both)
        })
        .await,
        [3]
    );
    assert_eq!(
        find(CertificateQuery {
            since: Some(2),
            until: Some(4),
            ..query(&[])
        })
        .await,
        [2, 3, 4]
    );
    assert_eq!(
        find(CertificateQuery {
            since: Some(2),
            until: Some(4),
            ..query(&both)
        })
        .await,
        [3]
    );

    store.index_clear().await.unwrap();
    assert_eq!(store.index_position(LOG).await.unwrap(), 0);
    assert_eq!(find(query(&[])).await, Vec::<u64>::new());
    store.index_add(LOG, &batch(0, 2)).await.unwrap();
    assert_eq!(find(query(&both)).await, [1]);
}

#[test]
fn field_codes_are_distinct() {
    let fields = [
        Field::San,
        Field::Issuer,
        Field::Repository,
        Field::RepositoryPath,
        Field::Owner,
        Field::OwnerPath,
        Field::Ref,
        Field::Workflow,
        Field::Trigger,
        Field::ArtifactSubject,
        Field::PublicKey,
        Field::Digest,
    ];
    let mut codes: Vec<u8> = fields.iter().map(|f| f.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), fields.len());
}

#[test]
fn digests_and_fingerprints_are_stored_as_bytes() {
    let digest = Term::new(Field::Digest, format!("sha256:{}", "ab".repeat(32)));
    assert!(matches!(stored_value(&digest), Stored::Blob(b) if b.len() == 33 && b[0] == 1));
    let key = Term::new(Field::PublicKey, "cd".repeat(32));
    assert!(matches!(stored_value(&key), Stored::Blob(b) if b.len() == 32));
    // Anything else stays text: unknown algorithms, odd or upper-case hex, other fields.
    for term in [
        Term::new(Field::Digest, "md5:abcd"),
        Term::new(Field::Digest, "sha256:abc"),
        Term::new(Field::Digest, "sha256:ABCD"),
        Term::new(Field::PublicKey, "not hex"),
        Term::new(Field::Ref, "abcd"),
    ] {
        assert!(matches!(stored_value(&term), Stored::Text(_)), "{term:?}");
    }
}
