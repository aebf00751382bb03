use super::*;
use proptest::prelude::*;
use rcgen::{
    CertificateParams, DistinguishedName, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_ECDSA_P521_SHA256, PKCS_ECDSA_P521_SHA512, PKCS_ED25519,
    PKCS_RSA_SHA256, PKCS_RSA_SHA384, PublicKeyData, RsaKeySize, SigningKey,
};

const CHALLENGE: &[u8] = b"repo:example/app:ref:refs/heads/main";

/// The DER contents of the first PEM block (test helper).
fn pem_contents(pem: &str) -> Vec<u8> {
    decode_pem(pem.as_bytes()).unwrap().1
}

fn rsa(size: RsaKeySize) -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size).unwrap()
}

/// Every admitted kind, generated fresh, with the kind it must be recognised as.
fn all_kinds() -> Vec<(KeyPair, KeyKind)> {
    vec![
        (
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            KeyKind::EcdsaP256,
        ),
        (
            KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
            KeyKind::EcdsaP384,
        ),
        (
            KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).unwrap(),
            KeyKind::EcdsaP521,
        ),
        (rsa(RsaKeySize::_2048), KeyKind::Rsa2048),
        (rsa(RsaKeySize::_3072), KeyKind::Rsa3072),
        (rsa(RsaKeySize::_4096), KeyKind::Rsa4096),
        (
            KeyPair::generate_for(&PKCS_ED25519).unwrap(),
            KeyKind::Ed25519,
        ),
    ]
}

fn csr_pem(params: &CertificateParams, key: &KeyPair) -> String {
    params.serialize_request(key).unwrap().pem().unwrap()
}

// openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 (public half)
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCVeGC04YnUXSlDvwax0U3QRhwS
1SyF5dhCd+Jz0WxabVqd70GnVjXeE7rcwh6je7+uWSsLNdwsa6kumWM9lbaadsU7
LV5YXPRU3m+jl+rqiMz3k637aXC69U8pE8JIuLDDoRr0ZHZqm8TVDL2TlHNcfHJ9
ZOUpk8u/mnuuTnzbzwIDAQAB
-----END PUBLIC KEY-----
";
// openssl ecparam -name secp256k1 -genkey (public half)
const SECP256K1_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEJZUSM7BQR99lcfYrRiLOGzpaYkOh32M4
Ubn8IOMJ7jd/Fj4pTMxdmtW8qQS2PmeLFRZmGoq3A8gb6fFEY/XRqg==
-----END PUBLIC KEY-----
";
// openssl genpkey -algorithm X25519 (public half)
const X25519_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEAwlxPoFwGn4LqG50vEvXVI9xCGADg472LDKyLm6HSDDQ=
-----END PUBLIC KEY-----
";
// openssl genpkey -algorithm ED448 (public half)
const ED448_PEM: &str = "-----BEGIN PUBLIC KEY-----
MEMwBQYDK2VxAzoASXDgzKjCG+mplUe+MTAREn9+xeVyAwIjAflP/24vYlVJo4QS
5BhOdo8TToFoH5ByHKbF0l0jqkwA
-----END PUBLIC KEY-----
";
// openssl req -new -key <RSA-2048 key> -sha256 -subj "/"
const RSA_2048_SHA256_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIICRTCCAS0CAQAwADCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKZK
RMFHSMWsVGrSrakCRTVMX2t8qtgCs4u/hZeKC/Fw0H5oTVgyK8xfmIKOgnCugRQv
e+4gI7xe11gOx0A3J0PPwRzsm4YEr1A8lq1NVc4LlacBAgkgVLwgezUqAQIUl+Ol
8HIUC72/jTZc6F6RBycISEokEVQBk8t2phY0D6PKiGpzIaXe+Ar0043JVDlTCitb
rGad51elTSo8LHT5MQiTcQZkvLunLkhPocAcdYLPresjfKcVxbZ4Pwqso7TOyjIe
4obIZWVxpuL/4XZEYKUYbUcYCuNSCVDlgjjLB+FQqdejgtnwiS5dEi26mef3Pebm
R9zU2cCrHOTUU/5EAUECAwEAAaAAMA0GCSqGSIb3DQEBCwUAA4IBAQBdAKVx87i7
Kh/6SXXn18I/ap14FR/PLiQalg5S+SugehyH8H4BwMfemiqkItPo4cMHTTR6SSGH
xZm9hZ/vHnZitnZ5hcWNV1TObMpZJPyfdU3nI3ykPvmsChfBDyJFgPeKrXu3Zcmn
mBTdWQEgoBU12VEC3Yg1aLM6Sit3EL9ZFvwhK0dh6rH9iEyCNvT8yUPoK3sFBKbP
G3tP5hjKIZHjUPQhE6bLaU2Ge/S70pvU0tQPNGUPYXVJMf9VZuWL12B+i5wG4lpd
GbKJhy1y0VLxiqw0AneS9xVA/WStbFQDax5AdsvlXE5L7I8FSOD92fqJxdkHPBbK
R5Kwrbo7eCkS
-----END CERTIFICATE REQUEST-----
";
// openssl req -new -key <the same key> -sha1 -subj "/"
const RSA_2048_SHA1_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIICRTCCAS0CAQAwADCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKZK
RMFHSMWsVGrSrakCRTVMX2t8qtgCs4u/hZeKC/Fw0H5oTVgyK8xfmIKOgnCugRQv
e+4gI7xe11gOx0A3J0PPwRzsm4YEr1A8lq1NVc4LlacBAgkgVLwgezUqAQIUl+Ol
8HIUC72/jTZc6F6RBycISEokEVQBk8t2phY0D6PKiGpzIaXe+Ar0043JVDlTCitb
rGad51elTSo8LHT5MQiTcQZkvLunLkhPocAcdYLPresjfKcVxbZ4Pwqso7TOyjIe
4obIZWVxpuL/4XZEYKUYbUcYCuNSCVDlgjjLB+FQqdejgtnwiS5dEi26mef3Pebm
R9zU2cCrHOTUU/5EAUECAwEAAaAAMA0GCSqGSIb3DQEBBQUAA4IBAQBolzaAhW6T
QjSndB9jzaons36B2dCZzngColK1DdipjUrotJh0bCJWBij08FsjqMXIkGobs714
g5BVI0aZaVfSj3HrW7Mgupr6+PJPM9FzH1jcrIQOeyMle/B8rTCwbRWP31FecwFj
nWqBpG7pgWLeycN4UyE68uV5KtvBKEzzAFAatVfgv8a26PVKqS0MErG7XveOn/70
1/AEt22IiCSVFJ8asdsfz9Umqmj+xxJMP9G0HP04GZBgc3gGXkzOt/4sLL9+eItR
rZphaEaWvNleQ55I89fXFePRTaca9QGPUeNmmb0olzT56OJ/rRhcHC+4vlIJ149j
XBiitz+scIpK
-----END CERTIFICATE REQUEST-----
";
// openssl req -new -key <the secp256k1 key above> -sha256 -subj "/"
const SECP256K1_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIG3MF8CAQAwADBWMBAGByqGSM49AgEGBSuBBAAKA0IABCWVEjOwUEffZXH2K0Yi
zhs6WmJDod9jOFG5/CDjCe43fxY+KUzMXZrVvKkEtj5nixUWZhqKtwPIG+nxRGP1
0aqgADAKBggqhkjOPQQDAgNIADBFAiEAq0/WpdoDJG5f6Ou2LiS5mxXjkCRjDR0P
LKjj5IgrFBICIB75kHxLxLdj+iyoDwvgwKiw3CZgY3UbYr3ZEApN8g0w
-----END CERTIFICATE REQUEST-----
";

#[test]
fn every_allowed_kind_round_trips_and_proves_possession() {
    for (key, kind) in all_kinds() {
        let signature = key.sign(CHALLENGE).unwrap();
        let expected_spki = key.subject_public_key_info();

        let from_pem = SubjectKey::from_pem_or_der(key.public_key_pem().as_bytes()).unwrap();
        let from_der = SubjectKey::from_pem_or_der(&expected_spki).unwrap();
        assert_eq!(from_pem, from_der, "{kind}");
        assert_eq!(from_pem.kind(), kind);
        // Our canonical re-encoding equals what rcgen/aws-lc-rs write for the same key.
        assert_eq!(from_pem.spki_der(), expected_spki.as_slice(), "{kind}");
        from_pem.verify_possession(CHALLENGE, &signature).unwrap();

        let bad = Err(SubjectKeyError::BadSignature);
        assert_eq!(
            from_pem.verify_possession(b"someone-else", &signature),
            bad,
            "{kind}"
        );
        let truncated = &signature[..signature.len() - 1];
        assert_eq!(
            from_pem.verify_possession(CHALLENGE, truncated),
            bad,
            "{kind}"
        );
        assert_eq!(from_pem.verify_possession(CHALLENGE, &[]), bad, "{kind}");
    }
}

#[test]
fn a_signature_with_the_wrong_hash_is_refused() {
    // P-521 must use SHA-512; the same key signing with SHA-256 must not verify.
    let p521 = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).unwrap();
    let p521_sha256 = KeyPair::from_pkcs8_der_and_sign_algo(
        &p521.serialize_der().into(),
        &PKCS_ECDSA_P521_SHA256,
    )
    .unwrap();
    let key = SubjectKey::from_pem_or_der(p521.public_key_pem().as_bytes()).unwrap();
    let sig = p521_sha256.sign(CHALLENGE).unwrap();
    // Refused, and the refusal says which hash was used and which one the key needs.
    assert_eq!(
        key.verify_possession(CHALLENGE, &sig),
        Err(SubjectKeyError::WrongHash {
            key: "P-521",
            used: "SHA-256",
            required: "SHA-512"
        })
    );

    // RSA must use SHA-256; SHA-384 must not verify.
    let rsa = rsa(RsaKeySize::_2048);
    let rsa_sha384 =
        KeyPair::from_pkcs8_der_and_sign_algo(&rsa.serialize_der().into(), &PKCS_RSA_SHA384)
            .unwrap();
    let key = SubjectKey::from_pem_or_der(rsa.public_key_pem().as_bytes()).unwrap();
    let sig = rsa_sha384.sign(CHALLENGE).unwrap();
    assert_eq!(
        key.verify_possession(CHALLENGE, &sig),
        Err(SubjectKeyError::WrongHash {
            key: "RSA",
            used: "SHA-384",
            required: "SHA-256"
        })
    );
    // A signature made with another key is not a hash mix-up.
    let other = self::rsa(RsaKeySize::_2048);
    assert_eq!(
        key.verify_possession(CHALLENGE, &other.sign(CHALLENGE).unwrap()),
        Err(SubjectKeyError::BadSignature)
    );
    assert_eq!(
        SubjectKeyError::WrongHash {
            key: "P-384",
            used: "SHA-256",
            required: "SHA-384"
        }
        .to_string(),
        "The signature supplied in the request could not be verified: it was made with SHA-256, \
         but P-384 keys must sign with SHA-384"
    );
}

#[test]
fn pkcs1_rsa_public_key_pem_is_accepted_and_wrapped_in_an_spki() {
    let key = rsa(RsaKeySize::_2048);
    let spki = key.subject_public_key_info();
    let pkcs1 = key.der_bytes(); // rsaEncryption BIT STRING contents = RSAPublicKey
    let mut pem = String::from("-----BEGIN RSA PUBLIC KEY-----\n");
    pem.push_str(&base64_lines(pkcs1));
    pem.push_str("-----END RSA PUBLIC KEY-----\n");
    let parsed = SubjectKey::from_pem_or_der(pem.as_bytes()).unwrap();
    assert_eq!(parsed.kind(), KeyKind::Rsa2048);
    assert_eq!(parsed.spki_der(), spki.as_slice());
}

#[test]
fn disallowed_algorithms_are_insecure() {
    for pem in [RSA_1024_PEM, SECP256K1_PEM, X25519_PEM, ED448_PEM] {
        assert_eq!(
            SubjectKey::from_pem_or_der(pem.as_bytes()),
            Err(SubjectKeyError::Insecure),
            "{pem}"
        );
        // Same answer for the DER form.
        assert_eq!(
            SubjectKey::from_pem_or_der(&pem_contents(pem)),
            Err(SubjectKeyError::Insecure)
        );
    }
}

/// An rsaEncryption SPKI around an arbitrary (modulus, exponent), built with the module's
/// own encoder so that only the policy, not parsing, can reject it.
fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut fields = Vec::new();
    push_unsigned_integer(&mut fields, modulus);
    push_unsigned_integer(&mut fields, exponent);
    let mut pkcs1 = Vec::new();
    push_tlv(&mut pkcs1, TAG_SEQUENCE, &fields);
    let mut bits = vec![0];
    bits.extend_from_slice(&pkcs1);
    let mut body = Vec::new();
    push_tlv(
        &mut body,
        TAG_SEQUENCE,
        KeyKind::Rsa2048.spki_algorithm_contents(),
    );
    push_tlv(&mut body, TAG_BIT_STRING, &bits);
    let mut spki = Vec::new();
    push_tlv(&mut spki, TAG_SEQUENCE, &body);
    spki
}

#[test]
fn rsa_policy_checks_size_exponent_and_small_factors() {
    let key = rsa(RsaKeySize::_2048);
    let real = SubjectKey::from_pem_or_der(&key.subject_public_key_info()).unwrap();
    let (_, parsed) = RSAPublicKey::from_der(&real.public_key).unwrap();
    let modulus = positive_magnitude(parsed.modulus).unwrap();
    let f4 = [0x01, 0x00, 0x01];

    // Control: the encoder reproduces the accepted key.
    assert_eq!(rsa_spki(modulus, &f4), real.spki_der());
    for exponent in [&[0x03][..], &[0x01, 0x00, 0x00], &[0x01, 0x00, 0x03]] {
        assert_eq!(
            SubjectKey::from_pem_or_der(&rsa_spki(modulus, exponent)),
            Err(SubjectKeyError::Insecure),
            "e = {exponent:02x?}"
        );
    }
    // 2047 bits: drop the top bit.
    let mut short = modulus.to_vec();
    short[0] &= 0x7f;
    assert_eq!(
        SubjectKey::from_pem_or_der(&rsa_spki(&short, &f4)),
        Err(SubjectKeyError::Insecure)
    );
    // 2048 bits but 2^2048 - 1 is divisible by 3.
    assert_eq!(
        SubjectKey::from_pem_or_der(&rsa_spki(&[0xff; 256], &f4)),
        Err(SubjectKeyError::Insecure)
    );
    // The bound: a real modulus times 751 (the largest prime goodkey tries) is caught, times
    // 757 (the next prime) is not, and the real modulus itself is clean.
    let times = |factor: u32| {
        let mut carry = 0u32;
        let mut product: Vec<u8> = modulus
            .iter()
            .rev()
            .map(|&b| {
                let v = u32::from(b) * factor + carry;
                carry = v >> 8;
                (v & 0xff) as u8
            })
            .collect();
        product.extend(carry.to_le_bytes());
        product.reverse();
        product
    };
    assert!(has_small_prime_factor(&times(751)));
    assert!(!has_small_prime_factor(&times(757)));
    assert!(!has_small_prime_factor(modulus));
}

#[test]
fn garbage_is_unparseable() {
    let p256 = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = p256.subject_public_key_info();
    let mut trailing = spki.clone();
    trailing.push(0);
    let mut off_curve = spki.clone();
    *off_curve.last_mut().unwrap() ^= 1;
    let cert_pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    let private_pem = p256.serialize_pem();
    let oversized = vec![b'A'; MAX_INPUT_LEN + 1];

    let cases: [(&str, &[u8]); 9] = [
        ("empty", b""),
        ("text", b"not a key"),
        ("truncated DER", &spki[..spki.len() - 1]),
        ("trailing byte", &trailing),
        ("point off the curve", &off_curve),
        ("certificate PEM", cert_pem.as_bytes()),
        ("private key PEM", private_pem.as_bytes()),
        (
            "bad base64",
            b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        ),
        ("oversized", &oversized),
    ];
    for (name, input) in cases {
        assert_eq!(
            SubjectKey::from_pem_or_der(input),
            Err(SubjectKeyError::Unparseable),
            "{name}"
        );
    }
}

#[test]
fn rcgen_csrs_are_accepted_with_the_same_spki() {
    for (key, kind) in all_kinds() {
        let csr = csr_pem(&CertificateParams::default(), &key);
        let parsed = SubjectKey::from_csr(csr.as_bytes()).unwrap();
        assert_eq!(parsed.kind(), kind);
        assert_eq!(
            parsed.spki_der(),
            key.subject_public_key_info().as_slice(),
            "{kind}"
        );
        // DER works too.
        assert_eq!(SubjectKey::from_csr(&pem_contents(&csr)).unwrap(), parsed);
    }
}

#[test]
fn sigstore_python_style_csr_is_accepted() {
    // sigstore-python sends an empty subject and requests BasicConstraints CA:FALSE.
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.is_ca = IsCa::ExplicitNoCa;
    let csr = csr_pem(&params, &key);
    let der = pem_contents(&csr);
    let (_, req) = X509CertificationRequest::from_der(&der).unwrap();
    assert!(
        req.certification_request_info
            .subject
            .iter()
            .next()
            .is_none()
    );
    assert_eq!(req.requested_extensions().unwrap().count(), 1);

    let parsed = SubjectKey::from_csr(csr.as_bytes()).unwrap();
    assert_eq!(parsed.spki_der(), key.subject_public_key_info().as_slice());
}

#[test]
fn tampered_or_truncated_csrs_are_refused() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let der = pem_contents(&csr_pem(&CertificateParams::default(), &key));

    // The signature is the last thing in the CSR: flip its final byte.
    let mut flipped = der.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    assert_eq!(
        SubjectKey::from_csr(&flipped),
        Err(SubjectKeyError::BadSignature)
    );

    assert_eq!(
        SubjectKey::from_csr(&der[..der.len() - 10]),
        Err(SubjectKeyError::CsrUnparseable)
    );
    assert_eq!(
        SubjectKey::from_csr(b""),
        Err(SubjectKeyError::CsrUnparseable)
    );
    let key_pem = key.public_key_pem();
    assert_eq!(
        SubjectKey::from_csr(key_pem.as_bytes()),
        Err(SubjectKeyError::CsrUnparseable)
    );
}

#[test]
fn csr_key_policy_and_algorithm_allow_list() {
    // A correctly self-signed CSR is still refused if its key is.
    assert_eq!(
        SubjectKey::from_csr(SECP256K1_CSR.as_bytes()),
        Err(SubjectKeyError::Insecure)
    );

    // A good key with a valid signature under a scheme off the allow-list.
    let p521 = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).unwrap();
    let p521_sha256 = KeyPair::from_pkcs8_der_and_sign_algo(
        &p521.serialize_der().into(),
        &PKCS_ECDSA_P521_SHA256,
    )
    .unwrap();
    let csr = csr_pem(&CertificateParams::default(), &p521_sha256);
    let err = SubjectKey::from_csr(csr.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signing algorithm not permitted: ECDSA P-521 key with ecdsa-with-SHA256 signature"
    );
}

#[test]
fn openssl_rsa_csrs_sha256_accepted_sha1_not_permitted() {
    let good = SubjectKey::from_csr(RSA_2048_SHA256_CSR.as_bytes()).unwrap();
    assert_eq!(good.kind(), KeyKind::Rsa2048);
    let der = pem_contents(RSA_2048_SHA256_CSR);
    let (_, req) = X509CertificationRequest::from_der(&der).unwrap();
    // openssl's SPKI is already canonical, so the re-encoding reproduces it exactly.
    assert_eq!(
        good.spki_der(),
        req.certification_request_info.subject_pki.raw
    );

    assert_eq!(
        SubjectKey::from_csr(RSA_2048_SHA1_CSR.as_bytes()),
        Err(SubjectKeyError::NotPermitted(
            "RSA-2048 key with sha1WithRSAEncryption signature".into()
        ))
    );
}

#[test]
fn error_messages_match_fulcio() {
    use SubjectKeyError::*;
    assert_eq!(
        Unparseable.to_string(),
        "The public key supplied in the request could not be parsed"
    );
    assert_eq!(
        Insecure.to_string(),
        "The public key supplied in the request is insecure"
    );
    assert_eq!(
        CsrUnparseable.to_string(),
        "The certificate signing request could not be parsed"
    );
    assert_eq!(
        BadSignature.to_string(),
        "The signature supplied in the request could not be verified"
    );
}

#[test]
fn der_length_encoding() {
    let mut out = Vec::new();
    push_tlv(&mut out, 0x04, &[0; 0x7f]);
    assert_eq!(&out[..2], &[0x04, 0x7f]);
    out.clear();
    push_tlv(&mut out, 0x04, &[0; 0x80]);
    assert_eq!(&out[..3], &[0x04, 0x81, 0x80]);
    out.clear();
    push_tlv(&mut out, 0x04, &[0; 0x1234]);
    assert_eq!(&out[..4], &[0x04, 0x82, 0x12, 0x34]);
}

/// Standard base64 in 64-column lines, for building PEM in tests.
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut lines = String::new();
    for line in text.as_bytes().chunks(64) {
        lines.push_str(std::str::from_utf8(line).unwrap());
        lines.push('\n');
    }
    lines
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SubjectKey::from_pem_or_der(&bytes);
        let _ = SubjectKey::from_csr(&bytes);
    }

    #[test]
    fn arbitrary_pem_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for label in ["PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE REQUEST"] {
            let pem = format!("-----BEGIN {label}-----\n{}-----END {label}-----\n", base64_lines(&bytes));
            let _ = SubjectKey::from_pem_or_der(pem.as_bytes());
            let _ = SubjectKey::from_csr(pem.as_bytes());
        }
    }

    #[test]
    fn mutated_valid_inputs_never_panic(index in 0usize..4096, xor in 1u8..=255) {
        // Random single-byte corruption of a real SPKI and CSR reaches deeper parser states.
        let spki = p256_fixture().0.clone();
        let csr = p256_fixture().1.clone();
        for mut input in [spki, csr] {
            let i = index % input.len();
            input[i] ^= xor;
            let _ = SubjectKey::from_pem_or_der(&input);
            let _ = SubjectKey::from_csr(&input);
        }
    }
}

/// One P-256 SPKI and CSR (DER), generated once for the mutation property.
fn p256_fixture() -> &'static (Vec<u8>, Vec<u8>) {
    static FIXTURE: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = pem_contents(&csr_pem(&CertificateParams::default(), &key));
        (key.subject_public_key_info(), csr)
    })
}
