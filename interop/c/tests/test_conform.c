/* SPDX-License-Identifier: MIT */
/* test_conform.c - wire-conform (build/<cc>/wire-conform, found next to this test's directory)
 * against implementations whose faults are known, so that its verdicts are checked, not trusted:
 *
 *   server    the interop service on libwire's engine, in this process: every check passes; the same
 *             service with one fault (the ROUNDTRIP reply of a lone u32 byte-swapped) passes levels 1
 *             and 2 and fails exactly the roundtrip:u32.* checks whose bytes the swap changes
 *   client    wire-client passes every check; a client that answers PING with an empty PONG (this
 *             program, run as a client) fails client:answers-ping and nothing else of level 1
 *   udp       level 6 (opt-in): a small correct UDP responder written here (its payloads answered by
 *             the in-process service over TCP) passes every level 1-6; the same responder with one
 *             known fault each (the id byte-swapped, a 1024-byte receive buffer, the length word
 *             ignored, an ERROR or a HELLO answered, duplicates dropped, a reply kept by id alone,
 *             a source banned after 3 bad datagrams) fails exactly the expected level-6 checks
 *   cli       usage errors exit 2; TAP output; --only and --level select
 *
 * Every run is bounded by a deadline; the processes are killed if they overstay. */
#include "testutil.h"
#include "service.h"
#include "vectors.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define PATHLEN 4096

static char g_conform[PATHLEN + 32], g_client[PATHLEN + 32], g_self[PATHLEN];

static void find_programs(void) {
    char exe[PATHLEN];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    snprintf(g_self, sizeof g_self, "%s", exe);
    char *slash = strrchr(exe, '/'); /* exe: .../build/<cc>/interop-tests/test_conform */
    *slash = '\0';
    snprintf(g_conform, sizeof g_conform, "%s/../wire-conform", exe);
    snprintf(g_client, sizeof g_client, "%s/../wire-client", exe);
}

/* Runs argv with stdout captured; *status: the exit status, or -1 when killed at the deadline. */
static char *run(char *const argv[], int timeout_ms, int *status) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    int64_t until = wire_now_ms() + timeout_ms;
    bool eof = false;
    while (!eof && wire_now_ms() < until) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        if (len + 4096 > cap) {
            out = realloc(out, cap *= 2);
            assert_non_null(out);
        }
        ssize_t k = read(pfd[0], out + len, cap - len - 1);
        if (k <= 0) eof = true;
        else len += (size_t)k;
    }
    out[len] = '\0';
    close(pfd[0]);
    if (!eof) kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    *status = eof && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* TAP lines ("ok 12 - L3 roundtrip:u32.1", "not ok 13 - L3 ... # SPEC ...") counted by outcome and
 * level; the names of the failed checks, one per line, in failed. */
typedef struct tally {
    int ok[7], notok[7];
    char failed[8192];
} tally;

static void count(const char *out, tally *t) {
    memset(t, 0, sizeof *t);
    for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        bool bad = strncmp(l, "not ok ", 7) == 0;
        if (!bad && strncmp(l, "ok ", 3) != 0) continue;
        const char *lv = strstr(l, " - L");
        if (!lv || lv[4] < '1' || lv[4] > '6') continue;
        int level = lv[4] - '0';
        if (bad) {
            t->notok[level]++;
            const char *name = lv + 6, *end = strpbrk(name, " \n");
            size_t n = end ? (size_t)(end - name) : strlen(name);
            size_t used = strlen(t->failed);
            if (used + n + 2 < sizeof t->failed) snprintf(t->failed + used, sizeof t->failed - used, "%.*s\n", (int)n, name);
        } else {
            t->ok[level]++;
        }
    }
}

/* ---------- servers: the interop service in this process, with or without a fault ---------- */

static wv_file g_vectors;
static svc_config g_svc;

/* The fault: a ROUNDTRIP whose payload is one u32 field comes back with the value's bytes reversed,
 * as from a server that stores the value in host order. Every other frame is served correctly. */
static void swapped_u32(wire_conn *c, const wire_frame *f, void *user) {
    if (f->type == WIRE_MSG_ROUNDTRIP && f->length == 5 && f->payload[0] == WIRE_T_U32) {
        uint8_t p[5] = {WIRE_T_U32, f->payload[4], f->payload[3], f->payload[2], f->payload[1]};
        if (wire_conn_send(c, WIRE_MSG_ROUNDTRIP_REPLY, p, sizeof p) != WIRE_OK) wire_conn_abort(c);
        return;
    }
    svc_on_frame(c, f, user);
}

typedef struct inproc {
    wire_server *srv;
    pthread_t th;
    char port[8];
} inproc;

static void *serve(void *arg) {
    inproc *s = arg;
    char err[WIRE_ERRBUF_SIZE];
    if (wire_server_run(s->srv, err, sizeof err)) fprintf(stderr, "server: %s\n", err);
    return NULL;
}

/* The configuration proto/sessions.txt asks for: --max-payload 1048576 --idle-timeout 2
 * --frame-timeout 1. */
static void start(inproc *s, void (*on_frame)(wire_conn *, const wire_frame *, void *), bool header_time) {
    wire_server_config cfg;
    char err[WIRE_ERRBUF_SIZE];
    uint16_t port;
    wire_server_config_init(&cfg);
    cfg.conn.name = "test-conform";
    cfg.conn.max_payload = 1048576;
    cfg.conn.idle_timeout_ms = 2000;
    cfg.conn.frame_timeout_ms = 1000;
    cfg.conn.serves = header_time ? svc_serves : NULL;
    cfg.on_frame = on_frame;
    cfg.user = &g_svc;
    assert_int_equal(wire_server_new(&cfg, &s->srv, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_server_listen_tcp(s->srv, "127.0.0.1", "0", &port, err, sizeof err), WIRE_OK);
    snprintf(s->port, sizeof s->port, "%u", (unsigned)port);
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void stop(inproc *s) {
    wire_server_stop(s->srv);
    pthread_join(s->th, NULL);
    wire_server_free(s->srv);
}

static int setup(void **state) {
    char path[512], err[256];
    (void)state;
    find_programs();
    signal(SIGPIPE, SIG_IGN);
    if (wv_load(proto_path("vectors.txt", path, sizeof path), &g_vectors, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    g_svc.vectors = &g_vectors;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    wv_free(&g_vectors);
    return 0;
}

/* `wire-conform server --tap [options] 127.0.0.1 PORT` against the service with this handler: its
 * output (to free), exit status and tally. */
static char *check_inproc(void (*on_frame)(wire_conn *, const wire_frame *, void *), bool header_time,
                          const char *opt, const char *val, int *st, tally *t) {
    inproc s;
    start(&s, on_frame, header_time);
    char *argv[] = {g_conform, (char *)"server", (char *)"--tap", (char *)"127.0.0.1", s.port, NULL, NULL, NULL};
    if (opt) { /* before HOST PORT */
        argv[5] = argv[3], argv[6] = argv[4];
        argv[3] = (char *)opt, argv[4] = (char *)val;
    }
    char *out = run(argv, 120000, st);
    stop(&s);
    count(out, t);
    return out;
}

static void test_server_correct_passes_every_level(void **state) {
    (void)state;
    int st;
    tally t;
    char *out = check_inproc(svc_on_frame, true, NULL, NULL, &st, &t);
    if (st != 0) fprintf(stderr, "%s", t.failed);
    assert_int_equal(st, 0);
    for (int lv = 1; lv <= 5; lv++) {
        assert_int_equal(t.notok[lv], 0);
        assert_true(t.ok[lv] > 0);
    }
    assert_true(t.ok[1] + t.ok[2] + t.ok[3] + t.ok[4] + t.ok[5] >= 700);
    assert_non_null(strstr(out, "TAP version 13\n1.."));
    free(out);
}

/* The checks the fault must fail: roundtrip of every ok vector that is one u32 whose bytes are not a
 * palindrome (u32.0 and u32.max survive a swap). */
static size_t expected_failures(char *buf, size_t len) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g_vectors.count; i++) {
        const wv_case *v = &g_vectors.cases[i];
        if (v->kind != WV_OK || v->hexlen != 5 || v->hex[0] != WIRE_T_U32) continue;
        if (v->hex[1] == v->hex[4] && v->hex[2] == v->hex[3]) continue;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "roundtrip:%s\n", v->name);
        n++;
    }
    return n;
}

static void test_server_swapped_u32_fails_at_level_3(void **state) {
    (void)state;
    int st;
    tally t;
    char *out = check_inproc(swapped_u32, true, NULL, NULL, &st, &t);
    char want[4096];
    size_t nwant = expected_failures(want, sizeof want);
    assert_true(nwant >= 3);
    assert_int_equal(st, 1);
    assert_int_equal(t.notok[1], 0); /* framing, HELLO, PING, BYE: fine */
    assert_int_equal(t.notok[2], 0); /* ECHO: fine */
    assert_true(t.ok[1] > 0 && t.ok[2] > 0);
    assert_string_equal(t.failed, want); /* exactly these, in the file's order */
    assert_int_equal(t.notok[3], (int)nwant);
    assert_int_equal(t.ok[6] + t.notok[6], 0); /* level 6 (UDP) is opt-in: the default stays 5 */
    /* a person can act on it: the SPEC section and what came back */
    assert_non_null(strstr(out, "# SPEC 10.3"));
    assert_non_null(strstr(out, "expected 0301020304, got 0304030201"));
    assert_non_null(strstr(out, "reversed: a value in host byte order? (SPEC 13.1) [sent ROUNDTRIP, 5 payload bytes: 0301020304]"));
    free(out);
}

/* The second fault: types the service does not serve are refused only once their payload is in
 * (the service's own refusal), not from the header (SPEC 8.3 step 3). */
static void test_server_late_refusal_fails_its_session(void **state) {
    (void)state;
    int st;
    tally t;
    char *out = check_inproc(svc_on_frame, false, "--level", "4", &st, &t);
    assert_int_equal(st, 1);
    assert_string_equal(t.failed, "session:types.not-served-answered-at-header\n");
    assert_non_null(strstr(out, "# SPEC 8.3: step 3"));
    free(out);
}

static void test_server_only_and_level_select(void **state) {
    (void)state;
    inproc s;
    start(&s, svc_on_frame, true);
    char *a1[] = {g_conform, (char *)"server", (char *)"--tap", (char *)"--only", (char *)"session:hello.*",
                  (char *)"--only", (char *)"echo:4096", (char *)"127.0.0.1", s.port, NULL};
    char *a2[] = {g_conform, (char *)"server", (char *)"--tap", (char *)"--level", (char *)"2",
                  (char *)"127.0.0.1", s.port, NULL};
    int st1, st2;
    char *o1 = run(a1, 60000, &st1), *o2 = run(a2, 60000, &st2);
    stop(&s);
    tally t1, t2;
    count(o1, &t1);
    count(o2, &t2);
    assert_int_equal(st1, 0);
    assert_int_equal(st2, 0);
    assert_true(t1.ok[1] >= 10);  /* the hello.* sessions */
    assert_int_equal(t1.ok[2], 1); /* echo:4096 */
    assert_int_equal(t1.ok[3] + t1.ok[4] + t1.ok[5], 0);
    assert_null(strstr(o1, "handshake."));
    assert_true(t2.ok[1] > 0 && t2.ok[2] > 0);
    assert_int_equal(t2.ok[3] + t2.ok[4] + t2.ok[5], 0);
    assert_int_equal(t1.ok[6] + t1.notok[6] + t2.ok[6] + t2.notok[6], 0);
    free(o1);
    free(o2);
}

/* ---------- UDP (level 6): a small responder of the profile, with or without a fault ---------- */

/* The responder does SPEC 15.3's checks up to the payload itself and answers PING; the payload of
 * every other request goes to the in-process service over TCP, so its answers (ERROR code and offset included)
 * are the TCP service's, as SPEC 15.3's last step and 15.5 say. Independent of libwire's UDP helpers. */
enum {
    F_SWAP_ID = 1,       /* the id read into an integer and written back in host byte order */
    F_SMALL_BUF = 2,     /* recvfrom(fd, buf, 1024): longer datagrams cut */
    F_LENIENT = 4,       /* the header's length ignored: the payload is what the datagram has */
    F_ANSWER_ERRORS = 8, /* an ERROR datagram answered with ERROR(UNEXPECTED, 2) */
    F_HELLO = 16,        /* a HELLO answered with a HELLO, as over TCP */
    F_DEDUP = 32,        /* a datagram equal to the previous one from the same source dropped */
    F_ID_CACHE = 64,     /* a request with the previous request's id given the previous answer */
    F_BAN = 128,         /* a source ignored after 3 bad datagrams */
    F_TWICE = 256,       /* every answer sent twice, "in case one is lost" */
    F_OFFSET_ID = 512,   /* ERROR offsets counted from the datagram's start, id included */
    F_OTHER_SOCKET = 1024 /* answers sent from a socket of their own (another port) */
};
enum { U_CAP = 65536, U_MAX_PAYLOAD = 65495 };

typedef struct udp_ref {
    int fd, out_fd, wake[2]; /* out_fd: what answers are sent from (fd, but for F_OTHER_SOCKET) */
    unsigned faults;
    const char *tcp_port; /* the service the payloads go to */
    char port[8];
    pthread_t th;
    wire_conn *conn;
    uint8_t in[U_CAP], out[U_CAP], last_in[U_CAP];
    size_t last_in_n, last_out_n;
    struct sockaddr_storage last_src;
    bool have_last_out;
    uint32_t last_id;
    struct {
        struct sockaddr_in6 a; /* big enough for either family; compared as bytes */
        int bad;
    } src[64];
    int nsrc;
} udp_ref;

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* out = id, header, payload; returns the datagram's size. */
static size_t u_frame(udp_ref *u, uint32_t id, uint16_t type, const void *p, size_t n) {
    put32(u->out, (u->faults & F_SWAP_ID) ? (id >> 24 | (id >> 8 & 0xff00u) | (id << 8 & 0xff0000u) | id << 24) : id);
    wire_header_encode(u->out + 4, type, (uint32_t)n);
    if (n) memcpy(u->out + 12, p, n);
    return 12 + n;
}

static size_t u_error(udp_ref *u, uint32_t id, wire_err code, uint32_t offset) {
    uint8_t p[1200];
    if ((u->faults & F_OFFSET_ID) && offset != WIRE_NO_OFFSET) offset += 4;
    size_t n;
    wire_writer w;
    wire_error_msg m = {(uint16_t)code, offset, wire_strerror(code), strlen(wire_strerror(code))};
    wire_writer_init(&w, p, sizeof p);
    if (wire_put_error_msg(&w, &m) || wire_writer_finish(&w, &n)) return 0;
    return u_frame(u, id, WIRE_MSG_ERROR, p, n);
}

/* The TCP service's answer to one request (0: none could be had). */
static size_t u_forward(udp_ref *u, uint32_t id, uint16_t type, const uint8_t *p, size_t n) {
    char err[WIRE_ERRBUF_SIZE];
    wire_frame f;
    wire_error_msg m;
    size_t len = 0;
    /* a connection per request: the service closes after an ERROR (SPEC 8.4) or when idle (9.3) */
    if (wire_conn_connect("127.0.0.1", u->tcp_port, NULL, 5000, &u->conn, err, sizeof err)) return 0;
    wire_err e = wire_conn_request(u->conn, type, p, n, &f, 10000);
    if (e == WIRE_OK)
        len = f.length > U_MAX_PAYLOAD ? u_error(u, id, WIRE_ETOOBIG, WIRE_NO_OFFSET)
                                       : u_frame(u, id, f.type, f.payload, f.length);
    else if (wire_conn_peer_error(u->conn, &m))
        len = u_error(u, id, (wire_err)m.code, m.offset);
    wire_conn_free(u->conn);
    u->conn = NULL;
    return len;
}

/* SPEC 15.3 for one datagram: the answer's size (0: none); *bad: a bad datagram. */
static size_t u_answer(udp_ref *u, const uint8_t *d, size_t n, bool *bad) {
    wire_header h;
    size_t at;
    *bad = true;
    if (n < 4) return 0;
    uint32_t id = get32(d);
    if (n < 12) return u_error(u, id, WIRE_ETRUNCATED, 0);
    wire_err e = wire_header_decode(d + 4, U_MAX_PAYLOAD, &h, &at);
    if (e) return u_error(u, id, e, (uint32_t)at);
    if (h.type == WIRE_MSG_ERROR) /* dropped once its header passed, whatever its size (step 4) */
        return (u->faults & F_ANSWER_ERRORS) ? u_error(u, id, WIRE_EUNEXPECTED, 2) : 0;
    size_t len = (u->faults & F_LENIENT) ? n - 12 : h.length;
    if (n != 12 + len) return u_error(u, id, WIRE_ELENGTH, 4);
    switch (h.type) {
    case WIRE_MSG_HELLO:
        if (u->faults & F_HELLO) {
            uint8_t p[300];
            wire_writer w;
            wire_hello hello = {WIRE_PROTOCOL_VERSION, U_MAX_PAYLOAD, "udp-ref", 7};
            wire_writer_init(&w, p, sizeof p);
            if (wire_put_hello(&w, &hello) || wire_writer_finish(&w, &len)) return 0;
            return u_frame(u, id, WIRE_MSG_HELLO, p, len);
        }
        return u_error(u, id, WIRE_EUNEXPECTED, 2);
    case WIRE_MSG_PING:
        *bad = false;
        return u_frame(u, id, WIRE_MSG_PONG, d + 12, len);
    case WIRE_MSG_ECHO:
    case WIRE_MSG_ROUNDTRIP:
    case WIRE_MSG_VECTOR_CHECK:
    case WIRE_MSG_VECTOR_GET:
    case WIRE_MSG_STATS: {
        size_t k = u_forward(u, id, h.type, d + 12, len);
        *bad = k >= 12 && (get32(u->out + 4) & 0xffffu) == WIRE_MSG_ERROR;
        return k;
    }
    default:
        return u_error(u, id, WIRE_EUNEXPECTED, 2);
    }
}

/* F_BAN's table: this source's count of bad datagrams (a pointer to it). */
static int *u_bad_count(udp_ref *u, const struct sockaddr_storage *src, socklen_t sl) {
    size_t cmp = sl < sizeof u->src[0].a ? sl : sizeof u->src[0].a;
    for (int i = 0; i < u->nsrc; i++)
        if (memcmp(&u->src[i].a, src, cmp) == 0) return &u->src[i].bad;
    if (u->nsrc == 64) return NULL;
    memset(&u->src[u->nsrc], 0, sizeof u->src[0]);
    memcpy(&u->src[u->nsrc].a, src, cmp);
    return &u->src[u->nsrc++].bad;
}

static void *u_main(void *arg) {
    udp_ref *u = arg;
    for (;;) {
        struct pollfd p[2] = {{u->fd, POLLIN, 0}, {u->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) break;
        if (p[1].revents) break;
        if (!p[0].revents) continue;
        struct sockaddr_storage src;
        socklen_t sl = sizeof src;
        ssize_t k = recvfrom(u->fd, u->in, (u->faults & F_SMALL_BUF) ? 1024 : sizeof u->in, 0, (struct sockaddr *)&src, &sl);
        if (k < 0) continue;
        size_t n = (size_t)k;
        int *bad = (u->faults & F_BAN) ? u_bad_count(u, &src, sl) : NULL;
        if (bad && *bad >= 3) continue;
        if (u->faults & F_DEDUP) {
            bool same = n == u->last_in_n && memcmp(&src, &u->last_src, sl) == 0 && memcmp(u->in, u->last_in, n) == 0;
            memcpy(u->last_in, u->in, n);
            u->last_in_n = n;
            u->last_src = src;
            if (same) continue;
        }
        if ((u->faults & F_ID_CACHE) && n >= 4 && u->have_last_out && get32(u->in) == u->last_id) {
            (void)sendto(u->out_fd, u->out, u->last_out_n, 0, (struct sockaddr *)&src, sl);
            continue;
        }
        bool was_bad;
        size_t len = u_answer(u, u->in, n, &was_bad);
        if (bad && was_bad) ++*bad;
        if (len) (void)sendto(u->out_fd, u->out, len, 0, (struct sockaddr *)&src, sl);
        if (len && (u->faults & F_TWICE)) (void)sendto(u->out_fd, u->out, len, 0, (struct sockaddr *)&src, sl);
        if (n >= 4) u->last_id = get32(u->in), u->have_last_out = len > 0, u->last_out_n = len;
    }
    return NULL;
}

/* Starts a responder on 127.0.0.1:port ("0": any); false if that port is taken. */
static bool u_start(udp_ref *u, unsigned faults, const char *tcp_port, const char *port) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    memset(u, 0, sizeof *u);
    u->faults = faults;
    u->tcp_port = tcp_port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)atoi(port));
    u->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(u->fd >= 0);
    if (bind(u->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        assert_int_equal(errno, EADDRINUSE);
        close(u->fd);
        return false;
    }
    assert_int_equal(getsockname(u->fd, (struct sockaddr *)&a, &al), 0);
    u->out_fd = (faults & F_OTHER_SOCKET) ? socket(AF_INET, SOCK_DGRAM, 0) : u->fd;
    assert_true(u->out_fd >= 0);
    snprintf(u->port, sizeof u->port, "%u", (unsigned)ntohs(a.sin_port));
    assert_int_equal(pipe(u->wake), 0);
    assert_int_equal(pthread_create(&u->th, NULL, u_main, u), 0);
    return true;
}

static void u_stop(udp_ref *u) {
    assert_int_equal(write(u->wake[1], "x", 1), 1);
    pthread_join(u->th, NULL);
    close(u->wake[0]);
    close(u->wake[1]);
    if (u->out_fd != u->fd) close(u->out_fd);
    close(u->fd);
    if (u->conn) wire_conn_free(u->conn);
}

/* proto/udp.txt as this test reads it, apart from wire-conform's loader: each case's name, its
 * datagram's request id (has_id: 4 bytes or more) and whether its expect is an error. */
typedef struct ucase {
    char name[64];
    bool has_id;
    uint32_t id;
    size_t len;  /* the datagram's bytes */
    char expect; /* 'r'eply, 'e'rror, 'n'one */
    bool offset; /* an error with an offset */
} ucase;

static size_t load_udp_cases(ucase *out, size_t max) {
    char path[512], line[200000];
    FILE *f = fopen(proto_path("udp.txt", path, sizeof path), "r");
    assert_non_null(f);
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "udp ", 4) != 0) continue;
        assert_true(n < max);
        char *bar = strchr(line, '|');
        assert_non_null(bar);
        snprintf(out[n].name, sizeof out[n].name, "%.*s", (int)(bar - 1 - (line + 4)), line + 4);
        char hex[9] = "";
        size_t k = 0;
        for (const char *p = bar + 1; *p && *p != '|' && k < 8; p++)
            if (*p != ' ') hex[k++] = *p;
        hex[k] = '\0';
        out[n].has_id = k == 8;
        out[n].id = (uint32_t)strtoul(hex, NULL, 16);
        out[n].len = 0;
        char *end = strchr(bar + 1, '|'), *tok, *save = NULL;
        assert_non_null(end);
        *end = '\0';
        for (tok = strtok_r(bar + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            char *star = strchr(tok, '*');
            size_t digits = star ? (size_t)(star - tok) : strlen(tok);
            out[n].len += digits / 2 * (star ? strtoul(star + 1, NULL, 10) : 1);
        }
        const char *exp = end + 1;
        while (*exp == ' ') exp++;
        out[n].expect = exp[0];
        out[n].offset = exp[0] == 'e' && !strstr(exp, " 4294967295");
        assert_true(strchr("ren", exp[0]) != NULL);
        n++;
    }
    fclose(f);
    return n;
}

/* Starts the service on TCP and the correct responder on UDP with the same port number (SPEC 15.8),
 * trying again if that UDP port is someone else's. */
static void start_both(inproc *s, udp_ref *u) {
    for (int tries = 0;; tries++) {
        start(s, svc_on_frame, true);
        if (u_start(u, 0, s->port, s->port)) return;
        stop(s);
        assert_true(tries < 20);
    }
}

/* Runs several argv at once (stdout captured), each bounded by the deadline: outs[i] (to free), sts[i]
 * as run() gives it. */
static void run_many(char **argvs[], int n, int timeout_ms, char *outs[], int sts[]) {
    enum { MAXRUN = 16 };
    int fd[MAXRUN];
    pid_t pid[MAXRUN];
    size_t len[MAXRUN], cap[MAXRUN];
    bool eof[MAXRUN];
    assert_true(n <= MAXRUN);
    for (int i = 0; i < n; i++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            dup2(pfd[1], STDOUT_FILENO);
            close(pfd[0]);
            close(pfd[1]);
            execv(argvs[i][0], argvs[i]);
            _exit(127);
        }
        close(pfd[1]);
        fd[i] = pfd[0];
        len[i] = 0, cap[i] = 1 << 16, eof[i] = false;
        outs[i] = malloc(cap[i]);
        assert_non_null(outs[i]);
    }
    int64_t until = wire_now_ms() + timeout_ms;
    for (int open = n; open > 0 && wire_now_ms() < until;) {
        struct pollfd p[MAXRUN];
        for (int i = 0; i < n; i++) p[i].fd = eof[i] ? -1 : fd[i], p[i].events = POLLIN, p[i].revents = 0;
        if (poll(p, (nfds_t)n, 100) <= 0) continue;
        for (int i = 0; i < n; i++) {
            if (!p[i].revents) continue;
            if (len[i] + 4096 > cap[i]) {
                outs[i] = realloc(outs[i], cap[i] *= 2);
                assert_non_null(outs[i]);
            }
            ssize_t k = read(fd[i], outs[i] + len[i], cap[i] - len[i] - 1);
            if (k <= 0) eof[i] = true, open--;
            else len[i] += (size_t)k;
        }
    }
    for (int i = 0; i < n; i++) {
        outs[i][len[i]] = '\0';
        close(fd[i]);
        if (!eof[i]) kill(pid[i], SIGKILL);
        int st;
        waitpid(pid[i], &st, 0);
        sts[i] = eof[i] && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
}

static bool palindrome(uint32_t v) { return (v >> 24) == (v & 0xff) && (v >> 16 & 0xff) == (v >> 8 & 0xff); }

/* The level-6 checks a fault must fail, in the order wire-conform runs them (the file's cases, then
 * udp-dup:ping, udp-interleaved, udp-alive-after-garbage), one name a line. */
static void udp_expected(unsigned fault, const ucase *c, size_t n, char *buf, size_t len) {
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        bool fails = false;
        const char *name = c[i].name;
        if (fault & F_SWAP_ID) fails = c[i].has_id && !palindrome(c[i].id); /* its PING after: id ^ 5a5a5a5a */
        if (fault & F_SMALL_BUF) fails = fails || (c[i].expect == 'r' && c[i].len > 1024);
        if (fault & F_LENIENT) fails = fails || strncmp(name, "length.", 7) == 0;
        if (fault & F_ANSWER_ERRORS) fails = fails || strncmp(name, "error.", 6) == 0;
        if (fault & F_HELLO) fails = fails || strcmp(name, "type.hello") == 0;
        if (fault & F_TWICE) fails = fails || c[i].expect != 'n'; /* its PING's PONG is not the next datagram */
        if (fault & F_OFFSET_ID) fails = fails || c[i].offset;
        if (fault & F_OTHER_SOCKET) fails = true; /* the answer, or the PONG after none */
        if (fails) snprintf(buf + strlen(buf), len - strlen(buf), "udp:%.63s\n", name);
    }
    if (fault & (F_SWAP_ID | F_DEDUP | F_OTHER_SOCKET)) snprintf(buf + strlen(buf), len - strlen(buf), "udp-dup:ping\n");
    if (fault & (F_SWAP_ID | F_ID_CACHE | F_OTHER_SOCKET)) snprintf(buf + strlen(buf), len - strlen(buf), "udp-interleaved\n");
    /* a wrong answer in the burst (an id swapped, a datagram served or answered that must not be),
     * or no answer to the PING at its end */
    if (fault & (F_SWAP_ID | F_LENIENT | F_ANSWER_ERRORS | F_HELLO | F_BAN | F_OTHER_SOCKET))
        snprintf(buf + strlen(buf), len - strlen(buf), "udp-alive-after-garbage\n");
}

static void test_server_udp_correct_passes_every_level(void **state) {
    (void)state;
    inproc s;
    udp_ref *u = malloc(sizeof *u);
    assert_non_null(u);
    start_both(&s, u);
    char *argv[] = {g_conform, (char *)"server", (char *)"--tap", (char *)"--level", (char *)"6", (char *)"127.0.0.1",
                    s.port, NULL};
    int st;
    char *out = run(argv, 240000, &st);
    u_stop(u);
    stop(&s);
    free(u);
    tally t;
    count(out, &t);
    if (st != 0) fprintf(stderr, "%s", t.failed);
    assert_int_equal(st, 0);
    for (int lv = 1; lv <= 6; lv++) {
        assert_int_equal(t.notok[lv], 0);
        assert_true(t.ok[lv] > 0);
    }
    ucase cases[128];
    size_t n = load_udp_cases(cases, 128);
    assert_true(n >= 40);
    assert_int_equal(t.ok[6], (int)n + 3); /* every case of the file, and the three of wire-conform's own */
    free(out);
}

static void test_server_udp_faults_fail_their_checks(void **state) {
    (void)state;
    static const struct {
        unsigned faults;
        const char *says; /* what the report must say about it */
    } faults[] = {
        {F_SWAP_ID, "the request id came back byte-swapped"},
        {F_SMALL_BUF, "a 1024-byte receive buffer? Read into 65507 bytes at least (SPEC 15.4)"},
        {F_SMALL_BUF | F_LENIENT, "(ECHO_REPLY, 1012 payload bytes, 1024 bytes; first difference at byte 10); the datagram was cut at 1024 bytes"},
        {F_LENIENT, "yet it was served as if whole (SPEC 15.3)"},
        {F_ANSWER_ERRORS, "udp:error.ignored # SPEC 15.5 7.4: expected nothing, got 0000002f 010000020000002b "
                          "02000c0300000002400000001e6d6573736167652074797065206e6f...(55 bytes): ERROR UNEXPECTED at "
                          "2 (\"message type not expected here\"); an ERROR answered to an ERROR: never answer one "
                          "(SPEC 7.4, 15.5)"},
        {F_HELLO, "a reply to HELLO: the profile has no handshake"},
        {F_DEDUP, "keeps state it must not (SPEC 15.5, 15.7)"},
        {F_ID_CACHE, "the other socket's reply"},
        {F_BAN, "or stopped serving this source"},
        {F_OFFSET_ID, "expected id 00000014 and ERROR TRUNCATED at 0, got 00000014 0100000200000030 "
                      "0200010300000004400000002376616c75652072756e732070617374...(60 bytes): ERROR TRUNCATED at 4 "
                      "(\"value runs past the end of the data\"); the offset counts the 4-byte request id: offsets "
                      "are frame offsets (SPEC 15.2)"},
        {F_OTHER_SOCKET, "the answer did not come from the server's address and UDP port"},
        {F_TWICE, "the next datagram should be its PONG, got 00000001 0100000400000008 0102030405060708: PONG, 8 "
                  "payload bytes (a second answer to the case's datagram, or a late one)"},
    };
    enum { NF = sizeof faults / sizeof faults[0] };
    inproc s; /* the payloads' service, shared: TCP only, so udp:ping against its port finds no one */
    start(&s, svc_on_frame, true);
    udp_ref *u = calloc(NF + 1, sizeof *u);
    assert_non_null(u);
    char **argvs[NF + 2], *outs[NF + 2];
    int sts[NF + 2];
    for (int i = 0; i < NF; i++) {
        assert_true(u_start(&u[i], faults[i].faults, s.port, "0"));
        char **a = calloc(12, sizeof *a);
        assert_non_null(a);
        const char *args[] = {g_conform, "server", "--tap", "--level", "6", "--only", "udp*", "--timeout", "4",
                              "127.0.0.1", u[i].port};
        memcpy(a, args, sizeof args);
        argvs[i] = a;
    }
    char *none[] = {g_conform, (char *)"server", (char *)"--tap", (char *)"--level", (char *)"6", (char *)"--only",
                    (char *)"udp*", (char *)"--timeout", (char *)"2", (char *)"127.0.0.1", s.port, NULL};
    argvs[NF] = none;
    /* --udp-cases: a file of one case (named so that no case of proto/udp.txt has its name), against a
     * correct responder */
    char cases_path[] = "/tmp/test_conform_udp.XXXXXX";
    int cfd = mkstemp(cases_path);
    assert_true(cfd >= 0);
    static const char one[] = "# one case\nudp only.one | 0000000701000003000000020a0b | reply 01000004000000020a0b\n";
    assert_int_equal(write(cfd, one, sizeof one - 1), (ssize_t)(sizeof one - 1));
    close(cfd);
    assert_true(u_start(&u[NF], 0, s.port, "0"));
    char *own[] = {g_conform, (char *)"server", (char *)"--tap", (char *)"--level", (char *)"6", (char *)"--only",
                   (char *)"udp*", (char *)"--udp-cases", cases_path, (char *)"127.0.0.1", u[NF].port, NULL};
    argvs[NF + 1] = own;
    run_many(argvs, NF + 2, 180000, outs, sts);
    unlink(cases_path);
    for (int i = 0; i <= NF; i++) u_stop(&u[i]);
    stop(&s);
    ucase cases[128];
    size_t n = load_udp_cases(cases, 128);
    for (int i = 0; i < NF; i++) {
        char want[8192];
        tally t;
        udp_expected(faults[i].faults, cases, n, want, sizeof want);
        count(outs[i], &t);
        if (strcmp(t.failed, want) != 0 || !strstr(outs[i], faults[i].says) || sts[i] != 1)
            fprintf(stderr, "fault 0x%x: status %d, failed:\n%s-- expected:\n%s-- output:\n%s", faults[i].faults, sts[i],
                    t.failed, want, outs[i]);
        assert_int_equal(sts[i], 1);
        assert_string_equal(t.failed, want);
        assert_int_equal(t.ok[6] + t.notok[6], (int)n + 3); /* every level-6 check ran, and nothing else */
        assert_int_equal(t.ok[1] + t.ok[2] + t.ok[3] + t.ok[4] + t.ok[5], 0);
        assert_non_null(strstr(outs[i], faults[i].says));
        assert_non_null(strstr(outs[i], " - L6 ")); /* each failure says its SPEC section 15.x */
        assert_non_null(strstr(outs[i], "# SPEC 15."));
        free(argvs[i]);
    }
    /* the id is checked in the reply itself, not only by the PING after it */
    assert_non_null(strstr(outs[0], "not ok 1 - L6 udp:ping # SPEC 15.5 10: expected 00000001 0100000400000008 "
                                    "0102030405060708 (PONG, 20 bytes), got 01000000 0100000400000008"));
    /* no UDP at all on the port: the failure says where to look, and the other checks fail without
     * waiting each its own timeout */
    tally silent;
    count(outs[NF], &silent);
    assert_int_equal(sts[NF], 1);
    assert_int_equal(silent.notok[6], (int)n + 3);
    assert_int_equal(silent.ok[6], 0);
    assert_non_null(strstr(outs[NF], "not ok 1 - L6 udp:ping # SPEC 15.5 10: nothing came within 2000 ms (sent twice); "
                                     "nothing at all has come from this UDP port yet: is the server started with --udp?"));
    assert_non_null(strstr(outs[NF], "not ok 2 - L6 udp:ping.empty # SPEC 15.5 10: not tried: an earlier request got no "
                                     "answer"));
    /* the file given, and only it: its one case, then the three checks of wire-conform's own */
    tally t;
    count(outs[NF + 1], &t);
    assert_int_equal(sts[NF + 1], 0);
    assert_int_equal(t.ok[6], 4);
    assert_non_null(strstr(outs[NF + 1], "ok 1 - L6 udp:only.one\n"));
    for (int i = 0; i <= NF + 1; i++) free(outs[i]);
    free(u);
}

static void test_client_wire_client_passes(void **state) {
    (void)state;
    char *argv[] = {g_conform, (char *)"client", (char *)"--tap", (char *)"--", g_client, NULL};
    int st;
    char *out = run(argv, 300000, &st);
    tally t;
    count(out, &t);
    if (st != 0) fprintf(stderr, "%s", t.failed);
    assert_int_equal(st, 0);
    for (int lv = 1; lv <= 5; lv++) assert_int_equal(t.notok[lv], 0);
    assert_true(t.ok[1] + t.ok[2] + t.ok[3] + t.ok[4] + t.ok[5] >= 600);
    assert_non_null(strstr(out, "ok ")); /* and the relay's own checks ran */
    assert_non_null(strstr(out, "client:answers-ping"));
    assert_non_null(strstr(out, "client:respects-max-payload"));
    free(out);
}

static void test_client_without_pong_fails_answers_ping(void **state) {
    (void)state;
    /* this program again, as the client; under an emulator (cross builds: scripts/cross/run-suite.sh
     * sets WIRE_EMULATOR) through it, since the kernel cannot exec a foreign binary */
    char emu[512], *argv[40] = {g_conform, (char *)"client", (char *)"--tap", (char *)"--level", (char *)"1",
                                (char *)"--only", (char *)"client:*", (char *)"--"};
    size_t k = 8;
    const char *e = getenv("WIRE_EMULATOR");
    snprintf(emu, sizeof emu, "%s", e ? e : "");
    for (char *save = NULL, *w = strtok_r(emu, " ", &save); w && k < 38; w = strtok_r(NULL, " ", &save)) argv[k++] = w;
    argv[k++] = g_self;
    argv[k] = NULL;
    int st;
    char *out = run(argv, 60000, &st);
    tally t;
    count(out, &t);
    assert_int_equal(st, 1);
    assert_string_equal(t.failed, "client:answers-ping\n");
    assert_int_equal(t.ok[1], 3); /* client:hello, client:says-bye, client:summary */
    assert_non_null(strstr(out, "# SPEC 7.5"));
    free(out);
}

static void test_cli_usage(void **state) {
    (void)state;
    int st;
    char *a1[] = {g_conform, NULL};
    char *a2[] = {g_conform, (char *)"server", (char *)"--level", (char *)"9", (char *)"h", (char *)"1", NULL};
    char *a3[] = {g_conform, (char *)"server", (char *)"127.0.0.1", NULL};
    char *a4[] = {g_conform, (char *)"--help", NULL};
    char *a5[] = {g_conform, (char *)"server", (char *)"--level", (char *)"7", (char *)"h", (char *)"1", NULL};
    char *a6[] = {g_conform, (char *)"server", (char *)"--level", (char *)"6", (char *)"--udp-cases",
                  (char *)"/nonexistent/udp.txt", (char *)"127.0.0.1", (char *)"1", NULL};
    free(run(a5, 10000, &st));
    assert_int_equal(st, 2);
    free(run(a6, 10000, &st)); /* udp.txt is read for level 6: one that cannot be is a usage error */
    assert_int_equal(st, 2);
    free(run(a1, 10000, &st));
    assert_int_equal(st, 2);
    free(run(a2, 10000, &st));
    assert_int_equal(st, 2);
    free(run(a3, 10000, &st));
    assert_int_equal(st, 2);
    char *out = run(a4, 10000, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "--level"));
    free(out);
}

/* This program as the client under test (wire-conform runs it with --host H --port P): a HELLO, a
 * BYE, and every PING answered with an empty PONG -- the mistake of a client that builds its PONG
 * from nothing. It prints the exchange's summary line, as a client must. */
static int broken_client(const char *host, const char *port) {
    int fd;
    char err[WIRE_ERRBUF_SIZE];
    uint8_t buf[1 << 16], hello[300];
    if (wire_tcp_connect(host, port, 5000, &fd, err, sizeof err)) return 1;
    wire_writer w;
    size_t n;
    wire_hello h = {1, 1 << 16, "broken-client", 13};
    wire_writer_init(&w, hello, sizeof hello);
    if (wire_put_hello(&w, &h) || wire_writer_finish(&w, &n) || wire_send_frame(fd, WIRE_MSG_HELLO, hello, n))
        return 1;
    wire_parser p;
    wire_parser_init(&p, buf, sizeof buf, 1 << 16);
    bool said_bye = false;
    for (;;) {
        size_t room;
        uint8_t *dst = wire_parser_space(&p, &room);
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 5000) <= 0) break;
        ssize_t k = read(fd, dst, room);
        if (k <= 0) break;
        wire_parser_advance(&p, (size_t)k);
        wire_frame f;
        while (wire_parser_next(&p, &f) == 1) {
            if (f.type == WIRE_MSG_PING && wire_send_frame(fd, WIRE_MSG_PONG, NULL, 0)) return 1;
            if (f.type == WIRE_MSG_HELLO && !said_bye) {
                if (wire_send_frame(fd, WIRE_MSG_BYE, NULL, 0)) return 1;
                said_bye = true;
            }
        }
    }
    close(fd);
    printf("ok   hello\nok   bye\n2 passed, 0 failed\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--host") == 0 && strcmp(argv[3], "--port") == 0)
        return broken_client(argv[2], argv[4]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_correct_passes_every_level),
        cmocka_unit_test(test_server_swapped_u32_fails_at_level_3),
        cmocka_unit_test(test_server_late_refusal_fails_its_session),
        cmocka_unit_test(test_server_only_and_level_select),
        cmocka_unit_test(test_server_udp_correct_passes_every_level),
        cmocka_unit_test(test_server_udp_faults_fail_their_checks),
        cmocka_unit_test(test_client_wire_client_passes),
        cmocka_unit_test(test_client_without_pong_fails_answers_ping),
        cmocka_unit_test(test_cli_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
