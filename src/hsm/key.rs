//! A P-256 private key that stays on the token, and creating one.

use crate::hsm::ec::{P256_PARAMS, curve_name, parse_ec_point, raw_to_der};
use crate::hsm::error::Pkcs11Error;
use crate::hsm::session::{Pkcs11Session, Token, session_lost};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, RwLock};

/// An ECDSA P-256 key on a PKCS#11 token: signs there, and knows its public key.
///
/// `Send + Sync`: many requests may sign at once; each signature borrows a session from the
/// token's pool.
pub struct Pkcs11Key {
    token: Arc<Token>,
    label: String,
    /// The private key's handle. Token object handles are valid in every session of the
    /// application, but an HSM may hand out new ones after it restarts, so the handle is
    /// looked up again (and checked against the public key) when the old one stops working.
    handle: RwLock<ObjectHandle>,
    verifying: VerifyingKey,
    /// SEC1 uncompressed point: the SPKI BIT STRING contents, as rcgen wants.
    public_raw: Vec<u8>,
    spki_der: Vec<u8>,
    log_id: [u8; 32],
}

/// What the token says about a private key's protection (`CKA_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyProtection {
    pub sensitive: bool,
    pub extractable: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
    /// Whether the token returned `CKA_VALUE` (the private scalar) when asked; must be false.
    pub value_readable: bool,
}

impl KeyProtection {
    /// True when the private key can never have left the token in the clear.
    pub fn is_hardware_bound(&self) -> bool {
        self.sensitive
            && !self.extractable
            && self.always_sensitive
            && self.never_extractable
            && !self.value_readable
    }
}

/// The message signed once when a key is opened, to prove the public key found belongs to
/// the private key before any certificate names it.
const PAIRING_CHECK: &[u8] = b"mayfly-pkcs11 key pairing check";

impl Pkcs11Session {
    /// Finds the private key labelled `label` (`CKA_LABEL`), checks it is a P-256 key that may
    /// sign, finds its public key and proves they are a pair with one test signature.
    pub fn find_key(&self, label: &str) -> Result<Pkcs11Key, Pkcs11Error> {
        let token = &self.token;
        let lease = token.lease()?;
        let handle = find_private(token, &lease, label)?;
        let verifying = inspect(token, &lease, label, handle)?;
        drop(lease);
        Ok(Pkcs11Key::new(Arc::clone(token), label, handle, verifying))
    }

    /// Creates a P-256 key pair labelled `label` on the token: the private key sensitive,
    /// not extractable and for signing only, the public key for verifying. Refuses a label
    /// that a key already has. Backs `mayfly keys create --pkcs11-…`.
    pub fn generate_key(&self, label: &str) -> Result<Pkcs11Key, Pkcs11Error> {
        generate_key(self, label)
    }
}

/// See [`Pkcs11Session::generate_key`].
pub fn generate_key(session: &Pkcs11Session, label: &str) -> Result<Pkcs11Key, Pkcs11Error> {
    if label.is_empty() || label.len() > 128 || label.chars().any(char::is_control) {
        return Err(Pkcs11Error::BadLabel);
    }
    let token = &session.token;
    // A read-write session of its own: pool sessions are read-only, and object creation is
    // rare enough not to need pooling.
    let rw = token.open_session(true)?;
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let existing = rw
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| token.error("C_FindObjects", e))?;
        if !existing.is_empty() {
            return Err(Pkcs11Error::KeyExists {
                label: label.to_owned(),
                token: token.label.clone(),
            });
        }
    }
    // CKA_ID pairs the two halves for tools that match by ID (pkcs11-tool, OpenSSL's
    // pkcs11 provider). It need only be unique, not secret.
    let id = key_id(label);
    let public_template = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ];
    let private_template = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::KeyType(KeyType::EC),
        // Sensitive + not extractable: the token never reveals the scalar, even wrapped; both
        // attributes can only move in the safe direction after creation.
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        // Signing only. SoftHSM2 (and pkcs11-tool's keys on it) would otherwise also allow
        // decrypt, unwrap and derive (ECDH) with the CA key.
        Attribute::Derive(false),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::SignRecover(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    let (public, private) = rw
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &public_template,
            &private_template,
        )
        .map_err(|e| match e {
            Error::Pkcs11(RvError::TokenWriteProtected, _) => Pkcs11Error::TokenReadOnly {
                token: token.label.clone(),
            },
            e => token.error("C_GenerateKeyPair", e),
        })?;
    match inspect(token, &rw, label, private) {
        Ok(verifying) => Ok(Pkcs11Key::new(Arc::clone(token), label, private, verifying)),
        Err(e) => {
            // Leave nothing half-made behind. Best effort: the error that matters is `e`.
            let _ = rw.destroy_object(private);
            let _ = rw.destroy_object(public);
            Err(e)
        }
    }
}

fn key_id(label: &str) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(label.as_bytes());
    hasher.update(nanos.to_be_bytes());
    hasher.update(std::process::id().to_be_bytes());
    hasher.finalize()[..16].to_vec()
}

impl Pkcs11Key {
    fn new(token: Arc<Token>, label: &str, handle: ObjectHandle, verifying: VerifyingKey) -> Self {
        let public_raw = verifying.to_sec1_point(false).as_bytes().to_vec();
        // Encoding a point that parsed as P-256 cannot fail; an empty SPKI would make every
        // verification fail closed.
        let spki_der = verifying
            .to_public_key_der()
            .map(|doc| doc.as_bytes().to_vec())
            .unwrap_or_default();
        let log_id = Sha256::digest(&spki_der).into();
        Pkcs11Key {
            token,
            label: label.to_owned(),
            handle: RwLock::new(handle),
            verifying,
            public_raw,
            spki_der,
            log_id,
        }
    }

    /// The key's `CKA_LABEL`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The label of the token holding the key.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The uncompressed SEC1 point: the SPKI BIT STRING contents (`CaSigner::public_key_raw`).
    pub fn public_key_raw(&self) -> &[u8] {
        &self.public_raw
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// SHA-256 of the DER SPKI: the RFC 6962 / Rekor log ID.
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// For logs and metrics, like `CaSigner::backend`.
    pub fn backend(&self) -> &'static str {
        "pkcs11"
    }

    /// ECDSA P-256 with SHA-256 over `message`: a DER `ECDSA-Sig-Value`.
    ///
    /// The digest is computed here and the token runs plain `CKM_ECDSA`, because every HSM
    /// has that mechanism while `CKM_ECDSA_SHA256` is missing on several, and hashing a
    /// large TBS certificate inside a network HSM costs a round trip per block.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let digest: [u8; 32] = Sha256::digest(message).into();
        let raw = self.sign_digest(&digest)?;
        raw_to_der(&raw).ok_or_else(|| {
            self.sign_error(format!(
                "the token returned a malformed signature ({} bytes, expected r||s of 64)",
                raw.len()
            ))
        })
    }

    fn sign_error(&self, reason: String) -> Pkcs11Error {
        Pkcs11Error::Sign {
            label: self.label.clone(),
            token: self.token.label.clone(),
            reason,
        }
    }

    fn current_handle(&self) -> ObjectHandle {
        // The guarded value is a plain handle; a poisoned lock still holds a valid one.
        *self.handle.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Raw r‖s over a digest. One retry on a fresh session when the session was lost (HSM
    /// restart, idle timeout), or after logging in again and re-finding the handle when the
    /// handle stopped working (a logged-out application sees no private objects; a restarted
    /// HSM may renumber them); any other failure is returned at once.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Pkcs11Error> {
        let mut retried = false;
        loop {
            let lease = self.token.lease()?;
            let rv = match lease.sign(&Mechanism::Ecdsa, self.current_handle(), digest) {
                Ok(raw) => return Ok(raw),
                Err(Error::Pkcs11(rv, _)) if !retried => rv,
                Err(e) => return Err(self.sign_error(e.to_string())),
            };
            retried = true;
            if session_lost(rv) {
                lease.discard();
            } else if matches!(rv, RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid) {
                self.token.ensure_login(&lease)?;
                self.refind(&lease)?;
            } else {
                return Err(self.sign_error(format!("C_Sign: {rv}")));
            }
        }
    }

    /// Looks the private key up again by label and accepts it only if it still pairs with the
    /// public key this key was opened with.
    fn refind(&self, session: &Session) -> Result<(), Pkcs11Error> {
        let handle = find_private(&self.token, session, &self.label)?;
        let verifying = inspect(&self.token, session, &self.label, handle)?;
        if verifying != self.verifying {
            return Err(Pkcs11Error::KeyMismatch {
                label: self.label.clone(),
                token: self.token.label.clone(),
            });
        }
        *self.handle.write().unwrap_or_else(|e| e.into_inner()) = handle;
        Ok(())
    }

    /// Reads the private key's protection attributes from the token.
    pub fn protection(&self) -> Result<KeyProtection, Pkcs11Error> {
        let lease = self.token.lease()?;
        let attributes = lease
            .get_attributes(
                self.current_handle(),
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Value,
                ],
            )
            .map_err(|e| self.token.error("C_GetAttributeValue", e))?;
        // Absent flags read as the unsafe answer, so a token that hides them is not called safe.
        let mut protection = KeyProtection {
            sensitive: false,
            extractable: true,
            always_sensitive: false,
            never_extractable: false,
            value_readable: false,
        };
        for attribute in attributes {
            match attribute {
                Attribute::Sensitive(v) => protection.sensitive = v,
                Attribute::Extractable(v) => protection.extractable = v,
                Attribute::AlwaysSensitive(v) => protection.always_sensitive = v,
                Attribute::NeverExtractable(v) => protection.never_extractable = v,
                // cryptoki drops attributes the token calls sensitive; one that comes back
                // means the scalar was readable.
                Attribute::Value(_) => protection.value_readable = true,
                _ => {}
            }
        }
        Ok(protection)
    }
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("token", &self.token.label)
            .field("label", &self.label)
            .field("log_id", &hex(&self.log_id))
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The one private key labelled `label`.
fn find_private(
    token: &Token,
    session: &Session,
    label: &str,
) -> Result<ObjectHandle, Pkcs11Error> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| token.error("C_FindObjects", e))?;
    match found.as_slice() {
        [handle] => Ok(*handle),
        [] => Err(Pkcs11Error::KeyNotFound {
            label: label.to_owned(),
            token: token.label.clone(),
            available: token.private_key_labels(session)?,
        }),
        many => Err(Pkcs11Error::KeyAmbiguous {
            label: label.to_owned(),
            token: token.label.clone(),
            count: many.len(),
        }),
    }
}

/// Checks that the private key is a P-256 key that may sign, finds its public key, and
/// proves the pair with one signature.
fn inspect(
    token: &Token,
    session: &Session,
    label: &str,
    private: ObjectHandle,
) -> Result<VerifyingKey, Pkcs11Error> {
    let get = |handle, types: &[AttributeType]| {
        session
            .get_attributes(handle, types)
            .map_err(|e| token.error("C_GetAttributeValue", e))
    };
    let not_p256 = |found: String| Pkcs11Error::NotP256 {
        label: label.to_owned(),
        token: token.label.clone(),
        found,
    };

    let (mut key_type, mut params, mut id, mut can_sign, mut spki) = (None, None, None, None, None);
    for attribute in get(
        private,
        &[
            AttributeType::KeyType,
            AttributeType::EcParams,
            AttributeType::Id,
            AttributeType::Sign,
            AttributeType::PublicKeyInfo,
        ],
    )? {
        match attribute {
            Attribute::KeyType(v) => key_type = Some(v),
            Attribute::EcParams(v) => params = Some(v),
            Attribute::Id(v) => id = Some(v),
            Attribute::Sign(v) => can_sign = Some(v),
            Attribute::PublicKeyInfo(v) if !v.is_empty() => spki = Some(v),
            _ => {}
        }
    }
    match key_type {
        Some(KeyType::EC) => {}
        Some(KeyType::RSA) => return Err(not_p256("an RSA key".to_owned())),
        Some(KeyType::EC_EDWARDS) => return Err(not_p256("an EdDSA (Edwards curve) key".into())),
        Some(other) => return Err(not_p256(format!("a key of type {other}"))),
        None => return Err(not_p256("a key of unknown type".to_owned())),
    }
    // Some tokens keep the curve on the public object only; then it is checked there.
    if let Some(params) = &params
        && params.as_slice() != P256_PARAMS
    {
        return Err(not_p256(curve_name(params)));
    }
    if can_sign == Some(false) {
        return Err(Pkcs11Error::CannotSign {
            label: label.to_owned(),
            token: token.label.clone(),
        });
    }

    // Candidates for the public half: same CKA_ID first (the PKCS#11 convention), then same
    // label. Several are possible on a messy token; the test signature picks the right one.
    let mut candidates = Vec::new();
    let mut templates = Vec::new();
    if let Some(id) = id.filter(|id| !id.is_empty()) {
        templates.push(vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(id),
        ]);
    }
    templates.push(vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ]);
    for template in &templates {
        for handle in session
            .find_objects(template)
            .map_err(|e| token.error("C_FindObjects", e))?
        {
            if !candidates.contains(&handle) {
                candidates.push(handle);
            }
        }
    }
    let had_candidates = !candidates.is_empty();
    let mut publics = Vec::new();
    let mut wrong_curve = None;
    for handle in candidates {
        let (mut point, mut pub_params) = (None, None);
        for attribute in get(handle, &[AttributeType::EcPoint, AttributeType::EcParams])? {
            match attribute {
                Attribute::EcPoint(v) => point = Some(v),
                Attribute::EcParams(v) => pub_params = Some(v),
                _ => {}
            }
        }
        match pub_params {
            Some(p) if p.as_slice() != P256_PARAMS => wrong_curve = Some(curve_name(&p)),
            _ => publics.extend(point.as_deref().and_then(parse_ec_point)),
        }
    }
    if publics.is_empty()
        && let Some(spki) = spki
    {
        publics.extend(VerifyingKey::from_public_key_der(&spki).ok());
    }
    if publics.is_empty() {
        // A public half on another curve with no P-256 one means the private key is on that
        // curve too (its own CKA_EC_PARAMS were absent).
        if let Some(found) = wrong_curve {
            return Err(not_p256(found));
        }
        return Err(if !had_candidates {
            Pkcs11Error::PublicKeyMissing {
                label: label.to_owned(),
                token: token.label.clone(),
            }
        } else {
            Pkcs11Error::PublicKeyInvalid {
                label: label.to_owned(),
                token: token.label.clone(),
            }
        });
    }

    let digest: [u8; 32] = Sha256::digest(PAIRING_CHECK).into();
    let raw = session
        .sign(&Mechanism::Ecdsa, private, &digest)
        .map_err(|e| Pkcs11Error::Sign {
            label: label.to_owned(),
            token: token.label.clone(),
            reason: e.to_string(),
        })?;
    let signature = Signature::from_slice(&raw).map_err(|_| Pkcs11Error::Sign {
        label: label.to_owned(),
        token: token.label.clone(),
        reason: format!(
            "the token returned a malformed signature ({} bytes)",
            raw.len()
        ),
    })?;
    publics
        .into_iter()
        .find(|public| public.verify_prehash(&digest, &signature).is_ok())
        .ok_or_else(|| Pkcs11Error::KeyMismatch {
            label: label.to_owned(),
            token: token.label.clone(),
        })
}
