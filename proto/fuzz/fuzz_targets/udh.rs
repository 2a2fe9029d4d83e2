//! Arbitrary bytes as a UDH, as a script of parts to reassemble, and as a text to split: see
//! props/udh.rs.

#![no_main]

#[path = "../props/udh.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
