//! The signature itself, under the leaf's key (rekor-bundle-npm.md §7.1 step 5, §7.2 step 6),
//! and the artifact binding: for a message signature the artifact's digest must be the logged
//! one; for DSSE the payload is an in-toto statement whose subject must name the artifact when
//! one is given (what `cosign verify-blob-attestation` and `npm audit signatures` do).
//!
//! Key parsing and the (key, hash) → algorithm table are the Rekor entry verifier's
//! ([`mayfly_spec::rekor::Verifier`]): the same key policy the CA issues under.

use super::body::SignedDigest;
use super::error::VerifyError;
use super::keys::SignerKey;
use super::{Artifact, HashAlgorithm};
use mayfly_spec::rekor::{DigestAlg, Verifier, pae};
use serde_json::Value;
use sha2::Digest as _;

/// The in-toto payload type: the only DSSE payload we read as a statement.
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";

impl HashAlgorithm {
    fn rekor(self) -> DigestAlg {
        match self {
            Self::Sha256 => DigestAlg::Sha256,
            Self::Sha384 => DigestAlg::Sha384,
            Self::Sha512 => DigestAlg::Sha512,
        }
    }

    fn from_rekor(alg: DigestAlg) -> Self {
        match alg {
            DigestAlg::Sha256 => Self::Sha256,
            DigestAlg::Sha384 => Self::Sha384,
            DigestAlg::Sha512 => Self::Sha512,
        }
    }

    /// The lowercase name used in hashedrekord bodies and in-toto digest sets.
    pub fn name(self) -> &'static str {
        self.rekor().name()
    }

    pub(crate) fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(bytes).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
        }
    }
}

fn signer_key(signer: SignerKey<'_>) -> Result<Verifier, VerifyError> {
    let field = match signer {
        SignerKey::Certificate(_) => "certificate",
        SignerKey::PublicKey(_) => "public key",
    };
    Verifier::from_pem(field, signer.pem().as_bytes())
        .map_err(|e| VerifyError::Signature(format!("unusable {field}: {e}")))
}

/// hashedrekord: the artifact hashes to the logged digest, and the signature verifies over it.
pub(crate) fn verify_message(
    signer: SignerKey<'_>,
    logged: &SignedDigest,
    signature: &[u8],
    artifact: Option<&Artifact>,
) -> Result<(), VerifyError> {
    let alg = DigestAlg::parse(&logged.algorithm).ok_or_else(|| {
        VerifyError::Body(format!(
            "unsupported digest algorithm {:?}",
            logged.algorithm
        ))
    })?;
    let artifact_digest = match artifact {
        None => {
            return Err(VerifyError::Artifact(
                "a message-signature bundle can only be verified against the artifact".into(),
            ));
        }
        Some(Artifact::Bytes(bytes)) => HashAlgorithm::from_rekor(alg).digest(bytes),
        Some(Artifact::Digest { algorithm, digest }) => {
            if algorithm.rekor() != alg {
                return Err(VerifyError::Artifact(format!(
                    "artifact digest is {}, the entry signs a {} digest",
                    algorithm.name(),
                    alg.name()
                )));
            }
            digest.clone()
        }
    };
    if artifact_digest != logged.digest {
        return Err(VerifyError::Artifact(format!(
            "{} digest {} does not match the signed digest {}",
            alg.name(),
            hex::encode(&artifact_digest),
            hex::encode(&logged.digest)
        )));
    }
    signer_key(signer)?
        .verify_prehashed(alg, &logged.digest, signature)
        .map_err(|_| VerifyError::Signature("does not verify over the artifact digest".into()))
}

/// dsse/intoto: the signature verifies over the PAE; returns the statement for in-toto payloads
/// and checks it names the artifact, if one is given.
pub(crate) fn verify_dsse(
    signer: SignerKey<'_>,
    payload_type: &str,
    payload: &[u8],
    signature: &[u8],
    artifact: Option<&Artifact>,
) -> Result<Option<Value>, VerifyError> {
    if !signer_key(signer)?.verify_message(&pae(payload_type, payload), signature) {
        return Err(VerifyError::Signature(
            "DSSE signature does not verify over the PAE".into(),
        ));
    }
    if payload_type != IN_TOTO {
        return match artifact {
            Some(_) => Err(VerifyError::Artifact(format!(
                "payload type {payload_type:?} is not an in-toto statement naming an artifact"
            ))),
            None => Ok(None),
        };
    }
    let statement: Value = serde_json::from_slice(payload)
        .map_err(|e| VerifyError::Bundle(format!("in-toto payload is not JSON: {e}")))?;
    if let Some(artifact) = artifact {
        let (name, digest) = match artifact {
            Artifact::Bytes(b) => ("sha256", HashAlgorithm::Sha256.digest(b)),
            Artifact::Digest { algorithm, digest } => (algorithm.name(), digest.clone()),
        };
        let want = hex::encode(digest);
        let subjects = statement.get("subject").and_then(Value::as_array);
        let named = subjects.is_some_and(|s| {
            s.iter().any(|s| {
                s.get("digest")
                    .and_then(|d| d.get(name))
                    .and_then(Value::as_str)
                    == Some(want.as_str())
            })
        });
        if !named {
            return Err(VerifyError::Artifact(format!(
                "no statement subject has {name} digest {want}"
            )));
        }
    }
    Ok(Some(statement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    /// A self-signed P-256 certificate and a signer for its key.
    fn leaf() -> Result<(Vec<u8>, EcdsaKeyPair), Box<dyn std::error::Error>> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())?;
        let key = rcgen::KeyPair::try_from(pkcs8.as_ref())?;
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())?.self_signed(&key)?;
        let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())?;
        Ok((cert.der().to_vec(), signer))
    }

    #[test]
    fn message_signature_needs_the_artifact_and_the_key() -> Result<(), Box<dyn std::error::Error>>
    {
        let (der, signer) = leaf()?;
        let artifact = Artifact::Bytes(b"artifact".to_vec());
        let logged = SignedDigest {
            algorithm: "sha256".into(),
            digest: HashAlgorithm::Sha256.digest(b"artifact"),
        };
        let sig = signer
            .sign(&SystemRandom::new(), b"artifact")?
            .as_ref()
            .to_vec();
        assert_eq!(
            verify_message(SignerKey::Certificate(&der), &logged, &sig, Some(&artifact)),
            Ok(())
        );
        let other = Artifact::Bytes(b"artefact".to_vec());
        assert!(matches!(
            verify_message(SignerKey::Certificate(&der), &logged, &sig, Some(&other)),
            Err(VerifyError::Artifact(_))
        ));
        assert!(matches!(
            verify_message(SignerKey::Certificate(&der), &logged, &sig, None),
            Err(VerifyError::Artifact(_))
        ));
        let mut bad = sig.clone();
        if let Some(b) = bad.last_mut() {
            *b ^= 1;
        }
        assert!(matches!(
            verify_message(SignerKey::Certificate(&der), &logged, &bad, Some(&artifact)),
            Err(VerifyError::Signature(_))
        ));
        Ok(())
    }

    #[test]
    fn dsse_signature_covers_the_pae_and_subject_names_the_artifact()
    -> Result<(), Box<dyn std::error::Error>> {
        let (der, signer) = leaf()?;
        let digest = HashAlgorithm::Sha256.digest(b"artifact");
        let payload = serde_json::to_vec(
            &serde_json::json!({"subject": [{"name": "a", "digest": {"sha256": hex::encode(&digest)}}]}),
        )?;
        let sig = signer
            .sign(&SystemRandom::new(), &pae(IN_TOTO, &payload))?
            .as_ref()
            .to_vec();
        let artifact = Artifact::Bytes(b"artifact".to_vec());
        assert!(
            verify_dsse(
                SignerKey::Certificate(&der),
                IN_TOTO,
                &payload,
                &sig,
                Some(&artifact)
            )?
            .is_some()
        );
        let other = Artifact::Bytes(b"other".to_vec());
        assert!(matches!(
            verify_dsse(
                SignerKey::Certificate(&der),
                IN_TOTO,
                &payload,
                &sig,
                Some(&other)
            ),
            Err(VerifyError::Artifact(_))
        ));
        // The payload type is part of what is signed.
        assert!(matches!(
            verify_dsse(
                SignerKey::Certificate(&der),
                "text/plain",
                &payload,
                &sig,
                None
            ),
            Err(VerifyError::Signature(_))
        ));
        Ok(())
    }
}
