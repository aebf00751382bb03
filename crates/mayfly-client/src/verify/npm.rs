//! npm provenance (rekor-bundle-npm.md §6.1, §6.4; fulcio.md §2.3).
//!
//! After the bundle itself verifies, two sets of checks bind it to *this* tarball and to the
//! publisher's build:
//! - what `npm audit signatures` (pacote) checks: `subject[0].name` is the package URL
//!   `pkg:npm/<name>@<version>` (scope `@` written `%40`) and `subject[0].digest.sha512` is the
//!   SHA-512 of the tarball; name and version come from the tarball's own `package.json`;
//! - what the public registry checks at publish time (observed 422s): the certificate's runner
//!   environment (`.11`) is `github-hosted`, its source repository URI (`.12`) and ref (`.14`)
//!   are the statement's `externalParameters.workflow.{repository,ref}` and
//!   `resolvedDependencies[0].uri`, its source digest (`.13`) the dependency's `gitCommit`, and
//!   `package.json`'s `repository.url`, if any, names the same repository. Only the GitHub
//!   Actions SLSA v1 shape that npm emits today is understood; anything else is refused rather
//!   than waved through.

use super::error::VerifyError;
use super::{ExtensionField, HashAlgorithm, Verified};
use serde_json::Value;
use std::io::Read;

/// A tarball may not inflate beyond this (a gzip bomb would otherwise be read to the end).
const MAX_UNPACKED: u64 = 1 << 30;
/// `package.json` larger than this is refused unparsed.
const MAX_PACKAGE_JSON: u64 = 1 << 20;

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const GITHUB_WORKFLOW_V1: &str =
    "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";

fn err(m: impl Into<String>) -> VerifyError {
    VerifyError::Npm(m.into())
}

/// What the tarball says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub name: String,
    pub version: String,
    pub repository_url: Option<String>,
}

impl Package {
    /// The package URL as npm writes it in provenance subjects.
    pub(super) fn purl(&self) -> String {
        let name = match self.name.strip_prefix('@') {
            Some(rest) => format!("%40{rest}"),
            None => self.name.clone(),
        };
        format!("pkg:npm/{name}@{}", self.version)
    }
}

/// Reads `<top>/package.json` from a gzipped tar. npm packs under `package/`, but pacote strips
/// whatever the first path component is, so we do too. Two candidates are ambiguous: refused.
pub(crate) fn read_package(tarball: &[u8]) -> Result<Package, VerifyError> {
    let gz = flate2::read::GzDecoder::new(tarball).take(MAX_UNPACKED);
    let mut archive = tar::Archive::new(gz);
    let entries = archive
        .entries()
        .map_err(|e| err(format!("tarball is not a gzipped tar: {e}")))?;
    let mut found: Option<Vec<u8>> = None;
    for entry in entries {
        let entry = entry.map_err(|e| err(format!("tarball is corrupt: {e}")))?;
        let path = entry.path_bytes().into_owned();
        let is_manifest = path
            .iter()
            .position(|&b| b == b'/')
            .and_then(|slash| path.get(slash + 1..))
            .is_some_and(|rest| rest == b"package.json");
        if !is_manifest || !entry.header().entry_type().is_file() {
            continue;
        }
        if found.is_some() {
            return Err(err("tarball holds more than one package.json at its top"));
        }
        let mut text = Vec::new();
        entry
            .take(MAX_PACKAGE_JSON + 1)
            .read_to_end(&mut text)
            .map_err(|e| err(format!("cannot read package.json: {e}")))?;
        if u64::try_from(text.len()).map_or(true, |n| n > MAX_PACKAGE_JSON) {
            return Err(err("package.json is too large"));
        }
        found = Some(text);
    }
    let text = found.ok_or_else(|| err("tarball has no package/package.json"))?;
    let manifest: Value =
        serde_json::from_slice(&text).map_err(|e| err(format!("package.json is not JSON: {e}")))?;
    let field = |name: &str| {
        manifest
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| err(format!("package.json has no {name}")))
    };
    // `repository` is a string or `{type, url}`.
    let repository_url = match manifest.get("repository") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(r) => r.get("url").and_then(Value::as_str).map(str::to_owned),
        None => None,
    };
    Ok(Package {
        name: field("name")?,
        version: field("version")?,
        repository_url,
    })
}

pub(crate) fn check_provenance(
    package: &Package,
    tarball: &[u8],
    verified: &Verified,
) -> Result<(), VerifyError> {
    let statement = verified
        .statement
        .as_ref()
        .ok_or_else(|| err("the bundle does not carry an in-toto statement"))?;
    check_subject(package, tarball, statement)?;
    check_publisher(package, statement, verified)
}

/// pacote: `subject[0]` names this package and hashes to this tarball.
fn check_subject(package: &Package, tarball: &[u8], statement: &Value) -> Result<(), VerifyError> {
    let subject = statement
        .get("subject")
        .and_then(|s| s.get(0))
        .ok_or_else(|| err("statement has no subject"))?;
    let purl = package.purl();
    let name = subject
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name != purl {
        return Err(err(format!("statement subject {name:?} is not {purl:?}")));
    }
    let want = hex::encode(HashAlgorithm::Sha512.digest(tarball));
    let got = subject
        .get("digest")
        .and_then(|d| d.get("sha512"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got != want {
        return Err(err(format!(
            "statement subject sha512 {got} does not match the tarball's sha512 {want}"
        )));
    }
    Ok(())
}

/// The registry's publish-time cross-checks between certificate and statement.
fn check_publisher(
    package: &Package,
    statement: &Value,
    verified: &Verified,
) -> Result<(), VerifyError> {
    let predicate_type = statement.get("predicateType").and_then(Value::as_str);
    let build_type = statement
        .pointer("/predicate/buildDefinition/buildType")
        .and_then(Value::as_str);
    if predicate_type != Some(SLSA_V1) || build_type != Some(GITHUB_WORKFLOW_V1) {
        return Err(err(format!(
            "provenance is {predicate_type:?} / {build_type:?}; only GitHub Actions SLSA v1 \
             provenance can be checked against the certificate"
        )));
    }
    let ext = |field: ExtensionField, what: &str| {
        verified.extension(field).ok_or_else(|| {
            err(format!(
                "certificate has no {what} (1.3.6.1.4.1.57264.1.{})",
                field.oid_arc()
            ))
        })
    };
    let runner = ext(ExtensionField::RunnerEnvironment, "runner environment")?;
    if runner != "github-hosted" {
        return Err(err(format!(
            "unsupported GitHub Actions runner environment: {runner}"
        )));
    }
    let repo = ext(ExtensionField::SourceRepositoryUri, "source repository URI")?;
    let git_ref = ext(ExtensionField::SourceRepositoryRef, "source repository ref")?;
    let text = |pointer: &str| {
        statement
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("statement has no {pointer}")))
    };
    let workflow = "/predicate/buildDefinition/externalParameters/workflow";
    if text(&format!("{workflow}/repository"))? != repo {
        return Err(err(format!(
            "workflow repository is not the certificate's {repo}"
        )));
    }
    if text(&format!("{workflow}/ref"))? != git_ref {
        return Err(err(format!(
            "workflow ref is not the certificate's {git_ref}"
        )));
    }
    let dep = "/predicate/buildDefinition/resolvedDependencies/0";
    let want_uri = format!("git+{repo}@{git_ref}");
    if text(&format!("{dep}/uri"))? != want_uri {
        return Err(err(format!("resolved dependency is not {want_uri}")));
    }
    if let Some(commit) = verified.extension(ExtensionField::SourceRepositoryDigest)
        && text(&format!("{dep}/digest/gitCommit"))? != commit
    {
        return Err(err(format!(
            "resolved commit is not the certificate's {commit}"
        )));
    }
    if let Some(url) = &package.repository_url
        && normalize_repo(url) != normalize_repo(repo)
    {
        return Err(err(format!(
            "package.json repository {url:?} does not match the provenance repository {repo}"
        )));
    }
    Ok(())
}

/// `git+https://github.com/o/r.git` and `https://github.com/o/r` name the same repository.
fn normalize_repo(url: &str) -> String {
    let url = url.trim().strip_prefix("git+").unwrap_or(url.trim());
    let url = url.strip_suffix('/').unwrap_or(url);
    let url = url.strip_suffix(".git").unwrap_or(url);
    url.to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
