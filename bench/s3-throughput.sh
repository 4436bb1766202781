#!/usr/bin/env bash
# The S3 target against the local replica target, side by side in one run, through a real mount:
#   1. full sync of a SIZE_MIB image of random bytes: to file: (replica) and to s3:// (S3Proxy,
#      filesystem backend, on loopback and the same disk)
#   2. PCT% of its 64K blocks rewritten (same blocks, same bytes on both images), incremental sync
#   3. a clone of the image (cp through the mount) synced to the same store: bytes it added
#   4. restore of the latest generation from S3, against cp of the replica (both cold)
# Page cache dropped before each timed step. Usage: bench/s3-throughput.sh [SIZE_MIB] [PCT]
# (default 1024 10). Needs root (FUSE, drop_caches).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_mib="${1:-1024}"
pct="${2:-10}"
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
work="$(mktemp -d /var/tmp/cbtfs-s3-bench.XXXXXX)"
mkdir -p "$work"/{images,mnt}
s3pid=""
cleanup() {
  "$cbtfs" unmount "$work/mnt" >/dev/null 2>&1 || fusermount -u -z "$work/mnt" 2>/dev/null || true
  [[ -z $s3pid ]] || kill "$s3pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
source "$root/bench/lib/s3proxy.sh"
store="s3://bench/fleet"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
mib() { echo "$1 / 1048576" | bc -l; }
now() { date +%s.%N; }

dd if=/dev/urandom of="$work/images/a.raw" bs=1M count="$size_mib" status=none
cp "$work/images/a.raw" "$work/images/b.raw"
"$cbtfs" mount --daemon "$work/images" "$work/mnt" >/dev/null
bytes=$((size_mib * 1048576))

sync_secs() { # IMAGE TARGET -> "seconds dataBytes"
  drop
  "$cbtfs" sync --json "$1" "$2" --s3-endpoint "$endpoint" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["seconds"], r["dataBytes"])'
}
stored() { "$cbtfs" ls --json "$store" --s3-endpoint "$endpoint" | field chunkBytes; }

read -r full_file _ < <(sync_secs "$work/mnt/a.raw" "file:$work/replica.raw")
read -r full_s3 _ < <(sync_secs "$work/mnt/b.raw" "$store/b")
stored_full=$(stored)

for img in a b; do
  python3 "$root/bench/lib/rewrite.py" "$work/mnt/$img.raw" 65536 "$pct" 42 >/dev/null
done
read -r inc_file inc_bytes < <(sync_secs "$work/mnt/a.raw" "file:$work/replica.raw")
read -r inc_s3 inc_s3_bytes < <(sync_secs "$work/mnt/b.raw" "$store/b")
stored_inc=$(stored)

cp "$work/mnt/b.raw" "$work/mnt/c.raw"
read -r clone_s3 _ < <(sync_secs "$work/mnt/c.raw" "$store/c")
stored_clone=$(stored)

drop; t0=$(now); cp "$work/replica.raw" "$work/copy.raw"; sync; t1=$(now); rm -f "$work/copy.raw"
drop; t2=$(now)
"$cbtfs" restore "$store/b" "$work/restored.raw" --s3-endpoint "$endpoint" >/dev/null
t3=$(now)
cmp "$work/restored.raw" "$work/images/b.raw"

# the server's own ceiling: the same bytes as 1 MiB objects, PUT by curl (SigV4), 16 at a time
mkdir -p "$work/parts"
split -b 1M -d -a 5 "$work/images/a.raw" "$work/parts/p"
drop; t4=$(now)
ls "$work/parts" | xargs -P 16 -I{} curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" \
  --user bench:bench-secret -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$work/parts/{}" "$endpoint/bench/curl/{}"
t5=$(now)

printf "image %d MiB of random data, %s%% of 64K blocks rewritten; S3Proxy (filesystem backend) on loopback, same disk\n" "$size_mib" "$pct"
printf "full sync:        file: %.2f s (%.0f MiB/s)   s3: %.2f s (%.0f MiB/s)   s3/file time %.2fx\n" \
  "$full_file" "$(echo "$(mib $bytes) / $full_file" | bc -l)" "$full_s3" "$(echo "$(mib $bytes) / $full_s3" | bc -l)" \
  "$(echo "$full_s3 / $full_file" | bc -l)"
printf "incremental sync: file: %.2f s (%.0f MiB dirty, %.0f MiB/s)   s3: %.2f s (%.0f MiB in whole 1 MiB cells, %.0f MiB/s)   s3/file time %.2fx\n" \
  "$inc_file" "$(mib "$inc_bytes")" "$(echo "$(mib $inc_bytes) / $inc_file" | bc -l)" "$inc_s3" "$(mib "$inc_s3_bytes")" \
  "$(echo "$(mib $inc_s3_bytes) / $inc_s3" | bc -l)" "$(echo "$inc_s3 / $inc_file" | bc -l)"
printf "stored: after full %.1f MiB, after incremental +%.1f MiB, after a clone's full sync +%.3f MiB (clone sync %.2f s)\n" \
  "$(mib "$stored_full")" "$(mib $((stored_inc - stored_full)))" "$(mib $((stored_clone - stored_inc)))" "$clone_s3"
printf "server ceiling:   curl PUT of the image as 1 MiB objects, 16 in parallel: %.2f s (%.0f MiB/s); cbtfs full sync to s3 reaches %.0f%% of it\n" \
  "$(echo "$t5 - $t4" | bc -l)" "$(echo "$(mib $bytes) / ($t5 - $t4)" | bc -l)" "$(echo "100 * ($t5 - $t4) / $full_s3" | bc -l)"
printf "restore latest:   s3 %.2f s (%.0f MiB/s)   cp of the replica %.2f s (%.0f MiB/s, flushed)\n" \
  "$(echo "$t3 - $t2" | bc -l)" "$(echo "$(mib $bytes) / ($t3 - $t2)" | bc -l)" \
  "$(echo "$t1 - $t0" | bc -l)" "$(echo "$(mib $bytes) / ($t1 - $t0)" | bc -l)"
