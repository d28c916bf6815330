#!/usr/bin/env bash
# Cost of ACL: batched async produce against a fresh default broker with
# aclEnable=false and with aclEnable=true (mqbench signing every request,
# with a non-admin account that has PUB on the topic), alternating, ROUNDS
# times each, in one run. Prints messages/s of each run and the ratio of
# the medians; writes every mqbench JSON under perf/results/acl-<time>/.
#
#   perf/acl.sh [rounds]          (default 2; about 1 minute a run)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
cargo build --release --quiet --bin mqbroker --bin mqbench
out="perf/results/acl-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=19876
cat >"$work/plain_acl.yml" <<'YAML'
accounts:
  - accessKey: bench-admin
    secretKey: bench-admin-secret
    admin: true
  - accessKey: bench-producer
    secretKey: bench-producer-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - BenchTopic=PUB
YAML

run() { # acl(true|false) round
    local acl=$1 round=$2 store="$work/store-$1-$2"
    ./target/release/mqbroker --storePathRootDir "$store" --embeddedNamesrvPort $port \
        --set aclEnable="$acl" --set plainAclFile="$work/plain_acl.yml" \
        >"$out/broker-$acl-$round.log" 2>&1 &
    local broker=$!
    sleep 3
    local keys=()
    if [ "$acl" = true ]; then
        # The topic is created by an admin account; the measured run
        # signs as the producer account.
        ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic --queues 4 \
            --messages 1 --access-key bench-admin --secret-key bench-admin-secret >/dev/null
        keys=(--access-key bench-producer --secret-key bench-producer-secret)
    else
        ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic --queues 4 \
            --messages 1 >/dev/null
    fi
    ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic -p 4 -s 1024 -b 32 \
        --mode async -d 15s --warmup 3s "${keys[@]}" --json "$out/produce-acl-$acl-$round.json" \
        >"$out/produce-acl-$acl-$round.txt"
    kill -INT $broker
    wait $broker || true
    rm -rf "$store"
}

for round in $(seq 1 "$rounds"); do
    run false "$round"
    run true "$round"
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys
out = sys.argv[1]
rates = {}
for acl in ("false", "true"):
    rates[acl] = []
    for f in sorted(glob.glob(f"{out}/produce-acl-{acl}-*.json")):
        j = json.load(open(f))
        r = j["produce"]["msgs_per_sec"]
        rates[acl].append(r)
for acl, rs in rates.items():
    print(f"aclEnable={acl}: " + ", ".join(f"{r:,.0f}" for r in rs) + " msgs/s")
on, off = statistics.median(rates["true"]), statistics.median(rates["false"])
print(f"ACL on / off (medians): {on / off:.3f}")
PY
echo "results: $out"
