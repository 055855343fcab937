"""The reference: Debian's Cyrus IMAP 3.6.1, unpacked (never installed) into
a private root and run from there beside this project's server.

ensure_cyrus() makes it available and returns a CyrusPaths, or raises
CyrusUnavailable(reason) when it cannot (no apt, no network to Debian's
archive, not root...).  It
  1. fetches the .debs with `apt-get download` (cyrus-common, cyrus-imapd,
     cyrus-pop3d, cyrus-murder, cyrus-admin, cyrus-clients) into the cache
     ($BENCH_CYRUS_CACHE, default /var/cache/bench-cyrus as root, else
     bench/.cache/cyrus), running `apt-get update` once if the archive
     index is missing;
  2. unpacks them with `dpkg -x` into <cache>/root;
  3. runs ldd on the programs benchmarks use (master, imapd, pop3d, lmtpd,
     mupdate, ctl_cyrusdb, ctl_mboxlist, reconstruct, quota) with
     LD_LIBRARY_PATH at the unpacked libraries, and for every library not
     found fetches and unpacks the Debian package named after its soname
     (libical.so.3 -> libical3, libxapian.so.30 -> libxapian30, ...),
     repeating until nothing is missing (a few rounds at most);
  4. writes <cache>/root/.bench-complete, so that later runs are instant.
The reference's programs run with LD_LIBRARY_PATH=<root>/usr/lib/<triplet>
(and <root>/lib/<triplet>).  A system-wide installation
(/usr/lib/cyrus/bin/master) is used instead when BENCH_CYRUS_ROOT=/ .

CyrusInstance (see instance.Instance) runs one Cyrus with its own
configuration: `master -C imapd.conf -M cyrus.conf -p pidfile` in the
foreground (its pid is ours to stop), every service with an absolute
path and its own -C (master does not pass its -C on).  Cyrus's master must
start as root and drops to the `cyrus` user (created when missing); the
instance directory is given to that user.  Cyrus logs to syslog only, and
no syslog daemon runs here: its log is nowhere, which costs nothing.

Quirk handled by the benchmarks, not here: on a fresh spool the first
concurrent deliveries race to create the staging directory and one lmtpd
may die on an assertion; deliver one message per connection before timing
(lmtpload.deliver does).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

if __name__ == "__main__" and not __package__:
    # run as a script: make the package importable (PEP 366)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "lib"
    import lib  # noqa: F401

from . import instance  # noqa: E402

PACKAGES = ["cyrus-common", "cyrus-imapd", "cyrus-pop3d", "cyrus-murder",
            "cyrus-admin", "cyrus-clients"]
# programs whose libraries must all resolve; others (cyr_virusscan needs
# libclamav, a large dependency) are left as they are
NEEDED = ["master", "imapd", "pop3d", "lmtpd", "mupdate", "ctl_cyrusdb",
          "ctl_mboxlist", "reconstruct", "quota", "imtest", "lmtptest"]
BIN = "usr/lib/cyrus/bin"
STAMP = ".bench-complete"
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CyrusUnavailable(instance.InstanceError):
    """The reference cannot be run here; str() says why."""


class CyrusPaths:
    def __init__(self, root, version):
        self.root = root
        self.version = version
        self.bindir = os.path.join(root, BIN)
        self.master = os.path.join(self.bindir, "master")
        self.libdirs = [d for d in _libdirs(root) if os.path.isdir(d)]

    def program(self, name):
        return os.path.join(self.bindir, name)

    def environment(self, base=None):
        env = dict(os.environ if base is None else base)
        if self.libdirs:
            old = env.get("LD_LIBRARY_PATH")
            env["LD_LIBRARY_PATH"] = ":".join(self.libdirs + ([old] if old else []))
        return env

    def __repr__(self):
        return "<Cyrus %s in %s>" % (self.version, self.root)


def _triplet():
    try:
        r = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except OSError:
        pass
    import platform
    return {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(
        platform.machine(), "x86_64-linux-gnu")


def _libdirs(root):
    t = _triplet()
    if root in ("/", ""):
        return []
    return [os.path.join(root, "usr/lib", t), os.path.join(root, "lib", t),
            os.path.join(root, "usr/lib")]


def cache_dir():
    env = os.environ.get("BENCH_CYRUS_CACHE")
    if env:
        return os.path.abspath(env)
    if instance.is_root():
        return "/var/cache/bench-cyrus"
    return os.path.join(TOP, "bench", ".cache", "cyrus")


def _run(cmd, cwd=None):
    try:
        r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        return 127, str(e)
    return r.returncode, r.stdout


def _missing_libs(root):
    """{soname} that the NEEDED programs cannot resolve."""
    env = CyrusPaths(root, "?").environment()
    missing = set()
    for prog in NEEDED:
        p = os.path.join(root, BIN, prog)
        if not os.path.exists(p):
            raise CyrusUnavailable("%s missing after unpacking" % p)
        try:
            r = subprocess.run(["ldd", p], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
        except OSError as e:
            raise CyrusUnavailable("ldd: %s" % e)
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+not found", line)
            if m:
                missing.add(m.group(1))
    return missing


def soname_package(soname):
    """Debian's package name for a shared library (policy 8.1):
    libfoo.so.3 -> libfoo3, libfoo2.so.1 -> libfoo2-1, libfoo-1.2.so.0 -> libfoo-1.2-0."""
    m = re.match(r"^(.*)\.so\.([0-9][0-9.]*)$", soname)
    if not m:
        return None
    name, ver = m.group(1), m.group(2).split(".")[0]
    sep = "-" if name[-1:].isdigit() else ""
    return (name + sep + ver).lower().replace("_", "-")


def _download(pkgs, debdir):
    """apt-get download pkgs into debdir; returns the .deb paths."""
    before = set(os.listdir(debdir))
    cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root"] + list(pkgs)
    rc, out = _run(cmd, cwd=debdir)
    if rc != 0 and ("Unable to locate" in out or "no installation candidate" in out
                    or "Can't select" in out):
        rc2, out2 = _run(["apt-get", "update", "-q"])
        if rc2 != 0:
            raise CyrusUnavailable("apt-get update failed:\n%s" % out2[-1500:])
        rc, out = _run(cmd, cwd=debdir)
    if rc != 0:
        raise CyrusUnavailable("apt-get download %s failed:\n%s" % (" ".join(pkgs), out[-1500:]))
    new = sorted(set(os.listdir(debdir)) - before)
    debs = []
    for p in pkgs:
        hits = [f for f in os.listdir(debdir) if f.startswith(p + "_") and f.endswith(".deb")]
        if not hits:
            raise CyrusUnavailable("apt-get download %s gave no .deb (%s)" % (p, new))
        debs.append(os.path.join(debdir, sorted(hits)[-1]))
    return debs


def _unpack(debs, root):
    for deb in debs:
        rc, out = _run(["dpkg-deb", "-x", deb, root])
        if rc != 0:
            raise CyrusUnavailable("dpkg-deb -x %s: %s" % (deb, out[-500:]))


def _deb_version(deb):
    rc, out = _run(["dpkg-deb", "-f", deb, "Version"])
    return out.strip() if rc == 0 else "?"


def _system_cyrus():
    master = os.path.join("/", BIN, "master")
    if not os.path.exists(master):
        raise CyrusUnavailable("BENCH_CYRUS_ROOT=/ but %s does not exist" % master)
    rc, out = _run(["dpkg-query", "-W", "-f", "${Version}", "cyrus-common"])
    return CyrusPaths("/", out.strip() if rc == 0 else "?")


def ensure_cyrus(verbose=False):
    """CyrusPaths of an unpacked Debian Cyrus, fetched when needed; raises
    CyrusUnavailable(reason)."""
    root_env = os.environ.get("BENCH_CYRUS_ROOT")
    if root_env == "/":
        return _system_cyrus()
    if root_env:
        root = os.path.abspath(root_env)
        if not os.path.exists(os.path.join(root, BIN, "master")):
            raise CyrusUnavailable("BENCH_CYRUS_ROOT=%s holds no %s/master" % (root, BIN))
        stamp = os.path.join(root, STAMP)
        version = open(stamp).read().strip() if os.path.exists(stamp) else "?"
        return CyrusPaths(root, version)
    cache = cache_dir()
    root = os.path.join(cache, "root")
    stamp = os.path.join(root, STAMP)
    if os.path.exists(stamp):
        with open(stamp) as f:
            return CyrusPaths(root, f.read().strip())
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise CyrusUnavailable("apt-get/dpkg-deb not found: the reference needs a Debian system")
    os.makedirs(cache, exist_ok=True)
    os.chmod(cache, 0o755)
    debdir = os.path.join(cache, "debs")
    os.makedirs(debdir, exist_ok=True)
    # unpack into a fresh directory, then move it into place
    work = tempfile.mkdtemp(prefix="root.", dir=cache)
    try:
        os.chmod(work, 0o755)
        if verbose:
            print("fetching %s ..." % " ".join(PACKAGES), flush=True)
        debs = _download(PACKAGES, debdir)
        version = _deb_version(debs[0])
        _unpack(debs, work)
        tried = set()
        for _ in range(5):
            missing = _missing_libs(work)
            if not missing:
                break
            pkgs = sorted({soname_package(s) for s in missing} - {None} - tried)
            if not pkgs:
                raise CyrusUnavailable("libraries not found and no package to fetch "
                                       "for them: %s" % " ".join(sorted(missing)))
            if verbose:
                print("fetching libraries %s ..." % " ".join(pkgs), flush=True)
            tried.update(pkgs)
            _unpack(_download(pkgs, debdir), work)
        else:
            raise CyrusUnavailable("libraries still missing: %s" % " ".join(sorted(missing)))
        with open(os.path.join(work, STAMP), "w") as f:
            f.write(version + "\n")
        if os.path.exists(root):
            shutil.rmtree(root)
        os.rename(work, root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return CyrusPaths(root, version)


def availability():
    """(CyrusPaths, None) or (None, reason)."""
    try:
        return ensure_cyrus(), None
    except CyrusUnavailable as e:
        return None, str(e)


class CyrusInstance(instance.Instance):
    """One Debian Cyrus 3.6.1 server (see instance.Instance)."""

    kind = "cyrus"

    def __init__(self, *args, paths=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.paths = paths
        self.label = "Cyrus"

    def prepare(self):
        if not instance.is_root():
            raise CyrusUnavailable("Cyrus's master must start as root (it switches to "
                                   "the cyrus user): run the benchmark as root")
        if self.paths is None:
            self.paths = ensure_cyrus()
        if self.paths.version not in ("", "?"):
            self.label = "Cyrus %s" % self.paths.version.split("-")[0]
        if not instance.others_can_reach(self.paths.master):
            raise CyrusUnavailable("%s is not reachable by the cyrus user: set "
                                   "BENCH_CYRUS_CACHE to a directory it can reach"
                                   % self.paths.master)
        instance.ensure_service_user()

    def version(self):
        return self.paths.version if self.paths else "?"

    def program_cmd(self, program, args=""):
        cmd = "%s -C %s" % (self.paths.program(program), self.imapd_conf)
        return cmd + (" " + args if args else "")

    def master_command(self):
        # foreground (no -d): the pid we hold is master's
        return [self.paths.master, "-C", self.imapd_conf, "-M", self.cyrus_conf,
                "-p", self.path("master.pid")]

    def environment(self):
        return self.paths.environment()


def main():
    try:
        p = ensure_cyrus(verbose=True)
    except CyrusUnavailable as e:
        print("Cyrus unavailable: %s" % e)
        return 1
    print("Cyrus %s ready in %s" % (p.version, p.root))
    print("  master: %s" % p.master)
    print("  LD_LIBRARY_PATH=%s" % ":".join(p.libdirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
