/* SPDX-License-Identifier: MIT */
/* fake_io.h - the system calls of one descriptor played from the fuzz input. The fuzz binaries that
 * drive a wire_conn define read(), sendmsg() and shutdown() themselves (the executable's definition
 * is found before the C library's, as in tests/test_io_faults.c) and, for the one descriptor
 * fio_fd, answer from a script instead of the kernel: the peer's bytes, how much each call may
 * take, and EINTR, EAGAIN, a reset or EOF when the input says so. Every other descriptor goes to
 * the kernel unchanged (libFuzzer reads its corpus through read()). They also define wire_now_ms()
 * (libwire's clock.o is then not linked in), so deadlines follow a clock the input moves. */
#ifndef WIRE_FUZZ_FAKE_IO_H
#define WIRE_FUZZ_FAKE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the next read() or sendmsg() on fio_fd does; FIO_NORMAL: as much as it may. */
typedef enum fio_what { FIO_NORMAL, FIO_SHORT, FIO_EINTR, FIO_EAGAIN, FIO_RESET, FIO_EOF, FIO_ZERO } fio_what;

typedef struct fio_fault {
    fio_what what;
    size_t n; /* FIO_SHORT: at most this many bytes */
} fio_fault;

#define FIO_QUEUE 16

typedef struct fio_state {
    int fd;               /* the faked descriptor, -1 for none */
    /* the peer's bytes not yet read */
    uint8_t *in;
    size_t in_len, in_head, in_cap;
    size_t in_total;      /* bytes read() returned, in all */
    bool in_eof;          /* once in is empty, read() returns 0 (else EAGAIN) */
    size_t read_max;      /* bytes one read() returns at most (0: no limit) */
    size_t write_max;     /* bytes one sendmsg() takes at most (0: no limit) */
    fio_fault rq[FIO_QUEUE], wq[FIO_QUEUE]; /* faults for the next reads / writes, in order */
    size_t rq_head, rq_len, wq_head, wq_len;
    /* what the connection sent: every byte sendmsg() took (kept up to out_cap, counted beyond) */
    uint8_t *out;
    size_t out_len, out_cap, out_total;
    bool shut_wr;         /* shutdown(SHUT_WR or SHUT_RDWR) was called */
    bool sent_after_shut; /* a sendmsg() came after it: a bug in the caller */
    unsigned reads, writes;
    int64_t now;          /* wire_now_ms() */
} fio_state;

extern fio_state fio;

/* Makes a fresh state (keeping at least out_cap bytes of output) with a new socket pair: fio.fd is
 * one end (to hand to wire_conn_new(), which owns it from then on), the other end is closed at
 * fio_end(). */
void fio_begin(size_t out_cap);
void fio_end(void);
/* Appends bytes the peer sends. */
void fio_give(const uint8_t *p, size_t n);
/* Queues a fault for the next read() / sendmsg() (dropped when the queue is full). */
void fio_read_fault(fio_what what, size_t n);
void fio_write_fault(fio_what what, size_t n);

#endif
