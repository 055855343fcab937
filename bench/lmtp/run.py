#!/usr/bin/python3
"""bench/lmtp/run.py: LMTP delivery throughput, ours against Debian's Cyrus
3.6.1 and the disk's limits, measured in the same run (bench/lib).

    python3 bench/lmtp/run.py [--build DIR] [--dir DIR] [--messages N] [--mix N]
        [--connections C] [--users U] [--only W,...] [--tcp]
        [--option key=value ...] [common options: --no-ref, --json FILE, ...]

Both servers run side by side (cli.Sides) with the same imapd.conf and
cyrus.conf (lmtpunix prefork C) and U INBOXes (default 100) created over
IMAP.  Workloads, each over C concurrent LMTP connections (default 8; the
unix socket, trusted, unless --tcp; pipelined MAIL/RCPT/DATA, one
transaction at a time per connection), every message with its own
Message-ID, recipients drawn at random from the U users:

    4k-1      N messages of 4 KiB, 1 recipient          (default N 20,000)
    mix-1     M messages of 1 KiB .. 1 MiB (log-uniform), 1 recipient
                                                        (default M 2,000)
    4k-10     N/10 messages of 4 KiB, 10 recipients
    mix-10    M/10 messages of 1 KiB .. 1 MiB, 10 recipients

Each workload is delivered to both servers (the same messages and
recipients), the side that goes first alternating from one workload to
the next; the disk's limits are measured before each workload and at the
end (their spread is printed).  Figures per workload: messages/s (also
as a fraction of the disk's 4 KiB create+write+fsync+rename rate),
deliveries (recipients)/s for 10 recipients, MB/s for the mixed sizes,
and the median and 99th percentile transaction latency.  Failures
(refused recipients, dropped connections) are counted and make the exit
status 1.

--option key=value (repeatable) adds an imapd.conf option for our server
only (e.g. --option duplicatesuppression=no).  Targets (issue #6): 4k-1
messages/s >= 1.5 x Cyrus; 4k-10 deliveries/s >= Cyrus.
"""

import argparse
import math
import os
import random
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lib import cli, disk, lmtpload, report  # noqa: E402


def mix_size(rnd):
    return int(math.exp(rnd.uniform(math.log(1024), math.log(1024 * 1024))))


def workloads(args):
    n, m = args.messages, args.mix
    four = lambda rnd: 4096  # noqa: E731
    all_ = [("4k-1", n, 1, four), ("mix-1", m, 1, mix_size),
            ("4k-10", n // 10, 10, four), ("mix-10", m // 10, 10, mix_size)]
    keep = args.only.split(",") if args.only else None
    return [w for w in all_ if w[1] > 0 and (keep is None or w[0] in keep)]


def make_plan(tag, count, nrcpt, sizes, users, seed):
    """[(recipients, message)]: the same for both servers."""
    rnd = random.Random(seed)
    plan = []
    for i in range(count):
        rcpts = rnd.sample(users, nrcpt)
        plan.append((rcpts, lmtpload.make_message(sizes(rnd), tag, i, rcpts[0])))
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_common_args(ap)
    ap.add_argument("--messages", type=int, default=20000,
                    help="4 KiB messages of 4k-1 (4k-10: a tenth), default 20000")
    ap.add_argument("--mix", type=int, default=2000,
                    help="mixed-size messages of mix-1 (mix-10: a tenth), default 2000")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--only", help="run only these workloads (comma separated: "
                                   "4k-1,mix-1,4k-10,mix-10)")
    ap.add_argument("--tcp", action="store_true",
                    help="deliver over TCP with AUTH PLAIN instead of the unix socket")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="an imapd.conf option for our server only (repeatable)")
    args = ap.parse_args()
    cli.install_signal_handlers()
    if args.users < 10:
        ap.error("--users must be at least 10 (10-recipient workloads)")
    ours_opts = {}
    for kv in args.option:
        if "=" not in kv:
            ap.error("--option wants key=value, not %r" % kv)
        k, v = kv.split("=", 1)
        ours_opts[k.strip()] = v.strip()

    users = ["u%d" % i for i in range(args.users)]
    works = workloads(args)
    rep = report.Report("LMTP delivery: %d connections (%s), %d users%s"
                        % (args.connections, "TCP, AUTH PLAIN" if args.tcp else "unix socket",
                           args.users,
                           "; ours with " + " ".join(args.option) if args.option else ""))
    res = {}            # workload -> side -> stats
    disks = []
    failed = []
    with cli.Sides(args, users=users, prefork={"lmtpunix": args.connections,
                                               "lmtp": args.connections},
                   per_side={"ours": {"options": ours_opts}}) as sides:
        for side, inst in sides.running():
            print("%s: up in %s (lmtp %s)" % (inst.label, inst.dir,
                                               inst.lmtp_port if args.tcp else inst.lmtp_socket),
                  flush=True)
        for k, (name, count, nrcpt, sizes) in enumerate(works):
            if not args.no_disk:
                disks.append(disk.measure(cli.basedir(args), args.disk_seconds))
                print(disks[-1].summary(), flush=True)
            plan = make_plan("%s-%d" % (name, os.getpid()), count, nrcpt, sizes, users,
                             seed=k + 1)
            order = sides.running()
            if k % 2:
                order = order[::-1]
            for side, inst in order:
                try:
                    st = lmtpload.deliver_plan(inst, plan, conns=args.connections,
                                               unix=not args.tcp,
                                               tag="%s-%s" % (side, name))
                except Exception as e:
                    traceback.print_exc()
                    failed.append("%s %s: %s" % (inst.label, name, e))
                    sides.drop(side, "failed: %s" % (str(e).splitlines() or [repr(e)])[0])
                    continue
                res.setdefault(name, {})[side] = st
                if st["failures"]:
                    failed.append("%s %s: %d recipients not delivered"
                                  % (inst.label, name, st["failures"]))
                print("  %-7s %-12s %6d msgs in %6.2f s: %7.0f msg/s %7.0f rcpt/s %6.1f MB/s"
                      "  p50 %6.1f ms  p99 %7.1f ms%s"
                      % (name, inst.label, count, st["seconds"], st["msgs_per_s"],
                         st["deliveries_per_s"], st["bytes_per_s"] / 1e6, st["p50_ms"],
                         st["p99_ms"],
                         "  FAILED %d" % st["failures"] if st["failures"] else ""), flush=True)
            del plan
        if not args.no_disk and works:
            disks.append(disk.measure(cli.basedir(args), args.disk_seconds))
            print(disks[-1].summary(), flush=True)
        sides.apply(rep)
    rep.disk = disk.merge(disks) if disks else None

    def fig(name, side, key, scale=1.0):
        st = res.get(name, {}).get(side)
        return None if st is None else st[key] * scale

    rows = {}
    for name, count, nrcpt, sizes in works:
        what = "%s (%d msgs)" % (name, count)
        rows[name, "msgs"] = rep.add(what, "msg/s", fig(name, "ours", "msgs_per_s"),
                                     fig(name, "ref", "msgs_per_s"), disk="create")
        if nrcpt > 1:
            rows[name, "rcpts"] = rep.add("%s deliveries" % name, "rcpt/s",
                                          fig(name, "ours", "deliveries_per_s"),
                                          fig(name, "ref", "deliveries_per_s"))
        if name.startswith("mix"):
            rep.add("%s data" % name, "MB/s", fig(name, "ours", "bytes_per_s", 1e-6),
                    fig(name, "ref", "bytes_per_s", 1e-6))
        rep.add("%s p50" % name, "ms", fig(name, "ours", "p50_ms"), fig(name, "ref", "p50_ms"),
                higher_is_better=False)
        rep.add("%s p99" % name, "ms", fig(name, "ours", "p99_ms"), fig(name, "ref", "p99_ms"),
                higher_is_better=False)
    for f in failed:
        rep.note("FAILED: " + f)
    if args.option:
        rep.note("ours ran with " + " ".join(args.option))
    print()
    rep.print()
    print("targets (issue #6):")
    for key, need, text in ((("4k-1", "msgs"), 1.5, "4k-1 msg/s >= 1.5 x Cyrus"),
                            (("4k-10", "rcpts"), 1.0, "4k-10 deliveries/s >= Cyrus")):
        r = rows.get(key)
        x = r and r["ours_over_ref"]
        if x is None:
            print("  %-30s not measured" % text)
        else:
            print("  %-30s %.2fx: %s" % (text, x, "met" if x >= need else "NOT met"))
    if args.json:
        rep.write_json(args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
