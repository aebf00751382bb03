//! Work on a stopped instance's database: `mayfly index rebuild`.

use super::ServerError;
use crate::index::RebuildReport;
use crate::instance::DataDir;
use crate::storage::{DatabaseUrl, Store};
use std::path::Path;

/// Empties the search index of the instance in `data_dir` (or at `database_url`) and refills
/// it from the logs alone. Run it with every replica stopped: a running indexer would race the
/// rebuild for the same entries (safely, as positions move by compare-and-swap, but for no gain).
pub async fn rebuild_index(
    data_dir: &Path,
    database_url: Option<&str>,
) -> Result<RebuildReport, ServerError> {
    let database = match database_url {
        Some(url) => DatabaseUrl::parse(url)?,
        None => DatabaseUrl::sqlite(&DataDir::new(data_dir).database()),
    };
    if let Some(file) = database.local_file()
        && !file.exists()
    {
        return Err(ServerError::Config(format!(
            "{} does not exist: no Mayfly instance there",
            file.display()
        )));
    }
    let store = Store::open(&database).await?;
    let report = crate::index::rebuild(&store).await;
    store.close().await;
    Ok(report?)
}
