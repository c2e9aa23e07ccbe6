# SPDX-License-Identifier: MIT
"""The client's receive path against an awkward server (SPEC 7.5, 2.5, 8.1, 10.10): a relay in
front of server.py that sends a PING right after its HELLO and before replies (in the same write,
or alone, holding the reply back until the PONG came), writes some frames one byte at a time,
and can announce a smaller max_payload than the server's."""

import socket
import threading
import time
import unittest

import support

import client
import vectors
import wire
from wire import MsgType

VECTORS = """\
ok s.u16 | u16:258 | 02 0102
ok s.group | u8:1 group { list:u8 [ u8:7 u8:8 ] } | 01 01 51 00000008 50 01 00000002 07 08
ok s.big | bytes:ab*2000 | 41 000007d0 ab*2000
err s.bad | UTF8 5 | 40 00000001 ff
"""
STATS = """\
stats s.one | list:i64 [ i64:1 ] list:f64 [ ] bytes:313233343536373839 | \
i64:1 i64:1 i64:1 f64:0x0000000000000000 f64:0x7ff0000000000000 f64:0xfff0000000000000 u32:3421780262
"""
NAMES = ["hello", "check:s.u16", "check:s.group", "check:s.big", "check-unknown", "get:s.u16",
         "get:s.group", "get:s.big", "roundtrip:s.u16", "roundtrip:s.group", "roundtrip:s.big",
         "echo:0", "echo:1", "echo:4096", "echo:1048576", "ping", "stats:s.one", "bye",
         "reject:s.bad"]
BYTEWISE_MAX = 600  # frames written one byte per write are at most this long (it is slow)


class Relay:
    """Listens on a port of its own; each client connection is relayed to the server, frame by
    frame, awkwardly. Counts what the client did."""

    def __init__(self, server_port: int, announce: int = 0) -> None:
        self.server_port = server_port
        self.announce = announce  # the max_payload our HELLO says (0: the server's)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = self.pings = self.pongs = 0
        self.problems = []  # what the client did wrong
        self.largest = 0  # the largest payload the client sent
        self.threads = []
        threading.Thread(target=self.accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        for thread in self.threads:
            thread.join(10)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            thread = threading.Thread(target=RelayedConnection(self, sock).run, daemon=True)
            self.threads.append(thread)
            thread.start()


class RelayedConnection:
    def __init__(self, relay: Relay, sock: socket.socket) -> None:
        self.relay = relay
        self.client = sock
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server = socket.create_connection(("127.0.0.1", relay.server_port), timeout=10)
        self.pending = []  # payloads of our PINGs not answered yet, oldest first
        self.answered = threading.Condition(relay.lock)
        self.sequence = 0
        self.frames_down = 0

    def run(self) -> None:
        up = threading.Thread(target=self.up, daemon=True)
        up.start()
        try:
            self.down()
        finally:
            try:
                self.client.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            up.join(10)
            with self.relay.lock:
                if self.pending:
                    self.relay.problems.append("%d PING(s) never answered" % len(self.pending))
            self.client.close()
            self.server.close()

    def up(self) -> None:
        """client -> server: PONGs to our PINGs taken out and checked, the rest passed on."""
        reader = wire.FrameReader(self.client)
        while True:
            try:
                frame = reader.recv_frame(time.monotonic() + 30)
            except wire.WireError as exc:
                if exc.code != wire.ErrorCode.CLOSED:
                    self.relay.problem("from the client: %s" % exc)
                break
            if frame is None:
                break
            limit = self.relay.announce or wire.DEFAULT_MAX_PAYLOAD
            with self.relay.lock:
                self.relay.largest = max(self.relay.largest, len(frame.payload))
            if len(frame.payload) > limit:
                self.relay.problem("the client sent %d payload bytes, over our %d"
                                   % (len(frame.payload), limit))
            if frame.type == MsgType.PONG:
                with self.answered:
                    if self.pending and self.pending[0] == frame.payload:
                        self.pending.pop(0)
                        self.relay.pongs += 1
                        self.answered.notify_all()
                        continue
                self.relay.problem("a PONG that answers none of our PINGs: %s" % frame.payload.hex())
            try:
                wire.send_frame(self.server, frame.type, frame.payload)
            except wire.WireError:
                break
        try:
            self.server.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def ping(self) -> bytes:
        with self.relay.lock:
            self.sequence += 1
            payload = b"wire" + self.sequence.to_bytes(4, "big")
            self.pending.append(payload)
            self.relay.pings += 1
        return wire.encode_frame(MsgType.PING, payload)

    def write(self, data: bytes) -> None:
        bytewise = self.frames_down % 3 == 0 and len(data) <= BYTEWISE_MAX
        if not bytewise:
            self.client.sendall(data)
            return
        for index in range(len(data)):  # one segment per byte (TCP_NODELAY)
            self.client.sendall(data[index:index + 1])
            if index % 8 == 7:
                time.sleep(0.0002)

    def down(self) -> None:
        """server -> client: a PING right behind the HELLO, one before every reply (coalesced with
        it, or alone with the reply held back until its PONG came), some frames byte by byte."""
        reader = wire.FrameReader(self.server)
        while True:
            try:
                frame = reader.recv_frame(time.monotonic() + 30)
            except wire.WireError:
                return
            if frame is None:
                return
            self.frames_down += 1
            payload = frame.payload
            if frame.type == MsgType.HELLO and self.relay.announce:
                hello = wire.decode_hello(payload)
                payload = wire.encode_hello(self.relay.announce, hello.name)
            data = wire.encode_frame(frame.type, payload)
            try:
                if frame.type == MsgType.HELLO:
                    self.write(data + self.ping())
                elif 0x0100 <= frame.type <= 0x01FF and self.frames_down % 4 == 0:
                    self.write(self.ping())
                    with self.answered:  # the reply only once the client answered
                        if not self.answered.wait_for(lambda: not self.pending, 5):
                            self.relay.problems.append("no PONG while the client awaits its reply")
                    self.write(data)
                elif 0x0100 <= frame.type <= 0x01FF:
                    self.write(self.ping() + data)
                else:
                    self.write(data)
            except OSError:
                return


class ClientAgainstAwkwardServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vectors_file = support.write_text_file(VECTORS)
        cls.server = support.ServerProcess("--vectors", cls.vectors_file)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        support.remove_file(cls.vectors_file)

    def run_exchange(self, announce=0):
        relay = Relay(self.server.port, announce)
        self.addCleanup(relay.close)
        output = []
        failed = client.Exchange("127.0.0.1", relay.port, vectors.parse_vectors(VECTORS),
                                 vectors.parse_stats(STATS), 10.0).run(output.append)
        relay.close()
        return relay, failed, output

    def test_pings_answered_and_frames_reassembled(self):
        relay, failed, output = self.run_exchange()
        self.assertEqual(output, ["ok   " + name for name in NAMES]
                         + ["%d passed, 0 failed" % len(NAMES)])
        self.assertEqual(failed, 0)
        self.assertEqual(relay.problems, [])
        self.assertGreater(relay.pings, 10)
        self.assertEqual(relay.pongs, relay.pings)
        self.assertEqual(relay.connections, 2)  # the main one, and one for the reject case

    def test_never_sends_more_than_the_server_announced(self):
        relay, failed, output = self.run_exchange(announce=wire.MIN_MAX_PAYLOAD)
        too_big = {"check:s.big", "roundtrip:s.big", "echo:4096", "echo:1048576"}
        for name, line in zip(NAMES, output):
            if name in too_big:
                self.assertRegex(line, r"\AFAIL %s: .* exceeds the server's max payload 1037, not sent\Z"
                                 % name)
            else:
                self.assertEqual(line, "ok   " + name)
        self.assertEqual(output[-1], "%d passed, %d failed" % (len(NAMES) - len(too_big), len(too_big)))
        self.assertEqual(failed, len(too_big))
        self.assertEqual(relay.problems, [])
        self.assertLessEqual(relay.largest, wire.MIN_MAX_PAYLOAD)
        # a request refused before sending leaves the connection good: no reconnection
        self.assertEqual(relay.connections, 2)


class ConnectionReceivePath(unittest.TestCase):
    """One Connection against a scripted server: every PING answered in order, before the
    reply is read, however the frames are cut."""

    def scripted(self, script):
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        seen = []

        def serve():
            sock, _ = listener.accept()
            with sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                reader = wire.FrameReader(sock)
                script(sock, reader, seen)
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        self.addCleanup(self.thread.join, 10)
        return listener.getsockname()[1], seen

    def test_ping_during_a_request_and_coalesced_frames(self):
        def script(sock, reader, seen):
            seen.append(reader.recv_frame(time.monotonic() + 5))  # its HELLO
            hello = wire.encode_frame(MsgType.HELLO, wire.encode_hello(wire.MIN_MAX_PAYLOAD, "s"))
            pings = b"".join(wire.encode_frame(MsgType.PING, bytes([n])) for n in range(3))
            for index, byte in enumerate(hello + pings):  # byte by byte, then three PINGs at once
                sock.sendall(bytes([byte]))
            seen.append(reader.recv_frame(time.monotonic() + 5))  # the request
            sock.sendall(wire.encode_frame(MsgType.PING, b"late"))
            for _ in range(4):
                seen.append(reader.recv_frame(time.monotonic() + 5))  # four PONGs, before...
            sock.sendall(wire.encode_frame(MsgType.ECHO_REPLY, b"hi")  # ...the reply
                         + wire.encode_frame(MsgType.PING, b"after"))
            seen.append(reader.recv_frame(time.monotonic() + 5))
        port, seen = self.scripted(script)
        deadline = time.monotonic() + 10
        conn = client.Connection("127.0.0.1", port, deadline)
        self.addCleanup(conn.close)
        self.assertEqual(conn.server_max, wire.MIN_MAX_PAYLOAD)
        conn.send(MsgType.ECHO, b"hi", deadline)
        self.assertEqual(conn.expect(MsgType.ECHO_REPLY, deadline), b"hi")
        with self.assertRaises(client.CaseFailure):  # EOF, after answering the last PING
            conn.expect(MsgType.ECHO_REPLY, deadline)
        self.thread.join(10)
        self.assertEqual([(f.type, f.payload) for f in seen[1:]],
                         [(MsgType.ECHO, b"hi"), (MsgType.PONG, b"\x00"), (MsgType.PONG, b"\x01"),
                          (MsgType.PONG, b"\x02"), (MsgType.PONG, b"late"), (MsgType.PONG, b"after")])
        self.assertEqual(conn.pings, 5)

    def test_refuses_an_oversize_request_without_sending_it(self):
        def script(sock, reader, seen):
            seen.append(reader.recv_frame(time.monotonic() + 5))
            sock.sendall(wire.encode_frame(MsgType.HELLO, wire.encode_hello(wire.MIN_MAX_PAYLOAD, "s")))
            seen.append(reader.recv_frame(time.monotonic() + 5))
            seen.append(reader.recv_frame(time.monotonic() + 5))
        port, seen = self.scripted(script)
        deadline = time.monotonic() + 10
        conn = client.Connection("127.0.0.1", port, deadline)
        with self.assertRaises(client.NotSent) as caught:
            conn.send(MsgType.ECHO, b"x" * (wire.MIN_MAX_PAYLOAD + 1), deadline)
        self.assertIn("exceeds the server's max payload 1037", str(caught.exception))
        conn.send(MsgType.ECHO, b"x" * wire.MIN_MAX_PAYLOAD, deadline)  # the largest allowed
        conn.close()
        self.thread.join(10)
        self.assertEqual([(f.type, len(f.payload)) for f in seen[1:] if f is not None],
                         [(MsgType.ECHO, wire.MIN_MAX_PAYLOAD)])

    def test_unexpected_frame_is_answered_with_unexpected(self):
        def script(sock, reader, seen):
            seen.append(reader.recv_frame(time.monotonic() + 5))
            sock.sendall(wire.encode_frame(MsgType.HELLO, wire.encode_hello(wire.MIN_MAX_PAYLOAD, "s")))
            seen.append(reader.recv_frame(time.monotonic() + 5))  # the request
            sock.sendall(wire.encode_frame(MsgType.STATS_REPLY, b""))  # not its reply
            seen.append(reader.recv_frame(time.monotonic() + 5))
        port, seen = self.scripted(script)
        deadline = time.monotonic() + 10
        conn = client.Connection("127.0.0.1", port, deadline)
        self.addCleanup(conn.close)
        conn.send(MsgType.ECHO, b"", deadline)
        with self.assertRaises(client.CaseFailure):
            conn.expect(MsgType.ECHO_REPLY, deadline)
        self.thread.join(10)  # the script has read what we sent
        error = wire.decode_error(seen[2].payload)
        self.assertEqual((seen[2].type, error.code, error.offset), (MsgType.ERROR, 12, 2))


if __name__ == "__main__":
    unittest.main()
