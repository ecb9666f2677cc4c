//! The KV service: the one path from a client port (RESP `resp.rs`, HTTP `http.rs`)
//! to the node's driver.
//!
//! Each port parses its wire format and calls this; it never builds a `Command` nor
//! matches a `Reply` itself. The service owns, for every client request:
//! - submitting the core `Command` to the driver and matching its `Reply`;
//! - what a client's context means ([`KvService::write`]): absent, the node reads and
//!   supersedes what it read (`Command::Set`); empty, a blind write that supersedes
//!   nothing; otherwise exactly the versions the context covers (`Command::Put`);
//! - the read-modify-writes Redis clients expect ([`KvService::append`],
//!   [`KvService::take`]): a quorum read, then a put with that read's context, and the
//!   one value a plain read shows among siblings ([`shown_value`]);
//! - the request metrics (`dynamo_requests_total`, latency, siblings per read), counted
//!   under the port's label and the operation ([`Op`]), so both ports count alike;
//! - the one error type, [`ServiceError`], built from the core's `Failure` and from a
//!   stopped driver. Each port maps it to its wire form in exactly one place
//!   (`resp::CommandError::reply`, `http::ApiError`'s `IntoResponse`), and both show
//!   the same message, so a failure reads the same through either port.

use crate::driver::{DriverGone, DriverHandle, Snapshot};
use crate::metrics::Metrics;
use dynamo_core::clock::VersionVector;
use dynamo_core::crdt::Mutation;
use dynamo_core::message::{Command, Failure, Quorum, Reply};
use dynamo_core::node::NodeStats;
use dynamo_core::types::NodeId;
use dynamo_core::version::{Content, Context, ContextError, Siblings, VersionError};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// The client port a request came through (the `protocol` label of the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    Resp,
    Http,
}

impl Port {
    pub fn label(self) -> &'static str {
        match self {
            Port::Resp => "resp",
            Port::Http => "http",
        }
    }
}

/// What a request does (the `op` label of the metrics). Named by effect, not by wire
/// command, so the two ports' counts compare: RESP `SET`/`VSET` and HTTP `PUT` are
/// puts, `DEL`/`VDEL`/`DELETE` deletes, `GET`/`VGET`/`MGET`/`EXISTS` gets (per key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
    Delete,
    /// A data-type command's change (`INCR`, `SADD`, `HSET`...).
    Update,
    Join,
    Leave,
    Remove,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::Update => "update",
            Op::Join => "join",
            Op::Leave => "leave",
            Op::Remove => "remove",
        }
    }

    /// A write of a value is a put; a write of a tombstone a delete.
    fn writing(content: &Content) -> Self {
        match content {
            Content::Value(_) => Op::Put,
            Content::Tombstone => Op::Delete,
            Content::Typed(_) | Content::Mutation(_) => Op::Update,
        }
    }
}

/// Why a client's context was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadContext {
    #[error("not text")]
    NotText,
    #[error(transparent)]
    Malformed(#[from] ContextError),
}

/// Every way a client request can fail, whichever port it came through. Messages are
/// lowercase and carry the numbers; both ports show exactly this text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// A failure the core reported (quorum, timeout, limits, readiness, storage,
    /// membership): its text is the core's own.
    #[error(transparent)]
    Failed(Failure),
    /// `size` is unknown when a body without a declared length outgrew the limit.
    #[error("{}", value_too_large(*.size, *.max))]
    ValueTooLarge { size: Option<usize>, max: usize },
    #[error("bad context: {0}")]
    BadContext(#[from] BadContext),
    /// A write the versioning rules refuse (too many siblings, a context too large...).
    #[error("{0}")]
    Refused(VersionError),
    /// The driver stopped: the node is shutting down or its storage failed.
    #[error("the node is shutting down")]
    Unavailable,
    /// The core answered with a reply of another kind (a bug, never a client's fault).
    #[error("unexpected reply from the node: {0:?}")]
    UnexpectedReply(Box<Reply>),
}

/// The core's text for a value too large; without a size, what is known.
fn value_too_large(size: Option<usize>, max: usize) -> String {
    match size {
        Some(size) => format!("value is {size} bytes, more than {max}"),
        None => format!("value is more than {max} bytes"),
    }
}

impl ServiceError {
    /// The stable machine name of the failure (the HTTP body's `kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            ServiceError::Failed(Failure::QuorumNotReached { .. }) => "quorum_not_reached",
            ServiceError::Failed(Failure::Timeout { .. }) => "timeout",
            ServiceError::Failed(Failure::KeyTooLarge { .. })
            | ServiceError::ValueTooLarge { .. } => "too_large",
            ServiceError::BadContext(_) => "bad_context",
            ServiceError::Failed(Failure::BadQuorum { .. }) => "bad_quorum",
            ServiceError::Failed(Failure::EmptyKey | Failure::Version(_))
            | ServiceError::Refused(_) => "bad_request",
            ServiceError::Failed(Failure::NotReady) => "not_ready",
            ServiceError::Failed(Failure::Overloaded { .. }) => "overloaded",
            ServiceError::Failed(Failure::Storage { .. }) => "storage",
            ServiceError::Failed(Failure::Membership { .. }) => "membership",
            ServiceError::Unavailable => "shutting_down",
            ServiceError::UnexpectedReply(_) => "internal",
        }
    }

    /// The client asked for something the node will not do (retrying will not help);
    /// otherwise the node could not do it now. The `outcome` label: rejected or failed.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            ServiceError::Failed(Failure::KeyTooLarge { .. })
                | ServiceError::ValueTooLarge { .. }
                | ServiceError::Failed(Failure::EmptyKey | Failure::Version(_))
                | ServiceError::BadContext(_)
                | ServiceError::Failed(Failure::BadQuorum { .. })
                | ServiceError::Refused(_)
                | ServiceError::Failed(Failure::Membership { .. })
        )
    }
}

impl From<Failure> for ServiceError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Version(VersionError::ValueTooLarge { size, max }) => {
                ServiceError::ValueTooLarge {
                    size: Some(size),
                    max,
                }
            }
            Failure::Version(refused) => ServiceError::Refused(refused),
            other => ServiceError::Failed(other),
        }
    }
}

impl From<DriverGone> for ServiceError {
    fn from(_: DriverGone) -> Self {
        ServiceError::Unavailable
    }
}

/// A client's context as the ports carry it: text, empty meaning a blind write (the
/// empty version vector supersedes nothing).
pub fn parse_context(text: &[u8]) -> Result<VersionVector, ServiceError> {
    if text.is_empty() {
        return Ok(VersionVector::new());
    }
    let text = std::str::from_utf8(text).map_err(|_| BadContext::NotText)?;
    let context = Context::from_text(text).map_err(BadContext::from)?;
    Ok(context.into_clock())
}

/// The text form of a context, as both ports hand it to clients.
pub fn context_text(clock: &VersionVector) -> String {
    Context::new(clock.clone()).to_text()
}

/// The KV operations of one node for one client port. Cheap to clone (a channel
/// handle and an `Arc`).
#[derive(Clone, Debug)]
pub struct KvService {
    driver: DriverHandle,
    metrics: Arc<Metrics>,
    port: Port,
}

impl KvService {
    pub fn new(driver: DriverHandle, metrics: Arc<Metrics>, port: Port) -> Self {
        Self {
            driver,
            metrics,
            port,
        }
    }

    /// The node's ring epoch as of its last batch (no round trip).
    pub fn ring_epoch(&self) -> u64 {
        self.driver.ring_epoch()
    }

    pub async fn stats(&self) -> Result<NodeStats, ServiceError> {
        Ok(self.driver.stats().await?)
    }

    pub async fn snapshot(&self) -> Result<Snapshot, ServiceError> {
        Ok(self.driver.snapshot().await?)
    }

    /// Every concurrent version of `key` (possibly none, possibly tombstones).
    pub async fn get(&self, key: &[u8], quorum: Quorum) -> Result<Siblings, ServiceError> {
        let command = Command::Get {
            key: key.to_vec(),
            quorum,
        };
        self.measured(Op::Get, async {
            match self.submit(command).await? {
                Reply::Got { siblings } => {
                    self.metrics.read_siblings(siblings.len());
                    Ok(siblings)
                }
                other => Err(unexpected(other)),
            }
        })
        .await
    }

    /// Write `content` over exactly the versions `context` covers; the new context.
    pub async fn put(
        &self,
        key: &[u8],
        context: VersionVector,
        content: Content,
        quorum: Quorum,
    ) -> Result<VersionVector, ServiceError> {
        let op = Op::writing(&content);
        let command = write_command(key, Some(context), content, quorum);
        self.measured(op, self.written(command)).await
    }

    /// Write `content` over every version a read quorum returns, in one request (a
    /// Redis `SET`): the node reads, then writes with what it read as the context.
    pub async fn set(
        &self,
        key: &[u8],
        content: Content,
        quorum: Quorum,
    ) -> Result<VersionVector, ServiceError> {
        let op = Op::writing(&content);
        let command = write_command(key, None, content, quorum);
        self.measured(op, self.written(command)).await
    }

    /// A write with the context as a client sent it: `None` (no context at all) is a
    /// [`set`](Self::set); `Some` is parsed ([`parse_context`], empty = blind) and
    /// [`put`](Self::put). The one place that decides what an absent context means.
    pub async fn write(
        &self,
        key: &[u8],
        context: Option<&[u8]>,
        content: Content,
        quorum: Quorum,
    ) -> Result<VersionVector, ServiceError> {
        let op = Op::writing(&content);
        self.measured(op, async {
            let context = context.map(parse_context).transpose()?;
            let command = write_command(key, context, content, quorum);
            self.written(command).await
        })
        .await
    }

    /// Delete `key` if a read quorum finds a live value (one request: the node reads,
    /// then writes a tombstone only over a live value). Whether one existed.
    pub async fn delete(&self, key: &[u8], quorum: Quorum) -> Result<bool, ServiceError> {
        let command = Command::Delete {
            key: key.to_vec(),
            quorum,
        };
        self.measured(Op::Delete, async {
            match self.submit(command).await? {
                Reply::Deleted { existed } => Ok(existed),
                other => Err(unexpected(other)),
            }
        })
        .await
    }

    /// Append `suffix` to the value a plain read shows ([`shown_value`]; none: empty),
    /// written over every version the read returned (read-modify-write with the read's
    /// context, like a Redis `APPEND`); the new value's length. Concurrent appends
    /// through different nodes become siblings, as concurrent `SET`s do.
    pub async fn append(
        &self,
        key: &[u8],
        suffix: &[u8],
        quorum: Quorum,
    ) -> Result<usize, ServiceError> {
        let siblings = self.get(key, quorum).await?;
        let mut value = shown_value(&siblings).unwrap_or_default().to_vec();
        value.extend_from_slice(suffix);
        let length = value.len();
        let context = siblings.clock().clone();
        self.put(key, context, Content::Value(value), quorum)
            .await?;
        Ok(length)
    }

    /// Read `key`, then delete exactly the versions read (a Redis `GETDEL`): the value
    /// a plain read showed, or `None` (then nothing is written).
    pub async fn take(&self, key: &[u8], quorum: Quorum) -> Result<Option<Vec<u8>>, ServiceError> {
        let siblings = self.get(key, quorum).await?;
        let Some(value) = shown_value(&siblings).map(<[u8]>::to_vec) else {
            return Ok(None);
        };
        let context = siblings.clock().clone();
        self.put(key, context, Content::Tombstone, quorum).await?;
        Ok(Some(value))
    }

    /// Operator: add a member that announced itself to the ring; the new epoch.
    /// A data type's change (`docs/datatypes.md`): a put of the mutation over no
    /// context; the coordinator (a home of the key) applies it to its own copy.
    pub async fn update(
        &self,
        key: &[u8],
        mutation: Mutation,
        quorum: Quorum,
    ) -> Result<(), ServiceError> {
        let content = Content::Mutation(mutation);
        let command = write_command(key, Some(VersionVector::new()), content, quorum);
        self.measured(Op::Update, self.written(command)).await?;
        Ok(())
    }

    pub async fn join(&self, node: NodeId) -> Result<u64, ServiceError> {
        self.measured(Op::Join, self.changed(Command::Join { node }))
            .await
    }

    /// Operator: remove a member from the ring; the new epoch.
    pub async fn leave(&self, node: NodeId) -> Result<u64, ServiceError> {
        self.measured(Op::Leave, self.changed(Command::Leave { node }))
            .await
    }

    /// Operator: remove a member gone for good (its partitions re-sourced from
    /// surviving replicas); the new epoch.
    pub async fn remove(&self, node: NodeId) -> Result<u64, ServiceError> {
        self.measured(Op::Remove, self.changed(Command::Remove { node }))
            .await
    }

    /// Count a request the port refused before it became a service request (a bad
    /// query parameter, a body too large or too slow): a client error like the
    /// service's own, so the counts do not depend on where a request was refused.
    pub fn refused(&self, op: Op, started: Instant) {
        self.record(op, "rejected", started);
    }

    async fn submit(&self, command: Command) -> Result<Reply, ServiceError> {
        match self.driver.request(command).await? {
            Reply::Failed(failure) => Err(failure.into()),
            reply => Ok(reply),
        }
    }

    async fn written(&self, command: Command) -> Result<VersionVector, ServiceError> {
        match self.submit(command).await? {
            Reply::Put { context, .. } => Ok(context),
            other => Err(unexpected(other)),
        }
    }

    async fn changed(&self, command: Command) -> Result<u64, ServiceError> {
        match self.submit(command).await? {
            Reply::Changed { epoch } => Ok(epoch),
            other => Err(unexpected(other)),
        }
    }

    /// Run `work` and count it: the only place requests are counted.
    async fn measured<T>(
        &self,
        op: Op,
        work: impl Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, ServiceError> {
        let started = Instant::now();
        let result = work.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) if error.is_client_error() => "rejected",
            Err(_) => "failed",
        };
        self.record(op, outcome, started);
        result
    }

    fn record(&self, op: Op, outcome: &str, started: Instant) {
        let (port, op) = (self.port.label(), op.label());
        self.metrics.request(port, op, outcome, started.elapsed());
    }
}

/// The one value a plain read (RESP `GET`) shows: siblings are sorted by dot, so the
/// last live one is the same choice on every node; `None` without a live value.
pub fn shown_value(siblings: &Siblings) -> Option<&[u8]> {
    siblings.values().last()
}

/// A put over `context`, or without one a set (read, then put over what was read).
fn write_command(
    key: &[u8],
    context: Option<VersionVector>,
    content: Content,
    quorum: Quorum,
) -> Command {
    let key = key.to_vec();
    match context {
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
    }
}

fn unexpected(reply: Reply) -> ServiceError {
    ServiceError::UnexpectedReply(Box::new(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The context rules both ports share: empty is blind, text must parse, and a
    /// context round-trips through its text form.
    #[test]
    fn an_empty_context_is_blind_and_a_malformed_one_is_refused() {
        assert_eq!(parse_context(b""), Ok(VersionVector::new()));
        assert!(matches!(
            parse_context(b"garbage!"),
            Err(ServiceError::BadContext(BadContext::Malformed(_)))
        ));
        assert_eq!(
            parse_context(&[0xff, 0xfe]),
            Err(ServiceError::BadContext(BadContext::NotText))
        );
        let clock = VersionVector::new();
        let text = context_text(&clock);
        assert!(!text.is_empty(), "even the empty clock has a text form");
        assert_eq!(parse_context(text.as_bytes()), Ok(clock));
    }

    #[test]
    fn write_commands_follow_the_context() {
        let quorum = Quorum::default();
        let content = Content::Value(b"v".to_vec());
        assert!(matches!(
            write_command(b"k", None, content.clone(), quorum),
            Command::Set { .. }
        ));
        assert!(matches!(
            write_command(b"k", Some(VersionVector::new()), content, quorum),
            Command::Put { .. }
        ));
    }

    /// The core's failures keep their numbers and their text.
    #[test]
    fn failures_keep_their_numbers_and_messages() {
        let cases = [
            Failure::QuorumNotReached {
                needed: 2,
                received: 1,
            },
            Failure::Timeout {
                needed: 3,
                received: 2,
            },
            Failure::KeyTooLarge { size: 9, max: 8 },
            Failure::Version(VersionError::ValueTooLarge { size: 9, max: 8 }),
            Failure::Overloaded {
                in_flight: 5,
                max: 4,
            },
            Failure::NotReady,
            Failure::EmptyKey,
        ];
        for failure in cases {
            let error = ServiceError::from(failure.clone());
            assert_eq!(error.to_string(), failure.to_string(), "{failure:?}");
        }
        let error = ServiceError::from(Failure::QuorumNotReached {
            needed: 2,
            received: 1,
        });
        assert_eq!(
            (error.kind(), error.is_client_error()),
            ("quorum_not_reached", false)
        );
        let too_large = ServiceError::ValueTooLarge { size: None, max: 8 };
        assert_eq!(too_large.to_string(), "value is more than 8 bytes");
    }
}
