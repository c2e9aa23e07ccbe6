/* SPDX-License-Identifier: MIT */
/* conn_input.c - a connection's input buffer. It is allocated when bytes are to be read, grows to
 * the frame whose header is in (never past max_payload: a larger frame is refused from its header),
 * and is given back once the connection has held no input for a while (conn.c, TRIM_MS). A reply
 * sent straight from it (ECHO, PONG: no copy) pins it: bytes that frames in the output queue point
 * to must not move. A pinned buffer that must move (to make room, or to grow) is handed over to
 * the queue instead, which frees it once the last of those replies is sent, and reading goes on in
 * a new buffer. So a peer that pipelines without reading never stalls the connection below its
 * max_queued bound, and no byte is ever copied twice. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Referencing a payload is worth it when it is a good part of the buffer: a small one is copied,
 * so that a buffer is never kept alive by a reply much smaller than itself (at most 4 times). */
#define REF_MIN 512
/* The first buffer: a connection that says little (a HELLO, a PING now and then) needs no more, and
 * ten thousand idle ones then cost a few MiB, not 160. Reads that fill it double it, up to
 * inbuf_size. */
#define FIRST_SIZE 512

struct wire__pin {
    uint8_t *buf;  /* the buffer the references point into */
    unsigned refs; /* queued frames pointing into it */
    bool handed;   /* no longer the connection's input buffer: freed with its last reference */
};

bool wire__in_pinned(const wire_conn *c) { return c->pin && c->pin->refs > 0; }

static void unpin(void *arg) {
    wire__pin *p = arg;
    if (--p->refs == 0 && p->handed) {
        free(p->buf);
        free(p);
    }
}

/* The buffer is about to change (freed, moved, handed over): the pin record goes with it. */
static void forget_buffer(wire_conn *c) {
    if (!c->pin) return;
    if (c->pin->refs > 0) {
        c->pin->handed = true; /* the queue frees it */
    } else {
        free(c->pin);
    }
    c->pin = NULL;
}

/* A new buffer of `cap` bytes holding the unconsumed bytes of the old one; the old one is freed, or
 * handed over to the queue if pinned. */
static bool move_to(wire_conn *c, size_t cap) {
    size_t held = wire__in_held(&c->in);
    uint8_t *nb;
    if (!wire__in_pinned(c) && c->in.buf) {
        if (c->in.head > 0) { /* the frame to the front first: it then fits in exactly `cap` bytes */
            size_t room;
            (void)wire_parser_space(&c->in, &room);
        }
        if (!(nb = realloc(c->in.buf, cap))) return false;
        forget_buffer(c);
    } else {
        if (!(nb = malloc(cap))) return false; /* pinned (or none yet): the old one stays where it is */
        if (held) memcpy(nb, c->in.buf + c->in.head, held);
        forget_buffer(c);
    }
    wire_parser_init(&c->in, nb, cap, c->max_payload);
    c->in.tail = held;
    return true;
}

/* The size to grow to for a frame of `want` bytes of which `held` are here: twice what is held (the
 * first size at least), never more than the frame. Memory follows the bytes that came, not the
 * length a header announces: 8 bytes announcing 16 MiB cost the first size, not 16 MiB (SPEC 9.2);
 * doubling keeps the copies under twice the frame. */
static size_t grow_to(const wire_conn *c, size_t want, size_t held) {
    if (want <= held) return want;
    size_t cap = held > c->inbuf_size / 2 ? 2 * held : c->inbuf_size;
    return cap < want ? cap : want;
}

uint8_t *wire__in_space(wire_conn *c, size_t *room) {
    size_t want = wire__in_wanted(&c->in), max = WIRE_HEADER_SIZE + (size_t)c->max_payload;
    size_t held = wire__in_held(&c->in);
    bool filled = c->in_filled;
    c->in_filled = false;
    if (c->in.buf == NULL) {
        if (!move_to(c, c->inbuf_size < FIRST_SIZE ? c->inbuf_size : FIRST_SIZE)) return NULL;
    } else if (filled && c->in.cap < c->inbuf_size && want <= c->in.cap) { /* the peer sends more than it holds */
        if (!move_to(c, 2 * c->in.cap < c->inbuf_size ? 2 * c->in.cap : c->inbuf_size)) return NULL;
    } else if (want > c->in.cap && want <= max && held == c->in.cap) { /* full, the frame needs more */
        if (!move_to(c, grow_to(c, want, held))) return NULL;
    } else if (wire__in_pinned(c) && c->in.tail == c->in.cap) { /* full, and it must not move */
        size_t n = grow_to(c, want, held);
        if (!move_to(c, n > c->inbuf_size ? n : c->inbuf_size)) return NULL;
    }
    if (wire__in_pinned(c)) { /* read behind what is there, without moving it */
        *room = c->in.cap - c->in.tail;
        return c->in.buf + c->in.tail;
    }
    return wire_parser_space(&c->in, room);
}

bool wire__in_fit(wire_conn *c) {
    size_t want = wire__in_wanted(&c->in), held = wire__in_held(&c->in);
    if (want <= c->in.cap || want > WIRE_HEADER_SIZE + (size_t)c->max_payload || held < c->in.cap) return true;
    return move_to(c, grow_to(c, want, held));
}

void wire__in_release(wire_conn *c) {
    if (!c->in.buf) return;
    if (c->pin && c->pin->refs > 0) forget_buffer(c);
    else {
        forget_buffer(c);
        free(c->in.buf);
    }
    wire_parser_init(&c->in, NULL, 0, c->max_payload);
}

void wire__in_idle(wire_conn *c) {
    if (c->in.buf && wire__in_held(&c->in) == 0) wire__in_release(c);
}

wire_err wire__in_ref(wire_conn *c, wire_outq *q, uint16_t type, const wire_frame *f) {
    if (f->length < REF_MIN || (size_t)f->length < c->in.cap / 4) return wire_outq_push(q, type, f->payload, f->length);
    if (!c->pin) {
        if (!(c->pin = calloc(1, sizeof *c->pin))) return wire_outq_push(q, type, f->payload, f->length);
        c->pin->buf = c->in.buf;
    }
    c->pin->refs++;
    wire_err e = wire_outq_push_ref(q, type, f->payload, f->length, unpin, c->pin);
    if (e) c->pin->refs--;
    return e;
}
