/* SPDX-License-Identifier: MIT */
/* count - the representative message encoded or decoded N times by libwire, for the instruction
 * guard (guard.py): `count encode|decode N`. Only the loop functions are counted (callgrind
 * --toggle-collect=count_encode_loop or count_decode_loop), and guard.py takes the difference of
 * two values of N, so start-up and the checks below cancel out. The encode and decode are those of
 * the benchmark (bench/codec/wire_msg.h); this program links libwire alone, so make test needs
 * none of the libraries the benchmark compares with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_msg.h"

#if defined(__GNUC__) || defined(__clang__)
#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")
#if defined(__clang__)
#define LOOP __attribute__((noinline, used))
#else
#define LOOP __attribute__((noinline, noclone, used))
#endif
#else
#define BARRIER(p) ((void)(p))
#define LOOP
#endif

static struct msg g_msg;
static uint8_t g_buf[256];
static size_t g_len;

LOOP size_t count_encode_loop(long n) {
    size_t sum = 0;
    for (long i = 0; i < n; i++) {
        sum += msg_wire_encode(&g_msg, g_buf, sizeof g_buf);
        BARRIER(g_buf);
    }
    return sum;
}

LOOP size_t count_decode_loop(long n) {
    size_t ok = 0;
    struct msg m;
    for (long i = 0; i < n; i++) {
        ok += msg_wire_decode(&m, g_buf, g_len);
        BARRIER(&m);
    }
    return ok;
}

int main(int argc, char **argv) {
    long n = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    if (n <= 0 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0)) {
        fprintf(stderr, "usage: count encode|decode N\n");
        return 2;
    }
    msg_init(&g_msg);
    g_len = msg_wire_encode(&g_msg, g_buf, sizeof g_buf);
    struct msg back;
    if (g_len != 92 || !msg_wire_decode(&back, g_buf, g_len) || back.u32 != g_msg.u32 || back.nlist != 4) {
        fprintf(stderr, "count: the representative message does not encode and decode back\n");
        return 1;
    }
    size_t r = strcmp(argv[1], "encode") == 0 ? count_encode_loop(n) : count_decode_loop(n);
    printf("%zu\n", r);
    return 0;
}
