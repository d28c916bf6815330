#!/usr/bin/env python3
"""Summarises a perf/replication.sh run: per scenario and round, each
topology's produce throughput and latency as a ratio to the single broker
of the same round."""
import json
import pathlib
import sys


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    runs = {}
    for f in sorted(out.glob("*.json")):
        if f.name == "meta.json":
            continue
        stem = f.stem  # <round>-<scenario>-<topology>
        for topology in ("single", "async-master", "sync-master"):
            if stem.endswith("-" + topology):
                round_, scenario = stem[: -len(topology) - 1].split("-", 1)
                produce = json.loads(f.read_text()).get("produce", {})
                runs[(scenario, round_, topology)] = produce
    print(f"{'scenario':28} {'round':>5} {'topology':13} {'msg/s':>9} {'MB/s':>7} "
          f"{'p50 us':>8} {'p99 us':>8} {'errors':>6} {'x single':>9}")
    for (scenario, round_, topology), p in sorted(runs.items()):
        single = runs.get((scenario, round_, "single"), {})
        rate = p.get("msgs_per_sec", 0)
        base = single.get("msgs_per_sec", 0)
        ratio = f"{rate / base:.2f}" if base else "-"
        lat = p.get("latency_us", {})
        print(f"{scenario:28} {round_:>5} {topology:13} {rate:>9.0f} {p.get('mb_per_sec', 0):>7.1f} "
              f"{lat.get('p50', 0):>8} {lat.get('p99', 0):>8} {p.get('errors', 0):>6} {ratio:>9}")


if __name__ == "__main__":
    main()
