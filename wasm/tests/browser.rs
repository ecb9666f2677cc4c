//! The page in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! loads `wasm/www/` from a local HTTP server and is clicked through the main views:
//! issue 22's findings (`browser/findings.rs`), the timeline and request tracing
//! (`browser/timeline.rs`), the guided scenarios (`browser/tours.rs`), and live mode
//! against a real `dynamo dev` fed by redis-cli (`browser/live.rs`; the test builds
//! `dynamo` into `target/wasm-build` too, and needs Debian's `redis-tools`).
//!
//! The test builds the page itself with `scripts/build-wasm.sh` (idempotent and
//! incremental), into its own target directory (`target/wasm-build`): the `cargo test`
//! running this test holds the lock of the normal one. It needs Debian's `chromium` and
//! `chromium-driver`, which `scripts/test.sh` installs; without them it fails and says
//! so. Screenshots land in `target/tmp/browser/`; with `DOCS_SCREENSHOTS=1` the main
//! views are also copied to `docs/screenshots/`.
//!
//! Everything binds to 127.0.0.1 ports picked by the OS, every wait has a deadline, the
//! build has `BUILD_TIMEOUT` and a watchdog ends the browser part after `RUN_TIMEOUT`.
//! chromedriver runs in a process group of its own, with the Chromium it starts, and
//! the whole group is killed when the test ends, passes or fails.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[path = "browser/findings.rs"]
mod findings;
#[path = "browser/live.rs"]
mod live;
#[path = "browser/timeline.rs"]
mod timeline;
#[path = "browser/tours.rs"]
mod tours;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const RUN_TIMEOUT: Duration = Duration::from_secs(480);
/// The first build installs wasm-bindgen-cli and compiles the core for wasm32: minutes
/// on a small shared machine. Later builds are incremental (seconds).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ----- a static file server for wasm/www -----

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn serve_one(mut stream: TcpStream, root: &Path) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return; // a speculative connection that never spoke
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let target = target.split(['?', '#']).next().unwrap_or("/");
    let relative = if target == "/" {
        "index.html"
    } else {
        target.trim_start_matches('/')
    };
    let path = root.join(relative);
    let escapes = relative.split('/').any(|part| part == "..");
    let (status, body, kind) = match std::fs::read(&path) {
        Ok(body) if !escapes => ("200 OK", body, content_type(&path)),
        _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&body));
}

/// Serve `root` on 127.0.0.1 (an ephemeral port) until the process ends.
fn serve(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            thread::spawn(move || serve_one(stream, &root));
        }
    });
    port
}

// ----- a minimal WebDriver client -----

struct Driver {
    agent: ureq::Agent,
    base: String,
    session: String,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("find a free port");
    listener.local_addr().unwrap().port()
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
    let request = agent.request(method, url);
    let response = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match response {
        Ok(response) => response
            .into_json::<Value>()
            .expect("webdriver answers json")["value"]
            .take(),
        Err(ureq::Error::Status(code, response)) => {
            panic!(
                "webdriver {method} {url}: {code} {}",
                response.into_string().unwrap_or_default()
            )
        }
        Err(error) => panic!("webdriver {method} {url}: {error}"),
    }
}

impl Driver {
    /// Start chromedriver on 127.0.0.1 and open a headless Chromium session.
    fn start(driver: Arc<Mutex<Option<Child>>>, profile: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0) // Chromium joins it: one kill ends them all
            .spawn()
            .expect("start chromedriver");
        *driver.lock().unwrap() = Some(child);
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let base = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver to listen", || {
            agent.get(&format!("{base}/status")).call().is_ok()
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1700",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let session = call(
            &agent,
            "POST",
            &format!("{base}/session"),
            Some(capabilities),
        );
        let session = session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Driver {
            agent,
            base,
            session,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        call(&self.agent, "POST", &self.url(path), Some(body))
    }

    fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    fn eval(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
    }

    fn find(&self, css: &str) -> String {
        let found = self.post("/element", json!({"using": "css selector", "value": css}));
        found[ELEMENT].as_str().expect("an element id").to_string()
    }

    /// A real click, as a user's (WebDriver scrolls the element into view first).
    fn click(&self, css: &str) {
        let element = self.find(css);
        self.post(&format!("/element/{element}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.post(&format!("/element/{element}/clear"), json!({}));
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn choose(&self, select: &str, value: impl std::fmt::Display) {
        self.click(&format!("{select} option[value=\"{value}\"]"));
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = call(&self.agent, "GET", &self.url("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 png"))
            .expect("valid base64");
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Poll `expression` until it is true, or fail with its last value.
    fn wait_until(&self, what: &str, expression: &str) {
        let script = format!("return Boolean({expression});");
        wait_for(what, || self.eval(&script) == json!(true));
    }

    /// Resize the browser window (CSS pixels), as a smaller screen would be.
    fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }));
        let check = format!("window.innerWidth <= {width}");
        self.wait_until("the window to resize", &check);
    }

    fn number(&self, expression: &str) -> f64 {
        let value = self.eval(&format!("return {expression};"));
        value
            .as_f64()
            .unwrap_or_else(|| panic!("{expression} is not a number: {value}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.url("")).call();
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("create the artifacts folder");
    dir
}

/// Kill `child` and every process in its group (it leads one: `process_group(0)`).
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// End the run, chromedriver and its Chromium if it hangs.
fn watchdog(driver: Arc<Mutex<Option<Child>>>) {
    thread::spawn(move || {
        thread::sleep(RUN_TIMEOUT);
        eprintln!("browser test: no result after {RUN_TIMEOUT:?}, giving up");
        if let Some(mut child) = driver.lock().unwrap().take() {
            kill_group(&mut child);
        }
        std::process::exit(1);
    });
}

/// Kills chromedriver's process group when dropped, on success or panic.
struct Stop(Arc<Mutex<Option<Child>>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.lock().unwrap().take() {
            kill_group(&mut child);
        }
    }
}

/// Build the page with `scripts/build-wasm.sh`, in a target directory of its own.
fn build_page(workspace: &Path) {
    let script = workspace.join("scripts/build-wasm.sh");
    build(workspace, Command::new(script), "build-wasm");
}

/// Build the `dynamo` binary (for live mode's `dynamo dev`) in the page's target
/// directory; returns its path.
fn build_server(workspace: &Path) -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "-p", "dynamo-server", "--bin", "dynamo"]);
    build(workspace, cargo, "build-server");
    workspace.join("target/wasm-build/debug/dynamo")
}

/// Run a build command in `workspace`, into `target/wasm-build`, within
/// `BUILD_TIMEOUT`; its output goes to `<name>.log` among the artifacts.
fn build(workspace: &Path, mut command: Command, name: &str) {
    let log_path = artifacts().join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).expect("create the build log");
    let mut child = command
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", workspace.join("target/wasm-build"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .process_group(0) // cargo and rustc with it, for the kill on timeout
        .spawn()
        .unwrap_or_else(|error| panic!("run {name}: {error}"));
    let deadline = Instant::now() + BUILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the build") {
            break Some(status);
        }
        if Instant::now() > deadline {
            kill_group(&mut child);
            break None;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("{name} failed ({status}):\n{}", tail.join("\n")),
        None => panic!("{name} took over {BUILD_TIMEOUT:?}:\n{}", tail.join("\n")),
    }
}

/// Fail with what to do when the browser is not installed.
fn require_browser() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "missing {}: scripts/test.sh installs them (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
}

// ----- the scenario -----

const VIEW: &str = "window.dynamoView";

/// The typed key's preference list: home replicas first, then fallbacks.
fn preference(driver: &Driver) -> Vec<u32> {
    let nodes = driver.eval(&format!("return {VIEW}.key.preference.map(p => p.node);"));
    serde_json::from_value(nodes).expect("node ids")
}

fn load(driver: &Driver, url: &str) {
    driver.navigate(url);
    driver.wait_until(
        "the wasm to load",
        "window.dynamoReady === true || window.dynamoFailed",
    );
    let failed = driver.eval("return window.dynamoFailed || null;");
    assert_eq!(failed, Value::Null, "the page failed to start");
}

fn ring_is_drawn(driver: &Driver) {
    let segments = driver.number("document.querySelectorAll('#segments path.segment').length");
    assert_eq!(segments, 32.0, "one arc per partition");
    let owners = driver.number(
        "new Set([...document.querySelectorAll('#segments path.segment')].map(s => s.dataset.owner)).size",
    );
    assert_eq!(owners, 5.0, "every node owns partitions");
    let badges = driver.number("document.querySelectorAll('#node-badges .badge').length");
    assert_eq!(badges, 5.0);
    let key_partition = driver.number("document.querySelectorAll('.segment.key-partition').length");
    assert_eq!(key_partition, 1.0, "the key's partition is highlighted");
    driver.screenshot("01-ring");
}

fn count(driver: &Driver, css: &str) -> f64 {
    let css = serde_json::to_string(css).unwrap();
    driver.number(&format!("document.querySelectorAll({css}).length"))
}

/// How many log lines of message `kind` contain `text`.
fn logged(driver: &Driver, kind: &str, text: &str) -> f64 {
    let text = serde_json::to_string(text).unwrap();
    driver.number(&format!(
        "[...document.querySelectorAll('#log li[data-kind=\"{kind}\"]')].filter(l => l.textContent.includes({text})).length"
    ))
}

/// Click "+100 ms" until the last action delivered a message of `kind`; false if none
/// came within `clicks`.
fn advance_until_delivered(driver: &Driver, kind: &str, clicks: usize) -> bool {
    let check = format!(
        "return {VIEW}.fresh.some(a => a.kind === 'message' && a.message.kind === '{kind}');"
    );
    (0..clicks).any(|_| {
        driver.click("#advance");
        driver.eval(&check) == json!(true)
    })
}

fn put_then_get(driver: &Driver) {
    driver.type_into("#key", "cart");
    driver.type_into("#value", "book");
    let list = preference(driver);
    let (home, outsider) = (list[0], list[3]);
    driver.choose("#via", home);
    driver.click("#put");
    assert_eq!(
        count(driver, "#arrows path.arrow[data-kind=\"client\"]"),
        1.0
    );
    let on_wire = count(driver, "#arrows path.flight[data-kind=\"write\"]");
    assert_eq!(
        on_wire, 2.0,
        "the writes to the other two homes are on the wire"
    );
    driver.screenshot("02-put-in-flight");
    driver.click("#step");
    let last = driver.eval("return document.getElementById('last-event').textContent;");
    let last = last.as_str().unwrap();
    assert!(
        last.starts_with(&format!("last event: write cart n{home}→n")),
        "one step delivers one write: {last}"
    );
    assert_eq!(
        count(driver, "#arrows path.arrow[data-kind=\"write\"]"),
        1.0
    );
    driver.click("#advance");
    assert_eq!(
        logged(driver, "write", "cart"),
        2.0,
        "a write to each other home"
    );
    assert_eq!(logged(driver, "write_ok", &format!("→n{home}")), 2.0);
    assert_eq!(logged(driver, "reply", "#0 put acknowledged"), 1.0);
    let acked = driver.eval(
        "return document.querySelector('#history tr[data-index=\"0\"] td[data-acked]').dataset.acked;",
    );
    assert_eq!(acked, "2", "W = 2 answers counted");
    driver.choose("#via", outsider);
    driver.click("#get");
    driver.click("#advance");
    assert_eq!(logged(driver, "read", &format!("n{outsider}→n")), 3.0);
    assert_eq!(logged(driver, "read_ok", &format!("→n{outsider}")), 3.0);
    let row = driver.eval(
        "const r = document.querySelector('#history tr[data-index=\"1\"]'); return r && [r.dataset.outcome, r.textContent];",
    );
    assert_eq!(row[0], "ok", "{row}");
    assert!(
        row[1].as_str().unwrap().contains("book ["),
        "the get reads the put back: {row}"
    );
    let replicas = count(driver, "#replicas tr[data-how=\"replica\"]");
    assert_eq!(replicas, 3.0, "N = 3 replicas hold the key");
    driver.screenshot("03-put-get");
}

fn latest_values(driver: &Driver) -> Vec<String> {
    let values = driver.eval(&format!(
        "return {VIEW}.history.at(-1).siblings.map(s => s.value).sort();"
    ));
    serde_json::from_value(values).expect("sibling values")
}

fn concurrent_puts_make_siblings(driver: &Driver) {
    driver.choose("#via", 1);
    driver.choose("#via2", 2);
    driver.click("#concurrent"); // two puts over the get's context, through n1 and n2
    driver.click("#advance");
    driver.click("#get");
    driver.click("#advance");
    assert_eq!(
        latest_values(driver),
        ["book-a", "book-b"],
        "concurrent puts are siblings"
    );
    driver.screenshot("04-siblings");
    driver.type_into("#value", "merged");
    driver.click("#put-context"); // over the get's context, which covers both
    driver.click("#advance");
    driver.click("#get");
    driver.click("#advance");
    assert_eq!(
        latest_values(driver),
        ["merged"],
        "a put with the read's context resolves them"
    );
}

fn crash_shows_a_hint(driver: &Driver) {
    let list = preference(driver);
    let (coordinator, down, fallback) = (list[0], list[2], list[3]);
    driver.choose("#target", down);
    driver.click("#crash");
    assert_eq!(count(driver, "#node-badges .badge.down"), 1.0);
    driver.choose("#via", coordinator);
    driver.type_into("#value", "v1");
    driver.click("#put");
    driver.click("#advance"); // the write to the crashed home is lost ...
    assert!(logged(driver, "write", &format!("n{coordinator}→n{down}")) >= 1.0);
    assert!(
        count(driver, "#log li.t-lost") >= 1.0,
        "... and drawn as lost"
    );
    driver.click("#advance-long"); // the silent home times out and is suspected
    driver.type_into("#value", "v2");
    driver.click("#put");
    driver.click("#advance");
    let hinted = format!("n{coordinator}→n{fallback}");
    assert_eq!(
        logged(driver, "write", &format!("for n{down}")),
        1.0,
        "a write with a hint goes to the fallback {hinted}"
    );
    assert_eq!(logged(driver, "write", &hinted), 1.0);
    assert_eq!(logged(driver, "hint_stored", &format!("n{fallback}")), 1.0);
    let hinted_rows = driver.number(
        "[...document.querySelectorAll('#nodes-table tr[data-hints]')].filter(r => Number(r.dataset.hints) > 0).length",
    );
    assert_eq!(
        hinted_rows, 1.0,
        "a fallback holds a hint for the crashed home"
    );
    assert_eq!(count(driver, "#replicas tr[data-how=\"hint\"]"), 1.0);
    assert_eq!(
        count(driver, "#node-badges .badge .hints"),
        1.0,
        "the holder's badge counts its hint"
    );
    driver.screenshot("05-hint");
    driver.click("#restart");
    assert!(
        advance_until_delivered(driver, "handoff", 30),
        "the fallback hands the hint off once the home is back"
    );
    driver.screenshot("06-handoff");
    driver.click("#advance"); // the answer is due within the next few ms
    let home_to_fallback = format!("n{down}→n{fallback}");
    assert_eq!(logged(driver, "handoff_ok", &home_to_fallback), 1.0);
    assert_eq!(logged(driver, "hint_deleted", &format!("n{fallback}")), 1.0);
    let hints_left = driver.number(
        "[...document.querySelectorAll('#nodes-table tr[data-hints]')].reduce((s, r) => s + Number(r.dataset.hints), 0)",
    );
    assert_eq!(hints_left, 0.0, "the hint was handed off and deleted");
    let restored = driver.number(&format!(
        "document.querySelectorAll('#replicas tr[data-how=\"replica\"]').length - ({VIEW}.key.replicas.some(r => r.node === {down}) ? 0 : 100)"
    ));
    assert_eq!(restored, 3.0, "the recovered home holds its replica again");
}

fn merkle_trees_are_compared(driver: &Driver) {
    assert!(
        advance_until_delivered(driver, "tree_level", 30),
        "anti-entropy rounds compare Merkle trees"
    );
}

fn background_traffic_toggles(driver: &Driver) {
    driver.click("#advance-long");
    let gossip = "#arrows [data-kind=\"gossip\"]";
    assert!(count(driver, gossip) >= 1.0, "gossip is drawn");
    driver.click("#background");
    assert_eq!(count(driver, gossip), 0.0, "and hidden on request");
    driver.click("#background");
}

fn adding_a_node_moves_partitions(driver: &Driver) {
    driver.click("#add-node");
    driver.click("#advance-long"); // it announces itself by gossip
    driver.click("#join-node");
    driver.click("#advance");
    let owned = driver
        .number("document.querySelectorAll('#segments path.segment[data-owner=\"6\"]').length");
    assert_eq!(owned, 5.0, "the new node owns its share of 32 partitions");
    let moves = driver.number("document.querySelectorAll('#moves tr[data-partition]').length");
    assert!(moves >= 5.0, "the moving partitions are listed: {moves}");
    let moving = driver.number("document.querySelectorAll('#segments path.segment.moving').length");
    assert!(moving >= 1.0, "transfers are still running and highlighted");
    driver.screenshot("07-join-moving");
    for _ in 0..5 {
        driver.click("#advance-long");
    }
    driver.wait_until(
        "every transfer to complete",
        &format!("{VIEW}.moves.every(m => m.done.length === m.added.length)"),
    );
    let moving = driver.number("document.querySelectorAll('#segments path.segment.moving').length");
    assert_eq!(moving, 0.0);
    driver.screenshot("08-join-done");
}

fn strategies_compare(driver: &Driver) {
    let efficiencies = driver.eval(
        "return [...document.querySelectorAll('#strategies .strategy')].map(s => Number(s.dataset.efficiency));",
    );
    let (tokens, partitions) = (
        efficiencies[0].as_f64().unwrap(),
        efficiencies[1].as_f64().unwrap(),
    );
    assert!(
        partitions > tokens,
        "strategy 3 balances better: {partitions} vs {tokens}"
    );
    driver.eval("document.getElementById('balance').scrollIntoView(); return 0;");
    driver.screenshot("09-balance");
}

fn shared_link_replays(driver: &Driver) {
    let before = driver.eval(&format!(
        "return [location.href, {VIEW}.now_ms, {VIEW}.ring.segments.map(s => s.owner)];"
    ));
    let url = before[0].as_str().unwrap().to_string();
    assert!(url.contains("#s="), "the URL carries the scenario: {url}");
    driver.navigate("about:blank");
    load(driver, &url);
    let after = driver.eval(&format!(
        "return [location.href, {VIEW}.now_ms, {VIEW}.ring.segments.map(s => s.owner)];"
    ));
    assert_eq!(after[1], before[1], "same simulated time");
    assert_eq!(after[2], before[2], "same owners");
}

/// Partitions the ring draws for `node` (arcs whose owner it is).
fn arcs_of(driver: &Driver, node: u32) -> f64 {
    count(
        driver,
        &format!("#segments path.segment[data-owner=\"{node}\"]"),
    )
}

fn strings(driver: &Driver, expression: &str) -> Vec<String> {
    serde_json::from_value(driver.eval(&format!("return {expression};"))).expect("strings")
}

/// The zones legend, as the page lists it.
fn legend(driver: &Driver) -> Vec<String> {
    strings(
        driver,
        "[...document.querySelectorAll('#zones-legend li')].map(l => l.textContent)",
    )
}

fn weights_and_zones_are_drawn(driver: &Driver) {
    driver.type_into("#nodes", "5");
    driver.type_into("#node-weights", "1,1,2,2,2");
    driver.type_into("#zones", "a,a,b,b,c");
    driver.click("#reset");
    let error = driver.eval("return document.getElementById('error').textContent;");
    assert_eq!(error, "", "the setup is accepted");
    assert_eq!(driver.number(&format!("{VIEW}.setup.partitions")), 32.0);
    // 32 partitions over weights 1+1+2+2+2: the weight-2 nodes own twice as many.
    let arcs: Vec<f64> = (1..=5).map(|node| arcs_of(driver, node)).collect();
    assert_eq!(arcs, [4.0, 4.0, 8.0, 8.0, 8.0]);
    let owned = strings(
        driver,
        "[...document.querySelectorAll('#nodes-table td[data-owned]')].map(c => c.textContent)",
    );
    assert_eq!(
        owned,
        ["4 (w1 a)", "4 (w1 a)", "8 (w2 b)", "8 (w2 b)", "8 (w2 c)"]
    );
    assert_eq!(
        legend(driver),
        [
            "zone a: n1 n2 · owns 8",
            "zone b: n3 n4 · owns 16",
            "zone c: n5 · owns 8"
        ]
    );
    assert_eq!(count(driver, "#segments .zone-band"), 32.0);
    assert_eq!(count(driver, "#node-badges .badge .zone-ring"), 5.0);
    assert_eq!(count(driver, "#node-badges .badge[data-weight=\"2\"]"), 3.0);
    driver.type_into("#key", "cart");
    let zones = strings(
        driver,
        "[...document.querySelectorAll('#preference .chip')].map(c => c.dataset.zone)",
    );
    let homes: std::collections::BTreeSet<&String> = zones[..3].iter().collect();
    assert_eq!(homes.len(), 3, "one home per zone: {zones:?}");
    assert_eq!(
        count(driver, "#preference .chip.zone-repeat"),
        2.0,
        "the second node of a zone comes after every zone: {zones:?}"
    );
}

fn a_heavier_node_joins_in_a_new_zone(driver: &Driver) {
    driver.type_into("#add-weight", "2");
    driver.type_into("#add-zone", "d");
    driver.click("#add-node");
    driver.click("#advance-long"); // it announces itself by gossip
    driver.click("#join-node");
    for _ in 0..5 {
        driver.click("#advance-long");
    }
    let joined = arcs_of(driver, 6);
    assert!(
        (6.0..=7.0).contains(&joined) && joined > arcs_of(driver, 1),
        "a weight-2 node owns a weight-2 share of 32: {joined}"
    );
    assert_eq!(legend(driver).len(), 4);
    assert!(legend(driver)[3].starts_with("zone d: n6 · owns "));
    driver.screenshot("10-weights-zones");
    let url = driver.eval("return location.href;");
    driver.navigate("about:blank");
    load(driver, url.as_str().unwrap());
    let fields = strings(
        driver,
        "[document.getElementById('node-weights').value, document.getElementById('zones').value]",
    );
    assert_eq!(fields, ["1,1,2,2,2", "a,a,b,b,c"], "the link carries them");
    assert_eq!(arcs_of(driver, 6), joined, "and replays the join");
}

#[test]
fn the_page_draws_the_ring_and_runs_the_protocol() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    require_browser();
    build_page(&workspace);
    let dynamo = build_server(&workspace);
    let port = serve(workspace.join("wasm/www"));
    let child = Arc::new(Mutex::new(None));
    let _stop = Stop(child.clone());
    watchdog(child.clone());
    let profile = artifacts().join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let driver = Driver::start(child, &profile);
    let page = format!("http://127.0.0.1:{port}/");
    load(&driver, &page);
    findings::simulator_findings(&driver, &page);
    load(&driver, &page);
    ring_is_drawn(&driver);
    put_then_get(&driver);
    concurrent_puts_make_siblings(&driver);
    crash_shows_a_hint(&driver);
    merkle_trees_are_compared(&driver);
    background_traffic_toggles(&driver);
    adding_a_node_moves_partitions(&driver);
    strategies_compare(&driver);
    shared_link_replays(&driver);
    weights_and_zones_are_drawn(&driver);
    a_heavier_node_joins_in_a_new_zone(&driver);
    timeline::timeline_and_trace(&driver, &page);
    tours::every_scenario(&driver, &page);
    live::live_mode(&driver, &workspace, &dynamo);
    drop(driver);
    if std::env::var_os("DOCS_SCREENSHOTS").is_some() {
        let docs = workspace.join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for name in DOCS_SCREENSHOTS {
            let file = format!("{name}.png");
            std::fs::copy(artifacts().join(&file), docs.join(&file)).unwrap();
        }
    }
    println!("browser test: screenshots in {}", artifacts().display());
}

/// The views the README shows.
const DOCS_SCREENSHOTS: [&str; 12] = [
    "t-siblings-4",
    "p4-trace",
    "l01-live-burst",
    "01-ring",
    "02-put-in-flight",
    "03-put-get",
    "04-siblings",
    "05-hint",
    "06-handoff",
    "07-join-moving",
    "09-balance",
    "10-weights-zones",
];
