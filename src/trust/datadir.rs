//! `mayfly trust`: the `/trust/*` documents of a data dir, without starting the server.
//!
//! Reads the CA certificates (`ca/*.pem`) and the two log keys (`keys/*-log.key.pem`, from
//! which only the public halves are used). Needs a file-backed CA: an ephemeral one leaves
//! nothing to read, and could not be trusted beyond one run anyway.

use super::{TrustDocuments, TrustError, TrustInputs, dev_issuer_url};
use crate::ca::setup::{INTERMEDIATE_CERT, ROOT_CERT};
use crate::log::key::LogKey;
use crate::server::{ARTIFACTS_KEY, ISSUANCE_KEY};
use std::path::{Path, PathBuf};

/// Builds the documents a server on `data_dir` with this public URL serves. `dev_issuer`
/// mirrors `serve --dev-issuer`, which adds the built-in issuer to `oidcUrls`.
pub fn from_data_dir(
    data_dir: &Path,
    public_url: &url::Url,
    dev_issuer: bool,
) -> Result<TrustDocuments, TrustError> {
    let root = read_cert(&data_dir.join(ROOT_CERT))?;
    let intermediate = read_cert(&data_dir.join(INTERMEDIATE_CERT))?;
    let artifacts = read_key(&data_dir.join(ARTIFACTS_KEY))?;
    let issuance = read_key(&data_dir.join(ISSUANCE_KEY))?;
    let dev = dev_issuer.then(|| dev_issuer_url(public_url));
    TrustDocuments::build(&TrustInputs {
        public_url,
        ca_root_der: &root,
        ca_intermediate_der: &intermediate,
        artifact_log_spki: artifacts.spki_der(),
        issuance_log_spki: issuance.spki_der(),
        oidc_issuer: dev.as_deref(),
    })
}

/// Writes the three files into `out` (created if missing, existing files replaced: they are
/// derived data) and returns their paths.
pub fn write_files(documents: &TrustDocuments, out: &Path) -> Result<Vec<PathBuf>, TrustError> {
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| TrustError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(write_err(out))?;
    let mut written = Vec::new();
    for (name, bytes) in documents.files() {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(write_err(&path))?;
        written.push(path);
    }
    Ok(written)
}

fn read_cert(path: &Path) -> Result<Vec<u8>, TrustError> {
    let read_err = |reason: String| TrustError::Read {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        read_err(format!(
            "{e} (is this a data dir with a file-backed CA, as `serve --ca file` creates?)"
        ))
    })?;
    pkcs8::der::pem::decode_vec(text.as_bytes())
        .ok()
        .filter(|(label, _)| *label == "CERTIFICATE")
        .map(|(_, der)| der)
        .ok_or_else(|| read_err("not a PEM CERTIFICATE".to_owned()))
}

fn read_key(path: &Path) -> Result<LogKey, TrustError> {
    LogKey::read(path).map_err(|e| TrustError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
