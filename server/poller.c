/* poller.c - epoll and poll behind poller.h. The poll version keeps a dense pollfd array and a
 * descriptor-to-slot map, so adding and removing are O(1). */
#include "poller.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/epoll.h>
#endif

struct poller {
    bool epoll;
    int epfd;
    struct pollfd *pfd; /* poll: the registered descriptors, dense */
    void **ptr;         /* poll: ptr[i] goes with pfd[i] */
    int n, cap;
    int *slot;          /* poll: slot[fd] = index in pfd, or -1 */
    int slotcap;
};

poller *poller_new(bool use_epoll) {
    poller *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->epfd = -1;
    p->epoll = use_epoll;
    if (use_epoll) {
#ifdef __linux__
        p->epfd = epoll_create1(EPOLL_CLOEXEC);
#endif
        if (p->epfd < 0) {
            free(p);
            return NULL;
        }
    }
    return p;
}

void poller_free(poller *p) {
    if (!p) return;
    if (p->epfd >= 0) close(p->epfd);
    free(p->pfd);
    free(p->ptr);
    free(p->slot);
    free(p);
}

#ifdef __linux__
static int epoll_set(poller *p, int op, int fd, void *ptr, bool rd, bool wr) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (rd ? EPOLLIN : 0u) | (wr ? EPOLLOUT : 0u);
    ev.data.ptr = ptr;
    return epoll_ctl(p->epfd, op, fd, &ev);
}
#endif

static short poll_events(bool rd, bool wr) { return (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0)); }

int poller_add(poller *p, int fd, void *ptr, bool rd, bool wr) {
#ifdef __linux__
    if (p->epoll) return epoll_set(p, EPOLL_CTL_ADD, fd, ptr, rd, wr);
#endif
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
    p->pfd[p->n].events = poll_events(rd, wr);
    p->pfd[p->n].revents = 0;
    p->ptr[p->n] = ptr;
    p->n++;
    return 0;
}

int poller_mod(poller *p, int fd, void *ptr, bool rd, bool wr) {
#ifdef __linux__
    if (p->epoll) return epoll_set(p, EPOLL_CTL_MOD, fd, ptr, rd, wr);
#endif
    if (fd >= p->slotcap || p->slot[fd] < 0) {
        errno = ENOENT;
        return -1;
    }
    p->pfd[p->slot[fd]].events = poll_events(rd, wr);
    p->ptr[p->slot[fd]] = ptr;
    return 0;
}

void poller_del(poller *p, int fd) {
#ifdef __linux__
    if (p->epoll) {
        (void)epoll_set(p, EPOLL_CTL_DEL, fd, NULL, false, false);
        return;
    }
#endif
    if (fd >= p->slotcap || p->slot[fd] < 0) return;
    int i = p->slot[fd], last = --p->n;
    if (i != last) { /* move the last entry into the hole */
        p->pfd[i] = p->pfd[last];
        p->ptr[i] = p->ptr[last];
        p->slot[p->pfd[i].fd] = i;
    }
    p->slot[fd] = -1;
}

int poller_wait(poller *p, poller_event *ev, int max, int timeout_ms) {
#ifdef __linux__
    if (p->epoll) {
        struct epoll_event e[256];
        int n = epoll_wait(p->epfd, e, max < 256 ? max : 256, timeout_ms);
        for (int i = 0; i < n; i++) {
            ev[i].ptr = e[i].data.ptr;
            ev[i].readable = (e[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
            ev[i].writable = (e[i].events & (EPOLLOUT | EPOLLERR)) != 0;
        }
        return n;
    }
#endif
    int n = poll(p->pfd, (nfds_t)p->n, timeout_ms);
    if (n <= 0) return n;
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
