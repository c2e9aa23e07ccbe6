#!/usr/bin/env bash
# interop/run_all.sh - the project's main command: every client against every server.
#
# Builds the C, Python, Perl and OCaml peers, starts each language's server on a free loopback port,
# runs each language's client against each server (the whole interop exchange of SPEC.md 10.10:
# every golden vector both ways, ROUNDTRIP, ECHO, STATS with known answers, rejected inputs), and
# prints a matrix: rows are clients, columns servers, each cell passed/total. Exit 0 only when every
# cell passes. Every process it starts is stopped on exit, failure or Ctrl-C.
#
#   interop/run_all.sh [--clients c,python,perl,ocaml] [--servers c,python,perl,ocaml]
#                      [--c-mode epoll|poll|fork|thread|iterative] [--keep-logs] [--help]
#                      [--with-bigendian]  also the C peers built for s390x and powerpc, run under
#                                          qemu-user: servers and clients c-s390x, c-ppc
#
# As root it installs missing Debian packages itself; otherwise it prints the apt-get line and stops.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
langs_all="c python perl ocaml"
clients=$langs_all
servers=$langs_all
c_mode=epoll
keep_logs=0
with_bigendian=0

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --clients) clients=${2//,/ }; shift 2 ;;
        --servers) servers=${2//,/ }; shift 2 ;;
        --c-mode) c_mode=$2; shift 2 ;;
        --keep-logs) keep_logs=1; shift ;;
        --with-bigendian) with_bigendian=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run_all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck disable=SC2046
"$root/scripts/need-packages.sh" $("$root/scripts/packages.sh" test)

logs=$(mktemp -d /tmp/wire-interop.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        # a server gets 5 s to finish its frames in flight, then it is killed: no port stays held
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if ((keep_logs)); then echo "logs kept in $logs"; else rm -rf "$logs"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== building"
cc=${CC:-cc} # the C peers come from build/<compiler>, as make builds them
make -C "$root" -s CC="$cc" peer >"$logs/build-c.log" 2>&1 || { cat "$logs/build-c.log"; exit 1; }
(cd "$root/interop/ocaml" && dune build 2>&1) >"$logs/build-ocaml.log" || { cat "$logs/build-ocaml.log"; exit 1; }

# --with-bigendian (make check-bigendian-interop): the big-endian C peers of mk/cross.mk join the
# matrix as extra servers and clients, each run under qemu-user (s390x: 64-bit, ppc: 32-bit).
if ((with_bigendian)); then
    clients+=" c-s390x c-ppc"
    servers+=" c-s390x c-ppc"
fi
if [[ " $clients $servers " == *" c-s390x "* || " $clients $servers " == *" c-ppc "* ]]; then
    make -C "$root" -s cross-build-s390x cross-build-ppc >"$logs/build-cross.log" 2>&1 ||
        { cat "$logs/build-cross.log"; exit 1; }
fi

c_bin="$root/build/$(basename "$cc")"
ocaml_bin="$root/interop/ocaml/_build/default/bin"
server_cmd() {
    case $1 in
        c) echo "$c_bin/wire-server --mode $c_mode --quiet" ;;
        python) echo "python3 $root/interop/python/server.py" ;;
        perl) echo "perl $root/interop/perl/server.pl" ;;
        ocaml) echo "$ocaml_bin/server.exe" ;;
        c-s390x) echo "qemu-s390x -L / $root/build/s390x/wire-server --mode $c_mode --quiet" ;;
        c-ppc) echo "qemu-ppc $root/build/ppc/wire-server --mode $c_mode --quiet" ;;
    esac
}
client_cmd() {
    case $1 in
        c) echo "$c_bin/wire-client" ;;
        python) echo "python3 $root/interop/python/client.py" ;;
        perl) echo "perl $root/interop/perl/client.pl" ;;
        ocaml) echo "$ocaml_bin/client.exe" ;;
        c-s390x) echo "qemu-s390x -L / $root/build/s390x/wire-client" ;;
        c-ppc) echo "qemu-ppc $root/build/ppc/wire-client" ;;
    esac
}

declare -A port
for s in $servers; do
    # shellcheck disable=SC2046
    $(server_cmd "$s") --host 127.0.0.1 --port 0 >"$logs/server-$s.out" 2>"$logs/server-$s.err" &
    pids+=($!)
    for _ in $(seq 100); do # the first stdout line is the port (up to 10 s: OCaml/Perl start-up)
        p=$(head -n 1 "$logs/server-$s.out" 2>/dev/null || true)
        [[ $p =~ ^[0-9]+$ ]] && break
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    if ! [[ ${p:-} =~ ^[0-9]+$ ]]; then
        echo "the $s server did not start:" >&2
        cat "$logs/server-$s.err" >&2
        exit 1
    fi
    port[$s]=$p
    echo "== $s server on 127.0.0.1:$p"
done

# Pairs run two at a time (this machine has 2 cores); each client's output goes to its own log.
declare -A cell
run_pair() {
    local c=$1 s=$2 log="$logs/$1-vs-$2.log"
    # shellcheck disable=SC2046
    timeout 120 $(client_cmd "$c") --host 127.0.0.1 --port "${port[$s]}" >"$log" 2>&1 || true
}
start=$(date +%s)
running=() # client jobs only: a bare `wait` would also wait for the servers
for c in $clients; do
    for s in $servers; do
        run_pair "$c" "$s" &
        running+=($!)
        if ((${#running[@]} >= 2)); then
            wait -n "${running[@]}" || true
            alive=()
            for pid in "${running[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
            running=("${alive[@]}")
        fi
    done
done
for pid in "${running[@]}"; do wait "$pid" || true; done
elapsed=$(($(date +%s) - start))

failed=0
for c in $clients; do
    for s in $servers; do
        log="$logs/$c-vs-$s.log"
        summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
        if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            pass=${BASH_REMATCH[1]}
            total=$((pass + BASH_REMATCH[2]))
            cell[$c,$s]="$pass/$total"
            ((BASH_REMATCH[2] == 0 && pass > 0)) || failed=1
        else
            cell[$c,$s]="no result"
            failed=1
        fi
    done
done

echo
printf '%-16s' "client \\ server"
for s in $servers; do printf '%12s' "$s"; done
echo
for c in $clients; do
    printf '%-16s' "$c"
    for s in $servers; do printf '%12s' "${cell[$c,$s]}"; done
    echo
done
echo
echo "(${elapsed}s for $(wc -w <<<"$clients") clients x $(wc -w <<<"$servers") servers)"

if ((failed)); then
    echo
    for c in $clients; do
        for s in $servers; do
            log="$logs/$c-vs-$s.log"
            if ! grep -qE '^[0-9]+ passed, 0 failed$' "$log"; then
                echo "--- $c client vs $s server (first failures):"
                grep -E '^FAIL' "$log" | head -n 8 || tail -n 8 "$log"
            fi
        done
    done
    echo
    echo "INTEROP FAILED"
    exit 1
fi
echo "every client agrees with every server"
