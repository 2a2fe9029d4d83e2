#!/bin/sh
# The benchmark suite of issue 7 in one command, from the repository root or anywhere:
#
#   scripts/bench.sh          the full suite: quick criterion runs, then the end-to-end and
#                             backlog benches with the issue's parameters (1,000,000 messages;
#                             takes a while and wants the machine to itself)
#   scripts/bench.sh quick    the same with small counts, to check that it all runs
#
# Every result goes to target/bench-results/ (or $SMPPD_BENCH_RESULTS): the criterion and
# submit output as text, each e2e and backlog run as a markdown table with the machine,
# the date and the commit. Point SMPPD_BENCH_DIR at the disk to measure (default: the system
# temp dir; a tmpfs makes fsync free). The counts can be changed:
#   SMPPD_SUITE_MESSAGES       full-path run and backlog size (default 1000000)
#   SMPPD_SUITE_RATE           offered messages/s of the latency run (default 10000)
#   SMPPD_SUITE_RATE_MESSAGES  messages of the latency run and of the mixed run (300000)
#   SMPPD_SUITE_CAP            carrier cap during the backlog drain, messages/s (5000)
set -eu
cd "$(dirname "$0")/.."

case "${1:-full}" in
full)
    messages=${SMPPD_SUITE_MESSAGES:-1000000}
    rate_messages=${SMPPD_SUITE_RATE_MESSAGES:-300000}
    drain_secs=30
    criterion="--warm-up-time 1 --measurement-time 3"
    submit_messages=200000
    ;;
quick)
    messages=${SMPPD_SUITE_MESSAGES:-20000}
    rate_messages=${SMPPD_SUITE_RATE_MESSAGES:-10000}
    drain_secs=5
    criterion="--warm-up-time 0.2 --measurement-time 0.5"
    submit_messages=20000
    ;;
*)
    echo "usage: $0 [full|quick]" >&2
    exit 64
    ;;
esac
rate=${SMPPD_SUITE_RATE:-10000}
cap=${SMPPD_SUITE_CAP:-5000}

results=${SMPPD_BENCH_RESULTS:-target/bench-results}
mkdir -p "$results"
SMPPD_BENCH_RESULTS=$(cd "$results" && pwd)
export SMPPD_BENCH_RESULTS
stamp=$(date -u +%Y%m%dT%H%M%SZ)
# What this run writes is what is newer than this marker.
marker="$SMPPD_BENCH_RESULTS/.suite-$stamp"
touch "$marker"
say() { printf '\n=== %s\n' "$*"; }

# Build everything first, so that compiling does not overlap a measurement.
cargo bench --workspace --benches --no-run

say "criterion: codec, store write path, route, throttle"
{
    # shellcheck disable=SC2086 # $criterion is a list of arguments
    cargo bench -p smpp-proto --bench codec -- $criterion
    # shellcheck disable=SC2086
    cargo bench --bench store -- $criterion
    # shellcheck disable=SC2086
    cargo bench --bench route -- $criterion
    # shellcheck disable=SC2086
    cargo bench --bench throttle -- $criterion
} 2>&1 | tee "$SMPPD_BENCH_RESULTS/criterion-$stamp.txt"

say "submit alone (no carrier), durable and relaxed"
SMPPD_BENCH_MESSAGES=$submit_messages cargo bench --bench submit 2>&1 |
    tee "$SMPPD_BENCH_RESULTS/submit-$stamp.txt"

say "end to end: $messages messages, as fast as it goes"
SMPPD_E2E_MESSAGES=$messages SMPPD_E2E_PROGRESS=0 cargo bench --bench e2e

say "end to end: latency at $rate messages/s offered"
SMPPD_E2E_MESSAGES=$rate_messages SMPPD_E2E_RATE=$rate SMPPD_E2E_PROGRESS=0 \
    cargo bench --bench e2e

say "end to end: mixed messages (GSM, UCS-2, long)"
SMPPD_E2E_MESSAGES=$rate_messages SMPPD_E2E_MIX=gsm=80,ucs2=15,long=5 SMPPD_E2E_PROGRESS=0 \
    cargo bench --bench e2e

say "backlog: $messages queued, restarts, drain at $cap/s"
SMPPD_BACKLOG_MESSAGES=$messages SMPPD_BACKLOG_CAP=$cap SMPPD_BACKLOG_DRAIN_SECS=$drain_secs \
    cargo bench --bench backlog

say "results of this run in $SMPPD_BENCH_RESULTS"
find "$SMPPD_BENCH_RESULTS" -maxdepth 1 -type f -name '*-*' -newer "$marker" | sort
rm -f "$marker"
