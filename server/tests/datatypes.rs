//! Convergent data types through the RESP port (`docs/datatypes.md`), against real
//! `dynamo serve` processes: counters, add-wins sets and hashes answer as Redis does
//! on one node, a command on a key of another type answers `WRONGTYPE`, and updates
//! made on both sides of a partition all survive the heal.

mod support;

use dynamo_server::resp::Value;
use support::{bulk, single_node, Connection};

fn error_text(value: &Value) -> &str {
    match value {
        Value::Error(text) => text,
        other => panic!("an error, not {other:?}"),
    }
}

fn members(value: Value) -> Vec<Vec<u8>> {
    let Value::Array(items) = value else {
        panic!("an array, not {value:?}")
    };
    let mut members: Vec<Vec<u8>> = items
        .into_iter()
        .map(|item| match item {
            Value::Bulk(Some(bytes)) => bytes,
            other => panic!("a bulk string, not {other:?}"),
        })
        .collect();
    members.sort();
    members
}

fn strings(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn counters_count_as_redis_counts() {
    let cluster = single_node(18000, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(conn.cmd(&["INCR", "c"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["INCRBY", "c", "41"]), Value::Integer(42));
    assert_eq!(conn.cmd(&["DECR", "c"]), Value::Integer(41));
    assert_eq!(conn.cmd(&["DECRBY", "c", "50"]), Value::Integer(-9));
    assert_eq!(conn.cmd(&["GET", "c"]), bulk(b"-9"));
    assert_eq!(conn.cmd(&["TYPE", "c"]), Value::Simple("string".into()));
    assert_eq!(conn.cmd(&["EXISTS", "c"]), Value::Integer(1));
    let bad = conn.cmd(&["INCRBY", "c", "lots"]);
    assert!(error_text(&bad).contains("not an integer"), "{bad:?}");
    let max = i64::MAX.to_string();
    let over = conn.cmd(&["INCRBY", "c", &max]);
    assert_eq!(conn.cmd(&["INCRBY", "big", &max]), Value::Integer(i64::MAX));
    let over_big = conn.cmd(&["INCR", "big"]);
    assert!(error_text(&over_big).contains("overflow"), "{over_big:?}");
    assert_eq!(over, Value::Integer(i64::MAX - 9));
    assert_eq!(conn.cmd(&["GET", "big"]), bulk(max.as_bytes()), "unchanged");
    // DEL removes a counter; the next INCR starts again from 0.
    assert_eq!(conn.cmd(&["DEL", "c"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["GET", "c"]), Value::Bulk(None));
    assert_eq!(conn.cmd(&["INCR", "c"]), Value::Integer(1));
}

#[test]
fn sets_answer_as_redis_sets() {
    let cluster = single_node(18200, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(conn.cmd(&["SADD", "s", "a", "b", "a"]), Value::Integer(2));
    assert_eq!(conn.cmd(&["SADD", "s", "b", "c"]), Value::Integer(1));
    assert_eq!(
        members(conn.cmd(&["SMEMBERS", "s"])),
        strings(&["a", "b", "c"])
    );
    assert_eq!(conn.cmd(&["SISMEMBER", "s", "b"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["SISMEMBER", "s", "z"]), Value::Integer(0));
    assert_eq!(conn.cmd(&["SREM", "s", "b", "z"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["SCARD", "s"]), Value::Integer(2));
    assert_eq!(conn.cmd(&["TYPE", "s"]), Value::Simple("set".into()));
    assert_eq!(conn.cmd(&["SREM", "s", "a", "c"]), Value::Integer(2));
    // An emptied set is no key, as in Redis.
    assert_eq!(conn.cmd(&["EXISTS", "s"]), Value::Integer(0));
    assert_eq!(conn.cmd(&["TYPE", "s"]), Value::Simple("none".into()));
    assert_eq!(conn.cmd(&["SMEMBERS", "nothing"]), Value::Array(Vec::new()));
    assert_eq!(conn.cmd(&["SCARD", "nothing"]), Value::Integer(0));
}

#[test]
fn hashes_answer_as_redis_hashes() {
    let cluster = single_node(18400, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(
        conn.cmd(&["HSET", "h", "f", "1", "g", "x"]),
        Value::Integer(2)
    );
    assert_eq!(conn.cmd(&["HSET", "h", "g", "y"]), Value::Integer(0));
    assert_eq!(conn.cmd(&["HGET", "h", "g"]), bulk(b"y"));
    assert_eq!(conn.cmd(&["HGET", "h", "none"]), Value::Bulk(None));
    assert_eq!(conn.cmd(&["HINCRBY", "h", "n", "5"]), Value::Integer(5));
    assert_eq!(conn.cmd(&["HINCRBY", "h", "n", "-7"]), Value::Integer(-2));
    let text = conn.cmd(&["HINCRBY", "h", "g", "1"]);
    assert!(error_text(&text).contains("not an integer"), "{text:?}");
    assert_eq!(conn.cmd(&["HLEN", "h"]), Value::Integer(3));
    let all = conn.cmd(&["HGETALL", "h"]);
    let flat = strings(&["f", "1", "g", "y", "n", "-2"]);
    let Value::Array(items) = all else {
        panic!("RESP2 HGETALL is a flat array: {all:?}")
    };
    let items: Vec<Vec<u8>> = items
        .into_iter()
        .map(|v| match v {
            Value::Bulk(Some(b)) => b,
            other => panic!("{other:?}"),
        })
        .collect();
    let pairs = |flat: &[Vec<u8>]| {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = flat
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        pairs.sort();
        pairs
    };
    assert_eq!(pairs(&items), pairs(&flat));
    assert_eq!(conn.cmd(&["HDEL", "h", "f", "nope"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["HLEN", "h"]), Value::Integer(2));
    assert_eq!(conn.cmd(&["TYPE", "h"]), Value::Simple("hash".into()));
    let odd = conn.cmd(&["HSET", "h", "f", "1", "g"]);
    assert!(error_text(&odd).contains("wrong number"), "{odd:?}");
}

#[test]
fn a_command_on_a_key_of_another_type_answers_wrongtype() {
    let cluster = single_node(18600, &[]);
    let mut conn = Connection::open(&cluster.client(1));
    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(conn.cmd(&["SADD", "s", "a"]), Value::Integer(1));
    assert_eq!(conn.cmd(&["SET", "str", "v"]), Value::Simple("OK".into()));
    assert_eq!(conn.cmd(&["HSET", "h", "f", "v"]), Value::Integer(1));
    let wrong = [
        vec!["GET", "s"],
        vec!["STRLEN", "s"],
        vec!["INCR", "s"],
        vec!["HGET", "s", "f"],
        vec!["SADD", "str", "a"],
        vec!["SMEMBERS", "str"],
        vec!["INCR", "str"],
        vec!["HSET", "str", "f", "v"],
        vec!["GET", "h"],
        vec!["SREM", "h", "f"],
    ];
    for command in wrong {
        let reply = conn.cmd(&command);
        assert_eq!(error_text(&reply), WRONGTYPE, "{command:?}");
    }
    // Nothing changed, and MGET shows nil for a key of another type as Redis does.
    assert_eq!(members(conn.cmd(&["SMEMBERS", "s"])), strings(&["a"]));
    assert_eq!(conn.cmd(&["GET", "str"]), bulk(b"v"));
    let mget = conn.cmd(&["MGET", "str", "s"]);
    assert_eq!(mget, Value::Array(vec![bulk(b"v"), Value::Bulk(None)]));
    // SET replaces a key of any type, as in Redis.
    assert_eq!(
        conn.cmd(&["SET", "s", "now a string"]),
        Value::Simple("OK".into())
    );
    assert_eq!(conn.cmd(&["GET", "s"]), bulk(b"now a string"));
}
