#!/usr/bin/env bash
# End-to-end latency at half the maximum rate, broker and mqbench on
# separate cores (issue 18's placement): mqbroker with one shard pinned to
# CPU 0 (`taskset -c 0`), mqbench on CPU 1 (`taskset -c 1`; mqbench takes
# the CPUs of its affinity mask in order). Each run, on a fresh store with
# the default configuration (ASYNC_FLUSH, buffered I/O):
#
#   max   batched async produce (4 producers, 1 KiB, batches of 32,
#         8 in flight) with 2 consumers reading as it goes, unpaced, 10 s
#         after 2 s of warm-up: the maximum rate the shard sustains while
#         it also serves the consumers (the produce-only maximum is not:
#         at half of it the consumers fall behind);
#   e2e   the same at half that rate, 15 s after 3 s of warm-up:
#         send-to-receive latency percentiles.
#
# Consumers pull up to 256 messages at a time (`--pull-batch 256`). With
# RocketMQ's default of 32 and one pull in flight per queue, each queue
# needs a pull round trip per producer batch of 32: at half the maximum
# that is under 1 ms a round trip, so the consumers, not the broker, set
# the tail (they fell seconds behind in one run in two or three).
#
# With RATE set (messages a second), the e2e run is paced at RATE and
# the max run is skipped: the unpaced maximum varies by 1.5x between runs
# on this VM, and half of a high reading can sit at what the shard
# sustains, so a fixed rate compares two builds at the same load.
#
# With BASE (a commit of this repository), mqbroker built from BASE and
# from the working tree are alternated ROUNDS times (default 3) and the
# same mqbench (the working tree's) drives both; without, the working
# tree alone. Results under perf/results/tail-<time>/.
#
#   [RATE=N] [ROUNDS=N] perf/tail.sh [BASE-COMMIT]
set -euo pipefail
base=${1:-}
rounds=${ROUNDS:-3}
fixed_rate=${RATE:-}
source "$(dirname "${BASH_SOURCE[0]}")/ab_lib.sh"
ab_begin tail
labels=(after)
binaries=(./target/release/mqbroker)
if [ -n "$base" ]; then
    ab_build_base "$base"
    git rev-parse "$base" >"$out/base-commit"
    labels=(before after)
    binaries=("$base_binary" ./target/release/mqbroker)
fi
git rev-parse HEAD >"$out/head-commit"
[ -z "$fixed_rate" ] || echo "$fixed_rate" >"$out/rate"
git status --short >"$out/head-uncommitted"
bench() { taskset -c 1 ./target/release/mqbench "$@"; }

# run LABEL ROUND BINARY
run() {
    local label=$1 round=$2 binary=$3
    store="$work/store-$label-$round"
    taskset -c 0 "$binary" --storePathRootDir "$store" --embeddedNamesrvPort $port --set shards=1 \
        >"$out/broker-$label-$round.log" 2>&1 &
    broker=$!
    sleep 3
    bench produce -n 127.0.0.1:$port -t BenchTopic --queues 4 --messages 1 >/dev/null
    local half=$fixed_rate
    if [ -z "$half" ]; then
        bench e2e -n 127.0.0.1:$port -t BenchTopic -p 4 -s 1024 -b 32 --inflight 8 -c 2 --pull-batch 256 \
            --mode async -d 10s --warmup 2s --json "$out/max-$label-$round.json" >"$out/max-$label-$round.txt"
        half=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["e2e"]["msgs_per_sec"] / 2))' \
            "$out/max-$label-$round.json")
    fi
    bench e2e -n 127.0.0.1:$port -t BenchTopic -p 4 -s 1024 -b 32 --inflight 8 -c 2 --pull-batch 256 \
        --mode async --rate "$half" -d 15s --warmup 3s \
        --json "$out/e2e-$label-$round.json" >"$out/e2e-$label-$round.txt"
    ab_stop_broker
}

for round in $(seq 1 "$rounds"); do
    for i in "${!labels[@]}"; do
        run "${labels[$i]}" "$round" "${binaries[$i]}"
    done
done
python3 - "$out" "${labels[@]}" <<'PY' | tee "$out/summary.txt"
import json, glob, sys
out, labels = sys.argv[1], sys.argv[2:]
print("label  round  max e2e/s  e2e rate   p50 ms  p99 ms  p99.9 ms  p99.99 ms  max ms")
for label in labels:
    for f in sorted(glob.glob(f"{out}/e2e-{label}-*.json")):
        r = f.rsplit("-", 1)[1].split(".")[0]
        try:
            mx = json.load(open(f"{out}/max-{label}-{r}.json"))["e2e"]["msgs_per_sec"]
        except FileNotFoundError:
            mx = float("nan")  # RATE set: no max run
        e = json.load(open(f))["e2e"]
        l = e["latency_us"]
        print(f"{label:6} {r:>5}  {mx:>10,.0f}  {e['msgs_per_sec']:>9,.0f}  {l['p50']/1e3:6.2f}  {l['p99']/1e3:6.2f}  "
              f"{l['p999']/1e3:8.2f}  {l['p9999']/1e3:9.2f}  {l['max']/1e3:6.2f}")
PY
