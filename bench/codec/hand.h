/* SPDX-License-Identifier: MIT */
/* hand.h - a hand-written big-endian codec for exactly the representative message's layout: what a
 * careful programmer would write without a library (stores and loads by shifts, every tag, length
 * and bound checked, the string's UTF-8 validated, the list read element by element). It is the
 * limit that wire's generic codec is measured against, so it takes no shortcut wire could not. */
#ifndef BENCH_HAND_H
#define BENCH_HAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "msg.h"

static inline void hand_st16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void hand_st32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void hand_st64(uint8_t *p, uint64_t v) {
    hand_st32(p, (uint32_t)(v >> 32));
    hand_st32(p + 4, (uint32_t)v);
}
static inline uint16_t hand_ld16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static inline uint32_t hand_ld32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t hand_ld64(const uint8_t *p) { return (uint64_t)hand_ld32(p) << 32 | hand_ld32(p + 4); }

/* Strict UTF-8 (Unicode Table 3-7) with the ASCII fast path a careful decoder would have. */
static bool hand_utf8_slow(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else return false;
        if (len - i - 1 < need || p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
        i += need + 1;
    }
    return true;
}
static inline bool hand_utf8(const uint8_t *p, size_t len) {
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t c;
        memcpy(&c, p + i, 8);
        if (c & 0x8080808080808080u) return hand_utf8_slow(p + i, len - i);
    }
    for (; i < len; i++)
        if (p[i] & 0x80) return hand_utf8_slow(p + i, len - i);
    return true;
}

/* Encodes m into buf[0..cap): the payload length, or 0 if it does not fit (one check up front: the
 * size of this layout is known from the two lengths and the count). */
static inline size_t hand_encode(const struct msg *m, uint8_t *buf, size_t cap) {
    size_t need = 5 + 9 + 9 + 5 + m->name_len + 2 + 3 + 5 + m->blob_len + 6 + 4 * (size_t)m->nlist;
    if (need > cap || m->name_len > UINT32_MAX || m->blob_len > UINT32_MAX) return 0;
    uint8_t *p = buf;
    uint64_t bits;
    p[0] = 0x03, hand_st32(p + 1, m->u32), p += 5;
    p[0] = 0x14, hand_st64(p + 1, (uint64_t)m->i64), p += 9;
    memcpy(&bits, &m->f64, 8);
    p[0] = 0x24, hand_st64(p + 1, bits), p += 9;
    p[0] = 0x40, hand_st32(p + 1, (uint32_t)m->name_len), memcpy(p + 5, m->name, m->name_len), p += 5 + m->name_len;
    p[0] = 0x30, p[1] = m->flag ? 1 : 0, p += 2;
    p[0] = 0x02, hand_st16(p + 1, m->u16), p += 3;
    p[0] = 0x41, hand_st32(p + 1, (uint32_t)m->blob_len), memcpy(p + 5, m->blob, m->blob_len), p += 5 + m->blob_len;
    p[0] = 0x50, p[1] = 0x13, hand_st32(p + 2, m->nlist), p += 6;
    for (uint32_t i = 0; i < m->nlist; i++) hand_st32(p, (uint32_t)m->list[i]), p += 4;
    return (size_t)(p - buf);
}

/* Decodes buf[0..len) into m (string and bytes point into buf): true when it is exactly this layout,
 * well-formed, with valid UTF-8, a bool of 0 or 1 and at most MSG_LIST_MAX list elements. */
static inline bool hand_decode(struct msg *m, const uint8_t *buf, size_t len) {
    const uint8_t *p = buf, *end = buf + len;
    uint32_t n;
    if (end - p < 5 + 9 + 9 + 5 || p[0] != 0x03 || p[5] != 0x14 || p[14] != 0x24 || p[23] != 0x40) return false;
    m->u32 = hand_ld32(p + 1);
    uint64_t bits = hand_ld64(p + 6);
    memcpy(&m->i64, &bits, 8); /* the bits as they are: two's complement (wire_selfcheck) */
    bits = hand_ld64(p + 15);
    memcpy(&m->f64, &bits, 8);
    n = hand_ld32(p + 24);
    p += 28;
    if (n > (size_t)(end - p) || !hand_utf8(p, n)) return false;
    m->name = (const char *)p, m->name_len = n, p += n;
    if (end - p < 2 + 3 + 5 || p[0] != 0x30 || p[1] > 1 || p[2] != 0x02 || p[5] != 0x41) return false;
    m->flag = p[1];
    m->u16 = hand_ld16(p + 3);
    n = hand_ld32(p + 6);
    p += 10;
    if (n > (size_t)(end - p)) return false;
    m->blob = p, m->blob_len = n, p += n;
    if (end - p < 6 || p[0] != 0x50 || p[1] != 0x13) return false;
    n = hand_ld32(p + 2);
    p += 6;
    if (n > MSG_LIST_MAX || (size_t)(end - p) != 4 * (size_t)n) return false;
    m->nlist = n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t u = hand_ld32(p);
        memcpy(&m->list[i], &u, 4);
        p += 4;
    }
    return true;
}

#endif
