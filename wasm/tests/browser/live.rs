//! Live mode against a real `dynamo dev` cluster (3 nodes on 127.0.0.1), as issue 22
//! found it: `/ui` without its slash, node labels too small to read, the simulator's
//! setup reading as the live cluster's, and rates that did not move under a burst of
//! writes through redis-cli.

use super::*;

const REDIS_CLI: &str = "/usr/bin/redis-cli";
/// The burst of writes: bounded in count (redis-cli -r) and in time (killed after).
const BURST_WRITES: u32 = 3000;
/// Rates must visibly change within this of the burst's start (issue 22).
const RATES_WITHIN: Duration = Duration::from_secs(2);

/// A `dynamo dev` process; its process group is killed when dropped.
pub struct DevCluster {
    child: Child,
    pub base: u16,
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A base port whose 9 ports (`dynamo dev`: base+i, base+100+i, base+200+i) are free.
fn free_base() -> u16 {
    for _ in 0..50 {
        let base = free_port().saturating_sub(1000).max(10_000);
        if base > 65_000 {
            continue;
        }
        let offsets = [1, 2, 3, 101, 102, 103, 201, 202, 203];
        let all_free = offsets
            .iter()
            .all(|offset| TcpListener::bind(("127.0.0.1", base + offset)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no 9 free ports found for dynamo dev");
}

impl DevCluster {
    /// Start `dynamo dev` from the workspace root (it serves `wasm/www` from there).
    pub fn start(workspace: &Path, dynamo: &Path) -> DevCluster {
        let base = free_base();
        let data = artifacts().join("dev-data");
        let _ = std::fs::remove_dir_all(&data);
        let log = std::fs::File::create(artifacts().join("dynamo-dev.log")).expect("the log");
        let child = Command::new(dynamo)
            .args(["dev", "--nodes", "3", "--base-port", &base.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .current_dir(workspace)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start dynamo dev");
        let cluster = DevCluster { child, base };
        for node in 1..=3 {
            let url = format!("{}/v1/cluster", cluster.http(node));
            wait_for("dynamo dev to serve", || ureq::get(&url).call().is_ok());
        }
        cluster
    }

    pub fn http(&self, node: u16) -> String {
        format!("http://127.0.0.1:{}", self.base + 200 + node)
    }

    fn resp_port(&self, node: u16) -> u16 {
        self.base + node
    }
}

/// `GET /ui` answers a redirect to `/ui/`, and the browser lands on a styled page.
fn ui_without_slash(driver: &Driver, cluster: &DevCluster) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let response = agent
        .get(&format!("{}/ui", cluster.http(1)))
        .call()
        .expect("GET /ui answers");
    assert_eq!(response.status(), 308);
    assert_eq!(response.header("location"), Some("/ui/"));
    load(driver, &format!("{}/ui", cluster.http(1)));
    let landed = driver.eval(
        "return [location.pathname, getComputedStyle(document.documentElement).backgroundColor, document.getElementById('live').hidden];",
    );
    assert_eq!(
        landed,
        json!(["/ui/", "rgb(16, 19, 24)", false]),
        "a styled page in live mode"
    );
}

/// The node sent the WASM module gzipped, and the browser ran it (the page is ready).
fn module_comes_gzipped(driver: &Driver) {
    let sizes = driver.eval(
        "const e = performance.getEntriesByType('resource').find(r => r.name.endsWith('/pkg/dynamo_wasm_bg.wasm'));
         return e ? [e.encodedBodySize, e.decodedBodySize] : null;",
    );
    let (encoded, decoded) = (sizes[0].as_f64().unwrap(), sizes[1].as_f64().unwrap());
    println!("live: the module came as {encoded} bytes for {decoded}");
    assert!(
        encoded > 0.0 && encoded < decoded / 2.0,
        "gzipped: {encoded} of {decoded} bytes"
    );
}

fn live_is_readable_and_apart(driver: &Driver) {
    driver.wait_until(
        "each node's rate",
        "[...document.querySelectorAll('#live-rates tr[data-node]')].filter(r => r.dataset.rate !== '').length === 3",
    );
    let smallest = driver.number(
        "Math.min(...[...document.querySelectorAll('#live-ring .badge text')].map(t => t.getBoundingClientRect().height))",
    );
    assert!(smallest >= 11.0, "node labels are {smallest} px tall");
    let apart = driver.eval(
        "const setup = document.getElementById('setup'), live = document.getElementById('live');
         return [setup.closest('#simulator') !== null, live.contains(setup),
                 Boolean(live.compareDocumentPosition(document.getElementById('simulator')) & Node.DOCUMENT_POSITION_FOLLOWING),
                 document.getElementById('sim-apart').textContent.includes('separate')];",
    );
    assert_eq!(
        apart,
        json!([true, false, true, true]),
        "the simulator's setup is apart"
    );
}

fn rate_of(driver: &Driver, node: u16) -> f64 {
    let rate = driver.eval(&format!(
        "return document.querySelector('#live-rates tr[data-node=\"{node}\"]').dataset.rate;"
    ));
    rate.as_str().and_then(|r| r.parse().ok()).unwrap_or(0.0)
}

/// A burst of SETs through redis-cli shows in node 1's rate within 2 s.
fn burst_moves_rates(driver: &Driver, cluster: &DevCluster) {
    assert!(
        Path::new(REDIS_CLI).exists(),
        "missing {REDIS_CLI}: scripts/test.sh installs it (apt-get install redis-tools)"
    );
    let before = rate_of(driver, 1);
    let port = cluster.resp_port(1).to_string();
    let writes = BURST_WRITES.to_string();
    let mut burst = Command::new(REDIS_CLI)
        .args(["-p", &port, "-r", &writes, "SET", "burst", "v"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-cli");
    let started = Instant::now();
    let mut after = before;
    while started.elapsed() < RATES_WITHIN && after < before + 20.0 {
        thread::sleep(Duration::from_millis(50));
        after = rate_of(driver, 1);
    }
    let took = started.elapsed();
    println!("live: n1's rate went {before} -> {after} req/s, {took:?} into a burst of SETs");
    driver.screenshot("l01-live-burst");
    let _ = burst.kill();
    let _ = burst.wait();
    assert!(
        after >= before + 20.0,
        "within {RATES_WITHIN:?} of the burst the page shows {after} req/s (before: {before})"
    );
    let histogram = driver.number(
        "Number(document.querySelector('#live-rates tr[data-node=\"1\"] svg.latency').dataset.count)",
    );
    assert!(
        histogram > 0.0,
        "n1's latency histogram holds the burst's requests"
    );
    let shown = driver.eval(
        "return document.querySelector('#live-ring .live-rate[data-node=\"1\"]').textContent;",
    );
    assert!(
        shown.as_str().unwrap().ends_with("req/s"),
        "the ring shows it: {shown}"
    );
}

/// A key written through redis-cli, looked up on the page: its partition highlighted,
/// its three homes named, its value and its context decoded.
fn key_lookup(driver: &Driver, cluster: &DevCluster) {
    let port = cluster.resp_port(2).to_string();
    let set = Command::new(REDIS_CLI)
        .args(["-p", &port, "SET", "live-key", "hello"])
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&set.stdout).trim(), "OK");
    driver.type_into("#live-key", "live-key");
    driver.click("#live-lookup button");
    driver.wait_until(
        "the lookup",
        "document.getElementById('live-key-info').dataset.state",
    );
    let shown = driver.eval(
        "return [document.getElementById('live-key-info').dataset.state,
                 document.getElementById('live-key-value').textContent,
                 document.getElementById('live-key-context').textContent,
                 document.querySelectorAll('#live-ring .segment.key-partition').length,
                 document.getElementById('live-key-where').textContent];",
    );
    assert_eq!(shown[0], "found", "{shown}");
    assert!(
        shown[1].as_str().unwrap().ends_with("1 version(s): hello"),
        "{shown}"
    );
    assert!(
        shown[2].as_str().unwrap().starts_with("context [n"),
        "{shown}"
    );
    assert_eq!(shown[3], 1, "the key's partition is highlighted");
    let homes = shown[4]
        .as_str()
        .unwrap()
        .split("home replicas ")
        .nth(1)
        .unwrap_or("");
    assert_eq!(homes.split(", ").count(), 3, "N=3 homes: {shown}");
    driver.screenshot("l02-live-key");
}

/// Issue 22's live-mode findings and the live rates, against `dynamo dev` run from
/// the `dynamo` binary at `dynamo`.
pub fn live_mode(driver: &Driver, workspace: &Path, dynamo: &Path) {
    let cluster = DevCluster::start(workspace, dynamo);
    ui_without_slash(driver, &cluster);
    module_comes_gzipped(driver);
    live_is_readable_and_apart(driver);
    burst_moves_rates(driver, &cluster);
    key_lookup(driver, &cluster);
}
