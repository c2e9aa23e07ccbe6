# SPDX-License-Identifier: MIT
"""proto/sessions.txt (proto/README.md section 8): message-level cases, each run on its own
connection against a server started with the file's config options; the tester plays the client.

:func:`load_sessions` parses the file, :func:`run_session` runs one session and says why it
failed (None when it passed). ``python3 sessions.py HOST PORT`` runs them all against a server.
"""

import shlex
import socket
import sys
import time
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import List, Optional, Sequence, Union

if __package__:  # installed: the wireproto package
    from . import vectors, wire
    from .wire import Field, MsgType, WireError
else:  # run as a script, or imported from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import vectors
    import wire
    from wire import Field, MsgType, WireError

EXPECT_MS = 5000  # an expect step's wait when its column 3 does not say
CLOSE_MS = 2000  # after an ERROR, or for expect-close at least: how long the server may take to close
HELLO_NAME = "python-sessions"
STEPS = ("hello", "send", "raw", "shutdown", "expect", "expect-error", "expect-close")
TYPED = ("send", "expect")


class SessionsError(ValueError):
    """A malformed sessions file."""


@dataclass
class Step:
    """One step: ``kind`` (one of STEPS), the message type of send/expect, the payload as fields
    (``fields`` not None) or bytes, the error code and offset (None: none) of expect-error, and
    the wait in milliseconds of the expect steps."""

    kind: str
    line: int
    msg_type: int = 0
    fields: Optional[List[Field]] = None
    data: bytes = b""
    code: int = 0
    offset: Optional[int] = None
    wait_ms: int = EXPECT_MS


@dataclass
class Session:
    name: str
    spec: str
    line: int
    steps: List[Step] = dataclass_field(default_factory=list)


@dataclass
class SessionsFile:
    config: List[str]  # the server's options
    sessions: List[Session]

    @property
    def max_payload(self) -> int:
        """The --max-payload of the config line: what the server's HELLO must announce."""
        if "--max-payload" in self.config:
            return int(self.config[self.config.index("--max-payload") + 1])
        return wire.DEFAULT_MAX_PAYLOAD


def _message_type(text: str) -> int:
    if text in MsgType.__members__:
        return int(MsgType[text])
    if len(text) == 6 and text.startswith("0x"):
        try:
            value = int(text[2:], 16)
        except ValueError:
            value = 0
        if value > 0:
            return value
    raise SessionsError("%r is not a message type (a messages.txt name or 0xNNNN)" % text)


def _step(what: str, middle: str, last: str, lineno: int) -> Step:
    kind, _, arg = what.partition(" ")
    if kind not in STEPS:
        raise SessionsError("unknown step %r" % kind)
    step = Step(kind, lineno)
    if kind in TYPED:
        step.msg_type = _message_type(arg)
        if middle and last:
            raise SessionsError("a payload is fields or hex, not both")
        if middle:
            step.fields = vectors.parse_fields(middle, wildcards=kind == "expect")
        step.data = vectors.parse_hex(last)
        return step
    if kind == "expect-error":
        if arg not in wire.ErrorCode.__members__:
            raise SessionsError("expect-error needs an error name, not %r" % arg)
        step.code = int(wire.ErrorCode[arg])
        if middle != "none" and not middle.isdigit():
            raise SessionsError("expect-error needs an offset or none, not %r" % middle)
        step.offset = None if middle == "none" else int(middle)
    elif arg:
        raise SessionsError("%s takes no argument" % kind)
    elif middle:
        raise SessionsError("%s has no column 2" % kind)
    if kind == "raw":
        step.data = vectors.parse_hex(last)
        if not step.data:
            raise SessionsError("raw needs bytes")
    elif kind in ("expect-error", "expect-close") and last:
        if not last.isdigit() or int(last) == 0:
            raise SessionsError("bad wait %r (milliseconds)" % last)
        step.wait_ms = int(last)
    elif last:
        raise SessionsError("%s has no column 3" % kind)
    return step


def parse_sessions(text: str) -> SessionsFile:
    config: Optional[List[str]] = None
    sessions: List[Session] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split("|")
        if len(parts) != 3:
            raise SessionsError("line %d: a line has three columns separated by ' | '" % lineno)
        what, middle, last = (part.strip() for part in parts)
        try:
            if what == "config":
                if config is not None or sessions:
                    raise SessionsError("the config line comes once, first")
                config = shlex.split(middle)
            elif what.startswith("session "):
                name = what[len("session "):].strip()
                if any(session.name == name for session in sessions):
                    raise SessionsError("duplicate session %r" % name)
                sessions.append(Session(name, middle, lineno))
            elif not sessions:
                raise SessionsError("a step before the first session")
            else:
                sessions[-1].steps.append(_step(what, middle, last, lineno))
        except (SessionsError, vectors.NotationError) as exc:
            raise SessionsError("line %d: %s" % (lineno, exc)) from None
    if config is None:
        raise SessionsError("no config line")
    return SessionsFile(config, sessions)


def load_sessions(path: Union[str, Path, None] = None) -> SessionsFile:
    """The sessions of a file (default proto/sessions.txt of this repository)."""
    return parse_sessions(Path(path or vectors.PROTO_DIR / "sessions.txt").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Running


class _Failed(Exception):
    """A step failed; the message says how."""


def _type_name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return "0x%04x" % msg_type


def _describe(frame: wire.Frame) -> str:
    """"ERROR MESSAGE at 16 ('text')" or "PONG with 3 bytes 010203"."""
    if frame.type == MsgType.ERROR:
        try:
            error = wire.decode_error(frame.payload)
        except WireError as exc:
            return "a malformed ERROR (%s)" % exc
        return "ERROR %s at %s (%r)" % (wire.error_name(error.code),
                                        "none" if error.offset is None else error.offset,
                                        error.message[:80])
    shown = frame.payload[:24].hex() + ("...(%d bytes)" % len(frame.payload)
                                        if len(frame.payload) > 24 else "")
    return "%s with %d bytes %s" % (_type_name(frame.type), len(frame.payload), shown)


class _Tester:
    """The client side of one session's connection."""

    def __init__(self, host: str, port: int, max_payload: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=3)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The tester takes whatever the server sends: the largest length a header can hold.
        self.reader = wire.FrameReader(self.sock, wire.U32_MAX)
        self.max_payload = max_payload

    def close(self) -> None:
        self.sock.close()

    def next_frame(self, wait_ms: int) -> wire.Frame:
        try:
            frame = self.reader.recv_frame(time.monotonic() + wait_ms / 1000)
        except WireError as exc:
            if exc.code == wire.ErrorCode.TIMEOUT:
                raise _Failed("nothing came within %d ms" % wait_ms) from None
            if exc.code == wire.ErrorCode.CLOSED:
                raise _Failed("the server reset the connection") from None
            raise _Failed("the server sent %s" % exc) from None
        if frame is None:
            raise _Failed("the server closed the connection")
        return frame

    def expect(self, msg_type: int, fields: Optional[List[Field]], data: bytes, wait_ms: int) -> None:
        wanted = _type_name(msg_type)
        try:
            frame = self.next_frame(wait_ms)
        except _Failed as exc:
            raise _Failed("expected %s: %s" % (wanted, exc)) from None
        if frame.type != msg_type:
            raise _Failed("expected %s, got %s" % (wanted, _describe(frame)))
        if fields is None:
            if frame.payload != data:
                raise _Failed("expected %s with %s, got %s" % (wanted, data[:24].hex(), _describe(frame)))
            return
        try:
            got = wire.decode(frame.payload)
        except WireError as exc:
            raise _Failed("expected %s, its payload does not decode: %s" % (wanted, exc)) from None
        mismatch = vectors.first_mismatch(fields, got)
        if mismatch is not None:
            raise _Failed("expected %s, field %s is %s, expected %s"
                          % (wanted, mismatch.path, mismatch.got, mismatch.expected))

    def expect_close(self, wait_ms: int, after: str = "") -> None:
        try:
            frame = self.reader.recv_frame(time.monotonic() + wait_ms / 1000)
        except WireError as exc:
            if exc.code == wire.ErrorCode.TIMEOUT:
                raise _Failed("expected the server to close%s, it kept the connection open %d ms"
                              % (after, wait_ms)) from None
            if exc.code == wire.ErrorCode.CLOSED:
                raise _Failed("expected the server to close%s, it reset the connection (an RST, not"
                              " the graceful close of SPEC 8.4)" % after) from None
            raise _Failed("expected the server to close%s, got %s" % (after, exc)) from None
        if frame is not None:
            raise _Failed("expected the server to close%s, got %s" % (after, _describe(frame)))

    def run(self, step: Step) -> None:
        if step.kind == "hello":
            wire.send_frame(self.sock, MsgType.HELLO,
                            wire.encode_hello(wire.DEFAULT_MAX_PAYLOAD, HELLO_NAME))
            self.expect(MsgType.HELLO, vectors.parse_fields(
                "u16:1 u32:%d string:*" % self.max_payload, wildcards=True), b"", step.wait_ms)
        elif step.kind == "send":
            payload = wire.encode(step.fields) if step.fields is not None else step.data
            wire.send_frame(self.sock, step.msg_type, payload)
        elif step.kind == "raw":
            self.sock.sendall(step.data)
        elif step.kind == "shutdown":
            self.sock.shutdown(socket.SHUT_WR)
        elif step.kind == "expect":
            self.expect(step.msg_type, step.fields, step.data, step.wait_ms)
        elif step.kind == "expect-error":
            self.expect_error(step)
        else:
            self.expect_close(max(step.wait_ms, CLOSE_MS))

    def expect_error(self, step: Step) -> None:
        wanted = "ERROR %s at %s" % (wire.error_name(step.code),
                                     "none" if step.offset is None else step.offset)
        try:
            frame = self.next_frame(step.wait_ms)
        except _Failed as exc:
            raise _Failed("expected %s: %s" % (wanted, exc)) from None
        try:
            error = wire.decode_error(frame.payload) if frame.type == MsgType.ERROR else None
        except WireError:
            error = None
        if error is None or (error.code, error.offset) != (step.code, step.offset):
            raise _Failed("expected %s, got %s" % (wanted, _describe(frame)))
        self.expect_close(CLOSE_MS, " after ERROR %s" % wire.error_name(step.code))


def run_session(session: Session, host: str, port: int, max_payload: int) -> Optional[str]:
    """Run one session on a new connection: None if it passed, else why it failed."""
    try:
        tester = _Tester(host, port, max_payload)
    except OSError as exc:
        return "cannot connect: %s" % exc
    try:
        for number, step in enumerate(session.steps, 1):
            try:
                tester.run(step)
            except _Failed as exc:
                return "step %d (line %d): %s" % (number, step.line, exc)
            except (OSError, WireError) as exc:
                return "step %d (line %d): sending: %s" % (number, step.line, exc)
        return None
    finally:
        tester.close()


def main(argv: Sequence[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: sessions.py HOST PORT [SESSIONS-FILE]", file=sys.stderr)
        return 2
    parsed = load_sessions(argv[2] if len(argv) == 3 else None)
    failed = 0
    for session in parsed.sessions:
        why = run_session(session, argv[0], int(argv[1]), parsed.max_payload)
        print("ok   %s" % session.name if why is None else "FAIL %s: %s" % (session.name, why))
        failed += why is not None
    print("%d passed, %d failed" % (len(parsed.sessions) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
