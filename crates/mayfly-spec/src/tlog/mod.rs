//! Transparency-log protocol code: RFC 6962 / RFC 9162 Merkle hashing and proofs, C2SP
//! tlog-tiles tile maths, C2SP signed notes and checkpoints.
//!
//! Everything here is pure: no I/O, no async, no clocks. Storage and sequencing live in
//! [`crate::log`]; this module only says what the bytes are and whether they verify.

pub mod checkpoint;
pub mod compact;
mod error;
pub mod genesis;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tile;

pub use error::TlogError;
pub use hash::{Hash, leaf_hash, node_hash};
