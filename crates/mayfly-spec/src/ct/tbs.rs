//! The TBSCertificate that an SCT for a precertificate covers (RFC 6962 §3.2).
//!
//! A log signs the precertificate's TBSCertificate *without the poison extension*. The final
//! certificate is issued from the same fields with the SCT list where the poison was, so a
//! verifier recovers the identical bytes by deleting the SCT list extension instead. Both
//! deletions go through [`without_extension`], which keeps every other byte as it was and
//! re-encodes only the three lengths that enclose the deleted extension.

use super::CtError;
use super::sct::{POISON_OID, SCT_LIST_OID};
use crate::der::{
    self, TAG_BIT_STRING, TAG_BOOLEAN, TAG_EXTENSIONS, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE,
};

/// The TBSCertificate TLV inside a DER `Certificate` (RFC 5280 §4.1).
///
/// Checks the outer shape — `SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING }` and nothing after
/// it — but not the contents of the TBS, which [`without_extension`] walks.
pub fn tbs_certificate(cert_der: &[u8]) -> Result<&[u8], CtError> {
    let cert = der::read_single(cert_der, TAG_SEQUENCE, "certificate is not a SEQUENCE")?;
    let mut fields = der::children(cert);
    let tbs = fields.expect(TAG_SEQUENCE, "missing tbsCertificate")?;
    fields.expect(TAG_SEQUENCE, "missing signatureAlgorithm")?;
    fields.expect(TAG_BIT_STRING, "missing signatureValue")?;
    if fields.next().is_some() {
        return Err(CtError::MalformedDer("trailing fields in Certificate"));
    }
    Ok(tbs.encoded)
}

/// Re-encodes `tbs_der` with the extension `oid` removed.
///
/// The extension must occur exactly once. The other extensions keep their order and bytes; if
/// the removed one was the only one, the `[3]` wrapper goes too, as a certificate without
/// extensions has no `extensions` field at all (RFC 5280 forbids an empty one).
pub fn without_extension(tbs_der: &[u8], oid: &[u64]) -> Result<Vec<u8>, CtError> {
    split_extension(tbs_der, oid).map(|(tbs, _)| tbs)
}

/// The bytes an SCT over precertificate `precert_der` signs: its TBSCertificate minus the
/// poison, which must be exactly the critical ASN.1 NULL RFC 6962 §3.1 defines.
pub fn precert_signing_tbs(precert_der: &[u8]) -> Result<Vec<u8>, CtError> {
    let (tbs, poison) = split_extension(tbs_certificate(precert_der)?, POISON_OID)?;
    if !poison.critical || poison.value != [0x05, 0x00] {
        return Err(CtError::MalformedDer(
            "poison extension is not a critical NULL",
        ));
    }
    Ok(tbs)
}

/// The bytes the SCTs embedded in `cert_der` signed: its TBSCertificate minus the SCT list.
pub fn final_cert_signing_tbs(cert_der: &[u8]) -> Result<Vec<u8>, CtError> {
    without_extension(tbs_certificate(cert_der)?, SCT_LIST_OID)
}

/// An extension's criticality and `extnValue` content.
struct Extension<'a> {
    critical: bool,
    value: &'a [u8],
}

/// The TBS re-encoded without extension `oid`, and that extension.
fn split_extension<'a>(
    tbs_der: &'a [u8],
    oid: &[u64],
) -> Result<(Vec<u8>, Extension<'a>), CtError> {
    let target = der::encode_oid(oid)?;
    let fields = der::read_single(tbs_der, TAG_SEQUENCE, "tbsCertificate is not a SEQUENCE")?;
    let mut body = Vec::with_capacity(fields.len());
    let mut removed = None;
    let mut seen_extensions = false;
    for field in der::children(fields) {
        let field = field?;
        // `extensions` is the last TBS field; anything after it (including a second one)
        // is not a certificate this module should be vouching for.
        if seen_extensions {
            return Err(CtError::MalformedDer("field after extensions"));
        }
        if field.tag != TAG_EXTENSIONS {
            body.extend_from_slice(field.encoded);
            continue;
        }
        seen_extensions = true;
        let list = der::read_single(field.content, TAG_SEQUENCE, "extensions is not a SEQUENCE")?;
        let mut kept = Vec::with_capacity(list.len());
        for ext in der::children(list) {
            let ext = ext?;
            if ext.tag != TAG_SEQUENCE {
                return Err(CtError::MalformedDer("extension is not a SEQUENCE"));
            }
            let (id, parsed) = parse_extension(ext.content)?;
            if id != target.as_slice() {
                kept.extend_from_slice(ext.encoded);
            } else if removed.replace(parsed).is_some() {
                return Err(CtError::DuplicateExtension(der::dotted(oid)));
            }
        }
        if !kept.is_empty() {
            let mut list = Vec::with_capacity(kept.len() + 4);
            der::push_tlv(&mut list, TAG_SEQUENCE, &kept);
            der::push_tlv(&mut body, TAG_EXTENSIONS, &list);
        }
    }
    let removed = removed.ok_or_else(|| CtError::ExtensionNotFound(der::dotted(oid)))?;
    let mut out = Vec::with_capacity(body.len() + 4);
    der::push_tlv(&mut out, TAG_SEQUENCE, &body);
    Ok((out, removed))
}

/// `Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`
/// (RFC 5280 §4.1), returning the OID's content octets.
fn parse_extension(ext: &[u8]) -> Result<(&[u8], Extension<'_>), CtError> {
    let mut parts = der::children(ext);
    let id = parts.expect(TAG_OID, "extension without extnID")?;
    let mut next = parts.next().transpose()?;
    let mut critical = false;
    if let Some(flag) = next.filter(|tlv| tlv.tag == TAG_BOOLEAN) {
        // An explicit FALSE is not DER (it is the DEFAULT), but some issuers emit it. Kept
        // extensions are copied verbatim, so tolerating it cannot change any signed bytes.
        critical = match flag.content {
            [0xFF] => true,
            [0x00] => false,
            _ => return Err(CtError::MalformedDer("BOOLEAN is not 0x00 or 0xFF")),
        };
        next = parts.next().transpose()?;
    }
    let value = match next {
        Some(tlv) if tlv.tag == TAG_OCTET_STRING => tlv.content,
        _ => return Err(CtError::MalformedDer("extension without extnValue")),
    };
    if parts.next().is_some() {
        return Err(CtError::MalformedDer("trailing fields in extension"));
    }
    Ok((id.content, Extension { critical, value }))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        der::push_tlv(&mut out, tag, content);
        out
    }

    /// A DER `Extension` whose `extnValue` wraps `value`.
    pub(in crate::ct) fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
        let mut body = tlv(TAG_OID, &der::encode_oid(oid).unwrap());
        if critical {
            body.extend(tlv(TAG_BOOLEAN, &[0xFF]));
        }
        body.extend(tlv(TAG_OCTET_STRING, value));
        tlv(TAG_SEQUENCE, &body)
    }

    pub(in crate::ct) fn poison() -> Vec<u8> {
        extension(POISON_OID, true, &[0x05, 0x00])
    }

    /// A TBSCertificate shaped like a real one (the walker only cares about the shape), with
    /// `extensions` in order and no `[3]` at all when there are none.
    pub(in crate::ct) fn tbs(extensions: &[Vec<u8>]) -> Vec<u8> {
        let mut body = tlv(0xA0, &tlv(0x02, &[0x02])); // version v3
        body.extend(tlv(0x02, &[0x01, 0x23, 0x45])); // serialNumber
        body.extend(tlv(
            TAG_SEQUENCE,
            &tlv(TAG_OID, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]),
        ));
        body.extend(tlv(TAG_SEQUENCE, b"issuer"));
        body.extend(tlv(TAG_SEQUENCE, b"validity"));
        body.extend(tlv(TAG_SEQUENCE, &[]));
        body.extend(tlv(TAG_SEQUENCE, b"spki"));
        if !extensions.is_empty() {
            body.extend(tlv(
                TAG_EXTENSIONS,
                &tlv(TAG_SEQUENCE, &extensions.concat()),
            ));
        }
        tlv(TAG_SEQUENCE, &body)
    }

    pub(in crate::ct) fn certificate(tbs: &[u8]) -> Vec<u8> {
        let mut body = tbs.to_vec();
        body.extend(tlv(
            TAG_SEQUENCE,
            &tlv(TAG_OID, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]),
        ));
        body.extend(tlv(TAG_BIT_STRING, &[0x00, 0xAA, 0xBB]));
        tlv(TAG_SEQUENCE, &body)
    }

    const OID_A: &[u64] = &[1, 2, 3, 4];
    const OID_B: &[u64] = &[2, 5, 29, 17];

    #[test]
    fn removing_the_only_extension_drops_the_wrapper() {
        let got = without_extension(&tbs(&[poison()]), POISON_OID).unwrap();
        assert_eq!(got, tbs(&[]));
        assert!(!got.contains(&TAG_EXTENSIONS));
    }

    #[test]
    fn removing_the_middle_extension_keeps_order() {
        let a = extension(OID_A, false, b"first");
        let b = extension(OID_B, true, b"third");
        let got = without_extension(&tbs(&[a.clone(), poison(), b.clone()]), POISON_OID);
        assert_eq!(got.unwrap(), tbs(&[a.clone(), b.clone()]));
        // And the first and last positions, for good measure.
        let got = without_extension(&tbs(&[a.clone(), b.clone(), poison()]), POISON_OID);
        assert_eq!(got.unwrap(), tbs(&[a.clone(), b.clone()]));
        let got = without_extension(&tbs(&[poison(), a.clone(), b.clone()]), POISON_OID);
        assert_eq!(got.unwrap(), tbs(&[a, b]));
    }

    #[test]
    fn shrinking_across_the_short_long_length_boundary() {
        // Hand-computed: the kept extension is 126 bytes, so its SEQUENCE is exactly 128
        // (long form) while everything above it shrinks from `81 9x` to `81 8x`.
        let kept = extension(OID_A, false, &[0xEE; 117]);
        assert_eq!(kept.len(), 126);
        let mut input = vec![
            0x30, 0x81, 0x9C, 0x02, 0x01, 0x01, 0xA3, 0x81, 0x96, 0x30, 0x81, 0x93,
        ];
        input.extend(&kept);
        input.extend(poison());
        let mut expected = vec![
            0x30, 0x81, 0x86, 0x02, 0x01, 0x01, 0xA3, 0x81, 0x80, 0x30, 0x7E,
        ];
        expected.extend(&kept);
        assert_eq!(without_extension(&input, POISON_OID).unwrap(), expected);
    }

    #[test]
    fn lengths_are_re_encoded_minimally_around_every_boundary() {
        // Sweep the kept extension's size so the extension list, the [3] wrapper and the TBS
        // each cross 127/128 and 255/256 both before and after the removal.
        let mut header_sizes = std::collections::BTreeSet::new();
        for filler in 80..300 {
            let kept = extension(OID_A, false, &vec![0xEE; filler]);
            let got = without_extension(&tbs(&[kept.clone(), poison()]), POISON_OID).unwrap();
            assert_eq!(got, tbs(&[kept]), "filler {filler}");
            // The strict reader rejects any non-minimal length, so re-reading proves minimality.
            let (outer, rest) = der::read_tlv(&got).unwrap();
            assert!(rest.is_empty());
            let wrapper = der::children(outer.content).last().unwrap().unwrap();
            assert_eq!(wrapper.tag, TAG_EXTENSIONS);
            let (list, _) = der::read_tlv(wrapper.content).unwrap();
            for t in [outer, wrapper, list] {
                header_sizes.insert(t.encoded.len() - t.content.len());
            }
        }
        assert_eq!(header_sizes.into_iter().collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn absent_or_duplicate_extension_is_an_error() {
        let a = extension(OID_A, false, b"a");
        let not_found = CtError::ExtensionNotFound("1.3.6.1.4.1.11129.2.4.3".into());
        assert_eq!(
            without_extension(&tbs(std::slice::from_ref(&a)), POISON_OID),
            Err(not_found.clone())
        );
        assert_eq!(without_extension(&tbs(&[]), POISON_OID), Err(not_found));
        assert_eq!(
            without_extension(&tbs(&[poison(), a, poison()]), POISON_OID),
            Err(CtError::DuplicateExtension(
                "1.3.6.1.4.1.11129.2.4.3".into()
            ))
        );
        assert_eq!(
            without_extension(&tbs(&[poison()]), &[7]),
            Err(CtError::InvalidOid)
        );
    }

    #[test]
    fn malformed_tbs_is_an_error() {
        let good = tbs(&[extension(OID_A, false, b"a"), poison()]);
        for len in 0..good.len() {
            assert!(
                without_extension(&good[..len], POISON_OID).is_err(),
                "prefix {len}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0x00);
        assert!(without_extension(&trailing, POISON_OID).is_err());

        let mut indefinite = good.clone();
        indefinite[1] = 0x80;
        assert_eq!(
            without_extension(&indefinite, POISON_OID),
            Err(CtError::MalformedDer("indefinite length"))
        );

        let mut after = tbs(&[poison()]);
        let extra = tlv(0x02, &[1]);
        after.extend(&extra);
        after[1] += extra.len() as u8;
        assert_eq!(
            without_extension(&after, POISON_OID),
            Err(CtError::MalformedDer("field after extensions"))
        );

        // extnValue must be an OCTET STRING, criticality a DER BOOLEAN.
        let mut body = tlv(TAG_OID, &der::encode_oid(POISON_OID).unwrap());
        body.extend(tlv(0x05, &[]));
        assert!(without_extension(&tbs(&[tlv(TAG_SEQUENCE, &body)]), POISON_OID).is_err());
        let mut body = tlv(TAG_OID, &der::encode_oid(POISON_OID).unwrap());
        body.extend(tlv(TAG_BOOLEAN, &[0x01]));
        body.extend(tlv(TAG_OCTET_STRING, &[0x05, 0x00]));
        assert!(without_extension(&tbs(&[tlv(TAG_SEQUENCE, &body)]), POISON_OID).is_err());
    }

    #[test]
    fn certificate_shape_is_checked() {
        let t = tbs(&[poison()]);
        let cert = certificate(&t);
        assert_eq!(tbs_certificate(&cert).unwrap(), t.as_slice());
        let mut trailing = cert.clone();
        trailing.push(0);
        assert!(tbs_certificate(&trailing).is_err());
        assert!(
            tbs_certificate(&t).is_err(),
            "a bare TBS is not a certificate"
        );
        assert!(tbs_certificate(&tlv(TAG_SEQUENCE, &[t.clone(), t].concat())).is_err());
    }

    #[test]
    fn precert_and_final_cert_sign_the_same_tbs() {
        let a = extension(OID_A, false, b"before");
        let b = extension(OID_B, true, b"after");
        let sct_list = extension(SCT_LIST_OID, false, &[0x04, 0x02, 0x00, 0x00]);
        let precert = certificate(&tbs(&[a.clone(), poison(), b.clone()]));
        let final_cert = certificate(&tbs(&[a.clone(), sct_list, b.clone()]));
        let signed = precert_signing_tbs(&precert).unwrap();
        assert_eq!(signed, tbs(&[a, b]));
        assert_eq!(final_cert_signing_tbs(&final_cert).unwrap(), signed);
        // A certificate's TBS is not a precertificate's and vice versa.
        assert!(precert_signing_tbs(&final_cert).is_err());
        assert!(final_cert_signing_tbs(&precert).is_err());
    }

    #[test]
    fn poison_must_be_a_critical_null() {
        for bad in [
            extension(POISON_OID, false, &[0x05, 0x00]),
            extension(POISON_OID, true, &[0x04, 0x00]),
            extension(POISON_OID, true, &[]),
        ] {
            let precert = certificate(&tbs(&[bad]));
            assert!(precert_signing_tbs(&precert).is_err());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = tbs_certificate(&bytes);
            let _ = without_extension(&bytes, POISON_OID);
            let _ = precert_signing_tbs(&bytes);
            let _ = final_cert_signing_tbs(&bytes);
        }

        #[test]
        fn mutated_certificates_never_panic(index in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let mut cert = certificate(&tbs(&[extension(OID_A, false, b"a"), poison()]));
            let at = index.index(cert.len());
            cert[at] = byte;
            cert.truncate(cut.index(cert.len() + 1).max(at));
            let _ = precert_signing_tbs(&cert);
            let _ = final_cert_signing_tbs(&cert);
        }
    }
}
