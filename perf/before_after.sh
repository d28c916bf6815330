#!/usr/bin/env bash
# A change that must not move the figures (a restructuring), measured in
# one run: mqbroker built from BASE (a commit of this repository) and from
# the working tree, alternated ROUNDS times (default 3), each on a fresh
# store with the default configuration, under the same batched async
# produce and the same mqbench (the working tree's). Prints each run's
# rate and the ratio of the medians, after over before.
#
#   perf/before_after.sh 71804b5
#
# BASE_TARGET_DIR (default target/before-after) keeps the base build
# between runs; BASE_BINARY names an mqbroker already built from BASE
# instead.
set -euo pipefail
base=${1:?usage: perf/before_after.sh BASE-COMMIT}
rounds=${ROUNDS:-3}
source "$(dirname "${BASH_SOURCE[0]}")/ab_lib.sh"
ab_begin before-after
base_binary=${BASE_BINARY:-}
if [ -z "$base_binary" ]; then
    ab_build_base "$base"
fi
git rev-parse "$base" >"$out/base-commit"
git rev-parse HEAD >"$out/head-commit"
git status --short >"$out/head-uncommitted"

# run LABEL ROUND BINARY: one measured produce against a fresh broker.
run() {
    local label=$1 round=$2 binary=$3
    store="$work/store-$label-$round"
    "$binary" --storePathRootDir "$store" --embeddedNamesrvPort $port \
        >"$out/broker-$label-$round.log" 2>&1 &
    broker=$!
    sleep 3
    ab_create_topic
    ab_produce "$label" "$round"
    ab_stop_broker
}

for round in $(seq 1 "$rounds"); do
    run before "$round" "$base_binary"
    run after "$round" ./target/release/mqbroker
done
ab_summary produce "mqbroker build" before after | tee "$out/summary.txt"
