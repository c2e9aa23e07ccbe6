#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""guard.py [--update] [--only NAME] -- instruction counts against committed ceilings.

A clock cannot see a regression on a shared machine; an instruction count can: callgrind counts
the instructions a program executes, the same on every run of the same binary. Each check below
is measured, printed beside its ceiling in bench/instructions/ceilings.txt, and fails when over
it. The ceilings have some slack over what was measured when they were set (compilers and libc
differ a little); --update prints the lines to paste after an intended change.

  wire.encode, wire.decode   the representative message (bench/message.hex), per operation:
                             the loop of bench/instructions/count.c alone (callgrind
                             --toggle-collect), N2 operations minus N1
  server.echo                one 64-byte ECHO served by wire-server --mode epoll, ping-pong:
                             the whole server process (parse, dispatch, reply, the system call
                             wrappers) for N2 frames minus N1 frames, divided by N2 - N1, so that
                             start-up and handshake cancel out

Usage from the Makefile: guard.py --build build/cc (wire-server and bench/count are there).
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CEILINGS = os.path.join(HERE, "ceilings.txt")

HELLO, ECHO, ECHO_REPLY, BYE = 0x0001, 0x0100, 0x0101, 0x0005


def callgrind(cmd: List[str], extra: List[str], **popen) -> Tuple[subprocess.Popen, str]:
    """Starts cmd under callgrind; returns the process and the path of its log."""
    log = tempfile.NamedTemporaryFile(prefix="wire-cg-", suffix=".log", delete=False).name
    out = tempfile.NamedTemporaryFile(prefix="wire-cg-", suffix=".out", delete=False).name
    full = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, "--log-file=" + log] + extra + cmd
    return subprocess.Popen(full, **popen), log


def collected(log: str) -> int:
    """The 'Collected : N' total callgrind writes at exit."""
    with open(log) as f:
        text = f.read()
    m = re.search(r"Collected\s*:\s*(\d+)", text)
    if not m:
        raise SystemExit("guard: no instruction count in the callgrind log %s:\n%s" % (log, text[-2000:]))
    return int(m.group(1))


def codec(build: str, op: str, n: int) -> float:
    exe = os.path.join(build, "bench", "count")
    counts = []
    for k in (n, 2 * n):
        p, log = callgrind([exe, op, str(k)], ["--toggle-collect=count_%s_loop" % op], stdout=subprocess.DEVNULL)
        if p.wait() != 0:
            raise SystemExit("guard: %s %s failed under callgrind (exit %d); its log: %s" % (exe, op, p.returncode, log))
        counts.append(collected(log))
    return (counts[1] - counts[0]) / n


def frame(mtype: int, payload: bytes) -> bytes:
    return struct.pack(">BBHI", 1, 0, mtype, len(payload)) + payload


def recv_frame(s: socket.socket) -> Tuple[int, bytes]:
    def exact(n: int) -> bytes:
        b = bytearray()
        while len(b) < n:
            chunk = s.recv(n - len(b))
            if not chunk:
                raise SystemExit("guard: the server closed the connection")
            b += chunk
        return bytes(b)
    h = exact(8)
    _, _, t, n = struct.unpack(">BBHI", h)
    return t, exact(n)


def server_run(server: str, frames: int) -> int:
    """Instructions of a whole wire-server run serving `frames` ping-pong ECHOs on one connection."""
    p, log = callgrind([server, "--mode", "epoll", "--quiet", "--port", "0"], [],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(p.stdout.readline())
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        name = b"guard"
        s.sendall(frame(HELLO, b"\x02\x00\x01\x03" + struct.pack(">I", 1 << 24) + b"\x40" +
                        struct.pack(">I", len(name)) + name))
        t, _ = recv_frame(s)
        if t != HELLO:
            raise SystemExit("guard: expected HELLO, got type 0x%04x" % t)
        payload = bytes(range(64))
        for _ in range(frames):
            s.sendall(frame(ECHO, payload))
            t, back = recv_frame(s)
            if t != ECHO_REPLY or back != payload:
                raise SystemExit("guard: a wrong ECHO_REPLY")
        s.sendall(frame(BYE, b""))
        recv_frame(s)
        s.close()
    finally:
        p.terminate()
        p.wait(timeout=60)
    return collected(log)


def server_echo(build: str, n1: int, n2: int) -> float:
    server = os.path.join(build, "wire-server")
    return (server_run(server, n2) - server_run(server, n1)) / (n2 - n1)


def compiler(cc: str) -> str:
    """gcc or clang (what `cc --version` says), or cc's own name."""
    try:
        text = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.lower()
    except OSError:
        return os.path.basename(cc)
    return "clang" if "clang" in text else "gcc" if ("gcc" in text or "free software foundation" in text) else \
        os.path.basename(cc)


def read_ceilings(cc: str) -> Dict[str, float]:
    """The ceilings of one compiler: lines `<compiler> <name> <ceiling>`."""
    out: Dict[str, float] = {}
    with open(CEILINGS) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) == 3 and words[0] == cc:
                out[words[1]] = float(words[2])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/cc")
    ap.add_argument("--cc", default="cc", help="the compiler that built them (ceilings are per compiler)")
    ap.add_argument("--only", action="append", help="one check (repeatable)")
    ap.add_argument("--update", action="store_true", help="print measured values with 10%% slack")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build) if not os.path.isabs(args.build) else args.build
    checks = {
        "wire.encode": lambda: codec(build, "encode", 20000),
        "wire.decode": lambda: codec(build, "decode", 20000),
        "server.echo": lambda: server_echo(build, 200, 1200),
    }
    cc = compiler(args.cc)
    ceilings = read_ceilings(cc)
    if not ceilings and not args.update:
        # counts differ from one compiler to another; valgrind 3.19 cannot read clang 14's DWARF 5
        print("guard: no ceilings for %s in %s: not checked with this compiler" % (cc, CEILINGS))
        return 0
    fail = 0
    for name, measure in checks.items():
        if args.only and name not in args.only:
            continue
        got = measure()
        top = ceilings.get(name)
        if args.update:
            print("%s %-12s %d   # measured %.1f" % (cc, name, int(got * 1.10 + 1), got))
            continue
        if top is None:
            print("guard: %s has no ceiling in %s" % (name, CEILINGS))
            fail = 1
            continue
        ok = got <= top
        print("%-12s %8.1f instructions per operation, ceiling %d: %s" % (name, got, top, "ok" if ok else "OVER"))
        fail |= not ok
    return fail


if __name__ == "__main__":
    sys.exit(main())
