//! TLS on the client ports against a real `dynamo serve`, with a CA and a server
//! certificate made in the test (rcgen): `redis-cli --tls --cacert` and
//! `curl --cacert` work, and plaintext clients of the same ports fail.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{eventually, Cluster};

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM files:
/// (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) -> [String; 3] {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "dynamo test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = [
        ("ca.pem", ca_cert.pem()),
        ("cert.pem", cert.pem()),
        ("key.pem", key.serialize_pem()),
    ];
    files.map(|(name, pem)| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_string()
    })
}

/// Output and success of a command.
fn output(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .expect("the tool is installed (scripts/test.sh)");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn tls_clients_work_and_plaintext_clients_fail() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = certificates(dir.path());
    let args = [
        "-R",
        "1",
        "-W",
        "1",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--requirepass",
        "pw",
    ];
    let cluster = Cluster::spawned(16800, 1, &args);
    let port = (16800 + 1).to_string();
    let tls_cli = |args: &[&str]| {
        output(
            Command::new("redis-cli")
                .args([
                    "--tls",
                    "--cacert",
                    &ca,
                    "-p",
                    &port,
                    "-a",
                    "pw",
                    "--no-auth-warning",
                ])
                .args(args),
        )
    };
    eventually("redis-cli --tls writes", || {
        tls_cli(&["set", "secret", "kept"]) == (true, "OK\n".to_string())
    });
    assert_eq!(tls_cli(&["get", "secret"]), (true, "kept\n".to_string()));
    let url = format!("https://{}/v1/kv/secret", cluster.http(1));
    let (ok, body) = output(
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &ca])
            .args(["-H", "Authorization: Bearer pw", &url]),
    );
    assert!(ok && body == "kept", "curl over TLS: {body}");
    let localhost = url.replace("127.0.0.1", "localhost");
    let (ok, body) = output(
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &ca])
            .args(["-H", "Authorization: Bearer pw", &localhost]),
    );
    assert!(
        ok && body == "kept",
        "the certificate names localhost too: {body}"
    );
    // The partition-aware client speaks HTTPS with the CA.
    let (ok, text) = output(Command::new(env!("CARGO_BIN_EXE_dynamo")).args([
        "get",
        "secret",
        "--addr",
        &cluster.http(1),
        "--token",
        "pw",
        "--cacert",
        &ca,
    ]));
    assert!(ok && text.contains("kept"), "dynamo get over https: {text}");
    plaintext_clients_fail(&cluster, &url, &port);
}

/// Plaintext clients of the TLS ports fail, and learn nothing; a client that does not
/// trust the CA refuses the server.
fn plaintext_clients_fail(cluster: &Cluster, url: &str, port: &str) {
    let (ok, text) =
        output(Command::new("redis-cli").args(["-p", port, "-a", "pw", "get", "secret"]));
    assert!(!text.contains("kept"), "{ok} {text}");
    let mut raw = std::net::TcpStream::connect(cluster.client(1)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    raw.write_all(b"PING\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"+PONG"), "{answer:?}");
    let plain = url.replace("https://", "http://");
    let (ok, text) = output(Command::new("curl").args([
        "-sS",
        "--max-time",
        "10",
        "-H",
        "Authorization: Bearer pw",
        &plain,
    ]));
    assert!(
        !ok && !text.contains("kept"),
        "plain http to the TLS port: {text}"
    );
    // A client that does not trust the CA refuses the server.
    let (ok, text) = output(Command::new("curl").args(["-sS", "--max-time", "10", url]));
    assert!(!ok, "an untrusted certificate: {text}");
}
