#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind-server.sh VALGRIND SERVER CLIENT MODE: runs SERVER --mode MODE under memcheck, has CLIENT
# run the whole interop exchange against it, stops it with SIGTERM and fails unless both the client
# and the server (no memcheck error, no leak: valgrind's --error-exitcode) exit 0.
set -u
valgrind=$1 server=$2 client=$3 mode=$4
dir=$(mktemp -d /tmp/wire-valgrind.XXXXXX)
trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
$valgrind --log-file="$dir/memcheck.log" "$server" --mode "$mode" --port 0 --quiet >"$dir/port" 2>"$dir/stderr" &
pid=$!
i=0
while [ ! -s "$dir/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
port=$(head -n 1 "$dir/port")
[ -n "$port" ] || { echo "valgrind-server: no port from $server --mode $mode"; cat "$dir/stderr"; exit 1; }
"$client" --port "$port" >"$dir/client" 2>&1
client_rc=$?
tail -n 1 "$dir/client"
kill -TERM "$pid"
wait "$pid"
server_rc=$?
rc=0
[ $client_rc -eq 0 ] || { echo "valgrind-server: wire-client exited $client_rc"; cat "$dir/client"; rc=1; }
if [ $server_rc -ne 0 ]; then
    echo "valgrind-server: $server --mode $mode under memcheck exited $server_rc (99: memcheck errors or leaks)"
    cat "$dir/memcheck.log" "$dir/stderr"
    rc=1
fi
exit $rc
