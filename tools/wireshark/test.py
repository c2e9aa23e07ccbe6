#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test.py BUILD_DIR - tests the Wireshark dissector tools/wireshark/wire.lua with tshark.

1. A live capture: tcpdump on lo while BUILD_DIR/wire-client runs the interop exchange against
   BUILD_DIR/wire-server (a random port: the heuristic finds it). Checks known values (the HELLO
   names, a ROUNDTRIP's u32, ERROR codes), that no valid frame is flagged, and that every frame the
   dissector flags gets from the server an ERROR with the same code and offset. Needs root (or the
   capture capability); without it the case says so and the others run.
2. The course traces (mkpcap.py traces): regenerated and compared with the committed ones, then
   decoded, among them a HELLO sent one byte per segment and several frames in one segment.
3. SPEC.md's invalid payloads and headers (mkpcap.py malformed): each shows its code and offset as
   expert info on the right byte; 300 randomly damaged frames decode without a Lua error.
4. The UDP profile (mkpcap.py udp): every datagram of proto/udp.txt shows its request id and the
   code and frame offset SPEC.md 15.3 gives it.
tshark never prints "Lua Error". Wireshark 4.0 runs Lua as root; a tshark that refuses is run as
nobody. Exit status 0 if every check passed.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

HERE = Path(__file__).resolve().parent
ETH_IP_TCP = 14 + 20 + 20  # the header bytes before the TCP payload in mkpcap.py's traces
failures: List[str] = []

Field = Tuple[str, str, int]  # name, shown value, position in its data source


class Packet(NamedTuple):
    number: int
    srcport: int
    stream: int
    length: int
    frames: List[List[Field]]  # one list per wire frame the packet ends


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def values(frame: List[Field], name: str) -> List[str]:
    return [show for n, show, _ in frame if n == name]


def wtype(frame: List[Field]) -> int:
    return int(values(frame, "wire.type")[0], 0)


class Tshark:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.lua = tmp / "wire.lua"
        shutil.copy(HERE / "wire.lua", self.lua)
        self.lua.chmod(0o644)
        self.prefix: List[str] = []
        self.env = dict(os.environ)

    def as_nobody(self) -> None:
        print("note  tshark refused Lua as root: running it as nobody")
        self.prefix = ["runuser", "-u", "nobody", "--"]
        self.env["HOME"] = str(self.tmp)

    def run(self, pcap: Path, *args: str) -> str:
        pcap.chmod(0o644)
        cmd = self.prefix + ["tshark", "-n", "-X", "lua_script:%s" % self.lua, "-r", str(pcap)] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                           encoding="utf-8", errors="replace", timeout=120)
        out = p.stdout + p.stderr
        check(p.returncode == 0 and "Lua Error" not in out and " Lua: " not in out,
              "tshark on %s: exit 0, no Lua error" % pcap.name)
        if p.returncode != 0 or "Lua Error" in out:
            print("\n".join(line for line in out.splitlines() if "Lua" in line or "rror" in line)[:2000])
        return p.stdout

    def packets(self, pcap: Path) -> List[Packet]:
        out = self.run(pcap, "-T", "pdml")
        result = []
        # tshark writes U+FFFE, U+FFFF (valid in a wire string) and control characters as they
        # are, though XML forbids them
        out = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "?", out)
        for pkt in ET.fromstring(out).iter("packet"):
            protos = {p.get("name"): p for p in pkt.findall("proto")}
            num = int(protos["geninfo"].find("field[@name='num']").get("show"))
            length = int(protos["geninfo"].find("field[@name='len']").get("show"))
            tcp = protos.get("tcp")
            srcport = int(tcp.find("field[@name='tcp.srcport']").get("show")) if tcp is not None else 0
            stream = int(tcp.find("field[@name='tcp.stream']").get("show")) if tcp is not None else -1
            frames = [[(f.get("name"), f.get("show"), int(f.get("pos") or 0)) for f in p.iter("field")]
                      for p in pkt.findall("proto") if p.get("name") == "wire"]
            result.append(Packet(num, srcport, stream, length, frames))
        return result


def capture(build: Path, tmp: Path) -> Optional[Path]:
    """The interop exchange captured on lo, or None (said why) if it cannot be captured."""
    if shutil.which("tcpdump") is None:
        print("SKIP  live capture: tcpdump is not installed")
        return None
    pcap = tmp / "live.pcap"
    server = subprocess.Popen([str(build / "wire-server"), "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True)
    dump = None
    try:
        port = int(server.stdout.readline())
        # -Z root: tcpdump would otherwise drop to its own user, who cannot write into tmp; -B: with
        # the default 2 MiB buffer the kernel drops packets of the 1 MiB ECHOs on a busy machine.
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-B", "65536", "-n", "-s", "0", "-Z", "root", "-w",
                                 str(pcap), "tcp port %d" % port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
        line = dump.stderr.readline()  # "listening on lo, ..." once it captures, else the error
        if "listening on" not in line:
            dump.wait(5)
            print("SKIP  live capture impossible here (%s): %s"
                  % ("not root" if os.geteuid() != 0 else "tcpdump failed", line.strip()))
            return None
        client = subprocess.run([str(build / "wire-client"), "--port", str(port), "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=60)
        check(client.returncode == 0, "wire-client's interop exchange passed (%s)"
              % client.stdout.strip().splitlines()[-1:])
        time.sleep(0.5)  # let tcpdump write the last packets
    finally:
        if dump is not None and dump.poll() is None:
            dump.send_signal(signal.SIGINT)
            dump.wait(10)
        server.terminate()
        server.wait(10)
    stats = dump.stderr.read()
    dropped = re.search(r"(\d+) packets? dropped by kernel", stats)
    check(dropped is not None and dropped.group(1) == "0",
          "live: tcpdump lost no packet (%s)" % (dropped.group(0) if dropped else stats.strip()))
    return pcap


def frame_types(fields: str) -> List[int]:
    """The types of the whole frames in one side's captured TCP payload (tshark's frame, seq and
    payload fields, a line per segment), joined in sequence order."""
    segs = {}
    for line in fields.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2]:
            segs[int(parts[1])] = bytes.fromhex(parts[2].replace(":", ""))
    data, expect = b"", None
    for seq in sorted(segs):
        if expect is not None and seq != expect:
            break  # a hole: what follows cannot be framed
        data += segs[seq]
        expect = seq + len(segs[seq])
    types, pos = [], 0
    while len(data) - pos >= 8:
        n = int.from_bytes(data[pos + 4:pos + 8], "big")
        if len(data) - pos - 8 < n:
            break
        types.append(int.from_bytes(data[pos + 2:pos + 4], "big"))
        pos += 8 + n
    return types


class IncompleteCapture(Exception):
    """The capture lacks packets that were sent (the client saw them): capture again."""


def test_live(ts: Tshark, pcap: Path) -> None:
    # -T fields, one row per packet: PDML of the 1 MiB ECHOs would be about 90 MB.
    names = ["tcp.stream", "tcp.srcport", "wire.type", "wire.hello.name", "wire.u32", "wire.error.code",
             "wire.error.offset", "wire.malformed.code", "wire.malformed.offset",
             "_ws.expert.message"]  # the last one shows a Lua error (Tshark.run looks for it)
    out = ts.run(pcap, "-Y", "wire", "-T", "fields", "-E", "aggregator=,", "-E", "occurrence=a",
                 *[x for n in names for x in ("-e", n)])
    rows = [dict(zip(names, [v.split(",") if v else [] for v in line.split("\t")]))
            for line in out.splitlines()]
    count = sum(len(r["wire.type"]) for r in rows)
    check(count > 600, "live: %d wire frames decoded (the heuristic found the port)" % count)
    hellos = {n for r in rows for n in r["wire.hello.name"]}
    check({"c-client", "c-server"} <= hellos, "live: HELLO names %s" % sorted(hellos))
    server_port = next((r["tcp.srcport"][0] for r in rows if r["wire.hello.name"] == ["c-server"]), "")
    rt = [r for r in rows if r["tcp.srcport"] != [server_port] and "0x0102" in r["wire.type"]
          and "16909060" in r["wire.u32"]]
    reply = [r for r in rows if r["tcp.srcport"] == [server_port] and "0x0103" in r["wire.type"]
             and "16909060" in r["wire.u32"]]
    check(len(rt) > 0 and len(reply) > 0, "live: a ROUNDTRIP and its reply hold u32:16909060")
    codes = {int(c) for r in rows for c in r["wire.error.code"]}
    # (how many connections the rejects take varies from run to run: only these two are always seen)
    check({4, 5} <= codes, "live: ERROR codes received include BADBOOL and UTF8: %s" % sorted(codes))
    flagged: Dict[str, Tuple[str, str]] = {}
    answered: Dict[str, Tuple[str, str]] = {}
    false_alarm = []
    for r in rows:
        stream = r["tcp.stream"][0]
        if r["tcp.srcport"] == [server_port]:
            if r["wire.malformed.code"]:
                false_alarm.append(stream)
            if r["wire.error.code"] and stream not in answered:
                answered[stream] = (r["wire.error.code"][0], r["wire.error.offset"][0])
        elif r["wire.malformed.code"] and stream not in flagged:
            flagged[stream] = (r["wire.malformed.code"][0], r["wire.malformed.offset"][0])
    check(not false_alarm, "live: no frame from wire-server is flagged malformed %s" % false_alarm[:5])
    wrong = {s: (v, answered.get(s)) for s, v in flagged.items() if answered.get(s) != v}
    for stream in [s for s, (_, got) in wrong.items() if got is None]:
        # No ERROR decoded in that stream: say whether the server's bytes are in the capture at
        # all (then the dissector missed a frame: a bug) or not (the capture is incomplete).
        raw = ts.run(pcap, "-Y", "tcp.stream == %s && tcp.srcport == %s && tcp.len > 0" % (stream, server_port),
                     "-T", "fields", "-e", "frame.number", "-e", "tcp.seq", "-e", "tcp.payload")
        print("note  stream %s: the server's segments as captured (frame, seq, payload):\n%s"
              % (stream, raw.strip()[:1500] or "(none)"))
        if not any(t == 2 for t in frame_types(raw)):
            raise IncompleteCapture("stream %s: the server's ERROR is not in the capture" % stream)
    check(len(flagged) >= 20 and not wrong,
          "live: %d frames flagged by the dissector, each answered by an ERROR with the same code "
          "and offset %s" % (len(flagged), list(wrong.items())[:3]))


def test_traces(ts: Tshark, tmp: Path) -> None:
    out = tmp / "traces"
    out.mkdir()
    subprocess.run([sys.executable, str(HERE / "mkpcap.py"), "traces", str(out)], check=True)
    for name in ("spec-session.pcap", "spec-error.pcap", "spec-stream.pcap"):
        same = (out / name).read_bytes() == (HERE / "traces" / name).read_bytes()
        check(same, "traces/%s is what mkpcap.py writes%s" % (name, "" if same else
              " (SPEC.md changed? python3 tools/wireshark/mkpcap.py traces tools/wireshark/traces)"))

    pkts = ts.packets(out / "spec-session.pcap")
    frames = [f for p in pkts for f in p.frames]
    names = ["%04x" % wtype(f) for f in frames]
    check(names == ["0001", "0001", "0102", "0103", "0104", "0105", "0104", "0105", "0108", "0109",
                    "0003", "0004", "0005", "0005"], "session: the 14 frames of 12.6-12.9 %s" % names)
    v = {n: [values(f, n) for f in frames] for n in ("wire.hello.name", "wire.hello.max_payload",
                                                     "wire.u32", "wire.string", "wire.i16", "wire.i64",
                                                     "wire.f64", "wire.malformed.code")}
    check(v["wire.hello.name"][:2] == [["python-client"], ["c-server"]]
          and v["wire.hello.max_payload"][0] == ["16777216"], "session: HELLO name and max_payload")
    check(v["wire.u32"][2] == ["16909060"] and v["wire.string"][2] == ["hi"]
          and v["wire.i16"][2] == ["-2", "258"] and v["wire.u32"][3] == ["16909060"],
          "session: ROUNDTRIP u32:16909060 string:\"hi\" list:i16 [ -2 258 ], and its reply")
    check(v["wire.string"][7] == ["0", "u32:16909060", "u32:67305985"],
          "session: VECTOR_RESULT mismatch strings %s" % v["wire.string"][7])
    check(v["wire.i64"][8] == ["9223372036854775807", "1", "-2"] and v["wire.f64"][8] == ["1.5", "-0"],
          "session: STATS lists %s %s" % (v["wire.i64"][8], v["wire.f64"][8]))
    check(v["wire.i64"][9] == ["9223372036854775806", "-2", "9223372036854775807"]
          and v["wire.u32"][9] == [str(0xCBF43926)], "session: STATS_REPLY sums and crc")
    check(not any(v["wire.malformed.code"]), "session: nothing flagged")

    pkts = ts.packets(out / "spec-error.pcap")
    frames = [f for p in pkts for f in p.frames]
    check(len(frames) == 8, "error trace on port 7777: the heuristic found both connections")
    if len(frames) == 8:
        check(values(frames[2], "wire.malformed.code") == ["4"]
              and values(frames[2], "wire.malformed.offset") == ["9"], "error: ROUNDTRIP 30 02 is BADBOOL at 9")
        check(values(frames[3], "wire.error.code") == ["4"] and values(frames[3], "wire.error.offset") == ["9"]
              and values(frames[3], "wire.error.message") == ["bool byte is neither 0 nor 1: in ROUNDTRIP payload"],
              "error: ERROR(BADBOOL, 9, text)")
        check(values(frames[6], "wire.malformed.code") == ["8"]
              and values(frames[6], "wire.malformed.offset") == ["4"], "error: header of length 16777217 is TOOBIG at 4")
        check(values(frames[7], "wire.error.code") == ["8"] and values(frames[7], "wire.error.offset") == ["4"],
              "error: ERROR(TOOBIG, 4)")

    pkts = ts.packets(out / "spec-stream.pcap")
    by = {p.number: p.frames for p in pkts}
    seq = [(p.number, "%04x" % wtype(f)) for p in pkts for f in p.frames]
    check(seq == [(37, "0001"), (38, "0001"), (39, "0102"), (39, "0003"), (39, "0108"), (40, "0103"),
                  (41, "0004"), (41, "0109"), (49, "0005"), (50, "0005")],
          "stream: frames in packets (number, type) %s" % seq)
    if len(seq) == 10:
        check(values(by[37][0], "wire.hello.name") == ["python-client"],
              "stream: a HELLO sent one byte per segment (33 segments) decodes in the last one")
        check(values(by[39][0], "wire.u32") == ["16909060"] and values(by[39][1], "wire.payload")
              and values(by[39][2], "wire.i64") == ["9223372036854775807", "1", "-2"],
              "stream: ROUNDTRIP, PING and STATS in one segment all decode")
        check(values(by[41][1], "wire.u32") == [str(0xCBF43926)],
              "stream: STATS_REPLY after the end of a PONG cut across two segments")
    test_readme(ts, out)


def test_readme(ts: Tshark, traces: Path) -> None:
    """Each "$ tshark ..." block of README.md prints what it shows (and the Info column is right)."""
    text = (HERE / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```\n\$ (tshark .*)\n((?:(?!```).*\n)*)```", text, re.M)
    check(len(blocks) == 2, "README.md shows %d tshark outputs" % len(blocks))
    for command, shown in blocks:
        args = shlex.split(command)[1:]
        # the same command, on this test's copies of the script and the trace
        lua = args.index("-X") + 1
        pcap = args.index("-r") + 1
        trace = traces / Path(args[pcap]).name
        args = args[:lua - 1] + args[lua + 1:pcap - 1] + args[pcap + 1:]
        out = ts.run(trace, *args)
        got = [line.rstrip() for line in out.rstrip("\n").splitlines()]
        want = [line.rstrip() for line in shown.splitlines()]
        check(got == want, "README.md: %s%s" % (command[:72], "" if got == want else "\n" + out))
        if trace.name == "spec-stream.pcap":
            info = [line.split("WIRE ", 1)[-1].split(" ", 1)[-1] for line in got if 37 <= int(line.split()[0]) <= 41]
            check(info == ['HELLO "python-client"', 'HELLO "c-server"', "ROUNDTRIP, PING, STATS",
                           "ROUNDTRIP_REPLY", "PONG, STATS_REPLY"], "stream: Info column %s" % info)


def test_malformed(ts: Tshark, tmp: Path) -> None:
    pcap = tmp / "malformed.pcap"
    subprocess.run([sys.executable, str(HERE / "mkpcap.py"), "malformed", str(pcap)], check=True)
    expected = (tmp / "malformed.pcap.expected").read_text(encoding="utf-8").split("\n")[:-1]
    pkts = ts.packets(pcap)
    check(len(pkts) == len(expected), "malformed: %d packets" % len(pkts))
    bad = []
    for p, want in zip(pkts, expected):
        if want == "?":
            continue
        fields = [x for f in p.frames for x in f]
        got = " ".join(values(fields, "wire.malformed.code") + values(fields, "wire.malformed.offset")) or "-"
        if got != want:
            bad.append("packet %d: got %s, want %s" % (p.number, got, want))
        elif want != "-":
            code, off = (int(x) for x in want.split())
            # the expert item sits on the byte of the error (the frame's last byte if it is past it)
            at = [pos - ETH_IP_TCP for n, _, pos in fields if n in ("_ws.expert", "wire.malformed.code")]
            experts = [n for n, _, _ in fields if n.startswith("wire.malformed.") and n.count(".") == 2
                       and n not in ("wire.malformed.code", "wire.malformed.offset")]
            if at != [min(off, p.length - ETH_IP_TCP - 1)] * 2 or len(experts) != 1:
                bad.append("packet %d: expert %s at byte %s, want offset %d" % (p.number, experts, at, off))
    n = sum(1 for e in expected if e not in ("-", "?"))
    check(not bad, "malformed: %d invalid frames of SPEC.md 5.6 and 2.3, each code, offset and expert "
          "byte right, a valid 32-level nesting not flagged %s" % (n, bad[:5]))
    damaged = [p for p, want in zip(pkts, expected) if want == "?"]
    flagged = sum(1 for p in damaged if any(values(f, "wire.malformed.code") for f in p.frames))
    check(len(damaged) == 300 and flagged > 100,
          "malformed: 300 randomly damaged frames, %d flagged, none a Lua error" % flagged)


def test_udp(ts: Tshark, tmp: Path) -> None:
    """proto/udp.txt's datagrams (SPEC.md 15): the request id, and for each datagram the code and
    frame offset of 15.3 the dissector must flag, or nothing."""
    pcap = tmp / "udp.pcap"
    subprocess.run([sys.executable, str(HERE / "mkpcap.py"), "udp", str(pcap)], check=True)
    expected = (tmp / "udp.pcap.expected").read_text(encoding="utf-8").split("\n")[:-1]
    names = ["frame.number", "wire.udp.id", "wire.malformed.code", "wire.malformed.offset", "_ws.expert.message"]
    out = ts.run(pcap, "-T", "fields", "-E", "aggregator=,", "-E", "occurrence=a",
                 *[x for n in names for x in ("-e", n)])
    rows = [line.split("\t") for line in out.splitlines()]
    check(len(rows) == len(expected) and len(rows) >= 50, "udp: %d datagrams of proto/udp.txt" % len(rows))
    bad = []
    for row, want in zip(rows, expected):
        _, rid, code, off, expert = row + [""] * (5 - len(row))
        if want == "dropped":
            # an empty datagram is not handed to any dissector; 1-3 bytes are shown as dropped
            ok = rid == "" and code == "" and ("dropped" in expert or row[1:] == ["", "", "", ""])
        else:
            wid, rest = want.split(" ", 1)
            got = "%s %s" % (code, off) if code else "-"
            ok = rid == "0x" + wid and (rest == "?" or got == rest)
        if not ok:
            bad.append("packet %s: got %s, want %s" % (row[0], row[1:], want))
    check(not bad, "udp: each datagram's request id, and the code and offset of SPEC.md 15.3 (%d flagged) %s"
          % (sum(1 for e in expected if e.count(" ") == 2), bad[:4]))


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    if shutil.which("tshark") is None:
        print("FAIL  tshark is not installed (Debian package tshark)")
        return 1
    build = Path(argv[1]).resolve()
    start = time.time()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # readable by nobody, if tshark runs as nobody
        ts = Tshark(tmp)
        probe = tmp / "probe"
        probe.mkdir()
        subprocess.run([sys.executable, str(HERE / "mkpcap.py"), "traces", str(probe)], check=True)
        probe.chmod(0o755)
        if "wire" not in ts.run(probe / "spec-session.pcap", "-T", "fields", "-e", "frame.protocols"):
            if os.geteuid() != 0:
                check(False, "the dissector loads")
                return 1
            ts.as_nobody()
        live = capture(build, tmp)
        if live is not None:
            try:
                test_live(ts, live)
            except IncompleteCapture as e:
                # the client's exchange passed, so the server sent those bytes: tcpdump missed
                # them. That says nothing of the dissector; one new capture decides.
                print("note  %s; capturing again" % e)
                live = capture(build, tmp)
                if live is not None:
                    test_live(ts, live)
        test_traces(ts, tmp)
        test_malformed(ts, tmp)
        test_udp(ts, tmp)
    print("%s: %d failed, %.1f s" % (Path(argv[0]).name, len(failures), time.time() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
