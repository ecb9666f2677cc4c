//! The page in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! loads `wasm/www/` from a local HTTP server and is clicked through the main views.
//!
//! Needs the built page (`scripts/build-wasm.sh`) and Debian's `chromium` and
//! `chromium-driver`, so it is ignored by default; `scripts/test.sh` installs both and
//! runs it with `cargo test -p dynamo-wasm --test browser -- --ignored`.
//! Screenshots land in `target/tmp/browser/`; with `DOCS_SCREENSHOTS=1` the main views
//! are also copied to `docs/screenshots/`.
//!
//! Everything binds to 127.0.0.1, every wait has a deadline and a watchdog ends the
//! whole run after `RUN_TIMEOUT`.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
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
            .spawn()
            .expect("start chromedriver (apt-get install chromium-driver)");
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

/// End the run (and chromedriver, which ends its Chromium) if it hangs.
fn watchdog(driver: Arc<Mutex<Option<Child>>>) {
    thread::spawn(move || {
        thread::sleep(RUN_TIMEOUT);
        eprintln!("browser test: no result after {RUN_TIMEOUT:?}, giving up");
        if let Some(child) = driver.lock().unwrap().as_mut() {
            let _ = child.kill();
        }
        std::process::exit(1);
    });
}

struct Stop(Arc<Mutex<Option<Child>>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ----- the scenario -----

const VIEW: &str = "window.dynamoView";

fn homes(driver: &Driver) -> Vec<u32> {
    let homes = driver.eval(&format!(
        "return {VIEW}.key.preference.filter(p => p.role === 'home').map(p => p.node);"
    ));
    serde_json::from_value(homes).expect("home node ids")
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

fn put_then_get(driver: &Driver) {
    driver.type_into("#key", "cart");
    driver.type_into("#value", "book");
    driver.choose("#via", 1);
    driver.click("#put");
    let arrows = driver.number("document.querySelectorAll('#arrows path.arrow').length");
    assert!(arrows >= 1.0, "the client request is drawn");
    driver.click("#advance");
    let writes =
        driver.number("document.querySelectorAll('#log li.k-write, #log li.k-reply').length");
    assert!(writes >= 2.0, "replica writes and the reply are logged");
    driver.choose("#via", 4);
    driver.click("#get");
    driver.click("#advance");
    let row = driver.eval(
        "const r = document.querySelector('#history tr[data-index=\"1\"]'); return r && [r.dataset.outcome, r.textContent];",
    );
    assert_eq!(row[0], "ok", "{row}");
    assert!(
        row[1].as_str().unwrap().contains("book ["),
        "the get reads the put back: {row}"
    );
    let replicas =
        driver.number("document.querySelectorAll('#replicas tr[data-how=\"replica\"]').length");
    assert_eq!(replicas, 3.0, "N = 3 replicas hold the key");
    driver.screenshot("02-put-get");
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
    driver.screenshot("03-siblings");
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
    let homes = homes(driver);
    let (coordinator, down) = (homes[0], homes[2]);
    driver.choose("#target", down);
    driver.click("#crash");
    let down_badges = driver.number("document.querySelectorAll('#node-badges .badge.down').length");
    assert_eq!(down_badges, 1.0);
    driver.choose("#via", coordinator);
    driver.type_into("#value", "v1");
    driver.click("#put");
    driver.click("#advance-long"); // the silent home times out and is suspected
    driver.type_into("#value", "v2");
    driver.click("#put");
    driver.click("#advance");
    let hinted = driver.number(
        "[...document.querySelectorAll('#nodes-table tr[data-hints]')].filter(r => Number(r.dataset.hints) > 0).length",
    );
    assert_eq!(hinted, 1.0, "a fallback holds a hint for the crashed home");
    let hint_row =
        driver.number("document.querySelectorAll('#replicas tr[data-how=\"hint\"]').length");
    assert_eq!(hint_row, 1.0);
    let badge = driver.number("document.querySelectorAll('#node-badges .badge .hints').length");
    assert_eq!(badge, 1.0, "the holder's badge counts its hint");
    driver.screenshot("04-hint");
    driver.click("#restart");
    driver.click("#advance-long");
    driver.click("#advance-long");
    let hints_left = driver.number(
        "[...document.querySelectorAll('#nodes-table tr[data-hints]')].reduce((s, r) => s + Number(r.dataset.hints), 0)",
    );
    assert_eq!(hints_left, 0.0, "the hint was handed off and deleted");
    let restored = driver.number(&format!(
        "document.querySelectorAll('#replicas tr[data-how=\"replica\"]').length - ({VIEW}.key.replicas.some(r => r.node === {down}) ? 0 : 100)"
    ));
    assert_eq!(restored, 3.0, "the recovered home holds its replica again");
    driver.screenshot("05-handoff");
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
    driver.screenshot("06-join-moving");
    for _ in 0..5 {
        driver.click("#advance-long");
    }
    driver.wait_until(
        "every transfer to complete",
        &format!("{VIEW}.moves.every(m => m.done.length === m.added.length)"),
    );
    let moving = driver.number("document.querySelectorAll('#segments path.segment.moving').length");
    assert_eq!(moving, 0.0);
    driver.screenshot("07-join-done");
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
    driver.screenshot("08-balance");
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

#[test]
#[ignore = "needs chromium, chromedriver and the built page: scripts/test.sh runs it"]
fn the_page_draws_the_ring_and_runs_the_protocol() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    assert!(
        root.join("pkg/dynamo_wasm_bg.wasm").exists(),
        "build the page first: scripts/build-wasm.sh"
    );
    let port = serve(root);
    let child = Arc::new(Mutex::new(None));
    let _stop = Stop(child.clone());
    watchdog(child.clone());
    let profile = artifacts().join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let driver = Driver::start(child, &profile);
    load(&driver, &format!("http://127.0.0.1:{port}/"));
    ring_is_drawn(&driver);
    put_then_get(&driver);
    concurrent_puts_make_siblings(&driver);
    crash_shows_a_hint(&driver);
    adding_a_node_moves_partitions(&driver);
    strategies_compare(&driver);
    shared_link_replays(&driver);
    drop(driver);
    if std::env::var_os("DOCS_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for name in [
            "01-ring",
            "02-put-get",
            "03-siblings",
            "04-hint",
            "06-join-moving",
            "08-balance",
        ] {
            let file = format!("{name}.png");
            std::fs::copy(artifacts().join(&file), docs.join(&file)).unwrap();
        }
    }
    println!("browser test: screenshots in {}", artifacts().display());
}
