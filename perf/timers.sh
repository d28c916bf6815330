#!/usr/bin/env bash
# Timer and delay-level messages against plain sends, in one run, each on
# a fresh store (default broker config: 2 shards, ASYNC_FLUSH):
#
#   1. plain:  mqbench produce, 1 KiB async single sends (timers cannot be
#              batched), PERF_PRODUCERS producers, 64 in flight, 15 s;
#   2. timer:  the same with --deliver-after 10s (each message is written
#              twice: into the timer queue, then to its topic when due);
#   3. lateness: mqbench e2e of 1 KiB timer messages 10 s ahead at
#              PERF_RATE msgs/s for 20 s after a 12 s warm-up (so measured
#              deliveries are of messages sent in the run), reporting how
#              late past their time consumers got them;
#   4. the same lateness run with --delay-level 3 (10 s);
#   5. plain e2e at the same rate: what the machine gives without delays
#      (the bound on 3 and 4).
#
# With PERF_PEER=1 and the peer installed (perf/run.sh installs
# rocketmq-rust 1.0.0 into PERF_PEER_CACHE), runs 1-4 against it too.
# perf/disk_ceiling.sh runs first, in the same run. Prints mqbench's
# summary lines; the full JSON goes to perf/results/timers-<time>/.
#
# Usage: perf/timers.sh
# Environment:
#   PERF_RATE=100000  offered msgs/s in the lateness runs
#   PERF_PRODUCERS=4
#   PERF_PEER=0       1 runs rocketmq-rust 1.0.0 too (install it as perf/run.sh does)
#   PERF_PEER_CACHE=~/.cache/ringmq-peer
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${PERF_RATE:-100000}"
producers="${PERF_PRODUCERS:-4}"
peer="${PERF_PEER:-0}"
peer_cache="${PERF_PEER_CACHE:-$HOME/.cache/ringmq-peer}"
ns=29876
port=29911

cargo build --release --bin mqbroker --bin mqbench

out="perf/results/timers-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
work="$(mktemp -d /tmp/ringmq-timers.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

start_ringmq() {
    rm -rf "$work/store"
    ./target/release/mqbroker --storePathRootDir "$work/store" --embeddedNamesrvPort "$ns" \
        --listenPort "$port" --shards 2 >"$work/broker.log" 2>&1 &
    pids+=($!)
    wait_port $((port + 10))
    wait_port $((port + 11))
    sleep 1
}

start_peer() {
    rm -rf "$work/peer"
    mkdir -p "$work/peer"
    cat >"$work/peer/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=peer-a
brokerId=0
listenPort=$port
storePathRootDir=$work/peer/store
flushDiskType=ASYNC_FLUSH
brokerIP1=127.0.0.1
autoCreateTopicEnable=true
namesrvAddr=127.0.0.1:$ns
CONF
    ROCKETMQ_HOME="$work/peer" "$peer_cache/bin/rocketmq-namesrv-rust" --listenPort "$ns" \
        >"$work/peer/namesrv.log" 2>&1 &
    pids+=($!)
    wait_port "$ns"
    ROCKETMQ_HOME="$work/peer" "$peer_cache/bin/rocketmq-broker-rust" -c "$work/peer/broker.conf" \
        -n "127.0.0.1:$ns" >"$work/peer/broker.log" 2>&1 &
    pids+=($!)
    wait_port "$port"
    sleep 2
}

stop_all() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    pids=()
}

run() { # label start-fn mqbench-args...
    local label=$1 start=$2
    shift 2
    $start
    ./target/release/mqbench "$@" -n "127.0.0.1:$ns" --queues 4 -s 1024 \
        --json "$out/$label.json" >"$work/out.txt" 2>/dev/null || echo "$label: mqbench failed"
    stop_all
    echo "== $label"
    grep -E '^(phase|produce|e2e)' "$work/out.txt" || cat "$work/out.txt"
}

echo "== disk ceiling (perf/disk_ceiling.sh)"
perf/disk_ceiling.sh | tee "$out/disk_ceiling.txt"
brokers=(ringmq)
if [ "$peer" = 1 ] && [ -x "$peer_cache/bin/rocketmq-broker-rust" ]; then brokers+=(peer); fi
for b in "${brokers[@]}"; do
    start="start_$b"
    run "$b-plain" "$start" produce -t Plain -p "$producers" --mode async --inflight 64 -d 15s --warmup 3s
    run "$b-timer" "$start" produce -t Timer -p "$producers" --mode async --inflight 64 -d 15s --warmup 3s \
        --deliver-after 10s
    run "$b-plain-e2e" "$start" e2e -t PlainE2e -p "$producers" -c 2 --mode async --inflight 64 \
        --rate "$rate" -d 20s --warmup 12s
    run "$b-timer-lateness" "$start" e2e -t TimerE2e -p "$producers" -c 2 --mode async --inflight 64 \
        --rate "$rate" -d 20s --warmup 12s --deliver-after 10s
    run "$b-delay-lateness" "$start" e2e -t DelayE2e -p "$producers" -c 2 --mode async --inflight 64 \
        --rate "$rate" -d 20s --warmup 12s --delay-level 3
done
echo "results: $out"
