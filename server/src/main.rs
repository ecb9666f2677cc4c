//! `dynamo`: run a node (`serve`), a local cluster (`dev`), or talk to one
//! (`get`, `put`, `del`, `admin`).

mod cli;

/// mimalloc rather than glibc's malloc: buffers cross threads (a tokio worker
/// allocates a request, the driver frees it, and back for the reply), and glibc's
/// arena locks and consolidation showed in profiles (see docs/bench/ANALYSIS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
#[cfg(feature = "mutants")]
use dynamo_core::mutant::Mutant;
use dynamo_core::types::NodeId;
use dynamo_server::auth::{UserConfig, Users};
use dynamo_server::client::ClientConfig;
use dynamo_server::server::{self, ClientOptions, NodeSettings, Placement, Running};
use dynamo_server::storage::{Durability, LsmStore};
use dynamo_server::tls::TlsConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The storage engine's directory inside a node's data directory.
const STORE_DIR: &str = "store";
/// The visualiser page, relative to a checkout's root.
const UI_DIR: &str = "wasm/www";

#[derive(Parser)]
#[command(
    name = "dynamo",
    version,
    about = "Amazon's Dynamo: a highly available, always-writeable key-value store"
)]
struct Cli {
    /// Log as JSON lines instead of text (filter with RUST_LOG, default info).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run one node of a cluster.
    Serve(ServeArgs),
    /// Run a local development cluster in this process (Ctrl-C stops it; data persists).
    Dev(DevArgs),
    /// Read a key: prints every concurrent value and the context (to stderr).
    Get {
        key: String,
        #[command(flatten)]
        seeds: Seeds,
    },
    /// Write a key. Without --context it supersedes what a read sees; with one it
    /// supersedes exactly what that context covers (an empty one: a blind write).
    Put {
        key: String,
        value: String,
        #[arg(long)]
        context: Option<String>,
        #[command(flatten)]
        seeds: Seeds,
    },
    /// Delete a key (a tombstone over the versions a read sees, or over --context).
    Del {
        key: String,
        #[arg(long)]
        context: Option<String>,
        #[command(flatten)]
        seeds: Seeds,
    },
    /// Operate a cluster through its HTTP API.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
        #[command(flatten)]
        seeds: Seeds,
    },
}

/// Where the client commands find the cluster.
#[derive(Args)]
struct Seeds {
    /// HTTP address of any node, repeated; the client learns the rest from it.
    #[arg(long = "addr", default_value = "127.0.0.1:7201", global = true)]
    addrs: Vec<String>,
    /// HTTP bearer token, when the cluster has users (or env DYNAMO_TOKEN).
    #[arg(long, env = "DYNAMO_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// CA certificate (PEM) of nodes serving TLS: the client then speaks HTTPS (or env
    /// DYNAMO_CACERT).
    #[arg(long, env = "DYNAMO_CACERT", global = true)]
    cacert: Option<PathBuf>,
}

impl Seeds {
    fn config(&self) -> ClientConfig {
        ClientConfig {
            token: self.token.clone(),
            tls_ca: self.cacert.clone(),
        }
    }
}

#[derive(Subcommand)]
enum AdminAction {
    /// Members, their status and health, and transfer progress.
    Status,
    /// Partitions per node and every partition's home replicas.
    Ring,
    /// Add a node that started with --seed (status joining) to the ring.
    Join { node: u32 },
    /// Remove a node from the ring; its partitions move away first.
    Leave { node: u32 },
    /// Remove a node gone for good (its disk lost, never coming back): its partitions
    /// are re-sourced from surviving replicas, hints for it go to the new homes.
    Remove { node: u32 },
    /// Replace a node gone for good with a new one (started with --seed): remove the
    /// old, wait until its partitions are re-sourced, then join the new.
    Replace { old: u32, new: u32 },
    /// Partitions still moving in this ring epoch.
    Transfers {
        /// Redraw every second until every transfer is done.
        #[arg(long)]
        watch: bool,
    },
    /// Back every partition up into DIR (a manifest and a checksummed file per
    /// partition); run again on the same DIR to resume an interrupted backup.
    Backup {
        dir: PathBuf,
        /// Read at most this many MB/s from the cluster (0: unpaced).
        #[arg(long, default_value_t = 64)]
        rate_mb: u64,
        /// Partitions read at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Restore a backup DIR into this cluster (any size or partition count): entries
    /// merge with what the cluster holds, never overwriting a newer version.
    Restore {
        dir: PathBuf,
        /// Partition files restored at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Copy node NODE's store, with its driver paused, under its data directory's
    /// snapshots/.
    Snapshot { node: u32 },
    /// Export every key as JSON lines to FILE ("-": standard output).
    Export { file: PathBuf },
    /// Import JSON lines written by export from FILE ("-": standard input).
    Import { file: PathBuf },
}

#[derive(Clone, Copy, Debug, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
enum DurabilityArg {
    /// fsync every group commit before acknowledging (the default).
    Durable,
    /// Commit to the OS and fsync every second: a killed process loses nothing
    /// acknowledged, a power loss up to a second of acknowledged writes.
    Buffered,
}

#[derive(Args, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ServeArgs {
    /// TOML file with any of these options (kebab-case keys); flags override it.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster, never reused).
    #[arg(long)]
    id: Option<u32>,
    /// Directory of this node's data (created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Redis-protocol client address [default: 127.0.0.1:6379].
    #[arg(long)]
    client_listen: Option<SocketAddr>,
    /// Peer (node-to-node) address [default: 127.0.0.1:7379].
    #[arg(long)]
    peer_listen: Option<SocketAddr>,
    /// HTTP API, metrics and health address [default: 127.0.0.1:8080].
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Cluster name: peers of another cluster are refused [default: dynamo].
    #[arg(long)]
    cluster: Option<String>,
    /// Shared cluster secret authenticating peers (or env DYNAMO_SECRET).
    #[arg(long, env = "DYNAMO_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// This node's weight: its share of partitions is in proportion to it [default: 1].
    #[arg(long)]
    weight: Option<u32>,
    /// This node's zone (rack, data center): a key's homes span distinct zones first.
    #[arg(long)]
    zone: Option<String>,
    /// Founding member ID=PEER_ADDRESS[,weight=W][,zone=Z], repeated; every founder
    /// lists the same set with the same weights and zones.
    #[arg(long = "member")]
    #[serde(default)]
    members: Vec<String>,
    /// Seed ID=PEER_ADDRESS to contact when joining an existing cluster, repeated.
    #[arg(long = "seed")]
    #[serde(default)]
    seeds: Vec<String>,
    /// Partitions of the ring, a power of two fixed at cluster creation [default: 1024].
    #[arg(long)]
    partitions: Option<u32>,
    /// N: replicas of each key [default: 3].
    #[arg(long, short = 'N')]
    replication_factor: Option<usize>,
    /// R: replies a read waits for [default: 2].
    #[arg(long, short = 'R')]
    read_quorum: Option<usize>,
    /// W: acknowledgements a write waits for [default: 2].
    #[arg(long, short = 'W')]
    write_quorum: Option<usize>,
    /// Storage durability [default: durable].
    #[arg(long, value_enum)]
    durability: Option<DurabilityArg>,
    /// TESTS ONLY (builds with the `mutants` feature): run a deliberately broken node
    /// to prove the checkers catch it; the names are `dynamo_core::mutant::Mutant::ALL`.
    #[cfg(feature = "mutants")]
    #[arg(long, hide = true)]
    #[serde(skip)]
    mutant: Option<Mutant>,
    /// Password of the `default` user (admin): clients then authenticate (RESP
    /// `AUTH <password>`, HTTP `Authorization: Bearer <password>`).
    #[arg(long, env = "DYNAMO_REQUIREPASS", hide_env_values = true)]
    requirepass: Option<String>,
    /// Users, in the config file only: `[[users]]` tables of `name`, `password`,
    /// `role` ("readonly", "readwrite" or "admin") and optional HTTP `token`.
    #[arg(skip)]
    #[serde(default)]
    users: Vec<UserConfig>,
    /// PEM certificate chain: the RESP and HTTP ports then speak TLS only (with
    /// --tls-key; the peer port is unchanged).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Redis-protocol connections served at once; one more is answered
    /// `-ERR max number of clients reached` and closed [default: 1024].
    #[arg(long)]
    max_clients: Option<usize>,
    /// Serve this directory (the visualiser, `wasm/www`) under /ui/ on the HTTP port.
    #[arg(long)]
    ui_dir: Option<PathBuf>,
    /// TESTS ONLY: make every storage sync after this many fail, as a failing disk
    /// would, to prove the node then stops and exits non-zero.
    #[arg(long, hide = true)]
    #[serde(skip)]
    fail_syncs_after: Option<u64>,
}

#[derive(Args)]
struct DevArgs {
    /// Nodes in the local cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    /// Directory holding every node's data.
    #[arg(long, default_value = ".dynamo-dev")]
    data_dir: PathBuf,
    /// Node i listens for RESP clients on 127.0.0.1:(base+i), for peers on (base+100+i)
    /// and for HTTP on (base+200+i).
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Dev(args) => dev(args).await,
            Command::Get { key, seeds } => {
                let client = cli::connect(&seeds.addrs, seeds.config()).await?;
                cli::print_versions(&client.get(&key).await?);
                Ok(())
            }
            Command::Put {
                key,
                value,
                context,
                seeds,
            } => {
                let client = cli::connect(&seeds.addrs, seeds.config()).await?;
                let context = client
                    .put(&key, value.as_bytes(), context.as_deref())
                    .await?;
                println!("OK\ncontext: {context}");
                Ok(())
            }
            Command::Del {
                key,
                context,
                seeds,
            } => {
                let client = cli::connect(&seeds.addrs, seeds.config()).await?;
                let context = client.delete(&key, context.as_deref()).await?;
                println!("OK\ncontext: {context}");
                Ok(())
            }
            Command::Admin { action, seeds } => admin(action, &seeds).await,
        }
    })
}

async fn admin(action: AdminAction, seeds: &Seeds) -> Result<()> {
    let client = cli::connect(&seeds.addrs, seeds.config()).await?;
    match action {
        AdminAction::Status => cli::print_status(&client.cluster().await?),
        AdminAction::Ring => cli::print_ring(&client.cluster().await?),
        AdminAction::Join { node } => cli::change(&client, "join", node).await?,
        AdminAction::Leave { node } => cli::change(&client, "leave", node).await?,
        AdminAction::Remove { node } => cli::change(&client, "remove", node).await?,
        AdminAction::Replace { old, new } => cli::replace(&client, old, new).await?,
        AdminAction::Transfers { watch } => cli::transfers(&client, watch).await?,
        AdminAction::Backup {
            dir,
            rate_mb,
            parallel,
        } => cli::backup(&client, dir, rate_mb, parallel).await?,
        AdminAction::Restore { dir, parallel } => cli::restore(&client, dir, parallel).await?,
        AdminAction::Snapshot { node } => cli::snapshot(&client, node).await?,
        AdminAction::Export { file } => cli::export(&client, &file).await?,
        AdminAction::Import { file } => cli::import(&client, &file).await?,
    }
    Ok(())
}

fn init_logging(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Founding members: `ID=ADDRESS[,weight=W][,zone=Z]` each; their addresses and the
/// placements that differ from the default.
fn parse_members(
    entries: &[String],
) -> Result<(BTreeMap<NodeId, String>, BTreeMap<NodeId, Placement>)> {
    let mut addresses = Vec::new();
    let mut placements = BTreeMap::new();
    for entry in entries {
        let mut parts = entry.split(',');
        let peer = parts.next().unwrap_or_default();
        addresses.push(peer.to_string());
        let id = peer.split_once('=').map(|(id, _)| id).unwrap_or_default();
        let mut placement = Placement::default();
        for option in parts {
            match option.split_once('=') {
                Some(("weight", weight)) => placement.weight = parse_weight(weight)?,
                Some(("zone", zone)) if !zone.is_empty() => placement.zone = Some(zone.into()),
                _ => bail!("{option:?} in --member {entry:?} is not weight=W or zone=Z"),
            }
        }
        if placement != Placement::default() {
            let id: u32 = id
                .parse()
                .with_context(|| format!("{id:?} is not a node id"))?;
            placements.insert(NodeId(id), placement);
        }
    }
    Ok((parse_peers(&addresses)?, placements))
}

fn parse_weight(weight: &str) -> Result<u32> {
    match weight.parse::<u32>() {
        Ok(weight) if weight > 0 => Ok(weight),
        _ => bail!("weight {weight:?} is not a whole number of at least 1"),
    }
}

/// This node's placement from `--weight`/`--zone`, checked against its own `--member`
/// entry: founders derive the first ring from the member list, so they must agree.
fn own_placement(
    id: NodeId,
    (weight, zone): (Option<u32>, Option<String>),
    placements: &mut BTreeMap<NodeId, Placement>,
    founder: bool,
) -> Result<()> {
    if weight == Some(0) {
        bail!("--weight must be at least 1");
    }
    let listed = placements.get(&id).cloned().unwrap_or_default();
    let wanted = Placement {
        weight: weight.unwrap_or(listed.weight),
        zone: zone.or(listed.zone.clone()),
    };
    if founder && wanted != listed {
        bail!(
            "--weight/--zone ({wanted:?}) differ from this node's --member entry ({listed:?}); \
             founders derive the first ring from the --member list, so give them there"
        );
    }
    if wanted != Placement::default() {
        placements.insert(id, wanted);
    }
    Ok(())
}

fn parse_peers(entries: &[String]) -> Result<BTreeMap<NodeId, String>> {
    let mut peers = BTreeMap::new();
    for entry in entries {
        let (id, address) = entry
            .split_once('=')
            .with_context(|| format!("{entry:?} is not ID=ADDRESS"))?;
        let id: u32 = id
            .parse()
            .with_context(|| format!("{id:?} is not a node id"))?;
        address
            .parse::<SocketAddr>()
            .with_context(|| format!("{address:?} is not a socket address"))?;
        peers.insert(NodeId(id), address.to_string());
    }
    Ok(peers)
}

fn load(args: ServeArgs) -> Result<(NodeSettings, PathBuf, Durability)> {
    let file: ServeArgs = match &args.config {
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?,
        )
        .with_context(|| format!("parse {}", path.display()))?,
        None => ServeArgs::default(),
    };
    let id = args.id.or(file.id).context("--id is required")?;
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .context("--data-dir is required")?;
    let members = if args.members.is_empty() {
        file.members
    } else {
        args.members
    };
    let seeds = if args.seeds.is_empty() {
        file.seeds
    } else {
        args.seeds
    };
    let (members, mut placements) = parse_members(&members)?;
    let placement = (args.weight.or(file.weight), args.zone.or(file.zone));
    let founder = members.contains_key(&NodeId(id));
    own_placement(NodeId(id), placement, &mut placements, founder)?;
    let settings = NodeSettings {
        id: NodeId(id),
        client_listen: args
            .client_listen
            .or(file.client_listen)
            .unwrap_or_else(|| "127.0.0.1:6379".parse().expect("valid")),
        peer_listen: args
            .peer_listen
            .or(file.peer_listen)
            .unwrap_or_else(|| "127.0.0.1:7379".parse().expect("valid")),
        http_listen: args
            .http_listen
            .or(file.http_listen)
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid")),
        store_dir: Some(data_dir.join(STORE_DIR)),
        cluster: args
            .cluster
            .or(file.cluster)
            .unwrap_or_else(|| "dynamo".into()),
        secret: args
            .secret
            .or(file.secret)
            .context("a cluster secret is required (--secret or DYNAMO_SECRET)")?,
        members,
        seeds: parse_peers(&seeds)?,
        placements,
        partitions: args.partitions.or(file.partitions).unwrap_or(1024),
        replication_factor: args
            .replication_factor
            .or(file.replication_factor)
            .unwrap_or(3),
        read_quorum: args.read_quorum.or(file.read_quorum).unwrap_or(2),
        write_quorum: args.write_quorum.or(file.write_quorum).unwrap_or(2),
        ui_dir: args.ui_dir.or(file.ui_dir),
    };
    let durability = match args
        .durability
        .or(file.durability)
        .unwrap_or(DurabilityArg::Durable)
    {
        DurabilityArg::Durable => Durability::Durable,
        DurabilityArg::Buffered => Durability::Buffered,
    };
    Ok((settings, data_dir, durability))
}

/// The client ports' options: flags over the config file, as `load` does.
fn client_options(args: &ServeArgs) -> Result<ClientOptions> {
    let file: ServeArgs = match &args.config {
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?,
        )
        .with_context(|| format!("parse {}", path.display()))?,
        None => ServeArgs::default(),
    };
    let requirepass = args.requirepass.as_ref().or(file.requirepass.as_ref());
    let users = Users::new(&file.users, requirepass.map(String::as_str))?;
    let cert = args.tls_cert.as_ref().or(file.tls_cert.as_ref());
    let key = args.tls_key.as_ref().or(file.tls_key.as_ref());
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig::load(cert, key)?),
        (None, None) => None,
        _ => bail!("tls-cert and tls-key go together"),
    };
    let defaults = ClientOptions::default();
    Ok(ClientOptions {
        max_clients: args
            .max_clients
            .or(file.max_clients)
            .unwrap_or(defaults.max_clients),
        users: Arc::new(users),
        tls,
    })
}

/// Say so when the client ports take anyone's commands from beyond this machine.
fn warn_if_open(settings: &NodeSettings, clients: &ClientOptions) {
    let exposed = [settings.client_listen, settings.http_listen]
        .into_iter()
        .filter(|address| !address.ip().is_loopback())
        .map(|address| address.to_string())
        .collect::<Vec<_>>();
    if !clients.users.required() && !exposed.is_empty() {
        tracing::warn!(
            addresses = exposed.join(", "),
            "authentication is off: anyone who reaches these client ports can read, write \
             and change membership; configure [[users]] or --requirepass"
        );
    }
}

/// The store file of versions before the fjall engine: refuse to start over it, rather
/// than serve an empty store beside the data.
const OLD_STORE_FILE: &str = "data.redb";

fn refuse_old_store(data_dir: &Path) -> Result<()> {
    let old = data_dir.join(OLD_STORE_FILE);
    if old.exists() {
        bail!(
            "{} holds a store of an older dynamo (redb engine); this version keeps its data \
             in {} and cannot read it: move it away to start a new node here",
            old.display(),
            data_dir.join(STORE_DIR).display()
        );
    }
    Ok(())
}

/// The faults a test may start a node with (hidden `serve` flags; none by default).
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    /// Fail every storage sync after this many, as a failing disk would.
    fail_syncs_after: Option<u64>,
    /// Run a deliberately broken node.
    #[cfg(feature = "mutants")]
    mutant: Option<Mutant>,
}

async fn start_node(
    settings: &NodeSettings,
    clients: &ClientOptions,
    data_dir: &Path,
    durability: Durability,
    faults: Faults,
) -> Result<Running<LsmStore>> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    refuse_old_store(data_dir)?;
    let mut store =
        LsmStore::open(data_dir.join(STORE_DIR).as_path(), durability).context("open storage")?;
    if let Some(syncs) = faults.fail_syncs_after {
        store.fail_syncs_after(syncs);
    }
    #[cfg(feature = "mutants")]
    if let Some(mutant) = faults.mutant {
        return Ok(server::start_mutant(settings, clients, store, mutant).await?);
    }
    Ok(server::start_with(settings, clients, store).await?)
}

async fn serve(args: ServeArgs) -> Result<()> {
    let faults = Faults {
        fail_syncs_after: args.fail_syncs_after,
        #[cfg(feature = "mutants")]
        mutant: args.mutant,
    };
    let clients = client_options(&args)?;
    let (settings, data_dir, durability) = load(args)?;
    warn_if_open(&settings, &clients);
    let running = start_node(&settings, &clients, &data_dir, durability, faults).await?;
    let failed = tokio::select! {
        _ = wait_for_signal() => false,
        _ = running.stopped() => true,
    };
    tracing::info!(failed, "shutting down");
    let stopped = running.shutdown().await;
    if failed {
        let cause = stopped.map_or_else(|error| error.to_string(), |_| "its driver exited".into());
        bail!("the node stopped serving: {cause}");
    }
    let mut store = stopped?;
    store.flush().context("flush storage")?;
    Ok(())
}

async fn dev(args: DevArgs) -> Result<()> {
    if args.nodes == 0 || args.nodes > 16 {
        bail!("--nodes must be within 1..=16");
    }
    let port = |offset: u16| -> Result<SocketAddr> {
        let port = args
            .base_port
            .checked_add(offset)
            .context("--base-port too high")?;
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    };
    let ids: Vec<u32> = (1..=args.nodes).collect();
    let mut members = BTreeMap::new();
    for id in &ids {
        members.insert(NodeId(*id), port(100 + *id as u16)?.to_string());
    }
    let n = (args.nodes as usize).min(3);
    // Relative to the working directory: `dynamo dev` is run from a checkout.
    let ui_dir = Some(PathBuf::from(UI_DIR)).filter(|dir| dir.is_dir());
    let mut running = Vec::new();
    for id in &ids {
        let settings = NodeSettings {
            id: NodeId(*id),
            client_listen: port(*id as u16)?,
            peer_listen: port(100 + *id as u16)?,
            http_listen: port(200 + *id as u16)?,
            store_dir: Some(args.data_dir.join(format!("n{id}")).join(STORE_DIR)),
            cluster: "dev".into(),
            secret: "dev-cluster-secret-not-for-production".into(),
            members: members.clone(),
            seeds: BTreeMap::new(),
            placements: BTreeMap::new(),
            partitions: 64,
            replication_factor: n,
            read_quorum: n / 2 + 1,
            write_quorum: n / 2 + 1,
            ui_dir: ui_dir.clone(),
        };
        let dir = args.data_dir.join(format!("n{id}"));
        let clients = ClientOptions::default();
        let durable = Durability::Durable;
        running.push(start_node(&settings, &clients, &dir, durable, Faults::default()).await?);
    }
    wait_until_serving(&running).await;
    print_dev_cluster(&args, n, &running, ui_dir.is_some());
    let failed = tokio::select! {
        _ = wait_for_signal() => None,
        id = first_stopped(&running) => Some(id),
    };
    println!("stopping");
    let mut errors = Vec::new();
    for node in running {
        match node.shutdown().await {
            Ok(mut store) => store.flush().context("flush storage")?,
            Err(error) => errors.push(error.to_string()),
        }
    }
    match failed {
        Some(id) => bail!("node {id} stopped serving: {}", errors.join("; ")),
        None => Ok(()),
    }
}

/// How to reach each node of a `dynamo dev` cluster that serves.
fn print_dev_cluster(args: &DevArgs, n: usize, running: &[Running<LsmStore>], ui_served: bool) {
    println!(
        "dynamo dev cluster: {} nodes, N={n}, data in {}",
        args.nodes,
        args.data_dir.display()
    );
    for node in running {
        println!(
            "  {}: redis-cli -p {}    http://{}/v1/cluster    (peers on {})",
            node.id,
            node.client_addr.port(),
            node.http_addr,
            node.peer_addr
        );
    }
    println!(
        "try: redis-cli -p {} set hello world && redis-cli -p {} get hello",
        running[0].client_addr.port(),
        running[running.len() - 1].client_addr.port()
    );
    print_ui(ui_served, running[0].http_addr);
    println!(
        "authentication: OFF - every port is bound to 127.0.0.1 and open to anyone on this \
         machine; a real node takes [[users]] or --requirepass (README, \"Clients\")"
    );
    println!("Ctrl-C stops every node; re-running finds the data.");
}

/// The first node whose driver ended on its own.
async fn first_stopped(nodes: &[Running<LsmStore>]) -> NodeId {
    loop {
        if let Some(node) = nodes.iter().find(|node| node.is_stopped()) {
            return node.id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn print_ui(served: bool, http: SocketAddr) {
    if served {
        println!("visualiser: http://{http}/ui/  (live cluster view; the simulator needs scripts/build-wasm.sh first)");
    } else {
        println!("visualiser: not served (run from the repository root to serve {UI_DIR})");
    }
}

/// Nodes that just started may have lost their first messages to peers not yet
/// listening and route around them until a probe answers; wait (bounded) until every
/// node reaches a read quorum, so the first client request succeeds.
async fn wait_until_serving(nodes: &[Running<LsmStore>]) {
    use dynamo_core::message::{Command as NodeCommand, Quorum, Reply};
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    for node in nodes {
        let probe = NodeCommand::Get {
            key: b"dynamo-dev-ready".to_vec(),
            quorum: Quorum::default(),
        };
        while tokio::time::Instant::now() < deadline {
            if matches!(
                node.driver.request(probe.clone()).await,
                Ok(Reply::Got { .. })
            ) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
