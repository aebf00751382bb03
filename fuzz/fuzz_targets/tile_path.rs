//! C2SP tlog-tiles paths (`mayfly_spec::tlog::tile::TilePath`), as the tile server reads them
//! from request URLs.
//!
//! Input: a mode byte, then the path text (mode even), or (mode odd) 11 bytes that make a tile
//! coordinate (kind/level, index, partial width) to print and parse back.
//!
//! Beyond "no panic": `parse(display(parse(x))) == parse(x)`, and since parsing accepts only the
//! canonical spelling, `display(parse(x)) == x`; every valid coordinate round-trips through its
//! path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_spec::tlog::tile::{TileId, TilePath};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        match TilePath::parse(text) {
            Ok(path) => {
                let shown = path.to_string();
                assert_eq!(TilePath::parse(&shown), Ok(path), "{shown}");
                assert_eq!(shown, text, "two spellings of one tile");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        return;
    }
    let [kind, i0, i1, i2, i3, i4, i5, i6, i7, width, ..] = *rest else {
        return;
    };
    let index = u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]);
    let width = (width != 0).then_some(width);
    let path = if kind >= 64 {
        TilePath::Entries { index, width }
    } else {
        TilePath::Hash {
            id: TileId { level: kind, index },
            width,
        }
    };
    assert_eq!(TilePath::parse(&path.to_string()), Ok(path), "{path}");
});
