#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run.py: every benchmark of `make bench`, one after the other, then the table and the plots.

    run.py --build DIR [--quick] [--only codec,instructions,net,loops,peers] [--out bench/results.md]

Parts (each a program of its own, bounded in time, whose figures are the lines
"result <group> <name> <unit> <median> <min> <max>" it prints):
  codec         DIR/bench/bench-codec: wire against a hand-written codec, msgpack-c, protobuf-c,
                libcbor; bulk 1 MiB against memcpy (ns, medians of 5+ runs, alternated)
  instructions  bench/codec/instructions.sh: instructions per operation, from callgrind
  net           bench/net/run.py: the raw epoll echo and every wire-server model, alternated per
                scenario, same load client (the event loop on 1 and on 2 loops, --loops 2, among
                them); then memory per idle connection at 1,000 and 10,000
  peers         bench/peers/codec_python.py, codec_perl.pl, the OCaml bench_codec: each peer's
                codec against its language's plain packing of the same bytes

Writes the table of targets (each row of the performance issue: the figure, its baseline, the
ratio, the target, met or not) and every figure measured to --out (bench/results.md), the plots
(PNG, gnuplot) next to it, and prints the table. Exit status 1 if a part failed or a row of the
table has no figure (the table is still written, with the gap shown).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

Result = Tuple[str, float, float, float]  # unit, median, min, max


def log(msg: str) -> None:
    print("bench: " + msg, file=sys.stderr, flush=True)


def run_part(name: str, cmd: List[str], timeout: float, logdir: str, results: Dict[str, Result],
             cwd: str = ROOT) -> bool:
    """Runs one part, keeping its output in logdir/name.log and its result lines in results."""
    log("%s: %s (at most %d s)" % (name, " ".join(cmd), timeout))
    t0 = time.monotonic()
    path = os.path.join(logdir, name + ".log")
    with open(path, "w") as out:
        try:
            p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=out, text=True, timeout=timeout)
            text, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            text = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc = "timed out"
        out.write(text)
    n = 0
    for line in text.splitlines():
        f = line.split()
        if len(f) == 7 and f[0] == "result":
            try:
                key = "%s.%s" % (f[1], f[2])
                if f[3] == "instr" and not key.endswith(".instr"):
                    key += ".instr"  # the same operation in ns and in instructions
                results[key] = (f[3], float(f[4]), float(f[5]), float(f[6]))
                n += 1
            except ValueError:
                pass
    log("%s: %d figures in %.0f s%s" % (name, n, time.monotonic() - t0, "" if rc == 0 else " (exit %s)" % rc))
    return rc == 0


# ---- the table: one row per line of the performance issue --------------------------------------

class Row:
    def __init__(self, what: str, wire: Optional[str], base: Optional[str], ratio: str, target: str,
                 ok: Callable[[float], bool], note: str = "") -> None:
        self.what, self.wire, self.base, self.ratio, self.target, self.ok, self.note = \
            what, wire, base, ratio, target, ok, note


def le(x: float) -> Callable[[float], bool]:
    return lambda v: v <= x


def ge(x: float) -> Callable[[float], bool]:
    return lambda v: v >= x


ROWS: List[Row] = [
    Row("encode, representative message (ns)", "codec.wire.encode", "codec.hand.encode", "codec.ratio.encode.hand",
        "<= 1.5x", le(1.5), "baseline: hand-written big-endian codec"),
    Row("encode, instructions per message", "codec.wire.encode.instr", "codec.hand.encode.instr",
        "codec.ratio.encode.hand.instr", "<= 1.5x", le(1.5)),
    Row("decode, UTF-8 checked (ns)", "codec.wire.decode", "codec.hand.decode", "codec.ratio.decode.hand",
        "<= 1.5x", le(1.5), "baseline: hand-written, UTF-8 checked"),
    Row("decode, instructions per message", "codec.wire.decode.instr", "codec.hand.decode.instr",
        "codec.ratio.decode.hand.instr", "<= 1.5x", le(1.5)),
    Row("encode vs libcbor streaming", "codec.wire.encode", "codec.cbor.encode", "codec.speedup.encode.cbor",
        ">= 3x faster", ge(3)),
    Row("decode vs libcbor streaming", "codec.wire.decode", "codec.cbor.decode", "codec.speedup.decode.cbor",
        ">= 3x faster", ge(3)),
    Row("encode vs msgpack-c (a buffer per message, as documented)", "codec.wire.encode", "codec.msgpack.encode",
        "codec.speedup.encode.msgpack", ">= 5x faster", ge(5)),
    Row("encode vs msgpack-c (packing into the caller's buffer)", "codec.wire.encode", "codec.msgpack.fixed.encode",
        "codec.speedup.encode.msgpack.fixed", "(none)", lambda v: True),
    Row("decode vs msgpack-c", "codec.wire.decode", "codec.msgpack.decode", "codec.speedup.decode.msgpack",
        ">= 5x faster", ge(5)),
    Row("encode vs protobuf-c", "codec.wire.encode", "codec.protobuf.encode", "codec.speedup.encode.protobuf",
        "(none)", lambda v: True),
    Row("decode vs protobuf-c", "codec.wire.decode", "codec.protobuf.decode", "codec.speedup.decode.protobuf",
        "(none)", lambda v: True),
    Row("bulk 1 MiB encode vs memcpy (speed over memcpy's)", "codec.wire.bulk.encode", "codec.memcpy.bulk",
        "codec.ratio.bulk.memcpy", ">= 0.85", ge(0.85)),
    Row("zero-copy decode 1 MiB vs small (time over the small one's)", "codec.wire.bulk.decode", "codec.wire.decode",
        "codec.ratio.bulk.decode", "<= 1.5", le(1.5)),
    Row("event loop, ping-pong 1 conn (msg/s)", "net.epoll.pingpong.msgs", "net.raw.pingpong.msgs",
        "net.epoll.pingpong.ratio", ">= 0.95", ge(0.95), "baseline: raw epoll echo"),
    Row("event loop, ping-pong p50 over raw (us)", "net.epoll.pingpong.p50", "net.raw.pingpong.p50",
        "net.epoll.pingpong.p50_delta", "within 2 us", le(2.0)),
    Row("event loop, pipelined 64 x 8 B", "net.epoll.pipe64.msgs", "net.raw.pipe64.msgs", "net.epoll.pipe64.ratio",
        ">= 0.95", ge(0.95)),
    Row("event loop, 32 conns", "net.epoll.conns32.msgs", "net.raw.conns32.msgs", "net.epoll.conns32.ratio",
        ">= 0.95", ge(0.95)),
    Row("event loop, 1 MiB ECHO", "net.epoll.mib1.mbs", "net.raw.mib1.mbs", "net.epoll.mib1.ratio",
        ">= 0.9", ge(0.9)),
    Row("thread, pipelined 64 x 8 B", "net.thread.pipe64.msgs", "net.raw.pipe64.msgs", "net.thread.pipe64.ratio",
        ">= 0.9", ge(0.9)),
    Row("fork, pipelined 64 x 8 B", "net.fork.pipe64.msgs", "net.raw.pipe64.msgs", "net.fork.pipe64.ratio",
        ">= 0.9", ge(0.9)),
    Row("thread, 32 conns", "net.thread.conns32.msgs", "net.raw.conns32.msgs", "net.thread.conns32.ratio",
        ">= 0.9", ge(0.9)),
    Row("fork, 32 conns", "net.fork.conns32.msgs", "net.raw.conns32.msgs", "net.fork.conns32.ratio",
        ">= 0.9", ge(0.9)),
    Row("idle connection after HELLO, event loop (KiB, 1,000 conns)", "net.epoll.idle1000.pss",
        "net.raw.idle1000.pss", "net.epoll.idle1000.pss", "<= 4 KiB", le(4.0)),
    Row("idle connection, event loop (KiB, 10,000 conns)", "net.epoll.idle10000.pss", "net.raw.idle10000.pss",
        "net.epoll.idle10000.pss", "<= 4 KiB", le(4.0)),
    Row("fork model per idle connection (KiB PSS)", "net.fork.idle1000.pss", None, "net.fork.idle1000.pss",
        "stated", lambda v: True),
    Row("Python encode+decode, wire.encode/decode", "python.wire.encode_decode", "python.plain.encode_decode",
        "python.ratio.encode_decode", "<= 3x", le(3), "baseline: struct.pack/unpack, same bytes"),
    Row("Python encode+decode, wire.Layout (types compiled once)", "python.layout.encode_decode",
        "python.plain.encode_decode", "python.ratio.layout.encode_decode", "<= 3x", le(3)),
    Row("Perl encode+decode, generic encoder/decoder", "perl.wire.encode_decode", "perl.plain.encode_decode", "perl.ratio.encode_decode",
        "<= 3x", le(3), "baseline: pack/unpack, same bytes"),
    Row("Perl encode+decode, Wire::Layout (types compiled once)", "perl.layout.encode_decode",
        "perl.plain.encode_decode", "perl.ratio_layout.encode_decode", "<= 3x", le(3)),
    Row("OCaml encode+decode, Wire.encode_fields/decode_fields", "ocaml.wire.encode_decode",
        "ocaml.plain.encode_decode", "ocaml.ratio.encode_decode", "<= 2x", le(2),
        "baseline: Bytes get/set, same bytes"),
    Row("OCaml encode+decode, Wire.Writer/Reader", "ocaml.wire_rw.encode_decode", "ocaml.plain.encode_decode",
        "ocaml.ratio_rw.encode_decode", "<= 2x", le(2)),
]


def fmt(v: float) -> str:
    a = abs(v)
    return "%.0f" % v if a >= 1000 else "%.1f" % v if a >= 10 else "%.2f" % v if a >= 0.1 else "%.3g" % v


def figure(results: Dict[str, Result], key: Optional[str]) -> str:
    if not key:
        return ""
    r = results.get(key)
    if not r:
        return "**missing**"
    unit, med, lo, hi = r
    return "%s %s (%s-%s)" % (fmt(med), unit, fmt(lo), fmt(hi))


def table(results: Dict[str, Result]) -> Tuple[List[str], int]:
    lines = ["| what | wire | baseline | ratio (median, min-max) | target | met | server CPU per message, wire / raw |",
             "|---|---|---|---|---|---|---|"]
    missing = 0
    for row in ROWS:
        r = results.get(row.ratio)
        if r is None:
            missing += 1
            met = "**no figure**"
        else:
            met = "yes" if row.ok(r[1]) else "**no**"
        cpu = figure(results, row.ratio.replace(".ratio", ".cpu_ratio")) if row.ratio.endswith(".ratio") else ""
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            row.what, figure(results, row.wire), figure(results, row.base), figure(results, row.ratio),
            row.target, met, cpu))
    return lines, missing


# ---- plots ---------------------------------------------------------------------------------------

SERVERS = ["raw", "epoll", "epoll-loops2", "poll", "select", "thread", "fork"]


def plots(results: Dict[str, Result], outdir: str, workdir: str) -> List[str]:
    """msg/s against connections and against pipeline depth, every server beside the raw echo."""
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot is missing: no plots (Debian: gnuplot-nox)")
        return []
    series = {
        "connections": [(1, "pingpong"), (32, "conns32"), (256, "conns256")],
        "depth": [(1, "pipe1"), (16, "pipe16"), (64, "pipe64")],
    }
    made = []
    for what, points in series.items():
        data = os.path.join(workdir, "plot-%s.dat" % what)  # gnuplot's input, kept with the logs
        names = []
        with open(data, "w") as f:
            for srv in SERVERS:
                rows = [(x, results["net.%s.%s.msgs" % (srv, scen)][1]) for x, scen in points
                        if "net.%s.%s.msgs" % (srv, scen) in results]
                if not rows:
                    continue
                names.append(srv)
                f.write("# %s\n" % srv)
                for x, y in rows:
                    f.write("%d %f\n" % (x, y))
                f.write("\n\n")
        png = os.path.join(outdir, "plot-%s.png" % what)
        xlabel = "connections (64-byte ECHO, ping-pong on each)" if what == "connections" else \
            "pipeline depth (8-byte ECHO, one connection)"
        plot = ", ".join("'%s' index %d with linespoints title '%s'" % (data, i, n) for i, n in enumerate(names))
        script = "\n".join([
            "set terminal png size 900,560",
            "set output '%s'" % png,
            "set title 'msg/s against %s (loopback, %s)'" % (what, platform.node() or "this machine"),
            "set xlabel '%s'" % xlabel,
            "set ylabel 'messages per second'",
            "set logscale x 2", "set logscale y 10", "set grid", "set key outside right",
            "plot " + plot, ""])
        if names and subprocess.run([gp], input=script, text=True).returncode == 0:
            made.append(png)
    return made


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    return "%s, %d CPUs (%s), Linux %s, %s, load average %s before the run" % (
        platform.machine(), os.cpu_count() or 0, cpu, platform.release(), cc[0] if cc else "cc ?",
        " ".join("%.2f" % x for x in os.getloadavg()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/cc")
    ap.add_argument("--quick", action="store_true", help="one short run of each (for trying, not for figures)")
    ap.add_argument("--only", default="codec,instructions,net,peers")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    args = ap.parse_args()
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    parts = args.only.split(",")
    logdir = os.path.join(build, "bench", "logs")
    os.makedirs(logdir, exist_ok=True)
    results: Dict[str, Result] = {}
    ok = True
    started = time.monotonic()
    env_machine = machine()
    q = args.quick
    if "codec" in parts:
        ok &= run_part("codec", [os.path.join(build, "bench", "bench-codec"), "--hex",
                                 os.path.join(HERE, "message.hex")] + (["--runs", "5", "--seconds", "0.05"] if q else []),
                       120, logdir, results)
    if "instructions" in parts:
        ok &= run_part("instructions", ["bash", os.path.join(HERE, "codec", "instructions.sh"),
                                        os.path.join(build, "bench", "bench-codec")], 120, logdir, results)
    net = ["python3", os.path.join(HERE, "net", "run.py"), "--load", os.path.join(build, "bench", "net", "load"),
           "--rawecho", os.path.join(build, "bench", "net", "rawecho"),
           "--wire-server", os.path.join(build, "wire-server")] + (["--quick"] if q else [])
    if "net" in parts:
        ok &= run_part("net", net, 420, logdir, results)
    if "peers" in parts:
        # each bench's shortest run that still gives 5 runs of every row
        ok &= run_part("python", ["python3", os.path.join(HERE, "peers", "codec_python.py"), "--seconds", "9" if q else "15"],
                       60, logdir, results)
        ok &= run_part("perl", ["perl", os.path.join(HERE, "peers", "codec_perl.pl"), "--seconds", "11" if q else "20"], 60,
                       logdir, results)
        secs = ["--seconds", "5" if q else "20"]
        ok &= run_part("ocaml", [os.path.join(build, "bench", "ocaml", "default", "bench", "bench_codec.exe"),
                                 "--message",
                                 os.path.join(HERE, "message.hex")] + secs, 60, logdir, results)
    lines, missing = table(results)
    outdir = os.path.dirname(os.path.abspath(args.out))
    pngs = plots(results, outdir, logdir)
    with open(args.out, "w") as f:
        f.write("# make bench: results\n\n")
        f.write("%s. `make bench%s`, %s, %.0f s.\n\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                       " (quick)" if q else "", env_machine,
                                                       time.monotonic() - started))
        f.write("Medians of the runs, then (min-max). Ratios are computed run by run, from runs taken side by "
                "side, then their median; a ratio below 1 under \"baseline\" rows means slower than the baseline.\n\n")
        f.write("\n".join(lines) + "\n\n")
        for p in pngs:
            f.write("![%s](%s)\n\n" % (os.path.basename(p), os.path.basename(p)))
        f.write("## Every figure\n\n| figure | unit | median | min | max |\n|---|---|---|---|---|\n")
        for k in sorted(results):
            unit, med, lo, hi = results[k]
            f.write("| %s | %s | %s | %s | %s |\n" % (k, unit, fmt(med), fmt(lo), fmt(hi)))
    print("\n".join(lines))
    log("table and every figure: %s%s; logs: %s" % (args.out, "; plots: " + ", ".join(pngs) if pngs else "",
                                                     logdir))
    if missing and not q and set(parts) >= {"codec", "instructions", "net", "peers"}:  # quick skips some
        log("%d row(s) of the table have no figure" % missing)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
