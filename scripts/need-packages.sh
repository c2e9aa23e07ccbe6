#!/usr/bin/env bash
# need-packages.sh PKG... - make sure these Debian packages are installed.
# As root it installs the missing ones (apt-get update, then apt-get install -y); otherwise it prints
# the exact apt-get line to run and fails, so a build never half-works for lack of a package.
set -euo pipefail
missing=()
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "need-packages: not a Debian system; make sure these are installed: $*" >&2
    exit 0
fi
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -eq 0 ]]; then
    echo "need-packages: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q "${missing[@]}" >&2
else
    echo "Missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
