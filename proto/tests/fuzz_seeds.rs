//! The seeds of the `receipt`, `udh` and `coding` fuzz targets (and any crash input saved
//! beside them) as regression cases: each goes through the same property checks the targets
//! run (`proto/fuzz/props/`). The `decode` target's seeds are run by `roundtrip.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/props/coding.rs"]
mod coding;
#[path = "../fuzz/props/receipt.rs"]
mod receipt;
#[path = "../fuzz/props/udh.rs"]
mod udh;

use std::path::PathBuf;

/// Runs `check` on every file in `fuzz/seeds/<target>/`; returns how many there were.
fn run_seeds(target: &str, check: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "seed {} fails its properties",
            path.display()
        );
        seeds += 1;
    }
    seeds
}

#[test]
fn receipt_seeds() {
    let seeds = run_seeds("receipt", receipt::check);
    assert!(seeds >= 10, "only {seeds} receipt seeds");
}

#[test]
fn udh_seeds() {
    let seeds = run_seeds("udh", udh::check);
    assert!(seeds >= 10, "only {seeds} udh seeds");
}

#[test]
fn coding_seeds() {
    let seeds = run_seeds("coding", coding::check);
    assert!(seeds >= 10, "only {seeds} coding seeds");
}
