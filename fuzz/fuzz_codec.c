/* SPDX-License-Identifier: MIT */
/* fuzz_codec.c - the field decoder and the writer. The input is a payload: wire_validate() judges
 * it, then a decoder built on the typed gets (wire_peek, wire_get_*) reads it field by field and
 * encodes every value again with the writer. Properties:
 *  - the typed decoder fails exactly where wire_validate() does (same code, same offset), or both
 *    accept;
 *  - a valid payload re-encodes to exactly its own bytes (the encoding is canonical), into a buffer
 *    of exactly its size (ASan sees any byte written past it);
 *  - the writer's sizing mode (buf NULL) counts exactly that size, and one byte less of room is
 *    WIRE_EOVERFLOW with nothing written past the buffer. */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

/* Copies the rest of the innermost container of r into w. Floats go through the float API when
 * `as_float` (the bit pattern must survive it, SPEC 3), through the _bits API otherwise. */
static void copy(wire_reader *r, wire_writer *w, bool as_float) {
    while (!wire_reader_at_end(r)) {
        int t = wire_peek(r);
        switch (t) {
#define NUM(tag, ctype, get, put)                                                                  \
    case tag: {                                                                                    \
        ctype v;                                                                                   \
        if (get(r, &v)) return;                                                                    \
        put(w, v);                                                                                 \
        break;                                                                                     \
    }
            NUM(WIRE_T_U8, uint8_t, wire_get_u8, wire_put_u8)
            NUM(WIRE_T_U16, uint16_t, wire_get_u16, wire_put_u16)
            NUM(WIRE_T_U32, uint32_t, wire_get_u32, wire_put_u32)
            NUM(WIRE_T_U64, uint64_t, wire_get_u64, wire_put_u64)
            NUM(WIRE_T_I8, int8_t, wire_get_i8, wire_put_i8)
            NUM(WIRE_T_I16, int16_t, wire_get_i16, wire_put_i16)
            NUM(WIRE_T_I32, int32_t, wire_get_i32, wire_put_i32)
            NUM(WIRE_T_I64, int64_t, wire_get_i64, wire_put_i64)
            NUM(WIRE_T_BOOL, bool, wire_get_bool, wire_put_bool)
#undef NUM
        case WIRE_T_F32:
            if (as_float) {
                float v;
                if (wire_get_f32(r, &v)) return;
                wire_put_f32(w, v);
            } else {
                uint32_t v;
                if (wire_get_f32_bits(r, &v)) return;
                wire_put_f32_bits(w, v);
            }
            break;
        case WIRE_T_F64:
            if (as_float) {
                double v;
                if (wire_get_f64(r, &v)) return;
                wire_put_f64(w, v);
            } else {
                uint64_t v;
                if (wire_get_f64_bits(r, &v)) return;
                wire_put_f64_bits(w, v);
            }
            break;
        case WIRE_T_STRING: {
            const char *s;
            size_t n;
            if (wire_get_string(r, &s, &n)) return;
            FUZZ_CHECK(wire_utf8_valid(s, n, NULL));
            wire_put_string(w, s, n);
            break;
        }
        case WIRE_T_BYTES: {
            const uint8_t *s;
            size_t n;
            if (wire_get_bytes(r, &s, &n)) return;
            wire_put_bytes(w, s, n);
            break;
        }
        case WIRE_T_LIST: {
            wire_type elem;
            uint32_t count;
            if (wire_get_list_begin(r, &elem, &count)) return;
            wire_put_list_begin(w, elem);
            copy(r, w, as_float);
            if (wire_get_list_end(r)) return;
            wire_put_list_end(w);
            break;
        }
        case WIRE_T_GROUP:
            if (wire_get_group_begin(r)) return;
            wire_put_group_begin(w);
            copy(r, w, as_float);
            if (wire_get_group_end(r)) return;
            wire_put_group_end(w);
            break;
        default: /* not a tag: the skip reports it (BADTAG) */
            (void)wire_skip(r);
            return;
        }
    }
}

/* Decodes data with the typed gets into a writer over buf[0..cap) (NULL: sizing mode). Returns the
 * reader's error (and its offset); *werr and *len receive the writer's. */
static wire_err transcode(const uint8_t *data, size_t size, void *buf, size_t cap, bool as_float, size_t *at,
                          wire_err *werr, size_t *len) {
    wire_reader r;
    wire_writer w;
    wire_reader_init(&r, data, size);
    wire_writer_init(&w, buf, cap);
    copy(&r, &w, as_float);
    wire_err e = wire_reader_finish(&r);
    (void)wire_reader_error(&r, at);
    *len = 0;
    *werr = wire_writer_finish(&w, len);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t vat = 0, at = 0, len = 0;
    wire_err werr;
    bool as_float = size & 1;
    wire_err ve = wire_validate(data, size, &vat);
    FUZZ_CHECK(ve == WIRE_OK || vat <= size);

    /* sizing mode first: it must see the same errors as the real decode, and count the bytes */
    wire_err e = transcode(data, size, NULL, 0, as_float, &at, &werr, &len);
    FUZZ_CHECK(e == ve);
    if (e) {
        FUZZ_CHECK(at == vat);
        return 0;
    }
    FUZZ_CHECK(werr == WIRE_OK);
    FUZZ_CHECK(len == size);

    /* the real encode, into exactly `size` bytes: the same bytes again */
    uint8_t *out = malloc(size ? size : 1);
    FUZZ_CHECK(out);
    e = transcode(data, size, out, size, as_float, &at, &werr, &len);
    FUZZ_CHECK(e == WIRE_OK && werr == WIRE_OK);
    FUZZ_CHECK(len == size);
    FUZZ_CHECK(memcmp(out, data, size) == 0);
    free(out);

    /* one byte short: EOVERFLOW, and (ASan) nothing written past the smaller buffer */
    if (size > 0) {
        out = malloc(size - 1 ? size - 1 : 1);
        FUZZ_CHECK(out);
        e = transcode(data, size, out, size - 1, as_float, &at, &werr, &len);
        FUZZ_CHECK(e == WIRE_OK);
        FUZZ_CHECK(werr == WIRE_EOVERFLOW);
        free(out);
    }
    return 0;
}
