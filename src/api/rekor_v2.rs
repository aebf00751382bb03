//! Rekor v2 API (rekor-tiles) on its own log: `POST /api/v2/log/entries`
//! (rekor-bundle-npm.md §2).
//!
//! Served at both `/api/v2/log/entries` and `<public>/logs/rekor-v2/api/v2/log/entries`: the
//! signing config names the v2 log by its base URL `<public>/logs/rekor-v2` (which must contain
//! its checkpoint key name), and clients append `/api/v2/log/entries` to it.
//!
//! As with v1, an entry is parsed and verified by [`mayfly_spec::rekor::v2`] before the log sees
//! it, and answered only once its batch is durable, with an inclusion proof against the
//! checkpoint that batch signed. The answer is a `TransparencyLogEntry` in protobuf JSON with
//! 200, as rekor-tiles' grpc-gateway answers (clients accept any 2xx). A repeated entry gets
//! rekor-tiles' 409 with `x-log-index`; errors are grpc-gateway status bodies.

use super::error::RekorV2Error;
use super::{ApiError, SharedState};
use crate::log::Appended;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mayfly_spec::rekor::v2::{Logged, canonicalize_v2, transparency_log_entry};
use std::net::SocketAddr;

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route("/api/v2/log/entries", post(create))
        .route("/logs/rekor-v2/api/v2/log/entries", post(create))
}

async fn create(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Bytes,
) -> Result<Response, ApiError> {
    super::limit_rekor_client(&state, peer, &headers)?;
    let entry = state
        .verify_pool
        .run(move || canonicalize_v2(&request))
        .await?
        .map_err(|e| {
            metrics::counter!("mayfly_rekor_v2_entries_total", "result" => "rejected").increment(1);
            RekorV2Error::Invalid(e)
        })?;
    let kind = entry.kind;
    let log = &state.rekor_v2;
    // The body is kept for the answer's `canonicalizedBody`: it is the stored leaf, byte for
    // byte, which verifiers re-encode from the bundle and compare.
    match log
        .append(entry.body.clone())
        .await
        .map_err(RekorV2Error::Log)?
    {
        Appended::New(sequenced) => {
            metrics::counter!("mayfly_rekor_v2_entries_total", "kind" => kind.name(), "result" => "created")
                .increment(1);
            let proof = sequenced.inclusion_proof().map_err(RekorV2Error::Log)?;
            let log_id = log.key().log_id();
            let answer = transparency_log_entry(&Logged {
                kind,
                body: &entry.body,
                log_index: sequenced.index,
                log_id: &log_id.0,
                tree_size: sequenced.checkpoint.size,
                root: &sequenced.checkpoint.root,
                proof: &proof,
                checkpoint: &sequenced.checkpoint.note,
            });
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                answer.to_string(),
            )
                .into_response())
        }
        Appended::Existing(record) => {
            metrics::counter!("mayfly_rekor_v2_entries_total", "kind" => kind.name(), "result" => "existing")
                .increment(1);
            Err(RekorV2Error::Conflict {
                index: record.index,
            }
            .into())
        }
    }
}
