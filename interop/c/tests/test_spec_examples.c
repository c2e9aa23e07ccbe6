/* SPDX-License-Identifier: MIT */
/* test_spec_examples.c - the worked examples of SPEC.md that show what wire-server sends are what it
 * sends: each dump is read from SPEC.md itself (12.6, 12.8, 13.9), the request it answers is sent to
 * a real wire-server (build/<cc>/wire-server, next to this test's directory), and the bytes that come
 * back must be the dump's, byte for byte. An annotated dump's offsets are checked too (each line's
 * offset is the number of bytes before it), so a dump cannot drift from its own commentary. */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define PATHLEN 4096
static char g_server[PATHLEN + 32];
static char *g_spec;

/* ---------- reading dumps out of SPEC.md ---------- */

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The code block that starts with the line "frame <title>" (SPEC 12's annotated form): "<offset>  <hex
 * bytes, single spaces>  <comment>", comment-only lines skipped. Fails the test if a line's offset is
 * not the count of the bytes before it. */
static size_t spec_frame(const char *title, uint8_t *out, size_t cap) {
    char head[128];
    snprintf(head, sizeof head, "```\nframe %s\n", title);
    const char *p = strstr(g_spec, head);
    if (!p) fail_msg("SPEC.md has no dump \"frame %s\"", title);
    p += strlen(head);
    const char *end = strstr(p, "```");
    assert_non_null(end);
    size_t n = 0;
    while (p < end) {
        const char *eol = strchr(p, '\n');
        const char *q = p;
        while (*q == ' ') q++;
        if (*q >= '0' && *q <= '9') {
            size_t off = 0;
            while (*q >= '0' && *q <= '9') off = off * 10 + (size_t)(*q++ - '0');
            if (off != n) fail_msg("SPEC dump \"frame %s\": a line says offset %zu after %zu bytes", title, off, n);
            assert_true(q[0] == ' ' && q[1] == ' ');
            q += 2;
            while (q < eol && hexval(q[0]) >= 0 && hexval(q[1]) >= 0 && (q[2] == ' ' || q[2] == '\n')) {
                assert_true(n < cap);
                out[n++] = (uint8_t)(hexval(q[0]) * 16 + hexval(q[1]));
                q += 2;
                if (q[0] == ' ' && q[1] == ' ') break; /* the comment follows */
                if (*q == ' ') q++;
            }
        }
        p = eol + 1;
    }
    return n;
}

/* The first code block after `marker` in xxd's form: "00000000: 0100 0001 ...  ascii". The hex
 * area is columns 10..49 of each line; its offset column is checked. */
static size_t spec_xxd_after(const char *marker, uint8_t *out, size_t cap) {
    const char *p = strstr(g_spec, marker);
    if (!p) fail_msg("SPEC.md has no \"%s\"", marker);
    p = strstr(p, "```\n");
    assert_non_null(p);
    p += 4;
    const char *end = strstr(p, "```");
    size_t n = 0;
    while (p < end) {
        const char *eol = strchr(p, '\n');
        unsigned long off = strtoul(p, NULL, 16);
        if (off != n) fail_msg("SPEC xxd dump after \"%s\": line offset %lx after %zu bytes", marker, off, n);
        for (const char *q = p + 10; q + 1 < p + 50 && q + 1 < eol; q++) {
            if (*q == ' ') continue;
            assert_true(hexval(q[0]) >= 0 && hexval(q[1]) >= 0 && n < cap);
            out[n++] = (uint8_t)(hexval(q[0]) * 16 + hexval(q[1]));
            q++;
        }
        p = eol + 1;
    }
    return n;
}

/* The hex digits between `from` and `to` after `marker` (the echo '...' | xxd -r -p of 13.9). */
static size_t spec_hex_between(const char *marker, const char *from, const char *to, uint8_t *out, size_t cap) {
    const char *p = strstr(g_spec, marker);
    assert_non_null(p);
    p = strstr(p, from);
    assert_non_null(p);
    p += strlen(from);
    const char *end = strstr(p, to);
    assert_non_null(end);
    size_t n = 0;
    for (; p < end; p++) {
        if (*p == ' ' || *p == '\n') continue;
        assert_true(hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && n < cap);
        out[n++] = (uint8_t)(hexval(p[0]) * 16 + hexval(p[1]));
        p++;
    }
    return n;
}

/* ---------- a real wire-server ---------- */

typedef struct proc {
    pid_t pid;
    char port[8];
} proc;

/* The servers a test started: its teardown kills those a failed assertion left running. */
static pid_t g_running[4];

static void kill_running(void) {
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i] > 0) {
            int st;
            kill(g_running[i], SIGKILL);
            waitpid(g_running[i], &st, 0);
            g_running[i] = 0;
        }
}

static void start_server(proc *s, const char *extra) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execl(g_server, g_server, "--quiet", "--port", "0", extra ? "--max-conns" : NULL, extra, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i] == 0) {
            g_running[i] = s->pid;
            break;
        }
    char line[32] = "";
    size_t n = 0;
    int64_t until = wire_now_ms() + 10000;
    while (n < sizeof line - 1 && !strchr(line, '\n') && wire_now_ms() < until) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t k = read(pfd[0], line + n, 1);
        if (k <= 0) break;
        line[n += (size_t)k] = '\0';
    }
    close(pfd[0]);
    assert_true(strchr(line, '\n') != NULL);
    *strchr(line, '\n') = '\0';
    assert_true(strlen(line) < sizeof s->port);
    memcpy(s->port, line, strlen(line) + 1);
}

static void stop_server(proc *s) {
    int st;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i] == s->pid) g_running[i] = 0;
}

static int after_each(void **state) {
    (void)state;
    kill_running();
    return 0;
}

/* Connects, sends req (if any), reads until EOF (bounded); returns the bytes received. */
static size_t exchange(const proc *s, const void *req, size_t reqlen, uint8_t *out, size_t cap) {
    int fd;
    char err[WIRE_ERRBUF_SIZE];
    assert_int_equal(wire_tcp_connect("127.0.0.1", s->port, 5000, &fd, err, sizeof err), WIRE_OK);
    if (reqlen) assert_int_equal(wire_write_all(fd, req, reqlen), WIRE_OK);
    size_t n = 0;
    int64_t until = wire_now_ms() + 5000;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(until - wire_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) break;
        ssize_t k = read(fd, out + n, cap - n);
        if (k <= 0) break;
        n += (size_t)k;
    }
    close(fd);
    return n;
}

/* A whole frame: header and payload. */
static size_t frame_size(const uint8_t *p, size_t n) {
    assert_true(n >= WIRE_HEADER_SIZE);
    return WIRE_HEADER_SIZE + (((size_t)p[4] << 24) | ((size_t)p[5] << 16) | ((size_t)p[6] << 8) | p[7]);
}

static void assert_same(const char *what, const uint8_t *want, size_t wlen, const uint8_t *got, size_t glen) {
    if (wlen != glen || memcmp(want, got, wlen) != 0) {
        fprintf(stderr, "%s: SPEC.md shows %zu bytes, wire-server sent %zu:\n  got ", what, wlen, glen);
        for (size_t i = 0; i < glen; i++) fprintf(stderr, "%02x", got[i]);
        fprintf(stderr, "\n");
        fail_msg("%s differs from wire-server's output", what);
    }
}

/* ---------- the examples ---------- */

static const uint8_t hello_nc[] = {0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x02, 0x00, 0x01, 0x03,
                                   0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x02, 0x6e, 0x63};

/* 13.9: the bytes of the echo | xxd -r -p line, and the xxd dump of the answer; 12.6: the server's
 * HELLO is the first frame of that answer. */
static void test_nc_session(void **state) {
    (void)state;
    uint8_t req[256], want[256], got[4096], hello[64];
    size_t rn = spec_hex_between("### 13.9", "$ echo '", "' | xxd -r -p", req, sizeof req);
    assert_true(rn >= sizeof hello_nc && memcmp(req, hello_nc, sizeof hello_nc) == 0);
    size_t wn = spec_xxd_after("`c-server` answers HELLO, PONG and BYE", want, sizeof want);
    size_t hn = spec_frame("HELLO reply", hello, sizeof hello);
    proc s;
    start_server(&s, NULL);
    size_t gn = exchange(&s, req, rn, got, sizeof got);
    stop_server(&s);
    assert_same("SPEC 13.9 (HELLO, PING, BYE)", want, wn, got, gn);
    assert_same("SPEC 12.6 (the server's HELLO)", hello, hn, got, frame_size(got, gn));
}

/* 13.9: telnet's "hello" and another line: ERROR(VERSION, 0). */
static void test_text_input(void **state) {
    (void)state;
    uint8_t want[256], got[4096];
    size_t wn = spec_xxd_after("answer of `wire-server` to\ntext input", want, sizeof want);
    proc s;
    start_server(&s, NULL);
    size_t gn = exchange(&s, "hello\r\nx\r\n", 10, got, sizeof got);
    stop_server(&s);
    assert_same("SPEC 13.9 (ERROR VERSION)", want, wn, got, gn);
}

/* 12.8: the ROUNDTRIP of `30 02` after a HELLO, and the TOOBIG header after a HELLO: the frame after
 * the server's HELLO is the dump. */
static void test_error_frames(void **state) {
    (void)state;
    uint8_t req[128], want[256], got[4096], rt[64];
    size_t rtn = spec_frame("ROUNDTRIP bad", rt, sizeof rt);
    assert_int_equal(rtn, 10);
    memcpy(req, hello_nc, sizeof hello_nc);
    memcpy(req + sizeof hello_nc, rt, rtn);
    proc s;
    start_server(&s, NULL);
    size_t gn = exchange(&s, req, sizeof hello_nc + rtn, got, sizeof got);
    size_t wn = spec_frame("ERROR", want, sizeof want);
    size_t first = frame_size(got, gn);
    assert_same("SPEC 12.8 (ERROR BADBOOL)", want, wn, got + first, gn - first);

    static const uint8_t toobig[] = {0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01};
    assert_non_null(strstr(g_spec, "A header `01 00 01 00 01 00 00 01` (ECHO, length 16777217)"));
    memcpy(req + sizeof hello_nc, toobig, sizeof toobig);
    gn = exchange(&s, req, sizeof hello_nc + sizeof toobig, got, sizeof got);
    stop_server(&s);
    wn = spec_frame("ERROR toobig", want, sizeof want);
    first = frame_size(got, gn);
    assert_same("SPEC 12.8 (ERROR TOOBIG)", want, wn, got + first, gn - first);
}

/* 12.8: one connection over --max-conns. */
static void test_limit_frame(void **state) {
    (void)state;
    uint8_t want[256], got[4096], reply[64];
    proc s;
    start_server(&s, "1");
    int fd;
    char err[WIRE_ERRBUF_SIZE];
    assert_int_equal(wire_tcp_connect("127.0.0.1", s.port, 5000, &fd, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_write_all(fd, hello_nc, sizeof hello_nc), WIRE_OK);
    size_t rgot;
    assert_int_equal(wire_read_exact(fd, reply, 8, &rgot), WIRE_OK); /* served: the one allowed */
    size_t gn = exchange(&s, NULL, 0, got, sizeof got);
    close(fd);
    stop_server(&s);
    size_t wn = spec_frame("ERROR limit", want, sizeof want);
    assert_same("SPEC 12.8 (ERROR LIMIT)", want, wn, got, gn);
}

static int setup(void **state) {
    (void)state;
    char exe[PATHLEN];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0'; /* .../build/<cc>/interop-tests */
    snprintf(g_server, sizeof g_server, "%s/../wire-server", exe);
    g_spec = read_spec();
    signal(SIGPIPE, SIG_IGN);
    return g_spec ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    free(g_spec);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_nc_session, after_each),
        cmocka_unit_test_teardown(test_text_input, after_each),
        cmocka_unit_test_teardown(test_error_frames, after_each),
        cmocka_unit_test_teardown(test_limit_frame, after_each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
