/* util.c - helpers shared by the concurrency models: time, logging, accepting, refusing. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t srv_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv_log(const server_cfg *cfg, const char *fmt, ...) {
    char line[768];
    va_list ap;
    if (cfg->quiet) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "wire-server: %s\n", line); /* one call per line: lines of concurrent writers do not mix */
}

void srv_log_close(const server_cfg *cfg, const char *peer, const svc_conn *c, uint64_t bytes_in, uint64_t bytes_out,
                   const char *why) {
    srv_log(cfg, "%s: closed after %llu frames in (%llu bytes), %llu frames out (%llu bytes): %s", peer,
            (unsigned long long)c->frames_in, (unsigned long long)bytes_in, (unsigned long long)c->frames_out,
            (unsigned long long)bytes_out, why);
}

size_t srv_out_limit(const server_cfg *cfg) {
    size_t largest = 64 * 1024; /* VECTOR_DATA, STATS_REPLY, HELLO, ERROR, VECTOR_RESULT */
    for (size_t k = 0; cfg->svc.vectors && k < cfg->svc.vectors->count; k++)
        if (cfg->svc.vectors->cases[k].hexlen + 1024 > largest) largest = cfg->svc.vectors->cases[k].hexlen + 1024;
    if (cfg->max_payload > largest) largest = cfg->max_payload;
    return cfg->max_queued + WIRE_HEADER_SIZE + largest;
}

int srv_accept(const server_cfg *cfg) {
    struct pollfd pfd[SRV_MAX_LISTEN + 1];
    for (int k = 0; k < cfg->nlisten; k++) {
        pfd[k].fd = cfg->listen_fds[k];
        pfd[k].events = POLLIN;
    }
    pfd[cfg->nlisten].fd = cfg->stop_fd;
    pfd[cfg->nlisten].events = POLLIN;
    for (;;) {
        int n = poll(pfd, (nfds_t)cfg->nlisten + 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || pfd[cfg->nlisten].revents) return -1;
        for (int k = 0; k < cfg->nlisten; k++) {
            if (!pfd[k].revents) continue;
            int fd = accept(pfd[k].fd, NULL, NULL);
            if (fd >= 0) return fd;
            if (errno == EMFILE || errno == ENFILE) { /* out of descriptors: back off, do not spin */
                srv_log(cfg, "accept: out of file descriptors");
                poll(NULL, 0, 100);
            }
        }
    }
}

bool srv_fit_frame(wire_parser *p, uint32_t max_payload) {
    size_t want = wire_parser_wanted(p);
    if (want <= p->cap || want > WIRE_HEADER_SIZE + (size_t)max_payload) return true;
    uint8_t *nb = realloc(p->buf, want);
    return nb && wire_parser_rebind(p, nb, want) == WIRE_OK;
}

void srv_drain_and_close(int fd, int ms) {
    uint8_t junk[4096];
    int64_t deadline = srv_now_ms() + ms;
    shutdown(fd, SHUT_WR);
    for (;;) {
        int64_t left = deadline - srv_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
        ssize_t n = read(fd, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    }
    close(fd);
}

void srv_refuse(const server_cfg *cfg, int fd) {
    svc_conn c = {0};
    svc_out out;
    char peer[64];
    wire_peer_name(fd, peer, sizeof peer);
    svc_out_init(&out, 4096);
    svc_error(&c, &out, WIRE_ELIMIT, WIRE_NO_OFFSET, "too many connections");
    /* never blocking: the frame is small and the socket's buffer empty */
    ssize_t n = send(fd, out.buf, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    srv_log_close(cfg, peer, &c, 0, n > 0 ? (uint64_t)n : 0, c.reason);
    svc_out_free(&out);
    /* the client's HELLO is probably already here: read it, or the close becomes an RST that can
     * destroy the ERROR in flight (kept short: the accept loop waits meanwhile) */
    srv_drain_and_close(fd, SRV_REFUSE_DRAIN_MS);
}
