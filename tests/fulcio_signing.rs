//! The Fulcio API end to end: a real Mayfly and a real OIDC provider on port 0, tokens signed
//! by hand, and every issued certificate checked by code that is not Mayfly's — x509-parser,
//! OpenSSL, webpki, and an SCT check that rebuilds the RFC 6962 signing input from the final
//! certificate with its own DER walk.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::certs::{self, Issued, chain_of};
use support::{Mayfly, TestIdp, issuers_with_idp, key_request, now, p256_key, p256_sign, pem_ders};
use x509_parser::prelude::*;

use support::backend::Backend;

// Every test below runs twice: on SQLite and on PostgreSQL (tests/support/backend.rs).
on_both_backends!(
    github_leaf_has_fulcio_profile_and_verifies_independently,
    extensions_match_a_real_fulcio_leaf_for_the_same_claims,
);

const FULCIO_PREFIX: &str = "1.3.6.1.4.1.57264.1.";
const SCT_LIST_OID: &str = "1.3.6.1.4.1.11129.2.4.2";
const POISON_OID: &str = "1.3.6.1.4.1.11129.2.4.3";

/// (OID, critical, extnValue contents) in certificate order.
fn extensions_of(der: &[u8]) -> Vec<(String, bool, Vec<u8>)> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    cert.extensions()
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical, e.value.to_vec()))
        .collect()
}

async fn issue_github(mayfly: &Mayfly, idp: &TestIdp, claims: &Value) -> Issued {
    let token = idp.sign(claims);
    let (key, pem) = p256_key();
    let proof = p256_sign(&key, claims["sub"].as_str().unwrap());
    let (status, body) = mayfly
        .sign_v2(&key_request(&token, &pem, &proof), None)
        .await;
    assert_eq!(status, 200, "{body}");
    chain_of(&body)
}

async fn github_leaf_has_fulcio_profile_and_verifies_independently() {
    let idp = TestIdp::start().await;
    let mayfly = Mayfly::start(Some(&issuers_with_idp(&idp)), false).await;
    let claims = idp.github_claims("gha");
    let before = mayfly.issuance_size().await;
    let issued = issue_github(&mayfly, &idp, &claims).await;

    let (_, leaf) = X509Certificate::from_der(&issued.leaf).unwrap();
    let (_, intermediate) = X509Certificate::from_der(&issued.intermediate).unwrap();
    assert_eq!(leaf.version(), X509Version::V3);
    assert_eq!(leaf.subject().as_raw(), &[0x30, 0x00], "empty subject");
    assert_eq!(leaf.issuer().as_raw(), intermediate.subject().as_raw());
    let serial = leaf.raw_serial();
    assert!(
        serial.len() <= 20 && serial[0] & 0x80 == 0,
        "positive, ≤ 20 bytes"
    );
    let validity = leaf.validity();
    assert_eq!(
        validity.not_after.timestamp() - validity.not_before.timestamp(),
        600
    );
    assert!((validity.not_before.timestamp() - now() as i64).abs() < 60);

    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && ku.value.flags == 1);
    let eku = leaf.extended_key_usage().unwrap().unwrap();
    assert!(!eku.critical && eku.value.code_signing && eku.value.other.is_empty());
    assert!(!eku.value.server_auth && !eku.value.client_auth);
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical);
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::URI(
            "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
        )]
    );
    let ski = sha1(&leaf.public_key().subject_public_key.data);
    let intermediate_ski = sha1(&intermediate.public_key().subject_public_key.data);
    let extensions = extensions_of(&issued.leaf);
    let find = |oid: &str| {
        extensions
            .iter()
            .find(|(o, _, _)| o == oid)
            .unwrap()
            .2
            .clone()
    };
    assert_eq!(find("2.5.29.14"), [&[0x04, 20][..], &ski].concat());
    assert_eq!(
        find("2.5.29.35"),
        [&[0x30, 22, 0x80, 20][..], &intermediate_ski].concat()
    );
    assert!(leaf.basic_constraints().unwrap().is_none());
    assert!(extensions.iter().all(|(oid, _, _)| oid != POISON_OID));

    // Fulcio's order: KU, EKU, SKI, AKI, SAN, Fulcio OIDs ascending, SCT list last.
    let order: Vec<&str> = extensions.iter().map(|(o, _, _)| o.as_str()).collect();
    assert_eq!(
        &order[..5],
        [
            "2.5.29.15",
            "2.5.29.37",
            "2.5.29.14",
            "2.5.29.35",
            "2.5.29.17"
        ]
    );
    assert_eq!(order.last(), Some(&SCT_LIST_OID));
    let arcs: Vec<u32> = order[5..order.len() - 1]
        .iter()
        .map(|o| o.strip_prefix(FULCIO_PREFIX).unwrap().parse().unwrap())
        .collect();
    assert!(arcs.windows(2).all(|w| w[0] < w[1]), "{arcs:?}");

    let issuer = idp.issuer("gha");
    let expect: BTreeMap<u32, &str> = BTreeMap::from([
        (1, issuer.as_str()),
        (2, "push"),
        (3, "0123456789abcdef0123456789abcdef01234567"),
        (4, "release"),
        (5, "octo-org/octo-repo"),
        (6, "refs/heads/main"),
        (8, issuer.as_str()),
        (
            9,
            "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
        ),
        (10, "0123456789abcdef0123456789abcdef01234567"),
        (11, "github-hosted"),
        (12, "https://github.com/octo-org/octo-repo"),
        (13, "0123456789abcdef0123456789abcdef01234567"),
        (14, "refs/heads/main"),
        (15, "123456789"),
        (16, "https://github.com/octo-org"),
        (17, "987654"),
        (
            18,
            "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
        ),
        (19, "0123456789abcdef0123456789abcdef01234567"),
        (20, "push"),
        (
            21,
            "https://github.com/octo-org/octo-repo/actions/runs/4242/attempts/1",
        ),
        (22, "public"),
        (24, "repo:octo-org/octo-repo:ref:refs/heads/main"),
    ]);
    assert_eq!(arcs, expect.keys().copied().collect::<Vec<_>>());
    for (arc, value) in &expect {
        let bytes = find(&format!("{FULCIO_PREFIX}{arc}"));
        let expected = if *arc <= 6 {
            value.as_bytes().to_vec()
        } else {
            [&[0x0C, value.len() as u8][..], value.as_bytes()].concat()
        };
        assert_eq!(bytes, expected, "extension .{arc}");
    }

    openssl_verifies(&mayfly, &issued);
    certs::webpki_verifies(&issued);
    let index = sct_verifies_against_the_issuance_log(&mayfly, &issued).await;
    assert_eq!(
        index, before,
        "the precertificate is the next issuance-log entry"
    );
    assert_eq!(mayfly.issuance_size().await, before + 1);
    mayfly.stop().await;
}

fn sha1(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .to_vec()
}

fn openssl_verifies(mayfly: &Mayfly, issued: &Issued) {
    let text = certs::openssl_verify(mayfly.dir.path(), issued);
    for needle in [
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "Code Signing",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "X509v3 Subject Alternative Name: critical",
        "URI:https://github.com/octo-org/octo-repo/",
        "1.3.6.1.4.1.57264.1.1:",
        "1.3.6.1.4.1.57264.1.8:",
        "1.3.6.1.4.1.57264.1.24:",
        "CT Precertificate SCTs",
        "Version   : v1 (0x0)",
    ] {
        assert!(
            text.contains(needle),
            "openssl -text lacks {needle:?}:\n{text}"
        );
    }
    assert!(
        text.contains("Subject: \n") || text.contains("Subject:\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// SCT, checked from scratch: our own DER walk, not Mayfly's `ct` module.
// ---------------------------------------------------------------------------------------------

/// (tag, header length, content length) of the TLV at the start of `der`.
fn tlv_header(der: &[u8]) -> (u8, usize, usize) {
    let first = der[1];
    if first < 0x80 {
        return (der[0], 2, first as usize);
    }
    let n = (first & 0x7F) as usize;
    let len = der[2..2 + n]
        .iter()
        .fold(0usize, |acc, b| acc << 8 | *b as usize);
    (der[0], 2 + n, len)
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    [vec![0x80 | bytes.len() as u8], bytes].concat()
}

fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    [vec![tag], der_len(content.len()), content.to_vec()].concat()
}

/// Splits a constructed TLV's content into its child TLVs.
fn children(content: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (_, header, len) = tlv_header(rest);
        out.push(&rest[..header + len]);
        rest = &rest[header + len..];
    }
    out
}

fn content(tlv: &[u8]) -> &[u8] {
    let (_, header, len) = tlv_header(tlv);
    &tlv[header..header + len]
}

/// The final certificate's TBS with the SCT-list extension removed, and the SCT list.
fn strip_sct_list(cert: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let tbs = children(content(cert))[0];
    let mut fields = children(content(tbs));
    let extensions_field = fields.pop().unwrap();
    assert_eq!(extensions_field[0], 0xA3);
    let extensions = children(content(children(content(extensions_field))[0]));
    let sct_oid = wrap(
        0x06,
        &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xD6, 0x79, 0x02, 0x04, 0x02],
    );
    let (sct, kept): (Vec<&[u8]>, Vec<&[u8]>) = extensions
        .into_iter()
        .partition(|ext| children(content(ext))[0] == sct_oid.as_slice());
    assert_eq!(sct.len(), 1, "exactly one SCT-list extension");
    let sct_ext = children(content(sct[0]));
    let octets = content(sct_ext.last().unwrap()); // extnValue
    let tls_list = content(octets).to_vec(); // inner OCTET STRING
    let rebuilt_extensions = wrap(0xA3, &wrap(0x30, &kept.concat()));
    let mut rebuilt: Vec<u8> = fields.concat();
    rebuilt.extend(rebuilt_extensions);
    (wrap(0x30, &rebuilt), tls_list)
}

/// Verifies the leaf's single SCT over an independently rebuilt RFC 6962 precert input, with
/// the issuance log's published key; returns the SCT's leaf_index.
async fn sct_verifies_against_the_issuance_log(mayfly: &Mayfly, issued: &Issued) -> u64 {
    let (tbs, list) = strip_sct_list(&issued.leaf);
    let total = u16::from_be_bytes([list[0], list[1]]) as usize;
    assert_eq!(total, list.len() - 2);
    let sct_len = u16::from_be_bytes([list[2], list[3]]) as usize;
    assert_eq!(sct_len + 4, list.len(), "exactly one SCT in the list");
    let sct = &list[4..];
    assert_eq!(sct[0], 0, "SCT v1");
    let log_id = &sct[1..33];
    let timestamp = &sct[33..41];
    let ext_len = u16::from_be_bytes([sct[41], sct[42]]) as usize;
    let extensions = &sct[43..43 + ext_len];
    let rest = &sct[43 + ext_len..];
    assert_eq!(&rest[..2], &[4, 3], "SHA-256 / ECDSA");
    let sig_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
    let signature = &rest[4..4 + sig_len];
    assert_eq!(rest.len(), 4 + sig_len);

    // static-ct-api leaf_index: type 0, length 5, uint40.
    assert_eq!(ext_len, 8);
    assert_eq!(&extensions[..3], &[0, 0, 5]);
    let index = extensions[3..]
        .iter()
        .fold(0u64, |acc, b| acc << 8 | u64::from(*b));

    let key_pem = String::from_utf8(mayfly.get_bytes("/logs/issuance/key.pem").await).unwrap();
    let log_spki = pem_ders(&key_pem).remove(0);
    assert_eq!(log_id, &sha256(&log_spki)[..], "log ID = SHA-256(log SPKI)");
    let (_, intermediate) = X509Certificate::from_der(&issued.intermediate).unwrap();
    let issuer_key_hash = sha256(intermediate.public_key().raw);

    let mut signed = vec![0u8, 0u8];
    signed.extend_from_slice(timestamp);
    signed.extend_from_slice(&[0, 1]);
    signed.extend_from_slice(&issuer_key_hash);
    signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(&tbs);
    signed.extend_from_slice(&(ext_len as u16).to_be_bytes());
    signed.extend_from_slice(extensions);
    let (_, spki) = SubjectPublicKeyInfo::from_der(&log_spki).unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &spki.subject_public_key.data,
    )
    .verify(&signed, signature)
    .expect("SCT signature verifies over the rebuilt precert input");

    // The logged MerkleTreeLeaf is the same input minus signature_type: fetch it from the
    // entry bundle and compare.
    let bundle = mayfly
        .get_bytes(&format!("/logs/issuance/tile/entries/000.p/{}", index + 1))
        .await;
    let mut rest = &bundle[..];
    let mut entries = Vec::new();
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        entries.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    let logged = entries[index as usize];
    let mut expected_leaf = vec![0u8, 0u8];
    expected_leaf.extend_from_slice(&signed[2..]);
    assert_eq!(logged, expected_leaf.as_slice(), "logged MerkleTreeLeaf");
    index
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

// ---------------------------------------------------------------------------------------------
// The real Fulcio leaf.
// ---------------------------------------------------------------------------------------------

async fn extensions_match_a_real_fulcio_leaf_for_the_same_claims() {
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/sigstore-public/github-signed.whl.sigstore"
        ))
        .unwrap(),
    )
    .unwrap();
    let real = STANDARD
        .decode(
            bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let real_extensions = extensions_of(&real);
    let text = |arc: u32| -> String {
        let (_, _, value) = real_extensions
            .iter()
            .find(|(o, _, _)| *o == format!("{FULCIO_PREFIX}{arc}"))
            .unwrap();
        let bytes = if arc <= 6 { &value[..] } else { content(value) };
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    let strip = |arc: u32| {
        text(arc)
            .trim_start_matches("https://github.com/")
            .to_owned()
    };
    let run = text(21);
    let run_id = run.split('/').rev().nth(2).unwrap().to_owned();

    // The claims that real leaf was issued for, read back from its extensions.
    let idp = TestIdp::start().await;
    let mayfly = Mayfly::start(Some(&issuers_with_idp(&idp)), false).await;
    let now = now();
    let claims = json!({
        "iss": idp.issuer("gha"), "aud": "sigstore",
        "sub": format!("repo:{}:ref:{}", text(5), text(6)),
        "iat": now, "nbf": now, "exp": now + 300,
        "event_name": text(2), "sha": text(3), "workflow": text(4),
        "repository": text(5), "ref": text(6),
        "job_workflow_ref": strip(9), "job_workflow_sha": text(10),
        "runner_environment": text(11), "repository_id": text(15),
        "repository_owner": strip(16), "repository_owner_id": text(17),
        "workflow_ref": strip(18), "workflow_sha": text(19),
        "run_id": run_id, "run_attempt": "1",
        "repository_visibility": text(22),
        "ref_type": "tag",
    });
    let issued = issue_github(&mayfly, &idp, &claims).await;
    let ours = extensions_of(&issued.leaf);

    // Same extensions in the same order with the same criticality. The real leaf predates
    // Fulcio 1.8.6, which added .24, so ours has exactly that one more.
    let shape = |exts: &[(String, bool, Vec<u8>)]| -> Vec<(String, bool)> {
        exts.iter()
            .filter(|(o, _, _)| *o != format!("{FULCIO_PREFIX}24"))
            .map(|(o, c, _)| (o.clone(), *c))
            .collect()
    };
    assert_eq!(shape(&ours), shape(&real_extensions));
    assert!(
        ours.iter()
            .any(|(o, _, _)| *o == format!("{FULCIO_PREFIX}24"))
    );
    // Byte-identical values, except what names the issuer (ours is the test IdP), the keys
    // (SKI, AKI) and the SCT.
    let differ = [
        "2.5.29.14".to_owned(),
        "2.5.29.35".to_owned(),
        SCT_LIST_OID.to_owned(),
        format!("{FULCIO_PREFIX}1"),
        format!("{FULCIO_PREFIX}8"),
        format!("{FULCIO_PREFIX}24"),
    ];
    for (oid, _, value) in &real_extensions {
        if differ.contains(oid) {
            continue;
        }
        let mine = &ours.iter().find(|(o, _, _)| o == oid).unwrap().2;
        assert_eq!(mine, value, "extension {oid}");
    }
    // The SKI and AKI have the same form (20-byte key identifiers).
    for oid in ["2.5.29.14", "2.5.29.35"] {
        let len = |exts: &[(String, bool, Vec<u8>)]| {
            exts.iter().find(|(o, _, _)| o == oid).unwrap().2.len()
        };
        assert_eq!(len(&ours), len(&real_extensions), "{oid}");
    }
    mayfly.stop().await;
}
