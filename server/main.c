/* main.c - wire-server: command line, signals, listening sockets; then one concurrency model. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: wire-server [options]\n"
    "Serves the wire interop service (SPEC.md section 10) over TCP, and optionally a Unix socket.\n"
    "\n"
    "  --mode M             concurrency model: epoll (default on Linux), poll, fork, thread, iterative\n"
    "  --host H             address to listen on (default 127.0.0.1; '::' = IPv6 and IPv4)\n"
    "  --port P             TCP port (default 0: the system picks one); the port is printed alone on\n"
    "                       the first line of stdout\n"
    "  --unix PATH          also listen on a Unix-domain socket at PATH (removed at exit)\n"
    "  --max-payload BYTES  largest payload accepted, announced in HELLO (default 16777216); a larger\n"
    "                       frame is refused from its header: ERROR(TOOBIG), close\n"
    "  --max-conns N        connections at once (default 1024); one more gets ERROR(LIMIT), close\n"
    "  --idle-timeout SEC   no complete frame for SEC s: ERROR(TIMEOUT), close (default 60)\n"
    "  --frame-timeout SEC  a started frame must be complete within SEC s, else ERROR(TIMEOUT), close\n"
    "                       (slowloris defence; default 10)\n"
    "  --max-queued BYTES   unsent output per client; past it the client is not read until its queue\n"
    "                       drains, and a client that does not drain it within the idle timeout is\n"
    "                       closed (default 4194304)\n"
    "  --vectors FILE       golden vectors for VECTOR_CHECK/VECTOR_GET (default: proto/vectors.txt\n"
    "                       from $WIRE_PROTO_DIR, the current directory, or next to the program)\n"
    "  --quiet              no per-connection log lines on stderr\n"
    "  --help               this text\n"
    "\n"
    "Malformed input gets an ERROR frame with the SPEC.md code and offset, then that connection is\n"
    "closed; the others go on. SIGINT/SIGTERM: stop accepting, answer frames in flight, close, exit 0.\n";

static int stop_pipe[2] = {-1, -1};

/* The stop pipe becomes readable and stays so: every poll in every process and thread sees it. */
static void on_stop(int sig) {
    int saved = errno;
    (void)sig;
    if (write(stop_pipe[1], "x", 1) < 0) { /* full already: it is readable, that is all we need */
    }
    errno = saved;
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
    server_cfg cfg;
    const char *host = "127.0.0.1", *port = "0", *unix_path = NULL, *vectors = NULL;
    unsigned long long v;
    char err[WIRE_ERRBUF_SIZE], vbuf[4200];
    memset(&cfg, 0, sizeof cfg);
#ifdef __linux__
    cfg.mode = "epoll";
#else
    cfg.mode = "poll";
#endif
    cfg.max_payload = WIRE_DEFAULT_MAX_PAYLOAD;
    cfg.max_conns = 1024;
    cfg.idle_timeout_ms = 60000;
    cfg.frame_timeout_ms = 10000;
    cfg.max_queued = 4u << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char name[32];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0 || (eq && (size_t)(eq - a) >= sizeof name)) goto bad;
        if (eq) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        if (strcmp(name, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(name, "--quiet") == 0) {
            cfg.quiet = true;
            continue;
        }
        static const char *const valued[] = {"--mode", "--host", "--port", "--unix", "--vectors", "--max-payload",
                                             "--max-conns", "--idle-timeout", "--frame-timeout", "--max-queued"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= strcmp(name, valued[k]) == 0;
        if (!known) goto bad;
        if (!val) val = i + 1 < argc ? argv[++i] : NULL;
        if (!val) {
            fprintf(stderr, "wire-server: %s needs a value\n", name);
            return 2;
        }
        if (strcmp(name, "--mode") == 0) cfg.mode = val;
        else if (strcmp(name, "--host") == 0) host = val;
        else if (strcmp(name, "--port") == 0) port = val;
        else if (strcmp(name, "--unix") == 0) unix_path = val;
        else if (strcmp(name, "--vectors") == 0) vectors = val;
        else if (strcmp(name, "--max-payload") == 0 && parse_num(val, 64, UINT32_MAX - WIRE_HEADER_SIZE, &v))
            cfg.max_payload = (uint32_t)v;
        else if (strcmp(name, "--max-conns") == 0 && parse_num(val, 1, 1000000, &v)) cfg.max_conns = (int)v;
        else if (strcmp(name, "--idle-timeout") == 0 && parse_num(val, 1, 86400, &v)) cfg.idle_timeout_ms = (int)v * 1000;
        else if (strcmp(name, "--frame-timeout") == 0 && parse_num(val, 1, 86400, &v)) cfg.frame_timeout_ms = (int)v * 1000;
        else if (strcmp(name, "--max-queued") == 0 && parse_num(val, 1024, SIZE_MAX / 4, &v)) cfg.max_queued = (size_t)v;
        else {
            fprintf(stderr, "wire-server: bad option or value: %s %s\n", name, val);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "wire-server: unknown argument '%s' (see --help)\n", a);
        return 2;
    }
    bool use_epoll = strcmp(cfg.mode, "epoll") == 0;
    int (*run)(const server_cfg *) = NULL;
    if (strcmp(cfg.mode, "fork") == 0) run = srv_run_fork;
    else if (strcmp(cfg.mode, "thread") == 0) run = srv_run_thread;
    else if (strcmp(cfg.mode, "iterative") == 0) run = srv_run_iterative;
    else if (!use_epoll && strcmp(cfg.mode, "poll") != 0) {
        fprintf(stderr, "wire-server: unknown mode '%s' (epoll, poll, fork, thread, iterative)\n", cfg.mode);
        return 2;
    }
    if (wire_selfcheck(err, sizeof err) != WIRE_OK) {
        fprintf(stderr, "wire-server: this platform does not fit SPEC.md: %s\n", err);
        return 1;
    }

    wv_file vf;
    const char *vpath = vectors ? vectors : wv_default_path("vectors.txt", vbuf, sizeof vbuf) ? vbuf : NULL;
    if (vpath && wv_load(vpath, &vf, err, sizeof err) == 0) {
        cfg.svc.vectors = &vf;
    } else if (vectors) {
        fprintf(stderr, "wire-server: %s\n", err);
        return 2;
    } else {
        fprintf(stderr, "wire-server: no proto/vectors.txt found (use --vectors): VECTOR_* answer 'unknown'\n");
    }
    cfg.svc.max_payload = cfg.max_payload;
    cfg.svc.name = "c-server";

    /* close-on-exec, and a non-blocking write end: a signal handler must never block */
    if (pipe(stop_pipe) < 0 || fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK) < 0) {
        perror("wire-server: pipe");
        return 1;
    }
    (void)fcntl(stop_pipe[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(stop_pipe[1], F_SETFD, FD_CLOEXEC);
    cfg.stop_fd = stop_pipe[0];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* writes use MSG_NOSIGNAL already; this covers any other path */

    int fd;
    if (wire_tcp_listen(host, port, 128, &fd, err, sizeof err) != WIRE_OK) {
        fprintf(stderr, "wire-server: %s\n", err);
        return 1;
    }
    cfg.listen_fds[cfg.nlisten++] = fd;
    uint16_t bound = 0;
    if (wire_local_port(fd, &bound) != WIRE_OK) {
        fprintf(stderr, "wire-server: cannot learn the listening port\n");
        return 1;
    }
    if (unix_path) {
        if (wire_unix_listen(unix_path, 128, &fd, err, sizeof err) != WIRE_OK) {
            fprintf(stderr, "wire-server: %s\n", err);
            return 1;
        }
        cfg.listen_fds[cfg.nlisten++] = fd;
    }
    printf("%u\n", (unsigned)bound);
    fflush(stdout);
    srv_log(&cfg, "listening on %s port %u%s%s, mode %s, max payload %lu", host, (unsigned)bound,
            unix_path ? " and unix:" : "", unix_path ? unix_path : "", cfg.mode, (unsigned long)cfg.max_payload);

    int rc = run ? run(&cfg) : srv_run_event(&cfg, use_epoll);
    if (unix_path) unlink(unix_path);
    if (cfg.svc.vectors) wv_free(&vf);
    srv_log(&cfg, "stopped");
    return rc;
}
