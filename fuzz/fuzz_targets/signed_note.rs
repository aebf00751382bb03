//! C2SP signed notes and checkpoints (`mayfly_spec::tlog::note`, `tlog::checkpoint`): parsing
//! without verification (`Note::parse`, `Checkpoint::parse`), and opening under fixed verifiers
//! (`open_note`, `open_checkpoint`) — the public-good and staging Rekor keys, whose real
//! checkpoints seed the corpus.
//!
//! Beyond "no panic": an accepted note is byte-for-byte its parsed text plus its signature
//! lines re-encoded, and an accepted checkpoint text is its own `to_text()` (one spelling per
//! checkpoint); an opened note keeps only signatures it parsed; and nothing opens under the
//! fixed keys except the real checkpoints' contents (anything else would be a forgery).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mayfly_spec::sigstore::trusted_root::TrustedRoot;
use mayfly_spec::tlog::checkpoint::{Checkpoint, open_checkpoint};
use mayfly_spec::tlog::note::{EcdsaNoteVerifier, Note, NoteVerifier, open_note};
use std::sync::LazyLock;

const ROOTS: [&[u8]; 2] = [
    include_bytes!("../../tests/vectors/sigstore-public/trusted_root.public-good.json"),
    include_bytes!("../../tests/vectors/sigstore-public/trusted_root.staging.json"),
];

/// The origins of the real checkpoints (Rekor v1: the host, then the Trillian tree ID).
const ORIGINS: [&str; 2] = [
    "rekor.sigstore.dev - 2605736670972794746",
    "rekor.sigstage.dev - 8050909264565447525",
];

/// A verifier for every P-256 Rekor log in the two trusted roots, named by its host as Rekor
/// names its key.
static LOGS: LazyLock<Vec<EcdsaNoteVerifier>> = LazyLock::new(|| {
    let mut logs = Vec::new();
    for root in ROOTS {
        let root = TrustedRoot::parse(root).expect("fixture root");
        for log in root.tlogs {
            if log.key_details != "PKIX_ECDSA_P256_SHA_256" {
                continue;
            }
            let name = log.base_url.trim_start_matches("https://").to_owned();
            logs.push(EcdsaNoteVerifier::from_spki_der(name, &log.spki).expect("fixture key"));
        }
    }
    assert!(!logs.is_empty());
    logs
});

/// The checkpoints the real notes carry: the only ones that may open.
static KNOWN: LazyLock<Vec<Checkpoint>> = LazyLock::new(|| {
    [
        &include_bytes!("../corpus/signed_note/public-good-checkpoint")[..],
        &include_bytes!("../corpus/signed_note/staging-checkpoint")[..],
    ]
    .iter()
    .map(|note| open(note).expect("a real checkpoint opens"))
    .collect()
});

fn open(note: &[u8]) -> Option<Checkpoint> {
    LOGS.iter().find_map(|verifier| {
        ORIGINS.iter().find_map(|origin| {
            open_checkpoint(note, origin, verifier).ok().map(|s| {
                assert_eq!(s.note.as_bytes(), note);
                s.checkpoint
            })
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let known = &*KNOWN;
    let parsed = Note::parse(data);
    if let Ok(note) = &parsed {
        let mut again = note.text().to_owned();
        again.push('\n');
        for sig in note.signatures() {
            let mut raw = sig.key_id.to_be_bytes().to_vec();
            raw.extend_from_slice(&sig.signature);
            again.push_str(&format!("\u{2014} {} {}\n", sig.name, STANDARD.encode(raw)));
        }
        assert_eq!(again.as_bytes(), data, "a note is not its parts re-encoded");
        if let Ok(cp) = Checkpoint::parse(note.text()) {
            assert_eq!(cp.to_text(), note.text(), "a checkpoint with two spellings");
        }
    }

    let verifiers: Vec<&dyn NoteVerifier> = LOGS.iter().map(|v| v as &dyn NoteVerifier).collect();
    if let Ok(opened) = open_note(data, &verifiers) {
        let note = parsed.as_ref().expect("an opened note parses");
        assert_eq!(opened.text(), note.text());
        assert!(!opened.signatures().is_empty());
        assert!(
            opened
                .signatures()
                .iter()
                .all(|s| note.signatures().contains(s))
        );
    }
    if let Some(cp) = open(data) {
        assert!(
            known.contains(&cp),
            "a checkpoint no real log signed opened: {cp:?}"
        );
    }

    // The checkpoint body alone, as text.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cp) = Checkpoint::parse(text)
    {
        assert_eq!(cp.to_text(), text);
        assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
    }
});
