#!/usr/bin/env bash
# RingMQ's perf harness: builds release binaries, then for each flush mode
# and each scenario in perf/scenarios.tsv runs mqbench against RingMQ and
# against the peer broker (rocketmq-rust 1.0.0), alternating, each on a
# fresh store. Results (mqbench JSON per run, plus the commit, kernel, CPU
# and disk) go to perf/results/<UTC time>/; then perf/compare.py prints
# RingMQ / peer for each figure and checks the baseline of this machine
# class.
#
# Usage: perf/run.sh [scenario-name-filter]
# Environment:
#   PERF_FLUSH="ASYNC_FLUSH SYNC_FLUSH"   flush modes to run
#   PERF_PEER=1                           0 skips the peer
#   PERF_PEER_CACHE=~/.cache/ringmq-peer  where the peer is installed
#   PERF_SHARDS=<cores>                   RingMQ shards
#   PERF_BASELINE=perf/baselines/2core-vm.json
#   PERF_THRESHOLD=0.15                   regression threshold (fraction)
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-}"
flush_modes="${PERF_FLUSH:-ASYNC_FLUSH SYNC_FLUSH}"
peer="${PERF_PEER:-1}"
peer_cache="${PERF_PEER_CACHE:-$HOME/.cache/ringmq-peer}"
shards="${PERF_SHARDS:-$(nproc)}"
baseline="${PERF_BASELINE:-perf/baselines/2core-vm.json}"
threshold="${PERF_THRESHOLD:-0.15}"

cargo build --release --bin mqbroker --bin mqbench
if [ "$peer" = 1 ] && [ ! -x "$peer_cache/bin/rocketmq-broker-rust" ]; then
    echo "installing the peer (rocketmq-rust 1.0.0) into $peer_cache"
    cargo install --locked rocketmq-namesrv@1.0.0 rocketmq-broker@1.0.0 --root "$peer_cache"
fi

out="perf/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
work="$(mktemp -d /tmp/ringmq-perf.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

disk_dev="$(df --output=source "$work" | tail -1)"
cat > "$out/meta.json" <<META
{
  "commit": "$(git rev-parse HEAD)$(git diff --quiet || echo -dirty)",
  "kernel": "$(uname -r)",
  "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
  "cores": $(nproc),
  "memory_kib": $(awk '/MemTotal/{print $2}' /proc/meminfo),
  "disk": "$disk_dev $(lsblk -no MODEL,SIZE "$disk_dev" 2>/dev/null | head -1 | tr -s ' ')",
  "filesystem": "$(df --output=fstype "$work" | tail -1)",
  "shards": $shards,
  "peer": "rocketmq-rust 1.0.0 (rocketmq-broker-rust, rocketmq-namesrv-rust)",
  "started_utc": "$(date -u +%FT%TZ)"
}
META

ns_port=29876
broker_port=29911
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

start_broker() { # kind flush dir
    local kind=$1 flush=$2 dir=$3
    mkdir -p "$dir"
    if [ "$kind" = ringmq ]; then
        ./target/release/mqbroker --storePathRootDir "$dir/store" --flushDiskType "$flush" \
            --embeddedNamesrvPort $ns_port --listenPort $broker_port --shards "$shards" \
            --mappedFileSizeCommitLog $((1 << 30)) > "$dir/broker.log" 2>&1 &
        pids+=($!)
        wait_port $ns_port
        wait_port $((broker_port + 10))
    else
        cat > "$dir/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=peer-a
brokerId=0
listenPort=$broker_port
storePathRootDir=$dir/store
flushDiskType=$flush
brokerIP1=127.0.0.1
autoCreateTopicEnable=true
namesrvAddr=127.0.0.1:$ns_port
CONF
        ROCKETMQ_HOME="$dir" "$peer_cache/bin/rocketmq-namesrv-rust" --listenPort $ns_port > "$dir/namesrv.log" 2>&1 &
        pids+=($!)
        wait_port $ns_port
        ROCKETMQ_HOME="$dir" "$peer_cache/bin/rocketmq-broker-rust" -c "$dir/broker.conf" \
            -n 127.0.0.1:$ns_port > "$dir/broker.log" 2>&1 &
        pids+=($!)
        wait_port $broker_port
    fi
    sleep 2 # first registration with the name server
}

stop_brokers() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]:-}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

declare -A half_max
kinds="ringmq"
[ "$peer" = 1 ] && kinds="ringmq peer"
for flush in $flush_modes; do
    mkdir -p "$out/$flush"
    while IFS=$'\t' read -r name command flags setup; do
        case "$name" in ''|'#'*) continue ;; esac
        [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
        for kind in $kinds; do
            dir="$work/$flush-$name-$kind"
            echo "== $flush $name on $kind"
            start_broker "$kind" "$flush" "$dir"
            if [ "$setup" != "-" ]; then
                # shellcheck disable=SC2086
                ./target/release/mqbench $setup -n 127.0.0.1:$ns_port -t "$name" --queues 4 -p 4 -s 1024 \
                    --json "$out/$flush/$name-$kind-setup.json" > "$dir/setup.txt" 2>&1 || true
            fi
            f="${flags//HALF_MAX/${half_max[$flush-$kind]:-0}}"
            # shellcheck disable=SC2086
            ./target/release/mqbench $command -n 127.0.0.1:$ns_port -t "$name" \
                --workload "perf/scenarios/$name.yaml" $f \
                --json "$out/$flush/$name-$kind.json" --plot "$out/$flush/$name-$kind" \
                2>"$dir/progress.txt" | tee "$out/$flush/$name-$kind.txt" || echo "mqbench failed (see $out)"
            if [ "$name" = produce-1k-async-batch32 ] && [ -f "$out/$flush/$name-$kind.json" ]; then
                half_max[$flush-$kind]=$(python3 -c "import json,sys; print(int(json.load(open(sys.argv[1]))['produce']['msgs_per_sec']/2))" "$out/$flush/$name-$kind.json")
            fi
            stop_brokers
            rm -rf "$dir/store"
        done
    done < perf/scenarios.tsv
done
python3 perf/compare.py "$out" --baseline "$baseline" --threshold "$threshold"
echo "results: $out"
