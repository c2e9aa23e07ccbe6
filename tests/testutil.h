/* SPDX-License-Identifier: MIT */
/* testutil.h - helpers shared by the cmocka tests. */
#ifndef WIRE_TESTUTIL_H
#define WIRE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "wire.h"

/* Where proto/ is: $WIRE_PROTO_DIR, else "proto" (make runs the tests from the repository root). */
static inline const char *proto_path(const char *file, char *buf, size_t len) {
    const char *dir = getenv("WIRE_PROTO_DIR");
    snprintf(buf, len, "%s/%s", dir && *dir ? dir : "proto", file);
    return buf;
}

/* SPEC.md, read whole (from the repository root, or next to $WIRE_PROTO_DIR); NUL-terminated, in a
 * buffer the caller frees. */
static inline char *read_spec(void) {
    FILE *f = fopen("SPEC.md", "r");
    if (!f) {
        char p[512];
        const char *dir = getenv("WIRE_PROTO_DIR");
        snprintf(p, sizeof p, "%s/../SPEC.md", dir ? dir : "proto");
        f = fopen(p, "r");
    }
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap + 1);
    if (s) n = fread(s, 1, cap, f);
    fclose(f);
    if (s) s[n] = '\0';
    return s;
}

/* A buffer of n bytes that ends exactly at a PROT_NONE page, so reading or writing even one byte past
 * its end crashes the test at once (picohttpparser's trick). Free with guard_free(). */
typedef struct guarded {
    uint8_t *base;
    size_t maplen;
    uint8_t *p; /* the n usable bytes */
} guarded;

static inline guarded guard_alloc(size_t n) {
    guarded g;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (n + page - 1) / page + 1;
    g.maplen = pages * page;
    g.base = mmap(NULL, g.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.base != MAP_FAILED);
    assert_int_equal(mprotect(g.base + (pages - 1) * page, page, PROT_NONE), 0);
    g.p = g.base + (pages - 1) * page - n;
    return g;
}

static inline void guard_free(guarded *g) { munmap(g->base, g->maplen); }

/* Compares two byte strings, printing both in hex on a difference. */
static inline void assert_bytes_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const char *what) {
    if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0)) return;
    fprintf(stderr, "%s: bytes differ\n  got      (%zu):", what, alen);
    for (size_t i = 0; i < alen && i < 64; i++) fprintf(stderr, " %02x", a[i]);
    fprintf(stderr, "\n  expected (%zu):", blen);
    for (size_t i = 0; i < blen && i < 64; i++) fprintf(stderr, " %02x", b[i]);
    fprintf(stderr, "\n");
    fail();
}

#endif
