"""A benchmark's result table: each figure measured on our server and on
the reference (Debian's Cyrus 3.6.1) in the same run, with the ratio
ours/reference and, for rates bounded by the disk, each figure as a
fraction of the disk's limit (disk.DiskLimits) measured in the same run.

    rep = Report("LMTP delivery", disk=limits)
    rep.set_side("ours", "ours (build-run)")
    rep.set_side("ref", "Cyrus 3.6.1", unavailable=None or "why")
    rep.add("4 KiB, 1 rcpt, 8 conns", "msg/s", ours=812.0, ref=760.0, disk="create")
    rep.add("p50 latency", "ms", ours=9.5, ref=10.0, higher_is_better=False)
    rep.print()                  # the table on stdout
    rep.write_json("out.json")   # the same figures, machine-readable

A figure that was not measured (a side unavailable, a failed run) is None
and prints as "-"; its ratios too.  `disk` names the limit a rate is
compared with: "fsync" (4 KiB write+fsync of one file), "create" (4 KiB
new file: create+write+fsync+rename+directory fsync), a number (ops/s), or
None for figures that are not rates.  ours/ref is always ours divided by
the reference: above 1 is better for rates, below 1 for latencies and
durations (the `better` column says which).
"""

import json
import os
import platform
import sys
import time


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 100:
        return "{:,.0f}".format(v)
    if a >= 10:
        return "%.1f" % v
    if a >= 0.01 or a == 0:
        return "%.2f" % v
    return "%.2g" % v


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


class Report:
    def __init__(self, title, disk=None, notes=None):
        self.title = title
        self.disk = disk
        self.notes = list(notes or [])
        self.sides = {"ours": {"label": "ours", "unavailable": None, "info": {}},
                      "ref": {"label": "Cyrus 3.6.1", "unavailable": None, "info": {}}}
        self.rows = []
        self.started = time.time()

    def set_side(self, side, label=None, unavailable=None, info=None):
        """side: "ours" or "ref"; unavailable: why it was not measured."""
        s = self.sides[side]
        if label:
            s["label"] = label
        s["unavailable"] = unavailable
        if info:
            s["info"].update(info)

    def note(self, text):
        self.notes.append(text)

    def _disk_limit(self, disk):
        if disk is None:
            return None, None
        if isinstance(disk, (int, float)):
            return float(disk), "%.0f/s" % disk
        if self.disk is None:
            return None, disk
        return self.disk.rate(disk), disk

    def add(self, name, unit, ours=None, ref=None, higher_is_better=True, disk=None, note=None):
        limit, limit_name = self._disk_limit(disk)
        row = {"figure": name, "unit": unit, "ours": ours, "ref": ref,
               "better": "higher" if higher_is_better else "lower",
               "ours_over_ref": _ratio(ours, ref),
               "disk_limit": limit_name, "disk_limit_per_s": limit,
               "ours_over_disk": _ratio(ours, limit), "ref_over_disk": _ratio(ref, limit),
               "note": note}
        self.rows.append(row)
        return row

    # -- output --

    def text(self):
        out = ["== %s ==" % self.title]
        if self.disk is not None:
            out.append(self.disk.summary())
        for side in ("ours", "ref"):
            s = self.sides[side]
            if s["unavailable"]:
                out.append("%s: not measured: %s" % (s["label"], s["unavailable"]))
        ours_l, ref_l = self.sides["ours"]["label"], self.sides["ref"]["label"]
        head = ["figure", "unit", ours_l, ref_l, "ours/ref", "better",
                "ours/disk", "ref/disk", "disk limit"]
        body = []
        for r in self.rows:
            body.append([r["figure"], r["unit"], _fmt(r["ours"]), _fmt(r["ref"]),
                         _fmt(r["ours_over_ref"]), r["better"],
                         _fmt(r["ours_over_disk"]), _fmt(r["ref_over_disk"]),
                         r["disk_limit"] or "-"])
        widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
        # text columns left-aligned, numbers right-aligned
        left = {0, 1, 5, 8}

        def line(cells):
            return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
        out.append(line(head))
        out.append(line(["-" * w for w in widths]))
        out += [line(b) for b in body]
        for r in self.rows:
            if r["note"]:
                out.append("  * %s: %s" % (r["figure"], r["note"]))
        out += ["note: %s" % n for n in self.notes]
        return "\n".join(out)

    def print(self, file=None):
        print(self.text(), file=file or sys.stdout, flush=True)

    def as_dict(self):
        return {"title": self.title, "started": self.started,
                "finished": time.time(),
                "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                            "python": platform.python_version()},
                "disk": self.disk.as_dict() if self.disk is not None else None,
                "sides": self.sides, "figures": self.rows, "notes": self.notes}

    def write_json(self, path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.as_dict(), f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
