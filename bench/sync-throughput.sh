#!/usr/bin/env bash
# Sync throughput on incompressible dirty data, against the disk in the same run: a full sync
# (every block dirty) of a SIZE_GIB GiB image of random bytes to an archive on the same disk,
# cold page cache, against dd reading the file (cold) and dd copying it (cold, unflushed).
# The sync's time includes making the delta durable (fdatasync) and verifying it. Then the same
# sync to an archive in RAM, against a dd read of the same file just before it.
# Usage: bench/sync-throughput.sh [SIZE_GIB]   (default 2). Needs root (drop_caches).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-2}"
work="$(mktemp -d /var/tmp/cbtfs-tput-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
rate() { echo "$bytes / ($2 - $1) / 1048576" | bc -l; }
"$root/bin/cbtfs" --version >/dev/null
dd if=/dev/urandom of="$work/disk.img" bs=1M count=$((size_gib * 1024)) status=none
bytes=$((size_gib * 1024 * 1024 * 1024))
drop; t0=$(date +%s.%N); dd if="$work/disk.img" of=/dev/null bs=1M status=none; t1=$(date +%s.%N)
read_rate=$(rate "$t0" "$t1")
drop; t0=$(date +%s.%N); dd if="$work/disk.img" of="$work/copy.img" bs=1M status=none; t1=$(date +%s.%N)
copy_rate=$(rate "$t0" "$t1"); rm -f "$work/copy.img"
drop
secs=$("$root/bin/cbtfs" sync --json "$work/disk.img" "archive:$work/archive" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
sync_rate=$(echo "$bytes / $secs / 1048576" | bc -l)
printf "%d GiB of random data, cold cache, same disk: dd read %.0f MiB/s, dd copy %.0f MiB/s (unflushed); cbtfs full sync to an archive %.0f MiB/s (%.2f s, durable and verified) = %.0f%% of the read rate\n" \
  "$size_gib" "$read_rate" "$copy_rate" "$sync_rate" "$secs" "$(echo "100 * $sync_rate / $read_rate" | bc -l)"

# The same sync with the archive in RAM (/dev/shm), so the target's writes do not share the disk
# with the reads: what the syncer itself drains from this disk. Skipped without room for it.
shm_free=$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1 || echo 0)
if (( shm_free > bytes + (512 << 20) )); then
  shm="$(mktemp -d /dev/shm/cbtfs-tput.XXXXXX)"
  rm -rf "$work/.cbtfs"
  drop; t0=$(date +%s.%N); dd if="$work/disk.img" of=/dev/null bs=1M status=none; t1=$(date +%s.%N)
  read_rate=$(rate "$t0" "$t1")
  drop
  secs=$("$root/bin/cbtfs" sync --json "$work/disk.img" "archive:$shm/archive" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  rm -rf "$shm"
  sync_rate=$(echo "$bytes / $secs / 1048576" | bc -l)
  printf "archive in /dev/shm: dd read %.0f MiB/s just before; cbtfs full sync %.0f MiB/s (%.2f s) = %.0f%% of the read rate\n" \
    "$read_rate" "$sync_rate" "$secs" "$(echo "100 * $sync_rate / $read_rate" | bc -l)"
fi
