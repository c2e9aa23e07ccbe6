#!/usr/bin/env python3
"""wire interop server: the connection lifecycle of SPEC 8 and the interop service of SPEC 10,
one thread per connection. Options: SPEC 9.3 (``server.py --help``).

Prints the listening port alone on the first stdout line, logs one line per connection to stderr
when it ends (unless --quiet). SIGTERM or SIGINT: stop accepting, answer the frames in flight,
close every connection, exit 0 (SPEC 9.3).
"""

import argparse
import math
import signal
import socket
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vectors  # noqa: E402  (after the path set-up above)
import wire  # noqa: E402
from wire import ErrorCode, Field, MsgType, WireError  # noqa: E402

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
            if outcome is not None:
                return outcome

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
        its payload is malformed or never comes. Its payload is read only for the log line."""
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
        # Decoded before the size check: a decoding error is reported first.
        self.reply(MsgType.ROUNDTRIP_REPLY, wire.encode(wire.decode(payload)))

    def on_vector_check(self, payload: bytes) -> None:
        fields = wire.MessageFields(payload, "VECTOR_CHECK")
        name = fields.take(0, "string", "name")
        expected = self.server.vectors.get(name)
        if expected is None:
            result: Tuple[int, str, str, str] = (UNKNOWN_VECTOR, "", "", "")
        else:
            mismatch = vectors.first_mismatch(expected, fields.fields[1:])
            result = ((MATCH, "", "", "") if mismatch is None
                      else (MISMATCH, mismatch.path, mismatch.expected, mismatch.got))
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
        ints = fields.take_list(0, "i64", "ints")
        floats = fields.take_list(1, "f64", "floats")
        data = fields.take(2, "bytes", "data")
        fields.no_more(3)
        self.reply(MsgType.STATS_REPLY, wire.encode(compute_stats(ints.items, floats.items, data)))


class InteropServer:
    """Listening socket plus the accept loop; each connection runs a Session in its own thread."""

    def __init__(self, host: str, port: int, vector_values: Dict[str, List[Field]],
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, max_conns: int = DEFAULT_MAX_CONNS,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 frame_timeout: float = DEFAULT_FRAME_TIMEOUT, quiet: bool = False) -> None:
        self.vectors = vector_values
        self.max_payload = max_payload
        self.max_conns = max_conns
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.quiet = quiet
        self.open_conns = 0
        self.lock = threading.Lock()  # open_conns and the log
        self.stopping = threading.Event()  # SIGTERM/SIGINT: the connections end between frames
        self.all_closed = threading.Condition(self.lock)
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        # "::" serves IPv6 and IPv4 together (SPEC 9.3).
        dualstack = family == socket.AF_INET6 and socket.has_dualstack_ipv6()
        self.listener = socket.create_server((host, port), family=family, backlog=128,
                                             dualstack_ipv6=dualstack)
        self.port: int = self.listener.getsockname()[1]

    def log(self, line: str) -> None:
        if self.quiet:
            return
        with self.lock:
            sys.stderr.write("%s: %s\n" % (SERVER_NAME, line))
            sys.stderr.flush()

    def serve_forever(self) -> None:
        while True:
            sock, address = self.listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = ("[%s]:%d" if ":" in address[0] else "%s:%d") % address[:2]
            with self.lock:
                admitted = self.open_conns < self.max_conns
                if admitted:
                    self.open_conns += 1
            # The refusal runs in a thread of its own too, so that it never blocks this loop.
            target = self.session if admitted else self.refuse
            threading.Thread(target=self.worker, args=(target, sock, peer), daemon=True).start()

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
        limit = time.monotonic() + self.frame_timeout + wire.DRAIN_SECONDS + 1
        with self.lock:
            while self.open_conns > 0 and time.monotonic() < limit:
                self.all_closed.wait(limit - time.monotonic())

    def refuse(self, sock: socket.socket, peer: str) -> None:
        """One connection more than --max-conns: ERROR(LIMIT, none), then a graceful close."""
        try:
            wire.send_frame(sock, MsgType.ERROR, wire.encode_error(
                ErrorCode.LIMIT, None, "too many connections (%d)" % self.max_conns),
                time.monotonic() + REFUSE_DRAIN_SECONDS)
        except WireError:
            pass  # nothing more to do for a peer we are turning away
        wire.close_gracefully(sock, REFUSE_DRAIN_SECONDS)
        self.log("%s: refused: LIMIT, %d connections open" % (peer, self.max_conns))

    def close(self) -> None:
        self.listener.close()


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
                    " connection. Prints the listening port alone on stdout's first line.")
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
    parser.add_argument("--version", action="version",
                        version="%s %s, protocol version %d" % (SERVER_NAME, PROGRAM_VERSION,
                                                                wire.PROTOCOL_VERSION))
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    path = args.vectors or vectors.find_proto_file("vectors.txt")
    try:
        cases = vectors.load_vectors(path)
    except (OSError, vectors.NotationError) as exc:
        print("%s: cannot load vectors: %s" % (SERVER_NAME, exc), file=sys.stderr)
        return 2
    ok_values = {case.name: case.fields for case in cases if case.kind == "ok"}
    try:
        server = InteropServer(args.host, args.port, ok_values, args.max_payload, args.max_conns,
                               args.idle_timeout, args.frame_timeout, args.quiet)
    except OSError as exc:
        print("%s: cannot listen on %s port %d: %s" % (SERVER_NAME, args.host, args.port, exc),
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal must not stop the server
    print(server.port, flush=True)
    server.log("listening on %s port %d, max payload %d, %d vectors"
               % (args.host, server.port, args.max_payload, len(ok_values)))
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
