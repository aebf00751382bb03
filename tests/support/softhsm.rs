//! A fresh SoftHSM2 token per test, each test in its own process.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, at `C_Initialize`, and a module stays initialised for
//! the life of the process (see src/module.rs); and setting an environment variable in a
//! multi-threaded test binary is a data race. So each test re-runs this test binary, filtered
//! to itself, with `SOFTHSM2_CONF` pointing at a config whose token directory is the test's
//! own temporary directory. The parent creates the token with `softhsm2-util --init-token`
//! (the operator's command, so the documented setup is what the tests use).

use mayfly::hsm::{Pin, Pkcs11Config, Pkcs11Session};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TOKEN: &str = "mayfly-test";
pub const PIN: &str = "4711-user-pin";
pub const SO_PIN: &str = "so-pin-0815";

const CHILD_VAR: &str = "MAYFLY_PKCS11_TEST_CHILD";
const DIR_VAR: &str = "MAYFLY_PKCS11_TEST_DIR";

/// The SoftHSM2 module: `MAYFLY_TEST_PKCS11_MODULE`, or Debian's path.
pub fn module() -> PathBuf {
    std::env::var_os("MAYFLY_TEST_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

pub struct Hsm {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub tokens: PathBuf,
}

pub enum Setup {
    /// A config, a token directory and one token labelled [`TOKEN`] with user PIN [`PIN`].
    Token,
    /// `SOFTHSM2_CONF` names a file that does not exist.
    MissingConfig,
}

/// Runs `body` in a child process with its own SoftHSM2 token directory.
pub fn isolated(name: &str, setup: Setup, body: impl FnOnce(&Hsm)) {
    if std::env::var(CHILD_VAR).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var(DIR_VAR).unwrap());
        let hsm = Hsm::at(dir);
        body(&hsm);
        // Proof that the body ran: a filter that matched nothing would also exit 0.
        std::fs::write(hsm.dir.join("completed"), name).unwrap();
        return;
    }

    let temp = tempfile::tempdir().unwrap();
    let hsm = Hsm::configured(temp.path().to_owned());
    let conf = match setup {
        Setup::Token => {
            hsm.init_token(TOKEN, PIN);
            hsm.conf.clone()
        }
        Setup::MissingConfig => hsm.dir.join("no-such-softhsm2.conf"),
    };

    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env("SOFTHSM2_CONF", conf)
        .env(CHILD_VAR, name)
        .env(DIR_VAR, &hsm.dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "test {name} failed in its child process:\n{stdout}\n{stderr}"
    );
    assert!(
        hsm.dir.join("completed").exists(),
        "test {name} did not run in its child process:\n{stdout}\n{stderr}"
    );
    // Pass on what the body printed, without the child harness's own lines (whose "test
    // result" would read like a second summary).
    // With --nocapture the body's first line shares a line with "test NAME ... ".
    let prefix = format!("test {name} ... ");
    for line in stdout.lines() {
        let line = line.strip_prefix(&prefix).unwrap_or(line);
        if !(line.is_empty()
            || line == "ok"
            || line.starts_with("running ")
            || line.starts_with("test result:"))
        {
            println!("{line}");
        }
    }
}

impl Hsm {
    /// A SoftHSM2 configuration in `dir` with its own (empty) token directory.
    pub fn configured(dir: PathBuf) -> Self {
        let hsm = Hsm::at(dir);
        std::fs::create_dir_all(&hsm.tokens).unwrap();
        std::fs::write(
            &hsm.conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                hsm.tokens.display()
            ),
        )
        .unwrap();
        hsm
    }

    /// A fresh token [`TOKEN`] with user PIN [`PIN`] in `dir`, for processes started with
    /// `SOFTHSM2_CONF` = [`Hsm::conf`].
    pub fn with_token(dir: PathBuf) -> Self {
        let hsm = Hsm::configured(dir);
        hsm.init_token(TOKEN, PIN);
        hsm
    }

    fn at(dir: PathBuf) -> Self {
        Hsm {
            conf: dir.join("softhsm2.conf"),
            tokens: dir.join("tokens"),
            dir,
        }
    }

    pub fn config(&self) -> Pkcs11Config {
        Pkcs11Config::new(module(), TOKEN, Pin::new(PIN, "test").unwrap())
    }

    pub fn open(&self) -> Pkcs11Session {
        Pkcs11Session::open(&self.config()).unwrap()
    }

    /// `softhsm2-util --init-token --free --label LABEL --so-pin … --pin PIN`.
    pub fn init_token(&self, label: &str, pin: &str) {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", SO_PIN, "--pin", pin])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pkcs11-tool --module M --token-label T --login --pin P ARGS…`; panics on failure.
    pub fn tool(&self, args: &[&str]) -> Vec<u8> {
        let out = self.tool_output(args);
        assert!(
            out.status.success(),
            "pkcs11-tool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn tool_output(&self, args: &[&str]) -> Output {
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module())
            .args(["--token-label", TOKEN, "--login", "--pin", PIN])
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap()
    }

    /// The names of the files under the token directory: one per token and per object, so a
    /// failed open or create must leave this list unchanged. (Contents are not compared: a
    /// wrong PIN makes SoftHSM2 rewrite token.object with CKF_USER_PIN_COUNT_LOW set.)
    pub fn token_files(&self) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path.display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.tokens, &mut out);
        out.sort();
        out
    }

    /// Sets CKF_USER_PIN_LOCKED in the token's stored flags, as a token that counted too many
    /// wrong PINs would. SoftHSM2 never locks a PIN itself, so this is the only way to show a
    /// locked token to the code under test. The file format (big-endian u64 attribute type,
    /// kind, value) is SoftHSM2's ObjectFile; CKA_OS_TOKENFLAGS is 0x8000534b, kind 2 = ulong.
    pub fn lock_user_pin(&self) {
        let token_dir = std::fs::read_dir(&self.tokens)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("token.object").exists())
            .unwrap();
        let path = token_dir.join("token.object");
        let mut bytes = std::fs::read(&path).unwrap();
        let mut needle = 0x8000_534b_u64.to_be_bytes().to_vec();
        needle.extend_from_slice(&2u64.to_be_bytes());
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_slice())
            .unwrap()
            + needle.len();
        let flags = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        const CKF_USER_PIN_LOCKED: u64 = 0x0004_0000;
        bytes[at..at + 8].copy_from_slice(&(flags | CKF_USER_PIN_LOCKED).to_be_bytes());
        std::fs::write(&path, bytes).unwrap();
    }
}

/// Checks a DER ECDSA P-256 SHA-256 signature with aws-lc against a raw SEC1 point.
pub fn aws_lc_verifies(public_raw: &[u8], message: &[u8], signature: &[u8]) -> bool {
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        public_raw,
    )
    .verify(message, signature)
    .is_ok()
}

/// Defines a test that runs in its own process against its own token.
#[allow(unused_macros)]
macro_rules! hsm_test {
    ($name:ident, $setup:expr, |$hsm:ident| $body:block) => {
        #[test]
        fn $name() {
            crate::support::softhsm::isolated(
                stringify!($name),
                $setup,
                |$hsm: &crate::support::softhsm::Hsm| $body,
            );
        }
    };
    ($name:ident, |$hsm:ident| $body:block) => {
        hsm_test!($name, crate::support::softhsm::Setup::Token, |$hsm| $body);
    };
}
