/* SPDX-License-Identifier: MIT */
/*
 * inline_all.c - calls every inline function of wire.h, so that `make check-compilers` compiles
 * them (they are compiled in every unit that includes the header) with the library's stricter
 * warnings: -Wconversion -Wsign-conversion -Wcast-align. Compiled, never run.
 */
#include "wire.h"

int wire_inline_all(void *buf, size_t cap);

int wire_inline_all(void *buf, size_t cap) {
    wire_writer w;
    wire_reader r;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    int bad = 0;

    wire_writer_init(&w, buf, cap);
    bad |= wire_put_u8(&w, 0xFF) != WIRE_OK;
    bad |= wire_put_u16(&w, 0xFFFF) != WIRE_OK;
    bad |= wire_put_u32(&w, 0xFFFFFFFFu) != WIRE_OK;
    bad |= wire_put_u64(&w, 0xFFFFFFFFFFFFFFFFu) != WIRE_OK;
    bad |= wire_put_i8(&w, -128) != WIRE_OK;
    bad |= wire_put_i16(&w, -32768) != WIRE_OK;
    bad |= wire_put_i32(&w, INT32_MIN) != WIRE_OK;
    bad |= wire_put_i64(&w, INT64_MIN) != WIRE_OK;
    bad |= wire_put_bool(&w, true) != WIRE_OK;
    bad |= wire_put_f32(&w, -0.0f) != WIRE_OK;
    bad |= wire_put_f64(&w, 1e308) != WIRE_OK;
    bad |= wire_put_f32_bits(&w, 0x7FC00001u) != WIRE_OK;
    bad |= wire_put_f64_bits(&w, 0x7FF0000000000001u) != WIRE_OK;
    bad |= wire_put_string(&w, "h\xC3\xA9", 3) != WIRE_OK;
    bad |= wire_put_bytes(&w, "\x00\x01", 2) != WIRE_OK;
    size_t len = 0;
    bad |= wire_writer_finish(&w, &len) != WIRE_OK;

    wire_reader_init(&r, buf, len);
    bad |= wire_get_u8(&r, &u8) != WIRE_OK;
    bad |= wire_get_u16(&r, &u16) != WIRE_OK;
    bad |= wire_get_u32(&r, &u32) != WIRE_OK;
    bad |= wire_get_u64(&r, &u64) != WIRE_OK;
    bad |= wire_get_i8(&r, &i8) != WIRE_OK;
    bad |= wire_get_i16(&r, &i16) != WIRE_OK;
    bad |= wire_get_i32(&r, &i32) != WIRE_OK;
    bad |= wire_get_i64(&r, &i64) != WIRE_OK;
    bool b = false;
    bad |= wire_get_bool(&r, &b) != WIRE_OK;
    bad |= wire_get_f32(&r, &f) != WIRE_OK;
    bad |= wire_get_f64(&r, &d) != WIRE_OK;
    bad |= wire_get_f32_bits(&r, &u32) != WIRE_OK;
    bad |= wire_get_f64_bits(&r, &u64) != WIRE_OK;
    const char *str;
    const uint8_t *bytes;
    size_t n;
    bad |= wire_get_string(&r, &str, &n) != WIRE_OK || n != 3;
    bad |= wire_get_bytes(&r, &bytes, &n) != WIRE_OK || n != 2;
    bad |= wire_reader_offset(&r) != len;
    bad |= wire_reader_finish(&r) != WIRE_OK;
    return bad;
}
