//! Attacks on the peer port of real `dynamo serve` processes (issue 17), each followed
//! by the checks that matter: nothing the attacker sent was applied (the cluster view
//! is unchanged) and every node still serves.

mod support;

use dynamo_core::membership::{MemberInfo, MemberStatus, Membership};
use dynamo_core::message::Message;
use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::types::NodeId;
use dynamo_server::view::ClusterView;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{run, Cluster};

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

/// Issue 17, finding 1: relaying one member's handshake proof to another lets an
/// attacker without the secret in as that member.
#[test]
fn a_relayed_handshake_does_not_let_an_attacker_in() {
    let cluster = Cluster::start_with(27000, 2, 16, 2);
    let before = cluster.view(1);
    let gossip = forged_gossip(&before, 16, 2);
    let outcome = relay_v2(&cluster.peer(1), &cluster.peer(2), NodeId(2), &gossip);
    assert_unchanged(&cluster, 1, &before, &format!("relay ({outcome:?})"));
    assert_serves(&cluster, 1);
}
