/* SPDX-License-Identifier: MIT */
/* sessions.c - see sessions.h. */
#include "sessions.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPECT_MS 5000 /* an expect step's wait, unless its third column says otherwise */
#define CLOSE_MS 2000  /* after an ERROR: how long the server may take to close */
#define HELLO_NAME "wire-conform"

/* ---------- loading ---------- */

static int lerr(char *err, size_t errlen, const char *path, int line, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    return -1;
}


/* A message type: a name of WIRE_MESSAGES or 0xNNNN. */
static int type_of(const char *t) {
    static const struct {
        const char *name;
        uint16_t type;
    } names[] = {
#define ROW(name, type) {#name, type},
        WIRE_MESSAGES(ROW)
#undef ROW
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(t, names[k].name) == 0) return names[k].type;
    char *end;
    if (strncmp(t, "0x", 2) != 0 || strlen(t) != 6) return -1;
    long v = strtol(t + 2, &end, 16);
    return *end || v <= 0 || v > 0xFFFF ? -1 : (int)v;
}

static int parse_step(ws_step *st, char *what, char *col2, char *col3, const char *path, int line, char *err,
                      size_t errlen) {
    char *arg = strchr(what, ' ');
    if (arg) *arg++ = '\0';
    st->line = line;
    st->within_ms = EXPECT_MS;
    if (strcmp(what, "hello") == 0) st->kind = WS_HELLO;
    else if (strcmp(what, "shutdown") == 0) st->kind = WS_SHUTDOWN;
    else if (strcmp(what, "raw") == 0) st->kind = WS_RAW;
    else if (strcmp(what, "send") == 0) st->kind = WS_SEND;
    else if (strcmp(what, "expect") == 0) st->kind = WS_EXPECT;
    else if (strcmp(what, "expect-error") == 0) st->kind = WS_EXPECT_ERROR;
    else if (strcmp(what, "expect-close") == 0) st->kind = WS_EXPECT_CLOSE;
    else return lerr(err, errlen, path, line, "unknown step '%s'", what);
    bool typed = st->kind == WS_SEND || st->kind == WS_EXPECT;
    if (typed) {
        int t = arg ? type_of(arg) : -1;
        if (t < 0) return lerr(err, errlen, path, line, "'%s' needs a message type", what);
        st->type = (uint16_t)t;
    } else if (st->kind == WS_EXPECT_ERROR) {
        int code = arg ? wv_err_code(arg) : -1;
        if (code <= 0) return lerr(err, errlen, path, line, "expect-error needs an error name");
        st->code = (wire_err)code;
        char *end;
        if (strcmp(col2, "none") == 0) st->offset = WIRE_NO_OFFSET;
        else if (!isdigit((unsigned char)*col2) || (st->offset = (uint32_t)strtoul(col2, &end, 10), *end))
            return lerr(err, errlen, path, line, "expect-error needs an offset or none, not '%s'", col2);
    } else if (arg) {
        return lerr(err, errlen, path, line, "'%s' takes no argument", what);
    }
    if (st->kind == WS_EXPECT || st->kind == WS_EXPECT_ERROR || st->kind == WS_EXPECT_CLOSE) {
        if (*col3 && !typed) {
            char *end;
            long ms = strtol(col3, &end, 10);
            if (*end || ms <= 0) return lerr(err, errlen, path, line, "bad wait '%s' (milliseconds)", col3);
            st->within_ms = (int)ms;
            *col3 = '\0';
        }
    }
    if (typed && *col2 && *col3) return lerr(err, errlen, path, line, "a payload is fields or hex, not both");
    char msg[200];
    if (typed && *col2) {
        st->has_fields = true;
        if (wv_parse_fields(col2, st->kind == WS_EXPECT, &st->fields, &st->nfields, msg, sizeof msg))
            return lerr(err, errlen, path, line, "%s", msg);
    } else if ((typed || st->kind == WS_RAW) && *col3) {
        if (wv_parse_hex(col3, &st->hex, &st->hexlen, msg, sizeof msg)) return lerr(err, errlen, path, line, "%s", msg);
    }
    if (st->kind == WS_RAW && st->hexlen == 0) return lerr(err, errlen, path, line, "raw needs bytes");
    return 0;
}

static void free_step(ws_step *st) {
    wv_free_values(st->fields, st->nfields);
    free(st->hex);
}

void ws_free(ws_file *f) {
    for (size_t k = 0; k < f->count; k++) {
        ws_session *s = &f->sessions[k];
        for (size_t i = 0; i < s->nsteps; i++) free_step(&s->steps[i]);
        free(s->steps);
        free(s->name);
        free(s->spec);
    }
    free(f->sessions);
    free(f->config);
    memset(f, 0, sizeof *f);
}

static void *grow(void *p, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return p;
    size_t c = *cap ? *cap * 2 : 16;
    void *np = realloc(p, c * size);
    if (np) *cap = c;
    return np;
}

int ws_load(const char *path, ws_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t linecap = 0, scap = 0, stcap = 0;
    int n = 0, rc = 0;
    while (rc == 0 && getline(&line, &linecap, fp) >= 0) {
        n++;
        char *s = wv_trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *b1 = strchr(s, '|'), *b2 = b1 ? strchr(b1 + 1, '|') : NULL;
        if (!b2 || strchr(b2 + 1, '|')) {
            rc = lerr(err, errlen, path, n, "a line has three columns separated by ' | '");
            break;
        }
        *b1 = *b2 = '\0';
        char *what = wv_trim(s), *col2 = wv_trim(b1 + 1), *col3 = wv_trim(b2 + 1);
        if (strcmp(what, "config") == 0) {
            const char *mp = strstr(col2, "--max-payload ");
            f->config = strdup(col2);
            f->max_payload = mp ? (uint32_t)strtoul(mp + 14, NULL, 10) : WIRE_DEFAULT_MAX_PAYLOAD;
            if (!f->config) rc = lerr(err, errlen, path, n, "out of memory");
            continue;
        }
        if (strncmp(what, "session ", 8) == 0) {
            ws_session *ns = grow(f->sessions, &scap, f->count, sizeof *ns);
            if (!ns) {
                rc = lerr(err, errlen, path, n, "out of memory");
                break;
            }
            f->sessions = ns;
            ws_session *ss = &f->sessions[f->count++];
            memset(ss, 0, sizeof *ss);
            stcap = 0;
            ss->name = strdup(wv_trim(what + 8));
            ss->spec = strdup(col2);
            ss->line = n;
            for (size_t k = 0; k + 1 < f->count; k++)
                if (strcmp(f->sessions[k].name, ss->name) == 0) rc = lerr(err, errlen, path, n, "duplicate session");
            continue;
        }
        if (f->count == 0) {
            rc = lerr(err, errlen, path, n, "a step before the first session");
            break;
        }
        ws_session *ss = &f->sessions[f->count - 1];
        ws_step *nst = grow(ss->steps, &stcap, ss->nsteps, sizeof *nst);
        if (!nst) {
            rc = lerr(err, errlen, path, n, "out of memory");
            break;
        }
        ss->steps = nst;
        ws_step *st = &ss->steps[ss->nsteps++];
        memset(st, 0, sizeof *st);
        rc = parse_step(st, what, col2, col3, path, n, err, errlen);
    }
    free(line);
    fclose(fp);
    if (rc == 0 && !f->config) rc = lerr(err, errlen, path, n, "no config line");
    if (rc) ws_free(f);
    return rc;
}

/* ---------- running ---------- */

typedef struct conn {
    int fd;
    uint8_t *buf; /* what the server sent, not yet taken */
    size_t len, cap;
    bool eof, reset;
    char sent[96]; /* the start of what was sent last, in hex, for a failure's report */
} conn;

static void hex_of(const uint8_t *p, size_t n, char *out, size_t len) {
    size_t at = 0, show = n > 24 ? 24 : n;
    out[0] = '\0';
    for (size_t i = 0; i < show && at + 4 < len; i++) at += (size_t)snprintf(out + at, len - at, "%02x", p[i]);
    if (show < n && at + 16 < len) snprintf(out + at, len - at, "...(%zu bytes)", n);
}

/* Waits until `until` for more bytes: 1 got some, 0 none came in time, -1 the stream ended. */
static int read_more(conn *c, int64_t until) {
    if (c->eof || c->reset) return -1;
    for (;;) {
        int64_t left = until - wire_now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {c->fd, POLLIN, 0};
        int n = poll(&p, 1, left > 100000 ? 100000 : (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        if (c->len == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 65536;
            uint8_t *nb = realloc(c->buf, cap);
            if (!nb) return -1;
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t got = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (got > 0) {
            c->len += (size_t)got;
            return 1;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got == 0) c->eof = true;
        else c->reset = true;
        return -1;
    }
}

static void take(conn *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* The next frame the server sends, within ms. 1: *f (its payload in c->buf until take()); 0: none. */
static int next_frame(conn *c, int ms, wire_frame *f, char *why, size_t whylen) {
    int64_t until = wire_now_ms() + ms;
    for (;;) {
        wire_err e;
        size_t at;
        int rc = wire_frame_parse(c->buf, c->len, UINT32_MAX - WIRE_HEADER_SIZE, f, &e, &at);
        if (rc == 1) return 1;
        if (rc < 0) {
            char h[80];
            hex_of(c->buf, c->len, h, sizeof h);
            snprintf(why, whylen, "the server sent a bad frame header (%s at %zu): %s", wire_err_name(e), at, h);
            return 0;
        }
        int r = read_more(c, until);
        if (r == 1) continue;
        char h[80];
        hex_of(c->buf, c->len, h, sizeof h);
        if (r == 0) snprintf(why, whylen, "nothing came within %d ms%s%s", ms, c->len ? "; half a frame: " : "", h);
        else snprintf(why, whylen, "the server %s%s%s", c->reset ? "reset the connection" : "closed the connection",
                      c->len ? " after half a frame: " : "", h);
        return 0;
    }
}

static const char *type_name(uint16_t t, char *buf, size_t len) {
    const char *n = wire_msg_name(t);
    if (n) return n;
    snprintf(buf, len, "0x%04x", (unsigned)t);
    return buf;
}

/* "ERROR MESSAGE at 16 (text)" or "PONG with 3 bytes 010203". */
static void describe(const wire_frame *f, char *out, size_t len) {
    wire_error_msg m;
    char h[80], tn[8];
    if (f->type == WIRE_MSG_ERROR && wire_get_error_msg(f->payload, f->length, &m, NULL) == WIRE_OK) {
        char at[16] = "none";
        if (m.offset != WIRE_NO_OFFSET) snprintf(at, sizeof at, "%lu", (unsigned long)m.offset);
        snprintf(out, len, "ERROR %s at %s ('%.*s')", m.code < 256 ? wire_err_name((wire_err)m.code) : "(app)", at,
                 (int)(m.text_len > 80 ? 80 : m.text_len), m.text);
        return;
    }
    hex_of(f->payload, f->length, h, sizeof h);
    snprintf(out, len, "%s with %lu bytes %s", type_name(f->type, tn, sizeof tn), (unsigned long)f->length, h);
}

/* Sends a frame of type with payload p[0..n) (header and payload in one write). */
static void note_sent(conn *c, const uint8_t *hdr, size_t hn, const uint8_t *p, size_t n) {
    uint8_t both[32];
    size_t k = hn < sizeof both ? hn : sizeof both;
    memcpy(both, hdr, k);
    if (k < sizeof both && n) memcpy(both + k, p, n < sizeof both - k ? n : sizeof both - k);
    size_t shown = k + (n < sizeof both - k ? n : sizeof both - k);
    hex_of(both, shown, c->sent, sizeof c->sent);
    if (hn + n > shown) snprintf(c->sent + strlen(c->sent), sizeof c->sent - strlen(c->sent), "...(%zu bytes)", hn + n);
}

static bool send_frame(conn *c, uint16_t type, const uint8_t *p, size_t n, char *why, size_t whylen) {
    uint8_t hdr[WIRE_HEADER_SIZE];
    wire_header_encode(hdr, type, (uint32_t)n);
    note_sent(c, hdr, sizeof hdr, p, n);
    wire_err e = wire_send_frame(c->fd, type, p, (uint32_t)n);
    if (e) snprintf(why, whylen, "sending: %s (the server closed?)", wire_strerror(e));
    return e == WIRE_OK;
}

/* The payload of a step given as fields, encoded. */
static uint8_t *encode(const ws_step *st, size_t *n) {
    wire_writer w;
    wire_writer_init(&w, NULL, 0);
    wv_encode(&w, st->fields, st->nfields);
    if (wire_writer_finish(&w, n) != WIRE_OK) return NULL;
    uint8_t *p = malloc(*n ? *n : 1);
    if (!p) return NULL;
    wire_writer_init(&w, p, *n);
    wv_encode(&w, st->fields, st->nfields);
    if (wire_writer_finish(&w, n) != WIRE_OK) {
        free(p);
        return NULL;
    }
    return p;
}

static bool expect_frame(conn *c, uint16_t type, const ws_step *st, int ms, char *why, size_t whylen) {
    wire_frame f;
    char tn[8], got[200];
    if (!next_frame(c, ms, &f, got, sizeof got)) {
        snprintf(why, whylen, "expected %s: %s", type_name(type, tn, sizeof tn), got);
        return false;
    }
    bool ok = f.type == type;
    char detail[700] = "";
    if (ok && st && st->has_fields) {
        wire_reader r;
        char path[200], e[200], g[200];
        wire_reader_init(&r, f.payload, f.length);
        int rc = wv_check(&r, st->fields, st->nfields, path, sizeof path, e, sizeof e, g, sizeof g);
        if (rc > 0) snprintf(detail, sizeof detail, ": field %s is %s, expected %s", path, g, e);
        if (rc < 0) snprintf(detail, sizeof detail, ": its payload does not decode");
        ok = rc == 0;
    } else if (ok && st) {
        ok = f.length == st->hexlen && (f.length == 0 || memcmp(f.payload, st->hex, f.length) == 0);
        if (!ok) {
            char h[80];
            hex_of(st->hex, st->hexlen, h, sizeof h);
            snprintf(detail, sizeof detail, ", expected %zu bytes %s", st->hexlen, h);
        }
    }
    if (!ok) {
        describe(&f, got, sizeof got);
        /* A long description is cut at whylen: enough to show where the bytes differ. */
        if (snprintf(why, whylen, "expected %s, got %s%s", type_name(type, tn, sizeof tn), got, detail) < 0)
            why[0] = '\0';
    }
    take(c, f.size);
    return ok;
}

/* The server closes within ms, sending nothing more. */
static bool expect_close(conn *c, int ms, const char *after, char *why, size_t whylen) {
    int64_t until = wire_now_ms() + ms;
    while (c->len == 0 && read_more(c, until) == 1) {
    }
    if (c->len > 0) {
        wire_frame f;
        wire_err e;
        char got[200] = "";
        if (wire_frame_parse(c->buf, c->len, UINT32_MAX - WIRE_HEADER_SIZE, &f, &e, NULL) == 1)
            describe(&f, got, sizeof got);
        else hex_of(c->buf, c->len, got, sizeof got);
        snprintf(why, whylen, "expected the server to close%s, got %s", after, got);
        return false;
    }
    if (c->reset) {
        snprintf(why, whylen, "expected the server to close%s, it reset the connection (an RST, not the graceful "
                 "close of SPEC 8.4)", after);
        return false;
    }
    if (!c->eof) {
        snprintf(why, whylen, "expected the server to close%s, it kept the connection open %d ms", after, ms);
        return false;
    }
    return true;
}

static bool run_step(conn *c, const ws_file *file, const ws_step *st, char *why, size_t whylen) {
    switch (st->kind) {
    case WS_HELLO: {
        uint8_t p[64];
        wire_writer w;
        size_t n;
        wire_hello h = {WIRE_PROTOCOL_VERSION, WIRE_DEFAULT_MAX_PAYLOAD, HELLO_NAME, sizeof HELLO_NAME - 1};
        wire_writer_init(&w, p, sizeof p);
        (void)wire_put_hello(&w, &h);
        if (wire_writer_finish(&w, &n) || !send_frame(c, WIRE_MSG_HELLO, p, n, why, whylen)) return false;
        wire_frame f;
        wire_hello got;
        char d[200];
        if (!next_frame(c, st->within_ms, &f, d, sizeof d)) {
            snprintf(why, whylen, "expected HELLO: %s", d);
            return false;
        }
        bool ok = f.type == WIRE_MSG_HELLO && wire_get_hello(f.payload, f.length, &got, NULL) == WIRE_OK &&
                  got.max_payload == file->max_payload;
        if (!ok) {
            describe(&f, d, sizeof d);
            snprintf(why, whylen, "expected HELLO u16:1 u32:%lu string:*, got %s", (unsigned long)file->max_payload, d);
        }
        take(c, f.size);
        return ok;
    }
    case WS_SEND: {
        size_t n = st->hexlen;
        uint8_t *p = st->has_fields ? encode(st, &n) : st->hex;
        if (st->has_fields && !p) {
            snprintf(why, whylen, "cannot encode the fields");
            return false;
        }
        bool ok = send_frame(c, st->type, p, n, why, whylen);
        if (st->has_fields) free(p);
        return ok;
    }
    case WS_RAW:
        note_sent(c, st->hex, st->hexlen, NULL, 0);
        if (wire_write_all(c->fd, st->hex, st->hexlen) != WIRE_OK) {
            snprintf(why, whylen, "sending: %s", strerror(errno));
            return false;
        }
        return true;
    case WS_SHUTDOWN: shutdown(c->fd, SHUT_WR); return true;
    case WS_EXPECT: return expect_frame(c, st->type, st, st->within_ms, why, whylen);
    case WS_EXPECT_ERROR: {
        wire_frame f;
        wire_error_msg m;
        char d[200], o1[16] = "none", o2[16] = "none";
        if (st->offset != WIRE_NO_OFFSET) snprintf(o1, sizeof o1, "%lu", (unsigned long)st->offset);
        if (!next_frame(c, st->within_ms, &f, d, sizeof d)) {
            snprintf(why, whylen, "expected ERROR %s at %s: %s", wire_err_name(st->code), o1, d);
            return false;
        }
        bool ok = f.type == WIRE_MSG_ERROR && wire_get_error_msg(f.payload, f.length, &m, NULL) == WIRE_OK &&
                  m.code == (uint16_t)st->code && m.offset == st->offset;
        if (!ok) {
            describe(&f, d, sizeof d);
            snprintf(why, whylen, "expected ERROR %s at %s, got %s", wire_err_name(st->code), o1, d);
            return false;
        }
        take(c, f.size);
        snprintf(o2, sizeof o2, " after ERROR %s", wire_err_name(st->code));
        return expect_close(c, CLOSE_MS, o2, why, whylen);
    }
    case WS_EXPECT_CLOSE: return expect_close(c, st->within_ms > CLOSE_MS ? st->within_ms : CLOSE_MS, "", why, whylen);
    }
    return false;
}

int ws_run(const ws_file *f, const ws_session *s, const char *host, const char *port, char *why, size_t whylen) {
    char err[WIRE_ERRBUF_SIZE];
    conn c;
    memset(&c, 0, sizeof c);
    wire_err e = host ? wire_tcp_connect(host, port, 3000, &c.fd, err, sizeof err) : wire_unix_connect(port, &c.fd, err, sizeof err);
    if (e) {
        snprintf(why, whylen, "cannot connect: %s", err);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < s->nsteps && rc == 0; i++) {
        char w[900];
        if (!run_step(&c, f, &s->steps[i], w, sizeof w)) {
            snprintf(why, whylen, "step %zu (line %d): %s%s%s", i + 1, s->steps[i].line, w, c.sent[0] ? "; last sent: " : "",
                     c.sent);
            rc = 1;
        }
    }
    close(c.fd);
    free(c.buf);
    return rc;
}
