//! Client contexts (bytes and text) never panic the decoder, and an accepted context
//! re-encodes to exactly the bytes it came from (one encoding per context).
#![no_main]
use dynamo_core::version::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(context) = Context::decode(data) {
        assert_eq!(context.encode(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(context) = Context::from_text(text) {
            assert_eq!(context.to_text(), text);
        }
    }
});
