//! The few DER encodings the CA writes itself: every byte of a leaf certificate is built from
//! these (see `leaf`), so its bytes, and their order, are ours to control. Plus a strict reader
//! for one TLV, enough to pick fields out of DER this process produced or already validated.

/// DER universal tag of `OBJECT IDENTIFIER`.
const OID_TAG: u8 = 0x06;

/// Appends a DER definite length: one byte below 128, otherwise `0x80 | n` followed by the `n`
/// big-endian bytes of the length with no leading zero (DER requires the minimal form; a
/// non-minimal length makes strict parsers reject the whole certificate).
pub fn push_der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // In range, so the narrowing cannot lose bits.
        out.push(len as u8);
        return;
    }
    let be = len.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    let significant = &be[skip..];
    // At most size_of::<usize>() (≤ 16) bytes, so this fits in the low seven bits.
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// How many bytes [`push_der_length`] writes for `len`.
pub fn der_length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// One TLV read by [`read_tlv`], borrowing from the input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The value octets.
    pub content: &'a [u8],
    /// The whole TLV (tag, length and value), for copying it unchanged.
    pub encoded: &'a [u8],
}

/// Splits the first TLV off `input`: the TLV and the bytes after it. `None` for anything that
/// is not DER with a low tag number (indefinite or non-minimal lengths included), so a field
/// found this way has exactly one encoding and can be copied into a signed structure as is.
pub fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, after_tag) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (&first, after_first) = after_tag.split_first()?;
    let (len, header_len) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        // Four length octets is already 4 GiB: far beyond anything the CA reads.
        let count = usize::from(first & 0x7F);
        let octets = after_first
            .get(..count)
            .filter(|o| (1..=4).contains(&o.len()))?;
        let len = octets
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if octets[0] == 0 || len < 0x80 {
            return None;
        }
        (len, 2 + count)
    };
    let (encoded, rest) = input.split_at_checked(header_len.checked_add(len)?)?;
    let tlv = Tlv {
        tag,
        content: &encoded[header_len..],
        encoded,
    };
    Some((tlv, rest))
}

/// DER `OBJECT IDENTIFIER`: the first two arcs combined as `40·a + b`, each arc in base-128
/// with the continuation bit set on all but its last byte.
pub fn encode_oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push_arc = |mut arc: u64| {
        let mut groups = [0u8; 10];
        let mut n = 0;
        loop {
            groups[n] = (arc & 0x7F) as u8;
            n += 1;
            arc >>= 7;
            if arc == 0 {
                break;
            }
        }
        for (i, group) in groups[..n].iter().rev().enumerate() {
            let more = if i + 1 < n { 0x80 } else { 0 };
            body.push(group | more);
        }
    };
    match arcs {
        [first, second, rest @ ..] => {
            // Our OIDs all start with 1.3, so the combination cannot overflow; saturate anyway
            // rather than panic if a caller hands in something odd.
            push_arc(first.saturating_mul(40).saturating_add(*second));
            for arc in rest {
                push_arc(*arc);
            }
        }
        [only] => push_arc(only.saturating_mul(40)),
        [] => {}
    }
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(OID_TAG);
    push_der_length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// One DER TLV with a single-byte tag.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_der_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A DER `SEQUENCE` of already-encoded elements.
pub fn sequence(elements: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &elements.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_len_matches_the_written_length() {
        for len in [
            0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000,
        ] {
            let mut out = Vec::new();
            push_der_length(&mut out, len);
            assert_eq!(der_length_len(len), out.len(), "{len:#x}");
        }
    }

    #[test]
    fn read_tlv_accepts_only_der_lengths() {
        let (first, rest) = read_tlv(&[0x04, 0x01, 0xAA, 0xBB]).unwrap();
        assert_eq!(
            (first.tag, first.content, first.encoded),
            (0x04, &[0xAA][..], &[0x04, 0x01, 0xAA][..])
        );
        assert_eq!(rest, [0xBB]);
        let long = tlv(0x04, &[0; 200]);
        assert_eq!(read_tlv(&long).unwrap().0.content.len(), 200);
        // Indefinite, non-minimal (leading zero, or long form for < 128), truncated, high tag.
        assert!(read_tlv(&[0x30, 0x80, 0x00, 0x00]).is_none());
        assert!(read_tlv(&[0x04, 0x82, 0x00, 0x01, 0xAA]).is_none());
        assert!(read_tlv(&[0x04, 0x81, 0x01, 0xAA]).is_none());
        assert!(read_tlv(&[0x04, 0x02, 0xAA]).is_none());
        assert!(read_tlv(&[0x1F, 0x01, 0xAA]).is_none());
    }
}
