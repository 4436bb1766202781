#!/usr/bin/env bash
# Booting from a backup: what the overlay costs, against a plain restore and a tracking mount in
# the same run (the machine is shared: read the ratios).
#   hydration: cbtfs mount --read-only --overlay --hydrate of a generation until the "hydrated"
#              line, against cbtfs restore of the same generation (page cache dropped before each);
#   writes:    fio random 4 KiB writes, O_DIRECT, libaio, 32 in flight, 15 s, to
#              (a) the restored image through a tracking mount (what the VM would use after a restore),
#              (b) the generation through the overlay before hydration (each first write to a 64 KiB
#                  block copies the rest of the block from the backup and forces the overlay file),
#              (c) the same overlay once hydrated (every block held: plain writes).
# Usage: bench/overlay.sh [SIZE_MIB] [ROUNDS] (default 1024 and 2: medians of the rounds).
# Needs root (FUSE, drop_caches), fio, python3.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_mib="${1:-1024}"
rounds="${2:-2}"
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
source "$root/bench/lib/workdir.sh" overlay
mkdir -p "$work"/{images,mnt,ro,restored,rmnt}
extra_mounts=("$work/ro" "$work/rmnt")
now() { date +%s.%N; }

head -c $((size_mib << 20)) /dev/urandom > "$work/images/vm.img"
"$cbtfs" mount --daemon "$work/images" "$work/mnt" >/dev/null
archive="archive:$work/vm.archive"
gen=$("$cbtfs" sync --json "$work/mnt/vm.img" "$archive" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
"$cbtfs" unmount "$work/mnt" >/dev/null

randwrite() { # FILE -> IOPS of 15 s of random 4 KiB O_DIRECT writes, 32 in flight
  fio --name=w --filename="$1" --rw=randwrite --bs=4k --direct=1 --ioengine=libaio \
    --iodepth=32 --size="${size_mib}M" --runtime=15 --time_based --randrepeat=0 \
    --output-format=json 2>/dev/null \
    | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))'
}

overlay_mount() { # OVERLAY_DIR [--hydrate NAME] -> starts the read-only mount, logs to ro.log
  "$cbtfs" mount --read-only --overlay "$@" "$archive" "$work/ro" > "$work/ro.log" 2>&1 &
  ro_pid=$!
  for ((i = 0; i < 3000; i++)); do mountpoint -q "$work/ro" && return; sleep 0.01; done
  echo "the read-only mount did not come up:" >&2; cat "$work/ro.log" >&2; exit 1
}

overlay_unmount() {
  umount "$work/ro"
  wait "$ro_pid" || true
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: > "$work/restore.s"; : > "$work/hydrate.s"; : > "$work/a.iops"; : > "$work/b.iops"; : > "$work/c.iops"
for ((r = 1; r <= rounds; r++)); do
  # restore, then a tracking mount of it: (a)
  rm -rf "$work/restored"/* "$work/restored/.cbtfs"
  drop
  t0=$(now)
  "$cbtfs" restore "$archive" --generation "$gen" "$work/restored/vm.img" >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc -l >> "$work/restore.s"
  "$cbtfs" mount --daemon "$work/restored" "$work/rmnt" >/dev/null
  randwrite "$work/rmnt/vm.img" >> "$work/a.iops"
  "$cbtfs" unmount "$work/rmnt" >/dev/null

  # hydration alone, into a fresh overlay
  rm -rf "$work/ov-h"
  drop
  t0=$(now)
  overlay_mount "$work/ov-h" --hydrate "vm@$gen"
  until grep -q "cbtfs: hydrated vm@$gen" "$work/ro.log"; do
    grep -q "hydration of .* stopped" "$work/ro.log" && { cat "$work/ro.log" >&2; exit 1; }
    sleep 0.05 # polls the mount's log, which has no other signal for a shell
  done
  t1=$(now)
  echo "$t1 - $t0" | bc -l >> "$work/hydrate.s"
  randwrite "$work/ro/vm@$gen" >> "$work/c.iops" # (c): every block held
  overlay_unmount

  # (b): a fresh overlay, nothing held
  rm -rf "$work/ov-b"
  overlay_mount "$work/ov-b"
  randwrite "$work/ro/vm@$gen" >> "$work/b.iops"
  overlay_unmount
done

restore_s=$(median < "$work/restore.s")
hydrate_s=$(median < "$work/hydrate.s")
a=$(median < "$work/a.iops"); b=$(median < "$work/b.iops"); c=$(median < "$work/c.iops")
printf "image %d MiB (random data), one full generation in an archive; medians of %d rounds\n" "$size_mib" "$rounds"
printf "restore %.1f s (%.0f MiB/s); hydration through the mount %.1f s (%.0f MiB/s): %.2fx the restore's time\n" \
  "$restore_s" "$(echo "$size_mib / $restore_s" | bc -l)" "$hydrate_s" "$(echo "$size_mib / $hydrate_s" | bc -l)" \
  "$(echo "$hydrate_s / $restore_s" | bc -l)"
printf "random 4 KiB writes, O_DIRECT, QD32 (IOPS): tracking mount of the restore %s; overlay before hydration %s (%.2fx); overlay hydrated %s (%.2fx)\n" \
  "$a" "$b" "$(echo "$b / $a" | bc -l)" "$c" "$(echo "$c / $a" | bc -l)"
