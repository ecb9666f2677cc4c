//! The JSON documents of the HTTP API, as types shared by both ends: the server
//! (`http.rs`) serializes them, the client (`client.rs`), the CLI (`cli.rs`) and the
//! tests deserialize the same types, so a renamed field fails to compile instead of
//! reading as null. The browser page (`wasm/www/app.js`, live mode) reads
//! [`ClusterView`] by these field names too: a rename here needs a change there.
//!
//! - [`ClusterView`]: `GET /v1/cluster`, what one node sees of the cluster;
//! - [`SiblingsDocument`]: the body of a `300 Multiple Choices` read;
//! - [`Changed`]: the answer to an accepted join or leave;
//! - [`ErrorDocument`]: the body of every error answer.

use crate::driver::Snapshot;
use crate::endpoints::Endpoints;
use dynamo_core::membership::MemberStatus;
use dynamo_core::node::TransferStatus;
use dynamo_core::ring::Ring;
use dynamo_core::types::{NodeId, PartitionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /v1/cluster`: the membership, ring, transfers and health one node sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The node answering.
    pub node: NodeId,
    /// Its ring epoch.
    pub epoch: u64,
    /// N: the home replicas of each partition.
    pub replication_factor: usize,
    pub members: Vec<MemberView>,
    /// `None` until the node knows a ring (it is still joining).
    pub ring: Option<Ring>,
    /// Every partition's homes and preference list (empty without a ring).
    pub partitions: Vec<PartitionView>,
    pub transfers: TransfersView,
    /// Hints held for unreachable homes (`None`: the store failed to count them).
    pub hints: Option<usize>,
    /// The Merkle root of every partition the node holds, 32 hex digits: replicas of a
    /// partition hold the same versions exactly when their roots are equal.
    pub merkle_roots: BTreeMap<u32, String>,
    /// Requests the node coordinates now.
    pub in_flight: usize,
}

/// One member as the answering node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: NodeId,
    pub status: MemberState,
    /// Where peers reach it.
    pub peer: String,
    /// Its HTTP and RESP ports, once it announced them (`None` before).
    pub http: Option<String>,
    pub resp: Option<String>,
    pub weight: u32,
    pub zone: Option<String>,
    /// The answering node's failure detector suspects it.
    pub suspected: bool,
    /// Time since its last message reached the answering node (`None`: never).
    pub last_seen_ms_ago: Option<u64>,
}

/// A member's lifecycle, in lowercase on the wire (the core's `MemberStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    Joining,
    Valid,
    Leaving,
    Left,
}

impl MemberState {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Joining => "joining",
            MemberState::Valid => "valid",
            MemberState::Leaving => "leaving",
            MemberState::Left => "left",
        }
    }
}

impl std::fmt::Display for MemberState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl From<MemberStatus> for MemberState {
    fn from(status: MemberStatus) -> Self {
        match status {
            MemberStatus::Joining => MemberState::Joining,
            MemberStatus::Valid => MemberState::Valid,
            MemberStatus::Leaving => MemberState::Leaving,
            MemberStatus::Left => MemberState::Left,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    pub partition: PartitionId,
    /// The first N nodes of the preference list: where the partition's keys live.
    pub homes: Vec<NodeId>,
    pub preference_list: Vec<NodeId>,
}

/// The partition transfers of the node's ring epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransfersView {
    pub total: usize,
    pub done: usize,
    /// The transfers not done yet.
    pub pending: Vec<Move>,
    /// Every transfer of the epoch, done or not.
    pub planned: Vec<PlannedMove>,
}

/// A partition moving from one node to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub partition: PartitionId,
    pub from: NodeId,
    pub to: NodeId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMove {
    pub partition: PartitionId,
    pub from: NodeId,
    pub to: NodeId,
    /// The receiver acknowledged the last chunk (as far as this node has heard).
    pub done: bool,
}

impl ClusterView {
    /// What a node's snapshot shows operators and clients.
    pub fn of(snapshot: &Snapshot) -> Self {
        let ring = snapshot.membership.ring().cloned();
        let partitions = ring
            .as_ref()
            .map(|ring| partitions(ring, snapshot.replication_factor))
            .unwrap_or_default();
        ClusterView {
            node: snapshot.id,
            epoch: snapshot.membership.epoch(),
            replication_factor: snapshot.replication_factor,
            members: members(snapshot),
            ring,
            partitions,
            transfers: TransfersView::of(&snapshot.transfers),
            hints: snapshot.hints,
            merkle_roots: snapshot
                .merkle_roots
                .iter()
                .map(|(partition, root)| (*partition, format!("{root:032x}")))
                .collect(),
            in_flight: snapshot.in_flight,
        }
    }

    /// The members not gone for good (not `left`): the nodes a client may ask.
    pub fn serving(&self) -> impl Iterator<Item = &MemberView> {
        self.members
            .iter()
            .filter(|member| member.status != MemberState::Left)
    }
}

fn members(snapshot: &Snapshot) -> Vec<MemberView> {
    let members = snapshot.membership.members().iter();
    let view = |(id, info): (&NodeId, &dynamo_core::membership::MemberInfo)| {
        let endpoints = Endpoints::parse(&info.address);
        MemberView {
            id: *id,
            status: info.status.into(),
            peer: endpoints.peer,
            http: endpoints.http,
            resp: endpoints.resp,
            weight: info.weight,
            zone: info.zone.clone(),
            suspected: snapshot.suspected.contains(id),
            last_seen_ms_ago: snapshot.last_seen.get(id).map(|d| d.as_millis() as u64),
        }
    };
    members.map(view).collect()
}

fn partitions(ring: &Ring, replication_factor: usize) -> Vec<PartitionView> {
    (0..ring.config().partitions)
        .map(|p| {
            let partition = PartitionId(p);
            PartitionView {
                partition,
                homes: ring.home_replicas(partition, replication_factor),
                preference_list: ring.preference_list(partition).nodes().to_vec(),
            }
        })
        .collect()
}

impl TransfersView {
    fn of(transfers: &[TransferStatus]) -> Self {
        let pending: Vec<Move> = transfers
            .iter()
            .filter(|t| !t.done)
            .map(|t| Move {
                partition: t.partition,
                from: t.from,
                to: t.to,
            })
            .collect();
        let planned = transfers
            .iter()
            .map(|t| PlannedMove {
                partition: t.partition,
                from: t.from,
                to: t.to,
                done: t.done,
            })
            .collect();
        TransfersView {
            total: transfers.len(),
            done: transfers.len() - pending.len(),
            pending,
            planned,
        }
    }
}

/// The body of a `300 Multiple Choices` read: every sibling and the context that
/// supersedes them all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiblingsDocument {
    pub context: String,
    pub siblings: Vec<SiblingDocument>,
}

/// One sibling: `{"value": base64}` or `{"deleted": true}` (a tombstone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiblingDocument {
    /// The value, base64 (standard alphabet, padded); `None` for a tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// The answer to an accepted membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// The ring epoch the change created.
    pub epoch: u64,
}

/// The body of every error answer: the message, a stable machine name and, where the
/// failure has them, its numbers (absent otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDocument {
    /// The message, lowercase, as RESP shows it after `ERR `.
    pub error: String,
    /// `quorum_not_reached`, `timeout`, `too_large`, `bad_context`, ... (http.rs).
    pub kind: String,
    /// Quorum failures: the replies the request needed and those it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<usize>,
    /// Too large: the size (when known) and the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<usize>,
    /// Overloaded: the requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> ClusterView {
        let member = |id: u32, http: Option<&str>| MemberView {
            id: NodeId(id),
            status: MemberState::Valid,
            peer: format!("127.0.0.1:{}", 100 + id),
            http: http.map(String::from),
            resp: None,
            weight: 1,
            zone: None,
            suspected: id == 2,
            last_seen_ms_ago: (id == 2).then_some(7),
        };
        ClusterView {
            node: NodeId(1),
            epoch: 3,
            replication_factor: 2,
            members: vec![member(1, Some("127.0.0.1:201")), member(2, None)],
            ring: None,
            partitions: vec![PartitionView {
                partition: PartitionId(0),
                homes: vec![NodeId(1), NodeId(2)],
                preference_list: vec![NodeId(1), NodeId(2)],
            }],
            transfers: TransfersView {
                total: 1,
                done: 0,
                pending: vec![Move {
                    partition: PartitionId(0),
                    from: NodeId(1),
                    to: NodeId(2),
                }],
                planned: vec![PlannedMove {
                    partition: PartitionId(0),
                    from: NodeId(1),
                    to: NodeId(2),
                    done: false,
                }],
            },
            hints: Some(4),
            merkle_roots: BTreeMap::from([(0, format!("{:032x}", 0xabu128))]),
            in_flight: 5,
        }
    }

    /// The wire shape the client, the CLI, the test harness and the browser page
    /// (`app.js` live mode) read: ids and partitions as plain numbers, statuses in
    /// lowercase, Merkle roots keyed by the partition number as text.
    #[test]
    fn the_cluster_view_keeps_its_wire_shape_and_round_trips() {
        let view = example();
        let wire = serde_json::to_value(&view).unwrap();
        let expected = json!({
            "node": 1, "epoch": 3, "replication_factor": 2,
            "members": [
                {"id": 1, "status": "valid", "peer": "127.0.0.1:101", "http": "127.0.0.1:201",
                 "resp": null, "weight": 1, "zone": null, "suspected": false, "last_seen_ms_ago": null},
                {"id": 2, "status": "valid", "peer": "127.0.0.1:102", "http": null,
                 "resp": null, "weight": 1, "zone": null, "suspected": true, "last_seen_ms_ago": 7},
            ],
            "ring": null,
            "partitions": [{"partition": 0, "homes": [1, 2], "preference_list": [1, 2]}],
            "transfers": {
                "total": 1, "done": 0,
                "pending": [{"partition": 0, "from": 1, "to": 2}],
                "planned": [{"partition": 0, "from": 1, "to": 2, "done": false}],
            },
            "hints": 4,
            "merkle_roots": {"0": "000000000000000000000000000000ab"},
            "in_flight": 5,
        });
        assert_eq!(wire, expected);
        let back: ClusterView = serde_json::from_value(wire).unwrap();
        assert_eq!(back, view);
        assert_eq!(view.serving().count(), 2);
        for state in [
            MemberState::Joining,
            MemberState::Valid,
            MemberState::Leaving,
            MemberState::Left,
        ] {
            let wire = serde_json::to_value(state).unwrap();
            assert_eq!(wire, json!(state.name()), "Display and serde agree");
        }
    }

    #[test]
    fn siblings_and_errors_omit_what_they_do_not_have() {
        let siblings = SiblingsDocument {
            context: "c".into(),
            siblings: vec![
                SiblingDocument {
                    value: Some("dg==".into()),
                    deleted: false,
                },
                SiblingDocument {
                    value: None,
                    deleted: true,
                },
            ],
        };
        let wire = serde_json::to_value(&siblings).unwrap();
        let expected = json!({"context": "c", "siblings": [{"value": "dg=="}, {"deleted": true}]});
        assert_eq!(wire, expected);
        let error = ErrorDocument {
            error: "quorum not reached: needed 2, got 1".into(),
            kind: "quorum_not_reached".into(),
            needed: Some(2),
            received: Some(1),
            ..ErrorDocument::default()
        };
        let wire = serde_json::to_value(&error).unwrap();
        let expected = json!({"error": "quorum not reached: needed 2, got 1",
            "kind": "quorum_not_reached", "needed": 2, "received": 1});
        assert_eq!(wire, expected);
        assert_eq!(
            serde_json::from_value::<ErrorDocument>(wire).unwrap(),
            error
        );
    }
}
