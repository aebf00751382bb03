//! The `MetaIssuers` pattern matcher.

use std::collections::BTreeSet;

/// An anchored `MetaIssuers` pattern: each `*` matches one or more of `[-_a-zA-Z0-9]` (so never
/// a `.`, `/`, `:`, `@`, `?` or `#`), everything else matches literally. This is exactly what
/// Fulcio's quoted-and-anchored regex does, without building a regex from config text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WildcardPattern {
    /// The literal text between wildcards (`n` wildcards ⇒ `n + 1` pieces, possibly empty).
    pieces: Vec<String>,
}

fn is_wildcard_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl WildcardPattern {
    /// Compiles a pattern.
    pub(crate) fn new(pattern: &str) -> Self {
        WildcardPattern {
            pieces: pattern.split('*').map(str::to_owned).collect(),
        }
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        // Set of positions in `text` where the current literal piece may start. Positions only
        // ever follow a literal piece or ASCII wildcard bytes, so they are char boundaries.
        let mut starts = BTreeSet::from([0usize]);
        let last = self.pieces.len().saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate() {
            let mut next = BTreeSet::new();
            for &p in &starts {
                let Some(rest) = text.get(p..) else { continue };
                if !rest.starts_with(piece.as_str()) {
                    continue;
                }
                let q = p + piece.len();
                if i == last {
                    if q == text.len() {
                        return true;
                    }
                    continue;
                }
                let run = text.as_bytes()[q..]
                    .iter()
                    .take_while(|b| is_wildcard_char(**b))
                    .count();
                next.extend((1..=run).map(|n| q + n));
            }
            if next.is_empty() {
                return false;
            }
            starts = next;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_pattern_edge_cases() {
        let p = WildcardPattern::new("https://a*b.example/*");
        assert!(p.matches("https://ab-b.example/x"));
        // Backtracking: the wildcard may itself contain the following literal's first char.
        assert!(p.matches("https://abbbb.example/x"));
        assert!(
            !p.matches("https://ab.example/x"),
            "wildcard needs at least one char"
        );
        let p = WildcardPattern::new("https://x/**");
        assert!(p.matches("https://x/ab"));
        assert!(!p.matches("https://x/a"));
        let p = WildcardPattern::new("https://x/plain");
        assert!(p.matches("https://x/plain"));
        assert!(!p.matches("https://x/plainer"));
        let p = WildcardPattern::new("https://x/*");
        assert!(p.matches("https://x/A_z-9"));
        assert!(!p.matches("https://x/é"));
    }
}
