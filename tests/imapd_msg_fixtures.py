"""Helpers of the imapd message-command tests (tests/test_imapd_messages.py).

MsgClient is a raw IMAP client (on imapd_fixtures.RawImap) that reads
whole responses, literals included, and parses them into Python values:

    atoms -> str, quoted strings and literals -> bytes, NIL -> None,
    parenthesised lists -> list

so that a test can look at `* 3 FETCH (UID 7 BODY[1] {12}...)` as
{"UID": "7", "BODY[1]": b"..."} with exact bytes, and send literals by
hand (synchronising or LITERAL+).

    c = MsgClient(port)
    c.login("alice", "alicepw")
    c.select("INBOX")
    msgs = c.fetch("1:*", "(UID BODY.PEEK[])")   # {seq: {item: value}}
"""

import re

from imapd_fixtures import RawImap


class Literal(bytes):
    """A string that came as a literal (bytes)."""


def parse(data):
    """Parse IMAP response data (bytes, literals already inlined as
    (b"{n}", payload) pairs by MsgClient) into Python values."""
    pos = 0
    out = []
    stack = [out]
    n = len(data)
    while pos < n:
        ch = data[pos:pos + 1]
        if ch == b" ":
            pos += 1
        elif ch == b"(":
            lst = []
            stack[-1].append(lst)
            stack.append(lst)
            pos += 1
        elif ch == b")":
            stack.pop()
            pos += 1
        elif ch == b'"':
            pos += 1
            s = bytearray()
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                s += data[pos:pos + 1]
                pos += 1
            pos += 1
            stack[-1].append(bytes(s))
        elif ch == b"{" or (ch == b"~" and data[pos + 1:pos + 2] == b"{"):
            end = data.index(b"}", pos)
            size = int(data[pos + (2 if ch == b"~" else 1):end].rstrip(b"+"))
            start = end + 3            # "}\r\n"
            stack[-1].append(Literal(data[start:start + size]))
            pos = start + size
        else:
            # an atom; BODY[...]<...> sections keep their brackets
            m = re.compile(rb"[^ ()\[\]]+(\[[^\]]*\](<\d+>)?)?").match(data, pos)
            if not m or m.end() == pos:
                raise ValueError("cannot parse at %d: %r" % (pos, data[pos:pos + 40]))
            word = m.group(0).decode()
            stack[-1].append(None if word.upper() == "NIL" else word)
            pos = m.end()
    return out


def pairs(lst):
    """A FETCH attribute list as a dict (names upper-cased)."""
    return {lst[i].upper(): lst[i + 1] for i in range(0, len(lst) - 1, 2)}


class MsgClient(RawImap):
    """Raw IMAP with responses read as bytes, literals included."""

    def read_response_line(self):
        """One response line with its literals inlined (bytes, no CRLF)."""
        data = bytearray()
        while True:
            while b"\n" not in self.buf:
                self.buf += self._recv()
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            data += line
            m = re.search(rb"~?\{(\d+)\+?\}$", line)
            if not m:
                return bytes(data)
            size = int(m.group(1))
            while len(self.buf) < size:
                self.buf += self._recv()
            data += b"\r\n" + self.buf[:size]
            self.buf = self.buf[size:]

    def command(self, text, tag=None):
        """Send `tag text` (str or bytes); return (untagged, tagged) where
        untagged is a list of raw response lines (bytes) and tagged a str."""
        tag = tag or self.tag()
        if isinstance(text, str):
            text = text.encode()
        self.send_raw(tag.encode() + b" " + text + b"\r\n")
        return self.read_until(tag)

    def read_until(self, tag):
        lines = []
        while True:
            line = self.read_response_line()
            if line.startswith(tag.encode() + b" "):
                return lines, line.decode(errors="replace")
            lines.append(line)

    def ok(self, text):
        lines, tagged = self.command(text)
        assert tagged.split()[1] == "OK", (text, tagged, lines)
        return lines, tagged

    def login(self, user, password):
        return self.ok("LOGIN %s %s" % (user, password))

    def select(self, mailbox, examine=False):
        lines, tagged = self.ok("%s %s" % ("EXAMINE" if examine else "SELECT", mailbox))
        for ln in lines:
            m = re.match(rb"\* (\d+) EXISTS", ln)
            if m:
                self.exists = int(m.group(1))
        return lines, tagged

    def fetch(self, seqs, items, uid=False):
        """{seq: {ITEM: value}} of the FETCH responses; unsolicited ones
        for other messages are merged in too."""
        lines, tagged = self.ok("%sFETCH %s %s" % ("UID " if uid else "", seqs, items))
        return fetches(lines)

    def append(self, mailbox, data, flags=None, date=None, nonsync=False):
        """APPEND with a literal sent as real clients do; returns tagged."""
        tag = self.tag()
        head = "%s APPEND %s" % (tag, mailbox)
        if flags is not None:
            head += " (%s)" % flags
        if date is not None:
            head += ' "%s"' % date
        head += " {%d%s}" % (len(data), "+" if nonsync else "")
        self.send_raw(head.encode() + b"\r\n")
        if not nonsync:
            line = self.read_response_line()
            if not line.startswith(b"+"):
                return line.decode(errors="replace")
        self.send_raw(data + b"\r\n")
        lines, tagged = self.read_until(tag)
        self.last_untagged = lines
        return tagged


def fetches(lines):
    out = {}
    for ln in lines:
        m = re.match(rb"\* (\d+) FETCH ", ln)
        if not m:
            continue
        seq = int(m.group(1))
        vals = parse(ln[m.end():])
        out.setdefault(seq, {}).update(pairs(vals[0]))
    return out


def crlf(data):
    """Bare LF line ends to CRLF (the corpus has LF; APPEND wants CRLF)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def uidplus_code(tagged, name):
    """The arguments of response code `name` in a line, as a list of str."""
    m = re.search(r"\[%s ([^\]]*)\]" % name, tagged)
    assert m, tagged
    return m.group(1).split()


def expand_set(text):
    """'1:3,7' -> [1, 2, 3, 7]"""
    out = []
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out
