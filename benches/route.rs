//! Routing-table lookups with 100 routes: the cost a submit pays to find its route and the
//! order of carriers to try.
//!
//! `cargo bench --bench route`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use smppd::config::Config;
use smppd::route::RoutingTable;
use std::fmt::Write;

/// 4 clients, 4 carriers, 99 routes each on a 4-digit destination prefix (every third also
/// limited to a client, every fifth to a source), then a catch-all.
fn config() -> Config {
    let mut text = String::new();
    for c in 0..4 {
        write!(
            text,
            "[[clients]]\nsystem_id = \"client{c}\"\npassword = \"p\"\n"
        )
        .unwrap();
        write!(
            text,
            "[[carriers]]\nname = \"carrier{c}\"\nhost = \"127.0.0.1\"\n\
             system_id = \"gw\"\npassword = \"p\"\n"
        )
        .unwrap();
    }
    for r in 0..99 {
        write!(
            text,
            "[[routes]]\nname = \"r{r}\"\ndestination_prefixes = [\"{}\", \"+{}\"]\n",
            4400 + r,
            3300 + r
        )
        .unwrap();
        if r % 3 == 0 {
            writeln!(text, "clients = [\"client{}\"]", r % 4).unwrap();
        }
        if r % 5 == 0 {
            writeln!(text, "source_addresses = [\"Shop\", \"4477*\"]").unwrap();
        }
        writeln!(
            text,
            "carriers = [\"carrier{}\", \"carrier{}\"]",
            r % 4,
            (r + 1) % 4
        )
        .unwrap();
        if r % 2 == 0 {
            writeln!(text, "weights = [3, 1]").unwrap();
        }
    }
    text.push_str("[[routes]]\nname = \"rest\"\ncarriers = [\"carrier0\", \"carrier1\"]\n");
    let config = Config::parse(&text).unwrap();
    assert_eq!(config.routes.len(), 100);
    config
}

fn route(c: &mut Criterion) {
    let table = RoutingTable::new(&config());
    let name =
        |client, source, destination| table.route(client, source, destination).unwrap().name();
    assert_eq!(name("client1", "Shop", "44017700900"), "r1");
    assert_eq!(name("client2", "Shop", "+33987700900"), "r98");
    assert_eq!(name("client0", "Shop", "49170000000"), "rest");
    let mut group = c.benchmark_group("route");
    // Matches r1: the second route.
    group.bench_function("early_match", |b| {
        b.iter(|| {
            table.route(
                black_box("client1"),
                black_box("Shop"),
                black_box("44017700900"),
            )
        })
    });
    // Matches r98, the 99th route: 98 routes looked at before it.
    group.bench_function("late_match", |b| {
        b.iter(|| {
            table.route(
                black_box("client2"),
                black_box("Shop"),
                black_box("+33987700900"),
            )
        })
    });
    // Falls through all 99 prefix routes to the catch-all.
    group.bench_function("catch_all", |b| {
        b.iter(|| {
            table.route(
                black_box("client0"),
                black_box("Shop"),
                black_box("49170000000"),
            )
        })
    });
    // Route plus the carrier order (weighted pick), as a submit needs both.
    let mut key = 0_u64;
    group.bench_function("late_match_and_carriers", |b| {
        b.iter(|| {
            key = key.wrapping_add(1);
            let route = table
                .route(
                    black_box("client2"),
                    black_box("Shop"),
                    black_box("+33987700900"),
                )
                .unwrap();
            route
                .carriers(|name| name != "carrier3", black_box(key))
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
