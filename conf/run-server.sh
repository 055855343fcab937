#!/bin/bash
# The README's main-job command: build, install into build-run/inst, and run
# a standalone server (master with imapd, pop3d and lmtpd) on loopback ports
# in a working directory, with a sasldb holding the admin `cyrus` and the
# users `alice` and `bob` (INBOXes created), and a self-signed certificate.
# It prints what listens where and client commands to paste, then stays up
# until Ctrl-C and stops every process it started.
#
#   bash conf/run-server.sh [--dir DIR] [--base-port N] [--no-build]
#
# Ports are N+143 (IMAP), N+993 (IMAPS), N+110 (POP3), N+995 (POP3S) and
# N+24 (LMTP over TCP, authenticated); LMTP also listens on DIR/lmtp.sock
# (trusted, as Cyrus trusts its unix socket).  Default N is 10000.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/build-run/server"
base=10000
build=yes
while [ $# -gt 0 ]; do
    case "$1" in
    --dir) dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --base-port) base=$2; shift 2 ;;
    --base-port=*) base=${1#--base-port=}; shift ;;
    --no-build) build=no; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 64 ;;
    esac
done
case "$base" in ''|*[!0-9]*) echo "--base-port takes a number" >&2; exit 64 ;; esac
if [ "$base" -lt 1024 ] || [ "$base" -gt 64000 ]; then
    echo "--base-port must be between 1024 and 64000" >&2; exit 64
fi

inst="$top/build-run/inst"
if [ "$build" = yes ]; then
    "$top/tests/install-deps.sh"
    cd "$top"
    autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
    mkdir -p "$top/build-run"
    (cd "$top/build-run" && "$top/configure" -q --prefix="$inst")
    echo "building (log: build-run/build.log) ..."
    make -C "$top/build-run" -j"$(nproc 2>/dev/null || echo 2)" >"$top/build-run/build.log" 2>&1 ||
        { tail -n 40 "$top/build-run/build.log"; exit 1; }
    make -C "$top/build-run" install >>"$top/build-run/build.log" 2>&1 ||
        { tail -n 40 "$top/build-run/build.log"; exit 1; }
fi
svc="$inst/libexec/cyrus-murder"
for p in "$inst/sbin/master" "$svc/imapd" "$svc/pop3d" "$svc/lmtpd"; do
    [ -x "$p" ] || { echo "missing $p: build first (drop --no-build)" >&2; exit 1; }
done

imap=$((base + 143)); imaps=$((base + 993)); pop3=$((base + 110))
pop3s=$((base + 995)); lmtp=$((base + 24))
for port in $imap $imaps $pop3 $pop3s $lmtp; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "port $port is in use: pick another --base-port" >&2; exit 1
    fi
done

# a fresh working directory
if [ -f "$dir/master.pid" ] && kill -0 "$(cat "$dir/master.pid")" 2>/dev/null; then
    echo "a server already runs from $dir (pid $(cat "$dir/master.pid"))" >&2; exit 1
fi
rm -rf "$dir"
mkdir -p "$dir/conf" "$dir/spool" "$dir/tmp"
servername=localhost
pass_admin=cyrus-admin-pw
pass_alice=alice-pw
pass_bob=bob-pw

# users: the SASL realm is the servername, as in Cyrus
for u in cyrus:$pass_admin alice:$pass_alice bob:$pass_bob; do
    printf '%s' "${u#*:}" | saslpasswd2 -p -c -f "$dir/sasldb2" -u "$servername" "${u%%:*}"
done

# a self-signed certificate for STARTTLS/STLS and the TLS ports
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$servername" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/conf/server.key" -out "$dir/conf/server.pem" >/dev/null 2>&1

cat >"$dir/imapd.conf" <<EOF
# standalone server made by conf/run-server.sh
configdirectory: $dir/conf
partition-default: $dir/spool
defaultpartition: default
servername: $servername
admins: cyrus
# loopback demo: plaintext logins allowed so simple clients work without TLS
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $dir/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: $dir/conf/server.pem
tls_server_key: $dir/conf/server.key
temp_path: $dir/tmp
EOF

cat >"$dir/cyrus.conf" <<EOF
# standalone server made by conf/run-server.sh
START {
  recover    cmd="ctl_cyrusdb -C $dir/imapd.conf -r"
}
SERVICES {
  imap       cmd="imapd -C $dir/imapd.conf" listen="127.0.0.1:$imap" prefork=2
  imaps      cmd="imapd -s -C $dir/imapd.conf" listen="127.0.0.1:$imaps" prefork=1
  pop3       cmd="pop3d -C $dir/imapd.conf" listen="127.0.0.1:$pop3" prefork=1
  pop3s      cmd="pop3d -s -C $dir/imapd.conf" listen="127.0.0.1:$pop3s" prefork=1
  lmtp       cmd="lmtpd -C $dir/imapd.conf" listen="127.0.0.1:$lmtp" prefork=1
  lmtpunix   cmd="lmtpd -C $dir/imapd.conf" listen="$dir/lmtp.sock" prefork=1
}
EVENTS {
  checkpoint cmd="ctl_cyrusdb -C $dir/imapd.conf -c" period=30
}
EOF

user_opt=""
if [ "$(id -u)" = 0 ]; then
    if ! id cyrus >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/cyrus --no-create-home \
            --shell /usr/sbin/nologin cyrus
    fi
    chown -R cyrus: "$dir"
    # the services run as cyrus: every directory above $dir must be searchable
    d=$dir
    while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
    chmod -R o+rX "$inst" 2>/dev/null || true
else
    user_opt="-u $(id -un)"
fi

CYRUS_LOG_STDERR=1 CYRUS_SERVICE_PATH="$svc" "$inst/sbin/master" -C "$dir/imapd.conf" -M "$dir/cyrus.conf" \
    -p "$dir/master.pid" $user_opt -D >"$dir/master.log" 2>&1 &
mpid=$!
stop() {
    trap - INT TERM EXIT
    if kill -0 "$mpid" 2>/dev/null; then
        echo; echo "stopping master (pid $mpid) ..."
        kill -TERM "$mpid" 2>/dev/null || true
        i=0
        while kill -0 "$mpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$mpid" 2>/dev/null || true
    fi
    wait "$mpid" 2>/dev/null || true
    echo "stopped; state kept in $dir"
}
trap stop INT TERM EXIT

i=0
until (exec 3<>/dev/tcp/127.0.0.1/$imap) 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$mpid" 2>/dev/null; then
        echo "master did not come up; its log:" >&2; cat "$dir/master.log" >&2; exit 1
    fi
    sleep 0.1
done

# INBOXes, created by the admin over IMAP as an administrator would
/usr/bin/python3 - "$imap" "$pass_admin" <<'EOF'
import imaplib, sys
port, pw = int(sys.argv[1]), sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m.login("cyrus", pw)
# the hierarchy separator: '/' with unixhierarchysep (the default), else '.'
typ, data = m.list('""', '""')
sep = data[0].split(b'"')[1].decode() if data and data[0] else "/"
for user in ("alice", "bob"):
    typ, data = m.create("user%s%s" % (sep, user))
    if typ != "OK":
        sys.exit("CREATE user%s%s failed: %r" % (sep, user, data))
m.logout()
EOF

cat <<EOF

A standalone server is running (master pid $mpid), state in $dir

  service   listens on                 notes
  imap      127.0.0.1:$imap            STARTTLS offered
  imaps     127.0.0.1:$imaps            TLS from the first byte
  pop3      127.0.0.1:$pop3            STLS offered
  pop3s     127.0.0.1:$pop3s            TLS from the first byte
  lmtp      127.0.0.1:$lmtp             AUTH required (as cyrus)
  lmtp      $dir/lmtp.sock  trusted

  users (sasldb $dir/sasldb2):
    cyrus / $pass_admin (admin)   alice / $pass_alice   bob / $pass_bob

Deliver a message to alice over LMTP (unix socket):
  python3 -c 'import smtplib; s=smtplib.LMTP("$dir/lmtp.sock"); s.sendmail("me@example.org", ["alice"], "Subject: hello\r\n\r\nHi Alice!\r\n"); s.quit()'

Read it over IMAP:
  python3 -c 'import imaplib; m=imaplib.IMAP4("127.0.0.1",$imap); m.starttls(); m.login("alice","$pass_alice"); m.select(); print(m.fetch("1:*","(FLAGS BODY.PEEK[])")); m.logout()'
  curl -s -u alice:$pass_alice 'imap://127.0.0.1:$imap/INBOX;UID=1'

Read it over POP3:
  python3 -c 'import poplib; p=poplib.POP3("127.0.0.1",$pop3); p.stls(); p.user("alice"); p.pass_("$pass_alice"); print(p.list()); print(b"\n".join(p.retr(1)[1]).decode()); p.quit()'

Administer:
  $inst/sbin/cyr_info -C $dir/imapd.conf conf
  $inst/sbin/quota -C $dir/imapd.conf

Press Ctrl-C to stop.
EOF
wait "$mpid"
