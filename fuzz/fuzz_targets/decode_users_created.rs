//! Records split on NUL, decoded as one batch with the real `users_created`
//! schema; see `ember_decode::fuzzing` for the input format and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ember_decode::fuzzing::users_created(data));
