#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""wire interop client: runs the interop exchange of SPEC 10.10 against any server.

Usage: client.py [--udp] --host H --port P [--vectors FILE] [--stats FILE] [--timeout S]
Prints ``ok   <case>`` or ``FAIL <case>: <reason>`` per case, then ``<N> passed, <M> failed``;
exits 0 iff nothing failed. With --udp the exchange of SPEC 15.8 runs over UDP instead, each
request retried on loss as SPEC 15.7 says.
"""

import argparse
import random
import socket
import sys
import time
from pathlib import Path
from typing import Callable, List, NoReturn, Optional, Sequence, Tuple

if __package__:  # installed: the wireproto package
    from . import vectors, wire
    from .wire import Field, MsgType, WireError
else:  # run as a script, or imported from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import vectors
    import wire
    from wire import Field, MsgType, WireError

CLIENT_NAME = "python-client"
MAX_PAYLOAD = wire.DEFAULT_MAX_PAYLOAD  # what we accept, announced in our HELLO
ECHO_SIZES = (0, 1, 4096, 1048576)
PING_PAYLOAD = bytes(range(1, 9))
UNKNOWN_VECTOR_NAME = "no-such-vector"
MAX_REASON = 300  # characters of a value shown in a FAIL line


class CaseFailure(Exception):
    """A case did not get the answer it expected; the message is the FAIL reason."""


def echo_payload(size: int) -> bytes:
    """Byte i = (i * 131 + 7) mod 256; the pattern repeats every 256 bytes."""
    period = bytes((i * 131 + 7) % 256 for i in range(256))
    return (period * (size // 256 + 1))[:size]


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[:MAX_REASON] + "...(%d chars)" % len(text)


def _first_difference(expected: bytes, got: bytes) -> str:
    for index, (left, right) in enumerate(zip(expected, got)):
        if left != right:
            return "byte %d is %02x, expected %02x" % (index, right, left)
    return "%d bytes, expected %d" % (len(got), len(expected))


class NotSent(CaseFailure):
    """A case whose request was refused before anything was sent: the connection is still good."""


class Connection:
    """A connected socket that has completed the HELLO exchange. Its receive path answers the
    server's PINGs whenever they come, also while a reply is awaited (SPEC 7.5), and it never sends
    a payload larger than the server announced (SPEC 8.1)."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        left = max(deadline - time.monotonic(), 0.001)
        try:
            self.sock = socket.create_connection((host, port), timeout=left)
        except OSError as exc:
            raise CaseFailure("cannot connect to %s:%d: %s" % (host, port, exc)) from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = wire.FrameReader(self.sock, MAX_PAYLOAD)
        self.server_max: Optional[int] = None  # None until the server's HELLO
        self.pings = 0  # PINGs answered, for the tests
        self.bye_sent = False  # after our BYE we send nothing more (SPEC 8.5)
        try:
            wire.send_frame(self.sock, MsgType.HELLO, wire.encode_hello(MAX_PAYLOAD, CLIENT_NAME),
                            deadline)
            frame = self.next_frame(deadline)
            if frame.type != MsgType.HELLO:
                self.refuse(frame, "HELLO")
            try:
                hello = wire.decode_hello(frame.payload)  # the version is judged there, first
            except WireError as exc:
                self.error(exc.code, wire.HEADER_SIZE + exc.offset if exc.offset is not None else None,
                           exc.detail)
                raise CaseFailure("bad server HELLO: %s" % exc) from None
        except BaseException:
            self.sock.close()
            raise
        self.server_max = hello.max_payload

    def send(self, msg_type: int, payload: bytes, deadline: float) -> None:
        """Send one frame, unless its payload is larger than the server accepts (SPEC 10.10: the
        case fails with that reason and nothing is sent)."""
        if self.server_max is not None and len(payload) > self.server_max:
            raise NotSent("%s payload of %d bytes exceeds the server's max payload %d, not sent"
                          % (MsgType(msg_type).name, len(payload), self.server_max))
        wire.send_frame(self.sock, msg_type, payload, deadline)

    def error(self, code: int, offset: Optional[int], text: str) -> None:
        """Tell the server why we stop (best effort: the case fails anyway)."""
        try:
            wire.send_frame(self.sock, MsgType.ERROR,
                            wire.encode_error(code, offset, wire.clip_error_text(text)),
                            time.monotonic() + 1)
        except WireError:
            pass

    def receive(self, deadline: float) -> Optional[wire.Frame]:
        """The next frame, None at EOF at a frame boundary. A bad header is answered with its
        ERROR (SPEC 8.3 step 1), then raised."""
        try:
            return self.reader.recv_frame(deadline)
        except WireError as exc:
            if exc.offset is not None:
                self.error(exc.code, exc.offset, exc.detail)
            raise

    def next_frame(self, deadline: float, take_error: bool = False) -> wire.Frame:
        """The next frame that is not a PING: a PING is answered with its PONG at once, before
        anything else is read (SPEC 7.5). EOF and the server's ERROR (unless ``take_error``)
        become the case's reason."""
        while True:
            frame = self.receive(deadline)
            if frame is None:
                raise CaseFailure("the server closed the connection")
            if frame.type == MsgType.ERROR and take_error:
                return frame
            if frame.type == MsgType.ERROR:  # never answered, even when malformed (SPEC 7.4)
                try:
                    error = wire.decode_error(frame.payload)
                except WireError as exc:
                    raise CaseFailure("server sent a malformed ERROR: %s" % exc) from None
                raise CaseFailure("server sent ERROR %s at %s: %s" % (
                    wire.error_name(error.code), "none" if error.offset is None else error.offset,
                    _short(error.message)))
            if frame.type != MsgType.PING or self.server_max is None:
                return frame  # (a PING before the server's HELLO is refused by the caller)
            if self.bye_sent:
                continue
            if len(frame.payload) > self.server_max:  # its PONG would be too large (SPEC 7.5)
                self.error(wire.ErrorCode.TOOBIG, None, "a PONG of %d bytes would exceed your max"
                           " payload %d" % (len(frame.payload), self.server_max))
                raise CaseFailure("server sent a PING of %d bytes, over its own max payload %d"
                                  % (len(frame.payload), self.server_max))
            wire.send_frame(self.sock, MsgType.PONG, wire.pong_payload(frame.payload), deadline)
            self.pings += 1

    def refuse(self, frame: wire.Frame, wanted: str) -> NoReturn:
        """A frame of a type not allowed here: ERROR(UNEXPECTED, 2) (SPEC 8.6), and the case fails."""
        self.error(wire.ErrorCode.UNEXPECTED, 2, "expected %s, got message type 0x%04x"
                   % (wanted, frame.type))
        raise CaseFailure("expected %s, got message type 0x%04x" % (wanted, frame.type))

    def expect(self, msg_type: int, deadline: float) -> bytes:
        """Payload of the next frame, which must have type ``msg_type``."""
        return self.expect_one_of((msg_type,), deadline).payload

    def expect_one_of(self, msg_types: Sequence[int], deadline: float) -> wire.Frame:
        """The next frame but PINGs, whose type must be one of ``msg_types``."""
        wanted = " or ".join(MsgType(t).name for t in msg_types)
        try:
            frame = self.next_frame(deadline)
        except CaseFailure as exc:
            raise CaseFailure("expected %s, %s" % (wanted, exc)) from None
        if frame.type not in msg_types:
            self.refuse(frame, wanted)
        return frame

    def expect_eof(self, deadline: float) -> None:
        try:
            frame = self.receive(deadline)
        except WireError as exc:
            raise CaseFailure("expected EOF, got %s" % exc) from None
        if frame is not None:
            raise CaseFailure("expected EOF, got message type 0x%04x" % frame.type)

    def close(self) -> None:
        self.sock.close()


class Exchange:
    """The SPEC 10.10 cases, in order, over one main connection (re-opened after a failed case)."""

    def __init__(self, host: str, port: int, cases: List[vectors.Case],
                 stats: List[vectors.StatsCase], timeout: float) -> None:
        self.host = host
        self.port = port
        self.cases = cases
        self.stats = stats
        self.timeout = timeout
        self.main: Optional[Connection] = None

    def plan(self) -> List[Tuple[str, Callable[[float], None]]]:
        """(case name, action taking the case deadline) in the SPEC 10.10 order."""
        ok = [case for case in self.cases if case.kind == "ok"]
        rejects = [case for case in self.cases if case.kind == "err"]
        steps: List[Tuple[str, Callable[[float], None]]] = [("hello", self.hello)]
        steps += [("check:" + c.name, self.bind(self.check, c)) for c in ok]
        steps.append(("check-unknown", self.check_unknown))
        steps += [("get:" + c.name, self.bind(self.get, c)) for c in ok]
        steps += [("roundtrip:" + c.name, self.bind(self.roundtrip, c)) for c in ok]
        steps += [("echo:%d" % size, self.bind(self.echo, size)) for size in ECHO_SIZES]
        steps.append(("ping", self.ping))
        steps += [("stats:" + s.name, self.bind(self.stats_case, s)) for s in self.stats]
        # BYE ends the main connection before the reject cases open their own, so the client never
        # holds two connections at once and an iterative server can run the whole exchange.
        steps.append(("bye", self.bye))
        steps += [("reject:" + c.name, self.bind(self.reject, c)) for c in rejects]
        return steps

    @staticmethod
    def bind(action: Callable[..., None], argument: object) -> Callable[[float], None]:
        return lambda deadline: action(argument, deadline)

    def run(self, out: Callable[[str], None] = print) -> int:
        """Run every case, print the report; returns the number of failures."""
        passed = failed = 0
        for name, action in self.plan():
            try:
                action(time.monotonic() + self.timeout)
            except Exception as exc:  # any failure, even a malformed reply, must not stop the run
                reason = str(exc) if isinstance(exc, (CaseFailure, WireError)) else repr(exc)
                out("FAIL %s: %s" % (name, reason.replace("\n", " ")))
                failed += 1
                if not isinstance(exc, NotSent):
                    self.drop()  # the connection state is unknown now
            else:
                out("ok   %s" % name)
                passed += 1
        self.drop()
        out("%d passed, %d failed" % (passed, failed))
        return failed

    def connection(self, deadline: float) -> Connection:
        if self.main is None:
            self.main = Connection(self.host, self.port, deadline)
        return self.main

    def drop(self) -> None:
        if self.main is not None:
            self.main.close()
            self.main = None

    def request(self, msg_type: int, payload: bytes, reply_type: int, deadline: float) -> bytes:
        conn = self.connection(deadline)
        conn.send(msg_type, payload, deadline)
        return conn.expect(reply_type, deadline)

    # ---- cases -------------------------------------------------------------------------------

    def hello(self, deadline: float) -> None:
        self.drop()
        self.main = Connection(self.host, self.port, deadline)

    def vector_check(self, name: str, fields: Sequence[Field], deadline: float) -> Tuple[int, str, str, str]:
        reply = wire.decode(self.request(MsgType.VECTOR_CHECK, wire.encode([("string", name)] + list(fields)),
                                         MsgType.VECTOR_RESULT, deadline))
        return self.vector_result(reply)

    @staticmethod
    def vector_result(fields: List[Field]) -> Tuple[int, str, str, str]:
        if [t for t, _ in fields[:4]] != ["u8", "string", "string", "string"]:
            raise CaseFailure("malformed VECTOR_RESULT: %s" % _short(vectors.format_fields(fields)))
        status, path, expected, got = (value for _, value in fields[:4])
        return status, path, expected, got

    def check(self, case: vectors.Case, deadline: float) -> None:
        status, path, expected, got = self.vector_check(case.name, case.fields, deadline)
        if status != 0:
            raise CaseFailure("status %d, path %r: expected %s, got %s"
                              % (status, path, _short(expected), _short(got)))

    def check_unknown(self, deadline: float) -> None:
        status = self.vector_check(UNKNOWN_VECTOR_NAME, [], deadline)[0]
        if status != 2:
            raise CaseFailure("status %d, expected 2 (unknown vector)" % status)

    def request_one_of(self, msg_type: int, payload: bytes, reply_types: Sequence[int],
                       deadline: float) -> wire.Frame:
        conn = self.connection(deadline)
        conn.send(msg_type, payload, deadline)
        return conn.expect_one_of(reply_types, deadline)

    def get(self, case: vectors.Case, deadline: float) -> None:
        frame = self.request_one_of(MsgType.VECTOR_GET, wire.encode([("string", case.name)]),
                                    (MsgType.VECTOR_DATA, MsgType.VECTOR_RESULT), deadline)
        if frame.type == MsgType.VECTOR_RESULT:
            status = self.vector_result(wire.decode(frame.payload))[0]
            raise CaseFailure("VECTOR_RESULT status %d instead of VECTOR_DATA" % status)
        name_field = wire.encode([("string", case.name)])
        if not frame.payload.startswith(name_field):
            raise CaseFailure("VECTOR_DATA does not start with the name field")
        data = frame.payload[len(name_field):]
        if data != case.data:
            raise CaseFailure("vector bytes differ: %s" % _first_difference(case.data, data))
        mismatch = vectors.first_mismatch(case.fields, wire.decode(data))
        if mismatch is not None:
            raise CaseFailure("decoded value at %s: expected %s, got %s"
                              % (mismatch.path, _short(mismatch.expected), _short(mismatch.got)))

    def roundtrip(self, case: vectors.Case, deadline: float) -> None:
        reply = self.request(MsgType.ROUNDTRIP, case.data, MsgType.ROUNDTRIP_REPLY, deadline)
        if reply != case.data:
            raise CaseFailure("reply differs: %s" % _first_difference(case.data, reply))

    def echo(self, size: int, deadline: float) -> None:
        payload = echo_payload(size)
        reply = self.request(MsgType.ECHO, payload, MsgType.ECHO_REPLY, deadline)
        if reply != payload:
            raise CaseFailure("reply differs: %s" % _first_difference(payload, reply))

    def ping(self, deadline: float) -> None:
        reply = self.request(MsgType.PING, PING_PAYLOAD, MsgType.PONG, deadline)
        if reply != PING_PAYLOAD:
            raise CaseFailure("PONG payload %s, expected %s" % (reply.hex(), PING_PAYLOAD.hex()))

    def stats_case(self, case: vectors.StatsCase, deadline: float) -> None:
        reply = self.request(MsgType.STATS, wire.encode(case.request), MsgType.STATS_REPLY, deadline)
        mismatch = vectors.first_mismatch(case.reply, wire.decode(reply))
        if mismatch is not None:
            raise CaseFailure("reply field %s: expected %s, got %s"
                              % (mismatch.path, _short(mismatch.expected), _short(mismatch.got)))

    def reject(self, case: vectors.Case, deadline: float) -> None:
        assert case.code is not None and case.offset is not None
        conn = Connection(self.host, self.port, deadline)
        try:
            conn.send(MsgType.ROUNDTRIP, case.data, deadline)
            try:
                frame = conn.next_frame(deadline, take_error=True)
            except CaseFailure as exc:
                raise CaseFailure("expected ERROR, %s" % exc) from None
            if frame.type != MsgType.ERROR:
                raise CaseFailure("expected ERROR, got message type 0x%04x" % frame.type)
            error = wire.decode_error(frame.payload)
            want = (case.code, wire.HEADER_SIZE + case.offset)
            if (error.code, error.offset) != want:
                raise CaseFailure("ERROR %s at %s, expected %s at %d" % (
                    wire.error_name(error.code), error.offset, wire.error_name(want[0]), want[1]))
            conn.expect_eof(deadline)
        finally:
            conn.close()

    def bye(self, deadline: float) -> None:
        conn = self.connection(deadline)
        conn.send(MsgType.BYE, b"", deadline)
        conn.bye_sent = True
        conn.expect(MsgType.BYE, deadline)
        conn.expect_eof(deadline)
        self.drop()


# ---- the UDP exchange (SPEC 15.7, 15.8) ----------------------------------------------------

UDP_ECHO_SIZES = (0, 1, 4096, wire.UDP_MAX_PAYLOAD)
FIRST_TIMEOUT = 0.1  # seconds before the first retry; doubled on each, up to MAX_TIMEOUT (SPEC 15.7)
MAX_TIMEOUT = 1.0
SENDS = 8  # sends of one request before its case fails


def retry_timeouts(first: float, largest: float, sends: int) -> List[float]:
    """How long each send of a request waits for its answer: ``first``, doubled each time up to
    ``largest`` (SPEC 15.7)."""
    waits = [first]
    while len(waits) < sends:
        waits.append(min(2 * waits[-1], largest))
    return waits[:sends]


class UdpPeer:
    """A UDP socket connected to the server (so the kernel drops datagrams from anyone else),
    with the request ids, timeouts and retries of SPEC 15.7: one request outstanding at a time."""

    def __init__(self, host: str, port: int, first_timeout: float = FIRST_TIMEOUT,
                 max_timeout: float = MAX_TIMEOUT, sends: int = SENDS) -> None:
        try:
            family, kind, proto, _name, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM)[0]
            self.sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise CaseFailure("cannot resolve %s: %s" % (host, exc)) from None
        try:
            self.sock.connect(address)
        except OSError as exc:
            self.sock.close()
            raise CaseFailure("cannot reach %s:%d: %s" % (host, port, exc)) from None
        self.port = port
        self.first_timeout, self.max_timeout, self.sends = first_timeout, max_timeout, sends
        # A random start: a late reply to a previous run on the same port is unlikely to match.
        self.next_id = random.getrandbits(32)
        self.sent = self.retries = self.stray = self.bad = 0

    def request(self, msg_type: int, payload: bytes) -> wire.Datagram:
        """Send one request and return its answer (the reply, or an ERROR for it), sending the
        same datagram again each time the timeout expires."""
        if len(payload) > wire.UDP_MAX_PAYLOAD:
            raise NotSent("%s payload of %d bytes does not fit in a datagram (at most %d), not sent"
                          % (MsgType(msg_type).name, len(payload), wire.UDP_MAX_PAYLOAD))
        request_id, self.next_id = self.next_id, (self.next_id + 1) & wire.U32_MAX
        data = wire.encode_datagram(request_id, msg_type, payload)
        waited = 0.0
        for send, timeout in enumerate(retry_timeouts(self.first_timeout, self.max_timeout,
                                                      self.sends)):
            try:
                self.sock.send(data)
            except ConnectionRefusedError:
                raise CaseFailure(self.refused()) from None
            self.sent += 1
            self.retries += send > 0
            answer = self.wait(request_id, time.monotonic() + timeout)
            if answer is not None:
                return answer
            waited += timeout
        raise CaseFailure("no answer to request id %d after %d sends (%.1f s)"
                          % (request_id, self.sends, waited))

    def wait(self, request_id: int, deadline: float) -> Optional[wire.Datagram]:
        """The answer to ``request_id`` if it comes before ``deadline``; whatever else comes is
        dropped (SPEC 15.7): bad datagrams, duplicates, late answers to given-up requests."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _source, _truncated = wire.recv_datagram(self.sock)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                # An ICMP "port unreachable": nothing listens there, retrying cannot help.
                raise CaseFailure(self.refused()) from None
            try:  # steps 1-3 and 5 of SPEC 15.3; a truncated datagram fails here too (SPEC 15.4)
                datagram = wire.decode_datagram(data, wire.UDP_MAX_PAYLOAD)
            except WireError:
                self.bad += 1
                continue
            if datagram.request_id != request_id:
                self.stray += 1
                continue
            return datagram

    def refused(self) -> str:
        return "nothing listens on UDP port %d (connection refused)" % self.port

    def close(self) -> None:
        self.sock.close()


class UdpExchange(Exchange):
    """The SPEC 15.8 cases over UDP: those of 10.10 that need no connection, in the same order and
    with the same names, every request retried on loss (SPEC 15.7)."""

    def __init__(self, host: str, port: int, cases: List[vectors.Case],
                 stats: List[vectors.StatsCase], peer: Optional[UdpPeer] = None) -> None:
        super().__init__(host, port, cases, stats, 0.0)
        self.peer = peer if peer is not None else UdpPeer(host, port)

    def plan(self) -> List[Tuple[str, Callable[[float], None]]]:
        # The vectors whose VECTOR_CHECK payload (name field + data) fits in one datagram; their
        # VECTOR_DATA reply has the same size.
        ok = [case for case in self.cases if case.kind == "ok"
              and 5 + len(case.name.encode()) + len(case.data) <= wire.UDP_MAX_PAYLOAD]
        rejects = [case for case in self.cases if case.kind == "err"]
        steps: List[Tuple[str, Callable[[float], None]]] = []
        steps += [("check:" + c.name, self.bind(self.check, c)) for c in ok]
        steps.append(("check-unknown", self.check_unknown))
        steps += [("get:" + c.name, self.bind(self.get, c)) for c in ok]
        steps += [("roundtrip:" + c.name, self.bind(self.roundtrip, c)) for c in ok]
        steps += [("echo:%d" % size, self.bind(self.echo, size)) for size in UDP_ECHO_SIZES]
        steps.append(("ping", self.ping))
        steps += [("stats:" + s.name, self.bind(self.stats_case, s)) for s in self.stats]
        steps += [("reject:" + c.name, self.bind(self.reject, c)) for c in rejects]
        return steps

    def drop(self) -> None:
        pass  # no connection: a failed case leaves nothing out of step

    def request_one_of(self, msg_type: int, payload: bytes, reply_types: Sequence[int],
                       deadline: float) -> wire.Frame:
        answer = self.peer.request(msg_type, payload)
        if answer.type == MsgType.ERROR and MsgType.ERROR not in reply_types:
            try:
                error = wire.decode_error(answer.payload)
            except WireError as exc:
                raise CaseFailure("server sent a malformed ERROR: %s" % exc) from None
            raise CaseFailure("server sent ERROR %s at %s: %s" % (
                wire.error_name(error.code), "none" if error.offset is None else error.offset,
                _short(error.message)))
        if answer.type not in reply_types:
            raise CaseFailure("expected %s, got message type 0x%04x"
                              % (" or ".join(MsgType(t).name for t in reply_types), answer.type))
        return wire.Frame(answer.type, answer.payload)

    def request(self, msg_type: int, payload: bytes, reply_type: int, deadline: float) -> bytes:
        return self.request_one_of(msg_type, payload, (reply_type,), deadline).payload

    def reject(self, case: vectors.Case, deadline: float) -> None:
        # Over UDP the server goes on after its ERROR: no new socket, no EOF (SPEC 15.8).
        assert case.code is not None and case.offset is not None
        frame = self.request_one_of(MsgType.ROUNDTRIP, case.data, (MsgType.ERROR,), deadline)
        error = wire.decode_error(frame.payload)
        want = (case.code, wire.HEADER_SIZE + case.offset)
        if (error.code, error.offset) != want:
            raise CaseFailure("ERROR %s at %s, expected %s at %d" % (
                wire.error_name(error.code), error.offset, wire.error_name(want[0]), want[1]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="wire interop client (Python)")
    parser.add_argument("--udp", action="store_true",
                        help="run the exchange over UDP (SPEC.md 15.8): each request retried after"
                             " 100 ms, the wait doubled up to 1 s, 8 sends at most")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=wire.port_number(1), required=True)
    # Default: found as SPEC 10.10 says ($WIRE_PROTO_DIR, ./proto, this source tree's proto/).
    parser.add_argument("--vectors", default=None)
    parser.add_argument("--stats", default=None)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per case")
    args = parser.parse_args(argv)
    try:
        cases = vectors.load_vectors(args.vectors or vectors.find_proto_file("vectors.txt"))
        stats = vectors.load_stats(args.stats or vectors.find_proto_file("stats.txt"))
    except (OSError, vectors.NotationError) as exc:
        print("client: cannot load proto files: %s" % exc, file=sys.stderr)
        return 2
    if not args.udp:
        failed = Exchange(args.host, args.port, cases, stats, args.timeout).run()
        return 0 if failed == 0 else 1
    try:
        peer = UdpPeer(args.host, args.port)
    except CaseFailure as exc:
        print("client: %s" % exc, file=sys.stderr)
        return 2
    try:
        failed = UdpExchange(args.host, args.port, cases, stats, peer).run()
    finally:
        peer.close()
    # What loss and duplication cost, for whoever runs us through a lossy path.
    print("client: udp: %d datagrams sent (%d retries), %d stray answers and %d bad datagrams"
          " dropped" % (peer.sent, peer.retries, peer.stray, peer.bad), file=sys.stderr)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
