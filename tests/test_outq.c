/* SPDX-License-Identifier: MIT */
/* test_outq.c - the output queue: frames copied and referenced, in order, byte for byte, over a real
 * socket that takes them in short writes; the limit; the release of every reference exactly once;
 * encoding in place; a peer that is gone. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

/* How often each reference was released. */
static int released[512];
static void release(void *arg) { released[(int)(intptr_t)arg]++; }

static void socket_pair(int sv[2], int sndbuf) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sndbuf) assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    assert_int_equal(wire_set_nonblocking(sv[0], true), WIRE_OK);
}

/* Reads exactly n bytes from fd (blocking, bounded by poll timeouts). */
static void read_n(int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        assert_true(poll(&p, 1, 5000) == 1);
        ssize_t r = read(fd, buf + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* Sends the whole queue through fd while `reader` reads the other end: n bytes are expected. */
static void send_all(wire_outq *q, int fd, int reader, uint8_t *got, size_t n, unsigned *calls) {
    size_t have = 0;
    *calls = 0;
    while (wire_outq_pending(q) > 0 || have < n) {
        size_t sent = 0;
        if (wire_outq_pending(q) > 0) {
            assert_int_equal(wire_outq_send(q, fd, &sent), WIRE_OK);
            (*calls)++;
        }
        /* read whatever came, so that the next send finds room again */
        struct pollfd p = {reader, POLLIN, 0};
        if (poll(&p, 1, sent ? 0 : 100) == 1) {
            ssize_t r = read(reader, got + have, n - have);
            assert_true(r > 0);
            have += (size_t)r;
        }
        assert_true(*calls < 1000000);
    }
    assert_int_equal(have, n);
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 8));
}

/* Copied and referenced frames of every size around the copy threshold and the segment batch, sent
 * through a 4 KiB socket buffer: every byte arrives, in order, and each reference is released once,
 * only after its last byte was sent. */
static void test_mixed_frames_in_order(void **state) {
    (void)state;
    enum { N = 300 };
    static uint8_t data[N][2000];
    static uint8_t want[N * (WIRE_HEADER_SIZE + 2000)], got[sizeof want];
    size_t total = 0;
    wire_outq q;
    int sv[2];
    memset(released, 0, sizeof released);
    socket_pair(sv, 4096);
    wire_outq_init(&q, SIZE_MAX);
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * 37) % 2000; /* 0 .. 1999: below and above the copy threshold */
        fill(data[i], len, (unsigned)i);
        uint16_t type = (uint16_t)(0x8000 + i);
        wire_header_encode(want + total, type, (uint32_t)len);
        memcpy(want + total + WIRE_HEADER_SIZE, data[i], len);
        total += WIRE_HEADER_SIZE + len;
        if (i % 3 == 0) assert_int_equal(wire_outq_push(&q, type, data[i], len), WIRE_OK);
        else assert_int_equal(wire_outq_push_ref(&q, type, data[i], len, release, (void *)(intptr_t)i), WIRE_OK);
    }
    assert_int_equal(wire_outq_pending(&q), total);
    for (int i = 0; i < N; i++) /* small references were copied and released at once */
        if (i % 3 != 0) assert_int_equal(released[i], (size_t)(i * 37) % 2000 < 512 ? 1 : 0);
    unsigned calls;
    send_all(&q, sv[0], sv[1], got, total, &calls);
    assert_true(calls > 10); /* the socket buffer really forced short writes */
    assert_bytes_equal(got, total, want, total, "frames through a small socket buffer");
    for (int i = 0; i < N; i++)
        if (i % 3 != 0) assert_int_equal(released[i], 1);
    wire_outq_free(&q);
    for (int i = 0; i < N; i++) /* free after everything was sent releases nothing twice */
        if (i % 3 != 0) assert_int_equal(released[i], 1);
    close(sv[0]);
    close(sv[1]);
}

/* A reference is released when its last byte is sent, not before. */
static void test_reference_released_when_sent(void **state) {
    (void)state;
    static uint8_t big[100000], got[WIRE_HEADER_SIZE + sizeof big];
    wire_outq q;
    int sv[2];
    memset(released, 0, sizeof released);
    fill(big, sizeof big, 3);
    socket_pair(sv, 4096);
    wire_outq_init(&q, SIZE_MAX);
    assert_int_equal(wire_outq_push_ref(&q, 0x8001, big, sizeof big, release, (void *)(intptr_t)1), WIRE_OK);
    size_t sent = 0;
    assert_int_equal(wire_outq_send(&q, sv[0], &sent), WIRE_OK);
    assert_true(sent > 0 && sent < sizeof got);
    assert_int_equal(released[1], 0);
    assert_int_equal(wire_outq_pending(&q), sizeof got - sent);
    unsigned calls;
    read_n(sv[1], got, sent);
    send_all(&q, sv[0], sv[1], got + sent, sizeof got - sent, &calls);
    assert_int_equal(released[1], 1);
    assert_memory_equal(got + WIRE_HEADER_SIZE, big, sizeof big);
    wire_outq_free(&q);
    close(sv[0]);
    close(sv[1]);
}

/* Pushing after a partial send slides the unsent bytes to the front of the copy buffer (their
 * segments move with them), between referenced frames: still every byte in order. */
static void test_push_after_partial_send(void **state) {
    (void)state;
    static uint8_t a[30000], b[5000], r[1500], c[3500]; /* a: 30008 bytes in a 32 KiB buffer */
    static uint8_t want[4 * WIRE_HEADER_SIZE + sizeof a + sizeof b + sizeof r + sizeof c], got[sizeof want];
    wire_outq q;
    int sv[2];
    size_t n = 0, sent = 0;
    memset(released, 0, sizeof released);
    fill(a, sizeof a, 1), fill(b, sizeof b, 2), fill(r, sizeof r, 3), fill(c, sizeof c, 4);
    const uint8_t *parts[] = {a, r, b, c};
    const size_t lens[] = {sizeof a, sizeof r, sizeof b, sizeof c};
    for (int i = 0; i < 4; i++) {
        wire_header_encode(want + n, (uint16_t)(0x8001 + i), (uint32_t)lens[i]);
        memcpy(want + n + WIRE_HEADER_SIZE, parts[i], lens[i]);
        n += WIRE_HEADER_SIZE + lens[i];
    }
    socket_pair(sv, 4096);
    wire_outq_init(&q, SIZE_MAX);
    assert_int_equal(wire_outq_push(&q, 0x8001, a, sizeof a), WIRE_OK);
    assert_int_equal(wire_outq_push_ref(&q, 0x8002, r, sizeof r, release, (void *)(intptr_t)5), WIRE_OK);
    size_t k = 0;
    assert_int_equal(wire_outq_send(&q, sv[0], &k), WIRE_OK);
    assert_true(k > 0 && k < WIRE_HEADER_SIZE + sizeof a); /* the copy buffer now starts with sent bytes */
    read_n(sv[1], got, k);
    sent = k;
    assert_int_equal(wire_outq_push(&q, 0x8003, b, sizeof b), WIRE_OK); /* 5008 more do not fit: slides */
    assert_int_equal(wire_outq_push(&q, 0x8004, c, sizeof c), WIRE_OK);
    unsigned calls;
    send_all(&q, sv[0], sv[1], got + sent, n - sent, &calls);
    assert_bytes_equal(got, n, want, n, "frames pushed after a partial send");
    assert_int_equal(released[5], 1);
    wire_outq_free(&q);
    close(sv[0]);
    close(sv[1]);
}

/* Freeing a queue releases the references it still holds, each once. */
static void test_free_releases_pending(void **state) {
    (void)state;
    static uint8_t big[3][1000];
    wire_outq q;
    memset(released, 0, sizeof released);
    wire_outq_init(&q, SIZE_MAX);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wire_outq_push_ref(&q, 0x8001, big[i], sizeof big[i], release, (void *)(intptr_t)i), WIRE_OK);
    wire_outq_free(&q);
    for (int i = 0; i < 3; i++) assert_int_equal(released[i], 1);
}

/* The limit: pushes succeed while the queue is at or under it (the last one may take it over by
 * one frame), then fail with nothing queued, and succeed again once sending made room. */
static void test_limit(void **state) {
    (void)state;
    static uint8_t payload[1000], sink[1 << 16];
    wire_outq q;
    int sv[2];
    socket_pair(sv, 0);
    wire_outq_init(&q, 2500);
    int ok = 0;
    while (wire_outq_push(&q, 0x8001, payload, sizeof payload) == WIRE_OK) ok++;
    assert_int_equal(ok, 3); /* 1008, 2016, 3024: the third goes over, the fourth is refused */
    assert_true(wire_outq_full(&q));
    size_t before = wire_outq_pending(&q);
    assert_int_equal(wire_outq_push(&q, 0x8001, payload, 10), WIRE_ELIMIT);
    memset(released, 0, sizeof released);
    assert_int_equal(wire_outq_push_ref(&q, 0x8001, payload, sizeof payload, release, (void *)(intptr_t)0),
                     WIRE_ELIMIT);
    assert_int_equal(released[0], 0); /* a refused reference stays the caller's: never released */
    wire_writer w;
    assert_int_equal(wire_outq_begin(&q, 0x8001, 10, &w), WIRE_ELIMIT);
    assert_int_equal(wire_put_u8(&w, 1), WIRE_ELIMIT);
    assert_int_equal(wire_outq_end(&q, &w), WIRE_ELIMIT);
    assert_int_equal(wire_outq_pending(&q), before);
    size_t sent;
    assert_int_equal(wire_outq_send(&q, sv[0], &sent), WIRE_OK);
    assert_int_equal(sent, before);
    read_n(sv[1], sink, before);
    assert_false(wire_outq_full(&q));
    assert_int_equal(wire_outq_push(&q, 0x8001, payload, sizeof payload), WIRE_OK);
    wire_outq_free(&q);
    close(sv[0]);
    close(sv[1]);
}

/* Encoding in place: the frame is queued with the length written; a writer that fails (a bound
 * too small) queues nothing; cancel drops the frame; nothing can be pushed in between. */
static void test_encode_in_place(void **state) {
    (void)state;
    wire_outq q;
    wire_writer w;
    uint8_t got[64];
    int sv[2];
    socket_pair(sv, 0);
    wire_outq_init(&q, SIZE_MAX);
    assert_int_equal(wire_outq_begin(&q, 0x8002, 100, &w), WIRE_OK);
    assert_int_equal(wire_outq_push(&q, 0x8003, "x", 1), WIRE_EINVAL); /* not between begin and end */
    wire_put_u32(&w, 0x01020304);
    wire_put_string(&w, "hi", 2);
    assert_int_equal(wire_outq_end(&q, &w), WIRE_OK);
    assert_int_equal(wire_outq_pending(&q), 8 + 5 + 7);
    assert_int_equal(wire_outq_begin(&q, 0x8004, 3, &w), WIRE_OK);
    wire_put_u32(&w, 7); /* 5 bytes into 3 */
    assert_int_equal(wire_outq_end(&q, &w), WIRE_EOVERFLOW);
    assert_int_equal(wire_outq_begin(&q, 0x8005, 10, &w), WIRE_OK);
    wire_put_u8(&w, 9);
    wire_outq_cancel(&q);
    assert_int_equal(wire_outq_pending(&q), 8 + 5 + 7);
    assert_int_equal(wire_outq_push(&q, 0x8006, NULL, 0), WIRE_OK);
    size_t sent;
    assert_int_equal(wire_outq_send(&q, sv[0], &sent), WIRE_OK);
    read_n(sv[1], got, sent);
    static const uint8_t want[] = {1, 0, 0x80, 0x02, 0, 0, 0, 12, 0x03, 1, 2, 3, 4, 0x40, 0, 0, 0, 2, 'h', 'i',
                                   1, 0, 0x80, 0x06, 0, 0, 0, 0};
    assert_bytes_equal(got, sent, want, sizeof want, "begin/end, a failed writer, cancel, push");
    wire_outq_free(&q);
    close(sv[0]);
    close(sv[1]);
}

/* A peer that is gone: WIRE_ECLOSED, and no SIGPIPE kills the process (SIGPIPE is at its default). */
static void test_closed_peer(void **state) {
    (void)state;
    static uint8_t payload[100000];
    wire_outq q;
    int sv[2];
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    socket_pair(sv, 0);
    close(sv[1]);
    wire_outq_init(&q, SIZE_MAX);
    assert_int_equal(wire_outq_push(&q, 0x8001, payload, sizeof payload), WIRE_OK);
    size_t sent = 1;
    assert_int_equal(wire_outq_send(&q, sv[0], &sent), WIRE_ECLOSED);
    assert_int_equal(sent, 0);
    assert_int_equal(errno, EPIPE);
    wire_outq_free(&q);
    close(sv[0]);
    signal(SIGPIPE, old);
}

/* A length that a u32 cannot carry is refused before the payload is touched; trimming gives back the
 * memory of an empty queue only. */
static void test_range_and_trim(void **state) {
    (void)state;
    wire_outq q;
    uint8_t one = 1;
    wire_outq_init(&q, SIZE_MAX);
#if SIZE_MAX > UINT32_MAX
    assert_int_equal(wire_outq_push(&q, 0x8001, &one, (size_t)UINT32_MAX + 1), WIRE_ERANGE);
    assert_int_equal(wire_outq_push_ref(&q, 0x8001, &one, (size_t)UINT32_MAX + 1, NULL, NULL), WIRE_ERANGE);
#endif
    assert_int_equal(wire_outq_push(&q, 0x8001, NULL, 1), WIRE_EINVAL);
    assert_int_equal(wire_outq_push(&q, 0x8001, &one, 1), WIRE_OK);
    wire_outq_trim(&q);
    assert_non_null(q.buf); /* not empty: kept */
    assert_int_equal(wire_outq_pending(&q), 9);
    wire_outq_free(&q);
    wire_outq_init(&q, SIZE_MAX);
    wire_outq_trim(&q);
    assert_null(q.buf);
    wire_outq_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_frames_in_order), cmocka_unit_test(test_reference_released_when_sent),
        cmocka_unit_test(test_push_after_partial_send), cmocka_unit_test(test_free_releases_pending),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_encode_in_place),       cmocka_unit_test(test_closed_peer),
        cmocka_unit_test(test_range_and_trim),
    };
    return cmocka_run_group_tests_name("outq", tests, NULL, NULL);
}
