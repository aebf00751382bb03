//! Go's `fmt` `%v` for JSON values decoded by `encoding/json`: how Fulcio turns a claim into
//! the string a template sees.

use serde_json::Value;

/// Stringifies a top-level claim as Fulcio does: strings as-is, whole numbers as integers, the
/// rest like Go's `%v` of the decoded JSON value.
pub(crate) fn stringify_claim(value: &Value) -> String {
    match value {
        Value::Number(n) => {
            // Go decodes every JSON number to float64; mirror that (including the precision loss
            // above 2^53) so ids render to the same text as in Fulcio's certificates.
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() && f.fract() == 0.0 {
                // Rust's Display never uses an exponent, like Go's FormatFloat(f, 'f', -1, 64).
                format!("{f}")
            } else {
                go_float(f)
            }
        }
        other => go_value(other),
    }
}

/// Go's `%v` for a value decoded by `encoding/json` into `interface{}`.
fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            // Go's fmt prints map keys sorted.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", map.get(k).map(go_value).unwrap_or_default()))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` for a float64: `%g` with the shortest round-trip digits, which strconv switches to
/// exponent form when the decimal exponent is < -4 or >= 6 (so Go prints 1e6 as `1e+06`); the
/// exponent has a sign and at least two digits.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as "d.ddde<exp>".
    let sci = format!("{f:e}");
    match sci.split_once('e') {
        Some((mantissa, exp)) => match exp.parse::<i32>() {
            Ok(exp) if !(-4..6).contains(&exp) => {
                let sign = if exp < 0 { '-' } else { '+' };
                format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
            }
            _ => format!("{f}"),
        },
        None => format!("{f}"),
    }
}
