/* SPDX-License-Identifier: MIT */
/* pair.h - a wire_conn on one end of a socket pair, the test on the other end with raw bytes: the
 * real connection object, real sockets, no network, and every step deterministic (what is written
 * to one end is readable at the other at once). Include after testutil.h. */
#ifndef WIRE_TEST_PAIR_H
#define WIRE_TEST_PAIR_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

typedef void (*pair_handler)(wire_conn *c, const wire_frame *f, void *arg);

typedef struct pair {
    wire_conn *c;     /* the connection under test */
    int peer;         /* the other end: the test's raw socket */
    pair_handler on_frame;
    void *arg;
    uint8_t *in; /* bytes read from the connection, not yet taken as frames */
    size_t in_len, in_cap;
} pair;

/* A pair whose connection has this configuration (NULL: the client defaults). */
static inline void pair_open(pair *p, const wire_conn_config *cfg, pair_handler on_frame, void *arg) {
    int sv[2];
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(wire_conn_new(sv[0], cfg, &p->c), WIRE_OK);
    p->peer = sv[1];
    p->on_frame = on_frame;
    p->arg = arg;
    p->in_cap = 1 << 16;
    p->in = malloc(p->in_cap);
    assert_non_null(p->in);
}

static inline void pair_close(pair *p) {
    wire_conn_free(p->c);
    if (p->peer >= 0) close(p->peer);
    p->c = NULL;
    p->peer = -1;
    free(p->in);
    p->in = NULL;
}

/* Drives the connection until it makes no more progress: reads, hands frames to the handler, writes,
 * acts on the time. */
static inline void pair_pump(pair *p) {
    for (int round = 0; round < 10000; round++) {
        wire_conn_stats before, after;
        wire_conn_state st = wire_conn_get_state(p->c);
        wire_conn_get_stats(p->c, &before);
        size_t queued = wire_conn_queued(p->c);
        (void)wire_conn_read(p->c);
        wire_frame f;
        int rc;
        while ((rc = wire_conn_next(p->c, &f)) == 1) {
            if (p->on_frame) p->on_frame(p->c, &f, p->arg);
        }
        (void)wire_conn_write(p->c);
        wire_conn_check_time(p->c, wire_now_ms());
        wire_conn_get_stats(p->c, &after);
        if (after.bytes_in == before.bytes_in && after.bytes_out == before.bytes_out &&
            after.frames_in == before.frames_in && wire_conn_queued(p->c) == queued &&
            wire_conn_get_state(p->c) == st)
            return;
    }
    fail_msg("pair_pump: the connection never settled");
}

/* Writes raw bytes to the connection, then pumps it. */
static inline void pair_send_raw(pair *p, const void *bytes, size_t n) {
    const uint8_t *b = bytes;
    while (n > 0) {
        ssize_t w = send(p->peer, b, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
    pair_pump(p);
}

/* Writes a whole frame. */
static inline void pair_send(pair *p, uint16_t type, const void *payload, size_t len) {
    uint8_t hdr[WIRE_HEADER_SIZE];
    wire_header_encode(hdr, type, (uint32_t)len);
    const uint8_t *b = hdr;
    size_t n = sizeof hdr;
    while (n > 0) {
        ssize_t w = send(p->peer, b, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
    pair_send_raw(p, payload, len);
}

/* Reads what the connection sent; false at EOF (nothing more will come). Waits up to ms. */
static inline bool pair_fill(pair *p, int ms) {
    struct pollfd pf = {p->peer, POLLIN, 0};
    if (poll(&pf, 1, ms) <= 0) return true;
    if (p->in_len == p->in_cap) {
        p->in_cap *= 2;
        p->in = realloc(p->in, p->in_cap);
        assert_non_null(p->in);
    }
    ssize_t n = read(p->peer, p->in + p->in_len, p->in_cap - p->in_len);
    if (n < 0 && errno == ECONNRESET) return false;
    assert_true(n >= 0);
    p->in_len += (size_t)n;
    return n > 0;
}

/* True if a whole frame has come (*f points into p->in until the next pair_take/pair_fill). */
static inline bool pair_take(pair *p, wire_frame *f) {
    wire_err e;
    int rc = wire_frame_parse(p->in, p->in_len, UINT32_MAX - WIRE_HEADER_SIZE, f, &e, NULL);
    assert_true(rc >= 0);
    return rc == 1;
}

/* Drops the frame pair_take() returned. */
static inline void pair_drop(pair *p, const wire_frame *f) {
    memmove(p->in, p->in + f->size, p->in_len - f->size);
    p->in_len -= f->size;
}

/* The next frame the connection sent, which must be of this type, as a copy (free() it) that
 * outlives the buffer. */
static inline wire_frame *pair_expect(pair *p, uint16_t type) {
    wire_frame f;
    for (int k = 0; k < 200 && !pair_take(p, &f); k++) {
        pair_pump(p);
        if (!pair_fill(p, 10) && !pair_take(p, &f)) fail_msg("expected a frame of type 0x%04x, got EOF", type);
    }
    if (!pair_take(p, &f)) fail_msg("expected a frame of type 0x%04x, nothing came", type);
    if (f.type != type) fprintf(stderr, "frame type 0x%04x, expected 0x%04x\n", f.type, type);
    assert_int_equal(f.type, type);
    wire_frame *d = wire_frame_dup(&f);
    assert_non_null(d);
    pair_drop(p, &f);
    return d;
}

/* The connection sent ERROR(code, offset), then ended its output (EOF): nothing after the ERROR. */
static inline void pair_expect_error(pair *p, wire_err code, uint32_t offset) {
    wire_error_msg m;
    wire_frame *f = pair_expect(p, WIRE_MSG_ERROR);
    assert_int_equal(wire_get_error_msg(f->payload, f->length, &m, NULL), WIRE_OK);
    if (m.code != code || m.offset != offset)
        fprintf(stderr, "ERROR %u at %u (%.*s), expected %u at %u\n", m.code, m.offset, (int)m.text_len, m.text,
                (unsigned)code, (unsigned)offset);
    assert_int_equal(m.code, code);
    assert_int_equal(m.offset, offset);
    free(f);
    int k = 0;
    while (pair_fill(p, 100) && k++ < 100) pair_pump(p);
    assert_int_equal(p->in_len, 0); /* nothing after the ERROR, then EOF */
}

/* The HELLO a client sends: version, max payload, name. */
static inline size_t pair_hello_payload(uint8_t *buf, size_t cap, uint16_t version, uint32_t max, const char *name) {
    wire_writer w;
    size_t n = 0;
    wire_hello h = {version, max, name, strlen(name)};
    wire_writer_init(&w, buf, cap);
    (void)wire_put_hello(&w, &h);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    return n;
}

/* A server connection's handshake with a client announcing peer_max: HELLO in, HELLO out. */
static inline void pair_handshake(pair *p, uint32_t peer_max) {
    uint8_t buf[300];
    size_t n = pair_hello_payload(buf, sizeof buf, 1, peer_max, "test");
    pair_send(p, WIRE_MSG_HELLO, buf, n);
    wire_frame *f = pair_expect(p, WIRE_MSG_HELLO);
    wire_hello h;
    assert_int_equal(wire_get_hello(f->payload, f->length, &h, NULL), WIRE_OK);
    assert_int_equal(h.version, 1);
    free(f);
    assert_int_equal(wire_conn_get_state(p->c), WIRE_CONN_OPEN);
}

#endif
