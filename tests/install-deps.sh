#!/bin/sh
# Install the Debian packages the build and the tests need, when missing.
# Used by both of the README's commands; safe to run again.
set -e
PKGS="build-essential autoconf automake pkg-config libsasl2-dev libsasl2-modules
sasl2-bin libssl-dev openssl libdb-dev db-util zlib1g-dev libcunit1-dev libedit-dev
python3 python3-pytest isync"
# Cyrus's own clients (imtest, pop3test, lmtptest, mupdatetest) and admin
# shell (cyradm), driven against our daemons by tests/test_cyrus_clients.py.
# They depend on cyrus-common, which carries Debian's Cyrus service: that
# service is kept from starting during the installation and disabled after.
CLIENT_PKGS="cyrus-clients cyrus-admin"

missing_of() {
    out=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || out="$out $p"
    done
    echo "$out"
}

# shellcheck disable=SC2086
missing=$(missing_of $PKGS)
# shellcheck disable=SC2086
missing_clients=$(missing_of $CLIENT_PKGS)
[ -z "$missing$missing_clients" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    if [ -z "$missing" ]; then
        # the build and most tests can do without them
        echo "note: without$missing_clients the tests of Cyrus's clients skip" \
             "(as root: tests/install-deps.sh)" >&2
        exit 0
    fi
    echo "missing Debian packages:$missing$missing_clients" \
         "(run as root, or: sudo apt-get install -y$missing$missing_clients)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

apt_install() {
    # shellcheck disable=SC2068
    apt-get install -y -q $@ || { apt-get update -q && apt-get install -y -q $@; }
}

if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt_install $missing
fi

if [ -n "$missing_clients" ]; then
    echo "installing:$missing_clients (Debian's Cyrus service is not started)"
    policy=/usr/sbin/policy-rc.d
    made_policy=no
    if [ ! -e "$policy" ]; then
        # invoke-rc.d and deb-systemd-invoke ask this script; 101 = "do not"
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=yes
    fi
    status=0
    apt_install --no-install-recommends $missing_clients || status=$?
    [ "$made_policy" = yes ] && rm -f "$policy"
    [ "$status" = 0 ] || exit "$status"
    # nor at the next boot
    if [ -x /etc/init.d/cyrus-imapd ]; then
        update-rc.d cyrus-imapd disable >/dev/null 2>&1 || true
    fi
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper disable cyrus-imapd.service >/dev/null 2>&1 || true
    fi
fi

# Debian's master must not be running (it would hold the standard ports)
if [ -r /run/cyrus-master.pid ]; then
    pid=$(cat /run/cyrus-master.pid)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
       grep -q cyrmaster "/proc/$pid/cmdline" 2>/dev/null; then
        echo "stopping Debian's Cyrus master (pid $pid)"
        kill "$pid" || true
    fi
fi
exit 0
