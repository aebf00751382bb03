//! Storage backends for the log engine. The only module that knows SQL.

pub mod sqlite;

pub use sqlite::SqliteStore;

/// The store the server runs on. (A PostgreSQL backend will make this an enum.)
pub type Store = SqliteStore;
