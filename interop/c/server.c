/* SPDX-License-Identifier: MIT */
/* server.c - wire-server: the interop service (service.c) on libwire's server engine, under the
 * concurrency model chosen on the command line. This file is the command line, the signals and the
 * log; everything else is the engine's. */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: wire-server [options]\n"
    "Serves the wire interop service (SPEC.md section 10) over TCP, and optionally a Unix socket and UDP.\n"
    "\n"
    "  --mode M             concurrency model: epoll (default on Linux), poll, select, fork, thread,\n"
    "                       iterative\n"
    "  --loops N            epoll, poll, select: N event loops on N threads, to use N cores (default\n"
    "                       1; 0: one per online CPU)\n"
    "  --host H             address to listen on (default 127.0.0.1; '::' = IPv6 and IPv4)\n"
    "  --port P             TCP port (default 0: the system picks one); the port is printed alone on\n"
    "                       the first line of stdout\n"
    "  --unix PATH          also listen on a Unix-domain socket at PATH (removed at exit)\n"
    "  --udp                also serve the UDP datagram profile (SPEC.md section 15) on the UDP port\n"
    "                       with the TCP port's number: PING and the interop requests, one datagram\n"
    "                       each, answered to its source\n"
    "  --max-payload BYTES  largest payload accepted, announced in HELLO (default 16777216); a larger\n"
    "                       frame is refused from its header: ERROR(TOOBIG), close\n"
    "  --max-conns N        connections at once (default 1024); one more gets ERROR(LIMIT), close\n"
    "  --idle-timeout SEC   no complete frame for SEC s: ERROR(TIMEOUT), close (default 60)\n"
    "  --frame-timeout SEC  a started frame must be complete within SEC s, else ERROR(TIMEOUT), close\n"
    "                       (slowloris defence; default 10)\n"
    "  --max-queued BYTES   unsent output per client; past it the client is not read until its queue\n"
    "                       drains, and a client that does not drain it within the idle timeout is\n"
    "                       closed (default 4194304)\n"
    "  --vectors FILE       golden vectors for VECTOR_CHECK/VECTOR_GET (default: vectors.txt from\n"
    "                       $WIRE_PROTO_DIR, else ./proto, the source tree's proto/ or the installed\n"
    "                       share/wire, the first that has it)\n"
    "  --quiet              no per-connection log lines on stderr\n"
    "  --version            the program's and the protocol's versions\n"
    "  --help               this text\n"
    "\n"
    "Malformed input gets an ERROR frame with the SPEC.md code and offset, then that connection is\n"
    "closed; the others go on. SIGINT/SIGTERM: stop accepting, answer frames in flight, close, exit 0.\n"
    "SIGHUP is ignored (the server keeps running when its terminal goes away).\n";

static wire_server *g_server; /* for the signal handler: wire_server_stop() is async-signal-safe */

/* ---- UDP (SPEC 15): one thread answers every datagram, whatever the TCP model. The engine's loop is
 * the TCP model's (under fork and iterative it blocks in one connection), and a datagram needs no
 * state, no connection and no timer: one blocking loop of recvmsg, answer, sendmsg serves them all,
 * beside the engine, sharing only the read-only vectors. ---- */

typedef struct udp_srv {
    int fd;
    int stop[2];             /* written once the engine has stopped: the thread returns */
    uint32_t max_payload;    /* min(65495, --max-payload) */
    const svc_config *svc;
    unsigned long received, answered;
    uint8_t in[WIRE_UDP_RECV_SIZE]; /* one byte more than the largest datagram: see wire_udp_recv() */
    uint8_t out[WIRE_UDP_MAX_DATAGRAM];
} udp_srv;

static udp_srv *g_udp; /* for the fork model's children, which must not keep the UDP port open */

static void udp_forget_in_child(void) {
    if (!g_udp) return;
    close(g_udp->fd);
    close(g_udp->stop[0]);
    close(g_udp->stop[1]);
}

static void *udp_main(void *arg) {
    udp_srv *u = arg;
    for (;;) {
        struct pollfd p[2] = {{u->fd, POLLIN, 0}, {u->stop[0], POLLIN, 0}};
        int r = poll(p, 2, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) return NULL;
        if (!(p[0].revents & (POLLIN | POLLERR))) continue;
        for (int k = 0; k < 64; k++) { /* what is queued, then look at the stop pipe again */
            size_t n;
            bool cut;
            wire_udp_addr from;
            wire_err e = wire_udp_recv(u->fd, u->in, sizeof u->in, &n, &cut, &from);
            if (e == WIRE_ETIMEOUT) break;
            if (e) continue; /* an ICMP error for an earlier answer (ECONNREFUSED): that client left */
            u->received++;
            size_t len = svc_udp_datagram(u->svc, u->in, n, cut, u->max_payload, u->out, sizeof u->out);
            /* a full send buffer loses the answer: loss, which the client's retry covers (15.7) */
            if (len && wire_udp_send(u->fd, u->out, len, &from) == WIRE_OK) u->answered++;
        }
    }
}

/* Binds UDP to the TCP port's number on host, non-blocking (the thread drains what is queued). */
static wire_err udp_open(udp_srv *u, const char *host, uint16_t port, char *err, size_t errlen) {
    char num[8];
    snprintf(num, sizeof num, "%u", (unsigned)port);
    wire_err e = wire_udp_bind(host, num, &u->fd, err, errlen);
    if (e) return e;
    if (wire_set_nonblocking(u->fd, true) != WIRE_OK || pipe(u->stop) != 0) {
        snprintf(err, errlen, "udp: %s", strerror(errno));
        close(u->fd);
        u->fd = -1;
        return WIRE_EIO;
    }
    (void)fcntl(u->stop[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(u->stop[1], F_SETFD, FD_CLOEXEC);
    return WIRE_OK;
}

/* The thread takes no signal: SIGTERM and the fork model's SIGCHLD must reach the engine's thread. */
static int udp_start(udp_srv *u, pthread_t *t) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, udp_main, u);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void udp_close(udp_srv *u) {
    if (u->fd < 0) return;
    close(u->fd);
    close(u->stop[0]);
    close(u->stop[1]);
    u->fd = -1;
}

static void on_stop(int sig) {
    (void)sig;
    if (g_server) wire_server_stop(g_server);
}

/* What every callback gets as its user pointer. */
typedef struct app {
    svc_config svc;
    bool quiet;
} app;


/* Every line starts with the time in ISO 8601 UTC, to the millisecond ("2026-01-31T23:59:59.123Z"),
 * so a log kept by a file or a terminal can be matched with a client's or a capture's. */
static void log_always(const char *line) {
    struct timespec ts;
    struct tm tm;
    char stamp[40] = "";
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm)) {
        size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + n, sizeof stamp - n, ".%03ldZ ", (long)(ts.tv_nsec / 1000000));
    }
    /* One call per line: lines of concurrent writers (threads, children) do not mix. */
    fprintf(stderr, "%swire-server: %s\n", stamp, line);
}

static void log_line(void *user, const char *line) {
    if (!((const app *)user)->quiet) log_always(line);
}

static void on_frame(wire_conn *c, const wire_frame *f, void *user) { svc_on_frame(c, f, &((app *)user)->svc); }

static void on_close(wire_conn *c, void *user) {
    wire_conn_stats st;
    char line[512];
    wire_conn_get_stats(c, &st);
    snprintf(line, sizeof line, "%s: closed after %llu frames in (%llu bytes), %llu frames out (%llu bytes): %s",
             wire_conn_peer_addr(c), (unsigned long long)st.frames_in, (unsigned long long)st.bytes_in,
             (unsigned long long)st.frames_out, (unsigned long long)st.bytes_out, wire_conn_errstr(c));
    log_line(user, line);
}

static bool parse_num(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out) {
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    wire_server_config cfg;
    app a = {{NULL}, false};
    const char *host = "127.0.0.1", *port = "0", *unix_path = NULL, *vectors = NULL, *mode = NULL;
    unsigned long long v = 0;
    bool udp = false;
    char err[WIRE_ERRBUF_SIZE], vbuf[4200];
    wire_server_config_init(&cfg);
    cfg.conn.name = "c-server";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = NULL;
        char name[32];
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) != 0 || (eq && (size_t)(eq - arg) >= sizeof name)) goto bad;
        if (eq) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", arg);
        }
        if (eq && (strcmp(name, "--help") == 0 || strcmp(name, "--version") == 0 || strcmp(name, "--quiet") == 0 ||
                   strcmp(name, "--udp") == 0)) {
            fprintf(stderr, "wire-server: %s takes no value\n", name);
            return 2;
        }
        if (strcmp(name, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(name, "--version") == 0) {
            printf("wire-server %s (libwire %s), protocol version %d\n", WIRE_LIB_VERSION, WIRE_LIB_VERSION,
                   WIRE_PROTOCOL_VERSION);
            return 0;
        }
        if (strcmp(name, "--quiet") == 0) {
            a.quiet = true;
            continue;
        }
        if (strcmp(name, "--udp") == 0) {
            udp = true;
            continue;
        }
        static const char *const valued[] = {"--mode", "--host", "--port", "--unix", "--vectors", "--max-payload",
                                             "--max-conns", "--idle-timeout", "--frame-timeout", "--max-queued",
                                             "--loops"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= strcmp(name, valued[k]) == 0;
        if (!known) goto bad;
        if (!val) val = i + 1 < argc ? argv[++i] : NULL;
        if (!val || !*val) {
            fprintf(stderr, "wire-server: %s needs a value\n", name);
            return 2;
        }
        /* The numbers: decimal integers in these ranges (SPEC 9.3); anything else is refused with the
         * range it should be in. */
        static const struct {
            const char *name;
            unsigned long long min, max;
        } nums[] = {{"--port", 0, 65535},
                    {"--max-payload", WIRE_MIN_MAX_PAYLOAD, UINT32_MAX - WIRE_HEADER_SIZE},
                    {"--max-conns", 1, 1000000},
                    {"--loops", 0, 256},
                    {"--idle-timeout", 1, 86400},
                    {"--frame-timeout", 1, 86400},
                    {"--max-queued", 1024, SIZE_MAX / 4}};
        size_t k = 0;
        while (k < sizeof nums / sizeof *nums && strcmp(name, nums[k].name) != 0) k++;
        if (k < sizeof nums / sizeof *nums && !parse_num(val, nums[k].min, nums[k].max, &v)) {
            fprintf(stderr, "wire-server: bad value for %s: '%s' (a whole number from %llu to %llu%s)\n", name, val,
                    nums[k].min, nums[k].max, strstr(name, "timeout") ? " seconds" : "");
            return 2;
        }
        if (strcmp(name, "--mode") == 0) mode = val;
        else if (strcmp(name, "--host") == 0) host = val;
        else if (strcmp(name, "--port") == 0) port = val;
        else if (strcmp(name, "--unix") == 0) unix_path = val;
        else if (strcmp(name, "--vectors") == 0) vectors = val;
        else if (strcmp(name, "--max-payload") == 0) cfg.conn.max_payload = (uint32_t)v;
        else if (strcmp(name, "--max-conns") == 0) cfg.max_conns = (int)v;
        else if (strcmp(name, "--loops") == 0) cfg.loops = (int)v;
        else if (strcmp(name, "--idle-timeout") == 0) cfg.conn.idle_timeout_ms = (int)v * 1000;
        else if (strcmp(name, "--frame-timeout") == 0) cfg.conn.frame_timeout_ms = (int)v * 1000;
        else if (strcmp(name, "--max-queued") == 0) cfg.conn.max_queued = (size_t)v;
        continue;
    bad:
        fprintf(stderr, "wire-server: unknown argument '%s' (see --help)\n", arg);
        return 2;
    }
    if (mode && wire_model_from_name(mode, &cfg.model) != WIRE_OK) {
        fprintf(stderr, "wire-server: unknown mode '%s' (epoll, poll, select, fork, thread, iterative)\n", mode);
        return 2;
    }
    if (wire_selfcheck(err, sizeof err) != WIRE_OK) {
        snprintf(vbuf, sizeof vbuf, "this platform does not fit SPEC.md: %s", err);
        log_always(vbuf);
        return 1;
    }

    wv_file vf;
    const char *vpath = vectors ? vectors : wv_default_path("vectors.txt", vbuf, sizeof vbuf) ? vbuf : NULL;
    if (vpath && wv_load(vpath, &vf, err, sizeof err) == 0) {
        a.svc.vectors = &vf;
    } else if (vectors) {
        log_always(err);
        return 2;
    } else {
        log_always("no proto/vectors.txt found (use --vectors): VECTOR_* answer 'unknown'");
    }
    cfg.conn.serves = svc_serves;
    cfg.on_frame = on_frame;
    cfg.on_close = on_close;
    cfg.on_log = log_line;
    cfg.user = &a;

    int rc = 1;
    uint16_t bound = 0;
    wire_server *srv = NULL;
    udp_srv *u = NULL;
    pthread_t udp_thread;
    bool udp_running = false;
    if (udp) {
        u = malloc(sizeof *u);
        if (!u) {
            log_always("out of memory for the UDP buffers");
            goto out;
        }
        u->fd = -1;
        u->svc = &a.svc;
        u->received = u->answered = 0;
        u->max_payload = cfg.conn.max_payload < WIRE_UDP_MAX_PAYLOAD ? cfg.conn.max_payload : WIRE_UDP_MAX_PAYLOAD;
    }
    /* SPEC 15.8: TCP first, then UDP on the number TCP got; with --port 0, a UDP port already taken
     * means closing both and starting again (a few tries: another program would have to win the
     * race each time). */
    for (int attempt = 0;; attempt++) {
        if (wire_server_new(&cfg, &srv, err, sizeof err) != WIRE_OK ||
            wire_server_listen_tcp(srv, host, port, &bound, err, sizeof err) != WIRE_OK) {
            log_always(err);
            goto out;
        }
        if (!udp || udp_open(u, host, bound, err, sizeof err) == WIRE_OK) break;
        if (errno != EADDRINUSE || strcmp(port, "0") != 0 || attempt == 99) {
            log_always(err);
            goto out;
        }
        wire_server_free(srv);
        srv = NULL;
    }
    if (unix_path && wire_server_listen_unix(srv, unix_path, err, sizeof err) != WIRE_OK) {
        log_always(err);
        goto out;
    }
    if (udp) {
        g_udp = u;
        pthread_atfork(NULL, NULL, udp_forget_in_child);
        if (udp_start(u, &udp_thread) != 0) {
            log_always("cannot start the UDP thread");
            goto out;
        }
        udp_running = true;
    }
    g_server = srv;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* writes use MSG_NOSIGNAL already; this covers any other path */
    signal(SIGHUP, SIG_IGN);  /* a closed terminal must not stop the server: SIGTERM does */

    printf("%u\n", (unsigned)bound);
    fflush(stdout);
    snprintf(err, sizeof err, "listening on %s port %u%s%s%s, mode %s, max payload %lu", host, (unsigned)bound,
             udp ? " (TCP and UDP)" : "", unix_path ? " and unix:" : "", unix_path ? unix_path : "",
             wire_model_name(cfg.model), (unsigned long)cfg.conn.max_payload);
    log_line(&a, err);
    if (wire_server_run(srv, err, sizeof err) != WIRE_OK) log_always(err);
    else rc = 0;
    if (udp_running) { /* the engine has stopped: so does UDP (a datagram in hand is answered first) */
        char one = 1;
        while (write(u->stop[1], &one, 1) < 0 && errno == EINTR) {
        }
        pthread_join(udp_thread, NULL);
        snprintf(err, sizeof err, "udp: %lu datagrams received, %lu answered", u->received, u->answered);
        log_line(&a, err);
    }
    log_line(&a, "stopped");
out:
    if (u) udp_close(u);
    g_udp = NULL;
    free(u);
    g_server = NULL;
    wire_server_free(srv);
    if (a.svc.vectors) wv_free(&vf);
    return rc;
}
