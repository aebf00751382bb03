//! `mayfly audit`: the auditor's client.
//!
//! - [`search`]: the issuance log's certificates from the search API, each inclusion proof and
//!   checkpoint signature checked against the trusted root before anything is printed.
//! - [`watch`]: follows both logs through their signed checkpoints and tiles, proves each new
//!   checkpoint consistent with the last one seen, and reports certificates for watched
//!   repositories and identities.

pub mod search;
pub mod watch;

pub use search::{AuditError, SearchOptions, search, table, verify_answers};
