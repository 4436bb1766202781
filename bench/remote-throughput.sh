#!/usr/bin/env bash
# What TLS costs a remote sync, in one run on loopback: a full sync of a SIZE_GIB GiB image of
# random bytes to a local replica, to cbtfs receive over plain TCP (--insecure) and over TLS 1.3,
# each into a fresh receiver folder. Reports the sync time cbtfs measures (no JVM start).
# Usage: bench/remote-throughput.sh [SIZE_GIB]   (default 1)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-1}"
work="$(mktemp -d /var/tmp/cbtfs-remote-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
dd if=/dev/urandom of="$work/disk.img" bs=1M count=$((size_gib * 1024)) status=none
secs() { python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'; }
fresh() { rm -rf "$work/disk.img.state"; }
sync_to() { "$cbtfs" sync --full --json --state-dir "$work/state-$1" "$work/disk.img" "$2" | secs; }

mkdir -p "$work/local" "$work/plain" "$work/tls"
local_s=$(sync_to local "file:$work/local/disk.img")

"$cbtfs" receive --init --root "$work/plain" >/dev/null
"$cbtfs" receive --init --root "$work/tls" > "$work/tls.init"
pin=$(grep -o 'pin): [0-9a-f]*' "$work/tls.init" | cut -d' ' -f2)
"$cbtfs" receive --insecure --root "$work/plain" --listen 127.0.0.1:17451 > "$work/plain.log" 2>&1 &
pids+=($!)
"$cbtfs" receive --root "$work/tls" --listen 127.0.0.1:17452 > "$work/tls.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "receiving on" "$work/plain.log" "$work/tls.log" 2>/dev/null \
  && [[ $(grep -l "receiving on" "$work/plain.log" "$work/tls.log" | wc -l) == 2 ]] && break; sleep 0.1; done
plain_s=$(sync_to plain "cbtfs://127.0.0.1:17451/vm?insecure&token-file=$work/plain/.cbtfs-receiver/token")
tls_s=$(sync_to tls "cbtfs://127.0.0.1:17452/vm?pin=$pin&token-file=$work/tls/.cbtfs-receiver/token")
cmp "$work/disk.img" "$work/tls/vm.img"
python3 - "$size_gib" "$local_s" "$plain_s" "$tls_s" <<'PY'
import sys
g, l, p, t = int(sys.argv[1]), *map(float, sys.argv[2:])
mib = g * 1024
print(f"full sync of {g} GiB of random data on loopback (sync time as cbtfs reports it):")
print(f"| target | seconds | MiB/s |\n|---|---|---|")
print(f"| local replica (file:) | {l:.2f} | {mib/l:.0f} |")
print(f"| receiver, plain TCP (--insecure) | {p:.2f} | {mib/p:.0f} |")
print(f"| receiver, TLS 1.3 | {t:.2f} | {mib/t:.0f} |")
print(f"TLS costs {100*(t/p-1):.0f}% against plain (goal: at most 30%)")
PY
