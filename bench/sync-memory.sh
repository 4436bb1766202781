#!/usr/bin/env bash
# Memory stays fixed whatever the image size: a full sync (every block dirty) of a sparse
# SIZE_GIB GiB image with the JVM heap capped at 64 MiB, reporting time and peak RSS; then the same
# cap for DENSE_GIB GiB of data that compresses (every run read, compressed and staged).
# Usage: bench/sync-memory.sh [SIZE_GIB] [DENSE_GIB]   (defaults 256, 1)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-256}"; dense_gib="${2:-1}"
work="$(mktemp -d /var/tmp/cbtfs-mem-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/images"
truncate -s "${size_gib}G" "$work/images/big.img"
# some real data at the start, the middle and the end
for off in 0 $((size_gib * 512)) $((size_gib * 1024 - 1)); do
  dd if=/dev/urandom of="$work/images/big.img" bs=1M count=1 seek="$off" conv=notrunc status=none
done
"$root/bin/cbtfs" --version >/dev/null
/usr/bin/time -f "peak RSS %M KiB, %e s elapsed" env CBTFS_JAVA_OPTS="-Xmx64m" \
  "$root/bin/cbtfs" sync --json "$work/images/big.img" "file:$work/replica.img" 2> "$work/time.txt" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%d blocks, %.0f GiB of image, %d records (%d zero), %.1f MiB on the wire, sync %.1f s" % (r["blocks"], r["dataBytes"]/2**30, r["records"], r["zeroRecords"], r["wireBytes"]/2**20, r["seconds"]))'
tail -1 "$work/time.txt"
# cmp would read every hole back; compare the size and the three data regions instead
[[ $(stat -c %s "$work/images/big.img") == $(stat -c %s "$work/replica.img") ]]
for off in 0 $((size_gib * 512)) $((size_gib * 1024 - 1)); do
  cmp <(dd if="$work/images/big.img" bs=1M count=1 skip="$off" status=none) \
      <(dd if="$work/replica.img" bs=1M count=1 skip="$off" status=none)
done
echo "replica: same size, same data regions; allocated $(du -h "$work/replica.img" | cut -f1)"

# dense, compressible: text lines with random bytes between them, about 4x smaller in LZ4
python3 - "$work/images/dense.img" "$dense_gib" <<'PY'
import os, random, sys
r = random.Random(1)
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2]) * 1024):
        b = bytearray()
        while len(b) < 1 << 20:
            b += ("line %d of a compressible image %d\n" % (r.randrange(1000), i)).encode() * r.randrange(1, 50)
            b += os.urandom(r.randrange(0, 512))
        f.write(bytes(b[: 1 << 20]))
PY
/usr/bin/time -f "peak RSS %M KiB, %e s elapsed" env CBTFS_JAVA_OPTS="-Xmx64m" \
  "$root/bin/cbtfs" sync --json "$work/images/dense.img" "file:$work/dense-replica.img" 2> "$work/time.txt" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print("dense: %.0f GiB of data, %d records, %.1f MiB on the wire (%.2fx), sync %.1f s" % (r["dataBytes"]/2**30, r["records"], r["wireBytes"]/2**20, r["dataBytes"]/r["wireBytes"], r["seconds"]))'
tail -1 "$work/time.txt"
cmp "$work/images/dense.img" "$work/dense-replica.img" && echo "dense replica: identical"
