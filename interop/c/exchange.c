/* SPDX-License-Identifier: MIT */
/* exchange.c - the interop exchange of SPEC.md 10.10 as a client runs it: every case, in order, each
 * reported as it ends. A failing case never stops the run, and a main connection left in an unknown
 * state is replaced (connect + HELLO) before the next case needs it. Built on libwire's connection
 * (wire_conn): the handshake, PINGs from the server, a received ERROR and the BYE exchange are the
 * connection's; what is checked here is every reply's content. wire-client prints the reports;
 * wire-conform picks the cases of a level and collects them. */
#include "exchange.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNKNOWN_VECTOR "no-such-vector"
#define MAX_PAYLOAD WIRE_DEFAULT_MAX_PAYLOAD /* what we accept, announced in our HELLO */
#define SBUF_SIZE ((size_t)MAX_PAYLOAD)     /* never send more than we would accept ourselves */
#define SHOWN 300                           /* characters of a server-supplied string shown in a reason */

typedef struct client {
    const ex_config *cfg;
    const char *host, *port, *unix_path;
    int timeout_ms;
    wire_conn *main; /* the connection of every case up to bye (reject:* cases have their own) */
    uint8_t *sbuf;   /* one request payload */
    char why[2048];  /* the failing case's reason */
    uint16_t sent_type; /* the case's last request, shown with a failure (0: none yet) */
    const uint8_t *sent;
    size_t sent_len;
    unsigned passed, failed;
    bool udp;            /* the UDP exchange (SPEC 15.8): every request through uc */
    wire_udp_client uc;
    char udp_err[WIRE_ERRBUF_SIZE]; /* why the UDP socket could not be made ("" if it was) */
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

/* Up to 32 bytes of p from `from` in hex, with "..." where bytes are left out: "03 04030201". */
static const char *hex(const uint8_t *p, size_t len, size_t from, char *buf, size_t cap) {
    size_t o = 0, end = from + 32 < len ? from + 32 : len;
    buf[0] = '\0';
    if (from > 0) o += (size_t)snprintf(buf + o, cap - o, "...");
    for (size_t i = from; i < end && o + 3 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%02x", p[i]);
    if (end < len && o < cap) snprintf(buf + o, cap - o, "...");
    return buf;
}

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
    cfg.name = c->cfg->name;
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
    c->sent_type = type, c->sent = payload, c->sent_len = len;
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

/* Over UDP: one request, retried by the policy of 15.7, and its answer (*f), or why there is none. An
 * answer is the request's only (its id): no state to lose, so nothing to reconnect after a failure. */
static int udp_request(client *c, uint16_t type, const void *payload, size_t len, wire_frame *f) {
    c->sent_type = type, c->sent = payload, c->sent_len = len;
    if (c->udp_err[0]) return fail(c, "no UDP socket: %s", c->udp_err);
    if (len > WIRE_UDP_MAX_PAYLOAD)
        return fail(c, "%s payload of %zu bytes does not fit in a datagram (at most %d, SPEC 15.4)", msg_name(type),
                    len, WIRE_UDP_MAX_PAYLOAD);
    wire_err e = wire_udp_request(&c->uc, type, payload, len, f);
    if (e == WIRE_ETIMEOUT)
        return fail(c, "no answer after %d sends, the last one waited %d ms (SPEC 15.7)", c->uc.policy.max_sends,
                    c->uc.policy.max_timeout_ms);
    if (e == WIRE_ECLOSED) return fail(c, "the server's host says nobody listens on that UDP port (ICMP port unreachable)");
    if (e) return fail(c, "cannot send or receive a datagram: %s", wire_strerror(e));
    return 0;
}

/* The answer to a UDP request must be of type `want` (or `alt`); an ERROR is shown decoded. */
static int udp_exchange(client *c, uint16_t type, const void *payload, size_t len, uint16_t want, uint16_t alt,
                        wire_frame *f) {
    char wanted[64], text[1200];
    wire_error_msg m;
    snprintf(wanted, sizeof wanted, "%s%s%s", msg_name(want), alt ? " or " : "", alt ? msg_name(alt) : "");
    if (udp_request(c, type, payload, len, f)) return -1;
    if (f->type == want || (alt && f->type == alt)) return 0;
    if (f->type == WIRE_MSG_ERROR && wire_get_error_msg(f->payload, f->length, &m, NULL) == WIRE_OK) {
        format_error(&m, text, sizeof text);
        return fail(c, "expected %s, got %s", wanted, text);
    }
    return fail(c, "expected %s, got %s (0x%04x) with %lu payload bytes", wanted, msg_name(f->type), f->type,
                (unsigned long)f->length);
}

/* One request on the main connection, (re)connecting first when needed. When no good reply came,
 * the stream's state is unknown (a late reply could be taken for the next one): drop the connection.
 * Over UDP, one request datagram and its answer. */
static int request(client *c, uint16_t type, const void *payload, size_t len, uint16_t want, uint16_t alt,
                   wire_frame *f) {
    if (c->udp) return udp_exchange(c, type, payload, len, want, alt, f);
    if (!c->main && conn_open(c, &c->main)) return -1;
    if (exchange_on(c, c->main, type, payload, len, want, alt, f) == 0) return 0;
    hang_up(&c->main);
    return -1;
}

/* ---------- comparisons ---------- */

static int same_bytes(client *c, const char *what, const uint8_t *want, size_t want_len, const uint8_t *got,
                      size_t got_len) {
    size_t n = want_len < got_len ? want_len : got_len, i = 0;
    char hw[80], hg[80];
    while (i < n && want[i] == got[i]) i++;
    if (i == n && got_len == want_len) return 0;
    size_t from = i > 8 ? i - 8 : 0; /* the bytes around the first difference */
    int len = fail(c, "%s differ at byte %zu (%zu bytes, expected %zu): expected %s, got %s", what, i, got_len,
                   want_len, hex(want, want_len, from, hw, sizeof hw), hex(got, got_len, from, hg, sizeof hg));
    /* the classic mistake, named: a 2-, 4- or 8-byte value whose bytes came back reversed */
    for (size_t k = 8; got_len == want_len && k >= 2; k /= 2)
        for (size_t j = i + 1 >= k ? i + 1 - k : 0; j <= i && j + k <= n; j++) {
            size_t t = 0;
            while (t < k && got[j + t] == want[j + k - 1 - t]) t++;
            if (t == k) {
                size_t used = strlen(c->why);
                snprintf(c->why + used, sizeof c->why - used,
                         "; bytes %zu..%zu are the expected ones reversed: a value in host byte order? (SPEC 13.1)", j,
                         j + k - 1);
                return len;
            }
        }
    return len;
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
    c->sent_type = WIRE_MSG_ROUNDTRIP, c->sent = v->hex, c->sent_len = v->hexlen;
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

/* Over UDP the server answers the bad ROUNDTRIP with its ERROR and goes on: no EOF to wait for, no
 * new socket needed (SPEC 15.8). */
static int case_reject_udp(client *c, const void *arg) {
    const wv_case *v = arg;
    wire_frame f;
    wire_error_msg m;
    char text[1200];
    if (udp_request(c, WIRE_MSG_ROUNDTRIP, v->hex, v->hexlen, &f)) return -1;
    if (f.type != WIRE_MSG_ERROR)
        return fail(c, "expected ERROR, got %s (0x%04x) with %lu payload bytes", msg_name(f.type), f.type,
                    (unsigned long)f.length);
    size_t off = 0;
    wire_err e = wire_get_error_msg(f.payload, f.length, &m, &off);
    if (e) return fail(c, "malformed ERROR: %s at payload offset %zu", wire_err_name(e), off);
    if (m.code != v->err || m.offset != WIRE_HEADER_SIZE + v->err_offset) {
        format_error(&m, text, sizeof text);
        return fail(c, "expected ERROR %s at offset %zu, got %s", wire_err_name(v->err),
                    WIRE_HEADER_SIZE + v->err_offset, text);
    }
    return 0;
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
    char full[300];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    if (c->cfg->want && !c->cfg->want(c->cfg->arg, full)) return;
    c->why[0] = '\0';
    c->sent_type = 0;
    bool ok = fn(c, arg) == 0;
    if (ok) c->passed++;
    else c->failed++;
    if (!ok && c->sent_type) { /* what was sent, for the person who reads the failure */
        char h[80];
        size_t used = strlen(c->why);
        snprintf(c->why + used, sizeof c->why - used, " [sent %s, %zu payload bytes: %s]", msg_name(c->sent_type),
                 c->sent_len, hex(c->sent, c->sent_len, 0, h, sizeof h));
    }
    for (char *p = c->why; *p; p++) /* server-supplied text must not break a one-line report */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    c->cfg->report(c->cfg->arg, full, ok, c->why);
}

static void run_each(client *c, const wv_file *file, wv_kind kind, const char *prefix, case_fn fn) {
    for (size_t i = 0; i < file->count; i++)
        if (file->cases[i].kind == kind) run(c, prefix, file->cases[i].name, fn, &file->cases[i]);
}

static void exchange(client *c, const wv_file *vec, const wv_file *stats) {
    static const size_t echo_sizes[] = {0, 1, 4096, 1048576}; /* SPEC 10.10 */
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
    if (c->main) { /* (the bye case was not wanted: the connection still ends before the rejects) */
        wire_conn_hangup(c->main, c->timeout_ms);
        hang_up(&c->main);
    }
    run_each(c, vec, WV_ERR, "reject:", case_reject); /* the rejects, each on a connection of its own */
}

/* SPEC 15.8: the vectors whose VECTOR_CHECK payload (the name as a string field, then the hex) fits
 * in a datagram. */
static void run_each_udp(client *c, const wv_file *file, const char *prefix, case_fn fn) {
    for (size_t i = 0; i < file->count; i++) {
        const wv_case *v = &file->cases[i];
        if (v->kind == WV_OK && 5 + strlen(v->name) + v->hexlen <= WIRE_UDP_MAX_PAYLOAD) run(c, prefix, v->name, fn, v);
    }
}

/* The UDP exchange: the cases of 10.10 without hello and bye, in the same order, ECHO up to the
 * largest datagram payload; the rejects on the same socket (the server goes on after an ERROR). */
static void exchange_udp(client *c, const wv_file *vec, const wv_file *stats) {
    static const size_t echo_sizes[] = {0, 1, 4096, WIRE_UDP_MAX_PAYLOAD}; /* SPEC 15.8 */
    run_each_udp(c, vec, "check:", case_check);
    run(c, "", "check-unknown", case_check_unknown, NULL);
    run_each_udp(c, vec, "get:", case_get);
    run_each_udp(c, vec, "roundtrip:", case_roundtrip);
    for (size_t i = 0; i < sizeof echo_sizes / sizeof echo_sizes[0]; i++) {
        char name[24];
        snprintf(name, sizeof name, "%zu", echo_sizes[i]);
        run(c, "echo:", name, case_echo, &echo_sizes[i]);
    }
    run(c, "", "ping", case_ping, NULL);
    run_each(c, stats, WV_STATS, "stats:", case_stats);
    run_each(c, vec, WV_ERR, "reject:", case_reject_udp);
}

/* The client's UDP socket, connected to the server (only its datagrams come in) with its receive
 * buffer; why not in c->udp_err. */
static uint8_t *udp_open(client *c) {
    int fd = -1;
    uint8_t *buf = malloc(WIRE_UDP_RECV_SIZE);
    if (!buf) return NULL;
    if (wire_udp_connect(c->host, c->port, &fd, c->udp_err, sizeof c->udp_err) == WIRE_OK &&
        wire_udp_client_init(&c->uc, fd, buf, WIRE_UDP_RECV_SIZE) == WIRE_OK)
        c->udp_err[0] = '\0';
    else if (!c->udp_err[0])
        snprintf(c->udp_err, sizeof c->udp_err, "cannot make a UDP socket");
    return buf;
}

int ex_run_udp(const ex_config *cfg, unsigned long udp_counts[3], unsigned *passed, unsigned *failed) {
    client c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.host = cfg->host;
    c.port = cfg->port;
    c.udp = true;
    c.sbuf = malloc(SBUF_SIZE);
    uint8_t *buf = c.sbuf ? udp_open(&c) : NULL;
    if (!buf) {
        free(c.sbuf);
        return -1;
    }
    exchange_udp(&c, cfg->vectors, cfg->stats);
    if (udp_counts) {
        udp_counts[0] = c.uc.sent;
        udp_counts[1] = c.uc.resent;
        udp_counts[2] = c.uc.dropped;
    }
    if (!c.udp_err[0]) close(c.uc.fd);
    free(buf);
    free(c.sbuf);
    *passed = c.passed;
    *failed = c.failed;
    return 0;
}

int ex_run(const ex_config *cfg, unsigned *passed, unsigned *failed) {
    client c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.host = cfg->host;
    c.port = cfg->port;
    c.unix_path = cfg->unix_path;
    c.timeout_ms = cfg->timeout_ms;
    c.sbuf = malloc(SBUF_SIZE);
    if (!c.sbuf) return -1;
    exchange(&c, cfg->vectors, cfg->stats);
    hang_up(&c.main);
    free(c.sbuf);
    *passed = c.passed;
    *failed = c.failed;
    return 0;
}

