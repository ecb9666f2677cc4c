//! The data-type commands (`docs/datatypes.md`): counters (`INCR`, `INCRBY`, `DECR`,
//! `DECRBY`, and `GET` of a counter), add-wins sets (`SADD`, `SREM`, `SMEMBERS`,
//! `SISMEMBER`, `SCARD`) and hashes (`HSET`, `HGET`, `HDEL`, `HGETALL`, `HINCRBY`,
//! `HLEN`), over the core's convergent types (`dynamo_core::crdt`).
//!
//! A write is a [`Mutation`] the coordinator applies to its own copy
//! ([`KvService::update`]); replicas join states, so updates made on two sides of a
//! partition all count. What a write answers is computed from quorum reads around it:
//! `INCR` and `HINCRBY` the value read after the write (it includes this update and may
//! include concurrent ones), `SADD`, `SREM`, `HSET` and `HDEL` the count of members or
//! fields that were (not) there in a read just before. A key holding another type
//! answers `-WRONGTYPE` as Redis does; the check for writes happens at the coordinator,
//! atomically with the write.
//!
//! Invariants: an argument that must be an integer is parsed as Redis does (an i64 in
//! decimal) or refused before anything is written; a reply is bounded by the
//! connection's `REPLY_BYTES_MAX` check like every other.

use super::{CommandError, Value};
use crate::service::{self, KvService};
use dynamo_core::crdt::{Kind, Mutation, OrMap, OrSet, Typed};
use dynamo_core::message::Quorum;
use dynamo_core::version::Siblings;

/// Run data-type command `name` (uppercase, arity checked), or `None` if it is not one.
pub async fn run(
    service: &KvService,
    name: &str,
    args: &[Vec<u8>],
) -> Option<Result<Value, CommandError>> {
    let key = &args[1];
    let result = match name {
        "INCR" => increment(service, key, Ok(1)).await,
        "DECR" => increment(service, key, Ok(-1)).await,
        "INCRBY" => increment(service, key, integer(&args[2])).await,
        "DECRBY" => increment(service, key, integer(&args[2]).and_then(negated)).await,
        "SADD" | "SREM" => set_write(service, name, key, &args[2..]).await,
        "SMEMBERS" | "SISMEMBER" | "SCARD" => set_read(service, name, args).await,
        "HSET" | "HDEL" => hash_write(service, name, key, &args[2..]).await,
        "HINCRBY" => hash_increment(service, key, &args[2], &args[3]).await,
        "HGET" | "HGETALL" | "HLEN" => hash_read(service, name, args).await,
        _ => return None,
    };
    Some(result)
}

/// What plain `GET` shows: a string's value, a counter's decimal value, nil; a set or
/// hash is the wrong type.
pub fn string_of(siblings: &Siblings) -> Result<Option<Vec<u8>>, CommandError> {
    match (siblings.kind(), siblings.typed()) {
        (Some(Kind::Counter), Some(Typed::Counter(counter))) => {
            Ok(Some(counter.value().to_string().into_bytes()))
        }
        (Some(Kind::Set | Kind::Hash), _) => Err(CommandError::WrongType),
        _ => Ok(service::shown_value(siblings).map(<[u8]>::to_vec)),
    }
}

/// `TYPE`'s answer.
pub fn type_name(siblings: &Siblings) -> &'static str {
    siblings.kind().map_or("none", Kind::redis_name)
}

fn integer(arg: &[u8]) -> Result<i64, CommandError> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| CommandError::Syntax("value is not an integer or out of range".into()))
}

fn negated(by: i64) -> Result<i64, CommandError> {
    by.checked_neg()
        .ok_or_else(|| CommandError::Syntax("decrement would overflow".into()))
}

async fn increment(
    service: &KvService,
    key: &[u8],
    by: Result<i64, CommandError>,
) -> Result<Value, CommandError> {
    let quorum = Quorum::default();
    service
        .update(key, Mutation::Increment(by?), quorum)
        .await?;
    let siblings = service.get(key, quorum).await?;
    match string_of(&siblings)?.map(|bytes| integer(&bytes)) {
        Some(Ok(value)) => Ok(Value::Integer(value)),
        // A counter's join outgrew an i64 (concurrent increments near the limit).
        _ => Err(CommandError::Syntax("counter is out of range".into())),
    }
}

/// The key's typed value when it holds `wants` (`None` when it holds nothing).
fn typed(siblings: &Siblings, wants: Kind) -> Result<Option<Typed>, CommandError> {
    match siblings.kind() {
        None => Ok(None),
        Some(kind) if kind == wants => Ok(siblings.typed()),
        Some(_) => Err(CommandError::WrongType),
    }
}

async fn set_of(service: &KvService, key: &[u8]) -> Result<OrSet, CommandError> {
    let siblings = service.get(key, Quorum::default()).await?;
    match typed(&siblings, Kind::Set)? {
        Some(Typed::Set(set)) => Ok(set),
        _ => Ok(OrSet::default()),
    }
}

async fn hash_of(service: &KvService, key: &[u8]) -> Result<OrMap, CommandError> {
    let siblings = service.get(key, Quorum::default()).await?;
    match typed(&siblings, Kind::Hash)? {
        Some(Typed::Hash(map)) => Ok(map),
        _ => Ok(OrMap::default()),
    }
}

fn distinct(items: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

async fn set_write(
    service: &KvService,
    name: &str,
    key: &[u8],
    members: &[Vec<u8>],
) -> Result<Value, CommandError> {
    let before = set_of(service, key).await?;
    let members = distinct(members);
    let adding = name == "SADD";
    let changed = members
        .iter()
        .filter(|member| before.contains(member) != adding)
        .count();
    let mutation = match adding {
        true => Mutation::Add(members),
        false => Mutation::Remove(members),
    };
    service.update(key, mutation, Quorum::default()).await?;
    Ok(Value::Integer(changed as i64))
}

async fn set_read(
    service: &KvService,
    name: &str,
    args: &[Vec<u8>],
) -> Result<Value, CommandError> {
    let set = set_of(service, &args[1]).await?;
    Ok(match name {
        "SMEMBERS" => Value::Array(set.elements().map(|m| Value::bulk(m.to_vec())).collect()),
        "SISMEMBER" => Value::Integer(i64::from(set.contains(&args[2]))),
        _ => Value::Integer(set.len() as i64),
    })
}

async fn hash_write(
    service: &KvService,
    name: &str,
    key: &[u8],
    rest: &[Vec<u8>],
) -> Result<Value, CommandError> {
    let before = hash_of(service, key).await?;
    let mutation = match name {
        "HSET" => {
            if !rest.len().is_multiple_of(2) {
                return Err(CommandError::Arity("hset".into()));
            }
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = rest
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect();
            Mutation::SetFields(pairs)
        }
        _ => Mutation::DeleteFields(distinct(rest)),
    };
    let changed = match &mutation {
        Mutation::SetFields(pairs) => {
            distinct(&pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>())
                .iter()
                .filter(|field| before.get(field).is_none())
                .count()
        }
        Mutation::DeleteFields(fields) => fields
            .iter()
            .filter(|field| before.get(field).is_some())
            .count(),
        _ => 0,
    };
    service.update(key, mutation, Quorum::default()).await?;
    Ok(Value::Integer(changed as i64))
}

async fn hash_increment(
    service: &KvService,
    key: &[u8],
    field: &[u8],
    by: &[u8],
) -> Result<Value, CommandError> {
    let mutation = Mutation::IncrementField(field.to_vec(), integer(by)?);
    service.update(key, mutation, Quorum::default()).await?;
    let after = hash_of(service, key).await?;
    let shown = after.get(field).map(|value| value.to_bytes());
    match shown.as_deref().map(integer) {
        Some(Ok(value)) => Ok(Value::Integer(value)),
        _ => Err(CommandError::Syntax("hash value is not an integer".into())),
    }
}

async fn hash_read(
    service: &KvService,
    name: &str,
    args: &[Vec<u8>],
) -> Result<Value, CommandError> {
    let map = hash_of(service, &args[1]).await?;
    Ok(match name {
        "HGET" => Value::Bulk(map.get(&args[2]).map(|value| value.to_bytes())),
        // A map: RESP3 writes it as one, RESP2 as the flat field, value array.
        "HGETALL" => Value::Map(
            map.iter()
                .map(|(field, value)| (Value::bulk(field.to_vec()), Value::bulk(value.to_bytes())))
                .collect(),
        ),
        _ => Value::Integer(map.len() as i64),
    })
}
