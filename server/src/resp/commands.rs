//! The key commands, each one or more calls of the KV service (`service.rs`):
//! `GET`, `MGET`, `EXISTS`, `STRLEN`, `TYPE`, `VGET`, `SET`, `MSET`, `DEL`, `GETDEL`,
//! `APPEND`, `VSET`, `VDEL`. `GET`, `MGET`, `STRLEN` and `TYPE` know the data types
//! (`datatypes.rs`): a counter reads as its decimal value, a set or hash is `WRONGTYPE`.
//!
//! Invariants: a reply is at most [`REPLY_BYTES_MAX`] bytes (`MGET` stops and answers
//! an error past it); commands over many keys run at most [`KEYS_CONCURRENCY_MAX`]
//! service calls at once, so one command holds a bounded share of the driver.

use super::codec::REPLY_BYTES_MAX;
use super::datatypes::{self, string_of};
use super::{CommandError, Value};
use crate::service::{self, KvService};
use dynamo_core::message::Quorum;
use dynamo_core::version::{Content, Siblings};
use futures_util::stream::{self, StreamExt, TryStreamExt};

/// Service calls one multi-key command runs at once at most.
pub const KEYS_CONCURRENCY_MAX: usize = 16;

/// Run key command `name` (uppercase, arity already checked).
pub async fn run(service: &KvService, name: &str, args: &[Vec<u8>]) -> Result<Value, CommandError> {
    let quorum = Quorum::default();
    match name {
        "GET" => Ok(Value::Bulk(string_of(
            &service.get(&args[1], quorum).await?,
        )?)),
        "MGET" => mget(service, &args[1..]).await,
        "EXISTS" => exists(service, &args[1..]).await,
        "STRLEN" => {
            let siblings = service.get(&args[1], quorum).await?;
            let length = string_of(&siblings)?.map_or(0, |value| value.len());
            Ok(Value::Integer(length as i64))
        }
        "TYPE" => {
            let siblings = service.get(&args[1], quorum).await?;
            Ok(Value::Simple(datatypes::type_name(&siblings).into()))
        }
        "VGET" => Ok(versioned(&service.get(&args[1], quorum).await?)),
        "SET" => set(service, args).await,
        "MSET" => mset(service, &args[1..]).await,
        "DEL" => del(service, &args[1..]).await,
        "GETDEL" => Ok(Value::Bulk(service.take(&args[1], quorum).await?)),
        "APPEND" => {
            let length = service.append(&args[1], &args[2], quorum).await?;
            Ok(Value::Integer(length as i64))
        }
        "VSET" => versioned_write(service, args, Content::Value(args[3].clone())).await,
        "VDEL" => versioned_write(service, args, Content::Tombstone).await,
        _ => match datatypes::run(service, name, args).await {
            Some(result) => result,
            None => Err(CommandError::Unknown(name.to_string(), String::new())),
        },
    }
}

fn versioned(siblings: &Siblings) -> Value {
    let context = service::context_text(siblings.clock());
    let values = siblings
        .iter()
        .map(|sibling| match &sibling.content {
            Content::Value(bytes) => Value::bulk(bytes.clone()),
            Content::Tombstone | Content::Typed(_) | Content::Mutation(_) => Value::Bulk(None),
        })
        .collect();
    Value::Array(vec![Value::bulk(context), Value::Array(values)])
}

async fn set(service: &KvService, args: &[Vec<u8>]) -> Result<Value, CommandError> {
    if let Some(option) = args.get(3) {
        let option = String::from_utf8_lossy(option).chars().take(32).collect();
        return Err(CommandError::SetOption(option));
    }
    let content = Content::Value(args[2].clone());
    service.set(&args[1], content, Quorum::default()).await?;
    Ok(Value::ok())
}

/// `VSET key context value` / `VDEL key context`: the context as the client sent it
/// (the service reads `""` as a blind write); the new context.
async fn versioned_write(
    service: &KvService,
    args: &[Vec<u8>],
    content: Content,
) -> Result<Value, CommandError> {
    let (key, context) = (&args[1], args[2].as_slice());
    let next = service
        .write(key, Some(context), content, Quorum::default())
        .await?;
    Ok(Value::bulk(service::context_text(&next)))
}

/// Each key's value, or its own error in its place; an error instead when the values
/// together pass [`REPLY_BYTES_MAX`].
async fn mget(service: &KvService, keys: &[Vec<u8>]) -> Result<Value, CommandError> {
    let mut reads = each_key(service, keys, |service, key| async move {
        service.get(&key, Quorum::default()).await
    })
    .buffered(KEYS_CONCURRENCY_MAX);
    let (mut values, mut bytes) = (Vec::with_capacity(keys.len()), 0);
    while let Some(read) = reads.next().await {
        let value = match read {
            // Redis's MGET shows nil for a key of another type.
            Ok(siblings) => Value::Bulk(string_of(&siblings).ok().flatten()),
            Err(error) => CommandError::from(error).reply(),
        };
        bytes += value.encoded_len();
        if bytes > REPLY_BYTES_MAX {
            return Err(CommandError::ReplyTooLarge {
                max: REPLY_BYTES_MAX,
            });
        }
        values.push(value);
    }
    Ok(Value::Array(values))
}

/// How many of `keys` hold a live value; a key named twice counts twice (Redis).
async fn exists(service: &KvService, keys: &[Vec<u8>]) -> Result<Value, CommandError> {
    let count = each_key(service, keys, |service, key| async move {
        service.get(&key, Quorum::default()).await
    })
    .buffer_unordered(KEYS_CONCURRENCY_MAX)
    .try_fold(0i64, |count, siblings| async move {
        Ok(count + i64::from(siblings.kind().is_some()))
    })
    .await?;
    Ok(Value::Integer(count))
}

/// One `Command::Delete` per distinct key; how many held a live value (a key named
/// twice is deleted once, as in Redis).
async fn del(service: &KvService, keys: &[Vec<u8>]) -> Result<Value, CommandError> {
    let mut distinct: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for key in keys {
        if !distinct.contains(key) {
            distinct.push(key.clone());
        }
    }
    let deleted = each_key(service, &distinct, |service, key| async move {
        service.delete(&key, Quorum::default()).await
    })
    .buffer_unordered(KEYS_CONCURRENCY_MAX)
    .try_fold(0i64, |count, existed| async move {
        Ok(count + i64::from(existed))
    })
    .await?;
    Ok(Value::Integer(deleted))
}

/// `MSET k v [k v ...]`: a `SET` of each pair (each key on its own, not atomically:
/// on an error some pairs may be written). A key named twice gets its last value.
async fn mset(service: &KvService, pairs: &[Vec<u8>]) -> Result<Value, CommandError> {
    if !pairs.chunks_exact(2).remainder().is_empty() {
        return Err(CommandError::Arity("mset".into()));
    }
    let mut last: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        last.retain(|(key, _)| key != &pair[0]);
        last.push((pair[0].clone(), pair[1].clone()));
    }
    let service = service.clone();
    stream::iter(last)
        .map(move |(key, value)| {
            let service = service.clone();
            async move {
                let content = Content::Value(value);
                service.set(&key, content, Quorum::default()).await
            }
        })
        .buffer_unordered(KEYS_CONCURRENCY_MAX)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(Value::ok())
}

/// `call` for each of `keys`, lazily, on owned keys and service handles (a stream of
/// futures borrowing neither, so the command's future stays `Send`).
fn each_key<F, Fut>(
    service: &KvService,
    keys: &[Vec<u8>],
    call: F,
) -> impl futures_util::Stream<Item = Fut>
where
    F: Fn(KvService, Vec<u8>) -> Fut,
{
    let service = service.clone();
    stream::iter(keys.to_vec()).map(move |key| call(service.clone(), key))
}
