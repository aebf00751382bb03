//! DSSE envelopes (secure-systems-lab/dsse v1): the JSON form and the pre-authentication
//! encoding that signatures cover.

use super::{RekorError, array_field, as_object, nonempty_str_field, str_field};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII
/// decimal bytes. The signature covers these bytes, never the JSON.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The DSSE spec allows standard or URL-safe base64; DSSE libraries accept both, with or
/// without padding.
pub(crate) fn decode_dsse_base64(field: &str, text: &str) -> Result<Vec<u8>, RekorError> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| RekorError::Base64 {
            field: field.to_owned(),
        })
}

/// One envelope signature: `sig` exactly as it appeared (its base64 text), and its bytes.
#[derive(Debug, Clone)]
pub(crate) struct EnvelopeSignature {
    pub sig_text: String,
    pub sig: Vec<u8>,
}

/// A parsed envelope with its payload decoded.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

impl Envelope {
    /// Parses the JSON envelope that a dsse entry carries as a string.
    pub fn parse(at: &str, json: &str) -> Result<Envelope, RekorError> {
        let value: Value = serde_json::from_str(json)
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
                    sig_text: sig_text.to_owned(),
                    sig: decode_dsse_base64(&format!("{item_at}.sig"), sig_text)?,
                })
            })
            .collect::<Result<Vec<_>, RekorError>>()?;
        Ok(Envelope {
            payload_type,
            payload,
            signatures,
        })
    }

    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}
