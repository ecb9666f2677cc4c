//! Prometheus metrics of one node (`GET /metrics`).
//!
//! Request counters and latency histograms are recorded by the KV service
//! (`service.rs`) as requests finish, for both client ports alike. The protocol's own counters (`NodeStats`: read repairs, hints,
//! anti-entropy, transfers) live in the core, which does no I/O; they are copied into
//! the registry from a driver snapshot at each scrape, so a scrape always shows the
//! node's current totals (they restart from zero with the process, as counters may).

use crate::driver::{DriverStats, Snapshot};
use dynamo_core::membership::MemberStatus;
use dynamo_core::node::NodeStats;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Duration;

/// Latency buckets, seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// Every metric of a node.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    siblings: prometheus::Histogram,
    node_counters: Vec<(IntCounter, StatOf)>,
    transfers: IntGaugeVec,
    members: IntGaugeVec,
    hints_pending: IntGauge,
    hint_bytes: IntGauge,
    ring_epoch: IntGauge,
    in_flight: IntGauge,
    storage_bytes: IntGauge,
    driver_batches: IntCounter,
    driver_events: IntCounter,
    driver_busy: prometheus::CounterVec,
    background_rounds: IntCounterVec,
    background_share: prometheus::Gauge,
    background_client_p99: prometheus::Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The core counters exported, with their help text.
type StatField = (&'static str, &'static str, StatOf);
/// Reads one counter of the core's `NodeStats`.
type StatOf = fn(&NodeStats) -> u64;
const NODE_COUNTERS: [StatField; 12] = [
    (
        "dynamo_quorum_failures_total",
        "requests that failed their quorum or timed out",
        |s| s.quorum_failures + s.timeouts,
    ),
    (
        "dynamo_read_repairs_total",
        "stale replicas repaired by reads",
        |s| s.read_repairs,
    ),
    (
        "dynamo_hints_stored_total",
        "writes stored as hints for an unreachable home",
        |s| s.hints_stored,
    ),
    (
        "dynamo_hints_refused_total",
        "hinted writes refused (hint store full)",
        |s| s.hints_refused,
    ),
    (
        "dynamo_hints_delivered_total",
        "hints handed off to their home",
        |s| s.hints_delivered,
    ),
    (
        "dynamo_anti_entropy_rounds_total",
        "Merkle tree comparisons started",
        |s| s.anti_entropy_rounds,
    ),
    (
        "dynamo_anti_entropy_keys_repaired_total",
        "keys repaired by anti-entropy",
        |s| s.anti_entropy_keys_repaired,
    ),
    (
        "dynamo_transfer_keys_sent_total",
        "keys sent in partition transfers",
        |s| s.transfer_keys_sent,
    ),
    (
        "dynamo_transfer_keys_received_total",
        "keys received in partition transfers",
        |s| s.transfer_keys_received,
    ),
    (
        "dynamo_forwarded_total",
        "puts forwarded to a home replica (a client hop)",
        |s| s.forwarded,
    ),
    (
        "dynamo_membership_changes_total",
        "membership views changed by gossip or operators",
        |s| s.membership_changes,
    ),
    (
        "dynamo_storage_errors_total",
        "storage operations that failed",
        |s| s.storage_errors,
    ),
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "dynamo_requests_total",
                "client requests by port, operation and outcome",
            ),
            &["protocol", "op", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("dynamo_request_duration_seconds", "client request latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["protocol", "op"],
        )?;
        let siblings = prometheus::Histogram::with_opts(
            HistogramOpts::new("dynamo_read_siblings", "siblings returned per read")
                .buckets(vec![0.0, 1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 64.0]),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(siblings.clone()))?;
        let mut node_counters = Vec::new();
        for (name, help, field) in NODE_COUNTERS {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            node_counters.push((counter, field));
        }
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let gauge = IntGauge::new(name, help)?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        let transfers = IntGaugeVec::new(
            Opts::new(
                "dynamo_transfers",
                "partition transfers of the current ring epoch",
            ),
            &["state"],
        )?;
        let members = IntGaugeVec::new(
            Opts::new("dynamo_members", "members of this node's view by status"),
            &["status"],
        )?;
        registry.register(Box::new(transfers.clone()))?;
        registry.register(Box::new(members.clone()))?;
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let driver_busy = prometheus::CounterVec::new(
            Opts::new(
                "dynamo_driver_busy_seconds_total",
                "time the node's driver thread spent stepping the protocol, committing storage (with fsync) and releasing outputs",
            ),
            &["phase"],
        )?;
        registry.register(Box::new(driver_busy.clone()))?;
        let background_rounds = IntCounterVec::new(
            Opts::new(
                "dynamo_background_rounds_total",
                "background rounds (anti-entropy, handoff, transfer) due, by the admission controller's decision: run, or deferred one interval because clients were slow (Dynamo 6.5)",
            ),
            &["decision"],
        )?;
        registry.register(Box::new(background_rounds.clone()))?;
        let float_gauge =
            |name: &str, help: &str| -> Result<prometheus::Gauge, prometheus::Error> {
                let gauge = prometheus::Gauge::new(name, help)?;
                registry.register(Box::new(gauge.clone()))?;
                Ok(gauge)
            };
        let background_share = float_gauge(
            "dynamo_background_share",
            "share of due background rounds the admission controller lets run now (1/16 to 1)",
        )?;
        let background_client_p99 = float_gauge(
            "dynamo_background_client_p99_seconds",
            "client request p99 on the driver over the controller's window, at its last adjustment",
        )?;
        Ok(Self {
            background_rounds,
            background_share,
            background_client_p99,
            driver_batches: counter(
                "dynamo_driver_batches_total",
                "batches of events stepped by the driver, one group commit each",
            )?,
            driver_events: counter("dynamo_driver_events_total", "events stepped by the driver")?,
            driver_busy,
            hints_pending: gauge("dynamo_hints_pending", "hints held for unreachable homes")?,
            hint_bytes: gauge(
                "dynamo_hint_bytes",
                "bytes of hints held, all targets (each target is capped by hint_bytes_per_target_max)",
            )?,
            ring_epoch: gauge("dynamo_ring_epoch", "epoch of this node's ring")?,
            in_flight: gauge(
                "dynamo_requests_in_flight",
                "requests this node coordinates",
            )?,
            storage_bytes: gauge(
                "dynamo_storage_bytes",
                "bytes the storage engine's files take",
            )?,
            registry,
            requests,
            latency,
            siblings,
            node_counters,
            transfers,
            members,
        })
    }

    /// Record a finished client request.
    pub fn request(&self, protocol: &str, op: &str, outcome: &str, took: Duration) {
        self.requests
            .with_label_values(&[protocol, op, outcome])
            .inc();
        self.latency
            .with_label_values(&[protocol, op])
            .observe(took.as_secs_f64());
    }

    pub fn read_siblings(&self, count: usize) {
        self.siblings.observe(count as f64);
    }

    fn render_driver(&self, driver: &DriverStats) {
        self.driver_batches.reset();
        self.driver_batches.inc_by(driver.batches);
        self.driver_events.reset();
        self.driver_events.inc_by(driver.events);
        for (phase, took) in [
            ("step", driver.stepping),
            ("commit", driver.committing),
            ("release", driver.releasing),
        ] {
            let counter = self.driver_busy.with_label_values(&[phase]);
            counter.reset();
            counter.inc_by(took.as_secs_f64());
        }
        let admission = &driver.admission;
        for (decision, count) in [
            ("run", admission.rounds_run),
            ("deferred", admission.rounds_deferred),
        ] {
            let counter = self.background_rounds.with_label_values(&[decision]);
            counter.reset();
            counter.inc_by(count);
        }
        self.background_share.set(admission.share);
        let p99 = admission.p99.map_or(0.0, |p99| p99.as_secs_f64());
        self.background_client_p99.set(p99);
    }

    /// The text exposition, with the node's state copied in from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot, storage_bytes: Option<u64>) -> String {
        for (counter, field) in &self.node_counters {
            counter.reset();
            counter.inc_by(field(&snapshot.stats));
        }
        let done = snapshot.transfers.iter().filter(|t| t.done).count();
        let pending = snapshot.transfers.len() - done;
        self.transfers.with_label_values(&["done"]).set(done as i64);
        self.transfers
            .with_label_values(&["pending"])
            .set(pending as i64);
        for (status, name) in [
            (MemberStatus::Joining, "joining"),
            (MemberStatus::Valid, "valid"),
            (MemberStatus::Leaving, "leaving"),
            (MemberStatus::Left, "left"),
        ] {
            let count = snapshot.membership.members().values();
            let count = count.filter(|m| m.status == status).count();
            self.members.with_label_values(&[name]).set(count as i64);
        }
        self.hints_pending.set(snapshot.hints.unwrap_or(0) as i64);
        let hint_bytes: u64 = snapshot.hint_bytes.values().sum();
        self.hint_bytes.set(hint_bytes as i64);
        self.ring_epoch.set(snapshot.membership.epoch() as i64);
        self.in_flight.set(snapshot.in_flight as i64);
        self.storage_bytes.set(storage_bytes.unwrap_or(0) as i64);
        self.render_driver(&snapshot.driver);
        let mut out = Vec::new();
        let encoded = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        match encoded {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(error) => format!("# metrics encoding failed: {error}\n"),
        }
    }
}
