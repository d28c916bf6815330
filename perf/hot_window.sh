#!/usr/bin/env bash
# Direct I/O's hot window against consumers that keep up: for each window
# size, a fresh 2-shard broker with commitLogDirectIo=true and
# commitLogDirectIoHotBytes=<size>, then `mqbench e2e` (1 KiB messages in
# async batches of 32, 4 producers, 2 consumers, PERF_RATE msgs/s, 20 s
# after a 3 s warm-up). Prints mqbench's e2e line and how many bytes the
# block device read during the run (/sys/block/<dev>/stat): a window that
# is too small shows up as disk reads and a higher p50.
#
# Usage: perf/hot_window.sh [bytes ...]   (default: 67108864 16777216 4194304 0)
# Environment:
#   PERF_RATE=150000     offered msgs/s
#   PERF_FLUSH=ASYNC_FLUSH
#   PERF_DEV=vda         block device holding the store
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(67108864 16777216 4194304 0)
rate="${PERF_RATE:-150000}"
flush="${PERF_FLUSH:-ASYNC_FLUSH}"
dev="${PERF_DEV:-$(lsblk -no PKNAME "$(df --output=source . | tail -1)" 2>/dev/null || true)}"
dev="${dev:-vda}"
ns=29876
port=29911

cargo build --release --bin mqbroker --bin mqbench

work="$(mktemp -d /tmp/ringmq-hot.XXXXXX)"
broker=""
cleanup() {
    if [ -n "$broker" ]; then kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

sectors_read() { awk '{print $3}' "/sys/block/$dev/stat"; }

for hot in "${sizes[@]}"; do
    rm -rf "$work/store"
    printf 'commitLogDirectIo=true\ncommitLogDirectIoHotBytes=%s\n' "$hot" >"$work/broker.conf"
    ./target/release/mqbroker --storePathRootDir "$work/store" --flushDiskType "$flush" \
        --embeddedNamesrvPort "$ns" --listenPort "$port" --shards 2 \
        -c "$work/broker.conf" >"$work/broker.log" 2>&1 &
    broker=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10))") 2>/dev/null && break
        sleep 0.1
    done
    sleep 1
    before=$(sectors_read)
    ./target/release/mqbench e2e -n "127.0.0.1:$ns" -t "HotWindow$hot" --queues 4 -p 4 -c 2 \
        -s 1024 -b 32 --mode async --inflight 8 --rate "$rate" -d 20s --warmup 3s \
        >"$work/out.txt" 2>/dev/null
    after=$(sectors_read)
    kill "$broker"; wait "$broker" 2>/dev/null || true
    broker=""
    echo "== commitLogDirectIoHotBytes=$hot"
    grep -E '^(phase|e2e)' "$work/out.txt"
    echo "read from $dev during the run: $(( (after - before) * 512 / 1048576 )) MiB"
done
