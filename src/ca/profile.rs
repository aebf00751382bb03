//! The leaf certificate profile of reference/fulcio.md §2.1: which fields and extensions a
//! leaf has, encoded once per issuance as DER (`leaf` frames them into a TBSCertificate).
//!
//! Extensions come in the order production Fulcio leaves have: KU, EKU, SKI, AKI, SAN, the
//! Fulcio OIDs, then the poison (precertificate) or the SCT list (final certificate) last. The
//! SKI uses RFC 5280's SHA-1 method, as Fulcio does.
//!
//! Invariant the precertificate flow relies on: a [`LeafProfile`] is fixed once built (serial,
//! times and extension bytes), and the precertificate, the logged TBS and the final certificate
//! are all [`LeafTbs::with_last_extension`] of the one [`LeafTbs`] it makes, so removing the
//! last extension from any of them gives byte-identical TBS certificates.

use crate::ca::leaf::{LeafTbs, TbsFields, push_extension};
use crate::identity::principal::SubjectAltName;
use mayfly_spec::der::{self, DerError, sequence, tlv};
use mayfly_spec::fulcio::{FulcioExtension, OTHER_NAME_OID};
use time::OffsetDateTime;

/// How long a leaf is valid: Fulcio's ten minutes, with no backdating.
pub(crate) const LEAF_VALIDITY: time::Duration = time::Duration::minutes(10);

const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];
const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
/// id-kp-codeSigning.
pub(crate) const CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];

/// Everything that goes into one leaf except the issuer, the subject key and the extension that
/// differs between precertificate and final certificate.
#[derive(Debug, Clone)]
pub(crate) struct LeafProfile {
    serial: [u8; 20],
    not_before: OffsetDateTime,
    /// Every extension but the last, as concatenated DER `Extension`s.
    extensions: Vec<u8>,
}

impl LeafProfile {
    /// `subject_key_raw` is the subject's SPKI BIT STRING contents (for the SKI), `issuer_ski`
    /// the issuing CA's key identifier (for the AKI), `now` the issuance time.
    pub(crate) fn new(
        san: &SubjectAltName,
        fulcio: &[FulcioExtension],
        subject_key_raw: &[u8],
        issuer_ski: &[u8],
        now: OffsetDateTime,
    ) -> Result<Self, DerError> {
        Self::with_serial(
            random_serial(),
            san,
            fulcio,
            subject_key_raw,
            issuer_ski,
            now,
        )
    }

    /// [`LeafProfile::new`] with a chosen serial (20 bytes, top bit clear).
    pub(crate) fn with_serial(
        serial: [u8; 20],
        san: &SubjectAltName,
        fulcio: &[FulcioExtension],
        subject_key_raw: &[u8],
        issuer_ski: &[u8],
        now: OffsetDateTime,
    ) -> Result<Self, DerError> {
        let mut extensions = Vec::with_capacity(512);
        // digitalSignature only: BIT STRING, 7 unused bits, 0x80.
        push_extension(&mut extensions, KEY_USAGE, true, &[0x03, 0x02, 0x07, 0x80])?;
        push_extension(
            &mut extensions,
            EXTENDED_KEY_USAGE,
            false,
            &sequence(&[&der::oid(CODE_SIGNING)?]),
        )?;
        push_extension(
            &mut extensions,
            SUBJECT_KEY_IDENTIFIER,
            false,
            &tlv(0x04, &key_identifier(subject_key_raw)),
        )?;
        // keyIdentifier [0] IMPLICIT OCTET STRING, nothing else.
        push_extension(
            &mut extensions,
            AUTHORITY_KEY_IDENTIFIER,
            false,
            &sequence(&[&tlv(0x80, issuer_ski)]),
        )?;
        // Critical because the subject is empty (RFC 5280 §4.2.1.6).
        push_extension(
            &mut extensions,
            SUBJECT_ALT_NAME,
            true,
            &sequence(&[&general_name(san)?]),
        )?;
        for ext in fulcio {
            push_extension(
                &mut extensions,
                &ext.oid,
                FulcioExtension::CRITICAL,
                &ext.value,
            )?;
        }
        Ok(LeafProfile {
            serial,
            // X.509 times have whole seconds; truncating here states it rather than leaving it
            // to the encoder.
            not_before: now.replace_nanosecond(0).unwrap_or(now),
            extensions,
        })
    }

    /// The leaf's TBS fields for `issuer_name` (the issuing certificate's subject `Name` DER)
    /// and the subject key `spki_der`, ready for the last extension.
    pub(crate) fn tbs(&self, issuer_name: &[u8], spki_der: &[u8]) -> LeafTbs {
        LeafTbs::new(&TbsFields {
            serial: &self.serial,
            issuer_name,
            not_before: self.not_before,
            not_after: self.not_before + LEAF_VALIDITY,
            spki: spki_der,
            extensions: &self.extensions,
        })
    }
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. SHA-1 is
/// fine here: the identifier names a key, it is not a security commitment.
pub(crate) fn key_identifier(subject_key_raw: &[u8]) -> Vec<u8> {
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

fn general_name(san: &SubjectAltName) -> Result<Vec<u8>, DerError> {
    Ok(match san {
        SubjectAltName::Email(email) => tlv(0x81, email.as_bytes()),
        SubjectAltName::Uri(uri) => tlv(0x86, uri.as_bytes()),
        // otherName [0] { type-id, [0] EXPLICIT UTF8String }
        SubjectAltName::Username(name) => tlv(
            0xA0,
            &[
                der::oid(&OTHER_NAME_OID)?,
                tlv(0xA0, &tlv(0x0C, name.as_bytes())),
            ]
            .concat(),
        ),
    })
}

#[cfg(test)]
mod tests;
