//! The command table: every command the RESP port runs, with its arity, key
//! positions and flags as `COMMAND` reports them (Redis 7's layout), and every Redis
//! command it refuses on purpose, with the reason.
//!
//! Invariant: the dispatcher (`mod.rs`) runs exactly the commands of [`COMMANDS`];
//! arity is checked here, before dispatch, so a handler may index its arguments.

/// What a command touches, for authorization and for pipelining.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Connection state and server information: no key, runs alone in a pipeline.
    Connection,
    /// Reads keys.
    Read,
    /// Writes keys (refused to a `readonly` user).
    Write,
}

/// One supported command.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    /// Redis's convention: `n` exactly n arguments (the name included), `-n` at least n.
    pub arity: i64,
    pub kind: Kind,
    pub first_key: i64,
    /// `-1`: the last argument.
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub summary: &'static str,
}

impl Spec {
    pub fn arity_ok(&self, count: usize) -> bool {
        let count = count as i64;
        match self.arity {
            n if n >= 0 => count == n,
            n => count >= -n,
        }
    }

    pub fn flags(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Connection => &["noscript", "loading", "stale", "fast"],
            Kind::Read => &["readonly", "fast"],
            Kind::Write => &["write", "denyoom"],
        }
    }
}

const fn spec(
    name: &'static str,
    arity: i64,
    kind: Kind,
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        kind,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group,
        summary,
    }
}

const NO_KEYS: (i64, i64, i64) = (0, 0, 0);
const ONE_KEY: (i64, i64, i64) = (1, 1, 1);
const ALL_KEYS: (i64, i64, i64) = (1, -1, 1);

/// Every command the port runs.
pub const COMMANDS: &[Spec] = &[
    spec(
        "PING",
        -1,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Returns PONG, or the message.",
    ),
    spec(
        "ECHO",
        2,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Returns the message.",
    ),
    spec(
        "HELLO",
        -1,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Sets the protocol (2 or 3), authenticates, names the connection.",
    ),
    spec(
        "AUTH",
        -2,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Authenticates the connection.",
    ),
    spec(
        "CLIENT",
        -2,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "SETNAME, GETNAME, SETINFO, ID, INFO, LIST (this connection).",
    ),
    spec(
        "SELECT",
        2,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Database 0 is the only one.",
    ),
    spec(
        "QUIT",
        -1,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Closes the connection.",
    ),
    spec(
        "RESET",
        1,
        Kind::Connection,
        NO_KEYS,
        "connection",
        "Resets the connection: RESP2, no name, not authenticated.",
    ),
    spec(
        "COMMAND",
        -1,
        Kind::Connection,
        NO_KEYS,
        "server",
        "The command table: COMMAND, COMMAND COUNT, COMMAND DOCS, COMMAND INFO, COMMAND LIST.",
    ),
    spec(
        "INFO",
        -1,
        Kind::Connection,
        NO_KEYS,
        "server",
        "Server information and counters.",
    ),
    spec(
        "CONFIG",
        -2,
        Kind::Connection,
        NO_KEYS,
        "server",
        "CONFIG GET answers no parameter (tools probe it).",
    ),
    spec(
        "GET",
        2,
        Kind::Read,
        ONE_KEY,
        "string",
        "One value (of the siblings, the one with the greatest dot), or nil.",
    ),
    spec(
        "MGET",
        -2,
        Kind::Read,
        ALL_KEYS,
        "string",
        "GET of each key.",
    ),
    spec(
        "EXISTS",
        -2,
        Kind::Read,
        ALL_KEYS,
        "keyspace",
        "How many of the keys hold a live value (a key given twice counts twice).",
    ),
    spec(
        "STRLEN",
        2,
        Kind::Read,
        ONE_KEY,
        "string",
        "The length of the value GET returns, 0 for none.",
    ),
    spec(
        "TYPE",
        2,
        Kind::Read,
        ONE_KEY,
        "keyspace",
        "string, or none.",
    ),
    spec(
        "VGET",
        2,
        Kind::Read,
        ONE_KEY,
        "dynamo",
        "[context, [every sibling; nil is a tombstone]].",
    ),
    spec(
        "SET",
        -3,
        Kind::Write,
        ONE_KEY,
        "string",
        "Writes over every version a read quorum sees.",
    ),
    spec(
        "MSET",
        -3,
        Kind::Write,
        (1, -1, 2),
        "string",
        "SET of each pair (each key on its own; not atomic).",
    ),
    spec(
        "DEL",
        -2,
        Kind::Write,
        ALL_KEYS,
        "keyspace",
        "Deletes each key; how many held a live value.",
    ),
    spec(
        "GETDEL",
        2,
        Kind::Write,
        ONE_KEY,
        "string",
        "GET, then a delete of the versions read.",
    ),
    spec(
        "APPEND",
        3,
        Kind::Write,
        ONE_KEY,
        "string",
        "Appends to the value GET returns, over the versions read; the new length.",
    ),
    spec(
        "VSET",
        4,
        Kind::Write,
        ONE_KEY,
        "dynamo",
        "Writes over what the context covers (\"\": a blind write); the new context.",
    ),
    spec(
        "VDEL",
        3,
        Kind::Write,
        ONE_KEY,
        "dynamo",
        "A tombstone over what the context covers; the new context.",
    ),
    // Convergent data types (docs/datatypes.md), run by `datatypes.rs`.
    spec(
        "INCR",
        2,
        Kind::Write,
        ONE_KEY,
        "string",
        "Adds 1 to a counter (a convergent PN-counter); the value read after.",
    ),
    spec(
        "INCRBY",
        3,
        Kind::Write,
        ONE_KEY,
        "string",
        "Adds an amount to a counter; the value read after.",
    ),
    spec(
        "DECR",
        2,
        Kind::Write,
        ONE_KEY,
        "string",
        "Takes 1 from a counter; the value read after.",
    ),
    spec(
        "DECRBY",
        3,
        Kind::Write,
        ONE_KEY,
        "string",
        "Takes an amount from a counter; the value read after.",
    ),
    spec(
        "SADD",
        -3,
        Kind::Write,
        ONE_KEY,
        "set",
        "Adds members to an add-wins set; how many were not there.",
    ),
    spec(
        "SREM",
        -3,
        Kind::Write,
        ONE_KEY,
        "set",
        "Removes the members this node has seen; how many were there.",
    ),
    spec(
        "SMEMBERS",
        2,
        Kind::Read,
        ONE_KEY,
        "set",
        "The members of a set.",
    ),
    spec(
        "SISMEMBER",
        3,
        Kind::Read,
        ONE_KEY,
        "set",
        "1 if the member is in the set, else 0.",
    ),
    spec(
        "SCARD",
        2,
        Kind::Read,
        ONE_KEY,
        "set",
        "How many members a set has.",
    ),
    spec(
        "HSET",
        -4,
        Kind::Write,
        ONE_KEY,
        "hash",
        "Sets fields of a hash (registers); how many were new.",
    ),
    spec(
        "HGET",
        3,
        Kind::Read,
        ONE_KEY,
        "hash",
        "The value of a hash field, or nil.",
    ),
    spec(
        "HDEL",
        -3,
        Kind::Write,
        ONE_KEY,
        "hash",
        "Removes fields of a hash; how many were there.",
    ),
    spec(
        "HGETALL",
        2,
        Kind::Read,
        ONE_KEY,
        "hash",
        "Every field and value of a hash.",
    ),
    spec(
        "HINCRBY",
        4,
        Kind::Write,
        ONE_KEY,
        "hash",
        "Adds an amount to a counter field of a hash; the value read after.",
    ),
    spec(
        "HLEN",
        2,
        Kind::Read,
        ONE_KEY,
        "hash",
        "How many fields a hash has.",
    ),
];

/// The spec of `name` (uppercase).
pub fn lookup(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|spec| spec.name == name)
}

pub const NO_TRANSACTIONS: &str =
    "dynamo is always-writeable and has no transactions; use VGET/VSET contexts";
const NO_SCRIPTS: &str = "dynamo runs no server-side scripts";
const NO_PUBSUB: &str = "dynamo has no pub/sub";
const NO_BLOCKING: &str = "dynamo has no blocking commands (a replica set has no single queue)";
const NO_COUNTERS: &str = "dynamo has no atomic read-modify-write (concurrent writes become siblings); read with VGET and write back with VSET";
const STRINGS_ONLY: &str =
    "dynamo stores strings, counters, sets and hashes only (docs/datatypes.md)";
const NO_CLUSTER: &str =
    "dynamo is not Redis Cluster: every node serves every key, connect to any node";
const NO_REPLICATION: &str = "dynamo replicates by quorum (N, R, W), not by Redis replication";

/// Why a Redis command is refused on purpose (uppercase name), or `None` if unknown.
pub fn unsupported(name: &str) -> Option<&'static str> {
    let reason = match name {
        "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH" => NO_TRANSACTIONS,
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "SCRIPT" | "FUNCTION" | "FCALL"
        | "FCALL_RO" => NO_SCRIPTS,
        "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "SSUBSCRIBE"
        | "SUNSUBSCRIBE" | "PUBLISH" | "SPUBLISH" | "PUBSUB" => NO_PUBSUB,
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX"
        | "BZMPOP" | "XREAD" | "XREADGROUP" | "WAIT" | "WAITAOF" => NO_BLOCKING,
        "INCRBYFLOAT" | "SETNX" | "GETSET" | "SETRANGE" | "MSETNX" | "GETEX" => NO_COUNTERS,
        "LPUSH" | "RPUSH" | "LPOP" | "RPOP" | "LRANGE" | "LLEN" | "HMSET" | "HMGET" | "ZADD"
        | "ZREM" | "ZRANGE" | "ZCARD" | "XADD" | "XRANGE" | "XLEN" => STRINGS_ONLY,
        "CLUSTER" | "READONLY" | "READWRITE" | "ASKING" => NO_CLUSTER,
        "REPLICAOF" | "SLAVEOF" | "SYNC" | "PSYNC" | "MONITOR" | "FAILOVER" => NO_REPLICATION,
        _ => return None,
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        for (index, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert!(unsupported(spec.name).is_none(), "{} both ways", spec.name);
            let repeated = COMMANDS[..index].iter().any(|s| s.name == spec.name);
            assert!(!repeated, "{} twice", spec.name);
            let keyed = spec.kind != Kind::Connection;
            assert_eq!(keyed, spec.first_key == 1, "{}", spec.name);
        }
        let get = lookup("GET").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
        let del = lookup("DEL").unwrap();
        assert!(del.arity_ok(2) && del.arity_ok(9) && !del.arity_ok(1));
        assert!(unsupported("MULTI").unwrap().contains("no transactions"));
    }
}
