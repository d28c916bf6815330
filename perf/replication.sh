#!/usr/bin/env bash
# The cost of replication: mqbench runs the 1 KiB produce scenarios of
# perf/scenarios.tsv against a single RingMQ broker, an ASYNC_MASTER with a
# slave and a SYNC_MASTER with a slave, all on this machine, alternating
# topologies within each round. Prints each topology's figures as a ratio
# to the single broker of the same round (perf/replication_summary.py).
#
# Master and slave share the machine's cores and disk here: the figures
# are the cost of the protocol plus a second broker's work on the same
# box, an upper bound on what separate machines would pay.
#
# Usage: perf/replication.sh [rounds]
# Environment:
#   PERF_FLUSH=ASYNC_FLUSH      flushDiskType of master and slave
#   PERF_SHARDS=<cores>         shards per broker
#   PERF_SCENARIOS="produce-1k-sync-8p produce-1k-async-batch32"
#   PERF_BROKER_SET="haTransferBatchSize=262144 ..."  extra settings, every broker
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1}"
flush="${PERF_FLUSH:-ASYNC_FLUSH}"
shards="${PERF_SHARDS:-$(nproc)}"
scenarios="${PERF_SCENARIOS:-produce-1k-sync-8p produce-1k-async-batch32}"

cargo build --release --bin mqbroker --bin mqnamesrv --bin mqbench

out="perf/results/replication-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
work="$(mktemp -d /tmp/ringmq-repl.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$out/meta.json" <<META
{
  "commit": "$(git rev-parse HEAD)$(git diff --quiet || echo -dirty)",
  "kernel": "$(uname -r)",
  "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
  "cores": $(nproc),
  "flush": "$flush",
  "shards": $shards,
  "broker_settings": "${PERF_BROKER_SET:-}",
  "note": "master and slave on the same machine",
  "started_utc": "$(date -u +%FT%TZ)"
}
META

ns_port=28876
master_port=28911
slave_port=28961
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

broker() { # dir port role [extra --set ...]
    local dir=$1 port=$2 role=$3
    shift 3
    for kv in ${PERF_BROKER_SET:-}; do
        set -- "$@" --set "$kv"
    done
    mkdir -p "$dir"
    ./target/release/mqbroker -n 127.0.0.1:$ns_port --storePathRootDir "$dir/store" \
        --flushDiskType "$flush" --listenPort "$port" --shards "$shards" \
        --mappedFileSizeCommitLog $((1 << 30)) --brokerName perf \
        --set "brokerRole=$role" "$@" > "$dir/broker.log" 2>&1 &
    pids+=($!)
    wait_port $((port + 10))
}

start() { # topology dir
    local topology=$1 dir=$2
    ./target/release/mqnamesrv -p $ns_port > "$dir-namesrv.log" 2>&1 &
    pids+=($!)
    wait_port $ns_port
    case "$topology" in
        single) broker "$dir/master" $master_port ASYNC_MASTER ;;
        async-master | sync-master)
            local role=ASYNC_MASTER
            [ "$topology" = sync-master ] && role=SYNC_MASTER
            broker "$dir/master" $master_port $role
            broker "$dir/slave" $slave_port SLAVE --set brokerId=1
            # Wait until every shard's slave is connected.
            for _ in $(seq 1 100); do
                [ "$(grep -c 'replicating to slave' "$dir/master/broker.log" || true)" -ge "$shards" ] && break
                sleep 0.1
            done
            ;;
    esac
    sleep 1
}

stop() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]:-}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

for round in $(seq 1 "$rounds"); do
    for name in $scenarios; do
        flags="$(awk -F'\t' -v n="$name" '$1 == n {print $3}' perf/scenarios.tsv)"
        for topology in single async-master sync-master; do
            dir="$work/$round-$name-$topology"
            mkdir -p "$dir"
            echo "== round $round: $name on $topology ($flush)"
            start "$topology" "$dir"
            # shellcheck disable=SC2086
            ./target/release/mqbench produce -n 127.0.0.1:$ns_port -t "$name" \
                --workload "perf/scenarios/$name.yaml" $flags \
                --json "$out/$round-$name-$topology.json" 2>"$dir/progress.txt" \
                | tee "$out/$round-$name-$topology.txt" || echo "mqbench failed (see $dir)"
            stop
            rm -rf "$dir"/*/store
        done
    done
done
python3 perf/replication_summary.py "$out" | tee "$out/summary.txt"
echo "results: $out"
