# SPDX-License-Identifier: MIT
"""The message type table and the limits in wire.py are proto/messages.txt and proto/limits.txt
(the error table is checked by test_errors.py)."""

import unittest

import support

import server
import wire

LIMIT_NAMES = ("header_size", "max_depth", "default_max_payload", "min_max_payload",
               "hello_name_max", "error_text_max", "no_offset", "udp_max_datagram", "udp_max_payload")


def data_lines(name):
    lines = (support.PROTO_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.split(" ") for line in lines if line and not line.startswith("#")]


class MessageTable(unittest.TestCase):
    def test_types_equal_messages_txt(self):
        rows = [(int(words[0], 16), words[1]) for words in data_lines("messages.txt")]
        self.assertGreaterEqual(len(rows), 15)
        self.assertEqual([(int(t), t.name) for t in wire.MsgType], rows)

    def test_server_serves_the_client_requests(self):
        # sent by the client only: the interop requests (SPEC 10); PING and BYE are "both"
        requests = {int(words[0], 16) for words in data_lines("messages.txt") if words[2] == "client"}
        self.assertEqual(set(server.SERVED), requests)


class Limits(unittest.TestCase):
    def test_limits_equal_limits_txt(self):
        rows = {words[0]: int(words[1]) for words in data_lines("limits.txt")}
        self.assertEqual(sorted(rows), sorted(LIMIT_NAMES))
        self.assertEqual({name: getattr(wire, name.upper()) for name in LIMIT_NAMES}, rows)


if __name__ == "__main__":
    unittest.main()
