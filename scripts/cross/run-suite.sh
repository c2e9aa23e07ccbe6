#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-suite.sh BUILD ORDER BITS [EMULATOR [ARG...]] - the whole C test suite of a cross build.
#
#   scripts/cross/run-suite.sh build/s390x big 64 qemu-s390x -L /
#   scripts/cross/run-suite.sh build/i686 little 32
#
# First BUILD/cross/selfcheck proves the target: it must find ORDER byte order and BITS-bit pointers
# at run time and wire_selfcheck() must pass. Then every BUILD/tests/test_* (the library's) and
# BUILD/interop-tests/test_* (the C peer's) runs from the repository root (they read proto/ and
# SPEC.md from there), under EMULATOR if one is given, each bounded by
# $CROSS_TEST_TIMEOUT seconds (default 900). All run; the exit status is 1 if any failed.
#
# test_server, test_conform and test_wirecat exec ../wire-server, ../wire-client, ../wire-conform and
# ../wirecat relative to their own binary. A foreign binary cannot be exec'd without binfmt_misc (which a container rarely
# has), so under an emulator the tests run from BUILD/emu/tests/, next to small shell scripts
# BUILD/emu/wire-server, wire-client, wire-conform and wirecat that exec the emulator on the real programs:
# the kernel runs '#!' scripts itself, nothing is registered. A test that runs its own binary again
# (test_conform's faulty client) finds the emulator's command in $WIRE_EMULATOR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
build=$1 order=$2 bits=$3
shift 3
emu=("$@")
limit=${CROSS_TEST_TIMEOUT:-900}

[[ -x $build/cross/selfcheck ]] || { echo "run-suite: $build/cross/selfcheck is missing" >&2; exit 1; }
echo "== $build/cross/selfcheck${emu:+ (under ${emu[*]})}"
"${emu[@]}" "$build/cross/selfcheck" "$order" "$bits"

tests=("$build"/tests/test_* "$build"/interop-tests/test_*)
[[ -x ${tests[0]} ]] || { echo "run-suite: no test programs in $build/tests" >&2; exit 1; }
rundir=
if ((${#emu[@]})); then
    rundir=$build/emu/tests
    rm -rf "$build/emu"
    mkdir -p "$rundir"
    cp "${tests[@]}" "$rundir/"
    q=$(printf ' %q' "${emu[@]}")
    for prog in wire-server wire-client wire-conform wirecat; do
        printf '#!/bin/sh\n# %s under emulation (written by scripts/cross/run-suite.sh)\nexec%s %q "$@"\n' \
            "$prog" "$q" "$root/$build/$prog" >"$build/emu/$prog"
        chmod +x "$build/emu/$prog"
    done
    export WIRE_EMULATOR="${emu[*]}"
fi

failed=()
start=$(date +%s)
for t in "${tests[@]}"; do
    name=$(basename "$t")
    t0=$(date +%s)
    echo "== $t${emu:+ (under ${emu[*]})}"
    rc=0
    timeout --kill-after=10 "$limit" "${emu[@]}" "${rundir:-$(dirname "$t")}/$name" || rc=$?
    ((rc == 124 || rc == 137)) && echo "run-suite: $name did not finish within $limit s" >&2
    echo "-- $name: exit $rc after $(($(date +%s) - t0)) s"
    ((rc == 0)) || failed+=("$name")
done
n=${#tests[@]}
echo "== $build: $((n - ${#failed[@]})) of $n test programs passed in $(($(date +%s) - start)) s${failed:+; failed: ${failed[*]}}"
((${#failed[@]} == 0))
