//! The SAN a certificate carries, made encodable: X.509 writes URIs and email addresses as
//! IA5String (ASCII), and Go's crypto/x509 (cosign, sigstore-go, Go monitors) refuses a
//! certificate whose SAN holds anything else. Claims are chosen by whoever controls the CI
//! job, so a `job_workflow_ref` of `refs/heads/mäin` must not reach a signed, permanently
//! logged certificate as raw bytes.
//!
//! What Fulcio's Go code does, and so what happens here:
//! - **URIs**: characters RFC 3986 does not allow in a URI are percent-encoded as UTF-8, as
//!   Go's `url.URL.String()` writes them (`mäin` → `m%C3%A4in`, a space → `%20`); an existing
//!   `%XX` escape is kept; a `%` that starts no escape, and any control character, make the
//!   URI unparseable (Go's `url.Parse` refuses both), so the request is refused.
//! - **Email addresses** must be ASCII (SmtpUTF8Mailbox, RFC 8398, is not issued).
//! - **Usernames** (a UTF8String otherName) may be any text but control characters.
//!
//! A refusal names the claim the offending value came from, found by value among the token's
//! claims, so the user knows what to fix in their CI configuration.

use super::principal::SubjectAltName;
use serde_json::{Map, Value};

/// Why a SAN cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim {claim} {problem}; the certificate's identity cannot carry it")]
pub struct SanError {
    /// The claim the offending value came from (`"(unknown)"` if no claim holds it).
    pub claim: String,
    pub problem: String,
}

impl SubjectAltName {
    /// The name as text: the URI, the address, or `user!domain`. What a policy sees as
    /// `identity` and what rate limits are keyed by.
    pub fn as_str(&self) -> &str {
        match self {
            SubjectAltName::Uri(s) | SubjectAltName::Email(s) | SubjectAltName::Username(s) => s,
        }
    }
}

/// `san`, encodable as X.509 writes it, or why not.
pub(crate) fn encodable(
    san: SubjectAltName,
    claims: &Map<String, Value>,
) -> Result<SubjectAltName, SanError> {
    match san {
        SubjectAltName::Uri(uri) => Ok(SubjectAltName::Uri(encode_uri(&uri, claims)?)),
        SubjectAltName::Email(email) => {
            if let Some(c) = email
                .chars()
                .find(|c| !c.is_ascii() || c.is_ascii_control())
            {
                return Err(refused(
                    claims,
                    c,
                    "holds a character an email SAN cannot (non-ASCII or a control character)",
                    &email,
                ));
            }
            Ok(SubjectAltName::Email(email))
        }
        SubjectAltName::Username(name) => {
            if let Some(c) = name.chars().find(|c| c.is_control()) {
                return Err(refused(claims, c, "holds a control character", &name));
            }
            Ok(SubjectAltName::Username(name))
        }
    }
}

/// Percent-encodes what RFC 3986 does not allow, as Go's URL serialisation does.
fn encode_uri(uri: &str, claims: &Map<String, Value>) -> Result<String, SanError> {
    let mut out = String::with_capacity(uri.len());
    let bytes = uri.as_bytes();
    for (i, c) in uri.char_indices() {
        if c.is_control() {
            return Err(refused(claims, c, "holds a control character", uri));
        }
        if c == '%' {
            let escape = bytes.get(i + 1..i + 3);
            if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                return Err(refused(
                    claims,
                    c,
                    "holds a % that starts no %XX escape",
                    uri,
                ));
            }
            out.push('%');
        } else if allowed_in_uri(c) {
            out.push(c);
        } else {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Ok(out)
}

/// RFC 3986 unreserved and reserved characters (the `%` of escapes is handled by the caller).
fn allowed_in_uri(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c)
}

fn refused(claims: &Map<String, Value>, c: char, problem: &str, value: &str) -> SanError {
    // The claim whose value put `c` into the SAN: one that holds it and is part of the SAN.
    let claim = claims
        .iter()
        .find(|(_, v)| {
            v.as_str()
                .is_some_and(|s| s.contains(c) && value.contains(s))
        })
        .or_else(|| {
            claims
                .iter()
                .find(|(_, v)| v.as_str().is_some_and(|s| s.contains(c)))
        })
        .map_or_else(|| "(unknown)".to_owned(), |(name, _)| format!("{name:?}"));
    SanError {
        claim,
        problem: format!("{problem} ({:?})", c.escape_default().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn uri(text: &str, c: Value) -> Result<String, SanError> {
        match encodable(SubjectAltName::Uri(text.to_owned()), &claims(c))? {
            SubjectAltName::Uri(u) => Ok(u),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uris_are_percent_encoded_as_go_writes_them() {
        let c = json!({"job_workflow_ref": "o/r/.github/workflows/x.yml@refs/heads/mäin"});
        assert_eq!(
            uri(
                "https://github.com/o/r/.github/workflows/x.yml@refs/heads/mäin",
                c
            )
            .unwrap(),
            "https://github.com/o/r/.github/workflows/x.yml@refs/heads/m%C3%A4in"
        );
        assert_eq!(
            uri("https://x/a b<c>\"d{e}|f\\g^h`i", json!({})).unwrap(),
            "https://x/a%20b%3Cc%3E%22d%7Be%7D%7Cf%5Cg%5Eh%60i"
        );
        // Already-escaped text and every reserved character pass unchanged.
        let plain = "https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1.0%2B1?x=1&y=[2]#f";
        assert_eq!(uri(plain, json!({})).unwrap(), plain);
    }

    #[test]
    fn control_characters_and_broken_escapes_are_refused_naming_the_claim() {
        for (value, want) in [
            ("refs/heads/main\r\nX-Injected: 1", "control character"),
            ("refs/heads/ma\0in", "control character"),
            ("refs/heads/100%", "starts no %XX escape"),
            ("refs/heads/%zz", "starts no %XX escape"),
        ] {
            let c = json!({"ref": value, "other": "fine"});
            let err = uri(&format!("https://github.com/o/r@{value}"), c).unwrap_err();
            assert_eq!(err.claim, "\"ref\"", "{value:?}");
            assert!(err.to_string().contains(want), "{value:?}: {err}");
            assert!(err.to_string().starts_with("claim \"ref\""), "{err}");
        }
    }

    #[test]
    fn email_must_be_ascii_and_usernames_free_of_controls() {
        let err = encodable(
            SubjectAltName::Email("jürgen@example.com".into()),
            &claims(json!({"email": "jürgen@example.com"})),
        )
        .unwrap_err();
        assert_eq!(err.claim, "\"email\"");
        let fine = SubjectAltName::Email("j@example.com".into());
        assert_eq!(encodable(fine.clone(), &Map::new()), Ok(fine));
        let name = SubjectAltName::Username("jürgen!idp.example".into());
        assert_eq!(encodable(name.clone(), &Map::new()), Ok(name));
        assert!(encodable(SubjectAltName::Username("a\nb".into()), &Map::new()).is_err());
    }
}
