#!/bin/sh
# bench/store/run.sh: run the mail store benchmark on a temporary directory.
#
#   bench/store/run.sh [BUILDDIR] [bench_store options...]
#
# Builds nothing: it runs BUILDDIR/bench/store/bench_store (BUILDDIR
# defaults to the current directory; BENCH_STORE=path overrides the binary)
# in a fresh directory under ${BENCH_DIR:-${TMPDIR:-/tmp}}, which must be on
# the disk to be measured, and removes it afterwards.  The program measures
# the disk's fsync and create+write+fsync+rename rates in the same run and
# prints the mailbox figures as fractions of them.  Options are passed on
# (-n messages, -s size, -b batch, -c appenders, -t seconds, -o opens).
set -eu
builddir=.
if [ $# -gt 0 ] && [ -d "$1" ]; then builddir=$1; shift; fi
bin=${BENCH_STORE:-$builddir/bench/store/bench_store}
if [ ! -x "$bin" ]; then
    echo "run.sh: $bin not found: build it first (make bench/store/bench_store)" >&2
    exit 2
fi
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
dir=$(mktemp -d "$base/bench-store.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
echo "filesystem: $(df -PT "$dir" | awk 'NR==2 {print $1, $2}')"
"$bin" -d "$dir" "$@"
