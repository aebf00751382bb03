//! An organisation's CA: who may get a certificate (a CEL policy), how often (per identity and
//! per client), and changing that without a restart. Against a real Mayfly on port 0, with
//! tokens from its dev issuer (GitHub-Actions-shaped, claims overridable per token).

mod support;

use mayfly::ratelimit::Rate;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::Mayfly;

/// Only the release workflow of `acme` repositories, on tags.
const ACME_RELEASES: &str = r#"
rules:
  - name: acme-releases
    allow: >
      claims.repository_owner == "acme" &&
      claims.ref.startsWith("refs/tags/") &&
      claims.job_workflow_ref.startsWith(claims.repository + "/.github/workflows/release.yml@")
"#;

/// Only the `main` branch of anything.
const MAIN_ONLY: &str = r#"
rules:
  - name: main-only
    allow: 'claims.ref == "refs/heads/main"'
"#;

fn acme_tag_claims() -> Value {
    json!({
        "repository": "acme/app", "repository_owner": "acme", "ref": "refs/tags/v1.2.3",
        "ref_type": "tag",
        "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
        "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
    })
}

fn write_policy(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn with_policy(text: &'static str) -> Mayfly {
    Mayfly::builder()
        .dev_issuer()
        .configure(move |config, dir| config.policy = Some(write_policy(dir, text)))
        .start()
        .await
}

async fn issue(mayfly: &Mayfly, claims: &Value) -> (u16, Value) {
    let (request, _) = mayfly.signing_request_with(claims).await;
    mayfly.sign_v2(&request, None).await
}

#[tokio::test]
async fn the_policy_admits_acme_releases_and_denies_everything_else() {
    let mayfly = with_policy(ACME_RELEASES).await;
    let (status, body) = issue(&mayfly, &acme_tag_claims()).await;
    assert_eq!(status, 200, "{body}");

    let mut branch = acme_tag_claims();
    branch["ref"] = json!("refs/heads/main");
    let mut other_owner = acme_tag_claims();
    other_owner["repository_owner"] = json!("evil");
    let mut other_workflow = acme_tag_claims();
    other_workflow["job_workflow_ref"] =
        json!("acme/app/.github/workflows/pr.yml@refs/tags/v1.2.3");
    for claims in [branch, other_owner, other_workflow] {
        let (status, body) = issue(&mayfly, &claims).await;
        assert_eq!(status, 403, "{claims}: {body}");
        assert_eq!(body["code"], 7, "PermissionDenied: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("no policy rule allows a certificate for https://github.com/"),
            "{message}"
        );
    }
    assert_eq!(mayfly.issuance_size().await, 1, "denials log nothing");
    mayfly.stop().await;
}

#[tokio::test]
async fn a_policy_naming_an_unconfigured_issuer_stops_startup_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = write_policy(
        tmp.path(),
        "rules:\n  - name: r\n    issuer: https://idp.example\n    allow: 'true'\n",
    );
    let data = tmp.path().join("data");
    let mut config = support::serve_config("127.0.0.1:0".parse().unwrap(), &data, None);
    config.policy = Some(policy);
    let err = mayfly::server::Instance::open(&config, None)
        .await
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(message.contains("https://idp.example"), "{message}");
    assert!(message.contains("\"r\""), "names the rule: {message}");
    assert!(!data.exists(), "nothing created");
}

#[tokio::test]
async fn an_identity_over_its_rate_gets_429_with_retry_after_and_nothing_logged() {
    let mayfly = Mayfly::builder()
        .dev_issuer()
        .configure(|config, _| config.rate_limit_identity = Rate::parse("2/min").unwrap())
        .start()
        .await;
    for _ in 0..2 {
        assert_eq!(issue(&mayfly, &json!({})).await.0, 200);
    }
    let (request, _) = mayfly.signing_request().await;
    let response = mayfly
        .client
        .post(format!("{}/api/v2/signingCert", mayfly.url))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 8, "ResourceExhausted: {body}");
    // Another identity has its own budget.
    let mut other = acme_tag_claims();
    other["job_workflow_ref"] = json!("acme/other/.github/workflows/release.yml@refs/tags/v1");
    assert_eq!(issue(&mayfly, &other).await.0, 200);
    assert_eq!(mayfly.issuance_size().await, 3);
    mayfly.stop().await;
}

#[tokio::test]
async fn the_client_limit_covers_rekor_writes_and_trusts_only_named_proxies() {
    let mayfly = Mayfly::builder()
        .dev_issuer()
        .configure(|config, _| {
            config.rate_limit_client = Rate::parse("3/min").unwrap();
            config.trusted_proxies =
                vec![mayfly::ratelimit::parse_trusted_proxy("127.0.0.1").unwrap()];
        })
        .start()
        .await;
    let post = |forwarded: &'static str| {
        mayfly
            .client
            .post(format!("{}/api/v1/log/entries", mayfly.url))
            .header("x-forwarded-for", forwarded)
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    // Behind the trusted proxy, each forwarded client has its own budget; bad entries count.
    for _ in 0..3 {
        assert_eq!(post("198.51.100.7").await.unwrap().status(), 400);
    }
    let limited = post("198.51.100.7").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], 429, "{body}");
    assert_eq!(post("198.51.100.8").await.unwrap().status(), 400);
    // A spoofed entry left of the proxy's own changes nothing.
    assert_eq!(
        post("203.0.113.1, 198.51.100.7").await.unwrap().status(),
        429
    );
    mayfly.stop().await;
}

/// 50 reloads alternating two policies while clients keep asking: every answer is the decision
/// of one of the two policies (200 or 403), never anything else, and both are seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_give_every_request_one_policys_decision() {
    let mayfly = Mayfly::builder()
        .dev_issuer()
        .configure(|config, dir| {
            config.policy = Some(write_policy(dir, MAIN_ONLY));
            config.rate_limit_identity = Rate::Off;
            config.rate_limit_client = Rate::Off;
        })
        .start()
        .await;
    let policy_path = mayfly.dir.path().join("policy.yaml");
    let requests: Vec<Value> = {
        let mut out = Vec::new();
        for _ in 0..8 {
            out.push(mayfly.signing_request_with(&acme_tag_claims()).await.0);
        }
        out
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for request in requests {
        let (client, url, done) = (mayfly.client.clone(), mayfly.url.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let response = client
                    .post(format!("{url}/api/v2/signingCert"))
                    .json(&request)
                    .send()
                    .await
                    .unwrap();
                seen.push(response.status().as_u16());
            }
            seen
        }));
    }
    for i in 0..50 {
        let text = if i % 2 == 0 { ACME_RELEASES } else { MAIN_ONLY };
        std::fs::write(&policy_path, text).unwrap();
        mayfly.reloader.reload().expect("a valid policy reloads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Vec::new();
    for client in clients {
        seen.extend(client.await.unwrap());
    }
    assert!(seen.iter().all(|s| *s == 200 || *s == 403), "{seen:?}");
    assert!(
        seen.contains(&200) && seen.contains(&403),
        "both policies decided"
    );

    // An invalid file keeps the running policy.
    std::fs::write(
        &policy_path,
        "rules:\n  - name: broken\n    allow: 'claims.ref ==' \n",
    )
    .unwrap();
    let err = mayfly.reloader.reload().unwrap_err().to_string();
    assert!(err.contains("broken"), "{err}");
    // The last good policy (main only, loaded by the 50th reload) still decides.
    assert_eq!(issue(&mayfly, &acme_tag_claims()).await.0, 403);
    assert_eq!(
        issue(&mayfly, &json!({"ref": "refs/heads/main"})).await.0,
        200
    );
    mayfly.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The binary: SIGHUP, metrics, and `mayfly policy test`.
// ---------------------------------------------------------------------------------------------

use support::process::{Process, mayfly_command};

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    mayfly::install_crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Asks the server at `base` for a certificate with a dev token carrying `claims`.
async fn issue_at(base: &str, claims: &Value) -> u16 {
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{base}/dev-oidc/token"))
        .json(claims)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["value"].as_str().unwrap().to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let decoded: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    let (key, pem) = support::p256_key();
    let proof = support::p256_sign(&key, decoded["sub"].as_str().unwrap());
    client
        .post(format!("{base}/api/v2/signingCert"))
        .json(&support::key_request(&token, &pem, &proof))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn sighup_reloads_the_policy_and_a_bad_file_is_counted_and_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = write_policy(tmp.path(), MAIN_ONLY);
    let mut command = mayfly_command(tmp.path());
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--dev-issuer",
        "--data-dir",
    ]);
    command
        .arg(tmp.path().join("data"))
        .arg("--policy")
        .arg(&policy);
    let mut server = Process::spawn(command);
    let base = format!("http://127.0.0.1:{}", server.port());
    assert_eq!(block_on(issue_at(&base, &acme_tag_claims())), 403);

    std::fs::write(&policy, ACME_RELEASES).unwrap();
    server.signal("HUP");
    server.wait_for("reloaded the issuer configuration, policy and CA generations");
    assert_eq!(block_on(issue_at(&base, &acme_tag_claims())), 200);

    // A rotation written beside the running server is loaded by the same signal.
    let mut rotate = mayfly_command(tmp.path());
    rotate
        .args(["ca", "rotate", "--data-dir"])
        .arg(tmp.path().join("data"));
    assert!(rotate.output().unwrap().status.success());
    server.signal("HUP");
    server.wait_for("loaded a new CA generation");

    std::fs::write(&policy, "rules: [").unwrap();
    server.signal("HUP");
    server.wait_for("configuration reload failed");
    assert_eq!(
        block_on(issue_at(&base, &acme_tag_claims())),
        200,
        "old policy kept"
    );

    let metrics = block_on(async {
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("mayfly_config_reload_failures_total 1"),
        "{metrics}"
    );
    let denied = metrics
        .lines()
        .find(|l| l.starts_with("mayfly_issuance_denied_total{issuer=\"http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no denial counter in\n{metrics}"));
    assert!(denied.ends_with(" 1"), "{denied}");
    // Request durations, by the route's pattern and the status: one denial, two certificates.
    let requests = |suffix: &str, status: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!("mayfly_http_request_duration_seconds{suffix}{{"))
                    && l.contains("route=\"/api/v2/signingCert\"")
                    && l.contains("method=\"POST\"")
                    && l.contains(&format!("status=\"{status}\""))
            })
            .unwrap_or_else(|| panic!("no {suffix} series for {status} in\n{metrics}"))
    };
    assert!(requests("_count", "403").ends_with(" 1"), "{metrics}");
    assert!(requests("_count", "200").ends_with(" 2"), "{metrics}");
    assert!(requests("_bucket", "200").contains("le=\""), "{metrics}");
    assert_eq!(server.terminate().code(), Some(0), "{}", server.stderr());
    assert!(server.stderr().contains("issuance denied by policy"));
}

/// GitHub Actions claims as the public issuer sends them, for the shipped issuer config.
fn github_claims(owner: &str, git_ref: &str) -> Value {
    let repo = format!("{owner}/app");
    let workflow = format!("{repo}/.github/workflows/release.yml@{git_ref}");
    json!({
        "iss": "https://token.actions.githubusercontent.com", "aud": "sigstore",
        "sub": format!("repo:{repo}:ref:{git_ref}"), "repository": repo,
        "repository_id": "1", "repository_owner": owner, "repository_owner_id": "2",
        "repository_visibility": "private", "runner_environment": "github-hosted",
        "ref": git_ref, "ref_type": "tag", "sha": "a".repeat(40), "event_name": "push",
        "workflow": "release", "workflow_ref": workflow, "workflow_sha": "b".repeat(40),
        "job_workflow_ref": workflow, "job_workflow_sha": "b".repeat(40),
        "run_id": "3", "run_attempt": "1", "run_number": "4", "actor": "octocat",
        "actor_id": "5",
    })
}

#[test]
fn policy_test_says_allow_deny_or_bad_policy_in_its_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = write_policy(tmp.path(), ACME_RELEASES);
    let run = |policy: &Path, claims: &Value| {
        let file = tmp.path().join("claims.json");
        std::fs::write(&file, claims.to_string()).unwrap();
        let out = mayfly_command(tmp.path())
            .args(["policy", "test", "--policy"])
            .arg(policy)
            .arg("--claims")
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&policy, &github_claims("acme", "refs/tags/v1.2.3"));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("decision  allow"), "{stdout}");
    assert!(stdout.contains("rule      acme-releases"), "{stdout}");
    assert!(
        stdout.contains(
            "identity  https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
        ),
        "{stdout}"
    );

    let (code, stdout, _) = run(&policy, &github_claims("evil", "refs/tags/v1.2.3"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("decision  deny"), "{stdout}");

    let broken = tmp.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "rules:\n  - name: r\n    allow: 'claims.ref.startsWith('\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&broken, &github_claims("acme", "refs/tags/v1"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("\"r\""), "names the rule: {stderr}");
}

/// README's example: the shipped example policy admits its example release claims, and the
/// same claims from a branch are denied.
#[test]
fn the_example_policy_admits_the_example_release_and_nothing_from_a_branch() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("ca-config/examples");
    let tmp = tempfile::tempdir().unwrap();
    let test = |claims: &Path| {
        mayfly_command(tmp.path())
            .args(["policy", "test", "--policy"])
            .arg(examples.join("policy.yaml"))
            .arg("--claims")
            .arg(claims)
            .output()
            .unwrap()
    };
    let out = test(&examples.join("github-release-claims.json"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("rule      acme-releases"), "{stdout}");

    let mut claims: Value = serde_json::from_slice(
        &std::fs::read(examples.join("github-release-claims.json")).unwrap(),
    )
    .unwrap();
    claims["ref"] = json!("refs/heads/main");
    let branch = tmp.path().join("branch.json");
    std::fs::write(&branch, claims.to_string()).unwrap();
    assert_eq!(test(&branch).status.code(), Some(1));
}
