"""The smoke benchmark that proves the plumbing: measure the disk, start
the reference (Debian's Cyrus 3.6.1) and our server side by side, deliver
the same LMTP load to each (default 200 messages of 4 KiB to one recipient
over 4 connections, in 2 rounds alternating between the servers and the
disk measurement, so that a change of machine load hits all of them), and
print messages/s for both with the ratios.

    python3 bench/lib/selftest.py [--build DIR] [--messages N] [--conns N]
        [--size BYTES] [--rounds N] [--unix] [--json FILE] [--no-ref] ...

Exit status: 0 when every side that ran delivered everything; 1 when a
side failed (not when it is merely unavailable: that is reported).
"""

import argparse
import os
import sys
import traceback

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "lib"
    import lib  # noqa: F401

from . import cli, disk, lmtpload, report  # noqa: E402


def inbox_count(inst, user):
    m = inst.imap(user)
    try:
        typ, data = m.select("INBOX", readonly=True)
        return int(data[0]) if typ == "OK" else None
    finally:
        m.logout()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_common_args(ap)
    ap.add_argument("--messages", type=int, default=200, help="per server, all rounds")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--unix", action="store_true", help="deliver over the unix socket")
    args = ap.parse_args(argv)
    cli.install_signal_handlers()
    rounds = max(1, min(args.rounds, args.messages))

    rep = report.Report("bench/lib selftest: LMTP %d x %d B, 1 rcpt, %d connections%s, %d rounds"
                        % (args.messages, args.size, args.conns,
                           " (unix socket)" if args.unix else " (TCP, AUTH PLAIN)", rounds))
    ok = True
    totals = {}          # side -> [messages, seconds, latencies-ish stats]
    disks = []
    with cli.Sides(args, users=["alice"]) as sides:
        for side, inst in sides.running():
            print("%s: up in %s (imap %d, lmtp %d)" % (inst.label, inst.dir, inst.imap_port,
                                                       inst.lmtp_port), flush=True)
        for r in range(rounds):
            if not args.no_disk:
                disks.append(disk.measure(cli.basedir(args), args.disk_seconds / rounds))
            n = args.messages // rounds + (1 if r < args.messages % rounds else 0)
            for side, inst in sides.running():
                try:
                    st = lmtpload.deliver(inst, n, args.conns, args.size, rcpts=["alice"],
                                          unix=args.unix, tag="%s%d" % (side, r))
                except Exception as e:
                    traceback.print_exc()
                    sides.drop(side, "failed: %s" % (str(e).splitlines() or [repr(e)])[0])
                    totals.pop(side, None)
                    ok = False
                    continue
                print("  round %d %-12s %4d msgs in %.2f s = %6.0f msg/s, p50 %.1f ms, "
                      "p99 %.1f ms, %d failures" % (r + 1, inst.label, n, st["seconds"],
                                                    st["msgs_per_s"], st["p50_ms"],
                                                    st["p99_ms"], st["failures"]), flush=True)
                t = totals.setdefault(side, {"ok_msgs": 0, "seconds": 0.0, "failures": 0,
                                             "p50": [], "p99": [], "rates": []})
                t["ok_msgs"] += st["msgs_ok"]
                t["seconds"] += st["seconds"]
                t["failures"] += st["failures"]
                t["p50"].append(st["p50_ms"])
                t["p99"].append(st["p99_ms"])
                t["rates"].append(st["msgs_per_s"])
        # every message must be in the INBOX: the delivered ones plus one
        # warm-up message per connection and round
        for side, inst in sides.running():
            shown = inbox_count(inst, "alice")
            expected = args.messages + args.conns * rounds
            t = totals[side]
            if t["failures"] or shown != expected:
                rep.note("%s: %d failures, INBOX holds %s of %d" % (inst.label, t["failures"],
                                                                   shown, expected))
                ok = False
            else:
                rep.note("%s: INBOX holds all %d messages" % (inst.label, shown))
        sides.apply(rep)
    rep.disk = disk.merge(disks)

    def fig(side, what):
        t = totals.get(side)
        if not t:
            return None
        if what == "rate":
            return t["ok_msgs"] / t["seconds"] if t["seconds"] else None
        return sorted(t[what])[len(t[what]) // 2]
    rep.add("LMTP delivery", "msg/s", fig("ours", "rate"), fig("ref", "rate"), disk="create",
            note="per round: ours %s; ref %s" % (
                " ".join("%.0f" % x for x in totals.get("ours", {}).get("rates", [])) or "-",
                " ".join("%.0f" % x for x in totals.get("ref", {}).get("rates", [])) or "-"))
    rep.add("latency p50 (median of rounds)", "ms", fig("ours", "p50"), fig("ref", "p50"),
            higher_is_better=False)
    rep.add("latency p99 (median of rounds)", "ms", fig("ours", "p99"), fig("ref", "p99"),
            higher_is_better=False)
    print()
    rep.print()
    if args.json:
        rep.write_json(args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
