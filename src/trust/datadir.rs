//! `mayfly trust`: the `/trust/*` documents of a data dir, without starting the server.
//!
//! Reads the CA certificates of every generation (`ca/*.pem`, `ca/generations.json`) and the
//! log keys (`keys/*-log.key.pem`, from
//! which only the public halves are used). Needs a file-backed CA: an ephemeral one leaves
//! nothing to read, and could not be trusted beyond one run anyway.

use super::{CaGeneration, TrustDocuments, TrustError, TrustInputs};
use crate::ca::setup::stored_generations;
use crate::instance::{DataDir, PublicUrl};
use crate::log::key::{LogKey, read_public_spki};
use std::path::{Path, PathBuf};

/// Builds the documents a server on `data_dir` with this public URL serves. `dev_issuer`
/// mirrors `serve --dev-issuer`, which adds the built-in issuer to `oidcUrls`.
pub fn from_data_dir(
    data_dir: &DataDir,
    public_url: &PublicUrl,
    dev_issuer: bool,
) -> Result<TrustDocuments, TrustError> {
    let stored = stored_generations(data_dir).map_err(|e| TrustError::Read {
        path: data_dir.root().join("ca").display().to_string(),
        reason: format!(
            "{e} (is this a data dir with a file-backed or HSM-backed CA, as `serve` creates?)"
        ),
    })?;
    let generations: Vec<CaGeneration<'_>> = stored
        .iter()
        .map(|g| CaGeneration {
            root_der: &g.root_der,
            intermediate_der: &g.intermediate_der,
            active_from: g.active_from,
        })
        .collect();
    let artifacts = read_spki(
        &data_dir.artifact_log_key(),
        &data_dir.artifact_log_public_key(),
    )?;
    let issuance = read_spki(
        &data_dir.issuance_log_key(),
        &data_dir.issuance_log_public_key(),
    )?;
    // A data dir made before the v2 log existed has no v2 key until its next start.
    let rekor_v2_private = data_dir.rekor_v2_log_key();
    let rekor_v2_public = data_dir.rekor_v2_log_public_key();
    let rekor_v2 = match rekor_v2_private.exists() || rekor_v2_public.exists() {
        true => Some(read_spki(&rekor_v2_private, &rekor_v2_public)?),
        false => None,
    };
    let dev = dev_issuer.then(|| public_url.dev_issuer_url());
    // A data dir made before the TSA existed has none until its next `serve`.
    let tsa = crate::tsa::setup::read_chain(data_dir).map_err(|e| TrustError::Read {
        path: data_dir.tsa_cert().display().to_string(),
        reason: e.to_string(),
    })?;
    TrustDocuments::build(&TrustInputs {
        public_url,
        certificate_authorities: &generations,
        artifact_log_spki: &artifacts,
        issuance_log_spki: &issuance,
        rekor_v2_log_spki: rekor_v2.as_deref(),
        oidc_issuer: dev.as_deref(),
        timestamp_authority: tsa.as_deref(),
    })
}

/// Writes the four files into `out` (created if missing, existing files replaced: they are
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

/// A log's public key: from its private key file, or from the public key file an instance
/// keeps when the key lives in an HSM.
fn read_spki(private: &Path, public: &Path) -> Result<Vec<u8>, TrustError> {
    let read_err = |path: &Path, e: crate::log::key::KeyError| TrustError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if private.exists() {
        LogKey::read(private)
            .map(|key| key.spki_der().to_vec())
            .map_err(|e| read_err(private, e))
    } else {
        read_public_spki(public).map_err(|e| read_err(public, e))
    }
}
