use super::*;
use crate::ca::chain::CaChain;
use crate::ca::leaf::{self, POISON_EXTENSION};
use crate::ca::signer::{CaSigner, RcgenSigner, SoftwareKey};
use mayfly_spec::ct::{self, Sct};
use mayfly_spec::fulcio::fulcio_extensions_with_subject;
use mayfly_spec::subject_key::SubjectKey;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256, RsaKeySize,
    SerialNumber,
};
use std::sync::Arc;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The construction issuance used before leaves were assembled by hand: every extension an
/// rcgen `CustomExtension`, rcgen encoding and signing the certificate. Kept verbatim as
/// the reference the hand-built bytes must equal.
fn rcgen_reference(
    serial: [u8; 20],
    san: &SubjectAltName,
    fulcio: &[FulcioExtension],
    subject_key_raw: &[u8],
    issuer_ski: &[u8],
    now: OffsetDateTime,
    last: CustomExtension,
) -> CertificateParams {
    fn extension(oid: &[u64], critical: bool, value: Vec<u8>) -> CustomExtension {
        let mut ext = CustomExtension::from_oid_content(oid, value);
        ext.set_criticality(critical);
        ext
    }
    let mut extensions = vec![
        extension(KEY_USAGE, true, vec![0x03, 0x02, 0x07, 0x80]),
        extension(
            EXTENDED_KEY_USAGE,
            false,
            sequence(&[&der::oid(CODE_SIGNING).unwrap()]),
        ),
        extension(
            SUBJECT_KEY_IDENTIFIER,
            false,
            tlv(0x04, &key_identifier(subject_key_raw)),
        ),
        extension(
            AUTHORITY_KEY_IDENTIFIER,
            false,
            sequence(&[&tlv(0x80, issuer_ski)]),
        ),
        extension(
            SUBJECT_ALT_NAME,
            true,
            sequence(&[&general_name(san).unwrap()]),
        ),
    ];
    extensions.extend(
        fulcio
            .iter()
            .map(|ext| extension(&ext.oid, FulcioExtension::CRITICAL, ext.value.clone())),
    );
    extensions.push(last);
    let not_before = now.replace_nanosecond(0).unwrap_or(now);
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = not_before;
    params.not_after = not_before + LEAF_VALIDITY;
    params.is_ca = IsCa::NoCa;
    params.custom_extensions = extensions;
    params
}

/// Checks `cert` with parsers other than ours: x509-parser reads it whole, its issuer is
/// the intermediate's subject, and aws-lc verifies its signature with the intermediate's
/// public key.
fn verifies_under(cert: &[u8], intermediate: &X509Certificate) {
    let (rest, parsed) = X509Certificate::from_der(cert).unwrap();
    assert!(rest.is_empty());
    assert_eq!(parsed.issuer().as_raw(), intermediate.subject().as_raw());
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &intermediate.public_key().subject_public_key.data,
    )
    .verify(
        parsed.tbs_certificate.as_ref(),
        &parsed.signature_value.data,
    )
    .unwrap();
}

#[test]
fn hand_built_leaves_match_rcgen_byte_for_byte() {
    let root_key: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let ca_key: Arc<dyn CaSigner> = Arc::new(SoftwareKey::ephemeral().unwrap());
    let chain = CaChain::create(
        &root_key,
        &ca_key,
        "mayfly.test",
        1,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let issuer = Issuer::from_ca_cert_der(
        &chain.intermediate_der().to_vec().into(),
        RcgenSigner(ca_key.clone()),
    )
    .unwrap();
    let (_, intermediate) = X509Certificate::from_der(chain.intermediate_der()).unwrap();
    let issuer_name = leaf::subject_name(chain.intermediate_der()).unwrap();
    assert_eq!(issuer_name, intermediate.subject().as_raw());

    let keys = [
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap(),
        KeyPair::generate_for(&PKCS_ED25519).unwrap(),
    ];
    // A URI long enough that the SAN and the TBS need multi-byte lengths everywhere.
    let long_uri = format!(
        "https://github.com/{}/.github/workflows/release.yml@refs/heads/main",
        "o".repeat(200)
    );
    let sans = [
        SubjectAltName::Email("someone@example.com".into()),
        SubjectAltName::Uri(long_uri),
        SubjectAltName::Username("me!example.com".into()),
    ];
    let times = [
        datetime!(2026-05-06 07:08:09.987654321 UTC),
        // notBefore UTCTime, notAfter GeneralizedTime.
        datetime!(2049-12-31 23:55:00 UTC),
        datetime!(2051-02-03 04:05:06 UTC),
    ];
    let mut low = [0x5Au8; 20];
    low[..3].copy_from_slice(&[0x00, 0x00, 0x7F]);
    let mut sign_byte = [0xA5u8; 20];
    sign_byte[..2].copy_from_slice(&[0x00, 0x80]);
    let serials = [low, sign_byte, random_serial()];

    let sct = Sct {
        log_id: [7; 32],
        timestamp_ms: 1_700_000_000_000,
        extensions: ct::leaf_index_extension(42).unwrap(),
        signature: vec![0x30; 72],
    };
    let sct_value = ct::sct_list_extension_value(&[sct]).unwrap();
    // (OID, critical, extnValue contents, the bytes issuance appends): the poison as the
    // constant issuance uses, the SCT list as issuance encodes it.
    let lasts = [
        (
            ct::POISON_OID,
            true,
            vec![0x05, 0x00],
            POISON_EXTENSION.to_vec(),
        ),
        (
            ct::SCT_LIST_OID,
            false,
            sct_value.clone(),
            leaf::extension(ct::SCT_LIST_OID, false, &sct_value).unwrap(),
        ),
    ];

    let mut compared = 0;
    for key in &keys {
        let subject =
            SubjectKey::from_pem_or_der(&rcgen::PublicKeyData::subject_public_key_info(key))
                .unwrap();
        let spki = subject.spki_der();
        let rcgen_subject = rcgen::SubjectPublicKeyInfo::from_der(spki).unwrap();
        let subject_key_raw = leaf::spki_public_key(spki).unwrap();
        assert_eq!(
            subject_key_raw,
            rcgen::PublicKeyData::der_bytes(&rcgen_subject)
        );
        for (san, now, serial) in product(&sans, &times, &serials) {
            let fulcio = fulcio_extensions_with_subject(
                "https://token.actions.githubusercontent.com",
                "repo:o/r:ref:refs/heads/main",
                &[],
            );
            let profile = LeafProfile::with_serial(
                *serial,
                san,
                &fulcio,
                subject_key_raw,
                chain.intermediate_ski(),
                *now,
            )
            .unwrap();
            let ours = profile.tbs(issuer_name, spki);
            let logged = ours.with_last_extension(&[]);
            for (oid, critical, value, our_last) in &lasts {
                let mut rcgen_last = CustomExtension::from_oid_content(oid, value.clone());
                rcgen_last.set_criticality(*critical);
                let reference = rcgen_reference(
                    *serial,
                    san,
                    &fulcio,
                    subject_key_raw,
                    chain.intermediate_ski(),
                    *now,
                    rcgen_last,
                )
                .signed_by(&rcgen_subject, &issuer)
                .unwrap();
                let reference_tbs = ct::tbs_certificate(reference.der()).unwrap();
                let tbs = ours.with_last_extension(our_last);
                assert_eq!(hex::encode(&tbs), hex::encode(reference_tbs));

                // What CT signs: the reference minus its last extension, found by the
                // verifier-side walk, is our TBS built without one.
                assert_eq!(ct::without_extension(reference_tbs, oid).unwrap(), logged);

                // The framing: rcgen's signature in our Certificate is rcgen's certificate.
                let (_, parsed) = X509Certificate::from_der(reference.der()).unwrap();
                assert_eq!(
                    leaf::certificate(&tbs, &parsed.signature_value.data),
                    reference.der().as_ref()
                );

                // And signed by the CA signer, as issuance does.
                let cert = leaf::certificate(&tbs, &ca_key.sign(&tbs).unwrap());
                verifies_under(&cert, &intermediate);
                compared += 1;
            }
        }
    }
    assert_eq!(
        compared,
        keys.len() * sans.len() * times.len() * serials.len() * 2
    );
}

/// Every `(a, b, c)` of the three slices.
fn product<'a, A, B, C>(
    a: &'a [A],
    b: &'a [B],
    c: &'a [C],
) -> impl Iterator<Item = (&'a A, &'a B, &'a C)> {
    a.iter()
        .flat_map(move |x| b.iter().flat_map(move |y| c.iter().map(move |z| (x, y, z))))
}

#[test]
fn general_names_use_the_rfc5280_tags() {
    assert_eq!(
        general_name(&SubjectAltName::Email("a@b.c".into())).unwrap(),
        b"\x81\x05a@b.c"
    );
    assert_eq!(
        general_name(&SubjectAltName::Uri("https://x".into())).unwrap(),
        b"\x86\x09https://x"
    );
    let other = general_name(&SubjectAltName::Username("me!example.com".into())).unwrap();
    assert_eq!(other[0], 0xA0);
    assert_eq!(&other[2..14], &der::oid(&OTHER_NAME_OID).unwrap()[..]);
    assert!(other.ends_with(b"\xA0\x10\x0C\x0Eme!example.com"));
}

#[test]
fn serials_are_positive_and_fit_twenty_bytes() {
    for _ in 0..256 {
        let serial = random_serial();
        assert!(serial[0] < 0x80);
        assert!(serial.iter().any(|b| *b != 0));
    }
    assert_ne!(random_serial(), random_serial());
}

#[test]
fn key_identifier_is_sha1() {
    // SHA-1("abc"), FIPS 180 test vector.
    assert_eq!(
        hex::encode(key_identifier(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
}
