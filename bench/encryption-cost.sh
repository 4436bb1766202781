#!/usr/bin/env bash
# What client-side encryption costs (issue 23): the same full sync of a SIZE_MIB image of random
# bytes, through a real mount, to S3Proxy (filesystem backend, loopback, same disk), in clear and
# with --encrypt-key, ROUNDS times each, alternating, each into a store of its own (nothing to
# deduplicate); then a full sync to an archive: folder, in clear and encrypted. Page cache dropped
# before each sync. Prints each time and the ratio of the medians.
# Usage: bench/encryption-cost.sh [SIZE_MIB] [ROUNDS] (default 1024 3). Needs root (FUSE).
# ONLY=archive runs the archive rows alone (ROUNDS times each, alternating), without S3Proxy.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_mib="${1:-1024}"
rounds="${2:-3}"
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
work="$(mktemp -d /var/tmp/cbtfs-enc-bench.XXXXXX)"
mkdir -p "$work"/{images,mnt}
s3pid=""
cleanup() {
  "$cbtfs" unmount "$work/mnt" >/dev/null 2>&1 || fusermount -u -z "$work/mnt" 2>/dev/null || true
  [[ -z $s3pid ]] || kill "$s3pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
only="${ONLY:-}"
[[ $only == archive ]] || source "$root/bench/lib/s3proxy.sh"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
dd if=/dev/urandom of="$work/images/a.raw" bs=1M count="$size_mib" status=none
"$cbtfs" key create "$work/bench.key" >/dev/null
"$cbtfs" mount --daemon "$work/images" "$work/mnt" >/dev/null

secs() { # TARGET [OPTIONS...] -> seconds of one full sync
  local target="$1"
  shift
  drop
  "$cbtfs" sync --json "$work/mnt/a.raw" "$target" "$@" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

clear=()
sealed=()
a_clears=()
a_sealeds=()
for ((r = 1; r <= rounds; r++)); do
  if [[ $only != archive ]]; then
    clear+=("$(secs "s3://bench/clear$r/a" --s3-endpoint "$endpoint")")
    sealed+=("$(secs "s3://bench/sealed$r/a" --s3-endpoint "$endpoint" --encrypt-key "$work/bench.key")")
  fi
  if [[ $only == archive || $r -eq $rounds ]]; then
    a_clears+=("$(secs "archive:$work/arch-clear$r")")
    a_sealeds+=("$(secs "archive:$work/arch-sealed$r" --encrypt-key "$work/bench.key")")
    rm -rf "$work/arch-clear$r" "$work/arch-sealed$r"
  fi
done

printf "full sync of %d MiB of random data through a mount; %s cores; load before: %s\n" \
  "$size_mib" "$(nproc)" "$load_before"
if [[ $only != archive ]]; then
  mc=$(median "${clear[@]}")
  ms=$(median "${sealed[@]}")
  printf "S3Proxy (filesystem) on loopback\n"
  printf "s3 clear:     %s s   median %.2f s (%.0f MiB/s)\n" "${clear[*]}" "$mc" "$(echo "$size_mib / $mc" | bc -l)"
  printf "s3 encrypted: %s s   median %.2f s (%.0f MiB/s)\n" "${sealed[*]}" "$ms" "$(echo "$size_mib / $ms" | bc -l)"
  printf "s3 encrypted/clear time: %.3fx\n" "$(echo "$ms / $mc" | bc -l)"
fi
a_clear=$(median "${a_clears[@]}")
a_sealed=$(median "${a_sealeds[@]}")
printf "archive clear %s s, encrypted %s s; medians %.2f s / %.2f s: %.3fx\n" "${a_clears[*]}" "${a_sealeds[*]}" \
  "$a_clear" "$a_sealed" "$(echo "$a_sealed / $a_clear" | bc -l)"
printf "load after: %s\n" "$(cut -d' ' -f1-3 /proc/loadavg)"
