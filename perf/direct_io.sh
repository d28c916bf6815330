#!/usr/bin/env bash
# Buffered I/O against direct I/O for the commit log (commitLogDirectIo
# false / true), on what made direct I/O opt-in: a fresh default broker
# (2 shards, ASYNC_FLUSH) per run, alternating, ROUNDS times each, in one
# run. Each run, on one broker:
#
#   produce   batched async produce (4 producers, 1 KiB, batches of 32,
#             15 s after 3 s of warm-up);
#   sync      single 1 KiB sync sends, 8 producers, 10 s;
#   consume   2 consumers reading everything from the first offset: a
#             backlog of several GB, most of it behind direct I/O's hot
#             window and, for buffered I/O, partly outside the page cache.
#
# Prints messages/s of each and the ratios of the medians (direct over
# buffered); writes every mqbench JSON under perf/results/direct_io-<time>/.
#
#   perf/direct_io.sh [rounds]    (default 2; about 2 minutes a run)
set -euo pipefail
source "$(dirname "$0")/ab_lib.sh"
rounds=${1:-2}
ab_begin direct_io

run() { # commitLogDirectIo(false|true) round
    local direct=$1 round=$2
    ab_start_broker "$direct" "$round" --set commitLogDirectIo="$direct"
    ab_create_topic
    ab_produce "$direct" "$round"
    ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic -p 8 -s 1024 \
        --mode sync -d 10s --json "$out/sync-$direct-$round.json" >"$out/sync-$direct-$round.txt"
    # Drop what the page cache holds of the store, so the backlog is read
    # as a consumer that fell behind reads it.
    sync
    echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
    local sent
    sent=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["produce"]["messages"] for f in sys.argv[1:]))' \
        "$out/produce-$direct-$round.json" "$out/sync-$direct-$round.json")
    ./target/release/mqbench consume -n 127.0.0.1:$port -t BenchTopic -c 2 --from first \
        --messages "$sent" --json "$out/consume-$direct-$round.json" >"$out/consume-$direct-$round.txt"
    ab_stop_broker
}

for round in $(seq 1 "$rounds"); do
    run false "$round"
    run true "$round"
done
ab_summary produce commitLogDirectIo false true
python3 - "$out" <<'PY'
import json, glob, statistics, sys
out = sys.argv[1]
for kind in ("sync", "consume"):
    rates = {}
    for label in ("false", "true"):
        rates[label] = [json.load(open(f))["consume" if kind == "consume" else "produce"]["msgs_per_sec"]
                        for f in sorted(glob.glob(f"{out}/{kind}-{label}-*.json"))]
        print(f"{kind}, commitLogDirectIo={label}: " + ", ".join(f"{r:,.0f}" for r in rates[label]) + " msgs/s")
    print(f"{kind}, true / false (medians): {statistics.median(rates['true']) / statistics.median(rates['false']):.3f}")
PY
echo "results: $out"
