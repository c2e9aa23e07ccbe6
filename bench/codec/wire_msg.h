/* SPDX-License-Identifier: MIT */
/* wire_msg.h - the representative message with libwire: its values, and the encode and decode that
 * the benchmark times (bench_codec.c) and the instruction-count guard counts
 * (bench/instructions/count.c), so that both measure the same code. */
#ifndef BENCH_WIRE_MSG_H
#define BENCH_WIRE_MSG_H

#include <string.h>
#include <wire.h>

#include "msg.h"

static const char g_name[] = "sensor-kitchen-1";
static const uint8_t g_blob[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static inline void msg_init(struct msg *m) {
    static const int32_t list[4] = {1, -2, 3, -4};
    m->u32 = 16909060;
    m->i64 = -1234567890123;
    m->f64 = 21.5;
    m->name = g_name;
    m->name_len = 16;
    m->flag = true;
    m->u16 = 513;
    m->blob = g_blob;
    m->blob_len = 16;
    m->nlist = 4;
    memcpy(m->list, list, sizeof list);
}

static inline size_t msg_wire_encode(const struct msg *m, uint8_t *buf, size_t cap) {
    wire_writer w;
    size_t len;
    wire_writer_init(&w, buf, cap);
    wire_put_u32(&w, m->u32);
    wire_put_i64(&w, m->i64);
    wire_put_f64(&w, m->f64);
    wire_put_string(&w, m->name, m->name_len);
    wire_put_bool(&w, m->flag);
    wire_put_u16(&w, m->u16);
    wire_put_bytes(&w, m->blob, m->blob_len);
    wire_put_list_begin(&w, WIRE_T_I32);
    for (uint32_t i = 0; i < m->nlist; i++) wire_put_i32(&w, m->list[i]);
    wire_put_list_end(&w);
    return wire_writer_finish(&w, &len) == WIRE_OK ? len : 0;
}

static inline bool msg_wire_decode(struct msg *m, const uint8_t *buf, size_t len) {
    wire_reader r;
    wire_type elem;
    uint32_t n;
    wire_reader_init(&r, buf, len);
    wire_get_u32(&r, &m->u32);
    wire_get_i64(&r, &m->i64);
    wire_get_f64(&r, &m->f64);
    wire_get_string(&r, &m->name, &m->name_len);
    wire_get_bool(&r, &m->flag);
    wire_get_u16(&r, &m->u16);
    wire_get_bytes(&r, &m->blob, &m->blob_len);
    if (wire_get_list_begin(&r, &elem, &n) || elem != WIRE_T_I32 || n > MSG_LIST_MAX) return false;
    m->nlist = n;
    for (uint32_t i = 0; i < n; i++) wire_get_i32(&r, &m->list[i]);
    wire_get_list_end(&r);
    return wire_reader_finish(&r) == WIRE_OK;
}

#endif
