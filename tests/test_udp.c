/* SPDX-License-Identifier: MIT */
/* test_udp.c - the UDP datagram profile in libwire (SPEC.md section 15): every case of proto/udp.txt
 * through wire_udp_parse() (at the end of a guard page, and at every short length) and through real
 * sockets on loopback; truncation by a small receive buffer (MSG_TRUNC); the encoders against SPEC's
 * worked hex, at every buffer size; the client's request over a server thread that drops,
 * duplicates and sends strays, and against one that never answers (the retry policy of 15.7). */
#include "testutil.h"
#include "udp_cases.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

static udp_case *g_cases;
static size_t g_ncases;

static int setup(void **state) {
    char path[512], err[1200];
    (void)state;
    if (udp_cases_load(proto_path("udp.txt", path, sizeof path), &g_cases, &g_ncases, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    udp_cases_free(g_cases, g_ncases);
    return 0;
}

/* An ERROR frame (its header sound) whose datagram is not exactly its size: dropped (15.3 step 4). */
static bool cut_error(const uint8_t *d, size_t n) {
    return n >= WIRE_UDP_OVERHEAD && d[4] == 1 && d[5] == 0 && wire__load16(d + 6) == WIRE_MSG_ERROR &&
           wire__load32(d + 8) <= WIRE_UDP_MAX_PAYLOAD && n - WIRE_UDP_OVERHEAD != wire__load32(d + 8);
}

/* What wire_udp_parse() must say of a whole case: steps 1-5 of SPEC 15.3 are its own (the drops, and
 * the ERRORs at frame offsets 0..4 of TRUNCATED, VERSION, HEADER, TOOBIG and LENGTH); every other
 * answer (the type, the payload, a reply too large) is decided after it, from a good frame. */
static int expected_rc(const udp_case *c) {
    if (c->len < 4 || cut_error(c->dgram, c->len)) return 0;
    if (c->kind != UC_ERROR) return 1;
    bool step_1_4 = (c->code == WIRE_ETRUNCATED && c->offset == 0) || c->code == WIRE_EVERSION ||
                    c->code == WIRE_EHEADER || (c->code == WIRE_ETOOBIG && c->offset == 4) || c->code == WIRE_ELENGTH;
    return step_1_4 ? -1 : 1;
}

/* Parses d[0..n) placed at the very end of a guard page. */
static int parse_guarded(const uint8_t *d, size_t n, bool cut, uint32_t *id, wire_frame *f, wire_err *e, size_t *at) {
    guarded g = guard_alloc(n);
    if (n) memcpy(g.p, d, n);
    int rc = wire_udp_parse(g.p, n, cut, WIRE_UDP_MAX_PAYLOAD, id, f, e, at);
    if (rc == 1) f->payload = d + (f->payload - g.p); /* the view pointed into the copy */
    guard_free(&g);
    return rc;
}

static void test_parse_every_case(void **state) {
    (void)state;
    assert_true(g_ncases >= 43); /* the file's cases when this test was written: a truncated file fails */
    for (size_t i = 0; i < g_ncases; i++) {
        const udp_case *c = &g_cases[i];
        uint32_t id = 7;
        wire_frame f;
        wire_err e;
        size_t at = 99;
        int rc = parse_guarded(c->dgram, c->len, false, &id, &f, &e, &at);
        if (rc != expected_rc(c)) fail_msg("%s (line %d): wire_udp_parse() = %d, wanted %d", c->name, c->line, rc, expected_rc(c));
        if (rc == 0) {
            if (c->len < 4) assert_int_equal(id, 0);
            continue;
        }
        assert_int_equal(id, wire__load32(c->dgram)); /* the id, whatever its value (0 and 0xFFFFFFFF too) */
        if (rc < 0) {
            if (e != c->code || at != c->offset)
                fail_msg("%s: ERROR %s at %zu, wanted %s at %lu", c->name, wire_err_name(e), at, wire_err_name(c->code),
                         (unsigned long)c->offset);
            continue;
        }
        assert_int_equal(e, WIRE_OK);
        assert_int_equal(f.type, wire__load16(c->dgram + 6));
        assert_int_equal(f.length, c->len - WIRE_UDP_OVERHEAD);
        assert_int_equal(f.size, c->len - 4);
        assert_ptr_equal(f.payload, c->dgram + WIRE_UDP_OVERHEAD);
    }
}

/* A datagram cut short is a whole frame only where the header says the frame ends: every prefix of every case (the short ones whole, the
 * long ones at their first 64 lengths and the last), each at the end of a guard page; and with
 * `truncated` set, nothing is ever whole. */
static void test_parse_prefixes_and_truncated(void **state) {
    (void)state;
    for (size_t i = 0; i < g_ncases; i++) {
        const udp_case *c = &g_cases[i];
        for (size_t n = 0; n <= c->len; n++) {
            if (n > 64 && n + 1 < c->len) n = c->len - 1;
            uint32_t id;
            wire_frame f;
            wire_err e;
            size_t at;
            int rc = parse_guarded(c->dgram, n, false, &id, &f, &e, &at);
            if (n < 4) assert_int_equal(rc, 0);
            else if (n < WIRE_UDP_OVERHEAD) assert_true(rc == -1 && e == WIRE_ETRUNCATED && at == 0);
            else if (cut_error(c->dgram, n) && rc != 0) fail_msg("%s cut to %zu bytes: an ERROR answered", c->name, n);
            else if (rc == 1 && n - WIRE_UDP_OVERHEAD != wire__load32(c->dgram + 8)) /* whole only at the header's size */
                fail_msg("%s cut to %zu bytes parsed as a whole frame", c->name, n);
            int rc_cut = parse_guarded(c->dgram, n, true, &id, &f, &e, &at);
            if (rc_cut == 1) fail_msg("%s: a truncated datagram of %zu bytes parsed as a whole frame", c->name, n);
            if (n >= WIRE_UDP_OVERHEAD && rc == 1)
                assert_true(wire__load16(c->dgram + 6) == WIRE_MSG_ERROR ? rc_cut == 0
                                                                        : rc_cut == -1 && e == WIRE_ELENGTH && at == 4);
        }
    }
}

/* A limit over the datagram's is taken as the datagram's: a length of 65496 is TOOBIG even for a
 * receiver whose TCP limit is 16 MiB; a smaller limit is honoured. */
static void test_parse_limit(void **state) {
    static const uint8_t big[] = {0, 0, 0, 1, 1, 0, 0x01, 0x00, 0, 0, 0xff, 0xd8};
    static const uint8_t small[] = {0, 0, 0, 1, 1, 0, 0x01, 0x00, 0, 0, 0x04, 0x0e};
    uint32_t id;
    wire_frame f;
    wire_err e;
    size_t at;
    (void)state;
    assert_int_equal(wire_udp_parse(big, sizeof big, false, WIRE_DEFAULT_MAX_PAYLOAD, &id, &f, &e, &at), -1);
    assert_true(e == WIRE_ETOOBIG && at == 4);
    assert_int_equal(wire_udp_parse(small, sizeof small, false, 1037, &id, &f, &e, &at), -1); /* 1038 > 1037 */
    assert_true(e == WIRE_ETOOBIG && at == 4);
    assert_int_equal(wire_udp_parse(small, sizeof small, false, 1038, &id, &f, &e, NULL), -1); /* then LENGTH */
    assert_int_equal(e, WIRE_ELENGTH);
}

/* ---- encoding ---- */

static void test_encode_spec_examples(void **state) {
    /* SPEC 15.2: PING with request id 1 and the payload 01..08 */
    static const uint8_t ping[] = {0, 0, 0, 1, 1, 0, 0, 3, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    /* SPEC 15.3: the ERROR answering the ECHO that announces 5 bytes, with the errors.txt message */
    static const char text[] = "length or count larger than the bytes that remain";
    uint8_t want[128];
    (void)state;
    memcpy(want, (const uint8_t[]){0, 0, 0, 0x1c, 1, 0, 0, 2, 0, 0, 0, 0x3e, 0x02, 0, 6, 0x03, 0, 0, 0, 4, 0x40, 0, 0, 0, 0x31}, 25);
    memcpy(want + 25, text, sizeof text - 1);
    size_t want_len = 25 + sizeof text - 1;
    assert_int_equal(want_len, 12 + 0x3e);
    for (size_t cap = 0; cap <= sizeof ping; cap++) { /* every size: too small fails, nothing written past cap */
        guarded g = guard_alloc(cap);
        size_t len = 99;
        wire_err e = wire_udp_encode(g.p, cap, 1, WIRE_MSG_PING, ping + 12, 8, &len);
        if (cap < sizeof ping) assert_true(e == WIRE_EOVERFLOW && len == 0);
        else assert_bytes_equal(g.p, len, ping, sizeof ping, "PING datagram");
        guard_free(&g);
    }
    for (size_t cap = 0; cap <= want_len; cap++) {
        guarded g = guard_alloc(cap);
        size_t len = 99;
        wire_err e = wire_udp_encode_error(g.p, cap, 0x1c, WIRE_ELENGTH, 4, NULL, &len);
        if (cap < want_len) assert_true(e == WIRE_EOVERFLOW && len == 0);
        else assert_bytes_equal(g.p, len, want, want_len, "ERROR datagram");
        guard_free(&g);
    }
    uint8_t h[WIRE_UDP_OVERHEAD];
    wire_udp_header_encode(h, 0xfffffffeu, 0x0102, 0x01020304);
    assert_bytes_equal(h, sizeof h, (const uint8_t[]){0xff, 0xff, 0xff, 0xfe, 1, 0, 1, 2, 1, 2, 3, 4}, 12, "header");
}

/* The largest payload fits, one byte more is TOOBIG; a detail too long for an ERROR is cut, still
 * valid UTF-8; the largest ERROR fits in 12 + WIRE_MIN_MAX_PAYLOAD. */
static void test_encode_limits(void **state) {
    static uint8_t buf[WIRE_UDP_MAX_DATAGRAM + 16], payload[WIRE_UDP_MAX_PAYLOAD + 1];
    static char detail[3000];
    size_t len;
    wire_error_msg m;
    (void)state;
    assert_int_equal(wire_udp_encode(buf, sizeof buf, 9, WIRE_MSG_ECHO, payload, WIRE_UDP_MAX_PAYLOAD, &len), WIRE_OK);
    assert_int_equal(len, WIRE_UDP_MAX_DATAGRAM);
    assert_int_equal(wire_udp_encode(buf, sizeof buf, 9, WIRE_MSG_ECHO, payload, WIRE_UDP_MAX_PAYLOAD + 1, &len),
                     WIRE_ETOOBIG);
    for (size_t i = 0; i + 2 < sizeof detail; i += 2) memcpy(detail + i, "\xc3\xa9", 2); /* é: 2 bytes each */
    detail[sizeof detail - 1] = '\0';
    guarded g = guard_alloc(WIRE_UDP_OVERHEAD + WIRE_MIN_MAX_PAYLOAD);
    assert_int_equal(wire_udp_encode_error(g.p, WIRE_UDP_OVERHEAD + WIRE_MIN_MAX_PAYLOAD, 5, WIRE_EMESSAGE, 9, detail,
                                           &len),
                     WIRE_OK);
    assert_int_equal(wire_get_error_msg(g.p + 12, len - 12, &m, NULL), WIRE_OK);
    assert_true(m.text_len <= WIRE_ERROR_TEXT_MAX && m.text_len > 1000);
    assert_true(m.code == WIRE_EMESSAGE && m.offset == 9);
    guard_free(&g);
}

/* ---- sockets ---- */

typedef struct sock_pair {
    int server, client; /* bound, and connected to it */
    char port[8];
} sock_pair;

static void pair_up(sock_pair *p) {
    char err[WIRE_ERRBUF_SIZE];
    uint16_t port;
    assert_int_equal(wire_udp_bind("127.0.0.1", "0", &p->server, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_local_port(p->server, &port), WIRE_OK);
    snprintf(p->port, sizeof p->port, "%u", (unsigned)port);
    assert_int_equal(wire_udp_connect("127.0.0.1", p->port, &p->client, err, sizeof err), WIRE_OK);
    /* a bound on every wait, far above what loopback takes: a hang becomes a failure */
    assert_int_equal(wire_set_timeouts(p->server, 10000, 10000), WIRE_OK);
    assert_int_equal(wire_set_timeouts(p->client, 10000, 10000), WIRE_OK);
}

static void pair_down(sock_pair *p) {
    close(p->server);
    close(p->client);
}

/* True if a datagram is waiting on fd within ms. */
static bool readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
}

/* Every case over real sockets: the server side receives exactly the bytes sent (size, no
 * truncation, its source), parses them, answers steps 1-4's ERRORs with wire_udp_encode_error() to
 * the source address, and sends a good frame back as it came. The client checks each answer with
 * proto/udp.txt's rules, and that nothing came for the datagrams that are dropped (a PING with
 * another id, sent after, must be what comes next). */
static void test_socket_every_case(void **state) {
    static uint8_t rbuf[WIRE_UDP_RECV_SIZE], out[WIRE_UDP_MAX_DATAGRAM];
    sock_pair p;
    (void)state;
    pair_up(&p);
    for (size_t i = 0; i < g_ncases; i++) {
        const udp_case *c = &g_cases[i];
        size_t n, len = 0;
        bool cut;
        wire_udp_addr from;
        uint32_t id;
        wire_frame f;
        wire_err e;
        size_t at;
        char why[256];
        assert_int_equal(wire_udp_send(p.client, c->dgram, c->len, NULL), WIRE_OK);
        assert_int_equal(wire_udp_recv(p.server, rbuf, sizeof rbuf, &n, &cut, &from), WIRE_OK);
        assert_false(cut);
        assert_true(from.len > 0);
        assert_bytes_equal(rbuf, n, c->dgram, c->len, c->name);
        int rc = wire_udp_parse(rbuf, n, cut, WIRE_UDP_MAX_PAYLOAD, &id, &f, &e, &at);
        assert_int_equal(rc, expected_rc(c));
        if (rc < 0) {
            assert_int_equal(wire_udp_encode_error(out, sizeof out, id, e, (uint32_t)at, "test", &len), WIRE_OK);
            assert_int_equal(wire_udp_send(p.server, out, len, &from), WIRE_OK);
        } else if (rc == 1) {
            assert_int_equal(wire_udp_send_frame(p.server, id, f.type, f.payload, f.length, &from), WIRE_OK);
        }
        if (rc == 0) {
            static const uint8_t probe[] = {0x77, 0x77, 0x77, 0x77, 1, 0, 0, 3, 0, 0, 0, 0};
            assert_false(readable(p.client, 50)); /* nothing was sent: nothing can have come */
            assert_int_equal(wire_udp_send(p.server, probe, sizeof probe, &from), WIRE_OK);
            assert_int_equal(wire_udp_recv(p.client, rbuf, sizeof rbuf, &n, &cut, NULL), WIRE_OK);
            assert_bytes_equal(rbuf, n, probe, sizeof probe, "the probe after a dropped datagram");
            continue;
        }
        assert_int_equal(wire_udp_recv(p.client, rbuf, sizeof rbuf, &n, &cut, NULL), WIRE_OK);
        assert_false(cut);
        if (rc < 0 && !udp_case_check(c, true, rbuf, n, why, sizeof why)) fail_msg("%s", why);
        if (rc == 1) assert_bytes_equal(rbuf, n, c->dgram, c->len, c->name);
    }
    pair_down(&p);
}

/* SPEC 15.4: a receive buffer too small cuts the datagram and the kernel says so (MSG_TRUNC); the
 * cut datagram is LENGTH at 4, even when the cut falls exactly at the end of the frame its header
 * announces (bytes after the frame were lost: it was not that frame). */
static void test_truncation(void **state) {
    static uint8_t d[1512 + 5], rbuf[WIRE_UDP_RECV_SIZE];
    sock_pair p;
    size_t n;
    bool cut;
    uint32_t id;
    wire_frame f;
    wire_err e;
    size_t at;
    (void)state;
    pair_up(&p);
    wire_udp_header_encode(d, 0x1f, WIRE_MSG_ECHO, 1500);
    memset(d + 12, 0x5a, sizeof d - 12);
    /* the course's recv(fd, buf, 1024) */
    assert_int_equal(wire_udp_send(p.client, d, 1512, NULL), WIRE_OK);
    assert_int_equal(wire_udp_recv(p.server, rbuf, 1024, &n, &cut, NULL), WIRE_OK);
    assert_true(n == 1024 && cut);
    assert_int_equal(wire_udp_parse(rbuf, n, cut, WIRE_UDP_MAX_PAYLOAD, &id, &f, &e, &at), -1);
    assert_true(e == WIRE_ELENGTH && at == 4 && id == 0x1f);
    /* 5 bytes after the frame, cut exactly at its end: only the flag tells */
    assert_int_equal(wire_udp_send(p.client, d, sizeof d, NULL), WIRE_OK);
    assert_int_equal(wire_udp_recv(p.server, rbuf, 1512, &n, &cut, NULL), WIRE_OK);
    assert_true(n == 1512 && cut);
    assert_int_equal(wire_udp_parse(rbuf, n, cut, WIRE_UDP_MAX_PAYLOAD, &id, &f, &e, &at), -1);
    assert_true(e == WIRE_ELENGTH && at == 4);
    /* a buffer large enough: the same datagram whole, and LENGTH again, for the bytes after the frame */
    assert_int_equal(wire_udp_send(p.client, d, sizeof d, NULL), WIRE_OK);
    assert_int_equal(wire_udp_recv(p.server, rbuf, sizeof rbuf, &n, &cut, NULL), WIRE_OK);
    assert_true(n == sizeof d && !cut);
    assert_int_equal(wire_udp_parse(rbuf, n, cut, WIRE_UDP_MAX_PAYLOAD, &id, &f, &e, &at), -1);
    assert_int_equal(e, WIRE_ELENGTH);
    /* and the largest datagram arrives whole into WIRE_UDP_RECV_SIZE */
    static uint8_t big[WIRE_UDP_MAX_DATAGRAM];
    size_t len;
    assert_int_equal(wire_udp_encode(big, sizeof big, 2, WIRE_MSG_ECHO, rbuf, WIRE_UDP_MAX_PAYLOAD, &len), WIRE_OK);
    assert_int_equal(wire_udp_send(p.client, big, len, NULL), WIRE_OK);
    assert_int_equal(wire_udp_recv(p.server, rbuf, sizeof rbuf, &n, &cut, NULL), WIRE_OK);
    assert_true(n == WIRE_UDP_MAX_DATAGRAM && !cut);
    assert_int_equal(wire_udp_parse(rbuf, n, cut, WIRE_UDP_MAX_PAYLOAD, &id, &f, &e, &at), 1);
    /* nothing waiting: a non-blocking socket says so as a timeout, not as an empty datagram */
    assert_int_equal(wire_set_nonblocking(p.server, true), WIRE_OK);
    assert_int_equal(wire_udp_recv(p.server, rbuf, sizeof rbuf, &n, &cut, NULL), WIRE_ETIMEOUT);
    /* a negative iovec count is refused, not turned into a huge size_t for sendmsg */
    struct iovec iov = {d, 12};
    errno = 0;
    assert_int_equal(wire_udp_sendv(p.client, &iov, -1, NULL), WIRE_EIO);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(wire_udp_recv(p.server, rbuf, sizeof rbuf, &n, &cut, NULL), WIRE_ETIMEOUT);
    pair_down(&p);
}

static void test_bind_errors(void **state) {
    char err[WIRE_ERRBUF_SIZE];
    int fd, fd2;
    uint16_t port;
    char num[8];
    (void)state;
    assert_int_equal(wire_udp_bind("127.0.0.1", "0", &fd, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_local_port(fd, &port), WIRE_OK);
    snprintf(num, sizeof num, "%u", (unsigned)port);
    /* no SO_REUSEADDR: a second server on the port is refused, not given half the datagrams */
    assert_int_equal(wire_udp_bind("127.0.0.1", num, &fd2, err, sizeof err), WIRE_EIO);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(err, "bind"));
    close(fd);
    assert_int_equal(wire_udp_bind("127.0.0.1", "99999", &fd, err, sizeof err), WIRE_EADDRESS);
    assert_int_equal(wire_udp_connect("127.0.0.1", "0", &fd, err, sizeof err), WIRE_EADDRESS);
    assert_int_equal(wire_udp_connect("no-such-host.invalid", "7", &fd, err, sizeof err), WIRE_EADDRESS);
}

/* ---- the client's request (SPEC 15.7) ---- */

/* A server on a thread that loses and duplicates: the first (id % 3) copies of each request are
 * dropped; before each answer it sends a PONG with another id and a 3-byte datagram (both must be
 * dropped by the client), and it sends each answer twice. */
typedef struct lossy {
    int fd;
    int stop;
    uint32_t ids[64];
    unsigned copies[64];
    unsigned long answered;
} lossy;

static void *lossy_main(void *arg) {
    lossy *l = arg;
    static uint8_t in[WIRE_UDP_RECV_SIZE];
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        size_t n;
        bool cut;
        wire_udp_addr from;
        uint32_t id;
        wire_frame f;
        wire_err e;
        if (!readable(l->fd, 20)) continue;
        if (wire_udp_recv(l->fd, in, sizeof in, &n, &cut, &from) != WIRE_OK) continue;
        if (wire_udp_parse(in, n, cut, WIRE_UDP_MAX_PAYLOAD, &id, &f, &e, NULL) != 1) continue;
        unsigned k = id % 64;
        if (l->ids[k] != id) l->ids[k] = id, l->copies[k] = 0;
        if (l->copies[k]++ < id % 3) continue; /* lost */
        /* a send that fails is loss, which is what this server is for anyway */
        wire_err ignored = wire_udp_send_frame(l->fd, id + 1000, WIRE_MSG_PONG, "stray", 5, &from);
        ignored = wire_udp_send(l->fd, "\x01\x02\x03", 3, &from);
        for (int twice = 0; twice < 2; twice++)
            ignored = wire_udp_send_frame(l->fd, id, f.type == WIRE_MSG_PING ? WIRE_MSG_PONG : WIRE_MSG_ERROR, f.payload,
                                          f.length, &from);
        (void)ignored;
        l->answered++;
    }
    return NULL;
}

static void test_request_loss_and_duplicates(void **state) {
    static uint8_t buf[WIRE_UDP_RECV_SIZE];
    sock_pair p;
    lossy l;
    pthread_t t;
    wire_udp_client c;
    unsigned long want_resent = 0;
    (void)state;
    pair_up(&p);
    memset(&l, 0, sizeof l);
    l.fd = p.server;
    assert_int_equal(pthread_create(&t, NULL, lossy_main, &l), 0);
    assert_int_equal(wire_udp_client_init(&c, p.client, buf, sizeof buf), WIRE_OK);
    /* short first waits, many sends: loss costs little, and a loaded machine cannot exhaust them */
    c.policy.first_timeout_ms = 20;
    c.policy.max_timeout_ms = 1000;
    c.policy.max_sends = 30;
    enum { N = 30 };
    for (int i = 0; i < N; i++) {
        char msg[16];
        wire_frame f;
        int len = snprintf(msg, sizeof msg, "request %d", i);
        uint32_t id = c.next_id;
        want_resent += id % 3;
        wire_err e = wire_udp_request(&c, WIRE_MSG_PING, msg, (size_t)len, &f);
        if (e) fail_msg("request %d: %s", i, wire_strerror(e));
        assert_int_equal(f.type, WIRE_MSG_PONG);
        assert_int_equal(f.length, (uint32_t)len);
        assert_memory_equal(f.payload, msg, (size_t)len);
        assert_int_equal(c.next_id, id + 1); /* a new id per request, the same for its retries */
    }
    __atomic_store_n(&l.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    /* lower bounds that hold whatever the timing: each lost copy forced a resend; the stray and the
     * bad datagram of every answer, and the duplicate of every answer but the last, were dropped */
    print_message("udp lossy: %lu sent, %lu resent (>= %lu), %lu dropped\n", c.sent, c.resent, want_resent, c.dropped);
    assert_true(c.resent >= want_resent);
    assert_true(want_resent > 0);
    assert_true(c.dropped >= 2 * N + (N - 1));
    assert_int_equal(c.sent, N + c.resent);
    pair_down(&p);
}

/* Nobody answers: exactly max_sends copies of the one datagram, with one id, then WIRE_ETIMEOUT. */
static void test_request_timeout(void **state) {
    static uint8_t buf[WIRE_UDP_RECV_SIZE], in[WIRE_UDP_RECV_SIZE], first[64];
    sock_pair p;
    wire_udp_client c;
    wire_frame f;
    size_t n, first_len = 0;
    bool cut;
    (void)state;
    pair_up(&p);
    assert_int_equal(wire_udp_client_init(&c, p.client, buf, sizeof buf), WIRE_OK);
    c.policy.first_timeout_ms = 5;
    c.policy.max_timeout_ms = 20;
    c.policy.max_sends = 5;
    assert_int_equal(wire_udp_request(&c, WIRE_MSG_PING, "x", 1, &f), WIRE_ETIMEOUT);
    assert_true(c.sent == 5 && c.resent == 4 && c.dropped == 0);
    assert_int_equal(wire_set_nonblocking(p.server, true), WIRE_OK);
    int copies = 0;
    while (wire_udp_recv(p.server, in, sizeof in, &n, &cut, NULL) == WIRE_OK) {
        if (copies++ == 0) memcpy(first, in, first_len = n);
        else assert_bytes_equal(in, n, first, first_len, "a retry"); /* the same datagram, the same id */
    }
    assert_int_equal(copies, 5);
    /* the policy is checked; a payload too large is not sent */
    c.policy.max_sends = 0;
    assert_int_equal(wire_udp_request(&c, WIRE_MSG_PING, "x", 1, &f), WIRE_EINVAL);
    wire_udp_policy_init(&c.policy);
    assert_true(c.policy.first_timeout_ms == 100 && c.policy.max_timeout_ms == 1000 && c.policy.max_sends == 8);
    static uint8_t big[WIRE_UDP_MAX_PAYLOAD + 1];
    assert_int_equal(wire_udp_request(&c, WIRE_MSG_ECHO, big, sizeof big, &f), WIRE_ETOOBIG);
    assert_int_equal(c.sent, 5);
    assert_int_equal(wire_udp_client_init(&c, -1, buf, sizeof buf), WIRE_EINVAL);
    pair_down(&p);
}

/* A connected socket learns from ICMP that nobody listens: WIRE_ECLOSED, without waiting out the
 * retries. */
static void test_request_refused(void **state) {
    static uint8_t buf[256];
    sock_pair p;
    wire_udp_client c;
    wire_frame f;
    (void)state;
    pair_up(&p);
    close(p.server); /* the port is free again: datagrams to it are refused */
    assert_int_equal(wire_udp_client_init(&c, p.client, buf, sizeof buf), WIRE_OK);
    c.policy.first_timeout_ms = 2000; /* the refusal comes long before this */
    c.policy.max_timeout_ms = 2000;
    assert_int_equal(wire_udp_request(&c, WIRE_MSG_PING, "x", 1, &f), WIRE_ECLOSED);
    close(p.client);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_every_case),
        cmocka_unit_test(test_parse_prefixes_and_truncated),
        cmocka_unit_test(test_parse_limit),
        cmocka_unit_test(test_encode_spec_examples),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_socket_every_case),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_request_loss_and_duplicates),
        cmocka_unit_test(test_request_timeout),
        cmocka_unit_test(test_request_refused),
    };
    return cmocka_run_group_tests_name("udp", tests, setup, teardown);
}
