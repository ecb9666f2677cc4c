//! Convergent data types across a real network partition (issue 20's acceptance):
//! two `dynamo serve` processes (N=2, R=W=1, so each side of a cut keeps serving),
//! cut from each other with nftables, each updated from its own Redis client.
//! - `INCR c` five times on each side; after the heal `GET c` is 10 on both nodes.
//! - With `s = {a}` on both, cut: one side `SREM s a`, the other `SADD s a` and
//!   `SADD s b`; after the heal both answer `{a, b}` (the add wins).
//!
//! And the set and counter workload Jepsen ran against Riak, under crash, pause and
//! partition faults (`dynamo_tests::datatypes`), with a planted bug it must catch.
//!
//! Needs root for nftables, as the Jepsen tests do.

use dynamo_server::resp::{call, Value};
use dynamo_tests::datatypes;
use dynamo_tests::harness::{Cluster, Options};
use dynamo_tests::run::{Nemesis, Scenario};
use std::time::{Duration, Instant};

fn cluster(subnet: u8) -> Cluster {
    let options = Options {
        nodes: 2,
        subnet,
        partitions: 16,
        mutant: None,
        spares: 0,
        extra_args: ["-N", "2", "-R", "1", "-W", "1"].map(String::from).to_vec(),
    };
    Cluster::start(options).expect("the cluster starts")
}

/// One command on node `id`'s RESP port, on a runtime of its own, bounded in time.
fn cmd(cluster: &Cluster, id: u8, words: &[&str]) -> Value {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = runtime.block_on(async {
        let limit = Duration::from_secs(10);
        tokio::time::timeout(limit, call(&cluster.resp(id), &args)).await
    });
    match reply {
        Ok(Ok(value)) => value,
        other => Value::Error(format!("no reply: {other:?}")),
    }
}

/// Retry `check` until it holds, for at most `limit`; panics with `what` and the last
/// value seen otherwise.
fn eventually<T: std::fmt::Debug>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> (bool, T),
) {
    let deadline = Instant::now() + limit;
    loop {
        let (held, seen) = check();
        if held {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: last saw {seen:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn members(value: &Value) -> Option<Vec<Vec<u8>>> {
    let Value::Array(items) = value else {
        return None;
    };
    let mut members: Vec<Vec<u8>> = items
        .iter()
        .filter_map(|item| match item {
            Value::Bulk(Some(bytes)) => Some(bytes.clone()),
            _ => None,
        })
        .collect();
    members.sort();
    Some(members)
}

/// Both nodes serve writes (the ring is up on each).
fn wait_serving(cluster: &Cluster) {
    for id in cluster.ids() {
        let key = format!("ready-{id}");
        eventually(Duration::from_secs(30), "the node serves writes", || {
            let reply = cmd(cluster, id, &["SET", &key, "1"]);
            (reply == Value::Simple("OK".into()), reply)
        });
    }
}

#[test]
fn increments_on_both_sides_of_a_cut_all_count_after_the_heal() {
    let mut cluster = cluster(47);
    wait_serving(&cluster);
    cluster.partition(1, 2).expect("nftables cut");
    for expected in 1..=5 {
        for id in [1, 2] {
            // Each side counts only its own increments while cut off.
            let reply = cmd(&cluster, id, &["INCR", "c"]);
            assert_eq!(reply, Value::Integer(expected), "INCR on n{id}");
        }
    }
    cluster.heal().expect("heal");
    for id in [1, 2] {
        eventually(
            Duration::from_secs(30),
            "GET c is 10 after the heal",
            || {
                let reply = cmd(&cluster, id, &["GET", "c"]);
                (reply == Value::Bulk(Some(b"10".to_vec())), (id, reply))
            },
        );
    }
}

#[test]
fn an_add_concurrent_with_a_remove_wins_after_the_heal() {
    let mut cluster = cluster(48);
    wait_serving(&cluster);
    assert_eq!(cmd(&cluster, 1, &["SADD", "s", "a"]), Value::Integer(1));
    let only_a = Some(vec![b"a".to_vec()]);
    for id in [1, 2] {
        eventually(Duration::from_secs(30), "s = {a} everywhere", || {
            let reply = cmd(&cluster, id, &["SMEMBERS", "s"]);
            (members(&reply) == only_a, (id, reply))
        });
    }
    cluster.partition(1, 2).expect("nftables cut");
    assert_eq!(cmd(&cluster, 1, &["SREM", "s", "a"]), Value::Integer(1));
    assert_eq!(
        cmd(&cluster, 1, &["SMEMBERS", "s"]),
        Value::Array(Vec::new())
    );
    // The other side saw a; SADD a adds it again under a new dot, as Redis counts 0.
    assert_eq!(cmd(&cluster, 2, &["SADD", "s", "a"]), Value::Integer(0));
    assert_eq!(cmd(&cluster, 2, &["SADD", "s", "b"]), Value::Integer(1));
    cluster.heal().expect("heal");
    let both = Some(vec![b"a".to_vec(), b"b".to_vec()]);
    for id in [1, 2] {
        eventually(Duration::from_secs(30), "s = {a, b} after the heal", || {
            let reply = cmd(&cluster, id, &["SMEMBERS", "s"]);
            (members(&reply) == both, (id, reply))
        });
    }
}

fn seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let seed = std::env::var("JEPSEN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(now.map_or(1, |d| d.as_secs()));
    println!("seed {seed} (replay with JEPSEN_SEED={seed})");
    seed
}

fn scenario(subnet: u8, mutant: Option<&str>, seconds: u64) -> Scenario {
    Scenario {
        options: Options {
            nodes: 3,
            subnet,
            partitions: 16,
            mutant: mutant.map(str::to_string),
            spares: 0,
            extra_args: Vec::new(),
        },
        duration: Duration::from_secs(seconds),
        keys: 0,
        query: String::new(),
        seed: seed(),
        nemesis: Nemesis::Mixed,
    }
}

/// The set and counter workload under crash, pause and partition faults (N=3, R=W=2):
/// no acknowledged SADD lost, nothing from nowhere, the counter in [acked, acked +
/// unknown]. `JEPSEN_SECONDS` lengthens it (default 20).
#[test]
fn sets_and_counters_under_mixed_faults_lose_no_acknowledged_update() {
    let seconds = std::env::var("JEPSEN_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let (report, cluster) =
        datatypes::run(&scenario(49, None, seconds)).expect("the run completes");
    println!("{report}");
    assert!(report.faults > 0, "the nemesis injected faults");
    assert!(
        report.adds[0] > 20 && report.increments[0] > 20,
        "the workload ran"
    );
    assert!(
        report.passed(),
        "{report}\n{}",
        cluster.logs().chars().rev().take(4000).collect::<String>()
    );
}

/// The checker is not vacuous: nodes that merge concurrent counters by max lose
/// acknowledged increments, and the run says so.
#[test]
fn the_checker_catches_counters_merged_by_max() {
    let (report, _cluster) =
        datatypes::run(&scenario(50, Some("counter-merge-by-max"), 10)).expect("the run completes");
    println!("{report}");
    let (acked, _) = report.counter_bounds();
    assert!(
        !report.counter_ok(),
        "counter {:?} should fall below the {acked} acknowledged increments",
        report.counter
    );
}
