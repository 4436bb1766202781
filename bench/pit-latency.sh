#!/usr/bin/env bash
# Guest write latency during syncs (issue #19): fio random 4 KiB writes (psync, 1 job,
# --lat_percentiles) through a cbtfs mount of a 1 GiB image, with no sync running, while full
# syncs to a local replica run back to back with --no-snapshot, and while they run point-in-time
# (every block protected: the worst case for copy-before-write). Prints p50/p99/p99.9 per mode.
# Usage: bench/pit-latency.sh [SECONDS] [FLEECE_LIMIT]   (defaults 20 s, 100%)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
secs="${1:-20}"; limit="${2:-100%}"
work="$(mktemp -d /var/tmp/cbtfs-bench.XXXXXX)"
mkdir -p "$work/images" "$work/mnt"
jar="$root/cli/target/cbtfs.jar"
cbtfs() { java -jar "$jar" "$@"; }
cleanup() {
  cbtfs unmount "$work/mnt" >/dev/null 2>&1 || fusermount -u -z "$work/mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
[[ -f "$jar" ]] || (cd "$root" && mvn -q -B -DskipTests -Dspotless.check.skip=true package -pl cli -am)
dd if=/dev/urandom of="$work/images/disk.img" bs=1M count=1024 status=none
cbtfs mount --daemon "$work/images" "$work/mnt" >/dev/null
image="$work/mnt/disk.img"
cbtfs sync "$image" "file:$work/replica.img" >/dev/null

for mode in idle no-snapshot point-in-time; do
  fio --name=lat --filename="$image" --rw=randwrite --bs=4k --ioengine=psync --numjobs=1 \
    --time_based --ramp_time=3 --runtime="$secs" --lat_percentiles=1 \
    --percentile_list=50:99:99.9 --output-format=json >"$work/fio.json" 2>/dev/null &
  fio=$!
  syncs=0; failed=0
  if [[ $mode != idle ]]; then
    opts=(--full); [[ $mode == no-snapshot ]] && opts+=(--no-snapshot) || opts+=(--fleece-limit "$limit")
    while kill -0 "$fio" 2>/dev/null; do
      if cbtfs sync "${opts[@]}" "$image" "file:$work/replica.img" >/dev/null 2>>"$work/sync.err"; then
        syncs=$((syncs + 1))
      else
        failed=$((failed + 1))
      fi
    done
  fi
  wait "$fio"
  python3 - "$mode" "$syncs" "$failed" "$work/fio.json" <<'PY'
import json, sys
mode, syncs, failed, path = sys.argv[1:]
w = json.load(open(path))["jobs"][0]["write"]
p = w["lat_ns"]["percentile"]
us = lambda k: p[k] / 1000
print(f"{mode:14s} IOPS {w['iops']:8.0f}  p50 {us('50.000000'):7.1f} us  p99 {us('99.000000'):8.1f} us"
      f"  p99.9 {us('99.900000'):8.1f} us  syncs {syncs} ok, {failed} failed")
PY
done
tail -n 3 "$work/sync.err" 2>/dev/null || true
