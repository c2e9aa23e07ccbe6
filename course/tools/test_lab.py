#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_lab.py: keeps the lab (course/) true. For each language with an annotated solution in
course/solutions/<lang>/ and each level 1..6:
  - the generated `solution L` builds, starts, and passes `wire-conform server --level L` (0 failed);
  - the committed skeleton course/lab/<lang>/level<L>/ (copied to a temp dir) builds, starts, passes
    every check of the levels below L and fails at least one check of level L;
  - level 1: the solution's client passes `wire-conform client --level 1 -- CMD`, the skeleton's fails;
  - level 5: the solution, started with few descriptors (prlimit), survives 100 clients at once: it
    neither dies nor spins while out of descriptors, serves again once they leave, leaves no zombie;
plus `lab.py check` (no hand-edited skeleton), and the texts: every level in English and French, each
naming its grading command, and each quoted passing output (a fenced block after a line
`<!-- output of: wire-conform server --level N -->`) equal to the Python solution's real one (its
`== level` lines and its summary line).

    python3 course/tools/test_lab.py [--conform build/cc/wire-conform] [--cc CC] [--lang L]...
                                     [--level N]... [--jobs 2] [--no-texts]

Exit status 0 only when every check that ran passed. What cannot run (a language without a solution,
level 6 before wire-conform has it) is printed as SKIP, loudly, and is not a pass."""
import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402

ROOT = lab.ROOT
VECTORS = os.path.join(ROOT, "proto", "vectors.txt")
C_FLAGS = ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
BUILD_TIMEOUT = 300     # OCaml and C builds on a loaded 2-core machine
START_TIMEOUT = 30      # until the server prints its port
CONFORM_TIMEOUT = 300   # a passing level 6 takes ~10 s, a failing one ~60 s; a hung grader is killed
LEVEL_LINE = re.compile(r"^== level (\d+) \(.*\): (\d+) of (\d+) checks passed$")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")
OUTPUT_OF = re.compile(r"^<!-- output of: (wire-conform (server|client) --level (\d)\b.*?) -->$")

# The checks of a level, as wire-conform names them (conform.c's case_level/session_level), for the
# skeletons' fast run of that level (Harness.grade_server).
FAST_ONLY = {5: ["session:timeout.*", "concurrent:*", "slowloris:*"], 6: ["udp*"]}
# The level-5 flood (Harness.flood): this many clients at once against a server allowed this many
# descriptors; while they stay, the server may use at most FLOOD_CPU of the FLOOD_HOLD seconds.
FLOOD_CLIENTS, FLOOD_NOFILE = 100, 48
FLOOD_HOLD, FLOOD_CPU = 1.5, 0.3
print_lock = threading.Lock()
# Every process group this harness started and has not reaped: killed if the harness is stopped.
LIVE: Dict[int, subprocess.Popen] = {}
LIVE_LOCK = threading.Lock()
TEMP_DIRS: List[str] = []  # removed when stopped by a signal too (unless --keep)


def started(p: subprocess.Popen) -> subprocess.Popen:
    with LIVE_LOCK:
        LIVE[p.pid] = p
    return p


def reaped(p: subprocess.Popen) -> None:
    with LIVE_LOCK:
        LIVE.pop(p.pid, None)


def kill_all(signum: int = 0, frame: object = None) -> None:
    """SIGINT, SIGTERM or the end: no server or grader may outlive the harness."""
    with LIVE_LOCK:
        for pid in list(LIVE):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        LIVE.clear()
    if signum:
        for d in TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
        print(f"test_lab.py: stopped by signal {signum}; every process it started is killed", flush=True)
        os._exit(128 + signum)


def say(msg: str) -> None:
    with print_lock:
        print(msg, flush=True)


class Fail(Exception):
    """A check of the lab that failed; the message says which and why."""


def run(cmd: List[str], cwd: str, timeout: float, env: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
    """Runs cmd in its own process group, killed whole at the timeout; (status, stdout+stderr)."""
    p = started(subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True, env=env, errors="replace"))
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise Fail(f"{' '.join(cmd)}: still running after {timeout:.0f} s, killed\n{tail(out)}")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # what it left behind in its group (a build's, a client's)
        except (ProcessLookupError, PermissionError):
            pass
        reaped(p)
    return p.returncode, out


def tail(text: str, n: int = 15) -> str:
    lines = text.rstrip("\n").splitlines()
    return "\n".join("     " + l for l in lines[-n:])


def build_line(path: str) -> Optional[str]:
    """The `Build: ...` command a solution's top comment gives (the OCaml owner documents theirs)."""
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f):
            if no > 40:
                break
            m = re.search(r"\bBuild:\s*(.+?)\s*(\*\)|\*/)?\s*$", line)
            if m:
                return m.group(1).strip().strip("`")
    return None


class Lang:
    """How to build and run one language's program, in the folder that holds its files."""

    def __init__(self, name: str, cc: str) -> None:
        self.name, self.cc = name, cc
        self.ext = lab.LANGS[name][0]

    def build(self, d: str, prog: str) -> List[str]:
        """Builds prog (server or client) in d; returns the command that runs it."""
        src = f"{prog}.{self.ext}"
        if self.name == "python":
            self._ok(["python3", "-m", "py_compile", src], d, "py_compile")
            return ["python3", src]
        if self.name == "perl":
            self._ok(["perl", "-c", src], d, "perl -c")
            return ["perl", src]
        if self.name == "c":
            # gcc always; clang as well when make runs with CC=clang, and then the clang binary runs
            compilers = ["gcc"] + (["clang"] if "clang" in os.path.basename(self.cc) else [])
            for comp in compilers:
                self._ok([comp] + C_FLAGS + [src, "-o", f"{prog}-{comp}"], d, comp)
            return [f"./{prog}-{compilers[-1]}"]
        # OCaml: the command its top comment gives, run by sh in the folder
        cmd = build_line(os.path.join(d, src))
        if cmd is None:
            raise Fail(f"{src}: no `Build:` line in its top comment: cannot know how to build it")
        self._ok(["sh", "-c", cmd], d, cmd)
        for cand in (prog, f"{prog}.exe", f"_build/default/{prog}.exe", f"{prog}.native"):
            if os.path.isfile(os.path.join(d, cand)) and os.access(os.path.join(d, cand), os.X_OK):
                return [f"./{cand}"]
        raise Fail(f"{cmd}: built no executable {prog} (or {prog}.exe, _build/default/{prog}.exe)")

    @staticmethod
    def _ok(cmd: List[str], d: str, what: str) -> None:
        st, out = run(cmd, d, BUILD_TIMEOUT)
        if st != 0:
            raise Fail(f"build failed ({what}, status {st}):\n{tail(out)}")


class Server:
    """A server under test: started in its own process group, stopped whatever happens."""

    def __init__(self, cmd: List[str], cwd: str, log_name: str = "server.log") -> None:
        self.log_name = log_name
        with open(os.path.join(cwd, log_name), "w") as log:
            self.p = started(subprocess.Popen(cmd + ["--port", "0", "--vectors", VECTORS], cwd=cwd,
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                              text=True, start_new_session=True))
        self.cwd = cwd
        self.port = self._read_port()

    def _read_port(self) -> int:
        got: List[str] = []
        t = threading.Thread(target=lambda: got.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(START_TIMEOUT)
        line = got[0] if got else None
        if line is None or not line.strip().isdigit():
            self.stop()
            st = self.p.poll()
            why = (f"exited (status {st}) before printing its port" if not line and st is not None
                   else "printed nothing" if not line else f"printed {line!r}")
            raise Fail(f"the server {why} within {START_TIMEOUT} s, not its port alone on a line\n"
                       f"{tail(self.log())}")
        return int(line)

    def log(self) -> str:
        with open(os.path.join(self.cwd, self.log_name), errors="replace") as f:
            return f.read()

    def stop(self) -> Optional[int]:
        """SIGTERM, then SIGKILL to the whole group after 10 s; the status SIGTERM got (None: killed)."""
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            st: Optional[int] = self.p.wait(10)
        except subprocess.TimeoutExpired:
            st = None
        try:
            os.killpg(self.p.pid, signal.SIGKILL)  # children of a fork server, whatever the parent did
        except (ProcessLookupError, PermissionError):
            pass
        self.p.wait()
        self.p.stdout.close()
        reaped(self.p)
        return st


def levels_of(out: str) -> Tuple[Dict[int, Tuple[int, int]], Optional[Tuple[int, int]]]:
    """wire-conform's `== level k (...): P of R checks passed` lines and its `P passed, F failed`."""
    lv: Dict[int, Tuple[int, int]] = {}
    summary = None
    for line in out.splitlines():
        m = LEVEL_LINE.match(line)
        if m:
            lv[int(m.group(1))] = (int(m.group(2)), int(m.group(3)))
        m = SUMMARY.match(line)
        if m:
            summary = (int(m.group(1)), int(m.group(2)))
    return lv, summary


def failures(out: str) -> str:
    return "\n".join("     " + l for l in out.splitlines() if l.startswith("FAIL"))[:3000]


class Harness:
    def __init__(self, conform: str, cc: str, keep: bool, solutions: str, labdir: str) -> None:
        self.conform, self.cc, self.keep = conform, cc, keep
        self.solutions, self.labdir = solutions, labdir
        self.tmp = tempfile.mkdtemp(prefix="wire-lab-")
        self.python_outputs: Dict[Tuple[str, int], str] = {}  # ("server"|"client", level) -> output

    def grade_server(self, cmd: List[str], d: str, level: int, fast: bool = False) -> str:
        """wire-conform's output for levels 1..level. fast (the skeletons of levels 5 and 6): levels
        1..level-1 as usual, then only that level's checks with a 2 s wait: a skeleton without the
        timeouts (level 5) or without UDP (level 6) makes each of them wait the whole default
        timeout, minutes in all, for an answer that will not come. They must fail anyway."""
        srv = Server(cmd, d)
        runs = [["--level", str(level)]]
        if fast and level in FAST_ONLY:
            only = [a for p in FAST_ONLY[level] for a in ("--only", p)]
            runs = [["--level", str(level - 1)], ["--level", str(level), "--timeout", "2"] + only]
        out = ""
        try:
            for i, args in enumerate(runs):
                st, o = run([self.conform, "server"] + args + ["127.0.0.1", str(srv.port)], ROOT, CONFORM_TIMEOUT)
                if i == 1:  # its lines for the earlier levels are empty (--only): keep this level's
                    o = "\n".join(l for l in o.splitlines() if not SUMMARY.match(l) and
                                  not (LEVEL_LINE.match(l) and LEVEL_LINE.match(l).group(1) != str(level)))
                out += o + "\n"
                if st == 2:
                    break
        finally:
            stopped = srv.stop()
        if st == 2:
            raise Fail(f"wire-conform refused its arguments:\n{tail(out)}")
        if stopped != 0:
            raise Fail(f"the server did not exit 0 on SIGTERM once idle (status {stopped}; None: "
                       f"killed after 10 s)\n{tail(srv.log())}")
        return out

    def job(self, lang: str, level: int, kind: str) -> str:
        """One cell's half: kind is solution or skeleton. Returns a short result; raises Fail."""
        d = os.path.join(self.tmp, f"{lang}-{level}-{kind}")
        if kind == "solution":
            lab.emit(lang, level, "solution", d, self.solutions)
        else:
            shutil.copytree(os.path.join(self.labdir, lang, f"level{level}"), d)  # run as committed
        L = Lang(lang, self.cc)
        if level != 1:
            return self.server_part(L, d, level, kind)
        # level 1: the client is graded even when the server fails, so both faults are said
        errors, parts = [], []
        for part in (lambda: self.server_part(L, d, level, kind), lambda: "client " + self.client(L, d, kind)):
            try:
                parts.append(part())
            except Fail as err:
                errors.append(str(err))
        if errors:
            raise Fail("\n".join(errors))
        return ", ".join(parts)

    def server_part(self, L: Lang, d: str, level: int, kind: str) -> str:
        lang = L.name
        server = L.build(d, "server")
        out = self.grade_server(server, d, level, fast=(kind == "skeleton"))
        lv, summary = levels_of(out)
        if summary is None or set(lv) != set(range(1, level + 1)):
            raise Fail(f"wire-conform printed no summary or not levels 1..{level}:\n{tail(out)}")
        if kind == "solution":
            if summary[1] != 0:
                raise Fail(f"{summary[1]} failed (want 0):\n{failures(out)}")
            if lang == "python":  # the texts quote this run's lines (only a passing one)
                self.python_outputs[("server", level)] = out
            res = f"{summary[0]}/{summary[0]}"
            if level == 5:
                res += ", " + self.flood(server, d)
        else:
            for k in range(1, level):
                p, r = lv[k]
                if p != r:
                    raise Fail(f"the skeleton fails level {k} ({p} of {r}), an earlier level it must pass:\n"
                               f"{failures(out)}")
            p, r = lv[level]
            if p == r:
                raise Fail(f"the skeleton passes level {level} ({p} of {r}) though its TODOs are not written")
            res = f"fails {r - p}/{r} of level {level}"
        return res

    def flood(self, cmd: List[str], d: str) -> str:
        """SPEC 13.7 and 9.3 in practice: FLOOD_CLIENTS connections at once to the server started
        with FLOOD_NOFILE descriptors. A server that accepts them all runs out of descriptors: it must
        not die of it, nor retry accept() in a loop (CPU time, from /proc, while the clients stay);
        once they leave it must serve again (wire-conform level 1), and a fork server must have
        reaped every child (no zombie left)."""
        srv = Server(["prlimit", f"--nofile={FLOOD_NOFILE}", "--"] + cmd, d, "flood.log")
        socks: List[socket.socket] = []
        try:
            for _ in range(FLOOD_CLIENTS):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", srv.port))  # completes in the listen queue, or never: either will do
                socks.append(s)
            # until it has accepted (or forked) what it will: at most 3 s, which a spinning server never ends
            for _ in range(10):
                c = cpu_seconds(srv.p.pid)
                time.sleep(0.3)
                if cpu_seconds(srv.p.pid) - c < 0.05:
                    break
            cpu0 = cpu_seconds(srv.p.pid)
            time.sleep(FLOOD_HOLD)
            cpu = cpu_seconds(srv.p.pid) - cpu0
            if srv.p.poll() is not None:
                raise Fail(f"the server died (status {srv.p.poll()}) under {FLOOD_CLIENTS} clients at once "
                           f"with {FLOOD_NOFILE} descriptors\n{tail(srv.log())}")
            if cpu > FLOOD_CPU:
                raise Fail(f"the server used {cpu:.2f} s of CPU in {FLOOD_HOLD} s while {FLOOD_CLIENTS} "
                           f"clients waited (at most {FLOOD_CPU}): does it retry a failing accept() in a "
                           f"loop?\n{tail(srv.log())}")
            for s in socks:
                s.close()
            socks = []
            st, out = run([self.conform, "server", "--level", "1", "127.0.0.1", str(srv.port)], ROOT,
                          CONFORM_TIMEOUT)
            if st != 0:
                raise Fail(f"once the {FLOOD_CLIENTS} clients left, wire-conform --level 1 failed (status "
                           f"{st}):\n{failures(out) or tail(out)}\n{tail(srv.log())}")
            zombies: List[int] = []
            for _ in range(20):  # the last children may still be exiting
                zombies = zombie_children(srv.p.pid)
                if not zombies:
                    break
                time.sleep(0.1)
            if zombies:
                raise Fail(f"{len(zombies)} zombie children left 2 s after their clients went: the "
                           f"server does not reap them (waitpid on SIGCHLD, SPEC 13.7)")
        finally:
            for s in socks:
                s.close()
            stopped = srv.stop()
        if stopped != 0:
            raise Fail(f"after the flood, the server did not exit 0 on SIGTERM (status {stopped})")
        return f"survives {FLOOD_CLIENTS} clients with {FLOOD_NOFILE} descriptors ({cpu:.2f} s CPU)"

    def client(self, L: Lang, d: str, kind: str) -> str:
        if not os.path.isfile(os.path.join(d, f"client.{L.ext}")):
            raise Fail(f"no client.{L.ext} at level 1")
        cmd = L.build(d, "client")
        st, out = run([self.conform, "client", "--level", "1", "--"] + cmd, d, CONFORM_TIMEOUT)
        lv, summary = levels_of(out)
        if st == 2 or summary is None:
            raise Fail(f"wire-conform client printed no summary (status {st}):\n{tail(out)}")
        if kind == "solution":
            if st != 0 or summary[1] != 0:
                raise Fail(f"the client fails {summary[1]} checks (status {st}):\n{failures(out)}")
            if L.name == "python":
                self.python_outputs[("client", 1)] = out
            return "ok"
        if st == 0 and summary[1] == 0:
            raise Fail("the skeleton's client passes though its TODOs are not written")
        return "fails"


def proc_stat(pid: object) -> List[str]:
    """/proc/PID/stat's fields from the third on (state, ppid, ...), past the command's parentheses."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def zombie_children(pid: int) -> List[int]:
    """The children of pid that have exited and not been waited for (state Z)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = proc_stat(name)
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(name))
    return found


def level6_supported(conform: str) -> bool:
    """wire-conform says `bad option or value: --level` (status 2) for a level it does not have."""
    st, _ = run([conform, "server", "--level", "6", "--only", "no-such-check", "127.0.0.1", "1"], ROOT, 60)
    return st != 2


def check_texts(outputs: Dict[Tuple[str, int], str], have_python: bool, ran: List[int],
                unchecked: List[str]) -> List[str]:
    """Problems with the texts; the quoted outputs are compared when the Python solution ran.
    Each level's text must quote the passing output of its own level. The quotes that could not
    be compared (the Python solution failed that level) are listed in `unchecked`."""
    problems = []
    for level in lab.LEVELS:
        for lang, name in (("en", f"level{level}.md"), ("fr", f"niveau{level}.md")):
            path = os.path.join(ROOT, "course", lang, name)
            rel = os.path.relpath(path, ROOT)
            if not os.path.isfile(path):
                problems.append(f"{rel}: missing")
                continue
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
            grading = f"wire-conform server --level {level} 127.0.0.1"
            if not any(grading in l for l in lines):
                problems.append(f"{rel}: does not name its grading command `{grading} PORT`")
            if not any((m := OUTPUT_OF.match(l.strip())) and m.group(2) == "server" and int(m.group(3)) == level
                       for l in lines):
                problems.append(f"{rel}: quotes no passing output of its level (a fenced block after "
                                f"`<!-- output of: wire-conform server --level {level} -->`)")
            problems += check_build_rows(rel, lines)
            for no, line in enumerate(lines):
                m = OUTPUT_OF.match(line.strip())
                if not m:
                    continue
                key = (m.group(2), int(m.group(3)))
                block = fenced_after(lines, no)
                if block is None:
                    problems.append(f"{rel}:{no + 1}: no fenced block after `{line.strip()}`")
                    continue
                quoted = [l for l in block if LEVEL_LINE.match(l) or SUMMARY.match(l)]
                if not quoted:
                    problems.append(f"{rel}:{no + 1}: the quoted output has no `== level` or summary line")
                    continue
                if not have_python or key[1] not in ran:
                    continue  # said once, loudly, by the caller
                if key not in outputs:
                    unchecked.append(f"{rel}:{no + 1}")  # the Python solution failed there: said above
                    continue
                real = [l for l in outputs[key].splitlines() if LEVEL_LINE.match(l) or SUMMARY.match(l)]
                if quoted != real:
                    problems.append(f"{rel}:{no + 1}: the quoted output differs from the Python solution's:\n"
                                    f"     quoted: {quoted}\n     real:   {real}")
    return problems


BUILD_ROW = re.compile(r"^\| (C|OCaml) \| `(.+?) && \./(server|client) ")


def check_build_rows(rel: str, lines: List[str]) -> List[str]:
    """The build commands in a text's tables are the ones the harness uses: C with the lab's flags,
    OCaml with the `Build:` line of the annotated solution."""
    problems = []
    for no, line in enumerate(lines):
        m = BUILD_ROW.match(line)
        if not m:
            continue
        lang, cmd, prog = m.groups()
        if lang == "C":
            want: Optional[str] = " ".join(["cc"] + C_FLAGS + [f"{prog}.c", "-o", prog])
        else:
            src = os.path.join(lab.SOLUTIONS, "ocaml", f"{prog}.ml")
            want = build_line(src) if os.path.isfile(src) else cmd
        if cmd != want:
            problems.append(f"{rel}:{no + 1}: the {lang} build command is `{cmd}`, the lab's is `{want}`")
    return problems


def fenced_after(lines: List[str], no: int) -> Optional[List[str]]:
    i = no + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].strip().startswith("```"):
        return None
    block = []
    for l in lines[i + 1:]:
        if l.strip().startswith("```"):
            return [b.strip() for b in block]
        block.append(l)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description="the lab's harness (course/)")
    ap.add_argument("--conform", default=os.path.join(ROOT, "build", "cc", "wire-conform"))
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--lang", action="append", choices=sorted(lab.LANGS))
    ap.add_argument("--level", action="append", type=int, choices=list(lab.LEVELS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-texts", action="store_true", help="skip the texts' checks")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (built programs, server logs)")
    ap.add_argument("--solutions", default=lab.SOLUTIONS, help="annotated solutions (testing the harness)")
    ap.add_argument("--lab", default=lab.LAB, help="committed skeletons (testing the harness)")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, kill_all)
    signal.signal(signal.SIGINT, kill_all)
    t0 = time.monotonic()
    conform = os.path.abspath(a.conform)
    if not os.access(conform, os.X_OK):
        print(f"test_lab.py: no {conform} (make peer builds it)", file=sys.stderr)
        return 1
    bad = skips = 0
    say("== lab.py check: the committed skeletons are the generator's")
    try:
        problems = lab.check(a.solutions, a.lab)
    except lab.LabError as err:
        problems = [str(err)]
    for p in problems:
        say("FAIL " + p)
    bad += len(problems)

    present = lab.languages(a.solutions)
    for lang in lab.LANGS:
        if lang not in present and (not a.lang or lang in a.lang):
            skips += 1
            say(f"SKIP {lang}: no annotated solution course/solutions/{lang}/server.{lab.LANGS[lang][0]} "
                f"yet -- NOT TESTED")
    langs = [l for l in present if not a.lang or l in a.lang]
    levels = sorted(set(a.level or lab.LEVELS))
    if 6 in levels and not level6_supported(conform):
        skips += 1
        say(f"SKIP level 6: {os.path.relpath(conform, ROOT)} has no --level 6 yet -- level 6 NOT TESTED")
        levels.remove(6)
    h = Harness(conform, a.cc, a.keep, a.solutions, a.lab)
    if not a.keep:
        TEMP_DIRS.append(h.tmp)
    results: Dict[Tuple[str, int, str], str] = {}
    jobs = [(lang, level, kind) for lang in langs for level in levels for kind in ("solution", "skeleton")]
    # the long jobs (the highest levels) first, so that they do not run alone at the end
    jobs.sort(key=lambda j: -j[1])
    workers = max(1, min(a.jobs, 2))
    say(f"== {len(jobs)} jobs ({', '.join(langs) or 'no language'}; levels {levels}), {workers} at a time "
        f"(and the level-5 skeletons {workers} at a time beside them), in {h.tmp}")

    def one(j: Tuple[str, int, str]) -> None:
        lang, level, kind = j
        t = time.monotonic()
        try:
            res = h.job(lang, level, kind)
            results[j] = res
            say(f"ok   {lang} level {level} {kind}: {res} ({time.monotonic() - t:.1f} s)")
        except (Fail, lab.LabError, OSError) as err:
            results[j] = "FAIL"
            say(f"FAIL {lang} level {level} {kind}: {err}")

    try:
        # The level-5 skeletons spend ~45 s each waiting out timeouts that never come, on almost no
        # CPU: they get a pool of their own beside the others', which halves the harness's time.
        waiting = [j for j in jobs if j[1] == 5 and j[2] == "skeleton"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex, \
                concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex_waiting:
            futures = [ex_waiting.submit(one, j) for j in waiting]
            futures += [ex.submit(one, j) for j in jobs if j not in waiting]
            for f in futures:
                f.result()
    finally:
        kill_all()
        if not a.keep:
            shutil.rmtree(h.tmp, ignore_errors=True)
    bad += sum(1 for r in results.values() if r == "FAIL")

    if not a.no_texts:
        say("== the texts: course/en/level<N>.md, course/fr/niveau<N>.md")
        have_python = "python" in langs
        if not have_python:
            skips += 1
            say("SKIP the quoted outputs are not compared with a real run: no Python solution ran -- NOT CHECKED")
        for l in lab.LEVELS:
            if l not in levels:
                skips += 1
                say(f"SKIP the outputs quoted for level {l} are not compared with a real run (level {l} "
                    f"did not run) -- NOT CHECKED")
        unchecked: List[str] = []
        problems = check_texts(h.python_outputs, have_python, levels, unchecked)
        if unchecked:
            skips += 1
            say(f"SKIP the Python solution failed there, so these quoted outputs are NOT CHECKED: "
                f"{', '.join(unchecked)}")
        for p in problems:
            say("FAIL " + p)
        bad += len(problems)
        if not problems:
            say("ok   every level has its two texts, its grading command and, when quoted, the real output")

    # the table: the solution's result / the skeleton's, per cell ("ok": as the design wants)
    say("\nsolution/skeleton " + "".join(f"{'level ' + str(l):>12}" for l in levels))
    for lang in langs:
        cells = ["/".join("ok" if results.get((lang, l, k)) not in (None, "FAIL") else "FAIL"
                          for k in ("solution", "skeleton")) for l in levels]
        say(f"{lang:<18}" + "".join(f"{c:>12}" for c in cells))
    say(f"\n{'FAILED' if bad else 'PASSED'}: {bad} problem(s), {skips} SKIP(s), "
        f"{time.monotonic() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
