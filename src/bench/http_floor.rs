//! `mayfly bench http-floor`: a server that does nothing but HTTP, for measuring what the
//! HTTP path alone costs on the machine.
//!
//! It serves through the same listener, hyper and axum as `mayfly serve`, reads each request
//! body whole (as the real handlers do before they parse it) and answers every request with
//! the same canned body of a chosen size and status. Loaded with the same tool, connections
//! and request bodies as a real run (`wrk` with the files of `mayfly bench bodies`), it gives
//! the cost that every design pays before it verifies, signs or stores anything: the load
//! generator, the kernel's loopback, hyper and axum. The crypto floor plus that cost is the
//! ceiling a real server could reach on the same cores.

use super::harness::BenchError;
use crate::server::listener::{self, ConnectionLimits};
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::net::SocketAddr;

pub struct Options {
    pub listen: SocketAddr,
    /// The status of every answer (201 for Rekor entries, 200 for certificates).
    pub status: u16,
    /// The size of every answer's body: the size of the real answer being imitated.
    pub reply_bytes: usize,
}

pub async fn run(options: Options) -> Result<(), BenchError> {
    let status = StatusCode::from_u16(options.status)
        .map_err(|_| BenchError::Check(format!("{} is not an HTTP status", options.status)))?;
    // JSON-shaped filler, so that a client that looks at the body sees a string.
    let reply = Bytes::from(canned_json(options.reply_bytes));
    let app = axum::Router::new().fallback(move |body: Bytes| {
        let reply = reply.clone();
        async move {
            // The body is read whole and dropped: the real handlers' parsing is theirs.
            drop(body);
            (status, [(header::CONTENT_TYPE, "application/json")], reply).into_response()
        }
    });
    let listener = listener::bind(options.listen)?;
    // On stderr, with the address: a script (or a test) that asked for port 0 reads it there.
    eprintln!(
        "http-floor: serving {} {}-byte answers on http://{} until Ctrl-C",
        status,
        options.reply_bytes,
        listener.local_addr()?
    );
    let limits = ConnectionLimits::for_nofile_limit(listener::nofile_soft_limit());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    listener::serve(listener, app, limits, shutdown).await?;
    Ok(())
}

/// A JSON string of exactly `len` bytes (at least the two quotes).
fn canned_json(len: usize) -> Vec<u8> {
    let mut body = vec![b'x'; len.max(2)];
    body[0] = b'"';
    let last = body.len() - 1;
    body[last] = b'"';
    body
}

#[cfg(test)]
mod tests {
    use super::canned_json;

    #[test]
    fn the_canned_answer_is_a_json_string_of_the_asked_size() {
        for len in [0, 2, 3, 4096] {
            let body = canned_json(len);
            assert_eq!(body.len(), len.max(2));
            let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
            assert!(value.is_string());
        }
    }
}
