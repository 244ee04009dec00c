//! The wire decoder on arbitrary bytes: never panics, and whatever decodes re-encodes to the
//! same bytes (one encoding per message).
#![no_main]

use emc_consensus::codec::{decode, encode, DEFAULT_MAX_MESSAGE_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data, DEFAULT_MAX_MESSAGE_BYTES) {
        assert_eq!(encode(&msg), data);
    }
});
