//! The files in `deploy/` do what their comments promise: the Kubernetes manifests pass the
//! Kubernetes API schema and hang together, their settings start a real server, the systemd
//! unit parses and is hardened, the compose file wires a database, three replicas and a
//! proxy, and the container image builds, runs as an unprivileged user and answers its own
//! health check.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::clients::{Clients, describe};
use support::process::{Process, mayfly_command};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

const MANIFESTS: [&str; 5] = [
    "configmap.yaml",
    "deployment.yaml",
    "service.yaml",
    "pdb.yaml",
    "secret.yaml",
];

/// Every manifest, by kind.
fn manifests() -> std::collections::HashMap<String, Value> {
    MANIFESTS
        .iter()
        .flat_map(|file| yaml_documents(&deploy(&format!("kubernetes/{file}"))))
        .map(|doc| (doc["kind"].as_str().unwrap_or_default().to_owned(), doc))
        .collect()
}

#[test]
fn kubernetes_manifests_pass_the_api_schema() {
    let clients = Clients::get();
    let mut validate = Command::new(clients.root.join("venv/bin/kubernetes-validate"));
    validate.args(["--strict", "--kubernetes-version", "1.31.0"]);
    for file in MANIFESTS {
        validate.arg(deploy(&format!("kubernetes/{file}")));
    }
    let output = validate.output().expect("run kubernetes-validate");
    assert!(output.status.success(), "{}", describe(&output));
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        report.matches(" passed ").count(),
        MANIFESTS.len(),
        "{report}"
    );

    // The checker itself refuses a broken manifest (so a pass above means something).
    let broken = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(deploy("kubernetes/deployment.yaml")).unwrap();
    let file = broken.path().join("deployment.yaml");
    std::fs::write(&file, text.replace("replicas: 3", "replicas: three")).unwrap();
    let output = Command::new(clients.root.join("venv/bin/kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.31.0"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", describe(&output));
}

#[test]
fn kubernetes_manifests_hang_together() {
    let all = manifests();
    let deployment = &all["Deployment"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&all["Service"]["spec"]["selector"], labels);
    assert_eq!(
        &all["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        labels
    );
    // The budget leaves at least one replica to drain, and never fewer than two serving.
    let min_available = all["PodDisruptionBudget"]["spec"]["minAvailable"]
        .as_u64()
        .unwrap();
    assert!(min_available >= 1 && min_available < deployment["spec"]["replicas"].as_u64().unwrap());

    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
    }
    assert_eq!(container["ports"][0]["name"], "http");
    let port = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["requests"]["memory"].is_string());

    // The server listens on the port the probes and the Service use.
    let toml = all["ConfigMap"]["data"]["mayfly.toml"].as_str().unwrap();
    assert!(
        toml.contains(&format!("listen = \"0.0.0.0:{port}\"")),
        "{toml}"
    );

    // Every key the pod projects from the Secret is in the Secret, and the database URL too.
    let secret = &all["Secret"]["stringData"];
    let volumes = pod["volumes"].as_array().unwrap();
    let projected = volumes
        .iter()
        .find(|v| v["name"] == "instance")
        .expect("the instance volume");
    let items = projected["projected"]["sources"][0]["secret"]["items"]
        .as_array()
        .unwrap();
    for item in items {
        let key = item["key"].as_str().unwrap();
        assert!(secret.get(key).is_some(), "the Secret lacks {key}");
    }
    let env = &container["env"][0];
    assert_eq!(env["name"], "MAYFLY_DATABASE_URL");
    let key = env["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
    assert!(secret.get(key).is_some(), "the Secret lacks {key}");
}

/// The ConfigMap's settings are ones `mayfly serve` takes: a real server starts on them (its
/// paths moved to a scratch directory) and reports healthy, with the policy in force.
#[tokio::test]
async fn kubernetes_settings_start_a_server() {
    mayfly::install_crypto_provider();
    let all = manifests();
    let data = &all["ConfigMap"]["data"];
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in data.as_object().unwrap() {
        std::fs::write(dir.path().join(name), text.as_str().unwrap()).unwrap();
    }
    let mut command = mayfly_command(dir.path());
    command
        .args(["serve", "--config"])
        .arg(dir.path().join("mayfly.toml"))
        // The pod's paths, moved here; the environment overrides the file as in the pod.
        .env("MAYFLY_LISTEN", "127.0.0.1:0")
        .env("MAYFLY_DATA_DIR", dir.path().join("data"))
        .env("MAYFLY_POLICY", dir.path().join("policy.yaml"));
    let mut server = Process::spawn(command);
    let port = server.port();
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        server.stderr().contains("loaded issuance policy"),
        "{}",
        server.stderr()
    );
    server.terminate();
}

#[test]
fn systemd_unit_parses_and_is_hardened() {
    // systemd-analyze checks that ExecStart exists: point it at a binary that does.
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(deploy("mayfly.service"))
        .unwrap()
        .replace("/usr/local/bin/mayfly", env!("CARGO_BIN_EXE_mayfly"));
    let path = dir.path().join("mayfly.service");
    std::fs::write(&path, &unit).unwrap();

    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze (Debian package systemd)");
    // Bad settings are warnings on stderr, not failures: any output is a finding.
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{}",
        describe(&output)
    );
    // Exposure 0.0 (locked down) .. 10.0 (unprotected); systemd calls up to 2.0 "OK".
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("Overall exposure level"), "{report}");
    for setting in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.contains(setting), "the unit lacks {setting}");
    }
}

#[test]
fn compose_file_runs_three_replicas_on_one_database_behind_tls() {
    let compose = &yaml_documents(&deploy("compose/compose.yaml"))[0];
    let services = compose["services"].as_object().unwrap();
    let replicas: Vec<&Value> = services
        .iter()
        .filter(|(name, _)| name.starts_with("mayfly-"))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(replicas.len(), 3);
    for replica in &replicas {
        let command: Vec<&str> = replica["command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(command[0], "serve");
        assert!(
            command.iter().any(|a| a.starts_with("postgres://")),
            "{command:?}"
        );
        assert_eq!(
            replica["depends_on"]["init"]["condition"],
            "service_completed_successfully"
        );
    }
    assert!(services["postgres"]["healthcheck"].is_object());
    assert_eq!(services["init"]["command"][0], "init");
    let caddy = std::fs::read_to_string(deploy("compose/Caddyfile")).unwrap();
    for name in services.keys().filter(|n| n.starts_with("mayfly-")) {
        assert!(
            caddy.contains(&format!("{name}:8700")),
            "the proxy skips {name}"
        );
    }
}

/// Builds the image from the binary under test with podman, then checks what a container
/// runtime would run: the configured user, entrypoint and health check. Starting it with
/// `podman run` fails inside this sandbox (crun may not set RLIMIT_NPROC here), so the
/// container's root filesystem is run with chroot as that user instead: same files, same
/// binary, same libraries, same health-check command.
#[tokio::test]
async fn container_image_builds_and_serves_as_an_unprivileged_user() {
    let tag = format!("localhost/mayfly-test:{}", std::process::id());
    let output = Command::new("bash")
        .arg(deploy("container/build.sh"))
        .arg(env!("CARGO_BIN_EXE_mayfly"))
        .arg(&tag)
        .output()
        .expect("run deploy/container/build.sh");
    assert!(output.status.success(), "{}", describe(&output));
    // Dropped last: the container goes first, then the image.
    let _image = Image { tag: tag.clone() };

    let inspect = podman(&["image", "inspect", &tag]);
    let image = &serde_json::from_str::<Value>(&inspect).unwrap()[0];
    let config = &image["Config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"][0], "/usr/local/bin/mayfly");
    // Podman reports the health check beside the config, not in it.
    let check: Vec<&str> = image["Healthcheck"]["Test"]
        .as_array()
        .expect("a HEALTHCHECK")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&check[..3], ["CMD", "/usr/local/bin/mayfly", "health"]);

    let container = podman(&["create", &tag]).trim().to_owned();
    let rootfs = PathBuf::from(podman(&["mount", &container]).trim());
    let _cleanup = Container {
        id: container.clone(),
    };
    // Only the binary, its libraries and the CA bundle: no shell in the image.
    assert!(!rootfs.join("bin/sh").exists());
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").exists());

    let mut command = Command::new("chroot");
    command.arg("--userspec=65532:65532").arg(&rootfs).args([
        "/usr/local/bin/mayfly",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        "/var/lib/mayfly",
        "--public-url",
        "http://127.0.0.1:8700",
        "--log-format",
        "text",
    ]);
    let mut server = Process::spawn(command);
    let port = server.port();
    let health = |url: String| {
        Command::new("chroot")
            .arg("--userspec=65532:65532")
            .arg(&rootfs)
            .args(["/usr/local/bin/mayfly", "health", "--url", &url])
            .output()
            .unwrap()
    };
    let healthy = health(format!("http://127.0.0.1:{port}/healthz"));
    assert!(healthy.status.success(), "{}", describe(&healthy));
    // The unprivileged user could write its data dir, and nothing else needed writing.
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(rootfs.join("var/lib/mayfly/mayfly.db")).unwrap(),
    );
    assert_eq!(owner, 65532);
    server.terminate();
    let down = health(format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(down.status.code(), Some(1), "{}", describe(&down));
}

fn podman(args: &[&str]) -> String {
    let output = Command::new("podman")
        .args(args)
        .output()
        .expect("run podman");
    assert!(
        output.status.success(),
        "podman {args:?}: {}",
        describe(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Removes the test's container (and with it its mount) when the test ends, passed or not.
struct Container {
    id: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "--force", &self.id])
            .output();
    }
}

struct Image {
    tag: String,
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "--force", &self.tag])
            .output();
    }
}
