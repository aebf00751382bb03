//! `mayfly bench bodies`: what it writes is what a generic load tool needs. Each certificate
//! request issues a certificate, each dsse entry is logged once (a second send is a 409, which
//! is why the entries must be distinct), and the wrk script is beside them.

mod support;

use support::Mayfly;
use support::process::mayfly_command;

#[tokio::test]
async fn bodies_issue_certificates_and_log_distinct_entries() {
    let mayfly = Mayfly::start(None, true).await;
    let out = tempfile::tempdir().unwrap();
    let mut command = mayfly_command(out.path());
    command.args([
        "bench",
        "bodies",
        "--url",
        &mayfly.url,
        "--out",
        "b",
        "--entries",
        "3",
    ]);
    let status = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("wrk -t2 -c256"));

    let dir = out.path().join("b");
    let script = std::fs::read_to_string(dir.join("post.lua")).unwrap();
    assert!(script.contains("function request()"));
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        http.post(format!("{}{path}", mayfly.url))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let requests = std::fs::read_to_string(dir.join("issue.jsonl")).unwrap();
    let first = requests.lines().next().unwrap();
    for _ in 0..2 {
        // The same request twice is two certificates: issuance has no dedup.
        assert_eq!(
            post("/api/v2/signingCert", first).await.unwrap().status(),
            200
        );
    }
    let entries = std::fs::read_to_string(dir.join("dsse.jsonl")).unwrap();
    let entries: Vec<&str> = entries.lines().collect();
    assert_eq!(entries.len(), 3);
    for entry in &entries {
        assert_eq!(
            post("/api/v1/log/entries", entry).await.unwrap().status(),
            201
        );
    }
    assert_eq!(
        post("/api/v1/log/entries", entries[0])
            .await
            .unwrap()
            .status(),
        409
    );
    mayfly.stop().await;
}
