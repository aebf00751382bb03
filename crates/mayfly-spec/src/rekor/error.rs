//! Why a proposed Rekor entry was refused. Every variant is the client's fault and is answered
//! with 400 "error processing entry: <message>", so each message names the field and what to fix.

use crate::subject_key::SubjectKeyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekorError {
    #[error("the request body is not valid JSON: {0}")]
    Json(String),
    #[error("unsupported entry kind {0:?}; this log accepts hashedrekord, dsse and intoto")]
    UnknownKind(String),
    #[error("unsupported apiVersion {version:?} for kind {kind}; supported: {supported}")]
    UnknownVersion {
        kind: &'static str,
        version: String,
        supported: &'static str,
    },
    /// A field is missing, has the wrong type or an invalid value; `field` is its JSON path.
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
    #[error("{field}: not valid base64")]
    Base64 { field: String },
    #[error("{field}: {problem}")]
    PublicKey { field: String, problem: String },
    #[error("{field}: {reason}")]
    Key {
        field: String,
        reason: SubjectKeyError,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Signature(String),
    #[error("entry reference {0:?} is neither a 64-hex UUID nor an 80-hex entry ID")]
    EntryRef(String),
}

impl RekorError {
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        RekorError::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
