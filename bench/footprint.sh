#!/usr/bin/env bash
# The mount daemon's memory footprint: one daemon mount serving many images while syncs of small
# changes run through it, the way a VM host uses it. Reports the daemon's RSS from
# /proc/PID/status: idle (mounted, before any sync), peak (VmHWM) and steady (VmRSS SETTLE seconds
# after the last sync), and the sync durations as cbtfs reports them (median and max).
#
# Usage: bench/footprint.sh [VARIANT] [CONFIG...]
#   VARIANT  many: 200 sparse images of 100 GiB, 100 syncs of 1 MiB of changes (default)
#            few:  4 sparse images of 4 GiB, 40 syncs of 64 MiB of changes
#            quick: 20 images, 10 syncs of 1 MiB (a smoke test)
#   CONFIG   one quoted string per configuration to run, in order, on fresh copies of the same
#            images: mount options (e.g. "--max-memory 256M"), VAR=VALUE words for the launcher's
#            environment, jvm=FLAG,FLAG,... for JVM flags (e.g. jvm=-Xmx64m,-XX:+UseSerialGC; the
#            daemon inherits its launcher's), or jar=PATH to run that cbtfs.jar with plain
#            `java -jar` instead of bin/cbtfs (an older build, for a before/after run).
#            Default: one run with the defaults ("").
# Sync k writes its changes (random 64 KiB blocks, pwrite + fsync through the mount) into image
# k mod SYNCED and syncs that image to a file: replica, so the first SYNCED syncs seed replicas
# (full syncs of sparse images) and the rest are incremental. Env: SYNCED (default: half the
# syncs, at most the images), SETTLE (default 10 s), AT_STEADY (a command run with $pid set to the
# daemon's pid before it is unmounted, e.g. 'jcmd $pid VM.native_memory summary' with
# jvm=-XX:NativeMemoryTracking=summary).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
variant="${1:-many}"; shift || true
configs=("$@"); [[ ${#configs[@]} -gt 0 ]] || configs=("")
case "$variant" in
  many)  images=200; size_gib=100; syncs=100; change_mib=1 ;;
  few)   images=4;   size_gib=4;   syncs=40;  change_mib=64 ;;
  quick) images=20;  size_gib=100; syncs=10;  change_mib=1 ;;
  *) echo "usage: bench/footprint.sh [many|few|quick] [CONFIG...]" >&2; exit 2 ;;
esac
synced="${SYNCED:-$(( syncs / 2 < images ? syncs / 2 : images ))}"
settle="${SETTLE:-10}"
source "$root/bench/lib/workdir.sh" footprint
"$root/bin/cbtfs" --version >/dev/null

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { echo $(( $1 / 1024 )); }

results=()
for config in "${configs[@]}"; do
  env_words=() opts=() jvm=() jar=""
  for w in $config; do
    case "$w" in
      jar=*) jar="${w#jar=}" ;;
      jvm=*) IFS=, read -r -a flags <<<"${w#jvm=}"; jvm+=("${flags[@]}") ;;
      -*) opts+=("$w") ;;
      *=*) env_words+=("$w") ;;
      *) opts+=("$w") ;;
    esac
  done
  if [[ -n "$jar" ]]; then
    launcher=(java "${jvm[@]}" -jar "$jar")
  else
    launcher=("$root/bin/cbtfs")
    [[ ${#jvm[@]} -eq 0 ]] || env_words+=("CBTFS_JAVA_OPTS=${jvm[*]}")
  fi
  rm -rf "$work/images" "$work/replicas" "$work/mnt"
  mkdir -p "$work/images" "$work/replicas" "$work/mnt"
  for i in $(seq -w 1 "$images"); do
    truncate -s "${size_gib}G" "$work/images/vm$i.img"
    # a little data at the start, as a freshly installed guest has (and the tracker's first look)
    dd if=/dev/urandom of="$work/images/vm$i.img" bs=64K count=16 conv=notrunc status=none
  done
  out=$(env "${env_words[@]}" "${launcher[@]}" mount --daemon "${opts[@]}" "$work/images" "$work/mnt")
  pid=$(sed -n 's/.*(pid \([0-9]*\),.*/\1/p' <<<"$out")
  [[ -n "$pid" ]] || { echo "footprint: no daemon pid in: $out" >&2; exit 1; }
  sleep 2
  idle=$(kib "$pid" VmRSS)
  durations=()
  for k in $(seq 0 $((syncs - 1))); do
    img=$(printf "vm%0${#images}d.img" $(( k % synced + 1 )))
    python3 - "$work/mnt/$img" "$change_mib" "$k" <<'PY'
import os, random, sys
path, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
pool = os.urandom(2 << 20)
fd = os.open(path, os.O_WRONLY)
blocks = os.fstat(fd).st_size // 65536
for _ in range(mib * 16):
    at = rnd.randrange(0, 1 << 20)
    os.pwrite(fd, pool[at:at + 65536], rnd.randrange(blocks) * 65536)
os.fsync(fd)
os.close(fd)
PY
    s=$(env "${env_words[@]}" "${launcher[@]}" sync --json "$work/mnt/$img" "file:$work/replicas/$img" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    durations+=("$s")
  done
  after=$(kib "$pid" VmRSS)
  sleep "$settle"
  steady=$(kib "$pid" VmRSS)
  peak=$(kib "$pid" VmHWM)
  threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$pid/status")
  [[ -z "${AT_STEADY:-}" ]] || (eval "$AT_STEADY") >&2
  "${launcher[@]}" unmount "$work/mnt" >/dev/null
  row=$(python3 - "${config:-(defaults)}" "$(mib "$idle")" "$(mib "$peak")" "$(mib "$after")" \
    "$(mib "$steady")" "$threads" "$synced" "${durations[@]}" <<'PY'
import statistics, sys
name, idle, peak, after, steady, threads, synced = sys.argv[1:8]
d = [float(x) for x in sys.argv[8:]]
full, inc = d[: int(synced)], d[int(synced):] or [0.0]
print(f"| {name} | {idle} | {peak} | {after} | {steady} | {threads} | "
      f"{statistics.median(full):.3f} / {max(full):.3f} | {statistics.median(inc):.3f} / {max(inc):.3f} |")
PY
)
  echo "$row" >&2
  results+=("$row")
done

echo "bench/footprint.sh $variant: $images sparse images of $size_gib GiB, $syncs syncs of $change_mib MiB of changes into $synced of them (the first $synced seed file: replicas), RSS of the mount daemon in MiB (steady: $settle s after the last sync), sync seconds as reported; $(date -u +%F)"
echo "| config | idle RSS | peak RSS (VmHWM) | RSS after the syncs | steady RSS | threads | seeding syncs median / max (s) | incremental syncs median / max (s) |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
