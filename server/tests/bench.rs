//! `dynamo bench` against a real 3-node cluster, through both targets: it completes
//! operations without failures, its percentiles are ordered, and its JSON parses.

mod support;

use dynamo_server::bench::{self, BenchArgs, Latency, Report};
use std::process::Command;
use support::Cluster;

const BASE: u16 = 25000;

fn check_latency(name: &str, latency: &Latency) {
    assert!(latency.count > 0, "{name}: no samples");
    assert!(
        latency.p50_us <= latency.p99_us
            && latency.p99_us <= latency.p999_us
            && latency.p999_us <= latency.max_us,
        "{name}: percentiles out of order: {latency:?}"
    );
}

fn check(report: &Report) {
    print!("{}", bench::render(report));
    assert!(report.ops() > 0, "no operations completed");
    assert_eq!(report.failed, 0, "failures: {:?}", report.first_error);
    let preload = report.preload.as_ref().expect("a preload ran");
    assert_eq!((preload.written, preload.failed), (report.keys, 0));
    check_latency("all", report.latency.as_ref().expect("latencies"));
    // Workload A mixes reads and updates: both kinds are measured.
    check_latency("read", report.read_latency.as_ref().expect("reads"));
    check_latency("update", report.update_latency.as_ref().expect("updates"));
}

fn words(cluster: &Cluster, target: &str, seed: u64) -> Vec<String> {
    let addr = |id| match target {
        "resp" => cluster.client(id),
        _ => cluster.http(id),
    };
    let mut words: Vec<String> = [
        "--target",
        target,
        "--workload",
        "a",
        "--distribution",
        "zipfian",
        "--keys",
        "200",
        "--concurrency",
        "8",
        "--duration",
        "1",
        "--preload",
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    for id in 1..=3 {
        words.extend(["--addr".to_string(), addr(id)]);
    }
    words.extend(["--seed".to_string(), seed.to_string()]);
    words
}

#[test]
fn bench_runs_against_a_cluster_in_both_modes() {
    let cluster = std::thread::spawn(|| Cluster::start_with(BASE, 3, 16, 3))
        .join()
        .expect("the cluster starts");
    let seed = 20_240_601;
    println!("seed {seed}");

    // Through the library, over the partition-aware client.
    let args = BenchArgs::from_words(words(&cluster, "dynamo-http", seed)).expect("valid options");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(bench::run(&args)).expect("the bench runs");
    check(&report);
    assert_eq!(report.target, "dynamo-http");

    // Through the binary, over RESP, with the JSON report on stdout.
    let output = Command::new(env!("CARGO_BIN_EXE_dynamo"))
        .arg("bench")
        .args(words(&cluster, "resp", seed))
        .arg("--json")
        .output()
        .expect("run dynamo bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Report = serde_json::from_slice(&output.stdout).expect("the JSON report parses");
    check(&report);
    assert_eq!((report.target.as_str(), report.seed), ("resp", seed));
}
