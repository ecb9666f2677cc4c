//! The peer frame decoder never panics on any payload, and what it accepts re-encodes
//! to a payload that decodes to the same message.
#![no_main]
use dynamo_core::message::Message;
use dynamo_server::peer::decode_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_frame::<Message>(data) {
        let mut again = vec![data[0]];
        again.extend(postcard::to_allocvec(&message).expect("encodes"));
        assert_eq!(decode_frame::<Message>(&again).ok(), Some(message));
    }
});
