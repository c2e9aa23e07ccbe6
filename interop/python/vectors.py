# SPDX-License-Identifier: MIT
"""The proto/ value notation and files (SPEC 10.7 - 10.9; proto/README.md sections 1 - 3).

Parsing gives values in the model of :mod:`wire`; :func:`format_field` writes them back in the
notation (used for VECTOR_RESULT expected/got strings); :func:`first_mismatch` compares two field
sequences with floats by bits and reports the first difference as VECTOR_RESULT does.
"""

import os
import re
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

if __package__:  # installed: the wireproto package
    from . import wire
    from .wire import F32, Field, ListValue
else:  # imported from the source tree
    import wire
    from wire import F32, Field, ListValue

_NAME = re.compile(r"[a-z0-9._-]+\Z")
# Canonical spellings only (proto/README.md section 1): no leading zeros, no "+", no "-0", lowercase hex.
_HEX_TOKEN = re.compile(r"((?:[0-9a-f]{2})+)(?:\*(0|[1-9][0-9]*))?\Z")
_UNSIGNED = re.compile(r"(0|[1-9][0-9]*)\Z")
_SIGNED = re.compile(r"(0|-?[1-9][0-9]*)\Z")
_FLOAT_DIGITS = {"f32": 8, "f64": 16}

# Repo layout: interop/python/vectors.py -> proto/ at the repository root.
PROTO_DIR = Path(__file__).resolve().parent.parent.parent / "proto"


def find_proto_file(name: str) -> Path:
    """Where a program looks for a proto/ file it was not given (SPEC 10.10): the directory named
    by $WIRE_PROTO_DIR, then proto/ under the current directory, then this source tree's proto/.
    The first that exists is used (the last one when none does, for the error message)."""
    places = [Path(os.environ["WIRE_PROTO_DIR"])] if os.environ.get("WIRE_PROTO_DIR") else []
    places += [Path.cwd() / "proto", PROTO_DIR]
    for place in places:
        if (place / name).is_file():
            return place / name
    return places[-1] / name


class NotationError(ValueError):
    """Malformed notation or proto/ file line."""


# --------------------------------------------------------------------------------------------
# Value notation


def parse_hex(tokens: Union[str, Sequence[str]]) -> bytes:
    """Bytes from hex tokens ("0a0b", "ab*300"), given as a list or a space-separated string."""
    if isinstance(tokens, str):
        tokens = tokens.split()
    return b"".join(_hex_token(token) for token in tokens)


def _hex_token(token: str) -> bytes:
    match = _HEX_TOKEN.match(token)
    if match is None:
        raise NotationError("bad hex token %r (lowercase hex pairs, optional *<count>)" % token)
    data = bytes.fromhex(match.group(1))
    return data * int(match.group(2)) if match.group(2) is not None else data


class _Any:
    """The value of ``<type>:*`` in an expected payload (proto/README.md section 8): any value of
    that type matches."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()


def parse_fields(text: str, wildcards: bool = False) -> List[Field]:
    """Parse a space-separated sequence of fields, e.g. ``"u8:1 list:u8 [ u8:2 ] group { }"``.
    With ``wildcards``, a scalar may be ``<type>:*`` (value :data:`ANY`), as in sessions.txt."""
    return _Parser(text.split(), wildcards).fields_until(None)


class _Parser:
    def __init__(self, tokens: List[str], wildcards: bool = False) -> None:
        self.tokens = tokens
        self.pos = 0
        self.wildcards = wildcards

    def fields_until(self, closer: Optional[str]) -> List[Field]:
        """Fields up to ``closer`` (consumed) or, for None, to the end of the tokens."""
        fields: List[Field] = []
        while True:
            if self.pos == len(self.tokens):
                if closer is None:
                    return fields
                raise NotationError("missing %r" % closer)
            if self.tokens[self.pos] == closer:
                self.pos += 1
                return fields
            fields.append(self.field())

    def field(self) -> Field:
        token = self.tokens[self.pos]
        self.pos += 1
        if token == "group":
            self.expect("{")
            return "group", self.fields_until("}")
        type_name, colon, text = token.partition(":")
        if not colon:
            raise NotationError("token %r is not <type>:<value>, group or list:<type>" % token)
        if type_name == "list":
            if text not in wire.TYPE_TAGS:
                raise NotationError("unknown list element type %r" % text)
            self.expect("[")
            items = []
            for elem_type, value in self.fields_until("]"):
                if elem_type != text:
                    raise NotationError("%s element in a list:%s" % (elem_type, text))
                items.append(value)
            return "list", ListValue(text, items)
        if self.wildcards and text == "*" and type_name not in ("list", "group"):
            if type_name not in wire.TYPE_TAGS:
                raise NotationError("unknown type %r" % type_name)
            return type_name, ANY
        return type_name, parse_scalar(type_name, text)

    def expect(self, token: str) -> None:
        if self.pos == len(self.tokens) or self.tokens[self.pos] != token:
            raise NotationError("expected %r" % token)
        self.pos += 1


def parse_scalar(type_name: str, text: str) -> Any:
    """The value of a scalar token ``<type_name>:<text>``."""
    if type_name in wire.INT_RANGES:
        pattern = _UNSIGNED if type_name[0] == "u" else _SIGNED
        if not pattern.match(text):
            raise NotationError("bad %s value %r" % (type_name, text))
        value = int(text)
        low, high = wire.INT_RANGES[type_name]
        if not low <= value <= high:
            raise NotationError("%s value %d out of range" % (type_name, value))
        return value
    if type_name in _FLOAT_DIGITS:
        digits = _FLOAT_DIGITS[type_name]
        if not re.match(r"0x[0-9a-f]{%d}\Z" % digits, text):
            raise NotationError("%s wants 0x and %d lowercase hex digits, got %r"
                                % (type_name, digits, text))
        bits = int(text, 16)
        return F32(bits) if type_name == "f32" else wire.f64_from_bits(bits)
    if type_name == "bool":
        if text not in ("true", "false"):
            raise NotationError("bad bool value %r" % text)
        return text == "true"
    if type_name == "bytes":
        return _hex_token(text) if text else b""
    if type_name == "string":
        data = _hex_token(text) if text else b""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise NotationError("string:%s is not valid UTF-8" % text) from None
    raise NotationError("unknown type %r" % type_name)


def format_field(type_name: str, value: Any) -> str:
    """One field (or list element of type ``type_name``) in the notation."""
    if value is ANY:
        return "%s:*" % type_name
    if type_name == "list":
        inner = "".join(" " + format_field(value.elem, item) for item in value.items)
        if isinstance(value, wire.CutListValue):  # the items a comparison did not reach
            inner += " ...(%d elements)" % value.count
        return "list:%s [%s ]" % (value.elem, inner)
    if type_name == "group":
        return "group {%s }" % format_fields(value, leading=" ")
    if type_name == "f32":
        return "f32:0x%08x" % value.bits
    if type_name == "f64":
        return "f64:0x%016x" % wire.f64_bits(value)
    if type_name == "bool":
        return "bool:true" if value else "bool:false"
    if type_name == "string":
        return "string:" + str(value).encode("utf-8", "surrogatepass").hex()
    if type_name == "bytes":
        return "bytes:" + bytes(value).hex()
    return "%s:%d" % (type_name, value)


def format_fields(fields: Sequence[Field], leading: str = "") -> str:
    """Fields in the notation, space-separated (each preceded by ``leading`` if given)."""
    if leading:
        return "".join(leading + format_field(t, v) for t, v in fields)
    return " ".join(format_field(t, v) for t, v in fields)


# --------------------------------------------------------------------------------------------
# Comparison (floats by bits)


class Mismatch(NamedTuple):
    """First difference between two field sequences, as VECTOR_RESULT reports it."""

    path: str
    expected: str
    got: str


def first_mismatch(expected: Sequence[Field], got: Sequence[Field]) -> Optional[Mismatch]:
    """None if equal (floats compared by bits), else the first mismatching item: its path
    ("3", "2.0.5"), and both items in the notation ("(missing)" / "(none)" when one side ends)."""
    return _sequence_mismatch(expected, got, ())


def values_equal(expected: Sequence[Field], got: Sequence[Field]) -> bool:
    """Field sequences equal, floats by bits."""
    return first_mismatch(expected, got) is None


def _sequence_mismatch(expected: Sequence[Field], got: Sequence[Field],
                       path: Tuple[int, ...]) -> Optional[Mismatch]:
    for index in range(max(len(expected), len(got))):
        here = path + (index,)
        if index >= len(got):
            return Mismatch(_path(here), format_field(*expected[index]), "(missing)")
        if index >= len(expected):
            return Mismatch(_path(here), "(none)", format_field(*got[index]))
        found = _item_mismatch(expected[index], got[index], here)
        if found is not None:
            return found
    return None


def _item_mismatch(expected: Field, got: Field, path: Tuple[int, ...]) -> Optional[Mismatch]:
    (exp_type, exp_value), (got_type, got_value) = expected, got
    if exp_type == got_type:
        if exp_value is ANY:
            return None
        if exp_type == "group":
            return _sequence_mismatch(exp_value, got_value, path)
        if exp_type == "list":
            if exp_value.elem == got_value.elem:
                elem = exp_value.elem
                return _sequence_mismatch([(elem, item) for item in exp_value.items],
                                          [(elem, item) for item in got_value.items], path)
        elif _scalar_equal(exp_type, exp_value, got_value):
            return None
    return Mismatch(_path(path), format_field(*expected), format_field(*got))


def _scalar_equal(type_name: str, left: Any, right: Any) -> bool:
    if type_name == "f64":
        return wire.f64_bits(left) == wire.f64_bits(right)
    if type_name == "bytes":
        return bytes(left) == bytes(right)
    return type(left) is type(right) and left == right


def _path(path: Tuple[int, ...]) -> str:
    return ".".join(str(index) for index in path)


# --------------------------------------------------------------------------------------------
# Files


@dataclass
class Case:
    """One vectors.txt line. ``data`` is the hex column; ``fields`` for ok/frame; ``msg_type``
    for frame; ``code``/``offset`` for err/ferr."""

    kind: str
    name: str
    line: int
    data: bytes
    fields: List[Field] = dataclass_field(default_factory=list)
    msg_type: Optional[int] = None
    code: Optional[int] = None
    offset: Optional[int] = None


@dataclass
class StatsCase:
    """One stats.txt line."""

    name: str
    line: int
    request: List[Field]
    reply: List[Field]


def _split_line(text: str, lineno: int, kinds: Sequence[str]) -> Optional[Tuple[str, str, str, str]]:
    """(kind, name, middle, last) of a data line, None for comments and blank lines."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    parts = stripped.split("|")
    head = parts[0].split()
    if len(parts) != 3 or len(head) != 2:
        raise NotationError("line %d: expected '<kind> <name> | ... | ...'" % lineno)
    kind, name = head
    if kind not in kinds:
        raise NotationError("line %d: unknown case kind %r" % (lineno, kind))
    if not _NAME.match(name):
        raise NotationError("line %d: bad case name %r" % (lineno, name))
    return kind, name, parts[1].strip(), parts[2].strip()


def _code_offset(text: str) -> Tuple[int, int]:
    words = text.split()
    if len(words) != 2 or words[0] not in wire.ErrorCode.__members__ or not _UNSIGNED.match(words[1]):
        raise NotationError("expected '<CODE> <offset>', got %r" % text)
    return int(wire.ErrorCode[words[0]]), int(words[1])


def parse_vectors(text: str) -> List[Case]:
    """All cases of a vectors.txt text, in file order; names must be unique."""
    cases: List[Case] = []
    seen = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        split = _split_line(line, lineno, ("ok", "err", "frame", "ferr"))
        if split is None:
            continue
        kind, name, middle, last = split
        if name in seen:
            raise NotationError("line %d: duplicate case name %r" % (lineno, name))
        seen.add(name)
        try:
            case = Case(kind, name, lineno, parse_hex(last))
            if kind == "ok":
                case.fields = parse_fields(middle)
            elif kind == "frame":
                type_text, _, fields_text = middle.partition(" ")
                if not re.match(r"0x[0-9a-f]{4}\Z", type_text):
                    raise NotationError("frame type must be 0xNNNN, got %r" % type_text)
                case.msg_type = int(type_text, 16)
                case.fields = parse_fields(fields_text)
            else:
                case.code, case.offset = _code_offset(middle)
        except NotationError as exc:
            raise NotationError("line %d (%s): %s" % (lineno, name, exc)) from None
        cases.append(case)
    return cases


def parse_stats(text: str) -> List[StatsCase]:
    """All cases of a stats.txt text, in file order."""
    cases: List[StatsCase] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        split = _split_line(line, lineno, ("stats",))
        if split is None:
            continue
        _, name, request, reply = split
        try:
            cases.append(StatsCase(name, lineno, parse_fields(request), parse_fields(reply)))
        except NotationError as exc:
            raise NotationError("line %d (%s): %s" % (lineno, name, exc)) from None
    return cases


CONTROL_KINDS = tuple(message + suffix for message in ("hello", "error")
                      for suffix in ("", "-decode", "-err", "-range"))


@dataclass
class ControlCase:
    """One control.txt line (proto/README.md section 9). ``fields`` for hello/error, *-decode and
    *-range (the message's three fields); ``code``/``offset`` (payload offsets) for *-err; ``data``
    is the hex column (empty for *-range)."""

    kind: str
    name: str
    line: int
    data: bytes
    fields: List[Field] = dataclass_field(default_factory=list)
    code: Optional[int] = None
    offset: Optional[int] = None

    @property
    def message(self) -> str:
        """"hello" or "error"."""
        return self.kind.split("-")[0]


def parse_control(text: str) -> List[ControlCase]:
    """All cases of a control.txt text, in file order. A name is unique per kind: the file uses
    the same name for a HELLO and an ERROR case (``empty``), or an -err and a -range case."""
    cases: List[ControlCase] = []
    seen = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        split = _split_line(line, lineno, CONTROL_KINDS)
        if split is None:
            continue
        kind, name, middle, last = split
        if (kind, name) in seen:
            raise NotationError("line %d: duplicate case %s %s" % (lineno, kind, name))
        seen.add((kind, name))
        try:
            case = ControlCase(kind, name, lineno, parse_hex(last))
            if kind.endswith("-err"):
                case.code, case.offset = _code_offset(middle)
            else:
                case.fields = parse_fields(middle)
                if [t for t, _ in case.fields] != ["u16", "u32", "string"]:
                    raise NotationError("a control case has the fields u16, u32, string")
            if kind.endswith("-range") and case.data:
                raise NotationError("a -range case has no hex")
        except NotationError as exc:
            raise NotationError("line %d (%s): %s" % (lineno, name, exc)) from None
        cases.append(case)
    return cases


def load_control(path: Union[str, Path, None] = None) -> List[ControlCase]:
    """Cases of a control file (default proto/control.txt of this repository)."""
    return parse_control(Path(path or PROTO_DIR / "control.txt").read_text(encoding="utf-8"))


def load_vectors(path: Union[str, Path, None] = None) -> List[Case]:
    """Cases of a vectors file (default proto/vectors.txt of this repository)."""
    return parse_vectors(Path(path or PROTO_DIR / "vectors.txt").read_text(encoding="utf-8"))


def load_stats(path: Union[str, Path, None] = None) -> List[StatsCase]:
    """Cases of a stats file (default proto/stats.txt of this repository)."""
    return parse_stats(Path(path or PROTO_DIR / "stats.txt").read_text(encoding="utf-8"))
