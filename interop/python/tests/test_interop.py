"""End to end: server.py as a process, client.py and raw sockets against it, and the client
against broken servers."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import support

import client
import vectors
import wire
from wire import MsgType

SERVER = str(support.PYTHON_DIR / "server.py")
CLIENT = str(support.PYTHON_DIR / "client.py")

SMALL_VECTORS = """\
ok s.u16 | u16:258 | 02 0102
ok s.group | u8:1 group { list:u8 [ u8:7 u8:8 ] } | 01 01 51 00000008 50 01 00000002 07 08
err s.bad | UTF8 5 | 40 00000001 ff
"""
SMALL_STATS = """\
stats s.one | list:i64 [ i64:1 ] list:f64 [ ] bytes:313233343536373839 | \
i64:1 i64:1 i64:1 f64:0x0000000000000000 f64:0x7ff0000000000000 f64:0xfff0000000000000 u32:3421780262
"""


class ServerProcess:
    """server.py in a subprocess; stderr goes to a file (a full pipe would block the server)."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.first_line = self.proc.stdout.readline()
        self.port = int(self.first_line)

    def stop(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(10)
        finally:
            self.proc.stdout.close()
            self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def write_temp(test, text):
    handle, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    test.addCleanup(os.unlink, path)
    return path


def connect(port, hello=True, max_payload=wire.DEFAULT_MAX_PAYLOAD):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if hello:
        wire.send_frame(sock, MsgType.HELLO, wire.encode_hello(max_payload, "test"))
        frame = wire.recv_frame(sock, deadline=time.monotonic() + 5)
        assert frame is not None and frame.type == MsgType.HELLO, frame
    return sock


def request(sock, msg_type, payload):
    wire.send_frame(sock, msg_type, payload)
    return wire.recv_frame(sock, deadline=time.monotonic() + 5)


class AgainstOwnServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess()

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def connect(self, **options):
        sock = connect(self.server.port, **options)
        self.addCleanup(sock.close)
        return sock

    def assert_error_then_eof(self, sock, name, offset):
        frame = wire.recv_frame(sock, deadline=time.monotonic() + 5)
        self.assertIsNotNone(frame)
        self.assertEqual(frame.type, MsgType.ERROR)
        error = wire.decode_error(frame.payload)
        self.assertEqual((wire.error_name(error.code), error.offset), (name, offset), error.message)
        self.assertIsNone(wire.recv_frame(sock, deadline=time.monotonic() + 5))

    def test_port_alone_on_first_line(self):
        self.assertRegex(self.server.first_line, r"\A[0-9]+\n\Z")

    def test_client_exchange_passes_in_order(self):
        result = subprocess.run([sys.executable, CLIENT, "--port", str(self.server.port)],
                                capture_output=True, text=True, timeout=120)
        lines = result.stdout.splitlines()
        cases = vectors.load_vectors(support.VECTORS_FILE)
        ok = [c.name for c in cases if c.kind == "ok"]
        err = [c.name for c in cases if c.kind == "err"]
        stats = [c.name for c in vectors.load_stats(support.STATS_FILE)]
        names = (["hello"] + ["check:" + n for n in ok] + ["check-unknown"]
                 + ["get:" + n for n in ok] + ["roundtrip:" + n for n in ok]
                 + ["echo:0", "echo:1", "echo:4096", "echo:1048576", "ping"]
                 + ["stats:" + n for n in stats] + ["bye"] + ["reject:" + n for n in err])
        self.assertEqual(lines, ["ok   " + n for n in names] + ["%d passed, 0 failed" % len(names)],
                         result.stderr)
        self.assertEqual(result.returncode, 0)

    def test_frame_before_hello_is_unexpected(self):
        sock = self.connect(hello=False)
        wire.send_frame(sock, MsgType.PING, b"x")
        self.assert_error_then_eof(sock, "UNEXPECTED", 2)

    def test_hello_with_wrong_version(self):
        sock = self.connect(hello=False)
        wire.send_frame(sock, MsgType.HELLO, wire.encode_hello(100, "x", version=2))
        self.assert_error_then_eof(sock, "VERSION", 9)

    def test_header_errors_carry_header_offsets(self):
        for raw, name, offset in ((b"\x02\x00\x00\x01\x00\x00\x00\x00", "VERSION", 0),
                                  (b"\x01\x04\x00\x01\x00\x00\x00\x00", "HEADER", 1),
                                  (b"\x01\x00\x00\x00\x00\x00\x00\x00", "HEADER", 2)):
            with self.subTest(name=name):
                sock = self.connect()
                sock.sendall(raw)
                self.assert_error_then_eof(sock, name, offset)

    def test_oversize_header_rejected_without_its_payload(self):
        sock = self.connect()
        sock.sendall(wire.encode_header(MsgType.ECHO, 16777217) + b"some of the payload")
        self.assert_error_then_eof(sock, "TOOBIG", 4)

    def test_largest_payload_is_accepted(self):
        sock = self.connect()
        payload = bytes(range(256)) * (wire.DEFAULT_MAX_PAYLOAD // 256)
        reply = request(sock, MsgType.ECHO, payload)
        self.assertEqual((reply.type, len(reply.payload)), (MsgType.ECHO_REPLY, wire.DEFAULT_MAX_PAYLOAD))
        self.assertEqual(reply.payload, payload)

    def test_invalid_roundtrip_payload(self):
        sock = self.connect()
        wire.send_frame(sock, MsgType.ROUNDTRIP, bytes.fromhex("0101 4000000001 c0"))
        self.assert_error_then_eof(sock, "UTF8", 15)

    def test_unknown_or_repeated_message_types(self):
        for msg_type in (0x8000, MsgType.HELLO, MsgType.ECHO_REPLY, 0x0200):
            with self.subTest(msg_type=msg_type):
                sock = self.connect()
                wire.send_frame(sock, msg_type, b"")
                self.assert_error_then_eof(sock, "UNEXPECTED", 2)

    def test_malformed_request_is_message_error(self):
        sock = self.connect()
        wire.send_fields(sock, MsgType.VECTOR_GET, [("u8", 1)])
        self.assert_error_then_eof(sock, "MESSAGE", None)

    def test_reply_larger_than_peer_limit(self):
        sock = self.connect(max_payload=30)  # the server's HELLO (26 bytes) fits, the echo not
        wire.send_frame(sock, MsgType.ECHO, b"x" * 31)
        self.assert_error_then_eof(sock, "TOOBIG", None)

    def test_peer_limit_too_small_for_hello(self):
        sock = self.connect(hello=False)
        wire.send_frame(sock, MsgType.HELLO, wire.encode_hello(10, "tiny"))
        self.assert_error_then_eof(sock, "TOOBIG", None)

    def test_requests_answered_in_order(self):
        sock = self.connect()
        wire.send_frame(sock, MsgType.ECHO, b"one")
        wire.send_frame(sock, MsgType.PING, b"two")
        wire.send_fields(sock, MsgType.ROUNDTRIP, [("u8", 3)])
        replies = [wire.recv_frame(sock, deadline=time.monotonic() + 5) for _ in range(3)]
        self.assertEqual(replies, [wire.Frame(MsgType.ECHO_REPLY, b"one"), wire.Frame(MsgType.PONG, b"two"),
                                   wire.Frame(MsgType.ROUNDTRIP_REPLY, b"\x01\x03")])

    def test_vector_check_reports_first_mismatch(self):
        sock = self.connect()
        cases = [
            ([("u16", 259)], (1, "0", "u16:258", "u16:259")),
            ([], (1, "0", "u16:258", "(missing)")),
            ([("u16", 258), ("u8", 1)], (1, "1", "(none)", "u8:1")),
            ([("u16", 258)], (0, "", "", "")),
        ]
        for fields, expected in cases:
            with self.subTest(fields=fields):
                reply = request(sock, MsgType.VECTOR_CHECK, wire.encode([("string", "u16.pattern")] + fields))
                self.assertEqual(reply.type, MsgType.VECTOR_RESULT)
                self.assertEqual(tuple(v for _, v in wire.decode(reply.payload)), expected)
        # err vectors cannot be checked or fetched: unknown.
        for msg_type in (MsgType.VECTOR_CHECK, MsgType.VECTOR_GET):
            reply = request(sock, msg_type, wire.encode([("string", "err.bool-2")]))
            self.assertEqual(wire.decode(reply.payload)[0], ("u8", 2))

    def test_connections_are_served_concurrently(self):
        idle = self.connect()
        busy = self.connect()
        self.assertEqual(request(busy, MsgType.ECHO, b"abc"), wire.Frame(MsgType.ECHO_REPLY, b"abc"))
        self.assertEqual(request(idle, MsgType.PING, b""), wire.Frame(MsgType.PONG, b""))

    def test_early_disconnects_do_not_hurt(self):
        for data in (b"", b"\x01\x00", wire.encode_header(MsgType.HELLO, 50)):
            raw = self.connect(hello=False)
            raw.sendall(data)
            raw.close()
        sock = self.connect()
        self.assertEqual(request(sock, MsgType.PING, b"ok"), wire.Frame(MsgType.PONG, b"ok"))

    def test_bye(self):
        sock = self.connect()
        self.assertEqual(request(sock, MsgType.BYE, b""), wire.Frame(MsgType.BYE, b""))
        self.assertIsNone(wire.recv_frame(sock, deadline=time.monotonic() + 5))


class ServerOptions(unittest.TestCase):
    def start(self, *args):
        server = ServerProcess(*args)
        self.addCleanup(server.kill)
        return server

    def test_ports_out_of_range_are_refused(self):
        # the socket module would wrap 99999 (or die with an OverflowError traceback)
        for prog, port in (("server.py", "99999"), ("server.py", "-1"), ("client.py", "0"),
                           ("client.py", "65536")):
            with self.subTest(prog=prog, port=port):
                proc = subprocess.run([sys.executable, str(support.PYTHON_DIR / prog), "--port", port],
                                      capture_output=True, text=True, timeout=20)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("is not a port", proc.stderr)
                self.assertNotIn("Traceback", proc.stderr)

    def test_exits_0_on_sigterm_and_sigint_with_clients_connected(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum):
                server = self.start()
                sock = connect(server.port)
                self.addCleanup(sock.close)
                self.assertEqual(server.stop(signum), 0)

    def test_slow_peer_gets_timeout(self):
        server = self.start("--timeout", "0.3")
        sock = connect(server.port)
        self.addCleanup(sock.close)
        AgainstOwnServer.assert_error_then_eof(self, sock, "TIMEOUT", None)

    def test_connection_limit(self):
        server = self.start("--max-connections", "1")
        first = connect(server.port)
        self.addCleanup(first.close)
        second = connect(server.port, hello=False)
        self.addCleanup(second.close)
        AgainstOwnServer.assert_error_then_eof(self, second, "LIMIT", None)

    def test_max_payload_option(self):
        server = self.start("--max-payload", "100")
        sock = connect(server.port, hello=False)
        self.addCleanup(sock.close)
        hello = wire.decode_hello(request(sock, MsgType.HELLO, wire.encode_hello(1000, "t")).payload)
        self.assertEqual(hello.max_payload, 100)
        self.assertEqual(request(sock, MsgType.ECHO, b"x" * 100).payload, b"x" * 100)
        wire.send_frame(sock, MsgType.ECHO, b"x" * 101)
        AgainstOwnServer.assert_error_then_eof(self, sock, "TOOBIG", 4)

    def test_missing_vectors_file_is_an_error(self):
        result = subprocess.run([sys.executable, SERVER, "--vectors", "/nonexistent/vectors.txt"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, "")


class SilentServer:
    """Accepts connections and never answers (reads and discards)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(sock)

    def close(self):
        self.listener.close()
        for sock in self.sockets:
            sock.close()


class ClientAgainstBrokenServers(unittest.TestCase):
    def small_exchange(self, port, timeout):
        cases = vectors.parse_vectors(SMALL_VECTORS)
        stats = vectors.parse_stats(SMALL_STATS)
        output = []
        failed = client.Exchange("127.0.0.1", port, cases, stats, timeout).run(output.append)
        return failed, output

    def test_silent_server_every_case_times_out_but_runs(self):
        silent = SilentServer()
        self.addCleanup(silent.close)
        started = time.monotonic()
        failed, output = self.small_exchange(silent.port, 0.2)
        names = ["hello", "check:s.u16", "check:s.group", "check-unknown", "get:s.u16", "get:s.group",
                 "roundtrip:s.u16", "roundtrip:s.group", "echo:0", "echo:1", "echo:4096",
                 "echo:1048576", "ping", "stats:s.one", "bye", "reject:s.bad"]
        self.assertEqual(failed, len(names))
        self.assertEqual([line.split(":", 1)[0] if not line.startswith("FAIL") else
                          re.match(r"FAIL (.*?): ", line).group(1) for line in output[:-1]], names)
        self.assertTrue(all(line.startswith("FAIL ") and "TIMEOUT" in line for line in output[:-1]), output)
        self.assertEqual(output[-1], "0 passed, %d failed" % len(names))
        self.assertLess(time.monotonic() - started, 15)

    def test_refused_connection_fails_every_case(self):
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()
        failed, output = self.small_exchange(port, 1.0)
        self.assertEqual(failed, 16)
        self.assertIn("cannot connect", output[0])

    def test_server_with_other_vectors_reports_mismatch_and_continues(self):
        other = SMALL_VECTORS.replace("u16:258 | 02 0102", "u16:259 | 02 0103")
        server = ServerProcess("--vectors", write_temp(self, other))
        self.addCleanup(server.kill)
        failed, output = self.small_exchange(server.port, 5.0)
        self.assertEqual(output[1], "FAIL check:s.u16: status 1, path '0': expected u16:259, got u16:258")
        self.assertTrue(output[4].startswith("FAIL get:s.u16: vector bytes differ"), output[4])
        self.assertEqual(failed, 2, output)
        self.assertEqual(output[-1], "14 passed, 2 failed")

    def test_client_exit_status(self):
        silent = SilentServer()
        self.addCleanup(silent.close)
        result = subprocess.run(
            [sys.executable, CLIENT, "--port", str(silent.port), "--timeout", "0.1",
             "--vectors", write_temp(self, SMALL_VECTORS), "--stats", write_temp(self, SMALL_STATS)],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout.splitlines()[-1], "0 passed, 16 failed")

    def test_echo_payload_pattern(self):
        payload = client.echo_payload(1000)
        self.assertEqual(len(payload), 1000)
        self.assertTrue(all(payload[i] == (i * 131 + 7) % 256 for i in range(1000)))
        self.assertEqual(client.echo_payload(0), b"")


if __name__ == "__main__":
    unittest.main()
