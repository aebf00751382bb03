//! The whole issuance pipeline as one call: token → principal → proof of possession → issue
//! (design.md §1, steps 2–5), in Fulcio's order, so the HTTP layer only decodes requests and
//! encodes answers.
//!
//! Fulcio checks the token before it even parses the key, so a bad key encoding is reported
//! only once the token has passed; [`KeyProof`] therefore carries the request's key material
//! still in its transport encoding. Nothing is written before every check has passed: the
//! issuance log sees a request only in [`CertificateAuthority::issue`].

use crate::ca::issuance::{CaError, CertificateAuthority, IssuedCertificate};
use crate::identity::oidc::{TokenError, TokenVerifier};
use crate::identity::principal::{Principal, PrincipalError, principal};
use crate::identity::san::{self, SanError};
use crate::log::Log;
use crate::storage::Store;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::subject_key::{SubjectKey, SubjectKeyError};

/// How a request proves that it holds the key to certify, as the Fulcio request carries it.
#[derive(Debug, Clone)]
pub enum KeyProof {
    /// A public key (PEM or DER; `None` if its transport encoding was already broken) and the
    /// base64 signature over the token's challenge claim.
    Signature {
        key: Option<Vec<u8>>,
        signature: String,
    },
    /// Base64 of a PEM (or DER) PKCS#10 request, self-signed.
    Csr(String),
}

/// Why a certificate was not issued. Every variant but [`IssueError::Ca`] is the client's
/// doing and left nothing behind.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    /// The identity holds what an X.509 SAN cannot carry.
    #[error(transparent)]
    San(#[from] SanError),
    /// The public key is missing or its transport encoding is broken.
    #[error("the public key is missing or not base64")]
    KeyEncoding,
    /// The proof of possession is not base64.
    #[error("the proof of possession is not base64")]
    ProofEncoding,
    /// The CSR is not base64.
    #[error("the certificate signing request is not base64")]
    CsrEncoding,
    /// The key or CSR is unparseable, refused by the key policy, or its proof does not verify.
    #[error(transparent)]
    Key(#[from] SubjectKeyError),
    /// Signing or logging failed: the server's side.
    #[error(transparent)]
    Ca(#[from] CaError),
}

/// The CA with everything it needs to serve a request.
pub struct Issuer {
    tokens: TokenVerifier,
    ca: CertificateAuthority,
    log: Log<Store>,
}

impl Issuer {
    pub fn new(tokens: TokenVerifier, ca: CertificateAuthority, log: Log<Store>) -> Self {
        Issuer { tokens, ca, log }
    }

    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// Authenticates the token, checks the key and its proof, and issues a certificate whose
    /// precertificate is durable in the issuance log.
    pub async fn issue(&self, token: &str, proof: KeyProof) -> Result<Issued, IssueError> {
        let principal = self.authenticate(token).await?;
        let key = verify_proof(&principal, proof)?;
        let certificate = self.ca.issue(&self.log, &principal, &key).await?;
        tracing::info!(
            log_index = certificate.log_index,
            issuer = %principal.issuer,
            subject = %principal.subject,
            "issued certificate"
        );
        Ok(Issued {
            certificate,
            principal,
        })
    }

    async fn authenticate(&self, token: &str) -> Result<Principal, IssueError> {
        let verified = self.tokens.verify(token).await.inspect_err(|e| {
            tracing::warn!(reason = %e, "identity token rejected");
        })?;
        let mut principal = principal(&verified).inspect_err(|e| {
            tracing::warn!(reason = %e, issuer = %verified.issuer.issuer_url, "identity rejected");
        })?;
        principal.san = san::encodable(principal.san, &verified.claims).inspect_err(|e| {
            tracing::warn!(reason = %e, issuer = %verified.issuer.issuer_url, "identity rejected");
        })?;
        Ok(principal)
    }
}

/// A certificate and whom it was issued to.
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate: IssuedCertificate,
    pub principal: Principal,
}

/// The key the request proved it holds, or why it did not.
fn verify_proof(principal: &Principal, proof: KeyProof) -> Result<SubjectKey, IssueError> {
    match proof {
        KeyProof::Signature { key, signature } => {
            let key = SubjectKey::from_pem_or_der(&key.ok_or(IssueError::KeyEncoding)?)?;
            let signature = STANDARD
                .decode(signature)
                .map_err(|_| IssueError::ProofEncoding)?;
            key.verify_possession(principal.challenge.as_bytes(), &signature)?;
            Ok(key)
        }
        KeyProof::Csr(csr) => {
            let csr = STANDARD.decode(csr).map_err(|_| IssueError::CsrEncoding)?;
            Ok(SubjectKey::from_csr(&csr)?)
        }
    }
}
