//! The `etcd` target: etcd v3's KV service over gRPC, so `dynamo-bench` can put etcd
//! next to dynamo with the same generator, workloads and histograms.
//!
//! Only two calls are needed, `KV/Put` and `KV/Range`, so the four messages they carry
//! are declared here by hand with `prost` derives, their field numbers those of etcd's
//! `rpc.proto` and `kv.proto` (stable since v3.0). The `etcd-client` crate generates
//! them at build time with `prost-build`, which needs `protoc` installed; a fresh
//! machine has none, and `cargo clippy --all-targets` would then fail for everyone.
//! Fields a reply carries that are not declared here (the response header, revisions)
//! are skipped by the decoder, as protobuf allows.
//!
//! Fairness with the RESP target: each worker owns one [`EtcdKv`], which owns one
//! tonic `Channel` to one member, that is one HTTP/2 connection per worker, and the
//! workers are spread over the members in turn, exactly as RESP workers are spread
//! over dynamo nodes. A member that is not the leader forwards puts to it and asks it
//! for a read index before a linearizable read, as a dynamo node coordinates a request
//! for keys it does not hold.

use crate::BenchError;
use http::uri::PathAndQuery;
use std::time::Duration;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

const PUT: &str = "/etcdserverpb.KV/Put";
const RANGE: &str = "/etcdserverpb.KV/Range";

/// `etcdserverpb.PutRequest`: no lease, no previous value back.
#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `etcdserverpb.PutResponse`: its header is not needed.
#[derive(Clone, PartialEq, prost::Message)]
struct PutResponse {}

/// `etcdserverpb.RangeRequest` for one key (no `range_end`).
#[derive(Clone, PartialEq, prost::Message)]
struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    /// False: a linearizable read, etcd's default and what its own benchmark measures.
    #[prost(bool, tag = "7")]
    serializable: bool,
}

/// `etcdserverpb.RangeResponse`: the pairs found.
#[derive(Clone, PartialEq, prost::Message)]
struct RangeResponse {
    #[prost(message, repeated, tag = "2")]
    kvs: Vec<KeyValue>,
}

/// `mvccpb.KeyValue`: the key and its value, revisions skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    value: Vec<u8>,
}

/// One gRPC connection to one etcd member, opened on first use; tonic reconnects it
/// after a failure.
#[derive(Debug, Clone)]
pub struct EtcdKv {
    grpc: Grpc<Channel>,
}

impl EtcdKv {
    /// A client of the member at `address` (`host:port`, or a URL with `http://`).
    pub fn new(address: &str, connect_timeout: Duration) -> Result<Self, BenchError> {
        let url = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(url)
            .map_err(|e| BenchError::Config(format!("etcd address {address}: {e}")))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true);
        Ok(EtcdKv {
            grpc: Grpc::new(endpoint.connect_lazy()),
        })
    }

    /// Set `key` to `value`: one raft proposal, answered once a quorum has it on disk.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), BenchError> {
        let request = PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
        };
        let _: PutResponse = self.unary(request, PUT).await?;
        Ok(())
    }

    /// The value of `key` (a linearizable read), `None` when absent.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, BenchError> {
        let request = RangeRequest {
            key: key.to_vec(),
            serializable: false,
        };
        let reply: RangeResponse = self.unary(request, RANGE).await?;
        Ok(reply
            .kvs
            .into_iter()
            .find(|pair| pair.key == key)
            .map(|pair| pair.value))
    }

    async fn unary<Q, A>(&mut self, request: Q, path: &'static str) -> Result<A, BenchError>
    where
        Q: prost::Message + Send + 'static,
        A: prost::Message + Default + Send + 'static,
    {
        self.grpc
            .ready()
            .await
            .map_err(|e| BenchError::Etcd(format!("connection: {e}")))?;
        let reply = self
            .grpc
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(path),
                ProstCodec::default(),
            )
            .await
            .map_err(|status| {
                BenchError::Etcd(format!("{:?}: {}", status.code(), status.message()))
            })?;
        Ok(reply.into_inner())
    }
}
