# Sourced by the comparison scripts: a work folder under /var/tmp ($work), removed at exit with
# the cbtfs mount and the qemu-storage-daemon export made in it ($qsd_pid); drop() empties the
# page cache (as root). Argument: a name for the folder.
work="$(mktemp -d "/var/tmp/cbtfs-$1-bench.XXXXXX")"
qsd_pid=""
cleanup() {
  fusermount -u -z "$work/mnt" 2>/dev/null || true
  [[ -n "$qsd_pid" ]] && kill "$qsd_pid" 2>/dev/null || true
  fusermount -u -z "$work/qemu/export.img" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
