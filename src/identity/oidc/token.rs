//! Pure token handling: the compact-JWS split, header allow-list and claim checks.
//!
//! Nothing here touches the network or a key. Order matters for safety: the size cap and the
//! segment count are checked before any base64 or JSON decoding, so a hostile token costs at
//! most one bounded scan.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::error::TokenError;

/// Largest accepted token, in bytes. Real CI tokens are 1–2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Allowed clock skew for `exp`, `nbf` and `iat`, in seconds (design: at most a minute).
pub const LEEWAY_SECS: u64 = 60;

/// A token split and decoded, signature not yet checked.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
    /// The base64url signature segment (already checked to decode).
    pub signature: &'a str,
    /// The allow-listed algorithm.
    pub alg: Algorithm,
    /// The `alg` header as written (for messages).
    pub alg_name: String,
    /// The `kid` header, if any.
    pub kid: Option<String>,
    /// The payload claims.
    pub claims: Map<String, Value>,
}

/// The asymmetric allow-list. Everything else (`none`, HMAC, unknown names) is refused here,
/// before a key is looked at; with [`super::keys`]'s key-type check this defeats the
/// "HS256 keyed with the RSA public key" confusion.
pub(super) fn allowed_algorithm(name: &str) -> Result<Algorithm, TokenError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        n if n.eq_ignore_ascii_case("none") => return Err(TokenError::AlgorithmNone),
        other => return Err(TokenError::AlgorithmNotAllowed(other.to_owned())),
    })
}

fn malformed(reason: impl Into<String>) -> TokenError {
    TokenError::Malformed(reason.into())
}

fn decode_segment(segment: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    if segment.is_empty() {
        return Err(malformed(format!("{what} segment is empty")));
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| malformed(format!("{what} is not unpadded base64url: {e}")))
}

fn decode_object(segment: &str, what: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = decode_segment(segment, what)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(malformed(format!("{what} is not a JSON object"))),
        Err(e) => Err(malformed(format!("{what} is not JSON: {e}"))),
    }
}

/// Splits and decodes a compact JWS, enforcing the size cap, the three-segment shape and the
/// algorithm allow-list.
pub fn parse(token: &str) -> Result<Parsed<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let dots = token.bytes().filter(|b| *b == b'.').count();
    if dots != 2 {
        return Err(malformed(format!(
            "expected 3 dot-separated segments, found {}",
            dots + 1
        )));
    }
    // Exactly two dots, so both splits succeed; `let else` keeps this panic-free regardless.
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return Err(malformed("missing signature segment"));
    };
    let Some((header_b64, payload_b64)) = signing_input.split_once('.') else {
        return Err(malformed("missing payload segment"));
    };

    let header = decode_object(header_b64, "header")?;
    let alg_name = match header.get("alg") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(malformed("header \"alg\" is not a string")),
        None => return Err(malformed("header has no \"alg\"")),
    };
    let alg = allowed_algorithm(&alg_name)?;
    if let Some(crit) = header.get("crit") {
        return Err(TokenError::CriticalHeader(crit.to_string()));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("header \"kid\" is not a string")),
    };
    let claims = decode_object(payload_b64, "payload")?;
    // Checked here so a non-base64 signature is reported as malformed, not as a bad signature.
    decode_segment(signature, "signature")?;

    Ok(Parsed {
        signing_input,
        signature,
        alg,
        alg_name,
        kid,
        claims,
    })
}

/// The `iss` claim, unverified: only used to choose a configured issuer.
pub fn issuer_claim(claims: &Map<String, Value>) -> Result<&str, TokenError> {
    match claims.get("iss") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: "iss",
            reason: "must be a non-empty string".to_owned(),
        }),
        None => Err(TokenError::MissingClaim("iss")),
    }
}

/// A NumericDate claim as whole seconds. Fractions are truncated toward the safe side by the
/// caller's comparison (`exp` floors, `nbf`/`iat` ceil).
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
    round_up: bool,
) -> Result<Option<i64>, TokenError> {
    let invalid = |reason: &str| TokenError::InvalidClaim {
        claim,
        reason: reason.to_owned(),
    };
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            let f = n
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .ok_or_else(|| invalid("is not a reasonable NumericDate"))?;
            let whole = if round_up { f.ceil() } else { f.floor() };
            // In range by the filter above, so the cast is exact.
            Ok(Some(whole as i64))
        }
        Some(_) => Err(invalid("must be a number (seconds since the epoch)")),
    }
}

/// Checks `aud`, `exp`, `nbf`, `iat` and `sub` against `now` (unix seconds). `iss` is checked by
/// the caller, which chose the issuer by it.
pub fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    now: u64,
) -> Result<(), TokenError> {
    let audience_ok = match claims.get("aud") {
        Some(Value::String(s)) => s == client_id,
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items {
                match item {
                    Value::String(s) => found |= s == client_id,
                    _ => {
                        return Err(TokenError::InvalidClaim {
                            claim: "aud",
                            reason: "array members must be strings".to_owned(),
                        });
                    }
                }
            }
            found
        }
        Some(_) => {
            return Err(TokenError::InvalidClaim {
                claim: "aud",
                reason: "must be a string or an array of strings".to_owned(),
            });
        }
        None => return Err(TokenError::MissingClaim("aud")),
    };
    if !audience_ok {
        return Err(TokenError::Audience {
            expected: client_id.to_owned(),
        });
    }

    // i128 arithmetic: no overflow for any i64 claim or u64 clock.
    let now_i = i128::from(now);
    let leeway = i128::from(LEEWAY_SECS);
    let exp = numeric_date(claims, "exp", false)?.ok_or(TokenError::MissingClaim("exp"))?;
    if now_i > i128::from(exp) + leeway {
        return Err(TokenError::Expired {
            exp,
            now,
            leeway: LEEWAY_SECS,
        });
    }
    if let Some(nbf) = numeric_date(claims, "nbf", true)?
        && i128::from(nbf) > now_i + leeway
    {
        return Err(TokenError::NotYetValid {
            nbf,
            now,
            leeway: LEEWAY_SECS,
        });
    }
    if let Some(iat) = numeric_date(claims, "iat", true)?
        && i128::from(iat) > now_i + leeway
    {
        return Err(TokenError::IssuedInFuture {
            iat,
            now,
            leeway: LEEWAY_SECS,
        });
    }

    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: "sub",
            reason: "must be a non-empty string".to_owned(),
        }),
        None => Err(TokenError::MissingClaim("sub")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn token(header: &Value, payload: &Value) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn segment_count_and_size_are_checked_first() {
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(parse(&huge), Err(TokenError::TooLarge { .. })));
        // Size is checked before shape: a 9 KiB string of dots is "too large", not "malformed".
        assert!(matches!(
            parse(&".".repeat(9 * 1024)),
            Err(TokenError::TooLarge { .. })
        ));
        for bad in ["a.b", "a.b.c.d", "abc", "a..b.c"] {
            assert!(matches!(parse(bad), Err(TokenError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn header_and_payload_must_be_base64url_json_objects() {
        let h = json!({"alg": "RS256"});
        let p = json!({"iss": "x"});
        let good = token(&h, &p);
        assert!(parse(&good).is_ok());
        let pad = format!("{}=.{}.c2ln", b64(&h), b64(&p));
        assert!(matches!(parse(&pad), Err(TokenError::Malformed(_))));
        let not_json = format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode("{nope"), b64(&p));
        assert!(matches!(parse(&not_json), Err(TokenError::Malformed(_))));
        let array = format!("{}.{}.c2ln", b64(&h), b64(&json!([1])));
        assert!(matches!(parse(&array), Err(TokenError::Malformed(_))));
        let bad_sig = format!("{}.{}.!!", b64(&h), b64(&p));
        assert!(matches!(parse(&bad_sig), Err(TokenError::Malformed(_))));
        let empty_sig = format!("{}.{}.", b64(&h), b64(&p));
        assert!(matches!(parse(&empty_sig), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn algorithm_allow_list() {
        for ok in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ] {
            assert!(allowed_algorithm(ok).is_ok(), "{ok}");
        }
        for none in ["none", "None", "NONE"] {
            assert!(matches!(
                allowed_algorithm(none),
                Err(TokenError::AlgorithmNone)
            ));
        }
        for bad in ["HS256", "HS384", "HS512", "ES512", "rs256", ""] {
            assert!(
                matches!(
                    allowed_algorithm(bad),
                    Err(TokenError::AlgorithmNotAllowed(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            allowed_algorithm("HS256").unwrap_err().to_string(),
            "algorithm HS256 is not allowed (allowed: RS256/384/512, PS256/384/512, ES256/384, EdDSA)"
        );
        let crit = token(&json!({"alg": "ES256", "crit": ["b64"]}), &json!({}));
        assert!(matches!(parse(&crit), Err(TokenError::CriticalHeader(_))));
    }

    #[test]
    fn claim_checks() {
        let now = 1_000_000;
        let base = json!({"aud": "sigstore", "exp": now + 10, "sub": "s"});
        assert!(check_claims(&claims(base.clone()), "sigstore", now).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = claims(base.clone());
            c.insert(k.to_owned(), v);
            c
        };
        let without = |k: &str| {
            let mut c = claims(base.clone());
            c.remove(k);
            c
        };
        assert!(check_claims(&with("aud", json!(["x", "sigstore"])), "sigstore", now).is_ok());
        let aud = check_claims(&with("aud", json!(["x"])), "sigstore", now).unwrap_err();
        assert_eq!(aud.to_string(), "audience does not include \"sigstore\"");
        assert!(matches!(
            check_claims(&without("aud"), "sigstore", now),
            Err(TokenError::MissingClaim("aud"))
        ));
        // Leeway: 60 s past exp is still fine, 61 s is not.
        assert!(check_claims(&with("exp", json!(now - 60)), "sigstore", now).is_ok());
        assert!(matches!(
            check_claims(&with("exp", json!(now - 61)), "sigstore", now),
            Err(TokenError::Expired { .. })
        ));
        assert!(matches!(
            check_claims(&with("exp", json!("soon")), "sigstore", now),
            Err(TokenError::InvalidClaim { claim: "exp", .. })
        ));
        assert!(matches!(
            check_claims(&without("exp"), "sigstore", now),
            Err(TokenError::MissingClaim("exp"))
        ));
        assert!(check_claims(&with("nbf", json!(now + 60)), "sigstore", now).is_ok());
        assert!(matches!(
            check_claims(&with("nbf", json!(now + 61)), "sigstore", now),
            Err(TokenError::NotYetValid { .. })
        ));
        assert!(matches!(
            check_claims(&with("iat", json!(now as f64 + 60.5)), "sigstore", now),
            Err(TokenError::IssuedInFuture { .. })
        ));
        assert!(matches!(
            check_claims(&without("sub"), "sigstore", now),
            Err(TokenError::MissingClaim("sub"))
        ));
        assert!(matches!(
            check_claims(&with("sub", json!("")), "sigstore", now),
            Err(TokenError::InvalidClaim { claim: "sub", .. })
        ));
    }
}
