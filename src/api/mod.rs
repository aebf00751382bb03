//! The HTTP surface: one axum router for every API on one listener.

mod audit;
mod dev_oidc;
mod error;
mod explorer;
mod fulcio;
mod json_errors;
mod rekor;
mod rekor_v2;
mod request_metrics;
mod tiles;
mod trust;
mod tsa;
mod tuf;
mod verify_pool;

pub use error::{ApiError, FulcioError};
pub use fulcio::MAX_SIGNING_BODY;
pub use request_metrics::install_recorder as install_metrics_recorder;
pub use verify_pool::VerifyPool;

use crate::ca::pipeline::Issuer;
use crate::identity::dev_issuer::DevIssuer;
use crate::instance::PublicUrl;
use crate::log::Log;
use crate::storage::Store;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// Largest request body any endpoint accepts: Fulcio's 4 MiB. Log reads take none.
const MAX_BODY_BYTES: usize = MAX_SIGNING_BODY;

/// What every handler can reach.
pub struct AppState {
    pub issuance: Log<Store>,
    /// The search index's follower of both logs.
    pub index: crate::index::Indexer,
    pub artifacts: Log<Store>,
    /// The Rekor v2 log (`/api/v2/log/entries`), a shard of its own.
    pub rekor_v2: Log<Store>,
    /// The CA and the pipeline every certificate request goes through.
    pub issuer: Issuer,
    /// Where clients reach this instance; trust material and log names derive from it.
    pub public_url: PublicUrl,
    /// The built-in development issuer, when `--dev-issuer` is on.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    pub metrics: Option<PrometheusHandle>,
    /// Where proposed entries are verified, off the async workers.
    pub verify_pool: VerifyPool,
    /// Certificate and Rekor write requests per client address.
    pub client_limit: crate::ratelimit::RateLimiter,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The TUF repository served under `/tuf/` (absent until `mayfly tuf init`).
    pub tuf_repository: std::path::PathBuf,
    /// The RFC 3161 timestamp authority behind `/api/v1/timestamp`.
    pub tsa: Arc<crate::tsa::TimestampAuthority>,
}

pub type SharedState = Arc<AppState>;

pub fn router(state: SharedState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(tiles::router())
        .merge(fulcio::router())
        .merge(rekor::router())
        .merge(rekor_v2::router())
        .merge(audit::router())
        .merge(trust::router())
        .merge(tuf::router())
        .merge(tsa::router())
        .merge(explorer::router());
    if state.dev_issuer.is_some() {
        router = router.merge(dev_oidc::router());
    }
    router
        // Both limits say the same: the extractors' (which axum defaults to 2 MB) and the
        // transport's, which also bounds bodies no extractor reads.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::from_fn(json_errors::json_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(request_metrics::record))
        .with_state(state)
}

/// The per-client rate limit of write requests: keyed by the peer, or behind a trusted proxy
/// by the client its `X-Forwarded-For` names (IPv6 by /64).
fn check_client_limit(
    state: &AppState,
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Result<(), crate::ratelimit::RetryAfter> {
    if state.client_limit.rate().is_off() {
        return Ok(());
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    let client =
        crate::ratelimit::client_address(peer.ip(), forwarded.as_deref(), &state.trusted_proxies);
    let key = crate::ratelimit::rate_limit_key(client);
    state
        .client_limit
        .check(&key, std::time::Instant::now())
        .inspect_err(|_| {
            metrics::counter!("mayfly_rate_limited_total", "limit" => "client").increment(1);
        })
}

/// [`check_client_limit`] as the Rekor endpoints (v1 and v2) answer it: 429 with Retry-After.
fn limit_rekor_client(
    state: &AppState,
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    check_client_limit(state, peer, headers).map_err(|retry_after| ApiError::RateLimited {
        message: format!(
            "too many requests from this client; retry in {} s",
            retry_after.header_secs()
        ),
        retry_after: retry_after.header_secs(),
    })
}

/// 200 once every log is sequencing; 503 if one has stopped.
async fn healthz(State(state): State<SharedState>) -> impl IntoResponse {
    if state.issuance.is_healthy() && state.artifacts.is_healthy() && state.rekor_v2.is_healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "a log has stopped; see the server log\n",
        )
    }
}

async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
