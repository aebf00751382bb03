//! The user PIN of a PKCS#11 token.
//!
//! Invariant: the PIN text exists only inside [`Pin`] (zeroed on drop) and inside the
//! `AuthPin` that cryptoki zeroes after each login. No `Debug`, `Display` or error message
//! ever contains it; error messages name where the PIN came from (a file path or a variable
//! name), never what it is.

use crate::hsm::error::Pkcs11Error;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// A token user PIN. Zeroed on drop and never printed.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Takes the PIN as typed. Only trailing line endings are removed (a PIN file written
    /// with `echo` ends in one); spaces are kept, since tokens accept them as PIN characters.
    /// `source` names where the text came from, for the error when it is empty.
    pub fn new(text: &str, source: &str) -> Result<Self, Pkcs11Error> {
        let trimmed = text.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            return Err(Pkcs11Error::PinEmpty {
                source_name: source.to_owned(),
            });
        }
        Ok(Pin(Zeroizing::new(trimmed.to_owned())))
    }

    /// Reads the PIN from a file (`--pkcs11-pin-file`).
    pub fn from_file(path: &Path) -> Result<Self, Pkcs11Error> {
        // Read into a zeroizing buffer so the copy with the newline is wiped too.
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            Pkcs11Error::PinFile {
                path: path.to_owned(),
                source,
            }
        })?);
        Self::new(&text, &format!("PIN file {}", path.display()))
    }

    /// Reads the PIN from environment variable `name` (e.g. `MAYFLY_PKCS11_PIN`).
    pub fn from_env(name: &str) -> Result<Self, Pkcs11Error> {
        let value = Zeroizing::new(std::env::var(name).map_err(|_| Pkcs11Error::PinEnv {
            name: name.to_owned(),
        })?);
        Self::new(&value, &format!("environment variable {name}"))
    }

    /// SHA-256 of the PIN, to recognise the PIN a slot was logged in with (module.rs).
    pub(crate) fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes()).into()
    }

    /// A fresh copy for one `C_Login`; cryptoki wraps it in `secrecy`, which zeroes it on drop.
    pub(crate) fn auth_pin(&self) -> cryptoki::types::AuthPin {
        cryptoki::types::AuthPin::from(self.0.as_str())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_line_endings_only_and_rejects_empty() {
        let pin = Pin::new(" 12 34 \r\n", "test").unwrap();
        assert_eq!(pin.0.as_str(), " 12 34 ");
        let err = Pin::new("\n", "PIN file /run/pin").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the PKCS#11 PIN from PIN file /run/pin is empty"
        );
        assert_eq!(format!("{pin:?}"), "Pin(..)");
    }

    #[test]
    fn unreadable_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = Pin::from_file(&missing).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read the PKCS#11 PIN file {}: ",
                missing.display()
            )),
            "{err}"
        );
        // A directory is unreadable as a file.
        let err = Pin::from_file(dir.path()).unwrap_err();
        assert!(matches!(err, Pkcs11Error::PinFile { .. }), "{err}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(
            Pin::from_file(&empty).unwrap_err().to_string(),
            format!("the PKCS#11 PIN from PIN file {} is empty", empty.display())
        );
    }

    #[test]
    fn unset_variable() {
        let err = Pin::from_env("MAYFLY_PKCS11_PIN_SURELY_UNSET_7f3a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable MAYFLY_PKCS11_PIN_SURELY_UNSET_7f3a (the PKCS#11 PIN) is not set or not UTF-8"
        );
    }
}
