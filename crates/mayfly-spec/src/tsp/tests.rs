//! The decoder on the real staging timestamp and on tokens written by [`encode`].

use super::encode::{
    SignerFields, TstInfoFields, encode_response, encode_tst_info, signed_attributes,
};
use super::tst_info::generalized_time;
use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::error::Error;

type TestResult = Result<(), Box<dyn Error>>;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/sigstore-public"
);

fn staging_timestamp() -> Result<Vec<u8>, Box<dyn Error>> {
    let text = std::fs::read_to_string(format!("{VECTORS}/staging-rekor-v2.txt.sigstore.json"))?;
    let v: Value = serde_json::from_str(&text)?;
    let b64 = v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
        ["signedTimestamp"]
        .as_str()
        .ok_or("no timestamp")?;
    Ok(STANDARD.decode(b64)?)
}

#[test]
fn decodes_the_staging_tsa_response() -> TestResult {
    let ts = parse_signed_timestamp(&staging_timestamp()?)?;
    // 2025-06-09T11:57:38Z, inside the leaf's 11:57:35–12:07:35 window.
    assert_eq!(ts.info.gen_time, 1_749_470_258);
    assert!(!ts.info.gen_time_fraction);
    assert_eq!(ts.info.imprint_algorithm, DigestAlgorithm::Sha256);
    assert_eq!(ts.info.hashed_message.len(), 32);
    assert_eq!(ts.content_type, oid::TST_INFO);
    assert_eq!(ts.digest_algorithm, DigestAlgorithm::Sha256);
    assert_eq!(
        ts.message_digest,
        DigestAlgorithm::Sha256.hash(&ts.tst_info_der)
    );
    assert_eq!(
        ts.signature_algorithm,
        SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256)
    );
    assert_eq!(ts.certificates.len(), 1, "the TSA embeds its leaf");
    assert!(matches!(ts.signer, SignerId::IssuerAndSerial { .. }));
    assert_eq!(ts.signed_attributes.first(), Some(&0x31));
    Ok(())
}

fn fields<'a>(hashed: &'a [u8], certs: &'a [Vec<u8>]) -> (TstInfoFields<'a>, SignerFields<'a>) {
    (
        TstInfoFields {
            policy: &[0x2A, 0x03],
            imprint_algorithm: DigestAlgorithm::Sha256,
            hashed_message: hashed,
            serial: &[0x80, 0x01],
            gen_time: 1_700_000_000,
            nonce: Some(&[7]),
            accuracy_seconds: Some(1),
            tsa: Some(&[0x30, 0x00]),
        },
        SignerFields {
            issuer: &[0x30, 0x00],
            serial: &[0x05],
            digest_algorithm: DigestAlgorithm::Sha384,
            signature_algorithm: oid::ECDSA_SHA384,
            certificates: certs,
        },
    )
}

#[test]
fn round_trips_what_encode_writes() -> TestResult {
    let hashed = [9u8; 32];
    let certs = vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]];
    let (info, signer) = fields(&hashed, &certs);
    let tst = encode_tst_info(&info)?;
    let attrs = signed_attributes(&tst, signer.digest_algorithm);
    let resp = encode_response(&tst, &signer, &attrs, b"sig");
    let ts = parse_signed_timestamp(&resp)?;
    assert_eq!(ts.info.gen_time, 1_700_000_000);
    assert_eq!(ts.info.hashed_message, hashed);
    assert_eq!(ts.info.serial, [0x00, 0x80, 0x01]);
    assert_eq!(ts.info.nonce.as_deref(), Some(&[7u8][..]));
    assert_eq!(ts.signed_attributes, attrs);
    assert_eq!(ts.message_digest, DigestAlgorithm::Sha384.hash(&tst));
    assert_eq!(ts.certificates, certs);
    assert_eq!(ts.signature, b"sig");
    assert_eq!(
        ts.signature_algorithm,
        SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384)
    );
    Ok(())
}

#[test]
fn refuses_rejections_truncation_and_trailing_bytes() -> TestResult {
    let hashed = [9u8; 32];
    let (info, signer) = fields(&hashed, &[]);
    let tst = encode_tst_info(&info)?;
    let attrs = signed_attributes(&tst, signer.digest_algorithm);
    let resp = encode_response(&tst, &signer, &attrs, b"sig");
    let mut rejected = resp.clone();
    // PKIStatus is the first INTEGER: 30 len 30 03 02 01 <status>.
    let status_at = rejected
        .windows(3)
        .position(|w| w == [0x02, 0x01, 0x00])
        .ok_or("no status")?;
    rejected[status_at + 2] = 2;
    assert!(
        parse_signed_timestamp(&rejected)
            .err()
            .is_some_and(|e| e.to_string().contains("did not grant"))
    );
    assert!(parse_signed_timestamp(&resp[..resp.len() - 1]).is_err());
    let mut trailing = resp.clone();
    trailing.push(0);
    assert!(parse_signed_timestamp(&trailing).is_err());
    // Without the content-type attribute.
    let only_digest = {
        let (t, _) = der::read_tlv(&attrs)?;
        let mut kids = children(t.content);
        kids.next();
        let md = kids.next().ok_or("no second attribute")??;
        der::tlv(TAG_SET, md.encoded)
    };
    let resp = encode_response(&tst, &signer, &only_digest, b"sig");
    assert!(parse_signed_timestamp(&resp).is_err());
    Ok(())
}

#[test]
fn generalized_time_is_strict_der() {
    assert_eq!(
        generalized_time(b"20250609115738Z"),
        Ok((1_749_470_258, false))
    );
    assert_eq!(
        generalized_time(b"20250609115738.5Z"),
        Ok((1_749_470_258, true))
    );
    for bad in [
        &b"20250609115738"[..],
        b"20250609115738.50Z",
        b"20250609115738.Z",
        b"2025060911573Z",
        b"20251309115738Z",
        b"20250609115738+0000",
    ] {
        assert!(generalized_time(bad).is_err(), "{bad:?}");
    }
}
