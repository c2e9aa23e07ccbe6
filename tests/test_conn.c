/* SPDX-License-Identifier: MIT */
/* test_conn.c - the connection object over a socket pair: the handshake in both roles, PING/PONG,
 * a received ERROR as an error value, BYE, the graceful close, half-close, backpressure, every
 * timeout (the clock is the test's: wire_conn_check_time takes the time), header errors, frames
 * split at every byte, frames that outgrow the first buffer, replies that point into the input
 * buffer, and the blocking helpers. */
#include "testutil.h"
#include "pair.h"

#include <pthread.h>
#include <signal.h>

static wire_conn_config server_cfg(void) {
    wire_conn_config cc;
    wire_conn_config_init(&cc, WIRE_ROLE_SERVER);
    cc.name = "srv";
    return cc;
}

/* The application's side of the tests: echo every application frame back with type + 1, without a
 * copy (the payload stays in the input buffer until it is sent). */
static int handled;
static void echo(wire_conn *c, const wire_frame *f, void *arg) {
    (void)arg;
    handled++;
    assert_int_equal(wire_conn_send_frame_payload(c, (uint16_t)(f->type + 1), f), WIRE_OK);
}

/* ---- the handshake ---- */

static void test_server_handshake(void **state) {
    (void)state;
    pair p;
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_HANDSHAKE);
    assert_int_equal(wire_conn_send(p.c, 0x8000, "x", 1), WIRE_EINVAL); /* nothing before the handshake */
    uint8_t buf[300];
    size_t n = pair_hello_payload(buf, sizeof buf, 1, 2000, "peer-name");
    pair_send(&p, WIRE_MSG_HELLO, buf, n);
    wire_frame *f = pair_expect(&p, WIRE_MSG_HELLO);
    wire_hello h;
    assert_int_equal(wire_get_hello(f->payload, f->length, &h, NULL), WIRE_OK);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.max_payload, WIRE_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(h.name_len, 3);
    assert_memory_equal(h.name, "srv", 3);
    free(f);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_OPEN);
    assert_int_equal(wire_conn_peer_max(p.c), 2000);
    /* the name is the connection's copy: it survives the input buffer being reused */
    static uint8_t junk[2100];
    pair_send(&p, 0x8000, junk, 900);
    free(pair_expect(&p, 0x8001));
    size_t len;
    const char *name = wire_conn_peer_name(p.c, &len);
    assert_int_equal(len, 9);
    assert_memory_equal(name, "peer-name", 9);
    assert_string_equal(wire_conn_peer_addr(p.c), "unix");
    assert_int_equal(wire_conn_send(p.c, 0x8000, junk, 2001), WIRE_ETOOBIG); /* over the peer's max */
    assert_int_equal(wire_conn_send(p.c, 0x8000, junk, 2000), WIRE_OK);
    pair_close(&p);
}

/* HELLO and a request in one segment: both are handled, in order. */
static void test_pipelined_after_hello(void **state) {
    (void)state;
    pair p;
    uint8_t raw[400], buf[300];
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    size_t n = pair_hello_payload(buf, sizeof buf, 1, 1 << 20, "t");
    wire_header_encode(raw, WIRE_MSG_HELLO, (uint32_t)n);
    memcpy(raw + 8, buf, n);
    wire_header_encode(raw + 8 + n, 0x8010, 3);
    memcpy(raw + 16 + n, "abc", 3);
    handled = 0;
    pair_send_raw(&p, raw, 16 + n + 3);
    free(pair_expect(&p, WIRE_MSG_HELLO));
    wire_frame *f = pair_expect(&p, 0x8011);
    assert_int_equal(f->length, 3);
    assert_memory_equal(f->payload, "abc", 3);
    free(f);
    assert_int_equal(handled, 1);
    pair_close(&p);
}

/* SPEC 8.3 before and at the handshake: the ERROR code and offset for each fault, then EOF. */
static void test_handshake_faults(void **state) {
    (void)state;
    static const struct {
        uint16_t type;
        uint8_t payload[40];
        size_t len;
        wire_err code;
        uint32_t offset;
    } cases[] = {
        {WIRE_MSG_PING, {1}, 1, WIRE_EUNEXPECTED, 2},                                      /* not HELLO first */
        {0x8000, {0}, 0, WIRE_EUNEXPECTED, 2},                                             /* nor an application's */
        {WIRE_MSG_HELLO, {0x02, 0, 2, 0x03, 0, 0, 1, 0, 0x40, 0, 0, 0, 0}, 13, WIRE_EVERSION, 9}, /* version 2 */
        {WIRE_MSG_HELLO, {0x03, 0, 0, 0, 1, 0x03, 0, 0, 1, 0, 0x40, 0, 0, 0, 0}, 15, WIRE_EMESSAGE, 8}, /* u32 version */
        {WIRE_MSG_HELLO, {0x02, 0, 1, 0x03, 1, 0, 0, 0}, 8, WIRE_EMESSAGE, 16},            /* no name */
        {WIRE_MSG_HELLO, {0x02, 0, 1, 0x03, 1, 0, 0, 0, 0x40, 0, 0, 0, 1, 0xff}, 14, WIRE_EUTF8, 21}, /* bad UTF-8 */
        {WIRE_MSG_HELLO, {0x02, 0, 1, 0x03, 0, 0, 0x04, 0x0c, 0x40, 0, 0, 0, 0}, 13, WIRE_EMESSAGE, 12}, /* max 1036 */
        {WIRE_MSG_HELLO, {0x02, 0, 1, 0x77}, 4, WIRE_EBADTAG, 11},                          /* undecodable */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair p;
        wire_conn_config cc = server_cfg();
        pair_open(&p, &cc, echo, NULL);
        pair_send(&p, cases[i].type, cases[i].payload, cases[i].len);
        pair_expect_error(&p, cases[i].code, cases[i].offset);
        shutdown(p.peer, SHUT_WR); /* the peer leaves: the reason stays the ERROR we sent */
        pair_pump(&p);
        assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
        assert_int_equal(wire_conn_error(p.c, NULL), cases[i].code);
        assert_non_null(strstr(wire_conn_errstr(p.c), "sent ERROR"));
        pair_close(&p);
    }
}

/* Header faults are answered from the header alone, even with no payload sent (TOOBIG at 4). */
static void test_header_faults(void **state) {
    (void)state;
    static const struct {
        uint8_t h[8];
        wire_err code;
        uint32_t offset;
    } cases[] = {
        {{2, 0, 0, 3, 0, 0, 0, 0}, WIRE_EVERSION, 0},
        {{1, 1, 0, 3, 0, 0, 0, 0}, WIRE_EHEADER, 1},
        {{1, 0, 0, 0, 0, 0, 0, 0}, WIRE_EHEADER, 2},
        {{1, 0, 0x80, 0, 0x01, 0, 0, 1}, WIRE_ETOOBIG, 4}, /* 16 MiB + 1 */
        {{1, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff}, WIRE_ETOOBIG, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair p;
        wire_conn_config cc = server_cfg();
        pair_open(&p, &cc, echo, NULL);
        pair_handshake(&p, 1 << 20);
        pair_send_raw(&p, cases[i].h, 8);
        pair_expect_error(&p, cases[i].code, cases[i].offset);
        pair_close(&p);
    }
}

/* ---- control frames after the handshake ---- */

static void test_ping_pong_and_unsolicited_pong(void **state) {
    (void)state;
    pair p;
    static uint8_t big[3000];
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    handled = 0;
    pair_send(&p, WIRE_MSG_PING, big, sizeof big);
    wire_frame *f = pair_expect(&p, WIRE_MSG_PONG);
    assert_int_equal(f->length, sizeof big);
    assert_memory_equal(f->payload, big, sizeof big);
    free(f);
    assert_int_equal(handled, 0); /* the connection's own: the application never saw it */
    /* our PING's PONG reaches the application; a PONG nobody asked for is UNEXPECTED */
    assert_int_equal(wire_conn_ping(p.c, "ab", 2), WIRE_OK);
    pair_pump(&p);
    free(pair_expect(&p, WIRE_MSG_PING));
    pair_send(&p, WIRE_MSG_PONG, "ab", 2);
    assert_int_equal(handled, 1);
    free(pair_expect(&p, WIRE_MSG_PONG + 1)); /* echo() answered it with type + 1 */
    pair_send(&p, WIRE_MSG_PONG, "ab", 2);
    pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
    pair_close(&p);
}

/* A PING larger than the peer accepts back: TOOBIG without an offset (SPEC 10.1). */
static void test_pong_too_big_for_the_peer(void **state) {
    (void)state;
    pair p;
    static uint8_t big[2000];
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, WIRE_MIN_MAX_PAYLOAD);
    pair_send(&p, WIRE_MSG_PING, big, WIRE_MIN_MAX_PAYLOAD);
    free(pair_expect(&p, WIRE_MSG_PONG));
    pair_send(&p, WIRE_MSG_PING, big, WIRE_MIN_MAX_PAYLOAD + 1);
    pair_expect_error(&p, WIRE_ETOOBIG, WIRE_NO_OFFSET);
    pair_close(&p);
}

/* A received ERROR ends the connection: its code, offset and text are the error value; nothing is
 * answered; what was queued is not sent. */
static void test_received_error(void **state) {
    (void)state;
    pair p;
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, NULL, NULL);
    pair_handshake(&p, 1 << 20);
    assert_int_equal(wire_conn_send(p.c, 0x8005, "queued", 6), WIRE_OK);
    static const uint8_t err[] = {0x02, 0x00, 0x13, 0x03, 0, 0, 0, 42, 0x40, 0, 0, 0, 4, 'f', 'u', 'l', 'l'};
    uint8_t raw[8 + sizeof err];
    wire_header_encode(raw, WIRE_MSG_ERROR, sizeof err);
    memcpy(raw + 8, err, sizeof err);
    assert_int_equal(send(p.peer, raw, sizeof raw, 0), (ssize_t)sizeof raw);
    (void)wire_conn_read(p.c);
    wire_frame f;
    assert_int_equal(wire_conn_next(p.c, &f), -1);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
    assert_int_equal(wire_conn_events(p.c), 0);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_EPEER);
    wire_error_msg m;
    assert_true(wire_conn_peer_error(p.c, &m));
    assert_int_equal(m.code, WIRE_ELIMIT);
    assert_int_equal(m.offset, 42);
    assert_int_equal(m.text_len, 4);
    assert_memory_equal(m.text, "full", 4);
    assert_non_null(strstr(wire_conn_errstr(p.c), "LIMIT"));
    (void)wire_conn_write(p.c);
    assert_false(pair_fill(&p, 50) && p.in_len > 0); /* not even the queued frame */
    pair_close(&p);
}

/* BYE from the peer: answered with BYE, then shutdown: the peer reads BYE then EOF. Frames after the
 * BYE are not processed. */
static void test_bye_answered(void **state) {
    (void)state;
    pair p;
    uint8_t raw[16];
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    handled = 0;
    wire_header_encode(raw, WIRE_MSG_BYE, 0);
    wire_header_encode(raw + 8, 0x8000, 0);
    pair_send_raw(&p, raw, 16);
    free(pair_expect(&p, WIRE_MSG_BYE));
    assert_false(pair_fill(&p, 500)); /* EOF */
    assert_int_equal(p.in_len, 0);
    assert_int_equal(handled, 0);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_OK);
    assert_string_equal(wire_conn_errstr(p.c), "BYE");
    pair_close(&p);
}

/* Our BYE: replies to the requests sent before it still come through; the peer's BYE ends it. */
static void test_our_bye_keeps_replies(void **state) {
    (void)state;
    pair p;
    wire_conn_config cc;
    wire_conn_config_init(&cc, WIRE_ROLE_CLIENT);
    pair_open(&p, &cc, NULL, NULL);
    free(pair_expect(&p, WIRE_MSG_HELLO)); /* a client says HELLO first */
    uint8_t buf[300];
    size_t n = pair_hello_payload(buf, sizeof buf, 1, 1 << 20, "server");
    pair_send(&p, WIRE_MSG_HELLO, buf, n);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_OPEN);
    assert_int_equal(wire_conn_send(p.c, 0x8000, "q", 1), WIRE_OK);
    assert_int_equal(wire_conn_bye(p.c), WIRE_OK);
    assert_int_equal(wire_conn_send(p.c, 0x8000, "q", 1), WIRE_EINVAL); /* nothing after BYE */
    pair_pump(&p);
    free(pair_expect(&p, 0x8000));
    free(pair_expect(&p, WIRE_MSG_BYE));
    uint8_t raw[8 + 8 + 1 + 8];
    wire_header_encode(raw, WIRE_MSG_PING, 0); /* a PING after our BYE: not answered */
    wire_header_encode(raw + 8, 0x8001, 1);
    raw[16] = 'r';
    wire_header_encode(raw + 17, WIRE_MSG_BYE, 0);
    assert_int_equal(send(p.peer, raw, sizeof raw, 0), (ssize_t)sizeof raw);
    (void)wire_conn_read(p.c);
    wire_frame f;
    assert_int_equal(wire_conn_next(p.c, &f), 1);
    assert_int_equal(f.type, 0x8001);
    assert_int_equal(wire_conn_next(p.c, &f), -1);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_OK);
    (void)wire_conn_write(p.c);
    assert_true(pair_fill(&p, 50));
    assert_int_equal(p.in_len, 0); /* no PONG */
    pair_close(&p);
}

/* ---- the end of the stream ---- */

/* The peer sends its requests and shuts down its sending side: every reply still arrives, then EOF
 * (the bug: the connection was freed on read() == 0 with its queue unsent). */
static void test_half_close_gets_every_reply(void **state) {
    (void)state;
    pair p;
    enum { N = 1000 };
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, NULL, NULL);
    pair_handshake(&p, 1 << 20);
    static uint8_t raw[N * 12];
    for (int i = 0; i < N; i++) {
        wire_header_encode(raw + i * 12, WIRE_MSG_PING, 4);
        raw[i * 12 + 8] = (uint8_t)(i >> 24), raw[i * 12 + 9] = (uint8_t)(i >> 16);
        raw[i * 12 + 10] = (uint8_t)(i >> 8), raw[i * 12 + 11] = (uint8_t)i;
    }
    size_t off = 0;
    int pongs = 0;
    while (off < sizeof raw) { /* written in pieces while the replies are read: no deadlock */
        ssize_t w = send(p.peer, raw + off, sizeof raw - off, MSG_DONTWAIT);
        if (w > 0) off += (size_t)w;
        pair_pump(&p);
        pair_fill(&p, 0);
    }
    shutdown(p.peer, SHUT_WR);
    for (int k = 0; k < 1000 && wire_conn_get_state(p.c) != WIRE_CONN_CLOSED; k++) {
        pair_pump(&p);
        if (!pair_fill(&p, 10)) break;
    }
    wire_frame f;
    while (pair_take(&p, &f)) {
        assert_int_equal(f.type, WIRE_MSG_PONG);
        assert_int_equal((uint32_t)f.payload[0] << 24 | (uint32_t)f.payload[1] << 16 | (uint32_t)f.payload[2] << 8 |
                             f.payload[3],
                         (uint32_t)pongs);
        pongs++;
        pair_drop(&p, &f);
    }
    assert_int_equal(pongs, N);
    assert_false(pair_fill(&p, 500)); /* then EOF */
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_ECLOSED);
    pair_close(&p);
}

/* EOF in the middle of a frame: TRUNCATED locally, the frames before it answered, nothing sent for
 * the cut one. */
static void test_eof_mid_frame(void **state) {
    (void)state;
    pair p;
    uint8_t raw[8 + 2 + 8];
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    wire_header_encode(raw, 0x8002, 2);
    raw[8] = 'o', raw[9] = 'k';
    wire_header_encode(raw + 10, 0x8002, 100); /* 6 of its header bytes only */
    assert_int_equal(send(p.peer, raw, sizeof raw - 2, 0), (ssize_t)sizeof raw - 2);
    shutdown(p.peer, SHUT_WR);
    pair_pump(&p);
    free(pair_expect(&p, 0x8003));
    assert_false(pair_fill(&p, 500));
    assert_int_equal(p.in_len, 0);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_ETRUNCATED);
    pair_close(&p);
}

/* ---- the stream is a stream ---- */

/* Frames fed one byte at a time and all at once; payloads far beyond the first buffer (16 KiB),
 * answered from the input buffer itself while more frames arrive behind them. */
#ifdef __GLIBC__
#include <malloc.h>
static size_t heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd; /* the heap's and mmap()ed chunks in use */
}
#endif
/* Under AddressSanitizer or ThreadSanitizer (or valgrind) malloc is not glibc's, and mallinfo2()
 * does not see it. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAP_OWN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define HEAP_OWN_MALLOC 1
#endif
#endif
#ifndef HEAP_OWN_MALLOC
#define HEAP_OWN_MALLOC 0
#endif

/* SPEC 9.2: the input buffer grows with the bytes that came, not with the length a header announces
 * (it used to take 8 + length at once: 8 bytes announcing 4 MiB cost 4 MiB). The frame is still
 * received whole and answered. */
static void test_buffer_follows_bytes_not_header(void **state) {
    (void)state;
#ifndef __GLIBC__
    skip(); /* the heap is measured with glibc's mallinfo2() */
#else
    enum { LEN = 4 << 20 };
    pair p;
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    uint8_t *raw = malloc(8 + LEN);
    assert_non_null(raw);
    wire_header_encode(raw, 0x8000, LEN);
    for (size_t k = 0; k < LEN; k++) raw[8 + k] = (uint8_t)(k * 7 + 1);
    size_t before = heap_in_use();
    pair_send_raw(&p, raw, 8 + 100);
    size_t after = heap_in_use();
    if (after > before + (256u << 10))
        fail_msg("a header announcing %d bytes and 100 bytes of payload took %zu KiB", LEN, (after - before) >> 10);
    size_t off = 108;
    while (off < 8 + (size_t)LEN) {
        ssize_t w = send(p.peer, raw + off, 8 + LEN - off, MSG_DONTWAIT);
        if (w > 0) off += (size_t)w;
        pair_pump(&p);
        pair_fill(&p, 0);
    }
    wire_frame *f = pair_expect(&p, 0x8001);
    assert_int_equal(f->length, LEN);
    assert_memory_equal(f->payload, raw + 8, LEN);
    free(f);
    free(raw);
    pair_close(&p);
#endif
}

/* The buffers are kept while the peer is active (freeing and allocating them for every message cost
 * a malloc and a free per ping-pong ECHO, and fresh pages for every large frame), and given back
 * once it has been idle for a second, so that an idle connection holds no buffer (SECURITY.md's
 * memory per connection). */
static void test_buffers_kept_while_active_freed_when_idle(void **state) {
    (void)state;
#ifndef __GLIBC__
    skip(); /* the heap is measured with glibc's mallinfo2() */
#else
    if (HEAP_OWN_MALLOC || getenv("WIRE_UNDER_VALGRIND")) skip(); /* mallinfo2() sees glibc's malloc only */
    pair p;
    wire_conn_config cc = server_cfg();
    size_t none = heap_in_use();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    /* one second past the handshake: its buffers are back, the connection alone is left */
    wire_conn_check_time(p.c, wire_now_ms() + 1100);
    size_t idle = heap_in_use();
    idle -= p.in_cap; /* the test's own buffer */
    if (idle > none + 2048) fail_msg("an idle connection holds %zu bytes", idle - none);
    idle += p.in_cap;
    /* frames of 2 KiB: buffers past the sizes glibc's thread cache keeps (mallinfo2 counts what it
     * holds as in use, so smaller ones could not be told from freed ones) */
    enum { LEN = 2048 };
    static uint8_t raw[8 + LEN], data[LEN];
    wire_header_encode(raw, 0x8000, LEN);
    for (int k = 0; k < 3; k++) {
        pair_send_raw(&p, raw, sizeof raw);
        pair_pump(&p);
        free(pair_expect(&p, 0x8001));
        size_t busy = heap_in_use();
        if (busy < idle + LEN)
            fail_msg("exchange %d: %zu bytes in use over idle, the input buffer (%d bytes at least) was not kept", k,
                     busy > idle ? busy - idle : 0, LEN);
    }
    wire_conn_check_time(p.c, wire_now_ms() + 500); /* not yet */
    assert_true(heap_in_use() >= idle + LEN);
    wire_conn_check_time(p.c, wire_now_ms() + 1100);
    /* (a few small chunks freed go to glibc's thread cache, which mallinfo2 counts as in use) */
    if (heap_in_use() > idle + 256)
        fail_msg("idle for a second: %zu bytes still held over the idle connection's", heap_in_use() - idle);
    /* output alone (a server that pushes, a peer that says nothing): its buffer goes back too */
    assert_int_equal(wire_conn_send(p.c, 0x8001, data, sizeof data), WIRE_OK);
    pair_pump(&p);
    free(pair_expect(&p, 0x8001));
    wire_conn_check_time(p.c, wire_now_ms() + 1100);
    if (heap_in_use() > idle + 256)
        fail_msg("after a push: %zu bytes still held over the idle connection's", heap_in_use() - idle);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_OPEN);
    pair_close(&p);
#endif
}

/* The input buffer starts small (an idle connection must cost little) and doubles while reads fill
 * it, to inbuf_size: a peer that pipelines small frames is soon read 16 KiB at a time, not 512. */
static void test_input_buffer_doubles_under_load(void **state) {
    (void)state;
    enum { FRAMES = 4096, LEN = 8 };
    pair p;
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    static uint8_t raw[FRAMES * (8 + LEN)];
    for (int k = 0; k < FRAMES; k++) wire_header_encode(raw + k * (8 + LEN), 0x8000, LEN);
    size_t off = 0, biggest = 0, reads = 0;
    wire_conn_stats st;
    wire_conn_get_stats(p.c, &st);
    uint64_t in = st.bytes_in;
    while (off < sizeof raw || in < st.bytes_in + 1) {
        ssize_t w = off < sizeof raw ? send(p.peer, raw + off, sizeof raw - off, MSG_DONTWAIT) : 0;
        if (w > 0) off += (size_t)w;
        (void)wire_conn_read(p.c);
        wire_conn_get_stats(p.c, &st);
        if (st.bytes_in > in) {
            if (st.bytes_in - in > biggest) biggest = st.bytes_in - in;
            in = st.bytes_in;
            reads++;
        } else if (off == sizeof raw) {
            break;
        }
        wire_frame f;
        while (wire_conn_next(p.c, &f) == 1) echo(p.c, &f, NULL);
        (void)wire_conn_write(p.c);
        pair_fill(&p, 0);
        p.in_len = 0;
    }
    if (biggest < cc.inbuf_size / 2)
        fail_msg("%zu reads, the largest %zu bytes: the buffer did not grow toward %zu", reads, biggest, cc.inbuf_size);
    assert_true(biggest <= cc.inbuf_size);
    pair_close(&p);
}

static void test_split_coalesced_and_large(void **state) {
    (void)state;
    pair p;
    wire_conn_config cc = server_cfg();
    cc.inbuf_size = 64; /* every frame but the smallest outgrows it */
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    static const size_t sizes[] = {0, 1, 55, 56, 57, 200, 5000, 70000, 1 << 20};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += 8 + sizes[i];
    uint8_t *raw = malloc(total);
    assert_non_null(raw);
    size_t at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        wire_header_encode(raw + at, (uint16_t)(0x8000 + 2 * i), (uint32_t)sizes[i]);
        for (size_t k = 0; k < sizes[i]; k++) raw[at + 8 + k] = (uint8_t)(k * 13 + i);
        at += 8 + sizes[i];
    }
    for (int mode = 0; mode < 2; mode++) {
        handled = 0;
        if (mode == 0) /* one byte at a time for the small ones, then the rest in one go */
            for (size_t k = 0; k < total; k += k < 400 ? 1 : total) {
                size_t n = k < 400 ? 1 : total - k;
                const uint8_t *b = raw + k;
                while (n) {
                    ssize_t w = send(p.peer, b, n, MSG_DONTWAIT);
                    if (w > 0) b += w, n -= (size_t)w;
                    pair_pump(&p);
                    pair_fill(&p, 0);
                }
            }
        else {
            size_t off = 0;
            while (off < total) {
                ssize_t w = send(p.peer, raw + off, total - off, MSG_DONTWAIT);
                if (w > 0) off += (size_t)w;
                pair_pump(&p);
                pair_fill(&p, 0);
            }
        }
        at = 0;
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            wire_frame *f = pair_expect(&p, (uint16_t)(0x8001 + 2 * i));
            assert_int_equal(f->length, sizes[i]);
            if (sizes[i]) assert_memory_equal(f->payload, raw + at + 8, sizes[i]);
            free(f);
            at += 8 + sizes[i];
        }
        assert_int_equal(handled, (int)(sizeof sizes / sizeof sizes[0]));
    }
    free(raw);
    pair_close(&p);
}

/* ---- limits and time ---- */

/* A peer that does not read: once the queue is over max_queued, the connection stops reading and
 * stops handing out frames; when the peer reads, everything resumes, nothing lost. */
static void test_backpressure(void **state) {
    (void)state;
    enum { N = 60, SIZE = 8000 }; /* 480 KB of requests: far past max queued and the socket buffers */
    pair p;
    wire_conn_config cc = server_cfg();
    cc.max_queued = 64 * 1024;
    pair_open(&p, &cc, echo, NULL);
    int small = 4096; /* little room in the kernel: the connection's own queue must take the rest */
    assert_int_equal(setsockopt(wire_conn_fd(p.c), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    assert_int_equal(setsockopt(p.peer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    pair_handshake(&p, 1 << 20);
    uint8_t *reqs = calloc(N, 8 + SIZE);
    assert_non_null(reqs);
    for (int i = 0; i < N; i++) { /* each request's payload is its own: a moved byte shows */
        wire_header_encode(reqs + i * (8 + SIZE), 0x8000, SIZE);
        for (int k = 0; k < SIZE; k++) reqs[i * (8 + SIZE) + 8 + k] = (uint8_t)(k * 31 + i * 7 + (k >> 8));
    }
    size_t total = (size_t)N * (8 + SIZE), off = 0;
    handled = 0;
    /* the peer writes and never reads: the connection fills its queue, then stops */
    int stalled_at = -1, still = 0;
    for (int k = 0; k < 10000 && still < 20; k++) {
        ssize_t w = off < total ? send(p.peer, reqs + off, total - off, MSG_DONTWAIT) : 0;
        if (w > 0) off += (size_t)w;
        int before = handled;
        pair_pump(&p);
        still = w <= 0 && handled == before ? still + 1 : 0;
        stalled_at = handled;
    }
    assert_int_equal(still, 20);
    assert_true(stalled_at >= 0 && stalled_at < N);
    assert_true(wire_conn_queued(p.c) > cc.max_queued);
    assert_true(wire_conn_queued(p.c) <= cc.max_queued + 8 + SIZE); /* over by one reply at most */
    assert_false(wire_conn_events(p.c) & WIRE_EV_READ);
    wire_frame f;
    assert_int_equal(wire_conn_next(p.c, &f), 0); /* frames wait, although some are buffered */
    pair_pump(&p);
    assert_int_equal(handled, stalled_at);
    /* the peer reads: every request is answered, in order, nothing lost */
    int replies = 0;
    for (int k = 0; k < 100000 && replies < N; k++) {
        if (off < total) {
            ssize_t w = send(p.peer, reqs + off, total - off, MSG_DONTWAIT);
            if (w > 0) off += (size_t)w;
        }
        pair_pump(&p);
        pair_fill(&p, 0);
        while (pair_take(&p, &f)) {
            assert_int_equal(f.type, 0x8001);
            assert_int_equal(f.length, SIZE);
            assert_memory_equal(f.payload, reqs + replies * (8 + SIZE) + 8, SIZE);
            replies++;
            pair_drop(&p, &f);
        }
    }
    assert_int_equal(replies, N);
    assert_int_equal(handled, N);
    free(reqs);
    pair_close(&p);
}

/* Over max_queued with complete frames already buffered: they are not handed out until the queue
 * is back under the bound. */
static void test_backpressure_holds_buffered_frames(void **state) {
    (void)state;
    enum { N = 20, SIZE = 600 };
    pair p;
    wire_conn_config cc = server_cfg();
    cc.max_queued = 1000;
    pair_open(&p, &cc, echo, NULL);
    int small = 4096;
    assert_int_equal(setsockopt(wire_conn_fd(p.c), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    pair_handshake(&p, 1 << 20);
    static uint8_t reqs[N * (8 + SIZE)];
    for (int i = 0; i < N; i++) wire_header_encode(reqs + i * (8 + SIZE), 0x8000, SIZE);
    assert_int_equal(send(p.peer, reqs, sizeof reqs, 0), (ssize_t)sizeof reqs); /* all in one read */
    handled = 0;
    pair_pump(&p);
    assert_true(handled > 0 && handled < N);
    assert_true(wire_conn_queued(p.c) > cc.max_queued);
    wire_frame f;
    assert_int_equal(wire_conn_next(p.c, &f), 0);
    int replies = 0;
    for (int k = 0; k < 10000 && replies < N; k++) {
        pair_fill(&p, 0);
        while (pair_take(&p, &f)) {
            replies++;
            pair_drop(&p, &f);
        }
        pair_pump(&p);
    }
    assert_int_equal(replies, N);
    pair_close(&p);
}

/* Types: reserved ones and undefined control ones are UNEXPECTED at the connection; the interop
 * range and the applications' reach the application. */
static void test_type_ranges(void **state) {
    (void)state;
    static const struct {
        uint16_t type;
        bool delivered;
    } cases[] = {{0x0006, false}, {0x00ff, false}, {0x0200, false}, {0x7fff, false},
                 {0x0100, true},  {0x01ff, true},  {0x8000, true},  {0xfffe, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pair p;
        wire_conn_config cc = server_cfg();
        pair_open(&p, &cc, echo, NULL);
        pair_handshake(&p, 1 << 20);
        handled = 0;
        pair_send(&p, cases[i].type, "z", 1);
        if (cases[i].delivered) {
            free(pair_expect(&p, (uint16_t)(cases[i].type + 1)));
            assert_int_equal(handled, 1);
        } else {
            pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
            assert_int_equal(handled, 0);
        }
        pair_close(&p);
    }
}

/* Idle and frame timeouts on the test's clock: ERROR(TIMEOUT) at the deadline, not before. */
/* The connection's next deadline that is not before `min`: the ones before it must only give back
 * idle buffers (TRIM_MS after the last read), which changes nothing the peer can see. */
static int64_t deadline_from(wire_conn *c, int64_t min) {
    int64_t d;
    wire_conn_state st = wire_conn_get_state(c);
    for (int k = 0; k < 4 && (d = wire_conn_deadline(c)) >= 0 && d < min; k++) {
        wire_conn_check_time(c, d);
        assert_int_equal(wire_conn_get_state(c), st);
    }
    return wire_conn_deadline(c);
}

static void test_timeouts(void **state) {
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        pair p;
        wire_conn_config cc = server_cfg();
        cc.idle_timeout_ms = 5000;
        cc.frame_timeout_ms = 2000;
        pair_open(&p, &cc, NULL, NULL);
        if (kind > 0) pair_handshake(&p, 1 << 20);
        if (kind == 2) pair_send_raw(&p, "\x01\x00\x00", 3); /* a frame begun */
        int64_t now = wire_now_ms(), want = kind == 2 ? 2000 : 5000;
        int64_t d = deadline_from(p.c, now + want - 50);
        assert_true(d >= now + want - 50 && d <= now + want + 50);
        wire_conn_check_time(p.c, d - 1);
        assert_true(wire_conn_get_state(p.c) != WIRE_CONN_CLOSING);
        wire_conn_check_time(p.c, d);
        assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSING);
        (void)wire_conn_write(p.c);
        pair_expect_error(&p, WIRE_ETIMEOUT, WIRE_NO_OFFSET);
        /* the drain is bounded too: CLOSED at its deadline although the peer never closes */
        d = wire_conn_deadline(p.c);
        assert_true(d > 0);
        wire_conn_check_time(p.c, d);
        assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
        pair_close(&p);
    }
}

/* An ERROR frame whose payload never completes is not answered either (SPEC 7.4: the header says
 * ERROR, and an ERROR is never answered): at the frame timeout the connection just ends, sending
 * nothing, not even the reply it had queued. */
static void test_incomplete_error_not_answered(void **state) {
    (void)state;
    pair p;
    wire_conn_config cc = server_cfg();
    cc.frame_timeout_ms = 2000;
    pair_open(&p, &cc, NULL, NULL);
    pair_handshake(&p, 1 << 20);
    pair_send_raw(&p, "\x01\x00\x00\x02\x00\x00\x00\x10\x02\x00", 10); /* ERROR, 16 bytes: 2 came */
    (void)wire_conn_read(p.c);
    wire_frame f;
    assert_int_equal(wire_conn_next(p.c, &f), 0);
    int64_t now = wire_now_ms(), d = deadline_from(p.c, now + 2000 - 50);
    assert_true(d >= now + 2000 - 50 && d <= now + 2000 + 50);
    wire_conn_check_time(p.c, d);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_ETIMEOUT);
    (void)wire_conn_write(p.c);
    assert_false(pair_fill(&p, 50) && p.in_len > 0); /* no ERROR(TIMEOUT) */
    pair_close(&p);
}

/* wire_conn_close() at a frame boundary: a frame half received is completed and answered first. */
static void test_close_at_frame_boundary(void **state) {
    (void)state;
    pair p;
    uint8_t raw[8 + 4];
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    wire_header_encode(raw, 0x8006, 4);
    memcpy(raw + 8, "tail", 4);
    pair_send_raw(&p, raw, 10);
    wire_conn_close(p.c);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_OPEN); /* the frame is not complete yet */
    pair_send_raw(&p, raw + 10, 2);
    wire_frame *f = pair_expect(&p, 0x8007);
    assert_memory_equal(f->payload, "tail", 4);
    free(f);
    assert_false(pair_fill(&p, 500)); /* then EOF */
    pair_close(&p);
}

/* ---- the blocking helpers against a server connection in a thread ---- */

typedef struct served {
    int fd;
    int frames;
} served;

static void *serve_one(void *arg) {
    served *s = arg;
    wire_conn_config cc = server_cfg();
    wire_conn *c;
    assert_int_equal(wire_conn_new(s->fd, &cc, &c), WIRE_OK);
    while (wire_conn_get_state(c) != WIRE_CONN_CLOSED) {
        wire_frame f;
        while (wire_conn_next(c, &f) == 1) {
            s->frames++;
            assert_int_equal(wire_conn_send_frame_payload(c, (uint16_t)(f.type + 1), &f), WIRE_OK);
        }
        (void)wire_conn_write(c);
        unsigned ev = wire_conn_events(c);
        struct pollfd p = {wire_conn_fd(c), (short)((ev & WIRE_EV_READ ? POLLIN : 0) | (ev & WIRE_EV_WRITE ? POLLOUT : 0)), 0};
        int64_t d = wire_conn_deadline(c), now = wire_now_ms();
        poll(&p, 1, d < 0 ? 1000 : d <= now ? 0 : (int)(d - now));
        if (p.revents) (void)wire_conn_read(c);
        wire_conn_check_time(c, wire_now_ms());
    }
    wire_conn_free(c);
    return NULL;
}

static void test_blocking_helpers(void **state) {
    (void)state;
    int sv[2];
    pthread_t t;
    served s = {0, 0};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s.fd = sv[1];
    assert_int_equal(pthread_create(&t, NULL, serve_one, &s), 0);
    wire_conn *c;
    assert_int_equal(wire_conn_new(sv[0], NULL, &c), WIRE_OK);
    assert_int_equal(wire_conn_handshake(c, 2000), WIRE_OK);
    size_t len;
    const char *name = wire_conn_peer_name(c, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(name, "srv", 3);
    wire_frame f;
    assert_int_equal(wire_conn_request(c, 0x8010, "hello", 5, &f, 2000), WIRE_OK);
    assert_int_equal(f.type, 0x8011);
    assert_int_equal(f.length, 5);
    assert_memory_equal(f.payload, "hello", 5);
    wire_frame *kept = wire_frame_dup(&f); /* beyond the next receive */
    assert_int_equal(wire_conn_request(c, 0x8020, "other", 5, &f, 2000), WIRE_OK);
    assert_memory_equal(kept->payload, "hello", 5);
    assert_int_equal(kept->type, 0x8011);
    free(kept);
    /* a receive with nothing coming times out and leaves the connection usable */
    int64_t t0 = wire_now_ms();
    assert_int_equal(wire_conn_recv(c, &f, 100), WIRE_ETIMEOUT);
    assert_true(wire_now_ms() - t0 >= 95);
    assert_int_equal(wire_conn_request(c, 0x8030, "", 0, &f, 2000), WIRE_OK);
    assert_int_equal(f.type, 0x8031);
    assert_int_equal(wire_conn_hangup(c, 2000), WIRE_OK);
    assert_int_equal(wire_conn_get_state(c), WIRE_CONN_CLOSED);
    assert_int_equal(wire_conn_error(c, NULL), WIRE_OK);
    wire_conn_free(c);
    pthread_join(t, NULL);
    assert_int_equal(s.frames, 3);
}

/* A frame that comes in the same segment as the server's HELLO is not lost by the handshake: the
 * next receive gets it. */
static void test_handshake_keeps_what_follows_hello(void **state) {
    (void)state;
    int sv[2];
    uint8_t raw[300 + 16], hello[300];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    size_t n = pair_hello_payload(hello, sizeof hello, 1, 1 << 20, "srv");
    wire_header_encode(raw, WIRE_MSG_HELLO, (uint32_t)n);
    memcpy(raw + 8, hello, n);
    wire_header_encode(raw + 8 + n, 0x8000, 3);
    memcpy(raw + 16 + n, "1st", 3);
    assert_int_equal(send(sv[1], raw, 16 + n + 3, 0), (ssize_t)(16 + n + 3));
    wire_conn *c;
    wire_frame f;
    assert_int_equal(wire_conn_new(sv[0], NULL, &c), WIRE_OK);
    assert_int_equal(wire_conn_handshake(c, 2000), WIRE_OK);
    assert_int_equal(wire_conn_recv(c, &f, 500), WIRE_OK);
    assert_int_equal(f.type, 0x8000);
    assert_memory_equal(f.payload, "1st", 3);
    wire_conn_free(c);
    close(sv[1]);
}

/* A frame half received while backpressure stops the reading is not the peer's slowness: its frame
 * timeout waits, and starts again once the peer reads and the connection can read on. */
static void test_frame_timer_waits_under_backpressure(void **state) {
    (void)state;
    static uint8_t big[30000];
    pair p;
    wire_conn_config cc = server_cfg();
    cc.max_queued = 4000;
    cc.frame_timeout_ms = 1000;
    pair_open(&p, &cc, echo, NULL);
    int small = 4096;
    assert_int_equal(setsockopt(wire_conn_fd(p.c), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    pair_handshake(&p, 1 << 20);
    pair_send_raw(&p, "\x01\x00\x80\x00\x00", 5); /* a frame begun: its timer runs */
    int64_t d = wire_conn_deadline(p.c), now = wire_now_ms();
    assert_true(d >= now + 900 && d <= now + 1000);
    assert_int_equal(wire_conn_send(p.c, 0x8000, big, sizeof big), WIRE_OK); /* the application's */
    pair_pump(&p);
    assert_true(wire_conn_queued(p.c) > cc.max_queued);
    assert_false(wire_conn_events(p.c) & WIRE_EV_READ); /* backpressure: the frame cannot go on */
    usleep(300000);
    wire_conn_check_time(p.c, wire_now_ms() + 5000); /* far past the frame timeout: nothing */
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_OPEN);
    for (int k = 0; k < 1000 && wire_conn_queued(p.c) > 0; k++) { /* the peer reads */
        pair_fill(&p, 0);
        p.in_len = 0;
        pair_pump(&p);
    }
    now = wire_now_ms();
    d = deadline_from(p.c, now + 900);
    assert_true(d >= now + 900 && d <= now + 1000); /* a fresh frame timeout from here */
    pair_close(&p);
}

/* wire_conn_abort(): CLOSED at once, nothing more sent; the peer sees the end. */
static void test_abort(void **state) {
    (void)state;
    pair p;
    wire_conn_config cc = server_cfg();
    pair_open(&p, &cc, echo, NULL);
    pair_handshake(&p, 1 << 20);
    assert_int_equal(wire_conn_send(p.c, 0x8000, "dropped", 7), WIRE_OK);
    wire_conn_abort(p.c);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
    assert_string_equal(wire_conn_errstr(p.c), "aborted");
    assert_int_equal(wire_conn_events(p.c), 0);
    (void)wire_conn_write(p.c);
    wire_conn_free(p.c);
    p.c = NULL;
    uint8_t b[16];
    assert_int_equal(read(p.peer, b, sizeof b), 0); /* the end, without the queued frame */
    close(p.peer);
    free(p.in);
}

/* A peer that never answers HELLO: the handshake ends with TIMEOUT at the deadline. */
static void test_handshake_timeout(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    wire_conn *c;
    assert_int_equal(wire_conn_new(sv[0], NULL, &c), WIRE_OK);
    int64_t t0 = wire_now_ms();
    assert_int_equal(wire_conn_handshake(c, 150), WIRE_ETIMEOUT);
    int64_t dt = wire_now_ms() - t0;
    assert_true(dt >= 145 && dt < 2000);
    wire_conn_free(c);
    close(sv[1]);
}

/* Bad configurations are refused; a descriptor that is not one is refused. */
static void test_config(void **state) {
    (void)state;
    wire_conn_config cc;
    wire_conn *c = NULL;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    wire_conn_config_init(&cc, WIRE_ROLE_SERVER);
    cc.max_payload = WIRE_MIN_MAX_PAYLOAD - 1; /* an ERROR might not fit (SPEC 8.1) */
    assert_int_equal(wire_conn_new(sv[0], &cc, &c), WIRE_EINVAL);
    cc.max_payload = WIRE_MIN_MAX_PAYLOAD;
    int dup_fd = dup(sv[0]);
    assert_int_equal(wire_conn_new(dup_fd, &cc, &c), WIRE_OK); /* the smallest allowed */
    wire_conn_free(c);
    c = NULL;
    wire_conn_config_init(&cc, WIRE_ROLE_SERVER);
    static char name[300];
    memset(name, 'n', 256);
    cc.name = name;
    assert_int_equal(wire_conn_new(sv[0], &cc, &c), WIRE_EINVAL);
    cc.name = "\xff";
    assert_int_equal(wire_conn_new(sv[0], &cc, &c), WIRE_EINVAL);
    wire_conn_config_init(&cc, WIRE_ROLE_SERVER);
    assert_int_equal(wire_conn_new(-1, &cc, &c), WIRE_EINVAL);
    assert_null(c);
    memset(name, 'n', 255);
    name[255] = '\0';
    cc.name = name; /* exactly the limit */
    assert_int_equal(wire_conn_new(sv[0], &cc, &c), WIRE_OK);
    wire_conn_free(c); /* closes sv[0] */
    close(sv[1]);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_handshake),
        cmocka_unit_test(test_pipelined_after_hello),
        cmocka_unit_test(test_handshake_faults),
        cmocka_unit_test(test_header_faults),
        cmocka_unit_test(test_ping_pong_and_unsolicited_pong),
        cmocka_unit_test(test_pong_too_big_for_the_peer),
        cmocka_unit_test(test_received_error),
        cmocka_unit_test(test_bye_answered),
        cmocka_unit_test(test_our_bye_keeps_replies),
        cmocka_unit_test(test_half_close_gets_every_reply),
        cmocka_unit_test(test_eof_mid_frame),
        cmocka_unit_test(test_split_coalesced_and_large),
        cmocka_unit_test(test_buffer_follows_bytes_not_header),
        cmocka_unit_test(test_buffers_kept_while_active_freed_when_idle),
        cmocka_unit_test(test_input_buffer_doubles_under_load),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_backpressure_holds_buffered_frames),
        cmocka_unit_test(test_type_ranges),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_incomplete_error_not_answered),
        cmocka_unit_test(test_close_at_frame_boundary),
        cmocka_unit_test(test_blocking_helpers),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_handshake_keeps_what_follows_hello),
        cmocka_unit_test(test_frame_timer_waits_under_backpressure),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
