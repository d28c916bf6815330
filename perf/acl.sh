#!/usr/bin/env bash
# Cost of ACL: batched async produce against a fresh default broker with
# aclEnable=false and with aclEnable=true (mqbench signing every request,
# with a non-admin account that has PUB on the topic), alternating, ROUNDS
# times each, in one run. Prints messages/s of each run and the ratio of
# the medians; writes every mqbench JSON under perf/results/acl-<time>/.
#
#   perf/acl.sh [rounds]          (default 2; about 1 minute a run)
set -euo pipefail
source "$(dirname "$0")/ab_lib.sh"
rounds=${1:-2}
ab_begin acl
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
    local acl=$1 round=$2
    ab_start_broker "$acl" "$round" --set aclEnable="$acl" --set plainAclFile="$work/plain_acl.yml"
    local keys=()
    if [ "$acl" = true ]; then
        # The topic is created by an admin account; the measured run
        # signs as the producer account.
        ab_create_topic --access-key bench-admin --secret-key bench-admin-secret
        keys=(--access-key bench-producer --secret-key bench-producer-secret)
    else
        ab_create_topic
    fi
    ab_produce "$acl" "$round" "${keys[@]}"
    ab_stop_broker
}

for round in $(seq 1 "$rounds"); do
    run false "$round"
    run true "$round"
done
ab_summary produce aclEnable false true
echo "results: $out"
