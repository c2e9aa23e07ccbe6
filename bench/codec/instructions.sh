#!/bin/sh
# SPDX-License-Identifier: MIT
# instructions.sh - instructions per op from callgrind, for every op of bench-codec (or those named).
#
#   bench/codec/instructions.sh [BENCH_CODEC [OP...]]      default: build/cc/bench/bench-codec, all ops
#
# The bulk ops are left out unless named (valgrind's memcpy is a byte loop: their counts mean nothing).
# Each op runs twice under callgrind (--count OP N, N = 2000 and 12000), collecting only inside its
# loop function (--toggle-collect=bench_loop_...); the difference divided by 10000 is the exact count
# per op, free of set-up and of the first iterations' cache effects (callgrind counts instructions,
# not time: the figure is the same on a loaded machine). Prints, per op:
#   result codec <op> instr <n> <n> <n>
# and the instruction ratios wire/hand and (how many times fewer) msgpack/wire, cbor/wire.
set -eu
bin=${1:-build/cc/bench/bench-codec}
[ $# -gt 0 ] && shift
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
[ -x "$bin" ] || { echo "instructions.sh: $bin: not built (make bench-codec-build)" >&2; exit 1; }
hex=$(dirname "$0")/../message.hex
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The instructions collected in FUNC over N iterations of OP.
count() { # op func n
    valgrind --tool=callgrind --toggle-collect="$2" --callgrind-out-file="$tmp/out" \
        "$bin" --hex "$hex" --count "$1" "$3" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    awk '/^(summary|totals):/ { print $2; exit }' "$tmp/out"
}

"$bin" --list | grep -v bulk >"$tmp/ops"
[ $# -gt 0 ] && "$bin" --list >"$tmp/ops"
[ $# -gt 0 ] && { for op in "$@"; do grep "^$op " "$tmp/ops" || { echo "instructions.sh: no op $op" >&2; exit 2; }; done >"$tmp/sel"; mv "$tmp/sel" "$tmp/ops"; }
while read -r op func; do
    case $op in *bulk*) lo=20 hi=120 ;; *) lo=2000 hi=12000 ;; esac
    a=$(count "$op" "$func" $lo)
    b=$(count "$op" "$func" $hi)
    per=$(awk -v a="$a" -v b="$b" -v n=$((hi - lo)) 'BEGIN { printf "%.1f", (b - a) / n }')
    echo "result codec $op instr $per $per $per"
    echo "$op $per" >>"$tmp/per"
done <"$tmp/ops"

# ratio NAME NUM DEN: NUM's count over DEN's, when both were measured
ratio() {
    awk -v name="$1" -v num="$2" -v den="$3" '$1 == num { n = $2 } $1 == den { d = $2 }
        END { if (n != "" && d != "" && d > 0) { r = sprintf("%.2f", n / d); print "result codec " name " x " r " " r " " r } }' "$tmp/per"
}
ratio ratio.encode.hand.instr wire.encode hand.encode
ratio ratio.decode.hand.instr wire.decode hand.decode
ratio speedup.encode.msgpack.instr msgpack.encode wire.encode
ratio speedup.decode.msgpack.instr msgpack.decode wire.decode
ratio speedup.encode.msgpack.fixed.instr msgpack.fixed.encode wire.encode
ratio speedup.encode.protobuf.instr protobuf.encode wire.encode
ratio speedup.decode.protobuf.instr protobuf.decode wire.decode
ratio speedup.encode.cbor.instr cbor.encode wire.encode
ratio speedup.decode.cbor.instr cbor.decode wire.decode
