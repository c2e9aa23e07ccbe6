#!/bin/sh
# SPDX-License-Identifier: MIT
# The package as its users get it: `dune install` into a temporary prefix, then a
# separate dune project outside the source tree that says (libraries wire-protocol) and
# finds it through OCAMLPATH alone. Run from interop/ocaml (make test-ocaml does).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/wire-ocaml-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL install: $*"; exit 1; }

dune build @install 2>&1
# dune build writes wire-protocol.opam from dune-project: its metadata must be there.
for field in 'license: "MIT"' 'version: "' 'synopsis:' '"ocaml" {>= "4.08"}' '"base-unix"'; do
    grep -qF "$field" wire-protocol.opam || fail "wire-protocol.opam lacks $field"
done
dune install --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dune install"; }
lib="$tmp/prefix/lib/wire-protocol"
for f in META dune-package opam wire.cmi wire.cma wire.cmxa wire.mli conn.mli; do
    [ -f "$lib/$f" ] || fail "$lib/$f not installed"
done
# One public module: every other one is wire__<Name> (wrapped), none at the top level.
for f in "$lib"/*.cmi; do
    case "${f##*/}" in wire.cmi|wire__*.cmi) ;; *) fail "top-level module ${f##*/} installed" ;; esac
done

mkdir "$tmp/proj"
cat >"$tmp/proj/dune-project" <<'X'
(lang dune 2.9)
X
cat >"$tmp/proj/dune" <<'X'
(executable
 (name use_wire)
 (libraries wire-protocol))
X
cat >"$tmp/proj/use_wire.ml" <<'X'
let () =
  let fields = Wire.[ U32 7; String "héllo"; List (T_u16, [ U16 1; U16 2 ]) ] in
  let payload = Wire.encode_fields fields in
  assert (Wire.equal_values (Wire.decode_fields payload) fields);
  (* The submodules, and a connection refused: Wire.Conn is there too. *)
  print_endline (Wire.Text.hex_encode payload);
  match Wire.catch (fun () -> Wire.Conn.connect ~name:(String.make 256 'x') "127.0.0.1" 1) with
  | Error { Wire.code = Wire.RANGE; _ } -> print_endline "ok"
  | _ -> print_endline "Wire.Conn.connect accepted a 256-byte name"
X
# Without OCAMLPATH the library must not be found, so that the prefix is what is used (unless
# it is installed elsewhere too, e.g. in an opam switch: then say so and go on).
if (cd "$tmp/proj" && env -u OCAMLPATH dune build --root . ./use_wire.exe) >"$tmp/neg.log" 2>&1; then
    echo "note: wire-protocol is also installed outside the test's prefix: not checking that OCAMLPATH finds it"
    rm -rf "$tmp/proj/_build"
else
    grep -q 'Library "wire-protocol" not found' "$tmp/neg.log" || { cat "$tmp/neg.log"; fail "unexpected error without OCAMLPATH"; }
fi
(cd "$tmp/proj" && OCAMLPATH="$tmp/prefix/lib" dune build --root . ./use_wire.exe 2>&1) || fail "the separate project does not build"
out=$("$tmp/proj/_build/default/use_wire.exe")
want="0300000007400000000668c3a96c6c6f50020000000200010002
ok"
[ "$out" = "$want" ] || fail "use_wire printed: $out"
echo "install: dune install into a prefix, a separate project built and run against it: ok"
