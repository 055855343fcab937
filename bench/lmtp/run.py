#!/usr/bin/python3
"""bench/lmtp/run.py: LMTP delivery throughput of lmtpd, measured against the
disk in the same run (and against Cyrus's lmtpd when it can be run).

    bench/lmtp/run.py [--builddir DIR] [--dir DIR] [--messages N] [--mix N]
                      [--connections C] [--users U] [--cyrus auto|DIR|no]

Workloads, each over C concurrent LMTP connections (unix socket, pipelined
MAIL/RCPT/DATA, one transaction at a time per connection), every message
with its own Message-ID, recipients drawn at random from U users:
    4k-1      N messages of 4 KiB, 1 recipient
    mix-1     --mix messages of 1 KiB .. 1 MiB (log-uniform), 1 recipient
    4k-10     N/10 messages of 4 KiB, 10 recipients
    mix-10    --mix/10 messages of 1 KiB .. 1 MiB, 10 recipients
For each: messages/s, recipients (deliveries)/s, median and 99th percentile
latency of a transaction, and messages/s as a fraction of the disk's rate
of 4 KiB create+write+fsync+rename (measured in DIR before each workload
and at the end; the mean is used).

With --cyrus auto (the default) Debian's cyrus-imapd is unpacked with
apt-get download + dpkg -x into a temporary directory (never installed) and
its lmtpd runs the same workloads, taking turns with ours on each one so
that both see the same disk; its figures and our ratio to them are
printed.  --cyrus DIR uses a tree unpacked before (DIR/usr/lib/cyrus/bin);
--cyrus no skips it.  Targets: 4k-1 >= 1.5 x Cyrus; 4k-10 deliveries/s >=
Cyrus's.

Run it as root (master drops to the `cyrus` user) or as the user the
daemons should run as.  DIR (default $TMPDIR or /tmp) must be on the disk
to measure.
"""

import argparse
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests"))

import lmtpd_fixtures as lf  # noqa: E402
import util  # noqa: E402


# ---- the disk --------------------------------------------------------------

def disk_rate(d, seconds=2.0, size=4096):
    """4 KiB create + write + fsync + rename per second in directory d."""
    data = os.urandom(size)
    n = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        tmp = os.path.join(d, "t.%d" % n)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(d, "f.%d" % n))
        n += 1
    rate = n / (time.monotonic() - start)
    for i in range(n):
        os.unlink(os.path.join(d, "f.%d" % i))
    return rate


# ---- the client ------------------------------------------------------------

class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(120)
        self.s.connect(path)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return int(line[:3])

    def send(self, data):
        self.s.sendall(data)


def body_of(size):
    line = b"x" * 70 + b"\r\n"
    return line * max(1, size // len(line))


def message(n, size, run):
    head = (b"From: bench@example.net\r\nTo: users@example.org\r\n"
            b"Subject: bench %d\r\nMessage-ID: <%s.%d@bench.example>\r\n\r\n"
            % (n, run.encode(), n))
    return head + body_of(max(0, size - len(head)))


def mix_size(rnd):
    return int(math.exp(rnd.uniform(math.log(1024), math.log(1024 * 1024))))


def run_workload(sock, users, count, nrcpt, sizes, connections, tag):
    """Deliver `count` messages; returns (seconds, latencies, failures)."""
    lock = threading.Lock()
    state = {"next": 0, "fail": 0}
    lat = []

    def worker(wid):
        rnd = random.Random(wid * 7919 + nrcpt)
        c = Conn(sock)
        assert c.reply() == 220
        c.send(b"LHLO bench.example\r\n")
        assert c.reply() == 250
        mine = []
        while True:
            with lock:
                n = state["next"]
                if n >= count:
                    break
                state["next"] = n + 1
            rcpts = rnd.sample(users, nrcpt)
            msg = message(n, sizes(rnd), tag)
            cmd = b"MAIL FROM:<bench@example.net>\r\n"
            cmd += b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts)
            t0 = time.monotonic()
            c.send(cmd + b"DATA\r\n")
            ok = c.reply() == 250
            accepted = sum(1 for _ in rcpts if c.reply() == 250)
            if c.reply() != 354:
                raise RuntimeError("DATA refused")
            c.send(msg + b"\r\n.\r\n")
            for _ in range(accepted):
                ok = c.reply() == 250 and ok
            mine.append(time.monotonic() - t0)
            if not ok or accepted != nrcpt:
                with lock:
                    state["fail"] += 1
        c.send(b"QUIT\r\n")
        c.reply()
        c.s.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, sorted(lat), state["fail"]


def workloads(args):
    n, m = args.messages, args.mix
    four = lambda rnd: 4096  # noqa: E731
    all_ = [("4k-1", n, 1, four), ("mix-1", m, 1, mix_size),
            ("4k-10", max(1, n // 10), 10, four), ("mix-10", max(1, m // 10), 10, mix_size)]
    if args.only:
        keep = args.only.split(",")
        all_ = [w for w in all_ if w[0] in keep]
    return all_


def figures(count, nrcpt, secs, lat, fails):
    return {"msgs": count / secs, "rcpts": count * nrcpt / secs,
            "p50": lat[len(lat) // 2] * 1000,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, "fail": fails}


# ---- our lmtpd ---------------------------------------------------------------

class Ours:
    name = "ours"

    def __init__(self, args, base, users):
        if args.builddir:
            os.environ["CYRUS_BUILDDIR"] = os.path.abspath(args.builddir)
        self.users = users
        self.partdir = tempfile.mkdtemp(prefix="bench-lmtp-", dir=base)
        os.chmod(self.partdir, 0o755)
        for n in ("default", "tmp"):
            os.mkdir(os.path.join(self.partdir, n))
        lf.chown_tree(self.partdir)
        self.sock = os.path.join(self.partdir, "lmtp.sock")
        svc = util.Service("lmtpunix", "lmtpd", listen=self.sock, prefork=args.connections)
        opts = {"servername": "bench.example",
                "partition-default": os.path.join(self.partdir, "default"),
                "temp_path": os.path.join(self.partdir, "tmp"), "unixhierarchysep": "no"}
        opts.update(kv.split("=", 1) for kv in args.option)
        self.m = util.Master(services=[svc], imapd_options=opts)

    def start(self):
        self.m.start()
        lf.Store(self.m.imapd_conf).run("mkmany", "user.u", len(self.users))
        util.wait_until(lambda: lf.unix_socket_ok(self.sock), 10, what="lmtpd socket")

    def stop(self):
        self.m.stop(check=False)
        self.m.cleanup()
        shutil.rmtree(self.partdir, ignore_errors=True)


# ---- Cyrus's lmtpd -------------------------------------------------------------

# cyrus-common's libraries need these, which Debian 12 does not have by
# default; they are unpacked beside it
CYRUS_PACKAGES = ["cyrus-imapd", "cyrus-common", "libwrap0", "libical3", "libxapian30"]


def unpack_cyrus(base):
    d = tempfile.mkdtemp(prefix="cyrus-ref-", dir=base)
    os.chmod(d, 0o755)
    for p in CYRUS_PACKAGES:
        r = subprocess.run(["apt-get", "download", p], cwd=d, capture_output=True, text=True)
        if r.returncode:
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("apt-get download %s: %s" % (p, r.stderr.strip()[-300:]))
    for deb in os.listdir(d):
        if deb.endswith(".deb"):
            subprocess.run(["dpkg", "-x", deb, "root"], cwd=d, check=True)
    return os.path.join(d, "root")


class Cyrus:
    """Debian's Cyrus 3.6 lmtpd under its own master, on a unix socket."""
    name = "cyrus"

    def __init__(self, args, base, users):
        self.users = users
        self.tmp_root = None
        root = args.cyrus
        if root == "auto":
            root = self.tmp_root = unpack_cyrus(base)
        bindir = os.path.join(root, "usr/lib/cyrus/bin")
        self.master = os.path.join(root, "usr/sbin/cyrmaster")
        if not os.path.exists(self.master):
            raise RuntimeError("no cyrmaster under %s" % root)
        self.env = dict(os.environ)
        libdirs = [os.path.join(root, p) for p in ("usr/lib/x86_64-linux-gnu",
                                                   "lib/x86_64-linux-gnu", "usr/lib")]
        self.env["LD_LIBRARY_PATH"] = ":".join(libdirs + [self.env.get("LD_LIBRARY_PATH", "")])
        r = subprocess.run([os.path.join(bindir, "lmtpd"), "-h"], env=self.env,
                           capture_output=True, text=True)
        if "error while loading shared libraries" in r.stderr:
            raise RuntimeError("Cyrus lmtpd cannot run here: " + r.stderr.strip()[-200:])
        d = self.dir = tempfile.mkdtemp(prefix="bench-cyrus-", dir=base)
        os.chmod(d, 0o755)
        for n in ("conf", "conf/socket", "conf/proc", "conf/db", "part", "tmp"):
            os.makedirs(os.path.join(d, n), exist_ok=True)
        self.conf = os.path.join(d, "imapd.conf")
        self.sock = os.path.join(d, "conf/socket/lmtp")
        # the INBOXes are created by a first delivery (autocreate_post), one
        # user at a time in start()
        with open(self.conf, "w") as f:
            f.write("configdirectory: %s\npartition-default: %s\nservername: bench.example\n"
                    "lmtpsocket: %s\nadmins: cyrus\nunixhierarchysep: no\n"
                    "delete_mode: immediate\ntemp_path: %s\n"
                    "autocreate_post: yes\nautocreate_quota: 0\n"
                    % (os.path.join(d, "conf"), os.path.join(d, "part"), self.sock,
                       os.path.join(d, "tmp")))
        self.cyrus_conf = os.path.join(d, "cyrus.conf")
        with open(self.cyrus_conf, "w") as f:
            f.write('START {\n  recover cmd="%s/ctl_cyrusdb -C %s -r"\n}\n'
                    'SERVICES {\n  lmtpunix cmd="%s/lmtpd -C %s" listen="%s" prefork=%d\n}\n'
                    'EVENTS {\n}\n' % (bindir, self.conf, bindir, self.conf, self.sock,
                                        args.connections))
        lf.chown_tree(d)
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "master.log"), "wb")
        cmd = [self.master, "-D", "-C", self.conf, "-M", self.cyrus_conf, "-p",
               os.path.join(self.dir, "master.pid")]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        util.wait_until(lambda: lf.unix_socket_ok(self.sock), 20, what="Cyrus lmtpd socket")
        # one delivery per user, one after the other (autocreate; the first
        # concurrent deliveries may race on the staging directory)
        c = Conn(self.sock)
        assert c.reply() == 220
        c.send(b"LHLO bench.example\r\n")
        assert c.reply() == 250
        for u in self.users:
            c.send(b"MAIL FROM:<bench@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" % u.encode())
            assert c.reply() == 250
            if c.reply() != 250:
                raise RuntimeError("Cyrus refused %s" % u)
            assert c.reply() == 354
            c.send(message(0, 1024, "warm-" + u) + b"\r\n.\r\n")
            assert c.reply() == 250
        c.send(b"QUIT\r\n")
        c.s.close()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.tmp_root:
            shutil.rmtree(os.path.dirname(self.tmp_root), ignore_errors=True)


# ---- main ------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir")
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--mix", type=int, default=2000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--cyrus", default="auto")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="an imapd.conf option for our lmtpd (repeatable)")
    ap.add_argument("--only", help="run only these workloads (comma separated)")
    args = ap.parse_args()

    users = ["u%d" % i for i in range(args.users)]
    servers = []
    diskdir = tempfile.mkdtemp(prefix="bench-disk-", dir=args.dir)
    res = {}
    disk = []
    try:
        fs = subprocess.run(["df", "-PT", diskdir], capture_output=True, text=True).stdout
        print("filesystem: %s" % " ".join(fs.splitlines()[-1].split()[:2]))
        ours = Ours(args, args.dir, users)
        servers.append(ours)
        ours.start()
        if args.cyrus != "no":
            try:
                cy = Cyrus(args, args.dir, users)
                servers.append(cy)
                cy.start()
            except Exception as e:   # the reference is optional
                print("cyrus: not run (%s)" % e)
                if servers[-1].name == "cyrus":
                    servers.pop().stop()
        # the servers take turns on each workload, so that both see the
        # same disk (its rate drifts when the machine is shared)
        for tag, count, nrcpt, sizes in workloads(args):
            rate = disk_rate(diskdir)
            disk.append(rate)
            print("disk: 4 KiB create+write+fsync+rename: %.0f/s" % rate, flush=True)
            for srv in servers:
                secs, lat, fails = run_workload(srv.sock, users, count, nrcpt, sizes,
                                                args.connections,
                                                "%s-%s-%d" % (srv.name, tag, os.getpid()))
                f = res.setdefault(srv.name, {})[tag] = figures(count, nrcpt, secs, lat, fails)
                print("  %-6s %-7s %8.0f msg/s %8.0f rcpt/s  p50 %6.1f ms  p99 %7.1f ms%s"
                      % (srv.name, tag, f["msgs"], f["rcpts"], f["p50"], f["p99"],
                         "  FAILED %d" % fails if fails else ""), flush=True)
        rate = disk_rate(diskdir)
        disk.append(rate)
        print("disk: 4 KiB create+write+fsync+rename: %.0f/s" % rate)
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(diskdir, ignore_errors=True)
    mean = sum(disk) / len(disk)
    ours_r, ref = res.get("ours", {}), res.get("cyrus")
    print("\nresults (disk: mean %.0f/s, from %.0f to %.0f):" % (mean, min(disk), max(disk)))
    for tag, f in ours_r.items():
        line = "  %-6s  %7.0f msg/s  %7.0f rcpt/s  = %.2f x disk" % (
            tag, f["msgs"], f["rcpts"], f["msgs"] / mean)
        if ref and tag in ref:
            line += "   cyrus %7.0f msg/s %7.0f rcpt/s  ratio %.2f" % (
                ref[tag]["msgs"], ref[tag]["rcpts"], f["msgs"] / ref[tag]["msgs"])
        print(line)
    if ref and "4k-1" in ref and "4k-10" in ref:
        ok1 = ours_r["4k-1"]["msgs"] >= 1.5 * ref["4k-1"]["msgs"]
        ok10 = ours_r["4k-10"]["rcpts"] >= ref["4k-10"]["rcpts"]
        print("targets: 4k-1 >= 1.5 x Cyrus: %s; 4k-10 >= Cyrus: %s"
              % ("met" if ok1 else "NOT met", "met" if ok10 else "NOT met"))
    failed = sum(f["fail"] for r in res.values() for f in r.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
