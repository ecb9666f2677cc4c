//! Real `dynamo serve` processes, one per 127.0.0.x address, and the faults done to
//! them: crash (SIGKILL, restart from the data dir), pause (SIGSTOP/SIGCONT) and
//! network partitions (nftables rules dropping packets between two addresses).
//! Spare nodes start announced but outside the ring, for a membership nemesis to
//! join and remove during load.
//!
//! Invariants: dropping the harness kills every process it started (resuming paused
//! ones first) and deletes its nftables table, even when a test panics; every wait is
//! bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Ports every node uses on its own address.
pub const RESP_PORT: u16 = 6379;
pub const PEER_PORT: u16 = 7379;
pub const HTTP_PORT: u16 = 8080;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "the dynamo binary is not built at {0} (cargo build -p dynamo-server --features mutants)"
    )]
    NoBinary(PathBuf),
    #[error(
        "the dynamo binary at {0} has no --mutant (cargo build -p dynamo-server --features mutants)"
    )]
    NoMutants(PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// How to start a cluster.
#[derive(Clone, Debug)]
pub struct Options {
    pub nodes: u8,
    /// Node `i` (1-based) listens on `127.0.{subnet}.{i}`; distinct per test.
    pub subnet: u8,
    pub partitions: u32,
    /// A deliberately broken node variant (`dynamo serve --mutant`), or `None`.
    pub mutant: Option<String>,
    /// Nodes `nodes + 1 ..= nodes + spares` start through node 1 as a seed and wait,
    /// announced, to be joined (`dynamo serve --seed`).
    pub spares: u8,
    /// Appended to every `dynamo serve` (say `-R 1 -W 1`).
    pub extra_args: Vec<String>,
}

/// A cluster of processes under test.
#[derive(Debug)]
pub struct Cluster {
    pub options: Options,
    binary: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<Option<Child>>,
    paused: Vec<bool>,
    table: String,
    rules: bool,
}

/// The `dynamo` binary next to this test executable (`target/<profile>/dynamo`).
pub fn binary() -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| HarnessError::NoBinary(exe.clone()))?;
    let binary = profile_dir.join("dynamo");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(HarnessError::NoBinary(binary))
    }
}

/// Refuse a `binary` built without the `mutants` feature (a plain `cargo build`, or
/// release): its nodes would exit on the unknown `--mutant` flag, and the run would
/// fail as a timeout instead of saying why.
fn check_mutants(binary: &Path) -> Result<(), HarnessError> {
    // Clap reads `--mutant none` before `--help`: an unknown flag fails first.
    let probe = Command::new(binary)
        .args(["serve", "--mutant", "none", "--help"])
        .output()?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(HarnessError::NoMutants(binary.to_path_buf()))
    }
}

impl Cluster {
    pub fn start(options: Options) -> Result<Self, HarnessError> {
        let count = usize::from(options.nodes + options.spares);
        let binary = binary()?;
        if options.mutant.is_some() {
            check_mutants(&binary)?;
        }
        let mut cluster = Cluster {
            table: format!("dynamo_test_{}", options.subnet),
            options,
            binary,
            dir: tempfile::tempdir()?,
            nodes: (0..count).map(|_| None).collect(),
            paused: vec![false; count],
            rules: false,
        };
        let all = 1..=cluster.options.nodes + cluster.options.spares;
        for id in all.clone() {
            cluster.spawn(id)?;
        }
        for id in all {
            cluster.wait_listening(id)?;
        }
        Ok(cluster)
    }

    pub fn ip(&self, id: u8) -> String {
        format!("127.0.{}.{id}", self.options.subnet)
    }

    pub fn http(&self, id: u8) -> String {
        format!("{}:{HTTP_PORT}", self.ip(id))
    }

    pub fn resp(&self, id: u8) -> String {
        format!("{}:{RESP_PORT}", self.ip(id))
    }

    /// The founding members (the workload's and the checker's nodes).
    pub fn ids(&self) -> impl Iterator<Item = u8> {
        1..=self.options.nodes
    }

    /// The spare nodes, outside the ring until joined.
    pub fn spare_ids(&self) -> impl Iterator<Item = u8> {
        self.options.nodes + 1..=self.options.nodes + self.options.spares
    }

    fn spawn(&mut self, id: u8) -> Result<(), HarnessError> {
        let ip = self.ip(id);
        let log = self.dir.path().join(format!("n{id}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = Command::new(&self.binary);
        command
            .args(["serve", "--id", &id.to_string(), "--data-dir"])
            .arg(self.dir.path().join(format!("n{id}")))
            .args(["--client-listen", &format!("{ip}:{RESP_PORT}")])
            .args(["--peer-listen", &format!("{ip}:{PEER_PORT}")])
            .args(["--http-listen", &format!("{ip}:{HTTP_PORT}")])
            .args(["--cluster", "jepsen", "--partitions"])
            .arg(self.options.partitions.to_string())
            .env("DYNAMO_SECRET", "jepsen-secret")
            .env(
                "RUST_LOG",
                std::env::var("DYNAMO_TEST_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log);
        if id <= self.options.nodes {
            for member in self.ids() {
                let peer = format!("{member}={}:{PEER_PORT}", self.ip(member));
                command.args(["--member", &peer]);
            }
        } else {
            command.args(["--seed", &format!("1={}:{PEER_PORT}", self.ip(1))]);
        }
        if let Some(mutant) = &self.options.mutant {
            command.args(["--mutant", mutant]);
        }
        command.args(&self.options.extra_args);
        self.nodes[usize::from(id - 1)] = Some(command.spawn()?);
        Ok(())
    }

    fn wait_listening(&self, id: u8) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.http(id)).is_err() {
            if Instant::now() > deadline {
                return Err(HarnessError::Timeout(format!("n{id} to listen")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// SIGKILL node `id` (no clean shutdown).
    pub fn crash(&mut self, id: u8) {
        let index = usize::from(id - 1);
        if let Some(mut child) = self.nodes[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused[index] = false;
    }

    /// Start node `id` again from its data directory.
    pub fn restart(&mut self, id: u8) -> Result<(), HarnessError> {
        if self.nodes[usize::from(id - 1)].is_none() {
            self.spawn(id)?;
            self.wait_listening(id)?;
        }
        Ok(())
    }

    pub fn is_up(&self, id: u8) -> bool {
        self.nodes[usize::from(id - 1)].is_some()
    }

    fn signal(&self, id: u8, signal: &str) -> Result<(), HarnessError> {
        let Some(child) = &self.nodes[usize::from(id - 1)] else {
            return Ok(());
        };
        run("kill", &[signal, &child.id().to_string()])
    }

    /// SIGSTOP: the node hangs with its sockets open.
    pub fn pause(&mut self, id: u8) -> Result<(), HarnessError> {
        self.signal(id, "-STOP")?;
        self.paused[usize::from(id - 1)] = true;
        Ok(())
    }

    pub fn resume(&mut self, id: u8) -> Result<(), HarnessError> {
        self.signal(id, "-CONT")?;
        self.paused[usize::from(id - 1)] = false;
        Ok(())
    }

    /// Drop every packet between nodes `a` and `b`, both ways.
    pub fn partition(&mut self, a: u8, b: u8) -> Result<(), HarnessError> {
        if !self.rules {
            run("nft", &["add", "table", "ip", &self.table])?;
            let chain = "{ type filter hook output priority 0 ; }";
            run("nft", &["add", "chain", "ip", &self.table, "out", chain])?;
            self.rules = true;
        }
        for (from, to) in [(a, b), (b, a)] {
            let (from, to) = (self.ip(from), self.ip(to));
            let rule = [
                "add",
                "rule",
                "ip",
                &self.table,
                "out",
                "ip",
                "saddr",
                &from,
            ];
            let rule = [&rule[..], &["ip", "daddr", &to, "drop"]].concat();
            run("nft", &rule)?;
        }
        Ok(())
    }

    /// Remove every partition.
    pub fn heal(&mut self) -> Result<(), HarnessError> {
        if self.rules {
            run("nft", &["delete", "table", "ip", &self.table])?;
            self.rules = false;
        }
        Ok(())
    }

    /// Resume paused nodes, restart crashed ones, remove partitions.
    pub fn heal_all(&mut self) -> Result<(), HarnessError> {
        self.heal()?;
        for id in 1..=self.options.nodes {
            if self.paused[usize::from(id - 1)] {
                self.resume(id)?;
            }
            self.restart(id)?;
        }
        Ok(())
    }

    /// The logs of every node (for a failure report).
    pub fn logs(&self) -> String {
        let read = |id: u8| {
            let path = self.dir.path().join(format!("n{id}.log"));
            std::fs::read_to_string(path).unwrap_or_default()
        };
        self.ids()
            .chain(self.spare_ids())
            .map(|id| format!("--- n{id}\n{}", read(id)))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.heal();
        for id in 1..=self.options.nodes + self.options.spares {
            if self.paused[usize::from(id - 1)] {
                let _ = self.resume(id);
            }
            self.crash(id);
        }
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), HarnessError> {
    let output = Command::new(program).args(args).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(HarnessError::Command {
        what: format!("{program} {}", args.join(" ")),
        detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}
