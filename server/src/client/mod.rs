//! A partition-aware client (Dynamo §6.4, client-driven coordination).
//!
//! The client fetches the cluster view (`GET /v1/cluster`) from any node: the ring and
//! every member's HTTP address. For each request it computes the key's home replicas
//! with the same `Ring` code the nodes run and sends the request straight to the first
//! reachable home, which coordinates it without a forwarding hop. It refreshes the
//! view periodically, and at once when a response carries a newer ring epoch than its
//! own (`X-Dynamo-Ring-Epoch`). When no home answers it falls back to any other member,
//! then to the seeds: the cluster still coordinates the request, one hop further.
//!
//! Invariants: a request is retried on another node only when the connection failed
//! (nothing was sent or no answer began), never after a reply: a retry after a timeout
//! could apply a put twice under two dots.
//!
//! The transport is [`http1`], a small HTTP/1.1 client on hyper (the server's own
//! HTTP stack), with keep-alive and optional TLS ([`ClientConfig::tls_ca`]); a token
//! ([`ClientConfig::token`]) goes with every request as `Authorization: Bearer`.

pub mod http1;

use crate::http::{CONTEXT_HEADER, EPOCH_HEADER};
use crate::tls::{TlsClient, TlsError};
use crate::view::{Changed, ClusterView, ErrorDocument, SiblingsDocument};
use base64::Engine as _;
use bytes::Bytes;
use dynamo_core::ring::Ring;
use dynamo_core::types::NodeId;
use http1::{Http1, HttpError, Response};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::Method;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often the view is refreshed even when no response says it is stale.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How soon a partial view (the cluster was still forming) is fetched again: until
/// then requests for homes of unknown address go to the seeds, one hop further.
pub const PARTIAL_REFRESH_EVERY: Duration = Duration::from_millis(200);
/// Per-request deadline (the cluster answers or fails well within it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no node reachable: {0}")]
    Unreachable(Unreached),
    /// The cluster answered with an error: its status and body (kind, message, numbers).
    #[error("{status} {}: {}", .body.kind, .body.error)]
    Api {
        status: u16,
        body: Box<ErrorDocument>,
    },
    /// Building a request, or reading an answer's body, failed.
    #[error("http: {0}")]
    Http(#[from] HttpError),
    /// The CA file for TLS could not be used.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("a sibling's value is not base64: {0}")]
    SiblingNotBase64(#[from] base64::DecodeError),
    /// The cluster view's ring breaks an invariant (the core's description).
    #[error("cluster view: {0}")]
    BadRing(#[from] dynamo_core::ring::RingInvariantError),
}

/// The nodes a request was sent to and why each failed.
#[derive(Debug, Default)]
pub struct Unreached(pub Vec<(String, HttpError)>);

impl fmt::Display for Unreached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no node known");
        }
        for (index, (address, error)) in self.0.iter().enumerate() {
            let separator = if index == 0 { "" } else { "; " };
            write!(f, "{separator}{address}: {error}")?;
        }
        Ok(())
    }
}

/// The versions of a key and the context to write over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    /// Pass this to a put or delete to supersede exactly these versions.
    pub context: String,
    /// Every concurrent version; `None` is a delete (tombstone) among the siblings.
    pub siblings: Vec<Option<Vec<u8>>>,
}

impl Versions {
    /// The live values.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.siblings.iter().flatten().map(Vec::as_slice)
    }
}

/// The part of the cluster view a client routes with.
#[derive(Clone, Debug)]
struct View {
    epoch: u64,
    ring: Option<Ring>,
    replication_factor: usize,
    http: BTreeMap<NodeId, String>,
    /// The node answering did not know the ring or some member's HTTP address yet
    /// (members learn each other's addresses by gossip after a start).
    partial: bool,
    fetched: Instant,
}

/// Requests sent to a home replica of their key, and to any other node.
#[derive(Debug, Default)]
pub struct Hops {
    pub to_home: AtomicU64,
    pub elsewhere: AtomicU64,
}

/// How a client identifies itself and reaches the nodes.
#[derive(Clone, Default)]
pub struct ClientConfig {
    /// Sent as `Authorization: Bearer <token>` (the cluster's users, `auth.rs`).
    pub token: Option<String>,
    /// HTTPS, trusting the CA certificates in this PEM file (nodes with `tls-cert`).
    pub tls_ca: Option<std::path::PathBuf>,
}

impl fmt::Debug for ClientConfig {
    // Never print the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.token.as_ref().map(|_| "<set>");
        f.debug_struct("ClientConfig")
            .field("token", &token)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

/// A partition-aware client. Cheap to share (`Arc`); safe to use from many tasks.
#[derive(Debug)]
pub struct Client {
    http: Http1,
    /// Headers every request carries (the token).
    auth: Vec<(HeaderName, HeaderValue)>,
    seeds: Vec<String>,
    view: RwLock<Option<Arc<View>>>,
    stale: AtomicBool,
    pub hops: Hops,
}

fn invalid(error: impl Into<hyper::http::Error>) -> HttpError {
    HttpError::Invalid(error.into())
}

impl Client {
    /// A client that learns the cluster from `seeds` (HTTP `host:port` addresses).
    pub async fn connect(seeds: &[String]) -> Result<Arc<Self>, ClientError> {
        Self::connect_with(seeds, ClientConfig::default()).await
    }

    /// [`connect`](Self::connect), identified and connected as `config` says.
    pub async fn connect_with(
        seeds: &[String],
        config: ClientConfig,
    ) -> Result<Arc<Self>, ClientError> {
        let tls = config
            .tls_ca
            .as_deref()
            .map(TlsClient::trusting)
            .transpose()?;
        let mut auth = Vec::new();
        if let Some(token) = &config.token {
            let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(invalid)?;
            value.set_sensitive(true);
            auth.push((AUTHORIZATION, value));
        }
        let client = Arc::new(Self {
            http: Http1::new(tls, REQUEST_TIMEOUT),
            auth,
            seeds: seeds.to_vec(),
            view: RwLock::new(None),
            stale: AtomicBool::new(true),
            hops: Hops::default(),
        });
        client.refresh().await?;
        Ok(client)
    }

    /// The cluster view (`/v1/cluster`) of the first node that answers.
    pub async fn cluster(&self) -> Result<ClusterView, ClientError> {
        let mut failures = Unreached::default();
        for address in self.all_nodes() {
            let answer = self.request(Method::GET, &address, "/v1/cluster", None, Bytes::new());
            match answer.await {
                Ok(response) => return json_of(&response),
                Err(error) => failures.0.push((address, error)),
            }
        }
        Err(ClientError::Unreachable(failures))
    }

    /// Fetch the view now.
    pub async fn refresh(&self) -> Result<(), ClientError> {
        let cluster = self.cluster().await?;
        let view = parse_view(&cluster)?;
        *self.view.write().expect("view lock") = Some(Arc::new(view));
        self.stale.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// The ring epoch the client routes with.
    pub fn epoch(&self) -> u64 {
        self.current().map_or(0, |view| view.epoch)
    }

    fn current(&self) -> Option<Arc<View>> {
        self.view.read().expect("view lock").clone()
    }

    /// Known nodes: members first, then seeds, without repeats.
    fn all_nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .current()
            .map(|view| view.http.values().cloned().collect())
            .unwrap_or_default();
        for seed in &self.seeds {
            if !nodes.contains(seed) {
                nodes.push(seed.clone());
            }
        }
        nodes
    }

    /// Where to send a request for `key`: its homes in preference order, then the
    /// rest; and how many of those lead are homes.
    async fn targets(&self, key: &str) -> (Vec<String>, usize) {
        let old = self.current().is_none_or(|view| {
            let every = match view.partial {
                false => REFRESH_EVERY,
                true => PARTIAL_REFRESH_EVERY,
            };
            view.fetched.elapsed() > every
        });
        if self.stale.load(Ordering::Relaxed) || old {
            if let Err(error) = self.refresh().await {
                tracing::debug!(%error, "ring refresh failed; routing with the old view");
            }
        }
        let mut targets = Vec::new();
        if let Some(view) = self.current() {
            if let Some(ring) = &view.ring {
                let partition = ring.partition_of_key(key.as_bytes());
                for home in ring.home_replicas(partition, view.replication_factor) {
                    if let Some(address) = view.http.get(&home) {
                        targets.push(address.clone());
                    }
                }
            }
        }
        let homes = targets.len();
        for address in self.all_nodes() {
            if !targets.contains(&address) {
                targets.push(address);
            }
        }
        (targets, homes)
    }

    /// One request with the token (and a context header when given).
    async fn request(
        &self,
        method: Method,
        address: &str,
        path: &str,
        context: Option<&str>,
        body: Bytes,
    ) -> Result<Response, HttpError> {
        let mut headers = self.auth.clone();
        if let Some(context) = context {
            let value = HeaderValue::try_from(context).map_err(invalid)?;
            headers.push((HeaderName::from_static(CONTEXT_HEADER), value));
        }
        self.http.send(method, address, path, &headers, body).await
    }

    /// Send one KV request, to the first target that accepts the connection.
    async fn send(
        &self,
        key: &str,
        method: Method,
        context: Option<&str>,
        body: Bytes,
    ) -> Result<Response, ClientError> {
        let (targets, homes) = self.targets(key).await;
        let path = format!("/v1/kv/{}", encode_key(key));
        let mut failures = Unreached::default();
        for (index, address) in targets.iter().enumerate() {
            let answer = self.request(method.clone(), address, &path, context, body.clone());
            match answer.await {
                Ok(response) => {
                    let hop = if index < homes {
                        &self.hops.to_home
                    } else {
                        &self.hops.elsewhere
                    };
                    hop.fetch_add(1, Ordering::Relaxed);
                    self.note_epoch(&response);
                    return Ok(response);
                }
                // Only a failed connection is safe to retry elsewhere (see module doc).
                Err(error) if error.is_connect() => failures.0.push((address.clone(), error)),
                Err(error) => {
                    let failed = Unreached(vec![(address.clone(), error)]);
                    return Err(ClientError::Unreachable(failed));
                }
            }
        }
        self.stale.store(true, Ordering::Relaxed);
        Err(ClientError::Unreachable(failures))
    }

    fn note_epoch(&self, response: &Response) {
        let epoch = response.header(EPOCH_HEADER).parse::<u64>().ok();
        if epoch.is_some_and(|epoch| epoch > self.epoch()) {
            self.stale.store(true, Ordering::Relaxed);
        }
    }

    /// Read every version of `key`.
    pub async fn get(&self, key: &str) -> Result<Versions, ClientError> {
        let response = self.send(key, Method::GET, None, Bytes::new()).await?;
        let context = response.header(CONTEXT_HEADER).to_string();
        match response.status.as_u16() {
            200 => Ok(Versions {
                context,
                siblings: vec![Some(response.body.to_vec())],
            }),
            300 => siblings_of(response.json()?),
            404 => Ok(Versions {
                context,
                siblings: Vec::new(),
            }),
            _ => Err(api_error(&response)),
        }
    }

    /// Write `value` over what `context` covers (`None`: over whatever the node reads
    /// first; `Some("")`: a blind write). Returns the new context.
    pub async fn put(
        &self,
        key: &str,
        value: &[u8],
        context: Option<&str>,
    ) -> Result<String, ClientError> {
        let body = Bytes::copy_from_slice(value);
        written(&self.send(key, Method::PUT, context, body).await?)
    }

    /// Delete `key` (a tombstone over what `context` covers; `None` as in `put`).
    pub async fn delete(&self, key: &str, context: Option<&str>) -> Result<String, ClientError> {
        written(
            &self
                .send(key, Method::DELETE, context, Bytes::new())
                .await?,
        )
    }

    /// One request to the node at `address` with the client's token, answered as is
    /// (the admin routes of backups and restores, `backup.rs`).
    pub async fn raw(
        &self,
        method: Method,
        address: &str,
        path: &str,
        body: Bytes,
    ) -> Result<Response, HttpError> {
        self.request(method, address, path, None, body).await
    }

    /// Ask the cluster to add (`join`) or remove (`leave`) a member; the new epoch.
    pub async fn change(&self, action: &str, node: NodeId) -> Result<u64, ClientError> {
        let mut failures = Unreached::default();
        let path = format!("/v1/admin/{action}/{}", node.0);
        for address in self.all_nodes() {
            let answer = self.request(Method::POST, &address, &path, None, Bytes::new());
            match answer.await {
                Ok(response) => {
                    let changed: Changed = json_of(&response)?;
                    self.stale.store(true, Ordering::Relaxed);
                    return Ok(changed.epoch);
                }
                Err(error) => failures.0.push((address, error)),
            }
        }
        Err(ClientError::Unreachable(failures))
    }
}

fn written(response: &Response) -> Result<String, ClientError> {
    match response.status.as_u16() {
        204 => Ok(response.header(CONTEXT_HEADER).to_string()),
        _ => Err(api_error(response)),
    }
}

/// The JSON body of a successful answer, or the API error it carries.
fn json_of<T: DeserializeOwned>(response: &Response) -> Result<T, ClientError> {
    match response.status.is_success() {
        true => Ok(response.json()?),
        false => Err(api_error(response)),
    }
}

fn api_error(response: &Response) -> ClientError {
    let status = response.status.as_u16();
    // A proxy or an older node may answer without the JSON body: keep the status.
    let body = response.json().unwrap_or_else(|_| ErrorDocument {
        error: "no error text".into(),
        kind: "unknown".into(),
        ..ErrorDocument::default()
    });
    let body = Box::new(body);
    ClientError::Api { status, body }
}

fn siblings_of(body: SiblingsDocument) -> Result<Versions, ClientError> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut siblings = Vec::with_capacity(body.siblings.len());
    for sibling in body.siblings {
        match sibling.value {
            Some(text) => siblings.push(Some(engine.decode(text)?)),
            None => siblings.push(None),
        }
    }
    Ok(Versions {
        context: body.context,
        siblings,
    })
}

/// The routing part of a cluster view.
fn parse_view(cluster: &ClusterView) -> Result<View, ClientError> {
    if let Some(ring) = &cluster.ring {
        ring.check_invariants()?;
    }
    let mut http = BTreeMap::new();
    let mut partial = cluster.ring.is_none();
    for member in cluster.serving() {
        match &member.http {
            Some(address) => {
                http.insert(member.id, address.clone());
            }
            None => partial = true,
        }
    }
    Ok(View {
        epoch: cluster.epoch,
        ring: cluster.ring.clone(),
        replication_factor: cluster.replication_factor,
        http,
        partial,
        fetched: Instant::now(),
    })
}

/// Percent-encode a key for a URL path (every byte but unreserved ones).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{MemberState, MemberView, TransfersView};

    fn cluster(http2: Option<&str>, ring: Option<Ring>) -> ClusterView {
        let member = |id: u32, status: MemberState, http: Option<&str>| MemberView {
            id: NodeId(id),
            status,
            peer: format!("127.0.0.1:{}", 100 + id),
            http: http.map(String::from),
            resp: None,
            weight: 1,
            zone: None,
            suspected: false,
            last_seen_ms_ago: None,
        };
        ClusterView {
            node: NodeId(1),
            epoch: 1,
            replication_factor: 2,
            members: vec![
                member(1, MemberState::Valid, Some("127.0.0.1:1")),
                member(2, MemberState::Valid, http2),
                member(3, MemberState::Left, None),
            ],
            ring,
            partitions: Vec::new(),
            transfers: TransfersView::default(),
            hints: None,
            merkle_roots: BTreeMap::new(),
            in_flight: 0,
        }
    }

    /// A node answers before gossip told it every address: the client must not keep
    /// that view for `REFRESH_EVERY` (it sent every request to the seeds meanwhile).
    #[test]
    fn a_view_missing_a_members_address_or_the_ring_is_partial() {
        let view = parse_view(&cluster(None, None)).unwrap();
        assert!(view.partial);
        let view = parse_view(&cluster(Some("127.0.0.1:2"), None)).unwrap();
        assert!(view.partial, "no ring");
        assert_eq!(view.http.len(), 2, "a left member is not a target");
    }

    #[test]
    fn a_view_with_the_ring_and_every_address_is_complete() {
        let members = [NodeId(1), NodeId(2)].map(|node| dynamo_core::ring::RingMember {
            node,
            weight: 1,
            zone: None,
        });
        let config = dynamo_core::ring::RingConfig {
            partitions: 8,
            replication_factor: 2,
        };
        let ring = Ring::new(config, members.to_vec()).unwrap();
        let view = parse_view(&cluster(Some("127.0.0.1:2"), Some(ring.clone()))).unwrap();
        assert!(!view.partial);
        assert_eq!(view.replication_factor, 2);
        assert!(parse_view(&cluster(None, Some(ring))).unwrap().partial);
    }

    #[test]
    fn unreached_nodes_are_listed() {
        assert_eq!(Unreached::default().to_string(), "no node known");
    }
}
