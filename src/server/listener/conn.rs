//! One connection's life: what it is waiting for, which deadline applies, and the driver
//! that closes it when a deadline passes, when it is evicted, or when shutdown starts.
//!
//! hyper 1 knows a single client-side deadline (`header_read_timeout`), restarted whenever
//! it waits for a request head, so on its own it cannot give idle keep-alive connections a
//! different timeout from slow headers, nor bound a client that stops reading. So the
//! connection's phase is tracked here, from three places that all run on the connection's
//! own task (HTTP/1 polls the service and both bodies inline):
//! - [`TrackedStream`] sees bytes read while no request is in progress (a head has begun)
//!   and writes that cannot proceed (the client is not reading);
//! - [`RequestGuard`] (made when hyper hands a complete head to the service, dropped when
//!   hyper drops the response body) counts the request in progress;
//! - the driver, after every poll of the connection, works out the deadline that applies
//!   now and sleeps until it.

use super::limits::ConnectionLimits;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Why the server closed a connection on its own (the `reason` label of
/// `mayfly_connections_closed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// No complete request head within `header_read_timeout`.
    HeaderTimeout,
    /// Keep-alive connection without a new request within `keep_alive_idle_timeout`.
    IdleTimeout,
    /// A write made no progress for `keep_alive_idle_timeout`: the client stopped reading.
    SendTimeout,
    /// Closed to make room for a new connection at the `max_connections` cap.
    Evicted,
    /// Shutdown started and the connection had no request in progress.
    Shutdown,
}

impl CloseReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::SendTimeout => "send_timeout",
            CloseReason::Evicted => "evicted",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// What a connection is doing, shared between its task and the admission registry.
pub(crate) struct ConnState {
    accepted_at: Instant,
    activity: Mutex<Activity>,
}

struct Activity {
    /// Requests whose head was complete (handed to the service) on this connection.
    requests: u64,
    /// Requests handed to the service whose response body hyper has not dropped yet.
    /// At most 1 for HTTP/1 (hyper does not process pipelined requests concurrently).
    in_flight: u32,
    /// When `in_flight` last became 0 (the accept time before the first request).
    idle_since: Instant,
    /// When the first byte was read while `in_flight` was 0, i.e. a new head began.
    head_started: Option<Instant>,
    /// When a write last returned `Pending`, until one makes progress.
    write_blocked_since: Option<Instant>,
    /// Set by the registry: close if still without a request in progress.
    evict: bool,
    /// Set at shutdown: finish the request in progress, then close.
    drain: bool,
    /// The connection task's waker, so that `evict` and `drain` take effect at once.
    waker: Option<Waker>,
}

impl ConnState {
    pub(crate) fn new(now: Instant) -> Self {
        ConnState {
            accepted_at: now,
            activity: Mutex::new(Activity {
                requests: 0,
                in_flight: 0,
                idle_since: now,
                head_started: None,
                write_blocked_since: None,
                evict: false,
                drain: false,
                waker: None,
            }),
        }
    }

    /// Every critical section below only assigns plain fields and cannot panic, so a
    /// poisoned lock (a panic elsewhere while it was held) still guards consistent data.
    fn lock(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// For eviction: `Some(since)` if the connection has nothing in progress and has been
    /// so since `since` (or waiting for its first head since it was accepted).
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        let a = self.lock();
        (a.in_flight == 0 && a.write_blocked_since.is_none() && !a.evict).then_some(a.idle_since)
    }

    /// Asks the connection to close if it is still idle when its task next runs (the task
    /// checks again: only it can tell whether a request has started in between).
    pub(crate) fn request_eviction(&self) {
        let mut a = self.lock();
        a.evict = true;
        if let Some(waker) = a.waker.take() {
            waker.wake();
        }
    }

    /// Starts the shutdown of this connection.
    pub(crate) fn request_drain(&self) {
        let mut a = self.lock();
        a.drain = true;
        if let Some(waker) = a.waker.take() {
            waker.wake();
        }
    }

    fn on_read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut a = self.lock();
        if a.in_flight == 0 && a.head_started.is_none() {
            a.head_started = Some(Instant::now());
        }
    }

    fn on_write(&self, blocked: bool) {
        let mut a = self.lock();
        match (blocked, a.write_blocked_since) {
            (true, None) => a.write_blocked_since = Some(Instant::now()),
            (false, Some(_)) => a.write_blocked_since = None,
            _ => {}
        }
    }
}

/// Counts one request in progress, from the service call to hyper dropping the response
/// body (after its last frame, or when the connection ends), or to the service future
/// being dropped.
pub(crate) struct RequestGuard(Arc<ConnState>);

impl RequestGuard {
    pub(crate) fn begin(state: Arc<ConnState>) -> Self {
        {
            let mut a = state.lock();
            a.requests += 1;
            a.in_flight += 1;
            a.head_started = None;
        }
        RequestGuard(state)
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut a = self.0.lock();
        a.in_flight = a.in_flight.saturating_sub(1);
        if a.in_flight == 0 {
            a.idle_since = Instant::now();
            a.head_started = None;
        }
    }
}

/// What the driver should do next, worked out under one lock after each poll.
struct Next {
    drain: bool,
    /// `Some` if an eviction was requested: whether the connection may still be evicted.
    evict: Option<bool>,
    deadline: Option<(Instant, CloseReason)>,
}

impl ConnState {
    fn next(&self, waker: &Waker, limits: &ConnectionLimits, draining: bool) -> Next {
        let mut a = self.lock();
        if !a.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            a.waker = Some(waker.clone());
        }
        let idle = a.in_flight == 0 && a.write_blocked_since.is_none();
        let evict = a.evict.then_some(idle);
        // A declined eviction is forgotten; the registry will pick another victim.
        a.evict = false;
        let deadline = if let Some(since) = a.write_blocked_since {
            Some((
                since + limits.keep_alive_idle_timeout,
                CloseReason::SendTimeout,
            ))
        } else if a.in_flight > 0 {
            // Reading the body is bounded by the body timer; the handler's own work is not
            // the client's doing and has no deadline here.
            None
        } else if draining {
            Some((Instant::now(), CloseReason::Shutdown))
        } else if a.requests == 0 {
            Some((
                self.accepted_at + limits.header_read_timeout,
                CloseReason::HeaderTimeout,
            ))
        } else if let Some(started) = a.head_started {
            Some((
                started + limits.header_read_timeout,
                CloseReason::HeaderTimeout,
            ))
        } else {
            Some((
                a.idle_since + limits.keep_alive_idle_timeout,
                CloseReason::IdleTimeout,
            ))
        };
        Next {
            drain: a.drain,
            evict,
            deadline,
        }
    }
}

/// How a connection ended.
pub(crate) enum Outcome {
    /// hyper finished it: the client closed, or keep-alive ended, or a protocol error.
    Finished(Result<(), hyper::Error>),
    /// The server closed it.
    Closed(CloseReason),
}

/// The hyper connection future, as far as the driver needs it.
pub(crate) trait GracefulConnection: Future<Output = Result<(), hyper::Error>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::Connection::graceful_shutdown(self)
    }
}

/// Runs `conn` until hyper finishes it or the server closes it. Dropping the connection
/// (on return) closes the socket; a close by the server is counted in
/// `mayfly_connections_closed_total` before that, so whoever sees the socket close also finds
/// it in the metrics.
pub(crate) async fn drive<C: GracefulConnection>(
    conn: C,
    state: &ConnState,
    limits: &ConnectionLimits,
) -> Outcome {
    let mut conn = std::pin::pin!(conn);
    // Re-armed to whichever deadline applies; `sleep_until` with the accept deadline is the
    // first one anyway.
    let mut sleep: Pin<&mut Sleep> = std::pin::pin!(tokio::time::sleep_until(
        state.accepted_at + limits.header_read_timeout
    ));
    let mut draining = false;
    let outcome = std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(Outcome::Finished(result));
            }
            let next = state.next(cx.waker(), limits, draining);
            if next.drain && !draining {
                draining = true;
                // hyper closes an idle keep-alive connection at once, and one with a request
                // in progress after its response; poll again to let it.
                conn.as_mut().graceful_shutdown();
                continue;
            }
            if next.evict == Some(true) {
                return Poll::Ready(Outcome::Closed(CloseReason::Evicted));
            }
            let Some((deadline, reason)) = next.deadline else {
                return Poll::Pending;
            };
            if deadline <= Instant::now() {
                return Poll::Ready(Outcome::Closed(reason));
            }
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            match sleep.as_mut().poll(cx) {
                // The deadline may have moved since; the next turn of the loop decides.
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
    if let Outcome::Closed(reason) = &outcome {
        metrics::counter!("mayfly_connections_closed_total", "reason" => reason.as_str())
            .increment(1);
    }
    outcome
}

/// The accepted socket, reporting reads and blocked writes to the connection's state.
pub(crate) struct TrackedStream {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl TrackedStream {
    pub(crate) fn new(inner: TcpStream, state: Arc<ConnState>) -> Self {
        TrackedStream { inner, state }
    }

    fn track_write<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.state.on_write(poll.is_pending());
        poll
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            self.state.on_read(buf.filled().len() - before);
        }
        poll
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track_write(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track_write(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.track_write(poll)
    }
}
