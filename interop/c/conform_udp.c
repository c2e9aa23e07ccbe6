/* SPDX-License-Identifier: MIT */
/* conform_udp.c - wire-conform level 6: the UDP datagram profile (SPEC.md 15) of a server, judged
 * by the bytes of its datagrams alone. Plain socket/sendto/recvfrom/poll and the codec: a tester
 * must not share the code it tests, so none of libwire's UDP helpers are used here. */
#include "conform_udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SPEC 15.4, kept here rather than taken from wire.h's UDP section: the tester's own reading. */
enum { CU_OVERHEAD = 12, CU_MAX_PAYLOAD = 65495, CU_RECV_CAP = 65536 };
/* The follow-up PING's id: the case's id XOR a byte palindrome, so that it differs from every id of
 * the file and is byte-swapped exactly when the case's id is (a swapping server fails both or
 * neither). */
#define CU_NEXT_XOR 0x5a5a5a5au
static const uint8_t next_payload[8] = {'n', 'e', 'x', 't', 'p', 'i', 'n', 'g'};

#if defined(__GNUC__) || defined(__clang__)
#define CU_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CU_PRINTF(f, a)
#endif

/* ---------- loading proto/udp.txt ---------- */

CU_PRINTF(5, 6) static int lerr(char *err, size_t errlen, const char *path, int line, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    return -1;
}

static int parse_line(char *text, const char *path, int line, cu_case *c, char *err, size_t errlen) {
    char *col[3], *save = text, msg[256];
    for (int i = 0; i < 3; i++) {
        char *bar = i < 2 ? strchr(save, '|') : NULL;
        if (i < 2 && !bar) return lerr(err, errlen, path, line, "a case has 3 columns separated by ' | '");
        if (bar) *bar = '\0';
        col[i] = wv_trim(save);
        save = bar ? bar + 1 : NULL;
    }
    if (strchr(col[2], '|')) return lerr(err, errlen, path, line, "a case has 3 columns separated by ' | '");
    if (strncmp(col[0], "udp ", 4) != 0 || !col[0][4] || strchr(col[0] + 4, ' '))
        return lerr(err, errlen, path, line, "expected 'udp <name>'");
    c->name = strdup(col[0] + 4);
    c->line = line;
    if (!c->name) return lerr(err, errlen, path, line, "out of memory");
    if (wv_parse_hex(col[1], &c->dgram, &c->len, msg, sizeof msg)) return lerr(err, errlen, path, line, "%s", msg);
    if (c->len > CU_OVERHEAD + CU_MAX_PAYLOAD) return lerr(err, errlen, path, line, "a datagram over 65507 bytes");
    if (strncmp(col[2], "reply ", 6) == 0 || strcmp(col[2], "reply") == 0) {
        c->expect = CU_REPLY;
        if (wv_parse_hex(col[2] + 5, &c->frame, &c->framelen, msg, sizeof msg))
            return lerr(err, errlen, path, line, "%s", msg);
        if (c->framelen < WIRE_HEADER_SIZE) return lerr(err, errlen, path, line, "a reply frame has a header");
    } else if (strncmp(col[2], "error ", 6) == 0) {
        char code[32], extra;
        unsigned long off;
        if (sscanf(col[2] + 6, "%31s %lu %c", code, &off, &extra) != 2 || off > 0xFFFFFFFFul)
            return lerr(err, errlen, path, line, "expected 'error <CODE> <offset>'");
        int e = wv_err_code(code);
        if (e <= 0) return lerr(err, errlen, path, line, "unknown error code '%s'", code);
        c->expect = CU_ERROR;
        c->code = (wire_err)e;
        c->offset = (uint32_t)off;
    } else if (strcmp(col[2], "none") == 0) {
        c->expect = CU_NONE;
    } else {
        return lerr(err, errlen, path, line, "expected 'reply <hex>', 'error <CODE> <offset>' or 'none'");
    }
    return 0;
}

int cu_load(const char *path, cu_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "r");
    if (!fp) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    size_t cap = 0;
    char *text = NULL;
    int line = 0, rc = 0;
    while (rc == 0 && getline(&text, &cap, fp) > 0) {
        line++;
        char *s = wv_trim(text);
        if (!*s || text[0] == '#') continue;
        if (f->count % 64 == 0) {
            cu_case *nc = realloc(f->cases, (f->count + 64) * sizeof *nc);
            if (!nc) {
                rc = lerr(err, errlen, path, line, "out of memory");
                break;
            }
            f->cases = nc;
        }
        cu_case *c = &f->cases[f->count++];
        memset(c, 0, sizeof *c);
        rc = parse_line(s, path, line, c, err, errlen);
        for (size_t i = 0; rc == 0 && i + 1 < f->count; i++)
            if (strcmp(f->cases[i].name, c->name) == 0) rc = lerr(err, errlen, path, line, "'%s' again", c->name);
    }
    free(text);
    fclose(fp);
    if (rc == 0 && f->count == 0) rc = lerr(err, errlen, path, line, "no case");
    if (rc) cu_free(f);
    return rc;
}

void cu_free(cu_file *f) {
    for (size_t i = 0; i < f->count; i++) {
        free(f->cases[i].name);
        free(f->cases[i].dgram);
        free(f->cases[i].frame);
    }
    free(f->cases);
    memset(f, 0, sizeof *f);
}

const char *cu_spec(const char *name) {
    static const struct {
        const char *prefix, *spec;
    } map[] = {{"reply.", "15.4"},        {"length.truncated", "15.4 15.3"}, {"short.", "15.3"},
               {"header.", "15.3 2.3"},   {"length.", "15.3"},               {"type.", "15.5"},
               {"error.", "15.5 7.4"},    {"decode.", "15.3 5"},             {"message.", "15.3 7.2"},
               {"id.", "15.2"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(name, map[i].prefix, strlen(map[i].prefix)) == 0) return map[i].spec;
    return "15.5 10"; /* the served requests: ping, echo, roundtrip, check, get, stats */
}

int cu_resolve(const char *host, const char *port, int timeout_ms, cu_target *t, char *err, size_t errlen) {
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    memset(t, 0, sizeof *t);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) return snprintf(err, errlen, "%s port %s (UDP): %s", host, port, gai_strerror(rc)), -1;
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    t->family = res->ai_family;
    t->timeout_ms = timeout_ms;
    freeaddrinfo(res);
    return 0;
}

/* ---------- datagrams ---------- */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t bswap32(uint32_t v) {
    return v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
}

/* The request id of a datagram; one too short to hold one counts as 0. */
static uint32_t id_of(const uint8_t *d, size_t n) { return n >= 4 ? be32(d) : 0; }

/* The start of a datagram in hex, id and header apart: "0000002a 0100000400000001 01...(13 bytes)". */
static void hex_dgram(const uint8_t *p, size_t n, char *out, size_t len) {
    size_t at = 0, show = n > 40 ? 40 : n;
    out[0] = '\0';
    for (size_t i = 0; i < show && at + 8 < len; i++)
        at += (size_t)snprintf(out + at, len - at, "%s%02x", i == 4 || i == 12 ? " " : "", p[i]);
    if (n == 0) snprintf(out, len, "(empty)");
    else if (show < n && at + 20 < len) snprintf(out + at, len - at, "...(%zu bytes)", n);
}

/* "PING, 20-byte datagram: 00000001 ..." : what a datagram is, for the reports. */
/* A message type's name, or "type 0x01ff" for one the registry does not name. */
static const char *type_name(unsigned type, char buf[16]) {
    if (wire_msg_name(type)) return wire_msg_name(type);
    snprintf(buf, 16, "type 0x%04x", type & 0xffffu);
    return buf;
}

static void describe(const uint8_t *d, size_t n, char *out, size_t len) {
    char h[160], t[16];
    hex_dgram(d, n, h, sizeof h);
    if (n >= CU_OVERHEAD) snprintf(out, len, "%s, %zu-byte datagram: %s", type_name(be32(d + 4) & 0xffffu, t), n, h);
    else snprintf(out, len, "%zu-byte datagram: %s", n, h);
}

static bool same_addr(const struct sockaddr_storage *a, const cu_target *t) {
    if (a->ss_family != t->family) return false;
    if (t->family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)&t->addr;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (t->family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)&t->addr;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return true;
}

static int new_socket(const cu_target *t) {
    int fd = socket(t->family, SOCK_DGRAM, 0);
    if (fd >= 0) (void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* the client mode forks: keep it out */
    return fd;
}

static bool send_dgram(int fd, const cu_target *t, const uint8_t *d, size_t n) {
    ssize_t k;
    do k = sendto(fd, d, n, 0, (const struct sockaddr *)&t->addr, t->addrlen);
    while (k < 0 && errno == EINTR);
    return k == (ssize_t)n;
}

/* A received datagram and where it came from. */
typedef struct dgram {
    uint8_t buf[CU_RECV_CAP];
    size_t n;
    bool from_server;
} dgram;

/* Waits up to wait_ms for a datagram: 1 got one, 0 none came. */
static int recv_dgram(int fd, cu_target *t, int wait_ms, dgram *d) {
    int64_t until = wire_now_ms() + wait_ms;
    for (;;) {
        int64_t left = until - wire_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, left > 0 ? (int)left : 0); /* wait_ms 0: only what is already there */
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        struct sockaddr_storage src;
        socklen_t sl = sizeof src;
        ssize_t k = recvfrom(fd, d->buf, sizeof d->buf, 0, (struct sockaddr *)&src, &sl);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k < 0) return 0; /* an ICMP error reported on the socket: as if nothing came */
        d->n = (size_t)k;
        d->from_server = same_addr(&src, t);
        t->answered++;
        return 1;
    }
}

/* Sends d and waits for a datagram, sending d once more if nothing came within half the timeout.
 * 1 got one (*resent: the request went twice, so its answer may come twice), 0 nothing. */
static int ask(int fd, cu_target *t, const uint8_t *req, size_t n, dgram *d, bool *resent) {
    int half = t->timeout_ms / 2 > 0 ? t->timeout_ms / 2 : 1;
    *resent = false;
    if (!send_dgram(fd, t, req, n)) return 0;
    if (recv_dgram(fd, t, half, d)) return 1;
    *resent = true;
    if (!send_dgram(fd, t, req, n)) return 0;
    return recv_dgram(fd, t, t->timeout_ms - half, d);
}

/* The frame in an answer, judged as 15.3 says a client must: its header, then its length (false:
 * why in out). */
static bool frame_of(const dgram *d, wire_header *h, char *out, size_t len) {
    size_t at;
    if (d->n < CU_OVERHEAD) {
        snprintf(out, len, "a %zu-byte datagram: too short for a request id and a frame header (SPEC 15.2)", d->n);
        return false;
    }
    wire_err e = wire_header_decode(d->buf + 4, CU_MAX_PAYLOAD, h, &at);
    if (e) {
        snprintf(out, len, "its frame header is refused: %s at %zu (SPEC 2.3)", wire_err_name(e), at);
        return false;
    }
    if (d->n != CU_OVERHEAD + (size_t)h->length) {
        snprintf(out, len, "its header says %lu payload bytes, the datagram has %zu (SPEC 15.2: one frame, exactly)",
                 (unsigned long)h->length, d->n - CU_OVERHEAD);
        return false;
    }
    return true;
}

/* An answer in words: "ERROR LENGTH at 4 (\"length or ...\")", "ECHO_REPLY, 3 payload bytes". */
static void answer_words(const dgram *d, char *out, size_t len) {
    wire_header h;
    wire_error_msg m;
    char why[200];
    if (!frame_of(d, &h, why, sizeof why)) {
        snprintf(out, len, "%s", why);
        return;
    }
    if (h.type == WIRE_MSG_ERROR && wire_get_error_msg(d->buf + CU_OVERHEAD, h.length, &m, NULL) == WIRE_OK) {
        if (m.offset == WIRE_NO_OFFSET)
            snprintf(out, len, "ERROR %s, no offset (\"%.*s\")", wire_err_name((wire_err)m.code), (int)(m.text_len > 60 ? 60 : m.text_len), m.text);
        else
            snprintf(out, len, "ERROR %s at %lu (\"%.*s\")", wire_err_name((wire_err)m.code), (unsigned long)m.offset,
                     (int)(m.text_len > 60 ? 60 : m.text_len), m.text);
    } else {
        char t[16];
        snprintf(out, len, "%s, %lu payload bytes", type_name(h.type, t), (unsigned long)h.length);
    }
}

/* The request's header disagrees with its size (15.3): its frame is not whole, or not alone. */
static bool length_disagrees(const uint8_t *req, size_t n) {
    return n >= CU_OVERHEAD && n != CU_OVERHEAD + (size_t)be32(req + 8);
}

/* Why an answer is wrong, when the mistake is a classic one; "" otherwise. */
static const char *diagnose(const uint8_t *req, size_t n, const dgram *d, const cu_case *c) {
    uint32_t want = id_of(req, n);
    uint16_t rtype = n >= CU_OVERHEAD ? (uint16_t)(be32(req + 4) & 0xffffu) : 0;
    bool got_error = d->n >= CU_OVERHEAD && (be32(d->buf + 4) & 0xffffu) == WIRE_MSG_ERROR;
    if (!d->from_server)
        return "; it came from another address or port than the request went to: answer from the socket that "
               "received the request (SPEC 15.3, 15.8)";
    if (n < 4) return "; a datagram too short to hold a request id must be dropped, unanswered (SPEC 15.3 step 1)";
    if (d->n >= 4 && be32(d->buf) != want && be32(d->buf) == bswap32(want))
        return "; the request id came back byte-swapped: an id read into an integer and written back in host byte "
               "order? Copy its 4 bytes as they came (SPEC 15.2, 13.1)";
    if (d->n >= 4 && be32(d->buf) != want) return "; it does not carry the request's id (SPEC 15.2)";
    if (rtype == WIRE_MSG_ERROR && got_error) return "; an ERROR answered to an ERROR: never answer one (SPEC 7.4, 15.5)";
    if (rtype == WIRE_MSG_HELLO && !got_error)
        return "; a reply to HELLO: the profile has no handshake, a HELLO is ERROR(UNEXPECTED, 2) (SPEC 15.6)";
    if (n > 1024 && (d->n == 1024 || (got_error && c && c->expect == CU_REPLY)))
        return "; the datagram was cut at 1024 bytes (1012 payload bytes): a 1024-byte receive buffer? Read into "
               "65507 bytes at least (SPEC 15.4)";
    if (length_disagrees(req, n) && !got_error)
        return "; the header's length disagrees with the datagram's size, yet it was served as if whole (SPEC 15.3)";
    if (c && c->expect == CU_ERROR && got_error && d->n >= CU_OVERHEAD + 8) {
        wire_error_msg m;
        if (wire_get_error_msg(d->buf + CU_OVERHEAD, d->n - CU_OVERHEAD, &m, NULL) == WIRE_OK && m.code == c->code &&
            c->offset != WIRE_NO_OFFSET && m.offset == c->offset + 4)
            return "; the offset counts the 4-byte request id: offsets are frame offsets (SPEC 15.2)";
    }
    return "";
}

/* Whether d is the expected answer of case c (sent as req[0..n)); false: why, in out. */
static bool judge(const cu_case *c, const uint8_t *req, size_t n, const dgram *d, char *out, size_t len) {
    char exp[200], got[200], words[200], sent[220], t[16];
    describe(req, n, sent, sizeof sent);
    hex_dgram(d->buf, d->n, got, sizeof got);
    answer_words(d, words, sizeof words);
    if (!d->from_server) {
        snprintf(out, len, "the answer did not come from the server's address and UDP port (a reply from another "
                           "socket? SPEC 15.8): got %s [sent %s]", got, sent);
        return false;
    }
    if (c->expect == CU_NONE) {
        snprintf(out, len, "expected nothing, got %s: %s%s [sent %s]", got, words, diagnose(req, n, d, c), sent);
        return false;
    }
    uint32_t id = id_of(req, n);
    bool ok;
    if (c->expect == CU_REPLY) {
        uint8_t *want = malloc(4 + c->framelen);
        if (!want) return snprintf(out, len, "out of memory"), false;
        put_be32(want, id);
        memcpy(want + 4, c->frame, c->framelen);
        ok = d->n == 4 + c->framelen && memcmp(d->buf, want, d->n) == 0;
        hex_dgram(want, 4 + c->framelen, exp, sizeof exp);
        if (!ok) {
            size_t at = 0;
            while (at < d->n && at < 4 + c->framelen && d->buf[at] == want[at]) at++;
            snprintf(out, len, "expected %s (%s, %zu bytes), got %s (%s, %zu bytes; first difference at byte %zu)%s "
                               "[sent %s]",
                     exp, type_name(be32(want + 4) & 0xffffu, t), 4 + c->framelen, got, words, d->n, at,
                     diagnose(req, n, d, c), sent);
        }
        free(want);
        return ok;
    }
    wire_header h;
    wire_error_msg m;
    char why[200] = "";
    ok = frame_of(d, &h, why, sizeof why) && be32(d->buf) == id && h.type == WIRE_MSG_ERROR &&
         wire_get_error_msg(d->buf + CU_OVERHEAD, h.length, &m, NULL) == WIRE_OK && m.code == c->code &&
         m.offset == c->offset;
    if (!ok) {
        char at[24] = "no offset";
        if (c->offset != WIRE_NO_OFFSET) snprintf(at, sizeof at, "at %lu", (unsigned long)c->offset);
        snprintf(out, len, "expected id %08lx and ERROR %s %s, got %s: %s%s [sent %s]", (unsigned long)id,
                 wire_err_name(c->code), at, got, words, diagnose(req, n, d, c), sent);
    }
    return ok;
}

/* Whether d is the PONG answering the PING req[0..n): the same id, a version-1 PONG header, the
 * same length and payload, from the server. */
static bool is_pong(const dgram *d, const uint8_t *req, size_t n) {
    static const uint8_t head[4] = {WIRE_PROTOCOL_VERSION, 0, 0, WIRE_MSG_PONG};
    return d->from_server && d->n == n && n >= CU_OVERHEAD && memcmp(d->buf, req, 4) == 0 &&
           memcmp(d->buf + 4, head, 4) == 0 && memcmp(d->buf + 8, req + 8, n - 8) == 0;
}

/* After a case: the server still serves, and sent nothing more. A PING with another id from the
 * same socket; its PONG must be the next datagram (after one copy of `first`, if the request went
 * twice). */
static bool still_serving(int fd, cu_target *t, uint32_t case_id, const dgram *first, bool resent, char *out,
                          size_t len) {
    uint8_t ping[CU_OVERHEAD + sizeof next_payload];
    uint32_t id = case_id ^ CU_NEXT_XOR;
    put_be32(ping, id);
    wire_header_encode(ping + 4, WIRE_MSG_PING, sizeof next_payload);
    memcpy(ping + CU_OVERHEAD, next_payload, sizeof next_payload);
    dgram *d = malloc(sizeof *d);
    if (!d) return snprintf(out, len, "out of memory"), false;
    bool again, ok = false, skipped = false;
    int got = ask(fd, t, ping, sizeof ping, d, &again);
    while (got && !skipped && resent && first && d->n == first->n && memcmp(d->buf, first->buf, d->n) == 0) {
        skipped = true; /* the answer to our own resend */
        got = recv_dgram(fd, t, t->timeout_ms, d);
    }
    char h[200], w[200];
    if (!got) {
        snprintf(out, len, "then a PING (id %08lx) from the same socket got no PONG within %d ms: the server stopped "
                           "serving? (SPEC 15.3: after an answer, or none, it reads the next datagram)",
                 (unsigned long)id, t->timeout_ms);
    } else if (is_pong(d, ping, sizeof ping)) {
        ok = true;
    } else {
        hex_dgram(d->buf, d->n, h, sizeof h);
        answer_words(d, w, sizeof w);
        snprintf(out, len, "then a PING (id %08lx) from the same socket: the next datagram should be its PONG, got "
                           "%s: %s%s%s",
                 (unsigned long)id, h, w,
                 be32(d->buf) == case_id ? " (a second answer to the case's datagram, or a late one)" : "",
                 diagnose(ping, sizeof ping, d, NULL));
    }
    free(d);
    return ok;
}

/* Whether the port has stayed silent (then why says so, and the check fails without waiting again). */
static bool silent(const cu_target *t, char *why, size_t whylen) {
    if (t->silent)
        snprintf(why, whylen, "not tried: an earlier request got no answer, and nothing at all has come from this UDP "
                              "port: is the server started with --udp? It serves UDP on the TCP port's number (SPEC "
                              "15.8)");
    return t->silent;
}

int cu_run_case(cu_target *t, const cu_case *c, char *why, size_t whylen) {
    if (silent(t, why, whylen)) return 1;
    int fd = new_socket(t);
    if (fd < 0) return snprintf(why, whylen, "cannot open a UDP socket: %s", strerror(errno)), 1;
    dgram *d = malloc(sizeof *d);
    char sent[220];
    describe(c->dgram, c->len, sent, sizeof sent);
    bool ok = false, resent = false;
    unsigned before = t->answered;
    if (!d) {
        snprintf(why, whylen, "out of memory");
    } else if (c->expect == CU_NONE) {
        /* nothing may come: a bounded wait (at most 1 s), then the PING says whether the server lives */
        int wait = t->timeout_ms < 1000 ? t->timeout_ms : 1000;
        if (!send_dgram(fd, t, c->dgram, c->len)) snprintf(why, whylen, "cannot send: %s", strerror(errno));
        else if (recv_dgram(fd, t, wait, d)) judge(c, c->dgram, c->len, d, why, whylen);
        else ok = still_serving(fd, t, id_of(c->dgram, c->len), NULL, false, why, whylen);
    } else if (!ask(fd, t, c->dgram, c->len, d, &resent)) {
        const char *hint = "";
        if (strcmp(c->name, "reply.toobig") == 0 || (c->expect == CU_ERROR && c->code == WIRE_ETOOBIG && c->offset == WIRE_NO_OFFSET))
            hint = "; a reply over 65495 payload bytes does not fit in a datagram (sendto fails: EMSGSIZE): answer "
                   "ERROR(TOOBIG, no offset) instead (SPEC 15.4)";
        else if (before == 0 && t->answered == 0)
            hint = "; nothing at all has come from this UDP port yet: is the server started with --udp? It serves "
                   "UDP on the TCP port's number (SPEC 15.8)";
        t->silent = t->answered == 0;
        snprintf(why, whylen, "nothing came within %d ms (sent twice)%s [sent %s]", t->timeout_ms, hint, sent);
    } else if (judge(c, c->dgram, c->len, d, why, whylen)) {
        ok = still_serving(fd, t, id_of(c->dgram, c->len), d, resent, why, whylen);
    }
    free(d);
    close(fd);
    return ok ? 0 : 1;
}

/* ---------- the checks the file cannot express ---------- */

/* A PING datagram with this id and an 8-byte payload made of tag and k. */
static void make_ping(uint8_t *out, uint32_t id, const char *tag, unsigned k) {
    put_be32(out, id);
    wire_header_encode(out + 4, WIRE_MSG_PING, 8);
    memcpy(out + CU_OVERHEAD, tag, 4);
    put_be32(out + CU_OVERHEAD + 4, k);
}

/* The same datagram twice, back to back: two PONGs (the server keeps no state, SPEC 15.5). */
static int check_dup(cu_target *t, const cu_file *f, char *why, size_t whylen) {
    if (silent(t, why, whylen)) return 1;
    (void)f;
    uint8_t req[CU_OVERHEAD + 8];
    make_ping(req, 0x64757031u, "dup!", 1);
    int fd = new_socket(t);
    dgram *d = malloc(sizeof *d);
    int got = 0, rc = 1;
    bool resent = false;
    char sent[220], h[200], w[200];
    describe(req, sizeof req, sent, sizeof sent);
    if (fd < 0 || !d || !send_dgram(fd, t, req, sizeof req) || !send_dgram(fd, t, req, sizeof req)) {
        snprintf(why, whylen, "cannot open a UDP socket or send: %s", strerror(errno));
        goto out;
    }
    while (got < 2) {
        if (!recv_dgram(fd, t, t->timeout_ms / 2 > 0 ? t->timeout_ms / 2 : 1, d)) {
            if (resent) break;
            resent = true; /* lost on a loaded machine? once more, which must be answered as well */
            if (!send_dgram(fd, t, req, sizeof req)) break;
            continue;
        }
        if (!is_pong(d, req, sizeof req)) {
            hex_dgram(d->buf, d->n, h, sizeof h);
            answer_words(d, w, sizeof w);
            snprintf(why, whylen, "expected PONG %08lx twice, got %s: %s%s [sent twice: %s]", (unsigned long)be32(req),
                     h, w, diagnose(req, sizeof req, d, NULL), sent);
            goto out;
        }
        got++;
    }
    if (got < 2)
        snprintf(why, whylen, "the same datagram sent %s got %d PONG(s), expected one for each: a server that drops "
                              "what it has already answered keeps state it must not (SPEC 15.5, 15.7) [sent %s]",
                 resent ? "three times" : "twice", got, sent);
    else
        rc = 0;
out:
    free(d);
    if (fd >= 0) close(fd);
    return rc;
}

/* Two sockets, the same ids, different payloads, sent interleaved before any answer is read: each
 * socket gets its own two replies, with its ids and its payloads (nothing shared between sources). */
static int check_interleaved(cu_target *t, const cu_file *f, char *why, size_t whylen) {
    if (silent(t, why, whylen)) return 1;
    (void)f;
    enum { N = 2 };
    uint8_t req[2][N][CU_OVERHEAD + 8];
    int fd[2] = {new_socket(t), new_socket(t)};
    bool seen[2][N] = {{false}}, resent = false;
    dgram *d = malloc(sizeof *d);
    int rc = 1, left = 2 * N;
    char h[200], w[200], sent[220];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < N; k++) make_ping(req[s][k], 0x696e7401u + (uint32_t)k, s ? "sk-B" : "sk-A", (unsigned)k);
    if (fd[0] < 0 || fd[1] < 0 || !d) {
        snprintf(why, whylen, "cannot open a UDP socket: %s", strerror(errno));
        goto out;
    }
    for (int k = 0; k < N; k++)
        for (int s = 0; s < 2; s++)
            if (!send_dgram(fd[s], t, req[s][k], sizeof req[s][k])) {
                snprintf(why, whylen, "cannot send: %s", strerror(errno));
                goto out;
            }
    int64_t until = wire_now_ms() + t->timeout_ms / 2;
    while (left > 0) {
        struct pollfd p[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
        int64_t wait = until - wire_now_ms();
        int r = wait > 0 ? poll(p, 2, (int)wait) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (resent) break;
            resent = true; /* once more, what is still missing */
            for (int s = 0; s < 2; s++)
                for (int k = 0; k < N; k++)
                    if (!seen[s][k]) (void)send_dgram(fd[s], t, req[s][k], sizeof req[s][k]);
            until = wire_now_ms() + t->timeout_ms - t->timeout_ms / 2;
            continue;
        }
        for (int s = 0; s < 2; s++) {
            if (!p[s].revents || !recv_dgram(fd[s], t, 0, d)) continue;
            int k = -1;
            for (int j = 0; j < N; j++)
                if (is_pong(d, req[s][j], sizeof req[s][j])) k = j;
            if (k < 0) {
                hex_dgram(d->buf, d->n, h, sizeof h);
                answer_words(d, w, sizeof w);
                bool other = d->n == sizeof req[s][0] && memcmp(d->buf + CU_OVERHEAD, s ? "sk-A" : "sk-B", 4) == 0;
                describe(req[s][0], sizeof req[s][0], sent, sizeof sent);
                snprintf(why, whylen, "socket %c got %s: %s, not one of its own PONGs%s [sent from socket %c, "
                                      "interleaved with socket %c's requests of the same ids: %s]",
                         s ? 'B' : 'A', h, w,
                         other ? ": the other socket's reply (a reply kept by id alone and given to another source? "
                                 "replies go to each datagram's source, and nothing is kept, SPEC 15.3, 15.5)"
                               : diagnose(req[s][0], sizeof req[s][0], d, NULL),
                         s ? 'B' : 'A', s ? 'A' : 'B', sent);
                goto out;
            }
            if (!seen[s][k]) seen[s][k] = true, left--;
        }
    }
    if (left > 0)
        snprintf(why, whylen, "%d of the %d PINGs sent interleaved from two sockets got no PONG within %d ms (SPEC 15.3)",
                 left, 2 * N, t->timeout_ms);
    else
        rc = 0;
out:
    free(d);
    for (int s = 0; s < 2; s++)
        if (fd[s] >= 0) close(fd[s]);
    return rc;
}

/* Every bad datagram of the file (the error and none cases) from one socket, back to back, then a
 * PING: its PONG comes, and everything before it is an ERROR for one of the bad datagrams. */
static int check_alive(cu_target *t, const cu_file *f, char *why, size_t whylen) {
    if (silent(t, why, whylen)) return 1;
    uint8_t ping[CU_OVERHEAD + 8];
    make_ping(ping, 0x616c6976u, "live", 1);
    int fd = new_socket(t), rc = 1;
    dgram *d = malloc(sizeof *d);
    size_t sent = 0;
    bool resent = false;
    char h[200], w[200];
    if (fd < 0 || !d) {
        snprintf(why, whylen, "cannot open a UDP socket: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < f->count; i++)
        if (f->cases[i].expect != CU_REPLY && send_dgram(fd, t, f->cases[i].dgram, f->cases[i].len)) sent++;
    if (!send_dgram(fd, t, ping, sizeof ping)) {
        snprintf(why, whylen, "cannot send: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        if (!recv_dgram(fd, t, t->timeout_ms / 2 > 0 ? t->timeout_ms / 2 : 1, d)) {
            if (resent) {
                snprintf(why, whylen, "after a burst of %zu bad datagrams from one socket (every error and none case "
                                      "of proto/udp.txt), a PING from it got no PONG within %d ms: the server stopped "
                                      "serving, or stopped serving this source (SPEC 15.3: one bad datagram costs "
                                      "nothing, and the server keeps nothing per source, 15.5)",
                         sent, t->timeout_ms);
                goto out;
            }
            resent = true;
            if (!send_dgram(fd, t, ping, sizeof ping)) goto out;
            continue;
        }
        if (is_pong(d, ping, sizeof ping)) break;
        const cu_case *c = NULL, *any = NULL; /* the bad datagram it answers, if it calls for an ERROR */
        for (size_t i = 0; d->n >= 4 && i < f->count; i++)
            if (f->cases[i].expect != CU_REPLY && f->cases[i].len >= 4 && be32(f->cases[i].dgram) == be32(d->buf)) {
                if (f->cases[i].expect == CU_ERROR && !c) c = &f->cases[i];
                if (!any) any = &f->cases[i];
            }
        if (!d->from_server || !c || d->n < CU_OVERHEAD || (be32(d->buf + 4) & 0xffffu) != WIRE_MSG_ERROR) {
            hex_dgram(d->buf, d->n, h, sizeof h);
            answer_words(d, w, sizeof w);
            snprintf(why, whylen, "after a burst of %zu bad datagrams and a PING (%08lx), got %s: %s, neither the PONG "
                                  "nor an ERROR for a datagram that calls for one%s%s%s",
                     sent, (unsigned long)be32(ping), h, w, any ? " (it answers udp:" : "", any ? any->name : "",
                     any ? diagnose(any->dgram, any->len, d, any) : "");
            if (any) snprintf(why + strlen(why), whylen - strlen(why), ")");
            goto out;
        }
    }
    rc = 0;
out:
    free(d);
    if (fd >= 0) close(fd);
    return rc;
}

const cu_extra cu_extras[] = {
    {"udp-dup:ping", "15.5", check_dup},
    {"udp-interleaved", "15.2 15.5", check_interleaved},
    {"udp-alive-after-garbage", "15.3", check_alive},
};
const size_t cu_nextras = sizeof cu_extras / sizeof cu_extras[0];
