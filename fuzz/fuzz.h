/* SPDX-License-Identifier: MIT */
/* fuzz.h - what every fuzz target shares: the libFuzzer entry points (also called by replay.c, the
 * engine-less driver that runs the corpora as ordinary tests) and a check that aborts, so that a
 * broken property is a crash under libFuzzer and a failure under the replay driver alike. */
#ifndef WIRE_FUZZ_H
#define WIRE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): it must hold under -DNDEBUG too. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
