/* client.c - wire-client, the C column of the interop matrix: runs the interop exchange (SPEC.md
 * 10.10) against a wire server and prints one line per case, then "<N> passed, <M> failed". Cases
 * are independent: a failing case never stops the run, and a main connection left in an unknown
 * state is replaced (connect + HELLO) before the next case needs it. It is built on libwire's
 * connection (wire_conn): the handshake, PINGs from the server, a received ERROR and the BYE
 * exchange are the connection's; what is checked here is every reply's content. */
#include "vectors.h"
#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_NAME "c-client"
#define UNKNOWN_VECTOR "no-such-vector"
#define MAX_PAYLOAD WIRE_DEFAULT_MAX_PAYLOAD /* what we accept, announced in our HELLO */
#define SBUF_SIZE ((size_t)MAX_PAYLOAD)     /* never send more than we would accept ourselves */
#define SHOWN 300                           /* characters of a server-supplied string shown in a reason */

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

typedef struct client {
    const char *host, *port, *unix_path;
    int timeout_ms;
    bool quiet;
    wire_conn *main; /* the connection of every case up to bye (reject:* cases have their own) */
    uint8_t *sbuf;   /* one request payload */
    char why[2048];  /* the failing case's reason */
    unsigned passed, failed;
} client;

/* Sets the reason of the current case's failure; returns -1 so that callers can `return fail(...)`. */
PRINTF_LIKE(2, 3) static int fail(client *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length to print of a server-supplied string, so that one long value cannot crowd out the rest. */
static int shown(size_t len) { return len > SHOWN ? SHOWN : (int)len; }

static const char *msg_name(unsigned type) {
    const char *n = wire_msg_name(type);
    return n ? n : "unknown type";
}

static void hang_up(wire_conn **k) {
    wire_conn_free(*k);
    *k = NULL;
}

/* ---------- connections ---------- */

/* Connects and exchanges HELLOs. */
static int conn_open(client *c, wire_conn **k) {
    char err[WIRE_ERRBUF_SIZE + 256];
    wire_conn_config cfg;
    wire_conn_config_init(&cfg, WIRE_ROLE_CLIENT);
    cfg.name = CLIENT_NAME;
    cfg.max_payload = MAX_PAYLOAD;
    cfg.max_queued = 2 * (size_t)MAX_PAYLOAD; /* a whole request always fits */
    cfg.frame_timeout_ms = c->timeout_ms;
    wire_err e = c->unix_path ? wire_conn_connect_unix(c->unix_path, &cfg, c->timeout_ms, k, err, sizeof err)
                              : wire_conn_connect(c->host, c->port, &cfg, c->timeout_ms, k, err, sizeof err);
    if (e == WIRE_ETIMEOUT) return fail(c, "expected HELLO, nothing came within %d ms", c->timeout_ms);
    if (e) return fail(c, "cannot connect and exchange HELLOs: %s", err);
    return 0;
}

/* "ERROR UTF8 (5) at offset 12: text" */
static void format_error(const wire_error_msg *m, char *buf, size_t len) {
    char at[16] = "none";
    if (m->offset != WIRE_NO_OFFSET) snprintf(at, sizeof at, "%lu", (unsigned long)m->offset);
    snprintf(buf, len, "ERROR %s (%u) at offset %s: %.*s", m->code < 256 ? wire_err_name((wire_err)m->code) : "app",
             (unsigned)m->code, at, shown(m->text_len), m->text);
}

/* Why there is no reply on k: the server's ERROR, its close, a timeout, a fault we found. */
static int no_reply(client *c, const wire_conn *k, wire_err e, const char *wanted) {
    wire_error_msg m;
    char text[1200];
    if (wire_conn_peer_error(k, &m)) {
        format_error(&m, text, sizeof text);
        return fail(c, "expected %s, got %s", wanted, text);
    }
    if (e == WIRE_ETIMEOUT) return fail(c, "expected %s, nothing came within %d ms", wanted, c->timeout_ms);
    if (e == WIRE_ECLOSED) return fail(c, "expected %s, the server closed the connection (%s)", wanted, wire_conn_errstr(k));
    return fail(c, "expected %s: %s", wanted, wire_conn_errstr(k)[0] ? wire_conn_errstr(k) : wire_strerror(e));
}

/* Sends a request on k and receives its reply, which must be a frame of type `want` (or `alt`). */
static int exchange_on(client *c, wire_conn *k, uint16_t type, const void *payload, size_t len, uint16_t want,
                       uint16_t alt, wire_frame *f) {
    char wanted[64];
    snprintf(wanted, sizeof wanted, "%s%s%s", msg_name(want), alt ? " or " : "", alt ? msg_name(alt) : "");
    if (len > wire_conn_peer_max(k))
        return fail(c, "%s payload of %zu bytes exceeds the server's max payload %lu", msg_name(type), len,
                    (unsigned long)wire_conn_peer_max(k));
    wire_err e = wire_conn_request(k, type, payload, len, f, c->timeout_ms);
    if (e) return no_reply(c, k, e, wanted);
    if (f->type == want || (alt && f->type == alt)) return 0;
    return fail(c, "expected %s, got %s (0x%04x) with %lu payload bytes", wanted, msg_name(f->type), f->type,
                (unsigned long)f->length);
}

/* After an ERROR or a BYE the server must close (SPEC 8.4, 8.5): the stream ends, nothing else. */
static int expect_eof(client *c, const wire_conn *k) {
    uint8_t b[64];
    int64_t until = wire_now_ms() + c->timeout_ms;
    for (;;) {
        int64_t left = until - wire_now_ms();
        struct pollfd p = {wire_conn_fd(k), POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) return fail(c, "expected EOF, the server kept the connection open");
        ssize_t n = read(wire_conn_fd(k), b, sizeof b);
        if (n == 0) return 0;
        if (n > 0) return fail(c, "expected EOF, got %zd more bytes (first 0x%02x)", n, b[0]);
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        return errno == ECONNRESET ? fail(c, "expected EOF, the server reset the connection")
                                   : fail(c, "expected EOF, read failed: %s", strerror(errno));
    }
}

/* One request on the main connection, (re)connecting first when needed. When no good reply came,
 * the stream's state is unknown (a late reply could be taken for the next one): drop the connection. */
static int request(client *c, uint16_t type, const void *payload, size_t len, uint16_t want, uint16_t alt,
                   wire_frame *f) {
    if (!c->main && conn_open(c, &c->main)) return -1;
    if (exchange_on(c, c->main, type, payload, len, want, alt, f) == 0) return 0;
    hang_up(&c->main);
    return -1;
}

/* ---------- comparisons ---------- */

static int same_bytes(client *c, const char *what, const uint8_t *want, size_t want_len, const uint8_t *got,
                      size_t got_len) {
    size_t n = want_len < got_len ? want_len : got_len, i = 0;
    while (i < n && want[i] == got[i]) i++;
    if (i < n)
        return fail(c, "%s differ at byte %zu: got 0x%02x, expected 0x%02x (%zu bytes, expected %zu)", what, i,
                    got[i], want[i], got_len, want_len);
    if (got_len != want_len)
        return fail(c, "%s: got %zu bytes, expected %zu (equal for the first %zu)", what, got_len, want_len, n);
    return 0;
}

/* The payload must decode to exactly the expected fields (floats by bits, nothing more). */
static int same_values(client *c, const char *what, const uint8_t *p, size_t len, const wv_value *want, size_t n) {
    char path[400], exp[SHOWN + 8], got[SHOWN + 8];
    size_t off = 0;
    wire_reader r;
    wire_reader_init(&r, p, len);
    int rc = wv_check(&r, want, n, path, sizeof path, exp, sizeof exp, got, sizeof got);
    if (rc > 0) return fail(c, "%s field %s: expected %s, got %s", what, path, exp, got);
    if (rc < 0) {
        wire_err e = wire_reader_error(&r, &off);
        return fail(c, "%s does not decode: %s at byte %zu", what, wire_err_name(e), off);
    }
    return 0;
}

/* ---------- cases ---------- */

typedef int (*case_fn)(client *c, const void *arg);

static int case_hello(client *c, const void *arg) {
    (void)arg;
    hang_up(&c->main);
    return conn_open(c, &c->main);
}

/* A VECTOR_RESULT: u8 status, string path, string expected, string got (extra fields ignored). */
typedef struct result {
    uint8_t status;
    const char *path, *exp, *got;
    size_t path_len, exp_len, got_len;
} result;

static int get_result(client *c, const wire_frame *f, result *res) {
    wire_reader r;
    size_t off = 0;
    wire_reader_init(&r, f->payload, f->length);
    wire_get_u8(&r, &res->status);
    wire_get_string(&r, &res->path, &res->path_len);
    wire_get_string(&r, &res->exp, &res->exp_len);
    wire_get_string(&r, &res->got, &res->got_len);
    if (wire_reader_finish(&r)) {
        wire_err e = wire_reader_error(&r, &off);
        return fail(c, "malformed VECTOR_RESULT: %s at payload offset %zu", wire_err_name(e), off);
    }
    return 0;
}

/* Starts a VECTOR_CHECK / VECTOR_GET payload in sbuf: the vector name as a string field. */
static int put_name(client *c, const char *name, size_t *n) {
    wire_writer w;
    wire_writer_init(&w, c->sbuf, SBUF_SIZE);
    wire_put_cstring(&w, name);
    return wire_writer_finish(&w, n) ? fail(c, "cannot encode the vector name") : 0;
}

/* VECTOR_CHECK: the name, then `hex` (the vector's fields) appended as is. */
static int vector_check(client *c, const char *name, const uint8_t *hex, size_t hexlen, result *res) {
    wire_frame f;
    size_t n = 0;
    if (put_name(c, name, &n)) return -1;
    if (hexlen > SBUF_SIZE - n) return fail(c, "VECTOR_CHECK request too large");
    if (hexlen) memcpy(c->sbuf + n, hex, hexlen);
    if (request(c, WIRE_MSG_VECTOR_CHECK, c->sbuf, n + hexlen, WIRE_MSG_VECTOR_RESULT, 0, &f)) return -1;
    return get_result(c, &f, res);
}

static int case_check(client *c, const void *arg) {
    const wv_case *v = arg;
    result res;
    if (vector_check(c, v->name, v->hex, v->hexlen, &res)) return -1;
    if (res.status == 1)
        return fail(c, "mismatch at path \"%.*s\": expected %.*s, got %.*s", shown(res.path_len), res.path,
                    shown(res.exp_len), res.exp, shown(res.got_len), res.got);
    if (res.status != 0) return fail(c, "VECTOR_RESULT status %u, expected 0", (unsigned)res.status);
    return 0;
}

static int case_check_unknown(client *c, const void *arg) {
    result res;
    (void)arg;
    if (vector_check(c, UNKNOWN_VECTOR, NULL, 0, &res)) return -1;
    if (res.status != 2) return fail(c, "VECTOR_RESULT status %u, expected 2 (unknown vector)", (unsigned)res.status);
    return 0;
}

static int case_get(client *c, const void *arg) {
    const wv_case *v = arg;
    wire_reader r;
    wire_frame f;
    result res;
    const char *name;
    size_t n = 0, name_len, off = 0;
    if (put_name(c, v->name, &n)) return -1;
    if (request(c, WIRE_MSG_VECTOR_GET, c->sbuf, n, WIRE_MSG_VECTOR_DATA, WIRE_MSG_VECTOR_RESULT, &f)) return -1;
    if (f.type == WIRE_MSG_VECTOR_RESULT) {
        if (get_result(c, &f, &res)) return -1;
        return fail(c, "expected VECTOR_DATA, got VECTOR_RESULT status %u", (unsigned)res.status);
    }
    wire_reader_init(&r, f.payload, f.length);
    if (wire_get_string(&r, &name, &name_len)) {
        wire_err e = wire_reader_error(&r, &off);
        return fail(c, "VECTOR_DATA does not start with a string field: %s at payload offset %zu", wire_err_name(e),
                    off);
    }
    if (name_len != strlen(v->name) || memcmp(name, v->name, name_len) != 0)
        return fail(c, "VECTOR_DATA is for \"%.*s\", expected \"%s\"", shown(name_len), name, v->name);
    off = wire_reader_offset(&r);
    const uint8_t *data = f.payload + off;
    size_t len = f.length - off;
    if (same_bytes(c, "vector bytes", v->hex, v->hexlen, data, len)) return -1;
    return same_values(c, "vector data", data, len, v->fields, v->nfields);
}

static int case_roundtrip(client *c, const void *arg) {
    const wv_case *v = arg;
    wire_frame f;
    if (request(c, WIRE_MSG_ROUNDTRIP, v->hex, v->hexlen, WIRE_MSG_ROUNDTRIP_REPLY, 0, &f)) return -1;
    return same_bytes(c, "ROUNDTRIP_REPLY bytes", v->hex, v->hexlen, f.payload, f.length);
}

static int case_echo(client *c, const void *arg) {
    size_t size = *(const size_t *)arg;
    wire_frame f;
    for (size_t i = 0; i < size; i++) c->sbuf[i] = (uint8_t)((i * 131 + 7) % 256);
    if (request(c, WIRE_MSG_ECHO, c->sbuf, size, WIRE_MSG_ECHO_REPLY, 0, &f)) return -1;
    return same_bytes(c, "ECHO_REPLY bytes", c->sbuf, size, f.payload, f.length);
}

static int case_ping(client *c, const void *arg) {
    static const uint8_t ping[] = {1, 2, 3, 4, 5, 6, 7, 8};
    wire_frame f;
    (void)arg;
    if (request(c, WIRE_MSG_PING, ping, sizeof ping, WIRE_MSG_PONG, 0, &f)) return -1;
    return same_bytes(c, "PONG bytes", ping, sizeof ping, f.payload, f.length);
}

static int case_stats(client *c, const void *arg) {
    const wv_case *v = arg;
    wire_writer w;
    wire_frame f;
    size_t n = 0;
    wire_writer_init(&w, c->sbuf, SBUF_SIZE);
    wv_encode(&w, v->fields, v->nfields);
    if (wire_writer_finish(&w, &n)) return fail(c, "cannot encode the STATS request");
    if (request(c, WIRE_MSG_STATS, c->sbuf, n, WIRE_MSG_STATS_REPLY, 0, &f)) return -1;
    return same_values(c, "STATS_REPLY", f.payload, f.length, v->reply, v->nreply);
}

static int reject_on(client *c, wire_conn *k, const wv_case *v) {
    wire_frame f;
    wire_error_msg m;
    char text[1200];
    wire_err e = wire_conn_request(k, WIRE_MSG_ROUNDTRIP, v->hex, v->hexlen, &f, c->timeout_ms);
    if (e == WIRE_OK)
        return fail(c, "expected ERROR, got %s (0x%04x) with %lu payload bytes", msg_name(f.type), f.type,
                    (unsigned long)f.length);
    if (!wire_conn_peer_error(k, &m)) return no_reply(c, k, e, "ERROR");
    if (m.code != v->err || m.offset != WIRE_HEADER_SIZE + v->err_offset) {
        format_error(&m, text, sizeof text);
        return fail(c, "expected ERROR %s at offset %zu, got %s", wire_err_name(v->err),
                    WIRE_HEADER_SIZE + v->err_offset, text);
    }
    return expect_eof(c, k);
}

/* On a connection of its own, since the server closes it after the ERROR. */
static int case_reject(client *c, const void *arg) {
    wire_conn *k;
    if (conn_open(c, &k)) return -1;
    int rc = reject_on(c, k, arg);
    hang_up(&k);
    return rc;
}

static int case_bye(client *c, const void *arg) {
    (void)arg;
    if (!c->main && conn_open(c, &c->main)) return -1;
    wire_err e = wire_conn_hangup(c->main, c->timeout_ms);
    int rc = 0;
    if (e == WIRE_ETIMEOUT) rc = fail(c, "expected BYE, nothing came within %d ms", c->timeout_ms);
    else if (wire_conn_error(c->main, NULL) != WIRE_OK) rc = no_reply(c, c->main, e, "BYE");
    else rc = expect_eof(c, c->main);
    hang_up(&c->main);
    return rc;
}

/* ---------- driver ---------- */

static void run(client *c, const char *prefix, const char *name, case_fn fn, const void *arg) {
    c->why[0] = '\0';
    if (fn(c, arg) == 0) {
        c->passed++;
        if (!c->quiet) printf("ok   %s%s\n", prefix, name);
        return;
    }
    c->failed++;
    for (char *p = c->why; *p; p++) /* server-supplied text must not break the one-line-per-case output */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    printf("FAIL %s%s: %s\n", prefix, name, c->why);
}

static void run_each(client *c, const wv_file *file, wv_kind kind, const char *prefix, case_fn fn) {
    for (size_t i = 0; i < file->count; i++)
        if (file->cases[i].kind == kind) run(c, prefix, file->cases[i].name, fn, &file->cases[i]);
}

static void exchange(client *c, const wv_file *vec, const wv_file *stats) {
    static const size_t echo_sizes[] = {0, 1, 4096, 1048576};
    run(c, "", "hello", case_hello, NULL);
    run_each(c, vec, WV_OK, "check:", case_check);
    run(c, "", "check-unknown", case_check_unknown, NULL);
    run_each(c, vec, WV_OK, "get:", case_get);
    run_each(c, vec, WV_OK, "roundtrip:", case_roundtrip);
    for (size_t i = 0; i < sizeof echo_sizes / sizeof echo_sizes[0]; i++) {
        char name[24];
        snprintf(name, sizeof name, "%zu", echo_sizes[i]);
        run(c, "echo:", name, case_echo, &echo_sizes[i]);
    }
    run(c, "", "ping", case_ping, NULL);
    run_each(c, stats, WV_STATS, "stats:", case_stats);
    run(c, "", "bye", case_bye, NULL); /* ends the main connection: an iterative server can then serve */
    run_each(c, vec, WV_ERR, "reject:", case_reject); /* the rejects, each on a connection of its own */
    printf("%u passed, %u failed\n", c->passed, c->failed);
}

/* ---------- command line ---------- */

static const char synopsis[] =
    "usage: wire-client [--host H] [--port P | --unix PATH] [--vectors FILE] [--stats FILE]\n"
    "                   [--timeout SEC] [--quiet] [--version] [--help]\n";
static const char details[] =
    "Runs the wire interop exchange against a server and prints one line per case.\n"
    "  --host H        server host (default 127.0.0.1)\n"
    "  --port P        server TCP port (required unless --unix)\n"
    "  --unix PATH     connect to a Unix-domain socket instead\n"
    "  --vectors FILE  proto vectors (default: $WIRE_PROTO_DIR/vectors.txt, ./proto/vectors.txt,\n"
    "                  or proto/vectors.txt of the source tree this binary was built in)\n"
    "  --stats FILE    STATS known answers (default: stats.txt found the same way)\n"
    "  --timeout SEC   limit for each connect, send and receive (default 10)\n"
    "  --quiet         print only FAIL lines and the summary\n"
    "  --version       the program's and the protocol's versions\n"
    "Exit status: 0 all cases passed, 1 some failed, 2 usage error or unreadable proto files.\n";

/* A usage error: the reason and the synopsis on stderr; returns -1. */
PRINTF_LIKE(1, 2) static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("wire-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", synopsis);
    return -1;
}

static int load(const char *what, const char *path, wv_file *f) {
    char err[512];
    if (path && wv_load(path, f, err, sizeof err) == 0) return 0;
    fprintf(stderr, "wire-client: cannot load the %s file: %s\n", what, path ? err : "path too long");
    return -1;
}

/* Parses the command line into c and the file arguments; -1 to exit with *rc (2 usage, 0 help). */
static int parse_args(int argc, char **argv, client *c, const char **vec_arg, const char **stats_arg, int *rc) {
    const char *timeout = NULL;
    const struct {
        const char *name;
        const char **dest;
    } opts[] = {{"--host", &c->host},       {"--port", &c->port},       {"--unix", &c->unix_path},
                {"--vectors", vec_arg}, {"--stats", stats_arg}, {"--timeout", &timeout}};
    size_t nopts = sizeof opts / sizeof opts[0];
    char *end;
    *rc = 2;
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < nopts && strcmp(argv[i], opts[k].name) != 0) k++;
        if (k < nopts) {
            if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
            *opts[k].dest = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            c->quiet = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("wire-client %s (libwire %s), protocol version %d\n", WIRE_LIB_VERSION, WIRE_LIB_VERSION,
                   WIRE_PROTOCOL_VERSION);
            *rc = 0;
            return -1;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(synopsis, stdout);
            fputs(details, stdout);
            *rc = 0;
            return -1;
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (!c->port == !c->unix_path) return usage_error("give exactly one of --port and --unix");
    if (*c->host == '\0') return usage_error("empty --host");
    if (c->port) {
        long port = strtol(c->port, &end, 10);
        if (*c->port < '0' || *c->port > '9' || *end || port < 1 || port > 65535)
            return usage_error("bad port '%s'", c->port);
    }
    if (timeout) {
        double sec = strtod(timeout, &end);
        if (end == timeout || *end || !(sec >= 0.001 && sec <= 2000000)) /* in ms it fits an int */
            return usage_error("bad timeout '%s' (seconds, 0.001 to 2000000)", timeout);
        c->timeout_ms = (int)(sec * 1000 + 0.5);
    }
    return 0;
}

int main(int argc, char **argv) {
    client c;
    const char *vec_arg = NULL, *stats_arg = NULL;
    int rc;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.timeout_ms = 10000;
    if (parse_args(argc, argv, &c, &vec_arg, &stats_arg, &rc)) return rc;
    char why[WIRE_ERRBUF_SIZE];
    if (wire_selfcheck(why, sizeof why) != WIRE_OK) {
        fprintf(stderr, "wire-client: this platform does not fit SPEC.md: %s\n", why);
        return 2;
    }

    char vec_buf[4200], stats_buf[4200];
    const char *vec_path = vec_arg ? vec_arg : wv_default_path("vectors.txt", vec_buf, sizeof vec_buf) ? vec_buf : NULL;
    const char *stats_path =
        stats_arg ? stats_arg : wv_default_path("stats.txt", stats_buf, sizeof stats_buf) ? stats_buf : NULL;
    wv_file vec, stats;
    rc = 2;
    memset(&stats, 0, sizeof stats);
    if (load("vectors", vec_path, &vec) == 0) {
        if (load("stats", stats_path, &stats) == 0) {
            c.sbuf = malloc(SBUF_SIZE);
            if (c.sbuf) {
                setvbuf(stdout, NULL, _IOLBF, 0); /* progress stays visible through a pipe */
                exchange(&c, &vec, &stats);
                rc = c.failed ? 1 : 0;
            } else {
                fprintf(stderr, "wire-client: out of memory\n");
            }
            free(c.sbuf);
            wv_free(&stats);
        }
        wv_free(&vec);
    }
    hang_up(&c.main);
    return rc;
}
