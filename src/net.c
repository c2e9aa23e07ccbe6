/* SPDX-License-Identifier: MIT */
/* net.c - socket helpers: getaddrinfo, IPv4 and IPv6, Unix-domain sockets. They return errors with an
 * explanation in the caller's errbuf; they never print or exit. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A close-on-exec socket: a server that forks or execs must not leak it to children. */
int wire__socket_cloexec(int family, int type) {
    int fd = -1;
#ifdef SOCK_CLOEXEC
    fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0 && errno != EINVAL) return -1;
#endif
    if (fd < 0) {
        fd = socket(family, type, 0);
        if (fd < 0) return -1;
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
#ifdef SO_NOSIGPIPE
    if (type == SOCK_STREAM) {
        int one = 1; /* where MSG_NOSIGNAL does not exist */
        (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    return fd;
}

static int make_socket(int family) { return wire__socket_cloexec(family, SOCK_STREAM); }

void wire__close_keep_errno(int fd) {
    int saved = errno;
    close(fd);
    errno = saved;
}

wire_err wire_set_nonblocking(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return WIRE_EIO;
    flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, flags) < 0 ? WIRE_EIO : WIRE_OK;
}

const char *wire__show_host(const char *host) { return host && *host ? host : "*"; }

/* The text of the current errno, in the caller's buffer (errno is left as it is). */
#define ERRNO_TEXT(buf) wire__errno_text(errno, buf, sizeof buf)

/* getaddrinfo() takes "99999" and wraps it to 34463; a number must be a port. Names ("http") are
 * left to getaddrinfo. */
bool wire__port_ok(const char *what, const char *host, const char *port, bool zero_ok, char *errbuf, size_t errlen) {
    if (port == NULL || *port == '\0') {
        wire__errbuf(errbuf, errlen, "%s %s: no port given", what, wire__show_host(host));
        return false;
    }
    const char *p = port;
    unsigned long v = 0;
    while (*p >= '0' && *p <= '9' && v <= 65535) v = v * 10 + (unsigned long)(*p++ - '0');
    if (p == port) return true; /* a service name */
    if (*p != '\0' && v <= 65535) {
        wire__errbuf(errbuf, errlen, "%s %s:%s: a port is a number from %d to 65535", what, wire__show_host(host), port,
                     zero_ok ? 0 : 1);
        return false;
    }
    if (v > 65535 || (v == 0 && !zero_ok)) {
        wire__errbuf(errbuf, errlen, "%s %s:%s: port out of range (%d..65535)", what, wire__show_host(host), port,
                     zero_ok ? 0 : 1);
        return false;
    }
    return true;
}

wire_err wire_tcp_listen(const char *host, const char *port, int backlog, int *fd, char *errbuf, size_t errlen) {
    struct addrinfo hints, *res, *ai;
    char et[128];
    *fd = -1;
    if (!wire__port_ok("listen", host, port, true, errbuf, errlen)) return WIRE_EADDRESS;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (host && *host == '\0') host = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        wire__errbuf(errbuf, errlen, "listen %s:%s: %s", wire__show_host(host), port, gai_strerror(rc));
        return WIRE_EADDRESS;
    }
    /* Without a host, prefer the IPv6 wildcard: with IPV6_V6ONLY off it also takes IPv4. */
    for (int pass = 0; pass < 2 && *fd < 0; pass++) {
        for (ai = res; ai && *fd < 0; ai = ai->ai_next) {
            if (host == NULL && (pass == 0) != (ai->ai_family == AF_INET6)) continue;
            if (host != NULL && pass == 1) break;
            int s = make_socket(ai->ai_family);
            const char *what = "socket";
            if (s >= 0) {
                int one = 1, zero = 0;
                (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (ai->ai_family == AF_INET6 &&
                    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr))
                    (void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
                if (bind(s, ai->ai_addr, ai->ai_addrlen) < 0) what = "bind";
                else if (listen(s, backlog) < 0) what = "listen";
                else {
                    *fd = s;
                    break;
                }
                wire__close_keep_errno(s);
            }
            wire__errbuf(errbuf, errlen, "listen %s:%s: %s: %s", wire__show_host(host), port, what, ERRNO_TEXT(et));
        }
    }
    freeaddrinfo(res);
    return *fd >= 0 ? WIRE_OK : WIRE_EIO;
}

static long long now_ms(void) { return (long long)wire_now_ms(); }

/* Waits for a connect() in progress on s to finish, within timeout_ms (<= 0: unbounded); errno
 * describes a failure. */
static wire_err connect_wait(int s, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {s, POLLOUT, 0};
        int wait = -1;
        if (timeout_ms > 0) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return WIRE_ETIMEOUT;
            }
            wait = left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return WIRE_EIO;
        if (n == 0) continue; /* the deadline check above ends it */
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) return WIRE_EIO;
        if (soerr) {
            errno = soerr;
            return soerr == ETIMEDOUT ? WIRE_ETIMEOUT : WIRE_EIO;
        }
        return WIRE_OK;
    }
}

/* One non-blocking connect bounded by timeout_ms (<= 0: unbounded); errno describes a failure. */
static wire_err connect_one(int s, const struct sockaddr *addr, socklen_t len, int timeout_ms) {
    if (wire_set_nonblocking(s, true)) return WIRE_EIO;
    if (connect(s, addr, len) == 0) return wire_set_nonblocking(s, false);
    if (errno != EINPROGRESS && errno != EINTR) return WIRE_EIO;
    wire_err e = connect_wait(s, timeout_ms);
    return e ? e : wire_set_nonblocking(s, false);
}

wire_err wire_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd, char *errbuf,
                          size_t errlen) {
    struct addrinfo hints, *res, *ai;
    char et[128];
    *fd = -1;
    if (!wire__port_ok("connect", host, port, false, errbuf, errlen)) return WIRE_EADDRESS;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        wire__errbuf(errbuf, errlen, "connect %s:%s: %s", wire__show_host(host), port, gai_strerror(rc));
        return WIRE_EADDRESS;
    }
    wire_err e = WIRE_EADDRESS;
    for (ai = res; ai; ai = ai->ai_next) {
        int s = make_socket(ai->ai_family);
        if (s < 0) {
            e = WIRE_EIO;
            wire__errbuf(errbuf, errlen, "connect %s:%s: socket: %s", wire__show_host(host), port, ERRNO_TEXT(et));
            continue;
        }
        e = connect_one(s, ai->ai_addr, ai->ai_addrlen, timeout_ms);
        if (e == WIRE_OK) {
            int one = 1;
            (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            *fd = s;
            break;
        }
        wire__errbuf(errbuf, errlen, "connect %s:%s: %s", wire__show_host(host), port, ERRNO_TEXT(et));
        wire__close_keep_errno(s);
    }
    freeaddrinfo(res);
    return e;
}

static bool unix_addr(const char *path, struct sockaddr_un *sa, char *errbuf, size_t errlen) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (path == NULL || *path == '\0' || strlen(path) >= sizeof sa->sun_path) {
        wire__errbuf(errbuf, errlen, "unix socket path is empty or longer than %zu bytes", sizeof sa->sun_path - 1);
        return false;
    }
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return true;
}

wire_err wire_unix_listen(const char *path, int backlog, int *fd, char *errbuf, size_t errlen) {
    struct sockaddr_un sa;
    struct stat st;
    char et[128];
    *fd = -1;
    if (!unix_addr(path, &sa, errbuf, errlen)) return WIRE_EADDRESS;
    /* A socket file left by a previous run would make bind fail; anything else there is kept. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) (void)unlink(path);
    int s = make_socket(AF_UNIX);
    const char *what = "socket";
    if (s >= 0) {
        if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) what = "bind";
        else if (listen(s, backlog) < 0) what = "listen";
        else {
            *fd = s;
            return WIRE_OK;
        }
        wire__close_keep_errno(s);
    }
    wire__errbuf(errbuf, errlen, "listen unix:%s: %s: %s", path, what, ERRNO_TEXT(et));
    return WIRE_EIO;
}

wire_err wire_unix_connect(const char *path, int *fd, char *errbuf, size_t errlen) {
    struct sockaddr_un sa;
    char et[128];
    *fd = -1;
    if (!unix_addr(path, &sa, errbuf, errlen)) return WIRE_EADDRESS;
    int s = make_socket(AF_UNIX);
    if (s >= 0) {
        /* an interrupted connect() goes on in the background and must not be called again: wait for
         * it as for a non-blocking one */
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 ||
            (errno == EINTR && connect_wait(s, -1) == WIRE_OK)) {
            *fd = s;
            return WIRE_OK;
        }
        wire__close_keep_errno(s);
    }
    wire__errbuf(errbuf, errlen, "connect unix:%s: %s", path, ERRNO_TEXT(et));
    return WIRE_EIO;
}

wire_err wire_accept(int listen_fd, bool nonblocking, int *fd, char *errbuf, size_t errlen) {
    char et[128];
    *fd = -1;
    for (;;) {
        int s = accept(listen_fd, NULL, NULL);
        if (s < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue; /* a client that left while queued */
            if (errno == EAGAIN || errno == EWOULDBLOCK) return WIRE_OK;
            wire__errbuf(errbuf, errlen, "accept: %s", ERRNO_TEXT(et));
            return errno == EMFILE || errno == ENFILE ? WIRE_ELIMIT : WIRE_EIO;
        }
        /* accept4() would save the two calls, but is not POSIX; nothing forks or execs meanwhile in a
         * thread of ours that could inherit s */
        (void)fcntl(s, F_SETFD, FD_CLOEXEC);
        int one = 1;
        (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on Unix sockets */
#ifdef SO_NOSIGPIPE
        (void)setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
        if (wire_set_nonblocking(s, nonblocking) != WIRE_OK) {
            wire__errbuf(errbuf, errlen, "accept: fcntl: %s", ERRNO_TEXT(et));
            wire__close_keep_errno(s);
            return WIRE_EIO;
        }
        *fd = s;
        return WIRE_OK;
    }
}

wire_err wire_local_port(int fd, uint16_t *port) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return WIRE_EIO;
    if (ss.ss_family == AF_INET) *port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6) *port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    else return WIRE_EADDRESS;
    return WIRE_OK;
}

void wire_peer_name(int fd, char *buf, size_t len) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    if (len == 0) return;
    snprintf(buf, len, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        snprintf(buf, len, "unix");
    }
}

wire_err wire_set_timeouts(int fd, int recv_ms, int send_ms) {
    struct timeval tv;
    if (recv_ms < 0 || send_ms < 0) return WIRE_EINVAL;
    tv.tv_sec = recv_ms / 1000;
    tv.tv_usec = (recv_ms % 1000) * 1000;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) return WIRE_EIO;
    tv.tv_sec = send_ms / 1000;
    tv.tv_usec = (send_ms % 1000) * 1000;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) return WIRE_EIO;
    return WIRE_OK;
}
