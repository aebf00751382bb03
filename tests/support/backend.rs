//! The database backends every storage, engine and API test runs on.
//!
//! A test written once as `async fn name()` is listed in [`on_both_backends!`], which makes it
//! two tests, `sqlite::name` and `postgres::name`, each running the body with its backend set
//! for the body's task: every `Mayfly` the body starts ([`Backend::current`]) and every store
//! it opens then uses that backend. A PostgreSQL test gets databases of its own on the test
//! server (`mayfly::testing::ScratchDatabase`) and fails, saying so, if the server is down.
#![allow(dead_code)]

use mayfly::storage::{DatabaseUrl, Store};
use mayfly::testing::ScratchDatabase;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

impl Backend {
    /// The backend of the running test (SQLite outside [`on_both_backends!`]).
    pub fn current() -> Backend {
        BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
    }

    /// Runs `test` with this backend as [`Backend::current`].
    pub async fn run(self, test: impl std::future::Future<Output = ()>) {
        BACKEND.scope(self, test).await;
    }

    /// A fresh, empty database of this backend: a file in `dir`, or a scratch database.
    pub async fn database(self, dir: &Path) -> Database {
        match self {
            Backend::Sqlite => Database {
                url: DatabaseUrl::sqlite(&dir.join("mayfly.db")),
                _scratch: None,
            },
            Backend::Postgres => {
                let scratch = ScratchDatabase::create().await;
                Database {
                    url: DatabaseUrl::parse(scratch.url()).unwrap(),
                    _scratch: Some(scratch),
                }
            }
        }
    }
}

/// A test database; a PostgreSQL one is dropped with this.
pub struct Database {
    pub url: DatabaseUrl,
    _scratch: Option<ScratchDatabase>,
}

impl Database {
    /// Opens it (migrating a fresh one).
    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }

    /// The URL as `--database-url` takes it.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Postgres(url) => url.clone(),
            other => other.to_string(),
        }
    }
}

/// `sqlite::NAME` and `postgres::NAME` for each `async fn NAME()` listed, which runs with that
/// [`Backend::current`]. A name may carry `#[tokio::test]`'s arguments in parentheses:
/// `name(flavor = "multi_thread", worker_threads = 2)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident $(($($args:tt)*))?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test $(($($args)*))?]
                async fn $name() {
                    super::Backend::Sqlite.run(super::$name()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test $(($($args)*))?]
                async fn $name() {
                    super::Backend::Postgres.run(super::$name()).await
                }
            )*
        }
    };
}
