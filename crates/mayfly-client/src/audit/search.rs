//! `mayfly audit search`: the auditor's view of an instance's issuance log, trusting nothing the
//! server says that it cannot check.
//!
//! Every answer of `GET /api/v1/audit/certificates` carries the logged `MerkleTreeLeaf`, an
//! inclusion proof and the signed checkpoint it is against. Before anything is shown, each one
//! is checked here: the checkpoint's signature under an issuance (CT) log key of the trusted
//! root, the proof from the leaf's hash to the checkpoint's root, the leaf's own `leaf_index`,
//! and that the certificate, identity and extensions the server shows are exactly the ones in
//! the logged TBS. One failure fails the whole search: an auditor must not read a table in
//! which some rows are proven and some are not.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::audit::{
    AuditedCertificate, CertificatesPage, identity_from_tbs, repository_path,
};
use mayfly_spec::ct;
use mayfly_spec::sigstore::trusted_root::TrustedRoot;
use mayfly_spec::tlog::checkpoint::Checkpoint;
use mayfly_spec::tlog::proof::verify_inclusion;
use mayfly_spec::tlog::{Hash, leaf_hash};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Usage(String),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("trusted root: {0}")]
    TrustedRoot(String),
    /// An answer that does not verify: the search is refused as a whole.
    #[error("certificate at log index {index} does not verify: {reason}")]
    Unverified { index: u64, reason: String },
}

/// What to search for and where.
pub struct SearchOptions {
    pub server: url::Url,
    /// Query parameters: `san`, `issuer`, `repository`, `owner`, `ref`, `workflow`, `trigger`,
    /// `since`, `until` (RFC 3339).
    pub filters: Vec<(String, String)>,
    /// At most this many certificates, fetched page by page.
    pub max: usize,
    /// A pinned trusted root (its bytes); `None` fetches the instance's own.
    pub trusted_root: Option<Vec<u8>>,
}

/// Runs the search and verifies every answer; returns them in log order.
pub async fn search(options: &SearchOptions) -> Result<Vec<AuditedCertificate>, AuditError> {
    let client = crate::net::https_client("mayfly-audit").map_err(AuditError::Usage)?;
    let root_bytes = match &options.trusted_root {
        Some(bytes) => bytes.clone(),
        None => {
            get(
                &client,
                &endpoint(&options.server, "trust/trusted_root.json")?,
            )
            .await?
        }
    };
    let root =
        TrustedRoot::parse(&root_bytes).map_err(|e| AuditError::TrustedRoot(e.to_string()))?;
    if root.ctlogs.is_empty() {
        return Err(AuditError::TrustedRoot(
            "it names no issuance (CT) log to check checkpoints against".into(),
        ));
    }
    let mut checked = Checkpoints::default();
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    while found.len() < options.max {
        let mut url = endpoint(&options.server, "api/v1/audit/certificates")?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in &options.filters {
                query.append_pair(name, value);
            }
            let limit = (options.max - found.len()).min(1000);
            query.append_pair("limit", &limit.to_string());
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
        }
        let body = get(&client, &url).await?;
        let page: CertificatesPage =
            serde_json::from_slice(&body).map_err(|e| AuditError::Http {
                url: url.to_string(),
                message: format!("not a page of certificates: {e}"),
            })?;
        for item in page.certificates {
            if found.len() == options.max {
                break;
            }
            verify(&root, &mut checked, &item)
                .and_then(|()| matches(&options.filters, &item))
                .map_err(|reason| AuditError::Unverified {
                    index: item.log_index,
                    reason,
                })?;
            found.push(item);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(found)
}

/// Checkpoints already verified, by note text: one page shares one checkpoint.
#[derive(Default)]
struct Checkpoints(HashMap<String, Checkpoint>);

impl Checkpoints {
    fn open(&mut self, root: &TrustedRoot, note: &str) -> Result<Checkpoint, String> {
        if let Some(cp) = self.0.get(note) {
            return Ok(cp.clone());
        }
        let mut why = Vec::new();
        for log in &root.ctlogs {
            match crate::verify::tlog::open_checkpoint(log, &log.log_id, note) {
                Ok(cp) => {
                    self.0.insert(note.to_owned(), cp.clone());
                    return Ok(cp);
                }
                Err(e) => why.push(e.to_string()),
            }
        }
        Err(format!(
            "the checkpoint is not signed by an issuance log of the trusted root ({})",
            why.join("; ")
        ))
    }
}

/// Every check of one answer (see the module doc).
fn verify(
    root: &TrustedRoot,
    checkpoints: &mut Checkpoints,
    item: &AuditedCertificate,
) -> Result<(), String> {
    let proof = &item.inclusion_proof;
    let checkpoint = checkpoints.open(root, &proof.checkpoint)?;
    if checkpoint.size != proof.tree_size || checkpoint.root.to_hex() != proof.root_hash {
        return Err("the proof's tree size and root are not the checkpoint's".into());
    }
    if proof.log_index != item.log_index {
        return Err("the proof is for another log index".into());
    }
    let leaf = STANDARD
        .decode(&item.leaf)
        .map_err(|e| format!("leaf is not base64: {e}"))?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).ok_or_else(|| format!("proof hash {h:?} is not hex")))
        .collect::<Result<Vec<_>, _>>()?;
    verify_inclusion(
        &leaf_hash(&leaf),
        item.log_index,
        proof.tree_size,
        &hashes,
        &checkpoint.root,
    )
    .map_err(|e| format!("inclusion proof: {e}"))?;

    let logged = ct::parse_precert_leaf(&leaf).map_err(|e| format!("leaf: {e}"))?;
    match ct::leaf_index_from_extensions(logged.extensions) {
        Ok(Some(index)) if index != item.log_index => {
            return Err(format!("the leaf says it is entry {index}"));
        }
        Err(e) => return Err(format!("leaf extensions: {e}")),
        _ => {}
    }
    if logged.timestamp_ms != item.timestamp {
        return Err("the timestamp shown is not the logged one".into());
    }
    let (_, der) = mayfly_spec::pem::decode(item.certificate.as_bytes())
        .map_err(|e| format!("certificate PEM: {e}"))?;
    if ct::tbs_certificate(&der).map_err(|e| format!("certificate: {e}"))? != logged.entry.tbs {
        return Err("the certificate shown is not the logged one".into());
    }
    let identity = identity_from_tbs(logged.entry.tbs).map_err(|e| e.to_string())?;
    if identity.san() != item.san
        || identity.issuer != item.issuer
        || identity.extensions_by_name() != item.extensions
    {
        return Err("the identity shown is not the one in the logged certificate".into());
    }
    Ok(())
}

/// Checks the answers of a search (one or more pages) as [`search`] does, against the trusted
/// root `root` (its JSON), without fetching anything: for auditing answers obtained elsewhere.
pub fn verify_answers(
    root: &[u8],
    filters: &[(String, String)],
    answers: &[AuditedCertificate],
) -> Result<(), AuditError> {
    let root = TrustedRoot::parse(root).map_err(|e| AuditError::TrustedRoot(e.to_string()))?;
    let mut checked = Checkpoints::default();
    for item in answers {
        verify(&root, &mut checked, item)
            .and_then(|()| matches(filters, item))
            .map_err(|reason| AuditError::Unverified {
                index: item.log_index,
                reason,
            })?;
    }
    Ok(())
}

/// Whether a verified answer is one the filters asked for: the server chooses which entries
/// to return, so at least every one it returns must match (what it leaves out, only a
/// monitor reading the whole log can tell).
fn matches(filters: &[(String, String)], item: &AuditedCertificate) -> Result<(), String> {
    let ext = |name: &str| item.extensions.get(name).map_or("", String::as_str);
    let uri_or_path = |have: &str, want: &str| {
        if want.contains("://") {
            have == want
        } else {
            repository_path(have).as_deref() == Some(want.trim_matches('/'))
        }
    };
    let time = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("{text:?} is not an RFC 3339 time"))
    };
    let not_before = time(&item.not_before)?;
    for (name, want) in filters {
        let ok = match name.as_str() {
            "san" => item.san == *want,
            "issuer" => item.issuer == *want,
            "repository" => uri_or_path(ext("SourceRepositoryURI"), want),
            "owner" => uri_or_path(ext("SourceRepositoryOwnerURI"), want),
            "ref" => ext("SourceRepositoryRef") == want,
            "workflow" => ext("BuildSignerURI") == want,
            "trigger" => ext("BuildTrigger") == want,
            "since" => not_before >= time(want)?,
            "until" => not_before <= time(want)?,
            _ => true,
        };
        if !ok {
            return Err(format!("it does not match {name}={want}"));
        }
    }
    Ok(())
}

fn endpoint(server: &url::Url, path: &str) -> Result<url::Url, AuditError> {
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path)
        .map_err(|e| AuditError::Usage(format!("--server {server}: {e}")))
}

async fn get(client: &reqwest::Client, url: &url::Url) -> Result<Vec<u8>, AuditError> {
    let fail = |message: String| AuditError::Http {
        url: url.to_string(),
        message,
    };
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        return Err(fail(format!("{status}: {message}")));
    }
    Ok(body.to_vec())
}

/// The verified certificates as a table: log index, notBefore, SAN, repository, ref, trigger.
pub fn table(certificates: &[AuditedCertificate]) -> String {
    let ext =
        |c: &AuditedCertificate, name: &str| c.extensions.get(name).cloned().unwrap_or_default();
    let rows: Vec<[String; 6]> = certificates
        .iter()
        .map(|c| {
            [
                c.log_index.to_string(),
                c.not_before.clone(),
                c.san.clone(),
                ext(c, "SourceRepositoryURI"),
                ext(c, "SourceRepositoryRef"),
                ext(c, "BuildTrigger"),
            ]
        })
        .collect();
    let header = ["INDEX", "NOT BEFORE", "SAN", "REPOSITORY", "REF", "TRIGGER"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "{} certificate(s); every inclusion proof and checkpoint signature verified\n",
        certificates.len()
    ));
    out
}
