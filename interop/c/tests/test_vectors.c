/* SPDX-License-Identifier: MIT */
/* test_vectors.c - every case of proto/vectors.txt, valid and invalid, against libwire. */
#include "testutil.h"
#include "vectors.h"

static wv_file vf;

static int load(void **state) {
    char path[512], err[256];
    (void)state;
    if (wv_load(proto_path("vectors.txt", path, sizeof path), &vf, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int unload(void **state) {
    (void)state;
    wv_free(&vf);
    return 0;
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Counts failures per case instead of stopping at the first, so one run names every broken vector. */
static int failures;
static void bad(const wv_case *c, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vector %s (line %d): ", c->name, c->line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    failures++;
}

static size_t count_kind(wv_kind k) {
    size_t n = 0;
    for (size_t i = 0; i < vf.count; i++) n += vf.cases[i].kind == k;
    return n;
}

/* ok: encode(values) == hex; the size counted in sizing mode is exact; decode(hex) == values;
 * decode-then-encode == hex. The hex sits against a guard page while it is read. */
static void test_ok_vectors(void **state) {
    (void)state;
    failures = 0;
    assert_true(count_kind(WV_OK) >= 50);
    for (size_t i = 0; i < vf.count; i++) {
        const wv_case *c = &vf.cases[i];
        if (c->kind != WV_OK) continue;
        size_t cap = c->hexlen + 16, n, sized;
        uint8_t *out = malloc(cap);
        wire_writer w;
        wire_writer_init(&w, out, cap);
        wv_encode(&w, c->fields, c->nfields);
        if (wire_writer_finish(&w, &n) != WIRE_OK) bad(c, "encode failed: %s", wire_strerror(wire_writer_error(&w, NULL)));
        else if (!same(out, n, c->hex, c->hexlen)) bad(c, "encoding differs from the hex");
        wire_writer_init(&w, NULL, 0);
        wv_encode(&w, c->fields, c->nfields);
        if (wire_writer_finish(&w, &sized) != WIRE_OK || sized != c->hexlen) bad(c, "sizing mode gave %zu", sized);

        guarded g = guard_alloc(c->hexlen);
        if (c->hexlen) memcpy(g.p, c->hex, c->hexlen); /* the empty payload has no hex buffer */
        size_t at;
        if (wire_validate(g.p, c->hexlen, &at) != WIRE_OK) bad(c, "validate failed at %zu", at);
        wire_reader r;
        char path[400], exp[256], got[256];
        wire_reader_init(&r, g.p, c->hexlen);
        int rc = wv_check(&r, c->fields, c->nfields, path, sizeof path, exp, sizeof exp, got, sizeof got);
        if (rc < 0) bad(c, "decode failed: %s", wire_strerror(wire_reader_error(&r, NULL)));
        else if (rc > 0) bad(c, "decoded value differs at %s: expected %s, got %s", path, exp, got);
        wire_reader_init(&r, g.p, c->hexlen);
        wire_writer_init(&w, out, cap);
        if (wv_transcode(&r, &w) != WIRE_OK || wire_writer_finish(&w, &n) != WIRE_OK ||
            !same(out, n, c->hex, c->hexlen))
            bad(c, "decode-then-encode does not reproduce the bytes");
        guard_free(&g);
        free(out);
    }
    assert_int_equal(failures, 0);
}

/* err: decoding fails with exactly the vector's code at exactly its offset, whether the payload is
 * validated, transcoded or checked field by field. */
static void test_err_vectors(void **state) {
    (void)state;
    failures = 0;
    assert_true(count_kind(WV_ERR) >= 30);
    for (size_t i = 0; i < vf.count; i++) {
        const wv_case *c = &vf.cases[i];
        if (c->kind != WV_ERR) continue;
        guarded g = guard_alloc(c->hexlen);
        if (c->hexlen) memcpy(g.p, c->hex, c->hexlen); /* the empty payload has no hex buffer */
        size_t at = 0;
        wire_err e = wire_validate(g.p, c->hexlen, &at);
        if (e != c->err || at != c->err_offset)
            bad(c, "validate gave %s at %zu, expected %s at %zu", wire_err_name(e), at, wire_err_name(c->err),
                c->err_offset);
        uint8_t out[512];
        wire_reader r;
        wire_writer w;
        wire_reader_init(&r, g.p, c->hexlen);
        wire_writer_init(&w, out, sizeof out);
        (void)wv_transcode(&r, &w);
        e = wire_reader_error(&r, &at);
        if (e != c->err || at != c->err_offset)
            bad(c, "transcode gave %s at %zu, expected %s at %zu", wire_err_name(e), at, wire_err_name(c->err),
                c->err_offset);
        guard_free(&g);
    }
    assert_int_equal(failures, 0);
}

/* frame: the stateless parser, the incremental parser fed one byte at a time, and the encoder all
 * agree with the hex; ferr: the header alone is refused with the right code and offset. */
static void test_frame_vectors(void **state) {
    (void)state;
    failures = 0;
    assert_true(count_kind(WV_FRAME) >= 3);
    assert_true(count_kind(WV_FERR) >= 5);
    for (size_t i = 0; i < vf.count; i++) {
        const wv_case *c = &vf.cases[i];
        wire_frame f;
        wire_err e;
        size_t at = 0;
        if (c->kind == WV_FRAME) {
            int rc = wire_frame_parse(c->hex, c->hexlen, WIRE_DEFAULT_MAX_PAYLOAD, &f, &e, &at);
            if (rc != 1 || f.size != c->hexlen || f.type != c->frame_type) {
                bad(c, "frame parse gave %d", rc);
                continue;
            }
            wire_reader r;
            char path[400], exp[256], got[256];
            wire_reader_init(&r, f.payload, f.length);
            if (wv_check(&r, c->fields, c->nfields, path, sizeof path, exp, sizeof exp, got, sizeof got) != 0)
                bad(c, "payload differs at %s: expected %s, got %s", path, exp, got);
            uint8_t *out = malloc(c->hexlen + 16);
            wire_writer w;
            size_t n;
            wire_writer_init(&w, out + WIRE_HEADER_SIZE, c->hexlen + 8);
            wv_encode(&w, c->fields, c->nfields);
            if (wire_writer_finish(&w, &n) != WIRE_OK) bad(c, "encode failed");
            wire_header_encode(out, c->frame_type, (uint32_t)n);
            if (!same(out, n + WIRE_HEADER_SIZE, c->hex, c->hexlen)) bad(c, "encoded frame differs");
            free(out);
            uint8_t pbuf[4096];
            wire_parser p;
            int got_frames = 0;
            wire_parser_init(&p, pbuf, sizeof pbuf, WIRE_DEFAULT_MAX_PAYLOAD);
            for (size_t k = 0; k < c->hexlen; k++) {
                if (wire_parser_feed(&p, c->hex + k, 1) != 1) bad(c, "parser refused a byte");
                int prc = wire_parser_next(&p, &f);
                if (prc != (k + 1 == c->hexlen)) bad(c, "incremental parser gave %d at byte %zu", prc, k);
                got_frames += prc == 1;
            }
            if (got_frames != 1) bad(c, "incremental parser gave %d frames", got_frames);
        } else if (c->kind == WV_FERR) {
            int rc = wire_frame_parse(c->hex, c->hexlen, WIRE_DEFAULT_MAX_PAYLOAD, &f, &e, &at);
            if (rc != -1 || e != c->err || at != c->err_offset)
                bad(c, "frame parse gave %d %s at %zu, expected %s at %zu", rc, wire_err_name(e), at,
                    wire_err_name(c->err), c->err_offset);
            if (c->hexlen >= WIRE_HEADER_SIZE) {
                wire_header h;
                e = wire_header_decode(c->hex, WIRE_DEFAULT_MAX_PAYLOAD, &h, &at);
                if (e != c->err || at != c->err_offset) bad(c, "header decode gave %s at %zu", wire_err_name(e), at);
            }
        }
    }
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_vectors),
        cmocka_unit_test(test_err_vectors),
        cmocka_unit_test(test_frame_vectors),
    };
    return cmocka_run_group_tests_name("vectors", tests, load, unload);
}
