#!/usr/bin/env python3
"""Prints RingMQ / peer for every figure of a perf/run.sh results directory,
and checks RingMQ's figures against the baseline of this machine class.

Usage: perf/compare.py RESULTS_DIR [--baseline FILE] [--threshold 0.15]
                       [--write-baseline FILE]
Exit status 1 when a throughput figure fell below baseline * (1 - threshold).
"""
import argparse
import glob
import json
import os
import sys

FIGURES = [("msgs_per_sec", "msg/s"), ("mb_per_sec", "MB/s"), ("p99", "p99 us")]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def figures(result):
    out = {}
    for phase in ("produce", "consume", "e2e"):
        p = result.get(phase)
        if not p:
            continue
        out[phase] = {
            "msgs_per_sec": p["msgs_per_sec"],
            "mb_per_sec": p["mb_per_sec"],
            "p99": p["latency_us"]["p99"],
            "errors": p["errors"],
        }
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--baseline")
    ap.add_argument("--threshold", type=float, default=0.15)
    ap.add_argument("--write-baseline")
    a = ap.parse_args()

    runs = {}  # (flush, scenario, kind) -> figures
    for path in sorted(glob.glob(os.path.join(a.results, "*", "*.json"))):
        flush = os.path.basename(os.path.dirname(path))
        name = os.path.basename(path)[: -len(".json")]
        if name.endswith("-setup"):
            continue
        scenario, _, kind = name.rpartition("-")
        r = load(path)
        if r:
            runs[(flush, scenario, kind)] = figures(r)

    print(f"{'flush':<12} {'scenario':<26} {'phase':<8} {'figure':<7} {'RingMQ':>12} {'peer':>12} {'ratio':>8}")
    for (flush, scenario, kind), figs in sorted(runs.items()):
        if kind != "ringmq":
            continue
        peer = runs.get((flush, scenario, "peer"), {})
        for phase, f in figs.items():
            for key, label in FIGURES:
                mine = f[key]
                theirs = peer.get(phase, {}).get(key)
                ratio = f"{mine / theirs:.2f}" if theirs else "-"
                theirs_s = f"{theirs:.1f}" if theirs is not None else "-"
                print(f"{flush:<12} {scenario:<26} {phase:<8} {label:<7} {mine:>12.1f} {theirs_s:>12} {ratio:>8}")
    print("ratio = RingMQ / peer (throughput: higher is better; p99: lower is better)")

    if a.write_baseline:
        base = {}
        for (flush, scenario, kind), figs in runs.items():
            if kind == "ringmq":
                base.setdefault(flush, {})[scenario] = figs
        with open(a.write_baseline, "w") as f:
            json.dump(base, f, indent=2, sort_keys=True)
        print(f"baseline written to {a.write_baseline}")

    regressions = []
    base = load(a.baseline) if a.baseline else None
    if base:
        for (flush, scenario, kind), figs in runs.items():
            if kind != "ringmq":
                continue
            for phase, f in figs.items():
                b = base.get(flush, {}).get(scenario, {}).get(phase)
                if not b:
                    continue
                for key in ("msgs_per_sec", "mb_per_sec"):
                    if b[key] and f[key] < b[key] * (1 - a.threshold):
                        regressions.append(f"{flush} {scenario} {phase} {key}: {f[key]:.1f} < baseline {b[key]:.1f}")
        if regressions:
            print(f"REGRESSIONS beyond {a.threshold:.0%} of {a.baseline}:")
            for r in regressions:
                print("  " + r)
        else:
            print(f"no throughput regression beyond {a.threshold:.0%} of {a.baseline}")
    elif a.baseline:
        print(f"no baseline at {a.baseline} (write one with --write-baseline)")
    sys.exit(1 if regressions else 0)


if __name__ == "__main__":
    main()
