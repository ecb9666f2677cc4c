//! Real nodes on a network the test drives by hand: nothing is delivered, and no
//! timer fires, unless the test says so, so every interleaving is exact and needs no
//! seed. The nodes run on [`FlakyStore`], whose writes can be made to fail.
#![allow(dead_code)] // each test file uses part of it

use super::n;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Command, Input, Message, Output, Quorum, Reply, Timer};
use dynamo_core::node::{member, Node, NodeConfig};
use dynamo_core::store::{HintKey, MemoryStore, Store, StoreError};
use dynamo_core::types::{Key, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A memory store whose writes fail while `failing` is set (a full or broken disk).
#[derive(Debug, Default)]
pub struct FlakyStore {
    inner: MemoryStore,
    pub failing: bool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.failing {
            return Err(StoreError::new("disk says no"));
        }
        Ok(())
    }
}

impl Store for FlakyStore {
    fn get(&self, partition: PartitionId, key: &[u8]) -> Result<Option<Siblings>, StoreError> {
        self.inner.get(partition, key)
    }
    fn put(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        value: &Siblings,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(partition, key, value)
    }
    fn scan(
        &self,
        partition: PartitionId,
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Siblings)>, StoreError> {
        self.inner.scan(partition, start_after, limit)
    }
    fn partitions(&self) -> Result<Vec<PartitionId>, StoreError> {
        self.inner.partitions()
    }
    fn drop_partition(&mut self, partition: PartitionId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.drop_partition(partition)
    }
    fn hint(&self, hint: &HintKey) -> Result<Option<Siblings>, StoreError> {
        self.inner.hint(hint)
    }
    fn put_hint(&mut self, hint: &HintKey, value: &Siblings) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_hint(hint, value)
    }
    fn remove_hint(&mut self, hint: &HintKey) -> Result<(), StoreError> {
        self.check()?;
        self.inner.remove_hint(hint)
    }
    fn hints(
        &self,
        start_after: Option<&HintKey>,
        limit: usize,
    ) -> Result<Vec<(HintKey, Siblings)>, StoreError> {
        self.inner.hints(start_after, limit)
    }
    fn hint_count(&self) -> Result<usize, StoreError> {
        self.inner.hint_count()
    }
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(name)
    }
    fn put_meta(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_meta(name, value)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        self.inner.sync()
    }
}

/// Real nodes on a network this test drives: nothing is delivered, and no timer
/// fires, unless the test says so.
pub struct Net {
    pub nodes: BTreeMap<NodeId, Node<FlakyStore>>,
    /// Messages sent and not yet delivered, in send order: (from, to, message).
    pub wire: VecDeque<(NodeId, NodeId, Message)>,
    /// Request deadlines armed and not cancelled: (node, request).
    pub deadlines: BTreeSet<(NodeId, u64)>,
    pub replies: BTreeMap<u64, Reply>,
    /// Nodes whose incoming messages are dropped (down, as far as the others can tell).
    pub down: BTreeSet<NodeId>,
    pub next_request: u64,
}

impl Net {
    pub fn new(nodes: u32) -> Self {
        let members: BTreeMap<NodeId, _> = (1..=nodes)
            .map(|id| (n(id), member(&format!("node-{id}"), 1)))
            .collect();
        let mut net = Self {
            nodes: BTreeMap::new(),
            wire: VecDeque::new(),
            deadlines: BTreeSet::new(),
            replies: BTreeMap::new(),
            down: BTreeSet::new(),
            next_request: 0,
        };
        for id in members.keys() {
            let config = NodeConfig {
                initial_members: members.clone(),
                me: members[id].clone(),
                seed: u64::from(id.0),
                ..super::config()
            };
            let mut node = Node::new(*id, config, FlakyStore::default()).expect("node starts");
            node.store_mut().sync().expect("memory store syncs");
            node.start(); // periodic timers: fired only by hand here
            net.nodes.insert(*id, node);
        }
        net
    }

    /// Start node `id`, outside the ring, that will join through `seed` (its gossip
    /// reaches `seed` once its gossip timer fires and the message is delivered).
    pub fn add_node(&mut self, id: NodeId, seed: NodeId) {
        let config = NodeConfig {
            initial_members: BTreeMap::new(),
            seeds: vec![seed],
            me: member(&format!("node-{}", id.0), 1),
            seed: u64::from(id.0),
            ..super::config()
        };
        let mut node = Node::new(id, config, FlakyStore::default()).expect("node starts");
        node.store_mut().sync().expect("memory store syncs");
        node.start();
        self.nodes.insert(id, node);
    }

    /// Gossip rounds on every node, each delivered, until every node sees the same
    /// membership (at most `rounds` rounds).
    pub fn gossip_until_agreed(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.input(id, Input::Timeout(Timer::Gossip));
                self.deliver_all();
            }
            let mut views = self.nodes.values().map(|node| node.membership());
            let first = views.next().expect("a node");
            if views.all(|view| view == first) {
                return;
            }
        }
        panic!("gossip did not converge in {rounds} rounds");
    }

    pub fn node(&self, id: NodeId) -> &Node<FlakyStore> {
        &self.nodes[&id]
    }

    pub fn fail_writes(&mut self, id: NodeId, failing: bool) {
        self.nodes.get_mut(&id).unwrap().store_mut().failing = failing;
    }

    pub fn input(&mut self, at: NodeId, input: Input) {
        let node = self.nodes.get_mut(&at).expect("a node of the cluster");
        let outputs = node.step(input);
        node.store_mut().sync().expect("memory store syncs");
        for output in outputs {
            match output {
                Output::Send { to, message } => self.wire.push_back((at, to, message)),
                Output::Reply { request, reply } => {
                    self.replies.insert(request, reply);
                }
                Output::SetTimer {
                    timer: Timer::Request(request),
                    ..
                } => {
                    self.deadlines.insert((at, request));
                }
                Output::CancelTimer {
                    timer: Timer::Request(request),
                } => {
                    self.deadlines.remove(&(at, request));
                }
                Output::SetTimer { .. } | Output::CancelTimer { .. } => {}
            }
        }
    }

    /// A client command through `at`; returns its request id (see `replies`).
    pub fn command(&mut self, at: NodeId, command: Command) -> u64 {
        self.next_request += 1;
        let request = self.next_request;
        self.input(at, Input::Client { request, command });
        request
    }

    pub fn put(&mut self, at: NodeId, key: &[u8], context: VersionVector, value: &[u8]) -> u64 {
        let command = Command::Put {
            key: key.to_vec(),
            context,
            content: Content::Value(value.to_vec()),
            quorum: Quorum::default(),
        };
        self.command(at, command)
    }

    /// The home replicas of `key`, then its fallbacks, in the ring of node 1.
    pub fn preference_list(&self, key: &[u8]) -> Vec<NodeId> {
        let ring = self.node(n(1)).membership().ring().expect("a ring");
        let list = ring.preference_list(ring.partition_of_key(key));
        list.nodes().to_vec()
    }

    /// Deliver, in send order, every message `pass` lets through (and those they
    /// cause), until none is left; messages to down nodes are dropped.
    pub fn deliver(&mut self, pass: impl Fn(NodeId, NodeId, &Message) -> bool) {
        while let Some(index) = self
            .wire
            .iter()
            .position(|(from, to, message)| pass(*from, *to, message))
        {
            let (from, to, message) = self.wire.remove(index).expect("found");
            if !self.down.contains(&to) {
                self.input(to, Input::Peer { from, message });
            }
        }
    }

    pub fn deliver_all(&mut self) {
        self.deliver(|_, _, _| true);
    }

    /// Fire every armed request deadline of `at`.
    pub fn expire_requests(&mut self, at: NodeId) {
        let due: Vec<u64> = self
            .deadlines
            .iter()
            .filter(|(node, _)| *node == at)
            .map(|(_, request)| *request)
            .collect();
        for request in due {
            self.deadlines.remove(&(at, request));
            self.input(at, Input::Timeout(Timer::Request(request)));
        }
    }

    pub fn context(&self, request: u64) -> VersionVector {
        match self.replies.get(&request) {
            Some(Reply::Put { context, .. }) => context.clone(),
            other => panic!("expected a put's reply, got {other:?}"),
        }
    }

    pub fn hint(&self, holder: NodeId, hint: &HintKey) -> Option<Siblings> {
        self.node(holder)
            .store()
            .hint(hint)
            .expect("memory store reads")
    }
}
