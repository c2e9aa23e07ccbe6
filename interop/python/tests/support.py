# SPDX-License-Identifier: MIT
"""Shared set-up for the tests: makes interop/python importable, locates proto/, and runs
server.py as a process."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parent.parent
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

PROTO_DIR = PYTHON_DIR.parent.parent / "proto"
VECTORS_FILE = PROTO_DIR / "vectors.txt"
STATS_FILE = PROTO_DIR / "stats.txt"
ERRORS_FILE = PROTO_DIR / "errors.txt"


def test_name(case_name: str) -> str:
    """A method name for a generated test of proto case ``case_name``."""
    return "test_" + "".join(ch if ch.isalnum() else "_" for ch in case_name)


def write_text_file(text: str) -> str:
    """A temporary file holding ``text``; its path (remove it with remove_file)."""
    handle, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    return path


def remove_file(path: str) -> None:
    os.unlink(path)


SERVER = str(PYTHON_DIR / "server.py")
CLIENT = str(PYTHON_DIR / "client.py")


class ServerProcess:
    """server.py in a subprocess on a free port; stderr goes to a file (a full pipe would block
    the server)."""

    def __init__(self, *args: str) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.first_line = self.proc.stdout.readline()
        try:
            self.port = int(self.first_line)
        except ValueError:
            self.kill()
            raise

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(10)
        finally:
            self.proc.stdout.close()
            self.log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
