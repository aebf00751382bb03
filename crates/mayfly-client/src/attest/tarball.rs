//! Reading an npm package tarball (`npm pack` output: gzip over tar, everything under
//! `package/`) for the two facts provenance needs: the package's name and version.
//!
//! The tarball is whatever the build produced, so its manifest is checked as untrusted input:
//! the name and version become a PURL and a file name, and must not smuggle in path
//! separators or URL syntax.

use flate2::read::GzDecoder;
use serde::Deserialize;
use std::io::Read;

/// The manifest is tiny; a cap keeps a hostile tarball from exhausting memory.
const MAX_MANIFEST: u64 = 1 << 20;

/// npm's own limit on package name length.
const MAX_NAME: usize = 214;

/// The manifest fields provenance uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

impl Package {
    /// `pkg:npm/<name>@<version>`, a scope's `@` written `%40` (the PURL spec and npm both
    /// percent-encode it; nothing else in a valid name needs encoding).
    pub fn purl(&self) -> String {
        let name = match self.name.strip_prefix('@') {
            Some(rest) => format!("%40{rest}"),
            None => self.name.clone(),
        };
        format!("pkg:npm/{name}@{}", self.version)
    }

    /// The bundle's default file name, `<name>-<version>.sigstore` with a scope flattened the
    /// way `npm pack` names tarballs (`@acme/pkg` → `acme-pkg`), so it is always one path
    /// component.
    pub fn bundle_file_name(&self) -> String {
        let flat = self.name.trim_start_matches('@').replace('/', "-");
        format!("{flat}-{}.sigstore", self.version)
    }
}

/// Finds `package/package.json` in the gzipped tar `bytes` and reads name and version.
pub fn read_package(bytes: &[u8]) -> Result<Package, String> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| format!("not a gzipped tar archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let is_manifest = entry
            .path()
            .map(|p| p.as_os_str() == "package/package.json")
            .unwrap_or(false);
        if !is_manifest {
            continue;
        }
        let mut text = Vec::new();
        entry
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut text)
            .map_err(|e| format!("reading package/package.json: {e}"))?;
        if text.len() as u64 > MAX_MANIFEST {
            return Err("package/package.json is implausibly large".into());
        }
        return parse_manifest(&text);
    }
    Err("no package/package.json in the archive".into())
}

fn parse_manifest(text: &[u8]) -> Result<Package, String> {
    #[derive(Deserialize)]
    struct Manifest {
        name: Option<String>,
        version: Option<String>,
    }
    let manifest: Manifest = serde_json::from_slice(text)
        .map_err(|e| format!("package/package.json is not a JSON manifest: {e}"))?;
    let name = manifest
        .name
        .ok_or("package/package.json has no \"name\"")?;
    let version = manifest
        .version
        .ok_or("package/package.json has no \"version\"")?;
    check_name(&name)?;
    check_version(&version)?;
    Ok(Package { name, version })
}

/// npm's rules, minus the legacy leniency (capitals) that the registry no longer accepts for
/// new packages: URL-safe characters, no leading `.` or `_`, at most one `@scope/`.
fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("package name {name:?} {why}"));
    if name.is_empty() || name.len() > MAX_NAME {
        return bad("must be 1 to 214 characters");
    }
    let (scope, bare) = match name.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, bare)) => (Some(scope), bare),
            None => return bad("has a scope but no '/'"),
        },
        None => (None, name),
    };
    for part in scope.into_iter().chain([bare]) {
        if part.is_empty() || part.starts_with('.') || part.starts_with('_') {
            return bad("has an empty part or one starting with '.' or '_'");
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._~".contains(&b))
        {
            return bad("may only contain lowercase letters, digits and - . _ ~");
        }
    }
    Ok(())
}

/// A semver string: the characters semver allows, which keeps it safe in a PURL and a file
/// name. (npm already refused anything that is not valid semver when it packed.)
fn check_version(version: &str) -> Result<(), String> {
    let ok = !version.is_empty()
        && version.len() <= 256
        && version.as_bytes()[0].is_ascii_digit()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "package version {version:?} is not a semver version"
        ))
    }
}

#[cfg(test)]
mod tests;
