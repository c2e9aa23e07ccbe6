/* test_service.c - the interop service without sockets: frames in, reply frames out. Pins down the
 * SPEC 8.3 order (type allowed, payload decoded whole, then the message's definition) and every
 * ERROR code and offset the server sends, and checks STATS against proto/stats.txt. */
#include "testutil.h"
#include "service.h"

static wv_file vectors, stats;
static svc_config cfg;

static int setup(void **state) {
    char path[512], err[256];
    (void)state;
    if (wv_load(proto_path("vectors.txt", path, sizeof path), &vectors, err, sizeof err) ||
        wv_load(proto_path("stats.txt", path, sizeof path), &stats, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    cfg.max_payload = WIRE_DEFAULT_MAX_PAYLOAD;
    cfg.vectors = &vectors;
    cfg.name = "test";
    return 0;
}

static int teardown(void **state) {
    (void)state;
    wv_free(&vectors);
    wv_free(&stats);
    return 0;
}

/* One connection's state and output, and the frames it produced. */
typedef struct session {
    svc_conn c;
    svc_out out;
    size_t seen; /* replies already looked at */
} session;

static svc_result send_frame(session *s, uint16_t type, const void *payload, size_t len) {
    wire_frame f = {type, (uint32_t)len, payload, WIRE_HEADER_SIZE + len};
    return svc_handle(&cfg, &s->c, &f, &s->out);
}

/* The next reply frame queued, which must have this type. */
static wire_frame next_reply(session *s, uint16_t type) {
    wire_frame f;
    wire_err e;
    assert_true(s->seen < s->out.len);
    assert_int_equal(wire_frame_parse(s->out.buf + s->seen, s->out.len - s->seen, UINT32_MAX, &f, &e, NULL), 1);
    if (f.type != type) fprintf(stderr, "reply type 0x%04x, expected 0x%04x\n", f.type, type);
    assert_int_equal(f.type, type);
    s->seen += f.size;
    return f;
}

static void expect_error(session *s, svc_result r, wire_err code, uint32_t offset) {
    wire_error_msg m;
    assert_int_equal(r, SVC_CLOSE);
    wire_frame f = next_reply(s, WIRE_MSG_ERROR);
    assert_int_equal(wire_get_error_msg(f.payload, f.length, &m, NULL), WIRE_OK);
    if (m.code != code || m.offset != offset)
        fprintf(stderr, "ERROR %u at %u (%.*s), expected %u at %u\n", m.code, m.offset, (int)m.text_len, m.text, code,
                offset);
    assert_int_equal(m.code, code);
    assert_int_equal(m.offset, offset);
    assert_int_equal(s->seen, s->out.len); /* nothing after the ERROR */
}

static void start(session *s, uint32_t peer_max) {
    uint8_t buf[64];
    wire_writer w;
    size_t n;
    wire_hello h = {1, peer_max, "t", 1};
    memset(s, 0, sizeof *s);
    svc_out_init(&s->out, 64u << 20);
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_hello(&w, &h);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(send_frame(s, WIRE_MSG_HELLO, buf, n), SVC_CONTINUE);
    wire_frame f = next_reply(s, WIRE_MSG_HELLO);
    wire_hello got;
    assert_int_equal(wire_get_hello(f.payload, f.length, &got, NULL), WIRE_OK);
    assert_int_equal(got.max_payload, WIRE_DEFAULT_MAX_PAYLOAD);
}

static void stop(session *s) { svc_out_free(&s->out); }

static void test_lifecycle(void **state) {
    (void)state;
    session s;
    memset(&s, 0, sizeof s);
    svc_out_init(&s.out, 1 << 20);
    expect_error(&s, send_frame(&s, WIRE_MSG_PING, "x", 1), WIRE_EUNEXPECTED, 2); /* before HELLO */
    stop(&s);

    memset(&s, 0, sizeof s);
    svc_out_init(&s.out, 1 << 20);
    static const uint8_t v2[] = {0x02, 0x00, 0x02, 0x03, 0, 0, 16, 0, 0x40, 0, 0, 0, 0};
    expect_error(&s, send_frame(&s, WIRE_MSG_HELLO, v2, sizeof v2), WIRE_EVERSION, 9);
    stop(&s);

    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(send_frame(&s, WIRE_MSG_PING, "abc", 3), SVC_CONTINUE);
    wire_frame f = next_reply(&s, WIRE_MSG_PONG);
    assert_int_equal(f.length, 3);
    assert_memory_equal(f.payload, "abc", 3);
    expect_error(&s, send_frame(&s, WIRE_MSG_HELLO, NULL, 0), WIRE_EUNEXPECTED, 2); /* a second HELLO */
    stop(&s);

    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_ECHO_REPLY, NULL, 0), WIRE_EUNEXPECTED, 2); /* a reply type */
    stop(&s);
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, 0x0200, NULL, 0), WIRE_EUNEXPECTED, 2); /* reserved */
    stop(&s);

    /* an ERROR from the peer ends the connection and is never answered */
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    size_t before = s.out.len;
    static const uint8_t err[] = {0x02, 0x01, 0x2c, 0x03, 0xff, 0xff, 0xff, 0xff, 0x40, 0, 0, 0, 2, 'n', 'o'};
    assert_int_equal(send_frame(&s, WIRE_MSG_ERROR, err, sizeof err), SVC_CLOSE);
    assert_int_equal(s.out.len, before);
    assert_non_null(strstr(s.c.reason, "300"));
    stop(&s);

    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(send_frame(&s, WIRE_MSG_BYE, NULL, 0), SVC_CLOSE);
    next_reply(&s, WIRE_MSG_BYE);
    stop(&s);
}

/* The payload is decoded whole before its fields are checked against the request's definition. */
static void test_decoding_before_definition(void **state) {
    (void)state;
    session s;
    /* STATS whose first list holds u8 (a MESSAGE problem) and whose third field is bad UTF-8 (a
     * decoding problem): the decoding error wins. */
    static const uint8_t p[] = {0x50, 0x01, 0, 0, 0, 0, 0x50, 0x24, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 0xC0};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_STATS, p, sizeof p), WIRE_EUTF8, 8 + 17);
    stop(&s);
    /* the same without the decoding problem: MESSAGE at the element tag */
    static const uint8_t q[] = {0x50, 0x01, 0, 0, 0, 0, 0x50, 0x24, 0, 0, 0, 0, 0x41, 0, 0, 0, 0};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_STATS, q, sizeof q), WIRE_EMESSAGE, 8 + 1);
    stop(&s);
    /* an extra field: MESSAGE at its tag */
    static const uint8_t x[] = {0x50, 0x14, 0, 0, 0, 0, 0x50, 0x24, 0, 0, 0, 0, 0x41, 0, 0, 0, 0, 0x01, 7};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_STATS, x, sizeof x), WIRE_EMESSAGE, 8 + 17);
    stop(&s);
    /* a missing field: MESSAGE at the end of the payload */
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_STATS, x, 12), WIRE_EMESSAGE, 8 + 12);
    stop(&s);
    /* VECTOR_GET with more than a name */
    static const uint8_t g[] = {0x40, 0, 0, 0, 1, 'a', 0x01, 1};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_VECTOR_GET, g, sizeof g), WIRE_EMESSAGE, 8 + 6);
    stop(&s);
    /* ROUNDTRIP of an invalid payload: the decoding error with its frame offset */
    static const uint8_t r[] = {0x01, 7, 0x30, 2};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    expect_error(&s, send_frame(&s, WIRE_MSG_ROUNDTRIP, r, sizeof r), WIRE_EBADBOOL, 8 + 3);
    stop(&s);
}

static void test_reply_too_big_for_the_peer(void **state) {
    (void)state;
    session s;
    uint8_t big[100] = {0};
    start(&s, 64);
    assert_int_equal(send_frame(&s, WIRE_MSG_ECHO, big, 64), SVC_CONTINUE);
    next_reply(&s, WIRE_MSG_ECHO_REPLY);
    expect_error(&s, send_frame(&s, WIRE_MSG_ECHO, big, 65), WIRE_ETOOBIG, WIRE_NO_OFFSET);
    stop(&s);
}

static void test_vectors_both_ways(void **state) {
    (void)state;
    session s;
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    int checked = 0;
    for (size_t k = 0; k < vectors.count; k++) {
        const wv_case *c = &vectors.cases[k];
        if (c->kind != WV_OK) continue;
        /* VECTOR_CHECK with the vector's bytes: status 0 */
        size_t nl = strlen(c->name), len = 5 + nl + c->hexlen;
        uint8_t *p = malloc(len);
        wire_writer w;
        size_t n;
        wire_writer_init(&w, p, len);
        wire_put_string(&w, c->name, nl);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        if (c->hexlen) memcpy(p + n, c->hex, c->hexlen);
        assert_int_equal(send_frame(&s, WIRE_MSG_VECTOR_CHECK, p, len), SVC_CONTINUE);
        wire_frame f = next_reply(&s, WIRE_MSG_VECTOR_RESULT);
        assert_int_equal(f.payload[1], 0);
        /* VECTOR_GET: the name, then exactly the vector's bytes */
        assert_int_equal(send_frame(&s, WIRE_MSG_VECTOR_GET, p, n), SVC_CONTINUE);
        f = next_reply(&s, WIRE_MSG_VECTOR_DATA);
        assert_int_equal(f.length, len);
        assert_memory_equal(f.payload, p, len);
        free(p);
        checked++;
    }
    assert_true(checked > 100);
    /* a wrong value is named: path, expected, got (u32.pattern is 0x01020304; send it swapped) */
    assert_non_null(wv_find(&vectors, WV_OK, "u32.pattern", 11));
    static const uint8_t swapped[] = {0x40, 0, 0, 0, 11, 'u', '3', '2', '.', 'p', 'a', 't', 't', 'e', 'r', 'n',
                                      0x03, 0x04, 0x03, 0x02, 0x01};
    assert_int_equal(send_frame(&s, WIRE_MSG_VECTOR_CHECK, swapped, sizeof swapped), SVC_CONTINUE);
    wire_frame f = next_reply(&s, WIRE_MSG_VECTOR_RESULT);
    wire_reader r;
    uint8_t status;
    const char *path, *exp, *got;
    size_t pl, el, gl;
    wire_reader_init(&r, f.payload, f.length);
    wire_get_u8(&r, &status);
    wire_get_string(&r, &path, &pl);
    wire_get_string(&r, &exp, &el);
    wire_get_string(&r, &got, &gl);
    assert_int_equal(wire_reader_finish(&r), WIRE_OK);
    assert_int_equal(status, 1);
    assert_int_equal(pl, 1);
    assert_memory_equal(path, "0", 1);
    assert_int_equal(el, 12);
    assert_memory_equal(exp, "u32:16909060", 12);
    assert_int_equal(gl, 12);
    assert_memory_equal(got, "u32:67305985", 12);
    /* unknown names, and names of cases that are not ok vectors: status 2 */
    static const uint8_t unk[] = {0x40, 0, 0, 0, 3, 'z', 'z', 'z'};
    assert_int_equal(send_frame(&s, WIRE_MSG_VECTOR_GET, unk, sizeof unk), SVC_CONTINUE);
    f = next_reply(&s, WIRE_MSG_VECTOR_RESULT);
    assert_int_equal(f.payload[1], 2);
    stop(&s);
}

/* Every proto/stats.txt case: the reply's fields are exactly the known answer (floats by bits). */
static void test_stats_known_answers(void **state) {
    (void)state;
    session s;
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    assert_true(stats.count >= 5);
    for (size_t k = 0; k < stats.count; k++) {
        const wv_case *c = &stats.cases[k];
        uint8_t buf[8192];
        wire_writer w;
        size_t n;
        wire_writer_init(&w, buf, sizeof buf);
        wv_encode(&w, c->fields, c->nfields);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_int_equal(send_frame(&s, WIRE_MSG_STATS, buf, n), SVC_CONTINUE);
        wire_frame f = next_reply(&s, WIRE_MSG_STATS_REPLY);
        wire_reader r;
        char path[400], exp[256], got[256];
        wire_reader_init(&r, f.payload, f.length);
        int rc = wv_check(&r, c->reply, c->nreply, path, sizeof path, exp, sizeof exp, got, sizeof got);
        if (rc) fprintf(stderr, "stats %s: field %s expected %s got %s\n", c->name, path, exp, got);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(svc_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    stop(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_decoding_before_definition),
        cmocka_unit_test(test_reply_too_big_for_the_peer),
        cmocka_unit_test(test_vectors_both_ways),
        cmocka_unit_test(test_stats_known_answers),
    };
    return cmocka_run_group_tests_name("service", tests, setup, teardown);
}
