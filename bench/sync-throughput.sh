#!/usr/bin/env bash
# Sync throughput on incompressible dirty data against the disk's sequential read rate, in one
# run: a full sync of a SIZE_GIB GiB image of random bytes (cold page cache) to a replica on
# tmpfs (so the target's writes do not compete with the image's reads for the same disk),
# against dd reading the same file (cold page cache).
# Usage: bench/sync-throughput.sh [SIZE_GIB]   (default 2). Needs root (drop_caches).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-2}"
work="$(mktemp -d /var/tmp/cbtfs-tput-bench.XXXXXX)"
shm="$(mktemp -d /dev/shm/cbtfs-tput.XXXXXX)"
trap 'rm -rf "$work" "$shm"' EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
"$root/bin/cbtfs" --version >/dev/null
dd if=/dev/urandom of="$work/disk.img" bs=1M count=$((size_gib * 1024)) status=none
bytes=$((size_gib * 1024 * 1024 * 1024))
drop
t0=$(date +%s.%N); dd if="$work/disk.img" of=/dev/null bs=1M status=none; t1=$(date +%s.%N)
read_rate=$(echo "$bytes / ($t1 - $t0) / 1048576" | bc -l)
drop
secs=$("$root/bin/cbtfs" sync --json "$work/disk.img" "file:$shm/replica.img" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
sync_rate=$(echo "$bytes / $secs / 1048576" | bc -l)
cmp "$work/disk.img" "$shm/replica.img"
printf "%d GiB of random data, cold cache: dd sequential read %.0f MiB/s; cbtfs full sync %.0f MiB/s (%.2f s, replica on tmpfs): %.0f%% of the read rate\n" \
  "$size_gib" "$read_rate" "$sync_rate" "$secs" "$(echo "100 * $sync_rate / $read_rate" | bc -l)"
