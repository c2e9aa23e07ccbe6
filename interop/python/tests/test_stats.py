# SPDX-License-Identifier: MIT
"""STATS: every proto/stats.txt case computed by the server's implementation, plus edge cases."""

import math
import unittest

import support

import server
import vectors
import wire

CASES = vectors.load_stats(support.STATS_FILE)


def stats_of(ints, floats, data=b""):
    return server.compute_stats(ints, floats, data)


class StatsFile(unittest.TestCase):
    def check(self, case):
        shape = [(t, getattr(v, "elem", None)) for t, v in case.request]
        self.assertEqual(shape, [("list", "i64"), ("list", "f64"), ("bytes", None)])
        ints, floats, data = (value for _, value in case.request)
        got = stats_of(ints.items, floats.items, data)
        self.assertIsNone(vectors.first_mismatch(case.reply, got))
        # The reply also goes through the codec unchanged.
        self.assertIsNone(vectors.first_mismatch(case.reply, wire.decode(wire.encode(got))))

    def test_file_has_cases(self):
        self.assertGreaterEqual(len(CASES), 8)


for _case in CASES:
    setattr(StatsFile, support.test_name(_case.name),
            (lambda case: lambda self: self.check(case))(_case))


class StatsRules(unittest.TestCase):
    def test_empty_lists(self):
        self.assertEqual(stats_of([], []), [
            ("i64", 0), ("i64", 2**63 - 1), ("i64", -2**63), ("f64", 0.0),
            ("f64", math.inf), ("f64", -math.inf), ("u32", 0)])

    def test_crc_check_value(self):
        self.assertEqual(stats_of([], [], b"123456789")[6], ("u32", 0xCBF43926))

    def test_i64_sum_wraps(self):
        self.assertEqual(stats_of([2**63 - 1, 1], [])[0], ("i64", -2**63))
        self.assertEqual(stats_of([-2**63, -1], [])[0], ("i64", 2**63 - 1))

    def test_f64_sum_is_sequential_not_compensated(self):
        # (1e16 + 1.0) + 1.0 rounds twice to 1e16; an exact or compensated sum would give 1e16 + 2.
        total = stats_of([], [1e16, 1.0, 1.0])[3][1]
        self.assertEqual(wire.f64_bits(total), wire.f64_bits(1e16))

    def test_nan_never_min_or_max_and_first_zero_kept(self):
        nan = float("nan")
        fields = stats_of([], [nan, -0.0, 0.0, nan])
        self.assertTrue(math.isnan(fields[3][1]))
        self.assertEqual(wire.f64_bits(fields[4][1]), wire.f64_bits(-0.0))
        self.assertEqual(wire.f64_bits(fields[5][1]), wire.f64_bits(-0.0))
        self.assertEqual(wire.f64_bits(stats_of([], [-0.0])[3][1]), wire.f64_bits(0.0))


if __name__ == "__main__":
    unittest.main()
