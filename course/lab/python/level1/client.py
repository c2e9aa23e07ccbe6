#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The level-1 client: HELLO, PING, BYE against a wire server, reported as the interop exchange
does (SPEC 10.10). Standard library only.

    python3 client.py --host H --port P
"""
import argparse
import socket
import struct
import sys

HELLO, ERROR, PING, PONG, BYE = 1, 2, 3, 4, 5
MY_MAX_PAYLOAD = 16777216
NAME = b"python-client"


def main() -> int:
    # TODO level 1: connect, then HELLO, PING, BYE, printing `ok   <case>` or `FAIL <case>: <why>` (SPEC 10.10)
    print("0 passed, 3 failed")
    return 1


if __name__ == "__main__":
    sys.exit(main())
