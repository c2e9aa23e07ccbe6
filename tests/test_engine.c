/* SPDX-License-Identifier: MIT */
/* test_engine.c - the server engine with an application handler, in every model: a server process
 * of the test's own (fork, then wire_server_run in the child), clients on the blocking helpers over
 * 127.0.0.1. What is checked: the handler sees the application's messages and the peer's HELLO;
 * accepted sockets are close-on-exec with TCP_NODELAY in every model; on_open/on_close pair up;
 * one connection's handler can send to the others (a broadcast: wire_conn_set_notify); stop ends
 * the run cleanly and puts the fork model's SIGCHLD back as it was; bad configurations are
 * refused. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

enum {
    MSG_INFO = 0x8001,  /* -> INFO_REPLY: bool cloexec, bool nodelay, string peer's HELLO name */
    MSG_INFO_REPLY = 0x8002,
    MSG_SAY = 0x8010,   /* -> LINE to every open connection: string text */
    MSG_LINE = 0x8011,
    MSG_COUNT = 0x8020, /* -> COUNT_REPLY: u32 opened, u32 closed */
    MSG_COUNT_REPLY = 0x8021,
    MSG_LOOP = 0x8030,  /* -> LOOP_REPLY: u32 which thread runs this connection's handler (0, 1...) */
    MSG_LOOP_REPLY = 0x8031
};

/* ---- the server side (in the child process) ---- */

static wire_server *g_srv;
static wire_conn *g_open[64];
static unsigned g_opened, g_closed;
/* In the thread model the callbacks of different connections run at once (TSan saw the race). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_stop(int sig) {
    (void)sig;
    wire_server_stop(g_srv);
}

static void on_open(wire_conn *c, void *user) {
    (void)user;
    pthread_mutex_lock(&g_lock);
    g_opened++;
    for (int i = 0; i < 64; i++)
        if (!g_open[i]) {
            g_open[i] = c;
            wire_conn_set_data(c, &g_open[i]);
            break;
        }
    pthread_mutex_unlock(&g_lock);
}

/* For test_run_waits_for_exits_thread: each connection thread, as it exits, runs a
 * thread-specific-data destructor that takes 100 ms, after it has finished serving; the run must
 * not return before every one has run (g_lingered == g_lingering). */
static bool g_linger;
static pthread_key_t g_linger_key;
static unsigned g_lingering, g_lingered;

static void linger(void *value) {
    struct timespec ts = {0, 100000000L};
    (void)value;
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&g_lock);
    g_lingered++;
    pthread_mutex_unlock(&g_lock);
}

static void on_close(wire_conn *c, void *user) {
    (void)user;
    if (g_linger) { /* on the connection's thread */
        pthread_setspecific(g_linger_key, &g_linger);
        pthread_mutex_lock(&g_lock);
        g_lingering++;
        pthread_mutex_unlock(&g_lock);
    }
    pthread_mutex_lock(&g_lock);
    g_closed++;
    wire_conn **slot = wire_conn_data(c);
    if (slot) *slot = NULL;
    pthread_mutex_unlock(&g_lock);
}

/* For the loops tests: cfg.loops and cfg.max_conns (0: the defaults). */
static int g_loops, g_max_conns;
static pthread_t g_threads[8];
static unsigned g_nthreads;

static unsigned thread_index(void) {
    pthread_mutex_lock(&g_lock);
    unsigned k = 0;
    while (k < g_nthreads && !pthread_equal(g_threads[k], pthread_self())) k++;
    if (k == g_nthreads && k < 8) g_threads[g_nthreads++] = pthread_self();
    pthread_mutex_unlock(&g_lock);
    return k;
}

static void on_frame(wire_conn *c, const wire_frame *f, void *user) {
    (void)user;
    wire_writer w;
    if (f->type == MSG_INFO) {
        int fd = wire_conn_fd(c), one = 0;
        socklen_t len = sizeof one;
        bool nodelay = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len) == 0 && one;
        size_t nlen;
        const char *name = wire_conn_peer_name(c, &nlen);
        if (wire_conn_begin(c, MSG_INFO_REPLY, 300, &w) != WIRE_OK) return;
        wire_put_bool(&w, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        wire_put_bool(&w, nodelay);
        wire_put_string(&w, name, nlen);
        if (wire_conn_end(c, &w) != WIRE_OK) wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "reply");
    } else if (f->type == MSG_SAY) {
        for (int i = 0; i < 64; i++) /* to every connection, the sender too, each through its own queue */
            if (g_open[i] && wire_conn_send(g_open[i], MSG_LINE, f->payload, f->length) != WIRE_OK)
                wire_conn_close(g_open[i]);
    } else if (f->type == MSG_LOOP) {
        if (wire_conn_begin(c, MSG_LOOP_REPLY, 5, &w) != WIRE_OK) return;
        wire_put_u32(&w, thread_index());
        if (wire_conn_end(c, &w) != WIRE_OK) wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "reply");
    } else if (f->type == MSG_COUNT) {
        if (wire_conn_begin(c, MSG_COUNT_REPLY, 10, &w) != WIRE_OK) return;
        pthread_mutex_lock(&g_lock);
        unsigned opened = g_opened, closed = g_closed;
        pthread_mutex_unlock(&g_lock);
        wire_put_u32(&w, opened);
        wire_put_u32(&w, closed);
        if (wire_conn_end(c, &w) != WIRE_OK) wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "reply");
    } else {
        wire_conn_fail(c, WIRE_EUNEXPECTED, 2, NULL);
    }
}

/* For the select test: the server's descriptors start past FD_SETSIZE (select cannot watch them). */
static bool g_high_fds;

/* The child's life: serve until SIGTERM; exit 0 if run returned WIRE_OK (and, for fork, left
 * SIGCHLD's handler and the signal mask as they were), 1 otherwise; 3 if a thread it started
 * was still there when the run returned. */
static void serve(wire_model model, int port_fd) {
    wire_server_config cfg;
    char err[WIRE_ERRBUF_SIZE];
    uint16_t port;
    struct sigaction before, after, sa;
    sigset_t mask_before, mask_after;
    wire_server_config_init(&cfg);
    cfg.model = model;
    cfg.conn.name = "engine-test";
    cfg.on_open = on_open;
    cfg.on_frame = on_frame;
    cfg.on_close = on_close;
    if (g_loops) cfg.loops = g_loops;
    if (g_max_conns) cfg.max_conns = g_max_conns;
    if (wire_server_new(&cfg, &g_srv, err, sizeof err) != WIRE_OK ||
        wire_server_listen_tcp(g_srv, "127.0.0.1", "0", &port, err, sizeof err) != WIRE_OK) {
        fprintf(stderr, "serve: %s\n", err);
        _exit(2);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigaction(SIGCHLD, NULL, &before);
    sigprocmask(SIG_SETMASK, NULL, &mask_before);
    if (g_high_fds) { /* fill every descriptor below FD_SETSIZE: the next accept gets one above it */
        struct rlimit rl = {FD_SETSIZE + 64, FD_SETSIZE + 64};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(2);
        int fd;
        while ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd < FD_SETSIZE) {
        }
    }
    if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port) _exit(2);
    close(port_fd);
    if (g_linger && pthread_key_create(&g_linger_key, linger) != 0) _exit(2);
    wire_err e = wire_server_run(g_srv, err, sizeof err);
    /* every thread the run started has exited, not merely finished serving: a program that exits
       or unloads the library next must not race them (valgrind once saw one's TLS "possibly lost") */
    pthread_mutex_lock(&g_lock);
    unsigned lingering = g_lingering, lingered = g_lingered;
    pthread_mutex_unlock(&g_lock);
    if (g_linger && (lingering == 0 || lingered != lingering)) {
        fprintf(stderr, "serve: wire_server_run() returned when %u of its %u threads had exited\n", lingered,
                lingering);
        _exit(3);
    }
    sigaction(SIGCHLD, NULL, &after);
    sigprocmask(SIG_SETMASK, NULL, &mask_after);
    bool restored = after.sa_handler == before.sa_handler &&
                    sigismember(&mask_after, SIGCHLD) == sigismember(&mask_before, SIGCHLD);
    wire_server_free(g_srv);
    _exit(e == WIRE_OK && restored ? 0 : 1);
}

/* ---- the test side ---- */

typedef struct server {
    pid_t pid;
    char port[8];
    wire_model model;
} server;

/* The server of the current test, killed by the teardown if the test failed before stopping it. */
static pid_t g_child;

static int teardown(void **state) {
    (void)state;
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
    }
    g_child = 0;
    return 0;
}

static void start(server *s, wire_model model) {
    int p[2];
    uint16_t port = 0;
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    s->model = model;
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the test gone, its server goes too */
#endif
        close(p[0]);
        serve(model, p[1]);
    }
    g_child = s->pid;
    close(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(read(p[0], &port, sizeof port), (ssize_t)sizeof port);
    close(p[0]);
    snprintf(s->port, sizeof s->port, "%u", (unsigned)port);
}

/* SIGTERM: the run must return WIRE_OK within 5 s (exit status 0 of the child). */
static void stop(server *s) {
    int st = 0;
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    pid_t r = 0;
    for (int k = 0; k < 500 && (r = waitpid(s->pid, &st, WNOHANG)) == 0; k++) usleep(10000);
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        fail_msg("--mode %s: the server did not stop within 5 s of wire_server_stop()", wire_model_name(s->model));
    }
    g_child = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("--mode %s: wire_server_run failed or left SIGCHLD changed (status 0x%x)", wire_model_name(s->model),
                 (unsigned)st);
}

static wire_conn *client(const server *s, const char *name) {
    wire_conn_config cc;
    wire_conn *c;
    char err[WIRE_ERRBUF_SIZE + 256];
    wire_conn_config_init(&cc, WIRE_ROLE_CLIENT);
    cc.name = name;
    if (wire_conn_connect("127.0.0.1", s->port, &cc, 3000, &c, err, sizeof err) != WIRE_OK)
        fail_msg("--mode %s: %s", wire_model_name(s->model), err);
    size_t len;
    const char *srv = wire_conn_peer_name(c, &len);
    assert_int_equal(len, 11);
    assert_memory_equal(srv, "engine-test", 11);
    return c;
}

/* Every model: the handler sees our HELLO name, and the socket it was given is close-on-exec with
 * TCP_NODELAY (accept used to set TCP_NODELAY in the event loop only). */
static void run_info(wire_model model) {
    server s;
    wire_frame f;
    start(&s, model);
    for (int i = 0; i < 3; i++) {
        char name[24];
        snprintf(name, sizeof name, "client-%d", i);
        wire_conn *c = client(&s, name);
        assert_int_equal(wire_conn_request(c, MSG_INFO, NULL, 0, &f, 3000), WIRE_OK);
        assert_int_equal(f.type, MSG_INFO_REPLY);
        wire_reader r;
        bool cloexec, nodelay;
        const char *peer;
        size_t len;
        wire_reader_init(&r, f.payload, f.length);
        wire_get_bool(&r, &cloexec);
        wire_get_bool(&r, &nodelay);
        wire_get_string(&r, &peer, &len);
        assert_int_equal(wire_reader_finish(&r), WIRE_OK);
        if (!cloexec || !nodelay)
            fail_msg("--mode %s: accepted socket cloexec=%d nodelay=%d", wire_model_name(model), cloexec, nodelay);
        assert_int_equal(len, strlen(name));
        assert_memory_equal(peer, name, len);
        assert_int_equal(wire_conn_hangup(c, 3000), WIRE_OK);
        wire_conn_free(c);
    }
    stop(&s);
}

/* The event models: what one connection's handler sends to the others reaches them at once, though
 * they sent nothing (the engine learns of it through wire_conn_set_notify); on_open and on_close
 * pair up. */
static void run_broadcast(wire_model model) {
    server s;
    wire_frame f;
    wire_conn *c[3];
    start(&s, model);
    for (int i = 0; i < 3; i++) c[i] = client(&s, "b");
    usleep(50000); /* each one's handshake is done on the server: all three are in the room */
    assert_int_equal(wire_conn_send(c[0], MSG_SAY, "hello room", 10), WIRE_OK);
    for (int i = 0; i < 3; i++) {
        wire_err e = wire_conn_recv(c[i], &f, 3000);
        if (e) fail_msg("--mode %s: client %d got no broadcast: %s", wire_model_name(model), i, wire_strerror(e));
        assert_int_equal(f.type, MSG_LINE);
        assert_int_equal(f.length, 10);
        assert_memory_equal(f.payload, "hello room", 10);
    }
    for (int i = 1; i < 3; i++) {
        assert_int_equal(wire_conn_hangup(c[i], 3000), WIRE_OK);
        wire_conn_free(c[i]);
    }
    uint32_t opened = 0, closed = 0;
    for (int k = 0; k < 100 && closed < 2; k++) { /* the server sees the two go */
        assert_int_equal(wire_conn_request(c[0], MSG_COUNT, NULL, 0, &f, 3000), WIRE_OK);
        wire_reader r;
        wire_reader_init(&r, f.payload, f.length);
        wire_get_u32(&r, &opened);
        wire_get_u32(&r, &closed);
        assert_int_equal(wire_reader_finish(&r), WIRE_OK);
        if (closed < 2) usleep(10000);
    }
    assert_int_equal(opened, 3);
    assert_int_equal(closed, 2);
    wire_conn_free(c[0]);
    stop(&s);
}

#define EACH_MODEL(fn)                                                                             \
    static void test_##fn##_epoll(void **state) {                                                  \
        (void)state;                                                                               \
        run_##fn(WIRE_MODEL_EPOLL);                                                                \
    }                                                                                              \
    static void test_##fn##_poll(void **state) {                                                   \
        (void)state;                                                                               \
        run_##fn(WIRE_MODEL_POLL);                                                                 \
    }                                                                                              \
    static void test_##fn##_select(void **state) {                                                 \
        (void)state;                                                                               \
        run_##fn(WIRE_MODEL_SELECT);                                                               \
    }
#define BLOCKING_MODELS(fn)                                                                        \
    static void test_##fn##_fork(void **state) {                                                   \
        (void)state;                                                                               \
        run_##fn(WIRE_MODEL_FORK);                                                                 \
    }                                                                                              \
    static void test_##fn##_thread(void **state) {                                                 \
        (void)state;                                                                               \
        run_##fn(WIRE_MODEL_THREAD);                                                               \
    }                                                                                              \
    static void test_##fn##_iterative(void **state) {                                              \
        (void)state;                                                                               \
        run_##fn(WIRE_MODEL_ITERATIVE);                                                            \
    }
EACH_MODEL(info)
BLOCKING_MODELS(info)
EACH_MODEL(broadcast)

/* select cannot watch a descriptor at or past FD_SETSIZE: such a connection is refused with
 * ERROR(LIMIT), and the server goes on (FD_SET past it would write out of bounds). */
static void test_select_past_fd_setsize(void **state) {
    (void)state;
    /* valgrind keeps descriptors of its own near the limit and refuses setrlimit(RLIMIT_NOFILE)
     * changes: this case cannot be set up under it (make check-valgrind sets the variable). */
    if (getenv("WIRE_UNDER_VALGRIND")) skip();
    server s;
    char err[WIRE_ERRBUF_SIZE + 256];
    wire_conn *c;
    g_high_fds = true;
    start(&s, WIRE_MODEL_SELECT);
    g_high_fds = false;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(wire_conn_connect("127.0.0.1", s.port, NULL, 3000, &c, err, sizeof err), WIRE_EPEER);
        assert_null(c);
        assert_non_null(strstr(err, "LIMIT"));
        assert_non_null(strstr(err, "cannot watch"));
    }
    stop(&s);
}

/* Several event loops: connections made one after the other are spread over the loops in turn (all
 * went to the first loop when every loop watched the listener), each is served to its end by its
 * loop's thread, max_conns holds over all of them, and stop ends every loop. */
static void run_loops(wire_model model) {
    server s;
    wire_frame f;
    wire_conn *c[5];
    unsigned seen[2] = {0, 0};
    g_loops = 2;
    g_max_conns = 4;
    start(&s, model);
    g_loops = g_max_conns = 0;
    for (int i = 0; i < 4; i++) {
        c[i] = client(&s, "loops");
        for (int k = 0; k < 3; k++) { /* the same thread every time */
            assert_int_equal(wire_conn_request(c[i], MSG_LOOP, NULL, 0, &f, 3000), WIRE_OK);
            assert_int_equal(f.type, MSG_LOOP_REPLY);
            assert_int_equal(f.length, 5);
            unsigned idx = f.payload[4];
            if (k == 0) seen[idx > 1 ? 1 : idx]++;
            assert_true(idx < 2);
        }
    }
    if (seen[0] != 2 || seen[1] != 2)
        fail_msg("--mode %s, 2 loops: %u and %u of 4 connections", wire_model_name(model), seen[0], seen[1]);
    /* the fifth is one too many, whichever loop's turn it is */
    wire_conn_config cc;
    char err[WIRE_ERRBUF_SIZE + 256];
    wire_conn_config_init(&cc, WIRE_ROLE_CLIENT);
    assert_int_equal(wire_conn_connect("127.0.0.1", s.port, &cc, 3000, &c[4], err, sizeof err), WIRE_EPEER);
    assert_non_null(strstr(err, "LIMIT"));
    assert_int_equal(wire_conn_hangup(c[1], 3000), WIRE_OK); /* a place comes free, in loop 1's count */
    wire_conn_free(c[1]);
    for (int k = 0; k < 100; k++) { /* its close is seen by the server a moment later */
        if (wire_conn_connect("127.0.0.1", s.port, &cc, 3000, &c[1], err, sizeof err) == WIRE_OK) break;
        c[1] = NULL;
        usleep(20000);
    }
    assert_non_null(c[1]);
    assert_int_equal(wire_conn_request(c[1], MSG_LOOP, NULL, 0, &f, 3000), WIRE_OK);
    stop(&s); /* with four connections open in two loops */
    for (int i = 0; i < 4; i++) wire_conn_free(c[i]);
}

/* The thread model, stopped with 8 connections open whose threads take 100 ms to exit once they
 * have served: wire_server_run() returns only after every one has exited (serve() checks). */
static void test_run_waits_for_exits_thread(void **state) {
    server s;
    wire_conn *c[8];
    wire_frame f;
    (void)state;
    g_linger = true;
    start(&s, WIRE_MODEL_THREAD);
    g_linger = false; /* the child has its copy */
    for (int i = 0; i < 8; i++) {
        c[i] = client(&s, "open");
        assert_int_equal(wire_conn_request(c[i], MSG_INFO, NULL, 0, &f, 3000), WIRE_OK);
    }
    stop(&s);
    for (int i = 0; i < 8; i++) wire_conn_free(c[i]);
}

static void test_loops_epoll(void **state) {
    (void)state;
#ifdef __linux__
    run_loops(WIRE_MODEL_EPOLL);
#else
    skip();
#endif
}
static void test_loops_poll(void **state) {
    (void)state;
    run_loops(WIRE_MODEL_POLL);
}

static void test_models_and_config(void **state) {
    (void)state;
    wire_model m;
    static const char *const names[] = {"epoll", "poll", "select", "fork", "thread", "iterative"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(wire_model_from_name(names[i], &m), WIRE_OK);
        assert_string_equal(wire_model_name(m), names[i]);
    }
    assert_int_equal(wire_model_from_name("nosuch", &m), WIRE_EINVAL);
    assert_null(wire_model_name((wire_model)0));
    wire_server_config cfg;
    wire_server *s;
    char err[WIRE_ERRBUF_SIZE];
    wire_server_config_init(&cfg);
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_EINVAL); /* no handler */
    assert_non_null(strstr(err, "on_frame"));
    cfg.on_frame = on_frame;
    cfg.max_conns = 0;
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_EINVAL);
    cfg.max_conns = 1;
    cfg.conn.max_payload = WIRE_MIN_MAX_PAYLOAD - 1; /* under the largest ERROR: refused (SPEC 8.1) */
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_EINVAL);
    cfg.conn.max_payload = WIRE_MIN_MAX_PAYLOAD;
    cfg.loops = 2;
    cfg.model = WIRE_MODEL_THREAD; /* one loop only there */
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_EINVAL);
    assert_non_null(strstr(err, "loops"));
    cfg.model = WIRE_MODEL_POLL;
    cfg.loops = -1;
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_EINVAL);
    cfg.loops = 0; /* one per CPU */
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_OK);
    wire_server_free(s);
    cfg.loops = 1;
    assert_int_equal(wire_server_new(&cfg, &s, err, sizeof err), WIRE_OK);
    assert_int_equal(wire_server_run(s, err, sizeof err), WIRE_EINVAL); /* nothing to listen on */
    assert_non_null(strstr(err, "listen"));
    assert_int_equal(wire_server_listen_tcp(s, "127.0.0.1", "99999", NULL, err, sizeof err), WIRE_EADDRESS);
    wire_server_free(s);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_and_config),
        cmocka_unit_test_teardown(test_info_epoll, teardown),
        cmocka_unit_test_teardown(test_info_poll, teardown),
        cmocka_unit_test_teardown(test_info_select, teardown),
        cmocka_unit_test_teardown(test_info_fork, teardown),
        cmocka_unit_test_teardown(test_info_thread, teardown),
        cmocka_unit_test_teardown(test_info_iterative, teardown),
        cmocka_unit_test_teardown(test_broadcast_epoll, teardown),
        cmocka_unit_test_teardown(test_broadcast_poll, teardown),
        cmocka_unit_test_teardown(test_broadcast_select, teardown),
        cmocka_unit_test_teardown(test_select_past_fd_setsize, teardown),
        cmocka_unit_test_teardown(test_run_waits_for_exits_thread, teardown),
        cmocka_unit_test_teardown(test_loops_epoll, teardown),
        cmocka_unit_test_teardown(test_loops_poll, teardown),
    };
    const char *filter = getenv("WIRE_TEST_FILTER"); /* e.g. WIRE_TEST_FILTER='*_thread' */
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
