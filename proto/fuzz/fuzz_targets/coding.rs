//! Arbitrary bytes through every text decoder, and the texts they give through every encoder:
//! see props/coding.rs.

#![no_main]

#[path = "../props/coding.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
