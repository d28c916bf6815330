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
source "$(dirname "$0")/ab_lib.sh"
rounds=${1:-2}
ab_begin metrics
exporter=19557

run() { # exporter type (DISABLE|PROM) round
    local kind=$1 round=$2
    ab_start_broker "$kind" "$round" \
        --set metricsExporterType="$kind" --set metricsPromExporterPort=$exporter
    ab_create_topic
    local scraper=
    if [ "$kind" = PROM ]; then
        (while sleep 1; do
            curl -s "http://127.0.0.1:$exporter/metrics" -o "$out/scrape-$round.txt" || true
        done) &
        scraper=$!
    fi
    ab_produce "$kind" "$round"
    [ -n "$scraper" ] && kill "$scraper"
    ab_stop_broker
}

for round in $(seq 1 "$rounds"); do
    run DISABLE "$round"
    run PROM "$round"
done
ab_summary produce metricsExporterType DISABLE PROM
echo "results: $out"
