//! `dynamo-bench` against a real 3-node cluster, through both of dynamo's targets,
//! and against one real etcd member: it completes operations without failures, its
//! percentiles and latency distributions are ordered, and its JSON parses.

mod support;

use dynamo_bench::etcd::EtcdKv;
use dynamo_bench::{self as bench, BenchArgs, Latency, Report};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{block_on, eventually, Cluster};

const BASE: u16 = 25000;
/// etcd's client port is ETCD_BASE + 1, its peer port ETCD_BASE + 2.
const ETCD_BASE: u16 = 25500;

fn check_latency(name: &str, latency: &Latency) {
    assert!(latency.count > 0, "{name}: no samples");
    assert!(
        latency.p50_us <= latency.p99_us
            && latency.p99_us <= latency.p999_us
            && latency.p999_us <= latency.max_us,
        "{name}: percentiles out of order: {latency:?}"
    );
    let cdf = &latency.cdf;
    assert!(cdf.len() > 1, "{name}: no distribution");
    for pair in cdf.windows(2) {
        assert!(
            pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1,
            "{name}: {pair:?}"
        );
    }
    assert_eq!(
        cdf.last(),
        Some(&(100.0, latency.max_us)),
        "{name}: cdf end"
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

/// Run the `dynamo-bench` binary with `args` (ending in `--json`); its parsed report.
fn bench_json<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Report {
    let output = Command::new(env!("CARGO_BIN_EXE_dynamo-bench"))
        .args(args)
        .output()
        .expect("run dynamo-bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the JSON report parses")
}

/// Every test run: workload A over 200 keys, 8 workers, 1 s, preloaded, quiet.
const RUN: [&str; 10] = [
    "--workload",
    "a",
    "--keys",
    "200",
    "--concurrency",
    "8",
    "--duration",
    "1",
    "--preload",
    "--quiet",
];

fn words(cluster: &Cluster, target: &str, seed: u64) -> Vec<String> {
    let addr = |id| match target {
        "resp" => cluster.client(id),
        _ => cluster.http(id),
    };
    let mut words: Vec<String> = ["--target", target, "--distribution", "zipfian"]
        .iter()
        .chain(&RUN)
        .map(|word| word.to_string())
        .collect();
    for id in 1..=3 {
        words.extend(["--addr".to_string(), addr(id)]);
    }
    words.extend(["--seed".to_string(), seed.to_string()]);
    words
}

#[test]
fn bench_runs_against_a_cluster_in_both_modes() {
    let cluster = Cluster::start(BASE, 3, 16, 3);
    let seed = 20_240_601;
    println!("seed {seed}");

    // Through the library, over the partition-aware client.
    let args = BenchArgs::from_words(words(&cluster, "dynamo-http", seed)).expect("valid options");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(bench::run(&args)).expect("the bench runs");
    check(&report);
    assert_eq!(report.target, "dynamo-http");

    // Through the binary, over RESP, with the JSON report on stdout.
    let mut args = words(&cluster, "resp", seed);
    args.push("--json".to_string());
    let report = bench_json(&args);
    check(&report);
    assert_eq!((report.target.as_str(), report.seed), ("resp", seed));
}

/// One etcd member on 127.0.0.1, its data in a temporary directory, killed when
/// dropped (even when the test fails); its log in `$TMPDIR/dynamo-test-etcd.log`.
struct Etcd {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        let installed = Command::new("etcd")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        assert!(
            installed,
            "no `etcd` binary on PATH: install Debian's etcd-server (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let client = format!("http://127.0.0.1:{}", ETCD_BASE + 1);
        let peer = format!("http://127.0.0.1:{}", ETCD_BASE + 2);
        let log = std::fs::File::create(std::env::temp_dir().join("dynamo-test-etcd.log"))
            .expect("a log file");
        let child = Command::new("etcd")
            .args(["--name", "bench-test", "--data-dir"])
            .arg(dir.path())
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("bench-test={peer}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        let etcd = Etcd {
            child,
            address: format!("127.0.0.1:{}", ETCD_BASE + 1),
            _dir: dir,
        };
        eventually("etcd accepts a put", || {
            block_on(etcd.put(b"bench-ready", b"1")).is_ok()
        });
        etcd
    }

    async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let mut kv =
            EtcdKv::new(&self.address, Duration::from_secs(1)).map_err(|e| e.to_string())?;
        let put = tokio::time::timeout(Duration::from_secs(2), kv.put(key, value));
        put.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bench_runs_against_etcd() {
    let etcd = Etcd::start();

    // The hand-declared gRPC messages round-trip through a real etcd.
    block_on(async {
        let mut kv = EtcdKv::new(&etcd.address, Duration::from_secs(1)).unwrap();
        kv.put(b"cart", b"book").await.expect("a put");
        assert_eq!(
            kv.get(b"cart").await.expect("a get"),
            Some(b"book".to_vec())
        );
        assert_eq!(kv.get(b"absent").await.expect("a get"), None);
    });

    let seed = 20_240_602;
    println!("seed {seed}");
    let seed_text = seed.to_string();
    let mut args = vec!["--target", "etcd", "--addr", &etcd.address];
    args.extend(RUN);
    args.extend(["--json", "--seed", &seed_text]);
    let report = bench_json(&args);
    check(&report);
    assert_eq!((report.target.as_str(), report.seed), ("etcd", seed));
}
