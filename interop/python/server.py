#!/usr/bin/env python3
"""wire interop server (design §6 lifecycle, §7 service), one thread per connection.

Usage: server.py [--host H] [--port P] [--vectors FILE] [--max-payload N] [--timeout S]
                 [--max-connections N]
Prints the listening port alone on the first stdout line, logs one line per connection to stderr,
and exits 0 on SIGTERM or SIGINT.
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
I64_MIN, I64_MAX = wire.INT_RANGES["i64"]

# Status byte of VECTOR_RESULT.
MATCH, MISMATCH, UNKNOWN_VECTOR = 0, 1, 2


def compute_stats(ints: Sequence[int], floats: Sequence[float], data: bytes) -> List[Field]:
    """The seven STATS_REPLY fields for a STATS request (§7)."""
    wrapped = (sum(ints) - I64_MIN) % (1 << 64) + I64_MIN
    float_sum = 0.0
    float_min, float_max = math.inf, -math.inf
    # An explicit loop, not sum(): Python 3.12+ sum() of floats is compensated, while §7 asks for
    # plain left-to-right binary64 additions.
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
    """One connection: HELLO exchange, then requests answered in order until BYE, EOF or error."""

    def __init__(self, server: "InteropServer", sock: socket.socket, peer: str) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.peer_name = "?"
        self.peer_max: Optional[int] = None
        self.frames = 0
        self.handlers: Dict[int, Callable[[bytes], Optional[str]]] = {
            MsgType.PING: lambda payload: self.send(MsgType.PONG, wire.pong_payload(payload)),
            MsgType.BYE: self.on_bye,
            MsgType.ERROR: self.on_error,
            MsgType.ECHO: lambda payload: self.send(MsgType.ECHO_REPLY, payload),
            MsgType.ROUNDTRIP: lambda payload: self.send(MsgType.ROUNDTRIP_REPLY,
                                                         wire.encode(wire.decode(payload))),
            MsgType.VECTOR_CHECK: self.on_vector_check,
            MsgType.VECTOR_GET: self.on_vector_get,
            MsgType.STATS: self.on_stats,
        }

    def run(self) -> None:
        """Serve the connection, close it, and log one line."""
        try:
            outcome = self.serve()
        except _Closed as closed:
            outcome = str(closed)
        finally:
            wire.close_gracefully(self.sock)
        self.server.log("%s (%s): %d frames, %s" % (self.peer, self.peer_name, self.frames, outcome))

    def serve(self) -> str:
        first = self.receive()
        if first is None:
            return "closed before HELLO"
        if first.type != MsgType.HELLO:
            self.fail(ErrorCode.UNEXPECTED, 2, "expected HELLO, got message type 0x%04x" % first.type)
        try:
            hello = wire.decode_hello(first.payload)
        except WireError as exc:
            self.fail_payload(exc)
        self.peer_name = hello.name
        if hello.version != wire.PROTOCOL_VERSION:
            # Offset 9: the u16 version value right after the first tag byte of the payload.
            self.fail(ErrorCode.VERSION, wire.HEADER_SIZE + 1,
                      "HELLO version %d, this server speaks %d" % (hello.version, wire.PROTOCOL_VERSION))
        self.peer_max = hello.max_payload
        try:
            self.send(MsgType.HELLO, wire.encode_hello(self.server.max_payload, SERVER_NAME))
        except WireError as exc:
            self.fail(exc.code, exc.offset, exc.detail)
        while True:
            frame = self.receive()
            if frame is None:
                return "EOF"
            handler = self.handlers.get(frame.type)
            if handler is None:
                self.fail(ErrorCode.UNEXPECTED, 2, "message type 0x%04x not expected here" % frame.type)
            try:
                outcome = handler(frame.payload)
            except WireError as exc:
                self.fail_payload(exc)
            if outcome is not None:
                return outcome

    def receive(self) -> Optional[wire.Frame]:
        """Next frame, None at EOF between frames; header problems end the session with ERROR."""
        try:
            frame = wire.recv_frame(self.sock, self.server.max_payload, self.server.deadline())
        except WireError as exc:
            if exc.code == ErrorCode.TIMEOUT:
                self.fail(ErrorCode.TIMEOUT, None, "no complete frame within %g s" % self.server.timeout)
            if exc.code in (ErrorCode.CLOSED, ErrorCode.IO):
                raise _Closed("connection lost: %s" % exc) from None
            self.fail(exc.code, exc.offset, exc.detail)
        if frame is not None:
            self.frames += 1
        return frame

    def send(self, msg_type: int, payload: bytes) -> None:
        """Send a frame, never larger than the peer's announced limit (TOOBIG instead)."""
        if self.peer_max is not None and len(payload) > self.peer_max:
            raise WireError(ErrorCode.TOOBIG, None, "reply of %d bytes exceeds the peer's max payload %d"
                            % (len(payload), self.peer_max))
        try:
            wire.send_frame(self.sock, msg_type, payload, self.server.deadline())
        except WireError as exc:
            raise _Closed("cannot send: %s" % exc) from None

    def fail(self, code: int, offset: Optional[int], text: str) -> NoReturn:
        """Send ERROR and end the session (the socket is closed gracefully by run()). The ERROR
        goes out even if it exceeds a tiny peer limit: it is the only way to tell the peer why."""
        try:
            wire.send_frame(self.sock, MsgType.ERROR, wire.encode_error(code, offset, text),
                            self.server.deadline())
        except WireError:
            pass  # the peer is gone; the log line still records the error
        where = "" if offset is None else " at %d" % offset
        raise _Closed("sent ERROR %s%s: %s" % (wire.error_name(code), where, text))

    def fail_payload(self, exc: WireError) -> NoReturn:
        """ERROR for a problem inside the current frame's payload: offsets count the header."""
        self.fail(exc.code, None if exc.offset is None else wire.HEADER_SIZE + exc.offset, exc.detail)

    def on_bye(self, payload: bytes) -> str:
        wire.decode_bye(payload)
        self.send(MsgType.BYE, b"")
        return "BYE"

    def on_error(self, payload: bytes) -> str:
        error = wire.decode_error(payload)
        return "peer sent ERROR %s at %s: %s" % (wire.error_name(error.code), error.offset, error.message)

    def on_vector_check(self, payload: bytes) -> None:
        fields = wire.decode(payload)
        if not fields or fields[0][0] != "string":
            raise WireError(ErrorCode.MESSAGE, None, "VECTOR_CHECK must start with the vector name")
        expected = self.server.vectors.get(fields[0][1])
        if expected is None:
            result: Tuple[int, str, str, str] = (UNKNOWN_VECTOR, "", "", "")
        else:
            mismatch = vectors.first_mismatch(expected, fields[1:])
            result = ((MATCH, "", "", "") if mismatch is None
                      else (MISMATCH, mismatch.path, mismatch.expected, mismatch.got))
        self.send_result(result)

    def on_vector_get(self, payload: bytes) -> None:
        fields = wire.decode(payload)
        if len(fields) != 1 or fields[0][0] != "string":
            raise WireError(ErrorCode.MESSAGE, None, "VECTOR_GET takes exactly one string (the name)")
        values = self.server.vectors.get(fields[0][1])
        if values is None:
            self.send_result((UNKNOWN_VECTOR, "", "", ""))
        else:
            self.send(MsgType.VECTOR_DATA, wire.encode(fields + values))

    def send_result(self, result: Tuple[int, str, str, str]) -> None:
        status, path, expected, got = result
        self.send(MsgType.VECTOR_RESULT, wire.encode(
            [("u8", status), ("string", path), ("string", expected), ("string", got)]))

    def on_stats(self, payload: bytes) -> None:
        fields = wire.decode(payload)
        shape = [(t, v.elem if t == "list" else None) for t, v in fields]
        if shape != [("list", "i64"), ("list", "f64"), ("bytes", None)]:
            raise WireError(ErrorCode.MESSAGE, None, "STATS takes list:i64, list:f64, bytes")
        ints, floats, data = (value for _, value in fields)
        self.send(MsgType.STATS_REPLY, wire.encode(compute_stats(ints.items, floats.items, data)))


class InteropServer:
    """Listening socket plus the accept loop; each connection runs a Session in its own thread."""

    def __init__(self, host: str, port: int, vector_values: Dict[str, List[Field]],
                 max_payload: int = wire.DEFAULT_MAX_PAYLOAD, timeout: float = 60.0,
                 max_connections: int = 256) -> None:
        self.vectors = vector_values
        self.max_payload = max_payload
        self.timeout = timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        self.log_lock = threading.Lock()
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        self.listener = socket.create_server((host, port), family=family, backlog=128)
        self.port: int = self.listener.getsockname()[1]

    def deadline(self) -> float:
        """Deadline for one frame read or write: peers slower than ``timeout`` are dropped."""
        return time.monotonic() + self.timeout

    def log(self, line: str) -> None:
        with self.log_lock:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def serve_forever(self) -> None:
        while True:
            sock, address = self.listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = "%s:%d" % address[:2]
            if self.slots.acquire(blocking=False):
                target = self.session
            else:
                target = self.refuse
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
            self.slots.release()

    def refuse(self, sock: socket.socket, peer: str) -> None:
        try:
            wire.send_frame(sock, MsgType.ERROR, wire.encode_error(
                ErrorCode.LIMIT, None, "too many connections"), self.deadline())
        except WireError:
            pass  # nothing more to do for a peer we are turning away
        wire.close_gracefully(sock)
        self.log("%s: refused, connection limit reached" % peer)

    def close(self) -> None:
        self.listener.close()


class _Stop(Exception):
    """Raised by the signal handler to leave the accept loop."""


def _stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="wire interop server (Python)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=wire.port_number(0), default=0)
    parser.add_argument("--vectors", default=str(vectors.PROTO_DIR / "vectors.txt"))
    parser.add_argument("--max-payload", type=int, default=wire.DEFAULT_MAX_PAYLOAD)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a peer may take to send one frame or accept a reply")
    parser.add_argument("--max-connections", type=int, default=256)
    args = parser.parse_args(argv)
    try:
        cases = vectors.load_vectors(args.vectors)
    except (OSError, vectors.NotationError) as exc:
        print("server: cannot load vectors: %s" % exc, file=sys.stderr)
        return 2
    ok_values = {case.name: case.fields for case in cases if case.kind == "ok"}
    try:
        server = InteropServer(args.host, args.port, ok_values, args.max_payload, args.timeout,
                               args.max_connections)
    except OSError as exc:
        print("server: cannot listen on %s:%d: %s" % (args.host, args.port, exc), file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(server.port, flush=True)
    server.log("server: listening on %s:%d, %d vectors" % (args.host, server.port, len(ok_values)))
    try:
        server.serve_forever()
    except _Stop:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
