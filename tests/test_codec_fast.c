/* SPDX-License-Identifier: MIT */
/* test_codec_fast.c - the codec's fast paths (inline in wire.h, and at the top of the list functions)
 * against what the slow paths and SPEC.md say: the inline ASCII check of strings, list elements,
 * list headers, and lists and groups nested in each other. */
#include "testutil.h"

/* A string of len bytes of 'a' with byte `bad` (at pos) in it, written then read back: the writer
 * refuses it with WIRE_EUTF8 at offset 0 (nothing written), the reader with WIRE_EUTF8 at 5 + pos.
 * The payload sits at the very end of a guarded buffer: a read past the string faults. */
static void check_bad_string(size_t len, size_t pos, uint8_t bad) {
    char s[32];
    uint8_t out[64];
    size_t off = 99, n = 99;
    wire_writer w;
    memset(s, 'a', sizeof s);
    s[pos] = (char)bad;
    memset(out, 0xEE, sizeof out);
    wire_writer_init(&w, out, sizeof out);
    if (wire_put_string(&w, s, len) != WIRE_EUTF8) fail_msg("writer: %02x at %zu of %zu accepted", bad, pos, len);
    assert_int_equal(wire_writer_error(&w, &off), WIRE_EUTF8);
    assert_int_equal(off, 0);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_EUTF8);
    assert_int_equal(n, 0);
    assert_int_equal(out[0], 0xEE);

    guarded g = guard_alloc(5 + len);
    g.p[0] = WIRE_T_STRING;
    g.p[1] = g.p[2] = g.p[3] = 0;
    g.p[4] = (uint8_t)len;
    memcpy(g.p + 5, s, len);
    wire_reader r;
    const char *got = "x";
    size_t glen = 99;
    wire_reader_init(&r, g.p, 5 + len);
    if (wire_get_string(&r, &got, &glen) != WIRE_EUTF8) fail_msg("reader: %02x at %zu of %zu accepted", bad, pos, len);
    assert_null(got);
    assert_int_equal(glen, 0);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_EUTF8);
    if (off != 5 + pos) fail_msg("reader: %02x at %zu of %zu reported at %zu", bad, pos, len, off);
    guard_free(&g);
}

/* The same with a valid two-byte character (C3 A9) at pos: accepted by both, bytes unchanged. */
static void check_good_string(size_t len, size_t pos) {
    char s[32];
    uint8_t out[64];
    size_t n;
    wire_writer w;
    memset(s, 'a', sizeof s);
    if (len >= 2 && pos + 1 < len) s[pos] = '\xC3', s[pos + 1] = '\xA9';
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(wire_put_string(&w, s, len), WIRE_OK);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(n, 5 + len);
    assert_memory_equal(out + 5, s, len);

    guarded g = guard_alloc(n);
    memcpy(g.p, out, n);
    wire_reader r;
    const char *got;
    size_t glen;
    wire_reader_init(&r, g.p, n);
    assert_int_equal(wire_get_string(&r, &got, &glen), WIRE_OK);
    assert_int_equal(glen, len);
    assert_ptr_equal(got, (const char *)g.p + 5);
    assert_int_equal(wire_reader_finish(&r), WIRE_OK);
    guard_free(&g);
}

/* Every position 0..17 of strings of every length up to 24 (the 8-byte blocks, the tail after them,
 * the last byte), with a stray continuation byte, a bad lead byte and a truncated sequence. */
static void test_ascii_fast_path_every_position(void **state) {
    (void)state;
    static const uint8_t bad[] = {0x80, 0xFF, 0xC0, 0xE2 /* a lead byte with nothing after it here */};
    for (size_t len = 1; len <= 24; len++) {
        for (size_t pos = 0; pos < len && pos <= 17; pos++) {
            for (size_t k = 0; k < sizeof bad; k++) {
                if (bad[k] == 0xE2 && pos + 1 < len) continue; /* E2 61: bad too, but at the same offset */
                check_bad_string(len, pos, bad[k]);
            }
            check_bad_string(len, pos, 0x80);
            check_good_string(len, pos);
        }
        /* the very last byte: a lead byte cut by the end of the string (and of the buffer) */
        check_bad_string(len, len - 1, 0xC3);
    }
    check_good_string(0, 0);
}

/* Builds the expected bytes of nested containers by hand (SPEC.md 3.4, 3.5). */
static size_t put_list_header(uint8_t *p, uint8_t elem, uint32_t count) {
    p[0] = WIRE_T_LIST, p[1] = elem;
    p[2] = (uint8_t)(count >> 24), p[3] = (uint8_t)(count >> 16), p[4] = (uint8_t)(count >> 8), p[5] = (uint8_t)count;
    return 6;
}
static size_t put_group_header(uint8_t *p, uint32_t body) {
    p[0] = WIRE_T_GROUP;
    p[1] = (uint8_t)(body >> 24), p[2] = (uint8_t)(body >> 16), p[3] = (uint8_t)(body >> 8), p[4] = (uint8_t)body;
    return 5;
}

/* list<i32>[1,-2], then group{ u8 7, list<list>[ list<u16>[0x0102], list<u16>[] ], list<group>[ group{ i8 -1 } ] },
 * then u32 5 after everything closed: the fast-path state (ends, element type, count) must be right
 * after each begin and end. */
static wire_err encode_nested(wire_writer *w) {
    wire_put_list_begin(w, WIRE_T_I32);
    wire_put_i32(w, 1);
    wire_put_i32(w, -2);
    wire_put_list_end(w);
    wire_put_group_begin(w);
    wire_put_u8(w, 7);
    wire_put_list_begin(w, WIRE_T_LIST);
    wire_put_list_begin(w, WIRE_T_U16);
    wire_put_u16(w, 0x0102);
    wire_put_list_end(w);
    wire_put_list_begin(w, WIRE_T_U16);
    wire_put_list_end(w);
    wire_put_list_end(w);
    wire_put_list_begin(w, WIRE_T_GROUP);
    wire_put_group_begin(w);
    wire_put_i8(w, -1);
    wire_put_group_end(w);
    wire_put_list_end(w);
    wire_put_group_end(w);
    return wire_put_u32(w, 5);
}

static void test_nested_containers_exact_bytes(void **state) {
    (void)state;
    uint8_t e[128];
    size_t n = 0;
    /* list<i32>[1,-2] */
    n += put_list_header(e + n, WIRE_T_I32, 2);
    memcpy(e + n, "\x00\x00\x00\x01\xFF\xFF\xFF\xFE", 8), n += 8;
    /* group{ ... } */
    size_t g = n;
    n += 5;
    e[n++] = WIRE_T_U8, e[n++] = 7;
    n += put_list_header(e + n, WIRE_T_LIST, 2);
    /* list elements are values: elem tag + count, no list tag */
    e[n++] = WIRE_T_U16, memcpy(e + n, "\x00\x00\x00\x01\x01\x02", 6), n += 6;
    e[n++] = WIRE_T_U16, memcpy(e + n, "\x00\x00\x00\x00", 4), n += 4;
    n += put_list_header(e + n, WIRE_T_GROUP, 1);
    put_group_header(e + n, 2), memmove(e + n, e + n + 1, 4), n += 4; /* an element group: length only */
    e[n++] = WIRE_T_I8, e[n++] = 0xFF;
    put_group_header(e + g, (uint32_t)(n - g - 5));
    e[n++] = WIRE_T_U32, memcpy(e + n, "\x00\x00\x00\x05", 4), n += 4;

    uint8_t out[128];
    size_t len = 0, sized = 0;
    wire_writer w;
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(encode_nested(&w), WIRE_OK);
    assert_int_equal(wire_writer_finish(&w, &len), WIRE_OK);
    assert_bytes_equal(out, len, e, n, "nested containers");
    wire_writer_init(&w, NULL, 0);
    encode_nested(&w);
    assert_int_equal(wire_writer_finish(&w, &sized), WIRE_OK);
    assert_int_equal(sized, n);
    /* every capacity: the whole message or WIRE_EOVERFLOW, never a byte past cap */
    for (size_t cap = 0; cap < n; cap++) {
        guarded gb = guard_alloc(cap);
        wire_writer_init(&w, cap ? gb.p : out, cap);
        encode_nested(&w);
        assert_int_equal(wire_writer_finish(&w, &len), WIRE_EOVERFLOW);
        guard_free(&gb);
    }

    /* and back: every value through the fast paths of the reader */
    wire_reader r;
    wire_type t;
    uint32_t c;
    int32_t i32;
    uint8_t u8;
    uint16_t u16;
    int8_t i8;
    uint32_t u32;
    wire_reader_init(&r, out, n);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(t, WIRE_T_I32);
    assert_int_equal(c, 2);
    assert_int_equal(wire_get_i32(&r, &i32), WIRE_OK), assert_int_equal(i32, 1);
    assert_int_equal(wire_get_i32(&r, &i32), WIRE_OK), assert_int_equal(i32, -2);
    assert_int_equal(wire_get_list_end(&r), WIRE_OK);
    assert_int_equal(wire_get_group_begin(&r), WIRE_OK);
    assert_int_equal(wire_get_u8(&r, &u8), WIRE_OK), assert_int_equal(u8, 7);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(t, WIRE_T_LIST), assert_int_equal(c, 2);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(t, WIRE_T_U16), assert_int_equal(c, 1);
    assert_int_equal(wire_get_u16(&r, &u16), WIRE_OK), assert_int_equal(u16, 0x0102);
    assert_int_equal(wire_get_list_end(&r), WIRE_OK);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(c, 0);
    assert_int_equal(wire_get_u16(&r, &u16), WIRE_ETYPE); /* no element left */
    size_t off;
    assert_int_equal(wire_reader_error(&r, &off), WIRE_ETYPE);
    assert_int_equal(off, 14 + 5 + 2 + 6 + 7 + 5);

    /* fresh: the group list, then the field after everything */
    wire_reader_init(&r, out, n);
    assert_int_equal(wire_skip(&r), WIRE_OK);
    assert_int_equal(wire_get_group_begin(&r), WIRE_OK);
    assert_int_equal(wire_skip(&r), WIRE_OK);
    assert_int_equal(wire_skip(&r), WIRE_OK);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(t, WIRE_T_GROUP), assert_int_equal(c, 1);
    assert_int_equal(wire_get_group_begin(&r), WIRE_OK);
    assert_int_equal(wire_get_i8(&r, &i8), WIRE_OK), assert_int_equal(i8, -1);
    assert_int_equal(wire_get_group_end(&r), WIRE_OK);
    assert_int_equal(wire_get_list_end(&r), WIRE_OK);
    assert_int_equal(wire_get_group_end(&r), WIRE_OK);
    assert_int_equal(wire_get_u32(&r, &u32), WIRE_OK), assert_int_equal(u32, 5);
    assert_int_equal(wire_reader_finish(&r), WIRE_OK);
}

/* Inside a list: a put of another type is WIRE_ETYPE at the bytes written so far, a field-looking put
 * never takes the fields' fast path, and after the list ends fields take it again. */
static void test_writer_list_fast_path_errors(void **state) {
    (void)state;
    uint8_t out[64];
    size_t off = 99, len;
    wire_writer w;
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(wire_put_list_begin(&w, WIRE_T_U8), WIRE_OK);
    assert_int_equal(wire_put_u8(&w, 1), WIRE_OK);
    assert_int_equal(wire_put_i8(&w, 1), WIRE_ETYPE);
    assert_int_equal(wire_writer_error(&w, &off), WIRE_ETYPE);
    assert_int_equal(off, 7);
    assert_int_equal(wire_put_u8(&w, 2), WIRE_ETYPE); /* sticky, on the list path too */
    assert_int_equal(wire_writer_finish(&w, &len), WIRE_ETYPE);
    assert_int_equal(len, 7);

    /* list of u32 in a buffer that holds 2 elements: the third is WIRE_EOVERFLOW at 6 + 8 */
    wire_writer_init(&w, out, 6 + 8 + 3);
    assert_int_equal(wire_put_list_begin(&w, WIRE_T_U32), WIRE_OK);
    assert_int_equal(wire_put_u32(&w, 1), WIRE_OK);
    assert_int_equal(wire_put_u32(&w, 2), WIRE_OK);
    assert_int_equal(wire_put_u32(&w, 3), WIRE_EOVERFLOW);
    assert_int_equal(wire_writer_error(&w, &off), WIRE_EOVERFLOW);
    assert_int_equal(off, 14);

    /* a list header that does not fit; an end without a begin; an unknown element type */
    wire_writer_init(&w, out, 5);
    assert_int_equal(wire_put_list_begin(&w, WIRE_T_U8), WIRE_EOVERFLOW);
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(wire_put_list_end(&w), WIRE_EINVAL);
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(wire_put_list_begin(&w, (wire_type)0x99), WIRE_EINVAL);
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(wire_put_group_begin(&w), WIRE_OK);
    assert_int_equal(wire_put_list_end(&w), WIRE_EINVAL); /* a group is open, not a list */
    /* a list left open */
    wire_writer_init(&w, out, sizeof out);
    assert_int_equal(wire_put_list_begin(&w, WIRE_T_U8), WIRE_OK);
    assert_int_equal(wire_writer_finish(&w, &len), WIRE_EINVAL);

    /* WIRE_MAX_DEPTH lists of lists: the next one is WIRE_EDEPTH */
    uint8_t deep[6 * (WIRE_MAX_DEPTH + 1)];
    wire_writer_init(&w, deep, sizeof deep);
    for (int d = 0; d < WIRE_MAX_DEPTH; d++) assert_int_equal(wire_put_list_begin(&w, WIRE_T_LIST), WIRE_OK);
    assert_int_equal(wire_put_list_begin(&w, WIRE_T_LIST), WIRE_EDEPTH);
}

/* The reader's list fast paths: elements of another type, one element too many, a dishonest count,
 * a list header cut short, a bool element that is not 0 or 1. Offsets as SPEC.md says. */
static void test_reader_list_fast_path_errors(void **state) {
    (void)state;
    static const uint8_t two_u16[] = {WIRE_T_LIST, WIRE_T_U16, 0, 0, 0, 2, 0, 1, 0, 2};
    wire_reader r;
    wire_type t;
    uint32_t c;
    uint16_t u16;
    int16_t i16;
    size_t off;
    wire_reader_init(&r, two_u16, sizeof two_u16);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(wire_get_i16(&r, &i16), WIRE_ETYPE);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_ETYPE);
    assert_int_equal(off, 6);
    wire_reader_init(&r, two_u16, sizeof two_u16);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(wire_get_u16(&r, &u16), WIRE_OK), assert_int_equal(u16, 1);
    assert_int_equal(wire_get_u16(&r, &u16), WIRE_OK), assert_int_equal(u16, 2);
    assert_int_equal(wire_get_u16(&r, &u16), WIRE_ETYPE);
    assert_int_equal(u16, 0);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_ETYPE);
    assert_int_equal(off, 10);
    /* one element read, list_end skips the other */
    wire_reader_init(&r, two_u16, sizeof two_u16);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(wire_get_u16(&r, &u16), WIRE_OK);
    assert_int_equal(wire_get_list_end(&r), WIRE_OK);
    assert_int_equal(wire_reader_finish(&r), WIRE_OK);
    /* count 3 with 4 bytes of u16: WIRE_ELENGTH at the count word (2) */
    static const uint8_t dishonest[] = {WIRE_T_LIST, WIRE_T_U16, 0, 0, 0, 3, 0, 1, 0, 2};
    wire_reader_init(&r, dishonest, sizeof dishonest);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_ELENGTH);
    assert_int_equal(c, 0);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_ELENGTH);
    assert_int_equal(off, 2);
    /* the elements cut short by a byte or more: the count is dishonest, WIRE_ELENGTH at 2 */
    for (size_t len = 6; len < sizeof two_u16; len++) {
        wire_reader_init(&r, two_u16, len);
        assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_ELENGTH);
        assert_int_equal(wire_reader_error(&r, &off), WIRE_ELENGTH);
        assert_int_equal(off, 2);
    }
    /* every truncation of the header: TRUNCATED at 1 (no elem) or 2 (count cut) */
    for (size_t len = 1; len < 6; len++) {
        wire_reader_init(&r, two_u16, len);
        assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_ETRUNCATED);
        assert_int_equal(wire_reader_error(&r, &off), WIRE_ETRUNCATED);
        assert_int_equal(off, len < 2 ? 1 : 2);
    }
    /* a bad element tag: WIRE_EBADTAG at 1 */
    static const uint8_t badtag[] = {WIRE_T_LIST, 0x99, 0, 0, 0, 0};
    wire_reader_init(&r, badtag, sizeof badtag);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_EBADTAG);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_EBADTAG), assert_int_equal(off, 1);
    /* a bool element of 2: WIRE_EBADBOOL at that byte */
    static const uint8_t bools[] = {WIRE_T_LIST, WIRE_T_BOOL, 0, 0, 0, 2, 1, 2};
    bool b;
    wire_reader_init(&r, bools, sizeof bools);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(wire_get_bool(&r, &b), WIRE_OK), assert_true(b);
    assert_int_equal(wire_get_bool(&r, &b), WIRE_EBADBOOL), assert_false(b);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_EBADBOOL), assert_int_equal(off, 7);
    /* a u64 count of zero-size... a list of lists: count against the 5-byte minimum */
    static const uint8_t lists[] = {WIRE_T_LIST, WIRE_T_LIST, 0, 0, 0, 2, WIRE_T_U8, 0, 0, 0, 0};
    wire_reader_init(&r, lists, sizeof lists);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_ELENGTH);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_ELENGTH), assert_int_equal(off, 2);
    /* WIRE_MAX_DEPTH + 1 nested lists: WIRE_EDEPTH at the item that is one too deep */
    uint8_t deep[6 * (WIRE_MAX_DEPTH + 1)];
    size_t n = 0;
    for (int d = 0; d <= WIRE_MAX_DEPTH; d++) {
        if (d == 0) deep[n++] = WIRE_T_LIST;
        deep[n++] = d == WIRE_MAX_DEPTH ? WIRE_T_U8 : WIRE_T_LIST;
        deep[n++] = 0, deep[n++] = 0, deep[n++] = 0, deep[n++] = d == WIRE_MAX_DEPTH ? 0 : 1;
    }
    wire_reader_init(&r, deep, n);
    for (int d = 0; d < WIRE_MAX_DEPTH; d++) assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_OK);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_EDEPTH);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_EDEPTH);
    assert_int_equal(off, 1 + 5 * WIRE_MAX_DEPTH);
}

/* Every fixed-size type, as a field and as a list element, cut at every length and placed at the very
 * end of a guarded buffer: WIRE_ETRUNCATED at the value (never a read past the end, never a value). */
static void test_fixed_gets_truncated_at_the_end(void **state) {
    (void)state;
    static const struct {
        uint8_t tag;
        size_t n;
    } types[] = {{WIRE_T_U8, 1}, {WIRE_T_U16, 2}, {WIRE_T_U32, 4}, {WIRE_T_U64, 8}, {WIRE_T_I8, 1}, {WIRE_T_I16, 2},
                 {WIRE_T_I32, 4}, {WIRE_T_I64, 8}, {WIRE_T_F32, 4}, {WIRE_T_F64, 8}, {WIRE_T_BOOL, 1}};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        uint8_t tag = types[k].tag;
        size_t n = types[k].n;
        for (int in_list = 0; in_list <= 1; in_list++) {
            size_t head = in_list ? 6 : 1; /* list header (count 1) or the field's tag */
            for (size_t cut = 0; cut < n; cut++) {
                guarded g = guard_alloc(head + cut);
                uint8_t full[16] = {WIRE_T_LIST, tag, 0, 0, 0, 1};
                if (!in_list) full[0] = tag;
                memset(full + head, 0, 8);
                memcpy(g.p, full, head + cut);
                wire_reader r;
                wire_type t;
                uint32_t c;
                size_t off = 99;
                wire_err e;
                wire_reader_init(&r, g.p, head + cut);
                if (in_list) {
                    /* a count the bytes cannot hold is refused at the header already */
                    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_ELENGTH);
                    assert_int_equal(wire_reader_error(&r, &off), WIRE_ELENGTH);
                    assert_int_equal(off, 2);
                    guard_free(&g);
                    continue;
                }
                switch (tag) {
                case WIRE_T_U8: { uint8_t v = 1; e = wire_get_u8(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_U16: { uint16_t v = 1; e = wire_get_u16(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_U32: { uint32_t v = 1; e = wire_get_u32(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_U64: { uint64_t v = 1; e = wire_get_u64(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_I8: { int8_t v = 1; e = wire_get_i8(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_I16: { int16_t v = 1; e = wire_get_i16(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_I32: { int32_t v = 1; e = wire_get_i32(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_I64: { int64_t v = 1; e = wire_get_i64(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_F32: { uint32_t v = 1; e = wire_get_f32_bits(&r, &v); assert_int_equal(v, 0); break; }
                case WIRE_T_F64: { uint64_t v = 1; e = wire_get_f64_bits(&r, &v); assert_int_equal(v, 0); break; }
                default: { bool v = true; e = wire_get_bool(&r, &v); assert_false(v); break; }
                }
                if (e != WIRE_ETRUNCATED) fail_msg("tag %02x cut to %zu of %zu bytes: error %d", tag, cut, n, (int)e);
                assert_int_equal(wire_reader_error(&r, &off), WIRE_ETRUNCATED);
                assert_int_equal(off, 1);
                guard_free(&g);
            }
        }
    }
    /* and a list of two u32 whose second element is cut: the count check refuses it (ELENGTH at 2) */
    static const uint8_t cut_list[] = {WIRE_T_LIST, WIRE_T_U32, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0};
    guarded g = guard_alloc(sizeof cut_list);
    memcpy(g.p, cut_list, sizeof cut_list);
    wire_reader r;
    wire_type t;
    uint32_t c;
    size_t off;
    wire_reader_init(&r, g.p, sizeof cut_list);
    assert_int_equal(wire_get_list_begin(&r, &t, &c), WIRE_ELENGTH);
    assert_int_equal(wire_reader_error(&r, &off), WIRE_ELENGTH);
    assert_int_equal(off, 2);
    guard_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_fast_path_every_position),
        cmocka_unit_test(test_nested_containers_exact_bytes),
        cmocka_unit_test(test_writer_list_fast_path_errors),
        cmocka_unit_test(test_reader_list_fast_path_errors),
        cmocka_unit_test(test_fixed_gets_truncated_at_the_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
