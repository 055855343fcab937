"""What a benchmarked server instance is, whichever implementation runs it:
a private directory with imapd.conf, cyrus.conf, a sasldb holding the admin
and the users, a spool, and a master process supervising imapd, pop3d and
lmtpd on free ports of 127.0.0.1 (LMTP also on a unix socket).

Subclasses (cyrusref.CyrusInstance: Debian's Cyrus 3.6.1, the reference;
ourserver.OurInstance: this project's programs) say only how their programs
are named and started; everything else, including the configuration, is
the same for both, so that a benchmark compares like with like.

Life cycle:
    inst = OurInstance(users=["alice", "bob"])   # nothing runs yet
    inst.start()            # configs, sasldb, master, ports up, INBOXes
    ...                     # inst.imap_port, inst.lmtp_port, inst.lmtp_socket,
                            # inst.admin, inst.admin_password, inst.password(u)
    inst.stop()             # master and every process seen under it, by pid
Or as a context manager.  start() raises InstanceError (with master's log
tail) when the server does not come up; stop() never raises and is also
run at interpreter exit for every instance still running (atexit), and on
SIGTERM/SIGHUP once install_signal_handlers() was called.

Processes are ended only by pid: master with SIGTERM (then SIGKILL after a
grace period), then every descendant of it that was seen while it ran and
still lives with the same start time.
"""

import atexit
import base64
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

SERVICE_USER = "cyrus"
SERVERNAME = "localhost"
HOST = "127.0.0.1"


class InstanceError(RuntimeError):
    """A server that could not be set up or did not come up."""


# ---- small helpers ---------------------------------------------------------

def is_root():
    return os.geteuid() == 0


def ensure_service_user():
    """As root: the `cyrus` system user, created when missing."""
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir",
                        "/var/lib/cyrus", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SERVICE_USER], check=True)
        return pwd.getpwnam(SERVICE_USER)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            # wait for the greeting, so that the service really answers
            s.settimeout(5)
            return bool(s.recv(1))
    except OSError:
        return False


def unix_open(path):
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            return bool(s.recv(1))
    except OSError:
        return False


def _proc_stat(pid):
    """(ppid, starttime, state) of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[19]), rest[0]


def _all_stats():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st:
                out[int(name)] = st
    return out


def descendants(pid):
    """{pid: starttime} of the live descendants of pid."""
    stats = _all_stats()
    kids = {}
    for p, (ppid, start, state) in stats.items():
        kids.setdefault(ppid, []).append((p, start, state))
    found, todo = {}, [pid]
    while todo:
        for p, start, state in kids.get(todo.pop(), []):
            if state != "Z" and p not in found:
                found[p] = start
                todo.append(p)
    return found


def _alive_as(pid, starttime):
    st = _proc_stat(pid)
    return st is not None and st[1] == starttime and st[2] != "Z"


def others_can_reach(path):
    """Every directory above path is searchable by anyone."""
    d = os.path.abspath(path)
    while True:
        if not os.stat(d).st_mode & 0o001:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def make_sasldb(path, realm, users):
    """A sasldb at `path` holding users {name: password} in `realm`."""
    exe = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not os.path.exists(exe):
        raise InstanceError("saslpasswd2 not found: apt-get install sasl2-bin")
    for name, pw in users.items():
        r = subprocess.run([exe, "-p", "-c", "-f", path, "-u", realm, name],
                           input=pw.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise InstanceError("saslpasswd2 %s: %s" % (name, r.stdout.decode(errors="replace")))


# ---- cleanup on exit -------------------------------------------------------

_running = []
_running_lock = threading.Lock()


def stop_all():
    """Stop every instance still running (registered with atexit)."""
    with _running_lock:
        insts = list(_running)
    for inst in reversed(insts):
        inst.stop()


atexit.register(stop_all)


def install_signal_handlers():
    """Turn SIGTERM and SIGHUP into SystemExit, so that try/finally and
    atexit stop the servers when a benchmark is killed politely.  Call from
    the main thread of a benchmark script."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


# ---- the instance ----------------------------------------------------------

class Instance:
    """Base class; see the module's docstring.  Subclasses define `kind`,
    `label`, prepare(), program_cmd(), master_command(), environment()."""

    kind = "base"
    label = "server"

    def __init__(self, users=("alice", "bob"), basedir=None, options=None,
                 prefork=None, extra_services=None, keep=False, name=None,
                 start_timeout=30.0):
        """users: INBOXes to create (password: <user>-pw);
        basedir: where the instance directory is made (default $BENCH_DIR
        or /var/tmp: it must be on the disk under test);
        options: imapd.conf options added to or replacing the defaults;
        prefork: {service: n} (services imap, pop3, lmtp, lmtpunix);
        extra_services: cyrus.conf SERVICES lines (text, after the others;
        use {conf} for the imapd.conf path and program_cmd() for commands);
        keep: leave the directory behind after stop()."""
        self.users = list(users)
        self.basedir = os.path.abspath(basedir or os.environ.get("BENCH_DIR") or "/var/tmp")
        self.options = dict(options or {})
        self.prefork = {"imap": 1, "pop3": 1, "lmtp": 1, "lmtpunix": 1}
        self.prefork.update(prefork or {})
        self.extra_services = list(extra_services or [])
        self.keep = keep
        self.name = name or self.kind
        self.start_timeout = start_timeout
        self.admin = "cyrus"
        self.admin_password = "admin-pw"
        self.dir = None
        self.proc = None
        self.seen = {}
        self._log = None
        self.imap_port = self.pop3_port = self.lmtp_port = None
        self.lmtp_socket = None

    # -- what subclasses provide --

    def prepare(self):
        """Check that the programs exist; raise InstanceError if not."""

    def program_cmd(self, program, args=""):
        """A cyrus.conf cmd= value running `program` with -C imapd.conf."""
        raise NotImplementedError

    def master_command(self):
        raise NotImplementedError

    def environment(self):
        return dict(os.environ)

    def version(self):
        return "?"

    # -- configuration --

    def password(self, user):
        return "%s-pw" % user

    def path(self, *names):
        return os.path.join(self.dir, *names)

    @property
    def imapd_conf(self):
        return self.path("imapd.conf")

    @property
    def cyrus_conf(self):
        return self.path("cyrus.conf")

    def base_options(self):
        return {
            "configdirectory": self.path("conf"),
            "partition-default": self.path("spool"),
            "defaultpartition": "default",
            "servername": SERVERNAME,
            "admins": self.admin,
            "allowplaintext": "yes",
            "sasl_pwcheck_method": "auxprop",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": self.path("sasldb2"),
            "sasl_mech_list": "PLAIN LOGIN",
            "delete_mode": "immediate",
            "unixhierarchysep": "no",
            "altnamespace": "no",
            "temp_path": self.path("tmp"),
        }

    def write_imapd_conf(self):
        opts = self.base_options()
        opts.update(self.options)
        with open(self.imapd_conf, "w") as f:
            f.write("# %s instance made by bench/lib\n" % self.label)
            for k, v in opts.items():
                if v is not None:
                    f.write("%s: %s\n" % (k, v))

    def write_cyrus_conf(self):
        c = self.imapd_conf
        lines = ["# %s instance made by bench/lib" % self.label,
                 "START {",
                 '  recover cmd="%s"' % self.program_cmd("ctl_cyrusdb", "-r"),
                 "}", "SERVICES {"]
        for name, prog, listen in (
                ("imap", "imapd", "%s:%d" % (HOST, self.imap_port)),
                ("pop3", "pop3d", "%s:%d" % (HOST, self.pop3_port)),
                ("lmtp", "lmtpd", "%s:%d" % (HOST, self.lmtp_port)),
                ("lmtpunix", "lmtpd", self.lmtp_socket)):
            lines.append('  %-8s cmd="%s" listen="%s" prefork=%d'
                         % (name, self.program_cmd(prog), listen, self.prefork[name]))
        for extra in self.extra_services:
            lines.append("  " + extra.format(conf=c))
        lines += ["}", "EVENTS {", "}"]
        with open(self.cyrus_conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _chown(self):
        if not is_root():
            return
        pw = ensure_service_user()
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                try:
                    os.chown(n, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
                except OSError:
                    pass

    # -- running --

    def start(self):
        """Set up and start the server, create the users' INBOXes."""
        if self.proc is not None:
            raise InstanceError("already started")
        self.prepare()
        os.makedirs(self.basedir, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="bench-%s-" % self.kind, dir=self.basedir)
        os.chmod(self.dir, 0o755)
        if is_root() and not others_can_reach(self.dir):
            raise InstanceError("%s is not reachable by the service user: pick a "
                                "basedir (BENCH_DIR) whose parents are searchable" % self.dir)
        for d in ("conf", "spool", "tmp"):
            os.mkdir(self.path(d))
        self.imap_port, self.pop3_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.lmtp_socket = self.path("lmtp.sock")
        accounts = {self.admin: self.admin_password}
        accounts.update({u: self.password(u) for u in self.users})
        make_sasldb(self.path("sasldb2"), SERVERNAME, accounts)
        self.write_imapd_conf()
        self.write_cyrus_conf()
        self._chown()
        self._log = open(self.path("master.log"), "ab")
        with _running_lock:
            _running.append(self)
        try:
            self.proc = subprocess.Popen(self.master_command(), stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         env=self.environment(), cwd=self.dir)
            self.wait_ready()
            self.create_users(self.users)
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, n=30):
        try:
            with open(self.path("master.log"), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except (OSError, TypeError):
            return ""
        return "\n".join(lines[-n:])

    def wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        pending = [("imap", lambda: port_open(self.imap_port)),
                   ("pop3", lambda: port_open(self.pop3_port)),
                   ("lmtp", lambda: port_open(self.lmtp_port)),
                   ("lmtpunix", lambda: unix_open(self.lmtp_socket))]
        while pending:
            if self.proc.poll() is not None:
                raise InstanceError("%s master exited with %s:\n%s"
                                    % (self.label, self.proc.returncode, self.log_tail()))
            if pending[0][1]():
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise InstanceError("%s: service %s not up after %.0fs:\n%s"
                                    % (self.label, pending[0][0], self.start_timeout,
                                       self.log_tail()))
            time.sleep(0.05)
        self.remember()

    def remember(self):
        """Note every process under master (for stop())."""
        if self.proc is not None and self.proc.poll() is None:
            for p, st in descendants(self.proc.pid).items():
                self.seen.setdefault(p, st)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace=10.0):
        """Stop master and everything it started; never raises."""
        try:
            if self.proc is not None:
                self.remember()
                if self.proc.poll() is None:
                    try:
                        self.proc.send_signal(signal.SIGTERM)
                        self.proc.wait(grace)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait(5)
                    except OSError:
                        pass
                # whatever master left behind, by pid and start time
                deadline = time.monotonic() + 3
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    for p, st in list(self.seen.items()):
                        if _alive_as(p, st):
                            try:
                                os.kill(p, sig)
                            except OSError:
                                pass
                    while time.monotonic() < deadline and any(
                            _alive_as(p, st) for p, st in self.seen.items()):
                        time.sleep(0.05)
                    deadline = time.monotonic() + 3
        except Exception:
            pass
        finally:
            with _running_lock:
                if self in _running:
                    _running.remove(self)
            if self._log:
                self._log.close()
                self._log = None
            if self.dir and not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- clients --

    def mailbox(self, user):
        """The admin's name for a user's INBOX."""
        return "user.%s" % user

    def imap(self, user=None, timeout=60):
        """An imaplib connection logged in as user (default: the admin)."""
        m = imaplib.IMAP4(HOST, self.imap_port, timeout=timeout)
        if user is None:
            m.login(self.admin, self.admin_password)
        else:
            m.login(user, self.password(user))
        return m

    def create_users(self, users):
        """Create the INBOXes of `users` over IMAP as the admin."""
        if not users:
            return
        m = self.imap()
        try:
            for u in users:
                typ, data = m.create(self.mailbox(u))
                if typ != "OK":
                    raise InstanceError("%s: CREATE %s: %r" % (self.label, self.mailbox(u), data))
        finally:
            try:
                m.logout()
            except Exception:
                pass
        if users is not self.users:
            self.users += [u for u in users if u not in self.users]

    def lmtp(self, unix=False, auth=True, timeout=60):
        """An LMTPClient, greeted (LHLO) and, on TCP, authenticated as the admin."""
        c = LMTPClient(path=self.lmtp_socket if unix else None,
                       port=None if unix else self.lmtp_port, timeout=timeout)
        c.lhlo()
        if auth and not unix:
            c.auth_plain(self.admin, self.admin_password)
        return c

    def describe(self):
        return {"kind": self.kind, "label": self.label, "version": self.version(),
                "dir": self.dir, "imap_port": self.imap_port, "pop3_port": self.pop3_port,
                "lmtp_port": self.lmtp_port, "lmtp_socket": self.lmtp_socket}


# ---- a minimal LMTP client (smtplib reads only one reply after DATA) -----

class LMTPError(Exception):
    pass


class LMTPClient:
    """LMTP over TCP or a unix socket: LHLO, AUTH PLAIN, and deliver() with
    PIPELINING when offered, reading one reply per accepted recipient after
    the data (RFC 2033)."""

    def __init__(self, port=None, path=None, host=HOST, timeout=60):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.capabilities = set()
        code, _ = self.reply()
        if code != 220:
            raise LMTPError("greeting %d" % code)

    def _line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line.rstrip(b"\r")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise LMTPError("connection closed")
            self.buf += chunk

    def reply(self):
        """(code, [text lines]) of one (possibly multi-line) reply."""
        lines = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise LMTPError("bad reply %r" % line)
            lines.append(line[4:].decode(errors="replace"))
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def command(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def lhlo(self, name="bench.localhost"):
        code, lines = self.command("LHLO %s" % name)
        if code != 250:
            raise LMTPError("LHLO: %d %s" % (code, lines))
        self.capabilities = {l.split()[0].upper() for l in lines[1:] if l.split()}
        self.auth_mechs = set()
        for l in lines[1:]:
            w = l.upper().split()
            if w and w[0] == "AUTH":
                self.auth_mechs = set(w[1:])
        return lines

    def auth_plain(self, user, password):
        token = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        code, lines = self.command("AUTH PLAIN %s" % token)
        if code != 235:
            raise LMTPError("AUTH PLAIN as %s: %d %s" % (user, code, lines))

    def deliver(self, sender, rcpts, data):
        """Deliver `data` (bytes, CRLF line ends, not dot-stuffed) to rcpts;
        returns the list of reply codes, one per recipient (a refused RCPT
        gives its own code)."""
        cmds = ["MAIL FROM:<%s>" % sender] + ["RCPT TO:<%s>" % r for r in rcpts]
        codes = []
        if "PIPELINING" in self.capabilities:
            self.sock.sendall(("\r\n".join(cmds + ["DATA"]) + "\r\n").encode())
            mail = self.reply()[0]
            codes = [self.reply()[0] for _ in rcpts]
            data_code = self.reply()[0]
        else:
            mail = self.command(cmds[0])[0]
            for c in cmds[1:]:
                codes.append(self.command(c)[0])
            data_code = self.command("DATA")[0] if mail == 250 and 250 in codes else 0
        if mail != 250 or data_code != 354:
            if data_code == 354:
                self.sock.sendall(b".\r\n")
                self.reply()
            self.command("RSET")
            return codes if mail == 250 else [mail] * len(rcpts)
        body = data.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.sock.sendall(body + b".\r\n")
        out = []
        for c in codes:
            out.append(self.reply()[0] if c == 250 else c)
        return out

    def quit(self):
        try:
            self.command("QUIT")
        except Exception:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
