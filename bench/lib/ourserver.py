"""This project's server, run the same way as the reference (see
instance.Instance): our `master` with imapd, pop3d and lmtpd from a build
tree (or an installed prefix), with the same imapd.conf options as
cyrusref.CyrusInstance.

Where the programs come from: OurInstance(build=DIR), else $CYRUS_BUILDDIR,
else <source>/build-run.  DIR is either a build tree (master/master,
imap/imapd/imapd, imap/pop3d/pop3d, lmtp/lmtpd, imap/tools/ctl_cyrusdb) or
an installed prefix (sbin/master, libexec/cyrus-murder/*), or a build tree
holding such a prefix in inst/ (as conf/run-server.sh makes).  Services are
found through CYRUS_SERVICE_PATH, as master(8) documents, so cyrus.conf
names them bare.

Privileges, as in tests/util.py: as root, master starts as root and drops
to the `cyrus` user (created when missing); when that user cannot reach the
build tree, the service programs are copied into a private directory it
can reach (removed at exit).  Not as root, master runs everything as the
current user (`-u` names it).

The build should be an optimised one (configure without
--enable-sanitizers): benchmarks of an ASan build measure ASan.
"""

import atexit
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "lib"
    import lib  # noqa: F401

from . import instance  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIRS = ["master", "imap/imapd", "imap/pop3d", "lmtp", "imap/tools",
              "imap", "mupdate", "imap/proxy", "tests"]
SERVICES = ["imapd", "pop3d", "lmtpd", "ctl_cyrusdb"]


class OurUnavailable(instance.InstanceError):
    """Our programs are not built; str() says what is missing."""


def default_build():
    return os.path.abspath(os.environ.get("CYRUS_BUILDDIR") or os.path.join(TOP, "build-run"))


class Programs:
    """Where master and the service programs of one build are."""

    def __init__(self, build=None):
        self.build = os.path.abspath(build or default_build())
        b = self.build
        if os.path.isfile(os.path.join(b, "master", "master")):
            self.master = os.path.join(b, "master", "master")
            self.dirs = [os.path.join(b, d) for d in BUILD_DIRS]
        elif os.path.isfile(os.path.join(b, "sbin", "master")):
            self.master = os.path.join(b, "sbin", "master")
            self.dirs = [os.path.join(b, "libexec", "cyrus-murder"), os.path.join(b, "sbin")]
        elif os.path.isfile(os.path.join(b, "inst", "sbin", "master")):
            self.master = os.path.join(b, "inst", "sbin", "master")
            self.dirs = [os.path.join(b, "inst", "libexec", "cyrus-murder"),
                         os.path.join(b, "inst", "sbin")]
        else:
            raise OurUnavailable("no master under %s (build it: configure && make)" % b)
        self.dirs = [d for d in self.dirs if os.path.isdir(d)]
        missing = [p for p in SERVICES if not self.find(p)]
        if missing:
            raise OurUnavailable("not built under %s: %s" % (b, " ".join(missing)))
        self._copy = None

    def find(self, name):
        for d in self.dirs:
            p = os.path.join(d, name)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
        return None

    def service_path(self):
        """CYRUS_SERVICE_PATH reachable by the user the services run as."""
        if not instance.is_root():
            return ":".join(self.dirs)
        if all(instance.others_can_reach(self.find(p)) and
               os.stat(self.find(p)).st_mode & 0o005 == 0o005 for p in SERVICES):
            return ":".join(self.dirs)
        if self._copy is None:
            d = tempfile.mkdtemp(prefix="bench-ourbin-")
            atexit.register(shutil.rmtree, d, True)
            os.chmod(d, 0o755)
            for name in SERVICES + ["ctl_mboxlist", "reconstruct", "quota", "mupdate"]:
                src = self.find(name)
                if src:
                    shutil.copy2(src, os.path.join(d, name))
                    os.chmod(os.path.join(d, name), 0o755)
            self._copy = d
        return self._copy

    def sanitized(self):
        """True when the programs are built with ASan (a slow build)."""
        try:
            r = subprocess.run(["ldd", self.find("lmtpd")], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, timeout=10)
            return "libasan" in r.stdout or "libubsan" in r.stdout
        except (OSError, subprocess.TimeoutExpired):
            return False

    def version(self):
        try:
            r = subprocess.run([self.master, "-V"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=10)
            out = r.stdout.strip().splitlines()
            return out[0] if out else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"


def availability(build=None):
    """(Programs, None) or (None, reason)."""
    try:
        return Programs(build), None
    except OurUnavailable as e:
        return None, str(e)


class OurInstance(instance.Instance):
    """This project's server (see instance.Instance)."""

    kind = "ours"
    label = "ours"

    def __init__(self, *args, build=None, log_stderr=False, **kwargs):
        """build: build tree or prefix (default $CYRUS_BUILDDIR or
        <source>/build-run); log_stderr: CYRUS_LOG_STDERR=1, so that every
        process also logs into master.log (costs time: for debugging)."""
        super().__init__(*args, **kwargs)
        self.build = build
        self.programs = None
        self.log_stderr = log_stderr

    def prepare(self):
        if self.programs is None:
            self.programs = Programs(self.build)
        if instance.is_root():
            instance.ensure_service_user()

    def version(self):
        return self.programs.version() if self.programs else "?"

    def program_cmd(self, program, args=""):
        cmd = "%s -C %s" % (program, self.imapd_conf)
        return cmd + (" " + args if args else "")

    def master_command(self):
        cmd = [self.programs.master, "-C", self.imapd_conf, "-M", self.cyrus_conf,
               "-p", self.path("master.pid")]
        if self.log_stderr:
            cmd.append("-D")
        if not instance.is_root():
            cmd += ["-u", pwd.getpwuid(os.getuid()).pw_name]
        return cmd

    def environment(self):
        env = dict(os.environ)
        env["CYRUS_SERVICE_PATH"] = self.programs.service_path()
        env.pop("CYRUS_LOG_STDERR", None)
        if self.log_stderr:
            env["CYRUS_LOG_STDERR"] = "1"
        return env

    def describe(self):
        d = super().describe()
        d["build"] = self.programs.build if self.programs else self.build
        d["sanitizers"] = self.programs.sanitized() if self.programs else None
        return d


def main():
    import argparse
    ap = argparse.ArgumentParser(description="start our server for a quick look")
    ap.add_argument("--build", default=None)
    a = ap.parse_args()
    instance.install_signal_handlers()
    with OurInstance(build=a.build, log_stderr=True, keep=True) as inst:
        print("ours up in %s: imap %d pop3 %d lmtp %d %s" % (
            inst.dir, inst.imap_port, inst.pop3_port, inst.lmtp_port, inst.lmtp_socket))
    return 0


if __name__ == "__main__":
    sys.exit(main())
