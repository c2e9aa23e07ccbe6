#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""differential.py - differential fuzzing of the four servers (`make check-differential`, issue 10).

Mutated inputs derived from proto/vectors.txt payloads and frames and from the frames of
proto/sessions.txt (bit flips, byte inserts and deletes, length-field tweaks, splices, duplicated
chunks) are sent to the C, Python, Perl and OCaml servers, and their answers are compared:

- payload inputs: a ROUNDTRIP carrying the mutated payload, on one connection per server after
  HELLO (a new one after an ERROR closed it). The answer is the reply bytes (which must also equal
  the request, SPEC 10.3) or ERROR code and offset (the text is free) followed by the close.
- frame inputs: the mutated bytes, header included, on a new connection (after HELLO unless the
  seed frame is a HELLO), then shutdown(SHUT_WR); the answer is every frame until EOF (or reset).

Any disagreement fails and is printed with the input in hex. The run is seeded (--seed) and
reproducible: the same seed gives the same inputs. Bounded by --seconds and --count.

  differential.py [--build DIR] [--seconds N] [--count N] [--seed S] [--servers c,python,perl,ocaml]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wirelib as w  # noqa: E402

OPTS = ["--max-payload", "1048576", "--idle-timeout", "10", "--frame-timeout", "2", "--quiet"]

# ---- the value notation (proto/README.md 1.2), encoded as SPEC section 3 says ----
TAGS = {"u8": (0x01, ">B"), "u16": (0x02, ">H"), "u32": (0x03, ">I"), "u64": (0x04, ">Q"),
        "i8": (0x11, ">b"), "i16": (0x12, ">h"), "i32": (0x13, ">i"), "i64": (0x14, ">q"),
        "f32": (0x23, None), "f64": (0x24, None), "bool": (0x30, None), "string": (0x40, None),
        "bytes": (0x41, None), "list": (0x50, None), "group": (0x51, None)}


def _content(c: str) -> bytes:
    if "*" in c:
        h, n = c.split("*")
        return bytes.fromhex(h) * int(n)
    return bytes.fromhex(c)


def _value(toks: List[str], i: int) -> Tuple[int, bytes, int]:
    """(tag, value bytes without the tag, next token index) of the item at toks[i]."""
    t = toks[i]
    if t == "group":
        assert toks[i + 1] == "{"
        i += 2
        body = b""
        while toks[i] != "}":
            tag, v, i = _value(toks, i)
            body += bytes([tag]) + v
        return 0x51, struct.pack(">I", len(body)) + body, i + 1
    name, _, arg = t.partition(":")
    tag, fmt = TAGS[name]
    if name == "list":
        assert toks[i + 1] == "["
        i += 2
        body, n = b"", 0
        while toks[i] != "]":
            _, v, i = _value(toks, i)
            body += v
            n += 1
        return tag, bytes([TAGS[arg][0]]) + struct.pack(">I", n) + body, i + 1
    if fmt:
        return tag, struct.pack(fmt, int(arg)), i + 1
    if name in ("f32", "f64"):
        return tag, bytes.fromhex(arg[2:]), i + 1
    if name == "bool":
        return tag, b"\x01" if arg == "true" else b"\x00", i + 1
    data = _content(arg)
    return tag, struct.pack(">I", len(data)) + data, i + 1


def encode_fields(text: str) -> bytes:
    toks = text.split()
    out, i = b"", 0
    while i < len(toks):
        tag, v, i = _value(toks, i)
        out += bytes([tag]) + v
    return out


def load_seeds() -> Tuple[List[bytes], List[Tuple[bytes, bool]]]:
    """Payload seeds (vectors ok/err) and frame seeds (vectors frame/ferr, sessions send/raw),
    each frame with whether it is sent before HELLO."""
    types: Dict[str, int] = {}
    with open(os.path.join(w.PROTO, "messages.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                p = line.split()
                types[p[1]] = int(p[0], 16)
    payloads: List[bytes] = []
    frames: List[Tuple[bytes, bool]] = []
    with open(os.path.join(w.PROTO, "vectors.txt")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|")]
            kind = parts[0].split()[0]
            data = w.parse_hex(parts[2])
            if len(data) > 65536:
                continue
            if kind in ("ok", "err"):
                payloads.append(data)
            elif len(data) >= 8:
                frames.append((data, data[2:4] == b"\x00\x01"))
    with open(os.path.join(w.PROTO, "sessions.txt")) as f:
        prehello = True
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = [p.strip() for p in s.split("|")]
            head = parts[0].split()
            if head[0] == "session":
                prehello = True
            elif head[0] == "hello":
                prehello = False
            elif head[0] in ("send", "raw"):
                if head[0] == "send":
                    t = types[head[1]] if head[1] in types else int(head[1], 16)
                    pl = w.parse_hex(parts[2]) if parts[2] else encode_fields(parts[1])
                    data = w.frame(t, pl)
                else:
                    data = w.parse_hex(parts[2])
                if len(data) <= 65536:
                    frames.append((data, prehello))
                if data[2:4] == b"\x00\x01":
                    prehello = False
    return payloads, frames


# ---- mutations ----

def mutate(rng: random.Random, data: bytes, pool: List[bytes], header: bool) -> Tuple[bytes, str]:
    """One to three mutations of `data`; `header`: the first 8 bytes are a frame header."""
    b = bytearray(data)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        op = rng.randrange(7)
        if op == 0 and b:                       # bit flip
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
            names.append("flip@%d" % i)
        elif op == 1:                           # insert a byte (often a tag or 0x00/0xff)
            i = rng.randrange(len(b) + 1)
            v = rng.choice((0x00, 0xFF, 0x40, 0x50, 0x51, 0x80, 0xC0, 0xED, rng.randrange(256)))
            b[i:i] = bytes([v])
            names.append("ins@%d" % i)
        elif op == 2 and b:                     # delete a byte or a run
            i = rng.randrange(len(b))
            n = rng.choice((1, 1, 2, 4))
            del b[i:i + n]
            names.append("del@%d+%d" % (i, n))
        elif op == 3 and len(b) >= 4:           # tweak a u32 (a length or count, often)
            i = rng.randrange(len(b) - 3)
            v, = struct.unpack(">I", b[i:i + 4])
            nv = rng.choice((v + 1, v - 1, v + 4, 0, 0xFFFFFFFF, 0x80000000, v * 2, v >> 1)) & 0xFFFFFFFF
            b[i:i + 4] = struct.pack(">I", nv)
            names.append("len@%d=%d" % (i, nv))
        elif op == 4 and pool:                  # splice with another seed
            other = rng.choice(pool)
            i, j = rng.randrange(len(b) + 1), rng.randrange(len(other) + 1)
            b = b[:i] + bytearray(other[j:])
            names.append("splice@%d" % i)
        elif op == 5 and b:                     # duplicate a chunk
            i = rng.randrange(len(b))
            n = rng.randrange(1, 16)
            b[i:i] = b[i:i + n]
            names.append("dup@%d+%d" % (i, n))
        elif op == 6 and b:                     # set a byte to an edge value
            i = rng.randrange(len(b))
            b[i] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, 0x21, 0x33))
            names.append("set@%d" % i)
    if header and len(b) >= 8 and rng.random() < 0.7:
        # mostly keep the header's length true to the bytes, so that the payload is what is judged
        b[4:8] = struct.pack(">I", len(b) - 8)
        if b[0] != 1 and rng.random() < 0.8:
            b[0] = 1
    return bytes(b), "+".join(names) or "none"


# ---- talking to one server ----

class Peer:
    def __init__(self, srv: w.Server) -> None:
        self.srv = srv
        self.conn: Optional[w.Conn] = None

    def _open(self) -> w.Conn:
        c = w.Conn(self.srv.port)
        ans = c.hello()
        if ans[0] != "frame" or ans[1] != w.HELLO:
            raise RuntimeError("%s: no HELLO: %s" % (self.srv.name, w.describe(ans)))
        return c

    def payload(self, pl: bytes) -> Tuple:
        if self.conn is None:
            self.conn = self._open()
        c = self.conn
        c.try_send(w.frame(w.ROUNDTRIP, pl))
        ans = c.read(10.0)
        if ans[0] == "frame":
            return ("reply", ans[1], ans[2])
        self.conn = None
        if ans[0] == "error":
            end = c.read(3.0)
            c.close()
            return ("error", ans[1], ans[2], end[0])
        c.close()
        return ans

    def frame(self, data: bytes, prehello: bool) -> Tuple:
        c = w.Conn(self.srv.port) if prehello else self._open()
        try:
            c.try_send(data)
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            out = []
            while True:
                ans = c.read(5.0)
                if ans[0] == "error":
                    out.append(("error", ans[1], ans[2]))
                elif ans[0] == "frame":
                    out.append(("frame", ans[1], normal(ans[1], ans[2])))
                else:
                    out.append(ans)
                    return tuple(out)
                if len(out) > 64:
                    return tuple(out)
        finally:
            c.close()


def normal(mtype: int, payload: bytes) -> bytes:
    """What of a reply the SPEC fixes: a HELLO's version and max_payload (the name is free, 7.3),
    a VECTOR_RESULT's status and path (expected and got are informative, 10.4)."""
    if mtype == w.HELLO:
        return payload[:8]
    if mtype == 0x0105 and len(payload) >= 7 and payload[2] == 0x40:
        n, = struct.unpack(">I", payload[3:7])
        return payload[:7 + n]
    return payload


def fmt(ans: Tuple) -> str:
    if ans and isinstance(ans[0], tuple):
        return " ; ".join(fmt(a) for a in ans)
    if ans[0] == "reply":
        return "reply 0x%04x %s" % (ans[1], ans[2][:32].hex())
    if ans[0] == "error":
        return w.describe(ans[:3]) + (" then " + ans[3] if len(ans) > 3 else "")
    return w.describe(ans)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build/cc")
    ap.add_argument("--servers", default="c,python,perl,ocaml")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--count", type=int, default=0, help="stop after this many inputs (0: no limit)")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=8, help="inputs in flight at once")
    ap.add_argument("--server-cmd", action="append", default=[], metavar="NAME=COMMAND",
                    help="run NAME as COMMAND (e.g. a modified copy, to see a disagreement)")
    args = ap.parse_args()
    names = [s for s in args.servers.split(",") if s]
    cmds = dict(x.split("=", 1) for x in args.server_cmd)
    payloads, frames = load_seeds()
    logdir = tempfile.mkdtemp(prefix="wire-differential.")
    servers: List[w.Server] = []
    try:
        for n in names:
            cmd = cmds[n].split() if n in cmds else w.server_cmd("c-epoll" if n == "c" else n, args.build)
            servers.append(w.Server(n, cmd, OPTS, os.path.join(logdir, n + ".err")))
        rng = random.Random(args.seed)
        t0 = time.monotonic()
        lock = threading.Lock()
        state = {"sent": 0, "disagree": 0, "dead": ""}
        kinds = {"payload": 0, "frame": 0}
        outcomes: Dict[str, int] = {}

        def next_input() -> Optional[Tuple[int, bytes, str, bool, bool]]:
            # the inputs come from one seeded generator in a fixed order: --count N always sends
            # the same N inputs, whatever the number of workers
            with lock:
                if state["dead"] or time.monotonic() - t0 >= args.seconds or \
                        (args.count and state["sent"] >= args.count):
                    return None
                state["sent"] += 1
                is_frame = rng.random() < 0.3
                if is_frame:
                    seed, pre = rng.choice(frames)
                    data, how = mutate(rng, seed, [f[0] for f in frames], True)
                else:
                    pre = False
                    data, how = mutate(rng, rng.choice(payloads), payloads, False)
                return state["sent"], data, how, is_frame, pre

        def worker() -> None:
            peers = [Peer(s) for s in servers]
            while True:
                item = next_input()
                if item is None:
                    return
                idx, data, how, is_frame, pre = item
                results: List[Optional[Tuple]] = [None] * len(peers)

                def ask(k: int) -> None:
                    try:
                        results[k] = peers[k].frame(data, pre) if is_frame else peers[k].payload(data)
                    except (OSError, RuntimeError, ValueError) as e:
                        results[k] = ("exception", str(e))
                        peers[k].conn = None
                ts = [threading.Thread(target=ask, args=(k,)) for k in range(len(peers))]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(30)
                r0 = results[0]
                key = "frame" if is_frame else (r0[0] if r0 else "none")
                if r0 and not is_frame and r0[0] == "error":
                    key = "ERROR " + w.CODE_NAMES.get(r0[1], str(r0[1]))
                bad = any(r != r0 for r in results)
                spec = ""
                if not is_frame and r0 and r0[0] == "reply" and r0 != ("reply", w.ROUNDTRIP_REPLY, data):
                    spec = "the reply is not the request's bytes (SPEC 10.3)"
                with lock:
                    kinds["frame" if is_frame else "payload"] += 1
                    outcomes[key] = outcomes.get(key, 0) + 1
                    if bad or spec:
                        state["disagree"] += 1
                        print("DISAGREE #%d (%s input, mutation %s%s): %s" % (
                            idx, "frame" if is_frame else "payload", how, ", before HELLO" if pre else "", data.hex()))
                        if spec:
                            print("  " + spec)
                        for s, r in zip(servers, results):
                            print("  %-8s %s" % (s.name, fmt(r) if r else "no answer"))
                        sys.stdout.flush()
                    for s in servers:
                        if not s.alive() and not state["dead"]:
                            state["dead"] = "the %s server died (status %s) after input #%d: %s" % (
                                s.name, s.proc.returncode, idx, data.hex())
        workers = [threading.Thread(target=worker, daemon=True) for _ in range(args.jobs)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(args.seconds + 120)
        if state["dead"]:
            print(state["dead"])
            return 1
        sent, disagree = state["sent"], state["disagree"]
        dt = time.monotonic() - t0
        print("%d mutated inputs (%d payloads as ROUNDTRIP, %d whole frames) to %s in %.1f s, seed %d: %s"
              % (sent, kinds["payload"], kinds["frame"], ",".join(names), dt, args.seed,
                 ", ".join("%s %d" % kv for kv in sorted(outcomes.items()))))
        print("%d passed, %d failed" % (sent - disagree, disagree))
        return 1 if disagree else 0
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
