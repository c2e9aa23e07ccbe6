#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A lossy UDP relay for testing the UDP profile (SPEC.md section 15) on loopback.

    udp_relay.py --target PORT [--host H] [--port P] [--loss F] [--dup F] [--delay F]
                 [--max-delay-ms MS] [--seed N]

Listens on H:P (127.0.0.1, port 0: any; the port is printed alone on the first line of stdout),
forwards every datagram a client sends to H:PORT and every answer back to that client, and on the
way, in both directions, drops a fraction F of the datagrams (--loss), sends a fraction twice
(--dup) and holds a fraction back for 1..MS milliseconds (--delay), so that later datagrams
overtake it. Each client address gets its own upstream socket, so the server sees one source per
client and answers go back to the right one. The choices come from a seeded generator (--seed,
printed), so a failing run can be replayed. On SIGTERM or SIGINT it prints what it did on stderr,
one line (`relay: N datagrams, D dropped, U duplicated, L delayed`), and exits 0.

Standard library only.
"""
from __future__ import annotations

import argparse
import heapq
import random
import selectors
import signal
import socket
import sys
import time
from typing import Dict, List, Tuple

Address = Tuple[str, int]
BUFSIZE = 65536  # larger than the largest IPv4 UDP datagram (65507): nothing is cut


class Relay:
    def __init__(self, host: str, port: int, target: Address, loss: float, dup: float,
                 delay: float, max_delay_ms: int, seed: int) -> None:
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((host, port))
        self.front.setblocking(False)
        self.target = target
        self.loss, self.dup, self.delay, self.max_delay = loss, dup, delay, max_delay_ms / 1000.0
        self.rng = random.Random(seed)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.front, selectors.EVENT_READ, None)
        self.upstream: Dict[Address, socket.socket] = {}
        self.held: List[Tuple[float, int, socket.socket, bytes, Address]] = []
        self.seq = 0
        self.counts = {"datagrams": 0, "dropped": 0, "duplicated": 0, "delayed": 0}
        self.running = True

    def port(self) -> int:
        return self.front.getsockname()[1]

    def _up_for(self, client: Address) -> socket.socket:
        up = self.upstream.get(client)
        if up is None:
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.connect(self.target)
            up.setblocking(False)
            self.sel.register(up, selectors.EVENT_READ, client)
            self.upstream[client] = up
        return up

    def _send(self, sock: socket.socket, data: bytes, dest: Address) -> None:
        try:
            if sock is self.front:
                sock.sendto(data, dest)
            else:
                sock.send(data)
        except OSError:
            pass  # the server or client is gone (ECONNREFUSED from an ICMP): like a loss

    def _pass(self, sock: socket.socket, data: bytes, dest: Address) -> None:
        """One datagram on its way: dropped, delayed, duplicated or sent as it is."""
        self.counts["datagrams"] += 1
        r = self.rng.random()
        if r < self.loss:
            self.counts["dropped"] += 1
            return
        copies = 1
        if self.rng.random() < self.dup:
            self.counts["duplicated"] += 1
            copies = 2
        for _ in range(copies):
            if self.rng.random() < self.delay:
                self.counts["delayed"] += 1
                due = time.monotonic() + self.rng.uniform(0.001, self.max_delay)
                self.seq += 1
                heapq.heappush(self.held, (due, self.seq, sock, data, dest))
            else:
                self._send(sock, data, dest)

    def run(self) -> None:
        while self.running:
            # bounded, so that a stop asked by a signal is seen: Python retries an interrupted
            # select() with the time that is left (PEP 475)
            timeout = 0.2
            if self.held:
                timeout = min(timeout, max(0.0, self.held[0][0] - time.monotonic()))
            for key, _ in self.sel.select(timeout):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                while True:
                    try:
                        if sock is self.front:
                            data, client = sock.recvfrom(BUFSIZE)
                        else:
                            data, client = sock.recv(BUFSIZE), key.data
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # an ICMP error reported on the upstream socket
                    if sock is self.front:
                        self._pass(self._up_for(client), data, self.target)
                    else:
                        self._pass(self.front, data, client)
            now = time.monotonic()
            while self.held and self.held[0][0] <= now:
                _, _, sock, data, dest = heapq.heappop(self.held)
                self._send(sock, data, dest)

    def stop(self, *_: object) -> None:
        self.running = False


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description="A lossy UDP relay (SPEC.md section 15).")
    ap.add_argument("--target", type=int, required=True, help="the server's UDP port")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--loss", type=float, default=0.05)
    ap.add_argument("--dup", type=float, default=0.05)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--max-delay-ms", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    for name in ("loss", "dup", "delay"):
        if not 0.0 <= getattr(a, name) < 1.0:
            ap.error("--%s takes a fraction in [0, 1)" % name)
    if a.max_delay_ms < 1:
        ap.error("--max-delay-ms takes 1 or more")
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    relay = Relay(a.host, a.port, (a.host, a.target), a.loss, a.dup, a.delay, a.max_delay_ms, seed)
    signal.signal(signal.SIGTERM, relay.stop)
    signal.signal(signal.SIGINT, relay.stop)
    print(relay.port(), flush=True)
    print("relay: seed %d, to %s:%d, loss %.2f dup %.2f delay %.2f (up to %d ms)"
          % (seed, a.host, a.target, a.loss, a.dup, a.delay, a.max_delay_ms), file=sys.stderr, flush=True)
    relay.run()
    c = relay.counts
    print("relay: %d datagrams, %d dropped, %d duplicated, %d delayed"
          % (c["datagrams"], c["dropped"], c["duplicated"], c["delayed"]), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
