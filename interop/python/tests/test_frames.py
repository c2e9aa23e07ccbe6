# SPDX-License-Identifier: MIT
"""Frame header, whole-frame parsing, the incremental parser and the blocking socket helpers."""

import socket
import threading
import time
import unittest

import support  # noqa: F401  (sets up the import path)

import wire
from wire import Frame, FrameParser, WireError


def header(version=1, flags=0, msg_type=0x0100, length=0):
    return bytes([version, flags]) + msg_type.to_bytes(2, "big") + length.to_bytes(4, "big")


class Header(unittest.TestCase):
    def assert_rejected(self, data, name, offset, max_payload=wire.DEFAULT_MAX_PAYLOAD):
        with self.assertRaises(WireError) as caught:
            wire.decode_header(data, max_payload)
        self.assertEqual((caught.exception.name, caught.exception.offset), (name, offset))

    def test_encode(self):
        self.assertEqual(wire.encode_header(0x0102, 5).hex(), "0100010200000005")
        self.assertEqual(wire.encode_frame(0x8000, b"\x01\x07").hex(), "01008000000000020107")
        for msg_type, length in ((0, 0), (0x10000, 0), (1, 2**32)):
            with self.assertRaises(WireError):
                wire.encode_header(msg_type, length)

    def test_checks_and_their_order(self):
        self.assert_rejected(header(version=2, flags=1, msg_type=0, length=2**32 - 1), "VERSION", 0)
        self.assert_rejected(header(flags=1, msg_type=0, length=2**32 - 1), "HEADER", 1)
        self.assert_rejected(header(msg_type=0, length=2**32 - 1), "HEADER", 2)
        self.assert_rejected(header(length=16777217), "TOOBIG", 4)
        self.assert_rejected(header(length=101), "TOOBIG", 4, max_payload=100)
        self.assertEqual(wire.decode_header(header(length=16777216)), (0x0100, 16777216))
        self.assertEqual(wire.decode_header(header(length=100), 100), (0x0100, 100))

    def test_decode_frame(self):
        self.assertEqual(wire.decode_frame(header(msg_type=3, length=2) + b"ab"), Frame(3, b"ab"))
        with self.assertRaises(WireError) as caught:
            wire.decode_frame(header(length=3) + b"ab")
        self.assertEqual((caught.exception.name, caught.exception.offset), ("TRUNCATED", 10))
        with self.assertRaises(WireError) as caught:
            wire.decode_frame(header(length=1) + b"ab")
        self.assertEqual((caught.exception.name, caught.exception.offset), ("LENGTH", 9))


STREAM_FRAMES = [
    Frame(0x0001, wire.encode_hello()),
    Frame(0x0003, b""),
    Frame(0x0100, bytes(range(256)) * 3),
    Frame(0xFFFF, b"\x01"),
    Frame(0x0005, b""),
]
STREAM = b"".join(wire.encode_frame(f.type, f.payload) for f in STREAM_FRAMES)


def parse_chunks(chunks, max_payload=wire.DEFAULT_MAX_PAYLOAD):
    parser = FrameParser(max_payload)
    frames = []
    for chunk in chunks:
        parser.feed(chunk)
        frames.extend(parser)
    return frames, parser


class IncrementalParser(unittest.TestCase):
    def test_every_split_point(self):
        for cut in range(len(STREAM) + 1):
            frames, parser = parse_chunks([STREAM[:cut], STREAM[cut:]])
            self.assertEqual(frames, STREAM_FRAMES, "split at %d" % cut)
            self.assertEqual(parser.pending, 0)
            parser.finish()

    def test_every_pair_of_split_points_in_the_first_frames(self):
        prefix = len(STREAM) - 780  # the HELLO, PING and the start of the big ECHO
        for first in range(prefix):
            for second in range(first, prefix):
                frames, _ = parse_chunks([STREAM[:first], STREAM[first:second], STREAM[second:]])
                self.assertEqual(frames, STREAM_FRAMES)

    def test_one_byte_at_a_time_yields_each_frame_when_complete(self):
        parser = FrameParser()
        frames = []
        ends = []
        for index in range(len(STREAM)):
            parser.feed(STREAM[index:index + 1])
            for frame in parser:
                frames.append(frame)
                ends.append(index + 1)
        self.assertEqual(frames, STREAM_FRAMES)
        sizes = [wire.HEADER_SIZE + len(f.payload) for f in STREAM_FRAMES]
        self.assertEqual(ends, [sum(sizes[:i + 1]) for i in range(len(sizes))])

    def test_oversize_rejected_once_the_header_is_in(self):
        parser = FrameParser(max_payload=1000)
        parser.feed(header(length=1001)[:7])
        self.assertIsNone(parser.next_frame())
        parser.feed(header(length=1001)[7:])
        with self.assertRaises(WireError) as caught:
            parser.next_frame()
        self.assertEqual((caught.exception.name, caught.exception.offset), ("TOOBIG", 4))
        with self.assertRaises(WireError):  # the parser stays failed
            parser.feed(b"\x00")

    def test_frames_before_a_bad_header_are_delivered_first(self):
        parser = FrameParser()
        parser.feed(STREAM[:8 + len(STREAM_FRAMES[0].payload)] + header(version=7))
        self.assertEqual(parser.next_frame(), STREAM_FRAMES[0])
        with self.assertRaises(WireError) as caught:
            parser.next_frame()
        self.assertEqual(caught.exception.name, "VERSION")

    def test_finish_inside_a_frame_is_truncated(self):
        parser = FrameParser()
        parser.feed(STREAM[:10])
        self.assertEqual(list(parser), [])
        self.assertEqual(parser.pending, 10)
        with self.assertRaises(WireError) as caught:
            parser.finish()
        self.assertEqual(caught.exception.name, "TRUNCATED")  # SPEC 6, 8.5: EOF inside a frame


class Sockets(unittest.TestCase):
    def setUp(self):
        self.left, self.right = socket.socketpair()
        self.addCleanup(self.left.close)
        self.addCleanup(self.right.close)

    def test_send_and_receive(self):
        wire.send_frame(self.left, 0x0100, b"hello")
        wire.send_fields(self.left, 0x0102, [("u8", 1)])
        self.assertEqual(wire.recv_frame(self.right), Frame(0x0100, b"hello"))
        self.assertEqual(wire.recv_frame(self.right), Frame(0x0102, b"\x01\x01"))

    def test_large_frame_with_concurrent_reader(self):
        payload = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold
        sender = threading.Thread(target=wire.send_frame, args=(self.left, 0x0100, payload))
        sender.start()
        self.assertEqual(wire.recv_frame(self.right), Frame(0x0100, payload))
        sender.join()

    def test_eof_at_boundary_is_none(self):
        self.left.close()
        self.assertIsNone(wire.recv_frame(self.right))

    def test_eof_inside_header_or_payload_is_truncated(self):
        for partial in (header(length=4)[:5], header(length=4) + b"ab"):
            left, right = socket.socketpair()
            with left, right:
                left.sendall(partial)
                left.close()
                with self.assertRaises(WireError) as caught:
                    wire.recv_frame(right)
                self.assertEqual(caught.exception.name, "TRUNCATED")
        with self.assertRaises(WireError) as caught:
            self.left.sendall(b"abc")
            self.left.shutdown(socket.SHUT_WR)
            wire.recv_exact(self.right, 4)
        self.assertEqual(caught.exception.name, "TRUNCATED")

    def test_header_checked_before_reading_the_payload(self):
        # No payload follows and the socket stays open: reading it would block until the deadline.
        self.left.sendall(header(length=16777217))
        started = time.monotonic()
        with self.assertRaises(WireError) as caught:
            wire.recv_frame(self.right, deadline=time.monotonic() + 5)
        self.assertEqual((caught.exception.name, caught.exception.offset), ("TOOBIG", 4))
        self.assertLess(time.monotonic() - started, 1)

    def test_deadline_is_timeout(self):
        self.left.sendall(header(length=10))
        with self.assertRaises(WireError) as caught:
            wire.recv_frame(self.right, deadline=time.monotonic() + 0.2)
        self.assertEqual(caught.exception.name, "TIMEOUT")

    def test_close_gracefully_shuts_down_then_drains(self):
        self.left.sendall(b"unread input")
        wire.send_frame(self.right, 0x0002, wire.encode_error(1, 9, "x"))
        closer = threading.Thread(target=wire.close_gracefully, args=(self.right, 5.0))
        closer.start()
        self.assertEqual(wire.recv_frame(self.left, deadline=time.monotonic() + 2).type, 0x0002)
        # EOF arrives while our side is still open: the closer shut down its writing side first.
        self.assertIsNone(wire.recv_frame(self.left, deadline=time.monotonic() + 2))
        self.left.sendall(b"more input to drain")
        self.left.shutdown(socket.SHUT_WR)
        closer.join(5)
        self.assertFalse(closer.is_alive())


class Reader(unittest.TestCase):
    """wire.FrameReader: the buffered receive path of the server and the client."""

    def setUp(self):
        self.left, self.right = socket.socketpair()
        self.addCleanup(self.left.close)
        self.addCleanup(self.right.close)
        self.reader = wire.FrameReader(self.right)

    def deadline(self, seconds=5.0):
        return time.monotonic() + seconds

    def test_coalesced_frames_in_one_write(self):
        self.left.sendall(STREAM)
        self.left.shutdown(socket.SHUT_WR)
        frames = []
        while True:
            frame = self.reader.recv_frame(self.deadline())
            if frame is None:
                break
            frames.append(frame)
        self.assertEqual(frames, STREAM_FRAMES)
        self.assertEqual(self.reader.bytes_in, len(STREAM))

    def test_one_byte_per_write(self):
        def trickle():
            for index in range(len(STREAM)):
                self.left.sendall(STREAM[index:index + 1])
            self.left.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=trickle)
        sender.start()
        self.addCleanup(sender.join)
        frames = [self.reader.recv_frame(self.deadline()) for _ in STREAM_FRAMES]
        self.assertEqual(frames, STREAM_FRAMES)
        self.assertIsNone(self.reader.recv_frame(self.deadline()))

    def test_header_is_judged_before_its_payload_comes(self):
        self.left.sendall(header(msg_type=3, length=1000))  # the payload never comes
        started = time.monotonic()
        self.assertTrue(self.reader.wait_start(self.deadline()))
        self.assertEqual(self.reader.read_header(self.deadline()), (3, 1000))
        self.assertLess(time.monotonic() - started, 1)
        with self.assertRaises(WireError) as caught:
            self.reader.read_payload(1000, time.monotonic() + 0.2)
        self.assertEqual(caught.exception.name, "TIMEOUT")

    def test_header_errors_carry_header_offsets(self):
        self.left.sendall(header(length=101) + b"x" * 50)
        reader = wire.FrameReader(self.right, max_payload=100)
        with self.assertRaises(WireError) as caught:
            reader.read_header(self.deadline())
        self.assertEqual((caught.exception.name, caught.exception.offset), ("TOOBIG", 4))

    def test_eof_inside_a_frame_is_truncated(self):
        self.left.sendall(header(length=4)[:5])
        self.left.shutdown(socket.SHUT_WR)
        self.assertTrue(self.reader.wait_start(self.deadline()))
        with self.assertRaises(WireError) as caught:
            self.reader.read_header(self.deadline())
        self.assertEqual((caught.exception.name, caught.exception.offset), ("TRUNCATED", None))

    def test_idle_wait_times_out(self):
        with self.assertRaises(WireError) as caught:
            self.reader.wait_start(time.monotonic() + 0.1)
        self.assertEqual(caught.exception.name, "TIMEOUT")


if __name__ == "__main__":
    unittest.main()
