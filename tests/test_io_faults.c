/* SPDX-License-Identifier: MIT */
/* test_io_faults.c - the system calls misbehaving on purpose. This program defines its own
 * sendmsg() and connect(), which the library's calls reach instead of the C library's (the
 * executable's definition comes first); they pass the call on to the kernel (syscall()) and, when a
 * test asks, return what a kernel may return but rarely does: a short write of one byte, EINTR
 * before any byte, a write of nothing at all, a connect interrupted by a signal. */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

typedef enum fault { NONE, ONE_BYTE, EINTR_FIRST, ZERO, CONNECT_EINTR } fault;
static fault g_fault;
static unsigned g_calls;

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
    g_calls++;
    if (g_fault == ZERO) return 0;
    if (g_fault == EINTR_FIRST && g_calls % 2 == 1) {
        errno = EINTR;
        return -1;
    }
    if (g_fault == ONE_BYTE) { /* only the first byte of the first non-empty iovec */
        for (size_t i = 0; i < m->msg_iovlen; i++)
            if (m->msg_iov[i].iov_len) {
                struct iovec one = {m->msg_iov[i].iov_base, 1};
                struct msghdr h = *m;
                h.msg_iov = &one;
                h.msg_iovlen = 1;
                return syscall(SYS_sendmsg, fd, &h, flags);
            }
    }
    return syscall(SYS_sendmsg, fd, m, flags);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    long rc = syscall(SYS_connect, fd, addr, len);
    if (g_fault == CONNECT_EINTR && rc == 0) { /* as if a signal came while it completed */
        errno = EINTR;
        return -1;
    }
    return (int)rc;
}

static void pair(int sv[2]) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

/* Writes through the faulty sendmsg while a reader thread-less loop drains: every byte of every
 * iovec arrives, in order. */
static void check_writev_with(fault f) {
    static uint8_t a[3000], b[1], c[70000], got[sizeof a + sizeof b + sizeof c];
    for (size_t i = 0; i < sizeof c; i++) c[i] = (uint8_t)(i * 11);
    for (size_t i = 0; i < sizeof a; i++) a[i] = (uint8_t)(i * 3 + 1);
    b[0] = 0x5a;
    int sv[2];
    pair(sv);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the reader */
        close(sv[0]);
        size_t n = 0;
        while (n < sizeof got) {
            ssize_t r = read(sv[1], got + n, sizeof got - n);
            if (r <= 0) _exit(2);
            n += (size_t)r;
        }
        bool ok = memcmp(got, a, sizeof a) == 0 && got[sizeof a] == 0x5a && memcmp(got + sizeof a + 1, c, sizeof c) == 0;
        _exit(ok ? 0 : 1);
    }
    close(sv[1]);
    struct iovec iov[4] = {{a, sizeof a}, {NULL, 0}, {b, sizeof b}, {c, sizeof c}};
    g_fault = f;
    g_calls = 0;
    wire_err e = wire_writev_all(sv[0], iov, 4);
    g_fault = NONE;
    assert_int_equal(e, WIRE_OK);
    if (f == ONE_BYTE) assert_int_equal(g_calls, sizeof got); /* really one byte per call */
    if (f == EINTR_FIRST) assert_true(g_calls >= 2);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(sv[0]);
}

static void test_writev_short_writes(void **state) {
    (void)state;
    check_writev_with(ONE_BYTE);
}

static void test_writev_eintr(void **state) {
    (void)state;
    check_writev_with(EINTR_FIRST);
}

/* A write that takes nothing and reports no error must end the call (WIRE_EIO), never loop. It runs
 * in a child so that a loop fails the test (after 3 s) instead of hanging it. */
static void test_writev_zero_is_an_error(void **state) {
    (void)state;
    int sv[2];
    pair(sv);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        g_fault = ZERO;
        wire_err e = wire_send_frame(sv[0], 0x8000, "abc", 3);
        _exit(e == WIRE_EIO && errno == EIO ? 0 : 1);
    }
    int st = 0;
    pid_t r = 0;
    for (int k = 0; k < 300 && (r = waitpid(pid, &st, WNOHANG)) == 0; k++) usleep(10000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("wire_send_frame loops when sendmsg() returns 0");
    }
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(sv[0]);
    close(sv[1]);
}

/* The output queue meets the same faults: short writes and EINTR leave it consistent. */
static void test_outq_faults(void **state) {
    (void)state;
    static uint8_t big[5000], got[2 * (8 + sizeof big)];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 5);
    for (int f = ONE_BYTE; f <= EINTR_FIRST; f++) {
        int sv[2];
        pair(sv);
        wire_outq q;
        assert_int_equal(wire_set_nonblocking(sv[0], true), WIRE_OK);
        wire_outq_init(&q, SIZE_MAX);
        assert_int_equal(wire_outq_push(&q, 0x8001, big, sizeof big), WIRE_OK);
        assert_int_equal(wire_outq_push_ref(&q, 0x8002, big, sizeof big, NULL, NULL), WIRE_OK);
        g_fault = (fault)f;
        size_t n = 0;
        for (int k = 0; k < 100000 && wire_outq_pending(&q) > 0; k++) {
            size_t sent = 0;
            assert_int_equal(wire_outq_send(&q, sv[0], &sent), WIRE_OK);
            ssize_t r = recv(sv[1], got + n, sizeof got - n, MSG_DONTWAIT);
            if (r > 0) n += (size_t)r;
        }
        g_fault = NONE;
        while (n < sizeof got) {
            ssize_t r = read(sv[1], got + n, sizeof got - n);
            assert_true(r > 0);
            n += (size_t)r;
        }
        assert_memory_equal(got + 8, big, sizeof big);
        assert_memory_equal(got + 16 + sizeof big, big, sizeof big);
        assert_int_equal(got[8 + sizeof big + 3], 0x02);
        wire_outq_free(&q);
        close(sv[0]);
        close(sv[1]);
    }
}

/* A Unix-socket connect interrupted by a signal must not be called again (POSIX: EALREADY or
 * EISCONN); the connection it started is waited for and used. */
static void test_unix_connect_eintr(void **state) {
    (void)state;
    char path[64], err[WIRE_ERRBUF_SIZE];
    int lfd, fd;
    snprintf(path, sizeof path, "/tmp/wire-test-eintr-%ld.sock", (long)getpid());
    assert_int_equal(wire_unix_listen(path, 4, &lfd, err, sizeof err), WIRE_OK);
    g_fault = CONNECT_EINTR;
    wire_err e = wire_unix_connect(path, &fd, err, sizeof err);
    g_fault = NONE;
    if (e) fail_msg("wire_unix_connect after EINTR: %s", err);
    int afd;
    assert_int_equal(wire_accept(lfd, false, &afd, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_send_frame(fd, 0x8000, "x", 1), WIRE_OK);
    uint8_t buf[16];
    wire_frame f;
    assert_int_equal(wire_recv_frame(afd, buf, sizeof buf, 64, &f, NULL), WIRE_OK);
    assert_int_equal(f.type, 0x8000);
    close(fd);
    close(afd);
    close(lfd);
    unlink(path);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writev_short_writes), cmocka_unit_test(test_writev_eintr),
        cmocka_unit_test(test_writev_zero_is_an_error), cmocka_unit_test(test_outq_faults),
        cmocka_unit_test(test_unix_connect_eintr),
    };
    return cmocka_run_group_tests_name("io faults", tests, NULL, NULL);
}
