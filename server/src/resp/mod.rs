//! The Redis-protocol client port, so `redis-cli`, `redis-benchmark` and Redis client
//! libraries (redis-py, node-redis, ioredis, redis-rs...) work against dynamo with their
//! default options. `docs/clients.md` lists the commands and what they mean on an
//! eventually consistent store.
//!
//! Plain commands keep Redis meanings where Dynamo allows: `SET` reads the key's
//! context first and writes over every version it saw (read-modify-write, so a `SET`
//! after a `SET` supersedes, while truly concurrent `SET`s through different nodes
//! become siblings, e.g. under `redis-benchmark`); `GET` returns the value when there
//! is one live version, nil when there is none, and when concurrent versions exist,
//! one of them chosen the same way on every node (the sibling with the greatest dot),
//! because Redis clients expect one value. Nothing is lost by that choice: every
//! sibling stays stored until a write supersedes it, and `VGET` shows them all. The
//! versioned commands expose Dynamo's interface (§4.1):
//! - `VGET key` -> `[context, [value | nil(tombstone), ...]]`;
//! - `VSET key context value` -> the new context (context `""` is a blind write);
//! - `VDEL key context` -> the new context.
//!
//! Layout: [`codec`] (values, RESP2/RESP3, parsers), [`table`] (the command table and
//! the commands refused on purpose), [`session`] (connection commands: `HELLO`,
//! `AUTH`, `CLIENT`, `INFO`...), [`commands`] (key commands, through the KV service),
//! [`datatypes`] (counters, sets and hashes: `docs/datatypes.md`).
//!
//! Invariants:
//! - requests on one connection are answered in order (pipelining works; pipelined
//!   key commands on distinct keys run concurrently, see [`PIPELINE_CONCURRENCY_MAX`]);
//!   connection commands run alone, so a reply's protocol is the session's after it;
//! - with users configured, only `AUTH`, `HELLO`, `QUIT`, `RESET` and `PING` run before
//!   a connection authenticates (`-NOAUTH`); a `readonly` user's writes are refused
//!   (`-NOPERM`);
//! - dynamo runs no transaction: `MULTI` is answered OK, every command queued after
//!   it is refused and not run, and `EXEC` aborts (`EXECABORT`), as Redis does with a
//!   transaction one of whose commands failed to queue;
//! - memory per connection is bounded: a request is at most [`REQUEST_BYTES_MAX`], a
//!   reply at most [`REPLY_BYTES_MAX`], and replies are written out once
//!   [`FLUSH_BYTES`] are pending;
//! - at most `max_clients` connections are served; one more is answered
//!   `-ERR max number of clients reached` and closed at once, as Redis does, rather
//!   than left unanswered in the accept queue;
//! - a started request must be complete within [`PARTIAL_REQUEST_TIMEOUT`], and an
//!   idle connection is closed after [`IDLE_TIMEOUT`].

pub mod codec;
pub mod commands;
pub mod datatypes;
pub mod session;
pub mod table;

pub use codec::{
    call, encode_command, parse, parse_value, read_reply, ParseError, Parsed, Protocol, Value,
    ARGS_MAX, DEPTH_MAX, REPLY_BYTES_MAX, REQUEST_BYTES_MAX,
};

use crate::auth::Users;
use crate::service::{KvService, ServiceError};
use crate::tls::TlsConfig;
use dynamo_core::crdt::CrdtError;
use dynamo_core::version::VersionError;
use session::Session;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use table::Kind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Client connections served at once by default (Redis's `maxclients` is 10000; a
/// connection here holds up to a request and a reply in memory).
pub const CONNECTIONS_MAX: usize = 1024;
/// Connections being refused at once at most (past `max_clients`); more are dropped
/// without the error line.
const REFUSING_MAX: usize = 64;
/// A request whose first bytes arrived must be complete within this.
pub const PARTIAL_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A connection with no request in progress is closed after this.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// Pending reply bytes written out before the next command runs.
pub const FLUSH_BYTES: usize = 1024 * 1024;
/// Commands of one pipeline run at once at most (each holds a driver request).
pub const PIPELINE_CONCURRENCY_MAX: usize = 64;
/// An unknown command's name and arguments are quoted up to this many characters.
const QUOTE_CHARS_MAX: usize = 128;

/// How the port serves: who may connect, how many, over what.
#[derive(Clone, Debug)]
pub struct RespConfig {
    pub max_clients: usize,
    pub users: Arc<Users>,
    /// TLS on this port (then plain connections fail).
    pub tls: Option<TlsConfig>,
}

impl Default for RespConfig {
    fn default() -> Self {
        RespConfig {
            max_clients: CONNECTIONS_MAX,
            users: Arc::new(Users::open()),
            tls: None,
        }
    }
}

/// What every connection of the port shares.
#[derive(Debug)]
pub struct Shared {
    pub service: KvService,
    pub users: Arc<Users>,
    pub next_id: AtomicU64,
    pub connected: AtomicUsize,
    pub max_clients: usize,
}

/// Accept client connections until the listener fails.
pub async fn serve(listener: TcpListener, service: KvService, config: RespConfig) {
    let shared = Arc::new(Shared {
        service,
        users: config.users.clone(),
        next_id: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        max_clients: config.max_clients,
    });
    let slots = Arc::new(Semaphore::new(config.max_clients));
    let refusing = Arc::new(Semaphore::new(REFUSING_MAX));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accepting a client connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let tls = config.tls.clone();
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let _refusal = refusal;
                    refuse(stream, tls).await;
                });
            }
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let local = stream
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            // The handshake holds the slot: stalled handshakes count as clients.
            let Some(stream) = crate::tls::accept(stream, tls.as_ref()).await else {
                return;
            };
            shared.connected.fetch_add(1, Ordering::Relaxed);
            let session = Session::new(&shared, peer.to_string(), local);
            if let Err(error) = connection(stream, &shared, session).await {
                tracing::debug!(%error, "client connection closed");
            }
            shared.connected.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Answer a connection past `max_clients` as Redis does, then close it.
async fn refuse(stream: tokio::net::TcpStream, tls: Option<TlsConfig>) {
    let limit = std::time::Duration::from_secs(2);
    let _ = tokio::time::timeout(limit, async {
        let mut stream = crate::tls::accept(stream, tls.as_ref()).await?;
        let refusal = b"-ERR max number of clients reached\r\n";
        stream.write_all(refusal).await.ok()?;
        stream.shutdown().await.ok()
    })
    .await;
}

/// One connection's stream and its pending replies.
struct Conn<'a, S> {
    stream: S,
    shared: &'a Shared,
    session: Session,
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<'_, S> {
    /// Encode `reply` in the session's protocol; write pending replies out once they
    /// pass FLUSH_BYTES. A reply past REPLY_BYTES_MAX is replaced by an error.
    async fn emit(&mut self, reply: Value) -> std::io::Result<()> {
        let reply = match reply.encoded_len() > REPLY_BYTES_MAX {
            true => CommandError::ReplyTooLarge {
                max: REPLY_BYTES_MAX,
            }
            .reply(),
            false => reply,
        };
        reply.encode_as(self.session.protocol, &mut self.out);
        if self.out.len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    shared: &Shared,
    session: Session,
) -> std::io::Result<()> {
    let mut conn = Conn {
        stream,
        shared,
        session,
        out: Vec::new(),
    };
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let (commands, ending) = parse_pipeline(&mut buffer);
        run_pipeline(&mut conn, commands).await?;
        match ending {
            Ending::More => {}
            Ending::Quit => return conn.flush().await,
            Ending::Malformed(error) => {
                conn.emit(Value::error(format!("ERR {error}"))).await?;
                return conn.flush().await;
            }
        }
        conn.flush().await?;
        // Slow-loris defence: a started request must arrive whole within
        // PARTIAL_REQUEST_TIMEOUT; an idle connection is closed after IDLE_TIMEOUT, so
        // stalled clients cannot hold the max_clients slots forever.
        let limit = match buffer.is_empty() {
            true => IDLE_TIMEOUT,
            false => PARTIAL_REQUEST_TIMEOUT,
        };
        let read = match tokio::time::timeout(limit, conn.stream.read(&mut chunk)).await {
            Ok(read) => read?,
            Err(_) => {
                let text = format!("ERR no complete request within {} s", limit.as_secs());
                conn.emit(Value::error(text)).await?;
                return conn.flush().await;
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

/// How one command of a pipeline runs.
enum Step {
    /// Answered without running (refused, unknown, wrong arity).
    Refused(CommandError),
    /// A connection command: alone, with the session.
    Session,
    /// A key command on these keys: in a wave with commands on other keys.
    Keys(Vec<Vec<u8>>),
    /// A key command run alone (`MGET`: its reply may be large, so one at a time).
    Alone,
}

/// Decide how `args` runs for this session: authentication, authorization, arity.
fn plan(session: &Session, name: &str, args: &[Vec<u8>]) -> Step {
    let Some(identity) = &session.identity else {
        let before_auth = ["AUTH", "HELLO", "QUIT", "RESET", "PING"];
        return match before_auth.contains(&name) {
            true => plan_known(name, args),
            false => Step::Refused(CommandError::NoAuth),
        };
    };
    let step = plan_known(name, args);
    let writes = table::lookup(name).is_some_and(|spec| spec.kind == Kind::Write);
    if writes && !identity.role.may_write() {
        let (user, command) = (identity.name.clone(), name.to_lowercase());
        return Step::Refused(CommandError::NoPerm { user, command });
    }
    step
}

fn plan_known(name: &str, args: &[Vec<u8>]) -> Step {
    let Some(spec) = table::lookup(name) else {
        return Step::Refused(match table::unsupported(name) {
            Some(reason) => CommandError::Unsupported {
                name: name.to_string(),
                reason,
            },
            None => CommandError::unknown(args),
        });
    };
    if !spec.arity_ok(args.len()) {
        return Step::Refused(CommandError::Arity(name.to_lowercase()));
    }
    match (spec.kind, name) {
        (Kind::Connection, _) => Step::Session,
        (_, "MGET") => Step::Alone,
        _ => {
            let last = match spec.last_key {
                -1 => args.len() - 1,
                last => last as usize,
            };
            let keys = (spec.first_key as usize..=last).step_by(spec.step as usize);
            Step::Keys(keys.map(|at| args[at].clone()).collect())
        }
    }
}

/// `MULTI`, `EXEC`, `DISCARD`, and every command inside a `MULTI`: the reply, or
/// `None` for a command outside a transaction. dynamo runs no transaction, but it
/// answers `MULTI` with OK and refuses each queued command (not run) so that `EXEC`
/// aborts exactly as Redis aborts a transaction whose command failed to queue: every
/// client then reports the failure and none applies part of a transaction (redis-rs's
/// connection task panics on an erroring MULTI).
fn transaction_step(session: &mut Session, name: &str) -> Option<Value> {
    let reply = match (session.in_multi, name) {
        (false, "MULTI") => {
            session.in_multi = true;
            Value::ok()
        }
        (false, "EXEC") => CommandError::WithoutMulti("EXEC").reply(),
        (false, "DISCARD") => CommandError::WithoutMulti("DISCARD").reply(),
        (false, _) => return None,
        (true, "EXEC") => {
            session.in_multi = false;
            CommandError::ExecAbort.reply()
        }
        (true, "DISCARD") => {
            session.in_multi = false;
            Value::ok()
        }
        (true, "MULTI") => Value::error("ERR MULTI calls can not be nested"),
        (true, "QUIT" | "RESET") => return None,
        (true, _) => CommandError::Queued.reply(),
    };
    Some(reply)
}

/// Run a pipeline's commands and emit their replies, in order.
///
/// Pipelined key commands run concurrently in waves: a wave grows while its commands
/// touch keys no earlier command of the wave touches, so every key sees its commands
/// one after the other, in the order sent (a pipelined `SET k` then `GET k` reads the
/// write), while commands on different keys share the round trips. Connection
/// commands (`PING`, `HELLO`, `INFO`...) run alone, between waves.
async fn run_pipeline<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    commands: Vec<Vec<Vec<u8>>>,
) -> std::io::Result<()> {
    let mut wave: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    let mut touched: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
    for args in commands {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        conn.session.last_command = std::time::Instant::now();
        let authenticated = conn.session.identity.is_some();
        let refused = authenticated.then(|| transaction_step(&mut conn.session, &name));
        if let Some(Some(reply)) = refused {
            run_wave(conn, std::mem::take(&mut wave)).await?;
            touched.clear();
            conn.emit(reply).await?;
            continue;
        }
        let step = plan(&conn.session, &name, &args);
        if let Step::Keys(keys) = &step {
            let fits = keys.iter().all(|key| !touched.contains(key));
            if fits && wave.len() < PIPELINE_CONCURRENCY_MAX {
                touched.extend(keys.iter().cloned());
                wave.push((name, args));
                continue;
            }
        }
        run_wave(conn, std::mem::take(&mut wave)).await?;
        touched.clear();
        match step {
            Step::Refused(error) => conn.emit(error.reply()).await?,
            Step::Session => {
                let reply = session::run(conn.shared, &mut conn.session, &name, &args).await;
                conn.emit(reply.unwrap_or_else(|e| e.reply())).await?;
            }
            Step::Alone => {
                let reply = commands::run(&conn.shared.service, &name, &args).await;
                conn.emit(reply.unwrap_or_else(|e| e.reply())).await?;
            }
            Step::Keys(keys) => {
                touched.extend(keys);
                wave.push((name, args));
            }
        }
    }
    run_wave(conn, wave).await
}

/// Run key commands concurrently; emit their replies in the order given.
async fn run_wave<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    wave: Vec<(String, Vec<Vec<u8>>)>,
) -> std::io::Result<()> {
    if let [(name, args)] = wave.as_slice() {
        let reply = commands::run(&conn.shared.service, name, args).await;
        return conn.emit(reply.unwrap_or_else(|e| e.reply())).await;
    }
    let mut replies: Vec<Option<Value>> = wave.iter().map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    for (index, (name, args)) in wave.into_iter().enumerate() {
        let service = conn.shared.service.clone();
        running.spawn(async move {
            let reply = commands::run(&service, &name, &args).await;
            (index, reply.unwrap_or_else(|e| e.reply()))
        });
    }
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, reply)) => replies[index] = Some(reply),
            Err(error) => tracing::error!(%error, "a pipelined command's task failed"),
        }
    }
    // Every command gets its reply in its place, or the client's pipeline shifts.
    for reply in replies {
        let failed = || Value::error("ERR internal error running the command");
        conn.emit(reply.unwrap_or_else(failed)).await?;
    }
    Ok(())
}

/// Why a command failed: the service's failures, and what this port refuses itself.
/// Errors with a Redis code of their own (`NOAUTH`, `WRONGPASS`, `NOPERM`, `NOPROTO`)
/// keep Redis's exact text, which clients match on.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The name and the start of the arguments, each cut to `QUOTE_CHARS_MAX`.
    #[error("unknown command '{0}', with args beginning with: {1}")]
    Unknown(String, String),
    #[error("wrong number of arguments for '{0}' command")]
    Arity(String),
    #[error("{name} is not supported: {reason}")]
    Unsupported { name: String, reason: &'static str },
    #[error("SET option '{0}' is not supported (SET key value only)")]
    SetOption(String),
    #[error("reply too large: more than {max} bytes; ask for fewer keys at once")]
    ReplyTooLarge { max: usize },
    /// Redis's own text for a malformed connection command.
    #[error("{0}")]
    Syntax(String),
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")]
    HelloNoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("NOPERM User {user} has no permissions to run the '{command}' command")]
    NoPerm { user: String, command: String },
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    #[error("{why} (not run: inside MULTI; EXEC will abort)", why = table::NO_TRANSACTIONS)]
    Queued,
    #[error("{0} without MULTI ({why})", why = table::NO_TRANSACTIONS)]
    WithoutMulti(&'static str),
    #[error("EXECABORT Transaction discarded because of previous errors.")]
    ExecAbort,
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
}

impl CommandError {
    /// The one mapping of failures to RESP: a Redis code's own text, or Redis's
    /// generic `ERR` code, then the message (for a service failure, the `error` text
    /// HTTP answers with).
    pub fn reply(&self) -> Value {
        match self {
            CommandError::NoAuth
            | CommandError::HelloNoAuth
            | CommandError::WrongPass
            | CommandError::NoPerm { .. }
            | CommandError::NoProto
            | CommandError::ExecAbort
            | CommandError::WrongType => Value::Error(self.to_string()),
            // The coordinator refused a data-type write on a key of another type.
            CommandError::Service(ServiceError::Refused(VersionError::Typed(
                CrdtError::WrongType { .. },
            ))) => Value::Error(CommandError::WrongType.to_string()),
            _ => Value::Error(format!("ERR {self}")),
        }
    }

    /// An unknown command, quoted as Redis 7 does but bounded: the name cut to
    /// `QUOTE_CHARS_MAX` characters, then arguments while the quote is shorter.
    fn unknown(args: &[Vec<u8>]) -> Self {
        let quoted = |bytes: &[u8], max: usize| -> String {
            String::from_utf8_lossy(bytes).chars().take(max).collect()
        };
        let name = quoted(&args[0], QUOTE_CHARS_MAX);
        let mut rest = String::new();
        for arg in &args[1..] {
            let room = QUOTE_CHARS_MAX.saturating_sub(rest.chars().count());
            if room == 0 {
                break;
            }
            rest.push_str(&format!("'{}' ", quoted(arg, room)));
        }
        CommandError::Unknown(name, rest)
    }
}

#[cfg(test)]
mod tests;
