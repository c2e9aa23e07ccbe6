# SPDX-License-Identifier: MIT
"""wire.WireError's built-in classes, connection.Connection (against server.py and scripted peers)
and the asyncio helpers read_frame / write_frame."""

import asyncio
import pickle
import socket
import threading
import time
import unittest
from typing import Callable, List, Optional

import support

import connection
import wire
from connection import Connection, PeerError
from wire import ErrorCode, MsgType, WireError


class ErrorClasses(unittest.TestCase):
    BUILTIN = {ErrorCode.CLOSED: ConnectionError, ErrorCode.PEER: ConnectionError,
               ErrorCode.TIMEOUT: TimeoutError, ErrorCode.IO: OSError, ErrorCode.ADDRESS: OSError}

    def test_every_code_has_its_builtin(self):
        for code in ErrorCode:
            error = WireError(code, 3, "detail")
            self.assertIsInstance(error, WireError)
            self.assertEqual((error.code, error.offset, error.detail, error.args),
                             (code, 3, "detail", (code, 3, "detail")))
            if code in self.BUILTIN:
                self.assertIsInstance(error, self.BUILTIN[code], code.name)
                self.assertNotIsInstance(error, ValueError, code.name)
            elif code in (ErrorCode.OK, ErrorCode.LIMIT):
                self.assertIs(type(error), WireError, code.name)
            else:  # every decoding, header, message and range error, and INVAL
                self.assertIsInstance(error, ValueError, code.name)
        self.assertIsInstance(WireError(ErrorCode.TIMEOUT), wire.WireTimeoutError)
        self.assertIsNone(WireError(ErrorCode.CLOSED).errno)  # the wire code is not an errno
        self.assertIs(type(WireError(300)), WireError)

    def test_class_kept_by_shifted_pickle_and_explicit_subclass(self):
        error = wire.WireConnectionError(ErrorCode.TRUNCATED, 4, "cut", path=(1, 2))
        self.assertIsInstance(error, ConnectionError)
        moved = error.shifted(8)
        self.assertIs(type(moved), wire.WireConnectionError)
        self.assertEqual(moved.offset, 12)
        copy = pickle.loads(pickle.dumps(WireError(ErrorCode.UTF8, 5, "bad", (3,))))
        self.assertIs(type(copy), wire.WireValueError)
        self.assertEqual((copy.code, copy.offset, copy.detail, copy.path), (5, 5, "bad", (3,)))
        peer = pickle.loads(pickle.dumps(PeerError(wire.ErrorMessage(19, None, "full"))))
        self.assertEqual((peer.code, peer.error), (ErrorCode.PEER, wire.ErrorMessage(19, None, "full")))

    def test_codec_and_socket_helpers_raise_them(self):
        with self.assertRaises(ValueError):
            wire.decode(b"\x99")
        with self.assertRaises(ValueError):
            wire.encode([("u8", 256)])
        with self.assertRaises(ValueError):
            wire.decode_header(b"\x02\x00\x00\x01\x00\x00\x00\x00")
        left, right = socket.socketpair()
        with left, right:
            with self.assertRaises(TimeoutError):
                wire.recv_frame(left, deadline=time.monotonic() + 0.05)
            right.close()
            with self.assertRaises(WireError):
                wire.recv_exact(left, 1)


class ScriptedServer:
    """One connection on a loopback port, served by ``script(sock, reader)`` in a thread after
    the HELLO exchange (``hello=False``: the script does the handshake itself)."""

    def __init__(self, script: Callable[[socket.socket, wire.FrameReader], None],
                 hello: bool = True, max_payload: int = wire.DEFAULT_MAX_PAYLOAD) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: List[wire.Frame] = []  # what the script read, for the test
        self.error: Optional[BaseException] = None
        self.script, self.hello, self.max_payload = script, hello, max_payload
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            with sock:
                sock.settimeout(5)
                reader = wire.FrameReader(sock, wire.U32_MAX)
                if self.hello:
                    self.received.append(reader.recv_frame())
                    wire.send_frame(sock, MsgType.HELLO, wire.encode_hello(self.max_payload, "script"))
                self.script(sock, reader)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.listener.close()

    def read(self, reader: wire.FrameReader) -> wire.Frame:
        frame = reader.recv_frame()
        self.received.append(frame)
        return frame

    def join(self) -> None:
        self.thread.join(10)
        if self.error is not None:
            raise self.error


class AgainstPythonServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = support.ServerProcess("--max-payload", "1037")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def connect(self) -> Connection:
        return Connection.connect("127.0.0.1", self.server.port, timeout=5)

    def test_request_send_recv_ping_bye(self):
        with self.connect() as conn:
            self.assertEqual((conn.peer_name, conn.peer_max), ("python-server", 1037))
            reply = conn.request(MsgType.ECHO, b"hello")
            self.assertEqual(reply, wire.Frame(MsgType.ECHO_REPLY, b"hello"))
            fields = [("u32", 7), ("list", wire.ListValue("u8", [1, 2])), ("string", "é")]
            for number in range(3):  # pipelined: the replies come in order
                conn.send(MsgType.ROUNDTRIP, fields + [("u8", number)])
            conn.send(MsgType.ECHO, b"before the ping")
            self.assertIsInstance(conn.ping(b"p" * 10), float)  # the replies that came first wait
            for number in range(3):
                self.assertEqual(wire.decode(conn.recv().payload), fields + [("u8", number)])
            self.assertEqual(conn.recv().payload, b"before the ping")
            conn.bye()
            self.assertTrue(conn.closed)
            with self.assertRaises(ConnectionError):
                conn.recv()
            with self.assertRaises(ConnectionError):
                conn.send(MsgType.ECHO, b"")
            conn.bye()  # twice: nothing

    def test_too_large_is_not_sent_and_misuse_is_inval(self):
        with self.connect() as conn:
            with self.assertRaises(ValueError) as caught:
                conn.send(MsgType.ECHO, b"x" * 1038)
            self.assertEqual(caught.exception.code, ErrorCode.TOOBIG)
            with self.assertRaises(ValueError) as caught:
                conn.send(MsgType.PING, b"")
            self.assertEqual(caught.exception.code, ErrorCode.INVAL)
            self.assertEqual(conn.request(MsgType.ECHO, b"x" * 1037).payload, b"x" * 1037)

    def test_peer_error_is_a_connection_error_with_its_message(self):
        conn = self.connect()
        with self.assertRaises(PeerError) as caught:
            conn.request(MsgType.ROUNDTRIP, b"\x99")
        self.assertIsInstance(caught.exception, ConnectionError)
        self.assertEqual(caught.exception.code, ErrorCode.PEER)
        self.assertEqual(caught.exception.error[:2], (ErrorCode.BADTAG, 8))
        self.assertTrue(conn.closed)
        with self.assertRaises(ConnectionError):
            conn.recv()
        conn.close()

    def test_with_block_says_bye(self):
        before = self.server.log_text().count(": BYE")
        with self.connect() as conn:
            conn.request(MsgType.ECHO, b"")
        deadline = time.monotonic() + 5
        while self.server.log_text().count(": BYE") == before and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.server.log_text().count(": BYE"), before + 1)
        self.assertTrue(conn.closed)

    def test_refused_port_and_bad_name(self):
        port = socket.create_server(("127.0.0.1", 0))
        free = port.getsockname()[1]
        port.close()
        with self.assertRaises(ConnectionError):
            Connection.connect("127.0.0.1", free, timeout=2)
        with self.assertRaises(OSError) as caught:
            Connection.connect("no-such-host.invalid", 1, timeout=2)
        self.assertEqual(caught.exception.code, ErrorCode.ADDRESS)


class AgainstScriptedPeers(unittest.TestCase):
    def connect(self, server: ScriptedServer, timeout: float = 5) -> Connection:
        return Connection.connect("127.0.0.1", server.port, timeout=timeout)

    def test_eof_at_a_frame_boundary_raises(self):
        server = ScriptedServer(lambda sock, reader: sock.shutdown(socket.SHUT_WR))
        conn = self.connect(server)
        with self.assertRaises(ConnectionError) as caught:
            conn.recv()
        self.assertEqual(caught.exception.code, ErrorCode.CLOSED)
        self.assertTrue(conn.closed)
        server.join()

    def test_eof_inside_a_frame_is_truncated_and_a_connection_error(self):
        server = ScriptedServer(lambda sock, reader: sock.sendall(wire.encode_frame(
            MsgType.ECHO_REPLY, b"abcdef")[:10]))
        conn = self.connect(server)
        with self.assertRaises(ConnectionError) as caught:
            conn.recv()
        self.assertEqual(caught.exception.code, ErrorCode.TRUNCATED)
        server.join()

    def test_timeout_keeps_the_connection_and_a_half_frame(self):
        go = threading.Event()

        def script(sock, reader):
            frame = wire.encode_frame(MsgType.ECHO_REPLY, b"late")
            sock.sendall(frame[:5])
            go.wait(5)
            sock.sendall(frame[5:])
            server.read(reader)  # the BYE
            wire.send_frame(sock, MsgType.BYE)
        server = ScriptedServer(script)
        conn = self.connect(server)
        with self.assertRaises(TimeoutError) as caught:
            conn.recv(timeout=0.2)
        self.assertEqual(caught.exception.code, ErrorCode.TIMEOUT)
        self.assertFalse(conn.closed)
        go.set()
        self.assertEqual(conn.recv(), wire.Frame(MsgType.ECHO_REPLY, b"late"))
        conn.bye()
        server.join()
        self.assertEqual(server.received[-1].type, MsgType.BYE)

    def test_pings_are_answered_while_waiting_for_a_reply(self):
        def script(sock, reader):
            request = server.read(reader)
            wire.send_frame(sock, MsgType.PING, b"are you there")
            pong = server.read(reader)
            self.assertEqual(pong, wire.Frame(MsgType.PONG, b"are you there"))
            wire.send_frame(sock, MsgType.ECHO_REPLY, request.payload)
        server = ScriptedServer(script)
        with self.connect(server) as conn:
            self.assertEqual(conn.request(MsgType.ECHO, b"q").payload, b"q")
        server.join()

    def test_unsolicited_pong_and_a_second_hello_are_unexpected(self):
        for msg_type in (MsgType.PONG, MsgType.HELLO, 0x0042):
            def script(sock, reader):
                wire.send_frame(sock, msg_type, b"")
                server.read(reader)
            server = ScriptedServer(script)
            conn = self.connect(server)
            with self.assertRaises(ValueError) as caught:
                conn.recv()
            self.assertEqual((caught.exception.code, caught.exception.offset), (ErrorCode.UNEXPECTED, 2))
            server.join()
            self.assertEqual(wire.decode_error(server.received[-1].payload)[:2], (ErrorCode.UNEXPECTED, 2))
            self.assertTrue(conn.closed)

    def test_bad_header_is_answered_with_its_error(self):
        def script(sock, reader):
            sock.sendall(b"\x02\x00\x01\x00\x00\x00\x00\x00")
            server.read(reader)
        server = ScriptedServer(script)
        conn = self.connect(server)
        with self.assertRaises(ValueError) as caught:
            conn.recv()
        self.assertEqual((caught.exception.code, caught.exception.offset), (ErrorCode.VERSION, 0))
        server.join()
        self.assertEqual(server.received[-1].type, MsgType.ERROR)
        self.assertEqual(wire.decode_error(server.received[-1].payload)[:2], (ErrorCode.VERSION, 0))

    def test_peer_bye_is_answered_and_ends_it(self):
        def script(sock, reader):
            wire.send_frame(sock, MsgType.BYE)
            server.read(reader)
        server = ScriptedServer(script)
        conn = self.connect(server)
        with self.assertRaises(ConnectionError) as caught:
            conn.recv()
        self.assertEqual(caught.exception.code, ErrorCode.CLOSED)
        server.join()
        self.assertEqual(server.received[-1], wire.Frame(MsgType.BYE, b""))

    def test_refusal_instead_of_hello_and_a_bad_hello(self):
        def refuse(sock, reader):
            server.read(reader)
            wire.send_frame(sock, MsgType.ERROR, wire.encode_error(ErrorCode.LIMIT, None, "full"))
        server = ScriptedServer(refuse, hello=False)
        with self.assertRaises(PeerError) as caught:
            self.connect(server)
        self.assertEqual(caught.exception.error, wire.ErrorMessage(ErrorCode.LIMIT, None, "full"))
        server.join()

        def bad_hello(sock, reader):
            server.read(reader)
            wire.send_frame(sock, MsgType.HELLO, wire.encode([("u16", 1), ("u32", 10), ("string", "x")]))
            server.read(reader)
        server = ScriptedServer(bad_hello, hello=False)
        with self.assertRaises(ValueError) as caught:
            self.connect(server)
        self.assertEqual((caught.exception.code, caught.exception.offset), (ErrorCode.MESSAGE, 4))
        server.join()
        self.assertEqual(wire.decode_error(server.received[-1].payload)[:2], (ErrorCode.MESSAGE, 12))

    def test_silent_server_times_out_at_connect(self):
        server = ScriptedServer(lambda sock, reader: time.sleep(1), hello=False)
        start = time.monotonic()
        with self.assertRaises(TimeoutError):
            self.connect(server, timeout=0.3)
        self.assertLess(time.monotonic() - start, 2)
        server.join()


class AsyncHelpers(unittest.TestCase):
    def test_exchange_with_the_python_server(self):
        server = support.ServerProcess("--quiet")

        async def exchange():
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await connection.write_frame(writer, MsgType.HELLO, wire.encode_hello(name="asyncio"))
            hello = wire.decode_hello((await connection.read_frame(reader)).payload)
            await connection.write_frame(writer, MsgType.ROUNDTRIP, [("i64", -5), ("bool", True)])
            reply = await connection.read_frame(reader)
            await connection.write_frame(writer, MsgType.BYE)
            bye = await connection.read_frame(reader)
            with self.assertRaises(ConnectionError) as caught:
                await connection.read_frame(reader)
            writer.close()
            return hello, reply, bye, caught.exception.code
        try:
            hello, reply, bye, end = asyncio.run(asyncio.wait_for(exchange(), 10))
        finally:
            server.stop()
        self.assertEqual(hello.name, "python-server")
        self.assertEqual((reply.type, wire.decode(reply.payload)),
                         (MsgType.ROUNDTRIP_REPLY, [("i64", -5), ("bool", True)]))
        self.assertEqual((bye.type, end), (MsgType.BYE, ErrorCode.CLOSED))

    def read(self, data: bytes, max_payload: int = wire.DEFAULT_MAX_PAYLOAD, eof: bool = True):
        async def run():
            reader = asyncio.StreamReader()
            reader.feed_data(data)
            if eof:
                reader.feed_eof()
            return await asyncio.wait_for(connection.read_frame(reader, max_payload), 2)
        return asyncio.run(run())

    def test_read_frame_errors(self):
        frame = wire.encode_frame(MsgType.ECHO, b"abc")
        self.assertEqual(self.read(frame + frame), wire.Frame(MsgType.ECHO, b"abc"))
        for data, code in ((b"", ErrorCode.CLOSED), (frame[:3], ErrorCode.TRUNCATED),
                           (frame[:9], ErrorCode.TRUNCATED)):
            with self.assertRaises(ConnectionError) as caught:
                self.read(data)
            self.assertEqual(caught.exception.code, code, data)
        with self.assertRaises(ValueError) as caught:
            self.read(b"\x01\x01" + frame[2:])
        self.assertEqual((caught.exception.code, caught.exception.offset), (ErrorCode.HEADER, 1))
        # judged from the header: the 2000 announced bytes are never waited for
        with self.assertRaises(ValueError) as caught:
            self.read(wire.encode_header(MsgType.ECHO, 2000), max_payload=1037, eof=False)
        self.assertEqual((caught.exception.code, caught.exception.offset), (ErrorCode.TOOBIG, 4))


if __name__ == "__main__":
    unittest.main()
