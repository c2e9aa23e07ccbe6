#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mkpcap.py - write .pcap traces of wire frames (Ethernet/IPv4/TCP, stdlib only).

  mkpcap.py traces DIR      the course traces of SPEC.md's worked examples (section 12), from the
                            hex dumps of SPEC.md itself: spec-session.pcap, spec-error.pcap,
                            spec-stream.pcap (the traces committed in tools/wireshark/traces/)
  mkpcap.py malformed FILE  SPEC.md 5.6's invalid payloads as ROUNDTRIPs, and 2.3's bad headers,
                            one frame per segment, then 300 randomly damaged frames; writes
                            FILE.expected: per packet, "CODE OFFSET" (the frame offset) the
                            dissector must report, "-" for none, "?" for anything
  mkpcap.py udp FILE        every case of proto/udp.txt (SPEC.md 15) as a UDP datagram to port
                            7000, and each expected reply after it; FILE.expected: per packet,
                            "ID CODE OFFSET", "ID -" or "dropped" (too short for a request id)

Timestamps, addresses and sequence numbers are fixed, so the output is the same on every run.
"""
import random
import re
import struct
import sys
from pathlib import Path
from typing import Dict, List, Tuple

SPEC = Path(__file__).resolve().parent.parent.parent / "SPEC.md"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Pcap:
    """A classic pcap file (microsecond timestamps, LINKTYPE_ETHERNET)."""

    def __init__(self, snaplen: int = 65535) -> None:
        self.out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        self.usec = 0

    def packet(self, frame: bytes) -> None:
        self.usec += 1000  # 1 ms between packets
        sec, usec = divmod(self.usec, 1000000)
        self.out += struct.pack("<IIII", 1700000000 + sec, usec, len(frame), len(frame)) + frame

    def write(self, path: Path) -> None:
        path.write_bytes(bytes(self.out))


class Tcp:
    """One TCP connection between 10.0.0.1:cport (client) and 10.0.0.2:sport (server)."""

    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01

    def __init__(self, pcap: Pcap, cport: int, sport: int) -> None:
        self.pcap = pcap
        self.ends = {True: [bytes([10, 0, 0, 1]), cport, 1000], False: [bytes([10, 0, 0, 2]), sport, 5000]}
        self.segment(True, self.SYN, b"")
        self.segment(False, self.SYN | self.ACK, b"")
        self.segment(True, self.ACK, b"")

    def segment(self, client: bool, flags: int, data: bytes) -> None:
        src, dst = self.ends[client], self.ends[not client]
        ack = dst[2] if flags & self.ACK else 0
        tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], src[2], ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = src[0] + dst[0] + struct.pack("!BBH", 0, 6, len(tcp) + len(data))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp + data)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(data), 0, 0x4000, 64, 6, 0,
                         src[0], dst[0])
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        mac = {True: b"\x02\0\0\0\0\x01", False: b"\x02\0\0\0\0\x02"}
        eth = mac[not client] + mac[client] + b"\x08\x00"
        self.pcap.packet(eth + ip + tcp + data)
        src[2] += len(data) + (1 if flags & (self.SYN | self.FIN) else 0)

    def send(self, client: bool, data: bytes) -> None:
        self.segment(client, self.PSH | self.ACK, data)

    def close(self) -> None:
        self.segment(True, self.FIN | self.ACK, b"")
        self.segment(False, self.FIN | self.ACK, b"")
        self.segment(True, self.ACK, b"")


def spec_frames() -> Dict[str, bytes]:
    """Every "frame NAME" dump of SPEC.md section 12, its offsets and length checked."""
    frames: Dict[str, bytes] = {}
    name, data = None, bytearray()
    row = re.compile(r"^\s*(\d+)  ((?:[0-9a-f]{2} )*[0-9a-f]{2})(?:\s{2,}.*)?$")
    prev = ""
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        opening, prev = prev == "```", line
        if opening and line.startswith("frame "):
            name, data = line[6:].strip(), bytearray()
        elif line.startswith("```") and name is not None:
            length = struct.unpack("!I", data[4:8])[0]
            if len(data) != 8 + length:
                raise ValueError("SPEC.md frame %s: %d bytes, header says %d" % (name, len(data), 8 + length))
            frames[name] = bytes(data)
            name = None
        elif name is not None:
            m = row.match(line)
            if m:
                if int(m.group(1)) != len(data):
                    raise ValueError("SPEC.md frame %s: offset %s, expected %d" % (name, m.group(1), len(data)))
                data += bytes.fromhex(m.group(2))
    return frames


def traces(out: Path) -> None:
    f = spec_frames()
    reply = f["ROUNDTRIP"][:2] + b"\x01\x03" + f["ROUNDTRIP"][4:]  # 12.7: ROUNDTRIP_REPLY, type 01 03

    # A whole session, one frame per segment, on the dissector's port (7000).
    p = Pcap()
    c = Tcp(p, 40001, 7000)
    for client, frame in [(True, f["HELLO"]), (False, f["HELLO reply"]), (True, f["ROUNDTRIP"]),
                          (False, reply), (True, f["VECTOR_CHECK"]), (False, f["VECTOR_RESULT"]),
                          (True, f["VECTOR_CHECK"]), (False, f["VECTOR_RESULT mismatch"]),
                          (True, f["STATS"]), (False, f["STATS_REPLY"]), (True, f["PING"]),
                          (False, f["PONG"]), (True, f["BYE"]), (False, f["BYE"])]:
        c.send(client, frame)
    c.close()
    p.write(out / "spec-session.pcap")

    # Errors, on port 7777: found by the heuristic (a HELLO first). A bool holding 2 answered with
    # ERROR(BADBOOL, 9); an oversize header answered with ERROR(TOOBIG, 4).
    p = Pcap()
    c = Tcp(p, 40002, 7777)
    for client, frame in [(True, f["HELLO"]), (False, f["HELLO reply"]), (True, f["ROUNDTRIP bad"]),
                          (False, f["ERROR"])]:
        c.send(client, frame)
    c.close()
    c = Tcp(p, 40003, 7777)
    for client, frame in [(True, f["HELLO"]), (False, f["HELLO reply"]),
                          (True, bytes.fromhex("0100010001000001")), (False, f["ERROR toobig"])]:
        c.send(client, frame)
    c.close()
    p.write(out / "spec-error.pcap")

    # TCP is a byte stream (13.4): the client's HELLO one byte per segment, then three frames in
    # one segment, and the server's three answers in one segment cut in the middle of the second.
    p = Pcap()
    c = Tcp(p, 40004, 7000)
    for b in f["HELLO"]:
        c.send(True, bytes([b]))
    c.send(False, f["HELLO reply"])
    c.send(True, f["ROUNDTRIP"] + f["PING"] + f["STATS"])
    answers = reply + f["PONG"] + f["STATS_REPLY"]
    cut = len(reply) + 5
    c.send(False, answers[:cut])
    c.send(False, answers[cut:])
    for b in f["BYE"]:
        c.send(True, bytes([b]))
    c.send(False, f["BYE"])
    c.close()
    p.write(out / "spec-stream.pcap")


class Udp:
    """Datagrams between 10.0.0.1:cport (client) and 10.0.0.2:sport (server)."""

    def __init__(self, pcap: Pcap, cport: int, sport: int) -> None:
        self.pcap = pcap
        self.ends = {True: (bytes([10, 0, 0, 1]), cport), False: (bytes([10, 0, 0, 2]), sport)}

    def send(self, client: bool, data: bytes) -> None:
        src, dst = self.ends[client], self.ends[not client]
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0)
        pseudo = src[0] + dst[0] + struct.pack("!BBH", 0, 17, len(udp) + len(data))
        udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp + data) or 0xFFFF)
        # the largest datagram (65507 bytes) makes exactly the largest IPv4 packet, 65535 bytes
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(data), 0, 0x4000, 64, 17, 0,
                         src[0], dst[0])
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        mac = {True: b"\x02\0\0\0\0\x01", False: b"\x02\0\0\0\0\x02"}
        self.pcap.packet(mac[not client] + mac[client] + b"\x08\x00" + ip + udp + data)


def unhex(column: str) -> bytes:
    """proto/README.md 1.1: tokens of hex, or hex*count."""
    out = b""
    for tok in column.split():
        h, _, n = tok.partition("*")
        out += bytes.fromhex(h) * (int(n) if n else 1)
    return out


def udp(out: Path) -> None:
    """Every case of proto/udp.txt: the datagram, then the reply the case expects, if any."""
    codes = {"TRUNCATED": 1, "BADTAG": 2, "BADBOOL": 4, "UTF8": 5, "LENGTH": 6, "DEPTH": 7,
             "TOOBIG": 8, "VERSION": 10, "HEADER": 11}
    p = Pcap(262144)
    u = Udp(p, 40100, 7000)
    expected = []
    for line in (SPEC.parent / "proto" / "udp.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("udp "):
            continue
        _, dgram, expect = [x.strip() for x in line.split("|")]
        data = unhex(dgram)
        u.send(True, data)
        rid = "%08x" % int.from_bytes(data[:4], "big") if len(data) >= 4 else ""
        words = expect.split()
        if len(data) < 4:
            expected.append("dropped")
        elif words[0] == "error" and words[1] in codes and words[2] != "4294967295":
            # the decoding and header errors are the dissector's; UNEXPECTED and MESSAGE are
            # message-level rules it does not judge
            expected.append("%s %d %s" % (rid, codes[words[1]], words[2]))
        else:
            # a reply, an UNEXPECTED or MESSAGE case (message-level rules: the frame itself is
            # sound), or an ERROR frame the server drops, which may itself be malformed
            expected.append(rid + " " + ("?" if words[0] == "none" else "-"))
        if words[0] == "reply":
            u.send(False, data[:4] + unhex(" ".join(words[1:])))
            expected.append(rid + " -")
    p.write(out)
    Path(str(out) + ".expected").write_text("".join(e + "\n" for e in expected), encoding="utf-8")


def nested(levels: int, inner: bytes) -> bytes:
    for _ in range(levels):
        inner = b"\x51" + struct.pack("!I", len(inner)) + inner
    return inner


def malformed(out: Path) -> None:
    """SPEC.md 5.6's table (its literal rows, then the nesting rows built here) and 2.3's."""
    cases: List[Tuple[bytes, str, int]] = []
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("### 5.6 Examples"):text.index("## 6. Error codes")]
    for m in re.finditer(r"^\| `([0-9a-f ]+)` \| ([A-Z0-9]+) (\d+) \|", section, re.M):
        cases.append((bytes.fromhex(m.group(1)), m.group(2), int(m.group(3))))
    # 33 nested groups; 32 whose innermost content is "51 00"; 31 around a list of lists whose
    # element would be at depth 33; the same with a count checked before any element.
    cases.append((nested(33, b""), "DEPTH", 160))
    cases.append((nested(32, b"\x51\x00"), "DEPTH", 160))
    cases.append((nested(31, bytes.fromhex("5050000000010100000000")), "DEPTH", 161))
    cases.append((nested(31, bytes.fromhex("5050000000020100000000")), "LENGTH", 157))
    # Elements that start exactly at the end of the payload (a list of lists, of strings, of groups).
    cases.append((bytes.fromhex("50500000000201000000050102030405"), "TRUNCATED", 16))
    cases.append((bytes.fromhex("5040000000020000000461626364"), "TRUNCATED", 14))
    cases.append((bytes.fromhex("505100000002000000040101 0101".replace(" ", "")), "TRUNCATED", 14))
    if len(cases) < 32:
        raise ValueError("SPEC.md 5.6: only %d cases found" % len(cases))
    codes = {"TRUNCATED": 1, "BADTAG": 2, "BADBOOL": 4, "UTF8": 5, "LENGTH": 6, "DEPTH": 7,
             "TOOBIG": 8, "VERSION": 10, "HEADER": 11}
    p = Pcap()
    c = Tcp(p, 40010, 7000)
    expected = ["-", "-", "-"]  # the handshake
    for payload, code, off in cases:
        c.send(True, b"\x01\x00\x01\x02" + struct.pack("!I", len(payload)) + payload)
        expected.append("%d %d" % (codes[code], 8 + off))
    # 32 nested groups are fine (depth 32 is allowed).
    c.send(True, b"\x01\x00\x01\x02" + struct.pack("!I", 160) + nested(32, b""))
    expected.append("- -")
    c.close()
    expected += ["-", "-", "-"]
    # 2.3: each bad header on its own connection (nothing after it can be cut into frames).
    for i, (header, code, off) in enumerate([("0200000100000000", "VERSION", 0),
                                             ("020700 00ffffffff", "VERSION", 0),
                                             ("0101000100000000", "HEADER", 1),
                                             ("0100000000000000", "HEADER", 2),
                                             ("0100010001000001", "TOOBIG", 4),
                                             ("474554202f204854", "VERSION", 0)]):
        c = Tcp(p, 40020 + i, 7000)
        c.send(True, bytes.fromhex(header.replace(" ", "")))
        c.close()
        expected += ["-", "-", "-", "%d %d" % (codes[code], off), "-", "-", "-"]
    # Random damage to SPEC.md's frames (fixed seed): anything may be reported, but no Lua error.
    rnd = random.Random(1)
    frames = list(spec_frames().values())
    c = Tcp(p, 40030, 7000)
    expected += ["-", "-", "-"]
    for _ in range(300):
        b = bytearray(rnd.choice(frames))
        for _ in range(rnd.randint(1, 4)):
            k = rnd.randrange(8, len(b)) if len(b) > 8 else 0
            op = rnd.random()
            if op < 0.6:
                b[k] = rnd.randrange(256)
            elif op < 0.8:
                del b[k]
            else:
                b.insert(k, rnd.randrange(256))
        if len(b) >= 8 and rnd.random() < 0.9:  # mostly keep the framing right
            b[4:8] = struct.pack("!I", len(b) - 8)
        c.send(True, bytes(b))
        expected.append("?")
    c.close()
    expected += ["-", "-", "-"]
    p.write(out)
    Path(str(out) + ".expected").write_text(
        "".join(e.replace("- -", "-") + "\n" for e in expected), encoding="utf-8")


def main(argv: List[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("traces", "malformed", "udp"):
        sys.stderr.write(__doc__)
        return 2
    if argv[1] == "traces":
        traces(Path(argv[2]))
    elif argv[1] == "udp":
        udp(Path(argv[2]))
    else:
        malformed(Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
