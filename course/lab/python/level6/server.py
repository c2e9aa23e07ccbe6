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
# recv_exact() loops until a whole payload is in, however the stream cuts it (2.5, 13.4): so we
# take every payload our HELLO allows, even a 1 MiB one that arrives in dozens of pieces.
LARGEST_PAYLOAD = MAX_PAYLOAD

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

def check_utf8(data: bytes, start: int, end: int) -> None:
    """Python's strict UTF-8 decoder refuses exactly what SPEC 4 refuses (overlong forms,
    surrogates, above U+10FFFF, stray or missing continuation bytes), and its error's `start` is
    the lead byte of the bad sequence: the offset SPEC 4 asks for."""
    try:
        data[start:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError(UTF8, start + e.start) from None


def decode_fields(data: bytes, pos: int, end: int, depth: int,
                  starts: Optional[List[int]] = None) -> List[Field]:
    """The fields in data[pos:end] (a payload, or a group's content), in order. The first problem
    raises WireError at its payload offset (5.2). `starts` collects where each field begins."""
    fields: List[Field] = []
    while pos < end:
        tag = data[pos]
        if tag not in TAG_NAMES:
            raise WireError(BADTAG, pos)
        if tag in (LIST, GROUP) and depth + 1 > MAX_DEPTH:
            raise WireError(DEPTH, pos)    # checked before anything of the container is read (3.6)
        if starts is not None:
            starts.append(pos)
        value, pos = decode_value(data, pos + 1, end, tag, depth + 1)
        fields.append((tag, value))
    return fields


def decode_value(data: bytes, pos: int, end: int, tag: int, depth: int) -> Tuple[object, int]:
    """One value of type `tag` at data[pos:]; returns it and the position after it. `end` is the
    end of the innermost group or of the payload: "bytes left" never goes past it (3.5)."""
    if tag in SCALAR_FORMAT:
        size = struct.calcsize(SCALAR_FORMAT[tag])
        if end - pos < size:
            raise WireError(TRUNCATED, pos)
        (value,) = struct.unpack_from(SCALAR_FORMAT[tag], data, pos)
        if tag == BOOL:
            if value > 1:
                raise WireError(BADBOOL, pos)
            value = value == 1
        return value, pos + size
    if tag == LIST:
        return decode_list(data, pos, end, depth)
    # string, bytes and group: a u32 length, checked against what is left BEFORE anything is
    # read or kept (9.2)
    if end - pos < 4:
        raise WireError(TRUNCATED, pos)
    (n,) = struct.unpack_from("!I", data, pos)
    if n > end - pos - 4:
        raise WireError(LENGTH, pos)
    start = pos + 4
    if tag == GROUP:
        return decode_group(data, start, start + n, depth), start + n
    if tag == STRING:
        check_utf8(data, start, start + n)
    return bytes(data[start:start + n]), start + n


# the smallest encoding of one list element of each type (5.4)
MIN_SIZE = {U8: 1, I8: 1, BOOL: 1, U16: 2, I16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
            STRING: 4, BYTES: 4, GROUP: 4, LIST: 5}


def decode_list(data: bytes, pos: int, end: int, depth: int) -> Tuple[object, int]:
    """A list value: element tag, u32 count, then `count` values without their tags (3.4)."""
    if end - pos < 1:
        raise WireError(TRUNCATED, pos)
    elem = data[pos]
    if elem not in TAG_NAMES:
        raise WireError(BADTAG, pos)
    if end - pos - 1 < 4:
        raise WireError(TRUNCATED, pos + 1)
    (count,) = struct.unpack_from("!I", data, pos + 1)
    # The count must be possible before we loop on it: each element takes at least MIN_SIZE bytes.
    # Divide rather than multiply: in C, count * 8 can overflow; the same test everywhere (5.4).
    if count > (end - pos - 5) // MIN_SIZE[elem]:
        raise WireError(LENGTH, pos + 1)
    p = pos + 5
    items = []
    for _ in range(count):
        if elem in (LIST, GROUP) and depth + 1 > MAX_DEPTH:
            raise WireError(DEPTH, p)    # an element container: at its first byte (3.6)
        item, p = decode_value(data, p, end, elem, depth + 1)
        items.append(item)
    return (elem, items), p


def decode_group(data: bytes, start: int, end: int, depth: int) -> List[Field]:
    """A group's content: fields, with the group's end as the end of the data (3.5)."""
    return decode_fields(data, start, end, depth)


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

def encode_value(tag: int, value: object) -> bytes:
    if tag in SCALAR_FORMAT:
        return struct.pack(SCALAR_FORMAT[tag], int(value))   # a bool packs as 0 or 1
    if tag in (STRING, BYTES):
        return struct.pack("!I", len(value)) + value
    return encode_container(tag, value)


def encode_fields(fields: List[Field]) -> bytes:
    return b"".join(bytes([tag]) + encode_value(tag, value) for tag, value in fields)


def encode_container(tag: int, value: object) -> bytes:
    if tag == GROUP:
        body = encode_fields(value)
        return struct.pack("!I", len(body)) + body     # the length is the exact size (3.7)
    elem, items = value          # a list: element tag, count, the values without their tags
    return struct.pack("!BI", elem, len(items)) + b"".join(encode_value(elem, v) for v in items)


# ---------------------------------------------------------------------------------------------
# proto/vectors.txt and the value notation (SPEC 10.7, 10.8): given, it is not the lesson
# ---------------------------------------------------------------------------------------------

NAME_TAGS = {name: tag for tag, name in TAG_NAMES.items()}


def parse_content(text: str) -> bytes:
    """`6869`, `ab*300` (repeated), or empty: the content of a string or bytes token."""
    if "*" in text:
        hexa, count = text.split("*")
        return bytes.fromhex(hexa) * int(count)
    return bytes.fromhex(text)


def parse_value(tokens: List[str], i: int, tag: int) -> Tuple[object, int]:
    """One value of type `tag` from tokens[i:], in the value notation; returns it and the next i."""
    tok = tokens[i]
    if tag == GROUP:                                   # group { fields }
        fields, i = parse_fields(tokens, i + 2, "}")
        return fields, i + 1
    name, _, text = tok.partition(":")
    if tag == LIST:                                    # list:E [ values ]
        elem = NAME_TAGS[text]
        items, i = [], i + 2
        while tokens[i] != "]":
            item, i = parse_value(tokens, i, elem)
            items.append(item)
        return (elem, items), i + 1
    if tag in (STRING, BYTES):
        return parse_content(text), i + 1
    if tag == BOOL:
        return text == "true", i + 1
    return int(text, 0), i + 1                         # decimal, or 0x... float bits


def parse_fields(tokens: List[str], i: int, stop: Optional[str]) -> Tuple[List[Field], int]:
    fields: List[Field] = []
    while i < len(tokens) and tokens[i] != stop:
        tag = NAME_TAGS[tokens[i].partition(":")[0]]
        value, i = parse_value(tokens, i, tag)
        fields.append((tag, value))
    return fields, i


def load_vectors(path: str) -> Dict[str, List[Field]]:
    """The `ok` vectors of a vectors.txt: name -> fields (the other kinds are not served)."""
    vectors: Dict[str, List[Field]] = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            head, fields, _hex = (part.strip() for part in line.split("|"))
            kind, name = head.split()
            if kind == "ok":
                vectors[name] = parse_fields(fields.split(), 0, None)[0]
    return vectors


def find_vectors(option: Optional[str]) -> str:
    """--vectors, else $WIRE_PROTO_DIR/vectors.txt, else proto/vectors.txt here or in a parent."""
    if option:
        return option
    if os.environ.get("WIRE_PROTO_DIR"):
        return os.path.join(os.environ["WIRE_PROTO_DIR"], "vectors.txt")
    d = os.getcwd()
    while True:
        candidate = os.path.join(d, "proto", "vectors.txt")
        if os.path.isfile(candidate) or os.path.dirname(d) == d:
            return candidate
        d = os.path.dirname(d)


def notation(tag: int, value: object) -> str:
    """One value in the value notation, for VECTOR_RESULT's expected and got (10.4)."""
    if tag == LIST:
        elem, items = value
        inner = "".join(notation(elem, v) + " " for v in items)
        return f"list:{TAG_NAMES[elem]} [ {inner}]"
    if tag == GROUP:
        return "group { " + "".join(notation(t, v) + " " for t, v in value) + "}"
    if tag in (STRING, BYTES):
        text = value.hex()
    elif tag == BOOL:
        text = "true" if value else "false"
    elif tag == F32:
        text = f"0x{value:08x}"
    elif tag == F64:
        text = f"0x{value:016x}"
    else:
        text = str(value)
    return f"{TAG_NAMES[tag]}:{text}"


def compare(expected: List[Field], got: List[Field], path: str) -> Optional[Tuple[str, str, str]]:
    """The first difference between two sequences of fields, depth first (10.4): (path, expected,
    got), or None when they match."""
    for i in range(max(len(expected), len(got))):
        here = f"{path}.{i}" if path else str(i)
        if i >= len(got):
            return here, notation(*expected[i]), "(missing)"
        if i >= len(expected):
            return here, "(none)", notation(*got[i])
        (etag, evalue), (gtag, gvalue) = expected[i], got[i]
        if etag != gtag:
            return here, notation(etag, evalue), notation(gtag, gvalue)
        if etag in (LIST, GROUP):
            found = compare_inside(etag, evalue, gvalue, here)
        elif evalue != gvalue:           # same integer, same float BITS, same bool, same bytes
            found = here, notation(etag, evalue), notation(gtag, gvalue)
        else:
            found = None
        if found:
            return found
    return None


def compare_inside(tag: int, expected: object, got: object, path: str) -> Optional[Tuple[str, str, str]]:
    """Containers are compared inside, so that the path says exactly where they differ."""
    if tag == GROUP:
        return compare(expected, got, path)
    if expected[0] != got[0]:            # two lists of different element types: the whole item
        return path, notation(LIST, expected), notation(LIST, got)
    elem = expected[0]
    return compare([(elem, v) for v in expected[1]], [(elem, v) for v in got[1]], path)


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
        """The 8 header bytes have arrived (8.3 steps 1-3): the payload length to read next, or
        None when the connection ends now (an ERROR may have been queued)."""
        version, flags, ftype, length = struct.unpack("!BBHI", header)
        try:
            # 2.3: in this order, the first failure wins
            if version != 1:
                raise WireError(VERSION, 0)
            if flags != 0:
                raise WireError(HEADER, 1)
            if ftype == 0:
                raise WireError(HEADER, 2)
            if length > MAX_PAYLOAD:
                raise WireError(TOOBIG, 4)   # from the header alone: the payload is never read
            if length > LARGEST_PAYLOAD:
                raise WireError(TOOBIG, 4, "this server does not take payloads over 64 KiB yet")
            if ftype == ERROR:
                self.why = "the client sent ERROR"   # never answered (7.4)
                return None
            # decided now, without waiting for a payload that may never come (8.3 step 3)
            allowed = ftype == HELLO if not self.handshake_done else ftype in self.handlers
            if not allowed:
                raise WireError(UNEXPECTED, 2)
        except WireError as e:
            self.fail(e)
            return None
        self.ftype = ftype
        return length

    def on_payload(self, payload: bytes) -> bool:
        """The whole frame has arrived (8.3 steps 4-6): answer it. False: the connection ends."""
        self.frames_in += 1
        try:
            if self.ftype == HELLO:
                self.on_hello(payload)
                return True
            return self.handlers[self.ftype](payload)
        except WireError as e:
            self.fail(e)
            return False
        except NotImplementedError as e:   # a part still to write (a skeleton's TODO): log it
            log(f"not written yet: {e}")
            self.why = "not implemented"
            return False

    def on_hello(self, payload: bytes) -> None:
        fields, at = decode_payload(payload)
        end = 8 + len(payload)          # where a missing field would have started (7.2)
        # field 0, u16 version, is judged first and alone: another version may differ after it
        if not fields or fields[0][0] != U16:
            raise WireError(MESSAGE, at[0] if fields else end)
        if fields[0][1] != 1:
            raise WireError(VERSION, at[0] + 1)
        if len(fields) < 2 or fields[1][0] != U32:
            raise WireError(MESSAGE, at[1] if len(fields) > 1 else end)
        if fields[1][1] < MIN_MAX_PAYLOAD:
            raise WireError(MESSAGE, at[1] + 1)     # the value's first byte, after the tag
        if len(fields) < 3 or fields[2][0] != STRING:
            raise WireError(MESSAGE, at[2] if len(fields) > 2 else end)
        if len(fields[2][1]) > 255:
            raise WireError(MESSAGE, at[2] + 1)     # a string's value starts with its length word
        # extra fields after the name are ignored (control messages, 7.2)
        self.peer_max = fields[1][1]
        self.handshake_done = True
        # our HELLO, field by field: u16 version 1, u32 max payload, string name (7.3)
        self.send(HELLO, struct.pack("!BHBIBI", U16, 1, U32, MAX_PAYLOAD, STRING, len(SERVER_NAME))
                  + SERVER_NAME)

    def on_ping(self, payload: bytes) -> bool:
        self.send(PONG, payload)        # the same bytes back (7.5)
        return True

    def on_bye(self, payload: bytes) -> bool:
        decode_payload(payload)         # BYE's payload is fields: it must decode (extra ignored)
        self.send(BYE, b"")
        self.why = "BYE"
        return False                    # then close gracefully (8.5)

    def on_echo(self, payload: bytes) -> bool:
        self.send(ECHO_REPLY, payload)  # opaque bytes: nothing to decode (10.2)
        return True

    def on_roundtrip(self, payload: bytes) -> bool:
        # decode into values, encode them again: canonical encoding gives the same bytes (3.7, 10.3)
        fields, _ = decode_payload(payload)
        self.send(ROUNDTRIP_REPLY, encode_fields(fields))
        return True

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
        name, got, _ = self.vector_name(payload)
        expected = self.vectors.get(name.decode())
        if expected is None:
            return self.unknown_vector()        # status 2: not an `ok` vector
        diff = compare(expected, got, "")
        status, path, exp, gotten = (1, *diff) if diff else (0, "", "", "")
        self.send(VECTOR_RESULT, encode_fields([(U8, status), (STRING, path.encode()),
                                                (STRING, exp.encode()), (STRING, gotten.encode())]))
        return True

    def on_vector_get(self, payload: bytes) -> bool:
        name, rest, at = self.vector_name(payload)
        if rest:
            raise WireError(MESSAGE, at[1])     # exactly one field (7.2)
        fields = self.vectors.get(name.decode())
        if fields is None:
            return self.unknown_vector()
        # made by OUR encoder from the parsed values: that is what the client checks (10.5)
        self.send(VECTOR_DATA, encode_fields([(STRING, name)] + fields))
        return True

    def on_stats(self, payload: bytes) -> bool:
        fields, at = decode_payload(payload)
        # exactly list:i64, list:f64, bytes; the first field that does not match is MESSAGE (7.2)
        for i, (tag, elem) in enumerate([(LIST, I64), (LIST, F64), (BYTES, None)]):
            if i >= len(fields) or fields[i][0] != tag:
                raise WireError(MESSAGE, at[i] if i < len(fields) else 8 + len(payload))
            if elem is not None and fields[i][1][0] != elem:
                raise WireError(MESSAGE, at[i] + 1)     # the element tag byte
        if len(fields) > 3:
            raise WireError(MESSAGE, at[3])
        ints, floats, data = fields[0][1][1], [bits_to_f64(b) for b in fields[1][1][1]], fields[2][1]
        # Python ints never overflow: wrap the sum to 64 bits by hand, as C's uint64_t does (10.6)
        total = sum(ints) & 0xFFFFFFFFFFFFFFFF
        total = total - (1 << 64) if total >= 1 << 63 else total
        fsum, fmin, fmax = 0.0, float("inf"), float("-inf")
        for x in floats:                  # left to right, exactly the SPEC's loops
            fsum = fsum + x
            if x < fmin:
                fmin = x
            if x > fmax:
                fmax = x
        self.send(STATS_REPLY, encode_fields([
            (I64, total), (I64, min(ints, default=2**63 - 1)), (I64, max(ints, default=-2**63)),
            (F64, f64_to_bits(fsum)), (F64, f64_to_bits(fmin)), (F64, f64_to_bits(fmax)),
            (U32, zlib.crc32(data))]))
        return True


def bits_to_f64(bits: int) -> float:
    return struct.unpack("!d", struct.pack("!Q", bits))[0]


def f64_to_bits(x: float) -> int:
    return struct.unpack("!Q", struct.pack("!d", x))[0]


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


def recv_exact(conn: socket.socket, n: int, deadline: float) -> bytes:
    """Exactly n bytes, or fewer at EOF: one recv() may return any part of what was sent (13.4).
    Raises socket.timeout at `deadline`: without it, one client that stops sending in the
    middle of a frame would block this server forever."""
    data = bytearray()
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        conn.settimeout(left)
        chunk = conn.recv(min(n - len(data), 65536))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def serve_blocking(conn: socket.socket, session: Session) -> None:
    """Read a header, check it, read its payload, answer; until the connection ends (8.3)."""
    try:
        while True:
            try:
                # idle timeout: the next frame's first byte must come within IDLE_TIMEOUT of the
                # last complete frame; from that byte on, the whole frame within FRAME_TIMEOUT (9.3)
                header = recv_exact(conn, 1, time.monotonic() + IDLE_TIMEOUT)
                deadline = time.monotonic() + FRAME_TIMEOUT
                if header:
                    header += recv_exact(conn, 7, deadline)
                if len(header) < 8:
                    session.why = "EOF"  # at a frame boundary, or in a header (8.5): no ERROR
                    break
                length = session.on_header(header)
                if length is None:
                    break
                payload = recv_exact(conn, length, deadline)
            except socket.timeout:
                session.why = "TIMEOUT"
                session.fail(WireError(TIMEOUT, NO_OFFSET))
                break
            if len(payload) < length:
                session.why = "EOF in a frame"
                break
            going_on = session.on_payload(payload)
            conn.settimeout(None)        # a reply is sent whole, however slowly the client reads
            conn.sendall(session.out)
            session.out.clear()
            if not going_on:
                break
        conn.sendall(session.out)
    except OSError as e:
        session.why = f"I/O error: {e}"
    graceful_close(conn)


# ---------------------------------------------------------------------------------------------
# Level 5: one thread, non-blocking sockets, an event loop over `selectors` (13.7). Every client
# has its input buffer (a read returns whatever has arrived: 2.5, 13.4), its output queue, and a
# deadline: the idle timeout between frames, the frame timeout once a frame has begun (9.3).
# ---------------------------------------------------------------------------------------------

MAX_QUEUED = 4 * 1048576     # past this much unsent output, stop reading that client (backpressure)


class Client:
    def __init__(self, sock: socket.socket, peer: str, session: Session) -> None:
        self.sock, self.peer, self.session = sock, peer, session
        self.inbuf = bytearray()          # bytes received, not yet a whole frame
        self.length: Optional[int] = None  # the current frame's payload length, once its header passed
        self.closing = False              # no more frames: send what is queued, then close
        self.draining_until = 0.0         # after shutdown(SHUT_WR): discard input until then (8.4)
        self.deadline = time.monotonic() + IDLE_TIMEOUT

    def wanted_events(self) -> int:
        events = 0
        if self.draining_until or (not self.closing and len(self.session.out) < MAX_QUEUED):
            events |= selectors.EVENT_READ
        if self.session.out:
            events |= selectors.EVENT_WRITE
        return events

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        now = time.monotonic()
        if self.draining_until:          # draining: throw away, stop at EOF
            if not data:
                self.draining_until = now  # ends at the next sweep
            return
        if not data:                     # EOF: everything complete was answered; close (8.5)
            self.session.why = self.session.why or ("EOF" if not self.inbuf else "EOF in a frame")
            self.closing = True
            return
        if not self.inbuf:
            self.deadline = now + FRAME_TIMEOUT   # a frame begins: the frame timeout takes over
        self.inbuf += data
        self.take_frames(now)

    def take_frames(self, now: float) -> None:
        """Every complete frame in the buffer, in order (2.5); what follows stays for the next."""
        while not self.closing:
            if self.length is None:
                if len(self.inbuf) < 8:
                    return               # need more: the header is incomplete
                self.length = self.session.on_header(bytes(self.inbuf[:8]))
                if self.length is None:
                    self.closing = True
                    return
            if len(self.inbuf) < 8 + self.length:
                return                   # need more: the payload is incomplete
            payload = bytes(self.inbuf[8:8 + self.length])
            del self.inbuf[:8 + self.length]
            self.length = None
            if not self.session.on_payload(payload):
                self.closing = True
            # the next frame's timer: idle if nothing more has come, else that frame's own
            self.deadline = now + (FRAME_TIMEOUT if self.inbuf else IDLE_TIMEOUT)

    def on_writable(self) -> None:
        try:
            n = self.sock.send(self.session.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.session.out.clear()     # the client is gone: nothing can be sent any more
            self.closing = True
            self.draining_until = time.monotonic()
            return
        del self.session.out[:n]

    def on_deadline(self, now: float) -> None:
        if self.closing:
            return
        self.session.why = "TIMEOUT"
        if self.length is not None and self.session.ftype == ERROR:
            pass                         # an incomplete ERROR is not answered (7.4)
        else:
            self.session.fail(WireError(TIMEOUT, NO_OFFSET))
        self.closing = True


def serve_forever(listener: socket.socket, vectors: Dict[str, List[Field]],
                  udp: Optional[socket.socket]) -> None:
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    if udp is not None:              # level 6: the UDP socket is one more thing to wait for
        udp.setblocking(False)
        sel.register(udp, selectors.EVENT_READ, "udp")
    clients: Dict[socket.socket, Client] = {}
    accept_again = 0.0               # out of descriptors: when to watch the listener again
    while True:
        now = time.monotonic()
        # the nearest deadline bounds the wait: timers without threads
        deadlines = [c.draining_until if c.draining_until else c.deadline for c in clients.values()]
        if accept_again:
            deadlines.append(accept_again)
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        for key, events in sel.select(timeout):
            if key.data == "udp":        # a datagram: answered at once, nothing is kept (15.5)
                answer_datagram(udp, vectors)
                continue
            if key.data is None:         # the listening socket: a new client (or several)
                try:
                    sock, addr = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as err:   # EMFILE: out of descriptors. The client stays queued and
                    # the listener readable, so stop watching it for 0.1 s rather than spin on it
                    log(f"accept: {err.strerror}: not accepting for 0.1 s")
                    sel.unregister(listener)
                    accept_again = time.monotonic() + 0.1
                    continue
                sock.setblocking(False)
                clients[sock] = Client(sock, f"{addr[0]}:{addr[1]}", Session(vectors))
                sel.register(sock, selectors.EVENT_READ, clients[sock])
                continue
            client: Client = key.data
            if events & selectors.EVENT_READ:
                client.on_readable()
            if events & selectors.EVENT_WRITE:
                client.on_writable()
        now = time.monotonic()
        if accept_again and now >= accept_again:
            sel.register(listener, selectors.EVENT_READ, None)
            accept_again = 0.0
        for client in list(clients.values()):
            if not client.closing and now >= client.deadline:
                client.on_deadline(now)
            if client.closing and not client.session.out and not client.draining_until:
                # everything sent: FIN, then drain for a bounded time (8.4)
                try:
                    client.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                client.draining_until = now + DRAIN_TIME
            if client.draining_until and now >= client.draining_until:
                sel.unregister(client.sock)
                client.sock.close()
                del clients[client.sock]
                log(f"{client.peer}: closed after {client.session.frames_in} frames in: "
                    f"{client.session.why or 'closed'}")
                continue
            # never 0: a client either reads, drains, or has output queued
            events = client.wanted_events()
            if events != sel.get_key(client.sock).events:
                sel.modify(client.sock, events, client)




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
    path = find_vectors(args.vectors)
    try:
        vectors = load_vectors(path)
    except OSError as e:
        log(f"cannot read the vectors: {e} (use --vectors FILE)")
        return 2

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
