#!/usr/bin/env bash
# The FUSE data path against its peers, in one run, on copies of one image of random bytes: the
# raw file, qemu-storage-daemon's FUSE export, a cbtfs mount per transport, and (on the psync
# random-write rows) libfuse 3's passthrough_hp with the kernel writeback cache. Three tables,
# each figure the median of RUNS runs, the page cache dropped before every throughput job:
#   - psync rows (buffered, one request at a time): the rows this script has always had;
#   - VM-like rows, what QEMU with cache=none does: libaio, O_DIRECT, queue depth 32; random
#     write/read/70-30 read-write 4 KiB and sequential write/read 1 MiB, with 1 and 2 jobs;
#   - the FUSE round trip: 4 KiB O_DIRECT reads at queue depth 1 of a 1 MiB region that the
#     backing file's page cache holds (clat p50/p99).
# Usage: bench/fio-compare.sh [SECONDS] [extra cbtfs mount options...]   (default 15 s per job)
# e.g. bench/fio-compare.sh 15 --writeback-cache
# Env: RUNS (default 3); CBTFS_TRANSPORTS="libfuse2 kernel" measures a cbtfs mount per transport
# (`--transport T`) when this cbtfs has the option; QUICK=1 for a smoke test (256 MiB image,
# 2 s jobs, 1 run); NO_PASSTHROUGH_HP=1 skips building passthrough_hp; ROWS="table:name ..."
# measures only those rows (e.g. ROWS="vm:seq-write-1M psync:rand-write-4K-2jobs"), NO_RTT=1
# skips the round trip.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [[ "${QUICK:-0}" == 1 ]]; then
  secs="${1:-2}" size_mib=256 runs="${RUNS:-1}" ramp=1
else
  secs="${1:-15}" size_mib=1024 runs="${RUNS:-3}" ramp=2
fi
shift || true
cbtfs_opts=("$@")
source "$root/bench/lib/workdir.sh" fio
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null

transports=(${CBTFS_TRANSPORTS:-})
if [[ ${#transports[@]} -gt 0 ]] && ! "$cbtfs" mount --help | grep -q -- '--transport'; then
  echo "fio-compare: this cbtfs mount has no --transport option: measuring its only transport" >&2
  transports=()
fi
[[ ${#transports[@]} -gt 0 ]] || transports=("")

mkdir -p "$work"/{raw,qemu}
dd if=/dev/urandom of="$work/raw/disk.img" bs=1M count="$size_mib" status=none
cp "$work/raw/disk.img" "$work/qemu/source.img"
touch "$work/qemu/export.img"
declare -A file=([raw]="$work/raw/disk.img" [qsd]="$work/qemu/export.img")
declare -A label=([raw]="raw file" [qsd]="qemu-storage-daemon FUSE" [hp]="passthrough_hp (writeback cache)")
cbtfs_targets=()
for t in "${transports[@]}"; do
  key="cbtfs${t:+-$t}"
  mkdir -p "$work/$key"/{images,mnt}
  cp "$work/raw/disk.img" "$work/$key/images/disk.img"
  "$cbtfs" mount --daemon ${t:+--transport "$t"} "${cbtfs_opts[@]}" "$work/$key/images" \
    "$work/$key/mnt" >/dev/null
  extra_mounts+=("$work/$key/mnt")
  file[$key]="$work/$key/mnt/disk.img"
  label[$key]="cbtfs${t:+ $t}"
  cbtfs_targets+=("$key")
done

qemu-storage-daemon \
  --blockdev driver=file,node-name=file0,filename="$work/qemu/source.img" \
  --blockdev driver=raw,node-name=fmt0,file=file0 \
  --export type=fuse,id=exp0,node-name=fmt0,mountpoint="$work/qemu/export.img",writable=on &
qsd_pid=$!

hp_note=""
hp_targets=()
if [[ "${NO_PASSTHROUGH_HP:-0}" == 1 ]]; then
  hp_note="passthrough_hp: skipped (NO_PASSTHROUGH_HP=1)"
elif hp_bin=$("$root/bench/lib/passthrough-hp.sh" 2>"$work/hp-build.txt"); then
  mkdir -p "$work/hp"/{src,mnt}
  cp "$work/raw/disk.img" "$work/hp/src/disk.img"
  "$hp_bin" --foreground "$work/hp/src" "$work/hp/mnt" 2>"$work/hp.log" &
  extra_pids+=($!)
  extra_mounts+=("$work/hp/mnt")
  file[hp]="$work/hp/mnt/disk.img"
  hp_targets=(hp)
else
  hp_note="$(tail -1 "$work/hp-build.txt") (its column is left out)"
fi
for _ in $(seq 100); do
  grep -q "$work/qemu/export.img" /proc/mounts \
    && { [[ ${#hp_targets[@]} -eq 0 ]] || grep -q "$work/hp/mnt" /proc/mounts; } && break
  sleep 0.1
done
[[ -n "$hp_note" ]] && echo "fio-compare: $hp_note" >&2

# name:table:rw:bs:jobs; psync rows first (unchanged), then the VM-like ones
rows=("seq-write-1M:psync:write:1M:1" "seq-read-1M:psync:read:1M:1"
      "rand-write-4K:psync:randwrite:4k:1" "rand-read-4K:psync:randread:4k:1"
      "rand-write-4K-2jobs:psync:randwrite:4k:2")
for jobs in 1 2; do
  sfx=$([[ $jobs == 2 ]] && echo "-2jobs" || true)
  rows+=("rand-write-4K$sfx:vm:randwrite:4k:$jobs" "rand-read-4K$sfx:vm:randread:4k:$jobs"
         "rand-rw-70-30-4K$sfx:vm:randrw:4k:$jobs" "seq-write-1M$sfx:vm:write:1M:$jobs"
         "seq-read-1M$sfx:vm:read:1M:$jobs")
done

results="$work/results.txt"
: >"$results"
fio_value() { # the job's IOPS (4k) or MiB/s (1M), reads and writes together
  python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
r, w = j["read"], j["write"]
print((r["bw_bytes"] + w["bw_bytes"]) / 2**20 if sys.argv[1] == "1M" else r["iops"] + w["iops"])' "$1"
}
for run in $(seq "$runs"); do
  for row in "${rows[@]}"; do
    IFS=: read -r name table rw bs jobs <<<"$row"
    [[ -z "${ROWS:-}" || " $ROWS " == *" $table:$name "* ]] || continue
    targets=(raw qsd "${cbtfs_targets[@]}")
    [[ $table == psync && $rw == randwrite ]] && targets+=("${hp_targets[@]}")
    args=(--rw="$rw" --bs="$bs" --numjobs="$jobs" --size="${size_mib}M")
    if [[ $table == vm ]]; then
      args+=(--ioengine=libaio --direct=1 --iodepth=32 --rwmixread=70)
      # sequential jobs take a slice each instead of all streaming the same bytes
      [[ $jobs -gt 1 && $rw != rand* ]] \
        && args+=(--size="$((size_mib / jobs))M" --offset_increment="$((size_mib / jobs))M")
    else
      args+=(--ioengine=psync)
    fi
    for who in "${targets[@]}"; do
      drop
      v=$(fio --name="$name" --filename="${file[$who]}" "${args[@]}" --group_reporting \
        --time_based --runtime="$secs" --ramp_time="$ramp" --randseed=7 --output-format=json \
        2>/dev/null | fio_value "$bs")
      echo "$table $name $who $v" >>"$results"
      echo "run $run: $table $name $who $v" >&2
    done
  done
  # the round trip: no drop, the ramp reads the 1 MiB region into the backing file's page cache
  [[ "${NO_RTT:-0}" == 1 ]] && continue
  for who in raw qsd "${cbtfs_targets[@]}" "${hp_targets[@]}"; do
    v=$(fio --name=rtt --filename="${file[$who]}" --rw=randread --bs=4k --ioengine=psync --direct=1 \
      --size=1M --time_based --runtime="$secs" --ramp_time="$ramp" --output-format=json 2>/dev/null \
      | python3 -c '
import json, sys
p = json.load(sys.stdin)["jobs"][0]["read"]["clat_ns"]["percentile"]
print(p["50.000000"] / 1000, p["99.000000"] / 1000)')
    echo "lat rtt $who $v" >>"$results"
    echo "run $run: round trip $who $v" >&2
  done
done

echo "bench/fio-compare.sh $secs ${cbtfs_opts[*]:-} (RUNS=$runs${CBTFS_TRANSPORTS:+ CBTFS_TRANSPORTS=\"$CBTFS_TRANSPORTS\"}), $(date -u +%F): ${size_mib} MiB image, ${secs} s per job after a ${ramp} s ramp, medians of $runs run(s); cbtfs mount options: ${cbtfs_opts[*]:-(defaults)}${hp_note:+; $hp_note}"
targets_arg=$(IFS=,; echo "${cbtfs_targets[*]}")
hp_arg=$(IFS=,; echo "${hp_targets[*]:-}")
python3 - "$results" "$targets_arg" "$hp_arg" \
  "$(for k in "${!label[@]}"; do printf '%s=%s;' "$k" "${label[$k]}"; done)" <<'PY'
import statistics, sys
from collections import defaultdict
path, cbtfs, hp = sys.argv[1], sys.argv[2].split(","), [h for h in sys.argv[3].split(",") if h]
label = dict(kv.split("=", 1) for kv in sys.argv[4].split(";") if kv)
vals, order = defaultdict(list), []
for line in open(path):
    table, name, who, *v = line.split()
    if (table, name) not in order:
        order.append((table, name))
    vals[table, name, who].append([float(x) for x in v])
def med(table, name, who, i=0):
    v = vals.get((table, name, who))
    return statistics.median(x[i] for x in v) if v else None
def fmt(x, unit=""):
    return "n/a" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:,.1f}") + unit
def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}"
for table, title in (("psync", "psync, buffered, one request at a time, page cache dropped before each job"),
                     ("vm", "VM-like: libaio, O_DIRECT, queue depth 32, page cache dropped before each job")):
    if not any(t == table for t, _ in order):
        continue  # no row of it measured (ROWS)
    cols = ["raw", "qsd"] + cbtfs + (hp if table == "psync" else [])
    head = [label[c] for c in cols]
    for c in cbtfs:
        head += [f"{label[c]} / QSD", f"{label[c]} / raw"] + ([f"{label[c]} / passthrough_hp"] if table == "psync" and hp else [])
    print(f"\n{title}\n")
    print("| job | unit | " + " | ".join(head) + " |")
    print("|---|---|" + "---|" * len(head))
    for t, name in order:
        if t != table:
            continue
        m = {c: med(table, name, c) for c in cols}
        cells = [fmt(m[c]) for c in cols]
        for c in cbtfs:
            cells += [ratio(m[c], m["qsd"]), ratio(m[c], m["raw"])]
            if table == "psync" and hp:
                cells.append(ratio(m[c], m[hp[0]]))
        unit = "MiB/s" if "1M" in name else "IOPS"
        print(f"| {name} | {unit} | " + " | ".join(cells) + " |")
if ("lat", "rtt") not in order:
    sys.exit(0)  # NO_RTT=1
print("\nFUSE round trip: 4 KiB O_DIRECT reads, queue depth 1, of a 1 MiB region held by the backing file's page cache (the raw file's O_DIRECT reads go to the disk), clat in µs\n")
print("| | p50 | p99 |")
print("|---|---|---|")
for c in ["raw", "qsd"] + cbtfs + hp:
    print(f"| {label[c]} | {fmt(med('lat', 'rtt', c, 0))} | {fmt(med('lat', 'rtt', c, 1))} |")
PY
