//! The client and admin commands of the `dynamo` binary, over the partition-aware
//! client (`dynamo_server::client`) and the HTTP API's typed documents
//! (`dynamo_server::view`).

use dynamo_core::types::NodeId;
use dynamo_server::client::{Client, ClientConfig, ClientError, Versions};
use dynamo_server::view::{ClusterView, MemberView};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long `transfers --watch` waits for the moves to finish at most.
const WATCH_MAX: Duration = Duration::from_secs(3600);

/// Why a client or admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("transfers still pending after {0:?}")]
    StillMoving(Duration),
}

/// The partition-aware client, as `config` says (a token, a CA for HTTPS).
pub async fn connect(seeds: &[String], config: ClientConfig) -> Result<Arc<Client>, CliError> {
    Ok(Client::connect_with(seeds, config).await?)
}

pub fn print_versions(versions: &Versions) {
    if versions.siblings.is_empty() {
        println!("(not found)");
    }
    for sibling in &versions.siblings {
        match sibling {
            Some(value) => println!("{}", String::from_utf8_lossy(value)),
            None => println!("(deleted)"),
        }
    }
    eprintln!("context: {}", versions.context);
}

/// `admin status`: members, their state, and what this node sees of them.
pub fn print_status(cluster: &ClusterView) {
    let hints = cluster.hints.map_or("?".to_string(), |h| h.to_string());
    println!(
        "node {} sees ring epoch {}, N={}, {hints} hints held, {} requests in flight",
        cluster.node.0, cluster.epoch, cluster.replication_factor, cluster.in_flight
    );
    println!(
        "{:>4}  {:<8} {:<22} {:<22} {:>6}  {:<10} {:<9} last seen",
        "id", "status", "http", "peer", "weight", "zone", "health"
    );
    for member in &cluster.members {
        print_member(member);
    }
    print_transfer_summary(cluster);
}

fn print_member(member: &MemberView) {
    let health = if member.suspected { "suspected" } else { "ok" };
    let seen = member
        .last_seen_ms_ago
        .map_or("-".to_string(), |ms| format!("{ms} ms ago"));
    println!(
        "{:>4}  {:<8} {:<22} {:<22} {:>6}  {:<10} {:<9} {seen}",
        member.id.0,
        member.status,
        member.http.as_deref().unwrap_or("-"),
        member.peer,
        member.weight,
        member.zone.as_deref().unwrap_or("-"),
        health
    );
}

/// `admin ring`: partitions owned per node and each partition's home replicas.
pub fn print_ring(cluster: &ClusterView) {
    let mut owned = BTreeMap::<u32, usize>::new();
    for partition in &cluster.partitions {
        if let Some(owner) = partition.homes.first() {
            *owned.entry(owner.0).or_default() += 1;
        }
    }
    println!(
        "epoch {}, {} partitions",
        cluster.epoch,
        cluster.partitions.len()
    );
    for (node, count) in &owned {
        println!("  node {node}: owns {count} partitions");
    }
    for partition in &cluster.partitions {
        let homes: Vec<u32> = partition.homes.iter().map(|home| home.0).collect();
        println!("{:>6}  {homes:?}", partition.partition.0);
    }
}

fn print_transfer_summary(cluster: &ClusterView) {
    let (done, total) = (cluster.transfers.done, cluster.transfers.total);
    if total == 0 {
        println!("no partitions moving in this epoch");
    } else {
        println!("transfers {} {done}/{total}", bar(done, total));
    }
}

/// A 30-column progress bar.
fn bar(done: usize, total: usize) -> String {
    let filled = (done * 30).checked_div(total).unwrap_or(30).min(30);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(30 - filled))
}

/// `admin transfers`: per receiving node, the partitions still moving; with `watch`,
/// redraw every second until every transfer of the epoch is done.
pub async fn transfers(client: &Client, watch: bool) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    loop {
        let cluster = client.cluster().await?;
        print_transfer_summary(&cluster);
        let pending = &cluster.transfers.pending;
        let mut by_receiver = BTreeMap::<u32, Vec<u32>>::new();
        for moving in pending {
            by_receiver
                .entry(moving.to.0)
                .or_default()
                .push(moving.partition.0);
        }
        for (node, partitions) in &by_receiver {
            println!(
                "  to node {node}: {} partitions pending {partitions:?}",
                partitions.len()
            );
        }
        if !watch || pending.is_empty() {
            return Ok(());
        }
        if started.elapsed() > WATCH_MAX {
            return Err(CliError::StillMoving(WATCH_MAX));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn change(client: &Client, action: &str, node: u32) -> Result<(), CliError> {
    let epoch = client.change(action, NodeId(node)).await?;
    println!("{action} of node {node} accepted: ring epoch {epoch}");
    println!("follow the partitions moving with: dynamo admin transfers --watch");
    Ok(())
}
