#!/usr/bin/env bash
# Side by side, in one run: the time and wire bytes to bring a stale full copy up to date after
# PERCENT% of the 64 KiB blocks of a SIZE_GIB GiB image (incompressible data) were rewritten:
#   - cbtfs sync (reported sync time, and the whole command with JVM start) to a file: replica
#   - rsync --inplace --no-whole-file of the image onto a stale copy (page cache dropped first)
#   - qemu-storage-daemon: dirty bitmap on the node behind its FUSE export, then blockdev-backup
#     sync=incremental into a stale full copy (QMP), timed from the command to the job's end
# cbtfs and QEMU are then measured again over ROUNDS more rewrites of PERCENT% (new blocks each
# time, page cache dropped before each sync): the medians show a mount whose JIT has warmed up,
# the first figures one that has done nothing but its seeding full sync.
# Usage: bench/sync-compare.sh [SIZE_GIB] [PERCENT] [ROUNDS]  (defaults 4, 1, 10). Needs root.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-4}"; percent="${2:-1}"; rounds="${3:-10}"; seed=42
source "$root/bench/lib/workdir.sh" sync
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null

mkdir -p "$work"/{images,mnt,replica,rsync,qemu}
echo "preparing a ${size_gib} GiB image of random data and three stale copies..." >&2
dd if=/dev/urandom of="$work/images/disk.img" bs=1M count=$((size_gib * 1024)) status=none
cp --sparse=never "$work/images/disk.img" "$work/rsync/disk.img"
cp --sparse=never "$work/images/disk.img" "$work/qemu/source.img"
cp --sparse=never "$work/images/disk.img" "$work/qemu/target.img"

# cbtfs: seed the replica with a full sync, then rewrite through the mount
"$cbtfs" mount --daemon "$work/images" "$work/mnt" >/dev/null
"$cbtfs" sync "$work/mnt/disk.img" "file:$work/replica/disk.img" >/dev/null
n=$(python3 "$root/bench/lib/rewrite.py" "$work/mnt/disk.img" 65536 "$percent" "$seed")
dirty=$("$cbtfs" status --json "$work/mnt/disk.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dirtyBytes"])')
drop
t0=$(date +%s.%N)
report=$("$cbtfs" sync --json "$work/mnt/disk.img" "file:$work/replica/disk.img")
t1=$(date +%s.%N)
cbtfs_cmd=$(echo "$t1 - $t0" | bc)
cbtfs_sync=$(echo "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
cbtfs_wire=$(echo "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wireBytes"])')
# rsync, before the rounds below change the image again: the same 1% is in the backing file, the
# copy is stale (the mount is idle meanwhile)
drop
t0=$(date +%s.%N)
rsync_out=$(rsync --inplace --no-whole-file --stats "$work/images/disk.img" "$work/rsync/disk.img")
t1=$(date +%s.%N)
rsync_time=$(echo "$t1 - $t0" | bc)
rsync_wire=$(echo "$rsync_out" | awk '/Total bytes sent/ {gsub(",","",$4); s=$4} /Total bytes received/ {gsub(",","",$4); r=$4} END {print s+r}')
cmp "$work/images/disk.img" "$work/rsync/disk.img"

cbtfs_rounds=()
for ((i = 1; i <= rounds; i++)); do
  python3 "$root/bench/lib/rewrite.py" "$work/mnt/disk.img" 65536 "$percent" "$((seed + i))" >/dev/null
  drop
  t0=$(date +%s.%N)
  r=$("$cbtfs" sync --json "$work/mnt/disk.img" "file:$work/replica/disk.img")
  t1=$(date +%s.%N)
  cbtfs_rounds+=("$(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'):$(echo "$t1 - $t0" | bc)")
done
cmp "$work/images/disk.img" "$work/replica/disk.img"
"$cbtfs" unmount "$work/mnt" >/dev/null

# qemu-storage-daemon: bitmap, FUSE export, same rewrite, incremental backup into the stale copy
touch "$work/qemu/export.img"
qemu-storage-daemon \
  --blockdev driver=file,node-name=file0,filename="$work/qemu/source.img",cache.direct=off \
  --blockdev driver=raw,node-name=fmt0,file=file0 \
  --export type=fuse,id=exp0,node-name=fmt0,mountpoint="$work/qemu/export.img",writable=on \
  --chardev socket,id=qmp0,path="$work/qemu/qmp.sock",server=on,wait=off \
  --monitor chardev=qmp0 &
qsd_pid=$!
for _ in $(seq 100); do [[ -S "$work/qemu/qmp.sock" ]] && grep -q "$work/qemu/export.img" /proc/mounts && break; sleep 0.1; done
python3 "$root/bench/lib/qmp.py" "$work/qemu/qmp.sock" <<JSON
{"execute": "block-dirty-bitmap-add", "arguments": {"node": "fmt0", "name": "bm0", "granularity": 65536}}
JSON
python3 "$root/bench/lib/rewrite.py" "$work/qemu/export.img" 65536 "$percent" "$seed" >/dev/null
drop
qemu_time=$(python3 "$root/bench/lib/qmp.py" "$work/qemu/qmp.sock" <<JSON
{"execute": "blockdev-add", "arguments": {"driver": "raw", "node-name": "tgt0", "file": {"driver": "file", "filename": "$work/qemu/target.img"}}}
{"execute": "blockdev-backup", "arguments": {"job-id": "job0", "device": "fmt0", "target": "tgt0", "sync": "incremental", "bitmap": "bm0"}}
{"wait-event": "BLOCK_JOB_COMPLETED"}
JSON
)
qemu_rounds=()
qemu_fsyncs=()
for ((i = 1; i <= rounds; i++)); do
  python3 "$root/bench/lib/rewrite.py" "$work/qemu/export.img" 65536 "$percent" "$((seed + i))" >/dev/null
  drop
  qemu_rounds+=("$(python3 "$root/bench/lib/qmp.py" "$work/qemu/qmp.sock" <<JSON
{"execute": "blockdev-backup", "arguments": {"job-id": "job$i", "device": "fmt0", "target": "tgt0", "sync": "incremental", "bitmap": "bm0"}}
{"wait-event": "BLOCK_JOB_COMPLETED"}
JSON
)")
  # the job leaves its writes in the page cache; what making them durable costs on top (cbtfs's
  # sync returns with its delta durable)
  t0=$(date +%s.%N); sync "$work/qemu/target.img"; t1=$(date +%s.%N)
  qemu_fsyncs+=("$(echo "$t1 - $t0" | bc)")
done
kill "$qsd_pid"; wait "$qsd_pid" 2>/dev/null || true; qsd_pid=""
cmp "$work/qemu/source.img" "$work/qemu/target.img"
cmp "$work/images/disk.img" "$work/qemu/source.img"

python3 - "$size_gib" "$percent" "$n" "$dirty" "$cbtfs_sync" "$cbtfs_cmd" "$cbtfs_wire" \
  "$rsync_time" "$rsync_wire" "$qemu_time" "${cbtfs_rounds[*]}" "${qemu_rounds[*]}" \
  "${qemu_fsyncs[*]}" <<'PY'
import statistics
import sys
size, pct, n, dirty = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cs, cc, cw, rt, rw, qt = (float(x) for x in sys.argv[5:11])
rounds = [tuple(float(v) for v in r.split(":")) for r in sys.argv[11].split()]
qemu_rounds = [float(v) for v in sys.argv[12].split()]
qemu_durable = [q + float(f) for q, f in zip(qemu_rounds, sys.argv[13].split())]
print(f"{size} GiB image, {pct}% of 64 KiB blocks rewritten ({n} blocks, {dirty/2**20:.1f} MiB dirty), page cache dropped before each")
print(f"| method | seconds | bytes on the wire | vs cbtfs command |")
print(f"|---|---|---|---|")
print(f"| cbtfs sync (reported sync time) | {cs:.3f} | {cw:,.0f} | |")
print(f"| cbtfs sync (whole command, JVM start included) | {cc:.3f} | | 1.0x |")
print(f"| qemu-storage-daemon blockdev-backup incremental | {qt:.3f} | (local copy) | {qt/cc:.2f}x |")
print(f"| rsync --inplace --no-whole-file | {rt:.3f} | {rw:,.0f} | {rt/cc:.1f}x slower |")
print(f"wire bytes / dirty bytes: cbtfs {cw/dirty:.4f}; cbtfs sync vs qemu job: {cs/qt:.2f}x the time")
if rounds:
    ms = statistics.median(r[0] for r in rounds)
    mc = statistics.median(r[1] for r in rounds)
    mq = statistics.median(qemu_rounds)
    print(f"then {len(rounds)} more rewrites of {pct}% each, medians (min-max):")
    print(f"| cbtfs sync (reported) | {ms:.3f} s ({min(r[0] for r in rounds):.3f}-{max(r[0] for r in rounds):.3f}) | {ms/mq:.2f}x the qemu job |")
    print(f"| cbtfs sync (whole command) | {mc:.3f} s ({min(r[1] for r in rounds):.3f}-{max(r[1] for r in rounds):.3f}) | rsync above is {rt/mc:.1f}x slower |")
    print(f"| qemu-storage-daemon backup job | {mq:.3f} s ({min(qemu_rounds):.3f}-{max(qemu_rounds):.3f}) | |")
    md = statistics.median(qemu_durable)
    print(f"| qemu job, then fsync of its target | {md:.3f} s ({min(qemu_durable):.3f}-{max(qemu_durable):.3f}) | cbtfs sync is {ms/md:.2f}x this |")
PY
