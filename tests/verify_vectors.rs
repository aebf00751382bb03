//! `mayfly verify` against real public-good Sigstore bundles: they verify with the right
//! policy, and a single flipped bit anywhere that matters is rejected by the check that owns it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mayfly_client::verify::{
    Artifact, ExtensionField, HashAlgorithm, IdentityMatcher, Policy, VerifyError, verify_bundle,
    verify_bundle_with_key, verify_npm,
};
use serde_json::{Value, json};
use std::path::PathBuf;

const GH_SAN: &str =
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2";
const NPM_SAN: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const GH_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn vector(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/sigstore-public")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn root() -> Vec<u8> {
    vector("trusted_root.public-good.json")
}

fn policy(san: &str) -> Policy {
    Policy {
        identity: IdentityMatcher::Exact(san.into()),
        issuer: GH_ISSUER.into(),
    }
}

fn wheel() -> (Vec<u8>, Artifact) {
    (
        vector("github-signed.whl.sigstore"),
        Artifact::Bytes(vector("github-signed.whl")),
    )
}

fn npm_bundle() -> Vec<u8> {
    vector("npm-sigstore-1.3.0-provenance.sigstore.json")
}

const NPM_SHA512: &str = "76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751";

fn npm_artifact() -> Artifact {
    Artifact::Digest {
        algorithm: HashAlgorithm::Sha512,
        digest: hex::decode(NPM_SHA512).unwrap(),
    }
}

/// Applies `edit` to the bundle's JSON.
fn edit(bundle: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bundle).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// Flips bit 0 of byte `at` (negative: from the end) of the base64 field at `pointer`.
fn flip_b64(v: &mut Value, pointer: &str, at: isize) {
    let field = v
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}"));
    let mut bytes = STANDARD.decode(field.as_str().unwrap()).unwrap();
    let i = if at < 0 {
        bytes.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    bytes[i] ^= 1;
    *field = Value::String(STANDARD.encode(bytes));
}

fn assert_rejected(result: Result<mayfly_client::verify::Verified, VerifyError>, prefix: &str) {
    let err = result.expect_err("must be rejected").to_string();
    assert!(
        err.starts_with(prefix),
        "expected a {prefix:?} error, got {err:?}"
    );
}

const ENTRY: &str = "/verificationMaterial/tlogEntries/0";
const GH_LEAF: &str = "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes";

/// Offset of `needle` in the DER leaf at `pointer`, to flip a bit inside a known extension.
fn offset_of(bundle: &[u8], pointer: &str, needle: &[u8]) -> isize {
    let v: Value = serde_json::from_slice(bundle).unwrap();
    let der = STANDARD
        .decode(v.pointer(pointer).unwrap().as_str().unwrap())
        .unwrap();
    der.windows(needle.len()).position(|w| w == needle).unwrap() as isize
}

#[test]
fn github_wheel_verifies() {
    let (bundle, artifact) = wheel();
    let v = verify_bundle(&bundle, Some(&artifact), &root(), &policy(GH_SAN)).unwrap();
    assert_eq!(v.kind, "hashedrekord");
    assert_eq!(v.san, GH_SAN);
    assert_eq!(v.issuer, GH_ISSUER);
    assert_eq!(v.log_index, 79605083);
    assert_eq!(v.integrated_time, 1710888076);
    assert_eq!(
        v.extension(ExtensionField::SourceRepositoryUri),
        Some("https://github.com/trailofbits/rfc8785.py")
    );
    assert!(v.statement.is_none());
    // A regex policy over the whole SAN works too.
    let re = Policy {
        identity: IdentityMatcher::Regex(r"https://github\.com/trailofbits/.*".into()),
        issuer: GH_ISSUER.into(),
    };
    assert!(verify_bundle(&bundle, Some(&artifact), &root(), &re).is_ok());
}

#[test]
fn npm_provenance_verifies() {
    let bundle = npm_bundle();
    let v = verify_bundle(&bundle, Some(&npm_artifact()), &root(), &policy(NPM_SAN)).unwrap();
    assert_eq!(v.kind, "intoto");
    assert_eq!(v.san, NPM_SAN);
    let expected: Value =
        serde_json::from_slice(&vector("npm-sigstore-1.3.0-provenance.statement.json")).unwrap();
    assert_eq!(v.statement, Some(expected));
    // No artifact: a DSSE bundle stands on its own.
    assert!(verify_bundle(&bundle, None, &root(), &policy(NPM_SAN)).is_ok());
}

#[test]
fn staging_email_bundle_parses_but_its_log_is_unknown() {
    let bundle = vector("email-signed.txt.sigstore");
    let artifact = Artifact::Bytes(vector("email-signed.txt"));
    let p = Policy {
        identity: IdentityMatcher::Regex(".*".into()),
        issuer: "https://github.com/login/oauth".into(),
    };
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &root(), &p),
        "tlog: log d32f30a3",
    );
}

#[test]
fn wrong_policy_is_rejected() {
    let (bundle, artifact) = wheel();
    let other_san = policy(
        "https://github.com/trailofbits/rfc8785.py/.github/workflows/ci.yml@refs/tags/v0.1.2",
    );
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &root(), &other_san),
        "identity: SAN",
    );
    let other_issuer = Policy {
        identity: IdentityMatcher::Exact(GH_SAN.into()),
        issuer: "https://accounts.google.com".into(),
    };
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &root(), &other_issuer),
        "identity: issuer",
    );
    let unanchored = Policy {
        identity: IdentityMatcher::Regex("trailofbits".into()),
        issuer: GH_ISSUER.into(),
    };
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &root(), &unanchored),
        "identity: SAN",
    );
}

#[test]
fn wheel_bit_flips_are_rejected_by_the_right_check() {
    let (bundle, artifact) = wheel();
    let check = |b: Vec<u8>, prefix: &str| {
        assert_rejected(
            verify_bundle(&b, Some(&artifact), &root(), &policy(GH_SAN)),
            prefix,
        )
    };
    // The artifact.
    let Artifact::Bytes(mut bytes) = artifact.clone() else {
        unreachable!()
    };
    bytes[100] ^= 1;
    assert_rejected(
        verify_bundle(
            &bundle,
            Some(&Artifact::Bytes(bytes)),
            &root(),
            &policy(GH_SAN),
        ),
        "artifact: sha256 digest",
    );
    // The bundle's signature: the logged body no longer describes it.
    check(
        edit(&bundle, |v| flip_b64(v, "/messageSignature/signature", 10)),
        "tlog body: logged signature differs",
    );
    // The certificate, inside the issuer extension's value: the CA signature breaks.
    let at = offset_of(&bundle, GH_LEAF, b"token.actions");
    check(
        edit(&bundle, |v| flip_b64(v, GH_LEAF, at)),
        "certificate: does not chain",
    );
    // The SCT inside the certificate: also covered by the CA signature, which is checked first.
    // The SCT's log ID is the 2022 CT log's (dd3d306a…); its signature starts 46 bytes later
    // (timestamp 8, empty extensions 2, hash/signature algorithms 2, length 2).
    let ct_log_id = STANDARD
        .decode("3T0wasbHETJjGR4cmWc3AqJKXrjePK3/h4pygC8p7o4=")
        .unwrap();
    let sct = offset_of(&bundle, GH_LEAF, &ct_log_id) + 32 + 14 + 10;
    check(
        edit(&bundle, |v| flip_b64(v, GH_LEAF, sct)),
        "certificate: does not chain",
    );
    // An inclusion-proof hash.
    check(
        edit(&bundle, |v| {
            flip_b64(v, &format!("{ENTRY}/inclusionProof/hashes/1"), 0)
        }),
        "inclusion proof: leaf does not verify",
    );
    // The proof's root hash: no longer the checkpoint's.
    check(
        edit(&bundle, |v| {
            flip_b64(v, &format!("{ENTRY}/inclusionProof/rootHash"), 3)
        }),
        "inclusion proof: root does not match checkpoint",
    );
    // The checkpoint text (tree size 75441653 → 75441652) and its signature.
    let cp = format!("{ENTRY}/inclusionProof/checkpoint/envelope");
    check(
        edit(&bundle, |v| {
            let text =
                v.pointer(&cp)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .replacen("75441653\n", "75441652\n", 1);
            *v.pointer_mut(&cp).unwrap() = Value::String(text);
        }),
        "checkpoint: signature does not verify",
    );
    check(
        edit(&bundle, |v| {
            let text = v.pointer(&cp).unwrap().as_str().unwrap();
            // Flip a bit in the last base64 character before the padding of the signature.
            let mut chars: Vec<char> = text.chars().collect();
            let i = chars.len() - 5;
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            *v.pointer_mut(&cp).unwrap() = Value::String(chars.into_iter().collect());
        }),
        "checkpoint: signature does not verify",
    );
    // The SET, and the canonicalized body (covered by the SET, checked first).
    check(
        edit(&bundle, |v| {
            flip_b64(
                v,
                &format!("{ENTRY}/inclusionPromise/signedEntryTimestamp"),
                20,
            )
        }),
        "SET: signature does not verify",
    );
    check(
        edit(&bundle, |v| {
            flip_b64(v, &format!("{ENTRY}/canonicalizedBody"), 40)
        }),
        "SET: signature does not verify",
    );
    // integratedTime is signed by the SET too.
    check(
        edit(&bundle, |v| {
            v["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1710888077".into()
        }),
        "SET: signature does not verify",
    );
}

#[test]
fn npm_bit_flips_are_rejected_by_the_right_check() {
    let bundle = npm_bundle();
    let leaf = "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes";
    let check = |b: Vec<u8>, prefix: &str| {
        assert_rejected(
            verify_bundle(&b, Some(&npm_artifact()), &root(), &policy(NPM_SAN)),
            prefix,
        )
    };
    // The artifact (its digest as the statement subject names it).
    let Artifact::Digest {
        mut digest,
        algorithm,
    } = npm_artifact()
    else {
        unreachable!()
    };
    digest[0] ^= 1;
    assert_rejected(
        verify_bundle(
            &bundle,
            Some(&Artifact::Digest { algorithm, digest }),
            &root(),
            &policy(NPM_SAN),
        ),
        "artifact: no statement subject",
    );
    check(
        edit(&bundle, |v| {
            flip_b64(v, "/dsseEnvelope/signatures/0/sig", 12)
        }),
        "tlog body: logged signature differs",
    );
    check(
        edit(&bundle, |v| flip_b64(v, "/dsseEnvelope/payload", 30)),
        "tlog body: logged payloadHash",
    );
    let at = offset_of(&bundle, leaf, b"sigstore-js");
    check(
        edit(&bundle, |v| flip_b64(v, leaf, at)),
        "certificate: does not chain",
    );
    check(
        edit(&bundle, |v| {
            flip_b64(
                v,
                &format!("{ENTRY}/inclusionPromise/signedEntryTimestamp"),
                20,
            )
        }),
        "SET: signature does not verify",
    );
    check(
        edit(&bundle, |v| {
            flip_b64(v, &format!("{ENTRY}/canonicalizedBody"), 40)
        }),
        "SET: signature does not verify",
    );
    // logIndex is bound by the SET.
    check(
        edit(&bundle, |v| {
            v["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "18300935".into()
        }),
        "SET: signature does not verify",
    );
}

/// The SCT itself cannot be flipped without breaking the CA signature first, so the SCT check is
/// exercised through the trust side: with the right log ID but another key, and with the CT
/// log missing.
#[test]
fn sct_check_uses_the_trusted_ct_log() {
    let (bundle, artifact) = wheel();
    let mut tr: Value = serde_json::from_slice(&root()).unwrap();
    let tlog_key = tr["tlogs"][0]["publicKey"]["rawBytes"].clone();
    for ct in tr["ctlogs"].as_array_mut().unwrap() {
        ct["publicKey"]["rawBytes"] = tlog_key.clone();
    }
    let swapped = serde_json::to_vec(&tr).unwrap();
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &swapped, &policy(GH_SAN)),
        "SCT: signature does not verify under CT log dd3d306a",
    );
    tr["ctlogs"] = Value::Array(vec![]);
    let none = serde_json::to_vec(&tr).unwrap();
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &none, &policy(GH_SAN)),
        "SCT: unknown CT log",
    );
}

/// The CA's validFor must contain the signing time.
#[test]
fn ca_must_be_valid_at_signing_time() {
    let (bundle, artifact) = wheel();
    let mut tr: Value = serde_json::from_slice(&root()).unwrap();
    for ca in tr["certificateAuthorities"].as_array_mut().unwrap() {
        ca["validFor"]["end"] = "2024-03-19T22:41:15Z".into();
    }
    let tr = serde_json::to_vec(&tr).unwrap();
    assert_rejected(
        verify_bundle(&bundle, Some(&artifact), &tr, &policy(GH_SAN)),
        "certificate: no trusted CA is valid",
    );
}

/// Trusted-root windows are inclusive: a CA, tlog or CT log whose `validFor` ends exactly at the
/// time in question still counts (the wheel's integratedTime, and its SCT's timestamp).
#[test]
fn validity_windows_ending_exactly_at_the_time_are_inclusive() {
    let (bundle, artifact) = wheel();
    let with_end = |path: &str, end: &str| {
        let mut tr: Value = serde_json::from_slice(&root()).unwrap();
        for item in tr[path].as_array_mut().unwrap() {
            let valid_for = if path == "certificateAuthorities" {
                &mut item["validFor"]
            } else {
                &mut item["publicKey"]["validFor"]
            };
            valid_for["end"] = end.into();
        }
        serde_json::to_vec(&tr).unwrap()
    };
    // integratedTime 1710888076 = 2024-03-19T22:41:16Z.
    for (path, at, before, prefix) in [
        (
            "certificateAuthorities",
            "2024-03-19T22:41:16Z",
            "2024-03-19T22:41:15Z",
            "certificate:",
        ),
        (
            "tlogs",
            "2024-03-19T22:41:16Z",
            "2024-03-19T22:41:15Z",
            "tlog:",
        ),
    ] {
        let tr = with_end(path, at);
        assert!(
            verify_bundle(&bundle, Some(&artifact), &tr, &policy(GH_SAN)).is_ok(),
            "{path} ending at the time"
        );
        let tr = with_end(path, before);
        assert_rejected(
            verify_bundle(&bundle, Some(&artifact), &tr, &policy(GH_SAN)),
            prefix,
        );
    }
}

#[test]
fn bundle_without_set_has_no_trusted_time() {
    let (bundle, artifact) = wheel();
    let b = edit(&bundle, |v| {
        v["verificationMaterial"]["tlogEntries"][0]
            .as_object_mut()
            .unwrap()
            .remove("inclusionPromise");
    });
    assert_rejected(
        verify_bundle(&b, Some(&artifact), &root(), &policy(GH_SAN)),
        "signing time:",
    );
}

fn tarball(package_json: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(package_json.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "package/package.json", package_json.as_bytes())
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn verify_npm_on_the_real_bundle_reports_the_tarball_digest_mismatch() {
    let tgz = tarball(r#"{"name":"sigstore","version":"1.3.0"}"#);
    let err = verify_npm(&tgz, &npm_bundle(), &root(), Some(&policy(NPM_SAN)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "npm: statement subject sha512 {NPM_SHA512} does not match the tarball's sha512"
        )),
        "{err}"
    );
    let tgz = tarball(r#"{"name":"sigstore","version":"1.3.1"}"#);
    let err = verify_npm(&tgz, &npm_bundle(), &root(), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        r#"npm: statement subject "pkg:npm/sigstore@1.3.0" is not "pkg:npm/sigstore@1.3.1""#
    );
}

/// A valid bundle with an RFC 3161 timestamp added from another bundle (whose time lies a year
/// outside the signing certificate's validity): it is over another signature, so it is
/// rejected by the timestamp check (tests/verify_timestamps.rs covers each timestamp rule).
#[test]
fn bundles_with_foreign_timestamps_are_refused() {
    let staging: Value =
        serde_json::from_slice(&vector("staging-rekor-v2.txt.sigstore.json")).unwrap();
    let timestamps = staging["verificationMaterial"]["timestampVerificationData"].clone();
    assert!(
        timestamps["rfc3161Timestamps"][0]["signedTimestamp"].is_string(),
        "the vector carries a timestamp"
    );
    let (bundle, artifact) = wheel();
    let with_timestamp = edit(&bundle, |b| {
        b["verificationMaterial"]["timestampVerificationData"] = timestamps;
    });
    let result = verify_bundle(&with_timestamp, Some(&artifact), &root(), &policy(GH_SAN));
    assert_rejected(result, "RFC 3161 timestamp: timestamp 0: message imprint");
    // Without it (or with an empty list) the same bundle verifies.
    let empty = edit(&bundle, |b| {
        b["verificationMaterial"]["timestampVerificationData"] = json!({"rfc3161Timestamps": []});
    });
    assert!(verify_bundle(&empty, Some(&artifact), &root(), &policy(GH_SAN)).is_ok());
}

const STAGING_V2: &str = "staging-rekor-v2.txt.sigstore.json";

fn staging_policy() -> Policy {
    Policy {
        identity: IdentityMatcher::Exact("jku@goto.fi".into()),
        issuer: "https://github.com/login/oauth".into(),
    }
}

fn verify_staging_v2(bundle: &[u8]) -> Result<mayfly_client::verify::Verified, VerifyError> {
    verify_bundle(
        bundle,
        Some(&Artifact::Bytes(vector("staging-rekor-v2.txt"))),
        &vector("trusted_root.staging.json"),
        &staging_policy(),
    )
}

/// The real Rekor v2 bundle (hashedrekord 0.0.2, Ed25519 checkpoint, no SET): its only trusted
/// time is the RFC 3161 timestamp, which sigstore-python 4.5.1 accepts offline too.
#[test]
fn staging_rekor_v2_bundle_verifies() {
    let v = verify_staging_v2(&vector(STAGING_V2)).unwrap();
    assert_eq!(v.kind, "hashedrekord");
    assert_eq!(v.log_index, 645);
    assert_eq!(v.san, "jku@goto.fi");
    // 2025-06-09T11:57:38Z, from the timestamp (integratedTime is 0 in v2).
    assert_eq!(v.integrated_time, 1_749_470_258);
}

#[test]
fn staging_rekor_v2_bit_flips_are_rejected_by_the_right_check() {
    let bundle = vector(STAGING_V2);
    let ts = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
    let cases: [(&str, isize, &str); 5] = [
        // The last byte of the TSA's ECDSA signature.
        (
            ts,
            -1,
            "RFC 3161 timestamp: timestamp 0: not signed by a trusted timestamp authority",
        ),
        (
            &format!("{ENTRY}/inclusionProof/hashes/0"),
            3,
            "inclusion proof:",
        ),
        (
            &format!("{ENTRY}/inclusionProof/rootHash"),
            3,
            "inclusion proof: root does not match",
        ),
        // The timestamp covers the signature, and is checked first.
        (
            "/messageSignature/signature",
            -3,
            "RFC 3161 timestamp: timestamp 0: message imprint",
        ),
        (
            "/messageSignature/messageDigest/digest",
            0,
            "tlog body: logged digest differs",
        ),
    ]
    .map(|(p, at, want)| (p.to_owned().leak() as &str, at, want));
    for (pointer, at, want) in cases {
        let b = edit(&bundle, |v| flip_b64(v, pointer, at));
        assert_rejected(verify_staging_v2(&b), want);
    }
    // The body names another certificate.
    let b = edit(&bundle, |v| {
        let body = v
            .pointer_mut(&format!("{ENTRY}/canonicalizedBody"))
            .unwrap();
        let mut json: Value =
            serde_json::from_slice(&STANDARD.decode(body.as_str().unwrap()).unwrap()).unwrap();
        json["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"] =
            "MAA=".into();
        *body = STANDARD.encode(serde_json::to_vec(&json).unwrap()).into();
    });
    assert_rejected(verify_staging_v2(&b), "inclusion proof:");
    // The checkpoint's signature.
    let b = edit(&bundle, |v| {
        let cp = v
            .pointer_mut(&format!("{ENTRY}/inclusionProof/checkpoint/envelope"))
            .unwrap();
        let text = cp.as_str().unwrap().replace("\n646\n", "\n647\n");
        *cp = text.into();
    });
    assert_rejected(
        verify_staging_v2(&b),
        "checkpoint: signature does not verify",
    );
}

/// A v2 entry has no SET, so without its timestamp there is no trusted time at all.
#[test]
fn staging_rekor_v2_without_timestamp_is_rejected() {
    let b = edit(&vector(STAGING_V2), |v| {
        v["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
    });
    assert_rejected(verify_staging_v2(&b), "signing time: no verified time");
    // And the TSA must be in the trusted root.
    let mut tr: Value = serde_json::from_slice(&vector("trusted_root.staging.json")).unwrap();
    tr["timestampAuthorities"] = json!([]);
    let err = verify_bundle(
        &vector(STAGING_V2),
        Some(&Artifact::Bytes(vector("staging-rekor-v2.txt"))),
        &serde_json::to_vec(&tr).unwrap(),
        &staging_policy(),
    );
    assert_rejected(
        err,
        "RFC 3161 timestamp: timestamp 0: no timestamp authority",
    );
}

/// The npm registry's publish attestation is signed with the registry's long-lived key
/// (`publicKey` material): it verifies with that key and with no other, and never as keyless.
#[test]
fn managed_key_bundle_verifies_with_its_key_only() {
    let bundle = vector("npm-sigstore-1.3.0-publish.sigstore.json");
    let key = vector("npm-registry-publish-key.pub");
    let v = verify_bundle_with_key(&bundle, None, &root(), &key).unwrap();
    assert_eq!(v.kind, "intoto");
    assert!(v.san.is_empty() && v.public_key.is_some());
    assert!(v.statement.is_some());
    // Another P-256 key.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .public_key_pem();
    assert_rejected(
        verify_bundle_with_key(&bundle, None, &root(), other.as_bytes()),
        "tlog body: logged key is not the given public key",
    );
    assert_rejected(
        verify_bundle_with_key(&bundle, None, &root(), b"not a key"),
        "public key: not a PEM PUBLIC KEY",
    );
    // A keyless bundle given a key, and a keyed bundle given a policy, name the mismatch.
    let (wheel_bundle, artifact) = wheel();
    assert_rejected(
        verify_bundle_with_key(&wheel_bundle, Some(&artifact), &root(), &key),
        "bundle: the bundle is signed with a certificate",
    );
    assert_rejected(
        verify_bundle(&bundle, None, &root(), &policy(NPM_SAN)),
        "bundle: the bundle is signed with a managed key",
    );
}
