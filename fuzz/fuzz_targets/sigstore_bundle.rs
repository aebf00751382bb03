//! Sigstore bundles and trusted roots as `mayfly verify` reads them
//! (`mayfly_spec::sigstore::bundle::parse`, `trusted_root::TrustedRoot::parse`), and
//! `mayfly_client::verify::verify_bundle` end to end against the fixed public-good trusted root.
//!
//! Input: a mode byte, then
//! - mode 0: a bundle (`bundle::parse`);
//! - mode 1: a trusted root (`TrustedRoot::parse`);
//! - mode 2: a bundle, verified end to end (artifact: the real signed wheel for a message
//!   signature, none for DSSE; policy: any SAN, issuer GitHub Actions).
//!
//! Beyond "no panic": a parsed bundle keeps the per-version promise/proof rules; every log of a
//! parsed root is found by its own ID at the start of its validity; and nothing verifies except
//! what the real bundles say: any accepted bundle yields exactly the facts of one of the seeds
//! (a mutation that changes a verified fact and still verifies would be a forgery).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_client::verify::{
    Artifact, HashAlgorithm, IdentityMatcher, Policy, Verified, verify_bundle,
};
use mayfly_spec::sigstore::bundle::{self, Content, Signer, Version};
use mayfly_spec::sigstore::trusted_root::{TrustedRoot, find_log};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const ROOT: &[u8] =
    include_bytes!("../../tests/vectors/sigstore-public/trusted_root.public-good.json");
const WHEEL: &[u8] = include_bytes!("../../tests/vectors/sigstore-public/github-signed.whl");
const WHEEL_BUNDLE: &[u8] =
    include_bytes!("../../tests/vectors/sigstore-public/github-signed.whl.sigstore");
const NPM_BUNDLE: &[u8] = include_bytes!(
    "../../tests/vectors/sigstore-public/npm-sigstore-1.3.0-provenance.sigstore.json"
);

static POLICY: LazyLock<Policy> = LazyLock::new(|| Policy {
    identity: IdentityMatcher::Regex(".*".into()),
    issuer: "https://token.actions.githubusercontent.com".into(),
});

static WHEEL_DIGEST: LazyLock<Artifact> = LazyLock::new(|| Artifact::Digest {
    algorithm: HashAlgorithm::Sha256,
    digest: Sha256::digest(WHEEL).to_vec(),
});

/// What the real bundles verify to: the only facts a fuzzed bundle may verify to.
static KNOWN: LazyLock<Vec<Verified>> = LazyLock::new(|| {
    [WHEEL_BUNDLE, NPM_BUNDLE]
        .iter()
        .map(|b| verify(b).expect("a seed bundle verifies"))
        .collect()
});

fn verify(bundle_json: &[u8]) -> Option<Verified> {
    let artifact = match bundle::parse(bundle_json).ok()?.content {
        Content::Message { .. } => Some(&*WHEEL_DIGEST),
        Content::Dsse { .. } => None,
    };
    verify_bundle(bundle_json, artifact, ROOT, &POLICY).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => match bundle::parse(rest) {
            Ok(b) => {
                if let Signer::Certificate(leaf) = &b.signer {
                    assert!(!leaf.is_empty());
                }
                match b.version {
                    Version::V01 => assert!(b.entry.set.is_some()),
                    Version::V02 | Version::V03 => assert!(b.entry.proof.is_some()),
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        },
        1 => match TrustedRoot::parse(rest) {
            Ok(root) => {
                for logs in [&root.tlogs, &root.ctlogs] {
                    for log in logs.iter() {
                        let start = log.valid_for.start;
                        if log.valid_for.end.is_none_or(|end| start <= end) {
                            assert!(find_log(logs, &log.log_id, start).is_some());
                        }
                    }
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        },
        _ => {
            if let Some(verified) = verify(rest) {
                assert!(
                    KNOWN.contains(&verified),
                    "a bundle verified to facts no real bundle has: {verified:?}"
                );
            }
        }
    }
});
