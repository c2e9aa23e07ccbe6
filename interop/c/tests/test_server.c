/* SPDX-License-Identifier: MIT */
/* test_server.c - wire-server as a black box: a real server process (fork + exec of
 * build/<cc>/wire-server, found next to this test binary), real sockets on 127.0.0.1, nothing mocked.
 *
 *   interop    the interop exchange (build/<cc>/wire-client) passes against every concurrency model,
 *              and SIGTERM then ends the server with exit status 0
 *   stress     50 concurrent clients x 1000 pipelined ECHO frames of random sizes and contents,
 *              every reply checked byte for byte and by a running CRC-32 (epoll, poll, select, fork,
 *              thread)
 *   malformed  oversize header, unknown tag, bad UTF-8, frame before HELLO, HELLO version 2, header
 *              errors: each gets exactly its ERROR(code, offset) then EOF, while a well-behaved
 *              client and the interop exchange run beside it
 *   sigterm    SIGTERM under load (half the clients read through a small window): exit 0 in bounded
 *              time, no client ever sees half a frame; SIGTERM with stuck clients (one never reads, one
 *              idle, one with half a header): exit within the frame timeout, not the idle timeout
 *   limits     --max-conns, --idle-timeout, --frame-timeout (slowloris), --max-queued
 *   cli        --help, bad flags, --unix PATH, --host ::1
 *   spec       further SPEC.md rules a server must follow (second HELLO, a peer's ERROR, a reply
 *              larger than the client's max payload, graceful refusal over --max-conns, BYE then EOF,
 *              frames pipelined behind HELLO and after BYE)
 *   udp        every case of proto/udp.txt against --udp in every model, wire-client --udp against it
 *              (directly, and through a relay in the test that drops, duplicates and reorders), the UDP
 *              limit from --max-payload, a UDP port already taken
 *   fixed      defects of the server before the engine, each pinned by a test that failed then:
 *              replies lost on half-close, a spin when out of descriptors, fork's zombies, refusals
 *              queued behind one another, SIGHUP, --version
 *
 * Every wait is bounded (socket timeouts, poll timeouts, waitpid with a deadline). Each test kills
 * what it started in its teardown, even when it fails. Worker threads never call cmocka asserts:
 * they record what went wrong, and the main thread asserts after joining them.
 * WIRE_TEST_SEED=<n> replays the random sizes and contents of a run (the seed is printed);
 * WIRE_TEST_FILTER=<pattern> runs only the matching tests (cmocka's filter, e.g. 'test_sigterm_*': a leading '*' matches nothing). */
#include "testutil.h"
#include "sessions.h"
#include "udp_cases.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

#define PATHLEN 4096
#define IO_TIMEOUT_MS 10000 /* any single send or receive of a worker; a hang becomes a failure */
#define STOP_TIMEOUT_MS 5000 /* SIGTERM to exit when the server is idle */
#define WHY 400 /* room for a DETAIL and everything around it (gcc -O1 checks the sums) */
#define DETAIL 200 /* a detail embedded in a WHY message */

/* ============================================================================================== */
/* Time, randomness, CRC-32                                                                       */
/* ============================================================================================== */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t g_seed;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* n pseudo-random bytes determined by seed: a reply is checked by generating them again. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
    uint64_t s = seed, v;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v = splitmix(&s);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        v = splitmix(&s);
        memcpy(p + i, &v, n - i);
    }
}

/* A seed for one test and one worker, from the run's seed. */
static uint64_t seed_for(const char *what, unsigned id) {
    uint64_t h = g_seed ^ ((uint64_t)id * 0x100000001B3ull);
    for (const char *c = what; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001B3ull;
    return splitmix(&h);
}

/* CRC-32 (IEEE 802.3 / zlib), slicing by 8: the stress test checksums about 1 GB per model. */
static uint32_t crc_tab[8][256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++) crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^ crc_tab[0][crc_tab[k - 1][i] & 0xFF];
}

/* Continues a CRC: crc_update(crc_update(0, a), b) is the CRC of a followed by b. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_tab[7][a & 0xFF] ^ crc_tab[6][(a >> 8) & 0xFF] ^ crc_tab[5][(a >> 16) & 0xFF] ^ crc_tab[4][a >> 24] ^
              crc_tab[3][b & 0xFF] ^ crc_tab[2][(b >> 8) & 0xFF] ^ crc_tab[1][(b >> 16) & 0xFF] ^ crc_tab[0][b >> 24];
    }
    while (n--) crc = crc_tab[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* Counters shared between a worker and the main thread. */
static int atomic_get(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void atomic_set(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* ============================================================================================== */
/* Programs and processes                                                                         */
/* ============================================================================================== */

static char g_root[PATHLEN];   /* the repository: servers and clients run from here */
static char g_server[PATHLEN + 32]; /* build/<cc>/wire-server, next to this test's directory */
static char g_client[PATHLEN + 32];
static char *g_env[1024];      /* the environment without WIRE_PROTO_DIR */

static void find_programs(const char *argv0) {
    char exe[PATHLEN], up[PATHLEN + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
    } else if (!realpath(argv0, exe)) {
        snprintf(exe, sizeof exe, "%s", argv0);
    }
    char *slash = strrchr(exe, '/'); /* exe: .../build/<cc>/tests/test_server */
    if (slash) *slash = '\0';
    else snprintf(exe, sizeof exe, ".");
    snprintf(g_server, sizeof g_server, "%s/../wire-server", exe);
    snprintf(g_client, sizeof g_client, "%s/../wire-client", exe);
    snprintf(up, sizeof up, "%s/../../..", exe);
    char probe[PATHLEN + 32];
    if (realpath(up, g_root)) snprintf(probe, sizeof probe, "%s/proto/vectors.txt", g_root);
    if (!g_root[0] || access(probe, R_OK) != 0) {
        if (!getcwd(g_root, sizeof g_root)) snprintf(g_root, sizeof g_root, ".");
    }
    size_t k = 0;
    for (char **e = environ; *e && k + 1 < sizeof g_env / sizeof g_env[0]; e++)
        if (strncmp(*e, "WIRE_PROTO_DIR=", 15) != 0) g_env[k++] = *e;
    g_env[k] = NULL;
}

/* Processes started by the current test, killed by its teardown if it did not reap them. */
static pid_t g_procs[64];

static void track(pid_t pid) {
    for (size_t i = 0; i < sizeof g_procs / sizeof g_procs[0]; i++)
        if (g_procs[i] == 0) {
            g_procs[i] = pid;
            return;
        }
}

static void untrack(pid_t pid) {
    for (size_t i = 0; i < sizeof g_procs / sizeof g_procs[0]; i++)
        if (g_procs[i] == pid) g_procs[i] = 0;
}

/* Each child leads its own process group, so a fork-mode server is killed with its children. */
static void kill_wait(pid_t pid) {
    if (pid <= 0) return;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    untrack(pid);
}

static char g_unix_path[128]; /* a socket file the current test may leave behind */

static int teardown(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof g_procs / sizeof g_procs[0]; i++)
        if (g_procs[i] > 0) kill_wait(g_procs[i]);
    if (g_unix_path[0]) unlink(g_unix_path);
    g_unix_path[0] = '\0';
    return 0;
}

/* For the next spawn() only when set: the descriptor limit of the program, and a file for its stderr. */
static int g_spawn_nofile;
static const char *g_spawn_stderr;

/* Starts prog with args (NULL-terminated) in the repository root, with WIRE_PROTO_DIR unset; its
 * stdout goes to a pipe whose read end is put in *out_fd when out_fd is not NULL. */
static pid_t spawn(const char *prog, const char *const *args, int *out_fd) {
    char *argv[64];
    int n = 0, p[2] = {-1, -1};
    argv[n++] = (char *)(uintptr_t)prog;
    for (size_t i = 0; args && args[i] && n < 63; i++) argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    if (out_fd) {
        assert_int_equal(pipe(p), 0);
        fcntl(p[0], F_SETFD, FD_CLOEXEC);
        fcntl(p[1], F_SETFD, FD_CLOEXEC);
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t none;
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* if the test dies, its servers do too */
#endif
        signal(SIGPIPE, SIG_DFL);          /* this test ignores it; an exec'd program must not inherit that */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (out_fd && dup2(p[1], STDOUT_FILENO) < 0) _exit(126);
        if (g_spawn_stderr) {
            int e = open(g_spawn_stderr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (e < 0 || dup2(e, STDERR_FILENO) < 0) _exit(126);
        }
        if (g_spawn_nofile) {
            struct rlimit rl = {(rlim_t)g_spawn_nofile, (rlim_t)g_spawn_nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
        }
        if (chdir(g_root) != 0) _exit(126);
        execve(prog, argv, g_env);
        _exit(127);
    }
    setpgid(pid, pid);
    track(pid);
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

/* The wait status of pid within timeout_ms, or -1 if it is still running (it is left running). */
static int wait_for(pid_t pid, int timeout_ms) {
    int64_t end = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            untrack(pid);
            return st;
        }
        if (r < 0 && errno != EINTR) return -1;
        if (now_ms() >= end) return -1;
        sleep_ms(5);
    }
}

static const char *status_text(int st, char *buf, size_t len) {
    if (st == -1) snprintf(buf, len, "still running");
    else if (WIFEXITED(st)) snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else snprintf(buf, len, "wait status 0x%x", (unsigned)st);
    return buf;
}

static bool exited_ok(int st) { return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0; }

/* Runs prog to its end (at most timeout_ms, then it is killed): its stdout and wait status. */
typedef struct run_result {
    int status; /* -1: killed after the timeout */
    char *out;  /* NUL-terminated */
    size_t len;
    int64_t ms;
} run_result;

static void collect(pid_t pid, int fd, int timeout_ms, run_result *r) {
    int64_t t0 = now_ms(), end = t0 + timeout_ms;
    size_t cap = 65536;
    r->out = malloc(cap);
    r->len = 0;
    assert_non_null(r->out);
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0) break;
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (r->len + 4096 + 1 > cap) {
            cap *= 2;
            r->out = realloc(r->out, cap);
            assert_non_null(r->out);
        }
        ssize_t got = read(fd, r->out + r->len, cap - r->len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        r->len += (size_t)got;
    }
    r->out[r->len] = '\0';
    close(fd);
    int64_t left = end - now_ms();
    r->status = wait_for(pid, left > 0 ? (int)left : 0);
    if (r->status == -1) kill_wait(pid);
    r->ms = now_ms() - t0;
}

static void run_prog(const char *prog, const char *const *args, int timeout_ms, run_result *r) {
    int fd;
    pid_t pid = spawn(prog, args, &fd);
    collect(pid, fd, timeout_ms, r);
}

/* ============================================================================================== */
/* The server under test                                                                          */
/* ============================================================================================== */

typedef struct server {
    pid_t pid;
    char port[8];
    char mode[16];
} server;

/* Starts wire-server --mode mode --quiet [extra...] and reads its port from its first stdout line. */
static void server_start(server *s, const char *mode, const char *const *extra) {
    const char *args[48];
    size_t n = 0;
    args[n++] = "--mode";
    /* "epoll2": the event loop on two threads (--loops 2) */
    args[n++] = strcmp(mode, "epoll2") == 0 ? "epoll" : mode;
    if (strcmp(mode, "epoll2") == 0) args[n++] = "--loops", args[n++] = "2";
    args[n++] = "--quiet";
    for (size_t i = 0; extra && extra[i] && n < 47; i++) args[n++] = extra[i];
    args[n] = NULL;
    memset(s, 0, sizeof *s);
    snprintf(s->mode, sizeof s->mode, "%s", mode);
    int fd;
    s->pid = spawn(g_server, args, &fd);
    char line[64];
    size_t len = 0;
    int64_t end = now_ms() + 5000;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        int64_t left = end - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
        ssize_t got = read(fd, line + len, sizeof line - 1 - len);
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    line[len] = '\0';
    char *nl = strchr(line, '\n');
    unsigned long port = 0;
    char *end_num = NULL;
    if (nl) {
        *nl = '\0';
        port = strtoul(line, &end_num, 10);
    }
    if (!nl || end_num == line || *end_num || port == 0 || port > 65535) {
        char st[64];
        int status = wait_for(s->pid, 500);
        if (status == -1) kill_wait(s->pid);
        fail_msg("%s --mode %s: no port on the first line of stdout within 5 s (read '%s'; the server: %s)",
                 g_server, mode, line, status_text(status, st, sizeof st));
    }
    snprintf(s->port, sizeof s->port, "%lu", port);
}

/* SIGTERM; the server must exit with status 0 within timeout_ms. Returns how long it took. */
static int64_t server_stop(server *s, int timeout_ms) {
    char st_text[64];
    int64_t t0 = now_ms();
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    int st = wait_for(s->pid, timeout_ms);
    int64_t dt = now_ms() - t0;
    if (st == -1) {
        kill_wait(s->pid);
        fail_msg("wire-server --mode %s did not exit within %d ms of SIGTERM", s->mode, timeout_ms);
    }
    if (!exited_ok(st))
        fail_msg("wire-server --mode %s after SIGTERM: %s (wanted exit status 0)", s->mode,
                 status_text(st, st_text, sizeof st_text));
    s->pid = 0;
    return dt;
}

/* The process state letter from /proc/<pid>/stat ('R', 'S', 'T' stopped...), '?' if unknown. */
static char proc_state(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* SIGSTOP, and wait (at most 2 s) until the process is really stopped. */
static void freeze(pid_t pid) {
    assert_int_equal(kill(pid, SIGSTOP), 0);
    int64_t until = now_ms() + 2000;
    while (proc_state(pid) != 'T' && proc_state(pid) != 't' && now_ms() < until) sleep_ms(1);
    if (proc_state(pid) == '?') sleep_ms(100); /* no /proc: give the signal time */
}

/* Waits (at most 2 s) until the peer's kernel has acknowledged everything sent on fd: the bytes are
 * then in the peer's receive queue, even if the peer process is stopped. */
static void wait_sent(int fd) {
    int64_t until = now_ms() + 2000;
    int queued = 1;
    while (ioctl(fd, TIOCOUTQ, &queued) == 0 && queued > 0 && now_ms() < until) sleep_ms(1);
}

static long vm_rss_kib(pid_t pid) {
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* ============================================================================================== */
/* Client side helpers. These never assert (worker threads use them): they return false, or       */
/* RD_FAIL, and explain in why[0..wlen).                                                           */
/* ============================================================================================== */

static const char *off_text(uint32_t off, char *buf, size_t len) {
    if (off == WIRE_NO_OFFSET) snprintf(buf, len, "none");
    else snprintf(buf, len, "%lu", (unsigned long)off);
    return buf;
}

/* A frame, for a message: "ERROR TOOBIG offset 4 ('...')" or "type 0x0101, 12 bytes". */
static void describe_frame(const wire_frame *f, char *buf, size_t len) {
    wire_error_msg m;
    char o[16];
    if (f->type == WIRE_MSG_ERROR && wire_get_error_msg(f->payload, f->length, &m, NULL) == WIRE_OK)
        snprintf(buf, len, "ERROR %s offset %s ('%.*s')", wire_err_name((wire_err)m.code), off_text(m.offset, o, sizeof o),
                 (int)(m.text_len > 120 ? 120 : m.text_len), m.text);
    else snprintf(buf, len, "frame type 0x%04x with %lu payload bytes", f->type, (unsigned long)f->length);
}

static int tcp_open(const char *host, const char *port, char *why, size_t wlen) {
    int fd;
    char err[WIRE_ERRBUF_SIZE];
    wire_err e = wire_tcp_connect(host, port, 3000, &fd, err, sizeof err);
    if (e != WIRE_OK) {
        snprintf(why, wlen, "connect to %s port %s: %s", host, port, err);
        return -1;
    }
    if (wire_set_timeouts(fd, IO_TIMEOUT_MS, IO_TIMEOUT_MS) != WIRE_OK) {
        snprintf(why, wlen, "setting socket timeouts: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A TCP connection to 127.0.0.1 with a small receive buffer, set before connect() so the window
 * stays small: the server's replies then wait in its send queue while this client reads them. */
static int tcp_open_small_rcvbuf(const char *port, int rcvbuf, char *why, size_t wlen) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, wlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0 ||
        wire_set_timeouts(fd, IO_TIMEOUT_MS, IO_TIMEOUT_MS) != WIRE_OK) {
        snprintf(why, wlen, "setsockopt: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(why, wlen, "connect to 127.0.0.1 port %s: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

typedef enum rd {
    RD_OK,   /* a whole frame */
    RD_END,  /* the connection ended cleanly at a frame boundary (EOF, or a reset before any byte) */
    RD_FAIL  /* half a frame, a bad header, a timeout, an I/O error */
} rd;

/* Reads one frame into buf[0..cap), noticing a connection that ends in the middle of a frame. */
/* How a read ended, from wire_read_exact's result and errno (cleared before the call). */
static const char *end_text(wire_err e, int err) {
    if (e == WIRE_ECLOSED && err == 0) return "EOF";
    if (e == WIRE_ECLOSED && err == ECONNRESET) return "reset";
    return err ? strerror(err) : wire_strerror(e);
}

static rd read_frame(int fd, uint8_t *buf, size_t cap, wire_frame *f, char *why, size_t wlen) {
    size_t got = 0;
    wire_header h;
    errno = 0;
    wire_err e = wire_read_exact(fd, buf, WIRE_HEADER_SIZE, &got);
    if (e != WIRE_OK) {
        int saved = errno;
        if (e == WIRE_ECLOSED && got == 0) {
            snprintf(why, wlen, "%s", saved == ECONNRESET ? "connection reset" : end_text(e, saved));
            return RD_END;
        }
        if (e == WIRE_ETIMEOUT)
            snprintf(why, wlen, "nothing received for %d ms (got %zu of 8 header bytes)", IO_TIMEOUT_MS, got);
        else if (got > 0)
            snprintf(why, wlen, "HALF A FRAME: the connection ended (%s) after %zu of 8 header bytes",
                     end_text(e, saved), got);
        else snprintf(why, wlen, "read: %s (%s)", wire_strerror(e), strerror(saved));
        return RD_FAIL;
    }
    size_t at = 0;
    e = wire_header_decode(buf, (uint32_t)(cap - WIRE_HEADER_SIZE), &h, &at);
    if (e != WIRE_OK) {
        snprintf(why, wlen, "bad frame header from the server: %s at offset %zu (%02x %02x %02x %02x %02x %02x %02x %02x)",
                 wire_err_name(e), at, buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]);
        return RD_FAIL;
    }
    errno = 0;
    e = wire_read_exact(fd, buf + WIRE_HEADER_SIZE, h.length, &got);
    if (e != WIRE_OK) {
        int saved = errno;
        if (e == WIRE_ETIMEOUT)
            snprintf(why, wlen, "stalled in a frame: %zu of %lu payload bytes in %d ms", got, (unsigned long)h.length,
                     IO_TIMEOUT_MS);
        else
            snprintf(why, wlen, "HALF A FRAME: the connection ended (%s) after %zu of %lu payload bytes of a type 0x%04x frame",
                     end_text(e, saved), got,
                     (unsigned long)h.length, h.type);
        return RD_FAIL;
    }
    f->type = h.type;
    f->length = h.length;
    f->payload = buf + WIRE_HEADER_SIZE;
    f->size = WIRE_HEADER_SIZE + (size_t)h.length;
    return RD_OK;
}

/* A HELLO payload with any version (to test version 2). */
static size_t hello_payload(uint8_t *buf, size_t cap, uint16_t version, uint32_t max_payload) {
    wire_writer w;
    size_t n = 0;
    wire_writer_init(&w, buf, cap);
    wire_put_u16(&w, version);
    wire_put_u32(&w, max_payload);
    wire_put_cstring(&w, "test_server");
    if (wire_writer_finish(&w, &n) != WIRE_OK) return 0;
    return n;
}

/* HELLO(1, my_max): the server must answer HELLO version 1; its max payload in *server_max. */
static bool hello(int fd, uint32_t my_max, uint32_t *server_max, char *why, size_t wlen) {
    uint8_t p[64], buf[2048];
    wire_frame f;
    wire_hello h;
    char d[200];
    size_t n = hello_payload(p, sizeof p, 1, my_max);
    wire_err e = wire_send_frame(fd, WIRE_MSG_HELLO, p, (uint32_t)n);
    if (e != WIRE_OK) {
        snprintf(why, wlen, "sending HELLO: %s", wire_strerror(e));
        return false;
    }
    rd r = read_frame(fd, buf, sizeof buf, &f, d, sizeof d);
    if (r != RD_OK) {
        snprintf(why, wlen, "no HELLO from the server: %s", d);
        return false;
    }
    if (f.type != WIRE_MSG_HELLO) {
        describe_frame(&f, d, sizeof d);
        snprintf(why, wlen, "the server answered HELLO with %s", d);
        return false;
    }
    if (wire_get_hello(f.payload, f.length, &h, NULL) != WIRE_OK || h.version != 1) {
        snprintf(why, wlen, "the server's HELLO is malformed or not version 1");
        return false;
    }
    if (server_max) *server_max = h.max_payload;
    return true;
}

/* One request, whose reply must be `reply_type` with exactly `expect` as payload. */
static bool request(int fd, uint16_t type, const uint8_t *p, uint32_t n, uint16_t reply_type, const uint8_t *expect,
                    uint32_t expect_len, uint8_t *buf, size_t cap, char *why, size_t wlen) {
    wire_frame f;
    char d[DETAIL];
    wire_err e = wire_send_frame(fd, type, p, n);
    if (e != WIRE_OK) {
        snprintf(why, wlen, "sending a type 0x%04x frame: %s", type, wire_strerror(e));
        return false;
    }
    rd r = read_frame(fd, buf, cap, &f, d, sizeof d);
    if (r != RD_OK) {
        snprintf(why, wlen, "no reply to a type 0x%04x request: %s", type, d);
        return false;
    }
    if (f.type != reply_type || f.length != expect_len || (expect_len && memcmp(f.payload, expect, expect_len) != 0)) {
        describe_frame(&f, d, sizeof d);
        snprintf(why, wlen, "request type 0x%04x (%lu bytes): wanted type 0x%04x with %lu bytes, got %s%s", type,
                 (unsigned long)n, reply_type, (unsigned long)expect_len, d,
                 f.type == reply_type && f.length == expect_len ? " with other contents" : "");
        return false;
    }
    return true;
}

static bool ping(int fd, char *why, size_t wlen) {
    static const uint8_t p[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t buf[64];
    return request(fd, WIRE_MSG_PING, p, sizeof p, WIRE_MSG_PONG, p, sizeof p, buf, sizeof buf, why, wlen);
}

/* The next thing on fd must be EOF (recv returns 0) within within_ms: no more data, no reset. */
static bool expect_eof(int fd, int within_ms, char *why, size_t wlen) {
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    do n = poll(&p, 1, within_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        snprintf(why, wlen, "the server did not close the connection within %d ms", within_ms);
        return false;
    }
    uint8_t b[64];
    ssize_t got = recv(fd, b, sizeof b, MSG_DONTWAIT);
    if (got == 0) return true;
    if (got > 0) {
        snprintf(why, wlen, "%zd more bytes (type 0x%02x%02x...) where EOF was expected", got, got > 3 ? b[2] : 0,
                 got > 3 ? b[3] : 0);
    } else {
        snprintf(why, wlen, "recv: %s where EOF was expected (%s)", strerror(errno),
                 errno == ECONNRESET ? "the server closed with unread data: an RST instead of the graceful close "
                                       "of SPEC.md 8.4"
                                     : "?");
    }
    return false;
}

static bool bye(int fd, char *why, size_t wlen) {
    uint8_t buf[64];
    char d[DETAIL];
    if (!request(fd, WIRE_MSG_BYE, NULL, 0, WIRE_MSG_BYE, NULL, 0, buf, sizeof buf, why, wlen)) return false;
    if (!expect_eof(fd, 2000, d, sizeof d)) {
        snprintf(why, wlen, "after BYE: %s", d);
        return false;
    }
    return true;
}

/* The next frame must be ERROR(code, offset) within within_ms, then EOF. */
static bool expect_error(int fd, wire_err code, uint32_t offset, int within_ms, char *why, size_t wlen) {
    uint8_t buf[4096];
    wire_frame f;
    wire_error_msg m;
    char d[DETAIL], o1[16], o2[16];
    int64_t t0 = now_ms();
    if (wire_set_timeouts(fd, within_ms + 2000, IO_TIMEOUT_MS) != WIRE_OK) {
        snprintf(why, wlen, "setsockopt: %s", strerror(errno));
        return false;
    }
    rd r = read_frame(fd, buf, sizeof buf, &f, d, sizeof d);
    int64_t dt = now_ms() - t0;
    if (r != RD_OK) {
        snprintf(why, wlen, "wanted ERROR %s offset %s, got no frame: %s", wire_err_name(code), off_text(offset, o1, sizeof o1), d);
        return false;
    }
    if (f.type != WIRE_MSG_ERROR || wire_get_error_msg(f.payload, f.length, &m, NULL) != WIRE_OK) {
        describe_frame(&f, d, sizeof d);
        snprintf(why, wlen, "wanted ERROR %s offset %s, got %s", wire_err_name(code), off_text(offset, o1, sizeof o1), d);
        return false;
    }
    if (m.code != (uint16_t)code || m.offset != offset) {
        describe_frame(&f, d, sizeof d);
        snprintf(why, wlen, "wanted ERROR %s offset %s, got %s", wire_err_name(code), off_text(offset, o1, sizeof o1), d);
        return false;
    }
    if (dt > within_ms) {
        snprintf(why, wlen, "ERROR %s offset %s came after %lld ms (wanted within %d ms)", wire_err_name(code),
                 off_text(offset, o2, sizeof o2), (long long)dt, within_ms);
        return false;
    }
    if (!expect_eof(fd, 2000, d, sizeof d)) {
        snprintf(why, wlen, "after ERROR %s: %s", wire_err_name(code), d);
        return false;
    }
    return true;
}

/* ---- the same, asserting (main thread only) ---- */

static int must_connect(const server *s) {
    char why[WHY];
    int fd = tcp_open("127.0.0.1", s->port, why, sizeof why);
    if (fd < 0) fail_msg("--mode %s: %s", s->mode, why);
    return fd;
}

static uint32_t must_hello(const server *s, int fd) {
    char why[WHY];
    uint32_t max = 0;
    if (!hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, &max, why, sizeof why)) fail_msg("--mode %s: %s", s->mode, why);
    return max;
}

static void must_ping(const server *s, int fd, const char *who) {
    char why[WHY];
    if (!ping(fd, why, sizeof why)) fail_msg("--mode %s, %s: PING: %s", s->mode, who, why);
}

static void must_bye(const server *s, int fd, const char *who) {
    char why[WHY];
    if (!bye(fd, why, sizeof why)) fail_msg("--mode %s, %s: BYE: %s", s->mode, who, why);
}

static void must_error(const server *s, int fd, wire_err code, uint32_t offset, int within_ms, const char *who) {
    char why[WHY];
    if (!expect_error(fd, code, offset, within_ms, why, sizeof why)) fail_msg("--mode %s, %s: %s", s->mode, who, why);
}

static void must_send(const server *s, int fd, const void *bytes, size_t n, const char *who) {
    wire_err e = wire_write_all(fd, bytes, n);
    if (e != WIRE_OK) fail_msg("--mode %s, %s: sending %zu bytes: %s", s->mode, who, n, wire_strerror(e));
}

/* The wire-client output: exit 0 and a last line "N passed, 0 failed" with N > 600. */
static void check_client_run(const run_result *r, const char *what) {
    char st[64];
    unsigned passed = 0, failed = 0;
    const char *last = NULL;
    for (char *p = r->out; *p; p++)
        if ((p == r->out || p[-1] == '\n') && *p != '\n') last = p;
    char line[128] = "";
    if (last) {
        size_t n = strcspn(last, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), last);
    }
    char want[128];
    bool parsed = sscanf(line, "%u passed, %u failed", &passed, &failed) == 2;
    snprintf(want, sizeof want, "%u passed, %u failed", passed, failed);
    if (exited_ok(r->status) && parsed && strcmp(want, line) == 0 && failed == 0 && passed > 600) return;
    int shown = 0;
    for (char *p = r->out; *p && shown < 30; p++)
        if ((p == r->out || p[-1] == '\n') && strncmp(p, "FAIL", 4) == 0) {
            print_error("  %.*s\n", (int)strcspn(p, "\n"), p);
            shown++;
        }
    fail_msg("%s: wire-client %s after %lld ms, last line '%s' (wanted exit 0 and 'N passed, 0 failed' with N > 600)",
             what, status_text(r->status, st, sizeof st), (long long)r->ms, line);
}

/* ============================================================================================== */
/* 1. interop: the exchange against every model                                                   */
/* ============================================================================================== */

static void run_interop(const char *mode) {
    server s;
    run_result r;
    char what[64];
    server_start(&s, mode, NULL);
    run_prog(g_client, (const char *const[]){"--port", s.port, NULL}, 60000, &r);
    snprintf(what, sizeof what, "--mode %s", mode);
    check_client_run(&r, what);
    free(r.out);
    int64_t dt = server_stop(&s, STOP_TIMEOUT_MS);
    print_message("interop %-9s exchange %lld ms, exit 0 %lld ms after SIGTERM\n", mode, (long long)r.ms, (long long)dt);
}

/* ============================================================================================== */
/* 2. stress: 50 pipelining clients, random ECHO frames, every byte checked                       */
/* ============================================================================================== */

#define STRESS_CLIENTS 50
#define STRESS_FRAMES 1000
#define STRESS_WINDOW 8                    /* requests in flight */
#define STRESS_WINDOW_BYTES (160u * 1024)  /* and their bytes: a blocking client must not deadlock */
#define STRESS_BIG (256u * 1024)

typedef struct echo_worker {
    pthread_t th;
    const char *port;
    uint64_t seed;
    int frames;
    int replies; /* atomic */
    uint64_t bytes;
    uint32_t crc_sent, crc_recv;
    int big; /* frames over 8 KiB */
    char why[WHY];
} echo_worker;

/* 0..8 KiB mostly; 2 % empty; 1 % between 8 KiB and 256 KiB, with 256 KiB itself among them. */
static uint32_t stress_size(uint64_t *rng) {
    uint64_t r = splitmix(rng);
    unsigned k = (unsigned)(r % 1000);
    r >>= 16;
    if (k == 0) return STRESS_BIG;
    if (k < 10) return 8193 + (uint32_t)(r % (STRESS_BIG - 8193));
    if (k < 30) return 0;
    return (uint32_t)(r % 8193);
}

static void *stress_main(void *arg) {
    echo_worker *w = arg;
    struct {
        uint64_t seed;
        uint32_t len;
    } ring[STRESS_WINDOW];
    size_t cap = WIRE_HEADER_SIZE + STRESS_BIG;
    uint8_t *sbuf = malloc(STRESS_BIG), *rbuf = malloc(cap);
    char d[DETAIL];
    int fd = -1, sent = 0, got = 0;
    size_t inflight = 0;
    uint64_t rng = w->seed;
    if (!sbuf || !rbuf) {
        snprintf(w->why, sizeof w->why, "out of memory");
        goto out;
    }
    fd = tcp_open("127.0.0.1", w->port, w->why, sizeof w->why);
    if (fd < 0 || !hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, w->why, sizeof w->why)) goto out;
    uint32_t next_len = stress_size(&rng);
    uint64_t next_seed = splitmix(&rng);
    while (got < w->frames) {
        while (sent < w->frames && sent - got < STRESS_WINDOW &&
               (sent == got || inflight + next_len <= STRESS_WINDOW_BYTES)) {
            fill_random(sbuf, next_len, next_seed);
            w->crc_sent = crc_update(w->crc_sent, sbuf, next_len);
            wire_err e = wire_send_frame(fd, WIRE_MSG_ECHO, sbuf, next_len);
            if (e != WIRE_OK) {
                snprintf(w->why, sizeof w->why, "sending request %d (%lu bytes): %s", sent, (unsigned long)next_len,
                         wire_strerror(e));
                goto out;
            }
            ring[sent % STRESS_WINDOW].seed = next_seed;
            ring[sent % STRESS_WINDOW].len = next_len;
            inflight += next_len;
            if (next_len > 8192) w->big++;
            sent++;
            next_len = stress_size(&rng);
            next_seed = splitmix(&rng);
        }
        wire_frame f;
        if (read_frame(fd, rbuf, cap, &f, d, sizeof d) != RD_OK) {
            snprintf(w->why, sizeof w->why, "reply %d (of %d sent): %s", got, sent, d);
            goto out;
        }
        uint32_t len = ring[got % STRESS_WINDOW].len;
        if (f.type != WIRE_MSG_ECHO_REPLY || f.length != len) {
            describe_frame(&f, d, sizeof d);
            snprintf(w->why, sizeof w->why, "reply %d: wanted ECHO_REPLY with %lu bytes, got %s", got, (unsigned long)len, d);
            goto out;
        }
        fill_random(sbuf, len, ring[got % STRESS_WINDOW].seed);
        if (len && memcmp(sbuf, f.payload, len) != 0) {
            size_t i = 0;
            while (sbuf[i] == f.payload[i]) i++;
            snprintf(w->why, sizeof w->why, "reply %d (%lu bytes): CORRUPT from byte %zu: got %02x, sent %02x", got,
                     (unsigned long)len, i, f.payload[i], sbuf[i]);
            goto out;
        }
        w->crc_recv = crc_update(w->crc_recv, f.payload, f.length);
        w->bytes += len;
        inflight -= len;
        got++;
        atomic_set(&w->replies, got);
    }
    if (!bye(fd, d, sizeof d)) snprintf(w->why, sizeof w->why, "after all replies: %s", d);
out:
    if (fd >= 0) close(fd);
    free(sbuf);
    free(rbuf);
    return NULL;
}

static void run_stress(const char *mode) {
    server s;
    server_start(&s, mode, NULL);
    echo_worker *w = calloc(STRESS_CLIENTS, sizeof *w);
    assert_non_null(w);
    int64_t t0 = now_ms();
    int started = 0;
    for (int i = 0; i < STRESS_CLIENTS; i++) {
        w[i].port = s.port;
        w[i].seed = seed_for(mode, (unsigned)i);
        w[i].frames = STRESS_FRAMES;
        if (pthread_create(&w[i].th, NULL, stress_main, &w[i]) != 0) break;
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(w[i].th, NULL);
    int64_t dt = now_ms() - t0;
    int failed = 0, big = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < started; i++) {
        if (!w[i].why[0] && w[i].crc_sent != w[i].crc_recv)
            snprintf(w[i].why, sizeof w[i].why, "CRC-32 of the payloads sent %08lx, of the replies %08lx",
                     (unsigned long)w[i].crc_sent, (unsigned long)w[i].crc_recv);
        if (w[i].why[0] && failed++ < 10) print_error("  client %d: %s\n", i, w[i].why);
        bytes += w[i].bytes;
        big += w[i].big;
    }
    free(w);
    int64_t stop = server_stop(&s, STOP_TIMEOUT_MS);
    if (started < STRESS_CLIENTS) fail_msg("could start only %d client threads", started);
    if (failed)
        fail_msg("--mode %s: %d of %d clients failed (seed %llu)", mode, failed, STRESS_CLIENTS, (unsigned long long)g_seed);
    print_message("stress  %-9s %d clients x %d frames (%d over 8 KiB), %.1f MiB echoed in %lld ms; exit %lld ms after SIGTERM\n",
                  mode, STRESS_CLIENTS, STRESS_FRAMES, big, (double)bytes / (1 << 20), (long long)dt, (long long)stop);
}

/* ============================================================================================== */
/* 3. malformed input, each case on its own connection, next to well-behaved clients              */
/* ============================================================================================== */

#define MALFORMED_MAX_PAYLOAD 1048576u /* the exchange's largest ECHO is exactly this: accepted */

typedef struct bad_case {
    const char *name;
    bool hello_first;
    const uint8_t *bytes; /* sent raw: header included */
    size_t len;
    wire_err code; /* the ERROR expected; WIRE_OK: the server must close without sending anything */
    uint32_t offset;
} bad_case;

/* (a) an ECHO header announcing 1048577 bytes, one over --max-payload, and no payload at all */
static const uint8_t bad_toobig[] = {1, 0, 0x01, 0x00, 0x00, 0x10, 0x00, 0x01};
/* (a) the same as the very first frame, with the largest length: header checks come first */
static const uint8_t bad_toobig_first[] = {1, 0, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff};
/* (b) ROUNDTRIP: u32 1, string "hi", then 0x7f (no such tag) at payload offset 12 */
static const uint8_t bad_tag[] = {1, 0, 0x01, 0x02, 0, 0, 0, 13, 0x03, 0, 0, 0, 1, 0x40, 0, 0, 0, 2, 'h', 'i', 0x7f};
/* (b) ROUNDTRIP: u8 7, group { u8 5, 0xee } : the unknown tag at payload offset 9, inside the group */
static const uint8_t bad_tag_group[] = {1, 0, 0x01, 0x02, 0, 0, 0, 10, 0x01, 0x07, 0x51, 0, 0, 0, 3, 0x01, 0x05, 0xee};
/* (c) ROUNDTRIP: u8 7, string "abc" E2 82 28: E2 82 needs a continuation byte, 0x28 is none; the
 * sequence's lead byte E2 is at payload offset 10 */
static const uint8_t bad_utf8[] = {1, 0, 0x01, 0x02, 0, 0, 0, 13, 0x01, 0x07, 0x40, 0, 0, 0, 6, 'a', 'b', 'c', 0xe2, 0x82, 0x28};
/* (c) ROUNDTRIP: list:string [ "x", C0 80 ]: an overlong NUL in the second element, payload offset 15 */
static const uint8_t bad_utf8_list[] = {1,    0, 0x01, 0x02, 0, 0, 0, 17, 0x50, 0x40, 0, 0, 0, 2,
                                        0, 0, 0, 1,    'x',  0, 0, 0, 2,  0xc0, 0x80};
/* (d) a PING, then an ECHO, before HELLO */
static const uint8_t early_ping[] = {1, 0, 0x00, 0x03, 0, 0, 0, 4, 1, 2, 3, 4};
static const uint8_t early_echo[] = {1, 0, 0x01, 0x00, 0, 0, 0, 2, 'h', 'i'};
/* (e) HELLO version 2 (u16 2, u32 65536, string "v2"): VERSION at the u16's first byte, 8 + 1 */
static const uint8_t hello_v2[] = {1, 0, 0x00, 0x01, 0, 0, 0, 15, 0x02, 0, 2, 0x03, 0, 1, 0, 0, 0x40, 0, 0, 0, 2, 'v', '2'};
/* header errors: version byte 2, flags set, type 0 */
static const uint8_t hdr_version[] = {2, 0, 0x00, 0x03, 0, 0, 0, 0};
static const uint8_t hdr_flags[] = {1, 0x80, 0x00, 0x03, 0, 0, 0, 0};
static const uint8_t hdr_type0[] = {1, 0, 0x00, 0x00, 0, 0, 0, 0};
/* ROUNDTRIP: a u32 with 2 of its 4 bytes: TRUNCATED at the value, payload offset 1 */
static const uint8_t bad_truncated[] = {1, 0, 0x01, 0x02, 0, 0, 0, 3, 0x03, 0, 1};

#define CASE(name, hello, bytes, code, off) {name, hello, bytes, sizeof bytes, code, off}

static const bad_case malformed_cases[] = {
    CASE("(a) TOOBIG header, no payload", true, bad_toobig, WIRE_ETOOBIG, 4),
    CASE("(a) TOOBIG header before HELLO", false, bad_toobig_first, WIRE_ETOOBIG, 4),
    CASE("(b) unknown tag in ROUNDTRIP", true, bad_tag, WIRE_EBADTAG, 8 + 12),
    CASE("(b) unknown tag inside a group", true, bad_tag_group, WIRE_EBADTAG, 8 + 9),
    CASE("(c) bad UTF-8 in a string", true, bad_utf8, WIRE_EUTF8, 8 + 10),
    CASE("(c) overlong UTF-8 in a list of strings", true, bad_utf8_list, WIRE_EUTF8, 8 + 15),
    CASE("(d) PING before HELLO", false, early_ping, WIRE_EUNEXPECTED, 2),
    CASE("(d) ECHO before HELLO", false, early_echo, WIRE_EUNEXPECTED, 2),
    CASE("(e) HELLO version 2", false, hello_v2, WIRE_EVERSION, 9),
    CASE("header version 2 (after HELLO)", true, hdr_version, WIRE_EVERSION, 0),
    CASE("header version 2 (first frame)", false, hdr_version, WIRE_EVERSION, 0),
    CASE("header flags 0x80", true, hdr_flags, WIRE_EHEADER, 1),
    CASE("header type 0", true, hdr_type0, WIRE_EHEADER, 2),
    CASE("truncated u32 in ROUNDTRIP", true, bad_truncated, WIRE_ETRUNCATED, 8 + 1),
};

/* Runs one case on a connection of its own: true if the server answered exactly as expected. */
static bool run_bad_case(const server *s, const bad_case *c, char *why, size_t wlen) {
    char d[DETAIL];
    bool ok = false;
    int fd = tcp_open("127.0.0.1", s->port, why, wlen);
    if (fd < 0) return false;
    if (c->hello_first && !hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, why, wlen)) goto out;
    wire_err e = wire_write_all(fd, c->bytes, c->len);
    if (e != WIRE_OK) {
        snprintf(why, wlen, "sending the bad frame: %s", wire_strerror(e));
        goto out;
    }
    if (c->code == WIRE_OK) {
        ok = expect_eof(fd, 2000, d, sizeof d);
        if (!ok) snprintf(why, wlen, "wanted the server to close without a reply: %s", d);
    } else {
        /* 2 s: far below the default 10 s frame timeout, so a server that waits for the payload of
         * an oversize frame (instead of refusing it from its header) fails */
        ok = expect_error(fd, c->code, c->offset, 2000, why, wlen);
    }
out:
    close(fd);
    return ok;
}

/* Checks the test's own data: each ROUNDTRIP case's payload fails in libwire with the same code at
 * the same offset, so a wrong expectation here is caught before it blames the server. */
static void check_case_data(const bad_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const bad_case *c = &cases[i];
        if (c->len < 8 || c->bytes[2] != 0x01 || c->bytes[3] != 0x02) continue;
        size_t at = 0;
        wire_err e = wire_validate(c->bytes + 8, c->len - 8, &at);
        if (e != c->code || 8 + at != c->offset)
            fail_msg("test data '%s': libwire says %s at %zu", c->name, wire_err_name(e), 8 + at);
    }
}

/* A well-behaved client beside the bad ones: ECHO, ROUNDTRIP, PING in a loop until told to stop. */
typedef struct steady {
    pthread_t th;
    const char *port;
    uint64_t seed;
    int stop;   /* atomic */
    int rounds; /* atomic */
    char why[WHY];
} steady;

static void *steady_main(void *arg) {
    steady *st = arg;
    /* u32 1, string "wire", list:i64 [ -1 ], group { bool true, f64 -0.0 } */
    static const uint8_t fields[] = {0x03, 0, 0, 0, 1, 0x40, 0, 0, 0, 4, 'w', 'i', 'r', 'e', 0x50, 0x14, 0, 0, 0, 1,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x51, 0, 0, 0, 11, 0x30, 1,
                                     0x24, 0x80, 0, 0, 0, 0, 0, 0, 0};
    size_t cap = WIRE_HEADER_SIZE + 16384;
    uint8_t *sbuf = malloc(16384), *rbuf = malloc(cap);
    uint64_t rng = st->seed;
    int64_t end = now_ms() + 30000;
    int fd = -1, rounds = 0;
    if (!sbuf || !rbuf) goto out;
    fd = tcp_open("127.0.0.1", st->port, st->why, sizeof st->why);
    if (fd < 0 || !hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, st->why, sizeof st->why)) goto out;
    while (!atomic_get(&st->stop) || rounds < 20) {
        if (now_ms() > end) {
            snprintf(st->why, sizeof st->why, "not stopped within 30 s");
            goto out;
        }
        uint32_t len = (uint32_t)(splitmix(&rng) % 16385);
        fill_random(sbuf, len, splitmix(&rng));
        if (!request(fd, WIRE_MSG_ECHO, sbuf, len, WIRE_MSG_ECHO_REPLY, sbuf, len, rbuf, cap, st->why, sizeof st->why) ||
            !request(fd, WIRE_MSG_ROUNDTRIP, fields, sizeof fields, WIRE_MSG_ROUNDTRIP_REPLY, fields, sizeof fields, rbuf,
                     cap, st->why, sizeof st->why) ||
            !ping(fd, st->why, sizeof st->why))
            goto out;
        atomic_set(&st->rounds, ++rounds);
    }
    bye(fd, st->why, sizeof st->why);
out:
    if (fd >= 0) close(fd);
    free(sbuf);
    free(rbuf);
    return NULL;
}

/* Runs cases against a server while a steady client and the interop exchange run beside them. */
static void run_cases_beside_good_clients(server *s, const bad_case *cases, size_t ncases, const char *group) {
    steady st;
    char why[WHY];
    int failed = 0, cfd;
    run_result r;
    memset(&st, 0, sizeof st);
    st.port = s->port;
    st.seed = seed_for(group, 0);
    pid_t client = spawn(g_client, (const char *const[]){"--port", s->port, NULL}, &cfd);
    assert_int_equal(pthread_create(&st.th, NULL, steady_main, &st), 0);
    for (size_t i = 0; i < ncases; i++) {
        if (!run_bad_case(s, &cases[i], why, sizeof why)) {
            print_error("  --mode %s, %s: %s\n", s->mode, cases[i].name, why);
            failed++;
        }
    }
    atomic_set(&st.stop, 1);
    collect(client, cfd, 60000, &r);
    pthread_join(st.th, NULL);
    int rounds = atomic_get(&st.rounds);
    if (st.why[0]) print_error("  --mode %s, the well-behaved client beside them: %s\n", s->mode, st.why);
    char what[96];
    snprintf(what, sizeof what, "--mode %s, the interop exchange beside the %s cases", s->mode, group);
    check_client_run(&r, what);
    free(r.out);
    if (st.why[0]) fail_msg("--mode %s: the well-behaved client failed beside the %s cases", s->mode, group);
    if (failed) fail_msg("--mode %s: %d of %zu %s cases failed", s->mode, failed, ncases, group);
    print_message("%-9s %-9s %zu cases OK; beside them %d rounds of ECHO+ROUNDTRIP+PING and the exchange OK\n", group,
                  s->mode, ncases, rounds);
}

static void run_malformed(const char *mode) {
    server s;
    char max[16];
    check_case_data(malformed_cases, sizeof malformed_cases / sizeof malformed_cases[0]);
    snprintf(max, sizeof max, "%u", MALFORMED_MAX_PAYLOAD);
    server_start(&s, mode, (const char *const[]){"--max-payload", max, NULL});
    /* the limit is the one announced */
    int fd = must_connect(&s);
    uint32_t announced = must_hello(&s, fd);
    if (announced != MALFORMED_MAX_PAYLOAD)
        fail_msg("--max-payload %u: the server's HELLO announces %lu", MALFORMED_MAX_PAYLOAD, (unsigned long)announced);
    must_bye(&s, fd, "HELLO check");
    close(fd);
    run_cases_beside_good_clients(&s, malformed_cases, sizeof malformed_cases / sizeof malformed_cases[0], "malformed");
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* ============================================================================================== */
/* 4. SIGTERM under load                                                                          */
/* ============================================================================================== */

#define STORM_CLIENTS 10
#define STORM_WINDOW 4
#define STORM_WINDOW_BYTES (160u * 1024)
#define STORM_MAX 65536u
#define STORM_AFTER_TERM_MS 10000 /* a client still served this long after SIGTERM fails */

/* When SIGTERM was sent, as milliseconds since g_epoch plus one (0: not yet). An int, not an int64_t:
 * 64-bit atomics need libatomic on 32-bit targets such as powerpc. */
static int64_t g_epoch;
static int g_term_at;
static int64_t term_time(void) {
    int v = atomic_get(&g_term_at);
    return v ? g_epoch + v - 1 : 0;
}
static void set_term_time(int64_t t) { atomic_set(&g_term_at, t ? (int)(t - g_epoch) + 1 : 0); }

typedef struct storm_worker {
    pthread_t th;
    const char *port;
    uint64_t seed;
    bool slow;   /* a small receive window: replies wait in the server's send queue */
    int replies; /* atomic */
    int replies_after_term;
    int sessions;
    char end[WHY]; /* how its connections ended */
    char why[WHY]; /* a failure */
} storm_worker;

/* One connection: HELLO, then ECHO frames continuously, pipelined. 0 when it ended cleanly at a
 * frame boundary (d says how), -1 on a failure (in w->why). */
static int storm_session(storm_worker *w, int fd, uint8_t *sbuf, uint8_t *rbuf, size_t cap, uint64_t *rng, char *d,
                         size_t dlen) {
    struct {
        uint64_t seed;
        uint32_t len;
    } ring[STORM_WINDOW];
    int sent = 0, got = 0;
    size_t inflight = 0;
    bool send_closed = false;
    char send_err[64] = "";
    uint8_t hp[64];
    size_t hn = hello_payload(hp, sizeof hp, 1, WIRE_DEFAULT_MAX_PAYLOAD);
    wire_frame f;
    wire_err e = wire_send_frame(fd, WIRE_MSG_HELLO, hp, (uint32_t)hn);
    if (e == WIRE_ECLOSED) {
        snprintf(d, dlen, "HELLO could not be sent: %s", strerror(errno));
        return 0;
    }
    rd r = e ? RD_FAIL : read_frame(fd, rbuf, cap, &f, d, dlen);
    if (r == RD_END) return 0;
    if (r == RD_FAIL || f.type != WIRE_MSG_HELLO) {
        if (r == RD_OK) describe_frame(&f, d, dlen);
        snprintf(w->why, sizeof w->why, "HELLO: %s", e ? wire_strerror(e) : d);
        return -1;
    }
    for (;;) {
        int64_t term = term_time();
        if (term && now_ms() > term + STORM_AFTER_TERM_MS) {
            snprintf(w->why, sizeof w->why, "still served %d ms after SIGTERM (%d replies since)", STORM_AFTER_TERM_MS,
                     w->replies_after_term);
            return -1;
        }
        while (!send_closed && sent - got < STORM_WINDOW) {
            uint32_t len = (uint32_t)(splitmix(rng) % (STORM_MAX + 1));
            if (sent > got && inflight + len > STORM_WINDOW_BYTES) break;
            uint64_t seed = splitmix(rng);
            fill_random(sbuf, len, seed);
            e = wire_send_frame(fd, WIRE_MSG_ECHO, sbuf, len);
            if (e == WIRE_ECLOSED) { /* the server is gone: its replies may still be there to read */
                send_closed = true;
                snprintf(send_err, sizeof send_err, "%s", strerror(errno));
                break;
            }
            if (e != WIRE_OK) {
                snprintf(w->why, sizeof w->why, "sending request %d: %s (%s)", sent, wire_strerror(e), strerror(errno));
                return -1;
            }
            ring[sent % STORM_WINDOW].seed = seed;
            ring[sent % STORM_WINDOW].len = len;
            inflight += len;
            sent++;
        }
        r = read_frame(fd, rbuf, cap, &f, d, dlen);
        if (r == RD_END) return 0;
        if (r == RD_FAIL) {
            snprintf(w->why, sizeof w->why, "reply %d (of %d sent%s): %s%s%s%s", got, sent,
                     term_time() ? ", after SIGTERM" : "", d,
                     send_closed ? " (a send had failed just before with '" : "", send_err, send_closed ? "')" : "");
            return -1;
        }
        if (got == sent) {
            describe_frame(&f, d, dlen);
            snprintf(w->why, sizeof w->why, "a frame no request asked for: %s", d);
            return -1;
        }
        uint32_t len = ring[got % STORM_WINDOW].len;
        fill_random(sbuf, len, ring[got % STORM_WINDOW].seed);
        if (f.type != WIRE_MSG_ECHO_REPLY || f.length != len || (len && memcmp(sbuf, f.payload, len) != 0)) {
            describe_frame(&f, d, dlen);
            snprintf(w->why, sizeof w->why, "reply %d: wanted ECHO_REPLY with %lu bytes, got %s%s", got, (unsigned long)len,
                     d, f.type == WIRE_MSG_ECHO_REPLY && f.length == len ? " with OTHER CONTENTS" : "");
            return -1;
        }
        inflight -= len;
        got++;
        atomic_set(&w->replies, atomic_get(&w->replies) + 1);
        if (term_time()) w->replies_after_term++;
    }
}

static void *storm_main(void *arg) {
    storm_worker *w = arg;
    size_t cap = WIRE_HEADER_SIZE + STORM_MAX;
    uint8_t *sbuf = malloc(STORM_MAX), *rbuf = malloc(cap);
    uint64_t rng = w->seed;
    int64_t start = now_ms();
    char d[DETAIL];
    if (!sbuf || !rbuf) {
        snprintf(w->why, sizeof w->why, "out of memory");
        goto out;
    }
    for (;;) {
        int64_t term = term_time();
        if (!term && now_ms() > start + 30000) {
            snprintf(w->why, sizeof w->why, "no SIGTERM within 30 s");
            break;
        }
        if (term && now_ms() > term + STORM_AFTER_TERM_MS) {
            snprintf(w->why, sizeof w->why, "the server still accepts connections %d ms after SIGTERM", STORM_AFTER_TERM_MS);
            break;
        }
        int fd = w->slow ? tcp_open_small_rcvbuf(w->port, 4096, d, sizeof d) : tcp_open("127.0.0.1", w->port, d, sizeof d);
        if (fd < 0) {
            if (term) snprintf(w->end, sizeof w->end, "%s", d); /* refused: the server stopped listening */
            else snprintf(w->why, sizeof w->why, "before SIGTERM: %s", d);
            break;
        }
        w->sessions++;
        int rc = storm_session(w, fd, sbuf, rbuf, cap, &rng, d, sizeof d);
        close(fd);
        if (rc < 0) break;
        if (!term_time()) {
            snprintf(w->why, sizeof w->why, "the connection ended before SIGTERM: %s", d);
            break;
        }
    }
out:
    free(sbuf);
    free(rbuf);
    return NULL;
}

static void run_sigterm(const char *mode) {
    server s;
    storm_worker w[STORM_CLIENTS];
    char st_text[64];
    memset(w, 0, sizeof w);
    set_term_time(0);
    server_start(&s, mode, (const char *const[]){"--frame-timeout", "2", NULL});
    int started = 0;
    for (int i = 0; i < STORM_CLIENTS; i++) {
        w[i].port = s.port;
        w[i].seed = seed_for(mode, 1000 + (unsigned)i);
        w[i].slow = i % 2 == 1;
        if (pthread_create(&w[i].th, NULL, storm_main, &w[i]) != 0) break;
        started++;
    }
    /* load first: every client has had replies */
    int64_t until = now_ms() + 5000;
    for (;;) {
        int slow = 0;
        for (int i = 0; i < started; i++) slow += atomic_get(&w[i].replies) < 20;
        if (!slow || now_ms() > until) break;
        sleep_ms(5);
    }
    sleep_ms(50);
    int before = 0;
    for (int i = 0; i < started; i++) before += atomic_get(&w[i].replies);
    int64_t t0 = now_ms();
    set_term_time(t0);
    kill(s.pid, SIGTERM);
    int st = wait_for(s.pid, STORM_AFTER_TERM_MS + 2000);
    int64_t exit_ms = now_ms() - t0;
    if (st == -1) kill_wait(s.pid);
    for (int i = 0; i < started; i++) pthread_join(w[i].th, NULL);
    int failed = 0, after = 0, idle = 0;
    for (int i = 0; i < started; i++) {
        after += w[i].replies_after_term;
        if (w[i].replies == 0) idle++;
        if (w[i].why[0]) {
            print_error("  client %d (%d replies, %d sessions): %s\n", i, w[i].replies, w[i].sessions, w[i].why);
            failed++;
        }
    }
    if (started < STORM_CLIENTS) fail_msg("could start only %d client threads", started);
    if (st == -1)
        fail_msg("--mode %s: still running %lld ms after SIGTERM under load (killed)", mode, (long long)exit_ms);
    if (!exited_ok(st))
        fail_msg("--mode %s: after SIGTERM under load: %s (wanted exit status 0)", mode,
                 status_text(st, st_text, sizeof st_text));
    if (failed) fail_msg("--mode %s: %d of %d clients saw a failure (seed %llu)", mode, failed, started,
                         (unsigned long long)g_seed);
    if (idle) fail_msg("--mode %s: %d clients had no reply before SIGTERM: no load", mode, idle);
    if (exit_ms > 5000) fail_msg("--mode %s: the server took %lld ms to exit after SIGTERM (wanted <= 5000)", mode,
                                 (long long)exit_ms);
    print_message("sigterm %-9s %d replies before SIGTERM, %d after; exit 0 after %lld ms; clients ended: %s\n", mode,
                  before, after, (long long)exit_ms, w[0].end[0] ? w[0].end : "at a frame boundary");
}

/* ============================================================================================== */
/* 5. limits and timeouts                                                                         */
/* ============================================================================================== */

/* --max-conns 2: a third connection gets ERROR(LIMIT) and EOF; the two first keep working; a slot
 * that frees up is used again. */
static void run_max_conns(const char *mode) {
    server s;
    char why[WHY];
    server_start(&s, mode, (const char *const[]){"--max-conns", "2", NULL});
    int a = must_connect(&s), b = must_connect(&s);
    must_hello(&s, a);
    must_hello(&s, b);
    int c = must_connect(&s);
    must_error(&s, c, WIRE_ELIMIT, WIRE_NO_OFFSET, 2000, "third connection (it sends nothing)");
    close(c);
    must_ping(&s, a, "first connection, after the refusal");
    must_ping(&s, b, "second connection, after the refusal");
    must_bye(&s, a, "first connection");
    close(a);
    /* a's slot frees up once the server has seen it go (a fork child must be reaped first) */
    int64_t until = now_ms() + 3000;
    int e = -1;
    for (;;) {
        e = must_connect(&s);
        if (hello(e, WIRE_DEFAULT_MAX_PAYLOAD, NULL, why, sizeof why)) break;
        close(e);
        if (now_ms() > until) fail_msg("--mode %s: a new connection is still refused 3 s after one of two left: %s", mode, why);
        sleep_ms(50);
    }
    must_ping(&s, e, "connection in the freed slot");
    must_ping(&s, b, "second connection");
    must_bye(&s, e, "connection in the freed slot");
    must_bye(&s, b, "second connection");
    close(e);
    close(b);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* Connections watched for a timeout ERROR while a busy connection is served beside them. */
typedef struct watch {
    const char *who;
    int fd;
    int64_t since;         /* when the server's timer started */
    const uint8_t *trickle; /* bytes sent one at a time, every TRICKLE_MS, until the ERROR comes */
    size_t trickle_len, trickled;
    int64_t got_at;        /* when the ERROR became readable, 0 before */
} watch;

#define TRICKLE_MS 150

/* Every watched connection must receive ERROR(TIMEOUT) between lo_ms and hi_ms after its `since`,
 * then EOF; meanwhile `busy` is PINGed every 200 ms and must be served. Runs until all ERRORs came
 * and at least min_ms passed. */
static void watch_timeouts(const server *s, watch *wt, int n, int busy, int lo_ms, int hi_ms, int min_ms) {
    char why[WHY];
    int64_t t0 = now_ms(), last_ping = t0;
    int pings = 0;
    for (;;) {
        int64_t now = now_ms();
        int pending = 0;
        struct pollfd p[8];
        for (int i = 0; i < n; i++) {
            p[i].fd = wt[i].fd;
            p[i].events = wt[i].got_at ? 0 : POLLIN;
            p[i].revents = 0;
            pending += !wt[i].got_at;
        }
        if (!pending && now - t0 >= min_ms) break;
        for (int i = 0; i < n; i++)
            if (!wt[i].got_at && now - wt[i].since > hi_ms + 1000)
                fail_msg("--mode %s, %s: no ERROR TIMEOUT %lld ms after the timer started (wanted within %d ms)", s->mode,
                         wt[i].who, (long long)(now - wt[i].since), hi_ms);
        int k = poll(p, (nfds_t)n, 20);
        now = now_ms();
        for (int i = 0; k > 0 && i < n; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            wt[i].got_at = now;
            if (!expect_error(wt[i].fd, WIRE_ETIMEOUT, WIRE_NO_OFFSET, 1000, why, sizeof why))
                fail_msg("--mode %s, %s: %s", s->mode, wt[i].who, why);
            int64_t dt = now - wt[i].since;
            if (dt < lo_ms || dt > hi_ms)
                fail_msg("--mode %s, %s: ERROR TIMEOUT after %lld ms (wanted %d..%d ms)", s->mode, wt[i].who, (long long)dt,
                         lo_ms, hi_ms);
            print_message("  %-9s %s: ERROR TIMEOUT after %lld ms, then EOF\n", s->mode, wt[i].who, (long long)dt);
        }
        for (int i = 0; i < n; i++) {
            watch *x = &wt[i];
            if (x->got_at || x->trickled >= x->trickle_len || now < x->since + (int64_t)x->trickled * TRICKLE_MS) continue;
            /* MSG_NOSIGNAL: the server may have closed; its ERROR is then waiting to be read */
            if (send(x->fd, x->trickle + x->trickled, 1, MSG_NOSIGNAL) == 1) x->trickled++;
        }
        if (busy >= 0 && now - last_ping >= 200) {
            if (!ping(busy, why, sizeof why))
                fail_msg("--mode %s: a busy connection beside the timed-out ones, PING %d after %lld ms: %s", s->mode,
                         pings, (long long)(now - t0), why);
            pings++;
            last_ping = now;
        }
    }
}

/* --idle-timeout 1: an idle connection after HELLO, and one that never says HELLO, get ERROR TIMEOUT
 * after ~1 s; a connection with a frame every 200 ms is served for 3 s. */
static void run_idle_timeout(const char *mode) {
    server s;
    server_start(&s, mode, (const char *const[]){"--idle-timeout", "1", NULL});
    int busy = must_connect(&s);
    must_hello(&s, busy);
    watch wt[2];
    memset(wt, 0, sizeof wt);
    wt[0].who = "idle after HELLO";
    wt[0].fd = must_connect(&s);
    must_hello(&s, wt[0].fd);
    wt[0].since = now_ms();
    wt[1].since = now_ms();
    wt[1].who = "idle without HELLO";
    wt[1].fd = must_connect(&s);
    watch_timeouts(&s, wt, 2, busy, 900, 2500, 3000);
    must_bye(&s, busy, "the busy connection, 3 s later");
    close(busy);
    close(wt[0].fd);
    close(wt[1].fd);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* --frame-timeout 1 (idle timeout 30 s, so only the frame timeout can fire): 5 bytes of a header and
 * silence, a frame trickled one byte every 150 ms, and half a HELLO header before the handshake: each
 * gets ERROR TIMEOUT ~1 s after its first byte. */
static void run_frame_timeout(const char *mode) {
    static const uint8_t ping_frame[] = {1, 0, 0x00, 0x03, 0, 0, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                         11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                         29, 30, 31, 32};
    static const uint8_t hello_header[] = {1, 0, 0x00, 0x01, 0};
    server s;
    server_start(&s, mode, (const char *const[]){"--idle-timeout", "30", "--frame-timeout", "1", NULL});
    int busy = must_connect(&s);
    must_hello(&s, busy);
    watch wt[3];
    memset(wt, 0, sizeof wt);
    wt[0].who = "5 header bytes, then silence";
    wt[0].fd = must_connect(&s);
    must_hello(&s, wt[0].fd);
    must_send(&s, wt[0].fd, ping_frame, 5, wt[0].who);
    wt[0].since = now_ms();
    wt[1].who = "a PING trickled 1 byte / 150 ms";
    wt[1].fd = must_connect(&s);
    must_hello(&s, wt[1].fd);
    wt[1].trickle = ping_frame;
    wt[1].trickle_len = sizeof ping_frame;
    wt[1].since = now_ms();
    wt[2].who = "5 bytes of a HELLO header";
    wt[2].fd = must_connect(&s);
    must_send(&s, wt[2].fd, hello_header, sizeof hello_header, wt[2].who);
    wt[2].since = now_ms();
    watch_timeouts(&s, wt, 3, busy, 900, 2500, 2000);
    must_bye(&s, busy, "the busy connection");
    for (int i = 0; i < 3; i++) close(wt[i].fd);
    close(busy);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* Sends 64 KiB ECHO frames on fd (made non-blocking) and never reads, until the server stops taking
 * them (no progress for 1 s: *stalled) or `limit` bytes went out, sampling the server's VmRSS. */
static uint64_t flood_without_reading(const server *s, int fd, uint64_t limit, bool *stalled, long *rss_max) {
    enum { FRAME = WIRE_HEADER_SIZE + 65536 };
    uint8_t *frame = malloc(FRAME);
    assert_non_null(frame);
    wire_header_encode(frame, WIRE_MSG_ECHO, 65536);
    fill_random(frame + WIRE_HEADER_SIZE, 65536, seed_for("flood", 0));
    assert_int_equal(wire_set_nonblocking(fd, true), WIRE_OK);
    uint64_t sent = 0, next_sample = 0;
    size_t off = 0;
    int64_t t0 = now_ms();
    *stalled = false;
    while (sent < limit && now_ms() - t0 < 30000) {
        if (sent >= next_sample) {
            long r = vm_rss_kib(s->pid);
            if (r > *rss_max) *rss_max = r;
            next_sample += 4u << 20;
        }
        ssize_t n = send(fd, frame + off, FRAME - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += (uint64_t)n;
            off = (off + (size_t)n) % FRAME;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {fd, POLLOUT, 0};
            if (poll(&p, 1, 1000) == 0) { /* nothing taken for a second: the server stopped reading */
                *stalled = true;
                break;
            }
            continue;
        }
        free(frame);
        fail_msg("--mode %s: the non-reading client's send failed after %llu bytes: %s", s->mode, (unsigned long long)sent,
                 strerror(errno));
    }
    long r = vm_rss_kib(s->pid);
    if (r > *rss_max) *rss_max = r;
    free(frame);
    return sent;
}

static double tree_cpu_seconds(pid_t pid);

/* --max-queued 1 MiB: a client pipelines 64 KiB ECHOs and never reads. The server must stop reading
 * it (the client's non-blocking send ends in EAGAIN for good) with its memory bounded (VmRSS under
 * 64 MiB while the client tries to send 200 MiB), while another client is served normally. */
static void run_max_queued(const char *mode) {
    const long limit_kib = 64 * 1024;
    server s;
    char why[WHY];
    bool stalled;
    server_start(&s, mode, (const char *const[]){"--max-queued", "1048576", "--idle-timeout", "60", NULL});
    long rss0 = vm_rss_kib(s.pid), rss_max = rss0;
    if (rss0 < 0) skip(); /* no /proc */
    int x = must_connect(&s);
    must_hello(&s, x);
    uint64_t sent = flood_without_reading(&s, x, 200ull << 20, &stalled, &rss_max);
    /* Stopped by backpressure, the server must wait for the socket, not poll it: a loop that asks for
     * reads it will not do costs a whole core while its memory stays flat. */
    double cpu0 = tree_cpu_seconds(s.pid);
    sleep_ms(1000);
    double stall_cpu = tree_cpu_seconds(s.pid) - cpu0;
    if (stalled && cpu0 >= 0 && stall_cpu > 0.25)
        fail_msg("--mode %s: %.2f s of CPU in 1 s while a client that does not read held it under backpressure", mode,
                 stall_cpu);
    /* another client is served meanwhile */
    int y = must_connect(&s);
    must_hello(&s, y);
    size_t cap = WIRE_HEADER_SIZE + 65536;
    uint8_t *sbuf = malloc(65536), *rbuf = malloc(cap);
    assert_true(sbuf && rbuf);
    fill_random(sbuf, 65536, seed_for("queued", 1));
    if (!request(y, WIRE_MSG_ECHO, sbuf, 65536, WIRE_MSG_ECHO_REPLY, sbuf, 65536, rbuf, cap, why, sizeof why))
        fail_msg("--mode %s: a second client beside the one that does not read: %s", mode, why);
    free(sbuf);
    free(rbuf);
    must_ping(&s, y, "the second client");
    must_bye(&s, y, "the second client");
    close(y);
    long r = vm_rss_kib(s.pid);
    if (r > rss_max) rss_max = r;
    close(x); /* with unread replies: an RST, which the server must take in its stride */
    print_message("queued  %-9s the non-reading client got %.1f MiB in before the server stopped reading; server "
                  "VmRSS %ld KiB at start, at most %ld KiB; %.2f s of CPU in 1 s stalled\n",
                  mode, (double)sent / (1 << 20), rss0, rss_max, stall_cpu);
    if (!stalled)
        fail_msg("--mode %s: the server read %.1f MiB from a client that never reads its replies (no backpressure)", mode,
                 (double)sent / (1 << 20));
    if (rss_max > limit_kib)
        fail_msg("--mode %s: server VmRSS reached %ld KiB (limit %ld KiB) with --max-queued 1 MiB", mode, rss_max, limit_kib);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* SIGTERM with stuck clients: one that never reads its replies, one idle after HELLO, one with 5
 * bytes of a header. SPEC 9.3: in-flight frames are finished and queued replies sent "within the
 * frame timeout" (1 s here), then every connection is closed: the server must exit 0 within 5 s --
 * not after the 60 s idle timeout. The idle client sees a clean EOF. */
static void run_sigterm_stuck_clients(const char *mode) {
    server s;
    bool stalled;
    long rss = 0;
    char why[WHY], st_text[64];
    uint8_t buf[4096];
    wire_frame f;
    server_start(&s, mode,
                 (const char *const[]){"--frame-timeout", "1", "--idle-timeout", "60", "--max-queued", "1048576", NULL});
    int x = must_connect(&s);
    must_hello(&s, x);
    (void)flood_without_reading(&s, x, 64ull << 20, &stalled, &rss);
    int y = must_connect(&s);
    must_hello(&s, y);
    int z = must_connect(&s);
    must_hello(&s, z);
    must_send(&s, z, (const uint8_t[]){1, 0, 0, 3, 0}, 5, "5 bytes of a header");
    int64_t t0 = now_ms();
    assert_int_equal(kill(s.pid, SIGTERM), 0);
    int st = wait_for(s.pid, 6000);
    int64_t dt = now_ms() - t0;
    if (st == -1) kill_wait(s.pid);
    /* the idle client: EOF, nothing else */
    bool y_ok = expect_eof(y, 1000, why, sizeof why);
    if (!y_ok) print_error("  --mode %s, the idle client after SIGTERM: %s\n", mode, why);
    /* the one with half a header: EOF, or ERROR TIMEOUT then EOF; never half a frame */
    assert_int_equal(wire_set_timeouts(z, 1000, 1000), WIRE_OK);
    rd r = read_frame(z, buf, sizeof buf, &f, why, sizeof why);
    bool z_ok = r == RD_END || (r == RD_OK && f.type == WIRE_MSG_ERROR);
    if (!z_ok) print_error("  --mode %s, the client with half a header after SIGTERM: %s\n", mode, why);
    close(x);
    close(y);
    close(z);
    if (st == -1)
        fail_msg("--mode %s: still running %lld ms after SIGTERM with a client that does not read (frame timeout 1 s; "
                 "killed)", mode, (long long)dt);
    if (!exited_ok(st))
        fail_msg("--mode %s: after SIGTERM: %s (wanted exit 0)", mode, status_text(st, st_text, sizeof st_text));
    if (dt > 5000) fail_msg("--mode %s: exit took %lld ms after SIGTERM (wanted <= 5000)", mode, (long long)dt);
    if (!y_ok || !z_ok) fail_msg("--mode %s: a client saw something else than a clean end after SIGTERM", mode);
    print_message("sigterm %-9s with stuck clients: exit 0 after %lld ms\n", mode, (long long)dt);
}

/* ============================================================================================== */
/* 6. command line                                                                                */
/* ============================================================================================== */

static void test_help(void **state) {
    static const char *const flags[] = {"--mode",         "--host",          "--port",       "--unix",
                                        "--max-payload",  "--max-conns",     "--idle-timeout", "--frame-timeout",
                                        "--max-queued",   "--vectors",       "--quiet",      "--help",
                                        "--loops",        "--version",       "--udp"};
    run_result r;
    char st[64];
    (void)state;
    run_prog(g_server, (const char *const[]){"--help", NULL}, 5000, &r);
    if (!exited_ok(r.status)) fail_msg("wire-server --help: %s (wanted exit 0)", status_text(r.status, st, sizeof st));
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(r.out, flags[i])) {
            print_error("%s", r.out);
            fail_msg("wire-server --help does not mention %s", flags[i]);
        }
    free(r.out);
}

static void test_bad_flags(void **state) {
    static const char *const bad[][4] = {
        {"--no-such-flag", NULL},      {"-x", NULL},          {"extra-argument", NULL},
        {"--mode", "nosuch", NULL},    {"--port", NULL},      {"--max-conns", "0", NULL},
        {"--max-payload", "lots", NULL}, {"--idle-timeout", "-1", NULL}, {"--vectors", "/nonexistent/vectors.txt", NULL},
        {"--port", "99999", NULL},     {"--port", "65536", NULL}, {"--port", "-1", NULL}, {"--port", "7x", NULL},
        {"--udp=yes", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_result r;
        char st[64];
        run_prog(g_server, bad[i], 5000, &r);
        free(r.out);
        if (r.status == -1 || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 2)
            fail_msg("wire-server %s %s: %s (wanted exit status 2)", bad[i][0], bad[i][1] ? bad[i][1] : "",
                     status_text(r.status, st, sizeof st));
    }
}

/* A bad number is refused with exit status 2 and a message that names the option and its range. */
static void test_bad_numbers(void **state) {
    static const char *const cases[][3] = {
        {"--max-conns", "0", "from 1 to 1000000"},          {"--max-payload", "1036", "from 1037 to 4294967287"},
        {"--idle-timeout", "0.5", "from 1 to 86400 seconds"}, {"--frame-timeout", "99999999999999999999", "to 86400"},
        {"--loops", "257", "from 0 to 256"},                 {"--max-queued", "-5", "from 1024 to"},
        {"--port", "65536", "from 0 to 65535"},              {"--port", " 7", "from 0 to 65535"},
    };
    char log[128];
    (void)state;
    snprintf(log, sizeof log, "/tmp/wire-test-numbers-%ld.log", (long)getpid());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r;
        char st[64], text[512] = "";
        g_spawn_stderr = log;
        run_prog(g_server, (const char *const[]){cases[i][0], cases[i][1], NULL}, 5000, &r);
        g_spawn_stderr = NULL;
        free(r.out);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f) fclose(f);
        text[n] = '\0';
        if (r.status == -1 || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 2)
            fail_msg("wire-server %s '%s': %s (wanted exit status 2)", cases[i][0], cases[i][1],
                     status_text(r.status, st, sizeof st));
        if (!strstr(text, cases[i][0]) || !strstr(text, cases[i][2]))
            fail_msg("wire-server %s '%s' said '%s' (wanted the option and '%s')", cases[i][0], cases[i][1], text,
                     cases[i][2]);
    }
    unlink(log);
}

/* Every log line starts with an ISO 8601 UTC time to the millisecond: 2026-01-31T23:59:59.123Z. */
static bool stamped(const char *line) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ wire-server: ";
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !(line[i] >= '0' && line[i] <= '9') : line[i] != shape[i]) return false;
    return true;
}

static void test_log_timestamps(void **state) {
    server s;
    char log[128], line[1024], why[WHY];
    int out, lines = 0;
    (void)state;
    snprintf(log, sizeof log, "/tmp/wire-test-stamps-%ld.log", (long)getpid());
    memset(&s, 0, sizeof s);
    snprintf(s.mode, sizeof s.mode, "epoll");
    g_spawn_stderr = log;
    s.pid = spawn(g_server, (const char *const[]){"--port", "0", NULL}, &out);
    g_spawn_stderr = NULL;
    char first[32] = "";
    struct pollfd p = {out, POLLIN, 0};
    if (poll(&p, 1, 5000) == 1) {
        ssize_t got = read(out, first, sizeof first - 1);
        first[got > 0 ? got : 0] = '\0';
    }
    close(out);
    snprintf(s.port, sizeof s.port, "%d", atoi(first));
    if (atoi(first) <= 0) fail_msg("no port from the server");
    int fd = must_connect(&s);
    must_hello(&s, fd);
    must_bye(&s, fd, "a client");
    close(fd);
    fd = must_connect(&s); /* one refused: its ERROR is logged too */
    if (wire_write_all(fd, "GET / HTTP/1.0\r\n\r\n", 18) != WIRE_OK ||
        !expect_error(fd, WIRE_EVERSION, 0, 2000, why, sizeof why))
        fail_msg("an HTTP request: %s", why);
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
    FILE *f = fopen(log, "r");
    if (!f) fail_msg("%s: %s", log, strerror(errno));
    bool bad = false;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (!stamped(line)) {
            print_error("no timestamp: %s", line);
            bad = true;
        }
    }
    fclose(f);
    unlink(log);
    if (bad) fail_msg("wire-server wrote log lines without an ISO 8601 UTC timestamp");
    if (lines < 4) fail_msg("%d log lines (wanted: listening, two closed, stopped)", lines);
}

/* --unix PATH: a stale socket file there is replaced; the exchange passes over the Unix socket (and
 * TCP still works); the file is removed at exit. */
static void run_unix_socket(const char *mode) {
    server s;
    run_result r;
    struct stat sb;
    char err[WIRE_ERRBUF_SIZE], why[WHY], what[96];
    int fd;
    snprintf(g_unix_path, sizeof g_unix_path, "/tmp/srvtest-%ld-%s.sock", (long)getpid(), mode);
    /* a stale socket file, as a crashed server leaves */
    assert_int_equal(wire_unix_listen(g_unix_path, 1, &fd, err, sizeof err), WIRE_OK);
    close(fd);
    assert_int_equal(stat(g_unix_path, &sb), 0);
    server_start(&s, mode, (const char *const[]){"--unix", g_unix_path, NULL});
    if (stat(g_unix_path, &sb) != 0 || !S_ISSOCK(sb.st_mode)) fail_msg("--unix %s: no socket file", g_unix_path);
    run_prog(g_client, (const char *const[]){"--unix", g_unix_path, NULL}, 60000, &r);
    snprintf(what, sizeof what, "--mode %s over --unix", mode);
    check_client_run(&r, what);
    free(r.out);
    if (wire_unix_connect(g_unix_path, &fd, err, sizeof err) != WIRE_OK) fail_msg("--mode %s: %s", mode, err);
    assert_int_equal(wire_set_timeouts(fd, IO_TIMEOUT_MS, IO_TIMEOUT_MS), WIRE_OK);
    if (!hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, why, sizeof why) || !ping(fd, why, sizeof why) ||
        !bye(fd, why, sizeof why))
        fail_msg("--mode %s, over the Unix socket: %s", mode, why);
    close(fd);
    fd = must_connect(&s);
    must_hello(&s, fd);
    must_ping(&s, fd, "TCP beside --unix");
    must_bye(&s, fd, "TCP beside --unix");
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
    if (stat(g_unix_path, &sb) == 0) fail_msg("--mode %s: the socket file %s is still there after exit", mode, g_unix_path);
    g_unix_path[0] = '\0';
}

static void test_ipv6(void **state) {
    server s;
    run_result r;
    char err[WIRE_ERRBUF_SIZE], why[WHY];
    int fd;
    (void)state;
    if (wire_tcp_listen("::1", "0", 1, &fd, err, sizeof err) != WIRE_OK) skip(); /* no IPv6 loopback */
    close(fd);
    server_start(&s, "epoll", (const char *const[]){"--host", "::1", NULL});
    run_prog(g_client, (const char *const[]){"--host", "::1", "--port", s.port, NULL}, 60000, &r);
    check_client_run(&r, "--host ::1");
    free(r.out);
    fd = tcp_open("::1", s.port, why, sizeof why);
    if (fd < 0) fail_msg("%s", why);
    if (!hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, why, sizeof why) || !ping(fd, why, sizeof why) ||
        !bye(fd, why, sizeof why))
        fail_msg("--host ::1: %s", why);
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* ============================================================================================== */
/* 7. further SPEC.md rules for a server                                                          */
/* ============================================================================================== */

/* A second HELLO (8.3 step 3, 8.6): ERROR(UNEXPECTED, 2) */
static const uint8_t second_hello[] = {1, 0, 0x00, 0x01, 0, 0, 0, 15, 0x02, 0, 1, 0x03, 0, 1, 0, 0, 0x40, 0, 0, 0, 2, 'h', '2'};
/* A reply type and an application type: UNEXPECTED 2 */
static const uint8_t reply_type[] = {1, 0, 0x01, 0x01, 0, 0, 0, 0};
static const uint8_t app_type[] = {1, 0, 0x80, 0x00, 0, 0, 0, 1, 0x42};
/* An ERROR from the client: the connection is over, no answer (8.3 step 2, 8.6) */
static const uint8_t peer_error[] = {1, 0, 0x00, 0x02, 0, 0, 0, 15, 0x02, 0, 19, 0x03, 0xff, 0xff, 0xff, 0xff,
                                     0x40, 0, 0, 0, 2, 'n', 'o'};

static const bad_case spec_cases[] = {
    CASE("second HELLO", true, second_hello, WIRE_EUNEXPECTED, 2),
    CASE("a reply type (ECHO_REPLY) sent to the server", true, reply_type, WIRE_EUNEXPECTED, 2),
    CASE("an application type the server does not implement", true, app_type, WIRE_EUNEXPECTED, 2),
    CASE("ERROR from the client after HELLO", true, peer_error, WIRE_OK, 0),
    CASE("ERROR from the client before HELLO", false, peer_error, WIRE_OK, 0),
};

static void run_spec_cases(const char *mode) {
    server s;
    server_start(&s, mode, NULL);
    run_cases_beside_good_clients(&s, spec_cases, sizeof spec_cases / sizeof spec_cases[0], "spec");
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* SPEC 10.1: a reply larger than the max_payload the client announced is ERROR(TOOBIG, none). */
static void run_reply_over_client_max(const char *mode) {
    server s;
    uint8_t p[64], payload[2000];
    char why[WHY];
    server_start(&s, mode, NULL);
    int fd = must_connect(&s);
    size_t n = hello_payload(p, sizeof p, 1, 1037); /* the smallest max_payload (SPEC 8.1) */
    uint8_t buf[2048];
    wire_frame f;
    assert_int_equal(wire_send_frame(fd, WIRE_MSG_HELLO, p, (uint32_t)n), WIRE_OK);
    if (read_frame(fd, buf, sizeof buf, &f, why, sizeof why) != RD_OK || f.type != WIRE_MSG_HELLO)
        fail_msg("--mode %s: no HELLO", mode);
    memset(payload, 0x5a, sizeof payload);
    /* 1037 bytes: exactly the client's limit, answered */
    if (!request(fd, WIRE_MSG_ECHO, payload, 1037, WIRE_MSG_ECHO_REPLY, payload, 1037, buf, sizeof buf, why, sizeof why))
        fail_msg("--mode %s: ECHO of 1037 bytes to a client that accepts 1037: %s", mode, why);
    assert_int_equal(wire_send_frame(fd, WIRE_MSG_ECHO, payload, 1038), WIRE_OK);
    if (!expect_error(fd, WIRE_ETOOBIG, WIRE_NO_OFFSET, 2000, why, sizeof why))
        fail_msg("--mode %s: ECHO of 1038 bytes from a client whose HELLO said max_payload 1037 (SPEC.md 10.1): %s", mode,
                 why);
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* SPEC 9.3 + 8.4: a refused connection is closed gracefully (shutdown, bounded drain, close), so a
 * client that sent HELLO and a few requests at once (allowed by 8.1) still reads ERROR(LIMIT) and
 * then EOF -- not a reset, which may destroy the ERROR in flight. The server is stopped (SIGSTOP)
 * while the client connects and sends, as a busy server would be, so the bytes are always there
 * before it accepts: the outcome does not depend on scheduling. */
static void run_refusal_graceful(const char *mode) {
    enum { PINGS = 16, PING_LEN = 1024 };
    server s;
    char why[WHY];
    int bad = 0;
    uint8_t *burst = malloc(64 + PINGS * (WIRE_HEADER_SIZE + PING_LEN));
    assert_non_null(burst);
    size_t n = hello_payload(burst + WIRE_HEADER_SIZE, 56, 1, WIRE_DEFAULT_MAX_PAYLOAD);
    wire_header_encode(burst, WIRE_MSG_HELLO, (uint32_t)n);
    size_t len = WIRE_HEADER_SIZE + n;
    for (int i = 0; i < PINGS; i++) {
        wire_header_encode(burst + len, WIRE_MSG_PING, PING_LEN);
        memset(burst + len + WIRE_HEADER_SIZE, i, PING_LEN);
        len += WIRE_HEADER_SIZE + PING_LEN;
    }
    server_start(&s, mode, (const char *const[]){"--max-conns", "1", NULL});
    int a = must_connect(&s);
    must_hello(&s, a);
    for (int i = 0; i < 5; i++) {
        freeze(s.pid);
        int c = must_connect(&s); /* the kernel completes the handshake: the server is in listen() */
        must_send(&s, c, burst, len, "a refused connection: HELLO and 16 PINGs at once");
        wait_sent(c);
        assert_int_equal(kill(s.pid, SIGCONT), 0);
        if (!expect_error(c, WIRE_ELIMIT, WIRE_NO_OFFSET, 2000, why, sizeof why)) {
            if (bad++ == 0) print_error("  --mode %s, refused connection %d: %s\n", mode, i, why);
        }
        close(c);
    }
    free(burst);
    must_ping(&s, a, "the connection holding the one slot");
    must_bye(&s, a, "the connection holding the one slot");
    close(a);
    server_stop(&s, STOP_TIMEOUT_MS);
    if (bad)
        fail_msg("--mode %s: %d of 5 refused connections (HELLO + 16 PINGs sent at once) did not read ERROR LIMIT then EOF",
                 mode, bad);
}

/* BYE is answered with BYE then EOF; a frame after BYE is discarded. HELLO and a request in one
 * write (before the server's HELLO arrived) are fine (8.1). */
static void run_bye_and_pipelined_hello(const char *mode) {
    server s;
    uint8_t out[256], buf[256];
    char why[WHY], d[DETAIL];
    wire_frame f;
    server_start(&s, mode, NULL);
    int fd = must_connect(&s);
    size_t n = hello_payload(out + WIRE_HEADER_SIZE, sizeof out - 64, 1, WIRE_DEFAULT_MAX_PAYLOAD);
    wire_header_encode(out, WIRE_MSG_HELLO, (uint32_t)n);
    size_t len = WIRE_HEADER_SIZE + n;
    wire_header_encode(out + len, WIRE_MSG_PING, 3);
    memcpy(out + len + WIRE_HEADER_SIZE, "abc", 3);
    len += WIRE_HEADER_SIZE + 3;
    wire_header_encode(out + len, WIRE_MSG_BYE, 0);
    len += WIRE_HEADER_SIZE;
    wire_header_encode(out + len, WIRE_MSG_PING, 0); /* after BYE: discarded */
    len += WIRE_HEADER_SIZE;
    must_send(&s, fd, out, len, "HELLO+PING+BYE+PING in one write");
    static const uint16_t want[] = {WIRE_MSG_HELLO, WIRE_MSG_PONG, WIRE_MSG_BYE};
    for (size_t i = 0; i < 3; i++) {
        if (read_frame(fd, buf, sizeof buf, &f, why, sizeof why) != RD_OK)
            fail_msg("--mode %s: HELLO+PING+BYE+PING in one write: reply %zu: %s", mode, i, why);
        if (f.type != want[i]) {
            describe_frame(&f, d, sizeof d);
            fail_msg("--mode %s: HELLO+PING+BYE+PING in one write: reply %zu is %s (wanted type 0x%04x)", mode, i, d, want[i]);
        }
    }
    if (!expect_eof(fd, 2000, why, sizeof why)) fail_msg("--mode %s: after BYE: %s", mode, why);
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* ============================================================================================== */
/* Registration                                                                                   */
/* ============================================================================================== */

/* ============================================================================================== */
/* 8. defects the engine fixed (each of these failed against the server before it)                 */
/* ============================================================================================== */

/* HELLO and 1000 PINGs, then shutdown(SHUT_WR): every PONG must come back, in order, then EOF. The
 * epoll and poll models used to free the connection on read() == 0 with its replies unsent. */
static void run_half_close(const char *mode) {
    enum { N = 1000 };
    server s;
    char why[WHY];
    static uint8_t out[64 + N * 12], buf[64];
    server_start(&s, mode, NULL);
    int fd = must_connect(&s);
    size_t n = hello_payload(out + 8, sizeof out - 8, 1, WIRE_DEFAULT_MAX_PAYLOAD);
    wire_header_encode(out, WIRE_MSG_HELLO, (uint32_t)n);
    size_t len = 8 + n;
    for (uint32_t i = 0; i < N; i++, len += 12) {
        wire_header_encode(out + len, WIRE_MSG_PING, 4);
        out[len + 8] = (uint8_t)(i >> 24), out[len + 9] = (uint8_t)(i >> 16);
        out[len + 10] = (uint8_t)(i >> 8), out[len + 11] = (uint8_t)i;
    }
    assert_int_equal(wire_write_all(fd, out, len), WIRE_OK);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    wire_frame f;
    if (read_frame(fd, buf, sizeof buf, &f, why, sizeof why) != RD_OK || f.type != WIRE_MSG_HELLO)
        fail_msg("--mode %s: no HELLO after a half-close: %s", mode, why);
    for (uint32_t i = 0; i < N; i++) {
        if (read_frame(fd, buf, sizeof buf, &f, why, sizeof why) != RD_OK)
            fail_msg("--mode %s: %u of %d PONGs came back after the client's shutdown(SHUT_WR): %s", mode, i, N, why);
        uint32_t k = f.length == 4 ? (uint32_t)f.payload[0] << 24 | (uint32_t)f.payload[1] << 16 |
                                          (uint32_t)f.payload[2] << 8 | f.payload[3]
                                    : UINT32_MAX;
        if (f.type != WIRE_MSG_PONG || k != i) fail_msg("--mode %s: reply %u is not PONG %u", mode, i, i);
    }
    if (!expect_eof(fd, 2000, why, sizeof why)) fail_msg("--mode %s: after the PONGs: %s", mode, why);
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* CPU seconds (user + system) the process has used, from /proc; -1 if unknown. */
static double cpu_seconds(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after "pid (comm)": state, then fields 4..13, then utime (14) and stime (15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The children of pid, each with its state letter from /proc ('Z': exited, not reaped): up to max
 * of them; how many were found. */
static int children_of(pid_t pid, pid_t *kids, char *states, int max) {
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d) return 0;
    struct dirent *e;
    while (n < max && (e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = '\0';
        char *p = strrchr(buf, ')'), state;
        long ppid;
        if (p && sscanf(p + 2, "%c %ld", &state, &ppid) == 2 && ppid == (long)pid) {
            kids[n] = (pid_t)atol(e->d_name);
            states[n++] = state;
        }
    }
    closedir(d);
    return n;
}

/* CPU seconds of pid and of its children (the fork model serves in children), -1 if unknown. */
static double tree_cpu_seconds(pid_t pid) {
    pid_t kids[4096];
    char states[4096];
    double total = cpu_seconds(pid);
    if (total < 0) return -1;
    int n = children_of(pid, kids, states, 4096);
    for (int i = 0; i < n; i++) {
        double c = cpu_seconds(kids[i]);
        if (c > 0) total += c;
    }
    return total;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    if (!f) return -1;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* Out of descriptors (a limit of 24, 60 clients): the server must neither spin (it used to log
 * about 90,000 lines a second at 100 % CPU) nor stop serving once descriptors are free again; the
 * clients it cannot take are refused with ERROR(LIMIT) or closed. */
static void run_out_of_descriptors(const char *mode) {
    enum { N = 60 };
    server s;
    char why[WHY], log[128];
    int fds[N];
    snprintf(log, sizeof log, "/tmp/wire-test-emfile-%ld.log", (long)getpid());
    g_spawn_nofile = 24;
    g_spawn_stderr = log;
    const char *args[] = {"--mode", mode, NULL};
    memset(&s, 0, sizeof s);
    snprintf(s.mode, sizeof s.mode, "%s", mode);
    int out;
    s.pid = spawn(g_server, args, &out);
    g_spawn_nofile = 0;
    g_spawn_stderr = NULL;
    char line[32] = "";
    struct pollfd p = {out, POLLIN, 0};
    if (poll(&p, 1, 5000) == 1) {
        ssize_t got = read(out, line, sizeof line - 1);
        line[got > 0 ? got : 0] = '\0';
    }
    close(out);
    snprintf(s.port, sizeof s.port, "%d", atoi(line));
    if (atoi(line) <= 0) fail_msg("--mode %s: no port from the server", mode);
    for (int i = 0; i < N; i++) fds[i] = must_connect(&s);
    sleep_ms(300);
    double cpu0 = cpu_seconds(s.pid);
    int lines0 = count_lines(log);
    sleep_ms(2000);
    double cpu = cpu_seconds(s.pid) - cpu0;
    int lines = count_lines(log) - lines0;
    if (cpu0 >= 0 && cpu > 0.3) fail_msg("--mode %s: %.2f s of CPU in 2 s while out of descriptors", mode, cpu);
    if (lines > 10) fail_msg("--mode %s: %d log lines in 2 s while out of descriptors", mode, lines);
    for (int i = 0; i < N; i++) close(fds[i]);
    sleep_ms(200);
    int64_t until = now_ms() + 5000;
    for (;;) { /* descriptors are free again: a new client is served */
        int fd = must_connect(&s);
        bool ok = hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, why, sizeof why) && ping(fd, why, sizeof why) &&
                  bye(fd, why, sizeof why);
        close(fd);
        if (ok) break;
        if (now_ms() > until) fail_msg("--mode %s: not served 5 s after descriptors were freed: %s", mode, why);
        sleep_ms(100);
    }
    server_stop(&s, STOP_TIMEOUT_MS);
    unlink(log);
}

/* Children of pid in state Z (exited, not reaped). */
static int zombies_of(pid_t pid) {
    pid_t kids[4096];
    char states[4096];
    int n = children_of(pid, kids, states, 4096), z = 0;
    for (int i = 0; i < n; i++) z += states[i] == 'Z';
    return z;
}

/* fork: 20 clients come and go; their children are reaped at once (SIGCHLD), not left <defunct>
 * until the next accept (15 of 20 were still there 2 s later). */
static void test_fork_reaps_children(void **state) {
    server s;
    char why[WHY];
    (void)state;
    server_start(&s, "fork", NULL);
    for (int i = 0; i < 20; i++) {
        int fd = must_connect(&s);
        if (!hello(fd, WIRE_DEFAULT_MAX_PAYLOAD, NULL, why, sizeof why) || !bye(fd, why, sizeof why))
            fail_msg("client %d: %s", i, why);
        close(fd);
    }
    int64_t until = now_ms() + 500;
    int z;
    while ((z = zombies_of(s.pid)) > 0 && now_ms() < until) sleep_ms(10);
    if (z > 0) fail_msg("--mode fork: %d zombie children 500 ms after the last client left", z);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* Over --max-conns, 30 clients at once: each gets ERROR(LIMIT) promptly. Refusing used to block the
 * accepting loop 200 ms per client in fork and thread (the 30th waited 6 s). */
static void run_refusals_do_not_queue(const char *mode) {
    enum { N = 30 };
    server s;
    char why[WHY];
    int fds[N];
    server_start(&s, mode, (const char *const[]){"--max-conns", "2", NULL});
    int a = must_connect(&s), b = must_connect(&s);
    must_hello(&s, a);
    must_hello(&s, b);
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++) fds[i] = must_connect(&s);
    /* the clients neither read nor close until every ERROR has arrived: a server that drains each
     * refused connection in turn makes the last one wait N drains */
    int arrived = 0;
    bool seen[N] = {false};
    while (arrived < N && now_ms() - t0 < 10000) {
        struct pollfd p[N];
        for (int i = 0; i < N; i++) p[i] = (struct pollfd){fds[i], seen[i] ? 0 : POLLIN, 0};
        if (poll(p, N, 100) < 0 && errno != EINTR) fail_msg("poll: %s", strerror(errno));
        for (int i = 0; i < N; i++)
            if (!seen[i] && p[i].revents) seen[i] = true, arrived++;
    }
    int64_t dt = now_ms() - t0;
    if (arrived < N || dt > 2000)
        fail_msg("--mode %s: %d of %d refused clients had their ERROR after %lld ms", mode, arrived, N, (long long)dt);
    for (int i = 0; i < N; i++) {
        if (!expect_error(fds[i], WIRE_ELIMIT, WIRE_NO_OFFSET, 3000, why, sizeof why))
            fail_msg("--mode %s: refused client %d: %s", mode, i, why);
        close(fds[i]);
    }
    must_ping(&s, a, "first connection");
    must_bye(&s, a, "first connection");
    must_bye(&s, b, "second connection");
    close(a);
    close(b);
    server_stop(&s, STOP_TIMEOUT_MS);
}

/* SIGHUP (a closed terminal) does not stop the server; --version answers. */
static void test_sighup_and_version(void **state) {
    server s;
    run_result r;
    char st[64];
    (void)state;
    server_start(&s, "epoll", NULL);
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    sleep_ms(200);
    int fd = must_connect(&s);
    must_hello(&s, fd);
    must_ping(&s, fd, "after SIGHUP");
    must_bye(&s, fd, "after SIGHUP");
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);
    for (const char *prog = g_server; prog; prog = prog == g_server ? g_client : NULL) {
        run_prog(prog, (const char *const[]){"--version", NULL}, 5000, &r);
        if (!exited_ok(r.status) || !strstr(r.out, "protocol version 1"))
            fail_msg("%s --version: %s, printed '%s'", prog, status_text(r.status, st, sizeof st), r.out);
        free(r.out);
    }
}

/* ============================================================================================== */
/* 9. the message-level cases of proto/sessions.txt, every one, in every model                      */
/* ============================================================================================== */

typedef struct session_job {
    const ws_file *file;
    const server *srv;
    size_t next, count; /* the sessions: each worker takes the next one */
    pthread_mutex_t lock;
    char failures[16384];
    int failed;
} session_job;

static void *session_worker(void *arg) {
    session_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t k = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (k >= j->count) return NULL;
        const ws_session *s = &j->file->sessions[k];
        char why[1200];
        if (ws_run(j->file, s, "127.0.0.1", j->srv->port, why, sizeof why) != 0) {
            pthread_mutex_lock(&j->lock);
            size_t at = strlen(j->failures);
            snprintf(j->failures + at, sizeof j->failures - at, "  session %s (SPEC %s): %s\n", s->name, s->spec, why);
            j->failed++;
            pthread_mutex_unlock(&j->lock);
        }
    }
}

static void run_sessions(const char *mode) {
    ws_file file;
    char path[512], err[512], config[256];
    if (ws_load(proto_path("sessions.txt", path, sizeof path), &file, err, sizeof err)) fail_msg("%s", err);
    const char *args[16];
    size_t n = 0;
    snprintf(config, sizeof config, "%s", file.config);
    for (char *t = strtok(config, " "); t && n < 15; t = strtok(NULL, " ")) args[n++] = t;
    args[n] = NULL;
    server s;
    server_start(&s, mode, args);
    session_job j;
    memset(&j, 0, sizeof j);
    j.file = &file;
    j.srv = &s;
    j.count = file.count;
    pthread_mutex_init(&j.lock, NULL);
    /* one at a time for the iterative server (it serves one connection at a time); else at once */
    int workers = strcmp(mode, "iterative") == 0 ? 1 : 16;
    pthread_t t[16];
    for (int i = 0; i < workers; i++) assert_int_equal(pthread_create(&t[i], NULL, session_worker, &j), 0);
    for (int i = 0; i < workers; i++) pthread_join(t[i], NULL);
    pthread_mutex_destroy(&j.lock);
    server_stop(&s, STOP_TIMEOUT_MS);
    size_t total = file.count;
    ws_free(&file);
    assert_true(total >= 78); /* the file's sessions when this test was written: a truncated file fails */
    if (j.failed) fail_msg("--mode %s: %d of %zu sessions of proto/sessions.txt failed:\n%s", mode, j.failed, total,
                           j.failures);
}

/* ============================================================================================== */
/* 10. UDP (SPEC 15): proto/udp.txt against wire-server --udp, and wire-client --udp through loss   */
/* ============================================================================================== */

/* One datagram to the server's UDP port from a fresh socket, and what came back (SPEC 15.8 and
 * proto/README.md 10: the answer within a bound; for `none`, nothing within 300 ms, then a PING with
 * another id whose PONG must be the next datagram). */
static bool udp_run_case(const udp_case *c, const char *port, uint8_t *buf, char *why, size_t wlen) {
    char err[WIRE_ERRBUF_SIZE];
    int fd;
    size_t n = 0;
    bool cut, ok;
    if (wire_udp_connect("127.0.0.1", port, &fd, err, sizeof err) != WIRE_OK) {
        snprintf(why, wlen, "%s: %s", c->name, err);
        return false;
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (wire_udp_send(fd, c->dgram, c->len, NULL) != WIRE_OK) {
        snprintf(why, wlen, "%s: cannot send", c->name);
        close(fd);
        return false;
    }
    bool got = poll(&p, 1, c->kind == UC_NONE ? 300 : IO_TIMEOUT_MS) == 1 &&
               wire_udp_recv(fd, buf, WIRE_UDP_RECV_SIZE, &n, &cut, NULL) == WIRE_OK;
    ok = udp_case_check(c, got, buf, n, why, wlen);
    if (ok) { /* still serving, and nothing more was sent: the next datagram is the probe's PONG */
        static const uint8_t probe[] = {0x5e, 0x5e, 0x5e, 0x5e, 1, 0, 0, 3, 0, 0, 0, 1, 0x42};
        static const uint8_t pong[] = {0x5e, 0x5e, 0x5e, 0x5e, 1, 0, 0, 4, 0, 0, 0, 1, 0x42};
        got = wire_udp_send(fd, probe, sizeof probe, NULL) == WIRE_OK && poll(&p, 1, IO_TIMEOUT_MS) == 1 &&
              wire_udp_recv(fd, buf, WIRE_UDP_RECV_SIZE, &n, &cut, NULL) == WIRE_OK;
        ok = got && n == sizeof pong && memcmp(buf, pong, n) == 0;
        if (!ok) snprintf(why, wlen, "%s: the PING after it got %s", c->name, got ? "another datagram" : "no PONG");
    }
    close(fd);
    return ok;
}

/* Every case of proto/udp.txt against the server started with sessions.txt's configuration and --udp. */
static void run_udp_cases(const char *mode) {
    ws_file file;
    udp_case *cs;
    size_t ncases;
    char path[512], err[1200], config[256], why[512], failures[8192] = "";
    static uint8_t buf[WIRE_UDP_RECV_SIZE];
    if (ws_load(proto_path("sessions.txt", path, sizeof path), &file, err, sizeof err)) fail_msg("%s", err);
    if (udp_cases_load(proto_path("udp.txt", path, sizeof path), &cs, &ncases, err, sizeof err)) fail_msg("%s", err);
    const char *args[16];
    size_t n = 0;
    snprintf(config, sizeof config, "%s", file.config);
    ws_free(&file);
    for (char *t = strtok(config, " "); t && n < 14; t = strtok(NULL, " ")) args[n++] = t;
    args[n++] = "--udp";
    args[n] = NULL;
    server s;
    server_start(&s, mode, args);
    int failed = 0;
    for (size_t i = 0; i < ncases; i++)
        if (!udp_run_case(&cs[i], s.port, buf, why, sizeof why)) {
            size_t at = strlen(failures);
            snprintf(failures + at, sizeof failures - at, "  %s\n", why);
            failed++;
        }
    server_stop(&s, STOP_TIMEOUT_MS);
    udp_cases_free(cs, ncases);
    assert_true(ncases >= 43); /* the file's cases when this test was written */
    if (failed) fail_msg("--mode %s --udp: %d of %zu cases of proto/udp.txt failed:\n%s", mode, failed, ncases, failures);
}

/* A relay between wire-client and the server that loses, duplicates and reorders datagrams both
 * ways, as interop/run_all.sh's relay does: each datagram is dropped with probability 1/20, sent
 * twice with 1/20, and held back with 1/20 until the next one in that direction has gone (or 30 ms
 * passed). Seeded (WIRE_TEST_SEED): a failure replays. */
typedef struct relay {
    int outer;              /* bound: the client sends here */
    int inner;              /* connected to the server */
    wire_udp_addr client;   /* learnt from the client's first datagram */
    int stop;
    uint64_t rng;
    unsigned long forwarded, dropped, duplicated, held;
    uint8_t held_buf[2][WIRE_UDP_RECV_SIZE];
    size_t held_len[2];     /* 0: nothing held (an empty datagram is never held) */
} relay;

static void relay_out(relay *r, int dir, const uint8_t *d, size_t n) {
    wire_err ignored = dir == 0 ? wire_udp_send(r->inner, d, n, NULL) : wire_udp_send(r->outer, d, n, &r->client);
    (void)ignored; /* a failed send is one more loss */
}

static void relay_flush(relay *r, int dir) {
    if (!r->held_len[dir]) return;
    relay_out(r, dir, r->held_buf[dir], r->held_len[dir]);
    r->held_len[dir] = 0;
}

static void *relay_main(void *arg) {
    relay *r = arg;
    static uint8_t d[2][WIRE_UDP_RECV_SIZE];
    while (!atomic_get(&r->stop)) {
        struct pollfd p[2] = {{r->outer, POLLIN, 0}, {r->inner, POLLIN, 0}};
        if (poll(p, 2, 30) <= 0) { /* quiet: what is held goes now */
            relay_flush(r, 0);
            relay_flush(r, 1);
            continue;
        }
        for (int dir = 0; dir < 2; dir++) {
            size_t n;
            bool cut;
            wire_udp_addr from;
            if (!(p[dir].revents & POLLIN)) continue;
            if (wire_udp_recv(p[dir].fd, d[dir], sizeof d[dir], &n, &cut, dir == 0 ? &from : NULL) != WIRE_OK) continue;
            if (dir == 0) r->client = from;
            else if (r->client.len == 0) continue;
            unsigned roll = (unsigned)(splitmix(&r->rng) % 20);
            if (roll < 1) {
                r->dropped++;
                continue;
            }
            if (roll == 1 && n > 0 && !r->held_len[dir]) {
                memcpy(r->held_buf[dir], d[dir], n);
                r->held_len[dir] = n;
                r->held++;
                continue;
            }
            relay_out(r, dir, d[dir], n);
            if (roll == 19) {
                relay_out(r, dir, d[dir], n);
                r->duplicated++;
            }
            r->forwarded++;
            relay_flush(r, dir); /* the held one now comes after a later one: reordered */
        }
    }
    return NULL;
}

/* wire-client --udp against wire-server --udp through the lossy relay: every case passes, and the
 * loss was real (the relay dropped and duplicated; the client resent and dropped duplicates). */
static void run_udp_lossy(const char *mode) {
    char err[WIRE_ERRBUF_SIZE], port[8], log[128], text[4096] = "";
    uint16_t rp;
    relay *r = calloc(1, sizeof *r);
    assert_non_null(r);
    server s;
    server_start(&s, mode, (const char *const[]){"--udp", NULL});
    assert_int_equal(wire_udp_bind("127.0.0.1", "0", &r->outer, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_udp_connect("127.0.0.1", s.port, &r->inner, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_local_port(r->outer, &rp), WIRE_OK);
    snprintf(port, sizeof port, "%u", (unsigned)rp);
    r->rng = seed_for(mode, 0x0d9u); /* per mode, from the run's seed */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, relay_main, r), 0);
    snprintf(log, sizeof log, "/tmp/wire-test-udp-%ld.log", (long)getpid());
    run_result res;
    g_spawn_stderr = log;
    run_prog(g_client, (const char *const[]){"--udp", "--port", port, "--quiet", NULL}, 300000, &res);
    g_spawn_stderr = NULL;
    atomic_set(&r->stop, 1);
    pthread_join(t, NULL);
    FILE *f = fopen(log, "r");
    size_t tn = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[tn] = '\0';
    unlink(log);
    close(r->outer);
    close(r->inner);
    unsigned long sent = 0, resent = 0, dropped = 0;
    const char *at = strstr(text, "udp: ");
    bool counted = at && sscanf(at, "udp: %lu datagrams sent, %lu of them resent, %lu received and dropped", &sent,
                                &resent, &dropped) == 3;
    char what[64];
    snprintf(what, sizeof what, "--mode %s --udp through a lossy relay", mode);
    print_message("udp lossy %-9s %lld ms: relay forwarded %lu, dropped %lu, duplicated %lu, held %lu; client sent %lu, "
                  "resent %lu, dropped %lu\n",
                  mode, (long long)res.ms, r->forwarded, r->dropped, r->duplicated, r->held, sent, resent, dropped);
    unsigned long r_drop = r->dropped, r_dup = r->duplicated;
    free(r);
    check_client_run(&res, what);
    free(res.out);
    server_stop(&s, STOP_TIMEOUT_MS);
    if (!counted) fail_msg("%s: no 'udp: ... sent' line from wire-client on stderr: '%s'", what, text);
    if (r_drop == 0 || r_dup == 0 || resent == 0 || dropped == 0)
        fail_msg("%s: the loss was not real (relay dropped %lu, duplicated %lu; client resent %lu, dropped %lu)", what,
                 r_drop, r_dup, resent, dropped);
}

/* --max-payload bounds UDP too (min(65495, it)); a UDP port in use with a fixed --port is an error
 * (exit 1, said on stderr), not a server without UDP; and without --udp there is no UDP at all. */
static void test_udp_options(void **state) {
    static uint8_t buf[WIRE_UDP_RECV_SIZE], big[2100];
    char err[WIRE_ERRBUF_SIZE], st[64], log[128], text[1024] = "";
    int fd, taken;
    size_t n;
    bool cut;
    wire_error_msg m;
    (void)state;
    server s;
    server_start(&s, "epoll", (const char *const[]){"--udp", "--max-payload", "2000", NULL});
    assert_int_equal(wire_udp_connect("127.0.0.1", s.port, &fd, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_set_timeouts(fd, IO_TIMEOUT_MS, IO_TIMEOUT_MS), WIRE_OK);
    for (size_t len = 2000; len <= 2001; len++) {
        assert_int_equal(wire_udp_send_frame(fd, (uint32_t)len, WIRE_MSG_ECHO, big, len, NULL), WIRE_OK);
        assert_int_equal(wire_udp_recv(fd, buf, sizeof buf, &n, &cut, NULL), WIRE_OK);
        assert_true(n >= 12 && wire__load32(buf) == len);
        if (len == 2000) {
            assert_true(n == 12 + 2000 && wire__load16(buf + 6) == WIRE_MSG_ECHO_REPLY);
        } else {
            assert_int_equal(wire__load16(buf + 6), WIRE_MSG_ERROR);
            assert_int_equal(wire_get_error_msg(buf + 12, n - 12, &m, NULL), WIRE_OK);
            assert_true(m.code == WIRE_ETOOBIG && m.offset == 4);
        }
    }
    close(fd);
    server_stop(&s, STOP_TIMEOUT_MS);

    uint16_t p;
    char port[8];
    assert_int_equal(wire_udp_bind("127.0.0.1", "0", &taken, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_local_port(taken, &p), WIRE_OK);
    snprintf(port, sizeof port, "%u", (unsigned)p);
    snprintf(log, sizeof log, "/tmp/wire-test-udp-taken-%ld.log", (long)getpid());
    run_result r;
    g_spawn_stderr = log;
    run_prog(g_server, (const char *const[]){"--udp", "--port", port, NULL}, 5000, &r);
    g_spawn_stderr = NULL;
    close(taken);
    FILE *f = fopen(log, "r");
    size_t tn = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[tn] = '\0';
    unlink(log);
    if (r.status == -1 || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 1 || r.len != 0 || !strstr(text, "udp bind"))
        fail_msg("wire-server --udp --port %s with UDP %s taken: %s, stdout '%s', stderr '%s' (wanted exit 1, no port, "
                 "the reason)", port, port, status_text(r.status, st, sizeof st), r.out, text);
    free(r.out);
}

static void run_udp_interop(const char *mode) {
    server s;
    run_result r;
    char what[64];
    server_start(&s, mode, (const char *const[]){"--udp", NULL});
    run_prog(g_client, (const char *const[]){"--udp", "--port", s.port, NULL}, 120000, &r);
    snprintf(what, sizeof what, "--mode %s --udp", mode);
    check_client_run(&r, what);
    free(r.out);
    /* TCP is still served beside it */
    run_prog(g_client, (const char *const[]){"--port", s.port, "--quiet", NULL}, 60000, &r);
    check_client_run(&r, what);
    free(r.out);
    int64_t dt = server_stop(&s, STOP_TIMEOUT_MS);
    print_message("udp interop %-9s exit 0 %lld ms after SIGTERM\n", mode, (long long)dt);
}

#define PER_MODE(fn, mode)                                                                                            \
    static void test_##fn##_##mode(void **state) {                                                                    \
        (void)state;                                                                                                  \
        run_##fn(#mode);                                                                                              \
    }
#define CONCURRENT(fn) PER_MODE(fn, epoll) PER_MODE(fn, poll) PER_MODE(fn, select) PER_MODE(fn, fork) PER_MODE(fn, thread)

CONCURRENT(interop)
PER_MODE(interop, iterative)
CONCURRENT(stress)
PER_MODE(stress, epoll2)
PER_MODE(interop, epoll2)
PER_MODE(sigterm, epoll2)
PER_MODE(max_conns, epoll2)
CONCURRENT(malformed)
CONCURRENT(sigterm)
CONCURRENT(sigterm_stuck_clients)
CONCURRENT(max_conns)
CONCURRENT(idle_timeout)
CONCURRENT(frame_timeout)
PER_MODE(max_queued, epoll)
PER_MODE(max_queued, poll)
PER_MODE(max_queued, select)
CONCURRENT(unix_socket)
PER_MODE(unix_socket, iterative)
CONCURRENT(spec_cases)
CONCURRENT(reply_over_client_max)
CONCURRENT(refusal_graceful)
CONCURRENT(bye_and_pipelined_hello)
CONCURRENT(half_close)
PER_MODE(half_close, iterative)
CONCURRENT(out_of_descriptors)
CONCURRENT(refusals_do_not_queue)
CONCURRENT(sessions)
PER_MODE(sessions, iterative)
CONCURRENT(udp_cases)
PER_MODE(udp_cases, iterative)
PER_MODE(udp_cases, epoll2)
CONCURRENT(udp_interop)
PER_MODE(udp_interop, iterative)
PER_MODE(udp_lossy, epoll)
PER_MODE(udp_lossy, fork)
PER_MODE(udp_lossy, iterative)

#define T(name) cmocka_unit_test_teardown(test_##name, teardown)
#define T_MODELS(fn) T(fn##_epoll), T(fn##_poll), T(fn##_select), T(fn##_fork), T(fn##_thread)

int main(int argc, char **argv) {
    (void)argc;
    g_epoch = now_ms() - 1000; /* any time before the first SIGTERM */
    signal(SIGPIPE, SIG_IGN);
    find_programs(argv[0]);
    crc_init();
    if (crc_update(0, (const uint8_t *)"123456789", 9) != 0xCBF43926u) {
        fprintf(stderr, "test_server: CRC-32 self-check failed\n");
        return 1;
    }
    const char *seed = getenv("WIRE_TEST_SEED");
    g_seed = seed && *seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    for (const char *prog = g_server; prog; prog = prog == g_server ? g_client : NULL)
        if (access(prog, X_OK) != 0) {
            fprintf(stderr, "test_server: %s: %s (build it first: make)\n", prog, strerror(errno));
            return 1;
        }
    const char *filter = getenv("WIRE_TEST_FILTER"); /* e.g. WIRE_TEST_FILTER='test_sigterm_*' */
    if (filter && *filter) cmocka_set_test_filter(filter);
    printf("test_server: %s and %s from %s, WIRE_TEST_SEED=%llu\n", g_server, g_client, g_root,
           (unsigned long long)g_seed);
    fflush(stdout);

    const struct CMUnitTest interop[] = {T_MODELS(interop), T(interop_iterative), T(interop_epoll2)};
    const struct CMUnitTest stress[] = {T_MODELS(stress), T(stress_epoll2)};
    const struct CMUnitTest malformed[] = {T_MODELS(malformed)};
    const struct CMUnitTest sigterm[] = {T_MODELS(sigterm), T_MODELS(sigterm_stuck_clients), T(sigterm_epoll2)};
    const struct CMUnitTest limits[] = {T_MODELS(max_conns), T(max_conns_epoll2),        T_MODELS(idle_timeout),    T_MODELS(frame_timeout),
                                        T(max_queued_epoll), T(max_queued_poll),
                                        T(max_queued_select)};
    const struct CMUnitTest cli[] = {cmocka_unit_test(test_help), cmocka_unit_test(test_bad_flags), cmocka_unit_test(test_bad_numbers),
                                     T(log_timestamps), T_MODELS(unix_socket),
                                     T(unix_socket_iterative), T(ipv6)};
    const struct CMUnitTest spec[] = {T_MODELS(spec_cases), T_MODELS(reply_over_client_max), T_MODELS(refusal_graceful),
                                      T_MODELS(bye_and_pipelined_hello)};
    const struct CMUnitTest fixed[] = {T_MODELS(half_close), T(half_close_iterative), T_MODELS(out_of_descriptors),
                                       T(fork_reaps_children), T_MODELS(refusals_do_not_queue),
                                       T(sighup_and_version)};
    const struct CMUnitTest sessions[] = {T_MODELS(sessions), T(sessions_iterative)};
    const struct CMUnitTest udp[] = {T_MODELS(udp_cases), T(udp_cases_iterative), T(udp_cases_epoll2),
                                     T_MODELS(udp_interop), T(udp_interop_iterative), T(udp_lossy_epoll),
                                     T(udp_lossy_fork), T(udp_lossy_iterative), T(udp_options)};
    int failed = 0;
    failed += cmocka_run_group_tests_name("server: message-level cases (proto/sessions.txt)", sessions, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: UDP (proto/udp.txt, wire-client --udp, loss)", udp, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: interop exchange", interop, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: stress", stress, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: malformed input", malformed, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: SIGTERM under load", sigterm, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: limits and timeouts", limits, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: command line", cli, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: SPEC rules", spec, NULL, NULL);
    failed += cmocka_run_group_tests_name("server: defects fixed by the engine", fixed, NULL, NULL);
    return failed ? 1 : 0;
}
