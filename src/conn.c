/* SPDX-License-Identifier: MIT */
/* conn.c - the connection object: its buffers, reading and writing, deadlines, and how it ends. The
 * protocol rules for each received frame are in conn_proto.c; the blocking helpers in conn_sync.c. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TRIM_MS 1000      /* empty buffers are given back after this long without a read */
#define JUNK_SIZE 4096    /* what a drain reads at a time */

void wire_conn_config_init(wire_conn_config *cfg, wire_role role) {
    memset(cfg, 0, sizeof *cfg);
    cfg->role = role;
    cfg->name = role == WIRE_ROLE_SERVER ? "wire-server" : "wire-client";
    cfg->max_payload = WIRE_DEFAULT_MAX_PAYLOAD;
    cfg->max_queued = 4u << 20;
    cfg->idle_timeout_ms = role == WIRE_ROLE_SERVER ? 60000 : 0;
    cfg->frame_timeout_ms = 10000;
    cfg->drain_ms = 1000;
    cfg->inbuf_size = 16384;
}

bool wire__conn_config_ok(const wire_conn_config *cfg) {
    return (cfg->role == WIRE_ROLE_CLIENT || cfg->role == WIRE_ROLE_SERVER) && cfg->max_payload >= WIRE_MIN_MAX_PAYLOAD &&
           cfg->max_payload <= UINT32_MAX - WIRE_HEADER_SIZE && cfg->max_queued > 0 && cfg->idle_timeout_ms >= 0 &&
           cfg->frame_timeout_ms >= 0 && cfg->drain_ms >= 0 && cfg->inbuf_size >= WIRE_HEADER_SIZE &&
           (!cfg->name || strlen(cfg->name) <= WIRE_HELLO_NAME_MAX) &&
           (!cfg->name || wire_utf8_valid(cfg->name, strlen(cfg->name), NULL));
}

wire_err wire_conn_new(int fd, const wire_conn_config *cfg, wire_conn **out) {
    wire_conn_config defaults;
    *out = NULL;
    if (!cfg) {
        wire_conn_config_init(&defaults, WIRE_ROLE_CLIENT);
        cfg = &defaults;
    }
    if (fd < 0 || !wire__conn_config_ok(cfg)) return WIRE_EINVAL;
    wire_conn *c = calloc(1, sizeof *c);
    const char *name = cfg->name ? cfg->name : "";
    size_t nlen = strlen(name);
    if (!c || !(c->my_name = malloc(nlen + 1))) {
        free(c);
        return WIRE_ELIMIT;
    }
    if (wire_set_nonblocking(fd, true) != WIRE_OK) {
        free(c->my_name);
        free(c);
        return WIRE_EIO;
    }
    memcpy(c->my_name, name, nlen + 1);
    c->my_name_len = nlen;
    c->fd = fd;
    c->role = cfg->role;
    c->state = WIRE_CONN_HANDSHAKE;
    wire_parser_init(&c->in, NULL, 0, cfg->max_payload);
    wire_outq_init(&c->out, cfg->max_queued);
    c->max_payload = cfg->max_payload;
    c->max_queued = cfg->max_queued;
    c->inbuf_size = cfg->inbuf_size;
    c->idle_ms = cfg->idle_timeout_ms;
    c->frame_ms = cfg->frame_timeout_ms;
    c->drain_ms = cfg->drain_ms;
    c->serves = cfg->serves;
    c->serves_arg = cfg->serves_arg;
    c->now = wire_now_ms();
    c->last_frame = c->last_write = c->last_read = c->now;
    wire_peer_name(fd, c->peer_addr, sizeof c->peer_addr);
    if (c->role == WIRE_ROLE_CLIENT && !wire__conn_push_hello(c)) wire__conn_end(c, WIRE_ELIMIT, "cannot queue our HELLO");
    *out = c;
    return WIRE_OK;
}

void wire_conn_free(wire_conn *c) {
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    wire_outq_free(&c->out); /* releases references, into the input buffer too: free that after */
    wire__in_release(c);
    free(c->my_name);
    free(c->peer_name);
    free(c->peer_text);
    free(c);
}

int wire_conn_fd(const wire_conn *c) { return c->fd; }
wire_conn_state wire_conn_get_state(const wire_conn *c) { return c->state; }
wire_role wire_conn_role(const wire_conn *c) { return c->role; }
uint32_t wire_conn_peer_max(const wire_conn *c) { return c->state == WIRE_CONN_HANDSHAKE ? 0 : c->peer_max; }
size_t wire_conn_queued(const wire_conn *c) { return wire_outq_pending(&c->out); }
const char *wire_conn_peer_addr(const wire_conn *c) { return c->peer_addr; }
void wire_conn_get_stats(const wire_conn *c, wire_conn_stats *s) { *s = c->stats; }
void wire_conn_set_data(wire_conn *c, void *data) { c->data = data; }
void *wire_conn_data(const wire_conn *c) { return c->data; }
const char *wire_conn_errstr(const wire_conn *c) { return c->why; }

const char *wire_conn_peer_name(const wire_conn *c, size_t *len) {
    *len = c->peer_name ? c->peer_name_len : 0;
    return c->peer_name ? c->peer_name : "";
}

wire_err wire_conn_error(const wire_conn *c, int *sys_errno) {
    if (sys_errno) *sys_errno = c->sys_errno;
    return c->err;
}

bool wire_conn_peer_error(const wire_conn *c, wire_error_msg *m) {
    if (c->err != WIRE_EPEER) return false;
    *m = c->peer;
    return true;
}

void wire_conn_set_notify(wire_conn *c, void (*fn)(wire_conn *c, void *arg), void *arg) {
    c->notify = fn;
    c->notify_arg = arg;
}

wire_frame *wire_frame_dup(const wire_frame *f) {
    wire_frame *d = malloc(sizeof *d + (f->length ? f->length : 1));
    if (!d) return NULL;
    uint8_t *p = (uint8_t *)(d + 1);
    if (f->length) memcpy(p, f->payload, f->length);
    d->type = f->type;
    d->length = f->length;
    d->payload = p;
    d->size = f->size;
    return d;
}

/* ---- ending ---- */

static void set_why(wire_conn *c, const char *fmt, va_list ap) { vsnprintf(c->why, sizeof c->why, fmt, ap); }

/* The first reason given is the one kept: a write that fails after the peer's ERROR does not hide it.
 * Our BYE is no reason: how its wait ends is (the peer's BYE, an EOF, a timeout, an error). */
void wire__conn_end(wire_conn *c, wire_err err, const char *fmt, ...) {
    if (c->state == WIRE_CONN_CLOSED) return;
    if (c->state != WIRE_CONN_CLOSING || !c->why[0] || c->bye_sent) {
        va_list ap;
        va_start(ap, fmt);
        set_why(c, fmt, ap);
        va_end(ap);
        c->err = err;
    }
    c->state = WIRE_CONN_CLOSED;
    c->in.head = c->in.tail = 0; /* nothing more is handed out */
}

static void end_io(wire_conn *c, const char *what, int err) {
    char et[128];
    c->sys_errno = err;
    if (err == ECONNRESET || err == EPIPE)
        wire__conn_end(c, WIRE_ECLOSED, "%s: %s", what, wire__errno_text(err, et, sizeof et));
    else
        wire__conn_end(c, WIRE_EIO, "%s: %s", what, wire__errno_text(err, et, sizeof et));
}

static void shut_down(wire_conn *c);

/* CLOSED, keeping the reason given when closing began. */
static void closed(wire_conn *c) {
    c->state = WIRE_CONN_CLOSED;
    c->in.head = c->in.tail = 0;
}

void wire__conn_closing(wire_conn *c, wire_err err, const char *why) {
    if (c->state == WIRE_CONN_CLOSED || c->state == WIRE_CONN_CLOSING) return;
    c->state = WIRE_CONN_CLOSING;
    c->discard = true;
    c->err = err;
    snprintf(c->why, sizeof c->why, "%s", why);
    c->in.head = c->in.tail = 0; /* frames after this one are not processed (SPEC 8.4, 8.5) */
    wire__in_release(c);
    if (wire_outq_pending(&c->out) == 0) shut_down(c); /* nothing to send first: FIN now */
    if (c->notify) c->notify(c, c->notify_arg);
}

void wire_conn_fail(wire_conn *c, wire_err code, uint32_t offset, const char *detail) {
    char text[WIRE_ERROR_TEXT_MAX + 1], why[sizeof c->why], payload[WIRE_ERROR_TEXT_MAX + 16];
    wire_writer w;
    size_t n = 0;
    if (c->state == WIRE_CONN_CLOSED || (c->state == WIRE_CONN_CLOSING && !c->bye_sent)) return;
    if (c->bye_sent) { /* after our BYE we send nothing more: the fault only ends the connection */
        wire__conn_end(c, code, "after BYE: %s%s%s", wire_strerror(code), detail ? ": " : "", detail ? detail : "");
        return;
    }
    if (detail) snprintf(text, sizeof text, "%s: %s", wire_strerror(code), detail);
    else snprintf(text, sizeof text, "%s", wire_strerror(code));
    size_t len = strlen(text);
    while (len > 0 && !wire_utf8_valid(text, len, NULL)) len--; /* a cut detail must stay UTF-8 */
    wire_error_msg m = {(uint16_t)code, offset, text, len};
    wire_writer_init(&w, payload, sizeof payload);
    (void)wire_put_error_msg(&w, &m);
    bool queued = wire_writer_finish(&w, &n) == WIRE_OK && wire__conn_push_control(c, WIRE_MSG_ERROR, payload, n);
    if (offset == WIRE_NO_OFFSET) snprintf(why, sizeof why, "sent ERROR %s (%.*s)", wire_err_name(code), (int)len, text);
    else
        snprintf(why, sizeof why, "sent ERROR %s at offset %lu (%.*s)", wire_err_name(code), (unsigned long)offset,
                 (int)len, text);
    if (!queued) {
        wire__conn_end(c, code, "%s; could not queue it", why);
        return;
    }
    wire__conn_closing(c, code, why);
}

void wire_conn_fail_reader(wire_conn *c, const wire_reader *r, const char *detail) {
    size_t at = 0;
    wire_err e = wire_reader_error(r, &at);
    if (e == WIRE_OK) e = WIRE_EINVAL;
    if (e == WIRE_ETYPE || e == WIRE_EINVAL) e = WIRE_EMESSAGE; /* a field missing or of the wrong type */
    wire_conn_fail(c, e, (uint32_t)(WIRE_HEADER_SIZE + at), detail);
}

void wire__conn_close_why(wire_conn *c, const char *why) {
    if (c->state == WIRE_CONN_CLOSED || c->state == WIRE_CONN_CLOSING) return;
    if (!c->close_asked) {
        c->close_asked = true;
        c->close_at = c->now = wire_now_ms();
        snprintf(c->why, sizeof c->why, "%s", why);
    }
    if (wire__in_held(&c->in) == 0) wire__conn_closing(c, WIRE_OK, why);
    else if (c->notify) c->notify(c, c->notify_arg);
}

void wire_conn_close(wire_conn *c) { wire__conn_close_why(c, "closed"); }

void wire_conn_abort(wire_conn *c) {
    if (c->state == WIRE_CONN_CLOSED) return;
    wire__conn_end(c, c->err, "aborted");
    if (c->notify) c->notify(c, c->notify_arg);
}

/* ---- sending ---- */

static void queued_one(wire_conn *c, size_t pending_before, uint16_t type) {
    c->stats.frames_out++;
    if (type == WIRE_MSG_PING) c->pings++; /* its PONG is then expected (SPEC 7.5) */
    if (pending_before == 0) { /* the peer has idle_ms to take it, from now */
        int64_t t = wire_now_ms();
        c->last_write = t > c->now ? t : c->now; /* c->now may be ahead: a caller's clock (check_time) */
    }
    if (pending_before == 0 && c->notify) c->notify(c, c->notify_arg);
}

bool wire__conn_push_control(wire_conn *c, uint16_t type, const void *payload, size_t len) {
    size_t before = wire_outq_pending(&c->out);
    c->out.limit = SIZE_MAX; /* the connection's own frames are small and not refused */
    wire_err e = wire_outq_push(&c->out, type, payload, len);
    c->out.limit = c->max_queued;
    if (e) return false;
    queued_one(c, before, type);
    return true;
}

bool wire__conn_push_hello(wire_conn *c) {
    uint8_t buf[3 + 5 + 5 + WIRE_HELLO_NAME_MAX];
    wire_writer w;
    size_t n = 0;
    wire_hello h = {WIRE_PROTOCOL_VERSION, c->max_payload, c->my_name, c->my_name_len};
    wire_writer_init(&w, buf, sizeof buf);
    (void)wire_put_hello(&w, &h);
    /* a server's HELLO must fit in what the client announced it accepts (SPEC 8.1) */
    return wire_writer_finish(&w, &n) == WIRE_OK && (c->role == WIRE_ROLE_CLIENT || n <= c->peer_max) &&
           wire__conn_push_control(c, WIRE_MSG_HELLO, buf, n);
}

/* What every send checks first. */
static wire_err can_send(const wire_conn *c, size_t len) {
    if (c->state != WIRE_CONN_OPEN || c->bye_sent) return WIRE_EINVAL;
    if (len > c->peer_max) return WIRE_ETOOBIG;
    if (wire_outq_full(&c->out)) return WIRE_ELIMIT;
    return WIRE_OK;
}

wire_err wire_conn_send(wire_conn *c, uint16_t type, const void *payload, size_t len) {
    wire_err e = can_send(c, len);
    size_t before = wire_outq_pending(&c->out);
    if (e == WIRE_OK) e = wire_outq_push(&c->out, type, payload, len);
    if (e == WIRE_OK) queued_one(c, before, type);
    return e;
}

wire_err wire_conn_send_ref(wire_conn *c, uint16_t type, const void *payload, size_t len, wire_release_fn release,
                            void *arg) {
    wire_err e = can_send(c, len);
    size_t before = wire_outq_pending(&c->out);
    if (e == WIRE_OK) e = wire_outq_push_ref(&c->out, type, payload, len, release, arg);
    if (e == WIRE_OK) queued_one(c, before, type);
    return e;
}

/* The received payload is sent from the input buffer where it is (conn_input.c). */
wire_err wire__conn_send_payload(wire_conn *c, uint16_t type, const wire_frame *f, bool control) {
    size_t before = wire_outq_pending(&c->out);
    wire_err e = control ? WIRE_OK : can_send(c, f->length);
    if (e) return e;
    if (control) c->out.limit = SIZE_MAX;
    e = wire__in_ref(c, &c->out, type, f);
    c->out.limit = c->max_queued;
    if (e) return e;
    queued_one(c, before, type);
    return WIRE_OK;
}

wire_err wire_conn_send_frame_payload(wire_conn *c, uint16_t type, const wire_frame *f) {
    return wire__conn_send_payload(c, type, f, false);
}

wire_err wire_conn_begin(wire_conn *c, uint16_t type, size_t max_len, wire_writer *w) {
    wire_err e = can_send(c, 0);
    if (e) {
        wire_writer_init(w, NULL, 0);
        w->err = e;
        w->end = w->p;
        return e;
    }
    return wire_outq_begin(&c->out, type, max_len, w);
}

wire_err wire_conn_end(wire_conn *c, wire_writer *w) {
    size_t n = 0, before = wire_outq_pending(&c->out);
    /* the type begin wrote into the frame's header */
    uint16_t type = c->out.open ? wire__load16(c->out.buf + c->out.open - 1 + 2) : 0;
    if (w->err == WIRE_OK && wire_writer_finish(w, &n) == WIRE_OK && n > c->peer_max) {
        w->err = WIRE_ETOOBIG; /* end then drops the frame */
        w->err_offset = 0;
    }
    wire_err e = wire_outq_end(&c->out, w);
    if (e == WIRE_OK) queued_one(c, before, type);
    return e;
}

void wire_conn_cancel(wire_conn *c) { wire_outq_cancel(&c->out); }

wire_err wire_conn_ping(wire_conn *c, const void *payload, size_t len) {
    return wire_conn_send(c, WIRE_MSG_PING, payload, len);
}

wire_err wire_conn_bye(wire_conn *c) {
    wire_err e = can_send(c, 0);
    if (e == WIRE_ELIMIT) e = WIRE_OK; /* BYE is a control frame: it is not refused for a full queue */
    if (e) return e;
    if (!wire__conn_push_control(c, WIRE_MSG_BYE, NULL, 0)) return WIRE_ELIMIT;
    c->bye_sent = true;
    c->state = WIRE_CONN_CLOSING;
    /* BYE supersedes a close still waiting for a frame: reading must go on to the peer's BYE (a
     * close would stop it after that frame, leaving the connection wanting to read and reading
     * nothing until the drain time) */
    c->close_asked = false;
    c->last_read = c->now;
    snprintf(c->why, sizeof c->why, "sent BYE");
    return WIRE_OK;
}

/* ---- reading ---- */

/* Reads and throws away what came (SPEC 8.4), a bounded amount per call: a peer that keeps sending
 * cannot keep this call busy, and the drain's deadline ends it. */
static void drain_read(wire_conn *c) {
    uint8_t junk[JUNK_SIZE];
    for (int k = 0; k < 16; k++) {
        ssize_t n = read(c->fd, junk, sizeof junk);
        if (n > 0) {
            c->stats.bytes_in += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        /* EOF or an error: the drain is over either way (SPEC 8.4) */
        c->eof = true;
        if (c->shut) closed(c);
        return;
    }
}

wire_err wire_conn_read(wire_conn *c) {
    if (c->state == WIRE_CONN_CLOSED || c->eof) return WIRE_OK;
    c->now = wire_now_ms();
    if (c->discard) {
        drain_read(c);
        return WIRE_OK;
    }
    if (wire_outq_full(&c->out)) return WIRE_OK; /* backpressure */
    size_t room;
    uint8_t *dst = wire__in_space(c, &room);
    if (!dst) {
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "out of memory for the frame");
        return WIRE_ELIMIT;
    }
    if (c->close_asked) { /* closing: complete the frame under way, take nothing after it */
        size_t want = wire__in_wanted(&c->in), have = wire__in_held(&c->in);
        size_t need = have == 0 ? 0 : want ? (want > have ? want - have : 0) : WIRE_HEADER_SIZE - have;
        if (room > need) room = need;
    }
    if (room == 0) return WIRE_OK;
    for (;;) {
        ssize_t n = read(c->fd, dst, room);
        if (n > 0) {
            c->in_filled = (size_t)n == room;
            if (wire__in_held(&c->in) == 0) c->frame_start = c->now;
            wire_parser_advance(&c->in, (size_t)n);
            c->stats.bytes_in += (size_t)n;
            c->last_read = c->now;
            return WIRE_OK;
        }
        if (n == 0) {
            c->eof = true;
            return WIRE_OK;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return WIRE_OK;
        end_io(c, "read", errno);
        return c->err;
    }
}

/* The end of the stream, once every complete frame before it was taken. */
static void on_eof(wire_conn *c) {
    if (c->bye_sent) {
        wire__conn_end(c, WIRE_ECLOSED, "peer closed without answering BYE");
        return;
    }
    bool cut = wire__in_held(&c->in) > 0;
    /* the replies already queued still go out (SPEC 8.5: EOF is not an error), then the close */
    wire__conn_closing(c, cut ? WIRE_ETRUNCATED : WIRE_ECLOSED,
                       cut ? "peer closed in the middle of a frame" : "peer closed");
}

/* The parser refuses a frame larger than its buffer, and the buffer grows only as the frame's bytes
 * come (conn_input.c): until the frame fits, its header is judged here, against max_payload. */
static int parse_next(wire_conn *c, wire_frame *f) {
    if (!c->in.buf) return 0;
    if (wire__in_held(&c->in) >= WIRE_HEADER_SIZE && wire__in_wanted(&c->in) > c->in.cap) {
        wire_header h;
        size_t at = 0;
        wire_err e = wire_header_decode(c->in.buf + c->in.head, c->max_payload, &h, &at);
        if (e == WIRE_OK) return 0;
        c->in.err = e;
        c->in.err_offset = at;
        return -1;
    }
    return wire_parser_next(&c->in, f);
}

int wire_conn_next(wire_conn *c, wire_frame *f) { return wire__conn_next(c, f, false); }

int wire__conn_next(wire_conn *c, wire_frame *f, bool handshake_only) {
    for (;;) {
        if (c->state == WIRE_CONN_CLOSED || (c->state == WIRE_CONN_CLOSING && !c->bye_sent)) return -1;
        if (handshake_only && c->state != WIRE_CONN_HANDSHAKE) return 0; /* what follows HELLO stays */
        if (wire_outq_full(&c->out)) return 0; /* frames wait until the peer reads its replies */
        if (!wire__in_fit(c)) {
            wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "out of memory for the frame");
            return -1;
        }
        int rc = parse_next(c, f);
        if (rc < 0) {
            size_t at = 0;
            wire_err e = wire_parser_error(&c->in, &at);
            wire_conn_fail(c, e, (uint32_t)at, "in the frame header");
            return -1;
        }
        /* SPEC 8.3 step 3: a type not allowed now is answered from its header, at once: its payload
         * may be long, or never come */
        if (rc == 0 && wire__in_held(&c->in) >= WIRE_HEADER_SIZE &&
            wire__conn_refuse_header(c, wire__load16(c->in.buf + c->in.head + 2)) < 0)
            return -1;
        if (rc == 0) {
            if (wire__in_held(&c->in) == 0) {
                c->frame_start = 0;
                if (c->eof) {
                    on_eof(c);
                    return -1;
                }
                if (c->close_asked) {
                    wire__conn_closing(c, WIRE_OK, c->why);
                    return -1;
                }
            } else if (c->eof) {
                on_eof(c);
                return -1;
            }
            return 0;
        }
        c->stats.frames_in++;
        c->last_frame = c->now;
        if (wire__in_held(&c->in) > 0) c->frame_start = c->now; /* the next one has begun */
        rc = wire__conn_dispatch(c, f);
        if (rc != 0) return rc;
    }
}

/* ---- writing ---- */

static void shut_down(wire_conn *c) {
    shutdown(c->fd, SHUT_WR); /* FIN after our last frame: the peer reads it, then EOF (SPEC 8.4) */
    c->shut = true;
    c->drain_until = c->now + c->drain_ms;
    if (c->eof) closed(c); /* the peer has finished: nothing to drain */
    else drain_read(c);
}

wire_err wire_conn_write(wire_conn *c) {
    if (c->state == WIRE_CONN_CLOSED) return WIRE_OK;
    c->now = wire_now_ms();
    if (wire_outq_pending(&c->out) > 0) {
        size_t sent = 0;
        bool was_full = wire_outq_full(&c->out);
        wire_err e = wire_outq_send(&c->out, c->fd, &sent);
        if (sent > 0) {
            c->stats.bytes_out += sent;
            c->last_write = c->now;
        }
        /* reading resumes: a frame it held up gets its whole frame timeout again */
        if (was_full && !wire_outq_full(&c->out) && c->frame_start) c->frame_start = c->now;
        if (e) {
            end_io(c, "send", errno);
            return c->err;
        }
    }
    if (c->state == WIRE_CONN_CLOSING && !c->bye_sent && !c->shut && wire_outq_pending(&c->out) == 0) shut_down(c);
    return WIRE_OK;
}

/* ---- waiting ---- */

unsigned wire_conn_events(const wire_conn *c) {
    if (c->state == WIRE_CONN_CLOSED) return 0;
    unsigned ev = wire_outq_pending(&c->out) > 0 ? WIRE_EV_WRITE : 0;
    if (c->eof) return ev;
    if (c->discard) return c->shut ? ev | WIRE_EV_READ : ev; /* drain once our last frame is out */
    if (wire_outq_full(&c->out)) return ev;
    if (c->in.buf) {
        size_t held = wire__in_held(&c->in), want = wire__in_wanted(&c->in);
        if (held == c->in.cap && want <= c->in.cap) return ev; /* a whole frame fills it: to be taken first */
        if (c->close_asked && held == 0) return ev;
    }
    return ev | WIRE_EV_READ;
}

/* One deadline and what happens at it. */
typedef enum due { DUE_NONE, DUE_DRAIN, DUE_BYE, DUE_STALL, DUE_CLOSE_STALL, DUE_FRAME, DUE_IDLE, DUE_TRIM } due;

/* Buffers held with nothing in them. They are kept while the peer is active, so that a connection
 * exchanging messages does not free and allocate them for every one (nor fault in fresh pages for
 * every large frame), and given back TRIM_MS after its last read, so that an idle connection holds
 * no buffer at all. */
static bool holds_idle_buffers(const wire_conn *c) {
    return (c->in.buf && wire__in_held(&c->in) == 0) || (c->out.cap > 0 && wire_outq_pending(&c->out) == 0);
}

static int64_t next_due(const wire_conn *c, due *what) {
    int64_t at = -1;
    *what = DUE_NONE;
#define DUE(t, w)                                                                                  \
    do {                                                                                           \
        int64_t t_ = (t);                                                                          \
        if (at < 0 || t_ < at) at = t_, *what = (w);                                               \
    } while (0)
    if (c->state == WIRE_CONN_CLOSED) return -1;
    bool pending = wire_outq_pending(&c->out) > 0;
    if (c->shut) DUE(c->drain_until, DUE_DRAIN);
    if (c->bye_sent && c->drain_ms > 0) DUE(c->last_read + c->drain_ms, DUE_BYE);
    if (pending && c->idle_ms > 0) DUE(c->last_write + c->idle_ms, DUE_STALL);
    if (pending && c->close_asked && (c->frame_ms > 0 || c->drain_ms > 0))
        DUE(c->close_at + (c->frame_ms > 0 ? c->frame_ms : c->drain_ms), DUE_CLOSE_STALL);
    if (c->state != WIRE_CONN_CLOSING) {
        /* not while the peer's own backpressure keeps us from reading the rest of the frame */
        if (c->frame_start && c->frame_ms > 0 && !wire_outq_full(&c->out))
            DUE(c->frame_start + c->frame_ms, DUE_FRAME);
        else if (!c->frame_start && !pending && c->idle_ms > 0) DUE(c->last_frame + c->idle_ms, DUE_IDLE);
        if (holds_idle_buffers(c)) DUE(c->last_read + TRIM_MS, DUE_TRIM);
    }
#undef DUE
    return at;
}

/* The type of the frame being received, once its header is in (and was accepted); 0 before. */
static uint16_t pending_type(const wire_conn *c) {
    if (wire__in_held(&c->in) < WIRE_HEADER_SIZE) return 0;
    const uint8_t *h = c->in.buf + c->in.head;
    return (uint16_t)(h[2] << 8 | h[3]);
}

int64_t wire_conn_deadline(const wire_conn *c) {
    due what;
    return next_due(c, &what);
}

void wire_conn_check_time(wire_conn *c, int64_t now) {
    due what;
    int64_t at;
    c->now = now;
    /* each step may change the connection: look again until nothing is due */
    while ((at = next_due(c, &what)) >= 0 && at <= now) {
        switch (what) {
        case DUE_DRAIN: closed(c); return;
        case DUE_BYE: wire__conn_end(c, WIRE_ETIMEOUT, "sent BYE, no answer came"); return;
        case DUE_STALL:
        case DUE_CLOSE_STALL:
            /* it does not read: an ERROR could not get past its full queue either */
            wire__conn_end(c, WIRE_ETIMEOUT, "peer does not read its replies");
            return;
        case DUE_FRAME:
            if (pending_type(c) == WIRE_MSG_ERROR) { /* its header says ERROR: never answered (SPEC 7.4) */
                wire__conn_end(c, WIRE_ETIMEOUT, "an ERROR frame was started and not completed in time");
                return;
            }
            wire_conn_fail(c, WIRE_ETIMEOUT, WIRE_NO_OFFSET, "a frame was started and not completed in time");
            break;
        case DUE_IDLE: wire_conn_fail(c, WIRE_ETIMEOUT, WIRE_NO_OFFSET, "idle for too long"); break;
        case DUE_TRIM:
            wire__in_idle(c);
            wire_outq_trim(&c->out);
            break;
        case DUE_NONE: return;
        }
    }
}
