//! The web explorer against a real server: every page answers with its Content-Security-Policy,
//! search finds the right certificates and pages on, certificate pages verify their inclusion
//! proof and list the artifact entries signed with the certificate, hostile claim text is shown
//! escaped, unknown indexes are 404 and bad searches 400. Then a real browser (Debian's headless
//! Chromium) follows search → result → certificate page, and a screenshot of each page is kept
//! under `target/explorer-screenshots/`.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mayfly::log::storage::LogSlot;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::*;

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    pages_answer_with_csp_and_search_finds_by_repository,
    hostile_text_is_shown_escaped,
    a_certificate_page_finds_its_entries_past_a_busy_san,
    a_real_browser_follows_search_to_certificate,
);

const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";
const HOSTILE_REF: &str = "refs/heads/<script>alert(1)</script>";

fn acme_claims() -> Value {
    json!({"repository": "acme/tool", "repository_owner": "acme",
           "job_workflow_ref": "acme/tool/.github/workflows/release.yml@refs/tags/v1",
           "ref": "refs/tags/v1", "event_name": "release",
           "sub": "repo:acme/tool:ref:refs/tags/v1"})
}

/// Issues a certificate for a token with `claims`; returns its PEM and key.
async fn issue(mayfly: &Mayfly, claims: &Value) -> (String, p256::ecdsa::SigningKey) {
    let (request, key) = mayfly.signing_request_with(claims).await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    let pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap()
        .to_owned();
    (pem, key)
}

/// Logs a hashedrekord of `blob` signed by `key` with certificate `pem`; returns its digest.
async fn log_artifact(mayfly: &Mayfly, pem: &str, key: &p256::ecdsa::SigningKey, blob: &[u8]) {
    use p256::ecdsa::signature::Signer;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(blob));
    let sig: p256::ecdsa::DerSignature = key.sign(blob);
    let entry = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest}},
        "signature": {"content": B64.encode(sig.as_bytes()),
                      "publicKey": {"content": B64.encode(pem)}}}});
    mayfly.create_entry(&entry).await;
}

async fn indexed(mayfly: &Mayfly, slot: LogSlot, size: u64) {
    tokio::time::timeout(
        Duration::from_secs(20),
        mayfly.state.index.indexed(slot, size),
    )
    .await
    .expect("the index catches up");
}

/// Issuance log: 0 and 2 octo-org/octo-repo (the dev issuer's default), 1 acme/tool, 3 the
/// hostile ref. Artifact log: 0 signed with certificate 0.
async fn populated() -> Mayfly {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let (pem, key) = issue(&mayfly, &json!({})).await;
    issue(&mayfly, &acme_claims()).await;
    issue(&mayfly, &json!({})).await;
    issue(&mayfly, &json!({"ref": HOSTILE_REF})).await;
    log_artifact(&mayfly, &pem, &key, b"an artifact").await;
    indexed(&mayfly, LogSlot::ISSUANCE, 4).await;
    // Index 0 is the artifact log's genesis entry; the client's entry is at 1.
    indexed(&mayfly, LogSlot::ARTIFACTS, 2).await;
    mayfly
}

/// GETs `path`; checks the security headers every explorer response carries.
async fn page(mayfly: &Mayfly, path: &str) -> (u16, String) {
    let response = mayfly
        .client
        .get(format!("{}{path}", mayfly.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers: HeaderMap = response.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("content-security-policy"), Some(CSP), "{path}");
    assert_eq!(header("x-content-type-options"), Some("nosniff"), "{path}");
    assert_eq!(
        header("content-type"),
        Some("text/html; charset=utf-8"),
        "{path}"
    );
    (status, response.text().await.unwrap())
}

/// The `/certificates/N` links of a page, in order.
fn certificate_links(html: &str) -> Vec<u64> {
    html.split("href=\"/certificates/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

async fn pages_answer_with_csp_and_search_finds_by_repository() {
    let mayfly = populated().await;

    let (status, home) = page(&mayfly, "/").await;
    assert_eq!(status, 200);
    assert!(home.contains(&mayfly.url), "the public URL is shown");
    assert!(
        home.contains("https://token.actions.githubusercontent.com") || home.contains("dev-oidc")
    );
    assert!(home.contains("intermediate") && home.contains("root"));
    assert!(home.contains("<dd class=\"size\">4</dd>"), "issuance size");
    assert!(
        home.contains("<dd class=\"size\">2</dd>"),
        "artifact size, genesis included"
    );
    assert_eq!(certificate_links(&home), [3, 2, 1, 0], "newest first");

    // As the form sends it: every field, the unused ones empty.
    let (status, found) = page(
        &mayfly,
        "/search?repository=acme%2Ftool&san=&issuer=&since=&until=",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(certificate_links(&found), [1]);
    let (_, found) = page(&mayfly, "/search?repository=octo-org/octo-repo").await;
    assert_eq!(certificate_links(&found), [0, 2, 3]);

    // Paging: one per page, the next link carries the search and the cursor.
    let (_, first) = page(&mayfly, "/search?repository=octo-org/octo-repo&limit=1").await;
    assert_eq!(certificate_links(&first), [0]);
    let next = first
        .split("class=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next-page link")
        .replace("&amp;", "&");
    assert!(next.contains("cursor=2"), "{next}");
    let (_, second) = page(&mayfly, &next).await;
    assert_eq!(certificate_links(&second), [2]);

    let (status, certificate) = page(&mayfly, "/certificates/0").await;
    assert_eq!(status, 200);
    assert!(certificate.contains(
        "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
    ));
    assert!(certificate.contains("<p class=\"proof ok\">verified</p>"));
    for name in [
        "Source Repository URI",
        "Build Signer URI",
        "Issuer",
        "Source Repository Ref",
    ] {
        assert!(certificate.contains(&format!("<td>{name}</td>")), "{name}");
    }
    assert!(
        certificate.contains("href=\"/entries/1\""),
        "the artifact entry signed with it"
    );
    let (_, other) = page(&mayfly, "/certificates/2").await;
    assert!(
        !other.contains("href=\"/entries/1\""),
        "same SAN, another certificate: not its entry"
    );

    let (status, genesis) = page(&mayfly, "/entries/0").await;
    assert_eq!(status, 200, "the genesis entry is shown, labelled");
    assert!(
        genesis.contains("genesis (the log&#39;s first entry, not a signature)")
            || genesis.contains("genesis (the log's first entry, not a signature)"),
        "{genesis}"
    );
    let (status, entry) = page(&mayfly, "/entries/1").await;
    assert_eq!(status, 200);
    assert!(entry.contains("hashedrekord"));
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"an artifact"));
    assert!(entry.contains(&format!("sha256:{digest}")));

    for path in [
        "/certificates/4",
        "/entries/2",
        "/certificates/18446744073709551615",
    ] {
        let (status, body) = page(&mayfly, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("has no entry"), "{path}: {body}");
    }
    for (path, says) in [
        ("/certificates/abc", "non-negative integer"),
        ("/search?since=yesterday", "since must be an RFC 3339 time"),
        ("/search?colour=red", "unknown parameter"),
    ] {
        let (status, body) = page(&mayfly, path).await;
        assert_eq!(status, 400, "{path}");
        assert!(body.contains(says), "{path}: {body}");
    }
    let css = mayfly
        .client
        .get(format!("{}/explorer.css", mayfly.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    mayfly.stop().await;
}

async fn hostile_text_is_shown_escaped() {
    let mayfly = populated().await;
    let (_, certificate) = page(&mayfly, "/certificates/3").await;
    assert!(
        certificate.contains("refs/heads/&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the ref extension, escaped"
    );
    let (_, home) = page(&mayfly, "/").await;
    let (_, search) = page(
        &mayfly,
        "/search?san=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    )
    .await;
    assert!(
        search.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "the form echoes the query escaped"
    );
    let (status, bad) = page(&mayfly, "/search?since=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(status, 400);
    for (what, html) in [
        ("certificate", &certificate),
        ("home", &home),
        ("search", &search),
        ("400", &bad),
    ] {
        assert!(!html.contains("<script"), "{what} page holds raw markup");
    }
    mayfly.stop().await;
}

/// A hashedrekord body naming certificate `pem` as its verifier, logged straight into the
/// artifact log (the index reads bodies; it does not verify signatures): many entries fast.
async fn append_entries(mayfly: &Mayfly, pem: &str, tag: &str, count: usize) {
    let mut tasks = Vec::new();
    for i in 0..count {
        let state = mayfly.state.clone();
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("{tag} {i}")));
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
            "signature": {"content": B64.encode(b"not checked here"),
                          "publicKey": {"content": B64.encode(pem)}}}});
        tasks.push(tokio::spawn(async move {
            state.artifacts.append(body.to_string().into_bytes()).await
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
}

async fn a_certificate_page_finds_its_entries_past_a_busy_san() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    // Certificate 0 signs 300 entries (all of bundle 0 and the start of bundle 1); certificate 1,
    // same SAN, issued later, signs one. Both pages look at 100 candidates at most.
    let (first, _) = issue(&mayfly, &json!({})).await;
    append_entries(&mayfly, &first, "first", 300).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (second, _) = issue(&mayfly, &json!({})).await;
    append_entries(&mayfly, &second, "second", 1).await;
    indexed(&mayfly, LogSlot::ISSUANCE, 2).await;
    indexed(&mayfly, LogSlot::ARTIFACTS, 302).await;

    let (_, page_two) = page(&mayfly, "/certificates/1").await;
    assert_eq!(
        page_two.matches("href=\"/entries/").count(),
        1,
        "exactly its own entry, found past the 256 entries of another certificate"
    );
    assert!(page_two.contains("href=\"/entries/301\""));
    assert!(!page_two.contains("Only the first entries"));

    let (_, page_one) = page(&mayfly, "/certificates/0").await;
    assert_eq!(page_one.matches("href=\"/entries/").count(), 100);
    assert!(!page_one.contains("href=\"/entries/301\""));
    assert!(
        page_one.contains("Only the first entries naming this SAN were checked"),
        "the cap is said"
    );
    mayfly.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A real browser.
// ---------------------------------------------------------------------------------------------

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("explorer-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium under coreutils' `timeout`, so a page that never loads fails the test (status 124)
/// instead of hanging it, and the browser is killed with it.
fn chromium(profile: &std::path::Path) -> Command {
    let mut command = Command::new("timeout");
    command.args([
        "60",
        "chromium",
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The DOM Chromium renders for `url`.
async fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = chromium(profile.path());
    command.args(["--dump-dom", url]);
    let output = clients::run(command).await;
    String::from_utf8(output.stdout).unwrap()
}

/// A screenshot of `url`, kept as `name`.png.
async fn screenshot(url: &str, name: &str) {
    let profile = tempfile::tempdir().unwrap();
    let file = screenshots_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&file);
    let mut command = chromium(profile.path());
    command.arg(format!("--screenshot={}", file.display()));
    command.args(["--window-size=1280,900", url]);
    clients::run(command).await;
    let png = std::fs::read(&file).unwrap_or_else(|e| panic!("no screenshot of {url}: {e}"));
    assert!(png.starts_with(b"\x89PNG"), "{name}.png is not a PNG");
}

async fn a_real_browser_follows_search_to_certificate() {
    let found = Command::new("chromium").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "headless Chromium is required: install Debian's `chromium` (tests/system/install.sh, \
         which .ci/run runs): {found:?}"
    );
    let mayfly = populated().await;

    let home = format!("{}/", mayfly.url);
    let dom = dump_dom(&home).await;
    assert!(dom.contains("Recent issuances"), "{dom}");
    screenshot(&home, "1-home").await;

    // The home page's form: a GET to /search with a repository field.
    assert!(dom.contains("action=\"/search\"") && dom.contains("name=\"repository\""));
    let search = format!("{}/search?repository=acme%2Ftool", mayfly.url);
    let dom = dump_dom(&search).await;
    let links = certificate_links(&dom);
    assert_eq!(links, [1], "{dom}");
    screenshot(&search, "2-search").await;

    let certificate = format!("{}/certificates/{}", mayfly.url, links[0]);
    let dom = dump_dom(&certificate).await;
    assert!(
        dom.contains("https://github.com/acme/tool/.github/workflows/release.yml@refs/tags/v1"),
        "{dom}"
    );
    assert!(dom.contains(">verified<"), "{dom}");
    for name in [
        "Source Repository URI",
        "Source Repository Ref",
        "Build Trigger",
    ] {
        assert!(dom.contains(name), "{name} in {dom}");
    }
    screenshot(&certificate, "3-certificate").await;

    // The hostile certificate: the browser shows the text and built no script element.
    let hostile = format!("{}/certificates/3", mayfly.url);
    let dom = dump_dom(&hostile).await;
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "{dom}");
    screenshot(&hostile, "4-hostile-certificate").await;

    let entry = format!("{}/entries/1", mayfly.url);
    let dom = dump_dom(&entry).await;
    assert!(dom.contains("hashedrekord"), "{dom}");
    screenshot(&entry, "5-entry").await;
    mayfly.stop().await;
}
