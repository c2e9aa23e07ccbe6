/* SPDX-License-Identifier: MIT */
/* test_service.c - the interop service on a real server connection over a socket pair: frames in,
 * reply frames out. Pins down the SPEC 8.3 order (type allowed, payload decoded whole, then the
 * message's definition) and every ERROR code and offset the server sends, and checks STATS against
 * proto/stats.txt. */
#include "testutil.h"
#include "service.h"
#include "pair.h"

static wv_file vectors, stats;
static svc_config svc;

static int setup(void **state) {
    char path[512], err[256];
    (void)state;
    if (wv_load(proto_path("vectors.txt", path, sizeof path), &vectors, err, sizeof err) ||
        wv_load(proto_path("stats.txt", path, sizeof path), &stats, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    svc.vectors = &vectors;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    wv_free(&vectors);
    wv_free(&stats);
    return 0;
}

/* The service on a real server connection; the test is the client, on the other end of a socket
 * pair. */
static void handler(wire_conn *c, const wire_frame *f, void *arg) { svc_on_frame(c, f, arg); }

static void open_server(pair *p) {
    wire_conn_config cc;
    wire_conn_config_init(&cc, WIRE_ROLE_SERVER);
    cc.name = "test";
    pair_open(p, &cc, handler, &svc);
}

static void start(pair *p, uint32_t peer_max) {
    open_server(p);
    pair_handshake(p, peer_max);
}

static void test_lifecycle(void **state) {
    (void)state;
    pair p;
    open_server(&p);
    pair_send(&p, WIRE_MSG_PING, "x", 1); /* before HELLO */
    pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
    pair_close(&p);

    open_server(&p);
    static const uint8_t v2[] = {0x02, 0x00, 0x02, 0x03, 0, 0, 16, 0, 0x40, 0, 0, 0, 0};
    pair_send(&p, WIRE_MSG_HELLO, v2, sizeof v2);
    pair_expect_error(&p, WIRE_EVERSION, 9);
    pair_close(&p);

    start(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&p, WIRE_MSG_PING, "abc", 3);
    wire_frame *f = pair_expect(&p, WIRE_MSG_PONG);
    assert_int_equal(f->length, 3);
    assert_memory_equal(f->payload, "abc", 3);
    free(f);
    pair_send(&p, WIRE_MSG_HELLO, NULL, 0); /* a second HELLO */
    pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
    pair_close(&p);

    start(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&p, WIRE_MSG_ECHO_REPLY, NULL, 0); /* a reply type */
    pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
    pair_close(&p);
    start(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&p, 0x0200, NULL, 0); /* reserved */
    pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
    pair_close(&p);
    start(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&p, 0x8001, NULL, 0); /* an application's type: this service does not serve it */
    pair_expect_error(&p, WIRE_EUNEXPECTED, 2);
    pair_close(&p);

    /* an ERROR from the peer ends the connection and is never answered */
    start(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    static const uint8_t err[] = {0x02, 0x01, 0x2c, 0x03, 0xff, 0xff, 0xff, 0xff, 0x40, 0, 0, 0, 2, 'n', 'o'};
    pair_send(&p, WIRE_MSG_ERROR, err, sizeof err);
    assert_int_equal(wire_conn_get_state(p.c), WIRE_CONN_CLOSED);
    assert_int_equal(wire_conn_error(p.c, NULL), WIRE_EPEER);
    assert_non_null(strstr(wire_conn_errstr(p.c), "300"));
    assert_false(pair_fill(&p, 0) && p.in_len > 0);
    pair_close(&p);

    start(&p, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&p, WIRE_MSG_BYE, NULL, 0);
    free(pair_expect(&p, WIRE_MSG_BYE));
    pair_close(&p);
}

/* The payload is decoded whole before its fields are checked against the request's definition. */
static void test_decoding_before_definition(void **state) {
    (void)state;
    pair s;
    /* STATS whose first list holds u8 (a MESSAGE problem) and whose third field is bad UTF-8 (a
     * decoding problem): the decoding error wins. */
    static const uint8_t p[] = {0x50, 0x01, 0, 0, 0, 0, 0x50, 0x24, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 0xC0};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_STATS, p, sizeof p);
    pair_expect_error(&s, WIRE_EUTF8, 8 + 17);
    pair_close(&s);
    /* the same without the decoding problem: MESSAGE at the element tag */
    static const uint8_t q[] = {0x50, 0x01, 0, 0, 0, 0, 0x50, 0x24, 0, 0, 0, 0, 0x41, 0, 0, 0, 0};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_STATS, q, sizeof q);
    pair_expect_error(&s, WIRE_EMESSAGE, 8 + 1);
    pair_close(&s);
    /* an extra field: MESSAGE at its tag */
    static const uint8_t x[] = {0x50, 0x14, 0, 0, 0, 0, 0x50, 0x24, 0, 0, 0, 0, 0x41, 0, 0, 0, 0, 0x01, 7};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_STATS, x, sizeof x);
    pair_expect_error(&s, WIRE_EMESSAGE, 8 + 17);
    pair_close(&s);
    /* a missing field: MESSAGE at the end of the payload */
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_STATS, x, 12);
    pair_expect_error(&s, WIRE_EMESSAGE, 8 + 12);
    pair_close(&s);
    /* VECTOR_GET with more than a name */
    static const uint8_t g[] = {0x40, 0, 0, 0, 1, 'a', 0x01, 1};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_VECTOR_GET, g, sizeof g);
    pair_expect_error(&s, WIRE_EMESSAGE, 8 + 6);
    pair_close(&s);
    /* ROUNDTRIP of an invalid payload: the decoding error with its frame offset */
    static const uint8_t r[] = {0x01, 7, 0x30, 2};
    start(&s, WIRE_DEFAULT_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_ROUNDTRIP, r, sizeof r);
    pair_expect_error(&s, WIRE_EBADBOOL, 8 + 3);
    pair_close(&s);
}

static void test_reply_too_big_for_the_peer(void **state) {
    (void)state;
    pair s;
    static uint8_t big[2000];
    start(&s, WIRE_MIN_MAX_PAYLOAD);
    pair_send(&s, WIRE_MSG_ECHO, big, WIRE_MIN_MAX_PAYLOAD);
    free(pair_expect(&s, WIRE_MSG_ECHO_REPLY));
    pair_send(&s, WIRE_MSG_ECHO, big, WIRE_MIN_MAX_PAYLOAD + 1);
    pair_expect_error(&s, WIRE_ETOOBIG, WIRE_NO_OFFSET);
    pair_close(&s);
}

static void test_vectors_both_ways(void **state) {
    (void)state;
    pair s;
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
        pair_send(&s, WIRE_MSG_VECTOR_CHECK, p, len);
        wire_frame *f = pair_expect(&s, WIRE_MSG_VECTOR_RESULT);
        assert_int_equal(f->payload[1], 0);
        free(f);
        /* VECTOR_GET: the name, then exactly the vector's bytes */
        pair_send(&s, WIRE_MSG_VECTOR_GET, p, n);
        f = pair_expect(&s, WIRE_MSG_VECTOR_DATA);
        assert_int_equal(f->length, len);
        assert_memory_equal(f->payload, p, len);
        free(f);
        free(p);
        checked++;
    }
    assert_true(checked > 100);
    /* a wrong value is named: path, expected, got (u32.pattern is 0x01020304; send it swapped) */
    assert_non_null(wv_find(&vectors, WV_OK, "u32.pattern", 11));
    static const uint8_t swapped[] = {0x40, 0, 0, 0, 11, 'u', '3', '2', '.', 'p', 'a', 't', 't', 'e', 'r', 'n',
                                      0x03, 0x04, 0x03, 0x02, 0x01};
    pair_send(&s, WIRE_MSG_VECTOR_CHECK, swapped, sizeof swapped);
    wire_frame *f = pair_expect(&s, WIRE_MSG_VECTOR_RESULT);
    wire_reader r;
    uint8_t status;
    const char *path, *exp, *got;
    size_t pl, el, gl;
    wire_reader_init(&r, f->payload, f->length);
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
    free(f);
    /* unknown names, and names of cases that are not ok vectors: status 2 */
    static const uint8_t unk[] = {0x40, 0, 0, 0, 3, 'z', 'z', 'z'};
    pair_send(&s, WIRE_MSG_VECTOR_GET, unk, sizeof unk);
    f = pair_expect(&s, WIRE_MSG_VECTOR_RESULT);
    assert_int_equal(f->payload[1], 2);
    free(f);
    pair_close(&s);
}

/* Every proto/stats.txt case: the reply's fields are exactly the known answer (floats by bits). */
static void test_stats_known_answers(void **state) {
    (void)state;
    pair s;
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
        pair_send(&s, WIRE_MSG_STATS, buf, n);
        wire_frame *f = pair_expect(&s, WIRE_MSG_STATS_REPLY);
        wire_reader r;
        char path[400], exp[256], got[256];
        wire_reader_init(&r, f->payload, f->length);
        int rc = wv_check(&r, c->reply, c->nreply, path, sizeof path, exp, sizeof exp, got, sizeof got);
        free(f);
        if (rc) fprintf(stderr, "stats %s: field %s expected %s got %s\n", c->name, path, exp, got);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(svc_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    pair_close(&s);
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
