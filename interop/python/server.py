#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""wire interop server: the connection lifecycle of SPEC 8 and the interop service of SPEC 10,
one thread per connection. Options: SPEC 9.3 (``server.py --help``).

Prints the listening port alone on the first stdout line, logs one line per connection to stderr
when it ends (unless --quiet). SIGTERM or SIGINT: stop accepting, answer the frames in flight,
close every connection, exit 0 (SPEC 9.3). With --udp, one more thread serves the UDP datagram
profile (SPEC 15) on the UDP port of the same number, answering each datagram from itself alone.
"""

import argparse
import array
import ctypes
import errno
import math
import os
import select
import selectors
import signal
import socket
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

if __package__:  # installed: the wireproto package
    from . import vectors, wire
    from .wire import ErrorCode, Field, MsgType, WireError
else:  # run as a script, or imported from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import vectors
    import wire
    from wire import ErrorCode, Field, MsgType, WireError

SERVER_NAME = "python-server"
PROGRAM_VERSION = "0.1.0"
I64_MIN, I64_MAX = wire.INT_RANGES["i64"]

# SPEC 9.3: defaults and accepted ranges of the options.
DEFAULT_MAX_CONNS = 1024
MAX_CONNS_LIMIT = 1000000
DEFAULT_IDLE_TIMEOUT = 60
DEFAULT_FRAME_TIMEOUT = 10
TIMEOUT_LIMIT = 86400  # seconds: one day
REFUSE_DRAIN_SECONDS = 0.2  # a refused connection's drain: short, it had no chance to send much
REFUSE_DRAINING_MAX = 256  # refused connections drained at once; past it, closed at once
# Requests up to this size are decoded and encoded again (SPEC 10.3, the codec test of 3.7);
# larger ones are only validated and their bytes sent back, which a strict decoder makes equal.
ROUNDTRIP_CODEC_MAX = 4096
# Payloads larger than this take their length from the server-wide in-flight budget while
# they are received and answered; smaller ones cost at most this much each.
BUDGET_EXEMPT = 64 * 1024
MIN_BUDGET = 16 * 1024 * 1024  # the budget is the larger of this and 2 x --max-payload
EMFILE_PAUSE_SECONDS = 0.1  # out of descriptors and no reserve: stop accepting this long
STOP_POLL_SECONDS = 0.2  # how soon a connection waiting between frames sees the server stop

# Status byte of VECTOR_RESULT (SPEC 10.4).
MATCH, MISMATCH, UNKNOWN_VECTOR = 0, 1, 2

# The interop requests this server serves (SPEC 10.2 - 10.6); every other type after the
# handshake, but PING and BYE, is UNEXPECTED (SPEC 8.6, 10.1).
SERVED = frozenset((MsgType.ECHO, MsgType.ROUNDTRIP, MsgType.VECTOR_CHECK, MsgType.VECTOR_GET,
                    MsgType.STATS))


def compute_stats(ints: Sequence[int], floats: Sequence[float], data: bytes) -> List[Field]:
    """The seven STATS_REPLY fields for a STATS request (SPEC 10.6)."""
    wrapped = (sum(ints) - I64_MIN) % (1 << 64) + I64_MIN
    float_sum = 0.0
    float_min, float_max = math.inf, -math.inf
    # An explicit loop, not sum(): Python 3.12+ sum() of floats is compensated, while SPEC 10.6
    # asks for plain left-to-right binary64 additions.
    for value in floats:
        float_sum += value
        if value < float_min:
            float_min = value
        if value > float_max:
            float_max = value
    return [
        ("i64", wrapped),
        ("i64", min(ints) if ints else I64_MAX),
        ("i64", max(ints) if ints else I64_MIN),
        ("f64", float_sum),
        ("f64", float_min),
        ("f64", float_max),
        ("u32", zlib.crc32(data) & 0xFFFFFFFF),
    ]


def _longest(fields: Sequence[Field]) -> int:
    """The longest sequence in ``fields``: the fields themselves, a list's items, a group's fields."""
    longest = len(fields)
    for type_name, value in fields:
        if type_name == "group":
            longest = max(longest, _longest(value))
        elif type_name == "list":
            longest = max(longest, _longest([(value.elem, item) for item in value.items]))
    return longest


RESULT_TEXT_MAX = 1000  # characters of VECTOR_RESULT's expected / got (SPEC 10.4 lets us shorten)


def _clip(text: str) -> str:
    if len(text) <= RESULT_TEXT_MAX:
        return text
    return "%s...(%d characters)" % (text[:RESULT_TEXT_MAX - 40], len(text))


class _Closed(Exception):
    """The session is over; the argument says why (for the log line)."""


class Session:
    """One connection: HELLO exchange, then requests answered in order until BYE, EOF or error.
    Every frame goes through the steps of SPEC 8.3 in order."""

    def __init__(self, server: "InteropServer", sock: socket.socket, peer: str) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.reader = wire.FrameReader(sock, server.max_payload)
        self.peer_max: Optional[int] = None  # None until the peer's HELLO: the handshake is done
        self.frames_in = self.frames_out = self.bytes_out = 0
        self.reserved = 0  # in-flight budget held for the frame being received or answered
        self.handlers: Dict[int, Callable[[bytes], Optional[str]]] = {
            MsgType.HELLO: self.on_hello,
            MsgType.PING: self.on_ping,
            MsgType.BYE: self.on_bye,
            MsgType.ECHO: lambda payload: self.reply(MsgType.ECHO_REPLY, payload),
            MsgType.ROUNDTRIP: self.on_roundtrip,
            MsgType.VECTOR_CHECK: self.on_vector_check,
            MsgType.VECTOR_GET: self.on_vector_get,
            MsgType.STATS: self.on_stats,
        }

    def run(self) -> None:
        """Serve the connection, close it gracefully, and log one line."""
        try:
            outcome = self.serve()
        except _Closed as closed:
            outcome = str(closed)
        except Exception as exc:  # a bug must cost one connection, not the server
            outcome = "internal error: %r" % (exc,)
        finally:
            self.release()
            wire.close_gracefully(self.sock)
        self.server.log("%s: closed after %d frames in (%d bytes), %d frames out (%d bytes): %s"
                        % (self.peer, self.frames_in, self.reader.bytes_in, self.frames_out,
                           self.bytes_out, outcome))

    def serve(self) -> str:
        while True:
            frame = self.receive()
            if frame is None:
                return "EOF"
            try:
                outcome = self.handlers[frame.type](frame.payload)
            except WireError as exc:
                # The payload's codec errors and the fields' MESSAGE (or HELLO's VERSION) errors
                # carry payload offsets; on the wire they count the header (SPEC 5.1).
                self.fail(exc.code, None if exc.offset is None else wire.HEADER_SIZE + exc.offset,
                          exc.detail)
            finally:
                frame = None  # the payload goes before its budget does
                self.release()
            if outcome is not None:
                return outcome

    def release(self) -> None:
        """Give the in-flight budget taken for the frame just answered back."""
        if self.reserved:
            self.server.budget.release(self.reserved)
            self.reserved = 0

    # ---- receiving: SPEC 8.3 steps 1 to 3, and the timeouts of SPEC 9.3 ----

    def receive(self) -> Optional[wire.Frame]:
        """The next frame whose type is allowed now; None at EOF at a frame boundary. Anything
        else ends the session: ERROR for a bad header, a type not allowed, a timeout; nothing
        for an ERROR from the peer or EOF inside a frame."""
        # The idle timeout runs until a frame's first byte; from there the frame timeout.
        idle = self.server.idle_timeout
        try:
            if not self.wait_start(time.monotonic() + idle):
                return None
        except WireError as exc:
            self.lost(exc, "no frame received for %g s" % idle)
        frame_timeout = self.server.frame_timeout
        deadline = time.monotonic() + frame_timeout
        too_slow = "a frame not complete within %g s" % frame_timeout
        try:
            msg_type, length = self.reader.read_header(deadline)
        except WireError as exc:
            if exc.offset is not None:  # step 1: the header's own checks, at header offsets
                self.fail(exc.code, exc.offset, exc.detail)
            self.lost(exc, too_slow)
        if msg_type == MsgType.ERROR:
            self.on_peer_error(length, deadline)
        why = self.refuses(msg_type)
        if why is not None:
            # Step 3 from the header alone: the payload may be large or never come.
            self.fail(ErrorCode.UNEXPECTED, 2, "%s (message type 0x%04x)" % (why, msg_type))
        if length > BUDGET_EXEMPT:
            self.server.budget.acquire(length, self.server.stopping)
            self.reserved = length
            # Waiting for the budget was the server's doing: the frame's time starts again.
            deadline = max(deadline, time.monotonic() + frame_timeout)
        try:
            payload = self.reader.read_payload(length, deadline)
        except WireError as exc:
            self.lost(exc, too_slow)
        self.frames_in += 1
        return wire.Frame(msg_type, payload)

    def wait_start(self, deadline: float) -> bool:
        """reader.wait_start(), in short waits so that a server stopping (SIGTERM) ends the
        connection here, between frames, and only here: a frame begun is answered first."""
        while True:
            if self.server.stopping.is_set() and not self.reader.buffered():
                raise _Closed("shutdown")
            step = min(deadline, time.monotonic() + STOP_POLL_SECONDS)
            try:
                return self.reader.wait_start(step)
            except WireError as exc:
                if exc.code != ErrorCode.TIMEOUT or time.monotonic() >= deadline:
                    raise

    def lost(self, exc: WireError, timeout_text: str) -> NoReturn:
        """A read failed: TIMEOUT is answered; EOF inside a frame or a broken connection is not
        (SPEC 8.5: the partial frame is lost, the frames before it were answered)."""
        if exc.code == ErrorCode.TIMEOUT:
            self.fail(ErrorCode.TIMEOUT, None, timeout_text)
        raise _Closed("%s: %s" % (exc.name, exc.detail or wire.error_text(exc.code)))

    def refuses(self, msg_type: int) -> Optional[str]:
        """Why ``msg_type`` is not allowed now (SPEC 8.6), or None."""
        if self.peer_max is None:
            return None if msg_type == MsgType.HELLO else "the first frame must be HELLO"
        if msg_type == MsgType.HELLO:
            return "HELLO was already exchanged"
        if msg_type == MsgType.PONG:
            return "a PONG that answers no PING"  # this server never sends PING
        if msg_type in (MsgType.PING, MsgType.BYE) or msg_type in SERVED:
            return None
        if msg_type < 0x0100:
            return "not a control message of protocol version 1"
        if msg_type < 0x0200:
            return "not a request this server serves"
        if msg_type < 0x8000:
            return "a reserved message type"
        return "not an application message this server serves"

    def on_peer_error(self, length: int, deadline: float) -> NoReturn:
        """SPEC 7.4, 8.3 step 2: an ERROR ends the connection and is never answered, even when
        its payload is malformed or never comes. Its payload is read only for the log line,
        and only when it is no longer than the largest valid ERROR payload."""
        if length > wire.MIN_MAX_PAYLOAD:
            raise _Closed("peer sent an ERROR header announcing %d bytes" % length)
        try:
            payload = self.reader.read_payload(length, deadline)
        except WireError as exc:
            raise _Closed("peer sent an ERROR header, then %s" % exc.name) from None
        self.frames_in += 1
        try:
            error = wire.decode_error(payload)
        except WireError as exc:
            raise _Closed("peer sent a malformed ERROR (%s)" % exc) from None
        where = "" if error.offset is None else " at %d" % error.offset
        raise _Closed("peer sent ERROR %s%s: %s" % (wire.error_name(error.code), where,
                                                     error.message[:120]))

    # ---- sending ----

    def send(self, msg_type: int, payload: bytes) -> None:
        """Send one frame. A peer that does not read it within the idle timeout is dropped
        without an ERROR, which could not get past the unread data (SPEC 9.3)."""
        try:
            wire.send_frame(self.sock, msg_type, payload, time.monotonic() + self.server.idle_timeout)
        except WireError as exc:
            raise _Closed("cannot send: %s" % exc) from None
        self.frames_out += 1
        self.bytes_out += wire.HEADER_SIZE + len(payload)

    def reply(self, msg_type: int, payload: bytes) -> None:
        """Send a reply, never larger than the max_payload the peer announced (SPEC 10.1)."""
        assert self.peer_max is not None
        if len(payload) > self.peer_max:
            raise WireError(ErrorCode.TOOBIG, None, "the reply has %d bytes, the peer accepts %d"
                            % (len(payload), self.peer_max))
        self.send(msg_type, payload)

    def fail(self, code: int, offset: Optional[int], text: str) -> NoReturn:
        """Send ERROR and end the session (run() then closes gracefully, SPEC 8.4)."""
        text = wire.clip_error_text(text or wire.error_text(code))
        try:
            self.send(MsgType.ERROR, wire.encode_error(code, offset, text))
        except _Closed:
            pass  # the peer is gone; the log line still records the error
        where = "" if offset is None else " at %d" % offset
        raise _Closed("sent ERROR %s%s: %s" % (wire.error_name(code), where, text))

    # ---- the messages (SPEC 8.3 steps 4 to 6) ----

    def on_hello(self, payload: bytes) -> None:
        hello = wire.decode_hello(payload)  # decoded whole, then checked in order, version first
        self.peer_max = hello.max_payload
        # Every HELLO fits any max_payload a peer may announce (at least 1037, SPEC 8.1).
        self.send(MsgType.HELLO, wire.encode_hello(self.server.max_payload, SERVER_NAME))

    def on_ping(self, payload: bytes) -> None:
        self.reply(MsgType.PONG, wire.pong_payload(payload))

    def on_bye(self, payload: bytes) -> str:
        wire.decode_bye(payload)
        self.send(MsgType.BYE, b"")
        return "BYE"

    def on_roundtrip(self, payload: bytes) -> None:
        # Decoded (or validated) before the size check: a decoding error is reported first.
        if len(payload) <= ROUNDTRIP_CODEC_MAX:
            reply = wire.encode(wire.decode(payload))
        else:  # the value tree of 16 MiB can cost 36 times that, and the answer is the same
            wire.validate(payload)
            reply = payload
        self.reply(MsgType.ROUNDTRIP_REPLY, reply)

    def on_vector_check(self, payload: bytes) -> None:
        fields = wire.MessageFields(payload, "VECTOR_CHECK")
        name = fields.take(0, "string", "name")
        expected = self.server.vectors.get(name)
        if expected is None:
            result: Tuple[int, str, str, str] = (UNKNOWN_VECTOR, "", "", "")
        else:
            # The comparison stops at the first item past the end of any of the vector's
            # sequences, so nothing beyond that is decoded: a 16 MiB request costs no value tree.
            got = (wire.decode_capped(fields.payload, fields.starts[1], _longest(expected) + 1)
                   if len(fields) > 1 else [])
            mismatch = vectors.first_mismatch(expected, got)
            result = ((MATCH, "", "", "") if mismatch is None
                      else (MISMATCH, mismatch.path, _clip(mismatch.expected), _clip(mismatch.got)))
        self.send_result(result)

    def on_vector_get(self, payload: bytes) -> None:
        fields = wire.MessageFields(payload, "VECTOR_GET")
        name = fields.take(0, "string", "name")
        fields.no_more(1)
        values = self.server.vectors.get(name)
        if values is None:
            self.send_result((UNKNOWN_VECTOR, "", "", ""))
        else:  # encoded from the parsed values, never copied from the vector's hex (SPEC 10.5)
            self.reply(MsgType.VECTOR_DATA, wire.encode([("string", name)] + values))

    def send_result(self, result: Tuple[int, str, str, str]) -> None:
        status, path, expected, got = result
        self.reply(MsgType.VECTOR_RESULT, wire.encode(
            [("u8", status), ("string", path), ("string", expected), ("string", got)]))

    def on_stats(self, payload: bytes) -> None:
        fields = wire.MessageFields(payload, "STATS")
        ints = self.number_list(fields, 0, "i64", "ints", "q")
        floats = self.number_list(fields, 1, "f64", "floats", "d")
        data = fields.take(2, "bytes", "data")
        fields.no_more(3)
        self.reply(MsgType.STATS_REPLY, wire.encode(compute_stats(ints, floats, data)))

    @staticmethod
    def number_list(fields: wire.MessageFields, index: int, elem: str, name: str,
                    code: str) -> "array.array[Any]":
        """A validated list of i64 or f64 as a packed array (8 bytes an element, where a list
        of Python numbers costs about 40), with the checks of take_list."""
        at = fields.locate(index, "list", name)
        if fields.payload[at] != wire.TYPE_TAGS[elem]:
            raise fields.not_allowed(index, "field %d (%s) is a list of %s, not of %s"
                                     % (index, name, wire.TAG_TYPES[fields.payload[at]], elem))
        count = int.from_bytes(fields.payload[at + 1:at + 5], "big")
        values = array.array(code)
        assert values.itemsize == 8
        with memoryview(fields.payload) as view:
            values.frombytes(view[at + 5:at + 5 + 8 * count])
        if sys.byteorder == "little":
            values.byteswap()
        return values


def _discard_and_close(sock: socket.socket) -> None:
    """Read what already arrived (so that close() sends FIN, not an RST that could destroy the
    ERROR in flight, SPEC 8.4), without waiting, then close."""
    try:
        sock.setblocking(False)
        for _ in range(16):
            if not sock.recv(65536):
                break
    except OSError:
        pass
    sock.close()


class Drainer:
    """One thread that finishes the graceful close (SPEC 8.4) of every refused connection: read
    and discard until EOF or REFUSE_DRAIN_SECONDS, then close. At most REFUSE_DRAINING_MAX at
    once (each holds a descriptor); past that a refused connection is closed at once."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.lock = threading.Lock()
        self.incoming: List[socket.socket] = []
        self.deadlines: Dict[socket.socket, float] = {}
        self.scratch = bytearray(65536)
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            if len(self.incoming) + len(self.deadlines) >= REFUSE_DRAINING_MAX:
                full = True
            else:
                full = False
                self.incoming.append(sock)
        if full:
            _discard_and_close(sock)
            return
        try:
            self.wake_w.send(b"\0")
        except OSError:
            pass  # a wake-up byte is already waiting

    def run(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        while self.running:
            with self.lock:
                incoming, self.incoming = self.incoming, []
            now = time.monotonic()
            for sock in incoming:
                try:
                    self.selector.register(sock, selectors.EVENT_READ)
                except (OSError, ValueError):
                    sock.close()  # the thread must live on: every refusal relies on it
                    continue
                self.deadlines[sock] = now + REFUSE_DRAIN_SECONDS
            for sock, deadline in list(self.deadlines.items()):
                if deadline <= now:
                    self.finish(sock)
            wait = min(self.deadlines.values(), default=now + 1.0) - now
            for key, _ in self.selector.select(max(0.0, wait)):
                sock = key.fileobj
                if sock is self.wake_r:
                    try:
                        while self.wake_r.recv(4096):
                            pass
                    except OSError:
                        pass
                    continue
                try:
                    count = sock.recv_into(self.scratch)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    count = 0
                if not count:
                    self.finish(sock)  # type: ignore[arg-type]

    def finish(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        del self.deadlines[sock]
        sock.close()

    def stop(self) -> None:
        self.running = False
        try:
            self.wake_w.send(b"\0")
        except OSError:
            pass
        self.thread.join(REFUSE_DRAIN_SECONDS + 1)


class InflightBudget:
    """Payload bytes of the large frames being received or answered at once, server-wide, so that
    N concurrent 16 MiB requests do not cost N times one. A frame that does not fit waits (its
    bytes stay in the kernel's socket buffers); one frame alone always fits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.changed = threading.Condition()

    def acquire(self, size: int, stopping: threading.Event) -> None:
        with self.changed:
            while self.used and self.used + size > self.limit:
                if stopping.is_set():
                    raise _Closed("shutdown")
                self.changed.wait(STOP_POLL_SECONDS)
            self.used += size

    def release(self, size: int) -> None:
        with self.changed:
            self.used -= size
            self.changed.notify_all()


# ---- the UDP datagram profile (SPEC 15) ----

# What is served over UDP (SPEC 15.5): PING and the interop requests, each answered from its own
# datagram alone. ERROR is dropped; everything else is UNEXPECTED at 2.
UDP_SERVED = SERVED | {MsgType.PING}
UDP_BIND_ATTEMPTS = 64  # --port 0: TCP and UDP ports of the same number, tried this many times


class DatagramRequest(Session):
    """One request datagram, answered by the Session's own handlers (so that every message is
    served exactly as over TCP, SPEC 15.5): the reply they send is kept as the one answer rather
    than written to a stream, and the WireErrors they raise become the ERROR answering it."""

    def __init__(self, server: "InteropServer") -> None:
        # No socket, no reader, no budget: only the handlers and their reply path are used.
        self.server = server
        self.peer = "udp"
        self.peer_max = wire.UDP_MAX_PAYLOAD  # a reply must fit in one datagram (SPEC 15.4)
        self.reserved = 0
        self.frames_in = self.frames_out = self.bytes_out = 0
        self.answer: Optional[Tuple[int, bytes]] = None
        self.handlers = {
            MsgType.PING: self.on_ping,
            MsgType.ECHO: lambda payload: self.reply(MsgType.ECHO_REPLY, payload),
            MsgType.ROUNDTRIP: self.on_roundtrip,
            MsgType.VECTOR_CHECK: self.on_vector_check,
            MsgType.VECTOR_GET: self.on_vector_get,
            MsgType.STATS: self.on_stats,
        }

    def send(self, msg_type: int, payload: bytes) -> None:
        self.answer = (msg_type, payload)


class UdpService:
    """The UDP side of the server (SPEC 15): one thread reading datagrams from one socket and
    answering each at once, to its source address. No state is kept per client."""

    def __init__(self, server: "InteropServer", sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        # The server's UDP max payload: the smaller of the datagram's and --max-payload (SPEC 15.4).
        self.max_payload = min(wire.UDP_MAX_PAYLOAD, server.max_payload)
        self.datagrams_in = self.answers_out = self.dropped = self.truncated = 0
        self.thread: Optional[threading.Thread] = None

    def answer(self, data: bytes) -> Optional[bytes]:
        """The datagram answering ``data`` (SPEC 15.3, in its order), or None: nothing is sent."""
        request_id = wire.datagram_id(data)
        if request_id is None:  # step 1: no id to answer with
            return None
        try:
            _, msg_type, _ = wire.decode_datagram_header(data, self.max_payload)  # steps 2, 3
            if msg_type == MsgType.ERROR:  # step 4: never answered (SPEC 7.4), whatever its size
                return None
            datagram = wire.decode_datagram(data, self.max_payload)  # step 5
        except WireError as exc:
            return self.error(request_id, exc.code, exc.offset, exc.detail)
        if datagram.type not in UDP_SERVED:  # step 6
            return self.error(request_id, ErrorCode.UNEXPECTED, 2,
                              "message type 0x%04x is not served over UDP" % datagram.type)
        request = DatagramRequest(self.server)
        try:  # step 7: the payload, as over TCP; its offsets count the header (SPEC 5.1)
            request.handlers[datagram.type](datagram.payload)
        except WireError as exc:
            return self.error(request_id, exc.code,
                              None if exc.offset is None else wire.HEADER_SIZE + exc.offset,
                              exc.detail)
        assert request.answer is not None
        msg_type, payload = request.answer
        return wire.encode_datagram(request_id, msg_type, payload)

    @staticmethod
    def error(request_id: int, code: int, offset: Optional[int], text: str) -> bytes:
        return wire.encode_datagram(request_id, MsgType.ERROR, wire.encode_error(
            code, offset, wire.clip_error_text(text or wire.error_text(code))))

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        # Only the main thread takes SIGTERM/SIGINT (as InteropServer.worker says why).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        # Short waits, so that a stopping server ends this loop between datagrams.
        self.sock.settimeout(STOP_POLL_SECONDS)
        while not self.server.stopping.is_set():
            try:
                data, source, truncated = wire.recv_datagram(self.sock)
            except socket.timeout:
                continue
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.ECONNREFUSED, errno.ENOBUFS, errno.ENOMEM):
                    continue  # (ECONNREFUSED: an ICMP error for an earlier answer)
                self.server.log("udp: receive failed: %s; UDP service stopped" % exc)
                return
            self.datagrams_in += 1
            self.truncated += truncated  # judged on what arrived: LENGTH or TOOBIG (SPEC 15.4)
            try:
                reply = self.answer(data)
            except Exception as exc:  # a bug must cost one datagram, not the service
                self.server.log("udp: internal error on a datagram from %s: %r" % (source[:2], exc))
                reply = None
            if reply is None:
                self.dropped += 1
                continue
            try:
                self.sock.sendto(reply, source)
                self.answers_out += 1
            except OSError:
                self.dropped += 1  # the kernel refused it: loss like any other (SPEC 15.1)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join(STOP_POLL_SECONDS * 10 + 5)
            self.server.log("udp: %d datagrams in (%d truncated), %d answered, %d not answered"
                            % (self.datagrams_in, self.truncated, self.answers_out, self.dropped))
            self.thread = None


def _udp_socket(family: int, host: str, port: int, dualstack: bool) -> socket.socket:
    """A UDP socket bound to host:port; '::' takes IPv4 too, as the TCP listener does."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dualstack else 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class InteropServer:
    """Listening socket plus the accept loop; each connection runs a Session in its own thread."""

    def __init__(self, host: str, port: int, vector_values: Dict[str, List[Field]],
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, max_conns: int = DEFAULT_MAX_CONNS,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 frame_timeout: float = DEFAULT_FRAME_TIMEOUT, quiet: bool = False,
                 udp: bool = False) -> None:
        self.vectors = vector_values
        self.max_payload = max_payload
        self.max_conns = max_conns
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.quiet = quiet
        self.budget = InflightBudget(max(MIN_BUDGET, 2 * max_payload))
        self.open_conns = 0
        self.lock = threading.Lock()  # open_conns and the log
        self.stopping = threading.Event()  # SIGTERM/SIGINT: the connections end between frames
        self.all_closed = threading.Condition(self.lock)
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        # "::" serves IPv6 and IPv4 together (SPEC 9.3).
        dualstack = family == socket.AF_INET6 and socket.has_dualstack_ipv6()
        # socket.SOMAXCONN, the kernel's own cap: a burst of clients waits in the accept queue for its
        # answer, where past a backlog of 128 their SYNs were dropped and retried 1, 3, 7 s later
        self.udp: Optional[UdpService] = None
        for attempt in range(UDP_BIND_ATTEMPTS):
            self.listener = socket.create_server((host, port), family=family,
                                                 backlog=socket.SOMAXCONN, dualstack_ipv6=dualstack)
            self.port: int = self.listener.getsockname()[1]
            if not udp:
                break
            # SPEC 15.8: UDP on the port number TCP got; if that UDP port is taken, both again.
            try:
                self.udp = UdpService(self, _udp_socket(family, host, self.port, dualstack))
                break
            except OSError as exc:
                self.listener.close()
                if port != 0 or exc.errno != errno.EADDRINUSE or attempt + 1 == UDP_BIND_ATTEMPTS:
                    raise
        self.drainer = Drainer()
        # A descriptor kept in reserve for refusing connections when they run out (SPEC 9.3).
        self.reserve: Optional[int] = None
        self.take_reserve()
        self.emfile_logged = -1.0  # when the last line about EMFILE was logged
        self.emfile_refused = 0  # refused for it since that line
        self.emfile_since = False  # out of descriptors since the last accept that worked

    def log(self, line: str) -> None:
        if self.quiet:
            return
        with self.lock:
            sys.stderr.write("%s: %s\n" % (SERVER_NAME, line))
            sys.stderr.flush()

    def serve_forever(self) -> None:
        if self.udp is not None and self.udp.thread is None:
            self.udp.start()
        while True:
            try:
                sock, address = self.listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.out_of_descriptors(exc)
                    continue
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR):
                    continue  # that client is gone already; the next one may be fine
                raise
            self.emfile_since = False
            peer = ("[%s]:%d" if ":" in address[0] else "%s:%d") % address[:2]
            with self.lock:
                admitted = self.open_conns < self.max_conns
                if admitted:
                    self.open_conns += 1
            if not admitted:
                self.refuse(sock, peer)
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=self.worker, args=(self.session, sock, peer),
                                 daemon=True).start()
            except (OSError, RuntimeError) as exc:  # RuntimeError: no thread can be started
                with self.lock:
                    self.open_conns -= 1
                self.refuse(sock, peer, "cannot serve it (%s)" % exc)

    def out_of_descriptors(self, exc: OSError) -> None:
        """accept() failed for want of a descriptor (SPEC 9.3): give the reserve back, accept
        what is pending and refuse it with ERROR(LIMIT) at once, take the reserve again; without
        a reserve, stop accepting for a moment. Never a busy loop, at most one log line a second."""
        refused = 0
        if self.reserve is not None:
            os.close(self.reserve)
            self.reserve = None
            self.listener.setblocking(False)
            try:
                for _ in range(self.max_conns):  # bounded: a flood cannot keep us here
                    try:
                        sock, _address = self.listener.accept()
                    except OSError:
                        break  # nothing pending (or the descriptor went elsewhere)
                    self.send_limit(sock, "out of descriptors")
                    _discard_and_close(sock)
                    refused += 1
            finally:
                self.listener.setblocking(True)
            self.take_reserve()
        if self.reserve is None:
            time.sleep(EMFILE_PAUSE_SECONDS)
        elif not refused:
            # Linux fails accept() with EMFILE before looking for a connection: wait for one
            # (poll needs no descriptor) rather than call it again at once.
            waiter = select.poll()
            waiter.register(self.listener, select.POLLIN)
            waiter.poll(1000)
        self.emfile_refused += refused
        now = time.monotonic()
        if (self.emfile_refused or not self.emfile_since) and now - self.emfile_logged >= 1.0:
            self.emfile_logged = now
            self.log("out of descriptors (%s): %d connections refused with LIMIT since the last"
                     " such line" % (exc.strerror, self.emfile_refused))
            self.emfile_refused = 0
        self.emfile_since = True

    def take_reserve(self) -> None:
        try:
            self.reserve = os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self.reserve = None

    @staticmethod
    def send_limit(sock: socket.socket, why: str) -> None:
        """ERROR(LIMIT, none) without waiting: a new socket's empty send buffer takes it whole."""
        try:
            sock.setblocking(False)
            sock.send(wire.encode_frame(MsgType.ERROR, wire.encode_error(
                ErrorCode.LIMIT, None, wire.clip_error_text(why))))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # nothing more to do for a peer we are turning away

    @staticmethod
    def worker(target: Callable[[socket.socket, str], None], sock: socket.socket, peer: str) -> None:
        # Only the main thread may take SIGTERM/SIGINT: a signal delivered to a worker would not
        # interrupt the main thread's accept(), so the server would not stop until the next client.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        target(sock, peer)

    def session(self, sock: socket.socket, peer: str) -> None:
        try:
            Session(self, sock, peer).run()
        finally:
            with self.lock:
                self.open_conns -= 1
                self.all_closed.notify_all()

    def stop(self) -> None:
        """SPEC 9.3: stop accepting, let every connection answer the frame it is receiving and
        close, within the frame timeout (plus the graceful close's drain)."""
        self.listener.close()
        self.stopping.set()
        if self.udp is not None:
            self.udp.stop()  # it answers the datagram it holds, then reads no more
        limit = time.monotonic() + self.frame_timeout + wire.DRAIN_SECONDS + 1
        with self.lock:
            while self.open_conns > 0 and time.monotonic() < limit:
                self.all_closed.wait(limit - time.monotonic())

    def refuse(self, sock: socket.socket, peer: str, why: Optional[str] = None) -> None:
        """One connection more than --max-conns (or one no thread can serve): ERROR(LIMIT, none),
        then a graceful close whose drain the drainer thread does, so the accept loop never waits
        for a refused client."""
        self.send_limit(sock, why or "too many connections (%d)" % self.max_conns)
        self.drainer.add(sock)
        self.log("%s: refused: LIMIT, %s" % (peer, why or "%d connections open" % self.max_conns))

    def close(self) -> None:
        self.listener.close()
        if self.udp is not None:
            self.stopping.set()
            self.udp.stop()
            self.udp.sock.close()
        self.drainer.stop()
        if self.reserve is not None:
            os.close(self.reserve)
            self.reserve = None


class _Stop(Exception):
    """Raised by the signal handler to leave the accept loop."""


def _stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def _number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a decimal integer in low..high (SPEC 9.3: a value out of range is a usage
    error, exit status 2)."""
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError("%r is not a number in %d..%d" % (text, low, high))
        return int(text)
    return parse


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="server.py", allow_abbrev=False,
        description="wire interop server (Python): the interop service of SPEC.md 10, one thread per"
                    " connection (--udp: and over UDP, SPEC.md 15, on the same port number)."
                    " Prints the listening port alone on stdout's first line.",
        epilog="Memory: an idle connection costs about 20 KiB; a frame's payload is never allocated"
               " ahead of its bytes. A request costs about 2x its payload while it is received and"
               " answered (2.0x to 2.4x measured for ROUNDTRIP, STATS, VECTOR_CHECK). Payloads over %d KiB take their size from a server-wide"
               " in-flight budget of max(%d MiB, 2 x --max-payload) bytes: at most that much such"
               " payload is being received or answered at once, the other frames wait unread (the"
               " wait does not count against their frame timeout). Out of descriptors, pending"
               " connections get ERROR(LIMIT) at once (one is kept in reserve for that)."
               % (BUDGET_EXEMPT // 1024, MIN_BUDGET // (1024 * 1024)))
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; '::' = IPv6 and IPv4)")
    parser.add_argument("--port", type=wire.port_number(0), default=0,
                        help="TCP port, 0..65535 (default 0: the system picks a free one)")
    parser.add_argument("--max-payload", type=_number(wire.MIN_MAX_PAYLOAD, wire.U32_MAX - wire.HEADER_SIZE),
                        default=wire.DEFAULT_MAX_PAYLOAD, metavar="BYTES",
                        help="largest payload accepted, announced in HELLO (default %%(default)s,"
                             " at least %d)" % wire.MIN_MAX_PAYLOAD)
    parser.add_argument("--max-conns", type=_number(1, MAX_CONNS_LIMIT), default=DEFAULT_MAX_CONNS,
                        metavar="N", help="connections at once (default %(default)s); one more gets"
                                          " ERROR(LIMIT) and is closed")
    parser.add_argument("--idle-timeout", type=_number(1, TIMEOUT_LIMIT), default=DEFAULT_IDLE_TIMEOUT,
                        metavar="SEC", help="no complete frame for SEC s: ERROR(TIMEOUT), close"
                                            " (default %(default)s)")
    parser.add_argument("--frame-timeout", type=_number(1, TIMEOUT_LIMIT),
                        default=DEFAULT_FRAME_TIMEOUT, metavar="SEC",
                        help="a started frame must be complete within SEC s, else ERROR(TIMEOUT),"
                             " close (default %(default)s)")
    parser.add_argument("--vectors", metavar="FILE",
                        help="vectors for VECTOR_CHECK / VECTOR_GET (default: vectors.txt in"
                             " $WIRE_PROTO_DIR, ./proto, or this source tree's proto/)")
    parser.add_argument("--quiet", action="store_true", help="no per-connection log lines")
    parser.add_argument("--udp", action="store_true",
                        help="also serve the UDP datagram profile (SPEC.md 15) on the UDP port with"
                             " the same number as the TCP port")
    parser.add_argument("--version", action="version",
                        version="%s %s, protocol version %d" % (SERVER_NAME, PROGRAM_VERSION,
                                                                wire.PROTOCOL_VERSION))
    return parser.parse_args(argv)


def _give_large_blocks_back() -> None:
    """glibc raises its mmap threshold each time a large block is freed, so after the first one
    every 16 MiB payload comes from the heap of the thread that made it, which keeps the pages
    after free: 8 threads then held 200 MB though the budget allowed 2 payloads at a time. A
    fixed threshold keeps large blocks mapped on their own, unmapped at free. (Elsewhere: no-op.)"""
    try:
        ctypes.CDLL(None).mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD, from glibc's malloc.h
    except (OSError, AttributeError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    _give_large_blocks_back()
    path = args.vectors or vectors.find_proto_file("vectors.txt")
    try:
        cases = vectors.load_vectors(path)
    except (OSError, vectors.NotationError) as exc:
        print("%s: cannot load vectors: %s" % (SERVER_NAME, exc), file=sys.stderr)
        return 2
    ok_values = {case.name: case.fields for case in cases if case.kind == "ok"}
    try:
        server = InteropServer(args.host, args.port, ok_values, args.max_payload, args.max_conns,
                               args.idle_timeout, args.frame_timeout, args.quiet, args.udp)
    except OSError as exc:
        print("%s: cannot listen on %s port %d: %s" % (SERVER_NAME, args.host, args.port, exc),
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal must not stop the server
    print(server.port, flush=True)
    server.log("listening on %s port %d%s, max payload %d, %d vectors"
               % (args.host, server.port, " (TCP and UDP)" if args.udp else "", args.max_payload,
                  len(ok_values)))
    try:
        server.serve_forever()
    except _Stop:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # one is enough
        server.stop()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
