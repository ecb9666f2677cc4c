//! Where a member is reached: the server's meaning of the core's opaque member address.
//!
//! The core gossips one address string per member and never reads it. The server
//! stores every port a member serves in it, so clients learn the HTTP and RESP ports
//! of every node from any node's cluster view (client-driven coordination, Dynamo
//! §6.4). Format: `peer=HOST:PORT http=HOST:PORT resp=HOST:PORT` (space separated, any
//! order, `peer` required). A bare `HOST:PORT` (as given by `--member` and `--seed`
//! flags) is the peer address alone; the member's own announcement replaces it once
//! the member starts (see `Node::new`).

use std::fmt;

/// The ports of one member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub peer: String,
    pub http: Option<String>,
    pub resp: Option<String>,
}

impl Endpoints {
    /// Read an address string. Unknown fields are ignored (a newer member may announce
    /// more ports); a string without fields is a bare peer address.
    pub fn parse(address: &str) -> Self {
        if !address.contains('=') {
            return Self {
                peer: address.trim().to_string(),
                ..Self::default()
            };
        }
        let mut endpoints = Self::default();
        for field in address.split_whitespace() {
            match field.split_once('=') {
                Some(("peer", value)) => endpoints.peer = value.to_string(),
                Some(("http", value)) => endpoints.http = Some(value.to_string()),
                Some(("resp", value)) => endpoints.resp = Some(value.to_string()),
                _ => {}
            }
        }
        endpoints
    }
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer={}", self.peer)?;
        if let Some(http) = &self.http {
            write!(f, " http={http}")?;
        }
        if let Some(resp) = &self.resp {
            write!(f, " resp={resp}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_bare_addresses() {
        let full = Endpoints {
            peer: "127.0.0.1:7101".into(),
            http: Some("127.0.0.1:7201".into()),
            resp: Some("127.0.0.1:7001".into()),
        };
        assert_eq!(Endpoints::parse(&full.to_string()), full);
        let bare = Endpoints::parse("127.0.0.1:7101");
        assert_eq!(bare.peer, "127.0.0.1:7101");
        assert_eq!(bare.http, None);
        let newer = Endpoints::parse("grpc=x:1 peer=a:1 http=b:2");
        assert_eq!(
            (newer.peer.as_str(), newer.http.as_deref()),
            ("a:1", Some("b:2"))
        );
    }
}
