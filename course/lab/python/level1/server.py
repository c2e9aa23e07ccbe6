#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A wire server in one file, standard library only: the lab's reference solution in Python.

    python3 server.py [--port P] [--vectors FILE]

It listens on 127.0.0.1 (port P, default 0: any free port), prints the port number alone on the
first line of stdout, logs to stderr and exits 0 on SIGTERM or SIGINT. Its configuration is
proto/sessions.txt's config line: max payload 1048576, idle timeout 2 s, frame timeout 1 s.

Read it from top to bottom: that is the order in which it is built, level by level.
SPEC.md is the reference; the section numbers in the comments point into it.
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import struct
import sys
import time
import zlib
from typing import Dict, List, Optional, Tuple

# ---------------------------------------------------------------------------------------------
# Constants (SPEC 6, 7.1, 9.1, proto/sessions.txt's config line)
# ---------------------------------------------------------------------------------------------

MAX_PAYLOAD = 1048576        # the largest payload we accept, announced in our HELLO (2.4)
IDLE_TIMEOUT = 2.0           # seconds without a complete frame before ERROR(TIMEOUT) (9.3)
FRAME_TIMEOUT = 1.0          # seconds for a started frame to arrive whole (9.3)
DRAIN_TIME = 1.0             # how long we read and discard after our last frame (8.4)
MIN_MAX_PAYLOAD = 1037       # the largest ERROR payload: every peer must accept it (8.1)
MAX_DEPTH = 32               # nesting limit for lists and groups (3.6)
NO_OFFSET = 0xFFFFFFFF       # ERROR offset when there is none (7.4)
SERVER_NAME = b"python-lab-server"
# TODO level 2: take every payload up to MAX_PAYLOAD (1 MiB: it arrives in many recv()s, SPEC 2.5, 13.4)
LARGEST_PAYLOAD = 65536

# message types (7.1)
HELLO, ERROR, PING, PONG, BYE = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005
ECHO, ECHO_REPLY = 0x0100, 0x0101
ROUNDTRIP, ROUNDTRIP_REPLY = 0x0102, 0x0103
VECTOR_CHECK, VECTOR_RESULT = 0x0104, 0x0105
VECTOR_GET, VECTOR_DATA = 0x0106, 0x0107
STATS, STATS_REPLY = 0x0108, 0x0109

# error codes (6): only those a server sends
TRUNCATED, BADTAG, BADBOOL, UTF8, LENGTH, DEPTH = 1, 2, 4, 5, 6, 7
TOOBIG, VERSION, HEADER, UNEXPECTED, MESSAGE, TIMEOUT = 8, 10, 11, 12, 13, 17
ERROR_TEXT = {
    TRUNCATED: "value runs past the end of the data", BADTAG: "unknown type tag",
    BADBOOL: "bool byte is neither 0 nor 1", UTF8: "string is not valid UTF-8",
    LENGTH: "length or count larger than the bytes that remain", DEPTH: "nesting deeper than 32 levels",
    TOOBIG: "frame payload larger than the receiver's limit", VERSION: "unsupported protocol version",
    HEADER: "malformed frame header", UNEXPECTED: "message type not expected here",
    MESSAGE: "message fields do not match its definition", TIMEOUT: "operation timed out",
}

# field tags (3.2)
U8, U16, U32, U64, I8, I16, I32, I64 = 0x01, 0x02, 0x03, 0x04, 0x11, 0x12, 0x13, 0x14
F32, F64, BOOL, STRING, BYTES, LIST, GROUP = 0x23, 0x24, 0x30, 0x40, 0x41, 0x50, 0x51
TAG_NAMES = {U8: "u8", U16: "u16", U32: "u32", U64: "u64", I8: "i8", I16: "i16", I32: "i32",
             I64: "i64", F32: "f32", F64: "f64", BOOL: "bool", STRING: "string", BYTES: "bytes",
             LIST: "list", GROUP: "group"}

# The struct format of each fixed-size value. '!' means network byte order: big-endian and no
# padding, whatever this machine's own order is (13.1). Floats are kept as their bits (an int),
# read with the unsigned format of their width: that keeps every NaN payload and -0.0 (3.3, 13.3).
SCALAR_FORMAT = {U8: "!B", U16: "!H", U32: "!I", U64: "!Q", I8: "!b", I16: "!h", I32: "!i",
                 I64: "!q", F32: "!I", F64: "!Q", BOOL: "!B"}

# A decoded field is (tag, value): the tag must be kept, since u8:200 and u16:200 are different
# values (3.7). Values: int (integers, and the bits of floats), bool, bytes (a string's UTF-8 bytes,
# or bytes), a list is (element tag, [values]), a group is [fields].
Field = Tuple[int, object]


class WireError(Exception):
    """A protocol error to answer with ERROR(code, offset); offset counts from the frame's first
    byte (5.1), or is NO_OFFSET."""

    def __init__(self, code: int, offset: int, text: str = "") -> None:
        super().__init__(text or ERROR_TEXT.get(code, "error"))
        self.code = code
        self.offset = offset


def log(msg: str) -> None:
    print(f"server.py: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Decoding fields (SPEC 3, 4, 5.2): offsets here count from the payload's first byte
# ---------------------------------------------------------------------------------------------

def decode_fields(data: bytes, pos: int, end: int, depth: int,
                  starts: Optional[List[int]] = None) -> List[Field]:
    # TODO level 1: decode the fields of data[pos:end] (SPEC 3.2, 4, 5.2); raise WireError at the first problem
    return []


def decode_list(data: bytes, pos: int, end: int, depth: int) -> Tuple[object, int]:
    raise NotImplementedError("TODO level 4: decode a list (SPEC 3.4, 5.2, 5.4)")


def decode_group(data: bytes, start: int, end: int, depth: int) -> List[Field]:
    raise NotImplementedError("TODO level 4: decode a group's fields (SPEC 3.5)")


def decode_payload(payload: bytes) -> Tuple[List[Field], List[int]]:
    """The payload's fields, and the FRAME offset of each one; a decoding error is raised at its
    frame offset, 8 + its payload offset (5.1)."""
    starts: List[int] = []
    try:
        fields = decode_fields(payload, 0, len(payload), 0, starts)
    except WireError as e:
        raise WireError(e.code, 8 + e.offset) from None
    return fields, [8 + s for s in starts]


# ---------------------------------------------------------------------------------------------
# Encoding fields (SPEC 3): the exact inverse of decoding (3.7)
# ---------------------------------------------------------------------------------------------

def encode_fields(fields: List[Field]) -> bytes:
    # TODO level 3: encode each field: its tag byte, then its value in network byte order (SPEC 3.2, 3.3)
    return b""


def encode_container(tag: int, value: object) -> bytes:
    raise NotImplementedError("TODO level 4: encode lists and groups (SPEC 3.4, 3.5)")






def compare_inside(tag: int, expected: object, got: object, path: str) -> Optional[Tuple[str, str, str]]:
    # TODO level 4: compare lists element by element and groups field by field (SPEC 10.4)
    return None if expected == got else (path, notation(tag, expected), notation(tag, got))


# ---------------------------------------------------------------------------------------------
# One connection's protocol: no I/O here, so that levels 1-4 (blocking) and level 5 (event loop)
# drive the same object. Frames to send accumulate in self.out.
# ---------------------------------------------------------------------------------------------

def frame(ftype: int, payload: bytes) -> bytes:
    """The 8-byte header (2.1): version 1, flags 0, u16 type, u32 length, big-endian ('!')."""
    return struct.pack("!BBHI", 1, 0, ftype, len(payload)) + payload


def error_payload(code: int, offset: int, text: str) -> bytes:
    """ERROR's fields (7.4): u16 code, u32 offset, string message; built by hand (level 1)."""
    message = text.encode("utf-8")[:1024]
    return struct.pack("!BHBIBI", U16, code, U32, offset, STRING, len(message)) + message


class Session:
    def __init__(self, vectors: Dict[str, List[Field]]) -> None:
        self.vectors = vectors
        self.handshake_done = False
        self.peer_max = MIN_MAX_PAYLOAD   # the client's max payload, known from its HELLO
        self.out = bytearray()            # frames waiting to be sent
        self.ftype = 0                    # the type of the frame whose header we have checked
        self.frames_in = 0
        self.why = ""                     # why the connection ended, for the log line
        # the requests we serve after the handshake, and who answers each
        self.handlers = {PING: self.on_ping, BYE: self.on_bye, ECHO: self.on_echo,
                         ROUNDTRIP: self.on_roundtrip, VECTOR_CHECK: self.on_vector_check,
                         VECTOR_GET: self.on_vector_get, STATS: self.on_stats}

    def send(self, ftype: int, payload: bytes) -> None:
        # never send more than the client said it accepts (8.1, 10.1)
        if len(payload) > self.peer_max:
            raise WireError(TOOBIG, NO_OFFSET, "the reply is larger than your max payload")
        self.out += frame(ftype, payload)

    def fail(self, err: WireError) -> None:
        self.out += frame(ERROR, error_payload(err.code, err.offset, str(err)))
        self.why = f"sent ERROR {err.code} at {err.offset:#x}" if err.offset == NO_OFFSET \
            else f"sent ERROR {err.code} at {err.offset}"

    def on_header(self, header: bytes) -> Optional[int]:
        # TODO level 1: check the header (SPEC 2.3), refuse types not allowed now (8.3), return the length
        self.fail(WireError(UNEXPECTED, 2))
        return None

    def on_payload(self, payload: bytes) -> bool:
        # TODO level 1: answer HELLO, PING, BYE (SPEC 7.3, 7.5, 7.6, 8.3 steps 4-6)
        return False

    def on_ping(self, payload: bytes) -> bool:
        return False

    def on_bye(self, payload: bytes) -> bool:
        return False

    def on_echo(self, payload: bytes) -> bool:
        self.send(ECHO_REPLY, payload)  # opaque bytes: nothing to decode (10.2)
        return True

    def on_roundtrip(self, payload: bytes) -> bool:
        raise WireError(UNEXPECTED, 2, "TODO level 3: decode, re-encode, send ROUNDTRIP_REPLY (SPEC 10.3)")

    def vector_name(self, payload: bytes) -> Tuple[bytes, List[Field], List[int]]:
        """VECTOR_CHECK and VECTOR_GET start with `string name` (10.4, 10.5)."""
        fields, at = decode_payload(payload)
        if not fields or fields[0][0] != STRING:
            raise WireError(MESSAGE, at[0] if fields else 8)
        return fields[0][1], fields[1:], at

    def unknown_vector(self) -> bool:
        self.send(VECTOR_RESULT, encode_fields([(U8, 2), (STRING, b""), (STRING, b""), (STRING, b"")]))
        return True

    def on_vector_check(self, payload: bytes) -> bool:
        raise WireError(UNEXPECTED, 2, "TODO level 3: compare with the vector, send VECTOR_RESULT (SPEC 10.4)")

    def on_vector_get(self, payload: bytes) -> bool:
        raise WireError(UNEXPECTED, 2, "TODO level 3: encode the vector, send VECTOR_DATA (SPEC 10.5)")

    def on_stats(self, payload: bytes) -> bool:
        raise WireError(UNEXPECTED, 2, "TODO level 4: compute the STATS_REPLY fields (SPEC 10.6)")




# ---------------------------------------------------------------------------------------------
# Levels 1-4: blocking I/O, one client at a time
# ---------------------------------------------------------------------------------------------

def graceful_close(conn: socket.socket) -> None:
    """8.4: FIN after our last frame, then read and throw away what the client still sends, for a
    bounded time, so that close() does not answer with an RST that would destroy our last frame."""
    try:
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + DRAIN_TIME
        while time.monotonic() < deadline:
            conn.settimeout(max(deadline - time.monotonic(), 0.01))
            if not conn.recv(65536):
                break                    # EOF: the client has closed too
    except OSError:
        pass                             # timeout, reset: nothing more to do
    conn.close()


def serve_blocking(conn: socket.socket, session: Session) -> None:
    # TODO level 1: loop: read 8 header bytes, session.on_header, read the payload, session.on_payload, send session.out
    graceful_close(conn)


def serve_forever(listener: socket.socket, vectors: Dict[str, List[Field]],
                  udp: Optional[socket.socket]) -> None:
    # TODO level 5: serve many clients at once (an event loop over selectors) with the idle and frame timeouts
    # Meanwhile, an iterative server: one client at a time, the next ones wait in the listen queue.
    while True:
        conn, addr = listener.accept()
        session = Session(vectors)
        serve_blocking(conn, session)
        log(f"{addr[0]}:{addr[1]}: closed after {session.frames_in} frames in: {session.why}")




def listen_tcp(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # restart at once (13.6)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    return listener


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description="A wire server (the lab's Python solution).")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free one)")
    parser.add_argument("--vectors", help="proto/vectors.txt (level 3 on)")
    args = parser.parse_args()
    vectors: Dict[str, List[Field]] = {}

    # SIGTERM and SIGINT end the server with status 0; a client that leaves does not (Python
    # already ignores SIGPIPE: a write to a closed connection raises BrokenPipeError instead).
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # TODO level 6: also bind a UDP socket to the TCP port's number, and answer its datagrams (SPEC 15)
    listener, udp = listen_tcp(args.port), None
    print(listener.getsockname()[1], flush=True)   # the port, alone on the first line
    serve_forever(listener, vectors, udp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
