//! Which keys sign each log's checkpoints, and under which origin, from the instance's trusted
//! root: the issuance log is the `ctlogs` entry at `<public URL>/logs/issuance`, the artifact
//! log the `tlogs` entry; each origin (and note key name) is its `baseUrl` without the scheme
//! (see the server's `trust` module). Nothing else the server says is trusted.

use super::WatchError;
use mayfly_spec::sigstore::trusted_root::{Log, TrustedRoot};
use mayfly_spec::tlog::TlogError;
use mayfly_spec::tlog::checkpoint::{Checkpoint, SignedCheckpoint};
use mayfly_spec::tlog::note::{EcdsaNoteVerifier, NoteVerifier, open_note};

/// The only key type Mayfly's logs sign with.
const P256: &str = "PKIX_ECDSA_P256_SHA_256";

/// One log as the trusted root describes it.
pub(crate) struct LogTrust {
    /// `issuance` or `artifacts`: the path segment under `/logs/` and the name in reports.
    pub(crate) name: &'static str,
    pub(crate) origin: String,
    /// Every key the root lists for this origin (more than one across a key rotation).
    verifiers: Vec<EcdsaNoteVerifier>,
}

impl LogTrust {
    /// Verifies a checkpoint note under this log's keys and parses it; the origin must match.
    pub(crate) fn open(&self, note: &[u8]) -> Result<SignedCheckpoint, TlogError> {
        let verifiers: Vec<&dyn NoteVerifier> = self
            .verifiers
            .iter()
            .map(|v| v as &dyn NoteVerifier)
            .collect();
        let opened = open_note(note, &verifiers)?;
        let checkpoint = Checkpoint::parse(opened.text())?;
        if checkpoint.origin != self.origin {
            return Err(TlogError::Checkpoint(format!(
                "origin is {:?}, expected {:?}",
                checkpoint.origin, self.origin
            )));
        }
        let note = String::from_utf8(note.to_vec())
            .map_err(|_| TlogError::Note("note is not UTF-8".into()))?;
        Ok(SignedCheckpoint { checkpoint, note })
    }
}

fn origin_of(base_url: &str) -> &str {
    base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .unwrap_or(base_url)
        .trim_end_matches('/')
}

fn log_trust(
    name: &'static str,
    candidates: &[Log],
    wanted: impl Fn(&Log) -> bool,
) -> Result<LogTrust, WatchError> {
    let mut chosen = candidates.iter().filter(|l| wanted(l));
    let first = chosen.next().ok_or_else(|| {
        WatchError::TrustedRoot(format!("it names no {name} log (is it a Mayfly's?)"))
    })?;
    let origin = origin_of(&first.base_url).to_owned();
    let verifiers = std::iter::once(first)
        .chain(chosen)
        .filter(|l| origin_of(&l.base_url) == origin)
        .map(|l| {
            if l.key_details != P256 {
                return Err(WatchError::TrustedRoot(format!(
                    "the {name} log key is {}; checkpoints are checked for {P256} only",
                    l.key_details
                )));
            }
            EcdsaNoteVerifier::from_spki_der(origin.clone(), &l.spki)
                .map_err(|e| WatchError::TrustedRoot(format!("the {name} log key: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LogTrust {
        name,
        origin,
        verifiers,
    })
}

/// Both logs of the instance whose trusted root `bytes` is: [issuance, artifacts].
pub(crate) fn logs_from_root(bytes: &[u8]) -> Result<[LogTrust; 2], WatchError> {
    let root = TrustedRoot::parse(bytes).map_err(|e| WatchError::TrustedRoot(e.to_string()))?;
    let issuance = log_trust("issuance", &root.ctlogs, |l| {
        l.base_url.trim_end_matches('/').ends_with("/logs/issuance")
    })?;
    let artifacts = log_trust("artifacts", &root.tlogs, |_| true)?;
    Ok([issuance, artifacts])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_drop_the_scheme_only() {
        assert_eq!(
            origin_of("https://mayfly.example/logs/issuance"),
            "mayfly.example/logs/issuance"
        );
        assert_eq!(origin_of("http://127.0.0.1:8700/"), "127.0.0.1:8700");
    }
}
