/* SPDX-License-Identifier: MIT */
/* server_loop.c - the event loop: one thread, non-blocking sockets, a poller (epoll, poll or
 * select) and a timer heap. The event models serve every connection in it. Fork, thread and
 * iterative run it too, as their accepting loop: each accepted connection goes to admit(), and only
 * the refused ones (ERROR(LIMIT), then a short drain) stay here, so that refusing never blocks
 * accepting.
 *
 * A connection is freed only by its own event (settle()); whatever touches others (stopping, a
 * send from another connection's handler) marks them dirty, and they are served after the batch of
 * events, which may still name them. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENTS 256
#define ACCEPTS_PER_EVENT 64
#define FRAMES_PER_TURN 64  /* one connection's share before the others get theirs */
#define PAUSE_MS 100        /* out of descriptors with no reserve left: the listeners rest this long */
#define LOG_EVERY_MS 1000   /* out-of-descriptors reports: at most one line a second */

struct wire__loop {
    wire_server *s;
    const wire__hooks *hooks;
    wire__poller *p;
    wire_conn *conns;       /* every connection in the loop (served here, or being refused) */
    int listen_fds[WIRE__MAX_LISTEN]; /* the server's listeners (its array may change once stopping) */
    int nlisten;
    wire__timers timers;
    wire_conn *dirty;       /* to be served after the batch of events */
    wire_conn *current;     /* the connection being served now (its own sends need no notice) */
    wire_conn_config refuse_cfg;
    bool stopping;
    bool listening;         /* the listeners are in the poller */
    int64_t resume_at;      /* the listeners rest until then (0: they do not) */
    int reserve;            /* a descriptor kept for the EMFILE trick, -1 if none */
    int64_t fd_logged_at;
    unsigned long fd_refused;
    char listen_tag[WIRE__MAX_LISTEN];
    char stop_tag;
    const wire__loop_role *role; /* NULL: the only loop */
    unsigned next_loop;          /* the acceptor's turn: where the next connection goes */
    bool acceptor_gone;          /* loops 1..: the acceptor said it has stopped */
    char handoff_tag;
};

static void mark_dirty(wire__loop *l, wire_conn *c) {
    if (c->dirty) return;
    c->dirty = true;
    c->dirty_prev = NULL;
    c->dirty_next = l->dirty;
    if (l->dirty) l->dirty->dirty_prev = c;
    l->dirty = c;
}

static void unmark_dirty(wire__loop *l, wire_conn *c) {
    if (!c->dirty) return;
    if (c->dirty_prev) c->dirty_prev->dirty_next = c->dirty_next;
    else l->dirty = c->dirty_next;
    if (c->dirty_next) c->dirty_next->dirty_prev = c->dirty_prev;
    c->dirty = false;
}

static void on_notify(wire_conn *c, void *arg) {
    wire__loop *l = arg;
    if (c != l->current) mark_dirty(l, c);
}

/* After anything happened to c: free it if it is over, else ask the poller and the timers for
 * what it now waits for. */
static void settle(wire__loop *l, wire_conn *c) {
    if (c->state == WIRE_CONN_CLOSED) {
        wire__poller_del(l->p, c->fd);
        (void)wire__timers_set(&l->timers, c, -1);
        unmark_dirty(l, c);
        if (c->prev) c->prev->next = c->next;
        else l->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        if (!c->refused && !l->hooks) wire__server_leave_place(l->s);
        wire__server_release(l->s, c);
        return;
    }
    unsigned ev = wire_conn_events(c);
    if (ev != c->loop_events && wire__poller_mod(l->p, c->fd, c, ev) == 0) c->loop_events = ev;
    /* A deadline later than the one in the heap leaves the heap as it is: the entry fires early,
     * finds nothing due and is put back then (run()). A busy connection's deadlines move later with
     * every frame, and moving it down the heap each time would cost log n per frame. */
    int64_t due = wire_conn_deadline(c);
    if (c->heap_at && due > c->heap_key) return;
    if (!wire__timers_set(&l->timers, c, due)) {
        wire__conn_end(c, WIRE_ELIMIT, "out of memory for a timer");
        settle(l, c);
    }
}

/* One turn of c: what its descriptor is ready for, the frames that came, the replies they made. */
static void serve(wire__loop *l, wire_conn *c, bool readable, bool writable) {
    l->current = c;
    if (writable) (void)wire_conn_write(c);
    if (readable) (void)wire_conn_read(c);
    if (wire__server_deliver(l->s, c, FRAMES_PER_TURN)) mark_dirty(l, c); /* more wait: after the others */
    (void)wire_conn_write(c); /* replies go out now, without waiting for a writable event */
    l->current = NULL;
    settle(l, c);
}

/* Puts a new connection in the loop. False (and fd closed) if it could not be. */
static bool adopt(wire__loop *l, int fd, const wire_conn_config *cfg, bool refused, const char *why) {
    wire_conn *c;
    if (wire_conn_new(fd, cfg, &c) != WIRE_OK) {
        wire__server_refuse_now(fd, "out of memory");
        if (!refused) wire__server_leave_place(l->s);
        return false;
    }
    c->refused = refused;
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    wire_conn_set_notify(c, on_notify, l);
    if (refused) wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, why);
    (void)wire_conn_write(c);
    c->loop_events = wire_conn_events(c);
    if (wire__poller_add(l->p, fd, c, c->loop_events) != 0) {
        /* select cannot watch a descriptor past FD_SETSIZE, for one: refuse it, without waiting */
        char et[128], text[200];
        snprintf(text, sizeof text, "the server cannot watch this connection (%s)", wire__errno_text(errno, et, sizeof et));
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, text);
        (void)wire_conn_write(c);
        wire__conn_end(c, WIRE_ELIMIT, "%s", text);
        settle(l, c);
        return false;
    }
    settle(l, c);
    return true;
}

static void listen_on(wire__loop *l, bool on) {
    if (on == l->listening) return;
    for (int k = 0; k < l->nlisten; k++) {
        if (on) (void)wire__poller_add(l->p, l->listen_fds[k], &l->listen_tag[k], WIRE_EV_READ);
        else wire__poller_del(l->p, l->listen_fds[k]);
    }
    l->listening = on;
}

/* Out of descriptors (libuv's trick): give back the reserve, accept what is pending and refuse it at
 * once, take the reserve again, so that the listener stops firing. Without a reserve the listeners
 * rest for PAUSE_MS. Either way the loop never spins on accept. */
static void out_of_descriptors(wire__loop *l, int lfd, int64_t now) {
    if (l->reserve >= 0) {
        close(l->reserve);
        l->reserve = -1;
        for (int k = 0; k < ACCEPTS_PER_EVENT; k++) {
            int fd;
            if (wire_accept(lfd, true, &fd, NULL, 0) != WIRE_OK || fd < 0) break;
            wire__server_refuse_now(fd, "out of file descriptors");
            l->fd_refused++;
        }
        l->reserve = open("/dev/null", O_RDONLY);
        if (l->reserve >= 0) (void)fcntl(l->reserve, F_SETFD, FD_CLOEXEC);
    }
    if (l->reserve < 0) {
        listen_on(l, false);
        l->resume_at = now + PAUSE_MS;
    }
    if (now - l->fd_logged_at >= LOG_EVERY_MS) {
        wire__server_log(l->s, "out of file descriptors: %lu connection(s) refused at once%s", l->fd_refused,
                         l->reserve < 0 ? "; not accepting for 100 ms" : "");
        l->fd_logged_at = now;
        l->fd_refused = 0;
    }
}

static bool hand_off(wire__loop *l, int fd);

static void accept_ready(wire__loop *l, int lfd, int64_t now) {
    const wire_server_config *cfg = &l->s->cfg;
    char err[WIRE_ERRBUF_SIZE];
    for (int k = 0; k < ACCEPTS_PER_EVENT && !l->stopping; k++) {
        int fd;
        wire_err e = wire_accept(lfd, true, &fd, err, sizeof err);
        if (e == WIRE_ELIMIT) {
            out_of_descriptors(l, lfd, now);
            return;
        }
        if (e) {
            wire__server_log(l->s, "%s", err);
            return;
        }
        if (fd < 0) return; /* nothing more pending */
        if (l->hooks && l->hooks->admit) {
            wire__admit a = l->hooks->admit(l->hooks->ctx, l, fd);
            if (a == WIRE__ADMITTED) continue;
            (void)adopt(l, fd, &l->refuse_cfg, true,
                        a == WIRE__REFUSE_FULL ? "too many connections" : "the server cannot take it now");
        } else if (!wire__server_take_place(l->s)) {
            (void)adopt(l, fd, &l->refuse_cfg, true, "too many connections");
        } else if (!hand_off(l, fd)) {
            (void)adopt(l, fd, &cfg->conn, false, NULL);
        }
    }
}

/* The acceptor's share-out: connection k goes to loop k mod n, so long-lived connections that came
 * one after the other (the common case: the first loop is always the one that wakes first) are
 * spread evenly. False: this loop serves it (its turn, or the pipe is full). */
static bool hand_off(wire__loop *l, int fd) {
    if (!l->role || l->role->nloops < 2) return false;
    unsigned k = l->next_loop++ % (unsigned)l->role->nloops;
    if (k == 0) return false;
    ssize_t w;
    do w = write(l->role->handoff_out[k - 1], &fd, sizeof fd);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)sizeof fd; /* all or nothing: sizeof fd < PIPE_BUF */
}

/* Loops 1..: the connections the acceptor handed over (their places are taken already). While
 * stopping they are still taken, and closed at once at a frame boundary (they get the same end as
 * the others). */
static void handoff_ready(wire__loop *l) {
    int fds[64];
    for (;;) {
        ssize_t r = read(l->role->handoff_in, fds, sizeof fds);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return;
        for (size_t i = 0; i < (size_t)r / sizeof fds[0]; i++) {
            if (fds[i] < 0) {
                l->acceptor_gone = true;
                continue;
            }
            if (adopt(l, fds[i], &l->s->cfg.conn, false, NULL) && l->stopping) {
                wire__conn_close_why(l->conns, "server stopping");
                mark_dirty(l, l->conns);
            }
        }
    }
}

/* Stop accepting; each connection ends at its next frame boundary (the frame in flight is finished
 * within the frame timeout and answered, queued replies are sent). */
static void begin_stop(wire__loop *l) {
    l->stopping = true;
    listen_on(l, false);
    if (l->nlisten > 0) { /* the acceptor (or the only loop) */
        wire_server *s = l->s;
        for (int k = 0; k < s->nlisten; k++) close(s->listen_fds[k]);
        s->nlisten = 0;
        l->nlisten = 0;
        static const int gone = -1; /* nothing more will be handed over */
        for (int k = 1; l->role && k < l->role->nloops; k++) {
            ssize_t w;
            do w = write(l->role->handoff_out[k - 1], &gone, sizeof gone);
            while (w < 0 && errno == EINTR);
        }
    }
    wire__poller_del(l->p, l->s->stop_pipe[0]);
    for (wire_conn *c = l->conns; c; c = c->next) {
        wire__conn_close_why(c, "server stopping");
        mark_dirty(l, c);
    }
}

static int wait_ms(const wire__loop *l, int64_t now) {
    if (l->dirty) return 0;
    int64_t at = -1;
    wire_conn *first = wire__timers_first(&l->timers);
    if (first) at = first->heap_key;
    if (l->resume_at && (at < 0 || l->resume_at < at)) at = l->resume_at;
    if (at < 0) return -1;
    return at <= now ? 0 : at - now > 0x7fffffff ? 0x7fffffff : (int)(at - now);
}

/* Which listener an event's tag names, or -1 (pointers compared for equality only: the tag may
 * point into another object, a connection). */
static int listener_of(const wire__loop *l, const void *tag) {
    for (int k = 0; k < l->nlisten; k++)
        if (tag == &l->listen_tag[k]) return k;
    return -1;
}

static void run(wire__loop *l) {
    wire__event ev[EVENTS];
    const sigset_t *mask = l->hooks ? l->hooks->wait_mask : NULL;
    /* One clock read per turn: the wait is computed from the time the last turn began (its events
     * were served since, so a timer may fire that much late: the time of one batch of frames). */
    int64_t now = wire_now_ms();
    /* a loop fed by the acceptor goes on until the acceptor says it has stopped: a connection it
     * handed over just before must not be left in the pipe */
    while (!l->stopping || l->conns || (l->role && l->role->index > 0 && !l->acceptor_gone)) {
        int n = wire__poller_wait(l->p, ev, EVENTS, wait_ms(l, now), mask);
        if (n < 0 && errno != EINTR) {
            char et[128];
            wire__server_log(l->s, "wait: %s", wire__errno_text(errno, et, sizeof et));
            n = 0; /* a bad descriptor must not spin the loop: its owner is found by the timers */
        }
        if (l->hooks && l->hooks->after_wait) l->hooks->after_wait(l->hooks->ctx);
        now = wire_now_ms();
        bool stop = false;
        for (int i = 0; i < n; i++) {
            void *tag = ev[i].ptr;
            int k = listener_of(l, tag);
            if (tag == &l->stop_tag) stop = true; /* after the batch: stopping touches other connections */
            else if (k >= 0) accept_ready(l, l->listen_fds[k], now);
            else if (tag == &l->handoff_tag) handoff_ready(l);
            else serve(l, tag, ev[i].readable, ev[i].writable);
        }
        if (stop && !l->stopping) begin_stop(l);
        if (l->resume_at && now >= l->resume_at && !l->stopping) {
            l->resume_at = 0;
            listen_on(l, true);
        }
        /* expired deadlines: each connection acts on its own, which moves its deadline on */
        for (size_t k = l->timers.n; k > 0; k--) {
            wire_conn *c = wire__timers_first(&l->timers);
            if (!c || c->heap_key > now) break;
            (void)wire__timers_set(&l->timers, c, -1); /* settle() puts it back at its real deadline */
            l->current = c;
            wire_conn_check_time(c, now);
            (void)wire_conn_write(c);
            l->current = NULL;
            settle(l, c);
        }
        while (l->dirty) {
            wire_conn *c = l->dirty;
            unmark_dirty(l, c);
            serve(l, c, false, false);
        }
    }
}

static wire_err run_loop(wire_server *s, wire_model backend, const wire__hooks *hooks, const wire__loop_role *role,
                         char *errbuf, size_t errlen);

wire_err wire__loop_run(wire_server *s, wire_model backend, const wire__hooks *hooks, char *errbuf, size_t errlen) {
    return run_loop(s, backend, hooks, NULL, errbuf, errlen);
}

wire_err wire__loop_run_as(wire_server *s, wire_model backend, const wire__loop_role *role, char *errbuf,
                           size_t errlen) {
    return run_loop(s, backend, NULL, role, errbuf, errlen);
}

static wire_err run_loop(wire_server *s, wire_model backend, const wire__hooks *hooks, const wire__loop_role *role,
                         char *errbuf, size_t errlen) {
    wire__loop l;
    char et[128];
    memset(&l, 0, sizeof l);
    l.s = s;
    l.hooks = hooks;
    l.role = role;
    l.refuse_cfg = s->cfg.conn;
    l.refuse_cfg.drain_ms = s->cfg.refuse_drain_ms;
    l.refuse_cfg.inbuf_size = WIRE_HEADER_SIZE; /* a refused connection is never read into a buffer */
    if (!role || role->index == 0) { /* loops 1.. get their connections from the acceptor */
        l.nlisten = s->nlisten;
        memcpy(l.listen_fds, s->listen_fds, sizeof l.listen_fds);
    }
    if (!(l.p = wire__poller_new(backend))) {
        wire__errbuf(errbuf, errlen, "cannot create the %s poller: %s", wire_model_name(backend),
                     wire__errno_text(errno, et, sizeof et));
        return WIRE_EIO;
    }
    l.reserve = open("/dev/null", O_RDONLY);
    if (l.reserve >= 0) (void)fcntl(l.reserve, F_SETFD, FD_CLOEXEC);
    listen_on(&l, true);
    if (wire__poller_add(l.p, s->stop_pipe[0], &l.stop_tag, WIRE_EV_READ) != 0 ||
        (role && role->index > 0 && wire__poller_add(l.p, role->handoff_in, &l.handoff_tag, WIRE_EV_READ) != 0)) {
        wire__errbuf(errbuf, errlen, "cannot watch the stop pipe: %s", wire__errno_text(errno, et, sizeof et));
        wire__poller_free(l.p);
        if (l.reserve >= 0) close(l.reserve);
        return WIRE_EIO;
    }
    run(&l);
    wire__timers_free(&l.timers);
    wire__poller_free(l.p);
    if (l.reserve >= 0) close(l.reserve);
    return WIRE_OK;
}

void wire__loop_forget(wire__loop *l) {
    /* a forked child must not touch the parent's connections or poller (an epoll set is shared
     * across fork): it only lets go of its copies of their descriptors */
    for (wire_conn *c = l->conns; c; c = c->next) close(c->fd);
    if (l->reserve >= 0) close(l->reserve);
    for (int k = 0; k < l->s->nlisten; k++) close(l->s->listen_fds[k]);
    l->s->nlisten = 0;
}
