/* SPDX-License-Identifier: MIT */
/* test_codec.c - the writer and reader: every type, lists, groups, errors, bounds. */
#include "testutil.h"

#include <math.h>

/* A message using every type, lists of several kinds and nested groups. */
static wire_err encode_sample(wire_writer *w) {
    wire_put_u8(w, 0xFE);
    wire_put_u16(w, 0x0102);
    wire_put_u32(w, 0x01020304u);
    wire_put_u64(w, 0x0102030405060708u);
    wire_put_i8(w, -2);
    wire_put_i16(w, -300);
    wire_put_i32(w, INT32_MIN);
    wire_put_i64(w, -0x0102030405060708);
    wire_put_f32_bits(w, 0x7F800001u); /* signalling NaN with payload */
    wire_put_f64(w, 1.5);
    wire_put_f32(w, -0.25f);
    wire_put_bool(w, true);
    wire_put_string(w, "h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10);
    wire_put_bytes(w, "\x00\x01\x02", 3);
    wire_put_list_begin(w, WIRE_T_U16);
    wire_put_u16(w, 1);
    wire_put_u16(w, 0xABCD);
    wire_put_list_end(w);
    wire_put_list_begin(w, WIRE_T_LIST);
    wire_put_list_begin(w, WIRE_T_STRING);
    wire_put_cstring(w, "a");
    wire_put_list_end(w);
    wire_put_list_begin(w, WIRE_T_BOOL);
    wire_put_list_end(w);
    wire_put_list_end(w);
    wire_put_group_begin(w);
    wire_put_u8(w, 7);
    wire_put_list_begin(w, WIRE_T_GROUP);
    wire_put_group_begin(w);
    wire_put_i64(w, -1);
    wire_put_group_end(w);
    wire_put_list_end(w);
    return wire_put_group_end(w);
}

/* Encodes the sample into buf; returns its size. */
static size_t sample_bytes(uint8_t *buf, size_t cap) {
    wire_writer w;
    size_t n;
    wire_writer_init(&w, buf, cap);
    encode_sample(&w);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    return n;
}

static size_t sample_size(void) {
    wire_writer w;
    size_t n;
    wire_writer_init(&w, NULL, 0);
    encode_sample(&w);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    return n;
}

static void test_scalars_exact_bytes(void **state) {
    (void)state;
    uint8_t buf[64];
    wire_writer w;
    size_t n;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_u32(&w, 0x01020304u);
    wire_put_i16(&w, -2);
    wire_put_f64(&w, -0.0);
    wire_put_bool(&w, false);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    static const uint8_t want[] = {0x03, 1, 2, 3, 4, 0x12, 0xFF, 0xFE, 0x24, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x30, 0};
    assert_bytes_equal(buf, n, want, sizeof want, "scalars");
}

static void test_roundtrip_every_type(void **state) {
    (void)state;
    uint8_t buf[256];
    wire_writer w;
    size_t n;
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(encode_sample(&w), WIRE_OK);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(n, sample_size());

    wire_reader r;
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    int8_t i8; int16_t i16; int32_t i32; int64_t i64;
    uint32_t f32b; double f64; bool b;
    const char *s; const uint8_t *d; size_t len;
    wire_type elem; uint32_t count;
    wire_reader_init(&r, buf, n);
    wire_get_u8(&r, &u8); assert_int_equal(u8, 0xFE);
    wire_get_u16(&r, &u16); assert_int_equal(u16, 0x0102);
    wire_get_u32(&r, &u32); assert_int_equal(u32, 0x01020304u);
    wire_get_u64(&r, &u64); assert_true(u64 == 0x0102030405060708u);
    wire_get_i8(&r, &i8); assert_int_equal(i8, -2);
    wire_get_i16(&r, &i16); assert_int_equal(i16, -300);
    wire_get_i32(&r, &i32); assert_true(i32 == INT32_MIN);
    wire_get_i64(&r, &i64); assert_true(i64 == -0x0102030405060708);
    wire_get_f32_bits(&r, &f32b); assert_int_equal(f32b, 0x7F800001u);
    wire_get_f64(&r, &f64); assert_true(f64 == 1.5);
    float f32v; wire_get_f32(&r, &f32v); assert_true(f32v == -0.25f);
    assert_int_equal(wire_get_bool(&r, &b), WIRE_OK); assert_true(b);
    wire_get_string(&r, &s, &len); assert_int_equal(len, 10); assert_memory_equal(s, "h\xC3\xA9", 3);
    assert_true(s > (const char *)buf && s < (const char *)buf + n); /* a view, not a copy */
    wire_get_bytes(&r, &d, &len); assert_int_equal(len, 3); assert_memory_equal(d, "\x00\x01\x02", 3);
    wire_get_list_begin(&r, &elem, &count); assert_int_equal(elem, WIRE_T_U16); assert_int_equal(count, 2);
    wire_get_u16(&r, &u16); assert_int_equal(u16, 1);
    wire_get_u16(&r, &u16); assert_int_equal(u16, 0xABCD);
    assert_true(wire_reader_at_end(&r));
    assert_int_equal(wire_get_list_end(&r), WIRE_OK);
    wire_get_list_begin(&r, &elem, &count); assert_int_equal(elem, WIRE_T_LIST); assert_int_equal(count, 2);
    wire_get_list_begin(&r, &elem, &count); assert_int_equal(elem, WIRE_T_STRING); assert_int_equal(count, 1);
    wire_get_string(&r, &s, &len); assert_int_equal(len, 1);
    wire_get_list_end(&r);
    assert_int_equal(wire_peek(&r), WIRE_T_LIST);
    wire_get_list_begin(&r, &elem, &count); assert_int_equal(elem, WIRE_T_BOOL); assert_int_equal(count, 0);
    wire_get_list_end(&r);
    wire_get_list_end(&r);
    assert_int_equal(wire_peek(&r), WIRE_T_GROUP);
    assert_int_equal(wire_get_group_begin(&r), WIRE_OK);
    wire_get_u8(&r, &u8); assert_int_equal(u8, 7);
    /* leave the list of groups unread: group_end must skip and validate it */
    assert_int_equal(wire_get_group_end(&r), WIRE_OK);
    assert_true(wire_reader_at_end(&r));
    assert_int_equal(wire_reader_finish(&r), WIRE_OK);
    assert_int_equal(wire_validate(buf, n, NULL), WIRE_OK);
}

/* The writer at every capacity from 0 up: never a byte past the end (guard page), OVERFLOW until the
 * message fits, then the exact same bytes as with a big buffer. */
static void test_writer_every_capacity(void **state) {
    (void)state;
    size_t need = sample_size();
    uint8_t ref[256];
    wire_writer w;
    size_t n;
    assert_int_equal(sample_bytes(ref, sizeof ref), need);
    for (size_t cap = 0; cap <= need; cap++) {
        guarded g = guard_alloc(cap);
        wire_writer_init(&w, g.p, cap);
        encode_sample(&w);
        wire_err e = wire_writer_finish(&w, &n);
        if (cap < need) {
            size_t at;
            assert_int_equal(e, WIRE_EOVERFLOW);
            assert_true(n <= cap);
            assert_int_equal(wire_writer_error(&w, &at), WIRE_EOVERFLOW);
            assert_true(at <= cap);
        } else {
            assert_int_equal(e, WIRE_OK);
            assert_bytes_equal(g.p, n, ref, need, "full capacity");
        }
        guard_free(&g);
    }
}

/* The reader on every prefix of a valid message, placed against a guard page: an error, never a read
 * past the end, and the whole message only when it is whole. */
static void test_reader_every_truncation(void **state) {
    (void)state;
    uint8_t ref[256];
    size_t n = sample_bytes(ref, sizeof ref);
    for (size_t len = 0; len <= n; len++) {
        guarded g = guard_alloc(len);
        memcpy(g.p, ref, len);
        size_t at = 12345;
        wire_err e = wire_validate(g.p, len, &at);
        if (len == n) {
            assert_int_equal(e, WIRE_OK);
        } else if (len == 0) {
            assert_int_equal(e, WIRE_OK); /* an empty payload is valid: zero fields */
        } else {
            /* a prefix ending exactly between two top-level fields is valid too */
            if (e != WIRE_OK) {
                assert_true(e == WIRE_ETRUNCATED || e == WIRE_ELENGTH);
                assert_true(at <= len); /* a value cut right after its tag fails at len */
            }
        }
        guard_free(&g);
    }
}

static void test_writer_sizing_mode(void **state) {
    (void)state;
    wire_writer w;
    size_t n;
    wire_writer_init(&w, NULL, 0);
    wire_put_u64(&w, 1);
    wire_put_bytes(&w, NULL, 0);
    wire_put_list_begin(&w, WIRE_T_U32);
    wire_put_u32(&w, 1);
    wire_put_u32(&w, 2);
    wire_put_list_end(&w);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(n, 9 + 5 + 6 + 8);
}

/* Lengths beyond a u32 are RANGE, never truncated. Sizing mode counts without touching memory, so
 * huge lengths can be tried without allocating them (on hosts where size_t is wider than 32 bits). */
static void test_writer_range(void **state) {
    (void)state;
#if SIZE_MAX > UINT32_MAX
    static const uint8_t byte = 0;
    const uint8_t *volatile src = &byte; /* sizing mode never reads the data; hide its size from gcc */
    const uint8_t *data = src;
    wire_writer w;
    size_t n, at;
    size_t huge = (size_t)UINT32_MAX + 1;
    wire_writer_init(&w, NULL, 0);
    assert_int_equal(wire_put_bytes(&w, data, huge), WIRE_ERANGE);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_ERANGE);
    /* each blob fits a u32, but the group holding both does not */
    wire_writer_init(&w, NULL, 0);
    wire_put_group_begin(&w);
    assert_int_equal(wire_put_bytes(&w, data, UINT32_MAX - 4), WIRE_OK);
    assert_int_equal(wire_put_bytes(&w, data, 16), WIRE_OK);
    assert_int_equal(wire_put_group_end(&w), WIRE_ERANGE);
    assert_int_equal(wire_writer_error(&w, &at), WIRE_ERANGE);
#else
    skip();
#endif
}

static void test_writer_errors(void **state) {
    (void)state;
    uint8_t buf[64];
    wire_writer w;
    size_t n, at;
    /* element of the wrong type */
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_list_begin(&w, WIRE_T_U8);
    assert_int_equal(wire_put_u16(&w, 1), WIRE_ETYPE);
    assert_int_equal(wire_put_u8(&w, 1), WIRE_ETYPE); /* sticky */
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_ETYPE);
    assert_int_equal(wire_writer_error(&w, &at), WIRE_ETYPE);
    assert_int_equal(at, 6);
    /* unbalanced containers */
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(wire_put_group_end(&w), WIRE_EINVAL);
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_group_begin(&w);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_EINVAL);
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_group_begin(&w);
    assert_int_equal(wire_put_list_end(&w), WIRE_EINVAL);
    /* unknown element tag */
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(wire_put_list_begin(&w, (wire_type)0x05), WIRE_EINVAL);
    /* invalid UTF-8 is refused before anything is written */
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(wire_put_string(&w, "\xC0\x80", 2), WIRE_EUTF8);
    assert_int_equal(wire_writer_error(&w, NULL), WIRE_EUTF8);
    size_t written;
    assert_int_equal(wire_writer_finish(&w, &written), WIRE_EUTF8);
    assert_int_equal(written, 0); /* nothing was written */
    /* depth: 32 levels are fine, the 33rd is refused */
    uint8_t big[512];
    wire_writer_init(&w, big, sizeof big);
    for (int k = 0; k < WIRE_MAX_DEPTH; k++) assert_int_equal(wire_put_group_begin(&w), WIRE_OK);
    assert_int_equal(wire_put_group_begin(&w), WIRE_EDEPTH);
    wire_writer_init(&w, big, sizeof big);
    for (int k = 0; k < WIRE_MAX_DEPTH; k++) {
        wire_put_list_begin(&w, WIRE_T_LIST);
    }
    assert_int_equal(wire_writer_error(&w, NULL), WIRE_OK);
    assert_int_equal(wire_put_list_begin(&w, WIRE_T_LIST), WIRE_EDEPTH);
}

static void test_reader_errors(void **state) {
    (void)state;
    wire_reader r;
    uint8_t u8;
    uint32_t u32;
    size_t at;
    /* wrong type: ETYPE at the tag, sticky, value zeroed */
    static const uint8_t a[] = {0x03, 0, 0, 0, 9};
    wire_reader_init(&r, a, sizeof a);
    assert_int_equal(wire_get_u8(&r, &u8), WIRE_ETYPE);
    assert_int_equal(u8, 0);
    assert_int_equal(wire_get_u32(&r, &u32), WIRE_ETYPE);
    assert_int_equal(u32, 0);
    assert_int_equal(wire_reader_error(&r, &at), WIRE_ETYPE);
    assert_int_equal(at, 0);
    /* unknown tag is BADTAG, not TYPE */
    static const uint8_t b[] = {0x05, 0};
    wire_reader_init(&r, b, sizeof b);
    assert_int_equal(wire_get_u8(&r, &u8), WIRE_EBADTAG);
    /* nothing left */
    wire_reader_init(&r, b, 0);
    assert_int_equal(wire_get_u8(&r, &u8), WIRE_ETYPE);
    /* reading past a list's elements */
    static const uint8_t c[] = {0x50, 0x01, 0, 0, 0, 1, 7, 0x01, 9};
    wire_type e;
    uint32_t cnt;
    wire_reader_init(&r, c, sizeof c);
    wire_get_list_begin(&r, &e, &cnt);
    assert_int_equal(wire_get_u8(&r, &u8), WIRE_OK);
    assert_int_equal(u8, 7);
    assert_int_equal(wire_get_u8(&r, &u8), WIRE_ETYPE);
    /* ends without begins */
    wire_reader_init(&r, c, sizeof c);
    assert_int_equal(wire_get_list_end(&r), WIRE_EINVAL);
    wire_reader_init(&r, c, sizeof c);
    wire_get_list_begin(&r, &e, &cnt);
    assert_int_equal(wire_reader_finish(&r), WIRE_EINVAL);
    /* bool */
    static const uint8_t d[] = {0x30, 0x02};
    bool bv;
    wire_reader_init(&r, d, sizeof d);
    assert_int_equal(wire_get_bool(&r, &bv), WIRE_EBADBOOL);
    assert_int_equal(wire_reader_error(&r, &at), WIRE_EBADBOOL);
    assert_int_equal(at, 1);
    /* a huge list count is refused before any element is touched */
    static const uint8_t f[] = {0x50, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(wire_validate(f, sizeof f, &at), WIRE_ELENGTH);
    assert_int_equal(at, 2);
}

static void test_skip_and_peek(void **state) {
    (void)state;
    uint8_t buf[256];
    wire_writer w;
    size_t n;
    wire_writer_init(&w, buf, sizeof buf);
    encode_sample(&w);
    wire_put_u8(&w, 0x42);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    wire_reader r;
    wire_reader_init(&r, buf, n);
    int fields = 0;
    while (wire_peek(&r) != WIRE_T_U8 || fields == 0) {
        assert_int_equal(wire_skip(&r), WIRE_OK);
        fields++;
    }
    uint8_t last;
    assert_int_equal(fields, 17);
    assert_int_equal(wire_get_u8(&r, &last), WIRE_OK);
    assert_int_equal(last, 0x42);
    assert_int_equal(wire_peek(&r), WIRE_T_NONE);
    assert_int_equal(wire_skip(&r), WIRE_EINVAL);
}

static void test_floats_every_bit(void **state) {
    (void)state;
    static const uint32_t f32s[] = {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x00000001u,
                                    0x7FC00001u, 0x7F800001u, 0xFFC00000u, 0x3FC00000u};
    static const uint64_t f64s[] = {0x8000000000000000u, 0x7FF0000000000001u, 0x7FF8000000000001u,
                                    0x0000000000000001u, 0x0102030405060708u};
    for (size_t k = 0; k < sizeof f32s / sizeof *f32s; k++) {
        uint8_t buf[8];
        wire_writer w;
        wire_reader r;
        uint32_t got;
        float f;
        size_t n;
        wire_writer_init(&w, buf, sizeof buf);
        wire_put_f32_bits(&w, f32s[k]);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_int_equal(buf[1], (uint8_t)(f32s[k] >> 24)); /* big-endian */
        wire_reader_init(&r, buf, n);
        assert_int_equal(wire_get_f32(&r, &f), WIRE_OK); /* through a float variable, via memcpy */
        memcpy(&got, &f, 4);
        assert_int_equal(got, f32s[k]);
    }
    for (size_t k = 0; k < sizeof f64s / sizeof *f64s; k++) {
        uint8_t buf[16];
        wire_writer w;
        wire_reader r;
        uint64_t got;
        size_t n;
        wire_writer_init(&w, buf, sizeof buf);
        wire_put_f64_bits(&w, f64s[k]);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        wire_reader_init(&r, buf, n);
        assert_int_equal(wire_get_f64_bits(&r, &got), WIRE_OK);
        assert_true(got == f64s[k]);
    }
}

static void test_integer_edges(void **state) {
    (void)state;
    uint8_t buf[128];
    wire_writer w;
    wire_reader r;
    size_t n;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_i8(&w, INT8_MIN);
    wire_put_i8(&w, INT8_MAX);
    wire_put_i16(&w, INT16_MIN);
    wire_put_i32(&w, -1);
    wire_put_i64(&w, INT64_MIN);
    wire_put_i64(&w, INT64_MAX);
    wire_put_u64(&w, UINT64_MAX);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(buf[1], 0x80);
    assert_int_equal(buf[8], 0xFF);
    int8_t a, b; int16_t c; int32_t d; int64_t e, f; uint64_t g;
    wire_reader_init(&r, buf, n);
    wire_get_i8(&r, &a); wire_get_i8(&r, &b); wire_get_i16(&r, &c); wire_get_i32(&r, &d);
    wire_get_i64(&r, &e); wire_get_i64(&r, &f); wire_get_u64(&r, &g);
    assert_int_equal(wire_reader_finish(&r), WIRE_OK);
    assert_true(a == INT8_MIN && b == INT8_MAX && c == INT16_MIN && d == -1);
    assert_true(e == INT64_MIN && f == INT64_MAX && g == UINT64_MAX);
}

static void test_utf8_validator(void **state) {
    (void)state;
    size_t bad;
    assert_true(wire_utf8_valid("", 0, NULL));
    assert_true(wire_utf8_valid("plain ascii that is longer than eight bytes", 43, NULL));
    assert_true(wire_utf8_valid("\xF4\x8F\xBF\xBF\xEE\x80\x80\xED\x9F\xBF\x00", 11, NULL));
    assert_false(wire_utf8_valid("abcdefghij\xED\xA0\x80", 13, &bad));
    assert_int_equal(bad, 10);
    assert_false(wire_utf8_valid("a\xE2\x82", 3, &bad));
    assert_int_equal(bad, 1);
    assert_false(wire_utf8_valid("ab\x80", 3, &bad));
    assert_int_equal(bad, 2);
    assert_false(wire_utf8_valid("\xF0\x8F\xBF\xBF", 4, &bad));
    assert_false(wire_utf8_valid("\xF4\x90\x80\x80", 4, &bad));
    assert_false(wire_utf8_valid("\xC1\xBF", 2, &bad));
}

/* The validator reads eight ASCII bytes at a time: a bad byte must be found, at its own offset, in
 * every one of the eight lanes of a word and in the tail after the last whole word. */
static void test_utf8_bad_byte_in_every_lane(void **state) {
    (void)state;
    static const char bad_bytes[] = {'\x80', '\xBF', '\xC0', '\xF5', '\xFF'};
    char s[40];
    for (size_t pos = 0; pos < sizeof s; pos++)
        for (size_t k = 0; k < sizeof bad_bytes; k++) {
            size_t bad = 9999;
            memset(s, 'a', sizeof s);
            s[pos] = bad_bytes[k];
            if (wire_utf8_valid(s, sizeof s, &bad)) fail_msg("byte %02x at offset %zu was accepted", (unsigned char)bad_bytes[k], pos);
            if (bad != pos) fail_msg("byte %02x at offset %zu reported at %zu", (unsigned char)bad_bytes[k], pos, bad);
        }
    memset(s, 'a', sizeof s);
    assert_true(wire_utf8_valid(s, sizeof s, NULL));
}

/* wire_put_f32 and wire_put_f64 take a float and a double: their bits, NaN payloads and a signalling
 * NaN included, must reach the wire unchanged (a conversion or arithmetic on the value would quiet
 * the NaN). */
static void test_float_values_keep_every_bit(void **state) {
    (void)state;
    static const uint32_t f32s[] = {0x7F800001u, 0xFF800001u, 0x7FA00000u, 0x7FC00001u, 0x80000000u,
                                    0x00000001u, 0x807FFFFFu, 0x3EAAAAABu};
    static const uint64_t f64s[] = {0x7FF0000000000001u, 0xFFF0000000000001u, 0x7FF4000000000000u,
                                    0x7FF8000000000001u, 0x8000000000000000u, 0x000FFFFFFFFFFFFFu};
    for (size_t k = 0; k < sizeof f32s / sizeof *f32s; k++) {
        uint8_t buf[5];
        float v;
        size_t n;
        wire_writer w;
        memcpy(&v, &f32s[k], sizeof v);
        wire_writer_init(&w, buf, sizeof buf);
        assert_int_equal(wire_put_f32(&w, v), WIRE_OK);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_int_equal(n, 5);
        uint32_t got = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
        if (buf[0] != WIRE_T_F32 || got != f32s[k]) fail_msg("f32 %08x went out as %08x", f32s[k], got);
    }
    for (size_t k = 0; k < sizeof f64s / sizeof *f64s; k++) {
        uint8_t buf[9];
        double v;
        size_t n;
        wire_writer w;
        memcpy(&v, &f64s[k], sizeof v);
        wire_writer_init(&w, buf, sizeof buf);
        assert_int_equal(wire_put_f64(&w, v), WIRE_OK);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        uint64_t got = 0;
        for (int i = 1; i <= 8; i++) got = got << 8 | buf[i];
        if (buf[0] != WIRE_T_F64 || got != f64s[k])
            fail_msg("f64 %016llx went out as %016llx", (unsigned long long)f64s[k], (unsigned long long)got);
    }
}

/* An error is sticky on the fast path too: after a refused string, with room to spare and no list
 * open, no put may write a byte or report success. */
static void test_writer_error_sticky_on_fast_path(void **state) {
    (void)state;
    uint8_t buf[64];
    size_t n = 99;
    wire_writer w;
    memset(buf, 0xEE, sizeof buf);
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(wire_put_string(&w, "\xC0\x80", 2), WIRE_EUTF8);
    assert_int_equal(wire_put_u8(&w, 1), WIRE_EUTF8);
    assert_int_equal(wire_put_u32(&w, 2), WIRE_EUTF8);
    assert_int_equal(wire_put_i64(&w, -3), WIRE_EUTF8);
    assert_int_equal(wire_put_f64(&w, 1.5), WIRE_EUTF8);
    assert_int_equal(wire_put_string(&w, "ok", 2), WIRE_EUTF8);
    assert_int_equal(wire_put_bytes(&w, "ok", 2), WIRE_EUTF8);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_EUTF8);
    assert_int_equal(n, 0);
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != 0xEE) fail_msg("byte %zu was written after the error", i);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_bad_byte_in_every_lane),
        cmocka_unit_test(test_float_values_keep_every_bit),
        cmocka_unit_test(test_writer_error_sticky_on_fast_path),
        cmocka_unit_test(test_scalars_exact_bytes),
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_writer_every_capacity),
        cmocka_unit_test(test_reader_every_truncation),
        cmocka_unit_test(test_writer_sizing_mode),
        cmocka_unit_test(test_writer_range),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_skip_and_peek),
        cmocka_unit_test(test_floats_every_bit),
        cmocka_unit_test(test_integer_edges),
        cmocka_unit_test(test_utf8_validator),
    };
    return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
