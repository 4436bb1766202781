#!/usr/bin/env bash
# What tracking costs on the write path: fio random 4 KiB writes (psync, 1 job) through a cbtfs
# mount with full tracking, with the activity log off, and with tracking off (the write-path
# variants of bench/jmh's TrackingCostMount, for benchmarks only), interleaved ROUNDS times so
# that machine noise hits every mode alike. A 5 s ramp (excluded) makes every extent of the 1 GiB
# image hot first: this measures the steady state.
# Usage: bench/fio-tracking.sh [ROUNDS] [SECONDS]   (defaults 3 rounds of 15 s)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
rounds="${1:-3}"; secs="${2:-15}"
work="$(mktemp -d /var/tmp/cbtfs-bench.XXXXXX)"
mkdir -p "$work/images" "$work/mnt"
pid=""
cleanup() {
  fusermount -u -z "$work/mnt" 2>/dev/null || true
  [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && mvn -q -B -DskipTests -Dspotless.check.skip=true package -pl bench/jmh -am)
jar="$root/bench/jmh/target/benchmarks.jar"
dd if=/dev/urandom of="$work/images/disk.img" bs=1M count=1024 status=none

declare -A total
modes=(FULL NO_ACTIVITY_LOG NONE)
for ((r = 1; r <= rounds; r++)); do
  for mode in "${modes[@]}"; do
    rm -rf "$work/images/.cbtfs"
    coproc mount {
      exec java -cp "$jar" io.cbtfs.bench.TrackingCostMount "$mode" "$work/images" "$work/mnt" \
        2>>"$work/mount.log"
    }
    pid=$mount_PID
    read -r ready <&"${mount[0]}" && [[ "$ready" == ready ]] || { echo "mount ($mode) failed" >&2; exit 1; }
    iops=$(fio --name=rw --filename="$work/mnt/disk.img" --rw=randwrite --bs=4k --ioengine=psync \
      --numjobs=1 --time_based --ramp_time=5 --runtime="$secs" --randseed=$r --output-format=json 2>/dev/null \
      | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))')
    fusermount -u "$work/mnt"
    wait "$pid"; pid=""
    echo "round $r  $mode  $iops IOPS"
    total[$mode]=$(( ${total[$mode]:-0} + iops ))
  done
done
full=${total[FULL]}; nolog=${total[NO_ACTIVITY_LOG]}; none=${total[NONE]}
python3 - "$full" "$nolog" "$none" "$rounds" <<'PY'
import sys
full, nolog, none, rounds = map(int, sys.argv[1:])
print(f"mean IOPS: full {full//rounds}, no activity log {nolog//rounds}, no tracking {none//rounds}")
print(f"activity-log overhead: {100*(1-full/nolog):.1f}%   all tracking: {100*(1-full/none):.1f}%")
PY
