# SPDX-License-Identifier: MIT
"""machinelock.py - lets one of attack.py's parallel jobs have the machine to itself.

attack.py attacks four servers at once, one child process each, on a machine of two shared cores.
A case whose only problem is the probe's delay is tried once more, and that second try must measure
the server, not the three other jobs: it runs `alone()`, while every ordinary case runs `shared()`.

Two flock(2) files in one directory. Linux grants a shared flock while an exclusive one waits, so a
steady stream of shared holders (three jobs, cases back to back) could keep an exclusive request
waiting for ever. Hence the gate: a shared holder passes through the gate (shared, held only while
it takes the main lock), and `alone()` holds the gate exclusively while it waits for the main lock,
so that no new case starts, the cases running finish, and then it runs.

With no directory (one job, or a child started by hand) both are no-ops.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator, Optional


class MachineLock:
    def __init__(self, directory: Optional[str]) -> None:
        self.gate_fd = self.main_fd = -1
        if directory:
            self.gate_fd = os.open(os.path.join(directory, "gate"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.main_fd = os.open(os.path.join(directory, "main"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """An ordinary case: runs beside the other jobs' ordinary cases, never beside an `alone()`."""
        if self.main_fd < 0:
            yield
            return
        fcntl.flock(self.gate_fd, fcntl.LOCK_SH)
        try:
            fcntl.flock(self.main_fd, fcntl.LOCK_SH)
        finally:
            fcntl.flock(self.gate_fd, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self.main_fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """Waits for the cases running in the other jobs to end, and keeps new ones from starting."""
        if self.main_fd < 0:
            yield
            return
        fcntl.flock(self.gate_fd, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.main_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.main_fd, fcntl.LOCK_UN)
        finally:
            fcntl.flock(self.gate_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in (self.gate_fd, self.main_fd):
            if fd >= 0:
                os.close(fd)
        self.gate_fd = self.main_fd = -1
