# SPDX-License-Identifier: MIT
"""Shared helpers for the attack suite and the differential fuzzer (Python 3 stdlib only).

Everything here is written from SPEC.md, not from any one implementation: frames (2.1), the HELLO
and ERROR payloads (7.3, 7.4), the proto/ hex columns (proto/README.md 1.1). It also starts the
servers the way interop/run_all.sh does (port 0, the port read from the first stdout line) and
measures a server's CPU and memory from /proc, child processes included.
"""

from __future__ import annotations

import os
import resource
import select
import socket
import struct
import subprocess
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "proto")

HELLO, ERROR, PING, PONG, BYE = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005
ECHO, ECHO_REPLY, ROUNDTRIP, ROUNDTRIP_REPLY = 0x0100, 0x0101, 0x0102, 0x0103
STATS, STATS_REPLY = 0x0108, 0x0109

# SPEC.md section 6 (the wire codes only)
CODES = {"TRUNCATED": 1, "BADTAG": 2, "TYPE": 3, "BADBOOL": 4, "UTF8": 5, "LENGTH": 6, "DEPTH": 7,
         "TOOBIG": 8, "VERSION": 10, "HEADER": 11, "UNEXPECTED": 12, "MESSAGE": 13, "TIMEOUT": 17,
         "LIMIT": 19}
CODE_NAMES = {v: k for k, v in CODES.items()}
NONE_OFFSET = 0xFFFFFFFF


def frame(mtype: int, payload: bytes = b"", version: int = 1, flags: int = 0,
          length: Optional[int] = None) -> bytes:
    """One frame (SPEC 2.1); `length` overrides the header's length field."""
    n = len(payload) if length is None else length
    return struct.pack(">BBHI", version, flags, mtype, n) + payload


def string_field(data: bytes) -> bytes:
    return b"\x40" + struct.pack(">I", len(data)) + data


def hello_payload(max_payload: int = 16777216, name: bytes = b"adversarial") -> bytes:
    return b"\x02" + struct.pack(">H", 1) + b"\x03" + struct.pack(">I", max_payload) + string_field(name)


def error_payload(code: int, offset: int, msg: bytes = b"no") -> bytes:
    return b"\x02" + struct.pack(">H", code) + b"\x03" + struct.pack(">I", offset) + string_field(msg)


def hello_frame(max_payload: int = 16777216) -> bytes:
    return frame(HELLO, hello_payload(max_payload))


def parse_error(payload: bytes) -> Optional[Tuple[int, int]]:
    """(code, offset) of an ERROR payload laid out as 7.4 says, or None."""
    if len(payload) >= 13 and payload[0] == 0x02 and payload[3] == 0x03 and payload[8] == 0x40:
        code, = struct.unpack(">H", payload[1:3])
        off, = struct.unpack(">I", payload[4:8])
        return code, off
    return None


def parse_hex(col: str) -> bytes:
    """A proto/ hex column: tokens of hex, `<hex>*<n>` repeats (proto/README.md 1.1)."""
    out = bytearray()
    for tok in col.split():
        if "*" in tok:
            h, n = tok.split("*")
            out += bytes.fromhex(h) * int(n)
        else:
            out += bytes.fromhex(tok)
    return bytes(out)


def describe(ans: Tuple) -> str:
    kind = ans[0]
    if kind == "error":
        return "ERROR(%s, %s)" % (CODE_NAMES.get(ans[1], ans[1]),
                                 "none" if ans[2] == NONE_OFFSET else ans[2])
    if kind == "frame":
        p = ans[2]
        return "frame 0x%04x len %d %s" % (ans[1], len(p), p[:24].hex() + ("..." if len(p) > 24 else ""))
    return kind


class Conn:
    """A client socket with a frame reader. Every wait is bounded by a deadline."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 sock: Optional[socket.socket] = None) -> None:
        self.sock = sock if sock is not None else socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def try_send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self, deadline: float) -> str:
        """Reads more bytes: 'ok', 'eof', 'reset' or 'timeout'."""
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        p = select.poll()  # not select(): descriptors go past FD_SETSIZE with thousands of clients
        p.register(self.sock, select.POLLIN)
        if not p.poll(left * 1000):
            return "timeout"
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            return "reset"
        except OSError:
            return "reset"
        if not data:
            self.eof = True
            return "eof"
        self.buf += data
        return "ok"

    def read(self, timeout: float = 5.0) -> Tuple:
        """The next answer: ('frame', type, payload), ('error', code, offset), ('eof',),
        ('reset',), ('timeout',) or ('bad', hex) for bytes that are no frame."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 8:
                ver, flags, mtype, n = struct.unpack(">BBHI", self.buf[:8])
                if ver != 1 or flags != 0:
                    return ("bad", bytes(self.buf[:16]).hex())
                if len(self.buf) >= 8 + n:
                    payload = bytes(self.buf[8:8 + n])
                    del self.buf[:8 + n]
                    if mtype == ERROR:
                        pe = parse_error(payload)
                        if pe is not None:
                            return ("error", pe[0], pe[1])
                    return ("frame", mtype, payload)
            if self.eof:
                return ("eof",) if not self.buf else ("bad", "partial frame then EOF: " + bytes(self.buf[:16]).hex())
            st = self._fill(deadline)
            if st == "eof":
                continue
            if st != "ok":
                return (st,)

    def hello(self, timeout: float = 5.0) -> Tuple:
        self.send(hello_frame())
        return self.read(timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def connect_many(port: int, n: int, seconds: float) -> Tuple[List[Conn], int]:
    """n connections opened at once (non-blocking connect): those established within `seconds`,
    and how many were not (the server's accept queue full, or refused)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        socks.append(s)
    deadline = time.monotonic() + seconds
    waiting = {s.fileno(): s for s in socks}
    done: List[Conn] = []
    while waiting and time.monotonic() < deadline:
        p = select.poll()
        for fd in waiting:
            p.register(fd, select.POLLOUT)
        for fd, _ in p.poll(100):
            s = waiting.pop(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                s.setblocking(True)
                s.settimeout(5.0)
                done.append(Conn(port, sock=s))
            else:
                s.close()
    for s in waiting.values():
        s.close()
    return done, n - len(done)


def raise_nofile() -> None:
    """Raises our own RLIMIT_NOFILE soft limit to the hard limit (thousands of connections)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- servers ----

def server_cmd(name: str, build: str) -> List[str]:
    """The command of a server by name: c-<mode> (wire-server), python, perl, ocaml."""
    if name.startswith("c-"):
        return [os.path.join(ROOT, build, "wire-server"), "--mode", name[2:]]
    if name == "python":
        return ["python3", os.path.join(ROOT, "interop/python/server.py")]
    if name == "perl":
        return ["perl", os.path.join(ROOT, "interop/perl/server.pl")]
    if name == "ocaml":
        return [os.path.join(ROOT, "interop/ocaml/_build/default/bin/server.exe")]
    raise ValueError("unknown server " + name)


class Server:
    """A server on 127.0.0.1, port 0; its port from its first stdout line (as run_all.sh does)."""

    def __init__(self, name: str, cmd: Sequence[str], opts: Sequence[str], log: str) -> None:
        self.name = name
        self.log = log
        self.errf = open(log, "wb")
        self.proc = subprocess.Popen(list(cmd) + ["--host", "127.0.0.1", "--port", "0"] + list(opts),
                                     stdout=subprocess.PIPE, stderr=self.errf, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.port = 0
        deadline = time.monotonic() + 15
        assert self.proc.stdout is not None
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line.strip().isdigit():
            self.stop()
            with open(log, "rb") as f:
                raise RuntimeError("%s did not start: %s" % (name, f.read()[-500:].decode(errors="replace")))
        self.port = int(line)
        # the rest of stdout is drained so that a chatty server never blocks on it
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        try:
            while self.proc.stdout.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.errf.close()


# ---- /proc measurements (Linux) ----

def _children_map() -> Dict[int, List[int]]:
    kids: Dict[int, List[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def tree(pid: int) -> List[int]:
    """The process and all its live descendants (fork servers have one child per connection)."""
    kids = _children_map()
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def cpu_ticks(pid: int) -> int:
    """utime+stime of the tree, plus the reaped children's (cutime+cstime) of each member."""
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/stat" % p, "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(b")") + 2:].split()
        total += int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    return total


TICK = os.sysconf("SC_CLK_TCK")


def cpu_fraction(pid: int, window: float = 0.3) -> float:
    """CPU used by the server's tree over `window` seconds, as a fraction of one core."""
    a = cpu_ticks(pid)
    time.sleep(window)
    return (cpu_ticks(pid) - a) / TICK / window


def mem_kib(pid: int) -> int:
    """PSS of the tree in KiB (RSS where smaps_rollup is missing): shared pages counted once."""
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            try:
                with open("/proc/%d/status" % p) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def nprocs(pid: int) -> int:
    return len(tree(pid))
