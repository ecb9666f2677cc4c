//! The transport between two endpoints in one process: handshake outcomes, record
//! integrity, and the outbound queue following a peer's address.

use super::noise::{self, Session};
use super::outbound::connect;
use super::*;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn credentials(node: u32, cluster: &str, secret: &str) -> Credentials {
    let listen = format!("127.0.0.1:{}", 7100 + node);
    Credentials::new(cluster, secret.as_bytes(), NodeId(node), &listen).unwrap()
}

/// Run a handshake between a dialer `a` and an acceptor `b`; what each concluded, and
/// both streams (to go on with records).
async fn pair(
    a: Credentials,
    b: Credentials,
) -> (
    Result<(TcpStream, Session), PeerError>,
    Result<(TcpStream, Session), PeerError>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let session = noise::respond(&mut stream, &b).await;
        session.map(|session| (stream, session))
    });
    let mut stream = TcpStream::connect(address).await.unwrap();
    let dialer = noise::initiate(&mut stream, &a).await;
    let dialer = dialer.map(|session| (stream, session));
    (dialer, accept.await.unwrap())
}

#[tokio::test]
async fn peers_with_the_secret_authenticate_each_other() {
    let (a, b) = pair(credentials(1, "c", "s"), credentials(2, "c", "s")).await;
    let (a, b) = (a.unwrap().1, b.unwrap().1);
    // Each learns the other's id and where it listens.
    assert_eq!(a.peer().node, NodeId(2));
    assert_eq!(a.peer().listen, "127.0.0.1:7102");
    assert_eq!(b.peer().node, NodeId(1));
    assert_eq!(b.peer().listen, "127.0.0.1:7101");
    assert_eq!(a.capabilities(), wire::capability::NOISE_XXPSK3);
}

#[tokio::test]
async fn a_peer_without_the_secret_is_refused_by_both_sides() {
    let (a, b) = pair(credentials(1, "c", "wrong"), credentials(2, "c", "s")).await;
    assert!(matches!(b, Err(PeerError::Authentication)), "{b:?}");
    assert!(matches!(a, Err(PeerError::ClosedInHandshake)), "{a:?}");
    // The other way round: the acceptor without the secret cannot prove it either.
    let (a, b) = pair(credentials(1, "c", "s"), credentials(2, "c", "wrong")).await;
    assert!(matches!(b, Err(PeerError::Authentication)), "{b:?}");
    assert!(a.is_err(), "{a:?}");
}

#[tokio::test]
async fn a_peer_of_another_cluster_is_refused() {
    let (a, _) = pair(credentials(1, "other", "s"), credentials(2, "c", "s")).await;
    assert!(
        matches!(a, Err(PeerError::WrongCluster(ref name)) if name == "c"),
        "{a:?}"
    );
}

/// A dialled address answered by another member (it moved, or the address is
/// reused) is refused, not taken for the node the messages are meant for.
#[tokio::test]
async fn a_peer_that_is_not_the_node_dialled_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let impostor = credentials(3, "c", "s");
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = noise::respond(&mut stream, &impostor).await;
    });
    let dialled = connect(&address, &credentials(1, "c", "s"), NodeId(2)).await;
    assert!(
        matches!(
            dialled,
            Err(PeerError::WrongNode {
                expected: NodeId(2),
                found: NodeId(3),
                ..
            })
        ),
        "{dialled:?}"
    );
}

/// An established session pair: the dialer's (writing) and the acceptor's (reading).
async fn sessions() -> ((TcpStream, Session), (TcpStream, Session)) {
    let (a, b) = pair(credentials(1, "c", "s"), credentials(2, "c", "s")).await;
    (a.unwrap(), b.unwrap())
}

#[tokio::test]
async fn records_of_any_size_read_back_as_sealed() {
    let ((mut a, mut writer), (mut b, mut reader)) = sessions().await;
    let sizes = [
        0,
        1,
        noise::CHUNK_PLAINTEXT_MAX,
        3 * noise::CHUNK_PLAINTEXT_MAX + 7,
    ];
    let mut wire = Vec::new();
    for size in sizes {
        let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();
        writer
            .write_record(&mut a, &plaintext, &mut wire, 1000)
            .await
            .unwrap();
        let mut opened = Vec::new();
        reader.open(&mut b, &mut opened, size).await.unwrap();
        assert_eq!(opened, plaintext, "a record of {size} bytes");
    }
}

/// Seal `plaintexts` as consecutive records of a fresh session; the reading session
/// and the sealed bytes, to be replayed or altered before the reader sees them.
async fn sealed(plaintexts: &[&[u8]]) -> (TcpStream, TcpStream, Session, Vec<Vec<u8>>) {
    let ((a, mut writer), (b, reader)) = sessions().await;
    let records = plaintexts
        .iter()
        .map(|plaintext| {
            let mut record = Vec::new();
            writer.seal(plaintext, &mut record).unwrap();
            record
        })
        .collect();
    (a, b, reader, records)
}

#[tokio::test]
async fn a_replayed_record_is_refused() {
    let (mut a, mut b, mut reader, records) = sealed(&[b"first", b"second"]).await;
    a.write_all(&records[0]).await.unwrap();
    a.write_all(&records[0]).await.unwrap();
    let mut opened = Vec::new();
    reader.open(&mut b, &mut opened, 100).await.unwrap();
    assert_eq!(opened, b"first");
    let replayed = reader.open(&mut b, &mut opened, 100).await;
    assert!(
        matches!(replayed, Err(PeerError::Authentication)),
        "{replayed:?}"
    );
}

#[tokio::test]
async fn reordered_records_are_refused() {
    let (mut a, mut b, mut reader, records) = sealed(&[b"first", b"second"]).await;
    a.write_all(&records[1]).await.unwrap();
    let mut opened = Vec::new();
    let reordered = reader.open(&mut b, &mut opened, 100).await;
    assert!(
        matches!(reordered, Err(PeerError::Authentication)),
        "{reordered:?}"
    );
}

#[tokio::test]
async fn a_record_with_any_byte_flipped_is_refused() {
    let plaintext = vec![7u8; 2 * noise::CHUNK_PLAINTEXT_MAX];
    let (_, _, _, records) = sealed(&[&plaintext]).await;
    let length = records[0].len();
    // The header, the first chunk, and the last byte of the last chunk's tag.
    for at in [0, noise::RECORD_HEADER_BYTES + 10, length - 1] {
        let (mut a, mut b, mut reader, records) = sealed(&[&plaintext]).await;
        let mut tampered = records[0].clone();
        tampered[at] ^= 0x01;
        a.write_all(&tampered).await.unwrap();
        let mut opened = Vec::new();
        let result = reader.open(&mut b, &mut opened, plaintext.len()).await;
        assert!(
            matches!(result, Err(PeerError::Authentication)),
            "byte {at}: {result:?}"
        );
    }
}

/// A declared length over the limit is refused from the header alone: the reader
/// neither waits for the body nor allocates for it.
#[tokio::test]
async fn an_oversized_record_is_refused_before_its_body_is_read() {
    let big = vec![0u8; 1000];
    let (mut a, mut b, mut reader, records) = sealed(&[&big]).await;
    a.write_all(&records[0][..noise::RECORD_HEADER_BYTES])
        .await
        .unwrap();
    let mut opened = Vec::new();
    let read = reader.open(&mut b, &mut opened, 999);
    let result = tokio::time::timeout(Duration::from_secs(5), read).await;
    let result = result.expect("refused without waiting for the body");
    assert!(
        matches!(
            result,
            Err(PeerError::TooLarge {
                size: 1000,
                max: 999
            })
        ),
        "{result:?}"
    );
    assert_eq!(opened.capacity(), 0, "nothing allocated for the body");
}

fn ping(request: u64) -> Message {
    Message::Ping { request }
}

/// Accept one connection as node `node` and read `count` messages from it.
async fn receive_pings(listener: TcpListener, node: u32, count: usize) -> Vec<Message> {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut session = noise::respond(&mut stream, &credentials(node, "c", "s"))
        .await
        .unwrap();
    let mut messages = Vec::new();
    let mut record = Vec::new();
    while messages.len() < count {
        let max = wire::RECORD_BYTES_MAX;
        session.open(&mut stream, &mut record, max).await.unwrap();
        for payload in wire::frames(&record) {
            messages.push(decode_frame(payload.unwrap()).unwrap());
        }
    }
    messages
}

/// Everything queued for a peer arrives, in order, through the batching writer.
#[tokio::test]
async fn queued_messages_arrive_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let receiver = tokio::spawn(receive_pings(listener, 2, 2000));
    let runtime = tokio::runtime::Handle::current();
    let outbound = Outbound::new(credentials(1, "c", "s"), runtime, BTreeMap::new());
    for request in 0..2000 {
        outbound.send(NodeId(2), Some(address.clone()), ping(request));
    }
    let received = tokio::time::timeout(Duration::from_secs(10), receiver).await;
    let received = received.expect("delivered in time").unwrap();
    assert_eq!(received, (0..2000).map(ping).collect::<Vec<_>>());
}

/// A peer that moves is followed: once a send names its new address, the queue's
/// connection is re-dialled there, and later messages arrive at the new address.
#[tokio::test]
async fn a_peer_is_followed_to_its_new_address() {
    let old = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let new = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (old_address, new_address) = (
        old.local_addr().unwrap().to_string(),
        new.local_addr().unwrap().to_string(),
    );
    let at_old = tokio::spawn(receive_pings(old, 2, 1));
    let at_new = tokio::spawn(receive_pings(new, 2, 1));
    let runtime = tokio::runtime::Handle::current();
    let outbound = Outbound::new(credentials(1, "c", "s"), runtime, BTreeMap::new());
    outbound.send(NodeId(2), Some(old_address), ping(1));
    let first = tokio::time::timeout(Duration::from_secs(10), at_old).await;
    assert_eq!(first.expect("delivered").unwrap(), vec![ping(1)]);
    outbound.send(NodeId(2), Some(new_address), ping(2));
    let second = tokio::time::timeout(Duration::from_secs(10), at_new).await;
    assert_eq!(
        second.expect("delivered at the new address").unwrap(),
        vec![ping(2)]
    );
}

/// Both hellos are bound into the handshake: one altered on the path (here, a
/// capability bit added) makes the handshake fail.
#[tokio::test]
async fn an_altered_hello_fails_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        noise::respond(&mut stream, &credentials(2, "c", "s")).await
    });
    // A relay between the dialer and the acceptor that sets a bit in the dialer's
    // hello, and passes everything else on.
    let relay = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_address = relay.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut from_dialer, _) = relay.accept().await.unwrap();
        let mut to_acceptor = TcpStream::connect(address).await.unwrap();
        let mut hello = [0u8; wire::HELLO_BYTES];
        from_dialer.read_exact(&mut hello).await.unwrap();
        hello[wire::HELLO_BYTES - 1] |= 0x80;
        to_acceptor.write_all(&hello).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut from_dialer, &mut to_acceptor).await;
    });
    let mut stream = TcpStream::connect(relay_address).await.unwrap();
    let dialer = noise::initiate(&mut stream, &credentials(1, "c", "s")).await;
    let acceptor = accept.await.unwrap();
    assert!(dialer.is_err(), "{dialer:?}");
    assert!(
        matches!(acceptor, Err(PeerError::Authentication)),
        "{acceptor:?}"
    );
}
