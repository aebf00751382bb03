//! The few DER encodings the certificate profile writes itself (rcgen frames and signs the
//! certificate; the extension values Fulcio's profile dictates are built here so that their
//! bytes, and their order, are ours to control).

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
