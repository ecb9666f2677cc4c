//! Attacks on the peer port of real `dynamo serve` processes (issue 17), each followed
//! by the checks that matter: nothing the attacker sent was applied (the cluster view
//! is unchanged), the connection was closed, and every node still serves.
//!
//! Where an attack replays or alters genuine traffic, the test first produces that
//! traffic as a member would (it knows the test cluster's secret), then plays the
//! attacker who holds only the bytes.

mod support;

use dynamo_core::membership::{MemberInfo, MemberStatus, Membership};
use dynamo_core::message::Message;
use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::types::NodeId;
use dynamo_server::peer::noise::{self, Session};
use dynamo_server::peer::{encode_frame, Credentials, PeerError};
use dynamo_server::view::ClusterView;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{block_on, run, Cluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The node id the forged gossip adds: present in a view only if a forgery got in.
const INTRUDER: NodeId = NodeId(66);
/// How long a forged message is given to show up in the victim's view.
const APPLY_WAIT: Duration = Duration::from_secs(3);

/// The peer protocol before issue 17 (version 2), spoken by the attacker: frames of a
/// `u32` big-endian length, a version byte and postcard; a `Hello` each way, then each
/// side's HMAC proof over the other's nonce.
mod legacy {
    use dynamo_core::types::NodeId;
    use serde::{Deserialize, Serialize};
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    pub const VERSION: u8 = 2;
    const HELLO_BYTES_MAX: usize = 4096;

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Hello {
        pub version: u8,
        pub cluster: String,
        pub node: NodeId,
        pub listen: String,
        pub nonce: [u8; 16],
    }

    pub fn connect(address: &str) -> Result<TcpStream, String> {
        let stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
        let limit = Some(Duration::from_secs(5));
        stream.set_read_timeout(limit).map_err(|e| e.to_string())?;
        Ok(stream)
    }

    pub fn write_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> Result<(), String> {
        let mut payload = vec![VERSION];
        payload.extend(postcard::to_allocvec(value).map_err(|e| e.to_string())?);
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend(payload);
        stream.write_all(&frame).map_err(|e| format!("write: {e}"))
    }

    /// One handshake frame's payload (version byte first).
    pub fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
        let mut length = [0u8; 4];
        stream
            .read_exact(&mut length)
            .map_err(|e| format!("read: {e}"))?;
        let size = u32::from_be_bytes(length) as usize;
        if size > HELLO_BYTES_MAX {
            return Err(format!("a {size}-byte handshake frame"));
        }
        let mut payload = vec![0; size];
        stream
            .read_exact(&mut payload)
            .map_err(|e| format!("read: {e}"))?;
        Ok(payload)
    }

    /// The peer's `Hello`; a frame of another version is reported as such (what a v2
    /// node makes of a newer peer's hello).
    pub fn read_hello(stream: &mut TcpStream) -> Result<Hello, String> {
        let payload = read_frame(stream)?;
        match payload.split_first() {
            Some((&VERSION, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
            Some((version, _)) => Err(format!("peer speaks protocol version {version}")),
            None => Err("an empty frame".into()),
        }
    }
}

/// The relay against the v2 handshake, whose proof covers only the verifier's nonce,
/// the prover's id and its address: open a connection to the victim `v` claiming to
/// be member `a`, present `v`'s nonce to `a` as our own on a second connection, and
/// relay `a`'s proof to `v`. Then send `message` to `v` as `a`. Returns how far the
/// attacker got.
fn relay_v2(v: &str, a: &str, a_id: NodeId, message: &Message) -> Result<(), String> {
    let mut to_v = legacy::connect(v)?;
    let theirs = legacy::read_hello(&mut to_v)?;
    let as_a = legacy::Hello {
        version: legacy::VERSION,
        cluster: theirs.cluster.clone(),
        node: a_id,
        listen: a.to_string(),
        nonce: [7; 16],
    };
    legacy::write_frame(&mut to_v, &as_a)?;
    let _v_proof = legacy::read_frame(&mut to_v)?;
    let mut to_a = legacy::connect(a)?;
    let _a_hello = legacy::read_hello(&mut to_a)?;
    let relaying = legacy::Hello {
        version: legacy::VERSION,
        cluster: theirs.cluster,
        node: INTRUDER,
        listen: "127.0.0.1:1".into(),
        nonce: theirs.nonce,
    };
    legacy::write_frame(&mut to_a, &relaying)?;
    // `a` proves itself over `v`'s nonce: exactly the proof `v` waits for.
    let proof = legacy::read_frame(&mut to_a)?;
    let proof: Vec<u8> = postcard::from_bytes(&proof[1..]).map_err(|e| e.to_string())?;
    legacy::write_frame(&mut to_v, &proof)?;
    legacy::write_frame(&mut to_v, message)?;
    // The victim closes a connection it refuses; give it the time to.
    std::thread::sleep(Duration::from_millis(200));
    legacy::write_frame(&mut to_v, message)
}

/// A gossip of a ring of epoch 2 that adds [`INTRUDER`] (at an address nobody serves)
/// to the members `cluster` has: what an attacker inside the peer protocol would send
/// to take partitions.
fn forged_gossip(view: &ClusterView, partitions: u32, replication_factor: usize) -> Message {
    let ring_member = |node| RingMember {
        node,
        weight: 1,
        zone: None,
    };
    let members: Vec<RingMember> = view.members.iter().map(|m| ring_member(m.id)).collect();
    let config = RingConfig {
        partitions,
        replication_factor,
    };
    let ring = Ring::new(config, members).expect("a valid ring");
    let ring = ring.join(ring_member(INTRUDER)).expect("a valid join");
    let mut infos = BTreeMap::new();
    for member in view.members.iter().map(|m| m.id).chain([INTRUDER]) {
        let info = MemberInfo {
            version: 1_000,
            status: MemberStatus::Valid,
            address: "127.0.0.1:1".into(),
            weight: 1,
            zone: None,
        };
        infos.insert(member, info);
    }
    Message::Gossip {
        membership: Box::new(Membership::bootstrap(infos, ring)),
        reply: false,
    }
}

/// Fails if a forged message shows up in node `id`'s view within [`APPLY_WAIT`].
fn assert_unchanged(cluster: &Cluster, id: u16, before: &ClusterView, attack: &str) {
    let deadline = Instant::now() + APPLY_WAIT;
    while Instant::now() < deadline {
        let view = cluster.view(id);
        let intruded = view.members.iter().any(|m| m.id == INTRUDER);
        assert!(
            !intruded && view.epoch == before.epoch,
            "{attack}: n{id} applied a forged message: epoch {} -> {}, members {:?}",
            before.epoch,
            view.epoch,
            view.members.iter().map(|m| m.id).collect::<Vec<_>>(),
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node still serves clients: a write and a read through it answer.
fn assert_serves(cluster: &Cluster, id: u16) {
    let key = format!("serves-{id}");
    let set = run(&cluster.client(id), &[b"SET", key.as_bytes(), b"yes"]);
    assert_eq!(
        set,
        dynamo_server::resp::Value::Simple("OK".into()),
        "n{id}"
    );
    let get = run(&cluster.client(id), &[b"GET", key.as_bytes()]);
    assert_eq!(get, support::bulk(b"yes"), "n{id}");
}

/// The same relay against the Noise handshake: an attacker without the secret sends
/// both members a first message of its own, then relays member `a`'s answer to the
/// victim `v` as if it were the last handshake message. Returns how far it got.
async fn relay_v3(v: &str, a: &str) -> Result<(), String> {
    let text = |e: std::io::Error| e.to_string();
    let mut to_v = TcpStream::connect(v).await.map_err(text)?;
    let mut to_a = TcpStream::connect(a).await.map_err(text)?;
    let mut v_hello = [0u8; dynamo_server::peer::wire::HELLO_BYTES];
    let mut a_hello = v_hello;
    to_v.read_exact(&mut v_hello).await.map_err(text)?;
    to_a.read_exact(&mut a_hello).await.map_err(text)?;
    // Each hears the other's hello, and the same ephemeral key (any 32 bytes are one).
    to_v.write_all(&a_hello).await.map_err(text)?;
    to_a.write_all(&v_hello).await.map_err(text)?;
    let first = [&[0u8, 32][..], &[9u8; 32]].concat();
    to_v.write_all(&first).await.map_err(text)?;
    to_a.write_all(&first).await.map_err(text)?;
    let _from_v = handshake_message(&mut to_v).await?;
    let from_a = handshake_message(&mut to_a).await?;
    to_v.write_all(&from_a).await.map_err(text)?;
    let mut proof = [0u8; noise::RECORD_HEADER_BYTES];
    let answered = tokio::time::timeout(Duration::from_secs(5), to_v.read_exact(&mut proof));
    match answered.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!("the victim closed: {error}")),
        Err(_) => Err("the victim never answered".into()),
    }
}

/// One handshake message with its length prefix, as read from the wire.
async fn handshake_message(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut length = [0u8; 2];
    stream
        .read_exact(&mut length)
        .await
        .map_err(|e| e.to_string())?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream
        .read_exact(&mut message)
        .await
        .map_err(|e| e.to_string())?;
    Ok([&length[..], &message].concat())
}

/// Issue 17, finding 1: relaying one member's handshake proof to another let an
/// attacker without the secret in as that member (this test failed on the v2
/// handshake: the forged gossip was applied). Against the Noise transport neither the
/// v2 relay nor its v3 counterpart gets in.
#[test]
fn a_relayed_handshake_does_not_let_an_attacker_in() {
    let cluster = Cluster::start_with(27000, 2, 16, 2);
    let before = cluster.view(1);
    let gossip = forged_gossip(&before, 16, 2);
    let (v, a) = (cluster.peer(1), cluster.peer(2));
    let v2 = relay_v2(&v, &a, NodeId(2), &gossip);
    assert!(
        matches!(&v2, Err(e) if e.contains("peer speaks protocol version 3")),
        "{v2:?}"
    );
    let v3 = block_on(relay_v3(&v, &a));
    assert!(v3.is_err(), "the victim answered a relayed handshake");
    assert_unchanged(&cluster, 1, &before, &format!("relay ({v2:?}, {v3:?})"));
    assert!(
        cluster.log(1).contains("authentication failed"),
        "the victim logs the relayed handshake it refused"
    );
    assert_serves(&cluster, 1);
}

/// A hello of the v2 protocol (the HMAC handshake) is refused by name, on both sides:
/// the v2 peer reads that this node speaks version 3, and this node logs that the
/// peer speaks version 2, not that a frame failed to decode.
#[test]
fn a_v2_peer_is_refused_with_a_clear_message() {
    let cluster = Cluster::start_with(27200, 2, 16, 2);
    let before = cluster.log(1).len();
    let mut stream = legacy::connect(&cluster.peer(1)).unwrap();
    let hello = legacy::Hello {
        version: legacy::VERSION,
        cluster: "test".into(),
        node: NodeId(2),
        listen: cluster.peer(2),
        nonce: [1; 16],
    };
    legacy::write_frame(&mut stream, &hello).unwrap();
    let theirs = legacy::read_hello(&mut stream);
    assert!(
        matches!(&theirs, Err(e) if e == "peer speaks protocol version 3"),
        "{theirs:?}"
    );
    support::eventually("the refusal logged", || {
        let log = cluster.log(1);
        log[before..].contains("peer speaks peer protocol version 2 (the HMAC handshake)")
    });
    assert_serves(&cluster, 1);
}

/// The test cluster's credentials for a member the test plays (node 9), with `secret`.
fn member_credentials(secret: &str) -> Credentials {
    Credentials::new("test", secret.as_bytes(), NodeId(9), "127.0.0.1:1").unwrap()
}

/// A connection to `address` authenticated as node 9 with `secret`.
async fn authenticated(address: &str, secret: &str) -> Result<(TcpStream, Session), PeerError> {
    let mut stream = TcpStream::connect(address).await?;
    let session = noise::initiate(&mut stream, &member_credentials(secret)).await?;
    Ok((stream, session))
}

/// `message` framed and sealed as the session's next record.
fn record(session: &mut Session, message: &Message) -> Vec<u8> {
    let mut plaintext = Vec::new();
    encode_frame(message, &mut plaintext).unwrap();
    let mut sealed = Vec::new();
    session.seal(&plaintext, &mut sealed).unwrap();
    sealed
}

/// Whether the node closes `stream` within a few seconds (it sends nothing after the
/// handshake, so any byte read is a failure too).
async fn closed_by_node(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
}

/// A genuine record replayed, within its connection or into another, is refused and
/// closes the connection; nothing after it is applied.
#[test]
fn a_replayed_record_is_refused() {
    let cluster = Cluster::start_with(27400, 2, 16, 2);
    let before = cluster.view(1);
    let gossip = forged_gossip(&before, 16, 2);
    let ping = Message::Ping { request: 1 };
    let peer = cluster.peer(1);
    block_on(async {
        // Within a connection: a ping, the same bytes again, then the gossip.
        let (mut stream, mut session) = authenticated(&peer, "test-secret").await.unwrap();
        let first = record(&mut session, &ping);
        let after = record(&mut session, &gossip);
        stream.write_all(&first).await.unwrap();
        stream.write_all(&first).await.unwrap();
        let _ = stream.write_all(&after).await;
        assert!(
            closed_by_node(&mut stream).await,
            "replay within a connection"
        );
        // Into another connection: a record withheld from the first.
        let (_first_stream, mut first_session) = authenticated(&peer, "test-secret").await.unwrap();
        let withheld = record(&mut first_session, &gossip);
        let (mut stream, _) = authenticated(&peer, "test-secret").await.unwrap();
        stream.write_all(&withheld).await.unwrap();
        assert!(
            closed_by_node(&mut stream).await,
            "replay into another connection"
        );
    });
    assert_unchanged(&cluster, 1, &before, "replay");
    assert_serves(&cluster, 1);
}

/// A genuine record with one byte flipped, in its header or its body, is refused and
/// closes the connection; nothing of it is applied.
#[test]
fn a_tampered_record_is_refused() {
    let cluster = Cluster::start_with(27600, 2, 16, 2);
    let before = cluster.view(1);
    let gossip = forged_gossip(&before, 16, 2);
    let peer = cluster.peer(1);
    block_on(async {
        for at in [3, noise::RECORD_HEADER_BYTES + 5] {
            let (mut stream, mut session) = authenticated(&peer, "test-secret").await.unwrap();
            let mut tampered = record(&mut session, &gossip);
            tampered[at] ^= 0x20;
            stream.write_all(&tampered).await.unwrap();
            assert!(closed_by_node(&mut stream).await, "byte {at} flipped");
        }
    });
    assert_unchanged(&cluster, 1, &before, "tampering");
    assert!(cluster.log(1).contains("authentication failed"));
    assert_serves(&cluster, 1);
}

/// A peer with the wrong secret fails the handshake on both sides; it never gets to
/// send a message.
#[test]
fn a_peer_with_the_wrong_secret_is_refused() {
    let cluster = Cluster::start_with(27800, 2, 16, 2);
    let before = cluster.view(1);
    let refused = block_on(authenticated(&cluster.peer(1), "not-the-test-secret"));
    assert!(
        matches!(refused, Err(PeerError::ClosedInHandshake)),
        "{refused:?}"
    );
    assert_unchanged(&cluster, 1, &before, "wrong secret");
    support::eventually("the refusal logged", || {
        cluster.log(1).contains("authentication failed")
    });
    assert_serves(&cluster, 1);
}

/// Node `id`'s resident set, in bytes.
fn rss(cluster: &Cluster, id: u16) -> u64 {
    let pid = cluster.pid(id).expect("the node runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// What any node may hold after the flood and the oversized declarations below (a
/// debug build at rest holds some tens of MiB).
const RSS_MAX: u64 = 200 * 1024 * 1024;
/// The declared size of issue 17's oversized frame.
const DECLARED_BYTES: usize = 300 * 1024 * 1024;

/// Declaring a 300 MiB frame gets no allocation of it: before authentication (as the
/// length of a first frame) and after it (as an authenticated record's length), the
/// connection is closed from the header alone.
#[test]
fn a_300_mib_declared_frame_is_refused_from_its_header() {
    let cluster = Cluster::start_with(28000, 2, 16, 2);
    let peer = cluster.peer(1);
    block_on(async {
        let mut stream = TcpStream::connect(&peer).await.unwrap();
        let mut declared = (DECLARED_BYTES as u32).to_be_bytes().to_vec();
        declared.push(dynamo_server::peer::PEER_PROTOCOL_VERSION);
        stream.write_all(&declared).await.unwrap();
        let _ = stream.write_all(&vec![0u8; 1024 * 1024]).await;
        // The node's hello comes first: it sends it before reading ours.
        let mut hello = [0u8; dynamo_server::peer::wire::HELLO_BYTES];
        stream.read_exact(&mut hello).await.unwrap();
        assert!(closed_by_node(&mut stream).await, "unauthenticated");
        let (mut stream, mut session) = authenticated(&peer, "test-secret").await.unwrap();
        let mut header = Vec::new();
        session.seal_header(DECLARED_BYTES, &mut header).unwrap();
        stream.write_all(&header).await.unwrap();
        let _ = stream.write_all(&vec![0u8; 1024 * 1024]).await;
        assert!(closed_by_node(&mut stream).await, "authenticated");
    });
    let held = rss(&cluster, 1);
    eprintln!("300 MiB declared: n1 holds {} KiB", held / 1024);
    assert!(held < RSS_MAX, "n1 holds {held} bytes");
    assert_serves(&cluster, 1);
    assert_serves(&cluster, 2);
}

/// The most connections the flood holds open at once: under the process's open file
/// limit (read from /proc), and well over the node's pre-authentication cap.
fn flood_window() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1024);
    soft.saturating_sub(256).clamp(300, 8000)
}

/// 10,000 unauthenticated connections, opened as fast as one thread can, some silent,
/// some stalled after a hello, some sending garbage: every node keeps serving, within
/// its memory bound.
#[test]
fn ten_thousand_unauthenticated_connections_leave_every_node_serving() {
    const CONNECTIONS: usize = 10_000;
    const FLOODING_MAX: Duration = Duration::from_secs(30);
    let cluster = Cluster::start_with(28200, 2, 16, 2);
    let peer = cluster.peer(1);
    let window = flood_window();
    let hello = dynamo_server::peer::wire::Hello::ours().encode();
    let started = Instant::now();
    let mut open = std::collections::VecDeque::new();
    let mut opened = 0;
    for i in 0..CONNECTIONS {
        assert!(
            started.elapsed() < FLOODING_MAX,
            "{i} connections in {FLOODING_MAX:?}"
        );
        let address = peer.parse().unwrap();
        let connected = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1));
        let Ok(mut stream) = connected else {
            continue;
        };
        opened += 1;
        use std::io::Write;
        let _ = match i % 3 {
            0 => Ok(()),
            1 => stream.write_all(&hello),
            _ => stream.write_all(b"GET / HTTP/1.1\r\n\r\n"),
        };
        open.push_back(stream);
        if open.len() > window {
            open.pop_front();
        }
    }
    eprintln!(
        "flood: {opened} of {CONNECTIONS} opened in {:?}",
        started.elapsed()
    );
    // A few attempts may time out when a burst overflows the accept queue.
    assert!(
        opened >= CONNECTIONS * 9 / 10,
        "only {opened} connections opened"
    );
    // While the last of them are still open, the node serves and holds little.
    assert_serves(&cluster, 1);
    assert_serves(&cluster, 2);
    for id in [1, 2] {
        let held = rss(&cluster, id);
        eprintln!("flood: n{id} holds {} KiB", held / 1024);
        assert!(held < RSS_MAX, "n{id} holds {held} bytes");
    }
    drop(open);
    assert_serves(&cluster, 1);
}
