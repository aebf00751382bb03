//! Rekor v1 API on the artifact log (rekor-bundle-npm.md §1): create, get, search and proofs.
//!
//! Every entry is parsed, verified and canonicalized by [`mayfly_spec::rekor`] before the log sees
//! it, so bad input never appends. A created entry is answered only after its batch is durable,
//! with an inclusion proof against the checkpoint that batch signed; reads prove against the
//! current checkpoint. Either way the proof, `rootHash`, `treeSize` and checkpoint agree.
//!
//! Duplicates get Rekor's 409 with the `Location` of the existing entry. Trade-off: sigstore-js
//! `attest` treats a 409 as fatal, so a retry of a POST whose 201 was lost fails there, while
//! `sign` (hashedrekord) follows the `Location` and recovers. We keep Rekor's behaviour because
//! clients key off it, and make the lost-201 case rare instead: the answer is sent as soon as the
//! batch commits (one commit, well under the clients' 5 s timeout), and a failed commit is never
//! acknowledged (the client's retry then appends normally or finds the committed entry).

use super::error::RekorApiError;
use super::{ApiError, SharedState};
use crate::log::{Appended, Log};
use crate::storage::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mayfly_spec::rekor::{self, EntryRef, InclusionProof, IntegratedBase64};
use mayfly_spec::tlog::{Hash, leaf_hash};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

const ENTRIES_PATH: &str = "/api/v1/log/entries";
/// Signature checks an entry may ask for and still be verified on the async worker that
/// received it (about 50 µs of P-256): one, what every real client sends.
const INLINE_CHECKS: usize = 1;
/// Rekor's cap on the queries in one retrieve request.
const MAX_SEARCH_QUERIES: usize = 10;

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route(ENTRIES_PATH, post(create).get(get_by_index))
        .route("/api/v1/log/entries/retrieve", post(retrieve))
        .route("/api/v1/log/entries/{id}", get(get_by_ref))
        .route("/api/v1/log", get(log_info))
        .route("/api/v1/log/proof", get(consistency))
        .route("/api/v1/log/publicKey", get(public_key))
}

fn tree_id(log: &Log<Store>) -> i64 {
    rekor::tree_id(&log.key().log_id())
}

/// How long a read waits for this replica to publish an entry another replica committed:
/// a few follow ticks ([`crate::log::LogConfig::follow_every`]).
const ADOPTION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

fn location(entry_id: &str) -> String {
    format!("{ENTRIES_PATH}/{entry_id}")
}

/// Rekor's `integratedTime` is Unix seconds; the engine keeps the batch time in milliseconds.
fn seconds(timestamp_ms: u64) -> i64 {
    i64::try_from(timestamp_ms / 1000).unwrap_or(i64::MAX)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, body.to_string().into_bytes())
}

/// A response whose JSON is already written (the entries, by [`rekor::log_entry_json`]).
fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The LogEntry JSON for an entry, with a fresh SET, and its entry ID.
///
/// The caller supplies the entry's UUID (its leaf hash) and base64 body rather than the body:
/// it has them already, and each costs a pass over KiBs.
fn log_entry(
    log: &Log<Store>,
    uuid: &Hash,
    body_base64: &str,
    index: u64,
    timestamp_ms: u64,
    proof: &InclusionProof,
) -> Result<(String, Vec<u8>), ApiError> {
    let entry = IntegratedBase64 {
        body_base64,
        integrated_time: seconds(timestamp_ms),
        log_id: log.key().log_id(),
        log_index: index,
    };
    let payload = rekor::set_payload_base64(&entry).map_err(RekorApiError::Invalid)?;
    let set = log
        .key()
        .sign(&payload)
        .map_err(|e| ApiError::Internal(format!("signing the SET: {e}")))?;
    let entry_id = rekor::entry_id(tree_id(log), uuid);
    let json = rekor::log_entry_json(&entry_id, &entry, &set, proof);
    Ok((entry_id, json))
}

async fn create(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Bytes,
) -> Result<Response, ApiError> {
    super::limit_rekor_client(&state, peer, &headers)?;
    // One signature under one key (every real client's entry) is checked right here: handing
    // it to the pool costs a thread hand-off that is a sixth of dsse throughput at saturation.
    // Anything asking for more checks goes to the pool, so that no request can hold an async
    // worker for longer than one verification.
    let canonical = match rekor::canonicalize_within(&request, INLINE_CHECKS) {
        Some(settled) => settled,
        None => {
            state
                .verify_pool
                .run(move || rekor::canonicalize(&request))
                .await?
        }
    }
    .map_err(|e| {
        metrics::counter!("mayfly_rekor_entries_total", "result" => "rejected").increment(1);
        RekorApiError::Invalid(e)
    })?;
    let kind = canonical.kind.name();
    // The UUID and the response's base64 body are taken before the body moves into the log, so
    // it is never copied. The log hashes the body again for its dedup key (`Log::append` does
    // not return it).
    let uuid = canonical.uuid();
    let body_base64 = rekor::encode_base64(&canonical.body);
    let log = &state.artifacts;
    match log.append(canonical.body).await? {
        Appended::New(sequenced) => {
            metrics::counter!("mayfly_rekor_entries_total", "kind" => kind, "result" => "created")
                .increment(1);
            let proof = InclusionProof {
                tree_size: sequenced.checkpoint.size,
                root: sequenced.checkpoint.root,
                hashes: sequenced.inclusion_proof()?,
                checkpoint: sequenced.checkpoint.note.clone(),
            };
            let (entry_id, json) = log_entry(
                log,
                &uuid,
                &body_base64,
                sequenced.index,
                sequenced.timestamp,
                &proof,
            )?;
            let mut response = json_bytes_response(StatusCode::CREATED, json);
            let headers = response.headers_mut();
            // Both values are ASCII hex and a fixed path, always valid header values.
            if let Ok(v) = HeaderValue::from_str(&entry_id) {
                headers.insert(header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&location(&entry_id)) {
                headers.insert(header::LOCATION, v);
            }
            Ok(response)
        }
        Appended::Existing(record) => {
            metrics::counter!("mayfly_rekor_entries_total", "kind" => kind, "result" => "existing")
                .increment(1);
            let uuid = record.key;
            Err(RekorApiError::Conflict {
                uuid: uuid.to_hex(),
                location: location(&rekor::entry_id(tree_id(log), &uuid)),
            }
            .into())
        }
    }
}

/// The entry with this UUID, proved against the current checkpoint; `None` if not logged.
async fn read_by_uuid(log: &Log<Store>, uuid: &Hash) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(record) = log.lookup(uuid).await? else {
        return Ok(None);
    };
    // Logged, but through another replica, whose checkpoint this one has not adopted yet: it
    // will within a follow tick, so a client that wrote through one replica and reads through
    // another finds its entry instead of a 404.
    if record.index >= log.checkpoint().size {
        log.wait_for_size(record.index + 1, ADOPTION_WAIT).await;
    }
    // The dedup record is keyed by the leaf hash of the body at its index, so `uuid` is that
    // body's UUID and need not be hashed again.
    read_at(log, record.index, Some((*uuid, record.timestamp))).await
}

/// The entry at `index`, proved against the current checkpoint; `None` beyond the tree and
/// for the log's genesis entry, which is not a Rekor entry (it has no dedup record, so a
/// lookup by UUID never finds it either).
/// `known` is the entry's UUID and timestamp when the caller has them.
async fn read_at(
    log: &Log<Store>,
    index: u64,
    known: Option<(Hash, u64)>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let checkpoint = log.checkpoint();
    if index >= checkpoint.size {
        return Ok(None);
    }
    let Some(body) = log.entry(index).await? else {
        return Ok(None);
    };
    if mayfly_spec::tlog::genesis::is_genesis(&log.config().origin, index, &body) {
        return Ok(None);
    }
    let (uuid, timestamp_ms) = match known {
        Some(known) => known,
        None => {
            let uuid = leaf_hash(&body);
            match log.lookup(&uuid).await? {
                Some(record) => (uuid, record.timestamp),
                None => {
                    return Err(ApiError::Log(crate::log::LogError::Inconsistent(format!(
                        "artifact entry {index} has no dedup record"
                    ))));
                }
            }
        }
    };
    let proof = InclusionProof {
        tree_size: checkpoint.size,
        root: checkpoint.root,
        hashes: log.inclusion_proof(index, checkpoint.size).await?,
        checkpoint: checkpoint.note.clone(),
    };
    let body_base64 = rekor::encode_base64(&body);
    let (_, json) = log_entry(log, &uuid, &body_base64, index, timestamp_ms, &proof)?;
    Ok(Some(json))
}

async fn read_ref(log: &Log<Store>, text: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let reference = rekor::parse_entry_ref(text).map_err(RekorApiError::Invalid)?;
    if let EntryRef::EntryId { tree_id: t, .. } = reference
        && t != tree_id(log)
    {
        return Ok(None);
    }
    read_by_uuid(log, &reference.uuid()).await
}

async fn get_by_ref(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let json = read_ref(&state.artifacts, &id)
        .await?
        .ok_or(RekorApiError::NotFound)?;
    Ok(json_bytes_response(StatusCode::OK, json))
}

fn parse_u64(name: &str, text: &str) -> Result<u64, RekorApiError> {
    text.parse::<u64>().map_err(|_| {
        RekorApiError::BadQuery(format!(
            "{name} must be a non-negative integer, got {text:?}"
        ))
    })
}

async fn get_by_index(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let text = query
        .get("logIndex")
        .ok_or_else(|| RekorApiError::BadQuery("logIndex is required".into()))?;
    let index = parse_u64("logIndex", text)?;
    let log = &state.artifacts;
    let Some(json) = read_at(log, index, None).await? else {
        return Err(if log.is_genesis(index).await? {
            RekorApiError::Genesis
        } else {
            RekorApiError::NotFound
        }
        .into());
    };
    Ok(json_bytes_response(StatusCode::OK, json))
}

async fn retrieve(State(state): State<SharedState>, request: Bytes) -> Result<Response, ApiError> {
    let query: Value = rekor::strict::from_slice(&request)
        .map_err(|e| RekorApiError::BadQuery(format!("the request body is not valid JSON: {e}")))?;
    let Some(query) = query.as_object() else {
        return Err(
            RekorApiError::BadQuery("the search request must be a JSON object".into()).into(),
        );
    };
    let list = |name: &str| -> Result<&[Value], RekorApiError> {
        match query.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(RekorApiError::BadQuery(format!("{name} must be an array"))),
        }
    };
    let (uuids, indexes, entries) = (list("entryUUIDs")?, list("logIndexes")?, list("entries")?);
    let total = uuids.len() + indexes.len() + entries.len();
    if total > MAX_SEARCH_QUERIES {
        return Err(RekorApiError::Unprocessable(format!(
            "maximum number of queries per request is {MAX_SEARCH_QUERIES}, got {total}"
        ))
        .into());
    }

    let log = &state.artifacts;
    let mut found = Vec::new();
    for item in uuids {
        let text = item
            .as_str()
            .ok_or_else(|| RekorApiError::BadQuery("entryUUIDs must hold strings".into()))?;
        found.extend(read_ref(log, text).await?);
    }
    for item in indexes {
        let index = item.as_u64().ok_or_else(|| {
            RekorApiError::BadQuery("logIndexes must hold non-negative integers".into())
        })?;
        found.extend(read_at(log, index, None).await?);
    }
    // Only looked up: the signatures of a logged entry were verified when it was logged, and
    // one that was never logged cannot match, so nothing here verifies a signature.
    for item in entries {
        let canonical = rekor::canonical_for_lookup(item).map_err(RekorApiError::Invalid)?;
        found.extend(read_by_uuid(log, &canonical.uuid()).await?);
    }
    // A JSON array of the entries, as serde_json writes one: `[a,b]`.
    let mut json = Vec::with_capacity(2 + found.iter().map(|e| e.len() + 1).sum::<usize>());
    json.push(b'[');
    for (i, entry) in found.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(entry);
    }
    json.push(b']');
    Ok(json_bytes_response(StatusCode::OK, json))
}

async fn log_info(State(state): State<SharedState>) -> Response {
    let log = &state.artifacts;
    let checkpoint = log.checkpoint();
    json_response(
        StatusCode::OK,
        &json!({
            "rootHash": checkpoint.root.to_hex(),
            "signedTreeHead": checkpoint.note,
            "treeID": tree_id(log).to_string(),
            "treeSize": checkpoint.size,
        }),
    )
}

async fn consistency(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let first = match query.get("firstSize") {
        Some(text) => parse_u64("firstSize", text)?,
        None => 1,
    };
    let last = parse_u64(
        "lastSize",
        query
            .get("lastSize")
            .ok_or_else(|| RekorApiError::BadQuery("lastSize is required".into()))?,
    )?;
    if first == 0 || first > last {
        return Err(RekorApiError::BadQuery(format!(
            "firstSize ({first}) must be at least 1 and at most lastSize ({last})"
        ))
        .into());
    }
    let log = &state.artifacts;
    let hashes = log.consistency_proof(first, last).await?;
    let root = log.root_at(last).await?;
    let hashes: Vec<String> = hashes.iter().map(Hash::to_hex).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"rootHash": root.to_hex(), "hashes": hashes}),
    ))
}

async fn public_key(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.artifacts.key().public_pem(),
    )
        .into_response()
}
