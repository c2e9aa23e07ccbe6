/* SPDX-License-Identifier: MIT */
/* fake_io.c - see fake_io.h. */
#include "fake_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuzz.h"

fio_state fio = {.fd = -1};
static int peer_fd = -1;

void fio_begin(size_t out_cap) {
    int sv[2];
    /* the buffers are kept from one input to the next: a large malloc per input (an mmap under
     * ASan) would cost more than the input's run */
    uint8_t *in = fio.in, *out = fio.out;
    size_t in_cap = fio.in_cap, had = fio.out_cap;
    memset(&fio, 0, sizeof fio);
    fio.fd = -1;
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fio.fd = sv[0];
    peer_fd = sv[1];
    fio.in = in;
    fio.in_cap = in_cap;
    if (out_cap > had) {
        free(out);
        out = malloc(out_cap);
        FUZZ_CHECK(out);
        had = out_cap;
    }
    fio.out = out;
    fio.out_cap = had;
    fio.now = 1000000; /* any start: deadlines are relative to it */
}

void fio_end(void) {
    if (peer_fd >= 0) close(peer_fd);
    peer_fd = -1;
    fio.fd = -1; /* the number may be reused by anything now: stop faking it */
}

void fio_give(const uint8_t *p, size_t n) {
    if (n == 0) return;
    if (fio.in_head > 0 && fio.in_head == fio.in_len) fio.in_head = fio.in_len = 0;
    if (fio.in_len + n > fio.in_cap) {
        size_t cap = fio.in_cap ? fio.in_cap : 256;
        while (cap < fio.in_len + n) cap *= 2;
        uint8_t *b = realloc(fio.in, cap);
        FUZZ_CHECK(b);
        fio.in = b;
        fio.in_cap = cap;
    }
    memcpy(fio.in + fio.in_len, p, n);
    fio.in_len += n;
}

static void push(fio_fault *q, size_t head, size_t *len, fio_what what, size_t n) {
    if (*len == FIO_QUEUE) return;
    q[(head + *len) % FIO_QUEUE] = (fio_fault){what, n};
    (*len)++;
}

void fio_read_fault(fio_what what, size_t n) { push(fio.rq, fio.rq_head, &fio.rq_len, what, n); }
void fio_write_fault(fio_what what, size_t n) { push(fio.wq, fio.wq_head, &fio.wq_len, what, n); }

static fio_fault pop(fio_fault *q, size_t *head, size_t *len) {
    fio_fault f = {FIO_NORMAL, 0};
    if (*len == 0) return f;
    f = q[*head];
    *head = (*head + 1) % FIO_QUEUE;
    (*len)--;
    return f;
}

static size_t least(size_t a, size_t limit) { return limit && limit < a ? limit : a; }

ssize_t read(int fd, void *buf, size_t n) {
    if (fd < 0 || fd != fio.fd) return syscall(SYS_read, fd, buf, n);
    fio.reads++;
    fio_fault f = pop(fio.rq, &fio.rq_head, &fio.rq_len);
    size_t avail = fio.in_len - fio.in_head;
    switch (f.what) {
    case FIO_EINTR: errno = EINTR; return -1;
    case FIO_EAGAIN: errno = EAGAIN; return -1;
    case FIO_RESET: errno = ECONNRESET; return -1;
    case FIO_EOF: fio.in_eof = true; break;
    default: break;
    }
    if (n == 0) return 0;
    if (avail == 0) {
        if (fio.in_eof) return 0;
        errno = EAGAIN;
        return -1;
    }
    size_t k = least(least(n, fio.read_max), avail);
    if (f.what == FIO_SHORT) k = least(k, f.n ? f.n : 1);
    memcpy(buf, fio.in + fio.in_head, k);
    fio.in_head += k;
    fio.in_total += k;
    return (ssize_t)k;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
    if (fd < 0 || fd != fio.fd) return syscall(SYS_sendmsg, fd, m, flags);
    fio.writes++;
    if (fio.shut_wr) fio.sent_after_shut = true;
    fio_fault f = pop(fio.wq, &fio.wq_head, &fio.wq_len);
    switch (f.what) {
    case FIO_EINTR: errno = EINTR; return -1;
    case FIO_EAGAIN: errno = EAGAIN; return -1;
    case FIO_RESET: errno = EPIPE; return -1;
    case FIO_ZERO: return 0;
    default: break;
    }
    size_t total = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++) total += m->msg_iov[i].iov_len;
    size_t k = least(total, fio.write_max);
    if (f.what == FIO_SHORT) k = least(k, f.n ? f.n : 1);
    if (k == 0 && total > 0) { /* a full socket: what a non-blocking send says */
        errno = EAGAIN;
        return -1;
    }
    size_t left = k;
    for (size_t i = 0; i < (size_t)m->msg_iovlen && left > 0; i++) {
        size_t take = least(m->msg_iov[i].iov_len, left);
        size_t keep = least(take, fio.out_cap - fio.out_len);
        if (fio.out_cap - fio.out_len == 0) keep = 0;
        if (keep) memcpy(fio.out + fio.out_len, m->msg_iov[i].iov_base, keep); /* ASan checks the bytes */
        fio.out_len += keep;
        left -= take;
    }
    fio.out_total += k;
    return (ssize_t)k;
}

int shutdown(int fd, int how) {
    if (fd >= 0 && fd == fio.fd && (how == SHUT_WR || how == SHUT_RDWR)) fio.shut_wr = true;
    return (int)syscall(SYS_shutdown, fd, how);
}

int64_t wire_now_ms(void) { return fio.now; }
