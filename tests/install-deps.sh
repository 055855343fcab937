#!/bin/sh
# Install the Debian packages the build and the tests need, when missing.
# Used by both of the README's commands; safe to run again.
set -e
PKGS="build-essential autoconf automake pkg-config libsasl2-dev libsasl2-modules
sasl2-bin libssl-dev openssl libdb-dev db-util zlib1g-dev libcunit1-dev libedit-dev
python3 python3-pytest isync"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run as root, or: sudo apt-get install -y$missing)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing || { apt-get update -q && apt-get install -y -q $missing; }
