#!/usr/bin/env bash
# Resume of a cut cbtfs:// transfer (issue #23): a full sync of a SIZE_GIB GiB image of random
# bytes to cbtfs receive (TLS, loopback) is cut at 25%, 50% and 90% of the delta, by kill -9 of
# the receiver or of the sender, and the next sync resumes it. For each cut: the bytes the
# receiver had kept (its .cbtfs-resume part), the bytes the resumed sync sent (its wireBytes), and
# whether that is at most the remainder plus one window (a 1 MiB record, the sender's 1 MiB frame
# buffer, the receiver's 1 MiB keep buffer). The replica is compared with the image each time.
# Usage: bench/resume.sh [SIZE_GIB]   (default 2)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
size_gib="${1:-2}"
work="$(mktemp -d /var/tmp/cbtfs-resume-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cbtfs="$root/bin/cbtfs"
"$cbtfs" --version >/dev/null
image_bytes=$((size_gib << 30))
window=$((3 << 20))
dd if=/dev/urandom of="$work/disk.img" bs=1M count=$((size_gib * 1024)) status=none
"$cbtfs" receive --init --root "$work/recv" > "$work/init"
pin=$(grep -o 'pin): [0-9a-f]*' "$work/init" | cut -d' ' -f2)
port=17461
uri="cbtfs://127.0.0.1:$port/vm?pin=$pin&token-file=$work/recv/.cbtfs-receiver/token"
receiver=""
start_receiver() {
  : > "$work/recv.log"
  "$cbtfs" receive --root "$work/recv" --listen "127.0.0.1:$port" >> "$work/recv.log" 2>&1 &
  receiver=$!
  pids+=("$receiver")
  for _ in $(seq 300); do grep -q "receiving on" "$work/recv.log" && return; sleep 0.1; done
  echo "receiver did not start" >&2; exit 1
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
part="$work/recv/.vm.img.cbtfs-resume.part"
kept="$work/recv/.vm.img.cbtfs-resume"

echo "| cut at | killed | kept by the receiver | resumed sync sent | remainder + window | within | seconds |"
echo "|---|---|---|---|---|---|---|"
for who in receiver sender; do
  for pct in 25 50 90; do
    rm -rf "$work/state" "$work/recv/vm.img" "$work/recv"/.vm.img.cbtfs-* # a new image each time
    start_receiver
    "$cbtfs" sync --json --state-dir "$work/state" "$work/disk.img" "$uri" > /dev/null 2>&1 &
    sender=$!
    pids+=("$sender")
    want=$((image_bytes * pct / 100))
    while kill -0 "$sender" 2>/dev/null && [[ $(stat -c %s "$part" 2>/dev/null || echo 0) -lt $want ]]; do
      sleep 0.01
    done
    if [[ $who == receiver ]]; then kill -9 "$receiver"; else kill -9 "$sender"; fi
    wait "$sender" 2>/dev/null || true
    if [[ $who == sender ]]; then
      for _ in $(seq 600); do [[ -f $part ]] || break; sleep 0.05; done # the receiver keeps it
      kill -9 "$receiver"; wait "$receiver" 2>/dev/null || true
      have=$(stat -c %s "$kept")
    else
      wait "$receiver" 2>/dev/null || true
      have=$(stat -c %s "$part")
    fi
    start_receiver
    report=$("$cbtfs" sync --json --state-dir "$work/state" "$work/disk.img" "$uri")
    sent=$(json wireBytes <<< "$report")
    secs=$(json seconds <<< "$report")
    cmp "$work/disk.img" "$work/recv/vm.img"
    bound=$((image_bytes - have + window))
    ok=$([[ $sent -le $bound ]] && echo yes || echo NO)
    printf '| %d%% | %s | %d MiB | %d MiB (%d bytes) | %d MiB | %s | %s |\n' "$pct" "$who" \
      $((have >> 20)) $((sent >> 20)) "$sent" $((bound >> 20)) "$ok" "$secs"
    kill -9 "$receiver"; wait "$receiver" 2>/dev/null || true
  done
done
