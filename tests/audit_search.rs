//! The search index and the auditors' API against a real server: certificates issued through
//! the dev issuer with different CI claims are found by every filter, pages cover everything
//! once, every answer's inclusion proof verifies against the signed checkpoint and its
//! certificate is the one the CA handed out (same TBS), a rebuilt index answers the same, and
//! Rekor's index/retrieve finds artifact entries by hash, e-mail/SAN and public key.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mayfly::log::storage::LogSlot;
use mayfly_spec::audit::CertificatesPage;
use mayfly_spec::ct;
use mayfly_spec::tlog::checkpoint::open_checkpoint;
use mayfly_spec::tlog::proof::verify_inclusion;
use mayfly_spec::tlog::{Hash, leaf_hash};
use serde_json::{Value, json};
use std::time::Duration;
use support::*;

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    every_filter_finds_its_certificates_with_proofs,
    pages_cover_everything_exactly_once,
    bad_parameters_are_400_with_a_message,
    index_retrieve_finds_rekor_entries,
    mayfly_audit_search_verifies_before_printing,
    mayfly_index_rebuild_on_a_stopped_instance,
    tampered_answers_are_refused_by_the_auditor,
    index_retrieve_finds_an_email_identity_whatever_its_case,
    index_retrieve_finds_entries_of_every_bundle_and_transaction,
);

const OCTO: &str = "https://github.com/octo-org/octo-repo";
const OTHER_WORKFLOW: &str = "octo-org/other/.github/workflows/ci.yml@refs/heads/dev";
const ACME_WORKFLOW: &str = "acme/tool/.github/workflows/release.yml@refs/tags/v1";

fn other_claims() -> Value {
    json!({"repository": "octo-org/other", "job_workflow_ref": OTHER_WORKFLOW,
           "ref": "refs/heads/dev", "event_name": "workflow_dispatch",
           "sub": "repo:octo-org/other:ref:refs/heads/dev"})
}

fn acme_claims() -> Value {
    json!({"repository": "acme/tool", "repository_owner": "acme", "repository_id": "1",
           "repository_owner_id": "2", "job_workflow_ref": ACME_WORKFLOW,
           "ref": "refs/tags/v1", "ref_type": "tag", "event_name": "release",
           "sub": "repo:acme/tool:ref:refs/tags/v1"})
}

/// Issues a certificate for a token with `claims`; returns the certificate's DER.
async fn issue(mayfly: &Mayfly, claims: &Value) -> Vec<u8> {
    let (request, _) = mayfly.signing_request_with(claims).await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    let pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap();
    pem_ders(pem).remove(0)
}

/// 3 octo-repo, 2 octo-org/other, 2 acme/tool certificates, indexed; their DERs in log order.
async fn seven_certificates(mayfly: &Mayfly) -> Vec<Vec<u8>> {
    let mut issued = Vec::new();
    for claims in [
        json!({}),
        other_claims(),
        acme_claims(),
        json!({}),
        other_claims(),
        acme_claims(),
        json!({}),
    ] {
        issued.push(issue(mayfly, &claims).await);
    }
    indexed(mayfly, LogSlot::ISSUANCE, 7).await;
    issued
}

async fn indexed(mayfly: &Mayfly, slot: LogSlot, size: u64) {
    tokio::time::timeout(
        Duration::from_secs(20),
        mayfly.state.index.indexed(slot, size),
    )
    .await
    .expect("the index catches up");
}

/// Rekor's `POST /api/v1/index/retrieve`: the status and the JSON answer.
async fn index_retrieve(mayfly: &Mayfly, query: Value) -> (u16, Value) {
    let response = mayfly
        .client
        .post(format!("{}/api/v1/index/retrieve", mayfly.url))
        .json(&query)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.unwrap())
}

async fn get(mayfly: &Mayfly, query: &str) -> (u16, Value) {
    let response = mayfly
        .client
        .get(format!("{}/api/v1/audit/certificates?{query}", mayfly.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Every page of a search, each checked: proofs verify, certificates are the issued ones.
async fn search(mayfly: &Mayfly, issued: &[Vec<u8>], query: &str) -> Vec<u64> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_owned(),
        };
        let (status, body) = get(mayfly, &q).await;
        assert_eq!(status, 200, "{q}: {body}");
        let page: CertificatesPage = serde_json::from_value(body).unwrap();
        for item in &page.certificates {
            check(mayfly, issued, item);
            found.push(item.log_index);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}

fn check(mayfly: &Mayfly, issued: &[Vec<u8>], item: &mayfly_spec::audit::AuditedCertificate) {
    let log = &mayfly.state.issuance;
    let proof = &item.inclusion_proof;
    let verifier = log.key().note_verifier(&log.config().origin).unwrap();
    let opened = open_checkpoint(proof.checkpoint.as_bytes(), &log.config().origin, &verifier)
        .expect("the checkpoint is signed by the issuance log key");
    assert_eq!(opened.checkpoint.size, proof.tree_size);
    assert_eq!(opened.checkpoint.root.to_hex(), proof.root_hash);
    let leaf = B64.decode(&item.leaf).unwrap();
    let hashes: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).unwrap())
        .collect();
    verify_inclusion(
        &leaf_hash(&leaf),
        item.log_index,
        proof.tree_size,
        &hashes,
        &opened.checkpoint.root,
    )
    .expect("the inclusion proof verifies");
    // The certificate is rebuilt from the logged TBS, which is the issued certificate's TBS
    // without its SCT list.
    let logged = ct::parse_precert_leaf(&leaf).unwrap();
    let rebuilt = pem_ders(&item.certificate).remove(0);
    assert_eq!(ct::tbs_certificate(&rebuilt).unwrap(), logged.entry.tbs);
    let final_tbs = ct::final_cert_signing_tbs(&issued[item.log_index as usize]).unwrap();
    assert_eq!(final_tbs, logged.entry.tbs);
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn every_filter_finds_its_certificates_with_proofs() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let issued = seven_certificates(&mayfly).await;
    let issuer = mayfly.dev_issuer_url();
    let cases: Vec<(String, Vec<u64>)> = vec![
        (format!("repository={}", enc(OCTO)), vec![0, 3, 6]),
        ("repository=octo-org/octo-repo".into(), vec![0, 3, 6]),
        ("repository=octo-org/other".into(), vec![1, 4]),
        ("owner=octo-org".into(), vec![0, 1, 3, 4, 6]),
        (
            format!("owner={}", enc("https://github.com/acme")),
            vec![2, 5],
        ),
        ("ref=refs/tags/v1".into(), vec![2, 5]),
        ("ref=refs/heads/dev".into(), vec![1, 4]),
        (
            format!(
                "workflow={}",
                enc(&format!("https://github.com/{ACME_WORKFLOW}"))
            ),
            vec![2, 5],
        ),
        (
            format!(
                "san={}",
                enc(&format!("https://github.com/{OTHER_WORKFLOW}"))
            ),
            vec![1, 4],
        ),
        ("trigger=release".into(), vec![2, 5]),
        (format!("issuer={}", enc(&issuer)), (0..7).collect()),
        ("owner=octo-org&trigger=push".into(), vec![0, 3, 6]),
        ("owner=acme&ref=refs/heads/main".into(), vec![]),
        ("repository=nobody/nothing".into(), vec![]),
        ("since=2020-01-01T00:00:00Z".into(), (0..7).collect()),
        ("since=2999-01-01T00:00:00Z".into(), vec![]),
        ("until=2020-01-01T00:00:00Z".into(), vec![]),
        (
            "owner=acme&since=2020-01-01T00:00:00Z&until=2999-01-01T00:00:00Z".into(),
            vec![2, 5],
        ),
        ("limit=1000".into(), (0..7).collect()),
    ];
    for (query, want) in &cases {
        assert_eq!(&search(&mayfly, &issued, query).await, want, "{query}");
    }

    // Decoded identity and extensions by name.
    let (_, body) = get(&mayfly, "repository=acme/tool&limit=1").await;
    let item = &body["certificates"][0];
    assert_eq!(item["san"], format!("https://github.com/{ACME_WORKFLOW}"));
    assert_eq!(item["issuer"], issuer);
    assert_eq!(
        item["extensions"]["SourceRepositoryURI"],
        "https://github.com/acme/tool"
    );
    assert_eq!(item["extensions"]["BuildTrigger"], "release");
    assert!(item["notBefore"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["nextCursor"], "5");

    // A rebuilt index answers the same.
    let before: Vec<Vec<u64>> = {
        let mut all = Vec::new();
        for (query, _) in &cases {
            all.push(search(&mayfly, &issued, query).await);
        }
        all
    };
    let report = mayfly::index::rebuild(mayfly.state.issuance.store())
        .await
        .unwrap();
    // The artifact log's genesis entry is counted (with no search terms).
    assert_eq!(report, vec![("issuance", 7), ("artifacts", 1)]);
    for ((query, _), want) in cases.iter().zip(&before) {
        assert_eq!(
            &search(&mayfly, &issued, query).await,
            want,
            "after rebuild: {query}"
        );
    }
    // A rebuild racing another indexer (a replica's, or this server's own) goes on from
    // wherever the winner left the position.
    let faults = mayfly::testing::Faults::default();
    faults.arm(mayfly::testing::Fault::IndexAddLosesRace);
    let raced = mayfly.state.issuance.store().clone().with_faults(&faults);
    let report = mayfly::index::rebuild(&raced).await.unwrap();
    assert_eq!(report, vec![("issuance", 7), ("artifacts", 1)]);
    assert!(
        faults.pending().is_empty(),
        "the rebuild never met the other indexer"
    );
    for ((query, _), want) in cases.iter().zip(&before) {
        assert_eq!(
            &search(&mayfly, &issued, query).await,
            want,
            "after a raced rebuild: {query}"
        );
    }
    // The running indexer goes on from the rebuilt position.
    issued_one_more(&mayfly, issued).await;
}

async fn issued_one_more(mayfly: &Mayfly, mut issued: Vec<Vec<u8>>) {
    issued.push(issue(mayfly, &acme_claims()).await);
    indexed(mayfly, LogSlot::ISSUANCE, 8).await;
    assert_eq!(
        search(mayfly, &issued, "repository=acme/tool").await,
        vec![2, 5, 7]
    );
}

async fn pages_cover_everything_exactly_once() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let issued = seven_certificates(&mayfly).await;
    for limit in 1..=8 {
        let found = search(&mayfly, &issued, &format!("limit={limit}")).await;
        assert_eq!(found, (0..7).collect::<Vec<u64>>(), "limit {limit}");
    }
    let found = search(&mayfly, &issued, "owner=octo-org&limit=2").await;
    assert_eq!(found, vec![0, 1, 3, 4, 6]);
    // A cursor past the end is an empty last page.
    let (status, body) = get(&mayfly, "cursor=100").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"certificates": [], "nextCursor": null}));
}

async fn bad_parameters_are_400_with_a_message() {
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    for (query, says) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=last-week", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("cursor=-1", "cursor"),
        ("repo=octo-org/octo-repo", "unknown parameter"),
        ("san=", "san is empty"),
        ("owner=a&owner=b", "more than once"),
    ] {
        let (status, body) = get(&mayfly, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], 400);
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
}

async fn index_retrieve_finds_rekor_entries() {
    use p256::ecdsa::signature::Signer;
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let (request, key) = mayfly.signing_request().await;
    let (status, body) = mayfly.sign_v2(&request, None).await;
    assert_eq!(status, 200, "{body}");
    let cert_pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let mut uuids = Vec::new();
    for blob in [&b"first"[..], b"second"] {
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(blob));
        let sig: p256::ecdsa::DerSignature = key.sign(blob);
        let entry = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
            "signature": {"content": B64.encode(sig.as_bytes()),
                          "publicKey": {"content": B64.encode(&cert_pem)}}}});
        let created = mayfly.create_entry(&entry).await;
        let (entry_id, _) = created.as_object().unwrap().iter().next().unwrap();
        // Answered as Rekor does: entry IDs (tree ID and UUID), which GET accepts back.
        uuids.push((entry_id.clone(), digest));
    }
    // Genesis at index 0, then the two entries.
    indexed(&mayfly, LogSlot::ARTIFACTS, 3).await;
    let retrieve = |query: Value| index_retrieve(&mayfly, query);
    let both = json!([uuids[0].0, uuids[1].0]);
    let san = "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

    let (status, found) = retrieve(json!({"hash": format!("sha256:{}", uuids[1].1)})).await;
    assert_eq!((status, &found), (200, &json!([uuids[1].0])));
    let entry = mayfly
        .get_json(&format!(
            "/api/v1/log/entries/{}",
            found[0].as_str().unwrap()
        ))
        .await;
    assert!(entry.get(&uuids[1].0).is_some(), "{entry}");
    let (_, found) = retrieve(json!({"hash": uuids[0].1.to_uppercase()})).await;
    assert_eq!(found, json!([uuids[0].0]));
    let (_, found) = retrieve(json!({"subject": san})).await;
    assert_eq!(found, both);
    let (_, found) =
        retrieve(json!({"publicKey": {"format": "x509", "content": B64.encode(&cert_pem)}})).await;
    assert_eq!(found, both);
    let (_, found) = retrieve(json!({"publicKey": {"format": "x509", "content": cert_pem}})).await;
    assert_eq!(found, both);
    let (_, found) = retrieve(
        json!({"subject": san, "hash": format!("sha256:{}", uuids[0].1), "operator": "and"}),
    )
    .await;
    assert_eq!(found, json!([uuids[0].0]));
    let (_, found) =
        retrieve(json!({"email": "nobody@example.com", "hash": format!("sha256:{}", uuids[0].1)}))
            .await;
    assert_eq!(found, json!([uuids[0].0]), "or is the default");
    let (_, found) = retrieve(json!({"email": "nobody@example.com"})).await;
    assert_eq!(found, json!([]));

    for (bad, says) in [
        (json!({}), "at least one"),
        (json!({"hash": "sha256:abc"}), "hash"),
        (json!({"email": "not-an-address"}), "e-mail"),
        (
            json!({"publicKey": {"format": "pgp", "content": "x"}}),
            "x509",
        ),
        (
            json!({"publicKey": {"format": "x509", "content": "!!"}}),
            "publicKey",
        ),
        (
            json!({"hash": format!("sha256:{}", uuids[0].1), "operator": "xor"}),
            "operator",
        ),
        (json!([1]), "object"),
    ] {
        let (status, body) = retrieve(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{bad}: {body}"
        );
    }
}

async fn mayfly_audit_search_verifies_before_printing() {
    use std::process::Command;
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    seven_certificates(&mayfly).await;
    let audit = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mayfly"));
        command
            .args(["audit", "search", "--server", &mayfly.url])
            .args(args);
        command
    };

    let output = clients::run(audit(&["--repository", "acme/tool"])).await;
    let table = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("INDEX"), "{table}");
    assert!(
        rows[1].starts_with("2 ") && rows[2].starts_with("5 "),
        "{table}"
    );
    assert!(rows[1].contains("https://github.com/acme/tool") && rows[1].contains("release"));
    assert!(rows[3].contains("2 certificate(s)") && rows[3].contains("verified"));

    // JSON, across pages (--limit bounds the total), against a pinned trusted root.
    let root = mayfly.trust_file("trusted_root.json").await;
    let output = clients::run(audit(&[
        "--owner",
        "octo-org",
        "--limit",
        "4",
        "--json",
        "--trusted-root",
        root.to_str().unwrap(),
    ]))
    .await;
    let found: Vec<mayfly_spec::audit::AuditedCertificate> =
        serde_json::from_slice(&output.stdout).unwrap();
    let indexes: Vec<u64> = found.iter().map(|c| c.log_index).collect();
    assert_eq!(indexes, [0, 1, 3, 4]);

    // Another instance's trusted root: its keys did not sign this log's checkpoints.
    let stranger = Mayfly::builder().start().await;
    let wrong = stranger.trust_file("trusted_root.json").await;
    let output = clients::run_failing(audit(&["--trusted-root", wrong.to_str().unwrap()])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("does not verify") && stderr.contains("checkpoint"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing is printed unverified");

    let output = clients::run_failing(audit(&["--since", "yesterday"])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("since"),
        "{stderr}"
    );
}

async fn mayfly_index_rebuild_on_a_stopped_instance() {
    use mayfly::index::search::{CertificateFilters, certificate_page};
    use mayfly::index::{Field, Term};
    let mut mayfly = Mayfly::builder().dev_issuer().start().await;
    let issued = seven_certificates(&mayfly).await;
    let before = search(&mayfly, &issued, "owner=acme").await;
    mayfly.shut_down().await;

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mayfly"));
    command.args(["index", "rebuild", "--data-dir"]);
    command.arg(&mayfly.config.data_dir);
    if let Some(url) = &mayfly.config.database_url {
        command.arg("--database-url").arg(url);
    }
    let output = clients::run(command).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        "issuance: indexed 7 entries\nartifacts: indexed 1 entries\n"
    );

    // Reopened, the indexer starts where the rebuild stopped and answers as before.
    let instance = mayfly::server::Instance::open(&mayfly.config, None)
        .await
        .unwrap();
    let state = instance.state.clone();
    tokio::time::timeout(
        Duration::from_secs(20),
        state.index.indexed(LogSlot::ISSUANCE, 7),
    )
    .await
    .unwrap();
    let filters = CertificateFilters {
        terms: vec![Term::new(Field::OwnerPath, "acme")],
        ..Default::default()
    };
    let page = certificate_page(&state.issuance, &filters, 0, 10)
        .await
        .unwrap();
    let after: Vec<u64> = page.certificates.iter().map(|c| c.log_index).collect();
    assert_eq!(after, before);
    instance.close().await;

    // A data dir without an instance is refused, not created.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mayfly"));
    command.args(["index", "rebuild", "--data-dir"]);
    command.arg(mayfly.dir.path().join("nothing-here"));
    let output = clients::run_failing(command).await;
    assert!(String::from_utf8_lossy(&output.stderr).contains("no Mayfly instance"));
}

async fn tampered_answers_are_refused_by_the_auditor() {
    use mayfly_client::audit::verify_answers;
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    seven_certificates(&mayfly).await;
    let root = mayfly.get_bytes("/trust/trusted_root.json").await;
    let filters = vec![("owner".to_owned(), "acme".to_owned())];
    let (_, body) = get(&mayfly, "owner=acme").await;
    let page: CertificatesPage = serde_json::from_value(body).unwrap();
    assert_eq!(page.certificates.len(), 2);
    verify_answers(&root, &filters, &page.certificates).expect("the real answers verify");

    let other_leaf = {
        let (_, body) = get(&mayfly, "owner=octo-org&limit=1").await;
        body["certificates"][0]["leaf"].as_str().unwrap().to_owned()
    };
    type Tamper = Box<dyn Fn(&mut mayfly_spec::audit::AuditedCertificate)>;
    let tampered: Vec<(&str, Tamper)> = vec![
        (
            "san",
            Box::new(|c| c.san = "https://github.com/evil".into()),
        ),
        (
            "extension",
            Box::new(|c| {
                c.extensions.insert("BuildTrigger".into(), "push".into());
            }),
        ),
        (
            "proof hash",
            Box::new(|c| c.inclusion_proof.hashes[0] = "00".repeat(32)),
        ),
        (
            "root",
            Box::new(|c| c.inclusion_proof.root_hash = "11".repeat(32)),
        ),
        ("index", Box::new(|c| c.log_index += 1)),
        ("leaf", Box::new(move |c| c.leaf = other_leaf.clone())),
        (
            "checkpoint signature",
            Box::new(|c| {
                let note = &mut c.inclusion_proof.checkpoint;
                let cut = note.rfind(' ').unwrap() + 5;
                note.replace_range(cut..cut + 4, "AAAA");
            }),
        ),
        (
            "certificate",
            Box::new(|c| {
                let mut der = pem_ders(&c.certificate).remove(0);
                let last = der.len() - 40;
                der[last] ^= 1;
                c.certificate = mayfly_spec::pem::encode("CERTIFICATE", &der);
            }),
        ),
        ("timestamp", Box::new(|c| c.timestamp += 1)),
    ];
    for (what, tamper) in tampered {
        let mut answers = page.certificates.clone();
        tamper(&mut answers[1]);
        let err = verify_answers(&root, &filters, &answers)
            .err()
            .unwrap_or_else(|| panic!("tampered {what} verified"));
        assert!(err.to_string().contains("does not verify"), "{what}: {err}");
    }
    // An answer that verifies but was not asked for.
    let wrong = vec![("owner".to_owned(), "octo-org".to_owned())];
    let err = verify_answers(&root, &wrong, &page.certificates).unwrap_err();
    assert!(err.to_string().contains("does not match owner"), "{err}");
}

async fn index_retrieve_finds_an_email_identity_whatever_its_case() {
    use p256::ecdsa::signature::Signer;
    let idp = TestIdp::start().await;
    let mayfly = Mayfly::builder()
        .issuers(&issuers_with_idp(&idp))
        .start()
        .await;
    let now = now();
    let token = idp.sign(
        &json!({"iss": idp.issuer("corp"), "aud": "sigstore", "sub": "user-42",
        "email": "dev@corp.example", "email_verified": true,
        "iat": now, "nbf": now, "exp": now + 300}),
    );
    let (key, pem) = p256_key();
    let proof = p256_sign(&key, "dev@corp.example");
    let (status, body) = mayfly
        .sign_v2(&key_request(&token, &pem, &proof), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let cert_pem = body["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
        .as_str()
        .unwrap();
    let blob = b"signed by e-mail";
    let sig: p256::ecdsa::DerSignature = key.sign(blob);
    let entry = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256",
                          "value": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(blob))}},
        "signature": {"content": B64.encode(sig.as_bytes()),
                      "publicKey": {"content": B64.encode(cert_pem)}}}});
    let created = mayfly.create_entry(&entry).await;
    let entry_id = created.as_object().unwrap().keys().next().unwrap().clone();
    indexed(&mayfly, LogSlot::ARTIFACTS, 2).await;
    for email in ["dev@corp.example", "DEV@Corp.Example"] {
        let (status, found) = index_retrieve(&mayfly, json!({"email": email})).await;
        assert_eq!(status, 200);
        assert_eq!(found, json!([entry_id]), "{email}");
    }
    // The certificate search finds the same identity in the issuance log.
    indexed(&mayfly, LogSlot::ISSUANCE, 1).await;
    let (status, body) = get(&mayfly, "san=dev%40corp.example").await;
    assert_eq!(status, 200);
    assert_eq!(body["certificates"][0]["issuer"], idp.issuer("corp"));
}

/// Enough entries for many entry bundles and more than one index transaction (the indexer
/// writes up to sixteen bundles per transaction): every entry is found by its digest, as it
/// was indexed live and after a rebuild that indexes them all in one catch-up.
async fn index_retrieve_finds_entries_of_every_bundle_and_transaction() {
    const COUNT: usize = 4400;
    let mayfly = Mayfly::builder().dev_issuer().start().await;
    let key_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
    let digest =
        |i: usize| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("many {i}")));
    // Straight into the artifact log: the index reads bodies, it does not verify them.
    let mut appends = Vec::new();
    for i in 0..COUNT {
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest(i)}},
            "signature": {"content": B64.encode(b"not checked here"),
                          "publicKey": {"content": B64.encode(key_pem)}}}})
        .to_string()
        .into_bytes();
        let state = mayfly.state.clone();
        appends.push(tokio::spawn(async move {
            let uuid = leaf_hash(&body);
            state.artifacts.append(body).await.map(|_| uuid)
        }));
    }
    let mut uuids = Vec::new();
    for append in appends {
        uuids.push(append.await.unwrap().unwrap());
    }
    // The genesis entry is index 0.
    indexed(&mayfly, LogSlot::ARTIFACTS, COUNT as u64 + 1).await;
    let retrieve = |i: usize| {
        let mayfly = &mayfly;
        async move {
            let (status, found) =
                index_retrieve(mayfly, json!({"hash": format!("sha256:{}", digest(i))})).await;
            assert_eq!(status, 200, "{found}");
            serde_json::from_value::<Vec<String>>(found).unwrap()
        }
    };
    let samples = [0, 254, 255, 256, 4094, 4095, 4096, 4097, COUNT - 1];
    let check = |found: Vec<String>, i: usize| {
        assert_eq!(found.len(), 1, "entry {i}: {found:?}");
        assert!(
            found[0].ends_with(&uuids[i].to_hex()),
            "entry {i}: {found:?}"
        );
    };
    for i in samples {
        check(retrieve(i).await, i);
    }

    let report = mayfly::index::rebuild(mayfly.state.artifacts.store())
        .await
        .unwrap();
    assert!(
        report.contains(&("artifacts", COUNT as u64 + 1)),
        "{report:?}"
    );
    for i in samples {
        check(retrieve(i).await, i);
    }
    mayfly.stop().await;
}
