//! 2,000 idle connections against a server whose process has a soft descriptor limit of
//! 1,024 and the connection cap derived from it: `/healthz` keeps answering, no accept error.
//!
//! The idle connections come from a child process (see `support::flood`): the test process's
//! own sockets would count against the server's limit. This binary holds one test, because
//! the limit is the whole process's.

mod support;

use mayfly::server::listener::{ConnectionLimits, nofile_soft_limit};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::time::Duration;
use support::flood::{self, Flood};
use support::listener::*;

#[test]
#[ignore = "the flood child process, run by the other test"]
fn flood_child() {
    flood::child_main();
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn idle_flood_under_a_1024_descriptor_limit() {
    let hard = getrlimit(Resource::Nofile).maximum;
    if hard.is_some_and(|hard| hard < 2_200) {
        eprintln!("SKIPPED: the hard descriptor limit ({hard:?}) is too low for the flood child");
        return;
    }
    let soft = 1024;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: hard,
        },
    )
    .unwrap();
    assert_eq!(nofile_soft_limit(), soft);
    let metrics = Metrics::get();
    let limits = ConnectionLimits {
        // The caps, not the timeouts, must do the work here.
        header_read_timeout: Duration::from_secs(60),
        ..ConnectionLimits::for_nofile_limit(soft)
    };
    assert_eq!(
        (limits.max_connections, limits.max_connections_per_ip),
        (896, 224)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::start(limits));
    let started = std::time::Instant::now();
    report_memory("before the flood");

    // 2,000 idle connections from 20 addresses (100 each, under the per-client cap): the
    // total cap is reached, and every connection past it evicts the oldest idle one.
    let probe = Probe::start(&runtime, server.addr);
    let flood = Flood::start("flood_child", server.addr, 2_000, 20);
    eprintln!(
        "{:?}: flood from 20 addresses: {} connected, {} failed; {} descriptors open here",
        started.elapsed(),
        flood.connected,
        flood.failed,
        open_descriptors()
    );
    assert_eq!(flood.connected, 2_000);
    // The child is done once the kernel has completed its handshakes; the server may
    // still be accepting (and evicting) from the backlog. Every connection accepted is
    // either open or evicted.
    let evicted = "mayfly_connections_closed_total{reason=evicted}";
    wait_for(&runtime, || {
        metrics.value(evicted) + metrics.value("mayfly_connections_open") >= 2_000.0
    });
    eprintln!("{:?}: all 2,000 accepted", started.elapsed());
    check_healthz(&runtime, server.addr, "20-address flood");
    let open = metrics.value("mayfly_connections_open");
    eprintln!(
        "open {open}, evicted {}, accept errors {}, descriptors {}",
        metrics.value("mayfly_connections_closed_total{reason=evicted}"),
        metrics.value("mayfly_accept_errors_total"),
        open_descriptors()
    );
    assert!(open <= 896.0, "{open}");
    assert!(metrics.value("mayfly_connections_closed_total{reason=evicted}") >= 1_000.0);
    assert!(open_descriptors() < 1024);
    report_memory("with 896 idle connections held");
    probe.report(&runtime, "during the 20-address flood");
    flood.stop();
    wait_for(&runtime, || metrics.value("mayfly_connections_open") == 0.0);
    eprintln!("{:?}: first flood gone", started.elapsed());

    // 2,000 from one address: the per-client cap refuses all but 224, and other clients are
    // not affected.
    let flood = Flood::start("flood_child", server.addr, 2_000, 1);
    eprintln!(
        "{:?}: flood from 1 address: {} connected",
        started.elapsed(),
        flood.connected
    );
    check_healthz(&runtime, server.addr, "1-address flood");
    // The child has connected; the server may still be working through its backlog.
    let refused = "mayfly_connections_refused_total{reason=max_connections_per_client}";
    wait_for(&runtime, || metrics.value(refused) >= 1_776.0);
    // The /healthz connections above close asynchronously.
    wait_for(&runtime, || {
        metrics.value("mayfly_connections_open") <= 224.0
    });
    eprintln!(
        "per-client refusals {}, open {}",
        metrics.value(refused),
        metrics.value("mayfly_connections_open")
    );
    assert_eq!(metrics.value(refused), 1_776.0);
    flood.stop();

    assert_eq!(metrics.value("mayfly_accept_errors_total"), 0.0);
    assert!(open_descriptors() < 1024);
}

/// `/healthz` from a fresh connection (from 127.0.0.1, not a flooding address) answers
/// within 100 ms, five times over.
fn check_healthz(runtime: &tokio::runtime::Runtime, addr: std::net::SocketAddr, what: &str) {
    for _ in 0..5 {
        let took = runtime.block_on(healthz(addr));
        eprintln!("{what}: /healthz answered in {took:?}");
        assert!(took < Duration::from_millis(100), "{what}: {took:?}");
    }
}

/// `/healthz` every 10 ms while a flood is under way, to report (not assert) how long a
/// client waits while the server works through a full backlog.
struct Probe {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Probe {
    fn start(runtime: &tokio::runtime::Runtime, addr: std::net::SocketAddr) -> Probe {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = runtime.spawn(async move {
            let mut times = Vec::new();
            while stopped.try_recv().is_err() {
                times.push(healthz(addr).await);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            times
        });
        Probe { stop, task }
    }

    fn report(self, runtime: &tokio::runtime::Runtime, what: &str) {
        let _ = self.stop.send(());
        let mut times = runtime.block_on(self.task).unwrap();
        times.sort();
        eprintln!(
            "/healthz {what}: {} probes, median {:?}, max {:?}",
            times.len(),
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

/// Waits up to 2 s for `condition`.
fn wait_for(runtime: &tokio::runtime::Runtime, condition: impl Fn() -> bool) {
    runtime.block_on(async {
        for _ in 0..200 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached within 2s");
    });
}

fn report_memory(when: &str) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS"))
    {
        eprintln!("{when}: {rss}");
    }
}
