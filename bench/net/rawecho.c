/* SPDX-License-Identifier: MIT */
/* rawecho - the yardstick for the server benchmarks: a minimal raw epoll echo server.
 *
 *   rawecho [--host H] [--port P]      (defaults 127.0.0.1 and 0; the port is printed alone on the
 *                                       first stdout line, as wire-server does)
 *
 * It puts on the wire exactly the bytes wire-server would for the benchmark's traffic: a HELLO frame
 * is answered with a canned HELLO(1, 16777216, "c-server"), an ECHO frame (0x0100) with the same
 * bytes as ECHO_REPLY (0x0101). Anything else (a bad header, another type, a payload over 16 MiB)
 * closes the connection: it checks nothing more, it is an upper bound, not a peer.
 *
 * Per readiness: ONE read into the connection's buffer, then the type of every complete ECHO frame
 * is rewritten in place and all the replies go out in ONE writev (no copy of the payload). If the
 * write is short, the rest stays referenced in the input buffer and the connection is not read
 * again until it has been written (EPOLLOUT), so the buffer never moves under a pending write.
 * Level-triggered epoll, non-blocking sockets, TCP_NODELAY. Linux only (epoll). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PAYLOAD 16777216u
#define IN_INITIAL 16384u /* grown to one whole frame when a larger frame arrives, then kept */
#define MAX_IOV 64        /* replies per writev; frames beyond wait for the next round */

/* HELLO(1, 16777216, "c-server"): byte for byte what wire-server sends (SPEC 12.6). */
static const unsigned char HELLO_REPLY[] = {
    0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x15,                /* header: HELLO, length 21 */
    0x02, 0x00, 0x01,                                              /* u16 1 */
    0x03, 0x01, 0x00, 0x00, 0x00,                                  /* u32 16777216 */
    0x40, 0x00, 0x00, 0x00, 0x08, 'c', '-', 's', 'e', 'r', 'v', 'e', 'r' /* string "c-server" */
};

typedef struct conn {
    int fd;
    unsigned char *in;
    size_t cap, len;  /* buffer capacity, bytes buffered */
    size_t done;      /* bytes of whole frames answered by the pending write (consumed after it) */
    struct iovec iov[MAX_IOV];
    int iov_first, iov_n; /* the pending write: iov[iov_first .. iov_n) */
} conn;

static int ep;

static void conn_close(conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c->in);
    free(c);
}

static int want(conn *c, uint32_t events)
{
    struct epoll_event ev;
    ev.events = events;
    ev.data.ptr = c;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Queue the replies of the complete frames buffered; -1: the connection must be closed. */
static int parse(conn *c)
{
    size_t off = 0;
    c->iov_first = c->iov_n = 0;
    while (c->len - off >= 8 && c->iov_n < MAX_IOV) {
        unsigned char *h = c->in + off;
        uint32_t len = be32(h + 4);
        unsigned type = (unsigned)h[2] << 8 | h[3];
        if (h[0] != 1 || h[1] != 0 || len > MAX_PAYLOAD)
            return -1;
        if (c->len - off - 8 < len) {
            if (off == 0 && 8 + (size_t)len > c->cap) { /* the frame does not fit: grow, keep */
                unsigned char *n = realloc(c->in, 8 + (size_t)len);
                if (!n)
                    return -1;
                c->in = n;
                c->cap = 8 + (size_t)len;
            }
            break;
        }
        if (type == 0x0100) {
            h[3] = 0x01; /* ECHO_REPLY: the same bytes, type 0x0101 */
            struct iovec *last = c->iov_n ? &c->iov[c->iov_n - 1] : NULL;
            if (last && (unsigned char *)last->iov_base + last->iov_len == h) {
                last->iov_len += 8 + (size_t)len; /* contiguous with the previous reply */
            } else {
                c->iov[c->iov_n].iov_base = h;
                c->iov[c->iov_n++].iov_len = 8 + (size_t)len;
            }
        } else if (type == 0x0001) {
            c->iov[c->iov_n].iov_base = (void *)HELLO_REPLY;
            c->iov[c->iov_n++].iov_len = sizeof HELLO_REPLY;
        } else {
            return -1;
        }
        off += 8 + (size_t)len;
    }
    c->done = off;
    return 0;
}

/* Write what is pending; 1: all written, 0: EAGAIN (wait for EPOLLOUT), -1: error. */
static int flush(conn *c)
{
    while (c->iov_first < c->iov_n) {
        ssize_t n = writev(c->fd, c->iov + c->iov_first, c->iov_n - c->iov_first);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        size_t left = (size_t)n;
        while (left && left >= c->iov[c->iov_first].iov_len)
            left -= c->iov[c->iov_first++].iov_len;
        if (left) {
            c->iov[c->iov_first].iov_base = (unsigned char *)c->iov[c->iov_first].iov_base + left;
            c->iov[c->iov_first].iov_len -= left;
        }
    }
    /* Everything answered is consumed; a partial frame moves to the front. */
    if (c->done) {
        memmove(c->in, c->in + c->done, c->len - c->done);
        c->len -= c->done;
        c->done = 0;
    }
    return 1;
}

/* Answer what is buffered, as far as writing allows; -1: close. Leaves the right events set. */
static int serve(conn *c, int writing)
{
    for (;;) {
        if (parse(c) < 0)
            return -1;
        if (c->iov_n == 0)
            return writing ? want(c, EPOLLIN) : 0;
        int r = flush(c);
        if (r < 0)
            return -1;
        if (r == 0)
            return writing ? 0 : want(c, EPOLLOUT);
        /* Written whole: frames left over (MAX_IOV reached) get no new readiness; go on. */
        if (c->len < 8)
            return writing ? want(c, EPOLLIN) : 0;
    }
}

static void on_readable(conn *c)
{
    ssize_t n;
    do
        n = read(c->fd, c->in + c->len, c->cap - c->len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    if (serve(c, 0) < 0)
        conn_close(c);
}

static void on_writable(conn *c)
{
    int r = flush(c);
    if (r < 0 || (r == 1 && serve(c, 1) < 0))
        conn_close(c);
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("rawecho: accept"); /* EMFILE: the limit was raised to the hard one at start */
            return;
        }
        int one = 1;
        conn *c = calloc(1, sizeof *c);
        if (!c || (c->in = malloc(IN_INITIAL)) == NULL || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
            if (c)
                free(c->in);
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->cap = IN_INITIAL;
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_close(c);
    }
}

static int usage(void)
{
    fputs("usage: rawecho [--host H] [--port P]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "0";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--host") == 0)
            host = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            port = argv[++i];
        else
            return usage();
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "rawecho: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 2;
    }
    int lfd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 4096) < 0 ||
        fcntl(lfd, F_SETFL, O_NONBLOCK) < 0) {
        perror("rawecho: listen");
        return 1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
        perror("rawecho: getsockname");
        return 1;
    }
    unsigned p = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                : ((struct sockaddr_in *)&sa)->sin_port);
    printf("%u\n", p);
    fflush(stdout);

    ep = epoll_create1(0);
    struct epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.ptr = NULL; /* NULL: the listener */
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("rawecho: epoll");
        return 1;
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("rawecho: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c)
                on_accept(lfd);
            else if (c->iov_first < c->iov_n)
                on_writable(c); /* a write is pending: EPOLLOUT (or an error, which writev reports) */
            else
                on_readable(c); /* EPOLLIN, EPOLLHUP, EPOLLERR: read tells which */
        }
    }
}
