/* poller.h - readiness notification behind one interface: epoll (Linux) or poll (anywhere). */
#ifndef WIRE_POLLER_H
#define WIRE_POLLER_H

#include <stdbool.h>

typedef struct poller poller;

typedef struct poller_event {
    void *ptr;       /* what was registered with the descriptor */
    bool readable;   /* includes hang-up and error: the next read tells which */
    bool writable;
} poller_event;

/* NULL if use_epoll is asked where epoll does not exist, or on failure. */
poller *poller_new(bool use_epoll);
void poller_free(poller *p);
/* 0 on success, -1 with errno. */
int poller_add(poller *p, int fd, void *ptr, bool rd, bool wr);
int poller_mod(poller *p, int fd, void *ptr, bool rd, bool wr);
void poller_del(poller *p, int fd);
/* Up to max ready descriptors, waiting at most timeout_ms; -1 with errno (EINTR included). */
int poller_wait(poller *p, poller_event *ev, int max, int timeout_ms);

#endif
