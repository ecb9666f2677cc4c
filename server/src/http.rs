//! The HTTP port: the KV API, the cluster view, admin commands, metrics and probes.
//!
//! - `GET /v1/kv/{key}`: one live version: `200` with the value as the body; several
//!   concurrent versions: `300 Multiple Choices` with every sibling in a JSON body
//!   (values base64); none: `404`. The context is always in `X-Dynamo-Context`.
//! - `PUT /v1/kv/{key}` (body: the value) and `DELETE /v1/kv/{key}`: with an
//!   `X-Dynamo-Context` header, the write supersedes what that context covers (an empty
//!   header is a blind write that supersedes nothing); without one, the node reads first
//!   and supersedes every version it saw (what `PUT` means to most HTTP clients).
//!   `204` with the new context.
//! - `?n=&r=&w=` override N, R and W per request.
//! - `GET /v1/cluster`, `POST /v1/admin/join/{node}`, `POST /v1/admin/leave/{node}`,
//!   `GET /metrics` (Prometheus text), `GET /healthz`, `GET /readyz`.
//! - With a UI directory (`--ui-dir`, or `dynamo dev`): its files under `/ui/` (the
//!   ring visualiser, whose live mode polls `/v1/cluster` of the node serving it),
//!   and `/` redirecting there.
//!
//! Errors are JSON `{"error": text, "kind": name, ...numbers}` with 400 (bad context,
//! key or quorum), 413 (too large), 503 (quorum not reached, timeout, not ready,
//! overloaded), 409 (membership change refused) or 500 (storage).
//!
//! Every KV response carries `X-Dynamo-Ring-Epoch` so a partition-aware client knows
//! when its ring is stale.

use crate::driver::{DriverHandle, Snapshot};
use crate::endpoints::Endpoints;
use crate::metrics::Metrics;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Command, Failure, Quorum, Reply};
use dynamo_core::types::{limits, NodeId, PartitionId};
use dynamo_core::version::{Content, Context, Siblings, VersionError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

pub const CONTEXT_HEADER: &str = "x-dynamo-context";
pub const EPOCH_HEADER: &str = "x-dynamo-ring-epoch";
/// Request bodies above this are refused by the framework (413) before any handler;
/// bodies between the value limit and this get the handler's JSON 413.
const BODY_BYTES_MAX: usize = 2 * limits::VALUE_BYTES_MAX;
/// A request body must arrive within this.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the handlers share.
#[derive(Debug)]
pub struct HttpState {
    pub driver: DriverHandle,
    pub metrics: Arc<Metrics>,
    /// The data file, for the storage size metric.
    pub store_dir: Option<PathBuf>,
    /// Static files served under `/ui/` (the visualiser); none: no UI routes at all.
    pub ui_dir: Option<PathBuf>,
}

/// Serve the HTTP API on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    if let Err(error) = axum::serve(listener, router(state)).await {
        tracing::error!(%error, "http server stopped");
    }
}

pub fn router(state: Arc<HttpState>) -> Router {
    let api = Router::new()
        .route("/v1/kv/{*key}", get(kv_get).put(kv_put).delete(kv_delete))
        .route("/v1/cluster", get(cluster))
        .route("/v1/admin/join/{node}", post(admin_join))
        .route("/v1/admin/leave/{node}", post(admin_leave))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX));
    let api = match &state.ui_dir {
        Some(dir) => with_ui(api, dir),
        None => api,
    };
    api.with_state(state)
}

/// Serve `dir` under `/ui/` and send `/` there: the page polls `/v1/cluster` on the
/// same origin, so serving it from the node needs no CORS. Only with a UI directory,
/// so a production node exposes nothing but the API.
fn with_ui(api: Router<Arc<HttpState>>, dir: &std::path::Path) -> Router<Arc<HttpState>> {
    api.nest_service("/ui", ServeDir::new(dir))
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
}

/// A JSON error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, kind: &str, text: impl Into<String>) -> Self {
        let body = json!({"error": text.into(), "kind": kind});
        Self { status, body }
    }

    fn bad_request(text: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", text)
    }

    fn unavailable() -> Self {
        let text = "the node is shutting down";
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", text)
    }

    fn with(mut self, field: &str, value: usize) -> Self {
        self.body[field] = json!(value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        let text = failure.to_string();
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        match failure {
            Failure::QuorumNotReached { needed, received } => {
                Self::new(unavailable, "quorum_not_reached", text)
                    .with("needed", needed)
                    .with("received", received)
            }
            Failure::Timeout { needed, received } => Self::new(unavailable, "timeout", text)
                .with("needed", needed)
                .with("received", received),
            Failure::NotReady => Self::new(unavailable, "not_ready", text),
            Failure::Overloaded { .. } => Self::new(unavailable, "overloaded", text),
            Failure::KeyTooLarge { .. } | Failure::Version(VersionError::ValueTooLarge { .. }) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", text)
            }
            Failure::EmptyKey | Failure::BadQuorum { .. } | Failure::Version(_) => {
                Self::bad_request(text)
            }
            Failure::Membership { .. } => Self::new(StatusCode::CONFLICT, "membership", text),
            Failure::Storage { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", text)
            }
        }
    }
}

type Params = Query<BTreeMap<String, String>>;

/// `?n=&r=&w=` as a quorum override.
fn quorum(params: &BTreeMap<String, String>) -> Result<Quorum, ApiError> {
    let field = |name: &str| -> Result<Option<usize>, ApiError> {
        params
            .get(name)
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::bad_request(format!("bad {name}: {text:?} is not a number"))
                })
            })
            .transpose()
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| !["n", "r", "w"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown query parameter {unknown:?} (known: n, r, w)"
        )));
    }
    Ok(Quorum {
        replication_factor: field("n")?,
        read_quorum: field("r")?,
        write_quorum: field("w")?,
    })
}

/// The `X-Dynamo-Context` header: absent (`None`), empty (blind) or a context.
fn context_header(headers: &HeaderMap) -> Result<Option<VersionVector>, ApiError> {
    let Some(value) = headers.get(CONTEXT_HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("bad context: not ascii"))?;
    if text.is_empty() {
        return Ok(Some(VersionVector::new()));
    }
    let context = Context::from_text(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_context",
            format!("bad context: {e}"),
        )
    })?;
    Ok(Some(context.into_clock()))
}

async fn run(state: &HttpState, command: Command) -> Result<Reply, ApiError> {
    match state.driver.request(command).await {
        Err(_) => Err(ApiError::unavailable()),
        Ok(Reply::Failed(failure)) => Err(failure.into()),
        Ok(reply) => Ok(reply),
    }
}

async fn read(state: &HttpState, key: &str, quorum: Quorum) -> Result<Siblings, ApiError> {
    let command = Command::Get {
        key: key.as_bytes().to_vec(),
        quorum,
    };
    match run(state, command).await? {
        Reply::Got { siblings } => Ok(siblings),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(reply: &Reply) -> ApiError {
    let text = format!("unexpected reply {reply:?}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", text)
}

/// Headers every KV response carries.
fn kv_headers(state: &HttpState, context: &VersionVector) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let text = Context::new(context.clone()).to_text();
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.insert(CONTEXT_HEADER, value);
    }
    headers.insert(EPOCH_HEADER, HeaderValue::from(state.driver.ring_epoch()));
    headers
}

/// Time `work`, count it under `op`, and answer.
async fn measured<F>(state: &HttpState, op: &str, work: F) -> Response
where
    F: std::future::Future<Output = Result<Response, ApiError>>,
{
    let started = Instant::now();
    let result = work.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) if error.status.is_server_error() => "failed",
        Err(_) => "rejected",
    };
    state
        .metrics
        .request("http", op, outcome, started.elapsed());
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn kv_get(
    State(state): State<Arc<HttpState>>,
    Path(key): Path<String>,
    Query(params): Params,
) -> Response {
    let work = async {
        let siblings = read(&state, &key, quorum(&params)?).await?;
        state.metrics.read_siblings(siblings.len());
        Ok(versions_response(&state, &siblings))
    };
    measured(&state, "get", work).await
}

/// 200 with the one live value, 300 with every sibling, or 404.
fn versions_response(state: &HttpState, siblings: &Siblings) -> Response {
    let headers = kv_headers(state, siblings.clock());
    let live: Vec<&[u8]> = siblings.values().collect();
    match (live.len(), siblings.len()) {
        (0, _) => (
            StatusCode::NOT_FOUND,
            headers,
            Json(json!({"error": "not found", "kind": "not_found"})),
        )
            .into_response(),
        (1, 1) => (StatusCode::OK, headers, live[0].to_vec()).into_response(),
        _ => {
            let engine = base64::engine::general_purpose::STANDARD;
            let listed: Vec<Value> = siblings
                .iter()
                .map(|sibling| match &sibling.content {
                    Content::Value(bytes) => json!({"value": engine.encode(bytes)}),
                    Content::Tombstone => json!({"deleted": true}),
                })
                .collect();
            let text = Context::new(siblings.clock().clone()).to_text();
            let body = json!({"context": text, "siblings": listed});
            (StatusCode::MULTIPLE_CHOICES, headers, Json(body)).into_response()
        }
    }
}

async fn write(
    state: &HttpState,
    key: &str,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
    content: Content,
) -> Result<Response, ApiError> {
    let quorum = quorum(params)?;
    let key = key.as_bytes().to_vec();
    // Without a context, the node reads and writes over what it read, in one request.
    let command = match context_header(headers)? {
        Some(context) => Command::Put {
            key,
            context,
            content,
            quorum,
        },
        None => Command::Set {
            key,
            content,
            quorum,
        },
    };
    match run(state, command).await? {
        Reply::Put { context, .. } => {
            Ok((StatusCode::NO_CONTENT, kv_headers(state, &context)).into_response())
        }
        other => Err(unexpected(&other)),
    }
}

async fn kv_put(
    State(state): State<Arc<HttpState>>,
    Path(key): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let work = async {
        let body = read_value(&headers, body).await?;
        write(&state, &key, &headers, &params, Content::Value(body)).await
    };
    measured(&state, "put", work).await
}

fn too_large(size: impl std::fmt::Display) -> ApiError {
    let text = format!(
        "value is {size} bytes, more than {}",
        limits::VALUE_BYTES_MAX
    );
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", text)
}

/// The request body as a value: refused at once when its declared length is too
/// large, and cut off when it does not arrive within `BODY_READ_TIMEOUT` (a client
/// that announces a body and stalls must not hold a connection forever).
async fn read_value(headers: &HeaderMap, body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared.filter(|size| *size > limits::VALUE_BYTES_MAX as u64) {
        return Err(too_large(size));
    }
    let read = axum::body::to_bytes(body, limits::VALUE_BYTES_MAX);
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(_)) => Err(too_large(format!("more than {}", limits::VALUE_BYTES_MAX))),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
            ),
        )),
    }
}

async fn kv_delete(
    State(state): State<Arc<HttpState>>,
    Path(key): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let work = write(&state, &key, &headers, &params, Content::Tombstone);
    measured(&state, "delete", work).await
}

async fn snapshot(state: &HttpState) -> Result<Snapshot, ApiError> {
    state
        .driver
        .snapshot()
        .await
        .map_err(|_| ApiError::unavailable())
}

async fn cluster(State(state): State<Arc<HttpState>>) -> Response {
    match snapshot(&state).await {
        Ok(snapshot) => Json(cluster_view(&snapshot)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The `/v1/cluster` document.
pub fn cluster_view(snapshot: &Snapshot) -> Value {
    let members: Vec<Value> = snapshot
        .membership
        .members()
        .iter()
        .map(|(id, info)| {
            let endpoints = Endpoints::parse(&info.address);
            let last_seen = snapshot.last_seen.get(id).map(|d| d.as_millis() as u64);
            json!({
                "id": id.0,
                "status": format!("{:?}", info.status).to_lowercase(),
                "peer": endpoints.peer,
                "http": endpoints.http,
                "resp": endpoints.resp,
                "weight": info.weight,
                "zone": info.zone,
                "suspected": snapshot.suspected.contains(id),
                "last_seen_ms_ago": last_seen,
            })
        })
        .collect();
    let n = snapshot.replication_factor;
    let ring = snapshot.membership.ring();
    let partitions: Vec<Value> = ring
        .map(|ring| {
            (0..ring.config().partitions)
                .map(|p| {
                    let partition = PartitionId(p);
                    let preference = ring.preference_list(partition);
                    json!({
                        "partition": p,
                        "homes": ring.home_replicas(partition, n),
                        "preference_list": preference.nodes(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let pending: Vec<Value> = snapshot
        .transfers
        .iter()
        .filter(|t| !t.done)
        .map(|t| json!({"partition": t.partition, "from": t.from, "to": t.to}))
        .collect();
    let planned: Vec<Value> = snapshot
        .transfers
        .iter()
        .map(|t| json!({"partition": t.partition, "from": t.from, "to": t.to, "done": t.done}))
        .collect();
    let done = snapshot.transfers.len() - pending.len();
    json!({
        "node": snapshot.id.0,
        "epoch": snapshot.membership.epoch(),
        "replication_factor": n,
        "members": members,
        "ring": ring,
        "partitions": partitions,
        "transfers": {
            "total": snapshot.transfers.len(),
            "done": done,
            "pending": pending,
            "planned": planned,
        },
        "hints": snapshot.hints,
        "merkle_roots": snapshot
            .merkle_roots
            .iter()
            .map(|(p, root)| (p.to_string(), json!(format!("{root:032x}"))))
            .collect::<serde_json::Map<String, Value>>(),
        "in_flight": snapshot.in_flight,
    })
}

async fn membership_change(state: &HttpState, command: Command) -> Response {
    match run(state, command).await {
        Ok(Reply::Changed { epoch }) => Json(json!({"epoch": epoch})).into_response(),
        Ok(other) => unexpected(&other).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn admin_join(State(state): State<Arc<HttpState>>, Path(node): Path<u32>) -> Response {
    membership_change(&state, Command::Join { node: NodeId(node) }).await
}

async fn admin_leave(State(state): State<Arc<HttpState>>, Path(node): Path<u32>) -> Response {
    membership_change(&state, Command::Leave { node: NodeId(node) }).await
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let snapshot = match snapshot(&state).await {
        Ok(snapshot) => snapshot,
        Err(error) => return error.into_response(),
    };
    let size = state
        .store_dir
        .as_deref()
        .and_then(|path| directory_bytes(path).ok());
    let text = state.metrics.render(&snapshot, size);
    let content_type = [("content-type", "text/plain; version=0.0.4")];
    (content_type, text).into_response()
}

/// Bytes the files under `directory` take on disk (the engine's journals and segments).
fn directory_bytes(directory: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        // Allocated blocks, not lengths: the engine preallocates sparse journals.
        total += if metadata.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            std::os::unix::fs::MetadataExt::blocks(&metadata) * 512
        };
    }
    Ok(total)
}

async fn healthz(State(state): State<Arc<HttpState>>) -> Response {
    match snapshot(&state).await {
        Ok(_) => "ok\n".into_response(),
        Err(error) => error.into_response(),
    }
}

/// Ready: the node has a ring and is a serving member of it.
async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    let snapshot = match snapshot(&state).await {
        Ok(snapshot) => snapshot,
        Err(error) => return error.into_response(),
    };
    let in_ring = snapshot
        .membership
        .ring()
        .is_some_and(|ring| ring.members().contains_key(&snapshot.id));
    if in_ring {
        "ready\n".into_response()
    } else {
        let text = "not in the ring yet (joining: an operator must join it)";
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", text).into_response()
    }
}
