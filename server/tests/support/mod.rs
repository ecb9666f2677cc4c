//! Shared harness of the server tests: real `dynamo serve` processes on 127.0.0.1,
//! each with its own data directory, killed (SIGKILL) when the harness drops, even
//! when a test fails. Node `i` of a cluster based at `base` listens for RESP clients
//! on `base + i`, for HTTP on `base + 150 + i` and for peers on `base + 100 + i`.
#![allow(dead_code)] // each test file uses part of the harness

use dynamo_server::resp::{call, Value};
use dynamo_server::view::ClusterView;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Ports are per test (tests run in parallel), on 127.0.0.1.
pub struct Cluster {
    pub base: u16,
    pub partitions: u32,
    pub replication_factor: usize,
    /// Nodes that founded the cluster (the rest join through a seed).
    pub founders: u16,
    /// Appended to every `dynamo serve` the harness starts from now on.
    pub extra_args: Vec<String>,
    /// The admin the harness authenticates as (when the nodes have users).
    pub credentials: Option<Credentials>,
    /// Appended to founder `i + 1`'s `--member` entry (",weight=2,zone=a").
    pub placements: Vec<String>,
    dir: tempfile::TempDir,
    nodes: Vec<Option<Child>>,
}

impl Cluster {
    pub fn start(base: u16, size: u16) -> Cluster {
        Self::start_with(base, size, 16, 3)
    }

    pub fn start_with(base: u16, size: u16, partitions: u32, replication_factor: usize) -> Cluster {
        Self::start_with_args(base, size, partitions, replication_factor, &[])
    }

    /// `start_with`, every node also given `extra_args`.
    pub fn start_with_args(
        base: u16,
        size: u16,
        partitions: u32,
        replication_factor: usize,
        extra_args: &[&str],
    ) -> Cluster {
        Self::start_as(base, size, partitions, replication_factor, extra_args, None)
    }

    /// `start_with_args`, the harness authenticating as `credentials` (an admin).
    pub fn start_as(
        base: u16,
        size: u16,
        partitions: u32,
        replication_factor: usize,
        extra_args: &[&str],
        credentials: Option<Credentials>,
    ) -> Cluster {
        let mut cluster = Cluster {
            base,
            partitions,
            replication_factor,
            founders: size,
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            credentials: None,
            placements: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            nodes: Vec::new(),
        };
        cluster.credentials = credentials;
        cluster.serving(size)
    }

    /// Spawn founders 1..=size and wait until every node coordinates a quorum write
    /// and has heard every founder's ports.
    fn serving(mut self, size: u16) -> Cluster {
        self.launch(size);
        self.wait_healthy();
        for id in 1..=size {
            self.wait_announced(id, size);
        }
        self
    }

    /// `start_with`, founder `i + 1` placed by `placements[i]` (",weight=2,zone=a").
    pub fn start_placed(base: u16, partitions: u32, placements: &[&str]) -> Cluster {
        let size = placements.len() as u16;
        let cluster = Cluster {
            base,
            partitions,
            replication_factor: 3,
            founders: size,
            extra_args: Vec::new(),
            credentials: None,
            placements: placements.iter().map(|p| p.to_string()).collect(),
            dir: tempfile::tempdir().unwrap(),
            nodes: Vec::new(),
        };
        cluster.serving(size)
    }

    /// A cluster whose nodes listen, without waiting for anything more (the caller
    /// checks readiness itself: its client ports may speak TLS, say).
    pub fn spawned(base: u16, size: u16, extra_args: &[&str]) -> Cluster {
        let mut cluster = Cluster {
            base,
            partitions: 16,
            replication_factor: usize::from(size).min(3),
            founders: size,
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            credentials: None,
            placements: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            nodes: Vec::new(),
        };
        cluster.launch(size);
        cluster
    }

    /// Spawn nodes 1..=size and wait until each listens.
    fn launch(&mut self, size: u16) {
        for id in 1..=size {
            self.nodes.push(None);
            self.spawn(id);
        }
        for id in 1..=size {
            self.wait_ready(id);
        }
    }

    /// Nodes that just started may have lost their first messages to peers that were
    /// not listening yet, and route around them until a probe answers: wait until
    /// every node coordinates a quorum write.
    pub fn wait_healthy(&self) {
        for id in 1..=self.nodes.len() as u16 {
            let key = format!("ready-{id}");
            eventually("a quorum write through every node", || {
                let set: [&[u8]; 3] = [b"SET", key.as_bytes(), b"1"];
                let reply = match &self.credentials {
                    None => run(&self.client(id), &set),
                    Some(admin) => admin.connect(&self.client(id)).run(&set),
                };
                reply == Value::Simple("OK".into())
            });
        }
    }

    /// Node `id`'s `/v1/cluster` document.
    pub fn view(&self, id: u16) -> ClusterView {
        let url = format!("http://{}/v1/cluster", self.http(id));
        let token = self.credentials.as_ref().map(|admin| admin.token.clone());
        block_on(async move {
            let mut request = reqwest::Client::new().get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("the http port answers");
            response.json().await.expect("a json cluster view")
        })
    }

    /// Wait until node `id` knows the HTTP address of each of `members` (members
    /// announce their ports by gossip after they start).
    pub fn wait_announced(&self, id: u16, members: u16) {
        eventually("every member's ports announced", || {
            let view = self.view(id);
            let known = view.members.iter().filter(|m| m.http.is_some());
            known.count() == usize::from(members)
        });
    }

    pub fn client(&self, id: u16) -> String {
        format!("127.0.0.1:{}", self.base + id)
    }

    /// Node `id`'s log: `$TMPDIR/dynamo-test-{base}-n{id}.log` (outlives the test, for
    /// reading after a failure; `DYNAMO_TEST_LOG` sets the filter, default `warn`).
    fn log_file(&self, id: u16) -> Stdio {
        let path = std::env::temp_dir().join(format!("dynamo-test-{}-n{id}.log", self.base));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        file.map_or_else(|_| Stdio::null(), Stdio::from)
    }

    pub fn http(&self, id: u16) -> String {
        format!("127.0.0.1:{}", self.base + 150 + id)
    }

    /// Start node `id` outside the ring: it announces itself through node 1 and waits
    /// for an operator to join it.
    pub fn spawn_joiner(&mut self, id: u16) {
        while self.nodes.len() < usize::from(id) {
            self.nodes.push(None);
        }
        self.spawn(id);
        self.wait_ready(id);
    }

    pub fn spawn(&mut self, id: u16) {
        let data = self.data_dir().join(format!("n{id}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynamo"));
        command
            .args(["serve", "--id", &id.to_string(), "--data-dir"])
            .arg(&data)
            .args(["--client-listen", &self.client(id)])
            .args([
                "--peer-listen",
                &format!("127.0.0.1:{}", self.base + 100 + id),
            ])
            .args(["--http-listen", &self.http(id)])
            .args([
                "--cluster",
                "test",
                "--partitions",
                &self.partitions.to_string(),
            ])
            .args(["-N", &self.replication_factor.to_string()])
            .env("DYNAMO_SECRET", "test-secret")
            .env(
                "RUST_LOG",
                std::env::var("DYNAMO_TEST_LOG").unwrap_or("warn".into()),
            )
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(self.log_file(id));
        if id <= self.founders {
            for member in 1..=self.founders {
                let placement = self.placements.get(usize::from(member - 1));
                let placement = placement.map_or("", String::as_str);
                command.args([
                    "--member",
                    &format!("{member}=127.0.0.1:{}{placement}", self.base + 100 + member),
                ]);
            }
        } else {
            command.args(["--seed", &format!("1=127.0.0.1:{}", self.base + 101)]);
        }
        self.nodes[usize::from(id - 1)] = Some(command.spawn().expect("start dynamo serve"));
    }

    pub fn wait_ready(&self, id: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.client(id)).is_err() {
            assert!(Instant::now() < deadline, "n{id} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self, id: u16) {
        if let Some(mut child) = self.nodes[usize::from(id - 1)].take() {
            child.kill().unwrap(); // SIGKILL: no clean shutdown
            child.wait().unwrap();
        }
    }

    /// SIGTERM node `id` and wait (bounded) for it to exit; its exit status.
    pub fn terminate(&mut self, id: u16) -> std::process::ExitStatus {
        let mut child = self.nodes[usize::from(id - 1)].take().expect("node runs");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("n{id} did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (bounded) for node `id` to exit on its own; its exit status.
    pub fn wait_exit(&mut self, id: u16, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.nodes[usize::from(id - 1)].take().expect("node runs");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("n{id} did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self, id: u16) {
        self.spawn(id);
        self.wait_ready(id);
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() as u16 {
            self.kill(id);
        }
    }
}

pub fn run(address: &str, args: &[&[u8]]) -> Value {
    block_on(call(address, args)).expect("a reply")
}

/// Run `future` on a runtime of its own (the harness is synchronous).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(future)
}

/// Retry until `check` holds (replication and handoff are asynchronous), bounded.
pub fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_within(Duration::from_secs(20), what, check);
}

/// Retry until `check` holds, for at most `limit`.
pub fn eventually_within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn bulk(value: &[u8]) -> Value {
    Value::Bulk(Some(value.to_vec()))
}

impl Cluster {
    /// Node `id`'s peer address.
    pub fn peer(&self, id: u16) -> String {
        format!("127.0.0.1:{}", self.base + 100 + id)
    }

    /// Node `id`'s process id, while it runs.
    pub fn pid(&self, id: u16) -> Option<u32> {
        self.nodes[usize::from(id - 1)].as_ref().map(Child::id)
    }

    /// Node `id`'s log so far (see `log_file`).
    pub fn log(&self, id: u16) -> String {
        let path = std::env::temp_dir().join(format!("dynamo-test-{}-n{id}.log", self.base));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// One RESP connection kept open across commands (a session: `HELLO`, `AUTH`,
/// `CLIENT SETNAME` hold for the connection), with a 30 s read timeout.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Connection {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Send a command and read its reply.
    pub fn run(&mut self, args: &[&[u8]]) -> Value {
        self.send(args);
        self.reply()
    }

    /// [`run`](Self::run) with text arguments.
    pub fn cmd(&mut self, words: &[&str]) -> Value {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.run(&args)
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        use std::io::Write;
        let request = dynamo_server::resp::encode_command(args);
        self.stream.write_all(&request).expect("send");
    }

    /// The next reply (panics when the connection closes first).
    pub fn reply(&mut self) -> Value {
        self.try_reply().expect("a reply")
    }

    /// The next reply, or `None` when the server closed the connection.
    pub fn try_reply(&mut self) -> Option<Value> {
        use std::io::Read;
        let mut chunk = vec![0u8; 64 * 1024];
        // Bounded by the read timeout and by the parser's own limits.
        loop {
            let parsed = dynamo_server::resp::parse_value(&self.buffer).expect("valid RESP");
            if let Some((value, used)) = parsed {
                self.buffer.drain(..used);
                return Some(value);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("no reply within 30 s: {error}"),
            }
        }
    }

    /// Send a command and read its reply; `None` when the connection is closed.
    pub fn try_reply_to(&mut self, words: &[&str]) -> Option<Value> {
        use std::io::Write;
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let request = dynamo_server::resp::encode_command(&args);
        self.stream.write_all(&request).ok()?;
        self.try_reply()
    }
}

/// A single-node cluster (N=R=W=1) with `extra_args`: the connection-level tests need
/// no replication, and one node starts fastest.
pub fn single_node(base: u16, extra_args: &[&str]) -> Cluster {
    let mut args = vec!["-R", "1", "-W", "1", "--durability", "buffered"];
    args.extend_from_slice(extra_args);
    Cluster::start_with_args(base, 1, 16, 1, &args)
}

/// A user's credentials on both ports.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub token: String,
}

impl Credentials {
    /// A connection authenticated as this user.
    pub fn connect(&self, address: &str) -> Connection {
        let mut conn = Connection::open(address);
        let auth = conn.cmd(&["AUTH", &self.user, &self.password]);
        assert_eq!(auth, Value::Simple("OK".into()), "AUTH {}", self.user);
        conn
    }
}
