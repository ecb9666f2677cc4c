//! Client authentication against a real `dynamo serve` with users configured: RESP
//! answers `NOAUTH`/`WRONGPASS`/`NOPERM` as Redis 6+ does, HTTP answers 401/403 JSON
//! errors, and the CLI and `redis-cli` authenticate with a token or password.

mod support;

use dynamo_server::resp::Value;
use dynamo_server::view::ErrorDocument;
use std::process::Command;
use support::{block_on, bulk, Cluster, Connection, Credentials};

const USERS: &str = r#"
[[users]]
name = "app"
password = "app-pass"
role = "readwrite"
token = "app-token"

[[users]]
name = "ops"
password = "ops-pass"
role = "admin"
token = "ops-token"

[[users]]
name = "viewer"
password = "view-pass"
role = "readonly"
"#;

/// A single node with the users above and `requirepass`; the harness is `ops`.
fn secured(base: u16) -> (Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("users.toml");
    std::fs::write(&config, USERS).unwrap();
    let config = config.to_str().unwrap().to_string();
    let args = [
        "-R",
        "1",
        "-W",
        "1",
        "--requirepass",
        "default-pass",
        "--config",
        &config,
    ];
    let ops = Credentials {
        user: "ops".into(),
        password: "ops-pass".into(),
        token: "ops-token".into(),
    };
    (Cluster::start_as(base, 1, 16, 1, &args, Some(ops)), dir)
}

fn error_text(value: &Value) -> String {
    match value {
        Value::Error(text) => text.clone(),
        other => panic!("an error, not {other:?}"),
    }
}

#[test]
fn resp_commands_wait_for_auth_and_roles_limit_them() {
    let (cluster, _dir) = secured(16200);
    let mut conn = Connection::open(&cluster.client(1));
    assert_eq!(
        error_text(&conn.cmd(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        error_text(&conn.cmd(&["INFO"])),
        "NOAUTH Authentication required."
    );
    assert_eq!(conn.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert!(error_text(&conn.cmd(&["HELLO", "3"])).starts_with("NOAUTH HELLO must be called"));
    let wrong = conn.cmd(&["AUTH", "app", "ops-pass"]);
    let text = "WRONGPASS invalid username-password pair or user is disabled.";
    assert_eq!(error_text(&wrong), text);
    assert_eq!(
        error_text(&conn.cmd(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    assert_eq!(conn.cmd(&["AUTH", "app", "app-pass"]), Value::ok());
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Value::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), bulk(b"v"));
    assert_eq!(conn.cmd(&["RESET"]), Value::Simple("RESET".into()));
    assert_eq!(
        error_text(&conn.cmd(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    // HELLO authenticates and switches protocol in one command, as redis-py sends it.
    let hello = conn.cmd(&["HELLO", "3", "AUTH", "ops", "ops-pass", "SETNAME", "x"]);
    assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    assert_eq!(conn.cmd(&["GET", "k"]), bulk(b"v"));
    // AUTH with one argument is the default user (requirepass).
    let mut default = Connection::open(&cluster.client(1));
    assert_eq!(default.cmd(&["AUTH", "default-pass"]), Value::ok());
    assert_eq!(default.cmd(&["GET", "k"]), bulk(b"v"));
    let mut viewer = Connection::open(&cluster.client(1));
    assert_eq!(viewer.cmd(&["AUTH", "viewer", "view-pass"]), Value::ok());
    assert_eq!(viewer.cmd(&["GET", "k"]), bulk(b"v"));
    let refused = viewer.cmd(&["DEL", "k"]);
    let text = "NOPERM User viewer has no permissions to run the 'del' command";
    assert_eq!(error_text(&refused), text);
    // redis-cli authenticates with -a (AUTH) and with --user/--pass.
    let port = (16200 + 1).to_string();
    let cli = |args: &[&str]| {
        let output = Command::new("redis-cli")
            .args(["-p", &port, "--no-auth-warning"])
            .args(args)
            .output()
            .expect("redis-cli is installed (scripts/test.sh)");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    assert_eq!(cli(&["-a", "default-pass", "get", "k"]), "v");
    assert_eq!(
        cli(&["--user", "app", "--pass", "app-pass", "get", "k"]),
        "v"
    );
    assert!(cli(&["get", "k"]).contains("NOAUTH"), "without a password");
}

/// Status and error body of an HTTP request with `token`.
fn http(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
) -> (u16, Option<ErrorDocument>, reqwest::header::HeaderMap) {
    block_on(async {
        let mut request = reqwest::Client::new().request(method, url).body("v");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the http port answers");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).ok(), headers)
    })
}

#[test]
fn http_needs_a_bearer_token_and_admin_routes_need_the_admin_role() {
    use reqwest::Method;
    let (cluster, _dir) = secured(16400);
    let base = format!("http://{}", cluster.http(1));
    let kv = format!("{base}/v1/kv/door");
    let (status, body, headers) = http(Method::PUT, &kv, None);
    assert_eq!(status, 401);
    assert_eq!(body.unwrap().kind, "unauthorized");
    assert!(headers.get("www-authenticate").is_some());
    assert_eq!(http(Method::PUT, &kv, Some("not-a-token")).0, 401);
    assert_eq!(http(Method::PUT, &kv, Some("app-token")).0, 204);
    assert_eq!(http(Method::GET, &kv, Some("app-token")).0, 200);
    let (status, body, _) = http(Method::PUT, &kv, Some("view-pass"));
    assert_eq!((status, body.unwrap().kind.as_str()), (403, "forbidden"));
    assert_eq!(http(Method::GET, &kv, Some("view-pass")).0, 200);
    let join = format!("{base}/v1/admin/join/9");
    let (status, body, _) = http(Method::POST, &join, Some("app-token"));
    let body = body.unwrap();
    assert_eq!((status, body.kind.as_str()), (403, "forbidden"), "{body:?}");
    assert!(body.error.contains("\"app\" (role readwrite)"), "{body:?}");
    let (status, body, _) = http(Method::POST, &join, Some("ops-token"));
    assert!(
        ![401, 403].contains(&status),
        "admin passes: {status} {body:?}"
    );
    assert_eq!(http(Method::GET, &format!("{base}/healthz"), None).0, 200);
    assert_eq!(http(Method::GET, &format!("{base}/metrics"), None).0, 401);
    assert_eq!(
        http(Method::GET, &format!("{base}/metrics"), Some("app-token")).0,
        200
    );
    assert_eq!(http(Method::GET, &format!("{base}/nowhere"), None).0, 401);
}

#[test]
fn the_cli_sends_its_token() {
    let (cluster, _dir) = secured(16600);
    let dynamo = |args: &[&str], token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dynamo"));
        command.args(args).args(["--addr", &cluster.http(1)]);
        command.env_remove("DYNAMO_TOKEN");
        if let Some(token) = token {
            command.env("DYNAMO_TOKEN", token);
        }
        let output = command.output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, text) = dynamo(&["admin", "status"], None);
    assert!(!ok && text.contains("401"), "{text}");
    let (ok, text) = dynamo(&["admin", "status"], Some("ops-token"));
    assert!(ok && text.contains("ring epoch"), "{text}");
    let (ok, text) = dynamo(
        &["put", "cli-key", "cli-value", "--token", "app-token"],
        None,
    );
    assert!(ok, "{text}");
    let (ok, text) = dynamo(&["get", "cli-key"], Some("app-token"));
    assert!(ok && text.contains("cli-value"), "{text}");
}
