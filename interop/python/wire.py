# SPDX-License-Identifier: MIT
"""wire protocol v1 for Python: value codec, frames, blocking socket helpers, control messages.

Value model
-----------
A payload is a list of *fields*; a field is a ``(type_name, value)`` pair (:data:`Field`). The type
names are the ones of the proto/ value notation, and each maps to one Python representation:

- ``u8 u16 u32 u64 i8 i16 i32 i64``: ``int``, range-checked on encode (RANGE, never masked).
- ``f32``: :class:`F32`, the exact 32-bit pattern (a float32 signalling NaN widened to a Python
  float would be quieted). Encode also takes a ``float``, rounded by :meth:`F32.from_float`.
- ``f64``: ``float`` (bits, NaN payloads included, survive). Encode also takes an ``int``.
- ``bool``: ``True`` / ``False`` only.
- ``string``: ``str``, encoded as UTF-8 (a lone surrogate is RANGE).
- ``bytes``: ``bytes`` (encode also takes ``bytearray`` / ``memoryview``).
- ``list``: :class:`ListValue` ``(elem, items)``; ``items`` are *values* of type ``elem`` (a list
  of lists holds ``ListValue`` items, a list of groups holds field lists).
- ``group``: a list of fields.

Values of the wrong Python type are INVAL; containers deeper than 32 levels are DEPTH on encode too.
Decoding always produces exactly these types, so ``encode(decode(b)) == b`` for every valid payload.
"""

import argparse
import enum
import re
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

PROTOCOL_VERSION = 1
# The protocol's limits (SPEC 9.1); the names are proto/limits.txt's, upper-cased (a test checks).
HEADER_SIZE = 8
MAX_DEPTH = 32
DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
MIN_MAX_PAYLOAD = 1037  # the largest ERROR payload (SPEC 7.4, 8.1): every HELLO and ERROR fits
HELLO_NAME_MAX = 255  # bytes of UTF-8 in a HELLO name
ERROR_TEXT_MAX = 1024  # bytes of UTF-8 in an ERROR message
NO_OFFSET = 0xFFFFFFFF  # ERROR offset meaning "no offset"
U32_MAX = 0xFFFFFFFF
DRAIN_SECONDS = 1.0  # how long a graceful close reads and discards input (SPEC 8.4: about a second)

BytesLike = Union[bytes, bytearray, memoryview]
Field = Tuple[str, Any]


# --------------------------------------------------------------------------------------------
# Errors


class ErrorCode(enum.IntEnum):
    """Protocol error codes; must equal proto/errors.txt (checked by the tests)."""

    OK = 0
    TRUNCATED = 1
    BADTAG = 2
    TYPE = 3
    BADBOOL = 4
    UTF8 = 5
    LENGTH = 6
    DEPTH = 7
    TOOBIG = 8
    OVERFLOW = 9
    VERSION = 10
    HEADER = 11
    UNEXPECTED = 12
    MESSAGE = 13
    RANGE = 14
    IO = 15
    CLOSED = 16
    TIMEOUT = 17
    ADDRESS = 18
    LIMIT = 19
    INVAL = 20
    PEER = 21


class ErrorInfo(NamedTuple):
    """One row of the error table: code, name, whether it may be sent in an ERROR frame, text."""

    code: int
    name: str
    on_wire: bool
    message: str


ERROR_TABLE: Tuple[ErrorInfo, ...] = (
    ErrorInfo(0, "OK", False, "success"),
    ErrorInfo(1, "TRUNCATED", True, "value runs past the end of the data"),
    ErrorInfo(2, "BADTAG", True, "unknown type tag"),
    ErrorInfo(3, "TYPE", True, "field has another type than the one expected"),
    ErrorInfo(4, "BADBOOL", True, "bool byte is neither 0 nor 1"),
    ErrorInfo(5, "UTF8", True, "string is not valid UTF-8"),
    ErrorInfo(6, "LENGTH", True, "length or count larger than the bytes that remain"),
    ErrorInfo(7, "DEPTH", True, "nesting deeper than 32 levels"),
    ErrorInfo(8, "TOOBIG", True, "frame payload larger than the receiver's limit"),
    ErrorInfo(9, "OVERFLOW", False, "output buffer too small"),
    ErrorInfo(10, "VERSION", True, "unsupported protocol version"),
    ErrorInfo(11, "HEADER", True, "malformed frame header"),
    ErrorInfo(12, "UNEXPECTED", True, "message type not expected here"),
    ErrorInfo(13, "MESSAGE", True, "message fields do not match its definition"),
    ErrorInfo(14, "RANGE", False, "value out of range for its wire type"),
    ErrorInfo(15, "IO", False, "I/O error"),
    ErrorInfo(16, "CLOSED", False, "connection closed by peer"),
    ErrorInfo(17, "TIMEOUT", True, "operation timed out"),
    ErrorInfo(18, "ADDRESS", False, "cannot resolve or use the address"),
    ErrorInfo(19, "LIMIT", True, "a resource limit was reached"),
    ErrorInfo(20, "INVAL", False, "invalid argument or API misuse"),
    ErrorInfo(21, "PEER", False, "the peer sent an ERROR and closed the connection"),
)


def error_name(code: int) -> str:
    """Name of a protocol error code; application codes (256..65535) are named ``APP<code>``."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return "APP%d" % code if code >= 256 else "CODE%d" % code


def error_text(code: int) -> str:
    """The table's message for a code ("" for codes outside the table)."""
    return ERROR_TABLE[code].message if 0 <= code < len(ERROR_TABLE) else ""


class WireError(Exception):
    """A wire failure: ``code`` (int), ``name`` (e.g. "UTF8"), ``offset`` (int or None), ``detail``.

    Codec offsets count from the first payload byte; frame header offsets from the header's first
    byte. ``path`` locates a bad value on encode ("2.0.5": field, then element/field indices).

    ``WireError(code, ...)`` makes an instance of the subclass that also derives from the built-in
    exception for that kind of failure, so that callers may catch either: :class:`WireValueError`
    (a ``ValueError``: bad data, decoding, the frame header, a value out of range, misuse),
    :class:`WireConnectionError` (a ``ConnectionError``: CLOSED, PEER), :class:`WireTimeoutError`
    (a ``TimeoutError``: TIMEOUT), :class:`WireOSError` (an ``OSError``: IO, ADDRESS). OK, LIMIT
    and codes outside the table stay plain WireErrors. Naming a subclass keeps it whatever the code
    (a Connection reports the stream ending inside a frame, TRUNCATED, as a ConnectionError).
    """

    def __new__(cls, code: int, offset: Optional[int] = None, detail: str = "",
                path: Sequence[int] = ()) -> "WireError":
        if cls is WireError:
            cls = _ERROR_CLASSES.get(int(code), WireError)
        # No arguments: OSError's __new__ would take (code, offset, detail) for (errno, strerror,
        # filename); args are set in __init__.
        return super().__new__(cls)  # type: ignore[call-arg]

    def __init__(self, code: int, offset: Optional[int] = None, detail: str = "",
                 path: Sequence[int] = ()) -> None:
        self.code = int(code)
        self.name = error_name(self.code)
        self.offset = offset
        self.detail = detail
        self.path = tuple(path)
        Exception.__init__(self, self.code, offset, detail)

    def __str__(self) -> str:
        text = self.name
        if self.offset is not None:
            text += " at offset %d" % self.offset
        if self.path:
            text += " at field %s" % ".".join(map(str, self.path))
        text += ": " + (self.detail or error_text(self.code))
        return text

    def shifted(self, delta: int) -> "WireError":
        """The same error with its offset moved by ``delta`` (e.g. 8 to count the frame header)."""
        offset = None if self.offset is None else self.offset + delta
        return type(self)(self.code, offset, self.detail, self.path)

    def __reduce__(self) -> Any:  # pickling (multiprocessing) keeps the class and the path
        return type(self), (self.code, self.offset, self.detail, self.path)


class WireValueError(WireError, ValueError):
    """Bad data or a bad argument: decoding, frame header, message and range errors."""


class WireConnectionError(WireError, ConnectionError):
    """The peer closed the connection (CLOSED), or ended it with an ERROR (PEER)."""


class WireTimeoutError(WireError, TimeoutError):
    """An operation did not finish in time (TIMEOUT)."""


class WireOSError(WireError, OSError):
    """A system call failed (IO), or an address cannot be resolved or used (ADDRESS)."""


_ERROR_CLASSES: Dict[int, type] = {
    code: WireValueError for code in range(ErrorCode.TRUNCATED, ErrorCode.RANGE + 1)}
_ERROR_CLASSES.update({
    ErrorCode.IO: WireOSError, ErrorCode.CLOSED: WireConnectionError,
    ErrorCode.TIMEOUT: WireTimeoutError, ErrorCode.ADDRESS: WireOSError,
    ErrorCode.INVAL: WireValueError, ErrorCode.PEER: WireConnectionError,
})


# --------------------------------------------------------------------------------------------
# Type tags and values


class Tag(enum.IntEnum):
    """Type tags of SPEC 3.2."""

    U8 = 0x01
    U16 = 0x02
    U32 = 0x03
    U64 = 0x04
    I8 = 0x11
    I16 = 0x12
    I32 = 0x13
    I64 = 0x14
    F32 = 0x23
    F64 = 0x24
    BOOL = 0x30
    STRING = 0x40
    BYTES = 0x41
    LIST = 0x50
    GROUP = 0x51


TYPE_TAGS: Dict[str, int] = {tag.name.lower(): int(tag) for tag in Tag}
TAG_TYPES: Dict[int, str] = {tag: name for name, tag in TYPE_TAGS.items()}

_INT_FORMATS: Dict[str, str] = {
    "u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i8": "b", "i16": "h", "i32": "i", "i64": "q",
}
INT_RANGES: Dict[str, Tuple[int, int]] = {
    name: ((0, (1 << bits) - 1) if name[0] == "u" else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
    for name, bits in (("u8", 8), ("u16", 16), ("u32", 32), ("u64", 64),
                       ("i8", 8), ("i16", 16), ("i32", 32), ("i64", 64))
}
# Fixed-size values: struct format (f32 is read as its bit pattern) and size in bytes.
_FIXED: Dict[str, Tuple[str, int]] = dict(
    {name: (fmt, struct.calcsize(">" + fmt)) for name, fmt in _INT_FORMATS.items()},
    f32=("I", 4), f64=("d", 8), bool=("B", 1),
)
MIN_VALUE_SIZE: Dict[str, int] = dict(
    {name: size for name, (_, size) in _FIXED.items()}, string=4, bytes=4, group=4, list=5,
)
_CONTAINERS = ("list", "group")

_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")
_F32 = struct.Struct(">f")
_HEADER = struct.Struct(">BBHI")


@dataclass(frozen=True)
class F32:
    """An IEEE 754 binary32 value kept as its exact bit pattern.

    Python has no float32; widening a signalling NaN to a double would quiet it, so the codec
    carries bits. Equality is bit equality (so NaNs compare by payload and -0.0 != 0.0).
    """

    bits: int

    def __post_init__(self) -> None:
        if type(self.bits) is not int or not 0 <= self.bits <= U32_MAX:
            raise WireError(ErrorCode.RANGE, detail="f32 bit pattern %r is not a u32" % (self.bits,))

    @classmethod
    def from_float(cls, value: float) -> "F32":
        """Round ``value`` to the nearest binary32; RANGE when finite but too large for it."""
        try:
            packed = _F32.pack(value)
        except OverflowError:
            raise WireError(ErrorCode.RANGE, detail="%r is too large for f32" % (value,)) from None
        return cls(_U32.unpack(packed)[0])

    def to_float(self) -> float:
        """The value as a Python float (exact, except that a signalling NaN comes back quiet)."""
        return float(_F32.unpack(_U32.pack(self.bits))[0])

    def __float__(self) -> float:
        return self.to_float()

    def __repr__(self) -> str:
        return "F32(0x%08x)" % self.bits


@dataclass
class ListValue:
    """A list value: element type name and the element values (no per-element tags)."""

    elem: str
    items: List[Any]


@dataclass
class CutListValue(ListValue):
    """A list of which only the first items were decoded (:func:`decode_capped`); ``count`` is
    how many it has."""

    count: int = 0


def f64_bits(value: float) -> int:
    """The binary64 bit pattern of a float."""
    return int.from_bytes(_F64.pack(value), "big")


def f64_from_bits(bits: int) -> float:
    """The float with binary64 bit pattern ``bits`` (NaN payloads preserved)."""
    return float(_F64.unpack(bits.to_bytes(8, "big"))[0])


# --------------------------------------------------------------------------------------------
# Encoder


def encode(fields: Iterable[Field]) -> bytes:
    """Encode a sequence of fields into a payload. Raises WireError RANGE/INVAL/DEPTH."""
    if type(fields) is list or type(fields) is tuple:
        out = bytearray()
        try:
            _fast_encode(out, fields, 0)
            return bytes(out)
        except _FAST_ENCODE_GIVES_UP:
            pass
    return _exact_encode(fields)


def encode_into(out: bytearray, fields: Iterable[Field]) -> None:
    """Append the encoding of ``fields`` to ``out`` (nothing is guaranteed about ``out`` on error)."""
    if type(fields) is list or type(fields) is tuple:
        mark = len(out)
        try:
            _fast_encode(out, fields, 0)
            return
        except _FAST_ENCODE_GIVES_UP:
            del out[mark:]
    _encode_fields(out, fields, 0, ())


def _exact_encode(fields: Iterable[Field]) -> bytes:
    """The reference encoder: every check in order, each error with its exact detail and path."""
    out = bytearray()
    _encode_fields(out, fields, 0, ())
    return bytes(out)


def encode_value(type_name: str, value: Any) -> bytes:
    """Encode one value without its tag (as it appears inside a list)."""
    if type_name not in TYPE_TAGS:
        raise WireError(ErrorCode.INVAL, detail="unknown type name %r" % (type_name,))
    out = bytearray()
    _encode_value(out, type_name, value, 0, ())
    return bytes(out)


def _encode_fields(out: bytearray, fields: Iterable[Field], depth: int, path: Tuple[int, ...]) -> None:
    try:
        if isinstance(fields, (str, bytes, bytearray)):
            raise TypeError
        iterator = iter(fields)
    except TypeError:
        raise WireError(ErrorCode.INVAL, detail="fields must be a sequence of (type, value) pairs,"
                        " not %r" % (fields,), path=path) from None
    for index, field in enumerate(iterator):
        here = path + (index,)
        try:
            type_name, value = field
        except (TypeError, ValueError):
            raise WireError(ErrorCode.INVAL, detail="a field must be a (type, value) pair, not %r"
                            % (field,), path=here) from None
        tag = TYPE_TAGS.get(type_name) if isinstance(type_name, str) else None
        if tag is None:
            raise WireError(ErrorCode.INVAL, detail="unknown type name %r" % (type_name,), path=here)
        out.append(tag)
        _encode_value(out, type_name, value, depth, here)


def _encode_value(out: bytearray, type_name: str, value: Any, depth: int,
                  path: Tuple[int, ...]) -> None:
    """Append one value; ``depth`` is the level holding it (a container opens depth + 1)."""
    if type_name in _INT_FORMATS:
        _check_int(type_name, value, path)
        out += struct.pack(">" + _INT_FORMATS[type_name], value)
    elif type_name == "f32":
        out += _U32.pack(_as_f32(value, path).bits)
    elif type_name == "f64":
        out += _F64.pack(_as_f64(value, path))
    elif type_name == "bool":
        out.append(_as_bool(value, path))
    elif type_name == "string":
        _put_sized(out, _as_utf8(value, path), path)
    elif type_name == "bytes":
        _put_sized(out, _as_bytes(value, path), path)
    elif depth >= MAX_DEPTH:
        raise WireError(ErrorCode.DEPTH, detail="%s would be at depth %d" % (type_name, depth + 1),
                        path=path)
    elif type_name == "list":
        if (not isinstance(value, ListValue) or value.elem not in TYPE_TAGS
                or not isinstance(value.items, (list, tuple))):
            raise WireError(ErrorCode.INVAL, detail="a list value must be a ListValue with a known"
                            " element type and a list of items, not %r" % (value,), path=path)
        items = value.items
        if len(items) > U32_MAX:
            raise WireError(ErrorCode.RANGE, detail="list has more than 2^32-1 elements", path=path)
        out.append(TYPE_TAGS[value.elem])
        out += _U32.pack(len(items))
        _encode_items(out, value.elem, items, depth + 1, path)
    else:  # group: reserve the length word and patch it once the size is known
        start = len(out)
        out += b"\0\0\0\0"
        _encode_fields(out, value, depth + 1, path)
        size = len(out) - start - 4
        if size > U32_MAX:
            raise WireError(ErrorCode.RANGE, detail="group is longer than 2^32-1 bytes", path=path)
        _U32.pack_into(out, start, size)


def _encode_items(out: bytearray, elem: str, items: Sequence[Any], depth: int,
                  path: Tuple[int, ...]) -> None:
    """Append list elements; fixed-size elements are validated, then packed in one call."""
    if elem in _INT_FORMATS:
        for index, item in enumerate(items):
            _check_int(elem, item, path + (index,))
        out += struct.pack(">%d%s" % (len(items), _INT_FORMATS[elem]), *items)
    elif elem == "f32":
        out += struct.pack(">%dI" % len(items),
                           *[_as_f32(item, path + (i,)).bits for i, item in enumerate(items)])
    elif elem == "f64":
        out += struct.pack(">%dd" % len(items),
                           *[_as_f64(item, path + (i,)) for i, item in enumerate(items)])
    elif elem == "bool":
        out += bytes(_as_bool(item, path + (i,)) for i, item in enumerate(items))
    else:
        for index, item in enumerate(items):
            _encode_value(out, elem, item, depth, path + (index,))


def _check_int(type_name: str, value: Any, path: Tuple[int, ...]) -> None:
    if type(value) is bool or not isinstance(value, int):
        raise WireError(ErrorCode.INVAL, detail="%s value must be an int, not %r"
                        % (type_name, value), path=path)
    low, high = INT_RANGES[type_name]
    if not low <= value <= high:
        raise WireError(ErrorCode.RANGE, detail="%d is out of range for %s" % (value, type_name),
                        path=path)


def _as_f32(value: Any, path: Tuple[int, ...]) -> F32:
    if isinstance(value, F32):
        return value
    if isinstance(value, (float, int)) and type(value) is not bool:
        try:
            return F32.from_float(float(value))
        except (WireError, OverflowError) as exc:
            raise WireError(ErrorCode.RANGE, detail="%r is too large for f32" % (value,),
                            path=path) from exc
    raise WireError(ErrorCode.INVAL, detail="f32 value must be F32 or float, not %r" % (value,),
                    path=path)


def _as_f64(value: Any, path: Tuple[int, ...]) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and type(value) is not bool:
        try:
            return float(value)
        except OverflowError:
            raise WireError(ErrorCode.RANGE, detail="%d is too large for f64" % value,
                            path=path) from None
    raise WireError(ErrorCode.INVAL, detail="f64 value must be a float, not %r" % (value,),
                    path=path)


def _as_bool(value: Any, path: Tuple[int, ...]) -> int:
    if value is True or value is False:
        return int(value)
    code = ErrorCode.RANGE if isinstance(value, int) else ErrorCode.INVAL
    raise WireError(code, detail="bool value must be True or False, not %r" % (value,), path=path)


def _as_utf8(value: Any, path: Tuple[int, ...]) -> bytes:
    if not isinstance(value, str):
        raise WireError(ErrorCode.INVAL, detail="string value must be a str, not %r" % (value,),
                        path=path)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WireError(ErrorCode.RANGE, detail="string is not encodable as UTF-8 (%s)" % exc.reason,
                        path=path) from None


def _as_bytes(value: Any, path: Tuple[int, ...]) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise WireError(ErrorCode.INVAL, detail="bytes value must be bytes-like, not %r" % (value,),
                    path=path)


def _put_sized(out: bytearray, data: bytes, path: Tuple[int, ...]) -> None:
    if len(data) > U32_MAX:
        raise WireError(ErrorCode.RANGE, detail="value is longer than 2^32-1 bytes", path=path)
    out += _U32.pack(len(data))
    out += data


# ---- Fast paths (issue 11) ----
# The reference encoder and decoder above and below are the truth: they check everything in the
# SPEC's order and build each error's detail, path and offset. The fast paths handle the common
# cases only (exact built-in types, lists of fixed-size numbers) through tables of precompiled
# structs, and give up, by raising, on anything else: a bad or unusual value, a truncation, bad
# UTF-8. The reference code then does the whole job again, so every error (code, offset, detail,
# path) is the reference code's. test_speed_paths.py checks both agree on every golden vector and
# thousands of mutations of them.


class _GiveUp(Exception):
    """The fast path met something it leaves to the reference code."""


# struct.error covers out-of-range ints (never masked) and over-long lengths; TypeError and
# ValueError odd fields (unhashable names, pairs that are not pairs); UnicodeEncodeError lone
# surrogates; KeyError unknown type names.
_FAST_ENCODE_GIVES_UP = (_GiveUp, struct.error, TypeError, ValueError, KeyError,
                         UnicodeEncodeError)
_FAST_DECODE_GIVES_UP = (_GiveUp, UnicodeDecodeError)

# Kinds of the fast paths' dispatch.
_K_INT, _K_F64, _K_STRING, _K_BYTES, _K_BOOL, _K_LIST, _K_F32, _K_GROUP = range(8)
_TAG_SIZE = struct.Struct(">BI")


def _fast_tables() -> Tuple[Dict[str, Tuple[int, Any, int]], Dict[str, Tuple[str, int, int]]]:
    encoders: Dict[str, Tuple[int, Any, int]] = {
        name: (_K_INT, struct.Struct(">B" + fmt).pack, TYPE_TAGS[name])
        for name, fmt in _INT_FORMATS.items()}
    encoders.update(f64=(_K_F64, struct.Struct(">Bd").pack, TYPE_TAGS["f64"]),
                    f32=(_K_F32, struct.Struct(">BI").pack, TYPE_TAGS["f32"]),
                    string=(_K_STRING, _TAG_SIZE.pack, TYPE_TAGS["string"]),
                    bytes=(_K_BYTES, _TAG_SIZE.pack, TYPE_TAGS["bytes"]),
                    bool=(_K_BOOL, None, TYPE_TAGS["bool"]),
                    list=(_K_LIST, None, TYPE_TAGS["list"]),
                    group=(_K_GROUP, None, TYPE_TAGS["group"]))
    # Elements packed in one call: struct format letter, tag, size.
    elements = {name: (fmt, TYPE_TAGS[name], struct.calcsize(">" + fmt))
                for name, fmt in _INT_FORMATS.items()}
    elements["f64"] = ("d", TYPE_TAGS["f64"], 8)
    return encoders, elements


_FAST_ENCODERS, _FAST_ELEMENTS = _fast_tables()
# (elem, count) -> pack of a list's tag, element tag, count and items
_FAST_LIST_PACKERS: Dict[Tuple[str, int], Any] = {}
_FAST_CACHED_COUNT = 64  # longer lists are packed with a format built for them


def _fast_encode(out: bytearray, fields: Sequence[Field], depth: int) -> None:
    """Append ``fields`` (a list or tuple of tuples) at ``depth``; raises on anything unusual."""
    for field in fields:
        if type(field) is not tuple:
            raise _GiveUp
        type_name, value = field
        kind, pack, tag = _FAST_ENCODERS[type_name]
        cls = type(value)
        if kind == _K_INT:
            if cls is not int:  # bools and int subclasses: the reference code judges them
                raise _GiveUp
            out += pack(tag, value)  # struct.error when out of range
        elif kind == _K_STRING:
            if cls is not str:
                raise _GiveUp
            data = value.encode("utf-8")
            out += pack(tag, len(data))
            out += data
        elif kind == _K_F64:
            if cls is not float:
                raise _GiveUp
            out += pack(tag, value)
        elif kind == _K_BOOL:
            if value is True:
                out += b"\x30\x01"
            elif value is False:
                out += b"\x30\x00"
            else:
                raise _GiveUp
        elif kind == _K_BYTES:
            if cls is not bytes:
                raise _GiveUp
            out += pack(tag, len(value))
            out += value
        elif kind == _K_LIST:
            if cls is not ListValue or depth >= MAX_DEPTH:
                raise _GiveUp
            items = value.items
            elem = _FAST_ELEMENTS.get(value.elem)
            if elem is None or type(items) is not list:
                raise _GiveUp
            count = len(items)
            fmt, elem_tag, _ = elem
            if fmt == "d":
                for item in items:
                    if type(item) is not float:
                        raise _GiveUp
            else:
                for item in items:
                    if type(item) is not int:
                        raise _GiveUp
            if count <= _FAST_CACHED_COUNT:
                packer = _FAST_LIST_PACKERS.get((value.elem, count))
                if packer is None:
                    packer = struct.Struct(">BBI%d%s" % (count, fmt)).pack
                    _FAST_LIST_PACKERS[(value.elem, count)] = packer
                out += packer(tag, elem_tag, count, *items)
            else:
                out += struct.pack(">BBI%d%s" % (count, fmt), tag, elem_tag, count, *items)
        elif kind == _K_F32:
            if cls is not F32:
                raise _GiveUp
            out += pack(tag, value.bits)
        else:  # group: the length word is patched once the contents are in
            if (cls is not list and cls is not tuple) or depth >= MAX_DEPTH:
                raise _GiveUp
            out.append(tag)
            start = len(out)
            out += b"\0\0\0\0"
            _fast_encode(out, value, depth + 1)
            _U32.pack_into(out, start, len(out) - start - 4)  # struct.error past 2^32-1


# --------------------------------------------------------------------------------------------
# Decoder


def decode(payload: BytesLike) -> List[Field]:
    """Decode a whole payload into fields, strictly (SPEC 5): the first problem raises WireError with
    the offset of the smallest wrong element, counted from the first payload byte."""
    buf = payload if type(payload) is bytes else bytes(payload)
    try:
        return _fast_decode(buf, 0, len(buf), 0)
    except _FAST_DECODE_GIVES_UP:
        return _decode_fields(buf, 0, len(buf), 0)


def _exact_decode(payload: BytesLike) -> List[Field]:
    """The reference decoder, which finds every error and its offset."""
    buf = bytes(payload)
    return _decode_fields(buf, 0, len(buf), 0)


def decode_with_offsets(payload: BytesLike) -> Tuple[List[Field], List[int]]:
    """Like :func:`decode`, and also the payload offset of each top-level field's tag byte: what a
    message's field check (SPEC 7.2) needs to report MESSAGE where the wrong field is."""
    buf = bytes(payload)
    starts: List[int] = []
    return _decode_fields(buf, 0, len(buf), 0, starts), starts


def _fast_decoder_tables() -> Tuple[List[Optional[Tuple[int, str, Any, int]]],
                                    List[Optional[Tuple[str, str, int]]]]:
    by_tag: List[Optional[Tuple[int, str, Any, int]]] = [None] * 256
    elements: List[Optional[Tuple[str, str, int]]] = [None] * 256
    for name, (fmt, size) in _FIXED.items():
        if name not in ("bool", "f32"):
            by_tag[TYPE_TAGS[name]] = (_K_INT, name, struct.Struct(">" + fmt).unpack_from, size)
            elements[TYPE_TAGS[name]] = (name, fmt, size)
    for name, kind in (("f32", _K_F32), ("bool", _K_BOOL), ("string", _K_STRING),
                       ("bytes", _K_BYTES), ("list", _K_LIST), ("group", _K_GROUP)):
        by_tag[TYPE_TAGS[name]] = (kind, name, None, 0)
    return by_tag, elements


# Tag -> (kind, type name, unpack_from, size); list element tag -> (name, format, size) for the
# element types unpacked in one call (ints and f64), None for the others.
_FAST_DECODERS, _FAST_DEC_ELEMENTS = _fast_decoder_tables()
# The 5 head bytes of a list of up to _FAST_CACHED_COUNT numbers -> (element type, unpack_from
# of its elements, their size): at most 10 x 65 entries.
_FAST_LIST_HEADS: Dict[bytes, Tuple[str, Any, int]] = {}


def _fast_list_head(buf: bytes, pos: int, end: int) -> Optional[Tuple[str, Any, int]]:
    """The head of a list of numbers at ``pos`` (cached when short), None for other elements;
    raises _GiveUp where the head is cut short or the count cannot fit."""
    if end - pos < 5:
        raise _GiveUp
    elem_tag, count = _TAG_SIZE.unpack_from(buf, pos)
    elem = _FAST_DEC_ELEMENTS[elem_tag]
    if elem is None:
        return None
    name, fmt, size = elem
    if count > (end - pos - 5) // size:
        raise _GiveUp
    head = (name, struct.Struct(">%d%s" % (count, fmt)).unpack_from, count * size)
    if count <= _FAST_CACHED_COUNT:
        _FAST_LIST_HEADS[buf[pos:pos + 5]] = head
    return head


def _fast_decode(buf: bytes, pos: int, end: int, depth: int) -> List[Field]:
    """The fields in buf[pos:end] at ``depth`` as _decode_fields decodes them; raises _GiveUp (or
    UnicodeDecodeError) where that would raise, leaving the error to it. Lists of other elements
    than numbers go to _decode_list itself, whose errors are then already the exact ones."""
    fields: List[Field] = []
    append = fields.append
    decoders = _FAST_DECODERS
    while pos < end:
        entry = decoders[buf[pos]]
        if entry is None:
            raise _GiveUp
        kind, type_name, unpack, size = entry
        pos += 1
        if kind == _K_INT:  # the ints and f64
            if end - pos < size:
                raise _GiveUp
            append((type_name, unpack(buf, pos)[0]))
            pos += size
        elif kind == _K_STRING or kind == _K_BYTES:
            if end - pos < 4:
                raise _GiveUp
            size = _U32.unpack_from(buf, pos)[0]
            pos += 4
            if size > end - pos:
                raise _GiveUp
            if kind == _K_STRING:
                append((type_name, buf[pos:pos + size].decode("utf-8")))
            else:
                append((type_name, buf[pos:pos + size]))
            pos += size
        elif kind == _K_BOOL:
            if pos >= end or buf[pos] > 1:
                raise _GiveUp
            append((type_name, buf[pos] == 1))
            pos += 1
        elif kind == _K_LIST:
            if depth >= MAX_DEPTH:
                raise _GiveUp
            # A list of numbers is known by its 5 head bytes (element tag, count).
            head = _FAST_LIST_HEADS.get(buf[pos:pos + 5])
            if head is None:
                head = _fast_list_head(buf, pos, end)
                if head is None:  # other elements: the reference code, errors included
                    value, pos = _decode_list(buf, pos, end, depth + 1)
                    append((type_name, value))
                    continue
            name, unpack, size = head
            pos += 5
            if size > end - pos:
                raise _GiveUp
            append((type_name, ListValue(name, list(unpack(buf, pos)))))
            pos += size
        elif kind == _K_F32:
            if end - pos < 4:
                raise _GiveUp
            append((type_name, F32(_U32.unpack_from(buf, pos)[0])))
            pos += 4
        else:  # group
            if depth >= MAX_DEPTH or end - pos < 4:
                raise _GiveUp
            size = _U32.unpack_from(buf, pos)[0]
            pos += 4
            if size > end - pos:
                raise _GiveUp
            append((type_name, _fast_decode(buf, pos, pos + size, depth + 1)))
            pos += size
    return fields


def _decode_fields(buf: bytes, pos: int, end: int, depth: int,
                   starts: Optional[List[int]] = None) -> List[Field]:
    """Fields in buf[pos:end]; ``depth`` is the level they are at (payload 0, group contents d).
    ``starts``, if given, receives the offset of each field's tag byte."""
    fields: List[Field] = []
    while pos < end:
        if starts is not None:
            starts.append(pos)
        type_name = TAG_TYPES.get(buf[pos])
        if type_name is None:
            raise WireError(ErrorCode.BADTAG, pos, "unknown type tag 0x%02x" % buf[pos])
        if type_name in _CONTAINERS and depth >= MAX_DEPTH:
            raise WireError(ErrorCode.DEPTH, pos, "%s would be at depth %d" % (type_name, depth + 1))
        value, pos = _decode_value(buf, type_name, pos + 1, end, depth)
        fields.append((type_name, value))
    return fields


def _decode_value(buf: bytes, type_name: str, pos: int, end: int, depth: int) -> Tuple[Any, int]:
    """One value at ``pos``; returns it and the position after it. A container here is at depth
    ``depth + 1``, already checked by the caller."""
    fixed = _FIXED.get(type_name)
    if fixed is not None:
        fmt, size = fixed
        if end - pos < size:
            raise WireError(ErrorCode.TRUNCATED, pos, "%s needs %d bytes, %d left"
                            % (type_name, size, end - pos))
        if type_name == "bool":
            if buf[pos] > 1:
                raise WireError(ErrorCode.BADBOOL, pos, "bool byte 0x%02x" % buf[pos])
            return buf[pos] == 1, pos + 1
        value = struct.unpack_from(">" + fmt, buf, pos)[0]
        return (F32(value) if type_name == "f32" else value), pos + size
    if type_name == "list":
        return _decode_list(buf, pos, end, depth + 1)
    size = _read_length(buf, pos, end, type_name)
    start, stop = pos + 4, pos + 4 + size
    if type_name == "string":
        return _decode_utf8(buf, start, stop), stop
    if type_name == "bytes":
        return buf[start:stop], stop
    return _decode_fields(buf, start, stop, depth + 1), stop


def _read_length(buf: bytes, pos: int, end: int, what: str) -> int:
    if end - pos < 4:
        raise WireError(ErrorCode.TRUNCATED, pos, "%s length needs 4 bytes, %d left" % (what, end - pos))
    size: int = _U32.unpack_from(buf, pos)[0]
    if size > end - pos - 4:
        raise WireError(ErrorCode.LENGTH, pos, "%s length %d but %d bytes left"
                        % (what, size, end - pos - 4))
    return size


def _decode_list(buf: bytes, pos: int, end: int, depth: int) -> Tuple[ListValue, int]:
    """A list value (element tag, count, elements) at ``pos``; the list itself is at ``depth``."""
    if pos >= end:
        raise WireError(ErrorCode.TRUNCATED, pos, "list element tag missing")
    elem = TAG_TYPES.get(buf[pos])
    if elem is None:
        raise WireError(ErrorCode.BADTAG, pos, "unknown list element tag 0x%02x" % buf[pos])
    pos += 1
    if end - pos < 4:
        raise WireError(ErrorCode.TRUNCATED, pos, "list count needs 4 bytes, %d left" % (end - pos))
    count = _U32.unpack_from(buf, pos)[0]
    left = end - pos - 4
    # Division, not multiplication, so a huge count is rejected before anything is allocated.
    if count > left // MIN_VALUE_SIZE[elem]:
        raise WireError(ErrorCode.LENGTH, pos, "list of %d %s cannot fit in %d bytes"
                        % (count, elem, left))
    pos += 4
    fixed = _FIXED.get(elem)
    if fixed is not None:
        fmt, size = fixed
        stop = pos + count * size
        if elem == "bool":
            chunk = buf[pos:stop]
            for index, byte in enumerate(chunk):
                if byte > 1:
                    raise WireError(ErrorCode.BADBOOL, pos + index, "bool byte 0x%02x" % byte)
            return ListValue(elem, [byte == 1 for byte in chunk]), stop
        values = list(struct.unpack_from(">%d%s" % (count, fmt), buf, pos))
        if elem == "f32":
            values = [F32(bits) for bits in values]
        return ListValue(elem, values), stop
    items: List[Any] = []
    for _ in range(count):
        if elem in _CONTAINERS and depth >= MAX_DEPTH:
            raise WireError(ErrorCode.DEPTH, pos, "%s element would be at depth %d" % (elem, depth + 1))
        item, pos = _decode_value(buf, elem, pos, end, depth)
        items.append(item)
    return ListValue(elem, items), pos


def _decode_utf8(buf: bytes, start: int, stop: int, base: int = 0) -> str:
    """The string buf[start:stop]; an error is reported at ``base`` + its offset in ``buf``."""
    chunk = buf[start:stop]
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        # CPython's strict codec accepts exactly the Table 3-7 sequences, but SPEC 4 defines the error
        # offset, so the position comes from our own validator.
        bad = utf8_error_offset(chunk)
        assert bad is not None, "CPython and Table 3-7 disagree on %r" % (chunk,)
        raise WireError(ErrorCode.UTF8, base + start + bad, "ill-formed UTF-8 sequence starting with 0x%02x"
                        % chunk[bad]) from None


# ---- Validation without values ----
# A strict decoder makes decode-then-encode the identity (SPEC 3.7), so a receiver whose answer is
# the bytes themselves (ROUNDTRIP's reply, a message's field check) needs only to know that they
# decode, and where each top-level field starts. This walk gives exactly decode()'s errors (the
# tests compare them) but builds no value: a 16 MiB payload of 3 million containers costs no
# memory beyond the payload, where the value tree cost 42 times the payload (measured).

_SCALAR_SIZES: Dict[int, int] = {TYPE_TAGS[name]: size for name, (_, size) in _FIXED.items()
                                 if name != "bool"}
_MIN_SIZES: Dict[int, int] = {TYPE_TAGS[name]: size for name, size in MIN_VALUE_SIZE.items()}
_BOOL, _STRING, _BYTES, _LIST, _GROUP = (int(Tag.BOOL), int(Tag.STRING), int(Tag.BYTES),
                                         int(Tag.LIST), int(Tag.GROUP))
_NOT_BOOL = re.compile(rb"[^\x00\x01]")


def _runs() -> Tuple[Optional["re.Pattern[bytes]"], ...]:
    """Patterns matching runs of the commonest valid items, skipped in C instead of one by one in
    Python: fields that are scalars or empty containers, and list elements that are empty lists
    or zero lengths. They need possessive repetition (Python 3.11): a backtracking ``*`` keeps
    state per repetition, hundreds of megabytes over a 16 MiB payload. Without it: no runs."""
    tags = b"[" + b"".join(re.escape(bytes([tag])) for tag in sorted(TAG_TYPES)) + b"]"
    scalars = rb"[\x01\x11].|[\x02\x12].{2}|[\x03\x13\x23].{4}|[\x04\x14\x24].{8}|\x30[\x00\x01]"
    empties = rb"|[\x40\x41\x51]\x00{4}|\x50" + tags + rb"\x00{4}"
    try:
        return (re.compile(b"(?:" + scalars + empties + b")*+", re.S),
                re.compile(b"(?:" + scalars + b")*+", re.S),
                re.compile(b"(?:" + tags + rb"\x00{4})*+", re.S),
                re.compile(rb"(?:\x00{4})*+", re.S))
    except re.error:
        return (None, None, None, None)


# Fields below the depth limit / at it (no container allowed); empty list values; zero lengths.
_FIELDS_RUN, _SCALARS_RUN, _EMPTY_LISTS_RUN, _ZERO_LENGTHS_RUN = _runs()


def validate(payload: BytesLike, keep: int = 0) -> List[int]:
    """Check that ``payload`` decodes (the errors of :func:`decode`, code and offset) without
    building its values; returns the payload offsets of the tag bytes of its first ``keep``
    top-level fields (fewer if it has fewer)."""
    starts: List[int] = []
    _scan_fields(payload, 0, len(payload), 0, starts, keep)
    return starts


def _scan_fields(buf: BytesLike, pos: int, end: int, depth: int,
                 starts: Optional[List[int]] = None, keep: int = 0) -> None:
    """The walk of _decode_fields over buf[pos:end] at ``depth``, values left unbuilt; the tag
    offsets of the first ``keep`` fields go to ``starts``."""
    sizes = _SCALAR_SIZES
    run = _FIELDS_RUN if depth < MAX_DEPTH else _SCALARS_RUN
    while pos < end:
        if starts is not None and len(starts) < keep:
            starts.append(pos)
        elif run is not None:
            pos = run.match(buf, pos, end).end()  # type: ignore[union-attr]  (always matches)
            if pos == end:
                break
        tag = buf[pos]
        size = sizes.get(tag)
        if size is not None:
            if end - pos - 1 < size:
                raise WireError(ErrorCode.TRUNCATED, pos + 1, "%s needs %d bytes, %d left"
                                % (TAG_TYPES[tag], size, end - pos - 1))
            pos += 1 + size
        elif tag == _LIST or tag == _GROUP:
            if depth >= MAX_DEPTH:
                raise WireError(ErrorCode.DEPTH, pos, "%s would be at depth %d"
                                % (TAG_TYPES[tag], depth + 1))
            pos = _scan_value(buf, tag, pos + 1, end, depth + 1)
        elif tag in TAG_TYPES:
            pos = _scan_value(buf, tag, pos + 1, end, depth + 1)
        else:
            raise WireError(ErrorCode.BADTAG, pos, "unknown type tag 0x%02x" % tag)


def _scan_value(buf: BytesLike, tag: int, pos: int, end: int, depth: int) -> int:
    """One value of type ``tag`` at ``pos`` (a container here is at ``depth``, already checked);
    returns the position after it."""
    size = _SCALAR_SIZES.get(tag)
    if size is not None:
        if end - pos < size:
            raise WireError(ErrorCode.TRUNCATED, pos, "%s needs %d bytes, %d left"
                            % (TAG_TYPES[tag], size, end - pos))
        return pos + size
    if tag == _BOOL:
        if end - pos < 1:
            raise WireError(ErrorCode.TRUNCATED, pos, "bool needs 1 byte, 0 left")
        if buf[pos] > 1:
            raise WireError(ErrorCode.BADBOOL, pos, "bool byte 0x%02x" % buf[pos])
        return pos + 1
    if tag == _LIST:
        return _scan_list(buf, pos, end, depth)
    size = _read_length(buf, pos, end, TAG_TYPES[tag])
    start = pos + 4
    if tag == _STRING:
        if size:
            _check_utf8(buf, start, start + size)
    elif tag == _GROUP:
        _scan_fields(buf, start, start + size, depth)
    return start + size


def _scan_list(buf: BytesLike, pos: int, end: int, depth: int) -> int:
    """The walk of _decode_list: a list value at ``pos``, the list itself at ``depth``."""
    if pos >= end:
        raise WireError(ErrorCode.TRUNCATED, pos, "list element tag missing")
    elem = buf[pos]
    if elem not in TAG_TYPES:
        raise WireError(ErrorCode.BADTAG, pos, "unknown list element tag 0x%02x" % elem)
    pos += 1
    if end - pos < 4:
        raise WireError(ErrorCode.TRUNCATED, pos, "list count needs 4 bytes, %d left" % (end - pos))
    count: int = _U32.unpack_from(buf, pos)[0]
    left = end - pos - 4
    if count > left // _MIN_SIZES[elem]:
        raise WireError(ErrorCode.LENGTH, pos, "list of %d %s cannot fit in %d bytes"
                        % (count, TAG_TYPES[elem], left))
    pos += 4
    size = _SCALAR_SIZES.get(elem)
    if size is not None:
        return pos + count * size
    if elem == _BOOL:
        bad = _NOT_BOOL.search(buf, pos, pos + count)
        if bad is not None:
            raise WireError(ErrorCode.BADBOOL, bad.start(), "bool byte 0x%02x" % buf[bad.start()])
        return pos + count
    if elem == _LIST or elem == _GROUP:
        if count and depth >= MAX_DEPTH:
            raise WireError(ErrorCode.DEPTH, pos, "%s element would be at depth %d"
                            % (TAG_TYPES[elem], depth + 1))
        inner = depth + 1
        if elem == _LIST:
            while count:
                if _EMPTY_LISTS_RUN is not None:
                    skipped = (_EMPTY_LISTS_RUN.match(buf, pos, min(end, pos + 5 * count)).end()  # type: ignore[union-attr]
                               - pos) // 5
                    pos += 5 * skipped
                    count -= skipped
                    if not count:
                        break
                pos = _scan_list(buf, pos, end, inner)
                count -= 1
        else:
            while count:
                if _ZERO_LENGTHS_RUN is not None:
                    skipped = (_ZERO_LENGTHS_RUN.match(buf, pos, min(end, pos + 4 * count)).end()  # type: ignore[union-attr]
                               - pos) // 4
                    pos += 4 * skipped
                    count -= skipped
                    if not count:
                        break
                count -= 1
                size = _read_length(buf, pos, end, "group")
                pos += 4
                if size:
                    _scan_fields(buf, pos, pos + size, inner)
                    pos += size
        return pos
    while count:  # string or bytes
        if _ZERO_LENGTHS_RUN is not None:
            skipped = (_ZERO_LENGTHS_RUN.match(buf, pos, min(end, pos + 4 * count)).end()  # type: ignore[union-attr]
                       - pos) // 4
            pos += 4 * skipped
            count -= skipped
            if not count:
                break
        count -= 1
        size = _read_length(buf, pos, end, TAG_TYPES[elem])
        pos += 4
        if size and elem == _STRING:
            _check_utf8(buf, pos, pos + size)
        pos += size
    return pos


def decode_capped(payload: BytesLike, pos: int, limit: int) -> List[Field]:
    """The fields of a payload that has passed :func:`validate`, from ``pos`` on, with every
    sequence (these fields, each list's items, each group's fields) cut to its first ``limit``
    items; the rest is skipped without building values. For a comparison that stops at the first
    difference: values it cannot reach cost nothing."""
    return _capped_fields(payload, pos, len(payload), limit)


def _capped_fields(buf: BytesLike, pos: int, end: int, limit: int) -> List[Field]:
    fields: List[Field] = []
    while pos < end and len(fields) < limit:
        tag = buf[pos]
        value, pos = _capped_value(buf, tag, pos + 1, end, limit)
        fields.append((TAG_TYPES[tag], value))
    return fields


def _capped_value(buf: BytesLike, tag: int, pos: int, end: int, limit: int) -> Tuple[Any, int]:
    if tag == _GROUP:
        size: int = _U32.unpack_from(buf, pos)[0]
        return _capped_fields(buf, pos + 4, pos + 4 + size, limit), pos + 4 + size
    if tag != _LIST:
        return _decode_value(buf, TAG_TYPES[tag], pos, end, 0)  # type: ignore[arg-type]
    elem = buf[pos]
    count: int = _U32.unpack_from(buf, pos + 1)[0]
    pos += 5
    items: List[Any] = []
    for _ in range(min(count, limit)):
        item, pos = _capped_value(buf, elem, pos, end, limit)
        items.append(item)
    rest = count - len(items)
    size = _SCALAR_SIZES.get(elem, 1 if elem == _BOOL else 0)
    if size:
        pos += rest * size
    else:
        for _ in range(rest):  # depth was checked by validate: 0 here cannot fail
            pos = _scan_value(buf, elem, pos, end, 0)
    if rest:
        return CutListValue(TAG_TYPES[elem], items, count), pos
    return ListValue(TAG_TYPES[elem], items), pos


def _check_utf8(buf: BytesLike, start: int, stop: int) -> None:
    """UTF8 at the first ill-formed sequence of buf[start:stop], as _decode_utf8 reports it. The
    str made by the check lives only for this call."""
    with memoryview(buf) as view, view[start:stop] as chunk:
        try:
            str(chunk, "utf-8")
        except UnicodeDecodeError:
            _decode_utf8(bytes(chunk), 0, stop - start, start)


# Table 3-7: lead byte -> (continuation bytes needed, allowed range of the first continuation).
_UTF8_LEADS: Dict[int, Tuple[int, int, int]] = {}
for _lead in range(0xC2, 0xE0):
    _UTF8_LEADS[_lead] = (1, 0x80, 0xBF)
for _lead in range(0xE0, 0xF0):
    _UTF8_LEADS[_lead] = (2, 0x80, 0xBF)
_UTF8_LEADS[0xE0] = (2, 0xA0, 0xBF)
_UTF8_LEADS[0xED] = (2, 0x80, 0x9F)
for _lead in range(0xF0, 0xF5):
    _UTF8_LEADS[_lead] = (3, 0x80, 0xBF)
_UTF8_LEADS[0xF0] = (3, 0x90, 0xBF)
_UTF8_LEADS[0xF4] = (3, 0x80, 0x8F)
del _lead


def utf8_error_offset(data: BytesLike) -> Optional[int]:
    """Offset of the lead byte of the first ill-formed sequence (Unicode Table 3-7), or None.

    A stray continuation byte or an impossible lead byte (C0, C1, F5..FF) is its own lead; a
    sequence cut short by the end of ``data`` is reported at its lead byte.
    """
    size = len(data)
    pos = 0
    while pos < size:
        byte = data[pos]
        if byte < 0x80:
            pos += 1
            continue
        lead = _UTF8_LEADS.get(byte)
        if lead is None:
            return pos
        need, low, high = lead
        if pos + need >= size or not low <= data[pos + 1] <= high:
            return pos
        for follow in range(pos + 2, pos + need + 1):
            if not 0x80 <= data[follow] <= 0xBF:
                return pos
        pos += need + 1
    return None


# ---- Precompiled layouts (issue 11) ----
# Where every message has the same fields, a Layout does what struct.Struct does for C structs:
# the type checks, the tags and the length words of the whole message are compiled once into one
# Python function per direction (generated source, as namedtuple and dataclasses do), so a
# message costs a few struct calls, not a loop over its fields. Anything the generated code does
# not expect (a value of another Python type, a truncation, bad UTF-8, another layout) goes to
# the reference encoder and decoder, which raise the errors wire.encode and wire.decode raise.

LayoutType = Union[str, Tuple[str, str]]
_LAYOUT_SCALARS = dict(_INT_FORMATS, f64="d", f32="I", bool="B")
_LAYOUT_CACHE_MAX = 256  # packers kept per layout, one per combination of variable lengths


class Layout:
    """A fixed list of field types, compiled once, like :class:`struct.Struct`.

    ``types`` holds type names (``"u32"``, ``"string"``, ...; not ``"group"``) and, for a list,
    ``("list", elem)`` with a number type ``elem`` (an int type or ``f64``). The values of a
    message are given and returned in the same order, each as :func:`decode` represents it, a
    list as the plain list of its items::

        layout = wire.Layout(["u32", "string", ("list", "i32")])
        data = layout.encode([7, "abc", [1, -2]])  # == wire.encode([("u32", 7), ...])
        values = layout.decode(data)                # [7, "abc", [1, -2]]

    ``encode(values)`` gives the bytes of :func:`encode` of the equivalent fields and raises
    what it raises (RANGE, INVAL, with the same path); a count of values other than the
    layout's is INVAL. ``decode(payload)`` raises what :func:`decode` raises on the payload (the
    same code, offset and detail); a payload that decodes but holds other fields is TYPE at the
    tag of the first field that differs (at the element tag for a list of another element type),
    at the end of the payload for a missing field, or at the tag of the first extra field.
    """

    def __init__(self, types: Sequence[LayoutType]) -> None:
        self.types: Tuple[LayoutType, ...] = tuple(
            (t[0], t[1]) if isinstance(t, (tuple, list)) else t for t in types)
        for index, kind in enumerate(self.types):
            if isinstance(kind, tuple):
                if kind[0] != "list" or kind[1] not in _FAST_ELEMENTS:
                    raise WireError(ErrorCode.INVAL, detail="a Layout list is ('list', elem) with"
                                    " elem an int type or f64, not %r" % (kind,), path=(index,))
            elif kind not in TYPE_TAGS or kind in _CONTAINERS:
                raise WireError(ErrorCode.INVAL, detail="a Layout holds no %r" % (kind,),
                                path=(index,))
        self._packers: Dict[Tuple[int, ...], Any] = {}
        self._unpackers: Dict[Tuple[str, int], Any] = {}
        self.encode: Callable[[Sequence[Any]], bytes] = self._compile_encode()
        self.decode: Callable[[BytesLike], List[Any]] = self._compile_decode()

    def __repr__(self) -> str:
        return "Layout(%r)" % (list(self.types),)

    def fields(self, values: Sequence[Any]) -> List[Field]:
        """The fields :func:`encode` takes for these values."""
        if isinstance(values, (str, bytes, bytearray)) or not hasattr(values, "__len__"):
            raise WireError(ErrorCode.INVAL, detail="%r takes a sequence of values, not %r"
                            % (self, values))
        if len(values) != len(self.types):
            raise WireError(ErrorCode.INVAL, detail="%r has %d types, not %d values"
                            % (self, len(self.types), len(values)))
        return [(kind[0], ListValue(kind[1], value if isinstance(value, list) else
                                    list(value) if isinstance(value, tuple) else value))
                if isinstance(kind, tuple) else (kind, value)
                for kind, value in zip(self.types, values)]

    def _slow_encode(self, values: Sequence[Any]) -> bytes:
        return _exact_encode(self.fields(values))

    def _slow_decode(self, payload: BytesLike) -> List[Any]:
        fields, starts = decode_with_offsets(payload)  # the codec's errors, exactly
        size = len(payload)
        for index, kind in enumerate(self.types):
            if index >= len(fields):
                raise WireError(ErrorCode.TYPE, size, "field %d (%s) is missing"
                                % (index, _layout_name(kind)))
            name, value = fields[index]
            want = kind[0] if isinstance(kind, tuple) else kind
            if name != want:
                raise WireError(ErrorCode.TYPE, starts[index], "field %d is %s, not %s"
                                % (index, name, _layout_name(kind)))
            if isinstance(kind, tuple) and value.elem != kind[1]:
                raise WireError(ErrorCode.TYPE, starts[index] + 1, "field %d is a list of %s,"
                                " not of %s" % (index, value.elem, kind[1]))
        if len(fields) > len(self.types):
            raise WireError(ErrorCode.TYPE, starts[len(self.types)], "%d fields, not %d"
                            % (len(fields), len(self.types)))
        return [value.items if isinstance(value, ListValue) else value for _, value in fields]

    def _packer(self, key: Tuple[int, ...]) -> Any:
        """The pack function of the whole message for these variable lengths and counts."""
        lengths = iter(key)
        fmt = ">"
        for kind in self.types:
            if isinstance(kind, tuple):
                fmt += "BBI%d%s" % (next(lengths), _FAST_ELEMENTS[kind[1]][0])
            elif kind == "string" or kind == "bytes":
                fmt += "BI%ds" % next(lengths)
            else:
                fmt += "B" + _LAYOUT_SCALARS[kind]
        if len(self._packers) >= _LAYOUT_CACHE_MAX:
            self._packers.clear()
        pack = self._packers[key] = struct.Struct(fmt).pack
        return pack

    def _unpacker(self, elem: str, count: int) -> Any:
        """unpack_from of ``count`` list elements of type ``elem``."""
        unpack = self._unpackers.get((elem, count))
        if unpack is None:
            if len(self._unpackers) >= _LAYOUT_CACHE_MAX:
                self._unpackers.clear()
            unpack = struct.Struct(">%d%s" % (count, _FAST_ELEMENTS[elem][0])).unpack_from
            self._unpackers[(elem, count)] = unpack
        return unpack

    def _compile_encode(self) -> Callable[[Sequence[Any]], bytes]:
        """encode(values): unpack the values, check their exact types, pack the whole message with
        one struct (cached per combination of lengths); the reference encoder on anything else."""
        checks, prepare, key, args = [], [], [], []
        for index, kind in enumerate(self.types):
            v = "v%d" % index
            if isinstance(kind, tuple):
                _, elem_tag, _ = _FAST_ELEMENTS[kind[1]]
                checks.append("type(%s) is not list" % v)
                prepare += ["for x in %s:" % v,
                            "    if type(x) is not %s:" % ("float" if kind[1] == "f64" else "int"),
                            "        raise _GiveUp"]
                key.append("len(%s)" % v)
                args.append("%d, %d, len(%s), *%s" % (TYPE_TAGS["list"], elem_tag, v, v))
            elif kind == "string":
                checks.append("type(%s) is not str" % v)
                prepare.append("d%s = %s.encode('utf-8')" % (v, v))
                key.append("len(d%s)" % v)
                args.append("%d, len(d%s), d%s" % (TYPE_TAGS[kind], v, v))
            elif kind == "bytes":
                checks.append("type(%s) is not bytes" % v)
                key.append("len(%s)" % v)
                args.append("%d, len(%s), %s" % (TYPE_TAGS[kind], v, v))
            elif kind == "bool":
                checks.append("(%s is not True and %s is not False)" % (v, v))
                args.append("%d, %s" % (TYPE_TAGS[kind], v))
            elif kind == "f32":
                checks.append("type(%s) is not F32" % v)
                args.append("%d, %s.bits" % (TYPE_TAGS[kind], v))
            else:
                checks.append("type(%s) is not %s" % (v, "float" if kind == "f64" else "int"))
                args.append("%d, %s" % (TYPE_TAGS[kind], v))
        names = ["v%d" % index for index in range(len(self.types))]
        body = (["(%s,) = values" % ", ".join(names)] if names else
                ["if len(values):", "    raise _GiveUp"])
        body += (["if %s:" % " or ".join(checks), "    raise _GiveUp"] * bool(checks)
                + prepare
                + ["key = (%s)" % "".join(k + ", " for k in key),
                   "pack = packers.get(key) or packer(key)",
                   "return pack(%s)" % ", ".join(args)])
        source = ["def encode(values):", "    try:"] + ["        " + line for line in body]
        source += ["    except GIVES_UP:", "        return slow(values)"]
        return self._compile(source, "encode", {"slow": self._slow_encode})

    def _compile_decode(self) -> Callable[[BytesLike], List[Any]]:
        """decode(payload): read the payload in segments, each one struct call ending with a
        variable-length value's length word or a list's count (which fixes where the next segment
        starts), check every tag; the reference decoder on anything else."""
        body = ["buf = payload if type(payload) is bytes else bytes(payload)", "end = len(buf)",
                "p = 0"]
        segments: Dict[str, Any] = {}
        results: List[str] = []
        pending: List[Tuple[str, str, Optional[int]]] = []  # (format, target, expected value)
        extra: List[str] = []  # more conditions for giving up on the pending segment

        def flush() -> None:
            if not pending:
                return
            fmt = ">" + "".join(f for f, _, _ in pending)
            unpack = "unpack%d" % len(segments)
            segments[unpack] = struct.Struct(fmt).unpack_from  # struct.error on a short buffer
            body.append("(%s,) = %s(buf, p)" % (", ".join(t for _, t, _ in pending), unpack))
            wrong = ["%s != %d" % (t, want) for _, t, want in pending if want is not None] + extra
            body.extend(["if %s:" % " or ".join(wrong), "    raise _GiveUp"])
            body.append("p += %d" % struct.calcsize(fmt))
            pending.clear()
            extra.clear()

        for index, kind in enumerate(self.types):
            v, t, n = "v%d" % index, "t%d" % index, "n%d" % index
            if isinstance(kind, tuple):
                _, elem_tag, size = _FAST_ELEMENTS[kind[1]]
                pending += [("B", t, TYPE_TAGS["list"]), ("B", "e%d" % index, elem_tag),
                            ("I", n, None)]
                flush()
                body += ["if %s > (end - p) // %d:" % (n, size), "    raise _GiveUp",
                         "%s = list(unpacker(%r, %s)(buf, p))" % (v, kind[1], n),
                         "p += %s * %d" % (n, size)]
                results.append(v)
            elif kind == "string" or kind == "bytes":
                pending += [("B", t, TYPE_TAGS[kind]), ("I", n, None)]
                flush()
                body += ["if %s > end - p:" % n, "    raise _GiveUp",
                         "%s = buf[p:p + %s]%s" % (v, n, ".decode('utf-8')" * (kind == "string")),
                         "p += %s" % n]
                results.append(v)
            else:
                pending += [("B", t, TYPE_TAGS[kind]), (_LAYOUT_SCALARS[kind], v, None)]
                if kind == "bool":
                    extra.append("%s > 1" % v)
                results.append("%s == 1" % v if kind == "bool" else "F32(%s)" % v if kind == "f32"
                               else v)
        flush()
        body += ["if p != end:", "    raise _GiveUp", "return [%s]" % ", ".join(results)]
        source = ["def decode(payload):", "    try:"] + ["        " + line for line in body]
        source += ["    except GIVES_UP:", "        return slow(payload)"]
        return self._compile(source, "decode", dict(segments, slow=self._slow_decode))

    def _compile(self, source: List[str], name: str, names: Dict[str, Any]) -> Any:
        """The function ``name`` defined by ``source`` (built above from the layout's types and
        the tables of this module only, never from input)."""
        namespace: Dict[str, Any] = dict(names, _GiveUp=_GiveUp, F32=F32,
                                         GIVES_UP=_LAYOUT_GIVES_UP, packers=self._packers,
                                         packer=self._packer, unpacker=self._unpacker)
        self._sources = getattr(self, "_sources", {})
        self._sources[name] = "\n".join(source)  # for reading what was generated
        exec(compile(self._sources[name], "<wire.Layout.%s>" % name, "exec"), namespace)
        function: Any = namespace[name]
        function.__doc__ = ("The payload of these values (a sequence, one per type of the layout)."
                            if name == "encode" else
                            "The values of a payload holding the layout's fields, in order.")
        return function


# struct.error: short buffers on decode, out-of-range ints and lengths on encode; TypeError and
# ValueError: a values sequence that cannot be unpacked into the layout's count.
_LAYOUT_GIVES_UP = (_GiveUp, struct.error, TypeError, ValueError, UnicodeEncodeError,
                    UnicodeDecodeError)


def _layout_name(kind: LayoutType) -> str:
    return "list of %s" % kind[1] if isinstance(kind, tuple) else kind


# --------------------------------------------------------------------------------------------
# Frames


class MsgType(enum.IntEnum):
    """Message types of SPEC 7.1 (control and interop service); must equal proto/messages.txt."""

    HELLO = 0x0001
    ERROR = 0x0002
    PING = 0x0003
    PONG = 0x0004
    BYE = 0x0005
    ECHO = 0x0100
    ECHO_REPLY = 0x0101
    ROUNDTRIP = 0x0102
    ROUNDTRIP_REPLY = 0x0103
    VECTOR_CHECK = 0x0104
    VECTOR_RESULT = 0x0105
    VECTOR_GET = 0x0106
    VECTOR_DATA = 0x0107
    STATS = 0x0108
    STATS_REPLY = 0x0109


class Frame(NamedTuple):
    """A received frame: message type and raw payload."""

    type: int
    payload: bytes


def encode_header(msg_type: int, length: int) -> bytes:
    """The 8-byte header of a frame of type ``msg_type`` carrying ``length`` payload bytes."""
    if not 1 <= msg_type <= 0xFFFF:
        raise WireError(ErrorCode.RANGE, detail="message type %r is not in 1..65535" % (msg_type,))
    if not 0 <= length <= U32_MAX:
        raise WireError(ErrorCode.RANGE, detail="payload length %r does not fit a u32" % (length,))
    return _HEADER.pack(PROTOCOL_VERSION, 0, msg_type, length)


def encode_frame(msg_type: int, payload: BytesLike = b"") -> bytes:
    """A whole frame: header and payload."""
    return encode_header(msg_type, len(payload)) + bytes(payload)


def decode_header(header: BytesLike, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Tuple[int, int]:
    """Check an 8-byte header (version, flags, type, length — in that order) and return
    ``(type, length)``. Errors carry header offsets: VERSION 0, HEADER 1 or 2, TOOBIG 4."""
    if len(header) < HEADER_SIZE:
        raise WireError(ErrorCode.TRUNCATED, len(header), "frame header needs 8 bytes, got %d"
                        % len(header))
    version, flags, msg_type, length = _HEADER.unpack_from(header, 0)
    if version != PROTOCOL_VERSION:
        raise WireError(ErrorCode.VERSION, 0, "frame version %d, expected %d" % (version, PROTOCOL_VERSION))
    if flags != 0:
        raise WireError(ErrorCode.HEADER, 1, "reserved flags 0x%02x are not 0" % flags)
    if msg_type == 0:
        raise WireError(ErrorCode.HEADER, 2, "message type 0 is invalid")
    if length > max_payload:
        raise WireError(ErrorCode.TOOBIG, 4, "payload of %d bytes exceeds the limit of %d"
                        % (length, max_payload))
    return msg_type, length


def decode_frame(data: BytesLike, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Parse ``data`` holding exactly one whole frame. Header errors as in :func:`decode_header`;
    a payload shorter than announced is TRUNCATED at its first missing byte; trailing bytes after
    the frame are LENGTH at the first extra byte. The payload itself is not decoded."""
    msg_type, length = decode_header(data, max_payload)
    end = HEADER_SIZE + length
    if len(data) < end:
        raise WireError(ErrorCode.TRUNCATED, len(data), "frame announces %d payload bytes, has %d"
                        % (length, len(data) - HEADER_SIZE))
    if len(data) > end:
        raise WireError(ErrorCode.LENGTH, end, "%d bytes after the frame" % (len(data) - end))
    return Frame(msg_type, bytes(data[HEADER_SIZE:]))


class FrameParser:
    """Incremental frame parser: :meth:`feed` bytes in any chunking, then take the complete frames
    with :meth:`next_frame` or by iterating (``parser.feed(chunk); for frame in parser: ...``).

    A header is checked as soon as its 8 bytes are buffered, so an oversize length is rejected
    before any of its payload is buffered. Frames before a bad header are still delivered, in
    order; the error is raised where the bad header sits. After an error the parser re-raises it.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._header: Optional[Tuple[int, int]] = None
        self._error: Optional[WireError] = None

    def feed(self, data: BytesLike) -> None:
        """Buffer more input."""
        if self._error is not None:
            raise self._error
        self._buffer += data

    def next_frame(self) -> Optional[Frame]:
        """The next complete frame, or None if it is not all buffered yet."""
        if self._error is not None:
            raise self._error
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return None
            try:
                self._header = decode_header(self._buffer[:HEADER_SIZE], self.max_payload)
            except WireError as exc:
                self._error = exc
                raise
            # CPython deletes a bytearray prefix in O(1), so consuming frames is not quadratic.
            del self._buffer[:HEADER_SIZE]
        msg_type, length = self._header
        if len(self._buffer) < length:
            return None
        frame = Frame(msg_type, bytes(self._buffer[:length]))
        del self._buffer[:length]
        self._header = None
        return frame

    def __iter__(self) -> Iterator[Frame]:
        """The frames complete so far."""
        frame = self.next_frame()
        while frame is not None:
            yield frame
            frame = self.next_frame()

    @property
    def pending(self) -> int:
        """Bytes of incomplete frames buffered so far (0 at a frame boundary)."""
        return len(self._buffer) + (HEADER_SIZE if self._header is not None else 0)

    def finish(self) -> None:
        """Declare the end of input: TRUNCATED if it cut a frame short (SPEC 8.5)."""
        if self._error is not None:
            raise self._error
        if self.pending:
            raise WireError(ErrorCode.TRUNCATED, detail="end of input inside a frame (%d bytes pending)"
                            % self.pending)


# --------------------------------------------------------------------------------------------
# Blocking sockets


def _set_deadline(sock: socket.socket, deadline: Optional[float]) -> None:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WireError(ErrorCode.TIMEOUT, detail="deadline passed")
        sock.settimeout(left)


def _os_error(exc: OSError) -> WireError:
    if isinstance(exc, socket.timeout):
        return WireError(ErrorCode.TIMEOUT, detail="socket operation timed out")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return WireError(ErrorCode.CLOSED, detail=str(exc))
    return WireError(ErrorCode.IO, detail=str(exc))


def send_frame(sock: socket.socket, msg_type: int, payload: BytesLike = b"",
               deadline: Optional[float] = None) -> None:
    """Send one frame in one write (so Nagle cannot delay a split write): header and payload
    joined when small, gathered by sendmsg when large (no copy of a 16 MiB payload)."""
    header = encode_header(msg_type, len(payload))
    try:
        if len(payload) <= RECV_CHUNK:
            _set_deadline(sock, deadline)
            sock.sendall(header + bytes(payload))
            return
        parts = [memoryview(header), memoryview(payload).cast("B")]
        while parts:
            _set_deadline(sock, deadline)
            sent = sock.sendmsg(parts)
            while parts and sent >= len(parts[0]):
                sent -= len(parts[0])
                parts.pop(0).release()
            if parts and sent:
                parts[0] = parts[0][sent:]
    except OSError as exc:
        raise _os_error(exc) from exc


def send_fields(sock: socket.socket, msg_type: int, fields: Iterable[Field],
                deadline: Optional[float] = None) -> None:
    """Encode ``fields`` and send them as one frame."""
    send_frame(sock, msg_type, encode(fields), deadline)


# The first read of a message asks for at most this; later ones at most what has arrived so far,
# so a buffer never grows past twice the bytes received (SPEC 2.4: a header's announced length
# is not a reason to allocate).
RECV_CHUNK = 64 * 1024


def _recv_upto(sock: socket.socket, size: int, deadline: Optional[float]) -> bytearray:
    """Read ``size`` bytes, or fewer only if EOF comes first."""
    data = bytearray()
    try:
        while len(data) < size:
            _set_deadline(sock, deadline)
            chunk = sock.recv(min(size - len(data), max(RECV_CHUNK, len(data))))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise _os_error(exc) from exc
    return data


def port_number(lowest: int) -> Callable[[str], int]:
    """An argparse type for a TCP port: a decimal number from `lowest` (0 for a server that lets the
    system choose, 1 for a client) to 65535. Python's socket module would take 99999 and wrap it
    (or fail with an OverflowError traceback); this refuses it with a clear usage error."""
    def parse(text: str) -> int:
        if not text.isdigit() or not lowest <= int(text) <= 65535:
            raise argparse.ArgumentTypeError("%r is not a port (%d..65535)" % (text, lowest))
        return int(text)
    return parse


def recv_exact(sock: socket.socket, size: int, deadline: Optional[float] = None) -> bytes:
    """Read exactly ``size`` bytes; EOF first is TRUNCATED (the stream ends inside a frame, SPEC
    8.5). ``deadline`` is a time.monotonic() value bounding the whole call (it sets the socket
    timeout)."""
    data = _recv_upto(sock, size, deadline)
    if len(data) < size:
        raise WireError(ErrorCode.TRUNCATED, detail="connection closed after %d of %d bytes"
                        % (len(data), size))
    return bytes(data)


def recv_frame(sock: socket.socket, max_payload: int = DEFAULT_MAX_PAYLOAD,
               deadline: Optional[float] = None) -> Optional[Frame]:
    """Read one frame. Returns None on EOF at a frame boundary; EOF inside a frame is TRUNCATED
    (SPEC 8.5). The header is checked before any payload is read (header errors carry header
    offsets). Reads exact counts, so frames may arrive cut or coalesced in any way (SPEC 2.5)."""
    header = _recv_upto(sock, HEADER_SIZE, deadline)
    if not header:
        return None
    if len(header) < HEADER_SIZE:
        raise WireError(ErrorCode.TRUNCATED, detail="connection closed inside a frame header")
    msg_type, length = decode_header(header, max_payload)
    return Frame(msg_type, recv_exact(sock, length, deadline))


class FrameReader:
    """Frames from a blocking socket, buffered: one read may bring part of a header or several
    frames (SPEC 2.5). The steps are separate so that a receiver can act between them: wait for a
    frame's first byte (its idle time), read and check its header, judge its type from the header
    alone (SPEC 8.3 step 3), then read its payload -- each with its own deadline (a
    time.monotonic() value). A header is checked before its payload is waited for, and no more
    than one read's worth of bytes past it is ever buffered before that check."""

    CHUNK = 256 * 1024  # the most bytes asked of one recv
    FIRST = 4096  # asked while waiting for a frame: an idle connection holds no large buffer

    def __init__(self, sock: socket.socket, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.sock = sock
        self.max_payload = max_payload
        self.bytes_in = 0
        self._buffer = bytearray()

    def _fill(self, deadline: Optional[float], want: int = 1) -> bool:
        """Read what comes, waiting until ``deadline`` (TIMEOUT); False at EOF. Asks for the
        ``want`` bytes still needed, but at least FIRST and at most CHUNK or what is already
        buffered (doubling), so that an announced length allocates nothing ahead of its bytes."""
        try:
            _set_deadline(self.sock, deadline)
            chunk = self.sock.recv(max(self.FIRST, min(want, self.CHUNK, len(self._buffer))))
        except OSError as exc:
            raise _os_error(exc) from exc
        self._buffer += chunk
        self.bytes_in += len(chunk)
        return bool(chunk)

    def buffered(self) -> int:
        """Bytes received and not yet consumed as frames (a frame begun, or more)."""
        return len(self._buffer)

    def wait_start(self, deadline: Optional[float]) -> bool:
        """Wait for the next frame's first byte: False at EOF (at a frame boundary)."""
        while not self._buffer:
            if not self._fill(deadline):
                return False
        return True

    def _need(self, size: int, deadline: Optional[float], what: str) -> None:
        while len(self._buffer) < size:
            if not self._fill(deadline, size - len(self._buffer)):
                raise WireError(ErrorCode.TRUNCATED, detail="the stream ended inside a frame %s" % what)

    def read_header(self, deadline: Optional[float]) -> Tuple[int, int]:
        """The next frame's ``(type, length)``, its header checked (decode_header: header offsets);
        EOF inside it is TRUNCATED. The header stays buffered until :meth:`read_payload`."""
        self._need(HEADER_SIZE, deadline, "header")
        return decode_header(self._buffer[:HEADER_SIZE], self.max_payload)

    def read_payload(self, length: int, deadline: Optional[float]) -> bytes:
        """The payload of the frame whose header :meth:`read_header` returned, which is then
        consumed. EOF inside it is TRUNCATED."""
        end = HEADER_SIZE + length
        self._need(end, deadline, "payload")
        with memoryview(self._buffer) as view:  # one copy, not two (a slice, then bytes)
            payload = bytes(view[HEADER_SIZE:end])
        # CPython deletes a bytearray prefix in O(1), so consuming frames is not quadratic.
        del self._buffer[:end]
        return payload

    def recv_frame(self, deadline: Optional[float] = None) -> Optional[Frame]:
        """The next whole frame, or None at EOF at a frame boundary."""
        if not self.wait_start(deadline):
            return None
        msg_type, length = self.read_header(deadline)
        return Frame(msg_type, self.read_payload(length, deadline))


def close_gracefully(sock: socket.socket, drain_seconds: float = DRAIN_SECONDS,
                     drain_bytes: int = 4 * DEFAULT_MAX_PAYLOAD) -> None:
    """shutdown(SHUT_WR), then read and discard input until EOF or a bounded time/volume, then
    close (SPEC 8.4). Unread input at close() would make the kernel send RST, which can destroy
    data (such as an ERROR frame) still in flight to the peer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + drain_seconds
        drained = 0
        while drained < drain_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass  # the peer is gone or slow; closing is all that is left to do
    finally:
        sock.close()


# --------------------------------------------------------------------------------------------
# Control messages (SPEC 7.2 - 7.6)


class Hello(NamedTuple):
    """HELLO fields."""

    version: int
    max_payload: int
    name: str


class ErrorMessage(NamedTuple):
    """ERROR fields; ``offset`` None stands for 0xFFFFFFFF (no offset)."""

    code: int
    offset: Optional[int]
    message: str


class MessageFields:
    """A payload of fields, decoded whole (codec errors at their payload offsets), with the offset
    of every top-level field, for checking it against a message's definition in field order
    (SPEC 7.2). MESSAGE offsets count from the payload's first byte: a receiver answering the frame
    adds HEADER_SIZE (WireError.shifted)."""

    KEPT = 64  # top-level fields whose offsets are kept: more than any message defines

    def __init__(self, payload: BytesLike, message: str) -> None:
        self.message = message  # the message's name, for the error texts
        # Validated whole (SPEC 7.2), but a value is built only when a check asks for it: the
        # fields of a 16 MiB request cost no memory until then.
        self.payload = bytes(payload)
        self.starts = validate(self.payload, self.KEPT)
        self.size = len(payload)

    def __len__(self) -> int:
        """The number of top-level fields, counted up to KEPT."""
        return len(self.starts)

    def field(self, index: int) -> Field:
        """Field ``index`` (< len(self)), decoded."""
        start = self.starts[index]
        type_name = TAG_TYPES[self.payload[start]]
        return type_name, _decode_value(self.payload, type_name, start + 1, self.size, 0)[0]

    @property
    def fields(self) -> List[Field]:
        """Every field, decoded."""
        return decode(self.payload)

    def take(self, index: int, type_name: str, name: str) -> Any:
        """The value of field ``index``, which must be there with this type: else MESSAGE at its
        tag byte, or where it would have started when it is missing."""
        if index >= len(self.starts):
            raise WireError(ErrorCode.MESSAGE, self.size, "%s: field %d (%s %s) is missing"
                            % (self.message, index, type_name, name))
        got = TAG_TYPES[self.payload[self.starts[index]]]
        if got != type_name:
            raise WireError(ErrorCode.MESSAGE, self.starts[index], "%s: field %d (%s) is %s, not %s"
                            % (self.message, index, name, got, type_name))
        return self.field(index)[1]

    def locate(self, index: int, type_name: str, name: str) -> int:
        """The checks of :meth:`take`, without decoding: the offset of the field's value."""
        if index >= len(self.starts):
            self.take(index, type_name, name)  # raises: the field is missing
        if TAG_TYPES[self.payload[self.starts[index]]] != type_name:
            self.take(index, type_name, name)  # raises: another type
        return self.starts[index] + 1

    def take_list(self, index: int, elem: str, name: str) -> "ListValue":
        """Field ``index``, a list of ``elem``; another element type is a value not allowed."""
        value: ListValue = self.take(index, "list", name)
        if value.elem != elem:
            raise self.not_allowed(index, "field %d (%s) is a list of %s, not of %s"
                                   % (index, name, value.elem, elem))
        return value

    def not_allowed(self, index: int, detail: str, code: int = ErrorCode.MESSAGE) -> WireError:
        """The error for field ``index`` of the right type holding a value the message does not
        allow: at the value's first byte, right after the tag (a string's length word)."""
        return WireError(code, self.starts[index] + 1, "%s: %s" % (self.message, detail))

    def no_more(self, count: int) -> None:
        """A request has exactly ``count`` fields: an extra one is MESSAGE at its tag byte."""
        if len(self.starts) > count:
            raise WireError(ErrorCode.MESSAGE, self.starts[count], "%s has %s fields, not %d"
                            % (self.message, len(self.starts) if len(self.starts) < self.KEPT
                               else "%d or more" % self.KEPT, count))


def _utf8_size(text: str) -> int:
    return len(_as_utf8(text, ()))


def encode_hello(max_payload: int = DEFAULT_MAX_PAYLOAD, name: str = "python",
                 version: int = PROTOCOL_VERSION) -> bytes:
    """HELLO payload. What a receiver would refuse is RANGE here, so it is never sent (SPEC 7.2):
    a name over HELLO_NAME_MAX bytes of UTF-8, a max_payload under MIN_MAX_PAYLOAD. (``version``
    is for tests that play a peer of another version.)"""
    if _utf8_size(name) > HELLO_NAME_MAX:
        raise WireError(ErrorCode.RANGE, detail="peer name longer than %d bytes" % HELLO_NAME_MAX)
    if type(max_payload) is int and max_payload < MIN_MAX_PAYLOAD:
        raise WireError(ErrorCode.RANGE, detail="max_payload %d is under the minimum %d"
                        % (max_payload, MIN_MAX_PAYLOAD))
    return encode([("u16", version), ("u32", max_payload), ("string", name)])


def decode_hello(payload: BytesLike) -> Hello:
    """Parse a HELLO payload with the whole SPEC 7.2 check, so a caller never judges anything
    itself: the payload decodes whole first (codec errors at their payload offsets), then the
    fields in order. The version comes first and is judged alone: not 1 is VERSION at its value
    (offset 1), and nothing after it is looked at (another version's HELLO may differ). Then
    max_payload >= MIN_MAX_PAYLOAD and a name of at most HELLO_NAME_MAX bytes (else MESSAGE at the
    value). Extra trailing fields are ignored (a control message)."""
    fields = MessageFields(payload, "HELLO")
    version = fields.take(0, "u16", "version")
    if version != PROTOCOL_VERSION:
        raise fields.not_allowed(0, "version %d, this side speaks %d" % (version, PROTOCOL_VERSION),
                                 ErrorCode.VERSION)
    max_payload = fields.take(1, "u32", "max_payload")
    if max_payload < MIN_MAX_PAYLOAD:
        raise fields.not_allowed(1, "max_payload %d is under the minimum %d"
                                 % (max_payload, MIN_MAX_PAYLOAD))
    name = fields.take(2, "string", "name")
    if _utf8_size(name) > HELLO_NAME_MAX:
        raise fields.not_allowed(2, "the name has %d bytes, more than %d"
                                 % (_utf8_size(name), HELLO_NAME_MAX))
    return Hello(version, max_payload, name)


def clip_error_text(text: str) -> str:
    """``text`` cut to ERROR_TEXT_MAX bytes of UTF-8 at a character boundary: for error texts
    built from untrusted input, which the ERROR encoder would otherwise refuse."""
    data = text.encode("utf-8", "replace")
    if len(data) <= ERROR_TEXT_MAX:
        return data.decode("utf-8")
    return data[:ERROR_TEXT_MAX].decode("utf-8", "ignore")


def encode_error(code: int, offset: Optional[int], message: str) -> bytes:
    """ERROR payload (``offset`` None: NO_OFFSET). A message over ERROR_TEXT_MAX bytes is RANGE,
    never sent (SPEC 7.2): :func:`clip_error_text` shortens one that may be too long."""
    if _utf8_size(message) > ERROR_TEXT_MAX:
        raise WireError(ErrorCode.RANGE, detail="ERROR message longer than %d bytes" % ERROR_TEXT_MAX)
    return encode([("u16", code), ("u32", NO_OFFSET if offset is None else offset),
                   ("string", message)])


def decode_error(payload: BytesLike) -> ErrorMessage:
    """Parse an ERROR payload (SPEC 7.2, 7.4): decoded whole, then code u16, offset u32, a message
    of at most ERROR_TEXT_MAX bytes (else MESSAGE at its length word); extra fields ignored. A
    malformed ERROR is still never answered: the caller just closes."""
    fields = MessageFields(payload, "ERROR")
    code = fields.take(0, "u16", "code")
    offset = fields.take(1, "u32", "offset")
    message = fields.take(2, "string", "message")
    if _utf8_size(message) > ERROR_TEXT_MAX:
        raise fields.not_allowed(2, "the message has %d bytes, more than %d"
                                 % (_utf8_size(message), ERROR_TEXT_MAX))
    return ErrorMessage(code, None if offset == NO_OFFSET else offset, message)


def decode_bye(payload: BytesLike) -> None:
    """Check a BYE payload: empty, or fields a newer peer added, which must decode (SPEC 7.2:
    extra trailing fields of a control message are ignored)."""
    decode(payload)


def pong_payload(ping_payload: BytesLike) -> bytes:
    """The PONG answering a PING carries the PING's opaque payload unchanged."""
    return bytes(ping_payload)


# --------------------------------------------------------------------------------------------
# The UDP datagram profile (SPEC 15): a 4-byte request id, then exactly one frame.

UDP_MAX_DATAGRAM = 65507  # the largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP) (SPEC 15.4)
REQUEST_ID_SIZE = 4
UDP_MAX_PAYLOAD = UDP_MAX_DATAGRAM - REQUEST_ID_SIZE - HEADER_SIZE  # 65495
# One byte more than the largest datagram accepted: a datagram that fills it was too large, which
# tells truncation apart even where MSG_TRUNC is not reported (SPEC 15.4).
UDP_RECV_SIZE = UDP_MAX_DATAGRAM + 1


class Datagram(NamedTuple):
    """A datagram that passed SPEC 15.3 steps 1 to 3 and 5: its request id and its one frame."""

    request_id: int
    type: int
    payload: bytes


def encode_datagram(request_id: int, msg_type: int, payload: BytesLike = b"") -> bytes:
    """Request id (u32, big-endian) + one frame. A payload over UDP_MAX_PAYLOAD cannot be sent in
    one datagram: TOOBIG with no offset (the ERROR a server answers instead, SPEC 15.4)."""
    if isinstance(request_id, bool) or not isinstance(request_id, int) or not 0 <= request_id <= U32_MAX:
        raise WireError(ErrorCode.RANGE, detail="request id %r is not a u32" % (request_id,))
    if len(payload) > UDP_MAX_PAYLOAD:
        raise WireError(ErrorCode.TOOBIG, None, "a payload of %d bytes does not fit in a datagram"
                        " (at most %d)" % (len(payload), UDP_MAX_PAYLOAD))
    return request_id.to_bytes(REQUEST_ID_SIZE, "big") + encode_frame(msg_type, payload)


def datagram_id(data: BytesLike) -> Optional[int]:
    """The request id of a received datagram, None when it has fewer than 4 bytes (SPEC 15.3 step
    1: such a datagram cannot be answered and is dropped)."""
    if len(data) < REQUEST_ID_SIZE:
        return None
    return int.from_bytes(bytes(data[:REQUEST_ID_SIZE]), "big")


def decode_datagram_header(data: BytesLike, max_payload: int = UDP_MAX_PAYLOAD) -> Tuple[int, int, int]:
    """SPEC 15.3 steps 1 to 3 on a received datagram: ``(request id, type, length)``. Errors carry
    **frame** offsets (the id not counted): TRUNCATED (no offset) for fewer than 4 bytes, TRUNCATED
    0 for an incomplete header, then the header checks (VERSION 0, HEADER 1 / 2, TOOBIG 4, against
    ``max_payload`` capped at UDP_MAX_PAYLOAD). A server looks at the type here, before the size
    check: an ERROR is dropped even when its size disagrees with its header (step 4)."""
    size = len(data)
    if size < REQUEST_ID_SIZE:
        raise WireError(ErrorCode.TRUNCATED, None, "a datagram of %d bytes has no request id" % size)
    if size < REQUEST_ID_SIZE + HEADER_SIZE:
        raise WireError(ErrorCode.TRUNCATED, 0, "the frame header needs 8 bytes, the datagram has %d"
                        % (size - REQUEST_ID_SIZE))
    head = bytes(data[:REQUEST_ID_SIZE + HEADER_SIZE])
    msg_type, length = decode_header(head[REQUEST_ID_SIZE:], min(max_payload, UDP_MAX_PAYLOAD))
    return int.from_bytes(head[:REQUEST_ID_SIZE], "big"), msg_type, length


def decode_datagram(data: BytesLike, max_payload: int = UDP_MAX_PAYLOAD) -> Datagram:
    """SPEC 15.3 steps 1 to 3 (:func:`decode_datagram_header`) and 5, what a client applies to
    what it receives: LENGTH 4 when the datagram's size is not 12 + the header's length (a
    datagram cut by a small receive buffer ends here). The type and payload are not judged."""
    request_id, msg_type, length = decode_datagram_header(data, max_payload)
    carried = len(data) - REQUEST_ID_SIZE - HEADER_SIZE
    if carried != length:
        raise WireError(ErrorCode.LENGTH, 4, "the header announces %d payload bytes, the datagram"
                        " carries %d" % (length, carried))
    return Datagram(request_id, msg_type, bytes(data[REQUEST_ID_SIZE + HEADER_SIZE:]))


def recv_datagram(sock: socket.socket, size: int = UDP_RECV_SIZE) -> Tuple[bytes, Any, bool]:
    """One datagram from a UDP socket: ``(data, source address, truncated)``. ``truncated`` is
    true when the kernel says it cut the datagram to ``size`` (MSG_TRUNC), or when more than
    UDP_MAX_DATAGRAM bytes came (the default ``size`` has room for one byte more). Either way
    ``data`` is what was received, for decode_datagram to judge (LENGTH or TOOBIG, SPEC 15.4).
    Blocks as the socket does; OSError (socket.timeout included) passes through."""
    data, _ancillary, flags, address = sock.recvmsg(size)
    return data, address, bool(flags & socket.MSG_TRUNC) or len(data) > UDP_MAX_DATAGRAM
