/* SPDX-License-Identifier: MIT */
/* probe.c - the smallest program of a target: scripts/cross/m32-runner.sh runs it to learn whether
 * the kernel executes this target's binaries itself or an emulator must. */
int main(void) { return 0; }
