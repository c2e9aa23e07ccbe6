#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-example.sh BUILD_DIR CC - installs libwire into a staging prefix, builds examples/hello.c the
# way README.md says (pkg-config), runs it against a live wire-server, and checks that README.md shows
# exactly that program and exactly what it prints.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$1
cc=$2
stage="$root/$build/stage"
cd "$root"

# README.md must show the program that is tested here, byte for byte.
awk '/^```c$/ {inside=1; next} /^```$/ {if (inside) exit} inside' README.md > "$build/readme-hello.c"
if ! cmp -s "$build/readme-hello.c" examples/hello.c; then
    echo "README.md's C example differs from examples/hello.c:" >&2
    diff "$build/readme-hello.c" examples/hello.c >&2 || true
    exit 1
fi

rm -rf "$stage"
make -s CC="$cc" install PREFIX="$stage" >/dev/null
export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
# shellcheck disable=SC2046
"$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror examples/hello.c $(pkg-config --cflags --libs wire) -o "$build/hello"

"$build/wire-server" --quiet --port 0 > "$build/hello-server.out" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do port=$(head -n 1 "$build/hello-server.out" 2>/dev/null || true); [[ $port =~ ^[0-9]+$ ]] && break; sleep 0.1; done
got=$(LD_LIBRARY_PATH="$stage/lib" "$build/hello" "$port")
# what README.md shows the program printing: the lines after "$ ./hello 7000" in the block after it
want=$(awk '/^\$ \.\/hello 7000$/ {inside=1; next} /^```$/ {if (inside) exit} inside' README.md)
if [[ -z $want || $got != "$want" ]]; then
    echo "example printed:" >&2
    echo "$got" >&2
    echo "README.md shows:" >&2
    echo "$want" >&2
    exit 1
fi
echo "example: $got"
echo "1 passed, 0 failed"
