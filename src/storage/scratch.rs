//! Throwaway PostgreSQL databases for tests: each test gets a schema of its own in the test
//! server's database, named in its URL (`search_path`), created for the test and dropped when
//! it ends, so tests run in parallel without sharing rows. A schema, not a database: creating
//! a database costs PostgreSQL about a second, a schema a millisecond. The server is
//! `MAYFLY_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`, the CI machines'
//! server with trust authentication).

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::sync::atomic::{AtomicU64, Ordering};

/// The database tests connect to for creating and dropping their own.
pub fn admin_url() -> String {
    std::env::var("MAYFLY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty schema on the test server, dropped (best effort) on drop.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    admin: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates the schema. Panics, saying what to do, when the server cannot be reached: a
    /// PostgreSQL test must fail, not pass without having run.
    pub async fn create() -> ScratchDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let admin = admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "mayfly_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let shown = super::redact(&admin);
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {shown} ({e}); the PostgreSQL variants of the \
                 tests need it: start the server (pg_ctlcluster <version> main start) or point \
                 MAYFLY_TEST_POSTGRES at one"
            )
        });
        // The name is ours (digits and underscores), never input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE SCHEMA {name} on {shown}: {e}"));
        let _ = conn.close().await;
        // Every connection to this URL works in the schema alone, and is named after it so
        // the drop can end the ones a test left open.
        let mut url = url::Url::parse(&admin).expect("MAYFLY_TEST_POSTGRES is a URL");
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={name}"))
            .append_pair("application_name", &name);
        ScratchDatabase {
            name,
            admin,
            url: url.to_string(),
        }
    }

    /// The URL to give `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    /// Drops the schema on a thread of its own (drop cannot await), after ending any
    /// connection a test left open (one holding a lock would block the drop). A failure
    /// leaves a stray schema behind, nothing worse.
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(mut conn) = PgConnection::connect(&admin).await else {
                    return;
                };
                let _ = sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&name)
                .execute(&mut conn)
                .await;
                let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            });
        });
        let _ = dropper.join();
    }
}
