//! `dynamo-bench`: a YCSB-style load generator (Cooper et al., SoCC 2010).
//!
//! A crate of its own, apart from `dynamo-server`, so the production `dynamo` binary
//! links neither the gRPC stack (tonic, prost) nor the histogram and progress crates.
//!
//! Workloads: A (50% reads, 50% updates), B (95/5), C (read-only), W (write-only).
//! Keys `key:NNNNNNNNNNNN` (the format `redis-benchmark -r` uses) are drawn uniformly
//! or from a zipfian distribution (Gray et al., SIGMOD 1994, as YCSB draws them).
//!
//! Targets: `dynamo-http` goes through the partition-aware [`Client`] as a Dynamo
//! application does: it remembers, per key, the join of every context it was handed
//! (by reads and by puts) and puts with it, so an update costs one write and no read
//! and supersedes every version the generator has seen; only truly concurrent updates
//! leave siblings, and the next update of the key resolves them. (Blind puts would
//! pile up a sibling per update of a hot key until the store refuses the key.) `resp` sends plain `GET`
//! and `SET` on one persistent connection per worker, so the same generator can face
//! dynamo's RESP port and Redis alike; `etcd` sends etcd v3 `Put` and linearizable
//! `Range` calls over gRPC, one connection per worker too ([`etcd`] says why and how).
//!
//! Closed loop by default: each of `--concurrency` workers sends its next request when
//! the previous one is answered. With `--rate` the run is open loop: operation `i` is
//! due at `start + i / rate`, whichever worker is free takes it, and a late operation's
//! latency counts from the time it was due, so a server that falls behind is charged
//! for the queue it causes (no coordinated omission).
//!
//! Every run is bounded: by `--duration` and/or `--ops`, each request by `--timeout`,
//! the preload by `--preload-timeout`.
//!
//! The report carries, besides percentiles, each latency distribution as
//! (percentile, µs) points, so plots of the CDF need no access to the histograms.

pub mod etcd;

use dynamo_core::clock::VersionVector;
use dynamo_core::version::Context;
use dynamo_server::client::{Client, ClientError};
use dynamo_server::resp::{parse_value, Value};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Histograms cover 1 µs to this, 3 significant digits (a timed-out request lands here).
const LATENCY_MAX_US: u64 = 120_000_000;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid settings: {0}")]
    Config(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected reply: {0}")]
    Reply(String),
    #[error("request timed out")]
    Timeout,
    #[error("etcd: {0}")]
    Etcd(String),
}

/// The mix of operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// 50% reads, 50% updates.
    A,
    /// 95% reads, 5% updates.
    B,
    /// Reads only.
    C,
    /// Writes only.
    W,
}

impl Workload {
    pub fn read_fraction(self) -> f64 {
        match self {
            Workload::A => 0.5,
            Workload::B => 0.95,
            Workload::C => 1.0,
            Workload::W => 0.0,
        }
    }
}

/// How keys are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Uniform,
    Zipfian,
}

/// What the generator talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// dynamo's HTTP API through the partition-aware client.
    DynamoHttp,
    /// Plain RESP GET/SET (dynamo's client port, or Redis).
    Resp,
    /// etcd v3 over gRPC: Put, and Range (linearizable).
    Etcd,
}

/// `dynamo-bench` options.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// Protocol and client to drive.
    #[arg(long, value_enum, default_value = "dynamo-http")]
    pub target: Target,
    /// Server address, repeated: HTTP seeds for dynamo-http; RESP addresses for resp,
    /// etcd client addresses (`host:port`) for etcd (workers are spread over them).
    #[arg(long = "addr", default_value = "127.0.0.1:7201")]
    pub addrs: Vec<String>,
    #[arg(long, value_enum, default_value = "a")]
    pub workload: Workload,
    #[arg(long, value_enum, default_value = "uniform")]
    pub distribution: Distribution,
    /// Zipfian skew (YCSB's default 0.99; must be in (0, 1)).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_theta: f64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Bytes per written value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Concurrent workers (one connection each for resp and etcd).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Seconds to run (default 10 when --ops is not given).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Operations to run at most.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Target operations per second (open loop); unbounded when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Write every key once before measuring.
    #[arg(long)]
    pub preload: bool,
    /// Seconds the preload may take at most.
    #[arg(long, default_value_t = 300.0)]
    pub preload_timeout: f64,
    /// Seconds one request may take before it counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Random seed (printed in the report; random when absent).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl BenchArgs {
    /// Options from command-line words (without the program name), for tests and scripts.
    pub fn from_words<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: BenchArgs,
        }
        let words = std::iter::once("dynamo-bench".into()).chain(words.into_iter().map(Into::into));
        <Wrapper as clap::Parser>::try_parse_from(words).map(|wrapper| wrapper.args)
    }

    fn check(&self) -> Result<(), BenchError> {
        let bad = |what: &str| Err(BenchError::Config(what.into()));
        if self.keys == 0 {
            return bad("--keys must be positive");
        }
        if self.concurrency == 0 || self.concurrency > 10_000 {
            return bad("--concurrency must be within 1..=10000");
        }
        if self.addrs.is_empty() {
            return bad("at least one --addr");
        }
        if !(self.zipf_theta > 0.0 && self.zipf_theta < 1.0) {
            return bad("--zipf-theta must be in (0, 1)");
        }
        if self
            .rate
            .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
        {
            return bad("--rate must be positive");
        }
        let positive = |secs: f64| secs > 0.0 && secs.is_finite() && secs < 1e7;
        if !self.duration.is_none_or(positive)
            || !positive(self.timeout)
            || !positive(self.preload_timeout)
        {
            return bad("durations must be positive seconds");
        }
        Ok(())
    }

    /// The measured phase's length: the given duration, else 10 s unless --ops bounds it
    /// (then a day, as a backstop).
    fn run_for(&self) -> Duration {
        match (self.duration, self.ops) {
            (Some(secs), _) => Duration::from_secs_f64(secs),
            (None, None) => Duration::from_secs(10),
            (None, Some(_)) => Duration::from_secs(86_400),
        }
    }
}

/// The name of key `index`.
pub fn key_name(index: u64) -> String {
    format!("key:{index:012}")
}

/// SplitMix64 (Steele et al. 2014): small, fast and good enough to pick keys; a worker
/// owns one, so no locking.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for key choice and no division.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Zipfian over `[0, n)` with item 0 the most popular: the constant-time sampler of
/// Gray et al. that YCSB uses. Setup sums `n` powers once (about 10 ms per million).
#[derive(Clone, Debug)]
pub struct Zipfian {
    n: u64,
    theta: f64,
    zeta_n: f64,
    alpha: f64,
    eta: f64,
}

impl Zipfian {
    /// `theta` in (0, 1); `n` at least 1.
    pub fn new(n: u64, theta: f64) -> Self {
        let zeta_n: f64 = (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum();
        let zeta_2 = 1.0 + 0.5f64.powf(theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Zipfian {
            n,
            theta,
            zeta_n,
            alpha: 1.0 / (1.0 - theta),
            eta,
        }
    }

    /// The exact probability of rank `k` (for tests).
    pub fn probability(&self, k: u64) -> f64 {
        1.0 / ((k + 1) as f64).powf(self.theta) / self.zeta_n
    }

    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.next_f64();
        let uz = u * self.zeta_n;
        if uz < 1.0 || self.n == 1 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        let rank = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        rank.min(self.n - 1)
    }
}

/// Key choice of a run.
#[derive(Clone, Debug)]
pub enum KeyChooser {
    Uniform(u64),
    Zipfian(Zipfian),
}

impl KeyChooser {
    pub fn new(distribution: Distribution, keys: u64, theta: f64) -> Self {
        match distribution {
            Distribution::Uniform => KeyChooser::Uniform(keys),
            Distribution::Zipfian => KeyChooser::Zipfian(Zipfian::new(keys, theta)),
        }
    }

    pub fn next(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyChooser::Uniform(n) => rng.below(*n),
            KeyChooser::Zipfian(zipfian) => zipfian.sample(rng),
        }
    }
}

/// One persistent RESP connection; reconnects on the next call after a failure.
#[derive(Debug)]
struct RespConnection {
    address: String,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    buffer: Vec<u8>,
}

impl RespConnection {
    fn new(address: String) -> Self {
        RespConnection {
            address,
            stream: None,
            request: Vec::with_capacity(256),
            buffer: Vec::with_capacity(4096),
        }
    }

    async fn call(&mut self, args: &[&[u8]]) -> Result<Value, BenchError> {
        let result = self.exchange(args).await;
        if result.is_err() {
            // The stream may hold half a reply: start clean next time.
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, args: &[&[u8]]) -> Result<Value, BenchError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buffer.clear();
        }
        let stream = self.stream.as_mut().expect("connected above");
        self.request.clear();
        self.request
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            self.request
                .extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            self.request.extend_from_slice(arg);
            self.request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&self.request).await?;
        loop {
            let parsed = parse_value(&self.buffer).map_err(|e| BenchError::Reply(e.to_string()))?;
            if let Some((value, used)) = parsed {
                self.buffer.drain(..used);
                return Ok(value);
            }
            let mut chunk = [0u8; 4096];
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(BenchError::Reply("server closed the connection".into()));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// The join of the contexts the workers were handed, per key (see the module doc).
#[derive(Debug, Default)]
struct Contexts(Mutex<std::collections::HashMap<String, VersionVector>>);

impl Contexts {
    fn learn(&self, key: &str, context: &str) {
        let Ok(context) = Context::from_text(context) else {
            return;
        };
        let mut known = self.0.lock().expect("contexts lock");
        known
            .entry(key.to_string())
            .or_default()
            .merge(context.clock());
    }

    fn of(&self, key: &str) -> String {
        let known = self.0.lock().expect("contexts lock");
        known
            .get(key)
            .map(|clock| Context::new(clock.clone()).to_text())
            .unwrap_or_default()
    }
}

/// A worker's way to the store.
#[derive(Debug)]
enum Connection {
    Http(Arc<Client>, Arc<Contexts>),
    Resp(RespConnection),
    Etcd(etcd::EtcdKv),
}

impl Connection {
    async fn read(&mut self, key: &str) -> Result<(), BenchError> {
        match self {
            Connection::Http(client, contexts) => {
                let versions = client.get(key).await?;
                contexts.learn(key, &versions.context);
                Ok(())
            }
            Connection::Resp(connection) => match connection.call(&[b"GET", key.as_bytes()]).await?
            {
                Value::Bulk(_) => Ok(()),
                other => Err(BenchError::Reply(format!("GET: {other:?}"))),
            },
            // Like a RESP nil, an absent key is an answer, not a failure.
            Connection::Etcd(kv) => kv.get(key.as_bytes()).await.map(drop),
        }
    }

    async fn write(&mut self, key: &str, value: &[u8]) -> Result<(), BenchError> {
        match self {
            // One quorum write, no read first: the context is the one remembered.
            Connection::Http(client, contexts) => {
                let context = contexts.of(key);
                let written = client.put(key, value, Some(&context)).await?;
                contexts.learn(key, &written);
                Ok(())
            }
            Connection::Resp(connection) => {
                match connection.call(&[b"SET", key.as_bytes(), value]).await? {
                    Value::Simple(ok) if ok == "OK" => Ok(()),
                    other => Err(BenchError::Reply(format!("SET: {other:?}"))),
                }
            }
            Connection::Etcd(kv) => kv.put(key.as_bytes(), value).await,
        }
    }
}

/// One connection per worker (the HTTP client is shared: it pools its own); RESP and
/// etcd connections open on first use.
async fn connect(args: &BenchArgs) -> Result<Vec<Connection>, BenchError> {
    match args.target {
        Target::DynamoHttp => {
            let client = Client::connect(&args.addrs).await?;
            let contexts = Arc::new(Contexts::default());
            Ok((0..args.concurrency)
                .map(|_| Connection::Http(client.clone(), contexts.clone()))
                .collect())
        }
        Target::Resp => Ok((0..args.concurrency)
            .map(|worker| {
                let address = args.addrs[worker % args.addrs.len()].clone();
                Connection::Resp(RespConnection::new(address))
            })
            .collect()),
        Target::Etcd => (0..args.concurrency)
            .map(|worker| {
                let address = &args.addrs[worker % args.addrs.len()];
                let timeout = Duration::from_secs_f64(args.timeout);
                etcd::EtcdKv::new(address, timeout).map(Connection::Etcd)
            })
            .collect(),
    }
}

/// State the workers share: the next operation's number (the op budget and, with a
/// rate, its schedule), counters for the progress line, and the first error seen.
#[derive(Debug)]
struct Shared {
    next: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    start: Instant,
    deadline: Instant,
    ops_max: u64,
    rate: Option<f64>,
    timeout: Duration,
    read_fraction: f64,
    keys: KeyChooser,
    value: Vec<u8>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn note(&self, result: &Result<(), BenchError>) {
        match result {
            Ok(()) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                let mut first = self.first_error.lock().expect("error lock");
                first.get_or_insert_with(|| error.to_string());
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// One worker's latencies, per kind of operation.
#[derive(Debug)]
struct Recorded {
    reads: Histogram<u64>,
    updates: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid histogram bounds")
}

/// When operation `seq` may start, or `None` when the run is over. Open loop: wait for
/// its due time; when already late, count from the due time (see the module doc).
/// A timer's own lateness is not charged: after a sleep the clock starts on waking.
async fn begin(shared: &Shared, seq: u64) -> Option<Instant> {
    if seq >= shared.ops_max {
        return None;
    }
    let Some(rate) = shared.rate else {
        let now = Instant::now();
        return (now < shared.deadline).then_some(now);
    };
    let due = shared.start + Duration::from_secs_f64(seq as f64 / rate);
    if due >= shared.deadline {
        return None;
    }
    if Instant::now() >= due {
        return Some(due);
    }
    tokio::time::sleep_until(due.into()).await;
    Some(Instant::now())
}

async fn worker(mut connection: Connection, shared: Arc<Shared>, seed: u64) -> Recorded {
    let mut rng = Rng::new(seed);
    let mut recorded = Recorded {
        reads: histogram(),
        updates: histogram(),
    };
    loop {
        let seq = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(started) = begin(&shared, seq).await else {
            break;
        };
        let key = key_name(shared.keys.next(&mut rng));
        let read = rng.next_f64() < shared.read_fraction;
        let operation = async {
            if read {
                connection.read(&key).await
            } else {
                connection.write(&key, &shared.value).await
            }
        };
        let result = match tokio::time::timeout(shared.timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(BenchError::Timeout),
        };
        let micros = started
            .elapsed()
            .as_micros()
            .clamp(1, u128::from(LATENCY_MAX_US)) as u64;
        let histogram = if read {
            &mut recorded.reads
        } else {
            &mut recorded.updates
        };
        histogram.saturating_record(micros);
        shared.note(&result);
    }
    recorded
}

/// Latency percentiles of one kind of operation, in microseconds.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The distribution as (percentile, µs) points, both rising, the last at 100%
    /// (the max); each point is the share of operations that took at most that long.
    #[serde(default)]
    pub cdf: Vec<(f64, u64)>,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Option<Latency> {
        (!histogram.is_empty()).then(|| Latency {
            count: histogram.len(),
            mean_us: histogram.mean(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            cdf: cdf(histogram),
        })
    }
}

/// HdrHistogram's quantile iteration: CDF_TICKS points each time the distance to 100%
/// halves, so the tail, where stores differ, is sampled as densely as the body (about
/// 16 points per nine, a hundred or so in all).
fn cdf(histogram: &Histogram<u64>) -> Vec<(f64, u64)> {
    const CDF_TICKS: u32 = 5;
    let mut points: Vec<(f64, u64)> = Vec::new();
    for step in histogram.iter_quantiles(CDF_TICKS) {
        // Rounded: the iteration sums binary fractions (30.000000000000004).
        let percentile = (step.quantile_iterated_to() * 1e8).round() / 1e6;
        let point = (percentile, step.value_iterated_to());
        // Steps within one histogram bucket repeat its value: keep the last one.
        match points.last_mut() {
            Some(last) if last.1 == point.1 => *last = point,
            _ => points.push(point),
        }
    }
    points
}

/// The preload phase's outcome.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Preloaded {
    pub written: u64,
    pub failed: u64,
    pub elapsed_s: f64,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Report {
    pub target: String,
    pub addrs: Vec<String>,
    pub workload: String,
    pub distribution: String,
    pub keys: u64,
    pub value_size: usize,
    pub concurrency: usize,
    pub rate_target: Option<f64>,
    pub seed: u64,
    pub preload: Option<Preloaded>,
    pub elapsed_s: f64,
    pub ok: u64,
    pub failed: u64,
    /// Completed operations (ok or failed) per second.
    pub throughput: f64,
    pub latency: Option<Latency>,
    pub read_latency: Option<Latency>,
    pub update_latency: Option<Latency>,
    pub first_error: Option<String>,
}

impl Report {
    /// Every operation, ok or failed.
    pub fn ops(&self) -> u64 {
        self.ok + self.failed
    }
}

fn name_of(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// A progress line on stderr, redrawn until `shared.deadline` or the op budget; hidden
/// when stderr is not a terminal or `quiet`.
fn progress(shared: &Arc<Shared>, phase: &str, quiet: bool) -> tokio::task::JoinHandle<()> {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    let shared = shared.clone();
    let phase = phase.to_string();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let (ok, failed) = (
                shared.ok.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed),
            );
            let elapsed = shared.start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "{phase}: {elapsed:.1}s  {ok} ok  {failed} failed  {:.0} ops/s",
                (ok + failed) as f64 / elapsed.max(1e-9)
            ));
            bar.tick();
            if Instant::now() >= shared.deadline || ok + failed >= shared.ops_max {
                bar.finish_and_clear();
                break;
            }
        }
    })
}

fn shared_for(args: &BenchArgs, keys: KeyChooser, run_for: Duration, ops_max: u64) -> Shared {
    let start = Instant::now();
    Shared {
        next: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        start,
        deadline: start + run_for,
        ops_max,
        rate: args.rate,
        timeout: Duration::from_secs_f64(args.timeout),
        read_fraction: args.workload.read_fraction(),
        keys,
        value: vec![b'x'; args.value_size],
        first_error: Mutex::new(None),
    }
}

/// Write every key once, in order, spread over the workers (closed loop, no rate).
async fn preload(args: &BenchArgs, connections: Vec<Connection>) -> (Preloaded, Vec<Connection>) {
    let mut plain = args.clone();
    plain.rate = None;
    plain.workload = Workload::W;
    let run_for = Duration::from_secs_f64(args.preload_timeout);
    let shared = Arc::new(shared_for(
        &plain,
        KeyChooser::Uniform(1),
        run_for,
        args.keys,
    ));
    let bar = progress(&shared, "preload", args.quiet);
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let index = shared.next.fetch_add(1, Ordering::Relaxed);
                    if index >= shared.ops_max || Instant::now() >= shared.deadline {
                        break;
                    }
                    let key = key_name(index);
                    let write = connection.write(&key, &shared.value);
                    let result = match tokio::time::timeout(shared.timeout, write).await {
                        Ok(result) => result,
                        Err(_) => Err(BenchError::Timeout),
                    };
                    shared.note(&result);
                }
                connection
            })
        })
        .collect();
    let mut connections = Vec::new();
    for task in tasks {
        connections.push(task.await.expect("preload worker panicked"));
    }
    bar.abort();
    let preloaded = Preloaded {
        written: shared.ok.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        elapsed_s: shared.start.elapsed().as_secs_f64(),
    };
    (preloaded, connections)
}

/// Run the benchmark `args` describe and report what it measured.
pub async fn run(args: &BenchArgs) -> Result<Report, BenchError> {
    args.check()?;
    let seed = args.seed.unwrap_or_else(|| {
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes).map_or(0, |()| u64::from_le_bytes(bytes))
    });
    let mut connections = connect(args).await?;
    let mut preloaded = None;
    if args.preload {
        let (outcome, back) = preload(args, connections).await;
        preloaded = Some(outcome);
        connections = back;
    }
    let keys = KeyChooser::new(args.distribution, args.keys, args.zipf_theta);
    let ops_max = args.ops.unwrap_or(u64::MAX);
    let shared = Arc::new(shared_for(args, keys, args.run_for(), ops_max));
    let bar = progress(&shared, "run", args.quiet);
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(index, connection)| {
            // Distinct streams per worker, all derived from the one printed seed.
            let worker_seed = seed ^ (index as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
            tokio::spawn(worker(connection, shared.clone(), worker_seed))
        })
        .collect();
    let (mut reads, mut updates) = (histogram(), histogram());
    for task in tasks {
        let recorded = task.await.expect("bench worker panicked");
        reads.add(&recorded.reads).expect("same bounds");
        updates.add(&recorded.updates).expect("same bounds");
    }
    let elapsed_s = shared.start.elapsed().as_secs_f64();
    bar.abort();
    let mut all = reads.clone();
    all.add(&updates).expect("same bounds");
    let (ok, failed) = (
        shared.ok.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed),
    );
    let first_error = shared.first_error.lock().expect("error lock").clone();
    Ok(Report {
        target: name_of(args.target),
        addrs: args.addrs.clone(),
        workload: name_of(args.workload),
        distribution: name_of(args.distribution),
        keys: args.keys,
        value_size: args.value_size,
        concurrency: args.concurrency,
        rate_target: args.rate,
        seed,
        preload: preloaded,
        elapsed_s,
        ok,
        failed,
        throughput: (ok + failed) as f64 / elapsed_s.max(1e-9),
        latency: Latency::of(&all),
        read_latency: Latency::of(&reads),
        update_latency: Latency::of(&updates),
        first_error,
    })
}

/// The report as text, one fact a line.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "target {} {}  workload {}  keys {} ({})  value {} B  concurrency {}  seed {}\n",
        report.target,
        report.addrs.join(","),
        report.workload,
        report.keys,
        report.distribution,
        report.value_size,
        report.concurrency,
        report.seed
    );
    if let Some(rate) = report.rate_target {
        out += &format!("target rate {rate:.0} ops/s (open loop)\n");
    }
    if let Some(p) = &report.preload {
        out += &format!(
            "preload: {} written, {} failed in {:.2}s\n",
            p.written, p.failed, p.elapsed_s
        );
    }
    out += &format!(
        "{} ops ({} ok, {} failed) in {:.2}s: {:.0} ops/s\n",
        report.ops(),
        report.ok,
        report.failed,
        report.elapsed_s,
        report.throughput
    );
    let kinds = [
        ("all", &report.latency),
        ("read", &report.read_latency),
        ("update", &report.update_latency),
    ];
    for (name, latency) in kinds {
        if let Some(l) = latency {
            out += &format!(
                "{name:>6}: n={} mean {:.0}us p50 {}us p99 {}us p99.9 {}us max {}us\n",
                l.count, l.mean_us, l.p50_us, l.p99_us, l.p999_us, l.max_us
            );
        }
    }
    if let Some(error) = &report.first_error {
        out += &format!("first error: {error}\n");
    }
    out
}

/// `dynamo-bench`: run, then print the report (text or JSON) on stdout.
pub async fn command(args: BenchArgs) -> Result<(), BenchError> {
    let report = run(&args).await?;
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("a report serialises");
        println!("{json}");
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seed from the clock, printed so a failure can be replayed.
    fn seed() -> u64 {
        let seed = std::env::var("DYNAMO_BENCH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(1, |d| d.as_nanos() as u64)
            });
        println!("seed {seed} (replay with DYNAMO_BENCH_SEED={seed})");
        seed
    }

    fn counts(chooser: &KeyChooser, n: u64, draws: u64, seed: u64) -> Vec<u64> {
        let mut rng = Rng::new(seed);
        let mut counts = vec![0u64; n as usize];
        for _ in 0..draws {
            counts[chooser.next(&mut rng) as usize] += 1;
        }
        counts
    }

    #[test]
    fn zipfian_is_skewed_like_the_exact_distribution() {
        let (n, draws) = (1000, 200_000);
        let zipfian = Zipfian::new(n, 0.99);
        let counts = counts(&KeyChooser::Zipfian(zipfian.clone()), n, draws, seed());
        // Ranks 0 and 1 are exact in Gray's sampler; the tail is approximated.
        for rank in 0..2 {
            let expected = zipfian.probability(rank) * draws as f64;
            let seen = counts[rank as usize] as f64;
            assert!(
                (seen - expected).abs() < 0.05 * expected,
                "rank {rank}: {seen} draws, expected {expected:.0}"
            );
        }
        // The hottest 1% of keys take a large share (exactly 38% at theta .99, n 1000).
        let top: u64 = counts[..10].iter().sum();
        let share = top as f64 / draws as f64;
        assert!((0.33..0.45).contains(&share), "top 1% share {share}");
        // Popularity falls with rank: the first decile outdraws the last by far.
        let first: u64 = counts[..100].iter().sum();
        let last: u64 = counts[900..].iter().sum();
        assert!(first > 10 * last, "first decile {first}, last {last}");
    }

    #[test]
    fn uniform_is_flat() {
        let (n, draws) = (100, 100_000);
        let counts = counts(&KeyChooser::Uniform(n), n, draws, seed());
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        // Each key expects 1000 draws, standard deviation about 31.
        assert!(*min > 850 && *max < 1150, "min {min} max {max}");
    }

    #[test]
    fn samplers_stay_in_range() {
        let mut rng = Rng::new(seed());
        for n in [1, 2, 3, 10, 12_345] {
            let zipfian = Zipfian::new(n, 0.5);
            for _ in 0..10_000 {
                assert!(zipfian.sample(&mut rng) < n);
                assert!(rng.below(n) < n);
            }
        }
    }

    #[test]
    fn cdf_rises_to_the_max() {
        let mut rng = Rng::new(seed());
        let mut recorded = histogram();
        for _ in 0..100_000 {
            // Latencies spread over three orders of magnitude, like a real run's.
            let micros = 10 + (rng.next_f64().powi(8) * 100_000.0) as u64;
            recorded.record(micros).unwrap();
        }
        let latency = Latency::of(&recorded).unwrap();
        let points = &latency.cdf;
        assert!((10..200).contains(&points.len()), "{} points", points.len());
        for pair in points.windows(2) {
            assert!(pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1, "{pair:?}");
        }
        let last = points.last().unwrap();
        assert_eq!((last.0, last.1), (100.0, recorded.max()));
        // A point agrees with the percentile the histogram reports for it, within the
        // rounding of the point's percentile to two decimals (a time seed once landed
        // one bucket off at 98.75%).
        let (percentile, micros) = points[points.len() / 2];
        let near =
            [-0.005, 0.0, 0.005].map(|d| recorded.value_at_quantile((percentile + d) / 100.0));
        assert!(
            near.iter().any(|at| recorded.equivalent(*at, micros)),
            "{percentile}%: {near:?} vs {micros}"
        );
    }

    #[test]
    fn options_are_checked() {
        let parse = |words: &[&str]| BenchArgs::from_words(words.iter().copied()).unwrap();
        assert!(parse(&[]).check().is_ok());
        assert!(parse(&["--keys", "0"]).check().is_err());
        assert!(parse(&["--zipf-theta", "1"]).check().is_err());
        assert!(parse(&["--rate", "0"]).check().is_err());
        assert_eq!(parse(&["--target", "etcd"]).target, Target::Etcd);
        assert!(parse(&["--duration=-1"]).check().is_err());
        assert_eq!(
            parse(&["--ops", "5"]).run_for(),
            Duration::from_secs(86_400)
        );
        assert_eq!(parse(&[]).run_for(), Duration::from_secs(10));
        assert_eq!(key_name(42), "key:000000000042");
    }
}
