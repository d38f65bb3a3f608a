//! The first NUL-separated segment picks a schema (names, types, required
//! flags), the rest are records; see `ember_decode::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ember_decode::fuzzing::any_schema(data));
