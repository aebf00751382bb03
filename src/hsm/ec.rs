//! Encodings at the PKCS#11 boundary: `CKA_EC_PARAMS`, `CKA_EC_POINT` and `CKM_ECDSA`
//! signatures, all converted here so the rest of the crate deals in P-256 types only.

use p256::ecdsa::{Signature, VerifyingKey};

/// DER of the namedCurve OID 1.2.840.10045.3.1.7 (prime256v1 / secp256r1 / P-256), the
/// `CKA_EC_PARAMS` of every P-256 key.
pub(crate) const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A human name for the curve in `CKA_EC_PARAMS`, for "this key is not P-256" messages.
pub(crate) fn curve_name(params: &[u8]) -> String {
    const KNOWN: &[(&[u8], &str)] = &[
        (P256_PARAMS, "P-256"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21], "P-224"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "P-384"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "P-521"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
        (
            &[
                0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07,
            ],
            "brainpoolP256r1",
        ),
    ];
    match KNOWN.iter().find(|(der, _)| *der == params) {
        Some((_, name)) => format!("an EC key on curve {name}"),
        None if params.first() == Some(&0x30) => {
            "an EC key with explicit curve parameters".to_owned()
        }
        None => format!("an EC key on an unknown curve (parameters {})", hex(params)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `CKA_EC_POINT`. PKCS#11 says it is the DER OCTET STRING wrapping the SEC1 point,
/// but some older tokens return the bare point; both are accepted, and the point must be on
/// the curve.
pub(crate) fn parse_ec_point(value: &[u8]) -> Option<VerifyingKey> {
    // A bare uncompressed point also starts with 0x04, and its second byte could happen to
    // equal the remaining length; so try the wrapped reading first and fall back to the bare.
    let unwrapped = match value {
        [0x04, len, rest @ ..] if *len < 0x80 && usize::from(*len) == rest.len() => {
            VerifyingKey::from_sec1_bytes(rest).ok()
        }
        _ => None,
    };
    unwrapped.or_else(|| VerifyingKey::from_sec1_bytes(value).ok())
}

/// `CKM_ECDSA` returns r‖s, each 32 big-endian bytes for P-256; Mayfly (X.509, SCTs, notes,
/// SETs) needs the DER `ECDSA-Sig-Value`. `None` if the HSM returned anything else.
pub(crate) fn raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    // from_slice rejects r or s equal to zero or not below the group order.
    Signature::from_slice(raw)
        .ok()
        .map(|sig| sig.to_der().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    #[test]
    fn names_curves() {
        assert_eq!(curve_name(P256_PARAMS), "an EC key on curve P-256");
        assert_eq!(
            curve_name(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
            "an EC key on curve P-384"
        );
        assert_eq!(
            curve_name(&[0x06, 0x01, 0x00]),
            "an EC key on an unknown curve (parameters 060100)"
        );
    }

    #[test]
    fn ec_point_wrapped_or_bare() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let bare = point.as_bytes();
        assert_eq!(bare.len(), 65);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(bare);
        assert_eq!(parse_ec_point(&wrapped), Some(*key.verifying_key()));
        assert_eq!(parse_ec_point(bare), Some(*key.verifying_key()));
        assert_eq!(parse_ec_point(&wrapped[..40]), None);
        let mut off_curve = bare.to_vec();
        off_curve[64] ^= 1;
        assert_eq!(parse_ec_point(&off_curve), None);
    }

    #[test]
    fn raw_signature_to_der() {
        let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let digest = [0x5a; 32];
        let sig: Signature = key.sign_prehash(&digest).unwrap();
        let der = raw_to_der(&sig.to_bytes()).unwrap();
        assert_eq!(Signature::from_der(&der).unwrap(), sig);
        assert_eq!(raw_to_der(&[0u8; 64]), None);
        assert_eq!(raw_to_der(&[1u8; 63]), None);
        assert_eq!(raw_to_der(&[0xffu8; 64]), None);
    }
}
