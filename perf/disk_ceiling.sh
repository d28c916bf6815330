#!/usr/bin/env bash
# What this machine's disk gives a commit log before any RingMQ code runs:
# dd writes into a zero-filled file (as the engine's segments are), per
# core, with one and with two writers at once:
#
#   * 1 MiB O_DIRECT writes (the ceiling for ASYNC_FLUSH with direct I/O);
#   * 256 KiB O_DIRECT|O_DSYNC writes (a SYNC_FLUSH group commit of 256 KiB
#     with direct I/O: each write is durable on completion, device cache
#     flush included), one writer = one group commit in flight;
#   * 4 KiB O_DIRECT|O_DSYNC writes (what one durable write costs beyond
#     its bytes: mostly the device cache flush).
#
# The engine's sustained runs (docs/perf-log.md) compare against
# these rows. Uses PERF_DIR (default ./target) for a file of PERF_FILE_MIB
# (default 2048) and removes it at the end.
#
# Usage: perf/disk_ceiling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${PERF_DIR:-target}"
mib="${PERF_FILE_MIB:-2048}"
mkdir -p "$dir"
file="$(mktemp "$dir/disk-ceiling.XXXXXX")"
trap 'rm -f "$file"' EXIT

# dd's last line: "<bytes> bytes (...) copied, <secs> s, <rate>".
rate() { tail -1 | sed -E 's/.*, ([0-9.]+ [kMG]?B\/s)$/\1/'; }

dd if=/dev/zero of="$file" bs=1M count="$mib" oflag=direct status=none
sync

echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "block-device interrupts per core (virtio-blk or nvme lines of /proc/interrupts):"
grep -E 'virtio[0-9]+-req|nvme' /proc/interrupts | awk '{printf "  %s", $NF; for (i = 2; i <= NF - 3; i++) printf " %s", $i; print ""}' | head -4 || true
if [ -r /sys/module/haltpoll/parameters/guest_halt_poll_ns ]; then
    echo "guest halt polling: $(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns) ns (a VM guest; 0 = a woken idle vCPU pays the host's wake-up)"
fi
printf "%-8s %-34s %s\n" core write "rate (sum of writers)"
for core in $(seq 0 $(($(nproc) - 1))); do
    one() { # bs count oflag [seek]
        taskset -c "$core" dd if=/dev/zero of="$file" bs="$1" count="$2" \
            oflag="$3" conv=notrunc seek="${4:-0}" 2>&1 | rate
    }
    printf "%-8s %-34s %s\n" "$core" "1 MiB O_DIRECT, 1 writer" "$(one 1M "$mib" direct)"
    n=$((mib * 4))
    printf "%-8s %-34s %s\n" "$core" "256 KiB O_DSYNC, 1 writer" "$(one 256K "$n" direct,dsync)"
    half=$((n / 2))
    a="$(mktemp)"
    one 256K "$half" direct,dsync >"$a" &
    b="$(one 256K "$half" direct,dsync "$half")"
    wait
    printf "%-8s %-34s %s + %s\n" "$core" "256 KiB O_DSYNC, 2 writers" "$(cat "$a")" "$b"
    rm -f "$a"
    printf "%-8s %-34s %s\n" "$core" "4 KiB O_DSYNC, 1 writer" "$(one 4K 4000 direct,dsync)"
done
