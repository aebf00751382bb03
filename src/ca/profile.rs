//! The leaf certificate profile of reference/fulcio.md §2.1, as rcgen parameters.
//!
//! Every extension is written here as raw DER and handed to rcgen as a custom extension, in the
//! order production Fulcio leaves have: KU, EKU, SKI, AKI, SAN, the Fulcio OIDs, then the poison
//! (precertificate) or the SCT list (final certificate) last. rcgen's built-in extension fields
//! stay empty: they would reorder the extensions and derive the SKI with SHA-256 instead of
//! RFC 5280's SHA-1 method that Fulcio uses.
//!
//! Invariant the precertificate flow relies on: [`LeafProfile::params`] is deterministic, and the
//! only difference between the precertificate and the final certificate is the one extension
//! passed as `last`, so removing it from either gives byte-identical TBS certificates.

use crate::ca::der::{encode_oid, sequence, tlv};
use crate::ca::extensions::FulcioExtension;
use crate::identity::principal::SubjectAltName;
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, IsCa, SerialNumber};
use time::OffsetDateTime;

/// How long a leaf is valid: Fulcio's ten minutes, with no backdating.
pub const LEAF_VALIDITY: time::Duration = time::Duration::minutes(10);

const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];
const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
/// id-kp-codeSigning.
pub const CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
/// The otherName type of a `username` identity's SAN.
const USERNAME_OTHER_NAME: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 7];

/// Everything that goes into one leaf except the extension that differs between precertificate
/// and final certificate.
#[derive(Debug, Clone)]
pub struct LeafProfile {
    serial: [u8; 20],
    not_before: OffsetDateTime,
    extensions: Vec<CustomExtension>,
}

impl LeafProfile {
    /// `subject_key_raw` is the subject's SPKI BIT STRING contents (for the SKI), `issuer_ski`
    /// the issuing CA's key identifier (for the AKI), `now` the issuance time.
    pub fn new(
        san: &SubjectAltName,
        fulcio: &[FulcioExtension],
        subject_key_raw: &[u8],
        issuer_ski: &[u8],
        now: OffsetDateTime,
    ) -> Self {
        let mut extensions = vec![
            // digitalSignature only: BIT STRING, 7 unused bits, 0x80.
            extension(KEY_USAGE, true, vec![0x03, 0x02, 0x07, 0x80]),
            extension(
                EXTENDED_KEY_USAGE,
                false,
                sequence(&[&encode_oid(CODE_SIGNING)]),
            ),
            extension(
                SUBJECT_KEY_IDENTIFIER,
                false,
                tlv(0x04, &key_identifier(subject_key_raw)),
            ),
            // keyIdentifier [0] IMPLICIT OCTET STRING, nothing else.
            extension(
                AUTHORITY_KEY_IDENTIFIER,
                false,
                sequence(&[&tlv(0x80, issuer_ski)]),
            ),
            // Critical because the subject is empty (RFC 5280 §4.2.1.6).
            extension(SUBJECT_ALT_NAME, true, sequence(&[&general_name(san)])),
        ];
        extensions.extend(
            fulcio
                .iter()
                .map(|ext| extension(&ext.oid, FulcioExtension::CRITICAL, ext.value.clone())),
        );
        LeafProfile {
            serial: random_serial(),
            // X.509 times have whole seconds; truncating here keeps the two signings identical
            // whatever rcgen would do with sub-second parts.
            not_before: now.replace_nanosecond(0).unwrap_or(now),
            extensions,
        }
    }

    /// The rcgen parameters with `last` appended after the profile's extensions.
    pub fn params(&self, last: CustomExtension) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.serial_number = Some(SerialNumber::from_slice(&self.serial));
        params.not_before = self.not_before;
        params.not_after = self.not_before + LEAF_VALIDITY;
        params.is_ca = IsCa::NoCa;
        params.custom_extensions = self.extensions.clone();
        params.custom_extensions.push(last);
        params
    }

    pub fn serial(&self) -> &[u8; 20] {
        &self.serial
    }
}

/// An extension whose `extnValue` contents are `value`.
pub fn extension(oid: &[u64], critical: bool, value: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, value);
    ext.set_criticality(critical);
    ext
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. SHA-1 is
/// fine here: the identifier names a key, it is not a security commitment.
pub fn key_identifier(subject_key_raw: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        subject_key_raw,
    )
    .as_ref()
    .to_vec()
}

/// A uniformly random positive serial of at most 159 bits, in 20 bytes: the top bit is cleared
/// so the DER INTEGER needs no sign byte and stays within RFC 5280's 20 octets.
fn random_serial() -> [u8; 20] {
    loop {
        let mut serial: [u8; 20] = rand::random();
        serial[0] &= 0x7F;
        if serial.iter().any(|b| *b != 0) {
            return serial;
        }
    }
}

fn general_name(san: &SubjectAltName) -> Vec<u8> {
    match san {
        SubjectAltName::Email(email) => tlv(0x81, email.as_bytes()),
        SubjectAltName::Uri(uri) => tlv(0x86, uri.as_bytes()),
        // otherName [0] { type-id, [0] EXPLICIT UTF8String }
        SubjectAltName::Username(name) => tlv(
            0xA0,
            &[
                encode_oid(USERNAME_OTHER_NAME),
                tlv(0xA0, &tlv(0x0C, name.as_bytes())),
            ]
            .concat(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_names_use_the_rfc5280_tags() {
        assert_eq!(
            general_name(&SubjectAltName::Email("a@b.c".into())),
            b"\x81\x05a@b.c"
        );
        assert_eq!(
            general_name(&SubjectAltName::Uri("https://x".into())),
            b"\x86\x09https://x"
        );
        let other = general_name(&SubjectAltName::Username("me!example.com".into()));
        assert_eq!(other[0], 0xA0);
        assert_eq!(&other[2..14], &encode_oid(USERNAME_OTHER_NAME)[..]);
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
}
