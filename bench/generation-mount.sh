#!/usr/bin/env bash
# Restoring without restoring: time to the first byte of a file inside a backed-up ext4 image,
#   mounted:  cbtfs mount --read-only SOURCE, mount -o loop,ro of the generation, head -c1 FILE
#   restored: cbtfs restore SOURCE OUT, mount -o loop,ro OUT, head -c1 FILE
# for an archive and an S3 store (S3Proxy, filesystem backend, on loopback and the same disk);
# then the whole file (64 MiB) read both ways, and random 4 KiB reads (fio, psync, depth 1) of
# the mounted generation: cold (the whole image, cache empty) and warm (an 8 MiB range read
# once before, inside the 16 MiB cache). Page cache dropped before each timed step.
# Usage: bench/generation-mount.sh [SIZE_MIB] (default 4096: the image, about 90% written).
# Needs root (FUSE, loop mounts, drop_caches), mke2fs, fio, curl, python3.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_mib="${1:-4096}"
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
source "$root/bench/lib/workdir.sh" generation-mount
mkdir -p "$work"/{images,mnt,tree,ro,loop}
extra_mounts=("$work/loop" "$work/ro")
source "$root/bench/lib/s3proxy.sh" # workdir.sh's cleanup kills $s3pid
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

# an ext4 image about 90% full: one 64 MiB file to read, the rest in 256 MiB files
data_mib=$((size_mib * 9 / 10 - 64))
head -c $((64 << 20)) /dev/urandom > "$work/tree/wanted.bin"
for ((i = 0; data_mib > 0; i++)); do
  n=$((data_mib < 256 ? data_mib : 256))
  head -c $((n << 20)) /dev/urandom > "$work/tree/fill-$i.bin"
  data_mib=$((data_mib - n))
done
mke2fs -q -F -t ext4 -d "$work/tree" "$work/images/fs.img" "${size_mib}M"
rm -f "$work/tree"/fill-*.bin
"$cbtfs" mount --daemon "$work/images" "$work/mnt" >/dev/null
archive="archive:$work/fs.archive"
store="s3://bench/fleet/fs"
gen_archive=$("$cbtfs" sync --json "$work/mnt/fs.img" "$archive" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
gen_s3=$("$cbtfs" sync --json "$work/mnt/fs.img" "$store" --s3-endpoint "$endpoint" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
"$cbtfs" unmount "$work/mnt"

first_byte() { # FILE -> prints nothing, reads its first byte
  head -c1 "$1" > /dev/null
}

mounted() { # SOURCE GENERATION -> "ttfb whole-file-secs"
  drop
  local t0 t1 t2
  t0=$(now)
  "$cbtfs" mount --read-only "$1" "$work/ro" --s3-endpoint "$endpoint" --s3-region us-east-1 > "$work/ro.log" 2>&1 &
  ro_pid=$!
  for ((i = 0; i < 600; i++)); do mountpoint -q "$work/ro" && break; sleep 0.01; done
  mount -o loop,ro "$work/ro/fs@$2" "$work/loop"
  first_byte "$work/loop/wanted.bin"
  t1=$(now)
  cat "$work/loop/wanted.bin" > /dev/null
  t2=$(now)
  cmp "$work/loop/wanted.bin" "$work/tree/wanted.bin"
  umount "$work/loop"
  echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2")"
}

restored() { # SOURCE GENERATION -> "ttfb whole-file-secs"
  drop
  local t0 t1 t2
  rm -f "$work/restored.img"
  t0=$(now)
  "$cbtfs" restore "$1" --generation "$2" "$work/restored.img" --s3-endpoint "$endpoint" --s3-region us-east-1 > /dev/null
  mount -o loop,ro "$work/restored.img" "$work/loop"
  first_byte "$work/loop/wanted.bin"
  t1=$(now)
  cat "$work/loop/wanted.bin" > /dev/null
  t2=$(now)
  umount "$work/loop"
  rm -f "$work/restored.img"
  echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2")"
}

iops() { # FILE SIZE -> IOPS of 10 s of random 4 KiB reads
  fio --name=r --filename="$1" --readonly --rw=randread --bs=4k --direct=1 --ioengine=psync \
    --iodepth=1 --size="$2" --runtime=10 --time_based --output-format=json 2>/dev/null \
    | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))'
}

printf "image %d MiB (ext4, about 90%% written with random data), one full generation in each\n" "$size_mib"
for kind in archive s3; do
  if [[ $kind == archive ]]; then src=$archive; gen=$gen_archive; else src=$store; gen=$gen_s3; fi
  mounted "$src" "$gen" > "$work/mounted.out" # in this shell: the mount is its child
  read -r m_ttfb m_file < "$work/mounted.out"
  cold=$(iops "$work/ro/fs@$gen" "${size_mib}M")
  iops "$work/ro/fs@$gen" 8M > /dev/null # fills the cache with that range
  warm=$(iops "$work/ro/fs@$gen" 8M)
  umount "$work/ro"
  wait "$ro_pid"
  cache=$(grep -o 'read cache: .*' "$work/ro.log" || true)
  read -r r_ttfb r_file < <(restored "$src" "$gen")
  printf "%-7s first byte of a file: mounted %.2f s, restore + loop mount %.2f s (%.0fx)\n" \
    "$kind" "$m_ttfb" "$r_ttfb" "$(echo "$r_ttfb / $m_ttfb" | bc -l)"
  printf "%-7s the 64 MiB file after that: mounted %.2f s, restored %.2f s\n" "$kind" "$m_file" "$r_file"
  printf "%-7s random 4 KiB reads of the mounted generation: cold %s IOPS, warm %s IOPS (%s)\n" \
    "$kind" "$cold" "$warm" "$cache"
done
