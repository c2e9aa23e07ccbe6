/* conn_blocking.c - one connection served with blocking I/O: the fork, thread and iterative models.
 * poll() before each read bounds every wait: the idle timeout between frames, the frame timeout once
 * a frame has started (slowloris), and the stop signal. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* After a final reply: no more output, then read and discard until EOF or SRV_DRAIN_MS, so unread
 * client data does not turn the close into an RST that destroys the reply in flight. */
static void drain_and_close(int fd) {
    uint8_t junk[4096];
    int64_t deadline = srv_now_ms() + SRV_DRAIN_MS;
    shutdown(fd, SHUT_WR);
    for (;;) {
        int64_t left = deadline - srv_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
        ssize_t n = read(fd, junk, sizeof junk);
        if (n <= 0 && !(n < 0 && errno == EINTR)) break;
    }
    close(fd);
}

/* Sends everything queued. False when the peer is gone or stopped reading for the idle timeout. */
static bool flush(int fd, svc_out *out, uint64_t *bytes_out, wire_err *err) {
    size_t n = svc_out_pending(out);
    if (n == 0) return true;
    *err = wire_write_all(fd, out->buf + out->head, n);
    if (*err) return false;
    *bytes_out += n;
    svc_out_consume(out, n);
    return true;
}

/* Grows the input buffer to the frame announced by the header that just arrived, within the limit
 * (a larger length is refused by wire_parser_next() itself). */
static bool fit_frame(wire_parser *p, uint32_t max_payload) {
    size_t want = wire_parser_wanted(p);
    if (want <= p->cap || want > WIRE_HEADER_SIZE + (size_t)max_payload) return true;
    uint8_t *nb = realloc(p->buf, want);
    return nb && wire_parser_rebind(p, nb, want) == WIRE_OK;
}

void srv_serve_blocking(const server_cfg *cfg, int fd) {
    char peer[64], whybuf[96];
    const char *why = NULL;
    bool final = false; /* a last reply (ERROR or BYE) is queued: flush it, then close gracefully */
    bool stopping = false;
    svc_conn c = {0};
    svc_out out;
    wire_parser p;
    wire_err werr = WIRE_OK;
    uint64_t bytes_in = 0, bytes_out = 0;
    uint8_t *buf = malloc(SRV_INBUF_START);
    if (!buf) {
        close(fd);
        return;
    }
    wire_peer_name(fd, peer, sizeof peer);
    svc_out_init(&out, srv_out_limit(cfg));
    wire_parser_init(&p, buf, SRV_INBUF_START, cfg->max_payload);
    /* a client that never reads would block our writes forever: give up after the idle timeout */
    if (wire_set_timeouts(fd, 0, cfg->idle_timeout_ms)) { /* best effort */
    }
    int64_t last_frame = srv_now_ms(), frame_start = 0;
    while (!final && !why) {
        if (stopping && wire_parser_buffered(&p) == 0) {
            why = "server stopping";
            break;
        }
        int64_t now = srv_now_ms();
        int64_t deadline = frame_start ? frame_start + cfg->frame_timeout_ms : last_frame + cfg->idle_timeout_ms;
        if (now >= deadline) {
            svc_error(&c, &out, WIRE_ETIMEOUT, WIRE_NO_OFFSET,
                      frame_start ? "a frame was started and not completed in time" : "idle for too long");
            final = true;
            break;
        }
        struct pollfd pfd[2] = {{fd, POLLIN, 0}, {cfg->stop_fd, POLLIN, 0}};
        int n = poll(pfd, stopping ? 1 : 2, (int)(deadline - now));
        if (n <= 0) continue; /* EINTR or timeout: the deadline check above decides */
        if (!stopping && pfd[1].revents) stopping = true;
        if (!pfd[0].revents) continue;
        size_t room;
        uint8_t *dst = wire_parser_space(&p, &room);
        ssize_t got = read(fd, dst, room);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got < 0) snprintf(whybuf, sizeof whybuf, "read: %s", strerror(errno)), why = whybuf;
            else why = wire_parser_buffered(&p) ? "peer closed in the middle of a frame" : "peer closed";
            break;
        }
        bytes_in += (size_t)got;
        wire_parser_advance(&p, (size_t)got);
        if (!frame_start) frame_start = srv_now_ms();
        wire_frame f;
        int rc = 0;
        while (!final && !why) {
            if (!fit_frame(&p, cfg->max_payload)) {
                svc_error(&c, &out, WIRE_ELIMIT, WIRE_NO_OFFSET, "out of memory for the frame");
                final = true;
                break;
            }
            if ((rc = wire_parser_next(&p, &f)) <= 0) break;
            final = svc_handle(&cfg->svc, &c, &f, &out) == SVC_CLOSE;
            last_frame = srv_now_ms();
            frame_start = wire_parser_buffered(&p) ? last_frame : 0;
            if (!flush(fd, &out, &bytes_out, &werr)) {
                snprintf(whybuf, sizeof whybuf, "write: %s", wire_strerror(werr));
                why = whybuf;
            }
        }
        if (rc < 0) {
            size_t at;
            wire_err e = wire_parser_error(&p, &at);
            svc_error(&c, &out, e, (uint32_t)at, "in the frame header");
            final = true;
        }
    }
    if (final && !why) {
        (void)flush(fd, &out, &bytes_out, &werr);
        why = c.reason;
    }
    srv_log_close(cfg, peer, &c, bytes_in, bytes_out, why);
    if (final) drain_and_close(fd);
    else close(fd);
    free(p.buf);
    svc_out_free(&out);
}
