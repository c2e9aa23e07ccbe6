# SPDX-License-Identifier: MIT
"""The UDP datagram profile (SPEC 15): the datagram codec of wire.py, every case of proto/udp.txt
against server.py --udp, truncation detection, the client's retries, and client.py --udp against
server.py --udp through a relay that drops, duplicates and delays datagrams."""

import concurrent.futures
import heapq
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
from typing import Dict, List, NamedTuple, Optional, Tuple

import support

import client
import server
import sessions
import vectors
import wire
from wire import ErrorCode, MsgType, WireError

UDP_FILE = support.PROTO_DIR / "udp.txt"
# The file held this many cases when this test was written: fewer means it was cut short.
EXPECTED_CASES = 44
ANSWER_SECONDS = 10.0  # a bound on an answer that must come (loopback; a loaded machine)
NONE_SECONDS = 1.0  # how long "nothing comes back" is watched (proto/README.md section 10)
CLIENT_SECONDS = 300  # the whole exchange through the lossy relay: about 12 s when it works
PING_CHECK = bytes.fromhex("01000003000000020a0b")  # the PING that shows the server still serves


class UdpCase(NamedTuple):
    name: str
    line: int
    datagram: bytes
    kind: str  # reply, error or none
    frame: bytes  # reply: the frame expected after the id
    code: int  # error: the code and frame offset expected (None: no offset)
    offset: Optional[int]


def parse_udp(text: str) -> List[UdpCase]:
    """The cases of a udp.txt text (proto/README.md sections 1 and 10)."""
    cases = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        parts = [part.strip(" ") for part in line.split("|")]
        if len(parts) != 3 or not parts[0].startswith("udp "):
            raise ValueError("udp.txt line %d: not a case: %r" % (lineno, line))
        name = parts[0][4:]
        words = parts[2].split(" ")
        data = vectors.parse_hex(parts[1])
        if words[0] == "reply":
            cases.append(UdpCase(name, lineno, data, "reply", vectors.parse_hex(words[1:]), 0, None))
        elif words[0] == "error" and len(words) == 3:
            offset = int(words[2])
            cases.append(UdpCase(name, lineno, data, "error", b"", ErrorCode[words[1]],
                                 None if offset == wire.NO_OFFSET else offset))
        elif words == ["none"]:
            cases.append(UdpCase(name, lineno, data, "none", b"", 0, None))
        else:
            raise ValueError("udp.txt line %d: bad expectation %r" % (lineno, parts[2]))
    return cases


def describe(data: bytes) -> str:
    try:
        datagram = wire.decode_datagram(data, wire.U32_MAX)
    except WireError as exc:
        return "a bad datagram (%s): %s" % (exc, data[:24].hex())
    if datagram.type == MsgType.ERROR:
        try:
            error = wire.decode_error(datagram.payload)
        except WireError as exc:
            return "id %d, a malformed ERROR (%s)" % (datagram.request_id, exc)
        return "id %d, ERROR %s at %s" % (datagram.request_id, wire.error_name(error.code),
                                          "none" if error.offset is None else error.offset)
    return "id %d, type 0x%04x, %d payload bytes" % (datagram.request_id, datagram.type,
                                                      len(datagram.payload))


def receive(sock: socket.socket, seconds: float) -> Optional[bytes]:
    sock.settimeout(seconds)
    try:
        return wire.recv_datagram(sock)[0]
    except socket.timeout:
        return None


def run_udp_case(case: UdpCase, port: int, host: str = "127.0.0.1",
                 answer_seconds: float = ANSWER_SECONDS) -> Optional[str]:
    """Why the server at host:port does not answer ``case`` as udp.txt says (None: it does). From a
    fresh socket; afterwards the server must still answer a PING with another id, and nothing
    else may come first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.send(case.datagram)
        got = receive(sock, NONE_SECONDS if case.kind == "none" else answer_seconds)
        if case.kind == "none":
            if got is not None:
                return "expected nothing, got %s" % describe(got)
        elif got is None:
            return "no answer within %g s" % answer_seconds
        elif got[:4] != case.datagram[:4]:
            return "the answer carries id %s, the request %s" % (got[:4].hex(), case.datagram[:4].hex())
        elif case.kind == "reply" and got[4:] != case.frame:
            return "expected the frame %s, got %s" % (case.frame[:40].hex(), describe(got))
        elif case.kind == "error":
            try:
                datagram = wire.decode_datagram(got, wire.UDP_MAX_PAYLOAD)
                error = wire.decode_error(datagram.payload)
            except WireError as exc:
                return "expected an ERROR, got %s (%s)" % (describe(got), exc)
            if datagram.type != MsgType.ERROR or (error.code, error.offset) != (case.code, case.offset):
                return "expected ERROR %s at %s, got %s" % (
                    wire.error_name(case.code), "none" if case.offset is None else case.offset,
                    describe(got))
        check_id = (int.from_bytes(case.datagram[:4].rjust(4, b"\0"), "big") + 1) & wire.U32_MAX
        sock.send(check_id.to_bytes(4, "big") + PING_CHECK)
        got = receive(sock, ANSWER_SECONDS)
        if got != check_id.to_bytes(4, "big") + b"\x01\x00\x00\x04" + PING_CHECK[4:]:
            return "then, instead of the PONG to a PING: %s" % ("nothing" if got is None
                                                               else describe(got))
    return None


class DatagramCodec(unittest.TestCase):
    def test_spec_15_2_ping_example(self):
        data = wire.encode_datagram(1, MsgType.PING, bytes(range(1, 9)))
        self.assertEqual(data.hex(), "00000001" "01000003" "00000008" "0102030405060708")
        self.assertEqual(wire.decode_datagram(data), (1, MsgType.PING, bytes(range(1, 9))))

    def test_ids_are_any_u32(self):
        for request_id in (0, 1, 0x01020304, wire.U32_MAX):
            data = wire.encode_datagram(request_id, MsgType.ECHO, b"ab")
            self.assertEqual(data[:4], request_id.to_bytes(4, "big"))
            self.assertEqual(wire.datagram_id(data), request_id)
            self.assertEqual(wire.decode_datagram(data).request_id, request_id)
        for bad in (-1, wire.U32_MAX + 1, True, 1.0):
            with self.assertRaises(WireError) as raised:
                wire.encode_datagram(bad, MsgType.ECHO, b"")
            self.assertEqual(raised.exception.code, ErrorCode.RANGE)

    def test_the_largest_payload_fits_one_byte_more_does_not(self):
        largest = wire.encode_datagram(7, MsgType.ECHO, b"z" * wire.UDP_MAX_PAYLOAD)
        self.assertEqual(len(largest), wire.UDP_MAX_DATAGRAM)
        self.assertEqual(len(wire.decode_datagram(largest).payload), wire.UDP_MAX_PAYLOAD)
        with self.assertRaises(WireError) as raised:
            wire.encode_datagram(7, MsgType.ECHO, b"z" * (wire.UDP_MAX_PAYLOAD + 1))
        self.assertEqual((raised.exception.code, raised.exception.offset), (ErrorCode.TOOBIG, None))

    def test_steps_of_15_3_in_order(self):
        # (datagram, code, frame offset); None: fewer than 4 bytes, nothing to answer
        table = [
            ("", ErrorCode.TRUNCATED, None),
            ("000001", ErrorCode.TRUNCATED, None),
            ("00000015", ErrorCode.TRUNCATED, 0),
            ("000000150100000300", ErrorCode.TRUNCATED, 0),
            ("0000001601000003000000", ErrorCode.TRUNCATED, 0),
            ("00000017020000030000000578", ErrorCode.VERSION, 0),
            ("000000180180000300000000", ErrorCode.HEADER, 1),
            ("000000190100000000000000", ErrorCode.HEADER, 2),
            ("0000001a010001000000ffd8", ErrorCode.TOOBIG, 4),
            ("0000001b01000100ffffffff", ErrorCode.TOOBIG, 4),
            ("0000001c0100010000000005616263", ErrorCode.LENGTH, 4),
            ("0000001d010001000000000261626364", ErrorCode.LENGTH, 4),
            ("0000001e010000030000000000", ErrorCode.LENGTH, 4),
        ]
        for hex_text, code, offset in table:
            with self.subTest(datagram=hex_text):
                data = bytes.fromhex(hex_text)
                with self.assertRaises(WireError) as raised:
                    wire.decode_datagram(data)
                self.assertEqual((raised.exception.code, raised.exception.offset), (code, offset))
                self.assertEqual(wire.datagram_id(data) is None, offset is None and len(data) < 4)

    def test_the_header_alone(self):
        self.assertEqual(wire.decode_datagram_header(bytes.fromhex("0000003101000002000000140200")),
                         (0x31, MsgType.ERROR, 0x14))
        with self.assertRaises(WireError) as raised:
            wire.decode_datagram_header(bytes.fromhex("0000001a010001000000ffd8"))
        self.assertEqual((raised.exception.code, raised.exception.offset), (ErrorCode.TOOBIG, 4))

    def test_max_payload_is_capped_by_the_datagram(self):
        header = bytes.fromhex("00000001 01000100") + (2000).to_bytes(4, "big")
        with self.assertRaises(WireError) as raised:
            wire.decode_datagram(header + b"x" * 2000, 1999)
        self.assertEqual((raised.exception.code, raised.exception.offset), (ErrorCode.TOOBIG, 4))
        self.assertEqual(len(wire.decode_datagram(header + b"x" * 2000, 2000).payload), 2000)
        # a larger max payload (an unbounded receiver) still stops at 65495
        big = bytes.fromhex("00000001 01000100") + (wire.UDP_MAX_PAYLOAD + 1).to_bytes(4, "big")
        with self.assertRaises(WireError) as raised:
            wire.decode_datagram(big, wire.U32_MAX)
        self.assertEqual(raised.exception.code, ErrorCode.TOOBIG)

    def test_limits(self):
        self.assertEqual(wire.UDP_MAX_DATAGRAM, 65535 - 20 - 8)
        self.assertEqual(wire.UDP_MAX_PAYLOAD, wire.UDP_MAX_DATAGRAM - 4 - wire.HEADER_SIZE)
        self.assertEqual(wire.UDP_RECV_SIZE, 65508)


class Truncation(unittest.TestCase):
    """SPEC 15.4: a datagram larger than the receive buffer is cut, and must be seen as cut."""

    def pair(self, family: int, host: str) -> Tuple[socket.socket, socket.socket]:
        receiver = socket.socket(family, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        receiver.bind((host, 0))
        receiver.settimeout(ANSWER_SECONDS)
        sender = socket.socket(family, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.connect(receiver.getsockname())
        return sender, receiver

    def test_a_small_buffer_cuts_and_says_so(self):
        sender, receiver = self.pair(socket.AF_INET, "127.0.0.1")
        whole = wire.encode_datagram(31, MsgType.ECHO, b"Z" * 3000)
        sender.send(whole)
        data, _source, truncated = wire.recv_datagram(receiver, 1024)
        self.assertTrue(truncated)
        self.assertEqual(data, whole[:1024])
        with self.assertRaises(WireError) as raised:  # judged on what arrived, never as whole
            wire.decode_datagram(data)
        self.assertEqual((raised.exception.code, raised.exception.offset), (ErrorCode.LENGTH, 4))
        # and a datagram that fits is not reported cut, even when it fills the buffer exactly
        sender.send(whole[:1024])
        self.assertFalse(wire.recv_datagram(receiver, 1024)[2])
        sender.send(whole)
        data, _source, truncated = wire.recv_datagram(receiver)
        self.assertEqual((data, truncated), (whole, False))

    def test_a_datagram_over_the_largest_fills_the_default_buffer(self):
        # Only IPv6 can carry more than 65507 bytes of UDP data (65527): over it a datagram one
        # byte too large fills the 65508-byte buffer and is reported, and MSG_TRUNC beyond that.
        # (The largest IPv6 one: 65535 - 8.)
        try:
            sender, receiver = self.pair(socket.AF_INET6, "::1")
        except OSError as exc:
            self.skipTest("no IPv6 loopback: %s" % exc)
        for size in (wire.UDP_RECV_SIZE, 65535 - 8):
            with self.subTest(size=size):
                sender.send(b"\0\0\0\x01" + wire.encode_header(MsgType.ECHO, 100) + b"Q" * (size - 12))
                data, _source, truncated = wire.recv_datagram(receiver)
                self.assertTrue(truncated)
                self.assertEqual(len(data), wire.UDP_RECV_SIZE)
                with self.assertRaises(WireError) as raised:
                    wire.decode_datagram(data)
                self.assertEqual(raised.exception.code, ErrorCode.LENGTH)


class UdpCases(unittest.TestCase):
    """Every case of proto/udp.txt against server.py --udp, started as for sessions.txt."""

    @classmethod
    def setUpClass(cls):
        cls.cases = parse_udp(UDP_FILE.read_text(encoding="ascii"))
        config = sessions.load_sessions(support.PROTO_DIR / "sessions.txt").config
        cls.server = support.ServerProcess(*config, "--udp")

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def test_file_is_whole(self):
        self.assertGreaterEqual(len(self.cases), EXPECTED_CASES)
        self.assertEqual(len({case.name for case in self.cases}), len(self.cases))
        self.assertEqual({case.kind for case in self.cases}, {"reply", "error", "none"})

    def test_every_case(self):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = {case.name: pool.submit(run_udp_case, case, self.server.port)
                       for case in self.cases}
        for case in self.cases:
            with self.subTest(case=case.name):
                why = results[case.name].result()
                self.assertIsNone(why, "udp.txt line %d (%s): %s" % (case.line, case.name, why))

    def test_tcp_is_served_beside_udp_on_the_same_port(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=ANSWER_SECONDS) as sock:
            wire.send_frame(sock, MsgType.HELLO, wire.encode_hello(wire.DEFAULT_MAX_PAYLOAD, "t"))
            self.assertEqual(wire.recv_frame(sock, deadline=time.monotonic() + ANSWER_SECONDS).type,
                             MsgType.HELLO)

    def test_runner_reports_wrong_answers(self):
        # the runner itself must fail a case whose expectation the server does not meet
        wrong = parse_udp(
            "udp reply-frame | 0000000101000003000000010a | reply 01000004000000010b\n"
            "udp error-code | 0000001c0100010000000005616263 | error TRUNCATED 4\n"
            "udp error-offset | 0000001c0100010000000005616263 | error LENGTH 5\n"
            "udp error-not-reply | 0000000101000003000000010a | error LENGTH 4\n"
            "udp none-answered | 000000290100000500000000 | none\n"
            "udp answered-none | 000001 | reply 0100000400000000\n")
        for case in wrong:
            with self.subTest(case=case.name):
                # (a short wait: the answer that must come is known not to)
                self.assertIsNotNone(run_udp_case(case, self.server.port, answer_seconds=1.0))

    def test_parser_refuses_malformed_lines(self):
        for text in ("udp a | 00 |\n", "udp a | 00 | maybe\n", "udp a | 00 | error NOPE 1\n",
                     "vector a | 00 | none\n", "udp a | zz | none\n"):
            with self.subTest(text=text):
                with self.assertRaises((ValueError, KeyError)):
                    parse_udp(text)


class ServiceWithoutSockets(unittest.TestCase):
    """UdpService.answer on its own: the same answers as over TCP, with the request's id."""

    @classmethod
    def setUpClass(cls):
        ok = {case.name: case.fields for case in vectors.load_vectors(support.VECTORS_FILE)
              if case.kind == "ok"}
        cls.server = server.InteropServer("127.0.0.1", 0, ok, max_payload=2000)
        cls.service = server.UdpService(cls.server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM))

    @classmethod
    def tearDownClass(cls):
        cls.service.sock.close()
        cls.server.close()

    def test_max_payload_is_the_smaller_of_the_two(self):
        self.assertEqual(self.service.max_payload, 2000)
        answer = self.service.answer(wire.encode_datagram(5, MsgType.ECHO, b"e" * 2001))
        error = wire.decode_error(wire.decode_datagram(answer).payload)
        self.assertEqual((error.code, error.offset), (ErrorCode.TOOBIG, 4))
        answer = self.service.answer(wire.encode_datagram(6, MsgType.ECHO, b"e" * 2000))
        self.assertEqual(wire.decode_datagram(answer), (6, MsgType.ECHO_REPLY, b"e" * 2000))

    def test_the_tcp_only_types_are_unexpected(self):
        for msg_type in (MsgType.HELLO, MsgType.BYE, MsgType.PONG, MsgType.STATS_REPLY, 0x0006,
                         0x01FF, 0x0200, 0x8000, 0xFFFF):
            with self.subTest(msg_type=msg_type):
                answer = self.service.answer(wire.encode_datagram(9, msg_type, b""))
                datagram = wire.decode_datagram(answer)
                error = wire.decode_error(datagram.payload)
                self.assertEqual((datagram.request_id, datagram.type, error.code, error.offset),
                                 (9, MsgType.ERROR, ErrorCode.UNEXPECTED, 2))

    def test_errors_are_never_answered(self):
        for payload in (b"", b"\xff", wire.encode_error(ErrorCode.LENGTH, 4, "x")):
            data = wire.encode_datagram(9, MsgType.ERROR, payload)
            self.assertIsNone(self.service.answer(data))
            # not even when the size disagrees with the header (SPEC 15.3 step 4 before step 5)
            for wrong in (data[:-1], data + b"!"):
                if len(wrong) >= 12:
                    self.assertIsNone(self.service.answer(wrong))
                    with self.assertRaises(WireError):
                        wire.decode_datagram(wrong)
        # but the header checks come first: an ERROR with bad flags is answered HEADER 1
        answer = self.service.answer(bytes.fromhex("00000009 01800002 00000000"))
        error = wire.decode_error(wire.decode_datagram(answer).payload)
        self.assertEqual((error.code, error.offset), (ErrorCode.HEADER, 1))


class Server(unittest.TestCase):
    def test_help_documents_udp(self):
        out = subprocess.run([sys.executable, support.SERVER, "--help"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0)
        self.assertIn("--udp", out.stdout)

    def test_sigterm_stops_tcp_and_udp(self):
        srv = support.ServerProcess("--udp")
        try:
            case = UdpCase("ping", 0, bytes.fromhex("0000000101000003000000010a"), "reply",
                           bytes.fromhex("01000004000000010a"), 0, None)
            self.assertIsNone(run_udp_case(case, srv.port))
        except BaseException:
            srv.kill()
            raise
        self.addCleanup(srv.kill)
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(ANSWER_SECONDS + 10), 0)
        self.assertRegex(srv.log_text(), r"udp: 2 datagrams in \(0 truncated\), 2 answered")

    def test_a_taken_udp_port_is_an_error(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", 0))
            port = taken.getsockname()[1]
            out = subprocess.run([sys.executable, support.SERVER, "--udp", "--port", str(port)],
                                 capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2)
        self.assertIn("cannot listen", out.stderr)

    def test_without_udp_nothing_listens_on_udp(self):
        srv = support.ServerProcess()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(("127.0.0.1", srv.port))
                sock.send(bytes.fromhex("0000000101000003000000010a"))
                sock.settimeout(ANSWER_SECONDS)
                with self.assertRaises(ConnectionRefusedError):
                    sock.recv(100)
        finally:
            srv.stop()


class Relay:
    """A lossy relay on loopback, in a thread: datagrams from the client go to the target, the
    answers back, and on the way, in both directions, a fixed pattern of datagrams is dropped,
    sent twice, or held back long enough that the client retries first (so its later datagrams
    overtake them). A pattern rather than chance: a request can never be lost 8 times in a row,
    so the test cannot fail by bad luck; yet every kind of trouble happens, many times."""

    # Every n-th datagram of a direction, the three at different offsets: about 3 %, 6 % and 3 %
    # (each loss costs the client a 0.1 s timeout: more would only make the test slower).
    DROP, DUPLICATE, DELAY = 29, 17, 31
    HOLD_SECONDS = 0.15  # longer than the client's first timeout (0.1 s)

    def __init__(self, target_port: int) -> None:
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect(("127.0.0.1", target_port))
        self.port = self.front.getsockname()[1]
        self.client: Optional[Tuple[str, int]] = None
        self.counts: Dict[str, int] = {"in": 0, "dropped": 0, "duplicated": 0, "delayed": 0}
        self.seen = {"up": 0, "down": 0}
        self.held: List[Tuple[float, int, str, bytes]] = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def forward(self, direction: str, data: bytes) -> None:
        self.seen[direction] += 1
        self.counts["in"] += 1
        n = self.seen[direction]
        if n % self.DROP == 3:
            self.counts["dropped"] += 1
            return
        if n % self.DELAY == 5:
            self.counts["delayed"] += 1
            heapq.heappush(self.held, (time.monotonic() + self.HOLD_SECONDS, n, direction, data))
            return
        copies = 2 if n % self.DUPLICATE == 1 else 1
        self.counts["duplicated"] += copies - 1
        for _ in range(copies):
            self.send(direction, data)

    def send(self, direction: str, data: bytes) -> None:
        if direction == "up":
            self.back.send(data)
        elif self.client is not None:
            self.front.sendto(data, self.client)

    def run(self) -> None:
        while self.running:
            wait = 0.05 if not self.held else max(0.0, min(0.05, self.held[0][0] - time.monotonic()))
            ready, _, _ = select.select([self.front, self.back], [], [], wait)
            for sock in ready:
                try:
                    data, source = sock.recvfrom(wire.UDP_RECV_SIZE)
                except OSError:
                    continue
                if sock is self.front:
                    self.client = source
                    self.forward("up", data)
                else:
                    self.forward("down", data)
            while self.held and self.held[0][0] <= time.monotonic():
                _, _, direction, data = heapq.heappop(self.held)
                self.send(direction, data)

    def stop(self) -> None:
        self.running = False
        self.thread.join(10)
        self.front.close()
        self.back.close()


class ClientThroughLossyRelay(unittest.TestCase):
    def test_the_whole_exchange_survives_loss_duplication_and_delay(self):
        srv = support.ServerProcess("--udp", "--quiet")
        self.addCleanup(srv.kill)
        relay = Relay(srv.port)
        self.addCleanup(relay.stop)
        started = time.monotonic()
        out = subprocess.run([sys.executable, support.CLIENT, "--udp", "--host", "127.0.0.1",
                              "--port", str(relay.port)], capture_output=True, text=True,
                             timeout=CLIENT_SECONDS)
        took = time.monotonic() - started
        lines = out.stdout.splitlines()
        failures = [line for line in lines if not line.startswith("ok   ")][:-1]
        self.assertEqual(failures, [], "client stderr: %s" % out.stderr)
        self.assertEqual(out.returncode, 0)
        ok = [case for case in vectors.load_vectors(support.VECTORS_FILE) if case.kind == "ok"]
        fitting = [case for case in ok if 5 + len(case.name) + len(case.data) <= wire.UDP_MAX_PAYLOAD]
        self.assertLess(len(fitting), len(ok))  # bytes.large-70000 does not fit
        expected = (3 * len(fitting) + 1 + 4 + 1 + len(vectors.load_stats(support.STATS_FILE))
                    + sum(case.kind == "err" for case in vectors.load_vectors(support.VECTORS_FILE)))
        self.assertEqual(lines[-1], "%d passed, 0 failed" % expected)
        self.assertIn("ok   echo:65495", lines)
        self.assertNotIn("ok   hello", lines)
        # the trouble really happened, and the client saw it: retries, duplicates dropped
        for what in ("dropped", "duplicated", "delayed"):
            self.assertGreater(relay.counts[what], 20, "%s (took %.1f s)" % (relay.counts, took))
        retries, stray = map(int, re.search(
            r"\((\d+) retries\), (\d+) stray", out.stderr).groups())
        self.assertGreater(retries, 20, out.stderr)
        self.assertGreater(stray, 20, out.stderr)


class SilentPeer:
    """A UDP socket that records what it receives and answers as its script says."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def take(self, seconds: float = ANSWER_SECONDS) -> Tuple[bytes, Tuple[str, int]]:
        self.sock.settimeout(seconds)
        data, source = self.sock.recvfrom(wire.UDP_RECV_SIZE)
        return data, source

    def close(self) -> None:
        self.sock.close()


class ClientRetries(unittest.TestCase):
    def test_schedule_of_15_7(self):
        self.assertEqual(client.retry_timeouts(client.FIRST_TIMEOUT, client.MAX_TIMEOUT, client.SENDS),
                         [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])
        self.assertAlmostEqual(sum(client.retry_timeouts(0.1, 1.0, 8)), 5.5)

    def test_no_answer_resends_the_same_datagram_then_fails(self):
        peer_side = SilentPeer()
        self.addCleanup(peer_side.close)
        peer = client.UdpPeer("127.0.0.1", peer_side.port, first_timeout=0.01, max_timeout=0.02,
                              sends=3)
        self.addCleanup(peer.close)
        with self.assertRaises(client.CaseFailure) as raised:
            peer.request(MsgType.PING, b"abc")
        self.assertIn("after 3 sends", str(raised.exception))
        sent = [peer_side.take()[0] for _ in range(3)]
        self.assertEqual(len(set(sent)), 1)
        self.assertEqual(wire.decode_datagram(sent[0])[1:], (MsgType.PING, b"abc"))
        self.assertEqual((peer.sent, peer.retries), (3, 2))
        # the next request has a new id, the one after the last
        with self.assertRaises(client.CaseFailure):
            peer.request(MsgType.PING, b"d")
        self.assertEqual(wire.datagram_id(peer_side.take()[0]),
                         (wire.datagram_id(sent[0]) + 1) & wire.U32_MAX)

    def test_strays_and_bad_datagrams_are_dropped(self):
        peer_side = SilentPeer()
        self.addCleanup(peer_side.close)
        peer = client.UdpPeer("127.0.0.1", peer_side.port, first_timeout=ANSWER_SECONDS)
        self.addCleanup(peer.close)

        def script() -> None:
            data, source = peer_side.take()
            request_id = wire.datagram_id(data)
            for answer in (wire.encode_datagram((request_id + 1) & wire.U32_MAX, MsgType.PONG, b"x"),
                           b"\x00\x01",  # too short for an id
                           data[:4] + bytes.fromhex("0100000400000005") + b"y",  # LENGTH
                           wire.encode_datagram(request_id, MsgType.PONG, b"right")):
                peer_side.sock.sendto(answer, source)

        helper = threading.Thread(target=script)
        helper.start()
        answer = peer.request(MsgType.PING, b"right")
        helper.join(ANSWER_SECONDS)
        self.assertEqual(answer[1:], (MsgType.PONG, b"right"))
        self.assertEqual((peer.stray, peer.bad, peer.retries), (1, 2, 0))

    def test_a_payload_over_the_datagram_is_not_sent(self):
        peer_side = SilentPeer()
        self.addCleanup(peer_side.close)
        peer = client.UdpPeer("127.0.0.1", peer_side.port)
        self.addCleanup(peer.close)
        with self.assertRaises(client.NotSent):
            peer.request(MsgType.ECHO, b"x" * (wire.UDP_MAX_PAYLOAD + 1))
        self.assertEqual(peer.sent, 0)

    def test_help_documents_udp(self):
        out = subprocess.run([sys.executable, support.CLIENT, "--help"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0)
        self.assertIn("--udp", out.stdout)


if __name__ == "__main__":
    unittest.main()
