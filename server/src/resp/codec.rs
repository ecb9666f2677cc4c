//! RESP on the wire: the [`Value`] a reply is, its encoding in RESP2 or RESP3
//! ([`Protocol`]), the server-side request parser ([`parse`]) and the client-side reply
//! parser ([`parse_value`], for the CLI, the tests and the bench).
//!
//! Invariants: every parser answers `Ok(None)` on any prefix of a valid input and
//! never reads past the buffer; every length it trusts is bounded
//! ([`REQUEST_BYTES_MAX`], [`ARGS_MAX`], [`REPLY_BYTES_MAX`]) and the client-side
//! parser nests at most [`DEPTH_MAX`] aggregates, so hostile input costs bounded
//! memory and stack.

use dynamo_core::types::limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Arguments per command at most.
pub const ARGS_MAX: usize = 1024;
/// Bytes of one request at most (a maximal value plus its key and framing).
pub const REQUEST_BYTES_MAX: usize = limits::VALUE_BYTES_MAX + limits::KEY_BYTES_MAX + 1024;
/// Bytes of one reply at most: a reply that would be larger (an `MGET` of many large
/// values) is refused with `-ERR reply too large`, so one command cannot make a
/// connection buffer gigabytes. The client-side parser refuses larger strings too.
pub const REPLY_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Aggregates (arrays, maps) nested in one reply at most, for the client-side parser:
/// it recurses once per level, so this bounds its stack.
pub const DEPTH_MAX: usize = 32;
/// A line (a header, an inline command) longer than this is refused.
const LINE_BYTES_MAX: usize = 64 * 1024;

/// The protocol a connection speaks: RESP2 until the client sends `HELLO 3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    pub fn number(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A reply value. `Map` and `Null` are RESP3 types; in RESP2 a map is written as a flat
/// array of keys and values and a null as the null bulk string, as Redis does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    /// A bulk string; `None` is nil (RESP3 writes it as `_`).
    Bulk(Option<Vec<u8>>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// RESP3's null (parsed from `_`); RESP2 writes it as `$-1`.
    Null,
}

impl Value {
    /// RESP2, what every connection speaks until `HELLO 3`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_as(Protocol::Resp2, out);
    }

    pub fn encode_as(&self, protocol: Protocol, out: &mut Vec<u8>) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Value::Simple(text) => out.extend_from_slice(format!("+{text}\r\n").as_bytes()),
            Value::Error(text) => out
                .extend_from_slice(format!("-{}\r\n", text.replace(['\r', '\n'], " ")).as_bytes()),
            Value::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Value::Bulk(None) | Value::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Value::Bulk(None) | Value::Null => out.extend_from_slice(b"$-1\r\n"),
            Value::Bulk(Some(bytes)) => {
                out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Value::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                items.iter().for_each(|item| item.encode_as(protocol, out));
            }
            Value::Map(pairs) => {
                let header = match resp3 {
                    true => format!("%{}\r\n", pairs.len()),
                    false => format!("*{}\r\n", pairs.len() * 2),
                };
                out.extend_from_slice(header.as_bytes());
                for (key, value) in pairs {
                    key.encode_as(protocol, out);
                    value.encode_as(protocol, out);
                }
            }
        }
    }

    /// Bytes of the RESP3 encoding at most (RESP2 is never longer), without encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Value::Simple(text) | Value::Error(text) => text.len() + 3,
            Value::Integer(_) => 23,
            Value::Bulk(None) | Value::Null => 5,
            Value::Bulk(Some(bytes)) => bytes.len() + 25,
            Value::Array(items) => 23 + items.iter().map(Value::encoded_len).sum::<usize>(),
            Value::Map(pairs) => {
                let inner = pairs.iter().map(|(k, v)| k.encoded_len() + v.encoded_len());
                23 + inner.sum::<usize>()
            }
        }
    }

    pub fn error(text: impl Into<String>) -> Value {
        Value::Error(text.into())
    }

    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Value {
        Value::Bulk(Some(bytes.into()))
    }

    pub fn ok() -> Value {
        Value::Simple("OK".into())
    }

    /// Whether this is nil in either protocol.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Bulk(None) | Value::Null)
    }
}

/// Why input could not be parsed; the server closes the connection after its reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("protocol error: line too long")]
    LineTooLong,
    /// The text where a length or integer was expected.
    #[error("protocol error: invalid length {0:?}")]
    InvalidLength(String),
    #[error("protocol error: negative array length")]
    NegativeArrayLength,
    #[error("protocol error: negative bulk length")]
    NegativeBulkLength,
    #[error("protocol error: expected a bulk string")]
    ExpectedBulk,
    #[error("protocol error: bulk string not terminated by CRLF")]
    UnterminatedBulk,
    #[error("protocol error: unexpected reply type {0:?}")]
    UnexpectedReplyType(char),
    #[error("request exceeds {REQUEST_BYTES_MAX} bytes")]
    TooLarge,
    #[error("more than {ARGS_MAX} arguments")]
    TooManyArgs,
    #[error("protocol error: a reply string exceeds {REPLY_BYTES_MAX} bytes")]
    ReplyTooLarge,
    #[error("protocol error: a reply nests more than {DEPTH_MAX} levels")]
    TooDeep,
}

/// A complete request's arguments and the bytes it used, or `None` while incomplete.
pub type Parsed = Result<Option<(Vec<Vec<u8>>, usize)>, ParseError>;

/// Parse one request from the front of `buffer`: `Ok(None)` while incomplete, else
/// the arguments and the bytes consumed. Accepts arrays of bulk strings and inline
/// commands (what `redis-cli` and telnet send).
pub fn parse(buffer: &[u8]) -> Parsed {
    match buffer.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buffer),
        Some(_) => parse_inline(buffer),
    }
}

fn line(buffer: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, ParseError> {
    let Some(end) = buffer[from..].windows(2).position(|w| w == b"\r\n") else {
        if buffer.len() - from > LINE_BYTES_MAX {
            return Err(ParseError::LineTooLong);
        }
        return Ok(None);
    };
    Ok(Some((&buffer[from..from + end], from + end + 2)))
}

fn number(text: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ParseError::InvalidLength(String::from_utf8_lossy(text).into_owned()))
}

fn parse_array(buffer: &[u8]) -> Parsed {
    let Some((header, mut at)) = line(buffer, 1)? else {
        return Ok(None);
    };
    let count = number(header)?;
    if count < 0 || count as usize > ARGS_MAX {
        return Err(if count < 0 {
            ParseError::NegativeArrayLength
        } else {
            ParseError::TooManyArgs
        });
    }
    let mut args = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some((header, start)) = line(buffer, at)? else {
            return Ok(None);
        };
        if header.first() != Some(&b'$') {
            return Err(ParseError::ExpectedBulk);
        }
        let size = number(&header[1..])?;
        if size < 0 || size as usize > REQUEST_BYTES_MAX || start > REQUEST_BYTES_MAX {
            return Err(if size < 0 {
                ParseError::NegativeBulkLength
            } else {
                ParseError::TooLarge
            });
        }
        let end = start + size as usize;
        if buffer.len() < end + 2 {
            return Ok(None);
        }
        if &buffer[end..end + 2] != b"\r\n" {
            return Err(ParseError::UnterminatedBulk);
        }
        args.push(buffer[start..end].to_vec());
        at = end + 2;
    }
    Ok(Some((args, at)))
}

fn parse_inline(buffer: &[u8]) -> Parsed {
    let Some(end) = buffer.iter().position(|b| *b == b'\n') else {
        return if buffer.len() > LINE_BYTES_MAX {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let text = &buffer[..end];
    let args: Vec<Vec<u8>> = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if args.len() > ARGS_MAX {
        return Err(ParseError::TooManyArgs);
    }
    Ok(Some((args, end + 1)))
}

/// Parse one reply value (the client side, for the CLI, the tests and the bench):
/// `Ok(None)` while incomplete. Reads RESP2 and the RESP3 types dynamo sends (`_`
/// null, `%` map); aggregates nest at most [`DEPTH_MAX`] levels.
pub fn parse_value(buffer: &[u8]) -> Result<Option<(Value, usize)>, ParseError> {
    parse_nested(buffer, 0)
}

fn parse_nested(buffer: &[u8], depth: usize) -> Result<Option<(Value, usize)>, ParseError> {
    let Some(kind) = buffer.first() else {
        return Ok(None);
    };
    let Some((header, at)) = line(buffer, 1)? else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(header).into_owned();
    match kind {
        b'+' => Ok(Some((Value::Simple(text()), at))),
        b'-' => Ok(Some((Value::Error(text()), at))),
        b':' => Ok(Some((Value::Integer(number(header)?), at))),
        b'_' => Ok(Some((Value::Null, at))),
        b'$' => parse_bulk(buffer, number(header)?, at),
        b'*' | b'%' => {
            if depth >= DEPTH_MAX {
                return Err(ParseError::TooDeep);
            }
            let count = number(header)?;
            let items = if *kind == b'%' { count * 2 } else { count };
            let Some((mut items, used)) = parse_items(buffer, items, at, depth)? else {
                return Ok(None);
            };
            if *kind == b'*' {
                return Ok(Some((Value::Array(items), used)));
            }
            let mut pairs = Vec::with_capacity(items.len() / 2);
            while items.len() >= 2 {
                let value = items.pop().expect("two left");
                let key = items.pop().expect("one left");
                pairs.push((key, value));
            }
            pairs.reverse();
            Ok(Some((Value::Map(pairs), used)))
        }
        _ => Err(ParseError::UnexpectedReplyType(*kind as char)),
    }
}

fn parse_bulk(buffer: &[u8], size: i64, at: usize) -> Result<Option<(Value, usize)>, ParseError> {
    if size < 0 {
        return Ok(Some((Value::Bulk(None), at)));
    }
    if size as u64 > REPLY_BYTES_MAX as u64 {
        return Err(ParseError::ReplyTooLarge);
    }
    let end = at + size as usize;
    if buffer.len() < end + 2 {
        return Ok(None);
    }
    Ok(Some((Value::bulk(buffer[at..end].to_vec()), end + 2)))
}

/// `count` values from `at` (a negative count is RESP2's null array: none).
fn parse_items(
    buffer: &[u8],
    count: i64,
    mut at: usize,
    depth: usize,
) -> Result<Option<(Vec<Value>, usize)>, ParseError> {
    let mut items = Vec::new();
    for _ in 0..count.max(0) {
        let Some((item, used)) = parse_nested(&buffer[at..], depth + 1)? else {
            return Ok(None);
        };
        items.push(item);
        at += used;
    }
    Ok(Some((items, at)))
}

/// One command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    request
}

/// Send one command to a RESP server and read its reply. A reply that is not RESP is
/// an `InvalidData` error carrying the [`ParseError`]; a connection closed before the
/// reply, `UnexpectedEof`. (An `io::Error`: callers tell a refused connection apart.)
pub async fn call(address: &str, args: &[&[u8]]) -> std::io::Result<Value> {
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(&encode_command(args)).await?;
    read_reply(&mut stream, &mut Vec::new()).await
}

/// Read one reply from `stream`, `buffer` holding what was read before and keeping
/// what follows the reply.
pub async fn read_reply<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Value> {
    let mut chunk = vec![0u8; 64 * 1024];
    // Bounded: each pass reads at least one byte, and a reply is at most
    // REPLY_BYTES_MAX per string (the parser refuses more).
    loop {
        let parsed = parse_value(buffer);
        let invalid = |e: ParseError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        if let Some((value, used)) = parsed.map_err(invalid)? {
            buffer.drain(..used);
            return Ok(value);
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arrays_inline_and_partial_input() {
        let request = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(
            parse(request).unwrap(),
            Some((vec![b"GET".to_vec(), b"key".to_vec()], request.len()))
        );
        for cut in 0..request.len() {
            assert_eq!(
                parse(&request[..cut]).unwrap(),
                None,
                "prefix of {cut} bytes"
            );
        }
        assert_eq!(
            parse(b"PING\r\n").unwrap(),
            Some((vec![b"PING".to_vec()], 6))
        );
    }

    #[test]
    fn rejects_malformed_and_oversized_requests() {
        assert_eq!(parse(b"*1\r\n+OK\r\n"), Err(ParseError::ExpectedBulk));
        assert_eq!(parse(b"*x\r\n"), Err(ParseError::InvalidLength("x".into())));
        assert_eq!(
            parse(b"*1\r\n$3\r\nabcXY"),
            Err(ParseError::UnterminatedBulk)
        );
        assert_eq!(parse(b"*99999\r\n"), Err(ParseError::TooManyArgs));
        assert_eq!(parse(b"*1\r\n$999999999\r\n"), Err(ParseError::TooLarge));
    }

    #[test]
    fn encodes_resp2() {
        let mut out = Vec::new();
        Value::Array(vec![
            Value::bulk(b"a".to_vec()),
            Value::Bulk(None),
            Value::Integer(3),
            Value::error("ERR x\r\ny"),
        ])
        .encode(&mut out);
        assert_eq!(out, b"*4\r\n$1\r\na\r\n$-1\r\n:3\r\n-ERR x  y\r\n");
    }

    /// A map is a map in RESP3 and a flat array in RESP2; nil is `_` in RESP3 only;
    /// both parse back.
    #[test]
    fn maps_and_nulls_follow_the_protocol_and_parse_back() {
        let map = Value::Map(vec![
            (Value::bulk("proto"), Value::Integer(3)),
            (Value::bulk("name"), Value::Bulk(None)),
        ]);
        let mut resp3 = Vec::new();
        map.encode_as(Protocol::Resp3, &mut resp3);
        assert_eq!(resp3, b"%2\r\n$5\r\nproto\r\n:3\r\n$4\r\nname\r\n_\r\n");
        let (parsed, used) = parse_value(&resp3).unwrap().unwrap();
        assert_eq!(used, resp3.len());
        let expected = Value::Map(vec![
            (Value::bulk("proto"), Value::Integer(3)),
            (Value::bulk("name"), Value::Null),
        ]);
        assert_eq!(parsed, expected);
        let mut resp2 = Vec::new();
        map.encode_as(Protocol::Resp2, &mut resp2);
        assert_eq!(resp2, b"*4\r\n$5\r\nproto\r\n:3\r\n$4\r\nname\r\n$-1\r\n");
        for cut in 0..resp3.len() {
            assert_eq!(parse_value(&resp3[..cut]), Ok(None), "prefix {cut}");
        }
        assert!(map.encoded_len() >= resp3.len());
    }

    /// The client-side parser refuses nesting past DEPTH_MAX (it recursed without a
    /// bound: a reply of `*1\r\n` repeated overflowed the stack) and huge strings.
    #[test]
    fn the_reply_parser_bounds_depth_and_string_size() {
        let deep = b"*1\r\n".repeat(100_000);
        assert_eq!(parse_value(&deep), Err(ParseError::TooDeep));
        let mut nested = b"*1\r\n".repeat(DEPTH_MAX);
        nested.extend_from_slice(b":1\r\n");
        assert!(
            parse_value(&nested).unwrap().is_some(),
            "DEPTH_MAX levels parse"
        );
        let huge = format!("${}\r\n", REPLY_BYTES_MAX + 1);
        assert_eq!(parse_value(huge.as_bytes()), Err(ParseError::ReplyTooLarge));
        assert_eq!(parse_value(b"*-1\r\n"), Ok(Some((Value::Array(vec![]), 5))));
    }
}
