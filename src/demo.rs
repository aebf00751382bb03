//! `mayfly demo`: the whole keyless flow in one process on loopback, with readable output.
//!
//! 1. Start Mayfly on its embedded default (SQLite, generated keys, file-backed CA) in a
//!    scratch data dir, with the dev issuer standing in for GitHub Actions.
//! 2. Make a small npm package.
//! 3. `mayfly attest npm`: token from the dev issuer (as a workflow gets one), ephemeral key,
//!    certificate, DSSE envelope, artifact-log entry, bundle.
//! 4. `mayfly verify npm` against the instance's trusted root and the expected identity.
//! 5. Print what happened: identity, certificate extensions, both log indexes, the checkpoint.

use crate::server::{Instance, ServeConfig, ServerError, serve};
use mayfly_client::attest::{AttestOptions, Subject, attest};
use mayfly_client::verify::{IdentityMatcher, Policy, verify_npm};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Options {
    /// Keep the scratch directory (data dir, package, bundle) and print where it is.
    pub keep: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("starting Mayfly: {0}")]
    Server(#[from] ServerError),
    #[error("scratch directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("attest: {0}")]
    Attest(#[from] mayfly_client::attest::AttestError),
    #[error("verify: {0}")]
    Verify(#[from] mayfly_client::verify::VerifyError),
    #[error("{step}: {message}")]
    Step { step: &'static str, message: String },
}

fn step_error(step: &'static str) -> impl Fn(String) -> DemoError {
    move |message| DemoError::Step { step, message }
}

const PACKAGE: &str = "mayfly-demo";
const VERSION: &str = "1.0.0";
const REPOSITORY: &str = "octo-org/octo-repo";
const WORKFLOW_REF: &str = "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main";

pub async fn run(options: Options) -> Result<(), DemoError> {
    let scratch = tempfile::Builder::new().prefix("mayfly-demo-").tempdir()?;
    let result = run_in(scratch.path()).await;
    if options.keep {
        let kept = scratch.keep();
        println!("\nkept everything in {}", kept.display());
    }
    result
}

async fn run_in(dir: &Path) -> Result<(), DemoError> {
    crate::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let public_url = url::Url::parse(&url).map_err(|e| step_error("start")(e.to_string()))?;
    let config = ServeConfig {
        dev_issuer: true,
        ..ServeConfig::new(addr, dir.join("data"), public_url.clone())
    };
    let instance = Instance::open(&config, None).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, instance, async {
        let _ = stopped.await;
    }));
    println!(
        "1. Mayfly is serving at {url} (data dir {})",
        config.data_dir.display()
    );

    let outcome = demonstrate(dir, &public_url).await;
    let _ = stop.send(());
    let served = server
        .await
        .map_err(|e| step_error("shutdown")(e.to_string()))?;
    outcome?;
    served?;
    Ok(())
}

async fn demonstrate(dir: &Path, server: &url::Url) -> Result<(), DemoError> {
    let base = server.as_str().trim_end_matches('/');
    let tarball = dir.join(format!("{PACKAGE}-{VERSION}.tgz"));
    write_package(&tarball)?;
    println!("2. made the npm package {}", tarball.display());

    let env = github_actions_env(base);
    let attested = attest(
        Subject::NpmTarball(tarball.clone()),
        &AttestOptions {
            server: server.clone(),
            identity_token: None,
            out: Some(dir.join(format!("{PACKAGE}-{VERSION}.sigstore"))),
        },
        &env,
    )
    .await?;
    println!(
        "3. attested it: certificate from the CA, DSSE entry {} in the artifact log, bundle {}",
        attested.log_index,
        attested.bundle_path.display()
    );

    let http = reqwest::Client::new();
    let fetch = |path: &str| {
        let request = http.get(format!("{base}{path}"));
        async move {
            let response = request
                .send()
                .await
                .map_err(|e| step_error("fetch")(e.to_string()))?;
            response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| step_error("fetch")(e.to_string()))
        }
    };
    let trusted_root = fetch("/trust/trusted_root.json").await?;
    let bundle = std::fs::read(&attested.bundle_path)?;
    let issuer = format!("{base}/dev-oidc");
    let policy = Policy {
        identity: IdentityMatcher::Exact(format!("https://github.com/{WORKFLOW_REF}")),
        issuer: issuer.clone(),
    };
    let verified = verify_npm(
        &std::fs::read(&tarball)?,
        &bundle,
        &trusted_root,
        Some(&policy),
    )?;
    println!(
        "4. verified the bundle offline against {base}/trust/trusted_root.json: chain, SCT, SET, inclusion proof, checkpoint, DSSE signature, identity, and the package's name, version and sha512"
    );

    let checkpoint =
        String::from_utf8_lossy(&fetch("/logs/artifacts/checkpoint").await?).into_owned();
    let issuance_index = issuance_log_index(&attested.certificate_pem);
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(out, "identity")?;
    writeln!(out, "  subject (SAN)   {}", verified.san)?;
    writeln!(out, "  OIDC issuer     {}", verified.issuer)?;
    writeln!(
        out,
        "certificate extensions (Fulcio OIDs 1.3.6.1.4.1.57264.1.*)"
    )?;
    for (arc, value) in &verified.extensions {
        let title = mayfly_spec::fulcio::arc_title(*arc).unwrap_or_default();
        writeln!(out, "  .{arc:<3} {title:<36} {value}")?;
    }
    writeln!(out, "logs")?;
    match issuance_index {
        Some(index) => writeln!(
            out,
            "  issuance log    precertificate at index {index} (from the embedded SCT)"
        )?,
        None => writeln!(out, "  issuance log    (no SCT leaf index found)")?,
    }
    writeln!(
        out,
        "  artifact log    dsse entry at index {}, integrated at {} (Unix time)",
        verified.log_index, verified.integrated_time
    )?;
    writeln!(out, "artifact log checkpoint")?;
    for line in checkpoint.lines() {
        writeln!(out, "  {line}")?;
    }
    writeln!(out, "bundle            {}", attested.bundle_path.display())?;
    writeln!(out, "\nall steps passed")?;
    Ok(())
}

/// The issuance-log index a leaf's SCT carries (static-CT `leaf_index`).
fn issuance_log_index(certificate_pem: &str) -> Option<u64> {
    use x509_parser::prelude::FromDer;
    let der = mayfly_spec::pem::decode_label(certificate_pem.as_bytes(), "CERTIFICATE").ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).ok()?;
    let ext = cert.extensions().iter().find(|e| {
        e.oid
            .iter()
            .is_some_and(|arcs| arcs.eq(mayfly_spec::ct::SCT_LIST_OID.iter().copied()))
    })?;
    let scts = mayfly_spec::ct::parse_sct_list_extension_value(ext.value).ok()?;
    mayfly_spec::ct::leaf_index_from_extensions(&scts.first()?.extensions).ok()?
}

/// A GitHub Actions job's environment whose token endpoint is the dev issuer; the values match
/// the claims the dev issuer puts in its tokens, as a real job's environment matches its token.
fn github_actions_env(base: &str) -> HashMap<String, String> {
    let sha = "a3c8e5f1b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0";
    [
        ("CI", "true".to_owned()),
        ("GITHUB_ACTIONS", "true".to_owned()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{base}/dev-oidc/token?api-version=2.0"),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "demo".to_owned()),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_REPOSITORY", REPOSITORY.to_owned()),
        ("GITHUB_REPOSITORY_ID", "123456789".to_owned()),
        ("GITHUB_REPOSITORY_OWNER_ID", "987654".to_owned()),
        ("GITHUB_REF", "refs/heads/main".to_owned()),
        ("GITHUB_SHA", sha.to_owned()),
        ("GITHUB_WORKFLOW_REF", WORKFLOW_REF.to_owned()),
        ("GITHUB_EVENT_NAME", "push".to_owned()),
        ("GITHUB_RUN_ID", "4242424242".to_owned()),
        ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
        ("RUNNER_ENVIRONMENT", "github-hosted".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A minimal npm package tarball (`package/package.json`, `package/index.js`), as `npm pack`
/// lays it out.
fn write_package(path: &PathBuf) -> Result<(), DemoError> {
    let manifest = format!(
        "{{\n  \"name\": \"{PACKAGE}\",\n  \"version\": \"{VERSION}\",\n  \"repository\": \"https://github.com/{REPOSITORY}\"\n}}\n"
    );
    let files: [(&str, &[u8]); 2] = [
        ("package/package.json", manifest.as_bytes()),
        (
            "package/index.js",
            b"module.exports = () => 'signed by mayfly';\n",
        ),
    ];
    let gzip =
        flate2::write::GzEncoder::new(std::fs::File::create(path)?, flate2::Compression::default());
    let mut tar = tar::Builder::new(gzip);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(499_162_500);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}
