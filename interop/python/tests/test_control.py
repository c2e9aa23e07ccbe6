# SPDX-License-Identifier: MIT
"""Every case of proto/control.txt (proto/README.md section 9): the HELLO and ERROR codec of
SPEC 7.2 - 7.4, one generated test per case.

hello, error:          encoding the fields gives the hex; decoding the hex gives the fields.
hello-decode, ...:     decoding the hex gives the fields (extra trailing fields are ignored).
hello-err, error-err:  decoding fails with that code at that payload offset.
hello-range, ...:      the encoder refuses the fields with RANGE.
"""

import unittest

import support

import vectors
import wire
from wire import ErrorMessage, Hello, WireError

CONTROL_FILE = support.PROTO_DIR / "control.txt"
CASES = vectors.load_control(CONTROL_FILE)
# The file held this many cases when this test was written: fewer means it was cut short.
EXPECTED_CASES = 42


def values(case):
    return [value for _, value in case.fields]


def encode(case):
    first, second, third = values(case)
    if case.message == "hello":
        return wire.encode_hello(second, third, version=first)
    return wire.encode_error(first, None if second == wire.NO_OFFSET else second, third)


def decode(message, data):
    return (wire.decode_hello if message == "hello" else wire.decode_error)(data)


def expected_value(case):
    first, second, third = values(case)
    if case.message == "hello":
        return Hello(first, second, third)
    return ErrorMessage(first, None if second == wire.NO_OFFSET else second, third)


class ControlFile(unittest.TestCase):
    def test_is_whole(self):
        self.assertGreaterEqual(len(CASES), EXPECTED_CASES)
        self.assertEqual({case.kind for case in CASES}, set(vectors.CONTROL_KINDS))


class ControlCases(unittest.TestCase):
    def check_round_trip(self, case):
        self.assertEqual(encode(case).hex(), case.data.hex(), "encode")
        self.assertEqual(decode(case.message, case.data), expected_value(case), "decode")

    def check_decode(self, case):
        self.assertEqual(decode(case.message, case.data), expected_value(case))

    def check_err(self, case):
        with self.assertRaises(WireError) as caught:
            decode(case.message, case.data)
        self.assertEqual((caught.exception.name, caught.exception.offset),
                         (wire.error_name(case.code), case.offset), str(caught.exception))

    def check_range(self, case):
        with self.assertRaises(WireError) as caught:
            encode(case)
        self.assertEqual(caught.exception.name, "RANGE", str(caught.exception))


def _install():
    checks = {"": ControlCases.check_round_trip, "-decode": ControlCases.check_decode,
              "-err": ControlCases.check_err, "-range": ControlCases.check_range}
    for case in CASES:
        check = checks[case.kind[len(case.message):]]
        method = (lambda check, case: lambda self: check(self, case))(check, case)
        method.__doc__ = "%s %s (control.txt line %d)" % (case.kind, case.name, case.line)
        setattr(ControlCases, support.test_name(case.kind + "." + case.name), method)


_install()

if __name__ == "__main__":
    unittest.main()
