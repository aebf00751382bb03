//! The `mayfly` command line. Parses arguments and hands off to the library; nothing else.
#![forbid(unsafe_code)]

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// glibc malloc was a fifth of the server's CPU under load (issue 6, BENCHMARKS.md): every
// request allocates and frees many small buffers across threads, which mimalloc handles in
// thread-local free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Mayfly: keyless code signing you can run yourself.
///
/// A short-lived certificate authority for CI identities, an embedded Merkle log of every
/// issuance, and a Rekor-compatible transparency log, in one binary, with the client that
/// signs (npm provenance) and verifies with it. New here? Run `mayfly demo`.
///
/// Every flag can also be set as MAYFLY_<FLAG> in the environment (e.g. MAYFLY_DATA_DIR) or as
/// a key in the TOML file given by --config (e.g. data-dir = "/var/lib/mayfly").
/// Precedence: command line, then environment, then config file, then the default.
#[derive(Parser, Debug)]
#[command(name = "mayfly", version, about, long_about)]
struct Cli {
    /// TOML file with settings for the subcommand, keyed by flag name.
    #[arg(long, global = true, env = "MAYFLY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, env = "MAYFLY_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service: CA, issuance log, artifact log and tile endpoints on one listener.
    ///
    /// The first start with an empty --data-dir creates the CA (root and intermediate), the log
    /// keys (owner-only files) and the database, and says so. Later starts refuse to run if the keys and the stored logs
    /// disagree. Ctrl-C or SIGTERM drains in-flight work before exiting.
    Serve(Box<ServeArgs>),
    /// Create an instance without serving it: the log keys, the CA, the database schema and
    /// both logs' first signed checkpoints, then print what was made.
    ///
    /// For running several `serve` replicas on one --database-url: init once, then give every
    /// replica a copy of --data-dir (or its keys from a Kubernetes Secret, or the same HSM)
    /// and the same --public-url. Run again on an initialised dir and database, it checks that
    /// they agree and writes nothing; part of an instance, or keys that did not sign the
    /// database's checkpoints, are refused.
    Init(InitArgs),
    /// Measure the service's engines on this machine (results belong in BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Write the trust documents a server on --data-dir serves under /trust/, without
    /// starting it: trusted_root.json, signing_config.json and client_trust_config.json (the
    /// file sigstore-python's --trust-config takes).
    Trust(TrustArgs),
    /// Sign keylessly against a Mayfly: an ephemeral key, a certificate for this CI job's
    /// identity, a DSSE attestation logged in the artifact log, and a Sigstore bundle (v0.3).
    ///
    /// `mayfly attest npm <tarball>` builds exactly the provenance statement `npm publish
    /// --provenance` builds (GitHub Actions or GitLab CI, from the job's environment) and
    /// writes `<name>-<version>.sigstore` beside the tarball. `mayfly attest <file> --predicate
    /// FILE --predicate-type URI` attests any file. The token comes from --identity-token,
    /// SIGSTORE_ID_TOKEN, or GitHub's ACTIONS_ID_TOKEN_REQUEST_URL (needs `id-token: write`).
    Attest(AttestArgs),
    /// Verify a Sigstore bundle offline against a trusted root: chain, the embedded SCT, the
    /// log's SET, inclusion proof and checkpoint, the signature, and who signed.
    ///
    /// `mayfly verify npm <tarball> <bundle>` also checks what `npm audit signatures` and the
    /// npm registry check: the statement names this tarball (PURL and sha512), and the
    /// certificate's repository, ref and runner match the statement.
    Verify(VerifyArgs),
    /// The whole flow in one process on loopback: start Mayfly (embedded SQLite, generated keys,
    /// the dev issuer), make an npm package, attest it, verify the bundle, and show what
    /// happened. Exits non-zero, saying which step failed, if any does.
    Demo(DemoArgs),
    /// Issuance policies, offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Keys in an HSM: create the CA's and the logs' keys inside the token, or list them.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check a running server's health (what a container HEALTHCHECK runs): exits 0 when
    /// /healthz answers 200, 1 with the reason otherwise (unreachable, or a log cannot write).
    Health(HealthArgs),
    /// The CA of an instance, offline.
    #[command(subcommand)]
    Ca(CaCommand),
    /// The trust documents as a TUF repository, served under /tuf/ (what sigstore-python,
    /// sigstore-js and cosign bootstrap from with `1.root.json`).
    #[command(subcommand)]
    Tuf(TufCommand),
    /// Audit an instance from outside: find its certificates, each proven to be in the log,
    /// and watch its logs for new ones.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The search index of a stopped instance's logs.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Copy a stopped instance's database to another (e.g. SQLite to PostgreSQL), then verify
    /// the copy: every entry bundle, hash tile and dedup row, each log's root and its
    /// checkpoint's signature under the instance's log keys. Refuses a non-empty destination.
    Migrate(MigrateArgs),
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Search the issuance log (GET /api/v1/audit/certificates) and print a table, after
    /// verifying every inclusion proof and checkpoint signature against the instance's trusted
    /// root (fetched from /trust/trusted_root.json, or pinned with --trusted-root). Fails,
    /// printing nothing, if any answer does not verify.
    Search(AuditSearchArgs),
    /// Follow both logs through their signed checkpoints and tiles, proving each checkpoint
    /// consistent with the last one seen, and print a JSON line (and POST it to --webhook) for
    /// every certificate that matches a --repository or --identity-regexp (every entry, if
    /// neither is given). Exits 3, naming both checkpoints, on a fork, a rollback or a bad
    /// checkpoint signature; 1 on any other error.
    Watch(AuditWatchArgs),
}

#[derive(clap::Args, Debug)]
struct AuditSearchArgs {
    /// The Mayfly to audit.
    #[arg(long, env = "MAYFLY_SERVER", value_name = "URL")]
    server: url::Url,
    /// The certificate's SAN, exactly.
    #[arg(long)]
    san: Option<String>,
    /// The OIDC issuer URL.
    #[arg(long)]
    issuer: Option<String>,
    /// Source repository: its URI (Fulcio .12) or owner/name.
    #[arg(long)]
    repository: Option<String>,
    /// Repository owner: its URI (Fulcio .16) or name.
    #[arg(long)]
    owner: Option<String>,
    /// Source ref (Fulcio .14), e.g. refs/heads/main.
    #[arg(long = "ref", value_name = "REF")]
    git_ref: Option<String>,
    /// Build signer URI (Fulcio .9): the workflow file at a ref.
    #[arg(long)]
    workflow: Option<String>,
    /// What triggered the build (Fulcio .20), e.g. push.
    #[arg(long)]
    trigger: Option<String>,
    /// Issued at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Issued at or before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Show at most this many certificates (fetched page by page).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Print the verified answers as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Trust this trusted_root.json instead of the one the server serves.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct AuditWatchArgs {
    /// The Mayfly to watch.
    #[arg(long, env = "MAYFLY_SERVER", default_value = "http://127.0.0.1:8700")]
    server: url::Url,
    /// Where the watcher keeps, per log, how far it got and the last checkpoint it verified.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Report certificates for this source repository: `owner/name` or its full URI
    /// (repeatable).
    #[arg(long = "repository", value_name = "R")]
    repositories: Vec<String>,
    /// Report certificates whose whole SAN matches this regex (repeatable).
    #[arg(long = "identity-regexp", value_name = "RE")]
    identity_regexps: Vec<String>,
    /// POST each match (the JSON line) here, with retries.
    #[arg(long, value_name = "URL")]
    webhook: Option<url::Url>,
    /// Catch up once and exit instead of polling.
    #[arg(long)]
    once: bool,
    /// Seconds between polls.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    interval: u64,
    /// The instance's trusted root, pinned (default: fetched from the server).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum TufCommand {
    /// Create the repository in DATA_DIR/tuf/: four Ed25519 role keys and version 1 of root,
    /// targets, snapshot and timestamp, with trusted_root.json and signing_config.v0.2.json
    /// as `mayfly trust` builds them. Refuses if a repository or a key already exists.
    Init(TufArgs),
    /// Publish the current trust documents (e.g. after `mayfly ca rotate`) as a new targets
    /// version, or with --timestamp-only re-sign the timestamp (and snapshot) once half their
    /// validity is gone: run that hourly from cron; it needs only the online keys.
    Update(TufUpdateArgs),
    /// Replace the root key: root version N+1, signed by the old and the new key.
    RotateRoot(TufKeyArgs),
}

#[derive(clap::Args, Debug)]
struct TufKeyArgs {
    #[arg(long, env = "MAYFLY_DATA_DIR", default_value = "./mayfly-data")]
    data_dir: PathBuf,
    /// Where the root and targets keys live (e.g. removable media); default DATA_DIR/tuf/keys.
    #[arg(long, env = "MAYFLY_TUF_OFFLINE_KEY_DIR", value_name = "DIR")]
    offline_key_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct TufArgs {
    #[command(flatten)]
    keys: TufKeyArgs,
    /// The instance's public URL, exactly as given to `serve`.
    #[arg(long, env = "MAYFLY_PUBLIC_URL")]
    public_url: url::Url,
    /// List the built-in dev issuer in the signing config, as `serve --dev-issuer` does.
    #[arg(long, env = "MAYFLY_DEV_ISSUER")]
    dev_issuer: bool,
}

#[derive(clap::Args, Debug)]
struct TufUpdateArgs {
    #[command(flatten)]
    keys: TufKeyArgs,
    /// The instance's public URL, exactly as given to `serve` (not needed with
    /// --timestamp-only).
    #[arg(
        long,
        env = "MAYFLY_PUBLIC_URL",
        required_unless_present = "timestamp_only"
    )]
    public_url: Option<url::Url>,
    #[arg(long, env = "MAYFLY_DEV_ISSUER")]
    dev_issuer: bool,
    /// Only re-sign the timestamp and snapshot roles if they are past half their validity.
    #[arg(long)]
    timestamp_only: bool,
}

#[derive(Subcommand, Debug)]
enum CaCommand {
    /// Schedules a new CA generation: a new intermediate under the current root (or, with
    /// --new-root, a new root too) that signs every certificate issued from --at on.
    ///
    /// Earlier generations stay in the trusted root, each valid until the last certificate
    /// it issued expires, so nothing issued before the switch stops verifying. Running
    /// instances load the new generation on SIGHUP, with --watch-config, or at restart; give
    /// every replica the updated data dir (and the token the new keys) before --at.
    Rotate(CaRotateArgs),
}

#[derive(clap::Args, Debug)]
struct CaRotateArgs {
    /// The instance's data dir.
    #[arg(long, env = "MAYFLY_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// When the new generation starts signing (RFC 3339, e.g. 2027-01-04T09:00:00Z); not in
    /// the past. Default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<time::OffsetDateTime>,
    /// Create a new root as well (the old root's key was lost, or its term ends). Verifiers
    /// must fetch the new trusted root before they meet a certificate of the new generation.
    #[arg(long)]
    new_root: bool,
    /// Where the current root's key file is, if it was moved off the server (file backend).
    #[arg(long, value_name = "FILE", conflicts_with = "new_root")]
    root_key: Option<PathBuf>,
    /// Where the CA keys live: `file` or `pkcs11`, as the instance is served with.
    #[arg(long, env = "MAYFLY_CA", default_value = "file", value_parser = ["file", "pkcs11"])]
    ca: String,
    /// File holding the passphrase of the CA key files (else MAYFLY_CA_PASSPHRASE); new
    /// keys are encrypted with it too.
    #[arg(long, env = "MAYFLY_CA_PASSPHRASE_FILE", value_name = "FILE")]
    ca_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    hsm: HsmArgs,
}

fn parse_time(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2027-01-04T09:00:00Z"))
}

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Empty the search index and refill it from the logs alone. Stop the server (every replica) first.
    Rebuild(IndexRebuildArgs),
}

#[derive(clap::Args, Debug)]
struct IndexRebuildArgs {
    /// The instance's data dir.
    #[arg(long, env = "MAYFLY_DATA_DIR")]
    data_dir: PathBuf,
    /// The database, when not the data dir's (sqlite://PATH or postgres://USER@HOST/DATABASE).
    #[arg(long, env = "MAYFLY_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(clap::Args, Debug)]
struct MigrateArgs {
    /// The instance's data dir (its log keys verify the copied checkpoints).
    #[arg(long, env = "MAYFLY_DATA_DIR")]
    data_dir: PathBuf,
    /// The database to copy (sqlite://PATH or postgres://…).
    #[arg(long, value_name = "URL")]
    from: String,
    /// The empty database to copy into (postgres://… or sqlite://PATH).
    #[arg(long, value_name = "URL")]
    to: String,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generates, inside the token, each of Mayfly's five keys (CA root, CA intermediate,
    /// issuance log, artifact log, Rekor v2 log) that does not exist yet: P-256, sensitive, not extractable,
    /// sign only. Existing keys are left alone.
    Create(HsmArgs),
    /// Lists the private keys on the token and whether each of Mayfly's labels is there.
    List(HsmArgs),
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// What a policy decides for a token (decoded, not verified) or a claims file: prints
    /// allow or deny, the rule that decided and the identity the certificate would carry.
    /// Exits 0 on allow, 1 on deny, 2 when the policy or the input is unusable.
    Test(PolicyTestArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["token", "claims"])))]
struct PolicyTestArgs {
    /// The policy file (YAML or JSON), as given to `serve --policy`.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// An OIDC token (a JWT, e.g. copied from a CI job); its signature is not checked.
    #[arg(long, value_name = "JWT")]
    token: Option<String>,
    /// The claims as a JSON object.
    #[arg(long, value_name = "FILE")]
    claims: Option<PathBuf>,
    /// The issuer, when the claims have no `iss` (or to override it).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The issuer configuration the server runs with (default: the shipped one).
    #[arg(long, env = "MAYFLY_ISSUERS", value_name = "FILE")]
    issuers: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct AttestArgs {
    #[command(subcommand)]
    npm: Option<AttestNpm>,
    /// The file to attest.
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// The predicate (JSON) to put in the in-toto statement.
    #[arg(long, value_name = "FILE", required = true)]
    predicate: Option<PathBuf>,
    /// The predicate type URI, e.g. https://slsa.dev/provenance/v1.
    #[arg(long, value_name = "URI", required = true)]
    predicate_type: Option<String>,
    #[command(flatten)]
    common: AttestCommon,
}

#[derive(Subcommand, Debug)]
enum AttestNpm {
    /// npm provenance for a package tarball (`npm pack` output), as `npm publish --provenance`
    /// makes it.
    Npm {
        /// The package tarball (.tgz).
        tarball: PathBuf,
        #[command(flatten)]
        common: AttestCommon,
    },
}

#[derive(clap::Args, Debug)]
struct AttestCommon {
    /// The Mayfly to get the certificate from and log the attestation in.
    #[arg(long, env = "MAYFLY_SERVER", default_value = "http://127.0.0.1:8700")]
    server: url::Url,
    /// An OIDC token to use instead of the CI environment's (audience `sigstore`).
    #[arg(long, value_name = "JWT")]
    identity_token: Option<String>,
    /// Where to write the bundle (default: beside the input).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct VerifyArgs {
    #[command(subcommand)]
    npm: Option<VerifyNpm>,
    /// The Sigstore bundle (v0.1, v0.2 or v0.3).
    #[arg(required = true)]
    bundle: Option<PathBuf>,
    /// The signed file (for message signatures; for attestations, it must be a subject).
    #[arg(long, value_name = "FILE", conflicts_with = "digest")]
    artifact: Option<PathBuf>,
    /// The signed file's digest instead of the file, as sha256:HEX.
    #[arg(long, value_name = "ALG:HEX")]
    digest: Option<String>,
    /// For a bundle signed with a long-lived key (cosign --key): that PEM public key, instead
    /// of an identity.
    #[arg(
        long,
        value_name = "PUBLIC_KEY.pem",
        conflicts_with_all = ["cert_identity", "cert_identity_regexp", "cert_oidc_issuer"]
    )]
    key: Option<PathBuf>,
    #[command(flatten)]
    trust: VerifyTrust,
}

#[derive(Subcommand, Debug)]
enum VerifyNpm {
    /// An npm provenance bundle for a package tarball.
    Npm {
        /// The package tarball (.tgz).
        tarball: PathBuf,
        /// Its provenance bundle (`<name>-<version>.sigstore`).
        bundle: PathBuf,
        #[command(flatten)]
        trust: VerifyTrust,
    },
}

#[derive(clap::Args, Debug)]
struct VerifyTrust {
    /// The trusted root (a Mayfly serves its own at /trust/trusted_root.json).
    #[arg(
        long,
        value_name = "FILE",
        env = "MAYFLY_TRUSTED_ROOT",
        required = true
    )]
    trusted_root: Option<PathBuf>,
    /// The signer's exact identity (certificate SAN: a workflow URI or an email).
    #[arg(long, value_name = "SAN")]
    cert_identity: Option<String>,
    /// The signer's identity as a regular expression matched against the whole SAN.
    #[arg(long, value_name = "REGEX", conflicts_with = "cert_identity")]
    cert_identity_regexp: Option<String>,
    /// The OIDC issuer the signer's token came from.
    #[arg(long, value_name = "URL")]
    cert_oidc_issuer: Option<String>,
}

impl VerifyTrust {
    /// Required by clap wherever it applies; `None` only for a parent whose subcommand ran.
    fn trusted_root(&self) -> Result<&Path, &'static str> {
        self.trusted_root
            .as_deref()
            .ok_or("--trusted-root is required")
    }

    fn identity(&self) -> mayfly_client::commands::IdentityFlags {
        mayfly_client::commands::IdentityFlags {
            cert_identity: self.cert_identity.clone(),
            cert_identity_regexp: self.cert_identity_regexp.clone(),
            cert_oidc_issuer: self.cert_oidc_issuer.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Keep the scratch directory (data dir, package, bundle) and print its path.
    #[arg(long)]
    keep: bool,
}

#[derive(clap::Args, Debug)]
struct TrustArgs {
    /// Data dir of an instance with a file-backed CA (as `serve` creates by default).
    #[arg(long, env = "MAYFLY_DATA_DIR", default_value = "./mayfly-data")]
    data_dir: PathBuf,
    /// The instance's public URL, exactly as given to `serve`: URLs and log key names derive
    /// from it.
    #[arg(long, env = "MAYFLY_PUBLIC_URL")]
    public_url: url::Url,
    /// Directory to write the three files into (created if missing).
    #[arg(long, env = "MAYFLY_OUT", default_value = ".")]
    out: PathBuf,
    /// List the built-in dev issuer in the signing config, as `serve --dev-issuer` does.
    #[arg(long, env = "MAYFLY_DEV_ISSUER")]
    dev_issuer: bool,
}

#[derive(clap::Args, Debug)]
struct InitArgs {
    /// Directory for the keys, the CA and (by default) the database. Created owner-only.
    #[arg(long, env = "MAYFLY_DATA_DIR", default_value = "./mayfly-data")]
    data_dir: PathBuf,
    /// URL clients will reach the instance at (every replica behind it); the logs' origins
    /// and key names derive from it, so `serve` must be given the same one.
    #[arg(long, env = "MAYFLY_PUBLIC_URL")]
    public_url: url::Url,
    /// Database URL; defaults to sqlite://<data-dir>/mayfly.db.
    #[arg(long, env = "MAYFLY_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the CA keys live: `file` (PKCS#8 PEM in the data dir) or `pkcs11` (the CA's and
    /// both logs' keys in an HSM, made with `mayfly keys create`).
    #[arg(long, env = "MAYFLY_CA", default_value = "file", value_parser = ["file", "pkcs11"])]
    ca: String,
    /// File holding the passphrase that encrypts the CA key files (else MAYFLY_CA_PASSPHRASE).
    #[arg(long, env = "MAYFLY_CA_PASSPHRASE_FILE", value_name = "FILE")]
    ca_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    hsm: HsmArgs,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "MAYFLY_LISTEN", default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// Directory for keys and the embedded database. Created owner-only if missing.
    #[arg(long, env = "MAYFLY_DATA_DIR", default_value = "./mayfly-data")]
    data_dir: PathBuf,
    /// URL clients use to reach this instance; the logs' origins and key names derive from it,
    /// so it must stay the same for the life of the data dir. Defaults to http://<listen>.
    #[arg(long, env = "MAYFLY_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DATABASE (the database must
    /// exist); defaults to sqlite://<data-dir>/mayfly.db.
    #[arg(long, env = "MAYFLY_DATABASE_URL")]
    database_url: Option<String>,
    /// OIDC issuers to accept, in Fulcio's config format (JSON or YAML), so an existing Fulcio
    /// config works unchanged. Without it, the shipped ca-config/issuers.yaml applies (GitHub
    /// Actions, GitLab.com, Buildkite, CircleCI, Codefresh). http:// issuers are accepted only
    /// on loopback hosts.
    #[arg(long, env = "MAYFLY_ISSUERS", value_name = "FILE")]
    issuers: Option<PathBuf>,
    /// Where the CA keys live. `file`: PKCS#8 PEM files in the data dir, created on first
    /// start (encrypted when a passphrase is given). `ephemeral`: new keys in memory at every
    /// start, nothing written — for tests and demos, since no verifier can keep trusting it.
    /// `pkcs11`: the CA's and both logs' keys in an HSM (see --pkcs11-*), created beforehand
    /// with `mayfly keys create`; they never leave the token.
    #[arg(long, env = "MAYFLY_CA", default_value = "file", value_parser = ["file", "ephemeral", "pkcs11"])]
    ca: String,
    /// File holding the passphrase that encrypts the CA key files. Alternatively set
    /// MAYFLY_CA_PASSPHRASE (never a flag: the command line is visible to other users).
    /// Without either, the CA keys are stored unencrypted, owner-only.
    #[arg(long, env = "MAYFLY_CA_PASSPHRASE_FILE", value_name = "FILE")]
    ca_passphrase_file: Option<PathBuf>,
    /// Mount a built-in OIDC issuer under <public-url>/dev-oidc that mints GitHub-Actions-shaped
    /// tokens for anyone who asks, and accept its tokens. For tests and demos only; loudly
    /// logged when on.
    #[arg(long, env = "MAYFLY_DEV_ISSUER")]
    dev_issuer: bool,
    #[command(flatten)]
    issuance: IssuanceArgs,
    #[command(flatten)]
    hsm: HsmArgs,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// Keys in an HSM, through its PKCS#11 module (for `serve --ca pkcs11` and `keys`).
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "HSM (PKCS#11)")]
struct HsmArgs {
    /// The token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, env = "MAYFLY_PKCS11_MODULE", value_name = "PATH")]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token holding the keys.
    #[arg(long, env = "MAYFLY_PKCS11_TOKEN_LABEL", value_name = "LABEL")]
    pkcs11_token_label: Option<String>,
    /// File holding the token's user PIN; without it, MAYFLY_PKCS11_PIN (never a flag: the
    /// command line is visible to other users).
    #[arg(long, env = "MAYFLY_PKCS11_PIN_FILE", value_name = "FILE")]
    pkcs11_pin_file: Option<PathBuf>,
    /// Label of the CA root key (signs intermediates only).
    #[arg(
        long,
        env = "MAYFLY_PKCS11_CA_ROOT_LABEL",
        default_value = "mayfly-ca-root",
        value_name = "LABEL"
    )]
    pkcs11_ca_root_label: String,
    /// Label of the CA intermediate key (signs every certificate).
    #[arg(
        long,
        env = "MAYFLY_PKCS11_CA_LABEL",
        default_value = "mayfly-ca",
        value_name = "LABEL"
    )]
    pkcs11_ca_label: String,
    /// Label of the issuance log key (checkpoints, SCTs).
    #[arg(
        long,
        env = "MAYFLY_PKCS11_ISSUANCE_LOG_LABEL",
        default_value = "mayfly-issuance-log",
        value_name = "LABEL"
    )]
    pkcs11_issuance_log_label: String,
    /// Label of the artifact log key (checkpoints, SETs).
    #[arg(
        long,
        env = "MAYFLY_PKCS11_ARTIFACT_LOG_LABEL",
        default_value = "mayfly-artifact-log",
        value_name = "LABEL"
    )]
    pkcs11_artifact_log_label: String,
    /// Label of the Rekor v2 log key (checkpoints). An instance made before the v2 log
    /// existed needs `mayfly keys create` once to add it.
    #[arg(
        long,
        env = "MAYFLY_PKCS11_REKOR_V2_LOG_LABEL",
        default_value = "mayfly-rekor-v2-log",
        value_name = "LABEL"
    )]
    pkcs11_rekor_v2_log_label: String,
}

impl HsmArgs {
    /// The settings, if the module and token are given.
    fn settings(&self) -> Option<mayfly::hsm::HsmSettings> {
        Some(mayfly::hsm::HsmSettings {
            module: self.pkcs11_module.clone()?,
            token_label: self.pkcs11_token_label.clone()?,
            pin_file: self.pkcs11_pin_file.clone(),
            labels: mayfly::hsm::KeyLabels {
                ca_root: self.pkcs11_ca_root_label.clone(),
                ca: self.pkcs11_ca_label.clone(),
                issuance_log: self.pkcs11_issuance_log_label.clone(),
                artifact_log: self.pkcs11_artifact_log_label.clone(),
                rekor_v2_log: self.pkcs11_rekor_v2_log_label.clone(),
            },
        })
    }
}

/// Who may get a certificate, and how often. SIGHUP (or --watch-config) re-reads --issuers and
/// --policy; an invalid new file keeps the running configuration and says why.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Issuance controls")]
struct IssuanceArgs {
    /// Issuance policy: CEL rules over the verified token's claims, in YAML or JSON. A request
    /// is allowed iff some rule whose issuer matches evaluates to true. Without it, any
    /// identity of a configured issuer gets a certificate, as with Fulcio. Check a policy with
    /// `mayfly policy test`.
    #[arg(long, env = "MAYFLY_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Certificates per identity (the SAN), e.g. 60/min, 10/s, 1000/h; 0 turns it off. The
    /// whole amount may come in one burst.
    #[arg(long, env = "MAYFLY_RATE_LIMIT_IDENTITY", default_value = "300/min", value_name = "RATE",
          value_parser = mayfly::ratelimit::Rate::parse)]
    rate_limit_identity: mayfly::ratelimit::Rate,
    /// Certificate and Rekor write requests per client address (IPv6: per /64); 0 turns it off.
    #[arg(long, env = "MAYFLY_RATE_LIMIT_CLIENT", default_value = "1200/min", value_name = "RATE",
          value_parser = mayfly::ratelimit::Rate::parse)]
    rate_limit_client: mayfly::ratelimit::Rate,
    /// A proxy (CIDR or address, repeatable or comma-separated) whose X-Forwarded-For names
    /// the client; the client limit then applies to the nearest address it does not trust.
    #[arg(long = "trusted-proxy", env = "MAYFLY_TRUSTED_PROXY", value_name = "CIDR",
          value_delimiter = ',', value_parser = mayfly::ratelimit::parse_trusted_proxy)]
    trusted_proxy: Vec<ipnet::IpNet>,
    /// Also reload when --issuers or --policy changes on disk (checked every second).
    #[arg(long, env = "MAYFLY_WATCH_CONFIG")]
    watch_config: bool,
}

/// How `serve` treats client connections. Durations are written like 500ms, 10s, 1m30s.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Connections")]
struct ConnectionArgs {
    /// Time a client has to send a request's headers, counted from connecting (or from the
    /// first byte of a later request on the same connection); then the connection is closed.
    #[arg(long, env = "MAYFLY_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION",
          value_parser = mayfly::server::listener::parse_duration)]
    header_timeout: std::time::Duration,
    /// Time a client has to send a whole request body once its headers are in; then the
    /// request gets 408 and the connection is closed.
    #[arg(long, env = "MAYFLY_BODY_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = mayfly::server::listener::parse_duration)]
    body_timeout: std::time::Duration,
    /// How long a keep-alive connection may wait for its next request (or leave a response
    /// unread) before it is closed. Keep it above the idle timeout of a proxy in front
    /// (60s for nginx and AWS ALB).
    #[arg(long, env = "MAYFLY_IDLE_TIMEOUT", default_value = "75s", value_name = "DURATION",
          value_parser = mayfly::server::listener::parse_duration)]
    idle_timeout: std::time::Duration,
    /// Connections open at once [default: 7/8 of the open-file limit, at most 16384]. At the
    /// limit a new connection replaces the oldest idle one, or is closed if none is idle.
    #[arg(long, env = "MAYFLY_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Connections open at once from one client address (IPv6: one /64) [default: a
    /// quarter of --max-connections]. Behind a reverse proxy every connection comes from the
    /// proxy: set it to --max-connections there.
    #[arg(long, env = "MAYFLY_MAX_CONNECTIONS_PER_CLIENT", value_name = "N")]
    max_connections_per_client: Option<usize>,
    /// On SIGTERM or Ctrl-C, time requests in progress have to finish before their
    /// connections are closed; idle and stalled connections close at once.
    #[arg(long, env = "MAYFLY_SHUTDOWN_GRACE", default_value = "10s", value_name = "DURATION",
          value_parser = mayfly::server::listener::parse_duration)]
    shutdown_grace: std::time::Duration,
}

#[derive(clap::Args, Debug)]
struct HealthArgs {
    /// The health endpoint to ask.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8700/healthz",
        value_name = "URL"
    )]
    url: String,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// The log engine alone on a fresh SQLite file: durable appends/s and latency at several
    /// concurrency levels, inclusion-proof time in a large tree, and bytes on disk per entry.
    Log(LogBenchArgs),
    /// Certificate issuance through the real HTTP API (dev issuer tokens, ephemeral CA, a fresh
    /// SQLite log): issuances/s and latency per client count, with the crypto floor measured
    /// in the same run and the ratio to it.
    Issue(HttpBenchArgs),
    /// Rekor v1 appends through the real HTTP API (dsse entries of ~1.5 KiB, as npm sends
    /// them): entries/s and latency per client count, read latency meanwhile, with the crypto
    /// floor measured in the same run and the ratio to it.
    Rekor(HttpBenchArgs),
    /// RFC 3161 timestamps through the real HTTP API (DER queries with a nonce and certReq):
    /// timestamps/s and latency per client count, with the crypto floor (one P-256 signature
    /// and the hashing) measured in the same run and the ratio to it.
    Tsa(HttpBenchArgs),
    /// The cost of an issuance policy per request: `Policy::evaluate` on the claims of a
    /// request (as `mayfly policy test` takes them), timed on one core against the issuance
    /// floor measured in the same run.
    Policy(PolicyBenchArgs),
    /// The auditor's reads on a large instance: fills a fresh local instance with real
    /// certificates for many repositories (timing the index lag under that load), then times
    /// the search API and the explorer's pages one request at a time.
    Audit(AuditBenchArgs),
    /// Writes request bodies (certificate requests and distinct dsse entries for a running
    /// `serve --dev-issuer`) and a wrk script, to load the server with a generic HTTP tool and
    /// check `bench issue` and `bench rekor` against it. Prints the wrk commands.
    Bodies(BodiesBenchArgs),
    /// Serves canned answers through the same HTTP stack as `serve`, doing nothing else, until
    /// Ctrl-C. Loaded by wrk with the files of `bench bodies`, it measures what HTTP alone
    /// costs on this machine (generator, kernel, hyper, axum): the crypto floor plus that is
    /// the most any server could reach here.
    HttpFloor(HttpFloorBenchArgs),
}

#[derive(clap::Args, Debug)]
struct HttpFloorBenchArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: std::net::SocketAddr,
    /// Status of every answer: 201 to imitate Rekor entries, 200 certificates.
    #[arg(long, default_value_t = 201)]
    status: u16,
    /// Size in bytes of every answer's body: that of the real answer being imitated (a dsse
    /// entry's 201, with its inclusion proof and checkpoint, is about 5.4 KiB; a certificate
    /// chain's 200 about 3.7 KiB).
    #[arg(long, default_value_t = 5528)]
    reply_bytes: usize,
}

#[derive(clap::Args, Debug)]
struct BodiesBenchArgs {
    /// The running Mayfly (started with `--dev-issuer`) the bodies are for.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Directory for issue.jsonl, dsse.jsonl and post.lua (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Distinct dsse entries to write (about 3.7 KiB each); a run that sends more than this
    /// sends some twice and gets 409 for them.
    #[arg(long, default_value_t = 200_000)]
    entries: usize,
}

#[derive(clap::Args, Debug)]
struct AuditBenchArgs {
    /// Certificates to issue before timing the reads.
    #[arg(long, default_value_t = 100_000)]
    certificates: u64,
    /// Repositories the certificates are spread over (ten per owner).
    #[arg(long, default_value_t = 10_000)]
    repositories: usize,
    /// Concurrent clients issuing during the fill.
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// Timed requests per kind of read.
    #[arg(long, default_value_t = 500)]
    samples: usize,
}

#[derive(clap::Args, Debug)]
struct PolicyBenchArgs {
    /// The policy file (YAML or JSON), as given to `serve --policy`.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The verified token's claims, as a JSON object.
    #[arg(long, value_name = "FILE")]
    claims: PathBuf,
    /// The issuer, when the claims have no `iss`.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The issuer configuration (default: the shipped one).
    #[arg(long, env = "MAYFLY_ISSUERS", value_name = "FILE")]
    issuers: Option<PathBuf>,
    /// Evaluations per timed batch.
    #[arg(long, default_value_t = 1000)]
    batch: u32,
}

#[derive(clap::Args, Debug)]
struct HttpBenchArgs {
    /// Concurrent HTTP clients to measure, comma-separated.
    #[arg(
        long,
        env = "MAYFLY_CONCURRENCY",
        value_delimiter = ',',
        default_value = "1,16,256"
    )]
    concurrency: Vec<usize>,
    /// How long to measure each client count, in seconds.
    #[arg(long, env = "MAYFLY_SECONDS", default_value_t = 10.0)]
    seconds: f64,
    /// Load a running Mayfly (started with --dev-issuer, which supplies the tokens) instead of
    /// a fresh one in this process. Several replicas, comma-separated: the clients are spread
    /// evenly over them, each with tokens from its own replica's dev issuer.
    #[arg(long, env = "MAYFLY_BENCH_URL", value_name = "URL")]
    url: Option<String>,
    /// Offer this many requests per second in total (open loop) instead of sending each
    /// client's next request as soon as its last one answered (closed loop). Requests follow a
    /// fixed schedule spread over the clients, and latency counts from the scheduled time, so
    /// queueing in a saturated server shows up in the percentiles instead of slowing the load.
    #[arg(long, env = "MAYFLY_RATE", value_name = "PER_SECOND")]
    rate: Option<f64>,
}

#[derive(clap::Args, Debug)]
struct LogBenchArgs {
    /// Concurrent appenders to measure, comma-separated.
    #[arg(
        long,
        env = "MAYFLY_CONCURRENCY",
        value_delimiter = ',',
        default_value = "1,64,1024"
    )]
    concurrency: Vec<usize>,
    /// How long to measure each concurrency level, in seconds.
    #[arg(long, env = "MAYFLY_SECONDS", default_value_t = 10.0)]
    seconds: f64,
    /// Size of each appended entry in bytes.
    #[arg(long, env = "MAYFLY_ENTRY_BYTES", default_value_t = 512)]
    entry_bytes: usize,
    /// Tree size at which to time inclusion proofs (the log is filled up to it first).
    #[arg(long, env = "MAYFLY_PROOF_TREE_SIZE", default_value_t = 1_000_000)]
    proof_tree_size: u64,
    /// Directory for the scratch database (a temporary directory by default).
    #[arg(long, env = "MAYFLY_DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Benchmarks print a report; per-request service logs would drown it.
    let default_log = match cli.command {
        Command::Bench(_)
        | Command::Attest(_)
        | Command::Verify(_)
        | Command::Policy(_)
        | Command::Keys(_)
        | Command::Ca(_)
        | Command::Audit(_)
        | Command::Health(_)
        | Command::Index(_)
        | Command::Init(_) => "warn",
        // The demo's own server runs on loopback for a few seconds; its startup warnings
        // (dev issuer on, CA keys unencrypted) are expected there and would bury the report.
        Command::Demo(_) => "error",
        _ => "info,tower_http=warn,sqlx=warn",
    };
    init_tracing(&cli.log_format, default_log);
    if let Command::Policy(PolicyCommand::Test(args)) = &cli.command {
        return policy_test(args);
    }
    // The service reports a fatal error in its log stream too (journald, JSON collectors); the
    // interactive commands just say it once on stderr.
    let is_service = matches!(cli.command, Command::Serve(_));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mayfly: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => {
                let public_url = match args.public_url {
                    Some(url) => url,
                    None => url::Url::parse(&format!("http://{}", args.listen))?,
                };
                let config = mayfly::server::ServeConfig {
                    listen: args.listen,
                    data_dir: args.data_dir,
                    public_url,
                    database_url: args.database_url,
                    issuers: args.issuers,
                    ca: mayfly::ca::setup::CaBackend::parse(&args.ca)
                        .ok_or("--ca must be file, ephemeral or pkcs11")?,
                    ca_passphrase_file: args.ca_passphrase_file,
                    dev_issuer: args.dev_issuer,
                    policy: args.issuance.policy,
                    rate_limit_identity: args.issuance.rate_limit_identity,
                    rate_limit_client: args.issuance.rate_limit_client,
                    trusted_proxies: args.issuance.trusted_proxy,
                    watch_config: args.issuance.watch_config,
                    hsm: args.hsm.settings(),
                    connections: mayfly::server::listener::ConnectionSettings {
                        header_read_timeout: args.connections.header_timeout,
                        body_read_timeout: args.connections.body_timeout,
                        keep_alive_idle_timeout: args.connections.idle_timeout,
                        shutdown_grace: args.connections.shutdown_grace,
                        max_connections: args.connections.max_connections,
                        max_connections_per_ip: args.connections.max_connections_per_client,
                    },
                };
                Ok(mayfly::server::run(config).await?)
            }
            Command::Init(args) => {
                let config = mayfly::server::InitConfig {
                    data_dir: args.data_dir,
                    public_url: args.public_url,
                    database_url: args.database_url,
                    ca: mayfly::ca::setup::CaBackend::parse(&args.ca)
                        .ok_or("--ca must be file or pkcs11")?,
                    ca_passphrase_file: args.ca_passphrase_file,
                    hsm: args.hsm.settings(),
                };
                println!("{}", mayfly::server::init(&config).await?);
                Ok(())
            }
            Command::Attest(args) => {
                use mayfly_client::commands::{AttestSubject, attest};
                let (subject, common) = match args.npm {
                    Some(AttestNpm::Npm { tarball, common }) => {
                        (AttestSubject::Npm(tarball), common)
                    }
                    None => match (args.file, args.predicate, args.predicate_type) {
                        (Some(path), Some(predicate), Some(predicate_type)) => (
                            AttestSubject::File {
                                path,
                                predicate,
                                predicate_type,
                            },
                            args.common,
                        ),
                        _ => return Err(
                            "give a file with --predicate and --predicate-type, or `npm <tarball>`"
                                .into(),
                        ),
                    },
                };
                let attested =
                    attest(subject, common.server, common.identity_token, common.out).await?;
                println!(
                    "logged in the artifact log at index {}; bundle written to {}",
                    attested.log_index,
                    attested.bundle_path.display()
                );
                Ok(())
            }
            Command::Verify(args) => {
                use mayfly_client::commands::{describe, verify, verify_npm_tarball};
                let verified = match args.npm {
                    Some(VerifyNpm::Npm {
                        tarball,
                        bundle,
                        trust,
                    }) => verify_npm_tarball(
                        &tarball,
                        &bundle,
                        trust.trusted_root()?,
                        trust.identity(),
                    )?,
                    None => {
                        let bundle = args.bundle.ok_or("a bundle is required")?;
                        verify(
                            &bundle,
                            args.artifact.as_deref(),
                            args.digest.as_deref(),
                            args.trust.trusted_root()?,
                            args.trust.identity(),
                            args.key.as_deref(),
                        )?
                    }
                };
                print!("{}", describe(&verified));
                Ok(())
            }
            Command::Demo(args) => {
                Ok(mayfly::demo::run(mayfly::demo::Options { keep: args.keep }).await?)
            }
            // Handled before the runtime starts, for its exit codes.
            Command::Policy(_) => Ok(()),
            Command::Keys(command) => keys(command),
            Command::Health(args) => {
                let answer = mayfly_client::commands::health(&args.url).await?;
                println!("healthy: {answer}");
                Ok(())
            }
            Command::Ca(CaCommand::Rotate(args)) => {
                let config = mayfly::server::RotateConfig {
                    data_dir: args.data_dir,
                    ca: mayfly::ca::setup::CaBackend::parse(&args.ca)
                        .ok_or("--ca must be file or pkcs11")?,
                    ca_passphrase_file: args.ca_passphrase_file,
                    hsm: args.hsm.settings(),
                    rotation: mayfly::ca::setup::Rotation {
                        active_from: args.at.unwrap_or_else(time::OffsetDateTime::now_utc),
                        new_root: args.new_root,
                        root_key_file: args.root_key,
                    },
                };
                let generation = mayfly::server::rotate_ca(&config)?;
                println!(
                    "CA generation {} (root of generation {}) signs from {}",
                    generation.number,
                    generation.root,
                    mayfly::ca::generations::rfc3339(generation.active_from)
                );
                Ok(())
            }
            Command::Audit(AuditCommand::Watch(args)) => {
                use mayfly_client::audit::watch::{WatchOptions, watch, watch_once};
                let options = WatchOptions {
                    repositories: args.repositories,
                    identity_regexps: args.identity_regexps,
                    webhook: args.webhook,
                    trusted_root: args.trusted_root,
                    interval: std::time::Duration::from_secs(args.interval),
                    ..WatchOptions::new(args.server, args.state)
                };
                if args.once {
                    watch_once(&options).await?;
                } else {
                    watch(&options).await?;
                }
                Ok(())
            }
            Command::Tuf(command) => tuf(command),
            Command::Trust(args) => {
                let documents = mayfly::trust::datadir::from_data_dir(
                    &mayfly::instance::DataDir::new(&args.data_dir),
                    &mayfly::instance::PublicUrl::new(args.public_url)?,
                    args.dev_issuer,
                )?;
                for path in mayfly::trust::datadir::write_files(&documents, &args.out)? {
                    println!("{}", path.display());
                }
                Ok(())
            }
            Command::Audit(AuditCommand::Search(args)) => audit_search(args).await,
            Command::Migrate(args) => {
                let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
                let report =
                    mayfly::server::migrate(&args.data_dir, &args.from, &args.to, progress)
                        .await?;
                for log in &report.logs {
                    println!(
                        "{}: copied and verified {} entries, {} tiles, {} bundles, {} dedup rows; root {}",
                        log.name,
                        log.audit.size,
                        log.audit.tiles,
                        log.audit.bundles,
                        log.leaf_rows,
                        log.audit.root
                    );
                }
                for (log, entries) in &report.index {
                    println!("{log}: indexed {entries} entries");
                }
                Ok(())
            }
            Command::Index(IndexCommand::Rebuild(args)) => {
                let report =
                    mayfly::server::rebuild_index(&args.data_dir, args.database_url.as_deref())
                        .await?;
                for (log, entries) in report {
                    println!("{log}: indexed {entries} entries");
                }
                Ok(())
            }
            Command::Bench(BenchCommand::Issue(args)) => {
                let options = mayfly::bench::issue::Options {
                    concurrency: args.concurrency,
                    seconds: args.seconds,
                    url: args.url,
                    rate: args.rate,
                };
                Ok(mayfly::bench::issue::run(options).await?)
            }
            Command::Bench(BenchCommand::Rekor(args)) => {
                let options = mayfly::bench::rekor::Options {
                    concurrency: args.concurrency,
                    seconds: args.seconds,
                    url: args.url,
                    rate: args.rate,
                };
                Ok(mayfly::bench::rekor::run(options).await?)
            }
            Command::Bench(BenchCommand::Tsa(args)) => {
                let options = mayfly::bench::issue::Options {
                    concurrency: args.concurrency,
                    seconds: args.seconds,
                    url: args.url,
                    rate: args.rate,
                };
                Ok(mayfly::bench::tsa::run(options).await?)
            }
            Command::Bench(BenchCommand::Policy(args)) => Ok(mayfly::bench::policy::run(
                mayfly::bench::policy::Options {
                    policy: args.policy,
                    claims: args.claims,
                    issuers: args.issuers,
                    issuer: args.issuer,
                    batch: args.batch,
                },
            )?),
            Command::Bench(BenchCommand::Bodies(args)) => {
                let options = mayfly::bench::bodies::Options {
                    url: args.url,
                    out: args.out,
                    entries: args.entries,
                };
                Ok(mayfly::bench::bodies::run(options).await?)
            }
            Command::Bench(BenchCommand::HttpFloor(args)) => {
                let options = mayfly::bench::http_floor::Options {
                    listen: args.listen,
                    status: args.status,
                    reply_bytes: args.reply_bytes,
                };
                Ok(mayfly::bench::http_floor::run(options).await?)
            }
            Command::Bench(BenchCommand::Audit(args)) => {
                let options = mayfly::bench::audit::Options {
                    certificates: args.certificates,
                    repositories: args.repositories,
                    clients: args.clients,
                    samples: args.samples,
                };
                Ok(mayfly::bench::audit::run(options).await?)
            }
            Command::Bench(BenchCommand::Log(args)) => {
                let options = mayfly::bench::log::Options {
                    concurrency: args.concurrency,
                    seconds: args.seconds,
                    entry_bytes: args.entry_bytes,
                    proof_tree_size: args.proof_tree_size,
                    dir: args.dir,
                };
                Ok(mayfly::bench::log::run(options).await?)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_service {
                tracing::error!("{e}");
            }
            eprintln!("mayfly: {e}");
            // A monitor's caller must tell "the log misbehaved" from "could not check".
            let misbehaved = e
                .downcast_ref::<mayfly_client::audit::watch::WatchError>()
                .is_some_and(|e| e.is_log_misbehaviour());
            if misbehaved {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn tuf(command: TufCommand) -> Result<(), Box<dyn std::error::Error>> {
    use mayfly::instance::{DataDir, PublicUrl};
    use mayfly::tuf::repository::{self, Expiries, KeyDirs, Publish};
    let now = time::OffsetDateTime::now_utc();
    let expiries = Expiries::default();
    let print = |paths: Vec<PathBuf>| paths.iter().for_each(|p| println!("{}", p.display()));
    let (key_args, publish) = match command {
        TufCommand::Init(args) => (
            args.keys,
            Some((Publish::Init, args.public_url, args.dev_issuer)),
        ),
        TufCommand::Update(args) => {
            let publish = args.public_url.filter(|_| !args.timestamp_only);
            (
                args.keys,
                publish.map(|url| (Publish::Update, url, args.dev_issuer)),
            )
        }
        TufCommand::RotateRoot(args) => {
            let data_dir = DataDir::new(&args.data_dir);
            let keys = KeyDirs::new(&data_dir, args.offline_key_dir.as_deref());
            print(vec![repository::rotate_root(
                &data_dir, &keys, now, &expiries,
            )?]);
            return Ok(());
        }
    };
    let data_dir = DataDir::new(&key_args.data_dir);
    let keys = KeyDirs::new(&data_dir, key_args.offline_key_dir.as_deref());
    match publish {
        Some((mode, url, dev_issuer)) => print(repository::publish_trust(
            &data_dir,
            &keys,
            &PublicUrl::new(url)?,
            dev_issuer,
            mode,
            now,
            &expiries,
        )?),
        None => {
            let done = repository::refresh(&data_dir, &keys, now, &expiries)?;
            let state = |resigned| if resigned { "re-signed" } else { "still fresh" };
            println!(
                "timestamp {}, snapshot {}",
                state(done.timestamp),
                state(done.snapshot)
            );
        }
    }
    Ok(())
}

async fn audit_search(args: AuditSearchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let filters = [
        ("san", args.san),
        ("issuer", args.issuer),
        ("repository", args.repository),
        ("owner", args.owner),
        ("ref", args.git_ref),
        ("workflow", args.workflow),
        ("trigger", args.trigger),
        ("since", args.since),
        ("until", args.until),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name.to_owned(), value?)))
    .collect();
    let text = mayfly_client::commands::audit_search(
        args.server,
        filters,
        args.limit,
        args.trusted_root.as_deref(),
        args.json,
    )
    .await?;
    print!("{text}");
    Ok(())
}

/// Parses the command line, filling flags left at their defaults from the `--config` file.
fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<String> = std::env::args().collect();
    let matches = Cli::command().try_get_matches_from(&args)?;
    let Some(path) = matches.get_one::<PathBuf>("config").cloned() else {
        return Cli::from_arg_matches(&matches);
    };
    let io_error = |msg: String| Cli::command().error(clap::error::ErrorKind::Io, msg);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io_error(format!("cannot read --config {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| io_error(format!("--config {}: {e}", path.display())))?;
    // Keys are checked against the subcommand's definition (not its matches, which list only
    // the arguments that were given or defaulted).
    let mut command = Cli::command();
    command.build();
    let mut defined = &command;
    let mut given = &matches;
    while let Some((name, next)) = given.subcommand() {
        defined = defined
            .find_subcommand(name)
            .ok_or_else(|| io_error(format!("unknown subcommand {name:?}")))?;
        given = next;
    }
    let mut extended = args.clone();
    for (key, value) in &table {
        let flag = key.replace('_', "-");
        let id = flag.replace('-', "_");
        if !defined
            .get_arguments()
            .any(|a| a.get_id().as_str() == id && a.get_long().is_some())
            || id == "config"
        {
            return Err(io_error(format!(
                "--config {}: unknown setting {key:?} for this subcommand",
                path.display()
            )));
        }
        if matches!(
            given.value_source(&id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| v.to_string().trim_matches('"').to_owned())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        extended.push(format!("--{flag}={value}"));
    }
    Cli::from_arg_matches(&Cli::command().try_get_matches_from(extended)?)
}

/// `mayfly keys create|list`.
fn keys(command: KeysCommand) -> Result<(), Box<dyn std::error::Error>> {
    let (args, create) = match command {
        KeysCommand::Create(args) => (args, true),
        KeysCommand::List(args) => (args, false),
    };
    let hsm = args
        .settings()
        .ok_or("--pkcs11-module and --pkcs11-token-label are required")?;
    let session = hsm.open()?;
    if create {
        for (purpose, label, created) in hsm.create_keys(&session)? {
            let what = if created { "created" } else { "exists " };
            println!("{what}  {label:<24} {purpose}");
        }
    } else {
        let present = session.private_key_labels()?;
        for (purpose, label) in hsm.labels.all() {
            let state = if present.iter().any(|l| l == label) {
                "present"
            } else {
                "missing"
            };
            println!("{state}  {label:<24} {purpose}");
        }
        for other in present
            .iter()
            .filter(|l| !hsm.labels.all().iter().any(|(_, m)| m == l))
        {
            println!("other    {other}");
        }
    }
    Ok(())
}

/// `mayfly policy test`: 0 allow, 1 deny, 2 unusable policy or input.
fn policy_test(args: &PolicyTestArgs) -> ExitCode {
    use mayfly::policy::dry_run::{Input, test_files};
    let input = match (&args.token, &args.claims) {
        (Some(token), _) => Input::Token(token),
        (None, Some(file)) => Input::ClaimsFile(file),
        (None, None) => unreachable_input(),
    };
    match test_files(
        &args.policy,
        args.issuers.as_deref(),
        input,
        args.issuer.clone(),
    ) {
        Ok(outcome) => {
            print!("{}", outcome.report());
            ExitCode::from(if outcome.decision.allowed { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("mayfly policy test: {e}");
            ExitCode::from(2)
        }
    }
}

/// clap's argument group requires --token or --claims; this is never reached.
fn unreachable_input() -> ! {
    eprintln!("mayfly policy test: give --token or --claims");
    std::process::exit(2)
}

/// `default` applies unless MAYFLY_LOG says otherwise.
fn init_tracing(format: &str, default: &str) {
    mayfly::logging::init(format == "json", default);
}
