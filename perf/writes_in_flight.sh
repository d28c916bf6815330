#!/usr/bin/env bash
# SYNC_FLUSH group commits with direct I/O, one write in flight against
# two (StoreConfig::direct_io_writes_in_flight), alternating within each
# round so both see the same disk: `sustained_append` with 32 x 1 KiB
# batches, 256 KiB per write (the write buffer's maximum), 16 appenders
# (two groups' worth, so the next group is ready while one is on the disk),
# segments zero-filled as the broker does under SYNC_FLUSH, on each core.
# Before and after the rounds, dd gives the disk's own figures for 256 KiB
# O_DIRECT|O_DSYNC writes, one writer and two (perf/disk_ceiling.sh has
# the full table).
#
# Usage: perf/writes_in_flight.sh [rounds]   (default 3)
# Environment:
#   PERF_MIB=3072        MiB appended per run
#   PERF_CPUS="0 1"      cores to pin the shard to
#   PERF_APPENDERS=16
#   PERF_WRITE_KIB=256
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
mib="${PERF_MIB:-3072}"
cpus="${PERF_CPUS:-0 1}"
appenders="${PERF_APPENDERS:-16}"
write_kib="${PERF_WRITE_KIB:-256}"

cargo build --release -p ringmq-benches --example sustained_append
bin=target/release/examples/sustained_append
mkdir -p target
file="$(mktemp target/wif-dd.XXXXXX)"
trap 'rm -f "$file"' EXIT

dd_pair() {
    local core=$1 rate one a b
    rate() { tail -1 | sed -E 's/.*, ([0-9.]+ [kMG]?B\/s)$/\1/'; }
    one=$(taskset -c "$core" dd if=/dev/zero of="$file" bs=256K count=4096 oflag=direct,dsync conv=notrunc 2>&1 | rate)
    a="$(mktemp)"
    taskset -c "$core" dd if=/dev/zero of="$file" bs=256K count=2048 oflag=direct,dsync conv=notrunc 2>&1 | rate >"$a" &
    b=$(taskset -c "$core" dd if=/dev/zero of="$file" bs=256K count=2048 seek=2048 oflag=direct,dsync conv=notrunc 2>&1 | rate)
    wait
    echo "dd core $core, 256 KiB O_DSYNC: 1 writer $one; 2 writers $(cat "$a") + $b"
    rm -f "$a"
}

dd if=/dev/zero of="$file" bs=1M count=1024 oflag=direct status=none
echo "machine: $(nproc) cores, $(uname -r); $mib MiB per run, $appenders appenders, $write_kib KiB writes"
for core in $cpus; do dd_pair "$core"; done
for round in $(seq 1 "$rounds"); do
    for core in $cpus; do
        for wif in 1 2; do
            line=$(RINGMQ_BENCH_DIRECT=1 RINGMQ_BENCH_CPU="$core" RINGMQ_BENCH_APPENDERS="$appenders" \
                RINGMQ_BENCH_WRITE_KIB="$write_kib" RINGMQ_BENCH_WRITES_IN_FLIGHT="$wif" \
                "$bin" "$mib" sync 2>/dev/null | tail -1)
            echo "round $round core $core writes_in_flight $wif: $line"
        done
    done
done
for core in $cpus; do dd_pair "$core"; done
