# Sourced by the A/B scripts (perf/acl.sh, metrics.sh, tls.sh): a fresh
# default broker per run, two settings alternated ROUNDS times in one run,
# the same batched async produce measured against each, and the ratio of
# the medians. Every broker log and mqbench JSON goes under
# perf/results/<name>-<time>/.

# ab_begin NAME: builds the release binaries and makes $out and $work.
ab_begin() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    cargo build --release --quiet --bin mqbroker --bin mqbench
    out="perf/results/$1-$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$out"
    work=$(mktemp -d)
    trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
    port=19876
}

# ab_build_base BASE: mqbroker built from BASE (a commit of this
# repository) in a worktree under $work, into BASE_TARGET_DIR (default
# target/before-after, kept between runs); sets $base_binary.
ab_build_base() {
    local base=$1
    local base_target=${BASE_TARGET_DIR:-$PWD/target/before-after}
    git worktree add --quiet --detach "$work/base" "$base"
    trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/base"; rm -rf "$work"' EXIT
    (cd "$work/base" && CARGO_TARGET_DIR="$base_target" cargo build --release --quiet --locked --bin mqbroker)
    base_binary=$base_target/release/mqbroker
}

# ab_start_broker LABEL ROUND [mqbroker flags...]: a broker on a fresh
# store, its embedded name server on $port; sets $broker and $store.
ab_start_broker() {
    local label=$1 round=$2
    shift 2
    store="$work/store-$label-$round"
    ./target/release/mqbroker --storePathRootDir "$store" --embeddedNamesrvPort $port "$@" \
        >"$out/broker-$label-$round.log" 2>&1 &
    broker=$!
    sleep 3
}

ab_stop_broker() {
    kill -INT "$broker"
    wait "$broker" || true
    rm -rf "$store"
}

# ab_create_topic [mqbench flags...]: BenchTopic with 4 queues per shard.
ab_create_topic() {
    ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic --queues 4 \
        --messages 1 "$@" >/dev/null
}

# ab_produce LABEL ROUND [mqbench flags...]: the measured run (4 producers,
# 1 KiB, batches of 32, async, 15 s after 3 s of warm-up).
ab_produce() {
    local label=$1 round=$2
    shift 2
    ./target/release/mqbench produce -n 127.0.0.1:$port -t BenchTopic -p 4 -s 1024 -b 32 \
        --mode async -d 15s --warmup 3s "$@" --json "$out/produce-$label-$round.json" \
        >"$out/produce-$label-$round.txt"
}

# ab_summary KIND SETTING OFF ON: each run's rate of KIND (produce or
# consume) and the ratio of the medians, ON over OFF.
ab_summary() {
    python3 - "$out" "$@" <<'PY'
import json, glob, statistics, sys
out, kind, setting, off, on = sys.argv[1:]
rates = {}
for label in (off, on):
    rates[label] = [json.load(open(f))[kind]["msgs_per_sec"]
                    for f in sorted(glob.glob(f"{out}/{kind}-{label}-*.json"))]
    print(f"{kind}, {setting}={label}: " + ", ".join(f"{r:,.0f}" for r in rates[label]) + " msgs/s")
ratio = statistics.median(rates[on]) / statistics.median(rates[off])
print(f"{kind}, {on} / {off} (medians): {ratio:.3f}")
PY
}
