//! How long each request takes, by route, method and status:
//! `mayfly_http_request_duration_seconds`, a Prometheus histogram with fixed buckets (so
//! replicas' series add up, and `histogram_quantile` gives a fleet's p99 against an SLO such as
//! "p99 ≤ 50 ms").
//!
//! Measured from when the router has the request's head to when the response's head is ready:
//! reading the body, the handler and its queueing behind the log are inside, the response
//! body's transfer is not. Labels stay bounded whatever clients send: the route is the
//! router's pattern (`/api/v1/log/entries/{entry_uuid}`, never the concrete path), any method
//! beyond the standard ones is `other`, and an unrouted path is `unmatched`.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Instant;

pub(super) const REQUEST_DURATION: &str = "mayfly_http_request_duration_seconds";

/// Upper bounds in seconds: fine around the tens of milliseconds a loaded log answers in, up to
/// the 10 s a request may reasonably take (a client's body trickling in under its timeout).
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub(super) async fn record(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None => "unmatched".to_owned(),
    };
    let method = method_label(request.method());
    let response = next.run(request).await;
    metrics::histogram!(
        REQUEST_DURATION,
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .record(start.elapsed().as_secs_f64());
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Installs the process's Prometheus recorder: request durations as histograms with
/// [`BUCKETS`], every other histogram (batch sizes, commit times) as the exporter's summaries.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), &BUCKETS)?
        .install_recorder()?;
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "time from a request's head to its response's head, by route pattern, method and status"
    );
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
    }
}
