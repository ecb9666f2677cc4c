//! A node's side of backups and restores: admin-only HTTP routes (the `/v1/admin/`
//! prefix puts them behind the admin role, `http.rs`'s `authorize`).
//!
//! - `GET /v1/admin/partition/{p}?after=HEX&limit=N&bytes=B`: a page of the
//!   partition's replicas on this node with its Merkle root, read between two driver
//!   batches so they agree (postcard [`PartitionPage`]); `limit=0`: the root alone.
//! - `POST /v1/admin/restore` (postcard `Vec<(key, siblings)>`): merge into this
//!   node's replicas through the replica merge; answered after the commit (JSON
//!   [`RestoreCounts`]).
//! - `POST /v1/admin/fence/{incarnation}`: take an actor incarnation past it.
//! - `POST /v1/admin/snapshot`: a consistent copy of the store directory, taken with
//!   the driver paused after a commit (JSON [`SnapshotDocument`]).

use crate::driver::{DriverGone, Event, PartitionPage, PartitionRead, RestoreCounts, PAUSE_MAX};
use crate::http::HttpState;
use crate::view::ErrorDocument;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dynamo_core::node::RestoreError;
use dynamo_core::types::{Key, PartitionId};
use dynamo_core::version::Siblings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Entries per partition page at most.
pub const PAGE_KEYS_MAX: usize = 4096;
/// Bytes of keys and values per page at most (past one entry).
pub const PAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// A restore batch's body at most: one entry of the largest size fits.
pub const RESTORE_BODY_BYTES_MAX: usize = super::format::ENTRY_BYTES_MAX + 1024 * 1024;

/// A fence's answer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Fenced {
    pub changed: bool,
}

/// A snapshot's answer: where the copy is, on the node's machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotDocument {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    /// How long the driver was held (no request stepped meanwhile).
    pub paused_ms: u64,
}

#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error("bad request: {0}")]
    Bad(String),
    #[error("restore refused: {0}")]
    Refused(#[from] RestoreError),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("the node is shutting down")]
    Gone(#[from] DriverGone),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            AdminError::Bad(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::Refused(RestoreError::Store(_)) | AdminError::Storage(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "storage")
            }
            AdminError::Refused(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AdminError::Gone(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
        };
        let body = ErrorDocument {
            error: self.to_string(),
            kind: kind.into(),
            ..ErrorDocument::default()
        };
        (status, Json(body)).into_response()
    }
}

pub fn routes() -> Router<Arc<HttpState>> {
    let restore_limit = DefaultBodyLimit::max(RESTORE_BODY_BYTES_MAX);
    Router::new()
        .route("/v1/admin/partition/{partition}", get(read_partition))
        .route("/v1/admin/restore", post(restore).layer(restore_limit))
        .route("/v1/admin/fence/{incarnation}", post(fence))
        .route("/v1/admin/snapshot", post(snapshot))
}

fn number<T: std::str::FromStr>(
    params: &BTreeMap<String, String>,
    name: &str,
    default: T,
) -> Result<T, AdminError> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| AdminError::Bad(format!("{name}={text:?} is not a number"))),
    }
}

fn unhex(text: &str) -> Result<Key, AdminError> {
    let bad = || AdminError::Bad(format!("after={text:?} is not hex"));
    if !text.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

async fn read_partition(
    State(state): State<Arc<HttpState>>,
    Path(partition): Path<u32>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, AdminError> {
    let read = PartitionRead {
        partition: PartitionId(partition),
        after: params.get("after").map(|text| unhex(text)).transpose()?,
        limit: number(&params, "limit", 512)?.min(PAGE_KEYS_MAX),
        bytes_max: number(&params, "bytes", 1024 * 1024)?.min(PAGE_BYTES_MAX),
    };
    let page: PartitionPage = state
        .driver
        .ask(|reply| Event::ReadPartition { read, reply })
        .await?
        .map_err(|error| AdminError::Storage(error.message))?;
    let body = postcard::to_allocvec(&page).map_err(|e| AdminError::Storage(e.to_string()))?;
    Ok(([("content-type", "application/octet-stream")], body).into_response())
}

async fn restore(
    State(state): State<Arc<HttpState>>,
    body: axum::body::Bytes,
) -> Result<Json<RestoreCounts>, AdminError> {
    let entries: Vec<(Key, Siblings)> = postcard::from_bytes(&body)
        .map_err(|error| AdminError::Bad(format!("not a postcard batch of entries: {error}")))?;
    let counts = state
        .driver
        .ask(|reply| Event::Restore { entries, reply })
        .await??;
    Ok(Json(counts))
}

async fn fence(
    State(state): State<Arc<HttpState>>,
    Path(incarnation): Path<u32>,
) -> Result<Json<Fenced>, AdminError> {
    let changed = state
        .driver
        .ask(|reply| Event::Fence { incarnation, reply })
        .await??;
    Ok(Json(Fenced { changed }))
}

/// Copy the store directory while the driver is held after a commit; the copy goes
/// beside it, under `snapshots/<unix ms>/store` in the node's data directory.
async fn snapshot(
    State(state): State<Arc<HttpState>>,
) -> Result<Json<SnapshotDocument>, AdminError> {
    let Some(store) = state.store_dir.clone() else {
        return Err(AdminError::Bad("this node has no store directory".into()));
    };
    let data = store.parent().map(PathBuf::from).unwrap_or_default();
    let name = super::unix_ms().to_string();
    let target = data.join("snapshots").join(&name);
    let started = Instant::now();
    let resume = state.driver.pause().await?;
    let copying = {
        let (store, target) = (store.clone(), target.join("store"));
        tokio::task::spawn_blocking(move || copy_dir(&store, &target))
    };
    let copied = tokio::time::timeout(PAUSE_MAX, copying).await;
    drop(resume);
    let paused_ms = started.elapsed().as_millis() as u64;
    let (files, bytes) = match copied {
        Ok(Ok(Ok(counts))) => counts,
        Ok(Ok(Err(error))) => return Err(AdminError::Storage(format!("copy failed: {error}"))),
        Ok(Err(error)) => return Err(AdminError::Storage(format!("copy failed: {error}"))),
        Err(_) => return Err(AdminError::Storage(format!("copy took over {PAUSE_MAX:?}"))),
    };
    let path = target.display().to_string();
    Ok(Json(SnapshotDocument {
        path,
        files,
        bytes,
        paused_ms,
    }))
}

/// Copy a directory tree (not the engine's lock file); files and bytes copied.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<(u64, u64)> {
    std::fs::create_dir_all(to)?;
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            let (f, b) = copy_dir(&entry.path(), &target)?;
            (files, bytes) = (files + f, bytes + b);
        } else if entry.file_name() != "LOCK" {
            bytes += std::fs::copy(entry.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
            files += 1;
        }
    }
    std::fs::File::open(to)?.sync_all()?;
    Ok((files, bytes))
}
