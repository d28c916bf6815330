#!/usr/bin/env bash
# Runs every cargo-fuzz target of engine/fuzz and net/fuzz for a number of
# executions each, with the stable toolchain (libFuzzer through
# libfuzzer-sys, SanitizerCoverage passes enabled by RUSTFLAGS, as
# cargo-fuzz would), and prints one line per target: runs, corpus size,
# outcome. A crash stops that target; its input is left in the artifact
# directory, to be turned into a regression test.
#
#   perf/fuzz_campaign.sh [runs per target] [target ...]
#
# Default: 10,000,000 runs of every target. Corpora and artifacts go under
# ${FUZZ_WORK:-/tmp/ringmq-fuzz}; the build under $FUZZ_WORK/target.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10000000}
shift || true
work=${FUZZ_WORK:-/tmp/ringmq-fuzz}
mkdir -p "$work"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
triple=$(rustc -vV | sed -n 's/^host: //p')

targets() { # crate dir -> its fuzz target names
    sed -n 's/^name = "\(.*\)"$/\1/p' "$1/fuzz/Cargo.toml" | grep -v -- '-fuzz$'
}

status=0
for crate in engine net; do
    for t in $(targets "$crate"); do
        if [ "$#" -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$t"; then
            continue
        fi
        (cd "$crate/fuzz" && cargo build --quiet --release --bin "$t" \
            --target "$triple" --target-dir "$work/target")
        corpus="$work/corpus/$t"
        artifacts="$work/artifacts/$t/"
        mkdir -p "$corpus" "$artifacts"
        # The record decoder needs valid records to get past its first
        # checks; an empty corpus is seeded with every shape the encoder makes.
        if [ "$t" = record ] && [ -z "$(ls -A "$corpus")" ]; then
            (unset RUSTFLAGS; cargo run --release --quiet -p ringmq-benches \
                --example record_seeds -- "$corpus")
        fi
        log="$work/$t.log"
        start=$(date +%s)
        if "$work/target/$triple/release/$t" "$corpus" -runs="$runs" \
            -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
            outcome="no finding"
        else
            outcome="FINDING: see $artifacts and $log"
            status=1
        fi
        done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        printf '%-8s %-20s %12s runs %6s s  corpus %5s  %s\n' "$crate" "$t" \
            "${done_runs:-?}" "$(($(date +%s) - start))" "$(ls "$corpus" | wc -l)" "$outcome"
    done
done
exit $status
