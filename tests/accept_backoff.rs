//! A misconfigured cap above the descriptor limit: `accept` fails with EMFILE, and the
//! server backs off instead of spinning, logs at most once a second, and recovers when the
//! descriptors come back. (A server of its own binary: the limit is the whole process's.)

mod support;

use mayfly::server::listener::ConnectionLimits;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::flood::{self, Flood};
use support::listener::*;

#[test]
#[ignore = "the flood child process, run by the other test"]
fn flood_child() {
    flood::child_main();
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }
}

#[test]
fn accept_errors_back_off_and_recover() {
    let hard = getrlimit(Resource::Nofile).maximum;
    if hard.is_some_and(|hard| hard < 2_200) {
        eprintln!("SKIPPED: the hard descriptor limit ({hard:?}) is too low for the flood child");
        return;
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(1024),
            maximum: hard,
        },
    )
    .unwrap();
    let logs = LogBuffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let metrics = Metrics::get();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        // Wrong on purpose: more connections than descriptors.
        max_connections: 4_000,
        max_connections_per_ip: 4_000,
        ..fast_limits()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::start(limits));
    let flood = Flood::start("flood_child", server.addr, 1_500, 1);
    assert_eq!(flood.connected, 1_500);
    let errors = || metrics.value("mayfly_accept_errors_total");
    let start = Instant::now();
    while errors() == 0.0 {
        assert!(start.elapsed() < Duration::from_secs(2), "no accept error");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (errors_before, warnings_before) = (errors(), logs.count("accept error"));
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let elapsed = window.elapsed();
    let (retries, warnings) = (
        errors() - errors_before,
        logs.count("accept error") - warnings_before,
    );
    eprintln!(
        "out of descriptors for {elapsed:?}: {retries} accept retries, {warnings} warnings (open {})",
        metrics.value("mayfly_connections_open")
    );
    // 100 ms between retries: about 20 in 2 s, nowhere near a spin.
    assert!((10.0..=25.0).contains(&retries), "{retries}");
    assert!((1..=3).contains(&warnings), "{warnings}");

    // The flood goes away; the descriptors come back and so does the service.
    flood.stop();
    let recovered = Instant::now();
    runtime.block_on(async {
        loop {
            let attempt = tokio::time::timeout(Duration::from_millis(200), healthz(server.addr));
            if let Ok(Ok(took)) = tokio::spawn(attempt).await {
                eprintln!(
                    "/healthz answers again {:?} after the flood ended ({took:?})",
                    recovered.elapsed()
                );
                return;
            }
            assert!(recovered.elapsed() < Duration::from_secs(3), "no recovery");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let warning = String::from_utf8_lossy(&logs.0.lock().unwrap())
        .lines()
        .find(|line| line.contains("accept error"))
        .map(str::to_owned)
        .unwrap();
    eprintln!("the warning: {warning}");
}
