//! DSSE envelopes (secure-systems-lab/dsse v1): the JSON form and the pre-authentication
//! encoding that signatures cover.

use super::{RekorError, array_field, as_object, nonempty_str_field, str_field};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII
/// decimal bytes. The signature covers these bytes, never the JSON.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    use std::io::Write;
    // Sized once: the payload (KiBs) is copied once.
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    out.extend_from_slice(payload);
    out
}

/// The DSSE spec allows standard or URL-safe base64; DSSE libraries accept both, with or
/// without padding.
pub(crate) fn decode_dsse_base64(field: &str, text: &str) -> Result<Vec<u8>, RekorError> {
    decode_dsse(text).ok_or_else(|| RekorError::Base64 {
        field: field.to_owned(),
    })
}

fn decode_dsse(text: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// One envelope signature: `sig` exactly as it appeared (its base64 text), and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature<'a> {
    pub sig_text: Cow<'a, str>,
    pub sig: Vec<u8>,
}

/// A parsed envelope with its payload decoded; strings are borrowed from the envelope text
/// where it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub payload_type: Cow<'a, str>,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature<'a>>,
}

/// The typed reading of an envelope, as every DSSE library writes it. As with a proposed entry
/// ([`super::canonicalize`]), anything it does not fit is read again as a `Value`, which names
/// the field at fault; unknown fields (`keyid`) are ignored by both.
#[derive(Deserialize)]
struct TypedEnvelope<'a> {
    #[serde(rename = "payloadType", borrow)]
    payload_type: Cow<'a, str>,
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(borrow)]
    signatures: Vec<TypedSignature<'a>>,
}

#[derive(Deserialize)]
struct TypedSignature<'a> {
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

impl<'a> Envelope<'a> {
    /// Parses the JSON envelope that a dsse entry carries as a string; `at` is the JSON path
    /// that errors name.
    pub fn parse(at: &str, json: &'a str) -> Result<Envelope<'a>, RekorError> {
        match Self::parse_typed(json) {
            Some(envelope) => Ok(envelope),
            None => Self::parse_value(at, json),
        }
    }

    /// The typed reading: `Some` only where [`Envelope::parse_value`] would give the same
    /// envelope (a shape error, an empty list or signature, bad base64: `None`).
    fn parse_typed(json: &'a str) -> Option<Envelope<'a>> {
        let typed: TypedEnvelope<'a> = serde_json::from_str(json).ok()?;
        if typed.signatures.is_empty() {
            return None;
        }
        let payload = decode_dsse(&typed.payload)?;
        let signatures = typed
            .signatures
            .into_iter()
            .map(|s| {
                if s.sig.is_empty() {
                    return None;
                }
                let sig = decode_dsse(&s.sig)?;
                Some(EnvelopeSignature {
                    sig_text: s.sig,
                    sig,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Envelope {
            payload_type: typed.payload_type,
            payload,
            signatures,
        })
    }

    fn parse_value(at: &str, json: &str) -> Result<Envelope<'a>, RekorError> {
        let value: Value = super::strict::from_str(json)
            .map_err(|e| RekorError::field(at, format!("not a JSON DSSE envelope: {e}")))?;
        let obj = as_object(&value, at)?;
        let payload_type = str_field(obj, at, "payloadType")?.to_owned();
        let payload_text = str_field(obj, at, "payload")?;
        let payload = decode_dsse_base64(&format!("{at}.payload"), payload_text)?;
        let parent = format!("{at}.signatures");
        let signatures = array_field(obj, at, "signatures")?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_at = format!("{parent}[{i}]");
                let sig_obj = as_object(item, &item_at)?;
                let sig_text = nonempty_str_field(sig_obj, &item_at, "sig")?;
                Ok(EnvelopeSignature {
                    sig_text: Cow::Owned(sig_text.to_owned()),
                    sig: decode_dsse_base64(&format!("{item_at}.sig"), sig_text)?,
                })
            })
            .collect::<Result<Vec<_>, RekorError>>()?;
        Ok(Envelope {
            payload_type: Cow::Owned(payload_type),
            payload,
            signatures,
        })
    }

    /// The pre-authentication encoding the envelope's signatures cover.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}
