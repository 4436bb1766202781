#!/usr/bin/env bash
# Sync throughput on incompressible dirty data, against the disk in the same run. Full syncs
# (every block dirty) of a SIZE_GIB GiB image of random bytes, cold page cache:
#   1. once to an archive on the same disk, against dd reading the file and dd copying it: the
#      sync's time includes making the delta durable (fdatasync) and verifying it;
#   2. ROUNDS times to an archive in RAM (/dev/shm), each right after two cold dd reads of the same
#      file, through the page cache (bs=1M) and past it (iflag=direct bs=16M); the faster of the two
#      is the disk's sequential read rate. The target's writes then do not share the disk: this is
#      what the syncer drains from it. This disk's rate swings by 2-3x from one minute to the next,
#      so each sync is compared with the reads just before it; the median of the ratios is the
#      figure.
# CPU is the sync command's user + system time (JVM start included).
# Usage: bench/sync-throughput.sh [SIZE_GIB] [ROUNDS]   (defaults 2, 5). Needs root (drop_caches).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-2}"; rounds="${2:-5}"
work="$(mktemp -d /var/tmp/cbtfs-tput-bench.XXXXXX)"
shm=""
trap 'rm -rf "$work"; [[ -n "$shm" ]] && rm -rf "$shm"' EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
mib_s() { echo "$bytes / $1 / 1048576" | bc -l; }
secs_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'; }
TIMEFORMAT='%U %S'
"$root/bin/cbtfs" --version >/dev/null
dd if=/dev/urandom of="$work/disk.img" bs=1M count=$((size_gib * 1024)) status=none
bytes=$((size_gib * 1024 * 1024 * 1024))

# dd's time for one cold pass over the image, in seconds; arguments: dd's options
dd_read() {
  drop
  local t0 t1; t0=$(date +%s.%N)
  dd if="$work/disk.img" of=/dev/null status=none "$@"
  t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l
}
# one cold full sync to archive:$1; prints "seconds cpu-seconds"
full_sync() {
  rm -rf "$1" "$work/.cbtfs"; drop
  local cpu
  { time "$root/bin/cbtfs" sync --json "$work/disk.img" "archive:$1" > "$work/report"; } 2> "$work/cpu"
  cpu=$(awk '{print $1 + $2}' "$work/cpu")
  echo "$(secs_of < "$work/report") $cpu"
}

read_s=$(dd_read bs=1M)
drop; t0=$(date +%s.%N); dd if="$work/disk.img" of="$work/copy.img" bs=1M status=none; t1=$(date +%s.%N)
copy_s=$(echo "$t1 - $t0" | bc -l); rm -f "$work/copy.img"
read -r secs cpu < <(full_sync "$work/archive")
printf "%d GiB of random data, cold cache, archive on the same disk: dd read %.0f MiB/s, dd copy %.0f MiB/s (unflushed); cbtfs full sync %.0f MiB/s (%.2f s, durable and verified, %.1f s CPU) = %.0f%% of the read rate\n" \
  "$size_gib" "$(mib_s "$read_s")" "$(mib_s "$copy_s")" "$(mib_s "$secs")" "$secs" "$cpu" \
  "$(echo "100 * $read_s / $secs" | bc -l)"

shm_free=$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1 || echo 0)
if (( shm_free < bytes + (512 << 20) )); then
  echo "no room for the image in /dev/shm: the RAM-target rounds are skipped"
  exit 0
fi
shm="$(mktemp -d /dev/shm/cbtfs-tput.XXXXXX)"
echo "archive in /dev/shm, each sync right after cold dd reads of the image (MiB/s):"
echo "| round | dd bs=1M | dd iflag=direct bs=16M | cbtfs full sync | seconds | CPU s | sync / faster dd |"
echo "|---|---|---|---|---|---|---|"
ratios=()
for ((i = 1; i <= rounds; i++)); do
  buffered_s=$(dd_read bs=1M)
  direct_s=$(dd_read iflag=direct bs=16M)
  read_s=$(echo "if ($buffered_s < $direct_s) $buffered_s else $direct_s" | bc -l)
  read -r secs cpu < <(full_sync "$shm/archive")
  ratio=$(echo "100 * $read_s / $secs" | bc -l)
  ratios+=("$ratio")
  printf "| %d | %.0f | %.0f | %.0f | %.2f | %.1f | %.0f%% |\n" "$i" "$(mib_s "$buffered_s")" \
    "$(mib_s "$direct_s")" "$(mib_s "$secs")" "$secs" "$cpu" "$ratio"
done
printf "median sync / faster dd read: %.0f%%\n" \
  "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
