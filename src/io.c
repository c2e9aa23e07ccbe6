/* SPDX-License-Identifier: MIT */
/* io.c - robust blocking I/O: loops over short counts, restarts on EINTR, never dies of SIGPIPE. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* BSD/macOS: the socket helpers set SO_NOSIGPIPE instead */
#endif
#ifndef IOV_MAX
#define IOV_MAX 16
#endif

/* Maps errno after a failed call; errno itself is left as it was for the caller. */
static wire_err from_errno(void) {
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return WIRE_ETIMEOUT; /* what SO_RCVTIMEO / SO_SNDTIMEO produce on a blocking socket */
    case EPIPE:
    case ECONNRESET:
        return WIRE_ECLOSED;
    default:
        return WIRE_EIO;
    }
}

/* Reads exactly n bytes; *eof tells an end of stream (read() == 0) from a reset, which both end in
 * WIRE_ECLOSED. */
static wire_err read_exact(int fd, void *buf, size_t n, size_t *got, bool *eof) {
    uint8_t *p = buf;
    size_t done = 0;
    wire_err e = WIRE_OK;
    *eof = false;
    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r > 0) {
            done += (size_t)r;
        } else if (r == 0) {
            e = WIRE_ECLOSED;
            *eof = true;
            break;
        } else if (errno != EINTR) {
            e = from_errno();
            break;
        }
    }
    if (got) *got = done;
    return e;
}

wire_err wire_read_exact(int fd, void *buf, size_t n, size_t *got) {
    bool eof;
    return read_exact(fd, buf, n, got, &eof);
}

ssize_t wire__send_iov(int fd, struct iovec *iov, int cnt) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)cnt;
    ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (r < 0 && errno == ENOTSOCK) r = writev(fd, iov, cnt);
    return r;
}

wire_err wire_writev_all(int fd, struct iovec *iov, int iovcnt) {
    while (iovcnt > 0) {
        if (iov->iov_len == 0) { /* skip empty entries, so a 0 return can only mean no progress */
            iov++;
            iovcnt--;
            continue;
        }
        ssize_t r = wire__send_iov(fd, iov, iovcnt < IOV_MAX ? iovcnt : IOV_MAX);
        if (r < 0) {
            if (errno == EINTR) continue;
            return from_errno();
        }
        if (r == 0) { /* nothing written, no error: retrying could loop forever */
            errno = EIO;
            return WIRE_EIO;
        }
        size_t n = (size_t)r;
        while (iovcnt > 0 && n >= iov->iov_len) { /* drop what was fully written */
            n -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (n) { /* a short write ended inside this entry */
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return WIRE_OK;
}

wire_err wire_write_all(int fd, const void *buf, size_t n) {
    struct iovec iov;
    iov.iov_base = (void *)(uintptr_t)buf; /* writev's iovec is not const; nothing writes through it */
    iov.iov_len = n;
    return wire_writev_all(fd, &iov, 1);
}

wire_err wire_send_frame(int fd, uint16_t type, const void *payload, uint32_t length) {
    uint8_t hdr[WIRE_HEADER_SIZE];
    struct iovec iov[2];
    if (length && payload == NULL) return WIRE_EINVAL;
    wire_header_encode(hdr, type, length);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof hdr;
    iov[1].iov_base = (void *)(uintptr_t)payload;
    iov[1].iov_len = length;
    return wire_writev_all(fd, iov, 2);
}

wire_err wire_recv_frame(int fd, void *buf, size_t cap, uint32_t max_payload, wire_frame *f, size_t *err_offset) {
    uint8_t *p = buf;
    wire_header h;
    size_t got = 0;
    bool eof;
    if (cap < WIRE_HEADER_SIZE) return WIRE_EINVAL;
    /* an end of stream inside the frame truncates it; a reset keeps WIRE_ECLOSED wherever it comes */
    wire_err e = read_exact(fd, p, WIRE_HEADER_SIZE, &got, &eof);
    if (e) return eof && got > 0 ? WIRE_ETRUNCATED : e;
    size_t room = cap - WIRE_HEADER_SIZE;
    uint32_t limit = room < max_payload ? (uint32_t)room : max_payload;
    e = wire_header_decode(p, limit, &h, err_offset); /* before a single payload byte is read */
    if (e) return e;
    e = read_exact(fd, p + WIRE_HEADER_SIZE, h.length, NULL, &eof);
    if (e) return eof ? WIRE_ETRUNCATED : e;
    f->type = h.type;
    f->length = h.length;
    f->payload = p + WIRE_HEADER_SIZE;
    f->size = WIRE_HEADER_SIZE + (size_t)h.length;
    return WIRE_OK;
}
