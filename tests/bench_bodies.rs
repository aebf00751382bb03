//! The load and floor programs BENCHMARKS.md is made with. `mayfly bench bodies`: what it
//! writes is what a generic load tool needs. Each certificate request issues a certificate, each
//! dsse entry is logged once (a second send is a 409, which is why the entries must be
//! distinct), and the wrk script is beside them. `src/bench/sqlite_floor.py`: it still writes
//! the schemas the migrations create.

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

/// Runs the wrk script `bench bodies` wrote and returns (requests, answers other than the
/// expected status), from wrk's own report.
fn run_wrk(dir: &std::path::Path, url: &str, bodies: &str, expected: u16) -> (u64, u64) {
    let output = std::process::Command::new("wrk")
        .args(["-t2", "-c2", "-d1s", "-s"])
        .arg(dir.join("post.lua"))
        .arg(url)
        .arg("--")
        .arg(dir.join(bodies))
        .args([&expected.to_string(), "2"])
        .output()
        .expect("wrk runs (tests/system/install.sh installs it)");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{report}");
    let requests = report
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {report}"));
    let other = report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("answers other than {expected}: ")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count of other answers in {report}"));
    (requests, other)
}

/// The script sends each body once (both threads, each from its own part of the file, read as
/// it goes), so a real log takes every one of them; it counts every answer that is not the
/// expected status (the 409s of a second pass over the same bodies, a server that answers
/// otherwise); and `bench http-floor` answers it as configured.
#[tokio::test]
async fn the_wrk_script_sends_distinct_bodies_and_counts_other_answers() {
    let mayfly = Mayfly::start(None, true).await;
    let out = tempfile::tempdir().unwrap();
    let mut command = mayfly_command(out.path());
    let url = mayfly.url.clone();
    command.args(["bench", "bodies", "--url", &url, "--out", "b"]);
    command.args(["--entries", "4000"]);
    let made = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(made.status.success());
    let dir = out.path().join("b");
    let entries = format!("{url}/api/v1/log/entries");

    let (dir2, entries2) = (dir.clone(), entries.clone());
    let (sent, other) =
        tokio::task::spawn_blocking(move || run_wrk(&dir2, &entries2, "dsse.jsonl", 201))
            .await
            .unwrap();
    assert!(sent > 0);
    assert_eq!(other, 0, "every body was new to the log");
    let log: serde_json::Value = reqwest::get(format!("{url}/api/v1/log"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let size = log["treeSize"].as_u64().unwrap();
    // wrk does not count the requests still in flight when it stops; the log has them too.
    assert!(size >= sent, "log of {size} entries after {sent} created");

    // The same bodies again, from the start of each thread's part: all already logged.
    let (dir2, entries2) = (dir.clone(), entries.clone());
    let (again, conflicts) =
        tokio::task::spawn_blocking(move || run_wrk(&dir2, &entries2, "dsse.jsonl", 201))
            .await
            .unwrap();
    assert!(again > 0);
    assert!(conflicts > 0, "409s are counted as other answers");
    mayfly.stop().await;

    let mut floor = support::process::Process::spawn({
        let mut c = mayfly_command(out.path());
        c.args(["bench", "http-floor", "--listen", "127.0.0.1:0"]);
        c.args(["--status", "201", "--reply-bytes", "300"]);
        c
    });
    let line = floor.wait_for("http-floor: serving");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/v1/log/entries"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.bytes().await.unwrap().len(), 300);
    let (dir2, floor_url) = (dir.clone(), format!("{base}/api/v2/signingCert"));
    let (sent, other) =
        tokio::task::spawn_blocking(move || run_wrk(&dir2, &floor_url, "issue.jsonl", 200))
            .await
            .unwrap();
    assert!(sent > 0);
    assert_eq!(other, sent, "every 201 counted where 200 was expected");
}

/// The SQLite floor script runs each of its modes against the current migrations (a renamed
/// table or column fails it) and reports a positive rate for each, leaving nothing behind.
#[test]
fn the_sqlite_floor_script_writes_the_current_schemas() {
    let scratch = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bench/sqlite_floor.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(["--seconds", "0.2", "--dir"])
        .arg(scratch.path())
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let modes = [
        "entries",
        "artifact-log",
        "artifact-index",
        "issuance-log",
        "issuance-index",
    ];
    for mode in modes {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {mode} |")))
            .unwrap_or_else(|| panic!("no row for {mode} in {report}"));
        let rate: f64 = row
            .split('|')
            .nth(2)
            .unwrap()
            .trim()
            .replace(',', "")
            .parse()
            .unwrap();
        assert!(rate > 0.0, "{row}");
    }
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}
