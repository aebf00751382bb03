//! The embedded SCT (fulcio.md §2.4; rekor-bundle-npm.md §7.1 step 3, §7.2 step 2).
//!
//! sigstore-python demands exactly one embedded precertificate SCT; sigstore-js verifies every
//! SCT and needs one. We take the stricter rule. The SCT covers the leaf's TBS without the SCT
//! list and SHA-256 of the issuer's SPKI; it must verify under the `ctlogs` key with its log ID,
//! valid at the SCT's own timestamp.

use super::error::VerifyError;
use super::keys::verify_log_signature;
use mayfly_spec::ct::{
    PrecertEntry, SCT_LIST_OID, final_cert_signing_tbs, issuer_key_hash,
    parse_sct_list_extension_value,
};
use mayfly_spec::sigstore::trusted_root::{Log, find_log};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::Oid;

fn err(m: impl Into<String>) -> VerifyError {
    VerifyError::Sct(m.into())
}

pub(crate) fn verify_embedded_sct(
    leaf_der: &[u8],
    leaf: &X509Certificate<'_>,
    issuer_spki_der: &[u8],
    ctlogs: &[Log],
) -> Result<(), VerifyError> {
    let oid = Oid::from(SCT_LIST_OID).map_err(|_| err("bad SCT list OID"))?;
    let mut found = leaf.extensions().iter().filter(|e| e.oid == oid);
    let ext = found
        .next()
        .ok_or_else(|| err("certificate has no embedded SCT list"))?;
    if found.next().is_some() {
        return Err(err("certificate has two SCT list extensions"));
    }
    let scts = parse_sct_list_extension_value(ext.value)
        .map_err(|e| err(format!("malformed SCT list: {e}")))?;
    let [sct] = scts.as_slice() else {
        return Err(err(format!(
            "expected exactly one SCT, found {}",
            scts.len()
        )));
    };
    let seconds =
        i64::try_from(sct.timestamp_ms / 1000).map_err(|_| err("timestamp out of range"))?;
    let log = find_log(ctlogs, &sct.log_id, seconds).ok_or_else(|| {
        err(format!(
            "unknown CT log {} (not in the trusted root, or its key was not valid at {seconds})",
            hex::encode(sct.log_id)
        ))
    })?;
    let tbs =
        final_cert_signing_tbs(leaf_der).map_err(|e| err(format!("cannot rebuild TBS: {e}")))?;
    let input = sct
        .signing_input(&PrecertEntry {
            issuer_key_hash: issuer_key_hash(issuer_spki_der),
            tbs: &tbs,
        })
        .map_err(|e| err(format!("cannot rebuild the signed data: {e}")))?;
    verify_log_signature(&log.key_details, &log.spki, &input, &sct.signature)
        .map_err(|why| err(format!("{why} under CT log {}", hex::encode(sct.log_id))))
}
