# SPDX-License-Identifier: MIT
"""Tests of machinelock.py: shared holders run together, alone() runs by itself, and a case that
starts while alone() waits does not overtake it (the gate). Run by `make check-adversarial`."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import unittest
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machinelock import MachineLock  # noqa: E402


def blocked_waiters(paths: List[str]) -> int:
    """flock requests waiting on these files, from /proc/locks ("->" marks a blocked one)."""
    inos = {os.stat(p).st_ino for p in paths}
    n = 0
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if "->" in parts and any(p.endswith(":%d" % i) for p in parts for i in inos):
                n += 1
    return n


def until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("waited 10 s for " + what)
        time.sleep(0.005)


class MachineLockTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.paths = [os.path.join(self.dir.name, n) for n in ("gate", "main")]
        self.log: List[str] = []
        self.mu = threading.Lock()
        self.locks: List[MachineLock] = []

    def tearDown(self) -> None:
        for lk in self.locks:
            lk.close()
        self.dir.cleanup()

    def lock(self) -> MachineLock:
        lk = MachineLock(self.dir.name)  # one per job: its own open files, as in separate processes
        self.locks.append(lk)
        return lk

    def note(self, s: str) -> None:
        with self.mu:
            self.log.append(s)

    def holder(self, name: str, ctx: Callable, release: threading.Event) -> threading.Thread:
        def run() -> None:
            with ctx():
                self.note(name + " in")
                release.wait(20)
                self.note(name + " out")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def test_shared_holders_run_together(self) -> None:
        go = threading.Event()
        a = self.holder("a", self.lock().shared, go)
        b = self.holder("b", self.lock().shared, go)
        until(lambda: len(self.log) == 2, "two shared holders at once")
        go.set()
        a.join(10)
        b.join(10)
        self.assertEqual(sorted(self.log), ["a in", "a out", "b in", "b out"])

    def test_alone_waits_for_shared_and_is_not_overtaken(self) -> None:
        first, lone, later = threading.Event(), threading.Event(), threading.Event()
        t1 = self.holder("first", self.lock().shared, first)
        until(lambda: self.log == ["first in"], "the first case to start")
        t2 = self.holder("alone", self.lock().alone, lone)
        until(lambda: blocked_waiters(self.paths) == 1, "alone() to wait for the running case")
        # a job starting its next case now must wait for alone(), although the lock is only shared
        t3 = self.holder("later", self.lock().shared, later)
        until(lambda: "later in" in self.log or blocked_waiters(self.paths) == 2,
              "the later case to start or to wait")
        self.assertEqual(self.log, ["first in"], "a case started beside a running alone() request")
        first.set()
        until(lambda: "alone in" in self.log, "alone() to start once the first case ended")
        self.assertNotIn("later in", self.log)
        lone.set()
        later.set()
        for t in (t1, t2, t3):
            t.join(10)
        self.assertEqual(self.log, ["first in", "first out", "alone in", "alone out", "later in", "later out"])

    def test_without_a_directory_nothing_is_locked(self) -> None:
        go = threading.Event()
        lk = MachineLock(None)
        a = self.holder("a", lk.alone, go)
        b = self.holder("b", lk.alone, go)
        until(lambda: len(self.log) == 2, "two alone() without a directory")
        go.set()
        a.join(10)
        b.join(10)


if __name__ == "__main__":
    unittest.main()
