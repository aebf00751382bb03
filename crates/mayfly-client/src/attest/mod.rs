//! `mayfly attest`: keyless signing of in-toto attestations against a Mayfly, producing the
//! Sigstore bundle (v0.3) that npm, sigstore-js and sigstore-python verify.
//!
//! The flow is npm's `publish --provenance`, step for step:
//! 1. describe the subject: an npm tarball (`pkg:npm/<name>@<version>` + sha512, with the SLSA
//!    provenance npm builds from the CI environment) or any file (sha256 + a given predicate);
//! 2. find the OIDC token (flag, `SIGSTORE_ID_TOKEN`, GitHub Actions) and pre-check it locally;
//! 3. generate an ephemeral P-256 key in memory and get a certificate for it
//!    (`POST /api/v2/signingCert`, proof of possession over the token's subject);
//! 4. sign the statement as a DSSE envelope and record it in the log
//!    (`POST /api/v1/log/entries`, dsse 0.0.1);
//! 5. write the bundle.
//!
//! Files: [`token`] (step 2), [`statement`] and [`tarball`] (step 1), [`key`] and [`http`]
//! (steps 3–4), [`bundle`] (step 5), [`env`] (the injectable environment), [`error`].

mod bundle;
mod env;
mod error;
pub(crate) mod http;
mod key;
pub mod statement;
pub mod tarball;
pub mod token;

pub use env::{Env, ProcessEnv};
pub use error::{AttestError, Step};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha512};
use statement::ResourceDescriptor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where to sign and what to write.
#[derive(Debug, Clone)]
pub struct AttestOptions {
    /// The Mayfly base URL; Fulcio and Rekor are both served there.
    pub server: url::Url,
    /// `--identity-token`: takes precedence over every environment source.
    pub identity_token: Option<String>,
    /// `--out`: the bundle path, instead of the subject-derived default.
    pub out: Option<PathBuf>,
}

/// What to attest.
#[derive(Debug, Clone)]
pub enum Subject {
    /// An `npm pack` tarball: npm's provenance statement, bundle `<name>-<version>.sigstore`
    /// beside the tarball.
    NpmTarball(PathBuf),
    /// Any file with a caller-supplied predicate: bundle `<file>.sigstore.json`.
    File {
        path: PathBuf,
        predicate: serde_json::Value,
        predicate_type: String,
    },
}

/// The outcome: the bundle (written, and as JSON), and what it attests.
#[derive(Debug, Clone)]
pub struct Attested {
    pub bundle_path: PathBuf,
    pub bundle: serde_json::Value,
    /// The entry's global index in the transparency log.
    pub log_index: u64,
    /// The leaf certificate the server issued, as PEM.
    pub certificate_pem: String,
    /// The signed in-toto statement.
    pub statement: serde_json::Value,
}

/// Signs `subject` keylessly against `options.server` and writes the bundle.
pub async fn attest(
    subject: Subject,
    options: &AttestOptions,
    env: &dyn Env,
) -> Result<Attested, AttestError> {
    // Local work first, so a bad input or a missing CI variable fails before any token is
    // fetched or any certificate issued.
    let (payload, default_path) = describe(subject, env).await?;
    let bundle_path = options.out.clone().unwrap_or(default_path);

    let client = http::client()?;
    let token = token::acquire(options.identity_token.as_deref(), env, &client, unix_now()).await?;

    let key = key::EphemeralKey::generate()?;
    let proof = key.sign(token.proof_subject.as_bytes())?;
    let chain = http::signing_certificate(
        &client,
        &options.server,
        &token.jwt,
        &key.public_pem(),
        &STANDARD.encode(proof),
    )
    .await?;
    let leaf_der = leaf_for_key(&chain, key.spki_der())?;
    let leaf_pem = mayfly_spec::pem::encode("CERTIFICATE", &leaf_der);

    let signature = key.sign(&mayfly_spec::rekor::pae(
        mayfly_spec::sigstore::bundle_document::INTOTO_PAYLOAD_TYPE,
        &payload,
    ))?;
    let envelope = mayfly_spec::sigstore::bundle_document::Envelope::new(&payload, &signature);
    let envelope_json = serde_json::to_string(&envelope)
        .map_err(|e| AttestError::InvalidInput(format!("serialising the envelope: {e}")))?;
    let entry = http::create_dsse_entry(
        &client,
        &options.server,
        &envelope_json,
        &STANDARD.encode(&leaf_pem),
    )
    .await?;
    let log_index = entry.log_index;

    let bundle = bundle::assemble(&leaf_der, envelope, &payload, entry)?;
    // Compact, as npm writes it (`JSON.stringify(bundle)`).
    let text = serde_json::to_string(&bundle)
        .map_err(|e| AttestError::InvalidInput(format!("serialising the bundle: {e}")))?;
    write_file(&bundle_path, text.as_bytes()).await?;

    Ok(Attested {
        bundle_path,
        bundle: serde_json::from_str(&text)
            .map_err(|e| AttestError::InvalidInput(format!("re-reading the bundle: {e}")))?,
        log_index,
        certificate_pem: leaf_pem,
        statement: serde_json::from_slice(&payload)
            .map_err(|e| AttestError::InvalidInput(format!("re-reading the statement: {e}")))?,
    })
}

/// The statement payload and the default bundle path for `subject`.
async fn describe(subject: Subject, env: &dyn Env) -> Result<(Vec<u8>, PathBuf), AttestError> {
    match subject {
        Subject::NpmTarball(path) => {
            let bytes = read(&path).await?;
            // Decompressing and hashing a tarball is CPU work; keep it off the async workers.
            let parsed = tokio::task::spawn_blocking(move || {
                let package = tarball::read_package(&bytes);
                (package, hex::encode(Sha512::digest(&bytes)))
            })
            .await
            .map_err(|e| AttestError::InvalidInput(format!("reading the tarball: {e}")))?;
            let package = parsed.0.map_err(|reason| AttestError::Tarball {
                path: path.clone(),
                reason,
            })?;
            let subject = ResourceDescriptor {
                name: package.purl(),
                digest: BTreeMap::from([("sha512", parsed.1)]),
            };
            let payload = statement::npm_provenance(subject, env)?;
            Ok((payload, sibling(&path, &package.bundle_file_name())))
        }
        Subject::File {
            path,
            predicate,
            predicate_type,
        } => {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    AttestError::InvalidInput(format!(
                        "{}: the subject needs a UTF-8 file name",
                        path.display()
                    ))
                })?
                .to_owned();
            let bytes = read(&path).await?;
            let digest = hex::encode(Sha256::digest(&bytes));
            let subject = ResourceDescriptor {
                name: name.clone(),
                digest: BTreeMap::from([("sha256", digest)]),
            };
            let payload = statement::general(subject, &predicate_type, &predicate)?;
            Ok((payload, sibling(&path, &format!("{name}.sigstore.json"))))
        }
    }
}

/// The first certificate of the chain, as DER, provided it certifies our key. A certificate
/// for any other key would make a bundle that can never verify, so it is refused here.
fn leaf_for_key(chain: &[String], spki_der: &[u8]) -> Result<Vec<u8>, AttestError> {
    let bad = |reason: &str| AttestError::BadResponse {
        step: Step::SigningCertificate,
        reason: reason.to_owned(),
    };
    let pem = chain
        .first()
        .ok_or_else(|| bad("empty certificate chain"))?;
    let der = mayfly_spec::pem::decode_label(pem.as_bytes(), "CERTIFICATE")
        .map_err(|_| bad("the leaf is not a PEM certificate"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| bad("the leaf certificate does not parse"))?;
    if cert.public_key().raw != spki_der {
        return Err(bad("the issued certificate is not for our public key"));
    }
    Ok(der)
}

/// `name` in the directory of `path` (the current directory for a bare file name).
fn sibling(path: &Path, name: &str) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

async fn read(path: &Path) -> Result<Vec<u8>, AttestError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| AttestError::Read {
            path: path.to_owned(),
            source,
        })
}

/// Writes through a temporary file in the same directory and renames, so a crash never
/// leaves a truncated bundle where a verifier or `npm publish` would pick it up.
async fn write_file(path: &Path, contents: &[u8]) -> Result<(), AttestError> {
    let path = path.to_owned();
    let contents = contents.to_vec();
    let target = path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&contents)?;
        // A bundle is public material: readable like any other build output, not owner-only
        // as temporary files are created.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        file.as_file().sync_all()?;
        file.persist(&target).map_err(|e| e.error)?;
        Ok(())
    })
    .await
    .map_err(|e| AttestError::Write {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|source| AttestError::Write { path, source })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
