//! The TLS presentation language (RFC 8446 §3) that RFC 6962 uses for every CT structure:
//! big-endian fixed-width integers and vectors prefixed by a big-endian length of fixed width.
//!
//! Writers refuse values that do not fit their field rather than truncating them, because a
//! truncated length would make the output parse as different (attacker-chosen) structure.

use super::CtError;

/// Appends the low `width` bytes of `value`, big-endian; `value` must fit in them.
///
/// `width` is always one of the constant field widths of RFC 6962 (1 to 8 bytes).
pub(super) fn put_uint(
    out: &mut Vec<u8>,
    width: usize,
    value: u64,
    what: &'static str,
) -> Result<(), CtError> {
    let bytes = value.to_be_bytes();
    let (high, low) = bytes.split_at(size_of::<u64>().saturating_sub(width));
    if low.len() != width || high.iter().any(|b| *b != 0) {
        return Err(too_large(what, value, width));
    }
    out.extend_from_slice(low);
    Ok(())
}

/// Appends `body` as a vector with a `width`-byte length prefix.
pub(super) fn put_vec(
    out: &mut Vec<u8>,
    width: usize,
    body: &[u8],
    what: &'static str,
) -> Result<(), CtError> {
    let len = u64::try_from(body.len()).unwrap_or(u64::MAX);
    put_uint(out, width, len, what)?;
    out.extend_from_slice(body);
    Ok(())
}

fn too_large(what: &'static str, len: u64, width: usize) -> CtError {
    let max = u32::try_from(width.saturating_mul(8))
        .ok()
        .and_then(|bits| 1u64.checked_shl(bits))
        .map_or(u64::MAX, |limit| limit - 1);
    CtError::TooLarge { what, len, max }
}

/// A cursor over TLS-encoded bytes. Every read either consumes exactly what it returns or fails.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(super) fn bytes(&mut self, len: usize) -> Result<&'a [u8], CtError> {
        let (taken, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(CtError::MalformedSct("truncated"))?;
        self.rest = rest;
        Ok(taken)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], CtError> {
        self.bytes(N)?
            .try_into()
            .map_err(|_| CtError::MalformedSct("truncated"))
    }

    /// A big-endian unsigned integer of `width` bytes (at most 8).
    pub(super) fn uint(&mut self, width: usize) -> Result<u64, CtError> {
        if width > size_of::<u64>() {
            return Err(CtError::MalformedSct("integer wider than 64 bits"));
        }
        Ok(self
            .bytes(width)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    pub(super) fn u8(&mut self) -> Result<u8, CtError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    /// A vector with a `width`-byte length prefix; returns its contents.
    pub(super) fn vec(&mut self, width: usize) -> Result<&'a [u8], CtError> {
        let len = usize::try_from(self.uint(width)?)
            .map_err(|_| CtError::MalformedSct("vector length overflows usize"))?;
        self.bytes(len)
    }

    /// Succeeds only if everything was consumed: trailing bytes would be data that no
    /// signature or hash covers as the reader understood it.
    pub(super) fn finish(self) -> Result<(), CtError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CtError::MalformedSct("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_uint_refuses_values_that_do_not_fit() {
        let mut out = Vec::new();
        put_uint(&mut out, 3, 0xFF_FFFF, "x").unwrap();
        assert_eq!(out, [0xFF, 0xFF, 0xFF]);
        let err = put_uint(&mut out, 3, 0x100_0000, "x").unwrap_err();
        assert_eq!(
            err,
            CtError::TooLarge {
                what: "x",
                len: 0x100_0000,
                max: 0xFF_FFFF
            }
        );
        assert!(put_uint(&mut out, 9, 0, "x").is_err());
        assert_eq!(out, [0xFF, 0xFF, 0xFF], "failed writes append nothing");
    }

    #[test]
    fn put_uint_full_width() {
        let mut out = Vec::new();
        put_uint(&mut out, 8, u64::MAX, "x").unwrap();
        assert_eq!(out, [0xFF; 8]);
    }

    #[test]
    fn reader_is_strict() {
        let mut r = Reader::new(&[0x00, 0x02, 0xAA, 0xBB, 0xCC]);
        assert_eq!(r.vec(2).unwrap(), [0xAA, 0xBB]);
        assert_eq!(r.finish(), Err(CtError::MalformedSct("trailing bytes")));

        let mut r = Reader::new(&[0x00, 0x03, 0xAA]);
        assert_eq!(r.vec(2), Err(CtError::MalformedSct("truncated")));
        assert!(Reader::new(&[0; 9]).uint(9).is_err());
    }
}
