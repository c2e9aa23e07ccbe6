#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-install.sh BUILD_DIR CC - make install and make uninstall, twice:
#  1. as a package build does: DESTDIR staging with PREFIX=/usr/local and LIBDIR, MANDIR moved; every
#     file where it belongs (sonames, .pc paths), the README example built through pkg-config with
#     PKG_CONFIG_SYSROOT_DIR, man finding the pages; uninstall leaves DESTDIR empty;
#  2. into a PREFIX of its own: the example built with an rpath (and run with LD_LIBRARY_PATH), the
#     installed wire-server and wire-client run from an empty directory with no WIRE_PROTO_DIR (they
#     must find the installed proto/), then uninstall removes the PREFIX it created.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$1
cc=$2
cd "$root"
tmp=$(mktemp -d /tmp/wire-install.XXXXXX)
server=
cleanup() {
    [[ -n $server ]] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0 pass=0
check() { # check WHAT COMMAND...: one line, ok or FAIL
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}
mk() { make -s --no-print-directory BUILD="$build" CC="$cc" "$@"; }
unset WIRE_PROTO_DIR

# ---- 1. DESTDIR ----
dest=$tmp/dest
mkdir "$dest"
vars=(DESTDIR="$dest" PREFIX=/usr/local LIBDIR=/usr/local/lib64 MANDIR=/usr/local/man)
mk install "${vars[@]}" >/dev/null
u=$dest/usr/local
want=("$u/include/wire.h" "$u/lib64/libwire.a" "$u/lib64/libwire.so.0.1.0" "$u/lib64/pkgconfig/wire.pc"
      "$u/bin/wire-server" "$u/bin/wire-client" "$u/bin/wire-conform")
for f in proto/*; do want+=("$u/share/wire/${f#proto/}"); done
for m in man/*.[1-9]; do want+=("$u/man/man${m##*.}/${m#man/}"); done
missing=()
for f in "${want[@]}"; do [[ -f $f ]] || missing+=("${f#"$dest"}"); done
check "DESTDIR: ${#want[@]} files in BINDIR, LIBDIR, INCLUDEDIR, MANDIR, DATADIR/wire${missing[*]:+ (missing: ${missing[*]})}" \
    test ${#missing[@]} -eq 0
check "DESTDIR: libwire.so -> libwire.so.0 -> libwire.so.0.1.0, soname libwire.so.0" \
    test "$(readlink "$u/lib64/libwire.so")" = libwire.so.0 -a "$(readlink "$u/lib64/libwire.so.0")" = libwire.so.0.1.0 \
    -a "$(readelf -d "$u/lib64/libwire.so.0.1.0" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')" = libwire.so.0
export PKG_CONFIG_PATH=$u/lib64/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
check "DESTDIR: wire.pc says libdir /usr/local/lib64, includedir /usr/local/include (under the sysroot)" \
    test "$(pkg-config --variable=libdir wire) $(pkg-config --variable=includedir wire)" = "$u/lib64 $u/include"
check "DESTDIR: wire.pc gives them relative to prefix" \
    grep -qx 'libdir=${prefix}/lib64' "$u/lib64/pkgconfig/wire.pc"
# shellcheck disable=SC2046
check "DESTDIR: examples/hello.c builds with pkg-config --cflags --libs wire (sysroot)" \
    "$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror examples/hello.c $(pkg-config --cflags --libs wire) \
    -Wl,-rpath,"$u/lib64" -o "$tmp/hello-staged"
check "DESTDIR: the program is linked with the staged libwire.so.0" \
    grep -q "libwire.so.0 => $u/lib64/libwire.so.0" <(ldd "$tmp/hello-staged")
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pages=$(for m in man/*.[1-9]; do n=${m#man/}; man -M "$u/man" -w "${n##*.}" "${n%.*}" || true; done)
check "DESTDIR: man -M MANDIR -w finds every page" test "$(wc -l <<<"$pages")" -eq "$(ls man/*.[1-9] | wc -l)"
mk uninstall "${vars[@]}" >/dev/null
left=$(cd "$dest" && find . -mindepth 1 | sort)
check "DESTDIR: make uninstall leaves it empty${left:+ (left: $(echo $left))}" test -z "$left"

# ---- 2. a PREFIX of its own ----
prefix=$tmp/prefix
mk install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
check "PREFIX: wire.pc says libdir $prefix/lib" test "$(pkg-config --variable=libdir wire)" = "$prefix/lib"
# shellcheck disable=SC2046
"$cc" -std=c99 examples/hello.c $(pkg-config --cflags --libs wire) -Wl,-rpath,"$prefix/lib" -o "$tmp/hello"
# shellcheck disable=SC2046
"$cc" -std=c99 examples/hello.c $(pkg-config --cflags --libs wire) -o "$tmp/hello-norpath"
unset PKG_CONFIG_PATH
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere" # no proto/ here, nor next to the installed programs: only DATADIR/wire has it
"$prefix/bin/wire-server" --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
server=$!
port=
for _ in $(seq 100); do port=$(head -n 1 "$tmp/server.out" 2>/dev/null || true); [[ $port =~ ^[0-9]+$ ]] && break; sleep 0.05; done
check "PREFIX: the installed wire-server started (port $port)" test -n "$port"
check "PREFIX: the installed wire-server found the installed vectors.txt" \
    test -z "$(grep 'no proto/vectors.txt' "$tmp/server.err")"
out=$("$tmp/hello" "$port" 2>&1 || true)
check "PREFIX: hello (rpath $prefix/lib) runs: $(tail -n 1 <<<"$out")" grep -q '^back: u32 7' <<<"$out"
out=$("$tmp/hello-norpath" "$port" 2>&1 || true)
check "PREFIX: hello without rpath cannot find libwire.so.0" grep -q 'libwire.so.0' <<<"$out"
out=$(LD_LIBRARY_PATH=$prefix/lib "$tmp/hello-norpath" "$port" 2>&1 || true)
check "PREFIX: hello without rpath runs with LD_LIBRARY_PATH" grep -q '^back: u32 7' <<<"$out"
out=$("$prefix/bin/wire-client" --port "$port" --quiet 2>&1 || true)
check "PREFIX: the installed wire-client's exchange, on the installed proto/: $(tail -n 1 <<<"$out")" \
    grep -qE '^[0-9]{3,} passed, 0 failed$' <<<"$out"
kill "$server"
rc=0
wait "$server" || rc=$?
server=
check "PREFIX: wire-server exits 0 on SIGTERM" test $rc -eq 0
cd "$root"
mk uninstall PREFIX="$prefix" >/dev/null
check "PREFIX: make uninstall removes the PREFIX it created" test ! -e "$prefix"
# The build's programs were relinked for that PREFIX's DATADIR: back to the build's own.
mk peer >/dev/null
echo "$pass passed, $fail failed"
((fail == 0))
