"""Integration tests of the administrative tools: cyr_info, cvt_cyrusdb,
ctl_cyrusdb, ctl_mboxlist, quota, reconstruct and mbpath.

Each test builds a mail store in a temporary directory with the
tests/mkstore test tool (public store API, no daemon) and runs the tools on
it as the current user, checking what their man pages (man/*.8) promise:
output formats, exit statuses (sysexits: 64 usage, 65 bad input, 66 no
input, 73 cannot create, 74 I/O, 75 temporary/configuration failure) and
the state of the store afterwards.

Run: CYRUS_BUILDDIR=<build> /usr/bin/python3 -m pytest -q tests/test_tools.py
"""

import os
import re
import shutil
import subprocess

import pytest

import util
from tools_fixtures import (QUOTA_HEADER, Store, flat_write, parse_quota_report, run,
                            snapshot, tool_path, write_conf)

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_CANTCREAT, EX_IOERR, EX_TEMPFAIL = 64, 65, 66, 73, 74, 75

TOOLS = ["cyr_info", "cvt_cyrusdb", "ctl_cyrusdb", "ctl_mboxlist", "quota",
         "reconstruct", "mbpath", "mkstore"]


@pytest.fixture(scope="module", autouse=True)
def built_tools():
    if not util.builddir():
        pytest.skip("no build tree: set CYRUS_BUILDDIR")
    try:
        for t in TOOLS:
            tool_path(t)
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "s", backend="flat")


@pytest.fixture(params=["berkeley", "flat"])
def any_store(request, tmp_path):
    return Store(tmp_path / "s", backend=request.param)


def msg(subject, body="hello\r\n", extra=""):
    return ("From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
            "Subject: %s\r\n%s\r\n%s" % (subject, extra, body)).encode()


def populate(st):
    """A small store: alice (3 messages) with Sent (2) and a sibling
    user.alice-x, bob, shared.memo, and carol on partition "other"."""
    for name in ("user.alice", "user.alice.Sent", "user.alice-x", "user.bob", "shared.memo"):
        st.create(name)
    st.create("user.carol", "other")
    st.gen("user.alice", 3)
    st.gen("user.alice.Sent", 2)
    st.append("user.bob", msg("for bob", "x" * 5000 + "\r\n"))


# ==== cyr_info ================================================================

def cyr_info(*args):
    return run([tool_path("cyr_info")] + [str(a) for a in args])


def options_table():
    r = cyr_info("options")
    assert r.returncode == 0, r.stderr
    table = {}
    for line in r.stdout.splitlines():
        fields = line.split("\t")
        assert len(fields) == 4 and all(fields[:3]), "bad options line %r" % line
        table[fields[0]] = fields
    return table


def test_cyr_info_options_lists_the_table():
    table = options_table()
    assert len(table) > 50
    assert table["timeout"][1] == "duration(m)"
    assert table["mboxlist_db"][1] == "enum(berkeley|berkeley-nosync|flat)"
    assert table["duplicate_db"][2] == "berkeley-nosync"
    assert table["mboxlist_db"][2] == "berkeley"
    assert table["configdirectory"][1] == "string"
    assert any(f[2] == "<none>" for f in table.values())
    # the configuration file is not read for "options"
    r = cyr_info("-C", "/nonexistent/imapd.conf", "options")
    assert r.returncode == 0 and r.stdout.count("\n") == len(table)


def test_cyr_info_conf_prints_the_file(tmp_path):
    (tmp_path / "inc.conf").write_text("admins: cyrus root\n")
    conf = tmp_path / "imapd.conf"
    conf.write_text("# a comment\n\nconfigdirectory: %s\n@include: inc.conf\n"
                    "partition-default: /var/spool/imap\nTimeOut: 10m\ntimeout: 45m\n"
                    "allowplaintext: yes\nmystery_option: 1\nimapd_timeout: 40\n"
                    % (tmp_path / "conf"))
    r = cyr_info("-C", conf, "conf")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "configdirectory: %s" % (tmp_path / "conf") in lines
    assert "admins: cyrus root" in lines                  # from the include
    assert "partition-default: /var/spool/imap" in lines  # pattern option
    assert "allowplaintext: yes" in lines
    assert "mystery_option: 1" in lines                    # unknown keys too
    assert "imapd_timeout: 40" in lines
    # each key once, with its last value
    timeouts = [l for l in lines if l.lower().startswith("timeout:")]
    assert timeouts == ["timeout: 45m"]
    assert len(lines) == len(set(l.split(":")[0].lower() for l in lines))
    # the unknown key is a warning with file:line and a suggestion
    assert re.search(r"imapd\.conf:9: unknown option 'mystery_option'", r.stderr)


def test_cyr_info_conf_all_and_defaults(tmp_path):
    conf = write_conf(tmp_path / "imapd.conf",
                      {"configdirectory": tmp_path, "timeout": "45m", "imapd_timeout": "50",
                       "mboxlist_db": "flat"})
    table = options_table()
    r = cyr_info("-C", conf, "conf-all")
    assert r.returncode == 0, r.stderr
    values = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition(":")
        assert sep and (value == "" or value.startswith(" ")), line
        values[key] = value.strip()
    assert set(values) == set(table)            # every option, once
    assert values["timeout"] == "45m"
    assert values["mboxlist_db"] == "flat"
    assert values["quota_db"] == "berkeley"     # default
    unset = [k for k, f in table.items() if f[2] == "<none>"]
    assert unset and all(values[k] == "" for k in unset)
    assert all(l != k + ": " for l in r.stdout.splitlines() for k in unset)
    # -n applies the service's overrides
    r = cyr_info("-C", conf, "-n", "imapd", "conf-all")
    assert "timeout: 50" in r.stdout.splitlines()
    r = cyr_info("-C", conf, "-n", "pop3d", "conf-all")
    assert "timeout: 45m" in r.stdout.splitlines()
    # conf-default ignores the file
    r = cyr_info("-C", conf, "conf-default")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert "timeout: %s" % table["timeout"][2] in lines
    assert "mboxlist_db: berkeley" in lines
    assert len(lines) == len(table)


def test_cyr_info_conf_lint(tmp_path):
    good = write_conf(tmp_path / "good.conf", {"configdirectory": tmp_path,
                                              "allowplaintext": "no"})
    r = cyr_info("-C", good, "conf-lint")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.strip() == "%s: 0 warnings, no errors" % good
    typo = write_conf(tmp_path / "typo.conf", {"configdirectory": tmp_path,
                                              "allowplaintxt": "no"})
    r = cyr_info("-C", typo, "conf-lint")
    assert r.returncode == 0
    assert "typo.conf:2: unknown option 'allowplaintxt' (did you mean 'allowplaintext'?)" \
        in r.stderr
    assert r.stdout.strip() == "%s: 1 warning, no errors" % typo


BROKEN_CONF = ("configdirectory: /tmp\n"
               "timeout: soon\n"
               "allowplaintxt: yes\n"
               "this line has no colon\n"
               "maxmessagesize: 12x\n")


def test_cyr_info_broken_config(tmp_path):
    conf = tmp_path / "broken.conf"
    conf.write_text(BROKEN_CONF)
    r = cyr_info("-C", conf, "conf-lint")
    assert r.returncode == 1
    assert re.search(r"broken\.conf:2: bad value for option 'timeout': 'soon'", r.stderr)
    assert re.search(r"broken\.conf:3: unknown option 'allowplaintxt'", r.stderr)
    assert re.search(r"broken\.conf:4: syntax error", r.stderr)
    assert re.search(r"broken\.conf:5: bad value for option 'maxmessagesize'", r.stderr)
    # the summary counts them (man page: "then print a summary")
    assert r.stdout.strip() == "%s: 1 warning, 3 errors" % conf
    for cmd in ("conf", "conf-all", "conf-default"):
        r = cyr_info("-C", conf, cmd)
        assert r.returncode == EX_TEMPFAIL, cmd
        assert r.stdout == ""
        assert "broken.conf:2:" in r.stderr


def test_cyr_info_includes_and_missing_files(tmp_path):
    (tmp_path / "a.conf").write_text("configdirectory: /tmp\n@include: b.conf\n")
    (tmp_path / "b.conf").write_text("admins: x\n@include: a.conf\n")
    r = cyr_info("-C", tmp_path / "a.conf", "conf-lint")
    assert r.returncode == 1 and "include loop" in r.stderr and "b.conf:2:" in r.stderr
    (tmp_path / "c.conf").write_text("configdirectory: /tmp\n@include: missing.conf\n")
    r = cyr_info("-C", tmp_path / "c.conf", "conf")
    assert r.returncode == EX_TEMPFAIL
    assert "c.conf:2:" in r.stderr and "missing.conf" in r.stderr
    missing = tmp_path / "nope.conf"
    r = cyr_info("-C", missing, "conf")
    assert r.returncode == EX_TEMPFAIL and str(missing) in r.stderr
    r = cyr_info("-C", missing, "conf-lint")
    assert r.returncode == 1 and str(missing) in r.stderr


@pytest.mark.parametrize("args", [[], ["bogus"], ["-z", "conf"], ["conf", "extra"],
                                  ["-C"]])
def test_cyr_info_usage(args):
    r = cyr_info(*args)
    assert r.returncode == EX_USAGE
    assert "usage: cyr_info" in r.stderr and r.stdout == ""


# ==== configuration errors in every tool ========================================

TOOL_ARGS = {
    "cvt_cyrusdb": ["a.db", "flat", "b.db", "flat"],
    "ctl_cyrusdb": ["-r"],
    "ctl_mboxlist": ["-d"],
    "quota": [],
    "reconstruct": ["user.alice"],
    "mbpath": ["user.alice"],
}


@pytest.mark.parametrize("name", sorted(TOOL_ARGS))
def test_bad_config_exits_75(tmp_path, name):
    conf = tmp_path / "broken.conf"
    conf.write_text(BROKEN_CONF.replace("/tmp", str(tmp_path / "conf")))
    r = run([tool_path(name), "-C", str(conf)] + TOOL_ARGS[name])
    assert r.returncode == EX_TEMPFAIL
    assert r.stdout == ""
    # each error named once with file:line
    assert r.stderr.count("broken.conf:2: bad value for option 'timeout'") == 1, r.stderr
    assert "broken.conf:4: syntax error" in r.stderr
    r = run([tool_path(name), "-C", str(tmp_path / "missing.conf")] + TOOL_ARGS[name])
    assert r.returncode == EX_TEMPFAIL and "missing.conf" in r.stderr
    assert not (tmp_path / "conf").exists()


# ==== cvt_cyrusdb ===============================================================

def cvt(st, *args, conf=None):
    return st.tool("cvt_cyrusdb", *args, conf=conf)


def test_cvt_mailboxes_round_trip(store, tmp_path):
    populate(store)
    store.ok("ctl_mboxlist", "-u", input="user.remote\tv=1 t=R s=backend2 p=p2 acl=bob\tlrs\t\n")
    before = store.dump()
    assert before.count("\n") == 7
    bdir, fdir = tmp_path / "bdb", tmp_path / "flat2"
    bdir.mkdir()
    fdir.mkdir()
    bdb, flat2 = bdir / "mailboxes.db", fdir / "mailboxes.db"
    r = cvt(store, store.mailboxes_db, "flat", bdb, "berkeley")
    assert r.returncode == 0, r.stderr
    r = cvt(store, bdb, "berkeley", flat2, "flat")
    assert r.returncode == 0, r.stderr
    # byte-exact: the flat file and every dump are the same
    with open(store.mailboxes_db, "rb") as a, open(flat2, "rb") as b:
        assert a.read() == b.read()
    bconf = store.variant("berkeley.conf", mboxlist_db="berkeley")
    assert store.dump("-f", bdb, conf=bconf) == before
    assert store.dump("-f", flat2) == before
    # the old database was only read
    assert store.dump() == before


def test_cvt_binary_records_round_trip(store, tmp_path):
    """Keys and values with every awkward byte, across several batches of
    1000 records, survive flat -> berkeley -> flat unchanged."""
    records = []
    for i in range(2500):
        key = b"key-%05d" % i
        if i % 7 == 0:
            key += b"\t\n\r\\\0\xff\x80 ."
        value = bytes((i * 31 + k) % 256 for k in range(i % 300))
        if i == 1234:
            value = b"v" * 200000
        records.append((key, value))
    records.append((b"\x01", b""))           # empty value
    src = tmp_path / "src.flat"
    flat_write(src, records)
    bdb, back = tmp_path / "mid.bdb", tmp_path / "back.flat"
    r = cvt(store, src, "flat", bdb, "berkeley")
    assert r.returncode == 0, r.stderr
    assert "records=<2501>" in r.stderr
    r = cvt(store, bdb, "berkeley", back, "flat")
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == src.read_bytes()


def test_cvt_quotas_db_keeps_mailbox_order(store):
    """quotas.db is opened in mailbox order by the servers: switching it to
    berkeley without -M must not leave roots that cannot be found."""
    roots = ["user.a", "user.a.b", "user.a-b", "user.a0"]
    for i, root in enumerate(roots):
        store.create(root)
        store.setquota(root, 10 + i)
    flat = os.path.join(store.confdir, "quotas.flat")
    os.rename(store.quotas_db, flat)
    r = cvt(store, flat, "flat", store.quotas_db, "berkeley")
    assert r.returncode == 0, r.stderr
    bconf = store.variant("bq.conf", quota_db="berkeley")
    out = store.ok("quota", conf=bconf)
    assert [(r["root"], r["limit"]) for r in parse_quota_report(out)] == \
        [("user/a", 10), ("user/a/b", 11), ("user/a-b", 12), ("user/a0", 13)]
    assert [r["root"] for r in parse_quota_report(store.ok("quota", "user/a-b", conf=bconf))] \
        == ["user/a-b"]
    for root in roots:
        r = store.tool("mkstore", "setused", root, 1, 1, conf=bconf)
        assert r.returncode == 0, (root, r.stderr)


def test_cvt_errors(store, tmp_path):
    populate(store)
    db = store.mailboxes_db
    new = tmp_path / "new.db"
    for bad in (["flat", new, "skiplist"], ["twoskip", new, "flat"], ["flat", new, ""]):
        r = cvt(store, db, *bad)
        assert r.returncode == EX_USAGE, bad
        assert "unknown backend" in r.stderr and "usage:" in r.stderr
        assert not new.exists()
    # missing old database
    r = cvt(store, tmp_path / "nothing.db", "flat", new, "berkeley")
    assert r.returncode == EX_NOINPUT and "nothing.db" in r.stderr
    assert not new.exists()
    # the new one exists: refused without -f, replaced with it
    new.write_bytes(b"precious\tdata\n")
    r = cvt(store, db, "flat", new, "flat")
    assert r.returncode == EX_CANTCREAT and "-f" in r.stderr
    assert new.read_bytes() == b"precious\tdata\n"
    r = cvt(store, "-f", db, "flat", new, "flat")
    assert r.returncode == 0, r.stderr
    with open(db, "rb") as f:
        assert new.read_bytes() == f.read()
    # the same file on both sides
    r = cvt(store, "-f", db, "flat", db, "flat")
    assert r.returncode == EX_USAGE and "same file" in r.stderr
    assert store.dump().count("\n") == 6
    # cannot create (a path under a regular file)
    r = cvt(store, db, "flat", tmp_path / "new.db" / "x.db", "flat")
    assert r.returncode == EX_CANTCREAT
    # a corrupt source: nothing is left behind
    bad = tmp_path / "bad.flat"
    bad.write_bytes(b"a\t1\nno tab here\n")
    out = tmp_path / "out.bdb"
    r = cvt(store, bad, "flat", out, "berkeley")
    assert r.returncode == EX_TEMPFAIL and "bad.flat" in r.stderr
    assert not out.exists()
    # usage
    for args in ([db, "flat", new], [], ["-x", db, "flat", new, "flat"]):
        r = cvt(store, *args)
        assert r.returncode == EX_USAGE and "usage:" in r.stderr


# ==== ctl_cyrusdb ===============================================================

def test_ctl_cyrusdb_recover_and_checkpoint(tmp_path):
    st = Store(tmp_path / "s", backend="berkeley")
    populate(st)
    st.setquota("user.alice", 100, 10)
    before, quota_before = st.dump(), st.ok("quota")
    conf = st.confdir
    stale = [os.path.join(conf, "mailboxes.db.cdbtmp.a1B2c3"),
             os.path.join(conf, "sub", "deeper", "seen.db.cdbtmp.XXXXXX")]
    keep = [os.path.join(conf, "notes.cdbtmp.toolong7"), os.path.join(conf, "keep.txt"),
            os.path.join(conf, ".cdbtmp.abcdef")]
    os.makedirs(os.path.join(conf, "sub", "deeper"))
    for p in stale + keep:
        with open(p, "w") as f:
            f.write("x")
    r = st.tool("ctl_cyrusdb", "-r")
    assert r.returncode == 0, r.stderr
    assert not any(os.path.exists(p) for p in stale)
    assert all(os.path.exists(p) for p in keep)
    assert st.dump() == before
    assert os.path.isdir(os.path.join(conf, "db"))
    for _ in range(2):
        r = st.tool("ctl_cyrusdb", "-c")
        assert r.returncode == 0, r.stderr
    assert st.dump() == before and st.ok("quota") == quota_before
    # the store still takes changes after both
    st.create("user.dave")
    assert "user.dave\t" in st.dump()


def test_ctl_cyrusdb_fresh_configdirectory(tmp_path):
    """On a new installation (configdirectory exists, no db yet) -r makes
    the environment."""
    st = Store(tmp_path / "s", backend="berkeley")
    r = st.tool("ctl_cyrusdb", "-r")
    assert r.returncode == 0, r.stderr
    assert os.path.isdir(os.path.join(st.confdir, "db"))


def test_ctl_cyrusdb_without_configdirectory(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    conf = write_conf(tmp_path / "imapd.conf", {"configdirectory": missing})
    for op in ("-r", "-c"):
        r = run([tool_path("ctl_cyrusdb"), "-C", str(conf), op])
        assert r.returncode == EX_TEMPFAIL, (op, r.stderr)
        assert str(missing) in r.stderr
        # a mistyped configdirectory is not created
        assert not (tmp_path / "no").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    conf = write_conf(tmp_path / "imapd2.conf", {"configdirectory": afile})
    r = run([tool_path("ctl_cyrusdb"), "-C", str(conf), "-r"])
    assert r.returncode == EX_TEMPFAIL and str(afile) in r.stderr
    conf = write_conf(tmp_path / "imapd3.conf", {"configdirectory": ""})
    r = run([tool_path("ctl_cyrusdb"), "-C", str(conf), "-c"])
    assert r.returncode == EX_TEMPFAIL and "configdirectory" in r.stderr


@pytest.mark.parametrize("args", [[], ["-r", "-c"], ["-x"], ["-r", "extra"]])
def test_ctl_cyrusdb_usage(store, args):
    r = store.tool("ctl_cyrusdb", *args)
    assert r.returncode == EX_USAGE and "usage: ctl_cyrusdb" in r.stderr


# ==== ctl_mboxlist ==============================================================

DUMP_LINE = re.compile(r"^(\S+)\tv=1 t=(l|[Rrmd]+)( s=\S+)? p=(\S+)( u=([0-9a-f]{32}))?"
                       r"((?: \S+=\S*)*) acl=((?:[^\t\n]+\t[^\t\n]*\t)*)$")


def header_uniqueid(directory):
    with open(os.path.join(directory, "cyrus.header")) as f:
        for line in f:
            if line.startswith("uniqueid\t"):
                return line.split("\t", 1)[1].strip()
    return None


def test_ctl_mboxlist_dump_format(any_store):
    st = any_store
    populate(st)
    out = st.dump()
    lines = out.splitlines()
    names = [l.split("\t", 1)[0] for l in lines]
    # mailbox order: a mailbox's children follow it directly
    assert names == ["shared.memo", "user.alice", "user.alice.Sent", "user.alice-x",
                     "user.bob", "user.carol"]
    for line in lines:
        m = DUMP_LINE.match(line)
        assert m, "bad dump line %r" % line
        name, typ, part, uid = m.group(1), m.group(2), m.group(4), m.group(6)
        assert typ == "l"
        assert part == ("other" if name == "user.carol" else "default")
        pdir = st.spool2 if part == "other" else st.spool
        assert uid == header_uniqueid(st.mailbox_dir(name, pdir))
    acl = dict(re.findall(r"([^\t]+)\t([^\t]*)\t", lines[1].split(" acl=", 1)[1]))
    assert "alice" in acl and set("lrswipkxtecda") <= set(acl["alice"])
    # -p selects one partition, in the same format
    assert st.dump("-p", "other") == lines[5] + "\n"
    assert st.dump("-p", "default") == "".join(l + "\n" for l in lines[:5])
    assert st.dump("-p", "nosuch") == ""


def test_ctl_mboxlist_undump_restores_dump(any_store, tmp_path):
    st = any_store
    populate(st)
    st.ok("ctl_mboxlist", "-u", input="user.zed\tv=1 t=R s=backend2 p=p2 acl=zed\tlrs\t\n"
                                       "user.res\tv=1 t=r p=default acl=\n")
    dump = st.dump()
    assert "user.zed\tv=1 t=R s=backend2 p=p2 acl=zed\tlrs\t\n" in dump
    fresh = tmp_path / "fresh.db"
    r = st.tool("ctl_mboxlist", "-u", "-f", fresh, input=dump)
    assert r.returncode == 0 and r.stderr == ""
    assert st.dump("-f", fresh) == dump
    # -u replaces entries of the same name and keeps the others
    bob = [l for l in dump.splitlines() if l.startswith("user.bob\t")][0]
    update = [bob.split(" acl=")[0] + " acl=bob\tlrs\tcarol\tlr\t"]
    update.append("user.new\tv=1 t=l p=other u=%s acl=new\tlrswipkxtecda\t" % ("0" * 32))
    st.ok("ctl_mboxlist", "-u", input="\n".join(update) + "\n")
    after = st.dump().splitlines()
    assert update[0] in after and update[1] in after
    assert len(after) == len(dump.splitlines()) + 1
    assert [l for l in after if not l.startswith(("user.bob\t", "user.new\t"))] == \
        [l for l in dump.splitlines() if not l.startswith("user.bob\t")]


def test_ctl_mboxlist_undump_malformed(any_store, tmp_path):
    st = any_store
    populate(st)
    before = st.dump()
    good = "user.ok%d\tv=1 t=l p=default acl=x\tlr\t"
    lines = [good % 1,
             "user.notab v=1 t=l p=default acl=",             # 2: no TAB
             good % 3,
             "user..bad\tv=1 t=l p=default acl=",              # 4: bad name
             "user.garbage\tnot an entry at all",              # 5: bad entry
             "\tv=1 t=l p=default acl=",                       # 6: empty name
             good % 7]
    r = st.tool("ctl_mboxlist", "-u", input="\n".join(lines) + "\n")
    assert r.returncode == EX_DATAERR
    for n in (2, 4, 5, 6):
        assert re.search(r"^stdin:%d: \S" % n, r.stderr, re.M), r.stderr
    for n in (1, 3, 7):
        assert "stdin:%d:" % n not in r.stderr
    assert "nothing loaded" in r.stderr
    assert st.dump() == before
    # into a new database: nothing there either
    fresh = tmp_path / "fresh.db"
    r = st.tool("ctl_mboxlist", "-u", "-f", fresh, input="\n".join(lines) + "\n")
    assert r.returncode == EX_DATAERR
    if fresh.exists():
        assert st.dump("-f", fresh) == ""
    # many bad lines: the first 20 are listed, then a count
    r = st.tool("ctl_mboxlist", "-u", input="bad line\n" * 25)
    assert r.returncode == EX_DATAERR
    assert len(re.findall(r"^stdin:\d+: ", r.stderr, re.M)) == 20
    assert "25 bad lines" in r.stderr
    assert st.dump() == before
    # an empty input loads nothing and is fine
    r = st.tool("ctl_mboxlist", "-u", input="")
    assert r.returncode == 0 and st.dump() == before


def test_ctl_mboxlist_dump_remove_partition(store):
    populate(store)
    carol_dir = store.mailbox_dir("user.carol", store.spool2)
    full = store.dump()
    out = store.ok("ctl_mboxlist", "-d", "-x", "-p", "other")
    assert out.startswith("user.carol\t") and out.count("\n") == 1
    assert store.dump() == full.replace(out, "")
    assert os.path.exists(os.path.join(carol_dir, "cyrus.index"))   # files stay
    # and it can be loaded back
    store.ok("ctl_mboxlist", "-u", input=out)
    assert store.dump() == full


@pytest.mark.parametrize("args", [[], ["-d", "-u"], ["-u", "-p", "default"], ["-u", "-x"],
                                  ["-q"], ["-d", "extra"]])
def test_ctl_mboxlist_usage(store, args):
    r = store.tool("ctl_mboxlist", *args)
    assert r.returncode == EX_USAGE and "usage: ctl_mboxlist" in r.stderr


def test_ctl_mboxlist_missing_database(store, tmp_path):
    r = store.tool("ctl_mboxlist", "-d", "-f", tmp_path / "no" / "mailboxes.db")
    assert r.returncode == EX_IOERR and "mailboxes.db" in r.stderr and r.stdout == ""


# ==== quota ======================================================================

def quota_store(tmp_path, backend="flat", **options):
    st = Store(tmp_path / "s", backend=backend, **options)
    populate(st)
    st.append("user.alice", msg("big", "y" * 3000 + "\r\n"))
    st.setquota("user.alice", 10, 50)
    st.setquota("user.bob")                     # a root without limits
    return st


def usage_of(st, *mailboxes):
    stats = [st.status(m) for m in mailboxes]
    return sum(s["quota_used"] for s in stats), sum(s["exists"] for s in stats)


@pytest.mark.parametrize("backend", ["berkeley", "flat"])
def test_quota_report(tmp_path, backend):
    st = quota_store(tmp_path, backend)
    nbytes, nmsgs = usage_of(st, "user.alice", "user.alice.Sent")
    assert nmsgs == 6 and nbytes > 3000
    assert st.status("user.alice.Sent")["quotaroot"] == "user.alice"
    assert st.status("user.alice-x")["quotaroot"] is None
    out = st.ok("quota")
    assert out.splitlines()[0] == QUOTA_HEADER
    rows = parse_quota_report(out)
    assert rows == [
        {"limit": 10, "percent": nbytes * 100 // (10 * 1024), "used": nbytes // 1024,
         "resource": "STORAGE", "root": "user/alice"},
        {"limit": 50, "percent": nmsgs * 100 // 50, "used": nmsgs,
         "resource": "MESSAGE", "root": "user/alice"},
        {"limit": None, "percent": None, "used": usage_of(st, "user.bob")[0] // 1024,
         "resource": "STORAGE", "root": "user/bob"},
    ]
    # prefixes, userids
    assert [r["root"] for r in st.quota_rows("user/bob")] == ["user/bob"]
    assert [r["root"] for r in st.quota_rows("-u", "alice")] == ["user/alice"] * 2
    assert st.quota_rows("user/nobody") == []
    assert st.ok("quota", "-q") == ""
    # messages appended under a root are charged to it
    st.gen("user.alice.Sent", 2)
    rows = st.quota_rows("-u", "alice")
    assert rows[1]["used"] == 8


def test_quota_report_internal_separator(tmp_path):
    st = quota_store(tmp_path, unixhierarchysep="no")
    assert [r["root"] for r in st.quota_rows()] == ["user.alice", "user.alice", "user.bob"]
    assert [r["root"] for r in st.quota_rows("user.b")] == ["user.bob"]


def test_quota_fix_usage_drift(tmp_path):
    st = quota_store(tmp_path)
    report = st.ok("quota")
    # consistent: -f changes nothing
    assert st.ok("quota", "-f") == report
    nbytes, nmsgs = usage_of(st, "user.alice", "user.alice.Sent")
    st.setused("user.alice", 5, 1)
    st.setused("user.bob", 999999, 7)
    drift = st.quota_rows()
    assert drift[0]["used"] == 0 and drift[1]["used"] == 1
    out = st.ok("quota", "-f")
    bob_bytes, bob_msgs = usage_of(st, "user.bob")
    changes = [l for l in out.splitlines()[:out.splitlines().index(QUOTA_HEADER)]]
    assert changes == [
        "user/alice: STORAGE usage was 5, now %d" % nbytes,
        "user/alice: MESSAGE usage was 1, now %d" % nmsgs,
        "user/bob: STORAGE usage was 999999, now %d" % bob_bytes,
        "user/bob: MESSAGE usage was 7, now %d" % bob_msgs,
    ]
    assert out.endswith(report)
    assert st.ok("quota") == report
    assert st.ok("quota", "-f") == report           # nothing left to fix
    # -q: the changes only; a prefix: only that root is fixed
    st.setused("user.alice", 1, 1)
    st.setused("user.bob", 1, 0)
    out = st.ok("quota", "-f", "-q", "user/bob")
    assert out == ("user/bob: STORAGE usage was 1, now %d\n"
                   "user/bob: MESSAGE usage was 0, now %d\n" % (bob_bytes, bob_msgs))
    assert st.quota_rows("user/alice")[1]["used"] == 1


def test_quota_fix_new_root_over_existing_mailboxes(tmp_path):
    """A root added to the quota database behind the servers' back (here by
    converting quotas.db to flat, editing it and converting it back, as an
    administrator restoring a backup might): quota -f moves the mailboxes
    under it and splits the usage."""
    st = quota_store(tmp_path, backend="berkeley")
    alice_bytes, alice_msgs = usage_of(st, "user.alice")
    sent_bytes, sent_msgs = usage_of(st, "user.alice.Sent")
    flat = tmp_path / "quotas.flat"
    r = st.tool("cvt_cyrusdb", "-M", st.quotas_db, "berkeley", flat, "flat")
    assert r.returncode == 0, r.stderr
    text = flat.read_bytes()
    assert text.startswith(b"user.alice\t")
    flat.write_bytes(text + b"user.alice.Sent\t1 0 0 -1 -1\n")
    r = st.tool("cvt_cyrusdb", "-M", "-f", flat, "flat", st.quotas_db, "berkeley")
    assert r.returncode == 0, r.stderr
    out = st.ok("quota", "-f")
    lines = out.splitlines()
    assert lines[:5] == [
        "user/alice/Sent: quota root user/alice --> user/alice/Sent",
        "user/alice: STORAGE usage was %d, now %d" % (alice_bytes + sent_bytes, alice_bytes),
        "user/alice: MESSAGE usage was %d, now %d" % (alice_msgs + sent_msgs, alice_msgs),
        "user/alice/Sent: STORAGE usage was 0, now %d" % sent_bytes,
        "user/alice/Sent: MESSAGE usage was 0, now %d" % sent_msgs,
    ]
    assert st.status("user.alice.Sent")["quotaroot"] == "user.alice.Sent"
    rows = parse_quota_report(out)
    assert [(r["root"], r["resource"], r["used"]) for r in rows][1:3] == [
        ("user/alice", "MESSAGE", alice_msgs), ("user/alice/Sent", "STORAGE", sent_bytes // 1024)]
    assert "-->" not in st.ok("quota", "-f")


def test_quota_fix_unreadable_mailbox(tmp_path):
    st = quota_store(tmp_path)
    d = st.mailbox_dir("user.alice.Sent")
    os.rename(os.path.join(d, "cyrus.index"), os.path.join(d, "index.away"))
    st.setused("user.alice", 1, 1)
    r = st.tool("quota", "-f")
    assert r.returncode == 1
    assert "quota: user/alice/Sent:" in r.stderr
    # the root whose mailbox could not be read keeps its usage
    assert parse_quota_report(r.stdout)[1]["used"] == 1


def test_quota_domains(tmp_path):
    st = Store(tmp_path / "s", backend="flat", virtdomains="userid")
    st.create("example.org!user.bob")
    st.create("user.alice")
    st.gen("example.org!user.bob", 2)
    st.gen("user.alice", 1)
    st.setquota("example.org!user.bob", 10)
    st.setquota("user.alice", 10)
    assert [r["root"] for r in st.quota_rows()] == ["user/bob@example.org", "user/alice"]
    assert [r["root"] for r in st.quota_rows("-d", "example.org")] == ["user/bob@example.org"]
    assert [r["root"] for r in st.quota_rows("user/bob@example.org")] == \
        ["user/bob@example.org"]
    assert [r["root"] for r in st.quota_rows("-u", "bob@example.org")] == \
        ["user/bob@example.org"]
    st.setused("example.org!user.bob", 0, 0)
    out = st.ok("quota", "-f", "-q", "-d", "example.org")
    assert out.splitlines() == [
        "user/bob@example.org: STORAGE usage was 0, now %d" % usage_of(
            st, "example.org!user.bob")[0],
        "user/bob@example.org: MESSAGE usage was 0, now 2"]


def test_quota_fix_domain_root(tmp_path):
    st = Store(tmp_path / "s", backend="flat", virtdomains="userid")
    st.create("example.org!user.carol")
    st.gen("example.org!user.carol", 2)
    with open(st.quotas_db, "ab") as f:
        f.write(b"example.org!\t1 0 0 100 -1\n")
    r = st.tool("quota", "-f")
    assert r.returncode == 0, r.stderr
    assert st.status("example.org!user.carol")["quotaroot"] == "example.org!"


def test_quota_usage_errors(store):
    for args in (["-x"], ["-u", "bad user!"], ["-d"]):
        r = store.tool("quota", *args)
        assert r.returncode == EX_USAGE, args
        assert r.stdout == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_output_write_errors_are_reported(tmp_path):
    """A report that cannot be written (disk full) is an error, not a
    silent success."""
    st = quota_store(tmp_path)
    conf = write_conf(tmp_path / "c.conf", {"configdirectory": tmp_path})
    for argv in ([tool_path("quota"), "-C", st.conf],
                 [tool_path("ctl_mboxlist"), "-C", st.conf, "-d"],
                 [tool_path("ctl_mboxlist"), "-C", st.conf, "-d", "-p", "default"],
                 [tool_path("cyr_info"), "-C", str(conf), "conf-all"],
                 [tool_path("cyr_info"), "options"]):
        with open("/dev/full", "w") as full:
            p = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == EX_IOERR, argv
        assert p.stderr, argv


# ==== reconstruct ================================================================
# (tested last: written by another helper at the same time)

@pytest.fixture
def rstore(tmp_path):
    st = Store(tmp_path / "s", backend="flat")
    populate(st)
    st.append("user.alice", msg("fourth", extra="X-Test: 4\r\n"))
    st.flag("user.alice", "seen", 1, 2)
    st.flag("user.alice", "flagged,answered", 3)
    return st


def alice_dir(st):
    return st.mailbox_dir("user.alice")


def fix_lines(out, name="user.alice"):
    return [l for l in out.splitlines() if l.startswith(name + ": ")]


def test_reconstruct_healthy(rstore):
    d = alice_dir(rstore)
    before = snapshot(d)
    msgs = rstore.messages("user.alice")
    assert rstore.ok("reconstruct", "user.alice") == "user.alice: ok\n"
    assert rstore.ok("reconstruct", "-r", "user.alice") == \
        "user.alice: ok\nuser.alice.Sent: ok\n"
    assert rstore.ok("reconstruct", "-q", "user.alice") == ""
    assert rstore.ok("reconstruct", "-n", "user.alice") == "user.alice: ok\n"
    assert rstore.ok("reconstruct", "-p", "other", "user.carol") == "user.carol: ok\n"
    assert rstore.ok("reconstruct", "-D", d) == "%s: ok\n" % d
    assert snapshot(d) == before                 # nothing written
    assert rstore.messages("user.alice") == msgs


def check_all_there(st, uids, flags=None):
    msgs = st.messages("user.alice")
    assert [m["uid"] for m in msgs] == uids
    assert all(m["cache"] == "ok" for m in msgs)
    for m in msgs:
        with open(os.path.join(alice_dir(st), "%d." % m["uid"]), "rb") as f:
            assert len(f.read()) == m["size"]
    if flags is not None:
        assert {m["uid"]: m["flags"] for m in msgs} == flags
    s = st.status("user.alice")
    assert s["exists"] == len(uids) and s["uidnext"] > max(uids)
    assert s["quota_used"] == sum(m["size"] for m in msgs)
    # and a second run finds nothing
    assert st.ok("reconstruct", "user.alice") == "user.alice: ok\n"


FLAGS = {1: {"seen"}, 2: {"seen"}, 3: {"flagged", "answered"}, 4: set()}


def test_reconstruct_missing_index(rstore):
    os.unlink(os.path.join(alice_dir(rstore), "cyrus.index"))
    out = rstore.ok("reconstruct", "user.alice")
    lines = fix_lines(out)
    assert any("cyrus.index" in l for l in lines)
    for uid in (1, 2, 3, 4):
        assert "user.alice: uid %d: message file without record: added" % uid in lines
    assert lines[-1] == "user.alice: %d fixes made" % (len(lines) - 1)
    check_all_there(rstore, [1, 2, 3, 4])


@pytest.mark.parametrize("size", [0, 300, 384])
def test_reconstruct_truncated_index(rstore, size):
    path = os.path.join(alice_dir(rstore), "cyrus.index")
    os.truncate(path, size)
    out = rstore.ok("reconstruct", "user.alice")
    assert re.search(r"^user\.alice: \d+ fix(es)? made$", out, re.M), out
    check_all_there(rstore, [1, 2, 3, 4])
    if size == 384:     # the header and the first record survived
        assert rstore.messages("user.alice")[0]["flags"] == {"seen"}


def test_reconstruct_missing_message_file(rstore):
    os.unlink(os.path.join(alice_dir(rstore), "2."))
    before = snapshot(alice_dir(rstore))
    r = rstore.tool("reconstruct", "-n", "user.alice")
    assert r.returncode == 1
    assert r.stdout == ("user.alice: uid 2: message file missing: record removed\n"
                        "user.alice: 1 fix needed\n")
    assert snapshot(alice_dir(rstore)) == before          # -n changes nothing
    out = rstore.ok("reconstruct", "user.alice")
    assert out == ("user.alice: uid 2: message file missing: record removed\n"
                   "user.alice: 1 fix made\n")
    flags = dict(FLAGS)
    del flags[2]
    check_all_there(rstore, [1, 3, 4], flags)


def test_reconstruct_stray_and_changed_files(rstore):
    d = alice_dir(rstore)
    shutil.copy(os.path.join(d, "4."), os.path.join(d, "9."))
    with open(os.path.join(d, "3."), "ab") as f:
        f.write(b"one more line\r\n")
    out = rstore.ok("reconstruct", "user.alice")
    lines = fix_lines(out)
    assert "user.alice: uid 9: message file without record: added" in lines
    assert "user.alice: uid 3: message file differs from its record: record updated" in lines
    assert lines[-1] == "user.alice: 2 fixes made"
    flags = dict(FLAGS)
    flags[9] = set()
    check_all_there(rstore, [1, 2, 3, 4, 9], flags)
    assert rstore.status("user.alice")["uidnext"] == 10


def test_reconstruct_recursive_and_directories(rstore):
    sent = rstore.mailbox_dir("user.alice.Sent")
    os.unlink(os.path.join(sent, "1."))
    out = rstore.ok("reconstruct", "-r", "user.alice")
    assert out == ("user.alice: ok\n"
                   "user.alice.Sent: uid 1: message file missing: record removed\n"
                   "user.alice.Sent: 1 fix made\n")
    assert rstore.uids("user.alice.Sent") == [2]
    # -D -r walks the directories below
    os.unlink(os.path.join(rstore.spool, "user", "bob", "cyrus.index"))
    out = rstore.ok("reconstruct", "-q", "-r", "-D", os.path.join(rstore.spool, "user"))
    bob = os.path.join(rstore.spool, "user", "bob")
    assert re.search(r"^%s: uid 1: message file without record: added$" % re.escape(bob),
                     out, re.M), out
    assert rstore.uids("user.bob") == [1]


def test_reconstruct_errors(rstore):
    r = rstore.tool("reconstruct", "user.nobody", "user.alice")
    assert r.returncode == EX_TEMPFAIL
    assert "user.nobody:" in r.stderr
    assert r.stdout == "user.alice: ok\n"           # the others are still done
    rstore.ok("ctl_mboxlist", "-u", input="user.remote\tv=1 t=R s=b2 p=default acl=\n")
    r = rstore.tool("reconstruct", "user.remote")
    assert r.returncode == EX_TEMPFAIL and "user.remote" in r.stderr
    # -r skips entries that are not local
    assert rstore.ok("reconstruct", "-q", "-r", "user") == ""
    for args in ([], ["-z", "user.alice"]):
        r = rstore.tool("reconstruct", *args)
        assert r.returncode == EX_USAGE and "usage: reconstruct" in r.stderr


def test_reconstruct_adjusts_quota(rstore):
    rstore.setquota("user.alice", 1000, 100)
    before = rstore.quota_rows("-u", "alice")
    size2 = rstore.messages("user.alice")[1]["size"]
    os.unlink(os.path.join(alice_dir(rstore), "2."))
    rstore.ok("reconstruct", "user.alice")
    after = rstore.quota_rows("-u", "alice")
    assert after[1]["used"] == before[1]["used"] - 1
    nbytes, _ = usage_of(rstore, "user.alice", "user.alice.Sent")
    assert "usage was" not in rstore.ok("quota", "-f", "-q"), \
        "quota -f had to fix what reconstruct left (%d bytes, -%d)" % (nbytes, size2)


def test_reconstruct_lost_header(rstore):
    rstore.setquota("user.alice", 1000, 100)
    d = alice_dir(rstore)
    uniqueid = header_uniqueid(d)
    os.unlink(os.path.join(d, "cyrus.header"))
    out = rstore.ok("reconstruct", "user.alice")
    assert "user.alice: cyrus.header missing: recreated (unique id from mailboxes.db, " \
        "quota root user.alice)\n" in out
    assert header_uniqueid(d) == uniqueid
    assert rstore.status("user.alice")["quotaroot"] == "user.alice"
    check_all_there(rstore, [1, 2, 3, 4], FLAGS)


def test_reconstruct_ignores_directory_named_like_a_message(rstore):
    os.mkdir(os.path.join(alice_dir(rstore), "7."))
    rstore.ok("reconstruct", "user.alice")
    assert rstore.ok("reconstruct", "user.alice") == "user.alice: ok\n"
    assert os.path.isdir(os.path.join(alice_dir(rstore), "7."))     # not removed either


# ==== mbpath ======================================================================

def test_mbpath(rstore):
    st = rstore
    out = st.ok("mbpath", "user.alice", "user.alice.Sent", "shared.memo", "user.carol")
    assert out.splitlines() == [st.mailbox_dir("user.alice"),
                                st.mailbox_dir("user.alice.Sent"),
                                st.mailbox_dir("shared.memo"),
                                st.mailbox_dir("user.carol", st.spool2)]
    for line in out.splitlines():
        assert os.path.exists(os.path.join(line, "cyrus.index"))
    assert st.ok("mbpath", "-s", "user.alice") == st.mailbox_dir("user.alice") + "\n"
    # -p: no lookup, the directory need not exist (except with -s)
    assert st.ok("mbpath", "-p", "other", "user.nobody") == \
        st.mailbox_dir("user.nobody", st.spool2) + "\n"
    r = st.tool("mbpath", "-s", "-p", "other", "user.nobody")
    assert r.returncode == EX_TEMPFAIL and r.stdout == ""
    # hashimapspool adds a one-letter level
    hconf = st.variant("hashed.conf", hashimapspool="yes")
    out = st.ok("mbpath", "-p", "default", "user.alice", "shared.memo", conf=hconf)
    assert out.splitlines() == [os.path.join(st.spool, "a", "user", "alice"),
                                os.path.join(st.spool, "s", "shared", "memo")]


def test_mbpath_errors(rstore):
    st = rstore
    r = st.tool("mbpath", "user.alice", "user.nobody", "user.bob")
    assert r.returncode == EX_TEMPFAIL
    assert r.stdout.splitlines() == [st.mailbox_dir("user.alice"), st.mailbox_dir("user.bob")]
    assert r.stderr.startswith("user.nobody: ")
    r = st.tool("mbpath", "-q", "user.nobody")
    assert r.returncode == EX_TEMPFAIL and r.stderr == "" and r.stdout == ""
    st.ok("ctl_mboxlist", "-u", input="user.remote\tv=1 t=R s=b2 p=default acl=\n")
    for args in (["user.remote"], ["user..x"], ["-p", "nosuch", "user.alice"],
                 ["user/../../etc"]):
        r = st.tool("mbpath", *args)
        assert r.returncode == EX_TEMPFAIL, args
        assert r.stdout == "" and r.stderr.startswith(args[-1] + ": ")
    for args in ([], ["-z", "user.alice"]):
        r = st.tool("mbpath", *args)
        assert r.returncode == EX_USAGE and "usage: mbpath" in r.stderr
