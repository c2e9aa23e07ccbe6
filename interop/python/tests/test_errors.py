# SPDX-License-Identifier: MIT
"""The error table in wire.py is the one in proto/errors.txt."""

import unittest

import support

import wire


def read_errors_file():
    rows = []
    for line in support.ERRORS_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, where, message = line.split(" ", 3)
        rows.append((int(code), name, where, message))
    return rows


class ErrorTable(unittest.TestCase):
    def test_table_equals_errors_txt(self):
        rows = read_errors_file()
        self.assertGreater(len(rows), 0)
        ours = [(e.code, e.name, "wire" if e.on_wire else "local", e.message) for e in wire.ERROR_TABLE]
        self.assertEqual(ours, rows)

    def test_enum_equals_errors_txt(self):
        self.assertEqual([(int(c), c.name) for c in wire.ErrorCode],
                         [(code, name) for code, name, _, _ in read_errors_file()])

    def test_wire_error_attributes(self):
        error = wire.WireError(wire.ErrorCode.UTF8, 5, "bad lead byte")
        self.assertEqual((error.code, error.name, error.offset), (5, "UTF8", 5))
        self.assertIsInstance(error.code, int)
        self.assertEqual(str(error), "UTF8 at offset 5: bad lead byte")
        self.assertEqual(str(wire.WireError(wire.ErrorCode.CLOSED)), "CLOSED: connection closed by peer")
        self.assertEqual(wire.WireError(300).name, "APP300")

    def test_shifted_counts_the_header(self):
        moved = wire.WireError(wire.ErrorCode.BADTAG, 3).shifted(8)
        self.assertEqual((moved.name, moved.offset), ("BADTAG", 11))
        self.assertIsNone(wire.WireError(wire.ErrorCode.MESSAGE).shifted(8).offset)


if __name__ == "__main__":
    unittest.main()
