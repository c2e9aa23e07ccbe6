#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-pages.sh BUILD_DIR - checks every man page of man/: mandoc's lint (warnings fail), man -l
# rendering with nothing on stderr, and for each section-1 page that the options of its program's
# --help and the options its OPTIONS section lists are the same (each found in the other).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$1
cd "$root"
pass=0 fail=0
bad() { echo "FAIL $*" >&2; fail=$((fail + 1)); }

# The options named in a text: --long ones, and -x ones standing alone (not inside a word or a path).
options() { grep -oE -- '(^|[^A-Za-z0-9_/-])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[^-]+//' | sort -u; }
# A page as plain text (the overstrike of bold and underline removed).
render() { MANWIDTH=80 mandoc -T ascii "$1" | sed -e 's/.\x08//g'; }

shopt -s nullglob
pages=(man/*.[1-9])
((${#pages[@]})) || { echo "no man pages in man/" >&2; exit 1; }
for page in "${pages[@]}"; do
    ok=1
    if ! out=$(mandoc -T lint -W warning "$page" 2>&1) || [[ -n $out ]]; then
        bad "$page: mandoc -T lint -W warning:"; echo "$out" >&2; ok=0
    fi
    if ! err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || [[ -n $err ]]; then
        bad "$page: man -l:"; echo "$err" >&2; ok=0
    fi
    for s in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        # an exit status is for programs (sections 1 and 8), not a library (3) or a protocol (7)
        [[ $page != *.[18] && $s == "EXIT STATUS" ]] && continue
        grep -qx "\.SH \"\?$s\"\?" "$page" || { bad "$page: no $s section"; ok=0; }
    done
    if [[ $page == *.1 ]]; then
        prog="$build/$(basename "$page" .1)"
        if [[ ! -x $prog ]]; then
            bad "$page: no program $prog to compare its options with"; ok=0
        else
            help=$("$prog" --help)
            text=$(render "$page")
            listed=$(sed -n '/^OPTIONS$/,/^[A-Z]/p' <<<"$text" | grep -E '^ +-' | options || true)
            [[ -n $listed ]] || { bad "$page: its OPTIONS section lists no option"; ok=0; }
            for o in $(options <<<"$help"); do
                grep -qF -- "$o" <<<"$text" || { bad "$page: $prog --help has $o, the page does not"; ok=0; }
            done
            for o in $listed; do
                grep -qE -- "(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|$)" <<<"$help" ||
                    { bad "$page: OPTIONS lists $o, $prog --help does not"; ok=0; }
            done
        fi
    fi
    ((ok)) && { pass=$((pass + 1)); echo "ok   $page"; }
done
echo "$pass passed, $fail failed"
((fail == 0))
