/* SPDX-License-Identifier: MIT */
/* server.c - the server engine's public face: configuration, listeners, stop, and the pieces every
 * model shares (handing frames to the handler, ending a connection, refusing one at once). The
 * models themselves are in server_loop.c (epoll, poll, select, and every model's accepting loop),
 * server_serve.c (one connection in its own thread or process; iterative), server_fork.c and
 * server_thread.c. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static const char *const model_names[] = {NULL, "epoll", "poll", "select", "fork", "thread", "iterative"};

const char *wire_model_name(wire_model m) {
    return m >= WIRE_MODEL_EPOLL && m <= WIRE_MODEL_ITERATIVE ? model_names[m] : NULL;
}

wire_err wire_model_from_name(const char *name, wire_model *m) {
    for (int k = WIRE_MODEL_EPOLL; name && k <= WIRE_MODEL_ITERATIVE; k++)
        if (strcmp(name, model_names[k]) == 0) {
#ifndef __linux__
            if (k == WIRE_MODEL_EPOLL) return WIRE_EINVAL;
#endif
            *m = (wire_model)k;
            return WIRE_OK;
        }
    return WIRE_EINVAL;
}

void wire_server_config_init(wire_server_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
#ifdef __linux__
    cfg->model = WIRE_MODEL_EPOLL;
#else
    cfg->model = WIRE_MODEL_POLL;
#endif
    wire_conn_config_init(&cfg->conn, WIRE_ROLE_SERVER);
    cfg->max_conns = 1024;
    cfg->refuse_drain_ms = 200;
    cfg->loops = 1;
}

/* The number of loops cfg asks for: loops, or one per online CPU for 0. */
static int loops_wanted(const wire_server_config *cfg) {
    if (cfg->loops != 0) return cfg->loops;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > WIRE__MAX_LOOPS ? WIRE__MAX_LOOPS : (int)n;
}

static bool event_model(wire_model m) {
    return m == WIRE_MODEL_EPOLL || m == WIRE_MODEL_POLL || m == WIRE_MODEL_SELECT;
}

wire_err wire_server_new(const wire_server_config *cfg, wire_server **out, char *errbuf, size_t errlen) {
    const char *bad = NULL;
    *out = NULL;
    if (!wire_model_name(cfg->model)) bad = "unknown model";
#ifndef __linux__
    else if (cfg->model == WIRE_MODEL_EPOLL) bad = "epoll exists only on Linux";
#endif
    else if (!cfg->on_frame) bad = "on_frame is required";
    else if (cfg->max_conns < 1) bad = "max_conns must be at least 1";
    else if (cfg->refuse_drain_ms < 0) bad = "refuse_drain_ms must not be negative";
    else if (cfg->loops < 0 || cfg->loops > WIRE__MAX_LOOPS) bad = "loops must be 0 (one per CPU) to 256";
    else if (loops_wanted(cfg) > 1 && !event_model(cfg->model)) bad = "several loops need epoll, poll or select";
    else if (cfg->conn.name && strlen(cfg->conn.name) > WIRE_HELLO_NAME_MAX) bad = "the name has more than 255 bytes";
    else {
        wire_conn_config cc = cfg->conn;
        cc.role = WIRE_ROLE_SERVER;
        if (!wire__conn_config_ok(&cc)) bad = "bad connection limits (max_payload 64..2^32-9, max_queued > 0, "
                                             "timeouts >= 0, inbuf_size >= 8, a UTF-8 name)";
    }
    if (bad) {
        wire__errbuf(errbuf, errlen, "wire_server_new: %s", bad);
        return WIRE_EINVAL;
    }
    wire_server *s = calloc(1, sizeof *s);
    if (!s) {
        wire__errbuf(errbuf, errlen, "wire_server_new: out of memory");
        return WIRE_ELIMIT;
    }
    s->cfg = *cfg;
    s->cfg.conn.role = WIRE_ROLE_SERVER;
    s->cfg.loops = loops_wanted(cfg);
    snprintf(s->name, sizeof s->name, "%s", cfg->conn.name ? cfg->conn.name : "");
    s->cfg.conn.name = s->name;
    /* a pipe that becomes readable, and stays so, when stop is asked: every poll in every thread and
     * process of the server sees it. Non-blocking write end: a signal handler must never block. */
    if (pipe(s->stop_pipe) < 0) {
        char et[128];
        wire__errbuf(errbuf, errlen, "wire_server_new: pipe: %s", wire__errno_text(errno, et, sizeof et));
        free(s);
        return WIRE_EIO;
    }
    for (int k = 0; k < 2; k++) (void)fcntl(s->stop_pipe[k], F_SETFD, FD_CLOEXEC);
    (void)fcntl(s->stop_pipe[1], F_SETFL, O_NONBLOCK);
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return WIRE_OK;
}

static wire_err add_listener(wire_server *s, int fd, char *errbuf, size_t errlen) {
    if (s->nlisten == WIRE__MAX_LISTEN) {
        close(fd);
        wire__errbuf(errbuf, errlen, "at most %d listening sockets", WIRE__MAX_LISTEN);
        return WIRE_ELIMIT;
    }
    if (wire_set_nonblocking(fd, true) != WIRE_OK) {
        char et[128];
        wire__errbuf(errbuf, errlen, "listening socket: %s", wire__errno_text(errno, et, sizeof et));
        close(fd);
        return WIRE_EIO;
    }
    s->listen_fds[s->nlisten++] = fd;
    return WIRE_OK;
}

/* The kernel's own cap (somaxconn) rather than 128: a burst of clients that a forking or busy accept
 * loop cannot take at once waits in the queue for its answer, where past the backlog their SYNs are
 * dropped and retried 1, 3, 7 s later (1,500 clients at once left 213 unanswered for 6 s). */
#define LISTEN_BACKLOG SOMAXCONN

wire_err wire_server_listen_tcp(wire_server *s, const char *host, const char *port, uint16_t *bound, char *errbuf,
                                size_t errlen) {
    int fd;
    wire_err e = wire_tcp_listen(host, port, LISTEN_BACKLOG, &fd, errbuf, errlen);
    if (e) return e;
    uint16_t p = 0;
    if (wire_local_port(fd, &p) != WIRE_OK) {
        wire__errbuf(errbuf, errlen, "cannot learn the listening port");
        close(fd);
        return WIRE_EIO;
    }
    if ((e = add_listener(s, fd, errbuf, errlen))) return e;
    if (bound) *bound = p;
    return WIRE_OK;
}

wire_err wire_server_listen_unix(wire_server *s, const char *path, char *errbuf, size_t errlen) {
    int fd;
    if (s->unix_path) {
        wire__errbuf(errbuf, errlen, "one Unix-domain socket per server");
        return WIRE_EINVAL;
    }
    wire_err e = wire_unix_listen(path, LISTEN_BACKLOG, &fd, errbuf, errlen);
    if (e) return e;
    if (!(s->unix_path = malloc(strlen(path) + 1))) {
        close(fd);
        unlink(path);
        wire__errbuf(errbuf, errlen, "out of memory");
        return WIRE_ELIMIT;
    }
    memcpy(s->unix_path, path, strlen(path) + 1);
    return add_listener(s, fd, errbuf, errlen);
}

wire_err wire_server_run(wire_server *s, char *errbuf, size_t errlen) {
    if (s->nlisten == 0) {
        wire__errbuf(errbuf, errlen, "wire_server_run: no listening socket");
        return WIRE_EINVAL;
    }
    switch (s->cfg.model) {
    case WIRE_MODEL_FORK: return wire__run_fork(s, errbuf, errlen);
    case WIRE_MODEL_THREAD: return wire__run_thread(s, errbuf, errlen);
    case WIRE_MODEL_ITERATIVE: return wire__run_iterative(s, errbuf, errlen);
    default: return s->cfg.loops > 1 ? wire__run_loops(s, errbuf, errlen) : wire__loop_run(s, s->cfg.model, NULL, errbuf, errlen);
    }
}

void wire_server_stop(wire_server *s) {
    int saved = errno;
    if (write(s->stop_pipe[1], "x", 1) < 0) { /* full: it is readable already, which is all it takes */
    }
    errno = saved;
}

void wire_server_free(wire_server *s) {
    if (!s) return;
    for (int k = 0; k < s->nlisten; k++) close(s->listen_fds[k]);
    if (s->unix_path) unlink(s->unix_path);
    free(s->unix_path);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void wire__server_log(const wire_server *s, const char *fmt, ...) {
    char line[512];
    if (!s->cfg.on_log) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->cfg.on_log(s->cfg.user, line);
}

static void opened(wire_server *s, wire_conn *c) {
    if (c->opened || c->state != WIRE_CONN_OPEN) return;
    c->opened = true;
    if (s->cfg.on_open) s->cfg.on_open(c, s->cfg.user);
}

bool wire__server_deliver(wire_server *s, wire_conn *c, int max) {
    wire_frame f;
    for (int n = 0; n < max; n++) {
        int rc = wire_conn_next(c, &f);
        opened(s, c); /* the handshake may have been done by this very call */
        if (rc != 1) return false;
        s->cfg.on_frame(c, &f, s->cfg.user);
    }
    return true;
}

bool wire__server_take_place(wire_server *s) {
    pthread_mutex_lock(&s->lock);
    bool ok = s->served < s->cfg.max_conns;
    if (ok) s->served++;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void wire__server_leave_place(wire_server *s) {
    pthread_mutex_lock(&s->lock);
    s->served--;
    pthread_mutex_unlock(&s->lock);
}

void wire__server_release(wire_server *s, wire_conn *c) {
    if (s->cfg.on_close) s->cfg.on_close(c, s->cfg.user);
    wire_conn_free(c);
}

void wire__server_refuse_now(int fd, const char *why) {
    uint8_t frame[WIRE_HEADER_SIZE + 128];
    wire_writer w;
    size_t n = 0;
    char text[96];
    snprintf(text, sizeof text, "%s: %s", wire_strerror(WIRE_ELIMIT), why);
    wire_error_msg m = {WIRE_ELIMIT, WIRE_NO_OFFSET, text, strlen(text)};
    wire_writer_init(&w, frame + WIRE_HEADER_SIZE, sizeof frame - WIRE_HEADER_SIZE);
    (void)wire_put_error_msg(&w, &m);
    if (wire_writer_finish(&w, &n) == WIRE_OK) {
        wire_header_encode(frame, WIRE_MSG_ERROR, (uint32_t)n);
        /* best effort and never blocking: the socket's buffer is empty; no drain (no time for one) */
        (void)send(fd, frame, WIRE_HEADER_SIZE + n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(fd);
}
