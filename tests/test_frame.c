/* SPDX-License-Identifier: MIT */
/* test_frame.c - frame header and the parsers: every split point, byte at a time, early refusal. */
#include "testutil.h"

/* Three frames of different sizes back to back: empty, small, one of 5000 bytes. */
static size_t make_stream(uint8_t *buf, size_t cap) {
    static const uint32_t sizes[] = {0, 9, 5000};
    size_t at = 0;
    for (int k = 0; k < 3; k++) {
        assert_true(at + WIRE_HEADER_SIZE + sizes[k] <= cap);
        wire_header_encode(buf + at, (uint16_t)(0x8000 + k), sizes[k]);
        for (uint32_t i = 0; i < sizes[k]; i++) buf[at + WIRE_HEADER_SIZE + i] = (uint8_t)(i * 7 + k);
        at += WIRE_HEADER_SIZE + sizes[k];
    }
    return at;
}

static void check_frame(const wire_frame *f, int k) {
    static const uint32_t sizes[] = {0, 9, 5000};
    assert_int_equal(f->type, 0x8000 + k);
    assert_int_equal(f->length, sizes[k]);
    assert_int_equal(f->size, WIRE_HEADER_SIZE + sizes[k]);
    for (uint32_t i = 0; i < sizes[k]; i++) assert_int_equal(f->payload[i], (uint8_t)(i * 7 + k));
}

static void test_header_roundtrip(void **state) {
    (void)state;
    uint8_t h[WIRE_HEADER_SIZE];
    wire_header hd;
    size_t at;
    wire_header_encode(h, 0x0102, 0x03040506u);
    static const uint8_t want[] = {1, 0, 1, 2, 3, 4, 5, 6};
    assert_memory_equal(h, want, 8);
    assert_int_equal(wire_header_decode(h, UINT32_MAX, &hd, &at), WIRE_OK);
    assert_int_equal(hd.type, 0x0102);
    assert_int_equal(hd.length, 0x03040506u);
    assert_int_equal(wire_header_decode(h, 0x03040505u, &hd, &at), WIRE_ETOOBIG);
    assert_int_equal(at, 4);
    h[1] = 1;
    assert_int_equal(wire_header_decode(h, UINT32_MAX, &hd, &at), WIRE_EHEADER);
    assert_int_equal(at, 1);
    h[0] = 2; /* version is checked first */
    assert_int_equal(wire_header_decode(h, UINT32_MAX, &hd, &at), WIRE_EVERSION);
    assert_int_equal(at, 0);
}

/* The stream split in two at every possible point: the same three frames come out. */
static void test_parser_every_split(void **state) {
    (void)state;
    static uint8_t stream[6000], pbuf[8192];
    size_t n = make_stream(stream, sizeof stream);
    for (size_t split = 0; split <= n; split++) {
        wire_parser p;
        wire_frame f;
        int k = 0, rc;
        wire_parser_init(&p, pbuf, sizeof pbuf, WIRE_DEFAULT_MAX_PAYLOAD);
        assert_int_equal(wire_parser_feed(&p, stream, split), split);
        while ((rc = wire_parser_next(&p, &f)) == 1) check_frame(&f, k++);
        assert_int_equal(rc, 0);
        assert_int_equal(wire_parser_feed(&p, stream + split, n - split), n - split);
        while ((rc = wire_parser_next(&p, &f)) == 1) check_frame(&f, k++);
        assert_int_equal(rc, 0);
        assert_int_equal(k, 3);
        assert_int_equal(wire_parser_buffered(&p), 0);
    }
}

/* Byte at a time through space()/advance(), the way a read loop uses it, with a buffer just large
 * enough for the biggest frame (compaction must make room). */
static void test_parser_byte_at_a_time(void **state) {
    (void)state;
    static uint8_t stream[6000];
    size_t n = make_stream(stream, sizeof stream);
    guarded g = guard_alloc(WIRE_HEADER_SIZE + 5000);
    wire_parser p;
    wire_frame f;
    int k = 0;
    wire_parser_init(&p, g.p, WIRE_HEADER_SIZE + 5000, WIRE_DEFAULT_MAX_PAYLOAD);
    for (size_t i = 0; i < n; i++) {
        size_t room;
        uint8_t *dst = wire_parser_space(&p, &room);
        assert_true(room >= 1);
        *dst = stream[i];
        wire_parser_advance(&p, 1);
        int rc;
        while ((rc = wire_parser_next(&p, &f)) == 1) check_frame(&f, k++);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(k, 3);
    guard_free(&g);
}

/* Random chunk sizes over many frames, through feed(). */
static void test_parser_random_chunks(void **state) {
    (void)state;
    static uint8_t stream[6000], pbuf[6000];
    size_t n = make_stream(stream, sizeof stream);
    unsigned seed = 12345;
    for (int round = 0; round < 200; round++) {
        wire_parser p;
        wire_frame f;
        int k = 0, rc;
        size_t at = 0;
        wire_parser_init(&p, pbuf, sizeof pbuf, WIRE_DEFAULT_MAX_PAYLOAD);
        while (at < n) {
            seed = seed * 1103515245u + 12345u;
            size_t chunk = 1 + (seed >> 16) % 700;
            if (chunk > n - at) chunk = n - at;
            size_t took = wire_parser_feed(&p, stream + at, chunk);
            at += took;
            while ((rc = wire_parser_next(&p, &f)) == 1) check_frame(&f, k++);
            assert_int_equal(rc, 0);
        }
        assert_int_equal(k, 3);
    }
}

/* An oversize length is refused as soon as the 8 header bytes are in, not after buffering. */
static void test_parser_refuses_oversize_early(void **state) {
    (void)state;
    uint8_t pbuf[64], hdr[WIRE_HEADER_SIZE];
    wire_parser p;
    wire_frame f;
    size_t at;
    wire_header_encode(hdr, 0x0100, 1000);
    wire_parser_init(&p, pbuf, sizeof pbuf, 999);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(wire_parser_feed(&p, hdr + i, 1), 1);
        assert_int_equal(wire_parser_next(&p, &f), 0);
    }
    assert_int_equal(wire_parser_feed(&p, hdr + 7, 1), 1);
    assert_int_equal(wire_parser_next(&p, &f), -1);
    assert_int_equal(wire_parser_error(&p, &at), WIRE_ETOOBIG);
    assert_int_equal(at, 4);
    assert_int_equal(wire_parser_next(&p, &f), -1); /* stays failed */
    /* the buffer bounds the limit too: 64-byte buffer, 57-byte payload */
    wire_header_encode(hdr, 0x0100, 57);
    wire_parser_init(&p, pbuf, sizeof pbuf, WIRE_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(wire_parser_feed(&p, hdr, 8), 8);
    assert_int_equal(wire_parser_wanted(&p), 65);
    assert_int_equal(wire_parser_next(&p, &f), -1);
    assert_int_equal(wire_parser_error(&p, NULL), WIRE_ETOOBIG);
}

/* Growing the buffer on demand with wanted() + rebind(). */
static void test_parser_grow(void **state) {
    (void)state;
    static uint8_t stream[6000];
    size_t n = make_stream(stream, sizeof stream);
    size_t cap = 16;
    uint8_t *buf = malloc(cap);
    wire_parser p;
    wire_frame f;
    int k = 0;
    wire_parser_init(&p, buf, cap, WIRE_DEFAULT_MAX_PAYLOAD);
    size_t at = 0;
    while (at < n) {
        at += wire_parser_feed(&p, stream + at, n - at < 100 ? n - at : 100);
        for (;;) {
            size_t want = wire_parser_wanted(&p);
            if (want > p.cap) {
                uint8_t *nb = realloc(p.buf, want);
                assert_non_null(nb);
                assert_int_equal(wire_parser_rebind(&p, nb, want), WIRE_OK);
            }
            int rc = wire_parser_next(&p, &f);
            assert_true(rc >= 0);
            if (rc == 0) break;
            check_frame(&f, k++);
        }
    }
    assert_int_equal(k, 3);
    assert_int_equal(wire_parser_rebind(&p, p.buf, 0), p.tail ? WIRE_EINVAL : WIRE_OK);
    free(p.buf);
}

static void test_frame_parse_stateless(void **state) {
    (void)state;
    uint8_t buf[32];
    wire_frame f;
    wire_err e;
    size_t at;
    wire_header_encode(buf, 7, 3);
    memcpy(buf + 8, "abcXYZ", 6);
    for (size_t len = 0; len < 11; len++) assert_int_equal(wire_frame_parse(buf, len, 100, &f, &e, &at), 0);
    assert_int_equal(wire_frame_parse(buf, 14, 100, &f, &e, &at), 1);
    assert_int_equal(f.size, 11);
    assert_memory_equal(f.payload, "abc", 3);
    buf[2] = buf[3] = 0; /* type 0 */
    assert_int_equal(wire_frame_parse(buf, 14, 100, &f, &e, &at), -1);
    assert_int_equal(e, WIRE_EHEADER);
    assert_int_equal(at, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_roundtrip),
        cmocka_unit_test(test_parser_every_split),
        cmocka_unit_test(test_parser_byte_at_a_time),
        cmocka_unit_test(test_parser_random_chunks),
        cmocka_unit_test(test_parser_refuses_oversize_early),
        cmocka_unit_test(test_parser_grow),
        cmocka_unit_test(test_frame_parse_stateless),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
