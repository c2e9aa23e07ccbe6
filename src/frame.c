/* SPDX-License-Identifier: MIT */
/* frame.c - the 8-byte frame header and the frame parsers (stateless and incremental). */
/* The exported functions are defined here: no macro may send their names to the inline versions. */
#define WIRE__NO_INLINE_MACROS
#include "internal.h"

#include <string.h>

void wire_header_encode(uint8_t out[WIRE_HEADER_SIZE], uint16_t type, uint32_t length) {
    wire__header_encode(out, type, length);
}

wire_err wire_header_decode(const uint8_t in[WIRE_HEADER_SIZE], uint32_t max_payload, wire_header *h,
                            size_t *err_offset) {
    return wire__header_decode(in, max_payload, h, err_offset);
}

int wire_frame_parse(const void *buf, size_t len, uint32_t max_payload, wire_frame *f, wire_err *err,
                     size_t *err_offset) {
    return wire__frame_parse(buf, len, max_payload, f, err, err_offset);
}

void wire_parser_init(wire_parser *p, void *buf, size_t cap, uint32_t max_payload) {
    memset(p, 0, sizeof *p);
    p->buf = buf;
    p->cap = cap;
    p->max_payload = max_payload;
}

/* The limit the buffer can honour: a frame must fit in it whole. */
static uint32_t effective_max(const wire_parser *p) {
    if (p->cap < WIRE_HEADER_SIZE) return 0;
    size_t room = p->cap - WIRE_HEADER_SIZE;
    return room < p->max_payload ? (uint32_t)room : p->max_payload;
}

uint8_t *wire_parser_space(wire_parser *p, size_t *room) {
    /* Moving the partial frame to the front costs at most one frame's bytes, and only happens once
     * whole frames before it were consumed; it keeps every frame contiguous without a ring. */
    if (p->head > 0) {
        size_t n = p->tail - p->head;
        if (n) memmove(p->buf, p->buf + p->head, n);
        p->head = 0;
        p->tail = n;
    }
    *room = p->cap - p->tail;
    return p->buf + p->tail;
}

void wire_parser_advance(wire_parser *p, size_t n) {
    if (n > p->cap - p->tail) n = p->cap - p->tail; /* never trust a count past the buffer */
    p->tail += n;
}

size_t wire_parser_feed(wire_parser *p, const void *data, size_t n) {
    size_t room;
    uint8_t *dst = wire_parser_space(p, &room);
    if (n > room) n = room;
    if (n) memcpy(dst, data, n);
    p->tail += n;
    return n;
}

int wire_parser_next(wire_parser *p, wire_frame *f) {
    if (p->err) return -1;
    int rc = wire__frame_parse(p->buf + p->head, p->tail - p->head, effective_max(p), f, &p->err, &p->err_offset);
    if (rc == 1) p->head += f->size;
    return rc;
}

wire_err wire_parser_error(const wire_parser *p, size_t *offset) {
    if (offset) *offset = p->err ? p->err_offset : 0;
    return p->err;
}

size_t wire_parser_buffered(const wire_parser *p) { return p->tail - p->head; }

size_t wire_parser_wanted(const wire_parser *p) {
    if (p->tail - p->head < WIRE_HEADER_SIZE) return 0;
    return WIRE_HEADER_SIZE + (size_t)wire__load32(p->buf + p->head + 4);
}

wire_err wire_parser_rebind(wire_parser *p, void *buf, size_t cap) {
    if (cap < p->tail) return WIRE_EINVAL;
    p->buf = buf;
    p->cap = cap;
    return WIRE_OK;
}
