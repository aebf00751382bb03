//! The RFC 3161 timestamp authority (issue 15 item 2) over HTTP: OpenSSL's `ts` tool makes the
//! queries and verifies the replies against the chain the server publishes, malformed queries
//! are 400s with a reason, and the trust documents list the TSA where clients look for it.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Mayfly;

const QUERY: &str = "application/timestamp-query";

fn openssl(args: &[&str], dir: &Path) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is installed");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "openssl {args:?}: {text}");
    text
}

async fn post(mayfly: &Mayfly, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>, String) {
    let response = mayfly
        .client
        .post(format!("{}/api/v1/timestamp", mayfly.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let returned_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        response.bytes().await.unwrap().to_vec(),
        returned_type,
    )
}

/// Writes the served chain as `root.pem` (CAfile) and `tsa.pem` (untrusted signer).
async fn chain_files(mayfly: &Mayfly) -> (PathBuf, PathBuf) {
    let pem = String::from_utf8(mayfly.get_bytes("/api/v1/timestamp/certchain").await).unwrap();
    let blocks: Vec<String> = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_owned)
        .collect();
    assert_eq!(blocks.len(), 2, "leaf and root: {pem}");
    let dir = mayfly.dir.path();
    std::fs::write(dir.join("tsa.pem"), &blocks[0]).unwrap();
    std::fs::write(dir.join("root.pem"), &blocks[1]).unwrap();
    (dir.join("root.pem"), dir.join("tsa.pem"))
}

#[tokio::test]
async fn openssl_verifies_replies_with_and_without_nonce() {
    let mayfly = Mayfly::start(None, false).await;
    let dir = mayfly.dir.path();
    std::fs::write(dir.join("data.txt"), b"time-stamp me\n").unwrap();
    let (root, leaf) = chain_files(&mayfly).await;
    let leaf_text = openssl(&["x509", "-in", "tsa.pem", "-noout", "-text"], dir);
    assert!(
        leaf_text.contains("X509v3 Extended Key Usage: critical")
            && leaf_text.contains("Time Stamping"),
        "{leaf_text}"
    );
    for (name, extra) in [
        ("nonce", &["-cert"][..]),
        ("no-nonce", &["-no_nonce"][..]),
        ("sha512", &["-sha512", "-cert"][..]),
    ] {
        let query = format!("{name}.tsq");
        let reply = format!("{name}.tsr");
        let mut args = vec!["ts", "-query", "-data", "data.txt", "-out", &query];
        if !extra.contains(&"-sha512") {
            args.push("-sha256");
        }
        args.extend_from_slice(extra);
        openssl(&args, dir);
        let (status, body, content_type) =
            post(&mayfly, QUERY, std::fs::read(dir.join(&query)).unwrap()).await;
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        assert_eq!(content_type, "application/timestamp-reply");
        std::fs::write(dir.join(&reply), &body).unwrap();
        let text = openssl(&["ts", "-reply", "-in", &reply, "-text"], dir);
        assert!(text.contains("Status: Granted."), "{text}");
        assert!(text.contains("Accuracy: 0x01 seconds"), "{text}");
        assert!(
            text.contains("Policy OID: 2.25.259335839167217315367362062748699923304"),
            "{text}"
        );
        assert!(text.contains("Ordering: no"), "{text}");
        assert!(
            text.contains("TSA: DirName:/O=127.0.0.1/CN=mayfly-tsa"),
            "{text}"
        );
        let query_text = openssl(&["ts", "-query", "-in", &query, "-text"], dir);
        let nonce_of = |t: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with("Nonce:"))
                .map(|l| l.trim().to_owned())
        };
        // The nonce is echoed exactly; without one, none is invented.
        assert_eq!(nonce_of(&text), nonce_of(&query_text), "{name}");
        if name == "no-nonce" {
            assert_eq!(nonce_of(&text).as_deref(), Some("Nonce: unspecified"));
        }
        let verified = openssl(
            &[
                "ts",
                "-verify",
                "-in",
                &reply,
                "-queryfile",
                &query,
                "-CAfile",
                root.to_str().unwrap(),
                "-untrusted",
                leaf.to_str().unwrap(),
            ],
            dir,
        );
        assert!(verified.contains("Verification: OK"), "{name}: {verified}");
        // And against the data itself.
        let verified = openssl(
            &[
                "ts",
                "-verify",
                "-in",
                &reply,
                "-data",
                "data.txt",
                "-CAfile",
                root.to_str().unwrap(),
                "-untrusted",
                leaf.to_str().unwrap(),
            ],
            dir,
        );
        assert!(verified.contains("Verification: OK"), "{name}: {verified}");
    }
    // A reply for other data does not verify: the check above can fail.
    std::fs::write(dir.join("other.txt"), b"something else\n").unwrap();
    let output = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-in",
            "nonce.tsr",
            "-data",
            "other.txt",
            "-CAfile",
        ])
        .arg(&root)
        .arg("-untrusted")
        .arg(&leaf)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    mayfly.stop().await;
}

#[tokio::test]
async fn malformed_queries_are_400_with_a_reason() {
    let mayfly = Mayfly::start(None, false).await;
    let dir = mayfly.dir.path();
    std::fs::write(dir.join("data.txt"), b"x\n").unwrap();
    openssl(
        &[
            "ts", "-query", "-data", "data.txt", "-sha256", "-out", "good.tsq",
        ],
        dir,
    );
    let good = std::fs::read(dir.join("good.tsq")).unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    // The imprint OCTET STRING is the last 32 bytes before the nonce (8 bytes + 2 header).
    let mut short = good.clone();
    let digest_at = short.windows(2).position(|w| w == [0x04, 0x20]).unwrap();
    short[digest_at + 1] = 0x1F;
    short.remove(digest_at + 2);
    short[1] -= 1;
    short[6] -= 1;
    let mut sha1_oid = good.clone();
    let oid_at = sha1_oid
        .windows(9)
        .position(|w| w == [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01])
        .unwrap();
    sha1_oid[oid_at + 8] = 0x09; // an unassigned arc under the NIST hash algorithms
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (QUERY, trailing, "trailing bytes"),
        (QUERY, short, "hashedMessage is 31 bytes"),
        (
            QUERY,
            sha1_oid,
            "unsupported hash algorithm 2.16.840.1.101.3.4.2.9",
        ),
        (QUERY, b"not DER".to_vec(), "malformed DER"),
        (QUERY, Vec::new(), "malformed DER"),
        ("text/plain", good.clone(), "Content-Type must be"),
        (
            "application/json",
            br#"{"artifactHash":"AAAA","hashAlgorithm":"sha256"}"#.to_vec(),
            "artifactHash is 3 bytes",
        ),
        (
            "application/json",
            br#"{"artifactHash":"AAAA","hashAlgorithm":"md5"}"#.to_vec(),
            "unsupported hashAlgorithm",
        ),
    ];
    for (content_type, body, why) in cases {
        let (status, body, _) = post(&mayfly, content_type, body).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 400, "{why}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(why), "{why}: {message}");
    }
    // Oversized bodies are refused before they are read whole.
    let (status, _, _) = post(&mayfly, QUERY, vec![0x30; 17 * 1024]).await;
    assert_eq!(status, 413);
    // Nothing else was affected: the good query still gets a timestamp, and the JSON form works.
    let (status, _, _) = post(&mayfly, QUERY, good).await;
    assert_eq!(status, 200);
    let json = format!(
        r#"{{"artifactHash":"{}","hashAlgorithm":"sha256","nonce":1234567,"certificates":true}}"#,
        base64_of(&[7; 32])
    );
    let (status, reply, content_type) = post(&mayfly, "application/json", json.into_bytes()).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/timestamp-reply")
    );
    let token = mayfly_spec::tsp::parse_signed_timestamp(&reply).unwrap();
    assert_eq!(
        token.info.nonce.as_deref(),
        Some(&1_234_567u32.to_be_bytes()[1..])
    );
    assert_eq!(token.certificates.len(), 1);
    // Only the genesis entry: a timestamp logs nothing.
    assert_eq!(mayfly.artifacts_size().await, 1, "a timestamp logs nothing");
    mayfly.stop().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn trust_documents_list_the_tsa() {
    let mayfly = Mayfly::start(None, false).await;
    let root = mayfly.get_json("/trust/trusted_root.json").await;
    let tsas = root["timestampAuthorities"].as_array().unwrap();
    assert_eq!(tsas.len(), 1);
    let tsa = &tsas[0];
    assert_eq!(tsa["subject"]["commonName"], "mayfly-tsa");
    assert_eq!(tsa["uri"], format!("{}/api/v1/timestamp", mayfly.url));
    let served = String::from_utf8(mayfly.get_bytes("/api/v1/timestamp/certchain").await).unwrap();
    let listed: Vec<String> = tsa["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            use base64::Engine as _;
            let der = base64::engine::general_purpose::STANDARD
                .decode(c["rawBytes"].as_str().unwrap())
                .unwrap();
            mayfly_spec::pem::encode("CERTIFICATE", &der)
        })
        .collect();
    assert_eq!(listed.concat(), served, "leaf first, then root, as served");
    assert!(tsa["validFor"]["end"].is_string());
    let config = mayfly.get_json("/trust/signing_config.json").await;
    let urls = config["tsaUrls"].as_array().unwrap();
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0]["url"], format!("{}/api/v1/timestamp", mayfly.url));
    assert_eq!(urls[0]["majorApiVersion"], 1);
    assert_eq!(config["tsaConfig"]["selector"], "ANY");
    // With a TSA to date its entries, the Rekor v2 log is listed (first), then v1.
    let rekor: Vec<&Value> = config["rekorTlogUrls"].as_array().unwrap().iter().collect();
    let versions: Vec<&Value> = rekor.iter().map(|r| &r["majorApiVersion"]).collect();
    assert_eq!(versions, [2, 1]);
    // The same files, from the data dir, offline (`mayfly trust`).
    let dir = mayfly::instance::DataDir::new(&mayfly.config.data_dir);
    let url = mayfly::instance::PublicUrl::new(mayfly.config.public_url.clone()).unwrap();
    let offline = mayfly::trust::datadir::from_data_dir(&dir, &url, false).unwrap();
    let json: Value = serde_json::to_value(&offline.trusted_root).unwrap();
    assert_eq!(json["timestampAuthorities"], root["timestampAuthorities"]);
    assert_eq!(
        serde_json::to_value(&offline.signing_config).unwrap(),
        config
    );
    mayfly.stop().await;
}

/// A data dir made before the TSA existed (no TSA files) gets one on its next start, and
/// keeps it on the starts after.
#[tokio::test]
async fn an_existing_data_dir_without_a_tsa_gets_one_at_start() {
    let mut mayfly = Mayfly::start(None, false).await;
    let first = mayfly.state.tsa.chain().to_vec();
    mayfly.shut_down().await;
    let dir = mayfly::instance::DataDir::new(&mayfly.config.data_dir);
    for file in dir.tsa_files() {
        std::fs::remove_file(file).unwrap();
    }
    let reopened = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .unwrap();
    let created = reopened.state.tsa.chain().to_vec();
    assert_ne!(created, first, "a new TSA");
    assert!(dir.tsa_files().iter().all(|f| f.exists()));
    reopened.close().await;
    let again = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .unwrap();
    assert_eq!(again.state.tsa.chain(), created, "kept across starts");
    again.close().await;
}
