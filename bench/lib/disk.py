"""The physical limits of the disk under test, measured in the same run as
the servers, so that a benchmark can say how close a figure comes to them.

Two rates, each measured for a bounded time and a bounded number of
operations in a private directory made under the directory given (which
must be on the disk the servers use), removed afterwards:

  fsync   rewrite 4 KiB at the start of one file, then fsync it: the rate
          of durable small writes to an existing file (an index or a
          database page rewritten in place);
  create  create a new file, write 4 KiB, fsync it, close it, rename it to
          its final name and fsync the directory: the rate of durable new
          files (one message file per delivery, as a Cyrus-style spool
          stores mail).

measure() returns a DiskLimits; its rate("fsync") / rate("create") are
operations per second.  Errors (a directory that cannot be written, a full
disk) raise OSError; nothing is left behind either way.

Command line: python3 bench/lib/disk.py [DIR] [--seconds S] [--json]
"""

import json
import os
import shutil
import sys
import tempfile
import time

BLOCK = 4096


def _default_dir():
    return os.environ.get("BENCH_DIR") or "/var/tmp"


def _percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


class Rate:
    """One measured rate: ops in seconds, with per-op latency percentiles."""

    def __init__(self, name, ops, seconds, latencies):
        self.name = name
        self.ops = ops
        self.seconds = seconds
        self.latencies = lat = sorted(latencies)
        self.p50_ms = _percentile(lat, 50) * 1000 if lat else None
        self.p99_ms = _percentile(lat, 99) * 1000 if lat else None

    @property
    def per_second(self):
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self):
        return {"name": self.name, "ops": self.ops, "seconds": round(self.seconds, 4),
                "per_second": round(self.per_second, 1),
                "p50_ms": None if self.p50_ms is None else round(self.p50_ms, 3),
                "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 3)}

    def __repr__(self):
        return "<Rate %s %.0f/s>" % (self.name, self.per_second)


class DiskLimits:
    """The result of measure(): rates by name ("fsync", "create")."""

    def __init__(self, directory, rates):
        self.directory = directory
        self.rates = {r.name: r for r in rates}
        self.filesystem = _filesystem_of(directory)

    parts = ()

    def spread(self, name):
        """(lowest, highest) rate of `name` over the merged measurements."""
        vals = [p.rate(name) for p in self.parts if p.rate(name) is not None] or [self.rate(name)]
        return min(vals), max(vals)

    def rate(self, name):
        """Operations per second of `name`, or None when not measured."""
        r = self.rates.get(name)
        return r.per_second if r else None

    def as_dict(self):
        return {"directory": self.directory, "filesystem": self.filesystem,
                "rates": {k: v.as_dict() for k, v in self.rates.items()}}

    def summary(self):
        parts = []
        for name, label in (("fsync", "4 KiB write+fsync"),
                            ("create", "4 KiB create+write+fsync+rename+dirfsync")):
            r = self.rates.get(name)
            if r:
                txt = "%s %.0f/s (p50 %.2f ms" % (label, r.per_second, r.p50_ms or 0)
                if len(self.parts) > 1:
                    lo, hi = self.spread(name)
                    txt += ", %d runs %.0f-%.0f/s" % (len(self.parts), lo, hi)
                parts.append(txt + ")")
        fs = self.filesystem
        where = "%s (%s on %s)" % (self.directory, fs.get("type", "?"), fs.get("device", "?"))
        return "disk %s: %s" % (where, "; ".join(parts))


def _filesystem_of(directory):
    """{'device', 'type', 'mountpoint'} of the file system holding directory."""
    best = {}
    try:
        path = os.path.realpath(directory)
        with open("/proc/self/mounts") as f:
            for line in f:
                dev, mnt, typ = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                        len(mnt) >= len(best.get("mountpoint", "")):
                    best = {"device": dev, "type": typ, "mountpoint": mnt}
    except OSError:
        pass
    return best


def fsync_rewrite_rate(directory, seconds=2.5, max_ops=200000):
    """Rewrite 4 KiB at offset 0 of one file and fsync, for `seconds` or
    `max_ops` operations, whichever comes first."""
    block = os.urandom(BLOCK)
    path = os.path.join(directory, "rewrite")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    lat = []
    try:
        os.write(fd, block)
        os.fsync(fd)
        # a few untimed rounds so that the allocation is settled
        for _ in range(5):
            os.pwrite(fd, block, 0)
            os.fsync(fd)
        start = time.perf_counter()
        deadline = start + seconds
        now = start
        while now < deadline and len(lat) < max_ops:
            t0 = now
            os.pwrite(fd, block, 0)
            os.fsync(fd)
            now = time.perf_counter()
            lat.append(now - t0)
        elapsed = now - start
    finally:
        os.close(fd)
        os.unlink(path)
    return Rate("fsync", len(lat), elapsed, lat)


def create_rename_rate(directory, seconds=2.5, max_files=50000):
    """Create a file, write 4 KiB, fsync, close, rename into place and fsync
    the directory, for `seconds` or `max_files` files."""
    block = os.urandom(BLOCK)
    sub = os.path.join(directory, "create")
    os.mkdir(sub, 0o700)
    dfd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)
    lat = []
    try:
        start = time.perf_counter()
        deadline = start + seconds
        now = start
        i = 0
        while now < deadline and i < max_files:
            t0 = now
            tmp = os.path.join(sub, "tmp.%d" % i)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, block)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(sub, "%d." % i))
            os.fsync(dfd)
            i += 1
            now = time.perf_counter()
            lat.append(now - t0)
        elapsed = now - start
    finally:
        os.close(dfd)
        shutil.rmtree(sub, ignore_errors=True)
    return Rate("create", len(lat), elapsed, lat)


def merge(results):
    """One DiskLimits from several measurements of the same directory (taken
    between a benchmark's rounds): each rate is all operations over all
    their time; .spread(name) gives (lowest, highest) of the single rates."""
    results = [r for r in results if r is not None]
    if not results:
        return None
    names = []
    for r in results:
        names += [n for n in r.rates if n not in names]
    rates = []
    for n in names:
        parts = [r.rates[n] for r in results if n in r.rates]
        lat = [x for p in parts for x in p.latencies]
        rates.append(Rate(n, sum(p.ops for p in parts), sum(p.seconds for p in parts), lat))
    out = DiskLimits(results[0].directory, rates)
    out.parts = results
    return out


def measure(directory=None, seconds=2.5, max_ops=200000):
    """Measure both rates in a private directory under `directory` (default
    $BENCH_DIR or /var/tmp); about 2*seconds in all."""
    base = os.path.abspath(directory or _default_dir())
    work = tempfile.mkdtemp(prefix="bench-disk-", dir=base)
    try:
        rates = [fsync_rewrite_rate(work, seconds, max_ops),
                 create_rename_rate(work, seconds, min(max_ops, 50000))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DiskLimits(base, rates)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="measure the disk's small-write limits")
    ap.add_argument("directory", nargs="?", default=None,
                    help="a directory on the disk under test (default $BENCH_DIR or /var/tmp)")
    ap.add_argument("--seconds", type=float, default=2.5, help="per measurement")
    ap.add_argument("--json", action="store_true", help="print JSON")
    a = ap.parse_args(argv)
    d = measure(a.directory, a.seconds)
    if a.json:
        print(json.dumps(d.as_dict(), indent=2))
    else:
        print(d.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
