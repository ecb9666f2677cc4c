//! The RESP port as a Redis 7 client sees it, against a real `dynamo serve`: the
//! connection commands (`HELLO` and RESP3, `CLIENT`, `SELECT`, `COMMAND`, `INFO`,
//! `RESET`, `QUIT`), the commands refused on purpose, the multi-key commands, and the
//! limits (reply bytes, max clients) answered as Redis answers them.

mod support;

use dynamo_server::resp::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{bulk, single_node, Connection};

fn simple(text: &str) -> Value {
    Value::Simple(text.into())
}

fn error_text(value: &Value) -> &str {
    match value {
        Value::Error(text) => text,
        other => panic!("an error, not {other:?}"),
    }
}

fn map_field<'a>(map: &'a Value, name: &str) -> &'a Value {
    let Value::Map(pairs) = map else {
        panic!("a map, not {map:?}")
    };
    let found = pairs.iter().find(|(key, _)| *key == bulk(name.as_bytes()));
    &found.unwrap_or_else(|| panic!("{name} in {map:?}")).1
}

#[test]
fn hello_switches_the_connection_to_resp3_and_back() {
    let cluster = single_node(15000, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(
        conn.cmd(&["GET", "missing"]),
        Value::Bulk(None),
        "RESP2 nil"
    );
    let hello = conn.cmd(&["HELLO", "3", "SETNAME", "tester"]);
    assert_eq!(map_field(&hello, "proto"), &Value::Integer(3));
    assert_eq!(map_field(&hello, "server"), &bulk(b"redis"));
    let Value::Integer(id) = map_field(&hello, "id").clone() else {
        panic!("an id")
    };
    assert_eq!(conn.cmd(&["GET", "missing"]), Value::Null, "RESP3 null `_`");
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), bulk(b"tester"));
    assert_eq!(conn.cmd(&["CLIENT", "ID"]), Value::Integer(id));
    let docs = conn.cmd(&["COMMAND", "DOCS", "get"]);
    let summary = map_field(map_field(&docs, "get"), "summary");
    assert!(matches!(summary, Value::Bulk(Some(_))), "{docs:?}");
    let hello = conn.cmd(&["HELLO", "2"]);
    assert!(
        matches!(hello, Value::Array(ref items) if items.len() == 14),
        "{hello:?}"
    );
    assert_eq!(conn.cmd(&["GET", "missing"]), Value::Bulk(None));
    let refused = conn.cmd(&["HELLO", "4"]);
    assert_eq!(error_text(&refused), "NOPROTO unsupported protocol version");
    client_and_server_commands(&mut conn, id);
    assert_eq!(conn.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Value::Bulk(None));
    assert_eq!(conn.cmd(&["QUIT"]), simple("OK"));
    assert_eq!(conn.try_reply(), None, "QUIT closes the connection");
}

/// CLIENT, SELECT, ECHO, PING, COMMAND and INFO as a Redis client's handshake and
/// tools use them.
fn client_and_server_commands(conn: &mut Connection, id: i64) {
    // Connection commands keep a Redis client's handshake working.
    assert_eq!(
        conn.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
        simple("OK")
    );
    assert_eq!(
        conn.cmd(&["CLIENT", "SETINFO", "LIB-VER", "6.0.0"]),
        simple("OK")
    );
    let Value::Bulk(Some(info)) = conn.cmd(&["CLIENT", "INFO"]) else {
        panic!("CLIENT INFO is text")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(info.contains(&format!("id={id} ")), "{info}");
    assert!(info.contains(" name=tester "), "{info}");
    assert!(
        info.contains("lib-name=redis-py lib-ver=6.0.0 resp=2"),
        "{info}"
    );
    assert_eq!(conn.cmd(&["SELECT", "0"]), simple("OK"));
    assert!(error_text(&conn.cmd(&["SELECT", "1"])).contains("out of range"));
    assert_eq!(conn.cmd(&["ECHO", "hi"]), bulk(b"hi"));
    assert_eq!(conn.cmd(&["PING", "hi"]), bulk(b"hi"));
    assert_eq!(conn.cmd(&["PING"]), simple("PONG"));
    let Value::Integer(count) = conn.cmd(&["COMMAND", "COUNT"]) else {
        panic!("COMMAND COUNT")
    };
    let Value::Array(table) = conn.cmd(&["COMMAND"]) else {
        panic!("COMMAND")
    };
    assert_eq!(table.len() as i64, count);
    let Value::Bulk(Some(server)) = conn.cmd(&["INFO", "server"]) else {
        panic!("INFO")
    };
    let server = String::from_utf8(server).unwrap();
    assert!(
        server.contains("redis_version:7.") && !server.contains("# Stats"),
        "{server}"
    );
}

#[test]
fn unsupported_and_unknown_commands_say_why_in_bounded_text() {
    let cluster = single_node(15200, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    // MULTI is accepted only so that nothing queued runs and EXEC aborts.
    assert_eq!(conn.cmd(&["MULTI"]), simple("OK"));
    let queued = conn.cmd(&["SET", "tx", "1"]);
    assert!(
        error_text(&queued).contains("no transactions; use VGET/VSET"),
        "{queued:?}"
    );
    let exec = conn.cmd(&["EXEC"]);
    assert!(error_text(&exec).starts_with("EXECABORT"), "{exec:?}");
    assert_eq!(
        conn.cmd(&["GET", "tx"]),
        Value::Bulk(None),
        "nothing queued ran"
    );
    let watch = conn.cmd(&["WATCH", "tx"]);
    assert!(error_text(&watch).contains("no transactions"), "{watch:?}");
    for (command, why) in [
        ("EVAL", "scripts"),
        ("SUBSCRIBE", "pub/sub"),
        ("BLPOP", "blocking"),
        ("INCRBYFLOAT", "read-modify-write"),
    ] {
        let reply = conn.cmd(&[command, "x", "0"]);
        assert!(error_text(&reply).contains(why), "{command}: {reply:?}");
    }
    let huge = vec![b'z'; 100 * 1024];
    let reply = conn.run(&[&huge, b"arg"]);
    let text = error_text(&reply);
    assert!(text.starts_with("ERR unknown command 'zzz"), "{text}");
    assert!(
        text.len() < 400,
        "a 100 KB name comes back cut: {} bytes",
        text.len()
    );
    assert_eq!(
        conn.cmd(&["PING"]),
        simple("PONG"),
        "the connection still serves"
    );
}

#[test]
fn multi_key_and_string_commands_follow_redis() {
    let cluster = single_node(15400, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(
        conn.cmd(&["MSET", "a", "1", "b", "22", "a", "111"]),
        simple("OK")
    );
    let got = conn.cmd(&["MGET", "a", "b", "nothing"]);
    assert_eq!(
        got,
        Value::Array(vec![bulk(b"111"), bulk(b"22"), Value::Bulk(None)])
    );
    assert_eq!(
        conn.cmd(&["EXISTS", "a", "a", "b", "nothing"]),
        Value::Integer(3)
    );
    assert_eq!(conn.cmd(&["STRLEN", "b"]), Value::Integer(2));
    assert_eq!(conn.cmd(&["STRLEN", "nothing"]), Value::Integer(0));
    assert_eq!(conn.cmd(&["TYPE", "a"]), simple("string"));
    assert_eq!(conn.cmd(&["TYPE", "nothing"]), simple("none"));
    assert_eq!(conn.cmd(&["APPEND", "b", "33"]), Value::Integer(4));
    assert_eq!(conn.cmd(&["APPEND", "new", "x"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["GET", "b"]), bulk(b"2233"));
    assert_eq!(conn.cmd(&["GETDEL", "b"]), bulk(b"2233"));
    assert_eq!(conn.cmd(&["GETDEL", "b"]), Value::Bulk(None));
    assert_eq!(conn.cmd(&["DEL", "a", "a", "b", "new"]), Value::Integer(2));
    assert_eq!(conn.cmd(&["EXISTS", "a", "new"]), Value::Integer(0));
    let odd = conn.cmd(&["MSET", "a", "1", "b"]);
    assert!(
        error_text(&odd).contains("wrong number of arguments"),
        "{odd:?}"
    );
    let option = conn.cmd(&["SET", "a", "1", "NX"]);
    assert!(error_text(&option).contains("not supported"), "{option:?}");
}

/// `MGET` of many large values used to build an unbounded reply (1024 keys of 1 MiB:
/// a GiB per connection): past REPLY_BYTES_MAX it answers an error instead.
#[test]
fn a_reply_past_the_byte_bound_is_an_error_and_the_connection_lives() {
    let cluster = single_node(15600, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    let value = vec![b'v'; dynamo_core::types::limits::VALUE_BYTES_MAX];
    let keys: Vec<String> = (0..66).map(|i| format!("big{i}")).collect();
    for key in &keys {
        conn.send(&[b"SET", key.as_bytes(), &value]);
    }
    for key in &keys {
        assert_eq!(conn.reply(), simple("OK"), "{key}");
    }
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys.iter().map(|k| k.as_bytes()));
    let reply = conn.run(&mget);
    assert!(
        error_text(&reply).starts_with("ERR reply too large"),
        "{reply:?}"
    );
    let Value::Array(few) = conn.run(&mget[..11]) else {
        panic!("an MGET of 10 large values is served")
    };
    assert_eq!(few.len(), 10);
    assert_eq!(conn.cmd(&["PING"]), simple("PONG"));
}

/// Past max-clients a new client is told at once, as Redis tells it, instead of
/// waiting unanswered in the accept queue; a freed slot serves again.
#[test]
fn past_max_clients_a_new_client_is_refused_at_once() {
    let cluster = single_node(15800, &["--max-clients", "4"]);
    let mut held: Vec<Connection> = (0..4)
        .map(|_| Connection::open(&cluster.client(1)))
        .collect();
    for conn in &mut held {
        assert_eq!(conn.cmd(&["PING"]), simple("PONG"));
    }
    let started = Instant::now();
    let mut extra = Connection::open(&cluster.client(1));
    let refused = extra.try_reply().expect("an error line, then the close");
    assert_eq!(refused, Value::error("ERR max number of clients reached"));
    assert_eq!(extra.try_reply(), None, "closed after the error");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held.pop());
    support::eventually("a freed slot serves a new client", || {
        let mut conn = Connection::open(&cluster.client(1));
        conn.try_reply_to(&["PING"]) == Some(simple("PONG"))
    });
}

/// `redis-cli --pipe` ends with an `ECHO` of a random marker and waits for it: without
/// ECHO it waited 30 s and failed; now a mass insert finishes promptly.
#[test]
fn redis_cli_pipe_mass_insert_finishes_promptly() {
    let cluster = single_node(16000, &[]);
    let port = (16000 + 1).to_string();
    let mut input = Vec::new();
    for i in 0..2000 {
        let (key, value) = (format!("mass{i}"), format!("value{i}"));
        input.extend(dynamo_server::resp::encode_command(&[
            b"SET",
            key.as_bytes(),
            value.as_bytes(),
        ]));
    }
    let started = Instant::now();
    let mut child = Command::new("redis-cli")
        .args(["-p", &port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli is installed (scripts/test.sh)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{report} {output:?}");
    assert!(report.contains("errors: 0, replies: 2000"), "{report}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(conn.cmd(&["GET", "mass1999"]), bulk(b"value1999"));
}
