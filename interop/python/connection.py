# SPDX-License-Identifier: MIT
"""A client connection of the wire protocol (the shape of C's wire_conn), and asyncio helpers.

:class:`Connection` owns a socket, its frame reader and what the peer announced: ``connect()``
does the HELLO exchange, ``send`` / ``recv`` / ``request`` carry application messages, ``ping``
measures a round trip, ``bye`` and ``close`` end it (SPEC 8.5). PINGs from the peer are answered
whenever a call reads, the frames the peer may not send are answered with ``ERROR(UNEXPECTED, 2)``
(SPEC 8.3, 8.6), and a peer's ERROR ends the connection unanswered.

Every failure is a :class:`wire.WireError` and one of the built-in exceptions: bad data is a
``ValueError``, the peer going away (EOF, BYE, ERROR, a reset) a ``ConnectionError``, a deadline a
``TimeoutError``. ``recv`` never returns None: at the end it raises.

:func:`read_frame` and :func:`write_frame` do the framing on asyncio streams.
"""

import asyncio
import collections
import socket
import time
from typing import Any, Deque, Optional, Sequence, Union

if __package__:  # installed: the wireproto package
    from . import wire
    from .wire import ErrorCode, Field, Frame, MsgType, WireConnectionError, WireError, WireValueError
else:  # imported from the source tree (interop/python on sys.path)
    import wire
    from wire import ErrorCode, Field, Frame, MsgType, WireConnectionError, WireError, WireValueError

__all__ = ["Connection", "PeerError", "read_frame", "write_frame", "Payload"]

# What a message carries: the encoded payload, or the fields to encode.
Payload = Union[bytes, bytearray, memoryview, Sequence[Field]]

FIRST_APP_TYPE = 0x0100  # below: control messages (SPEC 7.1), which have calls of their own


def _payload_bytes(payload: Payload) -> bytes:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    return wire.encode(payload)


class PeerError(WireConnectionError):
    """The peer sent an ERROR and closed (code PEER). ``error`` is what it said (a
    :class:`wire.ErrorMessage`: ``code``, ``offset``, ``message``), None if it was malformed."""

    def __init__(self, error: Optional[wire.ErrorMessage], detail: str = "") -> None:
        self.error = error
        if not detail and error is not None:
            detail = "peer sent ERROR %s (%d)%s: %s" % (
                wire.error_name(error.code), error.code,
                "" if error.offset is None else " at offset %d" % error.offset, error.message)
        super().__init__(ErrorCode.PEER, None, detail or "peer sent a malformed ERROR")

    def __reduce__(self) -> Any:
        return type(self), (self.error, self.detail)


class Connection:
    """A client connection after its handshake. Use :meth:`connect`, or wrap a connected socket
    (the handshake is done in the constructor; the socket is the connection's, closed on failure).

    ``timeout`` (seconds, None: no limit) bounds each call that waits, unless the call is given
    its own. A timeout leaves the connection usable: a frame half received is kept for the next
    call. Not thread-safe: one thread at a time.
    """

    def __init__(self, sock: socket.socket, *, timeout: Optional[float] = 10.0,
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, name: str = "python") -> None:
        self.sock = sock
        self.timeout = timeout
        self.max_payload = max_payload
        self.peer: Optional[wire.Hello] = None  # the server's HELLO, once the handshake is done
        self.frames_in = self.frames_out = 0
        self._reader = wire.FrameReader(sock, max_payload)
        self._queue: Deque[Frame] = collections.deque()  # messages read while waiting for a PONG
        self._pings: Deque[bytes] = collections.deque()  # PING payloads whose PONG is due
        self._pongs = 0  # PONGs received so far
        self._bye_sent = False
        self._closed = False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a Unix socket): nothing to tune
        try:
            deadline = self._deadline(None)
            self._send(MsgType.HELLO, wire.encode_hello(max_payload, name), deadline)
            frame = self._read(deadline)
            self.peer = wire.decode_hello(frame.payload)
        except WireError as exc:
            if exc.code != ErrorCode.PEER and not self._closed and exc.offset is not None:
                self._fail(exc.code, wire.HEADER_SIZE + exc.offset, exc.detail)  # a bad HELLO
            self._abort()
            raise
        except BaseException:
            self._abort()
            raise

    @classmethod
    def connect(cls, host: str, port: int, *, timeout: Optional[float] = 10.0,
                max_payload: int = wire.DEFAULT_MAX_PAYLOAD, name: str = "python") -> "Connection":
        """Connect to ``host``:``port`` and exchange HELLOs, each within ``timeout``. A server's
        refusal (an ERROR instead of its HELLO) is :class:`PeerError`; no server there is a
        ``ConnectionError`` (refused) or ``OSError`` (ADDRESS: the name does not resolve)."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except socket.timeout as exc:
            raise wire.WireTimeoutError(ErrorCode.TIMEOUT, None, "connecting to %s:%d: %s"
                                        % (host, port, exc)) from exc
        except socket.gaierror as exc:
            raise WireError(ErrorCode.ADDRESS, None, "%s: %s" % (host, exc)) from exc
        except ConnectionError as exc:
            raise WireConnectionError(ErrorCode.CLOSED, None, "connecting to %s:%d: %s"
                                      % (host, port, exc)) from exc
        except OSError as exc:
            raise WireError(ErrorCode.IO, None, "connecting to %s:%d: %s" % (host, port, exc)) from exc
        return cls(sock, timeout=timeout, max_payload=max_payload, name=name)

    # What is known

    @property
    def peer_max(self) -> int:
        """The largest payload the peer accepts (its HELLO)."""
        return self.peer.max_payload if self.peer else 0

    @property
    def peer_name(self) -> str:
        return self.peer.name if self.peer else ""

    @property
    def closed(self) -> bool:
        return self._closed

    # Messages

    def send(self, msg_type: int, payload: Payload = b"", timeout: Optional[float] = None) -> None:
        """Send one application message (type 0x0100..0xFFFF): bytes as they are, or a list of
        fields, encoded. A payload over the peer's max payload is not sent (TOOBIG)."""
        if not FIRST_APP_TYPE <= msg_type <= 0xFFFF:
            raise WireValueError(ErrorCode.INVAL, None, "type 0x%04x is not an application message"
                                 " (ping() and bye() send the control messages)" % msg_type)
        data = _payload_bytes(payload)
        self._usable()
        if len(data) > self.peer_max:
            raise WireValueError(ErrorCode.TOOBIG, None, "payload of %d bytes exceeds the peer's max"
                                 " payload %d, not sent" % (len(data), self.peer_max))
        self._send(msg_type, data, self._deadline(timeout))

    def recv(self, timeout: Optional[float] = None) -> Frame:
        """The next application message (a reply, in the order of the requests). Raises at the
        end: ``ConnectionError`` when the peer closed, said BYE or sent an ERROR (PeerError)."""
        if self._queue:
            return self._queue.popleft()
        self._usable(reading=True)
        return self._read(self._deadline(timeout))

    def request(self, msg_type: int, payload: Payload = b"", timeout: Optional[float] = None) -> Frame:
        """Send a request and return the next message, its reply; ``timeout`` bounds both."""
        deadline = self._deadline(timeout)
        self.send(msg_type, payload, None if deadline is None else max(deadline - time.monotonic(), 0))
        return self.recv(None if deadline is None else max(deadline - time.monotonic(), 0))

    def ping(self, payload: bytes = b"", timeout: Optional[float] = None) -> float:
        """Send PING and wait for its PONG: the round trip in seconds. Messages that arrive
        meanwhile wait for :meth:`recv`."""
        self._usable()
        data = bytes(payload)
        if len(data) > self.peer_max:
            raise WireValueError(ErrorCode.TOOBIG, None, "PING of %d bytes exceeds the peer's max"
                                 " payload %d, not sent" % (len(data), self.peer_max))
        deadline = self._deadline(timeout)
        start = time.monotonic()
        self._send(MsgType.PING, data, deadline)
        self._pings.append(data)
        wanted = self._pongs + len(self._pings)
        while self._pongs < wanted:
            frame = self._read_one(deadline)
            if frame is not None:
                self._queue.append(frame)
        return time.monotonic() - start

    # Ending

    def bye(self, timeout: Optional[float] = None) -> None:
        """Say BYE, wait for the peer's BYE or EOF (replies still to come are discarded), close.
        The connection is closed afterwards whatever happens; a peer that does neither in time is
        TimeoutError."""
        if self._closed:
            return
        try:
            deadline = self._deadline(timeout)
            if not self._bye_sent:
                self._send(MsgType.BYE, b"", deadline)
                self._bye_sent = True
            while True:
                self._read(deadline)  # an application message: discarded
        except WireConnectionError as exc:
            if exc.code != ErrorCode.CLOSED:  # CLOSED: the peer's BYE or EOF, as it should be
                raise
        finally:
            self._abort()

    def close(self) -> None:
        """End the connection: BYE if it is still open (at most DRAIN_SECONDS, failures
        ignored), then close the socket. Closing twice is harmless."""
        if self._closed:
            return
        try:
            limit = wire.DRAIN_SECONDS if self.timeout is None else min(self.timeout, wire.DRAIN_SECONDS)
            self.bye(limit)
        except WireError:
            pass
        finally:
            self._abort()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return "<wire Connection %s to %r>" % (state, self.peer_name)

    # Inside

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        timeout = self.timeout if timeout is None else timeout
        return None if timeout is None else time.monotonic() + timeout

    def _usable(self, reading: bool = False) -> None:
        if self._closed:
            raise WireConnectionError(ErrorCode.CLOSED, None, "the connection is closed")
        if self._bye_sent and not reading:
            raise WireValueError(ErrorCode.INVAL, None, "BYE was sent: nothing more may be sent")

    def _abort(self) -> None:
        self._closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _send(self, msg_type: int, payload: bytes, deadline: Optional[float]) -> None:
        if deadline is None:
            self.sock.settimeout(None)
        try:
            wire.send_frame(self.sock, msg_type, payload, deadline)
        except WireError as exc:
            if exc.code != ErrorCode.TIMEOUT:
                self._abort()
            raise
        self.frames_out += 1

    def _fail(self, code: int, offset: Optional[int], detail: str) -> WireValueError:
        """Send ERROR(code, offset) and close gracefully (SPEC 8.4); the error to raise."""
        self._closed = True
        try:
            if not self._bye_sent:
                self.sock.settimeout(wire.DRAIN_SECONDS)
                wire.send_frame(self.sock, MsgType.ERROR, wire.encode_error(
                    code, offset, wire.clip_error_text(detail)))
        except WireError:
            pass  # the peer is gone: closing is all that is left
        wire.close_gracefully(self.sock)
        return WireValueError(code, offset, detail)

    def _read(self, deadline: Optional[float]) -> Frame:
        """The next frame the caller must see (HELLO before the handshake, then application
        messages); the control frames between are handled."""
        while True:
            frame = self._read_one(deadline)
            if frame is not None:
                return frame

    def _read_one(self, deadline: Optional[float]) -> Optional[Frame]:
        """Read one frame: the frame, or None for a PING or PONG handled here."""
        if deadline is None:
            self.sock.settimeout(None)
        try:
            if not self._reader.wait_start(deadline):
                self._abort()
                raise WireConnectionError(ErrorCode.CLOSED, None, "the peer closed the connection")
            try:
                msg_type, length = self._reader.read_header(deadline)
            except WireValueError as exc:
                if exc.code == ErrorCode.TRUNCATED:
                    raise
                raise self._fail(exc.code, exc.offset, exc.detail) from None
            if msg_type == MsgType.ERROR:
                self._peer_error(length, deadline)
            if not self._allowed(msg_type):  # judged from the header alone (SPEC 8.3 step 3)
                raise self._fail(ErrorCode.UNEXPECTED, 2, "message type 0x%04x not expected %s"
                                 % (msg_type, "now" if self.peer else "before HELLO"))
            payload = self._reader.read_payload(length, deadline)
        except WireError as exc:
            if exc.code == ErrorCode.TRUNCATED:  # the peer went away in the middle of a frame
                self._abort()
                raise WireConnectionError(ErrorCode.TRUNCATED, None, exc.detail) from None
            if exc.code in (ErrorCode.CLOSED, ErrorCode.IO):
                self._abort()
            raise
        self.frames_in += 1
        if msg_type == MsgType.PING:
            if len(payload) > self.peer_max:
                raise self._fail(ErrorCode.TOOBIG, None, "the PONG would exceed the peer's max payload")
            if not self._bye_sent:  # after BYE we send nothing (SPEC 7.5)
                self._send(MsgType.PONG, payload, deadline)
            return None
        if msg_type == MsgType.PONG:
            if payload != self._pings[0]:
                raise self._fail(ErrorCode.UNEXPECTED, 2, "a PONG that answers none of our PINGs")
            self._pings.popleft()
            self._pongs += 1
            return None
        if msg_type == MsgType.BYE:  # the peer ends: answer BYE, close (SPEC 8.5)
            if not self._bye_sent:
                self._bye_sent = True
                try:
                    self._send(MsgType.BYE, b"", deadline)
                except WireError:
                    pass  # it is over anyway
                wire.close_gracefully(self.sock)
            self._abort()
            raise WireConnectionError(ErrorCode.CLOSED, None, "the peer said BYE")
        return Frame(msg_type, payload)

    def _allowed(self, msg_type: int) -> bool:
        if self.peer is None:
            return msg_type == MsgType.HELLO
        if msg_type == MsgType.PONG:
            return bool(self._pings)
        return msg_type in (MsgType.PING, MsgType.BYE) or msg_type >= FIRST_APP_TYPE

    def _peer_error(self, length: int, deadline: Optional[float]) -> None:
        """An ERROR header: the connection is over (SPEC 8.3 step 2). Its payload is read if it
        can be a valid ERROR, then the socket is closed and PeerError raised."""
        error = None
        try:
            if length <= wire.MIN_MAX_PAYLOAD:
                error = wire.decode_error(self._reader.read_payload(length, deadline))
        except WireError:
            pass  # malformed, cut or late: still the end, and never answered
        self._abort()
        raise PeerError(error)


async def read_frame(reader: asyncio.StreamReader,
                     max_payload: int = wire.DEFAULT_MAX_PAYLOAD) -> Frame:
    """The next frame from an asyncio stream. The header is checked before the payload is read
    (``ValueError``: VERSION, HEADER, TOOBIG with header offsets); EOF before its first byte is
    ``ConnectionError`` CLOSED, EOF inside it ``ConnectionError`` TRUNCATED. The payload is not
    decoded (``wire.decode(frame.payload)``)."""
    try:
        header = await reader.readexactly(wire.HEADER_SIZE)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise WireConnectionError(ErrorCode.CLOSED, None, "the peer closed the connection") from None
        raise WireConnectionError(ErrorCode.TRUNCATED, None, "the stream ended inside a frame header"
                                  ) from None
    msg_type, length = wire.decode_header(header, max_payload)
    try:
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise WireConnectionError(ErrorCode.TRUNCATED, None, "the stream ended after %d of %d payload"
                                  " bytes" % (len(exc.partial), length)) from None
    return Frame(msg_type, payload)


async def write_frame(writer: asyncio.StreamWriter, msg_type: int, payload: Payload = b"") -> None:
    """Write one frame (bytes as they are, or a list of fields, encoded) and wait until the
    stream has taken it (``drain``). A lost connection is ``ConnectionError``."""
    data = _payload_bytes(payload)
    writer.write(wire.encode_header(msg_type, len(data)) + data)
    try:
        await writer.drain()
    except ConnectionError as exc:
        raise WireConnectionError(ErrorCode.CLOSED, None, str(exc)) from exc
