//! PEM and DER readers (`mayfly_spec::pem::{decode, decode_first, decode_label}`,
//! `mayfly_spec::der::{read_tlv, children, read_single}`).
//!
//! The whole input is read both ways: as PEM text and as DER, walking constructed values down
//! to a fixed depth.
//!
//! Beyond "no panic": a decoded PEM block re-encodes (Go's layout) to text that decodes to the
//! same label and bytes, and `decode_label` agrees with `decode`; every TLV the strict DER
//! reader accepts is the one DER encoding of its tag and content (`der::tlv` rebuilds it byte
//! for byte), and `read_single` accepts exactly a lone TLV.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_spec::{der, pem};

const MAX_DEPTH: usize = 12;

fuzz_target!(|data: &[u8]| {
    match pem::decode(data) {
        Ok((label, bytes)) => {
            let text = pem::encode(&label, &bytes);
            assert_eq!(
                pem::decode(text.as_bytes()),
                Ok((label.clone(), bytes.clone())),
                "re-encoded PEM"
            );
            for expected in ["CERTIFICATE", "PUBLIC KEY", "CERTIFICATE REQUEST"] {
                let by_label = pem::decode_label(data, expected);
                if label == expected {
                    assert_eq!(by_label.as_ref(), Ok(&bytes));
                } else {
                    assert!(by_label.is_err());
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Some((label, bytes)) = pem::decode_first(data) {
        let _ = (label.len(), bytes.len());
    }

    walk(data, 0);
    if let Some(&tag) = data.first() {
        match der::read_single(data, tag, "fuzz") {
            Ok(content) => {
                let (tlv, rest) = der::read_tlv(data).expect("read_single accepted it");
                assert!(rest.is_empty());
                assert_eq!(tlv.content, content);
            }
            Err(_) => {
                if let Ok((_, rest)) = der::read_tlv(data) {
                    assert!(!rest.is_empty(), "a lone TLV refused by read_single");
                }
            }
        }
    }
});

/// Reads `input` as a sequence of TLVs, checking each is canonical, and descends into
/// constructed ones.
fn walk(input: &[u8], depth: usize) {
    for tlv in der::children(input) {
        let Ok(tlv) = tlv else {
            return;
        };
        assert_eq!(
            der::tlv(tlv.tag, tlv.content),
            tlv.encoded,
            "non-canonical TLV"
        );
        if tlv.tag & 0x20 != 0 && depth < MAX_DEPTH {
            walk(tlv.content, depth + 1);
        }
    }
}
