/* SPDX-License-Identifier: MIT */
/* udp.c - the UDP datagram profile (SPEC.md section 15): checking a received datagram, encoding
 * one, UDP sockets, and a client's request with the retry policy of 15.7. Nothing allocates. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- datagrams ---- */

int wire_udp_parse(const void *buf, size_t n, bool truncated, uint32_t max_payload, uint32_t *id, wire_frame *f,
                   wire_err *err, size_t *err_offset) {
    const uint8_t *p = (const uint8_t *)buf;
    wire_header h;
    size_t at = 0;
    *id = 0;
    *err = WIRE_OK;
    if (err_offset) *err_offset = 0;
    if (n < 4) return 0; /* step 1: no id to answer with */
    *id = wire__load32(p);
    if (n < WIRE_UDP_OVERHEAD) { /* step 2: no more bytes will come */
        *err = WIRE_ETRUNCATED;
        return -1;
    }
    if (max_payload > WIRE_UDP_MAX_PAYLOAD) max_payload = WIRE_UDP_MAX_PAYLOAD;
    *err = wire__header_decode(p + 4, max_payload, &h, &at); /* step 3, in 2.3's order */
    if (*err == WIRE_OK && (truncated || n - WIRE_UDP_OVERHEAD != h.length)) {
        /* step 4: once the header has passed, its type is trusted, and an ERROR is never
         * answered (7.4), so a cut or padded ERROR is dropped rather than answered LENGTH */
        if (h.type == WIRE_MSG_ERROR) return 0;
        *err = WIRE_ELENGTH, at = 4; /* step 5 */
    }
    if (*err) {
        if (err_offset) *err_offset = at;
        return -1;
    }
    f->type = h.type;
    f->length = h.length;
    f->payload = p + WIRE_UDP_OVERHEAD;
    f->size = WIRE_HEADER_SIZE + (size_t)h.length;
    return 1;
}

void wire_udp_header_encode(uint8_t out[WIRE_UDP_OVERHEAD], uint32_t id, uint16_t type, uint32_t length) {
    wire__store32(out, id);
    wire__header_encode(out + 4, type, length);
}

wire_err wire_udp_encode(void *buf, size_t cap, uint32_t id, uint16_t type, const void *payload, size_t length,
                         size_t *len) {
    uint8_t *p = (uint8_t *)buf;
    if (len) *len = 0;
    if (length > WIRE_UDP_MAX_PAYLOAD) return WIRE_ETOOBIG;
    if (cap < WIRE_UDP_OVERHEAD || cap - WIRE_UDP_OVERHEAD < length) return WIRE_EOVERFLOW;
    wire_udp_header_encode(p, id, type, (uint32_t)length);
    if (length) memcpy(p + WIRE_UDP_OVERHEAD, payload, length);
    if (len) *len = WIRE_UDP_OVERHEAD + length;
    return WIRE_OK;
}

wire_err wire_udp_encode_error(void *buf, size_t cap, uint32_t id, wire_err code, uint32_t offset, const char *detail,
                               size_t *len) {
    char text[WIRE_ERROR_TEXT_MAX + 1];
    uint8_t *p = (uint8_t *)buf;
    wire_writer w;
    size_t n = 0;
    if (len) *len = 0;
    if (cap < WIRE_UDP_OVERHEAD) return WIRE_EOVERFLOW;
    if (detail) snprintf(text, sizeof text, "%s: %s", wire_strerror(code), detail);
    else snprintf(text, sizeof text, "%s", wire_strerror(code));
    size_t tl = strlen(text);
    while (tl > 0 && !wire_utf8_valid(text, tl, NULL)) tl--; /* a cut detail must stay UTF-8 */
    wire_error_msg m = {(uint16_t)code, offset, text, tl};
    size_t room = cap - WIRE_UDP_OVERHEAD;
    wire_writer_init(&w, p + WIRE_UDP_OVERHEAD, room < WIRE_UDP_MAX_PAYLOAD ? room : WIRE_UDP_MAX_PAYLOAD);
    (void)wire_put_error_msg(&w, &m);
    wire_err e = wire_writer_finish(&w, &n);
    if (e) return e;
    wire_udp_header_encode(p, id, WIRE_MSG_ERROR, (uint32_t)n);
    if (len) *len = WIRE_UDP_OVERHEAD + n;
    return WIRE_OK;
}

/* ---- sockets ---- */

/* Binds (passive) or connects a datagram socket to host:port, trying each address in turn. */
static wire_err udp_open(const char *host, const char *port, bool passive, int *fd, char *errbuf, size_t errlen) {
    struct addrinfo hints, *res, *ai;
    char et[128];
    const char *what = passive ? "udp bind" : "udp connect";
    *fd = -1;
    if (!wire__port_ok(what, host, port, passive, errbuf, errlen)) return WIRE_EADDRESS;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    if (host && *host == '\0') host = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        wire__errbuf(errbuf, errlen, "%s %s:%s: %s", what, wire__show_host(host), port, gai_strerror(rc));
        return WIRE_EADDRESS;
    }
    wire_err e = WIRE_EADDRESS;
    /* Without a host, prefer the IPv6 wildcard: with IPV6_V6ONLY off it takes IPv4 too. */
    for (int pass = 0; pass < 2 && *fd < 0; pass++) {
        for (ai = res; ai && *fd < 0; ai = ai->ai_next) {
            if (passive && host == NULL && (pass == 0) != (ai->ai_family == AF_INET6)) continue;
            if ((!passive || host != NULL) && pass == 1) break;
            const char *step = "socket";
            int s = wire__socket_cloexec(ai->ai_family, SOCK_DGRAM);
            if (s >= 0) {
                int zero = 0;
                if (passive && ai->ai_family == AF_INET6 &&
                    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr))
                    (void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
                int r;
                if (passive) {
                    step = "bind";
                    r = bind(s, ai->ai_addr, ai->ai_addrlen);
                } else {
                    step = "connect"; /* no handshake: this only sets the peer; EINTR cannot leave it half done */
                    while ((r = connect(s, ai->ai_addr, ai->ai_addrlen)) < 0 && errno == EINTR) {
                    }
                }
                if (r == 0) {
                    *fd = s;
                    break;
                }
                wire__close_keep_errno(s);
            }
            e = WIRE_EIO;
            wire__errbuf(errbuf, errlen, "%s %s:%s: %s: %s", what, wire__show_host(host), port, step,
                         wire__errno_text(errno, et, sizeof et));
        }
    }
    freeaddrinfo(res);
    return *fd >= 0 ? WIRE_OK : e;
}

wire_err wire_udp_bind(const char *host, const char *port, int *fd, char *errbuf, size_t errlen) {
    return udp_open(host, port, true, fd, errbuf, errlen);
}

wire_err wire_udp_connect(const char *host, const char *port, int *fd, char *errbuf, size_t errlen) {
    return udp_open(host, port, false, fd, errbuf, errlen);
}

static wire_err udp_errno(void) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return WIRE_ETIMEOUT;
    if (errno == ECONNREFUSED) return WIRE_ECLOSED;
    return WIRE_EIO;
}

wire_err wire_udp_recv(int fd, void *buf, size_t cap, size_t *n, bool *truncated, wire_udp_addr *from) {
    struct iovec iov;
    struct msghdr mh;
    *n = 0;
    *truncated = false;
    for (;;) {
        memset(&mh, 0, sizeof mh);
        iov.iov_base = buf;
        iov.iov_len = cap;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (from) {
            mh.msg_name = &from->ss;
            mh.msg_namelen = sizeof from->ss;
        }
        ssize_t r = recvmsg(fd, &mh, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            if (from) from->len = 0;
            return udp_errno();
        }
        *n = (size_t)r;
        /* MSG_TRUNC; and a datagram that fills the buffer is taken as cut where it is not reported */
        *truncated = (mh.msg_flags & MSG_TRUNC) != 0 || (cap > 0 && (size_t)r == cap && cap > WIRE_UDP_MAX_DATAGRAM);
        if (from) from->len = mh.msg_namelen;
        return WIRE_OK;
    }
}

wire_err wire_udp_sendv(int fd, const struct iovec *iov, int iovcnt, const wire_udp_addr *to) {
    if (iovcnt < 0) {
        errno = EINVAL;
        return WIRE_EIO;
    }
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = (struct iovec *)(uintptr_t)iov; /* sendmsg does not write it */
    mh.msg_iovlen = (size_t)iovcnt; /* size_t in glibc, int in POSIX: both take a count >= 0 */
    if (to && to->len) {
        mh.msg_name = (void *)(uintptr_t)&to->ss;
        mh.msg_namelen = to->len;
    }
    for (;;) {
        ssize_t r = sendmsg(fd, &mh, 0);
        if (r >= 0) return WIRE_OK; /* a datagram leaves whole or not at all */
        if (errno != EINTR) return udp_errno();
    }
}

wire_err wire_udp_send(int fd, const void *buf, size_t len, const wire_udp_addr *to) {
    struct iovec iov = {(void *)(uintptr_t)buf, len};
    return wire_udp_sendv(fd, &iov, 1, to);
}

wire_err wire_udp_send_frame(int fd, uint32_t id, uint16_t type, const void *payload, size_t length,
                             const wire_udp_addr *to) {
    uint8_t head[WIRE_UDP_OVERHEAD];
    struct iovec iov[2];
    if (length > WIRE_UDP_MAX_PAYLOAD) return WIRE_ETOOBIG;
    wire_udp_header_encode(head, id, type, (uint32_t)length);
    iov[0].iov_base = head;
    iov[0].iov_len = sizeof head;
    iov[1].iov_base = (void *)(uintptr_t)payload;
    iov[1].iov_len = length;
    return wire_udp_sendv(fd, iov, length ? 2 : 1, to);
}

/* ---- the client ---- */

void wire_udp_policy_init(wire_udp_policy *p) {
    p->first_timeout_ms = 100;
    p->max_timeout_ms = 1000;
    p->max_sends = 8;
}

wire_err wire_udp_client_init(wire_udp_client *c, int fd, void *buf, size_t cap) {
    struct timespec ts;
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (fd < 0 || buf == NULL || cap < WIRE_UDP_OVERHEAD) return WIRE_EINVAL;
    c->fd = fd;
    c->buf = (uint8_t *)buf;
    c->cap = cap;
    wire_udp_policy_init(&c->policy);
    /* a random-enough start (SPEC 15.7): the clock's nanoseconds and the pid, mixed (splitmix64) */
    uint64_t x = (uint64_t)getpid() << 32;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) x ^= (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    x += 0x9E3779B97F4A7C15u;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
    c->next_id = (uint32_t)(x ^ (x >> 31));
    return WIRE_OK;
}

/* Waits until fd is readable or `until` (wire_now_ms()) has passed: 1 readable, 0 time is up. */
static int wait_readable(int fd, int64_t until, wire_err *e) {
    for (;;) {
        int64_t left = until - wire_now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) {
            *e = WIRE_EIO;
            return -1;
        }
    }
}

wire_err wire_udp_request(wire_udp_client *c, uint16_t type, const void *payload, size_t len, wire_frame *answer) {
    const wire_udp_policy *pol = &c->policy;
    if (pol->first_timeout_ms <= 0 || pol->max_timeout_ms < pol->first_timeout_ms || pol->max_sends <= 0)
        return WIRE_EINVAL;
    if (len > WIRE_UDP_MAX_PAYLOAD) return WIRE_ETOOBIG;
    uint32_t id = c->next_id++; /* a retry reuses it: it is the same request */
    int timeout = pol->first_timeout_ms;
    for (int sends = 0; sends < pol->max_sends; sends++) {
        wire_err e = wire_udp_send_frame(c->fd, id, type, payload, len, NULL);
        if (e == WIRE_ECLOSED || e == WIRE_EIO) return e;
        c->sent++; /* WIRE_ETIMEOUT: a full send buffer lost it; the retry is the cure */
        if (sends > 0) c->resent++;
        int64_t until = wire_now_ms() + timeout;
        for (;;) {
            int w = wait_readable(c->fd, until, &e);
            if (w < 0) return e;
            if (w == 0) break;
            size_t n;
            bool cut;
            uint32_t got;
            wire_err perr;
            e = wire_udp_recv(c->fd, c->buf, c->cap, &n, &cut, NULL);
            if (e == WIRE_ETIMEOUT) continue; /* readable, then gone (a bad checksum): wait on */
            if (e) return e;
            if (wire_udp_parse(c->buf, n, cut, WIRE_UDP_MAX_PAYLOAD, &got, answer, &perr, NULL) == 1 && got == id)
                return WIRE_OK;
            c->dropped++; /* a duplicate, a late answer, a bad datagram: never answered (15.7) */
        }
        timeout = timeout > pol->max_timeout_ms / 2 ? pol->max_timeout_ms : timeout * 2;
    }
    return WIRE_ETIMEOUT;
}
