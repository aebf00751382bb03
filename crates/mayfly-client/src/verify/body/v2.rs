//! Rekor v2 bodies (rekor-tiles `Entry` in protobuf JSON): hashedrekord 0.0.2 and dsse 0.0.2.
//! Digests and signatures are base64 bytes, hash algorithms protobuf names, and the verifier is
//! `{x509Certificate: {rawBytes}}` or `{publicKey: {rawBytes}}` (DER), which must be exactly
//! the bundle's signer (sigstore-python `_validate_hashedrekord_v002_entry_body`).

use super::{SignedDigest, err};
use crate::verify::keys::SignerKey;
use mayfly_spec::rekor::pae;
use mayfly_spec::sigstore::bundle::Content;
use mayfly_spec::sigstore::json::{self, Obj};
use sha2::{Digest as _, Sha256};

use crate::verify::error::VerifyError;

/// hashedrekord 0.0.2: a message signature, or a DSSE envelope logged as a hashedrekord over
/// its PAE (how sigstore-python ≥ 4.3 and Rekor v2 ≥ 2.3 log DSSE). Returns the logged digest
/// for a message signature, `None` for DSSE (whose signature is then checked over the PAE).
pub(super) fn hashedrekord(
    spec: &Obj,
    content: &Content,
    signer: SignerKey<'_>,
) -> Result<Option<SignedDigest>, VerifyError> {
    let at = "spec.hashedRekordV002";
    let body = json::obj(spec, "spec", "hashedRekordV002").map_err(err)?;
    let data = json::obj(body, at, "data").map_err(err)?;
    let algorithm = digest_name(json::string(data, "data", "algorithm").map_err(err)?)?;
    let digest = json::bytes(data, "data", "digest").map_err(err)?;
    let sig = json::obj(body, at, "signature").map_err(err)?;
    let logged_signature = json::bytes(sig, "signature", "content").map_err(err)?;
    check_verifier(
        json::obj(sig, "signature", "verifier").map_err(err)?,
        signer,
    )?;
    match content {
        Content::Message {
            digest: bundle_digest,
            signature,
        } => {
            if let Some((alg, d)) = bundle_digest
                && (alg != algorithm || *d != digest)
            {
                return Err(err("logged digest differs from the bundle's messageDigest"));
            }
            if logged_signature != *signature {
                return Err(err("logged signature differs from the bundle's signature"));
            }
            Ok(Some(SignedDigest {
                algorithm: algorithm.to_owned(),
                digest,
            }))
        }
        Content::Dsse {
            payload_type,
            payload,
            signature,
        } => {
            if algorithm != "sha256"
                || digest != Sha256::digest(pae(payload_type, payload)).as_slice()
            {
                return Err(err("logged digest is not SHA-256 of the envelope's PAE"));
            }
            if logged_signature != *signature {
                return Err(err(
                    "logged signature differs from the envelope's signature",
                ));
            }
            Ok(None)
        }
    }
}

/// dsse 0.0.2: the payload hash and the one signature with its verifier.
pub(super) fn dsse(
    spec: &Obj,
    payload: &[u8],
    signature: &[u8],
    signer: SignerKey<'_>,
) -> Result<(), VerifyError> {
    let at = "spec.dsseV002";
    let body = json::obj(spec, "spec", "dsseV002").map_err(err)?;
    let hash = json::obj(body, at, "payloadHash").map_err(err)?;
    if digest_name(json::string(hash, "payloadHash", "algorithm").map_err(err)?)? != "sha256"
        || json::bytes(hash, "payloadHash", "digest").map_err(err)?
            != Sha256::digest(payload).as_slice()
    {
        return Err(err(
            "logged payloadHash is not SHA-256 of the bundle's payload",
        ));
    }
    let sigs = json::array(body, at, "signatures").map_err(err)?;
    let [only] = sigs else {
        return Err(err(format!(
            "expected one logged signature, found {}",
            sigs.len()
        )));
    };
    let only = json::as_obj(only, "signatures[0]").map_err(err)?;
    if json::bytes(only, "signatures[0]", "content").map_err(err)? != signature {
        return Err(err("logged signature differs from the bundle's signature"));
    }
    check_verifier(
        json::obj(only, "signatures[0]", "verifier").map_err(err)?,
        signer,
    )
}

/// Protobuf `HashAlgorithm` → the lowercase name hashedrekord 0.0.1 and our digests use.
fn digest_name(proto: &str) -> Result<&'static str, VerifyError> {
    match proto {
        "SHA2_256" => Ok("sha256"),
        "SHA2_384" => Ok("sha384"),
        "SHA2_512" => Ok("sha512"),
        other => Err(err(format!(
            "unsupported logged digest algorithm {other:?}"
        ))),
    }
}

/// The logged verifier is the bundle's certificate (DER) or, for a managed key, its SPKI.
fn check_verifier(verifier: &Obj, signer: SignerKey<'_>) -> Result<(), VerifyError> {
    let (field, der) = match signer {
        SignerKey::Certificate(der) => ("x509Certificate", der),
        SignerKey::PublicKey(der) => ("publicKey", der),
    };
    let logged = json::opt_obj(verifier, "verifier", field)
        .map_err(err)?
        .map(|o| json::bytes(o, field, "rawBytes"))
        .transpose()
        .map_err(err)?;
    match logged {
        Some(logged) if logged == der => Ok(()),
        Some(_) => Err(err(format!(
            "logged {field} is not the bundle's {}",
            signer_name(signer)
        ))),
        None => Err(err(format!(
            "logged verifier has no {field} (the bundle is signed by a {})",
            signer_name(signer)
        ))),
    }
}

fn signer_name(signer: SignerKey<'_>) -> &'static str {
    match signer {
        SignerKey::Certificate(_) => "certificate",
        SignerKey::PublicKey(_) => "public key",
    }
}
