//! Arbitrary bytes as carrier receipt text, and as the fields of a gateway receipt: see
//! props/receipt.rs.

#![no_main]

#[path = "../props/receipt.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
