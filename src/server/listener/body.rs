//! The service hyper calls: counts the request in progress for the connection's driver and
//! bounds the time to receive the request body.
//!
//! The body timeout is enforced where the body is read: the request body is wrapped so that
//! a read still waiting for data after the deadline fails. Handlers see that as a body error
//! (axum's extractors turn it into a 400), so the wrapper also flags the request and the
//! service replaces whatever the handler answered with a 408 and `Connection: close`; the
//! rest of the body is never read, so hyper closes the connection after the 408.
//! A handler that never reads its body is not affected: hyper discards an unread body after
//! the response only if it has already arrived, and otherwise closes the connection.

use super::conn::{ConnState, RequestGuard};
use super::duration::format_duration;
use axum::body::Body as AxumBody;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error a handler sees when the body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within {}", format_duration(*.0))]
pub struct BodyTimeout(pub Duration);

/// A request body that fails once `deadline` has passed while waiting for more data.
/// Data that has already arrived is always delivered, however late the handler reads it.
pub(crate) struct TimedBody<B> {
    inner: B,
    deadline: Instant,
    limit: Duration,
    /// Created at the first read that has to wait, so requests whose body came with the
    /// head (or that have none) never touch the timer.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        // After expiry, keep failing: answering `None` would pass a truncated body off as
        // complete to a handler that reads on after an error.
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimeout(this.limit).into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyTimeout(this.limit).into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.expired.load(Ordering::Relaxed) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body: the router's, plus the [`RequestGuard`] that keeps the request
/// counted as in progress until hyper has taken the last frame and dropped the body.
pub(crate) struct ResponseBody {
    inner: AxumBody,
    _guard: RequestGuard,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The per-connection hyper service around the application router.
#[derive(Clone)]
pub(crate) struct ConnService {
    pub(crate) router: axum::Router,
    pub(crate) state: Arc<ConnState>,
    pub(crate) body_timeout: Duration,
    /// The client's address, handed to handlers as axum's `ConnectInfo` (for per-client
    /// rate limits).
    pub(crate) peer: std::net::SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        // hyper calls the service when the request head is complete.
        let guard = RequestGuard::begin(Arc::clone(&self.state));
        let limit = self.body_timeout;
        let expired = Arc::new(AtomicBool::new(false));
        let mut request = request.map(|inner| TimedBody {
            inner,
            deadline: Instant::now() + limit,
            limit,
            sleep: None,
            expired: Arc::clone(&expired),
        });
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let mut router = self.router.clone();
        Box::pin(async move {
            let ready = std::future::poll_fn(|cx| {
                <axum::Router as Service<Request<TimedBody<Incoming>>>>::poll_ready(&mut router, cx)
            })
            .await;
            let response = match ready {
                Ok(()) => match router.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                Err(never) => match never {},
            };
            let response = if expired.load(Ordering::Relaxed) {
                metrics::counter!("mayfly_connections_closed_total", "reason" => "body_timeout")
                    .increment(1);
                tracing::debug!(limit = %format_duration(limit), "request body timed out; answering 408");
                body_timeout_response(limit)
            } else {
                response
            };
            Ok(response.map(|inner| ResponseBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// 408 in the `{"code", "message"}` shape of Mayfly's API errors.
fn body_timeout_response(limit: Duration) -> Response<AxumBody> {
    let body = format!(
        r#"{{"code":408,"message":"request body not received within {}"}}"#,
        format_duration(limit)
    );
    let mut response = Response::new(AxumBody::from(body));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The unread rest of the body makes the connection unusable for another request.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
