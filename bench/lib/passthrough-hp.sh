#!/usr/bin/env bash
# Builds libfuse 3's own C++ passthrough file system (example/passthrough_hp.cc) for the
# benchmarks only, against the installed libfuse 3, and prints the binary's path. Built once per
# libfuse version under /var/tmp. On failure prints one line saying why on stderr and exits 1.
#
# Debian 12 ships libfuse3-dev with the C examples but not passthrough_hp.cc (it needs the
# cxxopts.hpp beside it), so the source comes from the package's upstream tarball: `apt-get
# source` where deb-src is configured, else the same .orig tarball from the Debian archive.
# Needs libfuse3-dev and g++ (installed as root with apt-get when missing); no meson: one file.
set -euo pipefail
fail() { echo "passthrough_hp: $*" >&2; exit 1; }

if ! pkg-config --exists fuse3 2>/dev/null || ! command -v g++ >/dev/null; then
  [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null || fail "needs libfuse3-dev and g++"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends libfuse3-dev g++ pkg-config >/dev/null 2>&1 \
    || fail "apt-get could not install libfuse3-dev g++ pkg-config"
fi
version=$(pkg-config --modversion fuse3) || fail "no libfuse 3 found by pkg-config"
dir="/var/tmp/cbtfs-bench-passthrough_hp-$version"
bin="$dir/passthrough_hp"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/src.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tarball=""
if (cd "$tmp" && apt-get source -qq --download-only fuse3 >/dev/null 2>&1); then
  tarball=$(ls "$tmp"/fuse3_*.orig.tar.* 2>/dev/null | head -1)
fi
if [[ -z "$tarball" ]]; then
  url="https://deb.debian.org/debian/pool/main/f/fuse3/fuse3_$version.orig.tar.xz"
  curl -sfL --max-time 120 -o "$tmp/fuse3.orig.tar.xz" "$url" \
    || fail "no source for libfuse $version: apt-get source found no deb-src and $url did not download"
  tarball="$tmp/fuse3.orig.tar.xz"
fi
tar -xf "$tarball" -C "$tmp" --wildcards '*/example/passthrough_hp.cc' '*/example/cxxopts.hpp' \
  || fail "$tarball has no example/passthrough_hp.cc"
src=$(ls -d "$tmp"/*/example)
# shellcheck disable=SC2046 # pkg-config's flags are words
g++ -std=c++17 -O2 -o "$bin.new" "$src/passthrough_hp.cc" $(pkg-config --cflags --libs fuse3) \
  -lpthread 2>"$tmp/build.log" || { tail -3 "$tmp/build.log" >&2; fail "g++ failed"; }
mv "$bin.new" "$bin"
echo "$bin"
