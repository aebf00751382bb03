//! Issued certificates checked by independent implementations: x509-parser (every extension
//! and general name parsed), webpki (path building for codeSigning) and OpenSSL
//! (`verify -x509_strict`).

use super::pem_ders;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate chain as `signingCert` answers it, leaf first.
pub struct Issued {
    pub leaf: Vec<u8>,
    pub intermediate: Vec<u8>,
    pub root: Vec<u8>,
    pub pems: Vec<String>,
}

pub fn chain_of(body: &Value) -> Issued {
    let pems: Vec<String> = body["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("no embedded-SCT chain in {body}"))
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pems.len(), 3, "leaf, intermediate, root");
    for pem in &pems {
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----\n")
                && pem.ends_with("-----END CERTIFICATE-----\n")
        );
        assert!(
            pem.lines().all(|line| line.len() <= 64),
            "Go-style 64-column PEM"
        );
    }
    let der = |i: usize| pem_ders(&pems[i]).remove(0);
    Issued {
        leaf: der(0),
        intermediate: der(1),
        root: der(2),
        pems,
    }
}

/// Every extension, and every general name of the SAN, parses with x509-parser, whose
/// IA5String refuses non-ASCII (as Go's crypto/x509 does).
pub fn x509_parser_parses(der: &[u8]) {
    let (rest, cert) = X509Certificate::from_der(der).expect("x509-parser parses the leaf");
    assert!(rest.is_empty(), "trailing bytes after the certificate");
    for ext in cert.extensions() {
        assert!(
            !matches!(
                ext.parsed_extension(),
                x509_parser::extensions::ParsedExtension::UnsupportedExtension { .. }
            ) || ext.oid.to_id_string().starts_with("1.3.6.1.4.1.57264.1."),
            "unparsed extension {}",
            ext.oid
        );
    }
    let san = cert
        .subject_alternative_name()
        .expect("the SAN extension parses")
        .expect("a SAN");
    assert_eq!(san.value.general_names.len(), 1);
}

/// `openssl verify -x509_strict` accepts the chain; returns `openssl x509 -text` of the leaf.
pub fn openssl_verify(dir: &Path, issued: &Issued) -> String {
    let [leaf, intermediate, root] =
        ["leaf.pem", "intermediate.pem", "root.pem"].map(|name| dir.join(name));
    std::fs::write(&leaf, &issued.pems[0]).unwrap();
    std::fs::write(&intermediate, &issued.pems[1]).unwrap();
    std::fs::write(&root, &issued.pems[2]).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(&intermediate)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&leaf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&text.stdout).into_owned()
}

pub fn webpki_verifies(issued: &Issued) {
    use rustls::pki_types::{CertificateDer, UnixTime};
    let root = CertificateDer::from(issued.root.clone());
    let anchor = webpki::anchor_from_trusted_cert(&root).unwrap();
    let leaf = CertificateDer::from(issued.leaf.clone());
    let end_entity = webpki::EndEntityCert::try_from(&leaf).unwrap();
    // id-kp-codeSigning, DER contents.
    static CODE_SIGNING: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[CertificateDer::from(issued.intermediate.clone())],
            UnixTime::now(),
            webpki::KeyUsage::required(&CODE_SIGNING),
            None,
            None,
        )
        .expect("webpki builds leaf → intermediate → root for codeSigning");
}
