# SPDX-License-Identifier: MIT
"""Every case of proto/vectors.txt, one generated test per case.

ok:    encode == hex, decode == values (floats by bits), re-encode == hex.
err:   decode fails with exactly that code and offset.
frame: header accepted, payload decodes to the fields, encoding the frame gives the hex.
ferr:  rejected from the 8-byte header alone with exactly that code and offset.
"""

import unittest

import support

import vectors
import wire

CASES = vectors.load_vectors(support.VECTORS_FILE)


class VectorFile(unittest.TestCase):
    def test_has_every_kind(self):
        kinds = {case.kind for case in CASES}
        self.assertEqual(kinds, {"ok", "err", "frame", "ferr"})


class OkVectors(unittest.TestCase):
    def check_ok(self, case):
        self.assertEqual(wire.encode(case.fields).hex(), case.data.hex(), "encode")
        decoded = wire.decode(case.data)
        self.assertIsNone(vectors.first_mismatch(case.fields, decoded), "decode")
        self.assertEqual(wire.encode(decoded).hex(), case.data.hex(), "re-encode")


class ErrVectors(unittest.TestCase):
    def check_err(self, case):
        with self.assertRaises(wire.WireError) as caught:
            wire.decode(case.data)
        self.assertEqual((caught.exception.name, caught.exception.offset),
                         (wire.error_name(case.code), case.offset), str(caught.exception))


class FrameVectors(unittest.TestCase):
    def check_frame(self, case):
        msg_type, length = wire.decode_header(case.data[:wire.HEADER_SIZE])
        self.assertEqual((msg_type, length), (case.msg_type, len(case.data) - wire.HEADER_SIZE))
        frame = wire.decode_frame(case.data)
        self.assertIsNone(vectors.first_mismatch(case.fields, wire.decode(frame.payload)))
        self.assertEqual(wire.encode_frame(case.msg_type, wire.encode(case.fields)).hex(), case.data.hex())
        parser = wire.FrameParser()
        parser.feed(case.data)
        self.assertEqual(list(parser), [frame])
        self.assertEqual(parser.pending, 0)


class FerrVectors(unittest.TestCase):
    def check_ferr(self, case):
        want = (wire.error_name(case.code), case.offset)
        with self.assertRaises(wire.WireError) as caught:
            wire.decode_header(case.data[:wire.HEADER_SIZE])
        self.assertEqual((caught.exception.name, caught.exception.offset), want)
        # The incremental parser rejects it from the header alone too.
        parser = wire.FrameParser()
        parser.feed(case.data[:wire.HEADER_SIZE])
        with self.assertRaises(wire.WireError) as caught:
            parser.next_frame()
        self.assertEqual((caught.exception.name, caught.exception.offset), want)


def _install():
    classes = {"ok": OkVectors, "err": ErrVectors, "frame": FrameVectors, "ferr": FerrVectors}
    for case in CASES:
        cls = classes[case.kind]
        check = getattr(cls, "check_" + case.kind)
        method = (lambda check, case: lambda self: check(self, case))(check, case)
        method.__doc__ = "%s %s (vectors.txt line %d)" % (case.kind, case.name, case.line)
        setattr(cls, support.test_name(case.name), method)


_install()

if __name__ == "__main__":
    unittest.main()
