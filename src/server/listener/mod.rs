//! Serves an axum router on a TCP listener with the limits a public server needs:
//!
//! - every phase in which the server waits on the client has a deadline (request head,
//!   request body, idle keep-alive, unread response), so a stalled client holds a
//!   connection for a bounded time ([`ConnectionLimits`]);
//! - connections are capped in total and per client address, below the descriptor limit,
//!   so `accept` does not run out of descriptors; at the total cap the oldest idle
//!   connection makes room for a new one;
//! - accept errors back off instead of spinning, and are logged at most once a second;
//! - shutdown stops accepting, closes idle connections at once, lets requests in progress
//!   finish, and closes whatever is left after `shutdown_grace`.
//!
//! HTTP/1.1 only (with keep-alive), like `axum::serve` without axum's `http2` feature,
//! which is how Mayfly is built; no protocol upgrades.
//!
//! Metrics (`metrics` 0.24; see [`describe_metrics`]):
//! - `mayfly_connections_open` (gauge)
//! - `mayfly_connections_refused_total{reason="max_connections"|"max_connections_per_client"}`
//! - `mayfly_connections_closed_total{reason="header_timeout"|"body_timeout"|"idle_timeout"|"send_timeout"|"evicted"|"shutdown"|"shutdown_grace"}`
//! - `mayfly_accept_errors_total`

mod admission;
mod body;
mod conn;
mod duration;
mod limits;
mod nofile;

pub use body::BodyTimeout;
pub use duration::{DurationError, format_duration, parse_duration};
pub use limits::{
    ConnectionLimits, ConnectionSettings, FLAGS, FlagDoc, LimitsError, MAX_TIMEOUT,
    default_max_connections_per_ip,
};
pub use nofile::{
    MAX_DEFAULT_CONNECTIONS, NOFILE_RESERVE, default_max_connections, nofile_soft_limit,
    raise_nofile_limit,
};

use admission::{Admission, ClientKey, Refusal};
use body::ConnService;
use conn::{Outcome, TrackedStream};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

/// How long the accept loop pauses after an accept error that is not about one connection
/// (out of descriptors, out of memory): long enough not to spin on a full descriptor table,
/// short enough that a freed descriptor is used soon (queued clients wait in the backlog).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Repeated warnings (accept errors, refusals) are logged at most this often, with the
/// number suppressed in between: an attacker must not be able to flood the log.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// Added to hyper's own header-read timer, which backs up the per-phase deadlines here (see
/// [`serve`]).
const BACKSTOP_SLACK: Duration = Duration::from_secs(1);

/// The listen backlog [`bind`] asks for (Linux caps it at `net.core.somaxconn`, 4096 by
/// default). `TcpListener::bind` in tokio (through mio) and std asks for 128, which a
/// burst of connects overflows while the accept loop is busy: the kernel then drops SYNs
/// and those clients wait a full second for their retransmit.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener for [`serve`], like `TcpListener::bind` but with a backlog of
/// [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std and tokio do: a restarted server can bind while old connections linger in
    // TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Registers the help text of the listener's metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_gauge!("mayfly_connections_open", "HTTP connections open now");
    metrics::describe_counter!(
        "mayfly_connections_refused_total",
        "connections closed right after accept, by the cap that refused them"
    );
    metrics::describe_counter!(
        "mayfly_connections_closed_total",
        "connections the server closed on its own, by reason (timeouts, eviction, shutdown)"
    );
    metrics::describe_counter!(
        "mayfly_accept_errors_total",
        "accept() failures other than a single connection's (e.g. out of descriptors)"
    );
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down (see the module
/// documentation) and returns once every connection is closed, at most `shutdown_grace`
/// after `shutdown` resolved (plus the time to close sockets). The caller then finishes its
/// own work (Mayfly: the logs' last batch).
///
/// Errors: only invalid `limits` (`InvalidInput`) and a listener without a local address;
/// accept errors are logged and retried, connection errors are the connection's.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    limits
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let local = listener.local_addr()?;
    let admission = Admission::new(limits.max_connections, limits.max_connections_per_ip);
    let mut http = http1::Builder::new();
    // hyper's header-read timer restarts whenever hyper waits for a head: on a new
    // connection and whenever a keep-alive connection goes idle. The deadlines in `conn`
    // are shorter in every phase, so this one never fires first; it is a backstop that
    // still bounds a connection if the phase tracking were ever wrong.
    http.timer(TokioTimer::new())
        .header_read_timeout(
            limits.header_read_timeout + limits.keep_alive_idle_timeout + BACKSTOP_SLACK,
        )
        .keep_alive(true);
    tracing::info!(
        addr = %local,
        header_timeout = %format_duration(limits.header_read_timeout),
        body_timeout = %format_duration(limits.body_read_timeout),
        idle_timeout = %format_duration(limits.keep_alive_idle_timeout),
        max_connections = limits.max_connections,
        max_connections_per_client = limits.max_connections_per_ip,
        shutdown_grace = %format_duration(limits.shutdown_grace),
        "serving HTTP"
    );

    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_warnings = Throttle::default();
    let mut refusal_warnings = Throttle::default();
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = conns.join_next(), if !conns.is_empty() => {
                report_panic(joined);
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => {
                // The error belongs to one connection that is already gone.
                tracing::debug!(%error, "accept: connection failed before it was accepted");
                continue;
            }
            Err(error) => {
                metrics::counter!("mayfly_accept_errors_total").increment(1);
                if let Some(suppressed) = accept_warnings.ready() {
                    tracing::warn!(
                        %error,
                        suppressed,
                        open = admission.open_connections(),
                        backoff_ms = ACCEPT_BACKOFF.as_millis() as u64,
                        "accept error; pausing accept (is --max-connections above the descriptor limit?)"
                    );
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let admitted = match admission.admit(peer.ip()).await {
            Ok(admitted) => admitted,
            Err(refusal) => {
                // Counted before the close, so that whoever sees the connection refused (a
                // client, a test) also finds it in the metrics.
                refuse(refusal, peer, &limits, &mut refusal_warnings);
                // Closing now frees the descriptor and takes the client out of the backlog.
                drop(stream);
                continue;
            }
        };
        let service = ConnService {
            router: app.clone(),
            state: Arc::clone(admitted.state()),
            body_timeout: limits.body_read_timeout,
            peer,
        };
        let span = tracing::debug_span!("connection", peer = %peer);
        conns.spawn(
            run_connection(stream, admitted, service, http.clone(), limits).instrument(span),
        );
    }

    // Shutdown. Closing the listener makes new connects fail at once instead of queueing.
    drop(listener);
    let open = conns.len();
    tracing::info!(
        open,
        grace = %format_duration(limits.shutdown_grace),
        "shutting down: no longer accepting; idle connections close now, requests in progress may finish"
    );
    admission.drain_all();
    let deadline = Instant::now() + limits.shutdown_grace;
    loop {
        tokio::select! {
            joined = conns.join_next() => match joined {
                Some(joined) => report_panic(joined),
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => {
                let left = conns.len();
                tracing::warn!(
                    left,
                    "shutdown grace elapsed; closing connections whose requests did not finish"
                );
                metrics::counter!("mayfly_connections_closed_total", "reason" => "shutdown_grace")
                    .increment(left as u64);
                conns.abort_all();
                // Aborted tasks drop their connections, and so their sockets, when joined.
                while let Some(joined) = conns.join_next().await {
                    if let Err(error) = joined
                        && error.is_panic()
                    {
                        report_panic(Err(error));
                    }
                }
                break;
            }
        }
    }
    tracing::info!("all connections closed");
    Ok(())
}

async fn run_connection(
    stream: TcpStream,
    admitted: admission::Admitted,
    service: ConnService,
    http: http1::Builder,
    limits: ConnectionLimits,
) {
    let state = Arc::clone(admitted.state());
    let io = TokioIo::new(TrackedStream::new(stream, Arc::clone(&state)));
    let conn = http.serve_connection(io, service);
    let outcome = conn::drive(conn, &state, &limits).await;
    match outcome {
        Outcome::Finished(Ok(())) => tracing::trace!("connection closed"),
        // Resets, malformed requests and the like: the client's problem, not the server's.
        Outcome::Finished(Err(error)) => tracing::debug!(%error, "connection ended with an error"),
        // Counted by `drive`, before the socket closed.
        Outcome::Closed(reason) => {
            tracing::debug!(reason = reason.as_str(), client = %admitted.client(), "closed connection");
        }
    }
    // `admitted` drops here, after the connection (and its socket): the caps never count
    // fewer descriptors than are open.
    drop(admitted);
}

fn refuse(refusal: Refusal, peer: SocketAddr, limits: &ConnectionLimits, warnings: &mut Throttle) {
    metrics::counter!("mayfly_connections_refused_total", "reason" => refusal.as_str())
        .increment(1);
    if let Some(suppressed) = warnings.ready() {
        let cap = match refusal {
            Refusal::PerClient => limits.max_connections_per_ip,
            Refusal::Total => limits.max_connections,
        };
        tracing::warn!(
            client = %ClientKey::of(peer.ip()),
            reason = refusal.as_str(),
            cap,
            suppressed,
            "refused a connection: cap reached"
        );
    }
}

fn report_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        tracing::error!(%error, "connection task panicked");
    }
}

/// Errors `accept` returns for a connection that failed before it could be accepted; the
/// listener itself is fine.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Lets a repeated warning through at most once per [`WARN_INTERVAL`].
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// `Some(number suppressed since the last one)` if this one may be logged.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < WARN_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}
