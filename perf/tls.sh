#!/usr/bin/env bash
# TLS beside plain TCP: against a fresh default broker with tlsMode=disabled
# and with tlsMode=enforcing (a self-signed P-256 certificate for
# 127.0.0.1, which mqbench trusts and checks), alternating, ROUNDS times
# each, in one run: batched async produce for 15 s, then 2 consumers
# reading that backlog from the first offset. Prints messages/s of each run
# and the ratios of the medians; writes every mqbench JSON under
# perf/results/tls-<time>/.
#
#   perf/tls.sh [rounds]          (default 2; about 1.5 minutes a run)
set -euo pipefail
source "$(dirname "$0")/ab_lib.sh"
rounds=${1:-2}
ab_begin tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -keyout "$work/broker.key" -out "$work/broker.pem" 2>/dev/null

run() { # tlsMode(disabled|enforcing) round
    local mode=$1 round=$2
    ab_start_broker "$mode" "$round" --set tlsMode="$mode" \
        --set tlsServerCertPath="$work/broker.pem" --set tlsServerKeyPath="$work/broker.key"
    local tls=()
    [ "$mode" = enforcing ] && tls=(--tls-trust "$work/broker.pem")
    ab_create_topic "${tls[@]}"
    ab_produce "$mode" "$round" "${tls[@]}"
    local sent
    sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["produce"]["messages"])' \
        "$out/produce-$mode-$round.json")
    ./target/release/mqbench consume -n 127.0.0.1:$port -t BenchTopic -c 2 --from first \
        --messages "$sent" "${tls[@]}" --json "$out/consume-$mode-$round.json" \
        >"$out/consume-$mode-$round.txt"
    ab_stop_broker
}

for round in $(seq 1 "$rounds"); do
    run disabled "$round"
    run enforcing "$round"
done
ab_summary produce tlsMode disabled enforcing
ab_summary consume tlsMode disabled enforcing
echo "results: $out"
