#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# sensor_client.py HOST PORT - sends one SENSOR_READING to sensor-server, checks the SENSOR_SUMMARY exactly.
import os, socket, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "python"))
import wire

READING, SUMMARY = 0x8001, 0x8002
deadline = time.monotonic() + 5  # bounds every wait below


def expect(sock, want):
    f = wire.recv_frame(sock, deadline=deadline)
    if f is None or f.type != want:  # None: the server closed
        sys.exit("expected message type 0x%04x, got %r"
                 % (want, wire.decode_error(f.payload) if f and f.type == wire.MsgType.ERROR else f))
    return f


with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as sock:
    wire.send_frame(sock, wire.MsgType.HELLO, wire.encode_hello(name="sensor-client"), deadline)
    expect(sock, wire.MsgType.HELLO)
    samples = [20.5, 21.0, 22.5]
    wire.send_fields(sock, READING, [("u32", 7), ("i64", 1700000000000), ("string", "kitchen"),
                                     ("list", wire.ListValue("f64", samples))], deadline)
    got = wire.decode(expect(sock, SUMMARY).payload)
    # summed left to right, as the server does: the mean is bit-exact, so == is the right test
    want = [("u32", 7), ("string", "kitchen"), ("u32", 3), ("f64", sum(samples) / 3), ("f64", 20.5), ("f64", 22.5)]
    if got == want:
        print("sensor %d %s: %d samples, mean %.2f, min %.2f, max %.2f" % tuple(v for _, v in got))
    else:
        print("wrong summary: got %r, expected %r" % (got, want), file=sys.stderr)
    wire.send_frame(sock, wire.MsgType.BYE, b"", deadline)
    expect(sock, wire.MsgType.BYE)
sys.exit(0 if got == want else 1)
