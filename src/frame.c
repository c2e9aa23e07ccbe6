/* frame.c - the 8-byte frame header and the frame parsers (stateless and incremental). */
#include "internal.h"

#include <string.h>

void wire_header_encode(uint8_t out[WIRE_HEADER_SIZE], uint16_t type, uint32_t length) {
    out[0] = WIRE_PROTOCOL_VERSION;
    out[1] = 0;
    wire__store16(out + 2, type);
    wire__store32(out + 4, length);
}

wire_err wire_header_decode(const uint8_t in[WIRE_HEADER_SIZE], uint32_t max_payload, wire_header *h,
                            size_t *err_offset) {
    h->version = in[0];
    h->flags = in[1];
    h->type = wire__load16(in + 2);
    h->length = wire__load32(in + 4);
    wire_err e = WIRE_OK;
    size_t at = 0;
    /* SPEC order: version, flags, type, length. */
    if (h->version != WIRE_PROTOCOL_VERSION) e = WIRE_EVERSION, at = 0;
    else if (h->flags != 0) e = WIRE_EHEADER, at = 1;
    else if (h->type == 0) e = WIRE_EHEADER, at = 2;
    else if (h->length > max_payload) e = WIRE_ETOOBIG, at = 4;
    if (err_offset) *err_offset = at;
    return e;
}

int wire_frame_parse(const void *buf, size_t len, uint32_t max_payload, wire_frame *f, wire_err *err,
                     size_t *err_offset) {
    const uint8_t *p = buf;
    wire_header h;
    *err = WIRE_OK;
    if (len < WIRE_HEADER_SIZE) return 0;
    *err = wire_header_decode(p, max_payload, &h, err_offset);
    if (*err) return -1;
    if (len - WIRE_HEADER_SIZE < h.length) return 0;
    f->type = h.type;
    f->length = h.length;
    f->payload = p + WIRE_HEADER_SIZE;
    f->size = WIRE_HEADER_SIZE + (size_t)h.length;
    return 1;
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
    int rc = wire_frame_parse(p->buf + p->head, p->tail - p->head, effective_max(p), f, &p->err, &p->err_offset);
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
