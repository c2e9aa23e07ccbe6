/* SPDX-License-Identifier: MIT */
/* wirecat.c - netcat for the wire protocol: sends frames written as text (wirecat_notation.h) to a
 * server, or to the one client it accepts, and prints every frame it receives decoded or as an
 * annotated hex dump (wirecat_print.h); --decode does the printing alone, on raw frames from a file.
 * The protocol's own work (HELLO, PONG, BYE, a received ERROR) is libwire's connection object's. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"
#include "wirecat_notation.h"
#include "wirecat_print.h"

static const char usage_text[] =
    "usage: wirecat [OPTIONS] HOST PORT [FRAME...]     connect to a server\n"
    "       wirecat [OPTIONS] --unix PATH [FRAME...]   connect over a Unix-domain socket\n"
    "       wirecat [OPTIONS] -l PORT [FRAME...]       listen for one client (-l --unix PATH: on a socket file)\n"
    "       wirecat [-x] --decode [FILE]               print raw frames from FILE or stdin, no network\n"
    "\n"
    "Sends each FRAME (one per line on stdin when none is given), waits for as many replies, prints\n"
    "them, then says BYE. A listener sends its FRAMEs after the HELLO exchange and prints what the\n"
    "client sends until the client leaves.\n"
    "\n"
    "options:\n"
    "  -x               print frames as an annotated hex dump (SPEC.md section 12) instead of a line\n"
    "  -l PORT          listen on PORT for one client; 0: any free port (printed on stderr)\n"
    "  --bind ADDR      with -l: the address to listen on (default 127.0.0.1; '::' for all)\n"
    "  --unix PATH      a Unix-domain socket instead of TCP\n"
    "  --decode         read raw frames (binary, or hex text) from FILE or stdin and print them\n"
    "  --timeout MS     wait at most MS ms for each reply (default 5000; 0: no limit; a listener\n"
    "                   waits without limit unless given)\n"
    "  --name NAME      the name sent in HELLO (default wirecat)\n"
    "  -v               say on stderr whom wirecat talks to\n"
    "  -h, --help       this help\n"
    "\n"
    "A FRAME is a message type, by name (ROUNDTRIP, ECHO, STATS, ...) or number (0x0102, 258), then\n"
    "its fields in the value notation of SPEC.md 10.7, where strings and bytes may also be text:\n"
    "  'ROUNDTRIP u32:7 string:\"héllo\" list:u16 [ u16:1 u16:2 ] group { bool:true }'\n"
    "  u8:N .. u64:N i8:N .. i64:N  f32:0xBITS f64:1.5  bool:true  string:\"text\" string:<hex>\n"
    "  bytes:<hex> bytes:ab*300  list:TYPE [ ... ]  group { ... }   (text escapes: \\\" \\\\ \\n \\r \\t \\0 \\xNN)\n"
    "ECHO, ECHO_REPLY, PING and PONG carry opaque bytes: 'ECHO \"text\"' or 'ECHO bytes:6869'.\n"
    "Received frames are printed the same way, one per line, so a line can be sent again.\n"
    "\n"
    "exit status: 0 all went well; 1 an ERROR was received, a frame did not decode (its code and\n"
    "offset are printed), or the connection failed; 2 usage error (a bad FRAME names its column).\n";

typedef struct opts {
    bool dump, decode, listen, verbose;
    const char *host, *port, *unix_path, *bind, *name, *file;
    int timeout_ms;
    bool timeout_set;
    char **frames;
    size_t nframes;
    char **lines; /* the frames read from stdin (malloc'd), freed at exit */
    size_t nlines;
} opts;

typedef struct frame {
    uint16_t type;
    uint8_t *payload;
    size_t len;
} frame;

static int usage_error(const char *fmt, const char *arg) {
    fputs("wirecat: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(wirecat --help for usage)\n", stderr);
    return 2;
}

/* A decimal in [lo, hi], or -1. */
static long number(const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') return -1;
    long v = strtol(s, &end, 10);
    return errno || *end || v < lo || v > hi ? -1 : v;
}

/* Prints one received frame; false if its payload did not decode (said on stderr). */
static bool show(const opts *o, const char *where, uint16_t type, const uint8_t *payload, size_t len) {
    wire_err e = WIRE_OK;
    size_t off = 0;
    int rc = o->dump ? wc_print_dump(stdout, type, payload, len, &e, &off)
                     : wc_print_line(stdout, type, payload, len, &e, &off);
    fflush(stdout);
    if (rc == 0) return true;
    const char *name = wire_msg_name(type);
    fprintf(stderr, "wirecat: %s%s%s 0x%04x does not decode: %s (%d) at offset %zu: %s\n", where, *where ? ": " : "",
            name ? name : "type", type, wire_err_name(e), (int)e, WIRE_HEADER_SIZE + off, wire_strerror(e));
    return false;
}

static void say_error(const char *who, const wire_error_msg *m) {
    fprintf(stderr, "wirecat: %s ERROR %s (%u) at ", who, wire_err_name((wire_err)m->code), (unsigned)m->code);
    if (m->offset == WIRE_NO_OFFSET) fputs("no offset", stderr);
    else fprintf(stderr, "offset %lu", (unsigned long)m->offset);
    fprintf(stderr, ": %.*s\n", (int)m->text_len, m->text);
}

/* The peer's ERROR, printed as the frame it was (re-encoded: canonical, so the same bytes). */
static void show_peer_error(const opts *o, wire_conn *c) {
    wire_error_msg m;
    uint8_t buf[WIRE_MIN_MAX_PAYLOAD];
    size_t len = 0;
    wire_writer w;
    if (!wire_conn_peer_error(c, &m)) return;
    wire_writer_init(&w, buf, sizeof buf);
    (void)wire_put_error_msg(&w, &m);
    if (wire_writer_finish(&w, &len) == WIRE_OK) (void)show(o, "", WIRE_MSG_ERROR, buf, len);
    say_error("peer sent", &m);
}

/* Reads FRAME lines from stdin: blank lines and lines starting with '#' are skipped. */
static int read_stdin_frames(opts *o, size_t **lineno) {
    char *line = NULL;
    size_t cap = 0, no = 0, lcap = 0;
    ssize_t got;
    char ***lines = &o->lines;
    size_t n = 0;
    *lineno = NULL;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, stdin)) >= 0) {
        no++;
        if ((size_t)got != strlen(line)) {
            rc = usage_error("a line of stdin has a NUL byte%s", "");
            break;
        }
        size_t k = strspn(line, " \t\r\n");
        if (!line[k] || line[k] == '#') continue;
        if (n == lcap) {
            lcap = lcap ? lcap * 2 : 16;
            char **nl = realloc(*lines, lcap * sizeof *nl);
            size_t *nn = realloc(*lineno, lcap * sizeof *nn);
            if (nl) *lines = nl;
            if (nn) *lineno = nn;
            if (!nl || !nn) {
                rc = usage_error("out of memory%s", "");
                break;
            }
        }
        if (!((*lines)[n] = strdup(line))) {
            rc = usage_error("out of memory%s", "");
            break;
        }
        (*lineno)[n++] = no;
        o->nlines = n;
    }
    free(line);
    o->frames = *lines;
    o->nframes = rc ? 0 : n;
    return rc;
}

/* Parses every frame before anything is sent: a typing mistake costs no connection. */
static int parse_frames(opts *o, frame **out) {
    size_t *lineno = NULL;
    bool from_stdin = o->nframes == 0 && !o->listen;
    if (from_stdin) {
        int rc = read_stdin_frames(o, &lineno);
        if (rc) {
            free(lineno);
            return rc;
        }
    }
    *out = calloc(o->nframes ? o->nframes : 1, sizeof **out);
    if (!*out) {
        free(lineno);
        return usage_error("out of memory%s", "");
    }
    for (size_t i = 0; i < o->nframes; i++) {
        char err[256];
        size_t col = 0;
        frame *f = &(*out)[i];
        if (wc_parse_frame(o->frames[i], &f->type, &f->payload, &f->len, &col, err, sizeof err) != 0) {
            if (from_stdin) fprintf(stderr, "wirecat: line %zu, column %zu: %s\n", lineno[i], col, err);
            else fprintf(stderr, "wirecat: frame %zu, column %zu: %s\n", i + 1, col, err);
            free(lineno);
            return 2;
        }
    }
    free(lineno); /* the lines stay (o->lines): o->frames points at them */
    return 0;
}

static int send_frames(const opts *o, wire_conn *c, const frame *fr, size_t n) {
    int t = o->timeout_ms;
    for (size_t i = 0; i < n; i++) {
        wire_err e;
        for (;;) {
            e = fr[i].type == WIRE_MSG_PING ? wire_conn_ping(c, fr[i].payload, fr[i].len)
                                            : wire_conn_send(c, fr[i].type, fr[i].payload, fr[i].len);
            if (e != WIRE_ELIMIT || wire_conn_flush(c, t) != WIRE_OK) break; /* queue full: send some first */
        }
        if (e) {
            fprintf(stderr, "wirecat: frame %zu: cannot send: %s (%s)%s\n", i + 1, wire_strerror(e), wire_err_name(e),
                    e == WIRE_ETOOBIG ? ": larger than the peer's max payload" : "");
            return 1;
        }
    }
    return 0;
}

/* Why the connection ended early, on stderr; 1. */
static int conn_failed(const opts *o, wire_conn *c, wire_err e, const char *doing) {
    if (e == WIRE_EPEER) show_peer_error(o, c);
    else if (e == WIRE_ETIMEOUT) fprintf(stderr, "wirecat: %s: nothing within %d ms\n", doing, o->timeout_ms);
    else fprintf(stderr, "wirecat: %s: %s (%s)%s%s\n", doing, wire_strerror(e), wire_err_name(e),
                 *wire_conn_errstr(c) ? ": " : "", wire_conn_errstr(c));
    return 1;
}

static void say_peer(const opts *o, wire_conn *c, const char *how) {
    size_t n;
    const char *name = wire_conn_peer_name(c, &n);
    if (o->verbose)
        fprintf(stderr, "wirecat: %s %s, peer \"%.*s\", max payload %lu\n", how, wire_conn_peer_addr(c), (int)n, name,
                (unsigned long)wire_conn_peer_max(c));
}

static int run_connect(const opts *o, const frame *fr) {
    wire_conn_config cfg;
    wire_conn *c = NULL;
    char eb[WIRE_ERRBUF_SIZE];
    wire_conn_config_init(&cfg, WIRE_ROLE_CLIENT);
    cfg.name = o->name;
    wire_err e = o->unix_path ? wire_conn_connect_unix(o->unix_path, &cfg, o->timeout_ms, &c, eb, sizeof eb)
                              : wire_conn_connect(o->host, o->port, &cfg, o->timeout_ms, &c, eb, sizeof eb);
    if (e) {
        fprintf(stderr, "wirecat: %s\n", eb);
        return 1;
    }
    say_peer(o, c, "connected to");
    size_t n = 0; /* a BYE written by the user ends the frames: the hang-up below says it */
    while (n < o->nframes && fr[n].type != WIRE_MSG_BYE) n++;
    int status = send_frames(o, c, fr, n);
    for (size_t i = 0; status == 0 && i < n; i++) {
        wire_frame f;
        char doing[64];
        e = wire_conn_recv(c, &f, o->timeout_ms);
        snprintf(doing, sizeof doing, "waiting for reply %zu of %zu", i + 1, n);
        if (e) status = conn_failed(o, c, e, doing);
        else if (!show(o, "", f.type, f.payload, f.length)) status = 1;
    }
    if (wire_conn_get_state(c) != WIRE_CONN_CLOSED) {
        e = wire_conn_hangup(c, o->timeout_ms);
        if (e && o->verbose) fprintf(stderr, "wirecat: BYE: %s\n", wire_strerror(e));
    }
    wire_conn_free(c);
    return status;
}

static int run_listen(const opts *o, const frame *fr) {
    char eb[WIRE_ERRBUF_SIZE];
    int lfd, fd;
    uint16_t port = 0;
    int wait = o->timeout_set ? o->timeout_ms : 0;
    wire_err e = o->unix_path ? wire_unix_listen(o->unix_path, 1, &lfd, eb, sizeof eb)
                              : wire_tcp_listen(o->bind, o->port, 1, &lfd, eb, sizeof eb);
    if (e) {
        fprintf(stderr, "wirecat: %s\n", eb);
        return 1;
    }
    if (o->unix_path) fprintf(stderr, "wirecat: listening on %s\n", o->unix_path);
    else if (wire_local_port(lfd, &port) == WIRE_OK) fprintf(stderr, "wirecat: listening on %s port %u\n", o->bind, port);
    fflush(stderr);
    e = wire_accept(lfd, false, &fd, eb, sizeof eb);
    close(lfd);
    if (o->unix_path) unlink(o->unix_path);
    if (e) {
        fprintf(stderr, "wirecat: accept: %s\n", eb);
        return 1;
    }
    wire_conn_config cfg;
    wire_conn *c = NULL;
    wire_conn_config_init(&cfg, WIRE_ROLE_SERVER);
    cfg.name = o->name;
    cfg.idle_timeout_ms = 0; /* --timeout bounds the waits instead */
    if ((e = wire_conn_new(fd, &cfg, &c)) != WIRE_OK) {
        close(fd);
        fprintf(stderr, "wirecat: %s\n", wire_strerror(e));
        return 1;
    }
    int status = 0;
    if ((e = wire_conn_handshake(c, wait)) != WIRE_OK) status = conn_failed(o, c, e, "HELLO");
    if (status == 0) {
        say_peer(o, c, "accepted");
        status = send_frames(o, c, fr, o->nframes);
    }
    while (status == 0) {
        wire_frame f;
        e = wire_conn_recv(c, &f, wait);
        if (e == WIRE_ECLOSED) break; /* the client said BYE, or closed at a frame boundary */
        if (e) status = conn_failed(o, c, e, "receiving");
        else if (!show(o, "", f.type, f.payload, f.length)) status = 1;
    }
    if (wire_conn_get_state(c) != WIRE_CONN_CLOSED) (void)wire_conn_hangup(c, 1000);
    wire_conn_free(c);
    return status;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Hex text (digits and white space only) becomes the bytes it spells, in place; other input is
 * taken as binary frames (a frame's first byte, 01, is no hex digit). -1 for an odd digit count. */
static int unhex(uint8_t *b, size_t *len) {
    size_t digits = 0, out = 0;
    for (size_t k = 0; k < *len; k++) {
        if (hexval(b[k]) >= 0) digits++;
        else if (!strchr(" \t\r\n", b[k]) || b[k] == 0) return 0;
    }
    if (digits == 0) return 0;
    if (digits % 2) return -1;
    int hi = -1;
    for (size_t k = 0; k < *len; k++) {
        int v = hexval(b[k]);
        if (v < 0) continue;
        if (hi < 0) hi = v;
        else b[out++] = (uint8_t)(hi << 4 | v), hi = -1;
    }
    *len = out;
    return 0;
}

static int run_decode(const opts *o) {
    FILE *in = stdin;
    if (o->file && strcmp(o->file, "-") != 0 && !(in = fopen(o->file, "rb"))) {
        fprintf(stderr, "wirecat: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    size_t len = 0, cap = 65536;
    uint8_t *b = malloc(cap);
    while (b) {
        if (len == cap) {
            uint8_t *nb = cap > (size_t)1 << 30 ? NULL : realloc(b, cap * 2);
            if (!nb) break;
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + len, 1, cap - len, in);
        len += got;
        if (got == 0) break;
    }
    bool bad_read = ferror(in) || !b || len == cap;
    if (in != stdin) fclose(in);
    if (bad_read) {
        fprintf(stderr, "wirecat: %s: cannot read it whole\n", o->file ? o->file : "stdin");
        free(b);
        return 1;
    }
    if (unhex(b, &len) != 0) {
        fprintf(stderr, "wirecat: the hex input has an odd number of digits\n");
        free(b);
        return 1;
    }
    int status = 0;
    size_t pos = 0;
    for (unsigned n = 1; pos < len; n++) {
        wire_frame f;
        wire_err e = WIRE_OK;
        size_t off = 0;
        char where[64];
        snprintf(where, sizeof where, "frame %u (input offset %zu)", n, pos);
        int rc = wire_frame_parse(b + pos, len - pos, UINT32_MAX, &f, &e, &off);
        if (rc < 0) {
            fprintf(stderr, "wirecat: %s: bad header: %s (%d) at offset %zu: %s\n", where, wire_err_name(e), (int)e, off,
                    wire_strerror(e));
            status = 1;
            break;
        }
        if (rc == 0) {
            const uint8_t *h = b + pos;
            size_t want = len - pos < WIRE_HEADER_SIZE
                              ? WIRE_HEADER_SIZE
                              : WIRE_HEADER_SIZE + (size_t)((uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7]);
            fprintf(stderr, "wirecat: %s: TRUNCATED (1): the input ends after %zu of its %s%zu bytes\n", where, len - pos,
                    len - pos < WIRE_HEADER_SIZE ? "header's " : "", want);
            status = 1;
            break;
        }
        if (!show(o, where, f.type, f.payload, f.length)) status = 1;
        wire_error_msg m;
        if (f.type == WIRE_MSG_ERROR && wire_get_error_msg(f.payload, f.length, &m, NULL) == WIRE_OK) {
            char who[96];
            snprintf(who, sizeof who, "%s is an", where);
            say_error(who, &m);
            status = 1;
        }
        pos += f.size;
    }
    free(b);
    return status;
}

/* Everything but the freeing; pos has room for every argument. */
static int wirecat(opts *io, int argc, char **argv, char **pos, frame **frp) {
    opts o = *io; /* copied back once it holds what main frees */
    size_t npos = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = !only_pos && (!strcmp(a, "-l") || !strcmp(a, "--bind") || !strcmp(a, "--unix") ||
                                   !strcmp(a, "--timeout") || !strcmp(a, "--name"));
        if (takes && !strcmp(a, "-l") && (i + 1 >= argc || argv[i + 1][0] == '-')) { /* -l --unix PATH */
            o.listen = true;
            continue;
        }
        if (takes && i + 1 >= argc) return usage_error("%s needs a value", a);
        if (only_pos || a[0] != '-' || a[1] == '\0') pos[npos++] = argv[i];
        else if (!strcmp(a, "--")) only_pos = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-x")) o.dump = true;
        else if (!strcmp(a, "-v")) o.verbose = true;
        else if (!strcmp(a, "--decode")) o.decode = true;
        else if (!strcmp(a, "-l")) {
            o.listen = true;
            o.port = argv[++i];
            if (number(o.port, 0, 65535) < 0) return usage_error("-l: '%s' is not a port (0..65535)", o.port);
        } else if (!strcmp(a, "--bind")) o.bind = argv[++i];
        else if (!strcmp(a, "--unix")) o.unix_path = argv[++i];
        else if (!strcmp(a, "--name")) o.name = argv[++i];
        else if (!strcmp(a, "--timeout")) {
            long t = number(argv[++i], 0, INT_MAX);
            if (t < 0) return usage_error("--timeout: '%s' is not a number of milliseconds", argv[i]);
            o.timeout_ms = (int)t;
            o.timeout_set = true;
        } else return usage_error("unknown option '%s'", a);
    }
    if (strlen(o.name) > WIRE_HELLO_NAME_MAX || !wire_utf8_valid(o.name, strlen(o.name), NULL))
        return usage_error("--name: at most 255 bytes of UTF-8%s", "");
    if (o.decode) {
        if (o.listen || o.unix_path) return usage_error("--decode works on a file, without -l or --unix%s", "");
        if (npos > 1) return usage_error("--decode takes one FILE at most, not '%s'", pos[1]);
        o.file = npos ? pos[0] : NULL;
        return run_decode(&o);
    }
    if (o.listen && !o.unix_path == !o.port)
        return usage_error("-l needs a PORT, or no PORT and --unix PATH%s", "");
    size_t first = 0;
    if (!o.listen && !o.unix_path) {
        if (npos < 2) return usage_error("connecting needs HOST and PORT (or --unix PATH, -l PORT, --decode)%s", "");
        o.host = pos[0];
        o.port = pos[1];
        if (number(o.port, 1, 65535) < 0) return usage_error("'%s' is not a port (1..65535)", o.port);
        first = 2;
    }
    o.frames = pos + first;
    o.nframes = npos - first;
    int rc = parse_frames(&o, frp);
    *io = o;
    if (rc == 0) rc = o.listen ? run_listen(&o, *frp) : run_connect(&o, *frp);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = 5000;
    o.name = "wirecat";
    o.bind = "127.0.0.1";
    signal(SIGPIPE, SIG_IGN); /* a peer that closes is an error value, not a signal */
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    frame *fr = NULL;
    if (!pos) return 2;
    int rc = wirecat(&o, argc, argv, pos, &fr);
    for (size_t i = 0; fr && i < o.nframes; i++) free(fr[i].payload);
    for (size_t i = 0; i < o.nlines; i++) free(o.lines[i]);
    free(o.lines);
    free(fr);
    free(pos);
    return rc;
}
