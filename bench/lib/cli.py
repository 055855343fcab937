"""Command-line options shared by every benchmark (bench/<x>/run.py), and
the construction of both sides from them.

    ap = argparse.ArgumentParser(...)
    cli.add_common_args(ap)
    args = ap.parse_args()
    cli.install_signal_handlers()
    limits = cli.measure_disk(args)          # None with --no-disk
    for side in cli.SIDES:                   # "ref", then "ours"
        inst, why = cli.instance(side, args, users=[...])
        if inst is None: report.set_side(side, unavailable=why); continue
        with inst: ...

Options: --build DIR (our build tree: default $CYRUS_BUILDDIR or
<source>/build-run), --dir DIR (where instances and the disk measurement
live: the disk under test; default $BENCH_DIR or /var/tmp), --json FILE,
--no-ref, --no-ours, --no-disk, --disk-seconds S, --keep (leave instance
directories behind, for a look at the logs).
"""

import os

from . import cyrusref, disk, ourserver
from . import instance as _inst

SIDES = ("ref", "ours")
install_signal_handlers = _inst.install_signal_handlers


def add_common_args(ap):
    ap.add_argument("--build", "--builddir", dest="build", default=None,
                    help="our build tree or install prefix (default $CYRUS_BUILDDIR "
                         "or <source>/build-run)")
    ap.add_argument("--dir", default=None,
                    help="directory on the disk under test (default $BENCH_DIR or /var/tmp)")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--no-ref", action="store_true", help="do not run the reference (Cyrus)")
    ap.add_argument("--no-ours", action="store_true", help="do not run our server")
    ap.add_argument("--no-disk", action="store_true", help="do not measure the disk")
    ap.add_argument("--disk-seconds", type=float, default=2.5,
                    help="seconds per disk measurement (default 2.5)")
    ap.add_argument("--keep", action="store_true", help="keep the instance directories")
    return ap


def basedir(args):
    return os.path.abspath(args.dir or os.environ.get("BENCH_DIR") or "/var/tmp")


def measure_disk(args):
    if args.no_disk:
        return None
    return disk.measure(basedir(args), args.disk_seconds)


def instance(side, args, **kwargs):
    """(an Instance not yet started, None) or (None, why it cannot run)."""
    kwargs.setdefault("basedir", basedir(args))
    kwargs.setdefault("keep", args.keep)
    if side == "ref":
        if args.no_ref:
            return None, "--no-ref"
        if not _inst.is_root():
            return None, "Cyrus's master must start as root (it switches to the cyrus user)"
        paths, why = cyrusref.availability()
        if paths is None:
            return None, why
        return cyrusref.CyrusInstance(paths=paths, **kwargs), None
    if args.no_ours:
        return None, "--no-ours"
    progs, why = ourserver.availability(args.build)
    if progs is None:
        return None, why
    inst = ourserver.OurInstance(build=progs.build, **kwargs)
    inst.programs = progs
    return inst, None



class Sides:
    """Both sides started together (so that rounds can alternate between
    them under the same machine load), stopped together on exit:

        with cli.Sides(args, users=["alice"]) as sides:
            sides.apply(rep)                 # labels / reasons into a Report
            for side, inst in sides.running():
                ...

    A side that cannot run (unavailable, or failing to start) is left out
    with its reason in .why[side]; the other side still runs.  A start
    failure is printed (with the server's log tail) unless quiet."""

    def __init__(self, args, quiet=False, per_side=None, **kwargs):
        """kwargs go to both Instances (users=, prefork=, options=, ...);
        per_side: {"ours"|"ref": {kwarg: value}} added for one side only
        (e.g. per_side={"ours": {"options": {...}}})."""
        self.args = args
        self.kwargs = kwargs
        self.per_side = per_side or {}
        self.quiet = quiet
        self.inst = {}
        self.why = {}

    def __enter__(self):
        try:
            for side in SIDES:
                kw = dict(self.kwargs)
                kw.update(self.per_side.get(side, {}))
                inst, why = instance(side, self.args, **kw)
                if inst is None:
                    self.why[side] = why
                    continue
                try:
                    inst.start()
                except _inst.InstanceError as e:
                    self.why[side] = "failed to start: %s" % str(e).splitlines()[0]
                    if not self.quiet:
                        print("%s: %s" % (side, e), flush=True)
                    continue
                self.inst[side] = inst
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        for inst in self.inst.values():
            inst.stop()

    def running(self):
        """[(side, Instance)] in SIDES order."""
        return [(s, self.inst[s]) for s in SIDES if s in self.inst]

    def drop(self, side, why):
        """Take a side out (after it failed), stopping it."""
        inst = self.inst.pop(side, None)
        if inst is not None:
            inst.stop()
        self.why[side] = why

    def apply(self, rep):
        for side in SIDES:
            if side in self.inst:
                info = self.inst[side].describe()
                rep.set_side(side, label=self.inst[side].label, info=info)
                if info.get("sanitizers"):
                    rep.note("%s is an ASan/UBSan build: its figures measure the sanitizers "
                             "(configure without --enable-sanitizers)" % info.get("build"))
            else:
                rep.set_side(side, unavailable=self.why.get(side, "not run"))
