//! Mayfly's PKCS#11 signer: ECDSA P-256 keys that never leave an HSM.
//!
//! [`Pkcs11Session::open`] loads a PKCS#11 module, finds a token by label and logs in;
//! [`Pkcs11Session::find_key`] finds a private key by `CKA_LABEL`, checks it is P-256 and
//! pairs with its public key; [`Pkcs11Key::sign`] hashes with SHA-256 in Rust and has the
//! token run `CKM_ECDSA`, returning the DER signature every Mayfly signer returns (the CA's
//! `CaSigner::sign`, the log keys' SCTs, checkpoints and SETs). [`generate_key`] creates a key
//! pair for `mayfly keys create`.
//!
//! Tested against SoftHSM2 (`tests/hsm.rs`); README's "Running Mayfly for your organisation"
//! has the operator commands.
//!
//! No unsafe code here: the C boundary is cryptoki's.
mod ec;
mod error;
mod key;
mod module;
mod pin;
mod pool;
mod session;

pub use error::Pkcs11Error;
pub use key::{KeyProtection, Pkcs11Key, generate_key};
pub use pin::Pin;
pub use session::{DEFAULT_SESSIONS, Pkcs11Config, Pkcs11Session};

use std::path::PathBuf;

/// The environment variable that may hold the token PIN (`--pkcs11-pin-file` is preferred:
/// a PIN in the environment is visible to anyone who can read the process's environment).
pub const PIN_ENV: &str = "MAYFLY_PKCS11_PIN";

/// The labels of Mayfly's five keys on the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLabels {
    /// The CA root: signs intermediates only (first start, `mayfly ca rotate`).
    pub ca_root: String,
    /// The online CA intermediate: signs every certificate.
    pub ca: String,
    /// The issuance log's key: checkpoints and SCTs.
    pub issuance_log: String,
    /// The artifact log's key: checkpoints and SETs.
    pub artifact_log: String,
    /// The Rekor v2 log's key: checkpoints.
    pub rekor_v2_log: String,
}

impl Default for KeyLabels {
    fn default() -> Self {
        KeyLabels {
            ca_root: "mayfly-ca-root".into(),
            ca: "mayfly-ca".into(),
            issuance_log: "mayfly-issuance-log".into(),
            artifact_log: "mayfly-artifact-log".into(),
            rekor_v2_log: "mayfly-rekor-v2-log".into(),
        }
    }
}

impl KeyLabels {
    /// The CA intermediate key of CA generation `n` (`mayfly ca rotate`): the configured
    /// label for generation 1, `<label>-<n>` after.
    pub fn ca_generation(&self, n: u32) -> String {
        generation_label(&self.ca, n)
    }

    /// The CA root key of the generation `n` that created a root.
    pub fn ca_root_generation(&self, n: u32) -> String {
        generation_label(&self.ca_root, n)
    }

    /// (what the key is for, its label), in the order they are created and reported.
    pub fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("CA root", &self.ca_root),
            ("CA intermediate", &self.ca),
            ("issuance log", &self.issuance_log),
            ("artifact log", &self.artifact_log),
            ("Rekor v2 log", &self.rekor_v2_log),
        ]
    }
}

fn generation_label(label: &str, n: u32) -> String {
    match n {
        0 | 1 => label.to_owned(),
        n => format!("{label}-{n}"),
    }
}

/// Where an instance's keys live in an HSM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HsmSettings {
    /// The PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: PathBuf,
    pub token_label: String,
    /// The file holding the token's user PIN; without it, [`PIN_ENV`].
    pub pin_file: Option<PathBuf>,
    pub labels: KeyLabels,
}

/// Mayfly's keys, found on the token and checked (P-256, private half paired with public).
pub struct InstanceKeys {
    pub ca_root: Pkcs11Key,
    pub ca: Pkcs11Key,
    pub issuance_log: Pkcs11Key,
    pub artifact_log: Pkcs11Key,
    pub rekor_v2_log: Pkcs11Key,
}

impl HsmSettings {
    /// Logs in to the token. Creates nothing, on the token or anywhere else.
    pub fn open(&self) -> Result<Pkcs11Session, Pkcs11Error> {
        let pin = match &self.pin_file {
            Some(path) => Pin::from_file(path)?,
            None => Pin::from_env(PIN_ENV)?,
        };
        Pkcs11Session::open(&Pkcs11Config::new(&self.module, &self.token_label, pin))
    }

    /// Finds all five keys; the first missing or unusable one stops everything.
    pub fn find_keys(&self, session: &Pkcs11Session) -> Result<InstanceKeys, Pkcs11Error> {
        Ok(InstanceKeys {
            ca_root: session.find_key(&self.labels.ca_root)?,
            ca: session.find_key(&self.labels.ca)?,
            issuance_log: session.find_key(&self.labels.issuance_log)?,
            artifact_log: session.find_key(&self.labels.artifact_log)?,
            rekor_v2_log: session.find_key(&self.labels.rekor_v2_log)?,
        })
    }

    /// `mayfly keys create`: generates, inside the token, each of the five keys that does not
    /// exist yet. Returns (purpose, label, created) for each.
    pub fn create_keys(
        &self,
        session: &Pkcs11Session,
    ) -> Result<Vec<(&'static str, String, bool)>, Pkcs11Error> {
        let existing = session.private_key_labels()?;
        let mut report = Vec::new();
        for (purpose, label) in self.labels.all() {
            let created = !existing.iter().any(|l| l == label);
            if created {
                generate_key(session, label)?;
            }
            report.push((purpose, label.to_owned(), created));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    /// Mayfly keeps keys in `Arc`s shared by request handlers on many threads.
    #[test]
    fn keys_and_sessions_are_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<crate::hsm::Pkcs11Key>();
        shared::<crate::hsm::Pkcs11Session>();
        shared::<crate::hsm::Pkcs11Config>();
        shared::<crate::hsm::Pkcs11Error>();
    }
}
