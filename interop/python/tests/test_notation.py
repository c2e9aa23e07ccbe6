# SPDX-License-Identifier: MIT
"""The proto/ value notation: parser, formatter, comparison and file loaders."""

import unittest

import support  # noqa: F401  (sets up the import path)

import vectors
import wire
from vectors import Mismatch, NotationError
from wire import F32, ListValue


class Parse(unittest.TestCase):
    def test_examples_from_spec_10_7(self):
        self.assertEqual(vectors.parse_fields("list:u8 [ u8:1 u8:2 ]"), [("list", ListValue("u8", [1, 2]))])
        self.assertEqual(vectors.parse_fields("list:list [ list:u8 [ ] list:u8 [ u8:7 ] ]"),
                         [("list", ListValue("list", [ListValue("u8", []), ListValue("u8", [7])]))])
        self.assertEqual(vectors.parse_fields("list:group [ group { } ]"),
                         [("list", ListValue("group", [[]]))])
        self.assertEqual(vectors.parse_fields("list:string [ string:61 ]"),
                         [("list", ListValue("string", ["a"]))])
        self.assertEqual(vectors.parse_fields("bytes:ab*300 string: bytes:"),
                         [("bytes", b"\xab" * 300), ("string", ""), ("bytes", b"")])
        self.assertEqual(vectors.parse_fields(""), [])

    def test_scalars(self):
        fields = vectors.parse_fields("u64:18446744073709551615 i8:-128 f32:0x7f800001 "
                                      "f64:0x7ff0000000000001 bool:true bool:false string:e282ac")
        self.assertEqual(fields[:3], [("u64", 2**64 - 1), ("i8", -128), ("f32", F32(0x7F800001))])
        self.assertEqual(wire.f64_bits(fields[3][1]), 0x7FF0000000000001)
        self.assertEqual(fields[4:], [("bool", True), ("bool", False), ("string", "€")])

    def test_rejects_bad_tokens(self):
        for text in ["u8:256", "u8:-1", "i8:-129", "u8:01", "i8:-0", "i8:+1", "u8:", "f32:0x1234",
                     "f32:0X7F800000", "f32:0x7F800000", "f64:0x00", "bool:yes", "string:c0",
                     "string:4", "bytes:abc", "bytes:AB", "bytes:ab*01", "list:u8 [ u16:1 ]",
                     "group {", "group { ]", "list:u9 [ ]", "list:u8 u8:1 ]", "u8", "x:1",
                     "group", "}"]:
            with self.subTest(text=text), self.assertRaises(NotationError):
                vectors.parse_fields(text)

    def test_hex_column(self):
        self.assertEqual(vectors.parse_hex("40 0000012c 616263*100"),
                         bytes.fromhex("400000012c") + b"abc" * 100)
        self.assertEqual(vectors.parse_hex("00*0 01"), b"\x01")
        self.assertEqual(vectors.parse_hex(""), b"")
        for bad in ("0", "*3", "ab*", "AB", "ab*-1"):
            with self.subTest(token=bad), self.assertRaises(NotationError):
                vectors.parse_hex(bad)


class Format(unittest.TestCase):
    TEXT = ("u8:200 i64:-72623859790382856 f32:0xff812345 f64:0x8000000000000000 bool:true "
            "string:7769726520e282ac bytes:00ff list:u16 [ u16:1 u16:258 ] group { u8:1 group { } } "
            "list:group [ group { i8:-1 } ] list:list [ list:u8 [ ] ] list:f64 [ ] string: bytes:")

    def test_format_is_the_canonical_text(self):
        self.assertEqual(vectors.format_fields(vectors.parse_fields(self.TEXT)), self.TEXT)

    def test_every_ok_vector_formats_back_to_equal_values(self):
        for case in vectors.load_vectors(support.VECTORS_FILE):
            if case.kind == "ok":
                again = vectors.parse_fields(vectors.format_fields(case.fields))
                self.assertIsNone(vectors.first_mismatch(case.fields, again), case.name)

    def test_single_items(self):
        self.assertEqual(vectors.format_field("u32", 16909060), "u32:16909060")
        self.assertEqual(vectors.format_field("f32", F32(1)), "f32:0x00000001")
        self.assertEqual(vectors.format_field("f64", -0.0), "f64:0x8000000000000000")
        self.assertEqual(vectors.format_field("list", ListValue("u8", [])), "list:u8 [ ]")
        self.assertEqual(vectors.format_field("group", []), "group { }")


class Compare(unittest.TestCase):
    def fields(self, text):
        return vectors.parse_fields(text)

    def test_equal(self):
        self.assertIsNone(vectors.first_mismatch(self.fields(Format.TEXT), self.fields(Format.TEXT)))

    def test_scalar_mismatch(self):
        self.assertEqual(vectors.first_mismatch(self.fields("u8:1 u32:16909060"), self.fields("u8:1 u32:67305985")),
                         Mismatch("1", "u32:16909060", "u32:67305985"))

    def test_floats_by_bits(self):
        self.assertEqual(vectors.first_mismatch(self.fields("f64:0x0000000000000000"),
                                                self.fields("f64:0x8000000000000000")),
                         Mismatch("0", "f64:0x0000000000000000", "f64:0x8000000000000000"))
        nan = self.fields("f64:0x7ff8000000000001 f32:0x7fc00001")
        self.assertIsNone(vectors.first_mismatch(nan, self.fields("f64:0x7ff8000000000001 f32:0x7fc00001")))
        self.assertIsNotNone(vectors.first_mismatch(nan, self.fields("f64:0x7ff8000000000002 f32:0x7fc00001")))
        self.assertIsNotNone(vectors.first_mismatch(nan, self.fields("f64:0x7ff8000000000001 f32:0x7fc00002")))

    def test_nested_path(self):
        expected = self.fields("u8:1 u8:2 list:group [ group { u8:0 u8:0 u8:0 u8:0 u8:0 u8:5 } ]")
        got = self.fields("u8:1 u8:2 list:group [ group { u8:0 u8:0 u8:0 u8:0 u8:0 u8:6 } ]")
        self.assertEqual(vectors.first_mismatch(expected, got), Mismatch("2.0.5", "u8:5", "u8:6"))

    def test_type_and_element_type_mismatch_show_the_whole_item(self):
        self.assertEqual(vectors.first_mismatch(self.fields("u8:1"), self.fields("i8:1")),
                         Mismatch("0", "u8:1", "i8:1"))
        self.assertEqual(vectors.first_mismatch(self.fields("list:u8 [ ]"), self.fields("list:i8 [ ]")),
                         Mismatch("0", "list:u8 [ ]", "list:i8 [ ]"))
        self.assertEqual(vectors.first_mismatch(self.fields("bool:true"), self.fields("u8:1")),
                         Mismatch("0", "bool:true", "u8:1"))

    def test_missing_and_extra(self):
        self.assertEqual(vectors.first_mismatch(self.fields("u8:1 u8:2"), self.fields("u8:1")),
                         Mismatch("1", "u8:2", "(missing)"))
        self.assertEqual(vectors.first_mismatch(self.fields("u8:1"), self.fields("u8:1 string:61")),
                         Mismatch("1", "(none)", "string:61"))
        self.assertEqual(vectors.first_mismatch(self.fields("list:u8 [ u8:1 ]"), self.fields("list:u8 [ ]")),
                         Mismatch("0.0", "u8:1", "(missing)"))


class Files(unittest.TestCase):
    def test_parse_every_kind(self):
        cases = vectors.parse_vectors(
            "# comment\n\nok a.b | u8:1 | 01 01\nerr c | UTF8 5 | 40 00000001 ff\n"
            "frame d | 0x0003 | 01 00 0003 00000000\nferr e | TOOBIG 4 | 01 00 0100 01000001\n"
            "ok empty |  |\n")
        self.assertEqual([(c.kind, c.name, c.line) for c in cases],
                         [("ok", "a.b", 3), ("err", "c", 4), ("frame", "d", 5), ("ferr", "e", 6),
                          ("ok", "empty", 7)])
        self.assertEqual((cases[0].fields, cases[0].data), ([("u8", 1)], b"\x01\x01"))
        self.assertEqual((cases[1].code, cases[1].offset), (wire.ErrorCode.UTF8, 5))
        self.assertEqual((cases[2].msg_type, cases[2].fields), (3, []))
        self.assertEqual((cases[4].fields, cases[4].data), ([], b""))

    def test_bad_lines_fail_loudly(self):
        for text in ["ok a | u8:1\n", "okay a | u8:1 | 01 01\n", "ok A | u8:1 | 0101\n",
                     "ok a | u8:1 | 0101\nok a | u8:1 | 0101\n", "err a | NOPE 1 | 00\n",
                     "err a | UTF8 | 00\n", "frame a | 3 | 00\n", "ok a | u8:1 | 0g\n"]:
            with self.subTest(text=text), self.assertRaises(NotationError):
                vectors.parse_vectors(text)

    def test_stats_lines(self):
        cases = vectors.parse_stats("stats s | list:i64 [ ] list:f64 [ ] bytes: | u32:0\n")
        self.assertEqual((cases[0].name, cases[0].reply), ("s", [("u32", 0)]))
        with self.assertRaises(NotationError):
            vectors.parse_stats("ok s | u8:1 | 0101\n")


if __name__ == "__main__":
    unittest.main()
