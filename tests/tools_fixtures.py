"""Helpers of the administrative tool tests (tests/test_tools.py).

A Store is a mail store in a temporary directory, without any daemon: an
imapd.conf (configdirectory, two partitions "default" and "other", the
database backends asked for), and the tests/mkstore test tool that creates
mailboxes, appends messages, sets flags and quota roots through the public
store API.  The tools are run on it directly as the current user.

    st = Store(tmp_path, backend="flat")
    st.create("user.alice")
    st.gen("user.alice", 3)                 # -> [1, 2, 3]
    r = st.tool("quota")                    # CompletedProcess (text)
    st.messages("user.alice")               # [{'uid': 1, 'size': ..., ...}]

Every tool run has a timeout, and its stderr is checked for sanitizer
reports (the tests also run on an ASan build).
"""

import os
import re
import subprocess

import util

TIMEOUT = 30
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def tool_path(name):
    return util.program(name)


def run(argv, input=None, env=None):
    """Run a program; return the CompletedProcess (stdout/stderr as text).
    A sanitizer report on stderr fails the test whatever the exit status."""
    e = dict(os.environ)
    e.pop("CYRUS_LOG_STDERR", None)
    e.update(env or {})
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT, env=e)
    out = subprocess.CompletedProcess(p.args, p.returncode,
                                      p.stdout.decode(errors="replace"),
                                      p.stderr.decode(errors="replace"))
    out.raw_stdout = p.stdout
    for marker in SANITIZER_MARKERS:
        assert marker not in out.stderr, "%s: sanitizer report:\n%s" % (argv, out.stderr)
    return out


def write_conf(path, options):
    with open(path, "w") as f:
        for k, v in options.items():
            f.write("%s: %s\n" % (k, v))
    return path


class Store:
    def __init__(self, base, backend="berkeley", **options):
        self.base = str(base)
        self.confdir = os.path.join(self.base, "conf")
        self.spool = os.path.join(self.base, "spool")
        self.spool2 = os.path.join(self.base, "spool2")
        for d in (self.confdir, self.spool, self.spool2):
            os.makedirs(d, exist_ok=True)
        self.backend = backend
        self.options = {
            "configdirectory": self.confdir,
            "partition-default": self.spool,
            "partition-other": self.spool2,
            "mboxlist_db": backend,
            "quota_db": backend,
        }
        self.options.update(options)
        self.conf = write_conf(os.path.join(self.base, "imapd.conf"), self.options)

    # -- files --

    @property
    def mailboxes_db(self):
        return os.path.join(self.confdir, "mailboxes.db")

    @property
    def quotas_db(self):
        return os.path.join(self.confdir, "quotas.db")

    def variant(self, name, **changes):
        """Another imapd.conf over the same directories, with some options
        changed (e.g. mboxlist_db="flat"); returns its path."""
        opts = dict(self.options)
        opts.update(changes)
        return write_conf(os.path.join(self.base, name), opts)

    # -- running --

    def tool(self, name, *args, input=None, conf=None):
        return run([tool_path(name), "-C", conf or self.conf] + [str(a) for a in args],
                   input=input)

    def ok(self, name, *args, input=None, conf=None):
        """Run a tool that must succeed; return its stdout."""
        r = self.tool(name, *args, input=input, conf=conf)
        assert r.returncode == 0, "%s %s: exit %d\nstdout:\n%s\nstderr:\n%s" % (
            name, " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
        return r.stdout

    def mkstore(self, *args):
        return self.ok("mkstore", *args)

    # -- building --

    def create(self, name, partition=None):
        """Create a mailbox; returns its directory."""
        args = ["create", name] + ([partition] if partition else [])
        return self.mkstore(*args).strip()

    def _uids(self, out):
        return [int(m) for m in re.findall(r"^uid=(\d+)$", out, re.M)]

    def gen(self, name, count):
        """Append `count` generated messages; returns their UIDs."""
        return self._uids(self.mkstore("gen", name, count))

    def append(self, name, *messages):
        """Append messages given as bytes; returns their UIDs."""
        paths = []
        for i, data in enumerate(messages):
            p = os.path.join(self.base, "msg-%d-%d.eml" % (os.getpid(), i))
            with open(p, "wb") as f:
                f.write(data)
            paths.append(p)
        try:
            return self._uids(self.mkstore("append", name, *paths))
        finally:
            for p in paths:
                os.unlink(p)

    def flag(self, name, flags, *uids):
        self.mkstore("flag", name, flags, *uids)

    def setquota(self, root, storage_kb=-1, messages=-1):
        self.mkstore("setquota", root, storage_kb, messages)

    def setused(self, root, nbytes, messages):
        self.mkstore("setused", root, nbytes, messages)

    # -- reading --

    def messages(self, name):
        """The messages of a mailbox: dicts uid, size, flags (set), cache."""
        out = []
        for line in self.mkstore("list", name).splitlines():
            f = dict(kv.split("=", 1) for kv in line.split())
            out.append({"uid": int(f["uid"]), "size": int(f["size"]),
                        "flags": set() if f["flags"] == "-" else set(f["flags"].split(",")),
                        "cache": f["cache"]})
        return out

    def uids(self, name):
        return [m["uid"] for m in self.messages(name)]

    def status(self, name):
        f = dict(kv.split("=", 1) for kv in self.mkstore("status", name).split())
        return {"exists": int(f["exists"]), "uidnext": int(f["uidnext"]),
                "quota_used": int(f["quota_used"]),
                "quotaroot": None if f["quotaroot"] == "-" else f["quotaroot"]}

    def dump(self, *args, conf=None):
        """ctl_mboxlist -d output."""
        return self.ok("ctl_mboxlist", "-d", *args, conf=conf)

    def quota_rows(self, *args):
        """The report of `quota` as a list of dicts (header checked)."""
        return parse_quota_report(self.ok("quota", *args))

    def mailbox_dir(self, name, partition_dir=None):
        """Where a mailbox of the default layout lives (no hashing)."""
        return os.path.join(partition_dir or self.spool, *name.split("."))


QUOTA_HEADER = "   Quota   % Used     Used Resource Root"
QUOTA_ROW = re.compile(r"^([ \d]{8}) ([ \d]{8}) ([ \d]{8}) (STORAGE |MESSAGE ) (\S.*)$")


def parse_quota_report(text):
    """Rows of a quota report: limit (None when unlimited), percent (None),
    used, resource, root.  The header and the column layout are checked."""
    lines = text.splitlines()
    idx = lines.index(QUOTA_HEADER)
    rows = []
    for line in lines[idx + 1:]:
        m = QUOTA_ROW.match(line)
        assert m, "bad quota report line %r" % line
        limit, pct, used, res, root = m.groups()
        rows.append({"limit": int(limit) if limit.strip() else None,
                     "percent": int(pct) if pct.strip() else None,
                     "used": int(used), "resource": res.strip(), "root": root})
    return rows


def snapshot(directory):
    """{name: bytes} of the cyrus.* files of a mailbox directory (not the
    lock file), to check that nothing was written."""
    out = {}
    for n in sorted(os.listdir(directory)):
        p = os.path.join(directory, n)
        if n.startswith("cyrus.") and n != "cyrus.lock" and os.path.isfile(p):
            with open(p, "rb") as f:
                out[n] = f.read()
    return out


# ---- the flat database format (cyrusdb_flat.c) -----------------------------

_ESC = {b"\\": b"\\\\", b"\t": b"\\t", b"\n": b"\\n", b"\r": b"\\r", b"\0": b"\\0"}


def flat_escape(data):
    return b"".join(_ESC.get(bytes([c]), bytes([c])) for c in data)


def flat_write(path, records):
    """Write a flat database of (key, value) byte pairs, in byte order."""
    with open(path, "wb") as f:
        for k, v in sorted(records):
            f.write(flat_escape(k) + b"\t" + flat_escape(v) + b"\n")
