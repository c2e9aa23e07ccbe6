/* SPDX-License-Identifier: MIT */
/*
 * selfcheck.c - prints what a target really is and runs wire_selfcheck() there.
 *
 *   selfcheck [big|little] [32|64]
 *
 * Prints one line: byte order found at run time, pointer and long widths, and the self-check's
 * verdict. Exits 1 when the self-check fails, or when the target is not the one expected (so an
 * emulator that silently ran a native binary, or a build that did not cross-compile, is caught).
 */
#include <stdio.h>
#include <string.h>

#include "wire.h"

int main(int argc, char **argv) {
    char err[WIRE_ERRBUF_SIZE];
    const uint32_t probe = 0x01020304u;
    unsigned char first;
    memcpy(&first, &probe, 1);
    const char *order = first == 0x01 ? "big" : first == 0x04 ? "little" : "mixed";
    unsigned ptr_bits = (unsigned)(sizeof(void *) * 8), long_bits = (unsigned)(sizeof(long) * 8);
    wire_err e = wire_selfcheck(err, sizeof err);
    printf("selfcheck: %s-endian, %u-bit pointers, %u-bit long, %u-bit size_t: wire_selfcheck() %s (%s)\n", order,
           ptr_bits, long_bits, (unsigned)(sizeof(size_t) * 8), e == WIRE_OK ? "passed" : "FAILED", err);
    if (e != WIRE_OK) return 1;
    if (argc > 1 && strcmp(argv[1], order) != 0) {
        printf("selfcheck: expected a %s-endian target, this one is %s-endian\n", argv[1], order);
        return 1;
    }
    if (argc > 2) {
        unsigned want = 0;
        if (sscanf(argv[2], "%u", &want) != 1 || want != ptr_bits) {
            printf("selfcheck: expected %s-bit pointers, this target has %u\n", argv[2], ptr_bits);
            return 1;
        }
    }
    return 0;
}
