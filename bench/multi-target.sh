#!/usr/bin/env bash
# Two targets of one image, synced in turn: what each sync sends against what changed since that
# target's own last sync (issue #18). A SIZE_GIB GiB image of random bytes is mounted (daemon),
# seeded into a file: replica and an archive (both local, full syncs), then ROUNDS times PERCENT%
# of its 64 KiB blocks are rewritten through the mount (bench/lib/rewrite.py, seeded: the same
# blocks and bytes for every build) and one target is synced, replica and archive alternating.
# Printed per sync: the target, the report's blocks, data bytes and wire bytes, and the bytes
# written since that target's last sync (the union of the rounds' blocks, counted here, not by
# cbtfs). Afterwards each target is synced once more (no writes between) and checked: the replica
# with cmp against the backing file, the archive restored and compared.
# Builds: this tree (mvn package, no install), and with BASE=<rev> that commit too, exported with
# git archive into the work folder and built there; both run the same steps on copies of one image.
# Usage: [BASE=<rev>] bench/multi-target.sh [SIZE_GIB] [PERCENT] [ROUNDS]  (defaults 4, 1, 6).
# Needs root (the mount, drop_caches).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-4}"; percent="${2:-1}"; rounds="${3:-6}"; seed=1800
block=65536
source "$root/bench/lib/workdir.sh" multi-target

build() { # build ROOT: the cli jar of the tree at ROOT, built in place (reactor package, no install)
  (cd "$1" && MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" mvn -q -B -Dstyle.color=never -DskipTests -Dspotless.check.skip=true \
    -pl cli -am package) >&2
}

builds=("current:$root/cli/target/cbtfs.jar")
echo "building this tree..." >&2
build "$root"
if [[ -n "${BASE:-}" ]]; then
  rev=$(git -C "$root" rev-parse --short "$BASE")
  echo "building $BASE ($rev) in $work/base..." >&2
  mkdir -p "$work/base"
  git -C "$root" archive "$rev" | tar -x -C "$work/base"
  build "$work/base"
  builds+=("base-$rev:$work/base/cli/target/cbtfs.jar")
fi

echo "preparing a ${size_gib} GiB image of random data..." >&2
dd if=/dev/urandom of="$work/seed.img" bs=1M count=$((size_gib * 1024)) status=none

field() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get(sys.argv[1], "")).strip("\""))' "$1"; }

for b in "${builds[@]}"; do
  name="${b%%:*}"; jar="${b#*:}"
  cbtfs=(java -jar "$jar")
  run="$work/$name"
  mkdir -p "$run"/{images,mnt,targets,lists}
  cp --sparse=never "$work/seed.img" "$run/images/disk.img"
  extra_mounts+=("$run/mnt")
  "${cbtfs[@]}" mount --daemon "$run/images" "$run/mnt" >/dev/null
  image="$run/mnt/disk.img"
  declare -A uri=([replica]="file:$run/targets/disk.img" [archive]="archive:$run/targets/disk.archive")
  declare -A since=([replica]=1 [archive]=1) # the first round each target has not seen yet
  echo "== $name: seeding both targets" >&2
  for t in replica archive; do
    r=$("${cbtfs[@]}" sync --json "$image" "${uri[$t]}")
    printf '%s\tseed\t%s\t%s\t%s\t%s\t%s\t0\t%s\n' "$name" "$t" "$(field full <<<"$r")" \
      "$(field blocks <<<"$r")" "$(field dataBytes <<<"$r")" "$(field wireBytes <<<"$r")" \
      "$(field seconds <<<"$r")"
  done >>"$work/results.tsv"
  for ((i = 1; i <= rounds; i++)); do
    python3 "$root/bench/lib/rewrite.py" "$image" "$block" "$percent" "$((seed + i))" \
      "$run/lists/$i" >/dev/null
    t=$([[ $((i % 2)) -eq 1 ]] && echo replica || echo archive)
    written=$(cat $(seq -f "$run/lists/%g" "${since[$t]}" "$i") | sort -u | wc -l)
    since[$t]=$((i + 1))
    drop
    r=$("${cbtfs[@]}" sync --json "$image" "${uri[$t]}")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$i" "$t" "$(field full <<<"$r")" \
      "$(field blocks <<<"$r")" "$(field dataBytes <<<"$r")" "$(field wireBytes <<<"$r")" \
      "$((written * block))" "$(field seconds <<<"$r")" >>"$work/results.tsv"
    echo "   round $i: $t $(field full <<<"$r") $(field blocks <<<"$r") blocks" >&2
  done
  # both targets brought up to date and checked against the image
  for t in replica archive; do "${cbtfs[@]}" sync --json "$image" "${uri[$t]}" >/dev/null; done
  cmp "$run/images/disk.img" "$run/targets/disk.img"
  "${cbtfs[@]}" restore "${uri[archive]}" "$run/restored.img" >/dev/null
  cmp "$run/images/disk.img" "$run/restored.img"
  rm -f "$run/restored.img"
  "${cbtfs[@]}" unmount "$run/mnt" >/dev/null
  rm -rf "$run/images" "$run/targets"
  unset uri since
done

python3 - "$size_gib" "$percent" "$work/results.tsv" <<'PY'
import sys
size, pct, path = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [line.rstrip("\n").split("\t") for line in open(path)]
print(f"{size} GiB image of random bytes, {pct}% of its 64 KiB blocks rewritten before each sync, "
      "replica and archive alternating; every check (cmp, restore) passed")
print("| build | round | target | full | blocks | data bytes | wire bytes | written since its last sync | wire / written | sync s |")
print("|---|---|---|---|---|---|---|---|---|---|")
totals = {}
for build, rnd, target, full, blocks, data, wire, written, secs in rows:
    ratio = f"{int(wire) / int(written):.3f}" if int(written) else ""
    print(f"| {build} | {rnd} | {target} | {full} | {int(blocks):,} | {int(data):,} | {int(wire):,} | {int(written):,} | {ratio} | {secs} |")
    if rnd != "seed":
        w, s = totals.get(build, (0, 0))
        totals[build] = (w + int(wire), s + int(written))
for build, (w, s) in totals.items():
    print(f"{build}: the rounds sent {w:,} bytes on the wire for {s:,} bytes written since each "
          f"target's last sync ({w / s:.2f}x)")
PY
