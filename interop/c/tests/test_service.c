/* SPDX-License-Identifier: MIT */
/* test_service.c - the interop service on a real server connection over a socket pair: frames in,
 * reply frames out. Pins down the SPEC 8.3 order (type allowed, payload decoded whole, then the
 * message's definition) and every ERROR code and offset the server sends, and checks STATS against
 * proto/stats.txt. Then the same service over UDP, without sockets: every case of proto/udp.txt, and
 * every vector and STATS case answered as over TCP (SPEC 15.5), one datagram at a time. */
#include "testutil.h"
#include "service.h"
#include "pair.h"
#include "udp_cases.h"

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

/* ---- UDP (SPEC 15) ---- */

static uint8_t udp_in[WIRE_UDP_RECV_SIZE], udp_out[WIRE_UDP_MAX_DATAGRAM];

/* The answer datagram to one request (id, type, payload) sent to the service over UDP; its frame
 * in *f (payload into udp_out), checked to carry the id. */
static size_t udp_ask(uint32_t id, uint16_t type, const void *payload, size_t len, uint32_t max_payload, wire_frame *f) {
    size_t n;
    assert_int_equal(wire_udp_encode(udp_in, sizeof udp_in, id, type, payload, len, &n), WIRE_OK);
    size_t a = svc_udp_datagram(&svc, udp_in, n, false, max_payload, udp_out, sizeof udp_out);
    if (a == 0) return 0;
    uint32_t got;
    wire_err e;
    assert_int_equal(wire_udp_parse(udp_out, a, false, WIRE_UDP_MAX_PAYLOAD, &got, f, &e, NULL), 1);
    assert_int_equal(got, id);
    return a;
}

/* Every case of proto/udp.txt, with the configuration of sessions.txt (UDP max payload 65495). */
static void test_udp_every_case(void **state) {
    char path[512], err[1200], why[512];
    udp_case *cs;
    size_t n;
    int failed = 0;
    (void)state;
    if (udp_cases_load(proto_path("udp.txt", path, sizeof path), &cs, &n, err, sizeof err)) fail_msg("%s", err);
    assert_true(n >= 43);
    for (size_t i = 0; i < n; i++) {
        size_t a = svc_udp_datagram(&svc, cs[i].dgram, cs[i].len, false, WIRE_UDP_MAX_PAYLOAD, udp_out, sizeof udp_out);
        if (!udp_case_check(&cs[i], a != 0, udp_out, a, why, sizeof why)) {
            fprintf(stderr, "  %s\n", why);
            failed++;
        }
    }
    udp_cases_free(cs, n);
    assert_int_equal(failed, 0);
}

/* The same answers as over TCP: every ok vector's VECTOR_CHECK (status 0), VECTOR_GET (the name,
 * then its bytes) and ROUNDTRIP (the same bytes) when it fits in a datagram, and TOOBIG without an
 * offset when the reply would not; every err vector's ERROR code and offset; every STATS answer. */
static void test_udp_answers_as_tcp(void **state) {
    static uint8_t p[WIRE_UDP_MAX_PAYLOAD + 200000];
    wire_frame f;
    wire_error_msg m;
    int fits = 0, too_big = 0, rejected = 0;
    (void)state;
    for (size_t k = 0; k < vectors.count; k++) {
        const wv_case *c = &vectors.cases[k];
        uint32_t id = (uint32_t)k * 2654435761u;
        if (c->kind == WV_ERR) {
            assert_true(udp_ask(id, WIRE_MSG_ROUNDTRIP, c->hex, c->hexlen, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
            assert_int_equal(f.type, WIRE_MSG_ERROR);
            assert_int_equal(wire_get_error_msg(f.payload, f.length, &m, NULL), WIRE_OK);
            if (m.code != c->err || m.offset != WIRE_HEADER_SIZE + c->err_offset)
                fail_msg("%s: ERROR %u at %lu, wanted %s at %zu", c->name, (unsigned)m.code, (unsigned long)m.offset,
                         wire_err_name(c->err), WIRE_HEADER_SIZE + c->err_offset);
            rejected++;
            continue;
        }
        if (c->kind != WV_OK) continue;
        wire_writer w;
        size_t n, nl = strlen(c->name);
        wire_writer_init(&w, p, sizeof p);
        wire_put_string(&w, c->name, nl);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_true(n + c->hexlen <= sizeof p);
        if (c->hexlen) memcpy(p + n, c->hex, c->hexlen);
        if (n + c->hexlen > WIRE_UDP_MAX_PAYLOAD) { /* VECTOR_GET's reply cannot fit: TOOBIG, no offset */
            assert_true(udp_ask(id, WIRE_MSG_VECTOR_GET, p, n, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
            assert_int_equal(f.type, WIRE_MSG_ERROR);
            assert_int_equal(wire_get_error_msg(f.payload, f.length, &m, NULL), WIRE_OK);
            assert_true(m.code == WIRE_ETOOBIG && m.offset == WIRE_NO_OFFSET);
            too_big++;
            continue;
        }
        assert_true(udp_ask(id, WIRE_MSG_VECTOR_CHECK, p, n + c->hexlen, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
        assert_int_equal(f.type, WIRE_MSG_VECTOR_RESULT);
        assert_int_equal(f.payload[1], 0);
        assert_true(udp_ask(id + 1, WIRE_MSG_VECTOR_GET, p, n, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
        assert_int_equal(f.type, WIRE_MSG_VECTOR_DATA);
        assert_bytes_equal(f.payload, f.length, p, n + c->hexlen, c->name);
        assert_true(udp_ask(id + 2, WIRE_MSG_ROUNDTRIP, c->hex, c->hexlen, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
        assert_int_equal(f.type, WIRE_MSG_ROUNDTRIP_REPLY);
        assert_bytes_equal(f.payload, f.length, c->hex, c->hexlen, c->name);
        fits++;
    }
    assert_true(fits > 100 && rejected > 100 && too_big >= 1);
    for (size_t k = 0; k < stats.count; k++) {
        const wv_case *c = &stats.cases[k];
        wire_writer w;
        wire_reader r;
        size_t n;
        char path[400], exp[256], got[256];
        wire_writer_init(&w, p, sizeof p);
        wv_encode(&w, c->fields, c->nfields);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_true(udp_ask((uint32_t)k, WIRE_MSG_STATS, p, n, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
        assert_int_equal(f.type, WIRE_MSG_STATS_REPLY);
        wire_reader_init(&r, f.payload, f.length);
        if (wv_check(&r, c->reply, c->nreply, path, sizeof path, exp, sizeof exp, got, sizeof got))
            fail_msg("stats %s over UDP: field %s expected %s got %s", c->name, path, exp, got);
    }
}

/* The server's UDP max payload is honoured (min(65495, --max-payload)); a datagram the kernel cut is
 * LENGTH; an ERROR is never answered, even one whose size disagrees with its header, but a bad
 * header is answered whatever its type says; the service keeps no state (a request twice, two
 * answers). */
static void test_udp_limits_and_errors(void **state) {
    static uint8_t big[WIRE_UDP_MAX_PAYLOAD];
    wire_frame f;
    wire_error_msg m;
    size_t n, a;
    (void)state;
    assert_true(udp_ask(1, WIRE_MSG_ECHO, big, WIRE_UDP_MAX_PAYLOAD, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
    assert_true(f.type == WIRE_MSG_ECHO_REPLY && f.length == WIRE_UDP_MAX_PAYLOAD);
    assert_true(udp_ask(2, WIRE_MSG_ECHO, big, 1037, 1037, &f) > 0);
    assert_int_equal(f.type, WIRE_MSG_ECHO_REPLY);
    assert_true(udp_ask(3, WIRE_MSG_ECHO, big, 1038, 1037, &f) > 0);
    assert_int_equal(wire_get_error_msg(f.payload, f.length, &m, NULL), WIRE_OK);
    assert_true(f.type == WIRE_MSG_ERROR && m.code == WIRE_ETOOBIG && m.offset == 4);
    /* truncated by the kernel: LENGTH, though the bytes received look like a whole frame */
    assert_int_equal(wire_udp_encode(udp_in, sizeof udp_in, 4, WIRE_MSG_ECHO, big, 100, &n), WIRE_OK);
    a = svc_udp_datagram(&svc, udp_in, n, true, WIRE_UDP_MAX_PAYLOAD, udp_out, sizeof udp_out);
    assert_true(a > 0);
    assert_int_equal(wire_get_error_msg(udp_out + 12, a - 12, &m, NULL), WIRE_OK);
    assert_true(m.code == WIRE_ELENGTH && m.offset == 4);
    /* an ERROR, of the right size or not: nothing */
    assert_int_equal(wire_udp_encode_error(udp_in, sizeof udp_in, 5, WIRE_EMESSAGE, 8, NULL, &n), WIRE_OK);
    assert_int_equal(svc_udp_datagram(&svc, udp_in, n, false, WIRE_UDP_MAX_PAYLOAD, udp_out, sizeof udp_out), 0);
    assert_int_equal(svc_udp_datagram(&svc, udp_in, n - 1, false, WIRE_UDP_MAX_PAYLOAD, udp_out, sizeof udp_out), 0);
    assert_int_equal(svc_udp_datagram(&svc, udp_in, n, true, WIRE_UDP_MAX_PAYLOAD, udp_out, sizeof udp_out), 0);
    udp_in[5] = 0x80; /* the same ERROR with flags set: the header is bad, and answered (7.4) */
    a = svc_udp_datagram(&svc, udp_in, n, false, WIRE_UDP_MAX_PAYLOAD, udp_out, sizeof udp_out);
    assert_true(a > 0);
    assert_int_equal(wire_get_error_msg(udp_out + 12, a - 12, &m, NULL), WIRE_OK);
    assert_true(m.code == WIRE_EHEADER && m.offset == 1);
    /* no state: the same PING twice gets the same PONG twice */
    for (int k = 0; k < 2; k++) {
        assert_true(udp_ask(0xfffffffeu, WIRE_MSG_PING, "abc", 3, WIRE_UDP_MAX_PAYLOAD, &f) > 0);
        assert_true(f.type == WIRE_MSG_PONG && f.length == 3 && memcmp(f.payload, "abc", 3) == 0);
    }
    /* a buffer too small for an answer: nothing, never a write past it */
    guarded g = guard_alloc(WIRE_UDP_OVERHEAD + WIRE_MIN_MAX_PAYLOAD - 1);
    assert_int_equal(wire_udp_encode(udp_in, sizeof udp_in, 6, WIRE_MSG_PING, NULL, 0, &n), WIRE_OK);
    assert_int_equal(svc_udp_datagram(&svc, udp_in, n, false, WIRE_UDP_MAX_PAYLOAD, g.p,
                                      WIRE_UDP_OVERHEAD + WIRE_MIN_MAX_PAYLOAD - 1),
                     0);
    guard_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_every_case),
        cmocka_unit_test(test_udp_answers_as_tcp),
        cmocka_unit_test(test_udp_limits_and_errors),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_decoding_before_definition),
        cmocka_unit_test(test_reply_too_big_for_the_peer),
        cmocka_unit_test(test_vectors_both_ways),
        cmocka_unit_test(test_stats_known_answers),
    };
    return cmocka_run_group_tests_name("service", tests, setup, teardown);
}
