/* conn_blocking.c - one connection served by one process or thread: the fork, thread and iterative
 * models. The socket is non-blocking and every wait is a poll() that also watches the stop pipe, so
 * each wait is bounded: the idle timeout between frames, the frame timeout once a frame has started
 * (slowloris), the idle timeout for a client that does not read its replies, and after a stop
 * signal the frame timeout for whatever is in flight. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One connection's state while it is served. */
typedef struct blk {
    const server_cfg *cfg;
    int fd;
    bool stopping;   /* the stop pipe fired */
    int64_t stop_at; /* when */
    uint64_t bytes_out;
    char why[96];
} blk;

static void note_stop(blk *b) {
    if (b->stopping) return;
    b->stopping = true;
    b->stop_at = srv_now_ms();
}

/* Sends everything queued. A client that takes nothing for the idle timeout (or, once the server
 * is stopping, for the frame timeout after the stop) is given up on: false, with the reason. */
static bool flush(blk *b, svc_out *out) {
    int64_t progress = srv_now_ms();
    while (svc_out_pending(out) > 0) {
        ssize_t n = send(b->fd, out->buf + out->head, svc_out_pending(out), MSG_NOSIGNAL);
        if (n > 0) {
            svc_out_consume(out, (size_t)n);
            b->bytes_out += (size_t)n;
            progress = srv_now_ms();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(b->why, sizeof b->why, "send: %s", strerror(errno));
            return false;
        }
        int64_t now = srv_now_ms(), deadline = progress + b->cfg->idle_timeout_ms;
        if (b->stopping && b->stop_at + b->cfg->frame_timeout_ms < deadline)
            deadline = b->stop_at + b->cfg->frame_timeout_ms;
        if (now >= deadline) {
            snprintf(b->why, sizeof b->why, "client does not read its replies");
            return false;
        }
        struct pollfd pfd[2] = {{b->fd, POLLOUT, 0}, {b->cfg->stop_fd, POLLIN, 0}};
        if (poll(pfd, b->stopping ? 1 : 2, (int)(deadline - now)) > 0 && !b->stopping && pfd[1].revents) note_stop(b);
    }
    return true;
}

void srv_serve_blocking(const server_cfg *cfg, int fd) {
    char peer[64];
    const char *why = NULL;
    bool final = false; /* a last reply (ERROR or BYE) is queued: flush it, then close gracefully */
    blk b = {cfg, fd, false, 0, 0, ""};
    svc_conn c = {0};
    svc_out out;
    wire_parser p;
    uint64_t bytes_in = 0;
    uint8_t *buf = malloc(SRV_INBUF_START);
    if (!buf || wire_set_nonblocking(fd, true) != WIRE_OK) {
        free(buf);
        close(fd);
        return;
    }
    wire_peer_name(fd, peer, sizeof peer);
    svc_out_init(&out, srv_out_limit(cfg));
    wire_parser_init(&p, buf, SRV_INBUF_START, cfg->max_payload);
    int64_t last_frame = srv_now_ms(), frame_start = 0;
    while (!final && !why) {
        if (b.stopping && wire_parser_buffered(&p) == 0) {
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
        int n = poll(pfd, b.stopping ? 1 : 2, (int)(deadline - now));
        if (n <= 0) continue; /* EINTR or timeout: the deadline check above decides */
        if (!b.stopping && pfd[1].revents) note_stop(&b);
        if (!pfd[0].revents) continue;
        size_t room;
        uint8_t *dst = wire_parser_space(&p, &room);
        ssize_t got = read(fd, dst, room);
        if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (got <= 0) {
            if (got < 0) snprintf(b.why, sizeof b.why, "read: %s", strerror(errno)), why = b.why;
            else why = wire_parser_buffered(&p) ? "peer closed in the middle of a frame" : "peer closed";
            break;
        }
        bytes_in += (size_t)got;
        wire_parser_advance(&p, (size_t)got);
        if (!frame_start) frame_start = srv_now_ms();
        wire_frame f;
        int rc = 0;
        while (!final && !why) {
            if (!srv_fit_frame(&p, cfg->max_payload)) {
                svc_error(&c, &out, WIRE_ELIMIT, WIRE_NO_OFFSET, "out of memory for the frame");
                final = true;
                break;
            }
            if ((rc = wire_parser_next(&p, &f)) <= 0) break;
            final = svc_handle(&cfg->svc, &c, &f, &out) == SVC_CLOSE;
            last_frame = srv_now_ms();
            frame_start = wire_parser_buffered(&p) ? last_frame : 0;
            if (!flush(&b, &out)) why = b.why;
        }
        if (rc < 0) {
            size_t at;
            wire_err e = wire_parser_error(&p, &at);
            svc_error(&c, &out, e, (uint32_t)at, "in the frame header");
            final = true;
        }
    }
    bool graceful = (final || b.stopping) && why != b.why; /* not after a failed write */
    if (final && !why) why = flush(&b, &out) ? c.reason : b.why;
    srv_log_close(cfg, peer, &c, bytes_in, b.bytes_out, why);
    if (graceful) srv_drain_and_close(fd, SRV_DRAIN_MS);
    else close(fd);
    free(p.buf);
    svc_out_free(&out);
}
