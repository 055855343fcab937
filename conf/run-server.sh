#!/bin/sh
# The README's main-job command.  On a fresh Debian machine, as root: install
# what the build needs, build into build-run/, install into build-run/inst,
# and show what there is to run.  (Once imapd, lmtpd and pop3d exist this
# script starts a local server; later the whole local murder.)
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/install-deps.sh"
cd "$top"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
dir="$top/build-run"
mkdir -p "$dir"
(cd "$dir" && "$top/configure" -q --prefix="$dir/inst")
make -C "$dir" -j"$(nproc 2>/dev/null || echo 2)" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
make -C "$dir" install >>"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
echo
echo "Built and installed under $dir/inst:"
for p in "$dir"/inst/sbin/* "$dir"/inst/libexec/cyrus-murder/*; do
    [ -x "$p" ] || continue
    printf '  %-40s %s\n' "${p#$dir/inst/}" "$("$p" -V 2>&1 | head -n 1)"
done
