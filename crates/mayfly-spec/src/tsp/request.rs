//! TimeStampReq (RFC 3161 §2.4.1): what a client asks a TSA to sign, decoded strictly so a TSA
//! answers every malformed query with a message the client can act on.
//!
//! ```text
//! TimeStampReq ::= SEQUENCE { version INTEGER { v1(1) }, messageImprint MessageImprint,
//!                             reqPolicy OID OPTIONAL, nonce INTEGER OPTIONAL,
//!                             certReq BOOLEAN DEFAULT FALSE, extensions [0] IMPLICIT OPTIONAL }
//! ```
//!
//! Refused: BER, trailing bytes, imprints of another hash than SHA-256/384/512 or of the wrong
//! length, hash parameters other than absent or NULL, negative or over-long nonces, and any
//! critical extension (none is defined for requests; non-critical ones are ignored, as
//! RFC 5280 lets a relying party do).

use super::{
    DigestAlgorithm, ExpectAny, TAG_BOOLEAN, TAG_CONTEXT_0, TAG_INTEGER, TspError, end, invalid,
};
use crate::der::{self, children, read_single};

/// Longest nonce accepted, in INTEGER content octets: clients send 64 to 160 bits.
pub const MAX_NONCE_OCTETS: usize = 32;

/// A decoded time-stamp request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampRequest {
    pub imprint_algorithm: DigestAlgorithm,
    /// The hash of the data to time-stamp; its length matches the algorithm.
    pub hashed_message: Vec<u8>,
    /// The policy the client requires (OID content octets).
    pub policy: Option<Vec<u8>>,
    /// INTEGER content octets of a non-negative, minimally encoded nonce, to echo verbatim.
    pub nonce: Option<Vec<u8>>,
    /// Whether the reply must embed the TSA's certificate.
    pub cert_req: bool,
}

/// Decodes one DER TimeStampReq, the whole of `bytes`.
pub fn parse_request(bytes: &[u8]) -> Result<TimeStampRequest, TspError> {
    let body = read_single(
        bytes,
        der::TAG_SEQUENCE,
        "a TimeStampReq is one DER SEQUENCE",
    )?;
    let mut parts = children(body);
    if parts.expect(TAG_INTEGER, "missing version")?.content != [1] {
        return Err(invalid("TimeStampReq version must be 1"));
    }
    let imprint = parts.expect(der::TAG_SEQUENCE, "missing messageImprint")?;
    let (imprint_algorithm, hashed_message) = message_imprint(imprint.content)?;
    let mut request = TimeStampRequest {
        imprint_algorithm,
        hashed_message,
        policy: None,
        nonce: None,
        cert_req: false,
    };
    let mut last = 0u8;
    for field in parts {
        let field = field?;
        // The optional fields in schema order, each at most once.
        let rank = match field.tag {
            der::TAG_OID => 1,
            TAG_INTEGER => 2,
            TAG_BOOLEAN => 3,
            TAG_CONTEXT_0 => 4,
            _ => return Err(invalid("unexpected field in TimeStampReq")),
        };
        if rank <= last {
            return Err(invalid("TimeStampReq fields out of order or repeated"));
        }
        last = rank;
        match rank {
            1 => request.policy = Some(field.content.to_vec()),
            2 => request.nonce = Some(nonce(field.content)?.to_vec()),
            3 => request.cert_req = boolean(field.content, "certReq")?,
            _ => extensions(field.content)?,
        }
    }
    Ok(request)
}

fn message_imprint(content: &[u8]) -> Result<(DigestAlgorithm, Vec<u8>), TspError> {
    let mut mi = children(content);
    let alg = mi.expect(der::TAG_SEQUENCE, "missing hashAlgorithm")?;
    let mut alg_parts = children(alg.content);
    let oid = alg_parts.expect(der::TAG_OID, "hashAlgorithm without an OID")?;
    let algorithm = DigestAlgorithm::from_oid(oid.content).map_err(|_| {
        invalid(format!(
            "unsupported hash algorithm {} (use SHA-256, SHA-384 or SHA-512)",
            oid_text(oid.content)
        ))
    })?;
    // Parameters: absent, or NULL as many encoders write for the SHA-2 family.
    match alg_parts.next().transpose()? {
        None => {}
        Some(p) if p.tag == 0x05 && p.content.is_empty() => {}
        Some(_) => return Err(invalid("hashAlgorithm parameters must be absent or NULL")),
    }
    end(&mut alg_parts, "hashAlgorithm")?;
    let hashed = mi.expect(der::TAG_OCTET_STRING, "missing hashedMessage")?;
    end(&mut mi, "messageImprint")?;
    let expected = algorithm.output_len();
    if hashed.content.len() != expected {
        return Err(invalid(format!(
            "hashedMessage is {} bytes; {algorithm:?} digests are {expected}",
            hashed.content.len()
        )));
    }
    Ok((algorithm, hashed.content.to_vec()))
}

/// A nonce's content octets, if they are a minimal, non-negative INTEGER of sane size.
fn nonce(content: &[u8]) -> Result<&[u8], TspError> {
    match content {
        [] => Err(invalid("empty nonce INTEGER")),
        [first, ..] if first & 0x80 != 0 => Err(invalid("nonce must not be negative")),
        [0, second, ..] if second & 0x80 == 0 => {
            Err(invalid("nonce INTEGER is not minimally encoded"))
        }
        _ if content.len() > MAX_NONCE_OCTETS => Err(invalid(format!(
            "nonce is longer than {MAX_NONCE_OCTETS} bytes"
        ))),
        _ => Ok(content),
    }
}

/// A BOOLEAN: DER TRUE is 0xFF; an explicit FALSE (0x00) is tolerated although DER omits it.
fn boolean(content: &[u8], what: &str) -> Result<bool, TspError> {
    match content {
        [0xFF] => Ok(true),
        [0x00] => Ok(false),
        _ => Err(invalid(format!("{what} is not a DER BOOLEAN"))),
    }
}

/// Extensions: none is understood, so a critical one must fail the request (RFC 5280 §4.2).
fn extensions(content: &[u8]) -> Result<(), TspError> {
    for ext in children(content) {
        let ext = ext?;
        if ext.tag != der::TAG_SEQUENCE {
            return Err(invalid("extension is not a SEQUENCE"));
        }
        let mut parts = children(ext.content);
        let oid = parts.expect(der::TAG_OID, "extension without an OID")?;
        let next = parts.expect_any("extension without a value")?;
        let critical = match next.tag {
            TAG_BOOLEAN => {
                parts.expect(der::TAG_OCTET_STRING, "extension without a value")?;
                boolean(next.content, "extension criticality")?
            }
            der::TAG_OCTET_STRING => false,
            _ => return Err(invalid("malformed extension")),
        };
        end(&mut parts, "Extension")?;
        if critical {
            return Err(invalid(format!(
                "unsupported critical extension {}",
                oid_text(oid.content)
            )));
        }
    }
    Ok(())
}

/// Dotted form of OID content octets, for messages; hex when they do not decode.
pub fn oid_text(content: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for (i, b) in content.iter().enumerate() {
        if value > u128::MAX >> 7 {
            return hex::encode(content);
        }
        value = (value << 7) | u128::from(b & 0x7F);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i + 1 == content.len() {
            return hex::encode(content);
        }
    }
    if arcs.is_empty() {
        return hex::encode(content);
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl ts -query -data d.txt -sha256 -cert` ("hello\n"): NULL parameters, a 64-bit
    /// nonce, certReq TRUE.
    const OPENSSL_SHA256: &str = "30430201013031300d0609608648016503040201050004205891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be0302080e26bd3060889d920101ff";
    /// `openssl ts -query -data d.txt -sha512 -no_nonce`.
    const OPENSSL_SHA512: &str = "30560201013051300d060960864801650304020305000440e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629";

    fn bytes(h: &str) -> Vec<u8> {
        hex::decode(h).unwrap()
    }

    fn request(fields: &[&[u8]]) -> Vec<u8> {
        der::sequence(fields)
    }

    fn imprint(oid: &[u8], digest_len: usize) -> Vec<u8> {
        der::sequence(&[
            &der::sequence(&[&der::tlv(der::TAG_OID, oid)]),
            &der::tlv(der::TAG_OCTET_STRING, &vec![7; digest_len]),
        ])
    }

    fn error(bytes: &[u8]) -> String {
        parse_request(bytes).unwrap_err().to_string()
    }

    #[test]
    fn reads_what_openssl_writes() {
        let r = parse_request(&bytes(OPENSSL_SHA256)).unwrap();
        assert_eq!(r.imprint_algorithm, DigestAlgorithm::Sha256);
        assert_eq!(
            hex::encode(&r.hashed_message),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(r.nonce.as_deref(), Some(&bytes("0e26bd3060889d92")[..]));
        assert!(r.cert_req);
        assert_eq!(r.policy, None);
        let r = parse_request(&bytes(OPENSSL_SHA512)).unwrap();
        assert_eq!(r.imprint_algorithm, DigestAlgorithm::Sha512);
        assert_eq!((r.nonce, r.cert_req), (None, false));
    }

    #[test]
    fn reads_every_optional_field() {
        let ext = der::sequence(&[
            &der::tlv(der::TAG_OID, &[0x2A, 0x03]),
            &der::tlv(der::TAG_OCTET_STRING, &[]),
        ]);
        let r = parse_request(&request(&[
            &der::tlv(TAG_INTEGER, &[1]),
            &imprint(super::super::oid::SHA384, 48),
            &der::tlv(der::TAG_OID, &[0x2A, 0x04]),
            &der::tlv(TAG_INTEGER, &[0x00, 0x80]),
            &der::tlv(TAG_BOOLEAN, &[0x00]),
            &der::tlv(TAG_CONTEXT_0, &ext),
        ]))
        .unwrap();
        assert_eq!(r.policy.as_deref(), Some(&[0x2A, 0x04][..]));
        assert_eq!(r.nonce.as_deref(), Some(&[0x00, 0x80][..]));
        assert!(!r.cert_req);
    }

    #[test]
    fn refuses_malformed_requests_with_a_reason() {
        let v1 = der::tlv(TAG_INTEGER, &[1]);
        let sha256 = imprint(super::super::oid::SHA256, 32);
        let mut trailing = bytes(OPENSSL_SHA256);
        trailing.push(0);
        let critical = der::sequence(&[
            &der::tlv(der::TAG_OID, &[0x2A, 0x03]),
            &der::tlv(TAG_BOOLEAN, &[0xFF]),
            &der::tlv(der::TAG_OCTET_STRING, &[]),
        ]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (trailing, "trailing bytes"),
            (bytes(OPENSSL_SHA256)[..20].to_vec(), "truncated"),
            (b"hello".to_vec(), "malformed DER"),
            (
                request(&[&der::tlv(TAG_INTEGER, &[2]), &sha256]),
                "version must be 1",
            ),
            (
                request(&[&v1, &imprint(super::super::oid::SHA256, 31)]),
                "hashedMessage is 31 bytes",
            ),
            (
                // SHA-1
                request(&[&v1, &imprint(&[0x2B, 0x0E, 0x03, 0x02, 0x1A], 20)]),
                "unsupported hash algorithm 1.3.14.3.2.26",
            ),
            (
                request(&[&v1, &sha256, &der::tlv(TAG_INTEGER, &[0xFF])]),
                "negative",
            ),
            (
                request(&[&v1, &sha256, &der::tlv(TAG_INTEGER, &[0, 1])]),
                "minimally",
            ),
            (
                request(&[&v1, &sha256, &der::tlv(TAG_INTEGER, &[1; 33])]),
                "longer than 32",
            ),
            (
                request(&[
                    &v1,
                    &sha256,
                    &der::tlv(TAG_BOOLEAN, &[0xFF]),
                    &der::tlv(TAG_INTEGER, &[1]),
                ]),
                "out of order",
            ),
            (
                request(&[&v1, &sha256, &der::tlv(TAG_CONTEXT_0, &critical)]),
                "unsupported critical extension 1.2.3",
            ),
            (request(&[&v1]), "missing messageImprint"),
        ];
        for (der, why) in cases {
            let message = error(&der);
            assert!(message.contains(why), "{why}: got {message}");
        }
    }
}
