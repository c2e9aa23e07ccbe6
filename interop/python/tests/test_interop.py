# SPDX-License-Identifier: MIT
"""End to end: server.py as a process, client.py and raw sockets against it, and the client
against broken servers."""

import contextlib
import io
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
import server
import vectors
import wire
from wire import MsgType

SERVER = support.SERVER
CLIENT = support.CLIENT
ServerProcess = support.ServerProcess

SMALL_VECTORS = """\
ok s.u16 | u16:258 | 02 0102
ok s.group | u8:1 group { list:u8 [ u8:7 u8:8 ] } | 01 01 51 00000008 50 01 00000002 07 08
err s.bad | UTF8 5 | 40 00000001 ff
"""
SMALL_STATS = """\
stats s.one | list:i64 [ i64:1 ] list:f64 [ ] bytes:313233343536373839 | \
i64:1 i64:1 i64:1 f64:0x0000000000000000 f64:0x7ff0000000000000 f64:0xfff0000000000000 u32:3421780262
"""


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
        wire.send_frame(sock, MsgType.HELLO, wire.encode_hello(1037, "x", version=2))
        self.assert_error_then_eof(sock, "VERSION", 9)

    def test_hello_errors_carry_frame_offsets(self):
        for fields, name, offset in (
                ([("u16", 2), ("u32", 5), ("string", "n" * 300)], "VERSION", 9),  # version first
                ([("u32", 1), ("u32", 5000), ("string", "x")], "MESSAGE", 8),
                ([("u16", 1), ("u32", 1036), ("string", "x")], "MESSAGE", 12),
                ([("u16", 1), ("u32", 5000), ("string", "n" * 256)], "MESSAGE", 17),
                ([("u16", 1), ("u32", 5000)], "MESSAGE", 16)):
            with self.subTest(fields=fields[:2], name=name):
                sock = self.connect(hello=False)
                wire.send_fields(sock, MsgType.HELLO, fields)
                self.assert_error_then_eof(sock, name, offset)

    def test_type_not_allowed_is_answered_from_the_header(self):
        for hello in (False, True):  # a PING before HELLO; a reply type after it
            with self.subTest(hello=hello):
                sock = self.connect(hello=hello)
                msg_type = MsgType.ECHO_REPLY if hello else MsgType.PING
                sock.sendall(wire.encode_header(msg_type, 1000))  # and no payload
                started = time.monotonic()
                self.assert_error_then_eof(sock, "UNEXPECTED", 2)
                self.assertLess(time.monotonic() - started, 1.5)

    def test_peer_error_is_never_answered(self):
        for hello, payload in ((False, wire.encode_error(19, None, "no")), (True, b"\x7f"),
                               (True, b"")):
            with self.subTest(hello=hello, payload=payload):
                sock = self.connect(hello=hello)
                wire.send_frame(sock, MsgType.ERROR, payload)
                self.assertIsNone(wire.recv_frame(sock, deadline=time.monotonic() + 5))

    def test_bad_header_is_answered_even_for_an_error_type(self):
        sock = self.connect()
        sock.sendall(b"\x01\x01\x00\x02\x00\x00\x00\x00")  # flags 1, type ERROR
        self.assert_error_then_eof(sock, "HEADER", 1)

    def test_bye_payload_must_decode(self):
        sock = self.connect()
        wire.send_frame(sock, MsgType.BYE, b"\x7f")
        self.assert_error_then_eof(sock, "BADTAG", 8)
        sock = self.connect()
        self.assertEqual(request(sock, MsgType.BYE, b"\x01\x07"), wire.Frame(MsgType.BYE, b""))

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

    def test_malformed_requests_are_message_errors_at_the_field(self):
        i64s, f64s = ("list", wire.ListValue("i64", [])), ("list", wire.ListValue("f64", []))
        for msg_type, fields, offset in (
                (MsgType.VECTOR_GET, [("u8", 1)], 8),
                (MsgType.VECTOR_GET, [("string", "a"), ("u8", 1)], 14),
                (MsgType.VECTOR_GET, [], 8),
                (MsgType.VECTOR_CHECK, [("u32", 1)], 8),
                (MsgType.STATS, [("list", wire.ListValue("u8", [])), f64s, ("bytes", b"")], 9),
                (MsgType.STATS, [i64s, i64s, ("bytes", b"")], 15),
                (MsgType.STATS, [i64s, f64s, ("string", "")], 20),
                (MsgType.STATS, [i64s, f64s], 20),
                (MsgType.STATS, [i64s, f64s, ("bytes", b""), ("u8", 1)], 25)):
            with self.subTest(msg_type=msg_type, fields=fields):
                sock = self.connect()
                wire.send_fields(sock, msg_type, fields)
                self.assert_error_then_eof(sock, "MESSAGE", offset)

    def test_reply_larger_than_peer_limit(self):
        sock = self.connect(max_payload=wire.MIN_MAX_PAYLOAD)
        self.assertEqual(request(sock, MsgType.ECHO, b"x" * 1037).payload, b"x" * 1037)
        wire.send_frame(sock, MsgType.ECHO, b"x" * 1038)
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

    def test_sigterm_answers_the_frame_in_flight(self):
        # SPEC 9.3: stop accepting, answer the frames in flight, close every connection, exit 0.
        server = self.start("--frame-timeout", "5")
        busy = connect(server.port)
        idle = connect(server.port)
        self.addCleanup(busy.close)
        self.addCleanup(idle.close)
        frame = wire.encode_header(MsgType.ECHO, 4) + b"wire"
        busy.sendall(frame[:6])  # a frame in flight when the signal comes
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        busy.sendall(frame[6:])
        reply = wire.recv_frame(busy, deadline=time.monotonic() + 5)
        self.assertEqual((reply.type, reply.payload), (MsgType.ECHO_REPLY, b"wire"))
        self.assertIsNone(wire.recv_frame(busy, deadline=time.monotonic() + 5))  # then EOF
        self.assertIsNone(wire.recv_frame(idle, deadline=time.monotonic() + 5))  # closed, no ERROR
        self.assertEqual(server.proc.wait(10), 0)
        with self.assertRaises(OSError):  # and it accepts no one any more
            connect(server.port)

    def test_defaults_are_spec_9_3(self):
        args = server.parse_args([])
        self.assertEqual((args.host, args.port, args.max_payload, args.max_conns, args.idle_timeout,
                          args.frame_timeout, args.vectors, args.quiet),
                         ("127.0.0.1", 0, 16777216, 1024, 60, 10, None, False))

    def test_bad_options_and_values_exit_2(self):
        for argv in (["--timeout", "1"], ["--max-connections", "5"], ["--linger", "1"],
                     ["--bogus"], ["--max-p", "2000"], ["--max-payload", "1036"],
                     ["--max-payload", "4294967288"], ["--max-conns", "0"], ["--max-conns", "x"],
                     ["--idle-timeout", "0"], ["--frame-timeout", "-1"], ["--frame-timeout"],
                     ["stray"]):
            with self.subTest(argv=argv):
                stderr = io.StringIO()
                with self.assertRaises(SystemExit) as caught, contextlib.redirect_stderr(stderr):
                    server.parse_args(argv)
                self.assertEqual(caught.exception.code, 2)
                self.assertIn("error", stderr.getvalue())
        # and as a process: a message on stderr, nothing on stdout, status 2
        proc = subprocess.run([sys.executable, SERVER, "--max-conns", "0"], capture_output=True,
                              text=True, timeout=20)
        self.assertEqual((proc.returncode, proc.stdout), (2, ""))
        self.assertIn("--max-conns", proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)

    def test_help_and_version(self):
        proc = subprocess.run([sys.executable, SERVER, "--help"], capture_output=True, text=True,
                              timeout=20)
        self.assertEqual(proc.returncode, 0)
        for option in ("--host", "--port", "--max-payload", "--max-conns", "--idle-timeout",
                       "--frame-timeout", "--vectors", "--quiet", "--version", "--help"):
            self.assertIn(option, proc.stdout)
        proc = subprocess.run([sys.executable, SERVER, "--version"], capture_output=True, text=True,
                              timeout=20)
        self.assertEqual(proc.returncode, 0)
        self.assertRegex(proc.stdout, r"\Apython-server [0-9.]+, protocol version 1\n\Z")

    def test_idle_timeout_before_and_after_hello(self):
        # longer than the frame timeout: the idle wait is the idle timeout's alone
        server = self.start("--idle-timeout", "2", "--frame-timeout", "1")
        started = time.monotonic()
        socks = [connect(server.port, hello=hello) for hello in (False, True)]  # waiting together
        for hello, sock in zip((False, True), socks):
            self.addCleanup(sock.close)
            with self.subTest(hello=hello):
                AgainstOwnServer.assert_error_then_eof(self, sock, "TIMEOUT", None)
                self.assertGreater(time.monotonic() - started, 1.8)

    def test_frame_timeout_from_the_first_byte(self):
        server = self.start("--idle-timeout", "30", "--frame-timeout", "1")
        sock = connect(server.port)
        self.addCleanup(sock.close)
        sock.sendall(wire.encode_header(MsgType.PING, 4)[:5])  # slowloris: and nothing more
        started = time.monotonic()
        AgainstOwnServer.assert_error_then_eof(self, sock, "TIMEOUT", None)
        self.assertLess(time.monotonic() - started, 5)

    def test_idle_timeout_does_not_run_inside_a_frame(self):
        server = self.start("--idle-timeout", "1", "--frame-timeout", "4")
        sock = connect(server.port)
        self.addCleanup(sock.close)
        frame = wire.encode_frame(MsgType.PING, b"abcd")
        sock.sendall(frame[:3])
        time.sleep(1.6)  # past the idle timeout, within the frame timeout
        sock.sendall(frame[3:])
        self.assertEqual(wire.recv_frame(sock, deadline=time.monotonic() + 5),
                         wire.Frame(MsgType.PONG, b"abcd"))

    def test_connection_limit(self):
        server = self.start("--max-conns", "1")
        first = connect(server.port)
        second = connect(server.port, hello=False)
        self.addCleanup(second.close)
        AgainstOwnServer.assert_error_then_eof(self, second, "LIMIT", None)
        # the slot comes back when the first connection ends
        self.assertEqual(request(first, MsgType.BYE, b""), wire.Frame(MsgType.BYE, b""))
        first.close()
        deadline = time.monotonic() + 5
        while True:
            third = connect(server.port, hello=False)
            self.addCleanup(third.close)
            wire.send_frame(third, MsgType.HELLO, wire.encode_hello(wire.MIN_MAX_PAYLOAD, "t"))
            frame = wire.recv_frame(third, deadline=time.monotonic() + 5)
            if frame.type == MsgType.HELLO or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the first session's thread may still be closing
        self.assertEqual(frame.type, MsgType.HELLO)

    def test_max_payload_option(self):
        server = self.start("--max-payload", "1037")
        sock = connect(server.port, hello=False)
        self.addCleanup(sock.close)
        hello = wire.decode_hello(request(sock, MsgType.HELLO, wire.encode_hello(5000, "t")).payload)
        self.assertEqual(hello.max_payload, 1037)
        self.assertEqual(request(sock, MsgType.ECHO, b"x" * 1037).payload, b"x" * 1037)
        wire.send_frame(sock, MsgType.ECHO, b"x" * 1038)
        AgainstOwnServer.assert_error_then_eof(self, sock, "TOOBIG", 4)

    def test_one_log_line_per_connection_and_quiet(self):
        for quiet in (False, True):
            with self.subTest(quiet=quiet):
                server = self.start(*(["--quiet"] if quiet else []))
                sock = connect(server.port)
                local = "127.0.0.1:%d" % sock.getsockname()[1]
                self.assertEqual(request(sock, MsgType.BYE, b""), wire.Frame(MsgType.BYE, b""))
                self.assertIsNone(wire.recv_frame(sock, deadline=time.monotonic() + 5))
                sock.close()
                pattern = (r"python-server: %s: closed after 2 frames in \(\d+ bytes\), 2 frames"
                           r" out \(\d+ bytes\): BYE\n" % re.escape(local))
                # the line is written once the server's graceful close is over: soon after our close
                deadline = time.monotonic() + (0.5 if quiet else 5)
                while not re.search(pattern, server.log_text()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if quiet:
                    self.assertEqual(server.log_text(), "")
                else:
                    self.assertRegex(server.log_text(), pattern)

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
