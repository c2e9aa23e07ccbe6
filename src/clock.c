/* SPDX-License-Identifier: MIT */
/* clock.c - the monotonic clock every deadline is measured on. */
#include "internal.h"

#include <time.h>

int64_t wire_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
