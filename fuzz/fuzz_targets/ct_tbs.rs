//! The CT walkers (`mayfly_spec::ct`): the TBS an SCT signs, cut out of a precertificate or a
//! final certificate, and SCT lists in their TLS and extension forms.
//!
//! Input: a mode byte, then
//! - mode 0: a precertificate, DER (`precert_signing_tbs`);
//! - mode 1: a final certificate, DER (`final_cert_signing_tbs`);
//! - mode 2: a TLS `SignedCertificateTimestampList` (`parse_sct_list`);
//! - mode 3: the SCT list extension's value, DER OCTET STRING (`parse_sct_list_extension_value`).
//!
//! Beyond "no panic": a signing TBS is one DER SEQUENCE, shorter than the certificate's TBS,
//! and no longer holds the removed extension (removing it again fails); an accepted SCT list
//! re-encodes to exactly the input bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_spec::ct::sct::{POISON_OID, SCT_LIST_OID};
use mayfly_spec::ct::{
    self, final_cert_signing_tbs, precert_signing_tbs, tbs_certificate, without_extension,
};
use mayfly_spec::der;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => signing_tbs(rest, precert_signing_tbs(rest), POISON_OID),
        1 => signing_tbs(rest, final_cert_signing_tbs(rest), SCT_LIST_OID),
        2 => {
            if let Ok(scts) = ct::parse_sct_list(rest) {
                assert!(!scts.is_empty());
                assert_eq!(ct::sct_list(&scts).expect("re-encodes"), rest);
                for sct in &scts {
                    assert_eq!(
                        ct::sct::Sct::parse(&sct.to_bytes().expect("re-encodes")).as_ref(),
                        Ok(sct)
                    );
                }
            }
        }
        _ => {
            if let Ok(scts) = ct::parse_sct_list_extension_value(rest) {
                assert_eq!(
                    ct::sct_list_extension_value(&scts).expect("re-encodes"),
                    rest
                );
            }
        }
    }
});

fn signing_tbs(cert: &[u8], result: Result<Vec<u8>, ct::CtError>, removed: &[u64]) {
    let tbs = match result {
        Ok(tbs) => tbs,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let original = tbs_certificate(cert).expect("the certificate's TBS was read");
    assert!(tbs.len() < original.len());
    der::read_single(&tbs, der::TAG_SEQUENCE, "tbs").expect("the signing TBS is one SEQUENCE");
    assert!(
        without_extension(&tbs, removed).is_err(),
        "the extension is still there"
    );
}
