//! Mixed faults on 3 real nodes (N=3, R=W=2) while clients write: nothing acknowledged
//! is lost, nor while a fourth node joins and leaves; and a planted bug (a node that acknowledges writes it never stored) is
//! caught. `JEPSEN_SECONDS` lengthens the mixed run (default 30), `JEPSEN_SEED`
//! replays one; `cargo test -p dynamo-tests --release --test jepsen -- --nocapture`
//! prints the report.

use dynamo_tests::harness::Options;
use dynamo_tests::run::{run, Nemesis, Scenario};
use std::time::Duration;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let seed = env("JEPSEN_SEED", now.map_or(1, |d| d.as_secs()));
    println!("seed {seed} (replay with JEPSEN_SEED={seed})");
    seed
}

fn options(subnet: u8, mutant: Option<&str>) -> Options {
    Options {
        nodes: 3,
        subnet,
        partitions: 16,
        mutant: mutant.map(str::to_string),
        spares: 0,
        extra_args: Vec::new(),
    }
}

#[test]
fn mixed_faults_lose_no_acknowledged_write() {
    let scenario = Scenario {
        options: options(41, None),
        duration: Duration::from_secs(env("JEPSEN_SECONDS", 30)),
        keys: 8,
        query: String::new(),
        seed: seed(),
        nemesis: Nemesis::Mixed,
    };
    let (report, cluster) = run(&scenario).expect("the run completes");
    println!("{report}");
    assert!(report.faults > 0, "the nemesis injected faults");
    assert!(report.puts_ok > 50, "the workload ran");
    assert!(
        report.passed(),
        "{report}\n{}",
        cluster.logs().chars().rev().take(4000).collect::<String>()
    );
    // N=3, W=2 with one node down at a time: writes keep succeeding.
    let availability = report
        .availability_under_faults
        .expect("puts during faults");
    assert!(availability > 0.5, "availability {availability}");
}

#[test]
fn a_node_joining_and_leaving_under_load_loses_no_acknowledged_write() {
    let scenario = Scenario {
        options: Options {
            spares: 1,
            ..options(44, None)
        },
        duration: Duration::from_secs(15),
        keys: 8,
        query: String::new(),
        seed: seed(),
        nemesis: Nemesis::Membership,
    };
    let (report, cluster) = run(&scenario).expect("the run completes");
    println!("{report}");
    assert_eq!(report.faults, 1, "the spare joined and left");
    assert!(report.puts_ok > 50, "the workload ran");
    assert!(
        report.passed(),
        "{report}\n{}",
        cluster.logs().chars().rev().take(4000).collect::<String>()
    );
}

/// W=1 and R=1: the isolated node coordinates alone, then crashes while cut off.
fn isolate_then_crash(subnet: u8, mutant: Option<&str>) -> Scenario {
    Scenario {
        options: options(subnet, mutant),
        duration: Duration::from_secs(8),
        keys: 4,
        query: "?r=1&w=1".into(),
        seed: seed(),
        nemesis: Nemesis::IsolateThenCrash(1),
    }
}

#[test]
fn a_node_that_acknowledges_writes_it_never_stored_is_caught() {
    // The mutant acknowledges without storing; the writes it sent to the others die
    // with it when it crashes.
    let scenario = isolate_then_crash(42, Some("ack-before-local-write"));
    let (report, _cluster) = run(&scenario).expect("the run completes");
    println!("{report}");
    assert!(
        !report.lost.is_empty(),
        "the checker must catch the lost writes:\n{report}"
    );
}

#[test]
fn the_same_faults_with_a_correct_node_lose_nothing() {
    let (report, _cluster) = run(&isolate_then_crash(43, None)).expect("the run completes");
    println!("{report}");
    assert!(report.puts_ok > 0 && report.passed(), "{report}");
}
