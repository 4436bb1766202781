#!/usr/bin/env bash
# The FUSE data path against its peer: the same fio matrix (psync) on copies of one 1 GiB image
# served by a cbtfs mount, by qemu-storage-daemon's FUSE export, and as the raw file, in one run,
# with the page cache dropped before every job. Prints a table with cbtfs/peer and cbtfs/raw.
# Usage: bench/fio-compare.sh [SECONDS] [extra cbtfs mount options...]   (default 15 s per job)
# e.g. bench/fio-compare.sh 15 --direct-io
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
secs="${1:-15}"; shift || true
cbtfs_opts=("$@")
source "$root/bench/lib/workdir.sh" fio
"$root/bin/cbtfs" --version >/dev/null

mkdir -p "$work"/{images,mnt,raw,qemu}
dd if=/dev/urandom of="$work/raw/disk.img" bs=1M count=1024 status=none
cp "$work/raw/disk.img" "$work/images/disk.img"
cp "$work/raw/disk.img" "$work/qemu/source.img"
touch "$work/qemu/export.img"

"$root/bin/cbtfs" mount --daemon "${cbtfs_opts[@]}" "$work/images" "$work/mnt" >/dev/null
qemu-storage-daemon \
  --blockdev driver=file,node-name=file0,filename="$work/qemu/source.img" \
  --blockdev driver=raw,node-name=fmt0,file=file0 \
  --export type=fuse,id=exp0,node-name=fmt0,mountpoint="$work/qemu/export.img",writable=on &
qsd_pid=$!
for _ in $(seq 100); do grep -q "$work/qemu/export.img" /proc/mounts && break; sleep 0.1; done

declare -A file=([raw]="$work/raw/disk.img" [peer]="$work/qemu/export.img" [cbtfs]="$work/mnt/disk.img")
rows=("seq-write-1M:write:1M:1" "seq-read-1M:read:1M:1" "rand-write-4K:randwrite:4k:1"
      "rand-read-4K:randread:4k:1" "rand-write-4K-2jobs:randwrite:4k:2")
declare -A result
for row in "${rows[@]}"; do
  IFS=: read -r name rw bs jobs <<<"$row"
  for who in raw peer cbtfs; do
    drop
    json=$(fio --name="$name" --filename="${file[$who]}" --rw="$rw" --bs="$bs" --ioengine=psync \
      --size=1G --numjobs="$jobs" --group_reporting --time_based --runtime="$secs" --ramp_time=2 \
      --randseed=7 --output-format=json 2>/dev/null)
    result[$name,$who]=$(echo "$json" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
d = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
print(int(d["bw_bytes"] / 2**20) if "seq" in sys.argv[1] else int(d["iops"]))' "$name")
    echo "$name $who ${result[$name,$who]}" >&2
  done
done

echo "fio psync, ${secs} s per job (2 s ramp), 1 GiB image, page cache dropped before each job; cbtfs options: ${cbtfs_opts[*]:-(defaults)}"
echo "| job | unit | raw file | qemu-storage-daemon FUSE | cbtfs | cbtfs/peer | cbtfs/raw |"
echo "|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  name=${row%%:*}
  unit=$([[ $name == seq* ]] && echo "MiB/s" || echo "IOPS")
  python3 - "$name" "$unit" "${result[$name,raw]}" "${result[$name,peer]}" "${result[$name,cbtfs]}" <<'PY'
import sys
name, unit, raw, peer, cb = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
print(f"| {name} | {unit} | {raw:,} | {peer:,} | {cb:,} | {cb/max(peer,1):.2f} | {cb/max(raw,1):.2f} |")
PY
done
