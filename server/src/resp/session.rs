//! Connection commands, answered as Redis 7 answers them: `HELLO`, `AUTH`, `CLIENT`,
//! `SELECT`, `ECHO`, `PING`, `COMMAND`, `INFO`, `CONFIG GET`, `RESET`, `QUIT`.
//!
//! Invariants: only these commands change a [`Session`], and they run alone in a
//! pipeline (never concurrently with another command of the connection), so a reply
//! is always encoded in the protocol the session has after its command (`HELLO 3` is
//! itself answered in RESP3). A failed `AUTH` or `HELLO` changes nothing.

use super::table::{self, Kind, Spec, COMMANDS};
use super::{CommandError, Protocol, Shared, Value};
use crate::auth::{Identity, DEFAULT_USER};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The Redis version dynamo answers as: clients enable features by it, and dynamo
/// speaks Redis 7.2's connection protocol (`HELLO`, RESP3, `CLIENT SETINFO`).
pub const REDIS_VERSION: &str = "7.2.0";
/// Client names and library attributes are at most this long.
const NAME_BYTES_MAX: usize = 256;

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub peer: String,
    pub local: String,
    pub protocol: Protocol,
    pub name: Option<String>,
    pub lib_name: Option<String>,
    pub lib_ver: Option<String>,
    /// Who the connection is; `None` until it authenticates (authentication on).
    pub identity: Option<Identity>,
    pub created: Instant,
    pub last_command: Instant,
    /// Inside a `MULTI` that dynamo will not run: commands are refused until `EXEC`
    /// (which aborts) or `DISCARD`.
    pub in_multi: bool,
}

impl Session {
    pub fn new(shared: &Shared, peer: String, local: String) -> Self {
        Session {
            id: shared.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            peer,
            local,
            protocol: Protocol::Resp2,
            name: None,
            lib_name: None,
            lib_ver: None,
            identity: (!shared.users.required()).then(Identity::open),
            created: Instant::now(),
            last_command: Instant::now(),
            in_multi: false,
        }
    }

    /// `RESET`: as a new connection, keeping its id.
    fn reset(&mut self, shared: &Shared) {
        self.protocol = Protocol::Resp2;
        self.name = None;
        self.in_multi = false;
        self.identity = (!shared.users.required()).then(Identity::open);
    }

    fn user(&self) -> &str {
        self.identity.as_ref().map_or(DEFAULT_USER, |who| &who.name)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn upper(bytes: &[u8]) -> String {
    text(bytes).to_ascii_uppercase()
}

/// Run connection command `name` (uppercase, arity already checked).
pub async fn run(
    shared: &Shared,
    session: &mut Session,
    name: &str,
    args: &[Vec<u8>],
) -> Result<Value, CommandError> {
    match name {
        "PING" => Ok(args
            .get(1)
            .map_or(Value::Simple("PONG".into()), |m| Value::bulk(m.clone()))),
        "ECHO" => Ok(Value::bulk(args[1].clone())),
        "QUIT" => Ok(Value::ok()),
        "RESET" => {
            session.reset(shared);
            Ok(Value::Simple("RESET".into()))
        }
        "SELECT" => select(&args[1]),
        "HELLO" => hello(shared, session, args),
        "AUTH" => auth(shared, session, &args[1..]),
        "CLIENT" => client(session, args),
        "COMMAND" => command(args),
        "INFO" => info(shared, args.get(1).map(|s| upper(s))).await,
        "CONFIG" if upper(&args[1]) == "GET" => Ok(Value::Map(Vec::new())),
        "CONFIG" => Err(CommandError::Unsupported {
            name: format!("CONFIG {}", upper(&args[1])),
            reason: "dynamo is configured by its TOML file and flags",
        }),
        _ => Err(CommandError::Unknown(name.to_string(), String::new())),
    }
}

fn select(db: &[u8]) -> Result<Value, CommandError> {
    match db {
        b"0" => Ok(Value::ok()),
        _ if text(db).parse::<i64>().is_err() => Err(CommandError::Syntax(
            "value is not an integer or out of range".into(),
        )),
        _ => Err(CommandError::Syntax(
            "DB index is out of range: dynamo has one keyspace, database 0".into(),
        )),
    }
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
fn hello(shared: &Shared, session: &mut Session, args: &[Vec<u8>]) -> Result<Value, CommandError> {
    let mut protocol = session.protocol;
    if let Some(version) = args.get(1) {
        protocol = match text(version).parse::<i64>() {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            Ok(_) => return Err(CommandError::NoProto),
            Err(_) => {
                let text = "Protocol version is not an integer or out of range";
                return Err(CommandError::Syntax(text.into()));
            }
        };
    }
    let (mut identity, mut name) = (session.identity.clone(), session.name.clone());
    let mut at = 2;
    while at < args.len() {
        match upper(&args[at]).as_str() {
            "AUTH" if at + 2 < args.len() => {
                let who = shared.users.check_password(&args[at + 1], &args[at + 2]);
                identity = Some(login(shared, &args[at + 1], who)?);
                at += 3;
            }
            "SETNAME" if at + 1 < args.len() => {
                name = Some(client_name(&args[at + 1])?);
                at += 2;
            }
            option => {
                let text = format!("Syntax error in HELLO option '{}'", cut(option, 128));
                return Err(CommandError::Syntax(text));
            }
        }
    }
    if identity.is_none() {
        return Err(CommandError::HelloNoAuth);
    }
    (session.protocol, session.identity, session.name) = (protocol, identity, name);
    Ok(Value::Map(vec![
        (Value::bulk("server"), Value::bulk("redis")),
        (Value::bulk("version"), Value::bulk(REDIS_VERSION)),
        (Value::bulk("proto"), Value::Integer(protocol.number())),
        (Value::bulk("id"), Value::Integer(session.id as i64)),
        (Value::bulk("mode"), Value::bulk("standalone")),
        (Value::bulk("role"), Value::bulk("master")),
        (Value::bulk("modules"), Value::Array(Vec::new())),
    ]))
}

/// The identity a credential check found, or Redis's refusal. With authentication
/// off, the `default` user accepts any password (Redis's `nopass` default user).
fn login(shared: &Shared, user: &[u8], found: Option<Identity>) -> Result<Identity, CommandError> {
    if !shared.users.required() && user == DEFAULT_USER.as_bytes() {
        return Ok(Identity::open());
    }
    found.ok_or(CommandError::WrongPass)
}

/// `AUTH password` (the `default` user) or `AUTH user password`.
fn auth(shared: &Shared, session: &mut Session, args: &[Vec<u8>]) -> Result<Value, CommandError> {
    let (user, password) = match args {
        [password] => {
            if !shared.users.has_default() {
                return Err(CommandError::Syntax("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into()));
            }
            (DEFAULT_USER.as_bytes(), password.as_slice())
        }
        [user, password] => (user.as_slice(), password.as_slice()),
        _ => return Err(CommandError::Syntax("syntax error".into())),
    };
    let found = shared.users.check_password(user, password);
    session.identity = Some(login(shared, user, found)?);
    Ok(Value::ok())
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A client name as Redis allows it: printable, no spaces.
fn client_name(name: &[u8]) -> Result<String, CommandError> {
    let bad = name.iter().any(|b| !(b'!'..=b'~').contains(b));
    if bad || name.len() > NAME_BYTES_MAX {
        let text = "Client names cannot contain spaces, newlines or special characters.";
        return Err(CommandError::Syntax(text.into()));
    }
    Ok(text(name))
}

/// `CLIENT SETNAME|GETNAME|SETINFO|ID|INFO|LIST`; `LIST` shows this connection only.
fn client(session: &mut Session, args: &[Vec<u8>]) -> Result<Value, CommandError> {
    let sub = upper(&args[1]);
    let arity = |ok: bool| match ok {
        true => Ok(()),
        false => Err(CommandError::Arity(format!(
            "client|{}",
            sub.to_lowercase()
        ))),
    };
    match sub.as_str() {
        "SETNAME" => {
            arity(args.len() == 3)?;
            let name = client_name(&args[2])?;
            session.name = Some(name).filter(|name| !name.is_empty());
            Ok(Value::ok())
        }
        "GETNAME" => {
            arity(args.len() == 2)?;
            Ok(Value::Bulk(session.name.clone().map(String::into_bytes)))
        }
        "SETINFO" => {
            arity(args.len() == 4)?;
            let value = client_name(&args[3])?;
            match upper(&args[2]).as_str() {
                "LIB-NAME" => session.lib_name = Some(value),
                "LIB-VER" => session.lib_ver = Some(value),
                other => {
                    let text = format!("Unrecognized option '{}'", cut(other, 128));
                    return Err(CommandError::Syntax(text));
                }
            }
            Ok(Value::ok())
        }
        "ID" => Ok(Value::Integer(session.id as i64)),
        "INFO" => Ok(Value::bulk(client_line(session))),
        "LIST" => Ok(Value::bulk(client_line(session))),
        other => Err(CommandError::Unsupported {
            name: format!("CLIENT {}", cut(other, 128)),
            reason: "dynamo answers CLIENT SETNAME, GETNAME, SETINFO, ID, INFO and LIST",
        }),
    }
}

/// `CLIENT INFO`'s line, with the fields clients parse.
fn client_line(session: &Session) -> String {
    format!(
        "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 user={} lib-name={} lib-ver={} resp={}\n",
        session.id,
        session.peer,
        session.local,
        session.name.as_deref().unwrap_or(""),
        session.created.elapsed().as_secs(),
        session.last_command.elapsed().as_secs(),
        session.user(),
        session.lib_name.as_deref().unwrap_or(""),
        session.lib_ver.as_deref().unwrap_or(""),
        session.protocol.number(),
    )
}

/// `COMMAND`, `COMMAND COUNT|LIST|INFO|DOCS`.
fn command(args: &[Vec<u8>]) -> Result<Value, CommandError> {
    let Some(sub) = args.get(1).map(|s| upper(s)) else {
        return Ok(Value::Array(COMMANDS.iter().map(command_info).collect()));
    };
    let named = || -> Vec<Option<&'static Spec>> {
        args[2..]
            .iter()
            .map(|name| table::lookup(&upper(name)))
            .collect()
    };
    match sub.as_str() {
        "COUNT" => Ok(Value::Integer(COMMANDS.len() as i64)),
        "LIST" => Ok(Value::Array(
            COMMANDS
                .iter()
                .map(|spec| Value::bulk(spec.name.to_lowercase()))
                .collect(),
        )),
        "INFO" => Ok(Value::Array(
            named()
                .into_iter()
                .map(|spec| spec.map_or(Value::Null, command_info))
                .collect(),
        )),
        "DOCS" => {
            let specs: Vec<&Spec> = match args.len() {
                2 => COMMANDS.iter().collect(),
                _ => named().into_iter().flatten().collect(),
            };
            let docs = specs.into_iter().map(|spec| {
                let doc = Value::Map(vec![
                    (Value::bulk("summary"), Value::bulk(spec.summary)),
                    (Value::bulk("since"), Value::bulk("1.0.0")),
                    (Value::bulk("group"), Value::bulk(spec.group)),
                ]);
                (Value::bulk(spec.name.to_lowercase()), doc)
            });
            Ok(Value::Map(docs.collect()))
        }
        other => Err(CommandError::Unsupported {
            name: format!("COMMAND {}", cut(other, 128)),
            reason: "dynamo answers COMMAND, COMMAND COUNT, LIST, INFO and DOCS",
        }),
    }
}

/// One command's entry in Redis 7's layout: name, arity, flags, first key, last key,
/// step, ACL categories, tips, key specs, subcommands.
fn command_info(spec: &Spec) -> Value {
    let simple = |text: &str| Value::Simple(text.into());
    let category = match spec.kind {
        Kind::Connection => "@connection",
        Kind::Read => "@read",
        Kind::Write => "@write",
    };
    Value::Array(vec![
        Value::bulk(spec.name.to_lowercase()),
        Value::Integer(spec.arity),
        Value::Array(spec.flags().iter().map(|flag| simple(flag)).collect()),
        Value::Integer(spec.first_key),
        Value::Integer(spec.last_key),
        Value::Integer(spec.step),
        Value::Array(vec![simple(category)]),
        Value::Array(Vec::new()),
        Value::Array(Vec::new()),
        Value::Array(Vec::new()),
    ])
}

/// `INFO [section]`: `server`, `clients`, `persistence`, `stats`, `replication`,
/// `keyspace`; none, `all`, `default` or `everything`: every one.
async fn info(shared: &Shared, section: Option<String>) -> Result<Value, CommandError> {
    let stats = shared.service.stats().await?;
    let sections = [
        (
            "SERVER",
            format!(
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\ndynamo_version:{}\r\narch_bits:64\r\n",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        (
            "CLIENTS",
            format!(
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
                shared.connected.load(Ordering::Relaxed),
                shared.max_clients
            ),
        ),
        ("PERSISTENCE", "# Persistence\r\nloading:0\r\n".to_string()),
        (
            "STATS",
            format!(
                "# Stats\r\ngets:{}\r\nputs:{}\r\nquorum_failures:{}\r\nread_repairs:{}\r\nhints_stored:{}\r\nhints_delivered:{}\r\nanti_entropy_keys_repaired:{}\r\n",
                stats.gets,
                stats.puts,
                stats.quorum_failures,
                stats.read_repairs,
                stats.hints_stored,
                stats.hints_delivered,
                stats.anti_entropy_keys_repaired
            ),
        ),
        (
            "REPLICATION",
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n".to_string(),
        ),
        ("KEYSPACE", "# Keyspace\r\n".to_string()),
    ];
    let every = matches!(
        section.as_deref(),
        None | Some("ALL" | "DEFAULT" | "EVERYTHING")
    );
    let chosen: Vec<String> = sections
        .into_iter()
        .filter(|(name, _)| every || section.as_deref() == Some(*name))
        .map(|(_, text)| text)
        .collect();
    Ok(Value::bulk(chosen.join("\r\n")))
}
