# SPDX-License-Identifier: MIT
"""Codec tests beyond the shared vectors: encoder range checks, f32, UTF-8, decoder rules."""

import random
import struct
import unittest

import support  # noqa: F401  (sets up the import path)

import wire
from wire import F32, ErrorCode, ListValue, WireError


def nested_groups(levels, innermost=b""):
    """Payload of ``levels`` groups each holding the next (the innermost holds ``innermost``)."""
    data = innermost
    for _ in range(levels):
        data = b"\x51" + struct.pack(">I", len(data)) + data
    return data


class EncodeRange(unittest.TestCase):
    def assert_code(self, code, fields):
        with self.assertRaises(WireError) as caught:
            wire.encode(fields)
        self.assertEqual(caught.exception.code, code, str(caught.exception))
        return caught.exception

    def test_out_of_range_values_are_range_errors(self):
        cases = [("u8", 256), ("i8", -129), ("u64", 2**64), ("u64", -1), ("bool", 2),
                 ("f32", 1e39), ("string", "a\ud800b"), ("u16", 65536), ("i64", 2**63),
                 ("i64", -2**63 - 1), ("u32", -1), ("f64", 10**400), ("f32", -1e39)]
        for field in cases:
            with self.subTest(field=field):
                self.assert_code(ErrorCode.RANGE, [field])

    def test_limits_are_accepted_never_masked(self):
        fields = [("u8", 255), ("i8", -128), ("i8", 127), ("u64", 2**64 - 1), ("i64", -2**63),
                  ("u16", 0), ("f32", 3.4028234663852886e38)]
        self.assertEqual(wire.encode(fields).hex(),
                         "01ff" "1180" "117f" "04ffffffffffffffff" "148000000000000000"
                         "020000" "237f7fffff")

    def test_wrong_python_types_are_inval(self):
        for field in [("u8", True), ("u8", 1.0), ("string", b"x"), ("bytes", "x"), ("f64", "1"),
                      ("list", [1, 2]), ("group", 5), ("u9", 1), ("bool", None)]:
            with self.subTest(field=field):
                self.assert_code(ErrorCode.INVAL, [field])
        self.assert_code(ErrorCode.INVAL, [("u8",)])
        self.assert_code(ErrorCode.INVAL, "u8:1")

    def test_range_error_in_list_reports_the_path(self):
        error = self.assert_code(ErrorCode.RANGE, [
            ("u8", 1), ("group", [("list", ListValue("u8", [1, 2, 256]))])])
        self.assertEqual(error.path, (1, 0, 2))
        self.assertIn("1.0.2", str(error))
        self.assert_code(ErrorCode.RANGE, [("list", ListValue("bool", [True, 2]))])
        self.assert_code(ErrorCode.RANGE, [("list", ListValue("f32", [1.0, 1e39]))])
        self.assert_code(ErrorCode.RANGE, [("list", ListValue("string", ["\udfff"]))])

    def test_encoder_refuses_depth_33(self):
        value = []
        for _ in range(32):
            value = [("group", value)]
        self.assertEqual(wire.encode(value), nested_groups(32))
        self.assert_code(ErrorCode.DEPTH, [("group", value)])
        lists = ListValue("u8", [])
        for _ in range(32):
            lists = ListValue("list", [lists])
        self.assert_code(ErrorCode.DEPTH, [("list", lists)])

    def test_group_length_is_patched_after_nested_content(self):
        fields = [("group", [("string", "é"), ("group", [("u8", 1)])]), ("u8", 2)]
        self.assertEqual(wire.encode(fields).hex(), "510000000e" "4000000002c3a9" "51000000020101" "0102")

    def test_accepted_conveniences(self):
        self.assertEqual(wire.encode([("f64", 2), ("f32", 1.5), ("bytes", bytearray(b"\x01"))]).hex(),
                         "244000000000000000" "233fc00000" "410000000101")
        self.assertEqual(wire.encode_value("u16", 258), b"\x01\x02")
        self.assertEqual(wire.encode(iter([("u8", 1)])), b"\x01\x01")


class Float32(unittest.TestCase):
    def test_nan_payload_round_trip(self):
        for bits in (0x7F800001, 0xFF812345, 0x7FC00001):
            with self.subTest(bits=hex(bits)):
                data = wire.encode([("f32", F32(bits))])
                self.assertEqual(data.hex(), "23%08x" % bits)
                self.assertEqual(wire.decode(data), [("f32", F32(bits))])

    def test_from_float_rounds_to_nearest(self):
        self.assertEqual(F32.from_float(1.5).bits, 0x3FC00000)
        self.assertEqual(F32.from_float(0.1).bits, 0x3DCCCCCD)
        self.assertEqual(F32.from_float(-0.0).bits, 0x80000000)
        self.assertEqual(F32.from_float(float("inf")).bits, 0x7F800000)
        self.assertEqual(F32.from_float(1e-46).bits, 0)
        self.assertEqual(F32.from_float(3.4028235e38).bits, 0x7F7FFFFF)

    def test_from_float_too_large_is_range(self):
        # FLT_MAX + half an ulp is a tie that rounds to even, i.e. to infinity: out of range.
        for value in (1e39, -1e39, 3.4028235677973366e38):
            with self.subTest(value=value), self.assertRaises(WireError) as caught:
                F32.from_float(value)
            self.assertEqual(caught.exception.name, "RANGE")

    def test_bits_must_be_u32(self):
        for bits in (-1, 2**32, 1.0):
            with self.subTest(bits=bits), self.assertRaises(WireError):
                F32(bits)

    def test_equality_is_by_bits(self):
        self.assertNotEqual(F32(0x80000000), F32(0))
        self.assertEqual(F32(0x7FC00001), F32(0x7FC00001))
        self.assertEqual(float(F32(0x3FC00000)), 1.5)

    def test_f64_nan_payload_survives(self):
        value = wire.f64_from_bits(0x7FF0000000000001)
        data = wire.encode([("f64", value)])
        self.assertEqual(data.hex(), "247ff0000000000001")
        self.assertEqual(wire.f64_bits(wire.decode(data)[0][1]), 0x7FF0000000000001)


class Utf8Validator(unittest.TestCase):
    CASES = [
        ("", None), ("41", None), ("c280", None), ("dfbf", None), ("e0a080", None), ("ed9fbf", None),
        ("ee8080", None), ("efbfbf", None), ("f0908080", None), ("f48fbfbf", None), ("00", None),
        ("c0af", 0), ("c1bf", 0), ("c2", 0), ("80", 0), ("bf", 0), ("4180", 1), ("e09fbf", 0),
        ("eda080", 0), ("edbfbf", 0), ("f08fbfbf", 0), ("f4908080", 0), ("f5808080", 0), ("ff", 0),
        ("fe", 0), ("e180", 0), ("41e18041", 1), ("e28241", 0), ("f09f9841", 0), ("f1808080c3", 4),
        ("c3a9c3", 2), ("c3a9eda080", 2), ("c3c3a9", 0), ("f09f98", 0),
    ]

    def test_table_3_7(self):
        for text, offset in self.CASES:
            with self.subTest(data=text):
                self.assertEqual(wire.utf8_error_offset(bytes.fromhex(text)), offset)

    def test_agrees_with_strict_utf8_on_random_input(self):
        rng = random.Random(1234)
        pool = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for _ in range(20000):
            data = bytes(rng.choice(pool) for _ in range(rng.randrange(7)))
            try:
                data.decode("utf-8")
                valid = True
            except UnicodeDecodeError:
                valid = False
            self.assertEqual(wire.utf8_error_offset(data) is None, valid, data.hex())

    def test_decoder_offsets_are_absolute(self):
        # list:string [ "a", "\x80" ]: the stray byte sits at payload offset 15.
        with self.assertRaises(WireError) as caught:
            wire.decode(bytes.fromhex("5040000000020000000161000000018041"))
        self.assertEqual((caught.exception.name, caught.exception.offset), ("UTF8", 15))


class DecodeRules(unittest.TestCase):
    def assert_error(self, hex_text, name, offset):
        with self.assertRaises(WireError) as caught:
            wire.decode(bytes.fromhex(hex_text))
        self.assertEqual((caught.exception.name, caught.exception.offset), (name, offset),
                         str(caught.exception))

    def test_first_problem_at_smallest_wrong_element(self):
        self.assert_error("0105 02 00", "TRUNCATED", 3)
        self.assert_error("30 01 30 02 00", "BADBOOL", 3)
        self.assert_error("50 30 00000003 01 00 07", "BADBOOL", 8)
        self.assert_error("50 01 00000002 01", "LENGTH", 2)
        self.assert_error("50 07", "BADTAG", 1)
        self.assert_error("50 07 0000", "BADTAG", 1)
        self.assert_error("50 01 0000", "TRUNCATED", 2)
        self.assert_error("51 00000003 01 05 00", "BADTAG", 7)

    def test_group_bounds_bytes_left(self):
        # The string's length word says 1, the payload has that byte, but the group ended.
        self.assert_error("51 00000005 40 00000001 61", "LENGTH", 6)
        self.assert_error("51 00000002 02 05 06", "TRUNCATED", 6)

    def test_huge_count_rejected_before_allocation(self):
        self.assert_error("50 04 ffffffff" + "00" * 16, "LENGTH", 2)
        self.assert_error("50 51 ffffffff" + "00" * 16, "LENGTH", 2)
        self.assert_error("50 50 33333334 0100000000", "LENGTH", 2)

    def test_depth_32_ok_33_rejected_at_the_container(self):
        self.assertEqual(len(wire.decode(nested_groups(32))), 1)
        self.assert_error(nested_groups(33).hex(), "DEPTH", 160)
        # The depth check precedes the header checks: a bare tag at depth 33 is DEPTH too.
        self.assert_error(nested_groups(32, b"\x50").hex(), "DEPTH", 160)
        lists = "50" + "5000000001" * 31
        self.assertEqual(len(wire.decode(bytes.fromhex(lists + "0100000000"))), 1)
        self.assert_error(lists + "5000000001" + "0100000000", "DEPTH", 161)
        # A depth-32 list of groups with one element: the element's first length byte.
        self.assert_error(lists + "5100000001" + "00000000", "DEPTH", 161)

    def test_decoded_types_are_the_model(self):
        fields = wire.decode(bytes.fromhex(
            "0101 2300000001 243ff8000000000000 3001 4000000001 61 4100000001ff"
            " 500100000001 07 505000000000 5100000000"))
        self.assertEqual([type(v).__name__ for _, v in fields],
                         ["int", "F32", "float", "bool", "str", "bytes", "ListValue", "ListValue", "list"])
        self.assertEqual(fields[6][1], ListValue("u8", [7]))
        self.assertEqual(fields[7][1], ListValue("list", []))

    def test_accepts_bytearray_and_memoryview(self):
        data = bytearray(b"\x01\x05")
        self.assertEqual(wire.decode(data), [("u8", 5)])
        self.assertEqual(wire.decode(memoryview(data)), [("u8", 5)])


if __name__ == "__main__":
    unittest.main()
