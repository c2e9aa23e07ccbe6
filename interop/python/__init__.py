# SPDX-License-Identifier: MIT
"""wireproto: the wire protocol v1 (typed messages over TCP) for Python, standard library only.

Installed (``pip install interop/python``), this directory is the ``wireproto`` package: the codec
of ``wire.py`` (re-exported here), :class:`Connection` and the asyncio helpers of
``connection.py``, the proto/ value notation (``wireproto.vectors``), and the interop server and
client (``wireproto.server``, ``wireproto.client``; the ``wireproto-server`` and
``wireproto-client`` commands). In the source tree the same files are run and imported as
top-level modules (``python3 interop/python/server.py``, ``import wire``): this file is used
only by the package.
"""

from . import wire
from .connection import Connection, Payload, PeerError, read_frame, write_frame
from .wire import (DEFAULT_MAX_PAYLOAD, HEADER_SIZE, MAX_DEPTH, PROTOCOL_VERSION, F32, ErrorCode,
                   ErrorMessage, Field, Frame, FrameParser, Hello, Layout, ListValue, MsgType,
                   WireConnectionError, WireError, WireOSError, WireTimeoutError, WireValueError,
                   decode, decode_error, decode_frame, decode_header, decode_hello, encode,
                   encode_error, encode_frame, encode_header, encode_hello, error_name)

__version__ = "0.1.0"  # the same as pyproject.toml's (a test checks)

__all__ = [
    "Connection", "Payload", "PeerError", "read_frame", "write_frame", "wire",
    "DEFAULT_MAX_PAYLOAD", "HEADER_SIZE", "MAX_DEPTH", "PROTOCOL_VERSION", "F32", "ErrorCode",
    "ErrorMessage", "Field", "Frame", "FrameParser", "Hello", "Layout", "ListValue", "MsgType",
    "WireConnectionError", "WireError", "WireOSError", "WireTimeoutError", "WireValueError",
    "decode", "decode_error", "decode_frame", "decode_header", "decode_hello", "encode",
    "encode_error", "encode_frame", "encode_header", "encode_hello", "error_name",
]
