#!/usr/bin/env bash
# Cost of the Prometheus exporter: batched async produce against a fresh
# default broker with metricsExporterType=DISABLE and with PROM (scraped
# every second during the run, 15 times more often than Prometheus'
# default), alternating, ROUNDS times each, in one run. Prints messages/s
# of each run and the ratio of the medians; writes every mqbench JSON and
# the last scrape under perf/results/metrics-<time>/.
#
#   perf/metrics.sh [rounds]      (default 2; about 1 minute a run)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
cargo build --release --quiet --bin mqbroker --bin mqbench
out="perf/results/metrics-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=19876
exporter=19557

run() { # exporter type (DISABLE|PROM) round
    local kind=$1 round=$2 store="$work/store-$1-$2"
    ./target/release/mqbroker --storePathRootDir "$store" --embeddedNamesrvPort $port \
        --set metricsExporterType="$kind" --set metricsPromExporterPort=$exporter \
        >"$out/broker-$kind-$round.log" 2>&1 &
    local broker=$!
    sleep 3
    ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic --queues 4 \
        --messages 1 >/dev/null
    local scraper=
    if [ "$kind" = PROM ]; then
        (while sleep 1; do
            curl -s "http://127.0.0.1:$exporter/metrics" -o "$out/scrape-$round.txt" || true
        done) &
        scraper=$!
    fi
    ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic -p 4 -s 1024 -b 32 \
        --mode async -d 15s --warmup 3s --json "$out/produce-$kind-$round.json" \
        >"$out/produce-$kind-$round.txt"
    [ -n "$scraper" ] && kill "$scraper"
    kill -INT $broker
    wait $broker || true
    rm -rf "$store"
}

for round in $(seq 1 "$rounds"); do
    run DISABLE "$round"
    run PROM "$round"
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys
out = sys.argv[1]
rates = {}
for kind in ("DISABLE", "PROM"):
    rates[kind] = [json.load(open(f))["produce"]["msgs_per_sec"]
                   for f in sorted(glob.glob(f"{out}/produce-{kind}-*.json"))]
    print(f"metricsExporterType={kind}: " + ", ".join(f"{r:,.0f}" for r in rates[kind]) + " msgs/s")
on, off = statistics.median(rates["PROM"]), statistics.median(rates["DISABLE"])
print(f"metrics on / off (medians): {on / off:.3f}")
PY
echo "results: $out"
