//! The workload: concurrent clients doing read-then-put over a small key set, each
//! put a value nobody else writes, recording every invocation and its outcome.
//!
//! Clients reach the cluster three ways: HTTP pinned to one node, RESP pinned to one
//! node (`VGET`/`VSET` with contexts), and the partition-aware Rust client.
//!
//! Outcomes: `Ok` (acknowledged), `Failed` (the cluster said no, or no connection
//! was made; a refused quorum may still have stored the value on some replica, which
//! Dynamo allows), `Unknown` (no answer in time).

use dynamo_server::client::{Client, ClientError};
use dynamo_server::resp::{call, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-request deadline of the workload's clients.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Unknown,
}

/// One put: its value is unique; `seen` is what the read before it returned (the
/// values its context covers).
#[derive(Clone, Debug)]
pub struct Put {
    pub process: usize,
    pub key: String,
    pub value: String,
    pub seen: Vec<String>,
    pub invoked: Duration,
    pub completed: Duration,
    pub outcome: Outcome,
}

/// Everything one client did.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub puts: Vec<Put>,
    pub gets_ok: usize,
    pub gets_failed: usize,
}

/// How a client reaches the cluster.
#[derive(Clone, Debug)]
pub enum Via {
    Http(String),
    Resp(String),
    Client(Vec<String>),
}

/// What a client run uses.
#[derive(Clone, Debug)]
pub struct Plan {
    pub keys: usize,
    pub duration: Duration,
    pub ops_max: usize,
    /// Extra query for HTTP requests, e.g. `?w=1` (empty: the cluster's N/R/W).
    pub query: String,
    pub seed: u64,
}

type Read = Result<(String, Vec<String>), Outcome>;

struct Conn {
    via: Via,
    http: reqwest::Client,
    client: Option<Arc<Client>>,
    query: String,
}

impl Conn {
    async fn get(&self, key: &str) -> Read {
        match &self.via {
            Via::Http(address) => http_get(&self.http, address, key, &self.query).await,
            Via::Resp(address) => resp_get(address, key).await,
            Via::Client(_) => match &self.client {
                Some(client) => match client.get(key).await {
                    Ok(v) => Ok((v.context.clone(), v.values().map(text).collect())),
                    Err(error) => Err(client_outcome(&error)),
                },
                None => Err(Outcome::Failed),
            },
        }
    }

    async fn put(&self, key: &str, context: &str, value: &str) -> Outcome {
        match &self.via {
            Via::Http(address) => {
                let url = format!("http://{address}/v1/kv/{key}{}", self.query);
                let request = self.http.put(url).header("x-dynamo-context", context);
                match request.body(value.to_string()).send().await {
                    Ok(r) if r.status().as_u16() == 204 => Outcome::Ok,
                    Ok(_) => Outcome::Failed,
                    Err(error) => request_outcome(&error),
                }
            }
            Via::Resp(address) => {
                let args: [&[u8]; 4] = [
                    b"VSET",
                    key.as_bytes(),
                    context.as_bytes(),
                    value.as_bytes(),
                ];
                match tokio::time::timeout(REQUEST_TIMEOUT, call(address, &args)).await {
                    Ok(Ok(Value::Bulk(Some(_)))) => Outcome::Ok,
                    Ok(Ok(_)) => Outcome::Failed,
                    Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                        Outcome::Failed
                    }
                    _ => Outcome::Unknown,
                }
            }
            Via::Client(_) => match &self.client {
                Some(client) => match client.put(key, value.as_bytes(), Some(context)).await {
                    Ok(_) => Outcome::Ok,
                    Err(error) => client_outcome(&error),
                },
                None => Outcome::Failed,
            },
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn request_outcome(error: &reqwest::Error) -> Outcome {
    if error.is_connect() {
        Outcome::Failed
    } else {
        Outcome::Unknown
    }
}

fn client_outcome(error: &ClientError) -> Outcome {
    match error {
        ClientError::Api { .. } => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

async fn http_get(http: &reqwest::Client, address: &str, key: &str, query: &str) -> Read {
    let url = format!("http://{address}/v1/kv/{key}{query}");
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| request_outcome(&e))?;
    let context = response
        .headers()
        .get("x-dynamo-context")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match response.status().as_u16() {
        200 => Ok((
            context,
            vec![response.text().await.map_err(|_| Outcome::Unknown)?],
        )),
        404 => Ok((context, Vec::new())),
        300 => {
            let body: serde_json::Value = response.json().await.map_err(|_| Outcome::Unknown)?;
            Ok((
                body["context"].as_str().unwrap_or_default().to_string(),
                decode_siblings(&body),
            ))
        }
        _ => Err(Outcome::Failed),
    }
}

/// The live values of a `300 Multiple Choices` body.
pub fn decode_siblings(body: &serde_json::Value) -> Vec<String> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let listed = body["siblings"].as_array().cloned().unwrap_or_default();
    listed
        .iter()
        .filter_map(|s| s["value"].as_str())
        .filter_map(|v| engine.decode(v).ok())
        .map(|v| text(&v))
        .collect()
}

async fn resp_get(address: &str, key: &str) -> Read {
    let args: [&[u8]; 2] = [b"VGET", key.as_bytes()];
    match tokio::time::timeout(REQUEST_TIMEOUT, call(address, &args)).await {
        Ok(Ok(Value::Array(parts))) => match parts.as_slice() {
            [Value::Bulk(Some(context)), Value::Array(values)] => {
                let live = values.iter().filter_map(|v| match v {
                    Value::Bulk(Some(bytes)) => Some(text(bytes)),
                    _ => None,
                });
                Ok((text(context), live.collect()))
            }
            _ => Err(Outcome::Failed),
        },
        Ok(_) => Err(Outcome::Failed),
        Err(_) => Err(Outcome::Unknown),
    }
}

/// Run one client process until the plan's time or op budget is spent.
pub async fn run(process: usize, via: Via, plan: Plan, epoch: Instant) -> History {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("an http client");
    let client = match &via {
        Via::Client(seeds) => Client::connect(seeds).await.ok(),
        _ => None,
    };
    let conn = Conn {
        via,
        http,
        client,
        query: plan.query.clone(),
    };
    let mut prng = dynamo_core::prng::Prng::new(plan.seed ^ process as u64);
    let mut history = History::default();
    let started = Instant::now();
    for seq in 0..plan.ops_max {
        if started.elapsed() > plan.duration {
            break;
        }
        let key = format!("k{}", prng.below(plan.keys as u64));
        let (context, seen) = match conn.get(&key).await {
            Ok(read) => read,
            Err(_) => {
                history.gets_failed += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        history.gets_ok += 1;
        let value = format!("p{process}-{seq}");
        let invoked = epoch.elapsed();
        let outcome = conn.put(&key, &context, &value).await;
        let completed = epoch.elapsed();
        let put = Put {
            process,
            key,
            value,
            seen,
            invoked,
            completed,
            outcome,
        };
        history.puts.push(put);
    }
    history
}
