//! The one error type of the verifier. Each variant is one check; its message starts with the
//! check's name so a user (and a test) can tell *which* check refused the bundle and why.

/// Why a bundle was refused. Every check fails closed: any variant means "not verified".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bundle JSON is malformed, or has a shape no client produces (media type, certificate
    /// form, number of tlog entries, kind/version, content).
    #[error("bundle: {0}")]
    Bundle(String),
    /// The trusted root JSON is malformed or lacks what the check needs.
    #[error("trusted root: {0}")]
    TrustedRoot(String),
    /// The tlog entry names a log that is not in the trusted root (or whose key was not valid
    /// at the integrated time).
    #[error("tlog: {0}")]
    UnknownTlog(String),
    /// The signed entry timestamp (inclusion promise) does not verify.
    #[error("SET: {0}")]
    Set(String),
    /// The checkpoint (signed note) is malformed or its signature does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The Merkle inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    InclusionProof(String),
    /// An RFC 3161 timestamp of the bundle does not verify (which one, and which check).
    #[error("RFC 3161 timestamp: {0}")]
    Timestamp(String),
    /// Neither an inclusion promise nor a proof; or no time we can trust.
    #[error("signing time: {0}")]
    Time(String),
    /// The certificate does not chain to a trusted CA, or one of its properties is wrong.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The embedded SCT is missing, unknown, or does not verify.
    #[error("SCT: {0}")]
    Sct(String),
    /// The canonicalized body disagrees with the rest of the bundle.
    #[error("tlog body: {0}")]
    Body(String),
    /// The artifact does not match what was signed.
    #[error("artifact: {0}")]
    Artifact(String),
    /// The message or DSSE signature does not verify under the certificate's key.
    #[error("signature: {0}")]
    Signature(String),
    /// The public key given for a managed-key bundle is unusable.
    #[error("public key: {0}")]
    Key(String),
    /// The certificate's identity does not satisfy the policy.
    #[error("identity: {0}")]
    Identity(String),
    /// An npm check (tarball, PURL, digest, provenance vs. certificate) failed.
    #[error("npm: {0}")]
    Npm(String),
}

impl From<mayfly_spec::sigstore::DocumentError> for VerifyError {
    fn from(e: mayfly_spec::sigstore::DocumentError) -> Self {
        use mayfly_spec::sigstore::DocumentError;
        match e {
            DocumentError::Bundle(m) => VerifyError::Bundle(m),
            DocumentError::TrustedRoot(m) => VerifyError::TrustedRoot(m),
        }
    }
}
