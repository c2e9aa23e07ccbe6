/* SPDX-License-Identifier: MIT */
/* conn_sync.c - the blocking helpers: the event loop of wire_conn for one connection, over poll(). */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One turn: wait (at most until `until`, or the connection's own deadline) for what the connection
 * wants, then read, write, act on the time. WIRE_ETIMEOUT once `until` has passed. */
static wire_err turn(wire_conn *c, int64_t until) {
    int64_t now = wire_now_ms(), due = wire_conn_deadline(c);
    if (until >= 0 && now >= until) return WIRE_ETIMEOUT;
    int64_t wake = until;
    if (due >= 0 && (wake < 0 || due < wake)) wake = due;
    int wait = wake < 0 ? -1 : wake <= now ? 0 : wake - now > 0x7fffffff ? 0x7fffffff : (int)(wake - now);
    unsigned ev = wire_conn_events(c);
    struct pollfd p = {wire_conn_fd(c), (short)((ev & WIRE_EV_READ ? POLLIN : 0) | (ev & WIRE_EV_WRITE ? POLLOUT : 0)), 0};
    int n = poll(&p, 1, wait);
    if (n < 0 && errno != EINTR) {
        int e = errno;
        char et[128];
        c->sys_errno = e;
        wire__conn_end(c, WIRE_EIO, "poll: %s", wire__errno_text(e, et, sizeof et));
        return WIRE_EIO;
    }
    if (n > 0 && (p.revents & (POLLOUT | POLLERR))) (void)wire_conn_write(c);
    if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) (void)wire_conn_read(c);
    wire_conn_check_time(c, wire_now_ms());
    return WIRE_OK;
}

static int64_t deadline_of(int timeout_ms) { return timeout_ms > 0 ? wire_now_ms() + timeout_ms : -1; }

/* What a helper returns once the connection has ended: its error, WIRE_ECLOSED for a clean end. */
static wire_err ended(const wire_conn *c) { return c->err == WIRE_OK ? WIRE_ECLOSED : c->err; }

wire_err wire_conn_handshake(wire_conn *c, int timeout_ms) {
    int64_t until = deadline_of(timeout_ms);
    wire_frame f;
    for (;;) {
        (void)wire_conn_write(c);
        if (c->state == WIRE_CONN_OPEN) return WIRE_OK;
        /* anything before the handshake is the connection's own (HELLO, ERROR, a refusal); a frame
         * that came with the peer's HELLO is left for wire_conn_recv() */
        if (wire__conn_next(c, &f, true) < 0 || c->state == WIRE_CONN_CLOSED) {
            while (c->state != WIRE_CONN_CLOSED && turn(c, until) == WIRE_OK) { /* our ERROR goes out */
            }
            return ended(c);
        }
        if (c->state == WIRE_CONN_OPEN) return WIRE_OK;
        wire_err e = turn(c, until);
        if (e) return e;
    }
}

wire_err wire_conn_flush(wire_conn *c, int timeout_ms) {
    int64_t until = deadline_of(timeout_ms);
    for (;;) {
        wire_err e = wire_conn_write(c);
        if (e) return e;
        if (wire_outq_pending(&c->out) == 0) return WIRE_OK;
        if (c->state == WIRE_CONN_CLOSED) return ended(c);
        if ((e = turn(c, until))) return e;
    }
}

wire_err wire_conn_recv(wire_conn *c, wire_frame *f, int timeout_ms) {
    int64_t until = deadline_of(timeout_ms);
    for (;;) {
        int rc = wire_conn_next(c, f);
        if (rc == 1) return WIRE_OK;
        (void)wire_conn_write(c);
        if (rc < 0) {
            /* a last frame of ours (an ERROR, the answer to a BYE) is sent before returning */
            while (c->state != WIRE_CONN_CLOSED && !c->bye_sent && wire_outq_pending(&c->out) > 0 &&
                   turn(c, until) == WIRE_OK) {
            }
            if (c->state == WIRE_CONN_CLOSED || !c->bye_sent) return ended(c);
        }
        wire_err e = turn(c, until);
        if (e) return e;
    }
}

wire_err wire_conn_request(wire_conn *c, uint16_t type, const void *payload, size_t len, wire_frame *reply,
                           int timeout_ms) {
    wire_err e = wire_conn_send(c, type, payload, len);
    return e ? e : wire_conn_recv(c, reply, timeout_ms);
}

wire_err wire_conn_hangup(wire_conn *c, int timeout_ms) {
    int64_t until = deadline_of(timeout_ms);
    wire_frame f;
    if (c->state == WIRE_CONN_OPEN && !c->bye_sent && wire_conn_bye(c) != WIRE_OK) {
        wire__conn_end(c, WIRE_ELIMIT, "cannot queue BYE");
        return WIRE_ELIMIT;
    }
    while (c->state != WIRE_CONN_CLOSED) {
        while (wire_conn_next(c, &f) == 1) { /* replies still to come: discarded */
        }
        (void)wire_conn_write(c);
        if (c->state == WIRE_CONN_CLOSED) break;
        if (turn(c, until) != WIRE_OK) {
            wire__conn_end(c, WIRE_ETIMEOUT, "hang-up timed out");
            return WIRE_ETIMEOUT;
        }
    }
    return c->err == WIRE_ECLOSED ? WIRE_OK : c->err;
}

static wire_err connected(int fd, const wire_conn_config *cfg, int64_t until, wire_conn **out, char *errbuf,
                          size_t errlen) {
    wire_conn_config defaults;
    wire_conn *c;
    if (!cfg) {
        wire_conn_config_init(&defaults, WIRE_ROLE_CLIENT);
        cfg = &defaults;
    }
    wire_err e = cfg->role == WIRE_ROLE_CLIENT ? wire_conn_new(fd, cfg, &c) : WIRE_EINVAL;
    if (e) {
        close(fd);
        wire__errbuf(errbuf, errlen, "%s", e == WIRE_EINVAL ? "invalid client configuration" : "out of memory");
        return e;
    }
    int left = until < 0 ? 0 : (int)(until - wire_now_ms());
    e = until >= 0 && left <= 0 ? WIRE_ETIMEOUT : wire_conn_handshake(c, left);
    if (e) {
        if (e == WIRE_ETIMEOUT) wire__errbuf(errbuf, errlen, "no HELLO from the server in time");
        else wire__errbuf(errbuf, errlen, "%s", c->why[0] ? c->why : wire_strerror(e));
        wire_conn_free(c);
        return e;
    }
    *out = c;
    return WIRE_OK;
}

wire_err wire_conn_connect(const char *host, const char *port, const wire_conn_config *cfg, int timeout_ms,
                           wire_conn **out, char *errbuf, size_t errlen) {
    int64_t until = deadline_of(timeout_ms);
    int fd;
    *out = NULL;
    wire_err e = wire_tcp_connect(host, port, timeout_ms, &fd, errbuf, errlen);
    return e ? e : connected(fd, cfg, until, out, errbuf, errlen);
}

wire_err wire_conn_connect_unix(const char *path, const wire_conn_config *cfg, int timeout_ms, wire_conn **out,
                                char *errbuf, size_t errlen) {
    int64_t until = deadline_of(timeout_ms);
    int fd;
    *out = NULL;
    wire_err e = wire_unix_connect(path, &fd, errbuf, errlen);
    return e ? e : connected(fd, cfg, until, out, errbuf, errlen);
}
