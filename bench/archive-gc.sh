#!/usr/bin/env bash
# Archive retention: the fold of `cbtfs gc archive:DIR --keep 1` (the newest generation rewritten
# as a full delta, the older ones removed) against `cbtfs restore` of that same generation, on
# copies of one archive, in the same run: a random (incompressible) image of SIZE_MIB, synced
# full, then 3 incremental generations of 20 random 1 MiB writes each.
# Usage: bench/archive-gc.sh [SIZE_MIB] [ROUNDS] (default 512 3). Prints the load with each round.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_mib="${1:-512}"
rounds="${2:-3}"
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
work="$(mktemp -d /var/tmp/cbtfs-archive-gc.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
head -c $((size_mib << 20)) /dev/urandom >disk.img
"$cbtfs" sync disk.img archive:a.archive >/dev/null 2>&1
for g in 1 2 3; do
  for w in $(seq 1 20); do
    dd if=/dev/urandom of=disk.img bs=1M count=1 seek=$((RANDOM % size_mib)) conv=notrunc \
      status=none
  done
  "$cbtfs" sync disk.img archive:a.archive >/dev/null 2>&1
done
last="$("$cbtfs" restore --list archive:a.archive | tail -1 | awk '{print $2}')"
for round in $(seq 1 "$rounds"); do
  rm -rf b.archive r.img
  cp -a a.archive b.archive
  sync
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  s=$(date +%s.%N)
  "$cbtfs" restore archive:b.archive --generation "$last" r.img >/dev/null
  m=$(date +%s.%N)
  out="$("$cbtfs" gc archive:b.archive --keep 1)"
  e=$(date +%s.%N)
  python3 -c "import sys; r, g = $m - $s, $e - $m; print(f'round $round (load $load): restore {r:.2f} s, gc --keep 1 {g:.2f} s, gc/restore {g / r:.2f}')"
  echo "  $out"
done
