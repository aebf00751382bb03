//! An issuer's verification keys and the choice of key for one token.
//!
//! Invariant: a key is only ever used with an algorithm its JWK type fits (RSA ↔ RS*/PS*,
//! EC P-256 ↔ ES256, EC P-384 ↔ ES384, OKP Ed25519 ↔ EdDSA). Symmetric (`oct`) JWKs are dropped
//! when the set is built, so no issuer key can ever act as an HMAC secret.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::error::TokenError;

/// One usable public key.
#[derive(Debug, Clone)]
struct Key {
    kid: Option<String>,
    jwk: Jwk,
    decoding: DecodingKey,
}

/// The usable keys of one issuer.
#[derive(Debug, Clone, Default)]
pub(super) struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// Builds a set from parsed JWKs, keeping only asymmetric signature keys.
    pub(super) fn from_jwks(jwks: &JwkSet) -> Self {
        let keys = jwks.keys.iter().filter_map(usable).collect();
        KeySet { keys }
    }

    /// Parses a JWKS document (`{"keys": [...]}`). Members that do not parse or cannot verify
    /// signatures are skipped, as OIDC libraries do, so one exotic key (say an encryption key)
    /// does not make the issuer unusable. A set without any usable key is an error.
    pub(super) fn from_json(body: &[u8]) -> Result<Self, String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let Some(Value::Array(members)) = doc.get("keys") else {
            return Err("JWKS has no \"keys\" array".to_owned());
        };
        let mut keys = Vec::new();
        for member in members {
            match serde_json::from_value::<Jwk>(member.clone()) {
                Ok(jwk) => keys.extend(usable(&jwk)),
                Err(e) => tracing::debug!(error = %e, "skipping unparseable JWKS member"),
            }
        }
        if keys.is_empty() {
            return Err("JWKS has no usable signature key".to_owned());
        }
        Ok(KeySet { keys })
    }

    /// Whether some key has this `kid`.
    pub(super) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Number of usable keys.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Verifies `signature` over `signing_input` with the key chosen by `kid` (or, without a
    /// `kid`, every key that fits `alg`, as go-oidc does).
    pub(super) fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        alg_name: &str,
        signing_input: &str,
        signature: &str,
    ) -> Result<(), TokenError> {
        let candidates: Vec<&Key> = match kid {
            Some(kid) => {
                let named: Vec<&Key> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if named.is_empty() {
                    return Err(TokenError::UnknownKeyId(kid.to_owned()));
                }
                let fitting: Vec<&Key> = named.into_iter().filter(|k| fits(&k.jwk, alg)).collect();
                if fitting.is_empty() {
                    return Err(TokenError::KeyAlgorithmMismatch {
                        kid: kid.to_owned(),
                        alg: alg_name.to_owned(),
                    });
                }
                fitting
            }
            None => {
                let fitting: Vec<&Key> = self.keys.iter().filter(|k| fits(&k.jwk, alg)).collect();
                if fitting.is_empty() {
                    return Err(TokenError::NoKeyForAlgorithm(alg_name.to_owned()));
                }
                fitting
            }
        };
        for key in candidates {
            match jsonwebtoken::crypto::verify(
                signature,
                signing_input.as_bytes(),
                &key.decoding,
                alg,
            ) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                // A key the crypto backend refuses (e.g. a malformed EC point) simply does not
                // verify; the token is still rejected below.
                Err(e) => tracing::debug!(kid = ?key.kid, error = %e, "key could not verify"),
            }
        }
        Err(TokenError::BadSignature)
    }
}

/// A JWK we may verify with, or `None` (symmetric, encryption-only, or not decodable).
fn usable(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return None;
    }
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        kid: jwk.common.key_id.clone(),
        jwk: jwk.clone(),
        decoding,
    })
}

/// Whether `jwk` may verify `alg`: the key type (and curve) must fit, and a JWK that declares
/// its own `alg` is only used with exactly that algorithm.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let type_fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(p) => matches!(
            (&p.curve, alg),
            (EllipticCurve::P256, Algorithm::ES256) | (EllipticCurve::P384, Algorithm::ES384)
        ),
        AlgorithmParameters::OctetKeyPair(p) => {
            p.curve == EllipticCurve::Ed25519 && alg == Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => false,
    };
    // KeyAlgorithm's Display is its JOSE name (RS256, EdDSA, …), as is Algorithm's Debug.
    let declared_fits = jwk
        .common
        .key_algorithm
        .is_none_or(|declared| declared.to_string() == format!("{alg:?}"));
    type_fits && declared_fits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn symmetric_and_encryption_keys_are_never_usable() {
        let body = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "EC", "crv": "P-256", "use": "enc", "kid": "e",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]});
        let err = KeySet::from_json(body.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("no usable"), "{err}");
    }

    #[test]
    fn key_type_must_fit_the_algorithm() {
        let body = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "p256", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]});
        let set = KeySet::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(matches!(
            set.verify(Some("p256"), Algorithm::ES384, "ES384", "a.b", "c2ln"),
            Err(TokenError::KeyAlgorithmMismatch { .. })
        ));
        assert!(matches!(
            set.verify(Some("p256"), Algorithm::RS256, "RS256", "a.b", "c2ln"),
            Err(TokenError::KeyAlgorithmMismatch { .. })
        ));
        assert!(matches!(
            set.verify(None, Algorithm::RS256, "RS256", "a.b", "c2ln"),
            Err(TokenError::NoKeyForAlgorithm(_))
        ));
        assert!(matches!(
            set.verify(Some("other"), Algorithm::ES256, "ES256", "a.b", "c2ln"),
            Err(TokenError::UnknownKeyId(_))
        ));
        assert!(matches!(
            set.verify(Some("p256"), Algorithm::ES256, "ES256", "a.b", "c2ln"),
            Err(TokenError::BadSignature)
        ));
    }
}
