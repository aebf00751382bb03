//! What makes one Mayfly instance: its data dir layout and its public URL, with every name that
//! derives from them. The only module that knows file names inside the data dir or builds a
//! URL, origin or key name from the public URL, so `serve`, `trust`, the CA setup and the demo
//! can never disagree about them.
//!
//! Both are fixed for the life of an instance: the log origins (and so the checkpoint key names
//! clients match against `baseUrl`s) come from the public URL, and a start refuses to run when
//! the stored logs were signed under another one.

use std::path::{Path, PathBuf};

/// Why a public URL cannot name an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    #[error("--public-url must be http:// or https://, not {0}")]
    Scheme(String),
    #[error("--public-url {0} has no host")]
    NoHost(String),
}

/// The URL clients reach this instance at (Fulcio and Rekor base URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    url: url::Url,
    /// `host[:port][/path]` without a trailing slash: the artifact log's origin.
    bare: String,
}

impl PublicUrl {
    pub fn new(url: url::Url) -> Result<Self, PublicUrlError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PublicUrlError::Scheme(url.to_string()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| PublicUrlError::NoHost(url.to_string()))?;
        let mut bare = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        bare.push_str(url.path().trim_end_matches('/'));
        Ok(PublicUrl { url, bare })
    }

    pub fn as_url(&self) -> &url::Url {
        &self.url
    }

    /// The host, which names the operator in signing configs and the organisation of new CAs.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The URL without a trailing slash: clients append `/api/...` to it.
    pub fn base(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_owned()
    }

    /// The artifact log's checkpoint origin and note key name: the scheme-less public URL,
    /// because sigstore-js accepts a checkpoint only if the trusted root's tlog `baseUrl` (the
    /// Rekor API base, i.e. the public URL) contains the note's key name.
    pub fn artifacts_origin(&self) -> String {
        self.bare.clone()
    }

    /// The issuance log's origin: distinct from the artifact log's, and contained in
    /// [`PublicUrl::issuance_log_url`] for the same substring rule.
    pub fn issuance_origin(&self) -> String {
        format!("{}/logs/issuance", self.bare)
    }

    /// The issuance log's tile prefix, which is also its `baseUrl` in the trusted root.
    pub fn issuance_log_url(&self) -> String {
        format!("{}/logs/issuance", self.base())
    }

    /// The Rekor v2 log's origin and note key name: distinct from the other logs', and
    /// contained in [`PublicUrl::rekor_v2_log_url`] for the same substring rule.
    pub fn rekor_v2_origin(&self) -> String {
        format!("{}/logs/rekor-v2", self.bare)
    }

    /// The Rekor v2 log's base URL: its tile prefix, its `baseUrl` in the trusted root, and
    /// the Rekor v2 URL in the signing config (clients append `/api/v2/log/entries`).
    pub fn rekor_v2_log_url(&self) -> String {
        format!("{}/logs/rekor-v2", self.base())
    }

    /// Where `serve --dev-issuer` mounts the built-in OIDC issuer.
    pub fn dev_issuer_url(&self) -> String {
        format!("{}/dev-oidc", self.base())
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.url.fmt(f)
    }
}

/// The files of an instance, relative to its data dir. Keys are owner-only; certificates are
/// world-readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The issuance log's key, which signs its checkpoints and every SCT.
    pub fn issuance_log_key(&self) -> PathBuf {
        self.root.join("keys/issuance-log.key.pem")
    }

    /// The artifact log's key, which signs its checkpoints and every SET.
    pub fn artifact_log_key(&self) -> PathBuf {
        self.root.join("keys/artifact-log.key.pem")
    }

    /// The Rekor v2 log's key, which signs its checkpoints. Added to instances created before
    /// the v2 log existed on their next start (see `server::open_core`), so it is not part of
    /// [`DataDir::log_keys`], which says what a complete instance must hold.
    pub fn rekor_v2_log_key(&self) -> PathBuf {
        self.root.join("keys/rekor-v2-log.key.pem")
    }

    /// The Rekor v2 log's public key, kept when the key itself lives in an HSM.
    pub fn rekor_v2_log_public_key(&self) -> PathBuf {
        self.root.join("keys/rekor-v2-log.pub.pem")
    }

    /// The issuance log's public key, kept when the key itself lives in an HSM.
    pub fn issuance_log_public_key(&self) -> PathBuf {
        self.root.join("keys/issuance-log.pub.pem")
    }

    /// The artifact log's public key, kept when the key itself lives in an HSM.
    pub fn artifact_log_public_key(&self) -> PathBuf {
        self.root.join("keys/artifact-log.pub.pem")
    }

    /// The CA root's key: needed only to sign a new intermediate; move it offline.
    pub fn ca_root_key(&self) -> PathBuf {
        self.root.join("keys/ca-root.key.pem")
    }

    /// The online CA intermediate's key, which signs every certificate.
    pub fn ca_intermediate_key(&self) -> PathBuf {
        self.root.join("keys/ca-intermediate.key.pem")
    }

    pub fn ca_root_cert(&self) -> PathBuf {
        self.root.join("ca/root.pem")
    }

    pub fn ca_intermediate_cert(&self) -> PathBuf {
        self.root.join("ca/intermediate.pem")
    }

    /// The CA generation schedule `mayfly ca rotate` writes (absent: one generation).
    pub fn ca_schedule(&self) -> PathBuf {
        self.root.join("ca/generations.json")
    }

    /// The files of CA generation `n`; generation 1 is the CA the instance was created with.
    /// A generation that kept its predecessor's root has no root files of its own.
    pub fn ca_generation(&self, n: u32) -> CaFiles {
        if n <= 1 {
            return CaFiles {
                root_cert: self.ca_root_cert(),
                intermediate_cert: self.ca_intermediate_cert(),
                root_key: self.ca_root_key(),
                intermediate_key: self.ca_intermediate_key(),
            };
        }
        CaFiles {
            root_cert: self.root.join(format!("ca/root-{n}.pem")),
            intermediate_cert: self.root.join(format!("ca/intermediate-{n}.pem")),
            root_key: self.root.join(format!("keys/ca-root-{n}.key.pem")),
            intermediate_key: self.root.join(format!("keys/ca-intermediate-{n}.key.pem")),
        }
    }

    /// The TUF repository `/tuf/` serves (metadata and hash-named targets): public files.
    pub fn tuf_repository(&self) -> PathBuf {
        self.root.join("tuf/repository")
    }

    /// The TUF role keys kept online (snapshot, timestamp), and by default the offline ones.
    pub fn tuf_keys(&self) -> PathBuf {
        self.root.join("tuf/keys")
    }

    /// The timestamp authority's signing key.
    pub fn tsa_key(&self) -> PathBuf {
        self.root.join("keys/tsa.key.pem")
    }

    /// The timestamp authority's certificate (critical EKU timeStamping).
    pub fn tsa_cert(&self) -> PathBuf {
        self.root.join("ca/tsa.pem")
    }

    /// The root that issued the TSA certificate (its key is not kept).
    pub fn tsa_root_cert(&self) -> PathBuf {
        self.root.join("ca/tsa-root.pem")
    }

    /// Every file of the timestamp authority.
    pub fn tsa_files(&self) -> [PathBuf; 3] {
        [self.tsa_key(), self.tsa_cert(), self.tsa_root_cert()]
    }

    /// The embedded SQLite database, when no `--database-url` is given.
    pub fn database(&self) -> PathBuf {
        self.root.join("mayfly.db")
    }

    /// Both log keys, issuance first.
    pub fn log_keys(&self) -> [PathBuf; 2] {
        [self.issuance_log_key(), self.artifact_log_key()]
    }

    /// Both log public keys, issuance first (HSM instances).
    pub fn log_public_keys(&self) -> [PathBuf; 2] {
        [
            self.issuance_log_public_key(),
            self.artifact_log_public_key(),
        ]
    }

    /// The CA's certificates, root first.
    pub fn ca_certs(&self) -> [PathBuf; 2] {
        [self.ca_root_cert(), self.ca_intermediate_cert()]
    }

    /// Every file of a file-backed CA.
    pub fn ca_files(&self) -> [PathBuf; 4] {
        [
            self.ca_root_key(),
            self.ca_intermediate_key(),
            self.ca_root_cert(),
            self.ca_intermediate_cert(),
        ]
    }

    /// Creates the data dir and its `keys/` and `ca/` folders if missing, owner-only (the
    /// data dir holds private keys).
    pub fn create(&self) -> std::io::Result<()> {
        for dir in [
            self.root.clone(),
            self.root.join("keys"),
            self.root.join("ca"),
        ] {
            create_private_dir(&dir)?;
        }
        Ok(())
    }
}

/// Where one CA generation's certificates and (file backend) keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    pub root_cert: PathBuf,
    pub intermediate_cert: PathBuf,
    pub root_key: PathBuf,
    pub intermediate_key: PathBuf,
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(url: &str) -> PublicUrl {
        PublicUrl::new(url::Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn origins_are_scheme_less_and_distinct() {
        let url = public("https://mayfly.example.com/");
        assert_eq!(url.issuance_origin(), "mayfly.example.com/logs/issuance");
        assert_eq!(url.artifacts_origin(), "mayfly.example.com");
        assert_eq!(url.base(), "https://mayfly.example.com");
        let url = public("http://127.0.0.1:8700/sigstore/");
        assert_eq!(url.artifacts_origin(), "127.0.0.1:8700/sigstore");
        assert_eq!(
            url.dev_issuer_url(),
            "http://127.0.0.1:8700/sigstore/dev-oidc"
        );
        assert_eq!(
            url.issuance_log_url(),
            "http://127.0.0.1:8700/sigstore/logs/issuance"
        );
    }

    #[test]
    fn key_names_are_contained_in_their_base_urls() {
        // sigstore-js's rule for checkpoints, for both logs.
        let url = public("https://sigstore.corp.example:8443/tenant");
        assert!(url.base().contains(&url.artifacts_origin()));
        assert!(url.issuance_log_url().contains(&url.issuance_origin()));
        assert!(url.rekor_v2_log_url().contains(&url.rekor_v2_origin()));
        assert_eq!(
            url.rekor_v2_log_url(),
            "https://sigstore.corp.example:8443/tenant/logs/rekor-v2"
        );
    }

    #[test]
    fn refuses_urls_that_cannot_name_an_instance() {
        let parse = |u: &str| PublicUrl::new(url::Url::parse(u).unwrap());
        assert!(matches!(
            parse("ftp://host/"),
            Err(PublicUrlError::Scheme(_))
        ));
        assert!(matches!(
            parse("unix:/run/mayfly.sock"),
            Err(PublicUrlError::Scheme(_))
        ));
    }

    #[test]
    fn created_dirs_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        dir.create().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for sub in ["", "keys", "ca"] {
                let mode = std::fs::metadata(dir.root().join(sub))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o700, "{sub}");
            }
        }
    }
}
