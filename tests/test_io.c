/* SPDX-License-Identifier: MIT */
/* test_io.c - robust I/O over socketpairs: one byte at a time, EINTR, closed peers, frames. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

/* Both ends time out after 10 s: a regression that waits for bytes that never come fails (EAGAIN)
 * instead of hanging the suite. */
static void pair(int sv[2]) {
    struct timeval tv = {10, 0};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
        assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    }
}

static void nap_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* Writes `len` bytes one at a time with tiny pauses, so the reader sees many short reads. */
typedef struct trickle {
    int fd;
    const uint8_t *data;
    size_t len;
} trickle;

static void *trickle_writer(void *arg) {
    trickle *t = arg;
    for (size_t i = 0; i < t->len; i++) {
        if (write(t->fd, t->data + i, 1) != 1) break;
        if (i % 16 == 0) nap_us(50);
    }
    return NULL;
}

static void test_read_exact_one_byte_at_a_time(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    uint8_t src[3000], dst[3000];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 13);
    trickle t = {sv[1], src, sizeof src};
    pthread_t th;
    pthread_create(&th, NULL, trickle_writer, &t);
    size_t got = 0;
    assert_int_equal(wire_read_exact(sv[0], dst, sizeof dst, &got), WIRE_OK);
    assert_int_equal(got, sizeof dst);
    assert_memory_equal(src, dst, sizeof src);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
}

/* Frames sent whole, received through a trickle: recv_frame reassembles each. */
static void test_recv_frame_through_trickle(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    uint8_t stream[2 * WIRE_HEADER_SIZE + 700];
    wire_header_encode(stream, 0x8001, 0);
    wire_header_encode(stream + 8, 0x8002, 700);
    for (int i = 0; i < 700; i++) stream[16 + i] = (uint8_t)i;
    trickle t = {sv[1], stream, sizeof stream};
    pthread_t th;
    pthread_create(&th, NULL, trickle_writer, &t);
    uint8_t buf[1024];
    wire_frame f;
    assert_int_equal(wire_recv_frame(sv[0], buf, sizeof buf, WIRE_DEFAULT_MAX_PAYLOAD, &f, NULL), WIRE_OK);
    assert_int_equal(f.type, 0x8001);
    assert_int_equal(f.length, 0);
    assert_int_equal(wire_recv_frame(sv[0], buf, sizeof buf, WIRE_DEFAULT_MAX_PAYLOAD, &f, NULL), WIRE_OK);
    assert_int_equal(f.type, 0x8002);
    assert_int_equal(f.length, 700);
    assert_memory_equal(f.payload, stream + 16, 700);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
}

/* A 4 MiB frame through a socket buffer much smaller than it: writev must loop over partial writes
 * while the peer reads concurrently. */
typedef struct sink {
    int fd;
    uint8_t *buf;
    size_t cap;
    wire_frame f;
    wire_err err;
} sink;

static void *frame_reader(void *arg) {
    sink *s = arg;
    s->err = wire_recv_frame(s->fd, s->buf, s->cap, UINT32_MAX, &s->f, NULL);
    return NULL;
}

static void test_send_frame_large(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    size_t n = 4u << 20;
    uint8_t *payload = malloc(n);
    for (size_t i = 0; i < n; i++) payload[i] = (uint8_t)(i ^ (i >> 8));
    sink s = {sv[0], malloc(n + WIRE_HEADER_SIZE), n + WIRE_HEADER_SIZE, {0, 0, NULL, 0}, WIRE_OK};
    pthread_t th;
    pthread_create(&th, NULL, frame_reader, &s);
    assert_int_equal(wire_send_frame(sv[1], 0x8003, payload, (uint32_t)n), WIRE_OK);
    pthread_join(th, NULL);
    assert_int_equal(s.err, WIRE_OK);
    assert_int_equal(s.f.length, n);
    assert_memory_equal(s.f.payload, payload, n);
    free(payload);
    free(s.buf);
    close(sv[0]);
    close(sv[1]);
}

static void test_writev_all_many_pieces(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    enum { PIECES = 3000 }; /* more than IOV_MAX (1024 on Linux) */
    static uint8_t data[PIECES];
    static struct iovec iov[PIECES + 2];
    for (int i = 0; i < PIECES; i++) {
        data[i] = (uint8_t)(i * 3);
        iov[i].iov_base = &data[i];
        iov[i].iov_len = 1;
    }
    iov[PIECES].iov_base = data;
    iov[PIECES].iov_len = 0; /* empty entries are fine */
    iov[PIECES + 1].iov_base = data;
    iov[PIECES + 1].iov_len = 10;
    assert_int_equal(wire_writev_all(sv[1], iov, PIECES + 2), WIRE_OK);
    uint8_t got[PIECES + 10];
    assert_int_equal(wire_read_exact(sv[0], got, sizeof got, NULL), WIRE_OK);
    assert_memory_equal(got, data, PIECES);
    assert_memory_equal(got + PIECES, data, 10);
    close(sv[0]);
    close(sv[1]);
}

static void test_closed_peer(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    uint8_t buf[16];
    size_t got = 99;
    assert_int_equal(write(sv[1], "abc", 3), 3);
    close(sv[1]);
    assert_int_equal(wire_read_exact(sv[0], buf, sizeof buf, &got), WIRE_ECLOSED);
    assert_int_equal(got, 3);
    close(sv[0]);
    /* Writing to a closed peer: WIRE_ECLOSED, and no SIGPIPE (SIGPIPE is at its default: it would kill
     * this test process). */
    pair(sv);
    close(sv[0]);
    signal(SIGPIPE, SIG_DFL);
    assert_int_equal(wire_write_all(sv[1], "x", 1), WIRE_ECLOSED);
    assert_int_equal(wire_send_frame(sv[1], 0x8000, "abc", 3), WIRE_ECLOSED);
    close(sv[1]);
}

/* A pipe is not a socket: write_all falls back to write(2) and still works. */
static void test_pipe_fallback(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(wire_write_all(p[1], "hello", 5), WIRE_OK);
    char buf[5];
    assert_int_equal(wire_read_exact(p[0], buf, 5, NULL), WIRE_OK);
    assert_memory_equal(buf, "hello", 5);
    close(p[0]);
    close(p[1]);
}

/* EINTR: a signal handler installed WITHOUT SA_RESTART interrupts the blocked read again and again;
 * read_exact must carry on and return the data. */
static volatile sig_atomic_t interrupts;
static void on_usr1(int sig) {
    (void)sig;
    interrupts++;
}

typedef struct blocked_read {
    int fd;
    uint8_t buf[64];
    wire_err err;
    volatile int started;
} blocked_read;

static void *blocked_reader(void *arg) {
    blocked_read *b = arg;
    b->started = 1;
    b->err = wire_read_exact(b->fd, b->buf, sizeof b->buf, NULL);
    return NULL;
}

static void test_read_survives_eintr(void **state) {
    (void)state;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: read(2) fails with EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    int sv[2];
    pair(sv);
    blocked_read b;
    memset(&b, 0, sizeof b);
    b.fd = sv[0];
    pthread_t th;
    pthread_create(&th, NULL, blocked_reader, &b);
    while (!b.started) nap_us(100);
    interrupts = 0;
    uint8_t src[64];
    for (int i = 0; i < 64; i++) src[i] = (uint8_t)(200 - i);
    for (int k = 0; k < 32; k++) {
        nap_us(2000);
        pthread_kill(th, SIGUSR1);
        if (k % 4 == 3) assert_int_equal(write(sv[1], src + (k / 4) * 8, 8), 8);
    }
    pthread_join(th, NULL);
    assert_int_equal(b.err, WIRE_OK);
    assert_memory_equal(b.buf, src, 64);
    assert_true(interrupts >= 16);
    signal(SIGUSR1, SIG_DFL);
    close(sv[0]);
    close(sv[1]);
}

static void test_recv_frame_refuses_before_payload(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    uint8_t hdr[8], buf[64];
    wire_frame f;
    size_t at = 0;
    wire_header_encode(hdr, 0x0100, 100);
    assert_int_equal(write(sv[1], hdr, 8), 8);
    assert_int_equal(write(sv[1], "PAYLOAD", 7), 7);
    assert_int_equal(wire_recv_frame(sv[0], buf, sizeof buf, 50, &f, &at), WIRE_ETOOBIG);
    assert_int_equal(at, 4);
    /* nothing of the payload was consumed */
    char rest[7];
    assert_int_equal(read(sv[0], rest, 7), 7);
    assert_memory_equal(rest, "PAYLOAD", 7);
    /* the caller's buffer bounds the limit too */
    assert_int_equal(write(sv[1], hdr, 8), 8);
    assert_int_equal(wire_recv_frame(sv[0], buf, sizeof buf, UINT32_MAX, &f, &at), WIRE_ETOOBIG);
    assert_int_equal(wire_recv_frame(sv[0], buf, 4, UINT32_MAX, &f, &at), WIRE_EINVAL);
    close(sv[0]);
    close(sv[1]);
}

/* The end of the stream: at a frame boundary it is WIRE_ECLOSED (the peer finished); inside a
 * frame, header or payload, WIRE_ETRUNCATED (the frame was cut). */
static void test_recv_frame_end_of_stream(void **state) {
    (void)state;
    static const size_t cut[] = {0, 1, 7, 8, 9, 12};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        int sv[2];
        uint8_t frame[8 + 5], buf[64];
        wire_frame f;
        pair(sv);
        wire_header_encode(frame, 0x8000, 5);
        memcpy(frame + 8, "hello", 5);
        assert_int_equal(wire_write_all(sv[1], frame, cut[i]), WIRE_OK);
        close(sv[1]);
        wire_err e = wire_recv_frame(sv[0], buf, sizeof buf, 64, &f, NULL);
        if (e != (cut[i] == 0 ? WIRE_ECLOSED : WIRE_ETRUNCATED))
            fail_msg("EOF after %zu bytes of a frame: %s", cut[i], wire_err_name(e));
        close(sv[0]);
    }
}

static void test_timeout(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    uint8_t b;
    assert_int_equal(wire_set_timeouts(sv[0], 50, 50), WIRE_OK);
    assert_int_equal(wire_read_exact(sv[0], &b, 1, NULL), WIRE_ETIMEOUT);
    assert_int_equal(wire_set_timeouts(sv[0], -1, 0), WIRE_EINVAL);
    close(sv[0]);
    close(sv[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_exact_one_byte_at_a_time),
        cmocka_unit_test(test_recv_frame_through_trickle),
        cmocka_unit_test(test_send_frame_large),
        cmocka_unit_test(test_writev_all_many_pieces),
        cmocka_unit_test(test_closed_peer),
        cmocka_unit_test(test_pipe_fallback),
        cmocka_unit_test(test_read_survives_eintr),
        cmocka_unit_test(test_recv_frame_refuses_before_payload),
        cmocka_unit_test(test_recv_frame_end_of_stream),
        cmocka_unit_test(test_timeout),
    };
    alarm(30); /* the pipe has no socket timeout: a hang anywhere ends the run as a failure */
    return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
