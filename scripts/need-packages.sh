#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# need-packages.sh PKG... - make sure these Debian packages are installed.
# As root it installs the missing ones (apt-get update, then apt-get install -y); otherwise it prints
# the exact apt-get line to run and fails, so a build never half-works for lack of a package.
set -euo pipefail
missing=()
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "need-packages: not a Debian system; make sure these are installed: $*" >&2
    exit 0
fi
native=$(dpkg --print-architecture)
for pkg in "$@"; do
    # One line per installed architecture (libcmocka-dev:s390x beside libcmocka-dev): a bare name
    # wants the native package (or an Architecture: all one), pkg:arch that architecture's.
    want="$native|all"
    [[ $pkg == *:* ]] && want=${pkg#*:}
    dpkg-query -W -f='${Architecture} ${Status}\n' "${pkg%%:*}" 2>/dev/null |
        grep -E "^($want) install ok installed$" >/dev/null || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -eq 0 ]]; then
    echo "need-packages: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || apt-get update -q >&2 || true # a mirror mid-sync must not stop us
    apt-get install -y -q "${missing[@]}" >&2
else
    echo "Missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
