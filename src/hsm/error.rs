//! Every way opening or using a PKCS#11 key can fail, each with a message that names the
//! problem (the module path, the token label, the key label) so an operator can fix it
//! without a debugger.
//!
//! Invariant: no variant carries the PIN or any private key material; the PIN's source is
//! named (a file path or a variable name), its value never.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("PKCS#11 module {} does not exist", path.display())]
    ModuleNotFound { path: PathBuf },

    #[error("cannot load PKCS#11 module {}: {reason}", path.display())]
    ModuleLoad { path: PathBuf, reason: String },

    #[error("PKCS#11 module {} failed to initialise: {reason}{hint}", path.display())]
    ModuleInit {
        path: PathBuf,
        reason: String,
        hint: &'static str,
    },

    #[error("no token labelled \"{label}\" in PKCS#11 module {}; {}", module.display(), token_list(available))]
    TokenNotFound {
        label: String,
        module: PathBuf,
        available: Vec<String>,
    },

    #[error("{count} tokens in PKCS#11 module {} are labelled \"{label}\"; give each a unique label", module.display())]
    TokenAmbiguous {
        label: String,
        module: PathBuf,
        count: usize,
    },

    #[error("wrong PIN for token \"{token}\"{}", if *final_try { "; one more wrong PIN locks it" } else { "" })]
    WrongPin { token: String, final_try: bool },

    #[error(
        "the user PIN of token \"{token}\" is locked after too many wrong PINs; the token's security officer must unlock it"
    )]
    PinLocked { token: String },

    #[error(
        "the PIN given for token \"{token}\" has a length the token rejects (it takes {min} to {max} characters)"
    )]
    PinLength {
        token: String,
        min: usize,
        max: usize,
    },

    #[error(
        "token \"{token}\" has no user PIN yet; set one (softhsm2-util --init-token --pin, or pkcs11-tool --init-pin)"
    )]
    PinNotInitialised { token: String },

    #[error("the user PIN of token \"{token}\" has expired; change it on the token first")]
    PinExpired { token: String },

    #[error("cannot read the PKCS#11 PIN file {}: {source}", path.display())]
    PinFile {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the PKCS#11 PIN from {source_name} is empty")]
    PinEmpty { source_name: String },

    #[error("environment variable {name} (the PKCS#11 PIN) is not set or not UTF-8")]
    PinEnv { name: String },

    #[error(
        "no private key labelled \"{label}\" on token \"{token}\"; {}",
        key_list(available)
    )]
    KeyNotFound {
        label: String,
        token: String,
        available: Vec<String>,
    },

    #[error(
        "{count} private keys on token \"{token}\" are labelled \"{label}\"; give the key a unique label"
    )]
    KeyAmbiguous {
        label: String,
        token: String,
        count: usize,
    },

    #[error("key \"{label}\" on token \"{token}\" is {found}; Mayfly signs with ECDSA P-256 only")]
    NotP256 {
        label: String,
        token: String,
        found: String,
    },

    #[error("key \"{label}\" on token \"{token}\" may not sign (its CKA_SIGN is false)")]
    CannotSign { label: String, token: String },

    #[error(
        "no public key for key \"{label}\" on token \"{token}\": no public key object has its CKA_ID or label, and the private key has no CKA_PUBLIC_KEY_INFO"
    )]
    PublicKeyMissing { label: String, token: String },

    #[error("the public key of key \"{label}\" on token \"{token}\" is not a valid P-256 point")]
    PublicKeyInvalid { label: String, token: String },

    #[error(
        "the public key found for key \"{label}\" on token \"{token}\" does not belong to its private key (a test signature did not verify)"
    )]
    KeyMismatch { label: String, token: String },

    #[error(
        "token \"{token}\" already holds a key labelled \"{label}\"; refusing to create another (choose a new label or use the existing key)"
    )]
    KeyExists { label: String, token: String },

    #[error("a key label must be 1 to 128 bytes of UTF-8 without control characters")]
    BadLabel,

    #[error("token \"{token}\" is write-protected; cannot create a key on it")]
    TokenReadOnly { token: String },

    #[error("PKCS#11 key \"{label}\" on token \"{token}\" could not sign: {reason}")]
    Sign {
        label: String,
        token: String,
        reason: String,
    },

    #[error("PKCS#11 {operation} on token \"{token}\" failed: {source}")]
    Token {
        token: String,
        operation: &'static str,
        source: cryptoki::error::Error,
    },

    #[error("PKCS#11 {operation} in module {} failed: {source}", module.display())]
    Module {
        module: PathBuf,
        operation: &'static str,
        source: cryptoki::error::Error,
    },
}

fn quoted(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn token_list(available: &[String]) -> String {
    if available.is_empty() {
        "the module has no initialised token (create one with softhsm2-util --init-token or the HSM's tools)".to_owned()
    } else {
        format!("tokens present: {}", quoted(available))
    }
}

fn key_list(available: &[String]) -> String {
    if available.is_empty() {
        "the token holds no private key".to_owned()
    } else {
        format!("private keys present: {}", quoted(available))
    }
}
