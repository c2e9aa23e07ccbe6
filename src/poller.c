/* SPDX-License-Identifier: MIT */
/* poller.c - readiness notification behind one interface: epoll (Linux), poll, or select. The poll
 * and select versions keep a dense array and a descriptor-to-slot map, so that adding and removing
 * are O(1). Each can wait with a signal mask (epoll_pwait, ppoll, pselect), which is how the fork
 * model wakes up for SIGCHLD without a race. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* ppoll() in glibc's <poll.h> (POSIX.1-2024 has it; glibc 2.36 still hides it) */
#endif
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/epoll.h>
#define HAVE_PPOLL 1
#elif defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
#define HAVE_PPOLL 1
#endif

struct wire__poller {
    wire_model kind;    /* WIRE_MODEL_EPOLL, WIRE_MODEL_POLL or WIRE_MODEL_SELECT */
    int epfd;
    struct pollfd *pfd; /* poll, select: the registered descriptors, dense */
    void **ptr;         /* ptr[i] goes with pfd[i] */
    int n, cap;
    int *slot;          /* slot[fd] = index in pfd, or -1 */
    int slotcap;
};

wire__poller *wire__poller_new(wire_model kind) {
    wire__poller *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->epfd = -1;
    p->kind = kind;
    if (kind == WIRE_MODEL_EPOLL) {
#ifdef __linux__
        p->epfd = epoll_create1(EPOLL_CLOEXEC);
#else
        errno = ENOSYS;
#endif
        if (p->epfd < 0) {
            free(p);
            return NULL;
        }
    } else if (kind != WIRE_MODEL_POLL && kind != WIRE_MODEL_SELECT) {
        free(p);
        errno = EINVAL;
        return NULL;
    }
    return p;
}

void wire__poller_free(wire__poller *p) {
    if (!p) return;
    if (p->epfd >= 0) close(p->epfd);
    free(p->pfd);
    free(p->ptr);
    free(p->slot);
    free(p);
}

#ifdef __linux__
static int epoll_set(wire__poller *p, int op, int fd, void *ptr, unsigned ev) {
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = (ev & WIRE_EV_READ ? EPOLLIN : 0u) | (ev & WIRE_EV_WRITE ? EPOLLOUT : 0u);
    e.data.ptr = ptr;
    return epoll_ctl(p->epfd, op, fd, &e);
}
#endif

static short poll_events(unsigned ev) {
    return (short)((ev & WIRE_EV_READ ? POLLIN : 0) | (ev & WIRE_EV_WRITE ? POLLOUT : 0));
}

int wire__poller_add(wire__poller *p, int fd, void *ptr, unsigned ev) {
#ifdef __linux__
    if (p->kind == WIRE_MODEL_EPOLL) return epoll_set(p, EPOLL_CTL_ADD, fd, ptr, ev);
#endif
    if (fd < 0 || (p->kind == WIRE_MODEL_SELECT && fd >= FD_SETSIZE)) { /* FD_SET past it is undefined */
        errno = EINVAL;
        return -1;
    }
    if (fd >= p->slotcap) {
        int cap = p->slotcap ? p->slotcap : 64;
        while (cap <= fd) cap *= 2;
        int *ns = realloc(p->slot, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        for (int i = p->slotcap; i < cap; i++) ns[i] = -1;
        p->slot = ns;
        p->slotcap = cap;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        struct pollfd *np = realloc(p->pfd, (size_t)cap * sizeof *np);
        if (!np) return -1;
        p->pfd = np;
        void **nptr = realloc(p->ptr, (size_t)cap * sizeof *nptr);
        if (!nptr) return -1;
        p->ptr = nptr;
        p->cap = cap;
    }
    p->slot[fd] = p->n;
    p->pfd[p->n].fd = fd;
    p->pfd[p->n].events = poll_events(ev);
    p->pfd[p->n].revents = 0;
    p->ptr[p->n] = ptr;
    p->n++;
    return 0;
}

int wire__poller_mod(wire__poller *p, int fd, void *ptr, unsigned ev) {
#ifdef __linux__
    if (p->kind == WIRE_MODEL_EPOLL) return epoll_set(p, EPOLL_CTL_MOD, fd, ptr, ev);
#endif
    if (fd < 0 || fd >= p->slotcap || p->slot[fd] < 0) {
        errno = ENOENT;
        return -1;
    }
    p->pfd[p->slot[fd]].events = poll_events(ev);
    p->ptr[p->slot[fd]] = ptr;
    return 0;
}

void wire__poller_del(wire__poller *p, int fd) {
#ifdef __linux__
    if (p->kind == WIRE_MODEL_EPOLL) {
        (void)epoll_set(p, EPOLL_CTL_DEL, fd, NULL, 0);
        return;
    }
#endif
    if (fd < 0 || fd >= p->slotcap || p->slot[fd] < 0) return;
    int i = p->slot[fd], last = --p->n;
    if (i != last) { /* move the last entry into the hole */
        p->pfd[i] = p->pfd[last];
        p->ptr[i] = p->ptr[last];
        p->slot[p->pfd[i].fd] = i;
    }
    p->slot[fd] = -1;
}

static int fill(wire__poller *p, wire__event *ev, int max) {
    int out = 0;
    for (int i = 0; i < p->n && out < max; i++) {
        short r = p->pfd[i].revents;
        if (!r) continue;
        ev[out].ptr = p->ptr[i];
        ev[out].readable = (r & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
        ev[out].writable = (r & (POLLOUT | POLLERR)) != 0;
        out++;
    }
    return out;
}

static int wait_select(wire__poller *p, int timeout_ms, const sigset_t *mask) {
    fd_set rd, wr;
    int maxfd = -1;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    for (int i = 0; i < p->n; i++) {
        int fd = p->pfd[i].fd;
        if (p->pfd[i].events & POLLIN) FD_SET(fd, &rd);
        if (p->pfd[i].events & POLLOUT) FD_SET(fd, &wr);
        if (fd > maxfd) maxfd = fd;
    }
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    int n = pselect(maxfd + 1, &rd, &wr, NULL, timeout_ms < 0 ? NULL : &ts, mask);
    if (n <= 0) return n;
    for (int i = 0; i < p->n; i++) {
        int fd = p->pfd[i].fd;
        p->pfd[i].revents = (short)((FD_ISSET(fd, &rd) ? POLLIN : 0) | (FD_ISSET(fd, &wr) ? POLLOUT : 0));
    }
    return n;
}

int wire__poller_wait(wire__poller *p, wire__event *ev, int max, int timeout_ms, const sigset_t *mask) {
#ifdef __linux__
    if (p->kind == WIRE_MODEL_EPOLL) {
        struct epoll_event e[256];
        int n = epoll_pwait(p->epfd, e, max < 256 ? max : 256, timeout_ms, mask);
        for (int i = 0; i < n; i++) {
            ev[i].ptr = e[i].data.ptr;
            ev[i].readable = (e[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
            ev[i].writable = (e[i].events & (EPOLLOUT | EPOLLERR)) != 0;
        }
        return n;
    }
#endif
    int n;
    if (p->kind == WIRE_MODEL_SELECT) {
        n = wait_select(p, timeout_ms, mask);
    } else if (mask) {
#ifdef HAVE_PPOLL
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        n = ppoll(p->pfd, (nfds_t)p->n, timeout_ms < 0 ? NULL : &ts, mask);
#else
        /* no ppoll: a signal that comes just before poll() waits at most 100 ms to be seen */
        sigset_t old;
        sigprocmask(SIG_SETMASK, mask, &old);
        n = poll(p->pfd, (nfds_t)p->n, timeout_ms < 0 || timeout_ms > 100 ? 100 : timeout_ms);
        int saved = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        errno = saved;
#endif
    } else {
        n = poll(p->pfd, (nfds_t)p->n, timeout_ms);
    }
    return n <= 0 ? n : fill(p, ev, max);
}
