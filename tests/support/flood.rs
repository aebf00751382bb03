//! Many idle connections held by a child process, so that their descriptors count against
//! the child's limit and not against the test process's (where the server runs).
//!
//! The child is this same test binary, re-run with only its `flood_child` test (ignored in
//! normal runs) and the flood's parameters in [`ENV`]: no Python or helper binary needed.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const ENV: &str = "MAYFLY_LISTENER_FLOOD";
/// The child exits by itself after this, whatever the parent does.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

/// The body of each binary's `flood_child` test: nothing unless started by [`Flood::start`].
/// Opens `count` connections to `addr` from source addresses 127.0.0.2 up to
/// 127.0.0.(1 + sources), reports `FLOOD READY connected=N failed=M`, and holds them until
/// its standard input closes.
pub fn child_main() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let mut parts = spec.split(';');
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let count: usize = parts.next().unwrap().parse().unwrap();
    let sources: u8 = parts.next().unwrap().parse().unwrap();
    // The parent lowered its own limit, which the child inherits.
    mayfly::server::listener::raise_nofile_limit().unwrap();
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = runtime.block_on(async move {
        let start = std::time::Instant::now();
        let mut held = Vec::with_capacity(count);
        let mut failed = 0;
        for i in 0..count {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(sources)) as u8);
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(source.into(), 0)).unwrap();
            match tokio::time::timeout(Duration::from_secs(3), socket.connect(addr)).await {
                Ok(Ok(stream)) => held.push(stream),
                _ => failed += 1,
            }
            if std::env::var_os("FLOOD_DEBUG").is_some() && i % 100 == 0 {
                eprintln!("flood: {i} ({failed} failed) at {:?}", start.elapsed());
            }
        }
        eprintln!("flood: {count} connects took {:?}", start.elapsed());
        println!("FLOOD READY connected={} failed={failed}", held.len());
        std::io::stdout().flush().unwrap();
        held
    });
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(held);
}

pub struct Flood {
    child: Child,
    /// Kept open until the child exits, so that its last prints do not hit a closed pipe.
    stdout: BufReader<ChildStdout>,
    pub connected: usize,
    pub failed: usize,
}

impl Flood {
    /// Starts the child (`test_name` is the calling binary's `flood_child` test) and waits
    /// until it holds its connections.
    pub fn start(test_name: &str, addr: SocketAddr, count: usize, sources: u8) -> Flood {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                test_name,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, format!("{addr};{count};{sources}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // From here on, dropping `flood` (also on a failed assertion) ends the child.
        let mut flood = Flood {
            child,
            stdout,
            connected: 0,
            failed: 0,
        };
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                flood.stdout.read_line(&mut line).unwrap() > 0,
                "flood child exited before it was ready"
            );
            // The harness prints "test flood_child ... " on the same line first.
            if let Some((_, report)) = line.trim().split_once("FLOOD READY ") {
                let value = |name: &str| -> usize {
                    report
                        .split(' ')
                        .find_map(|kv| kv.strip_prefix(name))
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                flood.connected = value("connected=");
                flood.failed = value("failed=");
                return flood;
            }
        }
    }

    /// Closes the child's connections (it exits) and waits for it.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.finish();
    }
}
