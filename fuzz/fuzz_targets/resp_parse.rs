//! The RESP request parser never panics, never claims more bytes than it was given,
//! and parses a request the same way whatever follows it (pipelining).
#![no_main]
use dynamo_server::resp::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((args, used))) = parse(data) {
        assert!(used > 0 && used <= data.len());
        let mut longer = data[..used].to_vec();
        longer.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(parse(&longer).ok().flatten().map(|(a, u)| (a, u)), Some((args, used)));
    }
});
