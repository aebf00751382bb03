//! The `mayfly` binary as an operator runs it: a child process with its stderr captured line
//! by line, signals, and exit statuses.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bound for anything the server should do in well under a second.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A `mayfly` child process with its stderr captured line by line; killed on drop.
pub struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    status: Option<ExitStatus>,
}

/// `mayfly` with no MAYFLY_* settings inherited from the test's environment, run in `cwd`.
pub fn mayfly_command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mayfly"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MAYFLY_") {
            command.env_remove(name);
        }
    }
    command.current_dir(cwd);
    command
}

impl Process {
    pub fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn mayfly");
        let pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let captured = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                let mut all = captured.lock().unwrap_or_else(|p| p.into_inner());
                all.push_str(&line);
                all.push('\n');
                drop(all);
                if tx.send(line).is_err() {
                    break;
                }
            }
            // Dropping `tx` tells the test that stderr reached EOF: the process has exited.
        });
        Process {
            child,
            lines,
            stderr,
            status: None,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {needle:?} within {TIMEOUT:?}; stderr:\n{}",
                        self.stderr()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit();
                    panic!(
                        "mayfly exited ({status}) before logging {needle:?}; stderr:\n{}",
                        self.stderr()
                    )
                }
            }
        }
    }

    /// The port from the "listening addr=127.0.0.1:PORT" line.
    pub fn port(&mut self) -> u16 {
        let line = self.wait_for(" listening");
        let addr = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("no addr= in {line:?}"));
        let addr: SocketAddr = addr
            .trim_matches('"')
            .parse()
            .unwrap_or_else(|e| panic!("addr= in {line:?}: {e}"));
        assert_eq!(addr.ip().to_string(), "127.0.0.1", "{line}");
        assert_ne!(addr.port(), 0, "{line}");
        addr.port()
    }

    /// Waits for the process to exit (its stderr closing is the signal).
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "mayfly did not exit within {TIMEOUT:?}; stderr:\n{}",
                        self.stderr()
                    )
                }
            }
        }
        let status = self.child.wait().expect("wait for mayfly");
        self.status = Some(status);
        status
    }

    /// Sends `signal` (e.g. "HUP") to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        self.wait_exit()
    }

    /// Runs to completion (for starts that must fail) and returns status and stderr.
    pub fn run_to_exit(command: Command) -> (ExitStatus, String) {
        let mut mayfly = Process::spawn(command);
        let status = mayfly.wait_exit();
        (status, mayfly.stderr())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes ANSI escape sequences (the text log format colours its output even into a pipe).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameter and intermediate bytes, then one final byte in @..=~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
