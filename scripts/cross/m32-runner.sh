#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# m32-runner.sh PROBE - how to run the i686 programs on this machine: prints nothing (run them
# natively) or "qemu-i386" (run them under the emulator), and says on stderr which and why.
#
#   M32_RUNNER=auto (default)  run PROBE, a tiny static i686 program; if the kernel runs it, native,
#                              otherwise qemu-i386 (a kernel built without IA32 emulation answers
#                              "Exec format error")
#   M32_RUNNER=native          native, and fail if the kernel cannot run PROBE
#   M32_RUNNER=qemu            qemu-i386 even where the kernel could run the programs itself, so that
#                              the emulated path is exercised on machines that never need it
#
# In every case the chosen runner must run PROBE and get its exit status 0: a runner that cannot run
# an i686 program fails here, before the test suite, with the reason.
set -euo pipefail
probe=$1
choice=${M32_RUNNER:-auto}
[[ -x $probe ]] || { echo "m32-runner: $probe is missing" >&2; exit 1; }

native_ok() { "$probe" >/dev/null 2>&1; }
qemu_ok() {
    command -v qemu-i386 >/dev/null 2>&1 || { echo "m32-runner: qemu-i386 not found (Debian package qemu-user)" >&2; return 1; }
    qemu-i386 "$probe" >/dev/null 2>&1 || { echo "m32-runner: qemu-i386 cannot run $probe" >&2; return 1; }
}

case $choice in
    auto)
        if native_ok; then
            echo "m32-runner: the kernel runs i686 programs: running them natively" >&2
        else
            echo "m32-runner: this kernel cannot run i686 programs (no IA32 support): running them under qemu-i386" >&2
            qemu_ok
            echo qemu-i386
        fi ;;
    native)
        native_ok || { echo "m32-runner: M32_RUNNER=native, but this kernel cannot run $probe" >&2; exit 1; }
        echo "m32-runner: M32_RUNNER=native: running i686 programs natively" >&2 ;;
    qemu)
        qemu_ok
        echo "m32-runner: M32_RUNNER=qemu: running i686 programs under qemu-i386" >&2
        echo qemu-i386 ;;
    *) echo "m32-runner: M32_RUNNER must be auto, native or qemu, not '$choice'" >&2; exit 2 ;;
esac
