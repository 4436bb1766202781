# Sourced by the comparison scripts: a work folder under /var/tmp ($work), removed at exit with
# the cbtfs mount, the qemu-storage-daemon export made in it ($qsd_pid), S3Proxy (s3proxy.sh's
# $s3pid) and any other mount points and processes the script lists in $extra_mounts and
# $extra_pids; drop() empties the page cache (as root). Argument: a name for the folder.
work="$(mktemp -d "/var/tmp/cbtfs-$1-bench.XXXXXX")"
qsd_pid=""
extra_mounts=()
extra_pids=()
cleanup() {
  local m p
  for m in "$work/mnt" "${extra_mounts[@]}"; do
    fusermount -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  for p in $qsd_pid ${s3pid:-} "${extra_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  fusermount -u -z "$work/qemu/export.img" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
