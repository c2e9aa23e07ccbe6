/* server.h - wire-server's pieces: configuration, the concurrency models, shared helpers. */
#ifndef WIRE_SERVER_H
#define WIRE_SERVER_H

#include "service.h"

#define SRV_MAX_LISTEN 3     /* TCP (one per address family tried) + a Unix socket */
#define SRV_DRAIN_MS 1000    /* after an ERROR/BYE: how long to read and discard before close() */
#define SRV_REFUSE_DRAIN_MS 200 /* the same for a refused connection, kept short in blocking accept loops */
#define SRV_INBUF_START 16384 /* a connection's input buffer starts here and grows to the frame it needs */

typedef struct server_cfg {
    const char *mode;
    uint32_t max_payload;
    int max_conns;
    int idle_timeout_ms;
    int frame_timeout_ms;
    size_t max_queued;
    bool quiet;
    svc_config svc;
    int listen_fds[SRV_MAX_LISTEN];
    int nlisten;
    int stop_fd; /* becomes readable (and stays so) once SIGINT or SIGTERM arrived */
} server_cfg;

int64_t srv_now_ms(void);
/* One line on stderr, unless --quiet. */
void srv_log(const server_cfg *cfg, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The per-connection log line. */
void srv_log_close(const server_cfg *cfg, const char *peer, const svc_conn *c, uint64_t bytes_in, uint64_t bytes_out,
                   const char *why);
/* The output-queue bound for a connection: max_queued plus one largest reply. */
size_t srv_out_limit(const server_cfg *cfg);
/* Blocks until a connection arrives on a listener (returns its fd, blocking mode) or stop_fd fires
 * (returns -1). */
int srv_accept(const server_cfg *cfg);
/* Refuses a connection over --max-conns: ERROR(LIMIT), then a graceful close. */
void srv_refuse(const server_cfg *cfg, int fd);
/* Shuts our side down, then reads and discards until EOF or `ms` milliseconds, then closes: unread
 * client data would otherwise turn the close into an RST that destroys our last frame in flight. */
void srv_drain_and_close(int fd, int ms);
/* Grows a connection's input buffer to the frame whose header just arrived, when the frame is within
 * max_payload (a larger one is refused by wire_parser_next() itself). False if memory ran out. */
bool srv_fit_frame(wire_parser *p, uint32_t max_payload);
/* Serves one connection to its end with blocking I/O (fork, thread and iterative models). */
void srv_serve_blocking(const server_cfg *cfg, int fd);

int srv_run_event(const server_cfg *cfg, bool use_epoll);
int srv_run_fork(const server_cfg *cfg);
int srv_run_thread(const server_cfg *cfg);
int srv_run_iterative(const server_cfg *cfg);

#endif
