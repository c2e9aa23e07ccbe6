#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# interop/run_all.sh - the project's main command: every client against every server, then every
# server and every client through the conformance tester.
#
# Builds the C, Python, Perl and OCaml peers, starts each language's server on a free loopback port,
# runs each language's client against each server (the whole interop exchange of SPEC.md 10.10:
# every golden vector both ways, ROUNDTRIP, ECHO, STATS with known answers, rejected inputs), and
# prints a matrix: rows are clients, columns servers, each cell passed/total. Then wire-conform
# (SPEC.md section 14) checks each server (every message case of proto/sessions.txt, the exchange,
# concurrency and slowloris; the servers started again with the options of the file's config line)
# and each client (against its legal but awkward server), and prints a table of levels 1-5. Exit 0
# only when every cell of both passes. Every process it starts is stopped on exit, failure or Ctrl-C.
#
#   interop/run_all.sh [--clients c,python,perl,ocaml] [--servers c,python,perl,ocaml]
#                      [--c-mode epoll|poll|select|fork|thread|iterative] [--keep-logs] [--help]
#                      [--conform-level N]     wire-conform levels 1..N (default 5; 0: none)
#                      [--with-bigendian]  also the C peers built for s390x and powerpc, run under
#                                          qemu-user: servers and clients c-s390x, c-ppc
#                      [--udp]   the UDP profile instead (SPEC.md section 15): every server with
#                                --udp, every client with --udp through interop/udp_relay.py, which
#                                drops, duplicates and delays datagrams both ways (--loss, --dup,
#                                --delay, fractions; default 0.05 each); each cell must pass with
#                                losses and duplicates really injected; then wire-conform level 6
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

conform_level=5
udp=0
loss=0.05 dup=0.05 delay=0.05
usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --clients) clients=${2//,/ }; shift 2 ;;
        --servers) servers=${2//,/ }; shift 2 ;;
        --c-mode) c_mode=$2; shift 2 ;;
        --keep-logs) keep_logs=1; shift ;;
        --with-bigendian) with_bigendian=1; shift ;;
        --conform-level) conform_level=$2; shift 2 ;;
        --udp) udp=1; shift ;;
        --loss) loss=$2; shift 2 ;;
        --dup) dup=$2; shift 2 ;;
        --delay) delay=$2; shift 2 ;;
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

[[ $conform_level =~ ^[0-5]$ ]] || { echo "run_all.sh: --conform-level takes 0..5" >&2; exit 2; }

# start_server NAME TAG [OPTION...]: starts NAME's server with the options; its port in port[TAG].
declare -A port
start_server() {
    local s=$1 tag=$2 p=
    shift 2
    # shellcheck disable=SC2046
    $(server_cmd "$s") --host 127.0.0.1 --port 0 "$@" >"$logs/server-$tag.out" 2>"$logs/server-$tag.err" &
    pids+=($!)
    for _ in $(seq 100); do # the first stdout line is the port (up to 10 s: OCaml/Perl start-up)
        p=$(head -n 1 "$logs/server-$tag.out" 2>/dev/null || true)
        [[ $p =~ ^[0-9]+$ ]] && break
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    if ! [[ $p =~ ^[0-9]+$ ]]; then
        echo "the $s server did not start ($*):" >&2
        cat "$logs/server-$tag.err" >&2
        exit 1
    fi
    port[$tag]=$p
    echo "== $s server on 127.0.0.1:$p${*:+ ($*)}"
}
# The servers' common options (SPEC.md 9.3): each server's --help names every option of the table
# with its default, --version says the protocol version, and bad values exit with status 2.
options_failed=0
check_options() {
    local s=$1 cmd help opt def rc
    # shellcheck disable=SC2046
    read -r -a cmd <<<"$(server_cmd "$s")"
    help=$(timeout 20 "${cmd[@]}" --help 2>&1) || { echo "$s server: --help exits non-zero" >&2; return 1; }
    while IFS='|' read -r _ opt def _; do
        opt=$(sed 's/^ *`\([^ `]*\).*/\1/' <<<"$opt")
        def=$(sed -n 's/^ *`\([0-9][0-9]*\)`.*/\1/p' <<<"$def")
        grep -q -- "$opt" <<<"$help" || { echo "$s server: --help does not mention $opt" >&2; return 1; }
        if [[ -n $def ]] && ! grep -- "$opt" <<<"$help" | grep -qw -- "$def" &&
            ! grep -A2 -- "$opt" <<<"$help" | grep -qw -- "$def"; then
            echo "$s server: --help does not give $opt's default $def (SPEC 9.3)" >&2
            return 1
        fi
    done < <(sed -n '/^### 9.3/,/^`wire-server` is the C implementation/p' "$root/SPEC.md" | grep '^| `--')
    timeout 20 "${cmd[@]}" --version 2>&1 | grep -q 'protocol version 1' ||
        { echo "$s server: --version does not say 'protocol version 1'" >&2; return 1; }
    for bad in "--port 70000" "--max-payload 1036" "--max-conns 0" "--no-such-option"; do
        rc=0
        # shellcheck disable=SC2086
        timeout 20 "${cmd[@]}" $bad >/dev/null 2>&1 </dev/null || rc=$?
        ((rc == 2)) || { echo "$s server: $bad exits with $rc, not 2 (SPEC 9.3)" >&2; return 1; }
    done
}
for s in $servers; do check_options "$s" || options_failed=1; done
((options_failed)) && { echo "OPTIONS DIFFER FROM SPEC.md 9.3"; exit 1; }
echo "== every server takes SPEC.md 9.3's options"

udp_opt=()
((udp)) && udp_opt=(--udp)
for s in $servers; do start_server "$s" "$s" "${udp_opt[@]}"; done

# Pairs run two at a time (this machine has 2 cores); each client's output goes to its own log.
declare -A cell
run_pair() {
    local c=$1 s=$2 log="$logs/$1-vs-$2.log"
    if ((udp)); then run_udp_pair "$c" "$s" "$log"; return; fi
    # shellcheck disable=SC2046
    timeout 120 $(client_cmd "$c") --host 127.0.0.1 --port "${port[$s]}" >"$log" 2>&1 || true
}
# --udp: the client talks to its own relay, which forwards to the server's UDP port (the same
# number as its TCP port, SPEC 15.8); the relay's last stderr line says what it injected.
run_udp_pair() {
    local c=$1 s=$2 log=$3 relay_pid rp=
    timeout 300 python3 "$here/udp_relay.py" --target "${port[$s]}" --loss "$loss" --dup "$dup" \
        --delay "$delay" >"$log.relay-port" 2>"$log.relay" &
    relay_pid=$!
    for _ in $(seq 50); do
        rp=$(head -n 1 "$log.relay-port" 2>/dev/null || true)
        [[ $rp =~ ^[0-9]+$ ]] && break
        sleep 0.1
    done
    if [[ $rp =~ ^[0-9]+$ ]]; then
        # shellcheck disable=SC2046
        timeout 240 $(client_cmd "$c") --udp --host 127.0.0.1 --port "$rp" >"$log" 2>&1 || true
    else
        echo "the relay did not start" >"$log"
    fi
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
}
start=$(date +%s)
# Two cells at a time keep the 2 cores busy over TCP; a UDP cell mostly waits for its retries'
# timeouts (a lost datagram costs 100 ms or more, SPEC 15.7), so four at a time.
width=2
((udp)) && width=4
running=() # client jobs only: a bare `wait` would also wait for the servers
for c in $clients; do
    for s in $servers; do
        run_pair "$c" "$s" &
        running+=($!)
        if ((${#running[@]} >= width)); then
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
declare -A injected
for c in $clients; do
    for s in $servers; do
        log="$logs/$c-vs-$s.log"
        summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
        if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            pass=${BASH_REMATCH[1]}
            total=$((pass + BASH_REMATCH[2]))
            cell[$c,$s]="$pass/$total"
            ((BASH_REMATCH[2] == 0 && pass > 0)) || failed=1
            if ((udp)); then
                # a cell proves nothing about loss unless the relay really dropped and duplicated
                inj=$(sed -n 's/^relay: \([0-9]*\) datagrams, \([0-9]*\) dropped, \([0-9]*\) duplicated, \([0-9]*\) delayed$/\2 \3 \4/p' "$log.relay")
                read -r ndrop ndup ndelay <<<"${inj:-0 0 0}"
                injected[$c,$s]="$ndrop/$ndup/$ndelay"
                if ((ndrop == 0 || ndup == 0)); then
                    cell[$c,$s]+=" (no loss)"
                    failed=1
                fi
            fi
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
if ((udp)); then
    echo
    echo "over UDP through interop/udp_relay.py (loss $loss, dup $dup, delay $delay each way); datagrams dropped/duplicated/delayed:"
    printf '%-16s' "client \\ server"
    for s in $servers; do printf '%12s' "$s"; done
    echo
    for c in $clients; do
        printf '%-16s' "$c"
        for s in $servers; do printf '%12s' "${injected[$c,$s]:--}"; done
        echo
    done
fi

# ---- conformance: wire-conform against every server and every client (SPEC.md section 14) ----
conform=$c_bin/wire-conform
declare -A lv
conform_cell() { # conform_cell LOG KEY: per level "passed/ran" from wire-conform's "== level" lines
    local log=$1 key=$2 n
    for n in 1 2 3 4 5 6; do lv[$key,$n]=-; done
    while read -r n a b; do lv[$key,$n]="$a/$b"; done < <(sed -n 's/^== level \([0-9]\) (.*): \([0-9]*\) of \([0-9]*\) checks passed$/\1 \2 \3/p' "$log")
    grep -qE '^[0-9]+ passed, 0 failed$' "$log" || return 1
}
conform_failed=0
# --udp: wire-conform's level 6 only (the UDP checks, `udp*`), on servers started with --udp; the
# TCP levels are the plain run's. wire-conform has no UDP client checks: clients are the matrix's.
levels=$(seq "$conform_level")
conform_args=(--level "$conform_level")
conform_clients=$clients
if ((udp && conform_level > 0)); then
    levels=6
    conform_args=(--level 6 --only 'udp*')
    conform_clients=
fi
if ((conform_level > 0)); then
    # the servers again, with the options the message cases are written for
    read -r -a session_opts < <(sed -n 's/^config | \(.*\) |$/\1/p' "$root/proto/sessions.txt")
    echo
    for s in $servers; do start_server "$s" "conform-$s" "${session_opts[@]}" "${udp_opt[@]}"; done
    cstart=$(date +%s)
    # one at a time: the checks measure time (answers at header time, timeouts, slowloris)
    for s in $servers; do
        timeout 600 "$conform" server "${conform_args[@]}" 127.0.0.1 "${port[conform-$s]}" \
            >"$logs/conform-server-$s.log" 2>&1 || true
        conform_cell "$logs/conform-server-$s.log" "$s server" || conform_failed=1
    done
    for c in $conform_clients; do
        # shellcheck disable=SC2046
        timeout 600 "$conform" client --level "$conform_level" -- $(client_cmd "$c") \
            >"$logs/conform-client-$c.log" 2>&1 || true
        conform_cell "$logs/conform-client-$c.log" "$c client" || conform_failed=1
    done
    echo
    printf '%-16s' "wire-conform"
    for n in $levels; do printf '%10s' "level $n"; done
    echo
    for key in $(for s in $servers; do echo "$s:server"; done) $(for c in $conform_clients; do echo "$c:client"; done); do
        key=${key/:/ }
        printf '%-16s' "$key"
        for n in $levels; do printf '%10s' "${lv[$key,$n]}"; done
        echo
    done
    echo
    echo "($(($(date +%s) - cstart))s for $(wc -w <<<"$servers") servers and $(wc -w <<<"$conform_clients") clients, level(s) $(echo $levels))"
    if ((conform_failed)); then
        for f in "$logs"/conform-*.log; do
            if grep -qE '^[0-9]+ passed, 0 failed$' "$f"; then continue; fi
            echo "--- $(basename "$f" .log) (first failures):"
            grep -A1 '^FAIL' "$f" | head -n 16 | cut -c1-300 || tail -n 8 "$f"
        done
        failed=1
    fi
fi

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
if ((udp)); then
    echo "every client agrees with every server over UDP, with datagrams lost, duplicated and delayed$( ((conform_level > 0)) && echo ", and wire-conform passes every server at level 6 (UDP)")"
elif ((conform_level > 0)); then
    echo "every client agrees with every server, and wire-conform passes every server and client (levels 1-$conform_level)"
else
    echo "every client agrees with every server"
fi
