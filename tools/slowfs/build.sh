#!/bin/sh
# Build slowfs3 (the libfuse3 C twin of slowfs.py): tools/slowfs/build.sh [OUTPUT]
# Needs a C compiler, pkg-config and libfuse3's headers (Debian: gcc pkg-config libfuse3-dev).
# Default output: tools/slowfs/bin/slowfs3 (git-ignored). slowfs.py runs this on demand.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/bin/slowfs3"}
cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || { echo "build.sh: no C compiler ($cc)" >&2; exit 3; }
command -v pkg-config >/dev/null 2>&1 || { echo "build.sh: pkg-config is missing" >&2; exit 3; }
pkg-config --exists fuse3 || { echo "build.sh: libfuse3 headers missing (libfuse3-dev)" >&2; exit 3; }
# libfuse >= 3.12 has the loop config with a thread limit; 3.2-3.11 the older struct.
api=312
pkg-config --atleast-version=3.12 fuse3 || api=32
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# shellcheck disable=SC2046 # pkg-config's flags are meant to be split
"$cc" -O2 -Wall -Wextra -DFUSE_USE_VERSION=$api -o "$tmp" "$here/slowfs3.c" \
  $(pkg-config --cflags --libs fuse3) -lpthread
mv -f "$tmp" "$out"
