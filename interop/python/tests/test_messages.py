"""Control message payloads: HELLO, ERROR, PING/PONG, BYE."""

import unittest

import support  # noqa: F401  (sets up the import path)

import wire
from wire import ErrorMessage, Hello, WireError


class Messages(unittest.TestCase):
    def assert_message_error(self, function, fields):
        with self.assertRaises(WireError) as caught:
            function(wire.encode(fields))
        self.assertEqual(caught.exception.name, "MESSAGE")

    def test_hello(self):
        payload = wire.encode_hello(16777216, "c-client")
        self.assertEqual(payload.hex(), "020001" "0301000000" "4000000008" "632d636c69656e74")
        self.assertEqual(wire.decode_hello(payload), Hello(1, 16777216, "c-client"))

    def test_hello_ignores_extra_fields_rejects_missing_or_mistyped(self):
        self.assertEqual(wire.decode_hello(wire.encode_hello(5, "x") + b"\x01\x07"), Hello(1, 5, "x"))
        self.assert_message_error(wire.decode_hello, [("u16", 1), ("u32", 5)])
        self.assert_message_error(wire.decode_hello, [("u8", 1), ("u32", 5), ("string", "x")])
        self.assert_message_error(wire.decode_hello, [("u16", 1), ("u32", 5), ("string", "n" * 256)])
        self.assertEqual(wire.decode_hello(wire.encode_hello(1, "n" * 255)).name, "n" * 255)
        with self.assertRaises(WireError) as caught:
            wire.encode_hello(1, "é" * 128)
        self.assertEqual(caught.exception.name, "RANGE")

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
        self.assert_message_error(wire.decode_error, [("u16", 1), ("string", "x")])

    def test_error_text_cut_at_a_character_boundary(self):
        message = wire.decode_error(wire.encode_error(1, 0, "é" * 600)).message
        self.assertEqual(message, "é" * 512)
        self.assertEqual(len(wire.decode_error(wire.encode_error(1, 0, "x" * 5000)).message), 1024)

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
