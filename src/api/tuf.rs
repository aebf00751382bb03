//! `/tuf/*`: the TUF repository `mayfly tuf init` / `update` write into the data dir, as
//! static files (see `crate::tuf`).
//!
//! Only names a TUF client fetches are served: `<file>` or `targets/<file>`, each made of
//! ASCII letters, digits, `.`, `_` and `-`, not starting with a dot. So no path can leave
//! the repository directory, and there is no directory listing.

use super::{ApiError, SharedState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(super) fn router() -> Router<SharedState> {
    Router::new().route("/tuf/{*path}", get(file))
}

async fn file(
    State(state): State<SharedState>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let relative =
        repository_path(&path).ok_or_else(|| ApiError::NotFound(format!("no TUF file {path}")))?;
    let full = state.tuf_repository.join(relative);
    let bytes = match tokio::fs::read(&full).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound(format!(
                "no TUF file {path} (has `mayfly tuf init` been run for this data dir?)"
            )));
        }
        Err(e) => return Err(ApiError::Internal(format!("cannot read {path}: {e}"))),
    };
    let content_type = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    // Metadata changes under the same name (timestamp.json) or must be seen promptly
    // (the next N.root.json): caches must revalidate.
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response())
}

/// The repository-relative path for a request path, or `None` for anything a TUF client
/// never asks for.
fn repository_path(path: &str) -> Option<std::path::PathBuf> {
    let safe = |name: &str| {
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    match path.split('/').collect::<Vec<_>>().as_slice() {
        // `targets` alone is the directory, not a file.
        [name] if safe(name) && *name != "targets" => Some(name.into()),
        ["targets", name] if safe(name) => Some(std::path::Path::new("targets").join(name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::repository_path;

    #[test]
    fn only_metadata_and_target_names_map_to_files() {
        assert!(repository_path("1.root.json").is_some());
        assert!(repository_path("timestamp.json").is_some());
        assert!(repository_path("targets/ab12.trusted_root.json").is_some());
        for bad in [
            "",
            "..",
            "../keys/root.pk8",
            "targets/../x",
            "targets/",
            "targets",
            ".hidden",
            "a/b",
            "targets/a/b",
            "x%2F..",
            "a\\b",
            "targets/.x",
        ] {
            assert!(repository_path(bad).is_none(), "{bad}");
        }
    }
}
