//! One Jepsen-style run: start a cluster, run the workload while a nemesis injects
//! faults, heal, wait until replicas converge, read the final state, check.

use crate::checker::{self, Report};
use crate::harness::{Cluster, HarnessError, Options};
use crate::workload::{self, History, Plan, Via};
use dynamo_core::prng::Prng;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Most time the cluster gets to converge after the heal.
pub const CONVERGE_MAX: Duration = Duration::from_secs(120);

/// What the nemesis does.
#[derive(Clone, Copy, Debug)]
pub enum Nemesis {
    /// One fault at a time, chosen by the seed: crash and restart a node, pause and
    /// resume one, or partition one from the others; each held a few seconds.
    Mixed,
    /// Partition `node` from every other node, then crash it while still cut off,
    /// then heal and restart it (the planted-bug scenario).
    IsolateThenCrash(u8),
    /// Join each spare node to the ring, wait until its partitions moved, hold, then
    /// remove it and wait until they moved back (Dynamo §4.9), all under load.
    Membership,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub options: Options,
    pub duration: Duration,
    pub keys: usize,
    /// Query for HTTP clients, e.g. `?r=1&w=1`.
    pub query: String,
    pub seed: u64,
    pub nemesis: Nemesis,
}

/// Run `scenario`; the report says whether anything was lost.
pub fn run(scenario: &Scenario) -> Result<(Report, Cluster), HarnessError> {
    let mut cluster = Cluster::start(scenario.options.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(wait_ready(&cluster))?;
    let epoch = Instant::now();
    let workers = spawn_workers(&runtime, &cluster, scenario, epoch);
    let windows = inject(&mut cluster, scenario, epoch, runtime.handle())?;
    cluster.heal_all()?;
    let healed = Instant::now();
    let histories: Vec<History> = runtime.block_on(async {
        let mut histories = Vec::new();
        for worker in workers {
            histories.push(worker.await.expect("a workload task"));
        }
        histories
    });
    let converged = runtime
        .block_on(converge(&cluster))
        .then(|| healed.elapsed());
    let state = runtime.block_on(final_state(&cluster, scenario.keys))?;
    let mut report = checker::check(&histories, &state, &windows);
    report.converged_after = converged;
    Ok((report, cluster))
}

fn spawn_workers(
    runtime: &tokio::runtime::Runtime,
    cluster: &Cluster,
    scenario: &Scenario,
    epoch: Instant,
) -> Vec<tokio::task::JoinHandle<History>> {
    let plan = Plan {
        keys: scenario.keys,
        duration: scenario.duration,
        ops_max: 100_000,
        query: scenario.query.clone(),
        seed: scenario.seed,
    };
    let mut vias: Vec<Via> = cluster
        .ids()
        .map(|id| Via::Http(cluster.http(id)))
        .collect();
    vias.extend(cluster.ids().map(|id| Via::Resp(cluster.resp(id))));
    vias.push(Via::Client(
        cluster.ids().map(|id| cluster.http(id)).collect(),
    ));
    vias.into_iter()
        .enumerate()
        .map(|(process, via)| runtime.spawn(workload::run(process, via, plan.clone(), epoch)))
        .collect()
}

/// Run the nemesis for the scenario's duration; the fault windows since `epoch`.
pub(crate) fn inject(
    cluster: &mut Cluster,
    scenario: &Scenario,
    epoch: Instant,
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<(Duration, Duration)>, HarnessError> {
    let hold = Duration::from_secs(3);
    let mut windows = Vec::new();
    let mut prng = Prng::new(scenario.seed);
    match scenario.nemesis {
        Nemesis::Mixed => {
            while epoch.elapsed() + hold < scenario.duration {
                std::thread::sleep(Duration::from_secs(1));
                let node = 1 + prng.below(u64::from(cluster.options.nodes)) as u8;
                let start = epoch.elapsed();
                fault(cluster, prng.below(3), node, hold)?;
                windows.push((start, epoch.elapsed()));
            }
        }
        Nemesis::IsolateThenCrash(node) => {
            std::thread::sleep(Duration::from_secs(1));
            let start = epoch.elapsed();
            isolate(cluster, node)?;
            std::thread::sleep(scenario.duration / 2);
            cluster.crash(node);
            cluster.heal()?;
            cluster.restart(node)?;
            windows.push((start, epoch.elapsed()));
            std::thread::sleep(scenario.duration.saturating_sub(epoch.elapsed()));
        }
        Nemesis::Membership => {
            let spares: Vec<u8> = cluster.spare_ids().collect();
            for spare in spares {
                std::thread::sleep(Duration::from_secs(1));
                let start = epoch.elapsed();
                runtime.block_on(change_and_settle(cluster, "join", spare))?;
                expect_homes(runtime, cluster, spare, true)?;
                std::thread::sleep(hold);
                runtime.block_on(change_and_settle(cluster, "leave", spare))?;
                expect_homes(runtime, cluster, spare, false)?;
                windows.push((start, epoch.elapsed()));
            }
            std::thread::sleep(scenario.duration.saturating_sub(epoch.elapsed()));
        }
    }
    Ok(windows)
}

/// Check, in node 1's ring, that `node` is a home of some partition (`true`) or of
/// none (`false`): the change really moved data.
fn expect_homes(
    runtime: &tokio::runtime::Handle,
    cluster: &Cluster,
    node: u8,
    expected: bool,
) -> Result<(), HarnessError> {
    let http = reqwest::Client::new();
    let view = runtime.block_on(view(&http, &cluster.http(1)));
    let partitions = view
        .map(|view| view["partitions"].clone())
        .unwrap_or_default();
    let homes = partitions.as_array().cloned().unwrap_or_default();
    let owned = homes
        .iter()
        .filter(|p| {
            p["homes"]
                .as_array()
                .is_some_and(|h| h.contains(&node.into()))
        })
        .count();
    if (owned > 0) == expected {
        return Ok(());
    }
    Err(HarnessError::Command {
        what: format!("membership change of n{node}"),
        detail: format!("n{node} is a home of {owned} partitions in n1's ring"),
    })
}

/// Most time a membership change gets to move its partitions.
pub const SETTLE_MAX: Duration = Duration::from_secs(90);

/// Ask node 1 to `join` or `leave` `node`; wait (bounded) until every node, the
/// changed one included, reports the new ring epoch with no transfer pending.
async fn change_and_settle(cluster: &Cluster, action: &str, node: u8) -> Result<(), HarnessError> {
    let http = reqwest::Client::new();
    let failed = |detail: String| HarnessError::Command {
        what: format!("{action} n{node}"),
        detail,
    };
    let url = format!("http://{}/v1/admin/{action}/{node}", cluster.http(1));
    let response = http
        .post(url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        let status = response.status();
        return Err(failed(format!(
            "{status}: {}",
            response.text().await.unwrap_or_default()
        )));
    }
    let answer: Value = response.json().await.map_err(|e| failed(e.to_string()))?;
    let epoch = answer["epoch"].clone();
    let deadline = Instant::now() + SETTLE_MAX;
    // A node that left stops hearing of later epochs: only members are waited for.
    let changed = (action == "join").then_some(node);
    let nodes: Vec<u8> = cluster.ids().chain(changed).collect();
    for id in nodes {
        loop {
            let settled = view(&http, &cluster.http(id)).await.is_some_and(|view| {
                view["epoch"] == epoch
                    && view["transfers"]["pending"]
                        .as_array()
                        .is_some_and(Vec::is_empty)
            });
            if settled {
                break;
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout(format!(
                    "n{id} to settle after {action} n{node}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// One fault on `node`, held for `hold`, then undone.
fn fault(cluster: &mut Cluster, kind: u64, node: u8, hold: Duration) -> Result<(), HarnessError> {
    match kind {
        0 => {
            cluster.crash(node);
            std::thread::sleep(hold);
            cluster.restart(node)
        }
        1 => {
            cluster.pause(node)?;
            std::thread::sleep(hold);
            cluster.resume(node)
        }
        _ => {
            isolate(cluster, node)?;
            std::thread::sleep(hold);
            cluster.heal()
        }
    }
}

fn isolate(cluster: &mut Cluster, node: u8) -> Result<(), HarnessError> {
    let others: Vec<u8> = cluster.ids().filter(|id| *id != node).collect();
    for other in others {
        cluster.partition(node, other)?;
    }
    Ok(())
}

async fn view(http: &reqwest::Client, address: &str) -> Option<Value> {
    let response = http
        .get(format!("http://{address}/v1/cluster"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// Wait until every node answers a quorum write (peers found each other).
pub(crate) async fn wait_ready(cluster: &Cluster) -> Result<(), HarnessError> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in cluster.ids() {
        let url = format!("http://{}/v1/kv/ready-{id}", cluster.http(id));
        loop {
            let answer = http.put(&url).body("1").send().await;
            if answer.is_ok_and(|r| r.status().as_u16() == 204) {
                break;
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout(format!("n{id} to serve")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Wait (bounded) until, for every partition, all its home replicas report the same
/// Merkle root: the replicas hold the same versions.
async fn converge(cluster: &Cluster) -> bool {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + CONVERGE_MAX;
    while Instant::now() < deadline {
        let mut views = BTreeMap::new();
        for id in cluster.ids() {
            if let Some(view) = view(&http, &cluster.http(id)).await {
                views.insert(u64::from(id), view);
            }
        }
        if views.len() == usize::from(cluster.options.nodes) && agree(&views) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

fn agree(views: &BTreeMap<u64, Value>) -> bool {
    let Some(any) = views.values().next() else {
        return false;
    };
    let partitions = any["partitions"].as_array().cloned().unwrap_or_default();
    partitions.iter().all(|partition| {
        let index = partition["partition"].to_string();
        let homes = partition["homes"].as_array().cloned().unwrap_or_default();
        let roots: BTreeSet<String> = homes
            .iter()
            .filter_map(|home| views.get(&home.as_u64()?))
            .map(|view| view["merkle_roots"][&index].to_string())
            .collect();
        roots.len() == 1
    })
}

/// Every key's live values, read through every node with all replicas (`r=N`); the
/// reads must agree.
async fn final_state(
    cluster: &Cluster,
    keys: usize,
) -> Result<BTreeMap<String, BTreeSet<String>>, HarnessError> {
    let http = reqwest::Client::new();
    let mut state = BTreeMap::new();
    for index in 0..keys {
        let key = format!("k{index}");
        let mut reads = BTreeSet::new();
        for id in cluster.ids() {
            let url = format!("http://{}/v1/kv/{key}?r=3", cluster.http(id));
            let response = http
                .get(url)
                .send()
                .await
                .map_err(|e| HarnessError::Command {
                    what: format!("final read of {key} through n{id}"),
                    detail: e.to_string(),
                })?;
            let values: BTreeSet<String> = match response.status().as_u16() {
                200 => BTreeSet::from([response.text().await.unwrap_or_default()]),
                300 => {
                    let body: Value = response.json().await.unwrap_or_default();
                    workload::decode_siblings(&body).into_iter().collect()
                }
                _ => BTreeSet::new(),
            };
            reads.insert(values);
        }
        if reads.len() != 1 {
            return Err(HarnessError::Command {
                what: format!("final reads of {key}"),
                detail: format!("nodes disagree: {reads:?}"),
            });
        }
        state.insert(key, reads.into_iter().next().unwrap_or_default());
    }
    Ok(state)
}
