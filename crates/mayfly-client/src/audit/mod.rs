//! `mayfly audit`: the auditor's client.
//!
//! - [`watch`]: follows both logs through their signed checkpoints and tiles, proves each new
//!   checkpoint consistent with the last one seen, and reports certificates for watched
//!   repositories and identities.

pub mod watch;
