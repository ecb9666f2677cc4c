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
//! Requests on one connection are answered in order (pipelining works; pipelined
//! commands on distinct keys run concurrently, see [`PIPELINE_CONCURRENCY_MAX`]); each is
//! parsed only when complete; limits on argument count, request bytes and
//! connections are enforced with clear `-ERR` replies.

use crate::driver::DriverHandle;
use crate::metrics::Metrics;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Command, Quorum, Reply};
use dynamo_core::types::limits;
use dynamo_core::version::{Content, Context, Siblings};
use std::sync::Arc;
use std::time::Instant;
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
    #[error("protocol error: {0}")]
    Protocol(String),
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
            return Err(ParseError::Protocol("line too long".into()));
        }
        return Ok(None);
    };
    Ok(Some((&buffer[from..from + end], from + end + 2)))
}

fn number(text: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            ParseError::Protocol(format!(
                "invalid length {:?}",
                String::from_utf8_lossy(text)
            ))
        })
}

fn parse_array(buffer: &[u8]) -> Parsed {
    let Some((header, mut at)) = line(buffer, 1)? else {
        return Ok(None);
    };
    let count = number(header)?;
    if count < 0 || count as usize > ARGS_MAX {
        return Err(if count < 0 {
            ParseError::Protocol("negative array length".into())
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
            return Err(ParseError::Protocol("expected a bulk string".into()));
        }
        let size = number(&header[1..])?;
        if size < 0 || size as usize > REQUEST_BYTES_MAX || start > REQUEST_BYTES_MAX {
            return Err(if size < 0 {
                ParseError::Protocol("negative bulk length".into())
            } else {
                ParseError::TooLarge
            });
        }
        let end = start + size as usize;
        if buffer.len() < end + 2 {
            return Ok(None);
        }
        if &buffer[end..end + 2] != b"\r\n" {
            return Err(ParseError::Protocol(
                "bulk string not terminated by CRLF".into(),
            ));
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
        _ => Err(ParseError::Protocol(format!(
            "unexpected reply type {:?}",
            *kind as char
        ))),
    }
}

/// Send one command to a RESP server and read its reply.
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
        let invalid =
            |e: ParseError| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
        if let Some((value, _)) = parse_value(&buffer).map_err(invalid)? {
            return Ok(value);
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// Commands counted in the request metrics (others would let a client mint labels).
const KV_COMMANDS: [&str; 9] = [
    "get", "set", "del", "exists", "mget", "vget", "vset", "vdel", "ping",
];

/// Accept client connections until the listener fails.
pub async fn serve(listener: TcpListener, driver: DriverHandle, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let driver = driver.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection(stream, driver, metrics).await {
                tracing::debug!(%error, "client connection closed");
            }
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    driver: DriverHandle,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut out = Vec::new();
        let (commands, ending) = parse_pipeline(&mut buffer);
        run_pipeline(&driver, &metrics, commands, &mut out).await;
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
async fn run_pipeline(
    driver: &DriverHandle,
    metrics: &Arc<Metrics>,
    commands: Vec<Vec<Vec<u8>>>,
    out: &mut Vec<u8>,
) {
    let mut wave: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut touched: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
    for args in commands {
        let keys = keys_of(&args);
        let fits = keys.is_some_and(|keys| keys.iter().all(|key| !touched.contains(key)));
        if !fits || wave.len() == PIPELINE_CONCURRENCY_MAX {
            run_wave(driver, metrics, std::mem::take(&mut wave), out).await;
            touched.clear();
        }
        touched.extend(keys.unwrap_or_default().iter().cloned());
        let alone = keys.is_none();
        wave.push(args);
        if alone {
            run_wave(driver, metrics, std::mem::take(&mut wave), out).await;
            touched.clear();
        }
    }
    run_wave(driver, metrics, wave, out).await;
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
async fn run_wave(
    driver: &DriverHandle,
    metrics: &Arc<Metrics>,
    wave: Vec<Vec<Vec<u8>>>,
    out: &mut Vec<u8>,
) {
    if let [args] = wave.as_slice() {
        measured(driver, metrics, args).await.encode(out);
        return;
    }
    let mut replies: Vec<Option<Value>> = wave.iter().map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    for (index, args) in wave.into_iter().enumerate() {
        let (driver, metrics) = (driver.clone(), metrics.clone());
        running.spawn(async move { (index, measured(&driver, &metrics, &args).await) });
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

/// Run one command and record it in the request metrics.
async fn measured(driver: &DriverHandle, metrics: &Metrics, args: &[Vec<u8>]) -> Value {
    let started = Instant::now();
    let value = execute(driver, args).await;
    let op = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    if KV_COMMANDS.contains(&op.as_str()) {
        let outcome = if matches!(value, Value::Error(_)) {
            "failed"
        } else {
            "ok"
        };
        metrics.request("resp", &op, outcome, started.elapsed());
    }
    value
}

/// Run one command.
pub async fn execute(driver: &DriverHandle, args: &[Vec<u8>]) -> Value {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let arity_ok = match name.as_str() {
        "PING" => args.len() <= 2,
        "GET" | "VGET" => args.len() == 2,
        "SET" | "VDEL" => args.len() == 3,
        "VSET" => args.len() == 4,
        "DEL" | "EXISTS" | "MGET" => args.len() >= 2,
        _ => true,
    };
    if !arity_ok {
        return Value::error(format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_lowercase()
        ));
    }
    let result = match name.as_str() {
        "PING" => Ok(args
            .get(1)
            .map_or(Value::Simple("PONG".into()), |m| Value::bulk(m.clone()))),
        "QUIT" => Ok(Value::Simple("OK".into())),
        "COMMAND" | "CONFIG" => Ok(Value::Array(Vec::new())),
        "SELECT" if args.get(1).is_some_and(|db| db == b"0") => Ok(Value::Simple("OK".into())),
        "INFO" => info(driver).await,
        "GET" => get(driver, &args[1]).await.map(plain_value),
        "MGET" => mget(driver, &args[1..]).await,
        "EXISTS" => exists(driver, &args[1..]).await,
        "SET" => set(driver, &args[1], Content::Value(args[2].clone()))
            .await
            .map(|_| Value::Simple("OK".into())),
        "DEL" => del(driver, &args[1..]).await,
        "VGET" => get(driver, &args[1]).await.map(versioned),
        "VSET" => vput(driver, &args[1], &args[2], Content::Value(args[3].clone())).await,
        "VDEL" => vput(driver, &args[1], &args[2], Content::Tombstone).await,
        _ => Err(format!(
            "ERR unknown command '{}'",
            String::from_utf8_lossy(&args[0])
        )),
    };
    result.unwrap_or_else(Value::Error)
}

async fn run(driver: &DriverHandle, command: Command) -> Result<Reply, String> {
    match driver
        .request(command)
        .await
        .map_err(|e| format!("ERR {e}"))?
    {
        Reply::Failed(failure) => Err(format!("ERR {failure}")),
        reply => Ok(reply),
    }
}

async fn get(driver: &DriverHandle, key: &[u8]) -> Result<Siblings, String> {
    match run(
        driver,
        Command::Get {
            key: key.to_vec(),
            quorum: Quorum::default(),
        },
    )
    .await?
    {
        Reply::Got { siblings } => Ok(siblings),
        other => Err(format!("ERR unexpected reply {other:?}")),
    }
}

async fn put(
    driver: &DriverHandle,
    key: &[u8],
    context: VersionVector,
    content: Content,
) -> Result<VersionVector, String> {
    match run(
        driver,
        Command::Put {
            key: key.to_vec(),
            context,
            content,
            quorum: Quorum::default(),
        },
    )
    .await?
    {
        Reply::Put { context, .. } => Ok(context),
        other => Err(format!("ERR unexpected reply {other:?}")),
    }
}

/// Read-modify-write: supersede every version a read quorum sees. One request: the
/// coordinator reads, then writes with the read's context (`Command::Set`).
async fn set(driver: &DriverHandle, key: &[u8], content: Content) -> Result<VersionVector, String> {
    let command = Command::Set {
        key: key.to_vec(),
        content,
        quorum: Quorum::default(),
    };
    match run(driver, command).await? {
        Reply::Put { context, .. } => Ok(context),
        other => Err(format!("ERR unexpected reply {other:?}")),
    }
}

fn live_values(siblings: &Siblings) -> Vec<&[u8]> {
    siblings.values().collect()
}

/// The value plain `GET` shows: siblings are sorted by dot, so the last live one is
/// the same choice on every node.
fn plain_value(siblings: Siblings) -> Value {
    match live_values(&siblings).last() {
        None => Value::Bulk(None),
        Some(value) => Value::bulk(value.to_vec()),
    }
}

fn versioned(siblings: Siblings) -> Value {
    let context = Context::new(siblings.clock().clone()).to_text();
    let values = siblings
        .iter()
        .map(|sibling| match &sibling.content {
            Content::Value(bytes) => Value::bulk(bytes.clone()),
            Content::Tombstone => Value::Bulk(None),
        })
        .collect();
    Value::Array(vec![Value::bulk(context), Value::Array(values)])
}

async fn vput(
    driver: &DriverHandle,
    key: &[u8],
    context: &[u8],
    content: Content,
) -> Result<Value, String> {
    let context = if context.is_empty() {
        VersionVector::new()
    } else {
        let text =
            std::str::from_utf8(context).map_err(|_| "ERR bad context: not text".to_string())?;
        Context::from_text(text)
            .map_err(|e| format!("ERR bad context: {e}"))?
            .into_clock()
    };
    let next = put(driver, key, context, content).await?;
    Ok(Value::bulk(Context::new(next).to_text()))
}

async fn mget(driver: &DriverHandle, keys: &[Vec<u8>]) -> Result<Value, String> {
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        values.push(
            get(driver, key)
                .await
                .map(plain_value)
                .unwrap_or_else(Value::Error),
        );
    }
    Ok(Value::Array(values))
}

async fn exists(driver: &DriverHandle, keys: &[Vec<u8>]) -> Result<Value, String> {
    let mut count = 0;
    for key in keys {
        count += i64::from(!live_values(&get(driver, key).await?).is_empty());
    }
    Ok(Value::Integer(count))
}

async fn del(driver: &DriverHandle, keys: &[Vec<u8>]) -> Result<Value, String> {
    let mut deleted = 0;
    for key in keys {
        let seen = get(driver, key).await?;
        if !live_values(&seen).is_empty() {
            put(driver, key, seen.clock().clone(), Content::Tombstone).await?;
            deleted += 1;
        }
    }
    Ok(Value::Integer(deleted))
}

async fn info(driver: &DriverHandle) -> Result<Value, String> {
    let stats = driver.stats().await.map_err(|e| format!("ERR {e}"))?;
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
        assert!(matches!(
            parse(b"*1\r\n+OK\r\n"),
            Err(ParseError::Protocol(_))
        ));
        assert!(matches!(parse(b"*x\r\n"), Err(ParseError::Protocol(_))));
        assert!(matches!(
            parse(b"*1\r\n$3\r\nabcXY"),
            Err(ParseError::Protocol(_))
        ));
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
}
