//! The set and counter workload Jepsen ran against Riak (issue 20), on dynamo's
//! convergent data types: concurrent RESP clients, one per node, alternately `SADD`
//! a unique element to one set and `INCR` one counter, while the run's nemesis
//! crashes, pauses and partitions nodes. After the heal every node must answer the
//! same set and counter, and the checker proves:
//! - no acknowledged `SADD` lost: each acknowledged element is in the final set;
//! - nothing from nowhere: each final element is one some client tried to add;
//! - the counter within `[acked, acked + unknown]`: every acknowledged `INCR` counts,
//!   and an `INCR` that failed or got no answer may or may not have (a refused write
//!   may still be stored on the coordinator, as Dynamo allows). A command whose
//!   connection was refused never reached a node and is not recorded.

use crate::harness::{Cluster, HarnessError};
use crate::run::{inject, wait_ready, Scenario};
use crate::workload::{Outcome, REQUEST_TIMEOUT};
use dynamo_server::resp::{call, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

/// The keys the workload writes.
pub const SET_KEY: &str = "jepsen-set";
pub const COUNTER_KEY: &str = "jepsen-counter";
/// Most operations one client makes (the duration usually ends the run first).
pub const OPS_MAX: usize = 20_000;
/// Most time the nodes get to agree on the final set and counter after the heal.
pub const AGREE_MAX: Duration = Duration::from_secs(120);

/// What one client did.
#[derive(Clone, Debug, Default)]
pub struct Ops {
    pub adds: Vec<(String, Outcome)>,
    pub increments: Vec<Outcome>,
}

/// The verdict and the figures of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub adds: [usize; 3],
    pub increments: [usize; 3],
    pub lost: Vec<String>,
    pub phantoms: Vec<String>,
    pub counter: Option<i64>,
    pub faults: usize,
    /// From the heal until every node answered the same set and counter.
    pub agreed_after: Option<Duration>,
}

fn index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Ok => 0,
        Outcome::Failed => 1,
        Outcome::Unknown => 2,
    }
}

impl Report {
    /// Acknowledged increments, and those whose outcome is not known.
    pub fn counter_bounds(&self) -> (i64, i64) {
        let [ok, failed, unknown] = self.increments.map(|n| n as i64);
        (ok, ok + failed + unknown)
    }

    pub fn counter_ok(&self) -> bool {
        let (low, high) = self.counter_bounds();
        self.counter
            .is_some_and(|value| low <= value && value <= high)
    }

    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.phantoms.is_empty()
            && self.counter_ok()
            && self.agreed_after.is_some()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [ok, failed, unknown] = self.adds;
        writeln!(f, "SADD: {ok} ok, {failed} failed, {unknown} unknown")?;
        let [ok, failed, unknown] = self.increments;
        writeln!(f, "INCR: {ok} ok, {failed} failed, {unknown} unknown")?;
        let (low, high) = self.counter_bounds();
        writeln!(f, "counter {:?}, bounds [{low}, {high}]", self.counter)?;
        writeln!(
            f,
            "faults {}, agreed after {:?}",
            self.faults, self.agreed_after
        )?;
        writeln!(f, "lost {:?}", self.lost)?;
        write!(f, "phantoms {:?}", self.phantoms)
    }
}

/// One command with the workload's deadline: the outcome and the reply; `None` when
/// the connection was refused, so the command never reached a node (not an operation).
async fn command(address: &str, args: &[&[u8]]) -> Option<(Outcome, Option<Value>)> {
    Some(
        match tokio::time::timeout(REQUEST_TIMEOUT, call(address, args)).await {
            Ok(Ok(Value::Error(_))) => (Outcome::Failed, None),
            Ok(Ok(value)) => (Outcome::Ok, Some(value)),
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => return None,
            _ => (Outcome::Unknown, None),
        },
    )
}

/// One client on node `address` until `duration` has passed since `epoch`.
pub async fn client(process: usize, address: String, duration: Duration, epoch: Instant) -> Ops {
    let mut ops = Ops::default();
    for op in 0..OPS_MAX {
        if epoch.elapsed() >= duration {
            break;
        }
        let element = format!("{process}-{op}");
        let args: Vec<&[u8]> = match op % 2 {
            0 => vec![b"SADD", SET_KEY.as_bytes(), element.as_bytes()],
            _ => vec![b"INCR", COUNTER_KEY.as_bytes()],
        };
        let Some((outcome, _)) = command(&address, &args).await else {
            // The node is down: nothing was sent; wait for its restart.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        match op % 2 {
            0 => ops.adds.push((element, outcome)),
            _ => ops.increments.push(outcome),
        }
        if outcome == Outcome::Failed {
            // An isolated node fails fast; do not spin on it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if op % 16 == 15 {
            // Let the nemesis's clock and the other clients run on two shared cores.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    ops
}

/// What every node answers for the set and the counter, once they all agree.
async fn agreed(cluster: &Cluster) -> Option<(BTreeSet<String>, i64)> {
    let deadline = Instant::now() + AGREE_MAX;
    while Instant::now() < deadline {
        let mut answers = Vec::new();
        for id in cluster.ids() {
            answers.push(read_final(&cluster.resp(id)).await);
        }
        if answers[0].is_some() && answers.iter().all(|a| *a == answers[0]) {
            return answers.swap_remove(0);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

async fn read_final(address: &str) -> Option<(BTreeSet<String>, i64)> {
    let members = match command(address, &[b"SMEMBERS", SET_KEY.as_bytes()]).await {
        Some((Outcome::Ok, Some(Value::Array(items)))) => items
            .into_iter()
            .map(|item| match item {
                Value::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                _ => None,
            })
            .collect::<Option<BTreeSet<String>>>()?,
        _ => return None,
    };
    let counter = match command(address, &[b"GET", COUNTER_KEY.as_bytes()]).await {
        Some((Outcome::Ok, Some(Value::Bulk(Some(bytes))))) => {
            String::from_utf8_lossy(&bytes).parse().ok()?
        }
        Some((Outcome::Ok, Some(Value::Bulk(None)))) => 0,
        _ => return None,
    };
    Some((members, counter))
}

/// Judge the clients' operations against what the nodes agreed on.
pub fn check(clients: &[Ops], agreed: Option<(BTreeSet<String>, i64)>) -> Report {
    let mut report = Report::default();
    let mut attempted = BTreeSet::new();
    let (members, counter) = match agreed {
        Some((members, counter)) => (members, Some(counter)),
        None => (BTreeSet::new(), None),
    };
    for ops in clients {
        for (element, outcome) in &ops.adds {
            report.adds[index(*outcome)] += 1;
            attempted.insert(element.clone());
            if *outcome == Outcome::Ok && !members.contains(element) {
                report.lost.push(element.clone());
            }
        }
        for outcome in &ops.increments {
            report.increments[index(*outcome)] += 1;
        }
    }
    report.phantoms = members.difference(&attempted).cloned().collect();
    report.counter = counter;
    report
}

/// Run the workload on `scenario`'s cluster under its nemesis; heal; check.
pub fn run(scenario: &Scenario) -> Result<(Report, Cluster), HarnessError> {
    let mut cluster = Cluster::start(scenario.options.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(wait_ready(&cluster))?;
    let epoch = Instant::now();
    let clients: Vec<_> = cluster
        .ids()
        .enumerate()
        .map(|(process, id)| {
            let address = cluster.resp(id);
            runtime.spawn(client(process, address, scenario.duration, epoch))
        })
        .collect();
    let windows = inject(&mut cluster, scenario, epoch, runtime.handle())?;
    cluster.heal_all()?;
    let healed = Instant::now();
    let ops: Vec<Ops> = runtime.block_on(async {
        let mut ops = Vec::new();
        for client in clients {
            ops.push(client.await.expect("a client task"));
        }
        ops
    });
    let agreed = runtime.block_on(agreed(&cluster));
    let mut report = check(&ops, agreed);
    report.agreed_after = report.counter.map(|_| healed.elapsed());
    report.faults = windows.len();
    Ok((report, cluster))
}
