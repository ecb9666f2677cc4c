//! The Redis-protocol (RESP2) client port, so `redis-cli`, `redis-benchmark` and Redis
//! client libraries work against dynamo.
//!
//! Plain commands keep Redis meanings where Dynamo allows: `SET` reads the key's
//! context first and writes over every version it saw (read-modify-write, so a `SET`
//! after a `SET` supersedes, while truly concurrent `SET`s through different nodes
//! become siblings, e.g. under `redis-benchmark`); `GET` returns the value when there
//! is one live version, nil when there is none, and when concurrent versions exist,
//! one of them chosen the same way on every node (the sibling with the greatest dot),
//! because Redis clients expect one value. Nothing is lost by that choice: every
//! sibling stays stored until a write supersedes it, and `VGET` shows them all. The versioned
//! commands expose Dynamo's interface (§4.1):
//! - `VGET key` -> `[context, [value | nil(tombstone), ...]]`;
//! - `VSET key context value` -> the new context (context `""` is a blind write);
//! - `VDEL key context` -> the new context.
//!
//! `DEL` deletes each key in one request (the node reads, then writes a tombstone only
//! over a live value) and answers how many existed. Every command goes through the KV
//! service (`service.rs`), which talks to the driver and counts requests; its errors
//! reach clients as `-ERR <message>` (Redis's generic error code), the message being
//! the one HTTP's error body carries.
//!
//! Requests on one connection are answered in order (pipelining works; pipelined
//! commands on distinct keys run concurrently, see [`PIPELINE_CONCURRENCY_MAX`]); each is
//! parsed only when complete; limits on argument count, request bytes and
//! connections are enforced with clear `-ERR` replies.

use crate::driver::DriverHandle;
use crate::metrics::Metrics;
use crate::service::{self, KvService, Port, ServiceError};
use dynamo_core::message::Quorum;
use dynamo_core::types::limits;
use dynamo_core::version::{Content, Siblings};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Arguments per command at most.
pub const ARGS_MAX: usize = 1024;
/// Bytes of one request at most (a maximal value plus its key and framing).
pub const REQUEST_BYTES_MAX: usize = limits::VALUE_BYTES_MAX + limits::KEY_BYTES_MAX + 1024;
/// Client connections at most; more wait in the accept queue.
pub const CONNECTIONS_MAX: usize = 1024;
/// A request whose first bytes arrived must be complete within this.
pub const PARTIAL_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A connection with no request in progress is closed after this.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// A reply value in RESP2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Value>),
}

impl Value {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Simple(text) => out.extend_from_slice(format!("+{text}\r\n").as_bytes()),
            Value::Error(text) => out
                .extend_from_slice(format!("-{}\r\n", text.replace(['\r', '\n'], " ")).as_bytes()),
            Value::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Value::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Value::Bulk(Some(bytes)) => {
                out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Value::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                items.iter().for_each(|item| item.encode(out));
            }
        }
    }

    fn error(text: impl Into<String>) -> Value {
        Value::Error(text.into())
    }

    fn bulk(bytes: impl Into<Vec<u8>>) -> Value {
        Value::Bulk(Some(bytes.into()))
    }
}

/// Why a request could not be parsed; the connection is closed after the error reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("protocol error: line too long")]
    LineTooLong,
    /// The text where a length or integer was expected.
    #[error("protocol error: invalid length {0:?}")]
    InvalidLength(String),
    #[error("protocol error: negative array length")]
    NegativeArrayLength,
    #[error("protocol error: negative bulk length")]
    NegativeBulkLength,
    #[error("protocol error: expected a bulk string")]
    ExpectedBulk,
    #[error("protocol error: bulk string not terminated by CRLF")]
    UnterminatedBulk,
    #[error("protocol error: unexpected reply type {0:?}")]
    UnexpectedReplyType(char),
    #[error("request exceeds {REQUEST_BYTES_MAX} bytes")]
    TooLarge,
    #[error("more than {ARGS_MAX} arguments")]
    TooManyArgs,
}

/// A complete request's arguments and the bytes it used, or `None` while incomplete.
pub type Parsed = Result<Option<(Vec<Vec<u8>>, usize)>, ParseError>;

/// Parse one request from the front of `buffer`: `Ok(None)` while incomplete, else
/// the arguments and the bytes consumed. Accepts arrays of bulk strings and inline
/// commands (what `redis-cli` and telnet send).
pub fn parse(buffer: &[u8]) -> Parsed {
    match buffer.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buffer),
        Some(_) => parse_inline(buffer),
    }
}

fn line(buffer: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, ParseError> {
    let Some(end) = buffer[from..].windows(2).position(|w| w == b"\r\n") else {
        if buffer.len() - from > 64 * 1024 {
            return Err(ParseError::LineTooLong);
        }
        return Ok(None);
    };
    Ok(Some((&buffer[from..from + end], from + end + 2)))
}

fn number(text: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ParseError::InvalidLength(String::from_utf8_lossy(text).into_owned()))
}

fn parse_array(buffer: &[u8]) -> Parsed {
    let Some((header, mut at)) = line(buffer, 1)? else {
        return Ok(None);
    };
    let count = number(header)?;
    if count < 0 || count as usize > ARGS_MAX {
        return Err(if count < 0 {
            ParseError::NegativeArrayLength
        } else {
            ParseError::TooManyArgs
        });
    }
    let mut args = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some((header, start)) = line(buffer, at)? else {
            return Ok(None);
        };
        if header.first() != Some(&b'$') {
            return Err(ParseError::ExpectedBulk);
        }
        let size = number(&header[1..])?;
        if size < 0 || size as usize > REQUEST_BYTES_MAX || start > REQUEST_BYTES_MAX {
            return Err(if size < 0 {
                ParseError::NegativeBulkLength
            } else {
                ParseError::TooLarge
            });
        }
        let end = start + size as usize;
        if buffer.len() < end + 2 {
            return Ok(None);
        }
        if &buffer[end..end + 2] != b"\r\n" {
            return Err(ParseError::UnterminatedBulk);
        }
        args.push(buffer[start..end].to_vec());
        at = end + 2;
    }
    Ok(Some((args, at)))
}

fn parse_inline(buffer: &[u8]) -> Parsed {
    let Some(end) = buffer.iter().position(|b| *b == b'\n') else {
        return if buffer.len() > 64 * 1024 {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let text = &buffer[..end];
    let args: Vec<Vec<u8>> = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if args.len() > ARGS_MAX {
        return Err(ParseError::TooManyArgs);
    }
    Ok(Some((args, end + 1)))
}

/// Parse one reply value (the client side, for the CLI and tests): `Ok(None)` while
/// incomplete.
pub fn parse_value(buffer: &[u8]) -> Result<Option<(Value, usize)>, ParseError> {
    let Some(kind) = buffer.first() else {
        return Ok(None);
    };
    let Some((header, at)) = line(buffer, 1)? else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(header).into_owned();
    match kind {
        b'+' => Ok(Some((Value::Simple(text()), at))),
        b'-' => Ok(Some((Value::Error(text()), at))),
        b':' => Ok(Some((Value::Integer(number(header)?), at))),
        b'$' => {
            let size = number(header)?;
            if size < 0 {
                return Ok(Some((Value::Bulk(None), at)));
            }
            let end = at + size as usize;
            if buffer.len() < end + 2 {
                return Ok(None);
            }
            Ok(Some((Value::bulk(buffer[at..end].to_vec()), end + 2)))
        }
        b'*' => {
            let (count, mut at) = (number(header)?, at);
            let mut items = Vec::new();
            for _ in 0..count.max(0) {
                let Some((item, used)) = parse_value(&buffer[at..])? else {
                    return Ok(None);
                };
                items.push(item);
                at += used;
            }
            Ok(Some((Value::Array(items), at)))
        }
        _ => Err(ParseError::UnexpectedReplyType(*kind as char)),
    }
}

/// Send one command to a RESP server and read its reply. A reply that is not RESP is
/// an `InvalidData` error carrying the [`ParseError`]; a connection closed before the
/// reply, `UnexpectedEof`. (An `io::Error`: callers tell a refused connection apart.)
pub async fn call(address: &str, args: &[&[u8]]) -> std::io::Result<Value> {
    let mut stream = TcpStream::connect(address).await?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request).await?;
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let parsed = parse_value(&buffer);
        let invalid = |e: ParseError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        if let Some((value, _)) = parsed.map_err(invalid)? {
            return Ok(value);
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// Accept client connections until the listener fails.
pub async fn serve(listener: TcpListener, driver: DriverHandle, metrics: Arc<Metrics>) {
    let service = KvService::new(driver, metrics, Port::Resp);
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection(stream, service).await {
                tracing::debug!(%error, "client connection closed");
            }
        });
    }
}

async fn connection(mut stream: TcpStream, service: KvService) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut out = Vec::new();
        let (commands, ending) = parse_pipeline(&mut buffer);
        run_pipeline(&service, commands, &mut out).await;
        match ending {
            Ending::More => {}
            Ending::Quit => return stream.write_all(&out).await,
            Ending::Malformed(error) => {
                Value::error(format!("ERR {error}")).encode(&mut out);
                return stream.write_all(&out).await;
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        // Slow-loris defence: a started request must arrive whole within
        // PARTIAL_REQUEST_TIMEOUT; an idle connection is closed after IDLE_TIMEOUT, so
        // stalled clients cannot hold the CONNECTIONS_MAX slots forever.
        let limit = if buffer.is_empty() {
            IDLE_TIMEOUT
        } else {
            PARTIAL_REQUEST_TIMEOUT
        };
        let read = match tokio::time::timeout(limit, stream.read(&mut chunk)).await {
            Ok(read) => read?,
            Err(_) => {
                let text = format!("ERR no complete request within {} s", limit.as_secs());
                Value::error(text).encode(&mut out);
                let _ = stream.write_all(&out).await;
                return Ok(());
            }
        };
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// What follows the commands a read delivered whole.
#[derive(Debug)]
enum Ending {
    /// Wait for more bytes.
    More,
    /// `QUIT` was the last command: answer, then close.
    Quit,
    /// The bytes after the commands are not RESP: answer them, then report and close.
    Malformed(ParseError),
}

/// Take every complete command off the front of `buffer` (up to a `QUIT`).
fn parse_pipeline(buffer: &mut Vec<u8>) -> (Vec<Vec<Vec<u8>>>, Ending) {
    let mut commands = Vec::new();
    let mut at = 0;
    let ending = loop {
        match parse(&buffer[at..]) {
            Ok(Some((args, used))) => {
                at += used;
                if args.is_empty() {
                    continue;
                }
                let quit = args[0].eq_ignore_ascii_case(b"quit");
                commands.push(args);
                if quit {
                    break Ending::Quit;
                }
            }
            Ok(None) => break Ending::More,
            Err(error) => break Ending::Malformed(error),
        }
    };
    buffer.drain(..at);
    (commands, ending)
}

/// Commands of one pipeline run at once at most (each holds a driver request).
pub const PIPELINE_CONCURRENCY_MAX: usize = 64;

/// Run a pipeline's commands and append their replies, in order, to `out`.
///
/// Pipelined commands run concurrently in waves: a wave grows while its commands touch
/// keys no earlier command of the wave touches, so every key sees its commands one
/// after the other, in the order sent (a pipelined `SET k` then `GET k` reads the
/// write), while commands on different keys share the round trips. Commands without
/// keys (`PING`, `INFO`, ...) run alone.
async fn run_pipeline(service: &KvService, commands: Vec<Vec<Vec<u8>>>, out: &mut Vec<u8>) {
    let mut wave: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut touched: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
    for args in commands {
        let keys = keys_of(&args);
        let fits = keys.is_some_and(|keys| keys.iter().all(|key| !touched.contains(key)));
        if !fits || wave.len() == PIPELINE_CONCURRENCY_MAX {
            run_wave(service, std::mem::take(&mut wave), out).await;
            touched.clear();
        }
        touched.extend(keys.unwrap_or_default().iter().cloned());
        let alone = keys.is_none();
        wave.push(args);
        if alone {
            run_wave(service, std::mem::take(&mut wave), out).await;
            touched.clear();
        }
    }
    run_wave(service, wave, out).await;
}

/// The keys a command reads or writes; `None` for commands without keys.
fn keys_of(args: &[Vec<u8>]) -> Option<&[Vec<u8>]> {
    let name = args[0].to_ascii_uppercase();
    match name.as_slice() {
        b"GET" | b"VGET" | b"SET" | b"VSET" | b"VDEL" => args.get(1..2),
        b"DEL" | b"EXISTS" | b"MGET" => args.get(1..).filter(|keys| !keys.is_empty()),
        _ => None,
    }
}

/// Run commands concurrently; append their replies in the order given.
async fn run_wave(service: &KvService, wave: Vec<Vec<Vec<u8>>>, out: &mut Vec<u8>) {
    if let [args] = wave.as_slice() {
        execute(service, args).await.encode(out);
        return;
    }
    let mut replies: Vec<Option<Value>> = wave.iter().map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    for (index, args) in wave.into_iter().enumerate() {
        let service = service.clone();
        running.spawn(async move { (index, execute(&service, &args).await) });
    }
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, reply)) => replies[index] = Some(reply),
            Err(error) => tracing::error!(%error, "a pipelined command's task failed"),
        }
    }
    // Every command gets its reply in its place, or the client's pipeline shifts.
    for reply in replies {
        let failed = || Value::error("ERR internal error running the command".to_string());
        reply.unwrap_or_else(failed).encode(out);
    }
}

/// Why a command failed: the service's failures, and what this port refuses itself.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("unknown command '{0}'")]
    Unknown(String),
    #[error("wrong number of arguments for '{0}' command")]
    Arity(String),
}

impl CommandError {
    /// The one mapping of failures to RESP: Redis's generic `ERR` code, then the
    /// message (for a service failure, the `error` text HTTP answers with).
    pub fn reply(&self) -> Value {
        Value::Error(format!("ERR {self}"))
    }
}

/// Run one command; a failure is its error reply.
pub async fn execute(service: &KvService, args: &[Vec<u8>]) -> Value {
    match command(service, args).await {
        Ok(value) => value,
        Err(error) => error.reply(),
    }
}

/// Whether `name` (uppercase) may take `count` arguments, its name included.
fn arity_ok(name: &str, count: usize) -> bool {
    match name {
        "PING" => count <= 2,
        "GET" | "VGET" => count == 2,
        "SET" | "VDEL" => count == 3,
        "VSET" => count == 4,
        "DEL" | "EXISTS" | "MGET" => count >= 2,
        _ => true,
    }
}

async fn command(service: &KvService, args: &[Vec<u8>]) -> Result<Value, CommandError> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    if !arity_ok(&name, args.len()) {
        return Err(CommandError::Arity(name.to_lowercase()));
    }
    let quorum = Quorum::default();
    let ok = || Value::Simple("OK".into());
    match name.as_str() {
        "PING" => Ok(args
            .get(1)
            .map_or(Value::Simple("PONG".into()), |m| Value::bulk(m.clone()))),
        "QUIT" => Ok(ok()),
        "COMMAND" | "CONFIG" => Ok(Value::Array(Vec::new())),
        "SELECT" if args.get(1).is_some_and(|db| db == b"0") => Ok(ok()),
        "INFO" => info(service).await,
        "GET" => Ok(plain_value(&service.get(&args[1], quorum).await?)),
        "MGET" => Ok(mget(service, &args[1..]).await),
        "EXISTS" => exists(service, &args[1..]).await,
        "SET" => {
            let content = Content::Value(args[2].clone());
            service.set(&args[1], content, quorum).await?;
            Ok(ok())
        }
        "DEL" => del(service, &args[1..]).await,
        "VGET" => Ok(versioned(&service.get(&args[1], quorum).await?)),
        "VSET" => versioned_write(service, args, Content::Value(args[3].clone())).await,
        "VDEL" => versioned_write(service, args, Content::Tombstone).await,
        _ => Err(CommandError::Unknown(
            String::from_utf8_lossy(&args[0]).into_owned(),
        )),
    }
}

/// The value plain `GET` shows: siblings are sorted by dot, so the last live one is
/// the same choice on every node.
fn plain_value(siblings: &Siblings) -> Value {
    match siblings.values().last() {
        None => Value::Bulk(None),
        Some(value) => Value::bulk(value.to_vec()),
    }
}

fn versioned(siblings: &Siblings) -> Value {
    let context = service::context_text(siblings.clock());
    let values = siblings
        .iter()
        .map(|sibling| match &sibling.content {
            Content::Value(bytes) => Value::bulk(bytes.clone()),
            Content::Tombstone => Value::Bulk(None),
        })
        .collect();
    Value::Array(vec![Value::bulk(context), Value::Array(values)])
}

/// `VSET key context value` / `VDEL key context`: the context as the client sent it
/// (the service reads `""` as a blind write); the new context.
async fn versioned_write(
    service: &KvService,
    args: &[Vec<u8>],
    content: Content,
) -> Result<Value, CommandError> {
    let (key, context) = (&args[1], args[2].as_slice());
    let next = service
        .write(key, Some(context), content, Quorum::default())
        .await?;
    Ok(Value::bulk(service::context_text(&next)))
}

/// Each key's value, or its own error in its place.
async fn mget(service: &KvService, keys: &[Vec<u8>]) -> Value {
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        values.push(match service.get(key, Quorum::default()).await {
            Ok(siblings) => plain_value(&siblings),
            Err(error) => CommandError::from(error).reply(),
        });
    }
    Value::Array(values)
}

async fn exists(service: &KvService, keys: &[Vec<u8>]) -> Result<Value, CommandError> {
    let mut count = 0;
    for key in keys {
        let siblings = service.get(key, Quorum::default()).await?;
        count += i64::from(siblings.values().next().is_some());
    }
    Ok(Value::Integer(count))
}

/// One `Command::Delete` per key; the keys that existed.
async fn del(service: &KvService, keys: &[Vec<u8>]) -> Result<Value, CommandError> {
    let mut deleted = 0;
    for key in keys {
        deleted += i64::from(service.delete(key, Quorum::default()).await?);
    }
    Ok(Value::Integer(deleted))
}

async fn info(service: &KvService) -> Result<Value, CommandError> {
    let stats = service.stats().await?;
    let text = format!(
        "# Server\r\nredis_version:7.0.0\r\ndynamo_version:{}\r\n# Stats\r\ngets:{}\r\nputs:{}\r\nquorum_failures:{}\r\nread_repairs:{}\r\nhints_stored:{}\r\nhints_delivered:{}\r\nanti_entropy_keys_repaired:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        stats.gets,
        stats.puts,
        stats.quorum_failures,
        stats.read_repairs,
        stats.hints_stored,
        stats.hints_delivered,
        stats.anti_entropy_keys_repaired
    );
    Ok(Value::bulk(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arrays_inline_and_partial_input() {
        let request = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(
            parse(request).unwrap(),
            Some((vec![b"GET".to_vec(), b"key".to_vec()], request.len()))
        );
        for cut in 0..request.len() {
            assert_eq!(
                parse(&request[..cut]).unwrap(),
                None,
                "prefix of {cut} bytes"
            );
        }
        assert_eq!(
            parse(b"PING\r\n").unwrap(),
            Some((vec![b"PING".to_vec()], 6))
        );
    }

    #[test]
    fn rejects_malformed_and_oversized_requests() {
        assert_eq!(parse(b"*1\r\n+OK\r\n"), Err(ParseError::ExpectedBulk));
        assert_eq!(parse(b"*x\r\n"), Err(ParseError::InvalidLength("x".into())));
        assert_eq!(
            parse(b"*1\r\n$3\r\nabcXY"),
            Err(ParseError::UnterminatedBulk)
        );
        assert_eq!(parse(b"*99999\r\n"), Err(ParseError::TooManyArgs));
        assert_eq!(parse(b"*1\r\n$999999999\r\n"), Err(ParseError::TooLarge));
    }

    #[test]
    fn encodes_resp2() {
        let mut out = Vec::new();
        Value::Array(vec![
            Value::bulk(b"a".to_vec()),
            Value::Bulk(None),
            Value::Integer(3),
            Value::error("ERR x\r\ny"),
        ])
        .encode(&mut out);
        assert_eq!(out, b"*4\r\n$1\r\na\r\n$-1\r\n:3\r\n-ERR x  y\r\n");
    }

    /// RESP's mapping of the service's failures: `ERR ` and exactly the message HTTP's
    /// error body carries, so a failure reads the same through either port.
    #[test]
    fn service_failures_read_as_on_http() {
        use crate::service::{BadContext, ServiceError};
        let failures = [
            ServiceError::QuorumNotReached {
                needed: 2,
                received: 1,
            },
            ServiceError::ValueTooLarge {
                size: Some(9),
                max: 8,
            },
            ServiceError::BadContext(BadContext::NotText),
            ServiceError::Unavailable,
        ];
        for failure in failures {
            let resp = CommandError::from(failure.clone()).reply();
            let http = crate::http::ApiError::from(failure).document();
            assert_eq!(resp, Value::Error(format!("ERR {}", http.error)));
        }
        let quorum = CommandError::from(ServiceError::QuorumNotReached {
            needed: 2,
            received: 1,
        });
        let text = "ERR quorum not reached: needed 2, got 1";
        assert_eq!(quorum.reply(), Value::Error(text.into()));
        let arity = CommandError::Arity("get".into()).reply();
        let text = "ERR wrong number of arguments for 'get' command";
        assert_eq!(arity, Value::Error(text.into()));
    }
}
