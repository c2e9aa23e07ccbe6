#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run.py: the servers on loopback against the raw epoll echo, with the same load client.

    run.py --load BIN --rawecho BIN --wire-server BIN [--runs 5] [--seconds 0.4] [--warmup 0.1]
           [--servers raw,epoll,...] [--scenarios pingpong,...] [--server-arg ARG ...]
           [--idle 1000,10000] [--idle-runs 3] [--quick]

Starts the raw echo (bench/net/rawecho.c) and one wire-server per model (epoll first, then poll,
select, thread, fork; and epoll with `--loops 2` when `wire-server --help` offers --loops), all at
once, each on its own port. For every scenario it then runs bench/net/load.c against each server in
turn, the raw echo first, and repeats that round --runs times: the raw echo and every model are
measured alternately, so a ratio compares runs taken side by side. Then it measures the memory an
idle connection costs (after HELLO), at each --idle size, on a fresh server per run.

Output (stdout), one line per figure, the median of the runs, then their min and max:
    result net <server>.<scenario>.<metric> <unit> <median> <min> <max>
metrics: msgs (msg/s), mbs (MB/s of payload echoed, one direction), p50 / p99 / p999 (us, round
trip per message, from writev to the reply parsed), cpu_client and cpu_server (ns of CPU per
message, user + system; the server's summed over its process tree and threads), and for each
wire-server model: ratio (x, its msg/s over the raw echo's in the same round), p50_delta (us,
its p50 minus the raw echo's in the same round) and cpu_ratio (x, its cpu_server over the raw
echo's in the same round: CPU time per message, which waiting on a loaded machine does not change
as much as it changes msg/s). Idle memory:
    result net <server>.idle<N>.pss KiB/conn <median> <min> <max>
(the growth of the server's PSS, summed over its process tree, from /proc/PID/smaps_rollup, divided
by N; user-space memory only: the kernel's socket buffers are not in it). Progress goes to stderr.
Exit status 1 if any run failed (its figures are then missing), 2 on a usage error.

Linux only. Loopback only. Every server started is stopped on exit, Ctrl-C and SIGTERM included.
"""
import argparse
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'interop', 'adversarial'))
from wirelib import tree  # noqa: E402  (the attack suite's process-tree walk)

# name -> (connections, depth, payload bytes). pingpong is also the 1-connection point of the
# connection series and the depth-1 point at 64 bytes; pipe* are 8-byte payloads ("64 x 8").
SCENARIOS: Dict[str, Tuple[int, int, int]] = {
    'pingpong': (1, 1, 64),
    'pipe1': (1, 1, 8),
    'pipe16': (1, 16, 8),
    'pipe64': (1, 64, 8),
    'conns32': (32, 1, 64),
    'conns256': (256, 1, 64),
    'mib1': (1, 2, 1048576),
}
MODELS = ['epoll', 'poll', 'select', 'thread', 'fork']
# wire-server options for a benchmark: no connection limit in the way, no idle timeout between runs
WIRE_OPTS = ['--quiet', '--max-conns', '20000', '--idle-timeout', '86400']
# metric in the load line -> (metric name, unit)
METRICS = [('msgs_s', 'msgs', 'msg/s'), ('mb_s', 'mbs', 'MB/s'), ('p50_us', 'p50', 'us'),
           ('p99_us', 'p99', 'us'), ('p999_us', 'p999', 'us'),
           ('cpu_client_ns', 'cpu_client', 'ns/msg'), ('cpu_server_ns', 'cpu_server', 'ns/msg')]
T0 = time.monotonic()
# "Idle" is this long after the HELLO: libwire gives a connection's empty buffers back 1 s after
# its last read (src/conn.c, TRIM_MS), as a server should for a connection that says nothing.
IDLE_SECONDS = 1.5
HELLO = struct.pack('>BBHI', 1, 0, 1, 23) + b'\x02\x00\x01\x03\x01\x00\x00\x00\x40\x00\x00\x00\x0abench-idle'


def log(msg: str) -> None:
    print('run.py: ' + msg, file=sys.stderr, flush=True)


def fmt(v: float) -> str:
    if abs(v) >= 100:
        return '%.0f' % v
    if abs(v) >= 1:
        return '%.2f' % v
    return '%.3f' % v


def result(key: str, unit: str, values: List[float]) -> None:
    print('result net %s %s %s %s %s' % (key, unit, fmt(statistics.median(values)), fmt(min(values)),
                                         fmt(max(values))), flush=True)


class Server:
    """A server process that prints its port on its first stdout line."""

    def __init__(self, name: str, cmd: List[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd + ['--host', '127.0.0.1', '--port', '0'], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError('%s: no port on its first line (%r)' % (' '.join(cmd), line))
        self.port = int(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for p in reversed(tree(self.proc.pid)):  # the children of a forking server too
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait()
        self.proc.stdout.close()


def server_cmds(a: argparse.Namespace) -> List[Tuple[str, List[str]]]:
    help_text = subprocess.run([a.wire_server, '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, check=False).stdout
    out = [('raw', [a.rawecho])]
    for m in MODELS:
        out.append((m, [a.wire_server, '--mode', m] + WIRE_OPTS + a.server_arg))
        if m == 'epoll' and '--loops' in help_text:
            out.append(('epoll-loops2', [a.wire_server, '--mode', m, '--loops', '2'] + WIRE_OPTS + a.server_arg))
    names = a.servers.split(',') if a.servers else [n for n, _ in out]
    unknown = set(names) - {n for n, _ in out}
    if unknown:
        raise SystemExit('run.py: unknown server(s) %s; known: %s' % (','.join(sorted(unknown)),
                                                                      ','.join(n for n, _ in out)))
    return [(n, c) for n, c in out if n in names]


def load_run(a: argparse.Namespace, srv: Server, scen: str) -> Optional[Dict[str, float]]:
    conns, depth, size = SCENARIOS[scen]
    cmd = [a.load, '--port', str(srv.port), '--conns', str(conns), '--depth', str(depth), '--size', str(size),
           '--seconds', str(a.seconds), '--warmup', str(a.warmup), '--server-pid', str(srv.proc.pid)]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=a.seconds + a.warmup + 40, check=False)
    except subprocess.TimeoutExpired:
        log('FAIL %s %s: the load client did not finish' % (srv.name, scen))
        return None
    if p.returncode != 0 or not p.stdout.startswith('load '):
        log('FAIL %s %s: %s' % (srv.name, scen, (p.stderr or p.stdout).strip()))
        return None
    return {k: float(v) for k, v in (f.split('=') for f in p.stdout.split()[1:])}


def throughput(a: argparse.Namespace, servers: List[Server], deadline: float) -> Tuple[int, Dict]:
    failures = 0
    table: Dict[Tuple[str, str], float] = {}
    for scen in a.scenario_list:
        runs: Dict[str, List[Optional[Dict[str, float]]]] = {s.name: [] for s in servers}
        for i in range(a.runs):
            if time.monotonic() > deadline:
                log('time budget spent: %s stops after %d run(s)' % (scen, i))
                break
            for s in servers:  # one round: every server once, side by side
                r = load_run(a, s, scen)
                failures += r is None
                runs[s.name].append(r)
        raw = runs.get('raw', [])
        for s in servers:
            rs = runs[s.name]
            ok = [r for r in rs if r]
            if not ok:
                continue
            for field, metric, unit in METRICS:
                vals = [r[field] for r in ok if r[field] >= 0]
                if vals:
                    result('%s.%s.%s' % (s.name, scen, metric), unit, vals)
            table[(s.name, scen)] = statistics.median(r['msgs_s'] for r in ok)
            if s.name != 'raw' and raw:
                pairs = [(w, b) for w, b in zip(rs, raw) if w and b]
                if pairs:
                    result('%s.%s.ratio' % (s.name, scen), 'x', [w['msgs_s'] / b['msgs_s'] for w, b in pairs])
                    result('%s.%s.p50_delta' % (s.name, scen), 'us', [w['p50_us'] - b['p50_us'] for w, b in pairs])
                    cpu = [w['cpu_server_ns'] / b['cpu_server_ns'] for w, b in pairs
                           if w['cpu_server_ns'] > 0 and b['cpu_server_ns'] > 0]
                    if cpu:
                        result('%s.%s.cpu_ratio' % (s.name, scen), 'x', cpu)
                    table[(s.name, scen, 'ratio')] = statistics.median(w['msgs_s'] / b['msgs_s'] for w, b in pairs)
        log('%s done (%d run(s) per server), %.0f s' % (scen, len(runs[servers[0].name]), time.monotonic() - T0))
    return failures, table


# ---- idle memory ----
def memory_kib(pid: int) -> int:
    """PSS in KiB, summed over pid's process tree (pages shared by forked children counted once)."""
    pss = 0
    for p in tree(pid):
        try:
            with open('/proc/%d/smaps_rollup' % p) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        pss += int(line.split()[1])
                        break
        except OSError:
            pass
    return pss


def read_hello(s: socket.socket) -> None:
    head = b''
    while len(head) < 8:
        chunk = s.recv(8 - len(head))
        if not chunk:
            raise EOFError('the server closed the connection before its HELLO')
        head += chunk
    _, _, msg_type, length = struct.unpack('>BBHI', head)
    if msg_type != 1:
        raise EOFError('the server answered HELLO with type 0x%04x' % msg_type)
    while length:
        chunk = s.recv(min(length, 65536))
        if not chunk:
            raise EOFError('the server closed the connection inside its HELLO')
        length -= len(chunk)


def hello_batch(port: int, n: int, stop_at: float) -> List[socket.socket]:
    """n connections that have each completed HELLO: connected and greeted 100 at a time, so that
    10,000 of them take seconds, not one round trip after another. Gives up at stop_at (monotonic):
    a forking server on a loaded machine can take 40 ms per fork."""
    out: List[socket.socket] = []
    while len(out) < n:
        if time.monotonic() > stop_at:
            for s in out:
                s.close()
            raise RuntimeError('time budget spent after %d of %d connections' % (len(out), n))
        batch = []
        for _ in range(min(100, n - len(out))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no name lookup per connection
            out.append(s)
            s.settimeout(10)
            s.connect(('127.0.0.1', port))
            s.sendall(HELLO)
            batch.append(s)
        for s in batch:
            read_hello(s)
    return out


def idle_once(name: str, cmd: List[str], n: int, stop_at: float) -> float:
    srv = Server(name, cmd)
    conns: List[socket.socket] = []
    try:
        conns += hello_batch(srv.port, 1, stop_at)  # what the first connection builds lazily is not per connection
        time.sleep(IDLE_SECONDS)
        pss0 = memory_kib(srv.proc.pid)
        conns += hello_batch(srv.port, n, stop_at)
        time.sleep(IDLE_SECONDS)  # idle: a forking server's children settle, the C connection trims
        pss1 = memory_kib(srv.proc.pid)
        return (pss1 - pss0) / n
    finally:
        for s in conns:
            s.close()
        srv.stop()


def idle(a: argparse.Namespace, cmds: List[Tuple[str, List[str]]], deadline: float) -> int:
    failures = 0
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for n in [int(x) for x in a.idle.split(',') if x]:
        for name, cmd in cmds:
            if name == 'epoll-loops2':
                continue  # the same engine and connection object as epoll: load figures only
            if name == 'select' and n > 1000:
                log('select.idle%d skipped: select watches only descriptors below FD_SETSIZE (1024)' % n)
                continue
            if name == 'fork' and n > a.fork_idle_max:
                log('fork.idle%d skipped: %d processes would take a third of pid_max (%s) on a machine'
                    ' shared with other sessions (--fork-idle-max %d allows it)'
                    % (n, n, open('/proc/sys/kernel/pid_max').read().strip(), n))
                continue
            if n + 64 > limit:
                log('%s.idle%d skipped: the descriptor limit is %d (hard limit), %d are needed'
                    % (name, n, limit, n + 64))
                continue
            vals = []
            for _ in range(a.idle_runs):
                if time.monotonic() > deadline:
                    log('time budget spent: %s.idle%d stops after %d run(s)' % (name, n, len(vals)))
                    break
                try:
                    vals.append(idle_once(name, cmd, n, deadline + 30))
                except (OSError, EOFError, RuntimeError) as exc:
                    log('FAIL %s.idle%d: %s' % (name, n, exc))
                    failures += 1
            if vals:
                result('%s.idle%d.pss' % (name, n), 'KiB/conn', vals)
                log('%s.idle%d done (%d run(s)), %.0f s' % (name, n, len(vals), time.monotonic() - T0))
    return failures


def summary(servers: List[str], scens: List[str], table: Dict) -> None:
    """A table for people (stderr): msg/s of the raw echo, the ratio of each model."""
    w = 14
    print('\n%-10s' % 'scenario' + ''.join('%*s' % (w, s) for s in servers), file=sys.stderr)
    for sc in scens:
        cells = []
        for s in servers:
            if (s, sc) not in table:
                cells.append('%*s' % (w, '-'))
            elif s == 'raw':
                cells.append('%*s' % (w, '%.0f/s' % table[(s, sc)]))
            else:
                cells.append('%*s' % (w, '%.2fx' % table.get((s, sc, 'ratio'), float('nan'))))
        print('%-10s' % sc + ''.join(cells), file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--load', required=True, help='the load client (bench/net/load.c)')
    ap.add_argument('--rawecho', required=True, help='the raw echo server (bench/net/rawecho.c)')
    ap.add_argument('--wire-server', required=True)
    ap.add_argument('--runs', type=int, default=5, help='rounds per scenario (default 5)')
    ap.add_argument('--seconds', type=float, default=0.4, help='measured seconds per run (default 0.4)')
    ap.add_argument('--warmup', type=float, default=0.1, help='warm-up seconds per run (default 0.1)')
    ap.add_argument('--servers', default='', help='comma-separated subset (default: all)')
    ap.add_argument('--scenarios', default=','.join(SCENARIOS),
                    help='"" for none; default: ' + ','.join(SCENARIOS))
    ap.add_argument('--server-arg', action='append', default=[],
                    help='an extra wire-server argument (repeatable): --server-arg=--max-queued=8388608')
    ap.add_argument('--idle', default='1000,10000', help='idle connection counts ("" for none)')
    ap.add_argument('--idle-runs', type=int, default=3, help='runs per idle figure (default 3)')
    ap.add_argument('--fork-idle-max', type=int, default=1000, help='largest idle count for fork (default 1000)')
    ap.add_argument('--budget', type=float, default=300,
                    help='seconds after which no new run starts (default 300; the load runs stop at'
                         ' two thirds of it, so that the idle figures get their turn; an idle run'
                         ' still connecting 30 s after it gives up)')
    ap.add_argument('--quick', action='store_true', help='1 short run of everything, idle at 1000 only')
    a = ap.parse_args()
    if a.quick:
        a.runs, a.seconds, a.warmup, a.idle_runs = 1, 0.3, 0.1, 1
        a.idle = ','.join(x for x in a.idle.split(',') if x and int(x) <= 1000)
    a.scenario_list = [x for x in a.scenarios.split(',') if x]
    bad = set(a.scenario_list) - set(SCENARIOS)
    if bad or a.runs < 1 or a.seconds <= 0:
        ap.error('unknown scenario(s) %s' % ','.join(sorted(bad)) if bad else 'bad --runs or --seconds')
    a.server_arg = [x for arg in a.server_arg for x in arg.split('=', 1)] if a.server_arg else []

    # 256 connections, and 10,000 idle ones: the servers and the client inherit the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log('descriptor limit %d (hard %d); runs %d x %.2f s (+%.2f s warm-up)'
        % (resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard, a.runs, a.seconds, a.warmup))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through the finally clauses below

    start = time.monotonic()
    deadline = start + a.budget
    cmds = server_cmds(a)
    servers: List[Server] = []
    failures = 0
    table: Dict = {}
    try:
        if a.scenario_list:
            for name, cmd in cmds:
                servers.append(Server(name, cmd))
            log('servers: ' + ', '.join('%s on %d' % (s.name, s.port) for s in servers))
            f, table = throughput(a, servers, start + a.budget * 2 / 3)
            failures += f
    finally:
        for s in servers:
            s.stop()
    if a.idle:
        failures += idle(a, cmds, deadline)
    if a.scenario_list:
        summary([n for n, _ in cmds], a.scenario_list, table)
    log('%.0f s in all%s' % (time.monotonic() - start, ', %d failure(s)' % failures if failures else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
