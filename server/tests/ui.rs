//! The visualiser served by a node's HTTP port: `/ui/` only when a UI directory is
//! set, the page and its live mode reachable, `/` redirected there. The nodes run
//! in-process over a memory store: only the HTTP routes are under test.

use dynamo_core::store::MemoryStore;
use dynamo_core::types::NodeId;
use dynamo_server::server::{self, NodeSettings, Running};
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Ports of these tests: 24000 + offset (+1 RESP, +101 peer, +151 HTTP).
const BASE: u16 = 24000;

fn www() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm/www")
}

fn address(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A one-node cluster at `BASE + offset`, serving `ui_dir` if given.
async fn node(offset: u16, ui_dir: Option<PathBuf>) -> Running<MemoryStore> {
    let base = BASE + offset;
    let peer = address(base + 101);
    let settings = NodeSettings {
        id: NodeId(1),
        client_listen: address(base + 1),
        peer_listen: peer,
        http_listen: address(base + 151),
        store_dir: None,
        cluster: "ui-test".into(),
        secret: "ui-test-secret".into(),
        members: BTreeMap::from([(NodeId(1), peer.to_string())]),
        seeds: BTreeMap::new(),
        placements: BTreeMap::new(),
        partitions: 8,
        replication_factor: 1,
        read_quorum: 1,
        write_quorum: 1,
        ui_dir,
    };
    server::start(&settings, MemoryStore::new())
        .await
        .expect("the node starts")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn fetch(node: &Running<MemoryStore>, path: &str) -> (StatusCode, String) {
    let url = format!("http://{}{path}", node.http_addr);
    let response = no_redirects()
        .get(url)
        .send()
        .await
        .expect("the http port answers");
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn serves_the_visualiser_and_its_live_mode() {
    let node = node(0, Some(www())).await;
    let (status, page) = fetch(&node, "/ui/index.html").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ring visualiser"), "{page}");
    assert!(
        page.contains("id=\"live\""),
        "the live panel is on the page"
    );
    let (status, directory) = fetch(&node, "/ui/").await;
    assert_eq!((status, directory), (StatusCode::OK, page));
    let (status, script) = fetch(&node, "/ui/app.js").await;
    assert_eq!(status, StatusCode::OK);
    // The live mode: on when served by a node, polling that node's cluster view.
    assert!(script.contains("startsWith('/ui/')"), "live mode detection");
    assert!(
        script.contains("/v1/cluster"),
        "live mode polls the cluster view"
    );
    let (status, _) = fetch(&node, "/").await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    // Without the trailing slash the page's relative style.css and app.js would
    // resolve to / and 404 (issue 22): it is sent to /ui/.
    let response = no_redirects()
        .get(format!("http://{}/ui", node.http_addr))
        .send()
        .await
        .expect("the http port answers");
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()["location"], "/ui/");
    let (status, _) = fetch(&node, "/ui/no-such-file.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The API is still there beside the files.
    let (status, view) = fetch(&node, "/v1/cluster").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn without_a_ui_dir_nothing_is_served() {
    let node = node(10, None).await;
    for path in ["/ui/", "/ui/index.html", "/"] {
        let (status, _) = fetch(&node, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = fetch(&node, "/healthz").await;
    assert_ne!(status, StatusCode::NOT_FOUND);
    node.shutdown().await.expect("clean shutdown");
}

/// A file with a gzip copy beside it (`scripts/build-wasm.sh` writes one for the
/// WASM module and its glue) is sent compressed to a client that accepts gzip, and
/// plain to one that does not.
#[tokio::test]
async fn serves_the_gzip_copy_to_clients_that_accept_it() {
    let dir = tempfile::tempdir().unwrap();
    let plain = b"export const big = 'dynamo';\n".repeat(100);
    std::fs::write(dir.path().join("app.js"), &plain).unwrap();
    let gzip = std::process::Command::new("gzip")
        .args(["-9", "-k"])
        .arg(dir.path().join("app.js"))
        .status()
        .expect("gzip runs");
    assert!(gzip.success());
    let node = node(20, Some(dir.path().to_path_buf())).await;
    let url = format!("http://{}/ui/app.js", node.http_addr);
    let compressed = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.status(), StatusCode::OK);
    assert_eq!(compressed.headers()["content-encoding"], "gzip");
    let body = compressed.bytes().await.unwrap();
    assert!(body.len() < plain.len() / 4, "{} bytes", body.len());
    let (status, text) = fetch(&node, "/ui/app.js").await;
    assert_eq!((status, text.into_bytes()), (StatusCode::OK, plain));
    node.shutdown().await.expect("clean shutdown");
}
