//! PEM, the one reader and the one writer.
//!
//! Writing follows Go's `pem.Encode` (64-column base64 lines, `\n`, a trailing newline): the
//! Sigstore clients compare PEM as text (sigstore-js copies the CA's PEM into Rekor entries,
//! sigstore-python re-encodes and compares), so every PEM Mayfly emits has exactly this layout.
//!
//! Reading is RFC 7468 strict (`pem-rfc7468`): one block, known framing, valid base64. Callers
//! name the label they expect, so a private key can never be read where a certificate was meant.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why text is not the PEM block asked for. Never carries the text itself: it may be a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("not a PEM block")]
    Malformed,
    #[error("PEM block is a {found}, not a {expected}")]
    Label {
        expected: &'static str,
        found: String,
    },
}

/// The PEM block of `der` under `label`, laid out as Go's `pem.Encode` does.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 34);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        // base64 is ASCII, so every split point is a character boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The label and DER of the one PEM block in `text`.
pub fn decode(text: &[u8]) -> Result<(String, Vec<u8>), PemError> {
    pem_rfc7468::decode_vec(text)
        .map(|(label, der)| (label.to_owned(), der))
        .map_err(|_| PemError::Malformed)
}

/// [`decode`] for public material on a hot path (the search indexer reads a certificate per
/// Rekor entry): a `CERTIFICATE` or `PUBLIC KEY` block in Go's `pem.Encode` layout, which is
/// what Mayfly stores, has its base64 decoded by the ordinary variable-time decoder, and
/// anything else goes to [`decode`]. `pem-rfc7468` decodes in constant time, which only
/// secrets need and which costs several times as much. The result is [`decode`]'s for every
/// input (a property test holds it to that).
pub fn decode_public(text: &[u8]) -> Result<(String, Vec<u8>), PemError> {
    match ["CERTIFICATE", "PUBLIC KEY"]
        .into_iter()
        .find_map(|label| Some((label.to_owned(), go_layout(text, label)?)))
    {
        Some(block) => Ok(block),
        None => decode(text),
    }
}

/// The DER of `text` if it is one `label` block in exactly Go's `pem.Encode` layout: the
/// header line, the base64 in 64-column lines each ending in `\n`, the footer line, nothing
/// else, and canonical base64.
pub(crate) fn go_layout(text: &[u8], label: &str) -> Option<Vec<u8>> {
    let lines = text
        .strip_prefix(b"-----BEGIN ")?
        .strip_prefix(label.as_bytes())?
        .strip_prefix(b"-----\n")?
        .strip_suffix(b"-----\n")?
        .strip_suffix(label.as_bytes())?
        .strip_suffix(b"-----END ")?;
    let mut base64 = Vec::with_capacity(lines.len());
    // 64 characters and a newline per line; the last line may be shorter.
    for line in lines.chunks(65) {
        let (chars, newline) = line.split_at(line.len() - 1);
        if newline != b"\n" || chars.is_empty() {
            return None;
        }
        base64.extend_from_slice(chars);
    }
    let der = STANDARD.decode(&base64).ok()?;
    (!der.is_empty()).then_some(der)
}

/// The label and DER of the first PEM block in `bytes`, skipping any text before it, as Go's
/// `pem.Decode` does: what Fulcio accepts for client keys and CSRs. `None` without a block.
pub fn decode_first(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).ok()?;
    Some((pem.label, pem.contents))
}

/// The DER of the one PEM block in `text`, which must carry `label`.
pub fn decode_label(text: &[u8], label: &'static str) -> Result<Vec<u8>, PemError> {
    let (found, der) = decode(text)?;
    if found != label {
        return Err(PemError::Label {
            expected: label,
            found,
        });
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_64_columns_with_trailing_newline() {
        let pem = encode("CERTIFICATE", &[7u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.len(), 5);
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert_eq!(encode("X", &[]), "-----BEGIN X-----\n-----END X-----\n");
    }

    #[test]
    fn decode_round_trips_and_checks_the_label() {
        for len in [1, 47, 48, 49, 100, 1000] {
            let der: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let pem = encode("PUBLIC KEY", &der);
            assert_eq!(decode_label(pem.as_bytes(), "PUBLIC KEY"), Ok(der));
        }
        let pem = encode("PRIVATE KEY", &[1, 2, 3]);
        assert_eq!(
            decode_label(pem.as_bytes(), "CERTIFICATE"),
            Err(PemError::Label {
                expected: "CERTIFICATE",
                found: "PRIVATE KEY".into()
            })
        );
        assert_eq!(decode(b"garbage"), Err(PemError::Malformed));
        assert_eq!(
            decode(b"-----BEGIN X-----\n!!!!\n-----END X-----\n"),
            Err(PemError::Malformed)
        );
    }

    #[test]
    fn decode_public_takes_the_fast_path_only_for_go_layout_public_blocks() {
        let der: Vec<u8> = (0..300).map(|i| (i * 7) as u8).collect();
        for label in ["CERTIFICATE", "PUBLIC KEY"] {
            let pem = encode(label, &der);
            assert_eq!(go_layout(pem.as_bytes(), label), Some(der.clone()));
            assert_eq!(
                decode_public(pem.as_bytes()),
                Ok((label.into(), der.clone()))
            );
        }
        // Another label, CRLF line ends, or an empty block: decoded by `decode`, as before.
        let key = encode("PRIVATE KEY", &der);
        assert_eq!(go_layout(key.as_bytes(), "CERTIFICATE"), None);
        assert_eq!(decode_public(key.as_bytes()), decode(key.as_bytes()));
        let crlf = encode("CERTIFICATE", &der).replace('\n', "\r\n");
        assert_eq!(go_layout(crlf.as_bytes(), "CERTIFICATE"), None);
        assert_eq!(decode_public(crlf.as_bytes()), decode(crlf.as_bytes()));
        let empty = encode("CERTIFICATE", &[]);
        assert_eq!(go_layout(empty.as_bytes(), "CERTIFICATE"), None);
    }

    proptest::proptest! {
        /// Any one byte of a Go-layout block changed (base64 or not, line ends, armor):
        /// `decode_public` says what `decode` says.
        #[test]
        fn decode_public_agrees_with_decode(
            der in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..200),
            certificate in proptest::prelude::any::<bool>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let label = if certificate { "CERTIFICATE" } else { "PUBLIC KEY" };
            let mut pem = encode(label, &der).into_bytes();
            proptest::prop_assert_eq!(decode_public(&pem), decode(&pem));
            let i = at.index(pem.len());
            pem[i] = byte;
            proptest::prop_assert_eq!(decode_public(&pem), decode(&pem));
        }
    }
}
