# SPDX-License-Identifier: MIT
"""The codec's fast paths (issue 11) against the reference code they stand in for.

``wire.encode`` / ``wire.decode`` try table-driven fast paths first and hand anything unusual to
the reference encoder and decoder (``wire._exact_encode`` / ``wire._exact_decode``), and
``wire.Layout`` decodes and encodes a fixed list of types. Whatever the input, the outcome must
be the reference's: the same fields (floats compared by bits), or the same WireError (code, offset,
detail, path), or the same other exception. Inputs: every payload and field list of proto/ and
thousands of deterministic mutations of them (byte flips, truncations, insertions; values of the
wrong type or out of range)."""

import math
import random
import struct
import unittest
from typing import Any, List

import support

import vectors
import wire
from wire import F32, ListValue, WireError


def canonical(value: Any) -> Any:
    """A comparable form of a decoded value: floats by bits (NaN payloads, -0.0), the Python type
    of every scalar kept (True is not 1)."""
    if isinstance(value, float):
        return ("float", wire.f64_bits(value))
    if isinstance(value, ListValue):
        return (type(value).__name__, value.elem, [canonical(item) for item in value.items],
                getattr(value, "count", None))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [canonical(item) for item in value])
    return (type(value).__name__, value)


def outcome(function, argument):
    try:
        return "ok", canonical(function(argument))
    except WireError as exc:
        return "WireError", exc.code, exc.offset, exc.detail, exc.path
    except Exception as exc:  # noqa: BLE001  (the same foreign exception, e.g. a struct.error)
        return type(exc).__name__, str(exc)


def payloads() -> List[bytes]:
    """Every payload of proto/: vectors.txt's hex, the encodings of vectors.txt's and stats.txt's
    field lists and of control.txt's cases that have fields."""
    found = []
    for case in vectors.load_vectors(support.VECTORS_FILE):
        found.append(case.data)
        if case.fields:
            found.append(wire._exact_encode(case.fields))
    for case in vectors.load_stats(support.STATS_FILE):
        found += [wire._exact_encode(case.request), wire._exact_encode(case.reply)]
    for case in vectors.load_control(support.PROTO_DIR / "control.txt"):
        if case.data:
            found.append(case.data)
    found.append(bytes.fromhex((support.PROTO_DIR.parent / "bench" / "message.hex").read_text()))
    return found


def mutations(data: bytes, rng: random.Random, count: int) -> List[bytes]:
    """``count`` deterministic mutations of ``data``: bytes set to interesting or random values,
    truncations, inserted bytes; plus, for a short payload, every truncation and every byte set
    to two values."""
    found = []
    if len(data) <= 64:  # every truncation, and every byte set to 2 (a bad bool) and to 0xc0
        found += [data[:cut] for cut in range(len(data))]
        found += [data[:spot] + bytes([byte]) + data[spot + 1:]
                  for spot in range(len(data)) for byte in (0x02, 0xc0)]
    for _ in range(count):
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            if not out:
                break
            spot = rng.randrange(len(out))
            choice = rng.random()
            if choice < 0.55:
                out[spot] = rng.choice((0x00, 0x01, 0x02, 0x13, 0x23, 0x24, 0x30, 0x40, 0x41, 0x50,
                                        0x51, 0x7f, 0x80, 0xc0, 0xed, 0xf4, 0xff, rng.randrange(256)))
            elif choice < 0.65:
                out[spot] ^= 1 << rng.randrange(8)
            elif choice < 0.85:
                del out[spot:]
            else:
                out[spot:spot] = bytes([rng.choice((0x00, 0x01, 0x30, 0x50, 0x51, 0xc3))])
        found.append(bytes(out))
    return found


WRONG_VALUES = [True, False, 0, 1, -1, 255, 256, 2**31, 2**32, 2**63, 2**64, -2**63 - 1, 1.5,
                float("nan"), 1e39, "x", "a\ud800b", b"x", bytearray(b"x"), None, F32(1), [], (),
                ListValue("u8", [1]), ListValue("f64", [1]), ListValue("i32", (1, 2)),
                ListValue("nope", []), [("u8", 1)], (("u8", 1),), [["u8", 1]], [("u8", 1, 2)]]


def field_mutations(fields: List[Any], rng: random.Random, count: int) -> List[Any]:
    """``count`` deterministic variants of a field list: a value, an element or a type name
    replaced by something of another type or out of range, a pair that is not a pair."""
    found = []
    for _ in range(count):
        mutated = list(fields)
        if not mutated:
            mutated = [("u8", 1)]
        spot = rng.randrange(len(mutated))
        type_name, value = mutated[spot]
        choice = rng.random()
        if choice < 0.6:
            mutated[spot] = (type_name, rng.choice(WRONG_VALUES))
        elif choice < 0.75:
            mutated[spot] = (rng.choice(sorted(wire.TYPE_TAGS) + ["nope", 3]), value)
        elif choice < 0.85 and isinstance(value, ListValue) and value.items:
            items = list(value.items)
            items[rng.randrange(len(items))] = rng.choice(WRONG_VALUES)
            mutated[spot] = (type_name, ListValue(value.elem, items))
        elif choice < 0.9:
            mutated[spot] = rng.choice([[type_name, value], (type_name,), "ab", (type_name, value, 1)])
        else:
            mutated[spot] = ("group", [(type_name, value)])
        found.append(mutated)
    return found


def nested(levels: int, innermost: Any) -> Any:
    """``levels`` groups, each holding the next, around the fields ``innermost``."""
    fields = innermost
    for _ in range(levels):
        fields = [("group", fields)]
    return fields


class FastPathsAgree(unittest.TestCase):
    MUTATIONS = 12  # per payload: about 7,000 payloads in all

    def assert_decode_agrees(self, data: bytes) -> None:
        self.assertEqual(outcome(wire.decode, data), outcome(wire._exact_decode, data), data.hex())

    def assert_encode_agrees(self, fields: Any) -> None:
        expected = outcome(wire._exact_encode, fields)
        self.assertEqual(outcome(wire.encode, fields), expected, repr(fields))

        def into(value):
            out = bytearray(b"kept")
            wire.encode_into(out, value)
            return bytes(out)

        got = outcome(into, fields)
        if expected[0] == "ok":
            expected = ("ok", ("bytes", b"kept" + expected[1][1]))
        self.assertEqual(got, expected, repr(fields))

    def test_decode_of_every_payload_and_its_mutations(self):
        rng = random.Random(11)
        checked = 0
        for data in payloads():
            for candidate in [data] + mutations(data, rng, self.MUTATIONS):
                self.assert_decode_agrees(candidate)
                self.assert_decode_agrees(bytearray(candidate))
                checked += 1
        self.assertGreater(checked, 5000)

    def test_decode_edges(self):
        lists = [b"\x50" + bytes([tag]) + struct.pack(">I", count) + bytes(count * size + extra)
                 for tag, size in ((0x01, 1), (0x12, 2), (0x13, 4), (0x24, 8), (0x23, 4), (0x30, 1))
                 for count in (0, 1, 64, 65, 1000) for extra in (0, 1)]
        cases = lists + [l[:-1] for l in lists] + [
            b"\x50\x13\xff\xff\xff\xff", b"\x50\x13\x00\x00\x00\x01", b"\x40\x00\x00\x00\x02\xc3\xa9",
            b"\x40\x00\x00\x00\x02\xc3\x28", b"\x40\x00\x00\x00\x03\xed\xa0\x80", b"\x30\x02",
            b"\x51" + struct.pack(">I", 5) + b"\x40\x00\x00\x00\x01\x80"[:5],
            b"\x23\x7f\x80\x00\x01", b"\x24" + struct.pack(">d", math.inf)]
        for levels in (31, 32, 33):
            for inner in (b"", b"\x50\x01\x00\x00\x00\x00", b"\x51\x00\x00\x00\x00", b"\x01\x07"):
                cases.append(_wrap(levels, inner))
        for data in cases:
            self.assert_decode_agrees(data)

    def test_encode_of_every_field_list_and_its_mutations(self):
        rng = random.Random(12)
        lists = [case.fields for case in vectors.load_vectors(support.VECTORS_FILE) if case.fields]
        for case in vectors.load_stats(support.STATS_FILE):
            lists += [case.request, case.reply]
        checked = 0
        for fields in lists:
            for candidate in [fields, tuple(fields)] + field_mutations(fields, rng, 25):
                self.assert_encode_agrees(candidate)
                checked += 1
        self.assertGreater(checked, 3000)

    def test_encode_edges(self):
        big = ListValue("u8", list(range(200)))
        for fields in ([], (), "ab", b"ab", None, 5, [("u8", 1)],
                       [("list", big)], [("list", ListValue("f64", [1.0, 2]))],
                       [("list", ListValue("string", ["a", "b"]))], [("bytes", memoryview(b"ab"))],
                       [("f64", 2**1024)], [("f32", F32(0x7f800001))], [("string", "é" * 300)],
                       nested(31, [("list", ListValue("u8", [1]))]),
                       nested(32, [("list", ListValue("u8", [1]))]), nested(33, [("u8", 1)]),
                       nested(32, []), [("group", "ab")]):
            self.assert_encode_agrees(fields)
        # Iterators are consumed: each encoder gets its own.
        for make in (lambda: iter([("u8", 1)]), lambda: [("group", iter([("u8", 1)]))],
                     lambda: (field for field in [("u8", 1), ("bool", 2)])):
            self.assertEqual(outcome(wire.encode, make()), outcome(wire._exact_encode, make()))


NUMBERS = ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f64")
REPRESENTATIVE = wire.Layout(["u32", "i64", "f64", "string", "bool", "u16", "bytes", ("list", "i32")])


def layout_of(fields: List[Any]):
    """The Layout of a field list, None if it holds a field a Layout cannot (groups, lists of
    other elements than numbers)."""
    types = []
    for type_name, value in fields:
        if type_name == "group" or (type_name == "list" and value.elem not in NUMBERS):
            return None
        types.append(("list", value.elem) if type_name == "list" else type_name)
    return wire.Layout(types)


def layout_reference(layout, data: bytes) -> List[Any]:
    """What Layout.decode must do, written out plainly: the reference decoder's errors, then
    TYPE at the first field that is not the layout's."""
    fields, starts = wire.decode_with_offsets(data)
    for index, kind in enumerate(layout.types):
        if index >= len(fields):
            raise WireError(wire.ErrorCode.TYPE, len(data))
        name, value = fields[index]
        if name != (kind[0] if isinstance(kind, tuple) else kind):
            raise WireError(wire.ErrorCode.TYPE, starts[index])
        if isinstance(kind, tuple) and value.elem != kind[1]:
            raise WireError(wire.ErrorCode.TYPE, starts[index] + 1)
    if len(fields) > len(layout.types):
        raise WireError(wire.ErrorCode.TYPE, starts[len(layout.types)])
    return [value.items if isinstance(value, ListValue) else value for _, value in fields]


def layout_values(fields: List[Any]) -> List[Any]:
    return [value.items if isinstance(value, ListValue) else value for _, value in fields]


class LayoutAgrees(unittest.TestCase):
    def assert_decode_agrees(self, layout, data: bytes) -> None:
        got = outcome(layout.decode, data)
        expected = outcome(lambda b: layout_reference(layout, b), data)
        if expected[0] == "WireError" and expected[1] != wire.ErrorCode.TYPE:
            self.assertEqual(got, expected, data.hex())  # the codec's error: detail too
        else:
            self.assertEqual(got[:3], expected[:3], data.hex())

    def assert_encode_agrees(self, layout, values: Any) -> None:
        try:
            fields = layout.fields(values)
        except WireError as exc:
            expected: Any = ("WireError", exc.code, exc.offset, exc.detail, exc.path)
        else:
            expected = outcome(wire._exact_encode, fields)
        self.assertEqual(outcome(layout.encode, values), expected, repr(values))

    def cases(self):
        found = []
        for case in vectors.load_vectors(support.VECTORS_FILE):
            if case.kind == "ok" and case.fields:
                layout = layout_of(case.fields)
                if layout is not None:
                    found.append((layout, case.data, layout_values(case.fields)))
        found.append((REPRESENTATIVE, wire.encode(REPRESENTATIVE.fields(
            [16909060, -1234567890123, 21.5, "sensor-kitchen-1", True, 513, bytes(16), [1, -2, 3, -4]])),
            [16909060, -1234567890123, 21.5, "sensor-kitchen-1", True, 513, bytes(16), [1, -2, 3, -4]]))
        self.assertGreater(len(found), 40)
        return found

    def test_decode_of_every_payload_and_its_mutations(self):
        rng = random.Random(13)
        others = [data for _, data, _ in self.cases()]
        for layout, data, _ in self.cases():
            for candidate in [data] + mutations(data, rng, 30) + rng.sample(others, 5):
                self.assert_decode_agrees(layout, candidate)
                self.assert_decode_agrees(REPRESENTATIVE, candidate)
            self.assertEqual(canonical(layout.decode(bytearray(data))), canonical(layout.decode(data)))

    def test_encode_of_every_value_list_and_its_mutations(self):
        rng = random.Random(14)
        for layout, data, values in self.cases():
            self.assertEqual(layout.encode(values), data)
            self.assertEqual(layout.encode(tuple(values)), data)
            for _ in range(30):
                mutated = list(values)
                spot = rng.randrange(len(mutated))
                if isinstance(mutated[spot], list) and mutated[spot] and rng.random() < 0.5:
                    items = list(mutated[spot])
                    items[rng.randrange(len(items))] = rng.choice(WRONG_VALUES)
                    mutated[spot] = items
                else:
                    mutated[spot] = rng.choice(WRONG_VALUES + [tuple(range(3))])
                self.assert_encode_agrees(layout, mutated)
            for wrong in (values[:-1], values + [1], "ab", None, 5, {}):
                self.assert_encode_agrees(layout, wrong)
                self.assertRaises(WireError, layout.encode, wrong)

    def test_every_type_and_two_lists_of_one_count(self):
        types = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64", "bool",
                 "string", "bytes"] + [("list", elem) for elem in NUMBERS]
        layout = wire.Layout(types)
        values = [255, 65535, 2**32 - 1, 2**64 - 1, -128, -32768, -2**31, -2**63, F32(0x7fc00001),
                  -0.0, False, "é\U0001f600", b"\x00\xff"] + [
                      [1.5, -2.0] if elem == "f64" else [1, 2] for elem in NUMBERS]
        data = wire.encode(layout.fields(values))
        self.assertEqual(layout.encode(values), data)
        self.assertEqual(canonical(layout.decode(data)), canonical(values))
        rng = random.Random(15)
        for candidate in mutations(data, rng, 2000):
            self.assert_decode_agrees(layout, candidate)

    def test_types_a_layout_cannot_hold(self):
        for types in (["group"], [("list", "string")], [("list", "bool")], ["nope"], [("x", "u8")],
                      ["list"]):
            with self.assertRaises(WireError) as caught:
                wire.Layout(types)
            self.assertEqual(caught.exception.name, "INVAL")


def _wrap(levels: int, inner: bytes) -> bytes:
    data = inner
    for _ in range(levels):
        data = b"\x51" + struct.pack(">I", len(data)) + data
    return data


if __name__ == "__main__":
    unittest.main()
