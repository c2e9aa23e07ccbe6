# SPDX-License-Identifier: MIT
"""Control message payloads: HELLO, ERROR, PING/PONG, BYE."""

import unittest

import support  # noqa: F401  (sets up the import path)

import wire
from wire import ErrorMessage, Hello, WireError


class Messages(unittest.TestCase):
    def assert_message_error(self, function, fields, offset):
        with self.assertRaises(WireError) as caught:
            function(wire.encode(fields))
        self.assertEqual((caught.exception.name, caught.exception.offset), ("MESSAGE", offset))

    def test_hello(self):
        payload = wire.encode_hello(16777216, "c-client")
        self.assertEqual(payload.hex(), "020001" "0301000000" "4000000008" "632d636c69656e74")
        self.assertEqual(wire.decode_hello(payload), Hello(1, 16777216, "c-client"))

    def test_hello_ignores_extra_fields_rejects_missing_or_mistyped(self):
        self.assertEqual(wire.decode_hello(wire.encode_hello(1037, "x") + b"\x01\x07"),
                         Hello(1, 1037, "x"))
        self.assert_message_error(wire.decode_hello, [("u16", 1), ("u32", 5000)], 8)
        self.assert_message_error(wire.decode_hello, [("u8", 1), ("u32", 5000), ("string", "x")], 0)
        self.assert_message_error(wire.decode_hello, [("u16", 1), ("u32", 5000), ("string", "n" * 256)], 9)
        self.assert_message_error(wire.decode_hello, [("u16", 1), ("u32", 1036), ("string", "n")], 4)
        self.assertEqual(wire.decode_hello(wire.encode_hello(1037, "n" * 255)).name, "n" * 255)
        for max_payload, name in ((1037, "é" * 128), (1036, "x")):  # 256 bytes of UTF-8; too small
            with self.assertRaises(WireError) as caught:
                wire.encode_hello(max_payload, name)
            self.assertEqual(caught.exception.name, "RANGE")

    def test_hello_version_is_judged_first_and_alone(self):
        # version 2 with a name too long and no max_payload at all: only the version is judged
        with self.assertRaises(WireError) as caught:
            wire.decode_hello(wire.encode([("u16", 2), ("string", "n" * 300)]))
        self.assertEqual((caught.exception.name, caught.exception.offset), ("VERSION", 1))

    def test_hello_codec_errors_keep_payload_offsets(self):
        with self.assertRaises(WireError) as caught:
            wire.decode_hello(bytes.fromhex("020001 0300000005 4000000001 c0"))
        self.assertEqual((caught.exception.name, caught.exception.offset), ("UTF8", 13))

    def test_error(self):
        payload = wire.encode_error(wire.ErrorCode.BADTAG, 8, "unknown type tag")
        self.assertEqual(payload.hex(), "020002030000000840000000" "10" + b"unknown type tag".hex())
        self.assertEqual(wire.decode_error(payload), ErrorMessage(2, 8, "unknown type tag"))
        none = wire.encode_error(wire.ErrorCode.VERSION, None, "v")
        self.assertEqual(none[4:8], b"\xff\xff\xff\xff")
        self.assertEqual(wire.decode_error(none).offset, None)
        self.assert_message_error(wire.decode_error, [("u16", 1), ("string", "x")], 3)

    def test_error_text_over_the_limit_is_refused_or_clipped(self):
        self.assertEqual(wire.decode_error(wire.encode_error(1, 0, "x" * 1024)).message, "x" * 1024)
        with self.assertRaises(WireError) as caught:
            wire.encode_error(1, 0, "é" * 513)  # 1026 bytes
        self.assertEqual(caught.exception.name, "RANGE")
        self.assertEqual(wire.clip_error_text("é" * 600), "é" * 512)  # cut at a character boundary
        self.assertEqual(wire.clip_error_text("x" * 5000), "x" * 1024)
        self.assertEqual(wire.clip_error_text("short"), "short")

    def test_ping_pong_and_bye(self):
        self.assertEqual(wire.pong_payload(bytearray(b"\x01\x02")), b"\x01\x02")
        wire.decode_bye(b"")
        wire.decode_bye(b"\x01\x07")
        with self.assertRaises(WireError):
            wire.decode_bye(b"\x00")

    def test_message_type_numbers(self):
        self.assertEqual([int(t) for t in wire.MsgType], [1, 2, 3, 4, 5] + list(range(0x100, 0x10A)))


if __name__ == "__main__":
    unittest.main()
