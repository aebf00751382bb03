//! The HTTPS client every command here builds on.

use std::sync::Arc;
use std::time::Duration;

/// Generous for a CI runner talking to a loaded server, short enough that a dead one fails
/// the job rather than hanging it.
const TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTPS client trusting the system roots, with aws-lc as the TLS provider. Redirects are
/// not followed: none of Mayfly's endpoints redirects, and a redirected POST would resend the
/// identity token somewhere else.
pub(crate) fn https_client(agent: &str) -> Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    let native = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    // Unparsable system roots are skipped: they could never anchor a chain anyway.
    let _ = roots.add_parsable_certificates(native.certs);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!("{agent}/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}
