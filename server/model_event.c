/* model_event.c - one thread, non-blocking sockets, an event loop over epoll or poll.
 *
 * Each connection owns an input buffer (a wire_parser that starts small and grows to the frame it
 * needs, never beyond --max-payload) and an output queue. Backpressure: while more than
 * --max-queued bytes wait to be sent, the connection's complete frames are left unprocessed and its
 * socket is not read, so a client that does not read cannot make the server buffer without bound.
 * Timers are checked by a sweep every SWEEP_MS, which keeps the per-event path free of timer work.
 * An event may free only its own connection; whatever frees others (the sweep, stopping) runs after
 * the batch of events, which may still name them. */
#include "poller.h"
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SWEEP_MS 100
#define READS_PER_EVENT 8 /* bound one connection's turn, so a fast sender cannot starve the others */

typedef enum conn_state {
    OPEN,     /* reading requests, answering them */
    FLUSHING, /* a final reply (ERROR, BYE) or a shutdown: send what is queued, then close gracefully */
    DRAINING  /* output shut down; read and discard until EOF or the drain deadline */
} conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    wire_parser in;
    svc_out out;
    svc_conn svc;
    int64_t last_frame;  /* last complete frame received (idle timeout) */
    int64_t frame_start; /* first byte of the frame being received, 0 if none (frame timeout) */
    int64_t last_write;  /* last write progress (a client that does not read) */
    int64_t drain_until;
    uint64_t bytes_in, bytes_out;
    bool reg_rd, reg_wr; /* what the poller is asked for now */
    char peer[64];
    const char *why;     /* why it is closing: a constant, or svc.reason */
    struct conn *prev, *next;
} conn;

typedef struct loop {
    const server_cfg *cfg;
    poller *p;
    conn *conns; /* every open connection, for the sweep */
    int nconns;
    bool stopping;
    int64_t stop_at;
    char listen_tag[SRV_MAX_LISTEN]; /* addresses used as poller tags for the listeners */
    char stop_tag;
} loop;

static void conn_free(loop *l, conn *c, const char *why) {
    srv_log_close(l->cfg, c->peer, &c->svc, c->bytes_in, c->bytes_out, why);
    poller_del(l->p, c->fd);
    close(c->fd);
    if (c->prev) c->prev->next = c->next;
    else l->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    l->nconns--;
    free(c->in.buf);
    svc_out_free(&c->out);
    free(c);
}

/* Re-registers interest: read while open and not over the output bound (or while draining); write
 * while output is queued. */
static void conn_interest(loop *l, conn *c) {
    bool rd = c->state == DRAINING ||
              (c->state == OPEN && svc_out_pending(&c->out) <= l->cfg->max_queued);
    bool wr = svc_out_pending(&c->out) > 0;
    if (rd == c->reg_rd && wr == c->reg_wr) return;
    if (poller_mod(l->p, c->fd, c, rd, wr) == 0) {
        c->reg_rd = rd;
        c->reg_wr = wr;
    }
}

/* Stops taking requests: flush, then shut down output and drain (see conn_blocking.c: the RST). */
static void conn_finish(conn *c, const char *why) {
    if (c->state != OPEN) return;
    c->state = FLUSHING;
    c->why = why;
}

/* Sends what is queued. Returns false if the connection was freed. */
static bool conn_flush(loop *l, conn *c, int64_t now) {
    while (svc_out_pending(&c->out) > 0) {
        ssize_t n = send(c->fd, c->out.buf + c->out.head, svc_out_pending(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            svc_out_consume(&c->out, (size_t)n);
            c->bytes_out += (size_t)n;
            c->last_write = now;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        char why[96];
        snprintf(why, sizeof why, "send: %s", strerror(errno));
        conn_free(l, c, why);
        return false;
    }
    if (c->state == FLUSHING && svc_out_pending(&c->out) == 0) {
        shutdown(c->fd, SHUT_WR);
        c->state = DRAINING;
        c->drain_until = now + SRV_DRAIN_MS;
    }
    return true;
}

/* Gives back a buffer that grew for one large frame once it is empty. */
static void shrink_input(conn *c) {
    if (c->in.cap <= SRV_INBUF_START || wire_parser_buffered(&c->in) != 0) return;
    uint8_t *nb = malloc(SRV_INBUF_START);
    if (!nb) return;
    free(c->in.buf);
    wire_parser_init(&c->in, nb, SRV_INBUF_START, c->in.max_payload);
}

/* Runs the service on the complete frames buffered, as long as the output bound allows. */
static void conn_process(loop *l, conn *c, int64_t now) {
    const server_cfg *cfg = l->cfg;
    bool progressed = false;
    while (c->state == OPEN && svc_out_pending(&c->out) <= cfg->max_queued) {
        if (!srv_fit_frame(&c->in, cfg->max_payload)) {
            svc_error(&c->svc, &c->out, WIRE_ELIMIT, WIRE_NO_OFFSET, "out of memory for the frame");
            conn_finish(c, c->svc.reason);
            break;
        }
        wire_frame f;
        int rc = wire_parser_next(&c->in, &f);
        if (rc == 0) break;
        if (rc < 0) {
            size_t at;
            wire_err e = wire_parser_error(&c->in, &at);
            svc_error(&c->svc, &c->out, e, (uint32_t)at, "in the frame header");
            conn_finish(c, c->svc.reason);
            break;
        }
        progressed = true;
        if (svc_handle(&cfg->svc, &c->svc, &f, &c->out) == SVC_CLOSE) conn_finish(c, c->svc.reason);
    }
    if (progressed) c->last_frame = now;
    if (wire_parser_buffered(&c->in) == 0) {
        c->frame_start = 0;
        shrink_input(c);
        if (l->stopping) conn_finish(c, "server stopping");
    } else if (progressed || c->frame_start == 0) {
        c->frame_start = now; /* the next frame has begun */
    }
}

/* Reads what the socket has (bounded per turn). Returns false if the connection was freed. */
static bool conn_read(loop *l, conn *c, int64_t now) {
    for (int k = 0; k < READS_PER_EVENT; k++) {
        if (c->state == DRAINING) {
            uint8_t junk[4096];
            ssize_t n = read(c->fd, junk, sizeof junk);
            if (n > 0 || (n < 0 && errno == EINTR)) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            conn_free(l, c, c->why);
            return false;
        }
        if (c->state != OPEN || svc_out_pending(&c->out) > l->cfg->max_queued) return true;
        size_t room;
        uint8_t *dst = wire_parser_space(&c->in, &room);
        if (room == 0) return true; /* frames wait for output to drain */
        ssize_t n = read(c->fd, dst, room);
        if (n > 0) {
            wire_parser_advance(&c->in, (size_t)n);
            c->bytes_in += (size_t)n;
            if (c->frame_start == 0) c->frame_start = now;
            conn_process(l, c, now);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        char why[96];
        if (n == 0)
            snprintf(why, sizeof why, "%s", wire_parser_buffered(&c->in) ? "peer closed in the middle of a frame" : "peer closed");
        else
            snprintf(why, sizeof why, "read: %s", strerror(errno));
        conn_free(l, c, why);
        return false;
    }
    return true;
}

static void conn_event(loop *l, conn *c, bool readable, bool writable, int64_t now) {
    if (writable) {
        if (!conn_flush(l, c, now)) return;
        conn_process(l, c, now); /* frames held back by the output bound may go on now */
    }
    if (readable && !conn_read(l, c, now)) return;
    if (!conn_flush(l, c, now)) return;
    conn_interest(l, c);
}

static void accept_ready(loop *l, int lfd, int64_t now) {
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (errno == EMFILE || errno == ENFILE) srv_log(l->cfg, "accept: out of file descriptors");
            return; /* EAGAIN: no more pending */
        }
        /* Over --max-conns the connection still becomes a conn, without an input buffer: it only
         * sends ERROR(LIMIT) and closes gracefully, and that must not block the loop. */
        bool refuse = l->nconns >= l->cfg->max_conns;
        conn *c = calloc(1, sizeof *c);
        uint8_t *buf = refuse ? NULL : malloc(SRV_INBUF_START);
        int one = 1;
        if (!c || (!refuse && !buf) || wire_set_nonblocking(fd, true) != WIRE_OK) {
            free(c);
            free(buf);
            srv_log(l->cfg, "out of memory: connection dropped");
            close(fd);
            continue;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on Unix sockets */
        c->fd = fd;
        wire_parser_init(&c->in, buf, buf ? SRV_INBUF_START : 0, l->cfg->max_payload);
        svc_out_init(&c->out, srv_out_limit(l->cfg));
        c->last_frame = c->last_write = now;
        wire_peer_name(fd, c->peer, sizeof c->peer);
        if (poller_add(l->p, fd, c, false, false) != 0) {
            free(buf);
            svc_out_free(&c->out);
            free(c);
            close(fd);
            continue;
        }
        c->next = l->conns;
        if (l->conns) l->conns->prev = c;
        l->conns = c;
        l->nconns++;
        if (refuse) {
            svc_error(&c->svc, &c->out, WIRE_ELIMIT, WIRE_NO_OFFSET, "too many connections");
            conn_finish(c, c->svc.reason);
            if (!conn_flush(l, c, now)) continue;
        }
        conn_interest(l, c);
    }
}

/* Timeouts: idle, frame (slowloris), a client that does not read, drains that last too long. */
static void sweep(loop *l, int64_t now) {
    const server_cfg *cfg = l->cfg;
    conn *next;
    for (conn *c = l->conns; c; c = next) {
        next = c->next;
        bool stalled = svc_out_pending(&c->out) > 0 &&
                       (now - c->last_write >= cfg->idle_timeout_ms ||
                        (l->stopping && now - l->stop_at >= cfg->frame_timeout_ms));
        if (c->state == DRAINING) {
            if (now >= c->drain_until) conn_free(l, c, c->why);
            continue;
        }
        if (stalled) { /* it does not read: an ERROR could not get through the queue either */
            conn_free(l, c, "client does not read its replies");
            continue;
        }
        if (c->state != OPEN) continue;
        if (c->frame_start && now - c->frame_start >= cfg->frame_timeout_ms)
            svc_error(&c->svc, &c->out, WIRE_ETIMEOUT, WIRE_NO_OFFSET, "a frame was started and not completed in time");
        else if (!c->frame_start && svc_out_pending(&c->out) == 0 && now - c->last_frame >= cfg->idle_timeout_ms)
            svc_error(&c->svc, &c->out, WIRE_ETIMEOUT, WIRE_NO_OFFSET, "idle for too long");
        else
            continue;
        conn_finish(c, c->svc.reason);
        if (conn_flush(l, c, now)) conn_interest(l, c);
    }
}

static void begin_stop(loop *l, int64_t now) {
    l->stopping = true;
    l->stop_at = now;
    for (int k = 0; k < l->cfg->nlisten; k++) {
        poller_del(l->p, l->cfg->listen_fds[k]);
        close(l->cfg->listen_fds[k]);
    }
    poller_del(l->p, l->cfg->stop_fd);
    conn *next;
    for (conn *c = l->conns; c; c = next) {
        next = c->next;
        /* a frame being received is finished first (within the frame timeout), then answered */
        if (c->state == OPEN && wire_parser_buffered(&c->in) == 0) conn_finish(c, "server stopping");
        if (conn_flush(l, c, now)) conn_interest(l, c);
    }
}

int srv_run_event(const server_cfg *cfg, bool use_epoll) {
    loop l;
    memset(&l, 0, sizeof l);
    l.cfg = cfg;
    l.p = poller_new(use_epoll);
    if (!l.p) {
        fprintf(stderr, "wire-server: cannot create the %s poller: %s\n", use_epoll ? "epoll" : "poll", strerror(errno));
        return 1;
    }
    for (int k = 0; k < cfg->nlisten; k++) {
        if (wire_set_nonblocking(cfg->listen_fds[k], true) != WIRE_OK ||
            poller_add(l.p, cfg->listen_fds[k], &l.listen_tag[k], true, false) != 0) {
            fprintf(stderr, "wire-server: cannot watch a listening socket: %s\n", strerror(errno));
            poller_free(l.p);
            return 1;
        }
    }
    if (poller_add(l.p, cfg->stop_fd, &l.stop_tag, true, false) != 0) {
        poller_free(l.p);
        return 1;
    }
    poller_event ev[256];
    int64_t next_sweep = srv_now_ms() + SWEEP_MS;
    while (!l.stopping || l.conns) {
        int64_t now = srv_now_ms();
        int wait = now >= next_sweep ? 0 : (int)(next_sweep - now);
        int n = poller_wait(l.p, ev, 256, wait);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "wire-server: poll: %s\n", strerror(errno));
            break;
        }
        now = srv_now_ms();
        bool stop = false;
        for (int i = 0; i < n; i++) {
            void *tag = ev[i].ptr;
            if (tag == &l.stop_tag) {
                stop = true; /* after the batch: stopping may free connections later events name */
                continue;
            }
            if (tag >= (void *)l.listen_tag && tag < (void *)(l.listen_tag + SRV_MAX_LISTEN)) {
                if (!l.stopping) accept_ready(&l, cfg->listen_fds[(char *)tag - l.listen_tag], now);
                continue;
            }
            conn_event(&l, tag, ev[i].readable, ev[i].writable, now);
        }
        if (stop && !l.stopping) begin_stop(&l, now);
        if (now >= next_sweep) {
            sweep(&l, now);
            next_sweep = now + SWEEP_MS;
        }
    }
    poller_free(l.p);
    return 0;
}
