//! Real `dynamo serve` processes on loopback: replication across nodes, siblings
//! through the versioned commands, sloppy quorum with a killed node and hinted
//! handoff when it returns, durability across a restart, bad input on both ports.

mod support;

use dynamo_server::resp::Value;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use support::{bulk, eventually, run, Cluster};

#[test]
fn set_on_one_node_is_read_on_another_and_survives_a_restart() {
    let mut cluster = Cluster::start(21000, 3);
    assert_eq!(
        run(&cluster.client(1), &[b"SET", b"cart", b"book"]),
        Value::Simple("OK".into())
    );
    assert_eq!(run(&cluster.client(3), &[b"GET", b"cart"]), bulk(b"book"));
    assert_eq!(
        run(&cluster.client(2), &[b"EXISTS", b"cart", b"nothing"]),
        Value::Integer(1)
    );
    assert_eq!(
        run(&cluster.client(2), &[b"SET", b"cart", b"pen"]),
        Value::Simple("OK".into())
    );
    assert_eq!(
        run(&cluster.client(1), &[b"GET", b"cart"]),
        bulk(b"pen"),
        "a SET supersedes what it read"
    );
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster.wait_healthy();
    eventually("the acknowledged value after restarting every node", || {
        run(&cluster.client(2), &[b"GET", b"cart"]) == bulk(b"pen")
    });
    assert!(cluster.data_dir().join("n1").exists());
    assert_eq!(
        run(&cluster.client(1), &[b"DEL", b"cart"]),
        Value::Integer(1)
    );
    assert_eq!(
        run(&cluster.client(3), &[b"GET", b"cart"]),
        Value::Bulk(None)
    );
    // DEL counts the keys that held a live value: a deleted, a missing and a key with
    // two siblings (one delete supersedes both).
    run(&cluster.client(1), &[b"SET", b"apple", b"1"]);
    run(&cluster.client(1), &[b"VSET", b"twins", b"", b"left"]);
    run(&cluster.client(2), &[b"VSET", b"twins", b"", b"right"]);
    let keys: [&[u8]; 5] = [b"DEL", b"apple", b"cart", b"nothing", b"twins"];
    assert_eq!(run(&cluster.client(2), &keys), Value::Integer(2));
    assert_eq!(run(&cluster.client(3), &keys), Value::Integer(0));
    assert_eq!(
        run(&cluster.client(1), &[b"EXISTS", b"apple", b"twins"]),
        Value::Integer(0)
    );
}

#[test]
fn concurrent_writes_become_siblings_and_a_merged_write_resolves_them() {
    let cluster = Cluster::start(21200, 3);
    // Blind writes (empty context) through two coordinators are concurrent (§4.4).
    run(&cluster.client(1), &[b"VSET", b"k", b"", b"left"]);
    run(&cluster.client(2), &[b"VSET", b"k", b"", b"right"]);
    let Value::Array(reply) = run(&cluster.client(3), &[b"VGET", b"k"]) else {
        panic!("VGET returns an array")
    };
    let [Value::Bulk(Some(context)), Value::Array(values)] = reply.as_slice() else {
        panic!("{reply:?}")
    };
    assert_eq!(values.len(), 2, "two siblings: {values:?}");
    // Plain GET shows one sibling, the same on every node; the other stays stored.
    let shown = run(&cluster.client(3), &[b"GET", b"k"]);
    assert!(
        shown == bulk(b"left") || shown == bulk(b"right"),
        "{shown:?}"
    );
    assert_eq!(run(&cluster.client(1), &[b"GET", b"k"]), shown);
    run(&cluster.client(3), &[b"VSET", b"k", context, b"merged"]);
    assert_eq!(run(&cluster.client(1), &[b"GET", b"k"]), bulk(b"merged"));
    let bad = run(&cluster.client(1), &[b"VSET", b"k", b"garbage!", b"x"]);
    assert!(
        matches!(bad, Value::Error(ref e) if e.starts_with("ERR bad context")),
        "{bad:?}"
    );
}

/// Sum of an INFO counter over the given nodes.
fn info_counter(cluster: &Cluster, nodes: &[u16], name: &str) -> u64 {
    let mut total = 0;
    for id in nodes {
        let Value::Bulk(Some(text)) = run(&cluster.client(*id), &[b"INFO"]) else {
            panic!("INFO returns text")
        };
        let text = String::from_utf8(text).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .expect("counter present");
        total += line.trim().parse::<u64>().unwrap();
    }
    total
}

#[test]
fn writes_succeed_with_a_node_killed_and_reach_it_when_it_returns() {
    // Four nodes, N=3: keys homed on the killed node go to a fallback with a hint (§4.6).
    let mut cluster = Cluster::start(21400, 4);
    cluster.kill(4);
    // The first writes reach W from the live homes; once the silent node times out
    // it is suspected and later writes of its keys go to a fallback with a hint.
    eventually("a write goes to a fallback with a hint", || {
        for i in 0..12u8 {
            assert_eq!(
                run(&cluster.client(1), &[b"SET", &[b'h', i], b"v"]),
                Value::Simple("OK".into()),
                "W=2 holds with one node down"
            );
        }
        info_counter(&cluster, &[1, 2, 3], "hints_stored") > 0
    });
    cluster.restart(4);
    eventually("the hints are handed off to the returning node", || {
        info_counter(&cluster, &[1, 2, 3], "hints_delivered") > 0
    });
    for i in 0..12u8 {
        let key = [b'h', i];
        eventually("n4 serves the write made while it was down", || {
            run(&cluster.client(4), &[b"GET", &key]) == bulk(b"v")
        });
    }
}

#[test]
fn garbage_on_the_client_and_peer_ports_is_refused_and_the_node_keeps_serving() {
    let cluster = Cluster::start(21600, 3);
    run(&cluster.client(1), &[b"SET", b"safe", b"1"]);
    let mut client = TcpStream::connect(cluster.client(1)).unwrap();
    client.write_all(b"*1\r\n$99999999999\r\n").unwrap();
    let mut peer = TcpStream::connect("127.0.0.1:21701").unwrap();
    peer.write_all(&[0xff; 64]).unwrap(); // a huge frame length, no handshake
    let mut unauthenticated = TcpStream::connect("127.0.0.1:21702").unwrap();
    unauthenticated.write_all(&[0, 0, 0, 3, 1, 2, 3]).unwrap();
    drop((client, peer, unauthenticated));
    let unknown = run(&cluster.client(1), &[b"FLUSHALL"]);
    assert!(
        matches!(unknown, Value::Error(ref e) if e.starts_with("ERR unknown command")),
        "{unknown:?}"
    );
    let arity = run(&cluster.client(1), &[b"GET"]);
    assert!(
        matches!(arity, Value::Error(ref e) if e.contains("wrong number of arguments")),
        "{arity:?}"
    );
    assert_eq!(run(&cluster.client(2), &[b"GET", b"safe"]), bulk(b"1"));
}

/// The real Redis tools (Debian's redis-tools, installed by scripts/test.sh) work.
#[test]
fn redis_cli_and_redis_benchmark_work_against_a_node() {
    let _cluster = Cluster::start(21800, 3); // alive until the end of the test
    let port = (21800 + 1).to_string();
    let cli = |args: &[&str]| {
        let output = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .expect("redis-cli is installed (scripts/test.sh)");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    assert_eq!(cli(&["ping"]), "PONG");
    assert_eq!(cli(&["set", "greeting", "hello"]), "OK");
    assert_eq!(cli(&["get", "greeting"]), "hello");
    assert_eq!(cli(&["exists", "greeting"]), "1");
    assert!(cli(&["info"]).contains("redis_version"));
    let bench = Command::new("redis-benchmark")
        .args(["-p", &port, "-t", "set,get", "-n", "2000", "-c", "10", "-q"])
        .output()
        .expect("redis-benchmark is installed (scripts/test.sh)");
    let report = String::from_utf8_lossy(&bench.stdout).to_string()
        + &String::from_utf8_lossy(&bench.stderr);
    assert!(bench.status.success(), "{report}");
    assert!(
        report.contains("SET:") && report.contains("GET:"),
        "{report}"
    );
    assert!(!report.to_lowercase().contains("error"), "{report}");
    assert_eq!(
        cli(&["get", "greeting"]),
        "hello",
        "the node still serves after the load"
    );
}

#[test]
fn sigterm_under_load_exits_cleanly_and_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start(23200, 3);
    let address = cluster.client(1);
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        // Bounded: stops at the first refused connection, or after 5000 writes.
        for i in 0..5_000 {
            let key = format!("load-{i}");
            let reply = support::block_on(dynamo_server::resp::call(
                &address,
                &[b"SET", key.as_bytes(), key.as_bytes()],
            ));
            match reply {
                Ok(Value::Simple(ok)) if ok == "OK" => acked.push(key),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        acked
    });
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = cluster.terminate(1);
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    let acked = writer.join().unwrap();
    assert!(!acked.is_empty(), "the writer ran before the shutdown");
    cluster.restart(1);
    cluster.wait_healthy();
    for key in &acked {
        let read = run(&cluster.client(1), &[b"GET", key.as_bytes()]);
        assert_eq!(read, bulk(key.as_bytes()), "acknowledged {key} survives");
    }
}

#[test]
fn bad_input_at_every_door_loses_nothing_and_a_slow_loris_is_cut_off() {
    use std::io::Read;
    let cluster = Cluster::start(23400, 3);
    run(&cluster.client(1), &[b"SET", b"kept", b"1"]);
    // A slow-loris client starts a request and stalls.
    let mut slow = TcpStream::connect(cluster.client(1)).unwrap();
    slow.write_all(b"*2\r\n$3\r\nGET\r\n").unwrap();
    // Peer port: a truncated frame, then a huge length; HTTP port: not HTTP at all,
    // then a request claiming a body far beyond the limit.
    let mut truncated = TcpStream::connect("127.0.0.1:23501").unwrap();
    truncated.write_all(&[0, 0, 0, 100, 2, 1, 2]).unwrap();
    drop(truncated);
    let mut huge = TcpStream::connect("127.0.0.1:23502").unwrap();
    huge.write_all(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
    let mut http = TcpStream::connect(cluster.http(1)).unwrap();
    http.write_all(b"\x00\x01GARBAGE\r\n\r\n").unwrap();
    let mut big = TcpStream::connect(cluster.http(2)).unwrap();
    big.write_all(b"PUT /v1/kv/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 99999999999\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    big.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = big.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Every node still serves, and what was written is still there.
    for id in 1..=3 {
        assert_eq!(run(&cluster.client(id), &[b"GET", b"kept"]), bulk(b"1"));
    }
    // The stalled request is cut off with an error within the partial-request limit.
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut reply = String::new();
    let _ = slow.read_to_string(&mut reply);
    assert!(reply.contains("no complete request"), "{reply:?}");
    drop((huge, http));
}

/// Pipelined commands run concurrently when their keys differ; each key still sees
/// its commands in the order sent, and every reply comes back in its place.
#[test]
fn pipelined_commands_are_answered_in_order_and_read_earlier_writes() {
    let cluster = Cluster::start(23600, 3);
    let mut request = Vec::new();
    let mut expected = Vec::new();
    let command = |args: &[&[u8]], request: &mut Vec<u8>| {
        request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
    };
    for round in 0..30 {
        for key in 0..8 {
            let (key, value) = (format!("p{key}"), format!("v{round}-{key}"));
            command(&[b"SET", key.as_bytes(), value.as_bytes()], &mut request);
            expected.push(Value::Simple("OK".into()));
            command(&[b"GET", key.as_bytes()], &mut request);
            expected.push(bulk(value.as_bytes()));
        }
        command(&[b"PING"], &mut request);
        expected.push(Value::Simple("PONG".into()));
        command(&[b"EXISTS", b"p0", b"nothing"], &mut request);
        expected.push(Value::Integer(1));
    }
    let mut stream = TcpStream::connect(cluster.client(1)).expect("connect");
    stream.write_all(&request).expect("send the pipeline");
    let replies = read_replies(&mut stream, expected.len());
    for (index, (reply, expected)) in replies.iter().zip(&expected).enumerate() {
        assert_eq!(reply, expected, "reply {index} of the pipeline");
    }
    for key in 0..8 {
        let key = format!("p{key}");
        let last = format!("v29-{}", &key[1..]);
        let read = run(&cluster.client(3), &[b"GET", key.as_bytes()]);
        assert_eq!(read, bulk(last.as_bytes()), "{key} through another node");
    }
}

fn read_replies(stream: &mut TcpStream, count: usize) -> Vec<Value> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let (mut buffer, mut replies, mut chunk) = (Vec::new(), Vec::new(), vec![0u8; 64 * 1024]);
    while replies.len() < count {
        match dynamo_server::resp::parse_value(&buffer).expect("valid RESP") {
            Some((value, used)) => {
                buffer.drain(..used);
                replies.push(value);
            }
            None => {
                let read = stream.read(&mut chunk).expect("a reply within 30 s");
                assert!(read > 0, "closed after {} replies", replies.len());
                buffer.extend_from_slice(&chunk[..read]);
            }
        }
    }
    replies
}

/// A node whose storage stops syncing (a failing disk) acknowledges nothing it could
/// not make durable, stops, and exits non-zero for its supervisor to see, instead of
/// lingering and failing every request; what it acknowledged before is still there.
#[test]
fn a_node_whose_storage_fails_exits_non_zero_and_keeps_what_it_acknowledged() {
    let quorums = ["-R", "1", "-W", "1"];
    let mut cluster = Cluster::start_with_args(23800, 1, 16, 1, &quorums);
    cluster.kill(1);
    cluster
        .extra_args
        .extend(["--fail-syncs-after", "40"].map(String::from));
    cluster.restart(1);
    let mut acknowledged = Vec::new();
    for index in 0..200 {
        let key = format!("disk-{index}");
        let reply = support::block_on(dynamo_server::resp::call(
            &cluster.client(1),
            &[b"SET", key.as_bytes(), b"v"],
        ));
        match reply {
            Ok(Value::Simple(ok)) if ok == "OK" => acknowledged.push(key),
            _ => break,
        }
    }
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 200,
        "{} acknowledged",
        acknowledged.len()
    );
    let status = cluster.wait_exit(1, std::time::Duration::from_secs(20));
    assert!(!status.success(), "exit status {status}");
    let log = std::env::temp_dir().join("dynamo-test-23800-n1.log");
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert!(log.contains("stopped serving"), "the log says why: {log}");
    cluster.extra_args.truncate(quorums.len());
    cluster.restart(1);
    for key in &acknowledged {
        let read = run(&cluster.client(1), &[b"GET", key.as_bytes()]);
        assert_eq!(
            read,
            bulk(b"v"),
            "{key} was acknowledged before the failure"
        );
    }
}

/// A data directory written by a version on the old engine (redb, `data.redb`) is not
/// silently ignored: the node refuses to start beside it and says why.
#[test]
fn a_node_refuses_a_data_directory_of_the_old_engine() {
    let mut cluster = Cluster::start_with_args(24200, 1, 16, 1, &["-R", "1", "-W", "1"]);
    cluster.kill(1);
    let old = cluster.data_dir().join("n1").join("data.redb");
    std::fs::write(&old, b"a store of an older dynamo").unwrap();
    cluster.spawn(1);
    let status = cluster.wait_exit(1, std::time::Duration::from_secs(20));
    assert!(!status.success(), "exit status {status}");
    let log = std::env::temp_dir().join("dynamo-test-24200-n1.log");
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert!(log.contains("holds a store of an older dynamo"), "{log}");
    assert_eq!(std::fs::read(&old).unwrap(), b"a store of an older dynamo");
    std::fs::remove_file(&old).unwrap();
    cluster.spawn(1);
    cluster.wait_ready(1);
}
