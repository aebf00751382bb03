//! The one DER (X.690) reader and writer of Mayfly: read one TLV, iterate the TLVs of a
//! constructed value, write a TLV, encode an OID. Every DER byte Mayfly parses by hand or writes
//! itself (certificates, precertificate TBS surgery, SCT lists, key encodings) goes through here.
//!
//! Reading is strict on purpose. Definite lengths only, minimal length encodings only, low tag
//! numbers only: with those rules every value has exactly one encoding, so "copy the bytes we
//! keep and re-encode the lengths we change" yields the same DER the signer produced, and a field
//! found this way can be copied into a signed structure as is.

pub const TAG_BOOLEAN: u8 = 0x01;
pub const TAG_BIT_STRING: u8 = 0x03;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT`, the wrapper of `extensions` in a TBSCertificate (RFC 5280 §4.1).
pub const TAG_EXTENSIONS: u8 = 0xA3;

/// Longest length-of-length accepted: 4 bytes is already 4 GiB, far past any certificate.
const MAX_LENGTH_OCTETS: usize = 4;

/// One decoded TLV, borrowing from the input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The value octets.
    pub content: &'a [u8],
    /// The whole TLV (tag, length and value), for copying it unchanged.
    pub encoded: &'a [u8],
}

/// Why bytes are not the strict DER expected. Carries no offsets: the inputs are either built
/// by this process (any failure is a bug) or received from a peer (the answer is "reject").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// Not a strict, definite-length encoding of what was expected.
    #[error("malformed DER: {0}")]
    Malformed(&'static str),
    /// An OID given by the caller cannot be DER-encoded (fewer than two arcs, first arc > 2...).
    #[error("invalid object identifier")]
    InvalidOid,
}

fn malformed(why: &'static str) -> DerError {
    DerError::Malformed(why)
}

/// Splits the first TLV off `input`, returning it and the bytes after it.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, after_tag) = input.split_first().ok_or(malformed("truncated tag"))?;
    if tag & 0x1F == 0x1F {
        return Err(malformed("high tag number form"));
    }
    let (&first, after_first) = after_tag
        .split_first()
        .ok_or(malformed("truncated length"))?;
    let (len, length_octets) = if first < 0x80 {
        (usize::from(first), 0)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 {
            return Err(malformed("indefinite length"));
        }
        if count > MAX_LENGTH_OCTETS {
            return Err(malformed("length too large"));
        }
        let octets = after_first
            .get(..count)
            .ok_or(malformed("truncated length"))?;
        if octets.first() == Some(&0) {
            return Err(malformed("non-minimal length"));
        }
        let len = octets
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return Err(malformed("non-minimal length"));
        }
        (len, count)
    };
    // Tag, first length octet, then any long-form length octets.
    let header_len = 2 + length_octets;
    let (encoded, rest) = header_len
        .checked_add(len)
        .and_then(|total| input.split_at_checked(total))
        .ok_or(malformed("truncated value"))?;
    let content = encoded
        .get(header_len..)
        .ok_or(malformed("truncated value"))?;
    Ok((
        Tlv {
            tag,
            content,
            encoded,
        },
        rest,
    ))
}

/// The content of `input`, which must be exactly one TLV with tag `tag`.
pub fn read_single<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<&'a [u8], DerError> {
    let (tlv, rest) = read_tlv(input)?;
    if tlv.tag != tag {
        return Err(malformed(what));
    }
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after value"));
    }
    Ok(tlv.content)
}

/// The TLVs that make up the content of a constructed value, in order.
///
/// Yields at most one error and then stops, so `?` inside a `for` loop or a `collect` into
/// `Result` sees every failure.
pub fn children(content: &[u8]) -> Children<'_> {
    Children { rest: content }
}

pub struct Children<'a> {
    rest: &'a [u8],
}

impl<'a> Children<'a> {
    /// The next child, which must exist and carry `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        match self.next().transpose()? {
            Some(tlv) if tlv.tag == tag => Ok(tlv),
            _ => Err(malformed(what)),
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, DerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match read_tlv(self.rest) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(err) => {
                self.rest = &[];
                Some(Err(err))
            }
        }
    }
}

/// Appends a DER definite length: one byte below 128, otherwise `0x80 | n` followed by the `n`
/// big-endian bytes of the length with no leading zero (DER requires the minimal form; a
/// non-minimal length makes strict parsers reject the whole certificate).
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if let Ok(short) = u8::try_from(len)
        && short < 0x80
    {
        out.push(short);
        return;
    }
    let bytes = len.to_be_bytes();
    let leading_zeros = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(leading_zeros..).unwrap_or_default();
    // At most size_of::<usize>() octets, so the count always fits the 7-bit field.
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// How many bytes [`push_length`] writes for `len`.
pub fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Appends a TLV with the minimal (DER) length encoding.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_length(out, content.len());
    out.extend_from_slice(content);
}

/// One TLV with a single-byte tag.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    push_tlv(&mut out, tag, content);
    out
}

/// A `SEQUENCE` of already-encoded elements.
pub fn sequence(elements: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &elements.concat())
}

/// A whole `OBJECT IDENTIFIER` TLV for arcs this code base names itself (never peer input).
pub fn oid(arcs: &[u64]) -> Result<Vec<u8>, DerError> {
    let mut out = Vec::with_capacity(arcs.len() + 6);
    push_oid(&mut out, arcs)?;
    Ok(out)
}

/// Appends a whole `OBJECT IDENTIFIER` TLV; on an invalid OID nothing is appended.
pub fn push_oid(out: &mut Vec<u8>, arcs: &[u64]) -> Result<(), DerError> {
    let content_len: usize = subidentifiers(arcs)?.map(base128_len).sum();
    out.push(TAG_OID);
    push_length(out, content_len);
    for value in subidentifiers(arcs)? {
        push_base128(out, value);
    }
    Ok(())
}

/// How many bytes [`push_oid`] appends for `arcs`.
pub fn oid_len(arcs: &[u64]) -> Result<usize, DerError> {
    let content_len: usize = subidentifiers(arcs)?.map(base128_len).sum();
    Ok(1 + length_len(content_len) + content_len)
}

/// The content octets of the DER encoding of an OBJECT IDENTIFIER given as arcs.
pub fn encode_oid(arcs: &[u64]) -> Result<Vec<u8>, DerError> {
    let mut out = Vec::with_capacity(arcs.len() + 4);
    for value in subidentifiers(arcs)? {
        push_base128(&mut out, value);
    }
    Ok(out)
}

/// The values an OID's content octets encode, each in base 128: the first two arcs share one.
fn subidentifiers(arcs: &[u64]) -> Result<impl Iterator<Item = u64> + '_, DerError> {
    let [first, second, rest @ ..] = arcs else {
        return Err(DerError::InvalidOid);
    };
    // X.690 §8.19.4: the shared subidentifier only round-trips when the first arc is 0, 1 or 2
    // and, below 2, the second is under 40.
    if *first > 2 || (*first < 2 && *second >= 40) {
        return Err(DerError::InvalidOid);
    }
    let head = first
        .checked_mul(40)
        .and_then(|v| v.checked_add(*second))
        .ok_or(DerError::InvalidOid)?;
    Ok(std::iter::once(head).chain(rest.iter().copied()))
}

/// How many base-128 groups [`push_base128`] writes for `value`.
fn base128_len(value: u64) -> usize {
    (u64::BITS - value.leading_zeros()).div_ceil(7).max(1) as usize
}

/// Base-128, most significant group first, high bit set on all groups but the last.
fn push_base128(out: &mut Vec<u8>, value: u64) {
    for i in (0..base128_len(value)).rev() {
        let group = ((value >> (7 * i)) & 0x7F) as u8;
        out.push(if i == 0 { group } else { group | 0x80 });
    }
}

/// Dotted form of an OID, for error messages.
pub fn dotted(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        push_tlv(&mut out, 0x04, &vec![0; len]);
        out.truncate(out.len() - len);
        out
    }

    #[test]
    fn lengths_are_minimal_at_every_boundary() {
        assert_eq!(header(0), [0x04, 0x00]);
        assert_eq!(header(127), [0x04, 0x7F]);
        assert_eq!(header(128), [0x04, 0x81, 0x80]);
        assert_eq!(header(255), [0x04, 0x81, 0xFF]);
        assert_eq!(header(256), [0x04, 0x82, 0x01, 0x00]);
        assert_eq!(header(65_535), [0x04, 0x82, 0xFF, 0xFF]);
        assert_eq!(header(65_536), [0x04, 0x83, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn length_len_matches_the_written_length() {
        for len in [
            0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000,
        ] {
            let mut out = Vec::new();
            push_length(&mut out, len);
            assert_eq!(length_len(len), out.len(), "{len:#x}");
        }
    }

    #[test]
    fn read_round_trips_what_push_writes() {
        for len in [0, 1, 127, 128, 255, 256, 65_536] {
            let content = vec![0xAB; len];
            let mut der = Vec::new();
            push_tlv(&mut der, 0x30, &content);
            let (tlv, rest) = read_tlv(&der).unwrap();
            assert_eq!(
                (tlv.tag, tlv.content, tlv.encoded),
                (0x30, &content[..], &der[..])
            );
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn read_rejects_non_der() {
        let cases: [(&[u8], &str); 9] = [
            (&[], "truncated tag"),
            (&[0x30], "truncated length"),
            (&[0x30, 0x80, 0x00, 0x00], "indefinite length"),
            (&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0], "non-minimal length"),
            (&[0x30, 0x82, 0x00, 0x80], "non-minimal length"),
            (&[0x30, 0x85, 1, 0, 0, 0, 0], "length too large"),
            (&[0x30, 0x82, 0x01], "truncated length"),
            (&[0x30, 0x03, 0x01, 0x02], "truncated value"),
            (&[0x1F, 0x01, 0x00], "high tag number form"),
        ];
        for (der, why) in cases {
            assert_eq!(read_tlv(der).err(), Some(malformed(why)), "{der:02x?}");
        }
    }

    #[test]
    fn read_single_rejects_trailing_bytes_and_wrong_tag() {
        assert_eq!(read_single(&[0x04, 0x01, 0xAA], 0x04, "x"), Ok(&[0xAA][..]));
        assert!(read_single(&[0x04, 0x01, 0xAA, 0x00], 0x04, "x").is_err());
        assert_eq!(
            read_single(&[0x04, 0x01, 0xAA], 0x30, "x"),
            Err(malformed("x"))
        );
    }

    #[test]
    fn oid_encoding_matches_known_der() {
        // The CT poison and SCT list OIDs as they appear in every precertificate / SCT'd cert.
        assert_eq!(
            encode_oid(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3]).unwrap(),
            [0x2B, 0x06, 0x01, 0x04, 0x01, 0xD6, 0x79, 0x02, 0x04, 0x03]
        );
        assert_eq!(encode_oid(&[2, 999, 3]).unwrap(), [0x88, 0x37, 0x03]);
        assert_eq!(encode_oid(&[0, 0]).unwrap(), [0x00]);
        assert_eq!(
            encode_oid(&[1, 2, u64::MAX]).unwrap(),
            [
                0x2A, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F
            ]
        );
        for bad in [&[][..], &[1], &[3, 1], &[1, 40], &[2, u64::MAX]] {
            assert_eq!(encode_oid(bad), Err(DerError::InvalidOid), "{bad:?}");
            assert_eq!(oid(bad), Err(DerError::InvalidOid));
            assert_eq!(oid_len(bad), Err(DerError::InvalidOid));
            let mut out = vec![0xAA];
            assert_eq!(push_oid(&mut out, bad), Err(DerError::InvalidOid));
            assert_eq!(out, [0xAA], "an invalid OID appends nothing");
        }
    }

    #[test]
    fn an_appended_oid_is_its_content_in_a_tlv_of_the_announced_length() {
        // 128 arcs of 2^63, ten bytes each: content over 127 bytes, so a long-form length.
        let long: Vec<u64> = [1, 3].into_iter().chain([1 << 63; 128]).collect();
        for arcs in [&[1, 3, 6, 1, 4, 1, 57264, 1, 24][..], &[0, 0], &long] {
            let mut out = vec![0xAA];
            push_oid(&mut out, arcs).unwrap();
            assert_eq!(
                out[1..],
                tlv(TAG_OID, &encode_oid(arcs).unwrap()),
                "{arcs:?}"
            );
            assert_eq!(oid_len(arcs).unwrap(), out.len() - 1);
            assert_eq!(oid(arcs).unwrap(), out[1..]);
        }
    }
}
