/* SPDX-License-Identifier: MIT */
/* server_serve.c - one connection served to its end by the calling thread or process: the same
 * wire_conn as in the event loop, waited for with poll() beside the stop pipe, every wait bounded by
 * the connection's own deadline. The fork and thread models run it in a child or a thread; the
 * iterative model runs it in the accepting loop itself, one client at a time. */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>

void wire__serve_one(wire_server *s, int fd) {
    wire_conn *c;
    bool stopping = false;
    if (wire_conn_new(fd, &s->cfg.conn, &c) != WIRE_OK) {
        wire__server_refuse_now(fd, "out of memory");
        return;
    }
    for (;;) {
        /* every frame of a read, then one write for all their replies (no Nagle wait per reply) */
        while (wire__server_deliver(s, c, 1024)) {
        }
        (void)wire_conn_write(c);
        if (wire_conn_get_state(c) == WIRE_CONN_CLOSED) break;
        unsigned ev = wire_conn_events(c);
        int64_t now = wire_now_ms(), due = wire_conn_deadline(c);
        int wait = due < 0 ? -1 : due <= now ? 0 : due - now > 0x7fffffff ? 0x7fffffff : (int)(due - now);
        struct pollfd p[2] = {{fd, (short)((ev & WIRE_EV_READ ? POLLIN : 0) | (ev & WIRE_EV_WRITE ? POLLOUT : 0)), 0},
                              {s->stop_pipe[0], POLLIN, 0}};
        int n = poll(p, stopping ? 1 : 2, wait);
        if (n < 0 && errno != EINTR) {
            wire__conn_end(c, WIRE_EIO, "poll failed");
            break;
        }
        if (n > 0 && !stopping && p[1].revents) {
            stopping = true;
            wire__conn_close_why(c, "server stopping");
        }
        if (n > 0 && (p[0].revents & (POLLOUT | POLLERR))) (void)wire_conn_write(c);
        if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) (void)wire_conn_read(c);
        wire_conn_check_time(c, wire_now_ms());
    }
    wire__server_release(s, c);
}

static wire__admit serve_here(void *ctx, wire__loop *l, int fd) {
    (void)l;
    wire__serve_one(ctx, fd);
    return WIRE__ADMITTED;
}

wire_err wire__run_iterative(wire_server *s, char *errbuf, size_t errlen) {
    /* the accepting loop waits while a client is served: the next one waits in the listen backlog */
    wire__hooks h = {serve_here, NULL, NULL, s};
    return wire__loop_run(s, WIRE_MODEL_POLL, &h, errbuf, errlen);
}
