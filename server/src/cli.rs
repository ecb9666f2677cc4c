//! The client and admin commands of the `dynamo` binary, over the partition-aware
//! client (`dynamo_server::client`) and the HTTP API's typed documents
//! (`dynamo_server::view`).

use dynamo_core::types::NodeId;
use dynamo_server::backup::{self, BackupError, BackupOptions, RestoreOptions, Summary};
use dynamo_server::client::{Client, ClientConfig, ClientError, Versions};
use dynamo_server::view::{ClusterView, MemberView};
use std::collections::BTreeMap;
use std::path::PathBuf;
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
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("{0} partitions not restored (listed above)")]
    NotRestored(usize),
    #[error("{path}: {error}")]
    File { path: String, error: std::io::Error },
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

/// Longest `admin replace` waits for the removed node's partitions to be re-sourced.
const REPLACE_WAIT_MAX: Duration = Duration::from_secs(3600);

/// `admin replace OLD NEW`: remove `old`, wait until no transfer is pending, join
/// `new` (each step its own epoch; the claimant makes both).
pub async fn replace(client: &Client, old: u32, new: u32) -> Result<(), CliError> {
    change(client, "remove", old).await?;
    let started = std::time::Instant::now();
    loop {
        let view = client.cluster().await?;
        let pending = view.transfers.pending.len();
        if pending == 0 {
            break;
        }
        if started.elapsed() > REPLACE_WAIT_MAX {
            println!("join node {new} once they are done: dynamo admin join {new}");
            return Err(CliError::StillMoving(REPLACE_WAIT_MAX));
        }
        println!("re-sourcing node {old}'s partitions: {pending} transfers pending");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    change(client, "join", new).await
}

fn print_rates(verb: &str, summary: &Summary) {
    println!(
        "{verb}: {} keys, {:.1} MB in {:.1} s: {:.0} keys/s, {:.1} MB/s",
        summary.keys,
        summary.bytes as f64 / 1e6,
        summary.elapsed.as_secs_f64(),
        summary.keys_per_second(),
        summary.megabytes_per_second()
    );
}

/// `admin backup DIR`.
pub async fn backup(
    client: &Client,
    dir: PathBuf,
    rate_mb: u64,
    parallel: usize,
) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let mut options = BackupOptions::new(&dir);
    options.rate_bytes = (rate_mb > 0).then_some(rate_mb * 1_000_000);
    options.parallel = parallel;
    options.progress = true;
    let manifest = backup::backup(client, &options).await?;
    let unverified = manifest.partitions.iter().filter(|p| !p.verified).count();
    let totals = &manifest.totals;
    let summary = Summary {
        keys: totals.keys,
        bytes: totals.file_bytes,
        elapsed: started.elapsed(),
        ..Summary::default()
    };
    print_rates("backed up", &summary);
    println!(
        "{} partitions into {}: {} live keys, {} deleted, {} with siblings; {unverified} partitions unverified",
        manifest.partitions.len(),
        dir.display(),
        totals.live_keys,
        totals.deleted_keys,
        totals.keys_with_siblings
    );
    Ok(())
}

/// `admin restore DIR`: every partition that cannot be restored is listed, the rest
/// restore; the exit status says whether all did.
pub async fn restore(client: &Client, dir: PathBuf, parallel: usize) -> Result<(), CliError> {
    let mut options = RestoreOptions::new(dir);
    options.parallel = parallel;
    options.progress = true;
    let summary = backup::restore(client, &options).await?;
    print_rates("restored", &summary);
    println!(
        "{} partitions restored: {} entries merged on homes, {} changed a replica",
        summary.partitions, summary.merged, summary.changed
    );
    for (_, reason) in &summary.refused {
        eprintln!("error: {reason}");
    }
    match summary.refused.len() {
        0 => Ok(()),
        refused => Err(CliError::NotRestored(refused)),
    }
}

pub async fn snapshot(client: &Client, node: u32) -> Result<(), CliError> {
    let done = backup::snapshot(client, NodeId(node)).await?;
    println!(
        "node {node}: {} files, {:.1} MB copied to {} (driver paused {} ms)",
        done.files,
        done.bytes as f64 / 1e6,
        done.path,
        done.paused_ms
    );
    Ok(())
}

fn file_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |error| CliError::File {
        path: path.display().to_string(),
        error,
    }
}

pub async fn export(client: &Client, file: &std::path::Path) -> Result<(), CliError> {
    let options = BackupOptions::new(".");
    let summary = if file.as_os_str() == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        backup::jsonl::export(client, &mut out, &options).await?
    } else {
        let created = std::fs::File::create(file).map_err(file_error(file))?;
        let mut out = std::io::BufWriter::new(created);
        backup::jsonl::export(client, &mut out, &options).await?
    };
    eprintln!(
        "exported {} keys ({:.1} MB)",
        summary.keys,
        summary.bytes as f64 / 1e6
    );
    Ok(())
}

pub async fn import(client: &Client, file: &std::path::Path) -> Result<(), CliError> {
    let options = RestoreOptions::new(".");
    let summary = if file.as_os_str() == "-" {
        let mut input = std::io::stdin().lock();
        backup::jsonl::import(client, &mut input, &options).await?
    } else {
        let opened = std::fs::File::open(file).map_err(file_error(file))?;
        let mut input = std::io::BufReader::new(opened);
        backup::jsonl::import(client, &mut input, &options).await?
    };
    print_rates("imported", &summary);
    println!(
        "{} entries merged on homes, {} changed a replica",
        summary.merged, summary.changed
    );
    Ok(())
}
