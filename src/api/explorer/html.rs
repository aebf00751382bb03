//! The one way text reaches a page: [`escape`]. Every string that comes from a client, a log
//! entry or the configuration goes through it; only the fixed markup in `pages.rs` does not.
//!
//! Escaping `& < > " '` makes any text inert both between tags and inside a quoted attribute
//! value (every attribute in `pages.rs` is double-quoted), which is all the pages use: no
//! text is ever placed in a script, a style, a URL scheme position or an unquoted attribute.

use std::fmt::Write as _;

/// `text` with the five HTML-significant characters replaced by character references.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` percent-encoded as a query-string value (RFC 3986 unreserved characters kept), so a
/// link built from it carries exactly the value back; the result is then safe in an attribute.
pub(super) fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_inert() {
        assert_eq!(
            escape(r#"<script>alert('x' & "y")</script>"#),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain ä text"), "plain ä text");
    }

    #[test]
    fn query_values_round_trip_through_percent_encoding() {
        assert_eq!(
            query_value("octo-org/octo repo&x=<y>"),
            "octo-org%2Focto%20repo%26x%3D%3Cy%3E"
        );
        assert_eq!(query_value("ä"), "%C3%A4");
    }
}
