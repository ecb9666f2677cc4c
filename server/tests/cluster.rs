//! Real `dynamo serve` processes on loopback: replication across nodes, siblings
//! through the versioned commands, sloppy quorum with a killed node and hinted
//! handoff when it returns, durability across a restart, bad input on both ports.

use dynamo_server::resp::{call, Value};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Ports are per test (tests run in parallel), on 127.0.0.1.
struct Cluster {
    base: u16,
    dir: tempfile::TempDir,
    nodes: Vec<Option<Child>>,
}

impl Cluster {
    fn start(base: u16, size: u16) -> Cluster {
        let mut cluster = Cluster {
            base,
            dir: tempfile::tempdir().unwrap(),
            nodes: Vec::new(),
        };
        for id in 1..=size {
            cluster.nodes.push(None);
            cluster.spawn(id);
        }
        for id in 1..=size {
            cluster.wait_ready(id);
        }
        cluster.wait_healthy();
        cluster
    }

    /// Nodes that just started may have lost their first messages to peers that were
    /// not listening yet, and route around them until a probe answers: wait until
    /// every node coordinates a quorum write.
    fn wait_healthy(&self) {
        for id in 1..=self.nodes.len() as u16 {
            let key = format!("ready-{id}");
            eventually("a quorum write through every node", || {
                run(&self.client(id), &[b"SET", key.as_bytes(), b"1"]) == Value::Simple("OK".into())
            });
        }
    }

    fn client(&self, id: u16) -> String {
        format!("127.0.0.1:{}", self.base + id)
    }

    fn spawn(&mut self, id: u16) {
        let size = self.nodes.len() as u16;
        let data: PathBuf = self.dir.path().join(format!("n{id}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynamo"));
        command
            .args(["serve", "--id", &id.to_string(), "--data-dir"])
            .arg(&data)
            .args(["--client-listen", &self.client(id)])
            .args([
                "--peer-listen",
                &format!("127.0.0.1:{}", self.base + 100 + id),
            ])
            .args(["--cluster", "test", "--partitions", "16"])
            .env("DYNAMO_SECRET", "test-secret")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for member in 1..=size {
            command.args([
                "--member",
                &format!("{member}=127.0.0.1:{}", self.base + 100 + member),
            ]);
        }
        self.nodes[usize::from(id - 1)] = Some(command.spawn().expect("start dynamo serve"));
    }

    fn wait_ready(&self, id: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.client(id)).is_err() {
            assert!(Instant::now() < deadline, "n{id} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self, id: u16) {
        if let Some(mut child) = self.nodes[usize::from(id - 1)].take() {
            child.kill().unwrap(); // SIGKILL: no clean shutdown
            child.wait().unwrap();
        }
    }

    fn restart(&mut self, id: u16) {
        self.spawn(id);
        self.wait_ready(id);
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() as u16 {
            self.kill(id);
        }
    }
}

fn run(address: &str, args: &[&[u8]]) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(call(address, args)).expect("a reply")
}

/// Retry until `check` holds (replication and handoff are asynchronous), bounded.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bulk(value: &[u8]) -> Value {
    Value::Bulk(Some(value.to_vec()))
}

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
