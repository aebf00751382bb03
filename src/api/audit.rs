//! The auditors' read API over the search index: `GET /api/v1/audit/certificates` (issuance
//! log) and Rekor's `POST /api/v1/index/retrieve` (artifact log).
//!
//! Both check every parameter before touching the index and answer 400 naming the parameter;
//! both are bounded: a certificate page holds at most [`MAX_LIMIT`] items and continues with a
//! cursor (the log index the next page starts at), and a Rekor index search answers at most
//! [`MAX_UUIDS`] entry IDs, refusing a query that matches more rather than cutting it short.

use super::error::RekorApiError;
use super::{ApiError, SharedState};
use crate::index::extract::{digest_key, key_fingerprint};
use crate::index::search::{self, ArtifactSearchError, CertificateFilters};
use crate::index::{Field, Term};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

/// Items per certificate page: the default, and the most a client may ask for.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Most UUIDs one index search answers.
const MAX_UUIDS: usize = 1000;

pub(super) fn router() -> Router<super::SharedState> {
    Router::new()
        .route("/api/v1/audit/certificates", get(certificates))
        .route("/api/v1/index/retrieve", post(index_retrieve))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// A certificate search as the query string states it.
pub(super) struct CertificateSearch {
    pub(super) filters: CertificateFilters,
    pub(super) start: u64,
    pub(super) limit: usize,
}

fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    time::OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            bad(format!(
                "{name} must be an RFC 3339 time such as 2026-12-01T00:00:00Z, got {text:?}"
            ))
        })
}

/// `value` as an exact URI (with a scheme) or, without one, as the URI's path (`owner/name`).
fn uri_or_path(value: &str, uri: Field, path: Field) -> Term {
    if value.contains("://") {
        Term::new(uri, value)
    } else {
        Term::new(path, value.trim_matches('/'))
    }
}

pub(super) fn parse_search(params: &[(String, String)]) -> Result<CertificateSearch, ApiError> {
    let mut search = CertificateSearch {
        filters: CertificateFilters::default(),
        start: 0,
        limit: DEFAULT_LIMIT,
    };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in params {
        if !seen.insert(name.as_str()) {
            return Err(bad(format!("{name} is given more than once")));
        }
        if value.is_empty() {
            return Err(bad(format!("{name} is empty")));
        }
        let terms = &mut search.filters.terms;
        match name.as_str() {
            "san" => terms.push(Term::new(Field::San, value.as_str())),
            "issuer" => terms.push(Term::new(Field::Issuer, value.as_str())),
            "repository" => {
                terms.push(uri_or_path(value, Field::Repository, Field::RepositoryPath))
            }
            "owner" => terms.push(uri_or_path(value, Field::Owner, Field::OwnerPath)),
            "ref" => terms.push(Term::new(Field::Ref, value.as_str())),
            "workflow" => terms.push(Term::new(Field::Workflow, value.as_str())),
            "trigger" => terms.push(Term::new(Field::Trigger, value.as_str())),
            "since" => search.filters.since = Some(parse_time(name, value)?),
            "until" => search.filters.until = Some(parse_time(name, value)?),
            "limit" => {
                search.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "limit must be an integer from 1 to {MAX_LIMIT}, got {value:?}"
                        ))
                    })?;
            }
            "cursor" => {
                search.start = value.parse::<u64>().map_err(|_| {
                    bad(format!(
                        "cursor {value:?} is not one this API handed out (a nextCursor value)"
                    ))
                })?;
            }
            other => {
                return Err(bad(format!(
                    "unknown parameter {other:?}; the parameters are san, issuer, repository, \
                     owner, ref, workflow, trigger, since, until, limit and cursor"
                )));
            }
        }
    }
    if let (Some(since), Some(until)) = (search.filters.since, search.filters.until)
        && since > until
    {
        return Err(bad("since is after until"));
    }
    Ok(search)
}

async fn certificates(
    State(state): State<SharedState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let search = parse_search(&params)?;
    let page =
        search::certificate_page(&state.issuance, &search.filters, search.start, search.limit)
            .await?;
    let body = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// Rekor's `hash` query: `[alg:]hex`, the algorithm inferred from the length when absent.
fn hash_term(text: &str) -> Result<Term, RekorApiError> {
    let (algorithm, hex) = match text.split_once(':') {
        Some((alg, hex)) => (alg.to_ascii_lowercase(), hex),
        None => match text.len() {
            64 => ("sha256".to_owned(), text),
            128 => ("sha512".to_owned(), text),
            40 => ("sha1".to_owned(), text),
            _ => ("".to_owned(), text),
        },
    };
    let want = match algorithm.as_str() {
        "sha256" => 64,
        "sha512" => 128,
        "sha1" => 40,
        _ => 0,
    };
    if want == 0 || hex.len() != want || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RekorApiError::BadQuery(format!(
            "hash must be sha256:<64 hex>, sha512:<128 hex> or sha1:<40 hex>, got {text:?}"
        )));
    }
    Ok(Term::new(Field::Digest, digest_key(&algorithm, hex)))
}

/// Rekor's `publicKey` query: `{format: "x509", content}` where content is a PEM certificate
/// or public key, as text or base64 of the text.
fn key_term(value: &Value) -> Result<Term, RekorApiError> {
    let bad = |m: &str| RekorApiError::BadQuery(format!("publicKey: {m}"));
    match value["format"].as_str() {
        Some("x509") => {}
        Some(other) => return Err(bad(&format!("format {other:?} is not supported; use x509"))),
        None => return Err(bad("format is required (x509)")),
    }
    if value.get("url").is_some_and(|u| !u.is_null()) {
        return Err(bad("url is not supported; send the key as content"));
    }
    let content = value["content"]
        .as_str()
        .ok_or_else(|| bad("content is required"))?
        .trim();
    let pem = if content.starts_with("-----BEGIN") {
        content.as_bytes().to_vec()
    } else {
        STANDARD
            .decode(content)
            .map_err(|_| bad("content is neither PEM nor base64 of PEM"))?
    };
    let verifier = mayfly_spec::rekor::Verifier::from_pem("publicKey.content", &pem)
        .map_err(RekorApiError::Invalid)?;
    // Keyed like the index: the SHA-256 of the canonical PEM, which the body stores in base64.
    let canonical = STANDARD
        .decode(verifier.canonical_pem_base64())
        .map_err(|_| bad("content could not be canonicalised"))?;
    Ok(Term::new(Field::PublicKey, key_fingerprint(&canonical)))
}

fn identity_term(name: &str, value: &Value) -> Result<Option<Term>, RekorApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() => {
            if name == "email" && !s.contains('@') {
                return Err(RekorApiError::BadQuery(format!(
                    "email {s:?} is not an e-mail address"
                )));
            }
            Ok(Some(Term::new(Field::ArtifactSubject, s.to_lowercase())))
        }
        _ => Err(RekorApiError::BadQuery(format!(
            "{name} must be a non-empty string"
        ))),
    }
}

async fn index_retrieve(
    State(state): State<SharedState>,
    request: Bytes,
) -> Result<Response, ApiError> {
    let query: Value = mayfly_spec::rekor::strict::from_slice(&request)
        .map_err(|e| RekorApiError::BadQuery(format!("the request body is not valid JSON: {e}")))?;
    if !query.is_object() {
        return Err(RekorApiError::BadQuery("the search must be a JSON object".into()).into());
    }
    let mut terms = Vec::new();
    for name in ["email", "subject"] {
        terms.extend(identity_term(name, &query[name])?);
    }
    match &query["hash"] {
        Value::Null => {}
        Value::String(text) => terms.push(hash_term(text)?),
        _ => return Err(RekorApiError::BadQuery("hash must be a string".into()).into()),
    }
    if !query["publicKey"].is_null() {
        terms.push(key_term(&query["publicKey"])?);
    }
    if terms.is_empty() {
        return Err(RekorApiError::BadQuery(
            "give at least one of email, subject, publicKey and hash".into(),
        )
        .into());
    }
    let all = match &query["operator"] {
        Value::Null => false,
        Value::String(op) if op == "or" => false,
        Value::String(op) if op == "and" => true,
        _ => {
            return Err(
                RekorApiError::BadQuery("operator must be \"and\" or \"or\"".into()).into(),
            );
        }
    };
    let uuids = search::artifact_uuids(&state.artifacts, terms, all, MAX_UUIDS)
        .await
        .map_err(|e| match e {
            ArtifactSearchError::TooMany(_) => {
                ApiError::from(RekorApiError::Unprocessable(e.to_string()))
            }
            ArtifactSearchError::Log(e) => ApiError::from(e),
        })?;
    // Rekor's index holds entry IDs (tree ID and UUID, 80 hex digits) since its sharding, and
    // answers with them; clients pass them back to GET /api/v1/log/entries/{id}.
    let tree_id = mayfly_spec::rekor::tree_id(&state.artifacts.key().log_id());
    let body: Vec<String> = uuids
        .iter()
        .map(|uuid| mayfly_spec::rekor::entry_id(tree_id, uuid))
        .collect();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Value::from(body).to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn repository_and_owner_take_a_uri_or_its_path() {
        let search = parse_search(&params(&[
            ("repository", "octo-org/octo-repo"),
            ("owner", "https://github.com/octo-org"),
        ]))
        .ok()
        .unwrap();
        assert_eq!(
            search.filters.terms,
            [
                Term::new(Field::RepositoryPath, "octo-org/octo-repo"),
                Term::new(Field::Owner, "https://github.com/octo-org")
            ]
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        for (pairs, says) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "1001")], "limit"),
            (vec![("since", "yesterday")], "since"),
            (vec![("cursor", "abc")], "cursor"),
            (vec![("repo", "x")], "unknown parameter"),
            (vec![("san", "")], "san is empty"),
            (vec![("san", "a"), ("san", "b")], "more than once"),
            (
                vec![
                    ("since", "2026-02-01T00:00:00Z"),
                    ("until", "2026-01-01T00:00:00Z"),
                ],
                "after",
            ),
        ] {
            let message = parse_search(&params(&pairs)).err().unwrap().to_string();
            assert!(message.contains(says), "{pairs:?}: {message}");
        }
    }

    #[test]
    fn hashes_are_rekor_keys() {
        let hex = "AB".repeat(32);
        let want = format!("sha256:{}", hex.to_lowercase());
        assert_eq!(hash_term(&hex).ok().unwrap().value, want);
        assert_eq!(
            hash_term(&format!("SHA256:{hex}")).ok().unwrap().value,
            want
        );
        assert!(hash_term("sha256:abcd").is_err());
        assert!(hash_term(&format!("md5:{hex}")).is_err());
        assert!(hash_term(&"zz".repeat(32)).is_err());
    }
}
