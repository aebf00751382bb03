//! The `attest` and `verify` subcommands behind the command line: read the files the flags
//! name, call the library, print what a person needs. `main.rs` only parses.

use crate::attest::{self, AttestError, AttestOptions, ProcessEnv, Subject};
use crate::verify::{
    Artifact, ExtensionField, HashAlgorithm, IdentityMatcher, Policy, Verified, VerifyError,
    verify_bundle, verify_bundle_with_key, verify_npm,
};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Attest(#[from] AttestError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// Who must have signed, as the flags say it.
pub struct IdentityFlags {
    pub cert_identity: Option<String>,
    pub cert_identity_regexp: Option<String>,
    pub cert_oidc_issuer: Option<String>,
}

impl IdentityFlags {
    /// The policy, or `None` when no flag was given (allowed only for `verify npm`).
    fn policy(self) -> Result<Option<Policy>, CommandError> {
        let identity = match (self.cert_identity, self.cert_identity_regexp) {
            (Some(exact), None) => Some(IdentityMatcher::Exact(exact)),
            (None, Some(regex)) => Some(IdentityMatcher::Regex(regex)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(usage(
                    "give --cert-identity or --cert-identity-regexp, not both",
                ));
            }
        };
        match (identity, self.cert_oidc_issuer) {
            (Some(identity), Some(issuer)) => Ok(Some(Policy { identity, issuer })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(usage("--cert-oidc-issuer is required with an identity")),
            (None, Some(_)) => Err(usage(
                "--cert-identity or --cert-identity-regexp is required with --cert-oidc-issuer",
            )),
        }
    }
}

fn usage(message: &str) -> CommandError {
    CommandError::Usage(message.to_owned())
}

fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    std::fs::read(path).map_err(|source| CommandError::Read {
        path: path.to_owned(),
        source,
    })
}

/// `mayfly verify <bundle> (--artifact FILE | --digest ALG:HEX) --trusted-root FILE
/// (identity | --key PUBLIC_KEY.pem)`
pub fn verify(
    bundle: &Path,
    artifact: Option<&Path>,
    digest: Option<&str>,
    trusted_root: &Path,
    identity: IdentityFlags,
    key: Option<&Path>,
) -> Result<Verified, CommandError> {
    let policy = identity.policy()?;
    let artifact = match (artifact, digest) {
        (Some(path), None) => Some(Artifact::Bytes(read(path)?)),
        (None, Some(digest)) => Some(parse_digest(digest)?),
        (None, None) => None,
        (Some(_), Some(_)) => return Err(usage("give --artifact or --digest, not both")),
    };
    let (bundle, trusted_root) = (read(bundle)?, read(trusted_root)?);
    match (policy, key) {
        (Some(policy), None) => Ok(verify_bundle(
            &bundle,
            artifact.as_ref(),
            &trusted_root,
            &policy,
        )?),
        (None, Some(key)) => Ok(verify_bundle_with_key(
            &bundle,
            artifact.as_ref(),
            &trusted_root,
            &read(key)?,
        )?),
        (None, None) => Err(usage(
            "--cert-identity (or --cert-identity-regexp) and --cert-oidc-issuer are required \
             (or --key for a bundle signed with a managed key)",
        )),
        (Some(_), Some(_)) => Err(usage("give an identity or --key, not both")),
    }
}

/// `mayfly verify npm <tarball> <bundle> --trusted-root FILE [identity]`
pub fn verify_npm_tarball(
    tarball: &Path,
    bundle: &Path,
    trusted_root: &Path,
    identity: IdentityFlags,
) -> Result<Verified, CommandError> {
    let policy = identity.policy()?;
    Ok(verify_npm(
        &read(tarball)?,
        &read(bundle)?,
        &read(trusted_root)?,
        policy.as_ref(),
    )?)
}

/// `sha256:HEX` (also sha384, sha512).
fn parse_digest(text: &str) -> Result<Artifact, CommandError> {
    let bad = || usage("--digest must look like sha256:<hex> (or sha384:, sha512:)");
    let (name, hex_digest) = text.split_once(':').ok_or_else(bad)?;
    let (algorithm, len) = match name {
        "sha256" => (HashAlgorithm::Sha256, 32),
        "sha384" => (HashAlgorithm::Sha384, 48),
        "sha512" => (HashAlgorithm::Sha512, 64),
        _ => return Err(bad()),
    };
    let digest = hex::decode(hex_digest).map_err(|_| bad())?;
    if digest.len() != len {
        return Err(bad());
    }
    Ok(Artifact::Digest { algorithm, digest })
}

/// A short report of a verified bundle, for the terminal.
pub fn describe(verified: &Verified) -> String {
    let mut out = format!(
        "verified {} entry {} (signed at Unix time {})\n",
        verified.kind, verified.log_index, verified.integrated_time
    );
    match &verified.public_key {
        Some(spki) => {
            use sha2::Digest as _;
            out.push_str(&format!(
                "  key       SHA256:{}\n",
                hex::encode(sha2::Sha256::digest(spki))
            ));
        }
        None => out.push_str(&format!(
            "  identity  {}\n  issuer    {}\n",
            verified.san, verified.issuer
        )),
    }
    for (field, label) in [
        (ExtensionField::SourceRepositoryUri, "source"),
        (ExtensionField::SourceRepositoryRef, "ref"),
        (ExtensionField::SourceRepositoryDigest, "commit"),
        (ExtensionField::RunnerEnvironment, "runner"),
    ] {
        if let Some(value) = verified.extension(field) {
            out.push_str(&format!("  {label:<9} {value}\n"));
        }
    }
    if let Some(subject) = verified
        .statement
        .as_ref()
        .and_then(|s| s["subject"][0]["name"].as_str())
    {
        out.push_str(&format!("  subject   {subject}\n"));
    }
    out
}

/// `mayfly attest npm <tarball>` / `mayfly attest <file> --predicate … --predicate-type …`,
/// with the process environment as the CI context.
pub async fn attest(
    subject: AttestSubject,
    server: url::Url,
    identity_token: Option<String>,
    out: Option<PathBuf>,
) -> Result<attest::Attested, CommandError> {
    let subject = match subject {
        AttestSubject::Npm(tarball) => Subject::NpmTarball(tarball),
        AttestSubject::File {
            path,
            predicate,
            predicate_type,
        } => {
            let text = read(&predicate)?;
            let predicate = serde_json::from_slice(&text).map_err(|e| {
                CommandError::Usage(format!(
                    "--predicate {} is not JSON: {e}",
                    predicate.display()
                ))
            })?;
            Subject::File {
                path,
                predicate,
                predicate_type,
            }
        }
    };
    let options = AttestOptions {
        server,
        identity_token,
        out,
    };
    Ok(attest::attest(subject, &options, &ProcessEnv).await?)
}

/// `mayfly audit search --server URL [filters] [--json] [--trusted-root FILE]`: what to print
/// (a table, or the verified answers as a JSON array). Nothing is returned unless every answer
/// verified.
pub async fn audit_search(
    server: url::Url,
    filters: Vec<(String, String)>,
    max: usize,
    trusted_root: Option<&Path>,
    json: bool,
) -> Result<String, CommandError> {
    if max == 0 {
        return Err(usage("--limit must be at least 1"));
    }
    let options = crate::audit::SearchOptions {
        server,
        filters,
        max,
        trusted_root: trusted_root.map(read).transpose()?,
    };
    let found = crate::audit::search(&options).await?;
    if json {
        let mut text = serde_json::to_string_pretty(&found)
            .map_err(|e| CommandError::Usage(format!("cannot write JSON: {e}")))?;
        text.push('\n');
        return Ok(text);
    }
    Ok(crate::audit::table(&found))
}

/// What `mayfly attest` signs.
pub enum AttestSubject {
    Npm(PathBuf),
    File {
        path: PathBuf,
        predicate: PathBuf,
        predicate_type: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_strictly() {
        assert!(matches!(
            parse_digest(&format!("sha256:{}", "ab".repeat(32))),
            Ok(Artifact::Digest { digest, .. }) if digest.len() == 32
        ));
        for bad in [
            "sha256:abc",
            "md5:00",
            "ab".repeat(32).as_str(),
            "sha512:zz",
        ] {
            assert!(parse_digest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_flags_must_come_together() {
        let flags = |id: Option<&str>, re: Option<&str>, iss: Option<&str>| IdentityFlags {
            cert_identity: id.map(str::to_owned),
            cert_identity_regexp: re.map(str::to_owned),
            cert_oidc_issuer: iss.map(str::to_owned),
        };
        assert!(
            flags(Some("a"), None, Some("i"))
                .policy()
                .unwrap()
                .is_some()
        );
        assert!(flags(None, None, None).policy().unwrap().is_none());
        assert!(flags(Some("a"), Some("b"), Some("i")).policy().is_err());
        assert!(flags(Some("a"), None, None).policy().is_err());
        assert!(flags(None, None, Some("i")).policy().is_err());
    }
}

/// Why a health check failed: the server could not be reached, or it said it is unhealthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}: {body}")]
    Unhealthy {
        url: String,
        status: u16,
        body: String,
    },
}

/// Asks a server's `/healthz` (the container image's HEALTHCHECK): `Ok` with its answer on
/// 200, an error saying what it answered otherwise. Bounded at 3 s, as a probe must be.
pub async fn health(url: &str) -> Result<String, HealthError> {
    let unreachable = |reason: String| HealthError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let client = crate::net::https_client("mayfly-health").map_err(unreachable)?;
    let response = client
        .get(url)
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let body = body.trim().chars().take(300).collect();
    if status == 200 {
        Ok(body)
    } else {
        Err(HealthError::Unhealthy {
            url: url.to_owned(),
            status,
            body,
        })
    }
}
