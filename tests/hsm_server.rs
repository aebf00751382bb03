//! `mayfly serve --ca pkcs11`: the CA's and both logs' keys in a real SoftHSM2 token, created
//! with `mayfly keys create`, never on disk. The real clients sign through it and verify the
//! results; a wrong PIN, module or key label stops startup, names the problem and creates
//! nothing.
//!
//! The server runs as the binary, in its own process: SoftHSM2 reads its configuration once
//! per process (see `support::softhsm`).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::clients::{Clients, run, stdout_json};
use support::process::{Process, mayfly_command};
use support::softhsm::{Hsm, PIN, TOKEN, module};

const SAN: &str =
    "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

/// `mayfly <args…> --pkcs11-*` for `hsm`'s token, with its SoftHSM2 configuration.
fn mayfly(hsm: &Hsm, pin_file: &Path, args: &[&str]) -> Command {
    let mut command = mayfly_command(&hsm.dir);
    command
        .args(args)
        .arg("--pkcs11-module")
        .arg(module())
        .args(["--pkcs11-token-label", TOKEN])
        .arg("--pkcs11-pin-file")
        .arg(pin_file)
        .env("SOFTHSM2_CONF", &hsm.conf);
    command
}

fn pin_file(dir: &Path, pin: &str) -> PathBuf {
    let path = dir.join("pin");
    std::fs::write(&path, format!("{pin}\n")).unwrap();
    path
}

fn stdout(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Serves on `port`, which is also in the public URL: the trust documents then name where
/// the clients reach this instance, and stay the same across restarts.
fn serve(hsm: &Hsm, pin: &Path, data: &Path, port: u16) -> Process {
    let mut command = mayfly(hsm, pin, &["serve", "--ca", "pkcs11", "--dev-issuer"]);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data);
    Process::spawn(command)
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.unwrap();
    assert!(response.status().is_success(), "GET {url}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs11_instance_signs_for_the_real_clients_with_keys_that_never_leave_the_token() {
    mayfly::install_crypto_provider();
    let clients = Clients::get();
    let tmp = tempfile::tempdir().unwrap();
    let hsm = Hsm::with_token(tmp.path().join("hsm"));
    let pin = pin_file(tmp.path(), PIN);

    let created = stdout(&mut mayfly(&hsm, &pin, &["keys", "create"]));
    assert_eq!(created.matches("created").count(), 5, "{created}");
    let again = stdout(&mut mayfly(&hsm, &pin, &["keys", "create"]));
    assert_eq!(again.matches("exists").count(), 5, "{again}");
    let listed = stdout(&mut mayfly(&hsm, &pin, &["keys", "list"]));
    assert_eq!(listed.matches("present").count(), 5, "{listed}");

    let data = tmp.path().join("data");
    let port = free_port();
    let mut server = serve(&hsm, &pin, &data, port);
    server.wait_for("found the CA and log keys in the HSM");
    assert_eq!(server.port(), port);
    let base = format!("http://127.0.0.1:{port}");
    for private in [
        "ca-root.key.pem",
        "ca-intermediate.key.pem",
        "issuance-log.key.pem",
        "artifact-log.key.pem",
        "rekor-v2-log.key.pem",
    ] {
        assert!(
            !data.join("keys").join(private).exists(),
            "{private} on disk"
        );
    }
    assert!(data.join("keys/issuance-log.pub.pem").is_file());
    assert!(data.join("keys/rekor-v2-log.pub.pem").is_file());

    // The trust documents, a CI token, and two signatures by the real clients.
    let trust_config = tmp.path().join("client_trust_config.json");
    std::fs::write(
        &trust_config,
        get(&format!("{base}/trust/client_trust_config.json")).await,
    )
    .unwrap();
    let trusted_root = tmp.path().join("trusted_root.json");
    std::fs::write(
        &trusted_root,
        get(&format!("{base}/trust/trusted_root.json")).await,
    )
    .unwrap();
    let token: Value =
        serde_json::from_slice(&get(&format!("{base}/dev-oidc/token?audience=sigstore")).await)
            .unwrap();
    let token = token["value"].as_str().unwrap().to_owned();
    let issuer = format!("{base}/dev-oidc");

    let artifact = tmp.path().join("release.tar.gz");
    std::fs::write(&artifact, b"signed in an HSM\n").unwrap();
    // sigstore-js first, so python's entry is not the log's first (see tests/clients.rs).
    let js_bundle = tmp.path().join("release.tar.gz.js.sigstore.json");
    let mut command = clients.node_script("sign.cjs");
    command
        .args(["attest", &base, &token])
        .arg(&artifact)
        .arg(&js_bundle);
    run(command).await;
    let mut command = clients.node_script("verify.cjs");
    command
        .arg(&trusted_root)
        .arg(&js_bundle)
        .args([SAN, &issuer]);
    let verified = stdout_json(&run(command).await);
    assert_eq!(verified["san"], SAN);

    let py_bundle = tmp.path().join("release.tar.gz.sigstore.json");
    let mut command = clients.python_cli();
    command
        .arg("--trust-config")
        .arg(&trust_config)
        .args(["sign", "--identity-token", &token, "--bundle"])
        .arg(&py_bundle)
        .arg(&artifact);
    run(command).await;
    let mut command = clients.python_cli();
    command
        .arg("--trust-config")
        .arg(&trust_config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&py_bundle)
        .args(["--cert-identity", SAN, "--cert-oidc-issuer", &issuer])
        .arg(&artifact);
    let output = run(command).await;
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("OK"), "{text}");
    let mut command = clients.node_script("verify.cjs");
    command
        .arg(&trusted_root)
        .arg(&py_bundle)
        .args([SAN, &issuer])
        .arg(&artifact);
    run(command).await;
    assert_eq!(server.terminate().code(), Some(0), "{}", server.stderr());

    // A restart finds the same keys and the stored chain; `mayfly trust` works offline.
    let mut again = serve(&hsm, &pin, &data, port);
    again.wait_for("opened existing Mayfly instance");
    assert_eq!(again.port(), port);
    let root_again = get(&format!("http://127.0.0.1:{port}/trust/trusted_root.json")).await;
    assert_eq!(
        root_again,
        std::fs::read(&trusted_root).unwrap(),
        "same trust root"
    );
    assert_eq!(again.terminate().code(), Some(0), "{}", again.stderr());
    let out = tmp.path().join("trust-out");
    let mut command = mayfly_command(tmp.path());
    command
        .args(["trust", "--dev-issuer", "--public-url", &base, "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out);
    stdout(&mut command);
    assert_eq!(
        std::fs::read(out.join("trusted_root.json")).unwrap(),
        std::fs::read(&trusted_root).unwrap()
    );

    // A rotation makes the new intermediate's key on the token, and the restarted instance
    // signs with it while still publishing the first generation.
    let data_dir = data.to_str().unwrap();
    let rotated = stdout(&mut mayfly(
        &hsm,
        &pin,
        &["ca", "rotate", "--ca", "pkcs11", "--data-dir", data_dir],
    ));
    assert!(rotated.contains("CA generation 2"), "{rotated}");
    let listed = stdout(&mut mayfly(&hsm, &pin, &["keys", "list"]));
    assert!(listed.contains("mayfly-ca-2"), "{listed}");
    assert!(!data.join("keys/ca-intermediate-2.key.pem").exists());
    let mut rotated = serve(&hsm, &pin, &data, port);
    rotated.wait_for("opened existing Mayfly instance");
    assert_eq!(rotated.port(), port);
    let chain = get(&format!("http://127.0.0.1:{port}/api/v1/rootCert")).await;
    let intermediate = support::pem_ders(&String::from_utf8(chain).unwrap()).remove(0);
    let (_, cert) = x509_parser::parse_x509_certificate(&intermediate).unwrap();
    let name = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(name.as_str().unwrap(), "mayfly-intermediate-2");
    let bundle: Value =
        serde_json::from_slice(&get(&format!("http://127.0.0.1:{port}/api/v2/trustBundle")).await)
            .unwrap();
    assert_eq!(bundle["chains"].as_array().unwrap().len(), 2, "{bundle}");
    assert_eq!(rotated.terminate().code(), Some(0), "{}", rotated.stderr());
}

#[test]
fn hsm_misconfiguration_stops_startup_names_the_problem_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm = Hsm::with_token(tmp.path().join("hsm"));
    let good_pin = pin_file(tmp.path(), PIN);
    let data = tmp.path().join("data");
    let refused = |mut command: Command, needle: &str| {
        command.arg("--data-dir").arg(&data);
        let (status, stderr) = Process::run_to_exit(command);
        assert!(!status.success(), "started: {stderr}");
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
        assert!(!stderr.contains(PIN), "the PIN leaked:\n{stderr}");
        assert!(!data.exists(), "created the data dir:\n{stderr}");
    };
    let serve_args = ["serve", "--ca", "pkcs11", "--listen", "127.0.0.1:0"];

    // No keys on the token yet: the missing label is named.
    refused(mayfly(&hsm, &good_pin, &serve_args), "mayfly-ca-root");
    stdout(&mut mayfly(&hsm, &good_pin, &["keys", "create"]));

    let wrong = tmp.path().join("wrong-pin");
    std::fs::write(&wrong, "0000\n").unwrap();
    refused(mayfly(&hsm, &wrong, &serve_args), "wrong PIN");

    let mut command = mayfly_command(&hsm.dir);
    command
        .args(serve_args)
        .args(["--pkcs11-module", "/nonexistent/libpkcs11.so"])
        .args(["--pkcs11-token-label", TOKEN])
        .arg("--pkcs11-pin-file")
        .arg(&good_pin)
        .env("SOFTHSM2_CONF", &hsm.conf);
    refused(command, "/nonexistent/libpkcs11.so");

    let mut command = mayfly(&hsm, &good_pin, &serve_args);
    command.args(["--pkcs11-ca-label", "no-such-key"]);
    refused(command, "no-such-key");

    // A rate that does not parse is refused by the command line itself.
    let mut command = mayfly(&hsm, &good_pin, &serve_args);
    command.args(["--rate-limit-identity", "60/m"]);
    refused(command, "unknown unit");
}
