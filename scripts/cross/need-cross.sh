#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# need-cross.sh TARGET... - make sure the Debian packages of these portability targets are installed.
#
#   s390x    gcc-s390x-linux-gnu + its libc, qemu-user, and cmocka for s390x (foreign architecture s390x)
#   ppc      gcc-powerpc-linux-gnu + its libc, qemu-user (no cmocka: Debian 12 has no powerpc port)
#   i686     gcc-i686-linux-gnu + its libc, qemu-user (the binaries are static: they run natively where
#            the kernel has IA32 support, under qemu-i386 where it has not)
#   clang    gcc and clang
#
# Idempotent: when everything is there it prints nothing and does nothing. Otherwise, as root it adds
# the foreign architecture (dpkg --add-architecture), runs apt-get update and installs exactly the
# missing packages, printing each command first; not as root it prints those commands and fails.
#
# i686 deliberately needs no i386 foreign architecture: an i386 index that fails to download (a mirror
# in mid-sync) makes every later `apt-get update` on the machine exit 100, which breaks scripts that
# run it under `set -e`. The i686 tests link cmocka-lite (scripts/cross/cmocka-lite) statically instead.
set -euo pipefail

pkgs=()
archs=()
for target in "$@"; do
    case $target in
        s390x) pkgs+=(gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-user libcmocka-dev:s390x); archs+=(s390x) ;;
        ppc) pkgs+=(gcc-powerpc-linux-gnu libc6-dev-powerpc-cross qemu-user) ;;
        i686) pkgs+=(gcc-i686-linux-gnu libc6-dev-i386-cross qemu-user) ;;
        clang) pkgs+=(gcc clang) ;;
        *) echo "need-cross: unknown target '$target' (s390x, ppc, i686, clang)" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "need-cross: not a Debian system; make sure these are installed: ${pkgs[*]}" >&2
    exit 0
fi

native=$(dpkg --print-architecture)
installed() { # pkg or pkg:arch; a bare name means the native package (or an Architecture: all one)
    local name=${1%%:*} want="$native|all"
    [[ $1 == *:* ]] && want=${1#*:}
    dpkg-query -W -f='${Architecture} ${Status}\n' "$name" 2>/dev/null | grep -E "^($want) install ok installed$" >/dev/null
}

missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || [[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
done
new_archs=()
for a in "${archs[@]}"; do
    [[ $a == "$native" ]] && continue
    dpkg --print-foreign-architectures | grep -x "$a" >/dev/null || [[ " ${new_archs[*]} " == *" $a "* ]] || new_archs+=("$a")
done
((${#missing[@]} == 0 && ${#new_archs[@]} == 0)) && exit 0

install_cmd="apt-get install -y -q --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "need-cross: missing Debian packages for $*. Install them with:" >&2
    for a in "${new_archs[@]}"; do echo "  sudo dpkg --add-architecture $a" >&2; done
    echo "  sudo apt-get update" >&2
    echo "  sudo $install_cmd" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
for a in "${new_archs[@]}"; do
    echo "need-cross: dpkg --add-architecture $a" >&2
    dpkg --add-architecture "$a"
done
# A partly failed update (one index of one mirror in mid-sync) is not fatal: the install below says
# whether what it needs was found. Two tries, and dpkg's lock is waited for (parallel make).
echo "need-cross: apt-get update" >&2
apt-get -o DPkg::Lock::Timeout=300 update -q >&2 ||
    { sleep 5; apt-get -o DPkg::Lock::Timeout=300 update -q >&2; } ||
    echo "need-cross: apt-get update reported errors; trying the install anyway" >&2
echo "need-cross: $install_cmd" >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >&2
