//! The HTTP API against real `dynamo serve` processes: every route and its error
//! cases, the same failures reading alike through RESP and HTTP, Prometheus metrics
//! that parse and move, the partition-aware client's hops.

mod support;

use dynamo_core::types::{limits, NodeId};
use dynamo_server::client::Client;
use dynamo_server::resp::Value as Resp;
use dynamo_server::view::{ClusterView, ErrorDocument};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use support::{block_on, eventually, run, Cluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONTEXT: &str = "x-dynamo-context";

/// Start a cluster off the test's runtime (the harness blocks on its own runtime).
fn start(base: u16, size: u16, replication_factor: usize) -> Cluster {
    std::thread::spawn(move || Cluster::start_with(base, size, 16, replication_factor))
        .join()
        .expect("the cluster starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn url(cluster: &Cluster, id: u16, path: &str) -> String {
    format!("http://{}{path}", cluster.http(id))
}

fn context_of(response: &reqwest::Response) -> String {
    let header = response.headers().get(CONTEXT).expect("a context header");
    header.to_str().unwrap().to_string()
}

async fn error_kind(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("a json error"))
}

/// Every sample line of a Prometheus text exposition, parsed: name{labels} -> value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unterminated labels in {line:?}");
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn scrape(cluster: &Cluster, id: u16) -> BTreeMap<String, f64> {
    let response = http()
        .get(url(cluster, id, "/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    parse_prometheus(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_routes_answer_with_values_siblings_contexts_and_clear_errors() {
    let cluster = start(22000, 3, 3);
    let client = http();
    let kv = |id: u16, key: &str| url(&cluster, id, &format!("/v1/kv/{key}"));
    // A put without a context supersedes what the node reads; another node reads it.
    let put = client.put(kv(1, "cart")).body("book").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    assert!(put.headers().contains_key("x-dynamo-ring-epoch"));
    let got = client.get(kv(3, "cart")).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let read_context = context_of(&got);
    assert_eq!(got.text().await.unwrap(), "book");
    // A blind write (empty context) is concurrent with the first: 300, both siblings.
    let blind = client
        .put(kv(2, "cart"))
        .header(CONTEXT, "")
        .body("pen")
        .send()
        .await;
    assert_eq!(blind.unwrap().status(), StatusCode::NO_CONTENT);
    let both = client.get(kv(1, "cart")).send().await.unwrap();
    assert_eq!(both.status(), StatusCode::MULTIPLE_CHOICES);
    let body: Value = both.json().await.unwrap();
    let siblings = body["siblings"].as_array().unwrap();
    assert_eq!(siblings.len(), 2, "{body}");
    // A put with the 300's context resolves them.
    let merged_context = body["context"].as_str().unwrap().to_string();
    let merge = client
        .put(kv(3, "cart"))
        .header(CONTEXT, &merged_context)
        .body("both");
    assert_eq!(merge.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let one = client.get(kv(2, "cart")).send().await.unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    let context = context_of(&one);
    assert_eq!(one.text().await.unwrap(), "both");
    // The first read's context is stale but valid: writing with it makes a sibling.
    assert_ne!(read_context, context);
    // Delete with the context: 404 afterwards, still with a context header.
    let delete = client
        .delete(kv(1, "cart"))
        .header(CONTEXT, &context)
        .send()
        .await;
    assert_eq!(delete.unwrap().status(), StatusCode::NO_CONTENT);
    let gone = client.get(kv(3, "cart")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(!context_of(&gone).is_empty());
    // Keys with slashes and escapes are one key.
    let odd = client.put(kv(1, "a/b%20c")).body("x").send().await.unwrap();
    assert_eq!(odd.status(), StatusCode::NO_CONTENT);
    let odd = client.get(kv(2, "a/b%20c")).send().await.unwrap();
    assert_eq!(odd.text().await.unwrap(), "x");
    the_errors(&cluster).await;
}

async fn the_errors(cluster: &Cluster) {
    let client = http();
    let kv = |query: &str| url(cluster, 1, &format!("/v1/kv/k{query}"));
    let bad_context = client
        .put(kv(""))
        .header(CONTEXT, "!!")
        .body("v")
        .send()
        .await;
    let (status, body) = error_kind(bad_context.unwrap()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_context"))
    );
    // A body one byte over the limit is refused from its declared length (raw TCP: an
    // HTTP client still sending the body could see the early 413 as a reset).
    let mut raw = tokio::net::TcpStream::connect(cluster.http(1))
        .await
        .unwrap();
    let head =
        "PUT /v1/kv/k HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 1048577\r\n\r\n";
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""kind":"too_large""#), "{answer}");
    for query in ["?r=5", "?r=abc", "?x=1", "?w=0"] {
        let response = client.get(kv(query)).send().await.unwrap();
        let (status, body) = error_kind(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let unknown = client
        .post(url(cluster, 1, "/v1/admin/leave/99"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_reach_its_quorum_is_a_503_with_the_numbers() {
    let mut cluster = start(22200, 3, 3);
    cluster.kill(3);
    let response = http()
        .put(url(&cluster, 1, "/v1/kv/k?w=3"))
        .body("v")
        .send()
        .await
        .unwrap();
    let (status, body) = error_kind(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(["quorum_not_reached", "timeout"].contains(&body["kind"].as_str().unwrap()));
    assert_eq!(body["needed"], 3, "{body}");
    assert_eq!(body["received"], 2, "{body}");
    // With the default W=2 the same write succeeds (sloppy quorum, always writeable).
    let ok = http()
        .put(url(&cluster, 1, "/v1/kv/k"))
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_view_probes_and_metrics_describe_the_node() {
    let cluster = start(22400, 3, 3);
    let view: Value = http()
        .get(url(&cluster, 2, "/v1/cluster"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["node"], 2);
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for (index, member) in members.iter().enumerate() {
        assert_eq!(member["status"], "valid");
        assert_eq!(member["http"], cluster.http(index as u16 + 1), "{member}");
    }
    let partitions = view["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 16);
    assert!(partitions
        .iter()
        .all(|p| p["homes"].as_array().unwrap().len() == 3));
    assert_eq!(view["transfers"]["total"], 0);
    // The typed view the client and the CLI read is the same document.
    let typed: ClusterView = serde_json::from_value(view.clone()).expect("a typed view");
    assert_eq!(typed.node, NodeId(2));
    assert_eq!(typed.partitions.len(), 16);
    assert_eq!(serde_json::to_value(&typed).unwrap(), view);
    for probe in ["/healthz", "/readyz"] {
        let response = http().get(url(&cluster, 1, probe)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }
    let before = scrape(&cluster, 1).await;
    for i in 0..5 {
        let put = http()
            .put(url(&cluster, 1, &format!("/v1/kv/m{i}")))
            .body("v");
        assert_eq!(put.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    }
    let after = scrape(&cluster, 1).await;
    let puts = r#"dynamo_requests_total{op="put",outcome="ok",protocol="http"}"#;
    let counted = |samples: &BTreeMap<String, f64>| samples.get(puts).copied().unwrap_or(0.0);
    assert_eq!(counted(&after) - counted(&before), 5.0);
    let latency = r#"dynamo_request_duration_seconds_count{op="put",protocol="http"}"#;
    assert!(after[latency] >= 5.0);
    assert_eq!(after["dynamo_ring_epoch"], 1.0);
    assert_eq!(after[r#"dynamo_members{status="valid"}"#], 3.0);
    assert!(after["dynamo_storage_bytes"] > 0.0);
    assert!(after.contains_key("dynamo_read_repairs_total"));
    assert!(after.contains_key("dynamo_hints_delivered_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partition_aware_client_sends_each_request_to_a_home_replica() {
    // 4 nodes, N=2: each key has 2 homes, so a node picked blindly is often not one.
    let cluster = start(22600, 4, 2);
    let forwarded = |samples: &BTreeMap<String, f64>| samples["dynamo_forwarded_total"];
    let mut before = 0.0;
    for id in 1..=4 {
        before += forwarded(&scrape(&cluster, id).await);
    }
    let client = Client::connect(&[cluster.http(1)]).await.unwrap();
    for i in 0..40 {
        let key = format!("routed-{i}");
        client.put(&key, key.as_bytes(), None).await.unwrap();
        let read = client.get(&key).await.unwrap();
        assert_eq!(read.values().collect::<Vec<_>>(), vec![key.as_bytes()]);
    }
    assert_eq!(client.hops.to_home.load(Ordering::Relaxed), 80);
    assert_eq!(client.hops.elsewhere.load(Ordering::Relaxed), 0);
    let mut after = 0.0;
    for id in 1..=4 {
        after += forwarded(&scrape(&cluster, id).await);
    }
    assert_eq!(after - before, 0.0, "no put needed a forwarding hop");
    // The same puts sent blindly to node 1 need a hop for keys node 1 is not home to.
    let node1_before = forwarded(&scrape(&cluster, 1).await);
    for i in 0..40 {
        let put = http()
            .put(url(&cluster, 1, &format!("/v1/kv/blind-{i}")))
            .body("v");
        assert_eq!(put.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    }
    let blind = forwarded(&scrape(&cluster, 1).await);
    assert!(
        blind > node1_before,
        "blind puts to a non-home were forwarded"
    );
}

/// An HTTP error answer: its status and body.
fn http_error(request: reqwest::RequestBuilder) -> (StatusCode, ErrorDocument) {
    block_on(async move {
        let response = request.send().await.expect("the http port answers");
        let status = response.status();
        (status, response.json().await.expect("a json error body"))
    })
}

/// An HTTP request written by hand (so a body can be announced and not sent): the
/// status and the JSON error body.
fn raw_http_error(address: &str, head: &str) -> (u16, ErrorDocument) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let timeout = Some(std::time::Duration::from_secs(10));
    stream.set_read_timeout(timeout).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.get(9..12).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("a status line: {head}"));
    (
        status,
        serde_json::from_str(body).expect("a json error body"),
    )
}

/// Every number in a message, in order.
fn numbers(text: &str) -> Vec<usize> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|digits| digits.parse().ok())
        .collect()
}

/// RESP answers `ERR ` and the very message HTTP's body carries.
fn assert_same_failure(resp: &Resp, http: &ErrorDocument) {
    assert_eq!(
        resp,
        &Resp::Error(format!("ERR {}", http.error)),
        "{http:?}"
    );
}

/// The numbers of RESP's message are HTTP's number fields, in order.
fn assert_same_numbers(resp: &Resp, fields: &[Option<usize>]) {
    let Resp::Error(text) = resp else {
        panic!("RESP answered {resp:?}")
    };
    let fields: Vec<usize> = fields.iter().map(|f| f.expect("a number field")).collect();
    assert_eq!(numbers(text), fields, "{text:?}");
}

/// One failure, two ports: a malformed context, a value one byte over the limit and
/// requests that cannot reach their quorum read the same through RESP and HTTP (the
/// same message, kind and numbers), with HTTP's documented status and kind.
#[test]
fn resp_and_http_report_the_same_failures_alike() {
    let mut cluster = Cluster::start_with(26200, 3, 16, 3);
    let (resp, http) = (cluster.client(1), cluster.http(1));
    let url = format!("http://{http}/v1/kv/same");
    let client = reqwest::Client::new;

    let from_resp = run(&resp, &[b"VSET", b"same", b"garbage!", b"v"]);
    let put = client().put(&url).header("x-dynamo-context", "garbage!");
    let (status, from_http) = http_error(put.body("v"));
    assert_eq!(
        (status, from_http.kind.as_str()),
        (StatusCode::BAD_REQUEST, "bad_context")
    );
    assert_same_failure(&from_resp, &from_http);

    let max = limits::VALUE_BYTES_MAX;
    let from_resp = run(&resp, &[b"SET", b"same", &vec![b'x'; max + 1]]);
    let head = format!(
        "PUT /v1/kv/same HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        max + 1
    );
    let (status, from_http) = raw_http_error(&http, &head);
    assert_eq!((status, from_http.kind.as_str()), (413, "too_large"));
    assert_eq!((from_http.size, from_http.max), (Some(max + 1), Some(max)));
    assert_same_failure(&from_resp, &from_http);
    assert_same_numbers(&from_resp, &[from_http.size, from_http.max]);

    // Two of the three homes down: R=2 cannot be met. Once node 1 suspects them it
    // fails such requests at once (until then they time out), the same way each time.
    cluster.kill(2);
    cluster.kill(3);
    let mut from_http = ErrorDocument::default();
    eventually("node 1 fails fast without a quorum", || {
        let (status, body) = http_error(client().put(&url).body("v"));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
        from_http = body;
        from_http.kind == "quorum_not_reached"
    });
    assert_eq!((from_http.needed, from_http.received), (Some(2), Some(1)));
    let from_resp = run(&resp, &[b"SET", b"same", b"v"]);
    assert_same_failure(&from_resp, &from_http);
    assert_same_numbers(&from_resp, &[from_http.needed, from_http.received]);
    let (_, from_http) = http_error(client().get(&url));
    let from_resp = run(&resp, &[b"GET", b"same"]);
    assert_same_failure(&from_resp, &from_http);
    assert_same_numbers(&from_resp, &[from_http.needed, from_http.received]);
}

/// Every failure the framework used to answer in its own words (plain text, or 413
/// for a malformed body) is the documented JSON error with the right status; keys
/// are bytes, as on RESP.
#[test]
fn framework_failures_are_the_documented_json_errors() {
    let cluster = support::single_node(17000, &[]);
    let base = format!("http://{}", cluster.http(1));
    let client = reqwest::Client::new;
    // A malformed chunked body is a bad request, not "too large".
    let (status, body) = raw_http_error(
        &cluster.http(1),
        "PUT /v1/kv/chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(
        (status, body.kind.as_str()),
        (400, "bad_request"),
        "{body:?}"
    );
    assert!(body.error.contains("body could not be read"), "{body:?}");
    // A key that is not UTF-8 is a key: written over HTTP, read over RESP.
    let binary = format!("{base}/v1/kv/%FF%FEkey");
    let put = block_on(client().put(&binary).body("bytes").send()).unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let read = run(&cluster.client(1), &[b"GET", b"\xff\xfekey"]);
    assert_eq!(read, Resp::Bulk(Some(b"bytes".to_vec())));
    let (status, body) = http_error(client().get(format!("{base}/v1/kv/bad%ZZ")));
    assert_eq!((status.as_u16(), body.kind.as_str()), (400, "bad_request"));
    let (status, body) = http_error(client().get(format!("{base}/v2/nothing")));
    assert_eq!((status.as_u16(), body.kind.as_str()), (404, "not_found"));
    assert!(body.error.contains("GET /v2/nothing"), "{body:?}");
    let (status, body) = http_error(client().patch(format!("{base}/v1/kv/k")));
    assert_eq!(
        (status.as_u16(), body.kind.as_str()),
        (405, "method_not_allowed")
    );
    let (status, _) = http_error(client().post(format!("{base}/v1/cluster")));
    assert_eq!(status.as_u16(), 405);
    let (status, body) = http_error(client().post(format!("{base}/v1/admin/join/abc")));
    assert_eq!((status.as_u16(), body.kind.as_str()), (400, "bad_request"));
    assert!(body.error.starts_with("bad node id"), "{body:?}");
}
