//! `/trust/*` on a running server, and `mayfly trust` writing the same bytes offline from
//! its data dir.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use support::Mayfly;
use x509_parser::prelude::{FromDer, X509Certificate};

const NAMES: [&str; 4] = [
    "trusted_root.json",
    "signing_config.json",
    "client_trust_config.json",
    "signing_config.v2.json",
];

#[tokio::test]
async fn served_documents_describe_this_instance() {
    let mayfly = Mayfly::start(None, true).await;
    let root = mayfly.get_json("/trust/trusted_root.json").await;
    let signing = mayfly.get_json("/trust/signing_config.json").await;
    let both = mayfly.get_json("/trust/client_trust_config.json").await;
    assert_eq!(both["trustedRoot"], root);
    assert_eq!(both["signingConfig"], signing);

    // The logs are the server's own keys: ids match what the tile endpoints publish.
    let artifacts_pem = mayfly.get_bytes("/logs/artifacts/key.pem").await;
    let issuance_pem = mayfly.get_bytes("/logs/issuance/key.pem").await;
    let spki =
        |pem: &[u8]| STANDARD.encode(&support::pem_ders(std::str::from_utf8(pem).unwrap())[0]);
    assert_eq!(
        root["tlogs"][0]["publicKey"]["rawBytes"],
        spki(&artifacts_pem)
    );
    assert_eq!(
        root["ctlogs"][0]["publicKey"]["rawBytes"],
        spki(&issuance_pem)
    );
    assert_eq!(root["tlogs"][0]["baseUrl"], mayfly.url.as_str());

    // The checkpoint key names are contained in the base URLs (sigstore-js's rule).
    for (log, path) in [("tlogs", "artifacts"), ("ctlogs", "issuance")] {
        let note = mayfly.get_bytes(&format!("/logs/{path}/checkpoint")).await;
        let note = String::from_utf8(note).unwrap();
        let signature_line = note.lines().last().unwrap();
        let key_name = signature_line.split(' ').nth(1).unwrap();
        let base = root[log][0]["baseUrl"].as_str().unwrap();
        assert!(base.contains(key_name), "{log}: {base} vs {key_name}");
    }

    // The CA chain is the one the server issues under, anchor last, and validFor.start is
    // the root's notBefore, which is no later than now.
    let bundle = String::from_utf8(mayfly.get_bytes("/api/v1/rootCert").await).unwrap();
    let served_chain: Vec<Value> = root["certificateAuthorities"][0]["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .clone();
    let ders = support::pem_ders(&bundle);
    assert_eq!(
        served_chain.last().unwrap()["rawBytes"],
        STANDARD.encode(ders.last().unwrap())
    );
    let anchor = STANDARD
        .decode(served_chain.last().unwrap()["rawBytes"].as_str().unwrap())
        .unwrap();
    let (_, cert) = X509Certificate::from_der(&anchor).unwrap();
    let not_before = cert.validity().not_before.timestamp();
    let start = root["tlogs"][0]["publicKey"]["validFor"]["start"]
        .as_str()
        .unwrap();
    let parsed =
        time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed.unix_timestamp(), not_before);
    assert!(not_before <= support::now() as i64);

    assert_eq!(
        signing["oidcUrls"][0]["url"],
        mayfly.dev_issuer_url().as_str()
    );
    // Rekor v2 first (with the TSA that dates its entries), then v1.
    assert_eq!(signing["rekorTlogUrls"][0]["majorApiVersion"], 2);
    assert_eq!(
        signing["rekorTlogUrls"][0]["url"],
        root["tlogs"][1]["baseUrl"]
    );
    assert_eq!(signing["rekorTlogUrls"][1]["majorApiVersion"], 1);
    assert_eq!(signing["rekorTlogUrls"][1]["url"], mayfly.url.as_str());
    assert_eq!(
        signing["tsaUrls"][0]["url"],
        root["timestampAuthorities"][0]["uri"]
    );
    mayfly.stop().await;
}

/// `mayfly trust` reads the data dir (not the server) and writes byte-identical files.
#[tokio::test]
async fn trust_subcommand_writes_what_the_server_serves() {
    let mayfly = Mayfly::start(None, true).await;
    let mut served = Vec::new();
    for name in NAMES {
        served.push(mayfly.get_bytes(&format!("/trust/{name}")).await);
    }
    let out = mayfly.dir.path().join("out");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .arg("trust")
        .arg("--data-dir")
        .arg(mayfly.dir.path().join("data"))
        .arg("--public-url")
        .arg(&mayfly.url)
        .arg("--dev-issuer")
        .arg("--out")
        .arg(&out)
        .env("MAYFLY_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    for (name, served) in NAMES.iter().zip(served) {
        let written = std::fs::read(out.join(name)).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(served).unwrap(),
            "{name}"
        );
    }
    mayfly.stop().await;
}

#[test]
fn trust_subcommand_explains_a_missing_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .arg("trust")
        .arg("--data-dir")
        .arg(dir.path().join("nothing-here"))
        .arg("--public-url")
        .arg("http://127.0.0.1:8700")
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ca/root.pem"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}
