"""Shared helpers of the integration tests: start `master` with generated
configurations on free loopback ports, talk to the services, and make sure
that every process a test started is gone afterwards.

Where the programs come from: CYRUS_BUILDDIR names the build tree (as
tests/run-all.sh sets it); without it, the first of build-werror, build-asan,
build-run and build beside the source tree that holds master/master is used.
Services are found through CYRUS_SERVICE_PATH, which the helper points at
every build directory holding a program.

Privileges: when the tests run as root (CI does), master is started as root
and drops to the `cyrus` user exactly as in production; the helper creates
that system user when it is missing, makes each test's directory belong to
it, and, when the build tree is not reachable by that user (a checkout under
/root), copies the programs into a directory it can reach.  When the tests
do not run as root, master runs everything as the current user (master -u
names it, and master ignores a user it cannot become).

Cleanup: every process seen under a master is remembered by pid and start
time; Master.stop() (also called by the fixtures on failure) ends master and
then kills any of them still alive, by pid, never by name.
"""

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE_USER = "cyrus"

# Where the programs of the tree live, relative to the build directory.
PROGRAM_DIRS = ["master", "tests", "imap", "imap/imapd", "imap/pop3d",
                "imap/proxy", "imap/tools", "lmtp", "mupdate"]


# ---- the build tree -------------------------------------------------------

def builddir():
    """The build tree to test, or None."""
    env = os.environ.get("CYRUS_BUILDDIR")
    if env:
        return os.path.abspath(env)
    for name in ("build-werror", "build-asan", "build-run", "build"):
        d = os.path.join(SRCDIR, name)
        if os.path.exists(os.path.join(d, "master", "master")):
            return d
    return None


def program(name):
    """Path of a built program (searched in PROGRAM_DIRS)."""
    bd = builddir()
    if not bd:
        raise RuntimeError("no build tree: set CYRUS_BUILDDIR")
    for d in PROGRAM_DIRS:
        p = os.path.join(bd, d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError("%s not built under %s" % (name, bd))


def _program_dirs():
    bd = builddir()
    return [os.path.join(bd, d) for d in PROGRAM_DIRS
            if os.path.isdir(os.path.join(bd, d))]


def is_root():
    return os.geteuid() == 0


def ensure_service_user():
    """As root: the `cyrus` system user exists (created when missing)."""
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir",
                        "/var/lib/cyrus", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SERVICE_USER], check=True)
        return pwd.getpwnam(SERVICE_USER)


def _others_can_run(path):
    """Every directory above `path` is searchable and the file readable and
    executable by anyone."""
    p = os.path.abspath(path)
    st = os.stat(p)
    if not (st.st_mode & stat.S_IXOTH and st.st_mode & stat.S_IROTH):
        return False
    d = os.path.dirname(p)
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


_service_path_cache = None


def service_path():
    """The CYRUS_SERVICE_PATH for master's children."""
    global _service_path_cache
    if _service_path_cache is not None:
        return _service_path_cache
    dirs = _program_dirs()
    if is_root():
        ensure_service_user()
        probe = os.path.join(builddir(), "tests", "echod")
        if os.path.exists(probe) and not _others_can_run(probe):
            # the service user cannot reach the build tree: copy the programs
            bindir = tempfile.mkdtemp(prefix="cyrus-test-bin-")
            atexit.register(shutil.rmtree, bindir, True)
            os.chmod(bindir, 0o755)
            for d in dirs:
                for name in os.listdir(d):
                    src = os.path.join(d, name)
                    if (os.path.isfile(src) and os.access(src, os.X_OK)
                            and not name.endswith((".sh", ".py", ".a", ".o"))):
                        dst = os.path.join(bindir, name)
                        shutil.copy2(src, dst)
                        os.chmod(dst, 0o755)
            dirs = [bindir]
    _service_path_cache = ":".join(dirs)
    return _service_path_cache


# ---- ports and sockets ----------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    wait_until(lambda: port_open(port, host), timeout, what="port %d" % port)


def wait_port_closed(port, timeout=10.0, host="127.0.0.1"):
    wait_until(lambda: not port_open(port, host), timeout,
               what="port %d to close" % port)


class LineClient:
    """A line-oriented TCP (or unix socket) client with timeouts."""

    def __init__(self, port=None, host="127.0.0.1", path=None, timeout=10.0):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def readline(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode()

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def parse_banner(line):
    """Fields of an echod banner: {'pid': ..., 'service': ..., ...}."""
    assert line.startswith("* echod ready "), line
    return dict(kv.split("=", 1) for kv in line.split()[3:])


# ---- processes ------------------------------------------------------------

def _stat(pid):
    """(ppid, starttime, state) of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[19]), rest[0]


def children_of(pid):
    """Live (non-zombie) direct children of pid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st and st[0] == pid and st[2] != "Z":
            out.append(int(name))
    return sorted(out)


def zombies_of(pid):
    """Exited but unreaped children of pid."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[0] == pid and st[2] == "Z":
                out.append(int(name))
    return out


def descendants_of(pid):
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found.extend(kids)
        todo.extend(kids)
    return found


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return {}
    env = {}
    for it in items:
        if b"=" in it:
            k, v = it.split(b"=", 1)
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def alive(pid):
    st = _stat(pid)
    return st is not None and st[2] != "Z"


# ---- master ---------------------------------------------------------------

class Service:
    """One SERVICES entry.  `cmd` is as in cyrus.conf; a bare program name of
    ours gets "-C <imapd.conf>" after it unless the command has -C already.
    listen defaults to a free port on 127.0.0.1."""

    def __init__(self, name, cmd, listen=None, **options):
        self.name = name
        self.cmd = cmd
        if listen is None:
            self.port = free_port()
            listen = "127.0.0.1:%d" % self.port
        else:
            m = re.search(r":(\d+)$", str(listen))
            self.port = int(m.group(1)) if m else None
        self.listen = listen
        self.options = options


class Entry:
    """A START, EVENTS or DAEMON entry."""

    def __init__(self, name, cmd, **options):
        self.name = name
        self.cmd = cmd
        self.options = options


def _quote(v):
    v = str(v)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Master:
    """A master process with generated imapd.conf and cyrus.conf in a private
    directory.  Use through the `master` fixture (conftest.py), or call
    start() and stop() yourself (stop() always, in a finally)."""

    def __init__(self, services=(), events=(), start=(), daemons=(),
                 imapd_options=None, args=(), env=None):
        self.dir = tempfile.mkdtemp(prefix="cyrus-test-")
        os.chmod(self.dir, 0o755)
        self.services = list(services)
        self.events = list(events)
        self.start_entries = list(start)
        self.daemons = list(daemons)
        self.imapd_conf = os.path.join(self.dir, "imapd.conf")
        self.cyrus_conf = os.path.join(self.dir, "cyrus.conf")
        self.pidfile = os.path.join(self.dir, "master.pid")
        self.logfile = os.path.join(self.dir, "master.log")
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.proc = None
        self.seen = {}          # pid -> starttime of every descendant seen
        options = {"configdirectory": os.path.join(self.dir, "conf")}
        options.update(imapd_options or {})
        os.mkdir(options["configdirectory"])
        with open(self.imapd_conf, "w") as f:
            for k, v in options.items():
                f.write("%s: %s\n" % (k, v))
        self.write_conf()

    # -- configuration --

    def path(self, name):
        return os.path.join(self.dir, name)

    def _cmd(self, cmd):
        words = cmd.split()
        if words and "/" not in words[0] and "-C" not in words:
            return " ".join([words[0], "-C", self.imapd_conf] + words[1:])
        return cmd

    def render(self):
        out = []

        def section(title, entries, fn):
            out.append("%s {" % title)
            for e in entries:
                out.append("  " + fn(e))
            out.append("}")

        def simple(e):
            parts = [e.name, "cmd=" + _quote(self._cmd(e.cmd))]
            parts += ["%s=%s" % (k, _quote(v)) for k, v in e.options.items()]
            return " ".join(parts)

        def service(s):
            parts = [s.name, "cmd=" + _quote(self._cmd(s.cmd)),
                     "listen=" + _quote(s.listen)]
            parts += ["%s=%s" % (k, _quote(v)) for k, v in s.options.items()]
            return " ".join(parts)

        section("START", self.start_entries, simple)
        section("SERVICES", self.services, service)
        section("EVENTS", self.events, simple)
        section("DAEMON", self.daemons, simple)
        return "\n".join(out) + "\n"

    def write_conf(self, text=None):
        """Write cyrus.conf (rendered from the entries, or `text` as is)."""
        tmp = self.cyrus_conf + ".new"
        with open(tmp, "w") as f:
            f.write(self.render() if text is None else text)
        os.rename(tmp, self.cyrus_conf)
        self._chown()

    def _chown(self):
        if not is_root():
            return
        pw = ensure_service_user()
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                try:
                    os.chown(n, pw.pw_uid, pw.pw_gid)
                except OSError:
                    pass

    # -- running --

    def command(self):
        cmd = [program("master"), "-C", self.imapd_conf, "-M", self.cyrus_conf,
               "-p", self.pidfile, "-D"]
        if not is_root():
            cmd += ["-u", pwd.getpwuid(os.getuid()).pw_name]
        return cmd + self.args

    def environment(self):
        env = dict(os.environ)
        env["CYRUS_LOG_STDERR"] = "1"
        env["CYRUS_SERVICE_PATH"] = service_path()
        env.update(self.extra_env)
        return env

    def start(self, wait=True):
        self._chown()
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.environment(), cwd=self.dir)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("master exited with %s:\n%s"
                                     % (self.proc.returncode, self.read_log()))
            return "master ready" in self.read_log()
        # "master ready" comes after every listener is bound, so the ports
        # accept connections now; probing them would only disturb the
        # workers' counts
        wait_until(ready, timeout, what="master to be ready")

    @property
    def pid(self):
        return self.proc.pid

    def read_log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Wait until `pattern` (a regex) matches `count` times in the log."""
        rx = re.compile(pattern)
        return wait_until(lambda: len(rx.findall(self.read_log())) >= count,
                          timeout, what="log /%s/ x%d" % (pattern, count))

    def _remember(self, pids):
        for p in pids:
            st = _stat(p)
            if st:
                self.seen.setdefault(p, st[1])
        return pids

    def children(self):
        """Live direct children of master."""
        return self._remember(children_of(self.pid))

    def workers(self, service):
        """Live children of master that serve cyrus.conf entry `service`."""
        return [p for p in self.children()
                if environ(p).get("CYRUS_SERVICE") == service]

    def wait_workers(self, service, n, timeout=10.0, stable=0.0):
        """Wait until exactly n workers of `service` run (and stay so for
        `stable` seconds); returns their pids."""
        def check():
            w = self.workers(service)
            return w if len(w) == n else None
        pids = wait_until(check, timeout, what="%d workers of %s (have %s)"
                          % (n, service, self.workers(service)))
        if stable:
            end = time.monotonic() + stable
            while time.monotonic() < end:
                w = self.workers(service)
                assert len(w) == n, "workers of %s changed to %s" % (service, w)
                time.sleep(0.05)
        return pids

    def reload(self, text=None):
        """Write a new cyrus.conf and send SIGHUP."""
        before = self.read_log().count("reloading:")
        self.write_conf(text)
        os.kill(self.pid, signal.SIGHUP)
        wait_until(lambda: self.read_log().count("reloading:") > before, 10,
                   what="master to reload")

    def stop(self, timeout=15.0, check=True):
        """SIGTERM master and wait; then kill anything it left.  With check,
        assert a clean exit: status 0, no process left, no pid file."""
        if self.proc is None:
            return
        problems = []
        if self.proc.poll() is None:
            self._remember(descendants_of(self.pid))
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append("master did not exit within %.0fs" % timeout)
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode != 0:
            problems.append("master exit status %s" % self.proc.returncode)
        left = [p for p, t in self.seen.items() if (_stat(p) or (0, None))[1] == t
                and alive(p)]
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if left:
            problems.append("processes left behind: %s" % left)
        if os.path.exists(self.pidfile):
            problems.append("pid file left behind")
        log = self.read_log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:"):
            if marker in log:
                problems.append("sanitizer report in the log (%s)" % marker)
        self.log.close()
        self.proc = None
        if check and problems:
            raise AssertionError("; ".join(problems) + "\n" + self.read_log())

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
