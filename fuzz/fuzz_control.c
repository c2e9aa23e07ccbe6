/* SPDX-License-Identifier: MIT */
/* fuzz_control.c - the HELLO and ERROR codec (src/control.c). The input is a payload given to both
 * decoders, and is also read as values for both encoders. Properties:
 *  - a decoder fails exactly as wire_validate() does when the payload does not decode, and otherwise
 *    only with MESSAGE (or VERSION, for HELLO at offset 1), at an offset inside the payload;
 *  - a decoded HELLO or ERROR obeys the limits (version 1, max_payload >= 1037, name <= 255 bytes,
 *    text <= 1024 bytes; valid UTF-8), and its values encode again into exactly the payload's first
 *    fields (the rest being extra fields a control message may carry), in sizing mode too;
 *  - values from the input encode (or are refused with RANGE, or UTF8 for a bad string), and what
 *    encodes decodes to the same values. */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

/* The decode's error must be the payload's own when it does not decode. */
static void check_error(wire_err e, size_t at, const uint8_t *data, size_t size, bool hello) {
    size_t vat = 0;
    wire_err ve = wire_validate(data, size, &vat);
    if (ve) {
        FUZZ_CHECK(e == ve && at == vat);
        return;
    }
    FUZZ_CHECK(e == WIRE_EMESSAGE || (hello && e == WIRE_EVERSION && at == 1));
    FUZZ_CHECK(at <= size);
}

/* Encodes with put (sizing mode, then into exactly the size) and returns the bytes (malloc'd). */
typedef wire_err (*put_fn)(wire_writer *w, const void *msg);
static wire_err put_hello(wire_writer *w, const void *m) { return wire_put_hello(w, m); }
static wire_err put_error(wire_writer *w, const void *m) { return wire_put_error_msg(w, m); }

static uint8_t *encode(put_fn put, const void *msg, size_t *len, wire_err *err) {
    wire_writer w;
    size_t n = 0, n2 = 0;
    wire_writer_init(&w, NULL, 0);
    (void)put(&w, msg);
    *err = wire_writer_finish(&w, &n);
    if (*err) return NULL;
    uint8_t *out = malloc(n ? n : 1);
    FUZZ_CHECK(out);
    wire_writer_init(&w, out, n);
    (void)put(&w, msg);
    FUZZ_CHECK(wire_writer_finish(&w, &n2) == WIRE_OK && n2 == n);
    *len = n;
    return out;
}

static void decode_side(const uint8_t *data, size_t size) {
    wire_hello h;
    wire_error_msg m;
    size_t at = 12345, len = 0;
    wire_err e = wire_get_hello(data, size, &h, &at);
    if (e) {
        check_error(e, at, data, size, true);
    } else {
        FUZZ_CHECK(at == 0);
        FUZZ_CHECK(h.version == WIRE_PROTOCOL_VERSION && h.max_payload >= WIRE_MIN_MAX_PAYLOAD);
        FUZZ_CHECK(h.name_len <= WIRE_HELLO_NAME_MAX && wire_utf8_valid(h.name, h.name_len, NULL));
        FUZZ_CHECK((const uint8_t *)h.name >= data && (const uint8_t *)h.name + h.name_len <= data + size);
        wire_err pe;
        uint8_t *out = encode(put_hello, &h, &len, &pe);
        FUZZ_CHECK(pe == WIRE_OK && len <= size && memcmp(out, data, len) == 0);
        free(out);
    }
    at = 12345;
    e = wire_get_error_msg(data, size, &m, &at);
    if (e) {
        check_error(e, at, data, size, false);
    } else {
        FUZZ_CHECK(at == 0);
        FUZZ_CHECK(m.text_len <= WIRE_ERROR_TEXT_MAX && wire_utf8_valid(m.text, m.text_len, NULL));
        wire_err pe;
        uint8_t *out = encode(put_error, &m, &len, &pe);
        FUZZ_CHECK(pe == WIRE_OK && len <= size && memcmp(out, data, len) == 0);
        free(out);
    }
}

/* The input as values: u16, u32, then the string (HELLO's name, ERROR's text), its length chosen
 * by the input so that the limits' edges (255, 1024 bytes) are reached. */
static void encode_side(const uint8_t *data, size_t size) {
    if (size < 8) return;
    uint16_t a = wire__load16(data);
    uint32_t b = wire__load32(data + 2);
    size_t want = wire__load16(data + 6), slen = size - 8;
    if (want < slen) slen = want;
    const char *s = (const char *)data + 8;
    bool utf8 = wire_utf8_valid(s, slen, NULL);
    wire_err e;
    size_t len = 0, at = 0;

    wire_hello h = {a, b, s, slen};
    uint8_t *out = encode(put_hello, &h, &len, &e);
    if (slen > WIRE_HELLO_NAME_MAX || b < WIRE_MIN_MAX_PAYLOAD) FUZZ_CHECK(e == WIRE_ERANGE);
    else if (!utf8) FUZZ_CHECK(e == WIRE_EUTF8);
    else FUZZ_CHECK(e == WIRE_OK);
    if (out) {
        wire_hello d;
        e = wire_get_hello(out, len, &d, &at);
        if (a != WIRE_PROTOCOL_VERSION) {
            FUZZ_CHECK(e == WIRE_EVERSION && at == 1 && d.version == a);
        } else {
            FUZZ_CHECK(e == WIRE_OK && d.version == a && d.max_payload == b && d.name_len == slen);
            FUZZ_CHECK(memcmp(d.name, s, slen) == 0);
        }
        free(out);
    }

    wire_error_msg m = {a, b, s, slen};
    out = encode(put_error, &m, &len, &e);
    if (slen > WIRE_ERROR_TEXT_MAX) FUZZ_CHECK(e == WIRE_ERANGE);
    else if (!utf8) FUZZ_CHECK(e == WIRE_EUTF8);
    else FUZZ_CHECK(e == WIRE_OK);
    if (out) {
        wire_error_msg d;
        FUZZ_CHECK(wire_get_error_msg(out, len, &d, &at) == WIRE_OK);
        FUZZ_CHECK(d.code == a && d.offset == b && d.text_len == slen && memcmp(d.text, s, slen) == 0);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decode_side(data, size);
    encode_side(data, size);
    return 0;
}
