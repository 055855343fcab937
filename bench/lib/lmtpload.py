"""LMTP delivery load against an instance.Instance: N connections, each in
its own thread, delivering messages of a given size to given recipients,
with per-message latencies.

    stats = deliver(inst, count=200, conns=4, size=4096, rcpts=["alice"])
    stats["msgs_per_s"], stats["deliveries_per_s"], stats["p50_ms"], ...
    stats = deliver_plan(inst, [(rcpts, data), ...], conns=8)   # any mix

Every connection first delivers one untimed message, one connection after
the other: on a fresh Cyrus spool the first concurrent deliveries race to
create the staging directory (one lmtpd can die on an assertion), and the
warm-up also lets master fork the processes before the clock starts.
Connections over TCP authenticate as the admin (AUTH PLAIN), as both
servers require on TCP; over the unix socket they are trusted.

Threads are enough for the client side: each waits for the server most of
the time (the GIL is released in socket calls); at some thousands of
messages per second the client itself becomes a limit, so the figure is
also returned as client CPU seconds.
"""

import os
import threading
import time

from .instance import LMTPClient  # noqa: F401  (re-exported for benchmarks)


def make_message(size, tag, i, rcpt="alice"):
    """An RFC 5322 message of about `size` bytes, with a unique Message-ID
    (so that duplicate suppression never drops one)."""
    head = ("From: Bench Sender <sender@example.org>\r\n"
            "To: %s@localhost\r\n"
            "Subject: bench message %s-%d\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            "Message-ID: <%s.%d.%d@bench.example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n" % (rcpt, tag, i, tag, os.getpid(), i)).encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n"
    need = max(0, size - len(head))
    body = (line * (need // len(line) + 1))[:need]
    if need >= 2:
        body = body[:-2] + b"\r\n"
    return head + body


def _pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def deliver(inst, count, conns=4, size=4096, rcpts=("alice",), unix=False,
            tag=None, timeout=120):
    """Deliver `count` messages of `size` bytes (each to all `rcpts`) over
    `conns` connections; returns a dict of figures (see deliver_plan)."""
    tag = tag or "%s%d" % (inst.kind, int(time.time() * 1000) % 100000000)
    rcpts = list(rcpts)
    plan = [(rcpts, make_message(size, tag, i, rcpts[0])) for i in range(count)]
    st = deliver_plan(inst, plan, conns=conns, unix=unix, tag=tag, timeout=timeout)
    st["size"] = size
    st["rcpts"] = len(rcpts)
    return st


def deliver_plan(inst, plan, conns=4, unix=False, tag=None, timeout=120):
    """Deliver the messages of `plan`, a list of (recipients, data), over
    `conns` connections (connection k takes messages k, k+conns, ...);
    returns a dict of figures: msgs_per_s (messages accepted for all their
    recipients), deliveries_per_s (recipients accepted), bytes_per_s,
    p50_ms / p99_ms (one transaction), failures (recipients refused or
    lost), client_cpu_s.  Failures (a refused recipient, a dropped
    connection) are counted, not raised."""
    tag = tag or "%s%d" % (inst.kind, int(time.time() * 1000) % 100000000)
    if not plan:
        raise ValueError("empty plan")
    warm_rcpt = plan[0][0][0]
    clients = []
    try:
        for k in range(conns):
            c = inst.lmtp(unix=unix, timeout=timeout)
            codes = c.deliver("sender@example.org", [warm_rcpt],
                              make_message(1024, tag + "w", k, warm_rcpt))
            if 250 not in codes:
                raise RuntimeError("%s: warm-up delivery refused: %s" % (inst.label, codes))
            clients.append(c)
        if hasattr(inst, "remember"):
            inst.remember()
        msgs = [plan[k::conns] for k in range(conns)]
        lat = [[] for _ in range(conns)]
        errors = [0] * conns
        ok = [0] * conns
        whole = [0] * conns
        nbytes = [0] * conns
        barrier = threading.Barrier(conns + 1)

        def worker(k):
            c = clients[k]
            barrier.wait()
            for rcpts, m in msgs[k]:
                t0 = time.perf_counter()
                try:
                    codes = c.deliver("sender@example.org", rcpts, m)
                except Exception:
                    errors[k] += sum(len(r) for r, _ in msgs[k][len(lat[k]):])
                    return
                lat[k].append(time.perf_counter() - t0)
                good = sum(1 for x in codes if x == 250)
                ok[k] += good
                if good == len(rcpts):
                    whole[k] += 1
                    nbytes[k] += len(m)
                errors[k] += len(rcpts) - good

        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(conns)]
        for t in threads:
            t.start()
        cpu0 = time.process_time()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        for c in clients:
            c.quit()
    all_lat = [x for l in lat for x in l]
    delivered_msgs = sum(whole)
    rcpt_counts = {len(r) for r, _ in plan}
    return {
        "messages": len(plan), "connections": conns,
        "size": sum(len(m) for _, m in plan) // len(plan),
        "rcpts": rcpt_counts.pop() if len(rcpt_counts) == 1 else None,
        "unix": unix, "seconds": elapsed,
        "bytes_per_s": sum(nbytes) / elapsed if elapsed > 0 else 0.0,
        "msgs_per_s": delivered_msgs / elapsed if elapsed > 0 else 0.0,
        "deliveries_per_s": sum(ok) / elapsed if elapsed > 0 else 0.0,
        "msgs_ok": delivered_msgs, "deliveries_ok": sum(ok), "failures": sum(errors),
        "p50_ms": (_pct(all_lat, 50) or 0) * 1000,
        "p99_ms": (_pct(all_lat, 99) or 0) * 1000,
        "client_cpu_s": cpu,
    }
