/* SPDX-License-Identifier: MIT */
/* internal.h - helpers shared by the library's sources; not installed. */
#ifndef WIRE_INTERNAL_H
#define WIRE_INTERNAL_H

#include "wire.h"

#include <pthread.h>

/* Size of the value of a fixed-size type, 0 for the others (string, bytes, list, group). */
static inline size_t wire__fixed_size(int tag) {
    switch (tag) {
    case WIRE_T_U8: case WIRE_T_I8: case WIRE_T_BOOL: return 1;
    case WIRE_T_U16: case WIRE_T_I16: return 2;
    case WIRE_T_U32: case WIRE_T_I32: case WIRE_T_F32: return 4;
    case WIRE_T_U64: case WIRE_T_I64: case WIRE_T_F64: return 8;
    default: return 0;
    }
}

/* Smallest encoded value of a type, used to refuse a list count before reading its elements:
 * a count above remaining / min size cannot be honest. 0 for a byte that is not a tag. */
static inline size_t wire__min_size(int tag) {
    switch (tag) {
    case WIRE_T_STRING: case WIRE_T_BYTES: case WIRE_T_GROUP: return 4;
    case WIRE_T_LIST: return 5;
    default: return wire__fixed_size(tag);
    }
}

/* writer.c: records WIRE_ERANGE (a value the protocol does not allow) as the writer's error. */
wire_err wire__put_range_error(wire_writer *w);

/* Writes a formatted message into errbuf (if any); never fails, always NUL-terminates. */
void wire__errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* io.c: one sendmsg (MSG_NOSIGNAL: a closed peer never raises SIGPIPE) of the iovecs, falling back
 * to writev for descriptors that are not sockets (pipes, files); what the system call returned. */
ssize_t wire__send_iov(int fd, struct iovec *iov, int cnt);

/* strerror() without its static buffer: the text of errno value err in buf (returned). */
const char *wire__errno_text(int err, char *buf, size_t len);
/* net.c's socket helpers, shared with udp.c: a close-on-exec socket of that type; close() that
 * keeps errno; "*" for no host; a port that is a number must be 0 (if zero_ok) or 1..65535 (else
 * the error is written to errbuf, prefixed by `what host:port`). */
int wire__socket_cloexec(int family, int type);
void wire__close_keep_errno(int fd);
const char *wire__show_host(const char *host);
bool wire__port_ok(const char *what, const char *host, const char *port, bool zero_ok, char *errbuf, size_t errlen);

/* ---- the connection (conn.c, conn_proto.c, conn_sync.c) ---- */

/* wire_parser_buffered() and wire_parser_wanted() inline, for the connection's hot path (they are
 * asked several times per frame). */
static inline size_t wire__in_held(const wire_parser *p) { return p->tail - p->head; }
static inline size_t wire__in_wanted(const wire_parser *p) {
    return p->tail - p->head < WIRE_HEADER_SIZE ? 0 : WIRE_HEADER_SIZE + (size_t)wire__load32(p->buf + p->head + 4);
}

typedef struct wire__pin wire__pin;

struct wire_conn {
    int fd;
    wire_role role;
    wire_conn_state state;
    bool eof;         /* the peer's end of stream was read */
    bool shut;        /* our side is shut down: draining until EOF or drain_until */
    bool bye_sent;    /* we said BYE: replies are still handed out until the peer's BYE or EOF */
    bool close_asked; /* wire_conn_close(): end at the next frame boundary */
    bool discard;     /* closing after an ERROR or a BYE: input is read and thrown away */
    wire_parser in;   /* buf is NULL while no input is held */
    wire__pin *pin;   /* the input buffer's references from the output queue, if any (conn_input.c) */
    bool in_filled;   /* the last read filled the input buffer: it doubles, up to inbuf_size */
    wire_outq out;
    uint32_t max_payload, peer_max;
    size_t max_queued, inbuf_size;
    int idle_ms, frame_ms, drain_ms;
    int64_t now;          /* the time of the current call (one clock read per read or write) */
    int64_t last_frame;   /* the last complete frame, or when the connection was made (idle timeout) */
    int64_t frame_start;  /* when the first byte of the frame being received came; 0: none */
    int64_t last_write;   /* the last write progress, or when output was first queued (peer not reading) */
    int64_t last_read;    /* the last read progress (after our BYE: how long the answer may take) */
    int64_t drain_until;  /* the drain's end once shut */
    int64_t close_at;     /* when wire_conn_close() was asked */
    unsigned pings;       /* our PINGs not yet answered */
    wire_conn_stats stats;
    wire_err err;         /* why it ended (WIRE_OK: a BYE exchange, or still open) */
    int sys_errno;
    wire_error_msg peer;  /* the ERROR the peer sent, if err == WIRE_EPEER (text: peer_text) */
    char *peer_text;
    char *my_name;        /* our HELLO name, until the handshake is done */
    size_t my_name_len;
    char *peer_name;      /* the peer's HELLO name */
    size_t peer_name_len;
    void *data;
    bool (*serves)(uint16_t type, void *arg);
    void *serves_arg;
    void (*notify)(wire_conn *c, void *arg);
    void *notify_arg;
    char peer_addr[56];
    char why[200];
    /* the engine's bookkeeping (server_loop.c) */
    size_t heap_at;       /* index in the timer heap + 1, 0 when not in it */
    int64_t heap_key;
    unsigned loop_events; /* what the poller was last asked for */
    bool refused, opened, dirty;
    struct wire_conn *prev, *next, *dirty_prev, *dirty_next;
};

/* conn.c: wire_conn_next(), or with handshake_only only as far as the end of the handshake (the
 * frames after the peer's HELLO stay buffered for wire_conn_next()). */
int wire__conn_next(wire_conn *c, wire_frame *f, bool handshake_only);
/* conn.c: whether wire_conn_new() accepts this configuration. */
bool wire__conn_config_ok(const wire_conn_config *cfg);
/* conn.c: how a connection ends. */
void wire__conn_end(wire_conn *c, wire_err err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* conn.c: enters CLOSING (queued output is sent, then shutdown and drain), with that reason. */
void wire__conn_closing(wire_conn *c, wire_err err, const char *why);
/* conn.c: wire_conn_close() with the reason for the log ("server stopping"). */
void wire__conn_close_why(wire_conn *c, const char *why);
/* conn.c: queues a control frame even over max_queued (it is small, and may be the last). */
bool wire__conn_push_control(wire_conn *c, uint16_t type, const void *payload, size_t len);
/* conn.c: queues our HELLO (a server's only if it fits the peer's max payload); false if it could not. */
bool wire__conn_push_hello(wire_conn *c);
/* conn.c: queues a frame whose payload is f's, in the input buffer, without a copy; control frames
 * (PONG) are not refused for a full queue. */
wire_err wire__conn_send_payload(wire_conn *c, uint16_t type, const wire_frame *f, bool control);
/* conn_input.c: the input buffer. Where to read and how much (allocating it, growing it to the
 * frame under way, moving it when queued replies pin it); NULL if memory ran out. */
uint8_t *wire__in_space(wire_conn *c, size_t *room);
/* Grows a full buffer toward the frame at its front (see grow_to); false if memory ran out. */
bool wire__in_fit(wire_conn *c);
/* True while queued frames point into the input buffer. */
bool wire__in_pinned(const wire_conn *c);
/* Gives the buffer back (freed, or left to the queued frames that point into it). */
void wire__in_release(wire_conn *c);
/* Gives it back if it holds nothing (the connection has been idle a while). */
void wire__in_idle(wire_conn *c);
/* Queues a frame whose payload is f's, from the input buffer: referenced when large, else copied. */
wire_err wire__in_ref(wire_conn *c, wire_outq *q, uint16_t type, const wire_frame *f);
/* conn_proto.c: acts on a complete frame: 1 hand it to the application, 0 it was the connection's
 * own (go on), -1 the connection is ending. */
int wire__conn_dispatch(wire_conn *c, const wire_frame *f);
/* conn_proto.c: why a frame of this type is not allowed now (SPEC 8.3 step 3), or NULL. */
const char *wire__conn_refuses(const wire_conn *c, uint16_t type);
/* conn_proto.c: refuses (ERROR(UNEXPECTED, 2), -1) a frame whose header alone shows its type is not
 * allowed now; 0 when it is. */
int wire__conn_refuse_header(wire_conn *c, uint16_t type);

/* ---- the engine (poller.c, timers.c, server*.c) ---- */

#include <signal.h>

typedef struct wire__poller wire__poller;
typedef struct wire__event {
    void *ptr;     /* what was registered with the descriptor */
    bool readable; /* includes hang-up and error: the next read tells which */
    bool writable;
} wire__event;

/* kind: WIRE_MODEL_EPOLL, _POLL or _SELECT. NULL with errno on failure. */
wire__poller *wire__poller_new(wire_model kind);
void wire__poller_free(wire__poller *p);
/* 0 on success, -1 with errno (EINVAL: select cannot watch a descriptor >= FD_SETSIZE). */
int wire__poller_add(wire__poller *p, int fd, void *ptr, unsigned ev);
int wire__poller_mod(wire__poller *p, int fd, void *ptr, unsigned ev);
void wire__poller_del(wire__poller *p, int fd);
/* Up to max ready descriptors within timeout_ms (-1: no limit), with the signal mask `mask` while
 * waiting when not NULL; -1 with errno (EINTR included). */
int wire__poller_wait(wire__poller *p, wire__event *ev, int max, int timeout_ms, const sigset_t *mask);

/* A min-heap of connections keyed by their deadline (c->heap_key, position c->heap_at). */
typedef struct wire__timers {
    wire_conn **h;
    size_t n, cap;
} wire__timers;
/* Puts c in the heap at key, or moves it there; key < 0 takes it out. False if memory ran out. */
bool wire__timers_set(wire__timers *t, wire_conn *c, int64_t key);
/* The connection with the earliest deadline, or NULL. */
static inline wire_conn *wire__timers_first(const wire__timers *t) { return t->n ? t->h[0] : NULL; }
void wire__timers_free(wire__timers *t);

#define WIRE__MAX_LISTEN 8

struct wire_server {
    wire_server_config cfg;
    char name[WIRE_HELLO_NAME_MAX + 1];      /* cfg.conn.name points here */
    int listen_fds[WIRE__MAX_LISTEN];
    int nlisten;
    char *unix_path;                         /* removed by wire_server_free() */
    int stop_pipe[2];                        /* readable (and stays so) once wire_server_stop() was called */
    /* shared by the event loops when there are several (cfg.loops > 1) */
    pthread_mutex_t lock;
    int served;                              /* connections served (not refused), every loop's */
};

/* server.c: a line for cfg.on_log. */
void wire__server_log(const wire_server *s, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* server.c: hands the handler every frame the connection has, at most `max` (on_open first, once
 * the handshake is done). True if frames may be left. */
bool wire__server_deliver(wire_server *s, wire_conn *c, int max);
/* server.c: the end of a connection: on_close, then free. */
void wire__server_release(wire_server *s, wire_conn *c);
/* server.c: sends ERROR(LIMIT) on a fresh connection without waiting, and closes it. */
void wire__server_refuse_now(int fd, const char *why);

/* The accepting loop of every model (server_loop.c). The event models serve their connections in
 * it; fork, thread and iterative hand each accepted one to admit() and keep only the refused ones. */
typedef struct wire__loop wire__loop;
typedef enum wire__admit { WIRE__ADMITTED, WIRE__REFUSE_FULL, WIRE__REFUSE_FAILED } wire__admit;
typedef struct wire__hooks {
    wire__admit (*admit)(void *ctx, wire__loop *l, int fd); /* NULL: the loop serves the connection itself */
    void (*after_wait)(void *ctx);           /* after each wait (fork: reap) */
    const sigset_t *wait_mask;               /* the signal mask while waiting (fork: SIGCHLD open) */
    void *ctx;
} wire__hooks;
wire_err wire__loop_run(wire_server *s, wire_model backend, const wire__hooks *hooks, char *errbuf, size_t errlen);
/* With several event loops (server_loops.c): loop 0 accepts and hands every other connection to the
 * next loop in turn, as a descriptor written to that loop's pipe; -1 there says the acceptor has
 * stopped (nothing more will come). */
typedef struct wire__loop_role {
    int index;              /* 0: the acceptor */
    int handoff_in;         /* loops 1..: the read end of this loop's pipe */
    const int *handoff_out; /* loop 0: the write ends of loops 1..n-1 (handoff_out[k - 1]) */
    int nloops;
} wire__loop_role;
wire_err wire__loop_run_as(wire_server *s, wire_model backend, const wire__loop_role *role, char *errbuf,
                           size_t errlen);
/* server_loop.c: in a child of the fork model, closes the descriptors of the parent's loop
 * (connections being refused, the reserve) without touching the parent's poller. */
void wire__loop_forget(wire__loop *l);

/* server_loops.c: the event model on cfg.loops loops, one per thread. */
#define WIRE__MAX_LOOPS 256
wire_err wire__run_loops(wire_server *s, char *errbuf, size_t errlen);
/* server.c: takes a place among max_conns (false: full) / gives it back; every loop's. */
bool wire__server_take_place(wire_server *s);
void wire__server_leave_place(wire_server *s);

/* server_serve.c: serves one connection to its end in the calling thread (fork, thread, iterative). */
void wire__serve_one(wire_server *s, int fd);

wire_err wire__run_fork(wire_server *s, char *errbuf, size_t errlen);
wire_err wire__run_thread(wire_server *s, char *errbuf, size_t errlen);
wire_err wire__run_iterative(wire_server *s, char *errbuf, size_t errlen);

#endif
