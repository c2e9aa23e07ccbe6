/* SPDX-License-Identifier: MIT */
/* utf8.c - strict UTF-8 validation (Unicode Table 3-7: well-formed byte sequences). */
#include "wire.h"

#include <string.h>

bool wire_utf8_valid(const void *s, size_t len, size_t *bad) {
    const uint8_t *p = s;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs are the common case: test 8 bytes at once (memcpy: no unaligned access). */
        if (len - i >= 8) {
            uint64_t chunk;
            memcpy(&chunk, p + i, sizeof chunk);
            if ((chunk & 0x8080808080808080u) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            else if (c == 0xED) hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            goto fail; /* 80..C1 (stray continuation or overlong lead) and F5..FF */
        }
        if (len - i - 1 < need || p[i + 1] < lo || p[i + 1] > hi) goto fail;
        for (size_t k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) goto fail;
        i += need + 1;
    }
    return true;
fail:
    if (bad) *bad = i;
    return false;
}
