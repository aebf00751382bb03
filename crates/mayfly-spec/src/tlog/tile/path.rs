//! Public tile paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, strictly parsed
//! (one spelling per tile) and printed back.

use std::fmt;

use super::{MAX_LEVEL, TileId};
use crate::tlog::TlogError;

/// A parsed public path below a log's prefix: "tile/<L>/<N>[.p/<W>]" or
/// "tile/entries/<N>[.p/<W>]".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// A hash tile.
    Hash {
        /// Which tile.
        id: TileId,
        /// `Some(1..=255)` for the `.p/<W>` view of a partial tile, `None` for a full tile.
        width: Option<u8>,
    },
    /// An entry bundle.
    Entries {
        /// Which bundle: bundle N holds entries [256N, 256N+256).
        index: u64,
        /// As for hash tiles.
        width: Option<u8>,
    },
}

fn path_error(what: &str) -> TlogError {
    TlogError::TilePath(what.to_owned())
}

/// Parses a decimal number of 1 to `max_digits` ASCII digits, without leading zeros.
///
/// Written out rather than via `str::parse`, which also accepts a leading `+`.
fn canonical_decimal(text: &str, max_digits: usize) -> Option<u64> {
    let bytes = text.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.len() <= max_digits
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    canonical.then(|| bytes.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses one 3-digit group of a tile index.
fn index_group(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    (bytes.len() == 3 && bytes.iter().all(u8::is_ascii_digit))
        .then(|| bytes.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses the path elements of a tile index: "x"-prefixed 3-digit groups, then a bare one.
fn parse_index(groups: &[&str]) -> Result<u64, TlogError> {
    let Some((last, leading)) = groups.split_last() else {
        return Err(path_error("missing tile index"));
    };
    let bad = || {
        path_error("tile index must be zero-padded 3-digit groups, all but the last prefixed 'x'")
    };
    let mut n = 0u64;
    for (i, group) in leading.iter().enumerate() {
        let digits = group.strip_prefix('x').ok_or_else(bad)?;
        let value = index_group(digits).ok_or_else(bad)?;
        // A leading all-zero group would give a second spelling of the same index.
        if i == 0 && value == 0 {
            return Err(path_error("tile index has a leading zero group"));
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or_else(|| path_error("tile index out of range"))?;
    }
    let value = index_group(last).ok_or_else(bad)?;
    n.checked_mul(1000)
        .and_then(|n| n.checked_add(value))
        .ok_or_else(|| path_error("tile index out of range"))
}

impl TilePath {
    /// Parses a tile or entry-bundle path, relative to the log's prefix, accepting only the
    /// canonical spelling of each coordinate so that one tile has exactly one path: level
    /// 0–63 without leading zeros, index in zero-padded 3-digit groups with all but the last
    /// prefixed `x` (1234067 → `x001/x234/067`, 5 → `005`), partial width 1–255 without
    /// leading zeros.
    pub fn parse(path: &str) -> Result<Self, TlogError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| path_error("must start with tile/"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let Some((&kind, tail)) = parts.split_first() else {
            return Err(path_error("missing tile level"));
        };
        // ".p/<W>" hangs off the last index group, so it splits that group across two elements.
        let partial = match tail {
            [groups @ .., last, w] => last.strip_suffix(".p").map(|last| (groups, last, w)),
            _ => None,
        };
        let (groups, width) = match partial {
            Some((groups, last, w)) => {
                let width = canonical_decimal(w, 3)
                    .and_then(|w| u8::try_from(w).ok())
                    .filter(|&w| w != 0)
                    .ok_or_else(|| path_error("partial tile width must be 1-255"))?;
                let mut groups = groups.to_vec();
                groups.push(last);
                (groups, Some(width))
            }
            None => (tail.to_vec(), None),
        };
        let index = parse_index(&groups)?;
        if kind == "entries" {
            return Ok(TilePath::Entries { index, width });
        }
        let level = canonical_decimal(kind, 2)
            .and_then(|l| u8::try_from(l).ok())
            .filter(|&l| l <= MAX_LEVEL)
            .ok_or_else(|| path_error("tile level must be 0-63 or 'entries'"))?;
        Ok(TilePath::Hash {
            id: TileId { level, index },
            width,
        })
    }
}

/// Writes `n` as zero-padded 3-digit groups, all but the last prefixed `x`.
fn write_index(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    let mut groups = Vec::with_capacity(7);
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut groups = groups.iter().rev().peekable();
    while let Some(g) = groups.next() {
        if groups.peek().is_some() {
            write!(f, "x{g:03}/")?;
        } else {
            write!(f, "{g:03}")?;
        }
    }
    Ok(())
}

impl fmt::Display for TilePath {
    /// The canonical path, which [`TilePath::parse`] maps back to the same value (for widths
    /// and levels in the ranges `parse` accepts).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (index, width) = match *self {
            TilePath::Hash { id, width } => {
                write!(f, "tile/{}/", id.level)?;
                (id.index, width)
            }
            TilePath::Entries { index, width } => {
                f.write_str("tile/entries/")?;
                (index, width)
            }
        };
        write_index(f, index)?;
        if let Some(w) = width {
            write!(f, ".p/{w}")?;
        }
        Ok(())
    }
}
