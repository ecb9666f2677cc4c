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
//!   the backup and restore routes (`backup/routes.rs`),
//!   `GET /metrics` (Prometheus text), `GET /healthz`, `GET /readyz`.
//! - With a UI directory (`--ui-dir`, or `dynamo dev`): its files under `/ui/` (the
//!   ring visualiser, whose live mode polls `/v1/cluster` of the node serving it),
//!   and `/` redirecting there.
//!
//! Every KV request goes through the KV service (`service.rs`), which submits it to
//! the driver, decides what an absent or empty context means and counts it; this
//! port parses HTTP and maps the service's answers and errors to HTTP.
//!
//! Errors are JSON [`ErrorDocument`]s, `{"error": message, "kind": name, ...numbers}`
//! (the message is the one RESP shows after `ERR `), mapped in one place
//! ([`ApiError`]'s `IntoResponse`):
//! - 400: `bad_context`, `bad_quorum`, `bad_request` (a bad query parameter, an empty
//!   key, a write the versioning rules refuse);
//!   Also `bad_request`: a query string or node id that does not parse, a key whose
//!   percent-encoding is broken, a body that cannot be read (bad chunked framing);
//! - 401: `unauthorized`; 403: `forbidden` (see Authentication);
//! - 404: `not_found` (no such key; no such route), 405: `method_not_allowed`;
//! - 408: `timeout` (the body did not arrive in time);
//! - 409: `membership` (a join or leave refused);
//! - 413: `too_large` (key or value; `size` when known, `max`);
//! - 500: `storage`, `internal`;
//! - 503: `quorum_not_reached` and `timeout` (with `needed` and `received`),
//!   `not_ready`, `overloaded` (with `in_flight` and `max`), `shutting_down`.
//!
//! Every KV response carries `X-Dynamo-Ring-Epoch` so a partition-aware client knows
//! when its ring is stale.
//!
//! # Authentication
//! With users configured (`auth.rs`), every request but `/healthz`, `/readyz` and the
//! visualiser's files (`/`, `/ui/`) needs `Authorization: Bearer <token>`: without a
//! valid one, `401 unauthorized` (with `WWW-Authenticate: Bearer`); a `readonly` token
//! writing, or a non-admin token on `/v1/admin/*`, `403 forbidden`. `/metrics` needs a
//! token of any role (it shows traffic and membership; Prometheus sends one with
//! `authorization: {credentials: ...}`). The check runs before routing, so an unknown
//! path answers 401 to a caller without a token rather than revealing what exists.

use crate::auth::{Identity, Users};
use crate::driver::{DriverHandle, Snapshot};
use crate::metrics::Metrics;
use crate::service::{self, KvService, Op, Port, ServiceError};
use crate::tls::{TlsConfig, TlsListener};
use crate::view::{Changed, ClusterView, ErrorDocument, SiblingDocument, SiblingsDocument};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use base64::Engine as _;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Failure, Quorum};
use dynamo_core::types::{limits, NodeId};
use dynamo_core::version::{Content, Siblings};
use http_body_util::LengthLimitError;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

pub const CONTEXT_HEADER: &str = "x-dynamo-context";
pub const EPOCH_HEADER: &str = "x-dynamo-ring-epoch";
/// Request bodies above this are refused by the framework (413) before any handler;
/// bodies between the value limit and this get the handler's JSON 413.
const BODY_BYTES_MAX: usize = 2 * limits::VALUE_BYTES_MAX;
/// A request body must arrive within this.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
#[derive(Debug)]
pub struct HttpState {
    pub driver: DriverHandle,
    /// Who may call the API (none configured: everyone).
    pub users: Arc<Users>,
    pub metrics: Arc<Metrics>,
    /// The data file, for the storage size metric.
    pub store_dir: Option<PathBuf>,
    /// Static files served under `/ui/` (the visualiser); none: no UI routes at all.
    pub ui_dir: Option<PathBuf>,
}

impl HttpState {
    /// The KV service, counting under this port.
    fn service(&self) -> KvService {
        KvService::new(self.driver.clone(), self.metrics.clone(), Port::Http)
    }
}

/// Serve the HTTP API on `listener` (over TLS with `tls`) until the task is aborted.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, tls: Option<TlsConfig>) {
    let served = match tls {
        None => axum::serve(listener, router(state)).await,
        Some(tls) => match TlsListener::new(listener, tls) {
            Ok(listener) => axum::serve(listener, router(state)).await,
            Err(error) => Err(error),
        },
    };
    if let Err(error) = served {
        tracing::error!(%error, "http server stopped");
    }
}

pub fn router(state: Arc<HttpState>) -> Router {
    let api = Router::new()
        .route("/v1/kv/{*key}", get(kv_get).put(kv_put).delete(kv_delete))
        .route("/v1/cluster", get(cluster))
        .route("/v1/admin/join/{node}", post(admin_join))
        .route("/v1/admin/leave/{node}", post(admin_leave))
        .route("/v1/admin/remove/{node}", post(admin_remove))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        // Backups and restores (admin only, as every `/v1/admin/` path), with their
        // own body limit.
        .merge(crate::backup::routes::routes());
    let api = match &state.ui_dir {
        Some(dir) => with_ui(api, dir),
        None => api,
    };
    // After every route: the JSON 405 applies to the routes already added.
    let api = api
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed);
    // Outermost, so every request (an unknown path's too) is authorized first.
    let guarded = middleware::from_fn_with_state(state.clone(), authorize);
    api.layer(guarded).with_state(state)
}

/// What a path needs (see the module doc's "Authentication").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Probes and the visualiser's files.
    Open,
    /// Any user; writes need a role that writes.
    User,
    /// The admin role.
    Admin,
}

fn access(path: &str) -> Access {
    match path {
        "/healthz" | "/readyz" | "/" => Access::Open,
        _ if path.starts_with("/ui/") || path == "/ui" => Access::Open,
        _ if path.starts_with("/v1/admin/") => Access::Admin,
        _ => Access::User,
    }
}

/// The bearer token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at(value.iter().position(|b| *b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
}

/// With users configured: 401 without a valid token, 403 when the token's role may
/// not do what the request does.
async fn authorize(
    State(state): State<Arc<HttpState>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let need = access(request.uri().path());
    if !state.users.required() || need == Access::Open {
        return next.run(request).await;
    }
    let Some(who) = bearer(request.headers()).and_then(|t| state.users.check_token(t)) else {
        return ApiError::Unauthorized.into_response();
    };
    let writes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let allowed = match need {
        Access::Admin => who.role.may_administer(),
        _ => !writes || who.role.may_write(),
    };
    if !allowed {
        let what = format!("{} {}", request.method(), request.uri().path());
        return ApiError::Forbidden { who, what }.into_response();
    }
    next.run(request).await
}

/// Serve `dir` under `/ui/` and send `/` and `/ui` there (without the slash the
/// page's relative `style.css` and `app.js` would resolve to `/` and 404): the page
/// polls `/v1/cluster` on the same origin, so serving it from the node needs no CORS.
/// Only with a UI directory, so a production node exposes nothing but the API.
fn with_ui(api: Router<Arc<HttpState>>, dir: &std::path::Path) -> Router<Arc<HttpState>> {
    api.route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        // A `.gz` copy beside a file (build-wasm.sh writes them for the module and its
        // glue) goes to clients that accept gzip: about a third of the bytes.
        .nest_service("/ui/", ServeDir::new(dir).precompressed_gzip())
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
}

/// Why an HTTP request failed: the service's failures, and what this port refuses
/// while parsing HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("bad {name}: {text:?} is not a number")]
    NotANumber { name: String, text: String },
    #[error("unknown query parameter {name:?} (known: n, r, w)")]
    UnknownParameter { name: String },
    #[error("the body did not arrive within {} s", .limit.as_secs())]
    BodyTimeout { limit: Duration },
    #[error("not in the ring yet (joining: an operator must join it)")]
    NotInRing,
    #[error("authentication required: send Authorization: Bearer <token>")]
    Unauthorized,
    #[error("bad query string: {reason}")]
    BadQuery { reason: String },
    #[error("bad node id: {reason}")]
    BadNode { reason: String },
    #[error("the key is not valid percent-encoding (a '%' needs two hex digits)")]
    BadKeyEncoding,
    #[error("the request body could not be read: {reason}")]
    BadBody { reason: String },
    #[error("no route for {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("user {:?} (role {}) may not {what}", .who.name, .who.role.name())]
    Forbidden { who: Identity, what: String },
}

impl ApiError {
    /// The one mapping of failures to HTTP statuses (see the module doc).
    pub fn status(&self) -> StatusCode {
        let error = match self {
            ApiError::Service(error) => error,
            ApiError::NotANumber { .. }
            | ApiError::UnknownParameter { .. }
            | ApiError::BadQuery { .. }
            | ApiError::BadNode { .. }
            | ApiError::BadKeyEncoding
            | ApiError::BadBody { .. } => return StatusCode::BAD_REQUEST,
            ApiError::NoRoute { .. } => return StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => return StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout { .. } => return StatusCode::REQUEST_TIMEOUT,
            ApiError::NotInRing => return StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized => return StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => return StatusCode::FORBIDDEN,
        };
        match error {
            ServiceError::Failed(Failure::QuorumNotReached { .. })
            | ServiceError::Failed(Failure::Timeout { .. })
            | ServiceError::Failed(Failure::NotReady)
            | ServiceError::Failed(Failure::Overloaded { .. })
            | ServiceError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Failed(Failure::KeyTooLarge { .. })
            | ServiceError::ValueTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::BadContext(_)
            | ServiceError::Failed(Failure::BadQuorum { .. })
            | ServiceError::Failed(Failure::EmptyKey | Failure::Version(_))
            | ServiceError::Refused(_) => StatusCode::BAD_REQUEST,
            ServiceError::Failed(Failure::Membership { .. }) => StatusCode::CONFLICT,
            ServiceError::Failed(Failure::Storage { .. }) | ServiceError::UnexpectedReply(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The JSON body: the message, the kind and the failure's numbers.
    pub fn document(&self) -> ErrorDocument {
        let kind = match self {
            ApiError::Service(error) => error.kind(),
            ApiError::NotANumber { .. }
            | ApiError::UnknownParameter { .. }
            | ApiError::BadQuery { .. }
            | ApiError::BadNode { .. }
            | ApiError::BadKeyEncoding
            | ApiError::BadBody { .. } => "bad_request",
            ApiError::NoRoute { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BodyTimeout { .. } => "timeout",
            ApiError::NotInRing => "not_ready",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
        };
        let mut document = ErrorDocument {
            error: self.to_string(),
            kind: kind.to_string(),
            ..ErrorDocument::default()
        };
        match self {
            ApiError::Service(
                ServiceError::Failed(Failure::QuorumNotReached { needed, received })
                | ServiceError::Failed(Failure::Timeout { needed, received }),
            ) => (document.needed, document.received) = (Some(*needed), Some(*received)),
            ApiError::Service(ServiceError::Failed(Failure::KeyTooLarge { size, max })) => {
                (document.size, document.max) = (Some(*size), Some(*max));
            }
            ApiError::Service(ServiceError::ValueTooLarge { size, max }) => {
                (document.size, document.max) = (*size, Some(*max));
            }
            ApiError::Service(ServiceError::Failed(Failure::Overloaded { in_flight, max })) => {
                (document.in_flight, document.max) = (Some(*in_flight), Some(*max));
            }
            _ => {}
        }
        document
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.document())).into_response();
        if matches!(self, ApiError::Unauthorized) {
            let challenge = HeaderValue::from_static("Bearer realm=\"dynamo\"");
            let headers = response.headers_mut();
            headers.insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The query string, or why axum could not parse it (answered as our JSON error).
type Params = Result<Query<BTreeMap<String, String>>, QueryRejection>;

/// An unknown path or method is quoted in its error up to this many characters.
const QUOTE_CHARS_MAX: usize = 128;

/// A KV request's key (the path after `/v1/kv/`, percent-decoded to bytes: keys are
/// binary, as on RESP) and its quorum.
fn key_and_quorum(uri: &Uri, params: Params) -> Result<(Vec<u8>, Quorum), ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::BadQuery {
        reason: rejection.body_text(),
    })?;
    let raw = uri.path().strip_prefix("/v1/kv/").unwrap_or_default();
    Ok((percent_decode(raw.as_bytes())?, quorum(&params)?))
}

/// `%XX` escapes to their bytes; a `%` not followed by two hex digits is refused.
fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        if raw[at] != b'%' {
            out.push(raw[at]);
            at += 1;
            continue;
        }
        let hex = raw
            .get(at + 1..at + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok());
        let byte = hex.and_then(|pair| u8::from_str_radix(pair, 16).ok());
        out.push(byte.ok_or(ApiError::BadKeyEncoding)?);
        at += 3;
    }
    Ok(out)
}

fn quoted(text: &str) -> String {
    text.chars().take(QUOTE_CHARS_MAX).collect()
}

/// Unknown paths: the JSON 404.
async fn no_route(method: Method, uri: Uri) -> Response {
    let (method, path) = (method.to_string(), quoted(uri.path()));
    ApiError::NoRoute { method, path }.into_response()
}

/// Known paths with another method: the JSON 405.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let (method, path) = (method.to_string(), quoted(uri.path()));
    ApiError::MethodNotAllowed { method, path }.into_response()
}

/// `?n=&r=&w=` as a quorum override.
fn quorum(params: &BTreeMap<String, String>) -> Result<Quorum, ApiError> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !["n", "r", "w"].contains(&k.as_str()))
    {
        let name = unknown.clone();
        return Err(ApiError::UnknownParameter { name });
    }
    let field = |name: &str| -> Result<Option<usize>, ApiError> {
        params
            .get(name)
            .map(|text| {
                text.parse().map_err(|_| ApiError::NotANumber {
                    name: name.to_string(),
                    text: text.clone(),
                })
            })
            .transpose()
    };
    Ok(Quorum {
        replication_factor: field("n")?,
        read_quorum: field("r")?,
        write_quorum: field("w")?,
    })
}

/// The `X-Dynamo-Context` header as sent; the service decides what it means.
fn context_header(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(CONTEXT_HEADER).map(HeaderValue::as_bytes)
}

/// Headers every KV response carries.
fn kv_headers(service: &KvService, context: &VersionVector) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&service::context_text(context)) {
        headers.insert(CONTEXT_HEADER, value);
    }
    headers.insert(EPOCH_HEADER, HeaderValue::from(service.ring_epoch()));
    headers
}

/// Answer a request this port refused before the service saw it; the service still
/// counts it, so every request is counted in one place.
fn refused(service: &KvService, op: Op, started: Instant, error: ApiError) -> Response {
    service.refused(op, started);
    error.into_response()
}

async fn kv_get(State(state): State<Arc<HttpState>>, uri: Uri, params: Params) -> Response {
    let (service, started) = (state.service(), Instant::now());
    let (key, quorum) = match key_and_quorum(&uri, params) {
        Ok(admitted) => admitted,
        Err(error) => return refused(&service, Op::Get, started, error),
    };
    match service.get(&key, quorum).await {
        Ok(siblings) => versions_response(&service, &siblings),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// 200 with the one live value, 300 with every sibling, or 404.
fn versions_response(service: &KvService, siblings: &Siblings) -> Response {
    let headers = kv_headers(service, siblings.clock());
    let live: Vec<&[u8]> = siblings.values().collect();
    match (live.len(), siblings.len()) {
        (0, _) => {
            let body = ErrorDocument {
                error: "not found".into(),
                kind: "not_found".into(),
                ..ErrorDocument::default()
            };
            (StatusCode::NOT_FOUND, headers, Json(body)).into_response()
        }
        (1, 1) => (StatusCode::OK, headers, live[0].to_vec()).into_response(),
        _ => {
            let engine = base64::engine::general_purpose::STANDARD;
            let listed = siblings
                .iter()
                .map(|sibling| match &sibling.content {
                    Content::Value(bytes) => SiblingDocument {
                        value: Some(engine.encode(bytes)),
                        deleted: false,
                    },
                    Content::Tombstone => SiblingDocument {
                        value: None,
                        deleted: true,
                    },
                    // Typed values (RESP data types, docs/datatypes.md) have no HTTP
                    // form yet.
                    Content::Typed(_) | Content::Mutation(_) => SiblingDocument {
                        value: None,
                        deleted: false,
                    },
                })
                .collect();
            let body = SiblingsDocument {
                context: service::context_text(siblings.clock()),
                siblings: listed,
            };
            (StatusCode::MULTIPLE_CHOICES, headers, Json(body)).into_response()
        }
    }
}

/// 204 with the new context, or the error.
fn written(service: &KvService, written: Result<VersionVector, ServiceError>) -> Response {
    match written {
        Ok(context) => (StatusCode::NO_CONTENT, kv_headers(service, &context)).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn kv_put(
    State(state): State<Arc<HttpState>>,
    uri: Uri,
    params: Params,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let (service, started) = (state.service(), Instant::now());
    let admitted = async {
        let (key, quorum) = key_and_quorum(&uri, params)?;
        Ok((key, quorum, read_value(&headers, body).await?))
    };
    let (key, quorum, value) = match admitted.await {
        Ok(admitted) => admitted,
        Err(error) => return refused(&service, Op::Put, started, error),
    };
    let context = context_header(&headers);
    let content = Content::Value(value);
    let result = service.write(&key, context, content, quorum).await;
    written(&service, result)
}

/// The request body as a value: refused at once when its declared length is too
/// large, and cut off when it does not arrive within `BODY_READ_TIMEOUT` (a client
/// that announces a body and stalls must not hold a connection forever).
async fn read_value(headers: &HeaderMap, body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    let max = limits::VALUE_BYTES_MAX;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = declared.filter(|size| *size > max) {
        // The core's own refusal, made before the body is read.
        return Err(ServiceError::ValueTooLarge {
            size: Some(size),
            max,
        }
        .into());
    }
    let read = axum::body::to_bytes(body, max);
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        // Only the limit is "too large"; a malformed body (bad chunked framing, a
        // connection cut mid-body) is a bad request.
        Ok(Err(error)) => match error.into_inner().downcast::<LengthLimitError>() {
            Ok(_) => Err(ServiceError::ValueTooLarge { size: None, max }.into()),
            Err(error) => Err(ApiError::BadBody {
                reason: error.to_string(),
            }),
        },
        Err(_) => Err(ApiError::BodyTimeout {
            limit: BODY_READ_TIMEOUT,
        }),
    }
}

async fn kv_delete(
    State(state): State<Arc<HttpState>>,
    uri: Uri,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let (service, started) = (state.service(), Instant::now());
    let (key, quorum) = match key_and_quorum(&uri, params) {
        Ok(admitted) => admitted,
        Err(error) => return refused(&service, Op::Delete, started, error),
    };
    let context = context_header(&headers);
    let result = service
        .write(&key, context, Content::Tombstone, quorum)
        .await;
    written(&service, result)
}

async fn snapshot(state: &HttpState) -> Result<Snapshot, ApiError> {
    Ok(state.service().snapshot().await?)
}

async fn cluster(State(state): State<Arc<HttpState>>) -> Response {
    match snapshot(&state).await {
        Ok(snapshot) => Json(ClusterView::of(&snapshot)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn membership_changed(changed: Result<u64, ServiceError>) -> Response {
    match changed {
        Ok(epoch) => Json(Changed { epoch }).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// A node id from the path, or why not (answered as our JSON error).
type NodePath = Result<Path<u32>, PathRejection>;

fn node_of(node: NodePath) -> Result<NodeId, ApiError> {
    let Path(node) = node.map_err(|rejection| ApiError::BadNode {
        reason: rejection.body_text(),
    })?;
    Ok(NodeId(node))
}

async fn admin_join(State(state): State<Arc<HttpState>>, node: NodePath) -> Response {
    match node_of(node) {
        Ok(node) => membership_changed(state.service().join(node).await),
        Err(error) => error.into_response(),
    }
}

async fn admin_leave(State(state): State<Arc<HttpState>>, node: NodePath) -> Response {
    match node_of(node) {
        Ok(node) => membership_changed(state.service().leave(node).await),
        Err(error) => error.into_response(),
    }
}

async fn admin_remove(State(state): State<Arc<HttpState>>, node: NodePath) -> Response {
    match node_of(node) {
        Ok(node) => membership_changed(state.service().remove(node).await),
        Err(error) => error.into_response(),
    }
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
        ApiError::NotInRing.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamo_core::version::ContextError;

    /// The HTTP mapping: the status the module doc promises, the service's message
    /// and kind, and the numbers of the failure.
    #[test]
    fn service_errors_map_to_documented_statuses_kinds_and_numbers() {
        let cases = [
            (
                ServiceError::Failed(Failure::QuorumNotReached {
                    needed: 3,
                    received: 2,
                }),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                ServiceError::ValueTooLarge {
                    size: Some(9),
                    max: 8,
                },
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                ServiceError::BadContext(ContextError::Empty.into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                ServiceError::Failed(Failure::Membership { reason: "x".into() }),
                StatusCode::CONFLICT,
            ),
            (ServiceError::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
        ];
        for (error, status) in cases {
            let api = ApiError::from(error.clone());
            assert_eq!(api.status(), status, "{error:?}");
            // Client errors are 4xx, the node's failures 5xx: the metrics' outcome
            // label and the status class agree.
            assert_eq!(error.is_client_error(), status.is_client_error());
            let document = api.document();
            assert_eq!(document.error, error.to_string());
            assert_eq!(document.kind, error.kind());
        }
        let quorum = ApiError::from(ServiceError::Failed(Failure::QuorumNotReached {
            needed: 3,
            received: 2,
        }));
        let document = quorum.document();
        assert_eq!((document.needed, document.received), (Some(3), Some(2)));
        let large = ApiError::from(ServiceError::ValueTooLarge {
            size: Some(9),
            max: 8,
        });
        assert_eq!(
            (large.document().size, large.document().max),
            (Some(9), Some(8))
        );
    }

    #[test]
    fn bearer_tokens_are_read_and_paths_need_their_access() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        let authorization = axum::http::header::AUTHORIZATION;
        headers.insert(
            authorization.clone(),
            HeaderValue::from_static("bearer  tok "),
        );
        assert_eq!(bearer(&headers), Some(&b"tok"[..]));
        headers.insert(authorization, HeaderValue::from_static("Basic dTpw"));
        assert_eq!(bearer(&headers), None, "only bearer tokens");
        assert_eq!(access("/healthz"), Access::Open);
        assert_eq!(access("/ui/app.js"), Access::Open);
        assert_eq!(access("/v1/admin/join/3"), Access::Admin);
        assert_eq!(access("/metrics"), Access::User);
        assert_eq!(access("/v1/kv/a"), Access::User);
        assert_eq!(ApiError::Unauthorized.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn keys_are_percent_decoded_to_bytes() {
        assert_eq!(percent_decode(b"a%2Fb%ff").unwrap(), b"a/b\xff");
        assert_eq!(percent_decode(b"plain").unwrap(), b"plain");
        for broken in [&b"%"[..], b"%f", b"%zz", b"a%2"] {
            assert!(matches!(
                percent_decode(broken),
                Err(ApiError::BadKeyEncoding)
            ));
        }
    }

    #[test]
    fn query_parameters_are_checked() {
        let params = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let parsed = quorum(&params(&[("r", "1"), ("w", "2")])).unwrap();
        assert_eq!(
            (parsed.read_quorum, parsed.write_quorum),
            (Some(1), Some(2))
        );
        let bad = quorum(&params(&[("r", "abc")])).unwrap_err();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(matches!(
            quorum(&params(&[("x", "1")])),
            Err(ApiError::UnknownParameter { .. })
        ));
    }
}
