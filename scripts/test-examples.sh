#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-examples.sh BUILD_DIR - runs the example applications of examples/ against each other: the sensor
# service (sensor-server under every concurrency model, sensor_client.py) and the chat (chat-server, two
# chat-client and one chat_client.pl at once). Exit 0 only if every output matched; otherwise prints what
# differed. Every wait is bounded, and every process started is stopped on exit, failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=${1:?usage: test-examples.sh BUILD_DIR}/examples
work=$(mktemp -d /tmp/wire-examples.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# has_line FILE LINE [SECONDS]: waits (5 s by default) until FILE holds exactly LINE as a line.
has_line() {
    for _ in $(seq $((${3:-5} * 20))); do
        grep -qxF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# exited PID [SECONDS]: waits (5 s by default) for PID to end; its exit status in $status (124: still running).
exited() {
    status=124
    for _ in $(seq $((${2:-5} * 20))); do
        if ! kill -0 "$1" 2>/dev/null; then
            status=0
            wait "$1" || status=$?
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# start_server NAME ARGS...: starts $bin/NAME; its port (the first line of its stdout) in $port.
start_server() {
    local name=$1
    shift
    # the previous server's file goes first: read before the new one truncates it, its port (of a
    # server already stopped) was taken for the new one's, and the client was refused
    rm -f "$work/$name.stdout"
    "$bin/$name" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" &
    pids+=($!)
    server=$!
    port=
    for _ in $(seq 100); do
        port=$(head -n 1 "$work/$name.stdout" 2>/dev/null || true)
        [[ $port =~ ^[0-9]+$ ]] && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    echo "$name $* did not print its port:" >&2
    cat "$work/$name.stderr" >&2
    return 1
}

# stop_server WHAT: SIGTERM, then the server must exit 0 within 5 s.
stop_server() {
    kill -TERM "$server"
    if ! exited "$server"; then
        fail "$1: still running 5 s after SIGTERM"
    elif ((status != 0)); then
        fail "$1: exit status $status after SIGTERM"; cat "$work"/*-server.stderr
    fi
}

# ---- the sensor service: the C server under each model, the Python client ----
want="sensor 7 kitchen: 3 samples, mean 21.33, min 20.50, max 22.50"
for mode in epoll poll select fork thread iterative; do
    start_server sensor-server --mode "$mode" --quiet
    if got=$(timeout 10 python3 examples/sensor_client.py 127.0.0.1 "$port" 2>"$work/sensor-client.stderr") &&
        [[ $got == "$want" ]]; then
        ok "sensor ($mode): $got"
    else
        fail "sensor ($mode): printed '$got', expected '$want'"
        cat "$work/sensor-client.stderr"
    fi
    stop_server "sensor-server --mode $mode"
done

# ---- the chat: a room of three, two C clients and a Perl one ----
if out=$("$bin/chat-server" --mode fork 2>&1); then
    fail "chat-server --mode fork: accepted"
elif [[ $out == *"cannot serve a chat room"* ]]; then
    ok "chat-server --mode fork: refused ($out)"
else
    fail "chat-server --mode fork: refused without saying why: $out"
fi

start_server chat-server --quiet
names=(alice bob carol)
declare -A cmd=([alice]="$bin/chat-client" [bob]="perl examples/chat_client.pl" [carol]="$bin/chat-client")
declare -A fd pid
expect() { printf '%s\n' "$2" >>"$work/$1.want"; }

# Each client reads its stdin from a FIFO that this script writes to, and joins once the room has seen the
# one before it: the order of everything is then known, and so is each client's whole transcript.
for ((k = 0; k < 3; k++)); do
    who=${names[k]}
    mkfifo "$work/$who.in"
    exec {fd[$who]}<>"$work/$who.in" # read-write: opening never blocks, and closing it is the client's EOF
    (
        # a client must not hold the write end of any FIFO, its own included, or it never sees EOF
        for f in "${fd[@]}"; do eval "exec $f>&-"; done
        # shellcheck disable=SC2086
        exec timeout 60 ${cmd[$who]} 127.0.0.1 "$port" "$who" <"$work/$who.in" >"$work/$who.out" 2>"$work/$who.err"
    ) &
    pid[$who]=$!
    pids+=($!)
    for ((j = 0; j <= k; j++)); do
        expect "${names[j]}" "server: $who joined"
        has_line "$work/${names[j]}.out" "server: $who joined" || fail "chat: ${names[j]} did not see $who join"
    done
done

# One line at a time, each seen by all three before the next is said.
script=("alice|hello, I am alice" "bob|salut alice, c'est bob" "carol|hi both" "alice|how are you?"
        "bob|très bien, merci" "carol|must go, bye")
for entry in "${script[@]}"; do
    who=${entry%%|*}
    text=${entry#*|}
    printf '%s\n' "$text" >&"${fd[$who]}"
    for other in "${names[@]}"; do
        expect "$other" "$who: $text"
        has_line "$work/$other.out" "$who: $text" || fail "chat: $other did not get '$who: $text'"
    done
done

# They leave in order: end of stdin, BYE, exit 0; the others are told.
for ((k = 0; k < 3; k++)); do
    who=${names[k]}
    exec {fd[$who]}>&-
    if ! exited "${pid[$who]}"; then
        fail "chat: $who still running 5 s after the end of its input"
    elif ((status != 0)); then
        fail "chat: $who exited with status $status: $(cat "$work/$who.err")"
    fi
    for ((j = k + 1; j < 3; j++)); do
        expect "${names[j]}" "server: $who left"
        has_line "$work/${names[j]}.out" "server: $who left" || fail "chat: ${names[j]} was not told $who left"
    done
done

for who in "${names[@]}"; do
    if ! diff -u "$work/$who.want" "$work/$who.out" >"$work/$who.diff"; then
        fail "chat: $who (${cmd[$who]##*/}) printed another transcript (- expected, + printed):"
        cat "$work/$who.diff"
    elif [[ -s $work/$who.err ]]; then
        fail "chat: $who (${cmd[$who]##*/}) wrote to stderr: $(cat "$work/$who.err")"
    else
        ok "chat: $who (${cmd[$who]##*/}) saw its $(wc -l <"$work/$who.out") lines in order"
    fi
done
stop_server chat-server

echo "$passed passed, $failed failed"
((failed == 0))
