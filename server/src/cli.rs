//! The client and admin commands of the `dynamo` binary, over the partition-aware
//! client (`dynamo_server::client`) and the HTTP API.

use anyhow::{bail, Result};
use dynamo_core::types::NodeId;
use dynamo_server::client::{Client, Versions};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long `transfers --watch` waits for the moves to finish at most.
const WATCH_MAX: Duration = Duration::from_secs(3600);

pub async fn connect(seeds: &[String]) -> Result<Arc<Client>> {
    Ok(Client::connect(seeds).await?)
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
pub fn print_status(cluster: &Value) {
    println!(
        "node {} sees ring epoch {}, N={}, {} hints held, {} requests in flight",
        cluster["node"],
        cluster["epoch"],
        cluster["replication_factor"],
        cluster["hints"],
        cluster["in_flight"]
    );
    println!(
        "{:>4}  {:<8} {:<22} {:<22} {:>6}  {:<9} last seen",
        "id", "status", "http", "peer", "weight", "health"
    );
    for member in cluster["members"].as_array().into_iter().flatten() {
        let health = if member["suspected"].as_bool() == Some(true) {
            "suspected"
        } else {
            "ok"
        };
        let seen = member["last_seen_ms_ago"]
            .as_u64()
            .map_or("-".to_string(), |ms| format!("{ms} ms ago"));
        println!(
            "{:>4}  {:<8} {:<22} {:<22} {:>6}  {:<9} {seen}",
            member["id"],
            member["status"].as_str().unwrap_or("?"),
            member["http"].as_str().unwrap_or("-"),
            member["peer"].as_str().unwrap_or("-"),
            member["weight"],
            health
        );
    }
    print_transfer_summary(cluster);
}

/// `admin ring`: partitions owned per node and each partition's home replicas.
pub fn print_ring(cluster: &Value) {
    let partitions = cluster["partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut owned = std::collections::BTreeMap::<u64, usize>::new();
    for partition in &partitions {
        if let Some(owner) = partition["homes"][0].as_u64() {
            *owned.entry(owner).or_default() += 1;
        }
    }
    println!(
        "epoch {}, {} partitions",
        cluster["epoch"],
        partitions.len()
    );
    for (node, count) in &owned {
        println!("  node {node}: owns {count} partitions");
    }
    for partition in &partitions {
        println!("{:>6}  {}", partition["partition"], partition["homes"]);
    }
}

fn print_transfer_summary(cluster: &Value) {
    let total = cluster["transfers"]["total"].as_u64().unwrap_or(0);
    let done = cluster["transfers"]["done"].as_u64().unwrap_or(0);
    if total == 0 {
        println!("no partitions moving in this epoch");
    } else {
        println!("transfers {} {done}/{total}", bar(done, total));
    }
}

/// A 30-column progress bar.
fn bar(done: u64, total: u64) -> String {
    let filled = (done * 30).checked_div(total).unwrap_or(30) as usize;
    format!("[{}{}]", "#".repeat(filled), "-".repeat(30 - filled))
}

/// `admin transfers`: per receiving node, the partitions still moving; with `watch`,
/// redraw every second until every transfer of the epoch is done.
pub async fn transfers(client: &Client, watch: bool) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let cluster = client.cluster().await?;
        print_transfer_summary(&cluster);
        let pending = cluster["transfers"]["pending"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut by_receiver = std::collections::BTreeMap::<u64, Vec<u64>>::new();
        for moving in &pending {
            let (Some(to), Some(partition)) = (moving["to"].as_u64(), moving["partition"].as_u64())
            else {
                continue;
            };
            by_receiver.entry(to).or_default().push(partition);
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
            bail!("transfers still pending after {WATCH_MAX:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn change(client: &Client, action: &str, node: u32) -> Result<()> {
    let epoch = client.change(action, NodeId(node)).await?;
    println!("{action} of node {node} accepted: ring epoch {epoch}");
    println!("follow the partitions moving with: dynamo admin transfers --watch");
    Ok(())
}
