"""Integration tests of master and the service skeleton, with the echod
test daemon (tests/echod.c) on free loopback ports."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from util import (Entry, LineClient, Master, Service, alive, descendants_of,
                  ensure_service_user, is_root, parse_banner, port_open, program,
                  service_path, wait_port, wait_port_closed, wait_until, zombies_of)


def connect(port, timeout=10.0):
    c = LineClient(port, timeout=timeout)
    banner = parse_banner(c.readline())
    return c, banner


def echo_once(port):
    with LineClient(port) as c:
        b = parse_banner(c.readline())
        c.send("hello")
        assert c.readline() == "ECHO hello"
        c.send("QUIT")
        assert c.readline() == "BYE"
        return b


# ---- prefork, maxchild, replacement --------------------------------------

def test_prefork_met_and_kept_after_each_connection(master):
    # -U 1: each worker serves one connection and exits, so master must
    # replace it every time to keep 3 available
    svc = Service("echo", "echod -U 1", prefork=3)
    m = master(services=[svc])
    workers = m.wait_workers("echo", 3, stable=0.3)
    served = set()
    for i in range(5):
        b = echo_once(svc.port)
        pid = int(b["pid"])
        assert pid in workers        # one of the preforked workers took it
        served.add(pid)
        wait_until(lambda: not alive(pid), what="used worker to exit")
        workers = m.wait_workers("echo", 3)
        assert pid not in workers
    assert len(served) == 5
    assert m.read_log().count("process exited: service=<echo>") >= 5
    # every exited worker was reaped
    wait_until(lambda: not zombies_of(m.pid), 5, what="no zombies")


def test_busy_workers_are_counted_exactly(master):
    svc = Service("echo", "echod", prefork=2)
    m = master(services=[svc])
    m.wait_workers("echo", 2, stable=0.3)
    a, ba = connect(svc.port)
    # one busy + 2 available, and no more than that
    m.wait_workers("echo", 3, stable=0.5)
    b, bb = connect(svc.port)
    m.wait_workers("echo", 4, stable=0.5)
    assert ba["pid"] != bb["pid"]
    a.send("x")
    assert a.readline() == "ECHO x"
    a.close()
    b.close()
    # workers go back to available: nothing is forked or killed
    m.wait_workers("echo", 4, stable=0.5)


def test_maxchild_caps_connections(master):
    svc = Service("echo", "echod", prefork=1, maxchild=2)
    m = master(services=[svc])
    a, ba = connect(svc.port)
    b, bb = connect(svc.port)
    assert ba["pid"] != bb["pid"]
    # the third connection waits in the backlog: no banner, no new worker
    c = LineClient(svc.port)
    with pytest.raises(socket.timeout):
        c.readline(timeout=1.0)
    assert len(m.workers("echo")) == 2
    assert m.proc.poll() is None
    a.send("QUIT")
    assert a.readline() == "BYE"
    a.close()
    bc = parse_banner(c.readline(timeout=10))
    assert bc["pid"] == ba["pid"]    # the freed worker took it
    c.send("y")
    assert c.readline() == "ECHO y"
    b.close()
    c.close()
    assert len(m.workers("echo")) <= 2
    assert "throttled" not in m.read_log()


def test_killed_worker_is_replaced(master):
    svc = Service("echo", "echod", prefork=2)
    m = master(services=[svc])
    before = m.wait_workers("echo", 2)
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: before[0] not in m.workers("echo") and len(m.workers("echo")) == 2,
               what="replacement worker")
    m.wait_log(r"pid=<%d> status=<killed by signal 9" % before[0])
    echo_once(svc.port)


# ---- a broken service -----------------------------------------------------

def test_broken_service_is_throttled_others_keep_serving(master):
    good = Service("echo", "echod", prefork=1)
    m = master(services=[good])
    forks = m.path("forks")
    broken = Service("broken", "/bin/sh -c 'echo x >> %s; exit 1'" % forks, prefork=2)
    m.services.append(broken)
    m.reload()
    t0 = time.monotonic()
    served = 0
    while time.monotonic() - t0 < 6.0:
        echo_once(good.port)
        served += 1
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    with open(forks) as f:
        n = len(f.read().splitlines())
    # without throttling this would be thousands; with it: a burst of 3,
    # then 1 s, 2 s, 4 s apart (a loaded machine only makes it fewer)
    assert 3 <= n <= 12, "%d forks in %.1fs" % (n, elapsed)
    assert served >= 10
    m.wait_log(r"service throttled: service=<broken>")
    assert m.proc.poll() is None


def test_missing_command_is_throttled(master):
    good = Service("echo", "echod", prefork=1)
    missing = Service("missing", "no-such-daemon-here", prefork=1)
    m = master(services=[good, missing])
    m.wait_log(r"service throttled: service=<missing>", timeout=5)
    n = m.read_log().count("command not found: service=<missing>")
    time.sleep(1.5)
    assert m.read_log().count("command not found: service=<missing>") <= n + 2
    echo_once(good.port)


# ---- events, START, DAEMON -----------------------------------------------

def test_events_run_on_schedule(master):
    m = master(events=[Entry("tick", "/bin/sh -c 'date +%s.%N >> TICKS'", period="1s"),
                       Entry("later", "/bin/sh -c 'touch LATER'", at="0000")])
    # the paths are relative to master's directory (its cwd)
    t0 = time.monotonic()
    ticks = m.path("TICKS")
    wait_until(lambda: os.path.exists(ticks), 5, what="first event run")
    time.sleep(3.3 - (time.monotonic() - t0))
    with open(ticks) as f:
        stamps = [float(x) for x in f.read().split()]
    assert 3 <= len(stamps) <= 5, stamps
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.5 <= g <= 2.0 for g in gaps), gaps
    # an at= event waits for its time of day (midnight is far enough away
    # unless the test runs across it)
    if time.localtime().tm_hour != 23 and time.localtime().tm_hour != 0:
        assert not os.path.exists(m.path("LATER"))
    assert m.read_log().count("event started: event=<tick>") >= 3


def test_start_entries_run_first_and_failures_go_on(master):
    port_holder = Service("echo", "echod", prefork=1)
    probe = ("/usr/bin/python3 -c \"import socket,sys;"
             "s=socket.socket();r=s.connect_ex(('127.0.0.1',%d));"
             "open(sys.argv[1],'w').write('open' if r==0 else 'closed')\" PROBE"
             % port_holder.port)
    m = master(start=[Entry("fails", "/bin/sh -c 'exit 3'"),
                      Entry("probe", probe)],
               services=[port_holder])
    with open(m.path("PROBE")) as f:
        assert f.read() == "closed"       # START ran before listening
    log = m.read_log()
    assert "START entry failed: name=<fails> status=<exited 3>" in log
    assert log.index("START entry done: name=<probe>") < log.index("service started")
    echo_once(port_holder.port)


def test_daemon_is_respawned(master):
    m = master(daemons=[Entry("sleeper", "/bin/sh -c 'echo $$ >> PIDS; exec sleep 60'")])
    pids_file = m.path("PIDS")

    def pids():
        try:
            with open(pids_file) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []
    first = wait_until(lambda: pids(), 5, what="daemon start")[0]
    wait_until(lambda: alive(first), 5)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(pids()) >= 2, 10, what="daemon respawn")
    assert alive(pids()[1])
    assert len(m.children()) == 1


# ---- SIGHUP ------------------------------------------------------------------

def test_sighup_adds_and_removes_services(master):
    a = Service("alpha", "echod -w A", prefork=1)
    m = master(services=[a])
    b = Service("beta", "echod -w B", prefork=1)
    m.services = [a, b]
    m.reload()
    m.wait_log(r"service started: service=<beta>")
    assert echo_once(b.port)["args"] == "-w,B"
    wait_until(lambda: m.workers("beta"), what="beta workers")
    alpha_workers = m.wait_workers("alpha", 1)

    m.services = [b]
    m.reload()
    wait_port_closed(a.port)
    wait_until(lambda: not m.workers("alpha"), what="alpha workers to leave")
    assert all(not alive(p) for p in alpha_workers)
    m.wait_log(r"service removed: service=<alpha>")
    echo_once(b.port)


def test_sighup_changed_service_restarts_and_busy_finish(master):
    a = Service("alpha", "echod -w one", prefork=1)
    m = master(services=[a])
    c, b1 = connect(a.port)          # a busy worker of the old config
    assert b1["args"] == "-w,one"
    a.cmd = "echod -w two"
    m.reload()
    m.wait_log(r"service changed, restarting: service=<alpha>")
    # the socket was kept: new connections get the new command
    wait_until(lambda: echo_once(a.port)["args"] == "-w,two", 10,
               what="new command")
    # the old busy worker finishes its connection, then leaves
    c.send("still here")
    assert c.readline() == "ECHO still here"
    old = int(b1["pid"])
    assert alive(old)
    c.close()
    wait_until(lambda: not alive(old), 10, what="old worker to leave")


def test_broken_conf_on_sighup_keeps_old_config(master):
    a = Service("alpha", "echod", prefork=2)
    m = master(services=[a])
    workers = m.wait_workers("alpha", 2)
    m.reload("SERVICES {\n  alpha cmd=\"echod\" listen=\"127.0.0.1:%d\"\n"
             "  bad cmd=\"echod\" listen=\"127.0.0.1:1\" prefork=zz\n" % a.port)
    m.wait_log(r"cyrus.conf rejected, keeping the old configuration")
    log = m.read_log()
    assert "cyrus.conf:3: bad: prefork must be" in log
    assert "cyrus.conf:1: section SERVICES is not closed" in log
    assert all(alive(p) for p in workers)     # nothing was restarted
    echo_once(a.port)
    # and a good file is taken again afterwards
    b = Service("beta", "echod", prefork=1)
    m.services = [a, b]
    m.reload()
    wait_port(b.port)
    echo_once(b.port)


# ---- SIGTERM, pid file ---------------------------------------------------------

def test_sigterm_leaves_nothing(master):
    a = Service("alpha", "echod", prefork=3)
    m = master(services=[a],
               daemons=[Entry("sleeper", "/bin/sleep 300")],
               events=[Entry("ev", "/bin/sleep 300", period="1h")])
    m.wait_workers("alpha", 3)
    c, _ = connect(a.port)     # one worker busy
    wait_until(lambda: len(m.children()) >= 6, what="all children")
    everything = m._remember(descendants_of(m.pid))
    assert len(everything) >= 6
    assert os.path.exists(m.pidfile)
    os.kill(m.pid, signal.SIGTERM)
    assert m.proc.wait(15) == 0
    assert not os.path.exists(m.pidfile)
    assert [p for p in everything if alive(p)] == []
    assert not port_open(a.port)
    c.close()
    m.stop()   # checks again: nothing left


def test_sigint_also_stops(master):
    m = master(services=[Service("alpha", "echod", prefork=1)])
    os.kill(m.pid, signal.SIGINT)
    assert m.proc.wait(15) == 0
    assert not os.path.exists(m.pidfile)


def test_second_master_on_same_pidfile_is_refused(master):
    m = master(services=[Service("alpha", "echod", prefork=1)])
    other = subprocess.run(m.command(), env=m.environment(), capture_output=True,
                           timeout=15, text=True)
    assert other.returncode != 0
    assert "another master is running" in other.stdout + other.stderr
    assert str(m.pid) in other.stdout + other.stderr
    assert m.proc.poll() is None
    assert open(m.pidfile).read().strip() == str(m.pid)


def test_workers_leave_when_master_dies(master):
    m = master(services=[Service("alpha", "echod", prefork=3)])
    workers = m.wait_workers("alpha", 3)
    os.kill(m.pid, signal.SIGKILL)
    m.proc.wait(10)
    wait_until(lambda: not any(alive(p) for p in workers), 10,
               what="orphaned workers to exit")
    m.stop(check=False)     # master is gone: nothing else to check


# ---- the skeleton's contract --------------------------------------------------------

def test_skeleton_passes_argv_addresses_and_tls_flag(master):
    # maxchild=1: while the first connection is busy master may not fork a
    # second worker, so the next connection must reach the same process
    plain = Service("plain", "echod -w hello", prefork=1, maxchild=1)
    tls = Service("wrapped", "echod -w x -s -w y", prefork=1)
    m = master(services=[plain, tls],
               imapd_options={"servername": "global.example",
                              "wrapped_servername": "wrapped.example"})
    with LineClient(plain.port) as c:
        b = parse_banner(c.readline())
        assert b["service"] == "plain"
        assert b["args"] == "-w,hello"
        assert b["tls"] == "0"
        me = c.sock.getsockname()
        assert b["peer"] == "%s;%d" % me
        assert b["local"] == "127.0.0.1;%d" % plain.port
        assert b["n"] == "1"
    # the same process serves the next connection (default -U 250)
    b2 = echo_once(plain.port)
    assert b2["pid"] == b["pid"] and b2["n"] == "2"
    assert b["servername"] == "global.example"
    # per-service overrides use the cyrus.conf entry's name
    bt = echo_once(tls.port)
    assert bt["tls"] == "1"
    assert bt["args"] == "-w,x,-w,y"     # the skeleton took -C and -s only
    assert bt["servername"] == "wrapped.example"


def test_unix_socket_service(master, tmp_path):
    d = tempfile.mkdtemp(prefix="cyrus-sock-")
    os.chmod(d, 0o755)
    if is_root():   # the socket directory belongs to the service user
        pw = ensure_service_user()
        os.chown(d, pw.pw_uid, pw.pw_gid)
    path = os.path.join(d, "echo.sock")
    try:
        m = master(services=[Service("local", "echod", listen=path, prefork=1)])
        wait_until(lambda: os.path.exists(path), what="socket file")
        with LineClient(path=path) as c:
            b = parse_banner(c.readline())
            assert b["peer"] == "unix"
            c.send("hi")
            assert c.readline() == "ECHO hi"
        m.stop()
        assert not os.path.exists(path)     # removed with the listener
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(d)


def test_idle_timeout_ends_worker_and_master_replaces_it(master):
    svc = Service("echo", "echod -T 1", prefork=1)
    m = master(services=[svc])
    first = m.wait_workers("echo", 1)[0]
    wait_until(lambda: not alive(first), 5, what="idle worker to time out")
    second = wait_until(lambda: [p for p in m.workers("echo") if p != first], 5,
                        what="replacement")
    assert second
    assert "throttled" not in m.read_log()


def test_threaded_service_owns_its_listener(master):
    svc = Service("mt", "echod -t", prefork=1)
    m = master(services=[svc])
    pid = m.wait_workers("mt", 1)[0]
    conns = [connect(svc.port) for _ in range(3)]    # concurrently
    assert {b["pid"] for _, b in conns} == {str(pid)}
    for c, _ in conns:
        c.send("z")
        assert c.readline() == "ECHO z"
    m.wait_workers("mt", 1, stable=0.5)             # master forked nothing
    for c, _ in conns:
        c.close()
    m.wait_log(r"threaded service ready: service=<mt>")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: [p for p in m.workers("mt") if p != pid], 10,
               what="threaded service restarted")
    echo_once(svc.port)


def test_service_outside_master(cyrus_build):
    out = subprocess.run([program("echod"), "-V"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("echod ")
    out = subprocess.run([program("echod"), "-C", "/dev/null"], capture_output=True,
                         text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert out.returncode == 75
    assert "must be started by master" in out.stderr
    out = subprocess.run([program("master"), "-V"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("master ")
    assert service_path()


def test_master_rejects_broken_conf_at_start(cyrus_build):
    m = Master()
    try:
        m.write_conf("SERVICES {\n x cmd=echod listen=1 bogus=1\n}\n")
        r = subprocess.run(m.command(), env=m.environment(), capture_output=True,
                           text=True, timeout=15)
        assert r.returncode == 75
        assert "cyrus.conf:2: x: unknown key \"bogus\"" in r.stdout + r.stderr
        assert not os.path.exists(m.pidfile)
    finally:
        m.cleanup()
