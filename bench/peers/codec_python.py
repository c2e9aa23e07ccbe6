#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Python peer's codec against plain struct packing of the same bytes (issue 11).

Encodes and decodes the representative message (bench/message.hex) with ``wire.encode`` /
``wire.decode`` (the generic API), with ``wire.Layout`` (the precompiled one, when wire.py has
it) and with a precompiled ``struct.Struct`` whose format holds the whole 92-byte layout (the
baseline: the limit of plain packing for this layout). Every operation is measured in runs of at
least max(0.2, --seconds / (runs x rows)) seconds each, made of slices of about 20 ms of CPU time
taken in turn with the other codecs of the same operation, in one process, so that the load of a
shared machine falls on all of them alike; the figures are CPU time (process_time) per
operation, and ratios are taken per run pair.

Before anything is timed, every codec must produce bench/message.hex exactly and decode it to
the message's values; otherwise it exits 1.

Output: free text, then one line per figure:
    result python <name> <unit> <median> <min> <max>
e.g. ``result python wire.encode_decode us 8.0 7.7 8.4`` and ``result python
ratio.encode_decode x 3.1 2.9 3.4`` (wire / plain). Names: ``wire.``, ``plain.`` and ``layout.``
followed by ``encode_decode``, ``encode`` or ``decode`` (unit ``us``, CPU time per operation);
``ratio.<op>`` (wire / plain) and ``ratio.layout.<op>`` (Layout / plain), unit ``x``.
"""

import argparse
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "interop" / "python"))

import wire  # noqa: E402  (after the path is set)

MESSAGE_HEX = ROOT / "bench" / "message.hex"

STRING = "sensor-kitchen-1"
BLOB = bytes(range(16))
ITEMS = [1, -2, 3, -4]
F64_BITS = 0x4035800000000000
# The message's values, in field order (what every decoder must give back).
VALUES: Tuple[Any, ...] = (16909060, -1234567890123, wire.f64_from_bits(F64_BITS), STRING, True,
                           513, BLOB, ITEMS)
TYPES = ("u32", "i64", "f64", "string", "bool", "u16", "bytes", "list")
FIELDS = [("u32", 16909060), ("i64", -1234567890123), ("f64", wire.f64_from_bits(F64_BITS)),
          ("string", STRING), ("bool", True), ("u16", 513), ("bytes", BLOB),
          ("list", wire.ListValue("i32", list(ITEMS)))]

# ---- The baseline: one precompiled struct for the whole layout --------------------------------
# Tags, lengths, the list's element tag and count are constants of this layout, passed as such;
# the string and the byte string are 16 bytes each ("16s").
PLAIN = struct.Struct(">BIBqBdBI16sB?BHBI16sBBI4i")
_T_U32, _T_I64, _T_F64, _T_STR, _T_BOOL, _T_U16, _T_BYTES, _T_LIST, _T_I32 = (
    0x03, 0x14, 0x24, 0x40, 0x30, 0x02, 0x41, 0x50, 0x13)


def plain_encode(values: Sequence[Any]) -> bytes:
    u32, i64, f64, text, flag, u16, blob, items = values
    return PLAIN.pack(_T_U32, u32, _T_I64, i64, _T_F64, f64, _T_STR, 16, text.encode("utf-8"),
                      _T_BOOL, flag, _T_U16, u16, _T_BYTES, 16, blob, _T_LIST, _T_I32, 4, *items)


def plain_decode(payload: bytes) -> Tuple[Any, ...]:
    (_, u32, _, i64, _, f64, _, _, text, _, flag, _, u16, _, _, blob, _, _, _,
     a, b, c, d) = PLAIN.unpack(payload)
    # The string's UTF-8 is validated, as the wire decoder validates it.
    return u32, i64, f64, text.decode("utf-8"), flag, u16, blob, [a, b, c, d]


# ---- The codecs under test --------------------------------------------------------------------


def wire_values(fields: List[Tuple[str, Any]]) -> Tuple[Any, ...]:
    """The values of decoded fields, lists as their items (to compare with the baseline)."""
    return tuple(value.items if isinstance(value, wire.ListValue) else value for _, value in fields)


def check(name: str, encoded: bytes, decoded: Tuple[Any, ...], types: Sequence[str],
          expected: bytes) -> List[str]:
    problems = []
    if encoded != expected:
        problems.append("%s encodes %s, expected %s" % (name, encoded.hex(), expected.hex()))
    if types != TYPES:
        problems.append("%s decodes types %r, expected %r" % (name, types, TYPES))
    if (decoded != VALUES or wire.f64_bits(decoded[2]) != F64_BITS
            or [type(value) for value in decoded] != [type(value) for value in VALUES]):
        problems.append("%s decodes %r, expected %r" % (name, decoded, VALUES))
    return problems


def build_rows(expected: bytes) -> Tuple[Dict[str, Callable[[int], None]], List[str]]:
    """The timed loops (each runs its operation n times) and what their start-up checks found."""
    problems: List[str] = []
    fields = wire.decode(expected)
    problems += check("wire", wire.encode(FIELDS), wire_values(fields),
                      tuple(name for name, _ in fields), expected)
    problems += check("plain", plain_encode(VALUES), plain_decode(expected), TYPES, expected)

    encode, decode = wire.encode, wire.decode
    pencode, pdecode = plain_encode, plain_decode
    msg = FIELDS
    values = VALUES
    data = expected

    def wire_ed(n: int) -> None:
        for _ in range(n):
            decode(encode(msg))

    def wire_e(n: int) -> None:
        for _ in range(n):
            encode(msg)

    def wire_d(n: int) -> None:
        for _ in range(n):
            decode(data)

    def plain_ed(n: int) -> None:
        for _ in range(n):
            pdecode(pencode(values))

    def plain_e(n: int) -> None:
        for _ in range(n):
            pencode(values)

    def plain_d(n: int) -> None:
        for _ in range(n):
            pdecode(data)

    rows: Dict[str, Callable[[int], None]] = {
        "wire.encode_decode": wire_ed, "wire.encode": wire_e, "wire.decode": wire_d,
        "plain.encode_decode": plain_ed, "plain.encode": plain_e, "plain.decode": plain_d,
    }
    layout_cls = getattr(wire, "Layout", None)
    if layout_cls is not None:
        layout = layout_cls(["u32", "i64", "f64", "string", "bool", "u16", "bytes",
                             ("list", "i32")])
        lvalues = [16909060, -1234567890123, wire.f64_from_bits(F64_BITS), STRING, True, 513,
                   BLOB, list(ITEMS)]
        decoded = tuple(layout.decode(expected))
        problems += check("layout", layout.encode(lvalues), decoded, TYPES, expected)
        if problems:
            return rows, problems
        lencode, ldecode = layout.encode, layout.decode

        def layout_ed(n: int) -> None:
            for _ in range(n):
                ldecode(lencode(lvalues))

        def layout_e(n: int) -> None:
            for _ in range(n):
                lencode(lvalues)

        def layout_d(n: int) -> None:
            for _ in range(n):
                ldecode(data)

        rows.update({"layout.encode_decode": layout_ed, "layout.encode": layout_e,
                     "layout.decode": layout_d})
    return rows, problems


SLICE = 0.02  # seconds
# CPU time of this process: on a shared, loaded machine the wall clock also counts the time other
# processes hold the core, which lands on whichever codec happens to be running.
CLOCK = time.process_time


def calibrate(loop: Callable[[int], None], seconds: float) -> int:
    """Iterations for ``loop`` to last about ``seconds`` (the fastest of three tries)."""
    n = 10
    while True:
        took = min(timed(loop, n) for _ in range(3))
        if took >= seconds:
            return max(1, int(n * seconds / took))
        n *= 2


def timed(loop: Callable[[int], None], n: int) -> float:
    start = CLOCK()
    loop(n)
    return CLOCK() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=9.0,
                        help="the time budget of the measured runs, in seconds (default 9; every"
                        " run lasts at least 0.2 s whatever this says)")
    parser.add_argument("--runs", type=int, default=5, help="runs per row (at least 5)")
    args = parser.parse_args()
    runs = max(5, args.runs)

    expected = bytes.fromhex(MESSAGE_HEX.read_text().strip())
    if len(expected) != 92:
        print("codec_python: %s holds %d bytes, expected 92" % (MESSAGE_HEX, len(expected)))
        return 1
    rows, problems = build_rows(expected)
    if problems:
        for problem in problems:
            print("codec_python: FAIL: " + problem)
        return 1
    print("codec_python: every codec produces bench/message.hex and decodes it to its values")

    # A run of an operation lasts >= per_run seconds of wall time per row, made of slices of about
    # SLICE seconds of each row in turn (a burst of load on the shared machine then falls on every
    # codec of a ratio alike); each row's figure is its CPU time over its iterations.
    per_run = max(0.2, args.seconds / (runs * len(rows)))
    counts = {name: calibrate(loop, SLICE) for name, loop in rows.items()}
    times: Dict[str, List[float]] = {name: [] for name in rows}
    ops = sorted({name.split(".", 1)[1] for name in rows})
    slices = 0
    for _ in range(runs):
        for op in ops:
            group = [name for name in rows if name.endswith("." + op)]
            spent = dict.fromkeys(group, 0.0)
            done = 0
            until = time.perf_counter() + per_run * len(group)
            while done < 3 or time.perf_counter() < until:
                for name in group:
                    start = CLOCK()
                    rows[name](counts[name])
                    spent[name] += CLOCK() - start
                done += 1
            slices = max(slices, done)
            for name in group:
                times[name].append(spent[name] / (counts[name] * done) * 1e6)

    print("python %s, %d runs of >= %.2f s per row (up to %d slices of %.2f s of CPU time, in turn"
          " with the other codecs); microseconds of CPU time per operation"
          % (sys.version.split()[0], runs, per_run, slices, SLICE))
    lines = []

    def result(name: str, unit: str, samples: List[float]) -> None:
        lines.append("result python %s %s %.3f %.3f %.3f"
                     % (name, unit, statistics.median(samples), min(samples), max(samples)))

    for name in rows:
        result(name, "us", times[name])
    for codec in ("wire", "layout"):
        for op in ("encode_decode", "encode", "decode"):
            if codec + "." + op not in times:
                continue
            ratios = [w / p for w, p in zip(times[codec + "." + op], times["plain." + op])]
            result(("ratio." if codec == "wire" else "ratio.layout.") + op, "x", ratios)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
