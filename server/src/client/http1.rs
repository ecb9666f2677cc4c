//! The partition-aware client's transport: a small HTTP/1.1 client on hyper's
//! connection-level API, with keep-alive connections kept per node and optional TLS.
//!
//! Invariants:
//! - [`HttpError::Connect`] means nothing was sent (the TCP connect or the TLS handshake
//!   failed), the only failure the client retries on another node;
//! - a kept connection is reused only while hyper reports it open, and a request it
//!   could not take is handed back unsent (`try_send_request`) and sent on a new
//!   connection, so a connection the server closed while idle costs no error;
//! - each request (connect, send, whole body) finishes within the timeout; bodies are
//!   read whole up to [`BODY_BYTES_MAX`]; at most [`IDLE_PER_NODE_MAX`] idle
//!   connections are kept per node, none older than [`IDLE_FOR_MAX`].

use crate::tls::{host_of, TlsClient};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Idle connections kept per node at most.
pub const IDLE_PER_NODE_MAX: usize = 64;
/// An idle connection older than this is dropped, not reused (the server closes idle
/// connections after a while too).
pub const IDLE_FOR_MAX: Duration = Duration::from_secs(20);
/// A response body larger than this is refused (the cluster view of 65536 partitions
/// is a few MiB; a value at most 1 MiB).
pub const BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No connection: nothing was sent.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("{0}")]
    Request(#[source] hyper::Error),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("response body: {0}")]
    Body(String),
    #[error("response is not the expected json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid request: {0}")]
    Invalid(#[from] hyper::http::Error),
}

impl HttpError {
    /// Nothing was sent: the request may go to another node.
    pub fn is_connect(&self) -> bool {
        matches!(self, HttpError::Connect(_))
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A header's text, or `""`.
    pub fn header(&self, name: &str) -> &str {
        let value = self.headers.get(name).and_then(|v| v.to_str().ok());
        value.unwrap_or_default()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// The transport. Safe to share between tasks.
pub struct Http1 {
    idle: Mutex<HashMap<String, Vec<(Instant, Sender)>>>,
    tls: Option<TlsClient>,
    timeout: Duration,
}

impl std::fmt::Debug for Http1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1")
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http1 {
    /// Plain HTTP, or HTTPS trusting `tls`'s CA; each request within `timeout`.
    pub fn new(tls: Option<TlsClient>, timeout: Duration) -> Self {
        Http1 {
            idle: Mutex::new(HashMap::new()),
            tls,
            timeout,
        }
    }

    /// Send `method path` to `address` (`host:port`) with `headers` and `body`.
    pub async fn send(
        &self,
        method: Method,
        address: &str,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Response, HttpError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, address);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let mut request = builder.body(Full::new(body))?;
        // Bounded: each pass takes one idle connection off a list of at most
        // IDLE_PER_NODE_MAX.
        while let Some(mut sender) = self.take_idle(address) {
            let sent = tokio::time::timeout(self.timeout, sender.try_send_request(request));
            match sent.await {
                Ok(Ok(response)) => return self.finish(address, sender, response).await,
                Ok(Err(mut refused)) => match refused.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(HttpError::Request(refused.into_error())),
                },
                Err(_) => return Err(HttpError::Timeout(self.timeout)),
            }
        }
        let connecting = tokio::time::timeout(self.timeout, self.connect(address));
        let mut sender = connecting.await.map_err(|_| {
            HttpError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {:?}", self.timeout),
            ))
        })??;
        let sent = tokio::time::timeout(self.timeout, sender.send_request(request));
        match sent.await {
            Ok(Ok(response)) => self.finish(address, sender, response).await,
            Ok(Err(error)) => Err(HttpError::Request(error)),
            Err(_) => Err(HttpError::Timeout(self.timeout)),
        }
    }

    /// Read the body whole; keep the connection for reuse when the server keeps it.
    async fn finish(
        &self,
        address: &str,
        sender: Sender,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Response, HttpError> {
        let (parts, body) = response.into_parts();
        let limited = Limited::new(body, BODY_BYTES_MAX).collect();
        let body = match tokio::time::timeout(self.timeout, limited).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) => return Err(HttpError::Body(error.to_string())),
            Err(_) => return Err(HttpError::Timeout(self.timeout)),
        };
        let closing = parts
            .headers
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if !closing {
            self.keep(address, sender);
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn take_idle(&self, address: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().expect("idle connections lock");
        let kept = idle.get_mut(address)?;
        while let Some((since, sender)) = kept.pop() {
            if since.elapsed() < IDLE_FOR_MAX && sender.is_ready() && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn keep(&self, address: &str, sender: Sender) {
        let mut idle = self.idle.lock().expect("idle connections lock");
        let kept = idle.entry(address.to_string()).or_default();
        if kept.len() < IDLE_PER_NODE_MAX {
            kept.push((Instant::now(), sender));
        }
    }

    /// A new connection to `address` (through TLS when configured).
    async fn connect(&self, address: &str) -> Result<Sender, HttpError> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(HttpError::Connect)?;
        stream.set_nodelay(true).map_err(HttpError::Connect)?;
        match &self.tls {
            None => handshake(stream).await,
            Some(tls) => {
                let stream = tls.connect(host_of(address), stream).await;
                handshake(stream.map_err(HttpError::Connect)?).await
            }
        }
    }
}

/// HTTP/1 over `io`; the connection is driven by a task of its own until it closes.
async fn handshake<S>(io: S) -> Result<Sender, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|error| HttpError::Connect(std::io::Error::other(error)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "http connection closed");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering every request `200 ok` on kept-alive connections; counts
    /// the connections it accepted.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while let Ok(read) = stream.read(&mut chunk).await {
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            buffer.drain(..end + 4);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            let _ = stream.write_all(answer).await;
                        }
                    }
                });
            }
        });
        (address, accepted)
    }

    #[tokio::test]
    async fn a_connection_is_reused_and_a_refused_connect_is_retryable() {
        let (address, accepted) = server().await;
        let http = Http1::new(None, Duration::from_secs(5));
        for _ in 0..3 {
            let response = http
                .send(Method::GET, &address, "/", &[], Bytes::new())
                .await
                .unwrap();
            assert_eq!(
                (response.status.as_u16(), &response.body[..]),
                (200, &b"ok"[..])
            );
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one kept-alive connection"
        );
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = closed.local_addr().unwrap().to_string();
        drop(closed);
        let error = http
            .send(Method::GET, &gone, "/", &[], Bytes::new())
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error}");
    }
}
