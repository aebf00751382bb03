//! The real Sigstore clients, as the client tests run them: sigstore-python (CLI and API) in a
//! venv, sigstore-js (the library npm runs), `@sigstore/verify` and `@sigstore/cli` in a
//! node_modules, all under `target/clients/`.
//!
//! `tests/clients/install.sh` puts them there from PyPI and npm, pinned by the files beside
//! it. `.ci/run` calls it before `cargo test`; the first test to need a client calls it too,
//! under an exclusive file lock, so a plain `cargo test` on a fresh clone works and parallel
//! test binaries never install twice at once. If installing is impossible the test fails with
//! the script's output: a missing client is a failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Where the clients and their driver scripts live.
pub struct Clients {
    /// `target/clients`: `venv/` and `node/node_modules/`.
    pub root: PathBuf,
    /// `tests/clients`: the small JS/Python driver scripts.
    pub scripts: PathBuf,
}

impl Clients {
    /// The installed clients; installs them on first use in this process.
    pub fn get() -> &'static Clients {
        static CLIENTS: OnceLock<Clients> = OnceLock::new();
        CLIENTS.get_or_init(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = std::env::var_os("MAYFLY_CLIENTS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| manifest.join("target/clients"));
            let scripts = manifest.join("tests/clients");
            install(&root, &scripts);
            Clients { root, scripts }
        })
    }

    /// The sigstore-python CLI (`sigstore`).
    pub fn python_cli(&self) -> Command {
        self.tool(self.root.join("venv/bin/sigstore"))
    }

    /// The venv's Python running one of the driver scripts.
    pub fn python_script(&self, script: &str) -> Command {
        let mut command = self.tool(self.root.join("venv/bin/python"));
        command.arg(self.scripts.join(script));
        command
    }

    /// Node running one of the driver scripts, resolving packages from our node_modules.
    pub fn node_script(&self, script: &str) -> Command {
        let mut command = self.tool(PathBuf::from("node"));
        command
            .env("NODE_PATH", self.root.join("node/node_modules"))
            .arg(self.scripts.join(script));
        command
    }

    /// The `@sigstore/cli` binary (`sigstore attest|verify`).
    pub fn js_cli(&self) -> Command {
        self.tool(self.root.join("node/node_modules/.bin/sigstore"))
    }

    /// A command with the clients' ambient configuration neutralised: no GitHub Actions or
    /// other CI token sources leak in from the environment, and no TUF refresh is attempted.
    fn tool(&self, program: PathBuf) -> Command {
        let mut command = Command::new(program);
        for var in [
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "SIGSTORE_ID_TOKEN",
            "SIGSTORE_IDENTITY_TOKEN",
            "GITHUB_ACTIONS",
            "BUILDKITE",
        ] {
            command.env_remove(var);
        }
        command.env("NO_COLOR", "1");
        command
    }
}

/// Runs install.sh under an exclusive lock on `target/clients.lock`. Panics with its output
/// if it fails.
fn install(root: &Path, scripts: &Path) {
    let parent = root.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    let lock_path = parent.join("clients.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("{}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    let output = Command::new("bash")
        .arg(scripts.join("install.sh"))
        .env("MAYFLY_CLIENTS_DIR", root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash tests/clients/install.sh: {e}"));
    // Dropping the file releases the lock; explicit so the order is obvious.
    drop(lock);
    assert!(
        output.status.success(),
        "the real Sigstore clients are required and could not be installed \
         (tests/clients/install.sh; needs python3 with venv, node and npm, and access to \
         PyPI and npm):\n{}",
        describe(&output)
    );
}

/// Runs `command` off the async runtime; panics with its output unless it succeeds.
pub async fn run(command: Command) -> Output {
    let (shown, output) = spawn(command).await;
    assert!(
        output.status.success(),
        "{shown} failed:\n{}",
        describe(&output)
    );
    output
}

/// Runs `command` off the async runtime; panics with its output unless it fails.
pub async fn run_failing(command: Command) -> Output {
    let (shown, output) = spawn(command).await;
    assert!(
        !output.status.success(),
        "{shown} unexpectedly succeeded:\n{}",
        describe(&output)
    );
    output
}

async fn spawn(mut command: Command) -> (String, Output) {
    let shown = format!("{command:?}");
    let started = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    eprintln!("ran in {:.1?}: {shown}", started.elapsed());
    (shown, output)
}

pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// stdout parsed as JSON (the driver scripts print one JSON object).
pub fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(output)))
}
