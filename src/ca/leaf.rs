//! A leaf certificate assembled by hand in DER (RFC 5280 §4.1): the TBSCertificate with a
//! spliceable last extension, and the signed `Certificate` around it.
//!
//! One issuance needs three TBSCertificates that differ only in their last extension: the
//! precertificate's (poison), the one the issuance log records (none: what RFC 6962 §3.2 has an
//! SCT sign) and the final certificate's (SCT list). [`LeafTbs`] holds everything before that
//! extension once, encoded, and [`LeafTbs::with_last_extension`] copies it behind freshly
//! computed length headers. So the invariant the SCT depends on — the final TBS minus its SCT
//! list is the logged TBS — holds by construction: the three share every byte except the three
//! enclosing lengths (TBS, `[3]`, extensions SEQUENCE) and the appended extension itself.
//!
//! The encoding is the one rcgen produced when it built these leaves (the tests in `profile`
//! compare the two byte for byte), so certificates do not change shape with this code.

use mayfly_spec::der::{
    self, DerError, length_len as der_length_len, push_length as push_der_length,
};
use time::{OffsetDateTime, UtcOffset};

/// `AlgorithmIdentifier { ecdsa-with-SHA256 }`, no parameters (RFC 5758 §3.2): the CA's
/// signature algorithm, written both inside the TBS and after it.
pub(crate) const ECDSA_WITH_SHA256: &[u8] = &[
    0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02,
];

/// The precertificate poison (RFC 6962 §3.1) as a complete `Extension`: OID
/// 1.3.6.1.4.1.11129.2.4.3, critical, `extnValue` an ASN.1 NULL. Critical so that a
/// precertificate can never be used as a certificate.
pub(crate) const POISON_EXTENSION: &[u8] = &[
    0x30, 0x13, 0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0xD6, 0x79, 0x02, 0x04, 0x03, 0x01, 0x01,
    0xFF, 0x04, 0x02, 0x05, 0x00,
];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT`, the TBS `version` wrapper.
const TAG_VERSION: u8 = 0xA0;
/// `[3] EXPLICIT`, the TBS `extensions` wrapper.
const TAG_EXTENSIONS: u8 = 0xA3;
/// `[0] EXPLICIT INTEGER 2`: X.509 v3, the only version that has extensions.
const VERSION_V3: &[u8] = &[TAG_VERSION, 0x03, TAG_INTEGER, 0x01, 0x02];
/// A subject `Name` with no RDNs: Fulcio leaves identify their subject by the SAN alone.
const EMPTY_NAME: &[u8] = &[TAG_SEQUENCE, 0x00];

/// The fields of one leaf's TBSCertificate that do not depend on its last extension.
#[derive(Debug, Clone)]
pub(crate) struct LeafTbs {
    /// `version ‖ serialNumber ‖ signature ‖ issuer ‖ validity ‖ subject ‖ subjectPublicKeyInfo`
    /// followed by every extension but the last, each a complete DER `Extension`.
    body: Vec<u8>,
    /// Where the extensions start in `body`.
    extensions_start: usize,
}

/// What goes into a [`LeafTbs`]; every byte slice is already DER.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TbsFields<'a> {
    /// The serial's big-endian magnitude; leading zero bytes are allowed and dropped.
    pub serial: &'a [u8],
    /// The issuing certificate's subject `Name`, exactly as that certificate encodes it:
    /// verifiers chain by comparing these bytes, so they are copied, never re-encoded.
    pub issuer_name: &'a [u8],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The complete DER `SubjectPublicKeyInfo`.
    pub spki: &'a [u8],
    /// Complete DER `Extension`s, concatenated in certificate order.
    pub extensions: &'a [u8],
}

impl LeafTbs {
    pub(crate) fn new(fields: &TbsFields<'_>) -> Self {
        let mut body = Vec::with_capacity(
            64 + fields.issuer_name.len() + fields.spki.len() + fields.extensions.len(),
        );
        body.extend_from_slice(VERSION_V3);
        push_positive_integer(&mut body, fields.serial);
        body.extend_from_slice(ECDSA_WITH_SHA256);
        body.extend_from_slice(fields.issuer_name);
        // Validity ::= SEQUENCE { notBefore, notAfter }; each time is 15 or 17 bytes.
        let mut validity = Vec::with_capacity(34);
        push_time(&mut validity, fields.not_before);
        push_time(&mut validity, fields.not_after);
        push_tlv(&mut body, TAG_SEQUENCE, &validity);
        body.extend_from_slice(EMPTY_NAME);
        body.extend_from_slice(fields.spki);
        let extensions_start = body.len();
        body.extend_from_slice(fields.extensions);
        LeafTbs {
            body,
            extensions_start,
        }
    }

    /// The DER TBSCertificate with `last` (one complete `Extension`, or empty for none) after
    /// the other extensions. Everything but the three enclosing lengths is copied from `self`,
    /// so calls that differ in `last` differ only there.
    pub(crate) fn with_last_extension(&self, last: &[u8]) -> Vec<u8> {
        let (fields, extensions) = self.body.split_at(self.extensions_start);
        let list_len = extensions.len() + last.len();
        // RFC 5280 forbids an empty `extensions` field; every leaf profile has several.
        debug_assert!(list_len > 0, "a leaf TBS without extensions");
        let list_tlv_len = 1 + der_length_len(list_len) + list_len;
        let tbs_len = fields.len() + 1 + der_length_len(list_tlv_len) + list_tlv_len;
        let mut tbs = Vec::with_capacity(1 + der_length_len(tbs_len) + tbs_len);
        tbs.push(TAG_SEQUENCE);
        push_der_length(&mut tbs, tbs_len);
        tbs.extend_from_slice(fields);
        tbs.push(TAG_EXTENSIONS);
        push_der_length(&mut tbs, list_tlv_len);
        tbs.push(TAG_SEQUENCE);
        push_der_length(&mut tbs, list_len);
        tbs.extend_from_slice(extensions);
        tbs.extend_from_slice(last);
        tbs
    }
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }` for a TBS
/// signed by the CA: `signature` is its DER `ECDSA-Sig-Value`, carried in a BIT STRING with no
/// unused bits.
pub(crate) fn certificate(tbs: &[u8], signature: &[u8]) -> Vec<u8> {
    let bits_len = 1 + signature.len();
    let len = tbs.len() + ECDSA_WITH_SHA256.len() + 1 + der_length_len(bits_len) + bits_len;
    let mut cert = Vec::with_capacity(1 + der_length_len(len) + len);
    cert.push(TAG_SEQUENCE);
    push_der_length(&mut cert, len);
    cert.extend_from_slice(tbs);
    cert.extend_from_slice(ECDSA_WITH_SHA256);
    cert.push(TAG_BIT_STRING);
    push_der_length(&mut cert, bits_len);
    cert.push(0);
    cert.extend_from_slice(signature);
    cert
}

/// Appends one `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }`.
/// DER omits a FALSE `critical`, as it is the default.
pub(crate) fn push_extension(
    out: &mut Vec<u8>,
    oid: &[u64],
    critical: bool,
    value: &[u8],
) -> Result<(), DerError> {
    let critical_len = if critical { 3 } else { 0 };
    let len = der::oid_len(oid)? + critical_len + 1 + der_length_len(value.len()) + value.len();
    out.reserve(1 + der_length_len(len) + len);
    out.push(TAG_SEQUENCE);
    push_der_length(out, len);
    der::push_oid(out, oid)?;
    if critical {
        out.extend_from_slice(&[0x01, 0x01, 0xFF]);
    }
    push_tlv(out, TAG_OCTET_STRING, value);
    Ok(())
}

/// One complete `Extension` (see [`push_extension`]).
pub(crate) fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Result<Vec<u8>, DerError> {
    let mut out = Vec::new();
    push_extension(&mut out, oid, critical, value)?;
    Ok(out)
}

/// The subject `Name` of a DER certificate, as encoded there (tag and length included).
pub(crate) fn subject_name(cert_der: &[u8]) -> Option<&[u8]> {
    let (cert, _) = der::read_tlv(cert_der)
        .ok()
        .filter(|(c, rest)| c.tag == TAG_SEQUENCE && rest.is_empty())?;
    let (tbs, _) = der::read_tlv(cert.content)
        .ok()
        .filter(|(t, _)| t.tag == TAG_SEQUENCE)?;
    let mut fields = tbs.content;
    // version is optional (absent means v1); the subject follows serialNumber, signature,
    // issuer and validity.
    let (first, rest) = der::read_tlv(fields).ok()?;
    if first.tag == TAG_VERSION {
        fields = rest;
    }
    for _ in 0..4 {
        fields = der::read_tlv(fields).ok()?.1;
    }
    let (subject, _) = der::read_tlv(fields)
        .ok()
        .filter(|(s, _)| s.tag == TAG_SEQUENCE)?;
    Some(subject.encoded)
}

/// The `subjectPublicKey` BIT STRING contents of a DER `SubjectPublicKeyInfo` (what RFC 5280's
/// key identifier hashes), if the key is a whole number of bytes.
pub(crate) fn spki_public_key(spki_der: &[u8]) -> Option<&[u8]> {
    let (spki, _) = der::read_tlv(spki_der)
        .ok()
        .filter(|(s, rest)| s.tag == TAG_SEQUENCE && rest.is_empty())?;
    let (algorithm, rest) = der::read_tlv(spki.content).ok()?;
    let (bits, rest) = der::read_tlv(rest).ok()?;
    if algorithm.tag != TAG_SEQUENCE || bits.tag != TAG_BIT_STRING || !rest.is_empty() {
        return None;
    }
    match bits.content.split_first() {
        Some((0, key)) => Some(key),
        _ => None,
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_der_length(out, content.len());
    out.extend_from_slice(content);
}

/// A DER INTEGER for the non-negative big-endian `magnitude`: leading zero bytes go, except one
/// that keeps a set top bit from reading as a sign (X.690 §8.3.2 minimal two's complement).
fn push_positive_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    let significant = magnitude
        .iter()
        .position(|b| *b != 0)
        .map_or(&[][..], |start| &magnitude[start..]);
    let sign_byte = significant.first().is_none_or(|b| b & 0x80 != 0);
    out.push(TAG_INTEGER);
    push_der_length(out, usize::from(sign_byte) + significant.len());
    if sign_byte {
        out.push(0);
    }
    out.extend_from_slice(significant);
}

/// RFC 5280 §4.1.2.5: UTCTime `YYMMDDHHMMSSZ` for 1950–2049, GeneralizedTime `YYYYMMDDHHMMSSZ`
/// otherwise, always in UTC and whole seconds (sub-second parts are dropped, as rcgen did).
fn push_time(out: &mut Vec<u8>, time: OffsetDateTime) {
    let time = time.to_offset(UtcOffset::UTC);
    // Certificates exist between year 0 and 9999 (GeneralizedTime's range); a leaf's times are
    // "now" plus minutes, so the clamp below never changes a real value.
    let year = u32::try_from(time.year()).unwrap_or(0).min(9999);
    let utc = (1950..2050).contains(&year);
    out.push(if utc {
        TAG_UTC_TIME
    } else {
        TAG_GENERALIZED_TIME
    });
    out.push(if utc { 13 } else { 15 });
    if utc {
        push_two_digits(out, year % 100);
    } else {
        push_two_digits(out, year / 100);
        push_two_digits(out, year % 100);
    }
    for part in [
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
    ] {
        push_two_digits(out, u32::from(part));
    }
    out.push(b'Z');
}

fn push_two_digits(out: &mut Vec<u8>, value: u32) {
    // `value` < 100 at every call site, so both digits are single decimal digits.
    out.push(b'0' + (value / 10 % 10) as u8);
    out.push(b'0' + (value % 10) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly_spec::ct::POISON_OID;
    use time::macros::datetime;

    fn integer(magnitude: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_positive_integer(&mut out, magnitude);
        out
    }

    fn time(t: OffsetDateTime) -> String {
        let mut out = Vec::new();
        push_time(&mut out, t);
        assert_eq!(usize::from(out[1]), out.len() - 2);
        format!(
            "{:02x} {}",
            out[0],
            String::from_utf8(out[2..].to_vec()).unwrap()
        )
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(&[0x00, 0x00, 0x7F, 0x01]), [0x02, 0x02, 0x7F, 0x01]);
        assert_eq!(
            integer(&[0x00, 0x00, 0x80, 0x01]),
            [0x02, 0x03, 0x00, 0x80, 0x01]
        );
        assert_eq!(integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(&[0x01, 0x00]), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(integer(&[0x00, 0x00]), [0x02, 0x01, 0x00]);
        assert_eq!(integer(&[]), [0x02, 0x01, 0x00]);
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        assert_eq!(time(datetime!(2026-03-04 05:06:07 UTC)), "17 260304050607Z");
        assert_eq!(time(datetime!(2049-12-31 23:59:59 UTC)), "17 491231235959Z");
        assert_eq!(
            time(datetime!(2050-01-01 00:00:00 UTC)),
            "18 20500101000000Z"
        );
        assert_eq!(
            time(datetime!(1949-12-31 23:59:59 UTC)),
            "18 19491231235959Z"
        );
        // The year is decided in UTC, not in the caller's offset.
        assert_eq!(
            time(datetime!(2050-01-01 01:00:00.5 +02:00)),
            "17 491231230000Z"
        );
    }

    #[test]
    fn poison_constant_is_the_critical_null_extension() {
        assert_eq!(
            POISON_EXTENSION,
            extension(POISON_OID, true, &[0x05, 0x00]).unwrap()
        );
        let mut algorithm = vec![TAG_SEQUENCE, 0x0A];
        algorithm.extend_from_slice(&der::oid(&[1, 2, 840, 10045, 4, 3, 2]).unwrap());
        assert_eq!(ECDSA_WITH_SHA256, algorithm);
    }

    #[test]
    fn splicing_rewrites_every_enclosing_length() {
        // Big enough extensions that the lengths cross from one to two and three octets.
        let fields = TbsFields {
            serial: &[0x01],
            issuer_name: &[0x30, 0x00],
            not_before: datetime!(2026-01-01 00:00:00 UTC),
            not_after: datetime!(2026-01-01 00:10:00 UTC),
            spki: &[0x30, 0x00],
            extensions: &extension(&[1, 2, 3], false, &[0xAB; 100]).unwrap(),
        };
        let tbs = LeafTbs::new(&fields);
        for last in [
            Vec::new(),
            extension(&[1, 2, 4], true, &[0xCD; 10]).unwrap(),
            extension(&[1, 2, 4], false, &[0xCD; 300]).unwrap(),
        ] {
            let der = tbs.with_last_extension(&last);
            let (whole, rest) = der::read_tlv(&der).unwrap();
            assert!(rest.is_empty() && whole.tag == TAG_SEQUENCE);
            // The extensions field is the last TLV in the TBS; walk to it.
            let mut fields = whole.content;
            let mut extensions = None;
            while let Ok((field, rest)) = der::read_tlv(fields) {
                extensions = Some(field);
                fields = rest;
            }
            assert!(fields.is_empty());
            let extensions = extensions.unwrap();
            assert_eq!(extensions.tag, TAG_EXTENSIONS);
            let (list, rest) = der::read_tlv(extensions.content).unwrap();
            assert!(rest.is_empty());
            assert!(list.content.ends_with(&last));
            assert_eq!(list.content.len(), fields_len(&tbs) + last.len());
        }

        fn fields_len(tbs: &LeafTbs) -> usize {
            tbs.body.len() - tbs.extensions_start
        }
    }

    #[test]
    fn spki_and_subject_fields_are_found() {
        let spki = [0x30, 0x07, 0x30, 0x00, 0x03, 0x03, 0x00, 0xAA, 0xBB];
        assert_eq!(spki_public_key(&spki), Some(&[0xAA, 0xBB][..]));
        let unused_bits = [0x30, 0x07, 0x30, 0x00, 0x03, 0x03, 0x01, 0xAA, 0xBB];
        assert_eq!(spki_public_key(&unused_bits), None);
        assert_eq!(spki_public_key(&spki[..8]), None);
    }
}
