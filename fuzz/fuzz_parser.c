/* SPDX-License-Identifier: MIT */
/* fuzz_parser.c - the incremental frame parser (wire_parser_*). The input (formats.h) chooses the
 * buffer, the max payload, how the bytes go in (wire_parser_feed, or wire_parser_space and
 * wire_parser_advance) and the size of every chunk; the rest is the byte stream. The reference is
 * the stateless wire_frame_parse() run over the whole stream at once, with the limit the buffer can
 * honour. Properties: the parser yields exactly the reference's frames (type, length, payload bytes,
 * size) in order; it fails when and only when the reference does, with the same code and offset;
 * what it holds at the end is exactly the reference's unparsed rest; it never stalls (no room and no
 * frame while bytes remain); with a buffer grown on demand (wire_parser_wanted, wire_parser_rebind)
 * every frame up to max_payload passes. */
#include <string.h>

#include "formats.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

static const size_t caps[8] = {8, 9, 15, 64, WIRE_HEADER_SIZE + WIRE_MIN_MAX_PAYLOAD, 4096, 16392, 65544};
/* No 16 MiB limit when the buffer grows: the allocation follows the header, and must stay small. */
static const uint32_t maxes[8] = {0, 1, 7, 100, WIRE_MIN_MAX_PAYLOAD, 4096, 65536, 1u << 20};

typedef struct ref_frame {
    size_t at; /* where the frame starts in the stream */
    uint16_t type;
    uint32_t length;
} ref_frame;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    unsigned flags = data[0];
    size_t k = data[1] % 32u;
    if (size < 2 + k) return 0;
    const uint8_t *chunks = data + 2;
    const uint8_t *s = data + 2 + k;
    size_t n = size - 2 - k;
    bool grow = flags & FP_GROW, by_space = flags & FP_SPACE;
    size_t cap = caps[(flags >> 1) & 7];
    uint32_t max = maxes[(flags >> 4) & 7];
    if (!grow && ((flags >> 4) & 7) == 7) max = 0xFFFFFFFFu; /* no limit but the buffer's */

    /* the reference: everything at once */
    uint32_t limit = max;
    if (!grow && cap - WIRE_HEADER_SIZE < limit) limit = (uint32_t)(cap - WIRE_HEADER_SIZE);
    ref_frame *ref = malloc((n / WIRE_HEADER_SIZE + 1) * sizeof *ref);
    FUZZ_CHECK(ref);
    size_t nref = 0, pos = 0, ref_off = 0;
    wire_err ref_err = WIRE_OK;
    for (;;) {
        wire_frame f;
        int rc = wire_frame_parse(s + pos, n - pos, limit, &f, &ref_err, &ref_off);
        if (rc != 1) {
            FUZZ_CHECK(rc == 0 ? ref_err == WIRE_OK : ref_err != WIRE_OK);
            break;
        }
        FUZZ_CHECK(f.size == WIRE_HEADER_SIZE + (size_t)f.length && f.size <= n - pos);
        FUZZ_CHECK(f.payload == s + pos + WIRE_HEADER_SIZE);
        ref[nref++] = (ref_frame){pos, f.type, f.length};
        pos += f.size;
    }

    /* the parser, chunk by chunk */
    uint8_t *buf = malloc(cap);
    FUZZ_CHECK(buf);
    wire_parser p;
    wire_parser_init(&p, buf, cap, max);
    size_t fed = 0, got = 0, ci = 0;
    int rc = 0;
    for (;;) {
        size_t took = 0;
        if (fed < n) {
            size_t want = k == 0 ? n - fed : (size_t)chunks[ci++ % k] + 1;
            if (want > n - fed) want = n - fed;
            if (by_space) {
                size_t room;
                uint8_t *dst = wire_parser_space(&p, &room);
                FUZZ_CHECK(dst >= p.buf && room <= p.cap && dst + room == p.buf + p.cap);
                took = want < room ? want : room;
                if (took) memcpy(dst, s + fed, took);
                wire_parser_advance(&p, took);
            } else {
                took = wire_parser_feed(&p, s + fed, want);
                FUZZ_CHECK(took <= want);
            }
            fed += took;
        }
        bool yielded = false;
        for (;;) {
            if (grow) { /* as wire_conn does: make room for the frame its header announces */
                size_t wanted = wire_parser_wanted(&p);
                if (wanted > p.cap && wanted <= WIRE_HEADER_SIZE + (size_t)max) {
                    uint8_t *nb = realloc(p.buf, wanted);
                    FUZZ_CHECK(nb);
                    FUZZ_CHECK(wire_parser_rebind(&p, nb, wanted) == WIRE_OK);
                }
            }
            wire_frame f;
            rc = wire_parser_next(&p, &f);
            if (rc != 1) break;
            yielded = true;
            FUZZ_CHECK(got < nref);
            const ref_frame *r = &ref[got++];
            FUZZ_CHECK(f.type == r->type && f.length == r->length && f.size == WIRE_HEADER_SIZE + (size_t)r->length);
            FUZZ_CHECK(f.payload >= p.buf && f.payload + f.length <= p.buf + p.cap);
            FUZZ_CHECK(memcmp(f.payload, s + r->at + WIRE_HEADER_SIZE, f.length) == 0);
        }
        if (rc < 0) break;
        if (fed == n) break;
        FUZZ_CHECK(took > 0 || yielded); /* no room and no frame: the parser stalls */
    }
    FUZZ_CHECK(got == nref);
    if (ref_err) {
        size_t off = 99;
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(wire_parser_error(&p, &off) == ref_err && off == ref_off);
        wire_frame f;
        FUZZ_CHECK(wire_parser_next(&p, &f) == -1); /* and it stays failed */
    } else {
        FUZZ_CHECK(rc == 0 && wire_parser_error(&p, NULL) == WIRE_OK);
        FUZZ_CHECK(wire_parser_buffered(&p) == n - pos);
        FUZZ_CHECK(memcmp(p.buf + p.head, s + pos, n - pos) == 0);
    }
    free(p.buf);
    free(ref);
    return 0;
}
