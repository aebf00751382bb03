//! How a search term's value is stored, the same on every backend.

use crate::index::{Field, Term};

/// A term value as stored: digests and key fingerprints (hex, unique per entry or per key, the
/// bulk of the artifact index) as their bytes, which halves their rows; everything else as
/// text. A backend must keep the two kinds apart (SQLite's `ANY` column never equals a blob to
/// a text; PostgreSQL stores the kind beside the bytes), so they cannot collide.
pub(super) enum Stored<'a> {
    Text(&'a str),
    Blob(Vec<u8>),
}

/// Algorithm codes of binary digest values: stable on disk.
const DIGEST_ALGORITHMS: [(&str, u8); 4] =
    [("sha256", 1), ("sha384", 2), ("sha512", 3), ("sha1", 4)];

pub(super) fn stored_value(term: &Term) -> Stored<'_> {
    let text = term.value.as_str();
    let lower_hex = |h: &str| {
        h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            .then(|| hex::decode(h).ok())
            .flatten()
    };
    let blob = match term.field {
        Field::PublicKey => lower_hex(text),
        Field::Digest => text.split_once(':').and_then(|(alg, h)| {
            let code = DIGEST_ALGORITHMS.iter().find(|(name, _)| *name == alg)?.1;
            let mut bytes = vec![code];
            bytes.extend(lower_hex(h)?);
            Some(bytes)
        }),
        _ => None,
    };
    match blob {
        Some(bytes) => Stored::Blob(bytes),
        None => Stored::Text(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
