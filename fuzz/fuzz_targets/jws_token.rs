//! JWS compact identity tokens as the server reads them before any key is fetched
//! (`mayfly::identity::oidc`: `parse_token`, `issuer_claim`, `check_claims`).
//!
//! Input: a mode byte, then either the token text as it arrives (mode even), or (mode odd)
//! header JSON, `\n`, payload JSON, `\n`, signature bytes, which the target base64url-encodes
//! into a token, so the fuzzer mutates the JSON inside the segments too.
//!
//! Beyond "no panic": an accepted token has exactly three segments within the size cap and an
//! allow-listed `alg`; its header and claims, re-encoded, parse back to the same values; and
//! `check_claims` only accepts claims that an independent reading of the rules accepts.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use mayfly::identity::oidc::{MAX_TOKEN_BYTES, check_claims, issuer_claim, parse_token};
use serde_json::{Map, Value};

const CLIENT_ID: &str = "sigstore";
/// Clocks the claims are checked against: the epoch, a realistic now, the far future.
const NOWS: [u64; 3] = [0, 1_750_000_000, u64::MAX];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let built;
    let token = if mode & 1 == 0 {
        match std::str::from_utf8(rest) {
            Ok(text) => text,
            Err(_) => return,
        }
    } else {
        let mut parts = rest.splitn(3, |b| *b == b'\n');
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        let signature = parts.next().unwrap_or_default();
        built = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        );
        &built
    };
    check(token);
});

fn check(token: &str) {
    let parsed = match parse_token(token) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(token.len() <= MAX_TOKEN_BYTES);
    assert_eq!(token.bytes().filter(|b| *b == b'.').count(), 2);
    assert_eq!(
        format!("{}.{}", parsed.signing_input, parsed.signature),
        token
    );
    assert!(!parsed.alg_name.eq_ignore_ascii_case("none"));
    assert!(!parsed.alg_name.starts_with("HS"), "{}", parsed.alg_name);

    // Re-encode header and claims canonically: the same token facts come back.
    let mut header = Map::new();
    header.insert("alg".into(), Value::String(parsed.alg_name.clone()));
    if let Some(kid) = &parsed.kid {
        header.insert("kid".into(), Value::String(kid.clone()));
    }
    let again_text = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parsed.claims).unwrap()),
        parsed.signature
    );
    if again_text.len() <= MAX_TOKEN_BYTES {
        let again = parse_token(&again_text).expect("a re-encoded accepted token parses");
        assert_eq!(again.alg_name, parsed.alg_name);
        assert_eq!(again.kid, parsed.kid);
        assert!(same_json(
            &Value::Object(again.claims.clone()),
            &Value::Object(parsed.claims.clone())
        ));
    }

    match issuer_claim(&parsed.claims) {
        Ok(iss) => {
            assert!(!iss.is_empty());
            assert_eq!(parsed.claims.get("iss").and_then(Value::as_str), Some(iss));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for now in NOWS {
        match check_claims(&parsed.claims, CLIENT_ID, now) {
            Ok(()) => assert_claims_acceptable(&parsed.claims, now),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

/// The claim rules, restated: `aud` names the client, `exp` is a number not more than 60 s in
/// the past, `nbf`/`iat` (if numbers) not more than 60 s in the future, `sub` a non-empty string.
fn assert_claims_acceptable(claims: &Map<String, Value>, now: u64) {
    let now = now as f64;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(s)) => s == CLIENT_ID,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(CLIENT_ID)),
        _ => false,
    };
    assert!(aud_ok, "aud accepted without naming the client: {claims:?}");
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .expect("exp accepted without being a number");
    // f64 comparison is only exact below 2^53; beyond that allow the rounding.
    assert!(
        exp.floor() + 60.0 >= now - now * f64::EPSILON,
        "expired token accepted"
    );
    for claim in ["nbf", "iat"] {
        if let Some(v) = claims.get(claim) {
            let t = v.as_f64().expect("a non-numeric time claim accepted");
            assert!(
                t.ceil() <= now + 60.0 + now * f64::EPSILON,
                "{claim} in the future accepted"
            );
        }
    }
    assert!(
        matches!(claims.get("sub"), Some(Value::String(s)) if !s.is_empty()),
        "sub accepted without being a non-empty string"
    );
}

/// JSON equality, with floats compared by value (serde_json's float parsing without
/// `float_roundtrip` may move the last bit on a second round).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q || (p - q).abs() <= p.abs().max(q.abs()) * 1e-15,
                    _ => false,
                }
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}
