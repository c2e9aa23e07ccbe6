/* SPDX-License-Identifier: MIT */
/* test_conform.c - wire-conform (build/<cc>/wire-conform, found next to this test's directory)
 * against implementations whose faults are known, so that its verdicts are checked, not trusted:
 *
 *   server    the interop service on libwire's engine, in this process: every check passes; the same
 *             service with one fault (the ROUNDTRIP reply of a lone u32 byte-swapped) passes levels 1
 *             and 2 and fails exactly the roundtrip:u32.* checks whose bytes the swap changes
 *   client    wire-client passes every check; a client that answers PING with an empty PONG (this
 *             program, run as a client) fails client:answers-ping and nothing else of level 1
 *   cli       usage errors exit 2; TAP output; --only and --level select
 *
 * Every run is bounded by a deadline; the processes are killed if they overstay. */
#include "testutil.h"
#include "service.h"
#include "vectors.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
    int ok[6], notok[6];
    char failed[8192];
} tally;

static void count(const char *out, tally *t) {
    memset(t, 0, sizeof *t);
    for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        bool bad = strncmp(l, "not ok ", 7) == 0;
        if (!bad && strncmp(l, "ok ", 3) != 0) continue;
        const char *lv = strstr(l, " - L");
        if (!lv || lv[4] < '1' || lv[4] > '5') continue;
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
    free(o1);
    free(o2);
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
        cmocka_unit_test(test_client_wire_client_passes),
        cmocka_unit_test(test_client_without_pong_fails_answers_ping),
        cmocka_unit_test(test_cli_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
