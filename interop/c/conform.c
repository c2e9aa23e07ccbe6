/* SPDX-License-Identifier: MIT */
/* conform.c - wire-conform: checks someone's implementation of SPEC.md, a server or a client, by
 * levels that follow a sockets course:
 *   1  framing, HELLO, PING, BYE        (the message-level cases of the protocol itself)
 *   2  ECHO                             (opaque payloads, one recv is not one message)
 *   3  scalars both ways                (byte order: the vectors of u8..u64, i8..i64, f32, f64, bool)
 *   4  strings, lists, groups, errors   (the other vectors, STATS, ERROR codes and offsets)
 *   5  limits and concurrency           (timeouts, several clients at once, slowloris, max payload)
 *   6  the UDP datagram profile         (proto/udp.txt, and a few checks of its own: conform_udp.c)
 * A server is checked as its client: proto/sessions.txt and the interop exchange (exchange.c). A
 * client is checked as its server: the interop service (service.c) behind a relay that is legal but
 * awkward (it PINGs, splits frames byte by byte, coalesces them, gives one wrong reply that the client
 * must notice, and in a second run announces the smallest max_payload), and that watches what the
 * client sends. Level 6 is opt-in (--level 6; the default stays 5, so that graders written for
 * levels 1-5 run what they always ran) and checks servers only. Output: one line per check,
 * failures with their SPEC section and the bytes; or TAP. */
#include "conform_udp.h"
#include "exchange.h"
#include "service.h"
#include "sessions.h"

#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEVELS 6
#define DEFAULT_LEVEL 5 /* level 6 (UDP) only when asked for */
static const char *const level_name[LEVELS + 1] = {
    "", "framing, HELLO, PING, BYE", "ECHO", "scalars both ways", "strings, lists, groups, errors with offsets",
    "limits and concurrency", "the UDP datagram profile"};

/* ---------- checks and their results ---------- */

typedef struct check {
    char name[160];
    int level;
    const char *spec;
    int state; /* 0 not run, 1 passed, -1 failed */
    char *why;
} check;

typedef struct run {
    check *checks;
    size_t n, cap;
    int level;          /* run levels 1..level */
    const char *only[8]; /* glob patterns (fnmatch); none: every check */
    int nonly;
    bool tap;
    int timeout_ms;
    pthread_mutex_t lock;
} run;

static bool selected(const run *r, const char *name, int level) {
    if (level > r->level) return false;
    if (r->nonly == 0) return true;
    for (int i = 0; i < r->nonly; i++)
        if (fnmatch(r->only[i], name, 0) == 0) return true;
    return false;
}

static check *add_check(run *r, const char *name, int level, const char *spec) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        check *nc = realloc(r->checks, cap * sizeof *nc);
        if (!nc) return NULL;
        r->checks = nc;
        r->cap = cap;
    }
    check *c = &r->checks[r->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->level = level;
    c->spec = spec;
    return c;
}

static check *find_check(run *r, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->checks[i].name, name) == 0) return &r->checks[i];
    return NULL;
}

PRINTF_LIKE(4, 5) static void result(run *r, check *c, bool ok, const char *fmt, ...) {
    pthread_mutex_lock(&r->lock);
    if (c->state >= 0) { /* a check that failed once stays failed */
        c->state = ok ? 1 : -1;
        if (!ok && fmt) {
            char msg[2048];
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(msg, sizeof msg, fmt, ap);
            va_end(ap);
            free(c->why);
            c->why = strdup(msg);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

/* Prints every check that ran, level by level, then a summary; the exit status: 0 all passed. */
static int report(const run *r) {
    size_t ran = 0, failed = 0, k = 0;
    for (size_t i = 0; i < r->n; i++) ran += r->checks[i].state != 0;
    if (r->tap) printf("TAP version 13\n1..%zu\n", ran);
    for (int lv = 1; lv <= LEVELS; lv++) {
        size_t lran = 0, lfail = 0;
        for (size_t i = 0; i < r->n; i++) {
            const check *c = &r->checks[i];
            if (c->level != lv || c->state == 0) continue;
            lran++, k++;
            if (c->state < 0) lfail++, failed++;
            if (r->tap) {
                printf("%s %zu - L%d %s", c->state > 0 ? "ok" : "not ok", k, lv, c->name);
                if (c->state < 0) printf(" # SPEC %s: %s", c->spec, c->why ? c->why : "");
                printf("\n");
            } else if (c->state < 0) {
                printf("FAIL L%d %s (SPEC %s)\n     %s\n", lv, c->name, c->spec, c->why ? c->why : "");
            } else {
                printf("ok   L%d %s\n", lv, c->name);
            }
        }
        if (lran && !r->tap)
            printf("== level %d (%s): %zu of %zu checks passed\n", lv, level_name[lv], lran - lfail, lran);
    }
    if (r->tap) printf("# %zu passed, %zu failed\n", ran - failed, failed);
    else printf("%zu passed, %zu failed\n", ran - failed, failed);
    return failed || ran == 0 ? 1 : 0;
}

/* ---------- what belongs to which level ---------- */

static bool scalar_vector(const char *name) {
    static const char *const prefixes[] = {"u8.", "u16.", "u32.", "u64.", "i8.", "i16.", "i32.", "i64.",
                                           "f32.", "f64.", "bool."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

/* The level and SPEC section of an interop exchange case ("check:u32.pattern", "echo:4096"...). */
static int case_level(const char *name, const char **spec) {
    const char *colon = strchr(name, ':');
    const char *vec = colon ? colon + 1 : "";
    if (strcmp(name, "hello") == 0) return *spec = "8.1 10.10", 1;
    if (strcmp(name, "ping") == 0) return *spec = "7.5", 1;
    if (strcmp(name, "bye") == 0) return *spec = "8.5", 1;
    if (strncmp(name, "echo:", 5) == 0) return *spec = "10.2", 2;
    if (strncmp(name, "check:", 6) == 0) return *spec = "10.4", scalar_vector(vec) ? 3 : 4;
    if (strncmp(name, "get:", 4) == 0) return *spec = "10.5", scalar_vector(vec) ? 3 : 4;
    if (strncmp(name, "roundtrip:", 10) == 0) return *spec = "10.3", scalar_vector(vec) ? 3 : 4;
    if (strncmp(name, "stats:", 6) == 0) return *spec = "10.6", 4;
    if (strncmp(name, "reject:", 7) == 0) return *spec = "5 10.10", 4;
    return *spec = "10.4", 4; /* check-unknown */
}

static int session_level(const char *name) {
    static const struct {
        const char *prefix;
        int level;
    } map[] = {{"header.max-payload-accepted", 2}, {"echo.", 2},         {"roundtrip.", 4}, {"vector-", 4},
               {"stats.", 4},                      {"timeout.", 5}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(name, map[i].prefix, strlen(map[i].prefix)) == 0) return map[i].level;
    return 1;
}

/* ---------- loading proto/ ---------- */

typedef struct proto {
    wv_file vectors, stats;
    ws_file sessions;
    cu_file udp; /* loaded for level 6 only (empty otherwise) */
} proto;

/* The proto/ files; udp.txt only when with_udp, so that levels 1-5 do not need it. */
static int load_proto(proto *p, const char *const given[4], bool with_udp) {
    char buf[4][4200], err[512];
    const char *paths[4];
    const char *files[4] = {"vectors.txt", "stats.txt", "sessions.txt", "udp.txt"};
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 4; i++)
        paths[i] = given[i] ? given[i] : wv_default_path(files[i], buf[i], sizeof buf[i]) ? buf[i] : files[i];
    if (wv_load(paths[0], &p->vectors, err, sizeof err) || wv_load(paths[1], &p->stats, err, sizeof err) ||
        ws_load(paths[2], &p->sessions, err, sizeof err) || (with_udp && cu_load(paths[3], &p->udp, err, sizeof err))) {
        fprintf(stderr, "wire-conform: %s\n", err);
        wv_free(&p->vectors); /* what loaded before the file that did not */
        wv_free(&p->stats);
        ws_free(&p->sessions);
        return -1;
    }
    return 0;
}

/* ---------- checking a server ---------- */

typedef struct server_target {
    run *r;
    const proto *p;
    const char *host, *port;
} server_target;

static bool want_case(void *arg, const char *name) {
    run *r = arg;
    const char *spec;
    return selected(r, name, case_level(name, &spec)) && find_check(r, name);
}

static void case_done(void *arg, const char *name, bool ok, const char *why) {
    run *r = arg;
    check *c = find_check(r, name);
    if (c) result(r, c, ok, "%s", why);
}

/* Several clients at once, each part of the exchange, all passing. */
typedef struct many {
    const server_target *t;
    bool ok;
    char why[1024];
} many;

static bool want_some(void *arg, const char *name) {
    (void)arg;
    return strncmp(name, "echo:", 5) == 0 || strcmp(name, "bye") == 0 || strcmp(name, "hello") == 0 ||
           strncmp(name, "stats:", 6) == 0 || strncmp(name, "check:u", 7) == 0;
}

static void some_done(void *arg, const char *name, bool ok, const char *why) {
    many *m = arg;
    if (!ok && m->ok) {
        m->ok = false;
        snprintf(m->why, sizeof m->why, "%s: %s", name, why);
    }
}

static void *one_of_many(void *arg) {
    many *m = arg;
    ex_config cfg = {m->t->host, m->t->port, NULL, "wire-conform", m->t->r->timeout_ms, &m->t->p->vectors,
                     &m->t->p->stats, want_some, some_done, m};
    unsigned passed, failed;
    if (ex_run(&cfg, &passed, &failed) || passed == 0) {
        m->ok = false;
        snprintf(m->why, sizeof m->why, "the exchange did not run (%u cases)", passed);
    }
    return NULL;
}

static void check_concurrent(const server_target *t, check *c) {
    enum { N = 8 };
    many m[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        m[i].t = t;
        m[i].ok = true;
        m[i].why[0] = '\0';
        if (pthread_create(&th[i], NULL, one_of_many, &m[i])) m[i].ok = false;
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        if (!m[i].ok) {
            result(t->r, c, false, "client %d of %d at once: %s", i + 1, N, m[i].why);
            return;
        }
    result(t->r, c, true, NULL);
}

/* 20 connections each send 3 header bytes and nothing more, while another client is served: every
 * one of the 20 gets ERROR(TIMEOUT) within the frame timeout (and a margin), the other client
 * notices nothing. */
static void check_slowloris(const server_target *t, check *c) {
    enum { N = 20 };
    int fd[N];
    char err[WIRE_ERRBUF_SIZE];
    for (int i = 0; i < N; i++) {
        fd[i] = -1;
        if (wire_tcp_connect(t->host, t->port, 3000, &fd[i], err, sizeof err) != WIRE_OK) {
            result(t->r, c, false, "connection %d: %s", i + 1, err);
            for (int k = 0; k < i; k++) close(fd[k]);
            return;
        }
        if (wire_write_all(fd[i], "\x01\x00\x00", 3) != WIRE_OK) {
            result(t->r, c, false, "connection %d: cannot send", i + 1);
        }
    }
    many m = {t, true, ""};
    one_of_many(&m);
    if (!m.ok) result(t->r, c, false, "a client beside %d stalled connections failed: %s", N, m.why);
    int64_t until = wire_now_ms() + 6000;
    for (int i = 0; i < N; i++) {
        uint8_t buf[2048];
        wire_frame f;
        wire_error_msg e;
        size_t got = 0;
        while (got < sizeof buf) {
            int64_t left = until - wire_now_ms();
            struct pollfd p = {fd[i], POLLIN, 0};
            if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
            ssize_t n = read(fd[i], buf + got, sizeof buf - got);
            if (n <= 0) break;
            got += (size_t)n;
            wire_err pe;
            if (wire_frame_parse(buf, got, sizeof buf, &f, &pe, NULL) == 1) break;
        }
        wire_err pe;
        bool ok = wire_frame_parse(buf, got, sizeof buf, &f, &pe, NULL) == 1 && f.type == WIRE_MSG_ERROR &&
                  wire_get_error_msg(f.payload, f.length, &e, NULL) == WIRE_OK && e.code == WIRE_ETIMEOUT;
        if (!ok) result(t->r, c, false, "stalled connection %d: no ERROR TIMEOUT within the frame timeout (%zu bytes came)",
                        i + 1, got);
        close(fd[i]);
    }
    result(t->r, c, true, NULL);
}

typedef struct session_pool {
    const server_target *t;
    size_t next;
    int level_lo, level_hi;
    pthread_mutex_t lock;
} session_pool;

static void *session_worker(void *arg) {
    session_pool *sp = arg;
    const ws_file *f = &sp->t->p->sessions;
    for (;;) {
        pthread_mutex_lock(&sp->lock);
        size_t k = sp->next++;
        pthread_mutex_unlock(&sp->lock);
        if (k >= f->count) return NULL;
        const ws_session *s = &f->sessions[k];
        int lv = session_level(s->name);
        char name[160], why[1600];
        snprintf(name, sizeof name, "session:%s", s->name);
        check *c = find_check(sp->t->r, name);
        if (!c || lv < sp->level_lo || lv > sp->level_hi || !selected(sp->t->r, name, lv)) continue;
        bool ok = ws_run(f, s, sp->t->host, sp->t->port, why, sizeof why) == 0;
        result(sp->t->r, c, ok, "%s", why);
    }
}

static void run_sessions(const server_target *t, int lo, int hi) {
    session_pool sp = {t, 0, lo, hi, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, session_worker, &sp);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
}

/* Level 6, after the others: every case of proto/udp.txt, one after the other (each from a fresh
 * socket; in sequence, so that one case's answers cannot be taken for another's), then the extras. */
static void run_udp(run *r, const proto *p, const char *host, const char *port) {
    cu_target t;
    char err[512], name[200], why[2048];
    bool any = false;
    for (size_t i = 0; i < r->n; i++) any = any || r->checks[i].level == 6;
    if (!any) return;
    if (cu_resolve(host, port, r->timeout_ms, &t, err, sizeof err)) {
        for (size_t i = 0; i < r->n; i++)
            if (r->checks[i].level == 6) result(r, &r->checks[i], false, "%s", err);
        return;
    }
    for (size_t i = 0; i < p->udp.count; i++) {
        snprintf(name, sizeof name, "udp:%s", p->udp.cases[i].name);
        check *c = find_check(r, name);
        if (c) result(r, c, cu_run_case(&t, &p->udp.cases[i], why, sizeof why) == 0, "%s", why);
    }
    for (size_t i = 0; i < cu_nextras; i++) {
        check *c = find_check(r, cu_extras[i].name);
        if (c) result(r, c, cu_extras[i].run(&t, &p->udp, why, sizeof why) == 0, "%s", why);
    }
}

static int check_server(run *r, const proto *p, const char *host, const char *port) {
    server_target t = {r, p, host, port};
    /* the checks, for the levels asked */
    for (size_t i = 0; i < p->sessions.count; i++) {
        char name[160];
        snprintf(name, sizeof name, "session:%s", p->sessions.sessions[i].name);
        int lv = session_level(p->sessions.sessions[i].name);
        if (selected(r, name, lv)) add_check(r, name, lv, p->sessions.sessions[i].spec);
    }
    static const char *const fixed[] = {"hello", "check-unknown", "echo:0", "echo:1", "echo:4096", "echo:1048576",
                                        "ping", "bye"};
    char name[200];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        const char *spec;
        int lv = case_level(fixed[i], &spec);
        if (selected(r, fixed[i], lv)) add_check(r, fixed[i], lv, spec);
    }
    for (size_t i = 0; i < p->vectors.count; i++) {
        const wv_case *v = &p->vectors.cases[i];
        static const char *const ok_kinds[] = {"check:", "get:", "roundtrip:"};
        for (size_t k = 0; v->kind == WV_OK && k < 3; k++) {
            const char *spec;
            snprintf(name, sizeof name, "%s%s", ok_kinds[k], v->name);
            int lv = case_level(name, &spec);
            if (selected(r, name, lv)) add_check(r, name, lv, spec);
        }
        if (v->kind == WV_ERR) {
            const char *spec;
            snprintf(name, sizeof name, "reject:%s", v->name);
            int lv = case_level(name, &spec);
            if (selected(r, name, lv)) add_check(r, name, lv, spec);
        }
    }
    for (size_t i = 0; i < p->stats.count; i++) {
        const char *spec;
        snprintf(name, sizeof name, "stats:%s", p->stats.cases[i].name);
        int lv = case_level(name, &spec);
        if (selected(r, name, lv)) add_check(r, name, lv, spec);
    }
    check *conc = selected(r, "concurrent:8-clients", 5) ? add_check(r, "concurrent:8-clients", 5, "8.1 9.3") : NULL;
    check *slow = selected(r, "slowloris:20-stalled", 5) ? add_check(r, "slowloris:20-stalled", 5, "9.3") : NULL;
    for (size_t i = 0; i < p->udp.count; i++) {
        snprintf(name, sizeof name, "udp:%s", p->udp.cases[i].name);
        if (selected(r, name, 6)) add_check(r, name, 6, cu_spec(p->udp.cases[i].name));
    }
    for (size_t i = 0; i < cu_nextras; i++)
        if (selected(r, cu_extras[i].name, 6)) add_check(r, cu_extras[i].name, 6, cu_extras[i].spec);
    /* levels 1 to 4: the sessions and the exchange; level 5 last (timeouts take seconds) */
    run_sessions(&t, 1, 4);
    ex_config cfg = {host, port, NULL, "wire-conform", r->timeout_ms, &p->vectors, &p->stats, want_case, case_done, r};
    unsigned passed, failed;
    if (ex_run(&cfg, &passed, &failed)) fprintf(stderr, "wire-conform: out of memory\n");
    run_sessions(&t, 5, 5);
    if (conc) check_concurrent(&t, conc);
    if (slow) check_slowloris(&t, slow);
    run_udp(r, p, host, port);
    return report(r);
}

/* ---------- checking a client: the awkward server ---------- */

/* What the relays saw the client do, over all its connections. */
typedef struct observed {
    pthread_mutex_t lock;
    int connections;
    int bad_hello;        /* connections whose first frame was not a good HELLO */
    char hello_why[300];
    int pings, pongs, bad_pongs;
    char pong_why[300];
    int oversize;         /* frames larger than the max_payload we announced */
    char oversize_why[200];
    int byes;             /* BYEs sent by the client */
    int tampered;         /* wrong replies given (the client must notice) */
} observed;

typedef struct relay_cfg {
    const char *service_port; /* the interop service (libwire's engine, in this process) */
    observed *obs;
    uint32_t announce;    /* the max_payload our HELLO says */
    bool awkward;         /* PINGs, split and coalesced frames */
    const char *tamper;   /* the vector whose VECTOR_DATA is sent wrong (byte-swapped) */
    pthread_mutex_t *lock; /* active relays, signalled on cond when one ends */
    pthread_cond_t *cond;
    int *active;
} relay_cfg;

enum { MAX_PINGS = 16 };

/* One client connection: the client's bytes go up to the service, the service's come down, each
 * direction in its own thread so that neither side's blocking write can stall the other. */
typedef struct relay {
    const relay_cfg *cfg;
    int cfd;              /* the client under test */
    int sfd;              /* our connection to the service */
    pthread_mutex_t lock; /* the PINGs not answered yet */
    uint8_t pings[MAX_PINGS][8];
    int npings;
    uint32_t ping_seq;
    bool down_done;
} relay;

/* Counts one event of a kind. */
static void tally_one(observed *o, int *counter) {
    pthread_mutex_lock(&o->lock);
    (*counter)++;
    pthread_mutex_unlock(&o->lock);
}

/* Counts one event of a kind, and keeps the first one's description in why. */
PRINTF_LIKE(5, 6) static void note(observed *o, int *counter, char *why, size_t len, const char *fmt, ...) {
    pthread_mutex_lock(&o->lock);
    (*counter)++;
    if (why && !why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&o->lock);
}

/* HELLO's max_payload value: its tag at payload offset 3, its 4 bytes at 4 (SPEC 7.3, 12.6). */
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Writes to the client: whole, or (awkward) one byte per write with pauses, which gives the client
 * one segment per byte to reassemble. */
static bool to_client(int fd, const uint8_t *p, size_t n, bool bytewise) {
    if (!bytewise) return wire_write_all(fd, p, n) == WIRE_OK;
    for (size_t i = 0; i < n; i++) {
        if (wire_write_all(fd, p + i, 1) != WIRE_OK) return false;
        if (i % 8 == 7) nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    return true;
}

/* Reads what fd has into the parser; false at EOF or on an error. */
static bool fill(wire_parser *ps, int fd) {
    size_t room;
    uint8_t *dst = wire_parser_space(ps, &room);
    if (room == 0) return false;
    ssize_t n;
    do n = read(fd, dst, room);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    wire_parser_advance(ps, (size_t)n);
    return true;
}

/* client -> service: watched (its HELLO, its frame sizes, its PONGs, its BYE), PONGs to our own PINGs
 * taken out, the rest passed on. */
static void *relay_up(void *arg) {
    relay *rl = arg;
    const relay_cfg *cfg = rl->cfg;
    observed *o = cfg->obs;
    static const size_t cap = WIRE_HEADER_SIZE + WIRE_DEFAULT_MAX_PAYLOAD;
    uint8_t *buf = malloc(cap);
    wire_parser ps;
    bool first = true;
    int64_t until = wire_now_ms() + 120000; /* no client takes two minutes for one connection */
    if (buf) wire_parser_init(&ps, buf, cap, WIRE_DEFAULT_MAX_PAYLOAD);
    while (buf && wire_now_ms() < until) {
        struct pollfd p = {rl->cfd, POLLIN, 0};
        int n = poll(&p, 1, 200);
        if (n == 0) {
            pthread_mutex_lock(&rl->lock);
            bool down = rl->down_done;
            pthread_mutex_unlock(&rl->lock);
            if (down) until = until < wire_now_ms() + 5000 ? until : wire_now_ms() + 5000;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || !fill(&ps, rl->cfd)) break;
        wire_frame f;
        int rc;
        bool stop = false;
        while (!stop && (rc = wire_parser_next(&ps, &f)) == 1) {
            if (first) {
                wire_hello h;
                size_t at;
                wire_err e = f.type == WIRE_MSG_HELLO ? wire_get_hello(f.payload, f.length, &h, &at) : WIRE_EUNEXPECTED;
                if (e)
                    note(o, &o->bad_hello, o->hello_why, sizeof o->hello_why,
                         "the client's first frame: type 0x%04x, %s", f.type, wire_err_name(e));
                first = false;
            }
            if (f.length > cfg->announce)
                note(o, &o->oversize, o->oversize_why, sizeof o->oversize_why,
                     "a frame of type 0x%04x with %lu payload bytes, where our HELLO said %lu", f.type,
                     (unsigned long)f.length, (unsigned long)cfg->announce);
            if (f.type == WIRE_MSG_PONG) {
                pthread_mutex_lock(&rl->lock);
                bool ours = rl->npings > 0;
                bool same = ours && f.length == 8 && memcmp(f.payload, rl->pings[0], 8) == 0;
                if (ours) memmove(rl->pings[0], rl->pings[1], (size_t)--rl->npings * 8);
                pthread_mutex_unlock(&rl->lock);
                if (ours) {
                    if (same) tally_one(o, &o->pongs);
                    else
                        note(o, &o->bad_pongs, o->pong_why, sizeof o->pong_why,
                             "a PONG whose payload (%lu bytes) is not the oldest PING's", (unsigned long)f.length);
                    continue;
                }
            }
            if (f.type == WIRE_MSG_BYE) tally_one(o, &o->byes);
            uint8_t hdr[WIRE_HEADER_SIZE];
            wire_header_encode(hdr, f.type, f.length);
            if (wire_write_all(rl->sfd, hdr, sizeof hdr) || wire_write_all(rl->sfd, f.payload, f.length)) stop = true;
        }
        if (stop || rc < 0) break; /* a bad header: the client's fault, which its own report shows */
    }
    shutdown(rl->sfd, SHUT_WR); /* the client is done: so is its service connection */
    free(buf);
    return NULL;
}

/* service -> client: the service's HELLO announcing our max (and a PING right behind it), a wrong
 * reply for one vector, a PING before some replies in the same write, some frames byte by byte. */
static void relay_down(relay *rl) {
    const relay_cfg *cfg = rl->cfg;
    observed *o = cfg->obs;
    static const size_t cap = WIRE_HEADER_SIZE + WIRE_DEFAULT_MAX_PAYLOAD;
    uint8_t *buf = malloc(cap);
    wire_parser ps;
    unsigned frames_out = 0;
    if (buf) wire_parser_init(&ps, buf, cap, WIRE_DEFAULT_MAX_PAYLOAD);
    while (buf && fill(&ps, rl->sfd)) {
        wire_frame f;
        bool stop = false;
        while (!stop && wire_parser_next(&ps, &f) == 1) {
            uint8_t *out = malloc(WIRE_HEADER_SIZE + f.length + WIRE_HEADER_SIZE + 8);
            if (!out) break;
            size_t len = 0;
            frames_out++;
            bool reply = f.type >= 0x0100 && f.type <= 0x01ff;
            bool ping_before = cfg->awkward && reply && frames_out % 5 == 0;
            bool ping_after = cfg->awkward && f.type == WIRE_MSG_HELLO;
            uint8_t ping[8];
            if (ping_before || ping_after) {
                pthread_mutex_lock(&rl->lock);
                if (rl->npings < MAX_PINGS) {
                    uint32_t seq = ++rl->ping_seq;
                    put_be32(ping, 0x77697265u); /* "wire" */
                    put_be32(ping + 4, seq);
                    memcpy(rl->pings[rl->npings++], ping, 8);
                    tally_one(o, &o->pings);
                } else {
                    ping_before = ping_after = false;
                }
                pthread_mutex_unlock(&rl->lock);
            }
            if (ping_before) {
                wire_header_encode(out, WIRE_MSG_PING, 8);
                memcpy(out + WIRE_HEADER_SIZE, ping, 8);
                len = WIRE_HEADER_SIZE + 8;
            }
            uint8_t *fr = out + len;
            wire_header_encode(fr, f.type, f.length);
            memcpy(fr + WIRE_HEADER_SIZE, f.payload, f.length);
            len += WIRE_HEADER_SIZE + f.length;
            if (f.type == WIRE_MSG_HELLO && cfg->announce != WIRE_DEFAULT_MAX_PAYLOAD && f.length >= 8)
                put_be32(fr + WIRE_HEADER_SIZE + 4, cfg->announce);
            if (cfg->tamper && f.type == WIRE_MSG_VECTOR_DATA) {
                /* VECTOR_DATA: string tag, length word, the name, then the u32 field: tag, 4 bytes */
                size_t tl = strlen(cfg->tamper);
                if (f.length == 5 + tl + 5 && memcmp(f.payload + 5, cfg->tamper, tl) == 0) {
                    uint8_t *v = fr + WIRE_HEADER_SIZE + 5 + tl + 1, t0 = v[0], t1 = v[1];
                    v[0] = v[3], v[1] = v[2], v[2] = t1, v[3] = t0;
                    tally_one(o, &o->tampered);
                }
            }
            if (ping_after) {
                wire_header_encode(out + len, WIRE_MSG_PING, 8);
                memcpy(out + len + WIRE_HEADER_SIZE, ping, 8);
                len += WIRE_HEADER_SIZE + 8;
            }
            bool bytewise = cfg->awkward && reply && frames_out % 3 == 0 && len <= 600;
            if (!to_client(rl->cfd, out, len, bytewise)) stop = true;
            free(out);
        }
        if (stop) break;
    }
    shutdown(rl->cfd, SHUT_WR); /* the service closed: so do we, after its last frame */
    free(buf);
}

static void *relay_main(void *arg) {
    relay *rl = arg;
    const relay_cfg *cfg = rl->cfg;
    char err[WIRE_ERRBUF_SIZE];
    pthread_t up;
    tally_one(cfg->obs, &cfg->obs->connections);
    if (wire_tcp_connect("127.0.0.1", cfg->service_port, 5000, &rl->sfd, err, sizeof err) == WIRE_OK) {
        if (pthread_create(&up, NULL, relay_up, rl) == 0) {
            relay_down(rl);
            pthread_mutex_lock(&rl->lock);
            rl->down_done = true;
            pthread_mutex_unlock(&rl->lock);
            pthread_join(up, NULL);
        }
        close(rl->sfd);
    } else {
        fprintf(stderr, "wire-conform: the service: %s\n", err);
    }
    pthread_mutex_lock(&rl->lock);
    int left = rl->npings;
    pthread_mutex_unlock(&rl->lock);
    if (left > 0)
        note(cfg->obs, &cfg->obs->bad_pongs, cfg->obs->pong_why, sizeof cfg->obs->pong_why,
             "%d PING(s) never answered on one connection", left);
    close(rl->cfd);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
    pthread_mutex_lock(cfg->lock);
    --*cfg->active;
    pthread_cond_signal(cfg->cond);
    pthread_mutex_unlock(cfg->lock);
    return NULL;
}

/* The interop service, on libwire's engine in a thread of this process: what the relays talk to. */
typedef struct service {
    wire_server *srv;
    svc_config sc;
    pthread_t th;
    char port[8];
} service;

static void *service_main(void *arg) {
    service *sv = arg;
    char err[WIRE_ERRBUF_SIZE];
    if (wire_server_run(sv->srv, err, sizeof err)) fprintf(stderr, "wire-conform: the service: %s\n", err);
    return NULL;
}

static int service_start(service *sv, const proto *p) {
    wire_server_config cfg;
    char err[WIRE_ERRBUF_SIZE];
    uint16_t bound;
    wire_server_config_init(&cfg);
    cfg.conn.name = "wire-conform";
    cfg.conn.serves = svc_serves;
    cfg.on_frame = svc_on_frame;
    sv->sc.vectors = &p->vectors;
    cfg.user = &sv->sc;
    if (wire_server_new(&cfg, &sv->srv, err, sizeof err) ||
        wire_server_listen_tcp(sv->srv, "127.0.0.1", "0", &bound, err, sizeof err)) {
        fprintf(stderr, "wire-conform: cannot start the service: %s\n", err);
        wire_server_free(sv->srv);
        return -1;
    }
    snprintf(sv->port, sizeof sv->port, "%u", (unsigned)bound);
    if (pthread_create(&sv->th, NULL, service_main, sv)) {
        wire_server_free(sv->srv);
        return -1;
    }
    return 0;
}

static void service_stop(service *sv) {
    wire_server_stop(sv->srv);
    pthread_join(sv->th, NULL);
    wire_server_free(sv->srv);
}

/* Runs the client command against relays with this configuration: its stdout in *out, its wait
 * status in *status (-1: it did not finish within timeout_ms and was killed). */
static int run_client_once(relay_cfg *cfg, char *const *cmd, int timeout_ms, char **out, int *status) {
    int lfd, pipefd[2];
    char err[WIRE_ERRBUF_SIZE], port[8];
    uint16_t bound;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int active = 0;
    cfg->lock = &lock, cfg->cond = &cond, cfg->active = &active;
    if (wire_tcp_listen("127.0.0.1", "0", 64, &lfd, err, sizeof err) || wire_local_port(lfd, &bound)) {
        fprintf(stderr, "wire-conform: cannot listen: %s\n", err);
        return -1;
    }
    if (pipe(pipefd)) {
        close(lfd);
        return -1;
    }
    snprintf(port, sizeof port, "%u", (unsigned)bound);
    static char opt_host[] = "--host", host[] = "127.0.0.1", opt_port[] = "--port";
    size_t argc = 0;
    while (cmd[argc]) argc++;
    char **argv = calloc(argc + 5, sizeof *argv);
    if (!argv) return -1;
    for (size_t i = 0; i < argc; i++) argv[i] = cmd[i];
    argv[argc] = opt_host;
    argv[argc + 1] = host;
    argv[argc + 2] = opt_port;
    argv[argc + 3] = port;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(lfd);
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "wire-conform: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(argv);
    close(pipefd[1]);
    size_t len = 0, cap = 65536;
    char *text = malloc(cap);
    bool child_out = false;
    int64_t until = wire_now_ms() + timeout_ms;
    while (pid > 0 && text && !child_out && wire_now_ms() < until) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {pipefd[0], POLLIN, 0}};
        if (poll(p, 2, 200) < 0 && errno != EINTR) break;
        int cfd;
        if (p[0].revents && wire_accept(lfd, false, &cfd, err, sizeof err) == WIRE_OK && cfd >= 0) {
            relay *rl = calloc(1, sizeof *rl);
            pthread_t th;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (rl) {
                rl->cfg = cfg, rl->cfd = cfd, rl->sfd = -1;
                pthread_mutex_init(&rl->lock, NULL);
                pthread_mutex_lock(&lock);
                active++;
                pthread_mutex_unlock(&lock);
            }
            if (!rl || pthread_create(&th, &attr, relay_main, rl) != 0) {
                if (rl) {
                    pthread_mutex_lock(&lock);
                    active--;
                    pthread_mutex_unlock(&lock);
                    pthread_mutex_destroy(&rl->lock);
                }
                close(cfd);
                free(rl);
            }
            pthread_attr_destroy(&attr);
        }
        if (p[1].revents) {
            if (len + 4096 > cap) {
                char *nt = realloc(text, cap *= 2);
                if (!nt) break;
                text = nt;
            }
            ssize_t n = read(pipefd[0], text + len, cap - len - 1);
            if (n <= 0) child_out = true;
            else len += (size_t)n;
        }
    }
    if (pid > 0 && !child_out) kill(pid, SIGKILL);
    int st = 0;
    if (pid > 0) waitpid(pid, &st, 0);
    *status = child_out && pid > 0 ? st : -1;
    close(lfd);
    close(pipefd[0]);
    /* the relays end once the client's connections have: it has exited */
    pthread_mutex_lock(&lock);
    while (active > 0) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    if (text) text[len] = '\0';
    *out = text;
    return text ? 0 : -1;
}

/* The client's report of one case: 1 ok, -1 FAIL (why in *why), 0 not reported. */
static int reported(const char *out, const char *name, const char **why) {
    size_t nl = strlen(name);
    for (const char *line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, "ok   ", 5) == 0 && strncmp(line + 5, name, nl) == 0 && (line[5 + nl] == '\n' || !line[5 + nl]))
            return 1;
        if (strncmp(line, "FAIL ", 5) == 0 && strncmp(line + 5, name, nl) == 0 && line[5 + nl] == ':') {
            *why = line + 5 + nl + 2;
            return -1;
        }
    }
    return 0;
}

static int check_client(run *r, const proto *p, char *const *cmd) {
    static const char *const tamper = "u32.pattern";
    observed obs;
    memset(&obs, 0, sizeof obs);
    pthread_mutex_init(&obs.lock, NULL);
    service sv;
    if (service_start(&sv, p)) return 2;
    relay_cfg cfg = {sv.port, &obs, WIRE_DEFAULT_MAX_PAYLOAD, true, tamper, NULL, NULL, NULL};
    char *out = NULL;
    int status;
    if (run_client_once(&cfg, cmd, 180000, &out, &status)) {
        service_stop(&sv);
        return 2;
    }
    /* the client's own behaviour */
    check *c;
    if ((c = selected(r, "client:hello", 1) ? add_check(r, "client:hello", 1, "8.1 7.3") : NULL))
        result(r, c, obs.connections > 0 && obs.bad_hello == 0, "%s",
               obs.connections ? obs.hello_why : "the client never connected");
    if ((c = selected(r, "client:answers-ping", 1) ? add_check(r, "client:answers-ping", 1, "7.5 8.6") : NULL))
        result(r, c, obs.pings > 0 && obs.bad_pongs == 0 && obs.pongs == obs.pings,
               "%d PINGs sent (after our HELLO, and before some replies), %d answered with the same payload, %d "
               "wrong or missing%s%s",
               obs.pings, obs.pongs, obs.bad_pongs, obs.pong_why[0] ? ": " : "", obs.pong_why);
    if ((c = selected(r, "client:says-bye", 1) ? add_check(r, "client:says-bye", 1, "8.5") : NULL))
        result(r, c, obs.byes > 0, "the client never sent BYE");
    if ((c = selected(r, "client:summary", 1) ? add_check(r, "client:summary", 1, "10.10") : NULL)) {
        const char *last = out ? strstr(out, " passed, ") : NULL;
        result(r, c, last != NULL && status != -1, "%s", status == -1 ? "the client did not finish in 3 minutes"
                                                                      : "no '<N> passed, <M> failed' line");
    }
    if ((c = selected(r, "client:notices-wrong-data", 3) ? add_check(r, "client:notices-wrong-data", 3, "10.5") : NULL)) {
        const char *why = NULL;
        char name[64];
        snprintf(name, sizeof name, "get:%s", tamper);
        int rep = out ? reported(out, name, &why) : 0;
        result(r, c, obs.tampered > 0 && rep < 0,
               "VECTOR_DATA for %s was sent with its u32 byte-swapped; the client reported %s", tamper,
               rep > 0 ? "ok: it does not check the bytes it gets" : rep == 0 ? "nothing for that case" : "?");
    }
    /* every case of the exchange, as the client reported it */
    const char *fixed[] = {"hello", "check-unknown", "echo:0", "echo:1", "echo:4096", "echo:1048576", "ping", "bye"};
    char name[200];
    size_t nnames = sizeof fixed / sizeof fixed[0] + 3 * p->vectors.count + p->stats.count;
    char **names = calloc(nnames, sizeof *names);
    size_t k = 0;
    for (size_t i = 0; names && i < sizeof fixed / sizeof fixed[0]; i++) names[k++] = strdup(fixed[i]);
    for (size_t i = 0; names && i < p->vectors.count; i++) {
        const wv_case *v = &p->vectors.cases[i];
        if (v->kind != WV_OK && v->kind != WV_ERR) continue;
        const char *kinds[] = {"check:", "get:", "roundtrip:"};
        for (size_t j = 0; j < (v->kind == WV_OK ? 3u : 1u); j++) {
            snprintf(name, sizeof name, "%s%s", v->kind == WV_OK ? kinds[j] : "reject:", v->name);
            names[k++] = strdup(name);
        }
    }
    for (size_t i = 0; names && i < p->stats.count; i++) {
        snprintf(name, sizeof name, "stats:%s", p->stats.cases[i].name);
        names[k++] = strdup(name);
    }
    for (size_t i = 0; i < k; i++) {
        const char *spec, *why = "the client did not report this case";
        int lv = names[i] ? case_level(names[i], &spec) : 0;
        snprintf(name, sizeof name, "get:%s", tamper);
        if (lv && strcmp(names[i], name) != 0 && selected(r, names[i], lv)) { /* (get:tamper: above) */
            c = add_check(r, names[i], lv, spec);
            int rep = out ? reported(out, names[i], &why) : 0;
            if (c) result(r, c, rep > 0, "%.*s", (int)strcspn(why, "\n"), why);
        }
        free(names[i]);
    }
    free(names);
    free(out);
    /* level 5: again, announcing the smallest max_payload: the client must never send more */
    if (selected(r, "client:respects-max-payload", 5)) {
        c = add_check(r, "client:respects-max-payload", 5, "8.1 10.10");
        observed o2;
        memset(&o2, 0, sizeof o2);
        pthread_mutex_init(&o2.lock, NULL);
        relay_cfg small = {sv.port, &o2, WIRE_MIN_MAX_PAYLOAD, false, NULL, NULL, NULL, NULL};
        if (run_client_once(&small, cmd, 180000, &out, &status) == 0) {
            bool finished = status != -1 && strstr(out, " passed, ") != NULL;
            result(r, c, o2.oversize == 0 && finished, "%s",
                   o2.oversize ? o2.oversize_why : "the client did not run to its summary line");
            free(out);
        }
    }
    service_stop(&sv);
    return report(r);
}

/* ---------- command line ---------- */

static const char usage_text[] =
    "usage: wire-conform server [options] HOST PORT\n"
    "       wire-conform client [options] -- COMMAND [ARG...]\n"
    "Checks an implementation of the wire protocol (SPEC.md), level by level:\n"
    "  1 framing, HELLO, PING, BYE   2 ECHO   3 scalars both ways\n"
    "  4 strings, lists, groups, errors with offsets   5 limits and concurrency\n"
    "  6 the UDP datagram profile (servers only; opt-in: --level 6)\n"
    "server: connects to HOST PORT as a client. Start the server under test with\n"
    "        --max-payload 1048576 --idle-timeout 2 --frame-timeout 1 (proto/sessions.txt's config),\n"
    "        and --udp for level 6 (UDP on the TCP port's number, SPEC 15.8).\n"
    "client: listens on 127.0.0.1, runs COMMAND with --host 127.0.0.1 --port P appended, and plays a\n"
    "        legal but awkward server; the client must run the interop exchange (SPEC 10.10).\n"
    "options:\n"
    "  --level N        run levels 1 to N, N in 1..6 (default 5: every TCP level; 6 adds UDP)\n"
    "  --only PATTERN   only the checks whose name matches (a shell pattern: 'session:hello.*'); may repeat\n"
    "  --tap            TAP output (for graders) instead of lines\n"
    "  --timeout SEC    each wait of the exchange's cases (default 10); over UDP, a request unanswered\n"
    "                   after half of it is sent once more\n"
    "  --vectors FILE, --stats FILE, --sessions FILE, --udp-cases FILE\n"
    "                   the proto/ files (default: found as SPEC 10.10 says)\n"
    "  --version, --help\n"
    "Each failure names its SPEC.md section, what was sent and what came back. Exit status: 0 when every\n"
    "check that ran passed, 1 otherwise, 2 for a usage error.\n";

int main(int argc, char **argv) {
    run r;
    memset(&r, 0, sizeof r);
    r.level = DEFAULT_LEVEL;
    r.timeout_ms = 10000;
    pthread_mutex_init(&r.lock, NULL);
    const char *files[4] = {NULL, NULL, NULL, NULL};
    int i = 1;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("wire-conform %s (libwire %s), protocol version %d\n", WIRE_LIB_VERSION, WIRE_LIB_VERSION,
               WIRE_PROTOCOL_VERSION);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
        fprintf(stderr, "usage: wire-conform server [options] HOST PORT\n"
                        "       wire-conform client [options] -- COMMAND [ARG...]\n(see wire-conform --help)\n");
        return 2;
    }
    bool server = strcmp(argv[1], "server") == 0;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0) break;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (strcmp(a, "--tap") == 0) r.tap = true;
        else if (strcmp(a, "--level") == 0 && v && (r.level = (int)strtol(v, &end, 10), !*end) && r.level >= 1 &&
                 r.level <= LEVELS)
            i++;
        else if (strcmp(a, "--only") == 0 && v && r.nonly < 8) r.only[r.nonly++] = v, i++;
        else if (strcmp(a, "--timeout") == 0 && v && (r.timeout_ms = (int)(strtod(v, &end) * 1000), !*end) &&
                 r.timeout_ms > 0)
            i++;
        else if (strcmp(a, "--vectors") == 0 && v) files[0] = v, i++;
        else if (strcmp(a, "--stats") == 0 && v) files[1] = v, i++;
        else if (strcmp(a, "--sessions") == 0 && v) files[2] = v, i++;
        else if (strcmp(a, "--udp-cases") == 0 && v) files[3] = v, i++;
        else {
            fprintf(stderr, "wire-conform: bad option or value: %s (see wire-conform --help)\n", a);
            return 2;
        }
    }
    if ((server && argc - i != 2) || (!server && argc - i < 1)) {
        fprintf(stderr, "wire-conform %s: %s (see wire-conform --help)\n", argv[1],
                server ? "needs HOST PORT" : "needs -- COMMAND [ARG...]");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    proto p;
    if (load_proto(&p, files, server && r.level >= 6)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = server ? check_server(&r, &p, argv[i], argv[i + 1]) : check_client(&r, &p, argv + i);
    wv_free(&p.vectors);
    wv_free(&p.stats);
    ws_free(&p.sessions);
    cu_free(&p.udp);
    for (size_t k = 0; k < r.n; k++) free(r.checks[k].why);
    free(r.checks);
    return rc;
}
