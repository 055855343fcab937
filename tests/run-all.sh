#!/bin/sh
# Build and run every test: the CUnit suites and the pytest integration tests,
# once in a -Werror build and once in an ASan+UBSan build.
#   tests/run-all.sh [--fast]     (--fast: skip the sanitizer pass)
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/install-deps.sh"
jobs=$(nproc 2>/dev/null || echo 2)
fast=no
[ "${1:-}" = "--fast" ] && fast=yes

# the daemons drop privileges to this user when started as root
if [ "$(id -u)" = 0 ] && ! id cyrus >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/cyrus --no-create-home \
        --shell /usr/sbin/nologin cyrus
fi

cd "$top"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

run_pass() {
    name=$1; shift
    if [ "$name" = asan ]; then
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    else
        unset ASAN_OPTIONS UBSAN_OPTIONS
    fi
    dir="$top/build-$name"
    echo "=== [$name] configure $*"
    mkdir -p "$dir"
    (cd "$dir" && "$top/configure" -q --enable-werror "$@")
    echo "=== [$name] build"
    make -C "$dir" -j"$jobs" all >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
    echo "=== [$name] unit tests (CUnit)"
    if ! make -C "$dir" -j"$jobs" check >"$dir/check.log" 2>&1; then
        cat "$dir/check.log"
        [ -f "$dir/test-suite.log" ] && cat "$dir/test-suite.log"
        exit 1
    fi
    grep -E "^(PASS|FAIL|ERROR|SKIP|# )" "$dir/check.log" || true
    if [ -d "$top/tests" ] && ls "$top"/tests/test_*.py >/dev/null 2>&1; then
        echo "=== [$name] integration tests (pytest)"
        CYRUS_BUILDDIR="$dir" /usr/bin/python3 -m pytest -q -p no:cacheprovider "$top/tests"
    fi
}

if [ "$fast" = no ]; then
    run_pass asan --enable-sanitizers
fi
run_pass werror
