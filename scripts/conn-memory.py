#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""conn-memory.py [-n N] -- SERVER-COMMAND...: the memory an idle connection costs a server.

Starts SERVER-COMMAND with --host 127.0.0.1 --port 0 appended (it must print its port on its first
stdout line, as the interop servers do), opens N connections (default 200) that each complete the
HELLO exchange and then stay idle, and prints the growth of the server's memory per connection:
PSS (proportional set size, so that the pages forked children share are counted once) and RSS,
summed over the server and its children, from /proc/PID/smaps_rollup. Linux only.
"""
import argparse
import os
import socket
import struct
import subprocess
import sys
import time

# The process tree of a server, as the attack suite walks it (a forking server has a child per
# connection).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop', 'adversarial'))
from wirelib import tree  # noqa: E402


def memory_kib(pid: int) -> tuple:
    """(PSS, RSS) in KiB, summed over pid's process tree."""
    pss = rss = 0
    for p in tree(pid):
        try:
            with open('/proc/%d/smaps_rollup' % p) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        pss += int(line.split()[1])
                    elif line.startswith('Rss:'):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def frame(msg_type: int, payload: bytes) -> bytes:
    return struct.pack('>BBHI', 1, 0, msg_type, len(payload)) + payload


HELLO = frame(1, b'\x02\x00\x01\x03' + struct.pack('>I', 16777216) + b'\x40\x00\x00\x00\x04idle')


def read_frame(s: socket.socket) -> int:
    head = b''
    while len(head) < 8:
        chunk = s.recv(8 - len(head))
        if not chunk:
            raise EOFError('the server closed the connection')
        head += chunk
    msg_type, length = struct.unpack('>HI', head[2:])
    while length:
        chunk = s.recv(min(length, 65536))
        if not chunk:
            raise EOFError('the server closed the connection')
        length -= len(chunk)
    return msg_type


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-n', type=int, default=200, help='idle connections (default 200)')
    ap.add_argument('command', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ['--'] else a.command
    if not cmd:
        ap.error('no server command')
    srv = subprocess.Popen(cmd + ['--host', '127.0.0.1', '--port', '0'], stdout=subprocess.PIPE)
    try:
        port = int(srv.stdout.readline())
        # a server that serves one connection at a time (iterative) never answers the second:
        # the 10 s timeout below turns that into an error instead of a hang
        warm = socket.create_connection(('127.0.0.1', port))  # lazily built state comes in first
        warm.sendall(HELLO)
        read_frame(warm)
        time.sleep(0.5)
        pss0, rss0 = memory_kib(srv.pid)
        conns = []
        for _ in range(a.n):
            s = socket.create_connection(('127.0.0.1', port), timeout=10)
            s.sendall(HELLO)
            try:
                got = read_frame(s)
            except (OSError, EOFError) as exc:
                print('conn-memory: connection %d got no HELLO: %s' % (len(conns) + 1, exc), file=sys.stderr)
                return 1
            if got != 1:
                print('conn-memory: no HELLO from the server', file=sys.stderr)
                return 1
            conns.append(s)
        time.sleep(1.0)
        pss1, rss1 = memory_kib(srv.pid)
        print('%d idle connections: PSS %+.1f KiB per connection (%d -> %d KiB), RSS %+.1f KiB (%d -> %d KiB)'
              % (a.n, (pss1 - pss0) / a.n, pss0, pss1, (rss1 - rss0) / a.n, rss0, rss1))
        for s in conns + [warm]:
            s.close()
        return 0
    finally:
        srv.terminate()
        srv.wait()


if __name__ == '__main__':
    sys.exit(main())
