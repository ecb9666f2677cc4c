//! Export and import as JSON lines, for moving data to and from other systems.
//!
//! One line per key:
//! `{"key": B64, "context": CTX, "siblings": [{"value": B64 or null, "context": CTX,
//! "dot": {"node": N, "incarnation": I, "counter": C}}]}`: values and keys in standard
//! base64, a `null` value is a tombstone (the key was deleted), and every context is
//! the text form clients pass to `VSET`/`X-Dynamo-Context` (the key's `context` is
//! the one a read returns). Dots and sibling contexts make the line lossless: an
//! import rebuilds exactly the sibling set exported, through the same merge and
//! actor fence as a restore.

use super::{BackupError, BackupOptions, Meter, Reader, RestoreOptions, Sender, Summary, Target};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use dynamo_core::clock::{Dot, VersionVector};
use dynamo_core::context::Context;
use dynamo_core::types::{ActorId, Key, NodeId};
use dynamo_core::version::{Content, Sibling, Siblings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A line longer than this is refused (a key of 64 siblings of 1 MiB, base64).
pub const LINE_BYTES_MAX: usize = 96 * 1024 * 1024;
/// Entries an import sends per round of batches.
const IMPORT_CHUNK: usize = 8192;

#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    pub key: String,
    pub context: String,
    pub siblings: Vec<LineSibling>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LineSibling {
    pub value: Option<String>,
    pub context: String,
    pub dot: LineDot,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LineDot {
    pub node: u32,
    pub incarnation: u32,
    pub counter: u64,
}

/// The postcard shape of a `Siblings` (its fields are private to the core): encoding
/// this and decoding a `Siblings` rebuilds the set, which is then checked.
#[derive(Serialize)]
struct SiblingsShape<'a> {
    clock: &'a VersionVector,
    siblings: &'a [Sibling],
}

fn text(clock: &VersionVector) -> String {
    Context::new(clock.clone()).to_text()
}

pub fn to_line(key: &[u8], siblings: &Siblings) -> Line {
    let listed = siblings
        .iter()
        .map(|sibling| LineSibling {
            value: sibling.content.value().map(|value| STANDARD.encode(value)),
            context: text(&sibling.context),
            dot: LineDot {
                node: sibling.dot.actor.node.0,
                incarnation: sibling.dot.actor.incarnation,
                counter: sibling.dot.counter,
            },
        })
        .collect();
    Line {
        key: STANDARD.encode(key),
        context: text(siblings.clock()),
        siblings: listed,
    }
}

pub fn from_line(line: &Line) -> Result<(Key, Siblings), String> {
    let key = STANDARD
        .decode(&line.key)
        .map_err(|e| format!("key: {e}"))?;
    let clock = parse_context(&line.context)?;
    let mut siblings = Vec::with_capacity(line.siblings.len());
    for sibling in &line.siblings {
        let content = match &sibling.value {
            Some(value) => {
                Content::Value(STANDARD.decode(value).map_err(|e| format!("value: {e}"))?)
            }
            None => Content::Tombstone,
        };
        let actor = ActorId::new(NodeId(sibling.dot.node), sibling.dot.incarnation);
        siblings.push(Sibling {
            dot: Dot::new(actor, sibling.dot.counter),
            context: parse_context(&sibling.context)?,
            content,
        });
    }
    let shape = SiblingsShape {
        clock: &clock,
        siblings: &siblings,
    };
    let encoded = postcard::to_allocvec(&shape).map_err(|e| e.to_string())?;
    let set: Siblings = postcard::from_bytes(&encoded).map_err(|e| e.to_string())?;
    set.check_invariants().map_err(|e| e.to_string())?;
    Ok((key, set))
}

fn parse_context(text: &str) -> Result<VersionVector, String> {
    if text.is_empty() {
        return Ok(VersionVector::new());
    }
    Context::from_text(text)
        .map(Context::into_clock)
        .map_err(|e| format!("context: {e}"))
}

/// Export every key of the cluster to `out`, partition by partition (each read as a
/// backup reads it: one home, merged with any home whose root differs).
pub async fn export(
    client: &crate::client::Client,
    out: &mut dyn Write,
    options: &BackupOptions,
) -> Result<Summary, BackupError> {
    let started = Instant::now();
    let target = Target::of(client).await?;
    let meter = Meter::new(options.rate_bytes);
    let reader = Reader {
        client,
        target: &target,
        options,
        meter: &meter,
    };
    let mut summary = Summary::default();
    for partition in 0..target.ring.partitions() {
        let (entries, ..) = reader.collect(partition).await?;
        for (key, siblings) in &entries {
            let line = serde_json::to_string(&to_line(key, siblings))
                .map_err(|e| BackupError::Io(e.to_string()))?;
            writeln!(out, "{line}").map_err(|e| BackupError::Io(format!("write: {e}")))?;
            summary.bytes += line.len() as u64 + 1;
        }
        summary.keys += entries.len() as u64;
        summary.partitions += 1;
    }
    out.flush()
        .map_err(|e| BackupError::Io(format!("write: {e}")))?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Import JSON lines: every line is checked before anything is sent (a bad line is
/// refused with its number and nothing is written); then the target's nodes are
/// fenced past the lines' actors and the entries merged on their homes.
pub async fn import(
    client: &crate::client::Client,
    input: &mut dyn BufRead,
    options: &RestoreOptions,
) -> Result<Summary, BackupError> {
    let started = Instant::now();
    let (entries, bytes) = parse_all(input)?;
    let mut actors = BTreeMap::new();
    for (_, siblings) in &entries {
        super::format::note_actors(&mut actors, siblings);
    }
    let target = Target::of(client).await?;
    super::fence(client, &target, &actors).await?;
    let meter = Meter::new(None);
    let sender = Sender {
        client,
        target: &target,
        options,
        meter: &meter,
    };
    let mut summary = Summary {
        keys: entries.len() as u64,
        bytes,
        ..Summary::default()
    };
    let mut entries = entries;
    while !entries.is_empty() {
        let rest = entries.split_off(entries.len().min(IMPORT_CHUNK));
        let counts = sender.send_all(entries).await.map_err(BackupError::Io)?;
        summary.merged += counts.merged;
        summary.changed += counts.changed;
        entries = rest;
    }
    meter.keys.store(summary.keys, Ordering::Relaxed);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn parse_all(input: &mut dyn BufRead) -> Result<(Vec<(Key, Siblings)>, u64), BackupError> {
    let mut entries = Vec::new();
    let (mut number, mut bytes) = (0u64, 0u64);
    let mut line = String::new();
    loop {
        line.clear();
        number += 1;
        let read = std::io::Read::take(&mut *input, LINE_BYTES_MAX as u64 + 1)
            .read_line(&mut line)
            .map_err(|e| BackupError::Io(format!("line {number}: {e}")))?;
        if read == 0 {
            return Ok((entries, bytes));
        }
        if read > LINE_BYTES_MAX {
            return Err(BackupError::Io(format!(
                "line {number}: over {LINE_BYTES_MAX} bytes"
            )));
        }
        bytes += read as u64;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| BackupError::Io(format!("line {number}: {reason}"));
        let parsed: Line = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        entries.push(from_line(&parsed).map_err(bad)?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_siblings_contexts_and_tombstones() {
        let (a, b) = (ActorId::new(NodeId(1), 3), ActorId::new(NodeId(2), 1));
        let mut set = Siblings::new();
        set.update(&VersionVector::new(), Content::Value(b"x".to_vec()), a)
            .unwrap();
        let seen = set.clock().clone();
        set.update(&VersionVector::new(), Content::Value(b"y".to_vec()), b)
            .unwrap();
        set.update(&seen, Content::Tombstone, a).unwrap();
        let line = serde_json::to_string(&to_line(b"k", &set)).unwrap();
        let parsed: Line = serde_json::from_str(&line).unwrap();
        assert_eq!(from_line(&parsed).unwrap(), (b"k".to_vec(), set));
    }

    #[test]
    fn a_line_breaking_an_invariant_is_refused() {
        let a = ActorId::new(NodeId(1), 1);
        let mut set = Siblings::new();
        set.update(&VersionVector::new(), Content::Value(b"x".to_vec()), a)
            .unwrap();
        let mut line = to_line(b"k", &set);
        line.context = String::new(); // the clock no longer covers the sibling's dot
        assert!(from_line(&line).is_err());
    }
}
