//! Shared test harness: a real axum router served by `mayfly::server::listener::serve` on an
//! ephemeral port, raw-TCP clients, and a metrics recorder.
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use mayfly::server::listener::{ConnectionLimits, serve};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// The short timeout the tests use for the phase under test.
pub const T: Duration = Duration::from_millis(300);
/// What a close may come after its deadline on a busy 2-core machine.
pub const SLACK: Duration = Duration::from_millis(400);
/// What a close may come before its deadline as the client measures it (the client starts
/// its clock just before the server does).
pub const EARLY: Duration = Duration::from_millis(10);

pub fn fast_limits() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: T,
        body_read_timeout: T,
        keep_alive_idle_timeout: T * 2,
        max_connections: 256,
        max_connections_per_ip: 256,
        shutdown_grace: Duration::from_secs(2),
    }
}

#[derive(Clone)]
struct AppState {
    started: Option<mpsc::UnboundedSender<()>>,
}

/// `/healthz`; `POST /slow` reads its body, reports on `started`, sleeps `x-delay-ms` and
/// answers the body length; `/stream` answers an endless body.
pub fn router(started: Option<mpsc::UnboundedSender<()>>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/slow", post(slow))
        .route("/stream", get(|| async { Body::new(Endless) }))
        .with_state(AppState { started })
}

async fn slow(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> String {
    if let Some(started) = &state.started {
        let _ = started.send(());
    }
    let delay = headers
        .get("x-delay-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    body.len().to_string()
}

static CHUNK: [u8; 65536] = [b'x'; 65536];

struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(&CHUNK)))))
    }
}

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(limits: ConnectionLimits) -> Server {
        Self::start_with(router(None), limits).await
    }

    pub async fn start_with(app: Router, limits: ConnectionLimits) -> Server {
        let listener = mayfly::server::listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads until the server closes the connection (EOF or reset), at most `max`; returns the
/// time from `since` and what was received.
pub async fn wait_closed(
    stream: &mut TcpStream,
    since: Instant,
    max: Duration,
) -> (Duration, Vec<u8>) {
    let mut received = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = tokio::time::Instant::now() + max;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {max:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return (since.elapsed(), received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Asserts that a close measured at `elapsed` came at `deadline` (not early, not late).
pub fn assert_closed_at(what: &str, elapsed: Duration, deadline: Duration) {
    eprintln!("{what}: closed after {elapsed:?} (deadline {deadline:?})");
    assert!(
        elapsed + EARLY >= deadline,
        "{what}: closed too early, after {elapsed:?} (deadline {deadline:?})"
    );
    assert!(
        elapsed <= deadline + SLACK,
        "{what}: closed too late, after {elapsed:?} (deadline {deadline:?})"
    );
}

pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Reads one response with a Content-Length body.
pub async fn read_response(stream: &mut TcpStream) -> Response {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let mut response = Response {
        status,
        head,
        body: data[head_end..].to_vec(),
    };
    let length: usize = response
        .header("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    while response.body.len() < length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed inside a response body");
        response.body.extend_from_slice(&buf[..n]);
    }
    response
}

pub async fn request(stream: &mut TcpStream, raw: &str) -> Response {
    stream.write_all(raw.as_bytes()).await.unwrap();
    read_response(stream).await
}

pub const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// `GET /healthz` on a new connection; the time it took.
pub async fn healthz(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let response = request(&mut stream, HEALTHZ).await;
    assert_eq!((response.status, &response.body[..]), (200, &b"ok"[..]));
    start.elapsed()
}

/// The metrics recorded in this test binary, accumulated across snapshots (a snapshot of
/// the debugging recorder resets what it reads, gauges included).
pub struct Metrics {
    snapshotter: Snapshotter,
    totals: Mutex<HashMap<String, f64>>,
}

impl Metrics {
    pub fn get() -> &'static Metrics {
        static METRICS: OnceLock<Metrics> = OnceLock::new();
        METRICS.get_or_init(|| {
            let recorder = DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            recorder.install().unwrap();
            mayfly::server::listener::describe_metrics();
            Metrics {
                snapshotter,
                totals: Mutex::new(HashMap::new()),
            }
        })
    }

    /// `name` or `name{label=value}` (one label at most here).
    pub fn value(&self, key: &str) -> f64 {
        let mut totals = self.totals.lock().unwrap();
        for (composite, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = composite.key();
            let mut name = key.name().to_owned();
            for label in key.labels() {
                name = format!("{name}{{{}={}}}", label.key(), label.value());
            }
            let delta = match value {
                DebugValue::Counter(c) => c as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(_) => 0.0,
            };
            *totals.entry(name).or_default() += delta;
        }
        totals.get(key).copied().unwrap_or(0.0)
    }
}
