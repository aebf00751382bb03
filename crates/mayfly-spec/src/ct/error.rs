/// Why CT bytes could not be parsed or produced.
///
/// Parse errors carry no offsets on purpose: the inputs are certificates and SCTs the caller
/// either built itself (where any failure is a bug) or received from a peer (where the only
/// useful answer is "reject").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtError {
    /// The DER is not a strict, definite-length encoding of what was expected.
    #[error("malformed DER: {0}")]
    MalformedDer(&'static str),
    /// The extension to remove is not in the TBSCertificate.
    #[error("extension {0} not present")]
    ExtensionNotFound(String),
    /// The extension occurs more than once, so "the" extension is ambiguous (RFC 5280 §4.2
    /// forbids it anyway).
    #[error("extension {0} present more than once")]
    DuplicateExtension(String),
    /// An OID given by the caller cannot be DER-encoded (fewer than two arcs, first arc > 2...).
    #[error("invalid object identifier")]
    InvalidOid,
    /// The bytes are not a well-formed TLS encoding of an SCT, SCT list or CT extension list.
    #[error("malformed SCT encoding: {0}")]
    MalformedSct(&'static str),
    /// The SCT uses a version or algorithm this module does not speak (only v1 with
    /// ECDSA/SHA-256 is accepted).
    #[error("unsupported SCT: {0}")]
    UnsupportedSct(&'static str),
    /// A value does not fit the length or width field the wire format gives it.
    #[error("{what} too large: {len} exceeds {max}")]
    TooLarge {
        what: &'static str,
        len: u64,
        max: u64,
    },
}

impl From<crate::der::DerError> for CtError {
    fn from(e: crate::der::DerError) -> Self {
        match e {
            crate::der::DerError::Malformed(why) => CtError::MalformedDer(why),
            crate::der::DerError::InvalidOid => CtError::InvalidOid,
        }
    }
}
