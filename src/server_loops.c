/* SPDX-License-Identifier: MIT */
/* server_loops.c - the event model on several threads: cfg.loops event loops, each a whole
 * wire__loop (its own poller, timers and connections) on its own thread. Loop 0 accepts, and hands
 * the connections out in turn, one descriptor written to the pipe of the loop whose turn it is; a
 * connection then stays in that loop to its end. The loops share only the count of connections
 * (max_conns), under a lock taken once per accept and once per close, never per frame.
 *
 * Why hand-off rather than every loop watching the listener: the loop woken first is always the
 * same one while they all wait (measured: 32 connections made one after the other all went to one
 * loop of two, with epoll), so connections that live long would pile up on one core. Round robin
 * spreads them evenly whatever the timing, for one write and one read of a pipe per connection, no
 * cost per frame. At 16 or 64 cores the acceptor is the one shared part: one thread accepts and
 * hands out well over 10^5 connections a second, far more than the handshakes the loops can serve;
 * past that, one listening socket per loop (SO_REUSEPORT) would take the accepts off loop 0 and
 * leave the loops themselves as they are. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

typedef struct loop_thread {
    wire_server *s;
    wire__loop_role role;
    pthread_t t;
    wire_err err;
    char errbuf[WIRE_ERRBUF_SIZE];
} loop_thread;

/* Tells loops 1..n-1 that nothing more will be handed over. */
static void say_gone(const wire__loop_role *r, int upto) {
    static const int gone = -1;
    for (int k = 1; k < upto; k++)
        if (write(r->handoff_out[k - 1], &gone, sizeof gone) < 0) { /* full: the loop is ending anyway */
        }
}

static void *run_one(void *arg) {
    loop_thread *lt = arg;
    lt->err = wire__loop_run_as(lt->s, lt->s->cfg.model, &lt->role, lt->errbuf, sizeof lt->errbuf);
    if (lt->err) {
        wire_server_stop(lt->s); /* one loop cannot run: the server does not run half */
        if (lt->role.index == 0) say_gone(&lt->role, lt->role.nloops); /* it never ran to say it */
    }
    return NULL;
}

wire_err wire__run_loops(wire_server *s, char *errbuf, size_t errlen) {
    int n = s->cfg.loops;
    loop_thread lt[WIRE__MAX_LOOPS];
    int out[WIRE__MAX_LOOPS]; /* write ends of the pipes of loops 1..n-1 */
    int in[WIRE__MAX_LOOPS];
    char et[128];
    int made = 0;
    memset(lt, 0, sizeof lt);
    for (; made < n - 1; made++) {
        int p[2];
        if (pipe(p) < 0) {
            wire__errbuf(errbuf, errlen, "cannot make the pipes of %d event loops: %s", n,
                         wire__errno_text(errno, et, sizeof et));
            for (int k = 0; k < made; k++) close(in[k]), close(out[k]);
            return WIRE_EIO;
        }
        for (int k = 0; k < 2; k++) (void)fcntl(p[k], F_SETFD, FD_CLOEXEC);
        (void)fcntl(p[0], F_SETFL, O_NONBLOCK); /* a loop reads what is there, never waits in read */
        (void)fcntl(p[1], F_SETFL, O_NONBLOCK); /* a full pipe: the acceptor serves the connection itself */
        in[made] = p[0];
        out[made] = p[1];
    }
    for (int k = 0; k < n; k++) {
        lt[k].s = s;
        lt[k].role.index = k;
        lt[k].role.nloops = n;
        lt[k].role.handoff_in = k > 0 ? in[k - 1] : -1;
        lt[k].role.handoff_out = out;
    }
    int started = 1; /* loop 0 runs in the calling thread */
    wire_err first = WIRE_OK;
    for (int k = 1; k < n; k++) {
        int rc = pthread_create(&lt[k].t, NULL, run_one, &lt[k]);
        if (rc != 0) {
            wire__errbuf(lt[0].errbuf, sizeof lt[0].errbuf, "cannot start event loop %d of %d: %s", k + 1, n,
                         wire__errno_text(rc, et, sizeof et));
            first = lt[0].err = WIRE_EIO;
            break;
        }
        started++;
    }
    if (first) {
        /* the loops started wait for the acceptor's word, which never comes from a loop 0 that did
         * not run: say it here, after stopping them */
        wire_server_stop(s);
        say_gone(&lt[0].role, started);
    } else {
        run_one(&lt[0]);
        first = lt[0].err;
    }
    for (int k = 1; k < started; k++) pthread_join(lt[k].t, NULL);
    int which = 0;
    for (int k = 1; k < started && !first; k++)
        if (lt[k].err) first = lt[which = k].err;
    /* anything still in a pipe (a loop that failed) is a connection nobody serves: close it */
    for (int k = 0; k < n - 1; k++) {
        int fd;
        while (read(in[k], &fd, sizeof fd) == (ssize_t)sizeof fd)
            if (fd >= 0) {
                wire__server_refuse_now(fd, "the server is stopping");
                wire__server_leave_place(s);
            }
        close(in[k]);
        close(out[k]);
    }
    if (first) wire__errbuf(errbuf, errlen, "%s", lt[which].errbuf);
    return first;
}
